/**
 * The terminal client (`deno task client`): flags, inputs, the control session, stdin and
 * signals, wired together. Exit codes: 0 ok, 1 failure, 2 bad flags (see cli/flags.ts).
 *
 * @example
 * ```sh
 * deno task client --server http://127.0.0.1:8000 --name Ann          # interactive
 * deno task client --name Bot --join abc123 --tone 440 --ivf clip.ivf \
 *   --record-mix mix.wav --record-video rec --duration 30 --json      # scripted
 * ```
 * @module
 */

import { type AudioSource, openWavSource, ToneSource } from "./audio_source.ts";
import { TerminalClient } from "./client.ts";
import {
  type CliOptions,
  controlUrl,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_USAGE,
  FlagError,
  parseFlags,
  USAGE,
} from "./flags.ts";
import { Output } from "./output.ts";
import { parseCommand, readLines } from "./repl.ts";
import { TerminalControl } from "./terminal_control.ts";
import { type IvfVideoSource, openIvfSource } from "./video_source.ts";

function defaultName(): string {
  try {
    return Deno.env.get("USER")?.trim() || "guest";
  } catch {
    return "guest"; // no --allow-env
  }
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Reads the inputs the flags name, so that a bad file fails before connecting. */
async function loadInputs(
  options: CliOptions,
): Promise<{ audio: AudioSource | null; video: IvfVideoSource | null }> {
  let audio: AudioSource | null = null;
  if (options.tone !== undefined) audio = new ToneSource(options.tone);
  if (options.wav !== undefined) {
    try {
      audio = await openWavSource(options.wav);
    } catch (err) {
      throw new Error(`--wav ${options.wav}: ${reason(err)}`);
    }
  }
  let video: IvfVideoSource | null = null;
  if (options.ivf !== undefined) {
    try {
      video = await openIvfSource(options.ivf);
    } catch (err) {
      throw new Error(`--ivf ${options.ivf}: ${reason(err)}`);
    }
  }
  if (options.recordVideo !== undefined) {
    try {
      await Deno.mkdir(options.recordVideo, { recursive: true });
    } catch (err) {
      throw new Error(`--record-video ${options.recordVideo}: ${reason(err)}`);
    }
  }
  return { audio, video };
}

/**
 * Runs the client with these arguments; resolves with the exit code.
 *
 * @example
 * ```ts
 * const code = await run(["--server", "127.0.0.1:8000", "--join", "abc123", "--duration", "5"]);
 * ```
 */
export async function run(args: string[]): Promise<number> {
  let options: CliOptions;
  try {
    options = parseFlags(args);
  } catch (err) {
    if (!(err instanceof FlagError)) throw err;
    console.error(`meet: ${err.message}`);
    return EXIT_USAGE;
  }
  if (options.help) {
    console.log(USAGE);
    return EXIT_OK;
  }
  let inputs: Awaited<ReturnType<typeof loadInputs>>;
  try {
    inputs = await loadInputs(options);
  } catch (err) {
    console.error(`meet: ${reason(err)}`);
    return EXIT_FAILURE;
  }
  const output = new Output({ json: options.json, quiet: options.quiet });
  if (options.join) {
    // In a cluster, another server may hold the meeting: join it there.
    const there = await serverHolding(options.server, options.join);
    if (there) {
      console.error(`meet: meeting ${options.join} is held by ${there}; joining there`);
      options = { ...options, server: there };
    }
  }
  let session: TerminalControl;
  try {
    session = await TerminalControl.open(options.server, options.name ?? defaultName(), {
      p2p: options.p2p,
    });
  } catch (err) {
    console.error(`meet: ${reason(err)}`);
    return EXIT_FAILURE;
  }
  const client = new TerminalClient(session, { options, ...inputs, output });

  let interrupted = 0;
  const onSignal = () => {
    if (++interrupted > 1) Deno.exit(130); // a second Ctrl-C: do not wait
    void client.quit(EXIT_OK);
  };
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const signal of signals) Deno.addSignalListener(signal, onSignal);

  await client.start();
  // Input: line by line, each command finished before the next starts. End of input ends
  // an interactive run; a run given a meeting by flags goes on (until --duration or a signal).
  void (async () => {
    try {
      for await (const line of readLines(Deno.stdin.readable)) {
        await client.handle(parseCommand(line));
      }
    } catch (err) {
      output.emit({ event: "error", code: "stdin", message: reason(err) });
    }
    if (!client.scripted) await client.quit(EXIT_OK);
  })();

  const code = await client.done;
  for (const signal of signals) Deno.removeSignalListener(signal, onSignal);
  return code;
}

/**
 * The control URL of the server of the cluster that holds meeting `id`, when `server` says
 * another one does (its REST answer for the meeting is a 307 there); else undefined.
 */
async function serverHolding(server: string, id: string): Promise<string | undefined> {
  const base = server.replace(/^ws/, "http").replace(/\/ws$/, "");
  try {
    const response = await fetch(`${base}/api/meetings/${encodeURIComponent(id)}`, {
      redirect: "manual",
      signal: AbortSignal.timeout(5_000),
    });
    await response.body?.cancel();
    const location = response.status === 307 ? response.headers.get("location") : null;
    if (!location) return undefined;
    const url = new URL(location, base);
    if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
    return controlUrl(url.origin);
  } catch {
    return undefined; // not reachable over HTTP, or no answer: the join says what is wrong
  }
}

if (import.meta.main) {
  // Deno.exit: stdin may still have a read pending, which would keep the process alive.
  Deno.exit(await run(Deno.args));
}
