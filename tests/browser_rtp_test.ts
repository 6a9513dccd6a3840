/**
 * Plain-RTP participants and a browser in one meeting: real ffmpeg processes join over UDP
 * through the REST API, one sending an Opus tone and one a VP8 test pattern. The page hears
 * the tone in its playback (nobody else in the meeting makes a sound: the page never hears its
 * own microphone) and decodes and draws the pattern in the sender's tile.
 */

import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { confirmJoin, launchBrowser, waitForPage } from "./support/browser.ts";
import { ffmpeg, freeUdpPort, opusToneRtp, vp8PatternRtp } from "./support/ffmpeg.ts";
import { testServer } from "./support/server.ts";

const TIMEOUT = 20_000;

interface Seen {
  audibleMs: number;
  frames: Record<string, { decoded: number; rendered: number }>;
}

function seen(page: Page): Promise<Seen | null> {
  return page.evaluate(() => {
    // deno-lint-ignore no-explicit-any
    const s = (globalThis as any).__meetStats;
    if (!s || s.closed) return null;
    const frames: Record<string, { decoded: number; rendered: number }> = {};
    for (const [id, p] of Object.entries(s.participants)) {
      // deno-lint-ignore no-explicit-any
      const v = p as any;
      frames[id] = { decoded: v.framesDecoded, rendered: v.framesRendered };
    }
    return { audibleMs: s.audio.audibleMs as number, frames };
  });
}

Deno.test({
  name: "browser + ffmpeg over plain RTP: the page hears ffmpeg's tone and shows its video",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await testServer();
    await using browser = await launchBrowser();
    const meeting = await (await fetch(`${server.url}api/meetings`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ title: "Studio", name: "Host" }),
    })).json();
    const errors: string[] = [];
    const page = await (await browser.newContext()).newPage();
    page.setDefaultTimeout(TIMEOUT);
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${server.url}m/${meeting.id}?name=Cy`);
    await confirmJoin(page);
    await page.waitForSelector("[data-testid=room][data-joined=true]");
    await waitForPage(() => seen(page), { what: "the page's media engine" });

    const join = async (name: string, kind: "audio" | "video", sendPort: number) => {
      const res = await fetch(`${server.url}api/meetings/${meeting.id}/rtp`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${meeting.token}` },
        body: JSON.stringify({
          name,
          ip: "127.0.0.1",
          port: sendPort,
          ...(kind === "audio" ? { audioPayloadType: 111 } : { videoPayloadType: 100 }),
        }),
      });
      assert.equal(res.status, 201);
      return await res.json() as { participantId: string; port: number };
    };
    const tonePort = freeUdpPort();
    const tone = await join("Tone", "audio", tonePort);
    const patternPort = freeUdpPort();
    const pattern = await join("Pattern", "video", patternPort);
    await page.locator("[data-testid=tile]").nth(2).waitFor();

    // Alone with two silent RTP seats, the page plays nothing audible.
    const before = (await seen(page))!;
    assert.equal(before.audibleMs, 0, "the page hears something before ffmpeg sends");

    await using _tone = ffmpeg(
      opusToneRtp({
        hz: 440,
        seconds: 30,
        payloadType: 111,
        serverPort: tone.port,
        localPort: tonePort,
      }),
    );
    await using _pattern = ffmpeg(
      vp8PatternRtp({
        seconds: 30,
        keyframeEvery: 15,
        payloadType: 100,
        serverPort: pattern.port,
        localPort: patternPort,
      }),
    );

    const after = await waitForPage(async () => {
      const s = await seen(page);
      const video = s?.frames[pattern.participantId];
      return s && s.audibleMs >= 1_000 && video && video.decoded >= 30 && video.rendered >= 30
        ? s
        : null;
    }, {
      what: "a second of ffmpeg's tone and 30 frames of its pattern on the page",
      timeoutMs: TIMEOUT,
      intervalMs: 200,
    });
    // The tone's seat sends no video; the pattern's seat sends no audio.
    assert.equal(after.frames[tone.participantId]?.decoded ?? 0, 0);
    console.log("page:", {
      audibleMs: Math.round(after.audibleMs),
      patternFrames: after.frames[pattern.participantId],
    });
    assert.deepEqual(errors, []);
  },
});
