/**
 * One receiver's view of one sender's video: which of the sender's encodings it gets (the
 * full one or the small one, see `smallVideoSsrc` in protocol/media.ts) and the sequence
 * numbers it sees. The receiver knows one stream per sender; the forwarder switches it from
 * one encoding to the other at a keyframe of the new one, and numbers what it forwards so
 * that the receiver sees one run of sequence numbers: a gap it sees is a packet lost, which
 * it may NACK ({@linkcode Forwarder.source} finds which), never a packet of the other
 * encoding left out. The same holds when the receiver's link backs up: forwarding stops
 * ({@linkcode Forwarder.pause}) and resumes at a keyframe, numbered on.
 *
 * A switch in the middle of a frame leaves one number out: the receiver must not take the
 * frame's first half and the keyframe after it for one frame (its assembler ends a frame
 * where the timestamp changes, and both encodings of a camera frame carry the same
 * timestamp). The missing number makes the half frame incomplete; the receiver drops it and
 * decodes the keyframe.
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
 * ```
 * @module
 */

/** One of a sender's encodings of its camera: the full picture, or the smaller one. */
export type VideoLayer = "full" | "small";

/** What the forwarder needs to know of a packet besides its layer and sequence number. */
export interface ForwardedPacketInfo {
  /** It begins a keyframe (see `isVp8KeyframeStart`). */
  keyframeStart: boolean;
  /** Its RTP marker bit: the last packet of a frame. */
  marker: boolean;
}

/** A run of forwarded packets from one encoding, numbered `seq + offset` for the receiver. */
interface Segment {
  /** Extended (unwrapped) outgoing number of its first packet. */
  startOut: number;
  layer: VideoLayer;
  /** Outgoing number - incoming number, modulo 2^16. */
  offset: number;
  /** Extended outgoing number of its newest packet, once a newer run began. */
  endOut?: number;
}

/** Segments kept for NACKs: older ones' packets have left every history anyway. */
const MAX_SEGMENTS = 8;

/** One receiver's down-track of one sender's video (see the module documentation). */
export class Forwarder {
  /** The encoding this receiver should get: a switch happens at its next keyframe. */
  target: VideoLayer = "full";
  #segments: Segment[] = [];
  /** Extended outgoing number of the newest packet forwarded, or null before the first. */
  #lastOut: number | null = null;
  /** The last packet forwarded of the current segment lacked the marker: a frame is open. */
  #midFrame = false;
  #paused = true;

  /** The encoding being forwarded, or null while waiting for a keyframe. */
  get layer(): VideoLayer | null {
    return this.#paused ? null : this.#segments.at(-1)!.layer;
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
   * other encoding, a packet before the keyframe this receiver resumed at, or anything
   * while waiting for a keyframe).
   */
  map(layer: VideoLayer, seq: number, info: ForwardedPacketInfo): number | null {
    if (layer === this.target && info.keyframeStart && this.layer !== this.target) {
      this.#start(layer, seq);
    } else if (this.#paused || layer !== this.#segments.at(-1)!.layer) {
      return null;
    }
    const segment = this.#segments.at(-1)!;
    const out = this.#extend((seq + segment.offset) & 0xffff);
    if (out < segment.startOut) return null; // before the keyframe this run began at
    if (out >= this.#lastOut!) {
      this.#lastOut = out;
      this.#midFrame = !info.marker;
    }
    return out & 0xffff;
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
      if (out < segment.startOut) continue;
      // Numbers left out between two runs belong to neither.
      if (segment.endOut !== undefined && out > segment.endOut) return null;
      return { layer: segment.layer, seq: (out - segment.offset) & 0xffff };
    }
    return null;
  }

  /** Begins a run of `layer` at its keyframe `seq`, numbered on from the last (see above). */
  #start(layer: VideoLayer, seq: number): void {
    const startOut = this.#lastOut === null ? seq : this.#lastOut + (this.#midFrame ? 2 : 1);
    const previous = this.#segments.at(-1);
    if (previous) previous.endOut = this.#lastOut!;
    this.#segments.push({ startOut, layer, offset: (startOut - seq) & 0xffff });
    if (this.#segments.length > MAX_SEGMENTS) this.#segments.shift();
    this.#lastOut = startOut - 1;
    this.#midFrame = false;
    this.#paused = false;
  }

  /** The extended outgoing number nearest the newest for a 16-bit one. */
  #extend(out16: number): number {
    const last = this.#lastOut ?? out16;
    const delta = ((out16 - last + 0x8000) & 0xffff) - 0x8000; // -32768..32767
    return last + delta;
  }
}
