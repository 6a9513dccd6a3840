/**
 * The interactive side: lines from stdin (a terminal, a pipe, tmux), each either a command
 * (`/join abc`) or a chat message. Parsing is pure; reading is a bounded line splitter over
 * any byte stream.
 *
 * @example
 * ```ts
 * for await (const line of readLines(Deno.stdin.readable)) {
 *   const command = parseCommand(line);
 *   if (command.kind === "quit") break;
 * }
 * ```
 * @module
 */

/**
 * A parsed input line.
 *
 * @example
 * ```ts
 * const command: Command = { kind: "join", meetingId: "abc" };
 * ```
 */
export type Command =
  | { kind: "none" }
  | { kind: "chat"; text: string }
  | { kind: "list" }
  | { kind: "create"; title: string }
  | { kind: "join"; meetingId: string }
  | { kind: "leave" }
  | { kind: "cancel"; meetingId?: string }
  | { kind: "who" }
  | { kind: "mic"; on: boolean; source?: string }
  | { kind: "cam"; on: boolean }
  | { kind: "hand"; raised: boolean }
  | { kind: "react"; reaction: string }
  | { kind: "record"; on: boolean }
  | { kind: "stats" }
  | { kind: "help" }
  | { kind: "quit" }
  | { kind: "invalid"; message: string };

/**
 * What `/help` prints.
 *
 * @example
 * ```ts
 * if (parseCommand("/help").kind === "help") console.log(COMMANDS_HELP);
 * ```
 */
export const COMMANDS_HELP = `commands:
  /list               live meetings
  /create <title>     create a meeting and join it
  /join <id>          join a meeting
  /leave              leave the meeting
  /cancel [id]        cancel a meeting you created (the current one by default)
  /who                who is in the meeting
  /mic on|off         send audio or not; /mic on <Hz> or /mic on <file.wav> picks a source
  /cam on|off         send video (from --ivf) or not
  /hand up|down       raise or lower your hand
  /react <emoji>      send a reaction: 👍 👏 😂 ❤️ 🎉 😮
  /record on|off      the host records the meeting (the file is on the server)
  /stats              media counters
  /quit               leave and exit (also: end of input)
  /help               this text
any other line is a chat message; start it with // to send a line beginning with /`;

/**
 * Reads one line of input. Empty and blank lines do nothing; a line starting with `//`
 * is chat text starting with `/`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseCommand("/create Daily standup"), { kind: "create", title: "Daily standup" });
 * assert.deepEqual(parseCommand("hello"), { kind: "chat", text: "hello" });
 * assert.deepEqual(parseCommand("//shrug"), { kind: "chat", text: "/shrug" });
 * assert.equal(parseCommand("/join").kind, "invalid");
 * ```
 */
export function parseCommand(line: string): Command {
  const text = line.replace(/\r$/, "");
  if (text.trim() === "") return { kind: "none" };
  if (text.startsWith("//")) return { kind: "chat", text: text.slice(1) };
  if (!text.startsWith("/")) return { kind: "chat", text };
  const [word, ...rest] = text.slice(1).trim().split(/\s+/);
  const arg = text.slice(1).trim().slice(word.length).trim();
  const on = (value: string | undefined) =>
    value === "on" ? true : value === "off" ? false : undefined;
  switch (word.toLowerCase()) {
    case "list":
    case "ls":
      return { kind: "list" };
    case "create":
      return arg ? { kind: "create", title: arg } : { kind: "invalid", message: "/create <title>" };
    case "join":
      return rest.length === 1
        ? { kind: "join", meetingId: rest[0] }
        : { kind: "invalid", message: "/join <meeting id>" };
    case "leave":
      return { kind: "leave" };
    case "cancel":
      if (rest.length > 1) return { kind: "invalid", message: "/cancel [meeting id]" };
      return rest.length === 1 ? { kind: "cancel", meetingId: rest[0] } : { kind: "cancel" };
    case "who":
      return { kind: "who" };
    case "mic": {
      const value = on(rest[0]);
      if (value === undefined || (rest.length > 1 && !value)) {
        return { kind: "invalid", message: "/mic on|off (or /mic on <Hz>|<file.wav>)" };
      }
      const source = rest.length > 1 ? arg.slice(rest[0].length).trim() : undefined;
      return source ? { kind: "mic", on: value, source } : { kind: "mic", on: value };
    }
    case "cam": {
      const value = on(rest[0]);
      if (value === undefined || rest.length > 1) {
        return { kind: "invalid", message: "/cam on|off" };
      }
      return { kind: "cam", on: value };
    }
    case "hand":
      if (rest.length !== 1 || (rest[0] !== "up" && rest[0] !== "down")) {
        return { kind: "invalid", message: "/hand up|down" };
      }
      return { kind: "hand", raised: rest[0] === "up" };
    case "react":
      return rest.length === 1
        ? { kind: "react", reaction: rest[0] }
        : { kind: "invalid", message: "/react <emoji>" };
    case "record": {
      const value = on(rest[0]);
      return value === undefined || rest.length > 1
        ? { kind: "invalid", message: "/record on|off" }
        : { kind: "record", on: value };
    }
    case "stats":
      return { kind: "stats" };
    case "help":
    case "?":
      return { kind: "help" };
    case "quit":
    case "exit":
    case "q":
      return { kind: "quit" };
    default:
      return { kind: "invalid", message: `unknown command /${word} (try /help)` };
  }
}

/**
 * Splits a byte stream into lines (UTF-8, `\n` or `\r\n`). A last line without a newline is
 * given too. Lines longer than `maxLength` characters are cut (the rest is dropped up to
 * the next newline), so one endless line cannot grow memory without bound.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const bytes = new TextEncoder().encode("/who\r\nhello\nlast");
 * const lines: string[] = [];
 * for await (const line of readLines(new Blob([bytes]).stream())) lines.push(line);
 * assert.deepEqual(lines, ["/who", "hello", "last"]);
 * ```
 */
export async function* readLines(
  stream: ReadableStream<Uint8Array>,
  maxLength = 16_384,
): AsyncGenerator<string> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let pending = "";
  let skipping = false;
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      let chunk = decoder.decode(value, { stream: true });
      while (chunk.length > 0) {
        const newline = chunk.indexOf("\n");
        if (newline < 0) {
          if (!skipping) pending += chunk;
          if (pending.length > maxLength) {
            yield pending.slice(0, maxLength).replace(/\r$/, "");
            pending = "";
            skipping = true;
          }
          break;
        }
        if (!skipping) {
          const line = (pending + chunk.slice(0, newline)).replace(/\r$/, "");
          yield line.slice(0, maxLength);
        }
        pending = "";
        skipping = false;
        chunk = chunk.slice(newline + 1);
      }
    }
    if (!skipping) pending += decoder.decode();
    if (pending && !skipping) yield pending.replace(/\r$/, "").slice(0, maxLength);
  } finally {
    reader.releaseLock();
  }
}
