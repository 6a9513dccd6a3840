/**
 * Which way the terminal client's media goes: through the server (relay), or straight to
 * the one peer (P2P), from the same UDP socket.
 *
 * The meeting's `mode` (from the server) says whether P2P is allowed; the `peer` event says
 * where the peer is, as the server observed it. In P2P mode the path keeps sending through
 * the relay while it probes the peer (`MEET-PROBE <nonce>` every 100 ms, answered with
 * `MEET-PROBE-ACK <nonce>`); the first answer, or the first media packet that comes
 * directly from the peer (which the peer sends only once our answer reached it), proves
 * both directions, and sending switches to the peer. Nothing answered within 5 s: the
 * failure is reported (the server keeps the pair on the relay). Back in relay mode, sending
 * returns to the server at once; packets from the peer are still taken for a second, so that
 * what is in flight is not lost.
 *
 * @example
 * ```ts
 * import type { TerminalControl } from "./terminal_control.ts";
 * import type { UdpLink } from "./udp_media.ts";
 *
 * function goDirect(link: UdpLink, session: TerminalControl, rtpBytes: Uint8Array): MediaPath {
 *   const path = new MediaPath({
 *     link,
 *     onSwitch: (kind) => console.log("media now goes", kind),
 *     reportFailure: () => session.p2pFailed(),
 *   });
 *   path.setMode("p2p");
 *   path.setPeer({ participantId: "p2", ip: "127.0.0.1", port: 40000 });
 *   path.send(rtpBytes); // relay until the peer answers, then direct
 *   return path;
 * }
 * ```
 * @module
 */

import type { PathKind } from "../meeting/mode.ts";
import { ipv4ToNumber, refuseIpv4Class } from "../util/ipv4.ts";

/**
 * The text datagram that asks the peer whether the direct path works.
 *
 * @example
 * ```ts
 * function probe(link: PathLink, nonce: string) {
 *   link.sendToPeer(new TextEncoder().encode(`${PROBE_PREFIX}${nonce}`));
 * }
 * ```
 */
export const PROBE_PREFIX = "MEET-PROBE ";
/**
 * The peer's answer to a probe, with the probe's nonce.
 *
 * @example
 * ```ts
 * const text = "MEET-PROBE-ACK 5f2c"; // a datagram from the peer
 * if (text.startsWith(PROBE_ACK_PREFIX)) console.log("the direct path works");
 * ```
 */
export const PROBE_ACK_PREFIX = "MEET-PROBE-ACK ";

/**
 * Where media is sent now: `relay` or `p2p` (the server's roster shows the same word).
 *
 * @example
 * ```ts
 * function pathOf(path: MediaPath): PathKind {
 *   const kind: PathKind = path.kind; // "relay" or "p2p"
 *   return kind;
 * }
 * ```
 */
export type { PathKind };

/**
 * The peer, as the server's `peer` event names it.
 *
 * @example
 * ```ts
 * const peer: PeerAddress = { participantId: "p2", ip: "127.0.0.1", port: 40000 };
 * ```
 */
export interface PeerAddress {
  participantId: string;
  ip: string;
  port: number;
}

/**
 * What a {@linkcode MediaPath} needs of the socket (a {@linkcode UdpLink} has it).
 *
 * @example
 * ```ts
 * const sent: Uint8Array[] = [];
 * const link: PathLink = {
 *   send: (b) => void sent.push(b), sendToPeer: () => true, setPeer: () => {},
 * };
 * ```
 */
export interface PathLink {
  /** Sends to the server. */
  send(bytes: Uint8Array): void;
  /** Sends to the peer set with `setPeer`; false when there is none. */
  sendToPeer(bytes: Uint8Array): boolean;
  /** Datagrams from this address are taken (null: none). */
  setPeer(peer: { ip: string; port: number } | null): void;
}

/**
 * Callbacks and timings of a {@linkcode MediaPath}.
 *
 * @example
 * ```ts
 * const link: PathLink = { send() {}, sendToPeer: () => true, setPeer() {} };
 * const options: MediaPathOptions = { link, onSwitch() {}, reportFailure() {}, probeIntervalMs: 100 };
 * ```
 */
export interface MediaPathOptions {
  link: PathLink;
  /**
   * Sending switched. `afterMs`: for a switch to direct, the time since probing started
   * (from the peer's address, or from P2P mode, whichever came last).
   */
  onSwitch(kind: PathKind, peer: PeerAddress | null, afterMs: number | null): void;
  /** The peer never answered: tell the server (`p2p_failed`). */
  reportFailure(): void;
  /** Probe interval (default 100 ms). */
  probeIntervalMs?: number;
  /** Give up after this long without an answer (default 5 s). */
  failAfterMs?: number;
  /** After leaving P2P, packets from the peer are still taken this long (default 1 s). */
  drainMs?: number;
}

/**
 * Counters of a {@linkcode MediaPath}.
 *
 * @example
 * ```ts
 * function log(path: MediaPath) {
 *   const { probesSent, switches } = path.stats;
 *   console.log(probesSent, switches);
 * }
 * ```
 */
export interface MediaPathStats {
  probesSent: number;
  probesAnswered: number;
  acksReceived: number;
  switches: number;
  failures: number;
  /** Milliseconds from probing to the switch, for the last switch to direct. */
  lastSwitchMs: number | null;
  /** Peer addresses refused (see {@linkcode refusePeerAddress}): never probed. */
  refused: number;
}

/**
 * Why a peer address must not be sent to, or null when it may: an unspecified, broadcast,
 * multicast or reserved address, or a port outside 1-65535 (the server refuses the same as
 * destinations). The server only names addresses that proved they receive, so this is a
 * second line: a probe to a broadcast address would reach every host of a network.
 *
 * @example
 * ```ts
 * refusePeerAddress("192.0.2.7", 40000); // null
 * refusePeerAddress("255.255.255.255", 40000); // "255.255.255.255 is a broadcast address"
 * ```
 */
export function refusePeerAddress(ip: string, port: number): string | null {
  if (!Number.isInteger(port) || port < 1 || port > 65535) return `port ${port} is not 1-65535`;
  if (/^\d+\.\d+\.\d+\.\d+$/.test(ip)) {
    const n = ipv4ToNumber(ip);
    return n === null ? `${ip} is not an IPv4 address` : refuseIpv4Class(n, ip);
  }
  const v6 = ip.toLowerCase().replace(/^\[|\]$/g, "");
  if (!/^[0-9a-f:.]+$/.test(v6) || !v6.includes(":")) return `${ip} is not an IP address`;
  if (/^[0:]+$/.test(v6)) return `${ip} is an unspecified address`;
  if (v6.startsWith("ff")) return `${ip} is a multicast address`;
  const mapped = /^(?:0*:)*:?ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(v6);
  return mapped ? refusePeerAddress(mapped[1], port) : null;
}

function nonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function samePeer(a: PeerAddress | null, b: PeerAddress | null): boolean {
  return a !== null && b !== null && a.participantId === b.participantId && a.ip === b.ip &&
    a.port === b.port;
}

/**
 * Relay or direct, decided by the meeting's mode and proved by probes.
 *
 * @example
 * ```ts
 * const link: PathLink = { send() {}, sendToPeer: () => true, setPeer() {} };
 * const peer: PeerAddress = { participantId: "p2", ip: "192.0.2.7", port: 40000 };
 * const path = new MediaPath({ link, onSwitch() {}, reportFailure() {} });
 * path.setMode("p2p");
 * path.setPeer(peer);
 * path.handleControl("MEET-PROBE-ACK ..."); // from the peer's address: now direct
 * path.close();
 * ```
 */
export class MediaPath {
  readonly #options: MediaPathOptions;
  readonly stats: MediaPathStats = {
    probesSent: 0,
    probesAnswered: 0,
    acksReceived: 0,
    switches: 0,
    failures: 0,
    lastSwitchMs: null,
    refused: 0,
  };
  #mode: "p2p" | "relay" = "relay";
  #peer: PeerAddress | null = null;
  #kind: PathKind = "relay";
  #nonce: string | null = null;
  #probingSince = 0;
  #probeTimer: ReturnType<typeof setInterval> | undefined;
  #failTimer: ReturnType<typeof setTimeout> | undefined;
  #drainTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  constructor(options: MediaPathOptions) {
    this.#options = options;
  }

  /** Where media is sent now. */
  get kind(): PathKind {
    return this.#kind;
  }

  /** The meeting's mode as last told. */
  get mode(): "p2p" | "relay" {
    return this.#mode;
  }

  /** The peer, while known. */
  get peer(): PeerAddress | null {
    return this.#peer;
  }

  /** Whether the direct path is being probed. */
  get probing(): boolean {
    return this.#nonce !== null;
  }

  /** Sends one packet on the current path. */
  send(bytes: Uint8Array): void {
    if (this.#kind === "p2p" && this.#options.link.sendToPeer(bytes)) return;
    this.#options.link.send(bytes);
  }

  /** The meeting's mode changed. Relay: sending returns to the server at once. */
  setMode(mode: "p2p" | "relay"): void {
    if (this.#closed || mode === this.#mode) return;
    this.#mode = mode;
    if (mode === "relay") {
      this.#stopProbing();
      this.#switch("relay");
      this.#drainPeer();
    } else if (this.#peer) {
      clearTimeout(this.#drainTimer);
      this.#startProbing();
    }
  }

  /** The server told the peer's observed address. */
  setPeer(peer: PeerAddress): void {
    if (this.#closed) return;
    if (refusePeerAddress(peer.ip, peer.port) !== null) {
      // Not an address to send to: no probe, and the server hears that P2P failed.
      this.stats.refused++;
      if (this.#mode === "p2p") this.#options.reportFailure();
      return;
    }
    clearTimeout(this.#drainTimer);
    if (samePeer(peer, this.#peer) && (this.#kind === "p2p" || this.probing)) return;
    const moved = this.#peer !== null && !samePeer(peer, this.#peer);
    this.#peer = { ...peer };
    this.#options.link.setPeer(peer);
    if (moved) this.#switch("relay"); // the old direct path is gone
    if (this.#mode === "p2p") this.#startProbing();
    else this.#drainPeer();
  }

  /** A text datagram from the peer's address: a probe to answer, or the answer to ours. */
  handleControl(text: string): void {
    if (this.#closed) return;
    if (text.startsWith(PROBE_ACK_PREFIX)) {
      if (this.#nonce !== null && text.slice(PROBE_ACK_PREFIX.length).trim() === this.#nonce) {
        this.stats.acksReceived++;
        this.#confirm();
      }
    } else if (text.startsWith(PROBE_PREFIX)) {
      if (this.#mode !== "p2p") return; // not (or no longer) peer to peer: let it fail
      const theirs = text.slice(PROBE_PREFIX.length).trim().slice(0, 64);
      this.stats.probesAnswered++;
      this.#options.link.sendToPeer(new TextEncoder().encode(PROBE_ACK_PREFIX + theirs));
    }
  }

  /**
   * A media packet came straight from the peer: the peer sends directly only once our
   * answer reached it, so both directions work.
   */
  peerMedia(): void {
    if (this.#closed || this.#mode !== "p2p" || this.#kind === "p2p" || !this.probing) return;
    this.#confirm();
  }

  /** Stops the timers and forgets the peer; idempotent. */
  close(): void {
    this.#closed = true;
    this.#stopProbing();
    clearTimeout(this.#drainTimer);
  }

  #startProbing(): void {
    this.#stopProbing();
    if (this.#kind === "p2p") return;
    this.#nonce = nonce();
    this.#probingSince = performance.now();
    const probe = new TextEncoder().encode(PROBE_PREFIX + this.#nonce);
    const send = () => {
      this.stats.probesSent++;
      this.#options.link.sendToPeer(probe);
    };
    send();
    this.#probeTimer = setInterval(send, this.#options.probeIntervalMs ?? 100);
    this.#failTimer = setTimeout(() => {
      if (this.#kind === "p2p" || this.#closed) return;
      this.#stopProbing();
      this.stats.failures++;
      this.#options.reportFailure();
    }, this.#options.failAfterMs ?? 5_000);
  }

  #stopProbing(): void {
    clearInterval(this.#probeTimer);
    clearTimeout(this.#failTimer);
    this.#probeTimer = undefined;
    this.#failTimer = undefined;
    this.#nonce = null;
  }

  #confirm(): void {
    const afterMs = Math.round(performance.now() - this.#probingSince);
    this.#stopProbing();
    this.stats.lastSwitchMs = afterMs;
    this.#switch("p2p", afterMs);
  }

  #switch(kind: PathKind, afterMs: number | null = null): void {
    if (this.#kind === kind) return;
    this.#kind = kind;
    this.stats.switches++;
    this.#options.onSwitch(kind, this.#peer, afterMs);
  }

  // In relay mode the peer's packets are taken a little longer (in flight), then not at all.
  #drainPeer(): void {
    clearTimeout(this.#drainTimer);
    this.#drainTimer = setTimeout(() => {
      if (this.#mode === "p2p" || this.#closed) return;
      this.#peer = null;
      this.#options.link.setPeer(null);
    }, this.#options.drainMs ?? 1_000);
  }
}
