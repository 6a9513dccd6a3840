import assert from "node:assert/strict";
import { parseRtp } from "../../media/rtp.ts";
import { MAX_PACKET_SIZE } from "../../media/rtp.ts";
import { packetizeVp8 } from "../../media/vp8.ts";
import { readCaptureTime, readSendTime } from "../../protocol/media.ts";
import { MAX_PAYLOAD_WITH_CAPTURE_TIME, RtpStream, RtpTimeline } from "./rtp_stream.ts";

Deno.test("RtpStream: consecutive sequence numbers that wrap, the SSRC, the capture time", () => {
  const stream = new RtpStream({
    ssrc: 0xabcdef,
    payloadType: 111,
    clockRate: 48000,
    firstSequenceNumber: 0xffff,
  });
  const a = parseRtp(
    stream.packet({ timestamp: 960, payload: new Uint8Array(3), captureMs: 1e12 }),
  );
  const b = parseRtp(
    stream.packet({
      timestamp: 1920,
      payload: new Uint8Array(3),
      captureMs: 1e12 + 20,
      marker: true,
    }),
  );
  assert.ok(a.ok && b.ok);
  assert.equal(a.packet.sequenceNumber, 0xffff);
  assert.equal(b.packet.sequenceNumber, 0);
  assert.equal(a.packet.ssrc, 0xabcdef);
  assert.equal(a.packet.payloadType, 111);
  assert.equal(b.packet.marker, true);
  assert.equal(readCaptureTime(a.packet.extension), 1e12);
  assert.equal(readCaptureTime(b.packet.extension), 1e12 + 20);
  assert.equal(stream.packets, 2);
  stream.ssrc = 7; // a re-join may assign another
  const c = parseRtp(stream.packet({ timestamp: 0, payload: new Uint8Array(1), captureMs: 0 }));
  assert.ok(c.ok && c.packet.ssrc === 7);
});

Deno.test("RtpStream: a full VP8 payload with the capture and send times fits in 1200 bytes", () => {
  assert.equal(MAX_PAYLOAD_WITH_CAPTURE_TIME, 1168);
  const stream = new RtpStream({ ssrc: 1, payloadType: 96, clockRate: 90000 });
  const payloads = packetizeVp8(new Uint8Array(10_000), {
    maxPayloadSize: MAX_PAYLOAD_WITH_CAPTURE_TIME,
    pictureId: 1,
  });
  for (const payload of payloads) {
    const bytes = stream.packet({
      timestamp: 0,
      payload,
      captureMs: Date.now(),
      sendMs: 123_456.5,
    });
    assert.ok(bytes.length <= MAX_PACKET_SIZE, `${bytes.length} bytes`);
    const parsed = parseRtp(bytes);
    assert.ok(parsed.ok && readSendTime(parsed.packet.extension) === 123_456.5);
  }
});

Deno.test("RtpTimeline: contiguous frames, then the time that passed across a restart", () => {
  const timeline = new RtpTimeline(48000, 1000);
  assert.equal(timeline.contiguous(960, 0), 1000);
  assert.equal(timeline.contiguous(960, 20), 1960);
  assert.equal(timeline.contiguous(960, 45), 2920, "capture jitter does not move timestamps");
  timeline.restart(); // mic off for 5 s
  assert.equal(timeline.contiguous(960, 5045), 2920 + 5 * 48000);
  timeline.restart(); // off and on at once: never backwards
  assert.equal(timeline.contiguous(960, 5045), 2920 + 5 * 48000 + 960);
  // Wrap-around.
  const wrapping = new RtpTimeline(90000, 0xffffffff - 100);
  assert.equal(wrapping.at(0), 0xffffffff - 100);
  assert.equal(wrapping.at(10), (0xffffffff - 100 + 900) >>> 0);
});
