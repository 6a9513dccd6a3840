import assert from "node:assert/strict";
import { FrameChunker } from "./frame_chunker.js";

Deno.test("FrameChunker: 128-sample quanta become 960-sample frames, in order, nothing lost", () => {
  const chunker = new FrameChunker(960);
  const frames: Float32Array[] = [];
  let next = 0;
  for (let q = 0; q < 75; q++) { // 75 x 128 = 9600 samples = 10 frames
    const quantum = new Float32Array(128);
    for (let i = 0; i < 128; i++) quantum[i] = next++;
    frames.push(...chunker.push(quantum));
  }
  assert.equal(frames.length, 10);
  assert.equal(chunker.pending, 0);
  assert.equal(chunker.frames, 10);
  frames.forEach((frame, f) => {
    assert.equal(frame.length, 960);
    assert.equal(frame[0], f * 960);
    assert.equal(frame[959], f * 960 + 959);
  });
  assert.notEqual(frames[0].buffer, frames[1].buffer, "each frame is its own (transferable) array");
});

Deno.test("FrameChunker: a push larger than a frame yields several; reset drops the partial frame", () => {
  const chunker = new FrameChunker(4);
  assert.deepEqual(chunker.push(new Float32Array([1, 2, 3])), []);
  assert.deepEqual(chunker.push(new Float32Array([4, 5, 6, 7, 8, 9])), [
    new Float32Array([1, 2, 3, 4]),
    new Float32Array([5, 6, 7, 8]),
  ]);
  assert.equal(chunker.pending, 1);
  chunker.reset();
  assert.deepEqual(chunker.push(new Float32Array([10, 11, 12, 13])), [
    new Float32Array([10, 11, 12, 13]),
  ]);
  assert.throws(() => new FrameChunker(0), RangeError);
});

Deno.test("FrameChunker: skip leaves out that many samples once, crossfaded, and frames stay whole", () => {
  const chunker = new FrameChunker(960);
  const input: number[] = [];
  const frames: Float32Array[] = [];
  let next = 0;
  const quantum = () => {
    const q = new Float32Array(128);
    for (let i = 0; i < 128; i++) q[i] = next++;
    input.push(...q);
    return q;
  };
  for (let q = 0; q < 10; q++) frames.push(...chunker.push(quantum())); // 1280: 1 frame + 320
  chunker.skip(500, 8); // spans this quantum and the next few
  for (let q = 0; q < 40; q++) frames.push(...chunker.push(quantum()));
  assert.equal(chunker.skipped, 500);
  const out = frames.flatMap((f) => [...f]);
  assert.equal(out.length + chunker.pending + 500, input.length, "exactly 500 samples left out");
  assert.ok(frames.every((f) => f.length === 960));
  // Before the cut (less the crossfade) the input as it was; after it, the input 500 later.
  for (let i = 0; i < 1280 - 8; i++) assert.equal(out[i], i);
  for (let i = 1280; i < out.length; i++) assert.equal(out[i], i + 500);
  // The crossfade runs from the held samples towards the ones after the cut, monotonically.
  for (let i = 1280 - 8; i < 1280; i++) {
    assert.ok(out[i] > i && out[i] < i + 500, `sample ${i} is between: ${out[i]}`);
    assert.ok(out[i] > out[i - 1]);
  }
  chunker.skip(0);
  chunker.skip(-3);
  chunker.skip(1.5);
  assert.equal(chunker.skipped, 500, "only whole positive counts are taken");
});
