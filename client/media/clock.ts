/**
 * The wall clock the media engine stamps and measures with: ms since the Unix epoch with
 * sub-millisecond resolution (`performance.timeOrigin + performance.now()`), comparable with
 * the capture times other pages on the same machine put in their packets.
 *
 * @example
 * ```ts
 * import type { RtpPacket } from "../../media/rtp.ts";
 * import { readCaptureTime } from "../../protocol/media.ts";
 *
 * function delayOf(packet: RtpPacket) {
 *   const delayMs = wallClock() - readCaptureTime(packet.extension)!;
 *   return delayMs;
 * }
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

/** Options of a {@link ClockMapper}. */
export interface ClockMapperOptions {
  /** How fast an observation's claim falls with its age, ms per ms (default 0.0005). */
  driftPerMs?: number;
  /** How long an observation counts, ms (default 1000). */
  windowMs?: number;
}

/**
 * Maps the timestamps of another clock (a camera's frame timestamps, an AudioContext's
 * time) to the wall clock, from observations "this stamp was seen now". The offset is the
 * largest `stamp - now` among the observations of the last second, so the least-delayed one
 * wins and a frame that waited (a busy main thread) is dated to when it was captured, not to
 * when it was read. An observation's claim falls slowly with its age (0.5 ms per second), so
 * a clock that runs slightly slower than ours is followed; and an observation older than the
 * window no longer counts, so the mapping follows within a second a clock that stepped back
 * (an audio thread that was starved and skipped ahead of its stream, as happens under load).
 *
 * @example
 * ```ts
 * const camera = new ClockMapper();
 * function captureTimeOf(frame: VideoFrame) {
 *   const captureMs = camera.toWallClock(frame.timestamp / 1000); // µs -> ms on the camera clock
 *   return captureMs;
 * }
 * ```
 */
export class ClockMapper {
  readonly driftPerMs: number;
  readonly windowMs: number;
  /**
   * The observations that may still set the offset, oldest first, each with a claim that
   * does not depend on when it is read (`stamp - seenAt + drift * seenAt`); claims fall from
   * the oldest to the newest, so the first is the largest.
   */
  #candidates: { seenAt: number; claim: number }[] = [];
  #head = 0;

  constructor(options: ClockMapperOptions = {}) {
    this.driftPerMs = options.driftPerMs ?? 0.0005;
    this.windowMs = options.windowMs ?? 1000;
  }

  /**
   * The wall-clock time (ms since the epoch) of `stampMs`, a time on the other clock that is
   * being observed now (`nowMs`, performance.now()).
   */
  toWallClock(stampMs: number, nowMs = performance.now()): number {
    const claim = stampMs - nowMs + this.driftPerMs * nowMs;
    const list = this.#candidates;
    while (list.length > this.#head && list[list.length - 1].claim <= claim) list.pop();
    list.push({ seenAt: nowMs, claim });
    while (list[this.#head].seenAt < nowMs - this.windowMs) this.#head++;
    if (this.#head > 64 && this.#head * 2 > list.length) {
      this.#candidates = list.slice(this.#head);
      this.#head = 0;
    }
    const offset = this.#candidates[this.#head].claim - this.driftPerMs * nowMs;
    return performance.timeOrigin + (stampMs - offset);
  }
}
