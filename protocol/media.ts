/**
 * The media wire contract, shared by the server, the browser engine and native clients.
 * One packet format everywhere: RTP (RFC 3550) and RTCP, one packet per binary WebSocket
 * message (or UDP datagram). See docs/protocol.md, "Media".
 *
 * @example
 * ```ts
 * const ext = captureTimeExtension(Date.now());       // RFC 8285 one-byte block, id 1
 * writeRtp({ payloadType: PT_OPUS, sequenceNumber: 1, timestamp: 960, ssrc, extension: ext, payload });
 * ```
 * @module
 */

import {
  parseExtensionElements,
  type RtpHeaderExtension,
  writeOneByteExtensions,
} from "../media/rtp.ts";

/** RTP payload type of Opus audio: 48 kHz, mono, 20 ms frames (RFC 7587). */
export const PT_OPUS = 111;
/** RTP payload type of VP8 video, 90 kHz clock (RFC 7741). */
export const PT_VP8 = 96;
/** RTP clock rate of Opus. */
export const OPUS_CLOCK_RATE = 48_000;
/** RTP clock rate of video. */
export const VIDEO_CLOCK_RATE = 90_000;
/** Samples in one 20 ms Opus frame at 48 kHz. */
export const OPUS_FRAME_SAMPLES = 960;
/** Audio frame duration, ms. */
export const AUDIO_FRAME_MS = 20;
/**
 * RFC 8285 one-byte extension id carrying the capture time: 8 bytes, a big-endian IEEE-754
 * float64 of the sender's wall clock in ms since the Unix epoch. On the server's mix it is the
 * oldest capture time among the frames mixed.
 */
export const EXT_CAPTURE_TIME = 1;

/**
 * UDP binding: a client that joined over the control WebSocket proves its seat from a UDP
 * address by sending `MEET-BIND <token> <meetingId>` (ASCII) to the server's UDP port; the
 * server answers `MEET-BOUND <participantId>` or `MEET-ERROR <code>`, and from then on sends
 * that seat's media to that address and accepts media from it only. Re-send the bind every
 * few seconds until answered, and as a keepalive when sending no media (the binding lapses
 * after 60 s of silence). The first byte ('M', 0x4d) has RTP version 1: never RTP or RTCP.
 */
export const UDP_BIND_PREFIX = "MEET-BIND ";
/** Answer to a successful bind. */
export const UDP_BOUND_PREFIX = "MEET-BOUND ";
/** Answer to a failed bind. */
export const UDP_ERROR_PREFIX = "MEET-ERROR ";

/** Builds a bind datagram. */
export function udpBindRequest(token: string, meetingId: string): Uint8Array {
  return new TextEncoder().encode(`${UDP_BIND_PREFIX}${token} ${meetingId}`);
}

/** The SSRCs a participant uses: assigned by the server at join (see `JoinReply.media`). */
export interface MediaSsrcs {
  /** SSRC of your Opus stream; the server stamps it on what you send anyway. */
  audioSsrc: number;
  /** SSRC of your VP8 stream. */
  videoSsrc: number;
  /** SSRC of the mix the server sends you (relay mode). */
  mixSsrc: number;
}

/** A header extension block carrying the capture time. */
export function captureTimeExtension(captureMs: number): RtpHeaderExtension {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setFloat64(0, captureMs);
  return writeOneByteExtensions([[EXT_CAPTURE_TIME, bytes]]);
}

/** The capture time carried by a packet's extension block, or null. */
export function readCaptureTime(extension: RtpHeaderExtension | null): number | null {
  if (!extension) return null;
  const value = parseExtensionElements(extension)?.get(EXT_CAPTURE_TIME);
  if (!value || value.length !== 8) return null;
  const ms = new DataView(value.buffer, value.byteOffset, 8).getFloat64(0);
  return Number.isFinite(ms) ? ms : null;
}
