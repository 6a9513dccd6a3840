/**
 * Integration: a real server and real WebSocket clients (npm:ws) over 127.0.0.1.
 */

import assert from "node:assert/strict";
import { ControlError } from "../client/control_client.ts";
import { connect, rawExchange, testClient, testServer } from "./support/server.ts";
import { waitFor } from "./support/wait.ts";

async function errorCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ControlError) return err.code;
    throw err;
  }
  return "no error";
}

Deno.test("create, join, leave, cancel and auto-end over the control WebSocket", async () => {
  await using server = await testServer();
  const ann = await testClient(server, "Ann");
  const bob = await testClient(server, "Bob");
  const watcher = await connect(server);
  const first = await watcher.request({ type: "subscribe_meetings" });
  assert.deepEqual(first.meetings, []);

  const created = await ann.request({ type: "create", title: "Standup" });
  const id = created.meeting.id;
  assert.equal(created.join?.name, "Ann");
  assert.deepEqual(created.meeting.roster.map((p) => [p.name, p.isCreator]), [["Ann", true]]);
  await waitFor(() => watcher.eventsOf("meetings").some((e) => e.meetings[0]?.id === id), {
    what: "the new meeting in the live list",
  });

  const joined = await bob.request({ type: "join", meetingId: id });
  assert.equal(joined.name, "Bob");
  assert.equal(joined.resumed, false);
  assert.deepEqual(joined.meeting.roster.map((p) => p.name), ["Ann", "Bob"]);
  await waitFor(() => ann.eventsOf("roster").some((e) => e.participants.length === 2), {
    what: "Ann sees Bob in the roster",
  });
  await waitFor(() => watcher.eventsOf("meetings").at(-1)?.meetings[0]?.participants === 2, {
    what: "the list shows 2 participants",
  });

  // Bob may not cancel; nothing changes.
  assert.equal(await errorCode(bob.request({ type: "cancel", meetingId: id })), "forbidden");
  assert.equal(server.hub.registry.get(id)?.participants.length, 2);

  await bob.request({ type: "leave" });
  await waitFor(() => ann.eventsOf("roster").at(-1)?.participants.length === 1, {
    what: "Ann sees Bob leave",
  });
  assert.equal(await errorCode(bob.request({ type: "chat", text: "hi" })), "not_member");

  // Bob rejoins; Ann cancels: Bob is removed with the reason and the meeting is gone.
  await bob.request({ type: "join", meetingId: id });
  await ann.request({ type: "cancel", meetingId: id });
  await waitFor(() => bob.eventsOf("removed").some((e) => e.reason === "cancelled"), {
    what: "Bob told the meeting was cancelled",
  });
  assert.deepEqual(ann.eventsOf("removed").map((e) => e.reason), ["cancelled"]);
  await waitFor(() => watcher.eventsOf("meetings").at(-1)?.meetings.length === 0, {
    what: "the cancelled meeting gone from the list",
  });
  assert.equal(await errorCode(bob.request({ type: "join", meetingId: id })), "meeting_closed");
  assert.equal(await errorCode(bob.request({ type: "chat", text: "anyone?" })), "not_member");

  // Auto-end: the last one out ends the meeting.
  const second = await bob.request({ type: "create", title: "Solo" });
  await bob.request({ type: "leave" });
  assert.equal(server.hub.registry.get(second.meeting.id), undefined);
  assert.equal(
    await errorCode(ann.request({ type: "join", meetingId: second.meeting.id })),
    "meeting_closed",
  );
  for (const c of [ann, bob, watcher]) c.close();
});

Deno.test("a meeting created but never joined ends after the idle timeout", async () => {
  await using server = await testServer({ idleTimeoutMs: 200 });
  const ann = await testClient(server, "Ann");
  const watcher = await connect(server);
  await watcher.request({ type: "subscribe_meetings" });
  const { meeting } = await ann.request({ type: "create", title: "Nobody", join: false });
  assert.equal(meeting.participants, 0);
  await waitFor(() => watcher.eventsOf("meetings").some((e) => e.meetings.length === 1), {
    what: "the meeting listed",
  });
  await waitFor(() => watcher.eventsOf("meetings").at(-1)?.meetings.length === 0, {
    what: "the idle meeting removed from the list",
  });
  const history = await (await fetch(`${server.url}api/meetings/${meeting.id}/history`)).json();
  assert.equal(history.meeting.endReason, "idle");
  ann.close();
  watcher.close();
});

Deno.test("three participants chat: everyone gets every line with name and server time", async () => {
  await using server = await testServer();
  const [ann, bob, cy] = await Promise.all(["Ann", "Bob", "Cy"].map((n) => testClient(server, n)));
  const { meeting } = await ann.request({ type: "create", title: "Chat" });
  await bob.request({ type: "join", meetingId: meeting.id });
  await cy.request({ type: "join", meetingId: meeting.id });
  const before = Date.now();
  await ann.request({ type: "chat", text: "hello from Ann" });
  await bob.request({ type: "chat", text: "<img src=x onerror=alert(1)>" });
  await cy.request({ type: "chat", text: "Cy here" });
  const after = Date.now();
  for (const client of [ann, bob, cy]) {
    await waitFor(() => client.eventsOf("chat").length === 3, {
      what: `${client.name} gets 3 lines`,
    });
    const lines = client.eventsOf("chat").map((e) => e.message);
    assert.deepEqual(lines.map((m) => [m.name, m.text]), [
      ["Ann", "hello from Ann"],
      ["Bob", "<img src=x onerror=alert(1)>"],
      ["Cy", "Cy here"],
    ]);
    for (const m of lines) assert.ok(m.at >= before && m.at <= after, "server timestamp");
    assert.deepEqual(lines.map((m) => m.id), [1, 2, 3]);
  }
  // A late joiner sees the recent lines.
  const dee = await testClient(server, "Dee");
  const joined = await dee.request({ type: "join", meetingId: meeting.id });
  assert.deepEqual(joined.chat.map((m) => m.text), [
    "hello from Ann",
    "<img src=x onerror=alert(1)>",
    "Cy here",
  ]);
  // Oversized and empty chat lines are refused and reach no one.
  assert.equal(
    await errorCode(dee.request({ type: "chat", text: "x".repeat(2001) })),
    "invalid_text",
  );
  assert.equal(await errorCode(dee.request({ type: "chat", text: "  " })), "invalid_text");
  await dee.request({ type: "ping" }); // the refusals have been handled
  assert.equal(ann.eventsOf("chat").length, 3);
  for (const c of [ann, bob, cy, dee]) c.close();
});

Deno.test("two meetings in parallel: chat and rosters never cross", async () => {
  await using server = await testServer();
  const a = await Promise.all(["A1", "A2"].map((n) => testClient(server, n)));
  const b = await Promise.all(["B1", "B2"].map((n) => testClient(server, n)));
  const ma = (await a[0].request({ type: "create", title: "Meeting A" })).meeting.id;
  const mb = (await b[0].request({ type: "create", title: "Meeting B" })).meeting.id;
  await a[1].request({ type: "join", meetingId: ma });
  await b[1].request({ type: "join", meetingId: mb });
  for (let i = 0; i < 20; i++) {
    await a[i % 2].request({ type: "chat", text: `A says ${i}` });
    await b[i % 2].request({ type: "chat", text: `B says ${i}` });
  }
  for (const c of a) {
    await waitFor(() => c.eventsOf("chat").length === 20, { what: `${c.name} gets A's 20 lines` });
    assert.ok(c.events.every((e) => !("meetingId" in e) || e.meetingId === ma));
    assert.ok(c.eventsOf("chat").every((e) => e.message.text.startsWith("A says")));
  }
  for (const c of b) {
    await waitFor(() => c.eventsOf("chat").length === 20, { what: `${c.name} gets B's 20 lines` });
    assert.ok(c.events.every((e) => !("meetingId" in e) || e.meetingId === mb));
    assert.ok(c.eventsOf("chat").every((e) => e.message.text.startsWith("B says")));
  }
  // Cancelling A leaves B running.
  await a[0].request({ type: "cancel" });
  await b[0].request({ type: "chat", text: "still here" });
  await waitFor(() => b[1].eventsOf("chat").at(-1)?.message.text === "still here", {
    what: "B carries on",
  });
  assert.equal(b[1].eventsOf("removed").length, 0);
  for (const c of [...a, ...b]) c.close();
});

Deno.test("bad input gets a clear error and changes nothing; the server carries on", async () => {
  await using server = await testServer();
  const ann = await testClient(server, "Ann");
  const { meeting } = await ann.request({ type: "create", title: "Steady" });
  // A message over 64 KiB closes the connection unread (1009): tests/http_edge_test.ts.
  const replies = await rawExchange(server, [
    "{not json",
    "[1,2]",
    JSON.stringify({ type: "ping" }),
    JSON.stringify({ id: 1, type: "teleport" }),
    JSON.stringify({ id: 2, type: "join" }),
    JSON.stringify({ id: 3, type: "chat", text: "hi" }),
    JSON.stringify({ id: 4, type: "create", title: "x" }),
    new Uint8Array([1, 2, 3]),
    JSON.stringify({ id: 5, type: "identify", name: "" }),
    JSON.stringify({ id: 6, type: "identify", token: "forged-token" }),
    JSON.stringify({ id: 7, type: "identify", name: "Mallory" }),
    JSON.stringify({ id: 8, type: "join", meetingId: "does-not-exist" }),
    JSON.stringify({ id: 10, type: "cancel", meetingId: meeting.id }),
    JSON.stringify({ id: 11, type: "chat", text: 42 }),
    JSON.stringify({ id: 12, type: "create", title: "" }),
    JSON.stringify({ id: { deep: [[[[]]]] }, type: "ping" }),
  ], 16);
  const codes = replies.map((r) =>
    r.type === "error" ? `${r.id}:${r.code}` : `${"id" in r ? r.id : "?"}:ok`
  );
  assert.deepEqual(codes, [
    "null:bad_json",
    "null:bad_request",
    "null:bad_request",
    "1:unknown_type",
    "2:bad_request",
    "3:not_identified",
    "4:not_identified",
    "null:not_member",
    "5:invalid_name",
    "6:invalid_token",
    "7:ok",
    "8:not_found",
    "10:forbidden",
    "11:bad_request",
    "12:invalid_title",
    "null:bad_request",
  ]);
  for (const r of replies) if (r.type === "error") assert.ok(r.message.length > 5, r.message);
  // Nothing changed: the meeting is open with Ann alone, and works.
  const live = server.hub.registry.get(meeting.id)!;
  assert.equal(live.state, "open");
  assert.deepEqual(live.participants.map((p) => p.name), ["Ann"]);
  assert.equal(server.hub.registry.size, 1);
  await ann.request({ type: "chat", text: "still fine" });
  assert.equal(live.recentChat().length, 1);
  ann.close();
});

Deno.test("a dropped connection keeps its seat; the token takes it back without churn", async () => {
  await using server = await testServer({ graceMs: 300 });
  const ann = await testClient(server, "Ann");
  const bob = await testClient(server, "Bob");
  const { meeting } = await ann.request({ type: "create", title: "Flaky" });
  const first = await bob.request({ type: "join", meetingId: meeting.id });
  bob.close(); // connection drops without leaving
  await waitFor(
    () =>
      ann.eventsOf("roster").at(-1)?.participants.find((p) => p.name === "Bob")?.connected ===
        false,
    { what: "Bob shown as reconnecting" },
  );
  const again = await connect(server);
  await again.request({ type: "identify", token: bob.token });
  const resumed = await again.request({ type: "join", meetingId: meeting.id });
  assert.equal(resumed.resumed, true);
  assert.equal(resumed.participantId, first.participantId);
  assert.equal(resumed.name, "Bob");
  await waitFor(() => ann.eventsOf("roster").at(-1)?.participants.every((p) => p.connected), {
    what: "Bob back",
  });
  // Past the grace period a dropped seat is freed.
  again.close();
  await waitFor(() => ann.eventsOf("roster").at(-1)?.participants.length === 1, {
    what: "Bob removed after grace",
  });
  const history = await (await fetch(`${server.url}api/meetings/${meeting.id}/history`)).json();
  const bobEvents = history.events.filter((e: { name: string }) => e.name === "Bob")
    .map((e: { type: string; detail: string }) => `${e.type}:${e.detail}`);
  assert.deepEqual(bobEvents, ["joined:null", "left:timeout"]);
  ann.close();
});

Deno.test("history survives a server restart", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "meet-restart-" });
  let id: string;
  {
    await using server = await testServer({ dataDir });
    const ann = await testClient(server, "Ann");
    const bob = await testClient(server, "Bob");
    id = (await ann.request({ type: "create", title: "Persistent" })).meeting.id;
    await bob.request({ type: "join", meetingId: id });
    await ann.request({ type: "chat", text: "remember me" });
    await bob.request({ type: "chat", text: "me too" });
    await bob.request({ type: "leave" });
    ann.close();
    bob.close();
  }
  {
    await using server = await testServer({ dataDir });
    const res = await fetch(`${server.url}api/meetings/${id}/history`);
    assert.equal(res.status, 200);
    const history = await res.json();
    assert.equal(history.meeting.title, "Persistent");
    assert.equal(history.meeting.creator, "Ann");
    assert.ok(history.meeting.endedAt > 0);
    assert.deepEqual(history.chat.map((c: { name: string; text: string }) => [c.name, c.text]), [
      ["Ann", "remember me"],
      ["Bob", "me too"],
    ]);
    assert.deepEqual(
      history.events.map((e: { type: string; name: string | null }) => [e.type, e.name]),
      [["created", "Ann"], ["joined", "Ann"], ["joined", "Bob"], ["left", "Bob"], ["ended", null]],
    );
    assert.equal((await (await fetch(`${server.url}api/meetings`)).json()).length, 0);
  }
  await Deno.remove(dataDir, { recursive: true });
});
