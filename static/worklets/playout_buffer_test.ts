import assert from "node:assert/strict";
import { PlayoutBuffer } from "./playout_buffer.js";

const SR = 48_000;
const FRAME = 960;
const QUANTUM = 128;
const FREQ = 440;
const AMP = 0.5;
/** Largest step between consecutive samples of the test sine: anything far above is a click. */
const SINE_STEP = AMP * 2 * Math.PI * FREQ / SR;

function sineFrame(index: number): Float32Array {
  const frame = new Float32Array(FRAME);
  for (let i = 0; i < FRAME; i++) {
    frame[i] = AMP * Math.sin(2 * Math.PI * FREQ * (index * FRAME + i) / SR);
  }
  return frame;
}

interface Arrival {
  /** Reader clock, in samples, when the frame arrives. */
  at: number;
  index: number;
  /** RTP timestamp (default index * 960). */
  ts?: number;
  /** Came as the redundant copy in the next packet (RED). */
  recovered?: boolean;
}

/** Plays `arrivals` through a buffer for `durationMs`; returns the output and leads. */
function simulate(buffer: PlayoutBuffer, arrivals: Arrival[], durationMs: number) {
  const sorted = [...arrivals].sort((a, b) => a.at - b.at);
  const out = new Float32Array(Math.round(durationMs * SR / 1000 / QUANTUM) * QUANTUM);
  const leads: number[] = [];
  const depths: number[] = [];
  let next = 0;
  for (let t = 0; t < out.length; t += QUANTUM) {
    while (next < sorted.length && sorted[next].at <= t) {
      const a = sorted[next++];
      const lead = buffer.push(a.ts ?? a.index * FRAME, sineFrame(a.index), a.recovered);
      if (lead !== null) leads.push(lead);
    }
    depths.push(buffer.depth);
    buffer.read(out.subarray(t, t + QUANTUM));
  }
  return { out, leads, depths };
}

function maxStep(out: Float32Array, from = 1): number {
  let max = 0;
  for (let i = Math.max(1, from); i < out.length; i++) {
    max = Math.max(max, Math.abs(out[i] - out[i - 1]));
  }
  return max;
}

function indexOfBlock(out: Float32Array, block: Float32Array): number {
  outer: for (let i = 0; i + block.length <= out.length; i++) {
    for (let k = 0; k < block.length; k++) if (out[i + k] !== block[k]) continue outer;
    return i;
  }
  return -1;
}

function steady(count: number, from = 0, jitter: (i: number) => number = () => 0): Arrival[] {
  return Array.from({ length: count }, (_, k) => {
    const index = from + k;
    return { index, at: index * FRAME + jitter(index) };
  });
}

Deno.test("PlayoutBuffer: a steady stream plays bit-exact after the fade-in, min lead ahead", () => {
  const buffer = new PlayoutBuffer({ sampleRate: SR, minLeadMs: 10 });
  const { out, leads } = simulate(buffer, steady(50), 1000);
  assert.equal(leads[0], 480, "anchored 10 ms ahead");
  // Every later frame lands right after the previous one.
  assert.ok(leads.slice(1).every((l) => l === 480 || l === 416), "in step (quantum boundaries)");
  const s = buffer.stats;
  assert.equal(s.concealed, 0);
  assert.equal(s.lost, 0);
  assert.equal(s.stalls, 0);
  assert.equal(s.state, "playing");
  // Frame 10 plays 480 samples after it arrived at 9600: exactly the input.
  const expected = sineFrame(10);
  assert.deepEqual(out.subarray(10 * FRAME + 480, 11 * FRAME + 480), expected);
  assert.ok(maxStep(out) <= SINE_STEP * 1.01, "no click anywhere (fade-in included)");
});

Deno.test("PlayoutBuffer: a lost frame is concealed and skipped, without a click", () => {
  const buffer = new PlayoutBuffer({ sampleRate: SR });
  const arrivals = steady(50).filter((a) => a.index !== 20);
  const { out } = simulate(buffer, arrivals, 1000);
  const s = buffer.stats;
  assert.equal(s.lost, FRAME);
  assert.ok(s.concealed >= FRAME && s.concealed <= FRAME + QUANTUM, `concealed ${s.concealed}`);
  assert.equal(s.stretched, 0, "the concealment replaced the lost frame: no delay added");
  // The concealment repeats the pitch period: a sine keeps going, then fades.
  assert.ok(maxStep(out) < SINE_STEP * 1.6, `click: ${maxStep(out)} vs ${SINE_STEP}`);
  // The frames after the hole play whole.
  assert.ok(indexOfBlock(out, sineFrame(22)) > 21 * FRAME, "frame 22 plays bit-exact");
});

Deno.test("PlayoutBuffer: a late frame stretches instead of dropping, and the target rises", () => {
  const buffer = new PlayoutBuffer({ sampleRate: SR, minLeadMs: 10 });
  // Frames 20.. arrive 40 ms late (a stalled main thread), then the stream is steady again.
  const arrivals = steady(100, 0, (i) => (i >= 20 ? 1920 : 0));
  const { out } = simulate(buffer, arrivals, 2000);
  const s = buffer.stats;
  assert.equal(s.lost, 0, "nothing skipped: every frame played");
  assert.equal(s.stalls, 1);
  assert.ok(s.stretched >= 1920 - 480 && s.stretched <= 1920, `stretched ${s.stretched}`);
  assert.ok(s.targetLead >= s.stretched * 0.8, `target ${s.targetLead} covers the stall`);
  assert.ok(maxStep(out) < SINE_STEP * 1.6, `click: ${maxStep(out)}`);
});

Deno.test("PlayoutBuffer: a stall that recurs every few seconds stalls once; the target decays after the hold", () => {
  // Every 3 s a busy machine holds up the receiving thread for 30 ms: a frame comes 30 ms
  // late, the next with it. The target rises at the first and is held (each late frame that
  // comes into its margin starts the hold over): the others play in time.
  const held = (i: number) => [1440, 480][i % 150 - 50] ?? 0;
  const recurring = new PlayoutBuffer({ sampleRate: SR, minLeadMs: 10 });
  simulate(recurring, steady(600, 0, held), 11_900);
  const s = recurring.stats;
  assert.equal(s.stalls, 1, `stalls: ${s.stalls}`);
  assert.equal(s.lost, 0);
  // Without the hold the target drained between them and each one stalled.
  const unheld = new PlayoutBuffer({ sampleRate: SR, minLeadMs: 10, holdMs: 0 });
  simulate(unheld, steady(600, 0, held), 11_900);
  assert.equal(unheld.stats.stalls, 4, `stalls without the hold: ${unheld.stats.stalls}`);
  // One late frame, then 17 s steady: the target holds 3 s, then falls back near the minimum.
  const once = new PlayoutBuffer({ sampleRate: SR, minLeadMs: 10 });
  const depthsAt: number[] = [];
  const { depths } = simulate(once, steady(900, 0, (i) => (i < 150 ? held(i) : 0)), 17_900);
  for (const ms of [3000, 17_800]) depthsAt.push(depths[Math.floor(ms * SR / 1000 / QUANTUM)]);
  assert.equal(once.stats.stalls, 1);
  assert.ok(depthsAt[0] >= 1440, `depth held at 3 s: ${depthsAt[0] / 48} ms`);
  assert.ok(once.stats.targetLead <= 20 * 48, `target at 18 s: ${once.stats.targetLead / 48} ms`);
  assert.ok(depthsAt[1] <= 20 * 48 + FRAME, `depth at 18 s: ${depthsAt[1] / 48} ms`);
});

Deno.test("PlayoutBuffer: a buffer left too deep drops back to its target with a crossfade", () => {
  const buffer = new PlayoutBuffer({ sampleRate: SR, minLeadMs: 10, windowMs: 500 });
  // The first 100 ms arrive at once, 100 ms late (the anchor is late), then one frame every
  // 20 ms on time: the buffer holds 100 ms more than it needs.
  const arrivals = steady(200, 0, (i) => (i < 5 ? (5 - i) * FRAME : 0));
  const { out, depths } = simulate(buffer, arrivals, 3900);
  const s = buffer.stats;
  assert.ok(s.dropped >= 80 * 48, `dropped ${s.dropped}`);
  assert.equal(s.stalls, 0);
  const late = depths.slice(-100);
  assert.ok(Math.min(...late) <= 480 + 480 + QUANTUM, `depth settled: min ${Math.min(...late)}`);
  assert.ok(maxStep(out) < SINE_STEP * 2, `click: ${maxStep(out)}`);
});

Deno.test("PlayoutBuffer: a backlog after a freeze is dropped at once, not over seconds", () => {
  const buffer = new PlayoutBuffer({ sampleRate: SR, minLeadMs: 10 });
  // Steady for 1 s, then the receiving thread freezes for 300 ms: frames 50-64 come in one
  // burst with frame 65, and the stream is steady again.
  const arrivals = steady(150, 0, (i) => (i >= 50 && i < 65 ? (65 - i) * FRAME : 0));
  const { out, depths } = simulate(buffer, arrivals, 2900);
  const s = buffer.stats;
  assert.ok(s.dropped >= 200 * 48, `dropped ${s.dropped / 48} ms`);
  // 50 ms after the burst the depth is back within the target and two frames.
  const after = depths.slice(
    Math.ceil((65 * FRAME + 2400) / QUANTUM),
    Math.ceil(100 * FRAME / QUANTUM),
  );
  assert.ok(
    Math.max(...after) <= s.targetLead + 2 * FRAME,
    `depth after: ${Math.max(...after) / 48} ms, target ${s.targetLead / 48} ms`,
  );
  // The burst's last frames play: the drop skips the oldest.
  assert.ok(indexOfBlock(out, sineFrame(66)) > 0, "frame 66 plays");
  assert.ok(maxStep(out) < SINE_STEP * 2, `click: ${maxStep(out)}`);
});

Deno.test("PlayoutBuffer: jitter keeps every frame when the target covers it", () => {
  const buffer = new PlayoutBuffer({ sampleRate: SR, minLeadMs: 30 });
  // Up to 25 ms of jitter (1200 samples), deterministic.
  const arrivals = steady(150, 0, (i) => ((i * 7919) % 11) * 110);
  simulate(buffer, arrivals, 2900);
  const s = buffer.stats;
  assert.equal(s.lost, 0);
  assert.equal(s.stalls, 0);
  assert.equal(s.late, 0);
});

Deno.test("PlayoutBuffer: reordered frames play in timestamp order", () => {
  const buffer = new PlayoutBuffer({ sampleRate: SR, minLeadMs: 20 });
  const arrivals = steady(30).map((a) =>
    a.index === 10 ? { ...a, at: a.at + 600 } : a.index === 11 ? { ...a, at: a.at - 300 } : a
  );
  const { out } = simulate(buffer, arrivals, 600);
  assert.equal(buffer.stats.lost, 0);
  const start = 10 * FRAME + 960;
  assert.deepEqual(
    out.subarray(start, start + 2 * FRAME),
    new Float32Array([
      ...sineFrame(10),
      ...sineFrame(11),
    ]),
  );
});

Deno.test("PlayoutBuffer: a stream that stops fades out, goes idle and anchors anew", () => {
  const buffer = new PlayoutBuffer({ sampleRate: SR, minLeadMs: 10, maxConcealMs: 100 });
  // 10 frames, silence for 1 s, then the sender resumes with timestamps 5 s later.
  const arrivals = [
    ...steady(10),
    ...Array.from({ length: 10 }, (_, k) => ({
      index: 100 + k,
      at: 60 * FRAME + k * FRAME,
      ts: (5 * SR + k * FRAME) >>> 0,
    })),
  ];
  const { out, leads } = simulate(buffer, arrivals, 1400);
  const s = buffer.stats;
  assert.equal(s.state, "playing");
  assert.equal(s.stalls, 0, "a pause is not a stall");
  assert.equal(s.stretched, 0, "a pause adds no delay");
  assert.ok(s.concealed <= 100 * 48 + QUANTUM, `concealed at most 100 ms: ${s.concealed}`);
  assert.equal(leads[10], s.targetLead, "re-anchored at the target lead");
  // Idle between: exact silence.
  assert.ok(out.subarray(10 * FRAME + 480 + 6000, 60 * FRAME).every((v) => v === 0));
  assert.ok(maxStep(out) < SINE_STEP * 1.6, `click: ${maxStep(out)}`);
});

Deno.test("PlayoutBuffer: late frames are counted, a far jump restarts, reset empties", () => {
  const buffer = new PlayoutBuffer({ sampleRate: SR, minLeadMs: 10 });
  simulate(buffer, steady(20), 300);
  // A frame whose slot has long played.
  assert.ok(buffer.push(0, sineFrame(0))! < 0);
  assert.ok(buffer.stats.late > 0);
  // A frame 10 s ahead: the sender jumped, the stream anchors again.
  const restarts = buffer.stats.restarts;
  assert.equal(buffer.push(9 * FRAME + 10 * SR, sineFrame(1)), buffer.targetLead);
  assert.equal(buffer.stats.restarts, restarts + 1);
  assert.equal(buffer.stats.backlogRestarts, 0, "a jump is no backlog");
  buffer.reset();
  assert.equal(buffer.depth, 0);
  assert.equal(buffer.stats.state, "idle");
  const quantum = new Float32Array(QUANTUM).fill(1);
  buffer.read(quantum);
  assert.ok(quantum.every((v) => v === 0));
});

Deno.test("PlayoutBuffer: more than the buffer holds, at once and in sequence, starts over as a backlog", () => {
  const buffer = new PlayoutBuffer({ sampleRate: SR, minLeadMs: 10 });
  // Steady for 0.5 s, then the receiving thread is held up for 1.5 s: 75 frames come at once.
  const arrivals = steady(100, 0, (i) => (i >= 25 && i < 100 ? (100 - i) * FRAME : 0));
  simulate(buffer, arrivals, 2500);
  const s = buffer.stats;
  assert.ok(s.restarts >= 1, `restarts ${s.restarts}`);
  assert.equal(s.backlogRestarts, s.restarts, "each one ran on from the frame before");
});

Deno.test("PlayoutBuffer: a frame recovered from the next packet is given up when losses are rare, waited for when they are not", () => {
  // Frame k of every `every` is lost; its copy comes with frame k + 1, a frame late.
  const lossy = (every: number) =>
    steady(500).map((a) =>
      a.index % every === every - 1 && a.index > 0
        ? { ...a, at: (a.index + 1) * FRAME, recovered: true }
        : a
    );
  const rare = new PlayoutBuffer({ sampleRate: SR, minLeadMs: 10 });
  simulate(rare, lossy(100), 10_000); // 1%
  const r = rare.stats;
  assert.equal(r.givenUp, 4 * FRAME, "the four copies that came after the buffer ran dry");
  assert.equal(r.stalls, 0, "no delay added for them");
  assert.equal(r.targetLead, 480, "the target stays at the least lead");
  assert.equal(r.lost, 4 * FRAME);
  // Frequent losses (5%): the copies are worth the wait, the target rises to take them.
  const frequent = new PlayoutBuffer({ sampleRate: SR, minLeadMs: 10 });
  simulate(frequent, lossy(20), 10_000);
  const f = frequent.stats;
  assert.equal(f.givenUp, 0);
  assert.equal(f.stalls, 1, "one stall to deepen, then every copy in time");
  assert.ok(f.lost < 5 * FRAME, `lost ${f.lost}: the later copies come in time`);
});
