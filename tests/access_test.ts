/**
 * Access control and flood resistance over real sockets: passcodes, the WebSocket Origin
 * check, rate limits, and every way we know to try to get another meeting's content.
 */

import assert from "node:assert/strict";
import WebSocket from "ws";
import { ControlError } from "../client/control_client.ts";
import { writeRtp } from "../media/rtp.ts";
import { PT_OPUS } from "../protocol/media.ts";
import { udpBind } from "./support/udp_bind.ts";
import { mediaBot } from "./support/media_bot.ts";
import { connect, rawExchange, testClient, testServer } from "./support/server.ts";
import { waitFor } from "./support/wait.ts";

const code = (e: unknown) => (e as ControlError).code;

Deno.test("passcode: needed to join (not by the creator, not to resume); the list says locked", async () => {
  await using server = await testServer({ graceMs: 5_000 });
  const ann = await testClient(server, "Ann");
  const bob = await testClient(server, "Bob");
  const { meeting } = await ann.request({ type: "create", title: "Board", passcode: "s3cret" });
  assert.equal(meeting.locked, true);
  const list = await (await fetch(`${server.url}api/meetings`)).json();
  assert.equal(list[0].locked, true);
  assert.equal(JSON.stringify(list).includes("s3cret"), false, "the passcode leaked");
  await assert.rejects(
    bob.request({ type: "join", meetingId: meeting.id }),
    (e) => code(e) === "wrong_passcode",
  );
  await assert.rejects(
    bob.request({ type: "join", meetingId: meeting.id, passcode: "S3CRET" }),
    (e) => code(e) === "wrong_passcode",
  );
  assert.equal(server.hub.registry.get(meeting.id)!.participants.length, 1);
  const joined = await bob.request({ type: "join", meetingId: meeting.id, passcode: "s3cret" });
  assert.equal(joined.name, "Bob");
  // A dropped connection resumes its seat with the token alone.
  bob.close();
  const again = await connect(server);
  await again.request({ type: "identify", token: bob.token });
  assert.equal((await again.request({ type: "join", meetingId: meeting.id })).resumed, true);
  // REST: the same rule.
  const res = await fetch(`${server.url}api/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ title: "Locked", name: "Cy", passcode: "pw" }),
  });
  const locked = await res.json();
  assert.equal(locked.locked, true);
  const dee = await testClient(server, "Dee");
  await assert.rejects(
    dee.request({ type: "join", meetingId: locked.id }),
    (e) => code(e) === "wrong_passcode",
  );
  assert.equal(
    (await dee.request({ type: "join", meetingId: locked.id, passcode: "pw" })).name,
    "Dee",
  );
  dee.close();
  ann.close();
  again.close();
});

Deno.test("origin: pages from another site cannot open the control WebSocket", async () => {
  await using server = await testServer();
  const attempt = (origin?: string) =>
    new Promise<string>((resolve) => {
      const ws = new WebSocket(server.wsUrl, origin ? { origin } : {});
      ws.on("open", () => {
        ws.close();
        resolve("open");
      });
      ws.on("unexpected-response", (_req: unknown, res: { statusCode: number }) =>
        resolve(`http ${res.statusCode}`));
      ws.on("error", () =>
        resolve("error"));
    });
  assert.equal(await attempt("http://evil.example"), "http 403");
  assert.equal(await attempt("null"), "http 403");
  assert.equal(await attempt(new URL(server.url).origin), "open");
  assert.equal(await attempt(), "open"); // non-browser clients send no Origin
  assert.equal(server.hub.counters.badOrigin, 2);
});

Deno.test("rate limits: a flooding client is slowed and told; another meeting's audio carries on", async () => {
  await using server = await testServer();
  const host = await testClient(server, "Host");
  const quiet = (await host.request({ type: "create", title: "Quiet", join: false })).meeting.id;
  const [ann, bob] = [await mediaBot(server, "Ann", quiet), await mediaBot(server, "Bob", quiet)];
  ann.startTone(440);
  try {
    await waitFor(() => bob.tonePower(440) > 0.005, { what: "Bob hears Ann" });
    // A flood of pings and chat from one connection in another meeting.
    const flooder = await testClient(server, "Flood");
    await flooder.request({ type: "create", title: "Noisy" });
    const pings = Array.from(
      { length: 400 },
      (_, i) => JSON.stringify({ id: 10_000 + i, type: "ping" }),
    );
    const replies = await rawExchange(server, pings, 200);
    assert.ok(replies.some((r) => r.type === "error" && r.code === "rate_limited"));
    let limited = 0;
    for (let i = 0; i < 40; i++) {
      await flooder.request({ type: "chat", text: `spam ${i}` }).catch((e) => {
        if (code(e) === "rate_limited") limited++;
      });
    }
    assert.ok(limited >= 15, `only ${limited} chat lines limited`);
    // A media flood from a member: dropped beyond the limit, counted.
    const floodBot = await mediaBot(server, "Blaster", quiet);
    const packet = writeRtp({
      payloadType: PT_OPUS,
      sequenceNumber: 1,
      timestamp: 1,
      ssrc: floodBot.ssrcs.audioSsrc,
      payload: new Uint8Array(1000),
    });
    for (let i = 0; i < 6000; i++) floodBot.sendRaw(packet);
    await waitFor(() => server.hub.counters.rateLimited > 1000, { what: "media flood limited" });
    floodBot.close();
    // The quiet meeting's audio kept flowing.
    const mark = bob.mixSamples.length;
    await waitFor(() => bob.mixSamples.length > mark + 24_000, { what: "more audio for Bob" });
    assert.ok(bob.tonePower(440, 300) > 0.005);
    flooder.close();
  } finally {
    ann.close();
    bob.close();
    host.close();
  }
});

Deno.test("isolation: guessed SSRCs, unbound UDP sources and old tokens get nothing of another meeting", async () => {
  await using server = await testServer();
  const host = await testClient(server, "Host");
  const secret = (await host.request({ type: "create", title: "Secret", join: false })).meeting.id;
  const other = (await host.request({ type: "create", title: "Other", join: false })).meeting.id;
  const [ann, bob] = [await mediaBot(server, "Ann", secret), await mediaBot(server, "Bob", secret)];
  const eve = await mediaBot(server, "Eve", other);
  const eve2 = await mediaBot(server, "Eve2", other);
  const udp = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const to = { transport: "udp" as const, hostname: "127.0.0.1", port: server.udpPort };
  try {
    ann.startTone(440);
    for (let i = 0; i < 3; i++) ann.sendVideoFrame(i === 0);
    await waitFor(() => bob.tonePower(440) > 0.005, { what: "Bob hears Ann" });
    // 1. Eve sends packets with the secret meeting's SSRCs (as if she had guessed them).
    for (const ssrc of [ann.ssrcs.audioSsrc, ann.ssrcs.videoSsrc, ann.ssrcs.mixSsrc]) {
      eve.sendRaw(
        writeRtp({
          payloadType: PT_OPUS,
          sequenceNumber: 5,
          timestamp: 5,
          ssrc,
          payload: new Uint8Array(20),
        }),
      );
    }
    // 2. Eve binds a UDP socket with her media key (or her token) to the secret meeting:
    // refused.
    const bind = (mediaKey: string) => udpBind(udp, to, mediaKey, secret);
    assert.equal(await bind(eve.join.media.mediaKey), "MEET-ERROR invalid_key");
    assert.equal(await bind(eve.token), "MEET-ERROR invalid_key");
    // 3. Bob leaves; his old media key no longer binds to the meeting.
    await bob.request({ type: "leave" });
    assert.equal(await bind(bob.join.media.mediaKey), "MEET-ERROR invalid_key");
    // 4. Spoofed datagrams from an unbound address carrying Ann's SSRCs: dropped, counted.
    const unbound = server.udp.counters.droppedUnbound;
    const spoof = writeRtp({
      payloadType: PT_OPUS,
      sequenceNumber: 1,
      timestamp: 1,
      ssrc: ann.ssrcs.audioSsrc,
      payload: new Uint8Array(20),
    });
    for (let i = 0; i < 10; i++) await udp.send(spoof, to);
    await waitFor(() => server.udp.counters.droppedUnbound === unbound + 10, {
      what: "spoofs dropped",
    });
    // 5. Eve asks to join the secret meeting's signalling: she is no member.
    await assert.rejects(
      eve.request({ type: "signal", to: ann.join.participantId, data: 1 }),
      /not_found/,
    );
    await eve.request({ type: "ping" });
    // Eve's meeting never saw an SSRC of the secret meeting, nor its tone.
    const secretSsrcs = new Set([
      ann.ssrcs.audioSsrc,
      ann.ssrcs.videoSsrc,
      ann.ssrcs.mixSsrc,
      bob.ssrcs.audioSsrc,
      bob.ssrcs.videoSsrc,
    ]);
    for (const bot of [eve, eve2]) {
      for (const ssrc of bot.ssrcsSeen) {
        assert.ok(!secretSsrcs.has(ssrc), `Eve's meeting got SSRC ${ssrc}`);
      }
      assert.ok(bot.tonePower(440, 1000) < 0.0005);
      assert.equal(bot.events.filter((e) => "meetingId" in e && e.meetingId === secret).length, 0);
    }
  } finally {
    udp.close();
    [ann, bob, eve, eve2].forEach((b) => b.close());
    host.close();
  }
});
