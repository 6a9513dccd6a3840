import assert from "node:assert/strict";
import {
  isVp8KeyframeStart,
  packetizeVp8,
  parseVp8Descriptor,
  VP8_LAYERED_DESCRIPTOR_SIZE,
  VP8_PACKETIZER_DESCRIPTOR_SIZE,
  type Vp8Descriptor,
  type Vp8Frame,
  Vp8FrameAssembler,
  writeVp8Descriptor,
} from "./vp8.ts";
import { MAX_PACKET_SIZE, parseRtp, RTP_HEADER_SIZE, type RtpPacket, writeRtp } from "./rtp.ts";
import { randomBytes, seededRandom, shuffle } from "./_testing.ts";

const MAX_PAYLOAD = MAX_PACKET_SIZE - RTP_HEADER_SIZE;

function descriptorOf(bytes: Uint8Array): Vp8Descriptor {
  const result = parseVp8Descriptor(bytes);
  if (!result.ok) throw new Error(`expected a descriptor, got ${result.reason}`);
  return result.descriptor;
}

/** A fake encoded frame: byte 0 carries the P bit (0 = keyframe), the rest is random. */
function fakeFrame(random: () => number, keyframe: boolean, size: number): Uint8Array {
  const frame = randomBytes(random, size);
  frame[0] = keyframe ? (frame[0] & 0xfe) : (frame[0] | 0x01);
  return frame;
}

interface SentFrame {
  data: Uint8Array;
  timestamp: number;
  keyframe: boolean;
  pictureId: number;
  packets: RtpPacket[];
}

/** Packetizes frames into parsed RTP packets the way a sender would, starting near a wrap. */
function sendStream(
  random: () => number,
  count: number,
  options: { keyframeEvery?: number; firstSeq?: number; firstPictureId?: number } = {},
): SentFrame[] {
  const keyframeEvery = options.keyframeEvery ?? 1000;
  let seq = options.firstSeq ?? 65500;
  let pictureId = options.firstPictureId ?? 32760;
  const frames: SentFrame[] = [];
  for (let i = 0; i < count; i++) {
    const keyframe = i % keyframeEvery === 0;
    const size = keyframe ? 3000 + Math.floor(random() * 9000) : 1 + Math.floor(random() * 4000);
    const data = fakeFrame(random, keyframe, size);
    const timestamp = (0xffff0000 + i * 3000) >>> 0; // wraps too
    const payloads = packetizeVp8(data, { maxPayloadSize: MAX_PAYLOAD, pictureId });
    const packets = payloads.map((payload, p) => {
      const bytes = writeRtp({
        payloadType: 96,
        sequenceNumber: seq++ & 0xffff,
        timestamp,
        ssrc: 42,
        marker: p === payloads.length - 1,
        payload,
      });
      assert.ok(bytes.length <= MAX_PACKET_SIZE, `packet of ${bytes.length} bytes`);
      const parsed = parseRtp(bytes);
      assert.ok(parsed.ok);
      return parsed.packet;
    });
    frames.push({ data, timestamp, keyframe, pictureId, packets });
    pictureId = (pictureId + 1) & 0x7fff;
  }
  return frames;
}

function assertSameFrame(actual: Vp8Frame, expected: SentFrame): void {
  assert.equal(actual.rtpTimestamp, expected.timestamp);
  assert.equal(actual.isKeyframe, expected.keyframe);
  assert.equal(actual.pictureId, expected.pictureId);
  assert.deepEqual(actual.data, expected.data);
}

Deno.test("vp8: descriptor exact bytes and round trips", () => {
  assert.deepEqual(
    [...writeVp8Descriptor({ startOfPartition: true, pictureId: 0x1234 })],
    [0x90, 0x80, 0x92, 0x34],
  );
  assert.deepEqual([...writeVp8Descriptor({ startOfPartition: true })], [0x10]);
  const cases: Partial<Vp8Descriptor>[] = [
    {},
    { startOfPartition: true, partitionIndex: 0 },
    { nonReference: true, partitionIndex: 7 },
    { pictureId: 0x55, pictureIdBits: 7 },
    { pictureId: 0x7fff, pictureIdBits: 15 },
    { tl0PicIdx: 200 },
    { temporalLayer: 2, layerSync: true },
    { keyIdx: 31 },
    {
      startOfPartition: true,
      nonReference: true,
      pictureId: 12345,
      pictureIdBits: 15,
      tl0PicIdx: 9,
      temporalLayer: 1,
      layerSync: true,
      keyIdx: 17,
    },
  ];
  for (const fields of cases) {
    const bytes = writeVp8Descriptor(fields);
    const parsed = descriptorOf(new Uint8Array([...bytes, 0xaa]));
    assert.equal(parsed.size, bytes.length);
    const expected: Vp8Descriptor = {
      nonReference: false,
      startOfPartition: false,
      partitionIndex: 0,
      pictureId: null,
      pictureIdBits: 0,
      tl0PicIdx: null,
      temporalLayer: null,
      layerSync: false,
      keyIdx: null,
      ...fields,
      size: bytes.length,
    };
    assert.deepEqual(parsed, expected, JSON.stringify(fields));
  }
});

Deno.test("vp8: descriptor payload is a view after the descriptor", () => {
  const bytes = new Uint8Array([0x90, 0xc0, 0x81, 0x02, 0x07, 0xde, 0xad]);
  const result = parseVp8Descriptor(bytes);
  assert.ok(result.ok);
  assert.equal(result.descriptor.pictureId, 0x102);
  assert.equal(result.descriptor.tl0PicIdx, 7);
  assert.deepEqual([...result.payload], [0xde, 0xad]);
  assert.equal(result.payload.buffer, bytes.buffer);
});

Deno.test("vp8: every truncation of a full descriptor is an error, never a throw", () => {
  const full = writeVp8Descriptor({ pictureId: 300, tl0PicIdx: 1, temporalLayer: 1, keyIdx: 2 });
  assert.equal(full.length, 6);
  const empty = parseVp8Descriptor(new Uint8Array(0));
  assert.deepEqual(empty, { ok: false, reason: "empty" });
  for (let length = 1; length < full.length; length++) {
    const result = parseVp8Descriptor(full.subarray(0, length));
    assert.deepEqual(result, { ok: false, reason: "truncated" }, `length ${length}`);
  }
  assert.equal(parseVp8Descriptor(full).ok, true);
  // 7-bit PictureID variant
  const short = writeVp8Descriptor({ pictureId: 3, pictureIdBits: 7 });
  assert.equal(short.length, 3);
  assert.equal(parseVp8Descriptor(short.subarray(0, 2)).ok, false);
});

Deno.test("vp8: seeded fuzz of the descriptor parser and keyframe check never throws", () => {
  const random = seededRandom(7741);
  let ok = 0;
  for (let i = 0; i < 20_000; i++) {
    const bytes = randomBytes(random, Math.floor(random() * 8));
    const result = parseVp8Descriptor(bytes);
    if (result.ok) {
      ok++;
      assert.equal(result.descriptor.size + result.payload.length, bytes.length);
      assert.ok(result.descriptor.size >= 1 && result.descriptor.size <= 6);
    }
    isVp8KeyframeStart(bytes);
  }
  assert.ok(ok > 5000, `only ${ok} parsed`);
});

Deno.test("vp8: isVp8KeyframeStart needs S=1, PID=0 and P=0", () => {
  const key = (descriptor: Uint8Array, first: number) => new Uint8Array([...descriptor, first]);
  const start = writeVp8Descriptor({ startOfPartition: true, pictureId: 5 });
  assert.equal(isVp8KeyframeStart(key(start, 0x10)), true);
  assert.equal(isVp8KeyframeStart(key(start, 0x11)), false); // P=1: delta frame
  const middle = writeVp8Descriptor({ startOfPartition: false, pictureId: 5 });
  assert.equal(isVp8KeyframeStart(key(middle, 0x10)), false);
  const partition1 = writeVp8Descriptor({ startOfPartition: true, partitionIndex: 1 });
  assert.equal(isVp8KeyframeStart(key(partition1, 0x10)), false);
  assert.equal(isVp8KeyframeStart(start), false); // no VP8 payload byte
  assert.equal(isVp8KeyframeStart(new Uint8Array(0)), false);
  assert.equal(isVp8KeyframeStart(new Uint8Array([0x90])), false); // truncated
});

Deno.test("vp8: packetizer splits into balanced payloads that fit and rebuild the frame", () => {
  const random = seededRandom(1);
  for (const size of [1, 100, 1184, 1185, 2368, 2369, 10_000, 11_000]) {
    const frame = fakeFrame(random, true, size);
    const payloads = packetizeVp8(frame, { maxPayloadSize: MAX_PAYLOAD, pictureId: 0x7abc });
    const capacity = MAX_PAYLOAD - VP8_PACKETIZER_DESCRIPTOR_SIZE;
    assert.equal(payloads.length, Math.ceil(size / capacity), `size ${size}`);
    const dataSizes = payloads.map((p) => p.length - VP8_PACKETIZER_DESCRIPTOR_SIZE);
    assert.ok(Math.max(...dataSizes) - Math.min(...dataSizes) <= 1, `sizes ${dataSizes}`);
    const rebuilt: number[] = [];
    payloads.forEach((payload, i) => {
      assert.ok(payload.length <= MAX_PAYLOAD);
      const result = parseVp8Descriptor(payload);
      assert.ok(result.ok);
      assert.equal(result.descriptor.startOfPartition, i === 0);
      assert.equal(result.descriptor.partitionIndex, 0);
      assert.equal(result.descriptor.pictureId, 0x7abc);
      assert.equal(result.descriptor.pictureIdBits, 15);
      rebuilt.push(...result.payload);
    });
    assert.deepEqual(new Uint8Array(rebuilt), frame);
    assert.equal(isVp8KeyframeStart(payloads[0]), true);
  }
});

Deno.test("vp8: packetizer options: PictureID wraps to 15 bits, N bit, invalid sizes throw", () => {
  const [payload] = packetizeVp8(new Uint8Array([1]), {
    maxPayloadSize: 100,
    pictureId: 0x8001,
    nonReference: true,
  });
  const descriptor = descriptorOf(payload);
  assert.equal(descriptor.pictureId, 1);
  assert.equal(descriptor.nonReference, true);
  assert.throws(
    () => packetizeVp8(new Uint8Array(10), { maxPayloadSize: 4, pictureId: 0 }),
    RangeError,
  );
  assert.throws(
    () => packetizeVp8(new Uint8Array(0), { maxPayloadSize: 100, pictureId: 0 }),
    RangeError,
  );
  assert.equal(
    packetizeVp8(new Uint8Array(10), { maxPayloadSize: 5, pictureId: 0 }).length,
    10,
  );
});

Deno.test("vp8 assembler: an in-order stream comes out identical across seq/timestamp wrap", () => {
  const random = seededRandom(2);
  const sent = sendStream(random, 40, { keyframeEvery: 10 });
  const assembler = new Vp8FrameAssembler();
  const out: Vp8Frame[] = [];
  let now = 0;
  for (const frame of sent) {
    for (const packet of frame.packets) out.push(...assembler.push(packet, now));
    now += 33;
  }
  assert.equal(out.length, sent.length);
  out.forEach((frame, i) => {
    assertSameFrame(frame, sent[i]);
    assert.equal(frame.afterLoss, false);
  });
  assert.equal(assembler.needsKeyframe, false);
  assert.equal(assembler.bufferedPackets, 0);
  assert.deepEqual(assembler.stats, {
    framesEmitted: 40,
    keyframesEmitted: 4,
    framesDropped: 0,
    duplicatePackets: 0,
    latePackets: 0,
    invalidPackets: 0,
    packetsScanned: assembler.stats.packetsScanned,
  });
});

Deno.test("vp8 assembler: packetize -> shuffle (with duplicates) -> assemble is identical", () => {
  for (const seed of [3, 4, 5, 6]) {
    const random = seededRandom(seed);
    const sent = sendStream(random, 30, { keyframeEvery: 10 });
    const packets = sent.flatMap((frame) => frame.packets);
    const duplicates = packets.filter(() => random() < 0.1);
    const delivered = shuffle(random, [...packets, ...duplicates]);
    const assembler = new Vp8FrameAssembler();
    const out: Vp8Frame[] = [];
    for (const packet of delivered) out.push(...assembler.push(packet, 1000));
    assert.equal(out.length, sent.length, `seed ${seed}`);
    out.forEach((frame, i) => assertSameFrame(frame, sent[i]));
    assert.equal(assembler.needsKeyframe, false);
    assert.equal(assembler.bufferedPackets, 0);
    const stats = assembler.stats;
    assert.equal(stats.framesDropped, 0);
    // A duplicate arriving after its frame was emitted counts as late, else as duplicate.
    assert.equal(stats.duplicatePackets + stats.latePackets, duplicates.length);
  }
});

Deno.test("vp8 assembler: one lost packet drops exactly its frame and asks for a keyframe", () => {
  for (const which of ["first", "middle", "last"] as const) {
    const random = seededRandom(8);
    const sent = sendStream(random, 20);
    // Make frame 5 three packets long so first/middle/last are distinct packets.
    const lostFrame = sent[5];
    if (lostFrame.packets.length < 3) {
      lostFrame.packets = sendStream(seededRandom(9), 1, { keyframeEvery: 1 })[0].packets;
    }
    assert.ok(lostFrame.packets.length >= 3);
    const index = which === "first" ? 0 : which === "last" ? lostFrame.packets.length - 1 : 1;
    const lost = sent[5].packets[index];

    const assembler = new Vp8FrameAssembler({ maxWaitMs: 100 });
    const out: Vp8Frame[] = [];
    let now = 0;
    let sawNeedsKeyframe = false;
    for (const frame of sent) {
      for (const packet of frame.packets) {
        if (packet !== lost) out.push(...assembler.push(packet, now));
      }
      sawNeedsKeyframe ||= assembler.needsKeyframe;
      now += 33;
    }
    out.push(...assembler.poll(now + 1000));
    const expected = sent.filter((_, i) => i !== 5);
    assert.equal(out.length, expected.length, which);
    out.forEach((frame, i) => assertSameFrame(frame, expected[i]));
    assert.deepEqual(out.map((f) => f.afterLoss), expected.map((_, i) => i === 5), which);
    assert.equal(assembler.stats.framesDropped, 1, which);
    assert.equal(sawNeedsKeyframe, true);
    assert.equal(assembler.needsKeyframe, true, "stays true until a keyframe arrives");

    // The lost packet arriving now is late and changes nothing.
    assert.deepEqual(assembler.push(lost, now), []);
    assert.equal(assembler.stats.latePackets, 1);

    // A keyframe clears the request.
    const next = sendStream(random, 1, {
      keyframeEvery: 1,
      firstSeq: (sent[19].packets.at(-1)!.sequenceNumber + 1) & 0xffff,
    })[0];
    const recovered = next.packets.flatMap((packet) => assembler.push(packet, now));
    assert.equal(recovered.length, 1);
    assert.equal(recovered[0].isKeyframe, true);
    assert.equal(assembler.needsKeyframe, false);
  }
});

Deno.test("vp8 assembler: a frame waits for a reordered packet within maxWaitMs", () => {
  const sent = sendStream(seededRandom(10), 3);
  const packets = sent.flatMap((frame) => frame.packets);
  const held = sent[1].packets[0];
  const assembler = new Vp8FrameAssembler({ maxWaitMs: 100 });
  const out: Vp8Frame[] = [];
  let now = 0;
  for (const packet of packets) {
    if (packet !== held) out.push(...assembler.push(packet, now));
    now += 10;
  }
  assert.equal(out.length, 1); // frame 0; frames 1 and 2 wait for the held packet
  out.push(...assembler.poll(now)); // not yet 100 ms since frame 2 began
  assert.equal(out.length, 1);
  out.push(...assembler.push(held, now));
  assert.equal(out.length, 3);
  out.forEach((frame, i) => assertSameFrame(frame, sent[i]));
  assert.equal(assembler.stats.framesDropped, 0);
  assert.equal(assembler.needsKeyframe, false);
});

Deno.test("vp8 assembler: a whole lost frame is counted once, detected through PictureIDs", () => {
  const sent = sendStream(seededRandom(11), 10);
  const assembler = new Vp8FrameAssembler({ maxWaitMs: 50 });
  const out: Vp8Frame[] = [];
  let now = 0;
  for (const [i, frame] of sent.entries()) {
    if (i === 3 || i === 4) continue; // two whole frames lost
    for (const packet of frame.packets) out.push(...assembler.push(packet, now));
    now += 33;
  }
  out.push(...assembler.poll(now + 100));
  assert.deepEqual(
    out.map((f) => f.pictureId),
    sent.filter((_, i) => i !== 3 && i !== 4).map((f) => f.pictureId),
  );
  assert.equal(assembler.stats.framesDropped, 2);
});

Deno.test("vp8 assembler: skipUntilKeyframe drops delta frames after a loss", () => {
  const random = seededRandom(12);
  const sent = sendStream(random, 20, { keyframeEvery: 10 });
  const lost = sent[3].packets[0];
  const assembler = new Vp8FrameAssembler({ maxWaitMs: 50, skipUntilKeyframe: true });
  const out: Vp8Frame[] = [];
  let now = 0;
  for (const frame of sent) {
    for (const packet of frame.packets) {
      if (packet !== lost) out.push(...assembler.push(packet, now));
    }
    now += 33;
  }
  // Frames 0-2, then the keyframe 10 and everything after it.
  const expected = sent.filter((_, i) => i < 3 || i >= 10);
  assert.equal(out.length, expected.length);
  out.forEach((frame, i) => assertSameFrame(frame, expected[i]));
  assert.equal(out[3].afterLoss, true);
  assert.equal(assembler.stats.framesDropped, 7); // frame 3 lost, 4-9 skipped
  assert.equal(assembler.needsKeyframe, false);
});

Deno.test("vp8 assembler: joining mid-stream waits for a keyframe and asks for one", () => {
  const random = seededRandom(13);
  const sent = sendStream(random, 30, { keyframeEvery: 20 });
  const assembler = new Vp8FrameAssembler();
  const out: Vp8Frame[] = [];
  let now = 0;
  let askedBeforeKeyframe = false;
  for (const frame of sent.slice(5)) {
    for (const packet of frame.packets) out.push(...assembler.push(packet, now));
    if (frame === sent[19]) askedBeforeKeyframe = assembler.needsKeyframe;
    now += 33;
  }
  assert.equal(askedBeforeKeyframe, true);
  assert.equal(out[0].isKeyframe, true);
  assert.deepEqual(out.map((f) => f.rtpTimestamp), sent.slice(20).map((f) => f.timestamp));
  assert.equal(assembler.needsKeyframe, false);
  assert.ok(assembler.bufferedPackets === 0);
});

Deno.test("vp8 assembler: a sender restart (sequence jump) starts over from its keyframe", () => {
  const random = seededRandom(14);
  const first = sendStream(random, 5, { firstSeq: 100 });
  const second = sendStream(random, 5, { firstSeq: 5000, firstPictureId: 0 });
  const assembler = new Vp8FrameAssembler();
  const out: Vp8Frame[] = [];
  for (const frame of [...first, ...second]) {
    for (const packet of frame.packets) out.push(...assembler.push(packet, 0));
  }
  assert.equal(out.length, 10);
  assertSameFrame(out[5], second[0]);
  assert.equal(out[5].afterLoss, true);

  // And a restart to lower sequence numbers, confirmed by a second packet.
  const third = sendStream(random, 3, { firstSeq: 2000, firstPictureId: 0 });
  for (const frame of third) {
    for (const packet of frame.packets) out.push(...assembler.push(packet, 0));
  }
  assert.equal(out.length, 13);
  out.slice(10).forEach((frame, i) => assertSameFrame(frame, third[i]));
  assert.equal(assembler.stats.latePackets, 0);
});

Deno.test("vp8 assembler: memory stays bounded without keyframes and with a stuck gap", () => {
  const random = seededRandom(15);
  const noKeyframes = new Vp8FrameAssembler({ maxPackets: 64 });
  const deltas = sendStream(random, 200).slice(1); // drop the keyframe
  for (const frame of deltas) {
    for (const packet of frame.packets) {
      noKeyframes.push(packet, 0);
      assert.ok(noKeyframes.bufferedPackets <= 64);
    }
  }
  assert.equal(noKeyframes.needsKeyframe, true);

  // Anchored, one packet never arrives and time never advances: overflow must drop it.
  const stuck = new Vp8FrameAssembler({ maxPackets: 64 });
  const sent = sendStream(random, 200);
  const lost = sent[1].packets[0];
  let emitted = 0;
  for (const frame of sent) {
    for (const packet of frame.packets) {
      if (packet !== lost) emitted += stuck.push(packet, 0).length;
      assert.ok(stuck.bufferedPackets <= 65);
    }
  }
  assert.ok(emitted > 150, `emitted ${emitted}`);
  assert.ok(stuck.stats.framesDropped >= 1);
});

Deno.test("vp8 assembler: invalid payloads are counted, random packets never throw", () => {
  const random = seededRandom(16);
  const assembler = new Vp8FrameAssembler({ maxPackets: 128, maxWaitMs: 20 });
  let now = 0;
  for (let i = 0; i < 20_000; i++) {
    const payload = randomBytes(random, Math.floor(random() * 12));
    if (payload.length > 1 && random() < 0.3) payload[payload.length - 1] &= 0xfe;
    const packet: RtpPacket = {
      version: 2,
      padding: false,
      paddingLength: 0,
      marker: random() < 0.3,
      payloadType: 96,
      sequenceNumber: (1000 + i + Math.floor(random() * 40) - 20) & 0xffff,
      timestamp: Math.floor(i / 3) * 3000,
      ssrc: 1,
      csrcs: [],
      extension: null,
      payload,
    };
    for (const frame of assembler.push(packet, now)) assert.ok(frame.data instanceof Uint8Array);
    assert.ok(assembler.bufferedPackets <= 129);
    now += random() * 5;
  }
  assert.ok(assembler.stats.invalidPackets > 0);
});

Deno.test("vp8 assembler: without marker bits a timestamp change ends the frame", () => {
  const sent = sendStream(seededRandom(17), 5);
  const unmarked = sent.map((frame) => ({
    ...frame,
    packets: frame.packets.map((packet) => ({ ...packet, marker: false })),
  }));
  const assembler = new Vp8FrameAssembler();
  const out: Vp8Frame[] = [];
  for (const frame of unmarked) {
    for (const packet of frame.packets) out.push(...assembler.push(packet, 0));
  }
  // Each frame is released once the next one's first packet shows a new timestamp; the
  // last one waits for its successor.
  assert.equal(out.length, 4);
  out.forEach((frame, i) => assertSameFrame(frame, sent[i]));
  assert.equal(assembler.bufferedPackets, sent[4].packets.length);
});

Deno.test("Vp8FrameAssembler: frame starts without an end cost each held packet one look", () => {
  // A sender of nothing but keyframe starts (or delta starts) of one timestamp, never a
  // marker: every push searched from every start to the end of the run.
  const n = 256;
  for (const first of [0x10, 0x11]) { // S=1 PID=0: keyframe start, then delta start
    const assembler = new Vp8FrameAssembler({ maxPackets: n });
    for (let seq = 0; seq < 2 * n; seq++) {
      const frames = assembler.push({
        version: 2,
        padding: false,
        paddingLength: 0,
        marker: false,
        payloadType: 96,
        sequenceNumber: seq,
        timestamp: 3000,
        ssrc: 5,
        csrcs: [],
        extension: null,
        payload: new Uint8Array([first, 0x00, 0x9d, 0x01, 0x2a]),
      }, 0);
      assert.deepEqual(frames, []);
    }
    assert.ok(assembler.bufferedPackets <= n + 1);
    const scanned = assembler.stats.packetsScanned;
    assert.ok(scanned <= 2 * n * (2 * n + 4), `${scanned} packets looked at for ${2 * n} pushed`);
  }
});

/**
 * A layered stream as Chromium's L1T3 sends it: layers 0,2,1,2 from a keyframe, TL0PICIDX
 * counting base frames from 254 (it wraps), Y on the frames that reference only their base
 * frame (layer 1, and the first layer-2 frame of a group). One packet per frame unless `big`.
 */
function sendLayered(
  count: number,
  big = new Set<number>(),
  keyframeEvery = 1000,
): SentFrame[] & { tids: number[] } {
  const random = seededRandom(7);
  let seq = 65530;
  let tl0 = 253;
  const tids: number[] = [];
  const frames: SentFrame[] = [];
  let lowerSinceBase = false;
  for (let i = 0; i < count; i++) {
    const tid = [0, 2, 1, 2][i % 4];
    if (tid === 0) {
      tl0 = (tl0 + 1) & 0xff;
      lowerSinceBase = false;
    }
    const layer = { temporalLayer: tid, tl0PicIdx: tl0, layerSync: tid > 0 && !lowerSinceBase };
    if (tid === 1) lowerSinceBase = true;
    const keyframe = i % keyframeEvery === 0;
    const data = fakeFrame(random, keyframe, big.has(i) ? 3000 : 200);
    const payloads = packetizeVp8(data, { maxPayloadSize: MAX_PAYLOAD, pictureId: i, layer });
    const packets = payloads.map((payload, p) => {
      const parsed = parseRtp(writeRtp({
        payloadType: 96,
        sequenceNumber: seq++ & 0xffff,
        timestamp: i * 3000,
        ssrc: 42,
        marker: p === payloads.length - 1,
        payload,
      }));
      assert.ok(parsed.ok);
      return parsed.packet;
    });
    tids.push(tid);
    frames.push({ data, timestamp: i * 3000, keyframe, pictureId: i, packets });
  }
  return Object.assign(frames, { tids });
}

/** Feeds the frames' packets 33 ms apart, leaving out those of `lost` (frame, packet index). */
function feedLayered(
  frames: SentFrame[],
  lost: (frame: number, packet: number) => boolean,
): { out: number[]; assembler: Vp8FrameAssembler; askedAt: number[] } {
  const assembler = new Vp8FrameAssembler({ maxWaitMs: 50, skipUntilKeyframe: true });
  const out: number[] = [];
  const askedAt: number[] = [];
  frames.forEach((frame, i) => {
    frame.packets.forEach((packet, p) => {
      if (lost(i, p)) return;
      for (const f of assembler.push(packet, i * 33)) out.push(f.pictureId!);
    });
    for (const f of assembler.poll(i * 33 + 20)) out.push(f.pictureId!);
    if (assembler.needsKeyframe) askedAt.push(i);
  });
  return { out, assembler, askedAt };
}

Deno.test("vp8: the packetizer writes a frame's temporal layer, TL0PICIDX and Y; they parse back", () => {
  const layer = { temporalLayer: 2, tl0PicIdx: 300, layerSync: true };
  const payloads = packetizeVp8(new Uint8Array(2500).fill(1), {
    maxPayloadSize: 1000,
    pictureId: 0x1234,
    layer,
  });
  assert.equal(payloads.length, 3);
  for (const [i, payload] of payloads.entries()) {
    assert.ok(payload.length <= 1000);
    assert.deepEqual([...payload.subarray(0, VP8_LAYERED_DESCRIPTOR_SIZE)], [
      i === 0 ? 0x90 : 0x80,
      0xe0,
      0x92,
      0x34,
      300 & 0xff,
      0xa0,
    ]);
    const d = descriptorOf(payload);
    assert.equal(d.temporalLayer, 2);
    assert.equal(d.tl0PicIdx, 44);
    assert.equal(d.layerSync, true);
    assert.equal(d.size, VP8_LAYERED_DESCRIPTOR_SIZE);
  }
  assert.equal(payloads.reduce((n, p) => n + p.length - VP8_LAYERED_DESCRIPTOR_SIZE, 0), 2500);
  assert.throws(() => packetizeVp8(new Uint8Array(3), { maxPayloadSize: 6, pictureId: 0, layer }));
});

Deno.test("vp8 assembler, layered: a lost upper-layer frame costs at most the group's next unsynced frame, and no keyframe", () => {
  const frames = sendLayered(24);
  assert.deepEqual(frames.tids.slice(0, 8), [0, 2, 1, 2, 0, 2, 1, 2]);
  // Frame 5 (layer 2, Y, after base frame 4) never comes: frame 6 (layer 1, Y) comes out,
  // frame 7 (layer 2, no Y) is dropped (a lost frame's layer is not known, so it may have
  // been one that frame 7 references). Frame 11 (the group's last) costs itself alone.
  const { out, assembler, askedAt } = feedLayered(frames, (f) => f === 5 || f === 11);
  assert.deepEqual(out, frames.map((_, i) => i).filter((i) => ![5, 7, 11].includes(i)));
  assert.deepEqual(askedAt, [], "no keyframe asked for");
  assert.equal(assembler.stats.framesDropped, 3);
});

Deno.test("vp8 assembler, layered: a lost layer-1 frame costs the layer-2 frame after it, no keyframe", () => {
  const frames = sendLayered(16, new Set([6]));
  // Frame 6 (layer 1, two packets): its second packet is lost. Frame 7 (layer 2, no Y)
  // references it: dropped. Frame 8 (the next base) and the rest come out.
  const { out, askedAt } = feedLayered(frames, (f, p) => f === 6 && p === 1);
  assert.deepEqual(out, frames.map((_, i) => i).filter((i) => i !== 6 && i !== 7));
  assert.deepEqual(askedAt, []);
});

Deno.test("vp8 assembler, layered: a lost base frame drops everything until a keyframe, asked for once it shows", () => {
  const frames = sendLayered(16);
  // Frame 8 (base) lost: frame 9 names base 8's index, one past the last base emitted.
  const { out, askedAt } = feedLayered(frames, (f) => f === 8);
  assert.deepEqual(out, [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.equal(askedAt[0], 10, "asked for once the gap has waited 50 ms, frame 9 being held");
  // A keyframe then starts over.
  const assembler = new Vp8FrameAssembler({ maxWaitMs: 50, skipUntilKeyframe: true });
  const again = sendLayered(8);
  for (const frame of frames.slice(0, 8)) for (const p of frame.packets) assembler.push(p, 0);
  for (const p of frames[9].packets) assembler.push(p, 300);
  assert.equal(assembler.poll(400).length, 0);
  assert.equal(assembler.needsKeyframe, true);
  const seqBase = frames[9].packets[0].sequenceNumber + 1;
  const restarted = again.map((f, i) =>
    f.packets.map((p) => ({ ...p, sequenceNumber: (seqBase + i) & 0xffff }))
  );
  const emitted = restarted.flatMap((packets, i) =>
    packets.flatMap((p) => assembler.push(p, 500 + i * 33))
  );
  assert.equal(emitted.length, 8);
  assert.equal(emitted[0].isKeyframe, true);
  assert.equal(assembler.needsKeyframe, false);
});

Deno.test("vp8 assembler, layered: under random loss exactly the frames whose references came out come out", () => {
  let total = 0;
  for (let seed = 1; seed <= 20; seed++) {
    const random = seededRandom(seed);
    const big = new Set([...Array(200).keys()].filter(() => random() < 0.3));
    const frames = sendLayered(200, big, 40);
    const lostFrames = new Set<number>();
    const { out } = feedLayered(frames, (f) => {
      const lose = random() < 0.03;
      if (lose) lostFrames.add(f);
      return lose;
    });
    // Chromium's L1T3 references (a browser test checks them): a base frame the base frame
    // before it, layer 1 and the first layer 2 their base frame, the second layer 2 its base
    // frame and the layer-1 frame; the assembler, not knowing what a lost frame was, also
    // drops the second layer-2 frame after the loss of the first.
    const expected: number[] = [];
    const decoded = new Set<number>();
    for (let i = 0; i < frames.length; i++) {
      const base = i - (i % 4);
      const ok = !lostFrames.has(i) && (frames[i].keyframe ||
        (i % 4 === 0 && decoded.has(i - 4)) ||
        ((i % 4 === 1 || i % 4 === 2) && decoded.has(base)) ||
        (i % 4 === 3 && decoded.has(base) && decoded.has(i - 1) && decoded.has(i - 2)));
      if (ok) {
        decoded.add(i);
        expected.push(i);
      }
    }
    assert.deepEqual(out, expected, `seed ${seed}`);
    total += out.length;
  }
  assert.ok(total > 20 * 100, `${total} frames of 4,000 came out`);
});

Deno.test("vp8 assembler: an incomplete frame is given up after passWaitMs when the complete frame after it does not need it", () => {
  const frames = sendLayered(8, new Set([5, 6]));
  // Frame 5 (layer 2, three packets) loses all but its first; frame 6 (layer 1, Y) is whole.
  const assembler = new Vp8FrameAssembler({ maxWaitMs: 180, skipUntilKeyframe: true });
  const out: number[] = [];
  const push = (f: number, p: number, at: number) =>
    out.push(...assembler.push(frames[f].packets[p], at).map((x) => x.pictureId!));
  for (let f = 0; f < 5; f++) push(f, 0, f * 33);
  push(5, 0, 165); // its other packets never come
  push(6, 0, 198);
  assert.deepEqual(out, [0, 1, 2, 3, 4]);
  assert.deepEqual(assembler.poll(198 + 39).map((x) => x.pictureId), [], "waits for a reorder");
  for (let p = 1; p < frames[6].packets.length; p++) push(6, p, 200); // frame 6 complete
  assert.deepEqual(assembler.poll(198 + 40).map((x) => x.pictureId), [6], "not 180 ms");
  assert.equal(assembler.needsKeyframe, false);
  // Frame 7 (layer 2, no Y) references the lost frame's group: dropped; frame 8 would come.
  push(7, 0, 231);
  assert.deepEqual(out, [0, 1, 2, 3, 4]);

  // Without layers, a complete keyframe behind an incomplete delta frame passes it too.
  const random = seededRandom(3);
  const plain = sendStream(random, 4, { keyframeEvery: 3 }); // key, delta, delta, key
  const simple = new Vp8FrameAssembler({ maxWaitMs: 180, skipUntilKeyframe: true });
  const got: number[] = [];
  const feed = (f: number, p: number, at: number) =>
    got.push(...simple.push(plain[f].packets[p], at).map((x) => x.pictureId!));
  plain[0].packets.forEach((_, p) => feed(0, p, 0));
  plain[1].packets.forEach((_, p) => feed(1, p, 33));
  feed(2, 0, 66); // frame 2 (delta) is left incomplete or whole, then the keyframe comes
  plain[3].packets.forEach((_, p) => feed(3, p, 99));
  const complete2 = plain[2].packets.length === 1;
  if (complete2) {
    assert.deepEqual(got, [0, 1, 2, 3].map((i) => plain[i].pictureId));
  } else {
    assert.deepEqual(got, [0, 1].map((i) => plain[i].pictureId));
    assert.deepEqual(simple.poll(99 + 40).map((x) => x.pictureId), [plain[3].pictureId]);
  }
});

Deno.test("vp8 assembler, layered: a base frame with a hole waits baseWaitMs, an upper-layer one maxWaitMs", () => {
  const frames = sendLayered(12, new Set([4, 5]));
  const run = (lostFrame: number) => {
    const assembler = new Vp8FrameAssembler({
      maxWaitMs: 180,
      baseWaitMs: 320,
      passWaitMs: 40,
      skipUntilKeyframe: true,
    });
    const out: number[] = [];
    const take = (frames: Vp8Frame[]) => out.push(...frames.map((f) => f.pictureId!));
    // Frame `lostFrame` (three packets) loses its second packet; the frames after it come.
    for (let f = 0; f < 12; f++) {
      frames[f].packets.forEach((p, i) => {
        if (!(f === lostFrame && i === 1)) take(assembler.push(p, f * 33));
      });
    }
    const waitingFrom = (lostFrame + 1) * 33;
    return { assembler, out, take, waitingFrom };
  };
  // Frame 4 is a base frame: nothing after it decodes without it, so it waits 320 ms.
  const base = run(4);
  assert.deepEqual(base.out, [0, 1, 2, 3]);
  base.take(base.assembler.poll(base.waitingFrom + 300));
  assert.deepEqual(base.out, [0, 1, 2, 3], "still waiting at 300 ms");
  assert.equal(base.assembler.needsKeyframe, false);
  base.take(base.assembler.push(frames[4].packets[1], base.waitingFrom + 310)); // the resend
  assert.deepEqual(base.out, [...Array(12).keys()], "recovered, everything comes out");
  assert.equal(base.assembler.needsKeyframe, false);
  // Given up at 320 ms, it needs a keyframe.
  const lost = run(4);
  lost.take(lost.assembler.poll(lost.waitingFrom + 320));
  assert.deepEqual(lost.out, [0, 1, 2, 3]);
  assert.equal(lost.assembler.needsKeyframe, true);
  // Frame 5 is an upper-layer frame: the layer sync frame after it passes it after 40 ms
  // (frames 6 and 8-11 come out; 7 references its group's lost frame), without a keyframe.
  const upper = run(5);
  assert.deepEqual(upper.out, [0, 1, 2, 3, 4, 6, 8, 9, 10, 11]);
  assert.equal(upper.assembler.needsKeyframe, false);
});
