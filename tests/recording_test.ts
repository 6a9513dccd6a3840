/**
 * Recording, end to end with real clients and real files (ffprobe and ffmpeg read them): the
 * host records a meeting of two bots with tones and a terminal client sending a real VP8 clip
 * and a tone; the file holds VP8, Opus with every tone, the chat as subtitles, and the
 * recording's duration; only its owners list and download it (with Range). A server killed
 * mid-recording leaves a file that plays, and its next start finishes it and lists it.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { startServerProcess } from "../bench/_server_process.ts";
import { webmDurationMs } from "../server/recording_file.ts";
import { cli, clip, decodesCleanly, ffprobeFrames, HEARD, tonePowers } from "./support/cli.ts";
import { type MediaBot, mediaBot } from "./support/media_bot.ts";
import { audioAsWav, probeMedia } from "./support/ffmpeg.ts";
import { createMeeting, testServer } from "./support/server.ts";
import { waitFor } from "./support/wait.ts";

/** Mix samples a bot has received so far. */
const heard = (bot: MediaBot) => bot.mixSamples.length;

Deno.test({
  name:
    "recording: the host records; one WebM with the picture, every tone, the chat and the right duration; only owners list and download it",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await testServer({ p2p: "off" });
    const created = await createMeeting(server, "Recorded");
    const meetingId = created.id as string;
    const ann = await mediaBot(server, "Ann", meetingId); // first in: the host
    const bob = await mediaBot(server, "Bob", meetingId);
    const dir = await Deno.makeTempDir({ prefix: "meet-recording-" });
    try {
      ann.startTone(440);
      bob.startTone(880);
      await using cy = cli([
        "--server",
        server.wsUrl,
        "--udp-port",
        String(server.udpPort),
        "--json",
        "--name",
        "Cy",
        "--join",
        meetingId,
        "--tone",
        "660",
        "--ivf",
        await clip(),
        "--duration",
        "60", // a safety net: the test ends first
      ]);
      await waitFor(() => cy.events().find((e) => e.event === "media_bound"), {
        what: "Cy's media",
        timeoutMs: 15_000,
      });

      // Only the host may record.
      await assert.rejects(() => bob.request({ type: "record", on: true }), /forbidden/);
      const post = (token?: string) =>
        fetch(`${server.url}api/meetings/${meetingId}/recordings`, {
          method: "POST",
          headers: token ? { authorization: `Bearer ${token}` } : {},
        });
      assert.equal((await post()).status, 401);
      const bobPost = await post(bob.token);
      assert.equal(bobPost.status, 403, await bobPost.text());

      const started = performance.now();
      const { recording } = await ann.request({ type: "record", on: true }) as {
        recording: { id: string; startedBy: string };
      };
      assert.equal(recording.startedBy, "Ann");
      await waitFor(() => bob.events.find((e) => e.type === "recording" && e.recording), {
        what: "Bob told of the recording",
      });
      assert.equal(
        (await (await fetch(`${server.url}api/meetings/${meetingId}`)).json())
          .recording.id,
        recording.id,
      );
      // The terminal client says so too.
      await waitFor(
        () => cy.events().find((e) => e.event === "meeting_recording" && e.state === "started"),
        { what: "Cy's client telling of the recording" },
      );
      await bob.request({ type: "chat", text: "hello <everyone>" });
      // Six seconds of meeting, as the bots hear it.
      const from = heard(ann);
      await waitFor(() => heard(ann) >= from + 6 * 48_000, {
        what: "six seconds of the mix",
        timeoutMs: 20_000,
      });
      await ann.request({ type: "record", on: false });
      const wall = performance.now() - started;
      const saved = await waitFor(
        () => ann.events.find((e) => e.type === "recording_saved"),
        { what: "the recording saved", timeoutMs: 30_000 },
      );
      assert.ok(saved.type === "recording_saved");
      assert.ok(Math.abs(saved.durationMs - wall) <= 500, `${saved.durationMs} ms of ${wall}`);

      await waitFor(
        () => cy.events().find((e) => e.event === "meeting_recording" && e.state === "saved"),
        { what: "Cy's client telling it was saved" },
      );

      // The list: to its owners only.
      const list = (token?: string) =>
        fetch(`${server.url}api/meetings/${meetingId}/recordings`, {
          headers: token ? { authorization: `Bearer ${token}` } : {},
        });
      assert.equal((await list()).status, 401);
      assert.equal((await list(bob.token)).status, 403);
      const listed = (await (await list(created.token)).json()).recordings;
      assert.equal(listed.length, 1);
      assert.equal(listed[0].state, "done");
      assert.equal(listed[0].startedBy, "Ann");
      assert.equal(listed[0].stoppedBy, "Ann");
      const url = `${server.url}${listed[0].url.slice(1)}`;
      assert.equal(
        (await fetch(url, { headers: { authorization: `Bearer ${bob.token}` } })).status,
        403,
      );
      const response = await fetch(url, { headers: { authorization: `Bearer ${ann.token}` } });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("content-type"), "video/webm");
      const path = join(dir, "rec.webm");
      await Deno.writeFile(path, new Uint8Array(await response.arrayBuffer()));
      assert.equal((await Deno.stat(path)).size, listed[0].bytes);

      // The file: VP8, Opus and subtitles; its duration; it decodes; the picture is Cy's
      // clip; every tone is in it; the chat line is there, as text.
      const info = await probeMedia(path);
      assert.deepEqual(info.streams.map((s) => s.split(":")[0]), ["audio", "subtitle", "video"]);
      assert.ok(info.streams.includes("audio:opus") && info.streams.includes("video:vp8"));
      assert.ok(Math.abs(info.duration * 1000 - wall) <= 500, `${info.duration} s of ${wall} ms`);
      await decodesCleanly(path);
      const video = await ffprobeFrames(path);
      assert.ok(video.frames >= 40, `${video.frames} frames`);
      const powers = await tonePowers(await audioAsWav(path), [440, 660, 880]);
      for (const [freq, power] of Object.entries(powers)) {
        assert.ok(power > HEARD, `${freq} Hz missing from the recording: ${power}`);
      }
      console.log("recording figures:", {
        wallMs: Math.round(wall),
        savedMs: saved.durationMs,
        probedS: info.duration,
        bytes: listed[0].bytes,
        videoFrames: video.frames,
        tones: powers,
      });
      const text = new TextDecoder().decode(await Deno.readFile(path));
      assert.ok(text.includes("Bob: hello &lt;everyone&gt;"), "the chat line as a subtitle");

      // Range requests.
      const ranged = await fetch(url, {
        headers: { authorization: `Bearer ${created.token}`, range: "bytes=0-99" },
      });
      assert.equal(ranged.status, 206);
      assert.equal((await ranged.arrayBuffer()).byteLength, 100);
      assert.equal(ranged.headers.get("content-range"), `bytes 0-99/${listed[0].bytes}`);
      const beyond = await fetch(url, {
        headers: { authorization: `Bearer ${created.token}`, range: "bytes=999999999-" },
      });
      assert.equal(beyond.status, 416);
      await beyond.body?.cancel();
      // Ids that are not a recording's, or that try to leave the directory, find nothing.
      for (const rid of ["nope", "..%2f..%2fmeet.db", "%2e%2e"]) {
        const r = await fetch(`${server.url}api/meetings/${meetingId}/recordings/${rid}`, {
          headers: { authorization: `Bearer ${created.token}` },
        });
        assert.equal(r.status, 404, rid);
        await r.body?.cancel();
      }
    } finally {
      ann.close();
      bob.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "recording: a server killed mid-recording leaves a file that plays; its next start finishes it and lists it",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dataDir = await Deno.makeTempDir({ prefix: "meet-recording-kill-" });
    try {
      let server = await startServerProcess({ dataDir });
      const created = await (await server.fetch("api/meetings", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ title: "Killed", name: "Organiser" }),
      })).json();
      const ann = await mediaBot(server, "Ann", created.id);
      ann.startTone(440);
      const started = performance.now();
      await ann.request({ type: "record", on: true });
      // The live file grows on disk: wait until five seconds of it can be read.
      const recordings = join(dataDir, "recordings");
      const partPath = await waitFor(async () => {
        const part = [...Deno.readDirSync(recordings)].find((e) => e.name.endsWith(".part.webm"));
        if (!part) return null;
        const path = join(recordings, part.name);
        return (await webmDurationMs(path)) >= 5000 ? path : null;
      }, { what: "five seconds in the live file", timeoutMs: 20_000 });
      Deno.kill(server.pid, "SIGKILL");
      const elapsed = performance.now() - started;
      ann.close();
      await server.stop({ keepData: true });
      const playable = await webmDurationMs(partPath);
      assert.ok(playable >= elapsed - 4000, `${playable} ms playable of ${elapsed} recorded`);

      server = await startServerProcess({ dataDir });
      try {
        const listed = await waitFor(async () => {
          const r = await server.fetch(`api/meetings/${created.id}/recordings`, {
            headers: { authorization: `Bearer ${created.token}` },
          });
          const body = await r.json();
          return body.recordings?.[0]?.state === "recovered" ? body.recordings[0] : null;
        }, { what: "the recording recovered and listed", timeoutMs: 30_000 });
        assert.ok(listed.durationMs >= playable - 100, `${listed.durationMs} of ${playable}`);
        const file = join(dataDir, "recovered.webm");
        const response = await server.fetch(listed.url.slice(1), {
          headers: { authorization: `Bearer ${created.token}` },
        });
        assert.equal(response.status, 200);
        await Deno.writeFile(file, new Uint8Array(await response.arrayBuffer()));
        await decodesCleanly(file);
        const powers = await tonePowers(await audioAsWav(file), [440]);
        assert.ok(powers[440] > HEARD, `the tone: ${powers[440]}`);
      } finally {
        await server.stop({ keepData: true });
      }
    } finally {
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "recording: refused with a clear error when off or the disk is nearly full; stopped by itself, with the reason, at the longest recording",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const meetingOn = async (server: { url: string; wsUrl: string }) => {
      const created = await createMeeting(server, "Limits");
      return { created, ann: await mediaBot(server, "Ann", created.id) };
    };
    {
      await using server = await testServer({ recordings: false });
      const { created, ann } = await meetingOn(server);
      await assert.rejects(
        () => ann.request({ type: "record", on: true }),
        /recordings_unavailable: recording is turned off/,
      );
      const r = await fetch(`${server.url}api/meetings/${created.id}/recordings`, {
        method: "POST",
        headers: { authorization: `Bearer ${ann.token}` },
      });
      assert.equal(r.status, 503);
      await r.body?.cancel();
      ann.close();
    }
    {
      await using server = await testServer({ recordingMinFreeBytes: 1e18 });
      const { ann } = await meetingOn(server);
      await assert.rejects(() => ann.request({ type: "record", on: true }), /disk is too full/);
      ann.close();
    }
    {
      // The longest recording: 3 s.
      await using server = await testServer({ maxRecordingMinutes: 0.05 });
      const { created, ann } = await meetingOn(server);
      ann.startTone(440);
      await ann.request({ type: "record", on: true });
      const stopped = await waitFor(
        () => ann.events.find((e) => e.type === "recording" && e.stopped),
        { what: "the recording stopped at its limit", timeoutMs: 15_000 },
      );
      assert.ok(stopped.type === "recording");
      assert.deepEqual(stopped.stopped, { id: stopped.stopped!.id, reason: "limit", by: null });
      const saved = await waitFor(() => ann.events.find((e) => e.type === "recording_saved"), {
        what: "the recording saved",
        timeoutMs: 15_000,
      });
      assert.ok(saved.type === "recording_saved");
      assert.ok(Math.abs(saved.durationMs - 3000) <= 300, `${saved.durationMs} ms`);
      const listed = (await (await fetch(`${server.url}api/meetings/${created.id}/recordings`, {
        headers: { authorization: `Bearer ${created.token}` },
      })).json()).recordings;
      assert.equal(listed[0].stopReason, "limit");
      ann.close();
    }
  },
});
