/**
 * Sends a camera: its track's frames (MediaStreamTrackProcessor) go through a VP8
 * `VideoEncoder` in real-time mode, each encoded frame is split into RTP packets of at most
 * 1200 bytes (marker on the last) carrying the capture time. A keyframe goes out every 10 s
 * and whenever a receiver asks (PLI). Frames are skipped, never queued, when the
 * encoder or the transport falls behind. Every VideoFrame is closed.
 *
 * While the server asks for it (a REMB naming `smallVideoSsrc`, repeated at least every 2 s),
 * the same frames also go through a second encoder: the small encoding, at half the camera's
 * size and at most 300 kbit/s, on its own SSRC and sequence numbers but with the same RTP
 * timestamps, which the server forwards to receivers whose links cannot take the full one.
 * Each encoding is a {@linkcode VideoEncoding}.
 *
 * The sender owns its track: `close()` stops it (the camera light goes off).
 *
 * @example
 * ```ts
 * import type { RtpStream } from "./rtp_stream.ts";
 *
 * async function sendCamera(videoStream: RtpStream, smallStream: RtpStream, transport: PacketSink) {
 *   const media = await navigator.mediaDevices.getUserMedia({ video: true });
 *   const [track] = media.getVideoTracks();
 *   const sender = new VideoSender({ track, stream: videoStream, smallStream, transport });
 *   sender.requestKeyframe(); // on a PLI
 *   sender.setSmallBitrate(150_000); // on a REMB naming smallVideoSsrc
 *   sender.close();
 * }
 * ```
 * @module
 */

import "./dom.ts";
import type { RtpStream } from "./rtp_stream.ts";
import { ClockMapper } from "./clock.ts";
import { type PacketSink, VideoEncoding, type VideoEncodingStats } from "./video_encoding.ts";

export type { PacketSink } from "./video_encoding.ts";

/**
 * Options of a {@linkcode VideoSender}.
 *
 * @example
 * ```ts
 * import type { RtpStream } from "./rtp_stream.ts";
 *
 * function optionsFor(
 *   track: MediaStreamTrack,
 *   stream: RtpStream,
 *   smallStream: RtpStream,
 *   transport: PacketSink,
 * ): VideoSenderOptions {
 *   return { track, stream, smallStream, transport, bitrate: 600_000 };
 * }
 * ```
 */
export interface VideoSenderOptions {
  /** The camera track; the sender owns it from now on. */
  track: MediaStreamTrack;
  /** The outgoing RTP stream of the full encoding (VP8 payload type, 90 kHz; `videoSsrc`). */
  stream: RtpStream;
  /**
   * The RTP stream of the small encoding (`smallVideoSsrc`; VP8, 90 kHz), whose timestamps
   * are taken from `stream`'s timeline. Without it there is no small encoding.
   */
  smallStream?: RtpStream;
  transport: PacketSink;
  /** Target bitrate of the full encoding, bit/s (default 800 000). */
  bitrate?: number;
  /** Frame rate the encoders are tuned for (default 30). */
  framerate?: number;
  /** Longest time between keyframes (default `KEYFRAME_INTERVAL_MS`, 10 s). */
  keyframeIntervalMs?: number;
  /** Called when encoding fails for good (e.g. no VP8 encoder). */
  onError?(error: Error): void;
  /**
   * Encode in three temporal layers where the browser can (default true): a lost frame of an
   * upper layer then costs a receiver one frame, not a keyframe (see `TemporalLayering`).
   */
  temporalLayers?: boolean;
}

/**
 * Counters of the small encoding of a {@linkcode VideoSender}.
 *
 * @example
 * ```ts
 * function smallOf(sender: VideoSender): string {
 *   const { active, bitrate, width } = sender.stats.small;
 *   return active ? `${width} wide at ${bitrate} bit/s` : "off";
 * }
 * ```
 */
export interface SmallVideoStats {
  /** Whether the small encoding is on now (asked by the server, and not stopped since). */
  active: boolean;
  /** What its encoder is set to, bit/s (0 while off). */
  targetBitrate: number;
  /** Frames and keyframes it encoded, over the sender's life. */
  framesEncoded: number;
  keyframes: number;
  /** Frames it skipped because its encoder or the link was behind. */
  framesSkipped: number;
  /** Its packets sent again on a NACK. */
  packetsResent: number;
  /** Encoded frames per second (last second). */
  fps: number;
  /** Bits per second sent (last second), headers included. */
  bitrate: number;
  /** Size of the picture it sends (0 while off). */
  width: number;
  height: number;
}

/**
 * The small encoding's figures while there is none (never asked for, or no camera).
 *
 * @example
 * ```ts
 * console.log(SMALL_VIDEO_OFF.active); // false
 * ```
 */
export const SMALL_VIDEO_OFF: Readonly<SmallVideoStats> = {
  active: false,
  targetBitrate: 0,
  framesEncoded: 0,
  keyframes: 0,
  framesSkipped: 0,
  packetsResent: 0,
  fps: 0,
  bitrate: 0,
  width: 0,
  height: 0,
};

/**
 * Counters of a {@linkcode VideoSender}: the full encoding's, and the small encoding's.
 *
 * @example
 * ```ts
 * function summary(sender: VideoSender): string {
 *   const { framesEncoded, keyframes, small } = sender.stats;
 *   return `${framesEncoded} frames, ${keyframes} keyframes, small ${small.active}`;
 * }
 * ```
 */
export interface VideoSenderStats extends VideoEncodingStats {
  /** Frames the camera gave. */
  framesCaptured: number;
  /** The small encoding. */
  small: SmallVideoStats;
}

/** Least bitrate a sender's encoder is set to, whatever its receivers ask, bit/s. */
export const MIN_VIDEO_BITRATE = 50_000;

/** Most the small encoding is set to, whatever the server asks, bit/s. */
export const MAX_SMALL_VIDEO_BITRATE = 300_000;

/**
 * The small encoding stops when no REMB named it for this long, ms: the server repeats its
 * ask at least every 2 s while it wants it, so a lost REMB or two do not stop it, and a server
 * that stopped asking (or a P2P peer, which never asks) costs the page nothing for long.
 */
export const SMALL_VIDEO_TIMEOUT_MS = 5000;

/** The scale of the camera's picture the small encoding sends: half (320x180 of 640x360). */
export const SMALL_VIDEO_SCALE = 0.5;

/**
 * Whether, and at what bitrate, the small encoding is wanted: the last REMB naming
 * `smallVideoSsrc` (0: stop), for {@linkcode SMALL_VIDEO_TIMEOUT_MS} after it came. Pure:
 * times are passed in.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const request = new SmallVideoRequest();
 * assert.equal(request.bitrate(0), 0); // off until asked
 * request.ask(120_000, 1000);
 * assert.equal(request.bitrate(1500), 120_000);
 * assert.equal(request.bitrate(6000), 0); // not asked again for 5 s
 * ```
 */
export class SmallVideoRequest {
  #bps = 0;
  #askedAt = -Infinity;

  /** @param timeoutMs how long an ask lasts */
  constructor(readonly timeoutMs = SMALL_VIDEO_TIMEOUT_MS) {}

  /**
   * A REMB asked for `bps` at `nowMs`: kept within [{@linkcode MIN_VIDEO_BITRATE},
   * {@linkcode MAX_SMALL_VIDEO_BITRATE}]; 0 (or less) stops the small encoding.
   */
  ask(bps: number, nowMs: number): void {
    if (!Number.isFinite(bps)) return;
    if (bps <= 0) {
      this.#bps = 0;
      this.#askedAt = -Infinity;
      return;
    }
    this.#bps = Math.round(Math.max(MIN_VIDEO_BITRATE, Math.min(MAX_SMALL_VIDEO_BITRATE, bps)));
    this.#askedAt = nowMs;
  }

  /** The bitrate the small encoding should run at, at `nowMs`; 0: off. */
  bitrate(nowMs: number): number {
    // A clock that stepped back keeps the ask rather than dropping it.
    return nowMs - this.#askedAt < this.timeoutMs ? this.#bps : 0;
  }
}

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

/** Encodes one camera track to VP8 RTP, at full size and, while asked, small. */
export class VideoSender {
  readonly track: MediaStreamTrack;
  /** The full encoding's stream, whose timeline stamps every encoding's frames. */
  readonly #stream: RtpStream;
  readonly #full: VideoEncoding;
  /** The small encoding, when the sender was given a stream for it. */
  readonly #small: VideoEncoding | null;
  readonly #smallRequest = new SmallVideoRequest();
  /** Whether the small encoding is on (asked, and the ask not expired). */
  #smallActive = false;
  readonly #onError: (error: Error) => void;
  #reader: ReadableStreamDefaultReader<VideoFrame> | null = null;
  /** Camera frames' timestamps to the wall clock. */
  #cameraClock = new ClockMapper();
  #closed = false;
  #framesCaptured = 0;

  constructor(options: VideoSenderOptions) {
    this.track = options.track;
    this.#stream = options.stream;
    const bitrate = options.bitrate ?? 800_000;
    const common = {
      transport: options.transport,
      framerate: options.framerate,
      keyframeIntervalMs: options.keyframeIntervalMs,
      minBitrate: MIN_VIDEO_BITRATE,
      timeline: options.stream.timeline,
      temporalLayers: options.temporalLayers ?? true,
    };
    this.#full = new VideoEncoding({
      ...common,
      stream: options.stream,
      bitrate,
      maxBitrate: bitrate,
      scaleFor: scaleForBitrate,
    });
    this.#small = options.smallStream
      ? new VideoEncoding({
        ...common,
        stream: options.smallStream,
        bitrate: MAX_SMALL_VIDEO_BITRATE,
        maxBitrate: MAX_SMALL_VIDEO_BITRATE,
        scaleFor: () => SMALL_VIDEO_SCALE,
        label: "small video",
      })
      : null;
    this.#onError = options.onError ?? ((e) => console.error("video sender:", e));
    this.#run().catch((err) => {
      if (!this.#closed) this.#onError(err instanceof Error ? err : new Error(String(err)));
    });
  }

  /**
   * A receiver asked for a keyframe of the full encoding (a PLI on `videoSsrc`): the next
   * frame is one, or the first after `MIN_KEYFRAME_GAP_MS` since the last keyframe (see
   * KeyframeSchedule).
   */
  requestKeyframe(): void {
    this.#full.requestKeyframe();
  }

  /** The same for the small encoding (a PLI on `smallVideoSsrc`). */
  requestSmallKeyframe(): void {
    this.#small?.requestKeyframe();
  }

  /**
   * The receivers of the full encoding take at most `bps` (a REMB on `videoSsrc` from the
   * server, or in P2P from the peer): the encoder is set to that, within
   * [{@linkcode MIN_VIDEO_BITRATE}, the sender's own bitrate]. A change under 5% is ignored.
   * Chromium keeps the encoder's state when only the bitrate changes: no keyframe. Below
   * 300 kbit/s the picture is sent smaller ({@linkcode scaleForBitrate}), from a keyframe.
   */
  setTargetBitrate(bps: number): void {
    if (this.#closed) return;
    this.#full.setBitrate(bps);
  }

  /**
   * The server asks for the small encoding at `bps` (a REMB on `smallVideoSsrc`), within
   * [{@linkcode MIN_VIDEO_BITRATE}, {@linkcode MAX_SMALL_VIDEO_BITRATE}]; 0 stops it. It
   * starts with the next frame, from a keyframe, and stops by itself when not asked again
   * for {@linkcode SMALL_VIDEO_TIMEOUT_MS} (see {@linkcode SmallVideoRequest}).
   */
  setSmallBitrate(bps: number): void {
    if (this.#closed || !this.#small) return;
    const now = performance.now();
    this.#smallRequest.ask(bps, now);
    this.#applySmallRequest(now);
  }

  /**
   * The server (or, in P2P, the peer) reports packets of the full encoding lost (a generic
   * NACK on `videoSsrc`): those still kept are sent again, as they were (at most 64 per
   * NACK). Returns how many.
   */
  resend(seqs: readonly number[]): number {
    if (this.#closed) return 0;
    return this.#full.resend(seqs);
  }

  /** The same for the small encoding (a NACK on `smallVideoSsrc`), from its own history. */
  resendSmall(seqs: readonly number[]): number {
    if (this.#closed || !this.#small) return 0;
    return this.#small.resend(seqs);
  }

  /** A snapshot of the counters. */
  get stats(): VideoSenderStats {
    const small = this.#small?.stats;
    const active = this.#smallActive;
    return {
      ...this.#full.stats,
      framesCaptured: this.#framesCaptured,
      small: small
        ? {
          active,
          targetBitrate: active ? small.targetBitrate : 0,
          framesEncoded: small.framesEncoded,
          keyframes: small.keyframes,
          framesSkipped: small.framesSkipped,
          packetsResent: small.packetsResent,
          fps: small.fps,
          bitrate: small.bitrate,
          width: active ? small.width : 0,
          height: active ? small.height : 0,
        }
        : { ...SMALL_VIDEO_OFF },
    };
  }

  /** Stops capturing and both encodings, and stops the track. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#smallActive = false;
    this.#reader?.cancel().catch(() => {});
    this.#full.close();
    this.#small?.close();
    this.track.stop();
  }

  /** Where frames of an unnamed pixel format are redrawn (see #encodable). */
  #canvas: OffscreenCanvas | null = null;

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
      this.#framesCaptured++;
      this.#encode(frame);
    }
  }

  /**
   * A frame the encoder can take: as it is, or, for a camera whose pixel format the browser
   * does not name (16-bit depth cameras; the encoder fails on those), drawn into a canvas first.
   * The given frame is closed when a new one is made.
   */
  #encodable(frame: VideoFrame): VideoFrame {
    if (frame.format !== null) return frame;
    const { displayWidth: width, displayHeight: height } = frame;
    if (!this.#canvas || this.#canvas.width !== width || this.#canvas.height !== height) {
      this.#canvas = new OffscreenCanvas(width, height);
    }
    try {
      this.#canvas.getContext("2d")!.drawImage(frame, 0, 0);
      return new VideoFrame(this.#canvas, { timestamp: frame.timestamp });
    } finally {
      frame.close();
    }
  }

  /** Encodes one frame in each encoding on (or skips it) and closes it. */
  #encode(captured: VideoFrame): void {
    const frame = this.#encodable(captured);
    try {
      // Frames carry their capture time on the camera's clock (µs).
      const captureMs = this.#cameraClock.toWallClock(frame.timestamp / 1000);
      // One timestamp per captured frame, whichever encodings carry it: a receiver the server
      // moves from one encoding to the other sees one timeline.
      const timestamp = this.#stream.timeline.at(captureMs);
      this.#full.encode(frame, captureMs, timestamp);
      this.#applySmallRequest(performance.now());
      if (this.#smallActive) this.#small!.encode(frame, captureMs, timestamp);
    } finally {
      frame.close();
    }
  }

  /** Starts, re-targets or stops the small encoding as it is asked now. */
  #applySmallRequest(now: number): void {
    const small = this.#small;
    if (!small) return;
    const bps = this.#smallRequest.bitrate(now);
    if (bps > 0) {
      small.setBitrate(bps);
      this.#smallActive = true;
    } else if (this.#smallActive) {
      this.#smallActive = false;
      small.stop();
    }
  }
}
