/**
 * Janus 1.1.2 (Debian package `janus`, `/usr/bin/janus`) as a plain-RTP video forwarder, to
 * compare our server's forwarding CPU with Janus's on the same workload: S senders of plain RTP
 * VP8 on 127.0.0.1, and R receivers (UDP ports on 127.0.0.1) that each get every sender's
 * packets, one copy per receiver.
 *
 * How: the VideoRoom plugin's remote publishers (`add_remote_publisher`, new in 1.1) take plain
 * RTP in, and `rtp_forward` sends plain RTP out, all over the HTTP API (`janus.transport.http`).
 * Janus runs from its own config dir in a fresh temp dir, whose plugin and transport folders
 * hold symlinks to the VideoRoom plugin and the HTTP transport only (so no other plugin,
 * transport, logger or event handler is even loaded), HTTP on a free port of 127.0.0.1, ICE
 * gathering limited to `lo`, logs to `janus.log` in that dir.
 *
 * Each sender is one remote publisher with its own UDP port (so its own receiving thread in
 * Janus, as a WebRTC publisher would have its own). What Janus 1.1.2 dictates:
 * - A remote publisher tells its streams apart by SSRC only: stream `mindex` k must arrive with
 *   SSRC `1000 + 10 k` (`REMOTE_PUBLISHER_BASE_SSRC`/`_SSRC_STEP` in janus_videoroom.c);
 *   packets with other SSRCs are dropped (with a warning logged per packet). So that senders
 *   still have distinct SSRCs, publisher i declares i + 1 VP8 video streams, the first i of them
 *   disabled placeholders that never receive anything, and sender i sends as stream i: its SSRC
 *   must be `senderSsrcs[i]` = `1000 + 10 i`.
 * - `rtp_forward` (one forwarder per receiver, all sharing the publisher's one sending socket)
 *   rewrites nothing unless told to (no `ssrc`/`pt` is given here): SSRC, sequence number,
 *   timestamp, payload type, and payload arrive as sent. It does not wait for keyframes.
 * - Remote publisher RTP/RTCP ports: 1.1.2's VideoRoom ignores the core's `rtp_port_range`
 *   (its own range is fixed at 10000-60000), so this module picks free ports itself (bound on
 *   127.0.0.1 first, then released) and passes them as `port`/`rtcp_port`, with `iface`
 *   127.0.0.1 so Janus binds loopback only. Nothing else allocates ports (no ICE, no RTCP port
 *   for forwarders).
 * - Forwarding runs in each remote publisher's receiving thread: per packet in, one `sendto`
 *   per forwarder from the same buffer (header fields are only restored after each send).
 * - The HTTP session gets a keepalive every 15 s (Janus drops idle sessions after 60 s; the
 *   room and forwarders would outlive it anyway, being the plugin's, not the session's).
 *
 * @example
 * ```ts ignore
 * const janus = await startJanusFanout({ senders: 2, receiverPorts: [40000, 40001] });
 * // sender i: RTP to 127.0.0.1:janus.senderPorts[i] with SSRC janus.senderSsrcs[i]
 * console.log(janus.pid, janus.senderPorts, janus.senderSsrcs);
 * await janus.stop();
 * ```
 * @module
 */

import { terminate } from "./_report.ts";

/** The Janus binary (Debian package `janus`). */
const JANUS_BIN = "/usr/bin/janus";
const JANUS_LIB = "/usr/lib/x86_64-linux-gnu/janus";
/** SSRC of a remote publisher's stream 0; stream k is this + 10 k (janus_videoroom.c, 1.1.2). */
const REMOTE_PUBLISHER_BASE_SSRC = 1000;
const REMOTE_PUBLISHER_SSRC_STEP = 10;
const ROOM = 1234;

/**
 * Options of {@linkcode startJanusFanout}.
 *
 * @example
 * ```ts ignore
 * const options: JanusFanoutOptions = { senders: 4, receiverPorts: [40000, 40001, 40002] };
 * const janus = await startJanusFanout(options);
 * ```
 */
export interface JanusFanoutOptions {
  /** How many senders (remote publishers), S. */
  senders: number;
  /** The receivers, R UDP ports on 127.0.0.1: each gets every sender's packets. */
  receiverPorts: number[];
  /** Janus's `debug_level` (0-7), default 4 (requests, no per-packet logs). */
  debugLevel?: number;
  /** Deadline of the whole start, ms (default 20 000). */
  startTimeoutMs?: number;
}

/**
 * A running Janus forwarding S senders to R receivers.
 *
 * @example
 * ```ts ignore
 * const janus: JanusFanout = await startJanusFanout({ senders: 1, receiverPorts: [40000] });
 * processCpuMs(janus.pid); // its CPU so far (bench/_report.ts)
 * await janus.stop();
 * ```
 */
export interface JanusFanout {
  pid: number;
  /** Where sender i must send its RTP, on 127.0.0.1. */
  senderPorts: number[];
  /**
   * The SSRC sender i must use (`1000 + 10 i`): Janus 1.1.2's remote publishers drop any other.
   * Receivers get it unchanged.
   */
  senderSsrcs: number[];
  /** Janus's own RTCP port of sender i's remote publisher (for PLIs back; unused here). */
  senderRtcpPorts: number[];
  /** Janus's log file (in its temp dir, gone after stop()). */
  logFile: string;
  /** Stops the keepalive, ends Janus (SIGTERM, SIGKILL after 5 s) and removes its temp dir. */
  stop(): Promise<void>;
}

/**
 * Starts Janus with a VideoRoom room of S remote publishers (plain RTP VP8, pt 96, on
 * `senderPorts`) and S x R plain-RTP forwarders, one to each receiver port for each publisher.
 * Resolves once all are set up; rejects (after stopping Janus) if any step misses its deadline
 * or fails.
 *
 * @example
 * ```ts ignore
 * const rx = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
 * const janus = await startJanusFanout({
 *   senders: 1,
 *   receiverPorts: [(rx.addr as Deno.NetAddr).port],
 * });
 * const tx = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
 * const rtp = new Uint8Array([0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0]);
 * new DataView(rtp.buffer).setUint32(8, janus.senderSsrcs[0]);
 * await tx.send(rtp, { transport: "udp", hostname: "127.0.0.1", port: janus.senderPorts[0] });
 * const [packet] = await rx.receive(); // the same bytes
 * await janus.stop();
 * ```
 */
export async function startJanusFanout(options: JanusFanoutOptions): Promise<JanusFanout> {
  const { senders, receiverPorts } = options;
  if (!Number.isInteger(senders) || senders < 1) throw new Error(`senders: ${senders}`);
  for (const p of receiverPorts) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new Error(`receiver port: ${p}`);
  }
  try {
    await Deno.stat(JANUS_BIN);
  } catch {
    throw new Error(`${JANUS_BIN} is missing: apt-get install -y janus`);
  }
  const deadline = Date.now() + (options.startTimeoutMs ?? 20_000);
  const left = () => Math.max(0, deadline - Date.now());

  const dir = await Deno.makeTempDir({ prefix: "meet-bench-janus-" });
  const logFile = `${dir}/janus.log`;
  const httpPort = freeTcpPort();
  await writeConfig(dir, httpPort, options.debugLevel ?? 4);

  const child = new Deno.Command(JANUS_BIN, {
    args: ["-C", `${dir}/janus.jcfg`, "-F", dir, "-N", "-L", logFile],
    cwd: dir,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      stderr = (stderr + chunk).slice(-4000);
    }
  })().catch(() => {});
  let exited = false;
  child.status.then(() => exited = true);

  let keepalive: ReturnType<typeof setInterval> | undefined;
  let stopped: Promise<void> | undefined;
  const stop = () =>
    stopped ??= (async () => {
      clearInterval(keepalive);
      await terminate(child, 5000);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    })();

  try {
    const base = `http://127.0.0.1:${httpPort}/janus`;
    // Wait for the HTTP API.
    while (true) {
      if (exited) throw new Error("janus exited during start");
      try {
        const res = await fetch(`${base}/info`, { signal: AbortSignal.timeout(500) });
        const info = await res.json();
        if (info.janus === "server_info") {
          if (!info.plugins?.["janus.plugin.videoroom"]) {
            throw new Error(`videoroom plugin not loaded: ${JSON.stringify(info.plugins)}`);
          }
          break;
        }
      } catch (e) {
        if (e instanceof Error && e.message.startsWith("videoroom")) throw e;
      }
      if (left() === 0) throw new Error("janus HTTP API did not answer in time");
      await new Promise((r) => setTimeout(r, 50));
    }
    const api = janusApi(base, left);
    const session = (await api.post("", { janus: "create" })).data.id as number;
    keepalive = setInterval(() => {
      api.post(`/${session}`, { janus: "keepalive" }, 10_000).catch(() => {});
    }, 15_000);
    const handle = (await api.post(`/${session}`, {
      janus: "attach",
      plugin: "janus.plugin.videoroom",
    })).data.id as number;
    const videoroom = async (body: Record<string, unknown>) => {
      const res = await api.post(`/${session}/${handle}`, { janus: "message", body });
      const data = res.plugindata?.data;
      if (!data || data.error_code) {
        throw new Error(`videoroom ${body.request}: ${JSON.stringify(res)}`);
      }
      return data;
    };
    await videoroom({
      request: "create",
      room: ROOM,
      permanent: false,
      description: "bench fan-out",
      publishers: senders + 16,
      bitrate: 0,
      fir_freq: 0,
      audiocodec: "opus",
      videocodec: "vp8",
      record: false,
      notify_joining: false,
    });

    const senderPorts: number[] = [];
    const senderRtcpPorts: number[] = [];
    const senderSsrcs: number[] = [];
    const publisherIds: number[] = [];
    for (let i = 0; i < senders; i++) {
      const streams = Array.from({ length: i + 1 }, (_, k) => ({
        type: "video",
        mindex: k,
        mid: String(k),
        codec: "vp8",
        // Placeholders so that this sender's stream, and so its SSRC, is number i.
        ...(k < i ? { disabled: true } : {}),
      }));
      // Free ports of ours: 1.1.2's VideoRoom has a fixed range of its own, 10000-60000.
      let added: Record<string, unknown> | undefined;
      for (let attempt = 0; !added; attempt++) {
        const [port, rtcpPort] = freeUdpPorts(2);
        try {
          added = await videoroom({
            request: "add_remote_publisher",
            room: ROOM,
            id: 1000 + i,
            display: `sender ${i}`,
            iface: "127.0.0.1",
            port,
            rtcp_port: rtcpPort,
            streams,
          });
        } catch (e) {
          if (attempt >= 2) throw e; // e.g. someone took the port meanwhile
        }
      }
      publisherIds.push(added.id as number);
      senderPorts.push(added.port as number);
      senderRtcpPorts.push(added.rtcp_port as number);
      senderSsrcs.push(REMOTE_PUBLISHER_BASE_SSRC + i * REMOTE_PUBLISHER_SSRC_STEP);
    }
    for (let i = 0; i < senders; i++) {
      if (receiverPorts.length === 0) break;
      const request = {
        request: "rtp_forward",
        room: ROOM,
        publisher_id: publisherIds[i],
        host: "127.0.0.1",
        host_family: "ipv4",
        streams: receiverPorts.map((port) => ({ mid: String(i), port })),
      };
      // The remote publisher joins the room from its own thread: until then, "No such feed".
      let forwarders: unknown[] | undefined;
      while (!forwarders) {
        try {
          forwarders = (await videoroom(request)).forwarders as unknown[];
        } catch (e) {
          if (!String(e).includes('"error_code":428') || left() === 0) throw e;
          await new Promise((r) => setTimeout(r, 20));
        }
      }
      if (forwarders.length !== receiverPorts.length) {
        throw new Error(`rtp_forward of sender ${i}: ${JSON.stringify(forwarders)}`);
      }
    }
    return {
      pid: child.pid,
      senderPorts,
      senderSsrcs,
      senderRtcpPorts,
      logFile,
      stop,
    };
  } catch (e) {
    const log = await Deno.readTextFile(logFile).catch(() => "");
    await stop();
    throw new Error(
      `janus fan-out did not start: ${e instanceof Error ? e.message : e}\n` +
        `--- janus.log (end) ---\n${log.slice(-3000)}\n--- stderr ---\n${stderr}`,
    );
  }
}

// deno-lint-ignore no-explicit-any
type JanusReply = Record<string, any>;

/** POSTs of Janus API messages, each with a transaction id, checked, with a deadline. */
function janusApi(base: string, left: () => number) {
  let n = 0;
  return {
    async post(
      path: string,
      message: Record<string, unknown>,
      timeoutMs?: number,
    ): Promise<JanusReply> {
      const transaction = `t${++n}`;
      const res = await fetch(base + path, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ...message, transaction }),
        signal: AbortSignal.timeout(timeoutMs ?? Math.max(1, left())),
      });
      const body = await res.json();
      if (body.janus === "error" || body.transaction !== transaction) {
        throw new Error(`janus ${message.janus}: ${JSON.stringify(body)}`);
      }
      return body;
    },
  };
}

/** Writes janus.jcfg, the HTTP transport's and VideoRoom's configs, and the module folders. */
async function writeConfig(dir: string, httpPort: number, debugLevel: number) {
  for (const sub of ["plugins", "transports", "events", "loggers"]) {
    await Deno.mkdir(`${dir}/${sub}`);
  }
  // Only these two modules are loaded: Janus loads every .so of its folders.
  await Deno.symlink(
    `${JANUS_LIB}/plugins/libjanus_videoroom.so`,
    `${dir}/plugins/libjanus_videoroom.so`,
  );
  await Deno.symlink(
    `${JANUS_LIB}/transports/libjanus_http.so`,
    `${dir}/transports/libjanus_http.so`,
  );
  await Deno.writeTextFile(
    `${dir}/janus.jcfg`,
    `general: {
	configs_folder = "${dir}"
	plugins_folder = "${dir}/plugins"
	transports_folder = "${dir}/transports"
	events_folder = "${dir}/events"
	loggers_folder = "${dir}/loggers"
	debug_level = ${debugLevel}
	session_timeout = 60
}
certificates: {
}
media: {
}
nat: {
	ice_enforce_list = "lo"
	ignore_mdns = true
}
plugins: {
}
transports: {
}
loggers: {
}
events: {
	broadcast = false
}
`,
  );
  await Deno.writeTextFile(
    `${dir}/janus.transport.http.jcfg`,
    `general: {
	events = false
	json = "compact"
	base_path = "/janus"
	http = true
	port = ${httpPort}
	ip = "127.0.0.1"
	https = false
}
admin: {
	admin_http = false
	admin_https = false
}
`,
  );
  await Deno.writeTextFile(
    `${dir}/janus.plugin.videoroom.jcfg`,
    `general: {
	events = false
}
`,
  );
}

/** A TCP port of 127.0.0.1 that was free a moment ago. */
function freeTcpPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** `n` distinct UDP ports of 127.0.0.1 that were free a moment ago. */
function freeUdpPorts(n: number): number[] {
  const sockets = Array.from(
    { length: n },
    () => Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 }),
  );
  const ports = sockets.map((s) => (s.addr as Deno.NetAddr).port);
  for (const s of sockets) s.close();
  return ports;
}
