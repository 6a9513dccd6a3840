/**
 * The HTTP server: pages, the REST API, the island bundle, static files, and the control
 * WebSocket at `/ws`. One call starts everything; `close()` stops it cleanly.
 *
 * @example
 * ```ts
 * async function serveOnce() {
 *   const server = await startServer({ hostname: "127.0.0.1", port: 0, dataDir: "./data" });
 *   console.log(server.url); // http://127.0.0.1:PORT/
 *   await server.close();
 * }
 * ```
 * @module
 */

import { join } from "node:path";
import { notFoundPage } from "../routes/not_found.tsx";
import { matchRoute } from "../routes/mod.ts";
import { apiError, MAX_BODY_BYTES } from "../routes/api/meetings.ts";
import { MAX_CONTROL_MESSAGE_BYTES } from "../protocol/control.ts";
import { MeetingError } from "../meeting/errors.ts";
import { type Asset, loadIslandAssets } from "../web/assets.ts";
import { ControlConnection, type MessageSocket } from "./control_connection.ts";
import { makePrivateFile, preparePrivateDir, restrictExisting } from "./data_dir.ts";
import {
  EdgeAddressInUse,
  type EdgeAnswer,
  type EdgeCounters,
  type EdgeWebSocket,
  type HttpEdge,
  startHttpEdge,
} from "./http_edge.ts";
import { certificateNames, HostPolicy } from "./host_policy.ts";
import { loadStaticFiles } from "./static_files.ts";
import { localNames } from "./tls.ts";
import type { ConnectionLimits } from "./connection_limits.ts";
import { Hub } from "./hub.ts";
import type { AccessLimitOptions } from "./limits.ts";
import { createOpusDecoder, createOpusEncoder, type OpusEncoderOptions } from "../media/opus.ts";
import { Records } from "./records.ts";
import { UdpEndpoint } from "./udp_endpoint.ts";
import { WebTransportEndpoint } from "./webtransport_endpoint.ts";
import { type DatagramIo, type DatagramIoMode, openDatagramIo } from "./datagram_io.ts";
import type { ConsentWindows } from "./media_consent.ts";
import { log } from "../util/log.ts";
import { Metrics } from "./metrics.ts";
import { CodecTiming } from "./codec_timing.ts";
import type { Cluster } from "./cluster.ts";
import { localIpv4Interfaces } from "./udp_destination.ts";

/** Server options. */
export interface ServerOptions {
  /** Interface to listen on. Default 0.0.0.0. */
  hostname?: string;
  /** HTTP port; 0 picks a free one. Default 8000. */
  port?: number;
  /** Directory of the SQLite records. Default ./data. */
  dataDir?: string;
  /** Seat kept for a dropped connection, ms. Default 30 s. */
  graceMs?: number;
  /** A meeting nobody joins ends after this long, ms. Default 60 s. */
  idleTimeoutMs?: number;
  /** How many of the loudest speakers are mixed. Default 3. */
  mixSpeakers?: number;
  /** UDP port of the RTP relay; 0 picks a free one. Default 5004. */
  udpPort?: number;
  /**
   * UDP port of the WebTransport endpoint (browsers' media over QUIC); 0 picks a free one,
   * `null` runs none (pages use the WebSocket). Default: the HTTP port's number (a free one
   * when `port` is 0).
   */
  quicPort?: number | null;
  /** `auto` (default): two participants that can go peer to peer do; `off`: always relay. */
  p2p?: "auto" | "off";
  /** UDP system calls: see {@linkcode DatagramIoMode} (default `auto`). */
  udpIo?: DatagramIoMode;
  /**
   * UDP consent and idle windows, ms (defaults `CONSENT_MS` 10 s, `SEAT_IDLE_MS` 60 s; see
   * server/media_consent.ts). Tests shorten them.
   */
  udpWindows?: ConsentWindows;
  /**
   * Origins (e.g. `https://meet.example.org`) whose pages may open the control WebSocket,
   * besides the server's own. Requests without an Origin (non-browser clients) are let in.
   */
  allowedOrigins?: string[];
  /** Serve HTTPS and WSS with this PEM certificate and key. */
  tls?: { cert: string; key: string };
  /** Overrides of the access limits (`DEFAULT_ACCESS_LIMITS` in server/limits.ts). */
  limits?: Partial<AccessLimitOptions>;
  /** Seats per meeting. Default `MAX_PARTICIPANTS` (100). */
  maxParticipants?: number;
  /**
   * Host names the server also answers to (`--allow-host`), e.g. the name a reverse proxy
   * forwards; pages from them may use the WebSocket and REST. Besides these: localhost,
   * loopback, `hostname`, this machine's name and addresses, the certificate's names, and any
   * IP address literal.
   */
  allowHosts?: string[];
  /** Cap on open TCP connections from one client address (`--max-connections-per-address`). */
  maxConnectionsPerAddress?: number;
  /** Cap on open TCP connections in total (`--max-connections`). */
  maxConnections?: number;
  /** A request's headers and body must arrive within this, ms (`--header-timeout`). */
  headerTimeoutMs?: number;
  /** The static files folder; default `static/` next to the server. */
  staticDir?: URL | string;
  /** Whether hosts may record meetings (`--recordings`; default true), into `<dataDir>/recordings`. */
  recordings?: boolean;
  /** Longest recording, minutes (`--max-recording-minutes`; default 240). */
  maxRecordingMinutes?: number;
  /** Least free disk space to record, bytes (default 500 MB). */
  recordingMinFreeBytes?: number;
  /** Serves `GET /metrics` to this bearer token (`--metrics-token-file`); without: no metrics. */
  metricsToken?: string;
  /** Lets this bearer token drain the server (`POST /api/admin/drain`, `--admin-token-file`). */
  adminToken?: string;
  /**
   * Runs as one node of a cluster sharing this Redis (`--redis redis://host:6379`): every
   * node lists every live meeting and sends clients to the node that holds it.
   */
  redis?: string;
  /**
   * Where other nodes send clients to this one (`--public-url`, e.g.
   * `https://meet-1.example.org`). Default: the server's scheme, its `hostname` (or this
   * machine's first non-loopback IPv4 address when it listens on every interface) and port.
   */
  publicUrl?: string;
  /** Cluster heartbeat and node time to live, ms (defaults 1000 and 3000; tests shorten them). */
  clusterTimings?: { heartbeatMs?: number; nodeTtlMs?: number };
}

/** What the server refused at its edge, for tests and monitoring. */
export interface ServerCounters extends EdgeCounters {
  /** WebSockets closed because their client stopped reading (send queue over its limit). */
  sendQueueOverflows: number;
  /** Requests refused for a Host that is not one of the server's names. */
  badHost: number;
}

/**
 * The mixer's encoder: 32 kbit/s, complexity 5, CELT only (`restricted_lowdelay`: a third of
 * the SILK/hybrid encode cost, 4 ms less codec delay, and no speech model for a mix of
 * several voices; see docs/opus-choice.md).
 *
 * @example
 * ```ts
 * import { createOpusEncoder } from "../media/opus.ts";
 *
 * const encoder = createOpusEncoder({ ...MIXER_ENCODER_OPTIONS, backend: "wasm" });
 * encoder.close();
 * ```
 */
export const MIXER_ENCODER_OPTIONS: Readonly<OpusEncoderOptions> = {
  bitrate: 32_000,
  complexity: 5,
  application: "restricted_lowdelay",
};

/** The mixer's Opus codecs: {@linkcode MIXER_ENCODER_OPTIONS}, decoders at 48 kHz mono. */
export const serverOpusCodecs = {
  createEncoder: () => createOpusEncoder(MIXER_ENCODER_OPTIONS),
  createDecoder: () => createOpusDecoder(),
};

/** A running server. */
export interface RunningServer {
  /** Base address, e.g. `http://127.0.0.1:8000/`. */
  url: string;
  port: number;
  /** The UDP endpoint's port. */
  udpPort: number;
  /** The WebTransport endpoint's UDP port, or null when it runs none. */
  quicPort: number | null;
  hub: Hub;
  udp: UdpEndpoint;
  /** The WebTransport endpoint, if any. */
  webTransport: WebTransportEndpoint | null;
  /** Refusals at the edge. */
  counters: ServerCounters;
  /** Open TCP connections, by client address. */
  connections: ConnectionLimits;
  /**
   * Drains: no new meetings on this server (`/readyz` says 503), the live ones are told and go
   * on. Idempotent.
   */
  drain(): void;
  /** Resolves once the server drains and its last meeting has ended. */
  drained: Promise<void>;
  /** This node's link to its cluster, with `redis`. */
  cluster: Cluster | null;
  /** Stops accepting, ends meetings, closes connections and the database. */
  close(): Promise<void>;
}

/** Thrown when a port is taken; `flag` names the option that chose it. */
export class PortInUseError extends Error {
  constructor(
    readonly port: number,
    readonly flag: "--port" | "--udp-port" | "--quic-port" = "--port",
  ) {
    super(`${flag} ${port} is already in use`);
    this.name = "PortInUseError";
  }
}

const STATIC_DIR = new URL("../static/", import.meta.url);

/** The request's Host is one of the server's names (see {@linkcode HostPolicy}), else `bad_host`. */
function badHost(host: string | null): Response {
  return apiError(
    new MeetingError(
      "bad_host",
      `this server does not answer to the name ${
        (host ?? "(none)").slice(0, 100)
      }; an operator can add it with --allow-host`,
    ),
  );
}

function serveAsset(asset: Asset): Response {
  return new Response(asset.body, {
    headers: { "content-type": asset.contentType, "cache-control": "no-cache" },
  });
}

/** The server's own names for the Host check: --host, this machine's, the certificate's. */
function serverNames(hostname: string, tls: ServerOptions["tls"]): string[] {
  const names = localNames([hostname]);
  try {
    for (const i of Deno.networkInterfaces()) names.push(i.address);
  } catch {
    // without --allow-sys: loopback only
  }
  if (tls) names.push(...certificateNames(tls.cert));
  return names;
}

/** Starts the server. Rejects with {@linkcode PortInUseError} when the port is taken. */
export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  const dataDir = options.dataDir ?? "./data";
  const dataDirWarning = await preparePrivateDir(dataDir);
  if (dataDirWarning) log.warn("data_dir_open", dataDirWarning);
  const [assets, staticFiles] = await Promise.all([
    loadIslandAssets(),
    loadStaticFiles(options.staticDir ?? STATIC_DIR),
  ]);
  const hostname = options.hostname ?? "0.0.0.0";
  const policy = new HostPolicy({
    names: serverNames(hostname, options.tls),
    // The name other nodes of a cluster send people to is one of this server's names.
    allowHosts: [
      ...(options.allowHosts ?? []),
      ...(options.publicUrl && URL.canParse(options.publicUrl)
        ? [new URL(options.publicUrl).hostname]
        : []),
    ],
    allowedOrigins: options.allowedOrigins,
  });
  // Assigned right after the port is bound (before any request can arrive), so that a
  // second instance failing on a taken port never touches the records.
  let hub!: Hub;
  let udp!: UdpEndpoint;
  const counters: ServerCounters = {
    connectionsRefused: 0,
    headerTimeouts: 0,
    oversizedMessages: 0,
    sendQueueOverflows: 0,
    badHost: 0,
  };
  let metrics: Metrics | undefined;
  const codecTiming = options.metricsToken ? new CodecTiming() : undefined;
  const drained = Promise.withResolvers<void>();
  const startDrain = () => {
    if (hub.draining) return;
    hub.drain();
    log.info("draining", "Draining: no new meetings; stopping once the live ones end", {
      meetings: hub.registry.size,
    });
    const check = () => hub.registry.size === 0 && drained.resolve();
    hub.registry.on("closed", () => queueMicrotask(check));
    check();
  };
  const ops = {
    get metrics() {
      return metrics;
    },
    metricsToken: options.metricsToken,
    adminToken: options.adminToken,
    drain: startDrain,
  };

  const onWebSocket = (ws: EdgeWebSocket, clientAddress: string) => {
    // Sends made in one turn (a packet fanned out, a burst of events) leave as one write.
    const raw = (ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
    let corked = false;
    const uncork = () => {
      corked = false;
      raw?.uncork();
    };
    const socket: MessageSocket = {
      send: (data) => {
        if (!corked && raw) {
          corked = true;
          raw.cork();
          queueMicrotask(uncork);
        }
        ws.send(data);
      },
      close: (code, reason) => ws.close(code, reason),
      terminate: () => ws.terminate(),
      get readyState() {
        return ws.readyState;
      },
      get bufferedAmount() {
        return ws.bufferedAmount;
      },
    };
    const connection = new ControlConnection(socket, hub, clientAddress, {
      onSendQueueOverflow: () => counters.sendQueueOverflows++,
    });
    ws.on("message", (data: Uint8Array, isBinary: boolean) => {
      connection.receive(isBinary ? data : new TextDecoder().decode(data));
    });
    ws.on("close", () => connection.closed());
  };

  const handler = async (req: Request, clientAddress: string): Promise<EdgeAnswer> => {
    const host = req.headers.get("host");
    if (!policy.hostAllowed(host)) {
      counters.badHost++;
      return badHost(host);
    }
    const url = new URL(req.url);
    const origin = req.headers.get("origin");
    const isWrite = req.method !== "GET" && req.method !== "HEAD" && req.method !== "OPTIONS";
    if (
      origin !== null && (url.pathname === "/ws" || isWrite) &&
      !policy.originAllowed(origin, host!)
    ) {
      hub.counters.badOrigin++;
      return apiError(
        new MeetingError("bad_origin", `pages from ${origin.slice(0, 100)} may not do this here`),
      );
    }
    if (url.pathname === "/ws") {
      if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
        return new Response("expected a WebSocket upgrade", { status: 426 });
      }
      return "upgrade";
    }
    const match = matchRoute(req.method, url);
    if (match && "handler" in match) {
      const udpHost = /^[\d.]+$/.test(url.hostname) && url.hostname !== "0.0.0.0"
        ? url.hostname
        : "127.0.0.1";
      return await match.handler(req, {
        hub,
        url,
        clientAddress,
        params: match.params,
        udp: { endpoint: udp, host: udpHost },
        ops,
      });
    }
    if (match) {
      const err = apiError(new MeetingError("bad_request", `method ${req.method} not allowed`));
      return new Response(err.body, {
        status: 405,
        headers: { "content-type": "application/json", allow: match.methodNotAllowed.join(", ") },
      });
    }
    if (req.method === "GET" || req.method === "HEAD") {
      if (url.pathname.startsWith("/_islands/")) {
        const asset = assets.get(url.pathname.slice("/_islands/".length));
        if (asset) return serveAsset(asset);
      } else {
        const file = staticFiles.response(url.pathname);
        if (file) return file;
      }
    }
    if (url.pathname.startsWith("/api/")) {
      return apiError(new MeetingError("not_found", `no API at ${url.pathname}`));
    }
    if (req.method === "GET" || req.method === "HEAD") {
      return url.pathname.startsWith("/m/")
        ? notFoundPage("No such meeting", "This meeting link is not valid: it may be mistyped.")
        : notFoundPage("Page not found", "There is nothing at this address.");
    }
    return new Response("Not found", { status: 404 });
  };

  let edge: HttpEdge;
  const port = options.port ?? 8000;
  try {
    edge = await startHttpEdge({
      hostname,
      port,
      tls: options.tls,
      caps: { perAddress: options.maxConnectionsPerAddress, total: options.maxConnections },
      headerTimeoutMs: options.headerTimeoutMs,
      maxMessageBytes: MAX_CONTROL_MESSAGE_BYTES,
      maxBodyBytes: MAX_BODY_BYTES,
      handle: handler,
      onWebSocket,
      counters,
    });
  } catch (err) {
    if (err instanceof EdgeAddressInUse) throw new PortInUseError(port);
    throw err;
  }
  let udpIo: DatagramIo;
  const udpPort = options.udpPort ?? 5004;
  try {
    udpIo = openDatagramIo({ hostname, port: udpPort }, options.udpIo ?? "auto");
  } catch (err) {
    await edge.close();
    if (err instanceof Deno.errors.AddrInUse) throw new PortInUseError(udpPort, "--udp-port");
    throw err;
  }
  try {
    const dbPath = join(dataDir, "meet.db");
    await makePrivateFile(dbPath); // SQLite gives its -wal and -shm files the same mode
    hub = new Hub({
      records: Records.open(dbPath),
      // With metrics, the mixers' codec calls are sampled for their time.
      codecs: codecTiming ? codecTiming.wrap(serverOpusCodecs) : serverOpusCodecs,
      mixSpeakers: options.mixSpeakers,
      graceMs: options.graceMs,
      idleTimeoutMs: options.idleTimeoutMs,
      p2p: options.p2p,
      limits: options.limits,
      maxParticipants: options.maxParticipants,
      recordings: {
        dir: options.recordings === false ? null : join(dataDir, "recordings"),
        maxMinutes: options.maxRecordingMinutes,
        minFreeBytes: options.recordingMinFreeBytes,
      },
    });
    await restrictExisting([`${dbPath}-wal`, `${dbPath}-shm`]);
    // What a previous run left recording is finished in the background.
    const recovering = hub.recorder.recoverLeftovers().catch((err) =>
      log.error("recordings_recovery_failed", "recordings could not be recovered", { error: err })
    );
    hub.recorder.track(recovering);
    if (options.metricsToken) {
      metrics = new Metrics(hub, () => ({ ...counters }), codecTiming);
    }
  } catch (err) {
    await udpIo.close();
    await edge.close();
    throw err;
  }
  try {
    udp = new UdpEndpoint(udpIo, hub, options.udpWindows);
    // Each media tick first takes the UDP audio that arrived since the last poll.
    hub.mediaClock.addInput(() => udp.drain());
  } catch (err) {
    hub.close();
    await udpIo.close();
    await edge.close();
    throw err;
  }
  let webTransport: WebTransportEndpoint | null = null;
  const quicPort = options.quicPort === undefined ? (port === 0 ? 0 : edge.port) : options.quicPort;
  if (quicPort !== null) {
    try {
      webTransport = await WebTransportEndpoint.start(hub, {
        hostname,
        port: quicPort,
        tls: options.tls,
      });
      const endpoint = webTransport;
      hub.webTransportInfo = () => endpoint.info();
    } catch (err) {
      hub.close();
      await udp.close();
      await edge.close();
      if (err instanceof Deno.errors.AddrInUse) throw new PortInUseError(quicPort, "--quic-port");
      throw err;
    }
  }
  const host = edge.hostname === "0.0.0.0" ? "127.0.0.1" : edge.hostname;
  const scheme = options.tls ? "https" : "http";
  let cluster: Cluster | null = null;
  if (options.redis) {
    try {
      const publicHost = edge.hostname === "0.0.0.0"
        ? localIpv4Interfaces().find((i) => !i.address.startsWith("127."))?.address ??
          "127.0.0.1"
        : host;
      // Loaded only for a cluster: a single server never loads the Redis client.
      const { Cluster } = await import("./cluster.ts");
      const started = await Cluster.start({
        redisUrl: options.redis,
        publicUrl: options.publicUrl ??
          `${scheme}://${publicHost.includes(":") ? `[${publicHost}]` : publicHost}:${edge.port}`,
        ...options.clusterTimings,
        localMeetings: () => hub.ownList(),
        accepting: () => !hub.draining,
        onChange: () => hub.listChanged(),
      });
      cluster = started;
      hub.cluster = started;
      hub.registry.on("changed", () => started.localChanged());
      started.localChanged();
    } catch (err) {
      hub.close();
      await webTransport?.close();
      await udp.close();
      await edge.close();
      throw err;
    }
  }
  let closing: Promise<void> | undefined;
  return {
    url: `${options.tls ? "https" : "http"}://${
      host.includes(":") ? `[${host}]` : host
    }:${edge.port}/`,
    port: edge.port,
    udpPort: udp.port,
    quicPort: webTransport?.port ?? null,
    hub,
    udp,
    webTransport,
    counters,
    connections: edge.limits,
    drain: startDrain,
    drained: drained.promise,
    cluster,
    close() {
      closing ??= (async () => {
        metrics?.close();
        await cluster?.close(); // the others stop listing this node's meetings at once
        await hub.shutdown();
        await webTransport?.close();
        await udp.close();
        await edge.close();
      })();
      return closing;
    },
  };
}
