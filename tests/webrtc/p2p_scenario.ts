/**
 * The P2P scenario in real browsers. Run only inside a private network namespace with just
 * loopback (tests/browser_p2p_test.ts does: `unshare -n sh -c 'ip link set lo up && ...'`), so
 * that ICE never touches a real interface. Exits non-zero on the first failed check and prints
 * its figures as JSON on the last line.
 *
 * 1. Two pages: the meeting goes `p2p`, both pages send directly, both see and hear each
 *    other (and Bob sees Ann's shared screen), and the server's forwarded counters stay flat
 *    while the pages' frames grow.
 * 2. A third page joins: `relay`, all three see each other.
 * 3. It leaves: `p2p` again, and video continues for both.
 * 4. With --p2p off, two pages stay on the relay and the counters grow.
 */

import assert from "node:assert/strict";
import type { Browser, Page } from "playwright-core";
import { joinPage, launchBrowser, waitForPage } from "../support/browser.ts";
import { testServer } from "../support/server.ts";
import { waitFor, waitForSteady } from "../support/wait.ts";

const TIMEOUT = 20_000;

interface Snapshot {
  frames: Record<string, number>;
  audibleMs: number;
}

async function snapshot(page: Page): Promise<Snapshot> {
  return await page.evaluate(() => {
    // deno-lint-ignore no-explicit-any
    const s = (globalThis as any).__meetStats;
    const frames: Record<string, number> = {};
    for (const [id, p] of Object.entries(s?.participants ?? {})) {
      frames[id] = (p as { framesDecoded: number }).framesDecoded;
    }
    return { frames, audibleMs: s?.audio?.audibleMs ?? 0 };
  });
}

async function badge(page: Page): Promise<{ mode: string; path: string }> {
  const el = page.locator("[data-testid=mode-badge]");
  return {
    mode: (await el.getAttribute("data-mode"))!,
    path: (await el.getAttribute("data-path"))!,
  };
}

async function join(browser: Browser, url: string, errors: string[]): Promise<Page> {
  const name = new URL(url).searchParams.get("name")!;
  return await joinPage(await browser.newContext(), url, errors, name, TIMEOUT);
}

async function forwarded(url: string, id: string): Promise<number> {
  const m = (await (await fetch(`${url}api/meetings/${id}`)).json()).media;
  return m.forwarded.video.packets + m.forwarded.audio.packets;
}

/** Frames decoded from `from` grow by `count` on `page` within the deadline; returns ms taken. */
async function framesGrow(page: Page, from: string, count: number, what: string): Promise<number> {
  const start = performance.now();
  const base = (await snapshot(page)).frames[from] ?? 0;
  await waitForPage(async () => ((await snapshot(page)).frames[from] ?? 0) >= base + count, {
    what,
    timeoutMs: TIMEOUT,
  });
  return performance.now() - start;
}

const figures: Record<string, number | string> = {};
const errors: string[] = [];
{
  await using server = await testServer();
  await using browser = await launchBrowser();
  const { meeting } = await (await fetch(`${server.url}api/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ title: "Pair", name: "Host" }),
  })).json().then((m) => ({ meeting: m }));
  const room = (n: string) => `${server.url}m/${meeting.id}?name=${n}`;
  const ann = await join(browser, room("Ann"), errors);
  const bob = await join(browser, room("Bob"), errors);
  const rosterOf = async (): Promise<{ name: string; id: string; transport: string }[]> =>
    (await (await fetch(`${server.url}api/meetings/${meeting.id}`)).json()).roster;
  /** Each participant's media path as the meeting's roster shows it. */
  const transports = async () =>
    Object.fromEntries((await rosterOf()).map((p) => [p.name, p.transport]));
  const roster = await rosterOf();
  const id = (name: string) => roster.find((p) => p.name === name)!.id;

  // 1. P2P: both pages on the direct path.
  const t0 = performance.now();
  for (const page of [ann, bob]) {
    await waitForPage(async () => {
      const b = await badge(page);
      return b.mode === "p2p" && b.path === "p2p";
    }, { what: "the direct path", timeoutMs: TIMEOUT });
  }
  figures.p2pSetupMs = Math.round(performance.now() - t0);
  // Each page told the server, which shows both on the direct path.
  await waitFor(async () => {
    const t = await transports();
    return t.Ann === "p2p" && t.Bob === "p2p";
  }, { what: "the roster to show both on p2p", timeoutMs: TIMEOUT, intervalMs: 100 });
  // The relay goes quiet once both send directly (the mixer may still drain its jitter
  // buffers): wait until the counters have not moved for a full second.
  const flatFrom = await waitForSteady(() => forwarded(server.url, meeting.id), 1_000, {
    what: "the relay counters to settle",
    timeoutMs: TIMEOUT,
  });
  await framesGrow(ann, id("Bob"), 60, "Ann decodes 60 frames from Bob over P2P");
  await framesGrow(bob, id("Ann"), 60, "Bob decodes 60 frames from Ann over P2P");
  const audible = await Promise.all([ann, bob].map(async (p) => (await snapshot(p)).audibleMs));
  assert.ok(audible.every((ms) => ms > 0), `P2P playback silent: ${audible}`);
  // Ann shares her screen: it goes straight to Bob too, at full size.
  await ann.click("[data-testid=toggle-screen]");
  await waitForPage(async () => {
    const width = await bob.evaluate((id) =>
      // deno-lint-ignore no-explicit-any
      (globalThis as any).__meetStats?.screens?.[id]?.framesDecoded >= 10 &&
      // deno-lint-ignore no-explicit-any
      (globalThis as any).__meetStats.screens[id].width, id("Ann"));
    return width === 1920;
  }, { what: "Bob decodes Ann's screen at 1920 wide over P2P", timeoutMs: TIMEOUT });
  await ann.click("[data-testid=toggle-screen]");
  const flatTo = await forwarded(server.url, meeting.id);
  assert.equal(flatTo, flatFrom, "the server forwarded media in P2P mode");
  figures.forwardedDuringP2p = flatTo - flatFrom;

  // 2. A third joins: relay, everyone sees everyone.
  const cy = await join(browser, room("Cy"), errors);
  for (const page of [ann, bob, cy]) {
    await waitForPage(async () => (await badge(page)).path === "relay", {
      what: "relay",
      timeoutMs: TIMEOUT,
    });
  }
  const roster3 = await rosterOf();
  const id3 = (name: string) => roster3.find((p) => p.name === name)!.id;
  // Relay mode: the roster shows each page's carrier again (the server's WebTransport).
  assert.deepEqual(
    Object.values(await transports()).filter((t) => t === "p2p"),
    [],
    "a page shown on p2p in relay mode",
  );
  await framesGrow(cy, id3("Ann"), 30, "Cy sees Ann");
  await framesGrow(cy, id3("Bob"), 30, "Cy sees Bob");
  await framesGrow(ann, id3("Cy"), 30, "Ann sees Cy");
  await framesGrow(bob, id3("Ann"), 30, "Bob sees Ann through the relay");
  assert.ok((await forwarded(server.url, meeting.id)) > flatTo, "the relay did not forward");

  // 3. Cy leaves: P2P again, video continues for both.
  await cy.click("text=Leave");
  const t1 = performance.now();
  for (const page of [ann, bob]) {
    await waitForPage(async () => (await badge(page)).path === "p2p", {
      what: "P2P again",
      timeoutMs: TIMEOUT,
    });
  }
  figures.backToP2pMs = Math.round(performance.now() - t1);
  figures.videoResumeMs = Math.round(
    Math.max(
      await framesGrow(ann, id("Bob"), 15, "Ann's video from Bob continues"),
      await framesGrow(bob, id("Ann"), 15, "Bob's video from Ann continues"),
    ),
  );
}
{
  // 4. --p2p off: two pages stay on the relay.
  await using server = await testServer({ p2p: "off" });
  await using browser = await launchBrowser();
  const m = await (await fetch(`${server.url}api/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ title: "Off", name: "Host" }),
  })).json();
  const ann = await join(browser, `${server.url}m/${m.id}?name=Ann`, errors);
  const bob = await join(browser, `${server.url}m/${m.id}?name=Bob`, errors);
  const roster = (await (await fetch(`${server.url}api/meetings/${m.id}`)).json()).roster;
  const before = await forwarded(server.url, m.id);
  await framesGrow(ann, roster[1].id, 30, "Ann sees Bob through the relay");
  assert.deepEqual(await badge(ann), { mode: "relay", path: "relay" });
  assert.deepEqual(await badge(bob), { mode: "relay", path: "relay" });
  assert.ok((await forwarded(server.url, m.id)) > before + 30, "the relay was not used");
}
assert.deepEqual(errors, []);
console.log(JSON.stringify(figures));
// Figures are out and every check passed: end here, whatever handle a library left open (a
// run once stayed alive after this point, idle, until it was stopped).
Deno.exit(0);
