import assert from "node:assert/strict";
import { join } from "node:path";
import { blackKeyframe } from "../media/black_frame.ts";
import { createOpusEncoder } from "../media/opus.ts";
import { decodesCleanly } from "../tests/support/cli.ts";
import { probeMedia } from "../tests/support/ffmpeg.ts";
import { finishRecording, LiveWebm, webmDurationMs } from "./recording_file.ts";

/** Writes `seconds` of a tone and a keyframe a second into a live file. */
async function liveFile(path: string, seconds: number): Promise<LiveWebm> {
  const live = await LiveWebm.create(path);
  const encoder = createOpusEncoder({ bitrate: 32_000 });
  const pcm = new Int16Array(960);
  const key = blackKeyframe();
  for (let i = 0; i < seconds * 50; i++) {
    for (let j = 0; j < 960; j++) {
      pcm[j] = 8000 * Math.sin((2 * Math.PI * 440 * (i * 960 + j)) / 48_000);
    }
    if (i % 50 === 0) live.addVideo(key, i * 0.02, true);
    live.addAudio(encoder.encode(pcm), i * 0.02);
  }
  encoder.close();
  return live;
}

Deno.test("recording file: a live WebM plays as it is written; finished, it has VP8, Opus, the chat subtitles and its duration", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const part = join(dir, "r.part.webm");
    const live = await liveFile(part, 6);
    await live.finalize();
    assert.ok(live.bytesWritten > 10_000);
    assert.ok(Math.abs((await webmDurationMs(part)) - 6000) <= 100);
    const final = join(dir, "r.webm");
    const done = await finishRecording(
      part,
      final,
      "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nAnn: hello\n\n",
    );
    assert.equal(done.bytes, (await Deno.stat(final)).size);
    assert.ok(Math.abs(done.durationMs - 6000) <= 100, `${done.durationMs} ms`);
    const info = await probeMedia(final);
    assert.deepEqual(info.streams.map((s) => s.split(":")[0]).sort(), [
      "audio",
      "subtitle",
      "video",
    ]);
    assert.ok(
      info.streams.includes("video:vp8") && info.streams.includes("audio:opus"),
      `${info.streams}`,
    );
    assert.ok(Math.abs(info.duration - 6) <= 0.1, `ffprobe: ${info.duration} s`);
    await decodesCleanly(final);
    assert.ok(new TextDecoder().decode(await Deno.readFile(final)).includes("Ann: hello"));
    // The file must not exist yet: nothing is overwritten.
    await assert.rejects(() => finishRecording(part, final, "WEBVTT\n\n"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("recording file: a live file cut short (the server killed) still plays up to its last seconds, and finishes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const part = join(dir, "r.part.webm");
    const live = await liveFile(part, 8);
    await live.finalize();
    // Keep two thirds of it, as a kill mid-write would.
    const bytes = await Deno.readFile(part);
    await Deno.writeFile(part, bytes.subarray(0, Math.floor(bytes.length * 2 / 3)));
    const partial = await webmDurationMs(part);
    assert.ok(partial >= 4000 && partial < 8000, `${partial} ms readable`);
    const final = join(dir, "r.webm");
    const done = await finishRecording(part, final, "WEBVTT\n\n");
    assert.ok(done.durationMs >= 4000, `${done.durationMs} ms`);
    await decodesCleanly(final);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
