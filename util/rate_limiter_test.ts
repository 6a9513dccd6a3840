import assert from "node:assert/strict";
import { addressKey, RateLimiter } from "./rate_limiter.ts";

Deno.test("rate limiter: a burst per key, then one every 1/rate s, with the wait told", () => {
  const limiter = new RateLimiter({ burst: 5, ratePerSecond: 1 / 12 });
  let passed = 0;
  for (let i = 0; i < 30; i++) if (limiter.take("m1", 0) === 0) passed++;
  assert.equal(passed, 5);
  assert.equal(limiter.take("m1", 0), 12_000);
  assert.equal(limiter.retryAfterMs("m1", 6_000), 6_000, "half a token back");
  assert.equal(limiter.take("m2", 0), 0, "another key has its own bucket");
  assert.equal(limiter.take("m1", 12_000), 0, "one token after 12 s");
  assert.equal(limiter.take("m1", 12_000), 12_000);
  // A long pause refills to the burst, never beyond.
  passed = 0;
  for (let i = 0; i < 30; i++) if (limiter.take("m1", 1_000_000) === 0) passed++;
  assert.equal(passed, 5);
});

Deno.test("rate limiter: retryAfterMs takes nothing", () => {
  const limiter = new RateLimiter({ burst: 1, ratePerSecond: 1 });
  for (let i = 0; i < 10; i++) assert.equal(limiter.retryAfterMs("a", 0), 0);
  assert.equal(limiter.take("a", 0), 0);
  assert.equal(limiter.retryAfterMs("a", 0), 1000);
});

Deno.test("rate limiter: keys are bounded; refilled buckets go first, then the oldest", () => {
  const limiter = new RateLimiter({ burst: 2, ratePerSecond: 1, maxKeys: 3 });
  limiter.take("a", 0);
  limiter.take("a", 0); // "a" is empty
  limiter.take("b", 0);
  limiter.take("c", 0);
  limiter.take("d", 1_000); // b and c refilled by now: dropped
  assert.equal(limiter.size, 2);
  assert.equal(limiter.take("a", 1_000), 0);
  assert.equal(limiter.take("a", 1_000), 1_000, "the bucket still filling was kept");
  for (let i = 0; i < 100; i++) limiter.take(`k${i}`, 5_000);
  assert.equal(limiter.size, 3);
});

Deno.test("addressKey: IPv4 as is, mapped IPv4 unwrapped, IPv6 by its /64", () => {
  assert.equal(addressKey("127.0.0.2"), "127.0.0.2");
  assert.equal(addressKey("::ffff:203.0.113.7"), "203.0.113.7");
  assert.equal(addressKey("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
  assert.equal(addressKey("2001:0db8:0001:0002:ffff:1:2:3"), "2001:db8:1:2::/64");
  assert.equal(addressKey("[2001:db8::1]"), "2001:db8:0:0::/64");
  assert.equal(addressKey("::1"), "0:0:0:0::/64");
  assert.equal(addressKey("fe80::1%eth0"), "fe80:0:0:0::/64");
});
