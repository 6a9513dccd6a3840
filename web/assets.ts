/**
 * The browser's JavaScript: the island boot script and its chunks, bundled from client/boot.ts,
 * and the media worker's script (client/media_worker_main.ts, `media_worker_main.js`).
 * In a source checkout they are bundled in memory at start-up (`Deno.bundle`, ~50 ms); a
 * compiled executable carries them prebuilt in `_build/islands/` (see tools/compile.ts).
 *
 * @example
 * ```ts
 * const assets = await loadIslandAssets();
 * assets.get("boot.js")?.contentType; // "text/javascript; charset=utf-8"
 * ```
 * @module
 */

/** One served file. */
export interface Asset {
  body: Uint8Array<ArrayBuffer>;
  contentType: string;
}

const ENTRY = new URL("../client/boot.ts", import.meta.url);
const WORKER_ENTRY = new URL("../client/media_worker_main.ts", import.meta.url);
const PREBUILT = new URL("../_build/islands/", import.meta.url);

function contentTypeOf(name: string): string {
  if (name.endsWith(".js")) return "text/javascript; charset=utf-8";
  if (name.endsWith(".map")) return "application/json";
  if (name.endsWith(".css")) return "text/css; charset=utf-8";
  return "application/octet-stream";
}

/** Bundles the islands into memory: file name (relative to /_islands/) -> asset. */
export async function bundleIslands(
  options: { minify?: boolean } = {},
): Promise<Map<string, Asset>> {
  const result = await Deno.bundle({
    entrypoints: [ENTRY.pathname, WORKER_ENTRY.pathname],
    platform: "browser",
    format: "esm",
    codeSplitting: true,
    minify: options.minify ?? true,
    outputDir: "/_islands",
    write: false,
  });
  if (!result.success || !result.outputFiles) {
    const why = result.errors.map((e) => e.text).join("; ");
    throw new Error(`bundling the islands failed: ${why}`);
  }
  const assets = new Map<string, Asset>();
  for (const file of result.outputFiles) {
    const name = file.path.slice(file.path.lastIndexOf("/") + 1);
    const body = file.contents ?? new TextEncoder().encode(file.text());
    assets.set(name, { body: body as Uint8Array<ArrayBuffer>, contentType: contentTypeOf(name) });
  }
  for (const name of ["boot.js", "media_worker_main.js"]) {
    if (!assets.has(name)) throw new Error(`bundling the islands produced no ${name}`);
  }
  return assets;
}

/** Writes a bundle to `_build/islands/` for the compiled executable. */
export async function writePrebuilt(assets: Map<string, Asset>): Promise<void> {
  await Deno.remove(PREBUILT, { recursive: true }).catch(() => {});
  await Deno.mkdir(PREBUILT, { recursive: true });
  for (const [name, asset] of assets) await Deno.writeFile(new URL(name, PREBUILT), asset.body);
}

async function readPrebuilt(): Promise<Map<string, Asset>> {
  const assets = new Map<string, Asset>();
  for await (const entry of Deno.readDir(PREBUILT)) {
    if (!entry.isFile) continue;
    const body = await Deno.readFile(new URL(entry.name, PREBUILT));
    assets.set(entry.name, { body, contentType: contentTypeOf(entry.name) });
  }
  if (!assets.has("boot.js")) throw new Error("no prebuilt boot.js");
  return assets;
}

/** Bundles in memory when the sources are at hand, else uses the prebuilt bundle. */
export async function loadIslandAssets(): Promise<Map<string, Asset>> {
  let bundleError: unknown;
  if (typeof Deno.bundle === "function") {
    try {
      await Deno.stat(ENTRY);
      return await bundleIslands();
    } catch (err) {
      bundleError = err;
    }
  }
  try {
    return await readPrebuilt();
  } catch {
    throw new Error(
      `cannot load the browser code: ${bundleError ?? "Deno.bundle is unavailable"}, ` +
        `and there is no prebuilt bundle in _build/islands`,
    );
  }
}
