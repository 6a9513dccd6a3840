/**
 * End to end in headless Chromium: two people, two browser contexts. One creates a meeting,
 * the other sees it appear in the list without reloading, joins, both chat, the creator
 * cancels and the other is returned to the list.
 */

import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import {
  captureRequests,
  confirmJoin,
  countCaptureRequests,
  launchBrowser,
  waitForPage,
} from "./support/browser.ts";
import { testServer } from "./support/server.ts";

const TIMEOUT = 15_000;

async function chatLines(page: Page) {
  return await page.$$eval("[data-testid=chat-line]", (lines) =>
    lines.map((li) => ({
      name: li.querySelector("[data-testid=chat-name]")!.textContent,
      time: li.querySelector("[data-testid=chat-time]")!.textContent,
      datetime: li.querySelector("time")!.getAttribute("datetime"),
      text: li.querySelector("[data-testid=chat-text]")!.textContent,
      html: li.querySelector("[data-testid=chat-text]")!.innerHTML,
    })));
}

function localClock(iso: string): string {
  const d = new Date(iso);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

Deno.test({
  name: "browser: create, see it live in another browser, join, chat both ways, cancel",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // Relay only: WebRTC runs only inside a network namespace (tests/browser_p2p_test.ts).
    await using server = await testServer({ p2p: "off" });
    await using browser = await launchBrowser();
    const ann = await (await browser.newContext({ timezoneId: "UTC" })).newPage();
    const bob = await (await browser.newContext({ timezoneId: "UTC" })).newPage();
    for (const p of [ann, bob]) p.setDefaultTimeout(TIMEOUT);
    const errors: string[] = [];
    for (const p of [ann, bob]) p.on("pageerror", (e) => errors.push(e.message));

    // Bob opens the list first; it is empty.
    await bob.goto(server.url);
    await bob.waitForSelector("[data-island=Lobby][data-hydrated]");
    await bob.getByText("No meetings yet").waitFor();

    // Ann creates a meeting and lands in the room.
    await ann.goto(server.url);
    await ann.waitForSelector("[data-island=Lobby][data-hydrated]");
    await ann.fill("input[name=name]", "Ann");
    await ann.fill("input[name=title]", "Design review");
    await ann.click("text=Create meeting");
    await ann.waitForURL(/\/m\/[a-z0-9]+$/);
    await ann.waitForSelector("[data-testid=room][data-joined=true]");
    const meetingId = new URL(ann.url()).pathname.split("/").pop()!;

    // Bob sees it appear without reloading, and joins from the list.
    const item = bob.locator(`[data-meeting-id="${meetingId}"]`);
    await item.getByText("Design review").waitFor();
    await item.getByText("by Ann · 1 person").waitFor();
    await bob.fill("input[name=name]", "Bob");
    await item.getByRole("button", { name: "Join" }).click();
    await bob.waitForURL(`${server.url}m/${meetingId}`);
    await bob.waitForSelector("[data-testid=room][data-joined=true]");

    // Both see both in the roster and the grid.
    for (const p of [ann, bob]) {
      await p.locator("[data-testid=tile]").nth(1).waitFor();
      assert.deepEqual(
        await p.$$eval("[data-testid=roster] li", (li) =>
          li.map((x) => {
            const entry = x.cloneNode(true) as HTMLElement;
            for (const button of entry.querySelectorAll("button")) button.remove();
            return entry.textContent;
          })),
        p === ann ? ["Ann(you)host", "Bob"] : ["Annhost", "Bob(you)"],
      );
      // The host (the creator, here) may make another the host.
      assert.equal(await p.locator("[data-testid=make-host]").count(), p === ann ? 1 : 0);
    }

    // Chat both ways, with names and times; HTML stays text.
    await ann.fill("input[name=chat]", "Hi Bob, can you see the deck?");
    await ann.press("input[name=chat]", "Enter");
    await bob.getByText("Hi Bob, can you see the deck?").waitFor();
    await bob.fill("input[name=chat]", "Yes! <b>bold</b> claim");
    await bob.click("text=Send");
    await ann.getByText("Yes! <b>bold</b> claim").waitFor();
    const history = await (await fetch(`${server.url}api/meetings/${meetingId}/history`)).json();
    const serverTimes = history.chat.map((c: { at: number }) => new Date(c.at).toISOString());
    for (const p of [ann, bob]) {
      await p.locator("[data-testid=chat-line]").nth(1).waitFor();
      const lines = await chatLines(p);
      assert.deepEqual(lines.map((l) => [l.name, l.text]), [
        ["Ann", "Hi Bob, can you see the deck?"],
        ["Bob", "Yes! <b>bold</b> claim"],
      ]);
      assert.deepEqual(lines.map((l) => l.datetime), serverTimes, "the server's timestamps");
      for (const l of lines) assert.equal(l.time, localClock(l.datetime!));
      assert.equal(lines[1].html, "Yes! &lt;b&gt;bold&lt;/b&gt; claim");
    }
    assert.equal(
      await bob.locator("text=Cancel meeting").count(),
      0,
      "only the host can cancel",
    );

    // Ann cancels; Bob is returned to the list with a notice, and the meeting is gone.
    await ann.click("text=Cancel meeting");
    await ann.click("text=Yes, cancel");
    await bob.waitForURL(/\/\?notice=cancelled/);
    await bob.getByText("“Design review” was cancelled by its host.").waitFor();
    await ann.waitForURL(/\/\?notice=cancelled/);
    await bob.waitForSelector("[data-island=Lobby][data-hydrated]");
    await bob.getByText("No meetings yet").waitFor();
    assert.equal(await bob.locator(`[data-meeting-id="${meetingId}"]`).count(), 0);
    assert.deepEqual(errors, []);
  },
});

Deno.test({
  name:
    "browser: the room address is the invitation; a link (even with ?name=) captures nothing and joins nobody before Join",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // Relay only: WebRTC runs only inside a network namespace (tests/browser_p2p_test.ts).
    await using server = await testServer({ p2p: "off" });
    await using browser = await launchBrowser();
    const created = await (await fetch(`${server.url}api/meetings`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ title: "Invite", name: "Host" }),
    })).json();
    const ctx = await browser.newContext();
    await countCaptureRequests(ctx);
    const roster = async () =>
      (await (await fetch(`${server.url}api/meetings/${created.id}`)).json()).roster
        .map((p: { name: string }) => p.name);
    const page = await ctx.newPage();
    page.setDefaultTimeout(TIMEOUT);
    await page.goto(`${server.url}m/${created.id}?name=Cy`);
    // Hydrated: the page is live, shows the name and what will be shared, and waits.
    await page.waitForSelector("[data-island=MeetingPage][data-hydrated] [data-testid=prejoin]");
    assert.equal(await page.inputValue("input[name=name]"), "Cy");
    assert.equal(await page.locator("[data-testid=prejoin-mic]").count(), 1);
    assert.equal(await page.locator("[data-testid=prejoin-camera]").count(), 1);
    assert.equal(await page.locator("[data-testid=room]").count(), 0, "joined without asking");
    assert.equal(await captureRequests(page), 0, "the camera or microphone was opened before Join");
    assert.deepEqual(await roster(), []);
    await confirmJoin(page);
    await page.waitForSelector("[data-testid=room][data-joined=true]");
    await page.locator("[data-testid=roster]").getByText("Cy").waitFor();
    await waitForPage(async () => await captureRequests(page) > 0, { what: "capture after Join" });
    // A second visit from the same browser asks for a name, remembering "Cy".
    const second = await ctx.newPage();
    second.setDefaultTimeout(TIMEOUT);
    await second.goto(`${server.url}m/${created.id}`);
    await second.waitForSelector("[data-island=MeetingPage][data-hydrated]");
    assert.equal(await second.inputValue("input[name=name]"), "Cy");
    await second.fill("input[name=name]", "Dee");
    await second.click("text=Join meeting");
    await second.waitForSelector("[data-testid=room][data-joined=true]");
    await page.locator("[data-testid=roster]").getByText("Dee").waitFor();
    assert.deepEqual(await roster(), ["Cy", "Dee"]);
  },
});
