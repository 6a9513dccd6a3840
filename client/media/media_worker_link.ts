/**
 * The main thread's side of the media worker (client/media/media_worker.ts): it starts the
 * worker, opens the page's WebTransport sessions in it (`connect`, for the `RelayChannel`:
 * each session is a {@linkcode DatagramLink} here), and is the page's audio receiving
 * ({@linkcode AudioInbound}): the audio of the session's datagrams is decoded in the worker
 * as it arrives, what came another way (the WebSocket, P2P) is handed over, and the worker's
 * statistics and report blocks come back a moment later.
 *
 * The worker reports every quarter of a second. One that has said nothing for
 * {@linkcode WORKER_SILENT_MS} while this thread was not held up itself has stopped (its thread
 * ended or hangs): its session is closed (the relay channel goes on the WebSocket at once) and
 * `onFail` is called, so that the page takes the audio back on its own thread.
 *
 * @example
 * ```ts
 * import type { JoinReply } from "../../protocol/control.ts";
 * import type { MediaCarrier } from "./packet_mux.ts";
 * import { RelayChannel } from "./relay_channel.ts";
 *
 * function relayFor(join: JoinReply, meetingId: string, websocket: MediaCarrier) {
 *   const worker = new MediaWorkerLink();
 *   const relay = new RelayChannel({
 *     websocket,
 *     connect: (info) => worker.connect({ info, mediaKey: join.media.mediaKey, meetingId }),
 *     announceWebSocket: () => Promise.resolve(undefined),
 *   });
 *   return { worker, relay }; // the worker is also PageMedia's `audioInbound`
 * }
 * ```
 * @module
 */

import type { ReportBlock } from "../../media/rtcp.ts";
import type { RtpPacket } from "../../media/rtp.ts";
import { Emitter } from "../../util/emitter.ts";
import type { AudioPlayback } from "./audio_playback.ts";
import type { AudioReceiverStats } from "./audio_receiver.ts";
import type { AudioInbound, ClosedReceiverTotals } from "./audio_receivers.ts";
import type { AudioEncodingStats } from "./audio_encoding.ts";
import type { AudioEncodeOffload } from "./audio_sender.ts";
import type { FromMediaWorker, ToMediaWorker } from "./media_worker.ts";
import type { DatagramLink } from "./relay_channel.ts";
import type { WebTransportChannelOptions } from "./webtransport_channel.ts";

/** Where the worker's script is served (bundled from client/media_worker_main.ts). */
export const MEDIA_WORKER_URL = "/_islands/media_worker_main.js";

/**
 * A running worker that has sent nothing for this long has stopped, ms: it reports every
 * `MEDIA_WORKER_STATS_MS` (250), so this is eight reports missed.
 */
export const WORKER_SILENT_MS = 2000;
/** How often the worker's silence is checked, ms. */
const WATCH_MS = 500;

/**
 * Whether this browser can run the media worker: module workers (a browser that does not read
 * `type` from the options would start the script as a classic worker, which fails on its
 * imports, and the page would hear nothing) and message channels. Without them the page keeps
 * its session and audio on the main thread.
 */
export function hasMediaWorker(): boolean {
  if (typeof Worker !== "function" || typeof MessageChannel !== "function") return false;
  let reads = false;
  const probe = {
    get type(): WorkerType {
      reads = true;
      return "module";
    },
  };
  try {
    new Worker("data:,", probe).terminate();
  } catch {
    return false;
  }
  return reads;
}

/** Events of a {@linkcode WorkerSession}. */
type WorkerSessionEvents = {
  media: [bytes: Uint8Array, arrivalMs?: number];
  bound: [];
  closed: [reason: string];
};

/** One WebTransport session held by the worker, as the relay channel sees it. */
class WorkerSession extends Emitter<WorkerSessionEvents> implements DatagramLink {
  readonly id: number;
  readonly #post: (message: ToMediaWorker) => void;
  readonly #onClose: () => void;
  lastPongAt = performance.now();
  rttMs: number | null = null;
  #queued = { bytes: 0, congested: false };
  /** What the page sent in this turn, posted together at its end. */
  #outbox: Uint8Array[] = [];
  /** Bytes handed to the worker since its last report of the queue. */
  #sentSince = 0;
  #closed = false;

  constructor(id: number, post: (message: ToMediaWorker) => void, onClose: () => void) {
    super();
    this.id = id;
    this.#post = post;
    this.#onClose = onClose;
  }

  sendBinary(bytes: Uint8Array): boolean {
    if (this.#closed) return false;
    // A video frame's packets are sent in one go: one message for them all.
    if (this.#outbox.length === 0) queueMicrotask(() => this.#flush());
    this.#outbox.push(bytes);
    this.#sentSince += bytes.length;
    return true;
  }

  get bufferedAmount(): number {
    return this.#queued.bytes + this.#sentSince;
  }

  get congested(): boolean {
    return this.#queued.congested;
  }

  close(): void {
    if (this.#closed) return;
    this.#flush();
    this.#post({ type: "close-session", id: this.id });
    this.#end("closed by the page");
  }

  /** A message of this session from the worker. */
  handle(message: FromMediaWorker): void {
    if (this.#closed) return;
    switch (message.type) {
      case "media":
        // Each at the time it reached the worker: a batch handed over together must not read
        // as packets that arrived together (the link estimate reads their spacing).
        message.datagrams.forEach((bytes, i) => {
          if (!this.#closed) {
            this.emit("media", bytes, message.arrivals[i] - performance.timeOrigin);
          }
        });
        return;
      case "bound":
        this.lastPongAt = performance.now();
        return this.emit("bound");
      case "pong":
        this.lastPongAt = message.atWallMs - performance.timeOrigin;
        this.rttMs = message.rttMs;
        return;
      case "queue":
        this.#queued = { bytes: message.bytes, congested: message.congested };
        this.#sentSince = 0;
        return;
      case "closed":
        return this.#end(message.reason);
    }
  }

  #flush(): void {
    const packets = this.#outbox;
    if (packets.length === 0 || this.#closed) return;
    this.#outbox = [];
    this.#post({ type: "send", id: this.id, packets });
  }

  #end(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.emit("closed", reason);
    this.removeAllListeners();
    this.#onClose();
  }
}

/** The media worker, from the page's main thread (see the module documentation). */
export class MediaWorkerLink implements AudioInbound, AudioEncodeOffload {
  readonly #worker: Worker;
  #session: WorkerSession | null = null;
  #nextId = 1;
  /** The datagrams whose audio the worker took already (by their buffer). */
  #taken = new WeakSet<ArrayBufferLike>();
  #stats: AudioReceiverStats[] = [];
  /** Where the blocks the worker was asked for go (see `reportBlocks`). */
  #sendBlocks: ((blocks: ReportBlock[]) => void) | null = null;
  #closed = false;
  /** The microphone's encoding in the worker, while there is one. */
  #audioSend: {
    send(packet: Uint8Array): void;
    onError(error: Error): void;
    stats: AudioEncodingStats;
  } | null = null;
  closedTotals: ClosedReceiverTotals = { recovered: 0, unrecovered: 0 };
  onArrival: ((delayMs: number) => void) | null = null;
  /**
   * True once the worker's script runs; false if it failed to start (the page then keeps its
   * media on the main thread). A page starts the worker before it joins and waits for this:
   * on a weak link the script would otherwise load behind the media.
   */
  readonly ready: Promise<boolean>;
  /**
   * Called once when the running worker stops (see the module documentation): its session
   * is closed already; the page moves the audio to its own thread and closes this link.
   */
  onFail: ((reason: string) => void) | null = null;
  #state: "starting" | "running" | "failed" = "starting";
  #settleReady: (running: boolean) => void = () => {};
  readonly #silentMs: number;
  #heardAt = performance.now();
  #checkedAt = performance.now();
  #watch: ReturnType<typeof setInterval> | undefined;

  /**
   * Starts the worker from `url` (default {@linkcode MEDIA_WORKER_URL}); `silentMs`: how long
   * a running worker may say nothing (default {@linkcode WORKER_SILENT_MS}).
   */
  constructor(url: string | URL = MEDIA_WORKER_URL, options: { silentMs?: number } = {}) {
    this.#silentMs = options.silentMs ?? WORKER_SILENT_MS;
    this.ready = new Promise((resolve) => this.#settleReady = resolve);
    this.#worker = new Worker(url, { type: "module", name: "meet-media" });
    this.#worker.onmessage = (event: MessageEvent<FromMediaWorker>) => this.#handle(event.data);
    this.#worker.onerror = (event) => {
      console.error("media worker:", event.message ?? event);
      if (this.#state !== "starting") return;
      this.#state = "failed";
      this.#settleReady(false);
    };
  }

  /** Whether the worker failed to start, or stopped. */
  get failed(): boolean {
    return this.#state === "failed";
  }

  /**
   * Opens a WebTransport session in the worker (closing the one before, if any). A session
   * of a worker that stopped closes at once.
   */
  connect(options: WebTransportChannelOptions): DatagramLink {
    this.#session?.close();
    const id = this.#nextId++;
    const session = new WorkerSession(id, (m) => this.#post(m), () => {
      if (this.#session === session) this.#session = null;
    });
    if (this.failed) {
      queueMicrotask(() =>
        session.handle({ type: "closed", id, reason: "the media worker stopped" })
      );
      return session;
    }
    this.#session = session;
    this.#post({
      type: "open",
      id,
      options: { ...options, hostname: options.hostname ?? location.hostname },
    });
    return session;
  }

  receive(packet: RtpPacket, arrivalMs: number): void {
    if (this.#taken.has(packet.payload.buffer)) return;
    this.#post({ type: "audio", packet, arrivalWallMs: performance.timeOrigin + arrivalMs });
  }

  senderReport(ssrc: number, ntpSeconds: number, ntpFraction: number, arrivalMs: number): void {
    this.#post({
      type: "sr",
      ssrc,
      ntpSeconds,
      ntpFraction,
      arrivalWallMs: performance.timeOrigin + arrivalMs,
    });
  }

  setKnown(ssrcs: readonly number[], own: number): void {
    this.#post({ type: "known", ssrcs: [...ssrcs], own });
  }

  setPlayback(playback: AudioPlayback | null): void {
    if (!playback) return this.#post({ type: "playback", port: null });
    const channel = new MessageChannel();
    playback.node.port.postMessage({ type: "port", port: channel.port1 }, [channel.port1]);
    this.#post({ type: "playback", port: channel.port2 }, [channel.port2]);
  }

  /**
   * Has the worker encode the microphone: the capture worklet posts its frames to `port`.
   * What the worker does not send on its session (see {@linkcode setAudioDirect}) comes back
   * to `send`.
   */
  startAudio(port: MessagePort, options: {
    bitrate: number;
    send(packet: Uint8Array): void;
    onError(error: Error): void;
  }): { stats(): AudioEncodingStats; close(): void } {
    const current = {
      send: options.send,
      onError: options.onError,
      stats: { framesCaptured: 0, framesEncoded: 0, bitrate: 0, encodeMs: 0 },
    };
    this.#audioSend = current;
    this.#post({
      type: "audio-send-start",
      port,
      bitrate: options.bitrate,
      pageTimeOrigin: performance.timeOrigin,
    }, [port]);
    return {
      stats: () => current.stats,
      close: () => {
        if (this.#audioSend !== current) return;
        this.#audioSend = null;
        this.#post({ type: "audio-send-stop" });
      },
    };
  }

  /**
   * Whether the worker sends the microphone on its session itself: while the page's media
   * goes to the relay over WebTransport (else it hands the packets back, for the WebSocket or
   * the P2P path).
   */
  setAudioDirect(direct: boolean): void {
    this.#post({ type: "audio-direct", direct });
  }

  /** Asks the worker for its blocks; `send` gets them when they come. */
  reportBlocks(_nowMs: number, send: (blocks: ReportBlock[]) => void): void {
    this.#sendBlocks = send;
    this.#post({ type: "report" });
  }

  /** The worker's last statistics (a quarter of a second old at most, `MEDIA_WORKER_STATS_MS`). */
  stats(_nowMs: number): AudioReceiverStats[] {
    return this.#stats;
  }

  /** Closes the session and stops the worker. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#session?.close();
    this.#post({ type: "close" });
    this.#closed = true;
    clearInterval(this.#watch);
    this.#worker.terminate();
    if (this.#state === "starting") this.#settleReady(false);
  }

  /**
   * Checks that the running worker still reports. A check that itself runs late (this
   * thread was held up, and the worker's messages may be waiting behind it) judges nothing.
   */
  #check(): void {
    const now = performance.now();
    const late = now - this.#checkedAt > 2 * WATCH_MS;
    this.#checkedAt = now;
    if (late || this.#closed || this.#state !== "running") return;
    if (now - this.#heardAt < this.#silentMs) return;
    this.#state = "failed";
    clearInterval(this.#watch);
    const reason = "the media worker stopped";
    console.warn(`${reason}: nothing from it for ${Math.round(now - this.#heardAt)} ms`);
    const session = this.#session;
    if (session) session.handle({ type: "closed", id: session.id, reason });
    this.onFail?.(reason);
  }

  #post(message: ToMediaWorker, transfer: Transferable[] = []): void {
    if (!this.#closed) this.#worker.postMessage(message, transfer);
  }

  #handle(message: FromMediaWorker): void {
    if (this.#closed || this.#state === "failed") return;
    this.#heardAt = performance.now();
    switch (message.type) {
      case "ready":
        if (this.#state === "starting") {
          this.#state = "running";
          this.#checkedAt = this.#heardAt;
          this.#watch = setInterval(() => this.#check(), WATCH_MS);
        }
        this.#settleReady(true);
        return;
      case "stats":
        this.#stats = message.receivers;
        this.closedTotals = message.closedTotals;
        for (const delay of message.arrivals) this.onArrival?.(delay);
        if (this.#audioSend && message.sender) this.#audioSend.stats = message.sender;
        return;
      case "audio-packet":
        this.#audioSend?.send(message.bytes);
        return;
      case "audio-send-error":
        this.#audioSend?.onError(new Error(message.message));
        return;
      case "blocks": {
        const send = this.#sendBlocks;
        this.#sendBlocks = null;
        if (send && message.blocks.length > 0) send(message.blocks);
        return;
      }
      default: {
        const session = this.#session;
        if (session?.id !== message.id) return;
        if (message.type === "media") {
          message.datagrams.forEach((d, i) => {
            if (message.audio[i]) this.#taken.add(d.buffer);
          });
        }
        session.handle(message);
      }
    }
  }
}
