/**
 * The Hub owns the server's live state: the meeting registry, sessions, records, one
 * {@linkcode Room} per live meeting, and the connections watching the meeting list.
 * Transports (WebSocket, REST) talk to the hub; `close()` cascades to everything.
 *
 * @example
 * ```ts
 * const hub = new Hub({ records: Records.open(":memory:") });
 * const meeting = hub.registry.create({ title: "T", creatorSessionId: "s", creatorName: "Ann" });
 * hub.room(meeting.id).connectedCount; // 0
 * hub.close();
 * ```
 * @module
 */

import { MeetingError } from "../meeting/errors.ts";
import type { MeetingOptions } from "../meeting/meeting.ts";
import { normalizeName } from "../meeting/names.ts";
import { MeetingRegistry } from "../meeting/registry.ts";
import type { ServerMessage } from "../protocol/control.ts";
import type { Records } from "./records.ts";
import type { OpusCodecs } from "./media_room.ts";
import { Room } from "./room.ts";
import { SessionStore } from "./sessions.ts";

/** Options of the hub; timings are injectable for tests. */
export interface HubOptions extends MeetingOptions {
  records: Records;
  /** Opus codecs for the mixers. */
  codecs: OpusCodecs;
  /** How many of the loudest speakers each mixer mixes (default 3). */
  mixSpeakers?: number;
  /** Called before every mixer tick of every meeting (see `MediaRoomOptions.beforeTick`). */
  beforeTick?(): void;
  /** Sessions unused this long, holding no seat and no live meeting, are forgotten. Default 1 h. */
  sessionIdleMs?: number;
}

/** Something that wants the live meeting list. */
export interface ListSubscriber {
  send(message: ServerMessage): void;
}

/** The server's live state. */
export class Hub {
  readonly registry: MeetingRegistry;
  readonly sessions: SessionStore;
  readonly records: Records;
  /** Server-wide counters of refused input. */
  readonly counters = { rateLimited: 0, badOrigin: 0 };
  #rooms = new Map<string, Room>();
  #listSubscribers = new Set<ListSubscriber>();
  #listPending = false;
  #sweepTimer: ReturnType<typeof setInterval>;
  #closed = false;

  constructor(options: HubOptions) {
    this.records = options.records;
    this.registry = new MeetingRegistry(options);
    this.sessions = new SessionStore({ clock: options.clock });
    this.records.attach(this.registry);
    this.registry.on("created", (meeting) => {
      const room = new Room(meeting, {
        codecs: options.codecs,
        mixSpeakers: options.mixSpeakers,
        beforeTick: options.beforeTick,
      });
      this.#rooms.set(meeting.id, room);
    });
    this.registry.on("closed", (meeting) => this.#rooms.delete(meeting.id));
    this.registry.on("changed", () => this.#scheduleListUpdate());
    const idleMs = options.sessionIdleMs ?? 3_600_000;
    this.#sweepTimer = setInterval(() => {
      this.sessions.sweep(idleMs, (s) => this.#sessionInUse(s.id));
    }, Math.min(idleMs, 60_000));
  }

  /** The room of a live meeting, if any. */
  findRoom(meetingId: string): Room | undefined {
    return this.#rooms.get(meetingId);
  }

  /** The room of a live meeting; throws `not_found` for anything else. */
  room(meetingId: string): Room {
    const room = this.#rooms.get(meetingId);
    if (!room) throw new MeetingError("not_found", "no such live meeting");
    return room;
  }

  /** Cleans a display name (throws `invalid_name`). */
  normalizeName(raw: unknown): string {
    return normalizeName(raw);
  }

  subscribeList(subscriber: ListSubscriber): void {
    this.#listSubscribers.add(subscriber);
  }

  unsubscribeList(subscriber: ListSubscriber): void {
    this.#listSubscribers.delete(subscriber);
  }

  /** Ends every meeting, stops timers, closes the records. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweepTimer);
    this.registry.close();
    this.#listSubscribers.clear();
    this.records.close();
  }

  // Many changes in one turn (a meeting cancelled with ten people in it) send one list.
  #scheduleListUpdate(): void {
    if (this.#listPending || this.#closed) return;
    this.#listPending = true;
    queueMicrotask(() => {
      this.#listPending = false;
      if (this.#closed || this.#listSubscribers.size === 0) return;
      const message: ServerMessage = { type: "meetings", meetings: this.registry.list() };
      for (const subscriber of this.#listSubscribers) subscriber.send(message);
    });
  }

  #sessionInUse(sessionId: string): boolean {
    for (const room of this.#rooms.values()) {
      const meeting = room.meeting;
      if (meeting.creatorSessionId === sessionId || meeting.participantOfSession(sessionId)) {
        return true;
      }
    }
    return false;
  }
}
