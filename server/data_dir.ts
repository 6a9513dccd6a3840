/**
 * The data dir holds the records (meet.db: meetings, chat) and the self-signed key: only the
 * server's user may read it. A new data dir is made 0700 and its files 0600; an existing dir
 * that others can enter is left as it is (it may be a shared folder such as the working
 * directory) with a warning at start, while the server's own files in it are made 0600.
 *
 * @example
 * ```ts
 * const warning = await preparePrivateDir("./data");
 * if (warning) console.warn(warning);
 * await makePrivateFile("./data/meet.db");
 * ```
 * @module
 */

/** Mode of the data dir the server creates. */
export const PRIVATE_DIR_MODE = 0o700;
/** Mode of the server's files in it (database, its WAL and shared-memory files, keys). */
export const PRIVATE_FILE_MODE = 0o600;

/**
 * Creates `dir` (0700) if missing; returns a warning if it exists and its group or others
 * have any access, else undefined.
 */
export async function preparePrivateDir(dir: string): Promise<string | undefined> {
  try {
    const stat = await Deno.stat(dir);
    const mode = stat.mode ?? 0;
    if (stat.isDirectory && (mode & 0o077) !== 0 && Deno.build.os !== "windows") {
      return `the data dir ${dir} is accessible to other users (mode ${
        (mode & 0o777).toString(8)
      }); its database holds meeting records and chat: chmod 700 ${dir}`;
    }
    return undefined;
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  await Deno.mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  if (Deno.build.os !== "windows") await Deno.chmod(dir, PRIVATE_DIR_MODE);
  return undefined;
}

/** Creates `path` empty with mode 0600 if missing, and sets 0600 on an existing one. */
export async function makePrivateFile(path: string): Promise<void> {
  if (Deno.build.os === "windows") return;
  try {
    const file = await Deno.open(path, { write: true, createNew: true, mode: PRIVATE_FILE_MODE });
    file.close();
  } catch (err) {
    if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
  }
  await Deno.chmod(path, PRIVATE_FILE_MODE);
}

/** Sets 0600 on each of `paths` that exists. */
export async function restrictExisting(paths: string[]): Promise<void> {
  if (Deno.build.os === "windows") return;
  for (const path of paths) {
    try {
      await Deno.chmod(path, PRIVATE_FILE_MODE);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }
}
