/**
 * A direct media path to one peer: an RTCPeerConnection carrying one RTCDataChannel
 * (`{ordered: false, maxRetransmits: 0}`) for the same RTP/RTCP packets as the relay path.
 * Offers, answers and ICE candidates travel through the server's `signal` messages.
 *
 * Both sides create the channel the same way (negotiated, id 0), so neither waits for the
 * other's; the side with the smaller participant id makes the offer.
 *
 * @example
 * ```ts
 * import type { ControlClient } from "../control_client.ts";
 *
 * function connect(client: ControlClient, selfId: string, peerId: string,
 *   onMedia: (bytes: Uint8Array) => void) {
 *   const link = new P2pLink({
 *     selfId, peerId, signal: (data) => client.request({ type: "signal", to: peerId, data }),
 *   });
 *   client.on("signal", (e) => e.from === peerId && link.handleSignal(e.data));
 *   link.on("packet", (bytes) => onMedia(bytes)); // one RTP or RTCP packet from the peer
 *   link.on("open", () => console.log("direct path up"));
 * }
 * ```
 * @module
 */

import { Emitter } from "../../util/emitter.ts";
import { MAX_MEDIA_PACKET_BYTES } from "./packet_mux.ts";
import { CandidateBudget, parseSignal, type SignalCandidate } from "./signal_data.ts";

/** Events of a {@linkcode P2pLink}. */
export type P2pLinkEvents = {
  /** The data channel opened: packets can go directly. */
  open: [];
  /** One packet from the peer. */
  packet: [bytes: Uint8Array];
  /** The link failed or closed; it will not come back (make a new one). */
  closed: [reason: string];
};

/** Options of a {@linkcode P2pLink}. */
export interface P2pLinkOptions {
  selfId: string;
  peerId: string;
  /** Sends signalling data to the peer (through the server). */
  signal(data: unknown): void;
  /** ICE servers; none by default (peers on one network reach each other directly). */
  iceServers?: RTCIceServer[];
}

/** One peer connection with one unordered, unreliable data channel. */
export class P2pLink extends Emitter<P2pLinkEvents> {
  readonly peerId: string;
  #pc: RTCPeerConnection;
  #channel: RTCDataChannel;
  #signal: (data: unknown) => void;
  #offerer: boolean;
  #closed = false;
  #pendingCandidates: SignalCandidate[] = [];
  /** Remote candidates taken, pending or added (MAX_REMOTE_CANDIDATES). */
  #candidates = new CandidateBudget();

  constructor(options: P2pLinkOptions) {
    super();
    this.peerId = options.peerId;
    this.#signal = options.signal;
    this.#offerer = options.selfId < options.peerId;
    this.#pc = new RTCPeerConnection({ iceServers: options.iceServers ?? [] });
    this.#channel = this.#pc.createDataChannel("media", {
      negotiated: true,
      id: 0,
      ordered: false,
      maxRetransmits: 0,
    });
    this.#channel.binaryType = "arraybuffer";
    this.#channel.onopen = () => this.emit("open");
    this.#channel.onclose = () => this.close("data channel closed");
    this.#channel.onmessage = (e) => {
      // Any size arrives here (up to the SCTP message limit): longer than a media packet is
      // dropped before it is copied anywhere.
      if (e.data instanceof ArrayBuffer && e.data.byteLength <= MAX_MEDIA_PACKET_BYTES) {
        this.emit("packet", new Uint8Array(e.data));
      }
    };
    this.#pc.onicecandidate = (e) =>
      this.#signal({ kind: "candidate", candidate: e.candidate?.toJSON() ?? null });
    this.#pc.onconnectionstatechange = () => {
      if (this.#pc.connectionState === "failed") this.close("connection failed");
    };
    if (this.#offerer) this.#offer();
  }

  /** True while packets can be sent directly. */
  get isOpen(): boolean {
    return !this.#closed && this.#channel.readyState === "open";
  }

  /** Bytes queued on the data channel. */
  get bufferedAmount(): number {
    return this.isOpen ? this.#channel.bufferedAmount : 0;
  }

  /** Sends one packet directly; false if the channel is not open. */
  send(bytes: Uint8Array): boolean {
    if (!this.isOpen) return false;
    try {
      this.#channel.send(bytes as Uint8Array<ArrayBuffer>);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Takes signalling data from the peer. Data of another shape, or past a limit of
   * signal_data.ts, is ignored.
   */
  async handleSignal(raw: unknown): Promise<void> {
    if (this.#closed) return;
    const data = parseSignal(raw);
    if (data === null) return;
    try {
      if (data.kind === "description") {
        await this.#pc.setRemoteDescription(data.description);
        for (const c of this.#pendingCandidates.splice(0)) await this.#pc.addIceCandidate(c);
        if (data.description.type === "offer") {
          await this.#pc.setLocalDescription(await this.#pc.createAnswer());
          this.#signal({ kind: "description", description: this.#pc.localDescription!.toJSON() });
        }
      } else if (data.kind === "candidate" && data.candidate) {
        if (!this.#candidates.take()) return;
        if (this.#pc.remoteDescription) await this.#pc.addIceCandidate(data.candidate);
        else this.#pendingCandidates.push(data.candidate);
      }
    } catch (err) {
      this.close(`signalling failed: ${(err as Error).message}`);
    }
  }

  /** Closes the connection. Idempotent. */
  close(reason = "closed"): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#channel.close();
      this.#pc.close();
    } catch { /* already closed */ }
    this.emit("closed", reason);
    this.removeAllListeners();
  }

  async #offer(): Promise<void> {
    try {
      await this.#pc.setLocalDescription(await this.#pc.createOffer());
      this.#signal({ kind: "description", description: this.#pc.localDescription!.toJSON() });
    } catch (err) {
      this.close(`offer failed: ${(err as Error).message}`);
    }
  }
}
