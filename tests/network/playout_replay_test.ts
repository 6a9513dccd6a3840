import assert from "node:assert/strict";
import type { PlayoutArrival } from "../../client/media/audio_playback.ts";
import { replayPlayout } from "./playout_replay.ts";

const FRAME = 960;

/** 20 ms frames of one stream, each `lateMs(i)` after its time (48 kHz). */
function arrivals(count: number, lateMs: (i: number) => number, ssrc = 7): PlayoutArrival[] {
  return Array.from(
    { length: count },
    (_, i) => [ssrc, i * FRAME, 0, i * FRAME + lateMs(i) * 48, FRAME],
  );
}

Deno.test("playout replay: a steady stream plays without a stall, close to the least lead", () => {
  const r = replayPlayout(arrivals(500, () => 2));
  assert.equal(r.frames, 500);
  assert.equal(r.stalls, 0);
  assert.equal(r.concealedPercent, 0);
  assert.ok(r.waitP50Ms >= 10 && r.waitP50Ms <= 30, `wait p50 ${r.waitP50Ms}`);
});

Deno.test("playout replay: a late frame is a stall that raises the target; settings apply", () => {
  const late = arrivals(500, (i) => (i === 200 ? 60 : 2));
  const r = replayPlayout(late, { holdMs: 8000 });
  assert.equal(r.stalls, 1);
  assert.ok(r.concealedPercent > 0);
  assert.ok(r.targetLeadMs > 50, `target ${r.targetLeadMs}`);
  // Held 1 s instead of 8, the target is back near its least by the end.
  const short = replayPlayout(late, { holdMs: 1000 });
  assert.ok(short.targetLeadMs < r.targetLeadMs, `${short.targetLeadMs} vs ${r.targetLeadMs}`);
  // Measured from 5 s on, the stall at 4 s is before the window.
  assert.equal(replayPlayout(late, {}, 5000).stalls, 0);
});

Deno.test("playout replay: the most frequent stream is the one replayed", () => {
  const mixed = [...arrivals(300, () => 2, 1), ...arrivals(10, () => 2, 2)]
    .sort((a, b) => a[3] - b[3]);
  assert.equal(replayPlayout(mixed).frames, 300);
});
