import assert from "node:assert/strict";
import { type RtcpPacket, writePli } from "../../media/rtcp.ts";
import { type RtpPacket, writeRtp } from "../../media/rtp.ts";
import { Emitter } from "../../util/emitter.ts";
import {
  CONGESTION_BYTES,
  MAX_MEDIA_PACKET_BYTES,
  type MediaCarrier,
  PacketMux,
} from "./packet_mux.ts";

class FakeChannel extends Emitter<{ media: [Uint8Array] }> implements MediaCarrier {
  sent: Uint8Array[] = [];
  open = true;
  bufferedAmount = 0;
  sendBinary(bytes: Uint8Array): boolean {
    if (!this.open) return false;
    this.sent.push(bytes);
    return true;
  }
}

Deno.test("PacketMux: demultiplexes RTP and RTCP, counts, drops garbage", () => {
  const channel = new FakeChannel();
  const rtp: RtpPacket[] = [];
  const rtcp: RtcpPacket[][] = [];
  const transport = new PacketMux(channel, {
    onRtp: (p) => rtp.push(p),
    onRtcp: (p) => rtcp.push(p),
  });
  channel.emit(
    "media",
    writeRtp({
      payloadType: 96,
      sequenceNumber: 5,
      timestamp: 1,
      ssrc: 9,
      payload: new Uint8Array(4),
    }),
  );
  channel.emit("media", writePli({ senderSsrc: 1, mediaSsrc: 2 }));
  channel.emit("media", new Uint8Array([1, 2, 3]));
  assert.equal(rtp.length, 1);
  assert.equal(rtp[0].sequenceNumber, 5);
  assert.deepEqual(rtcp, [[{ type: "pli", senderSsrc: 1, mediaSsrc: 2 }]]);
  assert.equal(transport.stats.packetsReceived, 3);
  assert.equal(transport.stats.malformed, 1);

  assert.equal(transport.send(new Uint8Array(10)), true);
  channel.open = false;
  assert.equal(transport.send(new Uint8Array(10)), false);
  assert.deepEqual(
    [transport.stats.packetsSent, transport.stats.bytesSent, transport.stats.sendFailures],
    [1, 10, 1],
  );
  assert.equal(transport.congested, false);
  channel.bufferedAmount = CONGESTION_BYTES + 1;
  assert.equal(transport.congested, true);

  transport.close();
  channel.emit("media", writePli({ senderSsrc: 1, mediaSsrc: 2 }));
  assert.equal(rtcp.length, 1, "nothing after close");
  channel.open = true;
  assert.equal(transport.send(new Uint8Array(1)), false);
});

Deno.test("PacketMux: a packet longer than MAX_MEDIA_PACKET_BYTES is dropped unread", () => {
  const channel = new FakeChannel();
  const rtp: RtpPacket[] = [];
  const transport = new PacketMux(channel, { onRtp: (p) => rtp.push(p), onRtcp: () => {} });
  const packet = (size: number) =>
    writeRtp({
      payloadType: 96,
      sequenceNumber: 1,
      timestamp: 1,
      ssrc: 9,
      payload: new Uint8Array(size - 12),
    });
  channel.emit("media", packet(MAX_MEDIA_PACKET_BYTES));
  // What a P2P peer's data channel can deliver: 256 KiB.
  channel.emit("media", packet(256 * 1024));
  channel.emit("media", packet(MAX_MEDIA_PACKET_BYTES + 1));
  assert.equal(rtp.length, 1);
  assert.equal(rtp[0].payload.length, MAX_MEDIA_PACKET_BYTES - 12);
  assert.equal(transport.stats.oversized, 2);
  assert.equal(transport.stats.malformed, 0);
  transport.close();
});
