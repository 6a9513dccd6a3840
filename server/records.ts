/**
 * Records: every meeting, its life-cycle events and its chat, written to SQLite
 * (`node:sqlite`) in the data dir, so a restart loses no history.
 *
 * @example
 * ```ts
 * import type { MeetingRegistry } from "../meeting/registry.ts";
 *
 * function keep(registry: MeetingRegistry) {
 *   const records = Records.open("./data/meet.db");
 *   records.attach(registry);          // writes as meetings live
 *   records.history("abc123");         // { meeting, events, chat } or undefined
 *   records.close();
 * }
 * ```
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import type { ChatMessage } from "../meeting/chat.ts";
import type { CloseReason, Meeting } from "../meeting/meeting.ts";
import type { MeetingRegistry } from "../meeting/registry.ts";
import { type Clock, systemClock } from "../util/clock.ts";

/** Life-cycle event types kept in the records. */
export type RecordedEventType =
  | "created"
  | "joined"
  | "left"
  | "cancelled"
  | "ended"
  /** A recording began: `name` who started it, `detail` its id. */
  | "recording_started"
  /** A recording stopped: `name` who stopped it (null: the server), `detail` why. */
  | "recording_stopped";

/** A meeting as recorded. */
export interface MeetingRecord {
  id: string;
  title: string;
  creator: string;
  createdAt: number;
  /** ms since the epoch, or null while the meeting is open. */
  endedAt: number | null;
  /** "cancelled", "empty", "idle", "shutdown", "restart"; null while open. */
  endReason: string | null;
}

/** One recorded event. */
export interface EventRecord {
  at: number;
  type: RecordedEventType;
  participantId: string | null;
  name: string | null;
  /** E.g. why a participant left ("left", "timeout"), or why a meeting ended. */
  detail: string | null;
}

/** One recorded chat line. */
export interface ChatRecord {
  at: number;
  participantId: string;
  name: string;
  text: string;
}

/**
 * Most events and most chat lines {@linkcode Records.history} returns: the newest ones. A
 * long meeting records every chat line (up to 5 a second per member), and reading them all
 * into one answer would hold the whole table in memory for one request.
 */
export const MAX_HISTORY_ROWS = 1000;

/**
 * A meeting's history: its newest {@linkcode MAX_HISTORY_ROWS} events and chat lines, in
 * order. `truncated` says that older ones were left out (they stay in the database).
 */
export interface MeetingHistory {
  meeting: MeetingRecord;
  events: EventRecord[];
  chat: ChatRecord[];
  truncated: { events: boolean; chat: boolean };
}

const SCHEMA = `
  PRAGMA journal_mode = WAL;
  PRAGMA synchronous = NORMAL;
  CREATE TABLE IF NOT EXISTS meetings (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    creator TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    ended_at INTEGER,
    end_reason TEXT
  );
  CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    meeting_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    type TEXT NOT NULL,
    participant_id TEXT,
    name TEXT,
    detail TEXT
  );
  CREATE INDEX IF NOT EXISTS events_by_meeting ON events (meeting_id, seq);
  CREATE TABLE IF NOT EXISTS chat (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    meeting_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    participant_id TEXT NOT NULL,
    name TEXT NOT NULL,
    text TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS chat_by_meeting ON chat (meeting_id, seq);
  CREATE TABLE IF NOT EXISTS recordings (
    id TEXT PRIMARY KEY,
    meeting_id TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    started_by TEXT NOT NULL,
    stopped_at INTEGER,
    stopped_by TEXT,
    stop_reason TEXT,
    state TEXT NOT NULL,
    bytes INTEGER,
    duration_ms INTEGER,
    owners TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS recordings_by_meeting ON recordings (meeting_id, started_at);
  CREATE TABLE IF NOT EXISTS seats (
    meeting_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    PRIMARY KEY (meeting_id, session_id)
  ) WITHOUT ROWID;
`;

/**
 * Columns added after the first schema: `locked` (1 if joining needed a passcode; NULL for
 * meetings recorded before it existed, which are treated as locked) and the creator's
 * session id.
 */
const ADDED_COLUMNS = [
  ["meetings", "locked", "INTEGER"],
  ["meetings", "creator_session_id", "TEXT"],
  ["recordings", "switches", "INTEGER"],
] as const;

/**
 * Where a recording is: `recording` while it runs, `finishing` while its file is finished,
 * `done`; `recovered` when a restart found it unfinished and finished it; `failed` when there
 * was no file to keep.
 */
export type RecordingFileState = "recording" | "finishing" | "done" | "recovered" | "failed";

/** A recording as recorded. */
export interface RecordingRecord {
  id: string;
  meetingId: string;
  /** ms since the epoch. */
  startedAt: number;
  /** Who started it (display name). */
  startedBy: string;
  stoppedAt: number | null;
  /** Who stopped it (display name), or null when the server did. */
  stoppedBy: string | null;
  /** Why it stopped (`RecordingStopReason`, or `restart`). */
  stopReason: string | null;
  state: RecordingFileState;
  bytes: number | null;
  durationMs: number | null;
  /** Times the picture moved to another source (speaker or screen). */
  switches: number | null;
  /**
   * SHA-256 (hex) of the tokens that may list and download it: the meeting creator's and
   * the starter's sessions. Hashes, so a restart keeps the right without keeping tokens.
   */
  owners: string[];
}

/** Who may read a recorded meeting's roster and history. */
export interface MeetingAccess {
  /** Joining needed a passcode (or the record predates the flag). */
  locked: boolean;
  /** The creator's session id, if recorded. */
  creatorSessionId: string | null;
}

/** The SQLite store of meetings, events and chat. */
export class Records {
  #db: DatabaseSync;
  #clock: Clock;
  #insertMeeting;
  #endMeeting;
  #insertEvent;
  #insertChat;
  #insertSeat;

  private constructor(db: DatabaseSync, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
    db.exec(SCHEMA);
    for (const [table, column, type] of ADDED_COLUMNS) {
      const columns = db.prepare(`PRAGMA table_info(${table})`).all().map((c) => c.name);
      if (!columns.includes(column)) db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`);
    }
    this.#insertMeeting = db.prepare(
      "INSERT INTO meetings (id, title, creator, created_at, locked, creator_session_id) " +
        "VALUES (?, ?, ?, ?, ?, ?)",
    );
    this.#insertSeat = db.prepare(
      "INSERT OR IGNORE INTO seats (meeting_id, session_id) VALUES (?, ?)",
    );
    this.#endMeeting = db.prepare(
      "UPDATE meetings SET ended_at = ?, end_reason = ? WHERE id = ? AND ended_at IS NULL",
    );
    this.#insertEvent = db.prepare(
      "INSERT INTO events (meeting_id, at, type, participant_id, name, detail) VALUES (?, ?, ?, ?, ?, ?)",
    );
    this.#insertChat = db.prepare(
      "INSERT INTO chat (meeting_id, at, participant_id, name, text) VALUES (?, ?, ?, ?, ?)",
    );
  }

  /**
   * Opens (or creates) the database at `path`. Meetings left open by a previous run are
   * closed with reason "restart": live meetings do not survive a restart, their history does.
   */
  static open(path: string, options: { clock?: Clock } = {}): Records {
    const records = new Records(new DatabaseSync(path), options.clock ?? systemClock);
    records.#closeLeftovers();
    return records;
  }

  /** Writes the life of every meeting the registry creates from now on. */
  attach(registry: MeetingRegistry): () => void {
    return registry.on("created", (meeting) => this.#follow(meeting));
  }

  /** The recorded meeting, if any. */
  meeting(id: string): MeetingRecord | undefined {
    const row = this.#db.prepare("SELECT * FROM meetings WHERE id = ?").get(id) as
      | Record<string, unknown>
      | undefined;
    if (!row) return undefined;
    return {
      id: row.id as string,
      title: row.title as string,
      creator: row.creator as string,
      createdAt: Number(row.created_at),
      endedAt: row.ended_at == null ? null : Number(row.ended_at),
      endReason: (row.end_reason as string | null) ?? null,
    };
  }

  /** Whether the meeting was locked and who created it; undefined for an unknown meeting. */
  access(id: string): MeetingAccess | undefined {
    const row = this.#db.prepare(
      "SELECT locked, creator_session_id FROM meetings WHERE id = ?",
    ).get(id) as Record<string, unknown> | undefined;
    if (!row) return undefined;
    return {
      locked: row.locked == null || Number(row.locked) !== 0,
      creatorSessionId: (row.creator_session_id as string | null) ?? null,
    };
  }

  /** Whether this session ever held a seat in the meeting (session ids are not secret). */
  heldSeat(meetingId: string, sessionId: string): boolean {
    return this.#db.prepare("SELECT 1 FROM seats WHERE meeting_id = ? AND session_id = ?")
      .get(meetingId, sessionId) !== undefined;
  }

  /**
   * A meeting's newest events and chat lines in order (at most `limit` of each, default
   * {@linkcode MAX_HISTORY_ROWS}), or undefined for an unknown meeting.
   */
  history(id: string, limit: number = MAX_HISTORY_ROWS): MeetingHistory | undefined {
    const meeting = this.meeting(id);
    if (!meeting) return undefined;
    // One row past the limit tells whether older rows were left out.
    const events = this.#db.prepare(
      "SELECT at, type, participant_id, name, detail FROM events WHERE meeting_id = ? " +
        "ORDER BY seq DESC LIMIT ?",
    ).all(id, limit + 1).map((r) => ({
      at: Number(r.at),
      type: r.type as RecordedEventType,
      participantId: (r.participant_id as string | null) ?? null,
      name: (r.name as string | null) ?? null,
      detail: (r.detail as string | null) ?? null,
    }));
    const chat = this.#db.prepare(
      "SELECT at, participant_id, name, text FROM chat WHERE meeting_id = ? " +
        "ORDER BY seq DESC LIMIT ?",
    ).all(id, limit + 1).map((r) => ({
      at: Number(r.at),
      participantId: r.participant_id as string,
      name: r.name as string,
      text: r.text as string,
    }));
    const truncated = { events: events.length > limit, chat: chat.length > limit };
    return {
      meeting,
      events: events.slice(0, limit).reverse(),
      chat: chat.slice(0, limit).reverse(),
      truncated,
    };
  }

  /** A recording began. */
  recordingStarted(
    r: Pick<RecordingRecord, "id" | "meetingId" | "startedAt" | "startedBy" | "owners">,
  ): void {
    this.#db.prepare(
      "INSERT INTO recordings (id, meeting_id, started_at, started_by, state, owners) " +
        "VALUES (?, ?, ?, ?, 'recording', ?)",
    ).run(r.id, r.meetingId, r.startedAt, r.startedBy, JSON.stringify(r.owners));
  }

  /** A recording stopped taking media; its file is being finished. */
  recordingStopped(id: string, at: number, by: string | null, reason: string): void {
    this.#db.prepare(
      "UPDATE recordings SET stopped_at = ?, stopped_by = ?, stop_reason = ?, " +
        "state = 'finishing' WHERE id = ? AND state = 'recording'",
    ).run(at, by, reason, id);
  }

  /** A recording's file is finished (or found, or lost). */
  recordingFinished(
    id: string,
    state: "done" | "recovered" | "failed",
    file: { bytes: number; durationMs: number; switches?: number } | null,
  ): void {
    this.#db.prepare(
      "UPDATE recordings SET state = ?, bytes = ?, duration_ms = ?, switches = ?, " +
        "stopped_at = COALESCE(stopped_at, ?), stop_reason = COALESCE(stop_reason, 'restart') " +
        "WHERE id = ?",
    ).run(
      state,
      file?.bytes ?? null,
      file?.durationMs ?? null,
      file?.switches ?? null,
      this.#clock.now(),
      id,
    );
  }

  /** One recording, if known. */
  recording(id: string): RecordingRecord | undefined {
    const row = this.#db.prepare("SELECT * FROM recordings WHERE id = ?").get(id);
    return row ? recordingOf(row) : undefined;
  }

  /** A meeting's recordings, oldest first (at most 1,000). */
  recordingsOf(meetingId: string): RecordingRecord[] {
    return this.#db.prepare(
      "SELECT * FROM recordings WHERE meeting_id = ? ORDER BY started_at LIMIT 1000",
    ).all(meetingId).map(recordingOf);
  }

  /** Recordings a previous run left running or finishing. */
  unfinishedRecordings(): RecordingRecord[] {
    return this.#db.prepare(
      "SELECT * FROM recordings WHERE state IN ('recording', 'finishing') LIMIT 1000",
    ).all().map(recordingOf);
  }

  /** A meeting's chat lines sent in [fromMs, toMs), oldest first (at most 10,000). */
  chatBetween(meetingId: string, fromMs: number, toMs: number): ChatRecord[] {
    return this.#db.prepare(
      "SELECT at, participant_id, name, text FROM chat WHERE meeting_id = ? AND at >= ? " +
        "AND at < ? ORDER BY seq LIMIT 10000",
    ).all(meetingId, fromMs, toMs).map((r) => ({
      at: Number(r.at),
      participantId: r.participant_id as string,
      name: r.name as string,
      text: r.text as string,
    }));
  }

  /** Whether the database is still open. */
  get isOpen(): boolean {
    return this.#db.isOpen;
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  #follow(meeting: Meeting): void {
    const id = meeting.id;
    this.#insertMeeting.run(
      id,
      meeting.title,
      meeting.creatorName,
      meeting.createdAt,
      meeting.locked ? 1 : 0,
      meeting.creatorSessionId,
    );
    this.#event(id, meeting.createdAt, "created", null, meeting.creatorName, null);
    meeting.on("joined", (p) => {
      this.#insertSeat.run(id, p.sessionId);
      this.#event(id, p.joinedAt, "joined", p.id, p.name, null);
    });
    meeting.on(
      "left",
      (p, reason) => this.#event(id, this.#clock.now(), "left", p.id, p.name, reason),
    );
    meeting.on(
      "chat",
      (m: ChatMessage) => this.#insertChat.run(id, m.at, m.participantId, m.name, m.text),
    );
    meeting.on("recording", (started, stopped) => {
      if (started) {
        this.#event(
          id,
          started.startedAt,
          "recording_started",
          null,
          started.startedBy,
          started.id,
        );
      } else if (stopped) {
        this.#event(id, this.#clock.now(), "recording_stopped", null, stopped.by, stopped.reason);
      }
    });
    meeting.on("closed", (reason: CloseReason) => {
      const at = this.#clock.now();
      this.#endMeeting.run(at, reason, id);
      this.#event(id, at, reason === "cancelled" ? "cancelled" : "ended", null, null, reason);
    });
  }

  #event(
    meetingId: string,
    at: number,
    type: RecordedEventType,
    participantId: string | null,
    name: string | null,
    detail: string | null,
  ): void {
    this.#insertEvent.run(meetingId, at, type, participantId, name, detail);
  }

  #closeLeftovers(): void {
    const at = this.#clock.now();
    const open = this.#db.prepare("SELECT id FROM meetings WHERE ended_at IS NULL").all();
    for (const row of open) {
      this.#endMeeting.run(at, "restart", row.id as string);
      this.#event(row.id as string, at, "ended", null, null, "restart");
    }
  }
}

function recordingOf(row: Record<string, unknown>): RecordingRecord {
  let owners: string[] = [];
  try {
    const parsed = JSON.parse(String(row.owners));
    if (Array.isArray(parsed)) owners = parsed.filter((o) => typeof o === "string");
  } catch { /* none */ }
  return {
    id: row.id as string,
    meetingId: row.meeting_id as string,
    startedAt: Number(row.started_at),
    startedBy: row.started_by as string,
    stoppedAt: row.stopped_at == null ? null : Number(row.stopped_at),
    stoppedBy: (row.stopped_by as string | null) ?? null,
    stopReason: (row.stop_reason as string | null) ?? null,
    state: row.state as RecordingFileState,
    bytes: row.bytes == null ? null : Number(row.bytes),
    durationMs: row.duration_ms == null ? null : Number(row.duration_ms),
    switches: row.switches == null ? null : Number(row.switches),
    owners,
  };
}
