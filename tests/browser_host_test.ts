/**
 * End to end in headless Chromium: the host role. A meeting made over REST by someone who
 * never joins: the first person in (Bob) holds the role and alone sees "Cancel meeting"; he
 * makes Cy the host; Cy closes her tab and the role comes back to Bob, in longest; Bob ends
 * the meeting for everyone.
 */

import assert from "node:assert/strict";
import type { BrowserContext, Page } from "playwright-core";
import { joinPage, launchBrowser, waitForPage } from "./support/browser.ts";
import { testServer } from "./support/server.ts";

/** The roster as a page shows it: name and whether it is marked host. */
function hosts(page: Page): Promise<string[]> {
  return page.$$eval(
    "[data-testid=roster-entry][data-host=true]",
    (li) => li.map((x) => x.querySelector(".truncate")?.textContent ?? ""),
  );
}

Deno.test({
  name:
    "browser host: the first one in holds the host role and alone can cancel; it is handed over, comes back when its holder leaves, and ends the meeting",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await testServer({ p2p: "off" });
    await using browser = await launchBrowser([], { fps: 10 });
    const created = await (await fetch(`${server.url}api/meetings`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ title: "Hand over", name: "Organiser" }),
    })).json();
    const errors: string[] = [];
    const quiet = async (): Promise<BrowserContext> => {
      const context = await browser.newContext();
      await context.addInitScript(() =>
        localStorage.setItem("meet.media", JSON.stringify({ mic: false, camera: false }))
      );
      return context;
    };
    const url = (name: string) => `${server.url}m/${created.id}?name=${name}`;
    const bob = await joinPage(await quiet(), url("Bob"), errors, "Bob");
    const cy = await joinPage(await quiet(), url("Cy"), errors, "Cy");
    const cancelButton = (page: Page) => page.locator("text=Cancel meeting");

    for (const page of [bob, cy]) {
      await waitForPage(async () => (await hosts(page)).join() === "Bob", {
        what: "Bob shown as the host",
      });
    }
    assert.equal(await cancelButton(bob).count(), 1);
    assert.equal(await cancelButton(cy).count(), 0, "Cy may not cancel");
    assert.equal(await cy.locator("[data-testid=make-host]").count(), 0);

    // Bob makes Cy the host.
    await bob.click("[data-testid=make-host]");
    for (const page of [bob, cy]) {
      await waitForPage(async () => (await hosts(page)).join() === "Cy", {
        what: "Cy shown as the host",
      });
    }
    await cancelButton(cy).waitFor();
    assert.equal(await cancelButton(bob).count(), 0, "Bob may no longer cancel");
    const api = async () => (await fetch(`${server.url}api/meetings/${created.id}`)).json();
    assert.deepEqual(
      (await api()).roster.map((p: { name: string; isHost: boolean }) => [p.name, p.isHost]),
      [["Bob", false], ["Cy", true]],
    );

    // Cy closes her tab: the role comes back to Bob, who ends the meeting.
    await cy.close();
    await waitForPage(async () => (await hosts(bob)).join() === "Bob", {
      what: "the role back at Bob",
    });
    await cancelButton(bob).click();
    await bob.click("text=Yes, cancel");
    await bob.waitForURL(/\/\?notice=cancelled/);
    await bob.getByText("“Hand over” was cancelled by its host.").waitFor();
    assert.equal((await api()).state, "cancelled");
    assert.deepEqual(errors, []);
  },
});
