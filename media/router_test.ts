import assert from "node:assert/strict";
import { Router } from "./router.ts";

/** A 12-byte RTP header with sequence number `seq` and one payload byte. */
function rtp(seq: number, mark = 0): Uint8Array {
  return Uint8Array.of(0x80, 96, seq >> 8, seq & 0xff, 0, 0, 0, 0, 0, 0, 0, 1, mark);
}

/** A packet's payload byte: which packet it is, whatever number it was sent with. */
const idOf = (p: Uint8Array) => p[12];

function peer(id: string, opts: { congested?: () => boolean; strained?: () => boolean } = {}) {
  const got: Uint8Array[] = [];
  return {
    id,
    got,
    send: (p: Uint8Array) => got.push(p),
    congested: opts.congested ?? (() => false),
    strained: opts.strained,
  };
}

/**
 * Frame `i` of an L1T3 stream as one RTP packet (sequence number `seq`, RTP timestamp
 * i x 3000, marker set) with a layered VP8 descriptor: layers 0, 2, 1, 2 in each group of four.
 * Its payload byte after the descriptor is `i`.
 */
function layeredFrame(i: number, seq: number, keyframe = false): Uint8Array {
  const timestamp = i * 3000;
  const temporalLayer = [0, 2, 1, 2][i % 4];
  return Uint8Array.of(
    0x80,
    0x80 | 96,
    seq >> 8,
    seq & 0xff,
    timestamp >>> 24,
    (timestamp >> 16) & 0xff,
    (timestamp >> 8) & 0xff,
    timestamp & 0xff,
    0,
    0,
    0,
    1,
    0x90, // X, S
    0xe0, // I, L, T
    0x80 | (i >> 8),
    i & 0xff,
    Math.floor(i / 4) & 0xff, // TL0PICIDX
    temporalLayer << 6,
    keyframe ? 0x00 : 0x01, // VP8 payload header: P bit
  );
}

Deno.test("router: each packet reaches every other peer, never its sender", () => {
  const requests: string[] = [];
  const router = new Router({ requestKeyframe: (id) => requests.push(id) });
  const [a, b, c] = ["a", "b", "c"].map((id) => peer(id));
  for (const p of [a, b, c]) router.addPeer(p);
  // New peers wait for keyframes from those already there, who were asked for one.
  assert.deepEqual(requests, ["a", "a", "b"]);
  router.forward("b", rtp(70, 7), false, 0); // nobody has b's keyframe yet
  router.forward("a", rtp(10, 1), true, 0);
  router.forward("a", rtp(11, 2), false, 1);
  router.forward("b", rtp(71, 3), true, 2);
  assert.deepEqual(a.got.map(idOf), [3]);
  assert.deepEqual(b.got.map(idOf), [1, 2]);
  assert.deepEqual(c.got.map(idOf), [1, 2, 3]);
  assert.equal(router.stats.forwardedPackets, 6);
  assert.equal(router.stats.droppedWaitingKeyframe, 2);
  router.removePeer("c");
  router.forward("a", rtp(12, 4), false, 3);
  assert.equal(c.got.length, 3);
  router.forward("c", rtp(1, 5), true, 4); // removed: ignored
  assert.equal(b.got.length, 3);
});

Deno.test("router: a congested receiver drops video until the next keyframe, and a PLI goes out", () => {
  const requests: [string, number][] = [];
  let now = 0;
  const router = new Router({
    requestKeyframe: (id) => requests.push([id, now]),
    keyframeIntervalMs: 500,
  });
  let backedUp = false;
  const sender = peer("s");
  const slow = peer("slow", { congested: () => backedUp });
  const fast = peer("fast");
  router.addPeer(sender);
  router.addPeer(slow);
  router.addPeer(fast);
  requests.length = 0;
  router.forward("s", rtp(0, 0), true, now);
  backedUp = true;
  for (let i = 1; i <= 50; i++) router.forward("s", rtp(i, i), false, now = i * 20);
  backedUp = false;
  for (let i = 51; i <= 60; i++) router.forward("s", rtp(i, i), false, now = i * 20);
  router.forward("s", rtp(61, 99), true, now = 1300);
  router.forward("s", rtp(62, 100), false, now = 1320);
  assert.deepEqual(slow.got.map(idOf), [0, 99, 100]);
  // Numbered on for the slow receiver: one number left out where a frame was cut.
  assert.deepEqual(slow.got.map((p) => (p[2] << 8) | p[3]), [0, 2, 3]);
  assert.equal(fast.got.length, 63);
  // The first backed-up packet is dropped for congestion; the rest wait for a keyframe.
  assert.equal(router.stats.droppedCongested, 1);
  assert.equal(router.stats.droppedWaitingKeyframe, 59);
  // Keyframe requests are rate-limited: at most one per 500 ms.
  const times = requests.map(([, t]) => t);
  for (let i = 1; i < times.length; i++) assert.ok(times[i] - times[i - 1] >= 500);
  assert.ok(requests.length >= 2 && requests.every(([id]) => id === "s"));
});

Deno.test("router: a NACK gets the receiver that sent it the packets it lost, from the sender's history, and nobody else", () => {
  const router = new Router({ requestKeyframe: () => {} });
  const [a, b, c] = ["a", "b", "c"].map((id) => peer(id));
  for (const p of [a, b, c]) router.addPeer(p);
  router.forward("a", rtp(10, 1), true, 0);
  for (let seq = 11; seq <= 20; seq++) router.forward("a", rtp(seq), false, seq);
  b.got.length = c.got.length = 0;
  assert.equal(router.resend("b", "a", [12, 15, 999], 30), 2);
  assert.deepEqual(b.got.map((p) => (p[2] << 8) | p[3]), [12, 15]);
  assert.equal(c.got.length, 0);
  assert.equal(a.got.length, 0);
  assert.equal(router.stats.resent, 2);
  assert.equal(router.stats.resendMissed, 1); // 999 was never sent
  // The NACK's own second copy, 10 ms later, is answered already; a retry 60 ms later is not
  // (media/resend_guard.ts).
  assert.equal(router.resend("b", "a", [12, 15], 40), 0);
  assert.equal(router.resend("b", "a", [15], 90), 1);
  assert.deepEqual(b.got.map((p) => (p[2] << 8) | p[3]), [12, 15, 15]);
  // Nothing for oneself, for unknown peers, or from a removed sender.
  assert.equal(router.resend("a", "a", [12], 31), 0);
  assert.equal(router.resend("x", "a", [12], 31), 0);
  router.removePeer("a");
  assert.equal(router.resend("b", "a", [12], 32), 0);
});

Deno.test("router: no resend of what a waiting receiver was not sent, to a congested receiver, or past the per-receiver budget", () => {
  let congested = false;
  const router = new Router({ requestKeyframe: () => {} });
  const a = peer("a");
  const b = peer("b", { congested: () => congested });
  router.addPeer(a);
  router.addPeer(b);
  router.forward("a", rtp(1), false, 0); // b waits for a keyframe: not sent
  router.forward("a", rtp(2), true, 1); // b resumes here
  router.forward("a", rtp(3), false, 2);
  assert.equal(router.resend("b", "a", [1, 2, 3], 3), 2); // 1 came before the keyframe
  congested = true;
  assert.equal(router.resend("b", "a", [3], 4), 0);
  congested = false;
  // One NACK resends at most RESEND_LIMITS.perNack; the budget refills with time.
  for (let seq = 4; seq < 400; seq++) router.forward("a", rtp(seq), false, 5);
  const all = Array.from({ length: 200 }, (_, i) => 200 + i); // all still kept (256)
  assert.equal(router.resend("b", "a", all, 10), 64);
  let total = 64;
  for (let i = 0; i < 3; i++) total += router.resend("b", "a", all.slice(64 * (i + 1)), 10);
  assert.equal(total, 200); // the burst (the 2 above were refilled by then)
  assert.equal(router.resend("b", "a", all, 110), 40); // 400/s for 100 ms
});

Deno.test("router: a receiver's resend rate follows its link (setResendRate), within [1, RESEND_LIMITS]", () => {
  const router = new Router({ requestKeyframe: () => {} });
  router.addPeer(peer("a"));
  router.addPeer(peer("b"));
  router.forward("a", rtp(1), true, 0);
  for (let seq = 2; seq < 200; seq++) router.forward("a", rtp(seq), false, 0);
  const all = Array.from({ length: 60 }, (_, i) => 100 + i);
  // A link of ~160 kbit/s: 15% of it in 1,200-byte packets is 2.5 a second; 20 given here.
  router.setResendRate("b", 20);
  assert.equal(router.resend("b", "a", all, 0), 10, "a burst of half a second's worth");
  assert.equal(router.resend("b", "a", all.slice(10), 0), 0);
  assert.equal(router.resend("b", "a", all, 500), 10, "20 a second");
  // Out of range and unknown values change nothing harmful.
  router.setResendRate("b", NaN);
  router.setResendRate("nobody", 5);
  assert.equal(router.resend("b", "a", all, 1000), 10);
  router.setResendRate("b", 1e9); // no limit reported: back to RESEND_LIMITS
  assert.equal(router.resend("b", "a", all, 1100), 60);
  router.setResendRate("b", -5); // at least one a second
  assert.equal(router.resend("b", "a", all, 1200), 1);
  assert.equal(router.resend("b", "a", all, 2200), 1);
});

Deno.test("router: a keyframe request within the interval is held and sent by the tick after it ends, unless a keyframe came", () => {
  const requests: number[] = [];
  let now = 0;
  const router = new Router({ requestKeyframe: () => requests.push(now) });
  router.addPeer(peer("s"));
  router.addPeer(peer("r"));
  requests.length = 0; // the join's
  router.forward("s", rtp(1), true, now = 10);
  router.requestKeyframe("s", now = 3000);
  router.requestKeyframe("s", now = 3500); // held
  router.requestKeyframe("s", now = 4000); // held (one pending)
  for (let t = 3600; t <= 5200; t += 100) router.tick(now = t);
  assert.deepEqual(
    requests,
    [3000, 5000],
    "the held request goes at the end of the interval, once",
  );
  // A keyframe that comes while a request is held answers it.
  router.requestKeyframe("s", now = 5500);
  router.forward("s", rtp(60), true, now = 5600);
  for (let t = 5700; t <= 8000; t += 100) router.tick(now = t);
  assert.deepEqual(requests, [3000, 5000]);
});

Deno.test("router: each receiver gets the encoding set for it, switched at its keyframe, as one run of numbers; NACKs and PLIs reach that encoding", () => {
  const requests: string[] = [];
  const router = new Router({ requestKeyframe: (id, layer) => requests.push(`${id} ${layer}`) });
  const [s, strong, weak] = ["s", "strong", "weak"].map((id) => peer(id));
  for (const p of [s, strong, weak]) router.addPeer(p);
  requests.length = 0;
  let fullSeq = 100, smallSeq = 9000, now = 0;
  /** One-packet frames (marker set) of both encodings, the full one first. */
  const marked = (seq: number, id: number) => {
    const packet = rtp(seq, id);
    packet[1] |= 0x80;
    return packet;
  };
  const frame = (key: boolean) => {
    now += 33;
    router.forward("s", marked(fullSeq++, 1), key, now, "full");
    router.forward("s", marked(smallSeq++, 2), key, now, "small");
  };
  frame(true);
  assert.equal(router.layerOf("weak", "s"), "full");
  router.setLayer("weak", "s", "small", now);
  assert.deepEqual(requests, ["s small"], "a keyframe of the small encoding is asked for");
  frame(false); // still the full picture until the small keyframe
  frame(true);
  frame(false);
  assert.equal(router.layerOf("weak", "s"), "small");
  assert.deepEqual(strong.got.map(idOf), [1, 1, 1, 1]);
  // The keyframe's full picture came first and went out; the small one follows it.
  assert.deepEqual(weak.got.map(idOf), [1, 1, 1, 2, 2]);
  const seqs = (p: { got: Uint8Array[] }) => p.got.map((b) => (b[2] << 8) | b[3]);
  assert.deepEqual(seqs(weak), [100, 101, 102, 103, 104], "one run: no gap at the switch");
  // The weak receiver lost its last packet: the small one comes again, under its number.
  weak.got.length = 0;
  assert.equal(router.resend("weak", "s", [104, 101], now), 2);
  assert.deepEqual(weak.got.map(idOf), [2, 1]);
  assert.deepEqual(seqs(weak), [104, 101]);
  // Its PLI asks for a keyframe of the encoding it gets.
  requests.length = 0;
  router.requestKeyframeFor("weak", "s", now + 5_000);
  router.requestKeyframeFor("strong", "s", now + 5_000);
  assert.deepEqual(requests, ["s small", "s full"]);
});

Deno.test("router: a shared screen is a down-track of its own per receiver; a receiver joining mid-share is given a screen keyframe; a new share starts at its keyframe", () => {
  const requests: string[] = [];
  const router = new Router({
    requestKeyframe: (id, layer, source) => requests.push(`${id} ${source} ${layer}`),
  });
  const [a, b, c] = ["a", "b", "c"].map((id) => peer(id));
  router.addPeer(a);
  router.addPeer(b);
  requests.length = 0;
  router.forward("a", rtp(10, 1), true, 0); // the camera's keyframe
  router.forward("a", rtp(500, 2), true, 0, "full", "screen");
  router.forward("a", rtp(501, 3), false, 1, "full", "screen");
  router.forward("a", rtp(11, 4), false, 2);
  assert.deepEqual(b.got.map(idOf), [1, 2, 3, 4]);
  assert.deepEqual(a.got.map(idOf), []);
  // The two sources keep their own numbering.
  assert.deepEqual(b.got.map((p) => (p[2] << 8) | p[3]), [10, 500, 501, 11]);
  // A PLI and a NACK for the screen reach the screen.
  router.requestKeyframeFor("b", "a", 3000, "screen");
  assert.deepEqual(requests, ["a screen full"]);
  assert.equal(router.resend("b", "a", [501], 3000, "screen"), 1);
  assert.equal(idOf(b.got.at(-1)!), 3);
  // c joins while a shares: it waits for keyframes of both, and both are asked for.
  requests.length = 0;
  router.addPeer(c, 4000);
  assert.deepEqual(requests.sort(), ["a camera full", "a screen full", "b camera full"]);
  router.forward("a", rtp(502, 5), false, 4001, "full", "screen");
  assert.deepEqual(c.got.map(idOf), []);
  router.forward("a", rtp(503, 6), true, 4002, "full", "screen");
  assert.deepEqual(c.got.map(idOf), [6]);
  // The share ends; a new one (new numbers) starts clean at its keyframe.
  router.removeSource("a", "screen");
  router.forward("a", rtp(9000, 7), false, 5000, "full", "screen");
  router.forward("a", rtp(9001, 8), true, 5001, "full", "screen");
  assert.deepEqual(c.got.map(idOf), [6, 8]);
  router.close();
});

Deno.test("router: a strained receiver gets the base temporal layer only, numbered on, with no keyframe; the others get every frame", () => {
  const requests: string[] = [];
  const router = new Router({ requestKeyframe: (id) => requests.push(id) });
  let strain = false;
  const sender = peer("s");
  const weak = peer("weak", { strained: () => strain });
  const other = peer("other");
  for (const p of [sender, weak, other]) router.addPeer(p);
  requests.length = 0;
  const frameOf = (p: Uint8Array) => p[15];
  const seqOf = (p: Uint8Array) => (p[2] << 8) | p[3];
  let seq = 1000;
  const send = (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const packet = layeredFrame(i, seq++, i === 0);
      router.forward("s", packet, i === 0, i * 33, "full", "camera", [0, 2, 1, 2][i % 4]);
    }
  };
  send(0, 6);
  strain = true;
  send(6, 14); // from frame 6 (layer 1): the base frames 8 and 12 only
  strain = false;
  send(14, 18); // raised at the next base frame, 16
  assert.deepEqual(weak.got.map(frameOf), [0, 1, 2, 3, 4, 5, 8, 12, 16, 17]);
  assert.deepEqual(other.got.map(frameOf), Array.from({ length: 18 }, (_, i) => i));
  assert.deepEqual(weak.got.map(seqOf), Array.from({ length: 10 }, (_, i) => 1000 + i), "no gap");
  assert.deepEqual(requests, [], "no keyframe asked for");
  assert.equal(router.stats.framesLeftOut, 8);
  // A NACK of what it got is answered with the frame sent under that number.
  weak.got.length = 0;
  assert.equal(router.resend("weak", "s", [1007, 1008], 600), 2);
  assert.deepEqual(weak.got.map(frameOf), [12, 16]);
});
