/**
 * The terminal client's control session: one {@linkcode ControlClient} over npm:ws,
 * identified with a name, holding at most one meeting. It keeps what it needs to survive a
 * dropped connection: on reconnect it identifies again with its token, subscribes again to
 * the live list if it was, and takes back its seat (`join` answers `resumed: true`: the
 * same participant id and name, and the others see no leave or join), then says `restored`
 * so that media can bind again; chat lines said meanwhile are passed on. It joins with the P2P capability `udp` (unless told not to),
 * and passes on the meeting's `mode` and the peer's observed address (`peer`).
 *
 * @example
 * ```ts
 * async function standup() {
 *   const session = await TerminalControl.open("ws://127.0.0.1:8000/ws", "Ann");
 *   session.on("chat", (meetingId, message) => console.log(message.name, message.text));
 *   const meeting = await session.create("Standup");
 *   await session.chat("hello");
 *   await session.leave();
 *   session.close();
 * }
 * ```
 * @module
 */

import WebSocket from "ws";
import { ControlClient, ControlError, type WebSocketLike } from "../client/control_client.ts";
import type { ChatMessage } from "../meeting/chat.ts";
import type { PathKind } from "../meeting/mode.ts";
import type {
  HostMuteKind,
  MeetingMode,
  MeetingSummary,
  Reaction,
  RecordingState,
  RecordingStopReason,
} from "../meeting/meeting.ts";
import type { ParticipantInfo } from "../meeting/participant.ts";
import { type RosterChange, rosterChanges } from "../meeting/roster_changes.ts";
import type { JoinReply, RemovedReason } from "../protocol/control.ts";
import type { SeatMedia } from "../protocol/media.ts";
import { Emitter } from "../util/emitter.ts";

/**
 * The meeting the session is in.
 *
 * @example
 * ```ts
 * function show(session: TerminalControl) {
 *   const meeting: MeetingState | null = session.meeting;
 *   if (meeting) console.log(meeting.title, meeting.roster.length);
 * }
 * ```
 */
export interface MeetingState {
  id: string;
  title: string;
  participantId: string;
  /** Your name in this meeting (may carry a suffix when the name was taken). */
  name: string;
  media: SeatMedia;
  roster: ParticipantInfo[];
  /** How media flows: `p2p` (straight to the one peer) or `relay` (through the server). */
  mode: MeetingMode;
  /** The newest chat line seen (lines missed while reconnecting are passed on after it). */
  lastChatId: number;
}

/**
 * The peer's address as the server observed it (P2P over UDP).
 *
 * @example
 * ```ts
 * function watchPeer(session: TerminalControl) {
 *   session.on("peer", (meeting, peer) => console.log(peer.participantId, peer.ip, peer.port));
 * }
 * ```
 */
export interface PeerEvent {
  participantId: string;
  ip: string;
  port: number;
}

/**
 * Events of a {@linkcode TerminalControl}.
 *
 * @example
 * ```ts
 * const events: (keyof TerminalControlEvents)[] = ["chat", "roster", "left"];
 * ```
 */
export type TerminalControlEvents = {
  /** The connection dropped (`lost`), or came back with the seat retaken (`restored`). */
  connection: [state: "lost" | "restored"];
  /** The live list of meetings (after subscribing), on every change. */
  meetings: [meetings: MeetingSummary[]];
  /** The roster of your meeting changed. */
  roster: [meeting: MeetingState, changes: RosterChange[]];
  /** The meeting's media mode changed (also after a reconnection that missed the event). */
  mode: [meeting: MeetingState, mode: MeetingMode];
  /** In P2P mode: where the peer's media socket is, as the server sees it. */
  peer: [meeting: MeetingState, peer: PeerEvent];
  /** The mixer's advice: our audio reaches it steadily `earlyMs` before it is mixed. */
  mixTiming: [meeting: MeetingState, earlyMs: number];
  /** A chat line in your meeting (yours included). */
  chat: [meetingId: string, message: ChatMessage];
  /** You are out of the meeting without asking (or could not get back in). */
  left: [meeting: MeetingState, reason: RemovedReason | "rejoin_failed", message?: string];
  /** `join` found a waiting room: it waits for the host (and joins once let in). */
  waiting: [meetingId: string];
  /** A member (`participantId`, you too) sent a reaction. */
  reaction: [meeting: MeetingState, participantId: string, reaction: string];
  /** The host (`by`, its name) turned off your microphone (`audio`) or camera (`video`). */
  muted: [meeting: MeetingState, kind: HostMuteKind, by: string];
  /** A recording of the meeting started, stopped, or was saved. */
  recording: [
    meeting: MeetingState,
    change:
      | { started: RecordingState }
      | { stopped: { reason: RecordingStopReason; by: string | null } }
      | { saved: { durationMs: number; bytes: number } },
  ];
  /** Something failed in the background (a reconnection step). */
  error: [code: string, message: string];
};

/**
 * Options of {@linkcode TerminalControl.open}.
 *
 * @example
 * ```ts
 * const options: TerminalControlOptions = { connectTimeoutMs: 5000 };
 * ```
 */
export interface TerminalControlOptions {
  /** Give up connecting after this long (default 10 s). */
  connectTimeoutMs?: number;
  /** A request without an answer fails after this long (default 10 s). */
  requestTimeoutMs?: number;
  /** Offer to send media peer to peer over UDP (default true). */
  p2p?: boolean;
}

/**
 * npm:ws delivering one message per task, as browsers do. By default it emits every message
 * of a received chunk in the same tick, so an event right behind a reply (the chat line
 * that follows a join's answer) was handled before the code awaiting the reply ran, and
 * dropped as being for no meeting.
 */
const TaskWebSocket = function (url: string) {
  return new WebSocket(url, { allowSynchronousEvents: false });
} as unknown as new (url: string) => WebSocketLike;

/**
 * A control session of the terminal client.
 *
 * @example
 * ```ts
 * async function join() {
 *   const session = await TerminalControl.open("ws://127.0.0.1:8000/ws", "Ann");
 *   const { meeting } = await session.join("abc123");
 *   session.on("roster", (m, changes) => console.log(changes.map((c) => c.change)));
 * }
 * ```
 */
export class TerminalControl extends Emitter<TerminalControlEvents> {
  readonly #client: ControlClient;
  readonly #p2p: boolean;
  #token: string;
  #name: string;
  #meeting: MeetingState | null = null;
  #subscribed = false;
  #meetings: MeetingSummary[] = [];
  #mediaState: { audio: boolean; video: boolean } | null = null;
  #path: PathKind = "relay";
  #closed = false;

  private constructor(client: ControlClient, token: string, name: string, p2p: boolean) {
    super();
    this.#client = client;
    this.#p2p = p2p;
    this.#token = token;
    this.#name = name;
    client.on("close", (willRetry) => {
      if (willRetry && !this.#closed) this.emit("connection", "lost");
    });
    client.on("open", () => void this.#restore());
    client.on("meetings", (e) => {
      this.#meetings = e.meetings;
      this.emit("meetings", e.meetings);
    });
    client.on("roster", (e) => {
      const meeting = this.#meeting;
      if (!meeting || e.meetingId !== meeting.id) return;
      const changes = rosterChanges(meeting.roster, e.participants);
      meeting.roster = e.participants;
      this.emit("roster", meeting, changes);
    });
    client.on("mode", (e) => {
      const meeting = this.#meeting;
      if (!meeting || e.meetingId !== meeting.id || meeting.mode === e.mode) return;
      meeting.mode = e.mode;
      this.emit("mode", meeting, e.mode);
    });
    client.on("peer", (e) => {
      const meeting = this.#meeting;
      if (!meeting || e.meetingId !== meeting.id) return;
      this.emit("peer", meeting, { participantId: e.participantId, ip: e.ip, port: e.port });
    });
    client.on("mix_timing", (e) => {
      const meeting = this.#meeting;
      if (!meeting || e.meetingId !== meeting.id) return;
      this.emit("mixTiming", meeting, e.earlyMs);
    });
    client.on("chat", (e) => {
      const meeting = this.#meeting;
      if (!meeting || e.meetingId !== meeting.id) return;
      meeting.lastChatId = Math.max(meeting.lastChatId, e.message.id);
      this.emit("chat", e.meetingId, e.message);
    });
    client.on("removed", (e) => {
      const meeting = this.#meeting;
      if (!meeting || e.meetingId !== meeting.id) return;
      this.#meeting = null;
      this.#mediaState = null;
      this.#path = "relay";
      this.emit("left", meeting, e.reason, e.message);
    });
    client.on("reaction", (e) => {
      const meeting = this.#meeting;
      if (!meeting || e.meetingId !== meeting.id) return;
      this.emit("reaction", meeting, e.participantId, e.reaction);
    });
    client.on("muted", (e) => {
      const meeting = this.#meeting;
      if (!meeting || e.meetingId !== meeting.id) return;
      this.emit("muted", meeting, e.kind, e.by);
    });
    client.on("recording", (e) => {
      const meeting = this.#meeting;
      if (!meeting || e.meetingId !== meeting.id) return;
      if (e.recording) this.emit("recording", meeting, { started: e.recording });
      else if (e.stopped) {
        this.emit("recording", meeting, {
          stopped: { reason: e.stopped.reason, by: e.stopped.by },
        });
      }
    });
    client.on("recording_saved", (e) => {
      const meeting = this.#meeting;
      if (!meeting || e.meetingId !== meeting.id) return;
      this.emit("recording", meeting, { saved: { durationMs: e.durationMs, bytes: e.bytes } });
    });
  }

  /**
   * Connects (npm:ws), waits for the socket and identifies as `name`. Rejects with a
   * {@linkcode ControlError} when the server cannot be reached in time or refuses the name.
   *
   * @example
   * ```ts
   * async function connect() {
   *   const session = await TerminalControl.open("ws://127.0.0.1:8000/ws", "Ann", {
   *     connectTimeoutMs: 3000,
   *   });
   *   console.log(session.name);
   * }
   * ```
   */
  static async open(
    url: string,
    name: string,
    options: TerminalControlOptions = {},
  ): Promise<TerminalControl> {
    const client = new ControlClient(url, {
      WebSocket: TaskWebSocket,
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
    });
    const timeoutMs = options.connectTimeoutMs ?? 10_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let offClose = () => {};
    try {
      await Promise.race([
        client.opened(),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new ControlError("timeout", `cannot connect to ${url}`)),
            timeoutMs,
          );
          // The first attempt failing (refused, bad path...) fails at once: no retrying.
          offClose = client.on("close", () => {
            reject(new ControlError("disconnected", `cannot connect to ${url}`));
          });
        }),
      ]);
      offClose();
      const identity = await client.request({ type: "identify", name });
      return new TerminalControl(client, identity.token, identity.name, options.p2p ?? true);
    } catch (err) {
      client.close();
      throw err;
    } finally {
      clearTimeout(timer);
      offClose();
    }
  }

  /** The session's name (as the server normalized it). */
  get name(): string {
    return this.#name;
  }

  /** The meeting you are in, or null. */
  get meeting(): MeetingState | null {
    return this.#meeting;
  }

  /** The last live list received (empty until subscribed). */
  get meetings(): MeetingSummary[] {
    return this.#meetings;
  }

  /** Whether the live list is subscribed to. */
  get subscribed(): boolean {
    return this.#subscribed;
  }

  /** Whether joins offer P2P over UDP. */
  get p2p(): boolean {
    return this.#p2p;
  }

  /** The token, for binding media over UDP. */
  get token(): string {
    return this.#token;
  }

  /** Subscribes to the live list; resolves with the current one. */
  async subscribeMeetings(): Promise<MeetingSummary[]> {
    const { meetings } = await this.#client.request({ type: "subscribe_meetings" });
    this.#subscribed = true;
    this.#meetings = meetings;
    return meetings;
  }

  /** Creates a meeting and joins it. */
  async create(title: string): Promise<{ meeting: MeetingState; reply: JoinReply }> {
    const result = await this.#client.request({
      type: "create",
      title,
      join: true,
      ...this.#offer(),
    });
    if (!result.join) throw new ControlError("internal", "create answered without joining");
    return { meeting: this.#entered(result.join), reply: result.join };
  }

  /** Joins a meeting by id. */
  async join(meetingId: string): Promise<{ meeting: MeetingState; reply: JoinReply }> {
    for (;;) {
      try {
        const reply = await this.#client.request({ type: "join", meetingId, ...this.#offer() });
        return { meeting: this.#entered(reply), reply };
      } catch (err) {
        if (!(err instanceof ControlError) || err.code !== "waiting_for_host") throw err;
      }
      // In the meeting's waiting room: join again once the host lets us in, or after a
      // reconnection (the knock went with the old socket).
      this.emit("waiting", meetingId);
      const admitted = await new Promise<boolean>((resolve) => {
        const offs = [
          this.#client.on("admission", (e) => e.meetingId === meetingId && done(e.admitted)),
          this.#client.on("open", () => done(true)),
        ];
        const done = (value: boolean) => {
          for (const off of offs) off();
          resolve(value);
        };
      });
      if (!admitted) throw new ControlError("forbidden", "the host did not let you in");
    }
  }

  /** Leaves the current meeting; resolves with it (null when in none). */
  async leave(): Promise<MeetingState | null> {
    const meeting = this.#meeting;
    if (!meeting) return null;
    this.#meeting = null;
    this.#mediaState = null;
    this.#path = "relay";
    await this.#client.request({ type: "leave" });
    return meeting;
  }

  /** Cancels a meeting you created (the current one by default). */
  async cancel(meetingId?: string): Promise<void> {
    await this.#client.request(meetingId ? { type: "cancel", meetingId } : { type: "cancel" });
  }

  /** Sends a chat line to the current meeting. */
  async chat(text: string): Promise<ChatMessage> {
    const { message } = await this.#client.request({ type: "chat", text });
    return message;
  }

  /** Raises or lowers your hand. */
  async setHand(raised: boolean): Promise<void> {
    await this.#client.request({ type: "hand", raised });
  }

  /** The host starts or stops recording the meeting. */
  async record(on: boolean): Promise<void> {
    await this.#client.request({ type: "record", on });
  }

  /** Sends a reaction to the meeting (the server checks it is one it knows). */
  async react(reaction: string): Promise<void> {
    await this.#client.request({ type: "react", reaction: reaction as Reaction });
  }

  /** Tells the others whether your microphone and camera are on (kept across reconnects). */
  async setMedia(audio: boolean, video: boolean): Promise<void> {
    this.#mediaState = { audio, video };
    await this.#client.request({ type: "media", audio, video });
  }

  /**
   * Tells the server which way your media goes (kept across reconnects): the roster shows
   * `p2p` only while the direct path carries it.
   */
  async setPath(path: PathKind): Promise<void> {
    this.#path = path;
    await this.#client.request({ type: "path", path });
  }

  /** Tells the server the direct path to the peer does not work (the pair stays on relay). */
  async p2pFailed(): Promise<void> {
    await this.#client.request({ type: "p2p_failed" });
  }

  /** Closes the connection for good. */
  close(): void {
    this.#closed = true;
    this.#client.close();
  }

  #entered(reply: JoinReply): MeetingState {
    this.#meeting = {
      id: reply.meeting.id,
      title: reply.meeting.title,
      participantId: reply.participantId,
      name: reply.name,
      media: reply.media,
      roster: reply.meeting.roster,
      mode: reply.meeting.mode,
      lastChatId: Math.max(0, ...reply.chat.map((m) => m.id)),
    };
    return this.#meeting;
  }

  #offer(): { p2p?: "udp" } {
    return this.#p2p ? { p2p: "udp" } : {};
  }

  /** After a reconnection: identify with the token, resubscribe, take the seat back. */
  async #restore(): Promise<void> {
    if (this.#closed) return;
    try {
      try {
        await this.#client.request({ type: "identify", token: this.#token });
      } catch (err) {
        if (!(err instanceof ControlError) || err.code !== "invalid_token") throw err;
        // The server forgot us (a restart): a new session, so the seat is gone.
        const identity = await this.#client.request({ type: "identify", name: this.#name });
        this.#token = identity.token;
      }
      if (this.#subscribed) {
        const { meetings } = await this.#client.request({ type: "subscribe_meetings" });
        this.#meetings = meetings;
        this.emit("meetings", meetings);
      }
      const meeting = this.#meeting;
      if (meeting) {
        try {
          const reply = await this.#client.request({
            type: "join",
            meetingId: meeting.id,
            ...this.#offer(),
          });
          const changes = rosterChanges(meeting.roster, reply.meeting.roster);
          Object.assign(meeting, {
            participantId: reply.participantId,
            name: reply.name,
            media: reply.media,
            roster: reply.meeting.roster,
          });
          if (changes.length) this.emit("roster", meeting, changes);
          // Chat lines said while the connection was away.
          for (const message of reply.chat) {
            if (message.id <= meeting.lastChatId) continue;
            meeting.lastChatId = message.id;
            this.emit("chat", meeting.id, message);
          }
          if (reply.meeting.mode !== meeting.mode) {
            meeting.mode = reply.meeting.mode;
            this.emit("mode", meeting, meeting.mode);
          }
          if (this.#mediaState) {
            await this.#client.request({ type: "media", ...this.#mediaState });
          }
          if (!reply.resumed) this.#path = "relay"; // a new seat: its media starts on the relay
          else if (this.#path === "p2p") await this.#client.request({ type: "path", path: "p2p" });
        } catch (err) {
          if (this.#meeting === meeting) {
            this.#meeting = null;
            this.#mediaState = null;
            this.emit("left", meeting, "rejoin_failed");
          }
          throw err;
        }
      }
      this.emit("connection", "restored");
    } catch (err) {
      const code = err instanceof ControlError ? err.code : "internal";
      this.emit("error", code, `reconnecting: ${err instanceof Error ? err.message : err}`);
    }
  }
}
