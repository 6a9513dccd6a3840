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
