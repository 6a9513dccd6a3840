/**
 * WebTransport to WebSocket fallback in real browsers, with UDP to the QUIC port dropped by
 * iptables. Run only inside a private network namespace (tests/browser_webtransport_fallback_test.ts
 * does: `unshare -n sh -c 'ip link set lo up && ...'`): the rules are added there, never on the
 * machine's own network. Exits non-zero on the first failed check and prints its figures as
 * JSON on the last line.
 *
 * 1. Two pages join: both on WebTransport, video flowing.
 * 2. UDP to the QUIC port is dropped mid-call: both pages are back on the WebSocket and video
 *    resumes within 3 s (pongs missed for 2 s, then a keyframe), the pages say why, with the same participant ids, no leave or join, and no second
 *    getUserMedia.
 * 3. A third page joins while UDP is blocked: it ends up on the WebSocket within a few seconds
 *    and sees the others.
 * 4. The rule goes: the pages move back up to WebTransport on their next try.
 */

import assert from "node:assert/strict";
import type { Browser, Page } from "playwright-core";
import {
  captureRequests,
  countCaptureRequests,
  joinPage,
  launchBrowser,
} from "../support/browser.ts";
import { testServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";

const TIMEOUT = 20_000;

async function iptables(...args: string[]): Promise<void> {
  const out = await new Deno.Command("iptables", { args, stderr: "piped" }).output();
  assert.ok(out.success, `iptables ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
}

async function frames(page: Page): Promise<Record<string, number>> {
  return await page.evaluate(() => {
    // deno-lint-ignore no-explicit-any
    const s = (globalThis as any).__meetStats;
    const out: Record<string, number> = {};
    for (const [id, p] of Object.entries(s?.participants ?? {})) {
      out[id] = (p as { framesDecoded: number }).framesDecoded;
    }
    return out;
  });
}

const transportOf = (page: Page) =>
  page.locator("[data-testid=mode-badge]").getAttribute("data-transport");

/** Opens a room page in its own context, counting its camera and microphone requests. */
async function join(browser: Browser, url: string, errors: string[]): Promise<Page> {
  const context = await browser.newContext();
  await countCaptureRequests(context); // a fallback must not ask again
  return await joinPage(context, url, errors, new URL(url).searchParams.get("name")!, TIMEOUT);
}

/** Frames from `from` grow by `count` on `page`; resolves with the time it took. */
async function framesGrow(page: Page, from: string, count: number, what: string) {
  const start = performance.now();
  const base = (await frames(page))[from] ?? 0;
  await waitFor(async () => ((await frames(page))[from] ?? 0) >= base + count, {
    what,
    timeoutMs: TIMEOUT,
    intervalMs: 50,
  });
  return performance.now() - start;
}

const figures: Record<string, number | string> = {};
const errors: string[] = [];
{
  await using server = await testServer({ p2p: "off" });
  const quicPort = String(server.quicPort);
  await using browser = await launchBrowser();
  const { id } = await (await fetch(`${server.url}api/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ title: "Fallback", name: "Host" }),
  })).json();
  const details = async () => await (await fetch(`${server.url}api/meetings/${id}`)).json();
  const url = (name: string) => `${server.url}m/${id}?name=${name}`;

  // 1. Two pages on WebTransport.
  const ann = await join(browser, url("Ann"), errors);
  const bob = await join(browser, url("Bob"), errors);
  await waitFor(async () => (await details()).media.transports.webtransport === 2, {
    what: "both pages on WebTransport",
    timeoutMs: TIMEOUT,
  });
  const before = (await details()).roster as { id: string; name: string; joinedAt: number }[];
  const idOf = (name: string) => before.find((p) => p.name === name)!.id;
  await framesGrow(ann, idOf("Bob"), 30, "Ann sees Bob over WebTransport");
  await framesGrow(bob, idOf("Ann"), 30, "Bob sees Ann over WebTransport");
  const gumBefore = [await captureRequests(ann), await captureRequests(bob)];

  // 2. UDP to the QUIC port blocked mid-call.
  await iptables("-A", "INPUT", "-p", "udp", "--dport", quicPort, "-j", "DROP");
  const blockedAt = performance.now();
  const [annResume, bobResume] = await Promise.all([
    framesGrow(ann, idOf("Bob"), 5, "Ann sees Bob again after the block"),
    framesGrow(bob, idOf("Ann"), 5, "Bob sees Ann again after the block"),
  ]);
  for (const page of [ann, bob]) {
    await waitFor(async () => await transportOf(page) === "websocket", {
      what: "the page says websocket",
      timeoutMs: TIMEOUT,
    });
  }
  figures.resumeAfterBlockMs = Math.round(Math.max(annResume, bobResume));
  figures.onWebSocketAfterMs = Math.round(performance.now() - blockedAt);
  // Steady again: 30 more frames each way.
  await framesGrow(ann, idOf("Bob"), 30, "Ann sees Bob steadily on the WebSocket");
  await framesGrow(bob, idOf("Ann"), 30, "Bob sees Ann steadily on the WebSocket");
  for (const page of [ann, bob]) {
    const why = await page.locator("[data-testid=mode-badge]").getAttribute("data-fallback");
    assert.match(why ?? "", /^no pong for \d+ ms$/, "the page tells why it left WebTransport");
  }
  assert.ok(
    figures.resumeAfterBlockMs <= 3_000,
    `video resumed ${figures.resumeAfterBlockMs} ms after the block`,
  );
  const after = await details();
  assert.equal(after.media.transports.websocket, 2);
  assert.equal(after.media.transports.webtransport, 0);
  assert.deepEqual(
    after.roster.map((p: { id: string; joinedAt: number }) => [p.id, p.joinedAt]),
    before.map((p) => [p.id, p.joinedAt]),
    "same seats: no leave, no join",
  );
  assert.deepEqual(
    [await captureRequests(ann), await captureRequests(bob)],
    gumBefore,
    "no second capture",
  );

  // 3. A page that joins while UDP is blocked ends up on the WebSocket.
  const cyJoinedAt = performance.now();
  const cy = await join(browser, url("Cy"), errors);
  const cyId = ((await details()).roster as { id: string; name: string }[])
    .find((p) => p.name === "Cy")!.id;
  await framesGrow(cy, idOf("Ann"), 30, "Cy sees Ann");
  await framesGrow(ann, cyId, 30, "Ann sees Cy");
  figures.cyMediaAfterJoinMs = Math.round(performance.now() - cyJoinedAt);
  await waitFor(async () => (await details()).media.transports.websocket === 3, {
    what: "Cy on the WebSocket",
    timeoutMs: TIMEOUT,
  });

  // 4. UDP gets through again: the pages move back up on their next try (at most 15 s apart).
  await iptables("-D", "INPUT", "-p", "udp", "--dport", quicPort, "-j", "DROP");
  const unblockedAt = performance.now();
  await waitFor(async () => (await details()).media.transports.webtransport === 3, {
    what: "all three back on WebTransport",
    timeoutMs: 25_000,
    intervalMs: 250,
  });
  figures.backOnWebTransportAfterMs = Math.round(performance.now() - unblockedAt);
  await framesGrow(bob, cyId, 30, "Bob sees Cy over WebTransport");
  figures.endpoint = JSON.stringify(server.webTransport!.counters);
  assert.deepEqual(errors, []);
}
console.log(JSON.stringify(figures));
// Figures are out and every check passed: end here, whatever handle a library left open (a
// run once stayed alive after this point, idle, until it was stopped).
Deno.exit(0);
