/**
 * Media on impaired networks: the relay scenario (tests/network/relay_scenario.ts: three
 * headless Chromium pages in one meeting, their packets to and from the server delayed,
 * jittered and dropped by netsim) under each condition, on WebTransport and on the WebSocket,
 * each run in its own private network namespace (`unshare -n`, so no rule touches the machine's
 * network). Reports per condition and carrier: video frames per second per stream (mean and
 * lowest), freezes per stream-minute (Chromium's definition), keyframes per sender-minute,
 * audio concealed %, audio capture-to-speaker delay p50 / p95, video capture-to-display p50,
 * and the server's resends.
 *
 * Usage: `./deno run -A bench/network.ts [--seconds=20] [--warmup=5] [--quick] [--json]`
 * (`--quick`: 10 s windows, the 1% condition only). About 40 s per run; progress on stderr,
 * the report (Markdown) on stdout.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { fmt, table } from "./_report.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    seconds: { type: "string", default: "20" },
    warmup: { type: "string", default: "5" },
    quick: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  },
});

interface Condition {
  name: string;
  flags: string[];
}

const CONDITIONS: Condition[] = [
  { name: "clean loopback", flags: ["--delay=0", "--jitter=0", "--loss=0"] },
  { name: "25 +/- 8 ms, 1% loss", flags: ["--delay=25", "--jitter=8", "--loss=1"] },
  { name: "25 +/- 8 ms, 3% loss", flags: ["--delay=25", "--jitter=8", "--loss=3"] },
];
const CARRIERS = ["webtransport", "websocket"] as const;

interface PageFigures {
  streams: { fps: number; freezes: number }[];
  seconds: number;
  concealedPercent: number;
  keyframesPerMinute: number;
  audioP50: number | null;
  audioP95: number | null;
  videoP50: number | null;
}

interface Row {
  condition: string;
  carrier: string;
  fpsMean: number;
  fpsMin: number;
  freezesPerStreamMinute: number;
  keyframesPerMinute: number;
  concealedPercent: number;
  audioP50: number;
  audioP95: number;
  videoP50: number;
  resent: number;
}

const median = (values: number[]) => {
  const s = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
};
const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

async function runOne(condition: Condition, carrier: string): Promise<Row> {
  const scenario = new URL("../tests/network/relay_scenario.ts", import.meta.url).pathname;
  const out = await new Deno.Command("unshare", {
    args: [
      "-n",
      "sh",
      "-c",
      `ip link set lo up && exec "${Deno.execPath()}" run -A "${scenario}" "$@"`,
      "scenario",
      ...condition.flags,
      `--transport=${carrier}`,
      `--seconds=${args.quick ? 10 : Number(args.seconds)}`,
      `--warmup=${Number(args.warmup)}`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`${condition.name} on ${carrier}: ${new TextDecoder().decode(out.stderr)}`);
  }
  const figures = JSON.parse(text.trim().split("\n").at(-1)!);
  const pages = figures.pages as PageFigures[];
  const streams = pages.flatMap((p) => p.streams.map((s) => ({ ...s, seconds: p.seconds })));
  return {
    condition: condition.name,
    carrier,
    fpsMean: mean(streams.map((s) => s.fps)),
    fpsMin: Math.min(...streams.map((s) => s.fps)),
    freezesPerStreamMinute: mean(streams.map((s) => (s.freezes / s.seconds) * 60)),
    keyframesPerMinute: mean(pages.map((p) => p.keyframesPerMinute)),
    concealedPercent: mean(pages.map((p) => p.concealedPercent)),
    audioP50: median(pages.map((p) => p.audioP50 ?? NaN)),
    audioP95: median(pages.map((p) => p.audioP95 ?? NaN)),
    videoP50: median(pages.map((p) => p.videoP50 ?? NaN)),
    resent: figures.server.resent,
  };
}

const rows: Row[] = [];
for (const condition of args.quick ? [CONDITIONS[1]] : CONDITIONS) {
  for (const carrier of CARRIERS) {
    console.error(`[network] ${condition.name}, ${carrier}`);
    rows.push(await runOne(condition, carrier));
  }
}
if (args.json) {
  console.log(JSON.stringify(rows, null, 2));
} else {
  console.log(
    [
      `## Impaired networks (relay, 3 pages, ${args.quick ? 10 : args.seconds} s windows)`,
      "",
      table(
        [
          "condition (each packet, each way)",
          "carrier",
          "fps per stream: mean / lowest",
          "freezes per stream-minute",
          "keyframes per sender-minute",
          "audio concealed",
          "audio delay p50 / p95",
          "video delay p50",
          "video packets resent",
        ],
        rows.map((r) => [
          r.condition,
          r.carrier,
          `${fmt(r.fpsMean, 1)} / ${fmt(r.fpsMin, 1)}`,
          fmt(r.freezesPerStreamMinute, 1),
          fmt(r.keyframesPerMinute),
          `${fmt(r.concealedPercent, 1)}%`,
          `${fmt(r.audioP50)} / ${fmt(r.audioP95)} ms`,
          `${fmt(r.videoP50)} ms`,
          fmt(r.resent),
        ]),
      ),
    ].join("\n"),
  );
}
