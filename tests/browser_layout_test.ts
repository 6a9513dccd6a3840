/**
 * End to end in headless Chromium: the meeting page fits the window whatever the chat holds.
 * With 100 chat lines, at 1280x800 the controls, the chat box and the newest line stay in
 * view (the page never grows), and a reader who scrolled back up is not pulled down but told
 * how many lines came; at 390x844 (a phone) the chat is a panel one tap away with an unread
 * count, and opening it shows the newest line above the chat box. Speaker view puts the last
 * one heard (or the pinned one) large above a strip of the others; a tile goes full screen.
 */

import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { joinPage, launchBrowser, waitForPage } from "./support/browser.ts";
import { createMeeting, testClient, testServer } from "./support/server.ts";
import { waitFor } from "./support/wait.ts";

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

/** Whether the element is shown inside the window (and inside the chat list, if in one). */
function inView(page: Page, selector: string): Promise<boolean> {
  return page.evaluate((sel) => {
    const nodes = document.querySelectorAll(sel);
    const el = nodes[nodes.length - 1];
    if (!el) return false;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) return false;
    const boxes = [{ top: 0, bottom: innerHeight, left: 0, right: innerWidth }];
    const list = el.closest("[data-testid=chat]");
    if (list) boxes.push(list.getBoundingClientRect());
    return boxes.every((b) =>
      r.top >= b.top - 1 && r.bottom <= b.bottom + 1 && r.left >= b.left - 1 &&
      r.right <= b.right + 1
    );
  }, selector);
}

/**
 * Scrolls a page's chat list to the top, as a reader does, and returns once the page has had
 * its scroll event (a frame later): a line sent before that found the reader still at the end.
 */
function scrollChatToTop(page: Page): Promise<void> {
  return page.locator("[data-testid=chat]").evaluate((el) =>
    new Promise<void>((resolve) => {
      el.addEventListener("scroll", () => setTimeout(resolve, 0), { once: true });
      el.scrollTop = 0;
    })
  );
}

/** The page's height beyond the window, px (0: it fits). */
function overflow(page: Page): Promise<number> {
  return page.evaluate(() => document.documentElement.scrollHeight - innerHeight);
}

const CONTROLS = [
  "[data-testid=toggle-mic]",
  "[data-testid=toggle-camera]",
  "[data-testid=leave]",
];

Deno.test({
  name:
    "browser layout: 100 chat lines never push the controls or the chat box out of the window, at 1280x800 and 390x844; the chat follows new lines unless scrolled back; a phone shows an unread count",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await testServer({ p2p: "off" });
    await using browser = await launchBrowser([], { fps: 10 });
    const created = await createMeeting(server, "Chatty", "Host");
    const errors: string[] = [];
    const url = (name: string) => `${server.url}m/${created.id}?name=${name}`;
    const ann = await joinPage(
      await browser.newContext({ viewport: DESKTOP }),
      url("Ann"),
      errors,
      "Ann",
    );
    const cy = await joinPage(
      await browser.newContext({ viewport: PHONE }),
      url("Cy"),
      errors,
      "Cy",
    );

    // Five others say 20 lines each (a connection may send 20 at once).
    const talkers = await Promise.all(
      [1, 2, 3, 4, 5].map(async (n) => {
        const bot = await testClient(server, `Talker ${n}`);
        await bot.request({ type: "join", meetingId: created.id });
        return bot;
      }),
    );
    await Promise.all(talkers.map(async (bot, n) => {
      for (let i = 0; i < 20; i++) await bot.request({ type: "chat", text: `line ${n * 20 + i}` });
    }));
    const lines = (page: Page) => page.locator("[data-testid=chat-line]").count();
    await waitForPage(async () => await lines(ann) === 100, { what: "Ann's 100 chat lines" });

    // Desktop: the page fits, the controls and the chat box are in view, and so is line 99.
    assert.equal(await overflow(ann), 0, "Ann's page grew taller than the window");
    for (const control of [...CONTROLS, "input[name=chat]"]) {
      assert.ok(await inView(ann, control), `Ann: ${control} out of view`);
    }
    await waitForPage(() => inView(ann, "[data-testid=chat-line]"), {
      what: "Ann's newest line in view",
    });
    assert.equal(
      await ann.locator("[data-testid=chat-line]").last().locator("[data-testid=chat-text]")
        .textContent(),
      "line 99",
    );

    // Ann scrolls back to the top to read: a new line does not pull her down; a button says
    // it came, and takes her to it.
    await scrollChatToTop(ann);
    await talkers[0].request({ type: "chat", text: "one more" });
    await waitForPage(async () => await lines(ann) === 101, { what: "Ann's line 101" });
    const marker = ann.locator("[data-testid=chat-new]");
    await marker.waitFor();
    assert.equal((await marker.textContent())?.trim(), "1 new message ↓");
    assert.equal(await inView(ann, "[data-testid=chat-line]"), false, "Ann was pulled down");
    await marker.click();
    await waitForPage(() => inView(ann, "[data-testid=chat-line]"), {
      what: "Ann taken to the new line",
    });
    assert.equal(await marker.count(), 0);
    // Her own line always brings her down.
    await scrollChatToTop(ann);
    await ann.fill("input[name=chat]", "reading back");
    await ann.press("input[name=chat]", "Enter");
    await waitForPage(async () => await lines(ann) === 102, { what: "Ann's own line" });
    await waitForPage(() => inView(ann, "[data-testid=chat-line]"), {
      what: "Ann's own line in view",
    });

    // Phone: the chat is one tap away; the badge counts what the others said.
    await waitFor(
      async () => await cy.locator("[data-testid=chat-unread]").textContent() === "102",
      {
        what: "Cy's unread count at 102",
        timeoutMs: 10_000,
        intervalMs: 200,
      },
    );
    assert.equal(await overflow(cy), 0, "Cy's page grew taller than the window");
    for (const control of [...CONTROLS, "[data-testid=toggle-chat]"]) {
      assert.ok(await inView(cy, control), `Cy: ${control} out of view`);
    }
    assert.equal(await inView(cy, "input[name=chat]"), false, "the chat box shows before a tap");
    await cy.click("[data-testid=toggle-chat]");
    await waitForPage(() => inView(cy, "[data-testid=chat-line]"), {
      what: "Cy's newest line in view once the chat is open",
    });
    assert.ok(await inView(cy, "input[name=chat]"), "Cy's chat box out of view");
    assert.equal(await cy.locator("[data-testid=chat-unread]").count(), 0);
    assert.equal(await overflow(cy), 0, "Cy's page grew with the chat open");
    await cy.fill("input[name=chat]", "from my phone");
    await cy.press("input[name=chat]", "Enter");
    await waitForPage(async () => await lines(ann) === 103, { what: "Cy's line at Ann's" });

    for (const bot of talkers) bot.close();
    assert.deepEqual(errors, []);
  },
});

Deno.test({
  name:
    "browser layouts: speaker view shows the last one heard large above a strip; a pin holds someone there; a tile goes full screen; tile view again",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await testServer({ p2p: "off" });
    await using browser = await launchBrowser([], { fps: 10 });
    const created = await createMeeting(server, "Layouts");
    const errors: string[] = [];
    const page = async (name: string, mic: boolean) => {
      const context = await browser.newContext({ viewport: DESKTOP });
      await context.addInitScript(
        (mic) => localStorage.setItem("meet.media", JSON.stringify({ mic, camera: false })),
        mic,
      );
      return joinPage(context, `${server.url}m/${created.id}?name=${name}`, errors, name);
    };
    const ann = await page("Ann", false);
    await page("Bob", false);
    await page("Cy", true); // the fake microphone beeps: Cy is heard
    const roster = (await (await fetch(`${server.url}api/meetings/${created.id}`)).json())
      .roster as { id: string; name: string }[];
    const idOf = (name: string) => roster.find((p) => p.name === name)!.id;
    const width = (selector: string) =>
      ann.locator(selector).first().evaluate((el) => el.getBoundingClientRect().width);
    const featured = () => ann.getAttribute("[data-testid=featured]", "data-participant-id");

    assert.equal(await ann.getAttribute("[data-testid=grid]", "data-layout"), "tiles");
    await ann.click("[data-testid=toggle-layout]");
    await waitForPage(async () => await featured() === idOf("Cy"), {
      what: "Cy, who is heard, in the large area",
    });
    const large = await width("[data-testid=featured] [data-testid=tile]");
    const small = await width("[data-testid=strip] [data-testid=tile]");
    assert.ok(large > 3 * small, `featured ${large} px, strip ${small} px`);
    assert.equal(await ann.locator("[data-testid=strip] [data-testid=tile]").count(), 2);

    // Bob pinned: he stays large while Cy is heard.
    await ann.locator(
      `[data-testid=tile][data-participant-id="${idOf("Bob")}"] [data-testid=tile-pin]`,
    )
      .click();
    await waitForPage(async () => await featured() === idOf("Bob"), { what: "Bob pinned large" });
    await waitForPage(
      async () => (await ann.$$eval("[data-testid=tile][data-speaking=true]", (t) => t.length)) > 0,
      { what: "someone heard meanwhile" },
    );
    assert.equal(await featured(), idOf("Bob"));

    // Full screen, and back.
    const bobTile = `[data-testid=featured] [data-testid=tile]`;
    await ann.click(`${bobTile} [data-testid=tile-fullscreen]`);
    await waitForPage(
      async () =>
        await ann.evaluate(() =>
          (document.fullscreenElement as HTMLElement | null)?.dataset.participantId ?? null
        ) === idOf("Bob"),
      { what: "Bob's tile full screen" },
    );
    await ann.click(`${bobTile} [data-testid=tile-fullscreen]`);
    await waitForPage(async () => await ann.evaluate(() => document.fullscreenElement === null), {
      what: "full screen left",
    });

    // Tile view again: everyone the same size, the pin gone.
    await ann.click("[data-testid=toggle-layout]");
    await waitForPage(
      async () => await ann.getAttribute("[data-testid=grid]", "data-layout") === "tiles",
      { what: "tile view" },
    );
    assert.equal(await ann.locator("[data-testid=tile][data-pinned=true]").count(), 0);
    assert.deepEqual(errors, []);
  },
});
