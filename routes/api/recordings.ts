/**
 * Recordings over REST, all with `Authorization: Bearer <token>`:
 *
 * - `POST /api/meetings/:id/recordings`: the host (the session holding the live meeting's
 *   host seat) starts recording: 201 `{recording}`.
 * - `DELETE /api/meetings/:id/recordings/current`: the host stops it: 202 `{recording}` (the
 *   file is finished in the background; the list says when it is `done`).
 * - `GET /api/meetings/:id/recordings`: the meeting's recordings with `size` and `duration`,
 *   for their owners (the creator's session, whoever started one; kept across restarts as
 *   token hashes) and the live meeting's host.
 * - `GET /api/meetings/:id/recordings/:rid`: a finished recording's file (`video/webm`), to
 *   the same people, with `Range` support (one range).
 *
 * @module
 */

import { MeetingError } from "../../meeting/errors.ts";
import type { Hub } from "../../server/hub.ts";
import type { RouteHandler } from "../context.ts";
import { api, bearerToken } from "./meetings.ts";

/** The session of the request's token, holding a seat in the live meeting. */
function seatOf(req: Request, hub: Hub, meetingId: string) {
  const token = bearerToken(req);
  if (!token) throw new MeetingError("unauthorized", "send Authorization: Bearer <your token>");
  const session = hub.sessions.byToken(token);
  if (!session) throw new MeetingError("unauthorized", "this token is not known (any more)");
  const room = hub.findRoom(meetingId);
  if (!room) throw new MeetingError("not_found", "no such live meeting");
  const participant = room.meeting.participantOfSession(session.id);
  if (!participant) throw new MeetingError("forbidden", "only the host may record this meeting");
  return { token, session, room, participant };
}

/** Throws unless the request's token may list and download this meeting's recordings. */
function requireOwner(req: Request, hub: Hub, meetingId: string): void {
  const token = bearerToken(req);
  if (!token) throw new MeetingError("unauthorized", "send Authorization: Bearer <your token>");
  if (hub.recorder.owns(meetingId, token)) return;
  const session = hub.sessions.byToken(token);
  const meeting = hub.findRoom(meetingId)?.meeting;
  const host = meeting && meeting.hostId !== null ? meeting.participant(meeting.hostId) : undefined;
  if (session && host && host.sessionId === session.id) return;
  if (!hub.records.meeting(meetingId)) throw new MeetingError("not_found", "no such meeting");
  throw new MeetingError("forbidden", "only the host and the recordings' owners may see them");
}

export const startRecording: RouteHandler = api((req, { hub, params }) => {
  const { token, room, participant } = seatOf(req, hub, params.id);
  const owners = [token];
  const creator = hub.sessions.byId(room.meeting.creatorSessionId);
  if (creator) owners.push(creator.token);
  const recording = hub.recorder.start(room, participant.id, owners);
  return Response.json({ recording }, { status: 201 });
});

export const stopRecording: RouteHandler = api((req, { hub, params }) => {
  const { room, participant } = seatOf(req, hub, params.id);
  const recording = room.meeting.stopRecording(participant.id, "stopped");
  return Response.json({ recording }, { status: 202 });
});

export const listRecordings: RouteHandler = api((req, { hub, params }) => {
  requireOwner(req, hub, params.id);
  return Response.json({
    recordings: hub.recorder.list(params.id).map((r) => ({
      ...r,
      url: r.state === "done" || r.state === "recovered"
        ? `/api/meetings/${params.id}/recordings/${r.id}`
        : null,
    })),
  });
});

/** A `Range: bytes=a-b` header read against a size: the range, "bad", or null for none. */
export function byteRange(
  header: string | null,
  size: number,
): { start: number; end: number } | "bad" | null {
  if (header === null) return null;
  const m = /^bytes=(\d{0,15})-(\d{0,15})$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return "bad";
  let start: number;
  let end: number;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0) return "bad";
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  return start <= end && start < size ? { start, end } : "bad";
}

export const downloadRecording: RouteHandler = api(async (req, { hub, params }) => {
  requireOwner(req, hub, params.id);
  const found = hub.recorder.fileOf(params.id, params.rid);
  if (!found) throw new MeetingError("not_found", "no such finished recording");
  let file: Deno.FsFile;
  try {
    file = await Deno.open(found.path, { read: true });
  } catch {
    throw new MeetingError("not_found", "the recording's file is gone");
  }
  const size = (await file.stat()).size;
  const range = byteRange(req.headers.get("range"), size);
  const headers: Record<string, string> = {
    "content-type": "video/webm",
    "accept-ranges": "bytes",
    "content-disposition": `attachment; filename="meeting-${params.id}-${found.record.id}.webm"`,
    "cache-control": "private, no-store",
  };
  if (range === "bad") {
    file.close();
    return new Response(null, { status: 416, headers: { "content-range": `bytes */${size}` } });
  }
  if (req.method === "HEAD") {
    file.close();
    return new Response(null, { headers: { ...headers, "content-length": String(size) } });
  }
  if (range === null) {
    return new Response(file.readable, {
      headers: { ...headers, "content-length": String(size) },
    });
  }
  await file.seek(range.start, Deno.SeekMode.Start);
  const length = range.end - range.start + 1;
  let left = length;
  const body = file.readable.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        if (left <= 0) return;
        const part = chunk.subarray(0, left);
        left -= part.length;
        controller.enqueue(part);
        if (left <= 0) controller.terminate();
      },
    }),
  );
  return new Response(body, {
    status: 206,
    headers: {
      ...headers,
      "content-length": String(length),
      "content-range": `bytes ${range.start}-${range.end}/${size}`,
    },
  });
});
