/**
 * The media side of one live meeting: each seat's one {@linkcode MediaTransport}, the
 * {@linkcode Router} (video) and the {@linkcode Mixer} (audio). It takes each participant's RTP
 * and RTCP packets from whichever transport carried them (the transport's owner says whose
 * they are; packet fields are never trusted for that), checks them, stamps them with the
 * sender's server-assigned SSRC, and hands video to the router and audio to the mixer, which
 * the server's one {@linkcode MediaClock} ticks every 20 ms. It never knows which carrier a
 * transport is, and it never sends anything to a seat without a transport.
 *
 * Ownership: the room holds at most one transport per seat. `attach` replaces a seat's
 * transport and closes the old one; `detach` closes it; `close()` closes them all. A transport
 * closed by its carrier (the socket went, the binding lapsed) leaves the room at once.
 *
 * @example
 * ```ts
 * import type { Meeting } from "../meeting/meeting.ts";
 * import type { MixerLevel } from "../media/mixer.ts";
 * import type { MediaClock } from "./media_clock.ts";
 * import type { WebSocketCarrier } from "./websocket_transport.ts";
 * import { WebSocketTransport } from "./websocket_transport.ts";
 * import type { UdpTransport } from "./udp_transport.ts";
 *
 * function host(
 *   meeting: Meeting,
 *   codecs: OpusCodecs,
 *   clock: MediaClock,
 *   broadcast: (levels: MixerLevel[]) => void,
 *   socket: WebSocketCarrier,
 *   udpTransport: UdpTransport,
 *   participantId: string,
 *   bytes: Uint8Array,
 * ) {
 *   const media = new MediaRoom(meeting, { codecs, clock, onLevels: broadcast });
 *   media.attach(participantId, new WebSocketTransport(socket));
 *   media.receive(participantId, bytes); // one RTP or RTCP packet
 *   media.attach(participantId, udpTransport); // the WebSocket transport is closed
 * }
 * ```
 * @module
 */

import type { Meeting } from "../meeting/meeting.ts";
import { RoundTrip } from "../media/round_trip.ts";
import { Mixer, type MixerLevel, type MixerRecordEntry } from "../media/mixer.ts";
import type { OpusDecoder, OpusEncoder } from "../media/opus.ts";
import { NackGenerator } from "../media/nack_generator.ts";
import { NACK_COPIES, sendNackCopies } from "../media/resend_guard.ts";
import {
  ntpFromMs,
  parseRtcp,
  roundTripMs,
  writeNack,
  writePli,
  writeRemb,
  writeSenderReport,
} from "../media/rtcp.ts";
import { BitrateAllocator } from "../media/bitrate_allocator.ts";
import { isRtcp, parseRtp, type RtpPacket, setRtpSsrc } from "../media/rtp.ts";
import { Router, type VideoSource } from "../media/router.ts";
import type { VideoLayer } from "../media/forwarder.ts";
import { isVp8KeyframeStart, parseVp8Descriptor } from "../media/vp8.ts";
import {
  OPUS_CLOCK_RATE,
  PT_OPUS,
  PT_RED,
  PT_VP8,
  readCaptureTime,
  readSendTime,
  withSendTime,
} from "../protocol/media.ts";
import { ReceiveEstimator, type ReceiveEstimatorStats } from "../media/receive_estimator.ts";
import { opusFrames } from "../media/red.ts";
import { MediaClock } from "./media_clock.ts";
import type { MediaTransport } from "./media_transport.ts";

/** Opus codec factories (see media/opus.ts). */
export interface OpusCodecs {
  createEncoder(): OpusEncoder;
  createDecoder(): OpusDecoder;
}

/** Options of a {@linkcode MediaRoom}. */
export interface MediaRoomOptions {
  codecs: OpusCodecs;
  /** How many of the loudest speakers are mixed (default 3). */
  mixSpeakers?: number;
  /**
   * A link with more than this many bytes queued drops video until a keyframe (256 KiB).
   * Deno counts everything sent in the current turn of the event loop as queued, so the
   * limit must hold a burst (a large keyframe from several senders) without tripping.
   */
  congestionBytes?: number;
  /**
   * A link whose oldest undelivered byte has waited longer than this drops video until a
   * keyframe (400 ms; carriers that report it: the WebSocket). The queue a server can see
   * is a WebSocket's own; behind it the kernel's send buffer held seconds of media on a
   * 400 kbit/s link before 256 KiB showed. Audio is never dropped for it.
   */
  congestionMs?: number;
  /** Receives speaking levels about 5 times a second. */
  onLevels?(levels: MixerLevel[]): void;
  /**
   * A participant's audio reaches the mixer steadily `earlyMs` before it is mixed: it may drop
   * that much of its input once to be heard sooner (see `Mixer`'s `onEarly`).
   */
  onEarly?(participantId: string, earlyMs: number): void;
  /**
   * The server's media clock, which ticks the mixer and is the room's time base; default: a
   * clock of this room's own.
   */
  clock?: MediaClock;
  /**
   * A seat's transport changed: attached, replaced, detached or closed by its carrier
   * (`transport` undefined: the seat has none now).
   */
  onTransportChange?(participantId: string, transport: MediaTransport | undefined): void;
}

/** Packet counters of one meeting, by kind. What the server forwarded is the proof of mode. */
export interface MediaCounters {
  received: { packets: number; bytes: number };
  forwarded: {
    video: { packets: number; bytes: number };
    audio: { packets: number; bytes: number };
    rtcp: { packets: number; bytes: number };
  };
  dropped: {
    malformed: number;
    oversized: number;
    unknownPayloadType: number;
    /** Packets carrying an SSRC assigned to someone else (a stolen SSRC). */
    foreignSsrc: number;
    congested: number;
    waitingKeyframe: number;
    lateAudio: number;
    /** Video packets the server already had (a resend that crossed a late original). */
    duplicate: number;
    /** Media the host turned off, until its sender turns it on again. */
    hostMuted: number;
    /** Screen video from a participant that does not say it shares its screen. */
    notShared: number;
  };
  keyframeRequests: number;
  /** Video frames left out for a receiver whose link was strained (their temporal layer). */
  framesLeftOut: number;
  /**
   * Readings of what a receiver's link carries, taken while its WebSocket backed up and far
   * more was sent than read (each caps its estimate: `BitrateAllocator.setDelivered`).
   */
  linkFullReadings: number;
  /** NACKs sent to senders for video that did not reach the server. */
  nacksSent: number;
  /** Video packets resent to receivers on their NACKs. */
  resent: number;
  /** REMBs sent to senders: the video bitrate their receivers can take. */
  rateAdvice: number;
  /**
   * Audio frames the mixer concealed because they were lost or late at their tick (every
   * listener hears the concealment): `MixerStats.concealed`.
   */
  concealedAudio: number;
}

/**
 * What a recording takes from a media room (see {@linkcode MediaRoom.addTap}): the full mix,
 * every video packet the room forwards (each sender's camera, full encoding, and shared
 * screen, numbered per source as receivers get them), and the speaking levels.
 */
export interface MediaTap {
  /** One Opus frame of the full mix every 20 ms tick; null when nothing was heard. */
  mix(frame: Uint8Array | null, nowMs: number): void;
  /** One video packet (its SSRC: the sender's `videoSsrc` or `screenSsrc`). */
  video(packet: Uint8Array, nowMs: number): void;
  /** Speaking levels, every 200 ms. */
  levels(levels: MixerLevel[], nowMs: number): void;
}

/** A tap's hold on the media room. */
export interface MediaTapHandle {
  /** Asks a sender for a keyframe of its camera or screen for the tap. */
  requestKeyframe(participantId: string, source: VideoSource): void;
  /** Takes the tap off: nothing more reaches it. */
  close(): void;
}

/** The router peer id of a tap (never a participant's: ids are letters and digits). */
const TAP_ID = "~tap";

/** Last receiver report a participant sent about a stream. */
export interface ReceptionReport {
  fractionLost: number;
  cumulativeLost: number;
  jitter: number;
}

const LEVELS_EVERY_TICKS = 10; // 200 ms
/** How often senders' video bitrates are worked out again (25 x 20 ms = 0.5 s). */
const RATES_EVERY_TICKS = 25;
/**
 * A receiver whose round trip reads more than this over its path's lowest gets no video until
 * it reads less (then from a keyframe), ms: something holds what it is sent for seconds (its
 * machine too busy for its QUIC stack, or a queue on its link that no transport counter sees),
 * and video sent meanwhile only adds to it. Its mix goes on. At 400 ms, busy pages on the
 * impaired-network tests (10 fps) paused now and then and fell to 7-8 fps.
 */
export const QUEUE_PAUSE_MS = 1500;
/**
 * A receiver whose queue (bytes, or the wait of its oldest unread byte) passes this share of
 * the congestion limits gets the base temporal layer of each video only, until it is below
 * again: a queue that grows drains at half the bits, without the keyframe (and the freeze
 * until it comes) that a pause at the limit costs.
 */
export const STRAIN_SHARE = 0.5;
/** A receiver's link is read full at most this often, ms (see `MediaRoom#readFullLinks`). */
const LINK_READING_MS = 500;
/** A reading counts only if another was taken this recently before it, ms (`#readFullLinks`). */
const LINK_CONFIRM_MS = 1500;
/** A sender report on each listener's mix every this many ticks (1 s): receivers' reports then carry the round trip. */
const SENDER_REPORT_EVERY_TICKS = 50;
/** A sender is told its bitrate again after this long even if unchanged, ms. */
const RATE_REPEAT_MS = 2000;
/**
 * The server's reading of a sender's uplink is slower to call a queue than a page's of its
 * downlink: the server's own event loop, shared by every meeting, and a browser's QUIC on a
 * busy machine hold packets back; at 60 ms for 1 s senders on a clean loopback under load
 * (five pages on two cores) still read 5-11 overuses and were told a third of their bitrate.
 */
const UPLINK_ESTIMATE = {
  overuseQueueMs: 150,
  overuseForMs: 2000,
  warmupMs: 5000,
  // A false reading must not hold a sender near what its camera happens to send (a page told
  // 268 kbit/s for good after two overuses read on a busy loopback): free again after 10 s.
  cappedForMs: 10_000,
};
/** A seat that sent no video for this long is no video sender, ms. */
const VIDEO_SENDER_MS = 2000;
/** A sender's small encoding counts as arriving while a packet of it came within this, ms. */
const SMALL_ARRIVING_MS = 1000;

/**
 * Largest packet accepted. Our clients send at most 1,200 bytes (media/rtp.ts
 * MAX_PACKET_SIZE); other RTP tools use up to an Ethernet MTU (ffmpeg: 1,472 by default).
 */
export const MAX_INCOMING_PACKET = 1500;

/**
 * What a participant's shared screen is told it may send, bit/s: half of the weakest
 * receiver's link (the camera shares it), within these bounds. Text needs sharp frames more
 * than many: the page sends at most 10 frames a second.
 */
export const SCREEN_BITRATE = { min: 150_000, max: 1_500_000, shareOfLink: 0.5 };

/** The SSRC a participant sends one of its video encodings on. */
function encodingSsrc(
  participant: { videoSsrc: number; smallVideoSsrc: number; screenSsrc: number },
  layer: VideoLayer,
  source: VideoSource = "camera",
): number {
  if (source === "screen") return participant.screenSsrc;
  return layer === "small" ? participant.smallVideoSsrc : participant.videoSsrc;
}

/** Media routing and mixing for one meeting. */
export class MediaRoom {
  readonly meeting: Meeting;
  #transports = new Map<string, MediaTransport>();
  #router: Router;
  #mixer: Mixer;
  #options: MediaRoomOptions;
  #clock: MediaClock;
  /**
   * Each seat's round trips (see `roundTripOf`, media/round_trip.ts), and whether they read a
   * queue of more than {@linkcode QUEUE_PAUSE_MS}: worked out each tick, read by the seat's
   * router peer for every packet.
   */
  #roundTrips = new Map<string, { trip: RoundTrip; queued: boolean }>();
  /** The mix's RTP time at each listener's last sender report (the mix went on if it moved). */
  #reportedAt = new Map<string, number>();
  #ticks = 0;
  #closed = false;
  #reports = new Map<string, Map<number, ReceptionReport>>();
  #tap: MediaTap | null = null;
  readonly counters: MediaCounters = {
    received: { packets: 0, bytes: 0 },
    forwarded: {
      video: { packets: 0, bytes: 0 },
      audio: { packets: 0, bytes: 0 },
      rtcp: { packets: 0, bytes: 0 },
    },
    dropped: {
      malformed: 0,
      oversized: 0,
      unknownPayloadType: 0,
      foreignSsrc: 0,
      congested: 0,
      waitingKeyframe: 0,
      lateAudio: 0,
      duplicate: 0,
      hostMuted: 0,
      notShared: 0,
    },
    keyframeRequests: 0,
    framesLeftOut: 0,
    concealedAudio: 0,
    linkFullReadings: 0,
    nacksSent: 0,
    resent: 0,
    rateAdvice: 0,
  };

  /** Receivers' estimates of their links (REMB), and what each sender was last told. */
  #rates = new BitrateAllocator();
  /** When each seat's link was last read full, and when `#readFullLinks` last ran. */
  #linkReadAt = new Map<string, number>();
  #lastTickAt: number | null = null;
  #videoSentAt = new Map<string, number>();
  /** When each sender's small encoding last arrived. */
  #smallSentAt = new Map<string, number>();
  /** What each sender's encodings were last told, by `${participantId} ${layer}`. */
  #advised = new Map<string, { bps: number; at: number }>();
  /** The server's estimate of each sender's uplink, from what arrives of it. */
  #uplinks = new Map<string, ReceiveEstimator>();

  /**
   * Per sender and encoding (`${participantId} ${layer}`): the gaps in its video as it
   * reaches the server, to ask it again (NACK).
   */
  #upstream = new Map<
    string,
    { senderId: string; layer: VideoLayer; source: VideoSource; gaps: NackGenerator }
  >();
  /** When each sharer's screen last arrived. */
  #screenSentAt = new Map<string, number>();

  constructor(meeting: Meeting, options: MediaRoomOptions) {
    this.meeting = meeting;
    this.#options = options;
    this.#clock = options.clock ?? new MediaClock();
    this.#router = new Router({
      requestKeyframe: (id, layer, source) => this.#sendPli(id, layer, source),
    });
    this.#mixer = new Mixer({
      mixSsrc: meeting.mixSsrc,
      maxSpeakers: options.mixSpeakers ?? 3,
      createEncoder: options.codecs.createEncoder,
      createDecoder: options.codecs.createDecoder,
      onEarly: options.onEarly,
    });
  }

  /**
   * Makes `transport` the seat's media transport: from now on the seat's media goes to it and
   * is taken from its owner. A different transport the seat had is closed (explicitly replaced:
   * one seat, one transport). Returns false, and closes `transport`, when the room is closed
   * or the transport already is.
   */
  attach(participantId: string, transport: MediaTransport): boolean {
    if (this.#closed || transport.closed) {
      transport.close();
      return false;
    }
    const previous = this.#transports.get(participantId);
    if (previous === transport) return true;
    // The carrier changes, the seat's media does not: the router peer and the mixer's listener
    // and speaker state stay, and send through whatever transport the seat has now. (Adding
    // the seat again restarted its mix at a random sequence number and timestamp on the same
    // SSRC, which a page took for stale packets: its audio went silent after a switch to
    // WebTransport.)
    this.#transports.set(participantId, transport);
    if (previous) {
      previous.close(); // no longer the seat's: its close listener below leaves the seat alone
    } else {
      const limit = this.#options.congestionBytes ?? 256 * 1024;
      const limitMs = this.#options.congestionMs ?? 400;
      const counters = this.counters.forwarded;
      const current = () => this.#transports.get(participantId);
      const queue = { trip: new RoundTrip(), queued: false };
      this.#roundTrips.set(participantId, queue);
      this.#router.addPeer({
        id: participantId,
        send: (packet) => {
          current()?.send(packet);
          counters.video.packets++;
          counters.video.bytes += packet.length;
        },
        congested: () => {
          const transport = current();
          return !!transport &&
            (transport.queuedBytes() > limit || transport.backlogMs() > limitMs ||
              queue.queued);
        },
        strained: () => {
          const transport = current();
          return !!transport &&
            (transport.queuedBytes() > limit * STRAIN_SHARE ||
              transport.backlogMs() > limitMs * STRAIN_SHARE);
        },
      }, this.#clock.now());
      this.#mixer.addParticipant(participantId, (packet) => {
        packet = withSendTime(packet, this.#clock.now());
        current()?.send(packet);
        counters.audio.packets++;
        counters.audio.bytes += packet.length;
      }, {
        // Datagrams can be lost: the page's mix carries the previous frame again.
        redundant: () => current()?.kind === "webtransport",
      });
      if (this.#transports.size === 1) this.#clock.subscribe(this);
    }
    transport.onClose(() => {
      if (this.#transports.get(participantId) !== transport) return;
      this.#remove(participantId);
      this.#options.onTransportChange?.(participantId, undefined);
    });
    this.#options.onTransportChange?.(participantId, transport);
    return true;
  }

  /** The media clock's time, ms: the room's time base. */
  now(): number {
    return this.#clock.now();
  }

  /** The seat's media transport, if it has one (an attached transport is never closed). */
  transportOf(participantId: string): MediaTransport | undefined {
    return this.#transports.get(participantId);
  }

  /** Closes the seat's transport, if any: nothing more is sent to it or taken from it. */
  detach(participantId: string): void {
    this.#transports.get(participantId)?.close(); // its close listener removes it
  }

  /** Number of seats with a transport. */
  get transportCount(): number {
    return this.#transports.size;
  }

  #remove(participantId: string): void {
    if (!this.#transports.delete(participantId)) return;
    this.endScreen(participantId);
    this.#router.removePeer(participantId);
    this.#upstream.delete(`${participantId} full`);
    this.#upstream.delete(`${participantId} small`);
    this.#smallSentAt.delete(participantId);
    this.#mixer.removeParticipant(participantId);
    this.#reports.delete(participantId);
    this.#roundTrips.delete(participantId);
    this.#reportedAt.delete(participantId);
    this.#rates.remove(participantId);
    this.#linkReadAt.delete(participantId);
    this.#uplinks.delete(participantId);
    this.#videoSentAt.delete(participantId);
    this.#advised.delete(`${participantId} full`);
    this.#advised.delete(`${participantId} small`);
    if (this.#transports.size === 0 && !this.#tap) this.#clock.unsubscribe(this);
  }

  /**
   * Adds a tap (a recording: one at a time): from now on it gets the full mix each tick (the
   * room ticks while it has a tap, with nobody in it too), every video packet forwarded, and
   * the levels. Every sender is asked for a keyframe.
   */
  addTap(tap: MediaTap): MediaTapHandle {
    if (this.#closed) throw new Error("the media room is closed");
    if (this.#tap) throw new Error("the media room has a tap already");
    this.#tap = tap;
    const now = () => this.#clock.now();
    this.#router.addPeer({
      id: TAP_ID,
      send: (packet) => this.#tap === tap && tap.video(packet, now()),
      congested: () => false,
    }, now());
    this.#mixer.setTap((frame) => tap.mix(frame, now()));
    this.#clock.subscribe(this);
    return {
      requestKeyframe: (participantId, source) => {
        if (this.#tap === tap) {
          this.#router.requestKeyframeFor(TAP_ID, participantId, now(), source);
        }
      },
      close: () => {
        if (this.#tap !== tap) return;
        this.#tap = null;
        this.#router.removePeer(TAP_ID);
        this.#mixer.setTap(null);
        if (this.#transports.size === 0) this.#clock.unsubscribe(this);
      },
    };
  }

  /**
   * A participant's screen share ended (it said so, or the host stopped it): its screen is
   * no longer forwarded, and a new share starts clean, from its first keyframe.
   */
  endScreen(participantId: string): void {
    this.#router.removeSource(participantId, "screen");
    this.#upstream.delete(`${participantId} screen`);
    this.#screenSentAt.delete(participantId);
    this.#advised.delete(`${participantId} screen`);
  }

  /** Handles one packet from a participant. Bad packets are dropped and counted. */
  receive(participantId: string, bytes: Uint8Array): void {
    if (this.#closed || !this.#transports.has(participantId)) return;
    this.counters.received.packets++;
    this.counters.received.bytes += bytes.length;
    if (bytes.length > MAX_INCOMING_PACKET) {
      this.counters.dropped.oversized++;
      return;
    }
    if (isRtcp(bytes)) return this.#receiveRtcp(participantId, bytes);
    const parsed = parseRtp(bytes);
    if (!parsed.ok) {
      this.counters.dropped.malformed++;
      return;
    }
    const participant = this.meeting.participant(participantId);
    if (!participant) return;
    const packet = parsed.packet;
    if (
      packet.ssrc !== participant.audioSsrc && packet.ssrc !== participant.videoSsrc &&
      packet.ssrc !== participant.smallVideoSsrc && packet.ssrc !== participant.screenSsrc
    ) {
      const owner = this.meeting.participantBySsrc(packet.ssrc);
      if ((owner && owner.id !== participantId) || packet.ssrc === this.meeting.mixSsrc) {
        this.counters.dropped.foreignSsrc++;
        return;
      }
    }
    const screen = packet.ssrc === participant.screenSsrc && participant.kind !== "rtp";
    if (
      packet.payloadType === PT_VP8 &&
      (screen ? participant.hostMuted.screen : participant.hostMuted.video)
    ) {
      this.counters.dropped.hostMuted++;
      return;
    }
    if (screen && (packet.payloadType !== PT_VP8 || !participant.screen)) {
      this.counters.dropped.notShared++;
      return;
    }
    if (
      (packet.payloadType === PT_OPUS || packet.payloadType === PT_RED) &&
      participant.hostMuted.audio
    ) {
      this.counters.dropped.hostMuted++;
      return;
    }
    if (packet.payloadType === PT_VP8) {
      const now = this.#clock.now();
      const keyframeStart = isVp8KeyframeStart(packet.payload);
      // Anything but the small encoding's and the screen's SSRC is the camera's full encoding
      // (a plain-RTP tool's own SSRC).
      const source: VideoSource = screen ? "screen" : "camera";
      const layer: VideoLayer = packet.ssrc === participant.smallVideoSsrc ? "small" : "full";
      const key = `${participantId} ${screen ? "screen" : layer}`;
      let upstream = this.#upstream.get(key)?.gaps;
      if (!upstream) {
        upstream = new NackGenerator();
        this.#upstream.set(key, { senderId: participantId, layer, source, gaps: upstream });
      }
      if (!upstream.push(packet.sequenceNumber, now)) {
        this.counters.dropped.duplicate++;
        return;
      }
      if (keyframeStart) upstream.forgetBefore(packet.sequenceNumber);
      (screen ? this.#screenSentAt : layer === "full" ? this.#videoSentAt : this.#smallSentAt)
        .set(participantId, now);
      this.#measureUplink(participantId, packet, now);
      // Receivers know one camera stream per sender, whichever encoding they get.
      setRtpSsrc(bytes, screen ? participant.screenSsrc : participant.videoSsrc);
      this.#router.forward(
        participantId,
        withSendTime(bytes, now),
        keyframeStart,
        now,
        layer,
        source,
        temporalLayerOf(packet.payload),
      );
      this.#syncRouterDrops();
    } else if (packet.payloadType === PT_OPUS || packet.payloadType === PT_RED) {
      // RED: the previous frame, then this one; the buffer drops a frame it already has.
      const frames = opusFrames(packet, PT_OPUS, PT_RED);
      if (!frames) {
        this.counters.dropped.malformed++;
        return;
      }
      const lateBefore = this.#mixer.stats.late;
      const now = this.#clock.now();
      this.#measureUplink(participantId, packet, now);
      frames.forEach((frame, i) =>
        this.#mixer.push(participantId, frame, now, i < frames.length - 1)
      );
      this.counters.dropped.lateAudio += this.#mixer.stats.late - lateBefore;
    } else {
      this.counters.dropped.unknownPayloadType++;
    }
  }

  /**
   * Follows a sender's uplink from what arrives of it: the send time its packets carry (a
   * page's), else audio's RTP timestamp and video's capture time (the terminal client); no
   * delay from a packet taken in while the server's event loop was behind (MediaClock.behind).
   */
  #measureUplink(participantId: string, packet: RtpPacket, now: number): void {
    let uplink = this.#uplinks.get(participantId);
    if (!uplink) this.#uplinks.set(participantId, uplink = new ReceiveEstimator(UPLINK_ESTIMATE));
    // Taken in while the server's event loop was behind: it waited for the server, not the
    // network (its bytes count, its delay does not).
    const sent = this.#clock.behind(now) ? null : readSendTime(packet.extension) ??
      (packet.payloadType === PT_VP8
        ? readCaptureTime(packet.extension)
        : packet.timestamp / (OPUS_CLOCK_RATE / 1000));
    uplink.packet(packet.ssrc, packet.sequenceNumber, packet.payload.length, sent, now);
  }

  /** The server's estimate of each sender's uplink (what arrives from it), by participant id. */
  get uplinks(): Map<string, ReceiveEstimatorStats> {
    return new Map([...this.#uplinks].map(([id, e]) => [id, e.stats]));
  }

  /** The last receiver reports a participant sent, by the SSRC they describe. */
  receptionOf(participantId: string): Map<number, ReceptionReport> {
    return this.#reports.get(participantId) ?? new Map();
  }

  /** Mixer counters (decodes, encodes...). */
  get mixerStats(): Mixer["stats"] {
    return this.#mixer.stats;
  }

  /** Starts the mixer's recording of arrivals and ticks (see `Mixer.record`). */
  recordMixer(limit?: number): void {
    this.#mixer.record(limit);
  }

  /** The mixer's recording since `recordMixer()`; stops it. */
  takeMixerRecording(): MixerRecordEntry[] {
    return this.#mixer.takeRecording();
  }

  /** One mix (called by the media clock every 20 ms while the room has transports). */
  tick(now: number): void {
    if (this.#closed) return;
    const levels = this.#mixer.tick(now);
    this.counters.concealedAudio = this.#mixer.stats.concealed;
    this.#askUpstream(now);
    this.#router.tick(now);
    for (const seat of this.#roundTrips.values()) {
      seat.queued = seat.trip.queueMs(now) > QUEUE_PAUSE_MS;
    }
    this.#readFullLinks(now);
    ++this.#ticks;
    if (this.#ticks % LEVELS_EVERY_TICKS === 0) {
      this.#options.onLevels?.(levels);
      this.#tap?.levels(levels, now);
    }
    if (this.#ticks % RATES_EVERY_TICKS === 0) this.#adviseSenders(now);
    if (this.#ticks % SENDER_REPORT_EVERY_TICKS === 0) this.#sendReports();
  }

  /**
   * The round trip to a participant, ms, from its last receiver report on the mix (the delay
   * since our sender report it names, less the time it held it); undefined before one.
   */
  roundTripOf(participantId: string): number | undefined {
    return this.#roundTrips.get(participantId)?.trip.last;
  }

  /**
   * A sender report (RFC 3550) on the mix to each listener it went to since the last report
   * (none in P2P, where the server sends nothing): wall clock against its RTP time.
   */
  #sendReports(): void {
    const { seconds, fraction } = ntpFromMs(Date.now());
    for (const [participantId, transport] of this.#transports) {
      const rtpTimestamp = this.#mixer.listenerTimestamp(participantId);
      const previous = this.#reportedAt.get(participantId);
      if (rtpTimestamp === undefined || transport.closed) continue;
      this.#reportedAt.set(participantId, rtpTimestamp);
      if (previous === undefined || previous === rtpTimestamp) continue; // no mix went
      const report = writeSenderReport({
        ssrc: this.meeting.mixSsrc,
        ntpSeconds: seconds,
        ntpFraction: fraction,
        rtpTimestamp,
        packetCount: 0, // not kept per listener; receivers use the times
        octetCount: 0,
        reports: [],
      });
      transport.send(report);
      this.counters.forwarded.rtcp.packets++;
      this.counters.forwarded.rtcp.bytes += report.length;
    }
  }

  /** Closes every seat's transport, leaves the clock, stops the router and the mixer. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#tap = null;
    this.#clock.unsubscribe(this);
    const transports = [...this.#transports.values()];
    this.#transports.clear();
    this.#router.close();
    this.#mixer.close();
    for (const transport of transports) transport.close();
  }

  #receiveRtcp(participantId: string, bytes: Uint8Array): void {
    const parsed = parseRtcp(bytes);
    if (!parsed.ok) {
      this.counters.dropped.malformed++;
      return;
    }
    for (const packet of parsed.packets) {
      if (packet.type === "pli" || packet.type === "nack") {
        const sender = this.meeting.participantBySsrc(packet.mediaSsrc);
        if (!sender || sender.id === participantId) continue;
        const source: VideoSource | null = sender.videoSsrc === packet.mediaSsrc
          ? "camera"
          : sender.screenSsrc === packet.mediaSsrc
          ? "screen"
          : null;
        if (source === null) continue;
        const now = this.#clock.now();
        if (packet.type === "pli") {
          this.#router.requestKeyframeFor(participantId, sender.id, now, source);
        } else {
          this.#router.resend(participantId, sender.id, packet.lost, now, source);
          this.counters.resent = this.#router.stats.resent;
        }
      } else if (packet.type === "remb") {
        // The receiver's estimate of its whole link, whatever SSRCs it names.
        this.#rates.setEstimate(participantId, packet.bitrate, this.#clock.now());
      } else if (packet.type === "rr" || packet.type === "sr") {
        let reports = this.#reports.get(participantId);
        if (!reports) this.#reports.set(participantId, reports = new Map());
        for (const block of packet.reports) {
          if (block.ssrc === this.meeting.mixSsrc) {
            const rtt = roundTripMs(block, Date.now());
            if (rtt !== null && rtt >= 0 && rtt < 60_000) {
              this.#roundTrips.get(participantId)?.trip.add(rtt, this.#clock.now());
            }
          }
          if (reports.size >= 64 && !reports.has(block.ssrc)) break;
          reports.set(block.ssrc, {
            fractionLost: block.fractionLost,
            cumulativeLost: block.cumulativeLost,
            jitter: block.jitter,
          });
        }
      }
    }
  }

  /**
   * A receiver whose oldest unread byte has waited half the congestion limit (200 ms), and to
   * which far more was sent over the last second than it read (`MediaTransport.fullLinkBps`),
   * has a full link: what it read is what the link carries, and caps its estimate
   * (`BitrateAllocator.setDelivered`) at once, where its page's estimator calls a queue only
   * once it lasts. A 400 kbit/s WebSocket link sent every full encoding had backed up past the
   * limit within 150 ms and paused its video until a keyframe, again and again: the backlog
   * never lasted long enough for the page to call it, and the page saw 0-6 frames a second for
   * its first 6-9 s. One reading per seat per {@linkcode LINK_READING_MS}, and a reading counts
   * only when another came before it within {@linkcode LINK_CONFIRM_MS}: at 1% and 3% loss a
   * TCP connection stalled in loss recovery read as a flood once in a while, and each such
   * reading had put its receiver on the small encodings for seconds (a keyframe each way).
   * While its backlog is over 200 ms the cap does not grow (`BitrateAllocator.holdDelivered`):
   * grown past the link, it had filled it until the pause. Only a flood is read, not a backlog
   * that lasts: a page on a busy machine reads late for seconds, and such readings held its
   * senders' small encodings at 50 kbit/s.
   */
  #readFullLinks(now: number): void {
    const limitMs = (this.#options.congestionMs ?? 400) * STRAIN_SHARE;
    const sinceLastTick = this.#lastTickAt === null ? 0 : now - this.#lastTickAt;
    this.#lastTickAt = now;
    for (const [id, transport] of this.#transports) {
      if (transport.backlogMs() <= limitMs) continue;
      // Still backing up: a cap grown past what the link carries grows no further.
      this.#rates.holdDelivered(id, sinceLastTick);
      const last = this.#linkReadAt.get(id);
      if (last !== undefined && now - last < LINK_READING_MS) continue;
      const bps = transport.fullLinkBps?.(1000) ?? null;
      if (bps === null || bps <= 0) continue;
      this.#linkReadAt.set(id, now);
      // A flood lasts: a reading counts once another follows it (a TCP connection stalled a
      // moment in loss recovery reads as one, once).
      if (last === undefined || now - last > LINK_CONFIRM_MS) continue;
      this.#rates.setDelivered(id, bps, now);
      this.counters.linkFullReadings++;
    }
  }

  /** Asks each sender again for the video packets that did not reach the server (NACK). */
  #askUpstream(now: number): void {
    for (const { senderId, layer, source, gaps } of this.#upstream.values()) {
      if (gaps.missingCount === 0) continue;
      const lost = gaps.due(now);
      const transport = this.#transports.get(senderId);
      const sender = this.meeting.participant(senderId);
      if (lost.length === 0 || !transport || !sender) continue;
      const nack = writeNack({
        senderSsrc: this.meeting.mixSsrc,
        mediaSsrc: encodingSsrc(sender, layer, source),
        lost,
      });
      sendNackCopies(nack, (packet) => transport.send(packet));
      this.counters.nacksSent++;
      this.counters.forwarded.rtcp.packets += NACK_COPIES;
      this.counters.forwarded.rtcp.bytes += NACK_COPIES * nack.length;
    }
  }

  /**
   * Tells each video sender (REMB on its video SSRC) the bitrate its receivers' links can
   * take, and asks for its small encoding (REMB on its small video SSRC; 0: stop) while some
   * receiver's link cannot take the full one (BitrateAllocator): when a figure changed by 5%
   * or more, and every 2 s regardless. Then puts each receiver on the encoding chosen for it.
   */
  #adviseSenders(now: number): void {
    const senders: string[] = [];
    for (const [id, at] of this.#videoSentAt) {
      if (now - at <= VIDEO_SENDER_MS) senders.push(id);
    }
    const receivers = [...this.#transports.keys()];
    for (const receiverId of receivers) {
      // Resends take at most 15% of what a receiver's link carries (all of RESEND_LIMITS
      // while it reports no limit).
      const bps = this.#rates.estimateOf(receiverId, now);
      this.#router.setResendRate(receiverId, bps === null ? 1e9 : (bps * 0.15) / (8 * 1200));
    }
    for (const [id, uplink] of this.#uplinks) {
      const bps = uplink.update(now);
      if (bps !== null) this.#rates.setUplinkEstimate(id, bps, now);
    }
    for (const [id, at] of this.#screenSentAt) {
      if (now - at <= VIDEO_SENDER_MS) {
        this.#advise(id, "full", this.#screenBitrate(id, now), now, "screen");
      }
    }
    if (senders.length === 0) return;
    const arriving = new Set<string>();
    for (const [id, at] of this.#smallSentAt) if (now - at <= SMALL_ARRIVING_MS) arriving.add(id);
    const allocation = this.#rates.allocate(
      receivers,
      senders,
      arriving,
      now,
      // A receiver still on the full encoding bounds it until it switches; one waiting for a
      // keyframe (paused) gets nothing meanwhile, and resumes on the small one. (Counting it
      // had cut a sender's full encoding to 50 kbit/s, for everyone, while a weak receiver's
      // video was paused.)
      (receiverId, senderId) => this.#router.layerOf(receiverId, senderId) !== "full",
    );
    for (const [senderId, { full, small }] of allocation.senders) {
      this.#advise(senderId, "full", full, now);
      this.#advise(senderId, "small", small, now);
    }
    for (const [receiverId, layers] of allocation.layers) {
      for (const [senderId, layer] of layers) {
        this.#router.setLayer(receiverId, senderId, layer, now);
      }
    }
  }

  /** What a sharer's screen may send: a share of the weakest other link (SCREEN_BITRATE). */
  #screenBitrate(senderId: string, now: number): number {
    let least = Infinity;
    for (const id of this.#transports.keys()) {
      if (id === senderId) continue;
      least = Math.min(least, this.#rates.estimateOf(id, now) ?? Infinity);
    }
    const uplink = this.#uplinks.get(senderId)?.estimateBps ?? null;
    if (uplink !== null) least = Math.min(least, uplink);
    const { min, max, shareOfLink } = SCREEN_BITRATE;
    return Math.round(Math.max(min, Math.min(max, least * shareOfLink)));
  }

  /** Sends a sender the bitrate of one of its encodings, if it changed or is due again. */
  #advise(
    senderId: string,
    layer: VideoLayer,
    bps: number,
    now: number,
    source: VideoSource = "camera",
  ): void {
    const key = `${senderId} ${source === "screen" ? "screen" : layer}`;
    const last = this.#advised.get(key);
    // A small encoding not wanted is told so once (the page also stops it by itself when it
    // is not asked again).
    if (bps === 0 && (!last || last.bps === 0)) return;
    if (last && Math.abs(bps - last.bps) < last.bps * 0.05 && now - last.at < RATE_REPEAT_MS) {
      return;
    }
    const transport = this.#transports.get(senderId);
    const sender = this.meeting.participant(senderId);
    if (!transport || !sender) return;
    const remb = writeRemb({
      senderSsrc: this.meeting.mixSsrc,
      bitrate: bps,
      ssrcs: [encodingSsrc(sender, layer, source)],
    });
    transport.send(remb);
    this.#advised.set(key, { bps, at: now });
    this.counters.rateAdvice++;
    this.counters.forwarded.rtcp.packets++;
    this.counters.forwarded.rtcp.bytes += remb.length;
  }

  /** What the senders were last told they may send (their full encoding), bit/s, by id. */
  get videoTargets(): Map<string, number> {
    return this.#encodingTargets("full");
  }

  /** What the senders' small encodings were last asked for, bit/s, by id (0: stopped). */
  get smallVideoTargets(): Map<string, number> {
    return this.#encodingTargets("small");
  }

  /** Which encoding the receiver gets of each sender now (null: waiting for a keyframe). */
  layersOf(receiverId: string): Map<string, VideoLayer | null> {
    const out = new Map<string, VideoLayer | null>();
    for (const id of this.#transports.keys()) {
      if (id !== receiverId) out.set(id, this.#router.layerOf(receiverId, id));
    }
    return out;
  }

  #encodingTargets(layer: VideoLayer): Map<string, number> {
    const out = new Map<string, number>();
    for (const [key, { bps }] of this.#advised) {
      const [id, l] = key.split(" ");
      if (l === layer) out.set(id, bps);
    }
    return out;
  }

  #sendPli(senderId: string, layer: VideoLayer, source: VideoSource): void {
    const transport = this.#transports.get(senderId);
    const sender = this.meeting.participant(senderId);
    if (!transport || !sender) return;
    const pli = writePli({
      senderSsrc: this.meeting.mixSsrc,
      mediaSsrc: encodingSsrc(sender, layer, source),
    });
    transport.send(pli);
    this.counters.keyframeRequests++;
    this.counters.forwarded.rtcp.packets++;
    this.counters.forwarded.rtcp.bytes += pli.length;
  }

  #syncRouterDrops(): void {
    this.counters.dropped.congested = this.#router.stats.droppedCongested;
    this.counters.dropped.waitingKeyframe = this.#router.stats.droppedWaitingKeyframe;
    this.counters.framesLeftOut = this.#router.stats.framesLeftOut;
  }
}

/** The temporal layer of a VP8 payload's frame (the descriptor's TID), or null: none given. */
function temporalLayerOf(payload: Uint8Array): number | null {
  const parsed = parseVp8Descriptor(payload);
  return parsed.ok ? parsed.descriptor.temporalLayer : null;
}
