/**
 * Token buckets by key (a client address, a meeting id): each key may spend `burst` at once,
 * then `ratePerSecond`. Pure: time is passed in. The number of keys is bounded: past
 * `maxKeys`, buckets that have refilled (they hold nothing worth remembering) are dropped
 * first, then the least recently used.
 *
 * @example
 * ```ts
 * const creates = new RateLimiter({ burst: 20, ratePerSecond: 1 / 3 });
 * const waitMs = creates.take("203.0.113.7", Date.now());
 * if (waitMs > 0) console.log(`try again in ${waitMs} ms`);
 * ```
 * @module
 */

/** Options of a {@linkcode RateLimiter}. */
export interface RateLimiterOptions {
  /** Tokens a key may spend at once. */
  burst: number;
  /** Tokens a key gets back per second. */
  ratePerSecond: number;
  /** Keys remembered at most (default 10,000). */
  maxKeys?: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** Keyed token buckets. */
export class RateLimiter {
  readonly burst: number;
  readonly ratePerSecond: number;
  readonly maxKeys: number;
  #buckets = new Map<string, Bucket>();

  constructor(options: RateLimiterOptions) {
    this.burst = options.burst;
    this.ratePerSecond = options.ratePerSecond;
    this.maxKeys = options.maxKeys ?? 10_000;
  }

  /** 0 if `key` has a token now, else how long until it has one, ms. Takes nothing. */
  retryAfterMs(key: string, nowMs: number): number {
    const tokens = this.#tokens(key, nowMs);
    if (tokens >= 1) return 0;
    return Math.max(1, Math.ceil(((1 - tokens) * 1000) / this.ratePerSecond));
  }

  /** Takes a token for `key` if it has one: returns 0, else the wait in ms (and takes nothing). */
  take(key: string, nowMs: number): number {
    const wait = this.retryAfterMs(key, nowMs);
    if (wait > 0) return wait;
    const tokens = this.#tokens(key, nowMs) - 1;
    this.#buckets.delete(key); // re-insert: the map's order is least recently used first
    this.#buckets.set(key, { tokens, at: nowMs });
    this.#bound(nowMs);
    return 0;
  }

  /** Forgets a key (its meeting ended). */
  forget(key: string): void {
    this.#buckets.delete(key);
  }

  /** Keys remembered now. */
  get size(): number {
    return this.#buckets.size;
  }

  #tokens(key: string, nowMs: number): number {
    const bucket = this.#buckets.get(key);
    if (!bucket) return this.burst;
    const elapsed = Math.max(0, nowMs - bucket.at);
    return Math.min(this.burst, bucket.tokens + (elapsed * this.ratePerSecond) / 1000);
  }

  #bound(nowMs: number): void {
    if (this.#buckets.size <= this.maxKeys) return;
    for (const key of this.#buckets.keys()) {
      if (this.#tokens(key, nowMs) >= this.burst) this.#buckets.delete(key);
    }
    while (this.#buckets.size > this.maxKeys) {
      this.#buckets.delete(this.#buckets.keys().next().value!);
    }
  }
}

/**
 * The key of per-address limits: an IPv4 address as it is (also when mapped into IPv6), an
 * IPv6 address by its /64 prefix, since one host or home network usually holds a whole /64.
 *
 * @example
 * ```ts
 * addressKey("::ffff:203.0.113.7"); // "203.0.113.7"
 * addressKey("2001:db8:1:2:aaaa::1"); // "2001:db8:1:2::/64"
 * ```
 */
export function addressKey(address: string): string {
  const ip = address.replace(/^\[|\]$/g, "").replace(/%.*$/, "").toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(ip);
  if (mapped) return mapped[1];
  if (!ip.includes(":")) return ip;
  const [head, tail = ""] = ip.split("::");
  const headGroups = head ? head.split(":") : [];
  const tailGroups = ip.includes("::") && tail ? tail.split(":") : [];
  const missing = 8 - headGroups.length - tailGroups.length;
  const groups = ip.includes("::")
    ? [...headGroups, ...Array(Math.max(0, missing)).fill("0"), ...tailGroups]
    : headGroups;
  return groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, "")).join(":") + "::/64";
}
