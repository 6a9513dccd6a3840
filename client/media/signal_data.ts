/**
 * Signalling data from the P2P peer, checked before any of it reaches the RTCPeerConnection.
 * The server relays `signal` messages as the peer sent them (any JSON up to the control
 * message cap), so every field is the peer's choice. Pure.
 *
 * @example
 * ```ts
 * import type { ControlClient } from "../control_client.ts";
 *
 * function listen(client: ControlClient, pc: RTCPeerConnection) {
 *   client.on("signal", async (event) => {
 *     const signal = parseSignal(event.data);
 *     if (signal?.kind === "description") await pc.setRemoteDescription(signal.description);
 *   });
 * }
 * ```
 * @module
 */

/**
 * Longest session description taken from the peer, characters. Ours (one data channel) is
 * under 1 KB; a browser with many interfaces and candidates inline stays within a few KB.
 */
export const MAX_SIGNAL_SDP_LENGTH = 16 * 1024;

/** Longest ICE candidate line, characters (a candidate line is about 100-200). */
export const MAX_SIGNAL_CANDIDATE_LENGTH = 1024;

/** Longest `sdpMid` and `usernameFragment` of a candidate, characters (RFC 8839: ufrag <= 256). */
export const MAX_SIGNAL_FIELD_LENGTH = 256;

/**
 * Most remote ICE candidates one link takes (held before the description, or added after):
 * a browser gathers a handful per interface. Each one the peer gives makes this page send
 * connectivity checks to an address of the peer's choosing, so further ones are ignored.
 */
export const MAX_REMOTE_CANDIDATES = 64;

/** A session description from the peer: only offers and answers are used. */
export interface SignalDescription {
  type: "offer" | "answer";
  sdp: string;
}

/** An ICE candidate from the peer, in the shape `addIceCandidate` takes. */
export interface SignalCandidate {
  candidate: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
  usernameFragment?: string | null;
}

/**
 * Signalling data, checked: a description, a candidate, or the end of the peer's candidates
 * (`candidate: null`).
 */
export type SignalData =
  | { kind: "description"; description: SignalDescription }
  | { kind: "candidate"; candidate: SignalCandidate | null };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function optionalString(value: unknown): value is string | null | undefined {
  return value === undefined || value === null ||
    (typeof value === "string" && value.length <= MAX_SIGNAL_FIELD_LENGTH);
}

/**
 * The peer's signalling data, or null when it is not of the expected shape or exceeds a
 * limit (the caller drops it; nothing reaches the peer connection).
 *
 * @example
 * ```ts
 * parseSignal({ kind: "candidate", candidate: null }); // { kind: "candidate", candidate: null }
 * parseSignal({ kind: "description", description: { type: "rollback" } }); // null
 * ```
 */
export function parseSignal(raw: unknown): SignalData | null {
  if (!isRecord(raw)) return null;
  if (raw.kind === "description") {
    const d = raw.description;
    if (!isRecord(d) || (d.type !== "offer" && d.type !== "answer")) return null;
    if (typeof d.sdp !== "string" || d.sdp.length > MAX_SIGNAL_SDP_LENGTH) return null;
    return { kind: "description", description: { type: d.type, sdp: d.sdp } };
  }
  if (raw.kind === "candidate") {
    const c = raw.candidate;
    if (c === null || c === undefined) return { kind: "candidate", candidate: null };
    if (!isRecord(c)) return null;
    if (typeof c.candidate !== "string" || c.candidate.length > MAX_SIGNAL_CANDIDATE_LENGTH) {
      return null;
    }
    if (!optionalString(c.sdpMid) || !optionalString(c.usernameFragment)) return null;
    const index = c.sdpMLineIndex;
    if (
      index !== undefined && index !== null &&
      !(Number.isInteger(index) && (index as number) >= 0 && (index as number) <= 0xffff)
    ) {
      return null;
    }
    const candidate: SignalCandidate = { candidate: c.candidate };
    if (c.sdpMid !== undefined) candidate.sdpMid = c.sdpMid;
    if (index !== undefined) candidate.sdpMLineIndex = index as number | null;
    if (c.usernameFragment !== undefined) candidate.usernameFragment = c.usernameFragment;
    return { kind: "candidate", candidate };
  }
  return null;
}

/**
 * Counts the remote candidates of one link against {@linkcode MAX_REMOTE_CANDIDATES}.
 *
 * @example
 * ```ts
 * const budget = new CandidateBudget();
 * async function addCandidate(pc: RTCPeerConnection, candidate: RTCIceCandidateInit) {
 *   if (budget.take()) await pc.addIceCandidate(candidate);
 * }
 * ```
 */
export class CandidateBudget {
  #taken = 0;
  constructor(readonly max = MAX_REMOTE_CANDIDATES) {}

  /** True when one more candidate may be used; false once `max` were. */
  take(): boolean {
    if (this.#taken >= this.max) return false;
    this.#taken++;
    return true;
  }

  /** Candidates used so far. */
  get taken(): number {
    return this.#taken;
  }
}
