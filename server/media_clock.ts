/**
 * The media clock: one 20 ms tick for every meeting of the server. Each tick first drains the
 * inputs that batch their packets (the UDP endpoint hands over the datagrams that have
 * arrived), once, and then ticks every media room that has members (each room's mixer mixes
 * one frame). Ticks are scheduled against the ideal time, so they do not drift; a stall of more
 * than {@linkcode MAX_STALL_MS} (a paused process) restarts the schedule instead of bursting.
 * The clock runs only while a room needs it: rooms subscribe when they get their first
 * transport and unsubscribe when their last one goes.
 *
 * Time is injected ({@linkcode Clock}): tests drive it with `ManualClock`.
 *
 * @example
 * ```ts
 * import { ManualClock } from "../util/clock.ts";
 * import type { MediaRoom } from "./media_room.ts";
 * import type { UdpEndpoint } from "./udp_endpoint.ts";
 *
 * function drive(udp: UdpEndpoint, mediaRoom: MediaRoom) {
 *   const clock = new MediaClock(new ManualClock(0));
 *   clock.addInput(() => udp.drain());
 *   clock.subscribe(mediaRoom);   // mediaRoom.tick(now) every 20 ms, after the drain
 * }
 * ```
 * @module
 */

import { AUDIO_FRAME_MS } from "../protocol/media.ts";
import type { Clock, TimerHandle } from "../util/clock.ts";
import { BEHIND_MS } from "../util/thread_lag.ts";
import { log } from "../util/log.ts";

/** The tick period, ms: one audio frame. */
export const MEDIA_TICK_MS = AUDIO_FRAME_MS;

/** A tick this much later than its ideal time restarts the schedule, ms. */
export const MAX_STALL_MS = 100;

/** Something ticked by the clock (a media room). */
export interface MediaTicker {
  /** One tick at `now` (the clock's time, ms). */
  tick(now: number): void;
}

/** A monotonic clock (performance.now()) with real timers: the server's default. */
export const monotonicClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as number),
};

/** The server's one media clock. */
export class MediaClock {
  readonly #clock: Clock;
  #tickers = new Set<MediaTicker>();
  #inputs = new Set<() => void>();
  #timer: TimerHandle | undefined;
  #nextTickAt = 0;
  #closed = false;
  #inTick = false;
  /** How late the last tick ran against its ideal time, ms. */
  #lateness = 0;
  /** Ticks run so far. */
  ticks = 0;
  /**
   * Told after each tick how late it began against its ideal time and how long it took, ms
   * (the metrics' histograms).
   */
  onTick: ((latenessMs: number, durationMs: number) => void) | undefined;

  constructor(clock: Clock = monotonicClock) {
    this.#clock = clock;
  }

  /** The clock's time, ms (monotonic by default): the time base of every media room. */
  now(): number {
    return this.#clock.now();
  }

  /**
   * True when the event loop is behind at `nowMs`: the last tick ran more than
   * {@linkcode BEHIND_MS} late, or the next one is that overdue. A packet taken in then waited
   * for the server, not the network: the rooms take no queue reading from it (see
   * util/thread_lag.ts). False while the clock is stopped.
   */
  behind(nowMs: number = this.now()): boolean {
    if (this.#timer === undefined && !this.#inTick) return false;
    return this.#lateness > BEHIND_MS || nowMs - this.#nextTickAt > BEHIND_MS;
  }

  /** Whether the tick is scheduled (some room has members). */
  get running(): boolean {
    return this.#timer !== undefined;
  }

  /**
   * Adds an input drained at the start of every tick, before any room ticks, so that the
   * mixers mix the freshest audio. Returns a function that removes it.
   */
  addInput(drain: () => void): () => void {
    this.#inputs.add(drain);
    return () => this.#inputs.delete(drain);
  }

  /** Ticks `ticker` from the next tick on; starts the clock if it was stopped. */
  subscribe(ticker: MediaTicker): void {
    if (this.#closed) return;
    this.#tickers.add(ticker);
    if (this.#timer === undefined && !this.#inTick) {
      this.#nextTickAt = this.#clock.now() + MEDIA_TICK_MS;
      this.#lateness = 0;
      this.#schedule();
    }
  }

  /** Stops ticking `ticker`; the clock stops when nothing is left to tick. */
  unsubscribe(ticker: MediaTicker): void {
    this.#tickers.delete(ticker);
    if (this.#tickers.size === 0) this.#stop();
  }

  /** Stops for good. */
  close(): void {
    this.#closed = true;
    this.#tickers.clear();
    this.#inputs.clear();
    this.#stop();
  }

  #schedule(): void {
    const delay = Math.max(0, this.#nextTickAt - this.#clock.now());
    this.#timer = this.#clock.setTimeout(() => this.#tick(), delay);
  }

  #stop(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #tick(): void {
    this.#timer = undefined;
    if (this.#closed || this.#tickers.size === 0) return;
    const now = this.#clock.now();
    this.#lateness = Math.max(0, now - this.#nextTickAt);
    if (now - this.#nextTickAt > MAX_STALL_MS) this.#nextTickAt = now;
    this.ticks++;
    this.#inTick = true;
    for (const drain of this.#inputs) {
      try {
        drain();
      } catch (err) {
        log.error("media_input_failed", "media input drain failed", { error: err });
      }
    }
    // A room that empties during the tick leaves the set; Set iteration allows that.
    for (const ticker of this.#tickers) {
      try {
        ticker.tick(now);
      } catch (err) {
        log.error("media_tick_failed", "media room tick failed", { error: err });
      }
    }
    this.#inTick = false;
    this.onTick?.(this.#lateness, this.#clock.now() - now);
    if (this.#tickers.size === 0 || this.#closed) return;
    this.#nextTickAt += MEDIA_TICK_MS;
    this.#schedule();
  }
}
