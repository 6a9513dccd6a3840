/**
 * The media engine of one person in one meeting, the root of its entities (in the spirit of
 * mediasoup's client: a transport, producers, consumers):
 *
 * ```
 * PageMedia
 *  ├─ PacketMux        binary RTP/RTCP over the control WebSocket
 *  ├─ VideoSender           camera → VP8 → RTP            (while the camera is on; a small
 *  │                        encoding too while the server asks for it)
 *  ├─ VideoSender           shared screen → VP8 → RTP     (while sharing; `screenSsrc`)
 *  ├─ AudioSender           mic → worklet → Opus → RTP    (while the mic is on)
 *  ├─ VideoReceiver × SSRC  RTP → VP8 frames → decoder ─┐
 *  ├─ VideoRenderer × tile  <video> (or <canvas>) in the participant's tile ←┘
 *  ├─ AudioInbound          AudioReceiver × SSRC: RTP → Opus decoder → AudioPlayback
 *  │                        (here, or in the media worker: MediaWorkerLink)
 *  └─ AudioPlayback         worklet: one playout buffer per SSRC, mixed to the speakers
 * ```
 *
 * It answers PLIs, NACKs and REMBs for its own video (either encoding, and its screen), sends PLIs and
 * receiver reports for what it receives, and publishes its local state (devices on, off,
 * failed) and statistics once a second.
 * `close()` closes everything it owns, and stops the camera and the microphone. No UI here:
 * the Room island listens to the events and hands it the tiles' video slots.
 *
 * @example
 * ```ts
 * import type { JoinReply } from "../../protocol/control.ts";
 * import type { ControlClient } from "../control_client.ts";
 *
 * async function startMedia(controlClient: ControlClient, join: JoinReply, participantId: string,
 *   tileSlotElement: HTMLElement, render: (state: LocalMediaState) => void) {
 *   const session = new PageMedia({
 *     channel: controlClient, ssrcs: join.media, selfId: join.participantId,
 *     mic: true, camera: true,
 *   });
 *   session.on("local", (state) => render(state));
 *   session.setRoster(join.meeting.roster);
 *   session.attachVideo(participantId, tileSlotElement);
 *   await session.setCamera(false);
 *   session.close();
 * }
 * ```
 * @module
 */

import type { ParticipantInfo } from "../../meeting/participant.ts";
import type { ReportBlock, RtcpPacket } from "../../media/rtcp.ts";
import { writeNack, writePli, writeReceiverReport, writeRemb } from "../../media/rtcp.ts";
import { sendNackCopies } from "../../media/resend_guard.ts";
import { ReceiveEstimator, type ReceiveEstimatorStats } from "../../media/receive_estimator.ts";
import type { RtpPacket } from "../../media/rtp.ts";
import {
  type MediaSsrcs,
  OPUS_CLOCK_RATE,
  PT_OPUS,
  PT_RED,
  PT_VP8,
  readCaptureTime,
  readSendTime,
  VIDEO_CLOCK_RATE,
} from "../../protocol/media.ts";
import { Emitter } from "../../util/emitter.ts";
import {
  AudioPlayback,
  type AudioPlaybackOptions,
  type PlaybackStats,
  type PlaybackStreamStats,
  type PlayoutArrival,
} from "./audio_playback.ts";
import type { AudioReceiverStats } from "./audio_receiver.ts";
import { type AudioInbound, AudioReceivers, receiverTotals } from "./audio_receivers.ts";
import { type AudioEncodeOffload, AudioSender } from "./audio_sender.ts";
import {
  canChooseSpeaker,
  describeMediaError,
  type DeviceChoice,
  type DeviceKind,
  openCamera,
  openMicrophone,
  openScreen,
} from "./devices.ts";
import { GlitchWatch } from "./glitch_watch.ts";
import { mediaSupport } from "./dom.ts";
import { type MediaCarrier, PacketMux } from "./packet_mux.ts";
import { RtpStream } from "./rtp_stream.ts";
import { admitStream, MAX_SSRCS_COUNTED } from "./ssrc_admission.ts";
import { RateMeter, SampleWindow } from "./stats.ts";
import { ThreadLag } from "../../util/thread_lag.ts";
import { VideoReceiver, type VideoReceiverStats } from "./video_receiver.ts";
import { SMALL_VIDEO_OFF, type SmallVideoStats, VideoSender } from "./video_sender.ts";
import {
  createVideoRenderer,
  type VideoRenderer,
  type VideoRendererStats,
} from "./video_renderer.ts";

/**
 * Where a local device stands: `starting` while the browser opens it, `error` when it could
 * not be used (`error` says why, in words for the person).
 *
 * @example
 * ```ts
 * const state: DeviceState = { status: "error", error: "No camera found." };
 * ```
 */
export interface DeviceState {
  status: "off" | "starting" | "on" | "error";
  error: string | null;
  /** The device in use while on (the browser's id for it). */
  deviceId?: string;
}

/**
 * The local side, as the UI shows it.
 *
 * @example
 * ```ts
 * function showSelf(session: PageMedia, video: HTMLVideoElement) {
 *   session.on("local", (s: LocalMediaState) => video.srcObject = s.preview);
 * }
 * ```
 */
export interface LocalMediaState {
  mic: DeviceState;
  camera: DeviceState;
  /** The camera's stream for the self view, while the camera is on. */
  preview: MediaStream | null;
  /** Your screen share: `off` (also after the picker was cancelled), `starting`, `on`, `error`. */
  screen: DeviceState;
  /** The shared screen's stream, while sharing (to show what the others see). */
  screenPreview: MediaStream | null;
  /** The browser holds audio until a click or key press: call `resumeAudio()` on one. */
  audioBlocked: boolean;
  /** Audio cannot work at all in this browser (no AudioWorklet / WebCodecs audio). */
  audioError: string | null;
  /** The speaker the meeting plays on ("" the system's default). */
  speakerId: string;
}

/**
 * Statistics of the session as a whole.
 *
 * @example
 * ```ts
 * function log(snapshot: MediaStatsSnapshot) {
 *   const { sendBitrate, audio: { depthMs } } = snapshot.session;
 *   console.log(sendBitrate, depthMs);
 * }
 * ```
 */
export interface PageMediaStats {
  /** Bits per second sent, all media (last second). */
  sendBitrate: number;
  /** The full video encoding's bits per second. */
  videoSendBitrate: number;
  /** The small video encoding's bits per second (0 while the server does not ask for it). */
  smallVideoSendBitrate: number;
  audioSendBitrate: number;
  /** Bits per second received, all media (last second). */
  receiveBitrate: number;
  framesEncoded: number;
  keyframesSent: number;
  /** Encoded frames per second. */
  encodeFps: number;
  /** Size of the video sent (0 while the camera is off). */
  sendWidth: number;
  sendHeight: number;
  /** Frames the camera gave that were skipped (encoder or link behind). */
  framesSkipped: number;
  plisReceived: number;
  /** Control round trip (ping), ms; null until measured. */
  rttMs: number | null;
  audio: {
    /** Playout buffer depth now, ms (deepest stream). */
    depthMs: number;
    /** What the playout buffer aims for before each frame, ms. */
    targetMs: number;
    /** Capture (sender) to speaker, ms, over the last few seconds. */
    delayP50: number | null;
    delayP95: number | null;
    lossPercent: number;
    jitterMs: number;
    /** Share of the played audio that was concealment, percent. */
    concealedPercent: number;
    /** Times a playout buffer ran dry. */
    stalls: number;
    /** RMS of what was played over the last second (0..1), and in dBFS. */
    rms: number;
    rmsDb: number;
    /**
     * Total time the playback was audible (above -60 dBFS), ms, over every audio output this
     * session used (a glitching output moved to a larger buffer starts its own count over).
     */
    audibleMs: number;
    /** Samples of received audio played (concealment excluded). */
    samplesPlayed: number;
    streams: number;
    /** The context's output latency (part of the delay), ms. */
    outputLatencyMs: number;
    /** Output glitches: times the audio thread was late (null where the browser cannot tell). */
    underruns: number | null;
    /** Their total length, ms. */
    underrunMs: number | null;
    /** Whether the output still has the smallest buffer (see GlitchWatch). */
    lowLatencyOutput: boolean;
  };
}

/**
 * A remote video's statistics: reception and decoding, and what reached the screen.
 *
 * @example
 * ```ts
 * function log(snapshot: MediaStatsSnapshot, participantId: string) {
 *   const { fps, framesRendered, renderDelayP50 } = snapshot.remote[participantId];
 *   console.log(fps, framesRendered, renderDelayP50);
 * }
 * ```
 */
export interface RemoteVideoStats extends VideoReceiverStats {
  participantId: string | null;
  framesRendered: number;
  /** Capture to display, ms (null until frames are shown). */
  renderDelayP50: number | null;
  renderDelayP95: number | null;
  lastRenderedAt: number | null;
}

/**
 * One second's statistics: the session, and each remote video by participant id.
 *
 * @example
 * ```ts
 * function watch(session: PageMedia, bobId: string) {
 *   session.on("stats", (s: MediaStatsSnapshot) => console.log(s.remote[bobId]?.fps));
 * }
 * ```
 */
export interface MediaStatsSnapshot {
  /** performance.now() of the snapshot. */
  at: number;
  session: PageMediaStats;
  /** Remote video by participant id (by `ssrc:<n>` when the roster does not know it). */
  remote: Record<string, RemoteVideoStats>;
  /** Remote shared screens by participant id. */
  screens: Record<string, RemoteVideoStats>;
}

/**
 * Events of a {@linkcode PageMedia}.
 *
 * @example
 * ```ts
 * const events: (keyof PageMediaEvents)[] = ["local", "stats"];
 * ```
 */
export type PageMediaEvents = {
  local: [LocalMediaState];
  stats: [MediaStatsSnapshot];
};

/**
 * Options of a {@linkcode PageMedia}.
 *
 * @example
 * ```ts
 * import type { JoinReply } from "../../protocol/control.ts";
 * import type { ControlClient } from "../control_client.ts";
 *
 * function optionsFor(client: ControlClient, join: JoinReply) {
 *   const options: PageMediaOptions = {
 *     channel: client, ssrcs: join.media, selfId: join.participantId, mic: true, camera: false,
 *   };
 *   return options;
 * }
 * ```
 */
export interface PageMediaOptions {
  /** Where media packets travel: the control client in relay mode. */
  channel: MediaCarrier;
  /** Our SSRCs and the mix's, from the join reply. */
  ssrcs: MediaSsrcs;
  selfId: string;
  /** Whether to start with the microphone and the camera on. */
  mic: boolean;
  camera: boolean;
  /** Which camera, microphone and speaker (default: the browser's). */
  devices?: DeviceChoice;
  /** Where the worklet modules are served (default "/worklets/"). */
  workletBase?: string;
  /**
   * An AudioContext made before joining ({@linkcode prepareAudio}); without it the session
   * makes its own. Should it have failed, the session tries once more itself.
   */
  audio?: Promise<AudioContext>;
  /** Measures the control round trip, ms (e.g. a `ping` request). */
  measureRtt?: () => Promise<number>;
  /**
   * Playout buffer bounds (see static/worklets/playout_buffer.js), and whether to record what
   * reaches it (`DebugStats.playoutArrivals`).
   */
  playout?: AudioPlaybackOptions;
  /**
   * Start the audio with the smallest output buffer, moving to a larger one if it glitches
   * (default true; see GlitchWatch). False: "interactive" from the start.
   */
  lowLatencyOutput?: boolean;
  /**
   * Where the audio is received and decoded: the page passes its `MediaWorkerLink`, so that
   * the sound does not wait for the main thread; default: on this thread.
   */
  audioInbound?: AudioInbound;
  /** Where the microphone is encoded: the page passes its `MediaWorkerLink`; default here. */
  audioOffload?: AudioEncodeOffload;
}

const TICK_MS = 250;
/**
 * A shared screen's bitrate until the server says what its receivers take (bit/s); at 10
 * frames a second of mostly still text it is sharp at 1920x1080.
 */
const SCREEN_START_BITRATE = 1_200_000;

/** The key of a participant's camera or screen renderer. */
function rendererKey(participantId: string, source: "camera" | "screen"): string {
  return source === "screen" ? `${participantId} screen` : participantId;
}
/** How often lost video packets are asked for again (NACK), ms. */
const RECOVERY_TICK_MS = 10;
const TICKS_PER_REPORT = 4;
const DELAY_LOG_SIZE = 5000;

/** The counters tests and tools read on `globalThis.__meetStats`. */
interface DebugStats {
  selfId: string;
  closed: boolean;
  /** performance.now() of the last update. */
  updatedAt: number;
  participants: Record<string, RemoteVideoStats>;
  /** Join and leave cues played. */
  chimes: number;
  /** Remote shared screens by participant id. */
  screens: Record<string, RemoteVideoStats>;
  ssrcs: Record<string, { kind: "video" | "audio"; packets: number; bytes: number }>;
  audio: PageMediaStats["audio"] & {
    receivers: AudioReceiverStats[];
    playout: Omit<PlaybackStreamStats, "delays">[];
    /**
     * The playout counters of the audio outputs given up so far (a glitching output is moved
     * to a larger buffer, and its streams start over): add them to `playout`'s for totals.
     */
    playoutBefore: PlayoutTotals;
    /**
     * Frames the receivers closed with those outputs recovered from redundant copies, and
     * those they never got (see `AudioReceiverStats.unrecovered`).
     */
    recoveredBefore: number;
    unrecoveredBefore: number;
    /** Times the output was moved to a larger buffer. */
    outputRestarts: number;
    /** Whether the audio is received and encoded in the media worker (else on this thread). */
    inWorker: boolean;
  };
  send: {
    videoFrames: number;
    keyframes: number;
    audioFrames: number;
    videoBitrate: number;
    audioBitrate: number;
    videoEncodeMs: number;
    audioEncodeMs: number;
    /** Microphone input left out on the mixer's advice, ms in total. */
    audioTrimmedMs: number;
    /** What the video encoder is set to, bit/s (lowered on the receivers' REMB). */
    videoTargetBitrate: number;
    videoBitrateChanges: number;
    /** The most bytes the carrier held unsent, seen at a send (see `PacketMuxStats`). */
    maxQueuedBytes: number;
    /** The bytes the carrier holds unsent now. */
    queuedBytes: number;
    /**
     * The small video encoding (`smallVideoSsrc`), sent while the server asks for it:
     * `active`, `targetBitrate`, `bitrate`, `framesEncoded`, `keyframes`, `width`, `height`...
     */
    smallVideo: SmallVideoStats;
    /** The shared screen's encoder, while sharing. */
    screen: {
      framesEncoded: number;
      keyframes: number;
      fps: number;
      bitrate: number;
      targetBitrate: number;
      width: number;
      height: number;
    } | null;
  };
  /**
   * This page's estimate of its link (sent to the senders as REMB), and how many packets gave
   * it no delay reading because the page's thread was behind when they came (`behindPackets`).
   */
  link: ReceiveEstimatorStats & { behindPackets: number };
  local: {
    mic: DeviceState["status"];
    camera: DeviceState["status"];
    screen: DeviceState["status"];
  };
  /**
   * Raw delays, ms (bounded): capture to decoded video, to displayed video, to speaker; for
   * audio also capture to the packet's arrival here, and the wait in the playout buffer.
   */
  delayLog: {
    videoDecoded: number[];
    videoRendered: number[];
    audio: number[];
    audioArrival: number[];
    audioPlayout: number[];
  };
  /**
   * With `playout.record`: the mix's (or the peer's) frames as they reached the playback
   * worklet, one list per audio output the session had (a glitching output is replaced, and
   * the new one's sample frames start over). Empty otherwise.
   */
  playoutArrivals: PlayoutArrival[][];
  rttMs: number | null;
}

/**
 * Makes the AudioContext a meeting plays and captures through, with its worklet modules
 * loaded. A page calls it before it joins (on the Join press, a user gesture, so the context
 * may start running) and gives the promise to {@linkcode PageMedia} as `audio`: once
 * joined, media arrives at once, and on a weak link a module fetch started then waits behind
 * it (400 kbit/s: the page heard nothing for the first 30 s).
 *
 * @example
 * ```ts ignore
 * const audio = prepareAudio();
 * await audio.catch(() => {}); // then join; the session reports a failure as audioError
 * const session = new PageMedia({ audio, channel, ssrcs, selfId, mic: true, camera: true });
 * ```
 */
export async function prepareAudio(
  options: { workletBase?: string; lowLatencyOutput?: boolean } = {},
): Promise<AudioContext> {
  const context = new AudioContext({
    sampleRate: OPUS_CLOCK_RATE,
    latencyHint: options.lowLatencyOutput ?? true ? 0 : "interactive",
  });
  try {
    const base = options.workletBase ?? "/worklets/";
    await Promise.all([
      context.audioWorklet.addModule(`${base}capture.js`),
      context.audioWorklet.addModule(`${base}playback.js`),
    ]);
    return context;
  } catch (err) {
    context.close().catch(() => {});
    throw err;
  }
}

/** One person's media in one meeting. */
export class PageMedia extends Emitter<PageMediaEvents> {
  readonly selfId: string;
  #ssrcs: MediaSsrcs;
  readonly #transport: PacketMux;
  readonly #videoStream: RtpStream;
  /** The small encoding's stream; its timestamps come from #videoStream's timeline. */
  readonly #smallVideoStream: RtpStream;
  readonly #audioStream: RtpStream;
  readonly #screenStream: RtpStream;
  readonly #measureRtt: (() => Promise<number>) | undefined;
  #context: AudioContext | null = null;
  #playback: AudioPlayback | null = null;
  /** Each audio output's recorded arrivals (see `DebugStats.playoutArrivals`). */
  #playoutArrivals: PlayoutArrival[][] = [];
  /** Resolves once the AudioContext and its worklets are ready (or failed). */
  #audioReady: Promise<boolean>;
  readonly #audioOptions: Pick<PageMediaOptions, "workletBase" | "playout">;
  /** The context made before joining, taken by the first start of the audio. */
  #preparedAudio: Promise<AudioContext> | undefined;
  /**
   * Whether the context has the smallest output buffer (`latencyHint: 0`); it moves to
   * "interactive", for the rest of the session, when that glitches too often.
   */
  #lowLatencyOutput: boolean;
  readonly #glitches = new GlitchWatch();
  /** Glitches of the contexts given up, so that the counts only grow. */
  #pastUnderruns = { events: 0, ms: 0 };
  #pastPlayout: PlayoutTotals = { ...NO_PLAYOUT };
  /** Audible ms of the audio outputs given up (see #relaxOutput). */
  #pastAudibleMs = 0;
  #outputRestarts = 0;
  #videoSender: VideoSender | null = null;
  #screenSender: VideoSender | null = null;
  #audioSender: AudioSender | null = null;
  #videoReceivers = new Map<number, VideoReceiver>();
  #audio: AudioInbound;
  #audioOffload: AudioEncodeOffload | undefined;
  #participantByVideoSsrc = new Map<number, string>();
  /** Whose shared screen each remote screen SSRC is. */
  #participantByScreenSsrc = new Map<number, string>();
  #knownAudioSsrcs = new Set<number>();
  #renderers = new Map<string, VideoRenderer>();
  #ssrcsSeen = new Map<number, { kind: "video" | "audio"; packets: number; bytes: number }>();
  #local: LocalMediaState;
  /** Bumped on every device toggle, so that a slow getUserMedia cannot undo a later one. */
  #generation = { mic: 0, camera: 0, screen: 0 };
  #receiveBits = new RateMeter(1000);
  /** What this page's link carries (REMB to the server, or in P2P to the peer). */
  #estimator = new ReceiveEstimator();
  /** Whether this page's thread is behind (read from the loss-recovery timer). */
  #threadLag = new ThreadLag(RECOVERY_TICK_MS);
  #behindPackets = 0;
  #rembSent: { bps: number; at: number } | null = null;
  #audioDelays = new SampleWindow(250);
  #delayLog = {
    videoDecoded: [] as number[],
    videoRendered: [] as number[],
    audio: [] as number[],
    audioArrival: [] as number[],
    audioPlayout: [] as number[],
  };
  #plisReceived = 0;
  /** Join and leave cues played. */
  #chimes = 0;
  #rttMs: number | null = null;
  #timer: ReturnType<typeof setInterval>;
  #recoveryTimer: ReturnType<typeof setInterval>;
  #ticks = 0;
  #snapshot: MediaStatsSnapshot | null = null;
  #closed = false;
  #onGesture = () => this.resumeAudio();
  #devices: DeviceChoice = {};

  constructor(options: PageMediaOptions) {
    super();
    this.selfId = options.selfId;
    this.#ssrcs = options.ssrcs;
    this.#measureRtt = options.measureRtt;
    this.#videoStream = new RtpStream({
      ssrc: options.ssrcs.videoSsrc,
      payloadType: PT_VP8,
      clockRate: VIDEO_CLOCK_RATE,
    });
    this.#smallVideoStream = new RtpStream({
      ssrc: options.ssrcs.smallVideoSsrc,
      payloadType: PT_VP8,
      clockRate: VIDEO_CLOCK_RATE,
    });
    this.#audioStream = new RtpStream({
      ssrc: options.ssrcs.audioSsrc,
      payloadType: PT_OPUS,
      clockRate: OPUS_CLOCK_RATE,
    });
    this.#screenStream = new RtpStream({
      ssrc: options.ssrcs.screenSsrc,
      payloadType: PT_VP8,
      clockRate: VIDEO_CLOCK_RATE,
    });
    this.#audio = options.audioInbound ?? new AudioReceivers();
    this.#audioOffload = options.audioOffload;
    this.#audio.onArrival = (delay) => pushBounded(this.#delayLog.audioArrival, delay);
    this.#knownAudioSsrcs = new Set([options.ssrcs.mixSsrc]);
    this.#audio.setKnown([...this.#knownAudioSsrcs], options.ssrcs.audioSsrc);
    this.#transport = new PacketMux(options.channel, {
      onRtp: (packet, arrivalMs) => this.#receiveRtp(packet, arrivalMs),
      onRtcp: (packets) => this.#receiveRtcp(packets),
    });
    const support = mediaSupport();
    this.#local = {
      mic: { status: "off", error: null },
      camera: { status: "off", error: null },
      preview: null,
      screen: { status: "off", error: null },
      screenPreview: null,
      audioBlocked: false,
      audioError: support.audio ? null : "This browser cannot play or capture meeting audio.",
      speakerId: "",
    };
    this.#devices = { ...options.devices };
    this.#audioOptions = { workletBase: options.workletBase, playout: options.playout };
    this.#lowLatencyOutput = options.lowLatencyOutput ?? true;
    this.#preparedAudio = options.audio;
    this.#audioReady = this.#startAudio();
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
    this.#recoveryTimer = setInterval(() => this.#recoverLoss(), RECOVERY_TICK_MS);
    if (options.mic) this.setMic(true);
    if (options.camera) this.setCamera(true);
  }

  /** The local side now. */
  get local(): LocalMediaState {
    return this.#local;
  }

  /** The last statistics snapshot (one a second), or null before the first. */
  get stats(): MediaStatsSnapshot | null {
    return this.#snapshot;
  }

  /**
   * Follows the roster: which SSRC belongs to whom; receivers of people who left are closed.
   *
   * @example
   * ```ts
   * import type { ControlClient } from "../control_client.ts";
   *
   * function follow(client: ControlClient, session: PageMedia) {
   *   client.on("roster", (e) => session.setRoster(e.participants));
   * }
   * ```
   */
  setRoster(participants: readonly ParticipantInfo[]): void {
    this.#participantByVideoSsrc.clear();
    this.#participantByScreenSsrc.clear();
    this.#knownAudioSsrcs = new Set([this.#ssrcs.mixSsrc]);
    for (const p of participants) {
      if (p.id === this.selfId) continue;
      this.#participantByVideoSsrc.set(p.videoSsrc, p.id);
      // A screen's receiver lives while its share does: the next share starts a new one.
      if (p.screen) this.#participantByScreenSsrc.set(p.screenSsrc, p.id);
      this.#knownAudioSsrcs.add(p.audioSsrc);
    }
    for (const [ssrc, receiver] of this.#videoReceivers) {
      if (this.#participantByVideoSsrc.has(ssrc) || this.#participantByScreenSsrc.has(ssrc)) {
        continue;
      }
      receiver.close();
      this.#videoReceivers.delete(ssrc);
    }
    this.#audio.setKnown([...this.#knownAudioSsrcs], this.#ssrcs.audioSsrc);
  }

  /** The SSRCs after a re-join (the same seat keeps them; a new seat gets new ones). */
  setSsrcs(ssrcs: MediaSsrcs): void {
    this.#ssrcs = ssrcs;
    this.#videoStream.ssrc = ssrcs.videoSsrc;
    this.#smallVideoStream.ssrc = ssrcs.smallVideoSsrc;
    this.#audioStream.ssrc = ssrcs.audioSsrc;
    this.#screenStream.ssrc = ssrcs.screenSsrc;
    this.#knownAudioSsrcs.add(ssrcs.mixSsrc);
    this.#audio.setKnown([...this.#knownAudioSsrcs], ssrcs.audioSsrc);
    this.#videoSender?.requestKeyframe();
    this.#videoSender?.requestSmallKeyframe();
    this.#screenSender?.requestKeyframe();
  }

  /**
   * Media moved to another carrier (WebTransport and the WebSocket): packets may have been lost
   * on the way, and the server made this seat wait for each sender's next keyframe. Sends a
   * keyframe and asks every sender for one, so pictures come back at once.
   */
  refreshVideo(): void {
    this.#videoSender?.requestKeyframe();
    this.#videoSender?.requestSmallKeyframe();
    this.#screenSender?.requestKeyframe();
    for (const ssrc of this.#videoReceivers.keys()) {
      this.#transport.send(writePli({ senderSsrc: this.#ssrcs.videoSsrc, mediaSsrc: ssrc }));
    }
  }

  /**
   * Where a participant's video is shown: an empty element of their tile, in which the
   * session puts a `<video>` (or a `<canvas>`) it owns. Null: nowhere (frames are decoded
   * and dropped). `source` `screen`: where their shared screen is shown.
   *
   * @example
   * ```tsx
   * import type { ParticipantInfo } from "../../meeting/participant.ts";
   *
   * function Video({ session, p }: { session: PageMedia; p: ParticipantInfo }) {
   *   return <div ref={(el) => session.attachVideo(p.id, el)} class="absolute inset-0" />;
   * }
   * ```
   */
  attachVideo(
    participantId: string,
    slot: HTMLElement | null,
    source: "camera" | "screen" = "camera",
  ): void {
    const key = rendererKey(participantId, source);
    const current = this.#renderers.get(key);
    if (current && slot && current.element.parentElement === slot) return;
    current?.close();
    this.#renderers.delete(key);
    if (!slot || this.#closed) return;
    const renderer = createVideoRenderer(slot);
    if (source === "camera") {
      renderer.onDelay = (delay) => pushBounded(this.#delayLog.videoRendered, delay);
    }
    this.#renderers.set(key, renderer);
    // A screen's picture changes seldom: ask for a keyframe so that a new slot shows it now.
    if (source === "screen") {
      for (const [ssrc, id] of this.#participantByScreenSsrc) {
        if (id === participantId) {
          this.#transport.send(writePli({ senderSsrc: this.#ssrcs.videoSsrc, mediaSsrc: ssrc }));
        }
      }
    }
  }

  /**
   * Shares a screen, window or tab (the browser asks which) or stops sharing. The share stops
   * too when the person stops it from the browser's own bar: `local.screen` says so, and
   * the page tells the meeting. A cancelled picker leaves it `off`, without an error.
   *
   * @example
   * ```ts
   * async function toggleShare(session: PageMedia) {
   *   await session.setScreen(session.local.screen.status !== "on");
   * }
   * ```
   */
  async setScreen(on: boolean): Promise<void> {
    const generation = ++this.#generation.screen;
    this.#screenSender?.close();
    this.#screenSender = null;
    if (!on) return this.#setScreenState({ status: "off", error: null }, null);
    this.#setScreenState({ status: "starting", error: null }, null);
    try {
      if (!mediaSupport().video || !navigator.mediaDevices?.getDisplayMedia) {
        throw new DOMException("no screen capture", "NotSupportedError");
      }
      const track = await openScreen();
      if (this.#closed || generation !== this.#generation.screen) {
        track.stop();
        return;
      }
      this.#screenSender = new VideoSender({
        track,
        stream: this.#screenStream,
        transport: this.#transport,
        bitrate: SCREEN_START_BITRATE,
        framerate: 10,
        // At 10 fps a base frame comes every 400 ms: a loss there costs a keyframe anyway.
        temporalLayers: false,
        onError: (err) => this.#screenFailed(err),
      });
      track.addEventListener("ended", () => {
        // Stopped from the browser's bar (or the window went away).
        if (this.#screenSender?.track === track) void this.setScreen(false);
      });
      this.#setScreenState({ status: "on", error: null }, new MediaStream([track]));
    } catch (err) {
      if (generation === this.#generation.screen) this.#screenFailed(err);
    }
  }

  #setScreenState(screen: DeviceState, screenPreview: MediaStream | null): void {
    this.#update({ screen, screenPreview });
  }

  #screenFailed(err: unknown): void {
    this.#screenSender?.close();
    this.#screenSender = null;
    const name = (err as { name?: string } | null)?.name ?? "";
    // The person closed the picker or chose nothing: not an error.
    if (name === "NotAllowedError" || name === "AbortError") {
      return this.#setScreenState({ status: "off", error: null }, null);
    }
    const error = name === "NotSupportedError"
      ? "This browser cannot share a screen here."
      : `The screen could not be shared: ${(err as Error)?.message ?? String(err)}`;
    this.#setScreenState({ status: "error", error }, null);
  }

  /**
   * Turns the microphone on (opening it) or off (stopping it: nothing is sent).
   *
   * @example
   * ```ts
   * async function toggleMic(session: PageMedia) {
   *   await session.setMic(!session.local.mic.status.startsWith("o"));
   * }
   * ```
   */
  async setMic(on: boolean): Promise<void> {
    const generation = ++this.#generation.mic;
    this.#audioSender?.close();
    this.#audioSender = null;
    if (!on) return this.#setDevice("mic", { status: "off", error: null });
    this.#setDevice("mic", { status: "starting", error: null });
    try {
      if (!(await this.#audioReady)) throw new Error(this.#local.audioError ?? "no audio");
      const track = await openMicrophone(this.#devices.microphoneId);
      if (!(await this.#sendMicrophone(track, generation))) return;
      track.addEventListener("ended", () => {
        if (this.#audioSender?.track === track) this.#deviceFailed("mic", new Error("ended"));
      });
      this.#setDevice("mic", { status: "on", error: null, deviceId: deviceIdOf(track) });
    } catch (err) {
      if (generation === this.#generation.mic) this.#deviceFailed("mic", err);
    }
  }

  /**
   * Turns the camera on (opening it) or off (stopping it: nothing is sent).
   *
   * @example
   * ```ts
   * async function cameraOff(session: PageMedia) {
   *   await session.setCamera(false);
   * }
   * ```
   */
  async setCamera(on: boolean): Promise<void> {
    const generation = ++this.#generation.camera;
    this.#videoSender?.close();
    this.#videoSender = null;
    if (!on) return this.#setDevice("camera", { status: "off", error: null }, null);
    this.#setDevice("camera", { status: "starting", error: null }, null);
    try {
      if (!mediaSupport().video) {
        throw new DOMException("no WebCodecs video", "NotSupportedError");
      }
      const track = await openCamera(this.#devices.cameraId);
      if (this.#closed || generation !== this.#generation.camera) {
        track.stop();
        return;
      }
      this.#videoSender = new VideoSender({
        track,
        stream: this.#videoStream,
        smallStream: this.#smallVideoStream,
        transport: this.#transport,
        onError: (err) => this.#deviceFailed("camera", err),
      });
      track.addEventListener("ended", () => {
        if (this.#videoSender?.track === track) {
          this.#deviceFailed("camera", new Error("ended"));
        }
      });
      this.#setDevice(
        "camera",
        { status: "on", error: null, deviceId: deviceIdOf(track) },
        new MediaStream([track]),
      );
    } catch (err) {
      if (generation === this.#generation.camera) this.#deviceFailed("camera", err);
    }
  }

  /**
   * Moves to other devices without leaving: a microphone or camera that is on is opened anew
   * on its new device (the others see a keyframe from it at once); the meeting plays on the
   * new speaker. Devices that are off are opened on the new choice when turned on.
   *
   * @example
   * ```ts
   * async function useHeadset(session: PageMedia, microphoneId: string, speakerId: string) {
   *   await session.setDevices({ microphoneId, speakerId });
   * }
   * ```
   */
  async setDevices(choice: DeviceChoice): Promise<void> {
    const before = this.#devices;
    this.#devices = { ...before, ...choice };
    const active = (s: DeviceState) => s.status === "on" || s.status === "starting";
    const work: Promise<void>[] = [];
    if (
      "microphoneId" in choice && choice.microphoneId !== before.microphoneId &&
      active(this.#local.mic)
    ) work.push(this.setMic(true));
    if ("cameraId" in choice && choice.cameraId !== before.cameraId && active(this.#local.camera)) {
      work.push(this.setCamera(true));
    }
    if ("speakerId" in choice && choice.speakerId !== before.speakerId) {
      work.push(this.#applySpeaker());
    }
    await Promise.all(work);
  }

  /** Plays the meeting on the chosen speaker, if the browser can; says which in `local`. */
  async #applySpeaker(): Promise<void> {
    const context = this.#context as (AudioContext & SinkChoosing) | null;
    if (!context || !canChooseSpeaker()) return;
    const wanted = this.#devices.speakerId ?? "";
    try {
      if (context.sinkId !== wanted) await context.setSinkId(wanted);
    } catch {
      // gone or not allowed: the meeting stays on the speaker it plays on
    }
    if (this.#context === context && !this.#closed) {
      const speakerId = typeof context.sinkId === "string" ? context.sinkId : "";
      if (speakerId !== this.#local.speakerId) this.#update({ speakerId });
    }
  }

  /**
   * Plays a short cue on the meeting's speaker: two notes rising when someone joined, falling
   * when someone left (quiet, 0.3 s; nothing while the browser holds audio).
   *
   * @example
   * ```ts
   * function onJoined(session: PageMedia, soundsOn: boolean) {
   *   if (soundsOn) session.chime("join");
   * }
   * ```
   */
  chime(kind: "join" | "leave"): void {
    const context = this.#context;
    if (!context || context.state !== "running" || this.#closed) return;
    const notes = kind === "join" ? [660, 880] : [880, 660];
    notes.forEach((frequency, i) => {
      const at = context.currentTime + i * 0.12;
      const tone = new OscillatorNode(context, { frequency });
      const gain = new GainNode(context, { gain: 0 });
      gain.gain.setValueAtTime(0, at);
      gain.gain.linearRampToValueAtTime(0.12, at + 0.01);
      gain.gain.exponentialRampToValueAtTime(0.001, at + 0.18);
      tone.connect(gain).connect(context.destination);
      tone.start(at);
      tone.stop(at + 0.2);
      tone.onended = () => gain.disconnect();
    });
    this.#chimes++;
  }

  /** Lets audio play after the browser held it (call from a click or key handler). */
  async resumeAudio(): Promise<void> {
    const context = this.#context;
    if (!context || context.state !== "suspended") return;
    try {
      await context.resume();
    } catch {
      // still blocked; the next gesture tries again
    }
  }

  /**
   * The mixer's advice (`mix_timing`): our audio reaches it `earlyMs` before it is mixed, so
   * the microphone sender leaves that much input out once and is heard that much sooner.
   *
   * @example
   * ```ts
   * import type { ControlClient } from "../control_client.ts";
   *
   * function follow(control: ControlClient, session: PageMedia) {
   *   control.on("mix_timing", (e) => session.trimAudio(e.earlyMs));
   * }
   * ```
   */
  trimAudio(earlyMs: number): void {
    this.#audioSender?.trim(earlyMs);
  }

  /**
   * Takes the audio back from where `audioInbound` and `audioOffload` had it (the media
   * worker, which stopped): received audio is decoded on this thread from the next packet on,
   * into the same playback, and the microphone's live track goes to an encoder here, without
   * asking for it again. Does nothing when the audio is here already.
   *
   * @example
   * ```ts
   * import type { MediaWorkerLink } from "./media_worker_link.ts";
   *
   * function fallBack(worker: MediaWorkerLink, session: PageMedia) {
   *   worker.onFail = () => {
   *     worker.close();
   *     session.moveAudioToMainThread();
   *   };
   * }
   * ```
   */
  async moveAudioToMainThread(): Promise<void> {
    if (this.#closed || this.#audio instanceof AudioReceivers) return;
    const before = this.#audio;
    const here = new AudioReceivers();
    // What the receivers over there had counted stays counted.
    Object.assign(here.closedTotals, receiverTotals(before, performance.now()));
    here.onArrival = before.onArrival;
    here.setKnown([...this.#knownAudioSsrcs], this.#ssrcs.audioSsrc);
    if (this.#playback) here.setPlayback(this.#playback);
    this.#audio = here;
    this.#audioOffload = undefined;
    const generation = this.#generation.mic;
    const track = this.#audioSender?.release() ?? null;
    this.#audioSender = null;
    if (track) await this.#sendMicrophone(track, generation);
  }

  /** Stops everything: devices, encoders, decoders, the audio context. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    clearInterval(this.#recoveryTimer);
    globalThis.removeEventListener?.("pointerdown", this.#onGesture);
    globalThis.removeEventListener?.("keydown", this.#onGesture);
    this.#videoSender?.close();
    this.#screenSender?.close();
    this.#audioSender?.close();
    this.#videoSender = this.#audioSender = null;
    for (const receiver of this.#videoReceivers.values()) receiver.close();
    this.#videoReceivers.clear();
    this.#closeAudio();
    this.#transport.close();
    for (const renderer of this.#renderers.values()) renderer.close();
    this.#renderers.clear();
    const debug = (globalThis as { __meetStats?: DebugStats }).__meetStats;
    if (debug?.selfId === this.selfId) debug.closed = true;
    this.removeAllListeners();
  }

  /**
   * Sends the microphone's `track` through the context once it is ready (it may have been
   * replaced meanwhile, see #relaxOutput). Stops the track instead if the session closed or
   * the microphone was toggled since `generation`, and also if the audio failed, which it
   * then reports. True when sending.
   */
  async #sendMicrophone(track: MediaStreamTrack, generation: number): Promise<boolean> {
    const ready = await this.#audioReady;
    const current = !this.#closed && generation === this.#generation.mic;
    if (!current || !ready) {
      track.stop();
      if (current) this.#deviceFailed("mic", new Error(this.#local.audioError ?? "no audio"));
      return false;
    }
    this.#audioSender = new AudioSender({
      context: this.#context!,
      track,
      stream: this.#audioStream,
      transport: this.#transport,
      onError: (err) => this.#deviceFailed("mic", err),
      offload: this.#audioOffload,
    });
    return true;
  }

  /** Closes the audio receivers, the playback and the AudioContext (not the sender). */
  #closeAudio(): void {
    this.#audio.setPlayback(null);
    this.#playback?.close();
    this.#playback = null;
    this.#context?.close().catch(() => {});
    this.#context = null;
  }

  async #startAudio(): Promise<boolean> {
    if (this.#local.audioError) return false;
    const options = this.#audioOptions;
    const prepared = this.#preparedAudio;
    this.#preparedAudio = undefined;
    const make = () =>
      prepareAudio({ workletBase: options.workletBase, lowLatencyOutput: this.#lowLatencyOutput });
    try {
      const context = await (prepared ? prepared.catch(make) : make());
      if (this.#closed) {
        context.close().catch(() => {});
        return false;
      }
      this.#context = context;
      await this.#applySpeaker();
      if (this.#closed || this.#context !== context) return false;
      this.#playback = new AudioPlayback(context, options.playout);
      if (options.playout?.record) this.#playoutArrivals.push(this.#playback.arrivals);
      this.#playback.onStats = (stats) => this.#playbackReport(stats);
      this.#audio.setPlayback(this.#playback);
      const blocked = () => {
        const audioBlocked = context.state === "suspended";
        if (audioBlocked !== this.#local.audioBlocked) this.#update({ audioBlocked });
      };
      context.onstatechange = blocked;
      blocked();
      globalThis.addEventListener?.("pointerdown", this.#onGesture);
      globalThis.addEventListener?.("keydown", this.#onGesture);
      return true;
    } catch (err) {
      if (!this.#closed) this.#update({ audioError: `Audio is unavailable: ${err}` });
      return false;
    }
  }

  #update(patch: Partial<LocalMediaState>): void {
    if (this.#closed) return;
    this.#local = { ...this.#local, ...patch };
    this.emit("local", this.#local);
  }

  #setDevice(which: "mic" | "camera", state: DeviceState, preview?: MediaStream | null): void {
    this.#update(preview === undefined ? { [which]: state } : { [which]: state, preview });
  }

  #deviceFailed(which: "mic" | "camera", err: unknown): void {
    const kind: DeviceKind = which === "mic" ? "microphone" : "camera";
    if (which === "mic") {
      this.#audioSender?.close();
      this.#audioSender = null;
    } else {
      this.#videoSender?.close();
      this.#videoSender = null;
    }
    const error = (err as Error)?.message === "ended"
      ? `The ${kind} stopped (unplugged or taken by another application).`
      : describeMediaError(err, kind);
    this.#setDevice(which, { status: "error", error }, which === "camera" ? null : undefined);
  }

  #receiveRtp(packet: RtpPacket, arrivalMs: number): void {
    if (this.#closed) return;
    const size = packet.payload.length;
    this.#receiveBits.add(size * 8, arrivalMs);
    const kind = packet.payloadType === PT_VP8
      ? "video"
      : packet.payloadType === PT_OPUS || packet.payloadType === PT_RED
      ? "audio"
      : null;
    // The link's queue is read from each packet's delay against the clock of the hop's
    // sender: the server's send time in relay mode; in P2P, audio's RTP timestamp (a steady
    // capture clock) and video's capture time. A capture time also carries the encoder's
    // varying delay, which on a busy machine read as a queue of 0.5-0.9 s. A packet taken in
    // while this page's thread is behind gives no reading: it waited for the thread, not the
    // network (see ThreadLag; a hidden page's timers are slowed, so there it is not asked).
    const behind = !(typeof document !== "undefined" && document.hidden) &&
      this.#threadLag.behind(arrivalMs);
    if (behind) this.#behindPackets++;
    this.#estimator.packet(
      packet.ssrc,
      packet.sequenceNumber,
      size,
      behind ? null : readSendTime(packet.extension) ??
        (kind === "audio" ? packet.timestamp / 48 : readCaptureTime(packet.extension)),
      performance.timeOrigin + arrivalMs,
    );
    if (kind === null) return;
    let seen = this.#ssrcsSeen.get(packet.ssrc);
    if (!seen && this.#ssrcsSeen.size < MAX_SSRCS_COUNTED) {
      this.#ssrcsSeen.set(packet.ssrc, seen = { kind, packets: 0, bytes: 0 });
    }
    if (seen) {
      seen.packets++;
      seen.bytes += size;
    }
    if (kind === "video") {
      if (
        packet.ssrc === this.#ssrcs.videoSsrc || packet.ssrc === this.#ssrcs.smallVideoSsrc ||
        packet.ssrc === this.#ssrcs.screenSsrc
      ) {
        return;
      }
      let receiver = this.#videoReceivers.get(packet.ssrc);
      if (!receiver) {
        const known = (ssrc: number) =>
          this.#participantByVideoSsrc.has(ssrc) || this.#participantByScreenSsrc.has(ssrc);
        if (!admitStream(packet.ssrc, this.#videoReceivers, known)) return;
        receiver = this.#newVideoReceiver(packet.ssrc);
        this.#videoReceivers.set(packet.ssrc, receiver);
      }
      receiver.receive(packet, arrivalMs);
    } else {
      if (!this.#playback || packet.ssrc === this.#ssrcs.audioSsrc) return;
      this.#audio.receive(packet, arrivalMs);
    }
  }

  #newVideoReceiver(ssrc: number): VideoReceiver {
    const receiver = new VideoReceiver({
      ssrc,
      requestKeyframe: (mediaSsrc) =>
        this.#transport.send(writePli({ senderSsrc: this.#ssrcs.videoSsrc, mediaSsrc })),
      sendNack: (mediaSsrc, lost) =>
        sendNackCopies(
          writeNack({ senderSsrc: this.#ssrcs.videoSsrc, mediaSsrc, lost }),
          (packet) => this.#transport.send(packet),
        ),
    });
    const screen = this.#participantByScreenSsrc.has(ssrc);
    receiver.sink = (frame, captureMs) => {
      const renderer = this.#renderers.get(this.#rendererOf(ssrc) ?? "");
      if (renderer) renderer.render(frame, captureMs);
      else frame.close();
    };
    if (!screen) receiver.onDelay = (delay) => pushBounded(this.#delayLog.videoDecoded, delay);
    return receiver;
  }

  /** The renderer key of a remote video SSRC: its owner's camera or screen. */
  #rendererOf(ssrc: number): string | undefined {
    const camera = this.#participantByVideoSsrc.get(ssrc);
    if (camera !== undefined) return rendererKey(camera, "camera");
    const screen = this.#participantByScreenSsrc.get(ssrc);
    return screen === undefined ? undefined : rendererKey(screen, "screen");
  }

  #receiveRtcp(packets: RtcpPacket[]): void {
    // The screen answers for its SSRC as a camera's full encoding does (it has no small one).
    const screen = { videoSsrc: this.#ssrcs.screenSsrc, smallVideoSsrc: -1 };
    for (const packet of packets) {
      if (packet.type === "sr") {
        // The server's report on the mix: our next receiver report gives it the round trip.
        this.#audio.senderReport(
          packet.ssrc,
          packet.ntpSeconds,
          packet.ntpFraction,
          performance.now(),
        );
        continue;
      }
      if (deliverVideoFeedback(packet, this.#ssrcs, this.#videoSender)) this.#plisReceived++;
      if (this.#screenSender) deliverVideoFeedback(packet, screen, this.#screenSender);
    }
  }

  #playbackReport(stats: PlaybackStats): void {
    for (const stream of stats.streams) {
      for (const delay of stream.delays) {
        this.#audioDelays.add(delay);
        pushBounded(this.#delayLog.audio, delay);
      }
      for (const wait of stream.waits) pushBounded(this.#delayLog.audioPlayout, wait);
    }
  }

  /** Asks again for lost video packets, and gives up frames that waited too long for them. */
  #recoverLoss(): void {
    if (this.#closed) return;
    const now = performance.now();
    this.#threadLag.tick(now);
    for (const receiver of this.#videoReceivers.values()) {
      if (this.#rttMs !== null) receiver.nacks.rttMs = this.#rttMs;
      receiver.askLost(now);
      receiver.tick(now);
    }
  }

  #tick(): void {
    if (this.#closed) return;
    const now = performance.now();
    this.#watchOutput(now);
    const report = ++this.#ticks % TICKS_PER_REPORT === 0;
    if (report) this.#sendReceiverReports(now);
    this.#sendEstimate(now);
    if (report && this.#ticks % (2 * TICKS_PER_REPORT) === 0) this.#pingRtt();
    this.#snapshot = this.#takeSnapshot(now);
    this.#publishDebug(now);
    if (report) this.emit("stats", this.#snapshot);
  }

  /** Gives up the smallest output buffer when it glitches too often (see GlitchWatch). */
  #watchOutput(now: number): void {
    const underruns = this.#playback?.underruns;
    if (!this.#lowLatencyOutput || !underruns) return;
    if (this.#glitches.observe(underruns.events, now)) this.#relaxOutput();
  }

  /**
   * Moves the audio to a new context with the larger "interactive" output buffer: playback
   * starts over (each stream's playout buffer refills from the next packet) and the
   * microphone's track carries on into the new context, without asking for it again.
   */
  async #relaxOutput(): Promise<void> {
    this.#lowLatencyOutput = false;
    const underruns = this.#playback?.underruns;
    if (underruns) {
      this.#pastUnderruns.events += underruns.events;
      this.#pastUnderruns.ms += underruns.ms;
    }
    for (const stream of this.#playback?.stats.streams ?? []) {
      for (const key of Object.keys(NO_PLAYOUT) as (keyof PlayoutTotals)[]) {
        this.#pastPlayout[key] += stream[key];
      }
    }
    this.#pastAudibleMs += this.#playback?.stats.output.audibleMs ?? 0;
    this.#outputRestarts++;
    const generation = this.#generation.mic;
    const track = this.#audioSender?.release() ?? null;
    this.#audioSender = null;
    this.#closeAudio();
    this.#audioReady = this.#startAudio();
    if (track) await this.#sendMicrophone(track, generation);
  }

  #sendReceiverReports(now: number): void {
    const video: ReportBlock[] = [];
    for (const receiver of this.#videoReceivers.values()) {
      const block = receiver.reportBlock(now);
      if (block) video.push(block);
    }
    const send = (reports: ReportBlock[]) => {
      if (reports.length === 0 || this.#closed) return;
      this.#transport.send(
        writeReceiverReport({ ssrc: this.#ssrcs.audioSsrc, reports: reports.slice(0, 31) }),
      );
    };
    // The audio's blocks come at once on this thread (one report with the video's), or a
    // moment later from the media worker (a report of their own).
    let videoSent = false;
    this.#audio.reportBlocks(now, (audio) => {
      send(videoSent ? audio : [...video, ...audio]);
      videoSent = true;
    });
    if (!videoSent) send(video);
    videoSent = true;
  }

  /**
   * Tells the senders what this page's link carries (a REMB naming the video streams it
   * receives): every second, and at once when the estimate fell by a tenth.
   */
  #sendEstimate(now: number): void {
    const bps = this.#estimator.update(performance.timeOrigin + now);
    if (bps === null) return;
    const last = this.#rembSent;
    if (last && bps > last.bps * 0.9 && now - last.at < 1000) return;
    this.#rembSent = { bps, at: now };
    this.#transport.send(writeRemb({
      senderSsrc: this.#ssrcs.videoSsrc,
      bitrate: bps,
      ssrcs: [...this.#videoReceivers.keys()].slice(0, 32),
    }));
  }

  #pingRtt(): void {
    this.#measureRtt?.().then((rtt) => this.#rttMs = rtt, () => {});
  }

  #takeSnapshot(now: number): MediaStatsSnapshot {
    const remote: Record<string, RemoteVideoStats> = {};
    const screens: Record<string, RemoteVideoStats> = {};
    for (const [ssrc, receiver] of this.#videoReceivers) {
      const screenOf = this.#participantByScreenSsrc.get(ssrc);
      const participantId = screenOf ?? this.#participantByVideoSsrc.get(ssrc) ?? null;
      const key = this.#rendererOf(ssrc);
      const rendered: VideoRendererStats | undefined = key === undefined
        ? undefined
        : this.#renderers.get(key)?.stats;
      const into = screenOf !== undefined ? screens : remote;
      into[participantId ?? `ssrc:${ssrc}`] = {
        ...receiver.stats(now),
        participantId,
        framesRendered: rendered?.framesRendered ?? 0,
        renderDelayP50: rendered?.delayP50 ?? null,
        renderDelayP95: rendered?.delayP95 ?? null,
        lastRenderedAt: rendered?.lastRenderedAt ?? null,
      };
    }
    const video = this.#videoSender?.stats;
    const smallBitrate = video?.small.bitrate ?? 0;
    const screenBitrate = this.#screenSender?.stats.bitrate ?? 0;
    const audioSend = this.#audioSender?.stats;
    const playback = this.#playback?.stats;
    const audioReceivers = this.#audio.stats(now);
    const streams = playback?.streams ?? [];
    const current = this.#playback?.underruns;
    const underruns = current === null ? null : {
      events: this.#pastUnderruns.events + (current?.events ?? 0),
      ms: this.#pastUnderruns.ms + (current?.ms ?? 0),
    };
    const played = streams.reduce((sum, s) => sum + s.played, 0);
    const concealed = streams.reduce((sum, s) => sum + s.concealed, 0);
    const expected = audioReceivers.reduce((sum, r) => sum + r.packets + r.packetsLost, 0);
    const lost = audioReceivers.reduce((sum, r) => sum + r.packetsLost, 0);
    const rms = playback?.output.rms ?? 0;
    return {
      at: now,
      remote,
      screens,
      session: {
        sendBitrate: (video?.bitrate ?? 0) + smallBitrate + screenBitrate +
          (audioSend?.bitrate ?? 0),
        videoSendBitrate: video?.bitrate ?? 0,
        smallVideoSendBitrate: smallBitrate,
        audioSendBitrate: audioSend?.bitrate ?? 0,
        receiveBitrate: this.#receiveBits.rate(now),
        framesEncoded: video?.framesEncoded ?? 0,
        keyframesSent: video?.keyframes ?? 0,
        encodeFps: video?.fps ?? 0,
        sendWidth: video?.width ?? 0,
        sendHeight: video?.height ?? 0,
        framesSkipped: video?.framesSkipped ?? 0,
        plisReceived: this.#plisReceived,
        rttMs: this.#rttMs,
        audio: {
          depthMs: Math.max(0, ...streams.map((s) => s.depth)) * 1000 / OPUS_CLOCK_RATE,
          targetMs: Math.max(0, ...streams.map((s) => s.targetLead)) * 1000 / OPUS_CLOCK_RATE,
          delayP50: this.#audioDelays.percentile(50),
          delayP95: this.#audioDelays.percentile(95),
          lossPercent: expected > 0 ? (lost / expected) * 100 : 0,
          jitterMs: Math.max(0, ...audioReceivers.map((r) => r.jitterMs)),
          concealedPercent: played + concealed > 0 ? (concealed / (played + concealed)) * 100 : 0,
          stalls: streams.reduce((sum, s) => sum + s.stalls, 0),
          rms,
          rmsDb: rms > 0 ? 20 * Math.log10(rms) : -127,
          audibleMs: this.#pastAudibleMs + (playback?.output.audibleMs ?? 0),
          samplesPlayed: played,
          streams: streams.length,
          outputLatencyMs: this.#playback?.outputLatencyMs ?? 0,
          underruns: underruns?.events ?? null,
          underrunMs: underruns?.ms ?? null,
          lowLatencyOutput: this.#lowLatencyOutput,
        },
      },
    };
  }

  #publishDebug(now: number): void {
    const snapshot = this.#snapshot!;
    const participants = snapshot.remote;
    const ssrcs: DebugStats["ssrcs"] = {};
    for (const [ssrc, seen] of this.#ssrcsSeen) ssrcs[ssrc] = { ...seen };
    const video = this.#videoSender?.stats;
    const audio = this.#audioSender?.stats;
    const debug: DebugStats = {
      selfId: this.selfId,
      closed: false,
      updatedAt: now,
      participants,
      screens: snapshot.screens,
      ssrcs,
      audio: {
        ...snapshot.session.audio,
        receivers: this.#audio.stats(now),
        playout: (this.#playback?.stats.streams ?? []).map(({ delays: _, ...rest }) => rest),
        playoutBefore: { ...this.#pastPlayout },
        recoveredBefore: this.#audio.closedTotals.recovered,
        unrecoveredBefore: this.#audio.closedTotals.unrecovered,
        outputRestarts: this.#outputRestarts,
        inWorker: !(this.#audio instanceof AudioReceivers),
      },
      send: {
        videoFrames: video?.framesEncoded ?? 0,
        keyframes: video?.keyframes ?? 0,
        audioFrames: audio?.framesEncoded ?? 0,
        videoBitrate: video?.bitrate ?? 0,
        audioBitrate: audio?.bitrate ?? 0,
        videoEncodeMs: video?.encodeMs ?? 0,
        audioEncodeMs: audio?.encodeMs ?? 0,
        audioTrimmedMs: audio?.trimmedMs ?? 0,
        videoTargetBitrate: video?.targetBitrate ?? 0,
        videoBitrateChanges: video?.bitrateChanges ?? 0,
        maxQueuedBytes: this.#transport.stats.maxQueuedBytes,
        queuedBytes: this.#transport.queuedBytes,
        smallVideo: { ...(video?.small ?? SMALL_VIDEO_OFF) },
        screen: this.#screenSender
          ? (({ framesEncoded, keyframes, fps, bitrate, targetBitrate, width, height }) => ({
            framesEncoded,
            keyframes,
            fps,
            bitrate,
            targetBitrate,
            width,
            height,
          }))(this.#screenSender.stats)
          : null,
      },
      link: { ...this.#estimator.stats, behindPackets: this.#behindPackets },
      local: {
        mic: this.#local.mic.status,
        camera: this.#local.camera.status,
        screen: this.#local.screen.status,
      },
      delayLog: this.#delayLog,
      playoutArrivals: this.#playoutArrivals,
      rttMs: this.#rttMs,
      chimes: this.#chimes,
    };
    (globalThis as { __meetStats?: DebugStats }).__meetStats = debug;
  }
}

/** Playout counters summed over streams (see `PlaybackStreamStats`). */
type PlayoutTotals = Pick<
  PlaybackStreamStats,
  "played" | "concealed" | "lost" | "stretched" | "late" | "stalls" | "restarts"
>;

const NO_PLAYOUT: PlayoutTotals = {
  played: 0,
  concealed: 0,
  lost: 0,
  stretched: 0,
  late: 0,
  stalls: 0,
  restarts: 0,
};

/**
 * What RTCP about this page's own video asks of its {@linkcode VideoSender}.
 *
 * @example
 * ```ts
 * const log: VideoFeedbackTarget = {
 *   requestKeyframe() {}, requestSmallKeyframe() {}, resend: () => 0, resendSmall: () => 0,
 *   setTargetBitrate() {}, setSmallBitrate() {},
 * };
 * ```
 */
export type VideoFeedbackTarget = Pick<
  VideoSender,
  | "requestKeyframe"
  | "requestSmallKeyframe"
  | "resend"
  | "resendSmall"
  | "setTargetBitrate"
  | "setSmallBitrate"
>;

/**
 * Hands one RTCP packet about this page's own video to its sender (null: the camera is off),
 * by SSRC: a PLI, a NACK or a REMB on `videoSsrc` is for the full encoding, on
 * `smallVideoSsrc` for the small one (a REMB there starts, re-targets or, at 0, stops it). A
 * REMB naming both SSRCs sets both. Anything else is left alone. True when it was a PLI on
 * `videoSsrc` (counted as `plisReceived`).
 *
 * @example
 * ```ts
 * import type { RtcpPacket } from "../../media/rtcp.ts";
 * import type { JoinReply } from "../../protocol/control.ts";
 *
 * function onRtcp(packets: RtcpPacket[], join: JoinReply, videoSender: VideoFeedbackTarget) {
 *   for (const packet of packets) deliverVideoFeedback(packet, join.media, videoSender);
 * }
 * ```
 */
export function deliverVideoFeedback(
  packet: RtcpPacket,
  ssrcs: Pick<MediaSsrcs, "videoSsrc" | "smallVideoSsrc">,
  sender: VideoFeedbackTarget | null,
): boolean {
  const { videoSsrc, smallVideoSsrc } = ssrcs;
  switch (packet.type) {
    case "pli":
      if (packet.mediaSsrc === videoSsrc) sender?.requestKeyframe();
      else if (packet.mediaSsrc === smallVideoSsrc) sender?.requestSmallKeyframe();
      return packet.mediaSsrc === videoSsrc;
    case "nack":
      if (packet.mediaSsrc === videoSsrc) sender?.resend(packet.lost);
      else if (packet.mediaSsrc === smallVideoSsrc) sender?.resendSmall(packet.lost);
      return false;
    case "remb":
      if (packet.ssrcs.includes(videoSsrc)) sender?.setTargetBitrate(packet.bitrate);
      if (packet.ssrcs.includes(smallVideoSsrc)) sender?.setSmallBitrate(packet.bitrate);
      return false;
    default:
      return false;
  }
}

function pushBounded(log: number[], value: number): void {
  log.push(value);
  if (log.length > DELAY_LOG_SIZE) log.splice(0, log.length - DELAY_LOG_SIZE);
}

/** AudioContext's speaker choice (Chromium 110+; not yet in every type library). */
interface SinkChoosing {
  readonly sinkId: string | object;
  setSinkId(id: string): Promise<void>;
}

/** The id of the device a track comes from, when the browser says. */
function deviceIdOf(track: MediaStreamTrack): string | undefined {
  return track.getSettings?.().deviceId || undefined;
}
