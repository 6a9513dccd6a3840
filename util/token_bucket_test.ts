import assert from "node:assert/strict";
import { TokenBucket } from "./token_bucket.ts";

Deno.test("token bucket: a burst passes, then the refill rate rules", () => {
  const bucket = new TokenBucket({ ratePerSecond: 10, burst: 5 });
  let passed = 0;
  for (let i = 0; i < 20; i++) if (bucket.take(1, 0)) passed++;
  assert.equal(passed, 5);
  assert.equal(bucket.take(1, 50), false); // half a token
  assert.equal(bucket.take(1, 100), true); // one token after 100 ms
  // A long pause refills to the burst, never beyond.
  passed = 0;
  for (let i = 0; i < 20; i++) if (bucket.take(1, 10_000)) passed++;
  assert.equal(passed, 5);
  assert.equal(bucket.take(6, 20_000), false, "a cost above the burst never passes");
});
