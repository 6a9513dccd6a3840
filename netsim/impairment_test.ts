/**
 * The emulated network's decisions: loss rate, delay bounds, reordering under jitter, rate
 * limit spacing, the bounded queue's tail drops, and which packets a rate limit applies to.
 */

import assert from "node:assert/strict";
import { type Decision, Impairment, type PacketInfo, seededRandom } from "./impairment.ts";

const UDP: PacketInfo = {
  atMs: 0,
  sizeBytes: 100,
  src: "127.0.0.1",
  dst: "127.0.0.1",
  srcPort: 40000,
  dstPort: 4433,
  protocol: "udp",
};

/** A packet from the server (port 8000 on 127.0.0.1) to a client at `client`. */
function down(client: string, atMs: number, sizeBytes = 1000): PacketInfo {
  return { ...UDP, atMs, sizeBytes, src: "127.0.0.1", dst: client, srcPort: 8000, dstPort: 50000 };
}

/** A packet from a client at `client` to the server (port 8000 on 127.0.0.1). */
function up(client: string, atMs: number, sizeBytes = 1000): PacketInfo {
  return { ...UDP, atMs, sizeBytes, src: client, dst: "127.0.0.1", srcPort: 50000, dstPort: 8000 };
}

function releaseAt(decision: Decision): number {
  assert.equal(decision.drop, false, `dropped: ${JSON.stringify(decision)}`);
  return (decision as { releaseAt: number }).releaseAt;
}

Deno.test("impairment: a perfect link by default releases every packet at once", () => {
  const net = new Impairment();
  for (let i = 0; i < 1000; i++) {
    assert.deepEqual(net.decide({ ...UDP, atMs: i }), { drop: false, releaseAt: i });
  }
});

Deno.test("impairment: 5 % loss over 100,000 packets loses 4.8-5.2 %, each reason 'loss'", () => {
  const net = new Impairment({ lossPercent: 5, random: seededRandom(1) });
  let lost = 0;
  for (let i = 0; i < 100_000; i++) {
    const d = net.decide({ ...UDP, atMs: i / 10 });
    if (d.drop) {
      assert.equal(d.reason, "loss");
      lost++;
    }
  }
  assert.ok(lost >= 4_800 && lost <= 5_200, `lost ${lost} of 100,000`);
});

Deno.test("impairment: 0 % loses nothing and 100 % everything", () => {
  const none = new Impairment({ lossPercent: 0, random: seededRandom(2) });
  const all = new Impairment({ lossPercent: 100, random: seededRandom(2) });
  for (let i = 0; i < 10_000; i++) {
    assert.equal(none.decide({ ...UDP, atMs: i }).drop, false);
    assert.equal(all.decide({ ...UDP, atMs: i }).drop, true);
  }
});

Deno.test("impairment: delay 25 jitter 8 keeps every delay in [17, 33], spread over it, mean 25", () => {
  const net = new Impairment({ delayMs: 25, jitterMs: 8, random: seededRandom(3) });
  const delays: number[] = [];
  for (let i = 0; i < 20_000; i++) {
    const at = i * 0.2;
    delays.push(releaseAt(net.decide({ ...UDP, atMs: at })) - at);
  }
  assert.ok(Math.min(...delays) >= 17, `min ${Math.min(...delays)}`);
  assert.ok(Math.max(...delays) <= 33, `max ${Math.max(...delays)}`);
  // Uniform: both ends are reached, and the mean is in the middle.
  assert.ok(Math.min(...delays) < 17.1 && Math.max(...delays) > 32.9);
  const mean = delays.reduce((a, b) => a + b, 0) / delays.length;
  assert.ok(Math.abs(mean - 25) < 0.2, `mean ${mean}`);
});

Deno.test("impairment: jitter reorders packets sent close together, as netem does", () => {
  const net = new Impairment({ delayMs: 25, jitterMs: 8, random: seededRandom(4) });
  const times = Array.from({ length: 1000 }, (_, i) => releaseAt(net.decide({ ...UDP, atMs: i })));
  let overtaken = 0;
  for (let i = 1; i < times.length; i++) if (times[i] < times[i - 1]) overtaken++;
  assert.ok(overtaken > 100, `${overtaken} of 1000 packets overtook the one before`);
});

Deno.test("impairment: 400 kbit/s sends 50 packets of 1000 bytes given at once 20 ms apart", () => {
  const net = new Impairment({
    serverPorts: [8000],
    down: { "127.0.0.3": 400 },
    queueMs: 2_000,
  });
  const times = Array.from({ length: 50 }, () => releaseAt(net.decide(down("127.0.0.3", 100))));
  times.forEach((t, i) => assert.ok(Math.abs(t - (100 + 20 * (i + 1))) < 1e-9, `${i}: ${t}`));
});

Deno.test("impairment: a paced stream under the rate passes unchanged; delay adds on top", () => {
  const net = new Impairment({ delayMs: 10, serverPorts: [8000], down: { "127.0.0.3": 400 } });
  // 1000 bytes every 25 ms is 320 kbit/s: each packet only waits for its own 20 ms.
  for (let i = 0; i < 100; i++) {
    assert.equal(releaseAt(net.decide(down("127.0.0.3", i * 25))), i * 25 + 20 + 10);
  }
});

Deno.test("impairment: the queue holds at most queueMs of bytes; the rest is tail-dropped", () => {
  const net = new Impairment({ serverPorts: [8000], down: { "127.0.0.3": 400 }, queueMs: 200 });
  // 20 ms per packet: 10 fit in 200 ms of queue, the 11th given at once does not.
  const burst = Array.from({ length: 30 }, () => net.decide(down("127.0.0.3", 0)));
  assert.equal(burst.filter((d) => !d.drop).length, 10);
  assert.ok(burst.slice(10).every((d) => d.drop && d.reason === "queue"));
  // Once the queue has drained one packet's worth, one more fits.
  assert.equal(net.decide(down("127.0.0.3", 19)).drop, true);
  assert.equal(releaseAt(net.decide(down("127.0.0.3", 20))), 220);
});

Deno.test("impairment: 1 Mbit/s offered to 400 kbit/s: 40 % goes through, at the link's rate", () => {
  const net = new Impairment({ serverPorts: [8000], down: { "127.0.0.3": 400 } });
  let passed = 0;
  let last = 0;
  // 1000 bytes every 8 ms for 10 s.
  for (let i = 0; i < 1250; i++) {
    const d = net.decide(down("127.0.0.3", i * 8));
    if (!d.drop) {
      passed++;
      last = d.releaseAt;
    }
  }
  const kbit = (passed * 8000) / last;
  assert.ok(Math.abs(kbit - 400) < 10, `${kbit} kbit/s`);
  assert.ok(passed / 1250 > 0.38 && passed / 1250 < 0.42, `${passed} of 1250 passed`);
});

Deno.test("impairment: an empty queue takes one packet longer than queueMs", () => {
  const net = new Impairment({ serverPorts: [8000], down: { "127.0.0.3": 8 }, queueMs: 200 });
  assert.equal(releaseAt(net.decide(down("127.0.0.3", 0, 1500))), 1500);
  assert.equal(net.decide(down("127.0.0.3", 1, 100)).drop, true);
});

Deno.test("impairment: down matches server port -> address, up matches address -> server port", () => {
  const net = new Impairment({
    serverPorts: [8000, 8443],
    down: { "127.0.0.3": 80 }, // 100 bytes take 10 ms
    up: { "127.0.0.2": 40 }, // 100 bytes take 20 ms
  });
  const size = 100;
  // Down: from a server port to 127.0.0.3, and nothing else.
  assert.equal(releaseAt(net.decide(down("127.0.0.3", 0, size))), 10);
  assert.equal(releaseAt(net.decide({ ...down("127.0.0.3", 0, size), srcPort: 8443 })), 20);
  assert.equal(releaseAt(net.decide({ ...down("127.0.0.3", 0, size), srcPort: 9000 })), 0);
  assert.equal(releaseAt(net.decide(down("127.0.0.2", 0, size))), 0);
  assert.equal(releaseAt(net.decide(up("127.0.0.3", 0, size))), 0);
  // Up: from 127.0.0.2 to a server port, and nothing else.
  assert.equal(releaseAt(net.decide(up("127.0.0.2", 0, size))), 20);
  assert.equal(releaseAt(net.decide({ ...up("127.0.0.2", 0, size), dstPort: 9000 })), 0);
  assert.equal(releaseAt(net.decide(down("127.0.0.2", 0, size))), 0);
  // Each direction has its own queue: up did not wait behind down's packets.
  assert.equal(releaseAt(net.decide(up("127.0.0.2", 0, size))), 40);
});

Deno.test("impairment: without server ports a rate limit matches by address alone", () => {
  const net = new Impairment({ down: { "127.0.0.3": 80 }, up: { "127.0.0.2": 80 } });
  assert.equal(releaseAt(net.decide({ ...UDP, dst: "127.0.0.3" })), 10);
  assert.equal(releaseAt(net.decide({ ...UDP, src: "127.0.0.2" })), 10);
  assert.equal(releaseAt(net.decide(UDP)), 0);
});

Deno.test("impairment: loss and delay apply after the rate queue", () => {
  const lossy = new Impairment({
    lossPercent: 100,
    serverPorts: [8000],
    down: { "127.0.0.3": 400 },
    random: seededRandom(5),
  });
  // A packet lost after the queue still took its turn on the link: ten fit, all lost to loss.
  const reasons = Array.from({ length: 11 }, () => lossy.decide(down("127.0.0.3", 0)))
    .map((d) => d.drop ? d.reason : "passed");
  assert.deepEqual(reasons, [...Array(10).fill("loss"), "queue"]);
});

Deno.test("impairment: bad options are refused", () => {
  assert.throws(() => new Impairment({ delayMs: -1 }), RangeError);
  assert.throws(() => new Impairment({ delayMs: 10, jitterMs: 11 }), RangeError);
  assert.throws(() => new Impairment({ lossPercent: 101 }), RangeError);
  assert.throws(() => new Impairment({ down: { "127.0.0.3": 0 } }), RangeError);
  assert.throws(() => new Impairment({ queueMs: 0 }), RangeError);
});

Deno.test("impairment: the seeded random source repeats and stays in [0, 1)", () => {
  const a = seededRandom(7);
  const b = seededRandom(7);
  for (let i = 0; i < 10_000; i++) {
    const x = a();
    assert.equal(x, b());
    assert.ok(x >= 0 && x < 1);
  }
});

Deno.test("impairment: on loopback a client that reaches the server at its own address is limited by the server's side of its packets", () => {
  const net = new Impairment({
    serverPorts: [8000],
    down: { "127.0.0.5": 400 },
    up: { "127.0.0.5": 400 },
  });
  // The client sends from 127.0.0.1 to the server at 127.0.0.5: its packets, both ways.
  const toClient = {
    ...UDP,
    sizeBytes: 1000,
    src: "127.0.0.5",
    dst: "127.0.0.1",
    srcPort: 8000,
    dstPort: 50000,
  };
  const toServer = {
    ...UDP,
    sizeBytes: 1000,
    src: "127.0.0.1",
    dst: "127.0.0.5",
    srcPort: 50000,
    dstPort: 8000,
  };
  assert.equal(releaseAt(net.decide({ ...toClient, atMs: 0 })), 20); // 8000 bits at 400 kbit/s
  assert.equal(releaseAt(net.decide({ ...toClient, atMs: 0 })), 40);
  assert.equal(releaseAt(net.decide({ ...toServer, atMs: 0 })), 20);
  // Another client, at 127.0.0.1 both ways, is not limited.
  assert.equal(releaseAt(net.decide(down("127.0.0.1", 0))), 0);
});

Deno.test("impairment: a limit may name a port: two browsers on 127.0.0.1, one of them limited", () => {
  const net = new Impairment({ down: { "127.0.0.1:40000": 400 }, up: { "127.0.0.1:50000": 400 } });
  const packet = (srcPort: number, dstPort: number, atMs: number) => ({
    ...UDP,
    atMs,
    sizeBytes: 1000,
    src: "127.0.0.1",
    dst: "127.0.0.1",
    srcPort,
    dstPort,
  });
  assert.equal(releaseAt(net.decide(packet(45000, 40000, 0))), 20); // to the limited one
  assert.equal(releaseAt(net.decide(packet(45000, 40000, 0))), 40);
  assert.equal(releaseAt(net.decide(packet(40000, 45000, 0))), 0); // from it: not limited
  assert.equal(releaseAt(net.decide(packet(50000, 45000, 0))), 20); // from the other limited one
  assert.equal(releaseAt(net.decide(packet(45000, 46000, 0))), 0);
});
