/**
 * Runs every benchmark in sequence and prints one report (Markdown): the audio mixer
 * (bench/mixer.ts), video forwarding through a real server (bench/router.ts, over the WebSocket
 * and over WebTransport, each step on both in turn), UDP load from
 * terminal-client bots (bench/udp_load.ts), plain-RTP mixing of ffmpeg participants
 * (bench/rtp_mix.ts), the Opus backends (bench/opus_bench.ts, in its own process), and the
 * browser's end-to-end delay (bench/browser_delay.ts, in its own process), plain-RTP forwarding
 * against Janus (bench/forward.ts, in its own process), then a summary. The load average is recorded before and after each one.
 *
 * Usage:
 *   deno task bench [--quick] [--only=mixer,router,udp,rtp,opus,browser,network,recording,cluster,forward] [--json]
 *
 * The default run takes about 6 minutes on 2 cores; `--quick` about 3 with shorter
 * windows and fewer steps. Progress goes to stderr, the report to stdout.
 *
 * @module
 */

import { formatMixer, type MixerBenchResult, runMixerBench } from "./mixer.ts";
import {
  COMFORTABLE_P99_MS,
  DEFAULT_STEPS,
  formatRouter,
  LOSS_TARGET_PERCENT,
  QUICK_STEPS,
  type RouterBenchResult,
  runRouterBench,
} from "./router.ts";
import { formatRtpMix, type RtpMixResult, runRtpMixBench } from "./rtp_mix.ts";
import {
  DEFAULT_BOTS,
  formatUdp,
  QUICK_BOTS,
  runUdpBench,
  type UdpBenchResult,
} from "./udp_load.ts";
import { loadAverage, loadText } from "./_server_process.ts";
import { codeVersion, fmt, machine, machineBusyMs, machineLine, table } from "./_report.ts";

const ROOT = new URL("../", import.meta.url);

interface OpusStats {
  p50: number;
  p99: number;
  cpu: number;
}
interface OpusResult {
  name: string;
  note: string;
  bytesPerPacket: number;
  encode: OpusStats;
  decode: OpusStats;
  plc: OpusStats | string;
  tick: OpusStats;
}
interface OpusBenchOutput {
  complexity?: number;
  iterations: number;
  timeMs: number;
  results: OpusResult[];
  skipped: string[];
}

/** Runs bench/opus_bench.ts in its own process (complexity 5, as the server encodes). */
async function runOpusBench(timeMs: number, iterations: number): Promise<OpusBenchOutput> {
  const out = await new Deno.Command(new URL("deno", ROOT).pathname, {
    args: [
      "run",
      "--allow-all",
      "bench/opus_bench.ts",
      "--complexity=5",
      `--time-ms=${timeMs}`,
      `--iterations=${iterations}`,
      "--json",
    ],
    cwd: ROOT.pathname,
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`bench/opus_bench.ts exited with ${out.code}`);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/**
 * Runs a benchmark script in its own process (`quickArgs` when quick); returns its Markdown
 * report, or its JSON figures with `json`.
 */
async function runScript(
  script: string,
  quick: boolean,
  json: boolean,
  quickArgs = ["--quick"],
): Promise<string> {
  const out = await new Deno.Command(new URL("deno", ROOT).pathname, {
    args: [
      "run",
      "--allow-all",
      script,
      ...(quick ? quickArgs : []),
      ...(json ? ["--json"] : []),
    ],
    cwd: ROOT.pathname,
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`${script} exited with ${out.code}`);
  return new TextDecoder().decode(out.stdout).trim();
}

function formatOpus(r: OpusBenchOutput): string {
  const rows = r.results.map((b) => [
    b.name,
    fmt(b.encode.cpu),
    fmt(b.decode.cpu, 1),
    typeof b.plc === "string" ? "n/a" : fmt(b.plc.cpu, 1),
    fmt(b.bytesPerPacket),
    `${fmt(((30 * b.decode.cpu + 4 * b.encode.cpu) / 20_000) * 100, 1)}%`,
    `${fmt((b.tick.cpu / 20_000) * 100, 1)}%`,
  ]);
  return [
    `Opus backends (bench/opus_bench.ts, 48 kHz mono 20 ms frames, 32 kb/s VoIP, complexity ` +
    `${r.complexity ?? "default"}, speech-like input; <= ${r.iterations} calls or ${r.timeMs} ms ` +
    `per figure). CPU time per call, microseconds:`,
    "",
    table(
      [
        "backend",
        "encode us",
        "decode us",
        "PLC us",
        "B/packet",
        "30 dec + 4 enc, % of a core",
        "measured 30-dec + 4-enc tick",
      ],
      rows,
      [false, true, true, true, true, true, true],
    ),
    "",
    ...r.results.map((b) =>
      `- ${b.name}: ${b.note}${typeof b.plc === "string" ? ` (PLC: ${b.plc})` : ""}`
    ),
    ...r.skipped.map((s) => `- skipped ${s}`),
  ].join("\n");
}

function summary(
  mixer: MixerBenchResult | undefined,
  router: RouterBenchResult | undefined,
  opus: OpusBenchOutput | undefined,
  udp?: UdpBenchResult,
  rtp?: RtpMixResult,
): string {
  const lines: string[] = [];
  if (mixer) {
    const row = (n: number, all: boolean) =>
      mixer.rows.find((r) =>
        r.participants === n && r.sending === n &&
        (all ? r.mixSpeakers === n : r.mixSpeakers === 3) &&
        r.backend === mixer.rows[0].backend
      );
    const sizes = [...new Set(mixer.rows.map((r) => r.participants))];
    const parts = sizes.map((n) => {
      const three = row(n, false);
      const all = row(n, true);
      return `${n}: ${three ? fmt(three.corePercent, 1) : "-"}%` +
        (all && n > 3 ? ` (everyone mixed: ${fmt(all.corePercent, 1)}%)` : "");
    });
    lines.push(
      `- Mixer (${mixer.rows[0].backend} Opus), % of one core per meeting by participants: ` +
        `${parts.join(", ")}.`,
    );
    if (mixer.target) {
      const thirty = row(30, false);
      lines.push(
        `- Target "30 participants under ${mixer.target.percent}% of one core": ` +
          `${mixer.target.met ? "met" : "MISSED"} (${fmt(mixer.target.measured, 1)}%` +
          (thirty
            ? `; ${fmt(thirty.decodeShare)}% of the time in ${fmt(thirty.decodesPerTick)} ` +
              `Opus decodes, ${fmt(thirty.encodeShare)}% in ${
                fmt(thirty.encodesPerTick, 1)
              } encodes`
            : "") +
          `).`,
      );
      const muted = mixer.rows.find((r) => r.participants === 30 && r.sending < 30);
      if (muted) {
        lines.push(
          `- 30 participants of whom ${muted.sending} unmuted (the others send nothing): ` +
            `${fmt(muted.corePercent, 1)}%.`,
        );
      }
      const ffi = mixer.rows.find((r) =>
        r.participants === 30 && r.mixSpeakers === 3 && r.backend === "ffi"
      );
      if (ffi && ffi !== thirty) {
        lines.push(
          `- With MEET_OPUS_BACKEND=ffi (system libopus): ${fmt(ffi.corePercent, 1)}% for 30.`,
        );
      }
    }
  }
  if (router) {
    const b = router.best;
    lines.push(
      b
        ? `- Video forwarding: up to ${fmt(b.forwardedPerSecond)} packets/s (` +
          `${fmt(b.forwardedMbps)} Mb/s) with < ${LOSS_TARGET_PERCENT}% loss, server at ` +
          `${fmt(b.serverCpuPercent)}% of one core (~${fmt(b.forwardedPerCoreSecond)} packets/s ` +
          `per core, p99 latency ${fmt(b.latencyP99Ms, 1)} ms).`
        : `- Video forwarding: no step stayed under ${LOSS_TARGET_PERCENT}% loss.`,
    );
    const c = router.comfortable;
    if (c && c !== b) {
      lines.push(
        `- With p99 latency also under ${COMFORTABLE_P99_MS} ms: ${fmt(c.forwardedPerSecond)} ` +
          `packets/s (${c.meetings} meetings x ${c.size}), server at ${fmt(c.serverCpuPercent)}%.`,
      );
    }
    if (router.ratios.length) {
      lines.push(
        `- WebTransport / WebSocket, server CPU per packet and latency p50 / p99, per step: ` +
          router.ratios.map((x) =>
            `${x.meetings} x ${x.size} ${fmt(x.cpuPerPacket, 2)}, ${fmt(x.latencyP50, 2)} / ${
              fmt(x.latencyP99, 2)
            }`
          ).join("; ") + ".",
      );
    }
  }
  if (udp && udp.steps.length) {
    const full = udp.steps.filter((r) => r.audio);
    const clean = full.filter((r) => r.videoLossPercent < 0.1);
    const best = clean.at(-1);
    const video = udp.steps.find((r) => !r.audio);
    lines.push(
      `- UDP bots (audio + video, meetings of ${udp.steps[0].size}): ` +
        full.map((r) =>
          `${r.bots} bots ${fmt(r.forwardedPerSecond)} pkt/s at ${fmt(r.serverCpuPercent)}% ` +
          `(loss ${fmt(r.videoLossPercent, 2)}%, p99 ${fmt(r.latencyP99Ms, 1)} ms)`
        ).join("; ") + "." +
        (best ? ` Largest without loss: ${best.bots} bots.` : ""),
    );
    if (video) {
      lines.push(
        `- UDP, video only, ${video.bots} bots: ${fmt(video.forwardedPerSecond)} pkt/s at ` +
          `${fmt(video.serverCpuPercent)}% = ${fmt(video.forwardedPerCoreSecond)} pkt/s per core` +
          (udp.websocket
            ? `; over the WebSocket, same meetings: ${
              fmt(udp.websocket.forwardedPerCoreSecond)
            } pkt/s per core`
            : "") +
          ".",
      );
    }
  }
  if (rtp && rtp.rows.length) {
    lines.push(
      `- Plain-RTP mixing (ffmpeg senders), server CPU: ` +
        rtp.rows.map((r) =>
          `${r.senders} with ${r.backend}${r.forced ? " (forced)" : ""}, ${r.udpIo} I/O ${
            fmt(r.serverCpuPercent, 1)
          }%`
        ).join(", ") +
        (rtp.target
          ? `; target 30 under ${rtp.target.percent}%: ${rtp.target.met ? "met" : "MISSED"}`
          : "") +
        ".",
    );
  }
  if (opus) {
    const own = opus.results.filter((r) => r.name === "wasm" || r.name === "ffi");
    if (own.length) {
      lines.push(
        `- Opus per 20 ms frame (CPU): ` +
          own.map((r) => `${r.name} encode ${fmt(r.encode.cpu)} us, decode ${fmt(r.decode.cpu)} us`)
            .join("; ") +
          ".",
      );
    }
  }
  return lines.join("\n");
}

async function main(): Promise<void> {
  const quick = Deno.args.includes("--quick");
  const json = Deno.args.includes("--json");
  const onlyArg = Deno.args.find((a) => a.startsWith("--only="));
  const all = [
    "mixer",
    "router",
    "udp",
    "rtp",
    "opus",
    "browser",
    "network",
    "recording",
    "cluster",
    "forward",
  ];
  const only = new Set(onlyArg ? onlyArg.slice(7).split(",") : all);
  for (const name of only) {
    if (!all.includes(name)) {
      console.error(`unknown benchmark ${name} (have: ${all.join(", ")})`);
      Deno.exit(2);
    }
  }
  for (const a of Deno.args) {
    if (a !== "--quick" && a !== "--json" && !a.startsWith("--only=")) {
      console.error(
        `unknown argument ${a}\nusage: deno task bench [--quick] [--only=${
          all.join(",")
        }] [--json]`,
      );
      Deno.exit(2);
    }
  }
  // How busy the machine was before we started: other processes skew every figure below.
  const busy0 = machineBusyMs();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const busyBefore = (machineBusyMs() - busy0) / 10; // % of one core over 1 s
  const started = performance.now();
  const m = machine();
  const date = new Date().toISOString().slice(0, 10);
  let mixer: MixerBenchResult | undefined;
  let router: RouterBenchResult | undefined;
  let opus: OpusBenchOutput | undefined;
  let udp: UdpBenchResult | undefined;
  let rtp: RtpMixResult | undefined;
  let browser: string | undefined;
  let network: string | undefined;
  /** Load average (1, 5, 15 min) before and after each benchmark. */
  const loads: Record<string, { before: number[]; after: number[] }> = {};
  const timed = async <T>(name: string, run: () => T | Promise<T>): Promise<T> => {
    console.error(`== ${name}`);
    const before = loadAverage();
    const result = await run();
    loads[name] = { before, after: loadAverage() };
    return result;
  };

  if (only.has("mixer")) {
    mixer = await timed("mixer", () => runMixerBench({ ticks: quick ? 200 : 500 }));
  }
  if (only.has("router")) {
    router = await timed("router", () =>
      runRouterBench({
        steps: quick ? QUICK_STEPS : DEFAULT_STEPS,
        windowMs: quick ? 2000 : 4000,
        warmupMs: quick ? 1000 : 1500,
      }));
  }
  if (only.has("udp")) {
    udp = await timed("udp", () =>
      runUdpBench({
        bots: quick ? QUICK_BOTS : DEFAULT_BOTS,
        windowMs: quick ? 2500 : 5000,
        warmupMs: quick ? 1500 : 2000,
      }));
  }
  if (only.has("rtp")) {
    rtp = await timed(
      "rtp",
      () => runRtpMixBench({ windowMs: quick ? 5000 : 10_000, warmupMs: quick ? 2000 : 3000 }),
    );
  }
  if (only.has("opus")) {
    opus = await timed(
      "opus",
      () => quick ? runOpusBench(300, 1000) : runOpusBench(800, 2000),
    );
  }
  if (only.has("browser")) {
    browser = await timed(
      "browser",
      () => runScript("bench/browser_delay.ts", quick, json, ["--seconds=8", "--warmup=3"]),
    );
  }
  if (only.has("network")) {
    network = await timed("network", () => runScript("bench/network.ts", quick, json));
  }
  let recording: string | undefined;
  if (only.has("recording")) {
    recording = await timed("recording", () => runScript("bench/recording.ts", quick, json));
  }
  let cluster: string | undefined;
  if (only.has("cluster")) {
    cluster = await timed("cluster", () => runScript("bench/cluster.ts", quick, json));
  }
  let forward: string | undefined;
  if (only.has("forward")) {
    forward = await timed(
      "forward",
      () => runScript("bench/forward.ts", quick, json, ["--repeat=1", "--window=5"]),
    );
  }
  const seconds = (performance.now() - started) / 1000;

  if (json) {
    const code = codeVersion();
    console.log(
      JSON.stringify(
        {
          date,
          machine: m,
          busyBefore,
          code,
          quick,
          seconds,
          loads,
          mixer,
          router,
          udp,
          rtp,
          opus,
          browser: browser === undefined ? undefined : JSON.parse(browser),
          network: network === undefined ? undefined : JSON.parse(network),
          recording: recording === undefined ? undefined : JSON.parse(recording),
          cluster: cluster === undefined ? undefined : JSON.parse(cluster),
          forward: forward === undefined ? undefined : JSON.parse(forward),
        },
        null,
        2,
      ),
    );
    return;
  }
  const sections = [
    `# Meet benchmarks, ${date}${quick ? " (quick)" : ""}`,
    "",
    `Machine: ${machineLine(m)}; other processes used ${fmt(busyBefore)}% of one core in the ` +
    `second before the run. Code: ${codeVersion()}. Total ${fmt(seconds)} s.`,
  ];
  const load = (name: string) =>
    loads[name]
      ? `\n\nLoad average (1, 5, 15 min) around this benchmark: ${loadText(loads[name].before)} ` +
        `before, ${loadText(loads[name].after)} after.`
      : "";
  if (mixer) sections.push("", "## Audio mixer", "", formatMixer(mixer) + load("mixer"));
  if (router) sections.push("", "## Video forwarding", "", formatRouter(router) + load("router"));
  if (udp) sections.push("", "## UDP load (terminal-client bots)", "", formatUdp(udp));
  if (rtp) sections.push("", "## Plain-RTP mixing (ffmpeg)", "", formatRtpMix(rtp));
  if (opus) sections.push("", "## Opus", "", formatOpus(opus) + load("opus"));
  if (browser) {
    // Its own report starts with a "## Browser end-to-end delay" heading.
    sections.push("", browser + load("browser"));
  }
  if (network) sections.push("", network + load("network"));
  if (recording) sections.push("", recording + load("recording"));
  if (cluster) sections.push("", "## Placement across a cluster", "", cluster + load("cluster"));
  if (forward) {
    sections.push("", "## Plain-RTP forwarding against Janus", "", forward + load("forward"));
  }
  sections.push("", "## Summary", "", summary(mixer, router, opus, udp, rtp));
  console.log(sections.join("\n"));
}

if (import.meta.main) await main();
