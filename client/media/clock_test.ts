import assert from "node:assert/strict";
import { audioSampleAt, audioTimestampUs, ClockMapper } from "./clock.ts";

Deno.test("ClockMapper: the least-delayed observation sets the offset; delayed reads keep their capture time", () => {
  const mapper = new ClockMapper();
  const origin = performance.timeOrigin;
  // A camera clock 10_000 s ahead of performance.now(); frames every 33 ms, read 1 ms late.
  const stamp = (t: number) => 10_000_000 + t;
  assert.equal(mapper.toWallClock(stamp(0), 1), origin + 1);
  assert.equal(mapper.toWallClock(stamp(33), 33.5), origin + 33.5, "a faster read lowers it");
  // A frame read 80 ms late (a busy main thread) is dated to its capture.
  assert.ok(Math.abs(mapper.toWallClock(stamp(66), 146) - (origin + 66.5)) < 0.1);
});

Deno.test("ClockMapper: follows a clock that runs slower than ours, slowly", () => {
  const mapper = new ClockMapper({ driftPerMs: 0.001, windowMs: Infinity });
  mapper.toWallClock(0, 0);
  // The other clock loses 0.5 ms per second: observations drift below the offset.
  let last = 0;
  for (let s = 1; s <= 100; s++) last = mapper.toWallClock(s * 1000 - s * 0.5, s * 1000);
  assert.ok(Math.abs(last - (performance.timeOrigin + 100_000)) < 1, `${last}`);
});

Deno.test("ClockMapper: a clock that steps back is followed once the window has passed", () => {
  const mapper = new ClockMapper({ windowMs: 1000 });
  const origin = performance.timeOrigin;
  // An audio clock posting every 20 ms, read 1 ms late; at 5 s it falls 40 ms behind (its
  // thread was starved and skipped ahead of it).
  const read = (t: number) => mapper.toWallClock(t < 5000 ? t : t - 40, t + 1) - origin;
  for (let t = 0; t < 5000; t += 20) assert.ok(Math.abs(read(t) - (t + 1)) < 0.01);
  // Within the window, the old offset still holds: stamps look 40 ms older than they are.
  assert.ok(Math.abs(read(5000) - (5000 + 1 - 40)) < 1);
  let t = 5020;
  for (; t < 6020; t += 20) read(t);
  assert.ok(Math.abs(read(t) - (t + 1)) < 0.01, `${read(t)} at ${t}`);
});

Deno.test("ClockMapper: frames read in a burst after a held-up main thread keep their times", () => {
  const mapper = new ClockMapper();
  const origin = performance.timeOrigin;
  for (let t = 0; t <= 1000; t += 20) mapper.toWallClock(t, t + 1);
  // The main thread held up for 300 ms: the frames read then keep their times.
  for (let t = 1020; t <= 1300; t += 20) {
    assert.ok(Math.abs(mapper.toWallClock(t, 1301) - origin - (t + 1)) < 0.5);
  }
});

Deno.test("audio timestamps: samples to µs and back, a truncated µs still finds its sample", () => {
  for (const frame of [0, 1, 13, 26, 52, 103, 1_000_000]) {
    const samples = frame * 960;
    assert.equal(audioSampleAt(audioTimestampUs(samples)), samples);
    if (frame > 0) {
      assert.equal(audioSampleAt(audioTimestampUs(samples) - 1), samples, "1 µs early");
    }
  }
  assert.equal(audioTimestampUs(12_480), 260_000);
  assert.equal(audioSampleAt(259_999), 12_480);
});
