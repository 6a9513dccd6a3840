/**
 * Waiting on conditions with deadlines (never fixed sleeps).
 *
 * @example
 * ```ts
 * const inbox: string[] = ["hello", "again"];
 * await waitFor(() => inbox.length >= 2, { timeoutMs: 5000, what: "two chat lines" });
 * ```
 * @module
 */

/** Polls `check` until it returns a truthy value; rejects after the deadline naming `what`. */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  { timeoutMs = 10_000, intervalMs = 10, what = "condition" } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${lastError}` : ""}`,
  );
}
