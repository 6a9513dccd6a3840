import assert from "node:assert/strict";
import type { WebTransportInfo } from "../../protocol/media.ts";
import { ManualClock } from "../../util/clock.ts";
import { Emitter } from "../../util/emitter.ts";
import type { MediaCarrier } from "./packet_mux.ts";
import { type DatagramLink, RELAY_CHANNEL_TIMING, RelayChannel } from "./relay_channel.ts";

class FakeWebSocket extends Emitter<{ media: [Uint8Array] }> implements MediaCarrier {
  sent: Uint8Array[] = [];
  bufferedAmount = 0;
  sendBinary(bytes: Uint8Array): boolean {
    this.sent.push(bytes);
    return true;
  }
}

class FakeLink extends Emitter<{ media: [Uint8Array]; bound: []; closed: [string] }>
  implements DatagramLink {
  sent: Uint8Array[] = [];
  bufferedAmount = 0;
  lastPongAt: number;
  closed = false;
  constructor(readonly clock: ManualClock, readonly info: WebTransportInfo) {
    super();
    this.lastPongAt = clock.now();
  }
  sendBinary(bytes: Uint8Array): boolean {
    if (this.closed) return false;
    this.sent.push(bytes);
    return true;
  }
  close(): void {
    this.closed = true;
  }
  /** A pong or a media datagram arrives. */
  receive(): void {
    this.lastPongAt = this.clock.now();
  }
}

function setup(info: WebTransportInfo | null = { port: 8000, certificateHash: "h1" }) {
  const clock = new ManualClock(1_000);
  const ws = new FakeWebSocket();
  const links: FakeLink[] = [];
  const carriers: string[] = [];
  let announced = 0;
  let nextInfo: WebTransportInfo | undefined = { port: 8000, certificateHash: "h2" };
  const relay = new RelayChannel({
    websocket: ws,
    connect: (i) => {
      const link = new FakeLink(clock, i);
      links.push(link);
      return link;
    },
    announceWebSocket: () => {
      announced++;
      return Promise.resolve(nextInfo);
    },
    clock,
  });
  relay.on("carrier", (k) => carriers.push(k));
  relay.start(info ?? undefined);
  return {
    clock,
    ws,
    links,
    carriers,
    relay,
    announced: () => announced,
    setNextInfo: (i: WebTransportInfo | undefined) => nextInfo = i,
  };
}

const packet = (n: number) => new Uint8Array([n]);
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("RelayChannel: media stays on the WebSocket until the session is bound, then moves", () => {
  const { ws, links, relay, carriers } = setup();
  assert.equal(links.length, 1);
  assert.equal(relay.kind, "websocket");
  assert.ok(relay.connecting);
  relay.sendBinary(packet(1));
  assert.equal(ws.sent.length, 1);
  links[0].emit("bound");
  assert.equal(relay.kind, "webtransport");
  relay.sendBinary(packet(2));
  assert.equal(links[0].sent.length, 1);
  assert.equal(ws.sent.length, 1);
  assert.deepEqual(carriers, ["webtransport"]);
  // Packets from both carriers are taken.
  const got: number[] = [];
  relay.on("media", (b) => got.push(b[0]));
  ws.emit("media", packet(7));
  links[0].emit("media", packet(8));
  assert.deepEqual(got, [7, 8]);
});

Deno.test("RelayChannel: a session not bound in time is given up, the server told, retried later", async () => {
  const { clock, links, relay, announced } = setup();
  clock.advance(RELAY_CHANNEL_TIMING.connectMs);
  assert.ok(links[0].closed);
  assert.equal(relay.kind, "websocket");
  assert.equal(relay.connecting, false);
  assert.equal(announced(), 1);
  await tick(); // the answer names the endpoint anew (a renewed certificate)
  clock.advance(RELAY_CHANNEL_TIMING.retryFirstMs - 1);
  assert.equal(links.length, 1);
  clock.advance(1);
  assert.equal(links.length, 2);
  assert.equal(links[1].info.certificateHash, "h2");
  assert.equal(relay.lastFallback, "not bound in time");
});

Deno.test("RelayChannel: tries after failures back off to retryMaxMs; a stable session starts the count over", () => {
  const { clock, links, relay } = setup();
  const T = RELAY_CHANNEL_TIMING;
  // UDP blocked: every session fails to bind; the waits between tries double up to the cap.
  const waits: number[] = [];
  for (let i = 0; i < 6; i++) {
    clock.advance(T.connectMs);
    assert.ok(links.at(-1)!.closed);
    const before = links.length;
    let waited = 0;
    while (links.length === before) {
      clock.advance(100);
      waited += 100;
      assert.ok(waited <= T.retryMaxMs, "a try within retryMaxMs");
    }
    waits.push(waited);
  }
  assert.deepEqual(waits, [2_000, 4_000, 8_000, 15_000, 15_000, 15_000]);
  // UDP back: the session binds and stays up past stableMs; then a moment's silence.
  links.at(-1)!.emit("bound");
  for (let t = 0; t < T.stableMs; t += 250) {
    clock.advance(250);
    links.at(-1)!.receive();
  }
  assert.equal(relay.kind, "webtransport");
  clock.advance(T.silenceMs + T.checkMs);
  assert.equal(relay.kind, "websocket");
  assert.match(relay.lastFallback!, /^no pong for \d+ ms$/);
  const before = links.length;
  clock.advance(T.retryFirstMs);
  assert.equal(links.length, before + 1, "retried after retryFirstMs");
  // It binds but goes silent again at once: that one did not count as stable.
  links.at(-1)!.emit("bound");
  clock.advance(T.silenceMs + T.checkMs);
  clock.advance(T.retryFirstMs);
  assert.equal(links.length, before + 1, "no try after retryFirstMs");
  clock.advance(T.retryFirstMs);
  assert.equal(links.length, before + 2, "a try after twice retryFirstMs");
});

Deno.test("RelayChannel: a bound session that goes silent falls back within the silence window", () => {
  const { clock, ws, links, relay, carriers, announced } = setup();
  links[0].emit("bound");
  // Pongs keep it alive.
  for (let t = 0; t < 3_000; t += 250) {
    clock.advance(250);
    links[0].receive();
  }
  assert.equal(relay.kind, "webtransport");
  // UDP blocked: nothing more arrives.
  clock.advance(RELAY_CHANNEL_TIMING.silenceMs + RELAY_CHANNEL_TIMING.checkMs);
  assert.equal(relay.kind, "websocket");
  assert.ok(links[0].closed);
  assert.deepEqual(carriers, ["webtransport", "websocket"]);
  assert.equal(announced(), 1);
  relay.sendBinary(packet(3));
  assert.equal(ws.sent.at(-1)![0], 3);
  assert.equal(relay.fallbacks, 1);
});

Deno.test("RelayChannel: a session that closes falls back at once; a new one moves back up", () => {
  const { clock, links, relay, carriers } = setup();
  links[0].emit("bound");
  links[0].emit("closed", "network");
  assert.equal(relay.kind, "websocket");
  assert.equal(relay.lastFallback, "session network");
  clock.advance(RELAY_CHANNEL_TIMING.retryFirstMs);
  assert.equal(links.length, 2);
  links[1].emit("bound");
  assert.equal(relay.kind, "webtransport");
  assert.deepEqual(carriers, ["webtransport", "websocket", "webtransport"]);
  // A late event of the old session changes nothing.
  links[0].emit("closed", "late");
  assert.equal(relay.kind, "webtransport");
});

Deno.test("RelayChannel: without an endpoint, media stays on the WebSocket and nothing is tried", () => {
  const { clock, links, relay } = setup(null);
  clock.advance(60_000);
  assert.equal(links.length, 0);
  assert.equal(relay.kind, "websocket");
});

Deno.test("RelayChannel: a re-join starts over; close() closes the session and stops retrying", () => {
  const { clock, links, relay, carriers } = setup();
  links[0].emit("bound");
  relay.start({ port: 9000 });
  assert.ok(links[0].closed);
  assert.equal(links.length, 2);
  assert.deepEqual(carriers, ["webtransport", "websocket"]);
  relay.close();
  assert.ok(links[1].closed);
  clock.advance(60_000);
  assert.equal(links.length, 2);
});
