import assert from "node:assert/strict";
import { parseRtp, type RtpPacket } from "../../media/rtp.ts";
import { parseVp8Descriptor } from "../../media/vp8.ts";
import { readCaptureTime, readSendTime } from "../../protocol/media.ts";
import { KeyframeSchedule, MIN_KEYFRAME_GAP_MS } from "./keyframe_schedule.ts";
import { RtpStream } from "./rtp_stream.ts";
import {
  MAX_SMALL_VIDEO_BITRATE,
  MIN_VIDEO_BITRATE,
  scaleForBitrate,
  SMALL_VIDEO_TIMEOUT_MS,
  SmallVideoRequest,
  VideoSender,
  type VideoSenderOptions,
} from "./video_sender.ts";

/**
 * A VP8 encoder that records what it is asked (settings, which frames are keyframes, whether
 * the frame was still open) and puts out a 2,000-byte chunk per frame (two packets).
 */
class FakeEncoder {
  static keyFrames: boolean[] = [];
  static all: FakeEncoder[] = [];
  state = "unconfigured";
  encodeQueueSize = 0;
  configs: VideoEncoderConfig[] = [];
  encoded: { keyFrame: boolean; frameClosed: boolean; timestamp: number }[] = [];
  constructor(
    readonly init: { output(chunk: unknown, metadata?: unknown): void; error?(e: Error): void },
  ) {
    FakeEncoder.all.push(this);
  }
  /** Layered configs fail (the error callback, as a browser reports NotSupportedError). */
  static failLayers = false;
  frames = 0;
  configure(config: VideoEncoderConfig) {
    this.state = "configured";
    this.configs.push(config);
    if (config.scalabilityMode && FakeEncoder.failLayers) {
      queueMicrotask(() => {
        this.state = "closed";
        this.init.error?.(new DOMException("not supported", "NotSupportedError"));
      });
    }
  }
  encode(frame: FakeFrame, options: { keyFrame: boolean }) {
    FakeEncoder.keyFrames.push(options.keyFrame);
    this.encoded.push({
      keyFrame: options.keyFrame,
      frameClosed: frame.closed,
      timestamp: frame.timestamp,
    });
    const layered = !!this.configs.at(-1)?.scalabilityMode;
    if (options.keyFrame) this.frames = 0;
    const tid = [0, 2, 1, 2][this.frames++ % 4];
    queueMicrotask(() => {
      if (this.state !== "configured") return;
      this.init.output({
        timestamp: frame.timestamp,
        type: options.keyFrame ? "key" : "delta",
        byteLength: 2000,
        copyTo: (d: Uint8Array) => d.fill(options.keyFrame ? 0x10 : 0x11),
      }, layered ? { svc: { temporalLayerId: tid } } : undefined);
    });
  }
  close() {
    this.state = "closed";
  }
}

interface FakeFrame {
  timestamp: number;
  displayWidth: number;
  displayHeight: number;
  closed: boolean;
  close(): void;
}

/**
 * A VideoSender on a fake camera (640x360), fake encoders and a transport that keeps what is
 * sent; `performance.now()` is the last frame's capture time. `restore()` undoes the fakes.
 */
function fakeSender(options: Partial<VideoSenderOptions> = {}) {
  const g = globalThis as Record<string, unknown>;
  const saved = { encoder: g.VideoEncoder, processor: g.MediaStreamTrackProcessor };
  const realNow = performance.now;
  let now = 0;
  let push: (frame: unknown) => void = () => {};
  const readable = new ReadableStream({ start: (c) => void (push = (f) => c.enqueue(f)) });
  g.VideoEncoder = FakeEncoder;
  g.MediaStreamTrackProcessor = class {
    readable = readable;
  };
  Object.defineProperty(performance, "now", { value: () => now, configurable: true });
  FakeEncoder.keyFrames = [];
  FakeEncoder.all = [];
  const sent: RtpPacket[] = [];
  const transport = {
    send: (bytes: Uint8Array) => {
      const parsed = parseRtp(bytes);
      assert.ok(parsed.ok);
      sent.push(parsed.packet);
      return true;
    },
    congested: false,
  };
  const sender = new VideoSender({
    track: { stop() {} } as unknown as MediaStreamTrack,
    stream: new RtpStream({
      ssrc: 1,
      payloadType: 96,
      clockRate: 90000,
      firstSequenceNumber: 1000,
    }),
    smallStream: new RtpStream({
      ssrc: 2,
      payloadType: 96,
      clockRate: 90000,
      firstSequenceNumber: 5000,
    }),
    transport,
    ...options,
  });
  return {
    sender,
    sent,
    transport,
    /** Captures a frame at `ms` (camera time is wall time) and lets it be encoded. */
    async frame(ms: number): Promise<FakeFrame> {
      now = ms;
      const frame: FakeFrame = {
        timestamp: ms * 1000,
        displayWidth: 640,
        displayHeight: 360,
        closed: false,
        close() {
          this.closed = true;
        },
      };
      push(frame);
      await new Promise((r) => setTimeout(r, 0));
      return frame;
    },
    setNow(ms: number) {
      now = ms;
    },
    restore() {
      sender.close();
      g.VideoEncoder = saved.encoder;
      g.MediaStreamTrackProcessor = saved.processor;
      Object.defineProperty(performance, "now", { value: realNow, configurable: true });
    },
  };
}

Deno.test("VideoSender: a PLI before every frame gives a keyframe at most every MIN_KEYFRAME_GAP_MS", async () => {
  const { sender, frame, restore } = fakeSender({ keyframeIntervalMs: 3000 });
  try {
    // Two seconds at 30 fps, a PLI before each frame (a P2P peer asking for every frame).
    for (let i = 0; i < 60; i++) {
      sender.requestKeyframe();
      await frame(1000 + i * 33);
    }
    const keys = FakeEncoder.keyFrames.filter((k) => k).length;
    assert.equal(FakeEncoder.keyFrames.length, 60);
    assert.ok(keys <= Math.ceil(2000 / MIN_KEYFRAME_GAP_MS) + 1, `${keys} keyframes in 2 s`);
    assert.ok(keys >= 2000 / MIN_KEYFRAME_GAP_MS - 1, "requests are served, not dropped");
    // After a quiet spell a PLI is answered by the very next frame.
    for (let i = 60; i < 80; i++) await frame(1000 + i * 33);
    FakeEncoder.keyFrames = [];
    sender.requestKeyframe();
    await frame(1000 + 80 * 33);
    assert.deepEqual(FakeEncoder.keyFrames, [true]);
  } finally {
    restore();
  }
});

Deno.test("KeyframeSchedule: first frame, requests paced, the interval, a new encoder", () => {
  const s = new KeyframeSchedule(3000, 500);
  assert.equal(s.next(0), true, "the first frame");
  assert.equal(s.next(33), false);
  s.request();
  assert.equal(s.next(66), false, "inside the gap: kept");
  assert.equal(s.next(499), false);
  assert.equal(s.next(500), true, "served when the gap ends");
  assert.equal(s.next(533), false, "served once");
  assert.equal(s.next(3499), false);
  assert.equal(s.next(3500), true, "the interval");
  s.force();
  assert.equal(s.next(3533), true, "a new encoder: at once");
  assert.equal(s.next(3000), true, "a clock that stepped back does not stall keyframes");
  assert.equal(s.next(Number.NaN), false, "no time: no keyframe unless asked");
  s.request();
  assert.equal(s.next(Number.NaN), true);
  assert.equal(s.next(3033), false, "a bad time leaves the pacing as it was");
});

Deno.test("scaleForBitrate: smaller pictures at lower bitrates, and up again only 20% past a step", () => {
  assert.equal(scaleForBitrate(800_000, 1), 1);
  assert.equal(scaleForBitrate(299_000, 1), 0.75);
  assert.equal(scaleForBitrate(149_000, 0.75), 0.5);
  assert.equal(scaleForBitrate(50_000, 1), 0.5);
  // Hovering near a step does not resize.
  assert.equal(scaleForBitrate(170_000, 0.5), 0.5);
  assert.equal(scaleForBitrate(180_000, 0.5), 0.75);
  assert.equal(scaleForBitrate(350_000, 0.75), 0.75);
  assert.equal(scaleForBitrate(360_000, 0.75), 1);
  assert.equal(scaleForBitrate(360_000, 0.5), 1);
});

Deno.test("SmallVideoRequest: off until asked, within bounds, 0 stops, an ask lasts 5 s", () => {
  const r = new SmallVideoRequest();
  assert.equal(r.bitrate(0), 0);
  r.ask(150_000, 1000);
  assert.equal(r.bitrate(1000), 150_000);
  assert.equal(r.bitrate(1000 + SMALL_VIDEO_TIMEOUT_MS - 1), 150_000);
  assert.equal(r.bitrate(1000 + SMALL_VIDEO_TIMEOUT_MS), 0, "not asked again: off");
  r.ask(1_000_000, 7000);
  assert.equal(r.bitrate(7000), MAX_SMALL_VIDEO_BITRATE);
  r.ask(10_000, 9000); // asked again within 5 s: the ask is renewed
  assert.equal(r.bitrate(9000), MIN_VIDEO_BITRATE);
  assert.equal(r.bitrate(13_000), MIN_VIDEO_BITRATE);
  r.ask(Number.NaN, 13_500);
  assert.equal(r.bitrate(13_500), MIN_VIDEO_BITRATE, "a bad figure changes nothing");
  r.ask(0, 13_600);
  assert.equal(r.bitrate(13_600), 0, "0: stop at once");
  r.ask(100_000, 14_000);
  assert.equal(r.bitrate(14_000), 100_000, "asked again after a stop");
});

Deno.test("VideoSender: the small encoding starts on request: same frames at half size, own SSRC and numbers, same timestamps", async () => {
  const t = fakeSender();
  try {
    for (let ms = 1000; ms < 1100; ms += 33) await t.frame(ms);
    assert.equal(FakeEncoder.all.length, 1, "the small encoding is off at first");
    assert.ok(t.sent.every((p) => p.ssrc === 1));
    assert.equal(t.sender.stats.small.active, false);
    assert.equal(t.sender.stats.small.width, 0);

    t.sender.setSmallBitrate(150_000);
    assert.equal(t.sender.stats.small.active, true);
    assert.equal(t.sender.stats.small.targetBitrate, 150_000);
    const frames: FakeFrame[] = [];
    for (let ms = 1100; ms < 1400; ms += 33) frames.push(await t.frame(ms));
    assert.equal(FakeEncoder.all.length, 2);
    const [full, small] = FakeEncoder.all;
    assert.deepEqual(small.configs[0], {
      codec: "vp8",
      width: 320,
      height: 180,
      bitrate: 150_000,
      bitrateMode: "constant",
      framerate: 30,
      latencyMode: "realtime",
    });
    assert.equal(full.configs[0].width, 640, "the full encoding is as it was");
    assert.equal(small.encoded.length, frames.length, "every frame in both encoders");
    assert.deepEqual(small.encoded.map((e) => e.keyFrame), [
      true,
      ...frames.slice(1).map(() => false),
    ]);
    for (const e of [...small.encoded, ...full.encoded]) assert.equal(e.frameClosed, false);
    assert.ok(frames.every((f) => f.closed), "each frame closed once both encoded it");

    const smallPackets = t.sent.filter((p) => p.ssrc === 2);
    assert.equal(smallPackets.length, 2 * frames.length, "two packets a frame");
    smallPackets.forEach((p, i) => {
      assert.equal(p.sequenceNumber, 5000 + i, "its own sequence numbers");
      assert.equal(p.payloadType, 96);
      assert.equal(p.marker, i % 2 === 1, "marker on a frame's last packet");
      assert.ok(p.payload.length <= 1168);
      assert.notEqual(readSendTime(p.extension), null);
      // The full encoding's packet of the same frame: same timestamp and capture time.
      const twin = t.sent.find((q) => q.ssrc === 1 && q.timestamp === p.timestamp);
      assert.ok(twin, `a full frame stamped ${p.timestamp}`);
      assert.equal(readCaptureTime(p.extension), readCaptureTime(twin.extension));
    });
    const ids = smallPackets.filter((_, i) => i % 2 === 0).map((p) => {
      const parsed = parseVp8Descriptor(p.payload);
      assert.ok(parsed.ok && parsed.descriptor.pictureIdBits === 15);
      return parsed.descriptor.pictureId!;
    });
    ids.forEach((id, i) => assert.equal(id, (ids[0] + i) & 0x7fff, "its own picture IDs"));
    const stats = t.sender.stats.small;
    assert.equal(stats.framesEncoded, frames.length);
    assert.equal(stats.keyframes, 1);
    assert.equal(stats.width, 320);
    assert.equal(stats.height, 180);
    assert.ok(stats.bitrate > 0);
  } finally {
    t.restore();
  }
});

Deno.test("VideoSender: PLI, NACK and REMB of each encoding reach that encoding only", async () => {
  const t = fakeSender();
  try {
    t.sender.setSmallBitrate(1_000_000);
    assert.equal(t.sender.stats.small.targetBitrate, MAX_SMALL_VIDEO_BITRATE);
    assert.equal(t.sender.stats.targetBitrate, 800_000, "the full encoding's is its own");
    for (let ms = 1000; ms < 2000; ms += 33) await t.frame(ms);
    const [full, small] = FakeEncoder.all;
    const keys = (e: FakeEncoder) => e.encoded.filter((x) => x.keyFrame).length;
    assert.deepEqual([keys(full), keys(small)], [1, 1]);

    t.sender.requestSmallKeyframe();
    await t.frame(2000);
    assert.deepEqual([keys(full), keys(small)], [1, 2], "a PLI on the small SSRC");
    t.sender.requestKeyframe();
    await t.frame(2033);
    assert.deepEqual([keys(full), keys(small)], [2, 2], "a PLI on the full SSRC");

    const before = t.sent.length;
    assert.equal(t.sender.resendSmall([5000, 5001, 1000]), 2);
    assert.deepEqual(t.sent.slice(before).map((p) => [p.ssrc, p.sequenceNumber]), [[2, 5000], [
      2,
      5001,
    ]]);
    assert.equal(t.sender.resend([5000]), 0, "the full history has none of the small's");
    assert.equal(t.sender.resend([1000]), 1);
    assert.equal(t.sender.stats.packetsResent, 1);
    assert.equal(t.sender.stats.small.packetsResent, 2);

    t.sender.setSmallBitrate(100_000);
    assert.equal(t.sender.stats.small.targetBitrate, 100_000);
    assert.equal(t.sender.stats.targetBitrate, 800_000);
    t.sender.setTargetBitrate(400_000);
    assert.equal(t.sender.stats.targetBitrate, 400_000);
    assert.equal(t.sender.stats.small.targetBitrate, 100_000);
    await t.frame(2066);
    assert.equal(small.configs.at(-1)!.bitrate, 100_000, "the small encoder follows");
    assert.equal(small.configs.at(-1)!.width, 320, "at the same size: no keyframe");
    assert.equal(full.configs.at(-1)!.bitrate, 400_000);
    assert.equal(FakeEncoder.all.length, 2);
  } finally {
    t.restore();
  }
});

Deno.test("VideoSender: the small encoding stops on 0, and when not asked for 5 s", async () => {
  const t = fakeSender();
  try {
    t.setNow(1000);
    t.sender.setSmallBitrate(120_000);
    // Asked again every 2 s: on throughout.
    for (let ms = 1000; ms < 9000; ms += 100) {
      t.setNow(ms);
      if (ms % 2000 === 0) t.sender.setSmallBitrate(120_000);
      await t.frame(ms);
    }
    assert.equal(FakeEncoder.all.length, 2);
    const small = FakeEncoder.all[1];
    assert.equal(small.state, "configured");
    assert.equal(small.encoded.length, 80);
    // The last ask came at 8000: it lapses at 13000.
    for (let ms = 9000; ms < 13_000; ms += 100) await t.frame(ms);
    assert.equal(t.sender.stats.small.active, true);
    assert.equal(small.encoded.length, 120);
    await t.frame(13_000);
    assert.equal(small.state, "closed", "not asked for 5 s: stopped");
    assert.equal(small.encoded.length, 120);
    assert.equal(t.sender.stats.small.active, false);
    assert.equal(t.sender.stats.small.targetBitrate, 0);
    assert.equal(t.sender.stats.small.width, 0);
    assert.equal(t.sender.stats.small.framesEncoded, 120, "counted over the sender's life");

    // Asked again: a new encoder, from a keyframe.
    t.sender.setSmallBitrate(80_000);
    await t.frame(13_100);
    assert.equal(FakeEncoder.all.length, 3);
    const again = FakeEncoder.all[2];
    assert.deepEqual(again.encoded.map((e) => e.keyFrame), [true]);
    assert.equal(again.configs[0].bitrate, 80_000);
    // 0: off at once, before the next frame.
    t.sender.setSmallBitrate(0);
    assert.equal(again.state, "closed");
    assert.equal(t.sender.stats.small.active, false);
    await t.frame(13_200);
    assert.equal(again.encoded.length, 1);
    assert.equal(FakeEncoder.all.length, 3);
    assert.equal(FakeEncoder.all[0].encoded.length, 123, "the full encoding went on throughout");
  } finally {
    t.restore();
  }
});

Deno.test("VideoSender: the small encoding skips frames when behind, and close() closes both encoders", async () => {
  const t = fakeSender();
  try {
    t.sender.setSmallBitrate(150_000);
    await t.frame(1000);
    const [full, small] = FakeEncoder.all;
    small.encodeQueueSize = 2;
    await t.frame(1033);
    assert.deepEqual([full.encoded.length, small.encoded.length], [2, 1], "its encoder is behind");
    small.encodeQueueSize = 0;
    t.transport.congested = true;
    await t.frame(1066);
    assert.deepEqual([full.encoded.length, small.encoded.length], [2, 1], "the link is behind");
    t.transport.congested = false;
    await t.frame(1100);
    assert.deepEqual([full.encoded.length, small.encoded.length], [3, 2]);
    const stats = t.sender.stats;
    assert.equal(stats.framesSkipped, 1);
    assert.equal(stats.small.framesSkipped, 2);
    assert.equal(stats.framesCaptured, 4);
    t.sender.close();
    assert.deepEqual([full.state, small.state], ["closed", "closed"]);
  } finally {
    t.restore();
  }
});

Deno.test("VideoSender: without a small stream, asks for the small encoding are ignored", async () => {
  const t = fakeSender({ smallStream: undefined });
  try {
    t.sender.setSmallBitrate(150_000);
    t.sender.requestSmallKeyframe();
    assert.equal(t.sender.resendSmall([1]), 0);
    for (let ms = 1000; ms < 1100; ms += 33) await t.frame(ms);
    assert.equal(FakeEncoder.all.length, 1);
    assert.equal(t.sender.stats.small.active, false);
  } finally {
    t.restore();
  }
});

// Last in this file: the browser's answer about layers is asked once per page (module).
Deno.test("VideoSender: where the encoder takes L1T3, packets carry each frame's layer; an encoder that fails with layers is replaced by one without", async () => {
  // The browser's answer (asked once, by the first encoding made after it can be asked).
  const fake = FakeEncoder as unknown as Record<string, unknown>;
  fake.isConfigSupported = (config: VideoEncoderConfig) =>
    Promise.resolve({ supported: config.scalabilityMode === "L1T3" });
  // Asked when the first encoding is made; answered before its first frame.
  const { sent, frame, restore } = fakeSender();
  try {
    for (let i = 0; i < 8; i++) await frame(1000 + i * 33);
    const full = FakeEncoder.all.at(-1)!;
    assert.equal(full.configs[0].scalabilityMode, "L1T3");
    const frames = sent.filter((p) => p.ssrc === 1 && p.marker).map((p) => {
      const parsed = parseVp8Descriptor(p.payload);
      assert.ok(parsed.ok);
      return parsed.descriptor;
    });
    assert.deepEqual(frames.map((d) => d.temporalLayer), [0, 2, 1, 2, 0, 2, 1, 2]);
    assert.deepEqual(frames.map((d) => d.layerSync), [
      false,
      true,
      true,
      false,
      false,
      true,
      true,
      false,
    ]);
    const tl0 = frames[0].tl0PicIdx!;
    assert.deepEqual(
      frames.map((d) => d.tl0PicIdx),
      [0, 0, 0, 0, 1, 1, 1, 1].map((n) => (tl0 + n) & 0xff),
    );
  } finally {
    restore();
  }
  // A browser that said yes and then fails to encode with layers: the next encoder goes
  // without, and frames go on.
  FakeEncoder.failLayers = true;
  const failing = fakeSender();
  try {
    await failing.frame(1000);
    await new Promise((r) => setTimeout(r, 0));
    assert.equal(FakeEncoder.all[0].configs[0].scalabilityMode, "L1T3");
    assert.equal(FakeEncoder.all[0].state, "closed");
    for (let i = 1; i < 4; i++) await failing.frame(1000 + i * 33);
    const next = FakeEncoder.all.filter((e) => e.init !== FakeEncoder.all[0].init).at(-1)!;
    assert.equal(next.configs[0].scalabilityMode, undefined, "the next encoder goes without");
    const sentAfter = failing.sent.filter((p) => p.ssrc === 1);
    assert.ok(sentAfter.length >= 2, "frames go on");
    for (const p of sentAfter) {
      const parsed = parseVp8Descriptor(p.payload);
      assert.ok(parsed.ok);
      assert.equal(parsed.descriptor.temporalLayer, null);
    }
  } finally {
    delete fake.isConfigSupported;
    FakeEncoder.failLayers = false;
    failing.restore();
  }
});
