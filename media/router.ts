/**
 * The Router forwards video in one meeting (an SFU: no decoding). Each packet from a sender
 * goes to every other peer of the meeting, and to no one else. Per receiver, a slow link
 * drops that sender's video until the next keyframe instead of queueing without bound, and
 * the sender is asked for a keyframe (rate-limited).
 *
 * Loss recovery: the router keeps each sender's last packets ({@linkcode PacketHistory}) and
 * resends those a receiver reports lost (`resend`, from its generic NACK), to that receiver
 * only, within a budget per receiver ({@linkcode RESEND_LIMITS}), and never what it chose
 * not to send (packets before the keyframe a waiting receiver resumed at).
 *
 * Pure: the transport is behind {@linkcode RouterPeer}, time is passed in.
 *
 * @example
 * ```ts
 * const router = new Router({ requestKeyframe: (senderId) => sendPli(senderId) });
 * router.addPeer({ id: "ann", send: (b) => ws.send(b), congested: () => ws.bufferedAmount > 1e6 });
 * router.addPeer({ id: "bob", send: (b) => ws2.send(b), congested: () => false });
 * router.forward("ann", packetBytes, isKeyframeStart, performance.now()); // reaches bob only
 * router.close();
 * ```
 * @module
 */

import { PacketHistory, rtpSequenceNumber } from "./packet_history.ts";
import { isNewerSeq } from "./rtp.ts";
import { TokenBucket } from "../util/token_bucket.ts";

/**
 * Bounds of resending: a NACK is small and names many packets, so what one receiver can
 * make the server send again is capped (per NACK, and a rate with a burst).
 */
export const RESEND_LIMITS = {
  /** Packets resent for one NACK, at most. */
  perNack: 64,
  /** Packets resent to one receiver per second (all its senders), sustained. */
  packetsPerSecond: 400,
  /** ... and at once. */
  burst: 200,
};

/** A receiver (and sender) of video in the meeting. */
export interface RouterPeer {
  readonly id: string;
  /** Sends one packet to this peer. */
  send(packet: Uint8Array): void;
  /** True when this peer's link is backed up: its video is dropped until a keyframe. */
  congested(): boolean;
}

/** Options of a {@linkcode Router}. */
export interface RouterOptions {
  /** Asks a sender for a keyframe (send it an RTCP PLI). */
  requestKeyframe(senderId: string): void;
  /**
   * At most one keyframe request per sender per this many ms, whoever asks (default 2000: a
   * keyframe is several times a frame's size, and a receiver on a weak link that asks for
   * one after each loss would make every sender send little else). A new receiver's request
   * is not held back.
   */
  keyframeIntervalMs?: number;
}

/** What the router did, by outcome. */
export interface RouterStats {
  /** Packets received from senders. */
  received: number;
  /** Packets sent to receivers (one per receiver). */
  forwardedPackets: number;
  forwardedBytes: number;
  /** Packets not sent to a receiver because its link was backed up. */
  droppedCongested: number;
  /** Packets not sent to a receiver that waits for the sender's next keyframe. */
  droppedWaitingKeyframe: number;
  /** Keyframe requests sent to senders. */
  keyframeRequests: number;
  /** Packets resent on a receiver's NACK. */
  resent: number;
  /** Packets a NACK asked for that were not resent: no longer kept, not sent to that receiver, or over its budget. */
  resendMissed: number;
}

/** Video fan-out for one meeting. */
export class Router {
  #peers = new Map<string, RouterPeer>();
  /** receiverId -> senderIds whose video it drops until their next keyframe. */
  #waiting = new Map<string, Set<string>>();
  #lastRequest = new Map<string, number>();
  /** Senders asked for a keyframe within the interval: asked when it ends, unless one came. */
  #pending = new Set<string>();
  /** senderId -> its last packets. */
  #history = new Map<string, PacketHistory>();
  /** receiverId -> senderId -> the sequence number of the keyframe it resumed at. */
  #resumedAt = new Map<string, Map<string, number>>();
  /** receiverId -> its resend budget. */
  #resendBudget = new Map<string, TokenBucket>();
  #requestKeyframe: (senderId: string) => void;
  #intervalMs: number;
  #closed = false;
  readonly stats: RouterStats = {
    received: 0,
    forwardedPackets: 0,
    forwardedBytes: 0,
    droppedCongested: 0,
    droppedWaitingKeyframe: 0,
    keyframeRequests: 0,
    resent: 0,
    resendMissed: 0,
  };

  constructor(options: RouterOptions) {
    this.#requestKeyframe = options.requestKeyframe;
    this.#intervalMs = options.keyframeIntervalMs ?? 2000;
  }

  /**
   * Adds a peer. It waits for a keyframe from every current sender, and they are asked
   * for one; the others wait for its first keyframe. Every picture starts clean.
   */
  addPeer(peer: RouterPeer, nowMs = 0): void {
    if (this.#closed) return;
    this.#peers.set(peer.id, peer);
    this.#history.set(peer.id, new PacketHistory());
    this.#resumedAt.set(peer.id, new Map());
    this.#resendBudget.set(
      peer.id,
      new TokenBucket({
        ratePerSecond: RESEND_LIMITS.packetsPerSecond,
        burst: RESEND_LIMITS.burst,
      }),
    );
    const waiting = new Set<string>();
    for (const other of this.#peers.keys()) {
      if (other === peer.id) continue;
      waiting.add(other);
      this.#waiting.get(other)?.add(peer.id);
      this.requestKeyframe(other, nowMs, true);
    }
    this.#waiting.set(peer.id, waiting);
  }

  /**
   * Sets how many packets a second may be resent to a receiver (its NACKs), within
   * [1, RESEND_LIMITS.packetsPerSecond]: on a weak link resends take the room of new packets,
   * and a receiver that loses much asks for much. The burst is half a second's worth.
   */
  setResendRate(receiverId: string, packetsPerSecond: number): void {
    const budget = this.#resendBudget.get(receiverId);
    if (!budget || !Number.isFinite(packetsPerSecond)) return;
    const rate = Math.max(1, Math.min(RESEND_LIMITS.packetsPerSecond, packetsPerSecond));
    if (Math.abs(rate - budget.ratePerSecond) < budget.ratePerSecond * 0.1) return;
    this.#resendBudget.set(
      receiverId,
      new TokenBucket({
        ratePerSecond: rate,
        burst: Math.max(1, Math.min(RESEND_LIMITS.burst, Math.round(rate / 2))),
      }),
    );
  }

  /** Removes a peer: it receives nothing more, and nobody waits for its keyframes. */
  removePeer(id: string): void {
    this.#peers.delete(id);
    this.#waiting.delete(id);
    this.#lastRequest.delete(id);
    this.#pending.delete(id);
    this.#history.delete(id);
    this.#resumedAt.delete(id);
    this.#resendBudget.delete(id);
    for (const waiting of this.#waiting.values()) waiting.delete(id);
    for (const resumed of this.#resumedAt.values()) resumed.delete(id);
  }

  /** True when a peer with this id is in the router. */
  has(id: string): boolean {
    return this.#peers.has(id);
  }

  /**
   * Forwards one video packet (already stamped with the sender's SSRC) to every other peer.
   * `keyframeStart` tells whether it begins a keyframe (see `isVp8KeyframeStart`).
   */
  forward(senderId: string, packet: Uint8Array, keyframeStart: boolean, nowMs: number): void {
    if (this.#closed || !this.#peers.has(senderId)) return;
    this.stats.received++;
    const seq = rtpSequenceNumber(packet);
    this.#history.get(senderId)!.put(seq, packet);
    // A keyframe answers every request so far, held ones included.
    if (keyframeStart) this.#pending.delete(senderId);
    for (const [receiverId, receiver] of this.#peers) {
      if (receiverId === senderId) continue;
      const waiting = this.#waiting.get(receiverId)!;
      if (waiting.has(senderId)) {
        if (!keyframeStart) {
          this.stats.droppedWaitingKeyframe++;
          this.requestKeyframe(senderId, nowMs);
          continue;
        }
        waiting.delete(senderId);
        this.#resumedAt.get(receiverId)!.set(senderId, seq);
      }
      if (receiver.congested()) {
        this.stats.droppedCongested++;
        waiting.add(senderId);
        this.requestKeyframe(senderId, nowMs);
        continue;
      }
      receiver.send(packet);
      this.stats.forwardedPackets++;
      this.stats.forwardedBytes += packet.length;
    }
  }

  /**
   * Resends to `receiverId` the packets of `senderId`'s video it reports lost (16-bit
   * sequence numbers, from its NACK) that are still kept and were meant for it. Returns how
   * many were sent.
   */
  resend(receiverId: string, senderId: string, seqs: readonly number[], nowMs: number): number {
    const receiver = this.#peers.get(receiverId);
    const history = this.#history.get(senderId);
    if (this.#closed || !receiver || !history || receiverId === senderId) return 0;
    const wanted = Math.min(seqs.length, RESEND_LIMITS.perNack);
    this.stats.resendMissed += seqs.length - wanted;
    if (this.#waiting.get(receiverId)!.has(senderId) || receiver.congested()) {
      this.stats.resendMissed += wanted;
      return 0;
    }
    const resumed = this.#resumedAt.get(receiverId)!.get(senderId);
    const budget = this.#resendBudget.get(receiverId)!;
    let sent = 0;
    for (let i = 0; i < wanted; i++) {
      const seq = seqs[i];
      const packet = history.get(seq);
      const beforeResume = resumed !== undefined && isNewerSeq(resumed, seq);
      if (!packet || beforeResume || !budget.take(1, nowMs)) {
        this.stats.resendMissed++;
        continue;
      }
      receiver.send(packet);
      sent++;
    }
    this.stats.resent += sent;
    return sent;
  }

  /**
   * Asks a sender for a keyframe, at most once per interval (`force` skips that check, for
   * new receivers). A request within the interval is held and sent by the first
   * {@linkcode tick} after it ends, unless a keyframe came from the sender meanwhile.
   */
  requestKeyframe(senderId: string, nowMs: number, force = false): void {
    if (this.#closed || !this.#peers.has(senderId)) return;
    const last = this.#lastRequest.get(senderId);
    if (!force && last !== undefined && nowMs - last < this.#intervalMs) {
      this.#pending.add(senderId);
      return;
    }
    this.#pending.delete(senderId);
    this.#lastRequest.set(senderId, nowMs);
    this.stats.keyframeRequests++;
    this.#requestKeyframe(senderId);
  }

  /** Sends the keyframe requests held back whose interval has ended (call it every tick). */
  tick(nowMs: number): void {
    for (const senderId of this.#pending) {
      const last = this.#lastRequest.get(senderId) ?? -Infinity;
      if (nowMs - last >= this.#intervalMs) this.requestKeyframe(senderId, nowMs);
    }
  }

  /** Stops forwarding and forgets every peer. */
  close(): void {
    this.#closed = true;
    this.#peers.clear();
    this.#waiting.clear();
    this.#history.clear();
    this.#resumedAt.clear();
    this.#resendBudget.clear();
    this.#pending.clear();
  }
}
