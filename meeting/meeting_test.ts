import assert from "node:assert/strict";
import { ManualClock } from "../util/clock.ts";
import { MeetingError } from "./errors.ts";
import {
  type CloseReason,
  type LeaveReason,
  MAX_REMOVE_REASON,
  MAX_WAITING,
  REACTION_INTERVAL_MS,
} from "./meeting.ts";
import { MeetingRegistry } from "./registry.ts";

function setup(options: { idleTimeoutMs?: number; graceMs?: number } = {}) {
  const clock = new ManualClock(1_700_000_000_000);
  const registry = new MeetingRegistry({
    clock,
    idleTimeoutMs: 60_000,
    graceMs: 30_000,
    ...options,
  });
  const log: string[] = [];
  registry.on("created", (m) => {
    log.push(`created ${m.title}`);
    m.on("joined", (p) => log.push(`joined ${p.name}`));
    m.on("left", (p, why: LeaveReason) => log.push(`left ${p.name} ${why}`));
    m.on("presence", (p) => log.push(`presence ${p.name} ${p.connected}`));
    m.on("closed", (why: CloseReason) => log.push(`closed ${m.title} ${why}`));
  });
  return { clock, registry, log };
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof MeetingError) return err.code;
    throw err;
  }
  return "no error";
}

Deno.test("create, join, chat, leave: the last one out ends the meeting", () => {
  const { registry, log, clock } = setup();
  const m = registry.create({ title: " Standup ", creatorSessionId: "s1", creatorName: "Ann" });
  assert.equal(m.title, "Standup");
  const ann = m.join("s1", "Ann").participant;
  assert.equal(ann.isCreator, true);
  const bob = m.join("s2", "Bob").participant;
  assert.equal(bob.isCreator, false);
  assert.deepEqual(registry.list().map((s) => [s.title, s.participants, s.creator, s.mode]), [
    ["Standup", 2, "Ann", "relay"],
  ]);
  clock.advance(1500);
  const msg = m.sendChat(bob.id, "hi <b>all</b>");
  assert.deepEqual(msg, {
    id: 1,
    participantId: bob.id,
    name: "Bob",
    text: "hi <b>all</b>",
    at: 1_700_000_001_500,
  });
  m.leave(bob.id);
  assert.equal(registry.list()[0].participants, 1);
  m.leave(ann.id);
  assert.equal(m.state, "ended");
  assert.equal(registry.size, 0);
  assert.deepEqual(log, [
    "created Standup",
    "joined Ann",
    "joined Bob",
    "left Bob left",
    "left Ann left",
    "closed Standup empty",
  ]);
  assert.equal(code(() => registry.require(m.id)), "meeting_closed");
});

Deno.test("only the creator cancels; afterwards nobody can join or chat", () => {
  const { registry, log } = setup();
  const m = registry.create({ title: "Retro", creatorSessionId: "s1", creatorName: "Ann" });
  const ann = m.join("s1", "Ann").participant;
  const bob = m.join("s2", "Bob").participant;
  assert.equal(code(() => m.cancel("s2")), "forbidden");
  assert.equal(m.state, "open");
  assert.equal(m.participants.length, 2);
  m.cancel("s1");
  assert.equal(m.state, "cancelled");
  assert.equal(m.participants.length, 0);
  assert.equal(code(() => m.join("s3", "Cy")), "meeting_closed");
  assert.equal(code(() => m.sendChat(ann.id, "still here?")), "meeting_closed");
  assert.equal(code(() => m.sendChat(bob.id, "x")), "meeting_closed");
  assert.equal(code(() => registry.require(m.id)), "meeting_closed");
  assert.equal(code(() => m.cancel("s1")), "meeting_closed");
  assert.equal(log.at(-1), "closed Retro cancelled");
  assert.deepEqual(registry.list(), []);
});

Deno.test("a meeting nobody joins ends after the idle timeout; a joined one does not", () => {
  const { registry, clock } = setup({ idleTimeoutMs: 5_000 });
  const idle = registry.create({ title: "Empty", creatorSessionId: "s1", creatorName: "Ann" });
  const busy = registry.create({ title: "Busy", creatorSessionId: "s2", creatorName: "Bob" });
  clock.advance(4_000);
  busy.join("s2", "Bob");
  assert.equal(idle.state, "open");
  clock.advance(1_000);
  assert.equal(idle.state, "ended");
  clock.advance(60_000);
  assert.equal(busy.state, "open");
  assert.deepEqual(registry.list().map((s) => s.title), ["Busy"]);
});

Deno.test("a dropped connection keeps the seat for the grace period, then leaves", () => {
  const { registry, clock, log } = setup({ graceMs: 10_000 });
  const m = registry.create({ title: "T", creatorSessionId: "s1", creatorName: "Ann" });
  const ann = m.join("s1", "Ann").participant;
  const bob = m.join("s2", "Bob").participant;
  m.disconnect(bob.id);
  assert.equal(bob.connected, false);
  clock.advance(9_000);
  const again = m.join("s2", "Robert");
  assert.equal(again.resumed, true);
  assert.equal(again.participant.id, bob.id);
  assert.equal(again.participant.name, "Bob");
  clock.advance(20_000);
  assert.equal(m.participants.length, 2);
  m.disconnect(ann.id);
  clock.advance(10_000);
  assert.deepEqual(m.participants.map((p) => p.name), ["Bob"]);
  assert.deepEqual(log.slice(3), [
    "presence Bob false",
    "presence Bob true",
    "presence Ann false",
    "left Ann timeout",
  ]);
  assert.equal(clock.pending, 0);
});

Deno.test("names are cleaned, bounded and unique within a meeting but not across meetings", () => {
  const { registry } = setup();
  const a = registry.create({ title: "A", creatorSessionId: "s1", creatorName: "Ann" });
  const b = registry.create({ title: "B", creatorSessionId: "s9", creatorName: "Zed" });
  assert.equal(a.join("s1", "  Ann \u202e ").participant.name, "Ann");
  assert.equal(a.join("s2", "ann").participant.name, "ann (2)");
  assert.equal(a.join("s3", "Ann").participant.name, "Ann (3)");
  assert.equal(b.join("s4", "Ann").participant.name, "Ann");
  const long = "x".repeat(40);
  assert.equal(a.join("s5", long).participant.name, long);
  const clash = a.join("s6", long).participant.name;
  assert.equal(clash, "x".repeat(36) + " (2)");
  assert.equal([...clash].length, 40);
  assert.equal(code(() => a.join("s7", "   ")), "invalid_name");
  assert.equal(code(() => a.join("s7", "y".repeat(41))), "invalid_name");
  assert.equal(code(() => a.join("s7", 42)), "invalid_name");
  assert.equal(a.participants.length, 5);
});

Deno.test("chat: only members send, text is bounded, late joiners get the last 100", () => {
  const { registry } = setup();
  const m = registry.create({ title: "Chat", creatorSessionId: "s1", creatorName: "Ann" });
  const ann = m.join("s1", "Ann").participant;
  assert.equal(code(() => m.sendChat("nobody", "hi")), "not_member");
  assert.equal(code(() => m.sendChat(ann.id, "   ")), "invalid_text");
  assert.equal(code(() => m.sendChat(ann.id, "z".repeat(2001))), "invalid_text");
  assert.equal(code(() => m.sendChat(ann.id, { text: "hi" })), "invalid_text");
  m.sendChat(ann.id, "z".repeat(2000));
  for (let i = 1; i <= 120; i++) m.sendChat(ann.id, `line ${i}`);
  const recent = m.recentChat();
  assert.equal(recent.length, 100);
  assert.equal(recent[0].text, "line 21");
  assert.equal(recent.at(-1)!.text, "line 120");
  assert.equal(recent.at(-1)!.id, 121);
});

Deno.test("meetings are independent: closing one leaves the others untouched", () => {
  const { registry } = setup();
  const a = registry.create({ title: "A", creatorSessionId: "s1", creatorName: "Ann" });
  const b = registry.create({ title: "B", creatorSessionId: "s2", creatorName: "Bob" });
  const chatsB: string[] = [];
  b.on("chat", (msg) => chatsB.push(msg.text));
  const ann = a.join("s1", "Ann").participant;
  b.join("s2", "Bob");
  a.sendChat(ann.id, "for A only");
  assert.equal(code(() => b.sendChat(ann.id, "sneak")), "not_member");
  a.cancel("s1");
  assert.equal(b.state, "open");
  assert.deepEqual(chatsB, []);
  assert.deepEqual(registry.list().map((s) => s.title), ["B"]);
  registry.close();
  assert.equal(b.state, "ended");
  assert.equal(registry.size, 0);
});

Deno.test("bad titles and unknown ids give clear errors", () => {
  const { registry } = setup();
  assert.equal(
    code(() => registry.create({ title: "", creatorSessionId: "s", creatorName: "A" })),
    "invalid_title",
  );
  assert.equal(
    code(() => registry.create({ title: "t".repeat(81), creatorSessionId: "s", creatorName: "A" })),
    "invalid_title",
  );
  assert.equal(code(() => registry.require("nope")), "not_found");
  assert.equal(code(() => registry.require(7)), "bad_request");
  assert.equal(registry.size, 0);
});

Deno.test("mode: two P2P-capable participants go p2p; a third, a plain-RTP seat or a failure relays", () => {
  const { registry } = setup();
  const m = registry.create({ title: "P2P", creatorSessionId: "s1", creatorName: "Ann" });
  const modes: string[] = [];
  m.on("mode", (mode) => modes.push(mode));
  const ann = m.join("s1", "Ann", { p2p: "webrtc" }).participant;
  assert.equal(m.mode, "relay");
  const bob = m.join("s2", "Bob", { p2p: "webrtc" }).participant;
  assert.equal(m.mode, "p2p");
  const cy = m.join("s3", "Cy", { p2p: "webrtc" }).participant;
  assert.equal(m.mode, "relay");
  m.leave(cy.id);
  assert.equal(m.mode, "p2p");
  assert.equal(m.summary().mode, "p2p");
  // A plain-RTP participant cannot do P2P: the meeting stays on the relay.
  m.leave(bob.id);
  m.join("s4", "ffmpeg", { kind: "rtp", p2p: "webrtc" });
  assert.equal(m.mode, "relay");
  assert.deepEqual(modes, ["p2p", "relay", "p2p", "relay"]);
  // Different ways to reach a peer (browser and terminal client): relay.
  const other = registry.create({ title: "Mixed", creatorSessionId: "s5", creatorName: "Dee" });
  other.join("s5", "Dee", { p2p: "webrtc" });
  other.join("s6", "Eve", { p2p: "udp" });
  assert.equal(other.mode, "relay");
  // A pair that failed to connect directly stays on the relay.
  const third = registry.create({ title: "Fail", creatorSessionId: "s7", creatorName: "Fay" });
  const fay = third.join("s7", "Fay", { p2p: "webrtc" }).participant;
  third.join("s8", "Gus", { p2p: "webrtc" });
  assert.equal(third.mode, "p2p");
  third.reportP2pFailure(fay.id);
  assert.equal(third.mode, "relay");
  void ann;
});

Deno.test("path: a participant's p2p path counts only in p2p mode, and ends with it", () => {
  const { registry } = setup();
  const m = registry.create({ title: "Path", creatorSessionId: "s1", creatorName: "Ann" });
  const ann = m.join("s1", "Ann", { p2p: "webrtc" }).participant;
  const presence: string[] = [];
  m.on("presence", (p) => presence.push(`${p.name} ${p.path}`));
  m.setPath(ann.id, "p2p"); // alone: relay mode, so the claim is not taken
  assert.equal(ann.path, "relay");
  assert.deepEqual(presence, []);
  const bob = m.join("s2", "Bob", { p2p: "webrtc" }).participant;
  m.setPath(ann.id, "p2p");
  m.setPath(ann.id, "p2p"); // no change, no event
  const roster = () => m.details().roster.map((p) => `${p.name} ${p.transport}`);
  assert.deepEqual(roster(), ["Ann p2p", "Bob null"]);
  assert.deepEqual(presence, ["Ann p2p"]);
  m.join("s3", "Cy", { p2p: "webrtc" }); // relay again: every path goes back with it
  assert.equal(ann.path, "relay");
  assert.deepEqual(roster(), ["Ann null", "Bob null", "Cy null"]);
  assert.throws(() => m.setPath("nobody", "relay"), MeetingError);
  void bob;
});

Deno.test("mode: --p2p off keeps two participants on the relay", () => {
  const clock = new ManualClock(0);
  const registry = new MeetingRegistry({ clock, p2p: "off" });
  const m = registry.create({ title: "Off", creatorSessionId: "s1", creatorName: "Ann" });
  m.join("s1", "Ann", { p2p: "webrtc" });
  m.join("s2", "Bob", { p2p: "webrtc" });
  assert.equal(m.mode, "relay");
});

Deno.test("host: the creator holds the role while seated; it passes to whoever has been in longest, can be handed over, and lets its holder cancel", () => {
  const { registry, clock } = setup();
  const m = registry.create({ title: "Hosted", creatorSessionId: "s1", creatorName: "Ann" });
  const hosts: (string | null)[] = [];
  m.on("host", (id) => hosts.push(id && m.participant(id)!.name));
  const name = () => m.participant(m.hostId ?? "")?.name ?? null;
  const tool = m.join("s9", "ffmpeg", { kind: "rtp" }).participant;
  assert.equal(name(), "ffmpeg", "alone, a plain-RTP tool holds it");
  clock.advance(1_000);
  const bob = m.join("s2", "Bob").participant; // first person in, before the creator
  clock.advance(1_000);
  const cy = m.join("s3", "Cy").participant;
  assert.equal(name(), "Bob");
  clock.advance(1_000);
  const ann = m.join("s1", "Ann").participant;
  assert.equal(name(), "Ann", "the creator takes it on arrival");
  assert.deepEqual(
    m.details().roster.filter((p) => p.isHost).map((p) => p.name),
    ["Ann"],
  );
  // Only the host hands it over, and only to a person seated here.
  assert.throws(() => m.handOverHost(bob.id, cy.id), (e: MeetingError) => e.code === "forbidden");
  assert.throws(() => m.handOverHost(ann.id, tool.id), (e: MeetingError) => e.code === "not_found");
  assert.throws(
    () => m.handOverHost(ann.id, "nobody"),
    (e: MeetingError) => e.code === "not_found",
  );
  assert.throws(() => m.cancel("s3"), (e: MeetingError) => e.code === "forbidden");
  m.handOverHost(ann.id, cy.id);
  assert.equal(name(), "Cy");
  // The creator leaves without cancelling: Cy keeps it; Cy leaves: Bob, in longest.
  m.leave(ann.id);
  assert.equal(name(), "Cy");
  m.leave(cy.id);
  assert.equal(name(), "Bob");
  assert.deepEqual(hosts, ["ffmpeg", "Bob", "Ann", "Cy", "Bob"]);
  // A held seat (a dropped connection) keeps the role; the new host may end the meeting.
  m.disconnect(bob.id);
  assert.equal(name(), "Bob");
  m.cancel("s2");
  assert.equal(m.state, "cancelled");
});

Deno.test("host controls: the host turns off a participant's mic or camera until it turns them on itself, and removes a participant for good, with a bounded reason", () => {
  const { registry } = setup();
  const m = registry.create({ title: "Moderated", creatorSessionId: "s1", creatorName: "Ann" });
  const events: string[] = [];
  m.on("muted", (p, kind, by) => events.push(`${by.name} muted ${p.name} ${kind}`));
  m.on("removing", (p, reason) => events.push(`removing ${p.name} (${reason})`));
  m.on("left", (p, why) => events.push(`left ${p.name} ${why}`));
  const ann = m.join("s1", "Ann").participant;
  const bob = m.join("s2", "Bob").participant;
  const cy = m.join("s3", "Cy").participant;
  m.setMediaState(bob.id, { audio: true, video: true });
  // Only the host.
  assert.throws(
    () => m.hostMute(bob.id, cy.id, "audio"),
    (e: MeetingError) => e.code === "forbidden",
  );
  assert.throws(
    () => m.removeParticipant(cy.id, bob.id, ""),
    (e: MeetingError) => e.code === "forbidden",
  );
  assert.throws(
    () => m.hostMute(ann.id, "nobody", "audio"),
    (e: MeetingError) => e.code === "not_found",
  );
  m.hostMute(ann.id, bob.id, "audio");
  assert.deepEqual([bob.audio, bob.video, bob.hostMuted], [false, true, {
    audio: true,
    video: false,
    screen: false,
  }]);
  m.hostMute(ann.id, bob.id, "video");
  assert.deepEqual(bob.hostMuted, { audio: true, video: true, screen: false });
  // Bob turns his microphone on again himself: the server takes his audio again.
  m.setMediaState(bob.id, { audio: true, video: false });
  assert.deepEqual(bob.hostMuted, { audio: false, video: true, screen: false });
  // The host stops Bob's screen share; Bob may share again.
  m.setMediaState(bob.id, { audio: true, video: false, screen: true });
  m.hostMute(ann.id, bob.id, "screen");
  assert.deepEqual([bob.screen, bob.hostMuted.screen], [false, true]);
  m.setMediaState(bob.id, { audio: true, video: false, screen: true });
  assert.deepEqual([bob.screen, bob.hostMuted.screen], [true, false]);
  // Reasons are text, bounded; the host cannot remove itself.
  assert.throws(
    () => m.removeParticipant(ann.id, cy.id, 42),
    (e: MeetingError) => e.code === "bad_request",
  );
  assert.throws(
    () => m.removeParticipant(ann.id, cy.id, "x".repeat(MAX_REMOVE_REASON + 1)),
    (e: MeetingError) => e.code === "bad_request",
  );
  assert.throws(
    () => m.removeParticipant(ann.id, ann.id, ""),
    (e: MeetingError) => e.code === "bad_request",
  );
  assert.ok(m.participant(cy.id), "refused removals changed nothing");
  m.removeParticipant(ann.id, cy.id, "  <b>off topic</b>  ");
  assert.equal(m.participant(cy.id), undefined);
  assert.throws(() => m.join("s3", "Cy again"), (e: MeetingError) => e.code === "forbidden");
  assert.deepEqual(events, [
    "Ann muted Bob audio",
    "Ann muted Bob video",
    "Ann muted Bob screen",
    "removing Cy (<b>off topic</b>)",
    "left Cy removed",
  ]);
  // The creator's session may always come back, even removed by another host.
  m.handOverHost(ann.id, bob.id);
  m.removeParticipant(bob.id, ann.id, undefined);
  assert.equal(m.join("s1", "Ann").resumed, false);
  assert.equal(m.participants.length, 2);
});

Deno.test("newcomers: the host closes the meeting to people who hold no seat; held seats and the creator still come in", () => {
  const { registry } = setup();
  const m = registry.create({ title: "Closed", creatorSessionId: "s1", creatorName: "Ann" });
  const policies: string[] = [];
  m.on("newcomers", (policy) => policies.push(policy));
  const bob = m.join("s2", "Bob").participant; // first in: host until Ann comes
  const cy = m.join("s3", "Cy").participant;
  assert.throws(
    () => m.setNewcomers(cy.id, "closed"),
    (e: MeetingError) => e.code === "forbidden",
  );
  assert.throws(
    () => m.setNewcomers(bob.id, "ajar"),
    (e: MeetingError) => e.code === "bad_request",
  );
  assert.equal(m.summary().newcomers, "open");
  m.setNewcomers(bob.id, "closed");
  m.setNewcomers(bob.id, "closed"); // no change, no event
  assert.deepEqual(policies, ["closed"]);
  assert.equal(m.summary().newcomers, "closed");
  assert.throws(
    () => m.join("s4", "Dee"),
    (e: MeetingError) => e.code === "closed_to_newcomers",
  );
  assert.equal(m.participants.length, 2, "Dee got a seat");
  // Cy's connection drops; her held seat is hers to take back.
  m.disconnect(cy.id);
  assert.equal(m.join("s3", "Cy").resumed, true);
  // The creator always comes in (and takes the host role).
  const ann = m.join("s1", "Ann").participant;
  assert.equal(m.details().roster.find((p) => p.id === ann.id)?.isHost, true);
  m.setNewcomers(ann.id, "open");
  assert.equal(m.join("s4", "Dee").resumed, false);
  assert.deepEqual(policies, ["closed", "open"]);
});

Deno.test("hands and reactions: each raises its own hand, only the host lowers another's; reactions are from a fixed set, at most one per interval", () => {
  const { registry, clock } = setup();
  const m = registry.create({ title: "Hands", creatorSessionId: "s1", creatorName: "Ann" });
  const ann = m.join("s1", "Ann").participant;
  const bob = m.join("s2", "Bob").participant;
  const cy = m.join("s3", "Cy").participant;
  const seen: string[] = [];
  m.on("presence", (p) => seen.push(`${p.name} hand ${p.handRaised}`));
  m.on("reaction", (p, r) => seen.push(`${p.name} ${r}`));
  m.setHand(bob.id, true);
  m.setHand(bob.id, true); // no change, no event
  assert.throws(() => m.setHand(bob.id, false, cy.id), (e: MeetingError) => e.code === "forbidden");
  assert.throws(() => m.setHand(cy.id, true, ann.id), (e: MeetingError) => e.code === "forbidden");
  assert.throws(() => m.setHand(bob.id, "yes"), (e: MeetingError) => e.code === "bad_request");
  assert.equal(m.details().roster.find((p) => p.id === bob.id)?.handRaised, true);
  m.setHand(bob.id, false, ann.id); // the host lowers it
  m.react(cy.id, "👏");
  assert.throws(() => m.react(cy.id, "👍"), (e: MeetingError) => e.code === "rate_limited");
  clock.advance(REACTION_INTERVAL_MS);
  m.react(cy.id, "👍");
  for (const bad of ["<b>", "👍👍", 1, "x".repeat(10_000)]) {
    clock.advance(REACTION_INTERVAL_MS);
    assert.throws(() => m.react(cy.id, bad), (e: MeetingError) => e.code === "bad_request");
  }
  assert.deepEqual(seen, ["Bob hand true", "Bob hand false", "Cy 👏", "Cy 👍"]);
});

Deno.test("waiting room: newcomers wait until the host admits or denies them; leaving the policy decides for those waiting; bounded", () => {
  const { registry } = setup();
  const m = registry.create({ title: "Lobby", creatorSessionId: "s1", creatorName: "Ann" });
  const ann = m.join("s1", "Ann").participant;
  const bob = m.join("s2", "Bob").participant;
  const decisions: string[] = [];
  m.on("admission", (session, admitted) => decisions.push(`${session} ${admitted}`));
  m.setNewcomers(ann.id, "waiting");
  const waits = (session: string, name: string) =>
    assert.throws(() => m.join(session, name), (e: MeetingError) => e.code === "waiting_for_host");
  waits("s3", "Cy");
  waits("s3", "Cy"); // knocking again does not queue twice
  waits("s4", "Dee");
  assert.deepEqual(m.waiting.map((w) => w.name), ["Cy", "Dee"]);
  const [cy, dee] = m.waiting;
  assert.throws(() => m.admit(bob.id, cy.id, true), (e: MeetingError) => e.code === "forbidden");
  assert.throws(() => m.admit(ann.id, "nobody", true), (e: MeetingError) => e.code === "not_found");
  m.admit(ann.id, cy.id, true);
  m.admit(ann.id, dee.id, false);
  assert.deepEqual(decisions, ["s3 true", "s4 false"]);
  assert.equal(m.join("s3", "Cy").resumed, false, "Cy, admitted, comes in");
  waits("s4", "Dee"); // denied: she may knock again
  m.withdraw("s4"); // her page went away
  assert.deepEqual(m.waiting, []);
  waits("s5", "Eve");
  m.setNewcomers(ann.id, "open"); // those waiting are let in
  assert.deepEqual(decisions.at(-1), "s5 true");
  m.setNewcomers(ann.id, "waiting");
  for (let i = 0; i < MAX_WAITING; i++) waits(`w${i}`, `W${i}`);
  assert.throws(() => m.join("one-more", "X"), (e: MeetingError) => e.code === "limit_reached");
  m.setNewcomers(ann.id, "closed"); // those waiting are turned away
  assert.deepEqual(m.waiting, []);
  assert.equal(decisions.filter((d) => d.endsWith("false")).length, 1 + MAX_WAITING);
});

Deno.test("screen sharing: a participant says it shares its screen (others see it in presence), on its own SSRC; a plain-RTP seat cannot", () => {
  const { registry } = setup();
  const m = registry.create({ title: "Show", creatorSessionId: "s1", creatorName: "Ann" });
  const presence: string[] = [];
  m.on("presence", (p) => presence.push(`${p.name} screen=${p.screen}`));
  const ann = m.join("s1", "Ann").participant;
  const tool = m.join("s2", "Tool", { kind: "rtp" }).participant;
  assert.equal(ann.screen, false);
  const ssrcs = [ann, tool].flatMap((
    p,
  ) => [p.audioSsrc, p.videoSsrc, p.smallVideoSsrc, p.screenSsrc]);
  assert.equal(new Set([...ssrcs, m.mixSsrc]).size, ssrcs.length + 1, "every SSRC is distinct");
  assert.equal(m.participantBySsrc(ann.screenSsrc), ann);
  m.setMediaState(ann.id, { audio: true, video: true, screen: true });
  assert.equal(ann.screen, true);
  // A media request without `screen` leaves it as it was.
  m.setMediaState(ann.id, { audio: false, video: true });
  assert.equal(ann.screen, true);
  m.setMediaState(ann.id, { audio: false, video: true, screen: false });
  m.setMediaState(tool.id, { audio: true, video: true, screen: true });
  assert.equal(tool.screen, false);
  assert.deepEqual(presence, [
    "Ann screen=true",
    "Ann screen=true", // her microphone went off
    "Ann screen=false",
  ]);
});

Deno.test("recording: only the host starts and stops it, one at a time; the server may stop it; the meeting's end stops it", () => {
  const { registry } = setup();
  const m = registry.create({ title: "Rec", creatorSessionId: "s1", creatorName: "Ann" });
  const events: string[] = [];
  m.on(
    "recording",
    (now, stopped) =>
      events.push(
        now
          ? `started ${now.id} by ${now.startedBy}`
          : `stopped ${stopped!.recording.id} ${stopped!.reason} by ${stopped!.by}`,
      ),
  );
  const ann = m.join("s1", "Ann").participant;
  const bob = m.join("s2", "Bob").participant;
  assert.throws(
    () => m.startRecording(bob.id, "r0", 1),
    (e: MeetingError) => e.code === "forbidden",
  );
  assert.equal(m.recording, null);
  m.startRecording(ann.id, "r1", 1000);
  assert.deepEqual(m.summary().recording, { id: "r1", startedAt: 1000, startedBy: "Ann" });
  assert.throws(
    () => m.startRecording(ann.id, "r2", 2),
    (e: MeetingError) => e.code === "recording_state",
  );
  assert.throws(
    () => m.stopRecording(bob.id, "stopped"),
    (e: MeetingError) => e.code === "forbidden",
  );
  m.stopRecording(ann.id, "stopped");
  assert.throws(
    () => m.stopRecording(ann.id, "stopped"),
    (e: MeetingError) => e.code === "recording_state",
  );
  m.startRecording(ann.id, "r3", 3000);
  m.stopRecording(null, "limit");
  m.startRecording(ann.id, "r4", 4000);
  m.cancel("s1");
  assert.deepEqual(events, [
    "started r1 by Ann",
    "stopped r1 stopped by Ann",
    "started r3 by Ann",
    "stopped r3 limit by null",
    "started r4 by Ann",
    "stopped r4 ended by null",
  ]);
});

Deno.test("recording keeps a meeting of two on the relay while it runs: the server needs the media", () => {
  const { registry } = setup();
  const m = registry.create({ title: "Pair", creatorSessionId: "s1", creatorName: "Ann" });
  const modes: string[] = [];
  m.on("mode", (mode) => modes.push(mode));
  const ann = m.join("s1", "Ann", { p2p: "webrtc" }).participant;
  m.join("s2", "Bob", { p2p: "webrtc" });
  assert.equal(m.mode, "p2p");
  m.startRecording(ann.id, "r1", 1);
  assert.equal(m.mode, "relay");
  m.stopRecording(ann.id, "stopped");
  assert.equal(m.mode, "p2p");
  assert.deepEqual(modes, ["p2p", "relay", "p2p"]);
});
