import assert from "node:assert/strict";
import { BEHIND_MS, ThreadLag } from "./thread_lag.ts";

Deno.test("ThreadLag: a timer on time, or a few ms late, is a thread that keeps up", () => {
  const lag = new ThreadLag(10);
  assert.equal(lag.behind(0), false, "before the first tick");
  for (let t = 0, i = 0; t < 1000; t += 10 + (i++ % 3) * 4) {
    lag.tick(t);
    assert.equal(lag.behind(t + 5), false, `at ${t}`);
  }
});

Deno.test("ThreadLag: a stall is behind while the timer is overdue and until it fires on time again", () => {
  const lag = new ThreadLag(10);
  lag.tick(0);
  lag.tick(10);
  assert.equal(lag.behind(10 + 10 + BEHIND_MS - 1), false);
  // The thread is busy from 15 to 200: packets taken in at 200 waited for it.
  assert.equal(lag.behind(200), true, "overdue");
  lag.tick(201); // 181 ms late
  assert.equal(lag.behind(203), true, "the tick came late: what follows it waited too");
  lag.tick(211);
  assert.equal(lag.behind(215), false, "on time again");
});

Deno.test("ThreadLag: a thread that stays behind (every tick 40 ms late) is behind all along", () => {
  const lag = new ThreadLag(10);
  lag.tick(0);
  for (let t = 50; t < 2000; t += 50) {
    lag.tick(t);
    for (let at = t; at < t + 50; at += 5) assert.equal(lag.behind(at), true, `at ${at}`);
  }
});
