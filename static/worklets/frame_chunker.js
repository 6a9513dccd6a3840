// @ts-check
/**
 * Cuts a stream of audio quanta (128 samples from an AudioWorklet) into frames of a fixed
 * size (960 samples = 20 ms at 48 kHz for Opus). Pure: no AudioWorklet API is used, so it
 * is unit-tested in Deno and imported by capture.js in the browser.
 *
 * @example
 * ```js
 * const chunker = new FrameChunker(960);
 * for (const frame of chunker.push(new Float32Array(128))) encode(frame); // every 7.5 pushes
 * ```
 * @module
 */

/** Accumulates samples and hands out whole frames, each a new Float32Array. */
export class FrameChunker {
  /** @type {number} */
  frameSize;
  /** @type {Float32Array} */
  #buffer;
  #filled = 0;
  /** Samples still to drop, and the crossfade of that cut. */
  #skip = 0;
  #crossfade = 0;
  /** Samples dropped so far. */
  skipped = 0;
  /** Frames handed out so far. */
  frames = 0;

  /**
   * @param {number} frameSize samples per frame (e.g. 960)
   *
   * @example
   * ```js
   * new FrameChunker(960).pending; // 0
   * ```
   */
  constructor(frameSize) {
    if (!Number.isInteger(frameSize) || frameSize <= 0) {
      throw new RangeError(`frame size ${frameSize} is not a positive integer`);
    }
    this.frameSize = frameSize;
    this.#buffer = new Float32Array(frameSize);
  }

  /** Samples held that do not make a whole frame yet. */
  get pending() {
    return this.#filled;
  }

  /**
   * Adds samples; returns the frames they complete, oldest first (often none). Each frame
   * is a fresh array the caller owns (it can be transferred to another thread).
   *
   * @param {Float32Array} samples
   * @returns {Float32Array[]}
   *
   * @example
   * ```js
   * const chunker = new FrameChunker(4);
   * chunker.push(new Float32Array([1, 2, 3])); // []
   * chunker.push(new Float32Array([4, 5])); // [Float32Array [1, 2, 3, 4]]
   * ```
   */
  push(samples) {
    /** @type {Float32Array[]} */
    const out = [];
    let offset = 0;
    if (this.#skip > 0) {
      if (this.#skip >= samples.length) {
        this.#skip -= samples.length;
        this.skipped += samples.length;
        return out;
      }
      // The cut ends here. The held tail fades into the samples that follow the cut (they
      // overlap, so they count as cut), then the rest is taken as usual.
      const fade = Math.min(this.#crossfade, this.#filled, this.#skip, samples.length - this.#skip);
      const drop = this.#skip - fade;
      for (let i = 0; i < fade; i++) {
        const w = (i + 1) / (fade + 1);
        const at = this.#filled - fade + i;
        this.#buffer[at] = this.#buffer[at] * (1 - w) + samples[drop + i] * w;
      }
      offset = this.#skip;
      this.skipped += this.#skip;
      this.#skip = 0;
    }
    while (offset < samples.length) {
      const take = Math.min(this.frameSize - this.#filled, samples.length - offset);
      this.#buffer.set(samples.subarray(offset, offset + take), this.#filled);
      this.#filled += take;
      offset += take;
      if (this.#filled === this.frameSize) {
        out.push(this.#buffer);
        this.#buffer = new Float32Array(this.frameSize);
        this.#filled = 0;
        this.frames++;
      }
    }
    return out;
  }

  /**
   * Drops the next `count` samples pushed, once, so every later sample lands that much
   * earlier in the stream (and is sent that much sooner). The cut is crossfaded over
   * `crossfade` samples: the last ones before it fade into the first ones after it, so it
   * does not click. A second call before the first is done adds to it.
   *
   * @param {number} count samples to drop
   * @param {number} [crossfade] samples of crossfade (default 120, 2.5 ms at 48 kHz)
   *
   * @example
   * ```js
   * const chunker = new FrameChunker(960);
   * chunker.skip(240); // the next 5 ms of input are left out
   * ```
   */
  skip(count, crossfade = 120) {
    if (!Number.isInteger(count) || count <= 0) return;
    this.#skip += count;
    this.#crossfade = Math.max(0, Math.floor(crossfade));
  }

  /**
   * Drops the partial frame (e.g. when capture restarts).
   *
   * @example
   * ```js
   * const chunker = new FrameChunker(960);
   * chunker.push(new Float32Array(128));
   * chunker.reset(); // chunker.pending === 0
   * ```
   */
  reset() {
    this.#filled = 0;
  }
}
