/**
 * The contract every media transport of the server honours: one carrier of a seat's RTP and
 * RTCP packets (a WebSocket, a UDP binding, a WebTransport session). The room's media side
 * sends through it and reads its congestion signal; it never knows which carrier it is.
 *
 * Life cycle: a transport is made by its carrier's owner (the control connection, the UDP
 * endpoint, the WebTransport endpoint) once the seat is proved, attached to the seat with
 * `Room.attachMedia` (which calls `MediaRoom.attach`), and closed exactly once: by its carrier (the socket went away, the
 * binding lapsed), by the room (the seat moved to another transport, the seat left, the meeting
 * closed), or by the server shutting down. Closing it stops media on that carrier only: closing
 * a WebSocket transport leaves the control connection open. Incoming packets go from the
 * transport's owner to `MediaRoom.receive(participantId, bytes)`; the transport's owner knows the
 * seat, packet fields are never trusted for that.
 *
 * @example
 * ```ts
 * function udpTransport(socket: Deno.DatagramConn, address: Deno.NetAddr) {
 *   const transport: MediaTransport = {
 *     kind: "udp",
 *     closed: false,
 *     send: (packet) => socket.send(packet, address),
 *     queuedBytes: () => 0,
 *     backlogMs: () => 0,
 *     close() {},
 *     onClose() {},
 *   };
 *   return transport;
 * }
 * ```
 * @module
 */

import type { TransportKind } from "../meeting/participant.ts";
import { log } from "../util/log.ts";

/**
 * What carries a seat's media: "websocket" | "udp" | "webtransport" (defined beside the
 * participant, whose roster entry shows it). `p2p` is not a server transport: the peers send
 * directly.
 */
export type { TransportKind };

/** One carrier of one seat's media. */
export interface MediaTransport {
  /** Which carrier this is (shown in the roster as the participant's `transport`). */
  readonly kind: TransportKind;
  /** True once closed; a closed transport sends nothing. */
  readonly closed: boolean;
  /** The UDP address media comes from and goes to, as the server sees it (UDP carriers). */
  readonly address?: { ip: string; port: number };
  /** Sends one RTP or RTCP packet; the bytes must not change until it is sent. */
  send(packet: Uint8Array): void;
  /**
   * The congestion signal: bytes queued toward the receiver and not yet handed to the network
   * (0 where the carrier cannot tell). The router drops a receiver's video to the next
   * keyframe above a threshold; rate control reads the same figure.
   */
  queuedBytes(): number;
  /**
   * The other congestion signal, for carriers whose receiver reports what it has read (the
   * WebSocket: see media/delivery_window.ts): how long the oldest byte sent and not yet read
   * has waited, ms, wherever it waits (the socket, the kernel, the network). 0 where the
   * carrier cannot tell (datagrams are sent at once or dropped).
   */
  backlogMs(): number;
  /**
   * What the receiver read over about the last `overMs` ms, bit/s, if its link was full
   * meanwhile (far more was sent than read: see media/delivery_window.ts): what the link
   * carries. Null where the carrier cannot tell (no reports of what was read), or the link
   * kept up.
   */
  fullLinkBps?(overMs: number): number | null;
  /** Stops sending and receiving on this carrier and fires the close listeners. Idempotent. */
  close(): void;
  /** Calls `listener` once when the transport closes, whoever closed it. */
  onClose(listener: () => void): void;
}

/**
 * The life cycle every carrier shares: `closed`, an idempotent `close()` that fires the close
 * listeners once, and `onClose`. A carrier extends it with `kind`, `send` and `queuedBytes`,
 * and stops its own work in `closing()` (called once, before the listeners).
 *
 * @example
 * ```ts
 * class LoopTransport extends TransportBase {
 *   readonly kind = "websocket";
 *   sent: Uint8Array[] = [];
 *   send(packet: Uint8Array) { if (!this.closed) this.sent.push(packet); }
 *   queuedBytes() { return 0; }
 * }
 * ```
 */
export abstract class TransportBase implements MediaTransport {
  abstract readonly kind: TransportKind;
  #closed = false;
  #listeners: (() => void)[] = [];

  get closed(): boolean {
    return this.#closed;
  }

  abstract send(packet: Uint8Array): void;
  abstract queuedBytes(): number;

  /** 0: a carrier whose receiver reports what it read overrides it. */
  backlogMs(): number {
    return 0;
  }

  /** Null: a carrier whose receiver reports what it read overrides it. */
  fullLinkBps(_overMs: number): number | null {
    return null;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.closing();
    const listeners = this.#listeners;
    this.#listeners = [];
    for (const listener of listeners) {
      try {
        listener();
      } catch (err) {
        log.error("transport_listener_failed", "media transport close listener failed", {
          error: err,
        });
      }
    }
  }

  /** Called once `closed` is true, before the listeners: the carrier stops its own work. */
  protected closing(): void {}

  onClose(listener: () => void): void {
    if (this.#closed) listener();
    else this.#listeners.push(listener);
  }
}
