/**
 * Errors of the meeting domain. Each carries a stable `code` that the control protocol and
 * the REST API send to clients with the message.
 *
 * @example
 * ```ts
 * throw new MeetingError("forbidden", "only the creator can cancel this meeting");
 * ```
 * @module
 */

/** Stable error codes, shared by the WebSocket protocol and the REST API. */
export type ErrorCode =
  | "bad_request"
  | "bad_json"
  | "unknown_type"
  | "too_large"
  | "not_identified"
  | "invalid_token"
  | "invalid_name"
  | "invalid_title"
  | "invalid_text"
  | "not_found"
  | "meeting_closed"
  | "not_member"
  | "already_in_meeting"
  | "forbidden"
  | "unauthorized"
  | "wrong_passcode"
  /** The host closed the meeting to people who hold no seat. */
  | "closed_to_newcomers"
  /** The meeting has a waiting room: the host will let you in (an `admitted` event) or not. */
  | "waiting_for_host"
  | "rate_limited"
  | "limit_reached"
  | "bad_origin"
  /** A UDP address already bound to another seat. */
  | "address_in_use"
  | "bad_host"
  | "unsupported_media_type"
  /** The meeting is being recorded already, or is not being recorded. */
  | "recording_state"
  /** Recording is turned off on this server (`--recordings off`), or the disk is too full. */
  | "recordings_unavailable"
  /** The server is draining (shutting down): it takes no new meetings. */
  | "draining"
  /** Another node of the cluster holds the meeting: `location` is its page there. */
  | "moved"
  | "internal";

/** An error a client caused and can be told about. */
export class MeetingError extends Error {
  /** For `rate_limited`: how long until the same request can succeed, ms. */
  readonly retryAfterMs: number | undefined;
  /** For `moved`: where the meeting is (its page on the node that holds it). */
  readonly location: string | undefined;

  constructor(
    readonly code: ErrorCode,
    message: string,
    details: { retryAfterMs?: number; location?: string } = {},
  ) {
    super(message);
    this.name = "MeetingError";
    this.retryAfterMs = details.retryAfterMs;
    this.location = details.location;
  }
}

/** The HTTP status that goes with an error code in the REST API. */
export function httpStatusOf(code: ErrorCode): number {
  switch (code) {
    case "not_found":
      return 404;
    case "forbidden":
    case "wrong_passcode":
    case "closed_to_newcomers":
    case "waiting_for_host":
    case "bad_origin":
      return 403;
    case "rate_limited":
    case "limit_reached":
      return 429;
    case "unauthorized":
    case "invalid_token":
      return 401;
    case "meeting_closed":
    case "already_in_meeting":
    case "address_in_use":
    case "recording_state":
      return 409;
    case "recordings_unavailable":
    case "draining":
      return 503;
    case "too_large":
      return 413;
    case "bad_host":
      return 421;
    case "unsupported_media_type":
      return 415;
    case "internal":
      return 500;
    case "moved":
      return 307;
    default:
      return 400;
  }
}
