/**
 * A lightweight media bot for the soak run: one control connection (ControlClient over
 * npm:ws), Opus audio every 20 ms from a pre-encoded 1 s loop, synthetic VP8 video at 15 fps.
 * It stores no media: what it receives only moves counters and histograms shared by all bots
 * (`SoakWindow`), so the soak process's memory stays flat too.
 *
 * Loss is counted from RTP sequence numbers: the mix each bot receives (one stream from the
 * server's mixer) and every other bot's video (forwarded by the router with the sender's
 * numbers). A sender that reconnects starts a new "epoch" (shared by all bots), so the
 * packets lost with its dropped connection are not counted against the server.
 *
 * @example
 * ```ts
 * async function run({ meetingId, wsUrl, media, window, random }: SoakBotOptions, n: number) {
 *   const bot = new SoakBot({ name: "bot-1", meetingId, wsUrl, media, window, random, tone: 0 });
 *   await bot.connect();     // identify + join
 *   bot.tick(n);             // called every 20 ms by the soak's clock: sends audio (and video)
 *   bot.drop(true);          // the connection dies without `leave`; the seat is held
 *   await bot.connect();     // identify with the token + join: resumed
 * }
 * ```
 * @module
 */

import WebSocket from "ws";
import { ControlClient, type WebSocketLike } from "../client/control_client.ts";
import { createOpusEncoder } from "../media/opus.ts";
import { isRtcp, MAX_PACKET_SIZE, parseRtp, writeRtp } from "../media/rtp.ts";
import { parseRtcp } from "../media/rtcp.ts";
import { packetizeVp8 } from "../media/vp8.ts";
import type { JoinReply } from "../protocol/control.ts";
import {
  captureTimeExtension,
  type MediaSsrcs,
  OPUS_FRAME_SAMPLES,
  PT_OPUS,
  PT_VP8,
  readCaptureTime,
} from "../protocol/media.ts";
import { Histogram } from "./stats.ts";

/** Video frames a second. */
export const FPS = 15;
/** A keyframe every this many frames (2 s), and whenever a PLI asks. */
const KEYFRAME_EVERY = 2 * FPS;
const VIDEO_CLOCK_PER_FRAME = 90_000 / FPS;
/** RTP header (12) + capture-time extension (4 + 12): what is left for the VP8 payload. */
const MAX_VP8_PAYLOAD = MAX_PACKET_SIZE - 12 - 16;
const KEYFRAME_BYTES = [7_000, 8_000];
const DELTA_BYTES = [3_000, 5_000];
/** A mix packet arriving this long after the previous one counts as a gap. */
const GAP_MS = 100;
const CONNECT_TIMEOUT_MS = 5_000;
/** A sequence jump above this (or backwards) is a restarted stream, not loss. */
const MAX_SEQ_JUMP = 3_000;

/** Wall-clock time with sub-millisecond resolution (senders and receivers share the process). */
const wallNow = () => performance.timeOrigin + performance.now();

/** Media every bot sends from: encoded once at start-up. */
export interface SoakMedia {
  /**
   * Connection count of each video sender by SSRC, shared by all bots: a receiver that sees
   * it change restarts its loss count for that sender.
   */
  epochs: Map<number, number>;
  /** Per tone, 50 Opus payloads: a seamless 1 s loop. */
  tones: Uint8Array[][];
  /** Random bytes for keyframes: byte 0 is 0x10 (VP8 P bit 0). */
  keyframe: Uint8Array;
  /** Random bytes for delta frames: byte 0 is 0x11. */
  delta: Uint8Array;
}

/** Encodes the shared media: `frequencies` (whole Hz, so each 1 s loop is seamless). */
export function makeSoakMedia(frequencies: number[], random: () => number): SoakMedia {
  const encoder = createOpusEncoder({ bitrate: 32_000 });
  const tones = frequencies.map((freq) => {
    const payloads: Uint8Array[] = [];
    for (let frame = 0; frame < 50; frame++) {
      const pcm = new Int16Array(OPUS_FRAME_SAMPLES);
      for (let i = 0; i < pcm.length; i++) {
        const t = (frame * OPUS_FRAME_SAMPLES + i) / 48_000;
        pcm[i] = Math.round(0.25 * 32767 * Math.sin(2 * Math.PI * freq * t));
      }
      payloads.push(encoder.encode(pcm));
    }
    return payloads;
  });
  encoder.close();
  const bytes = (first: number) => {
    const b = new Uint8Array(KEYFRAME_BYTES[1]);
    for (let i = 0; i < b.length; i++) b[i] = (random() * 256) | 0;
    b[0] = first;
    return b;
  };
  return { epochs: new Map(), tones, keyframe: bytes(0x10), delta: bytes(0x11) };
}

/** What all bots measured in the current window; reset by the soak at each window's end. */
export class SoakWindow {
  /** Mix packets received (each bot's first one after a join is the time origin, not counted). */
  mixPackets = 0;
  /** Time bots spent receiving the mix, ms: 50 packets a second expected over it. */
  mixExpectedMs = 0;
  /** Mix packets that came more than 100 ms after the previous one. */
  mixGaps = 0;
  /** Mix packets missing from the sequence numbers received. */
  mixLost = 0;
  videoPackets = 0;
  /** Forwarded video packets missing from each sender's sequence numbers. */
  videoLost = 0;
  audioSent = 0;
  videoSent = 0;
  plis = 0;
  badPackets = 0;
  /** Receive time minus capture time of mix packets (audio through the mixer), ms. */
  audioDelay = new Histogram();
  /** Receive time minus capture time of forwarded video packets, ms. */
  videoDelay = new Histogram();

  reset(): void {
    this.mixPackets =
      this.mixExpectedMs =
      this.mixGaps =
      this.mixLost =
        0;
    this.videoLost = 0;
    this.videoPackets =
      this.audioSent =
      this.videoSent =
      this.plis =
      this.badPackets =
        0;
    this.audioDelay.reset();
    this.videoDelay.reset();
  }
}

/** Options of a {@linkcode SoakBot}. */
export interface SoakBotOptions {
  name: string;
  meetingId: string;
  wsUrl: string;
  media: SoakMedia;
  window: SoakWindow;
  random: () => number;
  /** Index into `media.tones`. */
  tone: number;
  /** Called when the server closes the connection or removes the bot unasked. */
  onProblem?: (bot: SoakBot, what: string) => void;
  /**
   * Called once per connection, when media flows: ms from the join to the first mix packet
   * and to the first forwarded video packet (-1 for one that did not come within 5 s).
   */
  onMediaFlowing?: (bot: SoakBot, mixMs: number, videoMs: number) => void;
}

/** Where a bot is in its life. */
export type BotState = "idle" | "connecting" | "active" | "dropped" | "leaving" | "closed";

type NpmWebSocket = WebSocketLike & { terminate(): void };

/** One soak participant. */
export class SoakBot {
  readonly name: string;
  readonly meetingId: string;
  state: BotState = "idle";
  token: string | undefined;
  participantId: string | undefined;
  ssrcs: MediaSsrcs | undefined;
  #options: SoakBotOptions;
  #client: ControlClient | undefined;
  #socket: NpmWebSocket | undefined;
  #offs: (() => void)[] = [];
  #mixFrom: number | null = null;
  #lastMixAt = 0;
  #mixSeq = -1;
  /** Per video sender SSRC: last sequence number and the sender's epoch. */
  #videoSeqs = new Map<number, { seq: number; epoch: number }>();
  #joinedAt = 0;
  #firstMixMs = -1;
  #firstVideoMs = -1;
  #epoch = 0;
  #audioSeq: number;
  #audioTs: number;
  #videoSeq: number;
  #videoTsBase: number;
  #pictureId: number;
  #lastFrame = -1;
  #phase: number;
  #keyframeWanted = true;

  constructor(options: SoakBotOptions) {
    this.#options = options;
    this.name = options.name;
    this.meetingId = options.meetingId;
    const r = options.random;
    this.#audioSeq = (r() * 65536) | 0;
    this.#audioTs = (r() * 2 ** 32) >>> 0;
    this.#videoSeq = (r() * 65536) | 0;
    this.#videoTsBase = (r() * 2 ** 32) >>> 0;
    this.#pictureId = (r() * 32768) | 0;
    this.#phase = (r() * 10) | 0;
  }

  /**
   * Opens a connection, identifies (by name the first time, by token after) and joins.
   * Rejects on any failure (the connection is then closed).
   */
  async connect(): Promise<JoinReply> {
    if (this.state === "closed") throw new Error("bot is closed");
    this.state = "connecting";
    const holder: { socket?: NpmWebSocket } = {};
    // A subclass that keeps the socket, so a drop can be an abrupt TCP close (terminate).
    const Ctor = class extends WebSocket {
      constructor(url: string) {
        super(url, { perMessageDeflate: false });
        holder.socket = this as unknown as NpmWebSocket;
      }
    };
    const client = new ControlClient(this.#options.wsUrl, {
      WebSocket: Ctor as unknown as new (url: string) => WebSocketLike,
      reconnect: false,
      requestTimeoutMs: CONNECT_TIMEOUT_MS,
    });
    this.#client = client;
    this.#socket = holder.socket;
    this.#offs = [
      client.on("media", (packet) => this.#receive(packet)),
      client.on("close", () => {
        if (this.#client !== client) return;
        if (this.state === "active") this.#options.onProblem?.(this, "connection closed by server");
      }),
      client.on("removed", (e) => {
        if (this.#client === client) this.#options.onProblem?.(this, `removed: ${e.reason}`);
      }),
    ];
    try {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        client.opened(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error("connection not open after 5 s")), 5_000);
        }),
      ]).finally(() => clearTimeout(timer));
      const identity = await client.request(
        this.token
          ? { type: "identify", token: this.token }
          : { type: "identify", name: this.name },
      );
      this.token = identity.token;
      const reply = await client.request({ type: "join", meetingId: this.meetingId });
      // Microphone and camera on, as a browser tells the server.
      await client.request({ type: "media", audio: true, video: true });
      if (this.#client !== client || this.state !== "connecting") {
        throw new Error("bot was stopped while joining");
      }
      this.ssrcs = reply.media;
      this.participantId = reply.participantId;
      this.state = "active";
      this.#mixFrom = null;
      this.#mixSeq = -1;
      this.#videoSeqs.clear();
      this.#joinedAt = performance.now();
      this.#firstMixMs = this.#firstVideoMs = -1;
      this.#keyframeWanted = true;
      this.#options.media.epochs.set(reply.media.videoSsrc, ++this.#epoch);
      return reply;
    } catch (err) {
      this.#closeClient(false);
      if (this.state === "connecting") this.state = "idle";
      throw err;
    }
  }

  /** The connection goes away without `leave` (abrupt: TCP reset-like, else a clean close). */
  drop(abrupt: boolean): void {
    this.settle(performance.now());
    this.#mixFrom = null;
    this.state = "dropped";
    this.#closeClient(abrupt);
  }

  /** Leaves the meeting and closes the connection. */
  async leave(): Promise<void> {
    this.settle(performance.now());
    this.#mixFrom = null;
    this.state = "leaving";
    try {
      await this.#client?.request({ type: "leave" });
    } finally {
      this.close();
    }
  }

  /** Closes for good (no leave). */
  close(): void {
    if (this.state === "active") this.settle(performance.now());
    this.#mixFrom = null;
    this.state = "closed";
    this.#closeClient(false);
  }

  /** Adds the time spent receiving the mix since the last call to the window. */
  settle(now: number): void {
    if (this.#mixFrom === null) return;
    this.#options.window.mixExpectedMs += Math.max(0, now - this.#mixFrom);
    this.#mixFrom = now;
  }

  /**
   * One 20 ms step of the capture clock (`n` counts steps): sends an audio packet, and a
   * video frame on the steps that start one (15 fps). Sequence numbers and timestamps run on
   * while disconnected, as a capture clock does.
   */
  tick(n: number): void {
    if (this.state === "closed") return;
    const sending = this.state === "active";
    const win = this.#options.window;
    const seq = this.#audioSeq;
    const ts = this.#audioTs;
    this.#audioSeq = (this.#audioSeq + 1) & 0xffff;
    this.#audioTs = (this.#audioTs + OPUS_FRAME_SAMPLES) >>> 0;
    if (sending && this.ssrcs) {
      const loop = this.#options.media.tones[this.#options.tone];
      const ok = this.#client!.sendBinary(writeRtp({
        payloadType: PT_OPUS,
        sequenceNumber: seq,
        timestamp: ts,
        ssrc: this.ssrcs.audioSsrc,
        extension: captureTimeExtension(wallNow()),
        payload: loop[n % loop.length],
      }));
      if (ok) win.audioSent++;
    }
    const frame = Math.floor(((n + this.#phase) * FPS) / 50);
    if (frame === this.#lastFrame) return;
    this.#lastFrame = frame;
    if (!sending || !this.ssrcs) return;
    this.#checkFlowing();
    const key = this.#keyframeWanted || frame % KEYFRAME_EVERY === 0;
    this.#keyframeWanted = false;
    const r = this.#options.random();
    const [lo, hi] = key ? KEYFRAME_BYTES : DELTA_BYTES;
    const source = key ? this.#options.media.keyframe : this.#options.media.delta;
    const payloads = packetizeVp8(source.subarray(0, lo + Math.floor(r * (hi - lo))), {
      maxPayloadSize: MAX_VP8_PAYLOAD,
      pictureId: this.#pictureId,
    });
    this.#pictureId = (this.#pictureId + 1) & 0x7fff;
    const timestamp = (this.#videoTsBase + frame * VIDEO_CLOCK_PER_FRAME) >>> 0;
    const extension = captureTimeExtension(wallNow());
    for (let i = 0; i < payloads.length; i++) {
      const ok = this.#client!.sendBinary(writeRtp({
        payloadType: PT_VP8,
        sequenceNumber: this.#videoSeq,
        timestamp,
        ssrc: this.ssrcs.videoSsrc,
        marker: i === payloads.length - 1,
        extension,
        payload: payloads[i],
      }));
      this.#videoSeq = (this.#videoSeq + 1) & 0xffff;
      if (ok) win.videoSent++;
    }
  }

  #receive(packet: Uint8Array): void {
    if (this.state !== "active" || !this.ssrcs) return;
    const win = this.#options.window;
    if (isRtcp(packet)) {
      const rtcp = parseRtcp(packet);
      if (!rtcp.ok) {
        win.badPackets++;
        return;
      }
      for (const p of rtcp.packets) {
        if (p.type === "pli" && p.mediaSsrc === this.ssrcs.videoSsrc) {
          win.plis++;
          this.#keyframeWanted = true;
        }
      }
      return;
    }
    const parsed = parseRtp(packet);
    if (!parsed.ok) {
      win.badPackets++;
      return;
    }
    const rtp = parsed.packet;
    const wall = wallNow();
    const now = performance.now();
    if (rtp.ssrc === this.ssrcs.mixSsrc) {
      if (this.#mixFrom === null) this.#mixFrom = now;
      else {
        win.mixPackets++;
        if (now - this.#lastMixAt > GAP_MS) win.mixGaps++;
      }
      this.#lastMixAt = now;
      if (this.#mixSeq >= 0) win.mixLost += seqLoss(this.#mixSeq, rtp.sequenceNumber);
      this.#mixSeq = rtp.sequenceNumber;
      if (this.#firstMixMs < 0) this.#firstMixMs = now - this.#joinedAt;
      const capture = readCaptureTime(rtp.extension);
      if (capture !== null) win.audioDelay.add(wall - capture);
    } else if (rtp.payloadType === PT_VP8) {
      win.videoPackets++;
      const epoch = this.#options.media.epochs.get(rtp.ssrc) ?? 0;
      const last = this.#videoSeqs.get(rtp.ssrc);
      if (last && last.epoch === epoch) {
        win.videoLost += seqLoss(last.seq, rtp.sequenceNumber);
        last.seq = rtp.sequenceNumber;
      } else this.#videoSeqs.set(rtp.ssrc, { seq: rtp.sequenceNumber, epoch });
      if (this.#firstVideoMs < 0) this.#firstVideoMs = now - this.#joinedAt;
      const capture = readCaptureTime(rtp.extension);
      if (capture !== null) win.videoDelay.add(wall - capture);
    }
  }

  // Reports, once per connection, how long media took to flow after the join reply.
  #checkFlowing(): void {
    if (this.#joinedAt === 0) return;
    const waited = performance.now() - this.#joinedAt;
    if (this.#firstMixMs >= 0 && this.#firstVideoMs >= 0 || waited > 5_000) {
      this.#joinedAt = 0;
      this.#options.onMediaFlowing?.(this, this.#firstMixMs, this.#firstVideoMs);
    }
  }

  #closeClient(abrupt: boolean): void {
    this.#joinedAt = 0;
    for (const off of this.#offs) off();
    this.#offs = [];
    const client = this.#client;
    const socket = this.#socket;
    this.#client = undefined;
    this.#socket = undefined;
    if (abrupt) {
      try {
        socket?.terminate();
      } catch {
        // already gone
      }
    }
    client?.close();
  }
}

/** Packets missing between two sequence numbers (a restart or reordering counts none). */
export function seqLoss(last: number, seq: number): number {
  const jump = (seq - last) & 0xffff;
  return jump >= 1 && jump <= MAX_SEQ_JUMP ? jump - 1 : 0;
}
