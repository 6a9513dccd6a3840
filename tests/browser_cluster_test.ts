/**
 * End to end in headless Chromium, two nodes sharing a real redis-server: a page that opens a
 * meeting's link on node B, while node A holds the meeting, ends up in the meeting on A, and
 * sees and hears the page that joined on A; a meeting made from A's lobby while A is the
 * busier node is made on B, and the page that made it is its creator there.
 */

import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import {
  confirmJoin,
  joinPage,
  launchBrowser,
  SMALL_VIEWPORT,
  waitForPage,
} from "./support/browser.ts";
import { startRedis } from "./support/redis.ts";
import { createMeeting, testServer } from "./support/server.ts";
import { startServerProcess } from "../bench/_server_process.ts";
import { waitFor } from "./support/wait.ts";

function snapshot(page: Page): Promise<{ frames: number; audibleMs: number }> {
  return page.evaluate(() => {
    // deno-lint-ignore no-explicit-any
    const s = (globalThis as any).__meetStats;
    let frames = 0;
    for (const p of Object.values(s?.participants ?? {})) {
      frames += (p as { framesDecoded: number }).framesDecoded;
    }
    return { frames, audibleMs: s?.audio?.audibleMs ?? 0 };
  });
}

Deno.test({
  name:
    "browser cluster: a meeting's link opened on node B lands in the meeting on node A; the pages see and hear each other",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using redis = await startRedis();
    const timings = { heartbeatMs: 200, nodeTtlMs: 600 };
    await using a = await testServer({ redis: redis.url, clusterTimings: timings, p2p: "off" });
    await using b = await testServer({ redis: redis.url, clusterTimings: timings, p2p: "off" });
    const meeting = await createMeeting(a, "Held by A");
    await waitFor(
      async () =>
        (await (await fetch(`${b.url}api/meetings`)).json() as { id: string }[])
          .some((m) => m.id === meeting.id),
      { what: "the meeting in B's list" },
    );
    await using browser = await launchBrowser();
    const errors: string[] = [];
    const ann = await joinPage(
      await browser.newContext({ viewport: SMALL_VIEWPORT }),
      `${a.url}m/${meeting.id}?name=Ann`,
      errors,
      "Ann",
    );
    // Bob has B's link.
    const bob = await joinPage(
      await browser.newContext({ viewport: SMALL_VIEWPORT }),
      `${b.url}m/${meeting.id}?name=Bob`,
      errors,
      "Bob",
    );
    assert.ok(bob.url().startsWith(`${a.url}m/${meeting.id}`), `Bob is at ${bob.url()}`);
    for (const [page, who] of [[ann, "Ann"], [bob, "Bob"]] as const) {
      await waitForPage(async () => {
        const s = await snapshot(page);
        return s.frames > 15 && s.audibleMs > 500;
      }, { what: `${who} sees and hears the other`, timeoutMs: 20_000 });
    }
    // The media went through A: it holds the meeting and its counters.
    const media = (await (await fetch(`${a.url}api/meetings/${meeting.id}`)).json()).media;
    assert.ok(media.forwarded.video.packets > 0 && media.forwarded.audio.packets > 0);
    assert.equal(b.hub.findRoom(meeting.id), undefined, "B holds no room for it");

    // A now holds a meeting of two: Cy's lobby on A makes the next one on B, and Cy, sent
    // there with a handoff, joins as its creator and host.
    await waitFor(() => a.cluster!.place()?.id === b.cluster!.nodeId, { what: "B placed first" });
    const cy = await (await browser.newContext({ viewport: SMALL_VIEWPORT })).newPage();
    cy.on("pageerror", (e) => errors.push(`Cy: ${e.message}`));
    await cy.goto(a.url);
    await cy.waitForSelector("[data-island=Lobby][data-hydrated]");
    await cy.fill("input[name=name]", "Cy");
    await cy.fill("input[name=title]", "Made on B");
    await cy.click("text=Create meeting");
    await cy.waitForURL(new RegExp(`^${b.url}m/[A-Za-z0-9_-]+$`)); // the fragment is gone
    const placedId = new URL(cy.url()).pathname.split("/").pop()!;
    assert.ok(b.hub.registry.get(placedId), "the meeting is on B");
    await confirmJoin(cy);
    await cy.waitForSelector("[data-testid=room][data-joined=true]");
    await cy.waitForSelector("[data-testid=roster-entry][data-host=true]", { state: "attached" });
    const roster = b.hub.registry.get(placedId)!.details().roster;
    assert.deepEqual(roster.map((p) => [p.name, p.isCreator, p.isHost]), [["Cy", true, true]]);
    assert.deepEqual(errors, []);
  },
});

Deno.test({
  name:
    "browser cluster: when the node holding the meeting dies, the page offers to start again on another node",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using redis = await startRedis();
    // B first: A's first heartbeat, at its start, finds it.
    await using b = await testServer({ redis: redis.url });
    const a = await startServerProcess({ args: ["--redis", redis.url] });
    try {
      const meeting = await createMeeting(a, "On a doomed node");
      assert.ok(!b.hub.registry.get(meeting.id), "held by A");
      await using browser = await launchBrowser();
      const errors: string[] = [];
      const page = await joinPage(
        await browser.newContext({ viewport: SMALL_VIEWPORT }),
        `${a.url}m/${meeting.id}?name=Ann`,
        errors,
        "Ann",
      );
      Deno.kill(a.pid, "SIGKILL");
      const offer = page.locator("[data-testid=start-again]");
      await offer.waitFor({ timeout: 20_000 });
      assert.equal(await offer.getAttribute("href"), b.url);
      assert.match(await page.locator("[data-testid=server-gone]").innerText(), /not answering/);
    } finally {
      await a.stop();
    }
  },
});
