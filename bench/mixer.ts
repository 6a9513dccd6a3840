/**
 * Mixer benchmark: the CPU cost of the server's audio mixer (media/mixer.ts) for one
 * meeting of 3, 10 and 30 participants who all send speech-like audio, with the server's
 * codecs (server/server.ts `serverOpusCodecs`: 32 kb/s, complexity 5, CELT only).
 *
 * Each participant has its own voice (pitch, syllable rate, formants, talk spurts and
 * pauses). Their audio is encoded to Opus RTP packets BEFORE the clock starts, so only the
 * mixer is measured: every simulated 20 ms tick pushes one packet per participant
 * (`mixer.push`) and mixes (`mixer.tick`). Time is simulated, so the loop runs flat out:
 * "% of one core" is the process' CPU time per tick divided by the 20 ms a tick stands for.
 * The default mixes the 3 loudest speakers; the "all" rows mix everyone (`--mix-speakers N`,
 * as Janus' AudioBridge does) for comparison.
 *
 * Usage:
 *   deno run --allow-all bench/mixer.ts [--quick] [--ticks=N] [--json]
 *
 * @module
 */

import process from "node:process";
import { frameLevel } from "../media/mix.ts";
import { Mixer } from "../media/mixer.ts";
import {
  createOpusDecoder,
  createOpusEncoder,
  isOpusBackendAvailable,
  opusBackendInfo,
  type OpusBackendName,
  type OpusDecoder,
  type OpusEncoder,
} from "../media/opus.ts";
import { parseRtp, type RtpPacket, writeRtp } from "../media/rtp.ts";
import { captureTimeExtension, OPUS_FRAME_SAMPLES, PT_OPUS } from "../protocol/media.ts";
import { MIXER_ENCODER_OPTIONS, serverOpusCodecs } from "../server/server.ts";
import { fmt, machine, machineLine, quantile, sorted, table } from "./_report.ts";

const RATE = 48_000;
const TICK_MS = 20;
/** The target: a 30-participant meeting under this share of one core. */
export const TARGET_PERCENT = 10;

/** Options of {@linkcode runMixerBench}. */
export interface MixerBenchOptions {
  /** Measured ticks per row (default 500 = 10 s of audio; quick 250). */
  ticks?: number;
  /** Unmeasured ticks before each row (default 50). */
  warmupTicks?: number;
  /** Meeting sizes (default 3, 10, 30). */
  sizes?: number[];
  /** Sizes of the meetings where 3 talk and the others are quiet (default 10, 30, 100). */
  talkingSizes?: number[];
  /** Also measure the 30-participant rows with the ffi backend when it loads (default true). */
  ffiRows?: boolean;
  /** Progress lines go here (default: stderr). */
  log?: (line: string) => void;
}

/** One measured configuration. */
export interface MixerRow {
  participants: number;
  /** Participants sending audio (the others are muted and send nothing). */
  sending: number;
  /**
   * Of those sending, how many talk (the others send an open microphone's room noise, about
   * -60 dBFS); undefined: everyone talks in their own spurts.
   */
  talking?: number;
  /** Whether the packets carry the senders' audio levels (RFC 6464). */
  levels: boolean;
  /** Speakers mixed (`--mix-speakers`). */
  mixSpeakers: number;
  backend: OpusBackendName;
  ticks: number;
  /** Wall time of push + tick, microseconds. */
  tickP50Us: number;
  tickP99Us: number;
  tickMaxUs: number;
  /** Process CPU time (user + system, GC included) per tick, microseconds. */
  cpuPerTickUs: number;
  /** cpuPerTickUs / 20 ms, in %. */
  corePercent: number;
  /** Share of the wall time spent inside Opus decode / encode, %. */
  decodeShare: number;
  encodeShare: number;
  decodesPerTick: number;
  encodesPerTick: number;
  /** Mixed packets sent per tick (one per listener) and their mean size, bytes. */
  packetsPerTick: number;
  bytesPerPacket: number;
  /** Speakers selected per tick, mean. */
  speakersPerTick: number;
  /** Packets the jitter buffers refused as late (should be 0). */
  late: number;
}

/** The whole result. */
export interface MixerBenchResult {
  machine: ReturnType<typeof machine>;
  backendNote: string;
  inputNote: string;
  prepareMs: number;
  rows: MixerRow[];
  /** The 30-participant default row against the 10% target. */
  target: { percent: number; measured: number; met: boolean } | null;
}

// --- input: one voice per participant ------------------------------------------------------

/** Deterministic pseudo-random numbers in [0, 1). */
function random(seed: number): () => number {
  let s = (seed * 2654435761) >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/**
 * `frames` 20 ms frames of a speech-like voice: a harmonic source through a wavetable
 * (formant weights of this voice), gliding pitch, a syllable envelope, unvoiced noise
 * bursts, and talk spurts separated by pauses with faint room noise (-65 dBFS, below the
 * mixer's -50 dBFS speech threshold).
 */
export function voice(index: number, frames: number): Int16Array[] {
  const rnd = random(index + 1);
  const pitch = 95 + ((index * 37) % 150); // 95..245 Hz
  const syllableHz = 3 + (index % 5) * 0.45;
  const formant1 = 450 + ((index * 53) % 350);
  const formant2 = 1300 + ((index * 97) % 900);
  const loudness = 5000 + ((index * 1361) % 7000);
  // One period of this voice's glottal waveform.
  const TABLE = 2048;
  const wave = new Float32Array(TABLE);
  for (let h = 1; h <= 24; h++) {
    const f = h * pitch;
    const weight = (Math.exp(-(((f - formant1) / 250) ** 2)) +
      0.5 * Math.exp(-(((f - formant2) / 400) ** 2)) + 0.08) / h;
    for (let i = 0; i < TABLE; i++) wave[i] += weight * Math.sin((2 * Math.PI * h * i) / TABLE);
  }
  let peak = 0;
  for (const v of wave) peak = Math.max(peak, Math.abs(v));
  for (let i = 0; i < TABLE; i++) wave[i] /= peak;
  // Talk spurts: 1.5..5 s of speech, then 0.5..3 s of pause, starting at a random point.
  const spurts: boolean[] = [];
  let talking = rnd() < 0.6;
  while (spurts.length < frames) {
    const len = Math.round(talking ? 75 + rnd() * 175 : 25 + rnd() * 125);
    for (let i = 0; i < len; i++) spurts.push(talking);
    talking = !talking;
  }
  const out: Int16Array[] = [];
  let phase = rnd() * TABLE;
  let env = 0;
  for (let f = 0; f < frames; f++) {
    const pcm = new Int16Array(OPUS_FRAME_SAMPLES);
    let step = 0, syllable = 0;
    for (let i = 0; i < OPUS_FRAME_SAMPLES; i++) {
      if (i % 16 === 0) { // pitch and envelope move slowly: update them every 1/3 ms
        const t = (f * OPUS_FRAME_SAMPLES + i) / RATE;
        const f0 = pitch * (1 + 0.12 * Math.sin(2 * Math.PI * 0.6 * t + index));
        step = (f0 * TABLE) / RATE;
        syllable = Math.max(0, Math.sin(2 * Math.PI * syllableHz * t + index)) ** 1.5;
      }
      phase += step;
      if (phase >= TABLE) phase -= TABLE;
      const target = spurts[f] ? syllable : 0;
      env += (target - env) * 0.002; // smooth attack and release
      const voiced = wave[phase | 0];
      const unvoiced = syllable < 0.15 && spurts[f] ? (rnd() - 0.5) * 0.5 : 0;
      const sample = loudness * (env * voiced + unvoiced * 0.3) + (rnd() - 0.5) * 60;
      pcm[i] = Math.max(-32768, Math.min(32767, Math.round(sample)));
    }
    out.push(pcm);
  }
  return out;
}

/**
 * Opus payloads of `frames` frames of each of `count` voices, as a client sends them
 * (32 kb/s VoIP). Complexity 5 only makes the preparation twice as fast: the packets are
 * the same size and cost the same to decode.
 */
/** Each voice's frame levels (dBFS), as its sender would put them in its packets. */
function voiceLevels(count: number, frames: number): number[][] {
  return Array.from({ length: count }, (_, v) => voice(v, frames).map((f) => frameLevel(f)));
}

function encodeVoices(count: number, frames: number): Uint8Array[][] {
  const encoder = createOpusEncoder({ bitrate: 32_000, complexity: 5 });
  try {
    return Array.from({ length: count }, (_, v) => voice(v, frames).map((f) => encoder.encode(f)));
  } finally {
    encoder.close();
  }
}

/**
 * An open microphone in a quiet room: noise at about -60 dBFS, as Opus payloads, with its
 * levels.
 */
function roomNoise(frames: number, seed: number): { payloads: Uint8Array[]; levels: number[] } {
  const rnd = random(seed);
  const encoder = createOpusEncoder({ bitrate: 32_000, complexity: 5 });
  try {
    const pcm = [...Array(frames)].map(() =>
      Int16Array.from({ length: OPUS_FRAME_SAMPLES }, () => Math.round((rnd() - 0.5) * 60))
    );
    return { payloads: pcm.map((f) => encoder.encode(f)), levels: pcm.map((f) => frameLevel(f)) };
  } finally {
    encoder.close();
  }
}

/**
 * Parsed RTP packets of one participant for `ticks` ticks, looping over its payloads; with
 * `levels`, each carries its frame's level (RFC 6464), as pages and the terminal client send.
 */
function rtpPackets(
  payloads: Uint8Array[],
  ticks: number,
  ssrc: number,
  levels?: number[],
): RtpPacket[] {
  const packets: RtpPacket[] = [];
  for (let t = 0; t < ticks; t++) {
    const bytes = writeRtp({
      payloadType: PT_OPUS,
      sequenceNumber: t & 0xffff,
      timestamp: (t * OPUS_FRAME_SAMPLES) >>> 0,
      ssrc,
      extension: captureTimeExtension(
        1.8e12 + t * TICK_MS,
        undefined,
        levels?.[t % payloads.length],
      ),
      payload: payloads[t % payloads.length],
    });
    const parsed = parseRtp(bytes);
    if (!parsed.ok) throw new Error("benchmark packet does not parse");
    packets.push(parsed.packet);
  }
  return packets;
}

// --- measurement ---------------------------------------------------------------------------

interface CodecTimer {
  decodeMs: number;
  encodeMs: number;
}

/** The server's codec factories, with time spent inside encode/decode added up. */
function timedCodecs(backend: OpusBackendName | undefined, timer: CodecTimer) {
  const make = {
    encoder: (): OpusEncoder =>
      backend
        ? createOpusEncoder({ ...MIXER_ENCODER_OPTIONS, backend })
        : serverOpusCodecs.createEncoder(),
    decoder: (): OpusDecoder =>
      backend ? createOpusDecoder({ backend }) : serverOpusCodecs.createDecoder(),
  };
  return {
    createEncoder(): OpusEncoder {
      const e = make.encoder();
      const encode = e.encode.bind(e);
      return Object.assign(Object.create(e), {
        encode(pcm: Int16Array) {
          const t0 = performance.now();
          const out = encode(pcm);
          timer.encodeMs += performance.now() - t0;
          return out;
        },
        close: () => e.close(),
      });
    },
    createDecoder(): OpusDecoder {
      const d = make.decoder();
      const timed = <A extends unknown[]>(fn: (...args: A) => Int16Array) => (...args: A) => {
        const t0 = performance.now();
        const out = fn(...args);
        timer.decodeMs += performance.now() - t0;
        return out;
      };
      return Object.assign(Object.create(d), {
        decode: timed(d.decode.bind(d)),
        decodeView: timed(d.decodeView.bind(d)),
        close: () => d.close(),
      });
    },
  };
}

function measure(
  streams: RtpPacket[][],
  participants: number,
  mixSpeakers: number,
  backend: OpusBackendName | undefined,
  warmupTicks: number,
  ticks: number,
  sending = participants,
  extra: { talking?: number; levels?: boolean } = {},
): MixerRow {
  const timer: CodecTimer = { decodeMs: 0, encodeMs: 0 };
  const mixer = new Mixer({
    mixSsrc: 0x4d495800,
    maxSpeakers: mixSpeakers,
    ...timedCodecs(backend, timer),
  });
  let sentBytes = 0;
  for (let p = 0; p < participants; p++) {
    mixer.addParticipant(`p${p}`, (packet) => {
      sentBytes += packet.length;
    });
  }
  const times = new Float64Array(ticks);
  let speakers = 0;
  const step = (t: number) => {
    const now = t * TICK_MS;
    for (let p = 0; p < sending; p++) mixer.push(`p${p}`, streams[p][t], now - (p % 7));
    const levels = mixer.tick(now);
    return levels;
  };
  for (let t = 0; t < warmupTicks; t++) step(t);
  const before = { ...mixer.stats };
  sentBytes = 0;
  timer.decodeMs = timer.encodeMs = 0;
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  for (let i = 0; i < ticks; i++) {
    const t0 = performance.now();
    const levels = step(warmupTicks + i);
    times[i] = (performance.now() - t0) * 1000;
    for (const l of levels) if (l.speaking) speakers++;
  }
  const wallMs = performance.now() - wall0;
  const cpu = process.cpuUsage(cpu0);
  const s = mixer.stats;
  mixer.close();
  const sortedTimes = sorted(times);
  const cpuPerTickUs = (cpu.user + cpu.system) / ticks;
  const packets = s.sentPackets - before.sentPackets;
  return {
    participants,
    sending,
    talking: extra.talking,
    levels: extra.levels ?? false,
    mixSpeakers,
    backend: backend ?? opusBackendInfo().name,
    ticks,
    tickP50Us: quantile(sortedTimes, 0.5),
    tickP99Us: quantile(sortedTimes, 0.99),
    tickMaxUs: sortedTimes[sortedTimes.length - 1],
    cpuPerTickUs,
    corePercent: (cpuPerTickUs / (TICK_MS * 1000)) * 100,
    decodeShare: (timer.decodeMs / wallMs) * 100,
    encodeShare: (timer.encodeMs / wallMs) * 100,
    decodesPerTick: (s.decodes - before.decodes) / ticks,
    encodesPerTick: (s.encodes - before.encodes) / ticks,
    packetsPerTick: packets / ticks,
    bytesPerPacket: sentBytes / packets,
    speakersPerTick: speakers / ticks,
    late: s.late - before.late,
  };
}

/** Runs every row. */
export function runMixerBench(options: MixerBenchOptions = {}): MixerBenchResult {
  const log = options.log ?? ((line: string) => console.error(line));
  const ticks = Math.max(10, Math.min(5000, options.ticks ?? 500));
  const warmupTicks = Math.max(0, Math.min(1000, options.warmupTicks ?? 50));
  const sizes = options.sizes ?? [3, 10, 30];
  const largest = Math.max(...sizes);
  const info = opusBackendInfo();

  const t0 = performance.now();
  // Distinct audio for up to 5 s per voice (250 frames); longer runs loop it.
  const clipFrames = Math.min(250, ticks + warmupTicks);
  const payloads = encodeVoices(largest, clipFrames);
  const streams = payloads.map((p, i) => rtpPackets(p, ticks + warmupTicks, 0x1000 + i));
  const prepareMs = performance.now() - t0;
  const payloadBytes = payloads.flat().reduce((a, p) => a + p.length, 0) / (largest * clipFrames);
  log(`mixer: ${largest} voices x ${clipFrames} frames encoded in ${fmt(prepareMs)} ms`);

  // [participants, mixed speakers, backend, participants sending]
  const configs: [number, number, OpusBackendName | undefined, number][] = [];
  for (const n of sizes) {
    configs.push([n, 3, undefined, n]);
    if (n > 3) configs.push([n, n, undefined, n]);
  }
  if (largest > 5) configs.push([largest, 3, undefined, 5]); // most muted: the usual meeting
  if ((options.ffiRows ?? true) && info.name !== "ffi" && isOpusBackendAvailable("ffi")) {
    configs.push([largest, 3, "ffi", largest], [largest, largest, "ffi", largest]);
  }
  const rows: MixerRow[] = [];
  for (const [n, k, backend, sending] of configs) {
    rows.push(measure(streams, n, k, backend, warmupTicks, ticks, sending));
    log(`mixer: ${n} participants (${sending} sending), ${k} speakers ${backend ?? ""}: done`);
  }
  // Meetings as they usually are: 3 talk, everyone else's microphone is open in a quiet
  // room; without and with the senders' levels (RFC 6464), which spare the mixer decoding
  // those it cannot mix.
  const talkSizes = options.talkingSizes ?? [10, 30, 100];
  if (talkSizes.length > 0) {
    const frames = Math.min(250, ticks + warmupTicks);
    const talkers = encodeVoices(3, frames);
    const talkerLevels = voiceLevels(3, frames);
    const quiet = [...Array(Math.max(...talkSizes))].map((_, i) => roomNoise(frames, 1000 + i));
    for (const n of talkSizes) {
      for (const levels of [false, true]) {
        const talk = [...Array(n)].map((_, i) =>
          i < 3
            ? rtpPackets(
              talkers[i],
              ticks + warmupTicks,
              0x2000 + i,
              levels ? talkerLevels[i] : undefined,
            )
            : rtpPackets(
              quiet[i].payloads,
              ticks + warmupTicks,
              0x2000 + i,
              levels ? quiet[i].levels : undefined,
            )
        );
        rows.push(measure(talk, n, 3, undefined, warmupTicks, ticks, n, { talking: 3, levels }));
        log(`mixer: ${n} participants, 3 talking, ${levels ? "with" : "without"} levels: done`);
      }
    }
  }
  const target = rows.find((r) =>
    r.participants === 30 && r.sending === 30 && r.mixSpeakers === 3 && r.backend === info.name
  );
  return {
    machine: machine(),
    backendNote: `Opus backend ${info.name} (${info.version}; ${info.reason}); server codecs: ` +
      `32 kb/s, complexity 5`,
    inputNote: `speech-like voices (own pitch, formants, syllables, talk spurts and pauses), ` +
      `client-encoded at 32 kb/s (${fmt(payloadBytes)} B/packet mean), pre-encoded in ` +
      `${fmt(prepareMs)} ms (not measured); ${ticks} measured ticks (${
        fmt(ticks * TICK_MS / 1000, 1)
      } s ` +
      `of audio) after ${warmupTicks} warm-up ticks`,
    prepareMs,
    rows,
    target: target
      ? {
        percent: TARGET_PERCENT,
        measured: target.corePercent,
        met: target.corePercent < TARGET_PERCENT,
      }
      : null,
  };
}

/** The result as Markdown. */
export function formatMixer(result: MixerBenchResult): string {
  const rows = result.rows.map((r) => [
    r.talking !== undefined
      ? `${r.participants} (${r.talking} talking${r.levels ? ", levels" : ""})`
      : r.sending === r.participants
      ? String(r.participants)
      : `${r.participants} (${r.sending} unmuted)`,
    r.mixSpeakers === r.participants ? `all (${r.mixSpeakers})` : String(r.mixSpeakers),
    r.backend,
    `${fmt(r.cpuPerTickUs)}`,
    `${fmt(r.corePercent, 1)}%`,
    `${fmt(r.tickP50Us)} / ${fmt(r.tickP99Us)}`,
    `${fmt(r.decodesPerTick, 1)} / ${fmt(r.encodesPerTick, 1)}`,
    `${fmt(r.decodeShare)}% / ${fmt(r.encodeShare)}%`,
    fmt(r.speakersPerTick, 1),
    fmt(100 / r.corePercent, 0),
  ]);
  const out = [
    `Audio mixer, one meeting, every participant sending unless some are marked unmuted ` +
    `(${result.inputNote}).`,
    result.backendNote + ".",
    "",
    table(
      [
        "participants",
        "mixed speakers",
        "opus",
        "CPU us/tick",
        "% of one core",
        "tick p50 / p99 us",
        "decodes / encodes per tick",
        "time in decode / encode",
        "speakers mixed (mean)",
        "such meetings per core",
      ],
      rows,
      [true, false, false, true, true, true, true, true, true, true],
    ),
    "",
    `"% of one core" = process CPU time per tick (GC included) / 20 ms. A tick = one packet ` +
    `pushed per participant + mixer.tick().`,
  ];
  const late = result.rows.reduce((a, r) => a + r.late, 0);
  if (late) out.push(`Warning: ${late} packets arrived late at the jitter buffers.`);
  if (result.target) {
    const { percent, measured, met } = result.target;
    out.push(
      `Target (30 participants under ${percent}% of one core): ${met ? "MET" : "MISSED"}, ` +
        `${fmt(measured, 1)}%.`,
    );
  }
  return out.join("\n");
}

if (import.meta.main) {
  const args = new Set(Deno.args);
  const ticksArg = Deno.args.find((a) => a.startsWith("--ticks="));
  const result = runMixerBench({
    ticks: ticksArg ? Number(ticksArg.split("=")[1]) : args.has("--quick") ? 250 : 500,
  });
  if (args.has("--json")) console.log(JSON.stringify(result, null, 2));
  else console.log(`${machineLine(result.machine)}\n\n${formatMixer(result)}`);
}
