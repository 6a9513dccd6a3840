/**
 * Test doubles for the page's media modules (as server/_testing.ts is for the server's).
 *
 * @example
 * ```ts
 * withFakeAudioDecoder(() => {
 *   const decoder = new AudioDecoder({ output() {}, error() {} });
 *   decoder.configure({ codec: "opus", sampleRate: 48000, numberOfChannels: 1 });
 * });
 * ```
 * @module
 */

import { writeRedPayload } from "../../media/red.ts";
import { parseRtp, type RtpPacket, writeRtp } from "../../media/rtp.ts";
import { PT_OPUS, PT_RED } from "../../protocol/media.ts";

/**
 * Opus RTP packet `seq` of `ssrc`, parsed: one 20 ms CELT frame, and with `red` the frame
 * before it again (RED, media/red.ts).
 *
 * @example
 * ```ts
 * const packet = opusPacket(3, 10, true);
 * console.log(packet.sequenceNumber); // 10
 * ```
 */
export function opusPacket(ssrc: number, seq: number, red = false): RtpPacket {
  const primary = new Uint8Array([0xf8, 0xff, 0xfe]);
  const parsed = parseRtp(writeRtp({
    payloadType: red ? PT_RED : PT_OPUS,
    sequenceNumber: seq,
    timestamp: seq * 960,
    ssrc,
    payload: red
      ? writeRedPayload(PT_OPUS, primary, { payload: primary, timestampOffset: 960 })
      : primary,
  }));
  if (!parsed.ok) throw new Error(`opusPacket: ${parsed.reason}`);
  return parsed.packet;
}

/**
 * An Opus decoder that records the chunks it is given and, as Chromium's does, outputs 20 ms
 * of samples per chunk stamped from the first chunk's timestamp onwards, ignoring gaps.
 *
 * @example
 * ```ts
 * withFakeAudioDecoder(() => console.log(FakeDecoder.chunks)); // 0
 * ```
 */
export class FakeDecoder {
  /** Chunks decoded since the last {@linkcode withFakeAudioDecoder}. */
  static chunks = 0;
  state = "unconfigured";
  #next: number | null = null;
  constructor(readonly init: { output: (data: unknown) => void }) {}
  configure() {
    this.state = "configured";
  }
  decode(chunk: { init: { timestamp: number } }) {
    FakeDecoder.chunks++;
    const timestamp = this.#next ?? chunk.init.timestamp;
    this.#next = timestamp + 20_000;
    this.init.output({
      timestamp,
      numberOfFrames: 960,
      copyTo(samples: Float32Array) {
        samples.fill(0.5);
      },
      close() {},
    });
  }
  close() {
    this.state = "closed";
  }
}

/**
 * Runs `fn` with {@linkcode FakeDecoder} as the global `AudioDecoder` (and a plain
 * `EncodedAudioChunk`), which Deno does not have; restores them afterwards (after the promise
 * settles, if `fn` returns one).
 *
 * @example
 * ```ts
 * withFakeAudioDecoder(() => {
 *   // code that makes AudioReceivers and decodes
 * });
 * ```
 */
export function withFakeAudioDecoder<T>(fn: () => T): T {
  const g = globalThis as Record<string, unknown>;
  const saved = { decoder: g.AudioDecoder, chunk: g.EncodedAudioChunk };
  g.AudioDecoder = FakeDecoder;
  g.EncodedAudioChunk = class {
    constructor(readonly init: unknown) {}
  };
  FakeDecoder.chunks = 0;
  const restore = () => {
    g.AudioDecoder = saved.decoder;
    g.EncodedAudioChunk = saved.chunk;
  };
  let result: T;
  try {
    result = fn();
  } catch (err) {
    restore();
    throw err;
  }
  // An async `fn` keeps the fakes until it settles.
  if (result instanceof Promise) return result.finally(restore) as T;
  restore();
  return result;
}
