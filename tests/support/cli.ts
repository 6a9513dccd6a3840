/**
 * The terminal client in tests: `cli/main.ts` as a real subprocess (its stdout lines as they
 * come, stdin to type into), a VP8 clip made by ffmpeg, and checks of what it records: the
 * power of tones in its WAV files (also while they are being written), frames in its IVF
 * files (ffprobe, ffmpeg decoding).
 *
 * @example
 * ```ts
 * import { waitFor } from "./wait.ts";
 *
 * async function createMeeting(serverUrl: string) {
 *   await using ann = cli(["--server", serverUrl, "--create", "M", "--json"]);
 *   await waitFor(() => ann.events().some((e) => e.event === "joined"));
 * }
 * ```
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { parseIvf } from "../../cli/ivf.ts";
import { readLines } from "../../cli/repl.ts";
import { goertzelPower } from "../../media/mix.ts";
import { ffmpeg, readWav } from "./ffmpeg.ts";
import { waitFor } from "./wait.ts";

/** Tone power (Goertzel, over 1 s) above which a tone is heard. */
export const HEARD = 0.005;
/** Tone power below which a tone is absent. */
export const ABSENT = 0.0005;
const ROOT = new URL("../..", import.meta.url).pathname;

let clipPromise: Promise<string> | undefined;
/**
 * A 2 s, 15 fps, 320x240 VP8 IVF clip with a keyframe every 15 frames. Made once per machine
 * in the temp dir (written aside, then renamed into place, so parallel test files share it)
 * rather than once per test file.
 */
export function clip(): Promise<string> {
  return clipPromise ??= (async () => {
    const path = join(Deno.env.get("TMPDIR") ?? "/tmp", "meet-test-clip-320x240-v1.ivf");
    try {
      if ((await Deno.stat(path)).size > 0) return path;
    } catch { /* not made yet */ }
    const dir = await Deno.makeTempDir({ prefix: "meet-cli-clip-" });
    try {
      const made = join(dir, "clip.ivf");
      await using proc = ffmpeg([
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=15",
        "-t",
        "2",
        "-c:v",
        "libvpx",
        "-b:v",
        "200k",
        "-g",
        "15",
        "-y",
        made,
      ]);
      const { code, log } = await proc.done;
      assert.equal(code, 0, log);
      await Deno.rename(made, path);
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
    return path;
  })();
}

/** A running `cli/main.ts`: its stdout lines as they come, stdin to write commands to. */
export interface CliProcess extends AsyncDisposable {
  lines: string[];
  stderr: Promise<string>;
  status: Promise<Deno.CommandStatus>;
  /** Parsed `--json` lines. */
  events(): Array<Record<string, unknown>>;
  write(text: string): Promise<void>;
  closeStdin(): Promise<void>;
}

export function cli(args: string[], { stdin = false } = {}): CliProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "cli/main.ts", ...args],
    cwd: ROOT,
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const lines: string[] = [];
  const reading = (async () => {
    for await (const line of readLines(child.stdout)) lines.push(line);
  })();
  const stderr = new Response(child.stderr).text();
  const writer = stdin ? child.stdin.getWriter() : null;
  const status = child.status;
  return {
    lines,
    stderr,
    status,
    events: () =>
      lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>),
    write: async (text) => {
      await writer!.write(new TextEncoder().encode(text));
    },
    closeStdin: async () => {
      await writer?.close().catch(() => {});
    },
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGKILL");
      } catch { /* exited */ }
      await writer?.close().catch(() => {});
      await status;
      await reading.catch(() => {});
      await stderr;
    },
  };
}

/**
 * The strongest power of each frequency over any 1 s window (hops of 100 ms) of a WAV file.
 * With `tailSeconds`, only the end of a file still being written is read (raw 16-bit mono
 * samples after the client's 44-byte header, whose sizes say 0 until it is closed).
 */
export async function tonePowers(
  path: string,
  freqs: number[],
  { tailSeconds }: { tailSeconds?: number } = {},
): Promise<Record<number, number>> {
  let samples: Float32Array;
  const sampleRate = 48_000;
  if (tailSeconds === undefined) {
    const wav = await readWav(path);
    assert.equal(wav.sampleRate, sampleRate);
    samples = wav.samples;
  } else {
    using file = await Deno.open(path);
    const size = (await file.stat()).size;
    const from = 44 + Math.max(0, Math.floor((size - 44) / 2) - tailSeconds * sampleRate) * 2;
    await file.seek(from, Deno.SeekMode.Start);
    const bytes = new Uint8Array(Math.max(0, size - from));
    let read = 0;
    for (let i = 0; i < 1000 && read < bytes.length; i++) {
      const n = await file.read(bytes.subarray(read));
      if (n === null) break;
      read += n;
    }
    const view = new DataView(bytes.buffer, 0, read - (read % 2));
    samples = Float32Array.from(
      { length: view.byteLength / 2 },
      (_, i) => view.getInt16(i * 2, true) / 32768,
    );
  }
  const powers: Record<number, number> = {};
  for (const freq of freqs) {
    let best = 0;
    for (let start = 0; start + sampleRate <= samples.length; start += sampleRate / 10) {
      best = Math.max(
        best,
        goertzelPower(samples.subarray(start, start + sampleRate), sampleRate, freq),
      );
    }
    powers[freq] = best;
  }
  return powers;
}

/** Whether the last seconds of a recording hold a whole second of each of these tones. */
export async function hears(path: string, freqs: number[]): Promise<boolean> {
  try {
    const powers = await tonePowers(path, freqs, { tailSeconds: 3 });
    return freqs.every((freq) => powers[freq] > HEARD);
  } catch {
    return false; // not there yet
  }
}

export async function ffprobeFrames(path: string): Promise<{ frames: number; width: number }> {
  const out = await new Deno.Command("ffprobe", {
    args: [
      "-v",
      "error",
      "-count_frames",
      "-select_streams",
      "v:0",
      "-show_entries",
      "stream=codec_name,width,nb_read_frames",
      "-of",
      "json",
      path,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const stream = JSON.parse(new TextDecoder().decode(out.stdout)).streams[0];
  assert.equal(stream.codec_name, "vp8");
  return { frames: Number(stream.nb_read_frames), width: stream.width };
}

export async function decodesCleanly(path: string): Promise<void> {
  const out = await new Deno.Command("ffmpeg", {
    // Frames keep their own timestamps and time base (the null muxer would otherwise warn
    // about two frames closer than the frame rate it guessed).
    args: [
      "-hide_banner",
      "-v",
      "error",
      "-nostdin",
      "-i",
      path,
      "-fps_mode",
      "passthrough",
      "-enc_time_base",
      "-1",
      "-f",
      "null",
      "-",
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  const log = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, log);
  assert.equal(log.trim(), "", `ffmpeg reports decode errors in ${path}:\n${log}`);
}

/**
 * Wraps a wait so that a timeout says why: each client's counters (`/stats`), the server's
 * UDP counters, and the tones each recording holds so far.
 */
export function explainer(
  clients: Record<string, CliProcess>,
  dir: string,
  udpCounters: unknown,
): <T>(waiting: Promise<T>) => Promise<T> {
  return async (waiting) => {
    try {
      return await waiting;
    } catch (err) {
      const last = (proc: CliProcess) => proc.events().findLast((e) => e.event === "stats");
      for (const proc of Object.values(clients)) await proc.write("/stats\n").catch(() => {});
      await waitFor(() => Object.values(clients).every(last), { what: "stats", timeoutMs: 3_000 })
        .catch(() => {});
      const lines = [String(err)];
      for (const [who, proc] of Object.entries(clients)) {
        const tones = await tonePowers(join(dir, `${who}.wav`), [440, 660, 880], {
          tailSeconds: 5,
        }).catch((e) => String(e));
        lines.push(`${who}: tones ${JSON.stringify(tones)}, ${JSON.stringify(last(proc))}`);
      }
      lines.push(`server UDP: ${JSON.stringify(udpCounters)}`);
      throw new Error(lines.join("\n"));
    }
  };
}

/** Size of a file in bytes (0 when it is not there yet). */
export async function fileSize(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).size;
  } catch {
    return 0;
  }
}

/**
 * The strongest power of each frequency over any 1 s window of what a WAV file being written
 * by the client holds from byte `from` on (raw 16-bit mono 48 kHz after the 44-byte header).
 */
export async function tonePowersFrom(
  path: string,
  from: number,
  freqs: number[],
): Promise<Record<number, number>> {
  const bytes = await Deno.readFile(path);
  const start = Math.max(44, from - (from % 2));
  const view = new DataView(bytes.buffer, start, Math.max(0, bytes.length - start) & ~1);
  const samples = Float32Array.from(
    { length: view.byteLength / 2 },
    (_, i) => view.getInt16(i * 2, true) / 32768,
  );
  const powers: Record<number, number> = {};
  for (const freq of freqs) {
    let best = 0;
    for (let s = 0; s + 48_000 <= samples.length; s += 4_800) {
      best = Math.max(best, goertzelPower(samples.subarray(s, s + 48_000), 48_000, freq));
    }
    powers[freq] = best;
  }
  return powers;
}

/** Frames in an IVF file the client is writing (0 when it is not there yet). */
export async function ivfFrames(path: string): Promise<number> {
  try {
    return parseIvf(await Deno.readFile(path)).frames.length;
  } catch {
    return 0;
  }
}

/**
 * Where a tone drops out in a finished WAV file written by the client, between two byte
 * offsets: the longest run of 20 ms windows whose power at `freq` is under `threshold`,
 * in ms, where it starts (ms after `from`), and how many such windows there are.
 */
export async function toneGaps(
  path: string,
  from: number,
  to: number,
  freq: number,
  threshold = 0.001,
): Promise<{ longestMs: number; longestAtMs: number; quietWindows: number; windows: number }> {
  const wav = await readWav(path);
  const first = Math.max(0, Math.floor((from - 44) / 2));
  const last = Math.min(wav.samples.length, Math.floor((to - 44) / 2));
  const size = 960;
  let run = 0;
  let longest = 0;
  let longestAt = 0;
  let quiet = 0;
  let windows = 0;
  for (let s = first; s + size <= last; s += size) {
    windows++;
    if (goertzelPower(wav.samples.subarray(s, s + size), 48_000, freq) < threshold) {
      quiet++;
      if (++run > longest) {
        longest = run;
        longestAt = windows - run;
      }
    } else {
      run = 0;
    }
  }
  return { longestMs: longest * 20, longestAtMs: longestAt * 20, quietWindows: quiet, windows };
}
