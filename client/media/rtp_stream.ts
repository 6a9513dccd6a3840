/**
 * An outgoing RTP stream: one SSRC and payload type, its sequence numbers, and the capture
 * time extension on every packet. Senders come and go (the camera is turned off and on);
 * the stream outlives them, so sequence numbers and timestamps stay continuous. Pure.
 *
 * @example
 * ```ts
 * import type { JoinReply } from "../../protocol/control.ts";
 * import { PT_OPUS } from "../../protocol/media.ts";
 * import type { PacketMux } from "./packet_mux.ts";
 *
 * function sendFrame(join: JoinReply, transport: PacketMux, opusFrame: Uint8Array) {
 *   const audio = new RtpStream({
 *     ssrc: join.media.audioSsrc, payloadType: PT_OPUS, clockRate: 48000,
 *   });
 *   const ts = audio.timeline.contiguous(960, Date.now()); // one 20 ms frame after the last
 *   transport.send(audio.packet({ timestamp: ts, payload: opusFrame, captureMs: Date.now() }));
 * }
 * ```
 * @module
 */

import { MAX_PACKET_SIZE, RTP_HEADER_SIZE, writeRtp } from "../../media/rtp.ts";
import { captureTimeExtension } from "../../protocol/media.ts";

/**
 * Bytes of payload that fit in one packet carrying the capture and send time extensions:
 * 1200 - 12 (header) - 20 (extension) = 1168.
 *
 * @example
 * ```ts
 * import { packetizeVp8 } from "../../media/vp8.ts";
 *
 * const frame = new Uint8Array(3000); // one encoded VP8 frame
 * const pictureId = 1;
 * packetizeVp8(frame, { maxPayloadSize: MAX_PAYLOAD_WITH_CAPTURE_TIME, pictureId }); // 3 payloads
 * ```
 */
export const MAX_PAYLOAD_WITH_CAPTURE_TIME = MAX_PACKET_SIZE - RTP_HEADER_SIZE -
  (4 + captureTimeExtension(0, 0).data.length);

/**
 * Options of an {@linkcode RtpStream}.
 *
 * @example
 * ```ts
 * const options: RtpStreamOptions = { ssrc: 1234, payloadType: 96, clockRate: 90000 };
 * ```
 */
export interface RtpStreamOptions {
  ssrc: number;
  payloadType: number;
  clockRate: number;
  /** First sequence number (default random). */
  firstSequenceNumber?: number;
  /** Random source for the initial sequence number and timestamp (default Math.random). */
  random?: () => number;
}

/**
 * Media timestamps of an outgoing stream: contiguous while frames follow each other, and
 * advanced by the wall-clock time between when the source stopped and started again.
 *
 * @example
 * ```ts
 * const timeline = new RtpTimeline(48000, 1000);
 * timeline.contiguous(960, 0); // 1000: the first frame
 * timeline.contiguous(960, 20); // 1960
 * timeline.restart(); // mic turned off...
 * timeline.contiguous(960, 5020); // 1960 + 5 s (240000) = 241960
 * ```
 */
export class RtpTimeline {
  #next: number;
  #lastMs: number | null = null;
  #restarted = false;

  /**
   * @param clockRate ticks per second
   * @param initial the first timestamp
   */
  constructor(readonly clockRate: number, initial: number) {
    this.#next = initial >>> 0;
  }

  /**
   * The timestamp of a frame of `duration` ticks captured at `captureMs`: right after the
   * previous frame, or (after {@linkcode restart}) after the time that passed since it.
   */
  contiguous(duration: number, captureMs: number): number {
    if (this.#restarted && this.#lastMs !== null) {
      const gap = Math.round(((captureMs - this.#lastMs) * this.clockRate) / 1000);
      // Whole frames, and never backwards.
      const frames = Math.max(0, Math.round(gap / duration) - 1);
      this.#next = (this.#next + frames * duration) >>> 0;
    }
    this.#restarted = false;
    this.#lastMs = captureMs;
    const ts = this.#next;
    this.#next = (this.#next + duration) >>> 0;
    return ts;
  }

  /**
   * The timestamp of a frame captured at `captureMs`, from the wall clock (video): frames
   * may be skipped without holes in the timeline.
   */
  at(captureMs: number): number {
    if (this.#lastMs === null) {
      this.#lastMs = captureMs;
      return this.#next;
    }
    const ts = (this.#next + Math.round(((captureMs - this.#lastMs) * this.clockRate) / 1000)) >>>
      0;
    this.#next = ts;
    this.#lastMs = captureMs;
    return ts;
  }

  /** The source stopped: the next contiguous frame accounts for the time that passes. */
  restart(): void {
    this.#restarted = true;
  }
}

/**
 * What {@linkcode RtpStream.packet} takes.
 *
 * @example
 * ```ts
 * const fields: RtpPacketFields = { timestamp: 960, payload: new Uint8Array(3), captureMs: 1 };
 * ```
 */
export interface RtpPacketFields {
  timestamp: number;
  payload: Uint8Array;
  /** Sender wall clock at capture, ms since the epoch: the capture time extension. */
  captureMs: number;
  /** When it is sent, ms on any steady clock of the sender's (the send time extension). */
  sendMs?: number;
  /** Marker bit: the last packet of a video frame. */
  marker?: boolean;
  /** This packet's payload type, when not the stream's (RED around the stream's frames). */
  payloadType?: number;
  /** Audio: the frame's level, dBFS (the RFC 6464 audio level extension). */
  audioLevel?: number;
}

/** One outgoing SSRC. */
export class RtpStream {
  /** The SSRC stamped on packets; the server assigns it (and may re-assign on re-join). */
  ssrc: number;
  readonly payloadType: number;
  readonly timeline: RtpTimeline;
  #seq: number;
  /** Packets written. */
  packets = 0;
  /** Bytes written, headers included. */
  bytes = 0;

  /** The sequence number the next packet gets. */
  get nextSequenceNumber(): number {
    return this.#seq;
  }

  constructor(options: RtpStreamOptions) {
    const random = options.random ?? Math.random;
    this.ssrc = options.ssrc;
    this.payloadType = options.payloadType;
    this.#seq = options.firstSequenceNumber ?? Math.floor(random() * 0x10000);
    this.timeline = new RtpTimeline(options.clockRate, Math.floor(random() * 0x1_0000_0000));
  }

  /**
   * Writes the next packet of the stream.
   *
   * @example
   * ```ts
   * const stream = new RtpStream({ ssrc: 7, payloadType: 111, clockRate: 48000 });
   * const bytes = stream.packet({ timestamp: 0, payload: new Uint8Array(3), captureMs: Date.now() });
   * ```
   */
  packet(fields: RtpPacketFields): Uint8Array {
    const bytes = writeRtp({
      payloadType: fields.payloadType ?? this.payloadType,
      sequenceNumber: this.#seq,
      timestamp: fields.timestamp,
      ssrc: this.ssrc,
      marker: fields.marker ?? false,
      extension: captureTimeExtension(fields.captureMs, fields.sendMs, fields.audioLevel),
      payload: fields.payload,
    });
    this.#seq = (this.#seq + 1) & 0xffff;
    this.packets++;
    this.bytes += bytes.length;
    return bytes;
  }
}
