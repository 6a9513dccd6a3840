import assert from "node:assert/strict";
import { writeRtp } from "../../media/rtp.ts";
import { PT_VP8 } from "../../protocol/media.ts";
import { Emitter } from "../../util/emitter.ts";
import type { ParticipantInfo } from "../../meeting/participant.ts";
import type { RtcpPacket } from "../../media/rtcp.ts";
import { deliverVideoFeedback, PageMedia, type VideoFeedbackTarget } from "./page_media.ts";
import type { MediaCarrier } from "./packet_mux.ts";
import { admitStream, MAX_SSRCS_COUNTED, MAX_UNKNOWN_STREAMS } from "./ssrc_admission.ts";

class FakeChannel extends Emitter<{ media: [Uint8Array] }> implements MediaCarrier {
  bufferedAmount = 0;
  sendBinary(): boolean {
    return true;
  }
}

Deno.test("PageMedia: a peer inventing SSRCs gets at most MAX_UNKNOWN_STREAMS receivers", async () => {
  const channel = new FakeChannel();
  const session = new PageMedia({
    channel,
    ssrcs: { audioSsrc: 1, videoSsrc: 2, smallVideoSsrc: 4, screenSsrc: 5, mixSsrc: 3 },
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

Deno.test("deliverVideoFeedback: PLI, NACK and REMB go to the encoding whose SSRC they name", () => {
  const calls: string[] = [];
  const sender: VideoFeedbackTarget = {
    requestKeyframe: () => void calls.push("full keyframe"),
    requestSmallKeyframe: () => void calls.push("small keyframe"),
    resend: (seqs) => (calls.push(`full resend ${seqs}`), seqs.length),
    resendSmall: (seqs) => (calls.push(`small resend ${seqs}`), seqs.length),
    setTargetBitrate: (bps) => void calls.push(`full ${bps}`),
    setSmallBitrate: (bps) => void calls.push(`small ${bps}`),
  };
  const ssrcs = { videoSsrc: 2, smallVideoSsrc: 4 };
  const deliver = (packet: RtcpPacket) => deliverVideoFeedback(packet, ssrcs, sender);
  assert.equal(deliver({ type: "pli", senderSsrc: 3, mediaSsrc: 2 }), true, "counted");
  assert.equal(deliver({ type: "pli", senderSsrc: 3, mediaSsrc: 4 }), false);
  deliver({ type: "pli", senderSsrc: 3, mediaSsrc: 20 }); // someone else's
  deliver({ type: "nack", senderSsrc: 3, mediaSsrc: 2, lost: [7, 8] });
  deliver({ type: "nack", senderSsrc: 3, mediaSsrc: 4, lost: [9] });
  deliver({ type: "nack", senderSsrc: 3, mediaSsrc: 20, lost: [1] });
  deliver({ type: "remb", senderSsrc: 3, bitrate: 500_000, ssrcs: [2] });
  deliver({ type: "remb", senderSsrc: 3, bitrate: 120_000, ssrcs: [4] });
  deliver({ type: "remb", senderSsrc: 3, bitrate: 0, ssrcs: [4] });
  deliver({ type: "remb", senderSsrc: 3, bitrate: 90_000, ssrcs: [20, 30] });
  deliver({ type: "remb", senderSsrc: 3, bitrate: 200_000, ssrcs: [4, 2] });
  assert.deepEqual(calls, [
    "full keyframe",
    "small keyframe",
    "full resend 7,8",
    "small resend 9",
    "full 500000",
    "small 120000",
    "small 0",
    "full 200000",
    "small 200000",
  ]);
  // The camera off: nothing to hand it to, and nothing breaks.
  assert.equal(
    deliverVideoFeedback({ type: "pli", senderSsrc: 3, mediaSsrc: 2 }, ssrcs, null),
    true,
  );
  deliverVideoFeedback({ type: "remb", senderSsrc: 3, bitrate: 1, ssrcs: [2, 4] }, ssrcs, null);
});

Deno.test("PageMedia: the debug stats show the small video encoding, off with the camera off", async () => {
  const session = new PageMedia({
    channel: new FakeChannel(),
    ssrcs: { audioSsrc: 1, videoSsrc: 2, smallVideoSsrc: 4, screenSsrc: 5, mixSsrc: 3 },
    selfId: "small",
    mic: false,
    camera: false,
  });
  try {
    await new Promise((r) => setTimeout(r, 300)); // one statistics tick
    const debug = (globalThis as {
      __meetStats?: { selfId: string; send: { smallVideo: Record<string, unknown> } };
    }).__meetStats!;
    assert.equal(debug.selfId, "small");
    assert.deepEqual(debug.send.smallVideo, {
      active: false,
      targetBitrate: 0,
      framesEncoded: 0,
      keyframes: 0,
      framesSkipped: 0,
      packetsResent: 0,
      fps: 0,
      bitrate: 0,
      width: 0,
      height: 0,
    });
    assert.equal(session.stats!.session.smallVideoSendBitrate, 0);
  } finally {
    session.close();
  }
});
