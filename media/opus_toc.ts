/**
 * The duration of an Opus packet from its TOC byte (RFC 6716 section 3.1), without decoding
 * it. Pure and free of Deno APIs, so the browser's receivers use it as the server's mixer does.
 *
 * @example
 * ```ts
 * function onAudio(payload: Uint8Array) {
 *   if (opusPacketSamples(payload) !== 960) return; // not a 20 ms packet
 *   // ...decode it
 * }
 * ```
 * @module
 */

/**
 * Samples at 48 kHz that an Opus packet decodes to, from its TOC byte and frame count (RFC
 * 6716 section 3.1), without decoding it; null for a packet that cannot be valid (empty, a
 * code 3 packet without its count byte or with no frames, more than 120 ms). A decode costs
 * in proportion to this: a 120 ms packet costs several 20 ms decodes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(opusPacketSamples(new Uint8Array([0xf8, 0xff, 0xfe])), 960); // CELT 20 ms
 * assert.equal(opusPacketSamples(new Uint8Array([(31 << 3) | 3, 6])), 5760); // 6 x 20 ms
 * ```
 */
export function opusPacketSamples(packet: Uint8Array): number | null {
  if (packet.length === 0) return null;
  const toc = packet[0];
  const config = toc >> 3;
  let frameSamples: number; // per frame at 48 kHz
  if (config < 12) frameSamples = [480, 960, 1920, 2880][config & 3]; // SILK 10/20/40/60 ms
  else if (config < 16) frameSamples = config & 1 ? 960 : 480; // hybrid 10/20 ms
  else frameSamples = [120, 240, 480, 960][config & 3]; // CELT 2.5/5/10/20 ms
  const code = toc & 3;
  let frames: number;
  if (code === 0) frames = 1;
  else if (code !== 3) frames = 2;
  else {
    if (packet.length < 2) return null;
    frames = packet[1] & 0x3f;
    if (frames === 0) return null;
  }
  const samples = frames * frameSamples;
  return samples > 5760 ? null : samples;
}
