/**
 * What every received RTP stream counts, whatever its media: packets, bytes, bitrate, and
 * the RFC 3550 reception figures (loss, jitter) that go into its RTCP receiver reports. The
 * audio and video receivers each own one.
 *
 * @example
 * ```ts
 * import type { RtpPacket } from "../../media/rtp.ts";
 *
 * function account(ssrc: number, packet: RtpPacket) {
 *   const inbound = new InboundStream(ssrc, 48_000);
 *   inbound.count(packet, performance.now());   // on every packet of this SSRC
 *   inbound.reportBlock(performance.now());     // for the next receiver report
 *   const { lossPercent, bitrate } = inbound.stats(performance.now());
 * }
 * ```
 * @module
 */

import { ReceptionStats, type ReportBlock } from "../../media/rtcp.ts";
import type { RtpPacket } from "../../media/rtp.ts";
import { RateMeter } from "./stats.ts";

/** The figures of an {@linkcode InboundStream}. */
export interface InboundStreamStats {
  packets: number;
  bytes: number;
  /** Packets lost since the start (RFC 3550). */
  packetsLost: number;
  /** Loss over the stream's life, percent. */
  lossPercent: number;
  /** Interarrival jitter, ms. */
  jitterMs: number;
  /** Received bits per second (last second). */
  bitrate: number;
}

/** Packet, byte, bitrate and reception accounting of one received SSRC. */
export class InboundStream {
  #reception: ReceptionStats;
  #bits = new RateMeter(1000);
  #packets = 0;
  #bytes = 0;

  constructor(ssrc: number, clockRate: number) {
    this.#reception = new ReceptionStats(ssrc, clockRate);
  }

  /** Counts one packet of this stream. */
  count(packet: RtpPacket, arrivalMs: number): void {
    this.#packets++;
    this.#bytes += packet.payload.length;
    this.#bits.add(packet.payload.length * 8, arrivalMs);
    this.#reception.receive(packet.sequenceNumber, packet.timestamp, arrivalMs);
  }

  /** The RTCP reception report block for this stream (starts a new loss interval). */
  reportBlock(nowMs: number): ReportBlock | null {
    return this.#reception.reportBlock(nowMs);
  }

  /**
   * Notes the stream's sender report (its NTP time) as it arrives: the next report block
   * names it and how long it was held, from which the sender reads the round trip.
   */
  senderReport(ntpSeconds: number, ntpFraction: number, arrivalMs: number): void {
    this.#reception.senderReport(ntpSeconds, ntpFraction, arrivalMs);
  }

  /** A snapshot of the figures. */
  stats(nowMs: number): InboundStreamStats {
    const expected = this.#reception.expected;
    const lost = Math.max(0, this.#reception.cumulativeLost);
    return {
      packets: this.#packets,
      bytes: this.#bytes,
      packetsLost: lost,
      lossPercent: expected > 0 ? (lost / expected) * 100 : 0,
      jitterMs: this.#reception.jitterMs,
      bitrate: this.#bits.rate(nowMs),
    };
  }
}
