/**
 * End to end, peer to peer: the scenario in tests/webrtc/p2p_scenario.ts runs in its own
 * network namespace with only loopback (unshare -n), so WebRTC never uses a real interface.
 */

import assert from "node:assert/strict";
import { runInLoopbackNamespace } from "./support/netns.ts";

Deno.test("browser P2P: two pages go direct (server counters flat), a third switches to relay and back; --p2p off relays", async () => {
  const { figures } = await runInLoopbackNamespace(
    new URL("./webrtc/p2p_scenario.ts", import.meta.url),
    "the P2P scenario",
  );
  console.log("P2P figures:", figures);
  assert.equal(figures.forwardedDuringP2p, 0);
});
