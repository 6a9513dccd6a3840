/**
 * The WebSocket media transport: a seat's RTP and RTCP as binary messages on its control
 * WebSocket. The control connection owns it (one at a time, made once the connection holds a
 * seat) and hands it to the room with `Room.attachMedia`. Closing it stops media on the socket
 * and nothing else: the control connection stays open (the seat's media moved to UDP or
 * WebTransport, or the seat left).
 *
 * @example
 * ```ts
 * import type { Room } from "./room.ts";
 *
 * function attach(socket: WebSocket, room: Room, participantId: string) {
 *   const transport = new WebSocketTransport({
 *     send: (packet) => socket.send(packet),
 *     queuedBytes: () => socket.bufferedAmount,
 *     backlogMs: () => 0, // the control connection reads its client's received-bytes reports
 *   });
 *   room.attachMedia(participantId, transport);
 * }
 * ```
 * @module
 */

import { TransportBase } from "./media_transport.ts";

/** What the transport needs of its socket (the control connection's send path). */
export interface WebSocketCarrier {
  /** Sends one binary message (the control connection drops a client that stopped reading). */
  send(packet: Uint8Array): void;
  /** The socket's `bufferedAmount`: bytes queued for the client, control messages included. */
  queuedBytes(): number;
  /** How long the oldest byte not yet read by the client has waited (its reports), ms. */
  backlogMs(): number;
  /** What the client read over about the last `overMs` ms if its link was full, bit/s, or null. */
  fullLinkBps?(overMs: number): number | null;
}

/** A seat's media on its control WebSocket. */
export class WebSocketTransport extends TransportBase {
  readonly kind = "websocket" as const;
  #carrier: WebSocketCarrier;

  constructor(carrier: WebSocketCarrier) {
    super();
    this.#carrier = carrier;
  }

  send(packet: Uint8Array): void {
    if (!this.closed) this.#carrier.send(packet);
  }

  /** The socket's queue (Deno and npm:ws count what was sent this turn as queued). */
  queuedBytes(): number {
    return this.#carrier.queuedBytes();
  }

  /** From the client's received-bytes reports: 0 until the first. */
  override backlogMs(): number {
    return this.#carrier.backlogMs();
  }

  /** From the client's received-bytes reports: null unless they say the link was full. */
  override fullLinkBps(overMs: number): number | null {
    return this.#carrier.fullLinkBps?.(overMs) ?? null;
  }
}
