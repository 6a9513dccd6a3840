/**
 * The media transport of a session: binary messages on a channel (the control WebSocket in
 * relay mode), each exactly one RTP or RTCP packet. It demultiplexes what arrives (RFC 5761),
 * parses it, hands RTP to one handler and RTCP to another, and counts both directions.
 *
 * @example
 * ```ts
 * import type { RtcpPacket } from "../../media/rtcp.ts";
 * import type { ControlClient } from "../control_client.ts";
 * import type { AudioReceiver } from "./audio_receiver.ts";
 *
 * function connect(controlClient: ControlClient, receivers: Map<number, AudioReceiver>,
 *   handleFeedback: (packet: RtcpPacket) => void, rtpBytes: Uint8Array) {
 *   const transport = new PacketMux(controlClient, {
 *     onRtp: (packet, arrivalMs) => receivers.get(packet.ssrc)?.receive(packet, arrivalMs),
 *     onRtcp: (packets) => packets.forEach(handleFeedback),
 *   });
 *   transport.send(rtpBytes);
 *   transport.close();
 * }
 * ```
 * @module
 */

import { parseRtcp, type RtcpPacket } from "../../media/rtcp.ts";
import { isRtcp, parseRtp, type RtpPacket } from "../../media/rtp.ts";

/**
 * What the transport needs of a channel: send and receive binary messages. The
 * `ControlClient` is one.
 *
 * @example
 * ```ts
 * import type { ControlClient } from "../control_client.ts";
 *
 * function channelOf(controlClient: ControlClient) {
 *   const channel: MediaCarrier = controlClient;
 *   return channel;
 * }
 * ```
 */
export interface MediaCarrier {
  /** Sends one binary message; false when it could not be sent (not connected). */
  sendBinary(bytes: Uint8Array): boolean;
  /** Bytes queued and not yet sent. */
  readonly bufferedAmount: number;
  /**
   * Whether the carrier is backed up by its own measure (a datagram stream: by how long its
   * writes wait, see DatagramSendQueue); absent: judged by `bufferedAmount`.
   */
  readonly congested?: boolean;
  /**
   * Subscribes to incoming binary messages; returns the unsubscribe function. `arrivalMs`
   * (performance.now()): when it reached the page, where that was before the listener ran (a
   * worker read it); absent: now.
   */
  on(event: "media", listener: (bytes: Uint8Array, arrivalMs?: number) => void): () => void;
}

/**
 * Handlers of a {@linkcode PacketMux}.
 *
 * @example
 * ```ts
 * const handlers: PacketMuxHandlers = { onRtp: () => {}, onRtcp: () => {} };
 * ```
 */
export interface PacketMuxHandlers {
  /** One RTP packet (views into the received bytes), with its arrival time (performance.now). */
  onRtp(packet: RtpPacket, arrivalMs: number): void;
  /** The packets of one compound RTCP message. */
  onRtcp(packets: RtcpPacket[], arrivalMs: number): void;
}

/**
 * Counters of a {@linkcode PacketMux}.
 *
 * @example
 * ```ts
 * function log(transport: PacketMux) {
 *   const { packetsReceived, bytesSent } = transport.stats;
 *   console.log(packetsReceived, bytesSent);
 * }
 * ```
 */
export interface PacketMuxStats {
  packetsSent: number;
  bytesSent: number;
  /** Packets not sent: the channel was down. */
  sendFailures: number;
  /**
   * The most bytes the channel held unsent, seen at a send (the browser's queue below the
   * page: a WebSocket's `bufferedAmount`, the datagram stream's unwritten chunks).
   */
  maxQueuedBytes: number;
  packetsReceived: number;
  bytesReceived: number;
  /** Received messages that were neither valid RTP nor valid RTCP. */
  malformed: number;
  /** Received messages longer than {@linkcode MAX_MEDIA_PACKET_BYTES}, dropped unread. */
  oversized: number;
}

/**
 * Longest packet taken from a channel, bytes: the server's own cap on what enters a meeting
 * (server/media_room.ts `MAX_INCOMING_PACKET`). Our senders write at most 1,200. In P2P the
 * peer's data channel delivers messages of up to 256 KiB, and 1,024 held VP8 packets of that
 * size would be a quarter of a gigabyte; longer messages are dropped before they are parsed.
 */
export const MAX_MEDIA_PACKET_BYTES = 1500;

/**
 * Above this many queued bytes the channel counts as congested: senders skip video frames
 * rather than queue them (about 0.25 s of 8 Mbit/s).
 */
export const CONGESTION_BYTES = 256 * 1024;

/** One session's media over a binary channel. */
export class PacketMux {
  readonly #channel: MediaCarrier;
  readonly #handlers: PacketMuxHandlers;
  readonly #off: () => void;
  #closed = false;
  readonly stats: PacketMuxStats = {
    packetsSent: 0,
    bytesSent: 0,
    sendFailures: 0,
    maxQueuedBytes: 0,
    packetsReceived: 0,
    bytesReceived: 0,
    malformed: 0,
    oversized: 0,
  };

  constructor(channel: MediaCarrier, handlers: PacketMuxHandlers) {
    this.#channel = channel;
    this.#handlers = handlers;
    this.#off = channel.on("media", (bytes, arrivalMs) => this.#receive(bytes, arrivalMs));
  }

  /** Bytes the channel holds unsent now. */
  get queuedBytes(): number {
    return this.#channel.bufferedAmount;
  }

  /**
   * True when the channel is backed up (by its own measure, or with more than
   * {@linkcode CONGESTION_BYTES} queued): skip what can be skipped (video frames).
   */
  get congested(): boolean {
    return this.#channel.congested ?? this.#channel.bufferedAmount > CONGESTION_BYTES;
  }

  /**
   * Sends one packet. Returns false when the channel is down (the packet is dropped).
   *
   * @example
   * ```ts
   * import { writePli } from "../../media/rtcp.ts";
   *
   * function askForKeyframe(transport: PacketMux, mine: number, theirs: number) {
   *   transport.send(writePli({ senderSsrc: mine, mediaSsrc: theirs }));
   * }
   * ```
   */
  send(bytes: Uint8Array): boolean {
    if (this.#closed) return false;
    if (!this.#channel.sendBinary(bytes)) {
      this.stats.sendFailures++;
      return false;
    }
    this.stats.packetsSent++;
    this.stats.bytesSent += bytes.length;
    const queued = this.#channel.bufferedAmount;
    if (queued > this.stats.maxQueuedBytes) this.stats.maxQueuedBytes = queued;
    return true;
  }

  /** Stops receiving and sending. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#off();
  }

  #receive(bytes: Uint8Array, arrivedAt?: number): void {
    if (this.#closed) return;
    const arrivalMs = arrivedAt ?? performance.now();
    this.stats.packetsReceived++;
    this.stats.bytesReceived += bytes.length;
    if (bytes.length > MAX_MEDIA_PACKET_BYTES) {
      this.stats.oversized++;
      return;
    }
    if (isRtcp(bytes)) {
      const parsed = parseRtcp(bytes);
      if (!parsed.ok) {
        this.stats.malformed++;
        return;
      }
      this.#handlers.onRtcp(parsed.packets, arrivalMs);
      return;
    }
    const parsed = parseRtp(bytes);
    if (!parsed.ok) {
      this.stats.malformed++;
      return;
    }
    this.#handlers.onRtp(parsed.packet, arrivalMs);
  }
}
