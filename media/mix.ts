/**
 * Audio mixing math for the server mixer: sum frames, take one listener's own voice out
 * (mix-minus), limit softly to full scale, convert between Float32 and Int16 PCM without
 * wrap-around, measure levels, pick the loudest active speakers without flapping, and
 * measure a tone's power (Goertzel) for tests.
 *
 * Samples are Float32 in [-1, 1]; sums may exceed that range until limited.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { floatToInt16, goertzelPower, mixMinus, softLimit, sumFrames } from "./mix.ts";
 *
 * const tone = (freq: number) =>
 *   Float32Array.from({ length: 960 }, (_, i) => 0.5 * Math.sin(2 * Math.PI * freq * i / 48000));
 * const decoded = [tone(400), tone(1000), tone(2000)]; // one 20 ms frame per participant
 * const total = sumFrames(decoded);
 * const forFirst = floatToInt16(softLimit(mixMinus(total, decoded[0]))); // then Opus-encode
 * assert.ok(goertzelPower(forFirst, 48000, 1000) > 0.2); // hears the others
 * assert.ok(goertzelPower(forFirst, 48000, 400) < 0.001); // not itself
 * ```
 * @module
 */

/** The level reported for silence, in dBFS (RFC 6464 uses 0..127 dBov too). */
export const MIN_LEVEL_DB: number = -127;

/** Where the soft limiter starts to bend, as a fraction of full scale. */
export const DEFAULT_KNEE: number = 0.8;

/**
 * Sums frames sample by sample into `out` (zeroed first; by default a new array as long as
 * the longest frame). Shorter frames count as silence where they end.
 *
 * @example
 * ```ts
 * const total = sumFrames([new Float32Array([0.5, 0.25]), new Float32Array([0.25, -0.5])]);
 * console.log(total); // Float32Array [0.75, -0.25]
 * ```
 */
export function sumFrames(
  frames: readonly Float32Array[],
  out: Float32Array = new Float32Array(Math.max(0, ...frames.map((f) => f.length))),
): Float32Array {
  out.fill(0);
  for (const frame of frames) {
    const length = Math.min(frame.length, out.length);
    for (let i = 0; i < length; i++) out[i] += frame[i];
  }
  return out;
}

/**
 * What one listener hears: the total minus their own frame (`out` may be `total` itself
 * only if the total is not needed afterwards).
 *
 * @example
 * ```ts
 * const alice = new Float32Array([0.5, 0.25]);
 * const bob = new Float32Array([0.25, -0.5]);
 * const forAlice = mixMinus(sumFrames([alice, bob]), alice);
 * console.log(forAlice); // Float32Array [0.25, -0.5]: only Bob
 * ```
 */
export function mixMinus(
  total: Float32Array,
  own: Float32Array,
  out: Float32Array = new Float32Array(total.length),
): Float32Array {
  for (let i = 0; i < out.length; i++) out[i] = total[i] - (i < own.length ? own[i] : 0);
  return out;
}

/**
 * A memoryless soft limiter: samples within ±`knee` pass unchanged, larger ones bend along
 * a tanh curve towards ±1 and never exceed it. Monotonic and sign-preserving. `out` may be
 * `frame` for in-place use.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const limited = softLimit(new Float32Array([0.5, 1.5, -3]));
 * assert.equal(limited[0], 0.5);
 * assert.ok(limited[1] > 0.95 && limited[1] <= 1);
 * assert.ok(limited[2] < -0.99 && limited[2] >= -1);
 * ```
 */
export function softLimit(
  frame: Float32Array,
  knee: number = DEFAULT_KNEE,
  out: Float32Array = new Float32Array(frame.length),
): Float32Array {
  const room = 1 - knee;
  for (let i = 0; i < frame.length; i++) {
    const x = frame[i];
    const magnitude = Math.abs(x);
    if (magnitude <= knee) {
      out[i] = x;
    } else if (Number.isNaN(x)) {
      out[i] = 0;
    } else {
      const bent = knee + room * Math.tanh((magnitude - knee) / room);
      out[i] = x < 0 ? -Math.min(1, bent) : Math.min(1, bent);
    }
  }
  return out;
}

/**
 * Converts Float32 samples to Int16 (scale 32768, the inverse of {@linkcode int16ToFloat}),
 * rounding and clamping to -32768..32767: never wrapping around as a plain
 * `Int16Array.from` does. NaN becomes 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(
 *   floatToInt16(new Float32Array([1, -1, 2, 0.5])),
 *   new Int16Array([32767, -32768, 32767, 16384]),
 * );
 * ```
 */
export function floatToInt16(
  frame: Float32Array,
  out: Int16Array = new Int16Array(frame.length),
): Int16Array {
  for (let i = 0; i < frame.length; i++) {
    const scaled = frame[i] * 32768;
    out[i] = scaled >= 32767 ? 32767 : scaled <= -32768 ? -32768 : Math.round(scaled) || 0;
  }
  return out;
}

/**
 * Converts Int16 samples to Float32 in [-1, 1).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(int16ToFloat(new Int16Array([16384, -32768])), new Float32Array([0.5, -1]));
 * ```
 */
export function int16ToFloat(
  pcm: Int16Array,
  out: Float32Array = new Float32Array(pcm.length),
): Float32Array {
  for (let i = 0; i < pcm.length; i++) out[i] = pcm[i] / 32768;
  return out;
}

/**
 * The RMS level of a frame in dBFS (a full-scale square wave is 0 dB, a full-scale sine
 * about -3 dB), or {@linkcode MIN_LEVEL_DB} for silence.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.equal(frameLevel(new Float32Array(960).fill(0.5)), 20 * Math.log10(0.5)); // -6.02
 * assert.equal(frameLevel(new Float32Array(960)), MIN_LEVEL_DB);
 * ```
 */
export function frameLevel(frame: Float32Array | Int16Array): number {
  if (frame.length === 0) return MIN_LEVEL_DB;
  const scale = frame instanceof Int16Array ? 1 / 32768 : 1;
  let sum = 0;
  for (let i = 0; i < frame.length; i++) {
    const x = frame[i] * scale;
    sum += x * x;
  }
  const rms = Math.sqrt(sum / frame.length);
  if (!(rms > 0)) return MIN_LEVEL_DB;
  return Math.max(MIN_LEVEL_DB, 20 * Math.log10(rms));
}

/**
 * The power of one frequency in a block of samples (Goertzel algorithm), normalized so that
 * a sine of amplitude A at exactly that frequency gives about A² and its absence about 0.
 * Use blocks of many periods; frequencies on a bin (a multiple of sampleRate / length)
 * leak least into each other.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const a440 = Float32Array.from(
 *   { length: 4800 }, // 100 ms
 *   (_, i) => 0.5 * Math.sin((2 * Math.PI * 440 * i) / 48000),
 * );
 * assert.ok(Math.abs(goertzelPower(a440, 48000, 440) - 0.25) < 0.01); // 0.5²
 * assert.ok(goertzelPower(a440, 48000, 1000) < 1e-4);
 * ```
 */
export function goertzelPower(
  samples: Float32Array | Int16Array,
  sampleRate: number,
  freq: number,
): number {
  const n = samples.length;
  if (n === 0) return 0;
  const scale = samples instanceof Int16Array ? 1 / 32768 : 1;
  const coeff = 2 * Math.cos((2 * Math.PI * freq) / sampleRate);
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < n; i++) {
    const s = samples[i] * scale + coeff * s1 - s2;
    s2 = s1;
    s1 = s;
  }
  const power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
  return power / ((n / 2) * (n / 2));
}

/**
 * Options of {@linkcode SpeakerSelector}.
 *
 * @example
 * ```ts
 * const options: SpeakerSelectorOptions = { maxSpeakers: 3, activeThresholdDb: -50 };
 * new SpeakerSelector(options);
 * ```
 */
export interface SpeakerSelectorOptions {
  /** How many speakers are selected at most (default 3). */
  maxSpeakers?: number;
  /** A level at or above this is speech (default -50 dBFS). */
  activeThresholdDb?: number;
  /**
   * A selected speaker keeps the slot at least this long after being selected, and until
   * silent this long (default 600 ms).
   */
  holdMs?: number;
  /** A newcomer must be this much louder than the weakest selected speaker (default 6 dB). */
  hysteresisDb?: number;
  /** How fast the smoothed level falls, in dB per second (default 20); it rises at once. */
  releaseDbPerSecond?: number;
}

interface SpeakerState {
  smoothedDb: number;
  lastActiveMs: number;
  selectedSinceMs: number | null;
}

/**
 * Picks the K loudest active speakers of a meeting, with hysteresis and hold times so that
 * the selection does not flap every 20 ms frame. Pure: levels and time are passed in.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const selector = new SpeakerSelector<string>({ maxSpeakers: 2 });
 * // every mixer tick, each participant's level (frameLevel of the decoded frame):
 * const speaking = selector.update([["alice", -20], ["bob", -60], ["carol", -30]], 0);
 * assert.deepEqual(speaking, ["alice", "carol"]);
 * // Bob gets a little louder than Carol: not enough to take her place.
 * assert.deepEqual(selector.update([["alice", -20], ["bob", -28], ["carol", -30]], 20), [
 *   "alice",
 *   "carol",
 * ]);
 * ```
 */
export class SpeakerSelector<Id = string> {
  readonly #maxSpeakers: number;
  readonly #thresholdDb: number;
  readonly #holdMs: number;
  readonly #hysteresisDb: number;
  readonly #releaseDbPerMs: number;
  #states = new Map<Id, SpeakerState>();
  #lastUpdateMs: number | null = null;

  /**
   * Starts with nobody selected.
   *
   * @example
   * ```ts
   * const selector = new SpeakerSelector({ maxSpeakers: 3 });
   * console.log(selector.selected); // []
   * ```
   */
  constructor(options: SpeakerSelectorOptions = {}) {
    this.#maxSpeakers = Math.max(0, options.maxSpeakers ?? 3);
    this.#thresholdDb = options.activeThresholdDb ?? -50;
    this.#holdMs = options.holdMs ?? 600;
    this.#hysteresisDb = options.hysteresisDb ?? 6;
    this.#releaseDbPerMs = (options.releaseDbPerSecond ?? 20) / 1000;
  }

  /** The current selection, loudest first. */
  get selected(): Id[] {
    return [...this.#states.entries()]
      .filter(([, state]) => state.selectedSinceMs !== null)
      .sort(([, a], [, b]) => b.smoothedDb - a.smoothedDb)
      .map(([id]) => id);
  }

  /** The smoothed level of a participant, or undefined if unknown. */
  smoothedLevel(id: Id): number | undefined {
    return this.#states.get(id)?.smoothedDb;
  }

  /**
   * Feeds this tick's level of every participant (dBFS; participants not listed are
   * forgotten) and returns the selection, loudest first.
   *
   * @example
   * ```ts
   * const selector = new SpeakerSelector<number>({ maxSpeakers: 1 });
   * const frames = [
   *   { id: 1, pcm: new Float32Array(960).fill(0.1) },
   *   { id: 2, pcm: new Float32Array(960) },
   * ];
   * const selected = selector.update(frames.map((f) => [f.id, frameLevel(f.pcm)] as const), 0);
   * console.log(selected); // [1]
   * ```
   */
  update(levels: Iterable<readonly [Id, number]>, nowMs: number): Id[] {
    const elapsed = this.#lastUpdateMs === null ? 0 : Math.max(0, nowMs - this.#lastUpdateMs);
    this.#lastUpdateMs = nowMs;
    const seen = new Set<Id>();
    for (const [id, level] of levels) {
      seen.add(id);
      let state = this.#states.get(id);
      if (!state) {
        state = { smoothedDb: level, lastActiveMs: -Infinity, selectedSinceMs: null };
        this.#states.set(id, state);
      }
      state.smoothedDb = level >= state.smoothedDb
        ? level
        : Math.max(level, state.smoothedDb - this.#releaseDbPerMs * elapsed);
      if (level >= this.#thresholdDb) state.lastActiveMs = nowMs;
    }
    for (const id of this.#states.keys()) if (!seen.has(id)) this.#states.delete(id);

    // Speakers silent for longer than the hold time give up their slot.
    for (const state of this.#states.values()) {
      if (state.selectedSinceMs !== null && nowMs - state.lastActiveMs > this.#holdMs) {
        state.selectedSinceMs = null;
      }
    }

    // Candidates speak in this tick; they are ranked by their smoothed level.
    const candidates = [...this.#states.values()]
      .filter((s) => s.selectedSinceMs === null && s.lastActiveMs === nowMs)
      .sort((a, b) => b.smoothedDb - a.smoothedDb);
    for (const candidate of candidates) {
      const chosen = [...this.#states.values()].filter((s) => s.selectedSinceMs !== null);
      if (chosen.length < this.#maxSpeakers) {
        candidate.selectedSinceMs = nowMs;
        continue;
      }
      const weakest = chosen.reduce((a, b) => (b.smoothedDb < a.smoothedDb ? b : a), chosen[0]);
      if (
        weakest &&
        candidate.smoothedDb >= weakest.smoothedDb + this.#hysteresisDb &&
        nowMs - weakest.selectedSinceMs! >= this.#holdMs
      ) {
        weakest.selectedSinceMs = null;
        candidate.selectedSinceMs = nowMs;
      }
    }
    return this.selected;
  }
}
