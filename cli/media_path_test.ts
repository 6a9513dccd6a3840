import assert from "node:assert/strict";
import { MediaPath, refusePeerAddress } from "./media_path.ts";

Deno.test("refusePeerAddress: unspecified, broadcast, multicast, reserved and bad ports", () => {
  for (const [ip, port] of [["127.0.0.1", 40000], ["192.0.2.7", 1], ["10.1.2.3", 65535]] as const) {
    assert.equal(refusePeerAddress(ip, port), null, ip);
  }
  assert.equal(refusePeerAddress("::1", 5000), null);
  assert.equal(refusePeerAddress("2001:db8::1", 5000), null);
  for (
    const [ip, port] of [
      ["0.0.0.0", 5000],
      ["0.1.2.3", 5000],
      ["255.255.255.255", 5000],
      ["224.0.0.1", 5000],
      ["239.255.255.250", 1900],
      ["240.0.0.1", 5000],
      ["256.1.1.1", 5000],
      ["127.0.0.1", 0],
      ["127.0.0.1", 70000],
      ["::", 5000],
      ["ff02::1", 5000],
      ["::ffff:255.255.255.255", 5000],
      ["example.com", 5000],
    ] as const
  ) assert.notEqual(refusePeerAddress(ip, port), null, `${ip}:${port}`);
});

Deno.test("MediaPath: a broadcast or multicast peer is never probed; P2P is reported failed", () => {
  const sentToPeer: Uint8Array[] = [];
  const peers: unknown[] = [];
  let failures = 0;
  const path = new MediaPath({
    link: {
      send: () => {},
      sendToPeer: (b) => (sentToPeer.push(b), true),
      setPeer: (p) => void peers.push(p),
    },
    onSwitch: () => {},
    reportFailure: () => failures++,
  });
  path.setMode("p2p");
  for (const ip of ["255.255.255.255", "224.0.0.251", "0.0.0.0"]) {
    path.setPeer({ participantId: "p2", ip, port: 5353 });
  }
  assert.equal(sentToPeer.length, 0);
  assert.deepEqual(peers, []);
  assert.equal(path.peer, null);
  assert.equal(path.stats.refused, 3);
  assert.equal(failures, 3);
  path.setPeer({ participantId: "p2", ip: "127.0.0.1", port: 40000 }); // a real one is probed
  assert.equal(sentToPeer.length, 1);
  path.close();
});
