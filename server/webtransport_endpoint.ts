/**
 * The WebTransport endpoint: browsers' media over QUIC datagrams (`--quic-port`, UDP). A page
 * opens a session, proves its seat on the session's first bidirectional stream with the seat's
 * media key (`MEET-BIND <mediaKey> <meetingId>`, see protocol/media.ts), and from then on its
 * RTP and RTCP travel as datagrams, one packet each, while control stays on the WebSocket.
 *
 * Everything a client can make it hold is bounded ({@linkcode WEBTRANSPORT_LIMITS}): sessions
 * per client address and in total, the bind message, the time to bind, streams per session,
 * and the media rate (the WebSocket's). Datagrams before the bind are dropped and counted.
 *
 * Certificates: the server's own (`--cert`, `--self-signed`), else a short-lived ECDSA P-256
 * one made in memory (server/webtransport_cert.ts) and renewed well before it ends; pages get
 * its SHA-256 in the join reply (`media.webTransport.certificateHash`).
 *
 * @example
 * ```ts
 * import type { Hub } from "./hub.ts";
 *
 * async function serveQuic(hub: Hub) {
 *   const wt = await WebTransportEndpoint.start(hub, { hostname: "127.0.0.1", port: 0 });
 *   console.log(wt.port, wt.info()); // { port, certificateHash }
 *   await wt.close();
 * }
 * ```
 * @module
 */

import { X509Certificate } from "node:crypto";
import {
  parseUdpBind,
  UDP_BOUND_PREFIX,
  UDP_ERROR_PREFIX,
  WEBTRANSPORT_PATH,
  type WebTransportInfo,
  WT_PING_PREFIX,
  WT_PONG_PREFIX,
} from "../protocol/media.ts";
import { TokenBucket } from "../util/token_bucket.ts";
import { ConnectionLimits } from "./connection_limits.ts";
import { CONNECTION_LIMITS } from "./control_connection.ts";
import type { Hub } from "./hub.ts";
import type { Room } from "./room.ts";
import { attachToSeat, findSeat } from "./seat_media.ts";
import { certificateSha256, makeEphemeralCertificate } from "./webtransport_cert.ts";
import { WebTransportTransport } from "./webtransport_transport.ts";
import { log } from "../util/log.ts";

/** Limits of the WebTransport endpoint (docs/security.md lists them). */
export const WEBTRANSPORT_LIMITS = {
  /** Open sessions from one client IP address (a page holds one; tabs and retries add). */
  sessionsPerAddress: 32,
  /** Open sessions in total. */
  sessions: 2_048,
  /** The bind message, bytes (a key and an id are far shorter). */
  bindMessageBytes: 256,
  /** A session that has not proved its seat by then is closed, ms (handshake included). */
  bindDeadlineMs: 5_000,
  /**
   * Bidirectional streams a page may open (the bind stream); QUIC's own stream limits hold
   * the HTTP/3 streams (the session's CONNECT and three unidirectional control streams).
   */
  streamsPerSession: 1,
  /** QUIC: concurrent bidirectional streams (the HTTP/3 CONNECT and the bind stream). */
  quicBidiStreams: 4,
  /** QUIC: concurrent unidirectional streams (HTTP/3 control and QPACK streams). */
  quicUniStreams: 4,
  /** A session silent for this long is gone (QUIC idle timeout), ms. */
  idleTimeoutMs: 10_000,
  /** QUIC keep-alive from the server, ms. */
  keepAliveMs: 2_000,
  /** A liveness probe datagram (`MEET-PING <n>`) is at most this long. */
  pingBytes: 32,
};

/**
 * A short-lived certificate is renewed after this long (it is valid for 10 days): the
 * endpoint restarts with the new one, and sessions open then start over (pages fall back to
 * the WebSocket and come back with the new hash, which `media_transport` answers).
 */
export const CERT_RENEW_MS = 5 * 24 * 3600_000;

/** Counters of the endpoint. */
export interface WebTransportCounters {
  sessionsAccepted: number;
  /** Refused: over the per-address or total session cap. */
  sessionsRefused: number;
  /** Closed without a bind in time. */
  bindTimeouts: number;
  binds: number;
  bindErrors: number;
  /** Datagrams that arrived before the session proved its seat. */
  droppedUnbound: number;
  /** Over the media rate limit. */
  droppedRateLimited: number;
  /** Streams beyond the bind stream, cancelled. */
  streamsRefused: number;
  /** Datagrams received from bound sessions (media and pings). */
  datagramsReceived: number;
}

/** Options of a {@linkcode WebTransportEndpoint}. */
export interface WebTransportEndpointOptions {
  hostname: string;
  /** UDP port; 0 picks a free one. */
  port: number;
  /** The server's certificate (PEM); without, a short-lived one is made. */
  tls?: { cert: string; key: string };
}

interface SessionState {
  ip: string;
  /** Set once the session proved its seat. */
  transport?: WebTransportTransport;
  room?: Room;
  participantId?: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The QUIC endpoint and its sessions. */
export class WebTransportEndpoint {
  readonly counters: WebTransportCounters = {
    sessionsAccepted: 0,
    sessionsRefused: 0,
    bindTimeouts: 0,
    binds: 0,
    bindErrors: 0,
    droppedUnbound: 0,
    droppedRateLimited: 0,
    streamsRefused: 0,
    datagramsReceived: 0,
  };
  #hub: Hub;
  #options: WebTransportEndpointOptions;
  #endpoint!: Deno.QuicEndpoint;
  #port = 0;
  #cert!: { cert: string; key: string; hash?: string };
  #sessions = new Set<SessionState>();
  /** Open sessions by client address and in total. */
  #open = new ConnectionLimits({
    perAddress: WEBTRANSPORT_LIMITS.sessionsPerAddress,
    total: WEBTRANSPORT_LIMITS.sessions,
  });
  #renew: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  private constructor(hub: Hub, options: WebTransportEndpointOptions) {
    this.#hub = hub;
    this.#options = options;
  }

  /** Opens the endpoint. Throws `Deno.errors.AddrInUse` when the UDP port is taken. */
  static async start(
    hub: Hub,
    options: WebTransportEndpointOptions,
  ): Promise<WebTransportEndpoint> {
    const endpoint = new WebTransportEndpoint(hub, options);
    try {
      if (options.tls) {
        endpoint.#cert = { ...options.tls, hash: await pinnableHash(options.tls.cert) };
      } else {
        const made = await makeEphemeralCertificate({ names: certificateNames(options.hostname) });
        endpoint.#cert = { cert: made.cert, key: made.key, hash: made.sha256 };
        endpoint.#renew = setInterval(() => endpoint.#renewCertificate(), CERT_RENEW_MS);
        Deno.unrefTimer(endpoint.#renew);
      }
      endpoint.#listen(options.port);
    } catch (err) {
      clearInterval(endpoint.#renew);
      throw err;
    }
    return endpoint;
  }

  /** The UDP port the endpoint listens on. */
  get port(): number {
    return this.#port;
  }

  /** What a page needs to open a session: the port and, where needed, the certificate hash. */
  info(): WebTransportInfo {
    return this.#cert.hash
      ? { port: this.#port, certificateHash: this.#cert.hash }
      : { port: this.#port };
  }

  /** Open sessions (bound or not). */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** Stops accepting and closes every session. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#renew);
    for (const state of this.#sessions) state.transport?.close();
    try {
      this.#endpoint.close();
    } catch {
      // already closed
    }
    await new Promise((resolve) => setTimeout(resolve, 0));
  }

  #listen(port: number): void {
    const endpoint = new Deno.QuicEndpoint({ hostname: this.#options.hostname, port });
    const listener = endpoint.listen({
      cert: this.#cert.cert,
      key: this.#cert.key,
      alpnProtocols: ["h3"],
      maxIdleTimeout: WEBTRANSPORT_LIMITS.idleTimeoutMs,
      keepAliveInterval: WEBTRANSPORT_LIMITS.keepAliveMs,
      // BBR rather than quinn's default (Cubic), which halves its window on each loss: at 1%
      // loss and 25 +/- 8 ms (datagrams reordered, which QUIC also takes for loss) the window
      // fell below a meeting's 2 Mb/s, datagrams queued in QUIC for seconds, the pongs with
      // them, and pages fell back to the WebSocket.
      congestionControl: "low-latency",
      maxConcurrentBidirectionalStreams: WEBTRANSPORT_LIMITS.quicBidiStreams,
      maxConcurrentUnidirectionalStreams: WEBTRANSPORT_LIMITS.quicUniStreams,
    });
    this.#endpoint = endpoint;
    this.#port = endpoint.addr.port;
    (async () => {
      for await (const incoming of listener) {
        if (this.#closed) break;
        // (Reading the incoming's address before accept() invalidates it in Deno 2.9.6: the
        // per-address cap is applied right after accepting.)
        if (this.#sessions.size >= WEBTRANSPORT_LIMITS.sessions) {
          this.counters.sessionsRefused++;
          incoming.refuse();
          continue;
        }
        this.#accept(incoming).catch(() => {});
      }
    })().catch(() => {});
  }

  async #renewCertificate(): Promise<void> {
    if (this.#closed) return;
    try {
      const made = await makeEphemeralCertificate({
        names: certificateNames(this.#options.hostname),
      });
      this.#cert = { cert: made.cert, key: made.key, hash: made.sha256 };
      for (const state of this.#sessions) state.transport?.close();
      this.#endpoint.close();
      this.#listen(this.#port);
    } catch (err) {
      log.error("webtransport_cert_renewal_failed", "WebTransport certificate renewal failed", {
        error: err,
      });
    }
  }

  async #accept(incoming: Deno.QuicIncoming): Promise<void> {
    const conn = await incoming.accept();
    const ip = conn.remoteAddr.hostname;
    if (this.#closed || !this.#open.tryOpen(ip)) {
      this.counters.sessionsRefused++;
      conn.close({ closeCode: 0, reason: "too many sessions" });
      return;
    }
    const state: SessionState = { ip };
    this.#sessions.add(state);
    this.counters.sessionsAccepted++;
    let session: (WebTransport & { url: string }) | undefined;
    const deadline = setTimeout(() => {
      if (state.transport) return;
      this.counters.bindTimeouts++;
      try {
        if (session) session.close({ closeCode: 0, reason: "bind timeout" });
        else conn.close({ closeCode: 0, reason: "bind timeout" });
      } catch {
        // gone
      }
    }, WEBTRANSPORT_LIMITS.bindDeadlineMs);
    try {
      session = await Deno.upgradeWebTransport(conn);
      await session.ready;
      if (new URL(session.url).pathname !== WEBTRANSPORT_PATH) {
        session.close({ closeCode: 404, reason: "not found" });
        return;
      }
      this.#readDatagrams(session, state);
      this.#readStreams(session, conn, state);
      await session.closed.catch(() => {});
    } catch {
      // the handshake or the session failed
    } finally {
      clearTimeout(deadline);
      state.transport?.close();
      try {
        conn.close();
      } catch {
        // already closed
      }
      this.#sessions.delete(state);
      this.#open.close(ip);
    }
  }

  /** The first bidirectional stream carries the bind; any other stream is refused. */
  async #readStreams(
    session: WebTransport,
    conn: Deno.QuicConn,
    state: SessionState,
  ): Promise<void> {
    const streams = session.incomingBidirectionalStreams.getReader();
    session.incomingUnidirectionalStreams.getReader().read().then(({ value }) => {
      if (!value) return;
      this.counters.streamsRefused++;
      value.cancel().catch(() => {});
    }, () => {});
    let taken = 0;
    try {
      for (;;) {
        const { value: stream, done } = await streams.read();
        if (done) return;
        if (++taken > WEBTRANSPORT_LIMITS.streamsPerSession) {
          this.counters.streamsRefused++;
          stream.readable.cancel().catch(() => {});
          stream.writable.abort().catch(() => {});
          continue;
        }
        this.#bind(session, conn, state, stream).catch(() => {
          try {
            session.close({ closeCode: 0, reason: "bind failed" });
          } catch {
            // gone
          }
        });
      }
    } catch {
      // the session closed
    }
  }

  async #bind(
    session: WebTransport,
    conn: Deno.QuicConn,
    state: SessionState,
    stream: WebTransportBidirectionalStream,
  ): Promise<void> {
    const remote = conn.remoteAddr;
    const reader = stream.readable.getReader();
    const writer = stream.writable.getWriter();
    const chunks: Uint8Array[] = [];
    let size = 0;
    let text: string | undefined;
    while (text === undefined) {
      const { value, done } = await reader.read();
      if (value) {
        chunks.push(value);
        size += value.length;
      }
      const newline = value ? value.indexOf(0x0a) : -1;
      if (size > WEBTRANSPORT_LIMITS.bindMessageBytes) break;
      if (newline >= 0 || done) {
        const all = new Uint8Array(size);
        let at = 0;
        for (const c of chunks) {
          all.set(c, at);
          at += c.length;
        }
        const end = all.indexOf(0x0a);
        text = decoder.decode(end >= 0 ? all.subarray(0, end) : all);
      }
      if (done) break;
    }
    const fail = (code: string) => {
      this.counters.bindErrors++;
      // The answer, then the session goes (a moment later, for the answer to leave).
      setTimeout(() => {
        try {
          session.close({ closeCode: 0, reason: code });
        } catch {
          // gone
        }
      }, 100);
      writer.write(encoder.encode(`${UDP_ERROR_PREFIX}${code}\n`))
        .then(() => writer.close()).catch(() => {});
    };
    const request = text === undefined ? null : parseUdpBind(text);
    if (!request || request.nonce !== undefined) return fail("bad_request");
    const seat = findSeat(this.#hub, request.meetingId, request.mediaKey);
    if ("error" in seat) return fail(seat.error);
    if (this.#closed) return;
    const { room, participant } = seat;
    const transport = new WebTransportTransport(
      conn,
      { ip: remote.hostname, port: remote.port },
      // A plain-RTP camera's 1,400-byte packets do not fit a datagram: the control socket.
      { oversized: (packet) => room.sendOnConnection(participant.id, packet) },
    );
    state.transport = transport;
    state.participantId = seat.participant.id;
    state.room = seat.room;
    attachToSeat(seat.room, seat.participant.id, transport);
    this.counters.binds++;
    await writer.write(encoder.encode(`${UDP_BOUND_PREFIX}${seat.participant.id}\n`));
  }

  async #readDatagrams(session: WebTransport, state: SessionState): Promise<void> {
    // Deno's session keeps one datagram that has arrived and was not yet read (dropping the
    // older); its `incomingHighWaterMark` setter throws in Deno 2.9.6. Each datagram comes from
    // its own turn of the event loop, so reading each at once, without awaiting anything else,
    // loses none.
    const reader = session.datagrams.readable.getReader();
    const packets = new TokenBucket(CONNECTION_LIMITS.mediaPackets);
    const bytesBucket = new TokenBucket(CONNECTION_LIMITS.mediaBytes);
    try {
      for (;;) {
        const { value: bytes, done } = await reader.read();
        if (done) return;
        const transport = state.transport;
        if (!transport || transport.closed) {
          this.counters.droppedUnbound++;
          continue;
        }
        this.counters.datagramsReceived++;
        const now = performance.now();
        if (!packets.take(1, now) || !bytesBucket.take(bytes.length, now)) {
          this.counters.droppedRateLimited++;
          continue;
        }
        // An open transport carries its seat: the room closes it (and so the session) when
        // the seat moves to another carrier or leaves.
        const room = state.room!;
        const participantId = state.participantId!;
        if (bytes[0] === 0x4d) { // 'M': a liveness probe
          if (bytes.length <= WEBTRANSPORT_LIMITS.pingBytes) {
            const text = decoder.decode(bytes);
            if (text.startsWith(WT_PING_PREFIX)) {
              transport.send(encoder.encode(WT_PONG_PREFIX + text.slice(WT_PING_PREFIX.length)));
            }
          }
          continue;
        }
        room.media.receive(participantId, bytes);
      }
    } catch {
      // the session closed
    }
  }
}

/** Names for a short-lived certificate (pages pin its hash; names are informative). */
function certificateNames(hostname: string): string[] {
  const names = ["localhost", "127.0.0.1"];
  if (/^[\d.]+$/.test(hostname) && hostname !== "0.0.0.0") names.push(hostname);
  return [...new Set(names)];
}

/**
 * The certificate's SHA-256 when browsers will take it only pinned (a self-signed end
 * certificate valid for 14 days at most, as `--self-signed` makes); undefined for one a browser
 * verifies itself.
 */
async function pinnableHash(certPem: string): Promise<string | undefined> {
  try {
    const cert = new X509Certificate(certPem);
    const days = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000;
    if (cert.ca || days > 14 || cert.issuer !== cert.subject) return undefined;
  } catch {
    return undefined;
  }
  return await certificateSha256(certPem);
}
