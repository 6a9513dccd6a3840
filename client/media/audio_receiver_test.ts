import assert from "node:assert/strict";
import { writeRtp } from "../../media/rtp.ts";
import { parseRtp } from "../../media/rtp.ts";
import { PT_OPUS } from "../../protocol/media.ts";
import type { AudioPlayback } from "./audio_playback.ts";
import { AudioReceiver } from "./audio_receiver.ts";

/** An Opus decoder that records the chunks it is given. */
class FakeDecoder {
  static chunks = 0;
  state = "unconfigured";
  configure() {
    this.state = "configured";
  }
  decode() {
    FakeDecoder.chunks++;
  }
  close() {
    this.state = "closed";
  }
}

Deno.test("AudioReceiver: decodes only 20 ms Opus packets (TOC byte), as the mixer does", () => {
  const g = globalThis as Record<string, unknown>;
  const saved = { decoder: g.AudioDecoder, chunk: g.EncodedAudioChunk };
  g.AudioDecoder = FakeDecoder;
  g.EncodedAudioChunk = class {
    constructor(readonly init: unknown) {}
  };
  FakeDecoder.chunks = 0;
  const receiver = new AudioReceiver({
    ssrc: 7,
    playback: { removeStream() {}, push() {} } as unknown as AudioPlayback,
  });
  try {
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
  } finally {
    receiver.close();
    g.AudioDecoder = saved.decoder;
    g.EncodedAudioChunk = saved.chunk;
  }
});
