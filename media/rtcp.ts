/**
 * RTCP (RFC 3550, RFC 4585): parse compound packets, write sender and receiver reports,
 * picture loss indications, generic NACKs, receiver estimated maximum bitrates (REMB,
 * draft-alvestrand-rmcat-remb) and BYE, and keep the reception statistics a receiver report
 * carries (loss, fraction lost, interarrival jitter, LSR/DLSR).
 *
 * Parsing never throws. Packet types this module does not model (SDES, APP, XR, other
 * feedback formats such as transport-wide feedback) are skipped.
 *
 * @example
 * ```ts
 * import { parseRtcp, writePli } from "./rtcp.ts";
 *
 * const datagram = writePli({ senderSsrc: 1, mediaSsrc: 0x1234 });
 * const result = parseRtcp(datagram);
 * if (result.ok) {
 *   for (const packet of result.packets) {
 *     if (packet.type === "pli") console.log("keyframe wanted from", packet.mediaSsrc);
 *   }
 * }
 * ```
 * @module
 */

import { seqDiff, timestampDiff } from "./rtp.ts";

/** RTCP packet types (the second header byte). */
export const RtcpType = {
  SR: 200,
  RR: 201,
  SDES: 202,
  BYE: 203,
  APP: 204,
  /** Transport-layer feedback (RFC 4585); FMT 1 is a generic NACK. */
  RTPFB: 205,
  /** Payload-specific feedback (RFC 4585); FMT 1 is a PLI, FMT 15 an application layer one (REMB). */
  PSFB: 206,
} as const;

/**
 * One reception report block (RFC 3550 section 6.4.1), as in SR and RR packets.
 *
 * @example
 * ```ts
 * const block: ReportBlock = {
 *   ssrc: 1, fractionLost: 64, cumulativeLost: 10, highestSeq: 1000, jitter: 90, lsr: 0, dlsr: 0,
 * };
 * const lossPercent = block.fractionLost / 256 * 100; // 25
 * ```
 */
export interface ReportBlock {
  /** The source this block reports on. */
  ssrc: number;
  /** Packets lost in the last interval, as a fraction of 256 (0..255). */
  fractionLost: number;
  /** Packets lost since the start: a signed 24-bit number (duplicates can make it negative). */
  cumulativeLost: number;
  /** Extended highest sequence number received: cycles << 16 | highest sequence number. */
  highestSeq: number;
  /** Interarrival jitter, in RTP timestamp units. */
  jitter: number;
  /** Middle 32 bits of the NTP time of the last SR received from the source; 0 if none. */
  lsr: number;
  /** Delay since that SR, in 1/65536 s; 0 if none. */
  dlsr: number;
}

/**
 * A sender report (PT 200).
 *
 * @example
 * ```ts
 * const { seconds, fraction } = ntpFromMs(Date.now());
 * const report: SenderReport = { type: "sr", ssrc: 1, ntpSeconds: seconds,
 *   ntpFraction: fraction, rtpTimestamp: 90000, packetCount: 30, octetCount: 30000, reports: [] };
 * writeRtcp(report);
 * ```
 */
export interface SenderReport {
  /** Discriminant. */
  type: "sr";
  /** The sender. */
  ssrc: number;
  /** NTP timestamp, seconds since 1900 (modulo 2^32). */
  ntpSeconds: number;
  /** NTP timestamp, fraction of a second in 1/2^32 units. */
  ntpFraction: number;
  /** The RTP timestamp matching the NTP timestamp. */
  rtpTimestamp: number;
  /** Packets sent since the start. */
  packetCount: number;
  /** Payload bytes sent since the start. */
  octetCount: number;
  /** Up to 31 reception report blocks. */
  reports: ReportBlock[];
}

/**
 * A receiver report (PT 201).
 *
 * @example
 * ```ts
 * const report: ReceiverReport = { type: "rr", ssrc: 7, reports: [] };
 * writeRtcp(report);
 * ```
 */
export interface ReceiverReport {
  /** Discriminant. */
  type: "rr";
  /** The reporting receiver. */
  ssrc: number;
  /** Up to 31 reception report blocks. */
  reports: ReportBlock[];
}

/**
 * A picture loss indication (PT 206, FMT 1): the receiver needs a keyframe from `mediaSsrc`.
 *
 * @example
 * ```ts
 * const pli: PictureLossIndication = { type: "pli", senderSsrc: 7, mediaSsrc: 0x1234 };
 * writeRtcp(pli); // 12 bytes
 * ```
 */
export interface PictureLossIndication {
  /** Discriminant. */
  type: "pli";
  /** Who asks. */
  senderSsrc: number;
  /** The source that should send a keyframe. */
  mediaSsrc: number;
}

/**
 * A generic NACK (PT 205, FMT 1): the sequence numbers of `mediaSsrc` reported lost.
 *
 * @example
 * ```ts
 * const nack: GenericNack = { type: "nack", senderSsrc: 7, mediaSsrc: 0x1234, lost: [10, 12] };
 * writeRtcp(nack);
 * ```
 */
export interface GenericNack {
  /** Discriminant. */
  type: "nack";
  /** Who reports. */
  senderSsrc: number;
  /** The source whose packets were lost. */
  mediaSsrc: number;
  /** Lost sequence numbers. */
  lost: number[];
}

/**
 * A receiver estimated maximum bitrate (REMB: PT 206, FMT 15, "REMB"): the most the sender
 * of `ssrcs` should send, bit/s, as estimated by whoever receives them. The bitrate travels
 * as an 18-bit mantissa and a 6-bit exponent, so it is rounded down to 18 significant bits.
 *
 * @example
 * ```ts
 * const remb: Remb = { type: "remb", senderSsrc: 7, bitrate: 400_000, ssrcs: [0x1234] };
 * writeRtcp(remb); // 24 bytes
 * ```
 */
export interface Remb {
  /** Discriminant. */
  type: "remb";
  /** Who estimates. */
  senderSsrc: number;
  /** Bit/s. */
  bitrate: number;
  /** The streams it applies to (at most 255). */
  ssrcs: number[];
}

/**
 * A BYE (PT 203): the sources are leaving, with an optional reason.
 *
 * @example
 * ```ts
 * const bye: Bye = { type: "bye", ssrcs: [7], reason: "left the meeting" };
 * writeRtcp(bye);
 * ```
 */
export interface Bye {
  /** Discriminant. */
  type: "bye";
  /** The sources leaving (up to 31). */
  ssrcs: number[];
  /** Why, if given (at most 255 bytes of UTF-8). */
  reason?: string;
}

/**
 * Every RTCP packet this module models.
 *
 * @example
 * ```ts
 * function handle(packet: RtcpPacket) {
 *   switch (packet.type) { case "pli": break; case "rr": break; }
 * }
 * ```
 */
export type RtcpPacket =
  | SenderReport
  | ReceiverReport
  | PictureLossIndication
  | GenericNack
  | Remb
  | Bye;

/**
 * Why bytes are not valid RTCP:
 * - `short`: fewer bytes than a header, or than the packet type needs;
 * - `version`: a version field other than 2;
 * - `length`: a length field that runs past the end of the bytes;
 * - `padding`: a padding count of 0 or larger than the packet;
 * - `count`: more report blocks or sources than the packet's length holds.
 *
 * @example
 * ```ts
 * const result = parseRtcp(new Uint8Array([0x80]));
 * if (!result.ok) console.log(result.reason); // "short"
 * ```
 */
export type RtcpParseError = "short" | "version" | "length" | "padding" | "count";

/**
 * The outcome of {@linkcode parseRtcp}.
 *
 * @example
 * ```ts
 * const result: RtcpParseResult = parseRtcp(writePli({ senderSsrc: 1, mediaSsrc: 2 }));
 * console.log(result.ok ? result.packets.length : result.reason); // 1
 * ```
 */
export type RtcpParseResult =
  | { ok: true; packets: RtcpPacket[] }
  | { ok: false; reason: RtcpParseError };

const HEADER_SIZE = 4;
const REPORT_BLOCK_SIZE = 24;

/**
 * Parses a compound RTCP packet (or a single, reduced-size one) into its packets, skipping
 * types this module does not model. Any malformed packet fails the whole compound.
 * Never throws.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const datagram = writeRtcpCompound([
 *   { type: "rr", ssrc: 1, reports: [] },
 *   { type: "pli", senderSsrc: 1, mediaSsrc: 2 },
 * ]);
 * const result = parseRtcp(datagram);
 * assert.ok(result.ok);
 * assert.deepEqual(result.packets.map((p) => p.type), ["rr", "pli"]);
 * assert.deepEqual(parseRtcp(datagram.subarray(0, 6)), { ok: false, reason: "length" });
 * ```
 */
export function parseRtcp(bytes: Uint8Array): RtcpParseResult {
  if (bytes.length < HEADER_SIZE) return { ok: false, reason: "short" };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const packets: RtcpPacket[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    if (offset + HEADER_SIZE > bytes.length) return { ok: false, reason: "short" };
    const first = bytes[offset];
    if (first >> 6 !== 2) return { ok: false, reason: "version" };
    const count = first & 0x1f;
    const type = bytes[offset + 1];
    const size = (view.getUint16(offset + 2) + 1) * 4;
    if (offset + size > bytes.length) return { ok: false, reason: "length" };
    let end = offset + size;
    if (first & 0x20) {
      const padding = bytes[end - 1];
      if (padding === 0 || padding > size - HEADER_SIZE) return { ok: false, reason: "padding" };
      end -= padding;
    }
    const body = offset + HEADER_SIZE;
    const parsed = parseOne(view, type, count, body, end);
    if (typeof parsed === "string") return { ok: false, reason: parsed };
    if (parsed) packets.push(parsed);
    offset += size;
  }
  return { ok: true, packets };
}

/** Parses the body [start, end) of one packet; null for a type that is skipped. */
function parseOne(
  view: DataView,
  type: number,
  count: number,
  start: number,
  end: number,
): RtcpPacket | null | RtcpParseError {
  const length = end - start;
  switch (type) {
    case RtcpType.SR: {
      if (length < 24) return "short";
      if (24 + count * REPORT_BLOCK_SIZE > length) return "count";
      return {
        type: "sr",
        ssrc: view.getUint32(start),
        ntpSeconds: view.getUint32(start + 4),
        ntpFraction: view.getUint32(start + 8),
        rtpTimestamp: view.getUint32(start + 12),
        packetCount: view.getUint32(start + 16),
        octetCount: view.getUint32(start + 20),
        reports: readReportBlocks(view, start + 24, count),
      };
    }
    case RtcpType.RR: {
      if (length < 4) return "short";
      if (4 + count * REPORT_BLOCK_SIZE > length) return "count";
      return {
        type: "rr",
        ssrc: view.getUint32(start),
        reports: readReportBlocks(view, start + 4, count),
      };
    }
    case RtcpType.BYE: {
      if (count * 4 > length) return "count";
      const ssrcs: number[] = [];
      for (let i = 0; i < count; i++) ssrcs.push(view.getUint32(start + i * 4));
      const bye: Bye = { type: "bye", ssrcs };
      const reasonAt = start + count * 4;
      if (reasonAt < end) {
        const reasonLength = view.getUint8(reasonAt);
        if (reasonAt + 1 + reasonLength > end) return "short";
        bye.reason = new TextDecoder().decode(
          new Uint8Array(view.buffer, view.byteOffset + reasonAt + 1, reasonLength),
        );
      }
      return bye;
    }
    case RtcpType.RTPFB: {
      if (count !== 1) return null;
      if (length < 8) return "short";
      const lost: number[] = [];
      for (let at = start + 8; at + 4 <= end; at += 4) {
        const pid = view.getUint16(at);
        const blp = view.getUint16(at + 2);
        lost.push(pid);
        for (let bit = 0; bit < 16; bit++) {
          if (blp & (1 << bit)) lost.push((pid + bit + 1) & 0xffff);
        }
      }
      return {
        type: "nack",
        senderSsrc: view.getUint32(start),
        mediaSsrc: view.getUint32(start + 4),
        lost,
      };
    }
    case RtcpType.PSFB: {
      if (count === REMB_FMT) return parseRemb(view, start, end);
      if (count !== 1) return null;
      if (length < 8) return "short";
      return {
        type: "pli",
        senderSsrc: view.getUint32(start),
        mediaSsrc: view.getUint32(start + 4),
      };
    }
    default:
      return null;
  }
}

/** FMT of an application layer feedback message (RFC 4585 section 6.4). */
const REMB_FMT = 15;
/** "REMB", the identifier that starts a REMB's application data. */
const REMB_ID = 0x52454d42;

/** A REMB, or null for another application layer feedback message. */
function parseRemb(view: DataView, start: number, end: number): Remb | null | RtcpParseError {
  if (end - start < 16) return null; // too short to be a REMB: another application message
  if (view.getUint32(start + 8) !== REMB_ID) return null;
  const count = view.getUint8(start + 12);
  if (16 + count * 4 > end - start) return "count";
  const field = view.getUint32(start + 12) & 0xffffff;
  const ssrcs: number[] = [];
  for (let i = 0; i < count; i++) ssrcs.push(view.getUint32(start + 16 + i * 4));
  return {
    type: "remb",
    senderSsrc: view.getUint32(start),
    bitrate: (field & 0x3ffff) * 2 ** (field >> 18),
    ssrcs,
  };
}

function readReportBlocks(view: DataView, offset: number, count: number): ReportBlock[] {
  const blocks: ReportBlock[] = [];
  for (let i = 0; i < count; i++, offset += REPORT_BLOCK_SIZE) {
    const lost = view.getUint32(offset + 4) & 0xffffff;
    blocks.push({
      ssrc: view.getUint32(offset),
      fractionLost: view.getUint8(offset + 4),
      cumulativeLost: lost & 0x800000 ? lost - 0x1000000 : lost,
      highestSeq: view.getUint32(offset + 8),
      jitter: view.getUint32(offset + 12),
      lsr: view.getUint32(offset + 16),
      dlsr: view.getUint32(offset + 20),
    });
  }
  return blocks;
}

/** Writes a header and returns the buffer and a view; `bodySize` must be a multiple of 4. */
function allocate(type: number, count: number, bodySize: number): [Uint8Array, DataView] {
  const bytes = new Uint8Array(HEADER_SIZE + bodySize);
  const view = new DataView(bytes.buffer);
  bytes[0] = 0x80 | count;
  bytes[1] = type;
  view.setUint16(2, bytes.length / 4 - 1);
  return [bytes, view];
}

function checkReportCount(reports: readonly ReportBlock[]): void {
  if (reports.length > 31) throw new RangeError(`${reports.length} report blocks; at most 31 fit`);
}

function writeReportBlocks(view: DataView, offset: number, reports: readonly ReportBlock[]) {
  for (const block of reports) {
    const lost = Math.max(-0x800000, Math.min(0x7fffff, Math.trunc(block.cumulativeLost)));
    view.setUint32(offset, block.ssrc >>> 0);
    view.setUint32(offset + 4, ((block.fractionLost & 0xff) << 24 | (lost & 0xffffff)) >>> 0);
    view.setUint32(offset + 8, block.highestSeq >>> 0);
    view.setUint32(offset + 12, block.jitter >>> 0);
    view.setUint32(offset + 16, block.lsr >>> 0);
    view.setUint32(offset + 20, block.dlsr >>> 0);
    offset += REPORT_BLOCK_SIZE;
  }
}

/**
 * Serializes a sender report. A cumulative loss outside the signed 24-bit range is clamped.
 * Throws `RangeError` for more than 31 report blocks.
 *
 * @example
 * ```ts
 * const { seconds, fraction } = ntpFromMs(Date.now());
 * const bytes = writeSenderReport({ ssrc: 1, ntpSeconds: seconds, ntpFraction: fraction,
 *   rtpTimestamp: 48000, packetCount: 10, octetCount: 1000, reports: [] });
 * console.log(bytes.length); // 28
 * ```
 */
export function writeSenderReport(report: Omit<SenderReport, "type">): Uint8Array {
  checkReportCount(report.reports);
  const [bytes, view] = allocate(
    RtcpType.SR,
    report.reports.length,
    24 + report.reports.length * REPORT_BLOCK_SIZE,
  );
  view.setUint32(4, report.ssrc >>> 0);
  view.setUint32(8, report.ntpSeconds >>> 0);
  view.setUint32(12, report.ntpFraction >>> 0);
  view.setUint32(16, report.rtpTimestamp >>> 0);
  view.setUint32(20, report.packetCount >>> 0);
  view.setUint32(24, report.octetCount >>> 0);
  writeReportBlocks(view, 28, report.reports);
  return bytes;
}

/**
 * Serializes a receiver report. Throws `RangeError` for more than 31 report blocks.
 *
 * @example
 * ```ts
 * const stats = new ReceptionStats(0x1234, 48000);
 * stats.receive(1, 960, 20);
 * const block = stats.reportBlock(40);
 * const bytes = writeReceiverReport({ ssrc: 7, reports: block ? [block] : [] });
 * console.log(bytes.length); // 32
 * ```
 */
export function writeReceiverReport(report: Omit<ReceiverReport, "type">): Uint8Array {
  checkReportCount(report.reports);
  const [bytes, view] = allocate(
    RtcpType.RR,
    report.reports.length,
    4 + report.reports.length * REPORT_BLOCK_SIZE,
  );
  view.setUint32(4, report.ssrc >>> 0);
  writeReportBlocks(view, 8, report.reports);
  return bytes;
}

/**
 * Serializes a picture loss indication (12 bytes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(
 *   writePli({ senderSsrc: 1, mediaSsrc: 2 }),
 *   new Uint8Array([0x81, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2]),
 * );
 * ```
 */
export function writePli(pli: Omit<PictureLossIndication, "type">): Uint8Array {
  const [bytes, view] = allocate(RtcpType.PSFB, 1, 8);
  view.setUint32(4, pli.senderSsrc >>> 0);
  view.setUint32(8, pli.mediaSsrc >>> 0);
  return bytes;
}

/**
 * Serializes a generic NACK, packing the lost sequence numbers into PID + bitmask pairs.
 * Give them in ascending order (wrap-aware) for the most compact result.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const bytes = writeNack({ senderSsrc: 1, mediaSsrc: 2, lost: [65535, 0, 3] });
 * assert.equal(bytes.length, 16); // one PID/BLP pair
 * ```
 */
export function writeNack(nack: Omit<GenericNack, "type">): Uint8Array {
  const pairs: Array<[number, number]> = [];
  for (const raw of nack.lost) {
    const seq = raw & 0xffff;
    const last = pairs[pairs.length - 1];
    const distance = last ? seqDiff(seq, last[0]) : -1;
    if (last && distance === 0) continue;
    if (last && distance >= 1 && distance <= 16) last[1] |= 1 << (distance - 1);
    else pairs.push([seq, 0]);
  }
  const [bytes, view] = allocate(RtcpType.RTPFB, 1, 8 + pairs.length * 4);
  view.setUint32(4, nack.senderSsrc >>> 0);
  view.setUint32(8, nack.mediaSsrc >>> 0);
  pairs.forEach(([pid, blp], i) => {
    view.setUint16(12 + i * 4, pid);
    view.setUint16(14 + i * 4, blp);
  });
  return bytes;
}

/**
 * Serializes a REMB. The bitrate is rounded down to 18 significant bits; a negative or
 * non-finite one is 0. Throws `RangeError` for more than 255 sources.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const bytes = writeRemb({ senderSsrc: 1, bitrate: 400_000, ssrcs: [2] });
 * assert.equal(bytes.length, 24);
 * ```
 */
export function writeRemb(remb: Omit<Remb, "type">): Uint8Array {
  if (remb.ssrcs.length > 255) throw new RangeError(`${remb.ssrcs.length} sources; at most 255`);
  let mantissa = Number.isFinite(remb.bitrate) ? Math.max(0, Math.floor(remb.bitrate)) : 0;
  let exponent = 0;
  while (mantissa > 0x3ffff && exponent < 63) {
    mantissa = Math.floor(mantissa / 2);
    exponent++;
  }
  mantissa = Math.min(mantissa, 0x3ffff);
  const [bytes, view] = allocate(RtcpType.PSFB, REMB_FMT, 16 + remb.ssrcs.length * 4);
  view.setUint32(4, remb.senderSsrc >>> 0);
  view.setUint32(8, 0); // media source: unused, the SSRCs follow
  view.setUint32(12, REMB_ID);
  view.setUint32(16, ((remb.ssrcs.length << 24) | (exponent << 18) | mantissa) >>> 0);
  remb.ssrcs.forEach((ssrc, i) => view.setUint32(20 + i * 4, ssrc >>> 0));
  return bytes;
}

/**
 * Serializes a BYE with an optional reason (UTF-8, cut to 255 bytes). Throws `RangeError`
 * for more than 31 sources.
 *
 * @example
 * ```ts
 * const bytes = writeBye({ ssrcs: [7], reason: "bye" });
 * console.log(bytes.length); // 12
 * ```
 */
export function writeBye(bye: Omit<Bye, "type">): Uint8Array {
  if (bye.ssrcs.length > 31) throw new RangeError(`${bye.ssrcs.length} sources; at most 31 fit`);
  const reason = bye.reason === undefined
    ? null
    : new TextEncoder().encode(bye.reason).subarray(0, 255);
  const reasonSize = reason ? Math.ceil((reason.length + 1) / 4) * 4 : 0;
  const [bytes, view] = allocate(RtcpType.BYE, bye.ssrcs.length, bye.ssrcs.length * 4 + reasonSize);
  bye.ssrcs.forEach((ssrc, i) => view.setUint32(4 + i * 4, ssrc >>> 0));
  if (reason) {
    const at = 4 + bye.ssrcs.length * 4;
    bytes[at] = reason.length;
    bytes.set(reason, at + 1);
  }
  return bytes;
}

/**
 * Serializes any modelled packet.
 *
 * @example
 * ```ts
 * const bytes = writeRtcp({ type: "pli", senderSsrc: 0, mediaSsrc: 7 });
 * console.log(bytes.length); // 12
 * ```
 */
export function writeRtcp(packet: RtcpPacket): Uint8Array {
  switch (packet.type) {
    case "sr":
      return writeSenderReport(packet);
    case "rr":
      return writeReceiverReport(packet);
    case "pli":
      return writePli(packet);
    case "nack":
      return writeNack(packet);
    case "remb":
      return writeRemb(packet);
    case "bye":
      return writeBye(packet);
  }
}

/**
 * Serializes packets back to back into one compound packet (RFC 3550 wants an SR or RR
 * first; reduced-size RTCP, RFC 5506, allows a lone feedback packet).
 *
 * @example
 * ```ts
 * const compound = writeRtcpCompound([
 *   { type: "rr", ssrc: 1, reports: [] },
 *   { type: "pli", senderSsrc: 1, mediaSsrc: 2 },
 * ]);
 * console.log(compound.length); // 8 + 12
 * ```
 */
export function writeRtcpCompound(packets: readonly RtcpPacket[]): Uint8Array {
  const parts = packets.map(writeRtcp);
  const bytes = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.length;
  }
  return bytes;
}

/** Seconds from the NTP epoch (1900) to the Unix epoch (1970). */
const NTP_UNIX_OFFSET = 2_208_988_800;

/**
 * Converts Unix time in ms to a 64-bit NTP timestamp, as two unsigned 32-bit halves.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const { seconds, fraction } = ntpFromMs(1_700_000_000_500);
 * assert.equal(seconds, 3_908_988_800);
 * assert.equal(fraction, 0x80000000); // half a second
 * ```
 */
export function ntpFromMs(ms: number): { seconds: number; fraction: number } {
  const wholeSeconds = Math.floor(ms / 1000);
  const fraction = Math.floor(((ms - wholeSeconds * 1000) / 1000) * 0x1_0000_0000);
  return {
    seconds: (wholeSeconds + NTP_UNIX_OFFSET) >>> 0,
    fraction: Math.min(fraction, 0xffffffff),
  };
}

/**
 * The middle 32 bits of an NTP timestamp (16.16 fixed point seconds), the unit of LSR,
 * DLSR and round-trip computations.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.equal(compactNtp(0x12345678, 0x9abcdef0), 0x56789abc);
 * ```
 */
export function compactNtp(seconds: number, fraction: number): number {
  return (((seconds & 0xffff) << 16) | (fraction >>> 16)) >>> 0;
}

/**
 * The round trip time to the source of a report block, in ms (RFC 3550 section 6.4.1:
 * arrival - LSR - DLSR), or null when the block carries no LSR.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const sent = ntpFromMs(1_000_000); // an SR sent at t = 1000 s
 * const block: ReportBlock = { ssrc: 1, fractionLost: 0, cumulativeLost: 0, highestSeq: 0,
 *   jitter: 0, lsr: compactNtp(sent.seconds, sent.fraction), dlsr: 65536 / 2 }; // held 0.5 s
 * const rtt = roundTripMs(block, 1_000_000 + 500 + 40)!; // the RR arrives 540 ms later
 * assert.ok(Math.abs(rtt - 40) < 0.1);
 * ```
 */
export function roundTripMs(block: ReportBlock, arrivalMs: number): number | null {
  if (block.lsr === 0) return null;
  const { seconds, fraction } = ntpFromMs(arrivalMs);
  const units = (compactNtp(seconds, fraction) - block.lsr - block.dlsr) | 0;
  return Math.max(0, units) * 1000 / 65536;
}

const SEQ_MOD = 0x10000;
const MAX_DROPOUT = 3000;
const MAX_MISORDER = 100;

/**
 * Reception statistics of one RTP source, as RFC 3550 appendix A.1, A.3 and A.8 define
 * them: extended highest sequence number with wrap and restart detection, expected and
 * lost packets, the fraction lost per reporting interval and the interarrival jitter.
 * Time is injected (ms), so the class is pure.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const stats = new ReceptionStats(0x1234, 48000);
 * for (const seq of [1, 2, 4]) stats.receive(seq, seq * 960, seq * 20); // 3 is lost
 * const block = stats.reportBlock(100)!;
 * assert.equal(block.cumulativeLost, 1);
 * assert.equal(block.fractionLost, 64); // 1 of 4 = 64/256
 * ```
 */
export class ReceptionStats {
  #started = false;
  #maxSeq = 0;
  #cycles = 0;
  #baseSeq = 0;
  #badSeq = SEQ_MOD + 1;
  #received = 0;
  #expectedPrior = 0;
  #receivedPrior = 0;
  #jitter = 0;
  #lastArrival = 0;
  #lastTimestamp = 0;
  #lastSr: { compact: number; arrivalMs: number } | null = null;

  /**
   * Starts empty; the first packet received sets the base sequence number.
   *
   * @param ssrc the source reported on
   * @param clockRate its RTP clock rate in Hz (90000 for video, 48000 for Opus)
   */
  constructor(readonly ssrc: number, readonly clockRate: number) {}

  /**
   * Records one received packet. Returns false when the packet is discarded: a jump of
   * more than 3000 sequence numbers is ignored until a second packet confirms it, which
   * then restarts the statistics (the source restarted).
   *
   * @example
   * ```ts
   * const stats = new ReceptionStats(0x1234, 90000);
   * stats.receive(100, 3000, 0); // true
   * ```
   */
  receive(seq: number, rtpTimestamp: number, arrivalMs: number): boolean {
    seq &= 0xffff;
    if (!this.#started) {
      this.#restart(seq);
    } else {
      const delta = (seq - this.#maxSeq) & 0xffff;
      if (delta < MAX_DROPOUT) {
        if (seq < this.#maxSeq) this.#cycles += SEQ_MOD;
        this.#maxSeq = seq;
      } else if (delta <= SEQ_MOD - MAX_MISORDER) {
        if (seq !== this.#badSeq) {
          this.#badSeq = (seq + 1) & 0xffff;
          return false;
        }
        this.#restart(seq);
      }
      // else: a duplicate or a reordered packet, counted as received (RFC 3550 A.1).
    }
    const arrival = arrivalMs * this.clockRate / 1000;
    if (this.#received > 0) {
      const d = (arrival - this.#lastArrival) - timestampDiff(rtpTimestamp, this.#lastTimestamp);
      this.#jitter += (Math.abs(d) - this.#jitter) / 16;
    }
    this.#lastArrival = arrival;
    this.#lastTimestamp = rtpTimestamp >>> 0;
    this.#received++;
    return true;
  }

  #restart(seq: number): void {
    this.#started = true;
    this.#baseSeq = seq;
    this.#maxSeq = seq;
    this.#badSeq = SEQ_MOD + 1;
    this.#cycles = 0;
    this.#received = 0;
    this.#receivedPrior = 0;
    this.#expectedPrior = 0;
    this.#jitter = 0;
  }

  /**
   * Remembers the sender report just received from the source, for LSR and DLSR.
   *
   * @example
   * ```ts
   * const stats = new ReceptionStats(0x1234, 90000);
   * stats.receive(100, 3000, 0);
   * stats.senderReport(0x00011234, 0x56780000, 1000);
   * console.log(stats.reportBlock(1500)?.dlsr); // 32768: 0.5 s in 1/65536 s
   * ```
   */
  senderReport(ntpSeconds: number, ntpFraction: number, arrivalMs: number): void {
    this.#lastSr = { compact: compactNtp(ntpSeconds, ntpFraction), arrivalMs };
  }

  /** Packets received (duplicates included, as RFC 3550 counts them). */
  get received(): number {
    return this.#received;
  }

  /** Extended highest sequence number received. */
  get extendedHighestSeq(): number {
    return this.#cycles + this.#maxSeq;
  }

  /** Packets expected: extended highest - first + 1. */
  get expected(): number {
    return this.#started ? this.extendedHighestSeq - this.#baseSeq + 1 : 0;
  }

  /** Expected minus received since the start (negative with duplicates). */
  get cumulativeLost(): number {
    return this.expected - this.#received;
  }

  /** Interarrival jitter in RTP timestamp units. */
  get jitter(): number {
    return this.#jitter;
  }

  /** Interarrival jitter in ms. */
  get jitterMs(): number {
    return this.#jitter * 1000 / this.clockRate;
  }

  /**
   * Builds a report block and starts a new interval for `fractionLost`. Null before any
   * packet arrived.
   *
   * @example
   * ```ts
   * const stats = new ReceptionStats(0x1234, 90000);
   * stats.receive(100, 3000, 0);
   * const block = stats.reportBlock(5000);
   * if (block) writeReceiverReport({ ssrc: 7, reports: [block] });
   * ```
   */
  reportBlock(nowMs: number): ReportBlock | null {
    if (!this.#started) return null;
    const expected = this.expected;
    const expectedInterval = expected - this.#expectedPrior;
    const receivedInterval = this.#received - this.#receivedPrior;
    const lostInterval = expectedInterval - receivedInterval;
    this.#expectedPrior = expected;
    this.#receivedPrior = this.#received;
    const fractionLost = expectedInterval === 0 || lostInterval <= 0
      ? 0
      : Math.min(255, Math.floor((lostInterval * 256) / expectedInterval));
    const sr = this.#lastSr;
    return {
      ssrc: this.ssrc,
      fractionLost,
      cumulativeLost: Math.max(-0x800000, Math.min(0x7fffff, this.cumulativeLost)),
      highestSeq: this.extendedHighestSeq >>> 0,
      jitter: Math.floor(this.#jitter),
      lsr: sr ? sr.compact : 0,
      dlsr: sr ? Math.max(0, Math.round((nowMs - sr.arrivalMs) * 65.536)) : 0,
    };
  }
}
