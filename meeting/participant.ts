/**
 * A participant: one person's seat in one meeting.
 *
 * @example
 * ```ts
 * const p: Participant = {
 *   id: "p1", sessionId: "s1", name: "Ann", isCreator: true, joinedAt: Date.now(), connected: true,
 *   audioSsrc: 1, videoSsrc: 2, smallVideoSsrc: 3, screenSsrc: 4, audio: true, video: true,
 *   screen: false, kind: "client", p2p: "webrtc", mediaKey: "k", transport: "websocket",
 *   path: "relay", hostMuted: { audio: false, video: false, screen: false }, handRaised: false,
 * };
 * participantInfo(p, "relay", "p1"); // what the roster shows of Ann, the host
 * ```
 * @module
 */

import type { MediaMode, P2pCapability, PathKind } from "./mode.ts";

/** A seat in a meeting, held by one session. */
export interface Participant {
  /** Public id, unique within the server. */
  readonly id: string;
  /** The session (identity with a token) that holds this seat. */
  readonly sessionId: string;
  /** Display name, unique within the meeting. */
  readonly name: string;
  /** Whether this participant's session created the meeting. */
  readonly isCreator: boolean;
  /** Server time of the join, ms since the epoch. */
  readonly joinedAt: number;
  /** False while the connection is lost and the seat is held for the grace period. */
  connected: boolean;
  /** SSRC the server stamps on this participant's audio. */
  readonly audioSsrc: number;
  /** SSRC the server stamps on this participant's video. */
  readonly videoSsrc: number;
  /**
   * SSRC of this participant's second, smaller encoding of its camera (simulcast), as it
   * reaches the server; receivers get either encoding as `videoSsrc`. Never in rosters.
   */
  readonly smallVideoSsrc: number;
  /** SSRC the server stamps on this participant's shared screen (its second video source). */
  readonly screenSsrc: number;
  /** Whether the microphone is on (as the participant says). */
  audio: boolean;
  /** Whether the camera is on (as the participant says). */
  video: boolean;
  /**
   * Whether the participant shares its screen (as it says): the server forwards its screen
   * only while this is true.
   */
  screen: boolean;
  /** `client`: our browser or terminal client; `rtp`: a plain-RTP tool (cannot do P2P). */
  readonly kind: ParticipantKind;
  /** How this participant can reach a peer directly, if at all. */
  readonly p2p: P2pCapability | null;
  /**
   * Binds a media transport to this seat (the UDP bind), and does nothing else: never shown
   * in rosters. 128 bits (util/ids.ts newToken); kept across reconnects of the seat.
   */
  readonly mediaKey: string;
  /**
   * Which server transport carries this seat's media now (null: none attached). The domain
   * never sets it: the server's room does, as transports are attached and closed.
   */
  transport: TransportKind | null;
  /**
   * Which way this participant says its media goes: `p2p` while its direct path carries it
   * (only in p2p mode; back to `relay` when the meeting leaves p2p mode).
   */
  path: PathKind;
  /**
   * What the host turned off: the server takes none of that media from this participant until
   * it turns the device on again itself (a `media` request saying so).
   */
  hostMuted: { audio: boolean; video: boolean; screen: boolean };
  /** Whether the participant has raised its hand (to speak, or to vote). */
  handRaised: boolean;
}

/**
 * A server media transport's carrier: `webtransport` (QUIC datagrams), `websocket` (binary
 * messages on the control WebSocket), `udp` (a bound UDP address: terminal clients, plain RTP).
 */
export type TransportKind = "webtransport" | "websocket" | "udp";

/**
 * What the roster shows as a participant's media path: a server transport, or `p2p` while the
 * participant's media goes straight to its peer.
 */
export type RosterTransport = TransportKind | "p2p";

/** What kind of program holds a seat. */
export type ParticipantKind = "client" | "rtp";

/** What everyone in a meeting may see of a participant (no session id). */
export interface ParticipantInfo {
  id: string;
  name: string;
  isCreator: boolean;
  /**
   * Whether this participant holds the host role: may end the meeting and hand the role over.
   * The creator holds it while seated; otherwise it passes to whoever has been in longest.
   */
  isHost: boolean;
  joinedAt: number;
  connected: boolean;
  audioSsrc: number;
  videoSsrc: number;
  /** The SSRC of the participant's shared screen, as the others receive it. */
  screenSsrc: number;
  audio: boolean;
  video: boolean;
  /** Whether the participant shares its screen now. */
  screen: boolean;
  kind: ParticipantKind;
  p2p: P2pCapability | null;
  /**
   * How this participant's media travels: `p2p` when the meeting is in p2p mode and the
   * participant said its direct path carries its media (until then it goes through the
   * server), else the kind of the server transport attached to the seat, or null when none is
   * (not bound yet, or the carrier went away).
   */
  transport: RosterTransport | null;
  /** Whether the participant has raised its hand. */
  handRaised: boolean;
}

/**
 * The public view of a participant for rosters; `mode` is the meeting's media mode, `hostId`
 * the participant holding the host role.
 */
export function participantInfo(
  p: Participant,
  mode: MediaMode,
  hostId: string | null,
): ParticipantInfo {
  return {
    id: p.id,
    name: p.name,
    isCreator: p.isCreator,
    isHost: p.id === hostId,
    joinedAt: p.joinedAt,
    connected: p.connected,
    audioSsrc: p.audioSsrc,
    videoSsrc: p.videoSsrc,
    screenSsrc: p.screenSsrc,
    audio: p.audio,
    video: p.video,
    screen: p.screen,
    kind: p.kind,
    p2p: p.p2p,
    transport: mode === "p2p" && p.path === "p2p" ? "p2p" : p.transport,
    handRaised: p.handRaised,
  };
}
