/**
 * Sends a microphone: the track feeds the "meet-capture" AudioWorklet (static/worklets/
 * capture.js) on the session's 48 kHz AudioContext, which posts 20 ms mono frames; each is
 * encoded with an Opus `AudioEncoder` (32 kbit/s, 20 ms) and sent as one RTP packet carrying
 * the capture time. Nothing is sent once closed (mic off).
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

import { frameLevel } from "../../media/mix.ts";
import { writeRedPayload } from "../../media/red.ts";
import { PT_OPUS, PT_RED } from "../../protocol/media.ts";
import { OPUS_CLOCK_RATE, OPUS_FRAME_SAMPLES } from "../../protocol/media.ts";
import { audioSampleAt, audioTimestampUs, ClockMapper, wallClock } from "./clock.ts";
import type { RtpStream } from "./rtp_stream.ts";
import { RateMeter } from "./stats.ts";
import type { PacketSink } from "./video_sender.ts";

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
  /** The outgoing RTP stream (Opus payload type, 48 kHz). */
  stream: RtpStream;
  transport: PacketSink;
  /** Opus bitrate, bit/s (default 32 000). */
  bitrate?: number;
  onError?(error: Error): void;
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
export interface AudioSenderStats {
  framesCaptured: number;
  framesEncoded: number;
  /** Bits per second sent (last second), headers included. */
  bitrate: number;
  /** Mean time from capture (first sample of a frame) to its packet sent, ms. */
  encodeMs: number;
  /** Input left out on the mixer's advice (`trim`), ms in total. */
  trimmedMs: number;
}

const FRAME_MS = (OPUS_FRAME_SAMPLES * 1000) / OPUS_CLOCK_RATE;

/** Encodes one microphone track to Opus RTP. */
export class AudioSender {
  readonly track: MediaStreamTrack;
  readonly #context: AudioContext;
  readonly #stream: RtpStream;
  /** The last frame sent, carried again in the next packet. */
  #previous: { payload: Uint8Array; timestamp: number; seq: number } | null = null;
  readonly #transport: PacketSink;
  readonly #source: MediaStreamAudioSourceNode;
  readonly #node: AudioWorkletNode;
  readonly #encoder: AudioEncoder;
  /**
   * Capture times by the frame's first sample (count since the start), until encoded: the
   * encoder's output is matched by sample, not by exact timestamp (see `audioSampleAt`).
   */
  #captures = new Map<number, number>();
  /** Each frame's level (dBFS) by its first sample, until it is sent. */
  #levels = new Map<number, number>();
  /** The context's clock to the wall clock. */
  #contextClock = new ClockMapper();
  #samples = 0;
  #bits = new RateMeter(1000);
  #encodeMs = 0;
  #closed = false;
  #counters = { framesCaptured: 0, framesEncoded: 0, trimmedMs: 0 };

  constructor(options: AudioSenderOptions) {
    this.track = options.track;
    this.#context = options.context;
    this.#stream = options.stream;
    this.#transport = options.transport;
    const onError = options.onError ?? ((e) => console.error("audio sender:", e));
    this.#encoder = new AudioEncoder({
      output: (chunk) => this.#send(chunk),
      error: (err) => {
        if (!this.#closed) onError(err);
      },
    });
    this.#encoder.configure({
      codec: "opus",
      sampleRate: OPUS_CLOCK_RATE,
      numberOfChannels: 1,
      bitrate: options.bitrate ?? 32_000,
      // "lowdelay": 2.5 ms of codec look-ahead instead of 6.5 ms (measured in Chromium). At
      // 32 kb/s mono Opus codes CELT only either way; the mixer encodes the same way.
      opus: { frameDuration: FRAME_MS * 1000, application: "lowdelay" },
    } as AudioEncoderConfig);
    this.#source = this.#context.createMediaStreamSource(new MediaStream([this.track]));
    this.#node = new AudioWorkletNode(this.#context, "meet-capture", {
      numberOfInputs: 1,
      numberOfOutputs: 0,
      channelCount: 1,
      channelCountMode: "explicit",
      processorOptions: { frameSize: OPUS_FRAME_SAMPLES },
    });
    this.#node.port.onmessage = (event) => this.#frame(event.data.samples, event.data.time);
    this.#source.connect(this.#node);
  }

  /** A snapshot of the counters. */
  get stats(): AudioSenderStats {
    return {
      ...this.#counters,
      bitrate: this.#bits.rate(performance.now()),
      encodeMs: this.#encodeMs,
    };
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
    this.#counters.trimmedMs += samples * 1000 / OPUS_CLOCK_RATE;
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
    if (this.#encoder.state !== "closed") this.#encoder.close();
    this.#stream.timeline.restart();
    this.#captures.clear();
    return this.track;
  }

  /** One frame from the worklet; `endTime`: context time (s) at its end. */
  #frame(samples: Float32Array<ArrayBuffer>, endTime: number): void {
    if (this.#closed || this.#encoder.state !== "configured") return;
    this.#counters.framesCaptured++;
    // The frame's first sample, dated on the context clock: a busy main thread that reads
    // the frame late does not make it look fresher.
    const endMs = this.#contextClock.toWallClock(endTime * 1000);
    const captureMs = endMs - (samples.length * 1000) / OPUS_CLOCK_RATE;
    const timestamp = audioTimestampUs(this.#samples);
    this.#captures.set(this.#samples, captureMs);
    // Its level goes with it (RFC 6464): the mixer decodes only the streams it may mix.
    this.#levels.set(this.#samples, frameLevel(samples));
    this.#samples += samples.length;
    if (this.#captures.size > 50) this.#captures.delete(this.#captures.keys().next().value!);
    if (this.#levels.size > 50) this.#levels.delete(this.#levels.keys().next().value!);
    const data = new AudioData({
      format: "f32-planar",
      sampleRate: OPUS_CLOCK_RATE,
      numberOfFrames: samples.length,
      numberOfChannels: 1,
      timestamp,
      data: samples,
    });
    try {
      this.#encoder.encode(data);
    } finally {
      data.close();
    }
  }

  #send(chunk: EncodedAudioChunk): void {
    if (this.#closed) return;
    const sample = audioSampleAt(chunk.timestamp);
    const captureMs = this.#captures.get(sample) ?? wallClock() - FRAME_MS;
    this.#captures.delete(sample);
    const audioLevel = this.#levels.get(sample);
    this.#levels.delete(sample);
    const payload = new Uint8Array(chunk.byteLength);
    chunk.copyTo(payload);
    const duration = chunk.duration ? audioSampleAt(chunk.duration) : OPUS_FRAME_SAMPLES;
    const timestamp = this.#stream.timeline.contiguous(duration, captureMs);
    // Each packet carries the previous frame again (RED): one lost packet on the way to the
    // server (or, in P2P, the peer) costs nothing when the next one arrives.
    const previous = this.#previous;
    const seq = this.#stream.nextSequenceNumber;
    const packet = this.#stream.packet({
      timestamp,
      sendMs: performance.now(),
      payloadType: PT_RED,
      payload: writeRedPayload(
        PT_OPUS,
        payload,
        previous && previous.seq === ((seq - 1) & 0xffff)
          ? { payload: previous.payload, timestampOffset: (timestamp - previous.timestamp) >>> 0 }
          : undefined,
      ),
      captureMs,
      audioLevel,
    });
    this.#previous = { payload, timestamp, seq };
    this.#transport.send(packet);
    this.#counters.framesEncoded++;
    this.#bits.add(packet.length * 8, performance.now());
    this.#encodeMs += (wallClock() - captureMs - this.#encodeMs) / 16;
  }
}
