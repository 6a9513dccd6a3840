/**
 * The path media takes: through the server (relay), or directly to the one peer (P2P).
 * A {@linkcode MediaCarrier} for the media session, so the session never knows which.
 *
 * In P2P mode it opens a {@linkcode P2pLink} to the peer and keeps sending through the relay
 * until the direct channel is open; then it sends directly and asks the peer for a keyframe.
 * Packets from either path are taken. If the direct path is not up within a few seconds, it
 * reports the failure (the server keeps the meeting on the relay). Back in relay mode, the link
 * closes and sending returns to the relay at once.
 *
 * @example
 * ```ts ignore
 * const path = new MediaPath({ relay: client, selfId, signal, reportFailure });
 * const session = new PageMedia({ channel: path, ssrcs, selfId, mic: true, camera: true });
 * client.on("mode", (e) => path.setMode(e.mode, peerOf(roster)));
 * client.on("signal", (e) => path.handleSignal(e.from, e.data));
 * ```
 * @module
 */

import type { PathKind } from "../../meeting/mode.ts";
import { writePli } from "../../media/rtcp.ts";
import { Emitter } from "../../util/emitter.ts";
import type { MediaCarrier } from "./packet_mux.ts";
import { P2pLink } from "./p2p_link.ts";

/** Which path media takes now: `relay` or `p2p` (the server's roster shows the same word). */
export type { PathKind };

/** Events of a {@linkcode MediaPath}. */
export type MediaPathEvents = {
  /** One packet, from either path. */
  media: [bytes: Uint8Array, arrivalMs?: number];
  /** Sending switched to this path. */
  path: [kind: PathKind];
};

/** The peer in P2P mode. */
export interface PathPeer {
  id: string;
  videoSsrc: number;
}

/** Options of a {@linkcode MediaPath}. */
export interface MediaPathOptions {
  /** The relay channel: the control WebSocket. */
  relay: MediaCarrier;
  selfId: string;
  /** This side's video SSRC (for the keyframe request after a switch). */
  selfVideoSsrc: number;
  /** Sends signalling data to a participant through the server. */
  signal(to: string, data: unknown): void;
  /** Tells the server the direct path could not be set up. */
  reportFailure(): void;
  /** How long the direct path may take to open (default 5 s). */
  connectTimeoutMs?: number;
  /** Makes the link; a test can pass its own. */
  createLink?: (peer: PathPeer) => P2pLink;
}

/** Relay or direct, decided by the meeting's mode. */
export class MediaPath extends Emitter<MediaPathEvents> implements MediaCarrier {
  #options: MediaPathOptions;
  #link: P2pLink | undefined;
  #peer: PathPeer | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #offRelay: () => void;
  #kind: PathKind = "relay";
  #closed = false;

  constructor(options: MediaPathOptions) {
    super();
    this.#options = options;
    this.#offRelay = options.relay.on(
      "media",
      (bytes, arrivalMs) => this.emit("media", bytes, arrivalMs),
    );
  }

  /** Where packets are sent now. */
  get kind(): PathKind {
    return this.#kind;
  }

  /** Sends one packet on the current path. */
  sendBinary(bytes: Uint8Array): boolean {
    if (this.#kind === "p2p" && this.#link?.send(bytes)) return true;
    return this.#options.relay.sendBinary(bytes);
  }

  get bufferedAmount(): number {
    return this.#kind === "p2p" && this.#link
      ? this.#link.bufferedAmount
      : this.#options.relay.bufferedAmount;
  }

  /** The relay's own measure of being backed up (the P2P link has none: its queue's bytes). */
  get congested(): boolean | undefined {
    return this.#kind === "p2p" && this.#link ? undefined : this.#options.relay.congested;
  }

  /** The meeting's mode changed (or the roster did): set up or tear down the direct path. */
  setMode(mode: "p2p" | "relay", peer: PathPeer | undefined): void {
    if (this.#closed) return;
    if (mode === "p2p" && peer) {
      if (this.#link && this.#peer?.id === peer.id) return;
      this.#closeLink();
      this.#peer = peer;
      this.#openLink(peer);
    } else {
      this.#closeLink();
    }
  }

  /** Signalling data from another participant. */
  handleSignal(from: string, data: unknown): void {
    if (this.#link && this.#peer?.id === from) this.#link.handleSignal(data);
  }

  /** Closes the direct path and stops listening. */
  close(): void {
    this.#closed = true;
    this.#closeLink();
    this.#offRelay();
    this.removeAllListeners();
  }

  #openLink(peer: PathPeer): void {
    const link = this.#options.createLink?.(peer) ?? new P2pLink({
      selfId: this.#options.selfId,
      peerId: peer.id,
      signal: (data) => this.#options.signal(peer.id, data),
    });
    this.#link = link;
    link.on("packet", (bytes) => this.emit("media", bytes));
    link.on("open", () => {
      clearTimeout(this.#timer);
      this.#switch("p2p");
      // A clean picture on the new path.
      link.send(writePli({ senderSsrc: this.#options.selfVideoSsrc, mediaSsrc: peer.videoSsrc }));
    });
    link.on("closed", () => {
      if (this.#link !== link) return;
      this.#link = undefined;
      this.#switch("relay");
    });
    this.#timer = setTimeout(() => {
      if (this.#link === link && !link.isOpen) {
        this.#options.reportFailure();
        this.#closeLink();
      }
    }, this.#options.connectTimeoutMs ?? 5_000);
  }

  #closeLink(): void {
    clearTimeout(this.#timer);
    const link = this.#link;
    this.#link = undefined;
    this.#peer = undefined;
    link?.close();
    this.#switch("relay");
  }

  #switch(kind: PathKind): void {
    if (this.#kind === kind) return;
    this.#kind = kind;
    this.emit("path", kind);
  }
}
