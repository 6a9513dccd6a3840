/**
 * Terminal clients peer to peer, then with a browser page on the relay. Run only inside a
 * private network namespace with just loopback (tests/cli_p2p_test.ts does:
 * `unshare -n sh -c 'ip link set lo up && ...'`), because the page runs WebRTC. Exits non-zero
 * on the first failed check and prints its figures as JSON on the last line.
 *
 * 1. Two terminal clients (real subprocesses) in one meeting go `p2p`: each switches to the
 *    direct path; once the server's forwarded counters have not moved for a full second,
 *    they stay flat while each client records a second of the other's tone and 30 of its
 *    video frames.
 * 2. A browser page joins: `relay`; the clients return to the server at once; all three see
 *    and hear each other, and the counters grow.
 * 3. The page leaves: `p2p` again, the clients go direct again and media keeps flowing.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { confirmJoin, launchBrowser } from "../support/browser.ts";
import {
  cli,
  clip,
  type CliProcess,
  fileSize,
  HEARD,
  ivfFrames,
  toneGaps,
  tonePowersFrom,
} from "../support/cli.ts";
import { fakeCaptureFlags } from "../support/ffmpeg.ts";
import { testServer } from "../support/server.ts";
import { waitFor, waitForSteady } from "../support/wait.ts";

const TIMEOUT = 20_000;
const TONES = { Ann: 440, Bob: 660, Cy: 880 } as const;

type Event = Record<string, unknown>;

function lastMode(proc: CliProcess): Event | undefined {
  return proc.events().findLast((e) => e.event === "mode");
}

async function forwarded(url: string, id: string): Promise<number> {
  const m = (await (await fetch(`${url}api/meetings/${id}`)).json()).media;
  return m.forwarded.video.packets + m.forwarded.audio.packets + m.forwarded.rtcp.packets;
}

/**
 * Waits until the forwarded counters have not changed for 2.5 s; returns them. The server tells
 * a video sender its bitrate again every 2 s while its video came within the last 2 s (a
 * sender that just went direct), so one quiet second was not the end: one more RTCP packet
 * came after it, now and then.
 */
function settled(url: string, id: string): Promise<number> {
  return waitForSteady(() => forwarded(url, id), 2_500, {
    what: "the relay counters to settle",
    timeoutMs: TIMEOUT,
  });
}

/** The last `stats` event after asking with `/stats`. */
async function stats(proc: CliProcess): Promise<Record<string, Record<string, unknown>>> {
  const before = proc.events().filter((e) => e.event === "stats").length;
  await proc.write("/stats\n");
  await waitFor(() => proc.events().filter((e) => e.event === "stats").length > before, {
    what: "stats",
  });
  return proc.events().findLast((e) => e.event === "stats")!.stats as Record<
    string,
    Record<string, unknown>
  >;
}

const figures: Record<string, unknown> = {};
const dir = await Deno.makeTempDir({ prefix: "meet-cli-p2p-" });
try {
  await using server = await testServer();
  const ivf = await clip();
  // The page's fake camera and microphone: a small busy picture and an 880 Hz tone.
  const captureFlags = await fakeCaptureFlags(dir);

  const common = ["--server", server.url, "--udp-port", String(server.udpPort), "--json"];
  const files = (who: "Ann" | "Bob") => [
    "--tone",
    String(TONES[who]),
    "--ivf",
    ivf,
    "--record-mix",
    join(dir, `${who}.wav`),
    "--record-video",
    join(dir, who),
    "--duration",
    "120", // a safety net: the scenario ends both with /quit
  ];
  const wav = (who: string) => join(dir, `${who}.wav`);
  const video = (who: string, of: string) => join(dir, who, `${of}.ivf`);

  await using ann = cli([...common, "--name", "Ann", "--create", "P2P", ...files("Ann")], {
    stdin: true,
  });
  const joined = await waitFor(() => ann.events().find((e) => e.event === "joined"), {
    what: "Ann's meeting",
    timeoutMs: TIMEOUT,
  });
  assert.equal(joined.mode, "relay");
  const meetingId = joined.meetingId as string;
  await waitFor(() => ann.events().find((e) => e.event === "media_bound"), {
    what: "Ann's media",
    timeoutMs: TIMEOUT,
  });

  // 1. Bob joins: P2P, both go direct.
  const t0 = performance.now();
  await using bob = cli([...common, "--name", "Bob", "--join", meetingId, ...files("Bob")], {
    stdin: true,
  });
  const clients = { Ann: ann, Bob: bob };
  for (const [who, proc] of Object.entries(clients)) {
    await waitFor(() => lastMode(proc)?.path === "p2p", {
      what: `${who} on the direct path`,
      timeoutMs: TIMEOUT,
    });
  }
  figures.directAfterJoinMs = Math.round(performance.now() - t0);
  figures.probeToDirectMs = Object.fromEntries(
    Object.entries(clients).map(([who, p]) => [who, lastMode(p)!.switchMs]),
  );
  // Each client told the server, whose roster shows both on the direct path.
  await waitFor(async () => {
    const roster = (await (await fetch(`${server.url}api/meetings/${meetingId}`)).json()).roster;
    return roster.every((p: { transport: string }) => p.transport === "p2p");
  }, { what: "the roster to show both on p2p", timeoutMs: TIMEOUT, intervalMs: 100 });
  const peerOf = (proc: CliProcess) => lastMode(proc)!.peer as Record<string, string>;
  assert.equal(peerOf(ann).name, "Bob");
  assert.equal(peerOf(bob).name, "Ann");

  const flatFrom = await settled(server.url, meetingId);
  figures.settledAfterJoinMs = Math.round(performance.now() - t0);
  const mark = {
    Ann: { wav: await fileSize(wav("Ann")), frames: await ivfFrames(video("Ann", "Bob")) },
    Bob: { wav: await fileSize(wav("Bob")), frames: await ivfFrames(video("Bob", "Ann")) },
  };
  const p2pStart = performance.now();
  await waitFor(async () => {
    for (const [who, other] of [["Ann", "Bob"], ["Bob", "Ann"]] as const) {
      const powers = await tonePowersFrom(wav(who), mark[who].wav, [TONES[other]]);
      if (!(powers[TONES[other]] > HEARD)) return false;
      if (await ivfFrames(video(who, other)) < mark[who].frames + 30) return false;
    }
    return true;
  }, {
    what: "a second of each other's tone and 30 frames of video over P2P",
    timeoutMs: TIMEOUT,
    intervalMs: 250,
  });
  const flatTo = await forwarded(server.url, meetingId);
  figures.p2pWindowMs = Math.round(performance.now() - p2pStart);
  figures.forwardedDuringP2p = flatTo - flatFrom;
  assert.equal(flatTo, flatFrom, "the server forwarded media in P2P mode");
  const p2pStats = { Ann: await stats(ann), Bob: await stats(bob) };
  for (const [who, s] of Object.entries(p2pStats)) {
    assert.equal(s.path.kind, "p2p", `${who}: ${JSON.stringify(s.path)}`);
    assert.ok((s.udp.peerPacketsReceived as number) > 100, `${who}: ${JSON.stringify(s.udp)}`);
    assert.ok((s.path.plisAfterSwitch as number) >= 1, `${who}: ${JSON.stringify(s.path)}`);
  }
  figures.p2pPowers = {
    Ann: (await tonePowersFrom(wav("Ann"), mark.Ann.wav, [440, 660]))[660].toFixed(3),
    Bob: (await tonePowersFrom(wav("Bob"), mark.Bob.wav, [440, 660]))[440].toFixed(3),
  };
  figures.p2pFrames = {
    Ann: (await ivfFrames(video("Ann", "Bob"))) - mark.Ann.frames,
    Bob: (await ivfFrames(video("Bob", "Ann"))) - mark.Bob.frames,
  };

  // 2. A browser page joins: relay for everyone, everyone sees and hears everyone.
  await using browser = await launchBrowser(captureFlags);
  const errors: string[] = [];
  const page: Page = await (await browser.newContext()).newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on("pageerror", (e) => errors.push(e.message));
  const t1 = performance.now();
  await page.goto(`${server.url}m/${meetingId}?name=Cy`);
  await confirmJoin(page);
  await page.waitForSelector("[data-testid=room][data-joined=true]");
  for (const [who, proc] of Object.entries(clients)) {
    await waitFor(() => lastMode(proc)?.mode === "relay" && lastMode(proc)?.path === "relay", {
      what: `${who} back on the relay`,
      timeoutMs: TIMEOUT,
    });
  }
  figures.relayAfterPageJoinMs = Math.round(performance.now() - t1);
  const relayFrom = await forwarded(server.url, meetingId);
  const relayMark = {
    Ann: {
      wav: await fileSize(wav("Ann")),
      bob: await ivfFrames(video("Ann", "Bob")),
    },
    Bob: {
      wav: await fileSize(wav("Bob")),
      ann: await ivfFrames(video("Bob", "Ann")),
    },
  };
  const roster = (await (await fetch(`${server.url}api/meetings/${meetingId}`)).json()).roster;
  const idOf = (name: string) => roster.find((p: { name: string }) => p.name === name).id;
  const pageStats = () =>
    page.evaluate(() => {
      // deno-lint-ignore no-explicit-any
      const s = (globalThis as any).__meetStats;
      if (!s || s.closed) return null;
      const frames: Record<string, number> = {};
      for (const [id, p] of Object.entries(s.participants ?? {})) {
        frames[id] = (p as { framesDecoded: number }).framesDecoded;
      }
      return { frames, audibleMs: (s.audio?.audibleMs ?? 0) as number };
    });
  const pageAt = await pageStats();
  await waitFor(async () => {
    const s = await pageStats();
    return s && (s.frames[idOf("Ann")] ?? 0) >= 20 && (s.frames[idOf("Bob")] ?? 0) >= 20 &&
      s.audibleMs - (pageAt?.audibleMs ?? 0) >= 1000;
  }, { what: "the page decodes and hears both clients", timeoutMs: TIMEOUT, intervalMs: 200 });
  // What is missing is thrown, so that a timeout says which client lacked what.
  await waitFor(async () => {
    for (const [who, other] of [["Ann", "Bob"], ["Bob", "Ann"]] as const) {
      const powers = await tonePowersFrom(wav(who), relayMark[who].wav, [TONES[other], 880]);
      if (!(powers[TONES[other]] > HEARD && powers[880] > HEARD)) {
        throw new Error(`${who} hears too little: ${JSON.stringify(powers)}`);
      }
      const fromCy = await ivfFrames(video(who, "Cy"));
      if (fromCy < 20) throw new Error(`${who} recorded ${fromCy} frames of Cy`);
      const otherFrames = who === "Ann" ? relayMark.Ann.bob : relayMark.Bob.ann;
      const fromOther = await ivfFrames(video(who, other)) - otherFrames;
      if (fromOther < 20) throw new Error(`${who} recorded ${fromOther} frames of ${other}`);
    }
    return true;
  }, {
    what: "each client hears the other and the page, and records both videos, on the relay",
    timeoutMs: TIMEOUT,
    intervalMs: 250,
  });
  const relayTo = await forwarded(server.url, meetingId);
  figures.forwardedOnRelay = relayTo - relayFrom;
  assert.ok(relayTo > relayFrom + 100, `the relay forwarded only ${relayTo - relayFrom}`);
  figures.relayPowers = {
    Ann: await tonePowersFrom(wav("Ann"), relayMark.Ann.wav, [660, 880]),
    Bob: await tonePowersFrom(wav("Bob"), relayMark.Bob.wav, [440, 880]),
  };

  // 3. The page leaves: P2P again, direct again, and media keeps flowing.
  const t2 = performance.now();
  await page.click("text=Leave");
  for (const [who, proc] of Object.entries(clients)) {
    await waitFor(() => lastMode(proc)?.path === "p2p", {
      what: `${who} direct again`,
      timeoutMs: TIMEOUT,
    });
  }
  figures.directAgainMs = Math.round(performance.now() - t2);
  const directAgainAt = { Ann: await fileSize(wav("Ann")), Bob: await fileSize(wav("Bob")) };
  const againMark = {
    Ann: await ivfFrames(video("Ann", "Bob")),
    Bob: await ivfFrames(video("Bob", "Ann")),
  };
  const t3 = performance.now();
  await waitFor(
    async () =>
      await ivfFrames(video("Ann", "Bob")) > againMark.Ann &&
      await ivfFrames(video("Bob", "Ann")) > againMark.Bob,
    { what: "video continues after going direct again", timeoutMs: TIMEOUT, intervalMs: 20 },
  );
  figures.firstFrameAfterDirectAgainMs = Math.round(performance.now() - t3);
  await waitFor(
    async () =>
      await ivfFrames(video("Ann", "Bob")) >= againMark.Ann + 15 &&
      await ivfFrames(video("Bob", "Ann")) >= againMark.Bob + 15,
    { what: "15 more frames each way", timeoutMs: TIMEOUT, intervalMs: 100 },
  );
  figures.fifteenFramesAfterDirectAgainMs = Math.round(performance.now() - t3);

  const end = { Ann: await fileSize(wav("Ann")), Bob: await fileSize(wav("Bob")) };
  await ann.write("/quit\n");
  await bob.write("/quit\n");
  for (const [who, proc] of Object.entries(clients)) {
    assert.equal((await proc.status).code, 0, `${who}: ${await proc.stderr}`);
    const final = proc.events().findLast((e) => e.event === "stats")!.stats as Record<
      string,
      Record<string, number>
    >;
    assert.equal(final.udp.sendErrors, 0, `${who}: ${JSON.stringify(final.udp)}`);
    figures[`${who}Path`] = final.path;
    const modes = proc.events().filter((e) => e.event === "mode").map((e) => `${e.mode}/${e.path}`);
    figures[`${who}Modes`] = modes;
  }
  // Across the switches (to relay, to direct again) the other's tone never drops out for
  // long: media kept flowing. (Positions in ms of recording after the P2P baseline.)
  const gaps: Record<string, unknown> = {};
  const msAfterMark = (who: "Ann" | "Bob", bytes: number) =>
    Math.round((bytes - mark[who].wav) / 96);
  for (const [who, other] of [["Ann", "Bob"], ["Bob", "Ann"]] as const) {
    const g = await toneGaps(wav(who), mark[who].wav, end[who], TONES[other]);
    gaps[who] = {
      ...g,
      relayAtMs: msAfterMark(who, relayMark[who].wav),
      directAgainAtMs: msAfterMark(who, directAgainAt[who]),
    };
    assert.ok(
      g.longestMs <= 1_000,
      `${who} lost ${other}'s tone for ${g.longestMs} ms: ${JSON.stringify(gaps[who])}`,
    );
  }
  figures.toneGaps = gaps;
  assert.deepEqual(errors, []);
} finally {
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
console.log(JSON.stringify(figures));
// Figures are out and every check passed: end here, whatever handle a library left open (a
// run once stayed alive after this point, idle, until it was stopped).
Deno.exit(0);
