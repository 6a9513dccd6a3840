/**
 * Integration: the media relay with real WebSocket bots. Each bot sends an Opus tone at its
 * own frequency and synthetic VP8 frames; the server mixes and forwards.
 */

import assert from "node:assert/strict";
import { PT_OPUS } from "../protocol/media.ts";
import { writeRtp } from "../media/rtp.ts";
import { writePli } from "../media/rtcp.ts";
import { RECEIVED_REPORT_MS } from "../client/control_client.ts";
import { mediaBot } from "./support/media_bot.ts";
import { rawExchange, testClient, testServer } from "./support/server.ts";
import { waitFor } from "./support/wait.ts";

const HEARD = 0.005; // Goertzel power of a clearly present tone (amplitude 0.3 -> ~0.02)
const ABSENT = 0.0005;

async function meeting(server: { wsUrl: string }, title: string) {
  const host = await testClient(server, `${title} host`);
  const { meeting } = await host.request({ type: "create", title, join: false });
  host.close();
  return meeting.id;
}

Deno.test("relay: each bot hears the others' tones and not its own; another meeting gets nothing", async () => {
  await using server = await testServer();
  const a = await meeting(server, "A");
  const b = await meeting(server, "B");
  const tones = { Ann: 440, Bob: 660, Cy: 1000 } as const;
  const botsA = await Promise.all(Object.keys(tones).map((n) => mediaBot(server, n, a)));
  const botsB = await Promise.all(["Dee", "Eve"].map((n) => mediaBot(server, n, b)));
  try {
    botsA.forEach((bot, i) => bot.startTone(Object.values(tones)[i]));
    botsB[0].startTone(1500);
    for (let i = 0; i < 5; i++) {
      botsA.forEach((bot) => bot.sendVideoFrame(i === 0));
      botsB.forEach((bot) => bot.sendVideoFrame(i === 0));
    }
    await waitFor(() => botsA.every((bot) => bot.mixSamples.length >= 48_000), {
      what: "1 s of mix at every bot in A",
      timeoutMs: 10_000,
    });
    for (const [i, bot] of botsA.entries()) {
      const own = Object.values(tones)[i];
      for (const f of Object.values(tones)) {
        const p = bot.tonePower(f);
        if (f === own) assert.ok(p < ABSENT, `${Object.keys(tones)[i]} hears own ${f} Hz (${p})`);
        else assert.ok(p > HEARD, `${Object.keys(tones)[i]} misses ${f} Hz (${p})`);
      }
      assert.ok(bot.tonePower(1500) < ABSENT, "meeting B's tone leaked into A");
      // Video: the two others' SSRCs, 5 frames each (3 packets a frame), never its own.
      const others = botsA.filter((o) => o !== bot).map((o) => o.ssrcs.videoSsrc);
      await waitFor(() => others.every((s) => bot.videoBySsrc.get(s) === 15), {
        what: "the others' video",
      });
      assert.deepEqual([...bot.videoBySsrc.keys()].sort(), [...others].sort());
    }
    // Meeting B heard A's nothing: only its own mix SSRC and B's video SSRCs ever arrived.
    await waitFor(() => botsB[1].tonePower(1500) > HEARD, { what: "Eve hears Dee" });
    const allowedB = new Set([
      botsB[0].ssrcs.mixSsrc,
      botsB[0].ssrcs.videoSsrc,
      botsB[1].ssrcs.videoSsrc,
    ]);
    for (const bot of botsB) {
      for (const ssrc of bot.ssrcsSeen) assert.ok(allowedB.has(ssrc), `B got SSRC ${ssrc}`);
      for (const f of Object.values(tones)) assert.ok(bot.tonePower(f, 1000) < ABSENT);
    }
    // Speaking levels are published to the room.
    await waitFor(
      () =>
        botsA[0].events.some((e) =>
          e.type === "levels" && e.levels.filter((l) => l.speaking).length === 3
        ),
      { what: "levels with three speakers" },
    );
    const details = await (await fetch(`${server.url}api/meetings/${a}`)).json();
    assert.deepEqual(
      details.roster.map((p: { transport: string }) => p.transport),
      ["websocket", "websocket", "websocket"],
      "the bots' media rides their WebSockets",
    );
    assert.ok(details.media.forwarded.video.packets >= 90, JSON.stringify(details.media));
    assert.ok(details.media.forwarded.audio.packets >= 150);
  } finally {
    [...botsA, ...botsB].forEach((bot) => bot.close());
  }
});

Deno.test("relay: muting one speaker removes that voice from the others' mix", async () => {
  await using server = await testServer();
  const id = await meeting(server, "Mute");
  const [ann, bob, cy] = await Promise.all(
    ["Ann", "Bob", "Cy"].map((n) => mediaBot(server, n, id)),
  );
  try {
    ann.startTone(440);
    bob.startTone(660);
    await waitFor(() => cy.tonePower(440) > HEARD && cy.tonePower(660) > HEARD, {
      what: "Cy hears both",
    });
    ann.stopTone(); // mic off: nothing sent
    const mark = cy.mixSamples.length;
    await waitFor(() => cy.mixSamples.length > mark + 24_000, { what: "0.5 s more mix" });
    assert.ok(cy.tonePower(440, 300) < ABSENT, `Ann still heard: ${cy.tonePower(440, 300)}`);
    assert.ok(cy.tonePower(660, 300) > HEARD, "Bob still heard");
    assert.ok(ann.tonePower(660, 300) > HEARD, "Ann still hears Bob");
  } finally {
    [ann, bob, cy].forEach((bot) => bot.close());
  }
});

Deno.test("relay: a sender whose audio waits at the mixer is told by how much", async () => {
  await using server = await testServer();
  const id = await meeting(server, "Timing");
  const [ann, bob] = await Promise.all(["Ann", "Bob"].map((n) => mediaBot(server, n, id)));
  try {
    // Bob speaks, so the mixer sends Ann a mix right after each tick of its 20 ms clock.
    bob.startTone(660);
    await waitFor(() => ann.mixArrivals.length >= 10, { what: "Ann receives the mix" });
    // Ann's frames leave 2 ms after each tick (the tick comes first even when the event loop
    // is late: the server runs in this process): each waits about 18 ms for the next tick,
    // some 10 ms more than the mixer needs.
    const tick = ann.mixArrivals.at(-1)!;
    const wait = (((tick + 2 - performance.now()) % 20) + 20) % 20;
    await new Promise((resolve) => setTimeout(resolve, wait));
    ann.startTone(440);
    const advice = () => ann.events.find((e) => e.type === "mix_timing");
    await waitFor(() => advice() !== undefined, {
      what: "the mixer's timing advice to Ann",
      // It takes 2 s of frames that are all early enough; a busy machine delays some.
      timeoutMs: 30_000,
    });
    const { meetingId, earlyMs } = advice() as { meetingId: string; earlyMs: number };
    console.log(`Ann was told her frames are ${earlyMs} ms early`);
    assert.equal(meetingId, id);
    assert.ok(earlyMs >= 2 && earlyMs <= 18, `Ann's frames are ${earlyMs} ms early`);
  } finally {
    [ann, bob].forEach((bot) => bot.close());
  }
});

Deno.test("relay: a PLI reaches the video's sender; garbage and foreign packets are dropped and counted", async () => {
  await using server = await testServer();
  const id = await meeting(server, "Pli");
  const ann = await mediaBot(server, "Ann", id);
  const bob = await mediaBot(server, "Bob", id);
  try {
    await waitFor(() => ann.plis >= 1, { what: "Ann asked for a keyframe when Bob joined" });
    const before = ann.plis;
    // PLIs to a sender are rate-limited (one per 500 ms): Bob asks until one gets through.
    const pli = writePli({ senderSsrc: bob.ssrcs.videoSsrc, mediaSsrc: ann.ssrcs.videoSsrc });
    await waitFor(() => {
      bob.sendRaw(pli);
      return ann.plis > before;
    }, { what: "Bob's PLI reaches Ann", intervalMs: 100 });

    // Garbage, an unknown payload type, an oversized packet, and a forged SSRC.
    bob.sendRaw(new Uint8Array([1, 2, 3]));
    bob.sendRaw(
      writeRtp({
        payloadType: 50,
        sequenceNumber: 1,
        timestamp: 1,
        ssrc: 1,
        payload: new Uint8Array(10),
      }),
    );
    bob.sendRaw(new Uint8Array(5000).fill(0x80));
    bob.sendVideoFrame(true); // sent with Bob's SSRC...
    const forged = writeRtp({
      payloadType: 96,
      sequenceNumber: 9,
      timestamp: 9,
      ssrc: ann.ssrcs.videoSsrc,
      marker: true,
      payload: new Uint8Array([0x10, 0x10, 0, 0]),
    });
    bob.sendRaw(forged); // ...and one claiming Ann's: dropped
    await waitFor(async () => {
      const d = await (await fetch(`${server.url}api/meetings/${id}`)).json();
      return d.media.dropped.malformed >= 1 && d.media.dropped.unknownPayloadType >= 1 &&
        d.media.dropped.oversized >= 1 && d.media.dropped.foreignSsrc === 1 && d;
    }, { what: "drops counted" });
    await waitFor(() => ann.videoBySsrc.get(bob.ssrcs.videoSsrc) === 3, {
      what: "Bob's video frame (3 packets), without the forged one",
    });
    assert.equal(ann.videoBySsrc.get(ann.ssrcs.videoSsrc), undefined, "a forged SSRC got through");
    // Binary from a connection in no meeting: one clear error, nothing forwarded.
    const stray = writeRtp({
      payloadType: PT_OPUS,
      sequenceNumber: 1,
      timestamp: 1,
      ssrc: ann.ssrcs.audioSsrc,
      payload: new Uint8Array(3),
    });
    const replies = await rawExchange(server, [stray], 1);
    assert.equal(replies[0].type === "error" && replies[0].code, "not_member");
    // The meeting carries on.
    ann.startTone(440);
    await waitFor(() => bob.tonePower(440) > HEARD, { what: "Bob hears Ann after the garbage" });
  } finally {
    [ann, bob].forEach((bot) => bot.close());
  }
});

Deno.test("relay: a receiver that stops reading loses video until a keyframe; the queue stays bounded", async () => {
  await using server = await testServer();
  const id = await meeting(server, "Slow");
  const sender = await mediaBot(server, "Sender", id);
  const fast = await mediaBot(server, "Fast", id);
  const slow = await mediaBot(server, "Slow", id);
  try {
    const counters = async () =>
      (await (await fetch(`${server.url}api/meetings/${id}`)).json()).media;
    sender.sendVideoFrame(true, 10_000);
    await waitFor(() => slow.videoBySsrc.get(sender.ssrcs.videoSsrc), {
      what: "slow gets the first keyframe",
    });
    const plisBefore = sender.plis;
    slow.pauseReading(true);
    // Paced video (a 10 kB frame per poll) until the stalled link has filled its socket
    // buffers and the router drops for it; bounded in frames and time.
    let frames = 1;
    const c = await waitFor(async () => {
      if (frames < 3000) {
        sender.sendVideoFrame(false, 10_000);
        frames++;
      }
      const c = await counters();
      return c.dropped.waitingKeyframe > 500 && c;
    }, {
      what: "the router drops video for the stalled receiver",
      timeoutMs: 40_000,
      intervalMs: 5,
    });
    assert.ok(c.dropped.congested >= 1, JSON.stringify(c.dropped));
    // From here on nothing more is queued for the stalled receiver, however much is sent.
    const sentSoFar = frames * 10; // 10 kB frames go in 10 packets
    await waitFor(() => fast.videoBySsrc.get(sender.ssrcs.videoSsrc) === sentSoFar, {
      what: "the fast receiver keeps up",
      timeoutMs: 20_000,
    });
    const toSlowBefore = (await counters()).forwarded.video.packets - sentSoFar;
    for (let k = 0; k < 200; k++) {
      sender.sendVideoFrame(false, 10_000);
      frames++;
      if (k % 10 === 9) {
        await waitFor(() => fast.videoBySsrc.get(sender.ssrcs.videoSsrc) === frames * 10);
      }
    }
    const after = await counters();
    const toSlowAfter = after.forwarded.video.packets - frames * 10;
    assert.equal(toSlowAfter, toSlowBefore, "video kept queueing for a stalled receiver");
    assert.ok(after.dropped.waitingKeyframe >= c.dropped.waitingKeyframe + 200 * 10);
    assert.ok(sender.plis > plisBefore, "the sender was asked for a keyframe");
    // The link recovers; the next keyframe gets through (the backlog held only deltas).
    const keyframes = () => slow.keyframesBySsrc.get(sender.ssrcs.videoSsrc) ?? 0;
    assert.equal(keyframes(), 1);
    slow.pauseReading(false);
    await waitFor(() => {
      sender.sendVideoFrame(true, 3000);
      return keyframes() >= 2;
    }, { what: "video resumes at a keyframe", intervalMs: 100, timeoutMs: 20_000 });
  } finally {
    [sender, fast, slow].forEach((bot) => bot.close());
  }
});

Deno.test("relay: a receiver whose reads fall behind loses video once its oldest unread byte waited 400 ms, long before a queue shows on the socket; its audio keeps coming", async () => {
  await using server = await testServer();
  const id = await meeting(server, "Behind");
  const sender = await mediaBot(server, "Sender", id);
  const slow = await mediaBot(server, "Slow", id, { reportReceived: true });
  try {
    const counters = async () =>
      (await (await fetch(`${server.url}api/meetings/${id}`)).json()).media;
    sender.startTone(440);
    sender.sendVideoFrame(true, 2000);
    await waitFor(() => slow.videoBySsrc.get(sender.ssrcs.videoSsrc), {
      what: "slow gets the first keyframe",
    });
    // 800 kbit/s of video (2 kB every 20 ms) to a receiver that keeps up: nothing dropped.
    const send = (frames: number) => {
      for (let k = 0; k < frames; k++) sender.sendVideoFrame(false, 2000);
    };
    const start = performance.now();
    await waitFor(() => {
      send(1);
      return performance.now() - start > 1000;
    }, { what: "a second of video", intervalMs: 20 });
    const steady = await counters();
    assert.equal(steady.dropped.congested, 0, "a receiver that reads is not congested");
    // It stops reading: the bytes wait in the kernel's buffers, which hold far more than a
    // second of this stream, and the socket's own queue stays empty.
    slow.pauseReading(true);
    const pausedAt = performance.now();
    const before = await counters();
    const c = await waitFor(async () => {
      send(1);
      const c = await counters();
      return c.dropped.congested + c.dropped.waitingKeyframe > 0 && c;
    }, { what: "video to the receiver is paused", intervalMs: 20, timeoutMs: 10_000 });
    const pausedAfterMs = performance.now() - pausedAt;
    const queuedBytes = c.forwarded.video.bytes - before.forwarded.video.bytes;
    assert.ok(queuedBytes < 256 * 1024, `paused after ${queuedBytes} bytes, not by the queue`);
    // The server dates what it sent in 10 ms marks and learns what was read from the reports
    // (every RECEIVED_REPORT_MS): the oldest unread byte it sees may be one sent that much before
    // the reads stopped (one read run 398.9 ms before its pause).
    const earliest = 400 - RECEIVED_REPORT_MS - 10;
    assert.ok(pausedAfterMs >= earliest, `paused after ${pausedAfterMs} ms (>= ${earliest})`);
    // Audio is not held back for it: the mix keeps going to the slow receiver.
    const audioBefore = c.forwarded.audio.packets;
    await waitFor(async () => {
      send(1);
      return (await counters()).forwarded.audio.packets >= audioBefore + 10;
    }, { what: "the mix keeps going", intervalMs: 20 });
    const plis = sender.plis;
    // Reading again, the receiver catches up, and video comes back at a keyframe.
    slow.pauseReading(false);
    const keyframes = () => slow.keyframesBySsrc.get(sender.ssrcs.videoSsrc) ?? 0;
    await waitFor(() => {
      sender.sendVideoFrame(sender.plis > plis, 2000);
      return keyframes() >= 2;
    }, { what: "video resumes at a keyframe", intervalMs: 20, timeoutMs: 20_000 });
    assert.ok(sender.plis > plis, "the sender was asked for a keyframe");
    assert.ok(slow.tonePower(440) > HEARD, "and it hears the sender");
  } finally {
    [sender, slow].forEach((bot) => bot.close());
  }
});
