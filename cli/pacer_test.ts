import assert from "node:assert/strict";
import { Pacer } from "./pacer.ts";
import { waitFor } from "../tests/support/wait.ts";

Deno.test("Pacer: ticks at ideal 20 ms steps; delay moves every later tick, once", async () => {
  const ideal: number[] = [];
  // No restart after a stall (maxLagMs): the ideal times are then exact whatever the load.
  const clock = new Pacer((at) => {
    ideal.push(at);
    if (ideal.length === 5) clock.delay(7);
    return 20;
  }, { maxLagMs: Infinity });
  try {
    await waitFor(() => ideal.length >= 10, { what: "10 ticks", timeoutMs: 5000 });
  } finally {
    clock.stop();
  }
  const steps = ideal.slice(1, 10).map((t, i) => Math.round((t - ideal[i]) * 1000) / 1000);
  assert.deepEqual(steps, [20, 20, 20, 20, 27, 20, 20, 20, 20]);
  assert.equal(clock.delayedMs, 7);
  clock.delay(-3);
  clock.delay(NaN);
  assert.equal(clock.delayedMs, 7, "only a positive delay counts");
});
