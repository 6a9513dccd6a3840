/**
 * The media mode policy: exactly two participants that can both reach each other directly
 * send media peer to peer (`p2p`); anything else goes through the server (`relay`).
 *
 * @example
 * ```ts
 * decideMode([{ id: "a", p2p: "webrtc" }, { id: "b", p2p: "webrtc" }], "auto", new Set()); // "p2p"
 * decideMode([{ id: "a", p2p: "webrtc" }, { id: "b", p2p: "udp" }], "auto", new Set());    // "relay"
 * ```
 * @module
 */

/** How a participant can reach a peer directly: WebRTC (browsers) or plain UDP (terminal client). */
export type P2pCapability = "webrtc" | "udp";
/** Server policy: `auto` uses P2P where it can, `off` always relays. */
export type P2pPolicy = "auto" | "off";
/** How media flows in a meeting. */
export type MediaMode = "p2p" | "relay";
/**
 * Which way one participant's media goes now, as the participant says: `p2p` once its direct
 * path to the peer carries media, `relay` through the server (always in relay mode).
 */
export type PathKind = "p2p" | "relay";

/** What the policy needs of a participant. */
export interface ModeCandidate {
  id: string;
  p2p: P2pCapability | null;
}

/** The key of a pair of participants, the same whichever order they come in. */
export function pairKey(a: string, b: string): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}

/**
 * The mode for these participants: `p2p` when the policy allows it, there are exactly two,
 * both have the same way to reach the other, and that pair has not failed to connect before.
 */
export function decideMode(
  participants: readonly ModeCandidate[],
  policy: P2pPolicy,
  failedPairs: ReadonlySet<string>,
): MediaMode {
  if (policy === "off" || participants.length !== 2) return "relay";
  const [a, b] = participants;
  if (a.p2p === null || a.p2p !== b.p2p) return "relay";
  return failedPairs.has(pairKey(a.id, b.id)) ? "relay" : "p2p";
}
