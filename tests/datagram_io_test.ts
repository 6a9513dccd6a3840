/**
 * The UDP relay's datagram I/O, both forms, over real loopback sockets they open themselves:
 * every datagram arrives intact with its source, an oversized one arrives cut so it can be
 * refused, replies go out (batched: in far fewer system calls than datagrams), a lone datagram
 * is handed over about a batch window after it comes, a port in use is Deno's AddrInUse, and
 * the batched form falls back where it cannot work.
 */

import assert from "node:assert/strict";
import { BatchedDatagramIo, MAX_DATAGRAM, openDatagramIo } from "../server/datagram_io.ts";
import { waitFor } from "./support/wait.ts";

const LOOPBACK = { transport: "udp", hostname: "127.0.0.1", port: 0 } as const;
const ADDRESS = { hostname: "127.0.0.1", port: 0 };

/** A datagram whose bytes name its index and length, so arrivals can be checked exactly. */
function datagram(index: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (index * 7 + i) & 0xff;
  bytes[0] = index & 0xff;
  return bytes;
}

/** A peer socket that collects what it receives. */
function peer() {
  const socket = Deno.listenDatagram(LOOPBACK);
  const received: Uint8Array[] = [];
  const done = (async () => {
    try {
      for (;;) received.push((await socket.receive())[0]);
    } catch { /* closed */ }
  })();
  return {
    socket,
    addr: socket.addr as Deno.NetAddr,
    received,
    async close() {
      socket.close();
      await done;
    },
  };
}

/**
 * A batched I/O on a fresh loopback socket, started, keeping the first byte of each datagram
 * it hands over, and a peer whose `send(index)` sends it a 10-byte datagram.
 */
function batchedWithPeer(options: { batchMs: number }) {
  const io = new BatchedDatagramIo(ADDRESS, options);
  const port = io.addr.port;
  const other = peer();
  const got: number[] = [];
  io.start((bytes) => got.push(bytes[0]));
  return {
    io,
    got,
    port,
    send: (index: number) => other.socket.send(datagram(index, 10), { ...LOOPBACK, port }),
    async close() {
      await io.close();
      await other.close();
    },
  };
}

for (const mode of ["batched", "deno"] as const) {
  Deno.test(`datagram I/O (${mode}): datagrams in, intact with their source; replies out`, async () => {
    const io = openDatagramIo(ADDRESS, mode);
    const port = io.addr.port;
    assert.ok(port > 0);
    assert.equal(io.addr.hostname, "127.0.0.1");
    assert.equal(io.stats.kind, mode);
    if (mode === "batched") {
      // What the kernel granted of the 4 MiB asked for: at least its default here.
      assert.ok((io.stats.receiveBufferBytes ?? 0) >= 65_536, `${io.stats.receiveBufferBytes}`);
    }
    const other = peer();
    const got: { bytes: Uint8Array; from: Deno.NetAddr }[] = [];
    io.start((bytes, from) => {
      got.push({ bytes, from });
      io.send(bytes, from); // echo
    });
    try {
      const sizes = Array.from({ length: 200 }, (_, i) => 1 + ((i * 97) % MAX_DATAGRAM));
      sizes.push(MAX_DATAGRAM);
      for (let i = 0; i < sizes.length; i++) {
        await other.socket.send(datagram(i, sizes[i]), { ...LOOPBACK, port });
        // In groups of 20, within any socket buffer: a loss here would be the kernel's.
        if (i % 20 === 19) await waitFor(() => got.length === i + 1, { what: `datagram ${i}` });
      }
      await other.socket.send(new Uint8Array(MAX_DATAGRAM + 100), { ...LOOPBACK, port });
      await waitFor(() => got.length === sizes.length + 1, { what: "every datagram" });
      for (let i = 0; i < sizes.length; i++) {
        assert.deepEqual(got[i].bytes, datagram(i, sizes[i]), `datagram ${i}`);
        assert.equal(got[i].from.hostname, "127.0.0.1");
        assert.equal(got[i].from.port, other.addr.port);
      }
      // Too long: cut to one byte over the limit, so the relay can tell and refuse it.
      assert.equal(got.at(-1)!.bytes.length, MAX_DATAGRAM + 1);
      // The echoes (all but the oversized one, which cannot be sent) come back intact.
      await waitFor(() => other.received.length === sizes.length, { what: "every echo" });
      for (let i = 0; i < sizes.length; i++) {
        assert.deepEqual(other.received[i], datagram(i, sizes[i]), `echo ${i}`);
      }
      assert.equal(io.stats.sent, sizes.length);
      assert.equal(io.stats.sendErrors, 1);
      if (mode === "batched") {
        assert.ok(io.stats.sendCalls < sizes.length, `send calls ${io.stats.sendCalls}`);
      }
    } finally {
      await io.close();
      await io.close(); // idempotent
      await other.close();
    }
  });
}

Deno.test("datagram I/O (batched): a burst goes out in few system calls", async () => {
  const io = openDatagramIo(ADDRESS, "batched");
  const other = peer();
  io.start(() => {});
  try {
    for (let i = 0; i < 150; i++) io.send(datagram(i, 100), other.addr);
    await waitFor(() => other.received.length === 150, { what: "150 datagrams" });
    assert.deepEqual(other.received.map((b) => b[0]), Array.from({ length: 150 }, (_, i) => i));
    assert.ok(io.stats.sendCalls <= 3, `send calls ${io.stats.sendCalls}`); // 64 + 64 + 22
  } finally {
    await io.close();
    await other.close();
  }
});

Deno.test("datagram I/O (batched): quiet, it makes no system call, and a datagram wakes it", async () => {
  const { io, got, send, close } = batchedWithPeer({ batchMs: 2 });
  try {
    await send(1);
    await waitFor(() => got.length === 1, { what: "the first datagram" });
    // Nothing arrives: nothing is read (no timer polls the socket).
    const settled = await waitFor(async () => {
      const before = io.stats.receiveCalls;
      await new Promise((r) => setTimeout(r, 100));
      return io.stats.receiveCalls === before;
    }, { what: "no reads while quiet" });
    assert.ok(settled);
    const wakes = io.wakes;
    await send(2);
    await send(3);
    await waitFor(() => got.length === 3, { what: "datagrams after the quiet" });
    assert.deepEqual(got, [1, 2, 3]);
    assert.ok(io.wakes > wakes && io.wakes <= wakes + 2, `wakes ${io.wakes - wakes}`);
  } finally {
    await close();
  }
});

Deno.test("datagram I/O (batched): a lone datagram is handed over at once; the window after a wake grows with what the last take found, up to the batch window", async () => {
  const io = new BatchedDatagramIo(ADDRESS, { batchMs: 30 });
  const other = peer();
  const got: number[] = [];
  const send = (index: number) =>
    other.socket.send(datagram(index, 10), { ...LOOPBACK, port: io.addr.port });
  try {
    // 20 datagrams wait in the socket before it is read: the first take finds them all.
    for (let i = 0; i < 20; i++) await send(i);
    io.start((bytes) => got.push(bytes[0]));
    await waitFor(() => got.length === 20, { what: "the waiting datagrams" });
    assert.equal(io.nextWindowMs, 5, "20 found: 5 ms before the next take");
    // Lone datagrams: each take finds one, and the next is taken a quarter of a ms later.
    const waits: number[] = [];
    for (let i = 20; i < 25; i++) {
      const sentAt = performance.now();
      await send(i);
      await waitFor(() => got.length === i + 1, { what: `datagram ${i}`, intervalMs: 1 });
      waits.push(performance.now() - sentAt);
    }
    assert.equal(io.nextWindowMs, 0.25);
    waits.sort((a, b) => a - b);
    assert.ok(waits[2] < 25, `waits ${waits}: not held for the 30 ms window`);
    assert.deepEqual(got, Array.from({ length: 25 }, (_, i) => i));
  } finally {
    await io.close();
    await other.close();
  }
});

Deno.test("datagram I/O (batched): a destination that is not an IPv4 literal is a send error", async () => {
  const io = openDatagramIo(ADDRESS, "batched");
  const other = peer();
  io.start(() => {});
  try {
    io.send(datagram(9, 20), { transport: "udp", hostname: "localhost", port: other.addr.port });
    io.send(datagram(10, 20), other.addr);
    await waitFor(() => other.received.length === 1, { what: "the IPv4 one" });
    assert.deepEqual(other.received[0], datagram(10, 20));
    assert.equal(io.stats.sendErrors, 1);
    assert.equal(io.stats.sent, 1);
  } finally {
    await io.close();
    await other.close();
  }
});

Deno.test("datagram I/O (batched): drain() hands over what has arrived before the window ends", async () => {
  // The window after a wake is a minute long: only drain() can deliver.
  const { io, got, send, close } = batchedWithPeer({ batchMs: 60_000 });
  try {
    await send(5);
    await send(6);
    await waitFor(() => {
      io.drain();
      return got.length === 2;
    }, { what: "both datagrams through drain()" });
    assert.deepEqual(got, [5, 6]);
  } finally {
    await close();
  }
});

for (const waiting of [false, true]) {
  Deno.test(`datagram I/O (batched): close() frees the port (${waiting ? "waiting" : "in a batch window"})`, async () => {
    const { io, got, port, send, close } = batchedWithPeer({ batchMs: waiting ? 1 : 60_000 });
    await send(4);
    if (waiting) await waitFor(() => got.length === 1, { what: "a datagram" });
    else await waitFor(() => io.wakes === 1, { what: "a wake" });
    await close();
    const again = Deno.listenDatagram({ ...LOOPBACK, port });
    again.close();
  });
}

for (const mode of ["batched", "deno", "auto"] as const) {
  Deno.test(`datagram I/O (${mode}): a port in use is Deno's AddrInUse`, () => {
    const taken = Deno.listenDatagram(LOOPBACK);
    try {
      const port = (taken.addr as Deno.NetAddr).port;
      assert.throws(
        () => openDatagramIo({ hostname: "127.0.0.1", port }, mode),
        Deno.errors.AddrInUse,
      );
    } finally {
      taken.close();
    }
  });
}

Deno.test("datagram I/O: batched refuses an IPv6 address; auto falls back and says why", async () => {
  try {
    Deno.listenDatagram({ transport: "udp", hostname: "::1", port: 0 }).close();
  } catch {
    return; // no IPv6 loopback here: nothing to check
  }
  const v6 = { hostname: "::1", port: 0 };
  assert.throws(() => new BatchedDatagramIo(v6), /IPv4/);
  const io = openDatagramIo(v6, "auto");
  assert.equal(io.stats.kind, "deno");
  assert.match(io.stats.fallbackReason ?? "", /IPv4/);
  io.start(() => {});
  await io.close();
});

Deno.test("batched: a destination the kernel refuses, in the middle of a batch, costs only its own datagram", async () => {
  const io = new BatchedDatagramIo(ADDRESS, { batchMs: 5 });
  io.start(() => {});
  const [a, b, c] = [peer(), peer(), peer()];
  try {
    // One turn of the event loop: one sendmmsg batch. The kernel refuses 240.0.0.1 (reserved;
    // and from a socket bound to loopback, EINVAL): nothing leaves the machine.
    io.send(datagram(1, 10), a.addr);
    io.send(datagram(2, 10), { ...LOOPBACK, hostname: "240.0.0.1", port: 9 });
    io.send(datagram(3, 10), b.addr);
    io.send(datagram(4, 10), { ...LOOPBACK, hostname: "240.0.0.1", port: 9 });
    io.send(datagram(5, 10), c.addr);
    io.send(datagram(6, 10), a.addr);
    await waitFor(() => a.received.length === 2 && b.received.length === 1 && c.received.length, {
      what: "the good datagrams of the batch",
    });
    assert.deepEqual(a.received.map((d) => d[0]), [1, 6]);
    assert.deepEqual([b.received[0][0], c.received[0][0]], [3, 5]);
    assert.equal(io.stats.sent, 4);
    assert.equal(io.stats.sendErrors, 2);
  } finally {
    await io.close();
    for (const p of [a, b, c]) await p.close();
  }
});

Deno.test("datagram I/O (batched): a steady stream is read on the timer, not by a poll() per datagram", async () => {
  const io = new BatchedDatagramIo(ADDRESS, { batchMs: 4 });
  let got = 0;
  io.start(() => got++);
  try {
    // Another process sends 200 datagrams, one every half millisecond or so: each take finds
    // one or a few, so the next is a timer a millisecond on; a poll() (a thread hand-off)
    // only after a take that found none. (2 wakes here; 38 when every take waited in poll().)
    const sender = `
      const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
      const to = { transport: "udp", hostname: "127.0.0.1", port: ${io.addr.port} };
      for (let i = 0; i < 200; i++) {
        await socket.send(new Uint8Array(20), to);
        const next = performance.now() + 0.5;
        while (performance.now() < next) { /* steady */ }
      }
      socket.close();`;
    const { success } = await new Deno.Command(Deno.execPath(), { args: ["eval", sender] })
      .output();
    assert.ok(success, "the sender ran");
    await waitFor(() => got === 200, { what: "the stream" });
    assert.ok(io.wakes < 20, `${io.wakes} wakes for 200 datagrams (${io.busyTakes} timer takes)`);
  } finally {
    await io.close();
  }
});
