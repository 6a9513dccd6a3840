/**
 * IVF files (the container libvpx and ffmpeg use for raw VP8): a 32-byte header ('DKIF',
 * version 0, header size 32, fourcc, width, height, timebase, frame count), then frames of a
 * 12-byte header (4-byte size, 8-byte timestamp, little-endian) and the data. Also reads the
 * picture size out of a VP8 keyframe.
 *
 * @example
 * ```ts
 * function describe(path: string) {
 *   const { header, frames } = parseIvf(Deno.readFileSync(path));
 *   console.log(header.width, header.height, frames.length,
 *     ivfSeconds(header, frames[1].timestamp));
 * }
 * ```
 * @module
 */

import { writeAll } from "./wav.ts";

/**
 * Size of the file header.
 *
 * @example
 * ```ts
 * const firstFrameAt = IVF_HEADER_SIZE; // 32
 * ```
 */
export { vp8FrameInfo } from "../media/vp8.ts";

export const IVF_HEADER_SIZE = 32;
/**
 * Size of each frame's header.
 *
 * @example
 * ```ts
 * const frame: IvfFrame = { timestamp: 0, data: new Uint8Array(100) };
 * const bytes = IVF_FRAME_HEADER_SIZE + frame.data.length; // 112
 * ```
 */
export const IVF_FRAME_HEADER_SIZE = 12;

/**
 * The file header. Timestamps count in units of `timebaseNum / timebaseDen` seconds
 * (ffmpeg writes 1/15 for a 15 fps clip; the recorder writes 1/90000, the RTP clock).
 *
 * @example
 * ```ts
 * const header: IvfHeader = { fourcc: "VP80", width: 320, height: 240, timebaseDen: 90000,
 *   timebaseNum: 1, frameCount: 0 };
 * ```
 */
export interface IvfHeader {
  fourcc: string;
  width: number;
  height: number;
  /** Timebase denominator ("rate"), bytes 16-19. */
  timebaseDen: number;
  /** Timebase numerator ("scale"), bytes 20-23. */
  timebaseNum: number;
  /** Frame count as written in the header (0 in a file still being written). */
  frameCount: number;
}

/**
 * One frame: its timestamp in timebase units and the encoded data (a view into the file).
 *
 * @example
 * ```ts
 * const frame: IvfFrame = { timestamp: 3, data: new Uint8Array([0x10, 0x02, 0x00]) };
 * ```
 */
export interface IvfFrame {
  timestamp: number;
  data: Uint8Array;
}

/**
 * A file that is not an IVF this client can read.
 *
 * @example
 * ```ts
 * try {
 *   parseIvf(new Uint8Array(10));
 * } catch (e) {
 *   if (e instanceof IvfError) console.log(e.message);
 * }
 * ```
 */
export class IvfError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "IvfError";
  }
}

/**
 * Reads a whole IVF file. Throws {@linkcode IvfError} for a bad header; a truncated last
 * frame is left out. The header's frame count is not trusted: every frame present is read.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const header = { fourcc: "VP80", width: 2, height: 2, timebaseDen: 15, timebaseNum: 1,
 *   frameCount: 1 };
 * const file = encodeIvf(header, [{ timestamp: 0, data: new Uint8Array([1, 2, 3]) }]);
 * assert.equal(parseIvf(file).frames[0].data.length, 3);
 * ```
 */
export function parseIvf(bytes: Uint8Array): { header: IvfHeader; frames: IvfFrame[] } {
  if (bytes.length < IVF_HEADER_SIZE) throw new IvfError("file too short for an IVF header");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (String.fromCharCode(...bytes.subarray(0, 4)) !== "DKIF") {
    throw new IvfError("not an IVF file (no DKIF signature)");
  }
  const headerSize = view.getUint16(6, true);
  if (headerSize < IVF_HEADER_SIZE || headerSize > bytes.length) {
    throw new IvfError(`bad IVF header size ${headerSize}`);
  }
  const header: IvfHeader = {
    fourcc: String.fromCharCode(...bytes.subarray(8, 12)),
    width: view.getUint16(12, true),
    height: view.getUint16(14, true),
    timebaseDen: view.getUint32(16, true),
    timebaseNum: view.getUint32(20, true),
    frameCount: view.getUint32(24, true),
  };
  if (header.timebaseDen === 0 || header.timebaseNum === 0) {
    throw new IvfError("IVF timebase is zero");
  }
  const frames: IvfFrame[] = [];
  let offset = headerSize;
  while (offset + IVF_FRAME_HEADER_SIZE <= bytes.length) {
    const size = view.getUint32(offset, true);
    const timestamp = Number(view.getBigUint64(offset + 4, true));
    const start = offset + IVF_FRAME_HEADER_SIZE;
    if (start + size > bytes.length) break; // truncated: a file still being written
    frames.push({ timestamp, data: bytes.subarray(start, start + size) });
    offset = start + size;
  }
  return { header, frames };
}

/**
 * Serializes a file header.
 *
 * @example
 * ```ts
 * const bytes = writeIvfHeader({ fourcc: "VP80", width: 640, height: 360, timebaseDen: 90000,
 *   timebaseNum: 1, frameCount: 0 });
 * console.log(bytes.length); // 32
 * ```
 */
export function writeIvfHeader(header: IvfHeader): Uint8Array {
  const bytes = new Uint8Array(IVF_HEADER_SIZE);
  const view = new DataView(bytes.buffer);
  bytes.set([0x44, 0x4b, 0x49, 0x46]); // DKIF
  view.setUint16(4, 0, true);
  view.setUint16(6, IVF_HEADER_SIZE, true);
  for (let i = 0; i < 4; i++) bytes[8 + i] = header.fourcc.charCodeAt(i) || 0x20;
  view.setUint16(12, header.width, true);
  view.setUint16(14, header.height, true);
  view.setUint32(16, header.timebaseDen, true);
  view.setUint32(20, header.timebaseNum, true);
  view.setUint32(24, header.frameCount, true);
  return bytes;
}

/**
 * Serializes one frame: its 12-byte header followed by the data.
 *
 * @example
 * ```ts
 * writeIvfFrame({ timestamp: 3000, data: new Uint8Array(5) }).length; // 17
 * ```
 */
export function writeIvfFrame(frame: IvfFrame): Uint8Array {
  const bytes = new Uint8Array(IVF_FRAME_HEADER_SIZE + frame.data.length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, frame.data.length, true);
  view.setBigUint64(4, BigInt(Math.max(0, Math.trunc(frame.timestamp))), true);
  bytes.set(frame.data, IVF_FRAME_HEADER_SIZE);
  return bytes;
}

/**
 * A whole IVF file in memory; the header's frame count is set from `frames`.
 *
 * @example
 * ```ts
 * function saveOneFrame() {
 *   const header = { fourcc: "VP80", width: 2, height: 2, timebaseDen: 15, timebaseNum: 1,
 *     frameCount: 0 };
 *   Deno.writeFileSync("one.ivf", encodeIvf(header, [{ timestamp: 0, data: new Uint8Array(3) }]));
 * }
 * ```
 */
export function encodeIvf(header: IvfHeader, frames: readonly IvfFrame[]): Uint8Array {
  const parts = [
    writeIvfHeader({ ...header, frameCount: frames.length }),
    ...frames.map(writeIvfFrame),
  ];
  const bytes = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.length;
  }
  return bytes;
}

/**
 * A timestamp in seconds.
 *
 * @example
 * ```ts
 * const header = { fourcc: "VP80", width: 0, height: 0, timebaseDen: 15, timebaseNum: 1,
 *   frameCount: 0 };
 * ivfSeconds(header, 30); // 2
 * ```
 */
export function ivfSeconds(header: IvfHeader, timestamp: number): number {
  return (timestamp * header.timebaseNum) / header.timebaseDen;
}

/**
 * Writes an IVF file frame by frame with synchronous writes; {@linkcode IvfWriter.close}
 * patches the frame count into the header.
 *
 * @example
 * ```ts
 * function record(keyframeBytes: Uint8Array) {
 *   const writer = IvfWriter.create("bob.ivf", { width: 320, height: 240 });
 *   writer.write(0, keyframeBytes); // timestamps in 1/90000 s
 *   writer.close();
 * }
 * ```
 */
export class IvfWriter {
  #file: Deno.FsFile | null;
  #frames = 0;

  private constructor(file: Deno.FsFile, readonly path: string) {
    this.#file = file;
  }

  /**
   * Creates (or truncates) `path` and writes the header; the timebase defaults to 1/90000.
   *
   * @example
   * ```ts
   * function createEmpty() {
   *   const writer = IvfWriter.create("out.ivf", { width: 640, height: 360 });
   *   writer.close();
   * }
   * ```
   */
  static create(
    path: string,
    size: { width: number; height: number; timebaseDen?: number; timebaseNum?: number },
  ): IvfWriter {
    const file = Deno.openSync(path, { write: true, create: true, truncate: true });
    writeAll(
      file,
      writeIvfHeader({
        fourcc: "VP80",
        width: size.width,
        height: size.height,
        timebaseDen: size.timebaseDen ?? 90_000,
        timebaseNum: size.timebaseNum ?? 1,
        frameCount: 0,
      }),
    );
    return new IvfWriter(file, path);
  }

  /** Frames written so far. */
  get frameCount(): number {
    return this.#frames;
  }

  /** Appends a frame; ignored after close. */
  write(timestamp: number, data: Uint8Array): void {
    if (!this.#file) return;
    writeAll(this.#file, writeIvfFrame({ timestamp, data }));
    this.#frames++;
  }

  /** Writes the frame count into the header and closes the file. Idempotent. */
  close(): void {
    const file = this.#file;
    if (!file) return;
    this.#file = null;
    try {
      const count = new Uint8Array(4);
      new DataView(count.buffer).setUint32(0, this.#frames, true);
      file.seekSync(24, Deno.SeekMode.Start);
      writeAll(file, count);
    } finally {
      file.close();
    }
  }
}
