import assert from "node:assert/strict";
import {
  type DatagramConnection,
  SESSION_DATAGRAM_HEADER,
  WebTransportTransport,
} from "./webtransport_transport.ts";

/**
 * A QUIC connection that records the datagrams it is given (header stripped), with
 * Chromium's datagram size (1,211 bytes of payload, after the one-byte session header).
 */
function fakeSession(
  maxDatagramSize = 1212,
): DatagramConnection & { written: Uint8Array[]; fail(): void; closedWith?: string } {
  const written: Uint8Array[] = [];
  let failing = false;
  const connection = {
    written,
    closedWith: undefined as string | undefined,
    maxDatagramSize,
    sendDatagram(datagram: Uint8Array): Promise<void> {
      if (failing) return Promise.reject(new Error("connection closed"));
      assert.deepEqual(datagram.subarray(0, 1), SESSION_DATAGRAM_HEADER);
      written.push(datagram.subarray(1));
      return Promise.resolve();
    },
    close(info?: { reason?: string }) {
      connection.closedWith = info?.reason ?? "";
    },
    fail() {
      failing = true;
    },
  };
  return connection;
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

Deno.test("WebTransport transport: each packet is one datagram behind the session's header, whole; a packet of exactly the datagram size still fits", async () => {
  const session = fakeSession();
  const transport = new WebTransportTransport(session, address);
  assert.equal(transport.maxPacketSize, 1211);
  const packet = new Uint8Array(1211).map((_, i) => i & 0xff);
  transport.send(packet);
  transport.send(packet.subarray(0, 12));
  assert.equal(transport.queuedBytes(), 1223);
  await Promise.resolve();
  await Promise.resolve();
  assert.deepEqual(session.written, [packet, packet.subarray(0, 12)]);
  assert.equal(transport.queuedBytes(), 0);
  assert.equal(transport.stats.datagramsSent, 2);
  assert.equal(transport.stats.bytesSent, 1223);
  transport.close();
  assert.equal(session.closedWith, "closed");
});

Deno.test("WebTransport transport: a connection that fails a send closes the transport, and its listeners hear it", async () => {
  const session = fakeSession();
  const transport = new WebTransportTransport(session, address);
  let closes = 0;
  transport.onClose(() => closes++);
  session.fail();
  transport.send(new Uint8Array(100));
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(transport.closed, true);
  assert.equal(closes, 1);
  assert.equal(transport.queuedBytes(), 0);
});
