import assert from "node:assert/strict";
import { connectionQuality, QualityWatch, type ReceivedVideo } from "./quality.ts";

Deno.test("connectionQuality: each bound, from good to poor", () => {
  const clean = { lossPercent: 0, freezes: 0, fps: 30, delayMs: 40, jitterMs: 2 };
  assert.equal(connectionQuality(clean), "good");
  assert.equal(connectionQuality({ ...clean, delayMs: null }), "good");
  for (
    const fair of [{ lossPercent: 1 }, { freezes: 1 }, { fps: 7 }, { delayMs: 201 }, {
      jitterMs: 31,
    }]
  ) {
    assert.equal(connectionQuality({ ...clean, ...fair }), "fair", JSON.stringify(fair));
  }
  for (const poor of [{ lossPercent: 5 }, { freezes: 2 }, { fps: 2 }, { delayMs: 401 }]) {
    assert.equal(connectionQuality({ ...clean, ...poor }), "poor", JSON.stringify(poor));
  }
});

Deno.test("QualityWatch: judges the last second's loss and freezes, not the stream's life", () => {
  const watch = new QualityWatch();
  const bob = (packets: number, packetsLost: number, freezeCount: number): ReceivedVideo => ({
    participantId: "bob",
    packets,
    packetsLost,
    freezeCount,
    fps: 30,
    delayP50: 50,
    jitterMs: 3,
  });
  assert.deepEqual(watch.update({ a: bob(1000, 100, 0) }), { bob: "poor" }); // 9% so far
  assert.deepEqual(watch.update({ a: bob(1300, 100, 0) }), { bob: "good" }); // none since
  assert.deepEqual(watch.update({ a: bob(1600, 103, 1) }), { bob: "fair" });
  assert.deepEqual(watch.update({ a: bob(1600, 103, 1) }), {}, "no video this second");
  assert.deepEqual(watch.update({ x: { ...bob(5, 0, 0), participantId: null } }), {});
});
