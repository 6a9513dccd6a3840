import assert from "node:assert/strict";
import {
  captureTimeExtension,
  OPUS_FRAME_SAMPLES,
  PT_OPUS,
  readCaptureTime,
} from "../protocol/media.ts";
import { goertzelPower } from "./mix.ts";
import { Mixer, type MixerOptions } from "./mixer.ts";
import { createOpusDecoder, createOpusEncoder } from "./opus.ts";
import { parseRtp, type RtpPacket, writeRtp } from "./rtp.ts";

const RATE = 48_000;

/** Tone source: 20 ms Opus frames of a sine, as RTP packets. */
function toneSender(freq: number, amplitude: number, ssrc: number) {
  const encoder = createOpusEncoder({ bitrate: 48_000 });
  let n = 0;
  let seq = 100;
  return {
    next(captureMs: number): RtpPacket {
      const pcm = new Int16Array(OPUS_FRAME_SAMPLES);
      for (let i = 0; i < pcm.length; i++, n++) {
        pcm[i] = Math.round(amplitude * 32767 * Math.sin((2 * Math.PI * freq * n) / RATE));
      }
      const bytes = writeRtp({
        payloadType: PT_OPUS,
        sequenceNumber: seq++,
        timestamp: seq * OPUS_FRAME_SAMPLES,
        ssrc,
        extension: captureTimeExtension(captureMs),
        payload: encoder.encode(pcm),
      });
      const parsed = parseRtp(bytes);
      assert.ok(parsed.ok);
      return parsed.packet;
    },
    close: () => encoder.close(),
  };
}

/** Listener: decodes what it receives and keeps the PCM. */
function listener() {
  const decoder = createOpusDecoder();
  const samples: number[] = [];
  const packets: RtpPacket[] = [];
  return {
    sink: (bytes: Uint8Array) => {
      const parsed = parseRtp(bytes);
      assert.ok(parsed.ok);
      packets.push(parsed.packet);
      for (const s of decoder.decode(parsed.packet.payload)) samples.push(s / 32768);
    },
    samples,
    packets,
    /** Power of `freq` over the last `ms` of audio. */
    power(freq: number, ms = 400) {
      const tail = Float32Array.from(samples.slice(-Math.round((RATE * ms) / 1000)));
      return goertzelPower(tail, RATE, freq);
    },
    close: () => decoder.close(),
  };
}

function mixer(maxSpeakers = 3, onEarly?: MixerOptions["onEarly"]) {
  return new Mixer({
    mixSsrc: 0x5eed,
    maxSpeakers,
    createEncoder: () => createOpusEncoder({ bitrate: 48_000 }),
    createDecoder: () => createOpusDecoder(),
    onEarly,
  });
}

Deno.test("mixer: each listener hears the other speakers' tones and not its own", () => {
  const m = mixer();
  const freqs = { ann: 440, bob: 660, cy: 1000 } as const;
  const senders = Object.fromEntries(
    Object.entries(freqs).map(([id, f], i) => [id, toneSender(f, 0.3, i + 1)]),
  );
  const ears = Object.fromEntries(Object.keys(freqs).map((id) => [id, listener()]));
  for (const id of Object.keys(freqs)) m.addParticipant(id, ears[id].sink);
  for (let t = 0; t < 100; t++) {
    const now = t * 20;
    for (const id of Object.keys(freqs)) m.push(id, senders[id].next(1000 + now), now);
    m.tick(now);
  }
  for (const [id, ear] of Object.entries(ears)) {
    assert.ok(ear.packets.length >= 90, `${id} got ${ear.packets.length} packets`);
    assert.ok(ear.packets.every((p) => p.ssrc === 0x5eed && p.payloadType === PT_OPUS));
    for (const [other, f] of Object.entries(freqs)) {
      const power = ear.power(f);
      if (other === id) assert.ok(power < 0.001, `${id} hears own ${f} Hz: ${power}`);
      else assert.ok(power > 0.01, `${id} misses ${other}'s ${f} Hz: ${power}`);
    }
    // Sequence numbers run on without gaps.
    const seqs = ear.packets.map((p) => p.sequenceNumber);
    for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], (seqs[i - 1] + 1) & 0xffff);
    // The mix carries a capture time of the frames mixed.
    assert.ok(ear.packets.slice(-10).every((p) => readCaptureTime(p.extension)! >= 1000));
  }
  assert.ok(m.stats.encodes <= m.stats.ticks * 4, "at most one encode per speaker plus one");
  m.close();
  for (const x of [...Object.values(senders), ...Object.values(ears)]) x.close();
});

Deno.test("mixer: a mix is dated by the oldest frame in it, a speaker's own frame excluded", () => {
  const m = mixer();
  const senders = { ann: toneSender(440, 0.3, 1), bob: toneSender(660, 0.3, 2) };
  const ears = { ann: listener(), bob: listener(), cy: listener() };
  for (const [id, ear] of Object.entries(ears)) m.addParticipant(id, ear.sink);
  for (let t = 0; t < 20; t++) {
    const now = t * 20;
    m.push("ann", senders.ann.next(5000 + now - 30), now); // Ann's frames are 30 ms older
    m.push("bob", senders.bob.next(5000 + now), now);
    m.tick(now);
  }
  const lastCapture = (id: keyof typeof ears) =>
    readCaptureTime(ears[id].packets.at(-1)!.extension)! - 5000;
  const tick = 19 * 20;
  // Bob's frame of this tick was mixed for Ann (the buffer holds one frame): 20 ms earlier.
  const mixed = lastCapture("ann");
  assert.ok(mixed >= tick - 40 && mixed <= tick, `Ann's mix dated ${mixed}`);
  assert.equal(lastCapture("bob"), mixed - 30, "Bob hears Ann's older frame");
  assert.equal(lastCapture("cy"), mixed - 30, "Cy hears both: the oldest is Ann's");
  m.close();
  for (const x of [...Object.values(senders), ...Object.values(ears)]) x.close();
});

Deno.test("mixer: listeners who are not speaking share one encoded mix", () => {
  const m = mixer(2);
  const ann = toneSender(440, 0.3, 1);
  const bob = toneSender(880, 0.3, 2);
  const ears = Array.from({ length: 6 }, () => listener());
  ["ann", "bob", "l3", "l4", "l5", "l6"].forEach((id, i) => m.addParticipant(id, ears[i].sink));
  for (let t = 0; t < 60; t++) {
    m.push("ann", ann.next(t * 20), t * 20);
    m.push("bob", bob.next(t * 20), t * 20);
    m.tick(t * 20);
  }
  const ticksWithAudio = m.stats.ticks - 1; // the jitter buffer fills for a frame
  assert.ok(m.stats.encodes <= ticksWithAudio * 3 + 6, `encodes ${m.stats.encodes}`);
  for (const ear of ears.slice(2)) {
    assert.ok(ear.power(440) > 0.01 && ear.power(880) > 0.01, "silent listeners hear both");
  }
  assert.ok(ears[0].power(440) < 0.001 && ears[0].power(880) > 0.01);
  // Same payload bytes for the sharing listeners.
  const last = ears.slice(2).map((e) => e.packets.at(-1)!.payload.join());
  assert.equal(new Set(last).size, 1);
  m.close();
  [ann, bob, ...ears].forEach((x) => x.close());
});

Deno.test("mixer: full-scale speakers are limited, never wrap around", () => {
  const m = mixer(3);
  const senders = [300, 300, 300].map((f, i) => toneSender(f, 1.0, i + 1));
  const ear = listener();
  ["a", "b", "c"].forEach((id) => m.addParticipant(id, () => {}));
  m.addParticipant("ear", ear.sink);
  for (let t = 0; t < 50; t++) {
    ["a", "b", "c"].forEach((id, i) => m.push(id, senders[i].next(t * 20), t * 20));
    m.tick(t * 20);
  }
  // Three in-phase full-scale tones sum to 3x: the limited mix must stay a 300 Hz tone
  // near full scale, not wrapped noise (wrap-around would spray energy across the spectrum).
  const tail = Float32Array.from(ear.samples.slice(-9600));
  const tone = goertzelPower(tail, RATE, 300);
  const noise = goertzelPower(tail, RATE, 5000) + goertzelPower(tail, RATE, 9000);
  assert.ok(tone > 0.3, `tone power ${tone}`);
  assert.ok(noise < tone / 100, `noise ${noise} vs tone ${tone}`);
  assert.ok(tail.every((s) => s >= -1 && s <= 1));
  m.close();
  [...senders, ear].forEach((x) => x.close());
});

Deno.test("mixer: a lone participant gets nothing; a speaker who stops fades out of the mix", () => {
  const m = mixer();
  const ann = toneSender(440, 0.3, 1);
  const annEar = listener();
  const bobEar = listener();
  m.addParticipant("ann", annEar.sink);
  for (let t = 0; t < 10; t++) {
    m.push("ann", ann.next(t * 20), t * 20);
    m.tick(t * 20);
  }
  assert.equal(annEar.packets.length, 0);
  m.addParticipant("bob", bobEar.sink);
  for (let t = 10; t < 60; t++) {
    m.push("ann", ann.next(t * 20), t * 20);
    m.tick(t * 20);
  }
  assert.ok(bobEar.power(440) > 0.01);
  const before = bobEar.packets.length;
  for (let t = 60; t < 110; t++) m.tick(t * 20); // Ann's mic goes off
  // The jitter buffer plays out, Opus conceals a few frames, one frame of silence ends the
  // stream, then nothing more is sent.
  const afterMute = bobEar.packets.length - before;
  assert.ok(afterMute >= 2 && afterMute <= 10, `${afterMute} packets after the mute`);
  const fade = Float32Array.from(bobEar.samples.slice(-960));
  const last = goertzelPower(fade, RATE, 440);
  assert.ok(last < 0.005, `the last frame still carries the tone: ${last}`);
  m.removeParticipant("ann");
  assert.equal(m.size, 1);
  m.close();
  [ann, annEar, bobEar].forEach((x) => x.close());
});

Deno.test("mixer: a voice's frame lost on the way is concealed and counted, once", () => {
  const m = mixer();
  const ann = toneSender(440, 0.3, 1);
  const annEar = listener();
  const bobEar = listener();
  m.addParticipant("ann", annEar.sink);
  m.addParticipant("bob", bobEar.sink);
  // Each frame comes 10 ms before its tick, with margin to spare: a miss is a one-off, given up
  // rather than waited for (one concealed frame, no delay added).
  for (let t = 0; t < 50; t++) {
    const packet = ann.next(t * 20);
    if (t !== 30) m.push("ann", packet, t * 20); // frame 30 never arrives
    m.tick(t * 20 + 10);
  }
  assert.equal(m.stats.concealed, 1);
  assert.equal(bobEar.packets.length, 50, "one mix a tick");
  assert.ok(bobEar.power(440) > 0.01, "Bob hears Ann through the loss");
  m.close();
  [ann, annEar, bobEar].forEach((x) => x.close());
});

Deno.test("mixer: a sender whose frames keep arriving early is told by how much, once; after a trim, no more", () => {
  const advice: [string, number, number][] = [];
  let now = 0;
  const m = mixer(3, (id, earlyMs) => advice.push([id, earlyMs, now]));
  const senders = { ann: toneSender(440, 0.3, 1), bob: toneSender(660, 0.3, 2) };
  const ears = { ann: listener(), bob: listener() };
  for (const [id, ear] of Object.entries(ears)) m.addParticipant(id, ear.sink);
  // Ann's frames arrive 15 ms before the tick that mixes them (11 ms more than the 4 ms
  // guard); Bob's 3 ms before, as late as they can be. After the advice Ann sends later.
  let annLead = 15;
  for (let t = 0; t < 600; t++, now += 20) {
    m.push("ann", senders.ann.next(now), now - annLead);
    m.push("bob", senders.bob.next(now), now - 3);
    m.tick(now);
    const last = advice.at(-1);
    if (last?.[0] === "ann" && last[2] === now) annLead -= last[1];
  }
  assert.equal(advice.length, 1, `advice: ${JSON.stringify(advice)}`);
  const [[id, earlyMs, at]] = advice;
  assert.equal(id, "ann");
  assert.equal(earlyMs, 10, "11 ms early, less a 1 ms margin");
  assert.ok(at >= 1900 && at <= 3000, `after 4 windows of 25 ticks: at ${at} ms`);
  assert.equal(m.stats.late, 0, "the trimmed sender's frames still make their tick");
  m.close();
  for (const x of [...Object.values(senders), ...Object.values(ears)]) x.close();
});

Deno.test("mixer: a sender that ignores the advice hears it again at most every 5 s", () => {
  const at: number[] = [];
  let now = 0;
  const m = mixer(3, () => at.push(now));
  const ann = toneSender(440, 0.3, 1);
  const ear = listener();
  m.addParticipant("ann", () => {});
  m.addParticipant("bob", ear.sink);
  for (let t = 0; t < 750; t++, now += 20) { // 15 s
    m.push("ann", ann.next(now), now - 15);
    m.tick(now);
  }
  assert.equal(at.length, 3, `advised at ${at}`);
  assert.ok(at[1] - at[0] >= 5000 && at[2] - at[1] >= 5000, `advised at ${at}`);
  m.close();
  ann.close();
  ear.close();
});

Deno.test("mixer: a packet longer than 20 ms is not decoded (a 120 ms packet would cost six)", () => {
  const decoded: number[] = [];
  const m = new Mixer({
    mixSsrc: 0x5eed,
    createEncoder: () => createOpusEncoder({ bitrate: 48_000 }),
    createDecoder: () => {
      const real = createOpusDecoder();
      return {
        ...real,
        decodeView(packet: Uint8Array | null) {
          const pcm = real.decodeView(packet);
          decoded.push(pcm.length);
          return pcm;
        },
        close: () => real.close(),
      };
    },
  });
  const ann = toneSender(440, 0.3, 1);
  m.addParticipant("ann", () => {});
  m.addParticipant("bob", () => {});
  for (let t = 0; t < 50; t++) {
    const now = t * 20;
    const packet = ann.next(now);
    // CELT 20 ms frames, code 3: six of them in one packet, 120 ms.
    const frame = packet.payload.subarray(1);
    const long = new Uint8Array(2 + frame.length * 6);
    long[0] = (31 << 3) | 3;
    long[1] = 6;
    for (let i = 0; i < 6; i++) long.set(frame, 2 + i * frame.length);
    m.push("ann", { ...packet, payload: t % 2 ? packet.payload : long }, now);
    m.tick(now);
  }
  assert.ok(m.stats.notTwentyMs >= 20, `long packets refused: ${m.stats.notTwentyMs}`);
  assert.ok(decoded.length > 0);
  assert.ok(decoded.every((n) => n === OPUS_FRAME_SAMPLES), `decoded ${decoded}`);
  m.close();
  ann.close();
});

Deno.test("mixer: a tap gets the full mix every tick, every speaker in it, even alone; null while nothing is heard", () => {
  const m = mixer();
  const frames: (Uint8Array | null)[] = [];
  m.setTap((frame) => frames.push(frame));
  const ann = toneSender(440, 0.3, 1);
  const bob = toneSender(660, 0.3, 2);
  m.addParticipant("ann", () => {});
  // Alone, Ann is still recorded (no listener mix is sent to a lone participant).
  for (let t = 0; t < 25; t++) {
    m.push("ann", ann.next(t * 20), t * 20);
    m.tick(t * 20);
  }
  m.addParticipant("bob", () => {});
  for (let t = 25; t < 75; t++) {
    m.push("ann", ann.next(t * 20), t * 20);
    m.push("bob", bob.next(t * 20), t * 20);
    m.tick(t * 20);
  }
  for (let t = 75; t < 100; t++) m.tick(t * 20); // silence
  assert.equal(frames.length, 100, "one per tick");
  assert.ok(frames.slice(80).every((f) => f === null), "silence is null");
  const decoder = createOpusDecoder();
  const pcm: number[] = [];
  for (const f of frames.slice(50, 75)) {
    assert.ok(f !== null);
    for (const s of decoder.decode(f)) pcm.push(s / 32768);
  }
  const tail = Float32Array.from(pcm);
  assert.ok(goertzelPower(tail, RATE, 440) > 0.01, "Ann missing from the full mix");
  assert.ok(goertzelPower(tail, RATE, 660) > 0.01, "Bob missing from the full mix");
  m.setTap(null);
  m.tick(2000);
  assert.equal(frames.length, 100);
  m.close();
  for (const x of [ann, bob, decoder]) x.close();
});

Deno.test("mixer: with the senders' levels (RFC 6464) only the speakers and the loudest challengers are decoded; a quiet one that starts talking is decoded from a warmed decoder and heard", () => {
  const run = (withLevels: boolean) => {
    const m = mixer(3);
    const ids = [...Array(10)].map((_, i) => `p${i}`);
    // p0 and p1 talk from the start, p2 from tick 60; the rest hum at -60 dBFS.
    const tones = ids.map((_, i) =>
      i < 3 ? toneSender([440, 660, 1000][i], 0.3, i + 1) : toneSender(200 + 10 * i, 0.001, i + 1)
    );
    const ear = listener();
    m.addParticipant("ear", ear.sink);
    ids.forEach((id) => m.addParticipant(id, () => {}));
    for (let t = 0; t < 120; t++) {
      const now = t * 20;
      ids.forEach((id, i) => {
        const packet = tones[i].next(now);
        const talking = i < 2 || (i === 2 && t >= 60);
        if (i === 2 && !talking) packet.payload = tones[9].next(now).payload; // quiet until then
        const level = talking ? -13 : -60;
        if (withLevels) packet.extension = captureTimeExtension(now, undefined, level);
        m.push(id, packet, now);
      });
      m.tick(now);
    }
    const stats = { ...m.stats };
    const heard = { 440: ear.power(440), 660: ear.power(660), 1000: ear.power(1000) };
    m.close();
    for (const x of [...tones, ear]) x.close();
    return { stats, heard };
  };
  const all = run(false);
  const hinted = run(true);
  // Without levels every stream is decoded each tick; with them, about the speakers only.
  assert.ok(all.stats.decodes >= 10 * 115, `${all.stats.decodes} decodes without levels`);
  assert.ok(hinted.stats.decodes < all.stats.decodes / 3, `${hinted.stats.decodes} decodes`);
  assert.ok(hinted.stats.skipped >= 7 * 115, `${hinted.stats.skipped} skipped`);
  assert.ok(hinted.stats.warmups >= 1 && hinted.stats.warmups <= 10, `${hinted.stats.warmups}`);
  // The listener hears the same speakers either way: p2 too, once it talks.
  for (const freq of [440, 660, 1000] as const) {
    assert.ok(hinted.heard[freq] > 0.01, `${freq} Hz not heard: ${hinted.heard[freq]}`);
    assert.ok(Math.abs(hinted.heard[freq] - all.heard[freq]) < all.heard[freq] * 0.5);
  }
});

/**
 * The artifact when a listener's mix moves between encoders: Ann talks in bursts (her mix moves
 * from the shared encoding to her own and back), Bob hums 660 Hz throughout, Cy listens. What
 * Ann receives should be Bob's tone alone, smooth; a switch that leaves her decoder with the
 * other encoder's history shows up as broadband energy in the frames right after it. Returns
 * the worst frame within 3 of a switch against the median frame elsewhere.
 */
function switchArtifact(): { ratio: number; switches: number } {
  const m = mixer(3);
  // Ann: one stream, 440 Hz while she talks, near silence between.
  const annEncoder = createOpusEncoder({ bitrate: 48_000 });
  let annSample = 0;
  const annPacket = (t: number, talks: boolean): RtpPacket => {
    const pcm = new Int16Array(OPUS_FRAME_SAMPLES);
    const amplitude = talks ? 0.3 : 0.0005;
    for (let i = 0; i < pcm.length; i++, annSample++) {
      pcm[i] = Math.round(amplitude * 32767 * Math.sin((2 * Math.PI * 440 * annSample) / RATE));
    }
    const parsed = parseRtp(writeRtp({
      payloadType: PT_OPUS,
      sequenceNumber: t,
      timestamp: t * OPUS_FRAME_SAMPLES,
      ssrc: 1,
      payload: annEncoder.encode(pcm),
    }));
    assert.ok(parsed.ok);
    return parsed.packet;
  };
  const bob = toneSender(660, 0.3, 2);
  const decoder = createOpusDecoder();
  const frames: Float32Array[] = [];
  m.addParticipant("ann", (bytes) => {
    const parsed = parseRtp(bytes);
    assert.ok(parsed.ok);
    frames.push(Float32Array.from(decoder.decode(parsed.packet.payload), (s) => s / 32768));
  });
  m.addParticipant("bob", () => {});
  m.addParticipant("cy", () => {});
  const switchFrames: number[] = [];
  let wasSpeaking = false;
  for (let t = 0; t < 400; t++) {
    const now = t * 20;
    const annTalks = Math.floor(t / 40) % 2 === 1;
    m.push("ann", annPacket(t, annTalks), now);
    m.push("bob", bob.next(now), now);
    const speaking = m.tick(now).find((l) => l.id === "ann")!.speaking;
    if (speaking !== wasSpeaking) switchFrames.push(frames.length - 1);
    wasSpeaking = speaking;
  }
  // Per frame: energy of the second difference over the frame's energy (about 0.0075 for a
  // clean 660 Hz tone; a discontinuity is broadband).
  const roughness = frames.map((f) => {
    let d = 0, e = 0;
    for (let i = 2; i < f.length; i++) {
      const dd = f[i] - 2 * f[i - 1] + f[i - 2];
      d += dd * dd;
      e += f[i] * f[i];
    }
    return e > 0 ? d / e : 0;
  });
  const near = new Set(switchFrames.flatMap((f) => [f, f + 1, f + 2, f + 3]));
  const elsewhere = roughness.filter((_, i) => i > 50 && !near.has(i)).sort((a, b) => a - b);
  const median = elsewhere[Math.floor(elsewhere.length / 2)];
  const worst = Math.max(
    ...[...near].filter((i) => i > 50 && i < roughness.length).map((i) => roughness[i]),
  );
  m.close();
  for (const x of [annEncoder, bob, decoder]) x.close();
  return { ratio: worst / median, switches: switchFrames.length };
}

Deno.test("mixer: a listener's mix moving to its own encoding and back makes no artifact: the worst frame at a switch is no rougher than 1.5x the median", () => {
  const { ratio, switches } = switchArtifact();
  console.log("switch artifact:", { ratio, switches });
  assert.ok(switches >= 6, `${switches} switches`);
  assert.ok(ratio <= 1.5, `a switch frame is ${ratio.toFixed(2)}x the median roughness`);
});

Deno.test("mixer: a recording keeps each packet handed to a voice's buffer and each tick, within its limit, until taken", () => {
  const m = mixer();
  const ann = toneSender(440, 0.3, 1);
  m.addParticipant("ann", listener().sink);
  m.push("ann", ann.next(1000), 0); // before the recording: not kept
  m.record(5);
  for (let t = 1; t < 10; t++) {
    m.push("ann", ann.next(1000 + t * 20), t * 20 + 0.5);
    m.tick(t * 20 + 3);
  }
  const entries = m.takeRecording();
  assert.equal(entries.length, 5, "the limit holds");
  assert.deepEqual(entries[0].slice(0, 2), ["push", "ann"]);
  assert.equal(entries[0][4], 20.5);
  assert.equal(entries[0][5], false);
  assert.deepEqual(entries[1], ["tick", 23]);
  m.tick(300);
  assert.deepEqual(m.takeRecording(), [], "taking it stops it");
  m.close();
  ann.close();
});
