/**
 * End to end in headless Chromium: the host role and its controls. A meeting made over REST by
 * someone who never joins: the first person in (Bob) holds the role and alone sees "Cancel
 * meeting"; he turns Cy's microphone off (her page shows it, the server stops mixing her), and
 * a bot's that keeps sending (his page goes quiet), and
 * removes Dee with a reason (her page says so, and she cannot join again); he closes the
 * meeting to newcomers (Fay is turned away), then opens a waiting room (he admits Fay and
 * turns Gus away); he makes Cy the
 * host; Cy closes her tab and the role comes back to Bob, in longest; Bob ends the meeting.
 */

import assert from "node:assert/strict";
import type { BrowserContext, Page } from "playwright-core";
import {
  confirmJoin,
  joinPage,
  launchBrowser,
  PAGE_POLL_MS,
  waitForPage,
} from "./support/browser.ts";
import { mediaBot } from "./support/media_bot.ts";
import { cli } from "./support/cli.ts";
import { createMeeting, testServer } from "./support/server.ts";
import { waitFor, waitForSteady } from "./support/wait.ts";

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
    const created = await createMeeting(server, "Hand over");
    const errors: string[] = [];
    const quiet = async (mic = false): Promise<BrowserContext> => {
      const context = await browser.newContext();
      await context.addInitScript(
        (mic) => localStorage.setItem("meet.media", JSON.stringify({ mic, camera: false })),
        mic,
      );
      return context;
    };
    const url = (name: string) => `${server.url}m/${created.id}?name=${name}`;
    const bob = await joinPage(await quiet(), url("Bob"), errors, "Bob");
    const cy = await joinPage(await quiet(true), url("Cy"), errors, "Cy");
    const dee = await joinPage(await quiet(), url("Dee"), errors, "Dee");
    // Eve is on the terminal client, sending a tone over UDP.
    await using eve = cli([
      "--server",
      server.wsUrl,
      "--udp-port",
      String(server.udpPort),
      "--json",
      "--name",
      "Eve",
      "--join",
      created.id,
      "--tone",
      "660",
      "--duration",
      "60", // a safety net: the host removes her
    ]);
    const eveSaid = (event: string) =>
      waitFor(() => eve.events().findLast((e) => e.event === event), {
        what: `Eve's ${event} event`,
        timeoutMs: 15_000,
      });
    await eveSaid("media_bound");
    const cancelButton = (page: Page) => page.locator("text=Cancel meeting");

    for (const page of [bob, cy, dee]) {
      await waitForPage(async () => (await hosts(page)).join() === "Bob", {
        what: "Bob shown as the host",
      });
    }
    assert.equal(await cancelButton(bob).count(), 1);
    assert.equal(await cancelButton(cy).count(), 0, "Cy may not cancel");
    assert.equal(await cy.locator("[data-testid=make-host]").count(), 0);

    const api = async () => (await fetch(`${server.url}api/meetings/${created.id}`)).json();
    const entry = (page: Page, name: string) =>
      page.locator(`[data-testid=roster-entry]:has-text("${name}")`);
    const media = async () => (await api()).media;

    // Bob turns Cy's microphone off: her page says so and shows it off; the server stops
    // taking her audio, until she turns it on again herself.
    await waitForPage(async () => (await media()).forwarded.audio.packets > 0, {
      what: "Cy's audio reaching the server",
    });
    await entry(bob, "Cy").locator("[data-testid=host-mute]").click();
    await cy.locator("[data-testid=host-notice]").getByText(
      "Bob (the host) turned off your microphone",
    ).waitFor();
    await waitForPage(
      async () =>
        await cy.locator("[data-testid=toggle-mic]").getAttribute("aria-pressed") === "false",
      { what: "Cy's microphone shown off" },
    );
    await waitForPage(async () => {
      const cyInfo = (await api()).roster.find((p: { name: string }) => p.name === "Cy");
      return cyInfo.audio === false;
    }, { what: "Cy's microphone off in the roster" });
    assert.equal(await entry(bob, "Cy").locator("[data-testid=host-mute]").count(), 0);

    // The same for Eve on the terminal client: it says so, stops sending, and the roster shows
    // her microphone off; then Bob removes her and her client says why and ends.
    await entry(bob, "Eve").locator("[data-testid=host-mute]").click();
    assert.deepEqual(
      { ...await eveSaid("muted"), at: undefined },
      { event: "muted", kind: "audio", by: "Bob", at: undefined },
    );
    await waitFor(() => eve.events().findLast((e) => e.event === "sending")?.audio === null, {
      what: "Eve's client sending no audio",
    });
    await waitForPage(async () => {
      const eveInfo = (await api()).roster.find((p: { name: string }) => p.name === "Eve");
      return eveInfo.audio === false;
    }, { what: "Eve's microphone off in the roster" });
    bob.once("dialog", (dialog) => dialog.accept("wrong meeting"));
    await entry(bob, "Eve").locator("[data-testid=host-remove]").click();
    const left = await eveSaid("left");
    assert.deepEqual([left.reason, left.message], ["removed", "wrong meeting"]);
    assert.equal((await eve.status).code, 0, "Eve's client ends when removed");

    // A client that keeps sending after the host's mute (a bot with a tone): Bob hears it;
    // muted, the server takes none of it, and Bob's page goes quiet (what it plays, measured).
    const tone = await mediaBot(server, "Tone", created.id);
    await tone.request({ type: "media", audio: true, video: false });
    tone.startTone(440);
    const audibleMs = (): Promise<number> =>
      // deno-lint-ignore no-explicit-any
      bob.evaluate(() => (globalThis as any).__meetStats?.audio?.audibleMs ?? 0);
    const before = await audibleMs();
    await waitForPage(async () => (await audibleMs()) > before + 1000, {
      what: "Bob hearing the tone for a second",
    });
    await entry(bob, "Tone").locator("[data-testid=host-mute]").click();
    await waitForSteady(audibleMs, 2_000, {
      what: "Bob's page quiet once the tone is muted",
      timeoutMs: 10_000,
      intervalMs: PAGE_POLL_MS,
    });
    const dropped = (await media()).dropped.hostMuted;
    await waitForPage(async () => (await media()).dropped.hostMuted > dropped + 25, {
      what: "the server dropping the muted tone it is still sent",
    });
    await tone.request({ type: "leave" });
    tone.close();

    // Bob removes Dee, saying why: her page tells her, and she cannot come back.
    bob.once("dialog", (dialog) => dialog.accept("off topic <b>sorry</b>"));
    await entry(bob, "Dee").locator("[data-testid=host-remove]").click();
    await dee.getByText("The host removed you from this meeting: off topic <b>sorry</b>").waitFor();
    await waitForPage(
      async () => !(await api()).roster.some((p: { name: string }) => p.name === "Dee"),
      { what: "Dee gone from the roster" },
    );
    await dee.reload();
    await confirmJoin(dee);
    await dee.getByText("the host removed you from this meeting").waitFor();
    assert.equal((await api()).roster.length, 2, "Dee came back");

    // Bob closes the meeting to newcomers: everyone sees it, the lobby says so, and Fay cannot
    // join. Then newcomers wait to be let in: Bob admits Fay, and turns Gus away.
    await bob.selectOption("[data-testid=host-newcomers]", "closed");
    await cy.locator("[data-testid=newcomers-closed]").waitFor();
    await waitForPage(async () => (await api()).newcomers === "closed", {
      what: "the meeting closed to newcomers",
    });
    const fay = await (await quiet()).newPage();
    await fay.goto(url("Fay"));
    await confirmJoin(fay);
    await fay.getByText("The host closed this meeting to newcomers").waitFor();
    assert.equal((await api()).roster.length, 2, "Fay got in");
    await bob.selectOption("[data-testid=host-newcomers]", "waiting");
    await cy.locator("[data-testid=newcomers-waiting]").waitFor();
    await fay.click("[data-testid=join-button]");
    await fay.locator("[data-testid=waiting]").waitFor();
    const waiter = bob.locator(`[data-testid=waiting-entry]:has-text("Fay")`);
    await waiter.waitFor();
    assert.equal(await cy.locator("[data-testid=waiting-entry]").count(), 0, "Cy is no host");
    assert.equal((await api()).roster.length, 2, "Fay got in before being admitted");
    await waiter.locator("[data-testid=admit]").dblclick(); // one admission, no error
    await fay.waitForSelector("[data-testid=room][data-joined=true]");
    const gus = await (await quiet()).newPage();
    await gus.goto(url("Gus"));
    await confirmJoin(gus);
    await gus.locator("[data-testid=waiting]").waitFor();
    await bob.locator(`[data-testid=waiting-entry]:has-text("Gus") [data-testid=deny]`).click();
    await gus.getByText("You were not let in to this meeting.").waitFor();
    assert.equal(await bob.getByRole("alert").count(), 0, "no error after a double click");
    assert.deepEqual(
      (await api()).roster.map((p: { name: string }) => p.name),
      ["Bob", "Cy", "Fay"],
    );
    // The terminal client waits too, and comes in when admitted.
    await using hal = cli([
      "--server",
      server.wsUrl,
      "--udp-port",
      String(server.udpPort),
      "--json",
      "--name",
      "Hal",
      "--join",
      created.id,
      "--duration",
      "60",
    ]);
    await waitFor(
      () =>
        hal.events().find((e) =>
          e.event === "info" && /Waiting for the host/.test(String(e.message))
        ),
      { what: "Hal's client waiting", timeoutMs: 15_000 },
    );
    await bob.locator(`[data-testid=waiting-entry]:has-text("Hal") [data-testid=admit]`).click();
    await waitFor(() => hal.events().find((e) => e.event === "joined"), {
      what: "Hal's client in the meeting",
      timeoutMs: 15_000,
    });
    await hal.closeStdin();
    await bob.locator(`[data-testid=roster-entry]:has-text("Hal") [data-testid=host-remove]`)
      .waitFor();
    bob.once("dialog", (dialog) => dialog.accept(""));
    await bob.locator(`[data-testid=roster-entry]:has-text("Hal") [data-testid=host-remove]`)
      .click();
    await waitForPage(
      async () => !(await api()).roster.some((p: { name: string }) => p.name === "Hal"),
      { what: "Hal gone" },
    );
    await bob.selectOption("[data-testid=host-newcomers]", "open");
    await waitForPage(
      async () => await cy.locator("[data-testid=newcomers-waiting]").count() === 0,
      { what: "Cy seeing the meeting open again" },
    );
    await fay.close();
    await waitForPage(async () => (await api()).roster.length === 2, { what: "Fay gone" });

    // Bob makes Cy the host.
    await entry(bob, "Cy").locator("[data-testid=make-host]").click();
    for (const page of [bob, cy]) {
      await waitForPage(async () => (await hosts(page)).join() === "Cy", {
        what: "Cy shown as the host",
      });
    }
    await cancelButton(cy).waitFor();
    assert.equal(await cancelButton(bob).count(), 0, "Bob may no longer cancel");
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
