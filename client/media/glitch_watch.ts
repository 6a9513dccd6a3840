/**
 * When the audio output should give up its lowest latency. A session's AudioContext starts
 * with the smallest output buffer the browser offers (`latencyHint: 0`, 128 samples in
 * Chromium, about 11 ms of output latency where "interactive" gives 40). The audio thread
 * then has under 3 ms for each render; on a machine too busy for that it is late, and the
 * output glitches: a click, heard by the user. The watch reads the glitch count (the
 * context's `playbackStats.underrunEvents`) and says when glitches keep coming: in 3
 * separate seconds within 10 s. A burst within one second (another application starting)
 * counts once; a machine that cannot keep up glitches again and again. Then the session
 * moves its audio to a context with the larger buffer. The first seconds do not count: while
 * a page starts (its scripts, the worklets, the camera and its encoder) and joins, the audio
 * thread may be late a few times on any machine, and nothing is heard yet.
 *
 * @example
 * ```ts
 * // Chromium's AudioContext.playbackStats is not in TypeScript's DOM library yet.
 * type ContextWithStats = AudioContext & { playbackStats: { underrunEvents: number } };
 *
 * const watch = new GlitchWatch();
 * function check(context: ContextWithStats) {
 *   if (watch.observe(context.playbackStats.underrunEvents, performance.now())) {
 *     // rebuild the audio at latencyHint "interactive"
 *   }
 * }
 * ```
 * @module
 */

/** Options of a {@linkcode GlitchWatch}. */
export interface GlitchWatchOptions {
  /** In how many separate seconds within the window glitches are too many (default 3). */
  limit?: number;
  /** The window, ms (default 10 000). */
  windowMs?: number;
  /** How long after the first reading glitches are not counted, ms (default 5000). */
  graceMs?: number;
}

/** Glitches less than this far apart count once, ms. */
const SEPARATE_MS = 1000;

/**
 * Counts glitchy moments of the audio output over a sliding window, from a running total.
 *
 * @example
 * ```ts
 * const watch = new GlitchWatch({ limit: 3, windowMs: 10_000, graceMs: 5000 });
 * watch.observe(0, 0); // false
 * watch.observe(9, 1000); // false: the page is starting
 * watch.observe(10, 6000); // false
 * watch.observe(11, 7000); // false
 * watch.observe(12, 8000); // true: glitches in three separate seconds within 10 s
 * ```
 */
export class GlitchWatch {
  readonly limit: number;
  readonly windowMs: number;
  readonly graceMs: number;
  #total: number | null = null;
  #startedAt: number | null = null;
  /** When each counted glitch was seen, oldest first. */
  #seenAt: number[] = [];

  constructor(options: GlitchWatchOptions = {}) {
    this.limit = options.limit ?? 3;
    this.windowMs = options.windowMs ?? 10_000;
    this.graceMs = options.graceMs ?? 5000;
  }

  /**
   * Takes the running total of glitches at `nowMs` (ms, any monotonic clock); true when
   * glitches came in `limit` or more separate seconds within the window. What happened
   * before the first reading and in the grace period after it does not count.
   */
  observe(total: number, nowMs: number): boolean {
    this.#startedAt ??= nowMs;
    if (this.#total === null || nowMs - this.#startedAt < this.graceMs) this.#total = total;
    const fresh = total > this.#total;
    this.#total = total;
    const last = this.#seenAt.at(-1);
    if (fresh && (last === undefined || nowMs - last >= SEPARATE_MS)) this.#seenAt.push(nowMs);
    while (this.#seenAt.length > 0 && this.#seenAt[0] <= nowMs - this.windowMs) {
      this.#seenAt.shift();
    }
    return this.#seenAt.length >= this.limit;
  }
}
