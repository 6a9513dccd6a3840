/**
 * Runs a scenario script in its own network namespace with only loopback up
 * (`unshare -n sh -c 'ip link set lo up && ...'`), so WebRTC and UDP never touch a real
 * interface. The script prints its figures as JSON on its last line of output.
 *
 * @example
 * ```ts
 * const { figures } = await runInLoopbackNamespace(new URL("./webrtc/p2p_scenario.ts", import.meta.url), "the P2P scenario");
 * ```
 * @module
 */

import assert from "node:assert/strict";

/**
 * Runs `scenario` with `deno run -A` in a loopback-only namespace, with `args` after it (each
 * passed as one argument, never through the shell); fails the test on a non-zero exit.
 */
export async function runInLoopbackNamespace(
  scenario: URL,
  what: string,
  args: string[] = [],
): Promise<{ figures: Record<string, unknown> }> {
  const command =
    `ip link set lo up && exec "${Deno.execPath()}" run -A "${scenario.pathname}" "$@"`;
  const { code, stdout, stderr } = await new Deno.Command("unshare", {
    args: ["-n", "sh", "-c", command, "scenario", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(stdout);
  const err = new TextDecoder().decode(stderr);
  assert.equal(code, 0, `${what} failed:\n${out}\n${err}`);
  return { figures: JSON.parse(out.trim().split("\n").at(-1)!) };
}
