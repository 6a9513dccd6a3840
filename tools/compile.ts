/**
 * `deno task compile`: bundles the islands into `_build/islands/`, then compiles `main.ts`
 * into one executable (`./meet`) with `static/` and `_build/` embedded.
 *
 * `deno compile` needs a `denort` base binary. It downloads one unless `DENORT_BIN` points at
 * a local copy; on machines that cannot reach Deno's release server, set `DENORT_BIN`.
 *
 * @module
 */

import { bundleIslands, writePrebuilt } from "../web/assets.ts";

const root = new URL("../", import.meta.url);
await writePrebuilt(await bundleIslands());
console.log("islands bundled into _build/islands/");

const output = Deno.args[0] ?? "meet";
const { code } = await new Deno.Command(Deno.execPath(), {
  cwd: root,
  args: [
    "compile",
    // The same V8 flags as `deno task start` (a capped young generation: see README, Soak).
    "--v8-flags=--max-semi-space-size=2",
    "--allow-net",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    "--allow-sys",
    "--allow-ffi",
    "--include",
    "static",
    "--include",
    "_build",
    "--output",
    output,
    "main.ts",
  ],
  stdout: "inherit",
  stderr: "inherit",
}).output();
if (code !== 0) {
  console.error(
    "deno compile failed. If it could not download its base binary, set DENORT_BIN to a local " +
      "denort of the same Deno version (see README).",
  );
  Deno.exit(code);
}
console.log(`built ./${output}`);
