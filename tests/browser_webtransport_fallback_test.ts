/**
 * End to end, UDP blocked: the scenario in tests/webtransport/fallback_scenario.ts runs in its
 * own network namespace with only loopback (unshare -n), where it drops UDP to the server's
 * QUIC port with iptables; the machine's own network is never touched.
 */

import assert from "node:assert/strict";
import { runInLoopbackNamespace } from "./support/netns.ts";

Deno.test("browser WebTransport fallback: UDP blocked mid-call moves pages to the WebSocket within 3 s, without a re-join or a new capture; blocked at join, pages use the WebSocket; unblocked, they move back", async () => {
  const { figures } = await runInLoopbackNamespace(
    new URL("./webtransport/fallback_scenario.ts", import.meta.url),
    "the WebTransport fallback scenario",
  );
  console.log("fallback figures:", figures);
  assert.ok((figures.resumeAfterBlockMs as number) <= 3_000);
});
