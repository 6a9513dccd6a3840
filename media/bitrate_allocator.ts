/**
 * What each sender's video may send, from what its receivers' links carry: the server's side
 * of rate control in relay mode. Each receiver tells the server (REMB) an estimate of its
 * link (media/receive_estimator.ts, payloads and packet overhead); the server keeps the
 * receiver's audio (the mix) out of it and shares the rest equally among the videos it
 * receives, less a tenth for their packets' overhead. A sender gets the least of
 * its receivers' shares, so that the weakest still gets every frame, and no more than its
 * own uplink carries (the server's estimate of it, less its voice and a tenth), within
 * [`minBps`, `maxBps`]. An estimate older than `staleMs` no longer counts (the receiver left
 * or stopped reporting); a receiver that never reported constrains nobody.
 *
 * Pure: time is passed in.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BitrateAllocator } from "./bitrate_allocator.ts";
 *
 * const allocator = new BitrateAllocator({ minBps: 100_000, maxBps: 800_000, audioBps: 60_000 });
 * allocator.setEstimate("cy", 400_000, 0); // Cy's link carries 400 kbit/s
 * // Ann and Bob send video; Cy receives both: 0.9 x (400 - 60) / 2 kbit/s each.
 * assert.deepEqual(allocator.targets(["ann", "bob", "cy"], ["ann", "bob"], 100), new Map([
 *   ["ann", 153_000],
 *   ["bob", 153_000],
 * ]));
 * ```
 * @module
 */

/**
 * Options of a {@linkcode BitrateAllocator}.
 *
 * @example
 * ```ts
 * const options: BitrateAllocatorOptions = { minBps: 100_000, maxBps: 800_000 };
 * ```
 */
export interface BitrateAllocatorOptions {
  /** Least a sender is asked for, bit/s (default 50 000). */
  minBps?: number;
  /** Most a sender is allowed, bit/s (default 800 000, what our senders send at most). */
  maxBps?: number;
  /**
   * Kept out of each receiver's estimate for its audio, bit/s (default 90 000: the mix with
   * RED, 166-byte packets 50 times a second, and their overhead).
   */
  audioBps?: number;
  /** An estimate older than this no longer counts, ms (default 5000). */
  staleMs?: number;
}

/** Per-sender video bitrates from receivers' estimates (see the module documentation). */
export class BitrateAllocator {
  readonly #minBps: number;
  readonly #maxBps: number;
  readonly #audioBps: number;
  readonly #staleMs: number;
  #estimates = new Map<string, { bps: number; at: number }>();
  #uplinks = new Map<string, { bps: number; at: number }>();

  constructor(options: BitrateAllocatorOptions = {}) {
    this.#minBps = options.minBps ?? 50_000;
    this.#maxBps = options.maxBps ?? 800_000;
    this.#audioBps = options.audioBps ?? 90_000;
    this.#staleMs = options.staleMs ?? 5000;
  }

  /**
   * A receiver's estimate of its link, bit/s (a REMB it sent). Non-finite or negative
   * values are ignored.
   */
  setEstimate(receiverId: string, bps: number, nowMs: number): void {
    if (!Number.isFinite(bps) || bps < 0) return;
    this.#estimates.set(receiverId, { bps, at: nowMs });
  }

  /**
   * The server's estimate of a sender's uplink, bit/s (what arrives from it: its voice and
   * video). Non-finite or negative values are ignored.
   */
  setUplinkEstimate(senderId: string, bps: number, nowMs: number): void {
    if (!Number.isFinite(bps) || bps < 0) return;
    this.#uplinks.set(senderId, { bps, at: nowMs });
  }

  /** Forgets a seat (it left). */
  remove(id: string): void {
    this.#estimates.delete(id);
    this.#uplinks.delete(id);
  }

  /** The receiver's estimate if it still counts, bit/s. */
  estimateOf(receiverId: string, nowMs: number): number | null {
    const e = this.#estimates.get(receiverId);
    return e && nowMs - e.at <= this.#staleMs ? e.bps : null;
  }

  /**
   * Each video sender's bitrate. `receivers`: every seat that receives the meeting's video;
   * `senders`: those that send video. Everyone receives every sender but itself.
   */
  targets(receivers: readonly string[], senders: readonly string[], nowMs: number) {
    const out = new Map<string, number>();
    for (const sender of senders) out.set(sender, this.#maxBps);
    for (const receiver of receivers) {
      const bps = this.estimateOf(receiver, nowMs);
      if (bps === null) continue;
      const from = senders.filter((s) => s !== receiver);
      if (from.length === 0) continue;
      const share = (0.9 * Math.max(0, bps - this.#audioBps)) / from.length;
      for (const sender of from) out.set(sender, Math.min(out.get(sender)!, share));
    }
    for (const sender of senders) {
      const up = this.#uplinks.get(sender);
      if (!up || nowMs - up.at > this.#staleMs) continue;
      const own = 0.9 * Math.max(0, up.bps - this.#audioBps);
      out.set(sender, Math.min(out.get(sender)!, own));
    }
    for (const [sender, bps] of out) {
      out.set(sender, Math.round(Math.max(this.#minBps, Math.min(this.#maxBps, bps))));
    }
    return out;
  }
}
