import assert from "node:assert/strict";
import { ManualClock } from "./clock.ts";
import { Throttle } from "./throttle.ts";

const turn = () => new Promise<void>((resolve) => queueMicrotask(resolve));

Deno.test("throttle: the first request after quiet runs this turn; a burst runs once more at the interval's end", async () => {
  const clock = new ManualClock(1_000);
  let runs = 0;
  const throttle = new Throttle(() => runs++, 250, clock);
  throttle.request();
  throttle.request();
  await turn();
  assert.equal(runs, 1, "changes of one turn go out once, at once");
  for (let i = 0; i < 1_000; i++) {
    clock.advance(1);
    throttle.request();
    await turn();
  }
  // 1,000 requests over 1 s: one run per 250 ms at most.
  assert.ok(runs <= 1 + 4, `${runs} runs`);
  clock.advance(250);
  const after = runs;
  clock.advance(10_000);
  assert.equal(runs, after, "nothing runs without a request");
  throttle.request();
  await turn();
  assert.equal(runs, after + 1, "after a quiet interval the next request runs at once");
});

Deno.test("throttle: stop drops a pending run", async () => {
  const clock = new ManualClock();
  let runs = 0;
  const throttle = new Throttle(() => runs++, 100, clock);
  throttle.request();
  await turn();
  throttle.request();
  throttle.stop();
  clock.advance(1_000);
  throttle.request();
  await turn();
  assert.equal(runs, 1);
  assert.equal(clock.pending, 0);
});
