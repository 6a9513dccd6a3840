/**
 * netsim's flags (bounds, clear errors, exit code 2) and its release schedule (each packet at
 * its time, in time order, the due ones together, everything at the stop), without a kernel.
 */

import assert from "node:assert/strict";
import { Impairment, seededRandom } from "./impairment.ts";
import { FlagError, Netsim, parseNetsimFlags } from "./main.ts";
import type { QueuedPacket } from "./nfqueue.ts";

function packet(id: number, overrides: Partial<QueuedPacket> = {}): QueuedPacket {
  return {
    id,
    sizeBytes: 100,
    protocol: "udp",
    src: "127.0.0.1",
    dst: "127.0.0.1",
    srcPort: 40000,
    dstPort: 4433,
    ...overrides,
  };
}

/** A Netsim on a manual clock, recording its verdicts. */
function harness(impairment: Impairment) {
  let now = 1000;
  const verdicts: { id: number; accept: boolean; at: number }[] = [];
  const sim = new Netsim(
    impairment,
    { verdict: (id, accept) => verdicts.push({ id, accept, at: now }) },
    () => now,
  );
  return {
    sim,
    verdicts,
    set now(ms: number) {
      now = ms;
    },
    get now() {
      return now;
    },
  };
}

Deno.test("netsim flags: defaults, every flag, repeated rate limits", () => {
  const defaults = parseNetsimFlags([]);
  assert.equal(defaults.queueNum, 0);
  assert.equal(defaults.impairment.delayMs, 0);
  assert.equal(defaults.queueLength, 8192);
  const o = parseNetsimFlags([
    "--queue=7",
    "--delay",
    "25",
    "--jitter",
    "8",
    "--loss",
    "1.5",
    "--server-ports",
    "8000,8443",
    "--down",
    "127.0.0.3=400",
    "--down",
    "127.0.0.4=800",
    "--up",
    "127.0.0.2=1000",
    "--up",
    "127.0.0.1:40000=300",
    "--queue-ms",
    "100",
    "--seed",
    "42",
    "--stop-on-eof",
  ]);
  assert.equal(o.queueNum, 7);
  assert.deepEqual(o.impairment, {
    delayMs: 25,
    jitterMs: 8,
    lossPercent: 1.5,
    queueMs: 100,
    serverPorts: [8000, 8443],
    down: { "127.0.0.3": 400, "127.0.0.4": 800 },
    up: { "127.0.0.2": 1000, "127.0.0.1:40000": 300 },
  });
  assert.equal(o.seed, 42);
  assert.equal(o.stopOnEof, true);
});

Deno.test("netsim flags: out of bounds or malformed values are refused, naming the flag", () => {
  const bad: [string[], RegExp][] = [
    [["--delay", "5001"], /--delay must be a number from 0 to 5000/],
    [["--delay", "-1"], /--delay/],
    [["--delay", "abc"], /--delay/],
    [["--delay", "10", "--jitter", "11"], /--jitter must be a number from 0 to 10/],
    [["--jitter", "1"], /--jitter/], // jitter without delay
    [["--loss", "100.1"], /--loss/],
    [["--queue", "65536"], /--queue must be an integer from 0 to 65535/],
    [["--queue", "1.5"], /--queue/],
    [["--down", "127.0.0.3=7"], /--down 127.0.0.3 must be a number from 8 to 10000000/],
    [["--up", "127.0.0.3=10000001"], /--up 127.0.0.3/],
    [["--down", "localhost=400"], /--down must be ADDRESS=KBIT/],
    [["--down", "127.0.0.300=400"], /--down must be ADDRESS=KBIT/],
    [["--down", "127.0.0.3"], /--down must be ADDRESS=KBIT/],
    [["--down", "127.0.0.3:0=400"], /--down must be ADDRESS=KBIT or ADDRESS:PORT=KBIT/],
    [["--down", "127.0.0.3:70000=400"], /--down must be ADDRESS=KBIT/],
    [["--up", "127.0.0.3:8:9=400"], /--up must be ADDRESS=KBIT/],
    [["--server-ports", "8000,0"], /--server-ports/],
    [["--queue-ms", "0"], /--queue-ms/],
    [["--seed", "-1"], /--seed/],
    [["--nonsense"], /nonsense/],
    [["stray"], /stray/],
  ];
  for (const [args, message] of bad) {
    assert.throws(() => parseNetsimFlags(args), (err: Error) => {
      assert.ok(err instanceof FlagError, `${args}: ${err}`);
      assert.match(err.message, message, args.join(" "));
      return true;
    });
  }
});

Deno.test("netsim CLI: a bad flag exits with code 2 and says why, before binding anything", async () => {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./main.ts", import.meta.url).pathname, "--loss", "150"],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(code, 2);
  assert.match(new TextDecoder().decode(stderr), /--loss must be a number from 0 to 100/);
});

Deno.test("netsim: each packet is released at its time, in time order, with the due ones together", () => {
  const h = harness(new Impairment({ delayMs: 20, jitterMs: 10, random: seededRandom(9) }));
  const times = new Map<number, number>();
  // An event loop: a packet every 0.25 ms, and a wake-up exactly when asked in between.
  let wakeAt = Infinity;
  let wakes = 0;
  for (let id = 1; id <= 200 || Number.isFinite(wakeAt); id++) {
    const arrival = id <= 200 ? 1000 + id * 0.25 : Infinity;
    while (wakeAt < arrival) {
      h.now = wakeAt;
      wakeAt = h.now + h.sim.onWake();
      wakes++;
    }
    if (id > 200) break;
    h.now = arrival;
    h.sim.onPackets([packet(id)]);
    wakeAt = h.now + h.sim.onWake();
  }
  // ~40 packets in flight at a time (20 ms at 4 a millisecond).
  assert.ok(h.sim.counters.maxHeld > 30 && h.sim.counters.maxHeld < 120);
  assert.equal(h.verdicts.length, 200);
  assert.ok(h.verdicts.every((v) => v.accept));
  for (const v of h.verdicts) times.set(v.id, v.at);
  // Released in time order, never before half a millisecond ahead of the time decided.
  const order = h.verdicts.map((v) => v.at);
  assert.deepEqual(order, [...order].sort((a, b) => a - b));
  for (let id = 1; id <= 200; id++) {
    const delay = times.get(id)! - (1000 + id * 0.25);
    assert.ok(delay >= 10 - 0.5 && delay <= 30, `packet ${id}: ${delay} ms`);
  }
  // Due packets go together: far fewer timed wake-ups than packets.
  assert.ok(wakes < 150, `${wakes} wake-ups`);
  assert.equal(h.sim.counters.released, 200);
  assert.equal(h.sim.counters.held, 0);
  assert.ok(Math.abs(h.sim.counters.releaseLateMsMean) <= 0.5);
});

Deno.test("netsim: without delay packets are accepted at once; lost ones are dropped at once", () => {
  const h = harness(new Impairment({ lossPercent: 50, random: seededRandom(10) }));
  h.sim.onPackets(Array.from({ length: 1000 }, (_, i) => packet(i)));
  assert.equal(h.verdicts.length, 1000);
  const dropped = h.verdicts.filter((v) => !v.accept).length;
  assert.equal(dropped, h.sim.counters.droppedLoss);
  assert.ok(dropped > 400 && dropped < 600, `${dropped}`);
  assert.equal(h.sim.counters.released, 1000 - dropped);
  assert.equal(h.sim.onWake(), Infinity);
});

Deno.test("netsim: a rate limit's tail drops are counted apart from random loss", () => {
  const h = harness(
    new Impairment({ serverPorts: [8000], down: { "127.0.0.3": 400 }, queueMs: 200 }),
  );
  h.sim.onPackets(
    Array.from(
      { length: 20 },
      (_, i) => packet(i, { sizeBytes: 1000, srcPort: 8000, dst: "127.0.0.3" }),
    ),
  );
  assert.equal(h.sim.counters.droppedQueue, 10);
  assert.equal(h.sim.counters.droppedLoss, 0);
  assert.equal(h.sim.counters.held, 10);
});

Deno.test("netsim: at the stop every packet still held is accepted at once", () => {
  const h = harness(new Impairment({ delayMs: 1000 }));
  h.sim.onPackets([packet(1), packet(2), packet(3)]);
  h.sim.releaseAll();
  assert.deepEqual(h.verdicts.map((v) => v.id).sort(), [1, 2, 3]);
  assert.ok(h.verdicts.every((v) => v.accept && v.at === h.now));
  assert.equal(h.sim.counters.releasedAtStop, 3);
  assert.equal(h.sim.counters.held, 0);
});
