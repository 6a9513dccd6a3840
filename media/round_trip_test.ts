import assert from "node:assert/strict";
import { LOWEST_KEPT_MS, READING_FRESH_MS, RoundTrip } from "./round_trip.ts";

Deno.test("round trip: the queue is the last reading over the lowest of the last window; a stale reading says nothing", () => {
  const trip = new RoundTrip();
  assert.equal(trip.queueMs(0), 0, "nothing read yet");
  assert.equal(trip.last, undefined);
  trip.add(50, 0);
  trip.add(900, 1000);
  assert.equal(trip.queueMs(1000), 850);
  assert.equal(trip.last, 900);
  assert.equal(trip.queueMs(1000 + READING_FRESH_MS + 1), 0, "stale");
  // Bad readings change nothing.
  trip.add(-5, 1500);
  trip.add(NaN, 1500);
  assert.equal(trip.last, 900);
});

Deno.test("round trip: a lowest reading ages out after the window (the path may have changed)", () => {
  const trip = new RoundTrip();
  trip.add(20, 0);
  // A longer path from now on (another route): 200 ms, read every second.
  let t = 1000;
  for (; t <= LOWEST_KEPT_MS / 2; t += 1000) trip.add(200, t);
  assert.equal(trip.queueMs(t - 1000), 180, "the old lowest still counts within the window");
  for (; t <= 2 * LOWEST_KEPT_MS; t += 1000) trip.add(200, t);
  assert.equal(trip.queueMs(t - 1000), 0, "the new path is the lowest now");
});
