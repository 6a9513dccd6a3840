import assert from "node:assert/strict";
import { BitrateAllocator } from "./bitrate_allocator.ts";

Deno.test("BitrateAllocator: a sender gets the least of its receivers' shares, within [min, max]", () => {
  const allocator = new BitrateAllocator({ minBps: 100_000, maxBps: 800_000, audioBps: 80_000 });
  const everyone = ["ann", "bob", "cy"];
  // No estimates: everyone sends at the most.
  assert.deepEqual(
    [...allocator.targets(everyone, everyone, 0).values()],
    [800_000, 800_000, 800_000],
  );
  allocator.setEstimate("ann", 5_000_000, 0);
  allocator.setEstimate("bob", 2_000_000, 0);
  // 0.9 x (480 - 80) / 2 = 180 kbit/s for Ann and Bob (a tenth kept for packet overhead)
  allocator.setEstimate("cy", 480_000, 0);
  const t = allocator.targets(everyone, everyone, 1000);
  assert.equal(t.get("ann"), 180_000);
  assert.equal(t.get("bob"), 180_000);
  assert.equal(t.get("cy"), 800_000, "Ann and Bob take Cy at full rate");
  // A very weak receiver does not push senders below the floor.
  allocator.setEstimate("cy", 50_000, 1000);
  assert.equal(allocator.targets(everyone, everyone, 1000).get("ann"), 100_000);
  // An old estimate stops counting; one who left is forgotten; bad values are ignored.
  assert.equal(allocator.targets(everyone, everyone, 7000).get("ann"), 800_000);
  allocator.setEstimate("cy", 300_000, 8000);
  allocator.setEstimate("cy", NaN, 8000);
  allocator.setEstimate("cy", -1, 8000);
  assert.equal(allocator.estimateOf("cy", 8000), 300_000);
  allocator.remove("cy");
  assert.equal(allocator.targets(everyone, everyone, 8000).get("ann"), 800_000);
});

Deno.test("BitrateAllocator: receivers that send nothing still constrain those they receive", () => {
  const allocator = new BitrateAllocator({ audioBps: 0 });
  allocator.setEstimate("viewer", 300_000, 0);
  const t = allocator.targets(["ann", "viewer"], ["ann"], 0);
  assert.deepEqual([...t], [["ann", 270_000]]);
});

Deno.test("BitrateAllocator: a sender sends no more than its own uplink carries, less its voice", () => {
  const allocator = new BitrateAllocator({ audioBps: 90_000 });
  allocator.setUplinkEstimate("ann", 1_000_000, 0); // 0.9 x (1000 - 90) = 819 -> the most, 800
  assert.equal(allocator.targets(["ann", "bob"], ["ann", "bob"], 0).get("ann"), 800_000);
  allocator.setUplinkEstimate("ann", 500_000, 100); // 0.9 x (500 - 90) = 369
  const t = allocator.targets(["ann", "bob"], ["ann", "bob"], 100);
  assert.equal(t.get("ann"), 369_000);
  assert.equal(t.get("bob"), 800_000, "Bob's own uplink is not Ann's");
  // With a weaker receiver, the least of the two.
  allocator.setEstimate("bob", 300_000, 100); // 0.9 x (300 - 90) = 189
  assert.equal(allocator.targets(["ann", "bob"], ["ann", "bob"], 100).get("ann"), 189_000);
  allocator.setUplinkEstimate("ann", NaN, 200);
  allocator.remove("bob");
  assert.equal(allocator.targets(["ann"], ["ann"], 200).get("ann"), 369_000);
  assert.equal(allocator.targets(["ann"], ["ann"], 6000).get("ann"), 800_000, "stale");
});
