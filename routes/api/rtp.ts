/**
 * Plain-RTP participants (ffmpeg, GStreamer, a SIP gateway) over the REST API:
 *
 * - `POST /api/meetings/:id/rtp` with `Authorization: Bearer <token of the creator or a
 *   member>` and `{"name","ip","port","audioPayloadType"?,"videoPayloadType"?}`: 201 with
 *   `{"participantId","token","ip","port","sdp"}` — where to send RTP (the server's UDP
 *   socket), and an SDP describing what the server sends back to `ip:port`. Packets are
 *   accepted from `ip:port` only. An optional `"receivePort"` makes the server send to
 *   `ip:receivePort` instead: ffmpeg's SDP receiver cannot share its port with a sender.
 * - `DELETE /api/meetings/:id/rtp/:participantId` with `Authorization: Bearer <that token>`:
 *   204, the participant leaves.
 *
 * @module
 */

import { MeetingError } from "../../meeting/errors.ts";
import { normalizeName } from "../../meeting/names.ts";
import { plainRtpSdp } from "../../server/sdp.ts";
import type { RouteHandler } from "../context.ts";
import { api, bearerToken, readJsonObject } from "./meetings.ts";

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

function payloadType(value: unknown, field: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || (value as number) < 96 || (value as number) > 127) {
    throw new MeetingError("bad_request", `${field} must be a dynamic payload type, 96-127`);
  }
  return value as number;
}

export const addRtpParticipant: RouteHandler = api(async (req, { hub, params, udp }) => {
  if (!udp) throw new MeetingError("internal", "the UDP relay is not running");
  const room = hub.findRoom(params.id);
  if (!room) hub.registry.require(params.id); // throws not_found / meeting_closed
  const meeting = room!.meeting;
  const caller = hub.sessions.byToken(bearerToken(req));
  if (!caller) throw new MeetingError("unauthorized", "send Authorization: Bearer <your token>");
  if (caller.id !== meeting.creatorSessionId && !meeting.participantOfSession(caller.id)) {
    throw new MeetingError("forbidden", "only the creator or a member can add RTP participants");
  }
  const body = await readJsonObject(req);
  const name = normalizeName(body.name);
  if (typeof body.ip !== "string" || !IPV4.test(body.ip)) {
    throw new MeetingError("bad_request", "ip must be an IPv4 address");
  }
  if (!Number.isInteger(body.port) || (body.port as number) < 1 || (body.port as number) > 65535) {
    throw new MeetingError("bad_request", "port must be 1-65535");
  }
  const receivePort = body.receivePort ?? body.port;
  if (
    !Number.isInteger(receivePort) || (receivePort as number) < 1 || (receivePort as number) > 65535
  ) {
    throw new MeetingError("bad_request", "receivePort must be 1-65535");
  }
  const audio = payloadType(body.audioPayloadType, "audioPayloadType");
  const video = payloadType(body.videoPayloadType, "videoPayloadType");
  if (audio === undefined && video === undefined) {
    throw new MeetingError("bad_request", "give audioPayloadType and/or videoPayloadType");
  }
  if (audio !== undefined && audio === video) {
    throw new MeetingError("bad_request", "audio and video need different payload types");
  }
  const session = hub.sessions.create(name);
  const { participant } = meeting.join(session.id, name, { kind: "rtp" });
  meeting.setMediaState(participant.id, { audio: audio !== undefined, video: video !== undefined });
  const source = { transport: "udp" as const, hostname: body.ip, port: body.port as number };
  const destination = { ...source, port: receivePort as number };
  udp.transport.bindPlainRtp(room!, participant.id, source, destination, { audio, video });
  return Response.json({
    participantId: participant.id,
    name: participant.name,
    token: session.token,
    ip: udp.host,
    port: udp.transport.port,
    sdp: plainRtpSdp({
      title: meeting.title,
      ip: body.ip,
      port: destination.port,
      audioPayloadType: audio,
      videoPayloadType: video,
    }),
  }, { status: 201 });
});

export const removeRtpParticipant: RouteHandler = api((req, { hub, params }) => {
  const meeting = hub.registry.require(params.id);
  const participant = meeting.participant(params.participantId);
  if (!participant || participant.kind !== "rtp") {
    throw new MeetingError("not_found", "no such RTP participant in this meeting");
  }
  const session = hub.sessions.byToken(bearerToken(req));
  if (!session || session.id !== participant.sessionId) {
    throw new MeetingError("forbidden", "send the token returned when this participant was added");
  }
  meeting.leave(participant.id);
  return new Response(null, { status: 204 });
});
