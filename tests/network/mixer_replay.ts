/**
 * Replays what reached the server mixer's jitter buffers (recorded by the network scenario's
 * `--record-mixer`: every packet handed to a voice's buffer with its arrival, RED copies
 * included, and every tick) through new {@linkcode JitterBuffer}s, with the mixer's settings
 * or others: how long the frames would have waited for their tick and how many would have
 * missed it, on the very same arrivals. Live runs on a busy 2-core machine differ more from one
 * another than the settings do; a replay compares the settings alone.
 *
 * Run: `./deno run -A tests/network/mixer_replay.ts RECORDING.json [--with='{"guardJitters":2}']
 * [--skip=3]`: for the mixer's settings and each `--with` (merged over them), the frames' wait
 * p50 and p95 and the share of frames missing at their tick (lost for good or late), after the
 * first `--skip` seconds.
 *
 * @example
 * ```ts
 * import type { MixerRecordEntry } from "../../media/mixer.ts";
 *
 * // One voice, a frame every 20 ms arriving 5 ms before each tick.
 * const entries: MixerRecordEntry[] = [];
 * for (let i = 0; i < 500; i++) {
 *   entries.push(["push", "ann", i, i * 960, i * 20 + 15, false], ["tick", i * 20 + 20]);
 * }
 * const result = replayMixer(entries, {}, 1000);
 * console.log(result.waitP50Ms, result.missedPercent);
 * ```
 * @module
 */

import { parseArgs } from "node:util";
import { JitterBuffer, type JitterBufferOptions } from "../../media/jitter_buffer.ts";
import { MIXER_JITTER_BUFFER, type MixerRecordEntry } from "../../media/mixer.ts";
import { fmt, quantile, sorted } from "../../bench/_report.ts";

/**
 * What a replay measured, over every voice (after the skipped start).
 *
 * @example
 * ```ts
 * const line = (r: MixerReplayResult) => `${r.waitP50Ms} ms, ${r.missedPercent}% missed`;
 * ```
 */
export interface MixerReplayResult {
  /** Frames played. */
  frames: number;
  /** How long each played frame waited from its arrival to its tick, ms. */
  waitP50Ms: number;
  waitP95Ms: number;
  /** Frames concealed at their tick (lost, or not there in time), per cent of the ticks' frames. */
  missedPercent: number;
}

/**
 * Replays a recording with the mixer's jitter buffer settings merged with `options`, measuring
 * from `skipMs` after the first tick.
 *
 * @example
 * ```ts
 * const same = replayMixer([["tick", 0]], { guardJitters: 1 });
 * console.log(same.frames); // 0
 * ```
 */
export function replayMixer(
  entries: MixerRecordEntry[],
  options: JitterBufferOptions = {},
  skipMs = 0,
): MixerReplayResult {
  const settings = { ...MIXER_JITTER_BUFFER, ...options };
  const buffers = new Map<string, { buffer: JitterBuffer; arrivals: Map<number, number> }>();
  const firstTick = entries.find((e) => e[0] === "tick")?.[1] ?? 0;
  const waits: number[] = [];
  let missed = 0;
  for (const entry of entries) {
    if (entry[0] === "push") {
      const [, id, seq, timestamp, arrivalMs, redundant] = entry;
      let voice = buffers.get(id);
      if (!voice) {
        voice = { buffer: new JitterBuffer(settings), arrivals: new Map() };
        buffers.set(id, voice);
      }
      // As the mixer does: a copy of a frame held or played already is not news.
      if (redundant && !voice.buffer.wants(seq)) continue;
      if (voice.buffer.push(seq, timestamp, new Uint8Array(1), arrivalMs) === "stored") {
        voice.arrivals.set(seq & 0xffff, arrivalMs);
        if (voice.arrivals.size > 256) voice.arrivals.delete(voice.arrivals.keys().next().value!);
      }
      continue;
    }
    const nowMs = entry[1];
    const measured = nowMs - firstTick >= skipMs;
    for (const voice of buffers.values()) {
      const out = voice.buffer.pop(nowMs);
      if (!measured || out === null) continue;
      if (out.kind === "frame") {
        const arrival = voice.arrivals.get(out.seq);
        if (arrival !== undefined) waits.push(nowMs - arrival);
      } else missed++;
    }
  }
  const s = sorted(waits);
  return {
    frames: waits.length,
    waitP50Ms: quantile(s, 0.5),
    waitP95Ms: quantile(s, 0.95),
    missedPercent: waits.length + missed ? (100 * missed) / (waits.length + missed) : 0,
  };
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      with: { type: "string", multiple: true, default: [] },
      skip: { type: "string", default: "3" },
    },
  });
  if (positionals.length === 0) {
    console.error("usage: mixer_replay.ts RECORDING.json ... [--with=JSON ...] [--skip=SECONDS]");
    Deno.exit(2);
  }
  const settings: JitterBufferOptions[] = [{}, ...values.with.map((w) => JSON.parse(w))];
  const skipMs = Math.max(0, Number(values.skip) * 1000);
  for (const file of positionals) {
    const { entries } = JSON.parse(Deno.readTextFileSync(file)) as {
      entries: MixerRecordEntry[];
    };
    for (const options of settings) {
      const r = replayMixer(entries, options, skipMs);
      console.log(
        `${file}  ${JSON.stringify(options).padEnd(28)} ${r.frames} frames, wait p50 ` +
          `${fmt(r.waitP50Ms, 1)} p95 ${fmt(r.waitP95Ms, 1)} ms, ${
            fmt(r.missedPercent, 2)
          }% missed`,
      );
    }
  }
}
