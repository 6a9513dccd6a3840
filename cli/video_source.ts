/**
 * The client's "camera": VP8 frames from an IVF file, looped, each with how long it lasts
 * (from the IVF timestamps). Pure: pacing is the sender's job.
 *
 * A keyframe request (a PLI from the server) cannot make an encoder produce one, so the
 * source jumps ahead to the next keyframe of the file, wrapping to the start: the picture
 * skips forward by less than one keyframe interval (GOP), and the receiver can decode
 * again at once. A file with a single keyframe restarts from the beginning.
 *
 * @example
 * ```ts
 * async function camera() {
 *   const video = await openIvfSource("clip.ivf");
 *   const first = video.next(); // { data, keyframe: true, durationMs: 66.7, index: 0 }
 *   video.requestKeyframe(); // on a PLI: the next frame given out is a keyframe
 * }
 * ```
 * @module
 */

import { type IvfFrame, type IvfHeader, ivfSeconds, parseIvf, vp8FrameInfo } from "./ivf.ts";

/**
 * A frame handed out by {@linkcode IvfVideoSource.next}.
 *
 * @example
 * ```ts
 * const frame: SourceFrame = { data: new Uint8Array(3), keyframe: false, durationMs: 66.7,
 *   index: 4 };
 * ```
 */
export interface SourceFrame {
  data: Uint8Array;
  keyframe: boolean;
  /** How long until the next frame is due, ms. */
  durationMs: number;
  /** Its index in the file. */
  index: number;
}

const DEFAULT_FRAME_MS = 1000 / 15;
const MIN_FRAME_MS = 5;
const MAX_FRAME_MS = 1000;

function clampMs(ms: number): number {
  return Number.isFinite(ms)
    ? Math.min(MAX_FRAME_MS, Math.max(MIN_FRAME_MS, ms))
    : DEFAULT_FRAME_MS;
}

/**
 * Loops over the frames of a VP8 IVF file.
 *
 * @example
 * ```ts
 * import { parseIvf } from "./ivf.ts";
 *
 * function firstThree() {
 *   const { header, frames } = parseIvf(Deno.readFileSync("clip.ivf"));
 *   const source = new IvfVideoSource(header, frames, "clip.ivf");
 *   for (let i = 0; i < 3; i++) console.log(source.next().index); // 0 1 2
 * }
 * ```
 */
export class IvfVideoSource {
  readonly #frames: IvfFrame[];
  readonly #keyframes: boolean[];
  readonly #durations: number[];
  #cursor = 0;
  #keyframeWanted = false;
  /** Keyframe requests that made the source jump ahead. */
  jumps = 0;
  /** Picture size from the header (or the first keyframe when the header has none). */
  readonly width: number;
  readonly height: number;

  constructor(header: IvfHeader, frames: IvfFrame[], readonly describe: string) {
    if (header.fourcc !== "VP80") {
      throw new RangeError(`${describe}: IVF fourcc is "${header.fourcc}", only VP80 is sent`);
    }
    if (frames.length === 0) throw new RangeError(`${describe}: the IVF file holds no frames`);
    this.#frames = frames;
    this.#keyframes = frames.map((f) => vp8FrameInfo(f.data).keyframe);
    if (!this.#keyframes[0]) {
      const first = this.#keyframes.indexOf(true);
      if (first < 0) throw new RangeError(`${describe}: the IVF file holds no VP8 keyframe`);
      this.#cursor = first;
    }
    // One frame interval: the timebase itself when it is a frame rate (1/15), else the
    // average spacing of the timestamps.
    const tick = ivfSeconds(header, 1) * 1000;
    const span = frames.length > 1
      ? (ivfSeconds(header, frames[frames.length - 1].timestamp) -
        ivfSeconds(header, frames[0].timestamp)) * 1000 / (frames.length - 1)
      : NaN;
    const typical = clampMs(tick >= 1000 / 120 ? tick : span);
    this.#durations = frames.map((frame, i) => {
      const next = frames[i + 1];
      if (!next) return typical;
      const ms = (ivfSeconds(header, next.timestamp) - ivfSeconds(header, frame.timestamp)) * 1000;
      return ms > 0 ? clampMs(ms) : typical;
    });
    const info = vp8FrameInfo(frames[this.#cursor].data);
    this.width = header.width || info.width || 0;
    this.height = header.height || info.height || 0;
  }

  /** Number of frames in the file. */
  get frameCount(): number {
    return this.#frames.length;
  }

  /** The next frame, looping at the end of the file. */
  next(): SourceFrame {
    if (this.#keyframeWanted) {
      this.#keyframeWanted = false;
      if (!this.#keyframes[this.#cursor]) {
        this.#cursor = this.#nextKeyframe(this.#cursor);
        this.jumps++;
      }
    }
    const index = this.#cursor;
    this.#cursor = (index + 1) % this.#frames.length;
    return {
      data: this.#frames[index].data,
      keyframe: this.#keyframes[index],
      durationMs: this.#durations[index],
      index,
    };
  }

  /** The next frame given out will be a keyframe (the next one in the file). */
  requestKeyframe(): void {
    this.#keyframeWanted = true;
  }

  #nextKeyframe(from: number): number {
    for (let i = 0; i < this.#frames.length; i++) {
      const index = (from + i) % this.#frames.length;
      if (this.#keyframes[index]) return index;
    }
    return 0; // unreachable: the constructor checked there is a keyframe
  }
}

/**
 * Reads an IVF file of VP8 frames into a looping source. Throws when it cannot.
 *
 * @example
 * ```ts
 * async function describe() {
 *   const source = await openIvfSource("clip.ivf");
 *   console.log(source.width, source.height, source.frameCount);
 * }
 * ```
 */
export async function openIvfSource(path: string): Promise<IvfVideoSource> {
  const { header, frames } = parseIvf(await Deno.readFile(path));
  return new IvfVideoSource(header, frames, path);
}
