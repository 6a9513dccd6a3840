/**
 * An audio jitter buffer: packets go in as they arrive (reordered, duplicated, late or
 * lost), frames come out one per playout tick in sequence order, with a "missing" marker
 * wherever the decoder should conceal (Opus PLC). The buffered depth follows the measured
 * jitter within [minMs, maxMs]. Pure: time is passed in, there are no timers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JitterBuffer } from "./jitter_buffer.ts";
 *
 * const buffer = new JitterBuffer({ minMs: 40, maxMs: 80 });
 * const opus = new Uint8Array([0xf8, 0xff, 0xfe]);
 * // On each packet: push(seq, RTP timestamp, payload, arrival time).
 * buffer.push(1, 960, opus, 0);
 * buffer.push(3, 2880, opus, 40); // 2 is lost
 * // Every 20 ms: pop, then decode a frame, conceal a missing one, or play silence.
 * assert.equal(buffer.pop(40)?.kind, "frame"); // seq 1
 * assert.deepEqual(buffer.pop(60), { kind: "missing", seq: 2, underrun: false });
 * assert.equal(buffer.pop(80)?.kind, "frame"); // seq 3
 * ```
 * @module
 */

import { seqDiff, timestampDiff } from "./rtp.ts";

/**
 * Options of {@linkcode JitterBuffer}. Equal `minMs` and `maxMs` give a fixed depth; with
 * `guardMs` the depth follows how early frames arrive (the server mixer's setting).
 *
 * @example
 * ```ts
 * const fixed: JitterBufferOptions = { minMs: 40, maxMs: 40 };
 * new JitterBuffer(fixed).stats.targetMs; // 40
 * ```
 */
export interface JitterBufferOptions {
  /** Duration of one frame (default 20 ms); `pop` is called once per frame duration. */
  frameMs?: number;
  /** RTP clock rate, for the jitter estimate (default 48000). */
  clockRate?: number;
  /** Smallest target depth (default 40 ms). */
  minMs?: number;
  /** Largest target depth (default 80 ms). */
  maxMs?: number;
  /** Most frames held (default 50); older frames give way. */
  capacity?: number;
  /**
   * How long an underrun is concealed before the buffer goes quiet and buffers again
   * (default 100 ms): the sender may simply have stopped sending.
   */
  maxConcealMs?: number;
  /**
   * Adapt to how early frames arrive instead of to the jitter estimate (the server mixer
   * does). The buffer starts playing at `minMs` and keeps its delay as short as the
   * arrivals allow: when every frame of the last window (0.5 s) arrived at least k frames
   * plus this guard (or 1.5 x the jitter, if more) before it was played, it drops k frames. A
   * frame that is not there in time is concealed. After half a second in which every frame
   * kept the guard it is given up (dropped when it comes): a one-off hiccup costs no delay.
   * A miss after frames had come ever closer to their tick (a sender's clock running slow),
   * or another miss within that half second, keeps the awaited frame instead, which deepens
   * the buffer by a frame. The depth stays within [minMs, maxMs]. A mixer that takes frames
   * on its own clock waits on average half a frame this way instead of a fixed whole one. A
   * stall of several frames deepens it by one frame at most: the frames it held back are
   * dropped when they come.
   */
  guardMs?: number;
  /**
   * With `guardMs`: the margin is at least this many times the measured jitter (default 1.5;
   * docs/architecture.md says how it was chosen).
   */
  guardJitters?: number;
}

/**
 * What {@linkcode JitterBuffer.pop} returns:
 * - `frame`: the next frame, decode it;
 * - `missing`: conceal one frame. With `underrun: false` frame `seq` is lost for good;
 *   with `underrun: true` nothing has arrived yet and `seq` is still awaited (played if it
 *   arrives in time, so the buffer deepens by a frame);
 * - `null`: nothing to play (buffering or quiet): output silence.
 *
 * @example
 * ```ts
 * const out: JitterBufferOutput = new JitterBuffer().pop(0);
 * console.log(out); // null: nothing buffered yet
 * ```
 */
export type JitterBufferOutput =
  | { kind: "frame"; seq: number; rtpTimestamp: number; payload: Uint8Array }
  | { kind: "missing"; seq: number; underrun: boolean }
  | null;

/**
 * What happened to a pushed packet: `stored`; `duplicate`; `late` (its slot was already
 * played or concealed); `restarted` (a jump in sequence numbers started the stream over:
 * the buffer was flushed and buffers again from this packet).
 *
 * @example
 * ```ts
 * const buffer = new JitterBuffer();
 * const result: JitterBufferPushResult = buffer.push(1, 960, new Uint8Array(3), 0);
 * console.log(result); // "stored"
 * ```
 */
export type JitterBufferPushResult = "stored" | "duplicate" | "late" | "restarted";

/**
 * Counters and the current state of a {@linkcode JitterBuffer}.
 *
 * @example
 * ```ts
 * const buffer = new JitterBuffer();
 * buffer.push(1, 960, new Uint8Array(3), 0);
 * const stats: JitterBufferStats = buffer.stats;
 * console.log(`${stats.depthMs} ms buffered, ${stats.lost} lost`); // 20 ms buffered, 0 lost
 * ```
 */
export interface JitterBufferStats {
  /** Packets pushed, duplicates and late ones included. */
  received: number;
  /** Frames returned by `pop`. */
  played: number;
  /** Packets that arrived after their slot was played or concealed. */
  late: number;
  /** Frames never played: lost in the network, or skipped over after a quiet period. */
  lost: number;
  /** `missing` results returned (lost frames and underruns). */
  concealed: number;
  /** Packets received twice while the first copy was still held. */
  duplicates: number;
  /** Frames discarded to bring the depth down (overflow, catch-up, adaptation). */
  dropped: number;
  /** Times the stream started over after a sequence jump. */
  restarts: number;
  /** Frames currently buffered ahead of the play position, in ms. */
  depthMs: number;
  /** The depth the buffer aims for, in ms. */
  targetMs: number;
  /** Interarrival jitter estimate (RFC 3550 A.8), in ms. */
  jitterMs: number;
}

interface BufferedFrame {
  seq: number;
  rtpTimestamp: number;
  payload: Uint8Array;
  arrivalMs: number;
}

/** Pops between adjustments of the depth towards the target (25 x 20 ms = 0.5 s). */
const ADAPT_WINDOW = 25;
/** Depth above `maxMs` beyond which the buffer drops down to its target at once. */
const CATCH_UP_MS = 200;
/** A gap between packets longer than this is a pause in speech, not jitter. */
const QUIET_GAP_MS = 500;

/**
 * A jitter buffer for one audio stream of fixed-duration frames.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const buffer = new JitterBuffer();
 * buffer.push(1, 0, new Uint8Array([1]), 0);
 * assert.equal(buffer.pop(10), null); // 20 ms buffered, the target is 40 ms
 * buffer.push(2, 960, new Uint8Array([2]), 20);
 * assert.equal(buffer.pop(30)?.kind, "frame"); // seq 1
 * ```
 */
export class JitterBuffer {
  readonly #frameMs: number;
  readonly #clockRate: number;
  readonly #minMs: number;
  readonly #maxMs: number;
  readonly #capacity: number;
  readonly #maxConcealMs: number;
  readonly #guardMs: number | null;
  readonly #guardJitters: number;

  /** Frames by extended sequence number. */
  #frames = new Map<number, BufferedFrame>();
  #highest: number | null = null;
  /** Extended sequence number of the next frame to play. */
  #next: number | null = null;
  #playing = false;
  /** Whether playback has begun since the stream (re)started. */
  #started = false;
  #underrunSinceMs: number | null = null;
  #lastArrivalMs = 0;
  #lastTimestamp = 0;
  #jitterMs = 0;
  #windowPops = 0;
  #windowMinDepthMs = Infinity;
  /** Least time a frame played in this window had waited since it arrived. */
  #windowMinWaitMs = Infinity;
  #windowUnderruns = 0;
  /** Frames played since playback began or a frame was last missed at the edge. */
  #onTime = 0;
  /** Every frame of the last window waited at least the guard (none came near its tick). */
  #marginKept = false;
  /** The current run of misses has kept an awaited frame (deepened the buffer) already. */
  #awaited = false;
  #early: number | null = null;
  #windows = 0;
  #counters = {
    received: 0,
    played: 0,
    late: 0,
    lost: 0,
    concealed: 0,
    duplicates: 0,
    dropped: 0,
    restarts: 0,
  };

  /**
   * Starts empty, buffering.
   *
   * @example
   * ```ts
   * const mixerInput = new JitterBuffer({ minMs: 40, maxMs: 40 });
   * console.log(mixerInput.stats.targetMs); // 40
   * ```
   */
  constructor(options: JitterBufferOptions = {}) {
    this.#frameMs = options.frameMs ?? 20;
    this.#clockRate = options.clockRate ?? 48000;
    this.#minMs = options.minMs ?? 40;
    this.#maxMs = Math.max(this.#minMs, options.maxMs ?? 80);
    this.#capacity = Math.max(
      options.capacity ?? 50,
      Math.ceil((2 * this.#maxMs) / this.#frameMs) + 2,
    );
    this.#maxConcealMs = options.maxConcealMs ?? 100;
    this.#guardMs = options.guardMs ?? null;
    this.#guardJitters = options.guardJitters ?? 1.5;
  }

  /**
   * The depth the buffer aims for now: frame + 4 x jitter, in whole frames, within [min,
   * max]; with `guardMs`, `minMs` (the depth it starts at and works down to).
   */
  get targetMs(): number {
    if (this.#guardMs !== null) return this.#minMs;
    const wanted = Math.ceil((this.#frameMs + 4 * this.#jitterMs) / this.#frameMs) * this.#frameMs;
    return Math.min(this.#maxMs, Math.max(this.#minMs, wanted));
  }

  /**
   * With `guardMs`: how much earlier every frame of the last whole window (0.5 s) could have
   * been played, keeping the guard (its least wait beyond the guard, below one frame: the
   * whole frames are dropped here). Null before the first window, without `guardMs`, and
   * after a window with an underrun or no frame played. A sender that trims this much off its
   * input shortens its delay by as much.
   */
  get earlyMs(): number | null {
    return this.#early;
  }

  /** Windows completed so far (each sets {@linkcode earlyMs}). */
  get windows(): number {
    return this.#windows;
  }

  /** Frames buffered from the play position to the newest one, in ms. */
  get depthMs(): number {
    if (this.#highest === null || this.#frames.size === 0) return 0;
    const from = this.#playing ? this.#next! : this.#oldest();
    return Math.max(0, this.#highest - from + 1) * this.#frameMs;
  }

  /** A snapshot of the counters. */
  get stats(): JitterBufferStats {
    return {
      ...this.#counters,
      depthMs: this.depthMs,
      targetMs: this.targetMs,
      jitterMs: this.#jitterMs,
    };
  }

  /**
   * Adds a received packet.
   *
   * @example
   * ```ts
   * const buffer = new JitterBuffer();
   * buffer.push(7, 6720, new Uint8Array(3), performance.now()); // "stored"
   * ```
   */
  push(
    seq: number,
    rtpTimestamp: number,
    payload: Uint8Array,
    arrivalMs: number,
  ): JitterBufferPushResult {
    this.#counters.received++;
    seq &= 0xffff;
    if (this.#highest === null || this.#next === null) {
      this.#begin(seq, rtpTimestamp, arrivalMs);
      this.#frames.set(seq, { seq, rtpTimestamp, payload, arrivalMs });
      return "stored";
    }
    const ext = this.#highest + seqDiff(seq, this.#highest & 0xffff);
    if (ext - this.#highest > this.#capacity || this.#next - ext > this.#capacity) {
      this.#counters.restarts++;
      this.#counters.lost += this.#frames.size;
      this.#begin(seq, rtpTimestamp, arrivalMs);
      this.#frames.set(seq, { seq, rtpTimestamp, payload, arrivalMs });
      return "restarted";
    }
    this.#measureJitter(rtpTimestamp, arrivalMs);
    if (ext < this.#next) {
      if (this.#started) {
        this.#counters.late++;
        return "late";
      }
      this.#next = ext; // still buffering: an earlier packet arrived after a later one
    }
    if (this.#frames.has(ext)) {
      this.#counters.duplicates++;
      return "duplicate";
    }
    this.#frames.set(ext, { seq, rtpTimestamp, payload, arrivalMs });
    if (ext > this.#highest) this.#highest = ext;
    // Overflow: the oldest frames give way.
    while (this.#highest - this.#next + 1 > this.#capacity) this.#dropNext();
    return "stored";
  }

  /**
   * Whether the frame `seq` would still be taken: not held yet and not yet past (a redundant
   * copy, RED, is pushed only then, so copies of frames already in hand cost nothing).
   *
   * @example
   * ```ts
   * const buffer = new JitterBuffer();
   * buffer.push(10, 9600, new Uint8Array(1), 0);
   * buffer.wants(10); // false: held
   * buffer.wants(11); // true
   * ```
   */
  wants(seq: number): boolean {
    if (this.#highest === null || this.#next === null) return true;
    const ext = this.#highest + seqDiff(seq & 0xffff, this.#highest & 0xffff);
    if (ext - this.#highest > this.#capacity || this.#next - ext > this.#capacity) return true;
    if (ext < this.#next && this.#started) return false;
    return !this.#frames.has(ext);
  }

  /**
   * Returns what to play for the next frame period; call it once per `frameMs`.
   *
   * @example
   * ```ts
   * const buffer = new JitterBuffer();
   * const out = buffer.pop(performance.now());
   * if (out?.kind === "frame") console.log("decode", out.payload);
   * else if (out?.kind === "missing") console.log("conceal (Opus PLC)");
   * else console.log("silence");
   * ```
   */
  pop(nowMs: number): JitterBufferOutput {
    if (this.#next === null || this.#highest === null) return null;
    if (!this.#playing) {
      if (this.#frames.size === 0 || this.depthMs < this.targetMs) return null;
      // Start (or resume after a quiet period) at the oldest frame held.
      const oldest = this.#oldest();
      this.#counters.lost += Math.max(0, oldest - this.#next);
      this.#next = oldest;
      this.#playing = true;
      this.#started = true;
      this.#onTime = 0;
      this.#awaited = false;
      this.#marginKept = false;
      this.#resetWindow();
    }
    const adjustment = this.#adapt();
    const next = this.#next;
    if (adjustment === "stretch") {
      this.#counters.concealed++;
      return { kind: "missing", seq: next & 0xffff, underrun: true };
    }

    const frame = this.#frames.get(next);
    if (frame) {
      this.#windowMinWaitMs = Math.min(this.#windowMinWaitMs, nowMs - frame.arrivalMs);
      this.#frames.delete(next);
      this.#next = next + 1;
      this.#underrunSinceMs = null;
      this.#counters.played++;
      this.#onTime++;
      this.#awaited = false;
      return {
        kind: "frame",
        seq: frame.seq,
        rtpTimestamp: frame.rtpTimestamp,
        payload: frame.payload,
      };
    }
    if (this.#highest >= next) {
      this.#next = next + 1;
      this.#underrunSinceMs = null;
      this.#counters.lost++;
      this.#counters.concealed++;
      return { kind: "missing", seq: next & 0xffff, underrun: false };
    }
    const streak = this.#underrunSinceMs !== null;
    this.#underrunSinceMs ??= nowMs;
    this.#windowUnderruns++;
    if (nowMs - this.#underrunSinceMs >= this.#maxConcealMs) {
      this.#playing = false; // the sender went quiet: stop concealing, buffer again
      this.#underrunSinceMs = null;
      return null;
    }
    this.#counters.concealed++;
    const steady = !streak && this.#onTime >= ADAPT_WINDOW && this.#marginKept;
    this.#onTime = 0;
    if (this.#guardMs !== null && (steady || this.#awaited)) {
      // Given up (late when it comes) instead of delaying everything after it: the first
      // miss after half a second in which every frame kept its margin (a one-off hiccup
      // costs no delay), and the frames of a stall after the one awaited (it deepens the
      // buffer by one frame, not its length). A miss after frames had come ever closer to
      // their tick (a sender whose clock runs slow) deepens the buffer at once.
      this.#next = next + 1;
      this.#counters.lost++;
      return { kind: "missing", seq: next & 0xffff, underrun: false };
    }
    this.#awaited = true;
    return { kind: "missing", seq: next & 0xffff, underrun: true };
  }

  /** Forgets every frame and buffers again from the next packet; counters are kept. */
  reset(): void {
    this.#frames.clear();
    this.#highest = null;
    this.#next = null;
    this.#playing = false;
    this.#started = false;
    this.#underrunSinceMs = null;
    this.#early = null;
  }

  #begin(seq: number, rtpTimestamp: number, arrivalMs: number): void {
    this.reset();
    this.#highest = seq;
    this.#next = seq;
    this.#lastArrivalMs = arrivalMs;
    this.#lastTimestamp = rtpTimestamp >>> 0;
  }

  /**
   * RFC 3550 A.8 interarrival jitter, in ms. A packet after a silence of more than
   * `QUIET_GAP_MS` starts a new talk spurt and only resets the reference: a sender that
   * paused without advancing its timestamps is not jitter.
   */
  #measureJitter(rtpTimestamp: number, arrivalMs: number): void {
    if (arrivalMs - this.#lastArrivalMs > QUIET_GAP_MS) {
      this.#lastArrivalMs = arrivalMs;
      this.#lastTimestamp = rtpTimestamp >>> 0;
      return;
    }
    const sent = timestampDiff(rtpTimestamp, this.#lastTimestamp) * 1000 / this.#clockRate;
    const d = (arrivalMs - this.#lastArrivalMs) - sent;
    this.#jitterMs += (Math.abs(d) - this.#jitterMs) / 16;
    this.#lastArrivalMs = arrivalMs;
    this.#lastTimestamp = rtpTimestamp >>> 0;
  }

  /**
   * Moves the depth towards the target, one frame per window of pops: drops a frame when
   * the depth stayed above target, or asks for one concealed frame ("stretch") when it
   * stayed two frames below. More than `CATCH_UP_MS` above the maximum (the consumer
   * stalled and frames piled up) it drops down to the target at once.
   */
  #adapt(): "stretch" | "none" {
    const depth = this.depthMs;
    const target = this.targetMs;
    if (depth > this.#maxMs + CATCH_UP_MS) {
      while (this.depthMs > target && this.#frames.size > 0) this.#dropNext();
      this.#resetWindow();
      return "none";
    }
    this.#windowMinDepthMs = Math.min(this.#windowMinDepthMs, depth);
    if (++this.#windowPops < ADAPT_WINDOW) return "none";
    const minDepth = this.#windowMinDepthMs;
    const minWaitMs = this.#windowMinWaitMs;
    const underruns = this.#windowUnderruns;
    this.#resetWindow();
    if (this.#guardMs !== null) {
      // Every frame waited at least k frames more than the guard: play k frames earlier (a
      // burst after a stall is worked off at once, not over seconds), keeping minMs.
      const guard = Math.max(this.#guardMs, this.#guardJitters * this.#jitterMs);
      const early = underruns === 0 ? Math.floor((minWaitMs - guard) / this.#frameMs) : 0;
      const room = Math.floor((depth - this.#minMs) / this.#frameMs);
      const drops = Math.max(Math.min(early, room), minDepth > this.#maxMs ? 1 : 0);
      for (let i = 0; i < drops && this.#frames.size > 0; i++) this.#dropNext();
      this.#windows++;
      this.#marginKept = underruns === 0 && minWaitMs >= guard;
      this.#early = underruns === 0 && Number.isFinite(minWaitMs)
        ? Math.max(0, minWaitMs - guard - drops * this.#frameMs)
        : null;
      return "none";
    }
    if (minDepth >= target + this.#frameMs) this.#dropNext();
    else if (minDepth < target - this.#frameMs) return "stretch";
    return "none";
  }

  #resetWindow(): void {
    this.#windowPops = 0;
    this.#windowMinDepthMs = Infinity;
    this.#windowMinWaitMs = Infinity;
    this.#windowUnderruns = 0;
  }

  /** Skips the frame at the play position (held or not), counting it. */
  #dropNext(): void {
    const next = this.#next!;
    if (this.#frames.delete(next)) this.#counters.dropped++;
    else this.#counters.lost++;
    this.#next = next + 1;
  }

  #oldest(): number {
    let oldest = Infinity;
    for (const ext of this.#frames.keys()) oldest = Math.min(oldest, ext);
    return oldest;
  }
}
