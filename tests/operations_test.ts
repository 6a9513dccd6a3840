/**
 * What an operator sees and steers: `/healthz`, `/readyz`, `/metrics` (Prometheus text, only
 * with its token, its figures moving as a meeting runs) and a drain asked over HTTP with the
 * admin token (no new meetings, the live one goes on, the server says when it is done).
 */

import assert from "node:assert/strict";
import { mediaBot } from "./support/media_bot.ts";
import { createMeeting, testServer } from "./support/server.ts";
import { waitFor } from "./support/wait.ts";

const METRICS_TOKEN = "m".repeat(24);
const ADMIN_TOKEN = "a".repeat(24);

/** The samples of an exposition text, by `name{labels}`; throws on a line that is neither. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("# HELP ") || line.startsWith("# TYPE ")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$/.exec(line);
    assert.ok(m, `not exposition format: ${line}`);
    out.set(m[1], Number(m[2]));
  }
  return out;
}

Deno.test({
  name:
    "operations: health and readiness; metrics only with their token, in the exposition format, moving as a meeting runs; a drain over HTTP",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await testServer({
      p2p: "off",
      metricsToken: METRICS_TOKEN,
      adminToken: ADMIN_TOKEN,
    });
    const get = (path: string, token?: string) =>
      fetch(`${server.url}${path}`, {
        headers: token ? { authorization: `Bearer ${token}` } : {},
      });
    assert.deepEqual(await (await get("healthz")).json(), { status: "ok" });
    assert.equal((await get("readyz")).status, 200);

    // The token, and only it.
    for (const [token, status] of [[undefined, 401], ["x".repeat(24), 403]] as const) {
      const r = await get("metrics", token);
      assert.equal(r.status, status);
      await r.body?.cancel();
    }
    const scrape = async () => {
      const r = await get("metrics", METRICS_TOKEN);
      assert.equal(r.status, 200);
      assert.match(r.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
      return samples(await r.text());
    };
    const before = await scrape();
    assert.equal(before.get("meet_meetings"), 0);
    assert.ok((before.get("meet_process_resident_memory_bytes") ?? 0) > 0);

    const created = await createMeeting(server, "Watched");
    const ann = await mediaBot(server, "Ann", created.id);
    const bob = await mediaBot(server, "Bob", created.id);
    ann.startTone(440);
    bob.startTone(660);
    await waitFor(() => ann.mixSamples.length > 48_000, { what: "a second of mix" });
    const during = await scrape();
    assert.equal(during.get("meet_meetings"), 1);
    assert.equal(during.get('meet_participants{transport="websocket",mode="relay"}'), 2);
    assert.ok((during.get("meet_media_received_packets_total") ?? 0) >= 50);
    assert.ok((during.get('meet_media_forwarded_packets_total{kind="audio"}') ?? 0) >= 50);
    assert.ok((during.get("meet_mixer_ticks_total") ?? 0) >= 50);
    assert.ok((during.get("meet_media_tick_seconds_count") ?? 0) >= 50);
    // The mixers' codec calls, one in eight timed at random: two speakers decoded, two mixes
    // encoded, 100 calls of each a second.
    const timed = await waitFor(async () => {
      const m = await scrape();
      const enough = (m.get("meet_mixer_decode_seconds_count") ?? 0) >= 10 &&
        (m.get("meet_mixer_encode_seconds_count") ?? 0) >= 10;
      return enough ? m : null;
    }, { what: "timed decodes and encodes" });
    const decodeSum = timed.get("meet_mixer_decode_seconds_sum") ?? 0;
    assert.ok(decodeSum > 0 && decodeSum < 1, `decode time ${decodeSum} s`);

    // Drain over HTTP: the admin token only; the meeting goes on; new ones are refused.
    const drain = (token?: string) =>
      fetch(`${server.url}api/admin/drain`, {
        method: "POST",
        headers: token ? { authorization: `Bearer ${token}` } : {},
      });
    for (const [token, status] of [[undefined, 401], [METRICS_TOKEN, 403]] as const) {
      const r = await drain(token);
      assert.equal(r.status, status);
      await r.body?.cancel();
    }
    const drained = await drain(ADMIN_TOKEN);
    assert.equal(drained.status, 202);
    await drained.body?.cancel();
    assert.equal((await get("readyz")).status, 503);
    await waitFor(() => ann.events.find((e) => e.type === "draining"), { what: "Ann told" });
    const refused = await fetch(`${server.url}api/meetings`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ title: "Late", name: "Cy" }),
    });
    assert.equal(refused.status, 503);
    await refused.body?.cancel();
    const heard = ann.mixSamples.length;
    await waitFor(() => ann.mixSamples.length > heard + 24_000, { what: "the meeting going on" });
    assert.equal((await scrape()).get("meet_draining"), 1);
    // Once its meeting ends, the server says it is done.
    let done = false;
    server.drained.then(() => done = true);
    await ann.request({ type: "leave" });
    await bob.request({ type: "leave" });
    await waitFor(() => done, { what: "the drain to finish" });
    ann.close();
    bob.close();

    // Without a metrics token there are no metrics at all.
    await using plain = await testServer();
    const none = await fetch(`${plain.url}metrics`);
    assert.equal(none.status, 404);
    await none.body?.cancel();
  },
});
