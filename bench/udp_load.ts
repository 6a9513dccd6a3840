/**
 * UDP load benchmark: N terminal-client bots in N/4 meetings of 4 send audio and video over
 * UDP to a REAL server process, and receive everyone else's video and their mix, as
 * `deno task client --tone 440 --ivf clip.ivf` does. The sweep grows N (4, 8, 16, 32 by
 * default: 4, 8, 16, 32, 48, 64; with audio, 64 is past what 2 cores carry).
 *
 * The bots are the terminal client's own parts, in this process: `TerminalControl` (control over
 * npm:ws: identify, create / join, media state), `UdpLink` (`MEET-BIND` with the media key until bound, then
 * keepalives), `AudioSender` (a 440 Hz tone encoded to Opus, 20 ms frames, on a drift-free
 * `Pacer`) and `VideoSender` (VP8 frames of a real IVF clip, packetized into packets of at
 * most 1,200 bytes, paced by the file's timestamps), each packet carrying the capture-time
 * extension; a PLI from the server makes the sender jump to a keyframe. The server is
 * `main.ts` with the permissions of `deno task start` (bench/_server_process.ts), `--p2p off`.
 * The clip is made with ffmpeg at the start (640x360, 30 fps, ~1 Mb/s, ~4 packets a frame).
 *
 * Measured per step, over a window after a warm-up:
 * - forwarded packets/s: video packets sent in the window that reached a receiver, plus mix
 *   packets received (the server's own counters are read too);
 * - server CPU from /proc/<pid>/stat (process and main thread), and forwarded packets/s per
 *   core = forwarded rate / server CPU share;
 * - loss: video sent in the window x receivers, against received; mix: 50 packets/s per bot
 *   expected;
 * - relay-added latency of video: arrival - send, both `performance.now()` of this process
 *   (the loopback clock), matched by (SSRC, sequence number), which the server forwards
 *   unchanged. The mix's delay is read from its capture-time extension (the oldest capture
 *   time mixed, `Date.now()`, ms resolution): it includes the server's 40 ms jitter buffer;
 * - the CPU of the bots and of the rest of the machine, and the load average before and
 *   after each step. A lossy step while other processes were busy is run again (3 tries).
 *
 * At the largest N it also runs the same meetings with video only, and the WebSocket router
 * benchmark (bench/router.ts) with the same meetings for comparison.
 *
 * Usage:
 *   deno run --allow-all bench/udp_load.ts [--quick] [--bots=4,8,16,32,48,64] [--size=4]
 *     [--window-ms=N] [--no-compare] [--json] [--senders=S] [--video-only]
 *
 * `--senders=S --size=N`: in each meeting the first S bots send and the other N - S only
 * receive (S x (N - 1) forwarded flows): `--bots=33 --size=33 --senders=3 --video-only` is
 * the issue's 3 x 30 forwarding case.
 *
 * @module
 */

import process from "node:process";
import { ToneSource } from "../cli/audio_source.ts";
import { parseIvf } from "../cli/ivf.ts";
import { Pacer } from "../cli/pacer.ts";
import { AudioSender, VideoSender } from "../cli/senders.ts";
import { TerminalControl } from "../cli/terminal_control.ts";
import { UdpLink } from "../cli/udp_media.ts";
import { IvfVideoSource } from "../cli/video_source.ts";
import { parseRtcp } from "../media/rtcp.ts";
import { isRtcp, parseRtp } from "../media/rtp.ts";
import { PT_OPUS, PT_VP8, readCaptureTime } from "../protocol/media.ts";
import { CLIP, haveFfmpeg, makeVp8Clip } from "./_media_files.ts";
import {
  fmt,
  machine,
  machineBusyMs,
  machineLine,
  processCpuMs,
  quantile,
  Samples,
  sleep,
  table,
} from "./_report.ts";
import {
  loadAverage,
  loadText,
  mediaDelta,
  mediaTotals,
  type ServerProcess,
  startServerProcess,
  udpReceiveDrops,
  waitForQuiet,
} from "./_server_process.ts";
import { type RouterStepResult, runRouterBench } from "./router.ts";

/** Loss under this is "no loss", %. */
export const UDP_LOSS_TARGET_PERCENT = 0.1;
/** Default sweep: bots (meetings = bots / size). */
export const DEFAULT_BOTS = [4, 8, 16, 32, 48, 64];
/** The quick sweep. */
export const QUICK_BOTS = [4, 16, 32];
/** Most bots in one step. */
const MAX_BOTS = 128;
const TONE_HZ = 440;
const MIX_PACKETS_PER_SECOND = 50;

/** One step: `bots` bots in `bots / size` meetings. */
export interface UdpStep {
  bots: number;
  size: number;
  audio: boolean;
  video: boolean;
  /**
   * Bots of each meeting that send (the first ones); the others only receive: S senders x R
   * receivers (default: every bot sends).
   */
  senders?: number;
}

/** What one step measured. */
export interface UdpStepResult extends UdpStep {
  meetings: number;
  windowMs: number;
  attempts: number;
  /** Packets the bots sent per second. */
  videoSentPerSecond: number;
  audioSentPerSecond: number;
  /** Video packets sent in the window that reached a receiver, per second. */
  videoForwardedPerSecond: number;
  /** Mix packets the bots received in the window, per second. */
  mixReceivedPerSecond: number;
  /** Both. */
  forwardedPerSecond: number;
  /** Received media, Mbit/s. */
  forwardedMbps: number;
  /** The server's counters (forwarded video, mixed audio sent), per second. */
  serverVideoPerSecond: number;
  serverAudioPerSecond: number;
  serverCpuPercent: number;
  serverMainThreadPercent: number;
  /** forwardedPerSecond / (serverCpuPercent / 100). */
  forwardedPerCoreSecond: number;
  botCpuPercent: number;
  /** Longest gap between two ticks of a bot's 20 ms audio clock in the window, ms. */
  audioClockMaxGapMs: number;
  otherCpuPercent: number;
  videoExpected: number;
  videoReceived: number;
  videoLossPercent: number;
  mixExpected: number;
  mixLossPercent: number;
  /** Relay-added latency of video (arrival - send, same clock), ms. */
  latencyP50Ms: number;
  latencyP99Ms: number;
  latencyMaxMs: number;
  /** Mix delay (arrival - capture time in the mix), ms; includes the jitter buffer. */
  mixDelayP50Ms: number;
  mixDelayP99Ms: number;
  /** Server drops and requests in the window. */
  lateAudio: number;
  waitingKeyframe: number;
  keyframeRequests: number;
  /** PLIs the bots received. */
  plisReceived: number;
  /** Datagrams the kernel dropped in the window, receive buffer full: server's socket, bots'. */
  serverSocketDrops: number;
  botSocketDrops: number;
  loadBefore: number[];
  loadAfter: number[];
}

/** The whole result. */
export interface UdpBenchResult {
  machine: ReturnType<typeof machine>;
  opus: string;
  steps: UdpStepResult[];
  /** The same meetings as the largest step over the WebSocket (bench/router.ts), video only. */
  websocket: RouterStepResult | null;
  loadBefore: number[];
  loadAfter: number[];
  note: string;
}

/** Options of {@linkcode runUdpBench}. */
export interface UdpBenchOptions {
  bots?: number[];
  size?: number;
  windowMs?: number;
  warmupMs?: number;
  /** Run the video-only and WebSocket comparisons at the largest step (default true). */
  compare?: boolean;
  /** Bots of each meeting that send; the others only receive (default: all send). */
  senders?: number;
  /** Video alone, no audio (a forwarding measure: no mixer at work). */
  videoOnly?: boolean;
  log?: (line: string) => void;
}

// --- bots ----------------------------------------------------------------------------------

interface Tally {
  /** performance.now() bounds of the window; null outside it. */
  window: { start: number; end: number } | null;
  /** Send time of each video packet, by SSRC, indexed by sequence number. */
  sendTimes: Map<number, Float64Array>;
  latency: Samples;
  mixDelay: Samples;
  audioClockMaxGap: number;
}

const inWindow = (t: Tally, at: number) =>
  t.window !== null && at >= t.window.start && at < t.window.end;

interface Bot {
  session: TerminalControl;
  link: UdpLink;
  audio: AudioSender;
  video: VideoSender | null;
  clock: Pacer | null;
  startTimer: ReturnType<typeof setTimeout> | undefined;
  videoSent: number;
  audioSent: number;
  videoReceived: number;
  mixReceived: number;
  bytesReceived: number;
  plis: number;
}

async function startBot(
  server: ServerProcess,
  name: string,
  meetingId: string | null,
  step: UdpStep,
  clip: ReturnType<typeof parseIvf>,
  tally: Tally,
): Promise<{ bot: Bot; meetingId: string }> {
  const session = await TerminalControl.open(server.wsUrl, name);
  try {
    const { meeting } = meetingId
      ? await session.join(meetingId)
      : await session.create(`udp bench ${name}`);
    const ssrcs = meeting.media;
    const sendTimes = new Float64Array(65536).fill(NaN);
    tally.sendTimes.set(ssrcs.videoSsrc, sendTimes);
    // Set once the bot is ready; packets before that (PLIs at join) are ignored.
    // deno-lint-ignore prefer-const
    let bot: Bot | undefined;
    const receive = (bytes: Uint8Array) => {
      if (!bot) return;
      const now = performance.now();
      if (isRtcp(bytes)) {
        const rtcp = parseRtcp(bytes);
        if (
          rtcp.ok && rtcp.packets.some((p) => p.type === "pli" && p.mediaSsrc === ssrcs.videoSsrc)
        ) {
          bot.plis++;
          bot.video?.requestKeyframe();
        }
        return;
      }
      const parsed = parseRtp(bytes);
      if (!parsed.ok) return;
      const packet = parsed.packet;
      if (packet.payloadType === PT_VP8) {
        const sent = tally.sendTimes.get(packet.ssrc)?.[packet.sequenceNumber];
        if (sent !== undefined && inWindow(tally, sent)) {
          bot.videoReceived++;
          bot.bytesReceived += bytes.length;
          tally.latency.add(now - sent);
        }
      } else if (packet.payloadType === PT_OPUS && packet.ssrc === ssrcs.mixSsrc) {
        if (!inWindow(tally, now)) return;
        bot.mixReceived++;
        bot.bytesReceived += bytes.length;
        const captured = readCaptureTime(packet.extension);
        if (captured !== null) tally.mixDelay.add(Date.now() - captured);
      }
    };
    const link = await UdpLink.open({ hostname: "127.0.0.1", port: server.udpPort }, {
      onPacket: receive,
    });
    try {
      await link.bind(ssrcs.mediaKey, meeting.id);
    } catch (err) {
      await link.close();
      throw err;
    }
    const b: Bot = {
      session,
      link,
      audio: new AudioSender(
        (bytes) => {
          if (inWindow(tally, performance.now())) b.audioSent++;
          link.send(bytes);
        },
        ssrcs.audioSsrc,
        step.audio ? new ToneSource(TONE_HZ) : null,
      ),
      video: null,
      clock: null,
      startTimer: undefined,
      videoSent: 0,
      audioSent: 0,
      videoReceived: 0,
      mixReceived: 0,
      bytesReceived: 0,
      plis: 0,
    };
    if (step.video) {
      const source = new IvfVideoSource(clip.header, clip.frames, "bench clip");
      b.video = new VideoSender(
        (bytes) => {
          const now = performance.now();
          const parsed = parseRtp(bytes);
          if (parsed.ok) sendTimes[parsed.packet.sequenceNumber] = now;
          if (inWindow(tally, now)) b.videoSent++;
          link.send(bytes);
        },
        ssrcs.videoSsrc,
        source,
      );
    }
    await session.setMedia(step.audio, step.video);
    bot = b;
    return { bot: b, meetingId: meeting.id };
  } catch (err) {
    session.close();
    throw err;
  }
}

/** Starts a bot's clocks, its phase spread at random over a frame. */
function startSending(bot: Bot, tally: Tally): void {
  if (bot.audio.active) {
    let last = NaN;
    bot.clock = new Pacer(() => {
      const now = performance.now();
      if (tally.window && now >= tally.window.start && now < tally.window.end + 20) {
        tally.audioClockMaxGap = Math.max(tally.audioClockMaxGap, now - last);
      }
      last = now;
      bot.audio.tick();
      return 20;
    }, { firstDelayMs: Math.random() * 20 });
  }
  if (bot.video) {
    bot.startTimer = setTimeout(() => bot.video?.start(), Math.random() * (1000 / CLIP.fps));
  }
}

async function stopBot(bot: Bot): Promise<void> {
  clearTimeout(bot.startTimer);
  bot.clock?.stop();
  bot.video?.stop();
  bot.audio.close();
  await bot.link.close();
  try {
    await Promise.race([bot.session.leave(), sleep(2000)]);
  } catch { /* gone */ }
  bot.session.close();
}

// --- one step ------------------------------------------------------------------------------

async function runStep(
  server: ServerProcess,
  step: UdpStep,
  clip: Parameters<typeof startBot>[4],
  windowMs: number,
  warmupMs: number,
): Promise<UdpStepResult> {
  const meetings = Math.ceil(step.bots / step.size);
  const tally: Tally = {
    window: null,
    sendTimes: new Map(),
    latency: new Samples(1 << 16),
    mixDelay: new Samples(1 << 14),
    audioClockMaxGap: 0,
  };
  const bots: Bot[] = [];
  const ids: string[] = [];
  const loadBefore = loadAverage();
  try {
    for (let m = 0; m < meetings; m++) {
      let id: string | null = null;
      for (let p = 0; p < step.size && bots.length < step.bots; p++) {
        const sends = p < (step.senders ?? step.size);
        const role = sends ? step : { ...step, audio: false, video: false };
        const started = await startBot(server, `bot ${m + 1}.${p + 1}`, id, role, clip, tally);
        id = started.meetingId;
        bots.push(started.bot);
      }
      ids.push(id!);
    }
    for (const bot of bots) startSending(bot, tally);
    await sleep(warmupMs);
    const before = await mediaTotals(server, ids);
    const serverPorts = new Set([server.udpPort]);
    const botPorts = new Set(bots.map((b) => b.link.localPort));
    const serverDrops0 = udpReceiveDrops(serverPorts);
    const botDrops0 = udpReceiveDrops(botPorts);
    const machine0 = machineBusyMs();
    const cpu0 = processCpuMs(server.pid);
    const main0 = processCpuMs(server.pid, server.pid);
    const own0 = process.cpuUsage();
    const wall0 = performance.now();
    tally.window = { start: wall0, end: wall0 + windowMs };
    await sleep(windowMs);
    const wallMs = performance.now() - wall0;
    const cpuMs = processCpuMs(server.pid) - cpu0;
    const mainMs = processCpuMs(server.pid, server.pid) - main0;
    const machineMs = machineBusyMs() - machine0;
    const own = process.cpuUsage(own0);
    const ownMs = (own.user + own.system) / 1000;
    const sum = (f: (b: Bot) => number) => bots.reduce((a, b) => a + f(b), 0);
    const mixReceived = sum((b) => b.mixReceived);
    // Let the window's video arrive (the bots keep sending meanwhile), at most 1 s.
    const expectedOf = () => sum((b) => b.videoSent) * (step.size - 1);
    const drainUntil = performance.now() + 1000;
    while (sum((b) => b.videoReceived) < expectedOf() && performance.now() < drainUntil) {
      await sleep(20);
    }
    const after = await mediaTotals(server, ids);
    const serverSocketDrops = udpReceiveDrops(serverPorts) - serverDrops0;
    const botSocketDrops = udpReceiveDrops(botPorts) - botDrops0;
    const delta = mediaDelta(after, before);
    const seconds = wallMs / 1000;
    const counterSeconds = delta.at / 1000;
    const videoExpected = expectedOf();
    const videoReceived = sum((b) => b.videoReceived);
    const mixExpected = step.audio ? Math.round(bots.length * MIX_PACKETS_PER_SECOND * seconds) : 0;
    const latency = tally.latency.sorted();
    const mixDelay = tally.mixDelay.sorted();
    const serverCpuPercent = (cpuMs / wallMs) * 100;
    const forwardedPerSecond = (videoReceived + mixReceived) / seconds;
    return {
      ...step,
      meetings,
      windowMs,
      attempts: 1,
      videoSentPerSecond: sum((b) => b.videoSent) / seconds,
      audioSentPerSecond: sum((b) => b.audioSent) / seconds,
      videoForwardedPerSecond: videoReceived / seconds,
      mixReceivedPerSecond: mixReceived / seconds,
      forwardedPerSecond,
      forwardedMbps: (sum((b) => b.bytesReceived) * 8) / seconds / 1e6,
      serverVideoPerSecond: delta.forwardedVideo / counterSeconds,
      serverAudioPerSecond: delta.forwardedAudio / counterSeconds,
      serverCpuPercent,
      serverMainThreadPercent: (mainMs / wallMs) * 100,
      forwardedPerCoreSecond: forwardedPerSecond / (serverCpuPercent / 100),
      botCpuPercent: (ownMs / wallMs) * 100,
      audioClockMaxGapMs: tally.audioClockMaxGap,
      otherCpuPercent: ((machineMs - cpuMs - ownMs) / wallMs) * 100,
      videoExpected,
      videoReceived,
      videoLossPercent: videoExpected ? (1 - videoReceived / videoExpected) * 100 : NaN,
      mixExpected,
      mixLossPercent: mixExpected ? Math.max(0, (1 - mixReceived / mixExpected) * 100) : NaN,
      latencyP50Ms: quantile(latency, 0.5),
      latencyP99Ms: quantile(latency, 0.99),
      latencyMaxMs: latency.length ? latency[latency.length - 1] : NaN,
      mixDelayP50Ms: quantile(mixDelay, 0.5),
      mixDelayP99Ms: quantile(mixDelay, 0.99),
      lateAudio: delta.lateAudio,
      waitingKeyframe: delta.waitingKeyframe,
      keyframeRequests: delta.keyframeRequests,
      plisReceived: sum((b) => b.plis),
      serverSocketDrops,
      botSocketDrops,
      loadBefore,
      loadAfter: loadAverage(),
    };
  } finally {
    tally.window = null;
    await Promise.all(bots.map(stopBot));
    await sleep(300);
  }
}

/** A step lost packets while other processes were busy or the bots' clock stalled. */
function disturbed(r: UdpStepResult): boolean {
  return r.otherCpuPercent > 40 || r.audioClockMaxGapMs > 100;
}

function lossOf(r: UdpStepResult): number {
  return Math.max(
    Number.isFinite(r.videoLossPercent) ? r.videoLossPercent : 0,
    Number.isFinite(r.mixLossPercent) ? r.mixLossPercent : 0,
  );
}

/** Runs the sweep against one fresh server process. */
export async function runUdpBench(options: UdpBenchOptions = {}): Promise<UdpBenchResult> {
  const log = options.log ?? ((line: string) => console.error(line));
  // Meetings of up to 10 that all send, or of up to 100 with a few senders (S x R).
  const size = Math.max(2, Math.min(options.senders ? 100 : 10, options.size ?? 4));
  const windowMs = Math.max(500, Math.min(60_000, options.windowMs ?? 5000));
  const warmupMs = Math.max(500, Math.min(10_000, options.warmupMs ?? 2000));
  const botCounts = (options.bots ?? DEFAULT_BOTS).filter((n) => n >= size && n <= MAX_BOTS);
  if (!(await haveFfmpeg())) {
    throw new Error("bench/udp_load.ts needs ffmpeg (apt-get install ffmpeg)");
  }
  const loadBefore = loadAverage();
  const dir = await Deno.makeTempDir({ prefix: "meet-udp-bench-" });
  const steps: UdpStep[] = botCounts.map((bots) => ({
    bots,
    size,
    audio: !options.videoOnly,
    video: true,
    ...(options.senders ? { senders: Math.min(size, options.senders) } : {}),
  }));
  const largest = steps.at(-1);
  if (largest && options.compare !== false) steps.push({ ...largest, audio: false });
  const results: UdpStepResult[] = [];
  let opus = "";
  let websocket: RouterStepResult | null = null;
  try {
    const { header, frames } = parseIvf(await Deno.readFile(await makeVp8Clip(dir)));
    const server = await startServerProcess({ args: ["--p2p", "off"] });
    opus = server.opus;
    log(`udp: server pid ${server.pid} at ${server.url}, UDP ${server.udpPort}, Opus ${opus}`);
    try {
      for (const step of steps) {
        let r: UdpStepResult | undefined;
        for (let attempt = 1; attempt <= 3; attempt++) {
          const own = () => {
            const u = process.cpuUsage();
            return processCpuMs(server.pid) + (u.user + u.system) / 1000;
          };
          const others = await waitForQuiet(own, machineBusyMs, 20_000);
          if (others >= 15) log(`udp: other processes busy (${fmt(others)}% of a core); going on`);
          r = {
            ...await runStep(server, step, { header, frames }, windowMs, warmupMs),
            attempts: attempt,
          };
          if (!(lossOf(r) > UDP_LOSS_TARGET_PERCENT && disturbed(r)) || attempt === 3) break;
          log(
            `udp: ${step.bots} bots lost ${fmt(lossOf(r), 2)}% while other processes used ` +
              `${fmt(r.otherCpuPercent)}% CPU (audio clock gap ${
                fmt(r.audioClockMaxGapMs)
              } ms): again`,
          );
        }
        if (!r) break;
        results.push(r);
        log(
          `udp: ${r.bots} bots (${r.meetings} x ${r.size}${
            r.senders ? `, ${r.senders} sending` : ""
          }, ${r.audio ? "audio + " : ""}video): ` +
            `${fmt(r.forwardedPerSecond)} pkt/s out, server ${fmt(r.serverCpuPercent)}%, ` +
            `bots ${fmt(r.botCpuPercent)}%, video loss ${fmt(r.videoLossPercent, 2)}%, ` +
            `p50/p99 ${fmt(r.latencyP50Ms, 2)}/${fmt(r.latencyP99Ms, 2)} ms`,
        );
      }
    } finally {
      await server.stop();
    }
    if (largest && options.compare !== false) {
      log(`udp: the same meetings over the WebSocket (bench/router.ts)`);
      const ws = await runRouterBench({
        steps: [{ meetings: Math.ceil(largest.bots / size), size }],
        windowMs,
        warmupMs,
        log,
      });
      websocket = ws.steps[0] ?? null;
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  return {
    machine: machine(),
    opus,
    steps: results,
    websocket,
    loadBefore,
    loadAfter: loadAverage(),
    note: `server = \`main.ts\` in its own process with the permissions of \`deno task start\`, ` +
      `\`--p2p off\`; Opus ${opus}. Bots = the terminal client's TerminalControl, UdpLink, AudioSender ` +
      `and VideoSender in the benchmark's process, on the same ${navigator.hardwareConcurrency} ` +
      `cores; each sends a ${TONE_HZ} Hz tone (Opus, 20 ms frames) and a VP8 clip ` +
      `(${CLIP.width}x${CLIP.height}, ${CLIP.fps} fps, ~${CLIP.kbps / 1000} Mb/s, ~4 packets a ` +
      `frame, keyframe every ${CLIP.gop / CLIP.fps} s or on PLI) and receives the others' video ` +
      `and its mix. ${fmt(warmupMs)} ms warm-up, ${fmt(windowMs)} ms window per step.`,
  };
}

// --- report --------------------------------------------------------------------------------

/** The result as Markdown. */
export function formatUdp(result: UdpBenchResult): string {
  const rows = result.steps.map((r) => [
    `${r.bots} (${r.meetings} x ${r.size})`,
    (r.audio ? "audio + video" : "video only") +
    (r.senders !== undefined && r.senders < r.size ? `, ${r.senders} senders` : ""),
    `${fmt(r.videoForwardedPerSecond)} + ${fmt(r.mixReceivedPerSecond)} = ${
      fmt(r.forwardedPerSecond)
    }`,
    fmt(r.forwardedMbps, 1),
    `${fmt(r.serverCpuPercent, 1)}% / ${fmt(r.serverMainThreadPercent, 1)}%`,
    fmt(r.forwardedPerCoreSecond),
    `${fmt(r.botCpuPercent)}% / ${r.audio ? fmt(r.audioClockMaxGapMs) : "-"}`,
    `${fmt(Math.max(0, r.otherCpuPercent))}%${disturbed(r) ? " (!)" : ""}`,
    `${fmt(r.videoLossPercent, 2)}% / ${r.audio ? `${fmt(r.mixLossPercent, 2)}%` : "-"}`,
    `${fmt(r.serverSocketDrops)} / ${fmt(r.botSocketDrops)}`,
    `${fmt(r.latencyP50Ms, 2)} / ${fmt(r.latencyP99Ms, 2)}`,
    r.audio ? `${fmt(r.mixDelayP50Ms)} / ${fmt(r.mixDelayP99Ms)}` : "-",
    `${loadText(r.loadBefore.slice(0, 1))} -> ${loadText(r.loadAfter.slice(0, 1))}`,
  ]);
  const out = [
    `UDP load through the server (${result.note})`,
    "",
    table(
      [
        "bots (meetings x size)",
        "media",
        "forwarded pkt/s: video + mix = total",
        "Mb/s out",
        "server CPU: process / main thread",
        "forwarded pkt/s per core",
        "bots CPU / max audio clock gap ms",
        "rest of machine CPU",
        "loss: video / mix",
        "kernel drops: server / bots",
        "video relay latency p50 / p99 ms",
        "mix delay p50 / p99 ms",
        "load avg (1 min) before -> after",
      ],
      rows,
      [false, false, true, true, true, true, true, true, true, true, true, true, false],
    ),
    "",
    "CPU is % of one core. Per core = forwarded packets (video + mix) / server CPU share; the " +
    "server's CPU includes mixing (one Opus decode per speaker and up to 4 encodes per meeting " +
    "every 20 ms), so the audio + video rows cost more per packet than video alone. Video " +
    "relay latency = arrival - send in this process (loopback, `performance.now()`), including " +
    "the bots' own event loop; mix delay = arrival - the capture time carried by the mix " +
    "(ms resolution), including the server's jitter buffer. Mix loss counts mix packets " +
    "against 50 a second per bot (clock jitter at the window's edges shows as a few " +
    "hundredths of a percent). Kernel drops = datagrams dropped in the window because a " +
    "socket's receive buffer was full (/proc/net/udp): UDP has no back-pressure, so a server " +
    "main thread busy elsewhere (mixing) lets its socket overflow. The audio clock gap is the " +
    "longest pause of a bot's 20 ms clock (a stalled bot process). Rest of machine = all " +
    "cores' busy time minus server and bots; (!) marks a step disturbed by other load.",
  ];
  const ws = result.websocket;
  const udpVideo = result.steps.find((r) => !r.audio);
  const udpFull = udpVideo
    ? result.steps.find((r) => r.audio && r.bots === udpVideo.bots)
    : undefined;
  if (ws || udpVideo) {
    const cmp: string[][] = [];
    const row = (
      label: string,
      fwd: number,
      cpu: number,
      perCore: number,
      loss: number,
      p50: number,
      p99: number,
    ) => [
      label,
      fmt(fwd),
      `${fmt(cpu, 1)}%`,
      fmt(perCore),
      `${fmt(loss, 2)}%`,
      `${fmt(p50, 2)} / ${fmt(p99, 2)}`,
    ];
    if (udpFull) {
      cmp.push(row(
        "UDP, audio + video",
        udpFull.forwardedPerSecond,
        udpFull.serverCpuPercent,
        udpFull.forwardedPerCoreSecond,
        lossOf(udpFull),
        udpFull.latencyP50Ms,
        udpFull.latencyP99Ms,
      ));
    }
    if (udpVideo) {
      cmp.push(row(
        "UDP, video only",
        udpVideo.forwardedPerSecond,
        udpVideo.serverCpuPercent,
        udpVideo.forwardedPerCoreSecond,
        udpVideo.videoLossPercent,
        udpVideo.latencyP50Ms,
        udpVideo.latencyP99Ms,
      ));
    }
    if (ws) {
      cmp.push(row(
        "WebSocket, video only (bench/router.ts)",
        ws.forwardedPerSecond,
        ws.serverCpuPercent,
        ws.forwardedPerCoreSecond,
        ws.lossPercent,
        ws.latencyP50Ms,
        ws.latencyP99Ms,
      ));
    }
    const geometry = udpVideo ?? udpFull!;
    out.push(
      "",
      `The same ${geometry.meetings} meetings of ${geometry.size}, by transport:`,
      "",
      table(
        [
          "transport",
          "forwarded pkt/s",
          "server CPU",
          "pkt/s per core",
          "loss",
          "latency p50 / p99 ms",
        ],
        cmp,
        [false, true, true, true, true, true],
      ),
    );
    if (ws && udpVideo && ws.forwardedPerCoreSecond > 0) {
      out.push(
        "",
        `Video only, UDP forwards ${
          fmt(udpVideo.forwardedPerCoreSecond / ws.forwardedPerCoreSecond, 2)
        } times as many packets per core as the WebSocket path. (The WebSocket bots send ` +
          `synthetic 4-packet frames, not the clip; both ~1 Mb/s at 30 fps.)`,
      );
    }
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
  const bots = value("bots")?.split(",").map(Number) ?? (quick ? QUICK_BOTS : DEFAULT_BOTS);
  const result = await runUdpBench({
    bots,
    size: value("size") ? Number(value("size")) : undefined,
    senders: value("senders") ? Number(value("senders")) : undefined,
    videoOnly: Deno.args.includes("--video-only"),
    windowMs: Number(value("window-ms") ?? (quick ? 2500 : 5000)),
    warmupMs: quick ? 1500 : 2000,
    compare: !Deno.args.includes("--no-compare"),
  });
  if (Deno.args.includes("--json")) console.log(JSON.stringify(result, null, 2));
  else console.log(`${machineLine(result.machine)}\n\n${formatUdp(result)}`);
}
