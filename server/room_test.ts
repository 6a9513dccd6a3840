import assert from "node:assert/strict";
import type { RemovedReason, ServerMessage } from "../protocol/control.ts";
import type { ParticipantInfo } from "../meeting/participant.ts";
import { ManualClock } from "../util/clock.ts";
import { fakeCodecs, FakeTransport, testMeeting } from "./_testing.ts";
import { MediaClock } from "./media_clock.ts";
import { Room, type RoomConnection } from "./room.ts";

class FakeConnection implements RoomConnection {
  messages: ServerMessage[] = [];
  removedWith: RemovedReason[] = [];
  send(message: ServerMessage): void {
    this.messages.push(message);
  }
  sendText(text: string): void {
    this.messages.push(JSON.parse(text));
  }
  removed(_meetingId: string, reason: RemovedReason): void {
    this.removedWith.push(reason);
  }
  /** The transports the last roster showed, by name. */
  lastRoster(): Record<string, ParticipantInfo["transport"]> {
    const rosters = this.messages.filter((m) => m.type === "roster");
    const last = rosters.at(-1);
    if (!last || last.type !== "roster") return {};
    return Object.fromEntries(last.participants.map((p) => [p.name, p.transport]));
  }
}

function setup(p2p: "auto" | "off" = "off") {
  const { meeting } = testMeeting({ p2p });
  const clock = new MediaClock(new ManualClock(0));
  const room = new Room(meeting, { codecs: fakeCodecs, clock });
  return { meeting, room, clock };
}

Deno.test("room: attachMedia shows the seat's transport in the roster and in the details; null once it closes", () => {
  const { meeting, room } = setup();
  const ann = meeting.join("s1", "Ann").participant;
  const annConnection = new FakeConnection();
  room.attachConnection(ann.id, annConnection);
  assert.deepEqual(meeting.details().roster.map((p) => p.transport), [null]);
  const ws = new FakeTransport("websocket");
  assert.equal(room.attachMedia(ann.id, ws), true);
  assert.deepEqual(annConnection.lastRoster(), { Ann: "websocket" });
  assert.equal(meeting.details().roster[0].transport, "websocket");
  const udp = new FakeTransport("udp", { ip: "127.0.0.1", port: 40000 });
  room.attachMedia(ann.id, udp);
  assert.equal(ws.closed, true);
  assert.deepEqual(annConnection.lastRoster(), { Ann: "udp" });
  const rosters = annConnection.messages.filter((m) => m.type === "roster").length;
  room.attachMedia(ann.id, udp);
  assert.equal(
    annConnection.messages.filter((m) => m.type === "roster").length,
    rosters,
    "no roster without a change",
  );
  udp.close(); // the binding lapsed
  assert.deepEqual(annConnection.lastRoster(), { Ann: null });
  assert.equal(room.transportOf(ann.id), undefined);
});

Deno.test("room: a seat leaving closes its transport; a seat that is gone takes none", () => {
  const { meeting, room } = setup();
  const ann = meeting.join("s1", "Ann").participant;
  const bob = meeting.join("s2", "Bob").participant;
  const annUdp = new FakeTransport("udp");
  const bobWs = new FakeTransport("websocket");
  room.attachMedia(ann.id, annUdp);
  room.attachMedia(bob.id, bobWs);
  meeting.leave(ann.id);
  assert.equal(annUdp.closed, true);
  assert.equal(bobWs.closed, false);
  const late = new FakeTransport("udp");
  assert.equal(room.attachMedia(ann.id, late), false);
  assert.equal(late.closed, true);
});

Deno.test("room: closing the meeting closes every transport and lets every connection go", () => {
  const { meeting, room, clock } = setup();
  const ann = meeting.join("s1", "Ann").participant;
  const bob = meeting.join("s2", "Bob").participant;
  const connections = [new FakeConnection(), new FakeConnection()];
  const transports = [new FakeTransport("websocket"), new FakeTransport("udp")];
  [ann, bob].forEach((p, i) => {
    room.attachConnection(p.id, connections[i]);
    room.attachMedia(p.id, transports[i]);
  });
  assert.equal(clock.running, true);
  meeting.cancel("s1");
  assert.deepEqual(transports.map((t) => t.closed), [true, true]);
  assert.deepEqual(connections.map((c) => c.removedWith), [["cancelled"], ["cancelled"]]);
  assert.equal(clock.running, false);
  assert.equal(room.connectedCount, 0);
});

Deno.test("room: a newer connection replaces the seat's connection; the media transport is not the connection's business", () => {
  const { meeting, room } = setup();
  const ann = meeting.join("s1", "Ann").participant;
  const first = new FakeConnection();
  const second = new FakeConnection();
  const udp = new FakeTransport("udp");
  room.attachConnection(ann.id, first);
  room.attachMedia(ann.id, udp);
  room.detachConnection(ann.id); // the control socket dropped: the UDP media stays
  assert.equal(udp.closed, false);
  assert.equal(room.transportOf(ann.id), udp);
  room.attachConnection(ann.id, first);
  room.attachConnection(ann.id, second);
  assert.deepEqual(first.removedWith, ["replaced"]);
  assert.equal(udp.closed, false);
  room.sendTo(ann.id, { type: "mode", meetingId: meeting.id, mode: "relay" });
  assert.equal(second.messages.at(-1)?.type, "mode");
});

Deno.test("room: the roster says p2p for a seat whose direct path carries its media; back on the relay, the carrier", () => {
  const { meeting, room } = setup("auto");
  const ann = meeting.join("s1", "Ann", { p2p: "udp" }).participant;
  const annConnection = new FakeConnection();
  room.attachConnection(ann.id, annConnection);
  room.attachMedia(ann.id, new FakeTransport("udp", { ip: "127.0.0.1", port: 40001 }));
  const bob = meeting.join("s2", "Bob", { p2p: "udp" }).participant;
  const bobConnection = new FakeConnection();
  room.attachConnection(bob.id, bobConnection);
  room.attachMedia(bob.id, new FakeTransport("udp", { ip: "127.0.0.1", port: 40002 }));
  assert.equal(meeting.mode, "p2p");
  // Until a seat says its direct path is up, its media still goes through the server.
  assert.deepEqual(annConnection.lastRoster(), { Ann: "udp", Bob: "udp" });
  const peer = annConnection.messages.find((m) => m.type === "peer");
  assert.deepEqual(peer && peer.type === "peer" && [peer.ip, peer.port], ["127.0.0.1", 40002]);
  meeting.setPath(ann.id, "p2p");
  assert.deepEqual(annConnection.lastRoster(), { Ann: "p2p", Bob: "udp" });
  meeting.setPath(bob.id, "p2p");
  assert.deepEqual(bobConnection.lastRoster(), { Ann: "p2p", Bob: "p2p" });
  meeting.join("s3", "Cy");
  assert.equal(meeting.mode, "relay");
  assert.deepEqual(annConnection.lastRoster(), { Ann: "udp", Bob: "udp", Cy: null });
});
