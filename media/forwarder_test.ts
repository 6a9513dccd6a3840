import assert from "node:assert/strict";
import { Forwarder, type VideoLayer } from "./forwarder.ts";
import { seededRandom } from "./_testing.ts";

const key = { keyframeStart: true, marker: false };
const mid = { keyframeStart: false, marker: false };
const end = { keyframeStart: false, marker: true };

Deno.test("Forwarder: waits for a keyframe of its target, then numbers as the sender did", () => {
  const down = new Forwarder();
  assert.equal(down.layer, null);
  assert.equal(down.wants, "full");
  assert.equal(down.map("full", 10, end), null);
  assert.equal(down.map("small", 3, key), null, "not the target");
  assert.equal(down.map("full", 11, key), 11);
  assert.equal(down.layer, "full");
  assert.equal(down.wants, null);
  assert.equal(down.map("full", 12, end), 12);
  // Out of order and late packets of the run keep their numbers; older than its start: out.
  assert.equal(down.map("full", 14, end), 14);
  assert.equal(down.map("full", 13, mid), 13);
  assert.equal(down.map("full", 10, end), null);
  assert.deepEqual(down.source(13), { layer: "full", seq: 13 });
  assert.equal(down.source(10), null, "before the run");
  assert.equal(down.source(15), null, "not forwarded yet");
});

Deno.test("Forwarder: a switch at a frame's end numbers on without a gap; NACKs find either encoding", () => {
  const down = new Forwarder();
  down.map("full", 500, key);
  down.map("full", 501, end);
  down.target = "small";
  assert.equal(down.wants, "small");
  assert.equal(down.map("small", 40, mid), null);
  assert.equal(down.map("full", 502, end), 502, "the full picture goes on until the switch");
  assert.equal(down.map("small", 41, key), 503);
  assert.equal(down.map("small", 42, end), 504);
  assert.equal(down.map("full", 503, end), null, "the other encoding is left out");
  assert.equal(down.layer, "small");
  assert.deepEqual(down.source(501), { layer: "full", seq: 501 });
  assert.deepEqual(down.source(504), { layer: "small", seq: 42 });
  // Back up to the full picture.
  down.target = "full";
  assert.equal(down.map("full", 510, key), 505);
  assert.deepEqual(down.source(503), { layer: "small", seq: 41 });
  assert.deepEqual(down.source(505), { layer: "full", seq: 510 });
});

Deno.test("Forwarder: a switch inside a frame leaves one number out, which maps to nothing", () => {
  const down = new Forwarder();
  down.map("full", 0, key);
  down.map("full", 1, end);
  assert.equal(down.map("full", 2, mid), 2); // a frame begins...
  down.target = "small";
  assert.equal(down.map("small", 900, key), 4, "...and is cut: 3 is left out");
  assert.equal(down.source(3), null);
  assert.deepEqual(down.source(2), { layer: "full", seq: 2 });
  assert.deepEqual(down.source(4), { layer: "small", seq: 900 });
});

Deno.test("Forwarder: paused (a backed-up link), it resumes at the target's keyframe, numbered on", () => {
  const down = new Forwarder();
  down.map("full", 65_534, key);
  down.map("full", 65_535, end);
  down.pause();
  assert.equal(down.layer, null);
  assert.equal(down.wants, "full");
  assert.equal(down.map("full", 0, end), null);
  assert.equal(down.map("full", 1, end), null);
  assert.equal(down.map("full", 2, key), 0, "numbered on across the wrap");
  assert.deepEqual(down.source(65_535), { layer: "full", seq: 65_535 });
  assert.deepEqual(down.source(0), { layer: "full", seq: 2 });
});

Deno.test("Forwarder: many switches keep one increasing run for the receiver", () => {
  const down = new Forwarder();
  const seqs: Record<VideoLayer, number> = { full: 1000, small: 60_000 };
  const seen: number[] = [];
  for (let round = 0; round < 20; round++) {
    down.target = round % 2 === 0 ? "full" : "small";
    for (let frame = 0; frame < 5; frame++) {
      for (const layer of ["full", "small"] as const) {
        for (let p = 0; p < 3; p++) {
          const info = { keyframeStart: frame === 0 && p === 0, marker: p === 2 };
          const out = down.map(layer, seqs[layer]++ & 0xffff, info);
          if (out !== null) seen.push(out);
        }
      }
    }
  }
  for (let i = 1; i < seen.length; i++) assert.equal(seen[i], (seen[i - 1] + 1) & 0xffff);
  // Going down, the full picture's first frame of the round goes out before the small
  // keyframe (3 packets more); going up, the full keyframe comes first.
  assert.equal(seen.length, 10 * 15 + 10 * 18);
});

/** A frame of an L1T3 stream: layer ids 0, 2, 1, 2 in each group of four (keyframe first). */
interface LayeredFrame {
  timestamp: number;
  temporalLayer: number;
  keyframe: boolean;
  seqs: number[];
}

/** `count` frames of an L1T3 stream from `firstSeq`, each of `packets(i)` packets. */
function layeredStream(count: number, firstSeq: number, packets: (i: number) => number) {
  const frames: LayeredFrame[] = [];
  let seq = firstSeq;
  for (let i = 0; i < count; i++) {
    const seqs = Array.from({ length: packets(i) }, () => seq++ & 0xffff);
    frames.push({
      timestamp: (i * 3000) >>> 0,
      temporalLayer: [0, 2, 1, 2][i % 4],
      keyframe: i === 0,
      seqs,
    });
  }
  return frames;
}

function packetInfo(frame: LayeredFrame, index: number) {
  return {
    keyframeStart: frame.keyframe && index === 0,
    marker: index === frame.seqs.length - 1,
    timestamp: frame.timestamp,
    temporalLayer: frame.temporalLayer,
  };
}

Deno.test("Forwarder: base layer only leaves layers 1 and 2 out whole and numbers on without a gap", () => {
  const down = new Forwarder();
  down.maxTemporalLayer = 0;
  const frames = layeredStream(12, 65_530, (i) => 1 + (i % 3));
  const out: number[] = [];
  for (const frame of frames) {
    frame.seqs.forEach((seq, i) => {
      const mapped = down.map("full", seq, packetInfo(frame, i));
      if (frame.temporalLayer === 0) {
        assert.notEqual(mapped, null, `base frame ${frame.timestamp}`);
        out.push(mapped!);
        assert.deepEqual(down.source(mapped!), { layer: "full", seq }, "a NACK finds it");
      } else {
        assert.equal(mapped, null, `layer ${frame.temporalLayer} is left out`);
      }
    });
    assert.equal(down.forwards(frame.timestamp), frame.temporalLayer === 0);
  }
  // Frames 0, 4 and 8 (1, 2 and 3 packets): one run across the wrap from the keyframe's number.
  assert.deepEqual(out, [65_530, 65_531, 65_532, 65_533, 65_534, 65_535]);
  assert.equal(down.source(0), null, "nothing forwarded under it yet");
  assert.equal(down.framesLeftOut, 9);
});

Deno.test("Forwarder: a lower layer applies from the next frame; a higher one waits for a base frame", () => {
  const down = new Forwarder();
  const frames = layeredStream(12, 100, () => 2);
  const forwarded = (frame: LayeredFrame) =>
    frame.seqs.map((seq, i) => down.map("full", seq, packetInfo(frame, i)) !== null);
  assert.deepEqual(forwarded(frames[0]), [true, true]);
  assert.deepEqual(
    frames[1].seqs.slice(0, 1).map((seq) => down.map("full", seq, packetInfo(frames[1], 0))),
    [102],
  );
  down.maxTemporalLayer = 1; // in the middle of frame 1 (layer 2): it goes on whole
  assert.equal(down.map("full", frames[1].seqs[1], packetInfo(frames[1], 1)), 103);
  assert.deepEqual(forwarded(frames[2]), [true, true], "layer 1");
  assert.deepEqual(forwarded(frames[3]), [false, false], "layer 2, from the next frame");
  down.maxTemporalLayer = 2;
  assert.equal(down.temporalLayer, 1);
  // Frame 5 (layer 2) would reference frame 4 only, but the raise waits for a base frame all
  // the same: frame 7 (layer 2) references frame 6 (layer 1), which must have gone out.
  assert.deepEqual(forwarded(frames[4]), [true, true], "the base frame raises it");
  assert.equal(down.temporalLayer, 2);
  assert.deepEqual(forwarded(frames[5]), [true, true]);
  // Lowered at a base frame's group and raised in the middle of it: layer 2 stays out.
  down.maxTemporalLayer = 0;
  assert.deepEqual(forwarded(frames[6]), [false, false]);
  down.maxTemporalLayer = 2;
  assert.deepEqual(forwarded(frames[7]), [false, false], "its layer-1 reference was left out");
  assert.deepEqual(forwarded(frames[8]), [true, true]);
  assert.deepEqual(forwarded(frames[9]), [true, true]);
});

Deno.test("Forwarder: a keyframe raises the layer at once", () => {
  const down = new Forwarder();
  down.maxTemporalLayer = 0;
  const frames = layeredStream(3, 0, () => 1);
  for (const frame of frames) {
    frame.seqs.forEach((seq, i) => down.map("full", seq, packetInfo(frame, i)));
  }
  down.maxTemporalLayer = 2;
  const keyframe = { timestamp: 9000, temporalLayer: 0, keyframe: true, seqs: [3] };
  assert.equal(down.map("full", 3, packetInfo(keyframe, 0)), 1);
  const next = { timestamp: 12_000, temporalLayer: 2, keyframe: false, seqs: [4] };
  assert.equal(down.map("full", 4, packetInfo(next, 0)), 2);
});

Deno.test("Forwarder: a packet of a frame left out that comes after the next frame's keeps its number as a hole", () => {
  const down = new Forwarder();
  down.maxTemporalLayer = 0;
  const [base, upper, , , next] = layeredStream(5, 10, () => 2);
  assert.equal(down.map("full", 10, packetInfo(base, 0)), 10);
  assert.equal(down.map("full", 11, packetInfo(base, 1)), 11);
  assert.equal(down.map("full", 12, packetInfo(upper, 0)), null);
  // Frames 2 and 3 (14-17) are lost before the server; frame 4 comes, then 13 late.
  assert.equal(down.map("full", 18, packetInfo(next, 0)), 17, "12 left out; 13-17 not seen");
  assert.equal(down.map("full", 13, packetInfo(upper, 1)), null);
  assert.equal(down.source(12), null, "13's number: a hole");
  assert.deepEqual(
    down.source(13),
    { layer: "full", seq: 14 },
    "lost before the server: NACKed on",
  );
  assert.deepEqual(down.source(17), { layer: "full", seq: 18 });
  assert.equal(down.forwards(upper.timestamp), false);
});

Deno.test("Forwarder: under reordering, loss and layer changes, whole frames go out, numbered one to one, and no frame without its references", () => {
  for (let seed = 1; seed <= 20; seed++) {
    const random = seededRandom(seed);
    const down = new Forwarder();
    const frames = layeredStream(
      400,
      Math.floor(random() * 65_536),
      () => 1 + Math.floor(random() * 3),
    );
    // Arrival: the keyframe first, then each packet 0-3 places late, 2% lost before the server.
    const arrivals = frames.flatMap((frame) => frame.seqs.map((seq, i) => ({ frame, seq, i })))
      .map((packet, order) => ({ packet, at: order + random() * 3 }))
      .filter(({ packet }) => packet.frame.keyframe || random() >= 0.02)
      .map(({ packet, at }) => ({ packet, at: packet.frame.keyframe ? packet.i - 10 : at }))
      .sort((a, b) => a.at - b.at)
      .map(({ packet }) => packet);
    const sent = new Map<number, number>(); // out -> seq
    const framesSent = new Set<LayeredFrame>();
    const framesOut = new Set<LayeredFrame>();
    for (const [n, { frame, seq, i }] of arrivals.entries()) {
      if (n % 50 === 0) down.maxTemporalLayer = Math.floor(random() * 3);
      const out = down.map("full", seq, packetInfo(frame, i));
      if (out === null) {
        framesOut.add(frame);
        continue;
      }
      assert.equal(sent.has(out), false, `seed ${seed}: ${out} given twice`);
      sent.set(out, seq);
      framesSent.add(frame);
    }
    for (const frame of framesSent) {
      assert.equal(framesOut.has(frame), false, `seed ${seed}: frame ${frame.timestamp} split`);
    }
    // L1T3 references: layer 0 the previous base frame, layer 1 the group's base frame, the
    // group's second layer-2 frame the layer-1 one, the first the base frame.
    for (const frame of framesSent) {
      const index = frames.indexOf(frame);
      if (frame.keyframe) continue;
      const reference = frames[
        frame.temporalLayer === 0 ? index - 4 : index % 4 === 3 ? index - 1 : index - (index % 4)
      ];
      assert.equal(
        framesOut.has(reference) && !framesSent.has(reference),
        false,
        `seed ${seed}: frame ${index} without frame ${frames.indexOf(reference)}`,
      );
    }
    for (const [out, seq] of sent) {
      assert.deepEqual(down.source(out), { layer: "full", seq }, `seed ${seed}: NACK of ${out}`);
    }
  }
});
