/**
 * The UDP relay: one datagram socket (`--udp-port`) carrying the same RTP/RTCP packets as
 * the WebSocket path, into the same rooms. The server sends from the port it receives on
 * (symmetric RTP, RFC 4961).
 *
 * A source address is accepted only once bound to a seat: our own clients bind by sending
 * `MEET-BIND <token> <meetingId>` (see protocol/media.ts); plain-RTP participants (ffmpeg,
 * GStreamer...) are bound by the REST API. Datagrams from unbound addresses, and malformed
 * ones, are dropped and counted, never forwarded.
 *
 * Datagrams go through a {@linkcode DatagramIo}: batched system calls where they can be had
 * (`--udp-io auto`, the default), else Deno's socket ops.
 *
 * @example
 * ```ts
 * const socket = Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port: 5004 });
 * const udp = new UdpTransport(socket, hub, { io: "auto" });
 * udp.bindPlainRtp(room, participant.id, { ip: "127.0.0.1", port: 40000 });
 * udp.close();
 * ```
 * @module
 */

import {
  PT_OPUS,
  PT_VP8,
  UDP_BIND_PREFIX,
  UDP_BOUND_PREFIX,
  UDP_ERROR_PREFIX,
} from "../protocol/media.ts";
import { isRtcp } from "../media/rtp.ts";
import { TokenBucket } from "../util/token_bucket.ts";
import { CONNECTION_LIMITS } from "./control_connection.ts";
import type { Hub } from "./hub.ts";
import type { MediaMember } from "./media_room.ts";
import type { Room } from "./room.ts";
import {
  type DatagramIo,
  type DatagramIoMode,
  type DatagramIoStats,
  MAX_DATAGRAM,
  openDatagramIo,
} from "./datagram_io.ts";

/** Payload types a plain-RTP participant uses, mapped to and from ours. */
export interface PayloadTypes {
  audio?: number;
  video?: number;
}

/** Counters of the UDP socket. */
export interface UdpCounters {
  received: number;
  /** From addresses bound to no seat. */
  droppedUnbound: number;
  /** Too short, too long, or unreadable. */
  droppedMalformed: number;
  /** Plain-RTP payload types the participant did not declare. */
  droppedPayloadType: number;
  /** Over a bound source's packet or byte rate. */
  droppedRateLimited: number;
  binds: number;
  bindErrors: number;
}

interface Binding {
  /** Where its packets come from. */
  address: Deno.NetAddr;
  key: string;
  room: Room;
  participantId: string;
  member: MediaMember;
  /** Plain-RTP payload types; undefined for our own clients (which use ours). */
  payloadTypes: PayloadTypes | undefined;
  lastHeard: number;
  packets: TokenBucket;
  bytes: TokenBucket;
}

/** A binding not heard from for this long is dropped. */
const BINDING_IDLE_MS = 60_000;
/** Socket poll period while video arrives: the most a forwarded packet waits for a poll. */
const VIDEO_POLL_MS = 10;
/** Poll period otherwise: audio is taken by the drain before each mixer tick anyway. */
const AUDIO_POLL_MS = 20;
/** Without video for this long, polling slows down. */
const VIDEO_QUIET_MS = 1_000;

function keyOf(addr: Deno.NetAddr): string {
  return `${addr.hostname}|${addr.port}`;
}

/** The server's UDP media socket. */
export class UdpTransport {
  readonly port: number;
  readonly counters: UdpCounters = {
    received: 0,
    droppedUnbound: 0,
    droppedMalformed: 0,
    droppedPayloadType: 0,
    droppedRateLimited: 0,
    binds: 0,
    bindErrors: 0,
  };
  #io: DatagramIo;
  #hub: Hub;
  #bindings = new Map<string, Binding>();
  #closed = false;
  #sweep: ReturnType<typeof setInterval>;
  #lastVideoAt = -Infinity;

  /** Serves media on an open datagram socket, which it owns from now on. */
  constructor(socket: Deno.DatagramConn, hub: Hub, options: { io?: DatagramIoMode } = {}) {
    this.#hub = hub;
    this.port = (socket.addr as Deno.NetAddr).port;
    this.#io = openDatagramIo(socket, options.io ?? "auto");
    this.#io.setPollMs(VIDEO_POLL_MS);
    this.#sweep = setInterval(() => this.#dropIdle(), 10_000);
    this.#io.start((bytes, from) => this.#handle(bytes, from));
  }

  /** The datagram I/O's kind and counters (datagrams sent, send errors, system calls). */
  get ioStats(): DatagramIoStats {
    return this.#io.stats;
  }

  /** Number of bound addresses. */
  get bindingCount(): number {
    return this.#bindings.size;
  }

  /**
   * Binds a plain-RTP participant: only datagrams from `source` are taken as its media,
   * with its payload types mapped to ours; the seat's media goes to `destination`
   * (normally the same address: symmetric RTP).
   */
  bindPlainRtp(
    room: Room,
    participantId: string,
    source: Deno.NetAddr,
    destination: Deno.NetAddr,
    payloadTypes: PayloadTypes,
  ): void {
    this.#bind(room, participantId, source, destination, payloadTypes);
  }

  /** Forgets every binding of a participant. */
  unbindParticipant(participantId: string): void {
    for (const [key, binding] of this.#bindings) {
      if (binding.participantId === participantId) this.#bindings.delete(key);
    }
  }

  /**
   * Handles the datagrams that have arrived and wait in a batch (see `DatagramIo.drain`).
   * The server calls it before every mixer tick: audio never waits for a poll, so without
   * video arriving the socket is polled only every {@linkcode AUDIO_POLL_MS}.
   */
  drain(): void {
    if (this.#closed) return;
    const videoQuiet = performance.now() - this.#lastVideoAt > VIDEO_QUIET_MS;
    this.#io.setPollMs(videoQuiet ? AUDIO_POLL_MS : VIDEO_POLL_MS);
    this.#io.drain();
  }

  /** Closes the socket and stops receiving. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweep);
    this.#bindings.clear();
    await this.#io.close();
  }

  #handle(bytes: Uint8Array, from: Deno.NetAddr): void {
    this.counters.received++;
    if (bytes.length > MAX_DATAGRAM || bytes.length < 4) {
      this.counters.droppedMalformed++;
      return;
    }
    if (bytes[0] === 0x4d) return this.#handleBind(bytes, from); // 'M': MEET-BIND
    const binding = this.#bindings.get(keyOf(from));
    if (!binding || binding.room.media.memberOf(binding.participantId) !== binding.member) {
      if (binding) this.#bindings.delete(binding.key); // the seat moved on or is gone
      this.counters.droppedUnbound++;
      return;
    }
    const now = performance.now();
    binding.lastHeard = now;
    if (!binding.packets.take(1, now) || !binding.bytes.take(bytes.length, now)) {
      this.counters.droppedRateLimited++;
      return;
    }
    if (binding.payloadTypes && !isRtcp(bytes)) {
      if (bytes.length < 12) {
        this.counters.droppedMalformed++;
        return;
      }
      const pt = bytes[1] & 0x7f;
      const ours = pt === binding.payloadTypes.audio
        ? PT_OPUS
        : pt === binding.payloadTypes.video
        ? PT_VP8
        : undefined;
      if (ours === undefined) {
        this.counters.droppedPayloadType++;
        return;
      }
      bytes[1] = (bytes[1] & 0x80) | ours;
    }
    if ((bytes[1] & 0x7f) === PT_VP8) { // video (no RTCP type has these low 7 bits)
      // Poll often at once, so that forwarded video does not wait (see drain()).
      this.#lastVideoAt = now;
      this.#io.setPollMs(VIDEO_POLL_MS);
    }
    binding.room.media.receive(binding.participantId, bytes);
  }

  #handleBind(bytes: Uint8Array, from: Deno.NetAddr): void {
    const text = new TextDecoder().decode(bytes);
    const fail = (code: string) => {
      this.counters.bindErrors++;
      this.#send(new TextEncoder().encode(UDP_ERROR_PREFIX + code), from);
    };
    if (!text.startsWith(UDP_BIND_PREFIX)) {
      this.counters.droppedMalformed++;
      return;
    }
    const [token, meetingId] = text.slice(UDP_BIND_PREFIX.length).split(" ");
    const session = this.#hub.sessions.byToken(token);
    if (!session) return fail("invalid_token");
    const room = meetingId ? this.#hub.findRoom(meetingId) : undefined;
    if (!room) return fail("not_found");
    const participant = room.meeting.participantOfSession(session.id);
    if (!participant) return fail("not_member");
    const existing = this.#bindings.get(keyOf(from));
    if (
      !existing || existing.participantId !== participant.id ||
      room.media.memberOf(participant.id) !== existing.member
    ) {
      this.#bind(room, participant.id, from, from, undefined);
    } else {
      existing.lastHeard = performance.now();
    }
    this.#send(new TextEncoder().encode(UDP_BOUND_PREFIX + participant.id), from);
  }

  #bind(
    room: Room,
    participantId: string,
    address: Deno.NetAddr,
    destination: Deno.NetAddr,
    payloadTypes: PayloadTypes | undefined,
  ): void {
    this.unbindParticipant(participantId); // one address per seat; the newest wins
    const key = keyOf(address);
    const member: MediaMember = {
      address: { ip: address.hostname, port: address.port },
      sendMedia: (packet) => {
        const out = payloadTypes ? this.#toTheirs(packet, payloadTypes) : packet;
        if (out) this.#send(out, destination);
      },
      bufferedAmount: () => 0,
    };
    this.#bindings.set(key, {
      address,
      key,
      room,
      participantId,
      member,
      payloadTypes,
      lastHeard: performance.now(),
      packets: new TokenBucket(CONNECTION_LIMITS.mediaPackets),
      bytes: new TokenBucket(CONNECTION_LIMITS.mediaBytes),
    });
    room.bindMedia(participantId, member);
    this.counters.binds++;
  }

  /**
   * A copy of an outgoing packet with our payload type replaced by theirs, or null for a
   * kind of media they did not ask for.
   */
  #toTheirs(packet: Uint8Array, payloadTypes: PayloadTypes): Uint8Array | null {
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

  #send(packet: Uint8Array, to: Deno.NetAddr): void {
    if (!this.#closed) this.#io.send(packet, to);
  }

  #dropIdle(): void {
    const cutoff = performance.now() - BINDING_IDLE_MS;
    for (const [key, binding] of this.#bindings) {
      if (binding.lastHeard >= cutoff) continue;
      this.#bindings.delete(key);
      // A plain-RTP tool has no other connection: silence means it is gone.
      if (binding.payloadTypes) binding.room.meeting.leave(binding.participantId, "timeout");
    }
  }
}
