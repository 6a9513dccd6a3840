/**
 * Plain-RTP mixing benchmark: one meeting of ffmpeg processes, each a plain-RTP participant
 * sending Opus, and the CPU the server process spends on them (the target: 30 participants
 * under 10% of one core).
 *
 * The server is `main.ts` in its own process with the permissions of `deno task start`, so it
 * picks the Opus backend a real start picks (libopus through FFI where it loads, else wasm;
 * it prints which). Tones of a few frequencies are encoded once to Ogg Opus files (48 kHz
 * mono, 32 kb/s, 20 ms frames); each participant is registered with
 * `POST /api/meetings/:id/rtp` (`audioPayloadType` 111) and then sends its file looped, in real
 * time, without re-encoding, from the port it registered:
 *
 *     ffmpeg -re -stream_loop -1 -i tone.opus -t <s> -c:a copy -payload_type 111 -f rtp
 *       "udp://127.0.0.1:<server UDP port>?localport=<port>&reuse=1"
 *
 * Each gets its mix at one UDP socket of this benchmark (`receivePort`), which counts them.
 * Participants are added in stages (10, then 30 by default); each stage has a warm-up and a
 * measurement window: server CPU from /proc/<pid>/stat (process and main thread), CPU per
 * 20 ms mixer tick, the ffmpeg processes' CPU, the server's media counters (`GET
 * /api/meetings/:id`: packets in, mix packets out, late audio), kernel drops at the server's
 * socket, and the load average before and after. A first row measures the server idle (the
 * meeting empty); then the largest stage is repeated with the other Opus backend
 * (`MEET_OPUS_BACKEND`) and with `--udp-io deno` (one Deno op per datagram instead of the
 * batched system calls).
 *
 * Usage:
 *   deno run --allow-all bench/rtp_mix.ts [--quick] [--counts=10,30] [--window-ms=N]
 *     [--no-other-backend] [--no-deno-io] [--json]
 *
 * @module
 */

import process from "node:process";
import {
  fmt,
  machine,
  machineBusyMs,
  machineLine,
  processCpuMs,
  sleep,
  table,
  terminate,
} from "./_report.ts";
import { haveFfmpeg, makeOpusTones } from "./_media_files.ts";
import {
  createMeeting,
  freeUdpPort,
  loadAverage,
  loadText,
  mediaDelta,
  mediaTotals,
  type ServerProcess,
  startServerProcess,
  udpReceiveDrops,
  waitForQuiet,
} from "./_server_process.ts";

/** The issue's target: 30 plain-RTP participants under this share of one core. */
export const RTP_TARGET_PERCENT = 10;
/** Stages by default: participants in the meeting. */
export const DEFAULT_COUNTS = [10, 30];
const MAX_PARTICIPANTS = 60;
const TONES_HZ = [220, 330, 440, 550, 660, 770];
const TICK_MS = 20;

/** Options of {@linkcode runRtpMixBench}. */
export interface RtpMixOptions {
  counts?: number[];
  windowMs?: number;
  warmupMs?: number;
  /** Repeat the largest stage with the other Opus backend (default true). */
  otherBackend?: boolean;
  /** Repeat the largest stage with `--udp-io deno`, one Deno op per datagram (default true). */
  denoIo?: boolean;
  log?: (line: string) => void;
}

/** One measured stage. */
export interface RtpMixRow {
  /** `ffi` or `wasm`. */
  backend: string;
  /** Whether the backend was forced with MEET_OPUS_BACKEND (else the server's own choice). */
  forced: boolean;
  /** The server's UDP I/O: `batched` (its default where it works) or `deno`. */
  udpIo: string;
  senders: number;
  windowMs: number;
  /** Measurements made (a disturbed one is made again, up to 3 in all; shown: the last). */
  attempts: number;
  serverCpuPercent: number;
  serverMainThreadPercent: number;
  /** Server CPU per 20 ms of wall time, microseconds. */
  cpuPerTickUs: number;
  /** All the ffmpeg senders together, and per sender, % of one core. */
  ffmpegCpuPercent: number;
  ffmpegPerSenderPercent: number;
  benchCpuPercent: number;
  otherCpuPercent: number;
  /** Packets the server took from the senders, per second (50 per sender expected). */
  receivedPerSecond: number;
  /** Mix packets the server sent, and the benchmark received, per second. */
  mixSentPerSecond: number;
  mixReceivedPerSecond: number;
  /** Audio packets dropped as too late for the jitter buffer, in the window. */
  lateAudio: number;
  /** Datagrams the kernel dropped at the server's socket in the window. */
  serverSocketDrops: number;
  loadBefore: number[];
  loadAfter: number[];
}

/** The whole result. */
export interface RtpMixResult {
  machine: ReturnType<typeof machine>;
  /** What the server printed about Opus, by backend. */
  opus: Record<string, string>;
  /** The server's default choice. */
  defaultBackend: string;
  rows: RtpMixRow[];
  /** The server idle with an empty meeting, % of one core. */
  idleCpuPercent: number;
  target: { percent: number; senders: number; measured: number; met: boolean } | null;
  loadBefore: number[];
  loadAfter: number[];
  note: string;
}

interface Sender {
  child: Deno.ChildProcess;
  participantId: string;
}

/** Other processes took a good part of the CPU during the window. */
function disturbed(r: Pick<RtpMixRow, "otherCpuPercent" | "serverSocketDrops">): boolean {
  return r.otherCpuPercent > 40 || r.serverSocketDrops > 0;
}

/** Registers a plain-RTP participant and starts its ffmpeg. */
async function addSender(
  server: ServerProcess,
  meeting: { id: string; token: string },
  index: number,
  tone: string,
  receivePort: number,
  maxSeconds: number,
): Promise<Sender> {
  const port = freeUdpPort();
  const res = await fetch(`${server.url}api/meetings/${meeting.id}/rtp`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${meeting.token}` },
    body: JSON.stringify({
      name: `ffmpeg ${index + 1}`,
      ip: "127.0.0.1",
      port,
      audioPayloadType: 111,
      receivePort,
    }),
  });
  if (res.status !== 201) throw new Error(`POST rtp: ${res.status} ${await res.text()}`);
  const { participantId } = await res.json();
  const child = new Deno.Command("ffmpeg", {
    args: [
      "-hide_banner",
      "-loglevel",
      "error",
      "-nostdin",
      "-re",
      "-stream_loop",
      "-1",
      "-i",
      tone,
      "-t",
      String(Math.ceil(maxSeconds)),
      "-c:a",
      "copy",
      "-payload_type",
      "111",
      "-f",
      "rtp",
      "-sdp_file",
      "/dev/null",
      `udp://127.0.0.1:${server.udpPort}?localport=${port}&reuse=1`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  return { child, participantId };
}

async function stopSenders(senders: Sender[]): Promise<void> {
  await Promise.all(senders.map(({ child }) => terminate(child, 3000)));
}

/** Counts datagrams arriving at a socket of this process until closed. */
function mixCounter(): { port: number; count(): number; close(): Promise<void> } {
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  let received = 0;
  let closed = false;
  const loop = (async () => {
    const buffer = new Uint8Array(1500);
    while (!closed) {
      try {
        await socket.receive(buffer);
        received++;
      } catch {
        if (closed) return;
      }
    }
  })();
  return {
    port: (socket.addr as Deno.NetAddr).port,
    count: () => received,
    close: async () => {
      closed = true;
      try {
        socket.close();
      } catch { /* closed */ }
      await loop;
    },
  };
}

async function measure(
  server: ServerProcess,
  meetingId: string,
  senders: Sender[],
  mix: ReturnType<typeof mixCounter>,
  windowMs: number,
): Promise<Omit<RtpMixRow, "backend" | "forced" | "udpIo" | "loadBefore">> {
  const ffmpegCpu = () => senders.reduce((a, s) => a + (processCpuMs(s.child.pid) || 0), 0);
  const ownCpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const ports = new Set([server.udpPort]);
  const before = await mediaTotals(server, [meetingId]);
  const drops0 = udpReceiveDrops(ports);
  const machine0 = machineBusyMs();
  const cpu0 = processCpuMs(server.pid);
  const main0 = processCpuMs(server.pid, server.pid);
  const ffmpeg0 = ffmpegCpu();
  const own0 = ownCpu();
  const mix0 = mix.count();
  const wall0 = performance.now();
  await sleep(windowMs);
  const wallMs = performance.now() - wall0;
  const cpuMs = processCpuMs(server.pid) - cpu0;
  const mainMs = processCpuMs(server.pid, server.pid) - main0;
  const ffmpegMs = ffmpegCpu() - ffmpeg0;
  const ownMs = ownCpu() - own0;
  const machineMs = machineBusyMs() - machine0;
  const mixReceived = mix.count() - mix0;
  const drops = udpReceiveDrops(ports) - drops0;
  const delta = mediaDelta(await mediaTotals(server, [meetingId]), before);
  const seconds = wallMs / 1000;
  const counterSeconds = delta.at / 1000;
  return {
    senders: senders.length,
    windowMs,
    attempts: 1,
    serverCpuPercent: (cpuMs / wallMs) * 100,
    serverMainThreadPercent: (mainMs / wallMs) * 100,
    cpuPerTickUs: (cpuMs * 1000) / (wallMs / TICK_MS),
    ffmpegCpuPercent: (ffmpegMs / wallMs) * 100,
    ffmpegPerSenderPercent: senders.length ? (ffmpegMs / wallMs) * 100 / senders.length : NaN,
    benchCpuPercent: (ownMs / wallMs) * 100,
    otherCpuPercent: ((machineMs - cpuMs - ffmpegMs - ownMs) / wallMs) * 100,
    receivedPerSecond: delta.received / counterSeconds,
    mixSentPerSecond: delta.forwardedAudio / counterSeconds,
    mixReceivedPerSecond: mixReceived / seconds,
    lateAudio: delta.lateAudio,
    serverSocketDrops: drops,
    loadAfter: loadAverage(),
  };
}

/** One server: stages of growing meetings (and the idle server first when asked). */
async function runBackend(
  tones: string[],
  counts: number[],
  windowMs: number,
  warmupMs: number,
  env: Record<string, string> | undefined,
  measureIdle: boolean,
  log: (line: string) => void,
  args: string[] = [],
): Promise<{ opus: string; backend: string; rows: RtpMixRow[]; idle: number }> {
  const server = await startServerProcess({ env, args });
  log(`rtp: server pid ${server.pid}, UDP ${server.udpPort}, Opus ${server.opus}`);
  const senders: Sender[] = [];
  const mix = mixCounter();
  const rows: RtpMixRow[] = [];
  let idle = NaN;
  // Every ffmpeg stops by itself after this long, whatever happens here.
  const maxSeconds = (counts.length * (warmupMs + windowMs + 25_000)) / 1000 + 30;
  const forced = env?.MEET_OPUS_BACKEND !== undefined;
  try {
    const meeting = await createMeeting(server, "rtp mix bench");
    const own = () => {
      const u = process.cpuUsage();
      const ffmpeg = senders.reduce((a, s) => a + (processCpuMs(s.child.pid) || 0), 0);
      return processCpuMs(server.pid) + ffmpeg + (u.user + u.system) / 1000;
    };
    if (measureIdle) {
      await waitForQuiet(own, machineBusyMs, 10_000);
      const r = await measure(server, meeting.id, senders, mix, Math.min(windowMs, 3000));
      idle = r.serverCpuPercent;
      log(`rtp: idle server ${fmt(idle, 2)}% of a core`);
    }
    for (const count of counts) {
      const others = await waitForQuiet(own, machineBusyMs, 20_000);
      if (others >= 15) log(`rtp: other processes busy (${fmt(others)}% of a core); going on`);
      const loadBefore = loadAverage();
      while (senders.length < count) {
        const i = senders.length;
        senders.push(
          await addSender(server, meeting, i, tones[i % tones.length], mix.port, maxSeconds),
        );
      }
      await sleep(warmupMs);
      let r = await measure(server, meeting.id, senders, mix, windowMs);
      // Measured again (the senders keep going) when other processes took the CPU.
      for (let attempt = 2; attempt <= 3 && disturbed(r); attempt++) {
        log(
          `rtp: ${count} senders: other processes used ${fmt(r.otherCpuPercent)}% of a core ` +
            `(kernel drops ${fmt(r.serverSocketDrops)}): again`,
        );
        await waitForQuiet(own, machineBusyMs, 20_000);
        r = { ...await measure(server, meeting.id, senders, mix, windowMs), attempts: attempt };
      }
      const row: RtpMixRow = {
        backend: server.opusBackend,
        forced,
        udpIo: server.udpIo,
        loadBefore,
        ...r,
      };
      rows.push(row);
      log(
        `rtp: ${count} ffmpeg senders, ${server.opusBackend}, ${server.udpIo} UDP I/O: server ${
          fmt(row.serverCpuPercent, 1)
        }% ` +
          `of a core, ffmpeg ${fmt(row.ffmpegCpuPercent)}%, in ${fmt(row.receivedPerSecond)} ` +
          `pkt/s, mix out ${fmt(row.mixSentPerSecond)} pkt/s`,
      );
    }
    return { opus: server.opus, backend: server.opusBackend, rows, idle };
  } finally {
    await stopSenders(senders);
    await mix.close();
    await server.stop();
  }
}

/** Runs the stages with the server's own Opus choice, then the largest with the other one. */
export async function runRtpMixBench(options: RtpMixOptions = {}): Promise<RtpMixResult> {
  const log = options.log ?? ((line: string) => console.error(line));
  const counts = [...new Set(options.counts ?? DEFAULT_COUNTS)]
    .filter((n) => n >= 1 && n <= MAX_PARTICIPANTS).sort((a, b) => a - b);
  const windowMs = Math.max(1000, Math.min(60_000, options.windowMs ?? 10_000));
  const warmupMs = Math.max(1000, Math.min(10_000, options.warmupMs ?? 3000));
  if (!(await haveFfmpeg())) {
    throw new Error("bench/rtp_mix.ts needs ffmpeg (apt-get install ffmpeg)");
  }
  const loadBefore = loadAverage();
  const dir = await Deno.makeTempDir({ prefix: "meet-rtp-bench-" });
  const opus: Record<string, string> = {};
  const rows: RtpMixRow[] = [];
  let idle = NaN;
  let defaultBackend = "";
  try {
    const tones = await makeOpusTones(dir, TONES_HZ);
    const first = await runBackend(tones, counts, windowMs, warmupMs, undefined, true, log);
    opus[first.backend] = first.opus;
    defaultBackend = first.backend;
    rows.push(...first.rows);
    idle = first.idle;
    const largest = counts.at(-1);
    if (options.otherBackend !== false && largest) {
      const other = first.backend === "ffi" ? "wasm" : "ffi";
      try {
        const second = await runBackend(
          tones,
          [largest],
          windowMs,
          warmupMs,
          {
            MEET_OPUS_BACKEND: other,
          },
          false,
          log,
        );
        opus[second.backend] = second.opus;
        rows.push(...second.rows);
      } catch (err) {
        log(`rtp: the ${other} backend could not run: ${(err as Error).message.split("\n")[0]}`);
      }
    }
    if (options.denoIo !== false && largest && first.rows[0]?.udpIo === "batched") {
      const deno = await runBackend(tones, [largest], windowMs, warmupMs, undefined, false, log, [
        "--udp-io",
        "deno",
      ]);
      rows.push(...deno.rows);
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  // The target is judged on the server as it starts by default, its own Opus and UDP I/O:
  // the first run's rows come first, and the repeats only measure a count it measured.
  const thirty = rows.find((r) => r.senders === 30);
  return {
    machine: machine(),
    opus,
    defaultBackend,
    rows,
    idleCpuPercent: idle,
    target: thirty
      ? {
        percent: RTP_TARGET_PERCENT,
        senders: 30,
        measured: thirty.serverCpuPercent,
        met: thirty.serverCpuPercent < RTP_TARGET_PERCENT,
      }
      : null,
    loadBefore,
    loadAfter: loadAverage(),
    note: `server = \`main.ts\` in its own process with the permissions of \`deno task start\` ` +
      `(default \`--mix-speakers 3\`); senders = one ffmpeg process per participant ` +
      `(\`-re -stream_loop -1 -c:a copy -f rtp\`, a pre-encoded Ogg Opus tone of ` +
      `${TONES_HZ.join(", ")} Hz in turn, 32 kb/s, 20 ms frames), each registered with POST ` +
      `/api/meetings/:id/rtp; every mix goes to one UDP socket of the benchmark. ` +
      `${fmt(warmupMs)} ms warm-up, ${fmt(windowMs)} ms window per row.`,
  };
}

/** The result as Markdown. */
export function formatRtpMix(result: RtpMixResult): string {
  const rows = result.rows.map((r) => [
    String(r.senders),
    `${r.backend}${r.forced ? " (forced)" : " (server's choice)"}`,
    r.udpIo,
    `**${fmt(r.serverCpuPercent, 1)}%** / ${fmt(r.serverMainThreadPercent, 1)}%`,
    fmt(r.cpuPerTickUs),
    `${fmt(r.ffmpegCpuPercent)}% (${fmt(r.ffmpegPerSenderPercent, 1)}% each)`,
    `${fmt(r.benchCpuPercent)}% / ${fmt(Math.max(0, r.otherCpuPercent))}%${
      disturbed(r) ? " (!)" : ""
    }`,
    `${fmt(r.receivedPerSecond)} / ${fmt(r.senders * 50)}`,
    `${fmt(r.mixSentPerSecond)} / ${fmt(r.mixReceivedPerSecond)}`,
    `${r.lateAudio} / ${fmt(r.serverSocketDrops)}`,
    `${loadText(r.loadBefore.slice(0, 1))} -> ${loadText(r.loadAfter.slice(0, 1))}`,
  ]);
  const out = [
    `Plain-RTP mixing (${result.note})`,
    "",
    `Opus on the server: ${
      Object.entries(result.opus).map(([name, line]) => `${name}: ${line}`).join("; ")
    }. Idle server (empty meeting): ${fmt(result.idleCpuPercent, 2)}% of one core.`,
    "",
    table(
      [
        "ffmpeg participants",
        "Opus backend",
        "UDP I/O",
        "server CPU: process / main thread",
        "server CPU per 20 ms tick, us",
        "ffmpeg CPU, all",
        "bench / rest of machine CPU",
        "RTP in pkt/s / expected",
        "mix pkt/s sent / received",
        "late audio / kernel drops",
        "load avg (1 min) before -> after",
      ],
      rows,
      [true, false, false, true, true, true, true, true, true, true, false],
    ),
    "",
    "CPU is % of one core (CPU time per wall time, from /proc). Each tick decodes one Opus frame " +
    "per participant and encodes up to 4 (the 3 loudest speakers each get the mix without " +
    "their own voice, everyone else shares one); the mixer's own decode and encode counts are " +
    "not in the REST API (bench/mixer.ts measures them in-process). Mix packets: one per " +
    "participant per 20 ms. Late audio = packets the jitter buffer dropped; kernel drops = " +
    "datagrams lost at the server's full socket buffer. (!) marks a row disturbed by other " +
    "processes (over 40% of a core) or with kernel drops; such a row is measured again, up to " +
    "3 times (shown: the last). UDP I/O: `batched` = sendmmsg/recvmmsg through libc, polled " +
    "every 10 ms while datagrams flow and before each mixer tick, the socket out of Deno's " +
    "event loop (the server's default where it works); `deno` = one " +
    "Deno op per datagram (`--udp-io deno`).",
  ];
  if (result.target) {
    out.push(
      "",
      `Target "30 plain-RTP participants under ${result.target.percent}% of one core": ` +
        `${result.target.met ? "met" : "MISSED"} (${fmt(result.target.measured, 1)}% with ` +
        `${result.defaultBackend}, the server's choice).`,
    );
  }
  out.push(
    "",
    `Load average (1, 5, 15 min): ${loadText(result.loadBefore)} before, ` +
      `${loadText(result.loadAfter)} after.`,
  );
  return out.join("\n");
}

if (import.meta.main) {
  const value = (name: string) => Deno.args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
  const quick = Deno.args.includes("--quick");
  const result = await runRtpMixBench({
    counts: value("counts")?.split(",").map(Number),
    windowMs: Number(value("window-ms") ?? (quick ? 5000 : 10_000)),
    warmupMs: quick ? 2000 : 3000,
    otherBackend: !Deno.args.includes("--no-other-backend"),
    denoIo: !Deno.args.includes("--no-deno-io"),
  });
  if (Deno.args.includes("--json")) console.log(JSON.stringify(result, null, 2));
  else console.log(`${machineLine(result.machine)}\n\n${formatRtpMix(result)}`);
}
