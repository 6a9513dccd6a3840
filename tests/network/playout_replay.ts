/**
 * Replays the frames a page's playback worklet received (`?playout=record`, recorded by the
 * network scenario's `--record`) through a {@linkcode PlayoutBuffer}, with the settings it ran
 * with or others: what the buffer would have done with the same arrivals, frame for frame. The
 * arrivals carry the audio clock's own position (the sample frame of the next quantum to be
 * rendered when each frame came), so a replay reads the buffer exactly as the worklet did,
 * whatever machine it runs on.
 *
 * Run: `./deno run -A tests/network/playout_replay.ts RECORDING.json [--with='{"holdMs":4000}']
 * [--skip=5]`: per page (its last audio output), the frames' wait in the buffer (p50, p95),
 * its depth, stalls and concealment, for the default settings and each `--with`, after the
 * first `--skip` seconds.
 *
 * @example
 * ```ts
 * import type { PlayoutArrival } from "../../client/media/audio_playback.ts";
 *
 * // A frame every 20 ms, each 2 ms after its time but one, 50 ms after it.
 * const arrivals: PlayoutArrival[] = Array.from({ length: 300 }, (_, i) => {
 *   const late = i === 150 ? 2400 : 96;
 *   return [1, i * 960, 0, i * 960 + late, 960];
 * });
 * const result = replayPlayout(arrivals);
 * console.log(result.stalls, result.waitP50Ms); // 1, and the wait it cost
 * ```
 * @module
 */

import { parseArgs } from "node:util";
import type { PlayoutArrival } from "../../client/media/audio_playback.ts";
import {
  PlayoutBuffer,
  type PlayoutOptions,
  type PlayoutStats,
} from "../../static/worklets/playout_buffer.js";
import { fmt, quantile, sorted } from "../../bench/_report.ts";

/** Samples per render quantum (Web Audio). */
const QUANTUM = 128;
/** The recordings' sample rate (the pages' AudioContext runs at Opus's 48 kHz). */
const SAMPLE_RATE = 48_000;

/**
 * What a replay measured (after the skipped start).
 *
 * @example
 * ```ts
 * function line(r: ReplayResult) {
 *   return `${r.frames} frames, wait p50 ${r.waitP50Ms} ms, ${r.stalls} stalls`;
 * }
 * ```
 */
export interface ReplayResult {
  /** Frames pushed. */
  frames: number;
  /** How far ahead of the read position each frame landed, ms: p50 and p95. */
  waitP50Ms: number;
  waitP95Ms: number;
  /** The buffer's depth at each quantum, p50, ms. */
  depthP50Ms: number;
  /** Times a frame came after the buffer ran dry. */
  stalls: number;
  /** Concealment played, per cent of what was played and concealed. */
  concealedPercent: number;
  /** Audio dropped to bring the depth down, ms. */
  droppedMs: number;
  /** The target lead at the end, ms. */
  targetLeadMs: number;
}

/**
 * Replays one stream's arrivals (those of `arrivals`' most frequent SSRC; in relay mode a page
 * receives one, the mix) through a new buffer with `options`. Measures from `skipMs` after the
 * first arrival.
 */
export function replayPlayout(
  arrivals: PlayoutArrival[],
  options: PlayoutOptions = {},
  skipMs = 0,
): ReplayResult {
  const counts = new Map<number, number>();
  for (const [ssrc] of arrivals) counts.set(ssrc, (counts.get(ssrc) ?? 0) + 1);
  const ssrc = [...counts].sort((a, b) => b[1] - a[1])[0]?.[0];
  const stream = arrivals.filter((a) => a[0] === ssrc);
  const buffer = new PlayoutBuffer({ ...options, sampleRate: SAMPLE_RATE });
  const out = new Float32Array(QUANTUM);
  const waits: number[] = [];
  const depths: number[] = [];
  const ms = (samples: number) => (samples * 1000) / SAMPLE_RATE;
  const first = stream[0]?.[3] ?? 0;
  const measureFrom = first + (skipMs * SAMPLE_RATE) / 1000;
  // The counters when measuring begins; none if the recording ends before.
  let before: PlayoutStats | null = null;
  let i = 0;
  for (let frame = first; i < stream.length; frame += QUANTUM) {
    if (before === null && frame >= measureFrom) before = buffer.stats;
    while (i < stream.length && stream[i][3] <= frame) {
      const [, rtpTimestamp, recovered, , length] = stream[i++];
      // The samples' values do not matter to the buffer's decisions: a steady tone.
      const lead = buffer.push(rtpTimestamp, new Float32Array(length).fill(0.1), recovered === 1);
      if (frame >= measureFrom && lead !== null) waits.push(ms(lead));
    }
    buffer.read(out);
    if (frame >= measureFrom) depths.push(ms(buffer.depth));
  }
  const after = buffer.stats;
  before ??= after;
  const concealed = after.concealed - before.concealed;
  const played = after.played - before.played;
  const waitsSorted = sorted(waits);
  return {
    frames: waits.length,
    waitP50Ms: quantile(waitsSorted, 0.5),
    waitP95Ms: quantile(waitsSorted, 0.95),
    depthP50Ms: quantile(sorted(depths), 0.5),
    stalls: after.stalls - before.stalls,
    concealedPercent: played + concealed > 0 ? (100 * concealed) / (played + concealed) : 0,
    droppedMs: ms(after.dropped - before.dropped),
    targetLeadMs: ms(after.targetLead),
  };
}

/** A recording as the network scenario writes it (`--record`). */
interface Recording {
  pages: { name: string; outputs: PlayoutArrival[][] }[];
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: {
      with: { type: "string", multiple: true, default: [] },
      skip: { type: "string", default: "5" },
    },
    allowPositionals: true,
  });
  if (positionals.length !== 1) {
    console.error("usage: playout_replay.ts RECORDING.json [--with=JSON ...] [--skip=SECONDS]");
    Deno.exit(2);
  }
  const recording = JSON.parse(Deno.readTextFileSync(positionals[0])) as Recording;
  const settings: PlayoutOptions[] = [{}, ...values.with.map((w) => JSON.parse(w))];
  const skipMs = Math.max(0, Number(values.skip) * 1000);
  for (const page of recording.pages) {
    const last = page.outputs.at(-1) ?? [];
    for (const options of settings) {
      const r = replayPlayout(last, options, skipMs);
      console.log(
        `${page.name.padEnd(6)} ${JSON.stringify(options).padEnd(28)} ${r.frames} frames, wait ` +
          `p50 ${fmt(r.waitP50Ms, 1)} p95 ${fmt(r.waitP95Ms, 1)} ms, depth p50 ` +
          `${fmt(r.depthP50Ms, 1)} ms, ${r.stalls} stalls, ${fmt(r.concealedPercent, 2)}% ` +
          `concealed, ${fmt(r.droppedMs, 1)} ms dropped, target ${fmt(r.targetLeadMs, 1)} ms`,
      );
    }
  }
}
