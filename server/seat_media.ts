/**
 * Where a proved media transport meets the room: finding a seat by its media key, attaching a
 * {@linkcode MediaTransport} to the seat's media, moving the seat's media back to its control
 * connection, and telling which carrier a seat's media is on. Everything the WebTransport
 * endpoint needs of the rooms goes through here, so that it sits on one small surface.
 *
 * @example
 * ```ts
 * import type { Hub } from "./hub.ts";
 * import type { MediaTransport } from "./media_transport.ts";
 *
 * function bind(hub: Hub, meetingId: string, mediaKey: string, transport: MediaTransport) {
 *   const seat = findSeat(hub, meetingId, mediaKey);
 *   if (!("error" in seat)) attachToSeat(seat.room, seat.participant.id, transport);
 * }
 * ```
 * @module
 */

import type { Hub, Seat } from "./hub.ts";
import type { MediaTransport, TransportKind } from "./media_transport.ts";
import type { Room } from "./room.ts";

export type { Seat };

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
  if (!hub.findRoom(meetingId)) return { error: "not_found" };
  return hub.seatByMediaKey(mediaKey, meetingId) ?? { error: "invalid_key" };
}

/**
 * Attaches `transport` to the seat's media: from now on the room sends the seat's media
 * through it, and the seat's previous transport is closed (`Room.attachMedia`). When the
 * transport closes while it carries the seat (the session went away), the seat has no media
 * transport until the page's media arrives on its control connection, which takes it back.
 */
export function attachToSeat(room: Room, participantId: string, transport: MediaTransport): void {
  room.attachMedia(participantId, transport);
}

/** Which carrier a seat's media is on, or null. */
export function seatTransportKind(room: Room, participantId: string): TransportKind | null {
  return room.transportOf(participantId)?.kind ?? null;
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
