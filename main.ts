/**
 * Starts the meeting server: `deno task start [--port 8000] [--data-dir ./data] ...`.
 * Prints its address. SIGINT stops it at once, cleanly; SIGTERM drains it (no new meetings,
 * the live ones go on; it stops once they end or after `--drain-timeout`), and a second
 * SIGTERM stops it at once.
 *
 * @module
 */

import { FlagError, parseFlags, USAGE } from "./server/config.ts";
import { join } from "node:path";
import { opusBackendInfo } from "./media/opus.ts";
import { PortInUseError, startServer } from "./server/server.ts";
import { loadCertificate, localNames, selfSignedCertificate, type TlsFiles } from "./server/tls.ts";
import { configureLog, log } from "./util/log.ts";

/** A token read from a file: its first line, at least 16 characters. */
function readToken(path: string, flag: string): string {
  const token = Deno.readTextFileSync(path).split("\n")[0].trim();
  if (token.length < 16) {
    throw new Error(`${flag}: the token in ${path} must be 16 characters or more`);
  }
  return token;
}

async function main(): Promise<number> {
  let config;
  try {
    config = parseFlags(Deno.args);
  } catch (err) {
    if (err instanceof FlagError) {
      console.error(`error: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    throw err;
  }
  if (config.help) {
    console.log(USAGE);
    return 0;
  }
  configureLog({ format: config.logFormat, level: config.logLevel });
  let tls: TlsFiles | undefined;
  let metricsToken: string | undefined;
  let adminToken: string | undefined;
  try {
    if (config.metricsTokenFile) {
      metricsToken = readToken(config.metricsTokenFile, "--metrics-token-file");
    }
    if (config.adminTokenFile) adminToken = readToken(config.adminTokenFile, "--admin-token-file");
    if (config.cert && config.key) tls = await loadCertificate(config.cert, config.key);
    if (config.selfSigned) {
      tls = await selfSignedCertificate(join(config.dataDir, "tls"), localNames([config.host]));
    }
  } catch (err) {
    console.error(`error: ${(err as Error).message}`);
    return 1;
  }
  let server;
  try {
    server = await startServer({
      hostname: config.host,
      port: config.port,
      dataDir: config.dataDir,
      graceMs: config.graceSeconds * 1000,
      mixSpeakers: config.mixSpeakers,
      udpPort: config.udpPort,
      quicPort: config.quicPort,
      p2p: config.p2p,
      udpIo: config.udpIo,
      tls,
      allowHosts: config.allowHosts,
      maxConnectionsPerAddress: config.maxConnectionsPerAddress,
      maxConnections: config.maxConnections,
      headerTimeoutMs: config.headerTimeoutSeconds * 1000,
      recordings: config.recordings,
      maxRecordingMinutes: config.maxRecordingMinutes,
      metricsToken,
      adminToken,
      redis: config.redis,
      publicUrl: config.publicUrl,
    });
  } catch (err) {
    if (err instanceof PortInUseError) {
      console.error(
        `error: ${err.flag} ${err.port} is already in use; pick another with ${err.flag}`,
      );
      return 1;
    }
    console.error(`error: ${(err as Error).message}`);
    return 1;
  }
  const scheme = tls ? "https" : "http";
  const shown = config.host === "0.0.0.0" ? `${scheme}://localhost:${server.port}/` : server.url;
  log.info(
    "listening",
    `Meet is running at ${shown}  (RTP over UDP on port ${server.udpPort}, records in ${config.dataDir})`,
  );
  log.info(
    "webtransport",
    server.quicPort === null
      ? "WebTransport: off (browsers send media on the WebSocket)"
      : `WebTransport: UDP port ${server.quicPort} (browsers' media over QUIC datagrams; ${
        tls ? "the server's certificate" : "a short-lived certificate pinned by hash"
      })`,
  );
  const opus = opusBackendInfo();
  log.info("opus", `Audio mixing: Opus ${opus.name} (${opus.version}; ${opus.reason})`);
  const io = server.udp.ioStats;
  log.info(
    "udp_io",
    io.kind === "batched"
      ? `UDP I/O: batched (sendmmsg/recvmmsg through libc), receive buffer ${
        Math.round((io.receiveBufferBytes ?? 0) / 1024)
      } KiB as the kernel counts it (net.core.rmem_max caps it)`
      : `UDP I/O: one Deno op per datagram${
        io.fallbackReason ? ` (batched unavailable: ${io.fallbackReason})` : ""
      }`,
  );
  if (metricsToken) log.info("metrics", "Metrics: GET /metrics with the metrics token");
  if (server.cluster) {
    log.info(
      "cluster",
      `Cluster: node ${server.cluster.nodeId} at ${server.cluster.url}, ${server.cluster.nodes.length} node(s) live`,
    );
  }
  if (tls && config.selfSigned) {
    log.info(
      "self_signed",
      `Self-signed certificate: ${tls.certPath}\n  SHA-256 ${tls.fingerprint}\n` +
        `  Browsers will warn once; check the fingerprint and proceed, or import the ` +
        `certificate as trusted on each device. Valid 14 days, renewed at start.`,
    );
  }
  const stopped = Promise.withResolvers<void>();
  const stop = () => stopped.resolve();
  Deno.addSignalListener("SIGINT", stop);
  let terms = 0;
  Deno.addSignalListener("SIGTERM", () => {
    if (++terms > 1) return stop(); // a second SIGTERM: at once
    server.drain();
  });
  // Draining (SIGTERM or the admin's POST): stop once the live meetings end, or at the timeout.
  server.drained.then(stop);
  let drainTimer: ReturnType<typeof setTimeout> | undefined;
  const watchDrain = setInterval(() => {
    if (server.hub.draining && drainTimer === undefined) {
      drainTimer = setTimeout(stop, config.drainTimeoutSeconds * 1000);
    }
  }, 500);
  await stopped.promise;
  clearInterval(watchDrain);
  clearTimeout(drainTimer);
  log.info("stopping", "Shutting down…");
  await server.close();
  log.info("stopped", "Stopped.");
  return 0;
}

Deno.exit(await main());
