/**
 * A meeting: its participants, chat and life cycle. Pure logic: time comes from a
 * {@linkcode Clock}, and everything that happens is told through typed events.
 *
 * Life cycle: `open` until the creator cancels it (`cancelled`), the last participant
 * leaves, nobody joins within the idle timeout, or the server shuts down (`ended`).
 * A closed meeting accepts nothing.
 *
 * @example
 * ```ts
 * const m = new Meeting({ id: "m1", title: "Standup", creatorSessionId: "s1", creatorName: "Ann" });
 * m.on("chat", (msg) => console.log(msg.name, msg.text));
 * const { participant } = m.join("s1", "Ann");
 * m.sendChat(participant.id, "hello");
 * m.leave(participant.id); // last one out: the meeting ends
 * ```
 * @module
 */

import { type Clock, systemClock, type TimerHandle } from "../util/clock.ts";
import { Emitter } from "../util/emitter.ts";
import { newId, newSsrc, newToken, timingSafeEqual } from "../util/ids.ts";
import { ChatHistory, type ChatMessage, validateChatText } from "./chat.ts";
import { MeetingError } from "./errors.ts";
import {
  decideMode,
  type MediaMode,
  type P2pCapability,
  type P2pPolicy,
  pairKey,
  type PathKind,
} from "./mode.ts";
import { normalizeName, uniqueName } from "./names.ts";
import {
  type Participant,
  type ParticipantInfo,
  participantInfo,
  type ParticipantKind,
} from "./participant.ts";

/** Where a meeting is in its life. */
export type MeetingState = "open" | "cancelled" | "ended";
/** How media flows: directly between two peers, or through the server. */
export type MeetingMode = MediaMode;
/** Why a meeting closed. */
export type CloseReason = "cancelled" | "empty" | "idle" | "shutdown";
/** Why a participant left: on request, or their connection did not come back in time. */
export type LeaveReason = "left" | "timeout" | "removed";

/** What the host may turn off for a participant: its microphone, its camera or its shared screen. */
export type HostMuteKind = "audio" | "video" | "screen";

/**
 * Whether people who hold no seat may join: `open`; `closed` by the host; or `waiting`, in a
 * waiting room until the host admits them. The creator's session and seats held for a dropped
 * connection always come in.
 */
export type NewcomerPolicy = "open" | "closed" | "waiting";

/** Someone in the waiting room, as the host sees them. */
export interface Waiter {
  /** Names this wait (not the session) in `admit` and `deny`. */
  id: string;
  name: string;
  /** ms since the epoch. */
  since: number;
}

/** At most this many people wait at once; more are refused with `limit_reached`. */
export const MAX_WAITING = 50;

/** The reactions a participant may send: they float over its tile for a few seconds. */
export const REACTIONS = ["👍", "👏", "😂", "❤️", "🎉", "😮"] as const;
/** One of {@linkcode REACTIONS}. */
export type Reaction = typeof REACTIONS[number];
/** A participant's reactions are refused closer together than this, ms. */
export const REACTION_INTERVAL_MS = 250;

/** Longest reason a host may give for removing someone, characters. */
export const MAX_REMOVE_REASON = 200;

/**
 * A recording of the meeting while it runs: everyone is told (a notice and an indicator), the
 * pre-join screen too.
 */
export interface RecordingState {
  /** The recording's id (names its file). */
  id: string;
  /** ms since the epoch. */
  startedAt: number;
  /** Who started it (display name). */
  startedBy: string;
}

/** Why a recording stopped. */
export type RecordingStopReason =
  /** The host stopped it. */
  | "stopped"
  /** The meeting ended. */
  | "ended"
  /** It reached the server's longest recording (`--max-recording-minutes`). */
  | "limit"
  /** The disk was too full, or could not keep up. */
  | "disk"
  /** The file could not be written. */
  | "failed";

/** A meeting as the live list shows it. */
export interface MeetingSummary {
  id: string;
  title: string;
  /** The creator's display name. */
  creator: string;
  /** Number of participants. */
  participants: number;
  mode: MeetingMode;
  /** ms since the epoch. */
  createdAt: number;
  /** Whether joining needs a passcode. */
  locked: boolean;
  /** Whether newcomers may join now. */
  newcomers: NewcomerPolicy;
  /** The recording running now, if any. */
  recording: RecordingState | null;
  /**
   * Where the meeting lives when another node of the cluster holds it (`--redis`): its page is
   * `url/m/id`. Absent for the node's own meetings.
   */
  url?: string;
}

/** A meeting with its roster. */
export interface MeetingDetails extends MeetingSummary {
  state: MeetingState;
  roster: ParticipantInfo[];
}

/** Events of a meeting, in the order they happen. */
export type MeetingEvents = {
  /** A new participant took a seat. */
  joined: [participant: Participant];
  /**
   * A participant's connection was lost or came back, their mic or camera was switched, or
   * their media changed path.
   */
  presence: [participant: Participant];
  /** A participant left; their seat is gone. */
  left: [participant: Participant, reason: LeaveReason];
  /** A chat line was accepted. */
  chat: [message: ChatMessage];
  /** The host role moved to this participant (null: nobody is seated). */
  host: [participantId: string | null];
  /** The host turned off a participant's microphone or camera (it may turn it on again). */
  muted: [participant: Participant, kind: HostMuteKind, by: Participant];
  /**
   * A recording started (`recording` set) or stopped (null, with `stopped`: the one that
   * stopped, why, and who stopped it; null when it was not the host).
   */
  recording: [
    recording: RecordingState | null,
    stopped: { recording: RecordingState; reason: RecordingStopReason; by: string | null } | null,
  ];
  /** The host is removing a participant (its `left` follows, with reason `removed`). */
  removing: [participant: Participant, reason: string, by: Participant];
  /** A participant sent a reaction. */
  reaction: [participant: Participant, reaction: Reaction];
  /** The host opened or closed the meeting to newcomers. */
  newcomers: [policy: NewcomerPolicy];
  /** Who waits to be admitted changed. */
  waiting: [waiting: Waiter[]];
  /** The host let this session in (it may join now) or turned it away. */
  admission: [sessionId: string, admitted: boolean];
  /** The media mode changed (P2P with two participants, relay otherwise). */
  mode: [mode: MeetingMode];
  /** The meeting closed; it accepts nothing from now on. Fired once. */
  closed: [reason: CloseReason];
};

/** What a meeting is created with. */
export interface MeetingInit {
  id: string;
  title: string;
  creatorSessionId: string;
  creatorName: string;
  createdAt?: number;
  /** If set, joining needs it (the creator's session excepted). */
  passcode?: string | null;
}

/** Timing of a meeting, injectable for tests. */
export interface MeetingOptions {
  clock?: Clock;
  /** A created meeting nobody joins ends after this long. Default 60 s. */
  idleTimeoutMs?: number;
  /** A participant whose connection drops keeps the seat this long. Default 30 s. */
  graceMs?: number;
  /** `auto` (default): two participants that can go peer to peer do; `off`: always relay. */
  p2p?: P2pPolicy;
  /** Seats a meeting holds at most (default {@linkcode MAX_PARTICIPANTS}). */
  maxParticipants?: number;
}

/** Seats a meeting holds at most by default: a new seat beyond it gets `limit_reached`. */
export const MAX_PARTICIPANTS = 100;

/** How a participant joins. */
export interface JoinOptions {
  /** Default `client`. */
  kind?: ParticipantKind;
  /** How it can reach a peer directly; default none. */
  p2p?: P2pCapability | null;
  /** The meeting's passcode, if it has one. */
  passcode?: unknown;
  /**
   * The caller already checked the right to add this seat (a plain-RTP seat added by the
   * creator or a member): no passcode is asked.
   */
  preauthorized?: boolean;
}

/** Result of {@linkcode Meeting.join}. */
export interface JoinResult {
  participant: Participant;
  /** True when the session already held a seat here (a reconnect), so nobody new joined. */
  resumed: boolean;
}

/** One meeting. Create meetings through {@linkcode MeetingRegistry}. */
export class Meeting extends Emitter<MeetingEvents> {
  readonly id: string;
  readonly title: string;
  readonly creatorSessionId: string;
  readonly creatorName: string;
  readonly createdAt: number;
  /** SSRC of the mix the server sends to this meeting's listeners. */
  readonly mixSsrc = newSsrc();
  #state: MeetingState = "open";
  #mode: MeetingMode = "relay";
  #participants = new Map<string, Participant>();
  #chat = new ChatHistory();
  #chatSeq = 0;
  #clock: Clock;
  #graceMs: number;
  #idleTimer: TimerHandle | undefined;
  #graceTimers = new Map<string, TimerHandle>();
  #p2pPolicy: P2pPolicy;
  /** The participant holding the host role (may end the meeting, hand the role over). */
  #hostId: string | null = null;
  /** Sessions the host removed: they cannot come back into this meeting. */
  #removedSessions = new Set<string>();
  #newcomers: NewcomerPolicy = "open";
  #recording: RecordingState | null = null;
  /** The waiting room, by session id; and the sessions the host let in. */
  #waiting = new Map<string, Waiter>();
  #admitted = new Set<string>();
  /** When each participant last reacted (a seat's entry goes with it). */
  #lastReaction = new Map<string, number>();
  #passcode: string | null;
  #maxParticipants: number;
  #failedPairs = new Set<string>();

  constructor(init: MeetingInit, options: MeetingOptions = {}) {
    super();
    this.#clock = options.clock ?? systemClock;
    this.#graceMs = options.graceMs ?? 30_000;
    this.#p2pPolicy = options.p2p ?? "auto";
    this.#passcode = init.passcode ?? null;
    this.#maxParticipants = options.maxParticipants ?? MAX_PARTICIPANTS;
    this.id = init.id;
    this.title = init.title;
    this.creatorSessionId = init.creatorSessionId;
    this.creatorName = init.creatorName;
    this.createdAt = init.createdAt ?? this.#clock.now();
    this.#idleTimer = this.#clock.setTimeout(() => {
      this.#idleTimer = undefined;
      if (this.#participants.size === 0) this.close("idle");
    }, options.idleTimeoutMs ?? 60_000);
  }

  get state(): MeetingState {
    return this.#state;
  }

  get isOpen(): boolean {
    return this.#state === "open";
  }

  get mode(): MeetingMode {
    return this.#mode;
  }

  /** Whether joining needs a passcode. */
  get locked(): boolean {
    return this.#passcode !== null;
  }

  /** Whether this session would have to give the passcode to join (no seat, not the creator). */
  needsPasscode(sessionId: string): boolean {
    return this.locked && sessionId !== this.creatorSessionId &&
      this.participantOfSession(sessionId) === undefined;
  }

  /** Current participants, in join order. */
  get participants(): Participant[] {
    return [...this.#participants.values()];
  }

  /** The participant with this id, if seated here. */
  participant(id: string): Participant | undefined {
    return this.#participants.get(id);
  }

  /** The seat held by this session, if any. */
  participantOfSession(sessionId: string): Participant | undefined {
    for (const p of this.#participants.values()) if (p.sessionId === sessionId) return p;
    return undefined;
  }

  /**
   * Seats a session under `rawName` (cleaned and made unique here). A session that already
   * holds a seat gets it back (same id and name) and is marked connected.
   */
  join(sessionId: string, rawName: unknown, options: JoinOptions = {}): JoinResult {
    const kind = options.kind ?? "client";
    this.#assertOpen();
    if (this.#removedSessions.has(sessionId)) {
      throw new MeetingError("forbidden", "the host removed you from this meeting");
    }
    const existing = this.participantOfSession(sessionId);
    if (existing) {
      this.#cancelGrace(existing.id);
      if (!existing.connected) {
        existing.connected = true;
        this.emit("presence", existing);
      }
      return { participant: existing, resumed: true };
    }
    if (this.#newcomers === "closed" && sessionId !== this.creatorSessionId) {
      throw new MeetingError("closed_to_newcomers", "the host closed this meeting to newcomers");
    }
    if (this.#participants.size >= this.#maxParticipants) {
      throw new MeetingError(
        "limit_reached",
        `this meeting is full (${this.#maxParticipants} participants)`,
      );
    }
    if (
      this.#passcode !== null && sessionId !== this.creatorSessionId && !options.preauthorized
    ) {
      const given = typeof options.passcode === "string" ? options.passcode : "";
      if (!timingSafeEqual(given, this.#passcode)) {
        throw new MeetingError(
          "wrong_passcode",
          given ? "the passcode is not right" : "this meeting needs a passcode",
        );
      }
    }
    if (
      this.#newcomers === "waiting" && sessionId !== this.creatorSessionId &&
      !this.#admitted.has(sessionId)
    ) {
      this.#wait(sessionId, rawName);
      throw new MeetingError("waiting_for_host", "the host will let you in");
    }
    const name = uniqueName(normalizeName(rawName), this.participants.map((p) => p.name));
    const participant: Participant = {
      id: newId(),
      sessionId,
      name,
      isCreator: sessionId === this.creatorSessionId,
      joinedAt: this.#clock.now(),
      connected: true,
      audioSsrc: this.#freshSsrc(),
      videoSsrc: this.#freshSsrc(),
      smallVideoSsrc: this.#freshSsrc(),
      screenSsrc: this.#freshSsrc(),
      audio: kind === "rtp",
      video: kind === "rtp",
      screen: false,
      kind,
      p2p: kind === "rtp" ? null : options.p2p ?? null,
      mediaKey: newToken(),
      transport: null,
      path: "relay",
      hostMuted: { audio: false, video: false, screen: false },
      handRaised: false,
    };
    if (this.#idleTimer !== undefined) {
      this.#clock.clearTimeout(this.#idleTimer);
      this.#idleTimer = undefined;
    }
    this.#participants.set(participant.id, participant);
    this.emit("joined", participant);
    // The first person in holds the host role until the creator comes (a plain-RTP tool, which
    // has no controls, only while nobody else is seated).
    const host = this.#hostId === null ? undefined : this.#participants.get(this.#hostId);
    if (
      !host || host.kind === "rtp" && kind !== "rtp" || participant.isCreator && !host.isCreator
    ) {
      this.#setHost(participant.id);
    }
    this.#updateMode();
    return { participant, resumed: false };
  }

  /**
   * A participant could not connect to its peer directly: this pair stays on the relay
   * for the rest of the meeting.
   */
  reportP2pFailure(participantId: string): void {
    this.#assertOpen();
    if (!this.#participants.has(participantId)) {
      throw new MeetingError("not_member", "you are not in this meeting");
    }
    const [a, b] = this.participants;
    if (this.#participants.size !== 2 || this.#mode !== "p2p") return;
    this.#failedPairs.add(pairKey(a.id, b.id));
    this.#updateMode();
  }

  /**
   * Records which way a participant's media goes now (it says so as its path changes). `p2p`
   * counts only in p2p mode: a late report after the meeting went back to relay is ignored.
   */
  setPath(participantId: string, path: PathKind): void {
    this.#assertOpen();
    const participant = this.#participants.get(participantId);
    if (!participant) throw new MeetingError("not_member", "you are not in this meeting");
    const effective = this.#mode === "p2p" ? path : "relay";
    if (participant.path === effective) return;
    participant.path = effective;
    this.emit("presence", participant);
  }

  /**
   * Records whether a participant's microphone and camera are on, and whether it shares its
   * screen (`screen` absent: unchanged; a plain-RTP tool cannot share one).
   */
  setMediaState(
    participantId: string,
    state: { audio: boolean; video: boolean; screen?: boolean },
  ): void {
    this.#assertOpen();
    const participant = this.#participants.get(participantId);
    if (!participant) throw new MeetingError("not_member", "you are not in this meeting");
    const screen = participant.kind === "rtp" ? false : state.screen ?? participant.screen;
    // Turning a device on is the participant's own choice, after a host's mute too.
    if (state.audio) participant.hostMuted.audio = false;
    if (state.video) participant.hostMuted.video = false;
    if (screen) participant.hostMuted.screen = false;
    if (
      participant.audio === state.audio && participant.video === state.video &&
      participant.screen === screen
    ) return;
    participant.audio = state.audio;
    participant.video = state.video;
    participant.screen = screen;
    this.emit("presence", participant);
  }

  /**
   * A participant raises or lowers its hand; the host may lower anyone's (`byId`: who does it,
   * the participant itself by default).
   */
  setHand(participantId: string, raised: unknown, byId: string = participantId): void {
    this.#assertOpen();
    if (typeof raised !== "boolean") {
      throw new MeetingError("bad_request", "raised must be true or false");
    }
    const by = this.#participants.get(byId);
    if (!by) throw new MeetingError("not_member", "you are not in this meeting");
    const participant = this.#participants.get(participantId);
    if (!participant) throw new MeetingError("not_found", "no such participant in this meeting");
    if (by !== participant && (raised || by.id !== this.#hostId)) {
      throw new MeetingError("forbidden", "only the host may lower another's hand");
    }
    if (participant.handRaised === raised) return;
    participant.handRaised = raised;
    this.emit("presence", participant);
  }

  /**
   * A participant sends one of {@linkcode REACTIONS}; at most one every
   * {@linkcode REACTION_INTERVAL_MS} (closer ones are refused with `rate_limited`).
   */
  react(participantId: string, reaction: unknown): Reaction {
    this.#assertOpen();
    const participant = this.#participants.get(participantId);
    if (!participant) throw new MeetingError("not_member", "you are not in this meeting");
    if (!(REACTIONS as readonly unknown[]).includes(reaction)) {
      throw new MeetingError("bad_request", `a reaction is one of ${REACTIONS.join(" ")}`);
    }
    const now = this.#clock.now();
    const last = this.#lastReaction.get(participantId);
    if (last !== undefined && now - last < REACTION_INTERVAL_MS) {
      throw new MeetingError("rate_limited", "too many reactions", {
        retryAfterMs: REACTION_INTERVAL_MS - (now - last),
      });
    }
    this.#lastReaction.set(participantId, now);
    this.emit("reaction", participant, reaction as Reaction);
    return reaction as Reaction;
  }

  /** The participant whose audio, video or screen carries this SSRC. */
  participantBySsrc(ssrc: number): Participant | undefined {
    for (const p of this.#participants.values()) {
      if (
        p.audioSsrc === ssrc || p.videoSsrc === ssrc || p.smallVideoSsrc === ssrc ||
        p.screenSsrc === ssrc
      ) return p;
    }
    return undefined;
  }

  /** Removes a participant at once. The last one out ends the meeting. */
  leave(participantId: string, reason: LeaveReason = "left"): void {
    const participant = this.#participants.get(participantId);
    if (!participant) return;
    this.#cancelGrace(participantId);
    this.#participants.delete(participantId);
    this.#lastReaction.delete(participantId);
    this.emit("left", participant, reason);
    if (this.#hostId === participantId) this.#setHost(this.#successor());
    if (this.#participants.size === 0 && this.isOpen) this.close("empty");
    else this.#updateMode();
  }

  /** Marks a participant's connection lost; the seat is kept for the grace period, then freed. */
  disconnect(participantId: string): void {
    const participant = this.#participants.get(participantId);
    if (!participant || !participant.connected) return;
    participant.connected = false;
    this.emit("presence", participant);
    this.#graceTimers.set(
      participantId,
      this.#clock.setTimeout(() => {
        this.#graceTimers.delete(participantId);
        this.leave(participantId, "timeout");
      }, this.#graceMs),
    );
  }

  /** Cancels the meeting for everyone. The creator's session or the host's may. */
  cancel(sessionId: string): void {
    this.#assertOpen();
    const host = this.#hostId === null ? undefined : this.#participants.get(this.#hostId);
    if (sessionId !== this.creatorSessionId && sessionId !== host?.sessionId) {
      throw new MeetingError("forbidden", "only the host or the creator can cancel this meeting");
    }
    this.close("cancelled");
  }

  /** The participant holding the host role, if anyone is seated. */
  get hostId(): string | null {
    return this.#hostId;
  }

  /**
   * The host turns off a participant's microphone, camera or shared screen: the server stops
   * taking that media from it at once, until the participant turns it on again itself.
   */
  hostMute(hostParticipantId: string, targetId: string, kind: HostMuteKind): void {
    const host = this.#requireHost(hostParticipantId);
    const target = this.#participants.get(targetId);
    if (!target) throw new MeetingError("not_found", "no such participant in this meeting");
    target.hostMuted[kind] = true;
    if (target[kind]) {
      target[kind] = false;
      this.emit("presence", target);
    }
    this.emit("muted", target, kind, host);
  }

  /**
   * The host removes a participant, with a reason shown to it (plain text, at most
   * {@linkcode MAX_REMOVE_REASON} characters): it leaves at once, and its session cannot
   * join this meeting again.
   */
  removeParticipant(hostParticipantId: string, targetId: string, rawReason: unknown): void {
    const host = this.#requireHost(hostParticipantId);
    const target = this.#participants.get(targetId);
    if (!target) throw new MeetingError("not_found", "no such participant in this meeting");
    if (target.id === host.id) {
      throw new MeetingError("bad_request", "to leave, leave; the host cannot remove itself");
    }
    if (rawReason !== undefined && typeof rawReason !== "string") {
      throw new MeetingError("bad_request", "the reason must be text");
    }
    const reason = (rawReason ?? "").trim();
    if ([...reason].length > MAX_REMOVE_REASON) {
      throw new MeetingError(
        "bad_request",
        `the reason is longer than ${MAX_REMOVE_REASON} characters`,
      );
    }
    // The creator's session may always come back (it owns the meeting, and may cancel it).
    if (target.sessionId !== this.creatorSessionId) this.#removedSessions.add(target.sessionId);
    this.emit("removing", target, reason, host);
    this.leave(target.id, "removed");
  }

  /** Whether newcomers may join now. */
  get newcomers(): NewcomerPolicy {
    return this.#newcomers;
  }

  /**
   * The host opens the meeting to newcomers or closes it: closed, only the creator's session
   * and seats already held come in.
   */
  setNewcomers(hostParticipantId: string, policy: unknown): void {
    this.#requireHost(hostParticipantId);
    if (policy !== "open" && policy !== "closed" && policy !== "waiting") {
      throw new MeetingError("bad_request", 'newcomers must be "open", "closed" or "waiting"');
    }
    if (policy === this.#newcomers) return;
    this.#newcomers = policy;
    this.emit("newcomers", policy);
    // Leaving the waiting room policy: "open" lets those waiting in, "closed" turns them away.
    if (policy !== "waiting") {
      for (const sessionId of [...this.#waiting.keys()]) this.#decide(sessionId, policy === "open");
    }
  }

  /** Who waits to be admitted, longest first. */
  get waiting(): Waiter[] {
    return [...this.#waiting.values()];
  }

  /** The host lets someone waiting in (`admit`) or turns them away. */
  admit(hostParticipantId: string, waitId: unknown, admit: boolean): void {
    this.#requireHost(hostParticipantId);
    for (const [sessionId, waiter] of this.#waiting) {
      if (waiter.id === waitId) return this.#decide(sessionId, admit);
    }
    throw new MeetingError("not_found", "nobody waits under that id");
  }

  /** A waiting session went away (its connection closed). */
  withdraw(sessionId: string): void {
    if (this.#waiting.delete(sessionId)) this.emit("waiting", this.waiting);
  }

  #wait(sessionId: string, rawName: unknown): void {
    if (this.#waiting.has(sessionId)) return;
    if (this.#waiting.size >= MAX_WAITING) {
      throw new MeetingError("limit_reached", "too many people are waiting to be let in");
    }
    this.#waiting.set(sessionId, {
      id: newId(),
      name: normalizeName(rawName),
      since: this.#clock.now(),
    });
    this.emit("waiting", this.waiting);
  }

  #decide(sessionId: string, admit: boolean): void {
    this.#waiting.delete(sessionId);
    if (admit) this.#admitted.add(sessionId);
    this.emit("waiting", this.waiting);
    this.emit("admission", sessionId, admit);
  }

  #requireHost(participantId: string): Participant {
    this.#assertOpen();
    const participant = this.#participants.get(participantId);
    if (!participant) throw new MeetingError("not_member", "you are not in this meeting");
    if (participant.id !== this.#hostId) {
      throw new MeetingError("forbidden", "only the host may do that");
    }
    return participant;
  }

  /** The recording running now, if any. */
  get recording(): RecordingState | null {
    return this.#recording;
  }

  /**
   * The host starts a recording (`id` names it; the server makes its file). One at a time:
   * `recording_state` while one runs.
   */
  startRecording(hostParticipantId: string, id: string, atMs: number): RecordingState {
    const host = this.#requireHost(hostParticipantId);
    if (this.#recording) {
      throw new MeetingError("recording_state", "this meeting is being recorded already");
    }
    const recording: RecordingState = { id, startedAt: atMs, startedBy: host.name };
    this.#recording = recording;
    this.emit("recording", recording, null);
    this.#updateMode();
    return recording;
  }

  /**
   * Stops the recording: by the host (`byParticipantId`), or by the server (null) for
   * `reason`. `recording_state` when none runs.
   */
  stopRecording(byParticipantId: string | null, reason: RecordingStopReason): RecordingState {
    const by = byParticipantId === null ? null : this.#requireHost(byParticipantId);
    const recording = this.#recording;
    if (!recording) throw new MeetingError("recording_state", "this meeting is not being recorded");
    this.#recording = null;
    this.emit("recording", null, { recording, reason, by: by?.name ?? null });
    this.#updateMode();
    return recording;
  }

  /** The host hands the role to another participant of this meeting. */
  handOverHost(fromParticipantId: string, toParticipantId: string): void {
    this.#assertOpen();
    if (!this.#participants.has(fromParticipantId)) {
      throw new MeetingError("not_member", "you are not in this meeting");
    }
    if (fromParticipantId !== this.#hostId) {
      throw new MeetingError("forbidden", "only the host can hand the host role over");
    }
    const to = this.#participants.get(toParticipantId);
    if (!to || to.kind === "rtp") {
      throw new MeetingError("not_found", "no such participant in this meeting to make host");
    }
    this.#setHost(to.id);
  }

  /** Accepts a chat line from a participant and stamps it with the server's time. */
  sendChat(participantId: string, rawText: unknown): ChatMessage {
    this.#assertOpen();
    const participant = this.#participants.get(participantId);
    if (!participant) throw new MeetingError("not_member", "you are not in this meeting");
    const text = validateChatText(rawText);
    const message: ChatMessage = {
      id: ++this.#chatSeq,
      participantId,
      name: participant.name,
      text,
      at: this.#clock.now(),
    };
    this.#chat.add(message);
    this.emit("chat", message);
    return message;
  }

  /** The most recent chat lines (at most 100), oldest first. */
  recentChat(): ChatMessage[] {
    return this.#chat.recent();
  }

  /** Closes the meeting: timers stop, seats are dropped, `closed` fires once. */
  close(reason: CloseReason): void {
    if (!this.isOpen) return;
    this.#state = reason === "cancelled" ? "cancelled" : "ended";
    if (this.#idleTimer !== undefined) this.#clock.clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    for (const handle of this.#graceTimers.values()) this.#clock.clearTimeout(handle);
    this.#graceTimers.clear();
    const recording = this.#recording;
    if (recording) {
      this.#recording = null;
      this.emit("recording", null, { recording, reason: "ended", by: null });
    }
    this.emit("closed", reason);
    this.#participants.clear();
    this.removeAllListeners();
  }

  summary(): MeetingSummary {
    return {
      id: this.id,
      title: this.title,
      creator: this.creatorName,
      participants: this.#participants.size,
      mode: this.#mode,
      createdAt: this.createdAt,
      locked: this.locked,
      newcomers: this.#newcomers,
      recording: this.#recording,
    };
  }

  details(): MeetingDetails {
    return {
      ...this.summary(),
      state: this.#state,
      roster: this.participants.map((p) => participantInfo(p, this.#mode, this.#hostId)),
    };
  }

  #assertOpen(): void {
    if (!this.isOpen) {
      throw new MeetingError("meeting_closed", `this meeting was ${this.#state}`);
    }
  }

  #setHost(participantId: string | null): void {
    if (this.#hostId === participantId) return;
    this.#hostId = participantId;
    this.emit("host", participantId);
  }

  /**
   * Who takes the host role when its holder leaves: the creator if seated, else whoever has
   * been in the meeting longest (a plain-RTP tool never), else whoever is left.
   */
  #successor(): string | null {
    const seated = this.participants;
    const people = seated.filter((p) => p.kind !== "rtp");
    const pick = people.find((p) => p.isCreator) ??
      people.reduce<Participant | undefined>(
        (a, p) => (!a || p.joinedAt < a.joinedAt ? p : a),
        undefined,
      ) ??
      seated[0];
    return pick?.id ?? null;
  }

  #updateMode(): void {
    if (!this.isOpen) return;
    // A recording needs the media at the server: the meeting stays on the relay while it runs.
    const mode = this.#recording
      ? "relay"
      : decideMode(this.participants, this.#p2pPolicy, this.#failedPairs);
    if (mode === this.#mode) return;
    this.#mode = mode;
    if (mode === "relay") { for (const p of this.#participants.values()) p.path = "relay"; }
    this.emit("mode", mode);
  }

  #freshSsrc(): number {
    for (;;) {
      const ssrc = newSsrc();
      if (ssrc !== this.mixSsrc && !this.participantBySsrc(ssrc)) return ssrc;
    }
  }

  #cancelGrace(participantId: string): void {
    const handle = this.#graceTimers.get(participantId);
    if (handle !== undefined) this.#clock.clearTimeout(handle);
    this.#graceTimers.delete(participantId);
  }
}
