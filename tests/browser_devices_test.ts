/**
 * End to end in headless Chromium with two fake cameras (one of them a depth camera), three
 * fake microphones and three fake speakers: the pre-join check captures nothing until asked, then shows the chosen camera and
 * the microphone's level; the person picks a camera and a speaker, which the meeting uses and
 * the next visit remembers; in the room the camera is changed without leaving, and the other
 * page keeps seeing it (the depth camera's frames are redrawn before encoding).
 */

import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import {
  captureRequests,
  confirmJoin,
  countCaptureRequests,
  joinPage,
  launchBrowser,
  waitForPage,
} from "./support/browser.ts";
import { testServer } from "./support/server.ts";

const TIMEOUT = 15_000;

/** The device id of the camera a `<video>` shows, or null. */
function shownCamera(page: Page, selector: string): Promise<string | null> {
  return page.$eval(selector, (el) => {
    const stream = (el as HTMLVideoElement).srcObject as MediaStream | null;
    const track = stream?.getVideoTracks()[0];
    return track && track.readyState === "live" && (el as HTMLVideoElement).videoWidth > 0
      ? track.getSettings().deviceId ?? null
      : null;
  }).catch(() => null);
}

/** The options of a device picker: [id, label]. */
function options(page: Page, testId: string): Promise<string[][]> {
  return page.$$eval(
    `[data-testid=${testId}] option`,
    (os) => os.map((o) => [(o as HTMLOptionElement).value, o.textContent ?? ""]),
  );
}

/** Frames of `participantId`'s video decoded so far on `page`. */
function framesOf(page: Page, participantId: string): Promise<number> {
  return page.evaluate((id) => {
    // deno-lint-ignore no-explicit-any
    const s = (globalThis as any).__meetStats;
    return s && !s.closed ? s.participants[id]?.framesDecoded ?? 0 : 0;
  }, participantId);
}

Deno.test({
  name:
    "browser devices: the pre-join check shows the chosen camera and the microphone's level; the choice is used, remembered, and changed in the room without leaving",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await testServer({ p2p: "off" });
    await using browser = await launchBrowser([], { fps: 10, cameras: 2 });
    const created = await (await fetch(`${server.url}api/meetings`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ title: "Devices", name: "Organiser" }),
    })).json();
    const url = (name: string) => `${server.url}m/${created.id}?name=${name}`;
    const errors: string[] = [];
    const annContext = await browser.newContext();
    await countCaptureRequests(annContext);
    const ann = await annContext.newPage();
    ann.setDefaultTimeout(TIMEOUT);
    ann.on("pageerror", (err) => errors.push(`Ann: ${err.message}`));
    await ann.goto(url("Ann"));
    await ann.waitForSelector("[data-island=MeetingPage][data-hydrated] [data-testid=prejoin]");
    assert.equal(await captureRequests(ann), 0, "captured before the person asked");

    // The check: the picture and the level of the default devices.
    await ann.click("[data-testid=prejoin-check]");
    await waitForPage(async () => await shownCamera(ann, "[data-testid=prejoin-video]"), {
      what: "the camera preview",
    });
    await waitForPage(
      async () => Number(await ann.getAttribute("[data-testid=mic-level]", "data-level")) > -50,
      { what: "the microphone's level moving" },
    );
    const cameras = await options(ann, "select-camera");
    // Chromium's second fake camera gives 16-bit depth frames, a pixel format WebCodecs does
    // not name: the sender redraws them before encoding.
    assert.deepEqual(cameras.map(([, label]) => label), ["fake_device_0", "fake_device_1"]);
    const speakers = await options(ann, "select-speaker");
    assert.ok(speakers.length >= 2, `speakers: ${JSON.stringify(speakers)}`);
    assert.ok((await options(ann, "select-microphone")).length >= 2);

    // Ann picks the second camera and the last speaker: the preview follows at once.
    const [chosen, first] = [cameras[1][0], cameras[0][0]];
    const speaker = speakers[speakers.length - 1][0];
    await ann.selectOption("[data-testid=select-camera]", chosen);
    await ann.selectOption("[data-testid=select-speaker]", speaker);
    await waitForPage(
      async () => await shownCamera(ann, "[data-testid=prejoin-video]") === chosen,
      { what: "the preview on the second camera" },
    );

    // Joined, the meeting uses them: the self view and what the device panel says is in use.
    await confirmJoin(ann);
    await ann.waitForSelector("[data-testid=room][data-joined=true]");
    assert.equal(await ann.locator("[data-testid=prejoin-video]").count(), 0);
    const annId = (await (await fetch(`${server.url}api/meetings/${created.id}`)).json()).roster
      .find((p: { name: string }) => p.name === "Ann").id;
    const selfView = `[data-testid=tile][data-participant-id="${annId}"] video`;
    await waitForPage(async () => await shownCamera(ann, selfView) === chosen, {
      what: "Ann's self view on the second camera",
    });
    await ann.click("[data-testid=toggle-devices]");
    await waitForPage(
      async () => await ann.inputValue("[data-testid=select-speaker]") === speaker,
      { what: "the meeting playing on the chosen speaker" },
    );
    assert.equal(await ann.inputValue("[data-testid=select-camera]"), chosen);

    // Bob sees Ann's picture; Ann moves to the first camera without leaving; Bob still does.
    const bob = await joinPage(await browser.newContext(), url("Bob"), errors, "Bob");
    await waitForPage(async () => await framesOf(bob, annId) >= 10, {
      what: "Bob decoding Ann's video",
    });
    // Bob's tile of Ann shows how her video reaches him: good or fair on a clean loopback (its
    // first second, while the picture starts on a busy machine, may read poor: wait for it).
    const bars = bob.locator(
      `[data-testid=tile][data-participant-id="${annId}"] [data-testid=tile-quality]`,
    );
    await bars.waitFor();
    await waitForPage(
      async () => /^(good|fair)$/.test(String(await bars.getAttribute("data-quality"))),
      { what: "Ann's video reaching Bob as good or fair", timeoutMs: 10_000 },
    ).catch(async (err) => {
      throw new Error(`${err.message}: ${await bars.getAttribute("data-quality")}`);
    });
    await ann.selectOption("[data-testid=select-camera]", first);
    await waitForPage(async () => await shownCamera(ann, selfView) === first, {
      what: "Ann's self view on the first camera",
    });
    const atSwitch = await framesOf(bob, annId);
    await waitForPage(async () => await framesOf(bob, annId) >= atSwitch + 20, {
      what: "Bob decoding Ann's video after her switch",
    });
    assert.equal(await ann.inputValue("[data-testid=select-camera]"), first);

    // The next visit remembers the last choice.
    const again = await annContext.newPage();
    again.setDefaultTimeout(TIMEOUT);
    await again.goto(`${server.url}m/${created.id}`);
    await again.waitForSelector("[data-island=MeetingPage][data-hydrated] [data-testid=prejoin]");
    await waitForPage(
      async () =>
        await again.inputValue("[data-testid=select-camera]").catch(() => "") === first &&
        await again.inputValue("[data-testid=select-speaker]").catch(() => "") === speaker,
      { what: "the choice remembered" },
    );
    assert.equal(await captureRequests(again), 0, "the next visit captured before asked");
    assert.deepEqual(errors, []);
  },
});
