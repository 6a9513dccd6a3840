import assert from "node:assert/strict";
import { KeyframeSchedule, MIN_KEYFRAME_GAP_MS } from "./keyframe_schedule.ts";
import { RtpStream } from "./rtp_stream.ts";
import { scaleForBitrate, VideoSender } from "./video_sender.ts";

/** A VP8 encoder that records which frames it was asked to make keyframes. */
class FakeEncoder {
  static keyFrames: boolean[] = [];
  state = "unconfigured";
  encodeQueueSize = 0;
  constructor(readonly init: { output(chunk: unknown): void }) {}
  configure() {
    this.state = "configured";
  }
  encode(_frame: unknown, options: { keyFrame: boolean }) {
    FakeEncoder.keyFrames.push(options.keyFrame);
  }
  close() {
    this.state = "closed";
  }
}

Deno.test("VideoSender: a PLI before every frame gives a keyframe at most every MIN_KEYFRAME_GAP_MS", async () => {
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
  const sender = new VideoSender({
    track: { stop() {} } as unknown as MediaStreamTrack,
    stream: new RtpStream({ ssrc: 1, payloadType: 96, clockRate: 90000 }),
    transport: { send: () => true, congested: false },
    keyframeIntervalMs: 3000,
  });
  const frame = (ms: number) => {
    now = ms; // read as soon as captured: camera time is wall time
    push({ timestamp: ms * 1000, displayWidth: 64, displayHeight: 48, close() {} });
    return new Promise((r) => setTimeout(r, 0));
  };
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
    sender.close();
    g.VideoEncoder = saved.encoder;
    g.MediaStreamTrackProcessor = saved.processor;
    Object.defineProperty(performance, "now", { value: realNow, configurable: true });
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
