/**
 * Audio redundancy (RED, RFC 2198): each packet carries the previous frame again, so that one
 * lost packet costs nothing when the next arrives in time. Used where packets can be lost
 * (datagrams: WebTransport, P2P, UDP) on Opus: the page sends its voice so, and the server its
 * mix to pages on WebTransport. A receiver splits a RED packet into the packets it stands for
 * ({@linkcode splitRed}) and takes them as it takes any: the copy of a frame it already has is
 * a duplicate, dropped as such.
 *
 * Payload layout (one redundant block): a 4-byte header (F=1, the block's payload type, its
 * timestamp offset, 14 bits, its length, 10 bits), a 1-byte header (F=0, the primary's payload
 * type), the redundant frame, the primary frame.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { splitRed, writeRedPayload } from "./red.ts";
 * import { parseRtp, writeRtp } from "./rtp.ts";
 *
 * const payload = writeRedPayload(111, Uint8Array.of(2), { payload: Uint8Array.of(1), timestampOffset: 960 });
 * const bytes = writeRtp({ payloadType: 63, sequenceNumber: 8, timestamp: 1960, ssrc: 5, payload });
 * const parsed = parseRtp(bytes);
 * assert.ok(parsed.ok);
 * const [previous, primary] = splitRed(parsed.packet)!;
 * assert.deepEqual([previous.sequenceNumber, previous.timestamp, previous.payload], [7, 1000, Uint8Array.of(1)]);
 * assert.deepEqual([primary.sequenceNumber, primary.timestamp, primary.payloadType], [8, 1960, 111]);
 * ```
 * @module
 */

import type { RtpPacket } from "./rtp.ts";

/** Largest redundant block (10-bit length). */
export const MAX_RED_BLOCK_BYTES = 1023;
/** Largest timestamp offset (14 bits). */
export const MAX_RED_OFFSET = 0x3fff;

/** The previous frame, carried again. */
export interface RedundantBlock {
  payload: Uint8Array;
  /** The primary's RTP timestamp minus this frame's. */
  timestampOffset: number;
}

/**
 * A RED payload: `primary` (of payload type `payloadType`) after `redundant`, when given and
 * it fits (at most 1,023 bytes, an offset under 16,384); else the primary alone behind its
 * one-byte header.
 */
export function writeRedPayload(
  payloadType: number,
  primary: Uint8Array,
  redundant?: RedundantBlock,
): Uint8Array {
  const pt = payloadType & 0x7f;
  const block = redundant && redundant.payload.length <= MAX_RED_BLOCK_BYTES &&
      redundant.timestampOffset > 0 && redundant.timestampOffset <= MAX_RED_OFFSET
    ? redundant
    : undefined;
  if (!block) {
    const out = new Uint8Array(1 + primary.length);
    out[0] = pt;
    out.set(primary, 1);
    return out;
  }
  const length = block.payload.length;
  const out = new Uint8Array(5 + length + primary.length);
  out[0] = 0x80 | pt;
  out[1] = (block.timestampOffset >> 6) & 0xff;
  out[2] = ((block.timestampOffset & 0x3f) << 2) | ((length >> 8) & 0x03);
  out[3] = length & 0xff;
  out[4] = pt;
  out.set(block.payload, 5);
  out.set(primary, 5 + length);
  return out;
}

/**
 * The packets a RED packet stands for, oldest first: each redundant block as the packet it
 * was (one sequence number earlier per block back, its own timestamp and payload type), then
 * the primary. Null for a malformed payload (blocks past the end, no primary header).
 */
export function splitRed(packet: RtpPacket): RtpPacket[] | null {
  const data = packet.payload;
  const headers: { pt: number; offset: number; length: number }[] = [];
  let at = 0;
  for (;;) {
    if (at >= data.length) return null;
    const first = data[at];
    if ((first & 0x80) === 0) {
      headers.push({ pt: first & 0x7f, offset: 0, length: -1 });
      at += 1;
      break;
    }
    if (at + 4 > data.length || headers.length >= 8) return null;
    headers.push({
      pt: first & 0x7f,
      offset: (data[at + 1] << 6) | (data[at + 2] >> 2),
      length: ((data[at + 2] & 0x03) << 8) | data[at + 3],
    });
    at += 4;
  }
  const out: RtpPacket[] = [];
  const blocks = headers.length - 1;
  for (const [i, h] of headers.entries()) {
    const length = h.length < 0 ? data.length - at : h.length;
    if (at + length > data.length) return null;
    const back = blocks - i;
    out.push({
      ...packet,
      payloadType: h.pt,
      sequenceNumber: (packet.sequenceNumber - back) & 0xffff,
      timestamp: (packet.timestamp - h.offset) >>> 0,
      marker: back === 0 ? packet.marker : false,
      // The header extension (capture time) is the primary's.
      extension: back === 0 ? packet.extension : null,
      payload: data.subarray(at, at + length),
    });
    at += length;
  }
  return out;
}

/**
 * The Opus packets an audio packet carries, oldest first: itself when it is Opus (payload type
 * `opusType`), the packets a RED packet (`redType`) stands for when each is Opus, else null
 * (another payload type, or a malformed or foreign RED payload). Every packet but the last is
 * a redundant copy, to be taken only when its own packet never came.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { opusFrames, writeRedPayload } from "./red.ts";
 * import { parseRtp, writeRtp } from "./rtp.ts";
 *
 * const payload = writeRedPayload(111, Uint8Array.of(2), { payload: Uint8Array.of(1), timestampOffset: 960 });
 * const parsed = parseRtp(writeRtp({ payloadType: 63, sequenceNumber: 8, timestamp: 1960, ssrc: 5, payload }));
 * assert.ok(parsed.ok);
 * assert.equal(opusFrames(parsed.packet, 111, 63)?.length, 2);
 * ```
 */
export function opusFrames(
  packet: RtpPacket,
  opusType: number,
  redType: number,
): RtpPacket[] | null {
  if (packet.payloadType === opusType) return [packet];
  if (packet.payloadType !== redType) return null;
  const frames = splitRed(packet);
  return frames && frames.every((f) => f.payloadType === opusType) ? frames : null;
}
