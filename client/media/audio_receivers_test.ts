import assert from "node:assert/strict";
import { FakeDecoder, opusPacket as packet, withFakeAudioDecoder } from "./_testing.ts";
import type { PlaybackSink } from "./audio_receiver.ts";
import { AudioReceivers } from "./audio_receivers.ts";
import { MAX_UNKNOWN_STREAMS } from "./ssrc_admission.ts";

/** A sink that records what it was given. */
function recordingSink() {
  const frames: { ssrc: number; rtpTimestamp: number; recovered: boolean }[] = [];
  const removed: number[] = [];
  const sink: PlaybackSink = {
    push(ssrc, rtpTimestamp, _samples, _captureMs, recovered = false) {
      frames.push({ ssrc, rtpTimestamp, recovered });
    },
    removeStream(ssrc) {
      removed.push(ssrc);
    },
  };
  return { sink, frames, removed };
}

Deno.test("AudioReceivers: the mix plays; our own stream and anything before a playback exists do not", () => {
  withFakeAudioDecoder(() => {
    const audio = new AudioReceivers();
    audio.setKnown([3], 1);
    audio.receive(packet(3, 1), 0); // no playback yet: dropped
    const { sink, frames } = recordingSink();
    audio.setPlayback(sink);
    audio.receive(packet(1, 1), 0); // our own
    audio.receive(packet(3, 10), 20);
    audio.receive(packet(3, 12, true), 60); // 11 lost, its copy comes with 12
    assert.deepEqual(frames.map((f) => [f.ssrc, f.rtpTimestamp, f.recovered]), [
      [3, 10 * 960, false],
      [3, 11 * 960, true],
      [3, 12 * 960, false],
    ]);
    assert.deepEqual(audio.stats(100).map((s) => [s.ssrc, s.packets, s.recovered]), [[3, 2, 1]]);
    audio.close();
  });
});

Deno.test("AudioReceivers: who left is closed and counted; unknown streams are capped", () => {
  withFakeAudioDecoder(() => {
    const audio = new AudioReceivers();
    const { sink, removed } = recordingSink();
    audio.setPlayback(sink);
    audio.setKnown([3, 10], 1);
    audio.receive(packet(10, 1), 0);
    audio.receive(packet(10, 3, true), 40); // recovers 2
    for (let ssrc = 100; ssrc < 110; ssrc++) audio.receive(packet(ssrc, 1), 0);
    assert.equal(audio.stats(50).length, 1 + MAX_UNKNOWN_STREAMS);
    audio.setKnown([3], 1); // 10 left; the unknown ones go too
    assert.deepEqual(audio.stats(60), []);
    assert.ok(removed.includes(10));
    assert.equal(audio.closedTotals.recovered, 1);
    audio.close();
  });
});

Deno.test("AudioReceivers: a new playback starts every stream over; report blocks name the streams", () => {
  withFakeAudioDecoder(() => {
    const audio = new AudioReceivers();
    audio.setKnown([3], 1);
    const first = recordingSink();
    audio.setPlayback(first.sink);
    for (let seq = 1; seq <= 5; seq++) audio.receive(packet(3, seq), seq * 20);
    let blocks: number[] = [];
    audio.reportBlocks(200, (made) => blocks = made.map((b) => b.ssrc));
    assert.deepEqual(blocks, [3], "handed over at once");
    const second = recordingSink();
    audio.setPlayback(second.sink);
    assert.deepEqual(first.removed, [3]);
    assert.deepEqual(audio.stats(220), []);
    audio.receive(packet(3, 6), 240);
    assert.equal(second.frames.length, 1);
    assert.equal(FakeDecoder.chunks, 6);
    audio.close();
    audio.receive(packet(3, 7), 260);
    assert.equal(second.frames.length, 1, "nothing after close");
  });
});
