/**
 * How long what a page hands to a datagram stream waits before the stream takes it. A
 * WebTransport session's `datagrams.writable` queues every write in the page until the browser
 * takes it, and nothing there expires (`outgoingMaxAge` counts only from when the browser took
 * it): on a machine too busy for the browser (three pages at 30 fps on 2 cores) that queue
 * held 40-100 KB, 1-3 s of everything a page sent, its voice included, and everyone heard it
 * that late. So the page times its writes (they settle in order): past
 * {@linkcode SEND_QUEUE_LIMITS}`.congestedMs` the link counts as congested (the senders skip
 * video frames, so that the queue drains), and past `maxAgeMs` a datagram is dropped rather
 * than queued behind what is already too late (a lost packet is resent or concealed).
 *
 * Pure: time is passed in.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DatagramSendQueue } from "./send_queue.ts";
 *
 * const queue = new DatagramSendQueue({ congestedMs: 100, maxAgeMs: 300 });
 * assert.equal(queue.admit(1000, 0), true); // written; settles when the stream takes it
 * assert.equal(queue.congested(50), false);
 * assert.equal(queue.congested(150), true); // the oldest write has waited 150 ms
 * assert.equal(queue.admit(1000, 320), false); // dropped: it would wait behind 320 ms
 * queue.settled(); // the stream took the first
 * assert.equal(queue.bytes, 0);
 * ```
 * @module
 */

/**
 * Defaults of a {@linkcode DatagramSendQueue}, ms: congested from 150 (a page's thread held up
 * by a long task reads a little behind; video frames are skipped only past this), dropping
 * from 300 (what the browser's own queue keeps at most, `outgoingMaxAge`).
 */
export const SEND_QUEUE_LIMITS = { congestedMs: 150, maxAgeMs: 300 };

/**
 * Counters of a {@linkcode DatagramSendQueue}.
 *
 * @example
 * ```ts
 * const { dropped, maxAgeMs } = new DatagramSendQueue().stats;
 * ```
 */
export interface DatagramSendQueueStats {
  /** Datagrams not written because the queue was too old. */
  dropped: number;
  /** The oldest a write waited when looked at, ms (the most so far). */
  maxAgeMs: number;
}

/** The writes a page made to one datagram stream and that have not settled (see above). */
export class DatagramSendQueue {
  readonly #congestedMs: number;
  readonly #maxAgeMs: number;
  /** When each write still waiting was made, and its size, oldest first from `#head`. */
  #at: number[] = [];
  #sizes: number[] = [];
  #head = 0;
  #bytes = 0;
  readonly stats: DatagramSendQueueStats = { dropped: 0, maxAgeMs: 0 };

  /** Limits default to {@linkcode SEND_QUEUE_LIMITS}. */
  constructor(limits: Partial<typeof SEND_QUEUE_LIMITS> = {}) {
    this.#congestedMs = limits.congestedMs ?? SEND_QUEUE_LIMITS.congestedMs;
    this.#maxAgeMs = limits.maxAgeMs ?? SEND_QUEUE_LIMITS.maxAgeMs;
  }

  /** Bytes written and not settled. */
  get bytes(): number {
    return this.#bytes;
  }

  /** How long the oldest write still waiting has waited, ms (0 when none waits). */
  ageMs(nowMs: number): number {
    if (this.#head >= this.#at.length) return 0;
    const age = Math.max(0, nowMs - this.#at[this.#head]);
    if (age > this.stats.maxAgeMs) this.stats.maxAgeMs = age;
    return age;
  }

  /** True while the oldest write has waited `congestedMs` or more: skip what can be skipped. */
  congested(nowMs: number): boolean {
    return this.ageMs(nowMs) >= this.#congestedMs;
  }

  /**
   * Whether a datagram of `size` bytes handed now should be written: false (counted as
   * dropped) while the oldest write has waited `maxAgeMs` or more. When true, call
   * {@linkcode settled} once its write settles.
   */
  admit(size: number, nowMs: number): boolean {
    if (this.ageMs(nowMs) >= this.#maxAgeMs) {
      this.stats.dropped++;
      return false;
    }
    this.#at.push(nowMs);
    this.#sizes.push(size);
    this.#bytes += size;
    return true;
  }

  /** The oldest write settled (taken by the stream, or failed with it). */
  settled(): void {
    if (this.#head >= this.#at.length) return;
    this.#bytes -= this.#sizes[this.#head];
    this.#head++;
    if (this.#head === this.#at.length) {
      this.#at = [];
      this.#sizes = [];
      this.#head = 0;
    } else if (this.#head > 1024) {
      this.#at = this.#at.slice(this.#head);
      this.#sizes = this.#sizes.slice(this.#head);
      this.#head = 0;
    }
  }
}
