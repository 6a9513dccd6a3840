/**
 * Static files (`static/`): a table of the folder's files, made once at start, looked up by
 * the exact decoded request path. Nothing outside the table is ever read, so no request path
 * (`//etc/passwd`, `/%2F..`, `\`, encoded dots) can reach a file outside the folder; a
 * symbolic link is served only if it resolves inside the folder.
 *
 * @example
 * ```ts
 * const files = await loadStaticFiles(new URL("../static/", import.meta.url));
 * files.response("/worklets/capture.js"); // a Response, or undefined
 * ```
 * @module
 */

import { isAbsolute, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

/** Content types of the extensions served; other files are left out of the table. */
export const STATIC_TYPES: Readonly<Record<string, string>> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
};

/** Folder depth walked at most (the walk never follows a directory link anyway). */
export const MAX_STATIC_DEPTH = 16;

/** One servable file. */
export interface StaticFile {
  body: Uint8Array<ArrayBuffer>;
  contentType: string;
}

/** The table of static files by URL path (`/worklets/capture.js`). */
export class StaticFiles {
  constructor(readonly files: ReadonlyMap<string, StaticFile>) {}

  /** The response for a request path (as in the URL, still percent-encoded), if it is a file. */
  response(pathname: string): Response | undefined {
    let decoded: string;
    try {
      decoded = decodeURIComponent(pathname);
    } catch {
      return undefined;
    }
    const file = this.files.get(decoded);
    if (!file) return undefined;
    return new Response(file.body, {
      headers: { "content-type": file.contentType, "cache-control": "no-cache" },
    });
  }
}

/**
 * Walks `dir` and reads every regular file with a known extension into the table. A symbolic
 * link to a file is kept only when its real path is inside `dir`; links to directories are
 * not followed.
 */
export async function loadStaticFiles(dir: URL | string): Promise<StaticFiles> {
  const root = typeof dir === "string" ? dir : fileURLToPath(dir);
  let realRoot = root;
  try {
    realRoot = await Deno.realPath(root);
  } catch {
    // A compiled executable's embedded folder may have no real path: links are then refused
    // (their real path cannot be checked either), plain files are still read.
  }
  const files = new Map<string, StaticFile>();
  const walk = async (path: string, depth: number): Promise<void> => {
    if (depth > MAX_STATIC_DEPTH) return;
    for await (const entry of Deno.readDir(path)) {
      const full = join(path, entry.name);
      if (entry.isDirectory) {
        await walk(full, depth + 1);
        continue;
      }
      const type = STATIC_TYPES[entry.name.slice(entry.name.lastIndexOf("."))];
      if (!type || entry.name.startsWith(".")) continue;
      if (entry.isSymlink) {
        try {
          const real = await Deno.realPath(full);
          const inside = relative(realRoot, real);
          if (inside.startsWith("..") || isAbsolute(inside) || inside === "") continue;
          if (!(await Deno.stat(real)).isFile) continue;
        } catch {
          continue;
        }
      } else if (!entry.isFile) {
        continue;
      }
      const urlPath = "/" + relative(root, full).split(sep).join("/");
      files.set(urlPath, { body: await Deno.readFile(full), contentType: type });
    }
  };
  try {
    await walk(root, 0);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err; // no static folder: nothing to serve
  }
  return new StaticFiles(files);
}
