/**
 * The playout buffer of one received video stream: decoded frames wait here until their
 * display time, so that a frame held up by a resent packet (or by jitter) is shown in its
 * turn instead of after a visible stall. A frame's display time is its media time (from its
 * RTP timestamp) plus a target delay, the 95th percentile of how late the frames of the last
 * 10 s were decoded against their media times; at most {@linkcode MAX_EXTRA_DELAY_MS} above
 * the least late of them. Only differences of delays count, so the sender's clock need not
 * agree with ours. On a clean path the target stays within a few ms of the least delay: a
 * frame waits only as long as the network makes its neighbours wait.
 *
 * Pure: time is passed in. Generic in what it holds (a `VideoFrame` in the page).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { VideoPlayout } from "./video_playout.ts";
 *
 * const playout = new VideoPlayout<string>();
 * // Media times 0, 33, 66 ms, decoded 40, 73 and (held up by a resend) 200 ms.
 * playout.push("a", 0, 40);
 * assert.deepEqual(playout.release(40), ["a"]);
 * playout.push("b", 33, 73);
 * assert.deepEqual(playout.release(73), ["b"]);
 * playout.push("c", 66, 200);
 * assert.deepEqual(playout.release(200), ["c"]); // late: shown at once
 * ```
 * @module
 */

/** Frames whose decode delays set the target (about 10 s at 30 fps). */
export const DELAY_WINDOW_FRAMES = 300;
/** The target covers this percentile of the window's delays. */
export const DELAY_PERCENTILE = 95;
/** Most delay added above the least delay of the window, ms. */
export const MAX_EXTRA_DELAY_MS = 250;
/** Most frames held; the oldest is shown early rather than a newer one held past this. */
export const MAX_HELD_FRAMES = 12;
/** A delay this far from the target means the media clock jumped (the sender started over). */
const CLOCK_JUMP_MS = 3000;
/** Frames between two computations of the target (when no frame came later than it). */
const RECOMPUTE_EVERY = 15;

/**
 * Counters of a {@linkcode VideoPlayout}.
 *
 * @example
 * ```ts
 * const { held, addedDelayMs } = new VideoPlayout<number>().stats;
 * ```
 */
export interface VideoPlayoutStats {
  /** Frames waiting now. */
  held: number;
  /** The target's excess over the least delay of the window: what the buffer adds, ms. */
  addedDelayMs: number;
  /** Frames shown after their display time had passed (decoded too late for it). */
  late: number;
  /** Frames shown early because too many were held. */
  overflow: number;
  /** Times the media clock jumped and the window started over. */
  resets: number;
}

interface Held<T> {
  value: T;
  mediaMs: number;
}

/** One stream's video playout buffer (see the module documentation). */
export class VideoPlayout<T> {
  #held: Held<T>[] = [];
  #delays: number[] = [];
  #next = 0;
  #sinceRecompute = 0;
  #target: number | null = null;
  #least = 0;
  #counters = { late: 0, overflow: 0, resets: 0 };

  /** Counters and the current added delay. */
  get stats(): VideoPlayoutStats {
    return {
      held: this.#held.length,
      addedDelayMs: this.#target === null ? 0 : Math.round(this.#target - this.#least),
      ...this.#counters,
    };
  }

  /**
   * Takes a frame decoded at `nowMs` whose media time (its RTP timestamp in ms, any origin)
   * is `mediaMs`. Frames come in decoding order. Returns a frame that had to give way when
   * too many are held (show it now), or null.
   *
   * @example
   * ```ts
   * const early = new VideoPlayout<string>().push("frame", 1000, 5040);
   * console.log(early); // null
   * ```
   */
  push(value: T, mediaMs: number, nowMs: number): T | null {
    const delay = nowMs - mediaMs;
    if (this.#target !== null && Math.abs(delay - this.#target) > CLOCK_JUMP_MS) {
      this.#delays = [];
      this.#next = 0;
      this.#target = null;
      this.#counters.resets++;
    }
    if (this.#delays.length < DELAY_WINDOW_FRAMES) this.#delays.push(delay);
    else this.#delays[this.#next] = delay;
    this.#next = (this.#next + 1) % DELAY_WINDOW_FRAMES;
    if (
      this.#target === null || delay > this.#target || ++this.#sinceRecompute >= RECOMPUTE_EVERY
    ) {
      this.#recompute();
    }
    this.#held.push({ value, mediaMs });
    if (this.#held.length <= MAX_HELD_FRAMES) return null;
    this.#counters.overflow++;
    return this.#held.shift()!.value;
  }

  /**
   * The frames whose display time has come by `nowMs`, oldest first.
   *
   * @example
   * ```ts
   * const playout = new VideoPlayout<string>();
   * playout.push("a", 0, 30);
   * console.log(playout.release(30)); // ["a"]
   * ```
   */
  release(nowMs: number): T[] {
    const out: T[] = [];
    const target = this.#target ?? -Infinity;
    while (this.#held.length > 0 && nowMs - this.#held[0].mediaMs >= target) {
      const { value, mediaMs } = this.#held.shift()!;
      // Decoded after its display time: the network held it up more than the target covers.
      if (nowMs - mediaMs > target + 1) this.#counters.late++;
      out.push(value);
    }
    return out;
  }

  /**
   * When the oldest held frame is due (same clock as `nowMs`), or null when none is held.
   *
   * @example
   * ```ts
   * const playout = new VideoPlayout<string>();
   * console.log(playout.nextDueMs()); // null
   * ```
   */
  nextDueMs(): number | null {
    if (this.#held.length === 0) return null;
    return this.#held[0].mediaMs + (this.#target ?? -Infinity);
  }

  /**
   * Removes and returns every held frame (to close them).
   *
   * @example
   * ```ts
   * const playout = new VideoPlayout<string>();
   * playout.push("a", 0, 30);
   * console.log(playout.drain()); // ["a"] (it was due, but not yet released)
   * ```
   */
  drain(): T[] {
    const out = this.#held.map((h) => h.value);
    this.#held = [];
    return out;
  }

  #recompute(): void {
    this.#sinceRecompute = 0;
    const sorted = [...this.#delays].sort((a, b) => a - b);
    const rank = Math.ceil((DELAY_PERCENTILE / 100) * sorted.length);
    this.#least = sorted[0];
    const wanted = sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
    this.#target = Math.min(wanted, this.#least + MAX_EXTRA_DELAY_MS);
  }
}
