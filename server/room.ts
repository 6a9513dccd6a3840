/**
 * A Room is the server's side of one live meeting: it binds the meeting's participants to
 * their control connections and fans the meeting's events out to them, and to no one else.
 * Media (router, mixer) will hang off the room too; `close()` cascades to all of it.
 *
 * @example
 * ```ts
 * const room = new Room(meeting);
 * room.attach(participant.id, connection);   // connection now receives roster and chat
 * meeting.cancel(creatorSessionId);          // members get {type:"removed"}; the room closes
 * ```
 * @module
 */

import type { CloseReason, Meeting } from "../meeting/meeting.ts";
import { participantInfo } from "../meeting/participant.ts";
import { MIN_LEVEL_DB } from "../media/mix.ts";
import type { RemovedReason, ServerMessage } from "../protocol/control.ts";
import { type MediaMember, MediaRoom, type MediaRoomOptions } from "./media_room.ts";

/** What a room needs of a client connection. */
export interface RoomMember extends MediaMember {
  send(message: ServerMessage): void;
  /** Called when the room lets go of this member without the member asking. */
  removed(meetingId: string, reason: RemovedReason): void;
}

/** The live side of one meeting. */
export class Room {
  readonly meeting: Meeting;
  /** Video routing and audio mixing of this meeting. */
  readonly media: MediaRoom;
  #members = new Map<string, RoomMember>();
  #closed = false;
  #levelsWereAudible = false;

  constructor(meeting: Meeting, mediaOptions: Omit<MediaRoomOptions, "onLevels" | "onEarly">) {
    this.meeting = meeting;
    this.media = new MediaRoom(meeting, {
      ...mediaOptions,
      onEarly: (participantId, earlyMs) =>
        this.#members.get(participantId)?.send({
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
    });
    meeting.on("joined", () => this.#sendRoster());
    meeting.on("left", (p) => {
      this.#members.delete(p.id);
      this.media.detach(p.id);
      this.#sendRoster();
    });
    meeting.on("presence", () => this.#sendRoster());
    meeting.on(
      "chat",
      (message) => this.broadcast({ type: "chat", meetingId: meeting.id, message }),
    );
    meeting.on("closed", (reason) => this.close(reason));
    meeting.on("mode", (mode) => {
      this.broadcast({ type: "mode", meetingId: meeting.id, mode });
      this.#sendPeerAddresses();
    });
  }

  get id(): string {
    return this.meeting.id;
  }

  /**
   * Binds a participant's seat to a connection. A connection already bound to that seat
   * (the same person on a newer connection) is let go with reason "replaced".
   */
  attach(participantId: string, member: RoomMember): void {
    const previous = this.#members.get(participantId);
    this.#members.set(participantId, member);
    this.media.attach(participantId, member);
    if (previous && previous !== member) previous.removed(this.id, "replaced");
  }

  /**
   * Moves a participant's media to another transport (a bound UDP address). Control
   * messages keep going to the connection bound with {@linkcode Room.attach}, if any.
   */
  bindMedia(participantId: string, member: MediaMember): void {
    if (this.#closed || !this.meeting.participant(participantId)) return;
    this.media.attach(participantId, member);
    this.#sendPeerAddresses();
  }

  /** Sends a message to one member, if connected. Returns whether it was sent. */
  sendTo(participantId: string, message: ServerMessage): boolean {
    const member = this.#members.get(participantId);
    member?.send(message);
    return member !== undefined;
  }

  // Two terminal clients in P2P reach each other over UDP: tell each the other's address as
  // the server observed it (which also works through a NAT that keeps the mapping).
  #sendPeerAddresses(): void {
    if (this.meeting.mode !== "p2p") return;
    const [a, b] = this.meeting.participants;
    if (!a || !b || a.p2p !== "udp") return;
    const addrA = this.media.memberOf(a.id)?.address;
    const addrB = this.media.memberOf(b.id)?.address;
    if (!addrA || !addrB) return;
    const meetingId = this.meeting.id;
    this.sendTo(a.id, { type: "peer", meetingId, participantId: b.id, ...addrB });
    this.sendTo(b.id, { type: "peer", meetingId, participantId: a.id, ...addrA });
  }

  /**
   * Unbinds a connection from its seat, if it is still the one bound. The seat's media goes
   * with it only when that connection carried it: media bound to a UDP address (a terminal
   * client) keeps flowing while the control connection is away (the seat is held).
   */
  detach(participantId: string, member: RoomMember): void {
    if (this.#members.get(participantId) === member) {
      this.#members.delete(participantId);
      if (this.media.memberOf(participantId) === member) this.media.detach(participantId);
    }
  }

  /** Sends a message to every connected member of this meeting. */
  broadcast(message: ServerMessage): void {
    for (const member of this.#members.values()) member.send(message);
  }

  /** Number of members with a live connection. */
  get connectedCount(): number {
    return this.#members.size;
  }

  /** Lets every member go and stops. Idempotent. */
  close(reason: CloseReason = "shutdown"): void {
    if (this.#closed) return;
    this.#closed = true;
    this.media.close();
    const removedReason: RemovedReason = reason === "cancelled" ? "cancelled" : "ended";
    const members = [...this.#members.values()];
    this.#members.clear();
    for (const member of members) member.removed(this.id, removedReason);
  }

  #sendRoster(): void {
    this.broadcast({
      type: "roster",
      meetingId: this.id,
      participants: this.meeting.participants.map(participantInfo),
    });
  }
}
