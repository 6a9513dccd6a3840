/**
 * What the client prints: every happening is a {@linkcode CliEvent}, rendered as a line of
 * text for people (chat as `[HH:MM] Name: text`) or as one JSON object per line for
 * scripts (`--json`). Text from other people is made safe for a terminal: control
 * characters (escape sequences) and bidirectional overrides are replaced, never obeyed.
 *
 * @example
 * ```ts
 * const out = new Output({ json: false, quiet: false });
 * out.emit({ event: "error", code: "not_found", message: "no meeting with id \"x\"" });
 * // prints: ! not_found: no meeting with id "x"
 * ```
 * @module
 */

import { clockTime } from "../client/format.ts";
import type { MeetingSummary } from "../meeting/meeting.ts";
import type { PathKind } from "../meeting/mode.ts";
import type { RosterChange } from "../meeting/roster_changes.ts";
import { writeAll } from "./wav.ts";

/**
 * A participant as the client shows it.
 *
 * @example
 * ```ts
 * const bob: RosterEntry = { id: "p2", name: "Bob", isCreator: false, isHost: false, connected: true,
 *   audio: true, video: false, screen: false, handRaised: false };
 * ```
 */
export interface RosterEntry {
  id: string;
  name: string;
  isCreator: boolean;
  /** Holds the host role (may end the meeting). */
  isHost: boolean;
  handRaised: boolean;
  connected: boolean;
  audio: boolean;
  video: boolean;
  /** Shares a screen (the terminal shows who does; it does not draw the screen). */
  screen: boolean;
}

/**
 * Everything the client reports. `--json` prints these objects as they are.
 *
 * @example
 * ```ts
 * const line: CliEvent = { event: "chat", meetingId: "m1", id: 1, participantId: "p1",
 *   name: "Ann", text: "hi", at: Date.now(), time: "09:05", history: false };
 * ```
 */
export type CliEvent =
  | { event: "connected"; server: string }
  | { event: "disconnected"; willRetry: boolean }
  | { event: "identified"; name: string }
  | { event: "meetings"; meetings: MeetingSummary[] }
  | { event: "meeting_added"; meeting: MeetingSummary }
  | { event: "meeting_closed"; id: string; title: string }
  | { event: "created"; meetingId: string; title: string }
  | {
    event: "joined";
    meetingId: string;
    title: string;
    participantId: string;
    name: string;
    resumed: boolean;
    participants: RosterEntry[];
    /** `p2p` or `relay`, as the server decided. */
    mode: "p2p" | "relay";
  }
  | {
    event: "roster";
    meetingId: string;
    title: string;
    self: string;
    participants: RosterEntry[];
    mode: "p2p" | "relay";
    /** Where media goes now (null: no media). */
    path: PathKind | null;
  }
  | {
    /**
     * The meeting's mode (the server's decision) and the path media takes now: in `p2p`
     * mode media goes through the server until the direct path to the peer answers.
     */
    event: "mode";
    meetingId: string;
    mode: "p2p" | "relay";
    path: PathKind;
    peer: { participantId: string; name: string | null; address: string } | null;
    /** For `direct`: ms from probing the peer to the switch. */
    switchMs?: number | null;
  }
  | {
    /** The control connection came back; the seat was taken back (same participant id). */
    event: "reconnected";
    meetingId: string | null;
    participantId: string | null;
    name: string;
  }
  | {
    event: "participant";
    change: RosterChange["change"];
    id: string;
    name: string;
    audio: boolean;
    video: boolean;
  }
  | {
    event: "chat";
    meetingId: string;
    id: number;
    participantId: string;
    name: string;
    text: string;
    at: number;
    time: string;
    history: boolean;
  }
  | { event: "left"; meetingId: string; title: string; reason: string; message?: string }
  | { event: "muted"; kind: "audio" | "video"; by: string }
  /** The server's recording of the meeting started, stopped (`by` null: the server), or was saved. */
  | {
    event: "meeting_recording";
    state: "started" | "stopped" | "saved";
    by?: string | null;
    reason?: string;
    durationMs?: number;
    bytes?: number;
  }
  | { event: "reaction"; id: string; name: string; reaction: string }
  | { event: "media_bound"; participantId: string; server: string; localPort: number }
  | { event: "sending"; audio: string | null; video: string | null }
  | { event: "recording"; kind: "mix" | "video"; path: string; name?: string; ssrc?: number }
  | { event: "info"; message: string }
  | { event: "error"; code: string; message: string }
  | { event: "stats"; stats: Record<string, unknown> };

/**
 * Media counters as a two-column table, one figure a line, nested names joined with dots
 * (`audio.sent.packets   1200`); fractions rounded to two decimals.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.equal(statsTable({ audio: { sent: 3, loss: 0.125 } }), "Media counters:\n  audio.sent  3\n  audio.loss  0.13");
 * ```
 */
export function statsTable(stats: Record<string, unknown>): string {
  const rows: [string, string][] = [];
  const walk = (value: unknown, path: string) => {
    if (rows.length >= MAX_STATS_ROWS) return;
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) walk(v, path ? `${path}.${k}` : k);
      return;
    }
    const text = typeof value === "number" && !Number.isInteger(value)
      ? String(Math.round(value * 100) / 100)
      : typeof value === "string"
      ? value
      : JSON.stringify(value) ?? "";
    rows.push([safeText(path, { singleLine: true }), safeText(text, { singleLine: true })]);
  };
  walk(stats, "");
  if (rows.length === 0) return "Media counters: none (no media session).";
  const width = Math.max(...rows.map(([k]) => k.length));
  return ["Media counters:", ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`)].join("\n");
}

/** At most this many lines of counters are printed. */
const MAX_STATS_ROWS = 200;

// C0 and C1 controls but tab and newline, DEL, and bidirectional embeddings/overrides/isolates.
// deno-lint-ignore no-control-regex
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Makes text from the network safe to print on a terminal: control characters (ESC and
 * the rest) become U+FFFD, tabs become spaces, and with `singleLine` newlines too.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.equal(safeText("hi \u001b[2Jthere"), "hi \ufffd[2Jthere");
 * assert.equal(safeText("a\nb", { singleLine: true }), "a b");
 * ```
 */
export function safeText(text: string, { singleLine = false } = {}): string {
  let safe = text.replace(/\r\n?/g, "\n").replace(UNSAFE, "\ufffd").replace(/\t/g, " ");
  if (singleLine) safe = safe.replace(/\n/g, " ");
  return safe;
}

function mediaState(p: { audio: boolean; video: boolean }): string {
  return `mic ${p.audio ? "on" : "off"}, camera ${p.video ? "on" : "off"}`;
}

/**
 * The text line(s) for an event, or null when people need not see it (the client emits
 * `stats` at exit only with `--json`, and on `/stats`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const at = new Date(2026, 0, 1, 9, 5).getTime();
 * assert.equal(
 *   renderText({ event: "chat", meetingId: "m", id: 1, participantId: "p", name: "Ann",
 *     text: "hello\nworld", at, time: "09:05", history: false }),
 *   "[09:05] Ann: hello\n        world",
 * );
 * ```
 */
export function renderText(e: CliEvent): string | null {
  const name = (n: string) => safeText(n, { singleLine: true });
  const now = () => `[${clockTime(Date.now())}]`;
  switch (e.event) {
    case "connected":
      return `Connected to ${e.server}.`;
    case "disconnected":
      return e.willRetry
        ? "! Connection to the server lost; reconnecting..."
        : "! Connection to the server closed.";
    case "identified":
      return null;
    case "meetings": {
      if (e.meetings.length === 0) return "No meetings. Start one with /create <title>.";
      const lines = e.meetings.map((m) =>
        `  ${m.id}  "${name(m.title)}" by ${name(m.creator)}, ${m.participants} here`
      );
      return [`Meetings (${e.meetings.length}):`, ...lines].join("\n");
    }
    case "meeting_added":
      return `+ meeting ${e.meeting.id} "${name(e.meeting.title)}" by ${name(e.meeting.creator)}`;
    case "meeting_closed":
      return `- meeting ${e.id} "${name(e.title)}" is over`;
    case "created":
      return `Created "${name(e.title)}", id ${e.meetingId}.`;
    case "joined": {
      const others = e.participants.length - 1;
      const verb = e.resumed ? "Back in" : "Joined";
      return `${verb} "${name(e.title)}" (id ${e.meetingId}) as ${name(e.name)}; ` +
        `${others} other${others === 1 ? "" : "s"} here.`;
    }
    case "roster": {
      const lines = e.participants.map((p) => {
        const tags = [
          p.id === e.self ? "you" : "",
          p.isHost ? "host" : "",
          p.handRaised ? "✋" : "",
          p.screen ? "sharing a screen" : "",
        ]
          .filter(Boolean);
        const who = tags.length ? `${name(p.name)} (${tags.join(", ")})` : name(p.name);
        return `  ${who}: ${mediaState(p)}${p.connected ? "" : " [reconnecting]"}`;
      });
      const media = e.path === null
        ? `  media: ${e.mode === "p2p" ? "peer to peer" : "relay"} (no media session)`
        : `  media: ${
          e.path === "p2p"
            ? "peer to peer, direct"
            : e.mode === "p2p"
            ? "peer to peer, through the server until the direct path answers"
            : "relay, through the server"
        }`;
      return [`In "${name(e.title)}" (${e.participants.length}):`, ...lines, media].join("\n");
    }
    case "mode": {
      const peer = e.peer
        ? `${e.peer.name ? name(e.peer.name) + " at " : ""}${e.peer.address}`
        : "the peer";
      if (e.mode === "relay") return `${now()} Mode: relay; media goes through the server.`;
      if (e.path === "p2p") {
        const after = typeof e.switchMs === "number" ? ` (direct path up in ${e.switchMs} ms)` : "";
        return `${now()} Mode: P2P; media goes directly to ${peer}${after}.`;
      }
      return e.peer
        ? `${now()} Mode: P2P; trying the direct path to ${peer}, media through the server meanwhile.`
        : `${now()} Mode: P2P; waiting for the peer's address, media through the server meanwhile.`;
    }
    case "reconnected":
      return e.meetingId ? `Reconnected; still in the meeting as ${name(e.name)}.` : "Reconnected.";
    case "participant": {
      const who = name(e.name);
      switch (e.change) {
        case "joined":
          return `${now()} * ${who} joined`;
        case "left":
          return `${now()} * ${who} left`;
        case "reconnecting":
          return `${now()} * ${who} lost the connection (seat held)`;
        case "back":
          return `${now()} * ${who} is back`;
        case "media":
          return `${now()} * ${who}: ${mediaState(e)}`;
        case "hand_up":
          return `${now()} * ${who} raised a hand ✋`;
        case "hand_down":
          return `${now()} * ${who} lowered the hand`;
        case "screen_on":
          return `${now()} * ${who} is sharing a screen`;
        case "screen_off":
          return `${now()} * ${who} stopped sharing the screen`;
      }
      return null;
    }
    case "chat": {
      const prefix = `[${e.time}] `;
      const [first, ...rest] = safeText(e.text).split("\n");
      const indent = " ".repeat(prefix.length);
      return [`${prefix}${name(e.name)}: ${first}`, ...rest.map((l) => indent + l)].join("\n");
    }
    case "left": {
      const reasons: Record<string, string> = {
        leave: `You left "${name(e.title)}".`,
        cancelled: `"${name(e.title)}" was cancelled by its host.`,
        ended: `"${name(e.title)}" ended.`,
        replaced: `You joined "${name(e.title)}" from elsewhere; this client let go.`,
        timeout: `You were dropped from "${name(e.title)}" (timeout).`,
        rejoin_failed: `Could not get back into "${name(e.title)}" after reconnecting.`,
        removed: `The host removed you from "${name(e.title)}"${
          e.message ? `: ${safeText(e.message)}` : "."
        }`,
      };
      return reasons[e.reason] ?? `You are out of "${name(e.title)}" (${e.reason}).`;
    }
    case "reaction":
      return `${now()} * ${name(e.name)} reacted ${safeText(e.reaction, { singleLine: true })}`;
    case "meeting_recording":
      if (e.state === "started") {
        return `${now()} ● ${name(e.by ?? "?")} started recording the meeting`;
      }
      if (e.state === "stopped") {
        return `${now()} Recording stopped${e.by ? ` by ${name(e.by)}` : ""}${
          e.reason && e.reason !== "stopped" ? ` (${e.reason})` : ""
        }`;
      }
      return `${now()} Recording saved on the server (${
        Math.round((e.durationMs ?? 0) / 1000)
      } s, ${((e.bytes ?? 0) / 1e6).toFixed(1)} MB)`;
    case "muted":
      return `${now()} ${name(e.by)} turned off your ${
        e.kind === "audio" ? "microphone (/mic on" : "camera (/cam on"
      } to turn it on again).`;
    case "media_bound":
      return `Media over UDP to ${e.server} (local port ${e.localPort}).`;
    case "sending": {
      const what = [e.audio && `audio: ${e.audio}`, e.video && `video: ${e.video}`].filter(
        Boolean,
      );
      return what.length ? `Sending ${what.join("; ")}.` : "Sending no media.";
    }
    case "recording":
      return e.kind === "mix"
        ? `Recording the mix to ${e.path}.`
        : `Recording ${name(e.name ?? String(e.ssrc))}'s video to ${e.path}.`;
    case "info":
      return e.message;
    case "error":
      return `! ${e.code}: ${safeText(e.message, { singleLine: true })}`;
    case "stats":
      return statsTable(e.stats);
  }
}

/**
 * Prints events to stdout, as text or JSON lines, with synchronous writes (nothing is
 * lost on exit, and lines never interleave).
 *
 * @example
 * ```ts
 * const lines: string[] = [];
 * const out = new Output({ json: true, quiet: false }, (line) => lines.push(line));
 * out.emit({ event: "info", message: "hello" });
 * console.log(lines[0]); // {"event":"info","message":"hello"}
 * ```
 */
export class Output {
  readonly #write: (line: string) => void;

  constructor(
    readonly mode: { json: boolean; quiet: boolean },
    write?: (line: string) => void,
  ) {
    const encoder = new TextEncoder();
    this.#write = write ?? ((line) => writeAll(Deno.stdout, encoder.encode(line + "\n")));
  }

  /** Prints one event (errors only with `quiet`). */
  emit(event: CliEvent): void {
    if (this.mode.quiet && event.event !== "error") return;
    if (this.mode.json) {
      this.#write(JSON.stringify(event));
      return;
    }
    const text = renderText(event);
    if (text !== null) this.#write(text);
  }
}

/**
 * A chat message as an event.
 *
 * @example
 * ```ts
 * const event = chatEvent("m1", { id: 1, participantId: "p1", name: "Ann", text: "hi",
 *   at: Date.now() }, false);
 * ```
 */
export function chatEvent(
  meetingId: string,
  message: { id: number; participantId: string; name: string; text: string; at: number },
  history: boolean,
): CliEvent {
  return {
    event: "chat",
    meetingId,
    id: message.id,
    participantId: message.participantId,
    name: message.name,
    text: message.text,
    at: message.at,
    time: clockTime(message.at),
    history,
  };
}
