import assert from "node:assert/strict";
import { FreezeMeter } from "./stats.ts";
import { MAX_EXTRA_DELAY_MS, MAX_HELD_FRAMES, VideoPlayout } from "./video_playout.ts";
import { seededRandom } from "../../util/seeded_random.ts";

const FRAME_MS = 1000 / 30;

/**
 * Plays `frames` frames of a 30 fps stream through a VideoPlayout, each decoded at
 * media time + `delayOf(i)` (frames come out of the decoder in order: one held up holds up
 * those behind it), releasing on a 10 ms tick as the page does. Returns the freezes of what
 * was shown and the delays it was shown at.
 */
function play(frames: number, delayOf: (i: number) => number, clockOffsetMs = 0) {
  const playout = new VideoPlayout<number>();
  const freezes = new FreezeMeter();
  const shownDelays: number[] = [];
  let decodedAt = -Infinity;
  const decodes: { i: number; at: number }[] = [];
  for (let i = 0; i < frames; i++) {
    decodedAt = Math.max(decodedAt, i * FRAME_MS + delayOf(i));
    decodes.push({ i, at: decodedAt });
  }
  const show = (items: number[], now: number) => {
    for (const i of items) {
      freezes.frame(now);
      shownDelays.push(now - i * FRAME_MS);
    }
  };
  let next = 0;
  const end = frames * FRAME_MS + 2000;
  for (let now = 0; now < end; now += 1) {
    while (next < decodes.length && decodes[next].at <= now) {
      const { i } = decodes[next++];
      const early = playout.push(i, i * FRAME_MS + clockOffsetMs, now + clockOffsetMs);
      show(early === null ? [] : [early], now);
      show(playout.release(now + clockOffsetMs), now);
    }
    if (now % 10 === 0) show(playout.release(now + clockOffsetMs), now);
  }
  return { playout, freezes, shownDelays };
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

Deno.test("VideoPlayout: on a clean path it adds no delay and shows every frame in turn", () => {
  const { playout, freezes, shownDelays } = play(600, () => 40);
  assert.equal(shownDelays.length, 600);
  assert.equal(freezes.count, 0);
  assert.ok(Math.max(...shownDelays) <= 50, `shown at most ${Math.max(...shownDelays)} ms late`);
  assert.ok(playout.stats.addedDelayMs <= 1, `adds ${playout.stats.addedDelayMs} ms`);
});

Deno.test("VideoPlayout: frames held up by resends (a round trip or two) are shown in their turn, without a freeze, once the window has seen a few", () => {
  const random = seededRandom(7);
  // 6% of frames wait for a resend of 100-160 ms; jitter of +/- 8 ms on every frame.
  const resend = new Set<number>();
  for (let i = 0; i < 1800; i++) if (random() < 0.06) resend.add(i);
  const delayOf = (i: number) => 40 + random() * 16 + (resend.has(i) ? 100 + random() * 60 : 0);
  const without = new FreezeMeter();
  {
    // The same decodes shown at once: what the page did without a playout buffer.
    let at = -Infinity;
    for (let i = 0; i < 1800; i++) {
      at = Math.max(at, i * FRAME_MS + delayOf(i));
      without.frame(at);
    }
  }
  const { playout, freezes, shownDelays } = play(1800, delayOf);
  // After the first 10 s (the window filling), nothing freezes.
  assert.ok(without.count > 5, `without the buffer: ${without.count} freezes`);
  assert.ok(freezes.count <= 2, `${freezes.count} freezes`);
  const added = playout.stats.addedDelayMs;
  assert.ok(added >= 90 && added <= MAX_EXTRA_DELAY_MS, `adds ${added} ms`);
  assert.ok(median(shownDelays) < 40 + 16 + added + 5, `median ${median(shownDelays)} ms`);
});

Deno.test("VideoPlayout: the sender's clock need not agree with ours (only delay differences count)", () => {
  const a = play(300, (i) => 40 + (i % 10 === 0 ? 120 : 0));
  const b = play(300, (i) => 40 + (i % 10 === 0 ? 120 : 0), 1_700_000_000_000);
  assert.equal(a.shownDelays.length, b.shownDelays.length);
  // The same, but for rounding at a tick (10 ms) where a frame is due just as it is decoded.
  a.shownDelays.forEach((d, i) => assert.ok(Math.abs(d - b.shownDelays[i]) <= 10, `frame ${i}`));
  assert.equal(a.playout.stats.addedDelayMs, b.playout.stats.addedDelayMs);
  assert.ok(a.playout.stats.addedDelayMs >= 100, `adds ${a.playout.stats.addedDelayMs} ms`);
});

Deno.test("VideoPlayout: a rare very late frame does not set the delay; the added delay is capped", () => {
  // 300 ms late holds up the 9 frames behind it too: 3% of the window.
  const rare = play(600, (i) => 40 + (i === 300 ? 300 : 0));
  assert.ok(rare.playout.stats.addedDelayMs <= 5, `${rare.playout.stats.addedDelayMs} ms`);
  assert.ok(rare.playout.stats.late >= 1);
  // Half the frames 900 ms later than the others (a path switching back and forth).
  const awful = new VideoPlayout<number>();
  for (let i = 0; i < 100; i++) awful.push(i, i * FRAME_MS, i * FRAME_MS + (i % 2 ? 940 : 40));
  assert.equal(awful.stats.addedDelayMs, MAX_EXTRA_DELAY_MS);
});

Deno.test("VideoPlayout: a jump of the media clock starts the window over; held frames are bounded", () => {
  const playout = new VideoPlayout<number>();
  for (let i = 0; i < 50; i++) playout.release(i * 33 + 40), playout.push(i, i * 33, i * 33 + 40);
  assert.equal(playout.release(50 * 33 + 40).length > 0 || playout.stats.held === 0, true);
  playout.push(99, 10_000_000, 50 * 33 + 40);
  assert.equal(playout.stats.resets, 1);
  assert.deepEqual(playout.release(50 * 33 + 40), [99]);
  // Frames decoded far ahead of their time (a media clock running ahead) are not held past the cap.
  const held = new VideoPlayout<number>();
  held.push(0, 0, 1000); // target 1000
  let early = 0;
  for (let i = 1; i <= MAX_HELD_FRAMES + 5; i++) if (held.push(i, 1000 + i, 1000) !== null) early++;
  assert.equal(held.stats.held, MAX_HELD_FRAMES);
  assert.equal(early, 6);
  assert.equal(held.drain().length, MAX_HELD_FRAMES);
});
