/**
 * Whether a thread is behind on its tasks now (a page's main thread; the server's event loop
 * has its own reading, `MediaClock.behind`, with the same {@linkcode BEHIND_MS}): read from a
 * timer that should fire every `intervalMs`. The link's queue is read from each packet's
 * arrival time, taken when the page's thread gets to the packet; while that thread is behind
 * (a busy machine, a long layout), every packet waits for it and reads as a queue of the
 * network's: pages on a loaded two-core machine found their links overused on a clean loopback
 * and were moved to the senders' small encodings. A network queue does not hold the page's
 * timers back; a thread that is behind does. So the receive estimator is given no delay
 * reading from packets taken in while the thread is behind (their bytes still count): the
 * readings it keeps are the network's. Readings are only left out, never corrected: the
 * estimator keeps the least delays it sees, and a packet corrected by more than it waited (one
 * that came late in a stall) would have lowered that base and made every later reading look
 * queued.
 *
 * Pure: time is passed in.
 *
 * @example
 * ```ts
 * import { ThreadLag } from "./thread_lag.ts";
 *
 * const lag = new ThreadLag(10);
 * lag.tick(0);
 * lag.tick(10);
 * console.log(lag.behind(15)); // false: on time
 * lag.tick(80); // fired 60 ms late: the thread was busy
 * console.log(lag.behind(85)); // true
 * ```
 * @module
 */

/** A timer this late, or a tick this overdue, means the thread is behind, ms. */
export const BEHIND_MS = 25;

/** Follows a periodic timer's lateness (see the module documentation). */
export class ThreadLag {
  #lastTick: number | null = null;
  #lastLateness = 0;

  /** @param intervalMs the period of the timer that calls {@linkcode ThreadLag.tick} */
  constructor(readonly intervalMs: number) {}

  /**
   * The timer fired at `nowMs`.
   *
   * @example
   * ```ts
   * const lag = new ThreadLag(10);
   * setInterval(() => lag.tick(performance.now()), lag.intervalMs);
   * ```
   */
  tick(nowMs: number): void {
    if (this.#lastTick !== null) {
      this.#lastLateness = Math.max(0, nowMs - this.#lastTick - this.intervalMs);
    }
    this.#lastTick = nowMs;
  }

  /**
   * True when the thread is behind at `nowMs`: its timer last fired more than
   * {@linkcode BEHIND_MS} late, or is that overdue now. False before the first tick.
   *
   * @example
   * ```ts
   * const lag = new ThreadLag(10);
   * lag.tick(0);
   * console.log(lag.behind(100)); // true: the next tick is 90 ms overdue
   * ```
   */
  behind(nowMs: number): boolean {
    if (this.#lastTick === null) return false;
    return this.#lastLateness > BEHIND_MS ||
      nowMs - this.#lastTick - this.intervalMs > BEHIND_MS;
  }
}
