import assert from "node:assert/strict";
import { writeRtp } from "../../media/rtp.ts";
import { parseRtp } from "../../media/rtp.ts";
import { captureTimeExtension, PT_OPUS } from "../../protocol/media.ts";
import type { AudioPlayback } from "./audio_playback.ts";
import { AudioReceiver } from "./audio_receiver.ts";
import { FakeDecoder, withFakeAudioDecoder } from "./_testing.ts";

/** Runs `fn` with an AudioReceiver of `ssrc` whose decoder is a {@linkcode FakeDecoder}. */
function withReceiver(
  ssrc: number,
  fn: (receiver: AudioReceiver) => void,
  push: (ssrc: number, rtpTimestamp: number, pcm: Float32Array, captureMs: number | null) => void =
    () => {},
): void {
  withFakeAudioDecoder(() => {
    const receiver = new AudioReceiver({
      ssrc,
      playback: { removeStream() {}, push } as unknown as AudioPlayback,
    });
    try {
      fn(receiver);
    } finally {
      receiver.close();
    }
  });
}

Deno.test("AudioReceiver: decodes only 20 ms Opus packets (TOC byte), as the mixer does", () => {
  withReceiver(7, (receiver) => {
    let seq = 0;
    const receive = (payload: number[]) => {
      const bytes = writeRtp({
        payloadType: PT_OPUS,
        sequenceNumber: seq++,
        timestamp: seq * 960,
        ssrc: 7,
        payload: new Uint8Array(payload),
      });
      const parsed = parseRtp(bytes);
      assert.ok(parsed.ok);
      receiver.receive(parsed.packet, seq * 20);
    };
    receive([0xf8, 0xff, 0xfe]); // CELT 20 ms: decoded
    receive([(31 << 3) | 3, 6, 0]); // 6 x 20 ms = 120 ms
    receive([(3 << 3) | 0, 0]); // SILK 60 ms
    receive([(31 << 3) | 1, 0]); // two 20 ms frames: 40 ms
    receive([(31 << 3) | 3]); // code 3 without its count byte
    receive([]); // empty
    receive([0x08, 0x00]); // SILK 20 ms: decoded
    assert.equal(FakeDecoder.chunks, 2);
    const stats = receiver.stats(200);
    assert.equal(stats.notTwentyMs, 5);
    assert.equal(stats.packets, 7, "all counted for the reception figures");
  });
});

Deno.test("AudioReceiver: a sender that starts its sequence over (far behind) is followed after two packets in a row, not dropped as stale for good", () => {
  withReceiver(9, (receiver) => {
    const receive = (seq: number, i: number) => {
      const parsed = parseRtp(writeRtp({
        payloadType: PT_OPUS,
        sequenceNumber: seq & 0xffff,
        timestamp: (seq * 960) >>> 0,
        ssrc: 9,
        payload: new Uint8Array([0xf8, 0xff, 0xfe]),
      }));
      assert.ok(parsed.ok);
      receiver.receive(parsed.packet, i * 20);
    };
    let i = 0;
    for (let seq = 40_000; seq < 40_050; seq++) receive(seq, i++);
    assert.equal(FakeDecoder.chunks, 50);
    // The stream starts over 20,000 behind: one stray packet alone is held back...
    receive(20_000, i++);
    assert.equal(FakeDecoder.chunks, 50);
    receive(40_050, i++); // ...and the stream goes on where it was
    assert.equal(FakeDecoder.chunks, 51);
    // Two in a row out of range: the sender started over; everything after is decoded.
    for (let seq = 20_000; seq < 20_050; seq++) receive(seq, i++);
    assert.ok(
      FakeDecoder.chunks >= 51 + 48,
      `${FakeDecoder.chunks - 51} of 50 decoded after the restart`,
    );
    assert.equal(receiver.stats(i * 20).restarts, 1);
    // Duplicates are still dropped after the restart.
    const before = FakeDecoder.chunks;
    receive(20_049, i++);
    assert.equal(FakeDecoder.chunks, before);
  });
});

Deno.test("AudioReceiver: after a lost packet, each decoded frame goes to the playout at its own RTP timestamp with its own capture time, though the decoder stamps its outputs without the gap", () => {
  const pushed: { rtp: number; captureMs: number | null }[] = [];
  withReceiver(11, (receiver) => {
    for (const seq of [100, 101, 103, 104, 107]) { // 102, 105 and 106 lost
      const parsed = parseRtp(writeRtp({
        payloadType: PT_OPUS,
        sequenceNumber: seq,
        timestamp: 5000 + seq * 960,
        ssrc: 11,
        payload: new Uint8Array([0xf8, 0xff, 0xfe]),
        extension: captureTimeExtension(1_000 + seq * 20),
      }));
      assert.ok(parsed.ok);
      receiver.receive(parsed.packet, 2_000 + seq * 20);
    }
  }, (_ssrc, rtp, _pcm, captureMs) => pushed.push({ rtp, captureMs }));
  assert.deepEqual(
    pushed,
    [100, 101, 103, 104, 107].map((seq) => ({
      rtp: 5000 + seq * 960,
      captureMs: 1_000 + seq * 20,
    })),
  );
});

Deno.test("AudioReceiver: a frame lost in the network is taken from the redundant copy (RED) in the packet after it, in its place", () => {
  const pushed: number[] = [];
  withReceiver(12, (receiver) => {
    const packet = (seq: number) => {
      const parsed = parseRtp(writeRtp({
        payloadType: PT_OPUS,
        sequenceNumber: seq,
        timestamp: seq * 960,
        ssrc: 12,
        payload: new Uint8Array([0xf8, 0xff, 0xfe]),
      }));
      assert.ok(parsed.ok);
      return parsed.packet;
    };
    // Each packet carries the frame before it again, first (media/red.ts).
    for (const seq of [1, 2, 4, 5]) { // 3 is lost
      receiver.receive(packet(seq - 1), seq * 20, true);
      receiver.receive(packet(seq), seq * 20);
    }
    const stats = receiver.stats(100);
    assert.equal(stats.recovered, 1, "frame 3, from packet 4");
  }, (_ssrc, rtp) => pushed.push(rtp / 960));
  assert.deepEqual(pushed, [1, 2, 3, 4, 5]);
});

Deno.test("AudioReceiver: a frame whose packet and copy were both lost counts as unrecovered once the stream is past it; a late or repaired one does not", () => {
  withReceiver(13, (receiver) => {
    const packet = (seq: number) => {
      const parsed = parseRtp(writeRtp({
        payloadType: PT_OPUS,
        sequenceNumber: seq & 0xffff,
        timestamp: (seq * 960) >>> 0,
        ssrc: 13,
        payload: new Uint8Array([0xf8, 0xff, 0xfe]),
      }));
      assert.ok(parsed.ok);
      return parsed.packet;
    };
    // Across the sequence number's wrap. 65_538 is lost with its copy (65_539 is lost too, but
    // its copy came); 65_540 comes late, after 65_542; 65_541 comes in its own packet only.
    const sent = [65_534, 65_535, 65_536, 65_537, 65_541, 65_542, 65_540];
    for (const seq of sent) {
      if (seq === 65_541) receiver.receive(packet(65_539), seq * 20, true);
      receiver.receive(packet(seq), seq * 20);
    }
    assert.equal(receiver.stats(0).unrecovered, 0, "still awaited within the reorder window");
    for (let seq = 65_543; seq < 65_560; seq++) receiver.receive(packet(seq), seq * 20);
    const stats = receiver.stats(0);
    assert.equal(stats.unrecovered, 1, "65_538 only");
    assert.equal(stats.recovered, 1, "65_539, from the copy in 65_541's packet");
    // A jump over a thousand packets (65_560 to 66_559) counts them all, at once.
    receiver.receive(packet(66_560), 66_560 * 20);
    for (let seq = 66_561; seq < 66_575; seq++) receiver.receive(packet(seq), seq * 20);
    assert.equal(receiver.stats(0).unrecovered, 1 + 1000);
  });
});
