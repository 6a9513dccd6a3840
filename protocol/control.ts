/**
 * The control protocol: JSON messages over one WebSocket (`/ws`) per client.
 * Shared by the server, the browser and the terminal client. See docs/protocol.md.
 *
 * Every request carries an `id` chosen by the client; the server answers each with a
 * `reply` (same `id`) or an `error` (same `id`, or `null` when the request could not be read).
 * Events carry no `id`.
 *
 * @example
 * ```ts
 * const req: ClientRequest = { id: 1, type: "identify", name: "Ann" };
 * const parsed = parseClientMessage(JSON.stringify(req));
 * if ("request" in parsed) console.log(parsed.request.type); // "identify"
 * ```
 * @module
 */

import type { ChatMessage } from "../meeting/chat.ts";
import type { ErrorCode } from "../meeting/errors.ts";
import type {
  HostMuteKind,
  MeetingDetails,
  MeetingMode,
  MeetingSummary,
  NewcomerPolicy,
  Reaction,
  RecordingState,
  RecordingStopReason,
  Waiter,
} from "../meeting/meeting.ts";
import type { P2pCapability, PathKind } from "../meeting/mode.ts";
import type { ParticipantInfo, RosterTransport } from "../meeting/participant.ts";
import type { SeatMedia, WebTransportInfo } from "./media.ts";

/**
 * A roster entry (`roster` events, meeting details): the participant's public fields, with
 * `transport`: how its media travels (`websocket`, `udp`, `webtransport`, `p2p`, or null when
 * the server holds no media transport for the seat). `PathKind`: what a `path` request says.
 */
export type { ParticipantInfo, PathKind, RosterTransport };

/** Largest control message accepted, in bytes. */
export const MAX_CONTROL_MESSAGE_BYTES = 64 * 1024;

/** Request ids are numbers or short strings. */
export type RequestId = number | string;

/** Requests a client sends, by `type`. */
export type ClientRequest =
  /**
   * `handoff`: a one-time code from another node of the cluster, which made a meeting here for
   * this page (the page found it in its URL's fragment): identifies as the session it was made for.
   */
  | { id: RequestId; type: "identify"; name?: string; token?: string; handoff?: string }
  | { id: RequestId; type: "subscribe_meetings" }
  | { id: RequestId; type: "unsubscribe_meetings" }
  | {
    id: RequestId;
    type: "create";
    title: string;
    join?: boolean;
    p2p?: P2pCapability;
    passcode?: string;
  }
  | {
    id: RequestId;
    type: "join";
    meetingId: string;
    name?: string;
    p2p?: P2pCapability;
    passcode?: string;
  }
  | { id: RequestId; type: "leave" }
  | { id: RequestId; type: "cancel"; meetingId?: string }
  | { id: RequestId; type: "chat"; text: string }
  /** Your microphone and camera are on or off; `screen`: you share your screen (absent: unchanged). */
  | { id: RequestId; type: "media"; audio: boolean; video: boolean; screen?: boolean }
  | { id: RequestId; type: "signal"; to: string; data: unknown }
  | { id: RequestId; type: "p2p_failed" }
  /** Your media now goes this way: `p2p` once the direct path carries it, else `relay`. */
  | { id: RequestId; type: "path"; path: PathKind }
  /** The host hands the host role to another participant of the meeting. */
  | { id: RequestId; type: "host"; participantId: string }
  /** The host turns off a participant's microphone or camera, or stops its screen share. */
  | { id: RequestId; type: "mute"; participantId: string; kind: HostMuteKind }
  /** The host removes a participant, who cannot come back with that session. */
  | { id: RequestId; type: "remove"; participantId: string; reason?: string }
  /**
   * Raises or lowers your hand; the host may lower another's (`participantId`).
   */
  | { id: RequestId; type: "hand"; raised: boolean; participantId?: string }
  /** Sends a reaction (one of REACTIONS) to everyone in the meeting. */
  | { id: RequestId; type: "react"; reaction: Reaction }
  /** The host opens the meeting to newcomers or closes it. */
  | { id: RequestId; type: "newcomers"; policy: NewcomerPolicy }
  /** The host lets someone in the waiting room in (`admit: true`) or turns them away. */
  | { id: RequestId; type: "admit"; waitId: string; admit: boolean }
  /** The host starts (`on: true`) or stops recording the meeting. */
  | { id: RequestId; type: "record"; on: boolean }
  /** The page's media now travels on this control WebSocket (it left WebTransport). */
  | { id: RequestId; type: "media_transport"; kind: "websocket" }
  | { id: RequestId; type: "ping" };

/** Every request type. */
export const REQUEST_TYPES = [
  "identify",
  "subscribe_meetings",
  "unsubscribe_meetings",
  "create",
  "join",
  "leave",
  "cancel",
  "chat",
  "media",
  "signal",
  "p2p_failed",
  "path",
  "host",
  "mute",
  "remove",
  "newcomers",
  "admit",
  "hand",
  "react",
  "record",
  "media_transport",
  "ping",
] as const satisfies readonly ClientRequest["type"][];

/** What `join` (and `create` with `join: true`) answers. */
export interface JoinReply {
  meeting: MeetingDetails;
  /** Your participant id in this meeting. */
  participantId: string;
  /** Your display name in this meeting (may carry a suffix if the name was taken). */
  name: string;
  /** True when this took back a seat you still held (a reconnect). */
  resumed: boolean;
  /** The last chat lines, oldest first. */
  chat: ChatMessage[];
  /**
   * SSRCs to send with, the SSRC of the mix you receive, and the seat's media key (binds a
   * media transport to this seat, and does nothing else).
   */
  media: SeatMedia;
  /**
   * In a cluster (`--redis`): the other live nodes' addresses, where a page offers to start
   * again if this one stops answering (its meetings end with it).
   */
  nodes?: string[];
}

/** Results by request type. */
export interface ReplyResults {
  identify: { token: string; name: string };
  subscribe_meetings: { meetings: MeetingSummary[] };
  unsubscribe_meetings: Record<string, never>;
  /**
   * In a cluster, a `create` without `join` may be placed on another node: `meeting.url` is
   * then that node's address, and `handoff` the code for the meeting's page there
   * (`url/m/id#handoff=CODE`), which makes that page the creator.
   */
  create: { meeting: MeetingDetails; join?: JoinReply; handoff?: string };
  join: JoinReply;
  leave: Record<string, never>;
  cancel: Record<string, never>;
  chat: { message: ChatMessage };
  media: Record<string, never>;
  signal: Record<string, never>;
  p2p_failed: Record<string, never>;
  path: Record<string, never>;
  host: Record<string, never>;
  mute: Record<string, never>;
  remove: Record<string, never>;
  newcomers: Record<string, never>;
  admit: Record<string, never>;
  hand: Record<string, never>;
  react: Record<string, never>;
  /** The recording running now (null once stopped). */
  record: { recording: RecordingState | null };
  /** The server's WebTransport endpoint as it is now (its certificate may have been renewed). */
  media_transport: { webTransport?: WebTransportInfo };
  ping: { now: number };
}

/** Why you are no longer in a meeting without having asked to leave. */
export type RemovedReason = "cancelled" | "ended" | "replaced" | "timeout" | "removed";

/** Messages the server sends. */
export type ServerMessage =
  | { type: "reply"; id: RequestId; result: unknown }
  | {
    type: "error";
    id: RequestId | null;
    code: ErrorCode;
    message: string;
    /** With `rate_limited` from an access limit: when to try again, ms. */
    retryAfterMs?: number;
    /** With `moved`: the meeting's page on the node of the cluster that holds it. */
    location?: string;
  }
  | { type: "meetings"; meetings: MeetingSummary[] }
  /** Every participant of the meeting, on join, leave, presence, media transport or mode change. */
  | { type: "roster"; meetingId: string; participants: ParticipantInfo[] }
  | { type: "chat"; meetingId: string; message: ChatMessage }
  /** `removed`: the host removed you; `message` is the reason it gave (plain text, may be empty). */
  | { type: "removed"; meetingId: string; reason: RemovedReason; message?: string }
  /** The host turned off your microphone (`audio`) or camera (`video`); you may turn it on again. */
  | { type: "muted"; meetingId: string; kind: HostMuteKind; by: string }
  /**
   * A recording started (`recording`) or stopped (`recording` null; `stopped` says which,
   * why, and who stopped it: null when the server did).
   */
  | {
    type: "recording";
    meetingId: string;
    recording: RecordingState | null;
    stopped?: { id: string; reason: RecordingStopReason; by: string | null };
  }
  /**
   * The server is draining (shutting down once its meetings end): this meeting goes on, new
   * ones start elsewhere.
   */
  | { type: "draining"; meetingId: string }
  /** A recording's file is ready (the host downloads it over REST). */
  | {
    type: "recording_saved";
    meetingId: string;
    recordingId: string;
    durationMs: number;
    bytes: number;
  }
  /** A member's reaction, shown over its tile for a few seconds. */
  | { type: "reaction"; meetingId: string; participantId: string; reaction: Reaction }
  /** The host opened the meeting to newcomers or closed it. */
  | { type: "newcomers"; meetingId: string; policy: NewcomerPolicy }
  /** Who waits to be let in (to members, on each change and on joining). */
  | { type: "waiting"; meetingId: string; waiting: Waiter[] }
  /** To a connection in the waiting room: the host let it in (join again) or not. */
  | { type: "admission"; meetingId: string; admitted: boolean }
  | { type: "levels"; meetingId: string; levels: SpeakerLevel[] }
  /**
   * To one member: its audio reaches the mixer steadily `earlyMs` before it is mixed. A
   * sender may drop that much of its input once (the mix then carries its voice that much
   * sooner); one that ignores it loses nothing.
   */
  | { type: "mix_timing"; meetingId: string; earlyMs: number }
  | { type: "mode"; meetingId: string; mode: MeetingMode }
  | { type: "signal"; meetingId: string; from: string; data: unknown }
  | { type: "peer"; meetingId: string; participantId: string; ip: string; port: number };

/** How loud a participant is in the mix, published a few times a second. */
export interface SpeakerLevel {
  participantId: string;
  /** Smoothed RMS level, dBFS (-127 = silence). */
  level: number;
  /** Whether the mixer currently mixes this participant (among the loudest active). */
  speaking: boolean;
}

/** Result of {@linkcode parseClientMessage}. */
export type ParsedMessage =
  | { request: ClientRequest }
  | { error: { id: RequestId | null; code: ErrorCode; message: string } };

function isRequestId(value: unknown): value is RequestId {
  return (typeof value === "number" && Number.isSafeInteger(value)) ||
    (typeof value === "string" && value.length <= 64);
}

/**
 * Reads one text message: JSON, an object, a valid `id`, a known `type`, and fields of the
 * right kinds. Field contents (name length, text length...) are checked by the domain.
 */
export function parseClientMessage(text: string): ParsedMessage {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { error: { id: null, code: "bad_json", message: "message is not valid JSON" } };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { error: { id: null, code: "bad_request", message: "message must be a JSON object" } };
  }
  const msg = value as Record<string, unknown>;
  if (!isRequestId(msg.id)) {
    return {
      error: { id: null, code: "bad_request", message: "id must be an integer or a short string" },
    };
  }
  const id = msg.id;
  const fail = (code: ErrorCode, message: string): ParsedMessage => ({
    error: { id, code, message },
  });
  if (typeof msg.type !== "string") return fail("bad_request", "type must be a string");
  if (!(REQUEST_TYPES as readonly string[]).includes(msg.type)) {
    return fail("unknown_type", `unknown message type "${msg.type.slice(0, 40)}"`);
  }
  const optionalString = (field: string) =>
    msg[field] === undefined || typeof msg[field] === "string";
  switch (msg.type) {
    case "identify":
      if (!optionalString("name") || !optionalString("token") || !optionalString("handoff")) {
        return fail("bad_request", "identify takes string name, token and/or handoff");
      }
      if (msg.name === undefined && msg.token === undefined && msg.handoff === undefined) {
        return fail("bad_request", "identify needs a name, a token or a handoff");
      }
      break;
    case "create":
      if (typeof msg.title !== "string") return fail("bad_request", "create needs a string title");
      if (msg.join !== undefined && typeof msg.join !== "boolean") {
        return fail("bad_request", "join must be a boolean");
      }
      if (msg.p2p !== undefined && msg.p2p !== "webrtc" && msg.p2p !== "udp") {
        return fail("bad_request", 'p2p must be "webrtc" or "udp"');
      }
      break;
    case "join":
      if (typeof msg.meetingId !== "string") {
        return fail("bad_request", "join needs a string meetingId");
      }
      if (!optionalString("name")) return fail("bad_request", "name must be a string");
      if (msg.p2p !== undefined && msg.p2p !== "webrtc" && msg.p2p !== "udp") {
        return fail("bad_request", 'p2p must be "webrtc" or "udp"');
      }
      break;
    case "signal":
      if (typeof msg.to !== "string") return fail("bad_request", "signal needs a string to");
      if (msg.data === undefined) return fail("bad_request", "signal needs data");
      break;
    case "cancel":
      if (!optionalString("meetingId")) return fail("bad_request", "meetingId must be a string");
      break;
    case "chat":
      if (typeof msg.text !== "string") return fail("bad_request", "chat needs a string text");
      break;
    case "host":
    case "mute":
    case "remove":
      if (typeof msg.participantId !== "string") {
        return fail("bad_request", `${msg.type} needs a string participantId`);
      }
      if (
        msg.type === "mute" && msg.kind !== "audio" && msg.kind !== "video" &&
        msg.kind !== "screen"
      ) {
        return fail("bad_request", 'kind must be "audio", "video" or "screen"');
      }
      if (msg.type === "remove" && msg.reason !== undefined && typeof msg.reason !== "string") {
        return fail("bad_request", "reason must be a string");
      }
      break;
    case "hand":
      if (typeof msg.raised !== "boolean") return fail("bad_request", "raised must be a boolean");
      if (msg.participantId !== undefined && typeof msg.participantId !== "string") {
        return fail("bad_request", "participantId must be a string");
      }
      break;
    case "react":
      if (typeof msg.reaction !== "string") return fail("bad_request", "reaction must be a string");
      break;
    case "newcomers":
      if (msg.policy !== "open" && msg.policy !== "closed" && msg.policy !== "waiting") {
        return fail("bad_request", 'policy must be "open", "closed" or "waiting"');
      }
      break;
    case "admit":
      if (typeof msg.waitId !== "string" || typeof msg.admit !== "boolean") {
        return fail("bad_request", "admit needs a string waitId and a boolean admit");
      }
      break;
    case "path":
      if (msg.path !== "p2p" && msg.path !== "relay") {
        return fail("bad_request", 'path must be "p2p" or "relay"');
      }
      break;
    case "media_transport":
      if (msg.kind !== "websocket") return fail("bad_request", 'kind must be "websocket"');
      break;
    case "record":
      if (typeof msg.on !== "boolean") return fail("bad_request", "record needs a boolean on");
      break;
    case "media":
      if (typeof msg.audio !== "boolean" || typeof msg.video !== "boolean") {
        return fail("bad_request", "media needs boolean audio and video");
      }
      if (msg.screen !== undefined && typeof msg.screen !== "boolean") {
        return fail("bad_request", "screen must be a boolean");
      }
      break;
  }
  return { request: msg as unknown as ClientRequest };
}
