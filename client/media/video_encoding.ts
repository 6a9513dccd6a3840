/**
 * One VP8 encoding of a camera: its `VideoEncoder` (real-time, constant bitrate), its RTP
 * stream, the history its lost packets are resent from, its keyframe schedule, its bitrate
 * and the scale of the camera's picture it sends. A {@linkcode VideoSender} feeds it the
 * camera's frames: one encoding always (the full one, on `videoSsrc`), and a second, smaller
 * one while the server asks for it (on `smallVideoSsrc`, see protocol/media.ts).
 *
 * The RTP timestamp of a frame is given by the sender, the same for every encoding of one
 * captured frame, so that a receiver the server switches between encodings sees one timeline.
 *
 * @example
 * ```ts
 * import type { RtpStream } from "./rtp_stream.ts";
 *
 * function encodeSmall(
 *   smallStream: RtpStream,
 *   fullStream: RtpStream,
 *   transport: PacketSink,
 *   frame: VideoFrame,
 *   captureMs: number,
 * ) {
 *   const small = new VideoEncoding({
 *     stream: smallStream, transport, bitrate: 150_000, minBitrate: 50_000,
 *     maxBitrate: 300_000, scaleFor: () => 0.5,
 *   });
 *   small.encode(frame, captureMs, fullStream.timeline.at(captureMs)); // then frame.close()
 *   small.stop(); // not wanted any more: the next encode() starts again from a keyframe
 * }
 * ```
 * @module
 */

import "./dom.ts";
import { packetizeVp8, type Vp8TemporalLayer } from "../../media/vp8.ts";
import { MAX_PAYLOAD_WITH_CAPTURE_TIME, type RtpStream, type RtpTimeline } from "./rtp_stream.ts";
import { wallClock } from "./clock.ts";
import { KeyframeSchedule } from "./keyframe_schedule.ts";
import { RateMeter } from "./stats.ts";
import { PacketHistory, rtpSequenceNumber } from "../../media/packet_history.ts";

/**
 * What a sender needs of the transport.
 *
 * @example
 * ```ts
 * function sinkOf(socket: WebSocket): PacketSink {
 *   return { send: (b) => (socket.send(b), true), congested: false };
 * }
 * ```
 */
export interface PacketSink {
  send(bytes: Uint8Array): boolean;
  /** True when the link is backed up: skip what can be skipped. */
  readonly congested: boolean;
}

/**
 * Options of a {@linkcode VideoEncoding}.
 *
 * @example
 * ```ts
 * import type { RtpStream } from "./rtp_stream.ts";
 *
 * function fullOptions(stream: RtpStream, transport: PacketSink): VideoEncodingOptions {
 *   return {
 *     stream, transport, bitrate: 800_000, minBitrate: 50_000, maxBitrate: 800_000,
 *     scaleFor: (bps) => (bps >= 300_000 ? 1 : 0.5),
 *   };
 * }
 * ```
 */
export interface VideoEncodingOptions {
  /** Its RTP stream (VP8 payload type, 90 kHz): its SSRC and its own sequence numbers. */
  stream: RtpStream;
  /**
   * The timeline the frames' RTP timestamps come from, shared by the encodings of one camera
   * (default the stream's own). {@linkcode VideoEncoding.encode} is given each timestamp; this
   * dates only a frame whose capture was lost track of.
   */
  timeline?: RtpTimeline;
  transport: PacketSink;
  /** Target bitrate to start with, bit/s. */
  bitrate: number;
  /** Bounds of the target bitrate, bit/s, whatever is asked. */
  minBitrate: number;
  maxBitrate: number;
  /** The scale of the camera's picture to send at `bps`, given the scale sent now. */
  scaleFor(bps: number, current: number): number;
  /** Frame rate the encoder is tuned for (default 30). */
  framerate?: number;
  /** Longest time between keyframes (default `KEYFRAME_INTERVAL_MS`, 10 s). */
  keyframeIntervalMs?: number;
  /** Names the encoding in warnings (default "video"). */
  label?: string;
  /**
   * Encode in three temporal layers (`scalabilityMode: "L1T3"`) where the browser can
   * (default false; see {@linkcode TemporalLayering}).
   */
  temporalLayers?: boolean;
}

/**
 * Numbers the frames of a temporally layered encoding for their payload descriptors (RFC
 * 7741): TL0PICIDX counts base-layer frames, and the layer sync bit (Y) marks a frame that
 * references only its base frame: one of an upper layer with no frame of a layer between
 * since that base frame. With Chromium's L1T3 (layers 0,2,1,2 ...) that is each layer-1
 * frame and the first layer-2 frame of a group; the second layer-2 frame references the
 * layer-1 one (a browser test decodes a real L1T3 stream with frames left out to check it).
 * A receiver that loses an upper-layer frame then drops only what references it, without
 * a keyframe (Vp8FrameAssembler); the router can leave upper layers out for a weak link.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const layering = new TemporalLayering(254);
 * const ids = [0, 2, 1, 2, 0].map((tid) => layering.next(tid));
 * assert.deepEqual(ids.map((l) => l.tl0PicIdx), [255, 255, 255, 255, 0]);
 * assert.deepEqual(ids.map((l) => l.layerSync), [false, true, true, false, false]);
 * ```
 */
export class TemporalLayering {
  #tl0PicIdx: number;
  /** Layers seen since the last base frame. */
  #since = new Set<number>();

  /** Starts counting base frames after `tl0PicIdx` (random by default). */
  constructor(tl0PicIdx = Math.floor(Math.random() * 256)) {
    this.#tl0PicIdx = tl0PicIdx & 0xff;
  }

  /** The descriptor fields of the next frame, of temporal layer `temporalLayer` (0..3). */
  next(temporalLayer: number): Vp8TemporalLayer {
    const tid = Math.max(0, Math.min(3, Math.floor(temporalLayer)));
    if (tid === 0) {
      this.#tl0PicIdx = (this.#tl0PicIdx + 1) & 0xff;
      this.#since.clear();
      return { temporalLayer: 0, tl0PicIdx: this.#tl0PicIdx, layerSync: false };
    }
    let layerSync = true;
    for (const seen of this.#since) if (seen > 0 && seen < tid) layerSync = false;
    this.#since.add(tid);
    return { temporalLayer: tid, tl0PicIdx: this.#tl0PicIdx, layerSync };
  }
}

/**
 * Whether this browser's VP8 encoder takes `scalabilityMode: "L1T3"`: null until known (the
 * first encodings, made before the answer, go without). Chromium's does.
 */
let layersSupported: boolean | null = null;
let layersProbe: Promise<void> | null = null;

function probeLayers(): void {
  if (layersProbe || typeof VideoEncoder?.isConfigSupported !== "function") return;
  layersProbe = VideoEncoder.isConfigSupported({
    codec: "vp8",
    width: 640,
    height: 360,
    bitrate: 800_000,
    framerate: 30,
    scalabilityMode: "L1T3",
    latencyMode: "realtime",
  }).then((support) => {
    layersSupported = support.supported === true;
  }, () => {
    layersSupported = false;
  });
}

/**
 * Counters of a {@linkcode VideoEncoding}.
 *
 * @example
 * ```ts
 * function report(encoding: VideoEncoding): string {
 *   const { framesEncoded, bitrate } = encoding.stats;
 *   return `${framesEncoded} frames, ${bitrate} bit/s`;
 * }
 * ```
 */
export interface VideoEncodingStats {
  framesEncoded: number;
  keyframes: number;
  /** Frames skipped because its encoder or the link was behind. */
  framesSkipped: number;
  /** Packets sent again on a NACK. */
  packetsResent: number;
  /** Times its bitrate was changed (REMB). */
  bitrateChanges: number;
  /** What the encoder is set to, bit/s. */
  targetBitrate: number;
  /** Encoded frames per second (last second). */
  fps: number;
  /** Bits per second sent (last second), headers included. */
  bitrate: number;
  /** Mean time from capture to packets sent, ms (last frames). */
  encodeMs: number;
  /** Size of the picture sent (0 before the first frame). */
  width: number;
  height: number;
}

/**
 * A side of the camera's picture at `scale`, even (VP8's chroma is half the size).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(scaledSide(640, 0.5), 320);
 * assert.equal(scaledSide(360, 0.75), 270);
 * assert.equal(scaledSide(270, 0.5), 136); // 135 is odd
 * ```
 */
export function scaledSide(side: number, scale: number): number {
  return Math.max(2, 2 * Math.round((side * scale) / 2));
}

/** One encoder of camera frames to one VP8 RTP stream. */
export class VideoEncoding {
  readonly #stream: RtpStream;
  readonly #timeline: RtpTimeline;
  readonly #transport: PacketSink;
  /** The last packets sent, for the NACKs of the server (upstream) or, in P2P, of the peer. */
  readonly #history = new PacketHistory();
  readonly #minBitrate: number;
  readonly #maxBitrate: number;
  readonly #scaleFor: (bps: number, current: number) => number;
  readonly #framerate: number;
  readonly #keyframes: KeyframeSchedule;
  readonly #label: string;
  readonly #temporalLayers: boolean;
  /** The layering of the current encoder's frames, when it was configured with layers. */
  #layering: TemporalLayering | null = null;
  #bitrate: number;
  #encoder: VideoEncoder | null = null;
  /** The camera's size (the encoder's input). */
  #size = { width: 0, height: 0 };
  /** The scale of the camera's picture sent. */
  #scale: number;
  #pictureId = Math.floor(Math.random() * 0x8000);
  /** Capture time (ms since the epoch) and RTP timestamp by frame timestamp (µs), until encoded. */
  #captures = new Map<number, { captureMs: number; timestamp: number }>();
  #closed = false;
  #fps = new RateMeter(1000);
  #bits = new RateMeter(1000);
  #encodeMs = 0;
  #counters = {
    framesEncoded: 0,
    keyframes: 0,
    framesSkipped: 0,
    packetsResent: 0,
    bitrateChanges: 0,
  };

  constructor(options: VideoEncodingOptions) {
    this.#stream = options.stream;
    this.#timeline = options.timeline ?? options.stream.timeline;
    this.#transport = options.transport;
    this.#minBitrate = options.minBitrate;
    this.#maxBitrate = options.maxBitrate;
    this.#bitrate = this.#clamp(options.bitrate);
    this.#scaleFor = options.scaleFor;
    this.#scale = this.#scaleFor(this.#bitrate, 1);
    this.#framerate = options.framerate ?? 30;
    this.#keyframes = new KeyframeSchedule(options.keyframeIntervalMs);
    this.#label = options.label ?? "video";
    this.#temporalLayers = options.temporalLayers ?? false;
    if (this.#temporalLayers) probeLayers();
  }

  /** What the encoder is set to, bit/s. */
  get bitrate(): number {
    return this.#bitrate;
  }

  /** Whether an encoder is running (from the first frame after start, until stop()). */
  get running(): boolean {
    return this.#encoder !== null;
  }

  /**
   * A receiver asked for a keyframe (a PLI): the next frame is one, or the first after
   * `MIN_KEYFRAME_GAP_MS` since the last keyframe (see KeyframeSchedule).
   */
  requestKeyframe(): void {
    this.#keyframes.request();
  }

  /**
   * Sets the encoder to `bps`, within its bounds; a change under 5% is ignored. Chromium keeps
   * the encoder's state when only the bitrate changes: no keyframe. When the scale changes
   * with it (`scaleFor`) the picture is resized, from a keyframe. True when it changed.
   */
  setBitrate(bps: number): boolean {
    if (this.#closed || !Number.isFinite(bps)) return false;
    const target = this.#clamp(bps);
    if (Math.abs(target - this.#bitrate) < this.#bitrate * 0.05) return false;
    this.#bitrate = target;
    this.#counters.bitrateChanges++;
    const scale = this.#scaleFor(target, this.#scale);
    const resized = scale !== this.#scale;
    this.#scale = scale;
    const encoder = this.#encoder;
    if (encoder && encoder.state === "configured") {
      encoder.configure(this.#config(this.#size));
      // A new size starts from a keyframe (a decoder can take a new size only there).
      if (resized) this.#keyframes.force();
    }
    return true;
  }

  /**
   * Encodes `frame` (captured at `captureMs`, stamped `timestamp` in RTP), or skips it when
   * the encoder or the link is behind: frames are skipped, never queued. The caller closes
   * the frame. True when encoded.
   */
  encode(frame: VideoFrame, captureMs: number, timestamp: number): boolean {
    if (this.#closed) return false;
    const encoder = this.#encoderFor(frame.displayWidth, frame.displayHeight);
    if (encoder.encodeQueueSize > 1 || this.#transport.congested) {
      this.#counters.framesSkipped++;
      return false;
    }
    const keyFrame = this.#keyframes.next(captureMs);
    this.#captures.set(frame.timestamp, { captureMs, timestamp });
    if (this.#captures.size > 60) this.#captures.delete(this.#captures.keys().next().value!);
    encoder.encode(frame, { keyFrame });
    return true;
  }

  /**
   * The server (or, in P2P, the peer) reports packets lost (a generic NACK): those still kept
   * are sent again, as they were (at most 64 per NACK), once for the NACK's two copies
   * (media/resend_guard.ts). Returns how many.
   */
  resend(seqs: readonly number[], nowMs: number = performance.now()): number {
    if (this.#closed) return 0;
    const send = (packet: Uint8Array) => this.#transport.send(packet);
    const sent = this.#history.resend(seqs, send, nowMs);
    this.#counters.packetsResent += sent;
    return sent;
  }

  /**
   * Closes the encoder (what it still holds is dropped); the next {@linkcode encode} makes a
   * new one, starting with a keyframe. The history stays, for NACKs of what was sent.
   */
  stop(): void {
    this.#closeEncoder();
    this.#captures.clear();
  }

  /** A snapshot of the counters. */
  get stats(): VideoEncodingStats {
    const now = performance.now();
    return {
      ...this.#counters,
      targetBitrate: this.#bitrate,
      fps: this.#fps.rate(now),
      bitrate: this.#bits.rate(now),
      encodeMs: this.#encodeMs,
      width: this.#size.width && scaledSide(this.#size.width, this.#scale),
      height: this.#size.height && scaledSide(this.#size.height, this.#scale),
    };
  }

  /** Closes the encoder for good. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.stop();
  }

  #clamp(bps: number): number {
    return Math.round(Math.max(this.#minBitrate, Math.min(this.#maxBitrate, bps)));
  }

  #encoderFor(width: number, height: number): VideoEncoder {
    if (this.#encoder && this.#encoder.state === "configured") {
      if (width === this.#size.width && height === this.#size.height) return this.#encoder;
    }
    this.#closeEncoder();
    const config = this.#config({ width, height });
    const layered = config.scalabilityMode !== undefined;
    const encoder = new VideoEncoder({
      output: (chunk, metadata) => this.#send(chunk, metadata),
      error: (err) => {
        // The encoder is closed now; the next frame makes a new one, starting with a keyframe.
        // One with layers that failed: the next goes without (a browser may take L1T3 for
        // the size it was asked about and not for another).
        console.warn(`${this.#label} encoder error:`, err);
        if (layered) layersSupported = false;
        if (this.#encoder === encoder) this.#encoder = null;
      },
    });
    encoder.configure(config);
    this.#layering = layered ? new TemporalLayering() : null;
    this.#encoder = encoder;
    this.#size = { width, height };
    this.#keyframes.force();
    return encoder;
  }

  /** The encoder's settings for camera frames of `size`: scaled (the encoder resizes). */
  #config(size: { width: number; height: number }): VideoEncoderConfig {
    return {
      codec: "vp8",
      width: scaledSide(size.width, this.#scale),
      height: scaledSide(size.height, this.#scale),
      bitrate: this.#bitrate,
      // Constant: Chromium's VP8 encoder then follows a new bitrate given to configure() at
      // once (variable kept sending 140-150 kbit/s when set from 800 to 100).
      bitrateMode: "constant",
      framerate: this.#framerate,
      latencyMode: "realtime",
      // Kept for the encoder's life: a reconfigure with another mode would restart the pattern.
      ...(this.#layersOn() ? { scalabilityMode: "L1T3" } : {}),
    };
  }

  /** Layers for this encoder: asked for and supported, and kept by a running encoder. */
  #layersOn(): boolean {
    if (this.#encoder && this.#encoder.state === "configured") return this.#layering !== null;
    return this.#temporalLayers && layersSupported === true;
  }

  #closeEncoder(): void {
    const encoder = this.#encoder;
    this.#encoder = null;
    if (encoder && encoder.state !== "closed") encoder.close();
  }

  #send(chunk: EncodedVideoChunk, metadata?: EncodedVideoChunkMetadata): void {
    if (this.#closed) return;
    const now = wallClock();
    const capture = this.#captures.get(chunk.timestamp);
    this.#captures.delete(chunk.timestamp);
    const captureMs = capture?.captureMs ?? now;
    // Lost track of the frame (more than 60 in the encoder): date it now, on the same timeline.
    const timestamp = capture?.timestamp ?? this.#timeline.at(captureMs);
    const data = new Uint8Array(chunk.byteLength);
    chunk.copyTo(data);
    // A keyframe is a base frame whatever the metadata says (the encoder restarts its pattern).
    const tid = chunk.type === "key" ? 0 : metadata?.svc?.temporalLayerId;
    const payloads = packetizeVp8(data, {
      maxPayloadSize: MAX_PAYLOAD_WITH_CAPTURE_TIME,
      pictureId: this.#pictureId,
      layer: this.#layering && tid !== undefined ? this.#layering.next(tid) : null,
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
