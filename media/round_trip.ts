/**
 * One participant's round trips (from its receiver reports on the mix), read as the delay
 * that queues add: the last round trip less the lowest of the last {@linkcode LOWEST_KEPT_MS}
 * (the path without queues). A link, or a receiver's own machine, that holds what it is sent
 * for seconds shows here whatever carries the media: on WebTransport nothing else sees such
 * a queue (the QUIC stacks keep datagrams the server's transport no longer counts). Pure:
 * time is passed in.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RoundTrip } from "./round_trip.ts";
 *
 * const trip = new RoundTrip();
 * trip.add(40, 0);
 * trip.add(45, 1000);
 * assert.equal(trip.queueMs(1000), 5);
 * trip.add(2040, 2000); // 2 s more than the path: something holds the media
 * assert.equal(trip.queueMs(2000), 2000);
 * assert.equal(trip.queueMs(2000 + 5000), 0); // no reading for long: nothing is known
 * ```
 * @module
 */

/** The lowest round trip is the lowest of this long, ms (older ones may be another path). */
export const LOWEST_KEPT_MS = 30_000;
/** A reading older than this says nothing of the queue now, ms. */
export const READING_FRESH_MS = 3_000;

/** The round trips of one participant (see the module documentation). */
export class RoundTrip {
  /** The lowest of the current and of the previous half window (a windowed minimum). */
  #lowest = Infinity;
  #previousLowest = Infinity;
  #windowStart = -Infinity;
  #last: number | undefined;
  #lastAt = -Infinity;

  /** The last round trip, ms, or undefined before one. */
  get last(): number | undefined {
    return this.#last;
  }

  /** Takes a round trip of `ms` read at `nowMs`. */
  add(ms: number, nowMs: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    if (nowMs - this.#windowStart >= LOWEST_KEPT_MS / 2) {
      this.#previousLowest = this.#lowest;
      this.#lowest = Infinity;
      this.#windowStart = nowMs;
    }
    this.#lowest = Math.min(this.#lowest, ms);
    this.#last = ms;
    this.#lastAt = nowMs;
  }

  /** What queues add to the round trip now, ms: 0 without a fresh reading. */
  queueMs(nowMs: number): number {
    if (this.#last === undefined || nowMs - this.#lastAt > READING_FRESH_MS) return 0;
    return Math.max(0, this.#last - Math.min(this.#lowest, this.#previousLowest));
  }
}
