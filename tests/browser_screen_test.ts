/**
 * End to end in headless Chromium (its fake screen capture: 1920x1080): screen sharing in a
 * relayed meeting of three pages. Ann shares from the toolbar: Bob and Cy decode her screen at
 * full size (or 3/4 of it, while a busy machine's link reads short) beside the cameras, which go on, and it takes their large area; she stops it from
 * the browser's own bar (the capture ends) and it is gone everywhere; she shares again with
 * the S key; Bob shares too, and Ann, the host, stops his share; she stops hers from the
 * toolbar. (The P2P scenario checks a screen going straight to the peer.)
 */

import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { joinPage, launchBrowser, SMALL_VIEWPORT, waitForPage } from "./support/browser.ts";
import { createMeeting, testServer } from "./support/server.ts";
import { waitFor } from "./support/wait.ts";

const TIMEOUT = 20_000;

/** What a page decoded of a participant's screen, and of its camera. */
function decoded(
  page: Page,
  id: string,
): Promise<{ screen: number; width: number; camera: number }> {
  return page.evaluate((id) => {
    // deno-lint-ignore no-explicit-any
    const s = (globalThis as any).__meetStats;
    return {
      screen: s?.screens?.[id]?.framesDecoded ?? 0,
      width: s?.screens?.[id]?.width ?? 0,
      camera: s?.participants?.[id]?.framesDecoded ?? 0,
    };
  }, id);
}

/** The page's layout and whose screen is large in it (null: none). */
async function stage(page: Page): Promise<{ layout: string | null; screen: string | null }> {
  return await page.evaluate(() => ({
    layout: document.querySelector("[data-testid=grid]")?.getAttribute("data-layout") ?? null,
    screen: document.querySelector("[data-testid=screen-tile]")?.getAttribute(
      "data-participant-id",
    ) ?? null,
  }));
}

Deno.test({
  name:
    "browser screen sharing: a shared screen decodes at full size (3/4 on a busy machine) on the others' pages and takes the large area; it stops from the browser's bar, the toolbar, the S key and the host",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await testServer({ p2p: "off" });
    await using browser = await launchBrowser([], { fps: 10 });
    const created = await createMeeting(server, "Slides");
    const errors: string[] = [];
    const url = (name: string) => `${server.url}m/${created.id}?name=${name}`;
    const join = async (name: string, viewport = SMALL_VIEWPORT) =>
      await joinPage(await browser.newContext({ viewport }), url(name), errors, name);
    const ann = await join("Ann", { width: 1280, height: 800 });
    const bob = await join("Bob", { width: 1280, height: 800 });
    const cy = await join("Cy");
    const api = async () => (await fetch(`${server.url}api/meetings/${created.id}`)).json();
    const roster: { id: string; name: string; screen: boolean }[] = (await api()).roster;
    const id = (name: string) => roster.find((p) => p.name === name)!.id;
    const sharing = async () =>
      Object.fromEntries(
        ((await api()).roster as typeof roster).map((p) => [p.name, p.screen]),
      );

    // 1. Ann shares from the toolbar.
    await ann.click("[data-testid=toggle-screen]");
    for (const [page, who] of [[bob, "Bob"], [cy, "Cy"]] as const) {
      // At full size (1920 wide), or its first step down (3/4: 1440): on a busy machine the
      // pages' delays read as a short link, and the sharer sends 3/4 from a keyframe until the
      // link reads well again (on CI's 2.1 GHz machines it stayed there for 20 s). Never the
      // camera's size: a screen is shown large.
      let last = { screen: 0, width: 0, camera: 0 };
      await waitForPage(async () => {
        last = await decoded(page, id("Ann"));
        return last.screen >= 10 && last.width >= 1440;
      }, { what: `${who} decodes Ann's screen at full size`, timeoutMs: TIMEOUT }).catch((err) => {
        throw new Error(`${err.message}: ${last.screen} frames, ${last.width} wide`);
      });
      assert.deepEqual(await stage(page), { layout: "screen", screen: id("Ann") });
    }
    assert.deepEqual(await sharing(), { Ann: true, Bob: false, Cy: false });
    assert.equal(await bob.locator("[data-testid=roster-screen]").count(), 1);
    // Ann sees what she shares; her camera still reaches the others beside it.
    assert.equal(await ann.getAttribute("[data-testid=screen-tile]", "data-self"), "true");
    const cameraBefore = (await decoded(bob, id("Ann"))).camera;
    await waitForPage(async () => (await decoded(bob, id("Ann"))).camera >= cameraBefore + 10, {
      what: "Bob still decodes Ann's camera",
      timeoutMs: TIMEOUT,
    });
    assert.equal(await bob.locator("[data-testid=strip] [data-testid=tile]").count(), 3);

    // 2. Ann stops it from the browser's bar: her capture ends.
    await ann.evaluate(() => {
      const video = document.querySelector("[data-testid=screen-tile] video") as HTMLVideoElement;
      const [track] = (video.srcObject as MediaStream).getVideoTracks();
      track.dispatchEvent(new Event("ended"));
    });
    for (const page of [ann, bob, cy]) {
      await waitForPage(async () => (await stage(page)).screen === null, {
        what: "the shared screen gone",
        timeoutMs: TIMEOUT,
      });
    }
    assert.equal((await stage(bob)).layout, "tiles");
    assert.equal(await ann.getAttribute("[data-testid=toggle-screen]", "aria-pressed"), "false");
    await waitFor(async () => !(await sharing()).Ann, { what: "the server to see it stopped" });

    // 3. The S key shares again: a new share decodes from its first keyframe.
    await ann.keyboard.press("s");
    await waitForPage(async () => (await decoded(cy, id("Ann"))).screen >= 5, {
      what: "Cy decodes Ann's new share",
      timeoutMs: TIMEOUT,
    });

    // 4. Bob shares too; Ann sees Bob's screen large (the other one sharing); then Ann, the
    // host, stops his share: his page says so and the server no longer forwards it.
    await bob.click("[data-testid=toggle-screen]");
    await waitForPage(async () => (await decoded(ann, id("Bob"))).screen >= 5, {
      what: "Ann decodes Bob's screen",
      timeoutMs: TIMEOUT,
    });
    assert.equal((await stage(ann)).screen, id("Bob"));
    assert.deepEqual(await sharing(), { Ann: true, Bob: true, Cy: false });
    await ann.click(
      `[data-testid=roster-entry]:has-text("Bob") [data-testid=host-stop-screen]`,
    );
    await waitForPage(
      async () =>
        (await bob.getAttribute("[data-testid=toggle-screen]", "aria-pressed")) === "false",
      { what: "Bob's share stopped", timeoutMs: TIMEOUT },
    );
    await bob.waitForSelector("text=stopped your screen share");
    await waitFor(async () => !(await sharing()).Bob, { what: "the server to stop Bob's share" });
    // Ann's own share goes on, and is large again on her page.
    await waitForPage(async () => (await stage(ann)).screen === id("Ann"), {
      what: "Ann's own screen large again",
      timeoutMs: TIMEOUT,
    });

    // 5. Ann stops hers from the toolbar.
    await ann.click("[data-testid=toggle-screen]");
    for (const page of [bob, cy]) {
      await waitForPage(async () => (await stage(page)).layout === "tiles", {
        what: "back to the tiles",
        timeoutMs: TIMEOUT,
      });
    }
    assert.deepEqual(await sharing(), { Ann: false, Bob: false, Cy: false });
    assert.deepEqual(errors, []);
  },
});
