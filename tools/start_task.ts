/**
 * The server's command line as `deno task start` runs it, for tools that start their own
 * server process (benchmarks, the soak run) and must measure the server users run: the same
 * permissions (so the same Opus backend) and the same V8 flags.
 *
 * @example
 * ```ts
 * const args = [...startTaskArgs(), "main.ts", "--port", "0"];
 * new Deno.Command(Deno.execPath(), { args }).spawn();
 * ```
 * @module
 */

const ROOT = new URL("../", import.meta.url);

/** The `deno run ...` arguments of the `start` task in deno.json, without `main.ts`. */
export function startTaskArgs(): string[] {
  try {
    const config = JSON.parse(Deno.readTextFileSync(new URL("deno.json", ROOT)));
    const words = String(config.tasks.start).trim().split(/\s+/);
    if (words[0] === "deno" && words[1] === "run" && words.at(-1) === "main.ts") {
      return words.slice(1, -1);
    }
  } catch { /* fall through */ }
  return ["run", "-A"];
}
