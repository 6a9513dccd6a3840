/**
 * The server's HTTP edge: the TCP (or TLS) listener, built on `node:http` / `node:https` and
 * npm `ws`, which gives what `Deno.serve` lacks: a header timeout, a cap on WebSocket message
 * size enforced before a message is buffered, and per-address connection caps. Route handlers
 * stay on Web `Request` / `Response`; this module adapts between the two.
 *
 * Every TCP connection is counted against {@linkcode ConnectionCaps} when it opens (over a cap
 * it is closed at once); it must deliver a complete request (headers and body) within
 * `headerTimeoutMs` of opening or of its previous response, or it is closed.
 *
 * @example
 * ```ts
 * const edge = await startHttpEdge({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   handle: (req) => Promise.resolve(new Response("hi")),
 *   onWebSocket: (ws) => ws.on("message", (data) => ws.send(data)),
 * });
 * console.log(edge.port);
 * await edge.close();
 * ```
 * @module
 */

import http from "node:http";
import https from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { WebSocketServer } from "ws";
import {
  type ConnectionCaps,
  ConnectionLimits,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
  normalizeAddress,
} from "./connection_limits.ts";
import { hostNameOf } from "./host_policy.ts";
import { MeetingError } from "../meeting/errors.ts";
import { log } from "../util/log.ts";

/** Default of `--header-timeout`: a request's headers and body must arrive within this, ms. */
export const DEFAULT_HEADER_TIMEOUT_MS = 10_000;
/** WebSocket keep-alive: a ping this often; a socket that answered none since the last is closed, ms. */
export const WEBSOCKET_PING_INTERVAL_MS = 30_000;
/** On shutdown, WebSockets get this long to finish their closing handshake, ms. */
export const SHUTDOWN_GRACE_MS = 500;

/** What the edge uses of an npm `ws` WebSocket (the package ships no types). */
export interface EdgeWebSocket {
  readonly readyState: number;
  /** Bytes queued and not yet written to the kernel: grows while the client does not read. */
  readonly bufferedAmount: number;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  ping(): void;
  on(event: "message", listener: (data: Uint8Array, isBinary: boolean) => void): void;
  on(event: "error", listener: (err: Error & { code?: string }) => void): void;
  on(event: "close" | "pong", listener: () => void): void;
}

/** What the request handler answers: a response, or `"upgrade"` to accept a WebSocket. */
export type EdgeAnswer = Response | "upgrade";

/** Options of {@linkcode startHttpEdge}. */
export interface HttpEdgeOptions {
  hostname: string;
  /** 0 picks a free port. */
  port: number;
  /** Serve HTTPS/WSS with this PEM certificate and key. */
  tls?: { cert: string; key: string };
  /** Connection caps (defaults: {@linkcode DEFAULT_MAX_CONNECTIONS_PER_ADDRESS}, {@linkcode DEFAULT_MAX_CONNECTIONS}). */
  caps?: Partial<ConnectionCaps>;
  /** Default {@linkcode DEFAULT_HEADER_TIMEOUT_MS}. */
  headerTimeoutMs?: number;
  /** Largest WebSocket message; a larger one closes the connection (1009) unread. */
  maxMessageBytes?: number;
  /** Largest request body passed on; the body stream ends after the first chunk beyond it. */
  maxBodyBytes?: number;
  /** Default {@linkcode WEBSOCKET_PING_INTERVAL_MS}. */
  pingIntervalMs?: number;
  /**
   * Answers a request. WebSocket upgrade requests come here too (without a body); answering
   * `"upgrade"` accepts them and calls `onWebSocket`.
   */
  handle(req: Request, clientAddress: string): Promise<EdgeAnswer>;
  /** A WebSocket was accepted. Its `error` events are handled here already. */
  onWebSocket(ws: EdgeWebSocket, clientAddress: string): void;
  /** Counters to add to (default: fresh ones, in {@linkcode HttpEdge.counters}). */
  counters?: EdgeCounters;
}

/** What the edge refused, for tests and monitoring. */
export interface EdgeCounters {
  /** Connections closed at once because a cap was reached. */
  connectionsRefused: number;
  /** Connections closed because a request did not arrive in time. */
  headerTimeouts: number;
  /** WebSockets closed for a message over the size limit. */
  oversizedMessages: number;
}

/** A running edge. */
export interface HttpEdge {
  /** The bound address and port. */
  hostname: string;
  port: number;
  counters: EdgeCounters;
  limits: ConnectionLimits;
  /** Stops listening, closes every WebSocket (1001) and connection. */
  close(): Promise<void>;
}

/** The listener's error when the port is taken. */
export class EdgeAddressInUse extends Error {}

interface ConnectionState {
  socket: Socket;
  timer: ReturnType<typeof setTimeout> | undefined;
  inflight: number;
  upgraded: boolean;
}

const NO_BODY = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);

/** Starts listening; rejects with {@linkcode EdgeAddressInUse} when the port is taken. */
export async function startHttpEdge(options: HttpEdgeOptions): Promise<HttpEdge> {
  const headerTimeoutMs = options.headerTimeoutMs ?? DEFAULT_HEADER_TIMEOUT_MS;
  const maxBodyBytes = options.maxBodyBytes ?? 64 * 1024;
  const scheme = options.tls ? "https" : "http";
  const limits = new ConnectionLimits({
    perAddress: options.caps?.perAddress ?? DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
    total: options.caps?.total ?? DEFAULT_MAX_CONNECTIONS,
  });
  const counters: EdgeCounters = options.counters ??
    { connectionsRefused: 0, headerTimeouts: 0, oversizedMessages: 0 };
  const server = options.tls
    ? https.createServer({ cert: options.tls.cert, key: options.tls.key })
    : http.createServer();
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: options.maxMessageBytes ?? 64 * 1024,
    perMessageDeflate: false,
    clientTracking: false,
  });
  // Keyed by the peer's address and port: with TLS, requests come on the TLS socket, not the
  // TCP socket the connection event saw.
  const connections = new Map<string, ConnectionState>();
  const webSockets = new Set<EdgeWebSocket>();
  const alive = new WeakSet<EdgeWebSocket>();
  const keyOf = (s: Socket) => `${s.remoteAddress}|${s.remotePort}`;

  const arm = (state: ConnectionState) => {
    clearTimeout(state.timer);
    state.timer = setTimeout(() => {
      counters.headerTimeouts++;
      state.socket.destroy();
    }, headerTimeoutMs);
  };
  const disarm = (state: ConnectionState) => {
    clearTimeout(state.timer);
    state.timer = undefined;
  };

  server.on("connection", (socket: Socket) => {
    const address = normalizeAddress(socket.remoteAddress);
    socket.on("error", () => {}); // resets and the like: the socket closes
    if (!limits.tryOpen(address)) {
      counters.connectionsRefused++;
      socket.destroy();
      return;
    }
    const key = keyOf(socket);
    const state: ConnectionState = { socket, timer: undefined, inflight: 0, upgraded: false };
    connections.set(key, state);
    arm(state);
    socket.once("close", () => {
      disarm(state);
      if (connections.get(key) === state) connections.delete(key);
      limits.close(address);
    });
  });
  server.on("clientError", (_err: Error, socket: Socket) => socket.destroy());
  server.on("tlsClientError", (_err: Error, socket: Socket) => socket.destroy());

  server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    const state = connections.get(keyOf(req.socket as Socket));
    const clientAddress = normalizeAddress(req.socket.remoteAddress);
    const hasBody = !NO_BODY.has(req.method ?? "GET") &&
      (req.headers["transfer-encoding"] !== undefined ||
        Number(req.headers["content-length"] ?? 0) > 0);
    if (state) {
      state.inflight++;
      if (hasBody) {
        arm(state); // the body must come in time too
        req.once("end", () => disarm(state));
      } else {
        disarm(state);
      }
    }
    res.once("close", () => {
      if (!state) return;
      state.inflight--;
      if (hasBody && !req.complete) state.socket.destroy(); // an unread body: end here
      else if (state.inflight === 0 && !state.upgraded) arm(state);
    });
    answer(req, res, clientAddress, hasBody).catch((err) => {
      log.error("request_failed", "request failed", { error: err });
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end("Internal server error");
    });
  });

  const answer = async (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    clientAddress: string,
    hasBody: boolean,
  ) => {
    const request = toRequest(req, scheme, hasBody, maxBodyBytes);
    if (!request) {
      res.writeHead(400, { "content-type": "text/plain", connection: "close" });
      res.end("Bad request");
      return;
    }
    const got = await options.handle(request, clientAddress);
    const response = got === "upgrade"
      ? new Response("expected a WebSocket upgrade", { status: 426 })
      : got;
    await writeResponse(res, response, req.method === "HEAD");
  };

  server.on("upgrade", (req: http.IncomingMessage, socket: Socket, head: Uint8Array) => {
    const state = connections.get(keyOf(socket));
    if (state) {
      state.upgraded = true;
      disarm(state);
    }
    const clientAddress = normalizeAddress(socket.remoteAddress);
    const request = toRequest(req, scheme, false, 0);
    const refuse = async (response: Response) => {
      const body = new Uint8Array(await response.arrayBuffer());
      const lines = [`HTTP/1.1 ${response.status} ${http.STATUS_CODES[response.status] ?? ""}`];
      response.headers.forEach((v, k) => lines.push(`${k}: ${v}`));
      lines.push(`content-length: ${body.length}`, "connection: close", "", "");
      socket.end(new Uint8Array([...new TextEncoder().encode(lines.join("\r\n")), ...body]));
      setTimeout(() => socket.destroy(), 1000).unref?.();
    };
    if (!request) {
      refuse(new Response("Bad request", { status: 400 })).catch(() => socket.destroy());
      return;
    }
    options.handle(request, clientAddress).then((got) => {
      if (got !== "upgrade") return refuse(got);
      if (socket.destroyed) return;
      wss.handleUpgrade(req, socket, head as Buffer, (ws: EdgeWebSocket) => {
        webSockets.add(ws);
        alive.add(ws);
        ws.on("pong", () => alive.add(ws));
        ws.on("message", () => alive.add(ws));
        ws.on("error", (err: Error & { code?: string }) => {
          if (err.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH") counters.oversizedMessages++;
        });
        ws.on("close", () => webSockets.delete(ws));
        options.onWebSocket(ws, clientAddress);
      });
    }).catch((err) => {
      log.error("upgrade_failed", "WebSocket upgrade failed", { error: err });
      socket.destroy();
    });
  });

  const pingTimer = setInterval(() => {
    for (const ws of webSockets) {
      if (!alive.has(ws)) {
        ws.terminate();
        continue;
      }
      alive.delete(ws);
      try {
        ws.ping();
      } catch { /* closing */ }
    }
  }, options.pingIntervalMs ?? WEBSOCKET_PING_INTERVAL_MS);

  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port, options.hostname, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (err) {
    clearInterval(pingTimer);
    if ((err as { code?: string }).code === "EADDRINUSE") throw new EdgeAddressInUse();
    throw err;
  }
  server.on(
    "error",
    (err: Error) => log.error("http_server_error", "HTTP server error", { error: err }),
  );
  const address = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    hostname: address.address,
    port: address.port,
    counters,
    limits,
    close() {
      closing ??= (async () => {
        clearInterval(pingTimer);
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const ws of webSockets) {
          try {
            ws.close(1001, "server shutting down");
          } catch { /* already closing */ }
        }
        const deadline = Date.now() + SHUTDOWN_GRACE_MS;
        while (webSockets.size > 0 && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 10));
        }
        for (const state of connections.values()) state.socket.destroy();
        await closed;
      })();
      return closing;
    },
  };
}

/** A Web Request for a node request, or undefined if its target or Host is malformed. */
function toRequest(
  req: http.IncomingMessage,
  scheme: string,
  hasBody: boolean,
  maxBodyBytes: number,
): Request | undefined {
  const host = req.headers.host ?? "";
  const target = req.url ?? "";
  if (!target.startsWith("/") || hostNameOf(host) === undefined) return undefined;
  let url: URL;
  const headers = new Headers();
  try {
    url = new URL(`${scheme}://${host}${target}`);
    const raw = req.rawHeaders;
    for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i], raw[i + 1]);
  } catch {
    return undefined;
  }
  const method = req.method ?? "GET";
  return new Request(url, {
    method,
    headers,
    body: hasBody ? bodyStream(req, maxBodyBytes) : undefined,
  });
}

/**
 * The request body as a stream with backpressure. After `maxBodyBytes` it ends with the chunk
 * that passed the limit (the reader sees the excess and refuses); the rest is never read.
 */
function bodyStream(req: http.IncomingMessage, maxBodyBytes: number): ReadableStream<Uint8Array> {
  let size = 0;
  let done = false;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      req.on("data", (chunk: Uint8Array) => {
        if (done) return;
        size += chunk.length;
        controller.enqueue(new Uint8Array(chunk));
        if (size > maxBodyBytes) {
          done = true;
          req.pause();
          controller.close();
        } else if ((controller.desiredSize ?? 1) <= 0) {
          req.pause();
        }
      });
      req.once("end", () => {
        if (!done) controller.close();
        done = true;
      });
      req.once("error", () => {
        if (!done) {
          controller.error(
            new MeetingError("bad_request", "the request body did not arrive whole"),
          );
        }
        done = true;
      });
    },
    pull() {
      if (!done) req.resume();
    },
    cancel() {
      done = true;
      req.pause();
    },
  }, { highWaterMark: 4 });
}

async function writeResponse(
  res: http.ServerResponse,
  response: Response,
  head: boolean,
): Promise<void> {
  const body = new Uint8Array(await response.arrayBuffer());
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    if (name !== "set-cookie") headers[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length) headers["set-cookie"] = cookies;
  if (response.status !== 204 && response.status !== 304) {
    headers["content-length"] = String(body.length);
  }
  res.writeHead(response.status, headers);
  res.end(head || body.length === 0 ? undefined : body);
}
