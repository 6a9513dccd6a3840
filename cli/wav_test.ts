import assert from "node:assert/strict";
import { encodeWav, parseWav, toMono48k, WAV_RATE_RANGE, WavError } from "./wav.ts";

Deno.test("parseWav: a declared rate outside 8-384 kHz is refused (resampling would explode)", () => {
  const samples = new Int16Array(10_000);
  for (const rate of [1, 100, WAV_RATE_RANGE.min - 1, WAV_RATE_RANGE.max + 1, 0xffffffff]) {
    // 20 KB that would resample to rate 1 Hz: 480 million samples, almost a gigabyte.
    assert.throws(() => toMono48k(parseWav(encodeWav(samples, rate))), WavError, `${rate} Hz`);
  }
  for (const rate of [8_000, 44_100, 48_000, 96_000]) {
    const audio = parseWav(encodeWav(samples, rate));
    assert.equal(toMono48k(audio).length, Math.round(10_000 * 48_000 / rate));
  }
});
