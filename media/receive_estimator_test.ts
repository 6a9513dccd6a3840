import assert from "node:assert/strict";
import { ReceiveEstimator } from "./receive_estimator.ts";
import { seededRandom } from "../util/seeded_random.ts";

interface LinkRun {
  /** Estimates after each update. */
  estimates: number[];
  /** Queueing delay in the link of each packet, ms. */
  queueDelays: number[];
  overuses: number;
  /** Packets the link's full queue dropped after the first 20 s (the first overshoot). */
  dropped: number;
  /** What the senders sent over the last 10 s, bit/s. */
  sentBps: number;
}

/**
 * Senders that want `wantBps` send 1,200-byte packets through a link of `capacityKbps`
 * (a serializing queue of at most 200 ms, tail drop), then 50 ms +/- `jitterMs` of
 * propagation and `loss` random loss, to an estimator updated every 250 ms whose estimate
 * the senders follow one update later (as REMB does): they send min(want, estimate).
 */
function runLink(
  { capacityKbps, wantBps, jitterMs = 16, loss = 0, seconds = 40, lagUpdates = 1 }: {
    capacityKbps: number;
    wantBps: number;
    jitterMs?: number;
    loss?: number;
    seconds?: number;
    /** The senders follow the estimate this many updates (of 250 ms) later. */
    lagUpdates?: number;
  },
): LinkRun {
  const random = seededRandom(11);
  const estimator = new ReceiveEstimator();
  const estimates: number[] = [];
  const queueDelays: number[] = [];
  let sendBps = wantBps;
  let linkFreeAt = 0;
  let nextSend = 0;
  let seq = 0;
  let sentBits = 0;
  let dropped = 0;
  const inFlight: { at: number; seq: number; capture: number }[] = [];
  for (let now = 0; now < seconds * 1000; now++) {
    while (nextSend <= now) {
      const bits = 1200 * 8;
      if (now >= (seconds - 10) * 1000) sentBits += bits;
      const start = Math.max(now, linkFreeAt);
      if (start - now <= 200) { // tail drop past 200 ms of queue
        linkFreeAt = start + bits / capacityKbps;
        queueDelays.push(start - now);
        if (random() >= loss) {
          const at = linkFreeAt + 50 + (random() * 2 - 1) * jitterMs;
          inFlight.push({ at, seq, capture: now });
        }
      } else if (now >= 20_000) {
        dropped++;
      }
      seq = (seq + 1) & 0xffff;
      nextSend += (bits * 1000) / sendBps;
    }
    inFlight.sort((a, b) => a.at - b.at);
    while (inFlight.length && inFlight[0].at <= now) {
      const p = inFlight.shift()!;
      estimator.packet(1, p.seq, 1200, p.capture, p.at);
    }
    if (now % 250 === 0) {
      const estimate = estimator.update(now);
      if (estimate !== null) {
        estimates.push(estimate);
        const followed = estimates[Math.max(0, estimates.length - lagUpdates)];
        sendBps = Math.min(wantBps, followed);
      }
    }
  }
  return {
    estimates,
    queueDelays,
    overuses: estimator.stats.overuses,
    dropped,
    sentBps: sentBits / 10,
  };
}

const percentile = (values: number[], p: number) =>
  [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) * p)];

Deno.test("ReceiveEstimator: senders that want 1.7 Mbit/s through a 400 kbit/s link settle under it, with a short queue", () => {
  const run = runLink({ capacityKbps: 400, wantBps: 1_700_000 });
  assert.ok(run.overuses >= 1);
  // Over the last 10 s: most of the link used, not more than it carries.
  assert.ok(run.sentBps > 250_000 && run.sentBps < 420_000, `sent ${run.sentBps} bit/s`);
  const lastQueues = run.queueDelays.slice(-Math.round(run.queueDelays.length / 4));
  assert.ok(percentile(lastQueues, 0.5) < 60, `queue p50 ${percentile(lastQueues, 0.5)} ms`);
});

Deno.test("ReceiveEstimator: on a link with room, jitter (+/- 16 ms) and 3% random loss are not taken for congestion", () => {
  const run = runLink({ capacityKbps: 10_000, wantBps: 1_700_000, loss: 0.03 });
  assert.equal(run.overuses, 0);
  assert.equal(run.estimates.at(-1), 20_000_000, "never overused: unconstrained");
  assert.ok(run.sentBps > 1_600_000, `sent ${run.sentBps}`);
});

Deno.test("ReceiveEstimator: when the link frees up, the estimate grows back to what the senders want", () => {
  // 40 s at 400 kbit/s, then the same estimator on a fast link: simulated as a new run whose
  // estimator starts low is not possible from outside, so check the growth rule directly.
  const estimator = new ReceiveEstimator();
  let t = 0;
  let seq = 0;
  const feed = (bps: number, ms: number, delay: (t: number) => number) => {
    const gap = (1200 * 8 * 1000) / bps;
    for (const end = t + ms; t < end; t += gap) {
      estimator.packet(1, seq++ & 0xffff, 1200, t, t + delay(t));
      if (Math.floor(t / 250) !== Math.floor((t + gap) / 250)) estimator.update(t);
    }
  };
  feed(400_000, 3000, () => 50);
  // A queue builds: 100 ms more delay.
  feed(400_000, 1500, (at) => 50 + Math.min(150, (at - 3000) / 5));
  const low = estimator.estimateBps!;
  assert.ok(low < 400_000, `after the queue: ${low}`);
  // Then the link clears; the senders send what they are allowed, and are allowed more.
  // Quiet for 3 s and 30% past the drop, it grows 25% a second (8% had taken half a minute).
  let allowed = low;
  for (let i = 0; i < 40; i++) {
    feed(allowed, 500, () => 50);
    allowed = Math.min(1_700_000, estimator.estimateBps!);
  }
  assert.equal(allowed, 1_700_000, `after 20 s: ${allowed}`);
});

Deno.test("ReceiveEstimator: bounds: streams followed, estimate within [min, max], restarts of sequence numbers", () => {
  const estimator = new ReceiveEstimator({ minBps: 100_000, maxBps: 1_000_000 });
  assert.equal(estimator.update(0), null);
  for (let ssrc = 0; ssrc < 100; ssrc++) estimator.packet(ssrc, 1, 100, null, 1);
  for (let i = 0; i < 1000; i++) estimator.packet(7, i, 1200, i, i + 10);
  estimator.packet(7, 40_000, 1200, 1000, 1010); // a jump: a restart, not 39,000 lost
  assert.ok(estimator.update(1001)! <= 1_000_000);
  assert.ok(estimator.stats.loss < 0.1, `loss ${estimator.stats.loss}`);
  const quiet = new ReceiveEstimator({ minBps: 100_000 });
  quiet.packet(1, 1, 10, 0, 0);
  assert.equal(quiet.update(10), 20_000_000, "no overuse yet: no constraint");
});

Deno.test("ReceiveEstimator: streams from senders whose clocks differ by seconds are each measured against themselves", () => {
  const estimator = new ReceiveEstimator();
  let seq = 0;
  for (let t = 0; t < 5000; t += 10) {
    // Ann's clock is 3 s ahead of ours, the server's (the mix) 2 s behind; both paths clean.
    estimator.packet(1, seq & 0xffff, 1000, t + 3000, t + 40);
    estimator.packet(2, seq++ & 0xffff, 200, t - 2000, t + 40 + (t % 30 === 0 ? 15 : 0));
    if (t % 250 === 0) estimator.update(t + 40);
  }
  assert.equal(estimator.stats.overuses, 0);
  assert.ok(estimator.stats.queueMs! <= 1, `queue ${estimator.stats.queueMs} ms`);
});

Deno.test("ReceiveEstimator: a queue that lasts under half a second (an encoder behind for a moment) is no overuse; one that lasts is", () => {
  const estimator = new ReceiveEstimator();
  let t = 0;
  let seq = 0;
  const feed = (ms: number, delay: (t: number) => number) => {
    for (const end = t + ms; t < end; t += 10) {
      estimator.packet(1, seq++, 1000, t, t + delay(t));
      if (t % 250 === 0) estimator.update(t);
    }
  };
  feed(3000, () => 30);
  feed(400, () => 130); // 100 ms more for 0.4 s
  feed(2000, () => 30);
  assert.equal(estimator.stats.overuses, 0);
  assert.equal(estimator.estimateBps, 20_000_000);
  feed(1000, () => 130);
  assert.equal(estimator.stats.overuses, 1);
  assert.ok(estimator.estimateBps! < 1_000_000, `${estimator.estimateBps}`);
});

Deno.test("ReceiveEstimator: one lossy second is no overuse; loss in two running is, and takes the estimate near what arrives, less half the loss", () => {
  const estimator = new ReceiveEstimator();
  let t = 0;
  let seq = 0;
  // 100 packets a second of 1,000 bytes (~850 kbit/s with overhead); `lost` of each 10 dropped.
  const feed = (ms: number, lost: number) => {
    for (const end = t + ms; t < end; t += 10) {
      const n = seq++;
      if (n % 10 >= lost) estimator.packet(1, n & 0xffff, 1000, t, t + 20);
      if (t % 250 === 0) estimator.update(t);
    }
  };
  feed(3000, 0);
  feed(1000, 3); // 30% lost for one second
  feed(2000, 0);
  assert.equal(estimator.stats.overuses, 0);
  assert.equal(estimator.estimateBps, 20_000_000);
  feed(2500, 3);
  assert.ok(estimator.stats.lossOveruses >= 1);
  // At most (2 x ~600 kbit/s arriving + 100) x (1 - 0.15).
  assert.ok(estimator.estimateBps! < 1_200_000, `${estimator.estimateBps}`);
  assert.ok(estimator.estimateBps! > 300_000, `${estimator.estimateBps}`);
});

Deno.test("ReceiveEstimator: a video stream that loses the tail of its keyframe bursts is an overuse, though steady audio keeps the link's share under 10%", () => {
  const estimator = new ReceiveEstimator();
  let audioSeq = 0;
  let videoSeq = 0;
  // Each second: 50 audio packets, all arrive; 30 video packets, of which a keyframe burst of
  // 15 loses its last 6 (20% of the video, 7.5% of the link's 80).
  for (let second = 0; second < 6; second++) {
    for (let i = 0; i < 50; i++) {
      const t = second * 1000 + i * 20;
      estimator.packet(1, audioSeq++, 100, t, t + 25);
    }
    for (let i = 0; i < 30; i++) {
      const t = second * 1000 + (i < 15 ? i : 15 + (i - 15) * 60);
      const lost = second >= 3 && i >= 9 && i < 15;
      const n = videoSeq++;
      if (!lost) estimator.packet(2, n, 1000, t, t + 25);
    }
    for (let q = 1; q <= 4; q++) estimator.update(second * 1000 + q * 250);
  }
  assert.ok(estimator.stats.lossOveruses >= 1, `loss ${estimator.stats.loss}`);
  assert.ok(estimator.estimateBps! < 20_000_000);
});

Deno.test("ReceiveEstimator: options: no queue is read during the warm-up; a higher, longer threshold", () => {
  const estimator = new ReceiveEstimator({
    warmupMs: 5000,
    overuseQueueMs: 60,
    overuseForMs: 1000,
  });
  let t = 0;
  let seq = 0;
  const feed = (ms: number, delay: number) => {
    for (const end = t + ms; t < end; t += 10) {
      estimator.packet(1, seq++, 1000, t, t + delay);
      if (t % 250 === 0) estimator.update(t);
    }
  };
  feed(1000, 20);
  feed(2000, 220); // a queue while starting: not read
  feed(3000, 20);
  feed(800, 70); // 50 ms for 0.8 s: under the threshold's time
  feed(1000, 20);
  assert.equal(estimator.stats.overuses, 0);
  feed(1500, 90);
  assert.equal(estimator.stats.overuses, 1);
});

/**
 * Feeds `estimator` one 1,000-byte packet every `everyMs` for `ms`, each `delay` ms after it
 * was sent, and updates it every 250 ms; time goes on from one call to the next. `silence`
 * lets `ms` pass with updates and no packet, while `skipped` sequence numbers go elsewhere.
 */
function feeder(estimator: ReceiveEstimator) {
  let t = 0;
  let seq = 0;
  const feed = (ms: number, everyMs: number, delay: number) => {
    for (const end = t + ms; t < end; t += everyMs) {
      estimator.packet(1, seq++, 1000, t, t + delay);
      if (t % 250 === 0) estimator.update(t);
    }
  };
  feed.silence = (ms: number, skipped = 0) => {
    for (const end = t + ms; t < end; t += 250) estimator.update(t);
    seq += skipped;
  };
  return feed;
}

Deno.test("ReceiveEstimator: after an overuse, the estimate grows no further than 1.5 x what arrives + 100 kbit/s however long the senders send little", () => {
  const estimator = new ReceiveEstimator();
  // 1,000-byte packets every 10 ms: 800 kbit/s of payload (848 with the 60 bytes counted).
  const feed = feeder(estimator);
  feed(3000, 10, 30);
  feed(1000, 10, 130); // a queue that lasts: overuse
  assert.equal(estimator.stats.overuses, 1);
  const dropped = estimator.estimateBps!; // 85% of what arrived
  // Then a quiet link, but the senders send a fifth as much (a receiver moved to the small
  // encodings): for a minute nothing shows the link would carry more than it did.
  feed(60_000, 50, 30);
  const arriving = (1060 * 8 * 1000) / 50; // 170 kbit/s
  assert.ok(arriving * 1.5 + 100_000 < dropped);
  assert.ok(estimator.estimateBps! <= dropped * 1.05, `${estimator.estimateBps} from ${dropped}`);
  // They send more (the small encodings' bitrate follows the estimate): it follows them up.
  feed(20_000, 10, 30);
  assert.ok(estimator.estimateBps! > dropped * 1.3, `${estimator.estimateBps} from ${dropped}`);
});

Deno.test("ReceiveEstimator: with cappedForMs, the estimate grows freely again that long after an overuse", () => {
  const estimator = new ReceiveEstimator({ cappedForMs: 10_000 });
  const feed = feeder(estimator);
  feed(3000, 10, 30);
  feed(1000, 10, 130);
  const dropped = estimator.estimateBps!;
  feed(60_000, 50, 30); // a fifth as much arriving, but the cap lapses after 10 s
  assert.ok(estimator.estimateBps! > dropped * 2, `${estimator.estimateBps} from ${dropped}`);
});

Deno.test("ReceiveEstimator: a sender that stops after a queue built is no overuse: with nothing arriving the queue is unknown", () => {
  const estimator = new ReceiveEstimator();
  const feed = feeder(estimator);
  feed(3000, 10, 30);
  // The path stalls (a busy machine): the last packets come 300 ms late, then none for 5 s.
  feed(100, 10, 300);
  feed.silence(5000);
  assert.equal(estimator.stats.queueMs, null);
  assert.equal(estimator.stats.overuses, 0);
  assert.equal(estimator.estimateBps, 20_000_000);
});

Deno.test("ReceiveEstimator: after an overuse, what arrives for a second without a queue is the least estimate", () => {
  const estimator = new ReceiveEstimator();
  const feed = feeder(estimator);
  feed(3000, 10, 30);
  // A stall: for a second only a trickle comes, late (the machine was busy), then a queue
  // that lasts: an overuse, the estimate cut to what the trickle carried.
  feed(1000, 50, 130);
  assert.equal(estimator.stats.overuses, 1);
  const dropped = estimator.estimateBps!;
  // The senders, held only to their least bitrates, send 848 kbit/s without a queue: after a
  // second of it the estimate is what arrives, where growing from the drop took half a minute.
  feed(2500, 10, 30);
  const arriving = (1060 * 8 * 1000) / 10;
  assert.ok(dropped < arriving / 2, `dropped to ${dropped}`);
  assert.ok(estimator.estimateBps! >= arriving * 0.95, `${estimator.estimateBps} from ${dropped}`);
  assert.equal(estimator.stats.overuses, 1);
});

Deno.test("ReceiveEstimator: packets back after 2 s of nothing are a start again: warm-up, delays and sequence numbers afresh", () => {
  const estimator = new ReceiveEstimator({
    warmupMs: 5000,
    overuseQueueMs: 150,
    overuseForMs: 2000,
  });
  const feed = feeder(estimator);
  feed(10_000, 10, 30);
  // 8 s sent elsewhere (a meeting gone P2P), 2,000 sequence numbers on; then back amid a busy
  // start: 3 s of a 400 ms queue against the delays from before the silence.
  feed.silence(8000, 2000);
  feed(3000, 10, 430);
  assert.equal(estimator.stats.overuses, 0, "in the warm-up again");
  assert.equal(estimator.stats.loss, 0, "what went elsewhere is no loss");
  // Past the new warm-up, a queue that lasts is an overuse again.
  feed(3000, 10, 430);
  feed(3000, 10, 700);
  assert.equal(estimator.stats.overuses, 1);
});

Deno.test("ReceiveEstimator: a full queue delivered in bursts with gaps (TCP, the WebSocket) is an overuse; the gaps do not start the half second over", () => {
  const estimator = new ReceiveEstimator();
  const feed = feeder(estimator);
  feed(3000, 10, 30);
  // Seconds of queue, arriving in 100 ms bursts with 300 ms of nothing between.
  for (let i = 0; i < 6; i++) {
    feed(100, 10, 2000 + 300 * i);
    feed.silence(300);
  }
  assert.ok(estimator.stats.overuses >= 1, `${estimator.stats.overuses} overuses`);
  assert.ok(estimator.estimateBps! < 20_000_000, `${estimator.estimateBps}`);
});

Deno.test("ReceiveEstimator: after the link was found full, the estimate comes back to what it carried slowly: its queue does not overflow again", () => {
  // Senders a second behind the estimate (the server shares it out every 0.5 s, the encoder
  // follows over its next frames): an overshoot goes on a second after it is found.
  const run = runLink({ capacityKbps: 400, wantBps: 1_700_000, seconds: 120, lagUpdates: 4 });
  // The first overuse finds the link; growing 8% a second from 85% of it again overshot it
  // every few seconds and overflowed its 200 ms queue (tail drops: lost frames).
  // (Anchored at 85% of it instead, this run dropped 37 packets after its first 20 s.)
  assert.equal(run.dropped, 0, `dropped ${run.dropped} packets, ${run.overuses} overuses`);
  assert.ok(run.sentBps > 300_000 && run.sentBps < 420_000, `sent ${run.sentBps} bit/s`);
});
