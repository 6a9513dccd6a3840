/**
 * A NACK goes out twice, back to back ({@linkcode NACK_COPIES}): one lost report then no longer
 * costs a retry a round trip later (65 ms or more on a 25 +/- 8 ms path), which is when a
 * frame waiting for its packet can freeze the picture. A report is a few bytes. The packets
 * resent for it go once: sent twice as well, they cost the voice in P2P 6-16 ms more delay at
 * p50 at 3% loss and 2-13 at 1% (interleaved runs: the voice's arrival tail grew, most likely
 * behind the copies in the data channel's congestion control), for a share of retries that the
 * report's copies alone mostly took (docs/architecture.md, "Loss recovery").
 *
 * Both copies of a report would be answered: the resender answers a sequence number once in
 * {@linkcode RESEND_REPEAT_MS} (a {@linkcode ResendGuard} per receiver and stream), shorter
 * than any retry (media/nack_generator.ts waits at least 50 ms to ask again), longer than the
 * copies' spread on a jittery path.
 *
 * Pure: time is passed in.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ResendGuard } from "./resend_guard.ts";
 *
 * const guard = new ResendGuard();
 * assert.equal(guard.answered(7, 0), false); // the first copy of the report: resend
 * guard.resent(7, 0);
 * assert.equal(guard.answered(7, 12), true); // its second copy: answered already
 * assert.equal(guard.answered(7, 70), false); // a retry: the resend was lost
 * ```
 * @module
 */

/** Copies sent of each NACK. */
export const NACK_COPIES = 2;

/**
 * Sends a NACK in its {@linkcode NACK_COPIES} copies, back to back, through `send`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NACK_COPIES, sendNackCopies } from "./resend_guard.ts";
 *
 * const sent: Uint8Array[] = [];
 * sendNackCopies(new Uint8Array(16), (packet) => sent.push(packet));
 * assert.equal(sent.length, NACK_COPIES);
 * ```
 */
export function sendNackCopies(nack: Uint8Array, send: (packet: Uint8Array) => void): void {
  for (let i = 0; i < NACK_COPIES; i++) send(nack);
}

/** A sequence number is resent at most once in this long, ms. */
export const RESEND_REPEAT_MS = 30;

/** Which sequence numbers of one stream were resent lately, to one receiver. */
export class ResendGuard {
  readonly #seqs: Int32Array;
  readonly #at: Float64Array;
  readonly #windowMs: number;

  /**
   * @param windowMs how long a resend answers a number (default {@linkcode RESEND_REPEAT_MS})
   * @param capacity numbers remembered, 16 to 4096 (default 256: more than one NACK names)
   */
  constructor(windowMs = RESEND_REPEAT_MS, capacity = 256) {
    const size = Math.max(16, Math.min(4096, Math.floor(capacity)));
    this.#seqs = new Int32Array(size).fill(-1);
    this.#at = new Float64Array(size);
    this.#windowMs = windowMs;
  }

  /** True when `seq` (16-bit) was resent less than the window before `nowMs`. */
  answered(seq: number, nowMs: number): boolean {
    const s = seq & 0xffff;
    const slot = s % this.#seqs.length;
    return this.#seqs[slot] === s && nowMs - this.#at[slot] < this.#windowMs;
  }

  /** Notes that `seq` (16-bit) was resent at `nowMs`. */
  resent(seq: number, nowMs: number): void {
    const s = seq & 0xffff;
    const slot = s % this.#seqs.length;
    this.#seqs[slot] = s;
    this.#at[slot] = nowMs;
  }
}
