/**
 * A microphone's level as it is now, for the pre-join screen's meter: the loudest RMS level
 * (dBFS) of the last few 20 ms blocks, read from an AnalyserNode in a context of its own (no
 * sound is played).
 *
 * @example
 * ```ts
 * function meter(track: MediaStreamTrack, show: (db: number) => void) {
 *   const meter = new LevelMeter(track, show);
 *   return () => meter.close();
 * }
 * ```
 * @module
 */

import { frameLevel, MIN_LEVEL_DB } from "../../media/mix.ts";

/** How often the level is read and reported, ms. */
export const LEVEL_INTERVAL_MS = 100;

/**
 * Where a level falls on a meter running from `floorDb` (empty) to 0 dBFS (full), 0 to 1.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.equal(meterFill(-30, -60), 0.5);
 * assert.equal(meterFill(-127), 0);
 * ```
 */
export function meterFill(levelDb: number, floorDb = -60): number {
  if (!(levelDb > floorDb)) return 0;
  return Math.min(1, (levelDb - floorDb) / -floorDb);
}

/** Reads one microphone track's level until closed; the track itself stays the caller's. */
export class LevelMeter {
  readonly #context: AudioContext;
  readonly #analyser: AnalyserNode;
  readonly #samples: Float32Array<ArrayBuffer>;
  readonly #timer: ReturnType<typeof setInterval>;
  #closed = false;

  /** Starts reading `track`; `onLevel` gets dBFS every {@linkcode LEVEL_INTERVAL_MS}. */
  constructor(track: MediaStreamTrack, onLevel: (levelDb: number) => void) {
    this.#context = new AudioContext();
    const source = this.#context.createMediaStreamSource(new MediaStream([track]));
    this.#analyser = this.#context.createAnalyser();
    this.#analyser.fftSize = 2048;
    source.connect(this.#analyser);
    this.#samples = new Float32Array(this.#analyser.fftSize);
    this.#timer = setInterval(() => {
      if (this.#closed) return;
      this.#analyser.getFloatTimeDomainData(this.#samples);
      onLevel(this.level());
    }, LEVEL_INTERVAL_MS);
  }

  /** The loudest 20 ms block of the last ~40 ms read, dBFS. */
  level(): number {
    const block = Math.round(this.#context.sampleRate / 50);
    let loudest = MIN_LEVEL_DB;
    for (let at = 0; at + block <= this.#samples.length; at += block) {
      loudest = Math.max(loudest, frameLevel(this.#samples.subarray(at, at + block)));
    }
    return loudest;
  }

  /** Stops reading and closes its context. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#context.close().catch(() => {});
  }
}
