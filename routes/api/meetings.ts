/**
 * The REST API for scripts and tools:
 *
 * - `GET /api/meetings`: live meetings, newest first (at most 500).
 * - `POST /api/meetings` `{"title","name","passcode"?}`: 201 with `id` and the creator's
 *   `token`. Creates are limited per client address (`429 rate_limited` with `Retry-After`,
 *   or `429 limit_reached`). In a cluster, `307` to the node the meeting is placed on.
 * - `GET /api/meetings/:id`: details with the roster (live), or the record of an ended one.
 * - `GET /api/meetings/:id/history`: events and chat.
 * - `DELETE /api/meetings/:id` with `Authorization: Bearer <creator token>`: 204.
 *
 * A locked (passcode) meeting's details and history are for its creator and the sessions
 * that held a seat in it, by `Authorization: Bearer <token>`: anyone else gets `401
 * unauthorized` (no or unknown token) or `403 forbidden`. The list shows that it exists.
 *
 * Errors are `{"error": {"code", "message"}}` with a fitting status.
 *
 * @module
 */

import { httpStatusOf, MeetingError } from "../../meeting/errors.ts";
import { normalizeName } from "../../meeting/names.ts";
import type { Hub } from "../../server/hub.ts";
import type { RouteHandler } from "../context.ts";
import { transportCounts } from "../../server/seat_media.ts";
import { log } from "../../util/log.ts";

/** Largest REST body accepted, in bytes. */
export const MAX_BODY_BYTES = 64 * 1024;

/** An error response in the API's format; `rate_limited` carries `Retry-After` (seconds). */
export function apiError(err: MeetingError): Response {
  const retry = err.retryAfterMs;
  return Response.json(
    {
      error: retry === undefined
        ? { code: err.code, message: err.message }
        : { code: err.code, message: err.message, retryAfterMs: retry },
    },
    {
      status: httpStatusOf(err.code),
      headers: retry === undefined ? {} : { "retry-after": String(Math.ceil(retry / 1000)) },
    },
  );
}

/**
 * Reads a JSON object body of at most 64 KiB, declared `Content-Type: application/json` (which
 * a cross-site HTML form cannot send): anything else is `unsupported_media_type` (415).
 */
export async function readJsonObject(req: Request): Promise<Record<string, unknown>> {
  const type = (req.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
  if (type !== "application/json") {
    await req.body?.cancel();
    throw new MeetingError(
      "unsupported_media_type",
      "request bodies must be JSON, sent with Content-Type: application/json",
    );
  }
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) {
    throw new MeetingError("too_large", `request bodies are limited to ${MAX_BODY_BYTES} bytes`);
  }
  const reader = req.body?.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (reader) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel();
      throw new MeetingError("too_large", `request bodies are limited to ${MAX_BODY_BYTES} bytes`);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    bytes.set(c, offset);
    offset += c.length;
  }
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new MeetingError("bad_json", "request body is not valid JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new MeetingError("bad_request", "request body must be a JSON object");
  }
  return value as Record<string, unknown>;
}

/** The token of an `Authorization: Bearer <token>` header. */
export function bearerToken(req: Request): string | undefined {
  const header = req.headers.get("authorization") ?? "";
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  return match?.[1];
}

/** Wraps a handler so domain errors become API error responses. */
export function api(handler: RouteHandler): RouteHandler {
  return async (req, ctx) => {
    try {
      return await handler(req, ctx);
    } catch (err) {
      if (err instanceof MeetingError) return apiError(err);
      log.error("api_request_failed", "API request failed", { error: err });
      return apiError(new MeetingError("internal", "the server could not handle this request"));
    }
  };
}

/**
 * Throws unless the request may read this meeting's roster and history: anyone for an
 * unlocked meeting (anyone may join it and read the same); for a locked one, the bearer of
 * the creator's token or of a session that held a seat in it. After a restart (or an hour
 * without use) the server no longer knows a token, so a locked meeting's record is then
 * readable by nobody over the API.
 *
 * @example
 * ```ts
 * import type { Hub } from "../../server/hub.ts";
 *
 * function history(req: Request, hub: Hub) {
 *   requireReader(req, hub, "abc123"); // throws unauthorized / forbidden / not_found
 *   // ...then read the record
 * }
 * ```
 */
export function requireReader(req: Request, hub: Hub, meetingId: string): void {
  const access = hub.records.access(meetingId);
  if (!access) throw new MeetingError("not_found", "no such meeting");
  if (!access.locked) return;
  const token = bearerToken(req);
  const session = token === undefined ? undefined : hub.sessions.byToken(token);
  if (!session) {
    throw new MeetingError(
      "unauthorized",
      "this meeting is locked: send Authorization: Bearer <the token of a member or the creator>",
    );
  }
  if (session.id !== access.creatorSessionId && !hub.records.heldSeat(meetingId, session.id)) {
    throw new MeetingError("forbidden", "this meeting is locked: only its members may read it");
  }
}

export const listMeetings: RouteHandler = api((_req, { hub }) => Response.json(hub.list()));

export const createMeeting: RouteHandler = api(async (req, { hub, clientAddress }) => {
  const cluster = hub.cluster;
  // Another node making a meeting here for its client (it shows the cluster's secret): that
  // client's address counts for the limits, and the creator gets a handoff code for its page.
  const forwardedFor = cluster?.forwardedClient(req.headers);
  const placedHere = new URL(req.url).searchParams.get("placed") === cluster?.nodeId;
  if (cluster && forwardedFor === undefined && !placedHere) {
    const node = cluster.place();
    if (node) {
      await req.body?.cancel();
      // The client posts again there (307 keeps the method and body); `placed` stops a
      // second placement there from sending it on again.
      return new Response(null, {
        status: 307,
        headers: { location: `${node.url}/api/meetings?placed=${node.id}` },
      });
    }
  }
  const body = await readJsonObject(req);
  const { meeting, creator: session } = hub.createMeeting(
    { title: body.title, creatorName: normalizeName(body.name), passcode: body.passcode },
    forwardedFor ?? clientAddress,
  );
  const handoff = forwardedFor !== undefined && body.handoff === true
    ? { handoff: hub.sessions.handoff(session) }
    : {};
  return Response.json(
    { ...meeting.summary(), token: session.token, ...handoff },
    { status: 201, headers: { location: `/api/meetings/${meeting.id}` } },
  );
});

export const getMeeting: RouteHandler = api((req, { hub, params }) => {
  requireReader(req, hub, params.id);
  const meeting = hub.registry.get(params.id);
  const locked = meeting?.locked ?? hub.records.access(params.id)?.locked ?? true;
  if (meeting) {
    const room = hub.findRoom(meeting.id);
    const media = room && { ...room.media.counters, transports: transportCounts(room) };
    return Response.json({ ...meeting.details(), media });
  }
  const past = hub.records.meeting(params.id);
  if (!past) throw new MeetingError("not_found", "no such meeting");
  return Response.json({
    id: past.id,
    title: past.title,
    creator: past.creator,
    participants: 0,
    mode: "relay",
    createdAt: past.createdAt,
    locked,
    state: past.endReason === "cancelled" ? "cancelled" : "ended",
    endedAt: past.endedAt,
    roster: [],
  });
});

export const meetingHistory: RouteHandler = api((req, { hub, params }) => {
  requireReader(req, hub, params.id);
  const history = hub.records.history(params.id);
  if (!history) throw new MeetingError("not_found", "no such meeting");
  return Response.json(history);
});

export const cancelMeeting: RouteHandler = api((req, { hub, params }) => {
  const meeting = hub.registry.get(params.id);
  if (!meeting) {
    const past = hub.records.meeting(params.id);
    throw past
      ? new MeetingError("not_found", "this meeting has already ended")
      : new MeetingError("not_found", "no such meeting");
  }
  const token = bearerToken(req);
  if (!token) throw new MeetingError("unauthorized", "send Authorization: Bearer <creator token>");
  const session = hub.sessions.byToken(token);
  if (!session || session.id !== meeting.creatorSessionId) {
    throw new MeetingError("forbidden", "only the creator's token can cancel this meeting");
  }
  meeting.cancel(session.id);
  return new Response(null, { status: 204 });
});
