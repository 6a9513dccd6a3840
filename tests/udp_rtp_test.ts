/**
 * Integration over real UDP with real ffmpeg as plain-RTP participants.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { goertzelPower } from "../media/mix.ts";
import { ffmpeg, freeUdpPort, opusToneRtp, readWav, vp8PatternRtp } from "./support/ffmpeg.ts";
import { mediaBot } from "./support/media_bot.ts";
import { testServer } from "./support/server.ts";
import { waitFor } from "./support/wait.ts";

const HEARD = 0.005;
const ABSENT = 0.0005;

async function createMeeting(url: string, title: string) {
  const res = await fetch(`${url}api/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ title, name: "Host" }),
  });
  return await res.json() as { id: string; token: string };
}

async function addRtp(url: string, meeting: { id: string; token: string }, body: object) {
  const res = await fetch(`${url}api/meetings/${meeting.id}/rtp`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${meeting.token}` },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

for (const udpIo of ["batched", "deno"] as const) {
  Deno.test({
    name:
      `ffmpeg sends an Opus tone over plain RTP (${udpIo} UDP I/O): others hear it; its own mix holds them, not it`,
    sanitizeResources: false,
    async fn() {
      await using server = await testServer({ udpIo });
      assert.equal(server.udp.ioStats.kind, udpIo);
      const dir = await Deno.makeTempDir({ prefix: "meet-ffmpeg-" });
      const meeting = await createMeeting(server.url, "RTP");
      const ann = await mediaBot(server, "Ann", meeting.id);
      try {
        ann.startTone(660);
        const sendPort = freeUdpPort();
        const receivePort = freeUdpPort();
        const added = await addRtp(server.url, meeting, {
          name: "ffmpeg",
          ip: "127.0.0.1",
          port: sendPort,
          receivePort,
          audioPayloadType: 111,
        });
        assert.equal(added.status, 201, JSON.stringify(added.json));
        const { participantId, token, ip, port, sdp } = added.json;
        assert.equal(ip, "127.0.0.1");
        assert.equal(port, server.udpPort);
        assert.match(sdp, new RegExp(`m=audio ${receivePort} RTP/AVP 111`));
        await Deno.writeTextFile(join(dir, "meet.sdp"), sdp);
        const wav = join(dir, "mix.wav");
        // ffmpeg receives what the server sends it (the mix) using the returned SDP...
        await using receiver = ffmpeg([
          "-protocol_whitelist",
          "file,udp,rtp",
          "-i",
          join(dir, "meet.sdp"),
          "-t",
          "4",
          "-ac",
          "1",
          "-ar",
          "48000",
          "-y",
          wav,
        ]);
        // ...while another ffmpeg sends a 440 Hz tone from the bound address.
        await using sender = ffmpeg(
          opusToneRtp({
            hz: 440,
            seconds: 15,
            payloadType: 111,
            serverPort: port,
            localPort: sendPort,
          }),
        );
        await waitFor(() => ann.tonePower(440) > HEARD, {
          what: "Ann hears ffmpeg's 440 Hz",
          timeoutMs: 15_000,
        });
        assert.ok(ann.tonePower(660) < ABSENT, "Ann hears herself");
        const result = await receiver.done;
        assert.equal(result.code, 0, result.log);
        const { samples, sampleRate } = await readWav(wav);
        assert.equal(sampleRate, 48_000);
        assert.ok(samples.length >= 48_000 * 3, `${samples.length} samples`);
        const tail = samples.subarray(samples.length - 48_000);
        const ann660 = goertzelPower(tail, sampleRate, 660);
        const own440 = goertzelPower(tail, sampleRate, 440);
        assert.ok(ann660 > HEARD, `ffmpeg's mix lacks Ann: ${ann660}`);
        assert.ok(own440 < ABSENT, `ffmpeg hears its own tone: ${own440}`);
        // The roster shows the RTP participant; DELETE with its token removes it.
        const details = await (await fetch(`${server.url}api/meetings/${meeting.id}`)).json();
        const seat = details.roster.find((p: { id: string }) => p.id === participantId);
        assert.deepEqual([seat.name, seat.kind, seat.audio, seat.video, seat.transport], [
          "ffmpeg",
          "rtp",
          true,
          false,
          "udp",
        ]);
        const wrong = await fetch(`${server.url}api/meetings/${meeting.id}/rtp/${participantId}`, {
          method: "DELETE",
          headers: { authorization: `Bearer ${meeting.token}` },
        });
        assert.equal(wrong.status, 403);
        await wrong.body?.cancel();
        const del = await fetch(`${server.url}api/meetings/${meeting.id}/rtp/${participantId}`, {
          method: "DELETE",
          headers: { authorization: `Bearer ${token}` },
        });
        assert.equal(del.status, 204);
        // ffmpeg keeps sending, but its address is bound to no seat any more.
        const unbound = server.udp.counters.droppedUnbound;
        await waitFor(() => server.udp.counters.droppedUnbound > unbound + 10, {
          what: "the departed sender's packets dropped as unbound",
        });
        void sender;
      } finally {
        ann.close();
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

Deno.test({
  name: "ffmpeg sends VP8 over plain RTP: a member receives it, starting at a keyframe",
  sanitizeResources: false,
  async fn() {
    await using server = await testServer();
    const meeting = await createMeeting(server.url, "Video");
    const viewer = await mediaBot(server, "Viewer", meeting.id);
    try {
      const sendPort = freeUdpPort();
      const added = await addRtp(server.url, meeting, {
        name: "camera",
        ip: "127.0.0.1",
        port: sendPort,
        videoPayloadType: 100,
      });
      assert.equal(added.status, 201);
      const details = await (await fetch(`${server.url}api/meetings/${meeting.id}`)).json();
      const camera = details.roster.find((p: { name: string }) => p.name === "camera");
      await using _sender = ffmpeg(
        vp8PatternRtp({
          seconds: 20,
          keyframeEvery: 30,
          payloadType: 100,
          serverPort: added.json.port,
          localPort: sendPort,
        }),
      );
      await waitFor(() => (viewer.videoBySsrc.get(camera.videoSsrc) ?? 0) >= 30, {
        what: "30 video packets from ffmpeg",
        timeoutMs: 15_000,
      });
      assert.ok((viewer.keyframesBySsrc.get(camera.videoSsrc) ?? 0) >= 1, "no keyframe");
      // Packets arrive with the server-assigned SSRC and our VP8 payload type.
      assert.ok(viewer.ssrcsSeen.has(camera.videoSsrc));
    } finally {
      viewer.close();
    }
  },
});

Deno.test("UDP: garbage, unbound sources and bad binds are dropped and counted; the meeting carries on", async () => {
  await using server = await testServer();
  const meeting = await createMeeting(server.url, "Hostile");
  const [ann, bob] = [
    await mediaBot(server, "Ann", meeting.id),
    await mediaBot(server, "Bob", meeting.id),
  ];
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const to = { transport: "udp" as const, hostname: "127.0.0.1", port: server.udpPort };
  try {
    ann.startTone(440);
    const before = { ...server.udp.counters };
    const { writeRtp } = await import("../media/rtp.ts");
    const rtp = writeRtp({
      payloadType: 111,
      sequenceNumber: 1,
      timestamp: 1,
      ssrc: bob.ssrcs.audioSsrc,
      payload: new Uint8Array(20),
    });
    for (let i = 0; i < 50; i++) await socket.send(rtp, to); // unbound source: dropped
    await socket.send(new Uint8Array([1, 2]), to); // too short
    await socket.send(new Uint8Array(2000).fill(0x80), to); // too long
    await socket.send(new TextEncoder().encode("MEET-BIND forged-token " + meeting.id), to);
    const [answer] = await socket.receive();
    assert.equal(new TextDecoder().decode(answer), "MEET-ERROR invalid_key");
    await waitFor(() => server.udp.counters.received >= before.received + 53, {
      what: "all datagrams seen",
    });
    const c = server.udp.counters;
    assert.equal(c.droppedUnbound - before.droppedUnbound, 50);
    assert.ok(c.droppedMalformed - before.droppedMalformed >= 1);
    assert.equal(c.bindErrors - before.bindErrors, 1);
    // Nothing of that reached anyone, and the meeting carries on.
    await waitFor(() => bob.tonePower(440) > HEARD, { what: "Bob hears Ann" });
    const media = (await (await fetch(`${server.url}api/meetings/${meeting.id}`)).json()).media;
    assert.equal(media.dropped.malformed, 0, "UDP garbage reached the room");
  } finally {
    socket.close();
    ann.close();
    bob.close();
  }
});
