/**
 * The Hub owns the server's live state: the meeting registry, sessions, records, one
 * {@linkcode Room} per live meeting, and the connections watching the meeting list.
 * and the server's one {@linkcode MediaClock}. Control connections, REST and the media
 * endpoints talk to the hub; `close()` cascades to everything.
 *
 * @example
 * ```ts
 * import { Records } from "./records.ts";
 * import { serverOpusCodecs as codecs } from "./server.ts";
 *
 * const hub = new Hub({ records: Records.open(":memory:"), codecs });
 * const meeting = hub.registry.create({ title: "T", creatorSessionId: "s", creatorName: "Ann" });
 * hub.room(meeting.id).connectedCount; // 0
 * hub.close();
 * ```
 * @module
 */

import { MeetingError } from "../meeting/errors.ts";
import type { Meeting, MeetingOptions, MeetingSummary } from "../meeting/meeting.ts";
import type { Participant } from "../meeting/participant.ts";
import { normalizeName } from "../meeting/names.ts";
import { type CreateMeeting, MeetingRegistry } from "../meeting/registry.ts";
import type { ServerMessage } from "../protocol/control.ts";
import { systemClock } from "../util/clock.ts";
import { addressKey } from "../util/rate_limiter.ts";
import { timingSafeEqual } from "../util/ids.ts";
import { Throttle } from "../util/throttle.ts";
import { type AccessLimitOptions, AccessLimits } from "./limits.ts";
import type { Records } from "./records.ts";
import { MediaClock } from "./media_clock.ts";
import type { MediaCounters, OpusCodecs } from "./media_room.ts";
import type { MixerStats } from "../media/mixer.ts";
import { Recorder, type RecorderOptions } from "./recorder.ts";
import { Room } from "./room.ts";
import type { WebTransportInfo } from "../protocol/media.ts";
import type { Cluster } from "./cluster.ts";
import { type Session, SessionStore } from "./sessions.ts";

/** The live list (REST and WebSocket) shows at most this many meetings, the newest. */
export const LIST_MAX_MEETINGS = 500;

/**
 * List subscribers get at most one `meetings` message per this many ms: the first change
 * after a quiet period goes out at once, later ones together when the interval ends.
 */
export const LIST_INTERVAL_MS = 250;

/** Options of the hub; timings are injectable for tests. */
export interface HubOptions extends MeetingOptions {
  records: Records;
  /** Opus codecs for the mixers. */
  codecs: OpusCodecs;
  /** How many of the loudest speakers each mixer mixes (default 3). */
  mixSpeakers?: number;
  /** The media clock of every meeting (default: a real one; tests inject one they drive). */
  mediaClock?: MediaClock;
  /** Sessions unused this long, holding no seat and no live meeting, are forgotten. Default 1 h. */
  sessionIdleMs?: number;
  /** Overrides of the access limits (see `DEFAULT_ACCESS_LIMITS`). */
  limits?: Partial<AccessLimitOptions>;
  /** Default {@linkcode LIST_INTERVAL_MS}. */
  listIntervalMs?: number;
  /** Recording: where files go (null or absent: off), limits. */
  recordings?: Omit<RecorderOptions, "records" | "notify">;
}

/** A seat found by its media key: the room it is in and the participant. */
export interface Seat {
  room: Room;
  participant: Participant;
}

/** Something that wants the live meeting list. */
export interface ListSubscriber {
  /** Sends an already serialised message (one string shared by every subscriber). */
  sendText(text: string): void;
}

/** The server's live state. */
export class Hub {
  readonly registry: MeetingRegistry;
  readonly sessions: SessionStore;
  readonly records: Records;
  /** Server-wide counters of refused input. */
  readonly counters = { rateLimited: 0, badOrigin: 0 };
  /**
   * Where pages open their WebTransport session (the join reply's `media.webTransport`), when
   * the server has a WebTransport endpoint; set by the server once it is open.
   */
  webTransportInfo: (() => WebTransportInfo) | undefined;
  /**
   * The other nodes' meetings, when this server is one node of a cluster (`--redis`): the
   * live list shows them too, and clients are sent to the node that holds them.
   */
  cluster: Cluster | undefined;
  #rooms = new Map<string, Room>();
  /** Ticks every meeting's mixer; media endpoints that batch input drain on it. */
  readonly mediaClock: MediaClock;
  /** Limits on creates, passcode guesses and sessions. */
  readonly limits: AccessLimits;
  /** The meetings' recordings. */
  readonly recorder: Recorder;
  #listSubscribers = new Set<ListSubscriber>();
  #listUpdate: Throttle;
  /** Open meetings by the address key they were created from. */
  #openByAddress = new Map<string, number>();
  #sweepTimer: ReturnType<typeof setInterval>;
  #closed = false;
  #draining = false;
  /** The media counters and mixer figures of the meetings that closed, summed. */
  #pastMedia: MediaTotals = emptyMediaTotals();

  constructor(options: HubOptions) {
    this.records = options.records;
    this.mediaClock = options.mediaClock ?? new MediaClock();
    this.registry = new MeetingRegistry(options);
    this.sessions = new SessionStore({ clock: options.clock });
    this.limits = new AccessLimits(options.limits, options.clock);
    this.#listUpdate = new Throttle(
      () => this.#sendList(),
      options.listIntervalMs ?? LIST_INTERVAL_MS,
      options.clock ?? systemClock,
    );
    this.records.attach(this.registry);
    this.recorder = new Recorder({
      dir: null,
      ...options.recordings,
      records: this.records,
      notify: (meetingId, message) => this.#rooms.get(meetingId)?.broadcast(message),
    });
    this.recorder.attach(this.registry);
    this.registry.on("created", (meeting) => {
      const room = new Room(meeting, {
        codecs: options.codecs,
        mixSpeakers: options.mixSpeakers,
        clock: this.mediaClock,
      });
      this.#rooms.set(meeting.id, room);
    });
    this.registry.on("closed", (meeting) => {
      const room = this.#rooms.get(meeting.id);
      if (room) addMediaTotals(this.#pastMedia, room.media.counters, room.media.mixerStats);
      this.#rooms.delete(meeting.id);
      this.limits.meetingClosed(meeting.id);
    });
    this.registry.on("changed", () => this.#listUpdate.request());
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

  /**
   * The seat whose media key is `mediaKey`, and its room: how a media carrier (a UDP bind, a
   * WebTransport session) proves which seat it carries. Only our clients' seats can be bound
   * this way (a plain-RTP seat is bound by the REST API). Keys are compared in constant time.
   * With `meetingId`, only that meeting is searched (what the UDP bind sends); without, every
   * live meeting (cost: one comparison per seat on the server).
   *
   * @example
   * ```ts
   * import type { MediaTransport } from "./media_transport.ts";
   *
   * function bind(hub: Hub, key: string, meetingId: string, transport: MediaTransport) {
   *   const seat = hub.seatByMediaKey(key, meetingId);
   *   if (seat) seat.room.attachMedia(seat.participant.id, transport);
   * }
   * ```
   */
  seatByMediaKey(mediaKey: string, meetingId?: string): Seat | undefined {
    const rooms = meetingId === undefined
      ? this.#rooms.values()
      : [this.#rooms.get(meetingId)].filter((r): r is Room => r !== undefined);
    for (const room of rooms) {
      for (const participant of room.meeting.participants) {
        if (participant.kind === "client" && timingSafeEqual(participant.mediaKey, mediaKey)) {
          return { room, participant };
        }
      }
    }
    return undefined;
  }

  /**
   * Creates a meeting for a client at `clientAddress`, within the limits: throws
   * `rate_limited` (too many creates from this address lately) or `limit_reached` (too many
   * open meetings from this address, or on the server), and then has made nothing. Without
   * a `creator` session (REST), one is made, named after the creator.
   *
   * @example
   * ```ts
   * import type { Session } from "./sessions.ts";
   *
   * function create(hub: Hub, session: Session) {
   *   const init = { title: "T", creatorName: "Ann" };
   *   const { meeting } = hub.createMeeting(init, "127.0.0.1", session);
   *   return meeting;
   * }
   * ```
   */
  createMeeting(
    init: Omit<CreateMeeting, "creatorSessionId">,
    clientAddress: string,
    creator?: Session,
  ): { meeting: Meeting; creator: Session } {
    if (this.#draining) {
      throw new MeetingError(
        "draining",
        "this server is shutting down and takes no new meetings; try again shortly",
      );
    }
    const { maxOpenMeetings, openMeetingsPerAddress } = this.limits.options;
    const key = addressKey(clientAddress);
    if (this.registry.size >= maxOpenMeetings) {
      throw new MeetingError("limit_reached", "the server holds too many meetings; try later");
    }
    if ((this.#openByAddress.get(key) ?? 0) >= openMeetingsPerAddress) {
      throw new MeetingError(
        "limit_reached",
        `at most ${openMeetingsPerAddress} open meetings may be created from one address`,
      );
    }
    // Checked before anything is made: a refused create leaves no session behind.
    const creatorName = normalizeName(init.creatorName);
    this.limits.takeCreate(clientAddress);
    const session = creator ?? this.sessions.create(creatorName);
    const meeting = this.registry.create({ ...init, creatorName, creatorSessionId: session.id });
    this.#openByAddress.set(key, (this.#openByAddress.get(key) ?? 0) + 1);
    meeting.on("closed", () => {
      const left = (this.#openByAddress.get(key) ?? 1) - 1;
      if (left > 0) this.#openByAddress.set(key, left);
      else this.#openByAddress.delete(key);
    });
    return { meeting, creator: session };
  }

  /**
   * A new session for a client at `clientAddress`: throws `rate_limited` when this address
   * made too many lately, `limit_reached` when the server holds too many.
   *
   * @example
   * ```ts
   * function signIn(hub: Hub) {
   *   const session = hub.createSession("Ann", "127.0.0.1");
   *   return session;
   * }
   * ```
   */
  createSession(name: string, clientAddress: string): Session {
    // Unused sessions are swept every minute (after `sessionIdleMs`); until then, refuse.
    if (this.sessions.size >= this.limits.options.maxSessions) {
      throw new MeetingError("limit_reached", "the server holds too many sessions; try later");
    }
    this.limits.takeSession(clientAddress);
    return this.sessions.create(name);
  }

  /** Whether the server is draining (no new meetings). */
  get draining(): boolean {
    return this.#draining;
  }

  /**
   * Starts draining: no new meetings (`draining`), and every live one is told; they go on
   * until they end. Idempotent.
   */
  drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    for (const room of this.#rooms.values()) {
      room.broadcast({ type: "draining", meetingId: room.id });
    }
  }

  /** Every live room (for the metrics). */
  rooms(): IterableIterator<Room> {
    return this.#rooms.values();
  }

  /** Media counters and mixer figures of every meeting so far, live and closed, summed. */
  mediaTotals(): MediaTotals {
    const totals = structuredClone(this.#pastMedia);
    for (const room of this.#rooms.values()) {
      addMediaTotals(totals, room.media.counters, room.media.mixerStats);
    }
    return totals;
  }

  /**
   * The live list: open meetings, newest first, at most {@linkcode LIST_MAX_MEETINGS}; in a
   * cluster, the other nodes' too (each with the `url` of its node).
   */
  list(): MeetingSummary[] {
    const own = this.ownList();
    const others = this.cluster?.directory.list() ?? [];
    if (others.length === 0) return own;
    return [...own, ...others].sort((a, b) => b.createdAt - a.createdAt)
      .slice(0, LIST_MAX_MEETINGS);
  }

  /** This node's own live meetings (what it publishes to its cluster). */
  ownList(): MeetingSummary[] {
    return this.registry.list(LIST_MAX_MEETINGS);
  }

  /**
   * Where meeting `id` lives when another node of the cluster holds it (its node's address),
   * else undefined (this node's, or unknown).
   */
  elsewhere(id: string): string | undefined {
    if (this.registry.get(id)) return undefined;
    return this.cluster?.directory.locate(id)?.url;
  }

  /** The list changed elsewhere (another node): it goes out to subscribers. */
  listChanged(): void {
    this.#listUpdate.request();
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

  /**
   * Ends every meeting, lets the recordings' files be finished (at most `settleMs`), then
   * closes everything (see {@linkcode Hub.close}).
   */
  async shutdown(settleMs = 15_000): Promise<void> {
    if (this.#closed) return;
    this.registry.close();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.recorder.settle(),
      new Promise((resolve) => timer = setTimeout(resolve, settleMs)),
    ]);
    clearTimeout(timer);
    this.close();
  }

  /** Ends every meeting, stops timers, closes the records. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweepTimer);
    this.#listUpdate.stop();
    this.recorder.close();
    this.registry.close();
    this.mediaClock.close();
    this.#listSubscribers.clear();
    this.records.close();
  }

  // One list for every subscriber, serialised once, at most once per list interval.
  #sendList(): void {
    if (this.#closed || this.#listSubscribers.size === 0) return;
    const message: ServerMessage = { type: "meetings", meetings: this.list() };
    const text = JSON.stringify(message);
    for (const subscriber of this.#listSubscribers) subscriber.sendText(text);
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

/** Media counters and mixer figures summed over meetings (see {@linkcode Hub.mediaTotals}). */
export interface MediaTotals {
  counters: MediaCounters;
  mixer: MixerStats;
}

/** Totals before any meeting: fields appear as meetings add theirs (read missing ones as 0). */
function emptyMediaTotals(): MediaTotals {
  return { counters: {} as MediaCounters, mixer: {} as MixerStats };
}

/** Adds numbers field by field (nested objects too). */
function addInto(into: Record<string, unknown>, from: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(from)) {
    if (typeof value === "number") into[key] = ((into[key] as number | undefined) ?? 0) + value;
    else if (value && typeof value === "object") {
      into[key] ??= {};
      addInto(into[key] as Record<string, unknown>, value as Record<string, unknown>);
    }
  }
}

function addMediaTotals(totals: MediaTotals, counters: MediaCounters, mixer: MixerStats): void {
  addInto(
    totals.counters as unknown as Record<string, unknown>,
    counters as unknown as Record<string, unknown>,
  );
  addInto(
    totals.mixer as unknown as Record<string, unknown>,
    mixer as unknown as Record<string, unknown>,
  );
}
