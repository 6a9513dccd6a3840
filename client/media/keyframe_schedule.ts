/**
 * When the video sender encodes a keyframe: on a receiver's request (a PLI), at least every
 * `intervalMs`, and at once for a new encoder. Requests are paced: a PLI costs the sender a
 * keyframe, several times the size of a delta frame, and in P2P the peer's PLIs come straight
 * from the peer, so one could ask for every frame. A request inside
 * {@linkcode MIN_KEYFRAME_GAP_MS} of the last keyframe is kept and served when the gap ends.
 * Pure: times are the frames' capture times.
 *
 * @example
 * ```ts
 * const keyframes = new KeyframeSchedule();
 * keyframes.request(); // a PLI came
 * function encode(encoder: VideoEncoder, frame: VideoFrame, captureMs: number) {
 *   encoder.encode(frame, { keyFrame: keyframes.next(captureMs) });
 * }
 * ```
 * @module
 */

/**
 * Longest time between keyframes, ms. Receivers that can ask (pages, the terminal client) get a
 * keyframe when they join and when recovery fails, so this is a safety net for those that
 * cannot (a plain-RTP receiver such as ffmpeg, whose losses nobody hears of). It was 3 s: a
 * sender told 85 kbit/s by a weak receiver then made 20 keyframes a minute on schedule, each
 * several delta frames' worth, and every receiver's picture paid for them.
 */
export const KEYFRAME_INTERVAL_MS = 10_000;

/**
 * Fewest ms between two keyframes made on request: twice a second at most, whoever asks and
 * however often (a receiver asks at most every 500 ms itself, `PLI_INTERVAL_MS`).
 */
export const MIN_KEYFRAME_GAP_MS = 500;

/** Keyframe decisions of one video sender. */
export class KeyframeSchedule {
  #requested = true;
  #forced = false;
  #lastAt = -Infinity;

  /**
   * @param intervalMs longest time between keyframes
   * @param minGapMs fewest ms between keyframes made on request
   */
  constructor(
    readonly intervalMs = KEYFRAME_INTERVAL_MS,
    readonly minGapMs = MIN_KEYFRAME_GAP_MS,
  ) {}

  /** A receiver asked for a keyframe (a PLI): the next frame past the gap is one. */
  request(): void {
    this.#requested = true;
  }

  /** The next frame must be a keyframe, whatever the gap (a new encoder starts with one). */
  force(): void {
    this.#forced = true;
  }

  /** Whether the frame captured at `captureMs` (about to be encoded) is a keyframe. */
  next(captureMs: number): boolean {
    if (!Number.isFinite(captureMs)) {
      // No time to judge by: only what must be (the pacing resumes with the next good time).
      const key = this.#forced || this.#requested;
      this.#forced = this.#requested = false;
      return key;
    }
    const since = captureMs - this.#lastAt;
    const key = this.#forced || !(since < this.intervalMs) || since < 0 ||
      (this.#requested && since >= this.minGapMs);
    if (key) {
      this.#forced = this.#requested = false;
      this.#lastAt = captureMs;
    }
    return key;
  }
}
