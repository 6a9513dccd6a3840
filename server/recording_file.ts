/**
 * A recording's file: a WebM (VP8 video, Opus audio) muxed by mediabunny, written as it goes,
 * and finished when the recording stops.
 *
 * - While it runs, {@linkcode LiveWebm} writes an append-only WebM (`<id>.part.webm`):
 *   clusters of about a second, handed to the disk every 64 KiB. A crash or a kill leaves a
 *   file that plays up to its last seconds.
 * - {@linkcode finishRecording} then copies its packets, as they are (no decoding), into the
 *   final `<id>.webm` with the chat as a WebVTT subtitle track, a duration and a seek index.
 *   The subtitles are added only here: a live muxer writes a cluster only once every track has
 *   something for it, and chat is too sparse for that.
 *
 * mediabunny (npm, pure TypeScript, maintained, no native code) was chosen over writing EBML
 * by hand and over ffmpeg (a process and a dependency to install, for what is a remux).
 *
 * @example
 * ```ts
 * async function record(keyframe: Uint8Array, opusFrame: Uint8Array) {
 *   const live = await LiveWebm.create("/tmp/r1.part.webm");
 *   live.addVideo(keyframe, 0, true);
 *   live.addAudio(opusFrame, 0);
 *   await live.finalize();
 *   await finishRecording("/tmp/r1.part.webm", "/tmp/r1.webm", "WEBVTT\n\n");
 * }
 * ```
 * @module
 */

// @ts-types="./mediabunny.d.ts"
import {
  CustomSource,
  EncodedAudioPacketSource,
  EncodedPacket,
  EncodedPacketSink,
  EncodedVideoPacketSource,
  Input,
  Output,
  StreamTarget,
  type StreamTargetChunk,
  TextSubtitleSource,
  WEBM,
  WebMOutputFormat,
} from "mediabunny";
import { vp8FrameInfo } from "../media/vp8.ts";
import { OPUS_CLOCK_RATE } from "../protocol/media.ts";

/** The live file is handed to the disk in pieces of this size (about half a second). */
const LIVE_CHUNK_BYTES = 64 * 1024;

/** A writable stream of mediabunny's write chunks onto a file, counting the bytes written. */
function fileWritable(
  file: Deno.FsFile,
  counter: { bytes: number },
): WritableStream<StreamTargetChunk> {
  return new WritableStream<StreamTargetChunk>({
    async write(chunk) {
      await file.seek(chunk.position, Deno.SeekMode.Start);
      let offset = 0;
      while (offset < chunk.data.length) {
        offset += await file.write(chunk.data.subarray(offset));
      }
      counter.bytes = Math.max(counter.bytes, chunk.position + chunk.data.length);
    },
    close() {
      file.close();
    },
    abort() {
      try {
        file.close();
      } catch { /* already closed */ }
    },
  });
}

/**
 * A WebM written as media comes: audio and video frames with their times in seconds from the
 * start, queued in order (call without awaiting; {@linkcode LiveWebm.pending} says how much
 * waits for the disk). The first video frame must be a keyframe.
 */
export class LiveWebm {
  readonly path: string;
  #output: Output;
  #video = new EncodedVideoPacketSource("vp8");
  #audio = new EncodedAudioPacketSource("opus");
  #queue: Promise<unknown>;
  #pending = 0;
  #videoStarted = false;
  #audioStarted = false;
  #error: unknown = null;
  #written = { bytes: 0 };

  private constructor(path: string, file: Deno.FsFile) {
    this.path = path;
    this.#output = new Output({
      format: new WebMOutputFormat({ appendOnly: true, minimumClusterDuration: 1 }),
      target: new StreamTarget(fileWritable(file, this.#written), {
        chunked: true,
        chunkSize: LIVE_CHUNK_BYTES,
      }),
    });
    this.#output.addVideoTrack(this.#video);
    this.#output.addAudioTrack(this.#audio);
    this.#queue = this.#output.start();
  }

  /** Creates the file (it must not exist) and starts writing it. */
  static async create(path: string): Promise<LiveWebm> {
    const file = await Deno.open(path, { write: true, createNew: true });
    const live = new LiveWebm(path, file);
    await live.#queue;
    return live;
  }

  /** Operations queued and not yet done. */
  get pending(): number {
    return this.#pending;
  }

  /** Bytes written to the file so far. */
  get bytesWritten(): number {
    return this.#written.bytes;
  }

  /** The error that stopped writing, if any (later frames are dropped). */
  get error(): unknown {
    return this.#error;
  }

  /** Queues one 20 ms Opus frame at `seconds`. */
  addAudio(frame: Uint8Array, seconds: number): void {
    const first = !this.#audioStarted;
    this.#audioStarted = true;
    const packet = new EncodedPacket(frame, "key", seconds, 960 / OPUS_CLOCK_RATE);
    this.#enqueue(() =>
      this.#audio.add(
        packet,
        first
          ? { decoderConfig: { codec: "opus", numberOfChannels: 1, sampleRate: OPUS_CLOCK_RATE } }
          : undefined,
      )
    );
  }

  /** Queues one VP8 frame at `seconds`; frames before the first keyframe are dropped. */
  addVideo(frame: Uint8Array, seconds: number, keyframe: boolean): void {
    let meta: EncodedVideoChunkMetadata | undefined;
    if (!this.#videoStarted) {
      const info = vp8FrameInfo(frame);
      if (!keyframe || !info.width || !info.height) return;
      this.#videoStarted = true;
      meta = { decoderConfig: { codec: "vp8", codedWidth: info.width, codedHeight: info.height } };
    }
    const packet = new EncodedPacket(frame, keyframe ? "key" : "delta", seconds, 1 / 30);
    this.#enqueue(() => this.#video.add(packet, meta));
  }

  /** Writes what is queued and closes the file (append-only: no index; see finishRecording). */
  async finalize(): Promise<void> {
    await this.#queue;
    if (this.#error) {
      await this.#output.cancel().catch(() => {});
      throw this.#error;
    }
    await this.#output.finalize();
  }

  /** Stops writing at once (what reached the disk stays). */
  async abort(): Promise<void> {
    this.#error ??= new Error("aborted");
    await this.#queue;
    await this.#output.cancel().catch(() => {});
  }

  #enqueue(work: () => Promise<unknown>): void {
    if (this.#error) return;
    this.#pending++;
    this.#queue = this.#queue.then(async () => {
      try {
        if (!this.#error) await work();
      } catch (err) {
        this.#error ??= err;
      } finally {
        this.#pending--;
      }
    });
  }
}

/** What a finished recording file holds. */
export interface FinishedFile {
  /** Its size, bytes. */
  bytes: number;
  /** Its length, ms (the last packet's end). */
  durationMs: number;
}

/** A mediabunny source reading a file on disk. */
async function fileSource(path: string): Promise<{ source: CustomSource; close(): void }> {
  const file = await Deno.open(path, { read: true });
  const size = (await file.stat()).size;
  const source = new CustomSource({
    getSize: () => size,
    read: async (start, end) => {
      const out = new Uint8Array(end - start);
      await file.seek(start, Deno.SeekMode.Start);
      let offset = 0;
      while (offset < out.length) {
        const n = await file.read(out.subarray(offset));
        if (n === null) break;
        offset += n;
      }
      return out.subarray(0, offset);
    },
    maxCacheSize: 4 * 1024 * 1024,
  });
  return { source, close: () => file.close() };
}

/**
 * Copies the live file's packets into the final file (created; it must not exist) with the
 * chat subtitles (`vtt`, a WebVTT text), a duration and a seek index. Works on a file cut
 * short by a crash: it takes what it can read.
 */
export async function finishRecording(
  partPath: string,
  finalPath: string,
  vtt: string,
): Promise<FinishedFile> {
  const { source, close } = await fileSource(partPath);
  const input = new Input({ formats: [WEBM], source });
  try {
    const videoIn = await input.getPrimaryVideoTrack();
    const audioIn = await input.getPrimaryAudioTrack();
    const file = await Deno.open(finalPath, { write: true, createNew: true });
    const written = { bytes: 0 };
    const output = new Output({
      format: new WebMOutputFormat({ minimumClusterDuration: 1 }),
      target: new StreamTarget(fileWritable(file, written), { chunked: true }),
    });
    const video = videoIn && new EncodedVideoPacketSource("vp8");
    const audio = audioIn && new EncodedAudioPacketSource("opus");
    const subtitles = new TextSubtitleSource("webvtt");
    if (video) output.addVideoTrack(video);
    if (audio) output.addAudioTrack(audio);
    output.addSubtitleTrack(subtitles, { languageCode: "und", name: "Chat" });
    await output.start();
    await subtitles.add(vtt);
    subtitles.close();
    // Both tracks at once, the earlier packet first: the muxer writes a cluster only once
    // every open track has reached it, so one track after the other would hold the whole of
    // the first in memory.
    interface Reader {
      sink: EncodedVideoPacketSource | EncodedAudioPacketSource;
      packets: AsyncIterator<EncodedPacket>;
      next: EncodedPacket | null;
      meta: { decoderConfig: VideoDecoderConfig | AudioDecoderConfig } | undefined;
      done: boolean;
    }
    const readers: Reader[] = [];
    for (const [track, sink] of [[videoIn, video], [audioIn, audio]] as const) {
      if (!track || !sink) continue;
      const config = await track.getDecoderConfig();
      readers.push({
        sink,
        packets: new EncodedPacketSink(track).packets()[Symbol.asyncIterator](),
        next: null,
        meta: config ? { decoderConfig: config } : undefined,
        done: false,
      });
    }
    const advance = async (r: Reader) => {
      try {
        const step = await r.packets.next();
        r.next = step.done ? null : step.value;
      } catch {
        r.next = null; // a file cut short: keep what was read
      }
      if (r.next === null && !r.done) {
        r.done = true;
        r.sink.close();
      }
    };
    for (const r of readers) await advance(r);
    let end = 0;
    while (true) {
      let earliest: Reader | null = null;
      for (const r of readers) {
        if (r.next && (!earliest || r.next.timestamp < earliest.next!.timestamp)) earliest = r;
      }
      if (!earliest) break;
      const packet = earliest.next!;
      // deno-lint-ignore no-explicit-any
      await (earliest.sink as any).add(packet, earliest.meta);
      earliest.meta = undefined;
      end = Math.max(end, packet.timestamp + packet.duration);
      await advance(earliest);
    }
    await output.finalize();
    return { bytes: written.bytes, durationMs: Math.round(end * 1000) };
  } finally {
    input.dispose?.();
    close();
  }
}

/** The length of a WebM file, ms, as far as it can be read (0 when it cannot). */
export async function webmDurationMs(path: string): Promise<number> {
  const { source, close } = await fileSource(path);
  const input = new Input({ formats: [WEBM], source });
  try {
    return Math.round((await input.computeDuration()) * 1000);
  } catch {
    return 0;
  } finally {
    input.dispose?.();
    close();
  }
}
