/**
 * Fuzz: random and mutated input at every entry point of a real server, bounded in count and
 * time, with a fixed seed (set FUZZ_SEED to explore others). Throughout, a meeting of two bots
 * keeps exchanging audio; at the end the server still answers and every drop was counted.
 */

import assert from "node:assert/strict";
import WebSocket from "ws";
import type { ControlError } from "../client/control_client.ts";
import { randomBytes, seededRandom } from "../media/_testing.ts";
import { writeRtcpCompound } from "../media/rtcp.ts";
import { writeRtp } from "../media/rtp.ts";
import { packetizeVp8 } from "../media/vp8.ts";
import { PT_OPUS, PT_VP8, udpBindRequest } from "../protocol/media.ts";
import { REQUEST_TYPES } from "../protocol/control.ts";
import { mediaBot } from "./support/media_bot.ts";
import { testClient, testServer } from "./support/server.ts";
import { waitFor } from "./support/wait.ts";

const SEED = Number(Deno.env.get("FUZZ_SEED") ?? 20261124);
const TIME_BUDGET_MS = 2_500; // per entry point

function randomJson(random: () => number, depth = 0): unknown {
  const r = random();
  if (depth > 6 || r < 0.25) {
    const atoms = [
      null,
      true,
      false,
      0,
      -1,
      1e308,
      -1e308,
      2 ** 53 + 1,
      0.5,
      NaN,
      "",
      "x",
      "\u0000",
      "🙂".repeat(50),
    ];
    return atoms[Math.floor(random() * atoms.length)];
  }
  if (r < 0.4) return "s".repeat(Math.floor(random() * 3000));
  if (r < 0.7) {
    return Array.from({ length: Math.floor(random() * 5) }, () => randomJson(random, depth + 1));
  }
  const obj: Record<string, unknown> = {};
  for (let i = 0; i < Math.floor(random() * 5); i++) obj[`k${i}`] = randomJson(random, depth + 1);
  return obj;
}

/** A control message: sometimes well-formed with wrong field types, sometimes garbage. */
function randomControlMessage(random: () => number, meetingIds: string[]): string | Uint8Array {
  const r = random();
  if (r < 0.1) return randomBytes(random, Math.floor(random() * 300));
  if (r < 0.2) return new TextDecoder().decode(randomBytes(random, Math.floor(random() * 200)));
  if (r < 0.25) return "[".repeat(5000) + "]".repeat(5000); // deep nesting
  // Large but under the 64 KiB message cap (larger ones close the connection: step 1b).
  if (r < 0.27) return JSON.stringify({ id: 1, type: "chat", text: "x".repeat(60_000) });
  const type = random() < 0.9 ? REQUEST_TYPES[Math.floor(random() * REQUEST_TYPES.length)] : "evil";
  const msg: Record<string, unknown> = {
    id: random() < 0.9 ? Math.floor(random() * 1e6) : randomJson(random),
    type,
  };
  for (
    const field of [
      "name",
      "token",
      "title",
      "meetingId",
      "text",
      "to",
      "data",
      "audio",
      "video",
      "passcode",
      "p2p",
      "join",
    ]
  ) {
    if (random() < 0.3) msg[field] = randomJson(random);
  }
  if (random() < 0.3) msg.meetingId = meetingIds[Math.floor(random() * meetingIds.length)];
  if (random() < 0.2) msg.name = "Fuzz";
  return JSON.stringify(msg);
}

/** A media packet: valid RTP, RTCP or VP8, then mutated (bit flips, cuts, wrong counts). */
function mutatedPacket(random: () => number, ssrc: number): Uint8Array {
  let bytes: Uint8Array;
  const r = random();
  if (r < 0.35) {
    bytes = writeRtp({
      payloadType: random() < 0.5 ? PT_OPUS : PT_VP8,
      sequenceNumber: Math.floor(random() * 65536),
      timestamp: Math.floor(random() * 2 ** 32),
      ssrc,
      marker: random() < 0.5,
      csrcs: random() < 0.2 ? [1, 2, 3] : [],
      extension: random() < 0.3 ? { profile: 0xbede, data: randomBytes(random, 8) } : undefined,
      payload: randomBytes(random, Math.floor(random() * 1100)),
    });
  } else if (r < 0.6) {
    const [payload] = packetizeVp8(randomBytes(random, 50 + Math.floor(random() * 2000)), {
      maxPayloadSize: 1100,
      pictureId: Math.floor(random() * 32768),
    });
    bytes = writeRtp({ payloadType: PT_VP8, sequenceNumber: 1, timestamp: 1, ssrc, payload });
  } else if (r < 0.8) {
    bytes = writeRtcpCompound([
      { type: "pli", senderSsrc: ssrc, mediaSsrc: Math.floor(random() * 2 ** 32) },
      {
        type: "rr",
        ssrc,
        reports: [{
          ssrc: 1,
          fractionLost: 3,
          cumulativeLost: -5,
          highestSeq: 9,
          jitter: 4,
          lsr: 0,
          dlsr: 0,
        }],
      },
    ]);
  } else {
    bytes = randomBytes(random, Math.floor(random() * 1600));
  }
  const copy = bytes.slice();
  const flips = Math.floor(random() * 4);
  for (let i = 0; i < flips && copy.length; i++) {
    copy[Math.floor(random() * copy.length)] ^= 1 << Math.floor(random() * 8);
  }
  if (random() < 0.2) copy[0] = (copy[0] & 0x0f) | Math.floor(random() * 16) << 4; // version, padding, extension, CSRC bits
  return random() < 0.3 ? copy.subarray(0, Math.floor(random() * copy.length)) : copy;
}

Deno.test({
  name: `fuzz: control, media over WebSocket and UDP, REST (seed ${SEED}); the server carries on`,
  sanitizeResources: false,
  async fn() {
    await using server = await testServer();
    const random = seededRandom(SEED);
    const host = await testClient(server, "Host");
    const steady =
      (await host.request({ type: "create", title: "Steady", join: false })).meeting.id;
    const target =
      (await host.request({ type: "create", title: "Target", join: false })).meeting.id;
    // Created now: the create burst of step 5 spends this address's budget.
    const locked = (await host.request({ type: "create", title: "Vault", passcode: "0451" }))
      .meeting.id;
    const [ann, bob] = [
      await mediaBot(server, "Ann", steady),
      await mediaBot(server, "Bob", steady),
    ];
    ann.startTone(440);
    const fuzzer = await mediaBot(server, "Fuzzer", target); // keeps the target meeting open
    const stats = {
      control: 0,
      replies: 0,
      oversized: 0,
      wsMedia: 0,
      udp: 0,
      rest: 0,
      limits: 0,
    };
    try {
      // 1. Control messages over fresh connections (each stays under its rate limit).
      let deadline = Date.now() + TIME_BUDGET_MS;
      while (Date.now() < deadline && stats.control < 4000) {
        const ws = new WebSocket(server.wsUrl);
        let replies = 0;
        ws.on("message", () => replies++);
        await new Promise((resolve, reject) => {
          ws.once("open", resolve);
          ws.once("error", reject);
        });
        for (let i = 0; i < 150; i++, stats.control++) {
          ws.send(randomControlMessage(random, [steady, target, "nope"]));
        }
        await waitFor(() => replies >= 100, {
          what: "answers to fuzzed control",
          timeoutMs: 5_000,
        });
        stats.replies += replies;
        ws.close();
      }
      // 1b. Messages over the 64 KiB cap, text or binary: the connection is closed (1009)
      // before the message is buffered, and nothing else is disturbed.
      for (let i = 0; i < 6; i++) {
        const ws = new WebSocket(server.wsUrl);
        ws.on("error", () => {});
        await new Promise((resolve, reject) => {
          ws.once("open", resolve);
          ws.once("error", reject);
        });
        const closed = new Promise<number>((resolve) => ws.once("close", resolve));
        const size = 65_537 + Math.floor(random() * 4 * 1024 * 1024);
        ws.send(random() < 0.5 ? "x".repeat(size) : new Uint8Array(size));
        assert.equal(await closed, 1009);
        stats.oversized++;
      }
      // 2. Mutated media from a member over its WebSocket, within its rate limit.
      deadline = Date.now() + TIME_BUDGET_MS;
      while (Date.now() < deadline && stats.wsMedia < 20_000) {
        for (let i = 0; i < 50; i++, stats.wsMedia++) {
          fuzzer.sendRaw(
            mutatedPacket(random, random() < 0.5 ? fuzzer.ssrcs.videoSsrc : fuzzer.ssrcs.mixSsrc),
          );
        }
        // A round trip paces the loop; when pings themselves are rate-limited, that is the answer.
        await fuzzer.request({ type: "ping" }).catch((e: Error) => {
          if (!e.message.startsWith("rate_limited")) throw e;
        });
      }
      // 3. Mutated datagrams: unbound, then from an address bound to the target meeting.
      const udp = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
      const to = { transport: "udp" as const, hostname: "127.0.0.1", port: server.udpPort };
      for (let i = 0; i < 500; i++, stats.udp++) await udp.send(mutatedPacket(random, 7), to);
      // UDP may drop the bind after that burst: resend until answered, as clients do.
      const answers: string[] = [];
      (async () => {
        for (;;) answers.push(new TextDecoder().decode((await udp.receive())[0]));
      })().catch(() => {});
      await waitFor(async () => {
        const check = answers.findLast((a) => a.startsWith("MEET-CHECK "));
        const nonce = check?.slice("MEET-CHECK ".length);
        await udp.send(udpBindRequest(fuzzer.join.media.mediaKey, target, nonce), to);
        return answers.some((a) => a.startsWith("MEET-BOUND "));
      }, { what: "the bind answered", intervalMs: 100 });
      deadline = Date.now() + TIME_BUDGET_MS;
      while (Date.now() < deadline && stats.udp < 20_000) {
        for (let i = 0; i < 50; i++, stats.udp++) await udp.send(mutatedPacket(random, 7), to);
      }
      udp.close();
      fuzzer.close();
      // 4. REST bodies and paths.
      deadline = Date.now() + TIME_BUDGET_MS;
      const paths = [
        "api/meetings",
        `api/meetings/${target}/rtp`,
        `api/meetings/${target}`,
        "api/meetings/%00",
        `api/meetings/${steady}/history`,
      ];
      while (Date.now() < deadline && stats.rest < 1500) {
        const path = paths[Math.floor(random() * paths.length)];
        const method = ["POST", "DELETE", "GET", "PUT"][Math.floor(random() * 4)];
        const body = method === "GET"
          ? undefined
          : random() < 0.5
          ? JSON.stringify(randomJson(random))
          : randomBytes(random, 200).slice() as Uint8Array<ArrayBuffer>;
        const headers: Record<string, string> = {};
        if (random() < 0.3) headers.authorization = `Bearer ${"A".repeat(22)}`;
        if (random() < 0.6) {
          headers["content-type"] = ["application/json", "text/plain", "multipart/form-data"][
            Math.floor(random() * 3)
          ];
        }
        if (random() < 0.2) headers.origin = random() < 0.5 ? "http://evil.example" : "null";
        const res = await fetch(`${server.url}${path}`, { method, body, headers });
        assert.ok(res.status < 500, `${method} ${path} -> ${res.status}`);
        await res.body?.cancel();
        stats.rest++;
      }
      // 5. The limits, pushed from one address: they refuse with clear errors, never a 5xx,
      // and what they let through stays within their budgets.
      const refusals = { creates: 0, guesses: 0, judged: 0, seats: 0, binds: 0 };
      // a. A burst of creates over REST and the WebSocket (they share one budget).
      const creator = await testClient(server, "Burst");
      for (let i = 0; i < 60; i++, stats.limits++) {
        if (i % 2 === 0) {
          const res = await fetch(`${server.url}api/meetings`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ title: `burst ${i}`, name: "Burst" }),
          });
          assert.ok(res.status === 201 || res.status === 429, `create -> ${res.status}`);
          if (res.status === 429) refusals.creates++;
          await res.body?.cancel();
        } else {
          await creator.request({ type: "create", title: `burst ${i}`, join: false }).catch(
            (e: ControlError) => {
              assert.ok(e.code === "rate_limited" || e.code === "limit_reached", e.message);
              refusals.creates++;
            },
          );
        }
      }
      creator.close();
      // b. Passcode guesses from several connections: only a handful are judged.
      const guessers = await Promise.all(
        Array.from({ length: 5 }, (_, i) => testClient(server, `Guess ${i}`)),
      );
      for (let i = 0; i < 60; i++, stats.limits++) {
        const passcode = String(Math.floor(random() * 10_000)).padStart(4, "1");
        await guessers[i % guessers.length].request({ type: "join", meetingId: locked, passcode })
          .then(() => assert.fail("a guess got in"))
          .catch((e: ControlError) => {
            if (e.code === "rate_limited") refusals.guesses++;
            else if (e.code === "wrong_passcode") refusals.judged++;
            else throw e;
          });
      }
      guessers.forEach((g) => g.close());
      // c. Bind datagrams with random keys, meeting ids and nonces, from two sockets sending
      // short (24-byte) and long (64-byte) ones: answers are few, and none is longer than what
      // it answers.
      const bindSizes = [24, 64];
      const binders = bindSizes.map(() =>
        Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 })
      );
      const bindAnswers: Uint8Array[][] = bindSizes.map(() => []);
      binders.forEach((binder, i) =>
        (async () => {
          for (;;) bindAnswers[i].push((await binder.receive())[0]);
        })().catch(() => {})
      );
      const field = () =>
        Array.from(
          randomBytes(random, 1 + Math.floor(random() * 40)),
          (b) => "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[b % 64],
        ).join("");
      for (let i = 0; i < 400; i++, stats.limits++) {
        const size = bindSizes[i % 2];
        const text = `MEET-BIND ${field()} ${random() < 0.5 ? steady : field()}` +
          (random() < 0.5 ? ` ${field()}` : "");
        const bytes = new TextEncoder().encode(text.slice(0, size).padEnd(size, "x"));
        await binders[i % 2].send(bytes, to);
      }
      // d. Plain-RTP seats aimed anywhere: refused classes get 4xx, the rest may be added but
      // get nothing until they send (none of them does).
      const aims: [unknown, unknown][] = [
        ["0.0.0.0", 5000],
        ["255.255.255.255", 5000],
        ["224.0.0.251", 5353],
        ["240.1.2.3", 5000],
        ["127.0.0.1", server.udpPort],
        ["127.0.0.3", 0],
        ["127.0.0.3", 70_000],
        ["not an ip", 5000],
        ["127.0.0.3", 20_000 + Math.floor(random() * 20_000)],
      ];
      for (let i = 0; i < 40; i++, stats.limits++) {
        const [ip, port] = aims[Math.floor(random() * aims.length)];
        const res = await fetch(`${server.url}api/meetings/${steady}/rtp`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${ann.token}` },
          body: JSON.stringify({ name: `seat ${i}`, ip, port, audioPayloadType: 111 }),
        });
        assert.ok(res.status < 500, `rtp seat at ${ip}:${port} -> ${res.status}`);
        if (res.status >= 400) refusals.seats++;
        assert.ok(
          res.status !== 201 || (ip === "127.0.0.3" && port !== 0 && port !== 70_000),
          `a seat at ${ip}:${port} was accepted`,
        );
        await res.body?.cancel();
      }
      await waitFor(() => bindAnswers.flat().length > 0, { what: "some bind answers" });
      binders.forEach((b) => b.close());
      const answered = bindAnswers.flat().length;
      refusals.binds = 400 - answered;
      assert.ok(refusals.creates >= 30, `creates refused: ${refusals.creates} of 60`);
      assert.ok(refusals.judged <= 6, `${refusals.judged} passcode guesses were judged`);
      assert.ok(refusals.guesses >= 50, `guesses refused: ${refusals.guesses} of 60`);
      assert.ok(answered <= 200, `${answered} answers to 400 bad binds`);
      bindSizes.forEach((size, i) =>
        assert.ok(
          bindAnswers[i].every((a) => a.length <= size),
          `an answer outgrew its ${size} bytes`,
        )
      );
      // The server carries on: the steady meeting still hears Ann, a new client works.
      const mark = bob.mixSamples.length;
      await waitFor(() => bob.mixSamples.length > mark + 24_000, {
        what: "Bob keeps receiving audio",
      });
      assert.ok(bob.tonePower(440, 300) > 0.005, "Ann's tone lost during the fuzz");
      const after = await testClient(server, "After");
      assert.ok((await after.request({ type: "ping" })).now > 0);
      after.close();
      const media = (await (await fetch(`${server.url}api/meetings/${target}`)).json()).media;
      assert.ok(
        media.dropped.malformed > 0 && media.dropped.foreignSsrc > 0,
        JSON.stringify(media.dropped),
      );
      // (UDP: the kernel may drop part of a burst before the server reads it.)
      assert.ok(server.udp.counters.droppedUnbound >= 100, JSON.stringify(server.udp.counters));
      console.log(
        `fuzz (seed ${SEED}):`,
        JSON.stringify(stats),
        "refused by the limits:",
        JSON.stringify(refusals),
        "media dropped:",
        JSON.stringify(media.dropped),
      );
    } finally {
      ann.close();
      bob.close();
      host.close();
    }
  },
});
