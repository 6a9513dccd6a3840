/**
 * Times the mixer's Opus calls for `/metrics`: the codecs the meetings get are wrapped, and
 * one call in `sampleEvery`, at random, is timed and handed to `onTime` (timing every
 * call would cost two clock reads per call, tens of thousands a second on a busy server).
 * Without a listener nothing is timed.
 *
 * @example
 * ```ts
 * import { serverOpusCodecs } from "./server.ts";
 *
 * const timing = new CodecTiming(8);
 * const codecs = timing.wrap(serverOpusCodecs); // give these to the hub
 * timing.onTime = (kind, seconds) => console.log(kind, seconds);
 * ```
 * @module
 */

import type { OpusDecoder, OpusEncoder } from "../media/opus.ts";
import type { OpusCodecs } from "./media_room.ts";

/** Samples the time of the codec calls of the codecs it wraps. */
export class CodecTiming {
  /** Called with each sampled call's time. */
  onTime: ((kind: "encode" | "decode", seconds: number) => void) | undefined;
  readonly sampleEvery: number;

  /** @param sampleEvery one call in this many, on average, is timed (default 8) */
  constructor(sampleEvery = 8) {
    this.sampleEvery = Math.max(1, Math.floor(sampleEvery));
  }

  /** `codecs` whose encoders and decoders report their sampled call times here. */
  wrap(codecs: OpusCodecs): OpusCodecs {
    return {
      createEncoder: () => this.#encoder(codecs.createEncoder()),
      createDecoder: () => this.#decoder(codecs.createDecoder()),
    };
  }

  #time<T>(kind: "encode" | "decode", call: () => T): T {
    const onTime = this.onTime;
    // At random, not every nth call: a tick's calls come in a fixed order, and every nth
    // would time the same kind of call, of the same stream, each time.
    if (!onTime || Math.random() * this.sampleEvery >= 1) return call();
    const start = performance.now();
    const result = call();
    onTime(kind, (performance.now() - start) / 1000);
    return result;
  }

  #encoder(inner: OpusEncoder): OpusEncoder {
    return {
      backend: inner.backend,
      sampleRate: inner.sampleRate,
      channels: inner.channels,
      encode: (pcm) => this.#time("encode", () => inner.encode(pcm)),
      setBitrate: (bits) => inner.setBitrate(bits),
      close: () => inner.close(),
    };
  }

  #decoder(inner: OpusDecoder): OpusDecoder {
    return {
      backend: inner.backend,
      sampleRate: inner.sampleRate,
      channels: inner.channels,
      decode: (packet, fec) => this.#time("decode", () => inner.decode(packet, fec)),
      decodeView: (packet) => this.#time("decode", () => inner.decodeView(packet)),
      get errors() {
        return inner.errors;
      },
      get lastError() {
        return inner.lastError;
      },
      close: () => inner.close(),
    };
  }
}
