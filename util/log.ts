/**
 * The server's log: one line per event, with a level, as text for people (the message alone,
 * then `key=value` fields) or as JSON for log collectors (`--log-format json`). Fields that
 * could carry a secret (tokens, keys, passcodes, authorization headers) are never written:
 * their values come out as `[redacted]`.
 *
 * @example
 * ```ts
 * configureLog({ format: "json" });
 * log.info("meeting_created", "a meeting was created", { meetingId: "abc", token: "secret" });
 * // {"time":"…","level":"info","event":"meeting_created","msg":"a meeting was created",
 * //  "meetingId":"abc","token":"[redacted]"}
 * configureLog({ format: "text" });
 * ```
 * @module
 */

/** How much is written: `debug` everything, `error` errors only. */
export type LogLevel = "debug" | "info" | "warn" | "error";
/** Text for people, or one JSON object per line. */
export type LogFormat = "text" | "json";

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
/** Field names whose values are never written. */
const SECRET = /token|secret|passcode|password|authorization|media_?key|cookie/i;

interface LogOptions {
  format: LogFormat;
  level: LogLevel;
  /** Where lines go (default: stdout below warn, stderr from warn). */
  write?: (line: string, level: LogLevel) => void;
}

let options: LogOptions = { format: "text", level: "info" };

/**
 * Sets the format and the least level written (for the whole process).
 *
 * @example
 * ```ts
 * configureLog({ format: "json", level: "warn" });
 * configureLog({ format: "text", level: "info" });
 * ```
 */
export function configureLog(next: Partial<LogOptions>): void {
  options = { ...options, ...next };
}

/** A field's value as it may be written. */
function clean(key: string, value: unknown): unknown {
  if (SECRET.test(key)) return "[redacted]";
  if (value instanceof Error) {
    return { name: value.name, message: value.message, stack: value.stack };
  }
  return value;
}

function write(level: LogLevel, event: string, message: string, fields: Record<string, unknown>) {
  if (RANK[level] < RANK[options.level]) return;
  let line: string;
  if (options.format === "json") {
    const record: Record<string, unknown> = {
      time: new Date().toISOString(),
      level,
      event,
      msg: message,
    };
    for (const [key, value] of Object.entries(fields)) {
      if (!(key in record)) record[key] = clean(key, value);
    }
    try {
      line = JSON.stringify(record);
    } catch {
      line = JSON.stringify({ time: record.time, level, event, msg: message });
    }
  } else {
    const parts = Object.entries(fields).map(([key, value]) => {
      const v = clean(key, value);
      if (v && typeof v === "object" && "stack" in v) return `\n${(v as { stack?: string }).stack}`;
      return ` ${key}=${typeof v === "string" ? v : JSON.stringify(v)}`;
    });
    line = (level === "info" || level === "debug" ? "" : `${level}: `) + message + parts.join("");
  }
  if (options.write) options.write(line, level);
  else if (RANK[level] >= RANK.warn) console.error(line);
  else console.log(line);
}

/**
 * Writes events: `event` is a stable name (`meeting_created`, `recording_failed`), `message`
 * the words for people, `fields` the details.
 *
 * @example
 * ```ts
 * log.error("request_failed", "the request failed", { path: "/api/meetings", error: new Error("x") });
 * ```
 */
export const log = {
  debug: (event: string, message: string, fields: Record<string, unknown> = {}) =>
    write("debug", event, message, fields),
  info: (event: string, message: string, fields: Record<string, unknown> = {}) =>
    write("info", event, message, fields),
  warn: (event: string, message: string, fields: Record<string, unknown> = {}) =>
    write("warn", event, message, fields),
  error: (event: string, message: string, fields: Record<string, unknown> = {}) =>
    write("error", event, message, fields),
};
