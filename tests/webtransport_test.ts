/**
 * The WebTransport endpoint with Deno's own WebTransport client: a session proves its seat with
 * the seat's media key on its first stream, then carries the seat's RTP and RTCP as datagrams.
 * A wrong, foreign or stale key is refused and the session closed; datagrams before the bind,
 * extra streams, sessions over the caps and sessions that never bind are dropped. Moving the
 * seat's media back to the WebSocket closes the session.
 */

import assert from "node:assert/strict";
import { parseRtcp, writePli } from "../media/rtcp.ts";
import type { JoinReply } from "../protocol/control.ts";
import { WEBTRANSPORT_PATH } from "../protocol/media.ts";
import { selfSignedCertificate } from "../server/tls.ts";
import { certificateSha256 } from "../server/webtransport_cert.ts";
import { WEBTRANSPORT_LIMITS } from "../server/webtransport_endpoint.ts";
import { testClient, type TestServer, testServer } from "./support/server.ts";
import { waitFor } from "./support/wait.ts";

const decoder = new TextDecoder();

function hashOf(join: JoinReply): WebTransportHash[] {
  const hash = join.media.webTransport?.certificateHash;
  assert.ok(hash, "the join reply gives the certificate's hash");
  return [{ algorithm: "sha-256", value: Uint8Array.from(atob(hash), (c) => c.charCodeAt(0)) }];
}

/** Opens a session to the server's endpoint, pinned to the certificate the join reply names. */
async function openSession(server: TestServer, join: JoinReply): Promise<WebTransport> {
  const wt = new WebTransport(`https://127.0.0.1:${server.quicPort}${WEBTRANSPORT_PATH}`, {
    serverCertificateHashes: hashOf(join),
  });
  await wt.ready;
  return wt;
}

/** Writes the bind on a new stream and reads the answer line. */
async function bind(wt: WebTransport, text: string): Promise<string> {
  const stream = await wt.createBidirectionalStream();
  const writer = stream.writable.getWriter();
  await writer.write(new TextEncoder().encode(text + "\n"));
  const reader = stream.readable.getReader();
  let answer = "";
  while (!answer.includes("\n")) {
    const { value, done } = await reader.read();
    if (value) answer += decoder.decode(value);
    if (done) break;
  }
  return answer.trim();
}

async function closedWithin(wt: WebTransport, ms: number): Promise<boolean> {
  return await Promise.race([
    wt.closed.then(() => true, () => true),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms)),
  ]);
}

async function meetingWith(server: TestServer, names: string[], title = "WT") {
  const host = await testClient(server, `${title} host`);
  const { meeting } = await host.request({ type: "create", title, join: false });
  host.close();
  const clients = [];
  const joins = [];
  for (const name of names) {
    const c = await testClient(server, name);
    clients.push(c);
    joins.push(await c.request({ type: "join", meetingId: meeting.id }));
  }
  return { meetingId: meeting.id, clients, joins };
}

async function transports(server: TestServer, meetingId: string) {
  const res = await fetch(`${server.url}api/meetings/${meetingId}`);
  return (await res.json()).media.transports as Record<string, number>;
}

Deno.test("webtransport: a bound session carries the seat's RTCP both ways and answers pings", async () => {
  await using server = await testServer();
  assert.ok(server.quicPort && server.quicPort > 0);
  const { meetingId, clients: [ann, bob], joins: [annJoin, bobJoin] } = await meetingWith(
    server,
    ["Ann", "Bob"],
  );
  try {
    assert.equal(annJoin.media.webTransport?.port, server.quicPort);
    const bobPlis: Uint8Array[] = [];
    bob.on("media", (b) => bobPlis.push(b));
    const wt = await openSession(server, annJoin);
    const early = wt.datagrams.writable.getWriter();
    await early.write(writePli({ senderSsrc: 1, mediaSsrc: bobJoin.media.videoSsrc }));
    await waitFor(() => server.webTransport!.counters.droppedUnbound >= 1, {
      what: "a datagram before the bind dropped",
    });
    assert.equal(
      await bind(wt, `MEET-BIND ${annJoin.media.mediaKey} ${meetingId}`),
      `MEET-BOUND ${annJoin.participantId}`,
    );
    assert.deepEqual(await transports(server, meetingId), {
      websocket: 1,
      udp: 0,
      webtransport: 1,
    });
    // Ann (WebTransport) asks Bob (WebSocket) for a keyframe, and Bob asks Ann. The server
    // asked each for one when the other joined; a sender is asked at most once per 2 s, and a
    // request within that goes when the 2 s are up.
    const isPli = (b: Uint8Array) => {
      const r = parseRtcp(b);
      return r.ok && r.packets.some((p) => p.type === "pli");
    };
    await bob.request({ type: "ping" }); // what the server sent Bob before has arrived
    const before = bobPlis.filter(isPli).length;
    const received = server.hub.findRoom(meetingId)!.media.counters.received.packets;
    await early.write(writePli({ senderSsrc: 1, mediaSsrc: bobJoin.media.videoSsrc }));
    await waitFor(() => bobPlis.filter(isPli).length > before, { what: "Bob gets Ann's PLI" });
    assert.equal(server.hub.findRoom(meetingId)!.media.counters.received.packets, received + 1);
    const reader = wt.datagrams.readable.getReader();
    bob.sendBinary(writePli({ senderSsrc: 2, mediaSsrc: annJoin.media.videoSsrc }));
    const { value } = await reader.read();
    const parsed = parseRtcp(value!);
    assert.ok(parsed.ok && parsed.packets[0].type === "pli");
    // A ping is answered with a pong of the same length.
    await early.write(new TextEncoder().encode("MEET-PING 42"));
    let pong = "";
    while (!pong.startsWith("MEET-PONG")) pong = decoder.decode((await reader.read()).value!);
    assert.equal(pong, "MEET-PONG 42");
    // The page falls back: the server moves the seat to the WebSocket and closes the session.
    const reply = await ann.request({ type: "media_transport", kind: "websocket" });
    assert.equal(reply.webTransport?.port, server.quicPort);
    assert.ok(await closedWithin(wt, 3000), "the session is closed when the seat moves");
    assert.deepEqual(await transports(server, meetingId), {
      websocket: 2,
      udp: 0,
      webtransport: 0,
    });
  } finally {
    ann.close();
    bob.close();
  }
});

Deno.test("webtransport: a wrong, foreign or stale key, or a second bind, is refused", async () => {
  await using server = await testServer();
  const one = await meetingWith(server, ["Ann", "Bob"], "One");
  const two = await meetingWith(server, ["Cy"], "Two");
  const [annJoin, bobJoin] = one.joins;
  try {
    const cases: [string, string][] = [
      [`MEET-BIND AAAAAAAAAAAAAAAAAAAAAA ${one.meetingId}`, "MEET-ERROR invalid_key"],
      // Cy's key with meeting One's id: the key is not a seat of that meeting.
      [`MEET-BIND ${two.joins[0].media.mediaKey} ${one.meetingId}`, "MEET-ERROR invalid_key"],
      [`MEET-BIND ${annJoin.media.mediaKey} nosuchmeeting`, "MEET-ERROR not_found"],
      ["HELLO", "MEET-ERROR bad_request"],
      [`MEET-BIND ${"x".repeat(300)}`, "MEET-ERROR bad_request"],
    ];
    for (const [text, expected] of cases) {
      const wt = await openSession(server, annJoin);
      assert.equal(await bind(wt, text), expected, text.slice(0, 40));
      assert.ok(await closedWithin(wt, 3000), `closed after ${expected}`);
    }
    // A session bound to Ann's seat cannot bind Bob's too: one bind stream per session.
    const wt = await openSession(server, annJoin);
    assert.equal(
      await bind(wt, `MEET-BIND ${annJoin.media.mediaKey} ${one.meetingId}`),
      `MEET-BOUND ${annJoin.participantId}`,
    );
    const second = bind(wt, `MEET-BIND ${bobJoin.media.mediaKey} ${one.meetingId}`);
    const answer = await Promise.race([
      second.catch(() => "refused"),
      new Promise<string>((resolve) => setTimeout(() => resolve("no answer"), 1000)),
    ]);
    assert.notEqual(answer, `MEET-BOUND ${bobJoin.participantId}`);
    await waitFor(() => server.webTransport!.counters.streamsRefused >= 1, {
      what: "the second stream refused",
    });
    assert.deepEqual(await transports(server, one.meetingId), {
      websocket: 1,
      udp: 0,
      webtransport: 1,
    });
    // Bob leaves: his key is stale.
    await one.clients[1].request({ type: "leave" });
    const stale = await openSession(server, bobJoin);
    assert.equal(
      await bind(stale, `MEET-BIND ${bobJoin.media.mediaKey} ${one.meetingId}`),
      "MEET-ERROR invalid_key",
    );
    // Ann leaves: her session is closed (the seat is gone).
    await one.clients[0].request({ type: "leave" });
    assert.ok(await closedWithin(wt, 3000), "the session closes when its seat leaves");
  } finally {
    [...one.clients, ...two.clients].forEach((c) => c.close());
  }
});

Deno.test("webtransport: sessions over the per-address cap, or without a bind in time, are closed", async () => {
  const saved = { ...WEBTRANSPORT_LIMITS };
  WEBTRANSPORT_LIMITS.sessionsPerAddress = 2;
  WEBTRANSPORT_LIMITS.bindDeadlineMs = 400;
  try {
    await using server = await testServer();
    const { clients, joins: [annJoin] } = await meetingWith(server, ["Ann"]);
    try {
      const a = await openSession(server, annJoin);
      const b = await openSession(server, annJoin);
      const c = new WebTransport(`https://127.0.0.1:${server.quicPort}${WEBTRANSPORT_PATH}`, {
        serverCertificateHashes: hashOf(annJoin),
      });
      c.ready.catch(() => {});
      assert.ok(await closedWithin(c, 3000), "the third session from one address is refused");
      assert.ok(server.webTransport!.counters.sessionsRefused >= 1);
      assert.ok(await closedWithin(a, 3000), "no bind in time: closed");
      assert.ok(await closedWithin(b, 3000), "no bind in time: closed");
      await waitFor(() => server.webTransport!.counters.bindTimeouts >= 2, {
        what: "bind timeouts counted",
      });
      await waitFor(() => server.webTransport!.sessionCount === 0, { what: "sessions gone" });
    } finally {
      clients.forEach((c) => c.close());
    }
  } finally {
    Object.assign(WEBTRANSPORT_LIMITS, saved);
  }
});

Deno.test("webtransport: --quic-port off runs no endpoint and the join reply names none", async () => {
  await using server = await testServer({ quicPort: null });
  assert.equal(server.quicPort, null);
  const { clients, joins: [join] } = await meetingWith(server, ["Ann"]);
  clients.forEach((c) => c.close());
  assert.equal(join.media.webTransport, undefined);
});

Deno.test("webtransport: with --self-signed the endpoint uses that certificate and pages pin it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "meet-wt-tls-" });
  try {
    const tls = await selfSignedCertificate(dir, ["localhost", "127.0.0.1"]);
    await using server = await testServer({ tls });
    const info = server.webTransport!.info();
    assert.equal(info.certificateHash, await certificateSha256(tls.cert));
    const wt = new WebTransport(`https://127.0.0.1:${info.port}${WEBTRANSPORT_PATH}`, {
      serverCertificateHashes: [{
        algorithm: "sha-256",
        value: Uint8Array.from(atob(info.certificateHash!), (c) => c.charCodeAt(0)),
      }],
    });
    await wt.ready;
    assert.equal(
      await bind(wt, "MEET-BIND AAAAAAAAAAAAAAAAAAAAAA nosuchmeeting"),
      "MEET-ERROR not_found",
    );
    assert.ok(await closedWithin(wt, 3000));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
