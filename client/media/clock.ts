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
