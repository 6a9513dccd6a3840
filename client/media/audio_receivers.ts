/**
 * A page's audio receiving: one {@linkcode AudioReceiver} per admitted SSRC (the server's mix,
 * or the peer's voice in P2P), fed with Opus or RED packets and playing into one
 * {@linkcode PlaybackSink}. {@linkcode AudioInbound} is what `PageMedia` needs of it: this
 * class runs it on the thread that calls it; `MediaWorkerLink` runs it in the media worker
 * (client/media/media_worker.ts), off the page's main thread.
 *
 * @example
 * ```ts
 * import type { RtpPacket } from "../../media/rtp.ts";
 * import type { AudioPlayback } from "./audio_playback.ts";
 *
 * function hear(playback: AudioPlayback, mixSsrc: number, ownSsrc: number, packet: RtpPacket) {
 *   const audio = new AudioReceivers();
 *   audio.setKnown([mixSsrc], ownSsrc);
 *   audio.setPlayback(playback);
 *   audio.receive(packet, performance.now());
 *   return audio.stats(performance.now());
 * }
 * ```
 * @module
 */

import type { ReportBlock } from "../../media/rtcp.ts";
import { opusFrames } from "../../media/red.ts";
import type { RtpPacket } from "../../media/rtp.ts";
import { PT_OPUS, PT_RED } from "../../protocol/media.ts";
import type { AudioPlayback } from "./audio_playback.ts";
import { AudioReceiver, type AudioReceiverStats, type PlaybackSink } from "./audio_receiver.ts";
import { admitStream } from "./ssrc_admission.ts";

/**
 * Frames recovered from redundant copies and frames never received, of the receivers closed
 * so far (each playback change starts the streams over).
 */
export interface ClosedReceiverTotals {
  recovered: number;
  unrecovered: number;
}

/**
 * What `PageMedia` needs of its audio receiving, wherever it runs.
 *
 * @example
 * ```ts
 * function recoveredSoFar(audio: AudioInbound) {
 *   return receiverTotals(audio, performance.now()).recovered;
 * }
 * ```
 */
export interface AudioInbound {
  /** One audio RTP packet (Opus or RED) that came to the page. */
  receive(packet: RtpPacket, arrivalMs: number): void;
  /** An RTCP sender report on one of the received streams. */
  senderReport(ssrc: number, ntpSeconds: number, ntpFraction: number, arrivalMs: number): void;
  /**
   * The SSRCs the page expects (the mix, the peers' voices): receivers of others close, and
   * at most a few unknown ones are admitted. `own`: the page's own, never received.
   */
  setKnown(ssrcs: readonly number[], own: number): void;
  /** Where frames play from now on; every receiver starts over. Null: none (nothing decoded). */
  setPlayback(playback: AudioPlayback | null): void;
  /**
   * Makes reception report blocks (each starts a new interval) and hands them to `send`: at
   * once on this thread, a moment later from the worker. They must leave as soon as they are
   * made: each says how long ago the sender's last report came, which gives its round trip.
   */
  reportBlocks(nowMs: number, send: (blocks: ReportBlock[]) => void): void;
  stats(nowMs: number): AudioReceiverStats[];
  readonly closedTotals: ClosedReceiverTotals;
  /** Called with each packet's capture-to-arrival delay, ms. */
  onArrival: ((delayMs: number) => void) | null;
  close(): void;
}

/**
 * Recovered and unrecovered frames of every receiver `audio` has had: those closed and those
 * live at `nowMs`.
 *
 * @example
 * ```ts
 * const { recovered, unrecovered } = receiverTotals(new AudioReceivers(), 0); // 0, 0
 * ```
 */
export function receiverTotals(audio: AudioInbound, nowMs: number): ClosedReceiverTotals {
  const totals = { ...audio.closedTotals };
  for (const r of audio.stats(nowMs)) {
    totals.recovered += r.recovered;
    totals.unrecovered += r.unrecovered;
  }
  return totals;
}

/** The receivers, on the calling thread. */
export class AudioReceivers implements AudioInbound {
  #receivers = new Map<number, AudioReceiver>();
  #known = new Set<number>();
  #own = -1;
  #playback: PlaybackSink | null = null;
  #closed = false;
  readonly closedTotals: ClosedReceiverTotals = { recovered: 0, unrecovered: 0 };
  onArrival: ((delayMs: number) => void) | null = null;

  receive(packet: RtpPacket, arrivalMs: number): void {
    const playback = this.#playback;
    if (this.#closed || !playback || packet.ssrc === this.#own) return;
    if (packet.payloadType !== PT_OPUS && packet.payloadType !== PT_RED) return;
    let receiver = this.#receivers.get(packet.ssrc);
    if (!receiver) {
      const known = (ssrc: number) => this.#known.has(ssrc);
      if (!admitStream(packet.ssrc, this.#receivers, known)) return;
      receiver = new AudioReceiver({ ssrc: packet.ssrc, playback });
      receiver.onArrival = (delay) => this.onArrival?.(delay);
      this.#receivers.set(packet.ssrc, receiver);
    }
    // With RED, the previous frame again, then this one (media/red.ts).
    const frames = opusFrames(packet, PT_OPUS, PT_RED) ?? [];
    frames.forEach((f, i) => receiver!.receive(f, arrivalMs, i < frames.length - 1));
  }

  senderReport(ssrc: number, ntpSeconds: number, ntpFraction: number, arrivalMs: number): void {
    this.#receivers.get(ssrc)?.senderReport(ntpSeconds, ntpFraction, arrivalMs);
  }

  setKnown(ssrcs: readonly number[], own: number): void {
    this.#known = new Set(ssrcs);
    this.#own = own;
    for (const [ssrc, receiver] of this.#receivers) {
      if (this.#known.has(ssrc) && ssrc !== own) continue;
      this.#closeReceiver(ssrc, receiver);
    }
  }

  setPlayback(playback: PlaybackSink | null): void {
    for (const [ssrc, receiver] of this.#receivers) this.#closeReceiver(ssrc, receiver);
    this.#playback = this.#closed ? null : playback;
  }

  reportBlocks(nowMs: number, send: (blocks: ReportBlock[]) => void): void {
    send(this.blocks(nowMs));
  }

  /** The reception report blocks of every stream (each starts a new interval). */
  blocks(nowMs: number): ReportBlock[] {
    const blocks: ReportBlock[] = [];
    for (const receiver of this.#receivers.values()) {
      const block = receiver.reportBlock(nowMs);
      if (block) blocks.push(block);
    }
    return blocks;
  }

  stats(nowMs: number): AudioReceiverStats[] {
    return [...this.#receivers.values()].map((r) => r.stats(nowMs));
  }

  /** Closes every receiver; receives nothing more. Idempotent. */
  close(): void {
    this.setPlayback(null);
    this.#closed = true;
  }

  #closeReceiver(ssrc: number, receiver: AudioReceiver): void {
    const { recovered, unrecovered } = receiver.stats(0);
    this.closedTotals.recovered += recovered;
    this.closedTotals.unrecovered += unrecovered;
    receiver.close();
    this.#receivers.delete(ssrc);
  }
}
