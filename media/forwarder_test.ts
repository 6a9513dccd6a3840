import assert from "node:assert/strict";
import { Forwarder, type VideoLayer } from "./forwarder.ts";

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
