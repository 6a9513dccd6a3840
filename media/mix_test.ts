import assert from "node:assert/strict";
import {
  floatToInt16,
  frameLevel,
  goertzelPower,
  int16ToFloat,
  MIN_LEVEL_DB,
  mixMinus,
  softLimit,
  SpeakerSelector,
  sumFrames,
} from "./mix.ts";

const RATE = 48000;
const FRAME = 960; // 20 ms

/** `frames` consecutive 20 ms frames of a sine, continuous across frames. */
function sineFrames(freq: number, amplitude: number, frames: number): Float32Array[] {
  return Array.from({ length: frames }, (_, f) => {
    const frame = new Float32Array(FRAME);
    for (let i = 0; i < FRAME; i++) {
      frame[i] = amplitude * Math.sin((2 * Math.PI * freq * (f * FRAME + i)) / RATE);
    }
    return frame;
  });
}

function concat(frames: ArrayLike<number>[], Type: typeof Float32Array | typeof Int16Array) {
  const out = new Type(frames.reduce((n, f) => n + f.length, 0));
  let at = 0;
  for (const f of frames) {
    out.set(f as never, at);
    at += f.length;
  }
  return out;
}

Deno.test("mix: sumFrames and mixMinus are exact sample arithmetic", () => {
  const a = new Float32Array([0.1, 0.2, 0.3]);
  const b = new Float32Array([0.5, -0.5, 0.25]);
  const c = new Float32Array([-0.25, 0]); // shorter: silence where it ends
  const total = sumFrames([a, b, c]);
  const expected = [0.1 + 0.5 - 0.25, 0.2 - 0.5, 0.3 + 0.25];
  assert.ok(total.every((x, i) => Math.abs(x - expected[i]) < 1e-6), `${total}`);
  const minusB = mixMinus(total, b);
  assert.ok(minusB.every((x, i) => Math.abs(x - (a[i] + (c[i] ?? 0))) < 1e-7));
  // Reusing an output buffer zeroes it first.
  const out = new Float32Array([9, 9, 9]);
  assert.equal(sumFrames([a], out), out);
  assert.deepEqual([...out], [...a]);
  assert.equal(sumFrames([]).length, 0);
});

Deno.test("mix: each listener's mix-minus holds the others' tones and not their own", () => {
  const tones = [440, 1000, 2500, 3700];
  const speakers = tones.map((freq) => sineFrames(freq, 0.3, 10)); // 200 ms each
  const perListener: Float32Array[][] = tones.map(() => []);
  for (let f = 0; f < 10; f++) {
    const frames = speakers.map((s) => s[f]);
    const total = sumFrames(frames);
    frames.forEach((own, listener) => {
      perListener[listener].push(softLimit(mixMinus(total, own)));
    });
  }
  tones.forEach((ownTone, listener) => {
    const heard = concat(perListener[listener], Float32Array) as Float32Array;
    for (const tone of tones) {
      const power = goertzelPower(heard, RATE, tone);
      if (tone === ownTone) {
        assert.ok(power < 1e-4, `listener ${listener} hears own ${tone}: ${power}`);
      } else {
        assert.ok(power > 0.08, `listener ${listener} misses ${tone}: ${power}`); // 0.3² = 0.09
      }
    }
  });
});

Deno.test("mix: loud full-scale tones never wrap; the limited mix keeps its sign and shape", () => {
  const speakers = [220, 330, 550].map((freq) => sineFrames(freq, 1.0, 5));
  const limited: Int16Array[] = [];
  for (let f = 0; f < 5; f++) {
    const total = sumFrames(speakers.map((s) => s[f]));
    assert.ok(total.some((x) => Math.abs(x) > 2), "the sum really exceeds full scale");
    const pcm = floatToInt16(softLimit(total));
    limited.push(pcm);
    for (let i = 0; i < FRAME; i++) {
      assert.ok(pcm[i] >= -32768 && pcm[i] <= 32767);
      // Same sign as the true sum (no wrap-around), and the limiter never inflates.
      if (Math.abs(total[i]) > 1e-3) assert.equal(Math.sign(pcm[i]), Math.sign(total[i]), `${i}`);
      assert.ok(Math.abs(pcm[i]) / 32768 <= Math.abs(total[i]) + 1e-4);
    }
    // A naive conversion would wrap: this is what the clamping prevents.
    const naive = Int16Array.from(total, (x) => Math.round(x * 32767));
    assert.ok(
      naive.some((x, i) => Math.sign(x) !== Math.sign(total[i]) && Math.abs(total[i]) > 1.01),
    );
  }
  const all = concat(limited, Int16Array) as Int16Array;
  // The shape survives: every tone is still clearly present.
  for (const freq of [220, 330, 550]) assert.ok(goertzelPower(all, RATE, freq) > 0.1, `${freq}`);
});

Deno.test("mix: softLimit passes quiet samples, bends loud ones monotonically below 1", () => {
  const input = new Float32Array([0, 0.5, -0.8, 0.81, 1, 1.5, 3, 100, -100, NaN, Infinity]);
  const out = softLimit(input);
  assert.deepEqual([...out.subarray(0, 3)], [...input.subarray(0, 3)]);
  for (const x of out) assert.ok(Math.abs(x) <= 1);
  assert.equal(out[9], 0);
  assert.equal(out[10], 1);
  assert.ok(out[3] > 0.8 && out[3] < 0.81);
  assert.ok(out[4] < out[5] && out[5] < out[6] && out[6] <= out[7]);
  assert.equal(out[8], -out[7]);
  // Monotonic over a fine sweep.
  const sweep = new Float32Array(4001).map((_, i) => -4 + i * 0.002);
  const bent = softLimit(sweep);
  for (let i = 1; i < bent.length; i++) assert.ok(bent[i] >= bent[i - 1]);
  // In place.
  const frame = new Float32Array([2]);
  assert.equal(softLimit(frame, 0.8, frame), frame);
  assert.ok(frame[0] < 1 && frame[0] > 0.95);
});

Deno.test("mix: floatToInt16 clamps and rounds; int16ToFloat inverts it", () => {
  const pcm = floatToInt16(new Float32Array([0, 1, -1, 2, -5, 0.5, -0.5, NaN, 1e-9, -1e-9]));
  assert.deepEqual([...pcm], [0, 32767, -32768, 32767, -32768, 16384, -16384, 0, 0, 0]);
  const back = int16ToFloat(new Int16Array([16384, -32768, 32767, 0]));
  assert.deepEqual([...back], [0.5, -1, 32767 / 32768, 0].map((x) => Math.fround(x)));
  // Every Int16 value survives a round trip through Float32.
  const samples = new Int16Array(65536).map((_, i) => i - 32768);
  assert.deepEqual(floatToInt16(int16ToFloat(samples)), samples);
});

Deno.test("mix: frameLevel is RMS in dBFS", () => {
  const [sine] = sineFrames(1000, 1, 1);
  assert.ok(Math.abs(frameLevel(sine) - -3.0103) < 0.01);
  const [half] = sineFrames(1000, 0.5, 1);
  assert.ok(Math.abs(frameLevel(half) - -9.0309) < 0.01);
  assert.ok(Math.abs(frameLevel(new Float32Array(960).fill(1))) < 1e-9);
  assert.equal(frameLevel(new Float32Array(960)), MIN_LEVEL_DB);
  assert.equal(frameLevel(new Float32Array(0)), MIN_LEVEL_DB);
  assert.ok(Math.abs(frameLevel(floatToInt16(half)) - frameLevel(half)) < 0.01);
});

Deno.test("mix: goertzelPower detects a tone and rejects others", () => {
  const [tone] = sineFrames(1000, 0.5, 1);
  assert.ok(Math.abs(goertzelPower(tone, RATE, 1000) - 0.25) < 0.01);
  assert.ok(goertzelPower(tone, RATE, 1500) < 1e-6);
  assert.ok(goertzelPower(new Float32Array(960), RATE, 1000) === 0);
  assert.equal(goertzelPower(new Float32Array(0), RATE, 1000), 0);
  assert.ok(Math.abs(goertzelPower(floatToInt16(tone), RATE, 1000) - 0.25) < 0.01);
});

Deno.test("speaker selector: picks the K loudest active speakers", () => {
  const selector = new SpeakerSelector({ maxSpeakers: 2 });
  const selected = selector.update([["a", -20], ["b", -60], ["c", -30], ["d", -25]], 0);
  assert.deepEqual(selected, ["a", "d"]);
  // Below the threshold nobody is selected.
  const quiet = new SpeakerSelector({ maxSpeakers: 2 });
  assert.deepEqual(quiet.update([["a", -70], ["b", -127]], 0), []);
});

Deno.test("speaker selector: a slightly louder newcomer does not displace a speaker", () => {
  const selector = new SpeakerSelector({ maxSpeakers: 1, hysteresisDb: 6, holdMs: 600 });
  for (let t = 0; t < 1000; t += 20) selector.update([["a", -30], ["b", -60]], t);
  for (let t = 1000; t < 3000; t += 20) {
    assert.deepEqual(selector.update([["a", -30], ["b", -26]], t), ["a"]); // only 4 dB louder
  }
  // Clearly louder: takes over.
  assert.deepEqual(selector.update([["a", -30], ["b", -20]], 3000), ["b"]);
});

Deno.test("speaker selector: levels alternating every frame do not flap the selection", () => {
  const selector = new SpeakerSelector({ maxSpeakers: 1 });
  let changes = 0;
  let previous: string[] = [];
  for (let t = 0; t < 5000; t += 20) {
    const up = (t / 20) % 2 === 0;
    const now = selector.update([["a", up ? -20 : -24], ["b", up ? -24 : -20], ["c", -80]], t);
    if (now.join() !== previous.join()) changes++;
    previous = now;
  }
  assert.equal(changes, 1); // the first selection only
});

Deno.test("speaker selector: a silent speaker is held briefly, then released", () => {
  const selector = new SpeakerSelector({ maxSpeakers: 2, holdMs: 600 });
  for (let t = 0; t < 1000; t += 20) selector.update([["a", -20], ["b", -25], ["c", -90]], t);
  // b stops talking: still selected within the hold, gone after.
  assert.deepEqual(selector.update([["a", -20], ["b", -90], ["c", -90]], 1000), ["a", "b"]);
  assert.deepEqual(selector.update([["a", -20], ["b", -90], ["c", -90]], 1500), ["a", "b"]);
  assert.deepEqual(selector.update([["a", -20], ["b", -90], ["c", -90]], 1700), ["a"]);
  // Pauses between words shorter than the hold keep the slot.
  const words = new SpeakerSelector({ maxSpeakers: 1 });
  let changes = 0;
  let previous = "";
  for (let t = 0; t < 5000; t += 20) {
    const talking = Math.floor(t / 300) % 2 === 0; // 300 ms on, 300 ms off
    const now = words.update([["a", talking ? -25 : -90], ["b", -45]], t).join();
    if (now !== previous) changes++;
    previous = now;
  }
  assert.equal(changes, 1);
  assert.equal(previous, "a");
});

Deno.test("speaker selector: participants who leave are forgotten; K=0 selects nobody", () => {
  const selector = new SpeakerSelector({ maxSpeakers: 2 });
  selector.update([["a", -20], ["b", -20]], 0);
  assert.deepEqual(selector.update([["b", -20]], 20), ["b"]);
  assert.equal(selector.smoothedLevel("a"), undefined);
  assert.equal(selector.smoothedLevel("b"), -20);
  const none = new SpeakerSelector({ maxSpeakers: 0 });
  assert.deepEqual(none.update([["a", 0]], 0), []);
});
