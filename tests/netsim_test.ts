/**
 * netsim end to end: the scenario in tests/netsim/netsim_scenario.ts runs in its own network
 * namespace with only loopback (unshare -n), where it may add iptables rules. What it
 * measures is what a test relying on netsim gets: the delay, jitter and loss asked for on the
 * packets named and on nothing else, TCP still working through it, little added by netsim
 * itself at 5,000 packets a second, and rate limits at their rate with tail drops.
 */

import assert from "node:assert/strict";
import { runInLoopbackNamespace } from "./support/netns.ts";
import { addLoopbackAddress, startImpairment } from "./support/impaired_network.ts";

type Summary = { n: number; min: number; p5: number; p50: number; p95: number; p99: number };

Deno.test("netsim: delay, jitter and loss where asked only; TCP gets through; small overhead; rate limits", async () => {
  const { figures } = await runInLoopbackNamespace(
    new URL("./netsim/netsim_scenario.ts", import.meta.url),
    "the netsim scenario",
  );
  console.log("netsim figures:", JSON.stringify(figures));
  const f = figures as Record<string, Record<string, unknown>>;

  // 25 +/- 8 ms and 5 % loss on the echo port: the delays spread over [17, 33] around 25.
  const delay = f.delay.impaired as Summary;
  assert.ok(delay.p50 >= 22 && delay.p50 <= 28, `p50 ${delay.p50} ms`);
  assert.ok(delay.min >= 16.5, `min ${delay.min} ms`); // packets due within 0.5 ms go together
  assert.ok(delay.p99 <= 36, `p99 ${delay.p99} ms`);
  assert.ok(delay.p95 - delay.p5 >= 10, `spread p5 ${delay.p5} to p95 ${delay.p95} ms`);
  const loss = f.delay.lossPercent as number;
  assert.ok(loss >= 2 && loss <= 9, `loss ${loss} %`);
  // Only the echo's port was named: the replies and the other port are not impaired.
  const rtt = f.delay.rtt as Summary;
  assert.ok(rtt.p50 - delay.p50 < 5, `round trip p50 ${rtt.p50} ms`);
  const plain = f.delay.plain as Summary;
  assert.ok(plain.p95 < 5, `unimpaired port p95 ${plain.p95} ms`);
  assert.equal(f.delay.plainLossPercent, 0);

  // Delay 0 at about 5,000 packets a second: netsim adds well under a millisecond.
  const overhead = f.overhead;
  assert.ok((overhead.packetsPerSecond as number) >= 4000, `${overhead.packetsPerSecond}/s`);
  assert.equal(overhead.lost, 0);
  assert.ok((overhead.addedMsP50 as number) < 1, `added p50 ${overhead.addedMsP50} ms`);

  // TCP through delay, jitter and 5 % loss both ways: intact, by retransmitting.
  assert.equal(f.tcp.intact, true, `TCP answer ${f.tcp.answer}`);
  assert.ok((f.tcp.retransmits as number) > 0, `${f.tcp.retransmits} retransmits`);

  // 400 kbit/s down: 1 Mbit/s offered arrives at 400 (+/- 15 %), the rest tail-dropped...
  const over = (f.rate as Record<string, Record<string, number>>).over;
  assert.ok(Math.abs(over.kbitPerS - 400) <= 60, `${over.kbitPerS} kbit/s through 400`);
  assert.ok(over.droppedQueue > 0.4 * over.sent, `${over.droppedQueue} of ${over.sent} dropped`);
  // ...and 300 kbit/s passes whole, at its own rate.
  const under = (f.rate as Record<string, Record<string, number>>).under;
  assert.equal(under.droppedQueue, 0);
  assert.ok(Math.abs(under.kbitPerS - 300) <= 45, `${under.kbitPerS} kbit/s of 300 offered`);
});

Deno.test("netsim helper: refuses to touch the machine's own network namespace", async () => {
  await assert.rejects(
    startImpairment({ delayMs: 10, jitterMs: 0, lossPercent: 0, match: [["-p", "udp"]] }),
    /not inside a private network namespace/,
  );
  assert.throws(() => addLoopbackAddress("127.0.0.3"), /not inside a private network namespace/);
});
