/**
 * Incoming media: the mix the server sends (its own SSRC), or in P2P mode the peer's own
 * audio, goes through a jitter buffer and the Opus decoder (loss concealed) into a WAV file; every other participant's video is
 * rebuilt into whole frames and written to an IVF file per sender, asking the sender for a
 * keyframe (a PLI, at most one per 500 ms) when frames were lost.
 *
 * @example
 * ```ts
 * import type { RtpPacket } from "../media/rtp.ts";
 *
 * function record(
 *   rtpPacket: RtpPacket,
 *   { ownSsrc, nameOf, sendPli, onRecording }: VideoReceiverOptions,
 * ) {
 *   const mix = new MixReceiver("mix.wav");
 *   mix.push(rtpPacket, performance.now()); // each mix packet
 *   mix.tick(performance.now()); // every 20 ms: writes 20 ms of audio
 *   const video = new VideoReceiver({ ownSsrc, dir: "rec", nameOf, sendPli, onRecording });
 *   video.push(rtpPacket, performance.now());
 *   mix.close();
 *   video.close();
 * }
 * ```
 * @module
 */

import { JitterBuffer } from "../media/jitter_buffer.ts";
import { createOpusDecoder, type OpusDecoder } from "../media/opus.ts";
import { type RtpPacket, timestampDiff } from "../media/rtp.ts";
import { isVp8KeyframeStart, Vp8FrameAssembler } from "../media/vp8.ts";
import { NackGenerator } from "../media/nack_generator.ts";
import { OPUS_FRAME_SAMPLES } from "../protocol/media.ts";
import { IvfWriter, vp8FrameInfo } from "./ivf.ts";
import { RATE_48K, WavWriter } from "./wav.ts";

/**
 * Least time between two PLIs for one sender.
 *
 * @example
 * ```ts
 * function onLoss(ssrc: number, lastPliAt: number, sendPli: (ssrc: number) => void) {
 *   const now = performance.now();
 *   if (now - lastPliAt >= PLI_INTERVAL_MS) sendPli(ssrc);
 * }
 * ```
 */
export const PLI_INTERVAL_MS = 500;
/** A sender not heard from for this long is not asked for keyframes. */
const SENDER_QUIET_MS = 2_000;
/** Most video senders tracked at once. */
const MAX_STREAMS = 64;

/** Most audio streams played at once (the mix, and the peer's voice around a switch). */
const MAX_AUDIO_STREAMS = 4;
/** An audio stream not heard from for this long is forgotten. */
const AUDIO_STREAM_IDLE_MS = 2_000;

interface AudioStream {
  buffer: JitterBuffer;
  decoder: OpusDecoder | null;
  lastPacketAt: number;
}

/**
 * Receives the audio you hear and, with a path, plays it out on a 20 ms clock into a WAV
 * file (silence while nothing arrives, Opus concealment for lost packets). In relay mode
 * that is the server's mix (one stream); in P2P mode it is the peer's own stream, which the
 * client mixes itself: each stream (by SSRC) has its own jitter buffer and decoder, and the
 * streams playing in a tick are summed, so around a switch the end of one path and the
 * start of the other both play. A stream that has nothing in a tick is concealed only when
 * no other stream plays (a stream that ended must not add its concealment to a live one).
 *
 * @example
 * ```ts
 * const mix = new MixReceiver(null); // counts packets only
 * console.log(mix.stats.packets);
 * ```
 */
export class MixReceiver {
  readonly #writer: WavWriter | null;
  readonly #streams = new Map<number, AudioStream>();
  readonly stats = {
    packets: 0,
    bytes: 0,
    decoded: 0,
    concealed: 0,
    silent: 0,
    /** Audio streams seen (the mix, the peer's). */
    streams: 0,
    /** Ticks where more than one stream played (around a path switch). */
    overlaps: 0,
  };

  constructor(recordPath: string | null) {
    this.#writer = recordPath ? WavWriter.create(recordPath, RATE_48K) : null;
  }

  /** Seconds written to the WAV file. */
  get secondsRecorded(): number {
    return (this.#writer?.samplesWritten ?? 0) / RATE_48K;
  }

  /** Jitter buffer counters, by SSRC. */
  get buffers(): Record<number, JitterBuffer["stats"]> {
    return Object.fromEntries([...this.#streams].map(([ssrc, s]) => [ssrc, s.buffer.stats]));
  }

  /**
   * Takes one audio packet (the mix, or the peer's stream in P2P). `redundant`: a copy of an
   * earlier frame carried by a later packet (RED), kept only when that frame is missing.
   */
  push(packet: RtpPacket, nowMs: number, redundant = false): void {
    if (redundant) {
      const buffer = this.#streams.get(packet.ssrc)?.buffer;
      if (!this.#writer || !buffer || !buffer.wants(packet.sequenceNumber)) return;
    } else {
      this.stats.packets++;
      this.stats.bytes += packet.payload.length;
    }
    if (!this.#writer) return;
    let stream = this.#streams.get(packet.ssrc);
    if (!stream) {
      if (this.#streams.size >= MAX_AUDIO_STREAMS) return;
      stream = {
        buffer: new JitterBuffer({ minMs: 40, maxMs: 120 }),
        decoder: null,
        lastPacketAt: 0,
      };
      this.#streams.set(packet.ssrc, stream);
      this.stats.streams++;
    }
    stream.lastPacketAt = nowMs;
    stream.buffer.push(packet.sequenceNumber, packet.timestamp, packet.payload, nowMs);
  }

  /** One 20 ms playout period (does nothing without a WAV file). */
  tick(nowMs: number): void {
    if (!this.#writer) return;
    const frames: Int16Array[] = [];
    const missing: AudioStream[] = [];
    for (const [ssrc, stream] of this.#streams) {
      const out = stream.buffer.pop(nowMs);
      if (out === null) {
        if (nowMs - stream.lastPacketAt > AUDIO_STREAM_IDLE_MS) {
          stream.decoder?.close();
          this.#streams.delete(ssrc);
        }
        continue;
      }
      if (out.kind === "frame") {
        stream.decoder ??= createOpusDecoder();
        this.stats.decoded++;
        frames.push(stream.decoder.decode(out.payload));
      } else {
        missing.push(stream);
      }
    }
    if (frames.length === 0 && missing.length > 0) {
      for (const stream of missing) {
        stream.decoder ??= createOpusDecoder();
        this.stats.concealed++;
        frames.push(stream.decoder.decode(null));
      }
    }
    if (frames.length === 0) {
      this.stats.silent++;
      this.#writer.write(new Int16Array(OPUS_FRAME_SAMPLES));
      return;
    }
    if (frames.length === 1) {
      this.#writer.write(frames[0]);
      return;
    }
    this.stats.overlaps++;
    const sum = new Int16Array(OPUS_FRAME_SAMPLES);
    for (let i = 0; i < sum.length; i++) {
      let total = 0;
      for (const frame of frames) total += frame[i] ?? 0;
      sum[i] = Math.max(-32768, Math.min(32767, total));
    }
    this.#writer.write(sum);
  }

  /** Finishes the WAV file and frees the decoders; idempotent. */
  close(): void {
    this.#writer?.close();
    for (const stream of this.#streams.values()) stream.decoder?.close();
    this.#streams.clear();
  }
}

/**
 * Options of a {@linkcode VideoReceiver}.
 *
 * @example
 * ```ts
 * const options: VideoReceiverOptions = {
 *   ownSsrc: 7, dir: "rec", nameOf: () => "Bob", sendPli: (ssrc) => {}, onRecording: () => {},
 * };
 * ```
 */
export interface VideoReceiverOptions {
  /** Your own video SSRC (never recorded). */
  ownSsrc: number;
  /** Where to write `<name>.ivf` files; null: count packets only. */
  dir: string | null;
  /** The sender's name for a video SSRC (from the roster), if known. */
  nameOf(ssrc: number): string | undefined;
  /** Asks the server for a keyframe from this SSRC. */
  sendPli(mediaSsrc: number): void;
  /** Asks the server (or the peer) to resend these packets of this SSRC (a generic NACK). */
  sendNack?(mediaSsrc: number, lost: number[]): void;
  /** A recording file was started. */
  onRecording(name: string | undefined, ssrc: number, path: string): void;
}

interface Stream {
  ssrc: number;
  name: string | undefined;
  assembler: Vp8FrameAssembler;
  /** Gaps asked for again while the frame can still be written. */
  nacks: NackGenerator;
  writer: IvfWriter | null;
  firstTimestamp: number;
  lastTimestamp: number;
  extendedTimestamp: number;
  lastPacketAt: number;
  lastPliAt: number;
  packets: number;
  plis: number;
}

/** Longest file name {@linkcode safeFileName} makes (before a suffix and `.ivf`). */
export const MAX_FILE_NAME = 60;

/** Names Windows keeps for devices, whatever follows a dot (`con.ivf` is the console). */
const WINDOWS_DEVICE = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\.|$)/i;

/**
 * A file name made of safe characters (letters, digits, `.`, `_`, `-`), at most
 * {@linkcode MAX_FILE_NAME} long, never starting with a dot, never a Windows device name.
 *
 * @example
 * ```ts
 * safeFileName("Ann Lee/../x"); // "Ann_Lee_.._x"
 * safeFileName("CON"); // "_CON"
 * ```
 */
export function safeFileName(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^\.+/, "_").slice(0, MAX_FILE_NAME);
  return WINDOWS_DEVICE.test(safe) ? `_${safe}`.slice(0, MAX_FILE_NAME) : safe;
}

/**
 * The base name of a recording for a sender: its display name made safe, else `ssrc-N`,
 * made unique among `used` without regard to case (`Ann` and `ann` are one file on macOS
 * and Windows), and added to `used`. Display names come from other participants.
 *
 * @example
 * ```ts
 * const used = new Set<string>();
 * recordingFileBase("Ann", 1, used); // "Ann"
 * recordingFileBase("ann", 2, used); // "ann-2"
 * ```
 */
export function recordingFileBase(
  name: string | undefined,
  ssrc: number,
  used: Set<string>,
): string {
  let base = name ? safeFileName(name) : "";
  if (!base) base = `ssrc-${ssrc}`;
  const candidates = [base, `${base}-${ssrc}`];
  let chosen = candidates.find((c) => !used.has(c.toLowerCase()));
  for (let n = 2; chosen === undefined; n++) {
    const c = `${base}-${ssrc}-${n}`;
    if (!used.has(c.toLowerCase())) chosen = c;
  }
  used.add(chosen.toLowerCase());
  return chosen;
}

/**
 * Receives other participants' video; with a directory, writes each sender's frames to an
 * IVF file named after them (or their SSRC), starting at a keyframe.
 *
 * @example
 * ```ts
 * const receiver = new VideoReceiver({ ownSsrc: 7, dir: null, nameOf: () => undefined,
 *   sendPli: () => {}, onRecording: () => {} });
 * console.log(receiver.stats.packets); // 0
 * ```
 */
export class VideoReceiver {
  readonly #options: VideoReceiverOptions;
  readonly #streams = new Map<number, Stream>();
  readonly #usedNames = new Set<string>();
  readonly stats = { packets: 0, bytes: 0, plisSent: 0 };

  constructor(options: VideoReceiverOptions) {
    this.#options = options;
  }

  /** Per sender: packets, frames written, PLIs sent, file. */
  get streams(): Array<Record<string, unknown>> {
    return [...this.#streams.values()].map((s) => ({
      ssrc: s.ssrc,
      name: s.name ?? null,
      packets: s.packets,
      framesWritten: s.writer?.frameCount ?? 0,
      framesDropped: s.assembler.stats.framesDropped,
      packetsRecovered: s.nacks.stats.recovered,
      nacksRequested: s.nacks.stats.requested,
      plis: s.plis,
      path: s.writer?.path ?? null,
    }));
  }

  /** Frames written for a sender's SSRC. */
  framesWritten(ssrc: number): number {
    return this.#streams.get(ssrc)?.writer?.frameCount ?? 0;
  }

  /** Takes one video packet. */
  push(packet: RtpPacket, nowMs: number): void {
    if (packet.ssrc === this.#options.ownSsrc) return;
    this.stats.packets++;
    this.stats.bytes += packet.payload.length;
    if (this.#options.dir === null) return;
    let stream = this.#streams.get(packet.ssrc);
    if (!stream) {
      if (this.#streams.size >= MAX_STREAMS) return;
      stream = {
        ssrc: packet.ssrc,
        name: undefined,
        assembler: new Vp8FrameAssembler({ skipUntilKeyframe: true, maxWaitMs: 180 }),
        nacks: new NackGenerator({ maxAgeMs: 180 }),
        writer: null,
        firstTimestamp: 0,
        lastTimestamp: 0,
        extendedTimestamp: 0,
        lastPacketAt: nowMs,
        lastPliAt: -Infinity,
        packets: 0,
        plis: 0,
      };
      this.#streams.set(packet.ssrc, stream);
    }
    if (!stream.nacks.push(packet.sequenceNumber, nowMs)) return; // a duplicate
    if (isVp8KeyframeStart(packet.payload)) stream.nacks.forgetBefore(packet.sequenceNumber);
    stream.packets++;
    stream.lastPacketAt = nowMs;
    this.#write(stream, stream.assembler.push(packet, nowMs), nowMs);
  }

  /** Asks for lost packets again, releases frames held behind one; call every 10-40 ms. */
  poll(nowMs: number): void {
    for (const stream of this.#streams.values()) {
      if (this.#options.sendNack && stream.nacks.missingCount > 0) {
        const lost = stream.nacks.due(nowMs);
        if (lost.length > 0) this.#options.sendNack(stream.ssrc, lost);
      }
      this.#write(stream, stream.assembler.poll(nowMs), nowMs);
    }
  }

  /** Finishes every file; idempotent. */
  close(): void {
    for (const stream of this.#streams.values()) stream.writer?.close();
  }

  #write(stream: Stream, frames: ReturnType<Vp8FrameAssembler["push"]>, nowMs: number): void {
    for (const frame of frames) {
      if (!stream.writer) {
        const info = vp8FrameInfo(frame.data);
        if (!info.keyframe) continue;
        stream.writer = this.#open(stream, info.width ?? 0, info.height ?? 0);
        stream.firstTimestamp = frame.rtpTimestamp;
        stream.lastTimestamp = frame.rtpTimestamp;
        stream.extendedTimestamp = 0;
      }
      stream.extendedTimestamp += timestampDiff(frame.rtpTimestamp, stream.lastTimestamp);
      stream.lastTimestamp = frame.rtpTimestamp;
      stream.writer.write(Math.max(0, stream.extendedTimestamp), frame.data);
    }
    const wanted = stream.assembler.needsKeyframe;
    if (
      wanted && nowMs - stream.lastPliAt >= PLI_INTERVAL_MS &&
      nowMs - stream.lastPacketAt < SENDER_QUIET_MS
    ) {
      stream.lastPliAt = nowMs;
      stream.plis++;
      this.stats.plisSent++;
      this.#options.sendPli(stream.ssrc);
    }
  }

  #open(stream: Stream, width: number, height: number): IvfWriter {
    const name = this.#options.nameOf(stream.ssrc);
    stream.name = name;
    const base = recordingFileBase(name, stream.ssrc, this.#usedNames);
    const path = `${this.#options.dir}/${base}.ivf`;
    const writer = IvfWriter.create(path, { width, height });
    this.#options.onRecording(name, stream.ssrc, path);
    return writer;
  }
}
