/**
 * A browser whose connection drops keeps its seat: Ann's page reaches the server through a TCP
 * proxy that the test cuts and holds shut, so her WebSocket really drops and her reconnects
 * fail for a while. Bob (and a watching client) see no leave and no join; when the network is
 * back, Ann's page takes the same seat with the same id, her video reaches Bob again, and chat
 * flows both ways. Relay mode, so the video must cross the server again after the drop.
 * Then Ann closes her tab, which leaves at once.
 */

import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import type { ParticipantInfo } from "../meeting/participant.ts";
import { joinPage, launchBrowser, waitForPage } from "./support/browser.ts";
import { testClient, testServer } from "./support/server.ts";
import { waitFor } from "./support/wait.ts";
import { tcpProxy } from "./support/tcp_proxy.ts";

const TIMEOUT = 15_000;

function framesFrom(page: Page, participantId: string): Promise<number> {
  return page.evaluate((id) => {
    // deno-lint-ignore no-explicit-any
    const s = (globalThis as any).__meetStats;
    return s?.participants?.[id]?.framesDecoded ?? 0;
  }, participantId);
}

async function framesGrow(page: Page, from: string, count: number, what: string) {
  const base = await framesFrom(page, from);
  await waitForPage(async () => (await framesFrom(page, from)) >= base + count, {
    what,
    timeoutMs: TIMEOUT,
  });
}

function chatTexts(page: Page): Promise<string[]> {
  return page.$$eval(
    "[data-testid=chat-line]",
    (lines) =>
      lines.map((li) =>
        `${li.querySelector("[data-testid=chat-name]")!.textContent}: ${
          li.querySelector("[data-testid=chat-text]")!.textContent
        }`
      ),
  );
}

Deno.test({
  name:
    "browser reconnect: a dropped page keeps its seat, same id, no churn; media and chat resume",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await testServer({ p2p: "off" });
    await using proxy = await tcpProxy(server.port);
    await using browser = await launchBrowser();
    const errors: string[] = [];

    const created = await (await fetch(`${server.url}api/meetings`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ title: "Flaky", name: "Host" }),
    })).json();
    const open = async (base: string, name: string) =>
      joinPage(await browser.newContext(), `${base}m/${created.id}?name=${name}`, errors, name);
    const ann = await open(`http://127.0.0.1:${proxy.port}/`, "Ann");
    const bob = await open(server.url, "Bob");

    // A watcher in the meeting records every roster it is sent.
    const watcher = await testClient(server, "Watch");
    await watcher.request({ type: "join", meetingId: created.id, name: "Watch" });
    const rosters: ParticipantInfo[][] = [];
    watcher.on("roster", (e) => rosters.push(e.participants));

    const before = (await (await fetch(`${server.url}api/meetings/${created.id}`)).json()).roster;
    const annId = before.find((p: ParticipantInfo) => p.name === "Ann").id;
    const bobId = before.find((p: ParticipantInfo) => p.name === "Bob").id;
    await framesGrow(bob, annId, 30, "Bob sees Ann before the drop");

    // The network drops and stays down: the page notices and keeps trying.
    proxy.refuse(true);
    proxy.cut();
    await ann.getByText("reconnecting…").waitFor();
    await waitForPage(async () => (await framesFrom(bob, annId)) > 0, { what: "Bob's stats" });

    // The network is back: the same seat, the same id, no churn for the others.
    proxy.refuse(false);
    await waitForPage(async () => !(await ann.getByText("reconnecting…").isVisible()), {
      what: "Ann's page to reconnect",
      timeoutMs: TIMEOUT,
    });
    await ann.waitForSelector("[data-testid=room][data-joined=true]");
    const after = (await (await fetch(`${server.url}api/meetings/${created.id}`)).json()).roster;
    assert.deepEqual(
      after.map((p: ParticipantInfo) => [p.id, p.name]).sort(),
      before.map((p: ParticipantInfo) => [p.id, p.name]).sort(),
      "the roster after the reconnect is the roster before it",
    );
    await framesGrow(bob, annId, 30, "Bob sees Ann's video again (same tile)");
    await framesGrow(ann, bobId, 30, "Ann sees Bob's video again");

    await ann.fill("input[name=chat]", "sorry, my wifi");
    await ann.press("input[name=chat]", "Enter");
    await bob.fill("input[name=chat]", "welcome back");
    await bob.press("input[name=chat]", "Enter");
    for (const page of [ann, bob]) {
      await waitForPage(async () => (await chatTexts(page)).length === 2, {
        what: "two chat lines",
      });
      assert.deepEqual(await chatTexts(page), ["Ann: sorry, my wifi", "Bob: welcome back"]);
    }

    assert.ok(proxy.cuts >= 2, "the proxy cut no connection");
    assert.ok(
      rosters.every((r) => r.some((p) => p.id === annId)),
      `a roster without Ann was sent: ${JSON.stringify(rosters)}`,
    );
    const history = await (await fetch(`${server.url}api/meetings/${created.id}/history`)).json();
    const annEvents = history.events
      .filter((e: { participantId?: string; name?: string }) =>
        e.participantId === annId || e.name === "Ann"
      )
      .map((e: { type: string }) => e.type);
    assert.deepEqual(annEvents, ["joined"], "the records show a leave or a second join");

    // Ann closes her tab: unlike a dropped network, that leaves at once (the seat would be
    // held for --grace, 30 s by default).
    await ann.close();
    await waitFor(() => rosters.at(-1)?.every((p) => p.id !== annId), {
      what: "a roster without Ann within 2 s of her closing the tab",
      timeoutMs: 2_000,
    });
    await waitForPage(
      async () => !(await bob.locator(`[data-participant-id="${annId}"]`).isVisible()),
      { what: "Ann's tile gone from Bob's page" },
    );
    assert.deepEqual(errors, []);
    watcher.close();
  },
});
