/**
 * Soak run: a real server (`main.ts` in its own process, 127.0.0.1, free ports, a temporary
 * data dir) with 3 meetings of 4 bots sending Opus audio and VP8 video for 10 minutes, with
 * churn throughout: a bot leaves and a new one joins; a bot's connection drops (abruptly or
 * cleanly) and it comes back with its token within the grace period; now and then a bot
 * drops for good and its seat must be freed when the grace period ends.
 *
 * Prints one row per window (a minute by default): the server's memory (RSS) and CPU, the
 * mix each bot receives (missing packets against the 50 a second expected), forwarded video
 * lost (sequence gaps), audio delay through the mixer and video delay through the router
 * (p50 / p99), churn so far, the server's drops, error lines in the server's log, the bots'
 * and other processes' CPU, and the load average. Then the verdict against the targets:
 *
 * - server RSS at the end within 10% of RSS after warm-up;
 * - no growth of loss or delay (the last third of the windows against the first third);
 * - no error line in the server's log;
 * - every reconnect resumed its seat, every join and leave succeeded, every abandoned seat
 *   was freed after the grace period, and no live meeting is left once every bot has left;
 * - the server neither crashed nor failed to stop on SIGTERM.
 *
 * Exits 0 when every target is met, 1 when one is missed, 2 on bad flags.
 * Not part of the test suite.
 *
 * Usage:
 *   deno task soak [--minutes 10] [--warmup MIN] [--window SECONDS] [--meetings 3] [--bots 4]
 *                  [--leave-every 20] [--drop-every 15] [--abandon-every 60] [--grace 10]
 *                  [--seed 1] [--heap] [--server-v8-flags FLAGS]
 *
 * `--heap` starts the server with the inspector (127.0.0.1, a free port): each row then also
 * shows the JavaScript heap left after a forced full garbage collection, and heap snapshots
 * after warm-up and at the end are compared by constructor (what grew). A diagnostic: the
 * collections and snapshots pause the server, so delay figures of such a run mean less.
 * `--server-v8-flags` passes V8 flags to the server (e.g. `--max-semi-space-size=4`), to try
 * how they change its memory.
 *
 * @module
 */

import { parseArgs } from "node:util";
import WebSocket from "ws";
import { ControlClient, type WebSocketLike } from "../client/control_client.ts";
import { makeSoakMedia, SoakBot, SoakWindow } from "./bot.ts";
import { type ClassCount, Inspector } from "./inspector.ts";
import { ServerProcess } from "./server_process.ts";
import { codeVersion, machine, machineBusyMs } from "../bench/_report.ts";
import { loadAverages, median, openFds, readProc, seededRandom, slope } from "./stats.ts";

/** Target: server RSS at the end at most this much above RSS after warm-up. */
const MEMORY_TARGET = 0.10;
/** "Growth" of loss: more than this many percentage points. */
const LOSS_GROWTH_POINTS = 0.5;
/** "Growth" of a delay: above first x factor + slack (ms). */
const DELAY_GROWTH = { p50: { factor: 1.5, slackMs: 5 }, p99: { factor: 1.5, slackMs: 20 } };
/** A window in which other processes used more than this (% of one core) is "disturbed". */
const DISTURBED_OTHER_CPU = 50;

interface Options {
  minutes: number;
  warmupMinutes: number;
  windowSeconds: number;
  meetings: number;
  bots: number;
  leaveEverySeconds: number;
  dropEverySeconds: number;
  abandonEverySeconds: number;
  graceSeconds: number;
  seed: number;
  heap: boolean;
  serverV8Flags: string;
}

function parseOptions(argv: string[]): Options {
  const args = argv[0] === "--" ? argv.slice(1) : argv;
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      minutes: { type: "string", default: "10" },
      warmup: { type: "string" },
      window: { type: "string" },
      meetings: { type: "string", default: "3" },
      bots: { type: "string", default: "4" },
      "leave-every": { type: "string", default: "20" },
      "drop-every": { type: "string", default: "15" },
      "abandon-every": { type: "string", default: "60" },
      grace: { type: "string", default: "10" },
      seed: { type: "string", default: "1" },
      heap: { type: "boolean", default: false },
      "server-v8-flags": { type: "string", default: "" },
    },
  });
  const num = (name: string, raw: string | undefined, min: number, max: number) => {
    const n = Number(raw);
    if (raw === undefined || raw === "" || !Number.isFinite(n) || n < min || n > max) {
      throw new Error(`--${name} must be a number from ${min} to ${max} (got "${raw}")`);
    }
    return n;
  };
  const minutes = num("minutes", values.minutes, 0.5, 120);
  const warmupMinutes = values.warmup === undefined
    ? Math.min(1, minutes / 4)
    : num("warmup", values.warmup, 0, minutes / 2);
  return {
    minutes,
    warmupMinutes,
    windowSeconds: values.window === undefined
      ? (minutes >= 3 ? 60 : 15)
      : num("window", values.window, 5, 600),
    meetings: Math.round(num("meetings", values.meetings, 1, 20)),
    bots: Math.round(num("bots", values.bots, 3, 40)),
    leaveEverySeconds: num("leave-every", values["leave-every"], 1, 3600),
    dropEverySeconds: num("drop-every", values["drop-every"], 1, 3600),
    abandonEverySeconds: num("abandon-every", values["abandon-every"], 5, 3600),
    graceSeconds: Math.round(num("grace", values.grace, 3, 300)),
    seed: Math.round(num("seed", values.seed, 0, 2 ** 31)),
    heap: values.heap ?? false,
    serverV8Flags: values["server-v8-flags"] ?? "",
  };
}

/** One printed row: one window. */
interface Row {
  endS: number;
  warmup: boolean;
  serverRssMb: number;
  /** JavaScript heap after a full collection (with --heap). */
  heapMb: number;
  /** V8 heap committed before that collection, MB, and its new space (with --heap). */
  v8CommittedMb: number;
  v8NewSpaceMb: number;
  serverCpuPct: number;
  mixPerBot: number;
  /** Mix packets missing against 50 a second over the time bots were receiving, %. */
  mixMissingPct: number;
  mixGaps: number;
  mixSeqLost: number;
  /** Forwarded video packets lost (sequence gaps), %. */
  videoLossPct: number;
  audioP50: number;
  audioP99: number;
  videoP50: number;
  videoP99: number;
  churn: string;
  drops: { congested: number; waitingKeyframe: number };
  errorLines: number;
  botsCpuPct: number;
  /** CPU used by everything but the server and the bots, % of one core. */
  othersCpuPct: number;
  load: number;
  stalls: number;
}

/** Verdict lines with their outcome. */
interface Check {
  ok: boolean;
  text: string;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const f = (n: number, digits = 1) => Number.isFinite(n) ? n.toFixed(digits) : "-";
const clock = (s: number) => {
  const whole = Math.round(s);
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
};
/** The constructors whose objects grew most between two snapshots, as printable lines. */
function heapGrowth(
  before: Map<string, ClassCount>,
  after: Map<string, ClassCount>,
  top: number,
): string[] {
  const zero = { count: 0, selfSize: 0 };
  return [...after.entries()]
    .map(([name, a]) => {
      const b = before.get(name) ?? zero;
      return { name, dCount: a.count - b.count, dSize: a.selfSize - b.selfSize, a };
    })
    .sort((x, y) => y.dSize - x.dSize)
    .slice(0, top)
    .map((g) =>
      `${g.name.slice(0, 60)}: ${g.dCount >= 0 ? "+" : ""}${g.dCount} objects ` +
      `(${g.a.count} now), ${g.dSize >= 0 ? "+" : ""}${f(g.dSize / 1024, 0)} KiB`
    );
}

const errorText = (err: unknown) => err instanceof Error ? err.message : String(err);

async function main(): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(Deno.args);
  } catch (err) {
    console.error(`soak: ${errorText(err)}`);
    return 2;
  }
  const t0 = performance.now();
  const elapsedS = () => (performance.now() - t0) / 1000;
  const random = seededRandom(options.seed);
  const durationS = options.minutes * 60;
  const warmupS = options.warmupMinutes * 60;
  const graceMs = options.graceSeconds * 1000;
  // Dropped bots come back within 60% of the grace period (at least 1 s after the drop).
  const reconnectDelayMs = () => 1000 + random() * Math.max(0, 0.6 * graceMs - 1000);
  const startLoad = loadAverages();
  const startedAt = new Date();

  console.log(
    `Soak: ${options.meetings} meetings x ${options.bots} bots, audio (Opus 32 kb/s, 50 pkt/s) ` +
      `and video (VP8 15 fps, 3-8 kB frames, keyframe every 2 s) over the control WebSocket, ` +
      `${options.minutes} min, warm-up ${f(options.warmupMinutes, 2)} min, rows every ` +
      `${options.windowSeconds} s. Churn: a bot leaves and another joins every ` +
      `~${options.leaveEverySeconds} s; a connection drops and comes back with its token ` +
      `every ~${options.dropEverySeconds} s (after 1-${f(0.6 * options.graceSeconds, 0)} s; ` +
      `server --grace ${options.graceSeconds}); a bot drops for good every ` +
      `~${options.abandonEverySeconds} s. Seed ${options.seed}.`,
  );
  console.log(
    `Machine: ${machine().cpu}, ${navigator.hardwareConcurrency} cores, ${Deno.build.os} ` +
      `${Deno.build.arch}, Deno ${Deno.version.deno}; code at ${codeVersion()}; started ` +
      `${startedAt.toISOString()}, load average ${startLoad.map((x) => f(x, 2)).join(" ")}.`,
  );

  const dataDir = await Deno.makeTempDir({ prefix: "meet-soak-" });
  let server: ServerProcess;
  try {
    server = await ServerProcess.start(
      {
        dataDir,
        graceSeconds: options.graceSeconds,
        inspect: options.heap,
        v8Flags: options.serverV8Flags,
      },
      t0,
    );
  } catch (err) {
    console.error(`soak: the server did not start: ${errorText(err)}`);
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    return 1;
  }
  console.log(
    `Server: pid ${server.pid} at ${server.url}` +
      (options.serverV8Flags ? ` with --v8-flags=${options.serverV8Flags}` : ""),
  );
  let inspector: Inspector | undefined;
  if (options.heap) {
    try {
      inspector = await Inspector.connect(server.inspectorUrl);
    } catch (err) {
      console.error(`soak: cannot reach the server's inspector: ${errorText(err)}`);
      await server.stop();
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
      return 1;
    }
  }
  const heapMb = async () => {
    if (!inspector) return NaN;
    try {
      return (await inspector.heapAfterGc()).usedSize / 2 ** 20;
    } catch {
      return NaN;
    }
  };
  const v8Committed = async () => {
    if (!inspector) return { total: NaN, newSpace: NaN };
    try {
      const spaces = await inspector.heapSpaces();
      const sum = (xs: { committed: number }[]) => xs.reduce((a, x) => a + x.committed, 0);
      return {
        total: sum(spaces) / 2 ** 20,
        newSpace: sum(spaces.filter((x) => x.name.startsWith("new_"))) / 2 ** 20,
      };
    } catch {
      return { total: NaN, newSpace: NaN };
    }
  };
  let heapAfterWarmup: Map<string, ClassCount> | undefined;
  let heapAtEnd: Map<string, ClassCount> | undefined;
  let exitedAtS = 0;
  server.exited.then(() => exitedAtS = elapsedS());
  const apiBase = server.url.replace(/\/?$/, "/") + "api/meetings";

  const media = makeSoakMedia([330, 440, 550, 660], random);
  const win = new SoakWindow();
  const bots = new Set<SoakBot>();
  const counts = {
    joins: 0,
    joinFailures: 0,
    leaves: 0,
    leaveFailures: 0,
    drops: 0,
    abruptDrops: 0,
    reconnects: 0,
    notResumed: 0,
    reconnectFailures: 0,
    abandoned: 0,
    seatsFreed: 0,
    seatsNotFreed: 0,
    serverClosed: 0,
  };
  const mediaBack = { join: [] as number[], reconnect: [] as number[], never: 0 };
  const problems: { atS: number; what: string }[] = [];
  let problemCount = 0;
  const problem = (what: string) => {
    problemCount++;
    if (problems.length < 30) problems.push({ atS: elapsedS(), what });
    console.log(`  [${clock(elapsedS())}] ${what}`);
  };
  const inFlight = new Set<Promise<unknown>>();
  const track = (p: Promise<unknown>) => {
    const q = p.catch((err) => problem(`unexpected: ${errorText(err)}`))
      .finally(() => inFlight.delete(q));
    inFlight.add(q);
  };
  let stopping = false;
  let nextBot = 1;
  /** Bots whose next successful connect is a reconnect (their media-back time goes there). */
  const reconnecting = new Set<SoakBot>();

  // Meetings, made by a creator who holds no seat.
  const meetingIds: string[] = [];
  try {
    const creator = new ControlClient(server.wsUrl, {
      WebSocket: WebSocket as unknown as new (url: string) => WebSocketLike,
      reconnect: false,
    });
    await Promise.race([
      creator.opened(),
      sleep(5000).then(() => Promise.reject(new Error("no connection in 5 s"))),
    ]);
    await creator.request({ type: "identify", name: "Soak" });
    for (let i = 0; i < options.meetings; i++) {
      const { meeting } = await creator.request({
        type: "create",
        title: `Soak ${i + 1}`,
        join: false,
      });
      meetingIds.push(meeting.id);
    }
    creator.close();
  } catch (err) {
    console.error(`soak: could not create the meetings: ${errorText(err)}`);
    await server.stop();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    return 1;
  }

  const onProblem = (bot: SoakBot, what: string) => {
    if (stopping) return;
    counts.serverClosed++;
    problem(`${bot.name}: ${what}`);
    if (what.startsWith("connection closed") && bot.state === "active") {
      bot.drop(false);
      track(reconnect(bot, 1000));
    }
  };
  const onMediaFlowing = (bot: SoakBot, mixMs: number, videoMs: number) => {
    const list = reconnecting.delete(bot) ? mediaBack.reconnect : mediaBack.join;
    if (mixMs < 0 || videoMs < 0) {
      mediaBack.never++;
      problem(
        `${bot.name}: no ${mixMs < 0 ? "mix" : "video"} within 5 s of ` +
          `${list === mediaBack.join ? "joining" : "reconnecting"}`,
      );
    } else list.push(Math.max(mixMs, videoMs));
  };

  /** A new bot joins `meetingId` (3 tries). */
  const addBot = async (meetingId: string): Promise<void> => {
    for (let attempt = 1; attempt <= 3 && !stopping; attempt++) {
      const bot = new SoakBot({
        name: `bot-${nextBot}`,
        meetingId,
        wsUrl: server.wsUrl,
        media,
        window: win,
        random,
        tone: nextBot % media.tones.length,
        onProblem,
        onMediaFlowing,
      });
      nextBot++;
      bots.add(bot);
      try {
        await bot.connect();
        counts.joins++;
        if (stopping) bot.close();
        return;
      } catch (err) {
        bots.delete(bot);
        bot.close();
        counts.joinFailures++;
        problem(`${bot.name}: join failed (try ${attempt}): ${errorText(err)}`);
        await sleep(1000);
      }
    }
  };

  /** A dropped bot comes back with its token after `delayMs`: it must get its seat back. */
  const reconnect = async (bot: SoakBot, delayMs: number): Promise<void> => {
    await sleep(delayMs);
    if (stopping || bot.state === "closed") return;
    reconnecting.add(bot);
    try {
      const reply = await bot.connect();
      counts.reconnects++;
      if (!reply.resumed) {
        counts.notResumed++;
        problem(`${bot.name}: came back after ${f(delayMs / 1000)} s but was not resumed`);
      }
    } catch (err) {
      reconnecting.delete(bot);
      if (stopping) return;
      counts.reconnectFailures++;
      problem(`${bot.name}: reconnect failed: ${errorText(err)}; replacing it`);
      bots.delete(bot);
      bot.close();
      await addBot(bot.meetingId);
    }
  };

  const pickActive = (): SoakBot | undefined => {
    const active = [...bots].filter((b) => b.state === "active");
    return active.length ? active[Math.floor(random() * active.length)] : undefined;
  };

  const leaveOne = async (): Promise<void> => {
    const bot = pickActive();
    if (!bot) return;
    try {
      await bot.leave();
      counts.leaves++;
    } catch (err) {
      counts.leaveFailures++;
      problem(`${bot.name}: leave failed: ${errorText(err)}`);
    }
    bots.delete(bot);
    await addBot(bot.meetingId);
  };

  const dropOne = async (): Promise<void> => {
    const bot = pickActive();
    if (!bot) return;
    counts.drops++;
    const abrupt = counts.drops % 2 === 1; // odd drops: TCP closed without a close frame
    if (abrupt) counts.abruptDrops++;
    bot.drop(abrupt);
    await reconnect(bot, reconnectDelayMs());
  };

  /** A bot drops for good; a new one takes its place; its seat must go after the grace. */
  const abandonOne = async (): Promise<void> => {
    const bot = pickActive();
    if (!bot) return;
    const participantId = bot.participantId;
    counts.abandoned++;
    bot.drop(true);
    bot.close();
    bots.delete(bot);
    await addBot(bot.meetingId);
    await sleep(graceMs + 3000);
    if (stopping || !participantId) return;
    try {
      const res = await fetch(`${apiBase}/${bot.meetingId}`, { signal: AbortSignal.timeout(3000) });
      const details = await res.json();
      const seated = (details.roster ?? []).some((p: { id: string }) => p.id === participantId);
      if (seated) {
        counts.seatsNotFreed++;
        problem(`${bot.name}: seat still held ${options.graceSeconds + 3} s after it dropped`);
      } else counts.seatsFreed++;
    } catch (err) {
      problem(`GET ${bot.meetingId} failed: ${errorText(err)}`);
    }
  };

  // The bots' capture clock: one 20 ms step for every bot, scheduled against the ideal time.
  let step = 0;
  let stalls = 0;
  let nextStepAt = performance.now();
  let clockTimer: ReturnType<typeof setTimeout> | undefined;
  const clockStep = () => {
    const now = performance.now();
    if (now - nextStepAt > 100) {
      stalls++;
      nextStepAt = now;
    }
    for (const bot of bots) bot.tick(step);
    step++;
    nextStepAt += 20;
    if (!stopping) clockTimer = setTimeout(clockStep, Math.max(0, nextStepAt - performance.now()));
  };

  for (const id of meetingIds) {
    for (let i = 0; i < options.bots; i++) await addBot(id);
  }
  clockStep();
  console.log(
    `${bots.size} bots joined in ${f(elapsedS())} s; server fds ${openFds(server.pid)}\n`,
  );

  // Server-side drop counters, summed over the meetings.
  const serverCounters = async () => {
    const total = { congested: 0, waitingKeyframe: 0 };
    for (const id of meetingIds) {
      try {
        const res = await fetch(`${apiBase}/${id}`, { signal: AbortSignal.timeout(3000) });
        const body = await res.json();
        const d = body?.media?.dropped;
        if (d) {
          total.congested += d.congested;
          total.waitingKeyframe += d.waitingKeyframe;
        } else problem(`meeting ${id} is no longer live (${body?.state})`);
      } catch (err) {
        problem(`GET /api/meetings/${id} failed: ${errorText(err)}`);
      }
    }
    return total;
  };

  const rows: Row[] = [];
  const rssSamples: { atS: number; kb: number }[] = [];
  let fdsAfterWarmup = NaN;
  let lastServer = readProc(server.pid);
  let lastSelf = readProc(Deno.pid);
  let lastBusy = machineBusyMs();
  let lastCounters = await serverCounters();
  let windowStart = performance.now();
  let windowIndex = 1;
  let lastStalls = 0;

  const heapColumns = options.heap ? ["JS heap after GC MB", "V8 committed / new space MB"] : [];
  const header = [
    "time",
    "srv RSS MB",
    ...heapColumns,
    "srv CPU %",
    "mix missing %",
    "mix gaps",
    "video loss %",
    "audio delay p50/p99 ms",
    "video delay p50/p99 ms",
    "joins/leaves/drops/abandons",
    "srv drops cong/kf",
    "srv errors",
    "bots CPU %",
    "bot stalls",
    "other CPU %",
    "load 1m",
  ];
  const cells = (r: Row) => [
    `${clock(r.endS)}${r.warmup ? " warm-up" : ""}`,
    f(r.serverRssMb),
    ...(options.heap ? [f(r.heapMb), `${f(r.v8CommittedMb)} / ${f(r.v8NewSpaceMb)}`] : []),
    f(r.serverCpuPct, 0),
    f(r.mixMissingPct, 2),
    String(r.mixGaps),
    f(r.videoLossPct, 2),
    `${f(r.audioP50)} / ${f(r.audioP99)}`,
    `${f(r.videoP50)} / ${f(r.videoP99)}`,
    r.churn,
    `${r.drops.congested}/${r.drops.waitingKeyframe}`,
    String(r.errorLines),
    f(r.botsCpuPct, 0),
    String(r.stalls),
    f(r.othersCpuPct, 0),
    f(r.load, 2),
  ];
  console.log(`| ${header.join(" | ")} |`);
  console.log(`|${header.map((_, i) => i === 0 ? " --- " : " ---: ").join("|")}|`);

  const closeWindow = async () => {
    const now = performance.now();
    for (const bot of bots) bot.settle(now);
    const windowMs = now - windowStart;
    const srv = readProc(server.pid);
    const self = readProc(Deno.pid);
    const busy = machineBusyMs();
    const counters = await serverCounters();
    const committed = await v8Committed();
    const heap = await heapMb();
    const expected = win.mixExpectedMs / 20;
    const videoExpected = win.videoPackets + win.videoLost;
    const cpu = (a: { cpuMs: number } | null, b: { cpuMs: number } | null) =>
      a && b ? ((a.cpuMs - b.cpuMs) / windowMs) * 100 : NaN;
    const t = elapsedS();
    const row: Row = {
      endS: t,
      warmup: t <= warmupS + 1,
      serverRssMb: srv ? srv.rssKb / 1024 : NaN,
      heapMb: heap,
      v8CommittedMb: committed.total,
      v8NewSpaceMb: committed.newSpace,
      serverCpuPct: cpu(srv, lastServer),
      mixPerBot: win.mixExpectedMs ? win.mixPackets / (win.mixExpectedMs / 1000) : NaN,
      mixMissingPct: expected ? Math.max(0, (1 - win.mixPackets / expected) * 100) : NaN,
      mixGaps: win.mixGaps,
      mixSeqLost: win.mixLost,
      videoLossPct: videoExpected ? (win.videoLost / videoExpected) * 100 : NaN,
      audioP50: win.audioDelay.quantile(0.5),
      audioP99: win.audioDelay.quantile(0.99),
      videoP50: win.videoDelay.quantile(0.5),
      videoP99: win.videoDelay.quantile(0.99),
      churn: `${counts.joins}/${counts.leaves}/${counts.drops}/${counts.abandoned}`,
      drops: {
        congested: counters.congested - lastCounters.congested,
        waitingKeyframe: counters.waitingKeyframe - lastCounters.waitingKeyframe,
      },
      errorLines: server.errorLines,
      botsCpuPct: cpu(self, lastSelf),
      // Clock-tick rounding can make it slightly negative on an idle machine.
      othersCpuPct: Math.max(
        0,
        ((busy - lastBusy) / windowMs) * 100 - cpu(srv, lastServer) - cpu(self, lastSelf),
      ),
      load: loadAverages()[0],
      stalls: stalls - lastStalls,
    };
    rows.push(row);
    console.log(`| ${cells(row).join(" | ")} |`);
    lastServer = srv ?? lastServer;
    lastSelf = self ?? lastSelf;
    lastCounters = counters;
    lastStalls = stalls;
    lastBusy = busy;
    win.reset();
    windowStart = now;
  };

  let aborted = false;
  const onSigint = () => {
    aborted = true;
  };
  Deno.addSignalListener("SIGINT", onSigint);

  // The run: a 250 ms loop, bounded by the duration and by a count.
  let nextLeaveAt = options.leaveEverySeconds * (0.5 + random() * 0.5);
  let nextDropAt = options.dropEverySeconds * (0.5 + random() * 0.5);
  let nextAbandonAt = options.abandonEverySeconds * (0.5 + random() * 0.5);
  let nextSampleAt = Math.ceil(elapsedS());
  const maxIterations = Math.ceil(durationS * 4) + 240;
  for (let i = 0; i < maxIterations && !aborted; i++) {
    await sleep(250);
    const t = elapsedS();
    if (server.status) break;
    if (t >= nextSampleAt) {
      const p = readProc(server.pid);
      if (p) rssSamples.push({ atS: t, kb: p.rssKb });
      if (Number.isNaN(fdsAfterWarmup) && t >= warmupS) {
        fdsAfterWarmup = openFds(server.pid);
        if (inspector) heapAfterWarmup = await inspector.snapshotCounts().catch(() => undefined);
      }
      nextSampleAt += 1;
    }
    // No new churn in the last grace period + 5 s: every abandoned seat gets checked.
    const churnOpen = t < durationS - options.graceSeconds - 5;
    if (t >= nextLeaveAt) {
      if (churnOpen) track(leaveOne());
      nextLeaveAt += options.leaveEverySeconds * (0.8 + random() * 0.4);
    }
    if (t >= nextDropAt) {
      if (churnOpen) track(dropOne());
      nextDropAt += options.dropEverySeconds * (0.8 + random() * 0.4);
    }
    if (t >= nextAbandonAt) {
      if (churnOpen) track(abandonOne());
      nextAbandonAt += options.abandonEverySeconds * (0.8 + random() * 0.4);
    }
    if (t >= durationS) break;
    if (t >= windowIndex * options.windowSeconds) {
      windowIndex++;
      await closeWindow();
    }
  }
  const crashed = server.status !== undefined;
  if (!crashed && (performance.now() - windowStart) / 1000 >= 5) await closeWindow();
  const fdsAtEnd = openFds(server.pid);
  if (inspector) heapAtEnd = await inspector.snapshotCounts().catch(() => undefined);
  const endLoad = loadAverages();

  // Shut down: pending churn settles, the clock stops, every bot leaves; then the meetings
  // must end (the last seat held by a dropped bot goes when its grace period ends).
  await Promise.race([Promise.allSettled([...inFlight]), sleep(graceMs + 10_000)]);
  stopping = true;
  clearTimeout(clockTimer);
  Deno.removeSignalListener("SIGINT", onSigint);
  const finalLeaves = await Promise.allSettled(
    [...bots].filter((b) => b.state === "active").map((b) => b.leave()),
  );
  const finalLeaveFailures = finalLeaves.filter((r) => r.status === "rejected").length;
  for (const bot of bots) bot.close();
  bots.clear();
  let liveLeft = -1;
  if (!crashed) {
    const deadline = performance.now() + graceMs + 5000;
    for (let i = 0; i < 200 && performance.now() < deadline; i++) {
      try {
        const res = await fetch(apiBase, { signal: AbortSignal.timeout(3000) });
        const list = await res.json() as unknown[];
        liveLeft = list.length;
        if (liveLeft === 0) break;
      } catch {
        // counted below as unknown
      }
      await sleep(500);
    }
  }
  const fdsIdle = openFds(server.pid);
  const rssIdle = readProc(server.pid)?.rssKb ?? NaN;
  const heapIdle = await heapMb();
  inspector?.close();
  const status = await server.stop();
  await Deno.remove(dataDir, { recursive: true }).catch(() => {});

  // Verdict.
  const checks: Check[] = [];
  const check = (ok: boolean, text: string) => checks.push({ ok, text });
  const mb = (kb: number) => kb / 1024;
  const afterWarmup = median(
    rssSamples.filter((s) => s.atS >= warmupS && s.atS < warmupS + 10).map((s) => s.kb),
  );
  const lastAt = rssSamples.at(-1)?.atS ?? 0;
  const atEnd = median(rssSamples.filter((s) => s.atS >= lastAt - 10).map((s) => s.kb));
  const peak = Math.max(...rssSamples.map((s) => s.kb));
  const ratio = atEnd / afterWarmup;
  // The trend in each half after warm-up: a leak keeps climbing; a heap that grew to its
  // working size climbs in the first half and is flat in the second.
  const midS = (warmupS + lastAt) / 2;
  const trend = (from: number, to: number) => {
    const perMin = slope(
      rssSamples.filter((s) => s.atS >= from && s.atS <= to)
        .map((s) => ({ x: s.atS / 60, y: mb(s.kb) })),
    );
    return `${perMin >= 0 ? "+" : ""}${f(perMin, 2)} MB/min`;
  };
  const memoryOk = Number.isFinite(ratio) && ratio <= 1 + MEMORY_TARGET;
  check(
    memoryOk,
    `server memory (RSS): ${f(mb(afterWarmup))} MB after warm-up (median of 10 s), ` +
      `${f(mb(atEnd))} MB at the end (median of the last 10 s): ratio ${f(ratio, 3)} ` +
      `(target <= ${f(1 + MEMORY_TARGET, 2)}); peak ${f(mb(peak))} MB; trend ` +
      `${trend(warmupS, midS)} in the first half after warm-up, ${trend(midS, lastAt)} in ` +
      `the second; ${f(mb(rssIdle))} MB once every bot had left` +
      (memoryOk || options.heap ? "" : " (run with --heap to tell a leak, a JavaScript " +
        "heap that keeps growing, from V8 and the allocator keeping memory in reserve)"),
  );
  const measured = rows.filter((r) => !r.warmup);
  if (measured.length >= 2) {
    const third = Math.max(1, Math.floor(measured.length / 3));
    const firstRows = measured.slice(0, third);
    const lastRows = measured.slice(-third);
    const m = (rs: Row[], key: keyof Row) => median(rs.map((r) => r[key] as number));
    const grew = (key: keyof Row, factor: number, slack: number) =>
      m(lastRows, key) > m(firstRows, key) * factor + slack;
    const span = third === 1 ? "first window after warm-up against the last" : `median of the ` +
      `first ${third} windows after warm-up against the last ${third}`;
    const lossGrew = m(lastRows, "mixMissingPct") > m(firstRows, "mixMissingPct") +
          LOSS_GROWTH_POINTS ||
      m(lastRows, "videoLossPct") > m(firstRows, "videoLossPct") + LOSS_GROWTH_POINTS;
    check(
      !lossGrew,
      `loss (${span}): mix missing ${f(m(firstRows, "mixMissingPct"), 2)}% -> ` +
        `${f(m(lastRows, "mixMissingPct"), 2)}%, video lost ${
          f(m(firstRows, "videoLossPct"), 2)
        }%` +
        ` -> ${f(m(lastRows, "videoLossPct"), 2)}%: ${lossGrew ? "GREW" : "no growth"} ` +
        `(growth: up by more than ${LOSS_GROWTH_POINTS} points); worst window: mix ` +
        `${f(Math.max(...measured.map((r) => r.mixMissingPct)), 2)}%, video ` +
        `${f(Math.max(...measured.map((r) => r.videoLossPct)), 2)}%`,
    );
    const { p50, p99 } = DELAY_GROWTH;
    const audioGrew = grew("audioP50", p50.factor, p50.slackMs) ||
      grew("audioP99", p99.factor, p99.slackMs);
    const videoGrew = grew("videoP50", p50.factor, p50.slackMs) ||
      grew("videoP99", p99.factor, p99.slackMs);
    check(
      !audioGrew && !videoGrew,
      `relay delay p50/p99 (${span}): audio through the mixer ` +
        `${f(m(firstRows, "audioP50"))}/${f(m(firstRows, "audioP99"))} -> ` +
        `${f(m(lastRows, "audioP50"))}/${f(m(lastRows, "audioP99"))} ms ` +
        `${audioGrew ? "GREW" : "no growth"}, video through the router ` +
        `${f(m(firstRows, "videoP50"))}/${f(m(firstRows, "videoP99"))} -> ` +
        `${f(m(lastRows, "videoP50"))}/${f(m(lastRows, "videoP99"))} ms ` +
        `${videoGrew ? "GREW" : "no growth"} (growth: p50 above ${p50.factor} x + ` +
        `${p50.slackMs} ms, p99 above ${p99.factor} x + ${p99.slackMs} ms)`,
    );
  } else {
    check(false, "loss and delay: fewer than two windows after warm-up; nothing to compare");
  }
  const mixSeqLost = rows.reduce((a, r) => a + r.mixSeqLost, 0);
  check(
    server.errorLines === 0,
    `error lines in the server's log: ${server.errorLines} (target 0)` +
      server.firstErrors.map((e) => `\n    [${clock(e.atMs / 1000)}] ${e.line}`).join(""),
  );
  const q = (xs: number[], p: number) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : NaN;
  };
  check(
    counts.notResumed === 0 && counts.reconnectFailures === 0 && counts.reconnects > 0,
    `reconnects: ${counts.drops} dropped connections (${counts.abruptDrops} abrupt, ` +
      `${counts.drops - counts.abruptDrops} clean close), ${counts.reconnects} came back with ` +
      `their token, ${counts.reconnects - counts.notResumed} resumed their seat, ` +
      `${counts.reconnectFailures} failed; media flowing again ${
        f(q(mediaBack.reconnect, 0.5), 0)
      }` +
      ` ms after the join reply (p50; max ${f(Math.max(...mediaBack.reconnect), 0)} ms)`,
  );
  check(
    counts.joinFailures === 0 && counts.leaveFailures === 0 && finalLeaveFailures === 0 &&
      mediaBack.never === 0 && counts.serverClosed === 0,
    `joins and leaves: ${counts.joins} joins (${options.meetings * options.bots} at start; ` +
      `media flowing ${f(q(mediaBack.join, 0.5), 0)} ms after the join reply, p50; max ` +
      `${f(Math.max(...mediaBack.join), 0)} ms), ${counts.joinFailures} failed; ` +
      `${counts.leaves} leaves during the run and ${finalLeaves.length} at the end, ` +
      `${counts.leaveFailures + finalLeaveFailures} failed; ${mediaBack.never} connections ` +
      `without media within 5 s; ${counts.serverClosed} closed or removed by the server`,
  );
  check(
    counts.seatsNotFreed === 0 && counts.seatsFreed === counts.abandoned,
    `abandoned seats: ${counts.abandoned} bots dropped for good, ${counts.seatsFreed} seats ` +
      `freed after the ${options.graceSeconds} s grace period, ${counts.seatsNotFreed} still held`,
  );
  check(
    liveLeft === 0,
    `after every bot left: ${liveLeft < 0 ? "the meeting list could not be read" : liveLeft} ` +
      `live meetings left (target 0); server fds ${fdsAfterWarmup} after warm-up, ` +
      `${fdsAtEnd} at the end, ${fdsIdle} with no one connected`,
  );
  if (mixSeqLost) check(false, `mix packets missing from sequence numbers: ${mixSeqLost}`);
  if (crashed) {
    check(
      false,
      `SERVER CRASHED at ${clock(exitedAtS)}: exit code ${status.code}` +
        `${status.signal ? `, signal ${status.signal}` : ""}; its last lines:\n` +
        server.tail.map((l) => `    ${l}`).join("\n"),
    );
  } else {
    check(
      status.success,
      status.success
        ? `server stopped cleanly on SIGTERM${aborted ? " (run cut short by Ctrl-C)" : ""}`
        : `the server did not stop cleanly on SIGTERM: exit code ${status.code}; its last ` +
          `lines:\n${server.tail.map((l) => `    ${l}`).join("\n")}`,
    );
  }
  if (aborted) check(false, "the run was cut short by Ctrl-C");

  console.log("\nVerdict");
  for (const c of checks) console.log(`- ${c.ok ? "ok" : "MISSED"}: ${c.text}`);
  console.log("\nContext");
  if (server.opusLine) console.log(`- server: ${server.opusLine}`);
  if (inspector) {
    console.log(
      `- JavaScript heap after a full collection once every bot had left: ` +
        `${f(heapIdle)} MB`,
    );
    if (heapAfterWarmup && heapAtEnd) {
      console.log("- heap objects that grew most from after warm-up to the end (by size):");
      for (const line of heapGrowth(heapAfterWarmup, heapAtEnd, 15)) console.log(`    ${line}`);
    }
  }
  const others = rows.map((r) => r.othersCpuPct).filter(Number.isFinite);
  const loads = rows.map((r) => r.load).filter(Number.isFinite);
  const disturbed = rows.filter((r) => r.othersCpuPct > DISTURBED_OTHER_CPU).length;
  console.log(
    `- load average (1 min): ${f(startLoad[0], 2)} at the start, ${
      f(median(loads), 2)
    } median of the windows (${f(Math.min(...loads), 2)}-${f(Math.max(...loads), 2)}), ` +
      `${endLoad.map((x) => f(x, 2)).join(" ")} (1/5/15 min) at the end`,
  );
  if (others.length) {
    console.log(
      `- other processes used ${f(median(others), 0)}% of one core (median of the windows; ` +
        `most ${f(Math.max(...others), 0)}%); ${disturbed} of ${rows.length} windows above ` +
        `${DISTURBED_OTHER_CPU}%: loss and delay rise when they crowd the cores`,
    );
  }
  if (stalls) console.log(`- the bots' 20 ms clock stalled (>100 ms late) ${stalls} times`);
  console.log(`- bot-side problems: ${problemCount}`);
  for (const p of problems) console.log(`    [${clock(p.atS)}] ${p.what}`);
  const missed = checks.filter((c) => !c.ok).length;
  console.log(
    missed ? `\nSoak: ${missed} target(s) MISSED` : "\nSoak: every target met",
  );
  return missed ? 1 : 0;
}

Deno.exit(await main());
