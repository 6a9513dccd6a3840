/**
 * Accessibility, checked by axe-core (the rules of WCAG 2 A and AA) in headless Chromium: the
 * lobby, the pre-join screen (with the device check open) and the room (two people, the host's
 * controls, the device panel and the reactions open) have no serious or critical violation.
 */

import assert from "node:assert/strict";
import { createRequire } from "node:module";
import type { AxeResults } from "axe-core";
import type { Page } from "playwright-core";
import { joinPage, launchBrowser } from "./support/browser.ts";
import { testServer } from "./support/server.ts";

const AXE_SOURCE = await Deno.readTextFile(
  createRequire(import.meta.url).resolve("axe-core/axe.min.js"),
);

/** The serious and critical violations on the page as it is now, one line each. */
async function violations(page: Page): Promise<string[]> {
  if (!(await page.evaluate(() => "axe" in globalThis))) await page.evaluate(AXE_SOURCE);
  const results = await page.evaluate(() =>
    // deno-lint-ignore no-explicit-any
    (globalThis as any).axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
    })
  ) as AxeResults;
  return results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) =>
      `${v.id} (${v.impact}): ${v.help}; ${
        v.nodes.slice(0, 8).map((n) => `${n.html.slice(0, 120)} [${n.any[0]?.message ?? ""}]`)
          .join(" | ")
      }`
    );
}

Deno.test({
  name: "accessibility: lobby, pre-join and room have no serious or critical WCAG violation",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await testServer({ p2p: "off" });
    await using browser = await launchBrowser([], { fps: 10 });
    const errors: string[] = [];
    const context = await browser.newContext();
    const lobby = await context.newPage();
    await lobby.goto(server.url);
    await lobby.waitForSelector("[data-island=Lobby][data-hydrated]");
    const created = await (await fetch(`${server.url}api/meetings`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ title: "Accessible", name: "Organiser" }),
    })).json();
    await lobby.locator(`[data-meeting-id="${created.id}"]`).waitFor();
    assert.deepEqual(await violations(lobby), [], "lobby");

    const prejoin = await context.newPage();
    await prejoin.goto(`${server.url}m/${created.id}?name=Ann`);
    await prejoin.waitForSelector("[data-island=MeetingPage][data-hydrated] [data-testid=prejoin]");
    await prejoin.click("[data-testid=prejoin-check]");
    await prejoin.locator("[data-testid=select-camera]").waitFor();
    assert.deepEqual(await violations(prejoin), [], "pre-join");
    await prejoin.close();

    const ann = await joinPage(context, `${server.url}m/${created.id}?name=Ann`, errors, "Ann");
    await joinPage(
      await browser.newContext(),
      `${server.url}m/${created.id}?name=Bob`,
      errors,
      "Bob",
    );
    await ann.locator("[data-testid=make-host]").waitFor();
    await ann.click("[data-testid=toggle-devices]");
    await ann.locator("[data-testid=device-panel]").waitFor();
    await ann.click("[data-testid=toggle-reactions]");
    assert.deepEqual(await violations(ann), [], "room");
    assert.deepEqual(errors, []);
  },
});
