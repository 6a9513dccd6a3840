import assert from "node:assert/strict";
import {
  isNewerSeq,
  isRtcp,
  MAX_PACKET_SIZE,
  ONE_BYTE_EXTENSION_PROFILE,
  parseExtensionElements,
  parseRtp,
  RTP_HEADER_SIZE,
  type RtpPacket,
  seqDiff,
  setRtpSsrc,
  timestampDiff,
  writeOneByteExtensions,
  writeRtp,
} from "./rtp.ts";
import { randomBytes, seededRandom } from "./_testing.ts";

function parsed(bytes: Uint8Array): RtpPacket {
  const result = parseRtp(bytes);
  if (!result.ok) throw new Error(`expected a packet, got ${result.reason}`);
  return result.packet;
}

function reason(bytes: Uint8Array): string {
  const result = parseRtp(bytes);
  assert.equal(result.ok, false, "expected a parse error");
  return result.ok ? "" : result.reason;
}

const payload = new Uint8Array([1, 2, 3, 4, 5, 6, 7]);
const fullPacket = writeRtp({
  marker: true,
  payloadType: 96,
  sequenceNumber: 0xfffe,
  timestamp: 0xfffffff0,
  ssrc: 0xdeadbeef,
  csrcs: [1, 0xffffffff],
  extension: writeOneByteExtensions([[1, new Uint8Array([0x9e])], [5, new Uint8Array([7, 8])]]),
  paddingLength: 3,
  payload,
});

Deno.test("rtp: minimal packet round trip with exact bytes", () => {
  const bytes = writeRtp({
    payloadType: 111,
    sequenceNumber: 0x1234,
    timestamp: 0x01020304,
    ssrc: 0xa0b0c0d0,
    payload: new Uint8Array([0xaa, 0xbb]),
  });
  assert.deepEqual(
    [...bytes],
    [0x80, 111, 0x12, 0x34, 1, 2, 3, 4, 0xa0, 0xb0, 0xc0, 0xd0, 0xaa, 0xbb],
  );
  const packet = parsed(bytes);
  assert.equal(packet.version, 2);
  assert.equal(packet.padding, false);
  assert.equal(packet.paddingLength, 0);
  assert.equal(packet.marker, false);
  assert.equal(packet.payloadType, 111);
  assert.equal(packet.sequenceNumber, 0x1234);
  assert.equal(packet.timestamp, 0x01020304);
  assert.equal(packet.ssrc, 0xa0b0c0d0);
  assert.deepEqual(packet.csrcs, []);
  assert.equal(packet.extension, null);
  assert.deepEqual([...packet.payload], [0xaa, 0xbb]);
});

Deno.test("rtp: full packet round trip (marker, CSRCs, extension, padding)", () => {
  const packet = parsed(fullPacket);
  assert.equal(packet.marker, true);
  assert.equal(packet.payloadType, 96);
  assert.equal(packet.sequenceNumber, 0xfffe);
  assert.equal(packet.timestamp, 0xfffffff0);
  assert.equal(packet.ssrc, 0xdeadbeef);
  assert.deepEqual(packet.csrcs, [1, 0xffffffff]);
  assert.equal(packet.padding, true);
  assert.equal(packet.paddingLength, 3);
  assert.equal(packet.extension?.profile, ONE_BYTE_EXTENSION_PROFILE);
  assert.equal(packet.extension?.data.length, 8); // 2 + 3 bytes padded to 8
  assert.deepEqual([...packet.payload], [...payload]);
  assert.equal(fullPacket.length, 12 + 8 + 4 + 8 + payload.length + 3);

  const again = writeRtp({ ...packet, paddingLength: packet.paddingLength });
  assert.deepEqual(again, fullPacket);
});

Deno.test("rtp: payload and extension are views, not copies", () => {
  const packet = parsed(fullPacket);
  assert.equal(packet.payload.buffer, fullPacket.buffer);
  assert.equal(packet.extension?.data.buffer, fullPacket.buffer);
});

Deno.test("rtp: parses a packet inside a larger buffer at an offset", () => {
  const big = new Uint8Array(fullPacket.length + 10);
  big.set(fullPacket, 5);
  const packet = parsed(big.subarray(5, 5 + fullPacket.length));
  assert.equal(packet.ssrc, 0xdeadbeef);
  assert.deepEqual([...packet.payload], [...payload]);
});

Deno.test("rtp: one-byte extension elements", () => {
  const extension = parsed(fullPacket).extension!;
  const elements = parseExtensionElements(extension)!;
  assert.deepEqual([...elements.keys()], [1, 5]);
  assert.deepEqual([...elements.get(1)!], [0x9e]);
  assert.deepEqual([...elements.get(5)!], [7, 8]);
});

Deno.test("rtp: extension elements: padding, id 15 stops, overflow, other profiles", () => {
  // padding byte, id 2 (1 byte), padding
  const padded = { profile: 0xbede, data: new Uint8Array([0, 0x20, 0x55, 0]) };
  assert.deepEqual([...parseExtensionElements(padded)!.entries()], [[2, new Uint8Array([0x55])]]);
  const stop = { profile: 0xbede, data: new Uint8Array([0x10, 0x01, 0xf0, 0x22]) };
  assert.deepEqual([...parseExtensionElements(stop)!.keys()], [1]);
  const overflow = { profile: 0xbede, data: new Uint8Array([0x13, 1, 2, 3]) }; // needs 4 bytes
  assert.equal(parseExtensionElements(overflow), null);
  assert.equal(parseExtensionElements({ profile: 0x1234, data: new Uint8Array(4) }), null);
});

Deno.test("rtp: two-byte extension elements (profile 0x1000)", () => {
  const data = new Uint8Array([7, 0, 200, 2, 9, 9, 0, 0]); // id 7 empty, id 200 two bytes
  const elements = parseExtensionElements({ profile: 0x1000, data })!;
  assert.equal(elements.get(7)!.length, 0);
  assert.deepEqual([...elements.get(200)!], [9, 9]);
  assert.equal(
    parseExtensionElements({ profile: 0x1000, data: new Uint8Array([1, 5, 0, 0]) }),
    null,
  );
});

Deno.test("rtp: writeOneByteExtensions rejects ids and lengths it cannot encode", () => {
  assert.throws(() => writeOneByteExtensions([[0, new Uint8Array(1)]]), RangeError);
  assert.throws(() => writeOneByteExtensions([[15, new Uint8Array(1)]]), RangeError);
  assert.throws(() => writeOneByteExtensions([[1, new Uint8Array(17)]]), RangeError);
  assert.throws(() => writeOneByteExtensions([[1, new Uint8Array(0)]]), RangeError);
});

Deno.test("rtp: writeRtp rejects fields it cannot encode", () => {
  const base = { payloadType: 96, sequenceNumber: 0, timestamp: 0, ssrc: 0, payload };
  assert.throws(() => writeRtp({ ...base, csrcs: new Array(16).fill(1) }), RangeError);
  assert.throws(() => writeRtp({ ...base, payloadType: 128 }), RangeError);
  assert.throws(() => writeRtp({ ...base, paddingLength: 256 }), RangeError);
  assert.throws(
    () => writeRtp({ ...base, extension: { profile: 1, data: new Uint8Array(3) } }),
    RangeError,
  );
});

Deno.test("rtp: truncation at every length is an error, never a throw", () => {
  // The header (fixed part, 2 CSRCs, extension) is 32 bytes: any cut inside it is an error.
  // A cut after it leaves a packet whose last byte is read as the padding count: either an
  // error or a shorter payload, never a throw.
  const headerSize = 12 + 8 + 12;
  for (let length = 0; length < fullPacket.length; length++) {
    const result = parseRtp(fullPacket.subarray(0, length));
    if (length < headerSize) assert.equal(result.ok, false, `length ${length} parsed`);
    else if (result.ok) assert.ok(result.packet.payload.length < payload.length);
  }
  assert.equal(reason(fullPacket.subarray(0, 11)), "short");
  assert.equal(reason(fullPacket.subarray(0, 12)), "csrc_overflow");
  assert.equal(reason(fullPacket.subarray(0, 20)), "extension_overflow");
  assert.equal(reason(fullPacket.subarray(0, 27)), "extension_overflow");
});

Deno.test("rtp: bad version, CSRC overflow, extension overflow, padding errors", () => {
  const minimal = writeRtp({ payloadType: 0, sequenceNumber: 0, timestamp: 0, ssrc: 0, payload });
  for (const version of [0, 1, 3]) {
    const bytes = minimal.slice();
    bytes[0] = (bytes[0] & 0x3f) | (version << 6);
    assert.equal(reason(bytes), "version");
  }
  const csrc = minimal.slice();
  csrc[0] |= 0x0f; // 15 CSRCs = 60 bytes, only 7 follow
  assert.equal(reason(csrc), "csrc_overflow");

  const ext = new Uint8Array(16);
  ext[0] = 0x90;
  ext[14] = 0x00;
  ext[15] = 0x01; // one word of extension data, none present
  assert.equal(reason(ext), "extension_overflow");

  const zeroPadding = minimal.slice();
  zeroPadding[0] |= 0x20;
  zeroPadding[zeroPadding.length - 1] = 0;
  assert.equal(reason(zeroPadding), "padding");
  const hugePadding = minimal.slice();
  hugePadding[0] |= 0x20;
  hugePadding[hugePadding.length - 1] = payload.length + 1;
  assert.equal(reason(hugePadding), "padding");
  const allPadding = minimal.slice();
  allPadding[0] |= 0x20;
  allPadding[allPadding.length - 1] = payload.length;
  assert.equal(parsed(allPadding).payload.length, 0);
});

Deno.test("rtp: seeded fuzz never throws and results stay in bounds", () => {
  const random = seededRandom(3550);
  let ok = 0;
  for (let i = 0; i < 20_000; i++) {
    let bytes: Uint8Array;
    if (i % 2 === 0) {
      bytes = randomBytes(random, Math.floor(random() * 80));
      if (bytes.length > 0 && random() < 0.7) bytes[0] = (bytes[0] & 0x3f) | 0x80;
    } else {
      bytes = fullPacket.slice(0, Math.floor(random() * (fullPacket.length + 1)));
      const flips = 1 + Math.floor(random() * 4);
      for (let f = 0; f < flips && bytes.length > 0; f++) {
        bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
      }
    }
    const result = parseRtp(bytes);
    if (result.ok) {
      ok++;
      const { payload, csrcs, paddingLength } = result.packet;
      assert.ok(payload.byteOffset + payload.length + paddingLength <= bytes.length);
      assert.ok(csrcs.length <= 15);
      if (result.packet.extension) parseExtensionElements(result.packet.extension);
    }
  }
  assert.ok(ok > 1000, `only ${ok} fuzz inputs parsed; the fuzz is not exercising the parser`);
});

Deno.test("rtp: setRtpSsrc rewrites only the SSRC, in place", () => {
  const bytes = fullPacket.slice();
  assert.equal(setRtpSsrc(bytes, 0x01020304), true);
  const packet = parsed(bytes);
  assert.equal(packet.ssrc, 0x01020304);
  const original = fullPacket.slice();
  original.set([1, 2, 3, 4], 8);
  assert.deepEqual(bytes, original);
  // Works on a view at an offset, and refuses short buffers.
  const big = new Uint8Array(40);
  big.set(fullPacket.subarray(0, 20), 10);
  assert.equal(setRtpSsrc(big.subarray(10, 30), 0xffffffff), true);
  assert.deepEqual([...big.subarray(18, 22)], [255, 255, 255, 255]);
  const short = new Uint8Array(11);
  assert.equal(setRtpSsrc(short, 5), false);
  assert.deepEqual([...short], new Array(11).fill(0));
});

Deno.test("rtp: sequence number and timestamp arithmetic wraps", () => {
  assert.equal(seqDiff(2, 65534), 4);
  assert.equal(seqDiff(65534, 2), -4);
  assert.equal(seqDiff(100, 100), 0);
  assert.equal(seqDiff(0x8000, 0), -0x8000);
  assert.equal(seqDiff(0x7fff, 0), 0x7fff);
  assert.equal(isNewerSeq(0, 65535), true);
  assert.equal(isNewerSeq(65535, 0), false);
  assert.equal(isNewerSeq(7, 7), false);
  assert.equal(timestampDiff(480, 0xffffffff - 479), 960);
  assert.equal(timestampDiff(0xffffffff - 479, 480), -960);
  assert.equal(timestampDiff(3000, 0), 3000);
});

Deno.test("rtp: isRtcp demultiplexes RTP and RTCP (RFC 5761)", () => {
  assert.equal(isRtcp(fullPacket), false);
  for (const pt of [192, 200, 201, 205, 206, 223]) {
    assert.equal(isRtcp(new Uint8Array([0x80, pt])), true);
  }
  for (const pt of [191, 224, 96, 111, 96 | 0x80]) {
    assert.equal(isRtcp(new Uint8Array([0x80, pt])), false);
  }
  assert.equal(isRtcp(new Uint8Array([0x80])), false);
  assert.equal(isRtcp(new Uint8Array([0x40, 200])), false);
});

Deno.test("rtp: project packet-size constants", () => {
  assert.equal(RTP_HEADER_SIZE, 12);
  assert.equal(MAX_PACKET_SIZE - RTP_HEADER_SIZE, 1188);
});
