import assert from "node:assert/strict";
import { DatagramSendQueue, SEND_QUEUE_LIMITS } from "./send_queue.ts";

Deno.test("send queue: writes that settle at once never read congested or drop", () => {
  const queue = new DatagramSendQueue();
  for (let t = 0; t < 10_000; t += 5) {
    assert.equal(queue.admit(1200, t), true);
    assert.equal(queue.congested(t + 1), false);
    queue.settled();
  }
  assert.equal(queue.bytes, 0);
  assert.deepEqual(queue.stats, { dropped: 0, maxAgeMs: 1 });
});

Deno.test("send queue: a stream that stops taking writes is congested from 150 ms and drops from 300 ms, and recovers as it drains", () => {
  assert.deepEqual(SEND_QUEUE_LIMITS, { congestedMs: 150, maxAgeMs: 300 });
  const queue = new DatagramSendQueue();
  // A page sending a packet every 5 ms (about 2 Mbit/s of 1,200-byte packets) to a stream that
  // takes nothing for a second.
  const admitted: number[] = [];
  let firstCongested: number | null = null;
  let firstDropped: number | null = null;
  for (let t = 0; t <= 1000; t += 5) {
    if (firstCongested === null && queue.congested(t)) firstCongested = t;
    if (queue.admit(1200, t)) admitted.push(t);
    else firstDropped ??= t;
  }
  assert.equal(firstCongested, 150);
  assert.equal(firstDropped, 300);
  assert.equal(admitted.length, 60, "what came in the first 300 ms is queued, nothing after");
  assert.equal(queue.bytes, 60 * 1200);
  assert.equal(queue.stats.dropped, 201 - 60);
  // The stream takes the writes again: as they settle, the oldest waiting is younger.
  for (let i = 0; i < 59; i++) queue.settled();
  assert.equal(queue.ageMs(1000), 1000 - 295);
  queue.settled();
  assert.equal(queue.congested(1000), false);
  assert.equal(queue.admit(1200, 1000), true);
  assert.equal(queue.bytes, 1200);
  queue.settled();
  queue.settled(); // more settles than writes (a stream that failed) change nothing
  assert.equal(queue.bytes, 0);
  assert.equal(queue.ageMs(2000), 0);
});

Deno.test("send queue: a long queue compacts and keeps its order", () => {
  const queue = new DatagramSendQueue({ congestedMs: 1e9, maxAgeMs: 1e9 });
  for (let i = 0; i < 5000; i++) queue.admit(i + 1, i);
  for (let i = 0; i < 4000; i++) queue.settled();
  assert.equal(queue.ageMs(5000), 1000);
  assert.equal(queue.bytes, [...Array(1000).keys()].reduce((n, i) => n + 4001 + i, 0));
});
