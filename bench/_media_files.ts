/**
 * Media files the UDP benchmarks send, made once per run with ffmpeg (Debian's package) in a
 * temporary directory: a VP8 IVF clip (a busy test picture, 640x360, 30 fps, ~1 Mb/s, real-time
 * libvpx as a camera encoder would run, a keyframe every 5 s) and Opus tones in Ogg (48 kHz
 * mono, 32 kb/s, 20 ms frames, as the browser and the terminal client send).
 *
 * @example
 * ```ts
 * const dir = await Deno.makeTempDir();
 * const clip = await makeVp8Clip(dir);            // dir/clip.ivf
 * const tones = await makeOpusTones(dir, [440]);  // [dir/tone-440.opus]
 * ```
 * @module
 */

async function ffmpeg(args: string[]): Promise<void> {
  const out = await new Deno.Command("ffmpeg", {
    args: ["-hide_banner", "-loglevel", "error", "-nostdin", "-y", ...args],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  if (!out.success) {
    throw new Error(`ffmpeg ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** Video the benchmark's clip is made of. */
export const CLIP = { width: 640, height: 360, fps: 30, kbps: 1000, seconds: 10, gop: 150 };

/** Encodes the VP8 clip into `dir/clip.ivf`; resolves with its path. */
export async function makeVp8Clip(dir: string): Promise<string> {
  const path = `${dir}/clip.ivf`;
  const rate = `${CLIP.kbps}k`;
  await ffmpeg([
    "-f",
    "lavfi",
    "-i",
    `testsrc2=size=${CLIP.width}x${CLIP.height}:rate=${CLIP.fps}`,
    "-t",
    String(CLIP.seconds),
    "-c:v",
    "libvpx",
    "-b:v",
    rate,
    "-minrate",
    rate,
    "-maxrate",
    rate,
    "-deadline",
    "realtime",
    "-cpu-used",
    "8",
    "-g",
    String(CLIP.gop),
    "-f",
    "ivf",
    path,
  ]);
  return path;
}

/** Encodes a 10 s Opus tone (Ogg) per frequency into `dir/tone-<Hz>.opus`. */
export async function makeOpusTones(dir: string, frequencies: number[]): Promise<string[]> {
  const paths: string[] = [];
  for (const hz of frequencies) {
    const path = `${dir}/tone-${hz}.opus`;
    await ffmpeg([
      "-f",
      "lavfi",
      "-i",
      `sine=frequency=${hz}:sample_rate=48000`,
      "-t",
      "10",
      "-ac",
      "1",
      "-c:a",
      "libopus",
      "-b:a",
      "32k",
      "-application",
      "voip",
      "-frame_duration",
      "20",
      path,
    ]);
    paths.push(path);
  }
  return paths;
}

/** Whether an ffmpeg binary runs here. */
export async function haveFfmpeg(): Promise<boolean> {
  try {
    return (await new Deno.Command("ffmpeg", { args: ["-version"], stdout: "null", stderr: "null" })
      .output()).success;
  } catch {
    return false;
  }
}
