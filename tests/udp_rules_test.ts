/**
 * The UDP relay's pure rules: consent and liveness of a binding (injected clock), which
 * addresses a plain-RTP seat may name, the rate limit of unproved answers, and bind parsing.
 */

import assert from "node:assert/strict";
import { ManualClock } from "../util/clock.ts";
import { Consent, CONSENT_MS, SEAT_IDLE_MS } from "../server/media_consent.ts";
import { refuseRtpAddress } from "../server/udp_destination.ts";
import { ReplyLimiter } from "../server/reply_limiter.ts";
import { parseUdpBind, udpBindRequest } from "../protocol/media.ts";

Deno.test("consent: nothing before the first proof; fresh for CONSENT_MS after each; expires after SEAT_IDLE_MS without one", () => {
  const clock = new ManualClock(1_000);
  const consent = new Consent(clock);
  assert.equal(consent.fresh, false);
  assert.equal(consent.latched, false);
  clock.advance(SEAT_IDLE_MS);
  assert.equal(consent.expired, false);
  clock.advance(1);
  assert.equal(consent.expired, true, "a binding never proved expires too");
  consent.refresh();
  assert.deepEqual([consent.fresh, consent.latched, consent.expired], [true, true, false]);
  clock.advance(CONSENT_MS);
  assert.equal(consent.fresh, true);
  clock.advance(1);
  assert.equal(consent.fresh, false, "media stops when the proofs stop");
  consent.refresh();
  assert.equal(consent.fresh, true, "and resumes when they come again");
  clock.advance(SEAT_IDLE_MS + 1);
  assert.equal(consent.expired, true);
});

Deno.test("consent: windows can be set", () => {
  const clock = new ManualClock(0);
  const consent = new Consent(clock, { consentMs: 100, idleMs: 300 });
  consent.refresh();
  clock.advance(101);
  assert.equal(consent.fresh, false);
  clock.advance(200);
  assert.equal(consent.expired, true);
});

Deno.test("plain-RTP addresses: unspecified, broadcast, multicast, reserved, port 0 and the server's own socket are refused", () => {
  const machine = {
    serverPort: 5004,
    local: [
      { address: "127.0.0.1", netmask: "255.0.0.0" },
      { address: "192.0.2.2", netmask: "255.255.255.0" },
      { address: "198.51.100.9", netmask: "255.255.255.255" },
    ],
  };
  const refused: [string, number, RegExp][] = [
    ["0.0.0.0", 40000, /unspecified/],
    ["0.1.2.3", 40000, /unspecified/],
    ["255.255.255.255", 40000, /broadcast/],
    ["192.0.2.255", 40000, /broadcast/],
    ["127.255.255.255", 40000, /broadcast/],
    ["224.0.0.1", 40000, /multicast/],
    ["239.255.255.250", 1900, /multicast/],
    ["240.0.0.1", 40000, /reserved/],
    ["127.0.0.1", 5004, /own UDP socket/],
    ["127.0.0.2", 5004, /own UDP socket/],
    ["192.0.2.2", 5004, /own UDP socket/],
    ["10.0.0.1", 0, /port/],
    ["10.0.0.1", 65536, /port/],
    ["10.0.0.1", 1.5, /port/],
    ["1.2.3", 40000, /IPv4/],
    ["::1", 40000, /IPv4/],
  ];
  for (const [ip, port, reason] of refused) {
    assert.match(refuseRtpAddress(ip, port, machine) ?? "allowed", reason, `${ip}:${port}`);
  }
  for (const [ip, port] of [["127.0.0.1", 40000], ["192.0.2.7", 5004], ["198.51.100.9", 9]]) {
    assert.equal(refuseRtpAddress(ip as string, port as number, machine), null, `${ip}:${port}`);
  }
});

Deno.test("unproved answers: limited per source IP and in total; the oldest source is forgotten past the cap", () => {
  const limiter = new ReplyLimiter({
    total: { ratePerSecond: 10, burst: 20 },
    perIp: { ratePerSecond: 1, burst: 5 },
    maxSources: 3,
  });
  let allowed = 0;
  for (let i = 0; i < 100; i++) if (limiter.allow("203.0.113.1", 0)) allowed++;
  assert.equal(allowed, 5);
  assert.equal(limiter.allow("203.0.113.1", 1_000), true, "refills at its rate");
  for (let ip = 2; ip < 10; ip++) {
    for (let i = 0; i < 5; i++) limiter.allow(`203.0.113.${ip}`, 1_000);
  }
  assert.equal(limiter.trackedSources, 3);
  assert.equal(limiter.allow("203.0.113.50", 1_000), false, "the total is spent");
  assert.ok(limiter.refused >= 95);
});

Deno.test("bind datagrams: read back what was written; anything else is no bind", () => {
  const read = (bytes: Uint8Array) => parseUdpBind(new TextDecoder().decode(bytes));
  assert.deepEqual(read(udpBindRequest("k", "m")), { mediaKey: "k", meetingId: "m" });
  assert.deepEqual(read(udpBindRequest("k", "m", "n")), {
    mediaKey: "k",
    meetingId: "m",
    nonce: "n",
  });
  for (
    const text of ["MEET-BIND ", "MEET-BIND k", "MEET-BIND k  m", "MEET-BIND a b c d", "BIND k m"]
  ) {
    assert.equal(parseUdpBind(text), null, text);
  }
  assert.equal(parseUdpBind(`MEET-BIND ${"k".repeat(65)} m`), null);
});
