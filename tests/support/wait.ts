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

/**
 * Reads `read` every `intervalMs` until its value has not changed for `quietMs`, and returns
 * that value; rejects after the deadline naming `what`.
 *
 * @example
 * ```ts
 * let sent = 0;
 * const timer = setInterval(() => sent < 3 && sent++, 10);
 * const settled = await waitForSteady(() => sent, 200, { what: "the sender to stop" });
 * clearInterval(timer);
 * console.log(settled); // 3
 * ```
 */
export async function waitForSteady(
  read: () => number | Promise<number>,
  quietMs: number,
  { timeoutMs = 10_000, intervalMs = 100, what = "a steady value" } = {},
): Promise<number> {
  let last = await read();
  let lastChange = performance.now();
  await waitFor(async () => {
    const now = await read();
    if (now !== last) {
      last = now;
      lastChange = performance.now();
    }
    return performance.now() - lastChange >= quietMs;
  }, { timeoutMs, intervalMs, what });
  return last;
}
