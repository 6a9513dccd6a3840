/**
 * Opus backend benchmark: encode / decode / concealment time per 20 ms frame
 * (48 kHz mono, speech-like input, 32 kb/s VoIP), and the share of one core that the
 * mixer's work per meeting takes: 30 decodes + 1..4 encodes every 20 ms.
 *
 * Backends measured (each skipped with a reason when it cannot load):
 * - `ffi`: media/opus.ts over the system libopus (Deno.dlopen; needs --allow-ffi).
 * - `wasm`: media/opus.ts over the libopus wasm shipped in npm:@evan/opus.
 * - `evan-native`: npm:@evan/opus's own N-API addon (needs --allow-ffi).
 * - `evan-wasm`: npm:@evan/opus's own wasm wrapper (what it silently falls back to).
 * - `opusscript`: npm:opusscript (emscripten wasm).
 *
 * Usage:
 *   deno run --allow-all bench/opus_bench.ts [--iterations=N] [--time-ms=MS]
 *     [--complexity=0..10] [--json]
 * Each measurement stops after N calls (default 2000) or MS milliseconds (default
 * 1500), whichever comes first; the mixer simulation runs N/4 ticks within 3 x MS.
 *
 * @module
 */

import process from "node:process";
import {
  createOpusDecoder,
  createOpusEncoder,
  isOpusBackendAvailable,
  type OpusBackendName,
} from "../media/opus.ts";

const RATE = 48000;
const FRAME = 960; // 20 ms
const BITRATE = 32000;
const DECODERS_PER_TICK = 30;

interface Codec {
  encode(pcm: Int16Array): Uint8Array;
  close(): void;
}
interface Dec {
  /** null when the backend cannot conceal a lost packet with a 20 ms frame. */
  decode(packet: Uint8Array | null): Int16Array;
  close(): void;
}
interface Candidate {
  name: string;
  note: string;
  makeEncoder(): Codec;
  makeDecoder(): Dec;
  /** Concealment that yields exactly one 20 ms frame; false if not possible. */
  plc: boolean | string;
}

/** Encoder complexity (0..10); undefined = libopus' default (9). Set by --complexity. */
let complexity: number | undefined;

function args(): { iterations: number; timeMs: number; json: boolean } {
  let iterations = 2000;
  let timeMs = 1500;
  let json = false;
  for (const a of Deno.args) {
    const [k, v] = a.split("=");
    if (k === "--iterations") iterations = Math.max(10, Math.min(100_000, Number(v)));
    else if (k === "--time-ms") timeMs = Math.max(50, Math.min(60_000, Number(v)));
    else if (k === "--complexity") complexity = Math.max(0, Math.min(10, Number(v)));
    else if (k === "--json") json = true;
    else throw new Error(`unknown argument ${a}`);
  }
  return { iterations, timeMs, json };
}

/** Speech-like test signal: a voiced harmonic source with a gliding pitch (90-220 Hz),
 * a syllable-rate (4 Hz) amplitude envelope with pauses, formant-ish harmonic weights,
 * and background noise. Deterministic. */
export function speechLikeFrames(count: number, seed = 1): Int16Array[] {
  let s = seed >>> 0;
  const rnd = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296 - 0.5;
  };
  const frames: Int16Array[] = [];
  let phase = 0;
  for (let f = 0; f < count; f++) {
    const pcm = new Int16Array(FRAME);
    for (let i = 0; i < FRAME; i++) {
      const t = (f * FRAME + i) / RATE;
      const pitch = 155 + 65 * Math.sin(2 * Math.PI * 0.7 * t);
      phase += (2 * Math.PI * pitch) / RATE;
      const env = Math.max(0, Math.sin(2 * Math.PI * 4 * t)) ** 1.5 *
        (Math.sin(2 * Math.PI * 0.23 * t) > -0.6 ? 1 : 0.05);
      let voiced = 0;
      for (let h = 1; h <= 12; h++) {
        const freq = h * pitch;
        const formant = Math.exp(-(((freq - 600) / 350) ** 2)) +
          0.6 * Math.exp(-(((freq - 1700) / 500) ** 2)) + 0.15;
        voiced += (formant * Math.sin(h * phase)) / h;
      }
      const sample = 9000 * env * voiced + 600 * rnd();
      pcm[i] = Math.max(-32768, Math.min(32767, Math.round(sample)));
    }
    frames.push(pcm);
  }
  return frames;
}

function u8(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}
function i16(view: ArrayBufferView): Int16Array {
  return new Int16Array(view.buffer, view.byteOffset, view.byteLength >> 1);
}

function ownCandidate(backend: OpusBackendName): Candidate {
  return {
    name: backend,
    note: backend === "ffi"
      ? "media/opus.ts, system libopus via Deno.dlopen"
      : "media/opus.ts, @evan/opus simd.wasm driven directly",
    plc: true,
    makeEncoder: () =>
      createOpusEncoder({ backend, bitrate: BITRATE, application: "voip", complexity }),
    makeDecoder: () => createOpusDecoder({ backend }),
  };
}

interface EvanModule {
  Encoder: new (o: { channels: number; sample_rate: number; application: string }) => {
    encode(b: ArrayBufferView): Uint8Array;
    ctl(cmd: number, v?: number): number;
    drop?(): void;
  };
  Decoder: new (o: { channels: number; sample_rate: number }) => {
    decode(b: ArrayBufferView): Uint8Array;
    drop?(): void;
  };
}

async function evanCandidate(kind: "native" | "wasm"): Promise<Candidate> {
  // deno-lint-ignore no-explicit-any
  const mod: any = kind === "native"
    // deno-lint-ignore no-import-prefix
    ? await import("npm:@evan/opus@1.0.3/node/index.js")
    // deno-lint-ignore no-import-prefix
    : await import("npm:@evan/opus@1.0.3/wasm/index.js");
  const m: EvanModule = mod.default ?? mod;
  const empty = new Uint8Array(0);
  return {
    name: `evan-${kind}`,
    note: kind === "native"
      ? "npm:@evan/opus N-API addon (Rust + static libopus)"
      : "npm:@evan/opus JS wrapper over its wasm",
    plc: kind === "native"
      ? "rejects an empty packet (BadArgument): no PLC"
      : "empty packet conceals 120 ms, not 20",
    makeEncoder() {
      const e = new m.Encoder({ channels: 1, sample_rate: RATE, application: "voip" });
      e.ctl(4002, BITRATE);
      if (complexity !== undefined) e.ctl(4010, complexity);
      return { encode: (pcm) => e.encode(pcm), close: () => e.drop?.() };
    },
    makeDecoder() {
      const d = new m.Decoder({ channels: 1, sample_rate: RATE });
      return { decode: (p) => i16(d.decode(p ?? empty)), close: () => d.drop?.() };
    },
  };
}

async function opusscriptCandidate(): Promise<Candidate> {
  // deno-lint-ignore no-import-prefix
  const mod = await import("npm:opusscript@0.1.1");
  // deno-lint-ignore no-explicit-any
  const OpusScript: any = mod.default ?? mod;
  const empty = new Uint8Array(0);
  const make = () => {
    const o = new OpusScript(RATE, 1, OpusScript.Application.VOIP);
    o.setBitrate(BITRATE);
    if (complexity !== undefined) o.encoderCTL(4010, complexity);
    return o;
  };
  return {
    name: "opusscript",
    note: "npm:opusscript emscripten wasm (libopus 1.4)",
    plc: "empty packet conceals 60 ms, not 20",
    makeEncoder() {
      const o = make();
      return { encode: (pcm) => o.encode(u8(pcm), FRAME), close: () => o.delete() };
    },
    makeDecoder() {
      const o = make();
      return { decode: (p) => i16(o.decode(p ?? empty)), close: () => o.delete() };
    },
  };
}

interface Stats {
  n: number;
  /** Wall time per call, microseconds. */
  p50: number;
  p99: number;
  /** This process' CPU time (user + system, all threads, so GC included) per call,
   * microseconds. Unlike wall-time means it is not inflated when other processes
   * share the machine's cores. */
  cpu: number;
}

function stats(samplesUs: number[], cpuUs: number): Stats {
  const s = [...samplesUs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return { n: s.length, p50: at(0.5), p99: at(0.99), cpu: cpuUs / s.length };
}

/** Times `fn(i)` per call, bounded by count and wall time, after a warm-up of at least
 * 100 calls and 250 ms (V8 tiers wasm and JS up in background threads: their
 * compile time must not land in the CPU figure). */
function timeCalls(
  fn: (i: number) => void,
  iterations: number,
  timeMs: number,
  untimed?: (i: number) => void,
): Stats {
  const warmUntil = performance.now() + Math.min(250, timeMs);
  for (let i = 0; i < 100 || performance.now() < warmUntil; i++) {
    untimed?.(i);
    fn(i);
  }
  const out: number[] = [];
  const deadline = performance.now() + timeMs;
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < iterations; i++) {
    untimed?.(i);
    const t0 = performance.now();
    fn(i);
    const t1 = performance.now();
    out.push((t1 - t0) * 1000);
    if (t1 > deadline) break;
  }
  const cpu = process.cpuUsage(cpu0);
  return stats(out, cpu.user + cpu.system);
}

interface Result {
  name: string;
  note: string;
  bytesPerPacket: number;
  encode: Stats;
  decode: Stats;
  plc: Stats | string;
  /** Mixer tick: 30 decoders (own streams) + sum + 4 encoders, wall time per tick. */
  tick: Stats;
}

function bench(c: Candidate, frames: Int16Array[], iterations: number, timeMs: number): Result {
  // Packets produced by this backend's encoder (what its decoders would receive).
  const enc = c.makeEncoder();
  const packets = frames.map((f) => enc.encode(f));
  const bytesPerPacket = packets.reduce((a, p) => a + p.length, 0) / packets.length;

  const encode = timeCalls((i) => enc.encode(frames[i % frames.length]), iterations, timeMs);
  enc.close();

  const dec = c.makeDecoder();
  const decode = timeCalls((i) => dec.decode(packets[i % packets.length]), iterations, timeMs);
  let plc: Stats | string;
  if (c.plc === true) {
    // A lost packet after each received one. The received one is decoded outside
    // the wall-time window; its CPU time (the plain decode figure) is subtracted.
    const mixed = timeCalls(
      () => dec.decode(null),
      iterations,
      timeMs,
      (i) => dec.decode(packets[i % packets.length]),
    );
    plc = { ...mixed, cpu: mixed.cpu - decode.cpu };
  } else {
    plc = String(c.plc);
  }
  dec.close();

  // Mixer-shaped tick: 30 speakers, each its own decoder and packet stream (offset
  // in the clip), summed into one mix, then 4 encoders (e.g. 4 different mixes).
  const decoders = Array.from({ length: DECODERS_PER_TICK }, () => c.makeDecoder());
  const encoders = Array.from({ length: 4 }, () => c.makeEncoder());
  const mix = new Int32Array(FRAME);
  const out = new Int16Array(FRAME);
  const tick = timeCalls(
    (t) => {
      mix.fill(0);
      for (let d = 0; d < decoders.length; d++) {
        const pcm = decoders[d].decode(packets[(t + d * 7) % packets.length]);
        for (let i = 0; i < FRAME; i++) mix[i] += pcm[i];
      }
      for (let i = 0; i < FRAME; i++) out[i] = Math.max(-32768, Math.min(32767, mix[i] >> 3));
      for (const e of encoders) e.encode(out);
    },
    Math.max(10, iterations >> 2),
    timeMs * 3,
  );
  for (const d of decoders) d.close();
  for (const e of encoders) e.close();

  return { name: c.name, note: c.note, bytesPerPacket, encode, decode, plc, tick };
}

/** % of one core used by 30 decodes + k encodes every 20 ms, from CPU time per call. */
function corePercent(r: Result, encodes: number): number {
  return ((DECODERS_PER_TICK * r.decode.cpu + encodes * r.encode.cpu) / 20_000) * 100;
}

function fmt(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toFixed(digits) : "-";
}

function table(results: Result[]): string {
  const head = [
    "backend",
    "encode us p50 / p99 / cpu",
    "decode us p50 / p99 / cpu",
    "PLC (decode null) us p50 / p99 / cpu",
    "B/pkt",
    "% of a core: 30 dec + 1 / 2 / 3 / 4 enc",
    "mixer tick (30 dec + mix + 4 enc) us p50 / p99 / cpu = % core",
  ];
  const rows = results.map((r) => [
    r.name,
    `${fmt(r.encode.p50)} / ${fmt(r.encode.p99)} / ${fmt(r.encode.cpu)}`,
    `${fmt(r.decode.p50, 1)} / ${fmt(r.decode.p99, 1)} / ${fmt(r.decode.cpu, 1)}`,
    typeof r.plc === "string"
      ? `n/a: ${r.plc}`
      : `${fmt(r.plc.p50, 1)} / ${fmt(r.plc.p99, 1)} / ${fmt(r.plc.cpu, 1)}`,
    fmt(r.bytesPerPacket),
    [1, 2, 3, 4].map((k) => fmt(corePercent(r, k), 1)).join(" / "),
    `${fmt(r.tick.p50)} / ${fmt(r.tick.p99)} / ${fmt(r.tick.cpu)} = ` +
    `${fmt((r.tick.cpu / 20_000) * 100, 1)}%`,
  ]);
  const lines = [head, head.map(() => "---"), ...rows].map((cells) => `| ${cells.join(" | ")} |`);
  return lines.join("\n");
}

function loadAverage(): string {
  try {
    return Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
  } catch {
    return "unknown (needs --allow-sys)";
  }
}

async function main() {
  const { iterations, timeMs, json } = args();
  const frames = speechLikeFrames(250); // 5 s
  const candidates: Candidate[] = [];
  const skipped: string[] = [];
  for (const backend of ["ffi", "wasm"] as const) {
    if (isOpusBackendAvailable(backend)) candidates.push(ownCandidate(backend));
    else skipped.push(`${backend}: not available (ffi needs --allow-ffi and libopus0)`);
  }
  const loaders: [string, () => Promise<Candidate>][] = [
    ["evan-native", () => evanCandidate("native")],
    ["evan-wasm", () => evanCandidate("wasm")],
    ["opusscript", opusscriptCandidate],
  ];
  for (const [name, load] of loaders) {
    try {
      candidates.push(await load());
    } catch (e) {
      skipped.push(`${name}: ${e instanceof Error ? e.message.split("\n")[0] : e}`);
    }
  }

  const results: Result[] = [];
  for (const c of candidates) {
    results.push(bench(c, frames, iterations, timeMs));
    if (!json) console.error(`measured ${c.name}`);
  }
  if (json) {
    console.log(JSON.stringify({ iterations, timeMs, complexity, results, skipped }, null, 2));
    return;
  }
  console.log(
    `Opus 48 kHz mono, 20 ms frames, ${BITRATE / 1000} kb/s voip, encoder complexity ` +
      `${complexity ?? "default (9)"}, speech-like input; ` +
      `Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} cores, load average ` +
      `${loadAverage()}; <= ${iterations} calls or ` +
      `${timeMs} ms per figure. "cpu" = this process' CPU time per call (mean).\n`,
  );
  console.log(table(results));
  console.log("");
  for (const r of results) console.log(`- ${r.name}: ${r.note}`);
  for (const s of skipped) console.log(`- skipped ${s}`);
}

if (import.meta.main) await main();
