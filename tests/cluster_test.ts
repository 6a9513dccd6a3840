/**
 * Several nodes sharing one real redis-server on loopback (`--redis`): every node lists every
 * live meeting, sends clients to the node that holds it (page 302, API 307, control `moved`),
 * drops a dead node's meetings within the heartbeat timeout, and a Redis restart cuts no call.
 */

import assert from "node:assert/strict";
import { Redis } from "ioredis";
import type { MeetingSummary } from "../meeting/meeting.ts";
import { startServerProcess } from "../bench/_server_process.ts";
import { ControlError } from "../client/control_client.ts";
import { mediaBot } from "./support/media_bot.ts";
import { startRedis } from "./support/redis.ts";
import { cli } from "./support/cli.ts";
import { connect, createMeeting, testClient, testServer } from "./support/server.ts";
import { waitFor } from "./support/wait.ts";

/** Short heartbeats so that a dead node is noticed within a second or two. */
const TIMINGS = { heartbeatMs: 200, nodeTtlMs: 600 };

async function listOf(server: { url: string }): Promise<MeetingSummary[]> {
  return await (await fetch(`${server.url}api/meetings`)).json();
}

Deno.test("cluster: a meeting created on node A is in node B's lobby within a second, with A's address; B sends its page, API and joins to A; it leaves B's list when it ends", async () => {
  await using redis = await startRedis();
  await using a = await testServer({ redis: redis.url, clusterTimings: TIMINGS });
  await using b = await testServer({ redis: redis.url, clusterTimings: TIMINGS });
  const origin = (server: { url: string }) => server.url.replace(/\/$/, "");
  const watcher = await testClient(b, "Watcher");
  try {
    const lists: { at: number; meetings: MeetingSummary[] }[] = [];
    watcher.on("meetings", (e) => lists.push({ at: performance.now(), meetings: e.meetings }));
    await watcher.request({ type: "subscribe_meetings" });
    const createdAt = performance.now();
    const meeting = await createMeeting(a, "On A", "Ann");
    const seen = await waitFor(
      () => lists.find((l) => l.meetings.some((m) => m.id === meeting.id)),
      { what: "the meeting in B's lobby" },
    );
    const delayMs = seen.at - createdAt;
    assert.ok(delayMs < 1000, `listed on B after ${delayMs} ms`);
    const listed = seen.meetings.find((m) => m.id === meeting.id)!;
    assert.equal(listed.url, origin(a));
    assert.equal(listed.title, "On A");
    assert.equal(listed.creator, "Ann");
    // A lists it as its own (no address); B's REST list has it with A's.
    assert.equal((await listOf(a)).find((m) => m.id === meeting.id)?.url, undefined);
    assert.equal((await listOf(b)).find((m) => m.id === meeting.id)?.url, origin(a));
    // B's link and API for it go to A.
    const page = await fetch(`${b.url}m/${meeting.id}?x=1`, { redirect: "manual" });
    await page.body?.cancel();
    assert.equal(page.status, 302);
    assert.equal(page.headers.get("location"), `${origin(a)}/m/${meeting.id}?x=1`);
    const api = await fetch(`${b.url}api/meetings/${meeting.id}`, { redirect: "manual" });
    await api.body?.cancel();
    assert.equal(api.status, 307);
    assert.equal(api.headers.get("location"), `${origin(a)}/api/meetings/${meeting.id}`);
    const followed = await (await fetch(`${b.url}api/meetings/${meeting.id}`)).json();
    assert.equal(followed.title, "On A");
    await assert.rejects(
      () => watcher.request({ type: "join", meetingId: meeting.id }),
      (err: ControlError) =>
        err.code === "moved" && err.location === `${origin(a)}/m/${meeting.id}`,
    );
    // A meeting nobody holds is still B's own not_found.
    const none = await fetch(`${b.url}api/meetings/nosuchmeeting`);
    await none.body?.cancel();
    assert.equal(none.status, 404);
    // Changes follow (someone joins on A), then the end.
    const bot = await mediaBot(a, "Bob", meeting.id);
    try {
      await waitFor(
        async () => (await listOf(b)).find((m) => m.id === meeting.id)?.participants === 1,
        {
          what: "B's list shows the participant",
        },
      );
    } finally {
      bot.close();
    }
    const cancel = await fetch(`${a.url}api/meetings/${meeting.id}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${meeting.token}` },
    });
    await cancel.body?.cancel();
    assert.equal(cancel.status, 204);
    await waitFor(
      () => lists.at(-1)!.meetings.every((m) => m.id !== meeting.id),
      { what: "the meeting gone from B's lobby", timeoutMs: 2000 },
    );
  } finally {
    watcher.close();
  }
});

Deno.test("cluster: a node that dies loses its meetings from the other's list within the heartbeat timeout; one that stops leaves at once", async () => {
  await using redis = await startRedis();
  await using b = await testServer({ redis: redis.url, clusterTimings: TIMINGS });
  // A real process, killed outright: no goodbye reaches Redis (default timings: 1 s, 3 s).
  const a = await startServerProcess({ args: ["--redis", redis.url] });
  try {
    const meeting = await createMeeting(a, "Doomed");
    await waitFor(async () => (await listOf(b)).some((m) => m.id === meeting.id), {
      what: "A's meeting on B",
    });
    const killedAt = performance.now();
    Deno.kill(a.pid, "SIGKILL");
    await waitFor(async () => !(await listOf(b)).some((m) => m.id === meeting.id), {
      what: "A's meeting gone from B's list",
      timeoutMs: 10_000,
    });
    const goneAfterMs = performance.now() - killedAt;
    // The record's 3 s to live, and B's next sweep (200 ms).
    assert.ok(goneAfterMs < 5000, `gone after ${goneAfterMs} ms`);
  } finally {
    await a.stop();
  }
  // A node that stops cleanly takes its meetings with it at once.
  const c = await testServer({
    redis: redis.url,
    clusterTimings: { heartbeatMs: 5000, nodeTtlMs: 15_000 },
  });
  const meeting = await createMeeting(c, "Brief");
  await waitFor(async () => (await listOf(b)).some((m) => m.id === meeting.id), {
    what: "C's meeting on B",
  });
  await c.close();
  await waitFor(async () => !(await listOf(b)).some((m) => m.id === meeting.id), {
    what: "C's meeting gone from B's list",
    timeoutMs: 2000,
  });
});

Deno.test("cluster: Redis restarting mid-call cuts no call, and the lists come back", async () => {
  await using redis = await startRedis();
  await using a = await testServer({ redis: redis.url, clusterTimings: TIMINGS });
  await using b = await testServer({ redis: redis.url, clusterTimings: TIMINGS });
  const meeting = await createMeeting(a, "Steady");
  const ann = await mediaBot(a, "Ann", meeting.id);
  const bob = await mediaBot(a, "Bob", meeting.id);
  try {
    ann.startTone(440);
    bob.startTone(660);
    const HEARD = 0.005;
    await waitFor(() => ann.tonePower(660) > HEARD && bob.tonePower(440) > HEARD, {
      what: "Ann and Bob hear each other",
    });
    await waitFor(async () => (await listOf(b)).some((m) => m.id === meeting.id), {
      what: "the meeting on B",
    });
    await redis.stop();
    // Redis away for a while: the call goes on, and creating meetings still works.
    const stoppedAt = performance.now();
    await waitFor(() => performance.now() - stoppedAt > 1500, { what: "1.5 s without Redis" });
    const mixBefore = ann.mixSamples.length;
    await waitFor(() => ann.mixSamples.length > mixBefore + 48_000 * 0.5, {
      what: "half a second more of the mix",
    });
    assert.ok(ann.tonePower(660) > HEARD && bob.tonePower(440) > HEARD, "still hearing each other");
    const during = await createMeeting(a, "Made without Redis");
    // Redis comes back empty: each node registers and publishes again.
    await redis.start();
    await waitFor(async () => {
      const ids = (await listOf(b)).map((m) => m.id);
      return ids.includes(meeting.id) && ids.includes(during.id);
    }, { what: "A's meetings on B again", timeoutMs: 10_000 });
    assert.ok(ann.tonePower(660) > HEARD && bob.tonePower(440) > HEARD, "and after");
  } finally {
    ann.close();
    bob.close();
  }
});

Deno.test("cluster: news published while a node's subscriber reconnects are not lost: it reads them from the hash", async () => {
  await using redis = await startRedis();
  await using a = await testServer({ redis: redis.url, clusterTimings: TIMINGS });
  await using b = await testServer({ redis: redis.url, clusterTimings: TIMINGS });
  const meeting = await createMeeting(a, "Known");
  await waitFor(async () => (await listOf(b)).some((m) => m.id === meeting.id), {
    what: "A's meeting on B",
  });
  const client = new Redis(redis.url, { lazyConnect: true });
  await client.connect();
  using _ = { [Symbol.dispose]: () => client.disconnect() };
  const record = JSON.parse((await client.hget("meet:meetings", meeting.id))!);
  const summary = { ...record.summary, id: `${meeting.id.slice(0, -2)}zz`, title: "Missed" };
  const reloads = b.cluster!.stats.reloads;
  // Every subscriber is cut, and in the same transaction a meeting of A's (a node B already
  // knows, so no sweep reloads for it) is written and announced: nobody hears the news.
  const replies = await client.multi()
    .client("KILL", "TYPE", "pubsub")
    .hset("meet:meetings", summary.id, JSON.stringify({ ...record, summary }))
    .publish(
      "meet:events",
      JSON.stringify({ node: record.node, url: record.url, upserts: [summary], removes: [] }),
    )
    .exec();
  assert.equal(replies?.[0][1], 2, "both nodes' subscribers cut");
  assert.equal(replies?.[2][1], 0, "the news reached no one");
  await waitFor(async () => (await listOf(b)).some((m) => m.id === summary.id), {
    what: "the missed meeting on B",
    timeoutMs: 5000,
  });
  assert.equal((await listOf(b)).find((m) => m.id === summary.id)?.title, "Missed");
  assert.ok(b.cluster!.stats.reloads > reloads, "B read the hash again");
});

Deno.test("cluster: new meetings go to the least-loaded node: REST answers 307 there, the lobby's create is made there with a handoff that makes its page the creator; a create that joins at once, and a draining node, stay or go as they should", async () => {
  await using redis = await startRedis();
  await using a = await testServer({ redis: redis.url, clusterTimings: TIMINGS });
  await using b = await testServer({ redis: redis.url, clusterTimings: TIMINGS });
  // Both nodes know each other (each heartbeat reads the live nodes).
  await waitFor(() => a.cluster!.nodes.length === 2 && b.cluster!.nodes.length === 2, {
    what: "two live nodes seen by both",
  });
  // One node holds a meeting with a participant (A: on a tie a node keeps a meeting itself).
  const first = await createMeeting(a, "First");
  const bot = await mediaBot(a.hub.registry.get(first.id) ? a : b, "Ann", first.id);
  try {
    const busy = a.hub.registry.get(first.id) ? a : b;
    const idle = busy === a ? b : a;
    await waitFor(() => idle.hub.list().find((m) => m.id === first.id)?.participants === 1, {
      what: "the idle node sees the participant",
    });
    // REST through the busy node: 307 to the idle one, which makes it (fetch follows).
    const manual = await fetch(`${busy.url}api/meetings`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ title: "Redirected", name: "Cy" }),
      redirect: "manual",
    });
    await manual.body?.cancel();
    assert.equal(manual.status, 307);
    assert.match(manual.headers.get("location")!, new RegExp(`^${idle.url}api/meetings\\?placed=`));
    const placed = await createMeeting(busy, "Placed", "Cy");
    assert.ok(idle.hub.registry.get(placed.id), "made on the idle node");
    // Its creator token is the idle node's: it cancels there.
    const cancel = await fetch(`${idle.url}api/meetings/${placed.id}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${placed.token}` },
    });
    await cancel.body?.cancel();
    assert.equal(cancel.status, 204);
    // The lobby's create (join: false) through the busy node: made on the idle one, with the
    // idle node's address and a handoff code for its page there.
    const dee = await testClient(busy, "Dee");
    const created = await dee.request({ type: "create", title: "From the lobby", join: false });
    dee.close();
    assert.equal(created.meeting.url, idle.url.replace(/\/$/, ""));
    assert.ok(created.handoff && created.handoff.length >= 16);
    const held = idle.hub.registry.get(created.meeting.id)!;
    assert.ok(held, "made on the idle node");
    assert.ok(
      busy.hub.list().some((m) => m.id === created.meeting.id),
      "listed on the busy one at once",
    );
    // The page there identifies with the code: it is the creator's session, once.
    const page = await connect(idle);
    const me = await page.request({ type: "identify", handoff: created.handoff, name: "Dee" });
    assert.equal(idle.hub.sessions.byToken(me.token)?.id, held.creatorSessionId);
    const joined = await page.request({ type: "join", meetingId: held.id });
    assert.equal(joined.meeting.roster.find((p) => p.name === "Dee")?.isCreator, true);
    page.close();
    const again = await connect(idle);
    await assert.rejects(
      () => again.request({ type: "identify", handoff: created.handoff }),
      (err: ControlError) => err.code === "invalid_token",
    );
    again.close();
    // A create that joins at once (the terminal client's) is made where it was asked.
    const eve = await testClient(busy, "Eve");
    const local = await eve.request({ type: "create", title: "Right here" });
    assert.ok(busy.hub.registry.get(local.meeting.id));
    eve.close();
    // The idle node drains: new meetings go to the busy one, which takes them.
    idle.drain();
    await waitFor(
      () => busy.cluster!.nodes.find((n) => n.id === idle.cluster!.nodeId)?.accepting === false,
      {
        what: "the draining node's record says so",
      },
    );
    const afterDrain = await createMeeting(idle, "While draining");
    assert.ok(busy.hub.registry.get(afterDrain.id), "made on the node that takes meetings");
  } finally {
    bot.close();
  }
});

Deno.test("cluster: the terminal client given node B and a meeting node A holds joins it on A", async () => {
  await using redis = await startRedis();
  await using a = await testServer({ redis: redis.url, clusterTimings: TIMINGS });
  await using b = await testServer({ redis: redis.url, clusterTimings: TIMINGS });
  const meeting = await createMeeting(a, "Terminal");
  await waitFor(() => b.hub.elsewhere(meeting.id), { what: "B knows where it is" });
  await using _term = cli(["--server", b.url, "--join", meeting.id, "--name", "Term", "--json"]);
  const seat = await waitFor(
    () => a.hub.registry.get(meeting.id)?.details().roster.find((p) => p.name === "Term"),
    { what: "the terminal client seated on A", timeoutMs: 15_000 },
  );
  assert.equal(seat.kind, "client");
});
