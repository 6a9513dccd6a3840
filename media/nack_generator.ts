/**
 * Decides which packets of one RTP stream to report lost, and when (generic NACK, RFC 4585),
 * from the sequence numbers that arrive. A gap is not reported at once: packets on a jittery
 * path arrive out of order, so a missing number waits `reorderMs` first. It is reported again
 * every `retryMs` while still missing (the resend may be lost too), at most `maxTries` times,
 * and given up after `maxAgeMs` (its frame is past showing by then). A jump of more than
 * `maxGap` numbers is a restart, not a loss: nothing is reported for it.
 *
 * Pure: time is passed in. The page keeps one per remote video stream (its NACKs go to the
 * server, or to the peer in P2P); the server keeps one per sender's video (upstream).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NackGenerator } from "./nack_generator.ts";
 *
 * const nacks = new NackGenerator({ reorderMs: 10, retryMs: 50 });
 * nacks.push(1, 0);
 * nacks.push(4, 1); // 2 and 3 missing
 * assert.deepEqual(nacks.due(5), []); // may still come, out of order
 * nacks.push(2, 6);
 * assert.deepEqual(nacks.due(12), [3]);
 * assert.deepEqual(nacks.due(30), []); // asked; wait for the resend
 * assert.deepEqual(nacks.due(63), [3]); // again
 * nacks.push(3, 70);
 * assert.equal(nacks.stats.recovered, 2); // 2 came late, 3 was resent
 * ```
 * @module
 */

/** Options of a {@linkcode NackGenerator}. */
export interface NackGeneratorOptions {
  /** Wait this long after a gap opens before reporting it, ms (default 20: jitter reorders). */
  reorderMs?: number;
  /** Report a number again after this long if it is still missing, ms (default 50). */
  retryMs?: number;
  /** Reports per missing number, at most (default 5). */
  maxTries?: number;
  /** Give up on a number missing this long, ms (default 800). */
  maxAgeMs?: number;
  /** A forward jump of more than this many numbers is a restart (default 256). */
  maxGap?: number;
}

/** Counters of a {@linkcode NackGenerator}. */
export interface NackStats {
  /** Numbers found missing. */
  missing: number;
  /** Missing numbers that arrived later (reordered or resent). */
  recovered: number;
  /** Numbers reported (each report of each number counts). */
  requested: number;
  /** Reports of a number already reported (its resend, or the report, was lost too). */
  retried: number;
  /** Numbers given up (too old, or too many tries). */
  lost: number;
  /** Jumps taken for a restart. */
  restarts: number;
}

interface Missing {
  since: number;
  askedAt: number;
  tries: number;
}

/** NACK decisions for one stream. */
export class NackGenerator {
  readonly stats: NackStats = {
    missing: 0,
    recovered: 0,
    requested: 0,
    retried: 0,
    lost: 0,
    restarts: 0,
  };
  /** Round-trip time to whoever resends, ms: retries wait at least this long (plus a margin). */
  rttMs = 0;
  readonly #reorderMs: number;
  readonly #retryMs: number;
  readonly #maxTries: number;
  readonly #maxAgeMs: number;
  readonly #maxGap: number;
  /** Highest extended sequence number seen, or null before the first packet. */
  #highest: number | null = null;
  /** Missing extended sequence numbers, oldest first (insertion order). */
  #missing = new Map<number, Missing>();

  constructor(options: NackGeneratorOptions = {}) {
    this.#reorderMs = options.reorderMs ?? 20;
    this.#retryMs = options.retryMs ?? 50;
    this.#maxTries = options.maxTries ?? 5;
    this.#maxAgeMs = options.maxAgeMs ?? 800;
    this.#maxGap = Math.max(1, Math.min(1024, options.maxGap ?? 256));
  }

  /** Numbers missing now. */
  get missingCount(): number {
    return this.#missing.size;
  }

  /**
   * Takes the sequence number of an arriving packet. Returns false for a packet already seen
   * (a duplicate: a resend that crossed a late original) or given up, true otherwise.
   */
  push(seq: number, nowMs: number): boolean {
    const ext = this.#extend(seq);
    if (this.#highest === null) {
      this.#highest = ext;
      return true;
    }
    if (ext > this.#highest) {
      const gap = ext - this.#highest - 1;
      if (gap > this.#maxGap) {
        this.stats.restarts++;
        this.#missing.clear();
      } else {
        for (let s = this.#highest + 1; s < ext; s++) {
          this.#missing.set(s, { since: nowMs, askedAt: -Infinity, tries: 0 });
          this.stats.missing++;
        }
      }
      this.#highest = ext;
      return true;
    }
    if (this.#missing.delete(ext)) {
      this.stats.recovered++;
      return true;
    }
    if (this.#highest - ext > this.#maxGap) { // far behind: the stream started over
      this.stats.restarts++;
      this.#missing.clear();
      this.#highest = ext;
      return true;
    }
    return false;
  }

  /**
   * Forgets every missing number before `seq` (a keyframe starts there: what came before is
   * no longer needed).
   */
  forgetBefore(seq: number): void {
    if (this.#highest === null) return;
    const ext = this.#extend(seq);
    for (const s of this.#missing.keys()) {
      if (s < ext) this.#missing.delete(s);
    }
  }

  /** The numbers to report now (16-bit), oldest first; each counts as one try. */
  due(nowMs: number): number[] {
    const out: number[] = [];
    const retry = Math.max(this.#retryMs, this.rttMs * 1.2 + 5);
    for (const [s, m] of this.#missing) {
      if (nowMs - m.since > this.#maxAgeMs || m.tries >= this.#maxTries) {
        this.#missing.delete(s);
        this.stats.lost++;
        continue;
      }
      const wait = m.tries === 0 ? this.#reorderMs : retry;
      if (nowMs - (m.tries === 0 ? m.since : m.askedAt) < wait) continue;
      if (m.tries > 0) this.stats.retried++;
      m.tries++;
      m.askedAt = nowMs;
      out.push(s & 0xffff);
    }
    this.stats.requested += out.length;
    return out;
  }

  /** Forgets the stream (it restarts). */
  reset(): void {
    this.#highest = null;
    this.#missing.clear();
  }

  #extend(seq: number): number {
    if (this.#highest === null) return seq & 0xffff;
    const diff = ((((seq & 0xffff) - (this.#highest & 0xffff)) + 0x8000) & 0xffff) - 0x8000;
    return this.#highest + diff;
  }
}
