/**
 * Headless Chromium (Debian's) driven by playwright-core, with the flags this machine needs
 * (see docs/platform.md): fake camera and microphone, no network beyond loopback.
 *
 * @example
 * ```ts
 * await using browser = await launchBrowser();
 * const page = await (await browser.newContext()).newPage();
 * ```
 * @module
 */

import { waitFor } from "./wait.ts";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";

/**
 * A page's window in tests that run several pages with video: small, as the browser's own
 * compositing of the tiles costs CPU that a 2-core machine cannot spare (a quarter of a core
 * at 1280x720 for three pages, a tenth at this size).
 *
 * @example
 * ```ts ignore
 * const context = await browser.newContext({ viewport: SMALL_VIEWPORT });
 * ```
 */
export const SMALL_VIEWPORT = { width: 640, height: 360 };

/**
 * The fake cameras' frame rate in tests that run several pages with video. At 30, three or
 * four pages, the server and netsim need more than the 2 cores of a 2.1 GHz machine (a clean
 * loopback read 20-26 fps per stream, the senders told 50-200 kbit/s as their encoders fell
 * behind, a page did not show 60 frames in 10 s); at 15 they take about 1.6 cores, and what
 * the figures show is the network's doing. The benchmark runs at 30.
 *
 * @example
 * ```ts ignore
 * await using browser = await launchBrowser([], { fps: MULTI_PAGE_FPS });
 * ```
 */
export const MULTI_PAGE_FPS = 15;

/**
 * How often a test reads a page's state while it waits on it, ms. Each read runs on the
 * page's main thread, the one that also takes in its media: read every 10 ms (waitFor's
 * default) by a test waiting on three pages in turn, a busy page's main thread fell behind on
 * its packets, and its link read as a queue of seconds.
 *
 * @example
 * ```ts ignore
 * await waitFor(() => page.evaluate(() => document.title === "Room"), {
 *   intervalMs: PAGE_POLL_MS,
 * });
 * ```
 */
export const PAGE_POLL_MS = 200;

/**
 * {@linkcode waitFor} for a condition read from pages: checked every {@linkcode PAGE_POLL_MS}
 * unless told otherwise.
 *
 * @example
 * ```ts ignore
 * await waitForPage(() => page.evaluate(() => document.title === "Room"), { what: "the room" });
 * ```
 */
export function waitForPage<T>(
  check: () => T | Promise<T>,
  options: Parameters<typeof waitFor>[1] = {},
): Promise<NonNullable<T>> {
  return waitFor(check, { intervalMs: PAGE_POLL_MS, ...options });
}

/** Where Debian installs Chromium. */
export const CHROMIUM = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";

/**
 * Flags for tests: headless, quiet, fake media devices, loopback WebRTC. Chromium 156 also
 * renders an address-bar popup (chrome://omnibox-popup.top-chrome) for every window, headless
 * or not: about a tenth of a core per window during a three-page meeting, which a 2-core
 * machine cannot spare, so those features are off.
 */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--use-fake-device-for-media-stream=fps=30",
  "--use-fake-ui-for-media-stream",
  "--autoplay-policy=no-user-gesture-required",
  "--disable-features=WebRtcHideLocalIpsWithMdns,WebUIOmniboxPopup,WebUIOmniboxAimPopup,PreloadTopChromeWebUI",
  "--allow-loopback-in-peer-connection",
];

/** A browser that closes itself when disposed. */
export type TestBrowser = Browser & { [Symbol.asyncDispose](): Promise<void> };

/** Options of {@linkcode launchBrowser}. */
export interface LaunchOptions {
  /** The fake cameras' frame rate (default 30). */
  fps?: number;
  /** How many fake cameras there are (default 1). */
  cameras?: number;
  /**
   * Runs the browser at this niceness (0..19, every process it starts inherits it): pages
   * then take what CPU the server and the simulated network leave them. A busy 2-core
   * machine otherwise holds up the network simulator and the server behind the pages' work,
   * and a delay there reads as a queue on the link (a sender told 50 kbit/s on a clean link).
   */
  nice?: number;
}

/** Launches headless Chromium. */
export async function launchBrowser(
  extraArgs: string[] = [],
  options: LaunchOptions = {},
): Promise<TestBrowser> {
  const nice = Math.min(19, Math.max(0, Math.round(options.nice ?? 0)));
  let wrapperDir: string | null = null;
  let executablePath = CHROMIUM;
  if (nice > 0) {
    wrapperDir = await Deno.makeTempDir({ prefix: "meet-chromium-" });
    executablePath = `${wrapperDir}/chromium`;
    await Deno.writeTextFile(
      executablePath,
      `#!/bin/sh\nexec nice -n ${nice} '${CHROMIUM.replaceAll("'", "'\\''")}' "$@"\n`,
      { mode: 0o755 },
    );
  }
  const removeWrapper = async () => {
    if (wrapperDir) await Deno.remove(wrapperDir, { recursive: true }).catch(() => {});
  };
  const browser = await chromium.launch({
    executablePath,
    args: [
      ...CHROMIUM_ARGS.map((arg) =>
        (options.fps || options.cameras) && arg.startsWith("--use-fake-device-for-media-stream=")
          ? `--use-fake-device-for-media-stream=fps=${Math.round(options.fps ?? 30)}${
            options.cameras ? `,device-count=${Math.round(options.cameras)}` : ""
          }`
          : arg
      ),
      ...extraArgs,
    ],
    timeout: 30_000,
  }).catch(async (err) => {
    await removeWrapper();
    throw err;
  }) as TestBrowser;
  browser[Symbol.asyncDispose] = async () => {
    await browser.close();
    await removeWrapper();
  };
  return browser;
}

/**
 * Counts the camera and microphone requests (`getUserMedia` calls) of every page opened in
 * `context` from now on; {@linkcode captureRequests} reads a page's count.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { BrowserContext } from "playwright-core";
 *
 * async function oneCapture(context: BrowserContext, url: string, errors: string[]) {
 *   await countCaptureRequests(context);
 *   const page = await joinPage(context, url, errors, "Ann");
 *   assert.equal(await captureRequests(page), 1);
 * }
 * ```
 */
export async function countCaptureRequests(context: BrowserContext): Promise<void> {
  await context.addInitScript(() => {
    const w = globalThis as unknown as { captureRequests: number };
    w.captureRequests = 0;
    const devices = navigator.mediaDevices;
    const original = devices.getUserMedia.bind(devices);
    devices.getUserMedia = (constraints?: MediaStreamConstraints) => {
      w.captureRequests++;
      return original(constraints);
    };
  });
}

/** How many times the page asked for the camera or microphone (see countCaptureRequests). */
export function captureRequests(page: Page): Promise<number> {
  return page.evaluate(() =>
    (globalThis as unknown as { captureRequests: number }).captureRequests
  );
}

/**
 * Confirms the pre-join step of a room page that is open (a link never joins by itself): waits
 * for the island to hydrate, then presses Join.
 *
 * @example
 * ```ts
 * import type { Page } from "playwright-core";
 *
 * async function join(page: Page, serverUrl: string, id: string) {
 *   await page.goto(`${serverUrl}m/${id}?name=Ann`);
 *   await confirmJoin(page);
 *   await page.waitForSelector("[data-testid=room][data-joined=true]");
 * }
 * ```
 */
export async function confirmJoin(page: Page): Promise<void> {
  await page.waitForSelector("[data-island=MeetingPage][data-hydrated] [data-testid=join-button]");
  await page.click("[data-testid=join-button]");
}

/**
 * Opens a room URL (`/m/<id>?name=...`) in a new page of `context`, confirms the pre-join step
 * and waits until it has joined. The page's uncaught errors are added to `errors`, prefixed with `name`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { BrowserContext } from "playwright-core";
 *
 * async function ann(context: BrowserContext, serverUrl: string, id: string) {
 *   const errors: string[] = [];
 *   const page = await joinPage(context, `${serverUrl}m/${id}?name=Ann`, errors, "Ann");
 *   assert.deepEqual(errors, []);
 *   return page;
 * }
 * ```
 */
export async function joinPage(
  context: BrowserContext,
  url: string,
  errors: string[],
  name: string,
  timeoutMs = 15_000,
): Promise<Page> {
  const page = await context.newPage();
  page.setDefaultTimeout(timeoutMs);
  page.on("pageerror", (e) => errors.push(`${name}: ${e.message}`));
  const log: string[] = [];
  page.on("console", (m) => log.length < 50 && log.push(`${m.type()}: ${m.text()}`));
  const started = performance.now();
  let step = "loading the page";
  try {
    await page.goto(url);
    step = "confirming the pre-join step";
    await confirmJoin(page);
    step = "joining";
    await page.waitForSelector("[data-testid=room][data-joined=true]");
  } catch (e) {
    // Say what the page showed: a join that never completes is otherwise a bare timeout.
    const text = await page.evaluate(() => document.body?.innerText ?? "").catch(() => "?");
    throw new Error(
      `${name} did not join (${step}, ${Math.round(performance.now() - started)} ms): ${
        (e as Error).message.split("\n")[0]
      }\npage text: ${text.slice(0, 600)}\nconsole: ${log.join(" | ").slice(0, 1500)}`,
    );
  }
  return page;
}
