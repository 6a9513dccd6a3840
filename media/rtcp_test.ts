import assert from "node:assert/strict";
import {
  compactNtp,
  ntpFromMs,
  parseRtcp,
  ReceptionStats,
  type ReportBlock,
  roundTripMs,
  type RtcpPacket,
  writeBye,
  writeNack,
  writePli,
  writeReceiverReport,
  writeRemb,
  writeRtcpCompound,
  writeSenderReport,
} from "./rtcp.ts";
import { isRtcp } from "./rtp.ts";
import { randomBytes, seededRandom } from "./_testing.ts";

function packetsOf(bytes: Uint8Array): RtcpPacket[] {
  const result = parseRtcp(bytes);
  if (!result.ok) throw new Error(`expected RTCP, got ${result.reason}`);
  return result.packets;
}

function reasonOf(bytes: Uint8Array): string {
  const result = parseRtcp(bytes);
  assert.equal(result.ok, false, "expected a parse error");
  return result.ok ? "" : result.reason;
}

const block: ReportBlock = {
  ssrc: 0x11223344,
  fractionLost: 64,
  cumulativeLost: -5,
  highestSeq: 0x0001_0005,
  jitter: 123,
  lsr: 0xabcd1234,
  dlsr: 65536,
};

const senderReport: RtcpPacket = {
  type: "sr",
  ssrc: 0xdeadbeef,
  ntpSeconds: 0xe0000001,
  ntpFraction: 0x80000000,
  rtpTimestamp: 0xfffffff0,
  packetCount: 1000,
  octetCount: 123456,
  reports: [block, { ...block, ssrc: 2, cumulativeLost: 0x7fffff, fractionLost: 255 }],
};

const compound: RtcpPacket[] = [
  senderReport,
  { type: "rr", ssrc: 7, reports: [{ ...block, cumulativeLost: -0x800000 }] },
  { type: "pli", senderSsrc: 7, mediaSsrc: 0xdeadbeef },
  { type: "nack", senderSsrc: 7, mediaSsrc: 0xdeadbeef, lost: [65535, 0, 3, 15, 40] },
  { type: "bye", ssrcs: [0xdeadbeef, 9], reason: "left: ünïcode" },
];

Deno.test("rtcp: every writer round trips through the parser", () => {
  for (const packet of compound) {
    assert.deepEqual(packetsOf(writeRtcpCompound([packet])), [packet], packet.type);
  }
});

Deno.test("rtcp: compound packet round trip and RFC 5761 demultiplexing", () => {
  const bytes = writeRtcpCompound(compound);
  assert.equal(bytes.length % 4, 0);
  assert.equal(isRtcp(bytes), true);
  assert.deepEqual(packetsOf(bytes), compound);
});

Deno.test("rtcp: exact bytes of a PLI and a receiver report", () => {
  assert.deepEqual(
    [...writePli({ senderSsrc: 1, mediaSsrc: 0x0a0b0c0d })],
    [0x81, 206, 0, 2, 0, 0, 0, 1, 0x0a, 0x0b, 0x0c, 0x0d],
  );
  const rr = writeReceiverReport({ ssrc: 5, reports: [block] });
  assert.equal(rr.length, 32);
  assert.deepEqual([...rr.subarray(0, 8)], [0x81, 201, 0, 7, 0, 0, 0, 5]);
  // fraction lost 64, cumulative lost -5 as 24-bit two's complement
  assert.deepEqual([...rr.subarray(12, 16)], [64, 0xff, 0xff, 0xfb]);
});

Deno.test("rtcp: sender report layout", () => {
  const bytes = writeSenderReport({
    ssrc: 1,
    ntpSeconds: 2,
    ntpFraction: 3,
    rtpTimestamp: 4,
    packetCount: 5,
    octetCount: 6,
    reports: [],
  });
  assert.deepEqual(
    [...bytes],
    [0x80, 200, 0, 6, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 6],
  );
});

Deno.test("rtcp: NACK packs into PID/BLP pairs and expands back", () => {
  const bytes = writeNack({ senderSsrc: 1, mediaSsrc: 2, lost: [65535, 0, 3, 15, 40, 40] });
  // 65535 + {0, 3, 15} fit one pair (distances 1, 4, 16); 40 needs a second pair.
  assert.equal(bytes.length, 12 + 2 * 4);
  assert.deepEqual([...bytes.subarray(12, 16)], [0xff, 0xff, 0x80, 0x09]);
  const [nack] = packetsOf(bytes);
  assert.equal(nack.type, "nack");
  assert.deepEqual(nack.type === "nack" && nack.lost, [65535, 0, 3, 15, 40]);
});

Deno.test("rtcp: BYE without reason, and reasons padded to 32 bits", () => {
  assert.deepEqual(packetsOf(writeBye({ ssrcs: [1] })), [{ type: "bye", ssrcs: [1] }]);
  for (const reason of ["", "a", "abc", "abcd"]) {
    const bytes = writeBye({ ssrcs: [1], reason });
    assert.equal(bytes.length % 4, 0);
    assert.deepEqual(packetsOf(bytes), [{ type: "bye", ssrcs: [1], reason }]);
  }
});

Deno.test("rtcp: writers reject counts that do not fit 5 bits", () => {
  const reports = new Array(32).fill(block);
  assert.throws(() => writeReceiverReport({ ssrc: 1, reports }), RangeError);
  assert.throws(() => writeBye({ ssrcs: new Array(32).fill(1) }), RangeError);
});

Deno.test("rtcp: unknown types and feedback formats are skipped", () => {
  const sdes = new Uint8Array([0x81, 202, 0, 2, 0, 0, 0, 1, 1, 1, 0x41, 0]);
  const app = new Uint8Array([0x80, 204, 0, 2, 0, 0, 0, 1, 0x41, 0x42, 0x43, 0x44]);
  const remb = new Uint8Array([0x8f, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0]); // PSFB FMT 15, no "REMB"
  const twcc = new Uint8Array([0x8f, 205, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0]); // RTPFB FMT 15
  const xr = new Uint8Array([0x80, 207, 0, 1, 0, 0, 0, 1]);
  const pli = writePli({ senderSsrc: 3, mediaSsrc: 4 });
  const bytes = new Uint8Array([...sdes, ...app, ...remb, ...pli, ...twcc, ...xr]);
  assert.deepEqual(packetsOf(bytes), [{ type: "pli", senderSsrc: 3, mediaSsrc: 4 }]);
});

Deno.test("rtcp: padding is honoured and checked", () => {
  // A PLI with 4 bytes of padding: length 3 words, P bit.
  const padded = new Uint8Array([0xa1, 206, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 4]);
  assert.deepEqual(packetsOf(padded), [{ type: "pli", senderSsrc: 1, mediaSsrc: 2 }]);
  const zero = padded.slice();
  zero[15] = 0;
  assert.equal(reasonOf(zero), "padding");
  const huge = padded.slice();
  huge[15] = 13;
  assert.equal(reasonOf(huge), "padding");
  const eaten = padded.slice();
  eaten[15] = 8; // leaves a 4-byte body, too short for a PLI
  assert.equal(reasonOf(eaten), "short");
});

Deno.test("rtcp: malformed packets give reasons", () => {
  assert.equal(reasonOf(new Uint8Array(0)), "short");
  assert.equal(reasonOf(new Uint8Array([0x80, 201, 0])), "short");
  const rr = writeReceiverReport({ ssrc: 5, reports: [block] });
  const badVersion = rr.slice();
  badVersion[0] = 0x41;
  assert.equal(reasonOf(badVersion), "version");
  const longLength = rr.slice();
  longLength[3] = 8;
  assert.equal(reasonOf(longLength), "length");
  const tooManyBlocks = rr.slice();
  tooManyBlocks[0] = 0x82; // says 2 blocks, holds 1
  assert.equal(reasonOf(tooManyBlocks), "count");
  const byeCount = writeBye({ ssrcs: [1] });
  byeCount[0] = 0x83;
  assert.equal(reasonOf(byeCount), "count");
  const byeReason = writeBye({ ssrcs: [1], reason: "ab" });
  byeReason[8] = 10; // reason length past the end
  assert.equal(reasonOf(byeReason), "short");
  // A valid packet followed by garbage fails the compound.
  assert.equal(reasonOf(new Uint8Array([...rr, 0x80])), "short");
});

Deno.test("rtcp: every truncation of a compound packet is an error, never a throw", () => {
  const bytes = writeRtcpCompound(compound);
  const boundaries = new Set<number>();
  let at = 0;
  for (const packet of compound) {
    at += writeRtcpCompound([packet]).length;
    boundaries.add(at);
  }
  for (let length = 0; length < bytes.length; length++) {
    const result = parseRtcp(bytes.subarray(0, length));
    // Cutting exactly between packets leaves a valid, shorter compound.
    assert.equal(result.ok, boundaries.has(length), `length ${length}`);
  }
});

Deno.test("rtcp: seeded fuzz never throws", () => {
  const random = seededRandom(4585);
  const valid = writeRtcpCompound(compound);
  let ok = 0;
  for (let i = 0; i < 20_000; i++) {
    let bytes: Uint8Array;
    if (i % 2 === 0) {
      bytes = randomBytes(random, 4 * Math.floor(random() * 16));
      if (bytes.length > 3) {
        bytes[0] = (bytes[0] & 0x3f) | 0x80;
        bytes[1] = 200 + Math.floor(random() * 8);
        bytes[2] = 0;
        bytes[3] = bytes.length / 4 - 1; // a plausible length so the bodies get parsed
      }
    } else {
      bytes = valid.slice(0, Math.floor(random() * (valid.length + 1)));
      for (let f = 0; f < 3 && bytes.length > 0; f++) {
        bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
      }
    }
    if (parseRtcp(bytes).ok) ok++;
  }
  assert.ok(ok > 500, `only ${ok} fuzz inputs parsed`);
});

Deno.test("rtcp: NTP conversion, compact NTP and round trip time", () => {
  const { seconds, fraction } = ntpFromMs(1_700_000_000_500);
  assert.equal(seconds, 1_700_000_000 + 2_208_988_800); // 3,908,988,800 still fits 32 bits
  assert.equal(fraction, 0x80000000);
  assert.equal(compactNtp(0x12345678, 0x9abcdef0), 0x56789abc);

  const sentMs = 1_700_000_000_000;
  const sr = ntpFromMs(sentMs);
  const lsr = compactNtp(sr.seconds, sr.fraction);
  // The peer held the SR for 250 ms; the network took 40 ms in total.
  const rttBlock = { ...block, lsr, dlsr: 250 * 65.536 };
  const rtt = roundTripMs(rttBlock, sentMs + 250 + 40)!;
  assert.ok(Math.abs(rtt - 40) < 0.1, `rtt ${rtt}`);
  assert.equal(roundTripMs({ ...block, lsr: 0 }, sentMs), null);
});

Deno.test("reception stats: loss, fraction lost per interval, wrap and extended seq", () => {
  const stats = new ReceptionStats(0x55, 48000);
  assert.equal(stats.reportBlock(0), null);
  // 65530..65535, 0..9 with 3 and 4 missing: 16 expected, 14 received.
  let t = 0;
  for (let i = 0; i < 16; i++) {
    const seq = (65530 + i) & 0xffff;
    if (seq === 3 || seq === 4) continue;
    stats.receive(seq, i * 960, t);
    t += 20;
  }
  assert.equal(stats.expected, 16);
  assert.equal(stats.received, 14);
  assert.equal(stats.extendedHighestSeq, 0x10000 + 9);
  const first = stats.reportBlock(t)!;
  assert.equal(first.ssrc, 0x55);
  assert.equal(first.cumulativeLost, 2);
  assert.equal(first.fractionLost, Math.floor(2 * 256 / 16)); // 32
  assert.equal(first.highestSeq, 0x10009);

  // Next interval: 10..19 all received -> fraction 0, cumulative still 2.
  for (let seq = 10; seq < 20; seq++) stats.receive(seq, (seq + 6) * 960, (seq + 6) * 20);
  const second = stats.reportBlock(t)!;
  assert.equal(second.fractionLost, 0);
  assert.equal(second.cumulativeLost, 2);

  // Duplicates count as received and can make the loss negative (RFC 3550 A.3).
  for (let i = 0; i < 5; i++) stats.receive(19, 25 * 960, 500);
  assert.equal(stats.reportBlock(t)!.cumulativeLost, -3);
});

Deno.test("reception stats: reordering within the window is not a loss", () => {
  const stats = new ReceptionStats(1, 90000);
  for (const seq of [100, 102, 101, 104, 103, 105]) stats.receive(seq, seq * 3000, seq * 33);
  assert.equal(stats.expected, 6);
  assert.equal(stats.cumulativeLost, 0);
  assert.equal(stats.reportBlock(0)!.fractionLost, 0);
});

Deno.test("reception stats: a big jump is ignored once, then restarts the source", () => {
  const stats = new ReceptionStats(1, 48000);
  for (let seq = 0; seq < 10; seq++) stats.receive(seq, seq * 960, seq * 20);
  assert.equal(stats.receive(30000, 0, 300), false);
  assert.equal(stats.expected, 10);
  assert.equal(stats.receive(30001, 960, 320), true);
  assert.equal(stats.expected, 1);
  assert.equal(stats.received, 1);
  assert.equal(stats.extendedHighestSeq, 30001);
});

Deno.test("reception stats: jitter is zero for a steady stream and grows with jitter", () => {
  const steady = new ReceptionStats(1, 48000);
  for (let i = 0; i < 100; i++) steady.receive(i, i * 960, 1000 + i * 20);
  assert.equal(steady.jitter, 0);
  assert.equal(steady.reportBlock(0)!.jitter, 0);

  // Arrivals alternate 5 ms early / 5 ms late: |D| = 10 ms = 480 units every packet, so the
  // estimate converges to 480 (RFC 3550 A.8: J += (|D| - J) / 16).
  const jittery = new ReceptionStats(1, 48000);
  for (let i = 0; i < 400; i++) {
    jittery.receive(i, i * 960, 1000 + i * 20 + (i % 2 === 0 ? -5 : 5));
  }
  assert.ok(Math.abs(jittery.jitter - 480) < 1, `jitter ${jittery.jitter}`);
  assert.ok(Math.abs(jittery.jitterMs - 10) < 0.05);

  // One deviation moves the estimate by 1/16 of it (RFC 3550 A.8).
  const single = new ReceptionStats(1, 48000);
  single.receive(0, 0, 0);
  single.receive(1, 960, 30); // 10 ms late: |D| = 480 units
  assert.equal(single.jitter, 30);

  // The 32-bit timestamp wrap does not disturb the estimate.
  const wrapping = new ReceptionStats(1, 48000);
  for (let i = 0; i < 50; i++) wrapping.receive(i, (0xffffffff - 10 * 960 + i * 960) >>> 0, i * 20);
  assert.equal(wrapping.jitter, 0);
});

Deno.test("reception stats: LSR and DLSR from the last sender report", () => {
  const stats = new ReceptionStats(9, 90000);
  stats.receive(1, 0, 0);
  assert.equal(stats.reportBlock(0)!.lsr, 0);
  stats.senderReport(0x00011234, 0x56780000, 1000);
  const report = stats.reportBlock(1500)!;
  assert.equal(report.lsr, 0x12345678);
  assert.equal(report.dlsr, 32768); // 0.5 s in 1/65536 s
  assert.deepEqual(
    packetsOf(writeReceiverReport({ ssrc: 1, reports: [report] })),
    [{ type: "rr", ssrc: 1, reports: [report] }],
  );
});

Deno.test("REMB: round trip, bitrate in 18 significant bits, SSRC list; other FMT 15 messages skipped", () => {
  for (const bitrate of [0, 1, 262_143, 400_000, 1_234_567, 2_500_000_000]) {
    const bytes = writeRemb({ senderSsrc: 9, bitrate, ssrcs: [1, 0xffffffff] });
    const parsed = parseRtcp(bytes);
    assert.ok(parsed.ok);
    const remb = parsed.packets[0];
    assert.equal(remb.type, "remb");
    if (remb.type !== "remb") return;
    assert.deepEqual(remb.ssrcs, [1, 0xffffffff]);
    assert.equal(remb.senderSsrc, 9);
    assert.ok(remb.bitrate <= bitrate && remb.bitrate >= bitrate * (1 - 2 ** -17), `${bitrate}`);
  }
  assert.equal(writeRemb({ senderSsrc: 1, bitrate: -5, ssrcs: [] }).length, 20);
  assert.throws(() => writeRemb({ senderSsrc: 1, bitrate: 1, ssrcs: new Array(256).fill(1) }));
  // A REMB claiming more SSRCs than it holds is refused; an application message of another
  // kind is skipped; a PLI next to a REMB is still a PLI.
  const bytes = writeRemb({ senderSsrc: 1, bitrate: 1000, ssrcs: [5] });
  const lying = bytes.slice();
  lying[16] = 3;
  assert.deepEqual(parseRtcp(lying), { ok: false, reason: "count" });
  const other = bytes.slice();
  other[12] = 0x41; // "AEMB"
  assert.deepEqual(parseRtcp(other), { ok: true, packets: [] });
  const compound = writeRtcpCompound([
    { type: "remb", senderSsrc: 1, bitrate: 1000, ssrcs: [5] },
    { type: "pli", senderSsrc: 1, mediaSsrc: 5 },
  ]);
  const both = parseRtcp(compound);
  assert.ok(both.ok);
  assert.deepEqual(both.packets.map((p) => p.type), ["remb", "pli"]);
});
