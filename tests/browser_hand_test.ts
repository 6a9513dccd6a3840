/**
 * End to end in headless Chromium and the terminal client: hands and reactions. Ann (the host,
 * first in) and Bob on pages, Cy on the terminal client. Bob raises his hand: Ann's tile and
 * roster show it, Cy's client prints it; Ann lowers it as the host. Ann sends a reaction: it
 * floats over her tile on Bob's page for a few seconds and Cy's client prints it; Cy reacts
 * from the terminal and the pages show it over Cy's tile. Cy's arrival and departure sound on
 * Ann's page until she turns the sounds off.
 */

import assert from "node:assert/strict";
import type { BrowserContext, Page } from "playwright-core";
import { joinPage, launchBrowser, waitForPage } from "./support/browser.ts";
import { cli } from "./support/cli.ts";
import { createMeeting, testServer } from "./support/server.ts";
import { waitFor } from "./support/wait.ts";

Deno.test({
  name:
    "browser hands and reactions: shown on tiles, in the roster and by the terminal client; the host lowers a hand; reactions fade",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await testServer({ p2p: "off" });
    await using browser = await launchBrowser([], { fps: 10 });
    const created = await createMeeting(server, "Hands");
    const errors: string[] = [];
    const quiet = async (): Promise<BrowserContext> => {
      const context = await browser.newContext();
      await context.addInitScript(() =>
        localStorage.setItem("meet.media", JSON.stringify({ mic: false, camera: false }))
      );
      return context;
    };
    const url = (name: string) => `${server.url}m/${created.id}?name=${name}`;
    const ann = await joinPage(await quiet(), url("Ann"), errors, "Ann");
    const bob = await joinPage(await quiet(), url("Bob"), errors, "Bob");
    await using cy = cli([
      "--server",
      server.wsUrl,
      "--udp-port",
      String(server.udpPort),
      "--json",
      "--name",
      "Cy",
      "--join",
      created.id,
      "--duration",
      "60", // a safety net: the test ends first
    ], { stdin: true });
    const roster = async () =>
      (await (await fetch(`${server.url}api/meetings/${created.id}`)).json()).roster as {
        id: string;
        name: string;
        handRaised: boolean;
      }[];
    await waitForPage(async () => (await roster()).length === 3, { what: "Cy in the meeting" });
    // Ann's page says so, to the eye and to screen readers.
    await ann.locator("[data-testid=notice]").getByText("Cy joined").waitFor();
    assert.equal(await ann.getAttribute("[data-testid=notice]", "aria-live"), "polite");
    // ... and to the ear: a short sound (on by default).
    const chimes = (page: Page) =>
      // deno-lint-ignore no-explicit-any
      page.evaluate(() => (globalThis as any).__meetStats?.chimes ?? 0);
    await waitForPage(async () => (await chimes(ann)) >= 1, { what: "Ann's join sound" });
    const ids = Object.fromEntries((await roster()).map((p) => [p.name, p.id]));
    const tile = (page: Page, name: string) =>
      page.locator(`[data-testid=tile][data-participant-id="${ids[name]}"]`);
    const cyPrinted = (match: (e: Record<string, unknown>) => boolean, what: string) =>
      waitFor(() => cy.events().find(match), { what: `Cy's client printing ${what}` });

    // Bob raises his hand.
    await bob.click("[data-testid=toggle-hand]");
    await tile(ann, "Bob").locator("[data-testid=tile-hand]").waitFor();
    await ann.locator(`[data-testid=roster-entry]:has-text("Bob") [data-testid=roster-hand]`)
      .waitFor();
    await cyPrinted((e) => e.change === "hand_up" && e.name === "Bob", "Bob's hand");
    assert.equal(await bob.getAttribute("[data-testid=toggle-hand]", "aria-pressed"), "true");
    // Ann, the host, lowers it.
    await ann.click("[data-testid=host-lower-hand]");
    await waitForPage(
      async () => await bob.getAttribute("[data-testid=toggle-hand]", "aria-pressed") === "false",
      { what: "Bob's hand lowered on his page" },
    );
    await cyPrinted((e) => e.change === "hand_down" && e.name === "Bob", "the lowered hand");
    await waitForPage(
      async () => (await tile(ann, "Bob").locator("[data-testid=tile-hand]").count()) === 0,
      { what: "Bob's hand gone from his tile on Ann's page" },
    );

    // Ann reacts: over her tile on Bob's page, then gone; printed by Cy's client.
    await ann.click("[data-testid=toggle-reactions]");
    await ann.click("[data-testid=reactions] [data-reaction='👏']");
    const floating = tile(bob, "Ann").locator("[data-testid=tile-reaction]");
    await floating.getByText("👏").waitFor();
    await cyPrinted((e) => e.event === "reaction" && e.name === "Ann", "Ann's reaction");
    assert.equal(cy.events().find((e) => e.event === "reaction")?.reaction, "👏");
    await waitForPage(async () => await floating.count() === 0, {
      what: "the reaction fading",
      timeoutMs: 10_000,
    });

    // Keyboard: H raises and lowers the hand, M turns the microphone on, C goes to the chat box
    // (where typing an "h" is text, not a shortcut).
    await bob.keyboard.press("h");
    await tile(ann, "Bob").locator("[data-testid=tile-hand]").waitFor();
    await bob.keyboard.press("h");
    await waitForPage(
      async () => await tile(ann, "Bob").locator("[data-testid=tile-hand]").count() === 0,
      { what: "Bob's hand down by keyboard" },
    );
    // Twice quickly, before the server's answer to the first: up and down again, not up twice.
    const bobsHand = () =>
      cy.events().filter((e) =>
        e.name === "Bob" && (e.change === "hand_up" || e.change === "hand_down")
      );
    await waitFor(() => bobsHand().length === 4, { what: "Cy's client printing H, H" });
    await bob.keyboard.press("h");
    await bob.keyboard.press("h");
    await waitFor(() => bobsHand().length === 6, { what: "Cy's client printing a quick H, H" });
    assert.deepEqual(bobsHand().slice(4).map((e) => e.change), ["hand_up", "hand_down"]);
    await waitForPage(
      async () => await bob.getAttribute("[data-testid=toggle-hand]", "aria-pressed") === "false",
      { what: "Bob's hand down on his page after H, H" },
    );
    await bob.keyboard.press("m");
    await waitForPage(
      async () => await bob.getAttribute("[data-testid=toggle-mic]", "aria-pressed") === "true",
      { what: "Bob's microphone on by keyboard" },
    );
    await bob.keyboard.press("c");
    await waitForPage(
      async () => await bob.evaluate(() => document.activeElement?.getAttribute("name")) === "chat",
      { what: "the chat box focused" },
    );
    await bob.keyboard.type("hi");
    await bob.keyboard.press("Enter");
    await ann.locator("[data-testid=chat-text]").getByText("hi").waitFor();
    assert.equal(await tile(ann, "Bob").locator("[data-testid=tile-hand]").count(), 0);

    // The invite link is copied.
    await ann.context().grantPermissions(["clipboard-read", "clipboard-write"]);
    await ann.click("[data-testid=copy-link]");
    await ann.getByText("Link copied").waitFor();
    assert.equal(
      await ann.evaluate(() => navigator.clipboard.readText()),
      `${server.url}m/${created.id}`,
    );

    // The server's forwarded counters show in the statistics view only.
    assert.equal(await ann.locator("[data-testid=relay-counters]").count(), 0);
    await ann.click("[data-testid=toggle-stats]");
    await ann.locator("[data-testid=relay-counters]").getByText("server forwarded").waitFor();
    await ann.click("[data-testid=toggle-stats]");

    // Cy reacts from the terminal; an unknown reaction is refused there.
    await cy.write("/react 🎉\n");
    for (const page of [ann, bob]) {
      await tile(page, "Cy").locator("[data-testid=tile-reaction]").getByText("🎉").waitFor();
    }
    await cy.write("/react <b>\n");
    await cyPrinted((e) => e.event === "error" && e.code === "bad_request", "the refusal");

    // Ann turns the sounds off (remembered): Bob's leaving is shown, and not heard.
    await ann.click("[data-testid=toggle-devices]");
    await ann.uncheck("[data-testid=sounds]");
    const heard = await chimes(ann);
    await bob.click("text=Leave");
    await ann.locator("[data-testid=notice]").getByText("Bob left").waitFor();
    assert.equal(await chimes(ann), heard, "a sound played with the sounds off");
    assert.equal(
      await ann.evaluate(() => JSON.parse(localStorage.getItem("meet.media")!).sounds),
      false,
    );
    assert.deepEqual(errors, []);
  },
});
