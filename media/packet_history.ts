/**
 * The last packets of one RTP stream by sequence number, for resending what a receiver
 * reports lost (a generic NACK, RFC 4585). A ring of `capacity` slots: a packet stays until
 * a packet `capacity` sequence numbers later takes its slot. Packets are copied in, so the
 * caller may reuse its buffer.
 *
 * The server keeps one per video sender (to answer its receivers' NACKs); a page keeps one
 * for its own video (to answer the server's or, in P2P, the peer's).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PacketHistory } from "./packet_history.ts";
 *
 * const history = new PacketHistory(4);
 * history.put(65535, Uint8Array.of(1));
 * history.put(0, Uint8Array.of(2));
 * assert.deepEqual(history.get(65535), Uint8Array.of(1));
 * assert.equal(history.get(3), undefined); // never sent
 * ```
 * @module
 */

import { ResendGuard } from "./resend_guard.ts";

/** Packets kept by default: about 2.5 s of 1 Mb/s video (100 packets a second). */
export const DEFAULT_HISTORY_PACKETS = 256;

/** Most bytes of one kept packet (an RTP packet over UDP is smaller). */
export const MAX_HISTORY_PACKET_BYTES = 1500;

/** A ring of recent packets of one stream, by 16-bit sequence number. */
export class PacketHistory {
  readonly capacity: number;
  #packets: (Uint8Array | undefined)[];
  #seqs: Int32Array;
  readonly #resends = new ResendGuard();

  /** @param capacity packets kept, 1 to 4096 (default {@linkcode DEFAULT_HISTORY_PACKETS}) */
  constructor(capacity = DEFAULT_HISTORY_PACKETS) {
    this.capacity = Math.max(1, Math.min(4096, Math.floor(capacity)));
    this.#packets = new Array(this.capacity);
    this.#seqs = new Int32Array(this.capacity).fill(-1);
  }

  /** Keeps a copy of `packet` as sequence number `seq` (packets over 1,500 bytes are not kept). */
  put(seq: number, packet: Uint8Array): void {
    if (packet.length > MAX_HISTORY_PACKET_BYTES) return;
    const slot = (seq & 0xffff) % this.capacity;
    this.#packets[slot] = packet.slice();
    this.#seqs[slot] = seq & 0xffff;
  }

  /** The packet sent as `seq`, if still kept. */
  get(seq: number): Uint8Array | undefined {
    const slot = (seq & 0xffff) % this.capacity;
    return this.#seqs[slot] === (seq & 0xffff) ? this.#packets[slot] : undefined;
  }

  /**
   * Sends again, through `send`, the packets of `seqs` still kept (a NACK's list; at most
   * `max` of them are looked at), except those resent less than `RESEND_REPEAT_MS` before
   * `nowMs` (the other copy of the same NACK; see media/resend_guard.ts). Returns how many
   * were sent. The history answers one receiver: the server, or in P2P the peer.
   */
  resend(
    seqs: readonly number[],
    send: (packet: Uint8Array) => void,
    nowMs: number,
    max = 64,
  ): number {
    let sent = 0;
    for (let i = 0; i < Math.min(seqs.length, max); i++) {
      const packet = this.get(seqs[i]);
      if (!packet || this.#resends.answered(seqs[i], nowMs)) continue;
      this.#resends.resent(seqs[i], nowMs);
      send(packet);
      sent++;
    }
    return sent;
  }

  /** Forgets every packet (a new encoder, a restarted stream). */
  clear(): void {
    this.#packets = new Array(this.capacity);
    this.#seqs.fill(-1);
  }
}

/** The sequence number of an RTP packet (bytes 2-3), without parsing the rest. */
export function rtpSequenceNumber(packet: Uint8Array): number {
  return packet.length >= 4 ? (packet[2] << 8) | packet[3] : -1;
}
