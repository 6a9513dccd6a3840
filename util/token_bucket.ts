/**
 * A token bucket: at most `burst` at once, refilled at `ratePerSecond`. Pure: time is passed in.
 *
 * @example
 * ```ts
 * const chat = new TokenBucket({ ratePerSecond: 2, burst: 10 });
 * if (!chat.take(1, performance.now())) console.log("slow down");
 * ```
 * @module
 */

/** Options of a {@linkcode TokenBucket}. */
export interface TokenBucketOptions {
  ratePerSecond: number;
  burst: number;
}

/** Rate limiting by tokens. */
export class TokenBucket {
  #tokens: number;
  #last: number | undefined;
  readonly ratePerSecond: number;
  readonly burst: number;

  constructor(options: TokenBucketOptions) {
    this.ratePerSecond = options.ratePerSecond;
    this.burst = options.burst;
    this.#tokens = options.burst;
  }

  /** Takes `cost` tokens if there are enough; returns whether it did. */
  take(cost: number, nowMs: number): boolean {
    if (this.#last !== undefined) {
      const elapsed = Math.max(0, nowMs - this.#last);
      this.#tokens = Math.min(this.burst, this.#tokens + (elapsed * this.ratePerSecond) / 1000);
    }
    this.#last = nowMs;
    if (this.#tokens < cost) return false;
    this.#tokens -= cost;
    return true;
  }
}
