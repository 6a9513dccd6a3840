/**
 * Command-line flags of the terminal client: parsing and checking, no I/O. A bad flag is a
 * {@linkcode FlagError} whose message is the one line the client prints before exiting
 * with {@linkcode EXIT_USAGE}.
 *
 * @example
 * ```ts
 * const options = parseFlags(["--server", "http://127.0.0.1:8000", "--name", "Ann",
 *   "--create", "Standup", "--tone", "440", "--duration", "10"]);
 * console.log(options.server); // "ws://127.0.0.1:8000/ws"
 * ```
 * @module
 */

/**
 * Exit code: everything went as asked.
 *
 * @example
 * ```ts
 * function finish(): never {
 *   Deno.exit(EXIT_OK);
 * }
 * ```
 */
export const EXIT_OK = 0;
/**
 * Exit code: the session failed (connection, join, media binding, files).
 *
 * @example
 * ```ts
 * function exitCode(joined: boolean): number {
 *   const code = joined ? EXIT_OK : EXIT_FAILURE;
 *   return code;
 * }
 * ```
 */
export const EXIT_FAILURE = 1;
/**
 * Exit code: bad flags.
 *
 * @example
 * ```ts
 * try {
 *   parseFlags(Deno.args);
 * } catch {
 *   Deno.exit(EXIT_USAGE);
 * }
 * ```
 */
export const EXIT_USAGE = 2;

/**
 * Where the client connects unless told otherwise.
 *
 * @example
 * ```ts
 * parseFlags([]).server === DEFAULT_SERVER; // true
 * ```
 */
export const DEFAULT_SERVER = "ws://127.0.0.1:8000/ws";
/**
 * The server's UDP media port unless told otherwise (the server's `--udp-port` default).
 *
 * @example
 * ```ts
 * parseFlags([]).udpPort === DEFAULT_UDP_PORT; // true
 * ```
 */
export const DEFAULT_UDP_PORT = 5004;

/**
 * Everything the flags say.
 *
 * @example
 * ```ts
 * const options: CliOptions = parseFlags(["--json"]);
 * if (options.json) console.log("machine-readable output");
 * ```
 */
export interface CliOptions {
  help: boolean;
  /** Control WebSocket URL (ws: or wss:). */
  server: string;
  /** Display name; the client picks one when absent. */
  name?: string;
  /** Create a meeting with this title and join it. */
  create?: string;
  /** Join the meeting with this id. */
  join?: string;
  /** Chat lines to send once in the meeting. */
  say: string[];
  /** Send the `say` lines once this many participants are in the meeting (0: at once). */
  waitFor: number;
  /** Stay this many seconds in the meeting, then leave and exit. */
  duration?: number;
  /** Send a sine tone of this frequency as audio. */
  tone?: number;
  /** Send this WAV file (looped) as audio. */
  wav?: string;
  /** Send the VP8 frames of this IVF file (looped) as video. */
  ivf?: string;
  /** Write the received mix to this WAV file (48 kHz mono 16-bit). */
  recordMix?: string;
  /** Write each other participant's received video to `<dir>/<name>.ivf`. */
  recordVideo?: string;
  /** The server's UDP media port. */
  udpPort: number;
  /** Offer to send media peer to peer (P2P over UDP) when the meeting allows it. */
  p2p: boolean;
  /** Print errors only. */
  quiet: boolean;
  /** Print one JSON object per line instead of text. */
  json: boolean;
}

/**
 * A bad command line; the message fits on one line.
 *
 * @example
 * ```ts
 * try {
 *   parseFlags(["--tone"]);
 * } catch (e) {
 *   if (e instanceof FlagError) console.error(e.message); // "--tone needs a value"
 * }
 * ```
 */
export class FlagError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FlagError";
  }
}

/**
 * What `--help` prints.
 *
 * @example
 * ```ts
 * if (parseFlags(Deno.args).help) console.log(USAGE);
 * ```
 */
export const USAGE = `meet terminal client

usage: deno task client [flags]

Without --create or --join it is interactive: type /help for commands, any other line is
a chat message. Commands are read line by line from stdin (a terminal, a pipe or tmux).

flags:
  --server <url>       control WebSocket or page URL (default ${DEFAULT_SERVER});
                       http://host:port and host:port work too
  --name <name>        your display name (default: $USER, else "guest")
  --create <title>     create a meeting and join it
  --join <id>          join the meeting with this id
  --say <text>         send a chat line once in the meeting (repeatable)
  --wait-for <n>       send the --say lines once n participants are in the meeting
  --duration <s>       stay this many seconds in the meeting, then leave and exit
  --tone <Hz>          send a sine tone as audio (amplitude 0.3)
  --wav <file>         send a 16-bit PCM WAV file as audio (any rate/channels, looped)
  --ivf <file>         send VP8 video from an IVF file (looped, paced by its timestamps)
  --record-mix <file>  write the audio you receive (the mix) as 48 kHz mono WAV
  --record-video <dir> write each other participant's video to <dir>/<name>.ivf
  --udp-port <port>    the server's UDP media port (default ${DEFAULT_UDP_PORT})
  --no-p2p             always send media through the server (by default a meeting of two
                       terminal clients sends it peer to peer over UDP)
  --quiet              print errors only
  --json               print one JSON event per line (for scripts)
  --help               this text

exit codes: 0 ok, 1 failure (connection, meeting, media, files), 2 bad flags`;

const VALUE_FLAGS = [
  "server",
  "name",
  "create",
  "join",
  "say",
  "wait-for",
  "duration",
  "tone",
  "wav",
  "ivf",
  "record-mix",
  "record-video",
  "udp-port",
] as const;
const BOOLEAN_FLAGS = ["help", "quiet", "json", "no-p2p"] as const;
const SHORT: Record<string, string> = { "-h": "help", "-q": "quiet" };

/**
 * Turns what `--server` says into the control WebSocket URL: `http(s)://` becomes
 * `ws(s)://`, a bare `host:port` gets `ws://`, and an empty path becomes `/ws`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.equal(controlUrl("http://127.0.0.1:8000/"), "ws://127.0.0.1:8000/ws");
 * assert.equal(controlUrl("localhost:9000"), "ws://localhost:9000/ws");
 * assert.equal(controlUrl("wss://meet.example/ws"), "wss://meet.example/ws");
 * ```
 */
export function controlUrl(input: string): string {
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(input) ? input : `ws://${input}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new FlagError(`--server: "${input}" is not a URL`);
  }
  const schemes: Record<string, string> = {
    "http:": "ws:",
    "https:": "wss:",
    "ws:": "ws:",
    "wss:": "wss:",
  };
  const scheme = schemes[url.protocol];
  if (!scheme || !url.hostname) {
    throw new FlagError(`--server: "${input}" must be a ws://, wss://, http:// or https:// URL`);
  }
  url.protocol = scheme;
  if (url.pathname === "/" || url.pathname === "") url.pathname = "/ws";
  url.hash = "";
  return url.href;
}

function number(flag: string, value: string, { min = 0, max = Infinity, integer = false }) {
  const n = /^\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
  if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    const kind = integer ? "an integer" : "a number";
    const range = max === Infinity ? `>= ${min}` : `in ${min}..${max}`;
    throw new FlagError(`--${flag} must be ${kind} ${range}, got "${value}"`);
  }
  return n;
}

function nonEmpty(flag: string, value: string): string {
  if (value.trim() === "") throw new FlagError(`--${flag} must not be empty`);
  return value;
}

/**
 * Parses and checks the command line (`--flag value` or `--flag=value`). Throws
 * {@linkcode FlagError} for unknown flags, missing or bad values, repeated flags (all but
 * `--say`), and flags that exclude each other.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const options = parseFlags(["--join=abc", "--say", "hi", "--say", "bye", "--json"]);
 * assert.deepEqual([options.join, options.say, options.json], ["abc", ["hi", "bye"], true]);
 * assert.throws(() => parseFlags(["--create", "A", "--join", "b"]), FlagError);
 * ```
 */
export function parseFlags(args: readonly string[]): CliOptions {
  const values = new Map<string, string[]>();
  const booleans = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    let flag: string;
    let inline: string | undefined;
    if (SHORT[arg]) {
      flag = SHORT[arg];
    } else if (arg.startsWith("--") && arg.length > 2) {
      const eq = arg.indexOf("=");
      flag = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      inline = eq < 0 ? undefined : arg.slice(eq + 1);
    } else {
      throw new FlagError(`unexpected argument "${arg}" (see --help)`);
    }
    if ((BOOLEAN_FLAGS as readonly string[]).includes(flag)) {
      if (inline !== undefined) throw new FlagError(`--${flag} takes no value`);
      booleans.add(flag);
      continue;
    }
    if (!(VALUE_FLAGS as readonly string[]).includes(flag)) {
      throw new FlagError(`unknown flag --${flag} (see --help)`);
    }
    let value = inline;
    if (value === undefined) {
      if (i + 1 >= args.length) throw new FlagError(`--${flag} needs a value`);
      value = args[++i];
    }
    const list = values.get(flag) ?? [];
    if (list.length > 0 && flag !== "say") throw new FlagError(`--${flag} given twice`);
    list.push(value);
    values.set(flag, list);
  }
  const one = (flag: string) => values.get(flag)?.[0];

  const options: CliOptions = {
    help: booleans.has("help"),
    server: controlUrl(one("server") ?? DEFAULT_SERVER),
    say: (values.get("say") ?? []).map((text) => nonEmpty("say", text)),
    waitFor: 0,
    udpPort: DEFAULT_UDP_PORT,
    p2p: !booleans.has("no-p2p"),
    quiet: booleans.has("quiet"),
    json: booleans.has("json"),
  };
  const name = one("name");
  if (name !== undefined) options.name = nonEmpty("name", name);
  const create = one("create");
  if (create !== undefined) options.create = nonEmpty("create", create);
  const join = one("join");
  if (join !== undefined) options.join = nonEmpty("join", join);
  if (options.create !== undefined && options.join !== undefined) {
    throw new FlagError("--create and --join exclude each other");
  }
  const waitFor = one("wait-for");
  if (waitFor !== undefined) {
    options.waitFor = number("wait-for", waitFor, { min: 1, max: 1000, integer: true });
  }
  const duration = one("duration");
  if (duration !== undefined) {
    options.duration = number("duration", duration, { min: 0, max: 7 * 24 * 3600 });
  }
  const tone = one("tone");
  if (tone !== undefined) options.tone = number("tone", tone, { min: 1, max: 23_999 });
  const wav = one("wav");
  if (wav !== undefined) options.wav = nonEmpty("wav", wav);
  if (options.tone !== undefined && options.wav !== undefined) {
    throw new FlagError("--tone and --wav exclude each other");
  }
  const ivf = one("ivf");
  if (ivf !== undefined) options.ivf = nonEmpty("ivf", ivf);
  const recordMix = one("record-mix");
  if (recordMix !== undefined) options.recordMix = nonEmpty("record-mix", recordMix);
  const recordVideo = one("record-video");
  if (recordVideo !== undefined) options.recordVideo = nonEmpty("record-video", recordVideo);
  const udpPort = one("udp-port");
  if (udpPort !== undefined) {
    options.udpPort = number("udp-port", udpPort, { min: 1, max: 65535, integer: true });
  }
  const needsMeeting = [
    ["say", options.say.length > 0],
    ["wait-for", waitFor !== undefined],
  ] as const;
  for (const [flag, given] of needsMeeting) {
    if (given && options.create === undefined && options.join === undefined) {
      throw new FlagError(`--${flag} needs --create or --join`);
    }
  }
  return options;
}
