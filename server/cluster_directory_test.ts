import assert from "node:assert/strict";
import { ClusterDirectory, MAX_REMOTE_MEETINGS, nodeUrl } from "./cluster_directory.ts";

const meeting = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  title: `Meeting ${id}`,
  creator: "Ann",
  participants: 1,
  mode: "relay",
  createdAt: 1000,
  locked: false,
  newcomers: "open",
  recording: null,
  ...extra,
});

Deno.test("cluster directory: other nodes' meetings are listed with their node's address, newest first, and go when removed", () => {
  const d = new ClusterDirectory("a");
  assert.equal(
    d.apply({ node: "b", url: "http://10.0.0.2:8000/", upserts: [meeting("m1")], removes: [] }),
    true,
  );
  d.apply({
    node: "c",
    url: "https://c.example.org",
    upserts: [meeting("m2", { createdAt: 2000 })],
    removes: [],
  });
  assert.deepEqual(d.list().map((m) => [m.id, m.url]), [
    ["m2", "https://c.example.org"],
    ["m1", "http://10.0.0.2:8000"],
  ]);
  // Changes replace the summary; a remove by another node than the holder changes nothing.
  d.apply({
    node: "b",
    url: "http://10.0.0.2:8000",
    upserts: [meeting("m1", { participants: 3 })],
    removes: [],
  });
  assert.equal(d.locate("m1")?.participants, 3);
  assert.equal(
    d.apply({ node: "c", url: "https://c.example.org", upserts: [], removes: ["m1"] }),
    false,
  );
  assert.equal(
    d.apply({ node: "b", url: "http://10.0.0.2:8000", upserts: [], removes: ["m1"] }),
    true,
  );
  assert.equal(d.locate("m1"), undefined);
  // Its own news are not mirrored: its meetings are its own.
  assert.equal(
    d.apply({ node: "a", url: "http://x:1", upserts: [meeting("m3")], removes: [] }),
    false,
  );
  assert.equal(d.size, 1);
});

Deno.test("cluster directory: a node without a heartbeat loses its meetings, and its late news are ignored", () => {
  const d = new ClusterDirectory("a");
  d.apply({ node: "b", url: "http://b:1", upserts: [meeting("m1"), meeting("m2")], removes: [] });
  d.apply({ node: "c", url: "http://c:1", upserts: [meeting("m3")], removes: [] });
  d.setLiveNodes(["a", "b", "c"]);
  // A node not seen yet is new: its news come before the heartbeat that finds it.
  d.apply({ node: "d", url: "http://d:1", upserts: [meeting("m5")], removes: [] });
  assert.ok(d.locate("m5"));
  assert.deepEqual(d.setLiveNodes(["a", "c", "d"]), ["b"]);
  assert.deepEqual(d.list().map((m) => m.id).sort(), ["m3", "m5"]);
  assert.equal(
    d.apply({ node: "b", url: "http://b:1", upserts: [meeting("m4")], removes: [] }),
    false,
  );
  // It comes back (a heartbeat again): listed again from its next news.
  d.setLiveNodes(["a", "b", "c", "d"]);
  assert.equal(
    d.apply({ node: "b", url: "http://b:1", upserts: [meeting("m4")], removes: [] }),
    true,
  );
  assert.equal(d.dropNode("c"), true);
  assert.equal(d.dropNode("d"), true);
  assert.deepEqual(d.list().map((m) => m.id), ["m4"]);
});

Deno.test("cluster directory: records from Redis that are not meetings, or addresses that are not http(s), are dropped and counted", () => {
  const d = new ClusterDirectory("a");
  const bad = [
    null,
    "m1",
    meeting("../etc"),
    meeting("m1", { title: 42 }),
    meeting("m1", { title: "x".repeat(201) }),
    meeting("m1", { participants: -1 }),
    meeting("m1", { mode: "mesh" }),
    meeting("m1", { newcomers: "<b>" }),
    meeting("m1", { recording: { id: "r1", startedAt: "soon", startedBy: "Ann" } }),
  ];
  d.apply({ node: "b", url: "http://b:1", upserts: bad, removes: [42, null] });
  assert.equal(d.size, 0);
  assert.equal(d.rejected, bad.length);
  for (
    const url of ["javascript:alert(1)", "http://b:1/path", "http://u:p@b:1", "ftp://b", "//b", 7]
  ) {
    assert.equal(nodeUrl(url), null, String(url));
    d.apply({ node: "b", url: url as string, upserts: [meeting("m1")], removes: [] });
  }
  assert.equal(d.size, 0);
  assert.equal(
    d.apply({ node: "../b", url: "http://b:1", upserts: [meeting("m1")], removes: [] }),
    false,
  );
  // A second node naming an id another holds does not take it over.
  d.apply({ node: "b", url: "http://b:1", upserts: [meeting("m1")], removes: [] });
  d.apply({
    node: "c",
    url: "http://c:1",
    upserts: [meeting("m1", { title: "impostor" })],
    removes: [],
  });
  assert.equal(d.locate("m1")?.url, "http://b:1");
  // Extra fields are not carried into the list.
  d.apply({
    node: "b",
    url: "http://b:1",
    upserts: [meeting("m2", { roster: ["x"] })],
    removes: [],
  });
  assert.equal("roster" in d.locate("m2")!, false);
});

Deno.test("cluster directory: the mirror is bounded", () => {
  const d = new ClusterDirectory("a");
  const many = Array.from({ length: MAX_REMOTE_MEETINGS + 5 }, (_, i) => meeting(`m${i}`));
  d.apply({ node: "b", url: "http://b:1", upserts: many, removes: [] });
  assert.equal(d.size, MAX_REMOTE_MEETINGS);
  assert.equal(d.rejected, 5);
});
