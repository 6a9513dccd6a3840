import assert from "node:assert/strict";
import { writeRtp } from "../media/rtp.ts";
import type { JoinReply } from "../protocol/control.ts";
import { PT_OPUS, PT_VP8 } from "../protocol/media.ts";
import { ManualClock } from "../util/clock.ts";
import { fakeCodecs, FakeSocket, FakeTransport } from "./_testing.ts";
import { ControlConnection } from "./control_connection.ts";
import { Hub } from "./hub.ts";
import { Consent } from "./media_consent.ts";
import { MediaClock } from "./media_clock.ts";
import { Records } from "./records.ts";
import { UdpTransport } from "./udp_transport.ts";
import { WebSocketTransport } from "./websocket_transport.ts";

Deno.test("WebSocket transport: sends through its socket until closed; close fires once; queuedBytes is the socket's", () => {
  const sent: Uint8Array[] = [];
  let queued = 0;
  const transport = new WebSocketTransport({
    send: (p) => sent.push(p),
    queuedBytes: () => queued,
    backlogMs: () => 0,
  });
  let closes = 0;
  transport.onClose(() => closes++);
  transport.send(new Uint8Array([1]));
  queued = 1234;
  assert.equal(transport.queuedBytes(), 1234);
  transport.close();
  transport.close();
  transport.send(new Uint8Array([2]));
  assert.deepEqual(sent, [new Uint8Array([1])]);
  assert.equal(closes, 1);
  assert.equal(transport.kind, "websocket");
  let late = 0;
  transport.onClose(() => late++);
  assert.equal(late, 1, "a listener added after the close is called at once");
});

Deno.test("UDP transport: sends only with consent, mapped to a plain-RTP tool's payload types; queuedBytes is 0", () => {
  const clock = new ManualClock(0);
  const consent = new Consent(clock, { consentMs: 10_000 });
  const sent: [Uint8Array, number][] = [];
  const counters = { withheldNoConsent: 0 };
  const transport = new UdpTransport({
    address: { ip: "127.0.0.1", port: 40000 },
    destination: { transport: "udp", hostname: "127.0.0.1", port: 40002 },
    payloadTypes: { audio: 100 },
    consent,
    send: (packet, to) => sent.push([packet, to.port]),
    counters,
  });
  const opus = writeRtp({
    payloadType: PT_OPUS,
    sequenceNumber: 1,
    timestamp: 0,
    ssrc: 9,
    payload: new Uint8Array(3),
  });
  const vp8 = writeRtp({
    payloadType: PT_VP8,
    sequenceNumber: 1,
    timestamp: 0,
    ssrc: 9,
    payload: new Uint8Array(3),
  });
  transport.send(opus);
  assert.equal(sent.length, 0, "no consent yet: nothing goes");
  assert.equal(counters.withheldNoConsent, 1);
  consent.refresh();
  transport.send(opus);
  transport.send(vp8); // they asked for no video
  assert.equal(sent.length, 1);
  assert.equal(sent[0][0][1] & 0x7f, 100, "their payload type");
  assert.equal(opus[1] & 0x7f, PT_OPUS, "the shared packet is not changed");
  assert.equal(sent[0][1], 40002, "to the destination (receivePort)");
  assert.equal(transport.queuedBytes(), 0);
  clock.advance(10_001);
  transport.send(opus);
  assert.equal(sent.length, 1, "consent lapsed");
  consent.refresh();
  transport.close();
  transport.send(opus);
  assert.equal(sent.length, 1, "closed");
});

function hubSetup() {
  const clock = new ManualClock(1_700_000_000_000);
  const mediaClock = new MediaClock(new ManualClock(0));
  const hub = new Hub({
    records: Records.open(":memory:"),
    codecs: fakeCodecs,
    clock,
    mediaClock,
    p2p: "off",
  });
  let id = 0;
  const connect = (name: string, token?: string) => {
    const socket = new FakeSocket();
    const connection = new ControlConnection(socket, hub, "127.0.0.1");
    const request = (type: string, fields: Record<string, unknown> = {}) => {
      const rid = ++id;
      connection.receive(JSON.stringify({ id: rid, type, ...fields }));
      const answer = (socket.text as Record<string, unknown>[]).find((m) => m.id === rid)!;
      if (answer.type === "error") throw new Error(String(answer.code));
      return answer.result as Record<string, unknown>;
    };
    const identity = request("identify", token ? { token } : { name }) as { token: string };
    return { socket, connection, request, token: identity.token };
  };
  return { hub, connect, mediaClock };
}

Deno.test("control connection: owns a WebSocket transport once joined; closing it stops media on the socket, not the connection", () => {
  const { hub, connect } = hubSetup();
  try {
    const ann = connect("Ann");
    const { meeting } = ann.request("create", { title: "T" }) as { meeting: { id: string } };
    const bob = connect("Bob");
    const join = bob.request("join", { meetingId: meeting.id }) as unknown as JoinReply;
    const room = hub.room(meeting.id);
    const transport = bob.connection.transport!;
    assert.equal(room.transportOf(join.participantId), transport);
    assert.equal(transport.kind, "websocket");
    // The seat's media moves to UDP: the WebSocket transport closes, the connection stays.
    const udp = new FakeTransport("udp", { ip: "127.0.0.1", port: 40000 });
    room.attachMedia(join.participantId, udp);
    assert.equal(transport.closed, true);
    assert.equal(bob.connection.transport, undefined);
    assert.equal(bob.request("ping").now !== undefined, true, "control still answers");
    // Media on the socket while the seat's media is on UDP is not taken.
    const packet = writeRtp({
      payloadType: PT_OPUS,
      sequenceNumber: 1,
      timestamp: 0,
      ssrc: join.media.audioSsrc,
      payload: new Uint8Array(3),
    });
    bob.connection.receive(packet);
    assert.equal(bob.connection.droppedElsewhere, 1);
    assert.equal(room.transportOf(join.participantId), udp);
    // The UDP binding goes: media on the socket brings the seat's media back to it.
    udp.close();
    bob.connection.receive(packet);
    assert.equal(room.transportOf(join.participantId)?.kind, "websocket");
    assert.equal(room.media.counters.received.packets, 1);
  } finally {
    hub.close();
  }
});

Deno.test("control connection: a reconnect's join keeps a live UDP transport (terminal client), and takes the media of a page whose socket went", () => {
  const { hub, connect } = hubSetup();
  try {
    const ann = connect("Ann");
    const token = ann.token;
    const { meeting, join } = ann.request("create", { title: "T" }) as {
      meeting: { id: string };
      join: JoinReply;
    };
    const room = hub.room(meeting.id);
    const udp = new FakeTransport("udp", { ip: "127.0.0.1", port: 40000 });
    room.attachMedia(join.participantId, udp);
    ann.connection.closed(); // the control socket drops; the seat is held
    assert.equal(udp.closed, false, "UDP media keeps flowing without the control connection");
    const again = connect("Ann", token);
    const resumed = again.request("join", { meetingId: meeting.id }) as unknown as JoinReply;
    assert.equal(resumed.resumed, true);
    assert.equal(room.transportOf(join.participantId), udp, "the join did not take the media");
    assert.equal(again.connection.transport, undefined);

    // A page: its media rides its socket. A replacing connection takes it over.
    const bob = connect("Bob");
    const bobToken = bob.token;
    const bobJoin = bob.request("join", { meetingId: meeting.id }) as unknown as JoinReply;
    const first = bob.connection.transport!;
    const bob2 = connect("Bob", bobToken);
    bob2.request("join", { meetingId: meeting.id });
    assert.equal(first.closed, true, "the replaced connection's transport is closed");
    assert.equal(room.transportOf(bobJoin.participantId), bob2.connection.transport);
    assert.equal(bob.socket.messages("removed")[0]?.reason, "replaced");
    // Leaving closes the seat's transport.
    bob2.request("leave");
    assert.equal(room.transportOf(bobJoin.participantId), undefined);
    // The socket closing closes its transport.
    const cy = connect("Cy");
    const cyJoin = cy.request("join", { meetingId: meeting.id }) as unknown as JoinReply;
    const cyTransport = cy.connection.transport!;
    cy.connection.closed();
    assert.equal(cyTransport.closed, true);
    assert.equal(room.transportOf(cyJoin.participantId), undefined);
  } finally {
    hub.close();
  }
});

Deno.test("hub: seatByMediaKey finds a client's seat and its room; plain-RTP seats and wrong keys find nothing", () => {
  const { hub, connect } = hubSetup();
  try {
    const ann = connect("Ann");
    const { meeting, join } = ann.request("create", { title: "T" }) as {
      meeting: { id: string };
      join: JoinReply;
    };
    const seat = hub.seatByMediaKey(join.media.mediaKey, meeting.id);
    assert.equal(seat?.participant.id, join.participantId);
    assert.equal(seat?.room, hub.room(meeting.id));
    assert.equal(hub.seatByMediaKey(join.media.mediaKey)?.participant.id, join.participantId);
    assert.equal(hub.seatByMediaKey(join.media.mediaKey, "nope"), undefined);
    assert.equal(hub.seatByMediaKey("x".repeat(22), meeting.id), undefined);
    const rtp = hub.room(meeting.id).meeting.join("s-rtp", "Tool", {
      kind: "rtp",
      preauthorized: true,
    });
    assert.equal(hub.seatByMediaKey(rtp.participant.mediaKey), undefined);
  } finally {
    hub.close();
  }
});
