/**
 * Receives one audio stream (one SSRC: the server's mix in relay mode, a peer's voice in
 * P2P mode): RTP packets are counted (loss, jitter), duplicates and very late packets are
 * dropped, Opus is decoded with an `AudioDecoder`, and the PCM goes to a
 * {@linkcode PlaybackSink}: the `AudioPlayback`'s worklet, which places each frame by its RTP
 * timestamp (it is the jitter buffer) and mixes the streams.
 *
 * The decoder's outputs are matched to its inputs in order, not by their timestamps:
 * Chromium's `AudioDecoder` stamps its outputs from the first input's timestamp onwards,
 * sample by sample, ignoring gaps, so after a lost packet every output would carry the
 * timestamp of the frame before it (and land 20 ms early in the playout buffer).
 *
 * @example
 * ```ts
 * import type { RtpPacket } from "../../media/rtp.ts";
 * import type { JoinReply } from "../../protocol/control.ts";
 * import type { AudioPlayback } from "./audio_playback.ts";
 *
 * function hearMix(join: JoinReply, playback: AudioPlayback, rtpPacket: RtpPacket) {
 *   const receiver = new AudioReceiver({ ssrc: join.media.mixSsrc, playback });
 *   receiver.receive(rtpPacket, performance.now()); // each Opus packet of this SSRC
 *   receiver.close();
 * }
 * ```
 * @module
 */

import type { ReportBlock } from "../../media/rtcp.ts";
import { type RtpPacket, seqDiff, timestampDiff } from "../../media/rtp.ts";
import { opusPacketSamples } from "../../media/opus_toc.ts";
import { OPUS_CLOCK_RATE, OPUS_FRAME_SAMPLES, readCaptureTime } from "../../protocol/media.ts";
import { audioSampleAt, audioTimestampUs, wallClock } from "./clock.ts";
import { InboundStream, type InboundStreamStats } from "./inbound_stream.ts";
import { SampleWindow } from "./stats.ts";

/**
 * Where decoded frames go: the playback worklet (`AudioPlayback`, or a port to it from a
 * worker, `PortPlaybackSink` in audio_playback.ts).
 *
 * @example
 * ```ts
 * const silent: PlaybackSink = { push() {}, removeStream() {} };
 * ```
 */
export interface PlaybackSink {
  /** Queues one decoded frame; `samples` may be transferred. */
  push(
    ssrc: number,
    rtpTimestamp: number,
    samples: Float32Array,
    captureMs: number | null,
    recovered?: boolean,
  ): void;
  removeStream(ssrc: number): void;
}

/**
 * Options of an {@linkcode AudioReceiver}.
 *
 * @example
 * ```ts
 * import type { AudioPlayback } from "./audio_playback.ts";
 *
 * function optionsFor(playback: AudioPlayback) {
 *   const options: AudioReceiverOptions = { ssrc: 7, playback };
 *   return options;
 * }
 * ```
 */
export interface AudioReceiverOptions {
  ssrc: number;
  playback: PlaybackSink;
}

/**
 * Statistics of an {@linkcode AudioReceiver}.
 *
 * @example
 * ```ts
 * function log(receiver: AudioReceiver) {
 *   const { lossPercent, jitterMs } = receiver.stats(performance.now());
 *   console.log(lossPercent, jitterMs);
 * }
 * ```
 */
export interface AudioReceiverStats extends InboundStreamStats {
  ssrc: number;
  framesDecoded: number;
  /** Capture (at the sender) to arrival here, ms: median of the last ~2 s of packets. */
  arrivalDelayP50: number | null;
  /** Capture to decoded here, ms: median of the last ~2 s of frames. */
  decodedDelayP50: number | null;
  /** Packets dropped as duplicates or too late to matter. */
  discarded: number;
  /** Frames that came only as the redundant copy in the next packet (RED): a loss repaired. */
  recovered: number;
  /**
   * Frames that never came, neither in their own packet nor as a copy, by the time the stream
   * was {@linkcode MAX_REORDER} packets past them: a loss not repaired.
   */
  unrecovered: number;
  decodeErrors: number;
  /**
   * Packets not decoded because their TOC byte says they are not one 20 ms frame (or cannot
   * be valid): every sender of ours, and the server's mix, sends 20 ms packets.
   */
  notTwentyMs: number;
  /** Times the sender's sequence started over (two packets in a row far out of range). */
  restarts: number;
}

/** How far behind the newest packet a packet may be and still be decoded. */
const MAX_REORDER = 10;
/** Most skipped-over packets awaited at once; a longer jump counts the rest lost at once. */
const MAX_GAPS_NOTED = 2 * MAX_REORDER;
/** Most frames awaited from the decoder (it holds none back: each decode gives one output). */
const MAX_PENDING = 50;
/** A sequence number further ahead than this (about 1 min of 20 ms frames) is out of range. */
const MAX_JUMP = 3000;

/** Audio receiving for one SSRC. */
export class AudioReceiver {
  readonly ssrc: number;
  readonly #playback: PlaybackSink;
  readonly #inbound: InboundStream;
  #decoder: AudioDecoder | null = null;
  #highestSeq: number | null = null;
  /** The last packet out of the stream's range, if the one before it was too. */
  #outOfRange: number | null = null;
  #recent = new Set<number>();
  /** Sequence numbers skipped over and not received yet, oldest first. */
  #gaps = new Set<number>();
  /** RTP timestamps unwrapped from the first packet's give strictly increasing chunk timestamps. */
  #firstRtp = 0;
  #lastRtp: number | null = null;
  #extendedRtp = 0;
  /**
   * The frames in the decoder, in decoding order: unwrapped RTP timestamp and capture time
   * (null: none carried). Each output is the oldest of them.
   */
  #pending: { rtp: number; captureMs: number | null; recovered: boolean }[] = [];
  #arrivalDelays = new SampleWindow(100);
  #decodedDelays = new SampleWindow(100);
  #closed = false;
  /** Called with each packet's capture-to-arrival delay, ms (packets that carry one). */
  onArrival: ((delayMs: number) => void) | null = null;
  #counters = {
    framesDecoded: 0,
    discarded: 0,
    recovered: 0,
    unrecovered: 0,
    decodeErrors: 0,
    notTwentyMs: 0,
    restarts: 0,
  };

  constructor(options: AudioReceiverOptions) {
    this.ssrc = options.ssrc;
    this.#playback = options.playback;
    this.#inbound = new InboundStream(options.ssrc, OPUS_CLOCK_RATE);
  }

  /** The RTCP reception report block for this stream (starts a new loss interval). */
  reportBlock(nowMs: number): ReportBlock | null {
    return this.#inbound.reportBlock(nowMs);
  }

  /** Notes the stream's sender report (see `InboundStream.senderReport`). */
  senderReport(ntpSeconds: number, ntpFraction: number, arrivalMs: number): void {
    this.#inbound.senderReport(ntpSeconds, ntpFraction, arrivalMs);
  }

  /**
   * Takes one Opus RTP packet of this SSRC. `redundant`: a copy of an earlier frame carried in
   * a later packet (RED, media/red.ts), taken only when that frame never came.
   */
  receive(packet: RtpPacket, arrivalMs: number, redundant = false): void {
    if (this.#closed) return;
    if (redundant) {
      // The copy comes just before its packet's own frame: when that frame is new, the copy
      // is most often new too (ahead of everything seen: the packet before was lost).
      if (this.#highestSeq === null || this.#recent.has(packet.sequenceNumber)) return;
      if (seqDiff(packet.sequenceNumber, this.#highestSeq) < -MAX_REORDER) return;
      this.#counters.recovered++;
    } else {
      this.#inbound.count(packet, arrivalMs);
    }
    if (opusPacketSamples(packet.payload) !== OPUS_FRAME_SAMPLES) {
      // As the server's mixer: a 120 ms packet costs six decodes, and a P2P peer chooses.
      this.#counters.notTwentyMs++;
      return;
    }
    if (!this.#fresh(packet.sequenceNumber)) {
      this.#counters.discarded++;
      return;
    }
    const decoder = this.#decoderReady();
    const rtp = this.#unwrap(packet.timestamp);
    const timestamp = audioTimestampUs(rtp);
    const captureMs = readCaptureTime(packet.extension);
    if (captureMs !== null) {
      const delay = wallClock() - captureMs;
      this.#arrivalDelays.add(delay);
      this.onArrival?.(delay);
    }
    this.#pending.push({ rtp, captureMs, recovered: redundant });
    if (this.#pending.length > MAX_PENDING) this.#pending.shift();
    try {
      decoder.decode(
        new EncodedAudioChunk({ type: "key", timestamp, data: packet.payload.slice() }),
      );
    } catch (err) {
      console.warn("audio decode failed:", err);
      this.#resetDecoder();
    }
  }

  /** A snapshot of the statistics. */
  stats(nowMs: number): AudioReceiverStats {
    return {
      ssrc: this.ssrc,
      ...this.#inbound.stats(nowMs),
      ...this.#counters,
      arrivalDelayP50: this.#arrivalDelays.percentile(50),
      decodedDelayP50: this.#decodedDelays.percentile(50),
    };
  }

  /** Stops decoding and removes the stream from the playback. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#resetDecoder();
    this.#playback.removeStream(this.ssrc);
  }

  /**
   * False for a duplicate, or a packet more than MAX_REORDER behind the newest. Two packets in
   * a row far outside the stream's sequence (RFC 3550's rule) mean the sender started over:
   * the stream is taken from there, instead of dropping every packet that follows as stale.
   */
  #fresh(seq: number): boolean {
    if (this.#highestSeq !== null) {
      const diff = seqDiff(seq, this.#highestSeq);
      if (diff < -MAX_REORDER || diff > MAX_JUMP) {
        const restarted = this.#outOfRange !== null && seq === ((this.#outOfRange + 1) & 0xffff);
        this.#outOfRange = seq;
        if (!restarted) return diff > 0; // far ahead: a gap, taken; far behind: held back
        this.#recent.clear();
        this.#gaps.clear();
        this.#highestSeq = seq;
        this.#counters.restarts++;
      } else if (this.#recent.has(seq)) {
        return false;
      } else if (diff > 0) {
        this.#skipTo(seq, diff);
      }
      if (diff >= -MAX_REORDER && diff <= MAX_JUMP) this.#outOfRange = null;
    } else {
      this.#highestSeq = seq;
    }
    this.#gaps.delete(seq);
    this.#recent.add(seq);
    if (this.#recent.size > 2 * MAX_REORDER) {
      this.#recent.delete(this.#recent.values().next().value!);
    }
    return true;
  }

  /**
   * The newest packet moved `diff` ahead to `seq`: what it skipped over is awaited for
   * {@linkcode MAX_REORDER} packets, and what is still missing then was lost for good.
   */
  #skipTo(seq: number, diff: number): void {
    const from = this.#highestSeq!;
    for (let k = 1; k < Math.min(diff, MAX_GAPS_NOTED); k++) this.#gaps.add((from + k) & 0xffff);
    if (diff > MAX_GAPS_NOTED) this.#counters.unrecovered += diff - MAX_GAPS_NOTED;
    this.#highestSeq = seq;
    for (const gap of this.#gaps) {
      if (seqDiff(seq, gap) <= MAX_REORDER) break;
      this.#gaps.delete(gap);
      this.#counters.unrecovered++;
    }
  }

  #decoderReady(): AudioDecoder {
    if (this.#decoder && this.#decoder.state === "configured") return this.#decoder;
    this.#resetDecoder();
    const decoder = new AudioDecoder({
      output: (data) => this.#output(data),
      error: (err) => {
        console.warn("audio decoder error:", err);
        this.#counters.decodeErrors++;
        if (this.#decoder === decoder) this.#decoder = null;
      },
    });
    decoder.configure({ codec: "opus", sampleRate: OPUS_CLOCK_RATE, numberOfChannels: 1 });
    this.#decoder = decoder;
    return decoder;
  }

  #output(data: AudioData): void {
    try {
      if (this.#closed) return;
      // In order (see the module documentation); the output's own stamp only if none is left.
      const { rtp, captureMs, recovered } = this.#pending.shift() ??
        { rtp: audioSampleAt(data.timestamp), captureMs: null, recovered: false };
      const samples = new Float32Array(data.numberOfFrames);
      data.copyTo(samples, { planeIndex: 0, format: "f32-planar" });
      this.#counters.framesDecoded++;
      if (captureMs !== null) this.#decodedDelays.add(wallClock() - captureMs);
      this.#playback.push(
        this.ssrc,
        (this.#firstRtp + rtp) >>> 0,
        samples,
        captureMs,
        recovered,
      );
    } finally {
      data.close();
    }
  }

  #resetDecoder(): void {
    const decoder = this.#decoder;
    this.#decoder = null;
    this.#pending = [];
    if (decoder && decoder.state !== "closed") decoder.close();
  }

  #unwrap(rtpTimestamp: number): number {
    if (this.#lastRtp !== null) this.#extendedRtp += timestampDiff(rtpTimestamp, this.#lastRtp);
    else this.#firstRtp = rtpTimestamp >>> 0;
    this.#lastRtp = rtpTimestamp >>> 0;
    return this.#extendedRtp;
  }
}
