/**
 * A meeting on an impaired network: three pages in relay mode while every packet to or from
 * the server is delayed 25 +/- 8 ms and 1% are dropped (netsim, in a private namespace, see
 * tests/network/relay_scenario.ts). Lost video is resent on NACK, lost audio repaired by RED.
 */

import assert from "node:assert/strict";
import { runInLoopbackNamespace } from "./support/netns.ts";

interface PageFigures {
  name: string;
  transport: string;
  streams: { id: string; fps: number; freezes: number; freezesMs: number }[];
  concealedPercent: number;
  audibleMs: number;
}

Deno.test("browser on an impaired network: at 25 +/- 8 ms and 1% loss per packet, three pages in relay mode keep >= 28 fps per stream with no freeze over 10 s, and hear each other", async () => {
  const { figures } = await runInLoopbackNamespace(
    new URL("./network/relay_scenario.ts", import.meta.url),
    "the impaired relay scenario",
    ["--delay=25", "--jitter=8", "--loss=1", "--seconds=10", "--warmup=5"],
  );
  console.log("impaired relay figures:", JSON.stringify(figures));
  assert.deepEqual(figures.errors, []);
  const pages = figures.pages as PageFigures[];
  assert.equal(pages.length, 3);
  assert.deepEqual((figures.server as { transports: unknown }).transports, { webtransport: 3 });
  for (const page of pages) {
    assert.equal(page.streams.length, 2, `${page.name} sees ${page.streams.length} streams`);
    for (const s of page.streams) {
      assert.ok(s.fps >= 28, `${page.name} shows ${s.id} at ${s.fps.toFixed(1)} fps`);
      assert.equal(s.freezes, 0, `${page.name}: ${s.id} froze ${s.freezes} times`);
    }
    assert.ok(page.audibleMs > 5_000, `${page.name} heard ${page.audibleMs} ms of the others`);
  }
  // Losses happened, and were repaired: the server resent video.
  const netsim = figures.netsim as { droppedLoss: number };
  assert.ok(netsim.droppedLoss > 0, "netsim dropped nothing");
  assert.ok((figures.server as { resent: number }).resent > 0, "nothing was resent");
});
