import assert from "node:assert/strict";
import {
  JitterBuffer,
  type JitterBufferOptions,
  type JitterBufferOutput,
} from "./jitter_buffer.ts";
import { seededRandom } from "./_testing.ts";

interface Arrival {
  seq: number;
  atMs: number;
}

/** A short label per pop: "f<seq>" frame, "m<seq>" lost, "u<seq>" underrun, "-" nothing. */
function label(out: JitterBufferOutput): string {
  if (out === null) return "-";
  if (out.kind === "frame") return `f${out.seq}`;
  return `${out.underrun ? "u" : "m"}${out.seq}`;
}

/** A packet whose payload names its sequence number, so tests can check what is played. */
function payloadOf(seq: number): Uint8Array {
  return new Uint8Array([seq >> 8, seq & 0xff]);
}

/**
 * Plays a schedule: packets arrive at their times, `pop` runs every 20 ms from `firstPopMs`
 * until `untilMs`. Returns the pop labels.
 */
function simulate(
  buffer: JitterBuffer,
  arrivals: Arrival[],
  untilMs: number,
  firstPopMs = 10,
): string[] {
  const pending = [...arrivals].sort((a, b) => a.atMs - b.atMs);
  const out: string[] = [];
  for (let now = firstPopMs; now <= untilMs; now += 20) {
    while (pending.length > 0 && pending[0].atMs <= now) {
      const { seq, atMs } = pending.shift()!;
      buffer.push(seq, (seq * 960) >>> 0, payloadOf(seq), atMs);
    }
    const popped = buffer.pop(now);
    if (popped?.kind === "frame") {
      assert.deepEqual(popped.payload, payloadOf(popped.seq));
      assert.equal(popped.rtpTimestamp, (popped.seq * 960) >>> 0);
    }
    out.push(label(popped));
  }
  return out;
}

/** Packets `first..first+count-1` (mod 2^16), one every 20 ms from `startMs`. */
function steady(first: number, count: number, startMs = 0): Arrival[] {
  return Array.from({ length: count }, (_, i) => ({
    seq: (first + i) & 0xffff,
    atMs: startMs + i * 20,
  }));
}

function frames(labels: string[]): number[] {
  return labels.filter((l) => l.startsWith("f")).map((l) => Number(l.slice(1)));
}

function range(first: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => (first + i) & 0xffff);
}

const fixed40: JitterBufferOptions = { minMs: 40, maxMs: 40 };

Deno.test("jitter buffer: buffers to the target depth, then plays in order", () => {
  const buffer = new JitterBuffer(fixed40);
  const labels = simulate(buffer, steady(100, 50), 50 * 20 - 10);
  // Pop at 10 ms holds one frame (20 ms < 40 ms); at 30 ms two frames: playback starts.
  assert.deepEqual(labels.slice(0, 3), ["-", "f100", "f101"]);
  assert.deepEqual(frames(labels), range(100, 49));
  const stats = buffer.stats;
  assert.equal(stats.received, 50);
  assert.equal(stats.played, 49);
  assert.equal(stats.lost, 0);
  assert.equal(stats.concealed, 0);
  assert.equal(stats.late, 0);
  assert.equal(stats.duplicates, 0);
  assert.equal(stats.depthMs, 20);
  assert.equal(stats.targetMs, 40);
  assert.equal(stats.jitterMs, 0);
});

Deno.test("jitter buffer: reordering within the depth is absorbed", () => {
  const arrivals = steady(0, 40);
  for (const i of [5, 12, 20, 31]) {
    [arrivals[i].seq, arrivals[i + 1].seq] = [arrivals[i + 1].seq, arrivals[i].seq];
  }
  const buffer = new JitterBuffer(fixed40);
  const labels = simulate(buffer, arrivals, 40 * 20 + 30);
  assert.deepEqual(frames(labels), range(0, 40));
  assert.equal(buffer.stats.lost, 0);
  assert.equal(buffer.stats.late, 0);
});

Deno.test("jitter buffer: reordering before playback starts is absorbed too", () => {
  const buffer = new JitterBuffer(fixed40);
  assert.equal(buffer.push(11, 11 * 960, payloadOf(11), 0), "stored");
  assert.equal(buffer.push(10, 10 * 960, payloadOf(10), 1), "stored");
  assert.deepEqual(label(buffer.pop(2)), "f10");
  assert.deepEqual(label(buffer.pop(22)), "f11");
});

Deno.test("jitter buffer: duplicates are counted and played once", () => {
  const arrivals = steady(0, 20).flatMap((a) => [a, { ...a, atMs: a.atMs + 1 }]);
  const buffer = new JitterBuffer(fixed40);
  const labels = simulate(buffer, arrivals, 20 * 20 + 30);
  assert.deepEqual(frames(labels), range(0, 20));
  // A duplicate that arrives after its frame was played counts as late instead.
  assert.equal(buffer.stats.duplicates + buffer.stats.late, 20);
  assert.equal(buffer.stats.played, 20);
});

Deno.test("jitter buffer: a lost packet is concealed once, in its place", () => {
  const arrivals = steady(0, 20).filter((a) => a.seq !== 7);
  const buffer = new JitterBuffer(fixed40);
  const labels = simulate(buffer, arrivals, 20 * 20 + 10); // up to the last frame
  const played = labels.filter((l) => l !== "-");
  assert.deepEqual(played.slice(5, 10), ["f5", "f6", "m7", "f8", "f9"]);
  assert.deepEqual(frames(labels), range(0, 20).filter((s) => s !== 7));
  assert.equal(buffer.stats.lost, 1);
  assert.equal(buffer.stats.concealed, 1);
});

Deno.test("jitter buffer: a packet arriving after its slot was concealed is late, dropped", () => {
  const buffer = new JitterBuffer(fixed40);
  const arrivals = steady(0, 20).map((a) => a.seq === 7 ? { ...a, atMs: a.atMs + 200 } : a);
  const labels = simulate(buffer, arrivals, 20 * 20 + 30);
  assert.ok(labels.includes("m7"));
  assert.ok(!labels.includes("f7"));
  assert.equal(buffer.stats.late, 1);
  assert.equal(buffer.stats.lost, 1);
  assert.equal(buffer.push(3, 3 * 960, payloadOf(3), 1000), "late");
});

Deno.test("jitter buffer: sequence numbers wrap at 65535", () => {
  const buffer = new JitterBuffer(fixed40);
  const arrivals = steady(65530, 20).filter((a) => a.seq !== 1);
  const labels = simulate(buffer, arrivals, 20 * 20 + 10);
  assert.deepEqual(labels.filter((l) => l !== "-"), [
    ...range(65530, 6).map((s) => `f${s}`),
    "f0",
    "m1",
    ...range(2, 12).map((s) => `f${s}`),
  ]);
  assert.equal(buffer.stats.lost, 1);
  assert.equal(buffer.stats.restarts, 0);
});

Deno.test("jitter buffer: an underrun conceals without giving up the awaited frame", () => {
  // Packets 10.. are held up 70 ms by the network, then arrive in a burst.
  const arrivals = steady(0, 30).map((a) => a.seq >= 10 && a.seq < 14 ? { ...a, atMs: 270 } : a);
  const buffer = new JitterBuffer(fixed40);
  const labels = simulate(buffer, arrivals, 30 * 20 + 90);
  const played = labels.filter((l) => l !== "-");
  const firstUnderrun = played.indexOf("u10");
  assert.ok(firstUnderrun > 0, played.join(" "));
  assert.equal(played[firstUnderrun - 1], "f9");
  const afterUnderrun = played.slice(firstUnderrun).filter((l) => l !== "u10");
  assert.deepEqual(afterUnderrun.slice(0, 4), ["f10", "f11", "f12", "f13"]);
  assert.deepEqual(frames(labels), range(0, 30));
  assert.equal(buffer.stats.lost, 0);
  assert.ok(buffer.stats.concealed >= 2);
});

Deno.test("jitter buffer: after a quiet period it stops concealing, then buffers again", () => {
  const arrivals = [...steady(0, 10), ...steady(10, 10, 2000)];
  const buffer = new JitterBuffer({ ...fixed40, maxConcealMs: 100 });
  const labels = simulate(buffer, arrivals, 2400);
  const underruns = labels.filter((l) => l === "u10").length;
  assert.equal(underruns, 5); // 100 ms of concealment, then silence
  const quiet = labels.slice(labels.lastIndexOf("u10") + 1, labels.indexOf("f10"));
  assert.ok(quiet.length > 80 && quiet.every((l) => l === "-"));
  assert.deepEqual(frames(labels), range(0, 20));
  assert.equal(buffer.stats.lost, 0);
});

Deno.test("jitter buffer: packets lost during a quiet period are skipped, not concealed", () => {
  const arrivals = [...steady(0, 10), ...steady(15, 10, 2000)];
  const buffer = new JitterBuffer(fixed40);
  const labels = simulate(buffer, arrivals, 2400);
  assert.ok(!labels.some((l) => l.startsWith("m")), "no lost-frame concealment");
  assert.deepEqual(frames(labels), [...range(0, 10), ...range(15, 10)]);
  assert.equal(buffer.stats.lost, 5);
});

Deno.test("jitter buffer: a large sequence jump (sender restart) resyncs", () => {
  const buffer = new JitterBuffer(fixed40);
  const arrivals = [...steady(500, 10), ...steady(30000, 10, 200), ...steady(20000, 10, 400)];
  const labels = simulate(buffer, arrivals, 700);
  assert.deepEqual(frames(labels).slice(0, 8), range(500, 8));
  assert.ok(frames(labels).includes(30005));
  assert.deepEqual(frames(labels).slice(-10), range(20000, 10));
  assert.equal(buffer.stats.restarts, 2);
});

Deno.test("jitter buffer: the target depth adapts to jitter within [min, max]", () => {
  const random = seededRandom(40);
  const jittery = steady(0, 500).map((a) => ({ ...a, atMs: a.atMs + random() * 100 }));
  const adaptive = new JitterBuffer({ minMs: 40, maxMs: 80 });
  simulate(adaptive, jittery, 500 * 20);
  assert.ok(adaptive.stats.jitterMs > 10, `jitter ${adaptive.stats.jitterMs}`);
  assert.equal(adaptive.stats.targetMs, 80);

  const calm = new JitterBuffer({ minMs: 40, maxMs: 80 });
  simulate(calm, steady(0, 500).map((a) => ({ ...a, atMs: a.atMs + random() * 2 })), 500 * 20);
  assert.equal(calm.stats.targetMs, 40);

  const fixed = new JitterBuffer(fixed40);
  simulate(fixed, jittery, 500 * 20);
  assert.equal(fixed.stats.targetMs, 40);
  // The deeper adaptive buffer glitches (conceals or drops) less than the fixed shallow one.
  const glitches = (b: JitterBuffer) => b.stats.concealed + b.stats.dropped;
  assert.ok(
    glitches(adaptive) * 2 < glitches(fixed),
    `${glitches(adaptive)} vs ${glitches(fixed)}`,
  );
});

Deno.test("jitter buffer: excess depth is worked off towards the target", () => {
  // 200 ms of packets arrive at once, then the stream is steady: latency must come down.
  const arrivals = steady(0, 300).map((a) => ({ ...a, atMs: Math.max(a.atMs, 200) }));
  const buffer = new JitterBuffer(fixed40);
  simulate(buffer, arrivals, 300 * 20, 210);
  assert.ok(buffer.stats.dropped >= 3, `dropped ${buffer.stats.dropped}`);
  assert.ok(buffer.stats.depthMs <= 60, `depth ${buffer.stats.depthMs}`);
});

Deno.test("jitter buffer: capacity bounds memory when nobody pops, then it catches up", () => {
  const buffer = new JitterBuffer({ minMs: 40, maxMs: 80, capacity: 50 });
  for (let seq = 0; seq < 1000; seq++) buffer.push(seq, seq * 960, payloadOf(seq), seq * 20);
  assert.ok(buffer.stats.depthMs <= 50 * 20);
  const out = buffer.pop(20_000);
  assert.equal(out?.kind, "frame");
  assert.ok(buffer.stats.depthMs <= 80, `depth ${buffer.stats.depthMs}`);
  assert.equal(buffer.stats.played, 1);
  // Everything not played is accounted for.
  assert.equal(
    buffer.stats.played + buffer.stats.dropped + buffer.stats.depthMs / 20,
    1000,
  );
});

Deno.test("jitter buffer: seeded fuzz keeps order and bounds", () => {
  const random = seededRandom(41);
  const buffer = new JitterBuffer({ minMs: 40, maxMs: 80, capacity: 30 });
  let seq = 60000;
  let now = 0;
  let lastPlayed: number | null = null;
  for (let i = 0; i < 20_000; i++) {
    now += random() * 15;
    const roll = random();
    if (roll < 0.5) {
      const jump = random() < 0.01 ? Math.floor(random() * 65536) : Math.floor(random() * 6) - 2;
      seq = (seq + jump) & 0xffff;
      buffer.push(seq, seq * 960, payloadOf(seq), now);
    } else {
      const out = buffer.pop(now);
      if (out?.kind === "frame") {
        if (lastPlayed !== null && buffer.stats.restarts === 0) {
          assert.ok(((out.seq - lastPlayed) & 0xffff) < 0x8000);
        }
        lastPlayed = out.seq;
      }
    }
    assert.ok(buffer.stats.depthMs <= 30 * 20 + 20);
  }
  const stats = buffer.stats;
  assert.ok(stats.played > 1000 && stats.late > 0 && stats.duplicates > 0 && stats.restarts > 0);
});

Deno.test("jitter buffer: a pause in sending is not mistaken for jitter", () => {
  // The sender stops for 3 s without advancing its timestamps (e.g. muted), then resumes.
  const buffer = new JitterBuffer({ minMs: 40, maxMs: 80 });
  const arrivals = [...steady(0, 50), ...steady(50, 50, 4000)];
  simulate(buffer, arrivals, 6000);
  assert.ok(buffer.stats.jitterMs < 1, `jitter ${buffer.stats.jitterMs}`);
  assert.equal(buffer.stats.targetMs, 40);
});

Deno.test("jitter buffer: the depth itself grows to a raised target, by concealed frames", () => {
  // Jittery arrivals raise the target to 80 ms; the buffer must then hold about that much.
  const random = seededRandom(42);
  const arrivals = steady(0, 400).map((a) => ({ ...a, atMs: a.atMs + random() * 40 }));
  const buffer = new JitterBuffer({ minMs: 40, maxMs: 80 });
  const pending = [...arrivals].sort((a, b) => a.atMs - b.atMs);
  const depths: number[] = [];
  for (let now = 10; now <= 400 * 20; now += 20) {
    while (pending.length > 0 && pending[0].atMs <= now) {
      const { seq, atMs } = pending.shift()!;
      buffer.push(seq, seq * 960, payloadOf(seq), atMs);
    }
    depths.push(buffer.depthMs); // before the pop: what is buffered ahead
    buffer.pop(now);
  }
  assert.equal(buffer.stats.targetMs, 80);
  const late = depths.slice(200, 390); // the last ~4 s
  const average = late.reduce((sum, d) => sum + d, 0) / late.length;
  assert.ok(average >= 60, `average depth ${average} ms`);
  assert.ok(buffer.stats.lost === 0 && buffer.stats.late === 0);
});

/** The mixer's setting: adapt to how early frames arrive. */
const guarded: JitterBufferOptions = { minMs: 20, maxMs: 100, guardMs: 4 };

/**
 * Like `simulate`, but returns how long each played frame waited between its arrival and
 * the pop that played it, in pop order (NaN for pops that played no frame).
 */
function waits(buffer: JitterBuffer, arrivals: Arrival[], untilMs: number, firstPopMs = 10) {
  const arrivedAt = new Map(arrivals.map((a) => [a.seq, a.atMs]));
  const pending = [...arrivals].sort((a, b) => a.atMs - b.atMs);
  const out: number[] = [];
  for (let now = firstPopMs; now <= untilMs; now += 20) {
    while (pending.length > 0 && pending[0].atMs <= now) {
      const { seq, atMs } = pending.shift()!;
      buffer.push(seq, (seq * 960) >>> 0, payloadOf(seq), atMs);
    }
    const popped = buffer.pop(now);
    out.push(popped?.kind === "frame" ? now - arrivedAt.get(popped.seq)! : NaN);
  }
  return out;
}

Deno.test("jitter buffer (guarded): a frame waits only until the next tick with margin", () => {
  // Arrivals 7 ms before each pop: every frame plays at the first pop after it arrives.
  const early = new JitterBuffer(guarded);
  const arrivals = steady(0, 300).map((a) => ({ ...a, atMs: a.atMs + 3 }));
  const waited = waits(early, arrivals, 300 * 20);
  assert.deepEqual(waited.slice(50, 290).filter((w) => w !== 7), []);
  assert.equal(early.stats.concealed, 0);
  assert.equal(early.stats.targetMs, 20);

  // The same stream in a fixed 40 ms buffer waits a whole frame longer.
  const fixed = waits(new JitterBuffer(fixed40), arrivals, 300 * 20);
  assert.deepEqual(fixed.slice(50, 290).filter((w) => w !== 27), []);
});

Deno.test("jitter buffer (guarded): a backlog is worked off down to the guard", () => {
  // 100 ms of packets arrive at once, then the stream is steady 12 ms before each pop.
  const arrivals = steady(0, 400).map((a) => ({ ...a, atMs: Math.max(a.atMs - 2, 100) }));
  const buffer = new JitterBuffer(guarded);
  const waited = waits(buffer, arrivals, 400 * 20, 110);
  assert.ok(waited[10] >= 80, `early wait ${waited[10]}`);
  // Worked off within two windows (1 s), not one frame per window.
  assert.deepEqual(waited.slice(60, 390).filter((w) => w !== 12), []);
  assert.equal(buffer.stats.concealed, 0);
});

Deno.test("jitter buffer (guarded): arrivals close to the tick do not cause repeated concealment", () => {
  // Frames arrive 1 ms before the pop give or take 2 ms: some miss their tick until the
  // buffer has deepened by a frame, and then it must not shorten again (which would miss
  // ticks every half second).
  const random = seededRandom(43);
  const arrivals = steady(0, 1000).map((a) => ({ ...a, atMs: a.atMs + 9 + (random() * 4 - 2) }));
  const buffer = new JitterBuffer(guarded);
  const waited = waits(buffer, arrivals, 1000 * 20);
  assert.ok(buffer.stats.concealed <= 3, `concealed ${buffer.stats.concealed}`);
  const settled = waited.slice(100, 990);
  assert.ok(
    settled.every((w) => w > 15 && w < 25),
    `waits ${settled.filter((w) => !(w > 15 && w < 25))}`,
  );
  assert.equal(buffer.stats.lost + buffer.stats.late, 0);
});

Deno.test("jitter buffer (guarded): jittery arrivals deepen it, within maxMs", () => {
  const random = seededRandom(44);
  const arrivals = steady(0, 1000).map((a) => ({ ...a, atMs: a.atMs + random() * 50 }));
  const buffer = new JitterBuffer(guarded);
  const depths: number[] = [];
  const pending = [...arrivals].sort((a, b) => a.atMs - b.atMs);
  for (let now = 10; now <= 1000 * 20; now += 20) {
    while (pending.length > 0 && pending[0].atMs <= now) {
      const { seq, atMs } = pending.shift()!;
      buffer.push(seq, seq * 960, payloadOf(seq), atMs);
    }
    depths.push(buffer.depthMs);
    buffer.pop(now);
  }
  assert.ok(depths.every((d) => d <= 100 + 20), `max depth ${Math.max(...depths)}`);
  // It deepened past its one-frame start after the first misses, and then held: few
  // frames concealed in 20 s, none dropped.
  assert.ok(buffer.stats.concealed < 10, `concealed ${buffer.stats.concealed} of 1000`);
  assert.equal(buffer.stats.dropped, 0);
  const average = depths.slice(250).reduce((s, d) => s + d, 0) / 750;
  assert.ok(average > 30, `average depth ${average} ms`);
});

Deno.test("jitter buffer (guarded): a one-off late frame is given up, costing no delay", () => {
  // Frames arrive 5 ms before each pop; frame 100 comes 10 ms late, after its pop.
  const arrivals = steady(0, 300).map((a) => ({
    ...a,
    atMs: a.atMs + 5 + (a.seq === 100 ? 10 : 0),
  }));
  const buffer = new JitterBuffer(guarded);
  const waited = waits(buffer, arrivals, 300 * 20);
  assert.ok(waited.slice(20, 100).every((w) => w === 5), `before: ${waited.slice(20, 100)}`);
  assert.ok(Number.isNaN(waited[100]), "frame 100 concealed");
  assert.ok(waited.slice(101, 290).every((w) => w === 5), `after: ${waited.slice(101, 290)}`);
  assert.equal(buffer.stats.concealed, 1);
  assert.equal(buffer.stats.late, 1);
});

Deno.test("jitter buffer (guarded): a second miss within half a second deepens it by a frame", () => {
  // Frames arrive 5 ms before each pop until 100; from then on 5 ms after it (the sender's
  // frames now come 10 ms later): 100 is given up, 101 is waited for, and the rest play
  // one pop later than they would have.
  const arrivals = steady(0, 300).map((a) => ({ ...a, atMs: a.atMs + (a.seq >= 100 ? 15 : 5) }));
  const buffer = new JitterBuffer(guarded);
  const waited = waits(buffer, arrivals, 300 * 20);
  assert.ok(waited.slice(20, 100).every((w) => w === 5), `before: ${waited.slice(20, 100)}`);
  assert.ok(waited.slice(103, 290).every((w) => w === 15), `after: ${waited.slice(103, 290)}`);
  assert.equal(buffer.stats.concealed, 2);
  assert.equal(buffer.stats.late, 1);
});

Deno.test("jitter buffer (guarded): a sender whose frames drift later deepens it at the first miss", () => {
  // Frames arrive 8 ms before each pop, then 0.1 ms later each (a sender's clock running
  // slow): they come ever closer to their tick and then miss it. The margin was gone before
  // the miss, so the awaited frame is kept (the buffer deepens) rather than given up.
  const arrivals = steady(0, 300).map((a) => ({
    ...a,
    atMs: a.atMs + 2 + Math.max(0, a.seq - 50) * 0.1,
  }));
  const buffer = new JitterBuffer(guarded);
  const waited = waits(buffer, arrivals, 300 * 20);
  assert.equal(buffer.stats.concealed, 1);
  assert.equal(buffer.stats.late + buffer.stats.lost, 0, "no frame given up");
  const missed = waited.findIndex((w, i) => i > 50 && Number.isNaN(w));
  assert.ok(waited.slice(missed + 1, missed + 20).every((w) => w > 18), "then a frame deeper");
});

Deno.test("jitter buffer (guarded): a sender's stall adds one frame of delay, not its length", () => {
  // Frames arrive 5 ms before each pop, but 100 ms of them (seq 100-104) come late in one
  // burst with seq 105: they are concealed, then given up, and the delay grows by one frame.
  const arrivals = steady(0, 400).map((a) => ({
    ...a,
    atMs: a.seq >= 100 && a.seq <= 104 ? 105 * 20 + 5 : a.atMs + 5,
  }));
  const buffer = new JitterBuffer(guarded);
  const waited = waits(buffer, arrivals, 400 * 20);
  assert.ok(waited.slice(20, 100).every((w) => w === 5), `before: ${waited.slice(20, 100)}`);
  assert.ok(waited.slice(110, 130).every((w) => w === 25), `after: ${waited.slice(110, 130)}`);
  assert.equal(buffer.stats.late, 4);
  assert.equal(buffer.stats.concealed, 5);
  // Once steady again it works the extra frame off.
  assert.ok(waited.slice(300, 390).every((w) => w === 5), `later: ${waited.slice(300, 390)}`);
});

Deno.test("jitter buffer (guarded): earlyMs says how much sooner every frame of a window could play", () => {
  // Frames arrive 3 ms after each pop: each waits 17 ms, 13 ms more than the 4 ms guard.
  const buffer = new JitterBuffer(guarded);
  assert.equal(buffer.earlyMs, null, "nothing before the first window");
  const arrivals = steady(0, 200).map((a) => ({ ...a, atMs: a.atMs + 13 }));
  const waited = waits(buffer, arrivals, 200 * 20);
  assert.deepEqual(waited.slice(30, 190).filter((w) => w !== 17), []);
  assert.ok(buffer.windows >= 7);
  assert.equal(buffer.earlyMs, 13);

  // Arrivals 1 ms before the pop are as late as the guard allows (and then some): not early.
  const tight = new JitterBuffer(guarded);
  waits(tight, steady(0, 200).map((a) => ({ ...a, atMs: a.atMs + 9 })), 200 * 20);
  assert.equal(tight.earlyMs, 0);

  // A window with an underrun gives no figure; nor does a buffer that is not guarded.
  const stalled = new JitterBuffer(guarded);
  const reports: (number | null)[] = [];
  for (let i = 0, now = 10; i < 200; i++, now += 20) {
    // Frames 100-105 arrive together, up to 100 ms late (a stall); the rest 17 ms early.
    if (i < 100 || i > 105) stalled.push(i, i * 960, payloadOf(i), now - 17);
    if (i === 105) { for (let j = 100; j <= 105; j++) stalled.push(j, j * 960, payloadOf(j), now); }
    const windows = stalled.windows;
    stalled.pop(now);
    if (stalled.windows > windows) reports.push(stalled.earlyMs);
  }
  assert.ok(reports.includes(null), `a window with the stall: ${reports}`);
  assert.equal(reports.at(-1), 13, "and early again once steady");
  const fixed = new JitterBuffer(fixed40);
  waits(fixed, steady(0, 100), 100 * 20);
  assert.equal(fixed.earlyMs, null);
});
