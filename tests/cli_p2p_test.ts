/**
 * The terminal client peer to peer and across a dropped control connection, as real
 * subprocesses against a real server, media over real UDP:
 *
 * - two clients go P2P (server counters flat while each records the other's tone and video),
 *   then a browser page joins and everyone is on the relay, then it leaves and they go direct
 *   again; the scenario (tests/webrtc/cli_p2p_scenario.ts) runs in its own network namespace
 *   with only loopback (`unshare -n`), because the page runs WebRTC;
 * - with `--p2p off` (server) or `--no-p2p` (client), two clients stay on the relay;
 * - a peer that never answers the probes: media stays on the relay, and after 5 s the client
 *   reports `p2p_failed` and the meeting goes relay;
 * - a client whose control connection is cut (a TCP proxy the test closes and holds shut)
 *   keeps its seat: it reconnects with its token, the same participant id and name, the
 *   other sees no leave or join, media keeps flowing and chat flows both ways again;
 * - the pure parts: the path's probe state machine, the mode lines, the flag.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  cli,
  clip,
  type CliProcess,
  fileSize,
  HEARD,
  ivfFrames,
  tonePowersFrom,
} from "./support/cli.ts";
import { FlagError, parseFlags } from "../cli/flags.ts";
import { renderText } from "../cli/output.ts";
import { MediaPath, type PathLink } from "../cli/media_path.ts";
import { udpBindRequest } from "../protocol/media.ts";
import { runInLoopbackNamespace } from "./support/netns.ts";
import { testClient, testServer } from "./support/server.ts";
import { tcpProxy } from "./support/tcp_proxy.ts";
import { waitFor } from "./support/wait.ts";

const TIMEOUT = 20_000;

type Event = Record<string, unknown>;

async function meeting(url: string, id: string) {
  return await (await fetch(`${url}api/meetings/${id}`)).json();
}

async function forwarded(url: string, id: string): Promise<number> {
  const f = (await meeting(url, id)).media.forwarded;
  return f.video.packets + f.audio.packets + f.rtcp.packets;
}

function eventsOf(proc: CliProcess, event: string): Event[] {
  return proc.events().filter((e) => e.event === event);
}

function waitEvent(proc: CliProcess, what: string, match: (e: Event) => boolean): Promise<Event> {
  return waitFor(() => proc.events().find(match), { what, timeoutMs: TIMEOUT });
}

/** Resolves once a second of `freq` is in what `path` recorded after byte `from`. */
function hearsFrom(
  path: string,
  from: number,
  freq: number,
  what: string,
  timeoutMs = TIMEOUT,
): Promise<boolean> {
  return waitFor(async () => {
    try {
      return (await tonePowersFrom(path, from, [freq]))[freq] > HEARD;
    } catch {
      return false;
    }
  }, { what, timeoutMs, intervalMs: 100 });
}

Deno.test({
  name:
    "terminal clients P2P: direct with the server's counters flat, relay with a browser page, direct again (own network namespace)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { figures } = await runInLoopbackNamespace(
      new URL("./webrtc/cli_p2p_scenario.ts", import.meta.url),
      "the terminal-client P2P scenario",
    );
    console.log("terminal-client P2P figures:", JSON.stringify(figures));
    assert.equal(figures.forwardedDuringP2p, 0);
    assert.ok((figures.forwardedOnRelay as number) > 100);
  },
});

for (
  const [name, serverOptions, flags] of [
    ["the server runs with --p2p off", { p2p: "off" as const }, [[], []]],
    ["one client runs with --no-p2p", {}, [[], ["--no-p2p"]]],
  ] as const
) {
  Deno.test({
    name: `terminal clients stay on the relay when ${name}`,
    sanitizeResources: false,
    async fn() {
      await using server = await testServer(serverOptions);
      const ivf = await clip();
      const dir = await Deno.makeTempDir({ prefix: "meet-cli-relay-" });
      try {
        const common = ["--server", server.url, "--udp-port", String(server.udpPort), "--json"];
        const media = (who: string, tone: number) => [
          "--tone",
          String(tone),
          "--ivf",
          ivf,
          "--record-mix",
          join(dir, `${who}.wav`),
          "--record-video",
          join(dir, who),
          "--duration",
          "60",
        ];
        await using ann = cli(
          [...common, "--name", "Ann", "--create", "Relay", ...media("Ann", 440), ...flags[0]],
          { stdin: true },
        );
        const joined = await waitEvent(ann, "Ann's meeting", (e) => e.event === "joined");
        const meetingId = joined.meetingId as string;
        await using bob = cli(
          [...common, "--name", "Bob", "--join", meetingId, ...media("Bob", 660), ...flags[1]],
          { stdin: true },
        );
        const bobJoined = await waitEvent(bob, "Bob joined", (e) => e.event === "joined");
        assert.equal(bobJoined.mode, "relay");
        const before = await forwarded(server.url, meetingId);
        await hearsFrom(join(dir, "Ann.wav"), 0, 660, "Ann hears Bob");
        await hearsFrom(join(dir, "Bob.wav"), 0, 440, "Bob hears Ann");
        await waitFor(
          async () =>
            await ivfFrames(join(dir, "Ann", "Bob.ivf")) >= 20 &&
            await ivfFrames(join(dir, "Bob", "Ann.ivf")) >= 20,
          { what: "20 frames each way", timeoutMs: TIMEOUT, intervalMs: 100 },
        );
        const after = await forwarded(server.url, meetingId);
        assert.ok(after > before + 100, `the relay forwarded only ${after - before} packets`);
        assert.equal((await meeting(server.url, meetingId)).mode, "relay");
        await ann.write("/quit\n");
        await bob.write("/quit\n");
        for (const proc of [ann, bob]) {
          assert.equal((await proc.status).code, 0, await proc.stderr);
          assert.deepEqual(eventsOf(proc, "mode").filter((e) => e.mode === "p2p"), []);
          const stats = eventsOf(proc, "stats").at(-1)!.stats as Record<
            string,
            Record<string, unknown>
          >;
          assert.equal(stats.path.kind, "relay");
          assert.equal(stats.udp.peerPacketsSent, 0, JSON.stringify(stats.udp));
          assert.equal(stats.path.probesSent, 0, JSON.stringify(stats.path));
        }
        console.log(`${name}: ${after - before} packets forwarded while checking`);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

for (const p2p of [true, false]) {
  Deno.test({
    name: `a terminal client's control connection is cut (${
      p2p ? "P2P" : "relay"
    }): it reconnects into the same seat, the other sees no leave or join, media and chat flow`,
    sanitizeResources: false,
    async fn() {
      await using server = await testServer();
      await using proxy = await tcpProxy(server.port);
      const dir = await Deno.makeTempDir({ prefix: "meet-cli-cut-" });
      try {
        const common = ["--udp-port", String(server.udpPort), "--json", "--duration", "60"];
        const noP2p = p2p ? [] : ["--no-p2p"];
        const annWav = join(dir, "Ann.wav");
        const bobWav = join(dir, "Bob.wav");
        // Ann talks to the server through the proxy; Bob directly.
        await using ann = cli([
          ...common,
          ...noP2p,
          "--server",
          `http://127.0.0.1:${proxy.port}`,
          "--name",
          "Ann",
          "--create",
          "Cut",
          "--tone",
          "440",
          "--record-mix",
          annWav,
        ], { stdin: true });
        const joined = await waitEvent(ann, "Ann's meeting", (e) => e.event === "joined");
        const meetingId = joined.meetingId as string;
        const annId = joined.participantId as string;
        await using bob = cli([
          ...common,
          ...noP2p,
          "--server",
          server.url,
          "--name",
          "Bob",
          "--join",
          meetingId,
          "--tone",
          "660",
          "--record-mix",
          bobWav,
        ], { stdin: true });
        const path = p2p ? "p2p" : "relay";
        for (const [who, proc] of [["Ann", ann], ["Bob", bob]] as const) {
          await waitEvent(proc, `${who}'s media`, (e) => e.event === "media_bound");
          if (p2p) {
            await waitEvent(proc, `${who} direct`, (e) => e.event === "mode" && e.path === path);
          }
        }
        await hearsFrom(bobWav, 0, 440, "Bob hears Ann before the cut");
        await hearsFrom(annWav, 0, 660, "Ann hears Bob before the cut");

        // The cut: every connection through the proxy closes, and new ones are refused
        // until the server has seen the seat lose its connection.
        proxy.refuse(true);
        const cutAt = performance.now();
        const bobMark = await fileSize(bobWav);
        proxy.cut();
        await waitEvent(ann, "Ann notices", (e) => e.event === "disconnected");
        await waitEvent(
          bob,
          "Bob sees Ann reconnecting",
          (e) => e.event === "participant" && e.change === "reconnecting" && e.id === annId,
        );
        const held = (await meeting(server.url, meetingId)).roster.find((
          p: { id: string },
        ) => p.id === annId);
        assert.equal(held?.connected, false);
        // While Ann's control connection is away, her media still reaches Bob (UDP), at once:
        // well before her next keepalive bind (15 s) could have bound it again.
        await hearsFrom(bobWav, bobMark, 440, "Bob hears Ann while her connection is cut", 5_000);
        // Bob says something Ann cannot get now: she shows it once she is back.
        await bob.write("while you were away\n");
        await waitEvent(bob, "Bob's line", (e) => e.event === "chat" && e.name === "Bob");
        const outageMs = Math.round(performance.now() - cutAt);
        proxy.refuse(false);
        const back = await waitEvent(ann, "Ann reconnects", (e) => e.event === "reconnected");
        const reconnectMs = Math.round(performance.now() - cutAt - outageMs);
        assert.equal(back.participantId, annId);
        assert.equal(back.name, "Ann");
        await waitEvent(
          bob,
          "Bob sees Ann back",
          (e) => e.event === "participant" && e.change === "back" && e.id === annId,
        );

        await waitEvent(
          ann,
          "the line said while Ann was away",
          (e) => e.event === "chat" && e.text === "while you were away",
        );
        // Chat both ways after the reconnect.
        await ann.write("still here\n");
        await bob.write("welcome back\n");
        const chats = (proc: CliProcess) =>
          eventsOf(proc, "chat").map((e) => `${e.name}: ${e.text}`);
        for (const [who, proc] of [["Ann", ann], ["Bob", bob]] as const) {
          await waitFor(
            () =>
              chats(proc).includes("Ann: still here") && chats(proc).includes("Bob: welcome back"),
            { what: `${who} gets both lines`, timeoutMs: TIMEOUT },
          );
        }
        // Media after the reconnect, both ways.
        const annMark = await fileSize(annWav);
        const bobMark2 = await fileSize(bobWav);
        await hearsFrom(annWav, annMark, 660, "Ann hears Bob after the reconnect");
        await hearsFrom(bobWav, bobMark2, 440, "Bob hears Ann after the reconnect");

        // Every line once: none repeated by the reconnect.
        for (const [who, proc] of [["Ann", ann], ["Bob", bob]] as const) {
          const lines = chats(proc);
          assert.equal(new Set(lines).size, lines.length, `${who}: ${lines}`);
          assert.equal(lines.length, 3, `${who}: ${lines}`);
        }
        // Nobody saw a leave or a (second) join; the records agree.
        const annChanges = eventsOf(bob, "participant").filter((e) => e.id === annId).map((e) =>
          e.change
        );
        assert.deepEqual(annChanges, ["reconnecting", "back"]);
        assert.deepEqual(
          eventsOf(ann, "participant").filter((e) => e.change === "left" || e.change === "joined")
            .map((e) => `${e.change} ${e.name}`),
          ["joined Bob"],
        );
        const history = await (await fetch(`${server.url}api/meetings/${meetingId}/history`))
          .json();
        const annRecords = history.events.filter((e: { participantId?: string }) =>
          e.participantId === annId
        ).map((e: { type: string }) => e.type);
        assert.equal(annRecords.filter((t: string) => t === "joined").length, 1, annRecords);
        assert.equal(annRecords.filter((t: string) => t === "left").length, 0, annRecords);
        const details = await meeting(server.url, meetingId);
        assert.deepEqual(
          details.roster.map((p: { id: string; name: string; connected: boolean }) =>
            `${p.id === annId ? "ann" : p.name} ${p.connected}`
          ).sort(),
          ["Bob true", "ann true"],
        );

        // In P2P, Ann's path settles on direct again: a reconnect may pass through the relay
        // while the peers probe each other again.
        if (p2p) {
          await waitFor(() => eventsOf(ann, "mode").at(-1)?.path === path, {
            what: "Ann's path direct again",
            timeoutMs: TIMEOUT,
          });
        }
        // Ann quits first and takes her last figures while Bob is still in: once Bob has left,
        // the meeting is relay again and so is her path.
        await ann.write("/quit\n");
        assert.equal((await ann.status).code, 0, await ann.stderr);
        await bob.write("/quit\n");
        assert.equal((await bob.status).code, 0, await bob.stderr);
        const annStats = eventsOf(ann, "stats").at(-1)!.stats as Record<
          string,
          Record<string, unknown>
        >;
        assert.equal(annStats.path.kind, path);
        console.log(
          `${p2p ? "P2P" : "relay"}: ${proxy.cuts} connections cut, outage held ${outageMs} ms, ` +
            `reconnected ${reconnectMs} ms after letting through; Ann's path ` +
            JSON.stringify(annStats.path),
        );
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

Deno.test("MediaPath: relay until the peer answers a probe, direct after; failure reported; relay at once", async () => {
  const sent: string[] = [];
  let peer: string | null = null;
  const link: PathLink = {
    send: (b) => void sent.push(`server ${new TextDecoder().decode(b)}`),
    sendToPeer: (b) => {
      if (!peer) return false;
      sent.push(`peer ${new TextDecoder().decode(b)}`);
      return true;
    },
    setPeer: (p) => void (peer = p ? `${p.ip}:${p.port}` : null),
  };
  const switches: string[] = [];
  let failures = 0;
  const path = new MediaPath({
    link,
    onSwitch: (kind) => switches.push(kind),
    reportFailure: () => failures++,
    probeIntervalMs: 10,
    failAfterMs: 200,
    drainMs: 20,
  });
  try {
    const media = new TextEncoder().encode("rtp");
    path.send(media);
    assert.deepEqual(sent, ["server rtp"]);
    // P2P, but no peer yet: still the relay, nothing probed.
    path.setMode("p2p");
    path.send(media);
    assert.equal(sent.at(-1), "server rtp");
    // The peer: probes go to it, media still to the server.
    path.setPeer({ participantId: "b", ip: "127.0.0.1", port: 4000 });
    assert.equal(peer, "127.0.0.1:4000");
    const probe = sent.at(-1)!;
    assert.match(probe, /^peer MEET-PROBE [0-9a-f]{16}$/);
    path.send(media);
    assert.equal(sent.at(-1), "server rtp");
    await waitFor(() => path.stats.probesSent >= 3, { what: "probes repeat" });
    // A wrong answer changes nothing; the right one switches to direct.
    path.handleControl("MEET-PROBE-ACK 0000");
    assert.equal(path.kind, "relay");
    path.handleControl(`MEET-PROBE-ACK ${probe.slice("peer MEET-PROBE ".length)}`);
    assert.equal(path.kind, "p2p");
    assert.deepEqual(switches, ["p2p"]);
    path.send(media);
    assert.equal(sent.at(-1), "peer rtp");
    // The peer's probes are answered with their nonce.
    path.handleControl("MEET-PROBE abc");
    assert.equal(sent.at(-1), "peer MEET-PROBE-ACK abc");
    // Relay: back to the server at once; the peer's address is dropped after the drain.
    path.setMode("relay");
    assert.deepEqual(switches, ["p2p", "relay"]);
    path.send(media);
    assert.equal(sent.at(-1), "server rtp");
    path.handleControl("MEET-PROBE abc"); // not answered on the relay
    assert.equal(sent.at(-1), "server rtp");
    await waitFor(() => peer === null, { what: "the drain" });
    // P2P again with a peer that never answers: the failure is reported once.
    path.setMode("p2p");
    path.setPeer({ participantId: "b", ip: "127.0.0.1", port: 4001 });
    await waitFor(() => failures === 1, { what: "the failure report" });
    assert.equal(path.kind, "relay");
    assert.equal(path.probing, false, "probing goes on after the failure");
    // Media straight from the peer while probing proves the path too.
    path.setPeer({ participantId: "b", ip: "127.0.0.1", port: 4002 });
    path.peerMedia();
    assert.equal(path.kind, "p2p");
  } finally {
    path.close();
  }
});

Deno.test("mode events as text: relay, probing, direct; /who shows the path", () => {
  const base = { event: "mode" as const, meetingId: "m" };
  const peer = { participantId: "b", name: "Bob", address: "127.0.0.1:4000" };
  assert.match(
    renderText({ ...base, mode: "p2p", path: "relay", peer })!,
    /Mode: P2P; trying the direct path to Bob at 127\.0\.0\.1:4000, media through the server/,
  );
  assert.match(
    renderText({ ...base, mode: "p2p", path: "p2p", peer, switchMs: 3 })!,
    /Mode: P2P; media goes directly to Bob at 127\.0\.0\.1:4000 \(direct path up in 3 ms\)\.$/,
  );
  assert.match(
    renderText({ ...base, mode: "relay", path: "relay", peer: null })!,
    /Mode: relay; media goes through the server\.$/,
  );
  const who = renderText({
    event: "roster",
    meetingId: "m",
    title: "T",
    self: "a",
    participants: [],
    mode: "p2p",
    path: "p2p",
  })!;
  assert.equal(who.split("\n").at(-1), "  media: peer to peer, direct");
});

Deno.test({
  name:
    "a peer that never answers the probes: media stays on the relay, p2p_failed after 5 s, the meeting goes relay",
  sanitizeResources: false,
  async fn() {
    await using server = await testServer();
    await using ann = cli([
      "--server",
      server.url,
      "--udp-port",
      String(server.udpPort),
      "--json",
      "--name",
      "Ann",
      "--create",
      "Silent peer",
      "--tone",
      "440",
      "--duration",
      "60",
    ], { stdin: true });
    const joined = await waitEvent(ann, "Ann's meeting", (e) => e.event === "joined");
    const meetingId = joined.meetingId as string;
    await waitEvent(ann, "Ann's media", (e) => e.event === "media_bound");
    // Bob: a control connection offering P2P over UDP, and a bound socket that never answers.
    const bob = await testClient(server, "Bob");
    const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const serverAddr = { transport: "udp" as const, hostname: "127.0.0.1", port: server.udpPort };
    const fromServer: Uint8Array[] = [];
    const fromAnn: string[] = [];
    let annAddress = "";
    let bobKey = "";
    let renewal: ReturnType<typeof setTimeout> | undefined;
    const receiving = (async () => {
      for (;;) {
        const [bytes, from] = await socket.receive();
        const addr = from as Deno.NetAddr;
        if (addr.port === server.udpPort && bytes[0] === 0x4d) {
          // The bind handshake: echo the server's nonce (renewed every 2 s while bound).
          const [kind, a, b] = new TextDecoder().decode(bytes).split(" ");
          const nonce = kind === "MEET-CHECK" ? a : kind === "MEET-BOUND" ? b : undefined;
          if (!nonce) continue;
          const echo = udpBindRequest(bobKey, meetingId, nonce);
          if (kind === "MEET-CHECK") await socket.send(echo, serverAddr);
          else renewal = setTimeout(() => socket.send(echo, serverAddr).catch(() => {}), 2_000);
        } else if (addr.port === server.udpPort) fromServer.push(bytes);
        else if (`${addr.hostname}:${addr.port}` === annAddress) {
          fromAnn.push(new TextDecoder().decode(bytes.subarray(0, 40)));
        }
      }
    })().catch(() => {});
    try {
      const bobJoin = await bob.request({ type: "join", meetingId, p2p: "udp" });
      bobKey = bobJoin.media.mediaKey;
      await socket.send(udpBindRequest(bobKey, meetingId), serverAddr);
      const peer = await waitFor(() => bob.eventsOf("peer")[0], { what: "Ann's address" });
      annAddress = `${peer.ip}:${peer.port}`;
      const t0 = performance.now();
      await waitEvent(ann, "Ann probing", (e) => e.event === "mode" && e.mode === "p2p");
      await waitFor(() => fromAnn.filter((t) => t.startsWith("MEET-PROBE ")).length >= 5, {
        what: "Ann's probes at Bob's observed address",
        timeoutMs: TIMEOUT,
      });
      // Meanwhile Ann's voice reaches Bob through the server's mix.
      const mixPackets = () =>
        fromServer.filter((b) => b[0] >> 6 === 2 && (b[1] & 0x7f) === 111).length;
      await waitFor(() => mixPackets() >= 20, { what: "the mix through the relay" });
      assert.ok(fromAnn.every((t) => t.startsWith("MEET-PROBE ")), "Ann sent media directly");
      await waitEvent(ann, "Ann's failure report", (e) =>
        e.event === "error" &&
        e.code === "p2p_failed");
      const failedAfterMs = Math.round(performance.now() - t0);
      await waitFor(() => bob.eventsOf("mode").at(-1)?.mode === "relay", {
        what: "the meeting back on the relay",
        timeoutMs: TIMEOUT,
      });
      assert.equal((await meeting(server.url, meetingId)).mode, "relay");
      await waitEvent(ann, "Ann on the relay", (e) => e.event === "mode" && e.mode === "relay");
      const probes = fromAnn.length;
      await ann.write("/quit\n");
      assert.equal((await ann.status).code, 0, await ann.stderr);
      const stats = eventsOf(ann, "stats").at(-1)!.stats as Record<string, Record<string, number>>;
      assert.equal(stats.path.failures, 1, JSON.stringify(stats.path));
      assert.equal(stats.path.kind as unknown, "relay");
      assert.equal(stats.udp.peerPacketsSent, stats.path.probesSent, JSON.stringify(stats));
      console.log(
        `silent peer: ${probes} probes, failure reported ${failedAfterMs} ms after the peer ` +
          `address; ${mixPackets()} mix packets reached the peer through the relay`,
      );
    } finally {
      clearTimeout(renewal);
      socket.close();
      await receiving;
      bob.close();
    }
  },
});

Deno.test("flags: P2P is offered unless --no-p2p", () => {
  assert.equal(parseFlags([]).p2p, true);
  assert.equal(parseFlags(["--no-p2p", "--join", "x"]).p2p, false);
  assert.throws(() => parseFlags(["--no-p2p=yes"]), FlagError);
});
