/**
 * Integration: the P2P policy over real sockets: mode changes, signalling between the two
 * peers, peer addresses for terminal clients over UDP, and --p2p off.
 */

import assert from "node:assert/strict";
import { ControlError } from "../client/control_client.ts";
import { udpBind } from "./support/udp_bind.ts";
import { testClient, testServer } from "./support/server.ts";
import { waitFor } from "./support/wait.ts";

Deno.test("p2p: two peers go p2p and signal each other; a third switches to relay and back", async () => {
  await using server = await testServer();
  const ann = await testClient(server, "Ann");
  const bob = await testClient(server, "Bob");
  const cy = await testClient(server, "Cy");
  const { meeting, join } = await ann.request({ type: "create", title: "Pair", p2p: "webrtc" });
  assert.equal(meeting.mode, "relay");
  const bobJoin = await bob.request({ type: "join", meetingId: meeting.id, p2p: "webrtc" });
  assert.equal(bobJoin.meeting.mode, "p2p");
  await waitFor(() => ann.eventsOf("mode").at(-1)?.mode === "p2p", { what: "Ann told p2p" });
  const api = async () => await (await fetch(`${server.url}api/meetings/${meeting.id}`)).json();
  assert.equal((await api()).mode, "p2p");

  // Signalling goes to the named peer only.
  await ann.request({ type: "signal", to: bobJoin.participantId, data: { sdp: "offer" } });
  await waitFor(() => bob.eventsOf("signal").length === 1, { what: "Bob gets the offer" });
  assert.deepEqual(bob.eventsOf("signal")[0], {
    type: "signal",
    meetingId: meeting.id,
    from: join!.participantId,
    data: { sdp: "offer" },
  });
  await assert.rejects(
    ann.request({ type: "signal", to: "someone-else", data: 1 }),
    (e: ControlError) => e.code === "not_found",
  );

  // The roster says p2p for a seat once it says its direct path carries its media.
  const transports = async () =>
    Object.fromEntries(
      (await api()).roster.map((p: { name: string; transport: string }) => [p.name, p.transport]),
    );
  assert.deepEqual(await transports(), { Ann: "websocket", Bob: "websocket" });
  await ann.request({ type: "path", path: "p2p" });
  assert.deepEqual(await transports(), { Ann: "p2p", Bob: "websocket" });
  await waitFor(
    () => bob.eventsOf("roster").at(-1)?.participants.some((p) => p.transport === "p2p"),
    { what: "Bob's roster shows Ann on the direct path" },
  );
  await assert.rejects(
    ann.request({ type: "path", path: "direct" } as never),
    (e: ControlError) => e.code === "bad_request",
  );
  await assert.rejects(
    cy.request({ type: "path", path: "p2p" }),
    (e: ControlError) => e.code === "not_member",
  );
  assert.deepEqual(await transports(), { Ann: "p2p", Bob: "websocket" });

  // A third participant: relay for everyone; it leaves: p2p again.
  const cyJoin = await cy.request({ type: "join", meetingId: meeting.id, p2p: "webrtc" });
  assert.equal(cyJoin.meeting.mode, "relay");
  for (const c of [ann, bob]) {
    await waitFor(() => c.eventsOf("mode").at(-1)?.mode === "relay", { what: "relay" });
  }
  await cy.request({ type: "leave" });
  for (const c of [ann, bob]) {
    await waitFor(() => c.eventsOf("mode").at(-1)?.mode === "p2p", { what: "p2p again" });
  }
  // Cy is no longer a member: cannot signal into the meeting.
  await assert.rejects(
    cy.request({ type: "signal", to: bobJoin.participantId, data: 1 }),
    (e: ControlError) => e.code === "not_member",
  );
  // The peers could not connect directly: relay for the rest of the meeting.
  await bob.request({ type: "p2p_failed" });
  await waitFor(() => ann.eventsOf("mode").at(-1)?.mode === "relay", { what: "fallback" });
  assert.equal((await api()).mode, "relay");
  for (const c of [ann, bob, cy]) c.close();
});

Deno.test("p2p: terminal clients bound over UDP are told each other's observed address", async () => {
  await using server = await testServer();
  const ann = await testClient(server, "Ann");
  const bob = await testClient(server, "Bob");
  const { meeting, join } = await ann.request({ type: "create", title: "UDP pair", p2p: "udp" });
  const bobJoin = await bob.request({ type: "join", meetingId: meeting.id, p2p: "udp" });
  const mediaKeys = [join!.media.mediaKey, bobJoin.media.mediaKey];
  const sockets = [ann, bob].map(() =>
    Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 })
  );
  const to = { transport: "udp" as const, hostname: "127.0.0.1", port: server.udpPort };
  try {
    for (const [i, socket] of sockets.entries()) {
      assert.match(await udpBind(socket, to, mediaKeys[i], meeting.id), /^MEET-BOUND /);
    }
    const ports = sockets.map((s) => (s.addr as Deno.NetAddr).port);
    await waitFor(() => ann.eventsOf("peer").length && bob.eventsOf("peer").length, {
      what: "peer addresses",
    });
    assert.equal(ann.eventsOf("peer")[0].port, ports[1]);
    assert.equal(bob.eventsOf("peer")[0].port, ports[0]);
    assert.equal(ann.eventsOf("peer")[0].ip, "127.0.0.1");
  } finally {
    sockets.forEach((s) => s.close());
    ann.close();
    bob.close();
  }
});

Deno.test("p2p: --p2p off keeps a pair on the relay", async () => {
  await using server = await testServer({ p2p: "off" });
  const ann = await testClient(server, "Ann");
  const bob = await testClient(server, "Bob");
  const { meeting } = await ann.request({ type: "create", title: "Off", p2p: "webrtc" });
  const joined = await bob.request({ type: "join", meetingId: meeting.id, p2p: "webrtc" });
  assert.equal(joined.meeting.mode, "relay");
  await ann.request({ type: "ping" });
  assert.equal(ann.eventsOf("mode").length, 0);
  ann.close();
  bob.close();
});
