/**
 * Where a proved media transport meets the room: finding a seat by its media key, attaching a
 * {@linkcode MediaTransport} to the seat's media, moving the seat's media back to its control
 * connection, and telling which carrier a seat's media is on. Everything the WebTransport
 * endpoint needs of the rooms goes through here, so that it sits on one small surface.
 *
 * @example
 * ```ts
 * const seat = findSeat(hub, meetingId, mediaKey);
 * if (seat) attachToSeat(seat.room, seat.participant.id, transport);
 * ```
 * @module
 */

import type { Participant } from "../meeting/participant.ts";
import { timingSafeEqual } from "../util/ids.ts";
import type { Hub } from "./hub.ts";
import type { MediaMember } from "./media_room.ts";
import type { MediaTransport, TransportKind } from "./media_transport.ts";
import type { Room } from "./room.ts";

/** A seat: the room and the participant. */
export interface Seat {
  room: Room;
  participant: Participant;
}

/**
 * The client seat of `meetingId` whose media key is `mediaKey`, or why there is none
 * (`not_found`: no such live meeting; `invalid_key`: no seat of that meeting has this key,
 * e.g. the seat left, or the key is another meeting's).
 */
export function findSeat(
  hub: Hub,
  meetingId: string,
  mediaKey: string,
): Seat | { error: "not_found" | "invalid_key" } {
  const room = hub.findRoom(meetingId);
  if (!room) return { error: "not_found" };
  const participant = room.meeting.participants.find((p) => timingSafeEqual(p.mediaKey, mediaKey));
  if (!participant || participant.kind !== "client") return { error: "invalid_key" };
  return { room, participant };
}

/** A transport attached with {@linkcode attachToSeat}, as the room sees it today. */
interface TransportMember extends MediaMember {
  readonly kind: TransportKind;
  readonly transport: MediaTransport;
  /** The member the seat had before (its control connection), to go back to. */
  readonly previous: MediaMember | undefined;
}

function isTransportMember(member: MediaMember | undefined): member is TransportMember {
  return member !== undefined && "transport" in member;
}

/**
 * Attaches `transport` to the seat's media: from now on the room sends the seat's media
 * through it. The seat's previous transport, if it was one of these, is closed. When the
 * transport closes while it still carries the seat (the session went away), the seat's media
 * goes back to its control connection (where the page sends it once it notices).
 *
 * This is the one place that adapts to today's room API (`Room.bindMedia` with a
 * `MediaMember`); with `MediaRoom.attach(participantId, transport)` it becomes that call.
 */
export function attachToSeat(room: Room, participantId: string, transport: MediaTransport): void {
  const current = room.media.memberOf(participantId);
  const previous = isTransportMember(current) ? current.previous : current;
  const member: TransportMember = {
    kind: transport.kind,
    transport,
    previous,
    address: transport.address,
    sendMedia: (packet) => transport.send(packet),
    bufferedAmount: () => transport.queuedBytes(),
  };
  room.bindMedia(participantId, member);
  if (isTransportMember(current)) current.transport.close();
  transport.onClose(() => {
    if (room.media.memberOf(participantId) !== member) return;
    if (previous && room.meeting.participant(participantId)) {
      room.bindMedia(participantId, previous);
    } else room.media.detach(participantId);
  });
}

/** Whether `transport` still carries the seat's media (false once the seat moved on). */
export function carriesSeat(room: Room, participantId: string, transport: MediaTransport): boolean {
  const member = room.media.memberOf(participantId);
  return isTransportMember(member) && member.transport === transport;
}

/**
 * Moves the seat's media to its control connection (`media_transport` with kind
 * `websocket`): a transport attached with {@linkcode attachToSeat} is closed.
 */
export function moveSeatToConnection(
  room: Room,
  participantId: string,
  connection: MediaMember,
): void {
  const current = room.media.memberOf(participantId);
  if (current === connection) return;
  room.bindMedia(participantId, connection);
  if (isTransportMember(current)) current.transport.close();
}

/** Which carrier a seat's media is on: a transport's kind, a UDP address, or the WebSocket. */
export function seatTransportKind(room: Room, participantId: string): TransportKind | null {
  const member = room.media.memberOf(participantId);
  if (!member) return null;
  if (isTransportMember(member)) return member.kind;
  return member.address ? "udp" : "websocket";
}

/** How many of a room's seats have their media on each carrier. */
export function transportCounts(room: Room): Record<TransportKind, number> {
  const counts: Record<TransportKind, number> = { websocket: 0, udp: 0, webtransport: 0 };
  for (const p of room.meeting.participants) {
    const kind = seatTransportKind(room, p.id);
    if (kind) counts[kind]++;
  }
  return counts;
}
