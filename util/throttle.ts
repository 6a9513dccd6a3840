/**
 * Runs a task at most once per interval however often it is asked for. The first request
 * after a quiet interval runs at the end of the current turn (so changes made together go
 * out together, and at once); requests during the interval run once when it ends.
 *
 * @example
 * ```ts
 * import type { MeetingRegistry } from "../meeting/registry.ts";
 *
 * function watch(registry: MeetingRegistry, broadcastList: () => void) {
 *   const listUpdate = new Throttle(() => broadcastList(), 250);
 *   registry.on("changed", () => listUpdate.request());
 * }
 * ```
 * @module
 */

import { type Clock, systemClock, type TimerHandle } from "./clock.ts";

/** A task run at most once per `intervalMs`. */
export class Throttle {
  #task: () => void;
  #intervalMs: number;
  #clock: Clock;
  #lastRun = -Infinity;
  #queued = false;
  #timer: TimerHandle | undefined;
  #stopped = false;

  constructor(task: () => void, intervalMs: number, clock: Clock = systemClock) {
    this.#task = task;
    this.#intervalMs = intervalMs;
    this.#clock = clock;
  }

  /** Asks for a run: now-ish if the last was long enough ago, else when the interval ends. */
  request(): void {
    if (this.#queued || this.#stopped) return;
    this.#queued = true;
    const wait = this.#lastRun + this.#intervalMs - this.#clock.now();
    if (wait <= 0) queueMicrotask(() => this.#run());
    else this.#timer = this.#clock.setTimeout(() => this.#run(), wait);
  }

  /** Drops any pending run; later requests are ignored. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #run(): void {
    this.#timer = undefined;
    if (this.#stopped || !this.#queued) return;
    this.#queued = false;
    this.#lastRun = this.#clock.now();
    this.#task();
  }
}
