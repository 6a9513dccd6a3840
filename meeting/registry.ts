/**
 * The registry of live meetings: creates them, finds them, lists them, and forgets them when
 * they close. Each meeting lives on its own; nothing is shared between meetings.
 *
 * @example
 * ```ts
 * const registry = new MeetingRegistry();
 * registry.on("changed", () => console.log(registry.list()));
 * const meeting = registry.create({ title: "Standup", creatorSessionId: "s1", creatorName: "Ann" });
 * meeting.join("s1", "Ann");
 * registry.close(); // shuts every meeting down
 * ```
 * @module
 */

import { type Clock, systemClock } from "../util/clock.ts";
import { Emitter } from "../util/emitter.ts";
import { newId } from "../util/ids.ts";
import { MeetingError } from "./errors.ts";
import {
  type CloseReason,
  Meeting,
  type MeetingOptions,
  type MeetingState,
  type MeetingSummary,
} from "./meeting.ts";
import { normalizeName, normalizePasscode, normalizeTitle } from "./names.ts";

/** Events of the registry. */
export type RegistryEvents = {
  /** A meeting was created; subscribe to its own events here. */
  created: [meeting: Meeting];
  /** Something the live list shows changed (a meeting appeared, closed, or its count moved). */
  changed: [];
  /** A meeting closed and was removed from the registry. */
  closed: [meeting: Meeting, reason: CloseReason];
};

/** What {@linkcode MeetingRegistry.create} needs. */
export interface CreateMeeting {
  title: unknown;
  creatorSessionId: string;
  creatorName: unknown;
  /** Optional passcode needed to join. */
  passcode?: unknown;
}

/** How many closed meeting ids are remembered so a late join gets "closed", not "not found". */
const CLOSED_MEMORY = 10_000;

/** Every live meeting of the server. */
export class MeetingRegistry extends Emitter<RegistryEvents> {
  #meetings = new Map<string, Meeting>();
  #closed = new Map<string, MeetingState>();
  #options: MeetingOptions & { clock: Clock };

  constructor(options: MeetingOptions = {}) {
    super();
    this.#options = { ...options, clock: options.clock ?? systemClock };
  }

  /** Creates a meeting; its creator is then expected to join it. */
  create(init: CreateMeeting): Meeting {
    const meeting = new Meeting({
      id: this.#freshId(),
      title: normalizeTitle(init.title),
      creatorSessionId: init.creatorSessionId,
      creatorName: normalizeName(init.creatorName),
      passcode: normalizePasscode(init.passcode),
    }, this.#options);
    this.#meetings.set(meeting.id, meeting);
    const changed = () => this.emit("changed");
    meeting.on("joined", changed);
    meeting.on("left", changed);
    meeting.on("mode", changed);
    meeting.on("newcomers", changed);
    meeting.on("closed", (reason) => {
      this.#meetings.delete(meeting.id);
      this.#closed.set(meeting.id, meeting.state);
      if (this.#closed.size > CLOSED_MEMORY) {
        this.#closed.delete(this.#closed.keys().next().value!);
      }
      this.emit("closed", meeting, reason);
      this.emit("changed");
    });
    this.emit("created", meeting);
    this.emit("changed");
    return meeting;
  }

  /** The open meeting with this id, if any. */
  get(id: string): Meeting | undefined {
    return this.#meetings.get(id);
  }

  /** The open meeting with this id; throws `not_found` or `meeting_closed` otherwise. */
  require(id: unknown): Meeting {
    if (typeof id !== "string") throw new MeetingError("bad_request", "meetingId must be a string");
    const meeting = this.#meetings.get(id);
    if (meeting) return meeting;
    const state = this.#closed.get(id);
    if (state) throw new MeetingError("meeting_closed", `this meeting was ${state}`);
    throw new MeetingError("not_found", `no meeting with id "${id.slice(0, 40)}"`);
  }

  /** Open meetings, newest first (in order of creation: ties in `createdAt` too), at most `limit`. */
  list(limit = Infinity): MeetingSummary[] {
    const meetings = [...this.#meetings.values()];
    const summaries: MeetingSummary[] = [];
    for (let i = meetings.length - 1; i >= 0 && summaries.length < limit; i--) {
      summaries.push(meetings[i].summary());
    }
    return summaries;
  }

  /** Number of open meetings. */
  get size(): number {
    return this.#meetings.size;
  }

  /** Ends every meeting (server shutdown). */
  close(): void {
    for (const meeting of [...this.#meetings.values()]) meeting.close("shutdown");
  }

  #freshId(): string {
    for (;;) {
      const id = newId();
      if (!this.#meetings.has(id) && !this.#closed.has(id)) return id;
    }
  }
}
