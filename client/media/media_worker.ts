/**
 * The media worker: a dedicated worker that keeps the page's audio off its main thread. It
 * holds the page's WebTransport session (a {@linkcode WebTransportChannel}), the audio
 * receivers ({@linkcode AudioReceivers}) and the microphone's encoding
 * ({@linkcode AudioEncoding}). The mix's datagrams are decoded here and their frames go to the
 * playback worklet on a port of their own; the capture worklet posts the microphone's frames
 * here on another port, and their packets leave on the session (while the page's media goes
 * to the relay over WebTransport; otherwise the main thread sends them on the WebSocket or the
 * P2P path). So a main thread held up by video, layout or garbage collection holds up neither
 * what is heard nor what is said. Every datagram is also handed to the main thread (marked
 * when its audio was taken here), which counts it, reads the link's delay from it and handles
 * the video; the main thread hands over the audio that came another way (the WebSocket, the
 * P2P data channel), and sends through the session what it sends. Datagrams cross in batches
 * (what came or was sent in one turn of a loop): a message per datagram cost about a tenth of
 * a core per page. `MediaWorkerLink` (client/media/media_worker_link.ts) is the main thread's
 * side; the messages are {@linkcode ToMediaWorker} and {@linkcode FromMediaWorker}.
 *
 * Clocks: each side's `performance.now()` counts from its own origin, so times cross as
 * wall-clock milliseconds (`performance.timeOrigin + performance.now()`).
 *
 * @example
 * ```ts
 * // client/media_worker_main.ts, the worker's entry:
 * function main(scope: MediaWorkerScope) {
 *   return new MediaWorker(scope);
 * }
 * ```
 * @module
 */

import type { ReportBlock } from "../../media/rtcp.ts";
import { isRtcp, parseRtp, type RtpPacket } from "../../media/rtp.ts";
import { OPUS_CLOCK_RATE, PT_OPUS, PT_RED } from "../../protocol/media.ts";
import { AudioEncoding, type AudioEncodingStats } from "./audio_encoding.ts";
import type { AudioReceiverStats } from "./audio_receiver.ts";
import { PortPlaybackSink } from "./audio_playback.ts";
import { AudioReceivers, type ClosedReceiverTotals } from "./audio_receivers.ts";
import { MAX_MEDIA_PACKET_BYTES } from "./packet_mux.ts";
import { RtpStream } from "./rtp_stream.ts";
import { WebTransportChannel, type WebTransportChannelOptions } from "./webtransport_channel.ts";

/**
 * Messages to the worker.
 *
 * @example
 * ```ts
 * const known: ToMediaWorker = { type: "known", ssrcs: [3], own: 1 };
 * ```
 */
export type ToMediaWorker =
  /** Opens a session (closing any other); its messages carry `id`. */
  | { type: "open"; id: number; options: WebTransportChannelOptions }
  /** Packets to send on session `id` (what the page sent in one turn: one message). */
  | { type: "send"; id: number; packets: Uint8Array[] }
  | { type: "close-session"; id: number }
  /** An audio packet that came another way; `arrivalWallMs`: when, on the wall clock. */
  | { type: "audio"; packet: RtpPacket; arrivalWallMs: number }
  | { type: "sr"; ssrc: number; ntpSeconds: number; ntpFraction: number; arrivalWallMs: number }
  /** The SSRCs expected; `own`: the page's audio SSRC, which the microphone is sent as. */
  | { type: "known"; ssrcs: number[]; own: number }
  /**
   * The microphone's frames come on `port` (from the capture worklet) from now on: encode
   * them; packets carry send times on the page's clock (`pageTimeOrigin`).
   */
  | { type: "audio-send-start"; port: MessagePort; bitrate: number; pageTimeOrigin: number }
  | { type: "audio-send-stop" }
  /** Whether the microphone's packets go on the session (relay over WebTransport). */
  | { type: "audio-direct"; direct: boolean }
  /** Frames go to this port (to the playback worklet) from now on; null: nowhere. */
  | { type: "playback"; port: MessagePort | null }
  /** Asks for reception report blocks (answered with `blocks`). */
  | { type: "report" }
  | { type: "close" };

/**
 * Messages from the worker.
 *
 * @example
 * ```ts
 * function isMedia(message: FromMediaWorker) {
 *   return message.type === "media";
 * }
 * ```
 */
export type FromMediaWorker =
  /** The worker's script runs (its first message). */
  | { type: "ready" }
  /**
   * Datagrams of session `id`, those that came in one turn of the worker's loop; `audio[i]`:
   * the audio of `datagrams[i]` was taken here already.
   */
  | {
    type: "media";
    id: number;
    datagrams: Uint8Array[];
    audio: boolean[];
    /** When each came, on the wall clock: the main thread's delay readings need it. */
    arrivals: number[];
  }
  | { type: "bound"; id: number }
  | { type: "closed"; id: number; reason: string }
  | { type: "pong"; id: number; atWallMs: number; rttMs: number | null }
  /** The session's writes not yet taken by the browser (see `DatagramSendQueue`). */
  | { type: "queue"; id: number; bytes: number; congested: boolean }
  /** About four times a second: the receivers, and capture-to-arrival delays since the last. */
  | {
    type: "stats";
    receivers: AudioReceiverStats[];
    arrivals: number[];
    closedTotals: ClosedReceiverTotals;
    /** The microphone's encoding, while there is one. */
    sender: AudioEncodingStats | null;
  }
  | { type: "blocks"; blocks: ReportBlock[] }
  /** A packet of the microphone, for the main thread to send (not on the session). */
  | { type: "audio-packet"; bytes: Uint8Array }
  | { type: "audio-send-error"; message: string };

/**
 * What the worker needs of its global scope (a `DedicatedWorkerGlobalScope`).
 *
 * @example
 * ```ts
 * const scope = globalThis as unknown as MediaWorkerScope;
 * ```
 */
export interface MediaWorkerScope {
  postMessage(message: FromMediaWorker, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent<ToMediaWorker>) => void) | null;
}

/** How often the receivers' statistics go to the main thread, ms. */
export const MEDIA_WORKER_STATS_MS = 250;
/** Most arrival delays carried in one statistics message. */
const MAX_ARRIVALS = 256;
/** Most datagrams handed to the main thread in one message. */
const MAX_BATCH = 64;
/** How often the session's send queue is reported while it holds something, ms. */
const QUEUE_REPORT_MS = 20;

/** The worker's side (see the module documentation). */
export class MediaWorker {
  readonly #scope: MediaWorkerScope;
  readonly #audio = new AudioReceivers();
  #sink: PortPlaybackSink | null = null;
  #session: { id: number; channel: WebTransportChannel } | null = null;
  #arrivals: number[] = [];
  #statsTimer: ReturnType<typeof setInterval>;
  #queueTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  /** The microphone's stream: its numbering carries on across encodings. */
  readonly #audioStream = new RtpStream({
    ssrc: 0,
    payloadType: PT_OPUS,
    clockRate: OPUS_CLOCK_RATE,
  });
  #encoding: { encoding: AudioEncoding; port: MessagePort } | null = null;
  #direct = false;
  /** Datagrams not yet handed to the main thread (see #datagram). */
  #inbox = {
    id: 0,
    datagrams: [] as Uint8Array[],
    audio: [] as boolean[],
    arrivals: [] as number[],
  };
  #inboxTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(scope: MediaWorkerScope) {
    this.#scope = scope;
    this.#audio.onArrival = (delay) => {
      if (this.#arrivals.length < MAX_ARRIVALS) this.#arrivals.push(delay);
    };
    scope.onmessage = (event) => this.#handle(event.data);
    this.#statsTimer = setInterval(() => this.#postStats(), MEDIA_WORKER_STATS_MS);
    scope.postMessage({ type: "ready" });
  }

  #handle(message: ToMediaWorker): void {
    if (this.#closed) return;
    switch (message.type) {
      case "open":
        return this.#open(message.id, message.options);
      case "send": {
        const session = this.#session;
        if (session?.id !== message.id) return;
        for (const packet of message.packets) session.channel.sendBinary(packet);
        this.#watchQueue();
        return;
      }
      case "close-session":
        if (this.#session?.id === message.id) this.#closeSession();
        return;
      case "audio":
        return this.#audio.receive(message.packet, this.#localMs(message.arrivalWallMs));
      case "sr":
        return this.#audio.senderReport(
          message.ssrc,
          message.ntpSeconds,
          message.ntpFraction,
          this.#localMs(message.arrivalWallMs),
        );
      case "known":
        this.#audioStream.ssrc = message.own;
        return this.#audio.setKnown(message.ssrcs, message.own);
      case "audio-send-start":
        return this.#startEncoding(message.port, message.bitrate, message.pageTimeOrigin);
      case "audio-send-stop":
        return this.#stopEncoding();
      case "audio-direct":
        this.#direct = message.direct;
        return;
      case "playback":
        this.#sink?.close();
        this.#sink = message.port ? new PortPlaybackSink(message.port) : null;
        return this.#audio.setPlayback(this.#sink);
      case "report":
        return this.#scope.postMessage({
          type: "blocks",
          blocks: this.#audio.blocks(performance.now()),
        });
      case "close":
        return this.#close();
    }
  }

  #open(id: number, options: WebTransportChannelOptions): void {
    this.#closeSession();
    let channel: WebTransportChannel;
    try {
      channel = new WebTransportChannel(options);
    } catch (err) {
      this.#scope.postMessage({ type: "closed", id, reason: `failed: ${err}` });
      return;
    }
    this.#session = { id, channel };
    channel.on("bound", () => this.#scope.postMessage({ type: "bound", id }));
    channel.on("pong", () =>
      this.#scope.postMessage({
        type: "pong",
        id,
        atWallMs: performance.timeOrigin + channel.lastPongAt,
        rttMs: channel.rttMs,
      }));
    channel.on("closed", (reason) => {
      if (this.#session?.channel === channel) this.#session = null;
      this.#scope.postMessage({ type: "closed", id, reason });
    });
    channel.on("media", (bytes) => this.#datagram(id, bytes));
  }

  #startEncoding(port: MessagePort, bitrate: number, pageTimeOrigin: number): void {
    this.#stopEncoding();
    const encoding = new AudioEncoding({
      stream: this.#audioStream,
      send: (packet) => this.#sendAudio(packet),
      bitrate,
      onError: (err) =>
        this.#scope.postMessage({ type: "audio-send-error", message: String(err?.message ?? err) }),
      sendClock: () => performance.timeOrigin + performance.now() - pageTimeOrigin,
    });
    port.onmessage = (event) => encoding.frame(event.data.samples, event.data.time);
    this.#encoding = { encoding, port };
  }

  #stopEncoding(): void {
    const current = this.#encoding;
    this.#encoding = null;
    if (!current) return;
    current.port.onmessage = null;
    current.port.close();
    current.encoding.close();
  }

  /** On the session when the page's media goes there, else through the main thread. */
  #sendAudio(packet: Uint8Array): void {
    if (this.#direct && this.#session?.channel.sendBinary(packet)) {
      this.#watchQueue();
      return;
    }
    this.#scope.postMessage({ type: "audio-packet", bytes: packet }, [
      packet.buffer as ArrayBuffer,
    ]);
  }

  /** One datagram of the session: its audio is taken here, and all of it goes on. */
  #datagram(id: number, bytes: Uint8Array): void {
    let audio = false;
    if (bytes.length <= MAX_MEDIA_PACKET_BYTES && !isRtcp(bytes)) {
      const parsed = parseRtp(bytes);
      if (
        parsed.ok &&
        (parsed.packet.payloadType === PT_OPUS || parsed.packet.payloadType === PT_RED)
      ) {
        this.#audio.receive(parsed.packet, performance.now());
        audio = true;
      }
    }
    const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
      ? bytes
      : bytes.slice();
    // What came together goes on together: a message per datagram cost the pages about a
    // tenth of a core each in messages and wake-ups.
    const inbox = this.#inbox;
    if (inbox.id !== id) this.#flushInbox();
    inbox.id = id;
    inbox.datagrams.push(own);
    inbox.audio.push(audio);
    inbox.arrivals.push(performance.timeOrigin + performance.now());
    if (inbox.datagrams.length >= MAX_BATCH) this.#flushInbox();
    else if (!this.#inboxTimer) this.#inboxTimer = setTimeout(() => this.#flushInbox(), 0);
  }

  #flushInbox(): void {
    clearTimeout(this.#inboxTimer);
    this.#inboxTimer = undefined;
    const { id, datagrams, audio, arrivals } = this.#inbox;
    if (datagrams.length === 0) return;
    this.#inbox = { id, datagrams: [], audio: [], arrivals: [] };
    this.#scope.postMessage(
      { type: "media", id, datagrams, audio, arrivals },
      datagrams.map((d) => d.buffer as ArrayBuffer),
    );
  }

  /** Reports the send queue now and then while it holds writes, and once when it empties. */
  #watchQueue(): void {
    if (this.#queueTimer !== undefined) return;
    this.#queueTimer = setTimeout(() => {
      this.#queueTimer = undefined;
      const session = this.#session;
      if (!session) return;
      const bytes = session.channel.bufferedAmount;
      this.#scope.postMessage({
        type: "queue",
        id: session.id,
        bytes,
        congested: session.channel.congested,
      });
      if (bytes > 0) this.#watchQueue();
    }, QUEUE_REPORT_MS);
  }

  #postStats(): void {
    const arrivals = this.#arrivals;
    this.#arrivals = [];
    this.#scope.postMessage({
      type: "stats",
      receivers: this.#audio.stats(performance.now()),
      arrivals,
      closedTotals: { ...this.#audio.closedTotals },
      sender: this.#encoding?.encoding.stats() ?? null,
    });
  }

  #localMs(wallMs: number): number {
    return wallMs - performance.timeOrigin;
  }

  #closeSession(): void {
    const session = this.#session;
    this.#session = null;
    session?.channel.close();
  }

  #close(): void {
    this.#closed = true;
    this.#stopEncoding();
    this.#closeSession();
    this.#audio.close();
    this.#sink?.close();
    this.#sink = null;
    clearInterval(this.#statsTimer);
    clearTimeout(this.#queueTimer);
    clearTimeout(this.#inboxTimer);
    this.#scope.onmessage = null;
  }
}
