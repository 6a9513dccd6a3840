import assert from "node:assert/strict";
import { splitRed, writeRedPayload } from "./red.ts";
import { parseRtp, writeRtp } from "./rtp.ts";

function packet(payload: Uint8Array, seq = 0, timestamp = 960) {
  const parsed = parseRtp(
    writeRtp({ payloadType: 63, sequenceNumber: seq, timestamp, ssrc: 9, payload }),
  );
  assert.ok(parsed.ok);
  return parsed.packet;
}

Deno.test("RED: the previous frame and the primary come back as the packets they were, across a sequence and timestamp wrap", () => {
  const previous = new Uint8Array(300).fill(7);
  const primary = new Uint8Array(80).fill(9);
  const p = packet(
    writeRedPayload(111, primary, { payload: previous, timestampOffset: 960 }),
    0,
    500,
  );
  const [a, b] = splitRed(p)!;
  assert.equal(a.sequenceNumber, 65535);
  assert.equal(a.timestamp, (500 - 960) >>> 0);
  assert.equal(a.payloadType, 111);
  assert.deepEqual(a.payload, previous);
  assert.equal(a.extension, null);
  assert.equal(b.sequenceNumber, 0);
  assert.equal(b.timestamp, 500);
  assert.deepEqual(b.payload, primary);
});

Deno.test("RED: without a previous frame, or one that cannot be carried, the primary goes alone", () => {
  for (
    const redundant of [undefined, { payload: new Uint8Array(1024), timestampOffset: 960 }, {
      payload: Uint8Array.of(1),
      timestampOffset: 0x4000,
    }]
  ) {
    const parts = splitRed(packet(writeRedPayload(111, Uint8Array.of(1, 2, 3), redundant)))!;
    assert.equal(parts.length, 1);
    assert.deepEqual(parts[0].payload, Uint8Array.of(1, 2, 3));
  }
});

Deno.test("RED: malformed payloads are refused, not read past their end", () => {
  assert.equal(splitRed(packet(new Uint8Array(0))), null);
  assert.equal(splitRed(packet(Uint8Array.of(0x80 | 111, 0, 0))), null); // a cut block header
  assert.equal(splitRed(packet(Uint8Array.of(0x80 | 111, 15, 0, 200, 111, 1, 2))), null); // block past the end
  assert.equal(splitRed(packet(new Uint8Array(40).fill(0xff))), null); // headers only
  assert.ok(splitRed(packet(Uint8Array.of(111))));
});
