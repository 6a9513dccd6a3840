import assert from "node:assert/strict";
import { writeRtp } from "../../media/rtp.ts";
import { PT_VP8 } from "../../protocol/media.ts";
import { Emitter } from "../../util/emitter.ts";
import type { ParticipantInfo } from "../../meeting/participant.ts";
import { MediaSession } from "./media_session.ts";
import type { BinaryChannel } from "./media_transport.ts";
import { admitStream, MAX_SSRCS_COUNTED, MAX_UNKNOWN_STREAMS } from "./ssrc_admission.ts";

class FakeChannel extends Emitter<{ media: [Uint8Array] }> implements BinaryChannel {
  bufferedAmount = 0;
  sendBinary(): boolean {
    return true;
  }
}

Deno.test("MediaSession: a peer inventing SSRCs gets at most MAX_UNKNOWN_STREAMS receivers", async () => {
  const channel = new FakeChannel();
  const session = new MediaSession({
    channel,
    ssrcs: { audioSsrc: 1, videoSsrc: 2, smallVideoSsrc: 4, mixSsrc: 3 },
    selfId: "me",
    mic: false,
    camera: false,
  });
  try {
    session.setRoster([
      { id: "me", videoSsrc: 2, audioSsrc: 1 },
      { id: "peer", videoSsrc: 20, audioSsrc: 10 },
    ] as unknown as ParticipantInfo[]);
    const packet = (ssrc: number) =>
      writeRtp({
        payloadType: PT_VP8,
        sequenceNumber: 1,
        timestamp: 1,
        ssrc,
        payload: new Uint8Array([0x10, 0, 0, 0]),
      });
    channel.emit("media", packet(20)); // the peer's own video
    for (let ssrc = 1000; ssrc < 3000; ssrc++) channel.emit("media", packet(ssrc));
    await new Promise((r) => setTimeout(r, 300)); // one statistics tick
    const remote = Object.keys(session.stats!.remote);
    assert.ok(remote.includes("peer"));
    assert.equal(remote.length, 1 + MAX_UNKNOWN_STREAMS);
    const debug = (globalThis as { __meetStats?: { ssrcs: object } }).__meetStats!;
    assert.equal(Object.keys(debug.ssrcs).length, MAX_SSRCS_COUNTED);
  } finally {
    session.close();
  }
});

Deno.test("admitStream: known SSRCs always, unknown ones up to the cap", () => {
  const known = (ssrc: number) => ssrc < 10;
  const held = new Map<number, true>([[1, true], [2, true], [100, true]]);
  assert.equal(admitStream(3, held, known, 2), true, "known");
  assert.equal(admitStream(100, held, known, 2), true, "already held");
  assert.equal(admitStream(101, held, known, 2), true, "one unknown held, cap 2");
  held.set(101, true);
  assert.equal(admitStream(102, held, known, 2), false);
  assert.equal(admitStream(4, held, known, 2), true, "known ones still come in");
});
