/**
 * Outgoing media, exactly as the browser sends it: Opus audio (PT 111, 48 kHz mono, 20 ms
 * frames, RTP timestamp +960 per frame) and VP8 video (PT 96, 90 kHz, packetized with a
 * 15-bit PictureID into packets of at most 1200 bytes, marker on a frame's last packet),
 * every packet carrying the capture-time header extension.
 *
 * @example
 * ```ts
 * import type { SeatMedia } from "../protocol/media.ts";
 * import { ToneSource } from "./audio_source.ts";
 * import type { UdpLink } from "./udp_media.ts";
 * import type { IvfVideoSource } from "./video_source.ts";
 *
 * function send(link: UdpLink, ssrcs: SeatMedia, ivfSource: IvfVideoSource) {
 *   const audio = new AudioSender((bytes) => link.send(bytes), ssrcs.audioSsrc,
 *     new ToneSource(440));
 *   audio.tick(); // call every 20 ms (a Pacer): encodes and sends one frame when on
 *   const video = new VideoSender((bytes) => link.send(bytes), ssrcs.videoSsrc, ivfSource);
 *   video.start(); // paced by the IVF timestamps
 *   video.requestKeyframe(); // on a PLI
 * }
 * ```
 * @module
 */

import { PacketHistory, rtpSequenceNumber } from "../media/packet_history.ts";
import { createOpusEncoder, type OpusEncoder } from "../media/opus.ts";
import { MAX_PACKET_SIZE, RTP_HEADER_SIZE, writeRtp } from "../media/rtp.ts";
import { packetizeVp8 } from "../media/vp8.ts";
import { frameLevel } from "../media/mix.ts";
import {
  captureTimeExtension,
  OPUS_FRAME_SAMPLES,
  PT_OPUS,
  PT_VP8,
  VIDEO_CLOCK_RATE,
} from "../protocol/media.ts";
import type { AudioSource } from "./audio_source.ts";
import { Pacer } from "./pacer.ts";
import type { IvfVideoSource } from "./video_source.ts";

/**
 * Largest VP8 RTP payload: 1200 - 12 (header) - 16 (capture-time extension) = 1172.
 *
 * @example
 * ```ts
 * import { packetizeVp8 } from "../media/vp8.ts";
 *
 * const frame = new Uint8Array(3000); // one encoded VP8 frame
 * const pictureId = 1;
 * packetizeVp8(frame, { maxPayloadSize: MAX_VIDEO_PAYLOAD, pictureId }); // 3 payloads
 * ```
 */
export const MAX_VIDEO_PAYLOAD = MAX_PACKET_SIZE - RTP_HEADER_SIZE -
  (4 + captureTimeExtension(0).data.length);

function random32(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

/**
 * Sends audio frames from a source, one per {@linkcode AudioSender.tick}. While off (or
 * without a source) it sends nothing but its RTP timestamp keeps advancing, as a muted
 * microphone's would.
 *
 * @example
 * ```ts
 * import { ToneSource } from "./audio_source.ts";
 * import type { UdpLink } from "./udp_media.ts";
 *
 * function micOn(link: UdpLink): AudioSender {
 *   const sender = new AudioSender((b) => link.send(b), 0x1234, null);
 *   sender.setSource(new ToneSource(440));
 *   sender.enabled = true;
 *   return sender;
 * }
 * ```
 */
export class AudioSender {
  readonly #send: (bytes: Uint8Array) => void;
  readonly #ssrc: number;
  #source: AudioSource | null;
  #encoder: OpusEncoder | null = null;
  #seq = random32() & 0xffff;
  #timestamp = random32();
  /** Whether frames are sent (the microphone is on). */
  enabled: boolean;
  readonly stats = { packets: 0, bytes: 0 };

  constructor(send: (bytes: Uint8Array) => void, ssrc: number, source: AudioSource | null) {
    this.#send = send;
    this.#ssrc = ssrc;
    this.#source = source;
    this.enabled = source !== null;
  }

  /** What is sent, or null. */
  get source(): AudioSource | null {
    return this.#source;
  }

  /** Replaces the source (null: nothing to send). */
  setSource(source: AudioSource | null): void {
    this.#source = source;
  }

  /** True when frames go out on each tick. */
  get active(): boolean {
    return this.enabled && this.#source !== null;
  }

  /** One 20 ms period: sends a frame when active; the timestamp advances either way. */
  tick(): void {
    const timestamp = this.#timestamp;
    this.#timestamp = (this.#timestamp + OPUS_FRAME_SAMPLES) >>> 0;
    if (!this.active) return;
    this.#encoder ??= createOpusEncoder({ bitrate: 32_000 });
    const pcm = this.#source!.next();
    const payload = this.#encoder.encode(pcm);
    const packet = writeRtp({
      payloadType: PT_OPUS,
      sequenceNumber: this.#seq,
      timestamp,
      ssrc: this.#ssrc,
      // The frame's level (RFC 6464): the mixer decodes only the streams it may mix.
      extension: captureTimeExtension(Date.now(), undefined, frameLevel(pcm)),
      payload,
    });
    this.#seq = (this.#seq + 1) & 0xffff;
    this.stats.packets++;
    this.stats.bytes += packet.length;
    this.#send(packet);
  }

  /** Frees the encoder. */
  close(): void {
    this.#encoder?.close();
    this.#encoder = null;
  }
}

/**
 * Sends the frames of an IVF source on its own clock, each frame when due (the durations
 * come from the file's timestamps); the RTP timestamp (90 kHz) is the frame's due time on
 * that clock, so a frame sent late still carries its regular timestamp.
 *
 * @example
 * ```ts
 * import type { UdpLink } from "./udp_media.ts";
 * import { openIvfSource } from "./video_source.ts";
 *
 * async function sendClip(link: UdpLink) {
 *   const sender = new VideoSender((b) => link.send(b), 0x5678, await openIvfSource("clip.ivf"));
 *   sender.start();
 *   sender.stop();
 * }
 * ```
 */
export class VideoSender {
  readonly #send: (bytes: Uint8Array) => void;
  readonly #ssrc: number;
  readonly source: IvfVideoSource;
  #pacer: Pacer | null = null;
  #seq = random32() & 0xffff;
  #pictureId = random32() & 0x7fff;
  readonly #timestampBase = random32();
  readonly #epoch = performance.now();
  readonly stats = {
    frames: 0,
    keyframes: 0,
    packets: 0,
    bytes: 0,
    keyframeRequests: 0,
    packetsResent: 0,
  };
  /** The last packets sent, for NACKs from the server or the peer. */
  readonly #history = new PacketHistory();

  constructor(send: (bytes: Uint8Array) => void, ssrc: number, source: IvfVideoSource) {
    this.#send = send;
    this.#ssrc = ssrc;
    this.source = source;
  }

  /** Whether frames are going out. */
  get running(): boolean {
    return this.#pacer !== null;
  }

  /** Starts sending (from a keyframe); idempotent. */
  start(): void {
    if (this.#pacer) return;
    this.source.requestKeyframe(); // a receiver can only start decoding at a keyframe
    this.#pacer = new Pacer((idealMs) => this.#sendFrame(idealMs));
  }

  /** Stops sending; idempotent. */
  stop(): void {
    this.#pacer?.stop();
    this.#pacer = null;
  }

  /**
   * Sends again the packets a NACK names that are still kept (at most 64), once for the
   * NACK's two copies (media/resend_guard.ts); returns how many.
   */
  resend(seqs: readonly number[], nowMs: number = performance.now()): number {
    const sent = this.#history.resend(seqs, this.#send, nowMs);
    this.stats.packetsResent += sent;
    return sent;
  }

  /** The next frame sent is a keyframe (see video_source.ts for how). */
  requestKeyframe(): void {
    this.stats.keyframeRequests++;
    this.source.requestKeyframe();
  }

  #sendFrame(idealMs: number): number {
    const frame = this.source.next();
    // The frame's due time, not when the timer fired: timestamps keep the file's spacing.
    const timestamp = (this.#timestampBase +
      Math.round((idealMs - this.#epoch) * VIDEO_CLOCK_RATE / 1000)) >>> 0;
    const payloads = packetizeVp8(frame.data, {
      maxPayloadSize: MAX_VIDEO_PAYLOAD,
      pictureId: this.#pictureId,
    });
    this.#pictureId = (this.#pictureId + 1) & 0x7fff;
    const extension = captureTimeExtension(Date.now());
    payloads.forEach((payload, i) => {
      const packet = writeRtp({
        payloadType: PT_VP8,
        sequenceNumber: this.#seq,
        timestamp,
        ssrc: this.#ssrc,
        marker: i === payloads.length - 1,
        extension,
        payload,
      });
      this.#seq = (this.#seq + 1) & 0xffff;
      this.stats.packets++;
      this.stats.bytes += packet.length;
      this.#history.put(rtpSequenceNumber(packet), packet);
      this.#send(packet);
    });
    this.stats.frames++;
    if (frame.keyframe) this.stats.keyframes++;
    return frame.durationMs;
  }
}
