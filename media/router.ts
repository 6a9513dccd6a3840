/**
 * The Router forwards video in one meeting (an SFU: no decoding). Each packet from a sender
 * goes to every other peer of the meeting, and to no one else. A sender may send two
 * encodings of its camera (`full` and `small`); each receiver gets one of them per sender,
 * chosen by {@linkcode Router.setLayer} and switched at a keyframe, numbered as one stream by
 * that pair's {@linkcode Forwarder}. Per receiver, a link that begins to back up gets the
 * base temporal layer of each video only (no keyframe needed, either way); a slow link drops
 * that sender's video until the next keyframe instead of queueing without bound, and the
 * sender is asked for a keyframe (rate-limited).
 *
 * Loss recovery: the router keeps each sender's last packets ({@linkcode PacketHistory}) and
 * resends those a receiver reports lost (`resend`, from its generic NACK), to that receiver
 * only, within a budget per receiver ({@linkcode RESEND_LIMITS}), and never what it chose
 * not to send (packets before the keyframe a waiting receiver resumed at), nor a number
 * resent to that receiver less than `RESEND_REPEAT_MS` before (a NACK comes in two copies:
 * media/resend_guard.ts).
 *
 * A sender may also share its screen: a second video source (`screen`), one encoding, with a
 * down-track of its own per receiver, made at the screen's first packet (or as a receiver
 * joins while it is shared) and gone with {@linkcode Router.removeSource}.
 *
 * Pure: the transport is behind {@linkcode RouterPeer}, time is passed in.
 *
 * @example
 * ```ts
 * const sent: string[] = [];
 * const router = new Router({ requestKeyframe: (id, layer) => sent.push(`PLI ${id} ${layer}`) });
 * router.addPeer({ id: "ann", send: () => sent.push("to ann"), congested: () => false });
 * router.addPeer({ id: "bob", send: () => sent.push("to bob"), congested: () => false });
 * // A keyframe's first packet from Ann (RTP header, sequence number 1): it reaches Bob only.
 * const packet = Uint8Array.of(0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0x10, 0x00);
 * router.forward("ann", packet, true, performance.now());
 * console.log(sent); // [ "PLI ann full", "to bob" ]
 * router.close();
 * ```
 * @module
 */

import { PacketHistory, rtpSequenceNumber } from "./packet_history.ts";
import { Forwarder, MAX_TEMPORAL_LAYER, type VideoLayer } from "./forwarder.ts";
import { TokenBucket } from "../util/token_bucket.ts";

/** A sender's video sources: its camera (two encodings) and its shared screen. */
export type VideoSource = "camera" | "screen";

/** The down-track key of a sender's source. */
function trackKey(senderId: string, source: VideoSource): string {
  return source === "camera" ? senderId : `${senderId} screen`;
}

/** The key of one encoding: the camera's `full` or `small`, or the screen. */
function encodingKey(senderId: string, layer: VideoLayer, source: VideoSource): string {
  return `${senderId} ${source === "screen" ? "screen" : layer}`;
}

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
  /**
   * True when this peer's link begins to back up: it gets the base temporal layer of each
   * video only (a quarter of the frames of an L1T3 encoding, about half its bits), until it
   * reads false again (then all of them, from the next base frame). Absent: never.
   */
  strained?(): boolean;
}

/** Options of a {@linkcode Router}. */
export interface RouterOptions {
  /**
   * Asks a sender for a keyframe of one of its encodings (send it an RTCP PLI): of its
   * camera's `layer`, or of its screen.
   */
  requestKeyframe(senderId: string, layer: VideoLayer, source: VideoSource): void;
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
  /** Frames left out for a receiver for their temporal layer (its link was strained). */
  framesLeftOut: number;
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
  /**
   * receiverId -> track key (the sender's id for its camera, `${senderId} screen`) -> that
   * receiver's down-track of the sender's source.
   */
  #forwarders = new Map<string, Map<string, Forwarder>>();
  /** Senders whose screen is being forwarded. */
  #screens = new Set<string>();
  /** Encoding key (`${senderId} full|small|screen`) -> when a keyframe was last asked of it. */
  #lastRequest = new Map<string, number>();
  /** Encodings asked for a keyframe within the interval: asked when it ends, unless one came. */
  #pending = new Map<string, { senderId: string; layer: VideoLayer; source: VideoSource }>();
  /** Encoding key -> that encoding's last packets. */
  #history = new Map<string, PacketHistory>();
  /** receiverId -> its resend budget. */
  #resendBudget = new Map<string, TokenBucket>();
  #requestKeyframe: (senderId: string, layer: VideoLayer, source: VideoSource) => void;
  #intervalMs: number;
  #closed = false;
  readonly stats: RouterStats = {
    received: 0,
    forwardedPackets: 0,
    forwardedBytes: 0,
    droppedCongested: 0,
    droppedWaitingKeyframe: 0,
    framesLeftOut: 0,
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
    this.#resendBudget.set(
      peer.id,
      new TokenBucket({
        ratePerSecond: RESEND_LIMITS.packetsPerSecond,
        burst: RESEND_LIMITS.burst,
      }),
    );
    const down = new Map<string, Forwarder>();
    for (const other of this.#peers.keys()) {
      if (other === peer.id) continue;
      down.set(other, new Forwarder());
      this.#forwarders.get(other)?.set(peer.id, new Forwarder());
      this.requestKeyframe(other, nowMs, true);
      if (this.#screens.has(other)) {
        down.set(trackKey(other, "screen"), new Forwarder());
        this.requestKeyframe(other, nowMs, true, "full", "screen");
      }
    }
    this.#forwarders.set(peer.id, down);
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

  /**
   * Which of the sender's encodings the receiver gets: it moves over at that encoding's next
   * keyframe, which is asked for (rate-limited); until then it keeps what it had.
   */
  setLayer(receiverId: string, senderId: string, layer: VideoLayer, nowMs: number): void {
    const down = this.#forwarders.get(receiverId)?.get(senderId);
    if (!down || down.target === layer) return;
    down.target = layer;
    if (down.wants) this.requestKeyframe(senderId, nowMs, false, layer);
  }

  /** The encoding the receiver gets of the sender now (null: waiting for a keyframe). */
  layerOf(receiverId: string, senderId: string): VideoLayer | null {
    return this.#forwarders.get(receiverId)?.get(senderId)?.layer ?? null;
  }

  /** Removes a peer: it receives nothing more, and nobody waits for its keyframes. */
  removePeer(id: string): void {
    this.#peers.delete(id);
    this.#forwarders.delete(id);
    this.removeSource(id, "screen");
    for (const layer of ["full", "small"] as const) {
      this.#lastRequest.delete(`${id} ${layer}`);
      this.#pending.delete(`${id} ${layer}`);
      this.#history.delete(`${id} ${layer}`);
    }
    this.#resendBudget.delete(id);
    for (const down of this.#forwarders.values()) down.delete(id);
  }

  /**
   * Stops forwarding a sender's screen (its share ended): every receiver's down-track of it
   * and its history go, and a new share starts from its first keyframe.
   */
  removeSource(senderId: string, source: "screen"): void {
    const key = encodingKey(senderId, "full", source);
    this.#screens.delete(senderId);
    this.#lastRequest.delete(key);
    this.#pending.delete(key);
    this.#history.delete(key);
    for (const down of this.#forwarders.values()) down.delete(trackKey(senderId, source));
  }

  /** True when a peer with this id is in the router. */
  has(id: string): boolean {
    return this.#peers.has(id);
  }

  /**
   * Forwards one video packet (already stamped with the SSRC receivers know the source by)
   * of one of the sender's encodings to every other peer that gets that encoding, numbered
   * for each (see {@linkcode Forwarder}). `keyframeStart` tells whether it begins a keyframe
   * (see `isVp8KeyframeStart`). `source` says whether it is the camera (`layer`: which of its
   * encodings) or the shared screen; `temporalLayer` is its frame's temporal layer (the VP8
   * descriptor's TID), null for an encoding without layers. A receiver whose link is strained
   * ({@linkcode RouterPeer.strained}) gets the base layer only, without a keyframe either way.
   */
  forward(
    senderId: string,
    packet: Uint8Array,
    keyframeStart: boolean,
    nowMs: number,
    layer: VideoLayer = "full",
    source: VideoSource = "camera",
    temporalLayer: number | null = null,
  ): void {
    if (this.#closed || !this.#peers.has(senderId)) return;
    if (source === "screen") {
      layer = "full";
      this.#screens.add(senderId);
    }
    this.stats.received++;
    const seq = rtpSequenceNumber(packet);
    const key = encodingKey(senderId, layer, source);
    const track = trackKey(senderId, source);
    let history = this.#history.get(key);
    if (!history) this.#history.set(key, history = new PacketHistory());
    history.put(seq, packet);
    // A keyframe answers every request so far, held ones included.
    if (keyframeStart) this.#pending.delete(key);
    const info = {
      keyframeStart,
      marker: (packet[1] & 0x80) !== 0,
      timestamp: rtpTimestamp(packet),
      temporalLayer,
    };
    for (const [receiverId, receiver] of this.#peers) {
      if (receiverId === senderId) continue;
      const downs = this.#forwarders.get(receiverId)!;
      let down = downs.get(track);
      if (!down) downs.set(track, down = new Forwarder()); // a screen's first packet
      if (receiver.congested()) {
        if (down.layer !== null) this.stats.droppedCongested++;
        else this.stats.droppedWaitingKeyframe++;
        down.pause();
        this.requestKeyframe(senderId, nowMs, false, down.target, source);
        continue;
      }
      down.maxTemporalLayer = receiver.strained?.() ? 0 : MAX_TEMPORAL_LAYER;
      const leftOutBefore = down.framesLeftOut;
      const out = down.map(layer, seq, info);
      this.stats.framesLeftOut += down.framesLeftOut - leftOutBefore;
      if (out === null) {
        const wanted = down.wants;
        if (wanted !== null && down.layer === null) {
          this.stats.droppedWaitingKeyframe++;
          this.requestKeyframe(senderId, nowMs, false, wanted, source);
        }
        continue;
      }
      this.#send(receiver, packet, out);
    }
  }

  /**
   * Resends to `receiverId` the packets of `senderId`'s video it reports lost (16-bit
   * sequence numbers as it received them, from its NACK) that are still kept and were meant
   * for it. Returns how many were sent.
   */
  resend(
    receiverId: string,
    senderId: string,
    seqs: readonly number[],
    nowMs: number,
    source: VideoSource = "camera",
  ): number {
    const receiver = this.#peers.get(receiverId);
    const down = this.#forwarders.get(receiverId)?.get(trackKey(senderId, source));
    if (this.#closed || !receiver || !down || receiverId === senderId) return 0;
    const wanted = Math.min(seqs.length, RESEND_LIMITS.perNack);
    this.stats.resendMissed += seqs.length - wanted;
    if (down.layer === null || receiver.congested()) {
      this.stats.resendMissed += wanted;
      return 0;
    }
    const budget = this.#resendBudget.get(receiverId)!;
    let sent = 0;
    for (let i = 0; i < wanted; i++) {
      const from = down.source(seqs[i]);
      const packet = from &&
        this.#history.get(encodingKey(senderId, from.layer, source))?.get(from.seq);
      if (!packet || !down.forwards(rtpTimestamp(packet))) {
        this.stats.resendMissed++;
        continue;
      }
      if (down.resends.answered(seqs[i], nowMs)) continue; // the other copy of the NACK
      if (!budget.take(1, nowMs)) {
        this.stats.resendMissed++;
        continue;
      }
      down.resends.resent(seqs[i], nowMs);
      this.#send(receiver, packet, seqs[i] & 0xffff, false);
      sent++;
    }
    this.stats.resent += sent;
    return sent;
  }

  /**
   * Asks a sender for a keyframe of one of its encodings, at most once per interval (`force`
   * skips that check, for new receivers). A request within the interval is held and sent by
   * the first {@linkcode tick} after it ends, unless a keyframe came from the sender meanwhile.
   */
  requestKeyframe(
    senderId: string,
    nowMs: number,
    force = false,
    layer: VideoLayer = "full",
    source: VideoSource = "camera",
  ): void {
    if (this.#closed || !this.#peers.has(senderId)) return;
    if (source === "screen") layer = "full";
    const key = encodingKey(senderId, layer, source);
    const last = this.#lastRequest.get(key);
    if (!force && last !== undefined && nowMs - last < this.#intervalMs) {
      this.#pending.set(key, { senderId, layer, source });
      return;
    }
    this.#pending.delete(key);
    this.#lastRequest.set(key, nowMs);
    this.stats.keyframeRequests++;
    this.#requestKeyframe(senderId, layer, source);
  }

  /**
   * A receiver asks for a keyframe of a sender's video (its PLI): of the camera's encoding it
   * gets, or waits for, or of the screen.
   */
  requestKeyframeFor(
    receiverId: string,
    senderId: string,
    nowMs: number,
    source: VideoSource = "camera",
  ): void {
    const down = this.#forwarders.get(receiverId)?.get(trackKey(senderId, source));
    if (down) this.requestKeyframe(senderId, nowMs, false, down.layer ?? down.target, source);
  }

  /** Sends the keyframe requests held back whose interval has ended (call it every tick). */
  tick(nowMs: number): void {
    for (const [key, { senderId, layer, source }] of this.#pending) {
      const last = this.#lastRequest.get(key) ?? -Infinity;
      if (nowMs - last >= this.#intervalMs) {
        this.requestKeyframe(senderId, nowMs, false, layer, source);
      }
    }
  }

  /** Stops forwarding and forgets every peer. */
  close(): void {
    this.#closed = true;
    this.#peers.clear();
    this.#forwarders.clear();
    this.#screens.clear();
    this.#history.clear();
    this.#resendBudget.clear();
    this.#pending.clear();
  }

  /** Sends `packet` numbered `seq` (a copy when renumbered: the same bytes go to others). */
  #send(receiver: RouterPeer, packet: Uint8Array, seq: number, count = true): void {
    let bytes = packet;
    if (rtpSequenceNumber(packet) !== seq) {
      bytes = packet.slice();
      bytes[2] = seq >> 8;
      bytes[3] = seq & 0xff;
    }
    receiver.send(bytes);
    if (!count) return;
    this.stats.forwardedPackets++;
    this.stats.forwardedBytes += bytes.length;
  }
}

/** The RTP timestamp of a packet (bytes 4-7), without parsing the rest. */
function rtpTimestamp(packet: Uint8Array): number {
  return ((packet[4] << 24) | (packet[5] << 16) | (packet[6] << 8) | packet[7]) >>> 0;
}
