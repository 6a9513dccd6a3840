/**
 * Integration: the REST API over real HTTP.
 */

import assert from "node:assert/strict";
import { connect, testClient, testServer } from "./support/server.ts";
import { waitFor } from "./support/wait.ts";

Deno.test("REST: create, list, details, history, cancel with the creator's token only", async () => {
  await using server = await testServer();
  const api = (path: string, init?: RequestInit) => fetch(`${server.url}api/${path}`, init);

  const res = await api("meetings", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ title: "Ops", name: "Ann" }),
  });
  assert.equal(res.status, 201);
  const created = await res.json();
  assert.match(created.id, /^[a-z0-9]{10}$/);
  assert.match(created.token, /^[A-Za-z0-9_-]{22}$/); // 128 bits, base64url
  assert.equal(res.headers.get("location"), `/api/meetings/${created.id}`);

  const list = await (await api("meetings")).json();
  assert.deepEqual(list.map((m: Record<string, unknown>) => Object.keys(m).sort()), [
    [
      "createdAt",
      "creator",
      "id",
      "locked",
      "mode",
      "newcomers",
      "participants",
      "recording",
      "title",
    ],
  ]);
  assert.equal(list[0].participants, 0);
  assert.equal(list[0].mode, "relay");
  assert.equal(list[0].recording, null);

  const bob = await testClient(server, "Bob");
  await bob.request({ type: "join", meetingId: created.id });
  const details = await (await api(`meetings/${created.id}`)).json();
  assert.equal(details.participants, 1);
  assert.deepEqual(
    details.roster.map((p: { name: string; isCreator: boolean }) => [p.name, p.isCreator]),
    [["Bob", false]],
  );

  // Wrong, missing and other people's tokens: refused, nothing changes.
  const del = (headers: Record<string, string>) =>
    api(`meetings/${created.id}`, { method: "DELETE", headers });
  assert.equal((await del({})).status, 401);
  assert.equal((await del({ authorization: "Bearer not-a-token" })).status, 403);
  assert.equal((await del({ authorization: `Bearer ${bob.token}` })).status, 403);
  assert.equal((await api(`meetings/${created.id}`)).status, 200);
  assert.equal(server.hub.registry.get(created.id)?.state, "open");

  const ok = await del({ authorization: `Bearer ${created.token}` });
  assert.equal(ok.status, 204);
  await waitFor(() => bob.eventsOf("removed").some((e) => e.reason === "cancelled"), {
    what: "Bob removed by the REST cancel",
  });
  assert.deepEqual(await (await api("meetings")).json(), []);
  const after = await (await api(`meetings/${created.id}`)).json();
  assert.equal(after.state, "cancelled");
  assert.equal((await del({ authorization: `Bearer ${created.token}` })).status, 404);
  assert.equal(
    (await api("meetings/unknownid1", {
      method: "DELETE",
      headers: { authorization: `Bearer ${created.token}` },
    })).status,
    404,
  );

  const history = await (await api(`meetings/${created.id}/history`)).json();
  assert.deepEqual(history.events.map((e: { type: string }) => e.type), [
    "created",
    "joined",
    "cancelled",
  ]);
  bob.close();
});

Deno.test("REST: the creator's token from POST acts as the creator over WebSocket", async () => {
  await using server = await testServer();
  const created = await (await fetch(`${server.url}api/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ title: "Scripted", name: "Bot" }),
  })).json();
  const bot = await connect(server);
  const who = await bot.request({ type: "identify", token: created.token });
  assert.equal(who.name, "Bot");
  const joined = await bot.request({ type: "join", meetingId: created.id });
  assert.equal(joined.meeting.roster[0].isCreator, true);
  await bot.request({ type: "cancel" });
  assert.equal(server.hub.registry.get(created.id), undefined);
  bot.close();
});

Deno.test("REST: bad bodies and unknown ids get clear errors and change nothing", async () => {
  await using server = await testServer();
  const post = (body: BodyInit) =>
    fetch(`${server.url}api/meetings`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
  const cases: [BodyInit, number, string][] = [
    ["{oops", 400, "bad_json"],
    ["[]", 400, "bad_request"],
    [JSON.stringify({ title: "x" }), 400, "invalid_name"],
    [JSON.stringify({ name: "Ann" }), 400, "invalid_title"],
    [JSON.stringify({ title: "t".repeat(81), name: "Ann" }), 400, "invalid_title"],
    [JSON.stringify({ title: "x", name: "n".repeat(41) }), 400, "invalid_name"],
    [JSON.stringify({ title: "x", name: "Ann", pad: "p".repeat(70_000) }), 413, "too_large"],
  ];
  for (const [body, status, code] of cases) {
    const res = await post(body);
    assert.equal(res.status, status, `${String(body).slice(0, 30)} -> ${status}`);
    const json = await res.json();
    assert.equal(json.error.code, code);
    assert.ok(json.error.message.length > 5);
  }
  assert.deepEqual(await (await fetch(`${server.url}api/meetings`)).json(), []);
  assert.equal((await fetch(`${server.url}api/meetings/nope`)).status, 404);
  assert.equal((await fetch(`${server.url}api/meetings/nope/history`)).status, 404);
  assert.equal((await fetch(`${server.url}api/elsewhere`)).status, 404);
  const put = await fetch(`${server.url}api/meetings`, { method: "PUT", body: "{}" });
  assert.equal(put.status, 405);
  assert.equal(put.headers.get("allow"), "GET, POST");
  await put.body?.cancel();
});

Deno.test("pages: home lists meetings, a room renders, an unknown room, a malformed meeting link or an unknown path is a styled 404 page with a way back", async () => {
  await using server = await testServer();
  const created = await (await fetch(`${server.url}api/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ title: "<script>alert(1)</script>", name: "Ann" }),
  })).json();
  const home = await (await fetch(server.url)).text();
  assert.ok(
    home.includes(">&lt;script>alert(1)&lt;/script></p>"),
    "title shown as text in the list",
  );
  assert.ok(!home.includes("<script>alert(1)</script>"));
  assert.ok(home.includes('src="/_islands/boot.js"'));
  const room = await fetch(`${server.url}m/${created.id}`);
  assert.equal(room.status, 200);
  assert.ok((await room.text()).includes('data-island="MeetingPage"'));
  for (
    const [path, heading] of [
      ["m/nothere", "No such meeting"],
      ["m/", "No such meeting"],
      ["m/bad%20id!!", "No such meeting"],
      ["m/a/b", "No such meeting"],
      ["nonsense", "Page not found"],
    ]
  ) {
    const page = await fetch(`${server.url}${path}`);
    assert.equal(page.status, 404, path);
    assert.match(page.headers.get("content-type") ?? "", /text\/html/, path);
    const html = await page.text();
    assert.ok(html.includes(heading), `${path}: ${heading}`);
    assert.ok(html.includes('href="/"'), `${path}: a link back to the meeting list`);
    assert.ok(html.includes("data-ssr-css"), `${path}: styled like the other pages`);
  }
  const post = await fetch(`${server.url}nonsense`, { method: "POST" });
  assert.equal(post.status, 404);
  assert.equal(await post.text(), "Not found");
  const boot = await fetch(`${server.url}_islands/boot.js`);
  assert.equal(boot.headers.get("content-type"), "text/javascript; charset=utf-8");
  assert.ok((await boot.text()).length > 1000);
  const icon = await fetch(`${server.url}favicon.svg`);
  assert.equal(icon.status, 200);
  await icon.body?.cancel();
  const traversal = await fetch(`${server.url}..%2fdeno.json`);
  assert.equal(traversal.status, 404);
  await traversal.body?.cancel();
});
