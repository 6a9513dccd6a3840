/**
 * The media wire contract, shared by the server, the browser engine and native clients.
 * One packet format everywhere: RTP (RFC 3550) and RTCP, one packet per binary WebSocket
 * message (or UDP datagram). See docs/protocol.md, "Media".
 *
 * @example
 * ```ts
 * import { writeRtp } from "../media/rtp.ts";
 *
 * const ssrc = 0x1234;
 * const payload = new Uint8Array(3); // one Opus frame
 * const ext = captureTimeExtension(Date.now());       // RFC 8285 one-byte block, id 1
 * writeRtp({ payloadType: PT_OPUS, sequenceNumber: 1, timestamp: 960, ssrc, extension: ext, payload });
 * ```
 * @module
 */

import {
  parseExtensionElements,
  parseRtp,
  type RtpHeaderExtension,
  writeOneByteExtensions,
  writeRtp,
} from "../media/rtp.ts";

/** RTP payload type of Opus audio: 48 kHz, mono, 20 ms frames (RFC 7587). */
export const PT_OPUS = 111;
/**
 * RTP payload type of redundant audio (RFC 2198, media/red.ts): Opus frames, each packet
 * carrying the previous frame again; sent where packets can be lost.
 */
export const PT_RED = 63;
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
 * RFC 8285 one-byte extension id carrying the send time: 4 bytes, big-endian, the sender's
 * clock in 1/16 ms, modulo 2^32 (it wraps every 3.1 days). Pages stamp it on what they send,
 * and the server stamps its own on each media packet it sends (a resend keeps the first
 * stamp). The receiver of a hop reads that hop's queue from it (rate control): unlike the
 * capture time, it leaves out the encoder, and the earlier hops.
 */
export const EXT_SEND_TIME = 2;
/**
 * RFC 8285 one-byte extension id carrying the audio level of the frame (RFC 6464,
 * client-to-mixer): 1 byte, the top bit voice activity, the low 7 bits the level in -dBov
 * (0 loudest, 127 silence), computed by the sender where the samples are. The mixer picks
 * the speakers from these levels and decodes only the streams that can be mixed.
 */
export const EXT_AUDIO_LEVEL = 3;
/** Level of a frame, dBFS, at and below which it counts as silence. */
export const SILENCE_DBFS = -127;

/** Units of {@linkcode EXT_SEND_TIME} per millisecond. */
const SEND_TIME_UNITS_PER_MS = 16;

/**
 * UDP binding: a client that joined over the control WebSocket proves its seat from a UDP
 * address with its media key (`JoinReply.media.mediaKey`), and proves that it receives at
 * that address (a return-routability check):
 *
 * 1. `MEET-BIND <mediaKey> <meetingId>` (ASCII) to the server's UDP port. The server answers
 *    `MEET-CHECK <nonce>` (a fresh random nonce) to that address, or `MEET-ERROR <code>`.
 * 2. `MEET-BIND <mediaKey> <meetingId> <nonce>` from the same address: the server answers
 *    `MEET-BOUND <participantId> <nextNonce>`, and from then on sends the seat's media to that
 *    address and accepts media from it only.
 * 3. Repeat 2 with the latest nonce every {@linkcode UDP_CONSENT_RENEW_MS}: each echo is
 *    the address's consent to receive media. Media stops when no echo came for the server's
 *    consent window (10 s); the binding goes after 60 s without one. A stale nonce gets a
 *    new `MEET-CHECK`.
 *
 * The first byte ('M', 0x4d) has RTP version 1: never RTP or RTCP. The server never answers
 * with more bytes than the request had, and rate-limits its error answers.
 */
export const UDP_BIND_PREFIX = "MEET-BIND ";
/** Answer to a bind without a valid nonce: echo this nonce from the same address. */
export const UDP_CHECK_PREFIX = "MEET-CHECK ";
/** Answer to a bind that echoed the nonce: bound, with the nonce to echo next. */
export const UDP_BOUND_PREFIX = "MEET-BOUND ";
/** Answer to a failed bind. */
export const UDP_ERROR_PREFIX = "MEET-ERROR ";
/** How often a bound client echoes its nonce (the server's consent window is 10 s). */
export const UDP_CONSENT_RENEW_MS = 2_500;

/**
 * Builds a bind datagram: without a nonce it asks for a check, with one it answers it.
 *
 * @example
 * ```ts
 * import type { JoinReply } from "./control.ts";
 *
 * async function bind(socket: Deno.DatagramConn, reply: JoinReply, server: Deno.NetAddr) {
 *   await socket.send(udpBindRequest(reply.media.mediaKey, reply.meeting.id), server);
 * }
 * ```
 */
export function udpBindRequest(mediaKey: string, meetingId: string, nonce?: string): Uint8Array {
  const text = `${UDP_BIND_PREFIX}${mediaKey} ${meetingId}${nonce ? ` ${nonce}` : ""}`;
  return new TextEncoder().encode(text);
}

/** A bind datagram, read. */
export interface UdpBind {
  mediaKey: string;
  meetingId: string;
  /** The echoed nonce, if any. */
  nonce?: string;
}

/** Longest field of a bind datagram (keys, ids and nonces are far shorter). */
const MAX_BIND_FIELD = 64;

/**
 * Reads a bind datagram, or null when it is not one.
 *
 * @example
 * ```ts
 * parseUdpBind("MEET-BIND k m n"); // { mediaKey: "k", meetingId: "m", nonce: "n" }
 * ```
 */
export function parseUdpBind(text: string): UdpBind | null {
  if (!text.startsWith(UDP_BIND_PREFIX)) return null;
  const fields = text.slice(UDP_BIND_PREFIX.length).split(" ");
  if (fields.length < 2 || fields.length > 3) return null;
  if (fields.some((f) => f.length === 0 || f.length > MAX_BIND_FIELD)) return null;
  const [mediaKey, meetingId, nonce] = fields;
  return nonce === undefined ? { mediaKey, meetingId } : { mediaKey, meetingId, nonce };
}

/**
 * WebTransport (browsers): a session to the server's QUIC port (`JoinReply.media.webTransport`)
 * at {@linkcode WEBTRANSPORT_PATH} proves its seat on its first bidirectional stream: the page
 * writes `MEET-BIND <mediaKey> <meetingId>\n`, the server answers `MEET-BOUND <participantId>\n`
 * (from then on the seat's media travels as datagrams on this session, one RTP or RTCP packet
 * each) or `MEET-ERROR <code>\n` and closes the session. Datagrams before the bind are dropped.
 * A bound page sends `MEET-PING <n>` datagrams; the server answers each with `MEET-PONG <n>`
 * (the same length): the page's proof that its datagrams still get through.
 */
export const WEBTRANSPORT_PATH = "/media";
/** A liveness probe datagram of a WebTransport session (answered with {@linkcode WT_PONG_PREFIX}). */
export const WT_PING_PREFIX = "MEET-PING ";
/** The answer to a {@linkcode WT_PING_PREFIX} datagram. */
export const WT_PONG_PREFIX = "MEET-PONG ";

/** Where and how a page opens its WebTransport session (in the join reply's `media`). */
export interface WebTransportInfo {
  /** The server's QUIC (UDP) port; the host is the page's. */
  port: number;
  /**
   * SHA-256 of the server's certificate, base64, for `serverCertificateHashes`: given when the
   * certificate is one browsers cannot verify (the short-lived one of a plain-HTTP server, or
   * `--self-signed`); absent with a certificate from a public CA.
   */
  certificateHash?: string;
}

/** The SSRCs a participant uses: assigned by the server at join (see `JoinReply.media`). */
export interface MediaSsrcs {
  /** SSRC of your Opus stream; the server stamps it on what you send anyway. */
  audioSsrc: number;
  /** SSRC of your VP8 stream. */
  videoSsrc: number;
  /**
   * SSRC of your second, smaller VP8 encoding of the same camera, sent only while the server
   * asks for it (a REMB naming this SSRC, repeated at least every 2 s; 0 bit/s: stop). The
   * server forwards it, as `videoSsrc`, to receivers whose links cannot take the full one.
   */
  smallVideoSsrc: number;
  /**
   * SSRC of your shared screen (VP8, one encoding), forwarded while you say you share it
   * (`media` with `screen: true`). PLIs, NACKs and REMBs naming it are for the screen.
   */
  screenSsrc: number;
  /** SSRC of the mix the server sends you (relay mode). */
  mixSsrc: number;
}

/**
 * What a seat needs for media, given in the join reply: its SSRCs and its media key.
 *
 * @example
 * ```ts
 * import type { JoinReply } from "./control.ts";
 *
 * function seatOf(joinReply: JoinReply) {
 *   const { audioSsrc, mediaKey } = joinReply.media;
 *   return { audioSsrc, mediaKey };
 * }
 * ```
 */
export interface SeatMedia extends MediaSsrcs {
  /**
   * Proves this seat on a media transport (the UDP bind, a WebTransport session), and can do
   * nothing else: it does not identify a session, cancel a meeting or authorize REST. 128
   * bits, base64url; the same for the seat across reconnects.
   */
  mediaKey: string;
  /** The WebTransport endpoint, when the server has one (`--quic-port`). */
  webTransport?: WebTransportInfo;
}

/**
 * A header extension block carrying the capture time, and the send time when given (ms on
 * the sender's clock; see {@linkcode EXT_SEND_TIME}).
 */
export function captureTimeExtension(
  captureMs: number,
  sendMs?: number,
  audioLevelDbfs?: number,
): RtpHeaderExtension {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setFloat64(0, captureMs);
  const elements: [number, Uint8Array][] = [[EXT_CAPTURE_TIME, bytes]];
  if (sendMs !== undefined) elements.push([EXT_SEND_TIME, sendTimeBytes(sendMs)]);
  if (audioLevelDbfs !== undefined) {
    elements.push([EXT_AUDIO_LEVEL, Uint8Array.of(audioLevelByte(audioLevelDbfs))]);
  }
  return writeOneByteExtensions(elements);
}

/**
 * The RFC 6464 byte of a frame's level (dBFS of its RMS, as `frameLevel` gives): voice
 * activity set above -50 dBFS, the level in whole -dB from 0 to 127.
 *
 * @example
 * ```ts
 * audioLevelByte(-20); // 0x94: voice, 20
 * audioLevelByte(-200); // 127: silence
 * ```
 */
export function audioLevelByte(dbfs: number): number {
  const level = Math.max(0, Math.min(127, Math.round(-dbfs)));
  return (dbfs > -50 ? 0x80 : 0) | (Number.isFinite(level) ? level : 127);
}

/**
 * The audio level a packet's extension block carries, dBFS (0 to -127), or null when it
 * carries none.
 *
 * @example
 * ```ts
 * readAudioLevel(captureTimeExtension(0, undefined, -33)); // -33
 * ```
 */
export function readAudioLevel(extension: RtpHeaderExtension | null): number | null {
  if (!extension) return null;
  const value = parseExtensionElements(extension)?.get(EXT_AUDIO_LEVEL);
  if (!value || value.length !== 1) return null;
  return -(value[0] & 0x7f);
}

function sendTimeBytes(sendMs: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, Math.round(sendMs * SEND_TIME_UNITS_PER_MS) >>> 0);
  return bytes;
}

/** The capture time carried by a packet's extension block, or null. */
export function readCaptureTime(extension: RtpHeaderExtension | null): number | null {
  if (!extension) return null;
  const value = parseExtensionElements(extension)?.get(EXT_CAPTURE_TIME);
  if (!value || value.length !== 8) return null;
  const ms = new DataView(value.buffer, value.byteOffset, 8).getFloat64(0);
  return Number.isFinite(ms) ? ms : null;
}

/**
 * The packet again with the send time `sendMs` (ms, the sender's clock) in its header
 * extension ({@linkcode EXT_SEND_TIME}), other elements kept: a new buffer. A packet that is
 * no RTP, or whose extension block cannot take it (two-byte form elements the one-byte form
 * cannot carry), is returned as it was.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRtp, writeRtp } from "../media/rtp.ts";
 *
 * const packet = writeRtp({
 *   payloadType: PT_OPUS, sequenceNumber: 1, timestamp: 960, ssrc: 7,
 *   extension: captureTimeExtension(1_700_000_000_000), payload: new Uint8Array(3),
 * });
 * const stamped = parseRtp(withSendTime(packet, 1234.5));
 * assert.ok(stamped.ok);
 * assert.equal(readSendTime(stamped.packet.extension), 1234.5);
 * assert.equal(readCaptureTime(stamped.packet.extension), 1_700_000_000_000);
 * ```
 */
export function withSendTime(bytes: Uint8Array, sendMs: number): Uint8Array {
  const parsed = parseRtp(bytes);
  if (!parsed.ok) return bytes;
  const packet = parsed.packet;
  const elements = packet.extension
    ? parseExtensionElements(packet.extension)
    : new Map<number, Uint8Array>();
  if (!elements) return bytes;
  elements.set(EXT_SEND_TIME, sendTimeBytes(sendMs));
  try {
    return writeRtp({ ...packet, extension: writeOneByteExtensions(elements) });
  } catch {
    return bytes; // an element the one-byte form cannot carry
  }
}

/**
 * The server's send time carried by a packet's extension block ({@linkcode EXT_SEND_TIME}),
 * ms modulo 2^32 / 16, or null.
 *
 * @example
 * ```ts
 * readSendTime(null); // null
 * ```
 */
export function readSendTime(extension: RtpHeaderExtension | null): number | null {
  if (!extension) return null;
  const value = parseExtensionElements(extension)?.get(EXT_SEND_TIME);
  if (!value || value.length !== 4) return null;
  return new DataView(value.buffer, value.byteOffset, 4).getUint32(0) / SEND_TIME_UNITS_PER_MS;
}
