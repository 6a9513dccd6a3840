/**
 * The reference for the impaired-network benchmark: two headless Chromium pages joined by a
 * plain `RTCPeerConnection` (Chromium's own WebRTC stack: its jitter buffers, NACK, FEC and
 * bandwidth estimation), with the same fake camera and microphone as the meeting pages, VP8
 * at most 800 kbit/s like our senders, while netsim delays, jitters and drops every UDP
 * packet (one hop). Run only inside a private network namespace with just loopback (as
 * bench/network.ts does), so that no rule touches the machine's own network.
 *
 * Flags: `--delay=25 --jitter=8 --loss=1` (per packet), `--seconds=20` (the window, after
 * `--warmup=5`), `--down=KBIT` to cap the second page's downlink and `--up=KBIT` the first
 * page's uplink (by the UDP port each gathered, both pages being on 127.0.0.1). Prints its figures as JSON on the last line, per page, from `getStats()`:
 * fps, freezes and their time (Chromium's own count), keyframes, audio concealed %, and
 * delays estimated as half the round trip plus the jitter buffer's average wait (the
 * capture, encode and output delays, which the meeting's figures include, are left out).
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { Page } from "playwright-core";
import { launchBrowser } from "../support/browser.ts";
import { startImpairment } from "../support/impaired_network.ts";
import { waitFor } from "../support/wait.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    delay: { type: "string", default: "25" },
    jitter: { type: "string", default: "8" },
    loss: { type: "string", default: "1" },
    seconds: { type: "string", default: "20" },
    warmup: { type: "string", default: "5" },
    down: { type: "string" },
    up: { type: "string" },
  },
});

/** Every UDP port of 127.0.0.1 among an SDP's candidates. */
function candidatePorts(sdp: string): number[] {
  const ports = new Set<number>();
  for (const m of sdp.matchAll(/a=candidate:\S+ \d+ udp \d+ 127\.0\.0\.1 (\d+) typ/gi)) {
    ports.add(Number(m[1]));
  }
  return [...ports];
}
const WINDOW_S = Math.min(120, Math.max(3, Number(args.seconds)));
const WARMUP_S = Math.min(60, Math.max(1, Number(args.warmup)));
const TIMEOUT = 30_000;

/** A page's `getStats()` figures that the report needs. */
interface Reading {
  at: number;
  framesDecoded: number;
  freezeCount: number;
  freezesMs: number;
  keyframesSent: number;
  videoJitterBufferMs: number;
  videoEmitted: number;
  audioJitterBufferMs: number;
  audioEmitted: number;
  concealed: number;
  samples: number;
  rttMs: number | null;
  videoBytes: number;
  /** Width of the last frame decoded. */
  width: number;
}

const PAGE = `<!doctype html><meta charset="utf-8"><title>reference</title><script>
window.pc = new RTCPeerConnection();
window.start = async () => {
  window.stream = await navigator.mediaDevices.getUserMedia({
    audio: true,
    video: { width: 640, height: 360, frameRate: 30 },
  });
};
// The offerer adds its tracks before the offer, the answerer after it (so that they take the
// offered transceivers); both prefer VP8 for video.
window.addTracks = () => {
  for (const track of stream.getTracks()) pc.addTrack(track, stream);
  for (const t of pc.getTransceivers()) {
    if (t.receiver.track.kind !== "video") continue;
    const vp8 = RTCRtpReceiver.getCapabilities("video").codecs.filter((c) =>
      /vp8|rtx|red|ulpfec/i.test(c.mimeType)
    );
    t.setCodecPreferences(vp8);
  }
};
// The other's voice is played, as a call would: Chromium decodes (and conceals) what it plays.
pc.ontrack = (e) => {
  if (e.track.kind !== "audio") return;
  const audio = new Audio();
  audio.srcObject = new MediaStream([e.track]);
  audio.play();
};
window.limit = async () => {
  for (const s of pc.getSenders()) {
    if (s.track?.kind !== "video") continue;
    const p = s.getParameters();
    p.encodings[0].maxBitrate = 800000;
    await s.setParameters(p);
  }
};
window.gathered = () => new Promise((resolve) => {
  if (pc.iceGatheringState === "complete") return resolve(pc.localDescription.sdp);
  pc.onicegatheringstatechange = () => {
    if (pc.iceGatheringState === "complete") resolve(pc.localDescription.sdp);
  };
});
</script>`;

async function read(page: Page): Promise<Reading> {
  return await page.evaluate(async () => {
    // deno-lint-ignore no-explicit-any
    const stats = await (globalThis as any).pc.getStats();
    const r = {
      at: performance.now(),
      framesDecoded: 0,
      freezeCount: 0,
      freezesMs: 0,
      keyframesSent: 0,
      videoJitterBufferMs: 0,
      videoEmitted: 0,
      audioJitterBufferMs: 0,
      audioEmitted: 0,
      concealed: 0,
      samples: 0,
      rttMs: null as number | null,
      videoBytes: 0,
      width: 0,
    };
    // deno-lint-ignore no-explicit-any
    stats.forEach((s: any) => {
      if (s.type === "inbound-rtp" && s.kind === "video") {
        r.framesDecoded = s.framesDecoded ?? 0;
        r.freezeCount = s.freezeCount ?? 0;
        r.freezesMs = (s.totalFreezesDuration ?? 0) * 1000;
        r.videoJitterBufferMs = (s.jitterBufferDelay ?? 0) * 1000;
        r.videoEmitted = s.jitterBufferEmittedCount ?? 0;
        r.videoBytes = s.bytesReceived ?? 0;
        r.width = s.frameWidth ?? 0;
      } else if (s.type === "inbound-rtp" && s.kind === "audio") {
        r.audioJitterBufferMs = (s.jitterBufferDelay ?? 0) * 1000;
        r.audioEmitted = s.jitterBufferEmittedCount ?? 0;
        r.concealed = s.concealedSamples ?? 0;
        r.samples = s.totalSamplesReceived ?? 0;
      } else if (s.type === "outbound-rtp" && s.kind === "video") {
        r.keyframesSent = s.keyFramesEncoded ?? 0;
      } else if (s.type === "candidate-pair" && s.nominated && s.currentRoundTripTime) {
        r.rttMs = s.currentRoundTripTime * 1000;
      }
    });
    return r;
  });
}

const errors: string[] = [];
{
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response(PAGE, { headers: { "content-type": "text/html; charset=utf-8" } }),
  );
  await using browser = await launchBrowser();
  // Started once the pages' ports are known (a limit names the port), before they connect.
  let impairment: Awaited<ReturnType<typeof startImpairment>> | undefined;
  try {
    const pages: Page[] = [];
    for (let i = 0; i < 2; i++) {
      const page = await (await browser.newContext()).newPage();
      page.on("pageerror", (e) => errors.push(String(e)));
      await page.goto(`http://127.0.0.1:${server.addr.port}/`);
      await page.evaluate(() => (globalThis as unknown as { start(): Promise<void> }).start());
      pages.push(page);
    }
    const [a, b] = pages;
    // Offer and answer, each with its candidates gathered (no trickle needed on loopback).
    const offer = await a.evaluate(async () => {
      // deno-lint-ignore no-explicit-any
      const g = globalThis as any;
      g.addTracks();
      await g.pc.setLocalDescription(await g.pc.createOffer());
      return await g.gathered();
    });
    const answer = await b.evaluate(async (sdp: string) => {
      // deno-lint-ignore no-explicit-any
      const g = globalThis as any;
      await g.pc.setRemoteDescription({ type: "offer", sdp });
      g.addTracks();
      await g.pc.setLocalDescription(await g.pc.createAnswer());
      return await g.gathered();
    }, offer);
    const limits = (kbit: string | undefined, sdp: string) =>
      kbit === undefined
        ? undefined
        : Object.fromEntries(candidatePorts(sdp).map((port) => [`127.0.0.1:${port}`, +kbit]));
    const down = limits(args.down, answer);
    const up = limits(args.up, offer);
    for (const [flag, ports] of [["--down", down], ["--up", up]] as const) {
      if (ports && Object.keys(ports).length === 0) {
        throw new Error(`${flag}: no 127.0.0.1 candidate in the SDP`);
      }
    }
    impairment = await startImpairment({
      delayMs: Number(args.delay),
      jitterMs: Number(args.jitter),
      lossPercent: Number(args.loss),
      down,
      up,
      match: [["-p", "udp"]],
    });
    await a.evaluate(async (sdp: string) => {
      // deno-lint-ignore no-explicit-any
      await (globalThis as any).pc.setRemoteDescription({ type: "answer", sdp });
    }, answer);
    for (const page of pages) {
      await page.evaluate(() => (globalThis as unknown as { limit(): Promise<void> }).limit());
    }
    await waitFor(async () => {
      for (const page of pages) if ((await read(page)).framesDecoded < 30) return false;
      return true;
    }, { what: "both pages to decode the other's video", timeoutMs: TIMEOUT }).catch(async (e) => {
      const states = await Promise.all(pages.map((p) =>
        p.evaluate(() => {
          // deno-lint-ignore no-explicit-any
          const pc = (globalThis as any).pc;
          return `${pc.connectionState}/${pc.iceConnectionState}`;
        })
      ));
      throw new Error(`${e.message} (connection states: ${states.join(", ")})`);
    });
    const warmupEnd = performance.now() + WARMUP_S * 1000;
    await waitFor(() => performance.now() >= warmupEnd, {
      what: "the warm-up",
      timeoutMs: WARMUP_S * 1000 + 5000,
      intervalMs: 200,
    });
    const before = await Promise.all(pages.map(read));
    const end = performance.now() + WINDOW_S * 1000;
    await waitFor(() => performance.now() >= end, {
      what: "the measurement window",
      timeoutMs: WINDOW_S * 1000 + 5000,
      intervalMs: 200,
    });
    const after = await Promise.all(pages.map(read));
    const perPage = pages.map((_, i) => {
      const x = before[i], y = after[i];
      const seconds = (y.at - x.at) / 1000;
      const frames = y.framesDecoded - x.framesDecoded;
      const halfRtt = (y.rttMs ?? 0) / 2;
      const videoWait = (y.videoJitterBufferMs - x.videoJitterBufferMs) /
        Math.max(1, y.videoEmitted - x.videoEmitted);
      const audioWait = (y.audioJitterBufferMs - x.audioJitterBufferMs) /
        Math.max(1, y.audioEmitted - x.audioEmitted);
      const samples = y.samples - x.samples;
      return {
        name: ["Ann", "Bob"][i],
        seconds,
        streams: [{
          id: "peer",
          fps: frames / seconds,
          freezes: y.freezeCount - x.freezeCount,
          freezesMs: y.freezesMs - x.freezesMs,
        }],
        concealedPercent: samples > 0 ? (100 * (y.concealed - x.concealed)) / samples : 100,
        keyframesPerMinute: ((y.keyframesSent - x.keyframesSent) / seconds) * 60,
        audioP50: halfRtt + audioWait,
        audioP95: null,
        videoP50: halfRtt + videoWait,
        videoKbps: ((y.videoBytes - x.videoBytes) * 8) / seconds / 1000,
        width: y.width,
        rttMs: y.rttMs,
      };
    });
    const counters = await impairment.stop();
    impairment = undefined;
    console.log(JSON.stringify({
      condition: { ...args, seconds: WINDOW_S, warmup: WARMUP_S },
      pages: perPage,
      server: { resent: 0 },
      netsim: counters,
      errors,
    }));
  } finally {
    await impairment?.stop().catch(() => {});
    await server.shutdown();
  }
}
Deno.exit(0);
