/**
 * Plain-RTP participants (ffmpeg, GStreamer, a SIP gateway) over the REST API:
 *
 * - `POST /api/meetings/:id/rtp` with `Authorization: Bearer <token of the creator or a
 *   member>` and `{"name","ip","port","audioPayloadType"?,"videoPayloadType"?}`: 201 with
 *   `{"participantId","token","ip","port","sdp"}` — where to send RTP (the server's UDP
 *   socket), and an SDP describing what the server sends back to `ip:port`. Packets are
 *   accepted from `ip:port` only, and the server sends to `ip:port` only after RTP came from
 *   there, until none has come for 10 s (latching, see server/media_consent.ts); a seat that
 *   sends nothing for 60 s leaves. An optional `"receivePort"` makes the server send to
 *   `ip:receivePort` instead (same IP): ffmpeg's SDP receiver cannot share its port with a
 *   sender. No passcode is asked: the caller is the creator or a member.
 *
 *   400 for an address that cannot be a participant's (unspecified, broadcast, multicast,
 *   reserved, port 0, the server's own UDP socket); 409 `address_in_use` when `ip:port` is
 *   bound to another seat; 429 `limit_reached` past `MAX_RTP_SEATS_PER_MEETING` (64) seats in
 *   the meeting or `MAX_RTP_SEATS_PER_IP` (128; server/udp_endpoint.ts) from one IP.
 * - `DELETE /api/meetings/:id/rtp/:participantId` with `Authorization: Bearer <that token>`:
 *   204, the participant leaves.
 *
 * @module
 */

import { MeetingError } from "../../meeting/errors.ts";
import { normalizeName } from "../../meeting/names.ts";
import { plainRtpSdp } from "../../server/sdp.ts";
import {
  type LocalAddresses,
  localIpv4Interfaces,
  refuseRtpAddress,
} from "../../server/udp_destination.ts";
import type { RouteHandler } from "../context.ts";
import { api, bearerToken, readJsonObject } from "./meetings.ts";

function payloadType(value: unknown, field: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || (value as number) < 96 || (value as number) > 127) {
    throw new MeetingError("bad_request", `${field} must be a dynamic payload type, 96-127`);
  }
  return value as number;
}

export const addRtpParticipant: RouteHandler = api(async (req, { hub, params, udp }) => {
  if (!udp) throw new MeetingError("internal", "the UDP endpoint is not running");
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
  const machine: LocalAddresses = { serverPort: udp.endpoint.port, local: localIpv4Interfaces() };
  if (typeof body.ip !== "string") throw new MeetingError("bad_request", "ip must be a string");
  const refusal = refuseRtpAddress(body.ip, body.port as number, machine);
  if (refusal) throw new MeetingError("bad_request", refusal);
  const receivePort = body.receivePort ?? body.port;
  const receiveRefusal = refuseRtpAddress(body.ip, receivePort as number, machine);
  if (receiveRefusal) {
    throw new MeetingError("bad_request", `receivePort: ${receiveRefusal}`);
  }
  const audio = payloadType(body.audioPayloadType, "audioPayloadType");
  const video = payloadType(body.videoPayloadType, "videoPayloadType");
  if (audio === undefined && video === undefined) {
    throw new MeetingError("bad_request", "give audioPayloadType and/or videoPayloadType");
  }
  if (audio !== undefined && audio === video) {
    throw new MeetingError("bad_request", "audio and video need different payload types");
  }
  const source = { transport: "udp" as const, hostname: body.ip, port: body.port as number };
  const destination = { ...source, port: receivePort as number };
  udp.endpoint.assertPlainRtpAllowed(room!, source);
  const session = hub.sessions.create(name);
  // The caller is the creator or a member: the seat needs no passcode.
  const { participant } = meeting.join(session.id, name, { kind: "rtp", preauthorized: true });
  meeting.setMediaState(participant.id, { audio: audio !== undefined, video: video !== undefined });
  udp.endpoint.bindPlainRtp(room!, participant.id, source, destination, { audio, video });
  return Response.json({
    participantId: participant.id,
    name: participant.name,
    token: session.token,
    ip: udp.host,
    port: udp.endpoint.port,
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
