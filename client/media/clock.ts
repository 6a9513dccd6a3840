/**
 * The wall clock the media engine stamps and measures with: ms since the Unix epoch with
 * sub-millisecond resolution (`performance.timeOrigin + performance.now()`), comparable with
 * the capture times other pages on the same machine put in their packets.
 *
 * @example
 * ```ts
 * const delayMs = wallClock() - readCaptureTime(packet.extension)!;
 * ```
 * @module
 */

import { OPUS_CLOCK_RATE } from "../../protocol/media.ts";

/**
 * Now, in ms since the epoch.
 *
 * @example
 * ```ts
 * const captureMs = wallClock();
 * ```
 */
export function wallClock(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * A count of 48 kHz audio samples as a WebCodecs timestamp, µs (rounded).
 *
 * @example
 * ```ts
 * audioTimestampUs(960); // 20000: the second 20 ms frame starts at 20 ms
 * ```
 */
export function audioTimestampUs(samples: number): number {
  return Math.round((samples * 1_000_000) / OPUS_CLOCK_RATE);
}

/**
 * A WebCodecs timestamp or duration (µs) of 48 kHz audio as a count of samples, rounded to
 * the nearest: Chromium computes the timestamps of what its audio encoder and decoder put
 * out from a sample count and truncates, so a frame that went in at 260 ms can come out at
 * 259.999 ms. Match outputs to inputs by this count, not by the exact timestamp.
 *
 * @example
 * ```ts
 * audioSampleAt(259_999); // 12480, as for 260000
 * ```
 */
export function audioSampleAt(timestampUs: number): number {
  return Math.round((timestampUs * OPUS_CLOCK_RATE) / 1_000_000);
}

/**
 * Maps the timestamps of another clock (a camera's frame timestamps, an AudioContext's
 * time) to the wall clock, from observations "this stamp was seen now". The offset is the
 * largest `stamp - now` seen, so the least-delayed observation wins and a frame that waited
 * (a busy main thread) is dated to when it was captured, not to when it was read. The offset
 * may fall slowly (0.5 ms per second) so that a clock running slightly slower than ours is
 * followed.
 *
 * @example
 * ```ts
 * const camera = new ClockMapper();
 * const captureMs = camera.toWallClock(frame.timestamp / 1000); // µs -> ms on the camera clock
 * ```
 */
export class ClockMapper {
  #offset: number | null = null;
  #lastSeenAt = 0;

  /** @param driftPerMs how fast the offset may fall, ms per ms (default 0.0005) */
  constructor(readonly driftPerMs = 0.0005) {}

  /**
   * The wall-clock time (ms since the epoch) of `stampMs`, a time on the other clock that is
   * being observed now (`nowMs`, performance.now()).
   */
  toWallClock(stampMs: number, nowMs = performance.now()): number {
    const candidate = stampMs - nowMs;
    if (this.#offset === null) {
      this.#offset = candidate;
    } else {
      const floor = this.#offset - this.driftPerMs * Math.max(0, nowMs - this.#lastSeenAt);
      this.#offset = Math.max(candidate, floor);
    }
    this.#lastSeenAt = nowMs;
    return performance.timeOrigin + (stampMs - this.#offset);
  }
}
