import assert from "node:assert/strict";
import { type DatagramSession, WebTransportTransport } from "./webtransport_transport.ts";

/** A session whose datagram writer records what it is given, with Chromium's datagram size. */
function fakeSession(maxDatagramSize = 1211): DatagramSession & { written: Uint8Array[] } {
  const written: Uint8Array[] = [];
  return {
    written,
    datagrams: {
      maxDatagramSize,
      writable: new WritableStream<Uint8Array>({ write: (chunk) => void written.push(chunk) }),
    },
    close() {},
  };
}

const address = { ip: "127.0.0.1", port: 50_000 };

Deno.test("WebTransport transport: a packet too large for a datagram goes the other way (a plain-RTP camera's 1,400-byte video), not dropped", async () => {
  const session = fakeSession();
  const other: Uint8Array[] = [];
  const transport = new WebTransportTransport(session, address, {
    oversized: (packet) => other.push(packet),
  });
  const small = new Uint8Array(1200).fill(1);
  const large = new Uint8Array(1472).fill(2);
  transport.send(small);
  transport.send(large);
  await Promise.resolve();
  assert.deepEqual(session.written.map((p) => p.length), [1200]);
  assert.deepEqual(other.map((p) => p.length), [1472]);
  assert.equal(transport.stats.oversized, 1);
  assert.equal(transport.stats.dropped, 0);
  transport.close();
});

Deno.test("WebTransport transport: without another way, a packet too large for a datagram is dropped and counted", async () => {
  const session = fakeSession();
  const transport = new WebTransportTransport(session, address);
  transport.send(new Uint8Array(1472));
  await Promise.resolve();
  assert.equal(session.written.length, 0);
  assert.equal(transport.stats.dropped, 1);
  transport.close();
  transport.send(new Uint8Array(100)); // closed: nothing
  assert.equal(session.written.length, 0);
});
