/**
 * RTP packets (RFC 3550): parse, write, restamp the SSRC, compare sequence numbers and
 * timestamps with wrap-around, and tell RTP from RTCP on a shared channel (RFC 5761).
 *
 * Parsing never throws and never copies: the payload, the header extension data and its
 * elements are views (`subarray`) into the bytes given. Malformed input yields
 * `{ ok: false, reason }`.
 *
 * @example
 * ```ts
 * import { parseRtp, writeRtp } from "./rtp.ts";
 *
 * const opusFrame = new Uint8Array([0xf8, 0xff, 0xfe]);
 * const bytes = writeRtp({
 *   payloadType: 111, sequenceNumber: 1, timestamp: 960, ssrc: 0x1234, payload: opusFrame,
 * });
 * const parsed = parseRtp(bytes);
 * if (parsed.ok) console.log(parsed.packet.sequenceNumber); // 1
 * ```
 * @module
 */

/** Size of the fixed RTP header, without CSRCs or extension. */
export const RTP_HEADER_SIZE = 12;

/**
 * The project's largest media packet (RTP header + payload), in bytes: it fits one UDP
 * datagram on any path and one small WebSocket frame.
 *
 * @example
 * ```ts
 * const maxPayloadSize = MAX_PACKET_SIZE - RTP_HEADER_SIZE; // 1188
 * ```
 */
export const MAX_PACKET_SIZE = 1200;

/** The `profile` value of an RFC 8285 one-byte header extension block. */
export const ONE_BYTE_EXTENSION_PROFILE = 0xbede;

/**
 * An RTP header extension block: the 16-bit profile and the data after the length word
 * (a multiple of 4 bytes).
 *
 * @example
 * ```ts
 * const extension: RtpHeaderExtension = { profile: 0xbede, data: new Uint8Array(4) };
 * ```
 */
export interface RtpHeaderExtension {
  /** The "defined by profile" field: 0xBEDE for RFC 8285 one-byte elements. */
  profile: number;
  /** The extension data, a multiple of 4 bytes. */
  data: Uint8Array;
}

/**
 * A parsed RTP packet. `payload` and `extension.data` are views into the parsed bytes.
 *
 * @example
 * ```ts
 * const bytes = writeRtp({
 *   payloadType: 96, sequenceNumber: 1, timestamp: 3000, ssrc: 1, marker: true,
 *   payload: new Uint8Array(10),
 * });
 * const result = parseRtp(bytes);
 * if (result.ok && result.packet.marker) console.log("end of frame", result.packet.timestamp);
 * ```
 */
export interface RtpPacket {
  /** Always 2 in a parsed packet. */
  version: number;
  /** P: padding bytes follow the payload. */
  padding: boolean;
  /** Bytes of padding at the end, including the count byte; 0 when `padding` is false. */
  paddingLength: number;
  /** M: for video, the last packet of a frame. */
  marker: boolean;
  /** PT, 0..127. */
  payloadType: number;
  /** 16-bit sequence number. */
  sequenceNumber: number;
  /** 32-bit media timestamp (90 kHz for video, 48 kHz for Opus). */
  timestamp: number;
  /** The synchronization source. */
  ssrc: number;
  /** Contributing sources (at most 15). */
  csrcs: number[];
  /** The header extension block, or null when X is 0. */
  extension: RtpHeaderExtension | null;
  /** The payload without padding, a view into the parsed bytes. */
  payload: Uint8Array;
}

/**
 * Why bytes are not a valid RTP packet:
 * - `short`: fewer than 12 bytes;
 * - `version`: the version field is not 2;
 * - `csrc_overflow`: the CSRC list runs past the end;
 * - `extension_overflow`: the header extension runs past the end;
 * - `padding`: the padding count is 0 or larger than what follows the header.
 *
 * @example
 * ```ts
 * const result = parseRtp(new Uint8Array(3));
 * if (!result.ok) console.log(result.reason); // "short"
 * ```
 */
export type RtpParseError =
  | "short"
  | "version"
  | "csrc_overflow"
  | "extension_overflow"
  | "padding";

/**
 * The outcome of {@linkcode parseRtp}.
 *
 * @example
 * ```ts
 * const result: RtpParseResult = parseRtp(new Uint8Array(12));
 * console.log(result.ok ? result.packet.ssrc : result.reason); // "version"
 * ```
 */
export type RtpParseResult =
  | { ok: true; packet: RtpPacket }
  | { ok: false; reason: RtpParseError };

/**
 * Parses one RTP packet without copying. Never throws.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const datagram = new Uint8Array([0x80, 111, 0, 7, 0, 0, 3, 0xc0, 0, 0, 0, 9, 0xaa, 0xbb]);
 * const result = parseRtp(datagram);
 * assert.ok(result.ok);
 * assert.equal(result.packet.sequenceNumber, 7);
 * assert.deepEqual(result.packet.payload, new Uint8Array([0xaa, 0xbb]));
 * assert.deepEqual(parseRtp(datagram.subarray(0, 5)), { ok: false, reason: "short" });
 * ```
 */
export function parseRtp(bytes: Uint8Array): RtpParseResult {
  if (bytes.length < RTP_HEADER_SIZE) return { ok: false, reason: "short" };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const first = bytes[0];
  const version = first >> 6;
  if (version !== 2) return { ok: false, reason: "version" };
  const padding = (first & 0x20) !== 0;
  const hasExtension = (first & 0x10) !== 0;
  const csrcCount = first & 0x0f;

  let offset = RTP_HEADER_SIZE;
  if (offset + csrcCount * 4 > bytes.length) return { ok: false, reason: "csrc_overflow" };
  const csrcs: number[] = [];
  for (let i = 0; i < csrcCount; i++, offset += 4) csrcs.push(view.getUint32(offset));

  let extension: RtpHeaderExtension | null = null;
  if (hasExtension) {
    if (offset + 4 > bytes.length) return { ok: false, reason: "extension_overflow" };
    const profile = view.getUint16(offset);
    const length = view.getUint16(offset + 2) * 4;
    offset += 4;
    if (offset + length > bytes.length) return { ok: false, reason: "extension_overflow" };
    extension = { profile, data: bytes.subarray(offset, offset + length) };
    offset += length;
  }

  let paddingLength = 0;
  if (padding) {
    paddingLength = bytes[bytes.length - 1];
    if (paddingLength === 0 || offset + paddingLength > bytes.length) {
      return { ok: false, reason: "padding" };
    }
  }

  return {
    ok: true,
    packet: {
      version,
      padding,
      paddingLength,
      marker: (bytes[1] & 0x80) !== 0,
      payloadType: bytes[1] & 0x7f,
      sequenceNumber: view.getUint16(2),
      timestamp: view.getUint32(4),
      ssrc: view.getUint32(8),
      csrcs,
      extension,
      payload: bytes.subarray(offset, bytes.length - paddingLength),
    },
  };
}

/**
 * The fields {@linkcode writeRtp} needs; the optional ones default to absent/false/0.
 *
 * @example
 * ```ts
 * const fields: RtpFields = {
 *   payloadType: 96, sequenceNumber: 7, timestamp: 3000, ssrc: 1, payload: new Uint8Array(1),
 *   marker: true,
 * };
 * writeRtp(fields);
 * ```
 */
export interface RtpFields {
  /** M bit (default false). */
  marker?: boolean;
  /** PT, 0..127. */
  payloadType: number;
  /** Taken modulo 2^16. */
  sequenceNumber: number;
  /** Taken modulo 2^32. */
  timestamp: number;
  /** Taken modulo 2^32. */
  ssrc: number;
  /** Contributing sources, at most 15 (default none). */
  csrcs?: readonly number[];
  /** A header extension block (default none); its data must be 32-bit words. */
  extension?: RtpHeaderExtension | null;
  /** Padding bytes to append, including the final count byte (0..255). */
  paddingLength?: number;
  /** The payload, copied into the packet. */
  payload: Uint8Array;
}

/**
 * Serializes an RTP packet into a new buffer. Throws `RangeError` on fields that cannot be
 * encoded (more than 15 CSRCs, extension data not a multiple of 4 bytes, a payload type
 * above 127, padding above 255): those are programming errors, not bad input.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const payload = new Uint8Array([1, 2]);
 * const bytes = writeRtp({ payloadType: 111, sequenceNumber: 1, timestamp: 0, ssrc: 9, payload });
 * assert.deepEqual(bytes, new Uint8Array([0x80, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 1, 2]));
 * ```
 */
export function writeRtp(fields: RtpFields): Uint8Array {
  const csrcs = fields.csrcs ?? [];
  const extension = fields.extension ?? null;
  const paddingLength = fields.paddingLength ?? 0;
  if (csrcs.length > 15) throw new RangeError(`${csrcs.length} CSRCs; at most 15 fit`);
  if (fields.payloadType < 0 || fields.payloadType > 127 || !Number.isInteger(fields.payloadType)) {
    throw new RangeError(`payload type ${fields.payloadType} is not in 0..127`);
  }
  if (paddingLength < 0 || paddingLength > 255 || !Number.isInteger(paddingLength)) {
    throw new RangeError(`padding length ${paddingLength} is not in 0..255`);
  }
  if (extension && (extension.data.length % 4 !== 0 || extension.data.length > 0xffff * 4)) {
    throw new RangeError(`extension data of ${extension.data.length} bytes is not 32-bit words`);
  }

  const headerSize = RTP_HEADER_SIZE + csrcs.length * 4 +
    (extension ? 4 + extension.data.length : 0);
  const bytes = new Uint8Array(headerSize + fields.payload.length + paddingLength);
  const view = new DataView(bytes.buffer);
  bytes[0] = 0x80 | (paddingLength > 0 ? 0x20 : 0) | (extension ? 0x10 : 0) | csrcs.length;
  bytes[1] = (fields.marker ? 0x80 : 0) | fields.payloadType;
  view.setUint16(2, fields.sequenceNumber & 0xffff);
  view.setUint32(4, fields.timestamp >>> 0);
  view.setUint32(8, fields.ssrc >>> 0);
  let offset = RTP_HEADER_SIZE;
  for (const csrc of csrcs) {
    view.setUint32(offset, csrc >>> 0);
    offset += 4;
  }
  if (extension) {
    view.setUint16(offset, extension.profile & 0xffff);
    view.setUint16(offset + 2, extension.data.length / 4);
    bytes.set(extension.data, offset + 4);
    offset += 4 + extension.data.length;
  }
  bytes.set(fields.payload, offset);
  if (paddingLength > 0) bytes[bytes.length - 1] = paddingLength;
  return bytes;
}

/**
 * Overwrites the SSRC of a serialized RTP packet in place (the server stamps each forwarded
 * packet with the sender's server-assigned SSRC). Returns false, changing nothing, when the
 * bytes are too short to be RTP.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const datagram = writeRtp({ payloadType: 96, sequenceNumber: 1, timestamp: 0, ssrc: 0xffff,
 *   payload: new Uint8Array(4) });
 * setRtpSsrc(datagram, 42); // the sender's server-assigned SSRC
 * const parsed = parseRtp(datagram);
 * assert.ok(parsed.ok && parsed.packet.ssrc === 42);
 * ```
 */
export function setRtpSsrc(bytes: Uint8Array, ssrc: number): boolean {
  if (bytes.length < RTP_HEADER_SIZE) return false;
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setUint32(8, ssrc >>> 0);
  return true;
}

/**
 * Splits an RFC 8285 header extension block into `id -> data` elements (one-byte form,
 * profile 0xBEDE, and two-byte form, profile 0x100X). Element data are views. Returns null
 * for another profile or when an element runs past the end of the block. Never throws.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const extension = writeOneByteExtensions([[1, new Uint8Array([0x80 | 30])]]);
 * const elements = parseExtensionElements(extension);
 * assert.deepEqual(elements?.get(1), new Uint8Array([0x80 | 30])); // RFC 6464: voice, -30 dBov
 * ```
 */
export function parseExtensionElements(
  extension: RtpHeaderExtension,
): Map<number, Uint8Array> | null {
  const { profile, data } = extension;
  const oneByte = profile === ONE_BYTE_EXTENSION_PROFILE;
  if (!oneByte && (profile & 0xfff0) !== 0x1000) return null;
  const elements = new Map<number, Uint8Array>();
  let offset = 0;
  while (offset < data.length) {
    if (data[offset] === 0) { // padding byte
      offset++;
      continue;
    }
    let id: number;
    let length: number;
    if (oneByte) {
      id = data[offset] >> 4;
      if (id === 15) break; // reserved: stop parsing (RFC 8285 section 4.2)
      length = (data[offset] & 0x0f) + 1;
      offset += 1;
    } else {
      if (offset + 2 > data.length) return null;
      id = data[offset];
      length = data[offset + 1];
      offset += 2;
    }
    if (offset + length > data.length) return null;
    elements.set(id, data.subarray(offset, offset + length));
    offset += length;
  }
  return elements;
}

/**
 * Builds an RFC 8285 one-byte header extension block (ids 1..14, 1..16 bytes each), padded
 * with zeros to a multiple of 4 bytes. Throws `RangeError` on an id or length that the
 * one-byte form cannot carry.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const extension = writeOneByteExtensions([[1, new Uint8Array([0x80 | 30])]]);
 * assert.deepEqual(extension, { profile: 0xbede, data: new Uint8Array([0x10, 0x9e, 0, 0]) });
 * writeRtp({ payloadType: 111, sequenceNumber: 1, timestamp: 0, ssrc: 1, extension,
 *   payload: new Uint8Array(3) });
 * ```
 */
export function writeOneByteExtensions(
  elements: Iterable<readonly [number, Uint8Array]>,
): RtpHeaderExtension {
  const list = [...elements];
  let size = 0;
  for (const [id, data] of list) {
    if (!Number.isInteger(id) || id < 1 || id > 14) {
      throw new RangeError(`extension id ${id} is not in 1..14`);
    }
    if (data.length < 1 || data.length > 16) {
      throw new RangeError(`extension element of ${data.length} bytes is not 1..16`);
    }
    size += 1 + data.length;
  }
  const out = new Uint8Array(Math.ceil(size / 4) * 4);
  let offset = 0;
  for (const [id, data] of list) {
    out[offset] = (id << 4) | (data.length - 1);
    out.set(data, offset + 1);
    offset += 1 + data.length;
  }
  return { profile: ONE_BYTE_EXTENSION_PROFILE, data: out };
}

/**
 * `a - b` for 16-bit sequence numbers, taking wrap-around into account: the result is in
 * -32768..32767.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.equal(seqDiff(2, 65534), 4);
 * assert.equal(seqDiff(65534, 2), -4);
 * ```
 */
export function seqDiff(a: number, b: number): number {
  const d = (a - b) & 0xffff;
  return d >= 0x8000 ? d - 0x10000 : d;
}

/**
 * True when sequence number `a` comes after `b` (modulo 2^16).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.equal(isNewerSeq(0, 65535), true);
 * assert.equal(isNewerSeq(5, 5), false);
 * ```
 */
export function isNewerSeq(a: number, b: number): boolean {
  return seqDiff(a, b) > 0;
}

/**
 * `a - b` for 32-bit RTP timestamps, taking wrap-around into account: the result is a
 * signed 32-bit integer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.equal(timestampDiff(480, 0xffffffff - 479), 960);
 * ```
 */
export function timestampDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/**
 * True when bytes multiplexed with RTP on one channel are RTCP (RFC 5761 section 4: the
 * second byte is 192..223, i.e. RTCP packet types 192..223; RTP payload types 64..95 are
 * never used so that the two cannot collide).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.equal(isRtcp(new Uint8Array([0x81, 206, 0, 2])), true); // a PLI
 * assert.equal(isRtcp(new Uint8Array([0x80, 111, 0, 1])), false); // Opus RTP
 * ```
 */
export function isRtcp(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] >> 6 === 2 && bytes[1] >= 192 && bytes[1] <= 223;
}
