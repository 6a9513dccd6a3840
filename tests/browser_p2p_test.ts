/**
 * End to end, peer to peer: the scenario in tests/webrtc/p2p_scenario.ts runs in its own
 * network namespace with only loopback (unshare -n), so WebRTC never uses a real interface.
 */

import assert from "node:assert/strict";

Deno.test("browser P2P: two pages go direct (server counters flat), a third switches to relay and back; --p2p off relays", async () => {
  const scenario = new URL("./webrtc/p2p_scenario.ts", import.meta.url).pathname;
  const command = `ip link set lo up && exec "${Deno.execPath()}" run -A "${scenario}"`;
  const { code, stdout, stderr } = await new Deno.Command("unshare", {
    args: ["-n", "sh", "-c", command],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(stdout);
  const err = new TextDecoder().decode(stderr);
  assert.equal(code, 0, `the P2P scenario failed:\n${out}\n${err}`);
  const figures = JSON.parse(out.trim().split("\n").at(-1)!);
  console.log("P2P figures:", figures);
  assert.equal(figures.forwardedDuringP2p, 0);
});
