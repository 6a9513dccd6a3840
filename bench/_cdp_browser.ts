/**
 * Headless Chromium driven over the DevTools protocol with the Runtime domain only, for
 * benchmarks that measure media timing. Playwright enables the Network domain on every page,
 * and Chromium then reports every WebSocket frame to it (base64 payloads included): with media
 * on the WebSocket that is about a thousand events a second per page, and CPU the product
 * would not spend without a debugger attached. Here the pages are never watched: each runs in
 * its own browser context (its own storage, so its own session), and is only asked to
 * evaluate expressions.
 *
 * @example
 * ```ts
 * async function printTitle() {
 *   await using browser = await launchCdpBrowser(["--use-file-for-fake-video-capture=clip.y4m"]);
 *   const page = await browser.newPage("http://127.0.0.1:8000/");
 *   await page.waitFor("document.title !== ''", "a title");
 *   console.log(await page.evaluate("document.title"));
 * }
 * ```
 * @module
 */

import WebSocket from "ws";
import { CHROMIUM, CHROMIUM_ARGS } from "../tests/support/browser.ts";
import { waitFor } from "../tests/support/wait.ts";

/** A page: evaluates expressions in its main frame. */
export interface CdpPage {
  /** Evaluates a JavaScript expression (promises are awaited); returns its value as JSON. */
  evaluate<T>(expression: string): Promise<T>;
  /** Waits until an expression is truthy. */
  waitFor(expression: string, what: string, timeoutMs?: number): Promise<void>;
  /** Uncaught exceptions of the page so far. */
  readonly errors: string[];
}

/** A browser that closes itself when disposed. */
export interface CdpBrowser extends AsyncDisposable {
  /** Opens `url` in a new page of a new browser context. */
  newPage(url: string): Promise<CdpPage>;
  close(): Promise<void>;
}

interface Pending {
  resolve(result: Record<string, unknown>): void;
  reject(error: Error): void;
}

/** Launches headless Chromium with the test flags plus `extraArgs`. */
export async function launchCdpBrowser(extraArgs: string[] = []): Promise<CdpBrowser> {
  const profile = await Deno.makeTempDir({ prefix: "meet-bench-chromium-" });
  const child = new Deno.Command(CHROMIUM, {
    args: [
      ...CHROMIUM_ARGS,
      ...extraArgs,
      "--remote-debugging-port=0",
      `--user-data-dir=${profile}`,
      "about:blank",
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const endpoint = await devtoolsEndpoint(child.stderr);
  const socket = new WebSocket(endpoint, { perMessageDeflate: false, maxPayload: 256 << 20 });
  await new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve());
    socket.once("error", reject);
  });

  let nextId = 1;
  const pending = new Map<number, Pending>();
  const errorsBySession = new Map<string, string[]>();
  socket.on("message", (data: Uint8Array) => {
    const msg = JSON.parse(new TextDecoder().decode(data));
    if (msg.id !== undefined) {
      const p = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.error) p?.reject(new Error(`CDP: ${msg.error.message}`));
      else p?.resolve(msg.result ?? {});
    } else if (msg.method === "Runtime.exceptionThrown" && msg.sessionId) {
      const details = msg.params.exceptionDetails;
      errorsBySession.get(msg.sessionId)?.push(
        details.exception?.description ?? details.text ?? "exception",
      );
    }
  });
  const send = (method: string, params: unknown = {}, sessionId?: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      socket.send(JSON.stringify({ id, method, params, sessionId }));
    });

  const close = async () => {
    socket.close();
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    await child.status;
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  };

  return {
    async newPage(url: string): Promise<CdpPage> {
      const { browserContextId } = await send("Target.createBrowserContext");
      const { targetId } = await send("Target.createTarget", { url, browserContextId });
      const { sessionId } = await send("Target.attachToTarget", { targetId, flatten: true }) as {
        sessionId: string;
      };
      const errors: string[] = [];
      errorsBySession.set(sessionId, errors);
      await send("Runtime.enable", {}, sessionId);
      const evaluate = async <T>(expression: string): Promise<T> => {
        const result = await send("Runtime.evaluate", {
          expression,
          awaitPromise: true,
          returnByValue: true,
        }, sessionId) as { result: { value: T }; exceptionDetails?: { text: string } };
        if (result.exceptionDetails) {
          throw new Error(`evaluate failed: ${JSON.stringify(result.exceptionDetails)}`);
        }
        return result.result.value;
      };
      return {
        evaluate,
        errors,
        async waitFor(expression, what, timeoutMs = 20_000) {
          await waitFor(async () => Boolean(await evaluate(expression).catch(() => false)), {
            what,
            timeoutMs,
            intervalMs: 100,
          });
        },
      };
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Reads Chromium's stderr until it prints its DevTools WebSocket address. */
async function devtoolsEndpoint(stderr: Deno.ChildProcess["stderr"]): Promise<string> {
  const reader = stderr.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  const deadline = setTimeout(() => reader.cancel(), 30_000);
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += value;
      const match = seen.match(/DevTools listening on (ws:\/\/\S+)/);
      if (match) {
        // Keep draining stderr so that Chromium never blocks on a full pipe.
        (async () => {
          while (!(await reader.read()).done) { /* discard */ }
        })().catch(() => {});
        return match[1];
      }
    }
  } finally {
    clearTimeout(deadline);
  }
  throw new Error(`Chromium did not start:\n${seen.slice(-2000)}`);
}
