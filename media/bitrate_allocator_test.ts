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

Deno.test("BitrateAllocator: a weak receiver gets the small encoding once it arrives, and the others the full one at their own rate", () => {
  const allocator = new BitrateAllocator({ audioBps: 90_000 });
  const everyone = ["ann", "bob", "cy"];
  allocator.setEstimate("ann", 5_000_000, 0);
  allocator.setEstimate("bob", 5_000_000, 0);
  allocator.setEstimate("cy", 400_000, 0); // 139.5 kbit/s for each of Ann and Bob
  // Before any small encoding arrives: asked for, and the full ones fit Cy (as before).
  let a = allocator.allocate(everyone, ["ann", "bob"], new Set(), 0);
  assert.deepEqual(a.senders.get("ann"), { full: 139_500, small: 139_500 });
  assert.equal(a.layers.get("cy")!.get("ann"), "full");
  // Both arrive: Cy is moved to them, the full ones go back up for Ann and Bob.
  a = allocator.allocate(everyone, ["ann", "bob"], new Set(["ann", "bob"]), 500);
  assert.deepEqual(a.senders.get("ann"), { full: 800_000, small: 139_500 });
  assert.deepEqual(a.senders.get("bob"), { full: 800_000, small: 139_500 });
  assert.equal(a.layers.get("cy")!.get("bob"), "small");
  assert.equal(a.layers.get("ann")!.get("bob"), "full");
  // Hysteresis: at 270 kbit/s a sender Cy stays on the small one (under 300), and is back
  // on the full one from 300; then the small one is no longer asked for.
  allocator.setEstimate("cy", 90_000 + (2 * 270_000) / 0.9, 1000);
  a = allocator.allocate(everyone, ["ann", "bob"], new Set(["ann", "bob"]), 1000);
  assert.equal(a.layers.get("cy")!.get("ann"), "small");
  assert.deepEqual(a.senders.get("ann"), { full: 800_000, small: 250_000 });
  allocator.setEstimate("cy", 90_000 + (2 * 300_000) / 0.9, 1500);
  a = allocator.allocate(everyone, ["ann", "bob"], new Set(["ann", "bob"]), 1500);
  assert.equal(a.layers.get("cy")!.get("ann"), "full");
  assert.deepEqual(a.senders.get("ann"), { full: 300_000, small: 0 });
  // Going down again, the line is 250.
  allocator.setEstimate("cy", 90_000 + (2 * 260_000) / 0.9, 2000);
  a = allocator.allocate(everyone, ["ann", "bob"], new Set(["ann", "bob"]), 2000);
  assert.equal(a.layers.get("cy")!.get("ann"), "full");
});

Deno.test("BitrateAllocator: a sender's uplink carries its small encoding first (up to a third of it), the full one what is left", () => {
  const allocator = new BitrateAllocator({ audioBps: 90_000 });
  allocator.setEstimate("cy", 200_000, 0); // 0.9 x 110 = 99 kbit/s from Ann
  allocator.setUplinkEstimate("ann", 500_000, 0); // 0.9 x 410 = 369 kbit/s for Ann's video
  const a = allocator.allocate(["ann", "bob", "cy"], ["ann"], new Set(["ann"]), 0);
  assert.deepEqual(a.senders.get("ann"), { full: 270_000, small: 99_000 });
  // A short uplink: the small encoding takes a third of it, never more than the full one.
  allocator.setUplinkEstimate("ann", 270_000, 0); // 0.9 x 180 = 162 kbit/s for Ann's video
  const short = allocator.allocate(["ann", "bob", "cy"], ["ann"], new Set(["ann"]), 0);
  assert.deepEqual(short.senders.get("ann"), { full: 108_000, small: 54_000 });
  allocator.setUplinkEstimate("ann", 500_000, 0);
  // One who left is forgotten, with the pairs it was in.
  allocator.remove("cy");
  const b = allocator.allocate(["ann", "bob"], ["ann"], new Set(["ann"]), 0);
  assert.deepEqual(b.senders.get("ann"), { full: 369_000, small: 0 });
});

Deno.test("BitrateAllocator: a weak receiver bounds the full encoding until it gets the small one (the switch waits for a keyframe)", () => {
  const allocator = new BitrateAllocator({ audioBps: 90_000 });
  allocator.setEstimate("cy", 400_000, 0); // 139.5 kbit/s for each of Ann and Bob
  const everyone = ["ann", "bob", "cy"];
  let switched = false;
  const onSmall = (receiver: string) => receiver === "cy" && switched;
  let a = allocator.allocate(everyone, ["ann", "bob"], new Set(["ann", "bob"]), 0, onSmall);
  assert.equal(a.layers.get("cy")!.get("ann"), "small", "to be moved");
  assert.deepEqual(a.senders.get("ann"), { full: 139_500, small: 139_500 }, "not yet");
  switched = true;
  a = allocator.allocate(everyone, ["ann", "bob"], new Set(["ann", "bob"]), 500, onSmall);
  assert.deepEqual(a.senders.get("ann"), { full: 800_000, small: 139_500 });
});

Deno.test("BitrateAllocator: a link found full caps its receiver's estimate at 85% of what it delivered, growing 8% a second, until its own estimate is the lower", () => {
  const allocator = new BitrateAllocator({ audioBps: 90_000 });
  const everyone = ["ann", "bob", "cy"];
  // Cy never reported: it constrains nobody, until its link is found full.
  assert.equal(allocator.estimateOf("cy", 0), null);
  allocator.setDelivered("cy", 400_000, 0);
  assert.equal(allocator.estimateOf("cy", 0), 340_000);
  // 0.9 x (340 - 90) / 2
  assert.equal(allocator.targets(everyone, ["ann", "bob"], 0).get("ann"), 112_500);
  // Its page says 20 Mbit/s (it has seen no queue): the cap holds, and grows.
  allocator.setEstimate("cy", 20_000_000, 0);
  assert.equal(allocator.estimateOf("cy", 1000), 367_200);
  assert.equal(allocator.estimateOf("cy", 10_000), Math.round(340_000 * 1.08 ** 10));
  // Backed up again for 2 s of the next 4: it grows over the other 2 only.
  allocator.holdDelivered("cy", 2000);
  allocator.holdDelivered("cy", -1);
  allocator.holdDelivered("cy", NaN);
  assert.equal(allocator.estimateOf("cy", 14_000), Math.round(340_000 * 1.08 ** 12));
  allocator.holdDelivered("nobody", 1000); // no cap: nothing to hold
  assert.equal(allocator.estimateOf("nobody", 14_000), null);
  // Its page calls a queue at 500 kbit/s: its own estimate rules from then on.
  allocator.setEstimate("cy", 500_000, 14_000);
  assert.equal(allocator.estimateOf("cy", 14_000), 500_000);
  allocator.setEstimate("cy", 900_000, 14_000);
  assert.equal(allocator.estimateOf("cy", 14_000), 900_000, "the cap is gone");
  // Bad readings change nothing; one who left is forgotten.
  allocator.setDelivered("cy", NaN, 12_000);
  allocator.setDelivered("cy", 0, 12_000);
  allocator.setDelivered("cy", -5, 12_000);
  assert.equal(allocator.estimateOf("cy", 12_000), 900_000);
  allocator.setDelivered("cy", 200_000, 12_000);
  assert.equal(allocator.estimateOf("cy", 12_000), 170_000);
  allocator.remove("cy");
  assert.equal(allocator.estimateOf("cy", 12_000), null);
});
