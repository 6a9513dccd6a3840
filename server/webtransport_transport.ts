/**
 * One WebTransport session as a seat's media carrier: each RTP or RTCP packet goes out as one
 * QUIC datagram (unreliable, unordered, encrypted: QUIC with TLS 1.3). Made by the endpoint
 * (server/webtransport_endpoint.ts) once the session proved its seat; closed by the session
 * going away, by the room when the seat moves to another carrier, or by the server.
 *
 * It writes to the session's QUIC connection itself, framing each packet as an HTTP/3
 * datagram (RFC 9297: the session's quarter stream ID, then the payload), rather than through
 * the session's `datagrams.writable`: that stream copies each packet twice and sends one
 * datagram per turn of the event loop, one after the other, which cost the router bench
 * (bench/router.ts) up to a third of the server's CPU per packet and a millisecond of delay.
 * The connection carries one session: the endpoint opens a QUIC connection per session.
 *
 * @example
 * ```ts
 * function carry(quicConn: DatagramConnection, controlSocket: WebSocket, rtpPacket: Uint8Array) {
 *   const transport = new WebTransportTransport(quicConn, { ip: "203.0.113.7", port: 50000 }, {
 *     oversized: (packet) => controlSocket.send(packet), // a plain-RTP camera's 1,400-byte packets
 *   });
 *   transport.onClose(() => console.log("gone"));
 *   transport.send(rtpPacket);
 *   transport.close();
 * }
 * ```
 * @module
 */

import { TransportBase } from "./media_transport.ts";

/**
 * Most bytes handed to the QUIC connection and not yet taken into its datagram send buffer:
 * past this, packets are dropped (a datagram that waits is stale anyway). The router stops a
 * receiver's video at 256 KiB queued, long before.
 */
export const MAX_WT_QUEUED_BYTES = 1024 * 1024;

/**
 * The HTTP/3 datagram header of the session: the quarter stream ID of its CONNECT request,
 * as a QUIC varint. A page's session is the first request on its own connection, client
 * bidirectional stream 0, so the header is one zero byte (Deno's session reader, which the
 * endpoint reads with, keeps only datagrams that carry this session's ID).
 */
export const SESSION_DATAGRAM_HEADER = Uint8Array.of(0);

/**
 * What the transport needs of the session's QUIC connection (a `Deno.QuicConn`).
 * `maxDatagramSize` counts the HTTP/3 datagram header.
 */
export interface DatagramConnection {
  sendDatagram(data: Uint8Array): Promise<void>;
  readonly maxDatagramSize: number;
  close(info?: { closeCode?: number; reason?: string }): void;
}

/** Counters of one WebTransport transport. */
export interface WebTransportTransportStats {
  datagramsSent: number;
  bytesSent: number;
  /** Larger than a datagram carries with nowhere else to go, or over {@linkcode MAX_WT_QUEUED_BYTES}. */
  dropped: number;
  /** Larger than a datagram carries, sent through `oversized` instead. */
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
  #connection: DatagramConnection;
  #queued = 0;

  constructor(
    connection: DatagramConnection,
    address: { ip: string; port: number },
    options: WebTransportTransportOptions = {},
  ) {
    super();
    this.#options = options;
    this.#connection = connection;
    this.address = address;
  }

  /** The largest packet one datagram carries, bytes (0 while the connection cannot send any). */
  get maxPacketSize(): number {
    return Math.max(0, this.#connection.maxDatagramSize - SESSION_DATAGRAM_HEADER.length);
  }

  /** Sends one packet as one datagram; dropped when too large or the queue is full. */
  send(packet: Uint8Array): void {
    if (this.closed) return;
    const size = packet.length;
    const max = this.maxPacketSize;
    if (size > max && this.#options.oversized) {
      this.stats.oversized++;
      this.#options.oversized(packet);
      return;
    }
    if (size > max || this.#queued + size > MAX_WT_QUEUED_BYTES) {
      this.stats.dropped++;
      return;
    }
    const datagram = new Uint8Array(SESSION_DATAGRAM_HEADER.length + size);
    datagram.set(SESSION_DATAGRAM_HEADER);
    datagram.set(packet, SESSION_DATAGRAM_HEADER.length);
    this.#queued += size;
    this.stats.datagramsSent++;
    this.stats.bytesSent += size;
    this.#connection.sendDatagram(datagram).then(
      () => this.#queued -= size,
      () => {
        this.#queued -= size;
        this.close(); // the connection is gone
      },
    );
  }

  /**
   * Bytes handed to the QUIC connection and not yet taken into its datagram send buffer. QUIC
   * takes each at once while its buffer has room (where it drops the oldest when full), so
   * this is what backs up when the connection's event loop falls behind; congestion inside
   * QUIC is not visible here.
   */
  queuedBytes(): number {
    return this.#queued;
  }

  /** Closes the session's connection, if open (the close listeners fire after, from `TransportBase`). */
  protected override closing(): void {
    try {
      this.#connection.close({ closeCode: 0, reason: "closed" });
    } catch {
      // already closed
    }
  }
}
