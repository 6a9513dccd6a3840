/**
 * The client's UDP media link: one datagram socket on a free local port, bound to its seat
 * with the seat's media key: `MEET-BIND <mediaKey> <meetingId>` (sent every 250 ms until
 * answered, at most 40 times), answered by `MEET-CHECK <nonce>`, which it echoes at once
 * (`MEET-BIND <mediaKey> <meetingId> <nonce>`) to get `MEET-BOUND <participantId> <nonce>`.
 * It renews the binding by echoing the latest nonce every 2.5 s (the server sends media
 * only while these echoes come: consent freshness), and binds again on demand (after a
 * control reconnect). Every other
 * datagram from the server's address is handed on: RTP and RTCP. In P2P mode the same socket
 * also talks to the one peer whose address the server observed ({@linkcode UdpLink.setPeer}):
 * datagrams from that address are handed on too (`from: "peer"`), and everyone else's are
 * dropped and counted.
 *
 * @example
 * ```ts
 * import type { JoinReply } from "../protocol/control.ts";
 *
 * async function connect(joinReply: JoinReply, meetingId: string, rtpBytes: Uint8Array) {
 *   const link = await UdpLink.open({ hostname: "127.0.0.1", port: 5004 }, {
 *     onPacket: (bytes) => console.log("media", bytes.length),
 *     onBindError: (code) => console.error("bind failed", code),
 *   });
 *   const participantId = await link.bind(joinReply.media.mediaKey, meetingId);
 *   link.send(rtpBytes);
 *   link.close();
 * }
 * ```
 * @module
 */

import {
  UDP_BOUND_PREFIX,
  UDP_CHECK_PREFIX,
  UDP_CONSENT_RENEW_MS,
  UDP_ERROR_PREFIX,
  udpBindRequest,
} from "../protocol/media.ts";

/**
 * The bind failed: `code` is the server's (`invalid_key`, `not_found`, `address_in_use`) or
 * `timeout` when no answer came.
 *
 * @example
 * ```ts
 * async function bind(link: UdpLink, mediaKey: string, meetingId: string) {
 *   try {
 *     await link.bind(mediaKey, meetingId);
 *   } catch (e) {
 *     if (e instanceof BindError) console.error(e.code);
 *   }
 * }
 * ```
 */
export class BindError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = "BindError";
  }
}

/**
 * Callbacks and timings of a {@linkcode UdpLink}.
 *
 * @example
 * ```ts
 * const options: UdpLinkOptions = { onPacket: () => {}, retryMs: 250, attempts: 40 };
 * ```
 */
export interface UdpLinkOptions {
  /** An RTP or RTCP packet from the server or the peer (a fresh buffer each time). */
  onPacket(bytes: Uint8Array, from: "server" | "peer"): void;
  /** A text datagram (`MEET-...`) from the peer: the direct path's probes. */
  onPeerControl?(text: string): void;
  /** The server refused a renewal (the binding is gone). */
  onBindError?(code: string): void;
  /** Bind retry interval (default 250 ms). */
  retryMs?: number;
  /** Bind attempts before giving up (default 40: 10 s). */
  attempts?: number;
  /** Renewal (nonce echo) interval (default {@linkcode UDP_CONSENT_RENEW_MS}, 2.5 s). */
  keepaliveMs?: number;
}

/**
 * Counters of a {@linkcode UdpLink}.
 *
 * @example
 * ```ts
 * function log(link: UdpLink) {
 *   const { packetsSent, bytesReceived } = link.counters;
 *   console.log(packetsSent, bytesReceived);
 * }
 * ```
 */
export interface UdpLinkCounters {
  packetsSent: number;
  bytesSent: number;
  sendErrors: number;
  packetsReceived: number;
  bytesReceived: number;
  /** Datagrams from anyone but the server and the peer. */
  foreign: number;
  bindsSent: number;
  /** Datagrams sent directly to the peer (P2P). */
  peerPacketsSent: number;
  peerBytesSent: number;
  /** Datagrams received from the peer (P2P). */
  peerPacketsReceived: number;
  peerBytesReceived: number;
}

const MAX_DATAGRAM = 1500;

/** The loopback or wildcard address to listen on for a server address. */
function localHostFor(serverIp: string): string {
  return serverIp.startsWith("127.") ? "127.0.0.1" : "0.0.0.0";
}

/**
 * The IPv4 address of a host name (an address is returned as is; `localhost` is
 * 127.0.0.1; anything else asks DNS).
 *
 * @example
 * ```ts
 * await resolveHost("localhost"); // "127.0.0.1"
 * ```
 */
export async function resolveHost(hostname: string): Promise<string> {
  if (/^\d+\.\d+\.\d+\.\d+$/.test(hostname)) return hostname;
  if (hostname === "localhost") return "127.0.0.1";
  const [address] = await Deno.resolveDns(hostname, "A");
  if (!address) throw new Error(`cannot resolve ${hostname}`);
  return address;
}

/**
 * A bound (or binding) UDP media socket.
 *
 * @example
 * ```ts
 * async function bindOnce(mediaKey: string, meetingId: string) {
 *   const link = await UdpLink.open({ hostname: "127.0.0.1", port: 5004 }, { onPacket() {} });
 *   await link.bind(mediaKey, meetingId);
 *   await link.close();
 * }
 * ```
 */
export class UdpLink {
  readonly counters: UdpLinkCounters = {
    packetsSent: 0,
    bytesSent: 0,
    sendErrors: 0,
    packetsReceived: 0,
    bytesReceived: 0,
    foreign: 0,
    bindsSent: 0,
    peerPacketsSent: 0,
    peerBytesSent: 0,
    peerPacketsReceived: 0,
    peerBytesReceived: 0,
  };
  readonly #socket: Deno.DatagramConn;
  readonly #server: Deno.NetAddr;
  readonly #options: UdpLinkOptions;
  #peer: Deno.NetAddr | null = null;
  #closed = false;
  #bindFor: { mediaKey: string; meetingId: string } | null = null;
  /** The nonce to echo next (from the server's last check or bound answer). */
  #nonce: string | null = null;
  #pending: { resolve(id: string): void; reject(err: Error): void } | null = null;
  #keepalive: ReturnType<typeof setInterval> | undefined;
  #retry: ReturnType<typeof setInterval> | undefined;
  #receiving: Promise<void>;

  private constructor(socket: Deno.DatagramConn, server: Deno.NetAddr, options: UdpLinkOptions) {
    this.#socket = socket;
    this.#server = server;
    this.#options = options;
    this.#receiving = this.#receiveLoop();
  }

  /**
   * Opens a socket on a free local port for media with the server at `server`.
   *
   * @example
   * ```ts
   * async function open() {
   *   const link = await UdpLink.open({ hostname: "127.0.0.1", port: 5004 }, { onPacket() {} });
   *   console.log(link.localPort);
   * }
   * ```
   */
  static async open(
    server: { hostname: string; port: number },
    options: UdpLinkOptions,
  ): Promise<UdpLink> {
    const ip = await resolveHost(server.hostname);
    const socket = Deno.listenDatagram({
      transport: "udp",
      hostname: localHostFor(ip),
      port: 0,
    });
    return new UdpLink(socket, { transport: "udp", hostname: ip, port: server.port }, options);
  }

  /** The local UDP port. */
  get localPort(): number {
    return (this.#socket.addr as Deno.NetAddr).port;
  }

  /** The server's media address, `ip:port`. */
  get server(): string {
    return `${this.#server.hostname}:${this.#server.port}`;
  }

  /**
   * Binds this socket to your seat with its media key (`JoinReply.media.mediaKey`): sends
   * the bind until the server answers, echoes its check. Resolves with your participant id;
   * rejects with a {@linkcode BindError}. Renewals start once bound.
   */
  bind(mediaKey: string, meetingId: string): Promise<string> {
    if (this.#closed) return Promise.reject(new BindError("closed", "the UDP link is closed"));
    this.#pending?.reject(new BindError("superseded", "a newer bind started"));
    this.#stopTimers();
    this.#bindFor = { mediaKey, meetingId };
    this.#nonce = null;
    const retryMs = this.#options.retryMs ?? 250;
    const attempts = this.#options.attempts ?? 40;
    return new Promise<string>((resolve, reject) => {
      let sent = 0;
      const finish = () => {
        clearInterval(this.#retry);
        this.#retry = undefined;
        this.#pending = null;
      };
      this.#pending = {
        resolve: (id) => {
          finish();
          this.#startKeepalive();
          resolve(id);
        },
        reject: (err) => {
          finish();
          reject(err);
        },
      };
      const attempt = () => {
        if (sent >= attempts) {
          this.#pending?.reject(
            new BindError(
              "timeout",
              `no answer from the UDP media port ${this.server} after ${attempts} binds ` +
                `(is --udp-port right?)`,
            ),
          );
          return;
        }
        sent++;
        this.#sendBind();
      };
      this.#retry = setInterval(attempt, retryMs);
      attempt();
    });
  }

  /** Sends one packet to the server (errors are counted, not thrown). */
  send(bytes: Uint8Array): void {
    if (this.#closed) return;
    this.counters.packetsSent++;
    this.counters.bytesSent += bytes.length;
    this.#socket.send(bytes, this.#server).catch(() => this.counters.sendErrors++);
  }

  /**
   * The peer's address (P2P), or null: datagrams from it are taken, and
   * {@linkcode UdpLink.sendToPeer} sends to it.
   */
  setPeer(peer: { ip: string; port: number } | null): void {
    this.#peer = peer ? { transport: "udp", hostname: peer.ip, port: peer.port } : null;
  }

  /** The peer's address, `ip:port`, or null. */
  get peer(): string | null {
    return this.#peer ? `${this.#peer.hostname}:${this.#peer.port}` : null;
  }

  /** Sends one packet to the peer (false, sending nothing, when there is none). */
  sendToPeer(bytes: Uint8Array): boolean {
    if (this.#closed || !this.#peer) return false;
    this.counters.peerPacketsSent++;
    this.counters.peerBytesSent += bytes.length;
    this.#socket.send(bytes, this.#peer).catch(() => this.counters.sendErrors++);
    return true;
  }

  /** Stops binding and keepalives and closes the socket; idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopTimers();
    this.#pending?.reject(new BindError("closed", "the UDP link is closed"));
    try {
      this.#socket.close();
    } catch { /* already closed */ }
    await this.#receiving;
  }

  #stopTimers(): void {
    clearInterval(this.#retry);
    clearInterval(this.#keepalive);
    this.#retry = undefined;
    this.#keepalive = undefined;
  }

  #startKeepalive(): void {
    clearInterval(this.#keepalive);
    this.#keepalive = setInterval(
      () => this.#sendBind(),
      this.#options.keepaliveMs ?? UDP_CONSENT_RENEW_MS,
    );
  }

  /** Sends the bind, with the latest nonce when there is one. */
  #sendBind(): void {
    if (!this.#bindFor || this.#closed) return;
    this.counters.bindsSent++;
    const { mediaKey, meetingId } = this.#bindFor;
    const request = udpBindRequest(mediaKey, meetingId, this.#nonce ?? undefined);
    this.#socket.send(request, this.#server).catch(() => this.counters.sendErrors++);
  }

  async #receiveLoop(): Promise<void> {
    let failures = 0;
    while (!this.#closed) {
      let bytes: Uint8Array;
      let from: Deno.NetAddr;
      try {
        const [data, addr] = await this.#socket.receive(new Uint8Array(MAX_DATAGRAM));
        bytes = data;
        from = addr as Deno.NetAddr;
        failures = 0;
      } catch (err) {
        if (this.#closed) return;
        // e.g. ICMP port unreachable surfacing as an error: keep reading, but a socket that
        // only fails is broken: stop rather than spin.
        if (++failures >= 100) {
          console.error("UDP media socket keeps failing; media stopped:", err);
          return;
        }
        continue;
      }
      if (from.hostname !== this.#server.hostname || from.port !== this.#server.port) {
        const peer = this.#peer;
        if (!peer || from.hostname !== peer.hostname || from.port !== peer.port) {
          this.counters.foreign++;
          continue;
        }
        this.counters.peerPacketsReceived++;
        this.counters.peerBytesReceived += bytes.length;
        try {
          if (bytes[0] === 0x4d) this.#options.onPeerControl?.(new TextDecoder().decode(bytes));
          else this.#options.onPacket(bytes, "peer");
        } catch (err) {
          console.error("media packet handling failed:", err);
        }
        continue;
      }
      this.counters.packetsReceived++;
      this.counters.bytesReceived += bytes.length;
      if (bytes[0] === 0x4d) { // 'M': a bind answer, never RTP or RTCP
        this.#bindAnswer(new TextDecoder().decode(bytes));
        continue;
      }
      try {
        this.#options.onPacket(bytes, "server");
      } catch (err) {
        console.error("media packet handling failed:", err);
      }
    }
  }

  #bindAnswer(text: string): void {
    if (text.startsWith(UDP_CHECK_PREFIX)) {
      // The server checks that we receive here: echo its nonce at once.
      this.#nonce = text.slice(UDP_CHECK_PREFIX.length).trim();
      this.#sendBind();
    } else if (text.startsWith(UDP_BOUND_PREFIX)) {
      const [participantId, nonce] = text.slice(UDP_BOUND_PREFIX.length).trim().split(" ");
      if (nonce) this.#nonce = nonce;
      this.#pending?.resolve(participantId);
    } else if (text.startsWith(UDP_ERROR_PREFIX)) {
      const code = text.slice(UDP_ERROR_PREFIX.length).trim() || "unknown";
      if (this.#pending) {
        this.#pending.reject(new BindError(code, `the server refused the UDP bind: ${code}`));
      } else {
        clearInterval(this.#keepalive);
        this.#keepalive = undefined;
        this.#options.onBindError?.(code);
      }
    }
  }
}
