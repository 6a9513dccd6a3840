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
