/**
 * Command-line flags of the server.
 *
 * @example
 * ```ts
 * const config = parseFlags(["--port", "9000"]); // { port: 9000, host: "0.0.0.0", ... }
 * ```
 * @module
 */

import { nodeUrl } from "./cluster_directory.ts";
import { parseArgs } from "node:util";
import {
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
} from "./connection_limits.ts";
import { DEFAULT_HEADER_TIMEOUT_MS } from "./http_edge.ts";

/** The server's configuration. */
export interface Config {
  host: string;
  port: number;
  udpPort: number;
  /** UDP port of the WebTransport endpoint; undefined: the HTTP port's number; null: off. */
  quicPort: number | null | undefined;
  dataDir: string;
  graceSeconds: number;
  mixSpeakers: number;
  p2p: "auto" | "off";
  udpIo: "auto" | "batched" | "deno";
  cert: string | undefined;
  key: string | undefined;
  selfSigned: boolean;
  /** Extra host names the server answers to (`--allow-host`, repeatable). */
  allowHosts: string[];
  maxConnectionsPerAddress: number;
  maxConnections: number;
  headerTimeoutSeconds: number;
  /** Whether hosts may record meetings. */
  recordings: boolean;
  maxRecordingMinutes: number;
  logFormat: "text" | "json";
  logLevel: "debug" | "info" | "warn" | "error";
  /** A file holding the token that reads `/metrics` (no file: no metrics). */
  metricsTokenFile: string | undefined;
  /** A file holding the token that may drain the server over HTTP. */
  adminTokenFile: string | undefined;
  /** How long a drain waits for the live meetings to end, seconds. */
  drainTimeoutSeconds: number;
  /** The Redis a cluster of nodes shares (`--redis`), if any. */
  redis: string | undefined;
  /** Where other nodes send clients to this one (`--public-url`). */
  publicUrl: string | undefined;
  help: boolean;
}

/** The text of `--help`. */
export const USAGE = `Meet: a self-hosted video meeting server.

Usage: deno task start [flags]

Flags:
  --host HOST          interface to listen on (default 0.0.0.0)
  --port PORT          HTTP and WebSocket port (default 8000; 0 picks a free one)
  --udp-port PORT      UDP port for RTP participants (default 5004)
  --quic-port PORT|off UDP port of WebTransport (browsers' media over QUIC datagrams; default
                       the HTTP port's number); off: pages send media on the WebSocket
  --data-dir DIR       where the SQLite records live (default ./data)
  --grace SECONDS      seat kept for a dropped connection (default 30)
  --mix-speakers N     how many of the loudest speakers are mixed (default 3; 100 mixes everyone)
  --p2p auto|off       two participants send media directly to each other (default auto)
  --recordings on|off  hosts may record meetings into DATA-DIR/recordings (default on)
  --max-recording-minutes N
                       a recording stops after this long (default 240)
  --log-format text|json
                       one line per event, for people or as JSON (default text)
  --log-level debug|info|warn|error
                       the least level logged (default info)
  --metrics-token-file FILE
                       serve GET /metrics (Prometheus) to Authorization: Bearer <the token in
                       FILE>; without it there are no metrics
  --admin-token-file FILE
                       POST /api/admin/drain with Authorization: Bearer <the token in FILE>
                       drains the server, as SIGTERM does
  --drain-timeout SECONDS
                       on SIGTERM the server takes no new meetings and stops once its live
                       ones end, or after this long (default 3600); a second SIGTERM stops it
                       at once
  --redis URL          run as one node of a cluster sharing this Redis (redis://host:6379):
                       every node lists every live meeting and sends clients to the node
                       that holds it; without it nothing needs Redis
  --public-url URL     where other nodes send clients to this one, e.g.
                       https://meet-1.example.org (default: this server's scheme, address and
                       port)
  --udp-io auto|batched|deno
                       UDP system calls: batched (sendmmsg/recvmmsg through libc, Linux) or
                       one Deno op per datagram; auto takes batched where it works (default)
  --cert FILE          serve HTTPS/WSS with this PEM certificate (with --key)
  --key FILE           the certificate's PEM private key
  --self-signed        make a self-signed certificate for this machine's names and serve
                       HTTPS (for a LAN: browsers allow camera and mic only on HTTPS)
  --allow-host NAME    also answer to this host name (repeatable), e.g. the name a reverse
                       proxy forwards. Requests whose Host is not one of the server's names
                       (localhost, --host, this machine's name, the certificate's names, an
                       IP address) are refused, against DNS rebinding
  --max-connections-per-address N
                       open TCP connections one client address may hold (default ${DEFAULT_MAX_CONNECTIONS_PER_ADDRESS});
                       behind a reverse proxy every client has the proxy's address
  --max-connections N  open TCP connections in total (default ${DEFAULT_MAX_CONNECTIONS})
  --header-timeout SECONDS
                       a request's headers and body must arrive within this (default ${
  DEFAULT_HEADER_TIMEOUT_MS / 1000
})
  --help               show this text
`;

/** A flag had a bad value; the message names the flag. */
export class FlagError extends Error {}

function portOf(flag: string, raw: string): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n > 65535) {
    throw new FlagError(`--${flag} must be a port number from 0 to 65535 (got "${raw}")`);
  }
  return n;
}

/** Parses flags; throws {@linkcode FlagError} with a one-line reason. */
export function parseFlags(args: string[]): Config {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      options: {
        host: { type: "string", default: "0.0.0.0" },
        port: { type: "string", default: "8000" },
        "udp-port": { type: "string", default: "5004" },
        "quic-port": { type: "string" },
        "data-dir": { type: "string", default: "./data" },
        grace: { type: "string", default: "30" },
        "mix-speakers": { type: "string", default: "3" },
        p2p: { type: "string", default: "auto" },
        recordings: { type: "string", default: "on" },
        "max-recording-minutes": { type: "string", default: "240" },
        "log-format": { type: "string", default: "text" },
        "log-level": { type: "string", default: "info" },
        "metrics-token-file": { type: "string" },
        "admin-token-file": { type: "string" },
        "drain-timeout": { type: "string", default: "3600" },
        redis: { type: "string" },
        "public-url": { type: "string" },
        "udp-io": { type: "string", default: "auto" },
        cert: { type: "string" },
        key: { type: "string" },
        "self-signed": { type: "boolean", default: false },
        "allow-host": { type: "string", multiple: true, default: [] },
        "max-connections-per-address": {
          type: "string",
          default: String(DEFAULT_MAX_CONNECTIONS_PER_ADDRESS),
        },
        "max-connections": { type: "string", default: String(DEFAULT_MAX_CONNECTIONS) },
        "header-timeout": { type: "string", default: String(DEFAULT_HEADER_TIMEOUT_MS / 1000) },
        help: { type: "boolean", default: false },
      },
    }));
  } catch (err) {
    throw new FlagError((err as Error).message.split("\n")[0]);
  }
  const seconds = (flag: string, raw: string, min: number, max: number) => {
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min || n > max) {
      throw new FlagError(
        `--${flag} must be a number of seconds from ${min} to ${max} (got "${raw}")`,
      );
    }
    return n;
  };
  const grace = seconds("grace", values.grace!, 0, 3600);
  const mixSpeakers = Number(values["mix-speakers"]);
  if (!Number.isInteger(mixSpeakers) || mixSpeakers < 1 || mixSpeakers > 100) {
    throw new FlagError(
      `--mix-speakers must be a whole number from 1 to 100 (got "${values["mix-speakers"]}")`,
    );
  }
  if (values.p2p !== "auto" && values.p2p !== "off") {
    throw new FlagError(`--p2p must be auto or off (got "${values.p2p}")`);
  }
  const logFormat = values["log-format"];
  if (logFormat !== "text" && logFormat !== "json") {
    throw new FlagError(`--log-format must be text or json (got "${logFormat}")`);
  }
  const logLevel = values["log-level"];
  if (logLevel !== "debug" && logLevel !== "info" && logLevel !== "warn" && logLevel !== "error") {
    throw new FlagError(`--log-level must be debug, info, warn or error (got "${logLevel}")`);
  }
  const drainTimeout = seconds("drain-timeout", values["drain-timeout"]!, 0, 86_400);
  const redis = values.redis;
  if (redis !== undefined && !/^rediss?:\/\/[^\s]+$/.test(redis)) {
    throw new FlagError(`--redis must be a redis:// or rediss:// URL (got "${redis}")`);
  }
  const publicUrl = values["public-url"];
  if (publicUrl !== undefined && !nodeUrl(publicUrl)) {
    throw new FlagError(
      `--public-url must be http(s)://host[:port] with no path (got "${publicUrl}")`,
    );
  }
  if (values.recordings !== "on" && values.recordings !== "off") {
    throw new FlagError(`--recordings must be on or off (got "${values.recordings}")`);
  }
  const udpIo = values["udp-io"];
  if (udpIo !== "auto" && udpIo !== "batched" && udpIo !== "deno") {
    throw new FlagError(`--udp-io must be auto, batched or deno (got "${udpIo}")`);
  }
  const count = (flag: string, raw: string, max: number) => {
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n < 1 || n > max) {
      throw new FlagError(`--${flag} must be a whole number from 1 to ${max} (got "${raw}")`);
    }
    return n;
  };
  const maxConnectionsPerAddress = count(
    "max-connections-per-address",
    values["max-connections-per-address"]!,
    1_000_000,
  );
  const maxConnections = count("max-connections", values["max-connections"]!, 1_000_000);
  const maxRecordingMinutes = count(
    "max-recording-minutes",
    values["max-recording-minutes"]!,
    24 * 60,
  );
  const headerTimeout = seconds("header-timeout", values["header-timeout"]!, 1, 300);
  const allowHosts = values["allow-host"]!;
  for (const name of allowHosts) {
    if (!/^[A-Za-z0-9._-]{1,253}$|^\[?[0-9A-Fa-f:.]{2,45}\]?$/.test(name)) {
      throw new FlagError(`--allow-host takes a host name without port (got "${name}")`);
    }
  }
  if ((values.cert === undefined) !== (values.key === undefined)) {
    throw new FlagError("--cert and --key go together");
  }
  if (values.cert !== undefined && values["self-signed"]) {
    throw new FlagError("use either --cert/--key or --self-signed");
  }
  return {
    host: values.host!,
    port: portOf("port", values.port!),
    udpPort: portOf("udp-port", values["udp-port"]!),
    quicPort: values["quic-port"] === undefined
      ? undefined
      : values["quic-port"] === "off"
      ? null
      : portOf("quic-port", values["quic-port"]),
    dataDir: values["data-dir"]!,
    graceSeconds: grace,
    mixSpeakers,
    p2p: values.p2p,
    udpIo,
    cert: values.cert,
    key: values.key,
    selfSigned: values["self-signed"]!,
    allowHosts,
    maxConnectionsPerAddress,
    maxConnections,
    headerTimeoutSeconds: headerTimeout,
    recordings: values.recordings === "on",
    maxRecordingMinutes,
    logFormat,
    logLevel,
    metricsTokenFile: values["metrics-token-file"],
    adminTokenFile: values["admin-token-file"],
    drainTimeoutSeconds: drainTimeout,
    redis,
    publicUrl,
    help: values.help!,
  };
}
