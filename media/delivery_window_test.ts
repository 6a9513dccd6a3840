import assert from "node:assert/strict";
import { DeliveryWindow, readReceivedBytes, writeReceivedBytes } from "./delivery_window.ts";

Deno.test("a backlog is the wait of the oldest byte not yet read, within the mark spacing", () => {
  const window = new DeliveryWindow({ markMs: 10 });
  for (let t = 0; t < 1000; t += 20) window.sent(500, t); // 25 kB/s for a second
  assert.equal(window.backlogMs(1000), 0, "no report yet: no signal");
  window.acknowledge(5000, 1000); // the first 10 packets, sent in 0..180
  assert.equal(window.inFlight, 20_000);
  assert.equal(window.backlogMs(1000), 800, "the 11th packet was sent at 200");
  window.acknowledge(25_000, 1010);
  assert.equal(window.inFlight, 0);
  assert.equal(window.backlogMs(5000), 0, "everything read: no backlog however long ago");
});

Deno.test("sends within the mark spacing share a mark: the backlog reads at most that much longer", () => {
  const window = new DeliveryWindow({ markMs: 10 });
  window.sent(100, 0);
  window.sent(100, 5);
  window.sent(100, 10);
  window.acknowledge(150, 20); // half of the second send read: it was sent at 5, marked at 0
  assert.equal(window.backlogMs(20), 20);
  window.acknowledge(200, 20);
  assert.equal(window.backlogMs(20), 10, "the third send has its own mark");
});

Deno.test("a report of more than was sent, or going backwards, changes nothing", () => {
  const window = new DeliveryWindow();
  window.sent(1000, 0);
  assert.equal(window.acknowledge(600, 10), true);
  assert.equal(window.acknowledge(1001, 20), false);
  assert.equal(window.acknowledge(500, 20), false, "a count behind the last one");
  assert.equal(window.acknowledge(600, Number.NaN), false);
  assert.equal(window.inFlight, 400);
  assert.equal(window.invalidReports, 3);
  assert.equal(window.backlogMs(10), 10);
});

Deno.test("a receiver's silence counts as backlog only past the allowance", () => {
  const window = new DeliveryWindow({ markMs: 10, silenceMs: 300 });
  // 1 Mbit/s sent for a second; read 100 ms late, reported every 40 ms, until 600.
  for (let t = 0; t <= 1000; t += 10) {
    window.sent(1250, t);
    if (t % 40 === 0 && t >= 100 && t <= 600) window.acknowledge((t - 100) * 125 + 1250, t);
  }
  assert.equal(window.backlogMs(600), 90, "what it had not got when it last reported");
  // Its thread held up 250 ms: nothing read, nothing reported. Its link is no fuller.
  assert.equal(window.backlogMs(850), 90);
  // Silent for a second: a link stalled outright; the time past the allowance counts.
  assert.equal(window.backlogMs(1600), 790);
  // It reads again, all of it but the last two packets (sent at 990 and 1000).
  window.acknowledge(1250 * 99, 1610);
  assert.equal(window.backlogMs(1610), 620);
});

Deno.test("the count wraps at 2^32 like the report's field", () => {
  const window = new DeliveryWindow();
  const chunk = 2 ** 30;
  for (let i = 0; i < 5; i++) window.sent(chunk, i * 100);
  // Reports come every few tens of ms: each advances by far less than 2^32.
  assert.equal(window.acknowledge(3 * chunk, 500), true);
  assert.equal(window.acknowledge((4 * chunk) % 2 ** 32, 500), true); // 0 on the wire
  assert.equal(window.inFlight, chunk);
  assert.equal(window.backlogMs(500), 100);
  assert.equal(window.acknowledge((5 * chunk) % 2 ** 32, 500), true);
  assert.equal(window.inFlight, 0);
});

Deno.test("marks are bounded: a receiver that never reads costs a fixed amount", () => {
  const window = new DeliveryWindow({ markMs: 10, maxMarks: 8 });
  for (let t = 0; t < 100_000; t += 10) window.sent(100, t);
  window.acknowledge(100, 100_000);
  // Past the bound, later sends count from the last kept mark's time: longer, never shorter.
  assert.equal(window.backlogMs(100_000) >= 100_000 - 10, true);
  window.acknowledge(100 * 10_000, 100_001);
  assert.equal(window.backlogMs(100_001), 0);
  window.sent(100, 100_010);
  window.acknowledge(100 * 10_000, 100_020);
  assert.equal(window.backlogMs(100_020), 10, "marks again once read");
});

Deno.test("the received-bytes report is one RTCP APP packet and nothing else reads as one", () => {
  const report = writeReceivedBytes(2 ** 32 + 7);
  assert.equal(report.length, 16);
  assert.equal(report[1], 204);
  assert.equal(readReceivedBytes(report), 7);
  const rtp = new Uint8Array(16);
  rtp[0] = 0x80;
  rtp[1] = 96;
  assert.equal(readReceivedBytes(rtp), null);
  const other = report.slice();
  other[11] = 0x45; // another APP name
  assert.equal(readReceivedBytes(other), null);
  assert.equal(readReceivedBytes(report.subarray(0, 12)), null);
});

Deno.test("fullLinkBps: a link that reads far less than is sent is full, at the rate it reads", () => {
  const window = new DeliveryWindow();
  // 1.6 Mbit/s sent for 2 s, 400 kbit/s read, reported every 40 ms.
  for (let t = 0; t <= 2000; t += 10) {
    window.sent(2000, t);
    if (t % 40 === 0) window.acknowledge(t * 50, t);
  }
  const bps = window.fullLinkBps(2000, 1000)!;
  assert.ok(Math.abs(bps - 400_000) < 10_000, `${bps}`);
  // Nothing read since: the silence counts (what the link carried over the last second).
  assert.ok(window.fullLinkBps(2300, 1000)! < bps * 0.8);
});

Deno.test("fullLinkBps: a link that keeps up is not full, however late its reports come", () => {
  const window = new DeliveryWindow();
  // 1 Mbit/s sent; each byte read 150 ms later (the path and the report's own wait).
  for (let t = 0; t <= 2000; t += 10) {
    window.sent(1250, t);
    if (t % 40 === 0 && t >= 150) window.acknowledge((t - 150) * 125 + 1250, t);
  }
  assert.ok(window.backlogMs(2000) >= 140, "a backlog, from the delay alone");
  assert.equal(window.fullLinkBps(2000, 1000), null);
  // A keyframe sent at once on top (40 kB) is not a full link either.
  window.sent(40_000, 2000);
  assert.equal(window.fullLinkBps(2000, 1000), null);
});

Deno.test("fullLinkBps: too few reports or too short a span is no reading; memory stays bounded", () => {
  const window = new DeliveryWindow();
  for (let t = 0; t <= 1000; t += 10) window.sent(2000, t);
  window.acknowledge(1000, 900);
  window.acknowledge(2000, 1000);
  assert.equal(window.fullLinkBps(1000, 1000), null, "two reports");
  const fresh = new DeliveryWindow();
  fresh.sent(100_000, 0);
  for (let t = 0; t <= 200; t += 40) fresh.acknowledge(t * 10, t);
  assert.equal(fresh.fullLinkBps(200, 1000), null, "200 ms of reports");
  assert.equal(fresh.fullLinkBps(200, 0), null);
  // An hour of sending and reports: the reading is still of the last second.
  const long = new DeliveryWindow();
  for (let t = 0; t <= 3_600_000; t += 20) {
    long.sent(4000, t);
    if (t % 40 === 0) long.acknowledge(t * 50, t);
  }
  const bps = long.fullLinkBps(3_600_000, 1000)!;
  assert.ok(Math.abs(bps - 400_000) < 10_000, `${bps}`);
});
