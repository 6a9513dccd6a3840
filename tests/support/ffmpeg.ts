/**
 * Real ffmpeg as a peer: free UDP ports, ffmpeg processes that end when disposed (by their
 * own PID), and reading the WAV files ffmpeg writes.
 *
 * @example
 * ```ts ignore
 * const port = freeUdpPort();
 * await using sender = ffmpeg(["-re", "-f", "lavfi", "-i", "sine=frequency=440", ...]);
 * ```
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";

/** A port that was free a moment ago (bound and released). */
export function freeUdpPort(): number {
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const port = (socket.addr as Deno.NetAddr).port;
  socket.close();
  return port;
}

/** A running ffmpeg; disposing it kills it (SIGKILL, by PID) and waits for it. */
export interface FfmpegProcess extends AsyncDisposable {
  child: Deno.ChildProcess;
  /** Resolves with the exit code and everything ffmpeg wrote to stderr. */
  done: Promise<{ code: number; log: string }>;
}

/** Starts `ffmpeg -hide_banner -loglevel warning -nostdin ...args`. */
export function ffmpeg(args: string[]): FfmpegProcess {
  const child = new Deno.Command("ffmpeg", {
    args: ["-hide_banner", "-loglevel", "warning", "-nostdin", ...args],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const done = (async () => {
    const log = await new Response(child.stderr).text();
    const { code } = await child.status;
    return { code, log };
  })();
  return {
    child,
    done,
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGKILL");
      } catch { /* already exited */ }
      await done;
    },
  };
}

/** Where a plain-RTP sender sends from and to, both on 127.0.0.1. */
export interface RtpRoute {
  /** The server's UDP port. */
  serverPort: number;
  /** The port the sender sends from (the one registered with the server). */
  localPort: number;
}

function rtpOutput(payloadType: number, { serverPort, localPort }: RtpRoute): string[] {
  return [
    "-payload_type",
    String(payloadType),
    "-f",
    "rtp",
    `udp://127.0.0.1:${serverPort}?localport=${localPort}&reuse=1`,
  ];
}

/**
 * ffmpeg arguments that send a sine tone live as Opus RTP (48 kHz mono, 32 kb/s, 20 ms frames).
 *
 * @example
 * ```ts
 * async function tone(serverPort: number, localPort: number) {
 *   await using sender = ffmpeg(
 *     opusToneRtp({ hz: 440, seconds: 15, payloadType: 111, serverPort, localPort }),
 *   );
 *   await sender.done;
 * }
 * ```
 */
export function opusToneRtp(
  { hz, seconds, payloadType, ...route }:
    & { hz: number; seconds: number; payloadType: number }
    & RtpRoute,
): string[] {
  return [
    "-re",
    "-f",
    "lavfi",
    "-i",
    `sine=frequency=${hz}:sample_rate=48000`,
    "-t",
    String(seconds),
    "-ac",
    "1",
    "-c:a",
    "libopus",
    "-b:a",
    "32k",
    "-frame_duration",
    "20",
    ...rtpOutput(payloadType, route),
  ];
}

/**
 * ffmpeg arguments that send a 320x240, 15 fps test pattern live as VP8 RTP (300 kb/s, a
 * keyframe every `keyframeEvery` frames).
 *
 * @example
 * ```ts
 * async function pattern(serverPort: number, localPort: number) {
 *   await using sender = ffmpeg(
 *     vp8PatternRtp({ seconds: 20, keyframeEvery: 30, payloadType: 100, serverPort, localPort }),
 *   );
 *   await sender.done;
 * }
 * ```
 */
export function vp8PatternRtp(
  { seconds, keyframeEvery, payloadType, ...route }: {
    seconds: number;
    keyframeEvery: number;
    payloadType: number;
  } & RtpRoute,
): string[] {
  return [
    "-re",
    "-f",
    "lavfi",
    "-i",
    "testsrc2=size=320x240:rate=15",
    "-t",
    String(seconds),
    "-c:v",
    "libvpx",
    "-deadline",
    "realtime",
    "-b:v",
    "300k",
    "-g",
    String(keyframeEvery),
    ...rtpOutput(payloadType, route),
  ];
}

/**
 * Files for a page's fake camera and microphone: a small busy picture (320x240, 15 fps, 2 s,
 * looped by Chromium) and an 880 Hz tone (3 s, loud), made in `dir`. Returns the Chromium
 * flags that use them.
 *
 * The tone comes in bursts, 300 ms on and 200 ms off, as speech has pauses: the page's
 * microphone goes through the browser's noise suppression, which takes a steady tone for
 * noise. A steady one reached the server 12-20 dB down after 3 s (-31 dBFS against -13 for
 * the bursts), and in some runs too faint for the tests to hear.
 *
 * @example
 * ```ts
 * import { launchBrowser } from "./browser.ts";
 *
 * async function withFakeCamera(dir: string) {
 *   await using browser = await launchBrowser(await fakeCaptureFlags(dir));
 *   return browser.version();
 * }
 * ```
 */
export async function fakeCaptureFlags(dir: string): Promise<string[]> {
  const camera = join(dir, "camera.y4m");
  const microphone = join(dir, "microphone.wav");
  const inputs: Array<[string, string[]]> = [
    [camera, ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15", "-t", "2"]],
    [microphone, ["-f", "lavfi", "-i", "sine=frequency=880:sample_rate=48000", "-t", "3"]],
  ];
  for (const [path, args] of inputs) {
    const extra = path === camera
      ? ["-pix_fmt", "yuv420p"]
      : ["-af", "volume=3,volume='if(lt(mod(t\\,0.5)\\,0.3)\\,1\\,0)':eval=frame"];
    await using proc = ffmpeg([...args, ...extra, "-y", path]);
    const { code, log } = await proc.done;
    assert.equal(code, 0, log);
  }
  return [
    `--use-file-for-fake-video-capture=${camera}`,
    `--use-file-for-fake-audio-capture=${microphone}`,
  ];
}

/** Mono samples of a 16-bit PCM WAV file (first channel), as floats, and its rate. */
export async function readWav(
  path: string,
): Promise<{ samples: Float32Array; sampleRate: number }> {
  const bytes = await Deno.readFile(path);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 12;
  let sampleRate = 0, channels = 1, bits = 16;
  while (offset + 8 <= bytes.length) {
    const id = new TextDecoder().decode(bytes.subarray(offset, offset + 4));
    const size = view.getUint32(offset + 4, true);
    if (id === "fmt ") {
      channels = view.getUint16(offset + 10, true);
      sampleRate = view.getUint32(offset + 12, true);
      bits = view.getUint16(offset + 22, true);
    } else if (id === "data") {
      if (bits !== 16) throw new Error(`expected 16-bit PCM, got ${bits}`);
      const frames = Math.floor(Math.min(size, bytes.length - offset - 8) / (2 * channels));
      const samples = new Float32Array(frames);
      for (let i = 0; i < frames; i++) {
        samples[i] = view.getInt16(offset + 8 + i * 2 * channels, true) / 32768;
      }
      return { samples, sampleRate };
    }
    offset += 8 + size + (size & 1);
  }
  throw new Error(`${path}: no data chunk`);
}

/**
 * What ffprobe says of a media file: its streams as `type:codec`, sorted, and the container's
 * duration in seconds (NaN when it gives none).
 *
 * @example
 * ```ts ignore
 * const { streams, duration } = await probeMedia("rec.webm"); // ["audio:opus", ...], 6.02
 * ```
 */
export async function probeMedia(path: string): Promise<{ streams: string[]; duration: number }> {
  const out = await new Deno.Command("ffprobe", {
    args: [
      "-v",
      "error",
      "-of",
      "json",
      "-show_entries",
      "format=duration:stream=codec_type,codec_name",
      path,
    ],
    stdout: "piped",
  }).output();
  const json = JSON.parse(new TextDecoder().decode(out.stdout));
  return {
    streams: json.streams.map((s: { codec_type: string; codec_name?: string }) =>
      `${s.codec_type}:${s.codec_name ?? "?"}`
    ).sort(),
    duration: Number(json.format?.duration ?? NaN),
  };
}

/**
 * A media file's audio as a 48 kHz mono WAV beside it (`<path>.wav`); returns its path.
 *
 * @example
 * ```ts ignore
 * const wav = await audioAsWav("rec.webm"); // then readWav(wav) or tonePowers(wav, [440])
 * ```
 */
export async function audioAsWav(path: string): Promise<string> {
  const wav = `${path}.wav`;
  const out = await new Deno.Command("ffmpeg", {
    args: [
      "-v",
      "error",
      "-nostdin",
      "-y",
      "-i",
      path,
      "-map",
      "0:a",
      "-ac",
      "1",
      "-ar",
      "48000",
      wav,
    ],
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return wav;
}
