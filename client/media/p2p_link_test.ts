import assert from "node:assert/strict";
import { MAX_MEDIA_PACKET_BYTES } from "./packet_mux.ts";
import { P2pLink } from "./p2p_link.ts";
import {
  MAX_REMOTE_CANDIDATES,
  MAX_SIGNAL_CANDIDATE_LENGTH,
  MAX_SIGNAL_SDP_LENGTH,
  parseSignal,
} from "./signal_data.ts";

/** What P2pLink does to the peer connection, recorded. */
class FakePeerConnection {
  static last: FakePeerConnection;
  remoteDescriptions: unknown[] = [];
  candidates: unknown[] = [];
  remoteDescription: unknown = null;
  localDescription = { toJSON: () => ({ type: "answer", sdp: "v=0\r\n" }) };
  connectionState = "new";
  channel = {
    binaryType: "",
    readyState: "open",
    bufferedAmount: 0,
    onopen: null as null | (() => void),
    onclose: null as null | (() => void),
    onmessage: null as null | ((e: { data: unknown }) => void),
    send() {},
    close() {},
  };
  onicecandidate: unknown = null;
  onconnectionstatechange: unknown = null;
  constructor() {
    FakePeerConnection.last = this;
  }
  createDataChannel() {
    return this.channel;
  }
  setRemoteDescription(d: unknown) {
    this.remoteDescriptions.push(d);
    this.remoteDescription = d;
    return Promise.resolve();
  }
  addIceCandidate(c: unknown) {
    this.candidates.push(c);
    return Promise.resolve();
  }
  createAnswer() {
    return Promise.resolve({ type: "answer", sdp: "v=0\r\n" });
  }
  setLocalDescription() {
    return Promise.resolve();
  }
  close() {}
}

function withFakePeerConnection(fn: () => Promise<void>): () => Promise<void> {
  return async () => {
    const g = globalThis as { RTCPeerConnection?: unknown };
    const saved = g.RTCPeerConnection;
    g.RTCPeerConnection = FakePeerConnection;
    try {
      await fn();
    } finally {
      g.RTCPeerConnection = saved;
    }
  };
}

/** The answering side (the larger id), so that the link makes no offer of its own. */
function answerer(): { link: P2pLink; pc: FakePeerConnection; sent: unknown[] } {
  const sent: unknown[] = [];
  const link = new P2pLink({ selfId: "b", peerId: "a", signal: (d) => sent.push(d) });
  return { link, pc: FakePeerConnection.last, sent };
}

const offer = { kind: "description", description: { type: "offer", sdp: "v=0\r\n" } };

Deno.test(
  "P2pLink: descriptions of another shape or over MAX_SIGNAL_SDP_LENGTH never reach the peer connection",
  withFakePeerConnection(async () => {
    const { link, pc } = answerer();
    const bad = [
      {
        kind: "description",
        description: { type: "offer", sdp: "x".repeat(MAX_SIGNAL_SDP_LENGTH + 1) },
      },
      { kind: "description", description: { type: "rollback", sdp: "" } },
      { kind: "description", description: { type: "offer", sdp: 42 } },
      { kind: "description", description: "v=0" },
      { kind: "description" },
      {
        kind: "description",
        description: { type: "offer", sdp: "v=0", extra: { deep: [] } },
        x: 1,
      },
    ];
    for (const data of bad.slice(0, 5)) await link.handleSignal(data);
    assert.equal(pc.remoteDescriptions.length, 0);
    assert.equal(link.isOpen, true, "ignored, not fatal");
    // A good one passes, with only the fields the connection needs.
    await link.handleSignal(bad[5]);
    assert.deepEqual(pc.remoteDescriptions, [{ type: "offer", sdp: "v=0" }]);
    link.close();
  }),
);

Deno.test(
  "P2pLink: at most MAX_REMOTE_CANDIDATES remote candidates, held or added; bad ones ignored",
  withFakePeerConnection(async () => {
    const { link, pc } = answerer();
    const candidate = (i: number) => ({
      kind: "candidate",
      candidate: { candidate: `candidate:${i} 1 udp 1 10.0.0.${i % 250} 9 typ host`, sdpMid: "0" },
    });
    // Before the description they are held: a flood must not grow the pending list forever.
    for (let i = 0; i < 1000; i++) await link.handleSignal(candidate(i));
    await link.handleSignal({
      kind: "candidate",
      candidate: { candidate: "x".repeat(MAX_SIGNAL_CANDIDATE_LENGTH + 1) },
    });
    await link.handleSignal({
      kind: "candidate",
      candidate: { candidate: "c", sdpMLineIndex: -1 },
    });
    await link.handleSignal({ kind: "candidate", candidate: 7 });
    await link.handleSignal(offer);
    for (let i = 1000; i < 1100; i++) await link.handleSignal(candidate(i));
    assert.equal(pc.candidates.length, MAX_REMOTE_CANDIDATES);
    link.close();
  }),
);

Deno.test(
  "P2pLink: a data channel message longer than MAX_MEDIA_PACKET_BYTES is dropped",
  withFakePeerConnection(() => {
    const { link, pc } = answerer();
    const got: number[] = [];
    link.on("packet", (bytes) => got.push(bytes.length));
    pc.channel.onmessage!({ data: new ArrayBuffer(256 * 1024) });
    pc.channel.onmessage!({ data: new ArrayBuffer(MAX_MEDIA_PACKET_BYTES) });
    pc.channel.onmessage!({ data: "text" });
    assert.deepEqual(got, [MAX_MEDIA_PACKET_BYTES]);
    link.close();
    return Promise.resolve();
  }),
);

Deno.test("parseSignal: shapes and limits", () => {
  assert.deepEqual(parseSignal({ kind: "candidate", candidate: null }), {
    kind: "candidate",
    candidate: null,
  });
  assert.deepEqual(
    parseSignal({
      kind: "candidate",
      candidate: { candidate: "c", sdpMid: "0", sdpMLineIndex: 0, usernameFragment: "u" },
    }),
    {
      kind: "candidate",
      candidate: { candidate: "c", sdpMid: "0", sdpMLineIndex: 0, usernameFragment: "u" },
    },
  );
  for (
    const bad of [
      null,
      "x",
      [],
      { kind: "other" },
      { kind: "candidate", candidate: { candidate: "c", sdpMid: "x".repeat(257) } },
      { kind: "candidate", candidate: { candidate: "c", sdpMLineIndex: 1.5 } },
      { kind: "candidate", candidate: { candidate: "c", usernameFragment: 3 } },
      { kind: "description", description: { type: "answer", sdp: null } },
    ]
  ) {
    assert.equal(parseSignal(bad), null, JSON.stringify(bad));
  }
});
