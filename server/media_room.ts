/**
 * The media side of one live meeting: takes each participant's RTP and RTCP packets from
 * whatever transport carried them, checks them, stamps them with the sender's
 * server-assigned SSRC, and hands video to the {@linkcode Router} and audio to the
 * {@linkcode Mixer}, whose 20 ms clock runs here. It never looks at which transport a packet
 * came from, and it never sends anything to a non-member. `close()` stops all of it.
 *
 * @example
 * ```ts
 * const media = new MediaRoom(meeting, { codecs, onLevels: (levels) => broadcast(levels) });
 * media.attach(participant.id, { sendMedia: (b) => ws.send(b), bufferedAmount: () => ws.bufferedAmount });
 * media.receive(participant.id, bytes); // one RTP or RTCP packet
 * ```
 * @module
 */

import type { Meeting } from "../meeting/meeting.ts";
import { Mixer, type MixerLevel } from "../media/mixer.ts";
import type { OpusDecoder, OpusEncoder } from "../media/opus.ts";
import { parseRtcp, writePli } from "../media/rtcp.ts";
import { isRtcp, parseRtp, setRtpSsrc } from "../media/rtp.ts";
import { Router } from "../media/router.ts";
import { isVp8KeyframeStart } from "../media/vp8.ts";
import { AUDIO_FRAME_MS, PT_OPUS, PT_VP8 } from "../protocol/media.ts";

/** A member's media transport. */
export interface MediaMember {
  /** Sends one packet (binary WebSocket message or UDP datagram). */
  sendMedia(packet: Uint8Array): void;
  /** Bytes queued and not yet sent on this member's link. */
  bufferedAmount(): number;
  /** The UDP address media comes from, as the server sees it (UDP members only). */
  readonly address?: { ip: string; port: number };
}

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
  /** Receives speaking levels about 5 times a second. */
  onLevels?(levels: MixerLevel[]): void;
  /**
   * A participant's audio reaches the mixer steadily `earlyMs` before it is mixed: it may drop
   * that much of its input once to be heard sooner (see `Mixer`'s `onEarly`).
   */
  onEarly?(participantId: string, earlyMs: number): void;
  /**
   * Called right before each mixer tick, for a transport that batches its input (the UDP
   * relay polls its socket) to hand over what has arrived: the tick then mixes the
   * freshest audio, and input needs no faster polling for the mixer's sake.
   */
  beforeTick?(): void;
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
  };
  keyframeRequests: number;
}

/** Last receiver report a participant sent about a stream. */
export interface ReceptionReport {
  fractionLost: number;
  cumulativeLost: number;
  jitter: number;
}

const LEVELS_EVERY_TICKS = 10; // 200 ms

/**
 * Largest packet accepted. Our clients send at most 1,200 bytes (media/rtp.ts
 * MAX_PACKET_SIZE); other RTP tools use up to an Ethernet MTU (ffmpeg: 1,472 by default).
 */
export const MAX_INCOMING_PACKET = 1500;

/** Media routing and mixing for one meeting. */
export class MediaRoom {
  readonly meeting: Meeting;
  #members = new Map<string, MediaMember>();
  #router: Router;
  #mixer: Mixer;
  #options: MediaRoomOptions;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #nextTickAt = 0;
  #ticks = 0;
  #closed = false;
  #reports = new Map<string, Map<number, ReceptionReport>>();
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
    },
    keyframeRequests: 0,
  };

  constructor(meeting: Meeting, options: MediaRoomOptions) {
    this.meeting = meeting;
    this.#options = options;
    this.#router = new Router({ requestKeyframe: (id) => this.#sendPli(id) });
    this.#mixer = new Mixer({
      mixSsrc: meeting.mixSsrc,
      maxSpeakers: options.mixSpeakers ?? 3,
      createEncoder: options.codecs.createEncoder,
      createDecoder: options.codecs.createDecoder,
      onEarly: options.onEarly,
    });
  }

  /** Binds a participant's transport: from now on it sends and receives media. */
  attach(participantId: string, member: MediaMember): void {
    if (this.#closed) return;
    this.detach(participantId);
    this.#members.set(participantId, member);
    const limit = this.#options.congestionBytes ?? 256 * 1024;
    this.#router.addPeer({
      id: participantId,
      send: (packet) => {
        member.sendMedia(packet);
        this.counters.forwarded.video.packets++;
        this.counters.forwarded.video.bytes += packet.length;
      },
      congested: () => member.bufferedAmount() > limit,
    }, performance.now());
    this.#mixer.addParticipant(participantId, (packet) => {
      member.sendMedia(packet);
      this.counters.forwarded.audio.packets++;
      this.counters.forwarded.audio.bytes += packet.length;
    });
    this.#startClock();
  }

  /** The transport currently bound to a participant's media, if any. */
  memberOf(participantId: string): MediaMember | undefined {
    return this.#members.get(participantId);
  }

  /** Unbinds a participant: nothing more is sent to it or taken from it. */
  detach(participantId: string): void {
    if (!this.#members.delete(participantId)) return;
    this.#router.removePeer(participantId);
    this.#mixer.removeParticipant(participantId);
    this.#reports.delete(participantId);
    if (this.#members.size === 0) this.#stopClock();
  }

  /** Handles one packet from a participant. Bad packets are dropped and counted. */
  receive(participantId: string, bytes: Uint8Array): void {
    if (this.#closed || !this.#members.has(participantId)) return;
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
    if (packet.ssrc !== participant.audioSsrc && packet.ssrc !== participant.videoSsrc) {
      const owner = this.meeting.participantBySsrc(packet.ssrc);
      if ((owner && owner.id !== participantId) || packet.ssrc === this.meeting.mixSsrc) {
        this.counters.dropped.foreignSsrc++;
        return;
      }
    }
    if (packet.payloadType === PT_VP8) {
      setRtpSsrc(bytes, participant.videoSsrc);
      this.#router.forward(
        participantId,
        bytes,
        isVp8KeyframeStart(packet.payload),
        performance.now(),
      );
      this.#syncRouterDrops();
    } else if (packet.payloadType === PT_OPUS) {
      const lateBefore = this.#mixer.stats.late;
      this.#mixer.push(participantId, packet, performance.now());
      this.counters.dropped.lateAudio += this.#mixer.stats.late - lateBefore;
    } else {
      this.counters.dropped.unknownPayloadType++;
    }
  }

  /** The last receiver reports a participant sent, by the SSRC they describe. */
  receptionOf(participantId: string): Map<number, ReceptionReport> {
    return this.#reports.get(participantId) ?? new Map();
  }

  /** Mixer counters (decodes, encodes...). */
  get mixerStats(): Mixer["stats"] {
    return this.#mixer.stats;
  }

  /** Stops the clock, the router and the mixer. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopClock();
    this.#router.close();
    this.#mixer.close();
    this.#members.clear();
  }

  #receiveRtcp(participantId: string, bytes: Uint8Array): void {
    const parsed = parseRtcp(bytes);
    if (!parsed.ok) {
      this.counters.dropped.malformed++;
      return;
    }
    for (const packet of parsed.packets) {
      if (packet.type === "pli") {
        const sender = this.meeting.participantBySsrc(packet.mediaSsrc);
        if (sender && sender.id !== participantId && sender.videoSsrc === packet.mediaSsrc) {
          this.#router.requestKeyframe(sender.id, performance.now());
        }
      } else if (packet.type === "rr" || packet.type === "sr") {
        let reports = this.#reports.get(participantId);
        if (!reports) this.#reports.set(participantId, reports = new Map());
        for (const block of packet.reports) {
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

  #sendPli(senderId: string): void {
    const member = this.#members.get(senderId);
    const sender = this.meeting.participant(senderId);
    if (!member || !sender) return;
    const pli = writePli({ senderSsrc: this.meeting.mixSsrc, mediaSsrc: sender.videoSsrc });
    member.sendMedia(pli);
    this.counters.keyframeRequests++;
    this.counters.forwarded.rtcp.packets++;
    this.counters.forwarded.rtcp.bytes += pli.length;
  }

  #syncRouterDrops(): void {
    this.counters.dropped.congested = this.#router.stats.droppedCongested;
    this.counters.dropped.waitingKeyframe = this.#router.stats.droppedWaitingKeyframe;
  }

  // A 20 ms clock that does not drift: each tick is scheduled against the ideal time, and
  // a stall of more than 100 ms (a paused process) restarts the schedule instead of bursting.
  #startClock(): void {
    if (this.#timer !== undefined || this.#closed) return;
    this.#nextTickAt = performance.now() + AUDIO_FRAME_MS;
    this.#schedule();
  }

  #schedule(): void {
    const delay = Math.max(0, this.#nextTickAt - performance.now());
    this.#timer = setTimeout(() => this.#tick(), delay);
  }

  #tick(): void {
    if (this.#closed) return;
    const now = performance.now();
    if (now - this.#nextTickAt > 100) this.#nextTickAt = now;
    try {
      this.#options.beforeTick?.();
      const levels = this.#mixer.tick(now);
      if (++this.#ticks % LEVELS_EVERY_TICKS === 0) this.#options.onLevels?.(levels);
    } catch (err) {
      console.error("mixer tick failed:", err);
    }
    this.#nextTickAt += AUDIO_FRAME_MS;
    this.#schedule();
  }

  #stopClock(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
