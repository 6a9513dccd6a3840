import assert from "node:assert/strict";
import { FreezeMeter, percentile, RateMeter, SampleWindow } from "./stats.ts";

Deno.test("RateMeter: per-second rate over a sliding window", () => {
  const fps = new RateMeter(1000);
  for (let t = 0; t < 1000; t += 1000 / 30) fps.add(1, t);
  assert.equal(Math.round(fps.rate(999)), 30);
  assert.equal(fps.rate(5000), 0, "everything left the window");
  assert.equal(fps.total, 30);
  const half = new RateMeter(500);
  half.add(10, 0);
  assert.equal(half.rate(100), 20);
  // Long runs keep memory bounded.
  const busy = new RateMeter(100);
  for (let t = 0; t < 100_000; t++) busy.add(1, t);
  assert.equal(busy.rate(99_999), 1000);
});

Deno.test("SampleWindow: keeps the latest samples; nearest-rank percentiles", () => {
  const w = new SampleWindow(100);
  assert.equal(w.percentile(50), null);
  for (let v = 1; v <= 100; v++) w.add(v);
  assert.equal(w.percentile(50), 50);
  assert.equal(w.percentile(95), 95);
  for (let v = 101; v <= 150; v++) w.add(v);
  assert.equal(w.size, 100);
  assert.deepEqual(w.values().slice(0, 2), [51, 52], "oldest first");
  assert.equal(w.percentile(100), 150);
  w.add(NaN);
  assert.equal(w.size, 100, "non-finite samples are ignored");
  w.clear();
  assert.equal(w.size, 0);
  assert.equal(percentile([5, 1, 3], 50), 3);
  assert.equal(percentile([], 50), null);
});

Deno.test("FreezeMeter: a gap over max(3 x mean, mean + 150 ms) is a freeze; steady frames and short hiccups are not", () => {
  const freezes = new FreezeMeter();
  let t = 0;
  for (let i = 0; i < 60; i++) freezes.frame(t += 33);
  freezes.frame(t += 170); // under 33 + 150
  assert.equal(freezes.count, 0);
  for (let i = 0; i < 30; i++) freezes.frame(t += 33);
  freezes.frame(t += 250);
  assert.equal(freezes.count, 1);
  assert.equal(freezes.totalMs, 250);
  // At 5 fps the threshold is 3 x 200 ms.
  const slow = new FreezeMeter();
  t = 0;
  for (let i = 0; i < 30; i++) slow.frame(t += 200);
  slow.frame(t += 550);
  assert.equal(slow.count, 0);
  slow.frame(t += 700);
  assert.equal(slow.count, 1);
});
