/**
 * Chromium's VP8 encoder with three temporal layers (WebCodecs `scalabilityMode: "L1T3"`, what
 * the pages send): what a receiver can decode without some of its frames. The receiver's frame
 * assembler (media/vp8.ts) drops only the frames that reference a lost one, and the sender
 * marks layer sync frames (`TemporalLayering`, client/media/video_encoding.ts), both from how
 * these frames reference each other; this test decodes a real L1T3 stream with frames left
 * out and compares each picture with the one decoded from the whole stream, so that a
 * browser whose encoder references frames otherwise fails here rather than showing garbage.
 */

import assert from "node:assert/strict";
import { launchBrowser } from "./support/browser.ts";
import { TemporalLayering } from "../client/media/video_encoding.ts";

/** Frames encoded: 16 groups of 4 (layers 0,2,1,2) after a keyframe. */
const FRAMES = 64;

Deno.test("browser: a real L1T3 VP8 stream decodes to the same pictures without its upper layers, and a layer sync frame with only its base frame", async () => {
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () =>
      new Response("<!doctype html><title>layers</title>", {
        headers: { "content-type": "text/html" },
      }),
  );
  await using browser = await launchBrowser();
  const page = await browser.newPage();
  // localhost: a secure context, where WebCodecs is.
  await page.goto(`http://localhost:${server.addr.port}/`);
  const tids: number[] = await page.evaluate(async (count) => {
    const W = 320, H = 180;
    const canvas = new OffscreenCanvas(W, H);
    const ctx = canvas.getContext("2d")!;
    const chunks: EncodedVideoChunk[] = [];
    const tids: number[] = [];
    const encoder = new VideoEncoder({
      output: (chunk, metadata) => {
        chunks.push(chunk);
        tids.push(metadata?.svc?.temporalLayerId ?? -1);
      },
      error: (e) => console.error(e),
    });
    encoder.configure({
      codec: "vp8",
      width: W,
      height: H,
      bitrate: 300_000,
      bitrateMode: "constant",
      framerate: 30,
      latencyMode: "realtime",
      scalabilityMode: "L1T3",
    });
    for (let i = 0; i < count; i++) {
      // A moving picture, so that every frame differs from the one before.
      ctx.fillStyle = `rgb(${(i * 37) % 255},${(i * 11) % 255},90)`;
      ctx.fillRect(0, 0, W, H);
      ctx.fillStyle = "white";
      ctx.fillRect((i * 7) % W, (i * 3) % H, 40, 40);
      ctx.font = "30px sans-serif";
      ctx.fillText(String(i), 100 + (i % 50), 100);
      const frame = new VideoFrame(canvas, { timestamp: i * 33_333 });
      encoder.encode(frame, { keyFrame: i === 0 });
      frame.close();
    }
    await encoder.flush();
    (globalThis as unknown as { chunks: EncodedVideoChunk[] }).chunks = chunks;
    return tids;
  }, FRAMES);
  assert.equal(tids.length, FRAMES);
  assert.deepEqual(tids.slice(0, 8), [0, 2, 1, 2, 0, 2, 1, 2], "Chromium's L1T3 pattern");

  /** Decodes the chunks at these indices in order; a digest of each picture by index. */
  const decode = (indices: number[]) =>
    page.evaluate(async (keep) => {
      const chunks = (globalThis as unknown as { chunks: EncodedVideoChunk[] }).chunks;
      const pictures: Record<number, string> = {};
      const pending: Promise<void>[] = [];
      let errors = 0;
      const decoder = new VideoDecoder({
        output: (frame) => {
          const index = Math.round(frame.timestamp / 33_333);
          const bytes = new Uint8Array(frame.allocationSize());
          pending.push(
            frame.copyTo(bytes).then(async () => {
              frame.close();
              const digest = await crypto.subtle.digest("SHA-256", bytes);
              pictures[index] = [...new Uint8Array(digest)].map((b) => b.toString(16)).join("");
            }),
          );
        },
        error: () => errors++,
      });
      decoder.configure({ codec: "vp8" });
      for (const i of keep) decoder.decode(chunks[i]);
      await decoder.flush();
      await Promise.all(pending);
      return { pictures, errors };
    }, indices);

  const all = [...Array(FRAMES).keys()];
  const whole = await decode(all);
  assert.equal(whole.errors, 0);
  assert.equal(Object.keys(whole.pictures).length, FRAMES);
  const assertSame = async (keep: number[], what: string) => {
    const part = await decode(keep);
    assert.equal(part.errors, 0, what);
    assert.deepEqual(Object.keys(part.pictures).map(Number), keep, what);
    for (const i of keep) assert.equal(part.pictures[i], whole.pictures[i], `${what}: frame ${i}`);
  };
  await assertSame(all.filter((i) => tids[i] <= 1), "without layer 2");
  await assertSame(all.filter((i) => tids[i] === 0), "the base layer alone");
  // Each frame the sender marks as a layer sync frame, with its group's other upper-layer
  // frames left out.
  const layering = new TemporalLayering(0);
  const layers = tids.map((tid) => layering.next(tid));
  const sync = all.filter((i) => layers[i].layerSync);
  assert.equal(sync.length, FRAMES / 2, "layer 1 and the first layer 2 of each group");
  for (const i of sync) {
    const keep = all.filter((j) => j <= i && (tids[j] === 0 || j === i));
    const part = await decode(keep);
    assert.equal(part.pictures[i], whole.pictures[i], `layer sync frame ${i} alone`);
  }
});
