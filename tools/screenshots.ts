/**
 * Takes the screenshots in docs/screenshots/: the lobby, the pre-join screen with the device
 * check, a room with chat and a raised hand (tiles, speaker view) and with a shared screen, at
 * 1280x800 and 390x844, from a real server and headless Chromium with its fake camera and
 * screen capture.
 *
 * ```sh
 * ./deno task screenshots
 * ```
 * @module
 */

import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { joinPage, launchBrowser } from "../tests/support/browser.ts";
import { testServer } from "../tests/support/server.ts";

const OUT = join(import.meta.dirname!, "..", "docs", "screenshots");
const SIZES = { desktop: { width: 1280, height: 800 }, phone: { width: 390, height: 844 } };

/** A page of `browser` at one of SIZES. */
async function pageAt(browser: Browser, size: keyof typeof SIZES): Promise<Page> {
  const context = await browser.newContext({ viewport: SIZES[size] });
  return await context.newPage();
}

async function shoot(page: Page, name: string): Promise<void> {
  const path = join(OUT, `${name}.png`);
  await page.screenshot({ path });
  console.log(path);
}

await Deno.mkdir(OUT, { recursive: true });
await using server = await testServer({ p2p: "off" });
await using browser = await launchBrowser([], { fps: 10 });
const create = async (title: string) =>
  (await (await fetch(`${server.url}api/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ title, name: "Ann" }),
  })).json()).id as string;
const id = await create("Weekly design review");
await create("Support rota");

const errors: string[] = [];
const url = (name: string) => `${server.url}m/${id}?name=${name}`;
const bob = await joinPage(await browser.newContext(), url("Bob"), errors, "Bob");
const cy = await joinPage(await browser.newContext(), url("Cy"), errors, "Cy");
for (
  const [page, text] of [[bob, "Morning! Slides are in the doc."], [cy, "Thanks, opening them"]]
) {
  await (page as Page).fill("[data-testid=chat-input]", text as string);
  await (page as Page).keyboard.press("Enter");
}
await cy.click("[data-testid=toggle-hand]");

for (const size of ["desktop", "phone"] as const) {
  const lobby = await pageAt(browser, size);
  await lobby.goto(server.url);
  await lobby.locator(`[data-meeting-id="${id}"]`).waitFor();
  await shoot(lobby, `lobby-${size}`);

  const prejoin = await pageAt(browser, size);
  await prejoin.goto(url("Dee"));
  await prejoin.waitForSelector("[data-island=MeetingPage][data-hydrated] [data-testid=prejoin]");
  await prejoin.click("[data-testid=prejoin-check]");
  await prejoin.locator("[data-testid=prejoin-video]").waitFor();
  await prejoin.waitForTimeout(1000); // the preview's first frames
  await shoot(prejoin, `prejoin-${size}`);
  await prejoin.close();
}

const dee = await joinPage(
  await browser.newContext({ viewport: SIZES.desktop }),
  url("Dee"),
  errors,
  "Dee",
);
await dee.locator("[data-testid=chat-line]").nth(1).waitFor();
await dee.waitForTimeout(2000); // everyone's pictures decoded
await shoot(dee, "room-desktop");
const phone = await joinPage(
  await browser.newContext({ viewport: SIZES.phone }),
  url("Eve"),
  errors,
  "Eve",
);
await phone.waitForTimeout(2000);
await shoot(phone, "room-phone");

for (const [page, size] of [[dee, "desktop"], [phone, "phone"]] as const) {
  await page.click("[data-testid=toggle-layout]");
  await page.waitForSelector("[data-testid=grid][data-layout=speaker]");
  await page.waitForTimeout(1000);
  await shoot(page, `room-speaker-${size}`);
  await page.click("[data-testid=toggle-layout]");
}

// Bob shares his screen (Chromium's fake capture): it takes the large area.
await bob.click("[data-testid=toggle-screen]");
for (const page of [dee, phone]) {
  await page.waitForSelector("[data-testid=grid][data-layout=screen]");
}
await dee.waitForTimeout(2500); // the screen's first keyframe decoded
await shoot(dee, "room-screen-desktop");
await shoot(phone, "room-screen-phone");
if (errors.length) console.error(errors.join("\n"));
