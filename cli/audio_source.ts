/**
 * Where the client's "microphone" audio comes from: a generated sine tone or a WAV file
 * (looped). Each source hands out 20 ms frames of 48 kHz mono 16-bit PCM; pacing is the
 * sender's job.
 *
 * @example
 * ```ts
 * const tone = new ToneSource(440);
 * const frame = tone.next(); // Int16Array(960)
 * const wav = await openWavSource("speech.wav"); // any rate/channels, looped
 * ```
 * @module
 */

import { OPUS_FRAME_SAMPLES } from "../protocol/media.ts";
import { parseWav, RATE_48K, toMono48k } from "./wav.ts";

/**
 * A source of 20 ms frames (960 samples, 48 kHz mono).
 *
 * @example
 * ```ts
 * const source: AudioSource = new ToneSource(660);
 * console.log(source.describe, source.next().length); // "660 Hz tone" 960
 * ```
 */
export interface AudioSource {
  /** The next frame (a new array). */
  next(): Int16Array;
  /** What it plays, for messages. */
  readonly describe: string;
}

/**
 * A continuous sine tone, amplitude 0.3 of full scale by default.
 *
 * @example
 * ```ts
 * const tone = new ToneSource(440, 0.3);
 * const frames = [tone.next(), tone.next()]; // phase continues across frames
 * ```
 */
export class ToneSource implements AudioSource {
  #phase = 0;
  readonly #step: number;
  readonly #amplitude: number;
  readonly describe: string;

  constructor(readonly frequency: number, amplitude = 0.3) {
    if (!(frequency > 0 && frequency < RATE_48K / 2)) {
      throw new RangeError(`tone frequency must be between 0 and ${RATE_48K / 2} Hz`);
    }
    this.#step = (2 * Math.PI * frequency) / RATE_48K;
    this.#amplitude = amplitude * 32767;
    this.describe = `${frequency} Hz tone`;
  }

  next(): Int16Array {
    const frame = new Int16Array(OPUS_FRAME_SAMPLES);
    for (let i = 0; i < frame.length; i++) {
      frame[i] = Math.round(this.#amplitude * Math.sin(this.#phase));
      this.#phase += this.#step;
    }
    this.#phase %= 2 * Math.PI;
    return frame;
  }
}

/**
 * Loops 48 kHz mono PCM forever, frame after frame (a frame may span the loop point).
 *
 * @example
 * ```ts
 * const loop = new LoopSource(new Int16Array(48000), "one second of silence");
 * loop.next(); // samples 0..959
 * ```
 */
export class LoopSource implements AudioSource {
  #position = 0;

  constructor(readonly pcm: Int16Array, readonly describe: string) {
    if (pcm.length === 0) throw new RangeError("cannot loop empty audio");
  }

  next(): Int16Array {
    const frame = new Int16Array(OPUS_FRAME_SAMPLES);
    for (let i = 0; i < frame.length; i++) {
      frame[i] = this.pcm[this.#position];
      this.#position = (this.#position + 1) % this.pcm.length;
    }
    return frame;
  }
}

/**
 * Reads a 16-bit PCM WAV file (any rate and channels) into a looping source at 48 kHz mono.
 * Throws (WavError, or a file system error) when it cannot.
 *
 * @example
 * ```ts
 * const source = await openWavSource("voice.wav");
 * console.log(source.describe); // "voice.wav (3.2 s, looped)"
 * ```
 */
export async function openWavSource(path: string): Promise<LoopSource> {
  const pcm = toMono48k(parseWav(await Deno.readFile(path)));
  if (pcm.length === 0) throw new RangeError(`${path}: the WAV file holds no samples`);
  const seconds = (pcm.length / RATE_48K).toFixed(1);
  return new LoopSource(pcm, `${path} (${seconds} s, looped)`);
}
