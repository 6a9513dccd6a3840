/**
 * The UDP media transport: one binding of the `UdpEndpoint` (server/udp_endpoint.ts) (a seat's proved UDP
 * address), attached to its seat. It sends the seat's media from the endpoint's socket to the
 * binding's destination while the address has consent (server/media_consent.ts), mapped to a
 * plain-RTP tool's payload types. The endpoint's binding table owns it: the binding goes when
 * the transport closes (the room replaced it, the seat left, the meeting ended), and the
 * transport is closed when the binding goes (consent lapsed for the idle window, a new bind
 * of the seat, the endpoint closing).
 *
 * Congestion: `queuedBytes()` is 0. A datagram is handed to the kernel at once (or with the
 * turn's `sendmmsg`), and nothing here sees queues or loss beyond it; receiver reports and rate
 * control will give UDP a congestion signal.
 *
 * @example
 * ```ts
 * import type { Clock } from "../util/clock.ts";
 * import type { DatagramIo } from "./datagram_io.ts";
 * import { Consent } from "./media_consent.ts";
 * import type { Room } from "./room.ts";
 *
 * function bind(clock: Clock, io: DatagramIo, room: Room, participantId: string) {
 *   const transport = new UdpTransport({
 *     address: { ip: "203.0.113.7", port: 40000 },
 *     destination: { transport: "udp", hostname: "203.0.113.7", port: 40000 },
 *     consent: new Consent(clock),
 *     send: (packet, to) => io.send(packet, to),
 *   });
 *   room.attachMedia(participantId, transport);
 * }
 * ```
 * @module
 */

import { isRtcp } from "../media/rtp.ts";
import { PT_OPUS, PT_VP8 } from "../protocol/media.ts";
import type { Consent } from "./media_consent.ts";
import { TransportBase } from "./media_transport.ts";

/** Payload types a plain-RTP participant uses, mapped to and from ours. */
export interface PayloadTypes {
  audio?: number;
  video?: number;
}

/** What a {@linkcode UdpTransport} is made of. */
export interface UdpTransportInit {
  /** The bound source address (where the seat's packets come from). */
  address: { ip: string; port: number };
  /** Where the seat's media goes (the source, or a plain-RTP seat's `receivePort`). */
  destination: Deno.NetAddr;
  /** Plain-RTP payload types; undefined for our clients (which use ours). */
  payloadTypes?: PayloadTypes;
  /** The address's consent to receive: nothing is sent without it. */
  consent: Consent;
  /** Sends one datagram from the endpoint's socket. */
  send(packet: Uint8Array, to: Deno.NetAddr): void;
  /** Counts packets withheld for lack of consent (the endpoint's counters). */
  counters?: { withheldNoConsent: number };
}

/** One UDP binding's media transport. */
export class UdpTransport extends TransportBase {
  readonly kind = "udp" as const;
  readonly address: { ip: string; port: number };
  readonly #init: UdpTransportInit;

  constructor(init: UdpTransportInit) {
    super();
    this.#init = init;
    this.address = init.address;
  }

  send(packet: Uint8Array): void {
    if (this.closed) return;
    const init = this.#init;
    if (!init.consent.fresh) {
      if (init.counters) init.counters.withheldNoConsent++;
      return;
    }
    const out = init.payloadTypes ? toTheirs(packet, init.payloadTypes) : packet;
    if (out) init.send(out, init.destination);
  }

  /** 0: nothing here sees a UDP queue (see the module doc). */
  queuedBytes(): number {
    return 0;
  }
}

/**
 * A copy of an outgoing packet with our payload type replaced by theirs, or null for a kind of
 * media they did not ask for.
 */
function toTheirs(packet: Uint8Array, payloadTypes: PayloadTypes): Uint8Array | null {
  if (isRtcp(packet) || packet.length < 12) return packet;
  const pt = packet[1] & 0x7f;
  const theirs = pt === PT_OPUS
    ? payloadTypes.audio
    : pt === PT_VP8
    ? payloadTypes.video
    : undefined;
  if (theirs === undefined) return null;
  const copy = packet.slice();
  copy[1] = (copy[1] & 0x80) | theirs;
  return copy;
}
