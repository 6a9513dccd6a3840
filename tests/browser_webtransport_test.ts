/**
 * End to end in headless Chromium: browsers' media over WebTransport datagrams. Three pages in
 * one meeting bind WebTransport sessions (the server counts three seats on `webtransport`),
 * see and hear each other; one page alone in a second meeting, also on WebTransport, receives
 * nothing of the first. A page opened with `?transport=websocket` stays on the WebSocket, and
 * each tile says which carrier its participant uses. The server reads its round trip to each
 * page from the pages' reports on its sender reports. A page whose media worker stops mid-call
 * carries on with its audio on its main thread.
 */

import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import {
  joinPage,
  launchBrowser,
  MULTI_PAGE_FPS,
  SMALL_VIEWPORT,
  waitForPage,
} from "./support/browser.ts";
import { testServer } from "./support/server.ts";

interface Snapshot {
  frames: Record<string, number>;
  audibleMs: number;
  ssrcs: number[];
}

function snapshot(page: Page): Promise<Snapshot> {
  return page.evaluate(() => {
    // deno-lint-ignore no-explicit-any
    const s = (globalThis as any).__meetStats;
    const frames: Record<string, number> = {};
    for (const [id, p] of Object.entries(s?.participants ?? {})) {
      frames[id] = (p as { framesDecoded: number }).framesDecoded;
    }
    return {
      frames,
      audibleMs: s?.audio?.audibleMs ?? 0,
      ssrcs: Object.keys(s?.ssrcs ?? {}).map(Number),
    };
  });
}

const transportOf = (page: Page) =>
  page.locator("[data-testid=mode-badge]").getAttribute("data-transport");

Deno.test({
  name:
    "browser WebTransport: three pages on datagrams see and hear each other; meetings isolated; a media worker that stops leaves the audio to the page",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await testServer({ p2p: "off" });
    await using browser = await launchBrowser([], { fps: MULTI_PAGE_FPS });
    const create = async (title: string) =>
      await (await fetch(`${server.url}api/meetings`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ title, name: `${title} host` }),
      })).json() as { id: string };
    const meetingA = await create("Datagrams");
    const meetingB = await create("Elsewhere");
    const mediaOf = async (id: string) =>
      (await (await fetch(`${server.url}api/meetings/${id}`)).json()).media;
    const errors: string[] = [];
    const names = ["Ann", "Bob", "Cy"];
    const pages: Page[] = [];
    for (const name of names) {
      pages.push(
        await joinPage(
          await browser.newContext({ viewport: SMALL_VIEWPORT }),
          `${server.url}m/${meetingA.id}?name=${name}`,
          errors,
          name,
        ),
      );
    }
    const deeContext = await browser.newContext({ viewport: SMALL_VIEWPORT });
    await deeContext.addInitScript(() =>
      localStorage.setItem("meet.media", JSON.stringify({ mic: true, camera: false }))
    );
    const dee = await joinPage(deeContext, `${server.url}m/${meetingB.id}?name=Dee`, errors, "Dee");

    // Every seat's media is on WebTransport, as the server sees it and as the pages say.
    const boundAt = performance.now();
    await waitForPage(async () => (await mediaOf(meetingA.id)).transports.webtransport === 3, {
      what: "three WebTransport seats in meeting A",
      timeoutMs: 10_000,
    });
    const bindMs = performance.now() - boundAt;
    for (const page of pages) {
      await waitForPage(async () => await transportOf(page) === "webtransport", {
        what: "the page says webtransport",
      });
    }
    await waitForPage(async () => (await mediaOf(meetingB.id)).transports.webtransport === 1, {
      what: "Dee's seat in meeting B on WebTransport",
    });

    // Video: 30 new frames (2 s) from each other on every page; audio: the mix is heard.
    const roster = (await (await fetch(`${server.url}api/meetings/${meetingA.id}`)).json())
      .roster as { id: string; name: string; audioSsrc: number; videoSsrc: number }[];
    const idOf = (name: string) => roster.find((p) => p.name === name)!.id;
    const start = await Promise.all(pages.map(snapshot));
    const startedAt = performance.now();
    for (const [i, page] of pages.entries()) {
      const others = names.filter((_, k) => k !== i).map(idOf);
      await waitForPage(async () => {
        const s = await snapshot(page);
        return others.every((id) => (s.frames[id] ?? 0) - (start[i].frames[id] ?? 0) >= 30) &&
          s.audibleMs - start[i].audibleMs >= 200;
      }, {
        what: `${names[i]} sees 30 frames from each other and hears the mix`,
        timeoutMs: 15_000,
      });
    }
    const mediaMs = performance.now() - startedAt;
    // Every frame a page decoded came through the server (P2P is off): at least one forwarded
    // packet each. (Small tiles get the small encoding, often one packet a frame.)
    const end = await Promise.all(pages.map(snapshot));
    const decoded = end.reduce(
      (sum, s, i) =>
        sum +
        Object.entries(s.frames).reduce((n, [id, f]) => n + f - (start[i].frames[id] ?? 0), 0),
      0,
    );
    const serverA = await mediaOf(meetingA.id);
    assert.ok(decoded >= 180, `${decoded} frames decoded`);
    assert.ok(
      serverA.forwarded.video.packets >= decoded,
      `${decoded} frames decoded, ${JSON.stringify(serverA.forwarded)}`,
    );
    const fallbacks = await Promise.all(
      pages.map((page) => page.locator("[data-testid=mode-badge]").getAttribute("data-fallback")),
    );
    assert.equal(
      serverA.transports.webtransport,
      3,
      `still on WebTransport (given up: ${JSON.stringify(fallbacks)})`,
    );

    // Each page answers the server's sender reports on its mix: the server knows the round
    // trip to every seat (loopback: well under 200 ms). A page whose thread was held up a
    // moment answers late once (seconds, on a busy machine); the next answers read low again.
    const roomA = server.hub.findRoom(meetingA.id)!;
    const trips = () => names.map((n) => roomA.media.roundTripOf(idOf(n)));
    await waitForPage(() => trips().every((rtt) => rtt !== undefined && rtt >= 0 && rtt < 200), {
      what: "a round trip under 200 ms for every page",
      timeoutMs: 10_000,
    }).catch((err) => {
      throw new Error(`${err.message}: round trips ${trips()}`);
    });

    // Meeting B got nothing of meeting A.
    const aSsrcs = new Set(roster.flatMap((p) => [p.audioSsrc, p.videoSsrc]));
    const deeSnap = await snapshot(dee);
    assert.ok(deeSnap.ssrcs.every((s) => !aSsrcs.has(s)), "SSRCs of meeting A reached Dee");
    assert.deepEqual(deeSnap.frames, {}, "Dee decoded no video");
    assert.equal((await mediaOf(meetingB.id)).forwarded.video.packets, 0);

    // ?transport=websocket keeps a page on the WebSocket (how the carriers are compared).
    const eve = await joinPage(
      await browser.newContext({ viewport: SMALL_VIEWPORT }),
      `${server.url}m/${meetingB.id}?name=Eve&transport=websocket`,
      errors,
      "Eve",
    );
    await waitForPage(async () => (await mediaOf(meetingB.id)).transports.websocket === 1, {
      what: "Eve on the WebSocket",
    });
    assert.equal(await transportOf(eve), "websocket");
    // Each tile says how that participant's media travels (the roster's `transport`).
    const tileTransport = (page: Page, name: string) =>
      page.locator(`[data-testid=tile]:has-text("${name}")`).getAttribute("data-transport");
    await waitForPage(async () => await tileTransport(dee, "Eve") === "websocket", {
      what: "Dee's tile of Eve to say websocket",
    });
    await waitForPage(async () => await tileTransport(eve, "Dee") === "webtransport", {
      what: "Eve's tile of Dee to say webtransport",
    });

    // Dee's media worker stops mid-call (its thread ends). Her audio moves to her page's main
    // thread: she hears Eve and Eve hears her again, and her media goes back on WebTransport
    // (a session of the main thread's) after the WebSocket, saying why it left.
    const mediaWorker = dee.workers().find((w) => w.url().includes("media_worker_main"));
    assert.ok(mediaWorker, "Dee's page runs the media worker");
    const inWorker = () =>
      dee.evaluate(() =>
        // deno-lint-ignore no-explicit-any
        (globalThis as any).__meetStats?.audio?.inWorker as boolean | undefined
      );
    assert.equal(await inWorker(), true);
    const stoppedAt = performance.now();
    await mediaWorker.evaluate(() => (globalThis as unknown as { close(): void }).close());
    await waitForPage(async () => await inWorker() === false, {
      what: "Dee's audio on her page's main thread",
      timeoutMs: 8000,
    });
    const movedMs = performance.now() - stoppedAt;
    const [deeMoved, eveMoved] = await Promise.all([dee, eve].map(snapshot));
    await waitForPage(async () => {
      const [d, e] = await Promise.all([dee, eve].map(snapshot));
      return d.audibleMs - deeMoved.audibleMs >= 200 && e.audibleMs - eveMoved.audibleMs >= 200;
    }, { what: "Dee and Eve hear each other again", timeoutMs: 10_000 });
    const heardMs = performance.now() - stoppedAt;
    await waitForPage(
      async () =>
        (await mediaOf(meetingB.id)).transports.webtransport === 1 &&
        await transportOf(dee) === "webtransport",
      { what: "Dee back on WebTransport", timeoutMs: 15_000 },
    );
    // Whichever saw it first: the worker's silence, or the session's pongs (2 s each).
    const fallback = await dee.locator("[data-testid=mode-badge]").getAttribute("data-fallback");
    assert.match(fallback ?? "", /media worker stopped|no pong/);

    console.log(
      `media worker stopped: audio on the main thread after ${movedMs.toFixed(0)} ms, ` +
        `heard both ways after ${heardMs.toFixed(0)} ms, back on WebTransport after ${
          (performance.now() - stoppedAt).toFixed(0)
        } ms`,
    );
    console.log(
      `WebTransport: 3 seats bound within ${bindMs.toFixed(0)} ms; 30 frames from each other ` +
        `and the mix heard within ${mediaMs.toFixed(0)} ms; endpoint ${
          JSON.stringify(server.webTransport!.counters)
        }`,
    );
    assert.deepEqual(errors, []);
  },
});
