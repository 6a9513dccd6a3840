/**
 * The server under soak: `main.ts` as `deno task start` runs it, in its own process on 127.0.0.1 with free ports and a
 * temporary data dir. Its stdout and stderr are read line by line: every line on stderr (the
 * server's `console.error`, Deno's warnings and crashes) and every stdout line that looks
 * like an error counts as an error line; the first ones are kept, with the time they came.
 *
 * @example
 * ```ts
 * async function soak(dataDir: string) {
 *   const server = await ServerProcess.start({ dataDir, graceSeconds: 10 }, performance.now());
 *   console.log(server.url, server.pid, server.errorLines);
 *   const status = await server.stop(); // SIGTERM, then wait
 * }
 * ```
 * @module
 */

import { terminate } from "../bench/_report.ts";
import { startTaskArgs } from "../tools/start_task.ts";

/** A stdout line counts as an error when it matches this (any stderr line does). */
export const ERROR_LINE = /error|failed|uncaught|panic/i;
/** What Deno's inspector prints on stderr: not errors. */
const INSPECTOR_LINE = /^(Debugger listening on |Visit chrome:\/\/inspect|Debugger session )/;
const KEEP_ERRORS = 20;
const KEEP_TAIL = 30;
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

/** A log line with the time it came, ms since the soak started. */
export interface LogLine {
  atMs: number;
  line: string;
}

/** How the server is started. */
export interface ServerSettings {
  /** Its `--data-dir`. */
  dataDir: string;
  /** Its `--grace`: seconds a dropped connection keeps its seat. */
  graceSeconds: number;
  /** Start it with the inspector on a free 127.0.0.1 port (see `inspectorUrl`). */
  inspect?: boolean;
  /** Extra V8 flags for the server (`--v8-flags=...`), for experiments. */
  v8Flags?: string;
}

/** The server process and what it printed. */
export class ServerProcess {
  readonly child: Deno.ChildProcess;
  readonly pid: number;
  url = "";
  /** The line saying which Opus backend the mixer uses. */
  opusLine = "";
  /** The inspector's WebSocket, when started with `inspect`. */
  inspectorUrl = "";
  /** Lines matching {@linkcode ERROR_LINE}. */
  errorLines = 0;
  /** The first error lines. */
  readonly firstErrors: LogLine[] = [];
  /** The last lines printed, whatever they were. */
  readonly tail: string[] = [];
  /** Set when the process exited; `stopping` tells whether we asked it to. */
  status: Deno.CommandStatus | undefined;
  stopping = false;
  readonly exited: Promise<Deno.CommandStatus>;
  #t0: number;
  #pumps: Promise<void>[];
  #onLine: ((line: string) => void) | undefined;

  private constructor(child: Deno.ChildProcess, t0: number) {
    this.child = child;
    this.pid = child.pid;
    this.#t0 = t0;
    this.exited = child.status.then((status) => this.status = status);
    this.#pumps = [this.#pump(child.stdout, false), this.#pump(child.stderr, true)];
  }

  /** Starts the server and waits for its address (at most 30 s). */
  static async start(settings: ServerSettings, t0: number): Promise<ServerProcess> {
    const root = new URL("../", import.meta.url);
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        // As `deno task start` runs it (permissions, V8 flags); an experiment's V8 flags win.
        ...startTaskArgs().filter((a) => !(settings.v8Flags && a.startsWith("--v8-flags="))),
        ...(settings.inspect ? ["--inspect=127.0.0.1:0"] : []),
        ...(settings.v8Flags ? [`--v8-flags=${settings.v8Flags}`] : []),
        new URL("main.ts", root).pathname,
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--udp-port",
        "0",
        "--grace",
        String(settings.graceSeconds),
        "--data-dir",
        settings.dataDir,
      ],
      cwd: root.pathname,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const server = new ServerProcess(child, t0);
    const ready = Promise.withResolvers<string>();
    server.#onLine = (line) => {
      const m = /Meet is running at (http:\/\/[^\s]+)/.exec(line);
      if (m) ready.resolve(m[1]);
    };
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      server.url = await Promise.race([
        ready.promise,
        server.exited.then((s) => {
          throw new Error(`server exited with code ${s.code} before printing its address`);
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error("server printed no address in 30 s")),
            START_TIMEOUT_MS,
          );
        }),
      ]);
    } catch (err) {
      await server.stop();
      throw new Error(`${(err as Error).message}; last output:\n${server.tail.join("\n")}`);
    } finally {
      clearTimeout(timer);
      server.#onLine = undefined;
    }
    return server;
  }

  /** The control WebSocket's address. */
  get wsUrl(): string {
    return this.url.replace(/^http/, "ws").replace(/\/?$/, "/ws");
  }

  /** SIGTERM, then wait (SIGKILL after 10 s); resolves with the exit status. */
  async stop(): Promise<Deno.CommandStatus> {
    this.stopping = true;
    if (!this.status) {
      const { killed } = await terminate(this.child, STOP_TIMEOUT_MS);
      if (killed) this.#record("(soak) server did not exit 10 s after SIGTERM; killed");
    }
    const status = await this.exited;
    await Promise.all(this.#pumps);
    return status;
  }

  async #pump(stream: ReadableStream<Uint8Array>, isStderr: boolean): Promise<void> {
    let rest = "";
    const decoder = new TextDecoder();
    try {
      for await (const bytes of stream) {
        const lines = (rest + decoder.decode(bytes, { stream: true })).split("\n");
        rest = lines.pop()!;
        for (const line of lines) this.#record(line, isStderr);
      }
    } catch {
      // the pipe broke: the process is gone
    }
    if (rest) this.#record(rest, isStderr);
  }

  #record(line: string, isStderr = false): void {
    this.tail.push(line);
    if (this.tail.length > KEEP_TAIL) this.tail.shift();
    this.#onLine?.(line);
    if (!this.opusLine && line.startsWith("Audio mixing:")) this.opusLine = line;
    const inspector = /^Debugger listening on (ws:\/\/\S+)/.exec(line);
    if (inspector) this.inspectorUrl = inspector[1];
    if (isStderr && INSPECTOR_LINE.test(line)) return;
    if ((isStderr && line.trim() !== "") || ERROR_LINE.test(line)) {
      this.errorLines++;
      if (this.firstErrors.length < KEEP_ERRORS) {
        this.firstErrors.push({ atMs: performance.now() - this.#t0, line });
      }
    }
  }
}
