/**
 * Placement across a cluster: two nodes (`startServer` with `redis`, in this process, with the
 * create limits raised: every create comes from 127.0.0.1) share a real redis-server on
 * loopback. N meetings are created over REST through the nodes in turn (`fetch` follows each
 * node's 307 to where it places the meeting), as fast as the answers come. Measured: where the
 * meetings landed (spread from even), whether each node's lobby lists all of them at the end,
 * and how long a meeting took from its create's answer to appearing in the other node's lobby
 * (a subscribed control client on each node; p50/p99 over the meetings that landed on the other
 * node).
 *
 * Usage: `./deno run -A bench/cluster.ts [--quick] [--json]` (200 meetings; quick: 60).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { startServer } from "../server/server.ts";
import { testClient } from "../tests/support/server.ts";
import { startRedis } from "../tests/support/redis.ts";
import { fmt, machineLine, table } from "./_report.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  },
});

const MEETINGS = args.quick ? 60 : 200;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const redis = await startRedis();
const dirs: string[] = [];
const limits = {
  creates: { burst: 10_000, ratePerSecond: 1_000 },
  openMeetingsPerAddress: 10_000,
};
const node = async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "meet-bench-cluster-" });
  dirs.push(dataDir);
  return await startServer({
    hostname: "127.0.0.1",
    port: 0,
    udpPort: 0,
    quicPort: null,
    dataDir,
    limits,
    idleTimeoutMs: 600_000,
    redis: redis.url,
  });
};
const nodes = [await node(), await node()];
try {
  // Both nodes see each other before the first create.
  const deadline = Date.now() + 10_000;
  while (nodes.some((n) => n.cluster!.nodes.length < 2)) {
    if (Date.now() > deadline) throw new Error("the nodes did not see each other");
    await new Promise((r) => setTimeout(r, 50));
  }
  // A lobby on each node: when each meeting first appears in it.
  const seenAt = nodes.map(() => new Map<string, number>());
  const watchers = await Promise.all(
    nodes.map((n) => testClient({ wsUrl: `${n.url.replace(/^http/, "ws")}ws` }, "Watcher")),
  );
  watchers.forEach((w, i) =>
    w.on("meetings", (e) => {
      const now = performance.now();
      for (const m of e.meetings) if (!seenAt[i].has(m.id)) seenAt[i].set(m.id, now);
    })
  );
  await Promise.all(watchers.map((w) => w.request({ type: "subscribe_meetings" })));
  const created: { id: string; through: number; at: number }[] = [];
  const started = performance.now();
  for (let k = 0; k < MEETINGS; k++) {
    const through = k % 2;
    const response = await fetch(`${nodes[through].url}api/meetings`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ title: `Meeting ${k + 1}`, name: "Bench" }),
    });
    const body = await response.json();
    if (response.status !== 201) throw new Error(`create ${k}: ${JSON.stringify(body)}`);
    created.push({ id: body.id, through, at: performance.now() });
  }
  const createSeconds = (performance.now() - started) / 1000;
  // Every meeting in both lobbies (or give up after 10 s).
  const until = Date.now() + 10_000;
  while (created.some((c) => !seenAt[0].has(c.id) || !seenAt[1].has(c.id)) && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const heldBy = created.map((c) => nodes.findIndex((n) => n.hub.registry.get(c.id)));
  const counts = nodes.map((_, i) => heldBy.filter((h) => h === i).length);
  const even = MEETINGS / nodes.length;
  const spreadPercent = Math.max(...counts.map((c) => Math.abs(c - even))) / even * 100;
  const listedEverywhere = nodes.map((n) => {
    const ids = new Set(n.hub.list().map((m) => m.id));
    return created.filter((c) => ids.has(c.id)).length;
  });
  // Cross-node latency: from the create's answer to the other node's lobby.
  const delays = created.flatMap((c, k) => {
    const other = 1 - heldBy[k];
    const at = seenAt[other].get(c.id);
    return at === undefined || heldBy[k] < 0 ? [] : [at - c.at];
  }).map((d) => Math.max(0, d)).sort((a, b) => a - b);
  const result = {
    meetings: MEETINGS,
    perNode: counts,
    spreadPercent,
    redirected: created.filter((c, k) => heldBy[k] !== c.through).length,
    listedEverywhere,
    createSeconds,
    listDelayMs: { p50: percentile(delays, 50), p99: percentile(delays, 99), max: delays.at(-1) },
    missing: MEETINGS * 2 - seenAt[0].size - seenAt[1].size,
  };
  watchers.forEach((w) => w.close());
  if (args.json) {
    console.log(JSON.stringify(result));
  } else {
    console.log(
      `${MEETINGS} meetings created over REST through two nodes in turn (a real redis-server on ` +
        `loopback; the nodes in one process; ${machineLine()}):\n\n` +
        table(
          [
            "meetings per node",
            "spread from even",
            "placed on the other node (307)",
            "listed on node 1 / node 2",
            "creates took",
            "list update on the other node p50 / p99 / max",
          ],
          [[
            counts.join(" / "),
            `${fmt(spreadPercent, 1)}%`,
            `${result.redirected}`,
            listedEverywhere.join(" / "),
            `${fmt(createSeconds, 1)} s`,
            `${fmt(result.listDelayMs.p50)} / ${fmt(result.listDelayMs.p99)} / ${
              fmt(result.listDelayMs.max ?? NaN)
            } ms`,
          ]],
          [false, true, true, false, true, false],
        ),
    );
  }
} finally {
  for (const n of nodes) await n.close();
  await redis[Symbol.asyncDispose]();
  for (const dir of dirs) await Deno.remove(dir, { recursive: true }).catch(() => {});
}
