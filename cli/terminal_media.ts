/**
 * The media side of one meeting seat: a {@linkcode UdpLink} bound to the seat, the senders
 * (audio on a drift-free 20 ms clock, video paced by its file) and the receivers (the mix,
 * others' video), RTCP in (PLIs for your video) and out (PLIs, receiver reports every 2 s).
 * Everything goes out on a {@linkcode MediaPath}: through the server, or in P2P mode straight
 * to the peer once the direct path answers (the peer's audio then arrives as its own stream,
 * played into the same recording as the mix would be, and after each switch a PLI asks the
 * peer for a keyframe on the new path).
 *
 * @example
 * ```ts
 * import type { JoinReply } from "../protocol/control.ts";
 * import { ToneSource } from "./audio_source.ts";
 *
 * async function takePart(meetingId: string, join: JoinReply) {
 *   const media = await TerminalMedia.start({
 *     server: { hostname: "127.0.0.1", port: 5004 }, meetingId, ssrcs: join.media,
 *     audio: new ToneSource(440), video: null, recordMix: "mix.wav", recordVideo: null,
 *     nameOf: () => undefined, onRecording: () => {}, onBindLost: () => {},
 *   });
 *   media.setAudio(false); // mute
 *   const stats = await media.stop();
 * }
 * ```
 * @module
 */

import {
  parseRtcp,
  ReceptionStats,
  writeNack,
  writePli,
  writeReceiverReport,
} from "../media/rtcp.ts";
import { isRtcp, parseRtp } from "../media/rtp.ts";
import { sendNackCopies } from "../media/resend_guard.ts";
import { opusFrames } from "../media/red.ts";
import {
  OPUS_CLOCK_RATE,
  PT_OPUS,
  PT_RED,
  PT_VP8,
  type SeatMedia,
  VIDEO_CLOCK_RATE,
} from "../protocol/media.ts";
import type { AudioSource } from "./audio_source.ts";
import { Pacer } from "./pacer.ts";
import { MediaPath, type PathKind, type PeerAddress } from "./media_path.ts";
import { MixReceiver, VideoReceiver } from "./receivers.ts";
import { AudioSender, VideoSender } from "./senders.ts";
import { UdpLink } from "./udp_media.ts";
import type { IvfVideoSource } from "./video_source.ts";

/** How often receiver reports go out. */
const REPORT_INTERVAL_MS = 2_000;
/** How often held video frames are released. */
const VIDEO_POLL_MS = 20;
/** Most SSRCs with reception statistics. */
const MAX_REPORTED = 31;

/**
 * What a {@linkcode TerminalMedia} needs.
 *
 * @example
 * ```ts
 * const options: Partial<TerminalMediaOptions> = { recordMix: "mix.wav", recordVideo: "rec" };
 * ```
 */
export interface TerminalMediaOptions {
  /** The server's UDP media address. */
  server: { hostname: string; port: number };
  meetingId: string;
  /** The seat's SSRCs and media key (the join reply's `media`): the key binds the socket. */
  ssrcs: SeatMedia;
  /** Audio to send (null: none). */
  audio: AudioSource | null;
  /** Video to send (null: none). */
  video: IvfVideoSource | null;
  /** WAV file for the received mix, or null. */
  recordMix: string | null;
  /** Directory for others' video, or null. */
  recordVideo: string | null;
  /** A sender's name by video SSRC. */
  nameOf(videoSsrc: number): string | undefined;
  /** A video recording started. */
  onRecording(name: string | undefined, ssrc: number, path: string): void;
  /** The server refused a keepalive: media stopped flowing (bind again). */
  onBindLost(code: string): void;
  /** Sending switched path (relay or direct to the peer). */
  onPath?(kind: PathKind, peer: PeerAddress | null, afterMs: number | null): void;
  /** The direct path never answered (tell the server: `p2p_failed`). */
  onP2pFailed?(): void;
  /** How long the direct path may take to answer (default 5 s). */
  p2pTimeoutMs?: number;
  /** Bind retry interval and attempts (tests shorten them). */
  bindRetryMs?: number;
  bindAttempts?: number;
}

/**
 * Media of one seat over UDP.
 *
 * @example
 * ```ts
 * async function run(options: TerminalMediaOptions) {
 *   const media = await TerminalMedia.start(options); // binds, then sends and receives
 *   console.log(media.sending, media.stats);
 *   await media.stop();
 * }
 * ```
 */
export class TerminalMedia {
  readonly #options: TerminalMediaOptions;
  readonly #link: UdpLink;
  readonly #path: MediaPath;
  readonly #audio: AudioSender;
  readonly #video: VideoSender | null;
  readonly #mix: MixReceiver;
  readonly #videoIn: VideoReceiver;
  readonly #reception = new Map<number, ReceptionStats>();
  #clock: Pacer | null = null;
  #timers: ReturnType<typeof setInterval>[] = [];
  #participantId = "";
  #peerSsrcs: { audio: number; video: number } | null = null;
  #plisReceived = 0;
  #pathPlis = 0;
  #stopped = false;

  private constructor(options: TerminalMediaOptions, link: UdpLink) {
    this.#options = options;
    this.#link = link;
    this.#path = new MediaPath({
      link,
      onSwitch: (kind, peer, afterMs) => this.#switched(kind, peer, afterMs),
      reportFailure: () => options.onP2pFailed?.(),
      failAfterMs: options.p2pTimeoutMs,
    });
    const send = (bytes: Uint8Array) => this.#path.send(bytes);
    this.#audio = new AudioSender(send, options.ssrcs.audioSsrc, options.audio);
    this.#video = options.video
      ? new VideoSender(send, options.ssrcs.videoSsrc, options.video)
      : null;
    this.#mix = new MixReceiver(options.recordMix);
    this.#videoIn = new VideoReceiver({
      ownSsrc: options.ssrcs.videoSsrc,
      dir: options.recordVideo,
      nameOf: options.nameOf,
      sendPli: (mediaSsrc) => send(writePli({ senderSsrc: options.ssrcs.videoSsrc, mediaSsrc })),
      sendNack: (mediaSsrc, lost) =>
        sendNackCopies(writeNack({ senderSsrc: options.ssrcs.videoSsrc, mediaSsrc, lost }), send),
      onRecording: options.onRecording,
    });
  }

  /**
   * Opens the socket, binds it to the seat, and starts sending and receiving. Rejects (a
   * BindError, or a socket error) when the seat cannot be bound; nothing keeps running then.
   */
  static async start(options: TerminalMediaOptions): Promise<TerminalMedia> {
    let session: TerminalMedia | undefined;
    const link = await UdpLink.open(options.server, {
      onPacket: (bytes, from) => {
        if (session) session.#receive(bytes, from);
      },
      onPeerControl: (text) => {
        if (session) session.#path.handleControl(text);
      },
      onBindError: (code) => options.onBindLost(code),
      retryMs: options.bindRetryMs,
      attempts: options.bindAttempts,
    });
    try {
      session = new TerminalMedia(options, link);
      session.#participantId = await link.bind(options.ssrcs.mediaKey, options.meetingId);
    } catch (err) {
      if (session) session.#closeParts();
      await link.close();
      throw err;
    }
    session.#startFlowing();
    return session;
  }

  /** The participant id the server bound this socket to. */
  get participantId(): string {
    return this.#participantId;
  }

  /** The local UDP port. */
  get localPort(): number {
    return this.#link.localPort;
  }

  /** The server's media address, `ip:port`. */
  get server(): string {
    return this.#link.server;
  }

  /** What is being sent: a description of each kind, or null. */
  get sending(): { audio: string | null; video: string | null } {
    return {
      audio: this.#audio.active ? this.#audio.source!.describe : null,
      video: this.#video?.running ? this.#video.source.describe : null,
    };
  }

  /** Whether there is something to send of each kind (on or off). */
  get sources(): { audio: boolean; video: boolean } {
    return { audio: this.#audio.source !== null, video: this.#video !== null };
  }

  /**
   * The mixer's advice (`mix_timing`): our frames reach it `earlyMs` before it mixes them, so
   * the audio clock moves that much later once. The source is a file or a tone, not a live
   * microphone, so it loses nothing: each frame simply leaves when the mixer is about to need
   * it, and its capture time says so.
   */
  trimAudio(earlyMs: number): void {
    this.#clock?.delay(Math.min(earlyMs, 20));
  }

  /** Turns the audio on or off, optionally with a new source. */
  setAudio(on: boolean, source?: AudioSource): void {
    if (source) this.#audio.setSource(source);
    this.#audio.enabled = on;
  }

  /** Turns the video on or off (when there is a video source). */
  setVideo(on: boolean): void {
    if (!this.#video || this.#stopped) return;
    if (on) this.#video.start();
    else this.#video.stop();
  }

  /** Where media is sent now: `relay` (the server) or `direct` (the peer). */
  get path(): PathKind {
    return this.#path.kind;
  }

  /** The meeting's mode changed: P2P probes the peer (once known); relay returns at once. */
  setMode(mode: "p2p" | "relay"): void {
    if (this.#stopped) return;
    this.#path.setMode(mode);
  }

  /**
   * The peer's address as the server observed it, and its SSRCs (from the roster): only
   * its packets are taken from that address.
   */
  setPeer(peer: PeerAddress, ssrcs: { audio: number; video: number }): void {
    if (this.#stopped) return;
    this.#peerSsrcs = ssrcs;
    this.#path.setPeer(peer);
  }

  /** Binds again (after the control connection came back, or a lapsed binding). */
  async rebind(): Promise<void> {
    this.#participantId = await this.#link.bind(
      this.#options.ssrcs.mediaKey,
      this.#options.meetingId,
    );
    this.#video?.requestKeyframe(); // receivers may have lost frames meanwhile
  }

  /** Frames written for a sender's video SSRC. */
  videoFramesWritten(ssrc: number): number {
    return this.#videoIn.framesWritten(ssrc);
  }

  /** Counters of everything. */
  get stats(): Record<string, unknown> {
    return {
      path: {
        mode: this.#path.mode,
        kind: this.#path.kind,
        peer: this.#link.peer,
        ...this.#path.stats,
        plisAfterSwitch: this.#pathPlis,
      },
      udp: { ...this.#link.counters },
      audioSent: { ...this.#audio.stats },
      videoSent: this.#video ? { ...this.#video.stats, jumps: this.#video.source.jumps } : null,
      mixReceived: {
        ...this.#mix.stats,
        secondsRecorded: Math.round(this.#mix.secondsRecorded * 100) / 100,
      },
      videoReceived: { ...this.#videoIn.stats, streams: this.#videoIn.streams },
      plisReceived: this.#plisReceived,
      clock: {
        ticks: this.#clock?.ticks ?? 0,
        resyncs: this.#clock?.resyncs ?? 0,
        delayedMs: this.#clock?.delayedMs ?? 0,
      },
    };
  }

  /** Stops sending and receiving, finishes the files, closes the socket; idempotent. */
  async stop(): Promise<Record<string, unknown>> {
    if (!this.#stopped) {
      this.#stopped = true;
      this.#closeParts();
      await this.#link.close();
    }
    return this.stats;
  }

  #closeParts(): void {
    this.#path.close();
    this.#clock?.stop();
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers = [];
    this.#video?.stop();
    this.#audio.close();
    this.#mix.close();
    this.#videoIn.close();
  }

  #startFlowing(): void {
    this.#clock = new Pacer(() => {
      const now = performance.now();
      this.#audio.tick();
      this.#mix.tick(now);
      return 20;
    }, { firstDelayMs: 20 });
    this.#video?.start();
    if (this.#options.recordVideo !== null) {
      this.#timers.push(setInterval(() => this.#videoIn.poll(performance.now()), VIDEO_POLL_MS));
    }
    this.#timers.push(setInterval(() => this.#sendReports(), REPORT_INTERVAL_MS));
  }

  // After a switch, a keyframe from the peer on the new path: the picture may have lost
  // packets in between (and a new relay route waits for a keyframe anyway).
  #switched(kind: PathKind, peer: PeerAddress | null, afterMs: number | null): void {
    if (this.#peerSsrcs && !this.#stopped) {
      this.#pathPlis++;
      this.#path.send(
        writePli({ senderSsrc: this.#options.ssrcs.videoSsrc, mediaSsrc: this.#peerSsrcs.video }),
      );
    }
    this.#options.onPath?.(kind, peer, afterMs);
  }

  #receive(bytes: Uint8Array, from: "server" | "peer"): void {
    if (this.#stopped) return;
    const now = performance.now();
    if (from === "peer") return this.#receiveFromPeer(bytes, now);
    if (isRtcp(bytes)) return this.#receiveRtcp(bytes);
    const parsed = parseRtp(bytes);
    if (!parsed.ok) return;
    const packet = parsed.packet;
    if (packet.payloadType === PT_OPUS && packet.ssrc === this.#options.ssrcs.mixSsrc) {
      this.#count(packet.ssrc, OPUS_CLOCK_RATE, packet.sequenceNumber, packet.timestamp, now);
      this.#mix.push(packet, now);
    } else if (packet.payloadType === PT_VP8) {
      this.#count(packet.ssrc, VIDEO_CLOCK_RATE, packet.sequenceNumber, packet.timestamp, now);
      this.#videoIn.push(packet, now);
    }
  }

  // A PLI for our video, from the server or the peer, asks our sender for a keyframe.
  #receiveRtcp(bytes: Uint8Array): void {
    const parsed = parseRtcp(bytes);
    if (!parsed.ok) return;
    for (const packet of parsed.packets) {
      if (packet.type === "pli" && packet.mediaSsrc === this.#options.ssrcs.videoSsrc) {
        this.#plisReceived++;
        this.#video?.requestKeyframe();
      } else if (packet.type === "nack" && packet.mediaSsrc === this.#options.ssrcs.videoSsrc) {
        this.#video?.resend(packet.lost);
      }
    }
  }

  // Straight from the peer: its own audio and video (its SSRCs only), and RTCP.
  #receiveFromPeer(bytes: Uint8Array, now: number): void {
    const peer = this.#peerSsrcs;
    if (!peer) return;
    if (isRtcp(bytes)) return this.#receiveRtcp(bytes);
    const parsed = parseRtp(bytes);
    if (!parsed.ok) return;
    const packet = parsed.packet;
    const frames = packet.ssrc === peer.audio ? opusFrames(packet, PT_OPUS, PT_RED) : null;
    if (frames) {
      // A page's voice comes as RED: the previous frame again, then this one (media/red.ts).
      this.#path.peerMedia();
      this.#count(packet.ssrc, OPUS_CLOCK_RATE, packet.sequenceNumber, packet.timestamp, now);
      frames.forEach((f, i) => this.#mix.push(f, now, i < frames.length - 1));
    } else if (packet.payloadType === PT_VP8 && packet.ssrc === peer.video) {
      this.#path.peerMedia();
      this.#count(packet.ssrc, VIDEO_CLOCK_RATE, packet.sequenceNumber, packet.timestamp, now);
      this.#videoIn.push(packet, now);
    }
  }

  #count(ssrc: number, rate: number, seq: number, timestamp: number, now: number): void {
    let stats = this.#reception.get(ssrc);
    if (!stats) {
      if (this.#reception.size >= MAX_REPORTED) return;
      this.#reception.set(ssrc, stats = new ReceptionStats(ssrc, rate));
    }
    stats.receive(seq, timestamp, now);
  }

  #sendReports(): void {
    const now = performance.now();
    const reports = [...this.#reception.values()]
      .map((stats) => stats.reportBlock(now))
      .filter((block) => block !== null);
    if (reports.length === 0) return;
    this.#path.send(writeReceiverReport({ ssrc: this.#options.ssrcs.audioSsrc, reports }));
  }
}
