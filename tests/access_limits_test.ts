/**
 * Access limits over real sockets: who may read a locked meeting over REST, passcode
 * guessing, creates per address, the open-meeting caps, the live list's pace and size,
 * sessions per address and seats per meeting. 127.0.0.2 (loopback too) is a second address.
 */

import assert from "node:assert/strict";
import WebSocket from "ws";
import { ControlClient, ControlError, type WebSocketLike } from "../client/control_client.ts";
import { DEFAULT_ACCESS_LIMITS } from "../server/limits.ts";
import { LIST_INTERVAL_MS, LIST_MAX_MEETINGS } from "../server/hub.ts";
import { connect, rawExchange, type TestClient, testClient, testServer } from "./support/server.ts";
import { waitFor } from "./support/wait.ts";

const code = (e: unknown) => (e as ControlError).code;

/** A test client whose connection comes from 127.0.0.2. */
async function clientFrom2(server: { wsUrl: string }, name: string): Promise<TestClient> {
  class WsFrom2 extends WebSocket {
    constructor(url: string) {
      super(url, { localAddress: "127.0.0.2" });
    }
  }
  const client = new ControlClient(server.wsUrl, {
    WebSocket: WsFrom2 as unknown as new (url: string) => WebSocketLike,
    reconnect: false,
  }) as TestClient;
  await client.opened();
  const r = await client.request({ type: "identify", name });
  client.token = r.token;
  client.name = r.name;
  return client;
}

/** Counts the error codes (or "ok") of settled requests. */
function tally(results: PromiseSettledResult<unknown>[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of results) {
    const key = r.status === "fulfilled" ? "ok" : String(code(r.reason));
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

Deno.test("locked meetings: roster and history only for members, past members and the creator", async () => {
  await using server = await testServer({ graceMs: 5_000 });
  const ann = await testClient(server, "Ann");
  const bob = await testClient(server, "Bob");
  const cy = await testClient(server, "Cy");
  const eve = await testClient(server, "Eve");
  const { meeting } = await ann.request({ type: "create", title: "Board", passcode: "s3cret" });
  await bob.request({ type: "join", meetingId: meeting.id, passcode: "s3cret" });
  await cy.request({ type: "join", meetingId: meeting.id, passcode: "s3cret" });
  await bob.request({ type: "chat", text: "the secret plan" });
  await cy.request({ type: "leave" }); // Cy is a past member now
  const get = (path: string, token?: string) =>
    fetch(`${server.url}api/meetings/${meeting.id}${path}`, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
  const refused = async (token: string | undefined, status: number, errorCode: string) => {
    for (const path of ["", "/history"]) {
      const res = await get(path, token);
      const body = await res.text();
      assert.equal(res.status, status, `${path || "details"} with ${token ?? "no token"}`);
      assert.equal(JSON.parse(body).error.code, errorCode);
      assert.ok(!body.includes("secret plan") && !body.includes("Bob"), "content leaked");
    }
  };
  const allowed = async (token: string) => {
    const details = await (await get("", token)).json();
    assert.deepEqual(details.roster.map((p: { name: string }) => p.name), ["Ann", "Bob"]);
    const history = await (await get("/history", token)).json();
    assert.deepEqual(history.chat.map((c: { text: string }) => c.text), ["the secret plan"]);
  };
  await refused(undefined, 401, "unauthorized");
  await refused("not-a-token", 401, "unauthorized");
  await refused(eve.token, 403, "forbidden");
  await allowed(ann.token); // the creator
  await allowed(bob.token); // a member
  await allowed(cy.token); // a past member
  // The list shows that it exists and is locked; no list shows a roster.
  const list = await (await fetch(`${server.url}api/meetings`)).json();
  assert.equal(list.find((m: { id: string }) => m.id === meeting.id).locked, true);
  // An unlocked meeting stays readable by anyone: anyone may join it and read the same.
  const { meeting: open } = await eve.request({ type: "create", title: "Open" });
  assert.equal((await fetch(`${server.url}api/meetings/${open.id}`)).status, 200);
  assert.equal((await fetch(`${server.url}api/meetings/${open.id}/history`)).status, 200);
  // Ended: the record keeps the rule.
  await ann.request({ type: "cancel", meetingId: meeting.id });
  await refused(undefined, 401, "unauthorized");
  await refused(eve.token, 403, "forbidden");
  const past = await (await get("/history", cy.token)).json();
  assert.equal(past.chat[0].text, "the secret plan");
  const ended = await (await get("", ann.token)).json();
  assert.equal(ended.locked, true);
  for (const c of [ann, bob, cy, eve]) c.close();
});

Deno.test("passcode guesses: 10 connections x 30 guesses, only the meeting's budget is judged", async () => {
  await using server = await testServer();
  const ann = await testClient(server, "Ann");
  const { meeting } = await ann.request({
    type: "create",
    title: "Vault",
    passcode: "right",
    join: false,
  });
  const { meeting: other } = await ann.request({
    type: "create",
    title: "Other",
    passcode: "other",
    join: false,
  });
  const member = await testClient(server, "Mia");
  await member.request({ type: "join", meetingId: meeting.id, passcode: "right" });
  const attackers = await Promise.all(
    Array.from({ length: 10 }, (_, i) => testClient(server, `Mallory ${i}`)),
  );
  const results = await Promise.allSettled(
    attackers.flatMap((a, i) =>
      Array.from(
        { length: 30 },
        (_, j) => a.request({ type: "join", meetingId: meeting.id, passcode: `guess-${i}-${j}` }),
      )
    ),
  );
  const counts = tally(results);
  const { burst } = DEFAULT_ACCESS_LIMITS.passcodeGuessesPerMeeting;
  assert.ok((counts.wrong_passcode ?? 0) <= burst, `judged ${JSON.stringify(counts)}`);
  assert.equal((counts.wrong_passcode ?? 0) + (counts.rate_limited ?? 0), 300);
  const limited = results.find((r) => r.status === "rejected" && code(r.reason) === "rate_limited");
  assert.match((limited as PromiseRejectedResult).reason.message, /try again in \d+ s/);
  // The reply carries retryAfterMs.
  const raw = await rawExchange(server, [
    JSON.stringify({ id: 1, type: "identify", name: "Raw" }),
    JSON.stringify({ id: 2, type: "join", meetingId: meeting.id, passcode: "x" }),
  ], 2);
  const error = raw.find((m) => m.type === "error");
  assert.ok(error?.type === "error" && error.code === "rate_limited" && error.retryAfterMs! > 0);
  // While throttled, even the right passcode is not judged (the safe choice)...
  await assert.rejects(
    attackers[0].request({ type: "join", meetingId: meeting.id, passcode: "right" }),
    (e) => code(e) === "rate_limited",
  );
  // ...but the creator and a resumed seat need no passcode, so they are unaffected.
  assert.equal((await ann.request({ type: "join", meetingId: meeting.id })).name, "Ann");
  member.close();
  const back = await connect(server);
  await back.request({ type: "identify", token: member.token });
  assert.equal((await back.request({ type: "join", meetingId: meeting.id })).resumed, true);
  // Another meeting is not throttled by this meeting's attack.
  const dee = await testClient(server, "Dee");
  await assert.rejects(
    dee.request({ type: "join", meetingId: other.id, passcode: "wrong" }),
    (e) => code(e) === "wrong_passcode",
  );
  assert.equal(
    (await dee.request({ type: "join", meetingId: other.id, passcode: "other" })).name,
    "Dee",
  );
  for (const c of [ann, back, dee, ...attackers]) c.close();
});

Deno.test("passcode guesses: the right passcode works once the meeting's budget refills", async () => {
  await using server = await testServer({
    limits: { passcodeGuessesPerMeeting: { burst: 3, ratePerSecond: 2 } },
  });
  const ann = await testClient(server, "Ann");
  const { meeting } = await ann.request({
    type: "create",
    title: "Vault",
    passcode: "right",
    join: false,
  });
  const bob = await testClient(server, "Bob");
  const t0 = performance.now();
  const counts = tally(
    await Promise.allSettled(
      Array.from(
        { length: 30 },
        (_, i) => bob.request({ type: "join", meetingId: meeting.id, passcode: `g${i}` }),
      ),
    ),
  );
  const elapsedS = (performance.now() - t0) / 1000;
  assert.ok((counts.wrong_passcode ?? 0) <= 3 + Math.ceil(2 * elapsedS), JSON.stringify(counts));
  assert.ok((counts.rate_limited ?? 0) > 0, JSON.stringify(counts));
  const joined = await waitFor(
    () =>
      bob.request({ type: "join", meetingId: meeting.id, passcode: "right" }).catch((e) => {
        if (code(e) !== "rate_limited") throw e;
        return undefined;
      }),
    { what: "the right passcode accepted", timeoutMs: 5_000, intervalMs: 100 },
  );
  assert.equal(joined.name, "Bob");
  ann.close();
  bob.close();
});

Deno.test("passcode guesses: limited per address across meetings; another address is judged", async () => {
  await using server = await testServer();
  const ann = await testClient(server, "Ann");
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await ann.request({ type: "create", title: `M${i}`, passcode: "pw", join: false });
    ids.push(r.meeting.id);
  }
  // 4 guesses per meeting (under each meeting's 5), 16 in all from 127.0.0.2.
  const guesser = await clientFrom2(server, "Gus");
  const counts = tally(
    await Promise.allSettled(
      ids.flatMap((id) =>
        Array.from(
          { length: 4 },
          (_, i) => guesser.request({ type: "join", meetingId: id, passcode: `g${i}` }),
        )
      ),
    ),
  );
  const { burst } = DEFAULT_ACCESS_LIMITS.passcodeGuessesPerAddress;
  assert.ok((counts.wrong_passcode ?? 0) <= burst, JSON.stringify(counts));
  assert.ok((counts.rate_limited ?? 0) >= 16 - burst - 1, JSON.stringify(counts));
  // 127.0.0.1 still has its own budget in a meeting with guesses left.
  const { meeting: fresh } = await ann.request({ type: "create", title: "F", passcode: "pw" });
  const bob = await testClient(server, "Bob");
  await assert.rejects(
    bob.request({ type: "join", meetingId: fresh.id, passcode: "nope" }),
    (e) => code(e) === "wrong_passcode",
  );
  assert.equal(
    (await bob.request({ type: "join", meetingId: fresh.id, passcode: "pw" })).name,
    "Bob",
  );
  for (const c of [ann, guesser, bob]) c.close();
});

Deno.test("creates: 200 in a burst from one address (REST and WebSocket share it), another address still creates", async () => {
  await using server = await testServer();
  const ann = await testClient(server, "Ann");
  const ws = Array.from(
    { length: 100 },
    (_, i) => ann.request({ type: "create", title: `ws ${i}`, join: false }),
  );
  const rest = Array.from({ length: 100 }, (_, i) =>
    fetch(`${server.url}api/meetings`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ title: `rest ${i}`, name: "Ann" }),
    }));
  const wsCounts = tally(await Promise.allSettled(ws));
  const responses = await Promise.all(rest);
  const bodies = await Promise.all(responses.map((r) => r.json()));
  const restCreated = responses.filter((r) => r.status === 201).length;
  const refused = responses.filter((r) => r.status === 429);
  const created = (wsCounts.ok ?? 0) + restCreated;
  assert.ok(created <= DEFAULT_ACCESS_LIMITS.creates.burst + 1, `${created} created`);
  assert.ok((wsCounts.rate_limited ?? 0) + refused.length >= 200 - created);
  assert.ok(refused.length > 0);
  assert.ok(Number(refused[0].headers.get("retry-after")) >= 1, "Retry-After header");
  assert.ok(bodies.some((b) => b.error?.code === "rate_limited" && b.error.retryAfterMs > 0));
  assert.equal(server.hub.registry.size, created);
  // A refused REST create made no session.
  assert.ok(server.hub.sessions.size <= 1 + restCreated, `${server.hub.sessions.size} sessions`);
  // Another address has its own budget.
  const bob = await clientFrom2(server, "Bob");
  const { meeting } = await bob.request({ type: "create", title: "Bob's" });
  assert.equal(meeting.creator, "Bob");
  ann.close();
  bob.close();
});

Deno.test("creates: open meetings are capped per address and on the server", async () => {
  await using server = await testServer({
    limits: {
      creates: { burst: 1_000, ratePerSecond: 1_000 },
      openMeetingsPerAddress: 5,
      maxOpenMeetings: 8,
    },
  });
  const ann = await testClient(server, "Ann");
  const mine: string[] = [];
  for (let i = 0; i < 5; i++) {
    mine.push((await ann.request({ type: "create", title: `A${i}`, join: false })).meeting.id);
  }
  await assert.rejects(
    ann.request({ type: "create", title: "one too many", join: false }),
    (e) => code(e) === "limit_reached",
  );
  const res = await fetch(`${server.url}api/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ title: "rest", name: "Ann" }),
  });
  assert.equal(res.status, 429);
  assert.equal((await res.json()).error.code, "limit_reached");
  const bob = await clientFrom2(server, "Bob");
  for (let i = 0; i < 3; i++) await bob.request({ type: "create", title: `B${i}`, join: false });
  await assert.rejects(
    bob.request({ type: "create", title: "server full", join: false }),
    (e) => code(e) === "limit_reached",
  );
  assert.equal(server.hub.registry.size, 8);
  // A meeting that ends frees its place.
  await ann.request({ type: "cancel", meetingId: mine[0] });
  await ann.request({ type: "create", title: "again", join: false });
  ann.close();
  bob.close();
});

Deno.test("the live list: a burst of changes sends a bounded number of lists; a lone change goes out at once", async () => {
  await using server = await testServer({
    limits: { creates: { burst: 1_000, ratePerSecond: 1_000 }, openMeetingsPerAddress: 1_000 },
  });
  const watcher = await testClient(server, "Watcher");
  await watcher.request({ type: "subscribe_meetings" });
  const ann = await testClient(server, "Ann");
  // A lone change after a quiet period reaches the subscriber quickly.
  const t0 = performance.now();
  const { meeting: first } = await ann.request({ type: "create", title: "First", join: false });
  await waitFor(
    () => watcher.eventsOf("meetings").some((e) => e.meetings.some((m) => m.id === first.id)),
    { what: "the new meeting in the list" },
  );
  assert.ok(performance.now() - t0 < LIST_INTERVAL_MS, "the first change went out at once");
  // A burst: 150 creates, one after another.
  const before = watcher.eventsOf("meetings").length;
  const start = performance.now();
  let last = "";
  for (let i = 0; i < 150; i++) {
    last = (await ann.request({ type: "create", title: `B${i}`, join: false })).meeting.id;
  }
  const burstMs = performance.now() - start;
  await waitFor(
    () => watcher.eventsOf("meetings").at(-1)?.meetings.some((m) => m.id === last),
    { what: "the last meeting in the list" },
  );
  const lists = watcher.eventsOf("meetings").length - before;
  const bound = Math.ceil(burstMs / LIST_INTERVAL_MS) + 2;
  assert.ok(lists <= bound, `${lists} lists for 150 creates in ${burstMs.toFixed(0)} ms`);
  assert.equal(watcher.eventsOf("meetings").at(-1)!.meetings.length, 151);
  watcher.close();
  ann.close();
});

Deno.test("the live list shows the newest 500 meetings at most", async () => {
  await using server = await testServer({
    limits: { creates: { burst: 1_000, ratePerSecond: 1_000 }, openMeetingsPerAddress: 1_000 },
  });
  // Each connection may send 200 messages at once: three connections make the meetings.
  const makers = await Promise.all(["A", "B", "C"].map((n) => testClient(server, n)));
  let newest = "";
  for (let i = 0; i < LIST_MAX_MEETINGS + 10; i++) {
    const maker = makers[Math.floor(i / 170)];
    newest = (await maker.request({ type: "create", title: `M${i}`, join: false })).meeting.id;
  }
  const ann = await testClient(server, "Ann");
  const list = await (await fetch(`${server.url}api/meetings`)).json();
  assert.equal(list.length, LIST_MAX_MEETINGS);
  assert.equal(list[0].id, newest);
  const { meetings } = await ann.request({ type: "subscribe_meetings" });
  assert.equal(meetings.length, LIST_MAX_MEETINGS);
  for (const c of [ann, ...makers]) c.close();
});

Deno.test("sessions: new sessions per address are limited; tokens still resume; another address is fine", async () => {
  await using server = await testServer({
    limits: { sessions: { burst: 5, ratePerSecond: 0.01 } },
  });
  const clients = [];
  for (let i = 0; i < 5; i++) clients.push(await testClient(server, `P${i}`));
  const extra = await connect(server);
  await assert.rejects(
    extra.request({ type: "identify", name: "One too many" }),
    (e) => code(e) === "rate_limited",
  );
  await extra.request({ type: "identify", token: clients[0].token }); // no new session
  const other = await clientFrom2(server, "Elsewhere");
  assert.equal(server.hub.sessions.size, 6);
  for (const c of [...clients, extra, other]) c.close();
});

Deno.test("seats: a meeting holds at most maxParticipants; a freed seat can be taken", async () => {
  await using server = await testServer({ maxParticipants: 3 });
  const people = await Promise.all(["A", "B", "C", "D"].map((n) => testClient(server, n)));
  const { meeting } = await people[0].request({ type: "create", title: "Small" });
  await people[1].request({ type: "join", meetingId: meeting.id });
  await people[2].request({ type: "join", meetingId: meeting.id });
  await assert.rejects(
    people[3].request({ type: "join", meetingId: meeting.id }),
    (e) => code(e) === "limit_reached",
  );
  await people[2].request({ type: "leave" });
  assert.equal((await people[3].request({ type: "join", meetingId: meeting.id })).name, "D");
  for (const p of people) p.close();
});
