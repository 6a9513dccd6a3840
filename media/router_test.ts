import assert from "node:assert/strict";
import { Router } from "./router.ts";

function peer(id: string, opts: { congested?: () => boolean } = {}) {
  const got: Uint8Array[] = [];
  return {
    id,
    got,
    send: (p: Uint8Array) => got.push(p),
    congested: opts.congested ?? (() => false),
  };
}

Deno.test("router: each packet reaches every other peer, never its sender", () => {
  const requests: string[] = [];
  const router = new Router({ requestKeyframe: (id) => requests.push(id) });
  const [a, b, c] = ["a", "b", "c"].map((id) => peer(id));
  for (const p of [a, b, c]) router.addPeer(p);
  // New peers wait for keyframes from those already there, who were asked for one.
  assert.deepEqual(requests, ["a", "a", "b"]);
  router.forward("b", new Uint8Array([7]), false, 0); // nobody has b's keyframe yet
  router.forward("a", new Uint8Array([1]), true, 0);
  router.forward("a", new Uint8Array([2]), false, 1);
  router.forward("b", new Uint8Array([3]), true, 2);
  assert.deepEqual(a.got.map((p) => p[0]), [3]);
  assert.deepEqual(b.got.map((p) => p[0]), [1, 2]);
  assert.deepEqual(c.got.map((p) => p[0]), [1, 2, 3]);
  assert.equal(router.stats.forwardedPackets, 6);
  assert.equal(router.stats.droppedWaitingKeyframe, 2);
  router.removePeer("c");
  router.forward("a", new Uint8Array([4]), false, 3);
  assert.equal(c.got.length, 3);
  router.forward("c", new Uint8Array([5]), true, 4); // removed: ignored
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
  router.forward("s", new Uint8Array([0]), true, now);
  backedUp = true;
  for (let i = 1; i <= 50; i++) router.forward("s", new Uint8Array([i]), false, now = i * 20);
  backedUp = false;
  for (let i = 51; i <= 60; i++) router.forward("s", new Uint8Array([i]), false, now = i * 20);
  router.forward("s", new Uint8Array([99]), true, now = 1300);
  router.forward("s", new Uint8Array([100]), false, now = 1320);
  assert.deepEqual(slow.got.map((p) => p[0]), [0, 99, 100]);
  assert.equal(fast.got.length, 63);
  // The first backed-up packet is dropped for congestion; the rest wait for a keyframe.
  assert.equal(router.stats.droppedCongested, 1);
  assert.equal(router.stats.droppedWaitingKeyframe, 59);
  // Keyframe requests are rate-limited: at most one per 500 ms.
  const times = requests.map(([, t]) => t);
  for (let i = 1; i < times.length; i++) assert.ok(times[i] - times[i - 1] >= 500);
  assert.ok(requests.length >= 2 && requests.every(([id]) => id === "s"));
});
