/**
 * netsim end to end on loopback. Run only inside a private network namespace with just
 * loopback (tests/netsim_test.ts does: `unshare -n sh -c 'ip link set lo up && ...'`): it adds
 * iptables rules. Prints its figures as JSON on the last line; the test judges them.
 *
 * 1. Delay, jitter, loss: 25 +/- 8 ms and 5 % loss on UDP to one sink's port only, 2000
 *    datagrams; a second sink's port, sent to in the same loop, is not impaired. The first
 *    sink echoes, so the round trip is measured too.
 * 2. Overhead: delay 0 on one sink's port at about 5,000 datagrams a second, against the
 *    other sink's port, unimpaired, in the same loop: what netsim itself adds.
 * 3. TCP through 25 +/- 8 ms and 5 % loss both ways: a 512 KiB transfer completes intact
 *    (the kernel's retransmit counter says TCP had to resend).
 * 4. Rate limit: `down` 400 kbit/s towards 127.0.0.3; 1 Mbit/s offered (tail drops, and
 *    what arrives arrives at 400 kbit/s), then 300 kbit/s offered (nothing dropped).
 */

import { processCpuMs } from "../../bench/_report.ts";
import {
  addLoopbackAddress,
  inPrivateNetworkNamespace,
  type NetsimCounters,
  startImpairment,
} from "../support/impaired_network.ts";

if (!inPrivateNetworkNamespace()) {
  console.error("netsim scenario: run me inside a private network namespace (unshare -n)");
  Deno.exit(1);
}

/** Loopback's MTU here as on an Ethernet path, so TCP sends many segments (this namespace). */
const mtu = await new Deno.Command("ip", { args: ["link", "set", "lo", "mtu", "1500"] }).output();
if (mtu.code !== 0) throw new Error("ip link set lo mtu 1500 failed");

const figures: Record<string, unknown> = {};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Percentile of sorted values. */
function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function summary(delays: number[]) {
  const s = [...delays].sort((a, b) => a - b);
  return {
    n: s.length,
    min: round(s[0]),
    p5: round(pct(s, 5)),
    p50: round(pct(s, 50)),
    p95: round(pct(s, 95)),
    p99: round(pct(s, 99)),
    max: round(s[s.length - 1]),
  };
}

/**
 * A UDP socket that records each datagram's one-way delay (the sender wrote its send time
 * into bytes 8-15) and, if asked, echoes it back.
 */
function sink(hostname: string, echo: boolean) {
  const socket = Deno.listenDatagram({ transport: "udp", hostname, port: 0 });
  const delays: number[] = [];
  const seqs = new Set<number>();
  let bytes = 0;
  let first = Infinity;
  let last = 0;
  const done = (async () => {
    try {
      for (;;) {
        const [data, from] = await socket.receive();
        const now = performance.now();
        const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
        seqs.add(view.getUint32(0));
        delays.push(now - view.getFloat64(8));
        bytes += data.length + 28; // IPv4 and UDP headers: the size on the wire
        first = Math.min(first, now);
        last = now;
        if (echo) await socket.send(data, from);
      }
    } catch { /* closed */ }
  })();
  return {
    socket,
    port: (socket.addr as Deno.NetAddr).port,
    delays,
    seqs,
    get bytes() {
      return bytes;
    },
    /** Wire bits per second between the first and the last arrival, kbit/s. */
    kbitPerS(): number {
      return last > first ? ((bytes - (bytes / seqs.size)) * 8) / (last - first) : NaN;
    },
    async close() {
      socket.close();
      await done;
    },
  };
}

/** A datagram of `size` bytes: sequence number, then the send time. */
function datagram(seq: number, size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, seq);
  view.setFloat64(8, performance.now());
  return bytes;
}

/**
 * Sends `count` datagrams of `size` bytes at `perSecond` from `socket`, to each of `targets`
 * in turn per sequence number; bounded by `deadlineMs`. Returns how many went to each.
 */
async function pacedSend(
  socket: Deno.DatagramConn,
  targets: Deno.NetAddr[],
  { count, perSecond, size, deadlineMs }: {
    count: number;
    perSecond: number;
    size: number;
    deadlineMs: number;
  },
): Promise<number> {
  const t0 = performance.now();
  let sent = 0;
  while (sent < count && performance.now() - t0 < deadlineMs) {
    const due = Math.min(count, Math.floor(((performance.now() - t0) * perSecond) / 1000) + 1);
    while (sent < due) {
      for (const to of targets) await socket.send(datagram(sent, size), to);
      sent++;
    }
    await sleep(1); // the pacing timer
  }
  return sent;
}

/** Waits until `check()` holds or `ms` pass (the tail of a run: packets still in flight). */
async function settle(check: () => boolean, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  while (!check() && performance.now() < deadline) await sleep(5);
}

function udp(port: number) {
  return { transport: "udp" as const, hostname: "127.0.0.1", port };
}

function counters(c: NetsimCounters) {
  const { received, droppedLoss, droppedQueue, released, maxHeld, overflows } = c;
  return {
    received,
    droppedLoss,
    droppedQueue,
    released,
    maxHeld,
    overflows,
    releaseLateMsMean: c.releaseLateMsMean,
    releaseLateMsMax: c.releaseLateMsMax,
    kernelDropped: (c.kernelQueueDropped ?? 0) + (c.kernelUserDropped ?? 0),
  };
}

// 1. Delay, jitter and loss on one port; another port untouched.
{
  const impaired = sink("127.0.0.1", true);
  const plain = sink("127.0.0.1", false);
  const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const rtts: number[] = [];
  const echoes = (async () => {
    try {
      for (;;) {
        const [data] = await client.receive();
        rtts.push(performance.now() - new DataView(data.buffer).getFloat64(8));
      }
    } catch { /* closed */ }
  })();
  const net = await startImpairment({
    delayMs: 25,
    jitterMs: 8,
    lossPercent: 5,
    seed: 1,
    match: [["-p", "udp", "--dport", `${impaired.port}`]],
  });
  const sent = await pacedSend(client, [udp(impaired.port), udp(plain.port)], {
    count: 2000,
    perSecond: 1000,
    size: 100,
    deadlineMs: 10_000,
  });
  await settle(() => impaired.seqs.size >= sent * 0.95 && plain.seqs.size >= sent, 1000);
  await settle(() => rtts.length >= impaired.seqs.size, 500);
  const c = await net.stop();
  client.close();
  await echoes;
  await impaired.close();
  await plain.close();
  figures.delay = {
    sent,
    impaired: summary(impaired.delays),
    lossPercent: round(100 * (1 - impaired.seqs.size / sent)),
    rtt: summary(rtts),
    plain: summary(plain.delays),
    plainLossPercent: round(100 * (1 - plain.seqs.size / sent)),
    netsim: counters(c),
  };
}

// 2. What netsim itself adds: delay 0 at about 5,000 datagrams a second.
{
  const impaired = sink("127.0.0.1", false);
  const plain = sink("127.0.0.1", false);
  const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const net = await startImpairment({
    delayMs: 0,
    jitterMs: 0,
    lossPercent: 0,
    match: [["-p", "udp", "--dport", `${impaired.port}`]],
  });
  const t0 = performance.now();
  const cpu0 = processCpuMs(net.pid);
  const sent = await pacedSend(client, [udp(impaired.port), udp(plain.port)], {
    count: 10_000,
    perSecond: 5_000,
    size: 100,
    deadlineMs: 6_000,
  });
  const seconds = (performance.now() - t0) / 1000;
  const cpuMs = processCpuMs(net.pid) - cpu0;
  await settle(() => impaired.seqs.size >= sent && plain.seqs.size >= sent, 1000);
  const c = await net.stop();
  client.close();
  await impaired.close();
  await plain.close();
  const a = summary(impaired.delays);
  const b = summary(plain.delays);
  figures.overhead = {
    sent,
    packetsPerSecond: Math.round(c.received / seconds),
    impaired: a,
    plain: b,
    addedMsP50: round(a.p50 - b.p50, 3),
    addedMsP95: round(a.p95 - b.p95, 3),
    addedMsP99: round(a.p99 - b.p99, 3),
    lost: sent - impaired.seqs.size,
    /** netsim's CPU time over the sending, per cent of one core. */
    netsimCpuPercent: round(cpuMs / 10 / seconds, 1),
    netsim: counters(c),
  };
}

// 3. TCP through delay, jitter and loss both ways.
{
  const retransmits = () => {
    const lines = Deno.readTextFileSync("/proc/net/snmp").split("\n").filter((l) =>
      l.startsWith("Tcp:")
    );
    const names = lines[0].split(/\s+/);
    return Number(lines[1].split(/\s+/)[names.indexOf("RetransSegs")]);
  };
  const size = 512 * 1024;
  const payload = new Uint8Array(size).map((_, i) => (i * 31 + 7) & 0xff);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const server = (async () => {
    const conn = await listener.accept();
    let received = 0;
    let sum = 0;
    const buffer = new Uint8Array(64 * 1024);
    for (let n; (n = await conn.read(buffer)) !== null;) {
      for (let i = 0; i < n; i++) sum = (sum * 31 + buffer[i]) >>> 0;
      received += n;
    }
    await conn.write(new TextEncoder().encode(`${received} ${sum}`)); // a few bytes: one write
    conn.close();
  })();
  const net = await startImpairment({
    delayMs: 25,
    jitterMs: 8,
    lossPercent: 5,
    seed: 3,
    match: [["-p", "tcp", "--dport", `${port}`], ["-p", "tcp", "--sport", `${port}`]],
  });
  const before = retransmits();
  const t0 = performance.now();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const transfer = (async () => {
    for (let at = 0; at < payload.length;) at += await conn.write(payload.subarray(at));
    await conn.closeWrite();
    return await new Response(conn.readable).text();
  })();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const answer = await Promise.race([
    transfer,
    new Promise<string>((resolve) => timer = setTimeout(() => resolve("timed out"), 20_000)),
  ]);
  clearTimeout(timer);
  const seconds = (performance.now() - t0) / 1000;
  let expected = 0;
  for (const b of payload) expected = (expected * 31 + b) >>> 0;
  const c = await net.stop();
  try {
    conn.close();
  } catch { /* closed by the server */ }
  await server.catch(() => {});
  listener.close();
  figures.tcp = {
    bytes: size,
    intact: answer === `${size} ${expected}`,
    answer,
    seconds: round(seconds),
    retransmits: retransmits() - before,
    netsim: counters(c),
  };
}

// 4. Rate limit towards 127.0.0.3: 400 kbit/s with a 200 ms queue.
{
  addLoopbackAddress("127.0.0.3");
  const server = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const serverPort = (server.addr as Deno.NetAddr).port;
  const rateCase = async (offeredKbit: number, seconds: number) => {
    const client = sink("127.0.0.3", false);
    const net = await startImpairment({
      delayMs: 10,
      jitterMs: 0,
      lossPercent: 0,
      serverPorts: [serverPort],
      down: { "127.0.0.3": 400 },
      match: [["-p", "udp", "--sport", `${serverPort}`]],
    });
    // 1000-byte datagrams: 1028 bytes on the wire.
    const perSecond = (offeredKbit * 1000) / (1028 * 8);
    const to = { transport: "udp" as const, hostname: "127.0.0.3", port: client.port };
    const sent = await pacedSend(server, [to], {
      count: Math.round(perSecond * seconds),
      perSecond,
      size: 1000,
      deadlineMs: seconds * 1000 + 2000,
    });
    // What netsim still holds goes at once when it stops: count only what came before.
    const kbit = client.kbitPerS();
    const received = client.seqs.size;
    const c = await net.stop();
    await client.close();
    return {
      offeredKbit,
      sent,
      received,
      kbitPerS: round(kbit, 1),
      droppedQueue: c.droppedQueue,
      netsim: counters(c),
    };
  };
  figures.rate = {
    limitKbit: 400,
    over: await rateCase(1000, 3),
    under: await rateCase(300, 1.5),
  };
  server.close();
}

console.log(JSON.stringify(figures));
// Figures are out and every check passed: end here, whatever handle a library left open (a
// run once stayed alive after this point, idle, until it was stopped).
Deno.exit(0);
