import assert from "node:assert/strict";
import { NackGenerator } from "./nack_generator.ts";
import { PacketHistory, rtpSequenceNumber } from "./packet_history.ts";

Deno.test("NACK generator: a gap is reported after the reorder wait, again after the retry time, and given up after its tries", () => {
  const nacks = new NackGenerator({ reorderMs: 10, retryMs: 40, maxTries: 3, maxAgeMs: 10_000 });
  nacks.push(100, 0);
  nacks.push(103, 0);
  assert.deepEqual(nacks.due(9), []);
  assert.deepEqual(nacks.due(10), [101, 102]);
  assert.deepEqual(nacks.due(49), []);
  assert.deepEqual(nacks.due(50), [101, 102]);
  nacks.push(101, 60); // the resend came
  assert.deepEqual(nacks.due(90), [102]);
  assert.deepEqual(nacks.due(200), []); // three tries: given up
  assert.deepEqual(nacks.stats, {
    missing: 2,
    recovered: 1,
    requested: 5,
    retried: 3,
    lost: 1,
    restarts: 0,
  });
  assert.equal(nacks.missingCount, 0);
});

Deno.test("NACK generator: retries wait for the round trip when it is longer than the retry time", () => {
  const nacks = new NackGenerator({ reorderMs: 0, retryMs: 20 });
  nacks.rttMs = 100;
  nacks.push(1, 0);
  nacks.push(3, 0);
  assert.deepEqual(nacks.due(0), [2]);
  assert.deepEqual(nacks.due(100), []);
  assert.deepEqual(nacks.due(125), [2]);
});

Deno.test("NACK generator: sequence numbers wrap; reordered and duplicate packets are not losses", () => {
  const nacks = new NackGenerator({ reorderMs: 0 });
  assert.equal(nacks.push(65534, 0), true);
  assert.equal(nacks.push(1, 1), true); // 65535 and 0 missing
  assert.equal(nacks.push(0, 2), true); // reordered
  assert.equal(nacks.push(1, 3), false); // duplicate
  assert.deepEqual(nacks.due(5), [65535]);
  assert.equal(nacks.stats.recovered, 1);
  // Far behind: the stream started over, its packets are new.
  assert.equal(nacks.push(40_000, 4), true);
  assert.equal(nacks.push(40_001, 5), true);
  assert.equal(nacks.stats.restarts, 1);
});

Deno.test("NACK generator: a jump past maxGap is a restart; a keyframe forgets what came before it; old gaps expire", () => {
  const nacks = new NackGenerator({ reorderMs: 0, maxGap: 50, maxAgeMs: 300 });
  nacks.push(10, 0);
  nacks.push(13, 0);
  nacks.push(1000, 0);
  assert.equal(nacks.stats.restarts, 1);
  assert.deepEqual(nacks.due(1), []);
  nacks.push(1003, 2);
  nacks.push(1010, 2);
  nacks.forgetBefore(1009);
  assert.deepEqual(nacks.due(3), [1009]);
  nacks.push(1012, 4);
  assert.deepEqual(nacks.due(400), []); // 1009 and 1011 too old
  assert.equal(nacks.stats.lost, 2);
});

Deno.test("packet history: keeps the last packets by sequence number, copied, and forgets what a newer one replaced", () => {
  const history = new PacketHistory(8);
  const buffer = new Uint8Array([0x80, 96, 0, 5, 9]);
  history.put(5, buffer);
  buffer[4] = 0; // the caller reuses its buffer
  assert.deepEqual(history.get(5), Uint8Array.of(0x80, 96, 0, 5, 9));
  history.put(13, Uint8Array.of(1)); // same slot
  assert.equal(history.get(5), undefined);
  assert.deepEqual(history.get(13), Uint8Array.of(1));
  history.put(14, new Uint8Array(1501)); // too large to keep
  assert.equal(history.get(14), undefined);
  assert.equal(rtpSequenceNumber(Uint8Array.of(0x80, 96, 0xff, 0xfe)), 65534);
  history.clear();
  assert.equal(history.get(13), undefined);
});
