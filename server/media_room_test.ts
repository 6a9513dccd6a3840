import assert from "node:assert/strict";
import { splitRed } from "../media/red.ts";
import {
  compactNtp,
  ntpFromMs,
  parseRtcp,
  writeNack,
  writePli,
  writeReceiverReport,
  writeRemb,
} from "../media/rtcp.ts";
import { isRtcp, parseRtp, type RtpPacket, writeRtp } from "../media/rtp.ts";
import { createOpusEncoder } from "../media/opus.ts";
import { createOpusDecoder } from "../media/opus.ts";
import { packetizeVp8 } from "../media/vp8.ts";
import { captureTimeExtension, PT_OPUS, PT_RED, PT_VP8, readSendTime } from "../protocol/media.ts";
import { ManualClock } from "../util/clock.ts";
import { fakeCodecs, FakeTransport, testMeeting } from "./_testing.ts";
import { MediaClock } from "./media_clock.ts";
import { MediaRoom, type MediaRoomOptions, SCREEN_BITRATE } from "./media_room.ts";
import type { MediaTransport } from "./media_transport.ts";

function setup(options: Partial<MediaRoomOptions> = {}) {
  const { meeting } = testMeeting({ p2p: "off" });
  const ann = meeting.join("s1", "Ann").participant;
  const bob = meeting.join("s2", "Bob").participant;
  const cy = meeting.join("s3", "Cy").participant;
  const time = new ManualClock(0);
  const clock = new MediaClock(time);
  const changes: [string, string | undefined][] = [];
  const media = new MediaRoom(meeting, {
    codecs: fakeCodecs,
    clock,
    onTransportChange: (id, t) => changes.push([id, t?.kind]),
    ...options,
  });
  return { meeting, ann, bob, cy, time, clock, media, changes };
}

/** Seats each of `seats` on a new fake transport of its own; returns them in that order. */
function seatAll(media: MediaRoom, ...seats: { id: string }[]): FakeTransport[] {
  return seats.map((seat) => {
    const transport = new FakeTransport();
    media.attach(seat.id, transport);
    return transport;
  });
}

/**
 * One VP8 frame as RTP packets from `ssrc` (a keyframe or not), of an L1T3 stream's layers
 * (0, 2, 1, 2 by `seq`) when `layered`.
 */
function videoFrame(ssrc: number, keyframe: boolean, seq: number, layered = false): Uint8Array[] {
  const frame = new Uint8Array(2500).fill(7);
  frame[0] = keyframe ? 0x10 : 0x11; // VP8 payload header: bit 0 clear = keyframe
  const layer = layered
    ? { tl0PicIdx: seq >> 2, temporalLayer: [0, 2, 1, 2][seq % 4], layerSync: false }
    : undefined;
  return packetizeVp8(frame, { pictureId: seq, maxPayloadSize: 1100, layer }).map((
    payload,
    i,
    all,
  ) =>
    writeRtp({
      payloadType: PT_VP8,
      sequenceNumber: seq * 3 + i, // 3 packets a frame: contiguous
      timestamp: seq * 3000,
      ssrc,
      marker: i === all.length - 1,
      payload,
    })
  );
}

const videoOf = (t: FakeTransport) =>
  t.sent.map(parseRtp).filter((p) => p.ok && p.packet.payloadType === PT_VP8);
const plisTo = (t: FakeTransport) =>
  t.sent.filter((b) => {
    const r = parseRtcp(b);
    return r.ok && r.packets.some((p) => p.type === "pli");
  });

/**
 * Ann speaks a 440 Hz tone into the room, a real Opus frame every 20 ms of the manual clock;
 * `mixesOf` reads the mix packets a transport was sent.
 */
function annSpeaks(media: MediaRoom, ann: { id: string; audioSsrc: number }, time: ManualClock) {
  const encoder = createOpusEncoder({ bitrate: 32_000 });
  const pcm = new Int16Array(960);
  let frame = 0;
  return {
    speak(frames: number) {
      for (const end = frame + frames; frame < end; frame++) {
        for (let i = 0; i < 960; i++) {
          pcm[i] = Math.round(8000 * Math.sin(2 * Math.PI * 440 * (frame * 960 + i) / 48_000));
        }
        media.receive(
          ann.id,
          writeRtp({
            payloadType: PT_OPUS,
            sequenceNumber: frame,
            timestamp: frame * 960,
            ssrc: ann.audioSsrc,
            payload: encoder.encode(pcm),
          }),
        );
        time.advance(20);
      }
    },
    close: () => encoder.close(),
  };
}

/** A report block on the room's mix (nothing lost), naming the sender report `lsr`, held 0 ms. */
function mixReportBlock(media: MediaRoom, lsr: number) {
  return {
    ssrc: media.meeting.mixSsrc,
    fractionLost: 0,
    cumulativeLost: 0,
    highestSeq: 0,
    jitter: 0,
    lsr,
    dlsr: 0,
  };
}

function mixesOf(t: FakeTransport, mixSsrc: number) {
  return t.sent.map(parseRtp).flatMap((p) =>
    p.ok && (p.packet.payloadType === PT_OPUS || p.packet.payloadType === PT_RED) &&
      p.packet.ssrc === mixSsrc
      ? [p.packet]
      : []
  );
}

/** The first mix packet `after` follows the last one `before` as the next frame of one stream. */
function assertMixContinues(before: RtpPacket[], after: RtpPacket[]): void {
  const last = before.at(-1)!;
  assert.equal(
    after[0].sequenceNumber,
    (last.sequenceNumber + 1) & 0xffff,
    "the mix's sequence restarted",
  );
  assert.equal(after[0].timestamp, (last.timestamp + 960) >>> 0, "the mix's timestamp jumped");
}

const opusCodecs = {
  createEncoder: () => createOpusEncoder({ bitrate: 32_000 }),
  createDecoder: () => createOpusDecoder(),
};

Deno.test("media room: attach replaces a seat's transport explicitly and closes the old one", () => {
  const { ann, bob, media, changes } = setup();
  const ws = new FakeTransport("websocket");
  const udp = new FakeTransport("udp", { ip: "127.0.0.1", port: 40000 });
  const bobWs = new FakeTransport("websocket");
  assert.equal(media.attach(ann.id, ws), true);
  media.attach(bob.id, bobWs);
  assert.equal(media.attach(ann.id, ws), true, "the same transport again changes nothing");
  assert.equal(ws.closed, false);
  media.attach(ann.id, udp);
  assert.equal(ws.closed, true, "the old transport is closed");
  assert.equal(media.transportOf(ann.id), udp);
  for (const packet of videoFrame(bob.videoSsrc, true, 1)) media.receive(bob.id, packet);
  assert.ok(videoOf(udp).length > 0, "media goes to the new transport");
  assert.equal(videoOf(ws).length, 0, "and never to the closed one");
  assert.deepEqual(changes, [
    [ann.id, "websocket"],
    [bob.id, "websocket"],
    [ann.id, "udp"],
  ]);
});

Deno.test("media room: detach closes the transport; a transport closed by its carrier leaves the room", () => {
  const { ann, bob, media, clock, changes } = setup();
  const [a, b] = seatAll(media, ann, bob);
  assert.equal(clock.running, true, "a room with transports is on the clock");
  a.close(); // the socket went away
  assert.equal(media.transportOf(ann.id), undefined);
  assert.equal(media.transportCount, 1);
  media.receive(ann.id, videoFrame(ann.videoSsrc, true, 1)[0]);
  assert.equal(media.counters.received.packets, 0, "nothing is taken from a seat without one");
  media.detach(bob.id);
  assert.equal(b.closed, true);
  assert.equal(media.transportCount, 0);
  assert.equal(clock.running, false, "an empty room leaves the clock");
  assert.deepEqual(changes.slice(2), [[ann.id, undefined], [bob.id, undefined]]);
});

Deno.test("media room: closing the room closes every transport; a closed room takes none", () => {
  const { ann, bob, media, clock } = setup();
  const a = new FakeTransport();
  const b = new FakeTransport("udp");
  media.attach(ann.id, a);
  media.attach(bob.id, b);
  media.close();
  assert.equal(a.closed && b.closed, true);
  assert.equal(clock.running, false);
  const late = new FakeTransport();
  assert.equal(media.attach(ann.id, late), false);
  assert.equal(late.closed, true, "a transport handed to a closed room is closed");
  const dead = new FakeTransport();
  dead.close();
  const { media: other, ann: ann2 } = setup();
  assert.equal(other.attach(ann2.id, dead), false, "a closed transport is refused");
});

Deno.test("media room: video goes to every other seat stamped with the sender's SSRC; a congested transport's video waits for a keyframe", () => {
  const { ann, bob, cy, media, time } = setup({ congestionBytes: 1000 });
  const [a, b, c] = seatAll(media, ann, bob, cy);
  a.sent = [];
  for (const packet of videoFrame(0x1234, true, 1)) media.receive(ann.id, packet); // own SSRC
  assert.equal(videoOf(a).length, 0, "not back to the sender");
  const toBob = videoOf(b);
  assert.ok(toBob.length >= 3);
  for (const p of toBob) {
    assert.equal(p.ok && p.packet.ssrc, ann.videoSsrc);
    // Stamped with the server's send time (receivers read their link's queue from it).
    assert.equal(p.ok && readSendTime(p.packet.extension), time.now());
  }
  assert.equal(videoOf(c).length, toBob.length);
  // Cy's transport backs up: the router reads queuedBytes and drops Cy's video.
  time.advance(2100); // past the keyframe requests of the joins (one per 2 s per sender)
  c.queued = 5000;
  const before = videoOf(c).length;
  a.sent = [];
  for (const packet of videoFrame(ann.videoSsrc, false, 2)) media.receive(ann.id, packet);
  assert.equal(videoOf(c).length, before, "nothing more to the congested transport");
  assert.ok(videoOf(b).length > toBob.length, "the others still get it");
  assert.ok(media.counters.dropped.congested >= 1);
  assert.equal(plisTo(a).length, 1, "the sender is asked for a keyframe");
  // Drained, Cy still waits for the keyframe: a delta frame does not go.
  c.queued = 0;
  for (const packet of videoFrame(ann.videoSsrc, false, 3)) media.receive(ann.id, packet);
  assert.equal(videoOf(c).length, before);
  for (const packet of videoFrame(ann.videoSsrc, true, 4)) media.receive(ann.id, packet);
  assert.ok(videoOf(c).length > before, "from the keyframe on");
});

Deno.test("media room: a receiver whose queue reaches half the limit gets the base temporal layer only, with no keyframe asked for; drained, every frame from the next base frame", () => {
  const { ann, bob, cy, media, time } = setup({ congestionMs: 400 });
  const [a, b, c] = seatAll(media, ann, bob, cy);
  const framesOf = (t: FakeTransport) =>
    new Set(videoOf(t).map((p) => p.ok && p.packet.timestamp / 3000));
  const send = (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      for (const packet of videoFrame(ann.videoSsrc, i === 0, i, true)) {
        media.receive(ann.id, packet);
      }
    }
  };
  send(0, 4);
  time.advance(2100); // past the keyframe requests of the joins
  a.sent = [];
  c.backlog = 250; // its oldest unread byte waited 250 ms
  send(4, 12);
  c.backlog = 50;
  send(12, 18);
  assert.deepEqual([...framesOf(c)], [0, 1, 2, 3, 4, 8, 12, 13, 14, 15, 16, 17]);
  assert.equal(framesOf(b).size, 18, "the others get every frame");
  assert.equal(plisTo(a).length, 0, "no keyframe is asked for");
  const seqs = videoOf(c).map((p) => p.ok && p.packet.sequenceNumber) as number[];
  for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], seqs[i - 1] + 1, "no gap");
});

Deno.test("media room: a receiver's REMB sets what each video sender it receives is told to send (REMB on the sender's video SSRC); senders of no video are told nothing", () => {
  const { ann, bob, cy, media, time, meeting } = setup();
  const t = new Map([ann, bob, cy].map((p) => [p.id, new FakeTransport()]));
  for (const p of [ann, bob, cy]) media.attach(p.id, t.get(p.id)!);
  const rembsTo = (id: string) =>
    t.get(id)!.sent.flatMap((b) => {
      const r = parseRtcp(b);
      return r.ok ? r.packets.filter((p) => p.type === "remb") : [];
    });
  const sendVideo = (seq: number) => {
    for (const p of [ann, bob]) {
      for (const packet of videoFrame(p.videoSsrc, seq === 1, seq)) media.receive(p.id, packet);
    }
  };
  sendVideo(1);
  // Cy's link carries 400 kbit/s: of it 90 go to the mix, and 0.9 of the rest is shared.
  media.receive(cy.id, writeRemb({ senderSsrc: 9, bitrate: 400_000, ssrcs: [ann.videoSsrc] }));
  time.advance(600);
  for (const p of [ann, bob]) {
    const rembs = rembsTo(p.id);
    assert.equal(rembs.length, 2, `${p.name} is told once of each encoding`);
    const [remb, small] = rembs;
    assert.ok(remb.type === "remb" && small.type === "remb");
    assert.deepEqual(remb.ssrcs, [p.videoSsrc]);
    assert.equal(remb.senderSsrc, meeting.mixSsrc);
    assert.ok(Math.abs(remb.bitrate - 139_500) < 100, `${remb.bitrate}`);
    // Cy's link cannot take a full picture: the small encoding is asked for, for Cy.
    assert.deepEqual(small.ssrcs, [p.smallVideoSsrc]);
    assert.ok(Math.abs(small.bitrate - 139_500) < 100, `${small.bitrate}`);
  }
  assert.equal(rembsTo(cy.id).length, 0, "Cy sends no video");
  assert.equal(media.videoTargets.get(ann.id), 139_500);
  // Unchanged, it is said again only every 2 s; Cy's link gets better: at once.
  sendVideo(2);
  time.advance(500);
  assert.equal(rembsTo(ann.id).length, 2);
  media.receive(cy.id, writeRemb({ senderSsrc: 9, bitrate: 2_000_000, ssrcs: [] }));
  sendVideo(3);
  time.advance(500);
  const [last, stop] = rembsTo(ann.id).slice(-2);
  assert.ok(last?.type === "remb" && last.bitrate === 800_000, "at most what a sender sends");
  assert.ok(stop?.type === "remb" && stop.bitrate === 0, "the small encoding is stopped");
  assert.deepEqual(stop.ssrcs, [ann.smallVideoSsrc]);
  // Cy leaves: its estimate no longer counts.
  media.receive(cy.id, writeRemb({ senderSsrc: 9, bitrate: 100_000, ssrcs: [] }));
  media.detach(cy.id);
  sendVideo(4);
  time.advance(500);
  assert.equal(media.videoTargets.get(ann.id), 800_000);
  assert.ok(media.counters.rateAdvice >= 4);
  media.close();
});

Deno.test("media room: a receiver whose WebSocket backs up while far more is sent than it reads caps its estimate at once, whatever its page says; a link that keeps up is not read", () => {
  const { ann, bob, cy, media, time } = setup({ congestionMs: 400 });
  const [a, , c] = seatAll(media, ann, bob, cy);
  const rembsTo = (t: FakeTransport) =>
    t.sent.flatMap((b) => {
      const r = parseRtcp(b);
      return r.ok ? r.packets.filter((p) => p.type === "remb") : [];
    });
  let seq = 0;
  const sendVideo = () => {
    seq++;
    for (const p of [ann, bob]) {
      for (const packet of videoFrame(p.videoSsrc, seq === 1, seq)) media.receive(p.id, packet);
    }
  };
  // Cy's page has seen no queue: it says its link carries 20 Mbit/s.
  media.receive(cy.id, writeRemb({ senderSsrc: 9, bitrate: 20_000_000, ssrcs: [] }));
  sendVideo();
  time.advance(600);
  assert.equal(media.videoTargets.get(ann.id), 800_000);
  // A backlog under half the limit is no reading, whatever the transport would say.
  c.backlog = 150;
  c.delivered = 400_000;
  time.advance(600);
  assert.equal(media.counters.linkFullReadings, 0);
  // Its oldest unread byte waited 250 ms, and it read 400 kbit/s of far more: once is not
  // enough (a TCP stall reads so for a moment); again 500 ms later, 85% of that caps it.
  c.backlog = 250;
  sendVideo();
  time.advance(20);
  assert.equal(media.counters.linkFullReadings, 0);
  time.advance(500);
  assert.equal(media.counters.linkFullReadings, 1);
  c.backlog = 0;
  time.advance(500);
  const told = rembsTo(a).filter((r) => r.type === "remb" && r.ssrcs[0] === ann.videoSsrc).at(-1);
  // 0.9 x (340 - 90) / 2, grown 8% a second for about half a second.
  assert.ok(
    told?.type === "remb" && told.bitrate > 112_500 && told.bitrate < 119_500,
    `Ann told ${JSON.stringify(told)}`,
  );
  // Backed up but reading what is sent (a transport that says null): no reading, and the cap
  // does not grow meanwhile; drained, it grows again.
  const before = media.videoTargets.get(ann.id)!;
  c.backlog = 250;
  c.delivered = null;
  for (let i = 0; i < 4; i++) sendVideo(), time.advance(500);
  assert.equal(media.counters.linkFullReadings, 1);
  const held = media.videoTargets.get(ann.id)!;
  assert.ok(held <= before * 1.05, `${before} then ${held}`);
  c.backlog = 0;
  for (let i = 0; i < 4; i++) sendVideo(), time.advance(500);
  const grown = media.videoTargets.get(ann.id)!;
  assert.ok(grown > held * 1.15, `${held} then ${grown}`);
  media.close();
});

Deno.test("media room: a weak receiver gets a sender's small encoding once it arrives, as the sender's one video stream; the others keep the full one at full rate", () => {
  const { ann, bob, cy, media, time } = setup();
  const t = new Map([ann, bob, cy].map((p) => [p.id, new FakeTransport()]));
  for (const p of [ann, bob, cy]) media.attach(p.id, t.get(p.id)!);
  let fullSeq = 1, smallSeq = 10_000; // frame numbers (3 packets a frame)
  const frame = (key: boolean, small: boolean) => {
    for (const packet of videoFrame(ann.videoSsrc, key, fullSeq++)) media.receive(ann.id, packet);
    if (!small) return;
    for (const packet of videoFrame(ann.smallVideoSsrc, key, smallSeq++)) {
      media.receive(ann.id, packet);
    }
  };
  const videoTo = (id: string) =>
    t.get(id)!.sent.filter((b) => !isRtcp(b)).map((b) => {
      const p = parseRtp(b);
      assert.ok(p.ok);
      return p.packet;
    }).filter((p) => p.payloadType === PT_VP8);
  frame(true, false);
  // Cy's link: 0.9 x (300 - 90) = 189 kbit/s for Ann's video, too little for the full one.
  media.receive(cy.id, writeRemb({ senderSsrc: 9, bitrate: 300_000, ssrcs: [] }));
  time.advance(500);
  assert.equal(media.smallVideoTargets.get(ann.id), 189_000);
  assert.equal(media.videoTargets.get(ann.id), 189_000, "until it arrives, Cy bounds the full one");
  // The small encoding arrives; at the next allocation Cy is to be moved to it, at its
  // next keyframe. Until Cy gets it, Cy still bounds the full one (its link would flood).
  frame(false, true);
  frame(true, true);
  time.advance(500);
  assert.equal(media.layersOf(cy.id).get(ann.id), "full", "until the small keyframe");
  assert.equal(media.videoTargets.get(ann.id), 189_000);
  const cyBefore = videoTo(cy.id).length;
  frame(false, true);
  frame(true, true);
  frame(false, true);
  assert.equal(media.layersOf(cy.id).get(ann.id), "small");
  assert.equal(media.layersOf(bob.id).get(ann.id), "full");
  // Cy is on it: the full encoding is for Bob alone.
  time.advance(500);
  assert.equal(media.videoTargets.get(ann.id), 800_000);
  const cyGot = videoTo(cy.id);
  const bobGot = videoTo(bob.id);
  // Both see Ann's one video SSRC, numbered without a gap.
  for (const got of [cyGot, bobGot]) {
    assert.ok(got.every((p) => p.ssrc === ann.videoSsrc));
    for (let i = 1; i < got.length; i++) {
      assert.equal(got[i].sequenceNumber, (got[i - 1].sequenceNumber + 1) & 0xffff);
    }
  }
  // Cy: a full frame, the full keyframe (it came first), then the small keyframe and frame
  // (their timestamps are the small encoding's frame numbers here); Bob: full frames only.
  const isSmall = (p: RtpPacket) => p.timestamp >= 10_000 * 3000;
  assert.deepEqual(cyGot.slice(cyBefore).map(isSmall), [
    ...Array(6).fill(false),
    ...Array(6).fill(true),
  ]);
  assert.ok(bobGot.every((p) => !isSmall(p)));
  // Cy's link backs up: its video pauses until a keyframe, of the small encoding. Paused, it
  // gets nothing of the full one, and bounds it no more than before.
  t.get(cy.id)!.queued = 10_000_000;
  frame(false, true);
  assert.equal(media.layersOf(cy.id).get(ann.id), null, "paused");
  time.advance(500);
  assert.equal(media.videoTargets.get(ann.id), 800_000);
  media.close();
});
Deno.test("media room: a sender whose uplink queues (its send times fall behind the server's clock) is told to send less", () => {
  const { ann, bob, media, time } = setup();
  const [a] = seatAll(media, ann, bob);
  let seq = 0;
  const frame = (who: { id: string; videoSsrc: number }, sendMs: number, keyframe: boolean) => {
    const data = new Uint8Array(2500).fill(7);
    data[0] = keyframe ? 0x10 : 0x11;
    for (
      const [i, payload] of packetizeVp8(data, { pictureId: seq, maxPayloadSize: 1100 }).entries()
    ) {
      media.receive(
        who.id,
        writeRtp({
          payloadType: PT_VP8,
          sequenceNumber: seq++,
          timestamp: Math.round(sendMs * 90),
          ssrc: who.videoSsrc,
          marker: i === 2,
          extension: captureTimeExtension(1.7e12 + sendMs, sendMs),
          payload,
        }),
      );
    }
  };
  const rembTo = (t: FakeTransport) =>
    t.sent.flatMap((bytes) => {
      const r = parseRtcp(bytes);
      return r.ok ? r.packets.filter((p) => p.type === "remb") : [];
    }).at(-1);
  // 6 s of Ann's frames every 33 ms, on time (past the warm-up); then each 10 ms later than the last.
  for (let n = 0; n < 260; n++) {
    frame(ann, n * 33, n === 0);
    time.advance(n > 180 ? 43 : 33);
  }
  const remb = rembTo(a);
  assert.ok(remb?.type === "remb" && remb.bitrate < 700_000, `Ann told ${JSON.stringify(remb)}`);
  assert.ok(media.uplinks.get(ann.id)!.overuses >= 1);
  media.close();
});

Deno.test("media room: the media clock mixes: a speaker is heard by the others through their transports", () => {
  const { ann, bob, cy, media, time, meeting } = setup({
    codecs: {
      createEncoder: () => createOpusEncoder({ bitrate: 32_000 }),
      createDecoder: () => createOpusDecoder(),
    },
  });
  const transports = new Map<string, MediaTransport & { sent: Uint8Array[] }>();
  for (const p of [ann, bob, cy]) {
    const t = new FakeTransport();
    transports.set(p.id, t);
    media.attach(p.id, t);
  }
  const voice = annSpeaks(media, ann, time);
  voice.speak(25);
  voice.close();
  const mixTo = (id: string) =>
    mixesOf(transports.get(id)! as FakeTransport, meeting.mixSsrc).length;
  assert.ok(mixTo(bob.id) >= 20, `Bob got ${mixTo(bob.id)} mixes`);
  const sendTimes = mixesOf(transports.get(bob.id)! as FakeTransport, meeting.mixSsrc).map((p) =>
    readSendTime(p.extension)
  );
  assert.ok(sendTimes.every((t, i) => t !== null && (i === 0 || t > sendTimes[i - 1]!)));
  assert.ok(mixTo(cy.id) >= 20);
  assert.ok(media.mixerStats.decodes > 0);
  media.close();
});

Deno.test("media room: a carrier change keeps the seat's media: the mix goes on with the next sequence number and timestamp on the new transport", () => {
  const { ann, bob, media, time, meeting } = setup({ codecs: opusCodecs });
  const bobWs = new FakeTransport("websocket");
  const bobWt = new FakeTransport("webtransport");
  media.attach(ann.id, new FakeTransport("websocket"));
  media.attach(bob.id, bobWs);
  const voice = annSpeaks(media, ann, time);
  voice.speak(25);
  const before = mixesOf(bobWs, meeting.mixSsrc);
  assert.ok(before.length >= 20, `Bob got ${before.length} mixes on the WebSocket`);
  media.attach(bob.id, bobWt); // Bob's page moved to WebTransport
  assert.equal(bobWs.closed, true);
  voice.speak(10);
  const after = mixesOf(bobWt, meeting.mixSsrc);
  assert.ok(after.length >= 8, `Bob got ${after.length} mixes on WebTransport`);
  assertMixContinues(before, after);
  assert.equal(media.transportOf(bob.id), bobWt);
  voice.close();
  media.close();
});

Deno.test("media room: mixes to a seat on WebTransport carry the previous frame again (RED); on the WebSocket they are plain Opus", () => {
  const { ann, bob, cy, media, time, meeting } = setup({ codecs: opusCodecs });
  const bobWt = new FakeTransport("webtransport");
  const cyWs = new FakeTransport("websocket");
  media.attach(ann.id, new FakeTransport("websocket"));
  media.attach(bob.id, bobWt);
  media.attach(cy.id, cyWs);
  const voice = annSpeaks(media, ann, time);
  voice.speak(10);
  voice.close();
  const red = mixesOf(bobWt, meeting.mixSsrc);
  assert.ok(red.length >= 8);
  assert.ok(red.every((p) => p.payloadType === PT_RED));
  for (let i = 1; i < red.length; i++) {
    const [previous, primary] = splitRed(red[i])!;
    assert.deepEqual(previous.payload, splitRed(red[i - 1])!.at(-1)!.payload);
    assert.equal(previous.sequenceNumber, red[i - 1].sequenceNumber);
    assert.equal(previous.timestamp, red[i - 1].timestamp);
    assert.equal(primary.payloadType, PT_OPUS);
  }
  assert.ok(mixesOf(cyWs, meeting.mixSsrc).every((p) => p.payloadType === PT_OPUS));
  media.close();
});

Deno.test("media room: a seat between two transports (its session closed, its page's media comes back on the WebSocket) continues its mix where it stopped", () => {
  const { ann, bob, media, time, meeting } = setup({ codecs: opusCodecs });
  const bobWt = new FakeTransport("webtransport");
  const bobWs = new FakeTransport("websocket");
  media.attach(ann.id, new FakeTransport("websocket"));
  media.attach(bob.id, bobWt);
  const voice = annSpeaks(media, ann, time);
  voice.speak(25);
  const before = mixesOf(bobWt, meeting.mixSsrc);
  assert.ok(before.length >= 20, `Bob got ${before.length} mixes over WebTransport`);
  bobWt.close(); // the session went away: Bob has no transport for a moment
  assert.equal(media.transportOf(bob.id), undefined);
  voice.speak(5);
  media.attach(bob.id, bobWs);
  voice.speak(10);
  const after = mixesOf(bobWs, meeting.mixSsrc);
  assert.ok(after.length >= 8, `Bob got ${after.length} mixes on the WebSocket`);
  assertMixContinues(before, after);
  voice.close();
  media.close();
});

Deno.test("media room: a participant whose microphone or camera the host turned off is not mixed or forwarded until it turns it on itself", () => {
  const { ann, bob, cy, media, time, meeting } = setup({
    codecs: {
      createEncoder: () => createOpusEncoder({ bitrate: 32_000 }),
      createDecoder: () => createOpusDecoder(),
    },
  });
  for (const p of [ann, bob, cy]) media.attach(p.id, new FakeTransport());
  meeting.setMediaState(ann.id, { audio: true, video: true });
  meeting.handOverHost(ann.id, bob.id);
  meeting.hostMute(bob.id, ann.id, "audio");
  meeting.hostMute(bob.id, ann.id, "video");
  const voice = annSpeaks(media, ann, time);
  voice.speak(25);
  for (const packet of videoFrame(ann.videoSsrc, true, 1)) media.receive(ann.id, packet);
  assert.equal(media.counters.dropped.hostMuted, 25 + videoFrame(ann.videoSsrc, true, 1).length);
  assert.equal(media.mixerStats.decodes, 0, "Ann's muted voice was decoded");
  assert.equal(media.counters.forwarded.video.packets, 0);
  // Ann turns her microphone on again: she is heard; her camera stays off at the server.
  meeting.setMediaState(ann.id, { audio: true, video: false });
  voice.speak(25);
  voice.close();
  assert.ok(media.mixerStats.decodes > 0, "Ann's voice is not mixed after she unmuted");
  for (const packet of videoFrame(ann.videoSsrc, true, 2)) media.receive(ann.id, packet);
  assert.equal(media.counters.forwarded.video.packets, 0);
  media.close();
});

Deno.test("media room: a shared screen is forwarded, on its own SSRC, to the others only while its sender says it shares; PLIs, NACKs and rate advice name it", () => {
  const { ann, bob, cy, media, time, meeting } = setup();
  const [annT, bobT, cyT] = [ann, bob, cy].map((p) => {
    const t = new FakeTransport();
    media.attach(p.id, t);
    return t;
  });
  const screenOf = (t: FakeTransport) =>
    videoOf(t).filter((p) => p.ok && p.packet.ssrc === ann.screenSsrc);
  // Not shared yet: dropped, nobody gets it.
  for (const packet of videoFrame(ann.screenSsrc, true, 1)) media.receive(ann.id, packet);
  assert.equal(media.counters.dropped.notShared, 3);
  assert.equal(screenOf(bobT).length + screenOf(cyT).length, 0);
  meeting.setMediaState(ann.id, { audio: false, video: true, screen: true });
  for (const packet of videoFrame(ann.screenSsrc, true, 2)) media.receive(ann.id, packet);
  for (const packet of videoFrame(ann.screenSsrc, false, 3)) media.receive(ann.id, packet);
  for (const packet of videoFrame(ann.videoSsrc, true, 1)) media.receive(ann.id, packet);
  assert.equal(screenOf(bobT).length, 6);
  assert.equal(screenOf(cyT).length, 6);
  assert.equal(screenOf(annT).length, 0, "Ann was sent her own screen");
  // The camera is a stream of its own beside it.
  const camera = videoOf(bobT).filter((p) => p.ok && p.packet.ssrc === ann.videoSsrc);
  assert.equal(camera.length, 3);
  // Bob asks for a keyframe of the screen, and for a screen packet again.
  const plisBefore = plisTo(annT).length;
  time.advance(2_100);
  media.receive(bob.id, writePli({ senderSsrc: bob.videoSsrc, mediaSsrc: ann.screenSsrc }));
  const screenPlis = plisTo(annT).slice(plisBefore).filter((b) => {
    const r = parseRtcp(b);
    return r.ok && r.packets.some((p) => p.type === "pli" && p.mediaSsrc === ann.screenSsrc);
  });
  assert.equal(screenPlis.length, 1);
  const lostSeq = (screenOf(bobT)[4] as { packet: RtpPacket }).packet.sequenceNumber;
  const sentBefore = bobT.sent.length;
  media.receive(
    bob.id,
    writeNack({ senderSsrc: bob.videoSsrc, mediaSsrc: ann.screenSsrc, lost: [lostSeq] }),
  );
  assert.equal(media.counters.resent, 1);
  const again = parseRtp(bobT.sent[sentBefore]);
  assert.ok(
    again.ok && again.packet.ssrc === ann.screenSsrc && again.packet.sequenceNumber === lostSeq,
  );
  // Rate advice: a REMB naming the screen, within its bounds.
  for (let i = 0; i < 30; i++) {
    for (const packet of videoFrame(ann.screenSsrc, false, 4 + i)) media.receive(ann.id, packet);
    time.advance(20);
  }
  const screenRembs = annT.sent.flatMap((b) => {
    const r = parseRtcp(b);
    return r.ok
      ? r.packets.filter((p) => p.type === "remb" && p.ssrcs.includes(ann.screenSsrc))
      : [];
  });
  assert.ok(screenRembs.length >= 1, "no rate advice for the screen");
  for (const remb of screenRembs) {
    assert.ok(
      remb.type === "remb" && remb.bitrate >= SCREEN_BITRATE.min &&
        remb.bitrate <= SCREEN_BITRATE.max,
    );
  }
  // The share ends: nothing more of it is forwarded.
  meeting.setMediaState(ann.id, { audio: false, video: true, screen: false });
  media.endScreen(ann.id);
  const forwardedBefore = screenOf(bobT).length;
  for (const packet of videoFrame(ann.screenSsrc, true, 50)) media.receive(ann.id, packet);
  assert.equal(screenOf(bobT).length, forwardedBefore);
  assert.equal(media.counters.dropped.notShared, 6);
  media.close();
});

Deno.test("media room: each listener that gets a mix gets a sender report on it every second, and its receiver report on it gives the round trip", () => {
  const { ann, bob, media, time } = setup();
  const [a, b] = seatAll(media, ann, bob);
  const reportsTo = (t: FakeTransport) =>
    t.sent.flatMap((bytes) => {
      const r = parseRtcp(bytes);
      return r.ok ? r.packets.filter((p) => p.type === "sr") : [];
    });
  // 1.2 s with nobody sending audio: no mix goes, and no report either.
  for (let i = 0; i < 60; i++) time.advance(20);
  assert.equal(reportsTo(a).length + reportsTo(b).length, 0);
  // Bob speaks for 2.2 s: the mix goes to every listener (and a report on it after each
  // second of it; none while no mix goes, as in P2P).
  const voice = annSpeaks(media, bob, time);
  voice.speak(110);
  voice.close();
  const [sr] = reportsTo(a);
  assert.ok(sr && sr.type === "sr", "a sender report on Ann's mix");
  assert.equal(sr.ssrc, media.meeting.mixSsrc);
  assert.equal(reportsTo(a).length, 2, "one for each second of mix");
  assert.equal(reportsTo(b).length, 2, "Bob's mix (without his own voice) goes on too");
  assert.equal(media.roundTripOf(ann.id), undefined, "no report back yet");
  // Ann reports at once, having held it 0 ms: the round trip is the time since the report.
  const block = mixReportBlock(media, compactNtp(sr.ntpSeconds, sr.ntpFraction));
  const sentAt = Date.now();
  media.receive(ann.id, writeReceiverReport({ ssrc: ann.audioSsrc, reports: [block] }));
  const rtt = media.roundTripOf(ann.id)!;
  assert.ok(rtt >= 0 && rtt <= Date.now() - sentAt + 50, `round trip ${rtt}`);
  // A block without LSR (no sender report seen yet) changes nothing.
  media.receive(
    ann.id,
    writeReceiverReport({ ssrc: ann.audioSsrc, reports: [{ ...block, lsr: 0 }] }),
  );
  assert.equal(media.roundTripOf(ann.id), rtt);
  // Someone else's report block (another SSRC) says nothing of the round trip.
  assert.equal(media.roundTripOf(bob.id), undefined);
});

Deno.test("media room: a receiver whose round trip reads a queue of seconds gets no video until it reads low again, then from a keyframe; its mix goes on", () => {
  const { ann, bob, cy, media, time } = setup();
  const [, b, c] = seatAll(media, ann, bob, cy);
  const voice = annSpeaks(media, cy, time); // Cy speaks: Bob gets a mix (and reports on it)
  /** Bob's receiver report on his mix, giving a round trip of `ms` (held 0 ms). */
  const bobReports = (ms: number) => {
    const { seconds, fraction } = ntpFromMs(Date.now() - ms);
    const block = mixReportBlock(media, compactNtp(seconds, fraction));
    media.receive(bob.id, writeReceiverReport({ ssrc: bob.audioSsrc, reports: [block] }));
  };
  let seq = 1;
  const annSends = (keyframe: boolean) => {
    for (const packet of videoFrame(ann.videoSsrc, keyframe, seq++)) media.receive(ann.id, packet);
  };
  bobReports(60);
  voice.speak(5);
  annSends(true);
  const flowing = videoOf(b).length;
  assert.ok(flowing >= 3, "video to Bob");
  // A reading 1 s over his lowest pauses nothing (a busy moment).
  bobReports(1060);
  voice.speak(1);
  annSends(false);
  const moment = videoOf(b).length;
  assert.ok(moment > flowing, "a busy moment: video goes on");
  // His reports now come back 2 s later than his path's lowest: something holds what he is
  // sent (his machine or his link). His video stops at the next tick; Cy's does not.
  voice.speak(110); // past the join's keyframe interval
  bobReports(2060);
  voice.speak(1);
  const toCy = videoOf(c).length;
  annSends(false);
  assert.equal(videoOf(b).length, moment, "nothing more to Bob");
  assert.ok(videoOf(c).length > toCy, "Cy still gets it");
  assert.ok(media.counters.dropped.congested >= 1);
  const mixes = mixesOf(b, media.meeting.mixSsrc).length;
  voice.speak(5);
  assert.ok(mixes < mixesOf(b, media.meeting.mixSsrc).length, "his mix goes on");
  // His reports read low again: he waits for a keyframe, then gets video again.
  bobReports(70);
  voice.speak(1);
  annSends(false);
  assert.equal(videoOf(b).length, moment, "not from a delta frame");
  annSends(true);
  assert.ok(videoOf(b).length > moment, "from the keyframe on");
  voice.close();
  media.close();
});
