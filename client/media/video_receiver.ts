/**
 * Receives one remote video stream (one SSRC): RTP packets are counted (loss, jitter), put
 * back together into whole VP8 frames, decoded with a `VideoDecoder`, and each decoded
 * `VideoFrame` waits in the stream's {@linkcode VideoPlayout} until its display time, then is
 * handed to the sink (which draws it and closes it). Decoding starts at a
 * keyframe; a dropped frame or a decoder error makes the receiver ask for a keyframe
 * (a PLI, at most one per 500 ms) and skip delta frames until it comes. In a stream with
 * temporal layers a dropped frame costs only the frames that reference it, and a keyframe
 * only when it was a base-layer frame (see `Vp8FrameAssembler`).
 *
 * @example
 * ```ts
 * import { writePli } from "../../media/rtcp.ts";
 * import type { RtpPacket } from "../../media/rtp.ts";
 * import type { PacketMux } from "./packet_mux.ts";
 * import type { VideoRenderer } from "./video_renderer.ts";
 *
 * function watch(ssrc: number, mine: number, transport: PacketMux, renderer: VideoRenderer,
 *   rtpPacket: RtpPacket) {
 *   const receiver = new VideoReceiver({
 *     ssrc,
 *     requestKeyframe: (ssrc) => transport.send(writePli({ senderSsrc: mine, mediaSsrc: ssrc })),
 *   });
 *   receiver.sink = (frame, captureMs) => renderer.render(frame, captureMs);
 *   receiver.receive(rtpPacket, performance.now()); // for each packet of this SSRC
 *   setInterval(() => receiver.tick(performance.now()), 10); // shows frames as they fall due
 *   receiver.close();
 * }
 * ```
 * @module
 */

import { type RtpPacket, timestampDiff } from "../../media/rtp.ts";
import { isVp8KeyframeStart, Vp8FrameAssembler } from "../../media/vp8.ts";
import { NackGenerator } from "../../media/nack_generator.ts";
import { readCaptureTime, VIDEO_CLOCK_RATE } from "../../protocol/media.ts";
import { wallClock } from "./clock.ts";
import { InboundStream, type InboundStreamStats } from "./inbound_stream.ts";
import { FreezeMeter, RateMeter, SampleWindow } from "./stats.ts";
import { VideoPlayout } from "./video_playout.ts";

/** Fewest ms between two keyframe requests for one stream. */
export const PLI_INTERVAL_MS = 500;

/**
 * How long a frame with a lost packet is held for the resend before it is given up (and a
 * keyframe asked for, unless the stream is in temporal layers and the frame was not a base
 * frame; a frame that the complete frame after it does not need goes after 40 ms), ms: a
 * NACK and its answer take a round trip, twice when the packet was lost before the server
 * (which asks the sender itself). The playout buffer
 * (VideoPlayout) hides that wait. Measured on the impaired relay path (25 +/- 8 ms per hop),
 * 300 ms froze the picture more often than 180: frames held that long come out in a burst
 * the playout buffer cannot spread.
 */
export const FRAME_WAIT_MS = 180;

/**
 * How long a base-layer frame of a layered stream with a lost packet is held for the resend,
 * ms: every later frame references it, so giving it up costs them all until a keyframe,
 * which the server asks a sender for at most once per 2 s. A packet lost before the server
 * is resent first to the server (its own NACK to the sender) and then comes on: 150-200 ms
 * after the frame began to wait on the impaired relay path, past FRAME_WAIT_MS now and then.
 */
export const BASE_FRAME_WAIT_MS = 320;

/**
 * Options of a {@linkcode VideoReceiver}.
 *
 * @example
 * ```ts
 * const options: VideoReceiverOptions = { ssrc: 42, requestKeyframe: () => {} };
 * ```
 */
export interface VideoReceiverOptions {
  ssrc: number;
  /** Sends a PLI for this SSRC; called at most once per {@linkcode PLI_INTERVAL_MS}. */
  requestKeyframe(ssrc: number): void;
  /** Sends a generic NACK for these sequence numbers of this SSRC (the server or peer resends). */
  sendNack?(ssrc: number, seqs: number[]): void;
}

/**
 * Statistics of a {@linkcode VideoReceiver}.
 *
 * @example
 * ```ts
 * function log(receiver: VideoReceiver) {
 *   const { fps, delayP50 } = receiver.stats(performance.now());
 *   console.log(fps, delayP50);
 * }
 * ```
 */
export interface VideoReceiverStats extends InboundStreamStats {
  ssrc: number;
  framesDecoded: number;
  /** Frames dropped by the assembler (incomplete, or skipped waiting for a keyframe). */
  framesDropped: number;
  keyframes: number;
  decodeErrors: number;
  plisSent: number;
  /** Sequence numbers reported lost (NACK), each report counted. */
  nacksRequested: number;
  /** Of those, reports of a number already reported (its resend or the report was lost). */
  nacksRetried: number;
  /** Missing packets that came later (reordered or resent). */
  packetsRecovered: number;
  /** Packets given up (their frame was dropped, or a keyframe came first). */
  packetsLost: number;
  /** Decoded frames per second (last second). */
  fps: number;
  /**
   * Freezes of the picture handed to the sink at display time (Chromium's definition, see
   * FreezeMeter) and their time, ms.
   */
  freezeCount: number;
  freezesMs: number;
  /** Delay the playout buffer adds to absorb jitter and resends, ms (see VideoPlayout). */
  playoutDelayMs: number;
  /** Frames decoded after their display time (shown at once). */
  framesLate: number;
  /** Capture to decoded (not yet shown), ms: median and 95th percentile of ~2 s of frames. */
  delayP50: number | null;
  delayP95: number | null;
  width: number;
  height: number;
  /** performance.now() of the last decoded frame, or null. */
  lastFrameAt: number | null;
}

/** Video receiving for one SSRC. */
export class VideoReceiver {
  readonly ssrc: number;
  /**
   * Takes each decoded frame, with its capture time (ms since the epoch) when known, and
   * must close it. Without a sink frames are closed at once (still counted as decoded).
   */
  sink: ((frame: VideoFrame, captureMs: number | null) => void) | null = null;
  /** Every capture-to-decode delay measured, for whoever wants the raw values. */
  onDelay: ((delayMs: number) => void) | null = null;
  readonly #requestKeyframe: (ssrc: number) => void;
  readonly #inbound: InboundStream;
  readonly #sendNack: ((ssrc: number, seqs: number[]) => void) | undefined;
  /** Gaps in the sequence numbers, asked for again (NACK) while the frame can still be shown. */
  readonly nacks = new NackGenerator({ maxAgeMs: BASE_FRAME_WAIT_MS });
  readonly #assembler = new Vp8FrameAssembler({
    maxWaitMs: FRAME_WAIT_MS,
    baseWaitMs: BASE_FRAME_WAIT_MS,
    skipUntilKeyframe: true,
  });
  #decoder: VideoDecoder | null = null;
  /** Delta frames are skipped until a keyframe is decoded. */
  #needKeyframe = true;
  /** The decoder was reset: ask the sender for a keyframe (the assembler asks on its own). */
  #askKeyframe = false;
  #lastPliAt = -Infinity;
  /** Unwrapped RTP timestamp of the last frame, for monotonic chunk timestamps. */
  #lastRtp: number | null = null;
  #extendedRtp = 0;
  /** Capture time by RTP timestamp, from the packets, until the frame is decoded. */
  #captureByRtp = new Map<number, number>();
  /** Capture time by chunk timestamp, while the frame is in the decoder. */
  #captureByChunk = new Map<number, number>();
  #fps = new RateMeter(1000);
  #freezes = new FreezeMeter();
  #delays = new SampleWindow(60);
  readonly #playout = new VideoPlayout<{ frame: VideoFrame; captureMs: number | null }>();
  #size = { width: 0, height: 0 };
  #lastFrameAt: number | null = null;
  #closed = false;
  #counters = { framesDecoded: 0, decodeErrors: 0, plisSent: 0 };

  constructor(options: VideoReceiverOptions) {
    this.ssrc = options.ssrc;
    this.#requestKeyframe = options.requestKeyframe;
    this.#sendNack = options.sendNack;
    this.#inbound = new InboundStream(options.ssrc, VIDEO_CLOCK_RATE);
  }

  /** The RTCP reception report block for this stream (starts a new loss interval). */
  reportBlock(nowMs: number) {
    return this.#inbound.reportBlock(nowMs);
  }

  /** Takes one RTP packet of this SSRC. */
  receive(packet: RtpPacket, arrivalMs: number): void {
    if (this.#closed) return;
    if (!this.nacks.push(packet.sequenceNumber, arrivalMs)) return; // a duplicate
    if (isVp8KeyframeStart(packet.payload)) this.nacks.forgetBefore(packet.sequenceNumber);
    this.#inbound.count(packet, arrivalMs);
    const capture = readCaptureTime(packet.extension);
    if (capture !== null && !this.#captureByRtp.has(packet.timestamp)) {
      this.#captureByRtp.set(packet.timestamp, capture);
      if (this.#captureByRtp.size > 64) {
        this.#captureByRtp.delete(this.#captureByRtp.keys().next().value!);
      }
    }
    this.#decodeFrames(this.#assembler.push(packet, arrivalMs));
    this.#maybeRequestKeyframe(arrivalMs);
  }

  /** Reports the packets missing long enough (a NACK), if any: call every 10-20 ms. */
  askLost(nowMs: number): void {
    if (this.#closed || !this.#sendNack || this.nacks.missingCount === 0) return;
    const seqs = this.nacks.due(nowMs);
    if (seqs.length > 0) this.#sendNack(this.ssrc, seqs);
  }

  /**
   * Housekeeping: shows the frames whose display time has come, releases frames held behind
   * a lost packet, asks for keyframes. Call every 10 ms or so: frames are shown on it.
   */
  tick(nowMs: number): void {
    if (this.#closed) return;
    this.#show(this.#playout.release(nowMs), nowMs);
    this.#decodeFrames(this.#assembler.poll(nowMs));
    this.#maybeRequestKeyframe(nowMs);
  }

  /** A snapshot of the statistics. */
  stats(nowMs: number): VideoReceiverStats {
    const assembler = this.#assembler.stats;
    return {
      ssrc: this.ssrc,
      ...this.#inbound.stats(nowMs),
      ...this.#counters,
      nacksRequested: this.nacks.stats.requested,
      nacksRetried: this.nacks.stats.retried,
      packetsRecovered: this.nacks.stats.recovered,
      packetsLost: this.nacks.stats.lost,
      framesDropped: assembler.framesDropped,
      keyframes: assembler.keyframesEmitted,
      fps: this.#fps.rate(nowMs),
      freezeCount: this.#freezes.count,
      freezesMs: Math.round(this.#freezes.totalMs),
      playoutDelayMs: this.#playout.stats.addedDelayMs,
      framesLate: this.#playout.stats.late,
      delayP50: this.#delays.percentile(50),
      delayP95: this.#delays.percentile(95),
      width: this.#size.width,
      height: this.#size.height,
      lastFrameAt: this.#lastFrameAt,
    };
  }

  /** Stops decoding; frames still in the decoder are dropped. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeDecoder();
    for (const { frame } of this.#playout.drain()) frame.close();
    this.sink = null;
  }

  #decodeFrames(frames: ReturnType<Vp8FrameAssembler["push"]>): void {
    for (const frame of frames) {
      const rtp = this.#unwrap(frame.rtpTimestamp);
      const capture = this.#captureByRtp.get(frame.rtpTimestamp);
      this.#captureByRtp.delete(frame.rtpTimestamp);
      if (this.#needKeyframe && !frame.isKeyframe) continue;
      const decoder = this.#decoderReady();
      if (decoder.decodeQueueSize > 8) {
        // The decoder cannot keep up: start over from a keyframe rather than fall behind.
        this.#resetDecoder();
        continue;
      }
      const timestamp = Math.round((rtp * 1_000_000) / VIDEO_CLOCK_RATE);
      if (capture !== undefined) this.#captureByChunk.set(timestamp, capture);
      if (this.#captureByChunk.size > 32) {
        this.#captureByChunk.delete(this.#captureByChunk.keys().next().value!);
      }
      try {
        decoder.decode(
          new EncodedVideoChunk({
            type: frame.isKeyframe ? "key" : "delta",
            timestamp,
            data: frame.data,
          }),
        );
        if (frame.isKeyframe) this.#needKeyframe = this.#askKeyframe = false;
      } catch (err) {
        console.warn("video decode failed:", err);
        this.#resetDecoder();
      }
    }
  }

  #decoderReady(): VideoDecoder {
    if (this.#decoder && this.#decoder.state === "configured") return this.#decoder;
    this.#closeDecoder();
    const decoder = new VideoDecoder({
      output: (frame) => this.#output(frame),
      error: (err) => {
        console.warn("video decoder error:", err);
        this.#counters.decodeErrors++;
        if (this.#decoder === decoder) this.#resetDecoder();
      },
    });
    decoder.configure({ codec: "vp8", optimizeForLatency: true });
    this.#decoder = decoder;
    return decoder;
  }

  #output(frame: VideoFrame): void {
    if (this.#closed) {
      frame.close();
      return;
    }
    const now = performance.now();
    this.#counters.framesDecoded++;
    this.#fps.add(1, now);
    this.#lastFrameAt = now;
    this.#size = { width: frame.displayWidth, height: frame.displayHeight };
    const capture = this.#captureByChunk.get(frame.timestamp);
    this.#captureByChunk.delete(frame.timestamp);
    if (capture !== undefined) {
      const delay = wallClock() - capture;
      this.#delays.add(delay);
      this.onDelay?.(delay);
    }
    // The chunk timestamp is the unwrapped RTP timestamp in µs: the media time.
    const item = { frame, captureMs: capture ?? null };
    const early = this.#playout.push(item, frame.timestamp / 1000, now);
    this.#show([...(early ? [early] : []), ...this.#playout.release(now)], now);
  }

  /** Hands frames to the sink at their display time. */
  #show(items: { frame: VideoFrame; captureMs: number | null }[], nowMs: number): void {
    for (const { frame, captureMs } of items) {
      this.#freezes.frame(nowMs);
      const sink = this.sink;
      if (sink) sink(frame, captureMs);
      else frame.close();
    }
  }

  #resetDecoder(): void {
    this.#closeDecoder();
    this.#needKeyframe = true;
    this.#askKeyframe = true;
  }

  #closeDecoder(): void {
    const decoder = this.#decoder;
    this.#decoder = null;
    this.#captureByChunk.clear();
    if (decoder && decoder.state !== "closed") decoder.close();
  }

  #maybeRequestKeyframe(nowMs: number): void {
    const wanted = this.#askKeyframe || this.#assembler.needsKeyframe;
    if (!wanted || nowMs - this.#lastPliAt < PLI_INTERVAL_MS) return;
    this.#lastPliAt = nowMs;
    this.#counters.plisSent++;
    this.#requestKeyframe(this.ssrc);
  }

  #unwrap(rtpTimestamp: number): number {
    if (this.#lastRtp === null) {
      this.#extendedRtp = 0;
    } else {
      this.#extendedRtp += timestampDiff(rtpTimestamp, this.#lastRtp);
    }
    this.#lastRtp = rtpTimestamp >>> 0;
    return this.#extendedRtp;
  }
}
