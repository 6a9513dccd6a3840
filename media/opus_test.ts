import assert from "node:assert/strict";
import { seededRandom } from "../util/seeded_random.ts";
import {
  createOpusDecoder,
  createOpusEncoder,
  isOpusBackendAvailable,
  opusBackendInfo,
  type OpusBackendName,
  OpusError,
  opusPacketSamples,
} from "./opus.ts";

const RATE = 48000;
const FRAME = 960;

function tone(frames: number, freq: number, amplitude = 8000, channels = 1): Int16Array[] {
  const out: Int16Array[] = [];
  for (let f = 0; f < frames; f++) {
    const pcm = new Int16Array(FRAME * channels);
    for (let i = 0; i < FRAME; i++) {
      const v = Math.round(amplitude * Math.sin((2 * Math.PI * freq * (f * FRAME + i)) / RATE));
      for (let c = 0; c < channels; c++) pcm[i * channels + c] = v;
    }
    out.push(pcm);
  }
  return out;
}

function concat(parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Signal power at `freq` (Goertzel), normalised by length. */
function goertzel(x: Int16Array, freq: number): number {
  const k = 2 * Math.cos((2 * Math.PI * freq) / RATE);
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < x.length; i++) {
    const s0 = x[i] + k * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return (s1 * s1 + s2 * s2 - k * s1 * s2) / (x.length * x.length);
}

function zeroCrossingHz(x: Int16Array): number {
  let crossings = 0;
  for (let i = 1; i < x.length; i++) {
    if ((x[i - 1] < 0 && x[i] >= 0) || (x[i - 1] >= 0 && x[i] < 0)) crossings++;
  }
  return crossings / 2 / (x.length / RATE);
}

function rms(x: Int16Array): number {
  let sum = 0;
  for (const v of x) sum += v * v;
  return Math.sqrt(sum / x.length);
}

/** Checks that `x` is essentially a 440 Hz tone. */
function assertTone440(x: Int16Array, what: string) {
  const hz = zeroCrossingHz(x);
  assert.ok(Math.abs(hz - 440) < 5, `${what}: zero-crossing frequency ${hz.toFixed(1)} Hz`);
  const at440 = goertzel(x, 440);
  for (const other of [220, 330, 550, 880, 1000, 3000]) {
    const ratio = at440 / Math.max(1e-9, goertzel(x, other));
    assert.ok(ratio > 100, `${what}: 440 Hz only ${ratio.toFixed(1)}x the power at ${other} Hz`);
  }
}

const backends: OpusBackendName[] = ["wasm", "ffi"];

for (const backend of backends) {
  // The ffi backend needs --allow-ffi and Debian's libopus0; it is reported as
  // ignored where either is missing.
  const ignore = !isOpusBackendAvailable(backend);
  const test = (name: string, fn: () => void) =>
    Deno.test({ name: `opus ${backend}: ${name}`, ignore, fn });

  test("a 440 Hz tone survives encode + decode", () => {
    const enc = createOpusEncoder({ backend, bitrate: 32000, application: "voip" });
    const dec = createOpusDecoder({ backend });
    assert.equal(enc.backend, backend);
    assert.equal(dec.backend, backend);
    const out: Int16Array[] = [];
    for (const frame of tone(50, 440)) {
      const packet = enc.encode(frame);
      assert.ok(packet.length > 0 && packet.length < 400, `packet of ${packet.length} bytes`);
      const pcm = dec.decode(packet);
      assert.ok(pcm instanceof Int16Array);
      assert.equal(pcm.length, FRAME);
      out.push(pcm);
    }
    const decoded = concat(out.slice(5)); // skip the codec's start-up
    assertTone440(decoded, "decoded");
    const level = rms(decoded) / (8000 / Math.SQRT2);
    assert.ok(level > 0.7 && level < 1.3, `level ${level.toFixed(2)} of the input`);
    assert.equal(dec.errors, 0);
    enc.close();
    dec.close();
  });

  test("decodeView gives decode's samples without a copy, overwritten by the next decode", () => {
    const enc = createOpusEncoder({ backend, bitrate: 32000 });
    const copying = createOpusDecoder({ backend });
    const viewing = createOpusDecoder({ backend });
    const packets = tone(20, 440).map((f) => enc.encode(f));
    for (const packet of packets) {
      assert.deepEqual(viewing.decodeView(packet), copying.decode(packet));
    }
    assert.deepEqual(viewing.decodeView(null), copying.decode(null)); // concealment too
    const view = viewing.decodeView(packets[5]);
    const kept = view.slice();
    viewing.decodeView(null);
    assert.notDeepEqual(view, kept, "the view is the shared output buffer");
    enc.close();
    copying.close();
    viewing.close();
  });

  test("null packet: concealment gives one 20 ms frame that continues the tone", () => {
    const enc = createOpusEncoder({ backend, bitrate: 32000 });
    const dec = createOpusDecoder({ backend });
    for (const frame of tone(25, 440)) dec.decode(enc.encode(frame));
    const lost = dec.decode(null);
    assert.equal(lost.length, FRAME);
    assert.ok(rms(lost) > 500, `concealed frame is near silent (rms ${rms(lost).toFixed(0)})`);
    assert.ok(goertzel(lost, 440) > 20 * goertzel(lost, 1000), "concealment lost the tone");
    // Many losses in a row fade out and never throw; an empty packet is a loss too.
    for (let i = 0; i < 50; i++) assert.equal(dec.decode(null).length, FRAME);
    assert.equal(dec.decode(new Uint8Array(0)).length, FRAME);
    assert.equal(dec.errors, 0, "a loss is not an error");
    // Decoding resumes normally after the gap.
    const after = concat(tone(30, 440).map((f) => dec.decode(enc.encode(f))).slice(5));
    assertTone440(after, "after loss");
    // A fresh decoder with no history conceals with silence.
    const fresh = createOpusDecoder({ backend });
    assert.equal(fresh.decode(null).length, FRAME);
    enc.close();
    dec.close();
    fresh.close();
  });

  test("custom plcFrameSize", () => {
    const dec = createOpusDecoder({ backend, plcFrameSize: 480 });
    assert.equal(dec.decode(null).length, 480);
    dec.close();
    assert.throws(() => createOpusDecoder({ backend, plcFrameSize: 100 }), RangeError);
  });

  test("garbage packets never throw; they are concealed and counted", () => {
    const enc = createOpusEncoder({ backend, bitrate: 32000 });
    const dec = createOpusDecoder({ backend });
    const frames = tone(20, 440);
    for (const f of frames.slice(0, 10)) dec.decode(enc.encode(f));
    const random = seededRandom(7);
    const garbage: Uint8Array[] = [
      new Uint8Array([0xff]), // code 3 TOC without a frame count
      new Uint8Array([0xff, 0xff, 0xff, 0xff, 1, 2, 3]),
      new Uint8Array([0x03, 0x00]), // code 3, zero frames
      new Uint8Array([0xfb, 0xff, 0xff, 0xff]), // lengths that run past the end
      new Uint8Array(1500).fill(0xff),
      new Uint8Array(9000), // over OPUS_MAX_PACKET_BYTES
    ];
    for (let i = 0; i < 2000; i++) {
      const bytes = new Uint8Array(1 + Math.floor(random() * 1500));
      for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(random() * 256);
      garbage.push(bytes);
    }
    for (const packet of garbage) {
      const pcm = dec.decode(packet);
      assert.ok(pcm instanceof Int16Array);
      assert.ok(pcm.length > 0 && pcm.length <= 5760, `output of ${pcm.length} samples`);
    }
    // Wrong types from a careless caller are concealed too, not thrown.
    assert.equal(dec.decode(new Uint16Array(4) as unknown as Uint8Array).length, FRAME);
    assert.ok(dec.errors > 0, "no garbage packet was reported");
    assert.match(dec.lastError ?? "", /./);
    // The decoder still works afterwards.
    const after = concat(tone(30, 440).map((f) => dec.decode(enc.encode(f))).slice(5));
    assertTone440(after, "after garbage");
    enc.close();
    dec.close();
  });

  test("bitrate, complexity, FEC and DTX options; setBitrate", () => {
    const input = tone(50, 440);
    const avgBytes = (bitrate: number) => {
      const enc = createOpusEncoder({ backend, bitrate, complexity: 5 });
      const total = input.reduce((n, f) => n + enc.encode(f).length, 0);
      enc.close();
      return total / input.length;
    };
    const low = avgBytes(8000);
    const high = avgBytes(64000);
    assert.ok(low < 40, `8 kb/s gave ${low.toFixed(0)} B per 20 ms`);
    assert.ok(high > 100, `64 kb/s gave ${high.toFixed(0)} B per 20 ms`);

    const enc = createOpusEncoder({
      backend,
      bitrate: 24000,
      inbandFec: true,
      packetLossPercent: 20,
      dtx: true,
    });
    const dec = createOpusDecoder({ backend });
    const packets = input.map((f) => enc.encode(f));
    for (const p of packets.slice(0, 20)) dec.decode(p);
    // Packet 20 is lost: recover it from the FEC data in packet 21.
    const recovered = dec.decode(packets[21], true);
    assert.equal(recovered.length, FRAME);
    assert.equal(dec.decode(packets[21]).length, FRAME);
    enc.setBitrate(48000);
    assert.throws(() => enc.setBitrate(10), RangeError);
    assert.throws(() => createOpusEncoder({ backend, complexity: 11 }), OpusError);
    enc.close();
    dec.close();
  });

  test("stereo and other sample rates round-trip", () => {
    const enc = createOpusEncoder({ backend, channels: 2, application: "audio", bitrate: 64000 });
    const dec = createOpusDecoder({ backend, channels: 2 });
    const out = tone(30, 440, 8000, 2).map((f) => dec.decode(enc.encode(f)));
    for (const pcm of out) assert.equal(pcm.length, FRAME * 2);
    const left = concat(out.slice(5)).filter((_, i) => i % 2 === 0);
    assertTone440(left, "stereo left");
    enc.close();
    dec.close();

    const enc16 = createOpusEncoder({ backend, sampleRate: 16000 });
    const dec16 = createOpusDecoder({ backend, sampleRate: 16000 });
    assert.equal(dec16.decode(enc16.encode(new Int16Array(320))).length, 320);
    assert.equal(dec16.decode(null).length, 320);
    enc16.close();
    dec16.close();
  });

  test("programmer errors throw clearly; close is idempotent", () => {
    const enc = createOpusEncoder({ backend });
    assert.throws(() => enc.encode(new Int16Array(1000)), /not a valid frame/);
    assert.throws(
      () => enc.encode(new Uint8Array(1920) as unknown as Int16Array),
      TypeError,
    );
    assert.ok(enc.encode(new Int16Array(480)).length > 0, "10 ms frames are fine");
    enc.close();
    enc.close();
    assert.throws(() => enc.encode(new Int16Array(FRAME)), /closed/);
    const dec = createOpusDecoder({ backend });
    dec.close();
    dec.close();
    assert.throws(() => dec.decode(null), /closed/);
    assert.throws(
      () => createOpusEncoder({ backend, sampleRate: 44100 as 48000 }),
      RangeError,
    );
    assert.throws(() => createOpusDecoder({ backend, channels: 3 as 2 }), RangeError);
    assert.throws(() => createOpusEncoder({ backend, bitrate: 1e9 }), RangeError);
  });

  test("many codecs keep working (1000 decoders outgrow the 16 MB initial wasm memory)", () => {
    const enc = createOpusEncoder({ backend });
    const first = createOpusDecoder({ backend });
    const packet = enc.encode(tone(1, 440)[0]);
    const many = Array.from({ length: 1000 }, () => createOpusDecoder({ backend }));
    const encoders = Array.from({ length: 50 }, () => createOpusEncoder({ backend }));
    assert.equal(first.decode(packet).length, FRAME);
    assert.equal(many[999].decode(packet).length, FRAME);
    assert.ok(encoders[49].encode(tone(1, 440)[0]).length > 0);
    assert.ok(enc.encode(tone(1, 440)[0]).length > 0);
    for (const c of [enc, first, ...many, ...encoders]) c.close();
  });
}

Deno.test({
  name: "opus: ffi and wasm streams are interchangeable",
  ignore: !isOpusBackendAvailable("ffi"),
  fn() {
    for (const [from, to] of [["ffi", "wasm"], ["wasm", "ffi"]] as const) {
      const enc = createOpusEncoder({ backend: from, bitrate: 32000 });
      const dec = createOpusDecoder({ backend: to });
      const out = tone(30, 440).map((f) => dec.decode(enc.encode(f)));
      assertTone440(concat(out.slice(5)), `${from} -> ${to}`);
      enc.close();
      dec.close();
    }
  },
});

Deno.test("opus: the default backend is libopus where it loads, else wasm, unless MEET_OPUS_BACKEND says", () => {
  const info = opusBackendInfo();
  const canRead =
    Deno.permissions.querySync({ name: "env", variable: "MEET_OPUS_BACKEND" }).state ===
      "granted";
  const env = canRead ? Deno.env.get("MEET_OPUS_BACKEND") : undefined;
  const expected = env === "ffi" || env === "wasm"
    ? env
    : isOpusBackendAvailable("ffi")
    ? "ffi"
    : "wasm";
  assert.equal(info.name, expected);
  assert.match(info.reason, env ? /MEET_OPUS_BACKEND/ : /^automatic: /);
  assert.equal(createOpusDecoder().backend, info.name);
});

Deno.test("opusPacketSamples: duration from the TOC byte and frame count", () => {
  assert.equal(opusPacketSamples(new Uint8Array([])), null);
  assert.equal(opusPacketSamples(new Uint8Array([31 << 3])), 960); // CELT 20 ms
  assert.equal(opusPacketSamples(new Uint8Array([(22 << 3) | 1, 0])), 960); // 2 x CELT 10 ms
  assert.equal(opusPacketSamples(new Uint8Array([15 << 3])), 960); // hybrid 20 ms
  assert.equal(opusPacketSamples(new Uint8Array([3 << 3])), 2880); // SILK 60 ms
  assert.equal(opusPacketSamples(new Uint8Array([(3 << 3) | 2, 0])), 5760); // 2 x 60 ms
  assert.equal(opusPacketSamples(new Uint8Array([(16 << 3) | 3, 48])), 5760); // 48 x 2.5 ms
  assert.equal(opusPacketSamples(new Uint8Array([(31 << 3) | 3])), null); // no count byte
  assert.equal(opusPacketSamples(new Uint8Array([(31 << 3) | 3, 0])), null); // no frames
  assert.equal(opusPacketSamples(new Uint8Array([(31 << 3) | 3, 7])), null); // 140 ms
  // Agrees with libopus on what the encoder makes.
  const encoder = createOpusEncoder();
  const decoder = createOpusDecoder();
  const packet = encoder.encode(new Int16Array(960));
  assert.equal(opusPacketSamples(packet), decoder.decode(packet).length);
  encoder.close();
  decoder.close();
});
