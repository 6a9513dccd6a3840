/**
 * When the audio output should give up its lowest latency. A session's AudioContext starts
 * with the smallest output buffer the browser offers (`latencyHint: 0`, 128 samples in
 * Chromium, about 11 ms of output latency where "interactive" gives 40). The audio thread
 * then has under 3 ms for each render; on a machine too busy for that it is late, and the
 * output glitches: a click, heard by the user. The watch counts those glitches (the
 * context's `playbackStats.underrunEvents`) and says when they come too often, so that the
 * session moves its audio to a context with the larger buffer. The first seconds do not
 * count: while a page starts (its scripts, the worklets, the camera and its encoder) and
 * joins, the audio thread may be late a few times on any machine, and nothing is heard yet.
 *
 * @example
 * ```ts
 * const watch = new GlitchWatch();
 * if (watch.observe(context.playbackStats.underrunEvents, performance.now())) {
 *   // rebuild the audio at latencyHint "interactive"
 * }
 * ```
 * @module
 */

/** Options of a {@linkcode GlitchWatch}. */
export interface GlitchWatchOptions {
  /** How many glitches within the window are too many (default 3). */
  limit?: number;
  /** The window, ms (default 10 000). */
  windowMs?: number;
  /** How long after the first reading glitches are not counted, ms (default 5000). */
  graceMs?: number;
}

/**
 * Counts output glitches over a sliding window from a running total.
 *
 * @example
 * ```ts
 * const watch = new GlitchWatch({ limit: 3, windowMs: 10_000, graceMs: 5000 });
 * watch.observe(0, 0); // false
 * watch.observe(9, 1000); // false: the page is starting
 * watch.observe(12, 6000); // true: three glitches within 10 s
 * ```
 */
export class GlitchWatch {
  readonly limit: number;
  readonly windowMs: number;
  readonly graceMs: number;
  #total: number | null = null;
  #startedAt: number | null = null;
  /** When each glitch of the window was seen, oldest first. */
  #seenAt: number[] = [];

  constructor(options: GlitchWatchOptions = {}) {
    this.limit = options.limit ?? 3;
    this.windowMs = options.windowMs ?? 10_000;
    this.graceMs = options.graceMs ?? 5000;
  }

  /**
   * Takes the running total of glitches at `nowMs` (ms, any monotonic clock); true when
   * `limit` or more of them came within the window. What happened before the first reading
   * and in the grace period after it does not count.
   */
  observe(total: number, nowMs: number): boolean {
    this.#startedAt ??= nowMs;
    if (this.#total === null || nowMs - this.#startedAt < this.graceMs) this.#total = total;
    const fresh = Math.min(total - this.#total, this.limit);
    this.#total = total;
    for (let i = 0; i < fresh; i++) this.#seenAt.push(nowMs);
    while (this.#seenAt.length > 0 && this.#seenAt[0] <= nowMs - this.windowMs) {
      this.#seenAt.shift();
    }
    return this.#seenAt.length >= this.limit;
  }
}
