/**
 * Limits the server's answers to datagrams that did not prove an address (bind errors and
 * checks): a token bucket for all sources together and one per source IP, so that the UDP
 * socket cannot be used to reflect traffic at someone. Pure: time is passed in.
 *
 * @example
 * ```ts
 * const limiter = new ReplyLimiter();
 * function refuse(socket: Deno.DatagramConn, error: Uint8Array, from: Deno.NetAddr) {
 *   if (limiter.allow("203.0.113.7", performance.now())) socket.send(error, from);
 * }
 * ```
 * @module
 */

import { RateLimiter } from "../util/rate_limiter.ts";
import { TokenBucket, type TokenBucketOptions } from "../util/token_bucket.ts";

/** Unproved answers from the whole server: 200 a second, bursts of 400. */
export const UNPROVED_REPLIES_TOTAL: TokenBucketOptions = { ratePerSecond: 200, burst: 400 };
/**
 * Unproved answers per source IP: 20 a second, bursts of 100. A client binds with one of
 * them (its check), and 64 clients behind one address (all on 127.0.0.1 in the benchmarks)
 * bind within seconds. Each answer is no larger than the datagram it answers.
 */
export const UNPROVED_REPLIES_PER_IP: TokenBucketOptions = { ratePerSecond: 20, burst: 100 };
/**
 * Source IPs tracked at once; past this, sources whose bucket is full again are forgotten
 * first, then the least recently answered.
 */
export const MAX_TRACKED_REPLY_SOURCES = 4096;

/** Rate limits of unproved answers, globally and per source IP. */
export class ReplyLimiter {
  #total: TokenBucket;
  #perIp: RateLimiter;
  /** Answers not sent because of a limit. */
  refused = 0;

  constructor(options: {
    total?: TokenBucketOptions;
    perIp?: TokenBucketOptions;
    maxSources?: number;
  } = {}) {
    this.#total = new TokenBucket(options.total ?? UNPROVED_REPLIES_TOTAL);
    this.#perIp = new RateLimiter({
      ...(options.perIp ?? UNPROVED_REPLIES_PER_IP),
      maxKeys: options.maxSources ?? MAX_TRACKED_REPLY_SOURCES,
    });
  }

  /** Whether one more answer may go to `ip` now (and counts it if so). */
  allow(ip: string, nowMs: number): boolean {
    // The per-IP bucket first: one noisy source does not drain everyone's share.
    if (this.#perIp.take(ip, nowMs) > 0 || !this.#total.take(1, nowMs)) {
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
