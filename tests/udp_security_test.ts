/**
 * The UDP relay cannot be turned against anyone: media goes to an address only after it
 * proved it wants it (plain RTP: latching on the source; our clients: a nonce echoed from
 * the address, renewed), stops when the proofs stop, never goes to broadcast, multicast or
 * the server's own socket, cannot be taken from another seat, and errors are small and
 * rate-limited. The media key binds and does nothing else. Real servers, real UDP on
 * loopback (127.0.0.2 stands for another host).
 */

import assert from "node:assert/strict";
import { writeRtp } from "../media/rtp.ts";
import { UDP_CHECK_PREFIX, udpBindRequest } from "../protocol/media.ts";
import { mediaBot } from "./support/media_bot.ts";
import { connect, testClient, type TestServer, testServer } from "./support/server.ts";
import { receiveText, udpBind } from "./support/udp_bind.ts";
import { waitFor } from "./support/wait.ts";

const JSON_TYPE = { "content-type": "application/json" };

async function createMeeting(server: TestServer, title: string, passcode?: string) {
  const res = await fetch(`${server.url}api/meetings`, {
    method: "POST",
    headers: JSON_TYPE,
    body: JSON.stringify({ title, name: "Host", passcode }),
  });
  assert.equal(res.status, 201);
  return await res.json() as { id: string; token: string };
}

async function addRtp(server: TestServer, meetingId: string, token: string, body: object) {
  const res = await fetch(`${server.url}api/meetings/${meetingId}/rtp`, {
    method: "POST",
    headers: { ...JSON_TYPE, authorization: `Bearer ${token}` },
    body: JSON.stringify({ name: "rtp", audioPayloadType: 111, ...body }),
  });
  return { status: res.status, json: await res.json() };
}

async function roster(server: TestServer, meetingId: string): Promise<{ name: string }[]> {
  return (await (await fetch(`${server.url}api/meetings/${meetingId}`)).json()).roster;
}

/** A UDP socket on `hostname` that counts the RTP/RTCP it receives and keeps text answers. */
function endpoint(hostname = "127.0.0.1") {
  const socket = Deno.listenDatagram({ transport: "udp", hostname, port: 0 });
  const state = { media: 0, texts: [] as string[], lastMediaAt: 0 };
  const done = (async () => {
    try {
      for (;;) {
        const [bytes] = await socket.receive();
        if (bytes[0] === 0x4d) state.texts.push(new TextDecoder().decode(bytes));
        else {
          state.media++;
          state.lastMediaAt = performance.now();
        }
      }
    } catch { /* closed */ }
  })();
  return {
    socket,
    state,
    port: (socket.addr as Deno.NetAddr).port,
    async close() {
      socket.close();
      await done;
    },
  };
}

/** One small RTP packet (Opus TOC byte only: a valid empty frame), as a plain-RTP tool sends. */
function rtp(seq: number, payloadType = 111, size = 13): Uint8Array {
  const payload = new Uint8Array(size - 12);
  payload[0] = 0xf8;
  return writeRtp({ payloadType, sequenceNumber: seq, timestamp: seq * 960, ssrc: 42, payload });
}

/** Waits until no media has arrived at `state` for `quietMs`, then checks none comes for as long. */
async function assertMediaStops(state: { media: number; lastMediaAt: number }, quietMs: number) {
  await waitFor(() => performance.now() - state.lastMediaAt > quietMs, {
    what: "media to stop",
    timeoutMs: 10_000,
  });
  const count = state.media;
  const until = performance.now() + quietMs;
  await waitFor(() => performance.now() > until, { what: "a quiet window", intervalMs: 50 });
  assert.equal(state.media, count, "media came again without a new proof");
}

Deno.test("plain RTP latches: a seat aimed at another host gets nothing until it sends from exactly that address, and nothing again once it goes quiet", async () => {
  await using server = await testServer({ udpWindows: { consentMs: 1_000 } });
  const meeting = await createMeeting(server, "Latching");
  const ann = await mediaBot(server, "Ann", meeting.id);
  const far = endpoint("127.0.0.2");
  const to = { transport: "udp" as const, hostname: "127.0.0.1", port: server.udpPort };
  try {
    ann.startTone(440);
    const added = await addRtp(server, meeting.id, meeting.token, {
      ip: "127.0.0.2",
      port: far.port,
    });
    assert.equal(added.status, 201, JSON.stringify(added.json));
    // The mixer has media for the seat, but the address never spoke: nothing goes there.
    await waitFor(() => server.udp.counters.withheldNoConsent >= 25 || far.state.media > 0, {
      what: "half a second of the mix for the silent seat",
    });
    assert.equal(far.state.media, 0, "media went to an address that never sent");
    // The same port on another address proves nothing.
    const near = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: far.port });
    for (let i = 0; i < 5; i++) await near.send(rtp(i), to);
    near.close();
    const withheld = server.udp.counters.withheldNoConsent;
    await waitFor(() => server.udp.counters.withheldNoConsent > withheld + 10, {
      what: "more withheld mix",
    });
    assert.equal(far.state.media, 0);
    // RTP from exactly the seat's address: media flows back to it.
    for (let i = 0; i < 5; i++) await far.socket.send(rtp(100 + i), to);
    await waitFor(() => far.state.media >= 10, { what: "the mix at the latched address" });
    // Quiet past the consent window: sending stops.
    await assertMediaStops(far.state, 1_500);
  } finally {
    ann.close();
    await far.close();
  }
});

Deno.test("plain-RTP addresses: unspecified, broadcast, multicast, reserved and the server's own socket are refused; nothing is added", async () => {
  await using server = await testServer();
  const meeting = await createMeeting(server, "Aims");
  const own = server.udpPort;
  const bad: object[] = [
    { ip: "0.0.0.0", port: 40000 },
    { ip: "255.255.255.255", port: 40000 },
    { ip: "224.0.0.1", port: 40000 },
    { ip: "240.0.0.1", port: 40000 },
    { ip: "127.0.0.1", port: 0 },
    { ip: "127.0.0.1", port: own },
    { ip: "127.0.0.2", port: own },
    { ip: "127.0.0.1", port: 40000, receivePort: own },
  ];
  for (const body of bad) {
    const res = await addRtp(server, meeting.id, meeting.token, body);
    assert.equal(res.status, 400, `${JSON.stringify(body)}: ${JSON.stringify(res.json)}`);
    assert.equal(res.json.error.code, "bad_request");
  }
  assert.equal((await roster(server, meeting.id)).length, 0);
  assert.equal(server.udp.bindingCount, 0);
  // Loopback with another port is where a local RTP tool runs: allowed.
  const ok = await addRtp(server, meeting.id, meeting.token, { ip: "127.0.0.1", port: 40000 });
  assert.equal(ok.status, 201);
});

Deno.test("no loop through the server's own socket: seats aimed at it from two meetings are refused, and a seeded packet stays one packet", async () => {
  await using server = await testServer();
  const one = await createMeeting(server, "One");
  const two = await createMeeting(server, "Two");
  const own = server.udpPort;
  const seeder = endpoint();
  const to = { transport: "udp" as const, hostname: "127.0.0.1", port: own };
  try {
    const video = { videoPayloadType: 100, audioPayloadType: undefined };
    const attempts = [
      await addRtp(server, one.id, one.token, { ip: "127.0.0.1", port: own, ...video }),
      await addRtp(server, one.id, one.token, {
        ip: "127.0.0.1",
        port: 41000,
        receivePort: own,
        ...video,
      }),
      await addRtp(server, two.id, two.token, {
        ip: "127.0.0.1",
        port: 41001,
        receivePort: own,
        ...video,
      }),
    ];
    assert.deepEqual(attempts.map((a) => a.status), [400, 400, 400]);
    const seed = await addRtp(server, two.id, two.token, {
      ip: "127.0.0.1",
      port: seeder.port,
      ...video,
    });
    assert.equal(seed.status, 201);
    const before = { received: server.udp.counters.received, sent: server.udp.ioStats.sent };
    await seeder.socket.send(rtp(1, 100, 100), to);
    await waitFor(() => server.udp.counters.received > before.received, { what: "the seed" });
    const until = performance.now() + 1_500;
    await waitFor(() => performance.now() > until, { what: "an observation window" });
    assert.ok(server.udp.counters.received - before.received < 5, "datagrams looped");
    assert.ok(server.udp.ioStats.sent - before.sent < 5, "datagrams multiplied");
  } finally {
    await seeder.close();
  }
});

Deno.test("client bind: without the nonce echoed from the address nothing is sent there; with it media flows, and stops when the echoes stop", async () => {
  await using server = await testServer({ udpWindows: { consentMs: 1_000 } });
  const meeting = await createMeeting(server, "Checks");
  const ann = await mediaBot(server, "Ann", meeting.id);
  const bob = await testClient(server, "Bob");
  const victim = endpoint();
  const to = { transport: "udp" as const, hostname: "127.0.0.1", port: server.udpPort };
  try {
    ann.startTone(440);
    const join = await bob.request({ type: "join", meetingId: meeting.id });
    const key = join.media.mediaKey;
    assert.match(key, /^[A-Za-z0-9_-]{22}$/);
    // A bind "from" the victim (as a spoofed source would be): only a small check goes there.
    await victim.socket.send(udpBindRequest(key, meeting.id), to);
    await waitFor(() => victim.state.texts.length > 0, { what: "the check" });
    assert.ok(victim.state.texts[0].startsWith(UDP_CHECK_PREFIX), victim.state.texts[0]);
    const mark = ann.mixSamples.length;
    await waitFor(() => ann.mixSamples.length > mark || server.udp.bindingCount > 0, {
      what: "the meeting running",
    });
    const until = performance.now() + 1_000;
    await waitFor(() => performance.now() > until, { what: "a second of Ann's tone" });
    assert.equal(victim.state.media, 0, "media went to an address that never echoed");
    assert.equal(server.udp.bindingCount, 0);
    // The echo from the same address binds, and media flows.
    const nonce = victim.state.texts[0].slice(UDP_CHECK_PREFIX.length);
    await victim.socket.send(udpBindRequest(key, meeting.id, nonce), to);
    await waitFor(() => victim.state.texts.some((t) => t.startsWith("MEET-BOUND ")), {
      what: "bound",
    });
    await waitFor(() => victim.state.media >= 10, { what: "media after the echo" });
    // No renewal: consent lapses, media stops; the seat stays.
    await assertMediaStops(victim.state, 1_500);
    assert.ok((await roster(server, meeting.id)).some((p) => p.name === "Bob"));
  } finally {
    ann.close();
    bob.close();
    await victim.close();
  }
});

Deno.test("an address bound to a seat cannot be taken by another meeting, over REST or MEET-BIND; the first keeps its media", async () => {
  await using server = await testServer();
  const a = await createMeeting(server, "A");
  const b = await createMeeting(server, "B");
  const ann = await mediaBot(server, "Ann", a.id);
  const bob = await testClient(server, "Bob");
  const eve = await testClient(server, "Eve");
  const plain = endpoint();
  const bobSocket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const bobPort = (bobSocket.addr as Deno.NetAddr).port;
  const to = { transport: "udp" as const, hostname: "127.0.0.1", port: server.udpPort };
  let seq = 0;
  const sending = setInterval(() => plain.socket.send(rtp(seq++), to).catch(() => {}), 50);
  try {
    ann.startTone(440);
    assert.equal(
      (await addRtp(server, a.id, a.token, { port: plain.port, ip: "127.0.0.1" })).status,
      201,
    );
    const bobKey = (await bob.request({ type: "join", meetingId: a.id })).media.mediaKey;
    assert.match(await udpBind(bobSocket, to, bobKey, a.id), /^MEET-BOUND /);
    await waitFor(() => plain.state.media >= 5, { what: "A's plain-RTP seat gets media" });
    // Meeting B's creator aims seats at A's addresses: refused.
    for (const port of [plain.port, bobPort]) {
      const res = await addRtp(server, b.id, b.token, { ip: "127.0.0.1", port });
      assert.equal(res.status, 409, JSON.stringify(res.json));
      assert.equal(res.json.error.code, "address_in_use");
    }
    // A member of B binds from A's addresses with its own key: refused.
    const eveKey = (await eve.request({ type: "join", meetingId: b.id })).media.mediaKey;
    await plain.socket.send(udpBindRequest(eveKey, b.id), to);
    await waitFor(() => plain.state.texts.length > 0, { what: "the answer at A's address" });
    assert.equal(plain.state.texts[0], "MEET-ERROR address_in_use");
    await bobSocket.send(udpBindRequest(eveKey, b.id), to);
    assert.equal(await receiveText(bobSocket, to), "MEET-ERROR address_in_use");
    // A keeps its media; B got nothing of it.
    const mark = plain.state.media;
    await waitFor(() => plain.state.media > mark + 10, { what: "A's seat still served" });
    assert.equal((await roster(server, b.id)).length, 1);
  } finally {
    clearInterval(sending);
    ann.close();
    bob.close();
    eve.close();
    await plain.close();
    bobSocket.close();
  }
});

Deno.test("liveness: a plain-RTP seat that never sends, or goes quiet, leaves (timeout); a client's lapsed binding only unbinds", async () => {
  await using server = await testServer({ udpWindows: { consentMs: 500, idleMs: 1_500 } });
  const meeting = await createMeeting(server, "Liveness");
  const ann = await mediaBot(server, "Ann", meeting.id);
  const bob = await testClient(server, "Bob");
  const quiet = endpoint();
  const to = { transport: "udp" as const, hostname: "127.0.0.1", port: server.udpPort };
  try {
    const silent = await addRtp(server, meeting.id, meeting.token, {
      name: "silent",
      ip: "127.0.0.1",
      port: 42000,
    });
    assert.equal(silent.status, 201);
    const talker = await addRtp(server, meeting.id, meeting.token, {
      name: "talker",
      ip: "127.0.0.1",
      port: quiet.port,
    });
    assert.equal(talker.status, 201);
    for (let i = 0; i < 3; i++) await quiet.socket.send(rtp(i), to);
    const key = (await bob.request({ type: "join", meetingId: meeting.id })).media.mediaKey;
    const bobSocket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    assert.match(await udpBind(bobSocket, to, key, meeting.id), /^MEET-BOUND /);
    assert.equal(server.udp.bindingCount, 3);
    await waitFor(async () => {
      const names = (await roster(server, meeting.id)).map((p) => p.name);
      return !names.includes("silent") && !names.includes("talker");
    }, { what: "both plain-RTP seats gone", timeoutMs: 10_000 });
    await waitFor(() => server.udp.bindingCount === 0, { what: "Bob's binding gone" });
    const names = (await roster(server, meeting.id)).map((p) => p.name);
    assert.deepEqual(names.sort(), ["Ann", "Bob"]);
    bobSocket.close();
  } finally {
    ann.close();
    bob.close();
    await quiet.close();
  }
});

Deno.test("bind errors: never larger than the request, and rate-limited per source", async () => {
  await using server = await testServer();
  const meeting = await createMeeting(server, "Errors");
  const probe = endpoint();
  const to = { transport: "udp" as const, hostname: "127.0.0.1", port: server.udpPort };
  try {
    // A 10-byte bind would get a 22-byte error: no answer.
    await probe.socket.send(new TextEncoder().encode("MEET-BIND "), to);
    await waitFor(() => server.udp.counters.answersRefused >= 1, { what: "the short bind seen" });
    // A flood of bad binds from one source: at most the burst and the rate get answers.
    const request = udpBindRequest("x".repeat(22), meeting.id);
    const t0 = performance.now();
    for (let i = 0; i < 400; i++) await probe.socket.send(request, to);
    await waitFor(() => server.udp.counters.received >= 401, { what: "the flood read" });
    const seconds = (performance.now() - t0) / 1000;
    const until = performance.now() + 300;
    await waitFor(() => performance.now() > until, { what: "answers to arrive" });
    const answers = probe.state.texts;
    assert.ok(answers.every((t) => t === "MEET-ERROR invalid_key"), answers[0]);
    assert.ok(answers.length >= 50, `${answers.length} answers`);
    assert.ok(
      answers.length <= 100 + 20 * seconds + 5,
      `${answers.length} answers in ${seconds} s`,
    );
  } finally {
    await probe.close();
  }
});

Deno.test("media key: binds, the session token does not; the key neither identifies nor authorizes REST; the same across a reconnect", async () => {
  await using server = await testServer();
  const host = await createMeeting(server, "Keys");
  const bob = await testClient(server, "Bob");
  const to = { transport: "udp" as const, hostname: "127.0.0.1", port: server.udpPort };
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    const key = (await bob.request({ type: "join", meetingId: host.id })).media.mediaKey;
    assert.notEqual(key, bob.token);
    assert.equal(await udpBind(socket, to, bob.token, host.id), "MEET-ERROR invalid_key");
    assert.match(await udpBind(socket, to, key, host.id), /^MEET-BOUND /);
    const other = await connect(server);
    await assert.rejects(other.request({ type: "identify", token: key }), /unknown or expired/);
    other.close();
    for (const [method, path] of [["DELETE", ""], ["POST", "/rtp"]]) {
      const res = await fetch(`${server.url}api/meetings/${host.id}${path}`, {
        method,
        headers: { ...JSON_TYPE, authorization: `Bearer ${key}` },
        body: method === "POST"
          ? JSON.stringify({ name: "x", ip: "127.0.0.1", port: 43000 })
          : undefined,
      });
      assert.ok(res.status === 401 || res.status === 403, `${method} ${path}: ${res.status}`);
      await res.body?.cancel();
    }
    assert.equal(server.hub.registry.get(host.id)?.state, "open");
    // A reconnect of the same seat keeps the key (a bound terminal client keeps its binding).
    bob.close();
    const again = await connect(server);
    await again.request({ type: "identify", token: bob.token });
    const rejoined = await again.request({ type: "join", meetingId: host.id });
    assert.equal(rejoined.resumed, true);
    assert.equal(rejoined.media.mediaKey, key);
    again.close();
  } finally {
    socket.close();
  }
});

Deno.test("passcode meeting: the creator and members add RTP seats without the passcode; others cannot", async () => {
  await using server = await testServer();
  const locked = await createMeeting(server, "Locked", "4321");
  const byCreator = await addRtp(server, locked.id, locked.token, { ip: "127.0.0.1", port: 44000 });
  assert.equal(byCreator.status, 201, JSON.stringify(byCreator.json));
  const member = await testClient(server, "Member");
  await member.request({ type: "join", meetingId: locked.id, passcode: "4321" });
  const byMember = await addRtp(server, locked.id, member.token, { ip: "127.0.0.1", port: 44001 });
  assert.equal(byMember.status, 201, JSON.stringify(byMember.json));
  const stranger = await testClient(server, "Stranger");
  const byStranger = await addRtp(server, locked.id, stranger.token, {
    ip: "127.0.0.1",
    port: 44002,
  });
  assert.equal(byStranger.status, 403);
  member.close();
  stranger.close();
});

Deno.test("plain-RTP seats are capped per meeting", async () => {
  const { MAX_RTP_SEATS_PER_MEETING } = await import("../server/udp_endpoint.ts");
  await using server = await testServer();
  const meeting = await createMeeting(server, "Many");
  // Seat ports: any but the server's own (those are refused for another reason).
  const own = new Set([server.port, server.udpPort, server.quicPort]);
  const ports: number[] = [];
  for (let port = 45000; ports.length <= MAX_RTP_SEATS_PER_MEETING; port++) {
    if (!own.has(port)) ports.push(port);
  }
  for (let i = 0; i < MAX_RTP_SEATS_PER_MEETING; i++) {
    const res = await addRtp(server, meeting.id, meeting.token, {
      ip: "127.0.0.1",
      port: ports[i],
    });
    assert.equal(res.status, 201, `seat ${i}: ${JSON.stringify(res.json)}`);
  }
  const over = await addRtp(server, meeting.id, meeting.token, {
    ip: "127.0.0.1",
    port: ports[MAX_RTP_SEATS_PER_MEETING],
  });
  assert.equal(over.status, 429);
  assert.equal(over.json.error.code, "limit_reached");
});
