/**
 * The microphone's frames to RTP: each 20 ms mono frame from the capture worklet is encoded
 * with an Opus `AudioEncoder` (32 kbit/s, 20 ms, low delay) and sent as one RTP packet that
 * carries the frame's capture time, its level (RFC 6464) and the previous frame again (RED).
 * It runs where the frames arrive: on the page's main thread (`AudioSender` without the
 * media worker) or in the media worker (client/media/media_worker.ts), which the capture
 * worklet then posts to directly.
 *
 * @example
 * ```ts
 * import type { RtpStream } from "./rtp_stream.ts";
 *
 * function encodeTo(stream: RtpStream, send: (packet: Uint8Array) => void, port: MessagePort) {
 *   const encoding = new AudioEncoding({ stream, send });
 *   port.onmessage = (event) => encoding.frame(event.data.samples, event.data.time);
 *   return encoding;
 * }
 * ```
 * @module
 */

import { frameLevel } from "../../media/mix.ts";
import { writeRedPayload } from "../../media/red.ts";
import { OPUS_CLOCK_RATE, OPUS_FRAME_SAMPLES, PT_OPUS, PT_RED } from "../../protocol/media.ts";
import { audioSampleAt, audioTimestampUs, ClockMapper, wallClock } from "./clock.ts";
import type { RtpStream } from "./rtp_stream.ts";
import { RateMeter } from "./stats.ts";

/**
 * Options of an {@linkcode AudioEncoding}.
 *
 * @example
 * ```ts
 * import type { RtpStream } from "./rtp_stream.ts";
 *
 * function optionsFor(stream: RtpStream): AudioEncodingOptions {
 *   return { stream, send: () => {}, bitrate: 24_000 };
 * }
 * ```
 */
export interface AudioEncodingOptions {
  /** The outgoing RTP stream (48 kHz); its numbering and timeline carry on across encodings. */
  stream: RtpStream;
  /** Sends one RTP packet. */
  send(packet: Uint8Array): void;
  /** Opus bitrate, bit/s (default 32 000). */
  bitrate?: number;
  onError?(error: Error): void;
  /**
   * The send time a packet carries, ms (default `performance.now()`): a worker gives the
   * page's clock, so that the server reads one clock from all of the page's packets.
   */
  sendClock?: () => number;
}

/**
 * Counters of an {@linkcode AudioEncoding}.
 *
 * @example
 * ```ts
 * function log(stats: AudioEncodingStats) {
 *   console.log(stats.framesEncoded, stats.encodeMs);
 * }
 * ```
 */
export interface AudioEncodingStats {
  framesCaptured: number;
  framesEncoded: number;
  /** Bits per second sent (last second), headers included. */
  bitrate: number;
  /** Mean time from capture (first sample of a frame) to its packet sent, ms. */
  encodeMs: number;
}

const FRAME_MS = (OPUS_FRAME_SAMPLES * 1000) / OPUS_CLOCK_RATE;

/** Encodes the frames of one microphone session (see the module documentation). */
export class AudioEncoding {
  readonly #stream: RtpStream;
  readonly #sendPacket: (packet: Uint8Array) => void;
  readonly #sendClock: () => number;
  readonly #encoder: AudioEncoder;
  /** The last frame sent, carried again in the next packet. */
  #previous: { payload: Uint8Array; timestamp: number; seq: number } | null = null;
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
  #counters = { framesCaptured: 0, framesEncoded: 0 };

  constructor(options: AudioEncodingOptions) {
    this.#stream = options.stream;
    this.#sendPacket = options.send;
    this.#sendClock = options.sendClock ?? (() => performance.now());
    const onError = options.onError ?? ((e) => console.error("audio encoder:", e));
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
  }

  /** A snapshot of the counters. */
  stats(): AudioEncodingStats {
    return {
      ...this.#counters,
      bitrate: this.#bits.rate(performance.now()),
      encodeMs: this.#encodeMs,
    };
  }

  /** One frame from the worklet; `endTime`: the context's time (s) at its end. */
  frame(samples: Float32Array<ArrayBuffer>, endTime: number): void {
    if (this.#closed || this.#encoder.state !== "configured") return;
    this.#counters.framesCaptured++;
    // The frame's first sample, dated on the context clock: a busy thread that reads the
    // frame late does not make it look fresher.
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

  /** Stops encoding; the stream's timeline starts over with the next encoding. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#encoder.state !== "closed") this.#encoder.close();
    this.#stream.timeline.restart();
    this.#captures.clear();
    this.#levels.clear();
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
      sendMs: this.#sendClock(),
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
    this.#sendPacket(packet);
    this.#counters.framesEncoded++;
    this.#bits.add(packet.length * 8, performance.now());
    this.#encodeMs += (wallClock() - captureMs - this.#encodeMs) / 16;
  }
}
