/**
 * Sends a camera: its track's frames (MediaStreamTrackProcessor) go through a VP8
 * `VideoEncoder` in real-time mode, each encoded frame is split into RTP packets of at most
 * 1200 bytes (marker on the last) carrying the capture time. A keyframe goes out every few
 * seconds and whenever a receiver asks (PLI). Frames are skipped, never queued, when the
 * encoder or the transport falls behind. Every VideoFrame is closed.
 *
 * The sender owns its track: `close()` stops it (the camera light goes off).
 *
 * @example
 * ```ts
 * const [track] = (await navigator.mediaDevices.getUserMedia({ video: true })).getVideoTracks();
 * const sender = new VideoSender({ track, stream: videoStream, transport });
 * sender.requestKeyframe(); // on a PLI
 * sender.close();
 * ```
 * @module
 */

import "./dom.ts";
import { packetizeVp8 } from "../../media/vp8.ts";
import { MAX_PAYLOAD_WITH_CAPTURE_TIME, type RtpStream } from "./rtp_stream.ts";
import { ClockMapper, wallClock } from "./clock.ts";
import { KeyframeSchedule } from "./keyframe_schedule.ts";
import { RateMeter } from "./stats.ts";
import { PacketHistory, rtpSequenceNumber } from "../../media/packet_history.ts";

/**
 * What a sender needs of the transport.
 *
 * @example
 * ```ts
 * const sink: PacketSink = { send: (b) => socket.send(b) || true, congested: false };
 * ```
 */
export interface PacketSink {
  send(bytes: Uint8Array): boolean;
  /** True when the link is backed up: skip what can be skipped. */
  readonly congested: boolean;
}

/**
 * Options of a {@linkcode VideoSender}.
 *
 * @example
 * ```ts
 * const options: VideoSenderOptions = { track, stream, transport, bitrate: 600_000 };
 * ```
 */
export interface VideoSenderOptions {
  /** The camera track; the sender owns it from now on. */
  track: MediaStreamTrack;
  /** The outgoing RTP stream (VP8 payload type, 90 kHz). */
  stream: RtpStream;
  transport: PacketSink;
  /** Target bitrate, bit/s (default 800 000). */
  bitrate?: number;
  /** Frame rate the encoder is tuned for (default 30). */
  framerate?: number;
  /** Longest time between keyframes (default `KEYFRAME_INTERVAL_MS`, 10 s). */
  keyframeIntervalMs?: number;
  /** Called when encoding fails for good (e.g. no VP8 encoder). */
  onError?(error: Error): void;
}

/**
 * Counters of a {@linkcode VideoSender}.
 *
 * @example
 * ```ts
 * const { framesEncoded, keyframes } = sender.stats;
 * ```
 */
export interface VideoSenderStats {
  framesCaptured: number;
  framesEncoded: number;
  keyframes: number;
  /** Frames skipped because the encoder or the link was behind. */
  framesSkipped: number;
  /** Packets sent again on a NACK. */
  packetsResent: number;
  /** Times the encoder's bitrate was changed on the receivers' word (REMB). */
  bitrateChanges: number;
  /** What the encoder is set to now, bit/s. */
  targetBitrate: number;
  /** Encoded frames per second (last second). */
  fps: number;
  /** Bits per second sent (last second), headers included. */
  bitrate: number;
  /** Mean time from capture to packets sent, ms (last frames). */
  encodeMs: number;
  width: number;
  height: number;
}

/** Least bitrate a sender's encoder is set to, whatever its receivers ask, bit/s. */
export const MIN_VIDEO_BITRATE = 50_000;

/**
 * The scale of the camera's picture the encoder sends at `bps`: 1 from 300 kbit/s, 3/4
 * (480x270 of a 640x360 camera) from 150, 1/2 below; to go back up the bitrate must be 20%
 * past the step, so that a bitrate hovering at one does not resize (each resize is a
 * keyframe). At 75 kbit/s a 640x360 keyframe takes 2 s of the stream; a 320x180 one a
 * quarter of that, and the picture is sharper for it (Chromium's own steps for VP8 are
 * alike: 480x270 at ~270 kbit/s).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(scaleForBitrate(800_000, 1), 1);
 * assert.equal(scaleForBitrate(200_000, 1), 0.75);
 * assert.equal(scaleForBitrate(320_000, 0.75), 0.75); // not yet 20% past 300
 * assert.equal(scaleForBitrate(100_000, 0.75), 0.5);
 * ```
 */
export function scaleForBitrate(bps: number, current: number): number {
  const steps: [number, number][] = [[300_000, 1], [150_000, 0.75]];
  for (const [from, scale] of steps) {
    const need = scale > current ? from * 1.2 : from;
    if (bps >= need) return scale;
  }
  return 0.5;
}

/** A side of the picture at `scale`, even (VP8's chroma is half the size). */
const scaled = (side: number, scale: number) => Math.max(2, 2 * Math.round((side * scale) / 2));

/** Encodes one camera track to VP8 RTP. */
export class VideoSender {
  readonly track: MediaStreamTrack;
  readonly #stream: RtpStream;
  readonly #transport: PacketSink;
  /** The last packets sent, for the NACKs of the server (upstream) or, in P2P, of the peer. */
  readonly #history = new PacketHistory();
  /** The most this sender sends, bit/s (its option). */
  readonly #maxBitrate: number;
  /** What the encoder is set to now: the most, or less when the receivers asked (REMB). */
  #bitrate: number;
  readonly #framerate: number;
  readonly #keyframes: KeyframeSchedule;
  readonly #onError: (error: Error) => void;
  #reader: ReadableStreamDefaultReader<VideoFrame> | null = null;
  #encoder: VideoEncoder | null = null;
  #size = { width: 0, height: 0 };
  /** The scale of the camera's picture sent (scaleForBitrate). */
  #scale = 1;
  #pictureId = Math.floor(Math.random() * 0x8000);
  /** Capture time (ms since the epoch) by frame timestamp (µs), until encoded. */
  #captures = new Map<number, number>();
  /** Camera frame timestamps to the wall clock. */
  #cameraClock = new ClockMapper();
  #closed = false;
  #fps = new RateMeter(1000);
  #bits = new RateMeter(1000);
  #encodeMs = 0;
  #counters = {
    framesCaptured: 0,
    framesEncoded: 0,
    keyframes: 0,
    framesSkipped: 0,
    packetsResent: 0,
    bitrateChanges: 0,
  };

  constructor(options: VideoSenderOptions) {
    this.track = options.track;
    this.#stream = options.stream;
    this.#transport = options.transport;
    this.#maxBitrate = this.#bitrate = options.bitrate ?? 800_000;
    this.#scale = scaleForBitrate(this.#bitrate, 1);
    this.#framerate = options.framerate ?? 30;
    this.#keyframes = new KeyframeSchedule(options.keyframeIntervalMs);
    this.#onError = options.onError ?? ((e) => console.error("video sender:", e));
    this.#run().catch((err) => {
      if (!this.#closed) this.#onError(err instanceof Error ? err : new Error(String(err)));
    });
  }

  /**
   * A receiver asked for a keyframe (a PLI): the next frame is one, or the first after
   * `MIN_KEYFRAME_GAP_MS` since the last keyframe (see KeyframeSchedule).
   */
  requestKeyframe(): void {
    this.#keyframes.request();
  }

  /**
   * The receivers' links take at most `bps` (a REMB from the server, or in P2P from the
   * peer): the encoder is set to that, within [{@linkcode MIN_VIDEO_BITRATE}, the sender's
   * own bitrate]. A change under 5% is ignored. Chromium keeps the encoder's state when only
   * the bitrate changes: no keyframe. Below 300 kbit/s the picture is sent smaller
   * ({@linkcode scaleForBitrate}), from a keyframe.
   */
  setTargetBitrate(bps: number): void {
    if (this.#closed || !Number.isFinite(bps)) return;
    const target = Math.round(Math.max(MIN_VIDEO_BITRATE, Math.min(this.#maxBitrate, bps)));
    if (Math.abs(target - this.#bitrate) < this.#bitrate * 0.05) return;
    this.#bitrate = target;
    this.#counters.bitrateChanges++;
    const scale = scaleForBitrate(target, this.#scale);
    const resized = scale !== this.#scale;
    this.#scale = scale;
    const encoder = this.#encoder;
    if (encoder && encoder.state === "configured") {
      encoder.configure(this.#config(this.#size));
      // A new size starts from a keyframe (a decoder can take a new size only there).
      if (resized) this.#keyframes.force();
    }
  }

  /**
   * The server (or, in P2P, the peer) reports packets lost (a generic NACK): those still kept
   * are sent again, as they were (at most 64 per NACK). Returns how many.
   */
  resend(seqs: readonly number[]): number {
    if (this.#closed) return 0;
    const sent = this.#history.resend(seqs, (packet) => this.#transport.send(packet));
    this.#counters.packetsResent += sent;
    return sent;
  }

  /** A snapshot of the counters. */
  get stats(): VideoSenderStats {
    const now = performance.now();
    return {
      ...this.#counters,
      targetBitrate: this.#bitrate,
      fps: this.#fps.rate(now),
      bitrate: this.#bits.rate(now),
      encodeMs: this.#encodeMs,
      width: this.#size.width && scaled(this.#size.width, this.#scale),
      height: this.#size.height && scaled(this.#size.height, this.#scale),
    };
  }

  /** Stops capturing and encoding, and stops the track. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#reader?.cancel().catch(() => {});
    this.#closeEncoder();
    this.track.stop();
    this.#captures.clear();
  }

  async #run(): Promise<void> {
    const Processor = globalThis.MediaStreamTrackProcessor;
    if (!Processor) throw new Error("this browser cannot read camera frames");
    const processor = new Processor({ track: this.track, maxBufferSize: 2 });
    this.#reader = processor.readable.getReader();
    while (!this.#closed) {
      const { value: frame, done } = await this.#reader.read();
      if (done) break;
      if (this.#closed) {
        frame.close();
        break;
      }
      this.#counters.framesCaptured++;
      this.#encode(frame);
    }
  }

  /** Encodes one frame (or skips it) and closes it. */
  #encode(frame: VideoFrame): void {
    try {
      // Frames carry their capture time on the camera's clock (µs).
      const captureMs = this.#cameraClock.toWallClock(frame.timestamp / 1000);
      const encoder = this.#encoderFor(frame.displayWidth, frame.displayHeight);
      if (encoder.encodeQueueSize > 1 || this.#transport.congested) {
        this.#counters.framesSkipped++;
        return;
      }
      const keyFrame = this.#keyframes.next(captureMs);
      this.#captures.set(frame.timestamp, captureMs);
      if (this.#captures.size > 60) this.#captures.delete(this.#captures.keys().next().value!);
      encoder.encode(frame, { keyFrame });
    } finally {
      frame.close();
    }
  }

  #encoderFor(width: number, height: number): VideoEncoder {
    if (this.#encoder && this.#encoder.state === "configured") {
      if (width === this.#size.width && height === this.#size.height) return this.#encoder;
    }
    this.#closeEncoder();
    const encoder = new VideoEncoder({
      output: (chunk) => this.#send(chunk),
      error: (err) => {
        // The encoder is closed now; the next frame makes a new one, starting with a keyframe.
        console.warn("video encoder error:", err);
        if (this.#encoder === encoder) this.#encoder = null;
      },
    });
    encoder.configure(this.#config({ width, height }));
    this.#encoder = encoder;
    this.#size = { width, height };
    this.#keyframes.force();
    return encoder;
  }

  /** The encoder's settings for camera frames of `size`: scaled (the encoder resizes). */
  #config(size: { width: number; height: number }): VideoEncoderConfig {
    return {
      codec: "vp8",
      width: scaled(size.width, this.#scale),
      height: scaled(size.height, this.#scale),
      bitrate: this.#bitrate,
      // Constant: Chromium's VP8 encoder then follows a new bitrate given to configure() at
      // once (variable kept sending 140-150 kbit/s when set from 800 to 100).
      bitrateMode: "constant",
      framerate: this.#framerate,
      latencyMode: "realtime",
    };
  }

  #closeEncoder(): void {
    const encoder = this.#encoder;
    this.#encoder = null;
    if (encoder && encoder.state !== "closed") encoder.close();
  }

  #send(chunk: EncodedVideoChunk): void {
    if (this.#closed) return;
    const now = wallClock();
    const captureMs = this.#captures.get(chunk.timestamp) ?? now;
    this.#captures.delete(chunk.timestamp);
    const data = new Uint8Array(chunk.byteLength);
    chunk.copyTo(data);
    const timestamp = this.#stream.timeline.at(captureMs);
    const payloads = packetizeVp8(data, {
      maxPayloadSize: MAX_PAYLOAD_WITH_CAPTURE_TIME,
      pictureId: this.#pictureId,
    });
    this.#pictureId = (this.#pictureId + 1) & 0x7fff;
    let bytes = 0;
    payloads.forEach((payload, i) => {
      const packet = this.#stream.packet({
        timestamp,
        payload,
        captureMs,
        sendMs: performance.now(),
        marker: i === payloads.length - 1,
      });
      bytes += packet.length;
      this.#history.put(rtpSequenceNumber(packet), packet);
      this.#transport.send(packet);
    });
    const t = performance.now();
    this.#counters.framesEncoded++;
    if (chunk.type === "key") this.#counters.keyframes++;
    this.#fps.add(1, t);
    this.#bits.add(bytes * 8, t);
    this.#encodeMs += (wallClock() - captureMs - this.#encodeMs) / 16;
  }
}
