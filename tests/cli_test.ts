/**
 * The terminal client (cli/): its pure parts (WAV, IVF, flags, commands), then the real
 * thing: `cli/main.ts` run as subprocesses against a real server, media over real UDP,
 * inputs made by real ffmpeg, recordings checked by ffprobe/ffmpeg.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { openWavSource, ToneSource } from "../cli/audio_source.ts";
import { controlUrl, FlagError, parseFlags } from "../cli/flags.ts";
import { encodeIvf, IvfWriter, parseIvf, vp8FrameInfo } from "../cli/ivf.ts";
import { renderText, safeText } from "../cli/output.ts";
import { parseCommand, readLines } from "../cli/repl.ts";
import { rosterChanges } from "../meeting/roster_changes.ts";
import { IvfVideoSource } from "../cli/video_source.ts";
import { encodeWav, parseWav, toMono48k, WavError, WavWriter } from "../cli/wav.ts";
import { goertzelPower } from "../media/mix.ts";
import type { ParticipantInfo } from "../meeting/participant.ts";
import { confirmJoin, launchBrowser } from "./support/browser.ts";
import {
  ABSENT,
  cli,
  clip,
  type CliProcess,
  decodesCleanly,
  explainer,
  ffprobeFrames,
  HEARD,
  hears,
  tonePowers,
} from "./support/cli.ts";
import { fakeCaptureFlags, ffmpeg, readWav } from "./support/ffmpeg.ts";
import { mediaBot } from "./support/media_bot.ts";
import { testClient, testServer } from "./support/server.ts";
import { waitFor } from "./support/wait.ts";

// ---------------------------------------------------------------------------------------
// Pure parts

Deno.test("WAV: encode/parse and streamed writes round-trip; any rate and channels become 48 kHz mono", async () => {
  const samples = Int16Array.from({ length: 1000 }, (_, i) => (i * 37) % 30000 - 15000);
  const parsed = parseWav(encodeWav(samples, 16000));
  assert.deepEqual([parsed.sampleRate, parsed.channels], [16000, 1]);
  assert.deepEqual(parsed.samples, samples);

  const dir = await Deno.makeTempDir({ prefix: "meet-cli-wav-" });
  try {
    const path = join(dir, "out.wav");
    const writer = WavWriter.create(path, 48000);
    writer.write(samples.subarray(0, 400));
    // Still being written: the header says 0 bytes, the samples so far are read anyway.
    assert.equal(parseWav(await Deno.readFile(path)).samples.length, 400);
    writer.write(samples.subarray(400));
    writer.close();
    assert.deepEqual(parseWav(await Deno.readFile(path)).samples, samples);
    const viaSupport = await readWav(path); // the tests' independent reader agrees
    assert.equal(viaSupport.samples.length, 1000);
    assert.equal(viaSupport.sampleRate, 48000);

    // A stereo 44.1 kHz file from ffmpeg: down-mixed and resampled, the tone stays at 440 Hz.
    const stereo = join(dir, "stereo.wav");
    await using proc = ffmpeg([
      "-f",
      "lavfi",
      "-i",
      "sine=frequency=440:sample_rate=44100",
      "-ac",
      "2",
      "-t",
      "0.5",
      "-c:a",
      "pcm_s16le",
      "-y",
      stereo,
    ]);
    assert.equal((await proc.done).code, 0);
    const audio = parseWav(await Deno.readFile(stereo));
    assert.deepEqual([audio.sampleRate, audio.channels], [44100, 2]);
    const mono = toMono48k(audio);
    assert.ok(Math.abs(mono.length - 24000) <= 1, `${mono.length} samples`);
    assert.ok(goertzelPower(mono.subarray(0, 9600), 48000, 440) > HEARD); // ffmpeg: amplitude ~0.09
    const source = await openWavSource(stereo);
    const frames = Array.from({ length: 30 }, () => source.next()); // 0.6 s: loops past the end
    assert.ok(frames.every((f) => f.length === 960));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert.throws(() => parseWav(new Uint8Array(20)), WavError);
  const eightBit = encodeWav(new Int16Array(4), 8000);
  new DataView(eightBit.buffer).setUint16(34, 8, true);
  assert.throws(() => parseWav(eightBit), /only 16-bit/);
  const tone = new ToneSource(440).next();
  assert.ok(Math.max(...tone) > 0.29 * 32767 && Math.max(...tone) <= 0.3 * 32767 + 1);
});

Deno.test("IVF: ffmpeg's clip parses; encode/parse and streamed writes round-trip; keyframe requests jump ahead", async () => {
  const { header, frames } = parseIvf(await Deno.readFile(await clip()));
  assert.deepEqual(
    [header.fourcc, header.width, header.height, header.timebaseNum, header.timebaseDen],
    ["VP80", 320, 240, 1, 15],
  );
  assert.equal(frames.length, 30);
  assert.deepEqual(vp8FrameInfo(frames[0].data), { keyframe: true, width: 320, height: 240 });
  assert.deepEqual(
    frames.flatMap((f, i) => vp8FrameInfo(f.data).keyframe ? [i] : []),
    [0, 15],
  );

  const again = parseIvf(encodeIvf(header, frames));
  assert.equal(again.header.frameCount, 30);
  assert.deepEqual(again.frames.map((f) => f.timestamp), frames.map((f) => f.timestamp));
  assert.deepEqual(again.frames[7].data, frames[7].data);

  const dir = await Deno.makeTempDir({ prefix: "meet-cli-ivf-" });
  try {
    const path = join(dir, "out.ivf");
    const writer = IvfWriter.create(path, { width: 320, height: 240 });
    frames.forEach((f, i) => writer.write(i * 6000, f.data)); // 1/90000 s
    assert.equal(parseIvf(await Deno.readFile(path)).header.frameCount, 0); // not closed yet
    writer.close();
    const written = parseIvf(await Deno.readFile(path));
    assert.equal(written.header.frameCount, 30);
    assert.equal(written.header.timebaseDen, 90000);
    assert.deepEqual(written.frames[29].data, frames[29].data);
    assert.equal((await ffprobeFrames(path)).frames, 30);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }

  const source = new IvfVideoSource(header, frames, "clip");
  source.requestKeyframe(); // at a keyframe already: nothing to skip
  const first = source.next();
  assert.deepEqual([first.index, first.keyframe, source.jumps], [0, true, 0]);
  assert.ok(Math.abs(first.durationMs - 1000 / 15) < 0.01);
  source.next(); // frame 1
  source.requestKeyframe();
  const key = source.next();
  assert.deepEqual([key.index, key.keyframe], [15, true]); // skipped 2..14
  source.requestKeyframe();
  assert.equal(source.next().index, 0); // from 16 the next keyframe wraps to the start
  assert.equal(source.jumps, 2);
  assert.throws(() => parseIvf(new Uint8Array(40)), /DKIF/);
});

Deno.test("flags: good command lines parse; bad ones fail with one-line messages", () => {
  const options = parseFlags([
    "--server=http://127.0.0.1:8123/",
    "--name",
    "Ann",
    "--join",
    "abc",
    "--say",
    "one",
    "--say=two",
    "--wait-for",
    "3",
    "--tone",
    "440",
    "--duration",
    "2.5",
    "--udp-port",
    "6000",
    "--json",
    "-q",
  ]);
  assert.equal(options.server, "ws://127.0.0.1:8123/ws");
  assert.deepEqual(
    [options.name, options.join, options.say, options.waitFor, options.tone, options.duration],
    ["Ann", "abc", ["one", "two"], 3, 440, 2.5],
  );
  assert.deepEqual([options.udpPort, options.json, options.quiet], [6000, true, true]);
  assert.equal(parseFlags([]).server, "ws://127.0.0.1:8000/ws");
  assert.equal(controlUrl("https://meet.example"), "wss://meet.example/ws");
  assert.equal(controlUrl("10.0.0.2:9000/custom"), "ws://10.0.0.2:9000/custom");

  const bad: Array<[string[], RegExp]> = [
    [["--bogus"], /unknown flag --bogus/],
    [["--tone"], /--tone needs a value/],
    [["--tone", "loud"], /--tone must be a number/],
    [["--udp-port", "70000"], /--udp-port must be an integer in 1..65535/],
    [["--duration", "-1"], /--duration must be a number/],
    [["--create", "A", "--join", "b"], /exclude each other/],
    [["--tone", "440", "--wav", "x.wav"], /exclude each other/],
    [["--say", "hi"], /--say needs --create or --join/],
    [["--name", "A", "--name", "B"], /given twice/],
    [["--server", "ftp://x"], /must be a ws/],
    [["--json=yes"], /takes no value/],
    [["stray"], /unexpected argument/],
    [["--name", "  "], /must not be empty/],
  ];
  for (const [args, message] of bad) {
    assert.throws(() => parseFlags(args), (err: unknown) => {
      assert.ok(err instanceof FlagError, `${args.join(" ")}: ${err}`);
      assert.match(err.message, message);
      assert.ok(!err.message.includes("\n"));
      return true;
    });
  }
});

Deno.test("commands, input lines, roster changes and safe text", async () => {
  assert.deepEqual(parseCommand("/create Daily standup"), {
    kind: "create",
    title: "Daily standup",
  });
  assert.deepEqual(parseCommand("/join abc"), { kind: "join", meetingId: "abc" });
  assert.deepEqual(parseCommand("/mic on 660"), { kind: "mic", on: true, source: "660" });
  assert.deepEqual(parseCommand("/cam off"), { kind: "cam", on: false });
  assert.deepEqual(parseCommand("/cancel"), { kind: "cancel" });
  assert.deepEqual(parseCommand("/hand up"), { kind: "hand", raised: true });
  assert.deepEqual(parseCommand("/react 🎉"), { kind: "react", reaction: "🎉" });
  assert.deepEqual(parseCommand("  "), { kind: "none" });
  assert.deepEqual(parseCommand("//me waves"), { kind: "chat", text: "/me waves" });
  assert.deepEqual(parseCommand("<b>hi</b>"), { kind: "chat", text: "<b>hi</b>" });
  for (
    const line of ["/join", "/join a b", "/mic maybe", "/frobnicate", "/create", "/hand", "/react"]
  ) {
    assert.equal(parseCommand(line).kind, "invalid", line);
  }

  const input = new TextEncoder().encode("one\r\ntwo\n" + "x".repeat(100) + "\nlast");
  const lines: string[] = [];
  for await (const line of readLines(new Blob([input]).stream(), 50)) lines.push(line);
  assert.deepEqual(lines, ["one", "two", "x".repeat(50), "last"]);

  // Only the fields the roster diff reads; the participant type grows with the project.
  const ann = {
    id: "a",
    name: "Ann",
    isCreator: true,
    joinedAt: 0,
    connected: true,
    audioSsrc: 1,
    videoSsrc: 2,
    audio: false,
    video: false,
    kind: "client",
  } as ParticipantInfo;
  const bob = { ...ann, id: "b", name: "Bob", isCreator: false };
  assert.deepEqual(
    rosterChanges([ann, bob], [{ ...ann, connected: false }]).map((c) => [
      c.change,
      c.participant.name,
    ]),
    [["reconnecting", "Ann"], ["left", "Bob"]],
  );

  assert.equal(safeText("a\u001b]0;pwned\u0007b\u202e"), "a\ufffd]0;pwned\ufffdb\ufffd");
  const line = renderText({
    event: "chat",
    meetingId: "m",
    id: 1,
    participantId: "b",
    name: "Bo\nb",
    text: "<script>x</script>",
    at: 0,
    time: "12:34",
    history: false,
  });
  assert.equal(line, "[12:34] Bo b: <script>x</script>");
  const removed = renderText({
    event: "left",
    meetingId: "m",
    title: "Standup",
    reason: "removed",
    message: "bye\u001b[2J",
  });
  assert.equal(removed, 'The host removed you from "Standup": bye\ufffd[2J');
});

// ---------------------------------------------------------------------------------------
// The client as a program

Deno.test({
  name:
    "exit codes: --help 0; bad flags 2; unreadable input, unreachable server, unknown meeting 1",
  sanitizeResources: false,
  async fn() {
    await using server = await testServer();
    const closedPort = (() => {
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const port = (listener.addr as Deno.NetAddr).port;
      listener.close();
      return port;
    })();
    const runs = [
      { args: ["--help"], code: 0, out: /usage: deno task client/ },
      { args: ["--bogus"], code: 2, err: /^meet: unknown flag --bogus \(see --help\)\n$/ },
      { args: ["--join", "x", "--ivf", "/nonexistent.ivf"], code: 1, err: /--ivf \/nonexistent/ },
      {
        args: ["--server", `127.0.0.1:${closedPort}`, "--join", "x"],
        code: 1,
        err: /cannot connect to ws:\/\/127\.0\.0\.1/,
      },
      {
        args: ["--server", server.url, "--join", "nosuchmeeting", "--json"],
        code: 1,
        err: /^meet: not_found: .*\n$/,
        out: /"event":"error","code":"not_found"/,
      },
    ];
    await Promise.all(runs.map(async (run) => {
      await using proc = cli(run.args);
      const status = await proc.status;
      const stderr = await proc.stderr;
      assert.equal(status.code, run.code, `${run.args.join(" ")}: ${stderr}`);
      if (run.err) assert.match(stderr, run.err);
      if (run.out) {
        await waitFor(() => run.out.test(proc.lines.join("\n")), { what: "stdout" });
      }
    }));
  },
});

Deno.test({
  name: "interactive through a pipe: /create, chat both ways, roster changes, /who, errors, /quit",
  sanitizeResources: false,
  async fn() {
    await using server = await testServer();
    await using ann = cli([
      "--server",
      server.url,
      "--udp-port",
      String(server.udpPort),
      "--name",
      "Ann",
    ], { stdin: true });
    const seen = (pattern: RegExp, what: string) =>
      waitFor(() => ann.lines.find((l) => pattern.test(l)), { what, timeoutMs: 15_000 });

    await seen(/^No meetings\./, "the empty list");
    await ann.write("/join nosuch\n/frobnicate\n/create Standup\n");
    await seen(/^! not_found: no meeting with id "nosuch"/, "the join error");
    await seen(/^! usage: unknown command \/frobnicate/, "the usage error");
    const joined = await seen(/^Joined "Standup" \(id \w+\) as Ann; 0 others here\.$/, "joined");
    const meetingId = joined.match(/id (\w+)/)![1];
    await seen(/^Media over UDP to 127\.0\.0\.1:\d+/, "the media binding");

    const bob = await testClient(server, "Bob");
    try {
      await bob.request({ type: "join", meetingId });
      await seen(/^\[\d\d:\d\d\] \* Bob joined$/, "Bob's arrival");
      await ann.write("hello there\n");
      await seen(/^\[\d\d:\d\d\] Ann: hello there$/, "Ann's own line");
      await waitFor(() => bob.eventsOf("chat").find((e) => e.message.text === "hello there"), {
        what: "Bob gets Ann's line",
      });
      assert.equal(bob.eventsOf("chat")[0].message.name, "Ann");
      await bob.request({ type: "chat", text: "hi Ann \u001b[2J<b>bold</b>" });
      await seen(/^\[\d\d:\d\d\] Bob: hi Ann \ufffd\[2J<b>bold<\/b>$/, "Bob's line, as text");
      await bob.request({ type: "media", audio: true, video: false });
      await seen(/\* Bob: mic on, camera off$/, "Bob's mic");

      await ann.write("/who\n");
      const header = await seen(/^In "Standup" \(2\):$/, "the /who header");
      const at = ann.lines.indexOf(header);
      assert.deepEqual(ann.lines.slice(at + 1, at + 3), [
        "  Ann (you, host): mic off, camera off",
        "  Bob: mic on, camera off",
      ]);

      await ann.write("/quit\n");
      assert.equal((await ann.status).code, 0);
      assert.equal(ann.lines.at(-1), 'You left "Standup".');
      await waitFor(() => bob.eventsOf("roster").at(-1)?.participants.length === 1, {
        what: "Bob sees Ann leave",
      });
    } finally {
      bob.close();
    }
  },
});

Deno.test({
  name: "two terminal clients and a bot: chat, audio (mix-minus) and video flow every way over UDP",
  sanitizeResources: false,
  async fn() {
    await using server = await testServer();
    const ivf = await clip();
    const dir = await Deno.makeTempDir({ prefix: "meet-cli-media-" });
    const common = ["--server", server.wsUrl, "--udp-port", String(server.udpPort), "--json"];
    const files = (who: string) => [
      "--ivf",
      ivf,
      "--record-mix",
      join(dir, `${who}.wav`),
      "--record-video",
      join(dir, who),
      "--say",
      `hello from ${who}`,
      "--wait-for",
      "3",
      "--duration",
      "40", // a safety net: the test ends both with /quit
    ];
    await using ann = cli(
      [...common, "--name", "Ann", "--create", "Media", "--tone", "440", ...files("Ann")],
      { stdin: true },
    );
    const joined = await waitFor(() => ann.events().find((e) => e.event === "joined"), {
      what: "Ann's meeting",
      timeoutMs: 15_000,
    });
    const meetingId = joined.meetingId as string;
    const bot = await mediaBot(server, "Bot", meetingId);
    try {
      bot.startTone(880);
      await using bob = cli(
        [...common, "--name", "Bob", "--join", meetingId, "--tone", "660", ...files("Bob")],
        { stdin: true },
      );
      await waitFor(() => bob.events().find((e) => e.event === "media_bound"), {
        what: "Bob's media binding",
        timeoutMs: 15_000,
      });
      await bot.request({ type: "chat", text: "hello from Bot" });

      const chatsOf = (proc: CliProcess) =>
        proc.events().filter((e) => e.event === "chat").map((e) => `${e.name}: ${e.text}`);
      for (const [proc, others] of [[ann, ["Bob", "Bot"]], [bob, ["Ann", "Bot"]]] as const) {
        await waitFor(
          () => others.every((name) => chatsOf(proc).includes(`${name}: hello from ${name}`)),
          { what: `chat from ${others.join(" and ")}`, timeoutMs: 15_000 },
        );
      }
      await waitFor(() => {
        const texts = bot.events.flatMap((e) =>
          e.type === "chat" ? [`${e.message.name}: ${e.message.text}`] : []
        );
        return texts.includes("Ann: hello from Ann") && texts.includes("Bob: hello from Bob");
      }, { what: "the bot gets both clients' lines" });

      // Audio: the bot hears both tones for a whole second, and each client's recording holds
      // a second with the two others (checked again once the files are finished). Video:
      // each records the other's stream. A timeout says why.
      const explained = explainer({ Ann: ann, Bob: bob }, dir, server.udp.counters);
      await explained(
        waitFor(() => bot.tonePower(440, 1000) > HEARD && bot.tonePower(660, 1000) > HEARD, {
          what: "the bot hears 440 Hz (Ann) and 660 Hz (Bob)",
          timeoutMs: 15_000,
        }),
      );
      await explained(
        waitFor(
          async () =>
            await hears(join(dir, "Ann.wav"), [660, 880]) &&
            await hears(join(dir, "Bob.wav"), [440, 880]),
          {
            what: "a second of the others' tones in each client's recording",
            timeoutMs: 15_000,
            intervalMs: 250,
          },
        ),
      );
      const recorded = async (path: string) => {
        try {
          return parseIvf(await Deno.readFile(path)).frames.length >= 20;
        } catch {
          return false;
        }
      };
      await explained(waitFor(
        async () =>
          await recorded(join(dir, "Ann", "Bob.ivf")) &&
          await recorded(join(dir, "Bob", "Ann.ivf")),
        { what: "20 video frames recorded each way", timeoutMs: 15_000, intervalMs: 250 },
      ));
      // The roster shows the clients' media state; media came over UDP.
      const details = await (await fetch(`${server.url}api/meetings/${meetingId}`)).json();
      const state = Object.fromEntries(
        details.roster.map((p: ParticipantInfo) => [p.name, [p.audio, p.video, p.transport]]),
      );
      assert.deepEqual([state.Ann, state.Bob], [[true, true, "udp"], [true, true, "udp"]]);
      assert.ok(server.udp.counters.binds >= 2);
      assert.ok(server.udp.counters.received > 200, JSON.stringify(server.udp.counters));
      // A PLI for Ann's video reaches her client, which answers with a keyframe.
      const { writePli } = await import("../media/rtcp.ts");
      const annSsrc = details.roster.find((p: ParticipantInfo) => p.name === "Ann").videoSsrc;
      bot.sendRaw(writePli({ senderSsrc: bot.ssrcs.videoSsrc, mediaSsrc: annSsrc }));

      await ann.write("/quit\n");
      await bob.write("/quit\n");
      assert.equal((await ann.status).code, 0, await ann.stderr);
      assert.equal((await bob.status).code, 0, await bob.stderr);
      const statsOf = (proc: CliProcess) =>
        proc.events().find((e) => e.event === "stats")!.stats as Record<
          string,
          Record<string, number>
        >;
      const annStats = statsOf(ann);
      assert.ok(annStats.videoSent.keyframeRequests >= 1, JSON.stringify(annStats.videoSent));
      assert.equal(annStats.udp.sendErrors, 0);
      assert.ok(annStats.audioSent.packets >= 50, JSON.stringify(annStats.audioSent));
      assert.ok(annStats.mixReceived.decoded >= 50, JSON.stringify(annStats.mixReceived));

      // Each mix holds the others' tones, and never its own.
      const powers: Record<string, Record<number, number>> = {};
      for (const who of ["Ann", "Bob"]) {
        powers[who] = await tonePowers(join(dir, `${who}.wav`), [440, 660, 880]);
      }
      const report = JSON.stringify(powers);
      console.log("terminal clients + bot, best 1 s tone power:", report);
      assert.ok(powers.Ann[660] > HEARD && powers.Ann[880] > HEARD, `Ann's mix: ${report}`);
      assert.ok(powers.Ann[440] < ABSENT, `Ann hears herself: ${report}`);
      assert.ok(powers.Bob[440] > HEARD && powers.Bob[880] > HEARD, `Bob's mix: ${report}`);
      assert.ok(powers.Bob[660] < ABSENT, `Bob hears himself: ${report}`);

      // The recordings are valid VP8 IVF files that decode without an error.
      for (const path of [join(dir, "Ann", "Bob.ivf"), join(dir, "Bob", "Ann.ivf")]) {
        const { frames, width } = await ffprobeFrames(path);
        assert.ok(frames >= 20, `${path}: ${frames} frames`);
        assert.equal(width, 320);
        await decodesCleanly(path);
      }
      assert.deepEqual([...Deno.readDirSync(join(dir, "Ann"))].map((e) => e.name), ["Bob.ivf"]);
    } finally {
      bot.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "two terminal clients and a browser page: chat, audio and video flow every way",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await testServer();
    const ivf = await clip();
    const dir = await Deno.makeTempDir({ prefix: "meet-cli-browser-" });
    // The page's fake camera and microphone: a small busy picture and an 880 Hz tone.
    await using browser = await launchBrowser(await fakeCaptureFlags(dir));
    const common = ["--server", server.url, "--udp-port", String(server.udpPort), "--json"];
    const files = (who: string) => [
      "--ivf",
      ivf,
      "--record-mix",
      join(dir, `${who}.wav`),
      "--record-video",
      join(dir, who),
      "--say",
      `hello from ${who}`,
      "--wait-for",
      "3",
      "--duration",
      "50",
    ];
    try {
      await using ann = cli(
        [...common, "--name", "Ann", "--create", "Mixed", "--tone", "440", ...files("Ann")],
        { stdin: true },
      );
      const joined = await waitFor(() => ann.events().find((e) => e.event === "joined"), {
        what: "Ann's meeting",
        timeoutMs: 15_000,
      });
      const meetingId = joined.meetingId as string;
      const errors: string[] = [];
      const page = await (await browser.newContext()).newPage();
      page.setDefaultTimeout(15_000);
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`${server.url}m/${meetingId}?name=Cy`);
      await confirmJoin(page);
      await page.waitForSelector("[data-testid=room][data-joined=true]").catch(async (err) => {
        // Say what the page showed instead (it failed once in about 25 runs, unexplained).
        const alerts = await page.locator("[role=alert]").allInnerTexts().catch(() => []);
        const roster = server.hub.findRoom(meetingId)?.meeting.participants.map((p) => p.name);
        // Where it stopped: still the form (the click lost?), joining (no answer?), waiting.
        const shown = await page.evaluate(() => document.body.innerText.slice(0, 400))
          .catch(() => "");
        throw new Error(
          `${err.message}\npage alerts: ${JSON.stringify(alerts)}; errors: ${
            JSON.stringify(errors)
          }; seated: ${JSON.stringify(roster)}; the page shows: ${JSON.stringify(shown)}`,
        );
      });
      await using bob = cli(
        [...common, "--name", "Bob", "--join", meetingId, "--tone", "660", ...files("Bob")],
        { stdin: true },
      );
      const explained = explainer({ Ann: ann, Bob: bob }, dir, server.udp.counters);
      await page.locator("[data-testid=tile]").nth(2).waitFor();
      await page.fill("input[name=chat]", "hello from Cy");
      await page.press("input[name=chat]", "Enter");

      // Chat: the page shows both clients' lines; both clients print the page's.
      await page.getByText("hello from Ann").waitFor();
      await page.getByText("hello from Bob").waitFor();
      for (const [proc, others] of [[ann, ["Bob", "Cy"]], [bob, ["Ann", "Cy"]]] as const) {
        await waitFor(() => {
          const chats = proc.events().filter((e) => e.event === "chat").map((e) =>
            `${e.name}: ${e.text}`
          );
          return others.every((name) => chats.includes(`${name}: hello from ${name}`));
        }, { what: `chat from ${others.join(" and ")}`, timeoutMs: 15_000 });
      }

      // The page decodes both clients' video and plays their audio.
      const roster = (await (await fetch(`${server.url}api/meetings/${meetingId}`)).json())
        .roster as ParticipantInfo[];
      const idOf = (name: string) => roster.find((p) => p.name === name)!.id;
      const pageStats = () =>
        page.evaluate(() => {
          // deno-lint-ignore no-explicit-any
          const s = (globalThis as any).__meetStats;
          return s && !s.closed
            ? {
              frames: Object.fromEntries(
                Object.entries(s.participants).map((
                  // deno-lint-ignore no-explicit-any
                  [id, p]: [string, any],
                ) => [id, p.framesDecoded as number]),
              ),
              audibleMs: s.audio.audibleMs as number,
            }
            : null;
        });
      const audibleAtStart = (await pageStats())?.audibleMs ?? 0;
      await explained(waitFor(async () => {
        const s = await pageStats();
        return s && (s.frames[idOf("Ann")] ?? 0) >= 20 && (s.frames[idOf("Bob")] ?? 0) >= 20 &&
          s.audibleMs - audibleAtStart >= 1000;
      }, {
        what: "the page decodes 20 frames from each client and hears them",
        timeoutMs: 15_000,
        intervalMs: 200,
      }));

      // Each client's recording holds a second of the other's tone and of the page's, and
      // 20 frames of the page's video and of the other client's.
      await explained(waitFor(
        async () =>
          await hears(join(dir, "Ann.wav"), [660, 880]) &&
          await hears(join(dir, "Bob.wav"), [440, 880]),
        {
          what: "the others' tones in each client's recording",
          timeoutMs: 15_000,
          intervalMs: 250,
        },
      ));
      const framesOf = async (path: string) => {
        try {
          return parseIvf(await Deno.readFile(path)).frames.length;
        } catch {
          return 0;
        }
      };
      await explained(waitFor(
        async () =>
          await framesOf(join(dir, "Ann", "Cy.ivf")) >= 20 &&
          await framesOf(join(dir, "Bob", "Cy.ivf")) >= 20 &&
          await framesOf(join(dir, "Ann", "Bob.ivf")) >= 20 &&
          await framesOf(join(dir, "Bob", "Ann.ivf")) >= 20,
        {
          what: "20 frames of the page's and the other client's video recorded by each client",
          timeoutMs: 15_000,
          intervalMs: 250,
        },
      ));

      await ann.write("/quit\n");
      await bob.write("/quit\n");
      assert.equal((await ann.status).code, 0, await ann.stderr);
      assert.equal((await bob.status).code, 0, await bob.stderr);
      const figures: string[] = [];
      for (const [who, own, other] of [["Ann", 440, 660], ["Bob", 660, 440]] as const) {
        const powers = await tonePowers(join(dir, `${who}.wav`), [own, other, 880]);
        assert.ok(powers[own] < ABSENT, `${who} hears their own tone: ${JSON.stringify(powers)}`);
        assert.ok(powers[other] > HEARD && powers[880] > HEARD, JSON.stringify(powers));
        const frames: string[] = [];
        for (const sender of ["Cy", who === "Ann" ? "Bob" : "Ann"]) {
          const path = join(dir, who, `${sender}.ivf`);
          const probe = await ffprobeFrames(path);
          assert.ok(probe.frames >= 20, `${path}: ${probe.frames} frames`);
          await decodesCleanly(path);
          frames.push(`${probe.frames} frames of ${sender}`);
        }
        figures.push(
          `${who}: own ${own} Hz ${powers[own].toExponential(1)}, ${other} Hz ` +
            `${powers[other].toFixed(3)}, page 880 Hz ${powers[880].toFixed(3)}; ${
              frames.join(", ")
            }`,
        );
      }
      const page1 = (await pageStats().catch(() => null)) ?? null;
      console.log("terminal clients + page:", figures, page1?.frames);
      assert.deepEqual(errors, []);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("/stats prints a table: one figure a line, nested names dotted, text made safe", () => {
  const text = renderText({
    event: "stats",
    stats: { audio: { packetsSent: 1200, lossPercent: 0.4567 }, path: "relay\u001b[2J" },
  });
  assert.equal(
    text,
    [
      "Media counters:",
      "  audio.packetsSent  1200",
      "  audio.lossPercent  0.46",
      "  path               relay\ufffd[2J",
    ].join("\n"),
  );
  assert.equal(
    renderText({ event: "stats", stats: {} }),
    "Media counters: none (no media session).",
  );
});
