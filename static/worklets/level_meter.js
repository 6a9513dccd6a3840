// @ts-check
/**
 * Measures the level of audio read in blocks (render quanta): the RMS over the last window
 * (about a second), and how long the audio has been audible in total. Pure: unit-tested in
 * Deno, used by playback.js for the output and each stream.
 *
 * @example
 * ```js
 * const meter = new LevelMeter({ sampleRate: 48000 });
 * meter.add(quantum); // each render quantum
 * meter.rms; // over the last second
 * meter.audibleMs; // total time above -60 dBFS
 * ```
 * @module
 */

/** A block's RMS above this (-60 dBFS) counts as audible. */
export const AUDIBLE_RMS = 0.001;

/** RMS over a sliding window of blocks, and audible time. */
export class LevelMeter {
  /** @type {Float64Array} */ #energies;
  /** @type {Uint16Array} */ #lengths;
  #next = 0;
  #sumEnergy = 0;
  #sumLength = 0;
  /** Time, ms, of all blocks whose RMS was above {@linkcode AUDIBLE_RMS}. */
  audibleMs = 0;
  /** Samples measured in total. */
  samples = 0;
  /** @type {number} */ sampleRate;

  /**
   * @param {{ sampleRate?: number, windowBlocks?: number }} [options] the window, in blocks
   *   (default 375: one second of 128-sample quanta at 48 kHz)
   *
   * @example
   * ```js
   * new LevelMeter({ sampleRate: 48000, windowBlocks: 100 }).rms; // 0
   * ```
   */
  constructor(options = {}) {
    this.sampleRate = options.sampleRate ?? 48000;
    const blocks = options.windowBlocks ?? 375;
    this.#energies = new Float64Array(blocks);
    this.#lengths = new Uint16Array(blocks);
  }

  /**
   * Adds a block of samples.
   *
   * @param {Float32Array} block
   *
   * @example
   * ```js
   * new LevelMeter().add(new Float32Array(128).fill(0.5));
   * ```
   */
  add(block) {
    let energy = 0;
    for (let i = 0; i < block.length; i++) energy += block[i] * block[i];
    this.#sumEnergy += energy - this.#energies[this.#next];
    this.#sumLength += block.length - this.#lengths[this.#next];
    this.#energies[this.#next] = energy;
    this.#lengths[this.#next] = block.length;
    this.#next = (this.#next + 1) % this.#energies.length;
    this.samples += block.length;
    if (block.length > 0 && Math.sqrt(energy / block.length) > AUDIBLE_RMS) {
      this.audibleMs += (block.length * 1000) / this.sampleRate;
    }
  }

  /** RMS over the window (0 when nothing was measured). */
  get rms() {
    return this.#sumLength > 0 ? Math.sqrt(Math.max(0, this.#sumEnergy) / this.#sumLength) : 0;
  }
}
