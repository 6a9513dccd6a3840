/**
 * The UDP endpoint: the server's one datagram socket (`--udp-port`), carrying the same
 * RTP/RTCP packets as the other transports, into the same rooms. The server sends from the port
 * it receives on (symmetric RTP, RFC 4961). Each bound address is a {@linkcode UdpTransport}
 * (server/udp_transport.ts) attached to its seat; the endpoint's binding table owns them.
 *
 * A source address is accepted only once bound to a seat: our own clients bind with their
 * seat's media key and a return-routability check (`MEET-BIND`, see protocol/media.ts);
 * plain-RTP participants (ffmpeg, GStreamer...) are bound by the REST API. An address bound
 * to one seat cannot be taken by another. Datagrams from unbound addresses, and malformed
 * ones, are dropped and counted, never forwarded.
 *
 * Media goes to an address only with its consent (server/media_consent.ts): a plain-RTP seat
 * gets media after RTP came from exactly its source address, a client after it echoed the
 * nonce from its address, and for {@linkcode CONSENT_MS} after the last proof. A binding
 * without proof for {@linkcode SEAT_IDLE_MS} expires: a plain-RTP seat leaves (`timeout`),
 * a client's binding goes (its control connection governs the seat).
 *
 * A binding lives exactly as long as its transport: when the room closes the transport (the
 * seat moved to another transport, left, or the meeting ended) the binding goes with it, and
 * when the binding goes (lapsed, replaced by a new bind) its transport is closed, so the room
 * stops sending to it at once.
 *
 * Datagrams go through a {@linkcode DatagramIo}, which owns the socket: batched system calls
 * where they can be had (`--udp-io auto`, the default), else Deno's socket ops.
 *
 * @example
 * ```ts
 * import type { Participant } from "../meeting/participant.ts";
 * import type { Hub } from "./hub.ts";
 * import type { MediaClock } from "./media_clock.ts";
 * import type { Room } from "./room.ts";
 * import { openDatagramIo } from "./datagram_io.ts";
 *
 * function listen(hub: Hub, mediaClock: MediaClock, room: Room, participant: Participant) {
 *   const io = openDatagramIo({ hostname: "0.0.0.0", port: 5004 }, "auto");
 *   const udp = new UdpEndpoint(io, hub);
 *   mediaClock.addInput(() => udp.drain());
 *   const source = { transport: "udp" as const, hostname: "127.0.0.1", port: 40000 };
 *   udp.assertPlainRtpAllowed(room, source);
 *   udp.bindPlainRtp(room, participant.id, source, source, { audio: 111 });
 *   udp.close();
 * }
 * ```
 * @module
 */

import {
  parseUdpBind,
  PT_OPUS,
  PT_VP8,
  UDP_BOUND_PREFIX,
  UDP_CHECK_PREFIX,
  UDP_ERROR_PREFIX,
} from "../protocol/media.ts";
import { isRtcp } from "../media/rtp.ts";
import { MeetingError } from "../meeting/errors.ts";
import type { Clock } from "../util/clock.ts";
import { newToken, timingSafeEqual } from "../util/ids.ts";
import { TokenBucket } from "../util/token_bucket.ts";
import { Consent, CONSENT_MS, type ConsentWindows, SEAT_IDLE_MS } from "./media_consent.ts";
import { ReplyLimiter } from "./reply_limiter.ts";
import { localIpv4Interfaces } from "./udp_destination.ts";
import { CONNECTION_LIMITS } from "./control_connection.ts";
import type { Hub } from "./hub.ts";
import type { Room } from "./room.ts";
import { type PayloadTypes, UdpTransport } from "./udp_transport.ts";
import { type DatagramIo, type DatagramIoStats, MAX_DATAGRAM } from "./datagram_io.ts";

export type { PayloadTypes };

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
  /** From the server's own socket (never answered: no loop through ourselves). */
  droppedOwnSocket: number;
  /** Packets not sent because their address had no fresh consent. */
  withheldNoConsent: number;
  binds: number;
  bindErrors: number;
  /** Nonces sent for a return-routability check (`MEET-CHECK`). */
  checks: number;
  /** Answers not sent: over the rate limit, or larger than the datagram they answered. */
  answersRefused: number;
  /** Bindings that expired (no proof for the idle window). */
  expired: number;
}

/** Most plain-RTP seats in one meeting (64; a meeting is sized for about 30 people). */
export const MAX_RTP_SEATS_PER_MEETING = 64;
/**
 * Most plain-RTP seats with one source IP across all meetings (128): the benchmarks and
 * tests add up to 30 from 127.0.0.1.
 */
export const MAX_RTP_SEATS_PER_IP = 128;
/** A nonce sent for a check must be echoed within this long (10 s). */
export const CHECK_TTL_MS = 10_000;

/** Options of a {@linkcode UdpEndpoint}. */
export interface UdpEndpointOptions extends ConsentWindows {
  /** Time source (ms); default `performance.now()`. */
  clock?: Pick<Clock, "now">;
}

interface Binding {
  /** Where its packets come from. */
  address: Deno.NetAddr;
  key: string;
  room: Room;
  participantId: string;
  /** The seat's media transport; the binding goes when it closes. */
  transport: UdpTransport;
  /** Plain-RTP payload types; undefined for our own clients (which use ours). */
  payloadTypes: PayloadTypes | undefined;
  consent: Consent;
  /** Clients: the nonce to echo next, and the one before (its answer may have been lost). */
  nonce?: string;
  previousNonce?: string;
  packets: TokenBucket;
  bytes: TokenBucket;
}

/** A nonce sent to an address that wants to bind a client's seat. */
interface Check {
  key: string;
  nonce: string;
  at: number;
}

/**
 * Batch window while video arrives: after a datagram wakes the socket, how long more may
 * gather before all are taken (about what a forwarded packet waits; see `DatagramIo`).
 */
const VIDEO_BATCH_MS = 4;
/** Batch window otherwise: audio is taken by the drain before each mixer tick anyway. */
const AUDIO_BATCH_MS = 20;
/** Without video for this long, the window widens. */
const VIDEO_QUIET_MS = 1_000;

function keyOf(addr: Deno.NetAddr): string {
  return `${addr.hostname}|${addr.port}`;
}

const performanceClock = { now: () => performance.now() };

/** The server's UDP media socket and its bindings. */
export class UdpEndpoint {
  readonly port: number;
  readonly counters: UdpCounters = {
    received: 0,
    droppedUnbound: 0,
    droppedMalformed: 0,
    droppedPayloadType: 0,
    droppedRateLimited: 0,
    droppedOwnSocket: 0,
    withheldNoConsent: 0,
    binds: 0,
    bindErrors: 0,
    checks: 0,
    answersRefused: 0,
    expired: 0,
  };
  #io: DatagramIo;
  #hub: Hub;
  #clock: Pick<Clock, "now">;
  #windows: Required<ConsentWindows>;
  #byAddress = new Map<string, Binding>();
  #bySeat = new Map<string, Binding>();
  #checks = new Map<string, Check>();
  #answers = new ReplyLimiter();
  #ownAddresses: Set<string>;
  #closed = false;
  #sweep: ReturnType<typeof setInterval>;
  #lastVideoAt = -Infinity;

  /** Serves media on an open datagram socket (its I/O), which it owns from now on. */
  constructor(io: DatagramIo, hub: Hub, options: UdpEndpointOptions = {}) {
    this.#hub = hub;
    this.#clock = options.clock ?? performanceClock;
    this.#windows = {
      consentMs: options.consentMs ?? CONSENT_MS,
      idleMs: options.idleMs ?? SEAT_IDLE_MS,
    };
    this.port = io.addr.port;
    this.#ownAddresses = new Set(localIpv4Interfaces().map((i) => i.address));
    this.#io = io;
    this.#io.setBatchMs(VIDEO_BATCH_MS);
    const sweepMs = Math.min(1_000, this.#windows.idleMs / 4, this.#windows.consentMs / 4);
    this.#sweep = setInterval(() => this.#expire(), sweepMs);
    this.#io.start((bytes, from) => this.#handle(bytes, from));
  }

  /** The datagram I/O's kind and counters (datagrams sent, send errors, system calls). */
  get ioStats(): DatagramIoStats {
    return this.#io.stats;
  }

  /** Number of bound addresses. */
  get bindingCount(): number {
    return this.#byAddress.size;
  }

  /**
   * Throws a {@linkcode MeetingError} when a plain-RTP seat with this source may not be
   * added to `room`: the address is bound to another seat (`address_in_use`), or the
   * meeting or the source IP has its most plain-RTP seats (`limit_reached`). Changes nothing.
   */
  assertPlainRtpAllowed(room: Room, source: Deno.NetAddr): void {
    const taken = this.#byAddress.get(keyOf(source));
    if (taken) {
      throw new MeetingError(
        "address_in_use",
        `${source.hostname}:${source.port} is bound to another seat`,
      );
    }
    let inMeeting = 0;
    let fromIp = 0;
    for (const binding of this.#bySeat.values()) {
      if (!binding.payloadTypes) continue;
      if (binding.room === room) inMeeting++;
      if (binding.address.hostname === source.hostname) fromIp++;
    }
    if (inMeeting >= MAX_RTP_SEATS_PER_MEETING) {
      throw new MeetingError(
        "limit_reached",
        `a meeting has at most ${MAX_RTP_SEATS_PER_MEETING} RTP participants`,
      );
    }
    if (fromIp >= MAX_RTP_SEATS_PER_IP) {
      throw new MeetingError(
        "limit_reached",
        `at most ${MAX_RTP_SEATS_PER_IP} RTP participants may send from one IP address`,
      );
    }
  }

  /**
   * Binds a plain-RTP participant: only datagrams from `source` are taken as its media,
   * with its payload types mapped to ours; the seat's media goes to `destination` (normally
   * the same address: symmetric RTP; always the same IP), and only while RTP keeps coming
   * from `source` (latching). Call {@linkcode UdpEndpoint.assertPlainRtpAllowed} first.
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

  /** The transport of a seat's binding, if it has one. */
  transportOf(participantId: string): UdpTransport | undefined {
    return this.#bySeat.get(participantId)?.transport;
  }

  /**
   * Handles the datagrams that have arrived and wait in a batch (see `DatagramIo.drain`).
   * The server calls it before every mixer tick: audio never waits for a batch window, so
   * without video arriving the window is {@linkcode AUDIO_BATCH_MS}.
   */
  drain(): void {
    if (this.#closed) return;
    const videoQuiet = performance.now() - this.#lastVideoAt > VIDEO_QUIET_MS;
    this.#io.setBatchMs(videoQuiet ? AUDIO_BATCH_MS : VIDEO_BATCH_MS);
    this.#io.drain();
  }

  /** Closes every binding's transport and the socket, and stops receiving. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweep);
    for (const binding of [...this.#bySeat.values()]) binding.transport.close();
    this.#byAddress.clear();
    this.#bySeat.clear();
    this.#checks.clear();
    await this.#io.close();
  }

  /** Removes a binding whose transport closed (identity checked: a newer one may hold its keys). */
  #forget(binding: Binding): void {
    if (this.#byAddress.get(binding.key) === binding) this.#byAddress.delete(binding.key);
    if (this.#bySeat.get(binding.participantId) === binding) {
      this.#bySeat.delete(binding.participantId);
    }
  }

  #ownSocket(from: Deno.NetAddr): boolean {
    return from.port === this.port &&
      (from.hostname.startsWith("127.") || this.#ownAddresses.has(from.hostname));
  }

  #handle(bytes: Uint8Array, from: Deno.NetAddr): void {
    this.counters.received++;
    if (bytes.length > MAX_DATAGRAM || bytes.length < 4) {
      this.counters.droppedMalformed++;
      return;
    }
    if (this.#ownSocket(from)) {
      this.counters.droppedOwnSocket++;
      return;
    }
    if (bytes[0] === 0x4d) return this.#handleBind(bytes, from); // 'M': MEET-BIND
    const binding = this.#byAddress.get(keyOf(from));
    if (!binding) {
      this.counters.droppedUnbound++;
      return;
    }
    if (bytes[0] >> 6 !== 2) { // not RTP version 2: no media, no proof of anything
      this.counters.droppedMalformed++;
      return;
    }
    const now = performance.now();
    // RTP from exactly the bound source: a plain-RTP seat's consent to receive (latching).
    if (binding.payloadTypes) binding.consent.refresh();
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
      // A short window at once, so that forwarded video does not wait (see drain()).
      this.#lastVideoAt = now;
      this.#io.setBatchMs(VIDEO_BATCH_MS);
    }
    binding.room.media.receive(binding.participantId, bytes);
  }

  /**
   * `MEET-BIND <mediaKey> <meetingId> [<nonce>]`: without a valid nonce, a check (a fresh
   * nonce sent to the source); with one echoed from the address it was sent to, a binding
   * (or its renewal). Every answer is at most as long as the request; unproved ones (errors,
   * checks) are rate-limited.
   */
  #handleBind(bytes: Uint8Array, from: Deno.NetAddr): void {
    const request = parseUdpBind(new TextDecoder().decode(bytes));
    const fail = (code: string) => {
      this.counters.bindErrors++;
      this.#answer(UDP_ERROR_PREFIX + code, from, bytes.length, false);
    };
    if (!request) {
      this.counters.droppedMalformed++;
      return fail("bad_request");
    }
    if (!this.#hub.findRoom(request.meetingId)) return fail("not_found");
    const seat = this.#hub.seatByMediaKey(request.mediaKey, request.meetingId);
    if (!seat) return fail("invalid_key");
    const { room, participant } = seat;
    const key = keyOf(from);
    const bound = this.#byAddress.get(key);
    if (bound && bound.participantId !== participant.id) {
      return fail("address_in_use");
    }
    const now = this.#clock.now();
    const nonce = request.nonce;
    const current = this.#bySeat.get(participant.id);
    const renewal = current && current.key === key && nonce !== undefined &&
      (nonce === current.nonce || nonce === current.previousNonce);
    if (renewal) {
      current.consent.refresh();
      current.previousNonce = nonce;
      current.nonce = newToken();
      return this.#answer(
        `${UDP_BOUND_PREFIX}${participant.id} ${current.nonce}`,
        from,
        bytes.length,
        true,
      );
    }
    const check = this.#checks.get(participant.id);
    if (
      !nonce || !check || check.key !== key || now - check.at > CHECK_TTL_MS ||
      !timingSafeEqual(check.nonce, nonce)
    ) {
      const fresh = { key, nonce: newToken(), at: now };
      this.#checks.set(participant.id, fresh);
      this.counters.checks++;
      return this.#answer(UDP_CHECK_PREFIX + fresh.nonce, from, bytes.length, false);
    }
    this.#checks.delete(participant.id);
    const binding = this.#bind(room, participant.id, from, from, undefined);
    binding.consent.refresh();
    binding.nonce = newToken();
    this.#answer(`${UDP_BOUND_PREFIX}${participant.id} ${binding.nonce}`, from, bytes.length, true);
  }

  /**
   * Sends a text answer to `to`, unless it is longer than the datagram it answers, or it is
   * unproved (`to` has not shown it receives here) and over the rate limit.
   */
  #answer(text: string, to: Deno.NetAddr, requestBytes: number, proved: boolean): void {
    const bytes = new TextEncoder().encode(text);
    if (
      bytes.length > requestBytes ||
      (!proved && !this.#answers.allow(to.hostname, performance.now()))
    ) {
      this.counters.answersRefused++;
      return;
    }
    this.#send(bytes, to);
  }

  /**
   * Binds `address` to a seat with a new transport, attached to the seat (which closes the
   * transport it had: a previous binding of the seat goes with its transport).
   */
  #bind(
    room: Room,
    participantId: string,
    address: Deno.NetAddr,
    destination: Deno.NetAddr,
    payloadTypes: PayloadTypes | undefined,
  ): Binding {
    this.#checks.delete(participantId);
    const key = keyOf(address);
    const consent = new Consent(this.#clock, this.#windows);
    const transport = new UdpTransport({
      address: { ip: address.hostname, port: address.port },
      destination,
      payloadTypes,
      consent,
      send: (packet, to) => this.#send(packet, to),
      counters: this.counters,
    });
    const binding: Binding = {
      address,
      key,
      room,
      participantId,
      transport,
      payloadTypes,
      consent,
      packets: new TokenBucket(CONNECTION_LIMITS.mediaPackets),
      bytes: new TokenBucket(CONNECTION_LIMITS.mediaBytes),
    };
    const previous = this.#bySeat.get(participantId);
    const atAddress = this.#byAddress.get(key);
    // Callers refuse an address bound to another seat; should one slip through, it is unbound.
    if (atAddress && atAddress !== previous) atAddress.transport.close();
    this.#byAddress.set(key, binding);
    this.#bySeat.set(participantId, binding);
    transport.onClose(() => this.#forget(binding));
    this.counters.binds++;
    room.attachMedia(participantId, transport); // closes the seat's previous transport
    previous?.transport.close(); // one address per seat (already closed if it was attached)
    return binding;
  }

  #send(packet: Uint8Array, to: Deno.NetAddr): void {
    if (!this.#closed) this.#io.send(packet, to);
  }

  /** Drops stale checks and bindings; expires bindings without proof (see the module doc). */
  #expire(): void {
    const now = this.#clock.now();
    for (const [participantId, check] of this.#checks) {
      if (now - check.at > CHECK_TTL_MS) this.#checks.delete(participantId);
    }
    for (const binding of [...this.#bySeat.values()]) {
      if (!binding.consent.expired) continue;
      this.counters.expired++;
      if (binding.payloadTypes) {
        // A plain-RTP tool has no other connection: silence means it is gone. Its leave
        // closes the transport, and with it the binding.
        binding.room.meeting.leave(binding.participantId, "timeout");
      }
      // A client's seat is governed by its control connection: only the media goes.
      binding.transport.close();
    }
  }
}
