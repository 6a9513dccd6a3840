/**
 * A real server process for the UDP benchmarks (bench/udp_load.ts, bench/rtp_mix.ts):
 * `main.ts` with the permissions of `deno task start` (so it picks the Opus backend a real
 * start would: libopus through FFI where it loads, else wasm), on 127.0.0.1 with free HTTP and
 * UDP ports and its own temporary data directory. It reads the addresses and the Opus backend
 * from what the server prints, and keeps draining its output.
 *
 * @example
 * ```ts
 * const server = await startServerProcess({ args: ["--p2p", "off"] });
 * console.log(server.pid, server.url, server.udpPort, server.opus);
 * await server.stop();
 * ```
 * @module
 */

import { startTaskArgs } from "../tools/start_task.ts";
import { sleep, terminate } from "./_report.ts";

const ROOT = new URL("../", import.meta.url);

/** A running server. */
export interface ServerProcess {
  pid: number;
  /** `http://127.0.0.1:PORT/` (`https://` with `--self-signed`) */
  url: string;
  /** `ws://127.0.0.1:PORT/ws` (`wss://` with `--self-signed`) */
  wsUrl: string;
  /** With `--self-signed`: the server's certificate (PEM), for clients to trust. */
  certificate?: string;
  /** `fetch` of a path on the server (`api/meetings`), trusting its certificate. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  udpPort: number;
  /** The Opus line the server printed, e.g. `ffi (libopus 1.3.1; automatic: ...)`. */
  opus: string;
  /** `ffi` or `wasm`, from that line. */
  opusBackend: string;
  /** `batched` or `deno`: the server's UDP I/O (from its `UDP I/O:` line). */
  udpIo: string;
  /**
   * Stops it (SIGTERM, SIGKILL after 5 s) and removes its data directory (kept with
   * `keepData`, and always when it was given).
   */
  stop(options?: { keepData?: boolean }): Promise<void>;
}

/** Options of {@linkcode startServerProcess}. */
export interface ServerProcessOptions {
  /** More server flags, e.g. `["--p2p", "off"]`. */
  args?: string[];
  /** Environment for the server, e.g. `{ MEET_OPUS_BACKEND: "wasm" }`. */
  env?: Record<string, string>;
  /** Its data directory (kept when it stops); default: a new temporary one, removed. */
  dataDir?: string;
}

/** Starts `main.ts` as `deno task start` would, on free ports of 127.0.0.1. */
export async function startServerProcess(
  options: ServerProcessOptions = {},
): Promise<ServerProcess> {
  const ownDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? await Deno.makeTempDir({ prefix: "meet-bench-" });
  const child = new Deno.Command(new URL("deno", ROOT).pathname, {
    args: [
      ...startTaskArgs(),
      // e.g. MEET_BENCH_DENO_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the server
      ...(Deno.env.get("MEET_BENCH_DENO_FLAGS")?.split(/\s+/).filter(Boolean) ?? []),
      "main.ts",
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--udp-port",
      "0",
      "--grace",
      "1",
      "--data-dir",
      dataDir,
      ...(options.args ?? []),
    ],
    cwd: ROOT.pathname,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr: string[] = [];
  (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      stderr.push(chunk);
      if (stderr.length > 200) stderr.shift();
    }
  })().catch(() => {});
  const stop = async (keepData = false) => {
    await terminate(child, 5000);
    if (ownDir && !keepData) await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  };
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  const timeout = setTimeout(() => reader.cancel("timeout").catch(() => {}), 30_000);
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += value;
      const url = seen.match(/(https?:\/\/127\.0\.0\.1:\d+\/)/)?.[1];
      const udp = seen.match(/RTP over UDP on port (\d+)/)?.[1];
      const opus = seen.match(/Audio mixing: Opus (.+)\n/)?.[1];
      const udpIo = seen.match(/UDP I\/O: (.+)\n/)?.[1];
      if (url && udp && opus && udpIo) {
        clearTimeout(timeout);
        (async () => {
          while (!(await reader.read()).done) { /* discard */ }
        })().catch(() => {});
        const certificate = url.startsWith("https:")
          ? await Deno.readTextFile(`${dataDir}/tls/self-signed.crt`)
          : undefined;
        const client = certificate ? Deno.createHttpClient({ caCerts: [certificate] }) : undefined;
        return {
          pid: child.pid,
          url,
          wsUrl: url.replace("http", "ws") + "ws",
          certificate,
          fetch: (path, init) => fetch(url + path, { ...init, client }),
          stop: async (stopOptions) => {
            client?.close();
            await stop(stopOptions?.keepData);
          },
          udpPort: Number(udp),
          opus: opus.trim(),
          opusBackend: opus.trim().split(/\s/)[0],
          udpIo: udpIo.startsWith("batched") ? "batched" : "deno",
        };
      }
    }
  } catch { /* fall through */ }
  clearTimeout(timeout);
  await stop();
  throw new Error(`server did not start: ${seen}\n${stderr.join("")}`);
}

/** Creates a meeting over REST; resolves with its id and the creator's token. */
export async function createMeeting(
  server: ServerProcess,
  title: string,
): Promise<{ id: string; token: string }> {
  const res = await server.fetch(`api/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ title, name: "Bench" }),
  });
  if (res.status !== 201) throw new Error(`POST /api/meetings: ${res.status} ${await res.text()}`);
  const body = await res.json();
  return { id: body.id, token: body.token };
}

/** The media counters of some meetings, summed (see `MediaCounters` in server/media_room.ts). */
export interface MediaTotals {
  /** performance.now() in the middle of the reads. */
  at: number;
  received: number;
  forwardedVideo: number;
  forwardedAudio: number;
  forwardedRtcp: number;
  congested: number;
  waitingKeyframe: number;
  lateAudio: number;
  keyframeRequests: number;
}

/** Reads `GET /api/meetings/:id` of each meeting and sums its `media` counters. */
export async function mediaTotals(server: ServerProcess, ids: string[]): Promise<MediaTotals> {
  const t0 = performance.now();
  const total: MediaTotals = {
    at: 0,
    received: 0,
    forwardedVideo: 0,
    forwardedAudio: 0,
    forwardedRtcp: 0,
    congested: 0,
    waitingKeyframe: 0,
    lateAudio: 0,
    keyframeRequests: 0,
  };
  for (const id of ids) {
    const res = await server.fetch(`api/meetings/${id}`);
    const m = (await res.json()).media;
    if (!m) continue;
    total.received += m.received.packets;
    total.forwardedVideo += m.forwarded.video.packets;
    total.forwardedAudio += m.forwarded.audio.packets;
    total.forwardedRtcp += m.forwarded.rtcp.packets;
    total.congested += m.dropped.congested;
    total.waitingKeyframe += m.dropped.waitingKeyframe;
    total.lateAudio += m.dropped.lateAudio;
    total.keyframeRequests += m.keyframeRequests;
  }
  total.at = (t0 + performance.now()) / 2;
  return total;
}

/** Differences of two readings. */
export function mediaDelta(after: MediaTotals, before: MediaTotals): MediaTotals {
  const out = { ...after };
  for (const key of Object.keys(out) as (keyof MediaTotals)[]) out[key] -= before[key];
  return out;
}

/** A free UDP port on 127.0.0.1 (bound and released: another process could take it). */
export function freeUdpPort(): number {
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const port = (socket.addr as Deno.NetAddr).port;
  socket.close();
  return port;
}

/** The 1, 5 and 15 minute load averages (empty when unreadable). */
export function loadAverage(): number[] {
  try {
    return Deno.loadavg().map((x) => Math.round(x * 100) / 100);
  } catch {
    return [];
  }
}

/** "1.23 0.98 0.50" */
export function loadText(load: number[]): string {
  return load.length ? load.map((x) => x.toFixed(2)).join(" ") : "-";
}

/**
 * Waits (up to `maxMs`) for a second in which the machine outside `ownMs()` (our processes'
 * CPU time so far, ms) is busy less than `percent` of one core; resolves with the last
 * reading (% of one core).
 */
export async function waitForQuiet(
  ownMs: () => number,
  busyMs: () => number,
  maxMs: number,
  percent = 15,
): Promise<number> {
  const until = performance.now() + maxMs;
  let others = NaN;
  do {
    const machine0 = busyMs();
    const own0 = ownMs();
    const t0 = performance.now();
    await sleep(1000);
    others = ((busyMs() - machine0 - (ownMs() - own0)) / (performance.now() - t0)) * 100;
  } while (others >= percent && performance.now() < until);
  return others;
}

/**
 * Datagrams the kernel dropped so far because a socket's receive buffer was full, summed over
 * the IPv4 UDP sockets bound to `ports` (from /proc/net/udp, this network namespace); NaN
 * when unreadable. Closed sockets no longer count: read it while they are open.
 */
export function udpReceiveDrops(ports: Set<number>): number {
  try {
    let drops = 0;
    for (const line of Deno.readTextFileSync("/proc/net/udp").split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 13) continue;
      const port = parseInt(fields[1].split(":")[1], 16);
      if (ports.has(port)) drops += Number(fields[12]);
    }
    return drops;
  } catch {
    return NaN;
  }
}
