/**
 * One WebTransport session as a seat's media carrier: each RTP or RTCP packet goes out as one
 * QUIC datagram (unreliable, unordered, encrypted: QUIC with TLS 1.3). Made by the endpoint
 * (server/webtransport_endpoint.ts) once the session proved its seat; closed by the session
 * going away, by the room when the seat moves to another carrier, or by the server.
 *
 * @example
 * ```ts
 * const transport = new WebTransportTransport(session, { ip: "203.0.113.7", port: 50000 }, {
 *   oversized: (packet) => controlSocket.send(packet), // a plain-RTP camera's 1,400-byte packets
 * });
 * transport.onClose(() => console.log("gone"));
 * transport.send(rtpPacket);
 * transport.close();
 * ```
 * @module
 */

import { TransportBase } from "./media_transport.ts";

/**
 * Most bytes handed to the session's datagram writer and not yet taken by QUIC: past this,
 * packets are dropped (a datagram that waits is stale anyway). The router stops a receiver's
 * video at 256 KiB queued, long before.
 */
export const MAX_WT_QUEUED_BYTES = 1024 * 1024;

/** What the transport needs of a session (a `WebTransport` from `Deno.upgradeWebTransport`). */
export interface DatagramSession {
  readonly datagrams: {
    readonly writable: WritableStream<Uint8Array>;
    readonly maxDatagramSize: number;
  };
  close(info?: { closeCode?: number; reason?: string }): void;
}

/** Counters of one WebTransport transport. */
export interface WebTransportTransportStats {
  datagramsSent: number;
  bytesSent: number;
  /** Larger than the session's datagram size with nowhere else to go, or over {@linkcode MAX_WT_QUEUED_BYTES}. */
  dropped: number;
  /** Larger than the session's datagram size, sent through `oversized` instead. */
  oversized: number;
}

/** Options of a {@linkcode WebTransportTransport}. */
export interface WebTransportTransportOptions {
  /**
   * Sends a packet too large for one datagram another way (the seat's control WebSocket,
   * whose media the page takes as well). Our clients send at most 1,200 bytes, under
   * Chromium's 1,211-byte datagrams; plain-RTP tools send up to 1,500 (ffmpeg: 1,472).
   * Without it such packets are dropped.
   */
  oversized?(packet: Uint8Array): void;
}

/** A seat's media over one WebTransport session's datagrams. */
export class WebTransportTransport extends TransportBase {
  readonly kind = "webtransport" as const;
  readonly address: { ip: string; port: number };
  readonly stats: WebTransportTransportStats = {
    datagramsSent: 0,
    bytesSent: 0,
    dropped: 0,
    oversized: 0,
  };
  #options: WebTransportTransportOptions;
  #session: DatagramSession;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #queued = 0;

  constructor(
    session: DatagramSession,
    address: { ip: string; port: number },
    options: WebTransportTransportOptions = {},
  ) {
    super();
    this.#options = options;
    this.#session = session;
    this.address = address;
    this.#writer = session.datagrams.writable.getWriter();
    this.#writer.closed.catch(() => this.close());
  }

  /** Sends one packet as one datagram; dropped when too large or the queue is full. */
  send(packet: Uint8Array): void {
    if (this.closed) return;
    const size = packet.length;
    if (size > this.#session.datagrams.maxDatagramSize && this.#options.oversized) {
      this.stats.oversized++;
      this.#options.oversized(packet);
      return;
    }
    if (
      size > this.#session.datagrams.maxDatagramSize || this.#queued + size > MAX_WT_QUEUED_BYTES
    ) {
      this.stats.dropped++;
      return;
    }
    this.#queued += size;
    this.stats.datagramsSent++;
    this.stats.bytesSent += size;
    this.#writer.write(packet).then(
      () => this.#queued -= size,
      () => this.#queued -= size,
    );
  }

  /**
   * Bytes written to the datagram stream and not yet taken by QUIC. The stream's own
   * `desiredSize` counts datagrams (high-water mark 1) and QUIC takes each at once into its
   * send buffer (where it drops the oldest when full), so this is what backs up in JavaScript
   * when the connection's event loop falls behind; congestion inside QUIC is not visible here.
   */
  queuedBytes(): number {
    return this.#queued;
  }

  /** Closes the session, if open (the close listeners fire after, from `TransportBase`). */
  protected override closing(): void {
    try {
      this.#session.close({ closeCode: 0, reason: "closed" });
    } catch {
      // already closed
    }
  }
}
