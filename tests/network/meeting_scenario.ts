/**
 * A meeting on an impaired network, in real browsers: three pages in relay mode (the server
 * forwards their video and mixes their audio), or two in P2P mode (`--pages=2`: the meeting
 * goes P2P by itself, media goes on a data channel between the pages), while every packet is
 * delayed, jittered and dropped by netsim (netsim/main.ts) through NFQUEUE: in relay mode
 * every packet to or from the server (two hops from page to page), in P2P mode every UDP
 * packet and the control connection's (one hop). Run only inside a private network namespace
 * with just loopback (tests/support/netns.ts does it), so that no rule touches the machine's
 * own network.
 *
 * Flags: `--delay=25 --jitter=8 --loss=1` (per packet, each way), `--seconds=10` (the
 * measurement window, after `--warmup=5`), `--pages=3|2`, `--transport=webtransport|websocket`
 * (the relay's carrier), `--down=ADDRESS=KBIT` to cap the last page's downlink and
 * `--up=ADDRESS=KBIT` the first page's uplink: that page reaches the server at ADDRESS, one of
 * 127.0.0.0/8 (the server then listens on every address of the namespace's loopback), so its
 * packets can be told apart (netsim's `down` and `up`). Relay mode only. `--fps=30` is the fake
 * cameras' frame rate (the tests take `MULTI_PAGE_FPS`, tests/support/browser.ts says why).
 * `--nice=0` runs the browser at that niceness (the tests take 5: the pages then wait for the
 * CPU, not the server and the simulated network, whose delays read as queues on the links).
 * `--audio-only` turns every camera off once everyone has seen everyone's video: the audio path
 * alone, for its delay and concealment where three pages' video would take the whole machine.
 * `--audio-on-main` keeps the WebTransport session and the audio receiving on the pages' main
 * threads (`?audio=main`) instead of the media worker, to compare the two.
 * `--record=FILE` writes, at the end, the frames that reached each page's playout buffer since it
 * joined (`?playout=record`), which tests/network/playout_replay.ts replays with other settings;
 * `--record-mixer=FILE` what reached the mixer's jitter buffers from the warm-up on, and its
 * ticks, for tests/network/mixer_replay.ts.
 *
 * Prints its figures as JSON on the last line: per page, its streams, audio and rates, how often
 * its main thread was held up past 20/50/100 ms (a 10 ms timer firing late) and its mix's playout
 * target and depth; for the server (in this process), its counters and how often its event loop
 * was held up. With `--trace`, prints to stderr every 250 ms from the warm-up on what each page
 * decoded of each stream, its playout target/depth, stalls and main-thread time held, its link
 * estimate, and which encoding the server forwards to it of each sender, with what each sender
 * is asked for: to see when a picture or the sound stalled, and why. With `--profile`, prints the
 * first page's main-thread CPU profile over the window (functions by self time).
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { Page } from "playwright-core";
import { joinPage, launchBrowser, SMALL_VIEWPORT } from "../support/browser.ts";
import { inPrivateNetworkNamespace, startImpairment } from "../support/impaired_network.ts";
import { testServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    delay: { type: "string", default: "25" },
    jitter: { type: "string", default: "8" },
    loss: { type: "string", default: "1" },
    seconds: { type: "string", default: "10" },
    warmup: { type: "string", default: "5" },
    transport: { type: "string", default: "webtransport" },
    down: { type: "string" },
    up: { type: "string" },
    pages: { type: "string", default: "3" },
    trace: { type: "boolean", default: false },
    profile: { type: "boolean", default: false },
    fps: { type: "string", default: "30" },
    nice: { type: "string", default: "0" },
    "audio-only": { type: "boolean", default: false },
    "audio-on-main": { type: "boolean", default: false },
    record: { type: "string" },
    "record-mixer": { type: "string" },
  },
});
const WINDOW_S = Math.min(120, Math.max(3, Number(args.seconds)));
const WARMUP_S = Math.min(60, Math.max(1, Number(args.warmup)));
const P2P = args.pages === "2";
/** The fake cameras' frame rate (every page's camera sends what it captures). */
const FPS = Math.min(30, Math.max(5, Number(args.fps) || 30));
const NAMES = ["Ann", "Bob", "Cy"].slice(0, P2P ? 2 : 3);

/** One remote video stream's counters on a page. */
interface StreamReading {
  frames: number;
  freezes: number;
  freezesMs: number;
  /** Frames the receiver gave up (a packet never came in time) or skipped to a keyframe. */
  dropped: number;
  plis: number;
  nacked: number;
  retried: number;
  recovered: number;
  lost: number;
  /** Width of the last picture decoded. */
  width: number;
}

/** Times a thread was held up past 20, 50 and 100 ms, and ms held past 20 in all. */
interface HoldUps {
  over20: number;
  over50: number;
  over100: number;
  ms: number;
}

/**
 * Watches this thread for hold-ups: a timer every 10 ms that fires late. Self-contained (it
 * refers to nothing outside), so that a page runs the same code from its source.
 */
function watchHoldUps(): { held: HoldUps; stop(): void } {
  const held = { over20: 0, over50: 0, over100: 0, ms: 0 };
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now(), late = now - last - 10;
    last = now;
    if (late > 20) held.over20++, held.ms += late;
    if (late > 50) held.over50++;
    if (late > 100) held.over100++;
  }, 10);
  return { held, stop: () => clearInterval(timer) };
}

/** The hold-ups between two readings of one watch. */
function holdUpsBetween(a: HoldUps, b: HoldUps): HoldUps {
  return {
    over20: b.over20 - a.over20,
    over50: b.over50 - a.over50,
    over100: b.over100 - a.over100,
    ms: Math.round(b.ms - a.ms),
  };
}

/** What one page shows of its remote streams and its audio, read from `__meetStats`. */
interface PageReading {
  at: number;
  streams: Record<string, StreamReading>;
  played: number;
  concealed: number;
  /** The playout's concealment by cause, samples: holes skipped, stalls waited out, late data. */
  lost: number;
  stretched: number;
  late: number;
  stalls: number;
  /** The mix's playout buffer now: its target lead and depth, ms. */
  targetLeadMs: number;
  depthMs: number;
  /** Audio frames that came only as the redundant copy (RED) in the next packet. */
  recovered: number;
  /** Audio frames that never came, neither in their packet nor as a copy. */
  unrecovered: number;
  keyframesSent: number;
  /** The same of the small encoding. */
  smallKeyframesSent: number;
  /** Times the page moved its audio output to a larger buffer (it glitched). */
  outputRestarts: number;
  /** The page's video encoder bitrate now, and what it sends, bit/s. */
  targetBitrate: number;
  sendBitrate: number;
  /** The page's estimate of its link (REMB), bit/s, and how often it found it overused. */
  linkEstimate: number;
  overuses: number;
  /** Packets that gave the estimate no delay reading: the page's thread was behind. */
  behindPackets: number;
  /** The most bytes the page's carrier held unsent, so far, and now. */
  maxQueuedBytes: number;
  queuedBytes: number;
  audio: number[];
  audioArrival: number[];
  audioPlayout: number[];
  video: number[];
  audibleMs: number;
  /** How often the page's main thread was held up so far. */
  held: HoldUps;
  /** The page's capture-to-send time of its audio frames (a running mean), and trimmed, ms. */
  audioEncodeMs: number;
  audioTrimmedMs: number;
  /** The page's own participant id (its streams on the other pages go by it). */
  selfId: string;
  transport: string;
  /** The carrier the page's media is on now, and why it last left WebTransport, if it did. */
  carrier: string;
  fallback: string;
}

function read(page: Page): Promise<PageReading> {
  return page.evaluate(() => {
    // deno-lint-ignore no-explicit-any
    const s = (globalThis as any).__meetStats;
    // deno-lint-ignore no-explicit-any
    const streams: Record<string, any> = {};
    // deno-lint-ignore no-explicit-any
    for (const [id, p] of Object.entries(s?.participants ?? {}) as [string, any][]) {
      streams[id] = {
        frames: p.framesDecoded,
        freezes: p.freezeCount,
        freezesMs: p.freezesMs,
        dropped: p.framesDropped,
        plis: p.plisSent,
        nacked: p.nacksRequested,
        retried: p.nacksRetried ?? 0,
        recovered: p.packetsRecovered,
        lost: p.packetsLost,
        width: p.width ?? 0,
      };
    }
    const small = s?.send?.smallVideo;
    // deno-lint-ignore no-explicit-any
    const playout = [...(s?.audio?.playout ?? [])] as any[];
    // Counters of audio outputs given up (moved to a larger buffer) count too: without them a
    // window across such a move read negative concealment.
    if (s?.audio?.playoutBefore) playout.push(s.audio.playoutBefore);
    // deno-lint-ignore no-explicit-any
    const current = (s?.audio?.playout ?? []) as any[];
    // deno-lint-ignore no-explicit-any
    const held = (globalThis as any).__meetHeld ?? { over20: 0, over50: 0, over100: 0, ms: 0 };
    return {
      at: performance.now(),
      held: { ...held },
      audioEncodeMs: s?.send?.audioEncodeMs ?? 0,
      audioTrimmedMs: s?.send?.audioTrimmedMs ?? 0,
      selfId: s?.selfId ?? "",
      streams,
      played: playout.reduce((n, p) => n + (p.played ?? 0), 0),
      concealed: playout.reduce((n, p) => n + (p.concealed ?? 0), 0),
      lost: playout.reduce((n, p) => n + (p.lost ?? 0), 0),
      stretched: playout.reduce((n, p) => n + (p.stretched ?? 0), 0),
      late: playout.reduce((n, p) => n + (p.late ?? 0), 0),
      stalls: playout.reduce((n, p) => n + (p.stalls ?? 0), 0),
      targetLeadMs: Math.max(0, ...current.map((p) => (p.targetLead ?? 0) / 48)),
      depthMs: Math.max(0, ...current.map((p) => (p.depth ?? 0) / 48)),
      unrecovered: (s?.audio?.unrecoveredBefore ?? 0) +
        // deno-lint-ignore no-explicit-any
        (s?.audio?.receivers ?? []).reduce((n: number, r: any) => n + r.unrecovered, 0),
      recovered: (s?.audio?.recoveredBefore ?? 0) +
        // deno-lint-ignore no-explicit-any
        (s?.audio?.receivers ?? []).reduce((n: number, r: any) => n + r.recovered, 0),
      keyframesSent: s?.send?.keyframes ?? 0,
      smallKeyframesSent: small?.keyframes ?? 0,
      outputRestarts: s?.audio?.outputRestarts ?? 0,
      targetBitrate: s?.send?.videoTargetBitrate ?? 0,
      sendBitrate: s?.send?.videoBitrate ?? 0,
      linkEstimate: s?.link?.estimateBps ?? 0,
      overuses: s?.link?.overuses ?? 0,
      behindPackets: s?.link?.behindPackets ?? 0,
      maxQueuedBytes: s?.send?.maxQueuedBytes ?? 0,
      queuedBytes: s?.send?.queuedBytes ?? 0,
      audio: [...(s?.delayLog?.audio ?? [])],
      audioArrival: [...(s?.delayLog?.audioArrival ?? [])],
      audioPlayout: [...(s?.delayLog?.audioPlayout ?? [])],
      video: [...(s?.delayLog?.videoRendered ?? [])],
      audibleMs: s?.audio?.audibleMs ?? 0,
      transport: document.querySelector("[data-testid=mode-badge]")?.getAttribute("data-path") ??
        "",
      carrier: document.querySelector("[data-testid=mode-badge]")?.getAttribute("data-transport") ??
        "",
      fallback: document.querySelector("[data-testid=mode-badge]")?.getAttribute("data-fallback") ??
        "",
    };
  });
}

function quantile(values: number[], q: number): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

const errors: string[] = [];
/** `ADDRESS=KBIT` of --down or --up. */
function limit(spec: string | undefined): { address: string; kbit: number } | undefined {
  if (!spec) return undefined;
  const [address, kbit] = spec.split("=");
  return { address, kbit: Number(kbit) };
}
const down = limit(args.down);
const up = limit(args.up);
{
  // A page told apart by the address it reaches the server at needs the server on all of them
  // (only ever inside a private namespace, where loopback is all there is).
  const limited = down || up;
  if (limited && !inPrivateNetworkNamespace()) {
    throw new Error("--down and --up run only in a namespace");
  }
  if (limited && P2P) throw new Error("--down and --up are for relay mode");
  await using server = await testServer(limited ? { hostname: "0.0.0.0" } : {});
  const url = `http://127.0.0.1:${server.port}/`;
  const ports = [server.port, server.quicPort!].filter((p) => p);
  const match: string[][] = [];
  for (const port of ports) {
    for (const proto of P2P ? ["tcp"] : ["tcp", "udp"]) {
      match.push(["-p", proto, "--dport", String(port)], ["-p", proto, "--sport", String(port)]);
    }
  }
  // The pages' data channel runs on ports ICE picks: in P2P mode every UDP packet is impaired.
  if (P2P) match.push(["-p", "udp"]);
  await using browser = await launchBrowser([], {
    fps: FPS,
    nice: Number(args.nice) || 0,
  });
  const impairment = await startImpairment({
    delayMs: Number(args.delay),
    jitterMs: Number(args.jitter),
    lossPercent: Number(args.loss),
    serverPorts: ports,
    down: down ? { [down.address]: down.kbit } : undefined,
    up: up ? { [up.address]: up.kbit } : undefined,
    match,
  });
  try {
    const created = await (await fetch(`${url}api/meetings`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ title: "Impaired", name: "Host" }),
    })).json();
    const query = (args.transport === "websocket" ? "&transport=websocket" : "") +
      (args.record ? "&playout=record" : "") +
      (args["audio-on-main"] ? "&audio=main" : "");
    const pages: Page[] = [];
    for (const [i, name] of NAMES.entries()) {
      // The last page joins through its own address when its downlink is capped, the first
      // when its uplink is.
      const own = down && i === NAMES.length - 1 ? down : up && i === 0 ? up : undefined;
      const base = own ? `http://${own.address}:${server.port}/` : url;
      pages.push(
        await joinPage(
          await browser.newContext({ viewport: SMALL_VIEWPORT }),
          `${base}m/${created.id}?name=${name}${query}`,
          errors,
          name,
          30_000,
        ),
      );
    }
    // How often each page's main thread is held up (a timer every 10 ms that fires late).
    for (const page of pages) {
      await page.evaluate(`globalThis.__meetHeld = (${watchHoldUps})().held`);
    }
    // Everyone sees everyone before the warm-up starts.
    await waitFor(async () => {
      for (const page of pages) {
        const r = await read(page);
        const seen = Object.values(r.streams).filter((s) => s.frames > 0).length;
        if (seen < NAMES.length - 1) return false;
      }
      return true;
    }, { what: "every page to decode the others' video", timeoutMs: 30_000 });
    if (args["audio-only"]) {
      // Cameras off once video has flowed: the audio path alone, without the pages' video
      // work competing for the CPU.
      for (const page of pages) await page.click("[data-testid=toggle-camera]");
    }
    if (P2P) {
      // Two pages: the meeting goes P2P and each page's media moves to the data channel.
      await waitFor(
        async () => (await Promise.all(pages.map(read))).every((r) => r.transport === "p2p"),
        {
          what: "both pages on the direct path",
          timeoutMs: 40_000,
          intervalMs: 250,
        },
      );
    } else if (args.transport !== "websocket") {
      // Pages start on the WebTransport unless told otherwise; one whose session did not come
      // up on the lossy path falls back and tries again every 15 s.
      await waitFor(async () => {
        const m = (await (await fetch(`${url}api/meetings/${created.id}`)).json()).media;
        return m.transports.webtransport === NAMES.length;
      }, { what: "every page on the WebTransport", timeoutMs: 40_000, intervalMs: 250 });
    }
    /** Every 250 ms until `endAt`, one line to stderr (see the module documentation). */
    const trace = async (pages: Page[], meetingId: string, endAt: number): Promise<void> => {
      const t0 = performance.now();
      const last = new Map<string, number>();
      const delta = (key: string, value: number) => {
        const d = value - (last.get(key) ?? value);
        last.set(key, value);
        return d;
      };
      while (performance.now() < endAt) {
        const room = server.hub.findRoom(meetingId)?.media;
        const readings = await Promise.all(pages.map(read));
        const nameOf = (id: string) => room?.meeting.participant(id)?.name ?? id;
        const uplinks = room?.uplinks;
        const parts = readings.map((r, i) => {
          const name = NAMES[i];
          const id = room?.meeting.participants.find((p) => p.name === name)?.id ?? "";
          const layers = room ? [...room.layersOf(id)] : [];
          // Frames decoded, then what went wrong: frames dropped, PLIs, packets NACKed, lost.
          const frames = Object.entries(r.streams).map(([sid, s]) => {
            const k = `${name} ${sid}`;
            const trouble = ([
              ["d", delta(`${k} d`, s.dropped)],
              ["p", delta(`${k} p`, s.plis)],
              ["n", delta(`${k} n`, s.nacked)],
              ["l", delta(`${k} l`, s.lost)],
            ] as const).filter(([, v]) => v !== 0).map(([c, v]) => `${c}${v}`).join("");
            return `${delta(`${k} f`, s.frames)}f/${s.width}${trouble ? ` ${trouble}` : ""}`;
          });
          const gets = layers.map(([sid, layer]) => `${nameOf(sid)}:${layer ?? "-"}`);
          const full = Math.round((room?.videoTargets.get(id) ?? 0) / 1000);
          const small = Math.round((room?.smallVideoTargets.get(id) ?? 0) / 1000);
          return `${name} [${frames.join(" ")}] aud ${r.targetLeadMs.toFixed(0)}/${
            r.depthMs.toFixed(0)
          } st${delta(`${name} st`, r.stalls)} held${
            delta(`${name} held`, r.held.ms).toFixed(0)
          } est ${Math.round(r.linkEstimate / 1000)} ` +
            `gets ${gets.join(",")} asked ${full}/${small} kf ` +
            `${delta(`${name} kf`, r.keyframesSent)}/${
              delta(`${name} skf`, r.smallKeyframesSent)
            }` +
            ` up q${uplinks?.get(id)?.queueMs?.toFixed(0) ?? "-"}/${
              Math.round((uplinks?.get(id)?.incomingBps ?? 0) / 1000)
            } sendq ${(r.queuedBytes / 1000).toFixed(0)}k` +
            ` rtt ${room?.roundTripOf(id)?.toFixed(0) ?? "-"} srvq ${
              ((room?.transportOf(id)?.queuedBytes() ?? 0) / 1000).toFixed(0)
            }k`;
        });
        const c = room?.counters;
        const counts = c
          ? `server resent ${delta("resent", c.resent)} pli ${
            delta("pli", c.keyframeRequests)
          } waitkf ${delta("waitkf", c.dropped.waitingKeyframe)}`
          : "";
        const t = ((performance.now() - t0) / 1000).toFixed(2);
        console.error(`trace ${t} ${parts.join(" | ")} | ${counts}`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    };
    // How often the server's event loop (this process's) is held up.
    const serverWatch = watchHoldUps();
    const warmupEnd = performance.now() + WARMUP_S * 1000;
    if (args["record-mixer"]) server.hub.findRoom(created.id)?.media.recordMixer();
    const tracing = args.trace ? trace(pages, created.id, warmupEnd + WINDOW_S * 1000) : null;
    await waitFor(() => performance.now() >= warmupEnd, {
      what: "the warm-up",
      timeoutMs: WARMUP_S * 1000 + 5000,
      intervalMs: 200,
    });
    const before = await Promise.all(pages.map(read));
    const serverHeldBefore = { ...serverWatch.held };
    const profiling = args.profile ? await profilePage(pages[0]) : null;
    const media0 = (await (await fetch(`${url}api/meetings/${created.id}`)).json()).media;
    const end = performance.now() + WINDOW_S * 1000;
    await waitFor(() => performance.now() >= end, {
      what: "the measurement window",
      timeoutMs: WINDOW_S * 1000 + 5000,
      intervalMs: 200,
    });
    const after = await Promise.all(pages.map(read));
    if (args.record) {
      // What reached each page's playout buffer, for tests/network/playout_replay.ts.
      const recorded = await Promise.all(pages.map((page, i) =>
        page.evaluate(() =>
          // deno-lint-ignore no-explicit-any
          (globalThis as any).__meetStats?.playoutArrivals ?? []
        ).then((outputs) => ({ name: NAMES[i], outputs }))
      ));
      Deno.writeTextFileSync(args.record, JSON.stringify({ condition: args, pages: recorded }));
    }
    if (args["record-mixer"]) {
      // What reached the mixer's jitter buffers, for tests/network/mixer_replay.ts.
      const entries = server.hub.findRoom(created.id)?.media.takeMixerRecording() ?? [];
      Deno.writeTextFileSync(args["record-mixer"], JSON.stringify({ condition: args, entries }));
    }
    serverWatch.stop();
    await profiling?.();
    await tracing;
    const media1 = (await (await fetch(`${url}api/meetings/${created.id}`)).json()).media;
    const perPage = pages.map((_, i) => {
      const a = before[i], b = after[i];
      const seconds = (b.at - a.at) / 1000;
      const streams = Object.entries(b.streams).map(([id, s]) => {
        const s0: StreamReading = a.streams[id] ??
          {
            frames: 0,
            freezes: 0,
            freezesMs: 0,
            dropped: 0,
            plis: 0,
            nacked: 0,
            retried: 0,
            recovered: 0,
            lost: 0,
            width: 0,
          };
        return {
          id,
          fps: (s.frames - s0.frames) / seconds,
          freezes: s.freezes - s0.freezes,
          freezesMs: s.freezesMs - s0.freezesMs,
          framesDropped: s.dropped - s0.dropped,
          plisSent: s.plis - s0.plis,
          nacked: s.nacked - s0.nacked,
          retried: s.retried - s0.retried,
          recovered: s.recovered - s0.recovered,
          lost: s.lost - s0.lost,
          width: s.width,
        };
      });
      const played = b.played - a.played, concealed = b.concealed - a.concealed;
      // The delay logs keep the latest values; those of the window are past the first reading.
      const lastWindow = (log: number[], perSecond: number) =>
        log.slice(Math.max(0, log.length - Math.round(seconds * perSecond)));
      const audio = lastWindow(b.audio, 50);
      // The page receives one stream, the server's mix-minus (relay) or the peer's voice (P2P).
      const arrival = lastWindow(b.audioArrival, 50);
      const playout = lastWindow(b.audioPlayout, 50);
      const video = b.video.slice(
        Math.max(0, b.video.length - Math.round(seconds * FPS * streams.length)),
      );
      return {
        name: NAMES[i],
        id: b.selfId,
        transport: b.transport,
        carrier: b.carrier,
        outputRestarts: b.outputRestarts,
        fallback: b.fallback,
        seconds,
        streams,
        concealedPercent: played + concealed > 0 ? (100 * concealed) / (played + concealed) : 100,
        audibleMs: b.audibleMs - a.audibleMs,
        playout: {
          lostMs: (b.lost - a.lost) / 48,
          stretchedMs: (b.stretched - a.stretched) / 48,
          lateMs: (b.late - a.late) / 48,
          unrecovered: b.unrecovered - a.unrecovered,
          stalls: b.stalls - a.stalls,
          targetLeadMs: Math.round(b.targetLeadMs),
          depthMs: Math.round(b.depthMs),
          recovered: b.recovered - a.recovered,
        },
        mainThreadHeld: holdUpsBetween(a.held, b.held),
        audioEncodeMs: Math.round(b.audioEncodeMs),
        audioTrimmedMs: Math.round(b.audioTrimmedMs),
        keyframesPerMinute: ((b.keyframesSent - a.keyframesSent) / seconds) * 60,
        rate: {
          targetKbps: Math.round(b.targetBitrate / 1000),
          sendKbps: Math.round(b.sendBitrate / 1000),
          linkEstimateKbps: Math.round(b.linkEstimate / 1000),
          overuses: b.overuses - a.overuses,
          behindPackets: b.behindPackets - a.behindPackets,
          maxQueuedKb: Math.round(b.maxQueuedBytes / 1000),
        },
        audioP50: quantile(audio, 0.5),
        audioP95: quantile(audio, 0.95),
        audioArrivalP50: quantile(arrival, 0.5),
        // The spread the playout buffer has to cover: how much later the late frames come.
        audioArrivalP99: quantile(arrival, 0.99),
        audioPlayoutP50: quantile(playout, 0.5),
        videoP50: quantile(video, 0.5),
        videoP95: quantile(video, 0.95),
      };
    });
    const counters = await impairment.stop();
    console.log(JSON.stringify({
      condition: { ...args, seconds: WINDOW_S, warmup: WARMUP_S },
      pages: perPage,
      server: {
        resent: media1.resent - media0.resent,
        nacksSent: media1.nacksSent - media0.nacksSent,
        keyframeRequests: media1.keyframeRequests - media0.keyframeRequests,
        duplicate: media1.dropped.duplicate - media0.dropped.duplicate,
        congested: media1.dropped.congested - media0.dropped.congested,
        framesLeftOut: media1.framesLeftOut - media0.framesLeftOut,
        // Since the meeting began, warm-up included: a full link is read at the start.
        linkFullReadings: media1.linkFullReadings,
        loopHeld: holdUpsBetween(serverHeldBefore, serverWatch.held),
        lateAudio: media1.dropped.lateAudio - media0.dropped.lateAudio,
        // Frames of the voices the mixer concealed (lost or late at its tick), per cent of what
        // the pages sent (50 a second each): every listener hears these on top of its own. None
        // in P2P (no mix).
        mixerConcealedPercent: P2P
          ? null
          : (100 * (media1.concealedAudio - media0.concealedAudio)) /
            (NAMES.length * 50 * (after[0].at - before[0].at) / 1000),
        transports: media1.transports,
        // The server's estimate of each sender's uplink (rate control), by name.
        uplinks: Object.fromEntries(
          [...(server.hub.findRoom(created.id)?.media.uplinks ?? new Map())].map(([id, u]) => [
            server.hub.findRoom(created.id)?.media.meeting.participant(id)?.name ?? id,
            {
              estimateKbps: Math.round(u.estimateBps! / 1000),
              overuses: u.overuses,
              lossOveruses: u.lossOveruses,
            },
          ]),
        ),
        // What each sender's encodings are asked for, and which one each receiver gets.
        encodings: (() => {
          const room = server.hub.findRoom(created.id)?.media;
          if (!room) return {};
          const nameOf = (id: string) => room.meeting.participant(id)?.name ?? id;
          return Object.fromEntries(room.meeting.participants.map((p) => [p.name, {
            fullKbps: Math.round((room.videoTargets.get(p.id) ?? 0) / 1000),
            smallKbps: Math.round((room.smallVideoTargets.get(p.id) ?? 0) / 1000),
            gets: Object.fromEntries(
              [...room.layersOf(p.id)].map(([id, layer]) => [nameOf(id), layer]),
            ),
          }]));
        })(),
      },
      netsim: counters,
      errors,
    }));
  } finally {
    await impairment.stop().catch(() => {});
  }
}
Deno.exit(0);

/**
 * Starts a CPU profile of the page (Chrome DevTools Protocol); the function returned stops it
 * and prints to stderr the functions that took the most of the page's main thread (self time),
 * and the share of the window the thread was idle.
 */
async function profilePage(page: Page): Promise<() => Promise<void>> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Profiler.enable");
  await cdp.send("Profiler.setSamplingInterval", { interval: 500 });
  await cdp.send("Profiler.start");
  return async () => {
    const { profile } = await cdp.send("Profiler.stop");
    const self = new Map<number, number>();
    for (let i = 0; i < profile.samples!.length; i++) {
      const id = profile.samples![i];
      self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas![i] ?? 0));
    }
    const byName = new Map<string, number>();
    let total = 0;
    for (const node of profile.nodes) {
      const us = self.get(node.id) ?? 0;
      total += us;
      const f = node.callFrame;
      const where = f.url ? `${f.url.split("/").at(-1)}:${f.lineNumber + 1}` : "";
      const key = `${f.functionName || "(anonymous)"} ${where}`;
      byName.set(key, (byName.get(key) ?? 0) + us);
    }
    const top = [...byName].sort((a, b) => b[1] - a[1]).slice(0, 40);
    console.error(`profile of ${NAMES[0]}'s page: ${(total / 1e6).toFixed(1)} s sampled`);
    for (const [name, us] of top) {
      console.error(
        `  ${(us / 1000).toFixed(0).padStart(7)} ms ${
          (100 * us / total).toFixed(1).padStart(5)
        }% ${name}`,
      );
    }
    await cdp.detach();
  };
}
