/**
 * Media on impaired networks, against Chromium's own WebRTC on the same path. Each run is a
 * scenario in its own private network namespace (`unshare -n`, so no rule touches the
 * machine's network), netsim delaying, jittering and dropping packets through NFQUEUE:
 *
 * - relay: three headless Chromium pages in one meeting (tests/network/meeting_scenario.ts),
 *   every packet to or from the server impaired (two hops from page to page), on WebTransport
 *   and on the WebSocket;
 * - P2P: two pages, the meeting goes P2P by itself (the same scenario with `--pages=2`), every
 *   UDP packet impaired (one hop);
 * - reference: two pages joined by a plain `RTCPeerConnection`, same camera, microphone and
 *   800 kbit/s cap (tests/network/reference_scenario.ts), at one hop and at two hops' worth
 *   (twice the delay, the jitter of two hops' sum, the loss of two hops).
 *
 * Reports per condition and path: video frames per second per stream (mean and lowest),
 * freezes per stream-minute (Chromium's definition), keyframes per sender-minute, audio
 * concealed % (at the pages' playout), the voices' frames the server's mixer concealed (lost or
 * late at its tick: every listener hears them too; relay only), audio capture-to-speaker delay
 * p50 / p95, video capture-to-display p50, and the server's resends; with one page's downlink
 * capped, that page's own figures; and how often our pages' main threads were held up past 20
 * ms (per page-minute), which tells a row of a saturated machine from one of a bad network. The
 * reference's delays are estimates from `getStats()` (half the round trip plus the jitter
 * buffer's mean wait), without capture, encode and output.
 *
 * Capped links: in relay mode the last page's downlink (it receives two videos and the mix)
 * or the first page's uplink; in the reference the second page's downlink (one video and one
 * voice) or the first's uplink. Not in P2P: its pages are told apart by neither address nor
 * a port known beforehand.
 *
 * Usage: `./deno run -A bench/network.ts [--seconds=20] [--warmup=5] [--quick] [--json]
 * [--runs=N] [--condition=TEXT] [--path=TEXT]` (`--quick`: 10 s windows, the 1% condition
 * only; `--runs`: each row the median of N runs, figure by figure, with the range of the audio
 * delay's p50 across them: one run is noisy on a 2-core machine; `--condition` and `--path`:
 * only the rows whose names contain these). About 45 s per run, 22 rows; progress on stderr,
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
    runs: { type: "string", default: "1" },
    condition: { type: "string", default: "" },
    path: { type: "string", default: "" },
  },
});
const RUNS = Math.min(9, Math.max(1, Math.floor(Number(args.runs)) || 1));

interface Condition {
  name: string;
  delay: number;
  jitter: number;
  loss: number;
  /** One page's downlink (relay: the last page's; reference: the second's), kbit/s. */
  down?: number;
  /** One page's uplink (relay: the first page's; reference: the first's), kbit/s. */
  up?: number;
}

const CONDITIONS: Condition[] = [
  { name: "clean loopback", delay: 0, jitter: 0, loss: 0 },
  { name: "25 +/- 8 ms, 1% loss", delay: 25, jitter: 8, loss: 1 },
  { name: "25 +/- 8 ms, 3% loss", delay: 25, jitter: 8, loss: 3 },
  { name: "25 +/- 8 ms, one page's downlink 400 kbit/s", delay: 25, jitter: 8, loss: 0, down: 400 },
  { name: "25 +/- 8 ms, one page's uplink 1 Mbit/s", delay: 25, jitter: 8, loss: 0, up: 1000 },
];

/** Where the media goes, and the scenario that runs it. */
interface Path {
  name: string;
  scenario: string;
  flags: string[];
  /** Impair as two hops would: the relay's path from page to page. */
  twoHops?: boolean;
}

const PATHS: Path[] = [
  {
    name: "relay, webtransport",
    scenario: "meeting_scenario.ts",
    flags: ["--transport=webtransport"],
  },
  { name: "relay, websocket", scenario: "meeting_scenario.ts", flags: ["--transport=websocket"] },
  { name: "P2P", scenario: "meeting_scenario.ts", flags: ["--pages=2"] },
  { name: "Chromium WebRTC, 1 hop", scenario: "reference_scenario.ts", flags: [] },
  {
    name: "Chromium WebRTC, 2 hops' worth",
    scenario: "reference_scenario.ts",
    flags: [],
    twoHops: true,
  },
];

interface PageFigures {
  name: string;
  streams: { fps: number; freezes: number }[];
  seconds: number;
  concealedPercent: number;
  keyframesPerMinute: number;
  audioP50: number | null;
  audioP95: number | null;
  videoP50: number | null;
  /** How often the page's main thread was held up (our pages only). */
  mainThreadHeld?: { over20: number };
}

interface Row {
  condition: string;
  path: string;
  fpsMean: number;
  fpsMin: number;
  freezesPerStreamMinute: number;
  keyframesPerMinute: number;
  concealedPercent: number;
  audioP50: number;
  audioP95: number;
  videoP50: number;
  resent: number;
  /** The voices' frames the server's mixer concealed (relay only), per cent. */
  mixerConcealedPercent: number | null;
  /** The limited page (its downlink): fps mean, freezes per stream-minute, concealed, audio p50. */
  limited?: { fps: number; freezes: number; concealed: number; audioP50: number | null };
  /** With several runs: the lowest and highest of their audio p50s. */
  audioP50Range?: [number, number];
  /**
   * The pages' main threads held up past 20 ms, per page-minute (our pages only): a busy
   * machine, not the network, when it is high.
   */
  heldPerMinute: number | null;
}

const median = (values: (number | null)[]) => {
  const s = values.filter((v): v is number => v !== null && Number.isFinite(v)).sort((a, b) =>
    a - b
  );
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
};
const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

/** The impairment of one hop, or of two in a row (delays add, losses compound). */
function impairment(condition: Condition, twoHops: boolean): string[] {
  const { delay, jitter, loss } = condition;
  if (!twoHops) return [`--delay=${delay}`, `--jitter=${jitter}`, `--loss=${loss}`];
  // The sum of two uniform +/- j has the spread of one uniform +/- j x sqrt(2).
  const twoLoss = 100 * (1 - (1 - loss / 100) ** 2);
  return [
    `--delay=${2 * delay}`,
    `--jitter=${Math.round(jitter * Math.SQRT2)}`,
    `--loss=${Math.round(twoLoss * 100) / 100}`,
  ];
}

/** The flags that cap one page's link: relay pages reach the server at their own address. */
function limits(condition: Condition, path: Path): string[] {
  const reference = path.scenario === "reference_scenario.ts";
  const out: string[] = [];
  if (condition.down) out.push(`--down=${reference ? "" : "127.0.0.5="}${condition.down}`);
  if (condition.up) out.push(`--up=${reference ? "" : "127.0.0.6="}${condition.up}`);
  return out;
}

async function runOne(condition: Condition, path: Path): Promise<Row> {
  const scenario = new URL(`../tests/network/${path.scenario}`, import.meta.url).pathname;
  const out = await new Deno.Command("unshare", {
    args: [
      "-n",
      "sh",
      "-c",
      `ip link set lo up && exec "${Deno.execPath()}" run -A "${scenario}" "$@"`,
      "scenario",
      ...impairment(condition, path.twoHops ?? false),
      ...limits(condition, path),
      ...path.flags,
      `--seconds=${args.quick ? 10 : Number(args.seconds)}`,
      `--warmup=${Number(args.warmup)}`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`${condition.name} on ${path.name}: ${new TextDecoder().decode(out.stderr)}`);
  }
  const figures = JSON.parse(text.trim().split("\n").at(-1)!);
  const pages = figures.pages as PageFigures[];
  const streams = pages.flatMap((p) => p.streams.map((s) => ({ ...s, seconds: p.seconds })));
  return {
    condition: condition.name,
    path: path.name,
    fpsMean: mean(streams.map((s) => s.fps)),
    fpsMin: Math.min(...streams.map((s) => s.fps)),
    freezesPerStreamMinute: mean(streams.map((s) => (s.freezes / s.seconds) * 60)),
    keyframesPerMinute: mean(pages.map((p) => p.keyframesPerMinute)),
    concealedPercent: mean(pages.map((p) => p.concealedPercent)),
    audioP50: median(pages.map((p) => p.audioP50)),
    audioP95: median(pages.map((p) => p.audioP95)),
    videoP50: median(pages.map((p) => p.videoP50)),
    resent: figures.server.resent,
    mixerConcealedPercent: figures.server.mixerConcealedPercent ?? null,
    heldPerMinute: pages.every((p) => p.mainThreadHeld)
      ? mean(pages.map((p) => (p.mainThreadHeld!.over20 / p.seconds) * 60))
      : null,
    limited: condition.down ? limitedPage(pages.at(-1)!) : undefined,
  };
}

function limitedPage(page: PageFigures): Row["limited"] {
  return {
    fps: mean(page.streams.map((s) => s.fps)),
    freezes: mean(page.streams.map((s) => (s.freezes / page.seconds) * 60)),
    concealed: page.concealedPercent,
    audioP50: page.audioP50,
  };
}

/** Several runs of one row: each figure their median. */
function medianRow(runs: Row[]): Row {
  if (runs.length === 1) return runs[0];
  const of = (pick: (r: Row) => number | null) => median(runs.map(pick));
  const audio = runs.map((r) => r.audioP50).filter(Number.isFinite);
  return {
    condition: runs[0].condition,
    path: runs[0].path,
    fpsMean: of((r) => r.fpsMean),
    fpsMin: of((r) => r.fpsMin),
    freezesPerStreamMinute: of((r) => r.freezesPerStreamMinute),
    keyframesPerMinute: of((r) => r.keyframesPerMinute),
    concealedPercent: of((r) => r.concealedPercent),
    audioP50: of((r) => r.audioP50),
    audioP95: of((r) => r.audioP95),
    videoP50: of((r) => r.videoP50),
    resent: of((r) => r.resent),
    mixerConcealedPercent: runs[0].mixerConcealedPercent === null
      ? null
      : of((r) => r.mixerConcealedPercent),
    limited: runs[0].limited && {
      fps: of((r) => r.limited!.fps),
      freezes: of((r) => r.limited!.freezes),
      concealed: of((r) => r.limited!.concealed),
      audioP50: of((r) => r.limited!.audioP50),
    },
    audioP50Range: audio.length ? [Math.min(...audio), Math.max(...audio)] : undefined,
    heldPerMinute: runs[0].heldPerMinute === null ? null : of((r) => r.heldPerMinute),
  };
}

const rows: Row[] = [];
for (const condition of args.quick ? [CONDITIONS[1]] : CONDITIONS) {
  if (!condition.name.includes(args.condition)) continue;
  for (const path of PATHS) {
    if (!path.name.includes(args.path)) continue;
    // On a clean path two hops are one: the 1-hop reference says it all.
    if (condition.loss === 0 && path.twoHops) continue;
    // A capped link is told apart by its address on the server's side: relay mode only.
    if ((condition.down || condition.up) && path.name === "P2P") continue;
    const runs: Row[] = [];
    for (let i = 0; i < RUNS; i++) {
      console.error(
        `[network] ${condition.name}, ${path.name}${RUNS > 1 ? ` (${i + 1}/${RUNS})` : ""}`,
      );
      runs.push(await runOne(condition, path));
    }
    rows.push(medianRow(runs));
  }
}
if (args.json) {
  console.log(JSON.stringify(rows, null, 2));
} else {
  console.log(
    [
      `## Impaired networks (${args.quick ? 10 : args.seconds} s windows` +
      `${RUNS > 1 ? `, each row the median of ${RUNS} runs` : ""})`,
      "",
      table(
        [
          "condition (each packet, each hop)",
          "path",
          "fps per stream: mean / lowest",
          "freezes per stream-minute",
          "keyframes per sender-minute",
          "audio concealed",
          "voices concealed at the mixer",
          "audio delay p50 / p95",
          "video delay p50",
          "video packets resent",
          "the capped page: fps / freezes per stream-minute / concealed / audio p50",
          "pages held up > 20 ms, per page-minute",
        ],
        rows.map((r) => [
          r.condition,
          r.path,
          `${fmt(r.fpsMean, 1)} / ${fmt(r.fpsMin, 1)}`,
          fmt(r.freezesPerStreamMinute, 1),
          fmt(r.keyframesPerMinute),
          `${fmt(r.concealedPercent, 1)}%`,
          r.mixerConcealedPercent === null ? "" : `${fmt(r.mixerConcealedPercent, 1)}%`,
          (Number.isFinite(r.audioP95)
            ? `${fmt(r.audioP50)} / ${fmt(r.audioP95)} ms`
            : `${fmt(r.audioP50)} ms (est.)`) +
          (r.audioP50Range ? ` (p50 ${fmt(r.audioP50Range[0])}-${fmt(r.audioP50Range[1])})` : ""),
          `${fmt(r.videoP50)} ms${r.path.startsWith("Chromium") ? " (est.)" : ""}`,
          fmt(r.resent),
          r.limited
            ? `${fmt(r.limited.fps, 1)} / ${fmt(r.limited.freezes, 1)} / ` +
              `${fmt(r.limited.concealed, 1)}% / ${fmt(r.limited.audioP50 ?? NaN)} ms`
            : "",
          r.heldPerMinute === null ? "" : fmt(r.heldPerMinute, 1),
        ]),
      ),
    ].join("\n"),
  );
}
