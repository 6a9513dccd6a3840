/**
 * Which received SSRCs get a receiver. The roster says which SSRCs belong to whom; a stream
 * the roster does not know yet (its owner's roster entry is on its way) still gets one, but
 * only a few such at a time: in P2P every packet comes straight from the peer, who can put
 * a new SSRC on each one, and every receiver holds a decoder. Pure.
 *
 * @example
 * ```ts
 * import type { RtpPacket } from "../../media/rtp.ts";
 * import type { VideoReceiver } from "./video_receiver.ts";
 *
 * function onPacket(packet: RtpPacket, receivers: Map<number, VideoReceiver>, roster: Set<number>,
 *   make: () => VideoReceiver) {
 *   if (admitStream(packet.ssrc, receivers, (ssrc) => roster.has(ssrc))) {
 *     receivers.set(packet.ssrc, make());
 *   }
 * }
 * ```
 * @module
 */

/**
 * Most receivers of one kind (video, audio) for SSRCs the roster does not know. They close
 * when the next roster does not name them; until then, packets of further unknown SSRCs are
 * dropped.
 */
export const MAX_UNKNOWN_STREAMS = 4;

/** Most SSRCs whose packets are counted for the statistics (the debug counters). */
export const MAX_SSRCS_COUNTED = 128;

/**
 * Whether `ssrc` may have a receiver: it has one, or the roster knows it, or fewer than
 * `max` receivers of SSRCs the roster does not know are held.
 *
 * @example
 * ```ts
 * admitStream(9, new Map(), () => false); // true: the first unknown one
 * ```
 */
export function admitStream(
  ssrc: number,
  held: ReadonlyMap<number, unknown>,
  known: (ssrc: number) => boolean,
  max = MAX_UNKNOWN_STREAMS,
): boolean {
  if (held.has(ssrc) || known(ssrc)) return true;
  let unknown = 0;
  for (const s of held.keys()) if (!known(s)) unknown++;
  return unknown < max;
}
