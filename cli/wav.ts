/**
 * WAV files (RIFF, 16-bit PCM): read any rate and channel count, convert to the 48 kHz mono
 * the client sends, write in memory or streaming to disk (sizes patched on close).
 *
 * @example
 * ```ts
 * const bytes = encodeWav(new Int16Array([0, 1000, -1000]), 8000);
 * const audio = parseWav(bytes); // { sampleRate: 8000, channels: 1, samples }
 * const mono48k = toMono48k(audio); // 18 samples at 48 kHz
 * ```
 * @module
 */

/**
 * Sample rate of everything the client sends and records.
 *
 * @example
 * ```ts
 * const samples = new Int16Array(96_000); // mono at 48 kHz
 * const seconds = samples.length / RATE_48K; // 2
 * ```
 */
export const RATE_48K = 48_000;

/**
 * Decoded PCM: interleaved 16-bit samples.
 *
 * @example
 * ```ts
 * const audio: WavAudio = { sampleRate: 48000, channels: 2, samples: new Int16Array(4) };
 * console.log(audio.samples.length / audio.channels); // 2 frames
 * ```
 */
export interface WavAudio {
  sampleRate: number;
  channels: number;
  /** Interleaved samples, `channels` per frame. */
  samples: Int16Array;
}

/**
 * A file that is not a WAV this client can read.
 *
 * @example
 * ```ts
 * try {
 *   parseWav(new Uint8Array(4));
 * } catch (e) {
 *   if (e instanceof WavError) console.log(e.message); // "not a RIFF/WAVE file"
 * }
 * ```
 */
export class WavError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WavError";
  }
}

/**
 * Sample rates a WAV file may declare (8 kHz to 384 kHz). The audio is resampled to 48 kHz,
 * so the output grows by 48,000 / rate: a file of a few kilobytes declaring 1 Hz would
 * ask for gigabytes.
 */
export const WAV_RATE_RANGE: Readonly<{ min: number; max: number }> = { min: 8_000, max: 384_000 };

const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

function fourcc(bytes: Uint8Array, at: number): string {
  return String.fromCharCode(...bytes.subarray(at, at + 4));
}

/**
 * Reads a 16-bit PCM WAV file (format 1, or WAVE_FORMAT_EXTENSIBLE with PCM inside), any
 * sample rate and channel count. Throws {@linkcode WavError} otherwise. A data chunk that
 * runs past the end, or whose size is 0 (a file still being written), is read as far as
 * the file goes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const audio = parseWav(encodeWav(new Int16Array([1, 2, 3, 4]), 44100, 2));
 * assert.deepEqual([audio.sampleRate, audio.channels, audio.samples.length], [44100, 2, 4]);
 * ```
 */
export function parseWav(bytes: Uint8Array): WavAudio {
  if (bytes.length < 12 || fourcc(bytes, 0) !== "RIFF" || fourcc(bytes, 8) !== "WAVE") {
    throw new WavError("not a RIFF/WAVE file");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let format: { channels: number; sampleRate: number } | null = null;
  let offset = 12;
  for (let chunks = 0; offset + 8 <= bytes.length && chunks < 1000; chunks++) {
    const id = fourcc(bytes, offset);
    const size = view.getUint32(offset + 4, true);
    const body = offset + 8;
    if (id === "fmt ") {
      if (size < 16 || body + 16 > bytes.length) throw new WavError("truncated fmt chunk");
      let tag = view.getUint16(body, true);
      const channels = view.getUint16(body + 2, true);
      const sampleRate = view.getUint32(body + 4, true);
      const bits = view.getUint16(body + 14, true);
      if (tag === WAVE_FORMAT_EXTENSIBLE && size >= 40 && body + 26 <= bytes.length) {
        tag = view.getUint16(body + 24, true); // the sub-format GUID starts with the tag
      }
      if (tag !== WAVE_FORMAT_PCM) throw new WavError(`WAV format ${tag} is not PCM`);
      if (bits !== 16) throw new WavError(`${bits}-bit WAV: only 16-bit PCM is supported`);
      if (channels < 1 || sampleRate < 1) throw new WavError("WAV with no channels or rate");
      if (sampleRate < WAV_RATE_RANGE.min || sampleRate > WAV_RATE_RANGE.max) {
        throw new WavError(
          `WAV rate ${sampleRate} Hz: ${WAV_RATE_RANGE.min} to ${WAV_RATE_RANGE.max} Hz are read`,
        );
      }
      format = { channels, sampleRate };
    } else if (id === "data") {
      if (!format) throw new WavError("WAV data before its fmt chunk");
      // A size of 0 or 0xffffffff: a file still being written (or a stream): read to the end.
      const unknown = size === 0 || size === 0xffffffff;
      const available = unknown ? bytes.length - body : Math.min(size, bytes.length - body);
      const frames = Math.floor(available / (2 * format.channels));
      const samples = new Int16Array(frames * format.channels);
      for (let i = 0; i < samples.length; i++) samples[i] = view.getInt16(body + i * 2, true);
      return { ...format, samples };
    }
    offset = body + size + (size & 1);
  }
  throw new WavError(format ? "WAV has no data chunk" : "WAV has no fmt chunk");
}

/**
 * Down-mixes to mono (the average of the channels) and resamples to 48 kHz by linear
 * interpolation.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const stereo = { sampleRate: 24000, channels: 2, samples: new Int16Array([100, 300, 200, 400]) };
 * assert.deepEqual(Array.from(toMono48k(stereo)), [200, 250, 300, 300]);
 * ```
 */
export function toMono48k(audio: WavAudio): Int16Array {
  const { channels, sampleRate } = audio;
  const frames = Math.floor(audio.samples.length / channels);
  const mono = new Float64Array(frames);
  for (let f = 0; f < frames; f++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += audio.samples[f * channels + c];
    mono[f] = sum / channels;
  }
  if (frames === 0) return new Int16Array(0);
  const outLength = Math.max(1, Math.round((frames * RATE_48K) / sampleRate));
  const out = new Int16Array(outLength);
  const step = sampleRate / RATE_48K;
  for (let i = 0; i < outLength; i++) {
    const position = i * step;
    const left = Math.min(frames - 1, Math.floor(position));
    const right = Math.min(frames - 1, left + 1);
    const t = position - left;
    out[i] = Math.round(mono[left] * (1 - t) + mono[right] * t);
  }
  return out;
}

/**
 * The 44-byte header of a 16-bit PCM WAV file holding `dataBytes` bytes of samples.
 *
 * @example
 * ```ts
 * const header = wavHeader(48000, 1, 0); // patch the sizes when the length is known
 * console.log(header.length); // 44
 * ```
 */
export function wavHeader(sampleRate: number, channels: number, dataBytes: number): Uint8Array {
  const header = new Uint8Array(44);
  const view = new DataView(header.buffer);
  const ascii = (at: number, text: string) => {
    for (let i = 0; i < text.length; i++) header[at + i] = text.charCodeAt(i);
  };
  ascii(0, "RIFF");
  view.setUint32(4, 36 + dataBytes, true);
  ascii(8, "WAVE");
  ascii(12, "fmt ");
  view.setUint32(16, 16, true);
  view.setUint16(20, WAVE_FORMAT_PCM, true);
  view.setUint16(22, channels, true);
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * channels * 2, true);
  view.setUint16(32, channels * 2, true);
  view.setUint16(34, 16, true);
  ascii(36, "data");
  view.setUint32(40, dataBytes, true);
  return header;
}

function pcmBytes(samples: Int16Array): Uint8Array {
  const bytes = new Uint8Array(samples.length * 2);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < samples.length; i++) view.setInt16(i * 2, samples[i], true);
  return bytes;
}

/**
 * A whole 16-bit PCM WAV file in memory.
 *
 * @example
 * ```ts
 * function saveTone() {
 *   const tone = Int16Array.from({ length: 48000 }, (_, i) => 9000 * Math.sin(i / 10));
 *   Deno.writeFileSync("tone.wav", encodeWav(tone, 48000));
 * }
 * ```
 */
export function encodeWav(samples: Int16Array, sampleRate: number, channels = 1): Uint8Array {
  const data = pcmBytes(samples);
  const bytes = new Uint8Array(44 + data.length);
  bytes.set(wavHeader(sampleRate, channels, data.length));
  bytes.set(data, 44);
  return bytes;
}

/**
 * Writes a mono 16-bit WAV file as samples come, with synchronous writes (they stay in
 * order and need no flushing before exit). The header's sizes are patched by
 * {@linkcode WavWriter.close}; a file left unclosed still reads (see parseWav).
 *
 * @example
 * ```ts
 * function recordSilence() {
 *   const writer = WavWriter.create("mix.wav", 48000);
 *   writer.write(new Int16Array(960)); // 20 ms of silence
 *   writer.close();
 * }
 * ```
 */
export class WavWriter {
  #file: Deno.FsFile | null;
  #dataBytes = 0;

  private constructor(file: Deno.FsFile, readonly path: string, readonly sampleRate: number) {
    this.#file = file;
  }

  /**
   * Creates (or truncates) `path` and writes the header.
   *
   * @example
   * ```ts
   * function createEmpty() {
   *   const writer = WavWriter.create("out.wav", 48000);
   *   writer.close();
   * }
   * ```
   */
  static create(path: string, sampleRate: number): WavWriter {
    const file = Deno.openSync(path, { write: true, create: true, truncate: true });
    writeAll(file, wavHeader(sampleRate, 1, 0));
    return new WavWriter(file, path, sampleRate);
  }

  /** Samples written so far. */
  get samplesWritten(): number {
    return this.#dataBytes / 2;
  }

  /** Appends samples; ignored after close. */
  write(samples: Int16Array): void {
    if (!this.#file || samples.length === 0) return;
    writeAll(this.#file, pcmBytes(samples));
    this.#dataBytes += samples.length * 2;
  }

  /** Patches the sizes in the header and closes the file. Idempotent. */
  close(): void {
    const file = this.#file;
    if (!file) return;
    this.#file = null;
    try {
      const size = new Uint8Array(4);
      const view = new DataView(size.buffer);
      view.setUint32(0, 36 + this.#dataBytes, true);
      file.seekSync(4, Deno.SeekMode.Start);
      writeAll(file, size);
      view.setUint32(0, this.#dataBytes, true);
      file.seekSync(40, Deno.SeekMode.Start);
      writeAll(file, size);
    } finally {
      file.close();
    }
  }
}

/**
 * Writes every byte with synchronous writes (a single `writeSync` may write fewer).
 *
 * @example
 * ```ts
 * writeAll(Deno.stdout, new TextEncoder().encode("hello\n"));
 * ```
 */
export function writeAll(target: { writeSync(p: Uint8Array): number }, bytes: Uint8Array): void {
  let offset = 0;
  for (let tries = 0; offset < bytes.length && tries < 1_000_000; tries++) {
    offset += target.writeSync(bytes.subarray(offset));
  }
}
