import assert from "node:assert/strict";
import { type Clock, ManualClock, type TimerHandle } from "../util/clock.ts";
import { BEHIND_MS } from "../util/thread_lag.ts";
import { MAX_STALL_MS, MEDIA_TICK_MS, MediaClock, type MediaTicker } from "./media_clock.ts";

function ticker(log: string[], name: string): MediaTicker & { at: number[] } {
  const at: number[] = [];
  return {
    at,
    tick(now) {
      at.push(now);
      log.push(name);
    },
  };
}

Deno.test("media clock: each tick drains the inputs once, then ticks every room once", () => {
  const time = new ManualClock(0);
  const clock = new MediaClock(time);
  const log: string[] = [];
  clock.addInput(() => log.push("drain"));
  const a = ticker(log, "a");
  const b = ticker(log, "b");
  clock.subscribe(a);
  clock.subscribe(b);
  clock.subscribe(a); // twice is once
  time.advance(MEDIA_TICK_MS * 3);
  assert.deepEqual(log, ["drain", "a", "b", "drain", "a", "b", "drain", "a", "b"]);
  assert.deepEqual(a.at, [20, 40, 60]);
  assert.equal(clock.ticks, 3);
  assert.equal(time.pending, 1, "one timer, however many rooms");
});

Deno.test("media clock: runs only while a room needs it, and restarts", () => {
  const time = new ManualClock(0);
  const clock = new MediaClock(time);
  let drains = 0;
  const remove = clock.addInput(() => drains++);
  const a = ticker([], "a");
  assert.equal(clock.running, false);
  time.advance(100);
  assert.equal(drains, 0, "no room, no tick, no drain");
  clock.subscribe(a);
  assert.equal(clock.running, true);
  time.advance(40);
  clock.unsubscribe(a);
  assert.equal(clock.running, false);
  assert.equal(time.pending, 0);
  time.advance(100);
  assert.deepEqual(a.at, [120, 140]);
  clock.subscribe(a);
  time.advance(20);
  assert.deepEqual(a.at, [120, 140, 260]);
  remove();
  time.advance(20);
  assert.equal(drains, 3);
  clock.close();
  assert.equal(time.pending, 0);
  clock.subscribe(a);
  assert.equal(time.pending, 0, "a closed clock never starts");
});

/** A clock whose timers fire only when told, at a time the test picks (a late event loop). */
class LateClock implements Clock {
  time = 0;
  timers: { at: number; fn: () => void; handle: number }[] = [];
  #next = 1;
  now(): number {
    return this.time;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const handle = this.#next++;
    this.timers.push({ at: this.time + ms, fn, handle });
    return handle;
  }
  clearTimeout(handle: TimerHandle): void {
    this.timers = this.timers.filter((t) => t.handle !== handle);
  }
  /** Fires the one pending timer at `time` (late or not); returns when it was due. */
  fireAt(time: number): number {
    assert.equal(this.timers.length, 1);
    const timer = this.timers.shift()!;
    this.time = time;
    timer.fn();
    return timer.at;
  }
}

Deno.test("media clock: ticks are scheduled against the ideal time; a long stall restarts the schedule", () => {
  const time = new LateClock();
  const clock = new MediaClock(time);
  const a = ticker([], "a");
  clock.subscribe(a);
  assert.equal(time.fireAt(27), 20); // 7 ms late
  assert.equal(time.fireAt(40), 40, "the next one is still due at 40: no drift");
  assert.equal(time.fireAt(60 + MAX_STALL_MS + 50), 60); // a stall
  const restart = 60 + MAX_STALL_MS + 50;
  assert.equal(time.fireAt(restart + 20), restart + 20, "no burst of catch-up ticks");
  assert.deepEqual(a.at, [27, 40, restart, restart + 20]);
});

Deno.test("media clock: a room that throws does not stop the others; rooms may come and go during a tick", () => {
  const time = new ManualClock(0);
  const clock = new MediaClock(time);
  const log: string[] = [];
  const originalError = console.error;
  console.error = () => {};
  try {
    clock.addInput(() => {
      throw new Error("drain");
    });
    const b = ticker(log, "b");
    const bad: MediaTicker = {
      tick() {
        // leaves and comes back within the tick: still one timer
        clock.unsubscribe(bad);
        clock.unsubscribe(b);
        clock.subscribe(b);
        throw new Error("tick");
      },
    };
    clock.subscribe(bad);
    clock.subscribe(b);
    time.advance(20);
    assert.deepEqual(log, ["b"]);
    assert.equal(time.pending, 1);
    time.advance(20);
    assert.deepEqual(log, ["b", "b"]);
  } finally {
    console.error = originalError;
    clock.close();
  }
});

Deno.test("media clock: behind while a tick ran late, or is overdue; not on time, nor while stopped", () => {
  const time = new LateClock();
  const clock = new MediaClock(time);
  assert.equal(clock.behind(1000), false, "stopped");
  const a = ticker([], "a");
  clock.subscribe(a);
  time.fireAt(27); // 7 ms late: on time enough
  assert.equal(clock.behind(30), false);
  assert.equal(clock.behind(40 + BEHIND_MS + 1), true, "the tick due at 40 is overdue");
  time.fireAt(90); // 50 ms late
  assert.equal(clock.behind(91), true, "what follows a late tick waited too");
  time.fireAt(60 + 20); // due at 60 (the schedule holds); run at 80: 20 ms late
  time.fireAt(80);
  assert.equal(clock.behind(85), false, "on time again");
  clock.unsubscribe(a);
  assert.equal(clock.behind(500), false);
});
