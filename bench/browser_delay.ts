/**
 * End-to-end delay in the browser, relay mode: 2 or 3 headless Chromium pages in one meeting
 * on loopback, each with a fake camera (a busy 640x360 test picture from ffmpeg) and the fake
 * microphone, through a real server (`main.ts` in its own process). The pages are driven over
 * the DevTools protocol's Runtime domain alone (`_cdp_browser.ts`): a debugger that watches
 * the network costs CPU a user's browser does not spend. It reports:
 *
 * - video delay: the sender's capture time (carried in every packet) to the moment the frame
 *   is expected on screen at the receiver (`requestVideoFrameCallback`), and to decoded;
 * - audio delay: capture (the first sample of a 20 ms frame reaching the capture worklet) to
 *   the moment it leaves for the speakers (the sample frame its first sample is rendered at,
 *   dated by the AudioContext's output timestamp), with the parts, each over the window:
 *   capture to arrival of the mix at the page (sender, network, server mixer), the wait in
 *   the playout buffer, and the output latency the context reports,
 *   and the glitches of the output (underruns);
 * - decoded and shown frame rates, and CPU (machine and server).
 *
 * Usage: `./deno run -A bench/browser_delay.ts [--pages=3] [--seconds=20] [--warmup=5]
 * [--audio-only] [--json]` (`--audio-only`: every page turns its camera off after joining).
 * (about 35 s with the defaults). Progress goes to stderr, the report (Markdown) to stdout.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { waitFor } from "../tests/support/wait.ts";
import { type CdpPage, launchCdpBrowser } from "./_cdp_browser.ts";
import { startServerProcess } from "./_server_process.ts";
import {
  codeVersion,
  fmt,
  machine,
  machineBusyMs,
  machineLine,
  processCpuMs,
  quantile,
  sleep,
  sorted,
  table,
} from "./_report.ts";

const TARGET_VIDEO_P50_MS = 80;
const TARGET_AUDIO_P50_MS = 100;

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    pages: { type: "string", default: "3" },
    seconds: { type: "string", default: "20" },
    warmup: { type: "string", default: "5" },
    json: { type: "boolean", default: false },
    "audio-only": { type: "boolean", default: false },
    /** The pages' media carrier: webtransport (datagrams, falling back if blocked) or websocket. */
    transport: { type: "string", default: "webtransport" },
  },
});
if (args.transport !== "webtransport" && args.transport !== "websocket") {
  throw new Error(`--transport is webtransport or websocket (got "${args.transport}")`);
}
/** `?transport=websocket` keeps a page on the WebSocket (islands/MeetingPage.tsx). */
const TRANSPORT_QUERY = args.transport === "websocket" ? "&transport=websocket" : "";
const PAGES = Math.min(3, Math.max(2, Number(args.pages)));
const WINDOW_S = Math.max(5, Number(args.seconds));
const WARMUP_S = Math.max(0, Number(args.warmup));
const NAMES = ["Ann", "Bob", "Cy"].slice(0, PAGES);
/** Cameras off: the audio path without the pages' video work competing for the CPU. */
const AUDIO_ONLY = args["audio-only"];

const log = (...parts: unknown[]) => console.error("[browser_delay]", ...parts);

/** What the bench reads from a page's `__meetStats`. */
interface PageSnapshot {
  videoRendered: number[];
  videoDecoded: number[];
  audio: number[];
  /** Capture to the mix packet's arrival at the page, ms. */
  audioArrival: number[];
  /** Each frame's wait in the playout buffer, ms. */
  audioPlayout: number[];
  framesDecoded: number;
  framesRendered: number;
  /** The sender: capture to its packet sent (framing and encoder), ms (a moving mean). */
  audioEncodeMs: number;
  /** Microphone input left out on the mixer's advice so far, ms. */
  audioTrimmedMs: number;
  outputLatencyMs: number;
  /** Output glitches so far (the AudioContext's playbackStats), and their length, ms. */
  underruns: number;
  underrunMs: number;
  /** Whether the page's audio still has the smallest output buffer (latencyHint 0). */
  lowLatencyOutput: boolean;
  concealedPercent: number;
  stalls: number;
  sendFps: number;
}

function snapshot(page: CdpPage): Promise<PageSnapshot> {
  return page.evaluate(`(${readStats})()`);
}

/** Runs in the page: reads `__meetStats`. */
function readStats(): PageSnapshot {
  // deno-lint-ignore no-explicit-any
  const s = (globalThis as any).__meetStats;
  // deno-lint-ignore no-explicit-any
  const parts = Object.values(s.participants) as any[];
  return {
    videoRendered: [...s.delayLog.videoRendered],
    videoDecoded: [...s.delayLog.videoDecoded],
    audio: [...s.delayLog.audio],
    audioArrival: [...s.delayLog.audioArrival],
    audioPlayout: [...s.delayLog.audioPlayout],
    framesDecoded: parts.reduce((n, p) => n + p.framesDecoded, 0),
    framesRendered: parts.reduce((n, p) => n + p.framesRendered, 0),
    audioEncodeMs: s.send.audioEncodeMs,
    audioTrimmedMs: s.send.audioTrimmedMs,
    outputLatencyMs: s.audio.outputLatencyMs,
    underruns: s.audio.underruns ?? 0,
    underrunMs: s.audio.underrunMs ?? 0,
    lowLatencyOutput: s.audio.lowLatencyOutput,
    concealedPercent: s.audio.concealedPercent,
    stalls: s.audio.stalls,
    sendFps: s.send.videoFrames,
  };
}

interface Quantiles {
  n: number;
  p50: number;
  p95: number;
}

function quantiles(values: number[]): Quantiles {
  const s = sorted(values);
  return { n: s.length, p50: quantile(s, 0.5), p95: quantile(s, 0.95) };
}

const median = (values: number[]) => quantile(sorted(values), 0.5);

async function main() {
  const dir = await Deno.makeTempDir({ prefix: "meet-bench-clip-" });
  const clip = `${dir}/clip.y4m`;
  const ffmpeg = await new Deno.Command("ffmpeg", {
    args: ["-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"]
      .concat(["-t", "3", "-pix_fmt", "yuv420p", clip]),
  }).output();
  if (!ffmpeg.success) throw new Error(new TextDecoder().decode(ffmpeg.stderr));
  // Relay even with 2 pages: the delay measured is through the server's mixer.
  const server = await startServerProcess({ args: ["--p2p", "off"] });
  log(`server ${server.url} (pid ${server.pid}), ${PAGES} pages`);
  const browser = await launchCdpBrowser([`--use-file-for-fake-video-capture=${clip}`]);
  try {
    const meeting = await (await fetch(`${server.url}api/meetings`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ title: "Delay bench", name: "Bench" }),
    })).json();
    const pages: CdpPage[] = [];
    for (const name of NAMES) {
      const page = await browser.newPage(
        `${server.url}m/${meeting.id}?name=${name}${TRANSPORT_QUERY}`,
      );
      // A link asks before it joins: press Join once the island is live.
      await page.waitFor(
        `document.querySelector("[data-island=MeetingPage][data-hydrated] [data-testid=join-button]") !== null`,
        `${name}'s join button`,
      );
      await page.evaluate(`document.querySelector("[data-testid=join-button]").click()`);
      await page.waitFor(
        `document.querySelector("[data-testid=room][data-joined=true]") !== null`,
        `${name} joined`,
      );
      if (AUDIO_ONLY) {
        await page.evaluate(`document.querySelector("[data-testid=toggle-camera]").click()`);
      }
      pages.push(page);
    }
    await waitFor(async () => {
      pages.forEach((page, i) => page.errors.splice(0).forEach((e) => log(`${NAMES[i]}: ${e}`)));
      for (const [i, page] of pages.entries()) {
        const ready = await page.evaluate(`globalThis.__meetStats !== undefined`);
        if (!ready) {
          log(
            `${NAMES[i]}: no media session yet; the page shows: ${
              String(await page.evaluate(`document.body.innerText.slice(0, 200)`)).replace(
                /\s+/g,
                " ",
              )
            }`,
          );
          return false;
        }
      }
      const snaps = await Promise.all(pages.map(snapshot));
      return snaps.every((s) =>
        (AUDIO_ONLY || (s.videoRendered.length > 30 && s.framesRendered > 0)) &&
        s.audio.length > 10
      );
    }, {
      what: AUDIO_ONLY ? "audio on every page" : "video and audio on every page",
      timeoutMs: 20_000,
      intervalMs: 200,
    });
    log(`media flowing; warming up ${WARMUP_S} s`);
    await sleep(WARMUP_S * 1000);

    const before = await Promise.all(pages.map(snapshot));
    const busyBefore = machineBusyMs();
    const serverBefore = processCpuMs(server.pid);
    const t0 = performance.now();
    log(`measuring for ${WINDOW_S} s`);
    await sleep(WINDOW_S * 1000);
    const after = await Promise.all(pages.map(snapshot));
    const elapsedS = (performance.now() - t0) / 1000;
    pages.forEach((page, i) => page.errors.forEach((e) => log(`${NAMES[i]}: page error: ${e}`)));
    const busy = (machineBusyMs() - busyBefore) / (elapsedS * 1000);
    const serverCpu = (processCpuMs(server.pid) - serverBefore) / (elapsedS * 1000);

    // Delays recorded during the window (the logs only grow, up to 5000 entries).
    const fresh = (a: number[], b: number[]) =>
      b.slice(Math.max(0, b.length - (b.length - a.length)));
    const windowOf = (
      key: "videoRendered" | "videoDecoded" | "audio" | "audioArrival" | "audioPlayout",
    ) => after.flatMap((s, i) => fresh(before[i][key], s[key]));
    const video = quantiles(windowOf("videoRendered"));
    const decoded = quantiles(windowOf("videoDecoded"));
    const audio = quantiles(windowOf("audio"));
    const streams = PAGES * (PAGES - 1);
    const decodeFps = after.reduce((n, s, i) => n + s.framesDecoded - before[i].framesDecoded, 0) /
      elapsedS / streams;
    const shownFps = after.reduce((n, s, i) => n + s.framesRendered - before[i].framesRendered, 0) /
      elapsedS / streams;
    const arrival = quantiles(windowOf("audioArrival"));
    const playout = quantiles(windowOf("audioPlayout"));
    const encode = median(after.map((s) => s.audioEncodeMs));
    const trimmed = after.map((s) => s.audioTrimmedMs);
    const output = median(after.map((s) => s.outputLatencyMs));
    const concealed = median(after.map((s) => s.concealedPercent));
    const stalls = after.reduce((n, s, i) => n + s.stalls - before[i].stalls, 0);
    const underruns = after.reduce((n, s, i) => n + s.underruns - before[i].underruns, 0);
    const underrunMs = after.reduce((n, s, i) => n + s.underrunMs - before[i].underrunMs, 0);

    const carriers = (await (await fetch(`${server.url}api/meetings/${meeting.id}`)).json()).media
      ?.transports;
    const result = {
      pages: PAGES,
      transport: args.transport,
      carriers,
      audioOnly: AUDIO_ONLY,
      windowSeconds: elapsedS,
      video,
      decoded,
      audio,
      decodeFps,
      shownFps,
      audioParts: {
        captureToSentMs: encode,
        trimmedMs: trimmed,
        mixArrival: arrival,
        playoutWait: playout,
        outputLatencyMs: output,
      },
      concealedPercent: concealed,
      stalls,
      underruns,
      underrunMs,
      lowLatencyPages: after.filter((s) => s.lowLatencyOutput).length,
      machineCpuPercent: busy * 100,
      serverCpuPercent: serverCpu * 100,
    };
    if (args.json) {
      console.log(JSON.stringify(result, null, 2));
      return;
    }
    const verdict = (p50: number, target: number) => (p50 < target ? "yes" : "NO");
    const cameras = AUDIO_ONLY ? ", cameras off" : "";
    console.log(
      `## Browser end-to-end delay (relay over ${args.transport}, ${PAGES} pages on loopback${cameras})\n`,
    );
    console.log(`${machineLine(machine())}; code ${codeVersion()}\n`);
    console.log(
      table(
        ["measure", "samples", "p50 ms", "p95 ms", "target p50", "met"],
        [
          ...(AUDIO_ONLY ? [] : [
            [
              "video, capture to display",
              String(video.n),
              fmt(video.p50),
              fmt(video.p95),
              `< ${TARGET_VIDEO_P50_MS}`,
              verdict(video.p50, TARGET_VIDEO_P50_MS),
            ],
            [
              "video, capture to decoded",
              String(decoded.n),
              fmt(decoded.p50),
              fmt(decoded.p95),
              "",
              "",
            ],
          ]),
          [
            "audio, capture to speaker",
            String(audio.n),
            fmt(audio.p50),
            fmt(audio.p95),
            `< ${TARGET_AUDIO_P50_MS}`,
            verdict(audio.p50, TARGET_AUDIO_P50_MS),
          ],
        ],
        [false, true, true, true, true, false],
      ),
    );
    console.log();
    console.log(
      table(
        ["figure", "value"],
        [
          ["video decoded per stream", `${fmt(decodeFps, 1)} fps (${streams} streams)`],
          ["video shown per stream", `${fmt(shownFps, 1)} fps`],
          ["audio: capture to packet sent (median of pages)", `${fmt(encode)} ms`],
          [
            "audio: input trimmed on the mixer's advice (per page, since joining)",
            trimmed.map((ms) => `${fmt(ms)} ms`).join(", "),
          ],
          [
            "audio: capture to mix arrival, p50 / p95",
            `${fmt(arrival.p50)} / ${fmt(arrival.p95)} ms`,
          ],
          [
            "audio: wait in the playout buffer, p50 / p95",
            `${fmt(playout.p50)} / ${fmt(playout.p95)} ms`,
          ],
          [
            "audio: AudioContext output latency (median), pages at the smallest buffer",
            `${fmt(output)} ms, ${result.lowLatencyPages} of ${PAGES}`,
          ],
          ["audio: output glitches in window (underruns)", `${underruns}, ${fmt(underrunMs)} ms`],
          [
            "audio: concealed (median of pages), stalls in window",
            `${fmt(concealed, 1)} %, ${stalls}`,
          ],
          [
            "CPU: machine (all cores), server process",
            `${fmt(busy * 100)} %, ${fmt(serverCpu * 100)} %`,
          ],
        ],
      ),
    );
    console.log(
      `\nWindow ${fmt(elapsedS, 1)} s after ${WARMUP_S} s of warm-up. Video delay: the sender's ` +
        `camera frame capture time to the receiver's expected display time; audio delay: the ` +
        `first sample of a 20 ms frame at the capture worklet to the speaker, through the ` +
        `server's mixer.`,
    );
  } finally {
    await browser.close();
    await server.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

await main();
