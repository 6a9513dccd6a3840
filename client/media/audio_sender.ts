/**
 * Sends a microphone: the track feeds the "meet-capture" AudioWorklet (static/worklets/
 * capture.js) on the session's 48 kHz AudioContext, which posts 20 ms mono frames; each is
 * encoded to Opus RTP ({@linkcode AudioEncoding}) on this thread or, with `offload`, in the
 * media worker, which the worklet then posts to directly. Nothing is sent once closed (mic off).
 *
 * The sender owns its track: `close()` stops it.
 *
 * @example
 * ```ts
 * import type { PacketMux } from "./packet_mux.ts";
 * import type { RtpStream } from "./rtp_stream.ts";
 *
 * async function micOn(context: AudioContext, audioStream: RtpStream, transport: PacketMux) {
 *   await context.audioWorklet.addModule("/worklets/capture.js");
 *   const [track] = (await navigator.mediaDevices.getUserMedia({ audio: true })).getAudioTracks();
 *   const sender = new AudioSender({ context, track, stream: audioStream, transport });
 *   sender.close(); // mic off
 * }
 * ```
 * @module
 */

import type { AudioEncodingStats } from "./audio_encoding.ts";
import { AudioEncoding } from "./audio_encoding.ts";
import { OPUS_CLOCK_RATE, OPUS_FRAME_SAMPLES } from "../../protocol/media.ts";
import type { RtpStream } from "./rtp_stream.ts";
import type { PacketSink } from "./video_sender.ts";

/**
 * Encoding somewhere else than the page's main thread (the media worker, `MediaWorkerLink`):
 * the capture worklet posts its frames to `port`, and what is encoded there is either sent
 * there or handed back to `send`.
 *
 * @example
 * ```ts
 * const inThread: AudioEncodeOffload | undefined = undefined; // encode on this thread
 * ```
 */
export interface AudioEncodeOffload {
  startAudio(port: MessagePort, options: {
    bitrate: number;
    send(packet: Uint8Array): void;
    onError(error: Error): void;
  }): { stats(): AudioEncodingStats; close(): void };
}

/**
 * Options of an {@linkcode AudioSender}.
 *
 * @example
 * ```ts
 * import type { PacketMux } from "./packet_mux.ts";
 * import type { RtpStream } from "./rtp_stream.ts";
 *
 * function optionsFor(context: AudioContext, track: MediaStreamTrack, stream: RtpStream,
 *   transport: PacketMux) {
 *   const options: AudioSenderOptions = { context, track, stream, transport, bitrate: 24000 };
 *   return options;
 * }
 * ```
 */
export interface AudioSenderOptions {
  /** A running 48 kHz context that has loaded /worklets/capture.js. */
  context: AudioContext;
  /** The microphone track; the sender owns it from now on. */
  track: MediaStreamTrack;
  /** The outgoing RTP stream (Opus payload type, 48 kHz), when encoding on this thread. */
  stream: RtpStream;
  transport: PacketSink;
  /** Opus bitrate, bit/s (default 32 000). */
  bitrate?: number;
  onError?(error: Error): void;
  /** Encode there (the media worker) instead of on this thread. */
  offload?: AudioEncodeOffload;
}

/**
 * Counters of an {@linkcode AudioSender}.
 *
 * @example
 * ```ts
 * function log(sender: AudioSender) {
 *   const { framesEncoded, bitrate } = sender.stats;
 *   console.log(framesEncoded, bitrate);
 * }
 * ```
 */
export interface AudioSenderStats extends AudioEncodingStats {
  /** Input left out on the mixer's advice (`trim`), ms in total. */
  trimmedMs: number;
}

const FRAME_MS = (OPUS_FRAME_SAMPLES * 1000) / OPUS_CLOCK_RATE;

/** Captures one microphone track and has it encoded (here, or where `offload` says). */
export class AudioSender {
  readonly track: MediaStreamTrack;
  readonly #context: AudioContext;
  readonly #source: MediaStreamAudioSourceNode;
  readonly #node: AudioWorkletNode;
  readonly #encoding: { stats(): AudioEncodingStats; close(): void };
  #closed = false;
  #trimmedMs = 0;

  constructor(options: AudioSenderOptions) {
    this.track = options.track;
    this.#context = options.context;
    const onError = options.onError ?? ((e) => console.error("audio sender:", e));
    this.#source = this.#context.createMediaStreamSource(new MediaStream([this.track]));
    this.#node = new AudioWorkletNode(this.#context, "meet-capture", {
      numberOfInputs: 1,
      numberOfOutputs: 0,
      channelCount: 1,
      channelCountMode: "explicit",
      processorOptions: { frameSize: OPUS_FRAME_SAMPLES },
    });
    const bitrate = options.bitrate ?? 32_000;
    const send = (packet: Uint8Array) => {
      if (!this.#closed) options.transport.send(packet);
    };
    const guarded = (err: Error) => {
      if (!this.#closed) onError(err);
    };
    if (options.offload) {
      // The worklet posts its frames straight to the worker: no main-thread hop.
      const channel = new MessageChannel();
      this.#node.port.postMessage({ out: channel.port1 }, [channel.port1]);
      this.#encoding = options.offload.startAudio(channel.port2, {
        bitrate,
        send,
        onError: guarded,
      });
    } else {
      const encoding = new AudioEncoding({ stream: options.stream, send, bitrate, onError });
      this.#node.port.onmessage = (event) => encoding.frame(event.data.samples, event.data.time);
      this.#encoding = encoding;
    }
    this.#source.connect(this.#node);
  }

  /** A snapshot of the counters. */
  get stats(): AudioSenderStats {
    return { ...this.#encoding.stats(), trimmedMs: this.#trimmedMs };
  }

  /**
   * Leaves the next `ms` of microphone input out, once, with a short crossfade: every later
   * frame is complete, sent and mixed that much sooner. For the mixer's `mix_timing` advice.
   *
   * @example
   * ```ts
   * function onMixTiming(sender: AudioSender) {
   *   sender.trim(6.5); // the mixer said our frames wait 6.5 ms more than they need to
   * }
   * ```
   */
  trim(ms: number): void {
    if (this.#closed || !(ms > 0)) return;
    const samples = Math.round(Math.min(ms, FRAME_MS) * OPUS_CLOCK_RATE / 1000);
    this.#node.port.postMessage({ skip: samples });
    this.#trimmedMs += samples * 1000 / OPUS_CLOCK_RATE;
  }

  /** Stops capturing and sending, and stops the track. Idempotent. */
  close(): void {
    this.release().stop();
  }

  /**
   * Stops capturing and sending but leaves the track live, and returns it: to move the
   * microphone to another AudioContext without asking for it again. Idempotent.
   *
   * @example
   * ```ts
   * function moveTo(other: AudioContext, sender: AudioSender, options: AudioSenderOptions) {
   *   const next = new AudioSender({ ...options, context: other, track: sender.release() });
   *   return next;
   * }
   * ```
   */
  release(): MediaStreamTrack {
    if (this.#closed) return this.track;
    this.#closed = true;
    this.#node.port.postMessage("stop");
    this.#node.port.onmessage = null;
    this.#source.disconnect();
    this.#encoding.close();
    return this.track;
  }
}
