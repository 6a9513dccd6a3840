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

/** A scenario still running after this long is stopped (and fails its test), ms. */
export const SCENARIO_DEADLINE_MS = 240_000;

/**
 * Runs `scenario` with `deno run -A` in a loopback-only namespace, with `args` after it (each
 * passed as one argument, never through the shell); fails the test on a non-zero exit, and
 * stops a scenario still running after {@linkcode SCENARIO_DEADLINE_MS}.
 */
export async function runInLoopbackNamespace(
  scenario: URL,
  what: string,
  args: string[] = [],
): Promise<{ figures: Record<string, unknown> }> {
  const command =
    `ip link set lo up && exec "${Deno.execPath()}" run -A "${scenario.pathname}" "$@"`;
  const child = new Deno.Command("unshare", {
    args: ["-n", "sh", "-c", command, "scenario", ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const deadline = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }, SCENARIO_DEADLINE_MS);
  const { code, stdout, stderr } = await child.output();
  clearTimeout(deadline);
  const out = new TextDecoder().decode(stdout);
  const err = new TextDecoder().decode(stderr);
  assert.ok(
    !timedOut,
    `${what} was still running after ${SCENARIO_DEADLINE_MS} ms:\n${out}\n${err}`,
  );
  assert.equal(code, 0, `${what} failed:\n${out}\n${err}`);
  return { figures: JSON.parse(out.trim().split("\n").at(-1)!) };
}
