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
