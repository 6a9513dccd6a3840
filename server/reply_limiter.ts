/**
 * Limits the server's answers to datagrams that did not prove an address (bind errors and
 * checks): a token bucket for all sources together and one per source IP, so that the UDP
 * socket cannot be used to reflect traffic at someone. Pure: time is passed in.
 *
 * @example
 * ```ts
 * const limiter = new ReplyLimiter();
 * if (limiter.allow("203.0.113.7", performance.now())) socket.send(error, from);
 * ```
 * @module
 */

import { TokenBucket, type TokenBucketOptions } from "../util/token_bucket.ts";

/** Unproved answers from the whole server: 200 a second, bursts of 400. */
export const UNPROVED_REPLIES_TOTAL: TokenBucketOptions = { ratePerSecond: 200, burst: 400 };
/**
 * Unproved answers per source IP: 20 a second, bursts of 100. A client binds with one of
 * them (its check), and 64 clients behind one address (all on 127.0.0.1 in the benchmarks)
 * bind within seconds. Each answer is no larger than the datagram it answers.
 */
export const UNPROVED_REPLIES_PER_IP: TokenBucketOptions = { ratePerSecond: 20, burst: 100 };
/** Source IPs tracked at once; past this the oldest is forgotten. */
export const MAX_TRACKED_REPLY_SOURCES = 4096;

/** Rate limits of unproved answers, globally and per source IP. */
export class ReplyLimiter {
  #total: TokenBucket;
  #perIp = new Map<string, TokenBucket>();
  #options: { total: TokenBucketOptions; perIp: TokenBucketOptions; maxSources: number };
  /** Answers not sent because of a limit. */
  refused = 0;

  constructor(options: {
    total?: TokenBucketOptions;
    perIp?: TokenBucketOptions;
    maxSources?: number;
  } = {}) {
    this.#options = {
      total: options.total ?? UNPROVED_REPLIES_TOTAL,
      perIp: options.perIp ?? UNPROVED_REPLIES_PER_IP,
      maxSources: options.maxSources ?? MAX_TRACKED_REPLY_SOURCES,
    };
    this.#total = new TokenBucket(this.#options.total);
  }

  /** Whether one more answer may go to `ip` now (and counts it if so). */
  allow(ip: string, nowMs: number): boolean {
    let bucket = this.#perIp.get(ip);
    if (!bucket) {
      if (this.#perIp.size >= this.#options.maxSources) {
        this.#perIp.delete(this.#perIp.keys().next().value!);
      }
      bucket = new TokenBucket(this.#options.perIp);
      this.#perIp.set(ip, bucket);
    }
    // The per-IP bucket first: one noisy source does not drain everyone's share.
    if (!bucket.take(1, nowMs) || !this.#total.take(1, nowMs)) {
      this.refused++;
      return false;
    }
    return true;
  }

  /** Source IPs tracked now. */
  get trackedSources(): number {
    return this.#perIp.size;
  }
}
