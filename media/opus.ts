/**
 * Opus encoder/decoder for the server-side audio mixer.
 *
 * Two interchangeable backends run the same libopus C API:
 *
 * - `"wasm"` (wherever the system libopus cannot load): libopus compiled to WebAssembly, the `wasm/simd.wasm` file
 *   shipped in `npm:@evan/opus@1.0.3`, driven directly through its exported C
 *   functions (not through the package's JS wrapper, which cannot conceal a lost
 *   packet with the right frame size). No system dependency and no permission beyond
 *   `--allow-read`; `deno compile` embeds the npm package.
 * - `"ffi"` (taken automatically where it loads): the system libopus (Debian package
 *   `libopus0`) through `Deno.dlopen`.
 *   About 25% less CPU for the mixer's work (see docs/opus-choice.md). Needs
 *   `--allow-ffi` (scoped to the library path is enough) and the library on disk.
 *
 * Selection: the `backend` option if given, else the `MEET_OPUS_BACKEND` environment
 * variable (`ffi` | `wasm`) if set, else `"ffi"` when libopus loads here (FFI permission
 * granted for it and the library present), else `"wasm"`. A backend asked for explicitly
 * that cannot load throws with the reason (missing `--allow-ffi`, missing libopus0).
 * `opusBackendInfo()` tells which one is used and why: log it at start-up. `MEET_LIBOPUS_PATH` overrides where the ffi backend looks for libopus.
 *
 * Error policy: bad *data* never throws. A corrupt, oversized or undecodable packet is
 * concealed (PLC) and counted in `decoder.errors` / `decoder.lastError`. Programmer
 * errors (wrong PCM length, use after close, bad options) throw.
 *
 * @module
 */

// The wasm backend reads `wasm/simd.wasm` out of this package. The static JSON import
// puts the package into the module graph so `deno install` fetches it and
// `deno compile` embeds it; the wasm file itself is located with import.meta.resolve.
// deno-lint-ignore no-import-prefix
import evanOpusPackage from "npm:@evan/opus@1.0.3/package.json" with { type: "json" };

export type OpusSampleRate = 8000 | 12000 | 16000 | 24000 | 48000;
export type OpusChannels = 1 | 2;
export type OpusApplication = "voip" | "audio" | "restricted_lowdelay";
export type OpusBackendName = "ffi" | "wasm";

export interface OpusEncoderOptions {
  /** Default 48000. */
  sampleRate?: OpusSampleRate;
  /** Default 1. */
  channels?: OpusChannels;
  /** Default "voip". */
  application?: OpusApplication;
  /** Bits per second (500..512000). Default: libopus' automatic choice. */
  bitrate?: number;
  /** 0..10, default libopus' 9 (10 in 1.3 for some modes). Lower = cheaper encode. */
  complexity?: number;
  /** Add in-band forward error correction (OPUS_SET_INBAND_FEC). */
  inbandFec?: boolean;
  /** Expected packet loss percentage 0..100 (OPUS_SET_PACKET_LOSS_PERC). */
  packetLossPercent?: number;
  /** Discontinuous transmission (OPUS_SET_DTX). */
  dtx?: boolean;
  /** Default: `MEET_OPUS_BACKEND` if set, else "ffi" where libopus loads, else "wasm". */
  backend?: OpusBackendName;
}

export interface OpusDecoderOptions {
  /** Default 48000. */
  sampleRate?: OpusSampleRate;
  /** Default 1. */
  channels?: OpusChannels;
  /**
   * Samples per channel produced by concealment (`decode(null)` or a bad packet).
   * Default: 20 ms (960 at 48 kHz). Must be a multiple of 2.5 ms.
   */
  plcFrameSize?: number;
  /** Default: `MEET_OPUS_BACKEND` if set, else "ffi" where libopus loads, else "wasm". */
  backend?: OpusBackendName;
}

export interface OpusEncoder {
  readonly backend: OpusBackendName;
  readonly sampleRate: OpusSampleRate;
  readonly channels: OpusChannels;
  /**
   * Encodes one frame of interleaved PCM. `pcm.length` must be `channels` times a
   * valid Opus frame size (2.5, 5, 10, 20, 40 or 60 ms: 960 samples for 20 ms at
   * 48 kHz mono). Returns a new packet (1..4000 bytes).
   */
  encode(pcm: Int16Array): Uint8Array;
  /** Changes the target bitrate (bits per second) for the next frames. */
  setBitrate(bitsPerSecond: number): void;
  /** Frees the native state; idempotent. */
  close(): void;
}

export interface OpusDecoder {
  readonly backend: OpusBackendName;
  readonly sampleRate: OpusSampleRate;
  readonly channels: OpusChannels;
  /**
   * Decodes one packet into a new interleaved Int16Array (`samples * channels`
   * long; a 20 ms packet at 48 kHz mono gives 960). `null` or an empty packet means
   * "lost": libopus packet-loss concealment produces `plcFrameSize` samples. With
   * `fec = true`, `packet` is the packet *after* the lost one and its in-band FEC
   * data reconstructs the lost frame (`plcFrameSize` samples).
   * Never throws on bad data: a corrupt packet is concealed and counted in `errors`.
   */
  decode(packet: Uint8Array | null, fec?: boolean): Int16Array;
  /**
   * As `decode(packet)`, without the copy: the samples are a view of the backend's output
   * buffer, overwritten by the next decode of ANY decoder. For a caller that uses them at
   * once (the mixer converts each frame to float straight away).
   */
  decodeView(packet: Uint8Array | null): Int16Array;
  /** Number of packets that could not be decoded (and were concealed instead). */
  readonly errors: number;
  /** Message of the last decode error, or null. */
  readonly lastError: string | null;
  /** Frees the native state; idempotent. */
  close(): void;
}

/** A libopus error code with its message (`opus_strerror`). */
export class OpusError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
    this.name = "OpusError";
  }
}

export interface OpusBackendInfo {
  name: OpusBackendName;
  /** Why this backend was chosen. */
  reason: string;
  /** e.g. "libopus 1.3.1" (ffi) or "libopus (npm:@evan/opus@1.0.3 wasm)". */
  version: string;
}

// ---------------------------------------------------------------------------
// Constants from opus_defines.h

const OPUS_APPLICATION: Record<OpusApplication, number> = {
  voip: 2048,
  audio: 2049,
  restricted_lowdelay: 2051,
};
const OPUS_SET_BITRATE_REQUEST = 4002;
const OPUS_SET_COMPLEXITY_REQUEST = 4010;
const OPUS_SET_INBAND_FEC_REQUEST = 4012;
const OPUS_SET_PACKET_LOSS_PERC_REQUEST = 4014;
const OPUS_SET_DTX_REQUEST = 4016;
const OPUS_AUTO = -1000;
const OPUS_BITRATE_MAX = -1;

const OPUS_ERROR_NAMES: Record<number, string> = {
  [-1]: "invalid argument",
  [-2]: "buffer too small",
  [-3]: "internal error",
  [-4]: "corrupted stream",
  [-5]: "request not implemented",
  [-6]: "invalid state",
  [-7]: "memory allocation failed",
};

/** Largest packet `encode` may produce (libopus' recommended max_data_bytes). */
export const OPUS_MAX_ENCODED_BYTES = 4000;
/** Packets larger than this are rejected as corrupt by `decode` (an Opus packet of
 * 120 ms holds at most 6 frames of 1275 bytes). */
export const OPUS_MAX_PACKET_BYTES = 8192;
export { opusPacketSamples } from "./opus_toc.ts";

/** Debian/Ubuntu location of libopus (package `libopus0`). */
export const LIBOPUS_DEBIAN_PATH = Deno.build.arch === "aarch64"
  ? "/usr/lib/aarch64-linux-gnu/libopus.so.0"
  : "/usr/lib/x86_64-linux-gnu/libopus.so.0";
const BACKEND_ENV = "MEET_OPUS_BACKEND";
const LIBPATH_ENV = "MEET_LIBOPUS_PATH";
const VALID_RATES = [8000, 12000, 16000, 24000, 48000];

// ---------------------------------------------------------------------------
// Backend interface (raw libopus calls with a pointer-or-handle state)

interface RawCodec<H> {
  readonly name: OpusBackendName;
  readonly version: string;
  strerror(code: number): string;
  encoderCreate(rate: number, channels: number, application: number): H;
  encoderCtl(h: H, request: number, value: number): number;
  /** Returns bytes written (>0) or a negative error code; then readEncoded(n). */
  encode(h: H, pcm: Int16Array, frameSize: number): number;
  /** A new copy of the first `bytes` bytes of the last encoded packet. */
  readEncoded(bytes: number): Uint8Array;
  encoderDestroy(h: H): void;
  decoderCreate(rate: number, channels: number): H;
  /** Returns samples per channel (>0) or a negative error code; then readDecoded(). */
  decode(h: H, packet: Uint8Array | null, maxFrameSize: number, fec: boolean): number;
  /** A new copy of the first `samples` (interleaved) samples of the last decode. */
  readDecoded(samples: number): Int16Array;
  /** The same samples as a view of the output buffer, valid until the next decode. */
  viewDecoded(samples: number): Int16Array;
  decoderDestroy(h: H): void;
}

function errorText(strerror: string, code: number): string {
  return `${strerror || OPUS_ERROR_NAMES[code] || "unknown error"} (${code})`;
}

// ---------------------------------------------------------------------------
// FFI backend: system libopus through Deno.dlopen

const FFI_SYMBOLS = {
  opus_get_version_string: { parameters: [], result: "pointer" },
  opus_strerror: { parameters: ["i32"], result: "pointer" },
  opus_encoder_create: { parameters: ["i32", "i32", "i32", "buffer"], result: "pointer" },
  opus_encode: {
    parameters: ["pointer", "buffer", "i32", "buffer", "i32"],
    result: "i32",
  },
  // opus_encoder_ctl is variadic: (OpusEncoder*, int request, ...). Every setter we
  // use takes one opus_int32, passed in the third integer register exactly as a
  // fixed (pointer, i32, i32) call would on x86-64 SysV and AArch64 Linux (the
  // callee reads it with va_arg from the register save area; it reads no floats,
  // so %al is irrelevant).
  opus_encoder_ctl: { parameters: ["pointer", "i32", "i32"], result: "i32" },
  opus_encoder_destroy: { parameters: ["pointer"], result: "void" },
  opus_decoder_create: { parameters: ["i32", "i32", "buffer"], result: "pointer" },
  // data may be NULL (packet loss concealment).
  opus_decode: {
    parameters: ["pointer", "buffer", "i32", "buffer", "i32", "i32"],
    result: "i32",
  },
  opus_decoder_destroy: { parameters: ["pointer"], result: "void" },
} as const;

type FfiLib = Deno.DynamicLibrary<typeof FFI_SYMBOLS>;
type FfiHandle = Deno.PointerObject;

function libopusCandidates(): string[] {
  const out: string[] = [];
  const fromEnv = readEnv(LIBPATH_ENV);
  if (fromEnv) out.push(fromEnv);
  out.push(LIBOPUS_DEBIAN_PATH);
  return out;
}

function loadFfi(): RawCodec<FfiHandle> {
  const tried: string[] = [];
  let lib: FfiLib | undefined;
  for (const path of libopusCandidates()) {
    // Checked first so that a missing permission never prompts; a grant scoped to
    // the library (--allow-ffi=/usr/lib/x86_64-linux-gnu/libopus.so.0) is enough.
    if (Deno.permissions.querySync({ name: "ffi", path }).state !== "granted") {
      tried.push(`${path}: needs --allow-ffi (or --allow-ffi=${path})`);
      continue;
    }
    try {
      lib = Deno.dlopen(path, FFI_SYMBOLS);
      break;
    } catch (e) {
      tried.push(`${path}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (!lib) {
    throw new Error(
      `opus ffi backend: cannot load libopus. It needs --allow-ffi and the library ` +
        `("apt-get install -y libopus0" on Debian/Ubuntu; ${LIBPATH_ENV} overrides the ` +
        `path); or use the wasm backend. Tried: ${tried.join("; ")}`,
    );
  }
  const s = lib.symbols;
  // Reading a C string needs the unscoped --allow-ffi; with a grant scoped to the
  // library path it throws, and we do without the text.
  const cstr = (p: Deno.PointerValue) => {
    try {
      return p ? Deno.UnsafePointerView.getCString(p) : "";
    } catch {
      return "";
    }
  };
  const version = cstr(s.opus_get_version_string()) || "libopus (system)";
  const errBuf = new Int32Array(1);
  const encOut = new Uint8Array(OPUS_MAX_ENCODED_BYTES);
  const decOut = new Int16Array(5760 * 2);
  const created = (p: Deno.PointerValue, what: string): FfiHandle => {
    if (p === null || errBuf[0] !== 0) {
      const code = errBuf[0] || -7;
      throw new OpusError(code, `${what}: ${errorText(cstr(s.opus_strerror(code)), code)}`);
    }
    return p;
  };
  return {
    name: "ffi",
    version,
    strerror: (code) => cstr(s.opus_strerror(code)),
    encoderCreate(rate, channels, application) {
      errBuf[0] = 0;
      return created(
        s.opus_encoder_create(rate, channels, application, errBuf),
        "opus_encoder_create",
      );
    },
    encoderCtl: (h, request, value) => s.opus_encoder_ctl(h, request, value),
    encode: (h, pcm, frameSize) => s.opus_encode(h, pcm, frameSize, encOut, OPUS_MAX_ENCODED_BYTES),
    readEncoded: (bytes) => encOut.slice(0, bytes),
    encoderDestroy: (h) => s.opus_encoder_destroy(h),
    decoderCreate(rate, channels) {
      errBuf[0] = 0;
      return created(s.opus_decoder_create(rate, channels, errBuf), "opus_decoder_create");
    },
    decode: (h, packet, maxFrameSize, fec) =>
      s.opus_decode(
        h,
        packet,
        packet ? packet.length : 0,
        decOut,
        maxFrameSize,
        fec ? 1 : 0,
      ),
    readDecoded: (samples) => decOut.slice(0, samples),
    viewDecoded: (samples) => decOut.subarray(0, samples),
    decoderDestroy: (h) => s.opus_decoder_destroy(h),
  };
}

// ---------------------------------------------------------------------------
// WASM backend: libopus compiled to wasm, shipped in npm:@evan/opus

interface EvanOpusWasmExports {
  memory: WebAssembly.Memory;
  _initialize?: () => void;
  malloc(size: number): number;
  free(ptr: number): void;
  opus_strerror(code: number): number;
  opus_encoder_get_size(channels: number): number;
  opus_encoder_init(st: number, rate: number, channels: number, application: number): number;
  opus_encode(st: number, pcm: number, frameSize: number, data: number, maxBytes: number): number;
  opus_encoder_ctl_set(st: number, request: number, value: number): number;
  opus_decoder_get_size(channels: number): number;
  opus_decoder_init(st: number, rate: number, channels: number): number;
  opus_decode(
    st: number,
    data: number,
    len: number,
    pcm: number,
    frameSize: number,
    fec: number,
  ): number;
}

function loadWasm(): RawCodec<number> {
  const url = new URL(
    import.meta.resolve(`npm:@evan/opus@${evanOpusPackage.version}/wasm/simd.wasm`),
  );
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(url);
  } catch (e) {
    throw new Error(
      `opus wasm backend: cannot read ${url.href} (needs --allow-read and the npm ` +
        `package @evan/opus@1.0.3 installed): ${e instanceof Error ? e.message : e}`,
    );
  }
  const module = new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
  const noop = () => 0;
  let onGrow = () => {};
  const instance = new WebAssembly.Instance(module, {
    wasi_snapshot_preview1: {
      fd_seek: noop,
      fd_write: noop,
      fd_close: noop,
      // abort() inside libopus: unwind as a JS exception instead of carrying on.
      proc_exit: (code: number) => {
        throw new Error(`opus wasm backend: libopus aborted (exit ${code})`);
      },
    },
    env: { emscripten_notify_memory_growth: () => onGrow() },
  });
  const w = instance.exports as unknown as EvanOpusWasmExports;
  w._initialize?.();

  const maxSamples = 5760 * 2;
  const pcmPtr = w.malloc(maxSamples * 2);
  const pktPtr = w.malloc(Math.max(OPUS_MAX_PACKET_BYTES, OPUS_MAX_ENCODED_BYTES));
  if (!pcmPtr || !pktPtr) throw new Error("opus wasm backend: malloc failed");
  let u8 = new Uint8Array(w.memory.buffer);
  let i16 = new Int16Array(w.memory.buffer);
  // Views over wasm memory go stale when it grows: refresh lazily, and also on the
  // growth notification emscripten sends.
  const heap = () => {
    if (u8.buffer !== w.memory.buffer) {
      u8 = new Uint8Array(w.memory.buffer);
      i16 = new Int16Array(w.memory.buffer);
    }
  };
  onGrow = heap;
  const strerror = (code: number) => {
    heap();
    const p = w.opus_strerror(code);
    let end = p;
    while (end < u8.length && u8[end] !== 0) end++;
    return new TextDecoder().decode(u8.subarray(p, end));
  };
  const alloc = (size: number, what: string) => {
    const p = w.malloc(size);
    if (!p) throw new OpusError(-7, `${what}: out of wasm memory`);
    return p;
  };
  return {
    name: "wasm",
    version: `libopus (npm:@evan/opus@${evanOpusPackage.version} wasm)`,
    strerror,
    encoderCreate(rate, channels, application) {
      const st = alloc(w.opus_encoder_get_size(channels), "opus_encoder_init");
      const rc = w.opus_encoder_init(st, rate, channels, application);
      if (rc !== 0) {
        w.free(st);
        throw new OpusError(rc, `opus_encoder_init: ${errorText(strerror(rc), rc)}`);
      }
      return st;
    },
    encoderCtl: (h, request, value) => w.opus_encoder_ctl_set(h, request, value),
    encode(h, pcm, frameSize) {
      heap();
      i16.set(pcm, pcmPtr >> 1);
      return w.opus_encode(h, pcmPtr, frameSize, pktPtr, OPUS_MAX_ENCODED_BYTES);
    },
    readEncoded(bytes) {
      heap();
      return u8.slice(pktPtr, pktPtr + bytes);
    },
    encoderDestroy: (h) => w.free(h),
    decoderCreate(rate, channels) {
      const st = alloc(w.opus_decoder_get_size(channels), "opus_decoder_init");
      const rc = w.opus_decoder_init(st, rate, channels);
      if (rc !== 0) {
        w.free(st);
        throw new OpusError(rc, `opus_decoder_init: ${errorText(strerror(rc), rc)}`);
      }
      return st;
    },
    decode(h, packet, maxFrameSize, fec) {
      heap();
      let data = 0;
      let len = 0;
      if (packet && packet.length > 0) {
        u8.set(packet, pktPtr);
        data = pktPtr;
        len = packet.length;
      }
      return w.opus_decode(h, data, len, pcmPtr, maxFrameSize, fec ? 1 : 0);
    },
    readDecoded(samples) {
      heap();
      return i16.slice(pcmPtr >> 1, (pcmPtr >> 1) + samples);
    },
    viewDecoded(samples) {
      heap();
      return i16.subarray(pcmPtr >> 1, (pcmPtr >> 1) + samples);
    },
    decoderDestroy: (h) => w.free(h),
  };
}

// ---------------------------------------------------------------------------
// Backend selection

function readEnv(name: string): string | undefined {
  try {
    if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") {
      return undefined;
    }
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
}

// deno-lint-ignore no-explicit-any
type AnyRaw = RawCodec<any>;
const loaded: Partial<Record<OpusBackendName, AnyRaw>> = {};
let defaultChoice: OpusBackendInfo | undefined;

function getRaw(name: OpusBackendName): AnyRaw {
  return (loaded[name] ??= name === "ffi" ? loadFfi() : loadWasm());
}

function chooseDefault(): OpusBackendInfo {
  if (defaultChoice) return defaultChoice;
  const env = readEnv(BACKEND_ENV)?.toLowerCase();
  if (env !== undefined && env !== "ffi" && env !== "wasm") {
    throw new Error(`${BACKEND_ENV} must be "ffi" or "wasm", got "${env}"`);
  }
  if (env !== undefined) {
    // Asked for explicitly: if it fails to load, it throws here, loudly.
    const raw = getRaw(env);
    return (defaultChoice = { name: env, reason: `${BACKEND_ENV}=${env}`, version: raw.version });
  }
  // Automatic: the system libopus is ~25% cheaper for the mixer (docs/opus-choice.md), so it
  // is used where it can load; else the wasm build, which needs nothing from the host.
  try {
    const raw = getRaw("ffi");
    return (defaultChoice = {
      name: "ffi",
      reason: "automatic: libopus loads here (the faster backend)",
      version: raw.version,
    });
  } catch (err) {
    const raw = getRaw("wasm");
    const why = (err as Error).message.split("\n")[0];
    return (defaultChoice = {
      name: "wasm",
      reason: `automatic: libopus does not load here (${why})`,
      version: raw.version,
    });
  }
}

function resolveBackend(requested: OpusBackendName | undefined): AnyRaw {
  if (requested === "ffi" || requested === "wasm") return getRaw(requested);
  if (requested !== undefined) throw new TypeError(`unknown opus backend "${requested}"`);
  return getRaw(chooseDefault().name);
}

/**
 * The backend used when none is given, and why. Loads it (throws if it cannot load).
 *
 * @example
 * ```ts
 * const info = opusBackendInfo();
 * console.log(`opus: ${info.name} (${info.version}; ${info.reason})`);
 * ```
 */
export function opusBackendInfo(): OpusBackendInfo {
  return { ...chooseDefault() };
}

/** Whether a backend can be loaded here (used by tests and the benchmark). */
export function isOpusBackendAvailable(name: OpusBackendName): boolean {
  try {
    getRaw(name);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------
// Public encoder / decoder

function checkRate(rate: number): OpusSampleRate {
  if (!VALID_RATES.includes(rate)) {
    throw new RangeError(`opus: sampleRate must be one of ${VALID_RATES.join(", ")}`);
  }
  return rate as OpusSampleRate;
}

function checkChannels(channels: number): OpusChannels {
  if (channels !== 1 && channels !== 2) throw new RangeError("opus: channels must be 1 or 2");
  return channels;
}

function isValidFrameSize(samples: number, rate: number): boolean {
  // 2.5, 5, 10, 20, 40, 60 ms (libopus 1.3 also takes 80, 100, 120 ms).
  const unit = rate / 400; // 2.5 ms
  const k = samples / unit;
  return [1, 2, 4, 8, 16, 24, 32, 40, 48].includes(k);
}

// Frees the libopus state of encoders/decoders that were dropped without close().
// The cleanup closure is built at module level so that it captures only the backend
// and the state handle, never the encoder/decoder object itself.
const leakRegistry = new FinalizationRegistry<() => void>((free) => free());
function freeLater(raw: AnyRaw, handle: unknown, kind: "encoder" | "decoder"): () => void {
  return kind === "encoder" ? () => raw.encoderDestroy(handle) : () => raw.decoderDestroy(handle);
}

/**
 * Creates an Opus encoder. Throws if the options are invalid or the backend cannot load.
 *
 * @example
 * ```ts
 * const enc = createOpusEncoder({ bitrate: 32000, application: "voip" });
 * const packet = enc.encode(new Int16Array(960)); // 20 ms, 48 kHz mono
 * enc.close();
 * ```
 */
export function createOpusEncoder(options: OpusEncoderOptions = {}): OpusEncoder {
  const sampleRate = checkRate(options.sampleRate ?? 48000);
  const channels = checkChannels(options.channels ?? 1);
  const application = OPUS_APPLICATION[options.application ?? "voip"];
  if (application === undefined) {
    throw new RangeError(`opus: unknown application "${options.application}"`);
  }
  const raw = resolveBackend(options.backend);
  let handle: unknown = raw.encoderCreate(sampleRate, channels, application);
  const token = {};

  const ctl = (request: number, value: number, what: string) => {
    if (handle === null) throw new Error("opus encoder is closed");
    const rc = raw.encoderCtl(handle, request, value);
    if (rc !== 0) {
      throw new OpusError(rc, `opus encoder ${what}=${value}: ${errorText(raw.strerror(rc), rc)}`);
    }
  };
  const setBitrate = (bps: number) => {
    if (
      !Number.isInteger(bps) ||
      (bps !== OPUS_AUTO && bps !== OPUS_BITRATE_MAX && (bps < 500 || bps > 512000))
    ) {
      throw new RangeError(`opus: bitrate must be an integer in 500..512000, got ${bps}`);
    }
    ctl(OPUS_SET_BITRATE_REQUEST, bps, "bitrate");
  };
  try {
    if (options.bitrate !== undefined) setBitrate(options.bitrate);
    if (options.complexity !== undefined) {
      ctl(OPUS_SET_COMPLEXITY_REQUEST, options.complexity, "complexity");
    }
    if (options.inbandFec !== undefined) {
      ctl(OPUS_SET_INBAND_FEC_REQUEST, options.inbandFec ? 1 : 0, "inbandFec");
    }
    if (options.packetLossPercent !== undefined) {
      ctl(OPUS_SET_PACKET_LOSS_PERC_REQUEST, options.packetLossPercent, "packetLossPercent");
    }
    if (options.dtx !== undefined) ctl(OPUS_SET_DTX_REQUEST, options.dtx ? 1 : 0, "dtx");
  } catch (e) {
    raw.encoderDestroy(handle);
    throw e;
  }

  const encoder: OpusEncoder = {
    backend: raw.name,
    sampleRate,
    channels,
    encode(pcm: Int16Array): Uint8Array {
      if (handle === null) throw new Error("opus encoder is closed");
      if (!(pcm instanceof Int16Array)) throw new TypeError("opus encode: pcm must be Int16Array");
      const frameSize = pcm.length / channels;
      if (!Number.isInteger(frameSize) || !isValidFrameSize(frameSize, sampleRate)) {
        throw new RangeError(
          `opus encode: ${pcm.length} samples is not a valid frame for ${channels} ` +
            `channel(s) at ${sampleRate} Hz (use 2.5/5/10/20/40/60 ms, e.g. ` +
            `${(sampleRate / 50) * channels} for 20 ms)`,
        );
      }
      const n = raw.encode(handle, pcm, frameSize);
      if (n < 0) throw new OpusError(n, `opus_encode: ${errorText(raw.strerror(n), n)}`);
      return raw.readEncoded(n);
    },
    setBitrate,
    close() {
      if (handle === null) return;
      leakRegistry.unregister(token);
      raw.encoderDestroy(handle);
      handle = null;
    },
  };
  leakRegistry.register(encoder, freeLater(raw, handle, "encoder"), token);
  return encoder;
}

/**
 * Creates an Opus decoder. Throws if the options are invalid or the backend cannot load.
 *
 * @example
 * ```ts
 * const enc = createOpusEncoder();
 * const packet = enc.encode(new Int16Array(960)); // 20 ms of silence
 * enc.close();
 * const dec = createOpusDecoder();
 * const pcm = dec.decode(packet); // Int16Array(960) for a 20 ms packet
 * const concealed = dec.decode(null); // packet lost: 960 samples of PLC
 * dec.close();
 * ```
 */
export function createOpusDecoder(options: OpusDecoderOptions = {}): OpusDecoder {
  const sampleRate = checkRate(options.sampleRate ?? 48000);
  const channels = checkChannels(options.channels ?? 1);
  const plcFrameSize = options.plcFrameSize ?? sampleRate / 50;
  if (!isValidFrameSize(plcFrameSize, sampleRate)) {
    throw new RangeError(`opus: plcFrameSize ${plcFrameSize} is not a multiple of 2.5 ms`);
  }
  const maxFrameSize = (sampleRate * 120) / 1000;
  const raw = resolveBackend(options.backend);
  let handle: unknown = raw.decoderCreate(sampleRate, channels);
  const token = {};
  let errors = 0;
  let lastError: string | null = null;

  const conceal = (read: (samples: number) => Int16Array): Int16Array => {
    try {
      const n = raw.decode(handle, null, plcFrameSize, false);
      if (n > 0) return read(n * channels);
    } catch {
      // fall through to silence
    }
    return new Int16Array(plcFrameSize * channels); // PLC itself failed: silence
  };

  const decode = (
    packet: Uint8Array | null,
    fec: boolean,
    read: (samples: number) => Int16Array,
  ): Int16Array => {
    if (handle === null) throw new Error("opus decoder is closed");
    if (packet === null || packet === undefined || packet.length === 0) return conceal(read);
    if (!(packet instanceof Uint8Array)) {
      errors++;
      lastError = "packet is not a Uint8Array";
      return conceal(read);
    }
    if (packet.length > OPUS_MAX_PACKET_BYTES) {
      errors++;
      lastError = `packet of ${packet.length} bytes exceeds ${OPUS_MAX_PACKET_BYTES}`;
      return conceal(read);
    }
    let n: number;
    try {
      n = raw.decode(handle, packet, fec ? plcFrameSize : maxFrameSize, fec);
    } catch (e) {
      // A wasm trap (never seen; libopus is fuzzed) must not take the mixer down.
      errors++;
      lastError = `opus_decode threw: ${e instanceof Error ? e.message : String(e)}`;
      return conceal(read);
    }
    if (n < 0) {
      errors++;
      lastError = `opus_decode: ${errorText(raw.strerror(n), n)}`;
      return conceal(read);
    }
    return read(n * channels);
  };

  const decoder: OpusDecoder = {
    backend: raw.name,
    sampleRate,
    channels,
    get errors() {
      return errors;
    },
    get lastError() {
      return lastError;
    },
    decode: (packet: Uint8Array | null, fec = false) => decode(packet, fec, raw.readDecoded),
    decodeView: (packet: Uint8Array | null) => decode(packet, false, raw.viewDecoded),
    close() {
      if (handle === null) return;
      leakRegistry.unregister(token);
      raw.decoderDestroy(handle);
      handle = null;
    },
  };
  leakRegistry.register(decoder, freeLater(raw, handle, "decoder"), token);
  return decoder;
}
