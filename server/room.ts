/**
 * A Room is the server's side of one live meeting: it binds the meeting's seats to their
 * control connections and fans the meeting's events out to them, and to no one else, and it
 * owns the meeting's {@linkcode MediaRoom}, which holds each seat's media transport.
 * `close()` cascades to all of it: the media room closes every transport, and every control
 * connection is told it was removed.
 *
 * A seat has at most one control connection (`attachConnection`) and at most one media
 * transport (`attachMedia`), independently: a terminal client's media stays on its UDP
 * binding while its control connection is away, and a page's WebSocket transport goes when
 * its socket does.
 *
 * @example
 * ```ts
 * import type { Meeting } from "../meeting/meeting.ts";
 * import type { Participant } from "../meeting/participant.ts";
 * import type { MediaClock } from "./media_clock.ts";
 * import type { OpusCodecs } from "./media_room.ts";
 * import type { MediaTransport } from "./media_transport.ts";
 *
 * function host(meeting: Meeting, codecs: OpusCodecs, clock: MediaClock, participant: Participant,
 *   connection: RoomConnection, transport: MediaTransport, creatorSessionId: string) {
 *   const room = new Room(meeting, { codecs, clock });
 *   room.attachConnection(participant.id, connection); // roster and chat go to it
 *   room.attachMedia(participant.id, transport);       // media goes to it, the old one is closed
 *   meeting.cancel(creatorSessionId);  // connections get {type:"removed"}, transports close
 * }
 * ```
 * @module
 */

import type { CloseReason, Meeting } from "../meeting/meeting.ts";
import { type ParticipantInfo, participantInfo } from "../meeting/participant.ts";
import { MIN_LEVEL_DB } from "../media/mix.ts";
import type { RemovedReason, ServerMessage } from "../protocol/control.ts";
import { MediaRoom, type MediaRoomOptions } from "./media_room.ts";
import type { MediaTransport } from "./media_transport.ts";

/** What a room needs of a seat's control connection. */
export interface RoomConnection {
  send(message: ServerMessage): void;
  /** Sends a message already serialised (one text for many connections). */
  sendText(text: string): void;
  /**
   * Sends one media packet on the control connection itself, whatever carries the seat's
   * media: for a packet the seat's datagram carrier cannot take (larger than a WebTransport
   * datagram). Pages take media from their control connection at all times.
   */
  sendMedia?(packet: Uint8Array): void;
  /**
   * Called when the room lets go of this member without the member asking; `message`: the
   * host's reason, when it removed the member.
   */
  removed(meetingId: string, reason: RemovedReason, message?: string): void;
}

/** The live side of one meeting. */
export class Room {
  readonly meeting: Meeting;
  /** Video routing and audio mixing of this meeting. */
  readonly media: MediaRoom;
  #connections = new Map<string, RoomConnection>();
  /** Connections in the waiting room, by session id: told when the host decides. */
  #waiters = new Map<string, RoomConnection>();
  #closed = false;
  #levelsWereAudible = false;

  constructor(
    meeting: Meeting,
    mediaOptions: Omit<MediaRoomOptions, "onLevels" | "onEarly" | "onTransportChange">,
  ) {
    this.meeting = meeting;
    this.media = new MediaRoom(meeting, {
      ...mediaOptions,
      onEarly: (participantId, earlyMs) =>
        this.#connections.get(participantId)?.send({
          type: "mix_timing",
          meetingId: meeting.id,
          earlyMs,
        }),
      onLevels: (levels) => {
        // Publish while anyone is audible, and once more when all fall silent.
        const audible = levels.some((l) => l.level > MIN_LEVEL_DB);
        if (!audible && !this.#levelsWereAudible) return;
        this.#levelsWereAudible = audible;
        this.broadcast({
          type: "levels",
          meetingId: meeting.id,
          levels: levels.map((l) => ({
            participantId: l.id,
            level: Math.round(l.level),
            speaking: l.speaking,
          })),
        });
      },
      onTransportChange: (participantId, transport) => {
        const participant = meeting.participant(participantId);
        if (!participant || this.#closed) return; // left: the roster follows the leave
        const kind = transport?.kind ?? null;
        if (participant.transport === kind) return;
        participant.transport = kind;
        this.#sendRoster();
      },
    });
    meeting.on("joined", () => this.#sendRoster());
    meeting.on("left", (p) => {
      this.#connections.delete(p.id);
      this.media.detach(p.id); // closes the seat's transport
      this.#sendRoster();
    });
    meeting.on("presence", (p) => {
      if (!p.screen) this.media.endScreen(p.id);
      this.#sendRoster();
    });
    meeting.on("host", () => this.#sendRoster());
    meeting.on(
      "reaction",
      (p, reaction) =>
        this.broadcast({ type: "reaction", meetingId: meeting.id, participantId: p.id, reaction }),
    );
    meeting.on(
      "waiting",
      (waiting) => this.broadcast({ type: "waiting", meetingId: meeting.id, waiting }),
    );
    meeting.on("admission", (sessionId, admitted) => {
      const connection = this.#waiters.get(sessionId);
      this.#waiters.delete(sessionId);
      connection?.send({ type: "admission", meetingId: meeting.id, admitted });
    });
    meeting.on(
      "newcomers",
      (policy) => this.broadcast({ type: "newcomers", meetingId: meeting.id, policy }),
    );
    meeting.on("recording", (recording, stopped) =>
      this.broadcast({
        type: "recording",
        meetingId: meeting.id,
        recording,
        ...(stopped
          ? { stopped: { id: stopped.recording.id, reason: stopped.reason, by: stopped.by } }
          : {}),
      }));
    meeting.on(
      "muted",
      (p, kind, by) =>
        this.sendTo(p.id, { type: "muted", meetingId: meeting.id, kind, by: by.name }),
    );
    meeting.on("removing", (p, reason) => {
      // Told before its seat goes (the `left` that follows forgets the connection).
      const connection = this.#connections.get(p.id);
      this.#connections.delete(p.id);
      connection?.removed(meeting.id, "removed", reason);
    });
    meeting.on(
      "chat",
      (message) => this.broadcast({ type: "chat", meetingId: meeting.id, message }),
    );
    meeting.on("closed", (reason) => this.close(reason));
    meeting.on("mode", (mode) => {
      this.broadcast({ type: "mode", meetingId: meeting.id, mode });
      this.#sendRoster(); // each participant's `transport` says p2p or the carrier
      this.#sendPeerAddresses();
    });
  }

  get id(): string {
    return this.meeting.id;
  }

  /**
   * Binds a seat to its control connection (roster, chat and events go to it). A connection
   * already bound to that seat (the same session on a newer connection) is let go with reason
   * `replaced` first, so it closes its WebSocket transport before the new one looks at the seat.
   * The seat's media transport is not touched: see {@linkcode Room.attachMedia}.
   */
  /** A connection waits for the host to let its session in. */
  addWaiter(sessionId: string, connection: RoomConnection): void {
    this.#waiters.set(sessionId, connection);
  }

  /** A waiting connection went away: its session leaves the waiting room. */
  removeWaiter(sessionId: string, connection: RoomConnection): void {
    if (this.#waiters.get(sessionId) !== connection) return;
    this.#waiters.delete(sessionId);
    this.meeting.withdraw(sessionId);
  }

  attachConnection(participantId: string, connection: RoomConnection): void {
    const previous = this.#connections.get(participantId);
    this.#connections.set(participantId, connection);
    if (previous && previous !== connection) previous.removed(this.id, "replaced");
  }

  /**
   * Unbinds a seat's control connection (its socket went away or it left). The seat's media
   * transport stays: a UDP binding keeps flowing while the seat is held; a WebSocket
   * transport is closed by its connection, which owns it.
   */
  detachConnection(participantId: string): void {
    this.#connections.delete(participantId);
  }

  /**
   * Makes `transport` the seat's media transport, and closes the one it had (see
   * {@linkcode MediaRoom.attach}): the carrier's owner calls it once the seat is proved (a
   * control connection holding the seat, a UDP or WebTransport peer that showed the seat's
   * media key). Returns false, and closes `transport`, when the seat or the room is gone.
   */
  attachMedia(participantId: string, transport: MediaTransport): boolean {
    if (this.#closed || !this.meeting.participant(participantId)) {
      transport.close();
      return false;
    }
    if (!this.media.attach(participantId, transport)) return false;
    this.#sendPeerAddresses();
    return true;
  }

  /** Closes the seat's media transport, if any (the seat stays). */
  detachMedia(participantId: string): void {
    this.media.detach(participantId);
  }

  /**
   * Sends one media packet on the seat's control connection (see `RoomConnection.sendMedia`);
   * false when it has none that can.
   */
  sendOnConnection(participantId: string, packet: Uint8Array): boolean {
    const connection = this.#connections.get(participantId);
    if (!connection?.sendMedia) return false;
    connection.sendMedia(packet);
    return true;
  }

  /** The seat's media transport, if it has one. */
  transportOf(participantId: string): MediaTransport | undefined {
    return this.media.transportOf(participantId);
  }

  /** Sends a message to one member, if connected. Returns whether it was sent. */
  sendTo(participantId: string, message: ServerMessage): boolean {
    const connection = this.#connections.get(participantId);
    connection?.send(message);
    return connection !== undefined;
  }

  // Two terminal clients in P2P reach each other over UDP: tell each the other's address as
  // the server observed it (which also works through a NAT that keeps the mapping).
  #sendPeerAddresses(): void {
    if (this.meeting.mode !== "p2p") return;
    const [a, b] = this.meeting.participants;
    if (!a || !b || a.p2p !== "udp") return;
    const addrA = this.media.transportOf(a.id)?.address;
    const addrB = this.media.transportOf(b.id)?.address;
    if (!addrA || !addrB) return;
    const meetingId = this.meeting.id;
    this.sendTo(a.id, { type: "peer", meetingId, participantId: b.id, ...addrB });
    this.sendTo(b.id, { type: "peer", meetingId, participantId: a.id, ...addrA });
  }

  /** Sends a message to every connected member of this meeting. */
  broadcast(message: ServerMessage): void {
    if (this.#connections.size === 0) return;
    // One serialisation for everyone: levels go 5 times a second and list every speaker, and
    // a roster lists every seat, so once per connection grew with the square of the meeting.
    const text = JSON.stringify(message);
    for (const connection of this.#connections.values()) connection.sendText(text);
  }

  /** Number of seats with a live control connection. */
  get connectedCount(): number {
    return this.#connections.size;
  }

  /** Closes every media transport, lets every connection go, and stops. Idempotent. */
  close(reason: CloseReason = "shutdown"): void {
    if (this.#closed) return;
    this.#closed = true;
    this.media.close();
    const removedReason: RemovedReason = reason === "cancelled" ? "cancelled" : "ended";
    const connections = [...this.#connections.values()];
    this.#connections.clear();
    for (const connection of connections) connection.removed(this.id, removedReason);
    const waiters = [...this.#waiters.values()];
    this.#waiters.clear();
    for (const waiter of waiters) {
      waiter.send({ type: "admission", meetingId: this.id, admitted: false });
    }
  }

  /** What the roster shows (see `participantInfo`: `transport` is p2p in p2p mode). */
  roster(): ParticipantInfo[] {
    const mode = this.meeting.mode;
    return this.meeting.participants.map((p) => participantInfo(p, mode, this.meeting.hostId));
  }

  #sendRoster(): void {
    this.broadcast({ type: "roster", meetingId: this.id, participants: this.roster() });
  }
}
