/**
 * What recording costs the server: a real server process (`deno task start`'s permissions)
 * with one meeting of 10 bots on the control WebSocket, each sending a 20 ms Opus tone and
 * 15 fps of VP8-sized video (2.5 KB frames, a keyframe every 2 s). The server's CPU time is
 * read from /proc in alternating windows without and with a recording running (the host bot
 * records), and the bytes each recorded minute writes.
 *
 * Usage: `./deno run -A bench/recording.ts [--quick] [--json]` (quick: 8 s windows, one
 * pair; default 15 s windows, two pairs). Progress on stderr, the report (Markdown) on stdout.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type MediaBot, mediaBot } from "../tests/support/media_bot.ts";
import { createMeeting, startServerProcess } from "./_server_process.ts";
import { fmt, machineLine, processCpuMs, sleep, table } from "./_report.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  },
});

const BOTS = 10;
const WINDOW_MS = args.quick ? 8_000 : 15_000;
const PAIRS = args.quick ? 1 : 2;
const FPS = 15;

interface Window {
  recording: boolean;
  /** Server CPU, % of one core. */
  corePercent: number;
}

const server = await startServerProcess({ args: ["--p2p", "off"] });
const bots: MediaBot[] = [];
const timers: ReturnType<typeof setInterval>[] = [];
try {
  const { id: meetingId } = await createMeeting(server, "Recorded");
  for (let i = 0; i < BOTS; i++) {
    const bot = await mediaBot(server, `Bot ${i + 1}`, meetingId);
    await bot.request({ type: "media", audio: true, video: true });
    bot.startTone(300 + 50 * i, 0.1);
    bots.push(bot);
  }
  let frame = 0;
  timers.push(setInterval(() => {
    const keyframe = frame++ % (2 * FPS) === 0;
    for (const bot of bots) bot.sendVideoFrame(keyframe, keyframe ? 12_000 : 2_500);
  }, 1000 / FPS));
  await sleep(3000); // every bot's first keyframe and a full mix
  const host = bots[0];
  const windows: Window[] = [];
  let recordedMs = 0;
  const savedBefore = () => host.events.filter((e) => e.type === "recording_saved");
  for (let pair = 0; pair < PAIRS; pair++) {
    for (const recording of [false, true]) {
      if (recording) await host.request({ type: "record", on: true });
      console.error(
        `[recording] window ${windows.length + 1}: ${recording ? "recording" : "not recording"}`,
      );
      const cpu0 = processCpuMs(server.pid);
      const t0 = performance.now();
      await sleep(WINDOW_MS);
      const cpuMs = processCpuMs(server.pid) - cpu0;
      const elapsed = performance.now() - t0;
      windows.push({ recording, corePercent: (cpuMs / elapsed) * 100 });
      if (recording) {
        const before = savedBefore().length;
        await host.request({ type: "record", on: false });
        const deadline = performance.now() + 60_000;
        while (savedBefore().length === before && performance.now() < deadline) await sleep(100);
        recordedMs += elapsed;
      }
    }
  }
  const saved = savedBefore().map((e) => e.type === "recording_saved" ? e : null)
    .filter((e) => e !== null);
  const bytes = saved.reduce((sum, e) => sum + e!.bytes, 0);
  const durationMs = saved.reduce((sum, e) => sum + e!.durationMs, 0);
  const mean = (w: Window[]) => w.reduce((s, x) => s + x.corePercent, 0) / w.length;
  const without = mean(windows.filter((w) => !w.recording));
  const withRec = mean(windows.filter((w) => w.recording));
  const result = {
    bots: BOTS,
    windowMs: WINDOW_MS,
    windows,
    withoutPercent: without,
    withPercent: withRec,
    addedPercent: withRec - without,
    bytesPerMinute: durationMs > 0 ? (bytes / durationMs) * 60_000 : NaN,
    recordedMs: Math.round(recordedMs),
    savedMs: durationMs,
  };
  if (args.json) console.log(JSON.stringify(result, null, 2));
  else {
    console.log([
      `## Recording`,
      "",
      `One meeting of ${BOTS} bots (20 ms Opus tone each, ${FPS} fps of 2.5 KB video frames), ` +
      `server CPU over ${WINDOW_MS / 1000} s windows without and with a recording, ` +
      `${PAIRS} pair(s), on ${machineLine()}.`,
      "",
      table(
        ["windows", "server CPU, % of one core"],
        [
          ["without recording", fmt(without, 1)],
          ["recording", fmt(withRec, 1)],
          ["added by recording", fmt(withRec - without, 1)],
        ],
        [false, true],
      ),
      "",
      `Written: ${fmt(result.bytesPerMinute / 1e6, 2)} MB per recorded minute ` +
      `(${fmt(durationMs / 1000, 1)} s saved of ${fmt(recordedMs / 1000, 1)} s recorded).`,
    ].join("\n"));
  }
} finally {
  for (const t of timers) clearInterval(t);
  for (const bot of bots) bot.close();
  await server.stop();
}
