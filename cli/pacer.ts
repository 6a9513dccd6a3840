/**
 * A clock that does not drift: each tick is scheduled against the ideal time (the previous
 * ideal time plus the interval the tick asked for), not against when the timer happened to
 * fire. A stall longer than `maxLagMs` (a paused process) restarts the schedule from now
 * instead of bursting to catch up.
 *
 * @example
 * ```ts
 * let frames = 0;
 * const audioClock = new Pacer(() => {
 *   frames++; // send one 20 ms frame
 *   return 20;
 * });
 * // ... later
 * audioClock.stop();
 * ```
 * @module
 */

/**
 * Calls `tick` at ideal times, with that ideal time (`performance.now()` scale: use it to
 * timestamp what the tick produces, so that timestamps stay regular when a tick runs late);
 * `tick` returns how long until the next call, in ms.
 *
 * @example
 * ```ts
 * const clock = new Pacer((idealMs) => {
 *   console.log("frame due at", idealMs);
 *   return 1000 / 15; // next frame in 66.7 ms
 * });
 * clock.stop();
 * ```
 */
export class Pacer {
  readonly #tick: (idealMs: number) => number;
  readonly #maxLagMs: number;
  #nextAt: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  /** Times the schedule restarted after a stall. */
  resyncs = 0;
  /** Ticks run. */
  ticks = 0;
  /** How much later the schedule runs than it started, from {@linkcode delay}, ms. */
  delayedMs = 0;

  /**
   * Starts at once: the first tick runs after `firstDelayMs`.
   *
   * @example
   * ```ts
   * const clock = new Pacer(() => 20, { firstDelayMs: 20 });
   * clock.stop();
   * ```
   */
  constructor(tick: (idealMs: number) => number, { firstDelayMs = 0, maxLagMs = 100 } = {}) {
    this.#tick = tick;
    this.#maxLagMs = maxLagMs;
    this.#nextAt = performance.now() + firstDelayMs;
    this.#schedule();
  }

  /**
   * Moves every later tick `ms` later, once (the schedule stays drift-free from there).
   *
   * @example
   * ```ts
   * const clock = new Pacer(() => 20);
   * clock.delay(6); // frames now leave 6 ms later than they did
   * clock.stop();
   * ```
   */
  delay(ms: number): void {
    if (this.#stopped || !(ms > 0)) return;
    this.#nextAt += ms;
    this.delayedMs += ms;
    clearTimeout(this.#timer);
    this.#schedule();
  }

  /** Stops for good; idempotent. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => this.#run(), Math.max(0, this.#nextAt - performance.now()));
  }

  #run(): void {
    if (this.#stopped) return;
    const now = performance.now();
    if (now - this.#nextAt > this.#maxLagMs) {
      this.#nextAt = now;
      this.resyncs++;
    }
    let interval = 20;
    try {
      this.ticks++;
      interval = this.#tick(this.#nextAt);
    } catch (err) {
      console.error("clock tick failed:", err);
    }
    this.#nextAt += Math.max(1, Number.isFinite(interval) ? interval : 20);
    this.#schedule();
  }
}
