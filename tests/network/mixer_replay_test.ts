import assert from "node:assert/strict";
import type { MixerRecordEntry } from "../../media/mixer.ts";
import { seededRandom } from "../../util/seeded_random.ts";
import { replayMixer } from "./mixer_replay.ts";

/** One voice for 20 s, each frame 20-36 ms after its time, one in 100 lost (its copy in the next). */
function voice(): MixerRecordEntry[] {
  const random = seededRandom(7);
  const entries: [number, MixerRecordEntry][] = [];
  let lostBefore = false;
  for (let i = 0; i < 1000; i++) {
    const arrival = i * 20 + 20 + random() * 16;
    if (lostBefore) entries.push([arrival, ["push", "ann", i - 1, (i - 1) * 960, arrival, true]]);
    lostBefore = random() < 0.01;
    if (!lostBefore) entries.push([arrival, ["push", "ann", i, i * 960, arrival, false]]);
    entries.push([i * 20 + 3, ["tick", i * 20 + 3]]);
  }
  return entries.sort((a, b) => a[0] - b[0]).map(([, e]) => e);
}

Deno.test("mixer replay: a wider margin waits longer and misses less, on the same arrivals", () => {
  const entries = voice();
  const narrow = replayMixer(entries, { guardMs: 0, guardJitters: 0 }, 2000);
  const usual = replayMixer(entries, {}, 2000);
  const wide = replayMixer(entries, { guardJitters: 4 }, 2000);
  assert.ok(narrow.frames > 800 && usual.frames > 800 && wide.frames > 800);
  assert.ok(narrow.waitP50Ms < usual.waitP50Ms && usual.waitP50Ms < wide.waitP50Ms);
  assert.ok(narrow.missedPercent > wide.missedPercent, JSON.stringify({ narrow, wide }));
  // Deep enough, the copies carried in the next packet come in time: hardly anything missed.
  assert.ok(wide.missedPercent < 0.5, JSON.stringify(wide));
});
