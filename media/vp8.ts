/**
 * VP8 over RTP (RFC 7741): the payload descriptor, a packetizer that splits an encoded
 * frame into RTP payloads, and an assembler that turns received RTP packets back into
 * whole frames, dropping incomplete ones and asking for a keyframe.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { packetizeVp8, Vp8FrameAssembler } from "./vp8.ts";
 * import { parseRtp, writeRtp } from "./rtp.ts";
 *
 * // Sender: a 3000-byte keyframe (P bit 0) becomes 3 RTP packets of at most 1200 bytes.
 * const keyframe = new Uint8Array(3000).fill(0x10);
 * const payloads = packetizeVp8(keyframe, { maxPayloadSize: 1188, pictureId: 1 });
 * const datagrams = payloads.map((payload, i) =>
 *   writeRtp({ payloadType: 96, sequenceNumber: 100 + i, timestamp: 3000, ssrc: 5, payload,
 *     marker: i === payloads.length - 1 })
 * );
 *
 * // Receiver: packets in any order give back the frame.
 * const assembler = new Vp8FrameAssembler();
 * const frames = [datagrams[2], datagrams[0], datagrams[1]].flatMap((bytes) => {
 *   const parsed = parseRtp(bytes);
 *   return parsed.ok ? assembler.push(parsed.packet, 0) : [];
 * });
 * assert.equal(frames.length, 1);
 * assert.deepEqual(frames[0].data, keyframe);
 * assert.equal(frames[0].isKeyframe, true);
 * assert.equal(assembler.needsKeyframe, false); // else: send a PLI
 * ```
 * @module
 */

import type { RtpPacket } from "./rtp.ts";
import { seqDiff } from "./rtp.ts";

/**
 * A parsed VP8 payload descriptor. Fields of absent extensions are null.
 *
 * @example
 * ```ts
 * const parsed = parseVp8Descriptor(new Uint8Array([0x90, 0x80, 0x81, 0x02, 0x10]));
 * if (parsed.ok && parsed.descriptor.startOfPartition) {
 *   console.log("frame", parsed.descriptor.pictureId, "starts"); // frame 258 starts
 * }
 * ```
 */
export interface Vp8Descriptor {
  /** N: the frame is not used as a reference by other frames. */
  nonReference: boolean;
  /** S: the packet starts a VP8 partition. */
  startOfPartition: boolean;
  /** PID: the partition index (0..7). */
  partitionIndex: number;
  /** PictureID, 7 or 15 bits, or null. */
  pictureId: number | null;
  /** Width of the PictureID field: 0 when absent. */
  pictureIdBits: 0 | 7 | 15;
  /** TL0PICIDX, or null. */
  tl0PicIdx: number | null;
  /** TID: the temporal layer, or null. */
  temporalLayer: number | null;
  /** Y: layer sync bit (meaningful with a TID). */
  layerSync: boolean;
  /** KEYIDX, or null. */
  keyIdx: number | null;
  /** Size of the descriptor in bytes (1..6). */
  size: number;
}

/**
 * Why a payload has no valid VP8 descriptor: `empty` (no bytes at all) or `truncated`
 * (the extension fields run past the end).
 *
 * @example
 * ```ts
 * const parsed = parseVp8Descriptor(new Uint8Array([0x80]));
 * if (!parsed.ok) console.log(parsed.reason); // "truncated"
 * ```
 */
export type Vp8ParseError = "empty" | "truncated";

/**
 * The outcome of {@linkcode parseVp8Descriptor}; `payload` is the VP8 data after the
 * descriptor, a view into the input.
 *
 * @example
 * ```ts
 * const result: Vp8ParseResult = parseVp8Descriptor(new Uint8Array([0x10, 0x9d]));
 * console.log(result.ok && result.payload.length); // 1
 * ```
 */
export type Vp8ParseResult =
  | { ok: true; descriptor: Vp8Descriptor; payload: Uint8Array }
  | { ok: false; reason: Vp8ParseError };

/**
 * Parses the VP8 payload descriptor at the start of an RTP payload. Never throws.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const result = parseVp8Descriptor(new Uint8Array([0x90, 0x80, 0x81, 0x02, 0xaa, 0xbb]));
 * assert.ok(result.ok);
 * assert.equal(result.descriptor.startOfPartition, true);
 * assert.equal(result.descriptor.pictureId, 0x102);
 * assert.deepEqual(result.payload, new Uint8Array([0xaa, 0xbb]));
 * assert.deepEqual(parseVp8Descriptor(new Uint8Array([0x90, 0x80])), {
 *   ok: false,
 *   reason: "truncated",
 * });
 * ```
 */
export function parseVp8Descriptor(bytes: Uint8Array): Vp8ParseResult {
  if (bytes.length === 0) return { ok: false, reason: "empty" };
  const first = bytes[0];
  const descriptor: Vp8Descriptor = {
    nonReference: (first & 0x20) !== 0,
    startOfPartition: (first & 0x10) !== 0,
    partitionIndex: first & 0x07,
    pictureId: null,
    pictureIdBits: 0,
    tl0PicIdx: null,
    temporalLayer: null,
    layerSync: false,
    keyIdx: null,
    size: 1,
  };
  let offset = 1;
  if (first & 0x80) {
    if (offset >= bytes.length) return { ok: false, reason: "truncated" };
    const extensions = bytes[offset++];
    if (extensions & 0x80) {
      if (offset >= bytes.length) return { ok: false, reason: "truncated" };
      if (bytes[offset] & 0x80) {
        if (offset + 1 >= bytes.length) return { ok: false, reason: "truncated" };
        descriptor.pictureId = ((bytes[offset] & 0x7f) << 8) | bytes[offset + 1];
        descriptor.pictureIdBits = 15;
        offset += 2;
      } else {
        descriptor.pictureId = bytes[offset] & 0x7f;
        descriptor.pictureIdBits = 7;
        offset += 1;
      }
    }
    if (extensions & 0x40) {
      if (offset >= bytes.length) return { ok: false, reason: "truncated" };
      descriptor.tl0PicIdx = bytes[offset++];
    }
    if (extensions & 0x30) {
      if (offset >= bytes.length) return { ok: false, reason: "truncated" };
      const layer = bytes[offset++];
      if (extensions & 0x20) {
        descriptor.temporalLayer = layer >> 6;
        descriptor.layerSync = (layer & 0x20) !== 0;
      }
      if (extensions & 0x10) descriptor.keyIdx = layer & 0x1f;
    }
  }
  descriptor.size = offset;
  return { ok: true, descriptor, payload: bytes.subarray(offset) };
}

/**
 * Fields for {@linkcode writeVp8Descriptor}; absent or null extensions are left out. A
 * PictureID is written with 15 bits unless `pictureIdBits` is 7.
 *
 * @example
 * ```ts
 * const fields: Vp8DescriptorFields = { startOfPartition: true, pictureId: 300 };
 * writeVp8Descriptor(fields); // 4 bytes
 * ```
 */
export interface Vp8DescriptorFields {
  /** N bit (default false). */
  nonReference?: boolean;
  /** S bit (default false). */
  startOfPartition?: boolean;
  /** PID, 0..7 (default 0). */
  partitionIndex?: number;
  /** PictureID (default none). */
  pictureId?: number | null;
  /** 7 or 15 (default 15). */
  pictureIdBits?: 0 | 7 | 15;
  /** TL0PICIDX (default none). */
  tl0PicIdx?: number | null;
  /** TID, 0..3 (default none). */
  temporalLayer?: number | null;
  /** Y bit, written with a TID or KEYIDX (default false). */
  layerSync?: boolean;
  /** KEYIDX, 0..31 (default none). */
  keyIdx?: number | null;
}

/**
 * Serializes a VP8 payload descriptor (1..6 bytes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(
 *   writeVp8Descriptor({ startOfPartition: true, pictureId: 0x1234 }),
 *   new Uint8Array([0x90, 0x80, 0x92, 0x34]),
 * );
 * ```
 */
export function writeVp8Descriptor(fields: Vp8DescriptorFields): Uint8Array {
  const pictureId = fields.pictureId ?? null;
  const tl0PicIdx = fields.tl0PicIdx ?? null;
  const temporalLayer = fields.temporalLayer ?? null;
  const keyIdx = fields.keyIdx ?? null;
  const bytes: number[] = [
    (fields.nonReference ? 0x20 : 0) | (fields.startOfPartition ? 0x10 : 0) |
    ((fields.partitionIndex ?? 0) & 0x07),
  ];
  const extended = pictureId !== null || tl0PicIdx !== null || temporalLayer !== null ||
    keyIdx !== null;
  if (extended) {
    bytes[0] |= 0x80;
    bytes.push(
      (pictureId !== null ? 0x80 : 0) | (tl0PicIdx !== null ? 0x40 : 0) |
        (temporalLayer !== null ? 0x20 : 0) | (keyIdx !== null ? 0x10 : 0),
    );
    if (pictureId !== null) {
      if (fields.pictureIdBits === 7) bytes.push(pictureId & 0x7f);
      else bytes.push(0x80 | ((pictureId >> 8) & 0x7f), pictureId & 0xff);
    }
    if (tl0PicIdx !== null) bytes.push(tl0PicIdx & 0xff);
    if (temporalLayer !== null || keyIdx !== null) {
      bytes.push(
        ((temporalLayer ?? 0) & 0x03) << 6 | (fields.layerSync ? 0x20 : 0) | ((keyIdx ?? 0) & 0x1f),
      );
    }
  }
  return new Uint8Array(bytes);
}

/**
 * True when an RTP payload starts a VP8 keyframe: S=1, PID=0 and the P bit of the VP8
 * payload header is 0. Never throws.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const [first] = packetizeVp8(new Uint8Array([0x10, 0x02, 0x00]), {
 *   maxPayloadSize: 1188,
 *   pictureId: 0,
 * });
 * assert.equal(isVp8KeyframeStart(first), true);
 * assert.equal(isVp8KeyframeStart(new Uint8Array([0x10, 0x11])), false); // P=1: delta
 * ```
 */
export function isVp8KeyframeStart(payload: Uint8Array): boolean {
  const parsed = parseVp8Descriptor(payload);
  return parsed.ok && parsed.descriptor.startOfPartition &&
    parsed.descriptor.partitionIndex === 0 && parsed.payload.length > 0 &&
    (parsed.payload[0] & 0x01) === 0;
}

/**
 * Options of {@linkcode packetizeVp8}.
 *
 * @example
 * ```ts
 * const options: Vp8PacketizeOptions = { maxPayloadSize: 1188, pictureId: 17 };
 * packetizeVp8(new Uint8Array(100), options).length; // 1
 * ```
 */
export interface Vp8PacketizeOptions {
  /** Largest RTP payload (descriptor included), e.g. 1200 - 12 = 1188 in this project. */
  maxPayloadSize: number;
  /** The frame's PictureID, written with 15 bits (taken modulo 2^15). */
  pictureId: number;
  /** Sets N: the frame is not a reference for later frames. */
  nonReference?: boolean;
  /**
   * The frame's temporal layer (TID, 0..3) with the layered encodings' TL0PICIDX and Y bit
   * (see {@linkcode Vp8TemporalLayer}); absent: no temporal layering, a 4-byte descriptor.
   */
  layer?: Vp8TemporalLayer | null;
}

/**
 * Where a frame of a temporally layered VP8 stream (WebCodecs' `scalabilityMode: "L1T3"`)
 * stands, as its payload descriptor says (RFC 7741): `temporalLayer` (TID) 0 is the base
 * layer, each frame of which references only the base layer's frame before it; a frame of
 * layer 1 or 2 references frames of lower layers since the last base frame. `tl0PicIdx`
 * counts base-layer frames (mod 256): a base frame carries its own index, others the index
 * of the base frame they follow. `layerSync` (Y): the frame references only that base frame.
 *
 * @example
 * ```ts
 * const firstOfGroup: Vp8TemporalLayer = { temporalLayer: 0, tl0PicIdx: 9, layerSync: false };
 * const next: Vp8TemporalLayer = { temporalLayer: 2, tl0PicIdx: 9, layerSync: true };
 * ```
 */
export interface Vp8TemporalLayer {
  temporalLayer: number;
  tl0PicIdx: number;
  layerSync: boolean;
}

/** Size of the descriptor the packetizer writes: X, I and a 15-bit PictureID. */
export const VP8_PACKETIZER_DESCRIPTOR_SIZE = 4;
/** The same with temporal layers: TL0PICIDX and a byte for TID and Y as well. */
export const VP8_LAYERED_DESCRIPTOR_SIZE = 6;

/**
 * Splits one encoded VP8 frame into RTP payloads of near-equal size, each starting with a
 * descriptor carrying a 15-bit PictureID (and the frame's temporal layer, when given); the
 * first has S=1. Set the RTP marker bit on the last one. Throws `RangeError` for an empty
 * frame or a `maxPayloadSize` that leaves no room past the descriptor.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * let pictureId = 0x7fff;
 * const payloads = packetizeVp8(new Uint8Array(2500), { maxPayloadSize: 1188, pictureId });
 * pictureId = (pictureId + 1) & 0x7fff; // wraps to 0 for the next frame
 * assert.deepEqual(payloads.map((p) => p.length), [838, 837, 837]); // 4-byte descriptor each
 * ```
 */
export function packetizeVp8(frame: Uint8Array, options: Vp8PacketizeOptions): Uint8Array[] {
  const layer = options.layer ?? null;
  const descriptorSize = layer ? VP8_LAYERED_DESCRIPTOR_SIZE : VP8_PACKETIZER_DESCRIPTOR_SIZE;
  const capacity = Math.floor(options.maxPayloadSize) - descriptorSize;
  if (capacity < 1) {
    throw new RangeError(`maxPayloadSize ${options.maxPayloadSize} leaves no room for data`);
  }
  if (frame.length === 0) throw new RangeError("cannot packetize an empty frame");
  const count = Math.ceil(frame.length / capacity);
  const base = Math.floor(frame.length / count);
  const larger = frame.length % count; // this many payloads carry one byte more
  const pictureId = options.pictureId & 0x7fff;
  const payloads: Uint8Array[] = [];
  let offset = 0;
  for (let i = 0; i < count; i++) {
    const size = base + (i < larger ? 1 : 0);
    const payload = new Uint8Array(descriptorSize + size);
    payload[0] = 0x80 | (options.nonReference ? 0x20 : 0) | (i === 0 ? 0x10 : 0);
    payload[1] = layer ? 0xe0 : 0x80; // I, and L and T with a layer
    payload[2] = 0x80 | (pictureId >> 8);
    payload[3] = pictureId & 0xff;
    if (layer) {
      payload[4] = layer.tl0PicIdx & 0xff;
      payload[5] = (layer.temporalLayer & 0x03) << 6 | (layer.layerSync ? 0x20 : 0);
    }
    payload.set(frame.subarray(offset, offset + size), descriptorSize);
    payloads.push(payload);
    offset += size;
  }
  return payloads;
}

/**
 * A whole VP8 frame rebuilt by {@linkcode Vp8FrameAssembler}.
 *
 * @example
 * ```ts
 * const frame: Vp8Frame = {
 *   data: new Uint8Array([0x10, 0x02, 0x00]), rtpTimestamp: 3000, isKeyframe: true,
 *   pictureId: 1, afterLoss: false, layer: null,
 * };
 * // In a browser: decoder.decode(new EncodedVideoChunk({ type: frame.isKeyframe ? "key"
 * //   : "delta", timestamp: frame.rtpTimestamp, data: frame.data }));
 * ```
 */
export interface Vp8Frame {
  /** The encoded frame: its packets' payloads joined (a view for a one-packet frame). */
  data: Uint8Array;
  /** The RTP timestamp of its packets (90 kHz). */
  rtpTimestamp: number;
  /** P bit of the VP8 payload header is 0. */
  isKeyframe: boolean;
  /** The PictureID of the frame's first packet, or null when it carried none. */
  pictureId: number | null;
  /** True when frames were dropped since the previously emitted frame. */
  afterLoss: boolean;
  /** Its temporal layer, from its first packet's descriptor; null without layering. */
  layer: Vp8TemporalLayer | null;
}

/**
 * Options of {@linkcode Vp8FrameAssembler}.
 *
 * @example
 * ```ts
 * new Vp8FrameAssembler({ maxWaitMs: 50, skipUntilKeyframe: true });
 * ```
 */
export interface Vp8AssemblerOptions {
  /** Most packets held at once (default 1024, about 1.2 MB); the oldest frame gives way. */
  maxPackets?: number;
  /**
   * How long a frame with a missing packet may hold back newer frames before it is dropped
   * (default 100 ms). A frame waits only while a newer frame has begun to arrive.
   */
  maxWaitMs?: number;
  /**
   * After a dropped frame, drop delta frames until the next keyframe instead of emitting
   * them (they reference the lost frame). Default false: emit them with `afterLoss`. In a
   * temporally layered stream only the frames that reference a lost one are dropped, and a
   * keyframe is needed only when the base layer lost one (see the class documentation).
   */
  skipUntilKeyframe?: boolean;
  /**
   * How long an incomplete frame waits before it is given up anyway when the frame after it
   * is complete and does not reference it (a keyframe, or a base or layer sync frame of a
   * layered stream), ms (default 40, at most `maxWaitMs`): long enough for a packet merely
   * reordered, shorter than a resend's round trip.
   */
  passWaitMs?: number;
  /**
   * How long an incomplete base-layer frame of a layered stream may hold back newer frames,
   * ms (default and at least `maxWaitMs`). Every later frame references it, so giving it up
   * costs them all until a keyframe (asked for, and at most one per 2 s per sender from the
   * server): waiting longer for its resend costs nothing more.
   */
  baseWaitMs?: number;
}

/**
 * Counters of a {@linkcode Vp8FrameAssembler}.
 *
 * @example
 * ```ts
 * const assembler = new Vp8FrameAssembler();
 * const stats: Vp8AssemblerStats = assembler.stats;
 * console.log(stats.framesDropped); // 0
 * ```
 */
export interface Vp8AssemblerStats {
  /** Complete frames returned. */
  framesEmitted: number;
  /** Of which keyframes. */
  keyframesEmitted: number;
  /** Frames lost or dropped as incomplete, or skipped while waiting for a keyframe. */
  framesDropped: number;
  /** Packets received twice while their frame was still held. */
  duplicatePackets: number;
  /** Packets that arrived after their frame was emitted or dropped. */
  latePackets: number;
  /** Packets without a valid VP8 descriptor. */
  invalidPackets: number;
  /**
   * Held packets looked at while finding where frames end: the work done. A search for a
   * complete frame looks at each held packet at most once, so this grows by at most about
   * `maxPackets` per packet pushed, never by the square of what is held.
   */
  packetsScanned: number;
}

interface StoredPacket {
  timestamp: number;
  marker: boolean;
  /** S=1 and PID=0: the first packet of a frame. */
  start: boolean;
  keyframe: boolean;
  pictureId: number | null;
  layer: Vp8TemporalLayer | null;
  data: Uint8Array;
}

/**
 * Rebuilds VP8 frames from the RTP packets of one SSRC, which may arrive reordered,
 * duplicated or not at all. Frames come out complete and in order: a frame is complete
 * when the sequence numbers from its S=1 packet to its marker packet (or to the packet
 * before the timestamp changes) are all present. The first frame emitted is a keyframe.
 * Incomplete frames are dropped after `maxWaitMs`, and then {@linkcode needsKeyframe}
 * stays true until a keyframe is emitted: send a PLI (rate-limited) while it is true.
 * A temporally layered stream (descriptors with TID and TL0PICIDX, see
 * {@linkcode Vp8TemporalLayer}) loses less: after a dropped frame, the frames that reference
 * it are dropped too (with `skipUntilKeyframe`) but the others come out, and a keyframe is
 * needed only when a base-layer frame was lost (seen when a later frame names the next base
 * frame). With Chromium's L1T3 (layers 0,2,1,2 ...) a lost layer-2 frame costs that frame
 * alone, a layer-1 frame the one after it.
 * Memory is bounded by `maxPackets`. Time is injected, so the class is pure.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { RtpPacket } from "./rtp.ts";
 *
 * const packet = (seq: number, timestamp: number, payload: number[]): RtpPacket => ({
 *   version: 2, padding: false, paddingLength: 0, marker: true, payloadType: 96,
 *   sequenceNumber: seq, timestamp, ssrc: 5, csrcs: [], extension: null,
 *   payload: new Uint8Array(payload),
 * });
 * const assembler = new Vp8FrameAssembler({ maxWaitMs: 100 });
 * // One-packet frames: a keyframe, a delta frame that is lost, then more delta frames.
 * assembler.push(packet(1, 0, [0x10, 0x00]), 0); // [keyframe]
 * assembler.push(packet(3, 6000, [0x10, 0x01]), 66); // [] : waits for seq 2
 * const late = assembler.push(packet(4, 9000, [0x10, 0x01]), 200); // seq 2 given up
 * assert.deepEqual(late.map((f) => f.rtpTimestamp), [6000, 9000]);
 * assert.equal(late[0].afterLoss, true);
 * assert.equal(assembler.needsKeyframe, true); // send a PLI (rate-limited)
 * ```
 */
export class Vp8FrameAssembler {
  readonly #maxPackets: number;
  readonly #maxWaitMs: number;
  readonly #skipUntilKeyframe: boolean;
  readonly #passWaitMs: number;
  readonly #baseWaitMs: number;
  /** Stored packets by extended sequence number. */
  #packets = new Map<number, StoredPacket>();
  /** Extended sequence numbers of stored keyframe starts. */
  #keyframeStarts = new Set<number>();
  #highest: number | null = null;
  /** Extended sequence number where the next frame starts; null until a keyframe anchors. */
  #next: number | null = null;
  #waitingSinceMs: number | null = null;
  /** The last packet far behind the stream: kept in case it starts a restarted stream. */
  #stray: RtpPacket | null = null;
  #needsKeyframe = false;
  #awaitingKeyframe = false;
  #lossPending = false;
  #lastPictureId: number | null = null;
  /** Layered streams: TL0PICIDX of the last base frame emitted, null when not layered. */
  #base: number | null = null;
  /** Layered streams: a frame of the current group (after its base frame) was lost. */
  #groupLoss = false;
  #stats: Vp8AssemblerStats = {
    framesEmitted: 0,
    keyframesEmitted: 0,
    framesDropped: 0,
    duplicatePackets: 0,
    latePackets: 0,
    invalidPackets: 0,
    packetsScanned: 0,
  };

  /**
   * Starts empty, waiting for a keyframe.
   *
   * @example
   * ```ts
   * const assembler = new Vp8FrameAssembler({ maxPackets: 512, maxWaitMs: 80 });
   * console.log(assembler.bufferedPackets); // 0
   * ```
   */
  constructor(options: Vp8AssemblerOptions = {}) {
    this.#maxPackets = Math.max(16, options.maxPackets ?? 1024);
    this.#maxWaitMs = options.maxWaitMs ?? 100;
    this.#skipUntilKeyframe = options.skipUntilKeyframe ?? false;
    this.#passWaitMs = Math.min(this.#maxWaitMs, options.passWaitMs ?? 40);
    this.#baseWaitMs = Math.max(this.#maxWaitMs, options.baseWaitMs ?? this.#maxWaitMs);
  }

  /** True from a dropped frame (or a stream that did not start with one) to the next keyframe. */
  get needsKeyframe(): boolean {
    return this.#needsKeyframe;
  }

  /** A snapshot of the counters. */
  get stats(): Vp8AssemblerStats {
    return { ...this.#stats };
  }

  /** Packets currently held. */
  get bufferedPackets(): number {
    return this.#packets.size;
  }

  /**
   * Adds one RTP packet and returns the frames it completes, in order (often none).
   *
   * @example
   * ```ts
   * import { parseRtp, writeRtp } from "./rtp.ts";
   *
   * const assembler = new Vp8FrameAssembler();
   * const frame = new Uint8Array([0x10, 2, 3]);
   * const [payload] = packetizeVp8(frame, { maxPayloadSize: 1188, pictureId: 0 });
   * const parsed = parseRtp(writeRtp({ payloadType: 96, sequenceNumber: 1, timestamp: 0, ssrc: 5,
   *   marker: true, payload }));
   * if (parsed.ok) {
   *   for (const frame of assembler.push(parsed.packet, 0)) console.log(frame.data.length); // 3
   * }
   * ```
   */
  push(packet: RtpPacket, nowMs: number): Vp8Frame[] {
    const parsed = parseVp8Descriptor(packet.payload);
    if (!parsed.ok) {
      this.#stats.invalidPackets++;
      return this.poll(nowMs);
    }
    const { descriptor, payload } = parsed;
    let ext = this.#extend(packet.sequenceNumber);
    if (this.#highest !== null && ext - this.#highest < -this.#maxPackets) {
      // Far in the past: a stray old packet, unless the next one confirms that the sender
      // restarted with lower sequence numbers (as RFC 3550 A.1 does).
      const stray = this.#stray;
      if (stray === null || packet.sequenceNumber !== ((stray.sequenceNumber + 1) & 0xffff)) {
        this.#stray = packet;
        this.#stats.latePackets++;
        return this.poll(nowMs);
      }
      this.#restart();
      this.#stats.latePackets--; // the stray packet was not late after all
      return [...this.push(stray, nowMs), ...this.push(packet, nowMs)];
    }
    if (this.#highest !== null && ext - this.#highest > this.#maxPackets) {
      this.#restart(); // a long outage or a restarted sender: start over from a keyframe
      ext = this.#extend(packet.sequenceNumber);
    }
    if (this.#next !== null && ext < this.#next) {
      this.#stats.latePackets++;
      return this.poll(nowMs);
    }
    if (this.#packets.has(ext)) {
      this.#stats.duplicatePackets++;
      return this.poll(nowMs);
    }
    const start = descriptor.startOfPartition && descriptor.partitionIndex === 0;
    const keyframe = start && payload.length > 0 && (payload[0] & 0x01) === 0;
    this.#packets.set(ext, {
      timestamp: packet.timestamp,
      marker: packet.marker,
      start,
      keyframe,
      pictureId: descriptor.pictureId,
      layer: descriptor.temporalLayer !== null && descriptor.tl0PicIdx !== null
        ? {
          temporalLayer: descriptor.temporalLayer,
          tl0PicIdx: descriptor.tl0PicIdx,
          layerSync: descriptor.layerSync,
        }
        : null,
      data: payload,
    });
    if (keyframe) this.#keyframeStarts.add(ext);
    if (this.#highest === null || ext > this.#highest) this.#highest = ext;
    return this.poll(nowMs);
  }

  /**
   * Releases what time allows without a new packet: frames held back by an incomplete
   * frame that has now waited `maxWaitMs`.
   *
   * @example
   * ```ts
   * const assembler = new Vp8FrameAssembler();
   * // e.g. from a timer, so that frames behind a lost packet are not held until the next one
   * const frames = assembler.poll(performance.now());
   * console.log(frames.length); // 0
   * ```
   */
  poll(nowMs: number): Vp8Frame[] {
    const frames: Vp8Frame[] = [];
    while (this.#packets.size > 0) {
      if (this.#next === null && !this.#anchor(nowMs)) break;
      const frame = this.#takeFrame();
      if (frame === "incomplete") {
        if (!this.#shouldDropHead(nowMs) && !this.#mayPassHead(nowMs)) break;
        this.#dropHead();
        this.#waitingSinceMs = nowMs;
        continue;
      }
      if (frame === "broken") {
        this.#dropHead();
        continue;
      }
      this.#waitingSinceMs = null;
      if (this.#awaitingKeyframe && !frame.isKeyframe) {
        this.#stats.framesDropped++;
        continue;
      }
      if (!frame.isKeyframe && this.#base !== null && !this.#layerIntact(frame)) {
        this.#stats.framesDropped++;
        continue;
      }
      this.#emitted(frame);
      frames.push(frame);
    }
    if (this.#packets.size === 0) this.#waitingSinceMs = null;
    return frames;
  }

  /** Forgets every packet and waits for a keyframe again; counters are kept. */
  reset(): void {
    this.#restart();
    this.#needsKeyframe = false;
    this.#lossPending = false;
  }

  #restart(): void {
    this.#packets.clear();
    this.#keyframeStarts.clear();
    this.#highest = null;
    this.#next = null;
    this.#waitingSinceMs = null;
    this.#awaitingKeyframe = false;
    this.#lastPictureId = null;
    this.#stray = null;
    this.#lossPending = true;
    this.#base = null;
    this.#groupLoss = false;
  }

  #extend(seq: number): number {
    return this.#highest === null ? seq : this.#highest + seqDiff(seq, this.#highest & 0xffff);
  }

  /**
   * Starts at the oldest complete keyframe; returns false while there is none, or while
   * older packets that may belong to an earlier keyframe have waited less than `maxWaitMs`.
   */
  #anchor(nowMs: number): boolean {
    this.#waitingSinceMs ??= nowMs;
    const waited = nowMs - this.#waitingSinceMs >= this.#maxWaitMs;
    const keyframe = this.#firstComplete([...this.#keyframeStarts]);
    if (keyframe === undefined || (!waited && this.#mayHoldOlderKeyframe(keyframe))) {
      if (waited || this.#hasCompleteDeltaFrame()) this.#needsKeyframe = true;
      if (this.#packets.size > this.#maxPackets) this.#dropOldest(this.#maxPackets);
      return false;
    }
    for (const [ext, packet] of this.#packets) {
      if (ext >= keyframe) continue;
      if (packet.start) this.#stats.framesDropped++; // older than the keyframe: useless
      this.#delete(ext);
    }
    this.#next = keyframe;
    this.#waitingSinceMs = null;
    return true;
  }

  /** True when packets before `keyframe` include a frame not known to be a delta frame. */
  #mayHoldOlderKeyframe(keyframe: number): boolean {
    const older = new Set<number>();
    const deltas = new Set<number>();
    for (const [ext, packet] of this.#packets) {
      if (ext >= keyframe) continue;
      older.add(packet.timestamp);
      if (packet.start && !packet.keyframe) deltas.add(packet.timestamp);
    }
    for (const timestamp of older) if (!deltas.has(timestamp)) return true;
    return false;
  }

  #hasCompleteDeltaFrame(): boolean {
    const starts: number[] = [];
    for (const [ext, packet] of this.#packets) {
      if (packet.start && !packet.keyframe) starts.push(ext);
    }
    return this.#firstComplete(starts) !== undefined;
  }

  /**
   * The first of these frame starts whose frame is complete. A scan that stops without an
   * end (a missing packet, or a frame too long) also settles every start it passed: their
   * frames run into the same gap. So each held packet is looked at once, however many
   * starts there are (a sender of nothing but frame starts of one timestamp with no marker
   * made this quadratic in the packets held, on every packet).
   */
  #firstComplete(starts: number[]): number | undefined {
    starts.sort((a, b) => a - b);
    let settledBelow = -Infinity;
    for (const start of starts) {
      if (start < settledBelow) continue;
      const { end, stop } = this.#scan(start);
      if (end !== null) return start;
      settledBelow = stop;
    }
    return undefined;
  }

  /**
   * The extended sequence number of the last packet of the frame starting at `start`, or
   * null when a packet is missing.
   */
  #frameEnd(start: number): number | null {
    return this.#scan(start).end;
  }

  /** Where the frame starting at `start` ends (null: not complete) and where the scan stopped. */
  #scan(start: number): { end: number | null; stop: number } {
    const first = this.#packets.get(start);
    if (!first) return { end: null, stop: start };
    let ext = start;
    for (; ext - start < this.#maxPackets; ext++) {
      const packet = this.#packets.get(ext);
      this.#stats.packetsScanned++;
      if (!packet) return { end: null, stop: ext };
      if (packet.timestamp !== first.timestamp) return { end: ext - 1, stop: ext };
      if (packet.marker) return { end: ext, stop: ext };
    }
    return { end: null, stop: ext };
  }

  /** Takes the frame at the head if complete; reports why not otherwise. */
  #takeFrame(): Vp8Frame | "incomplete" | "broken" {
    const start = this.#next!;
    const first = this.#packets.get(start);
    if (first && !first.start) return "broken";
    const end = first ? this.#frameEnd(start) : null;
    if (!first || end === null) return "incomplete";
    const parts: Uint8Array[] = [];
    for (let ext = start; ext <= end; ext++) {
      parts.push(this.#packets.get(ext)!.data);
      this.#delete(ext);
    }
    this.#next = end + 1;
    return {
      data: parts.length === 1 ? parts[0] : concat(parts), // one packet: no copy
      rtpTimestamp: first.timestamp,
      isKeyframe: first.keyframe,
      pictureId: first.pictureId,
      afterLoss: this.#lossPending,
      layer: first.layer,
    };
  }

  #emitted(frame: Vp8Frame): void {
    this.#stats.framesEmitted++;
    if (frame.isKeyframe) {
      this.#stats.keyframesEmitted++;
      this.#needsKeyframe = false;
      this.#awaitingKeyframe = false;
    }
    this.#lossPending = false;
    if (frame.pictureId !== null) this.#lastPictureId = frame.pictureId;
    if (frame.layer === null) {
      this.#base = null;
    } else if (frame.isKeyframe || frame.layer.temporalLayer === 0) {
      this.#base = frame.layer.tl0PicIdx;
      this.#groupLoss = false;
    }
  }

  /**
   * Whether a delta frame of a layered stream references only frames that were emitted (see
   * `referencesEmitted`). When not, the frame is dropped; a keyframe is needed only when the
   * base layer broke.
   */
  #layerIntact(frame: Vp8Frame): boolean {
    const layer = frame.layer;
    if (layer === null) {
      this.#base = null; // the layering stopped: judge losses as in a plain stream
      return true;
    }
    if (referencesEmitted(layer, this.#base!, this.#groupLoss)) return true;
    this.#lossPending = true;
    if (layer.temporalLayer > 0 && groupsAhead(layer, this.#base!) === 0) {
      this.#groupLoss = true; // only this group's upper layers are affected
    } else {
      this.#base = null; // a base frame is missing: nothing decodes until a keyframe
      this.#needsKeyframe = true;
      if (this.#skipUntilKeyframe) this.#awaitingKeyframe = true;
    }
    return false;
  }

  /**
   * Whether an incomplete head frame that has waited `passWaitMs` may be given up at once
   * because the next frame is complete and does not need it: a keyframe, or in a layered
   * stream the next base frame or a layer sync frame of the current group. Waiting longer
   * for the head (a resend takes a round trip) would only hold that frame back.
   */
  #mayPassHead(nowMs: number): boolean {
    if (this.#waitingSinceMs === null || nowMs - this.#waitingSinceMs < this.#passWaitMs) {
      return false;
    }
    const start = this.#nextFrameStart();
    if (start === null) return false;
    const first = this.#packets.get(start)!;
    // Judged as if the head were already given up: a loss in the current group.
    const independent = first.keyframe ||
      (first.layer !== null && this.#base !== null &&
        referencesEmitted(first.layer, this.#base, true));
    return independent && this.#frameEnd(start) !== null;
  }

  /** The first frame start held after the head's, or null. */
  #nextFrameStart(): number | null {
    for (let ext = this.#next! + 1; ext <= this.#highest!; ext++) {
      if (this.#packets.get(ext)?.start) return ext;
    }
    return null;
  }

  /**
   * True when the incomplete head frame of a layered stream is a base frame: its own first
   * packet says so, or the next frame names a base frame after the last one emitted.
   */
  #headIsBase(): boolean {
    if (this.#base === null) return false;
    const head = this.#packets.get(this.#next!);
    if (head?.start) return head.layer?.temporalLayer === 0;
    const start = this.#nextFrameStart();
    const next = start === null ? undefined : this.#packets.get(start);
    if (!next || next.keyframe || next.layer === null) return false;
    const ahead = groupsAhead(next.layer, this.#base);
    return next.layer.temporalLayer === 0 ? ahead >= 2 : ahead >= 1;
  }

  /**
   * An incomplete head frame is dropped when it overflows the buffer or waited too long:
   * `maxWaitMs`, or `baseWaitMs` for a base frame of a layered stream.
   */
  #shouldDropHead(nowMs: number): boolean {
    if (this.#packets.size > this.#maxPackets) return true;
    if (!this.#newerFrameBegun()) {
      this.#waitingSinceMs = null;
      return false;
    }
    this.#waitingSinceMs ??= nowMs;
    const waited = nowMs - this.#waitingSinceMs;
    if (waited < this.#maxWaitMs) return false;
    return waited >= this.#baseWaitMs || !this.#headIsBase();
  }

  /**
   * True when packets of a frame later than the head one are held: only then is a missing
   * packet of the head frame evidence of loss rather than of a frame still arriving.
   */
  #newerFrameBegun(): boolean {
    const newest = this.#packets.get(this.#highest!)!;
    const head = this.#packets.get(this.#next!);
    if (head) return newest.timestamp !== head.timestamp;
    // The head packet is missing: any frame start held lies beyond the gap.
    for (const packet of this.#packets.values()) if (packet.start) return true;
    const oldest = this.#firstStoredFrom(this.#next!);
    return oldest !== null && newest.timestamp !== this.#packets.get(oldest)!.timestamp;
  }

  #firstStoredFrom(from: number): number | null {
    for (let ext = from; ext <= this.#highest!; ext++) {
      if (this.#packets.has(ext)) return ext;
    }
    return null;
  }

  /** Drops the head frame: every packet up to the next frame start held. */
  #dropHead(): void {
    const from = this.#next!;
    let nextStart = this.#highest! + 1;
    for (let ext = from + 1; ext <= this.#highest!; ext++) {
      if (this.#packets.get(ext)?.start) {
        nextStart = ext;
        break;
      }
    }
    for (let ext = from; ext < nextStart; ext++) this.#delete(ext);
    this.#next = nextStart;

    const following = this.#packets.get(nextStart);
    let dropped = 1;
    if (following?.pictureId != null && this.#lastPictureId !== null) {
      const gap = (following.pictureId - this.#lastPictureId - 1) & 0x7fff;
      if (gap > 0 && gap < 1000) dropped = gap;
    }
    this.#stats.framesDropped += dropped;
    this.#lossPending = true;
    if (this.#base !== null) {
      // Layered: the frames after it tell whether it was a base frame (see #layerIntact).
      this.#groupLoss = true;
      return;
    }
    this.#needsKeyframe = true;
    if (this.#skipUntilKeyframe) this.#awaitingKeyframe = true;
  }

  /** While unanchored, forgets the oldest packets until at most `limit` remain. */
  #dropOldest(limit: number): void {
    const sorted = [...this.#packets.keys()].sort((a, b) => a - b);
    for (const ext of sorted.slice(0, sorted.length - limit)) this.#delete(ext);
  }

  #delete(ext: number): void {
    this.#packets.delete(ext);
    this.#keyframeStarts.delete(ext);
  }
}

/** How many base frames (groups) `layer`'s frame is past the base frame `base` (mod 256). */
function groupsAhead(layer: Vp8TemporalLayer, base: number): number {
  return (layer.tl0PicIdx - base) & 0xff;
}

/**
 * Whether a delta frame of a layered stream references only emitted frames, the last base
 * frame emitted being `base` and `groupLoss` telling whether a frame after it was lost: a base
 * frame needs that base frame (it is the next one); an upper-layer frame needs to be in its
 * group, and unless it is a layer sync frame, no frame of the group to be lost.
 */
function referencesEmitted(layer: Vp8TemporalLayer, base: number, groupLoss: boolean): boolean {
  const ahead = groupsAhead(layer, base);
  return layer.temporalLayer === 0 ? ahead === 1 : ahead === 0 && (layer.layerSync || !groupLoss);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((size, part) => size + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * What the first bytes of a VP8 frame tell (RFC 6386 section 9.1): keyframe or not, and
 * for a keyframe with a valid start code, its picture size.
 *
 * @example
 * ```ts
 * const key = new Uint8Array([0x50, 0x01, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00]);
 * vp8FrameInfo(key); // { keyframe: true, width: 320, height: 240 }
 * ```
 */
export function vp8FrameInfo(
  data: Uint8Array,
): { keyframe: boolean; width?: number; height?: number } {
  if (data.length < 3) return { keyframe: false };
  const keyframe = (data[0] & 0x01) === 0;
  if (!keyframe || data.length < 10) return { keyframe };
  if (data[3] !== 0x9d || data[4] !== 0x01 || data[5] !== 0x2a) return { keyframe };
  return {
    keyframe,
    width: (data[6] | (data[7] << 8)) & 0x3fff,
    height: (data[8] | (data[9] << 8)) & 0x3fff,
  };
}
