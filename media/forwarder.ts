/**
 * One receiver's view of one sender's video: which of the sender's encodings it gets (the
 * full one or the small one, see `smallVideoSsrc` in protocol/media.ts), which of the
 * encoding's temporal layers, and the sequence numbers it sees. The receiver knows one stream
 * per sender; the forwarder switches it from one encoding to the other at a keyframe of the
 * new one, and numbers what it forwards so that the receiver sees one run of sequence
 * numbers: a gap it sees is a packet lost, which it may NACK ({@linkcode Forwarder.source}
 * finds which), never a packet of the other encoding left out. The same holds when the
 * receiver's link backs up: forwarding stops ({@linkcode Forwarder.pause}) and resumes at a
 * keyframe, numbered on.
 *
 * A switch in the middle of a frame leaves one number out: the receiver must not take the
 * frame's first half and the keyframe after it for one frame (its assembler ends a frame
 * where the timestamp changes, and both encodings of a camera frame carry the same
 * timestamp). The missing number makes the half frame incomplete; the receiver drops it and
 * decodes the keyframe.
 *
 * Temporal layers (an encoding in L1T3: layer ids 0, 2, 1, 2 in each group of four frames;
 * see docs/protocol.md): {@linkcode Forwarder.maxTemporalLayer} leaves the frames of the
 * layers above it out, whole, decided at the first packet of each frame that arrives, and
 * numbers the rest on without a gap: what the receiver gets decodes without what was left
 * out, with no keyframe. Lowered, it applies from the next frame; raised, from the next base
 * frame (layer 0), so that no frame reaches the receiver whose references were left out.
 *
 * Pure: no I/O, no time.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Forwarder } from "./forwarder.ts";
 *
 * const down = new Forwarder();
 * assert.equal(down.map("full", 100, { keyframeStart: true, marker: true }), 100);
 * down.target = "small"; // this receiver's link is weak
 * assert.equal(down.map("small", 7, { keyframeStart: false, marker: true }), null); // not yet
 * assert.equal(down.map("full", 101, { keyframeStart: false, marker: true }), 101);
 * assert.equal(down.map("small", 8, { keyframeStart: true, marker: false }), 102); // switched
 * assert.equal(down.map("full", 102, { keyframeStart: false, marker: true }), null);
 * assert.deepEqual(down.source(102), { layer: "small", seq: 8 });
 *
 * // Base layer only: a layer-2 frame is left out and the next base frame numbered on.
 * down.maxTemporalLayer = 0;
 * const frame = (timestamp: number, temporalLayer: number) => ({
 *   keyframeStart: false, marker: true, timestamp, temporalLayer,
 * });
 * assert.equal(down.map("small", 9, frame(3000, 2)), null);
 * assert.equal(down.map("small", 10, frame(6000, 0)), 103);
 * ```
 * @module
 */

import { ResendGuard } from "./resend_guard.ts";

/** One of a sender's encodings of its camera: the full picture, or the smaller one. */
export type VideoLayer = "full" | "small";

/** What the forwarder needs to know of a packet besides its layer and sequence number. */
export interface ForwardedPacketInfo {
  /** It begins a keyframe (see `isVp8KeyframeStart`). */
  keyframeStart: boolean;
  /** Its RTP marker bit: the last packet of a frame. */
  marker: boolean;
  /** Its RTP timestamp: every packet of a frame carries the frame's. */
  timestamp?: number;
  /**
   * Its frame's temporal layer (the VP8 descriptor's TID; see `vp8TemporalLayer`), or null
   * (the default) for an encoding without layers: every frame is then forwarded.
   */
  temporalLayer?: number | null;
}

/** The highest temporal layer of the encodings pages send (L1T3: layers 0, 1 and 2). */
export const MAX_TEMPORAL_LAYER = 2;

/**
 * A run of forwarded packets from one encoding, begun at its keyframe. A packet's outgoing
 * number is `baseOut + (its extended number - startIn) - (packets left out before it)`.
 */
interface Segment {
  layer: VideoLayer;
  /** Extended outgoing number of its first packet. */
  firstOut: number;
  /** Extended outgoing number a packet numbered `startIn` would have (see above). */
  baseOut: number;
  /** Extended incoming number of its first packet (the keyframe's). */
  startIn: number;
  /** Newest extended incoming number seen: unwraps the next. */
  highIn: number;
  /** Newest extended incoming number forwarded: what is left out before it is a hole. */
  forwardedIn: number;
  /** Packets at or before this extended incoming number are too old to number (see #leaveOut). */
  floorIn: number;
  /** Extended incoming numbers left out (upper-layer frames), ascending, at most MAX_LEFT_OUT. */
  leftOut: number[];
  /**
   * Extended incoming numbers left out after a later packet was forwarded (a reordered packet
   * of a frame left out): they keep a number, which maps to nothing.
   */
  holes: Set<number>;
  /** Extended outgoing number of its newest packet, once a newer run began. */
  endOut?: number;
}

/** What was decided for one frame of a layered encoding. */
interface FrameDecision {
  timestamp: number;
  /** Forwarded (true) or left out. */
  forwards: boolean;
  /** The highest temporal layer forwarded when it was decided. */
  cap: number;
}

/** Segments kept for NACKs: older ones' packets have left every history anyway. */
const MAX_SEGMENTS = 8;
/**
 * Left-out packets remembered per segment: more than the sender's history holds (256
 * packets), so every packet a NACK can still recover is numbered right.
 */
const MAX_LEFT_OUT = 512;
/** Holes remembered per segment (they are rare: a frame left out arriving after the next). */
const MAX_HOLES = 64;
/** Frames whose decision (forwarded or left out) is remembered: their late packets follow it. */
const FRAMES_REMEMBERED = 32;

/** One receiver's down-track of one sender's video (see the module documentation). */
export class Forwarder {
  /** The encoding this receiver should get: a switch happens at its next keyframe. */
  target: VideoLayer = "full";
  /**
   * The highest temporal layer this receiver should get (0 to {@linkcode MAX_TEMPORAL_LAYER}):
   * lowered, from the next frame; raised, from the next base frame or keyframe.
   */
  maxTemporalLayer = MAX_TEMPORAL_LAYER;
  /** Which of this receiver's numbers were resent lately (a NACK comes in two copies). */
  readonly resends: ResendGuard = new ResendGuard();
  #segments: Segment[] = [];
  /** Extended outgoing number of the newest packet forwarded, or null before the first. */
  #lastOut: number | null = null;
  /** The last packet forwarded of the current segment lacked the marker: a frame is open. */
  #midFrame = false;
  #paused = true;
  /** The highest temporal layer being forwarded now (follows maxTemporalLayer, see above). */
  #temporalLayer = MAX_TEMPORAL_LAYER;
  /** RTP timestamp -> what was decided for that frame, for the last frames of the segment. */
  #frames = new Map<number, FrameDecision>();
  /** Whole frames left out for their temporal layer. */
  framesLeftOut = 0;

  /** The encoding being forwarded, or null while waiting for a keyframe. */
  get layer(): VideoLayer | null {
    return this.#paused ? null : this.#segments.at(-1)!.layer;
  }

  /** The highest temporal layer being forwarded now (it follows `maxTemporalLayer`). */
  get temporalLayer(): number {
    return this.#temporalLayer;
  }

  /**
   * The encoding a keyframe is wanted of, or null: the target, while it is not being
   * forwarded (at the start, after a pause, or to switch).
   */
  get wants(): VideoLayer | null {
    return this.layer === this.target ? null : this.target;
  }

  /** Stops forwarding until the target's next keyframe (the receiver's link backed up). */
  pause(): void {
    this.#paused = true;
  }

  /**
   * The sequence number to forward a packet of `layer` with, or null to leave it out (the
   * other encoding, a packet before the keyframe this receiver resumed at, a frame of a
   * temporal layer above the one forwarded, or anything while waiting for a keyframe).
   */
  map(layer: VideoLayer, seq: number, info: ForwardedPacketInfo): number | null {
    if (layer === this.target && info.keyframeStart && this.layer !== this.target) {
      this.#start(layer, seq);
    } else if (this.#paused || layer !== this.#segments.at(-1)!.layer) {
      return null;
    }
    const segment = this.#segments.at(-1)!;
    const inExt = extend(seq, segment.highIn);
    if (inExt < segment.startIn || inExt <= segment.floorIn) return null; // before this run
    if (inExt > segment.highIn) segment.highIn = inExt;
    if (!this.#forwards(info)) {
      this.#leaveOut(segment, inExt);
      return null;
    }
    const leftBefore = countBelow(segment.leftOut, inExt);
    if (segment.leftOut[leftBefore] === inExt || segment.holes.has(inExt)) return null;
    const out = segment.baseOut + (inExt - segment.startIn) - leftBefore;
    if (out >= this.#lastOut!) {
      this.#lastOut = out;
      this.#midFrame = !info.marker;
    }
    if (inExt > segment.forwardedIn) segment.forwardedIn = inExt;
    return out & 0xffff;
  }

  /**
   * False when the frame with this RTP timestamp was left out for its temporal layer: its
   * packets must not reach this receiver, resent or not. True for frames it does not know.
   */
  forwards(timestamp: number): boolean {
    return this.#frames.get(timestamp)?.forwards ?? true;
  }

  /**
   * What a sequence number this receiver reports lost (its NACK) was: the encoding and the
   * sender's own sequence number, or null when nothing was forwarded under it.
   */
  source(outSeq: number): { layer: VideoLayer; seq: number } | null {
    if (this.#lastOut === null) return null;
    const out = this.#extend(outSeq & 0xffff);
    if (out > this.#lastOut) return null;
    for (let i = this.#segments.length - 1; i >= 0; i--) {
      const segment = this.#segments[i];
      if (out < segment.firstOut) continue;
      // Numbers left out between two runs belong to neither.
      if (segment.endOut !== undefined && out > segment.endOut) return null;
      // The incoming number with `out - baseOut` numbers kept before it in the run: each
      // packet left out at or before it moves it one on.
      const kept = segment.startIn + (out - segment.baseOut);
      const inExt = kept + countMovers(segment.leftOut, kept);
      if (inExt <= segment.floorIn || segment.holes.has(inExt)) return null;
      return { layer: segment.layer, seq: inExt & 0xffff };
    }
    return null;
  }

  /** Begins a run of `layer` at its keyframe `seq`, numbered on from the last (see above). */
  #start(layer: VideoLayer, seq: number): void {
    const startOut = this.#lastOut === null ? seq : this.#lastOut + (this.#midFrame ? 2 : 1);
    const previous = this.#segments.at(-1);
    if (previous) previous.endOut = this.#lastOut!;
    this.#segments.push({
      layer,
      firstOut: startOut,
      baseOut: startOut,
      startIn: seq,
      highIn: seq,
      forwardedIn: seq - 1,
      floorIn: -Infinity,
      leftOut: [],
      holes: new Set(),
    });
    if (this.#segments.length > MAX_SEGMENTS) this.#segments.shift();
    this.#lastOut = startOut - 1;
    this.#midFrame = false;
    this.#paused = false;
    this.#frames.clear();
  }

  /** Whether the packet's frame is forwarded: decided at its first packet (see the module). */
  #forwards(info: ForwardedPacketInfo): boolean {
    const temporalLayer = info.temporalLayer ?? null;
    const timestamp = info.timestamp;
    if (temporalLayer === null || timestamp === undefined) return true;
    const known = this.#frames.get(timestamp);
    if (known !== undefined) return known.forwards;
    // A frame that comes after a later one was decided is held to what the frame before it
    // was (a frame after it may reference it); otherwise lowered at once, raised at a base.
    let before: FrameDecision | undefined;
    let newest: FrameDecision | undefined;
    for (const frame of this.#frames.values()) {
      if (!newest || timestampAfter(frame.timestamp, newest.timestamp)) newest = frame;
      if (
        timestampAfter(timestamp, frame.timestamp) &&
        (!before || timestampAfter(frame.timestamp, before.timestamp))
      ) before = frame;
    }
    let cap: number;
    if (newest && timestampAfter(newest.timestamp, timestamp)) {
      cap = before?.cap ?? 0;
    } else {
      const wanted = Math.max(0, Math.min(MAX_TEMPORAL_LAYER, Math.floor(this.maxTemporalLayer)));
      if (wanted < this.#temporalLayer || info.keyframeStart || temporalLayer === 0) {
        this.#temporalLayer = wanted;
      }
      cap = this.#temporalLayer;
    }
    const forwards = temporalLayer <= cap;
    if (!forwards) this.framesLeftOut++;
    this.#frames.set(timestamp, { timestamp, forwards, cap });
    if (this.#frames.size > FRAMES_REMEMBERED) {
      this.#frames.delete(this.#frames.keys().next().value!);
    }
    return forwards;
  }

  /**
   * Leaves a packet out: the packets after it are numbered one less. A packet older than one
   * already forwarded cannot be (that one's number is out): its number becomes a hole.
   */
  #leaveOut(segment: Segment, inExt: number): void {
    if (inExt < segment.forwardedIn) {
      segment.holes.add(inExt);
      if (segment.holes.size > MAX_HOLES) {
        segment.holes.delete(segment.holes.values().next().value!);
      }
      return;
    }
    const at = countBelow(segment.leftOut, inExt);
    if (segment.leftOut[at] === inExt) return; // a duplicate
    segment.leftOut.splice(at, 0, inExt);
    if (segment.leftOut.length > MAX_LEFT_OUT) {
      // Forget the oldest: numbering from it on is kept by moving the base; what is older
      // than it is no longer numbered (long gone from every history).
      segment.floorIn = segment.leftOut.shift()!;
      segment.baseOut--;
    }
  }

  /** The extended outgoing number nearest the newest for a 16-bit one. */
  #extend(out16: number): number {
    return extend(out16, this.#lastOut ?? out16);
  }
}

/** True when RTP timestamp `a` is later than `b` (modulo 2^32). */
function timestampAfter(a: number, b: number): boolean {
  const delta = (a - b) >>> 0;
  return delta !== 0 && delta < 0x8000_0000;
}

/** The extended number nearest `near` whose low 16 bits are `seq16`. */
function extend(seq16: number, near: number): number {
  const delta = ((seq16 - near + 0x8000) & 0xffff) - 0x8000; // -32768..32767
  return near + delta;
}

/**
 * How many of the ascending, distinct `leftOut` numbers come at or before the `kept`-th number
 * not left out: those with `leftOut[k] - k <= kept` (nondecreasing in k).
 */
function countMovers(leftOut: readonly number[], kept: number): number {
  let low = 0;
  let high = leftOut.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (leftOut[middle] - middle <= kept) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** How many of the ascending `values` are below `value` (the index to insert it at). */
function countBelow(values: readonly number[], value: number): number {
  let low = 0;
  let high = values.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (values[middle] < value) low = middle + 1;
    else high = middle;
  }
  return low;
}
