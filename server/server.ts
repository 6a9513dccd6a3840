/**
 * The HTTP server: pages, the REST API, the island bundle, static files, and the control
 * WebSocket at `/ws`. One call starts everything; `close()` stops it cleanly.
 *
 * @example
 * ```ts
 * const server = await startServer({ hostname: "127.0.0.1", port: 0, dataDir: "./data" });
 * console.log(server.url); // http://127.0.0.1:PORT/
 * await server.close();
 * ```
 * @module
 */

import { join } from "node:path";
import { matchRoute } from "../routes/mod.ts";
import { apiError } from "../routes/api/meetings.ts";
import { MeetingError } from "../meeting/errors.ts";
import { type Asset, loadIslandAssets } from "../web/assets.ts";
import { ControlConnection } from "./control_connection.ts";
import { Hub } from "./hub.ts";
import type { AccessLimitOptions } from "./limits.ts";
import { createOpusDecoder, createOpusEncoder, type OpusEncoderOptions } from "../media/opus.ts";
import { Records } from "./records.ts";
import { UdpTransport } from "./udp_transport.ts";
import type { DatagramIoMode } from "./datagram_io.ts";
import type { ConsentWindows } from "./media_consent.ts";

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
}

/**
 * The mixer's encoder: 32 kbit/s, complexity 5, CELT only (`restricted_lowdelay`: a third of
 * the SILK/hybrid encode cost, 4 ms less codec delay, and no speech model for a mix of
 * several voices; see docs/opus-choice.md).
 *
 * @example
 * ```ts
 * const encoder = createOpusEncoder({ ...MIXER_ENCODER_OPTIONS, backend: "wasm" });
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
  /** The UDP relay's port. */
  udpPort: number;
  hub: Hub;
  udp: UdpTransport;
  /** Stops accepting, ends meetings, closes connections and the database. */
  close(): Promise<void>;
}

/** Thrown when a port is taken; `flag` names the option that chose it. */
export class PortInUseError extends Error {
  constructor(readonly port: number, readonly flag: "--port" | "--udp-port" = "--port") {
    super(`${flag} ${port} is already in use`);
    this.name = "PortInUseError";
  }
}

const STATIC_DIR = new URL("../static/", import.meta.url);
const STATIC_TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
};

async function serveStatic(pathname: string): Promise<Response | undefined> {
  if (!/^\/[A-Za-z0-9_\-./]+$/.test(pathname) || pathname.includes("..")) return undefined;
  const ext = pathname.slice(pathname.lastIndexOf("."));
  const type = STATIC_TYPES[ext];
  if (!type) return undefined;
  try {
    const body = await Deno.readFile(new URL(pathname.slice(1), STATIC_DIR));
    return new Response(body, { headers: { "content-type": type, "cache-control": "no-cache" } });
  } catch {
    return undefined;
  }
}

/** A browser page may open the WebSocket if it comes from this server or an allowed origin. */
function originAllowed(origin: string, url: URL, allowed: string[]): boolean {
  try {
    const o = new URL(origin);
    return o.host === url.host || allowed.includes(o.origin);
  } catch {
    return false;
  }
}

function serveAsset(asset: Asset): Response {
  return new Response(asset.body, {
    headers: { "content-type": asset.contentType, "cache-control": "no-cache" },
  });
}

/** Starts the server. Rejects with {@linkcode PortInUseError} when the port is taken. */
export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  const dataDir = options.dataDir ?? "./data";
  await Deno.mkdir(dataDir, { recursive: true });
  const assets = await loadIslandAssets();
  // Assigned right after the port is bound (before any request can arrive), so that a
  // second instance failing on a taken port never touches the records.
  let hub!: Hub;
  let udp!: UdpTransport;
  const sockets = new Set<WebSocket>();

  const upgrade = (req: Request, clientAddress: string): Response => {
    const { socket, response } = Deno.upgradeWebSocket(req, { idleTimeout: 60 });
    socket.binaryType = "arraybuffer";
    const connection = new ControlConnection(socket, hub, clientAddress);
    sockets.add(socket);
    socket.onmessage = (e) => connection.receive(e.data);
    socket.onclose = () => {
      sockets.delete(socket);
      connection.closed();
    };
    socket.onerror = () => {};
    return response;
  };

  const handler = async (
    req: Request,
    info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  ): Promise<Response> => {
    const clientAddress = info.remoteAddr.hostname;
    const url = new URL(req.url);
    if (url.pathname === "/ws") {
      if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
        return new Response("expected a WebSocket upgrade", { status: 426 });
      }
      const origin = req.headers.get("origin");
      if (origin !== null && !originAllowed(origin, url, options.allowedOrigins ?? [])) {
        hub.counters.badOrigin++;
        return apiError(
          new MeetingError("bad_origin", `pages from ${origin.slice(0, 100)} may not connect here`),
        );
      }
      return upgrade(req, clientAddress);
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
        udp: { transport: udp, host: udpHost },
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
        const file = await serveStatic(url.pathname);
        if (file) return file;
      }
    }
    if (url.pathname.startsWith("/api/")) {
      return apiError(new MeetingError("not_found", `no API at ${url.pathname}`));
    }
    return new Response("Not found", { status: 404 });
  };

  let httpServer: Deno.HttpServer<Deno.NetAddr>;
  const port = options.port ?? 8000;
  try {
    httpServer = Deno.serve({
      hostname: options.hostname ?? "0.0.0.0",
      port,
      ...(options.tls ? { cert: options.tls.cert, key: options.tls.key } : {}),
      onListen: () => {},
      onError: (err) => {
        console.error("request failed:", err);
        return new Response("Internal server error", { status: 500 });
      },
    }, handler);
  } catch (err) {
    if (err instanceof Deno.errors.AddrInUse) throw new PortInUseError(port);
    throw err;
  }
  const hostname = options.hostname ?? "0.0.0.0";
  let udpSocket: Deno.DatagramConn;
  const udpPort = options.udpPort ?? 5004;
  try {
    udpSocket = Deno.listenDatagram({ transport: "udp", hostname, port: udpPort });
  } catch (err) {
    await httpServer.shutdown();
    if (err instanceof Deno.errors.AddrInUse) throw new PortInUseError(udpPort, "--udp-port");
    throw err;
  }
  try {
    hub = new Hub({
      records: Records.open(join(dataDir, "meet.db")),
      codecs: serverOpusCodecs,
      mixSpeakers: options.mixSpeakers,
      beforeTick: () => udp?.drain(), // UDP audio that arrived since the last poll
      graceMs: options.graceMs,
      idleTimeoutMs: options.idleTimeoutMs,
      p2p: options.p2p,
      limits: options.limits,
      maxParticipants: options.maxParticipants,
    });
  } catch (err) {
    udpSocket.close();
    await httpServer.shutdown();
    throw err;
  }
  try {
    udp = new UdpTransport(udpSocket, hub, { io: options.udpIo, ...options.udpWindows });
  } catch (err) {
    hub.close();
    udpSocket.close();
    await httpServer.shutdown();
    throw err;
  }
  const addr = httpServer.addr;
  const host = addr.hostname === "0.0.0.0" ? "127.0.0.1" : addr.hostname;
  let closing: Promise<void> | undefined;
  return {
    url: `${options.tls ? "https" : "http"}://${
      host.includes(":") ? `[${host}]` : host
    }:${addr.port}/`,
    port: addr.port,
    udpPort: udp.port,
    hub,
    udp,
    close() {
      closing ??= (async () => {
        hub.close();
        await udp.close();
        for (const socket of sockets) {
          try {
            socket.close(1001, "server shutting down");
          } catch { /* already closing */ }
        }
        await httpServer.shutdown();
      })();
      return closing;
    },
  };
}
