/**
 * The audio output starts with the smallest buffer the browser offers and gives it up when
 * it glitches. Ann's page starts at `latencyHint: 0`; then a worklet node that takes 8 ms of
 * every 2.7 ms render is added to her AudioContext, so its audio thread is late all the time
 * and the output underruns. Her session must move its audio to an "interactive" context:
 * she still hears Bob through the mix, Bob still hears her (her microphone moved along,
 * without a new getUserMedia), and her mic button stays on. Relay mode, cameras off.
 */

import assert from "node:assert/strict";
import type { BrowserContext, Page } from "playwright-core";
import { joinPage, launchBrowser, waitForPage } from "./support/browser.ts";
import { testServer } from "./support/server.ts";

const TIMEOUT = 20_000;

interface OutputState {
  audibleMs: number;
  lowLatencyOutput: boolean;
  underruns: number | null;
  outputLatencyMs: number;
  /** The latencyHint of every AudioContext the page made, in order. */
  hints: unknown[];
  microphoneRequests: number;
}

function outputState(page: Page): Promise<OutputState> {
  return page.evaluate(() => {
    // deno-lint-ignore no-explicit-any
    const g = globalThis as any;
    const a = g.__meetStats?.audio ?? {};
    return {
      audibleMs: a.audibleMs ?? 0,
      lowLatencyOutput: a.lowLatencyOutput ?? true,
      underruns: a.underruns ?? null,
      outputLatencyMs: a.outputLatencyMs ?? 0,
      hints: g.__contexts.map((c: { hint: unknown }) => c.hint),
      microphoneRequests: g.__microphoneRequests,
    };
  });
}

/** Keeps a record of the page's AudioContexts and microphone requests; changes nothing. */
async function watchAudio(context: BrowserContext): Promise<void> {
  await context.addInitScript(() => {
    localStorage.setItem("meet.media", JSON.stringify({ mic: true, camera: false }));
    // deno-lint-ignore no-explicit-any
    const g = globalThis as any;
    g.__contexts = [];
    g.__microphoneRequests = 0;
    const Native = AudioContext;
    g.AudioContext = class extends Native {
      constructor(options?: AudioContextOptions) {
        super(options);
        g.__contexts.push({ context: this, hint: options?.latencyHint });
      }
    };
    const getUserMedia = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
    navigator.mediaDevices.getUserMedia = (constraints) => {
      if (constraints?.audio) g.__microphoneRequests++;
      return getUserMedia(constraints);
    };
  });
}

/** Waits until the page's playback has been audible `ms` more than it is now. */
async function hears(page: Page, ms: number, what: string): Promise<void> {
  const base = (await outputState(page)).audibleMs;
  await waitForPage(async () => (await outputState(page)).audibleMs >= base + ms, {
    what,
    timeoutMs: TIMEOUT,
  });
}

Deno.test({
  name: "browser audio output: low latency first; on glitches the audio moves to a larger buffer",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await testServer({ p2p: "off" });
    await using browser = await launchBrowser();
    const errors: string[] = [];
    const created = await (await fetch(`${server.url}api/meetings`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ title: "Glitchy", name: "Host" }),
    })).json();
    const open = async (name: string) => {
      const context = await browser.newContext();
      await watchAudio(context);
      return joinPage(context, `${server.url}m/${created.id}?name=${name}`, errors, name, TIMEOUT);
    };
    const ann = await open("Ann");
    const bob = await open("Bob");

    await hears(ann, 1000, "Ann hears Bob");
    await hears(bob, 1000, "Bob hears Ann");
    const before = await outputState(ann);
    assert.deepEqual(before.hints, [0], "one context, with the smallest buffer");
    assert.equal(before.lowLatencyOutput, true);
    assert.ok(before.outputLatencyMs < 20, `output latency ${before.outputLatencyMs} ms`);
    assert.equal(before.microphoneRequests, 1);

    // Starve Ann's audio thread: 8 ms of work in every 128-sample render.
    await ann.evaluate(async () => {
      // deno-lint-ignore no-explicit-any
      const context = (globalThis as any).__contexts[0].context as AudioContext;
      const source = `registerProcessor("burn", class extends AudioWorkletProcessor {
        process() { const end = Date.now() + 8; while (Date.now() < end); return true; }
      });`;
      const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
      await context.audioWorklet.addModule(url);
      new AudioWorkletNode(context, "burn").connect(context.destination);
    });

    await waitForPage(async () => !(await outputState(ann)).lowLatencyOutput, {
      what: "Ann's audio to leave the smallest buffer",
      timeoutMs: TIMEOUT,
    });
    const after = await outputState(ann);
    assert.deepEqual(after.hints, [0, "interactive"]);
    assert.ok((after.underruns ?? 0) >= 3, `${after.underruns} glitches counted`);
    await hears(ann, 1000, "Ann hears Bob after the move");
    await hears(bob, 1000, "Bob hears Ann after the move: her microphone moved along");
    const settled = await outputState(ann);
    assert.equal(settled.microphoneRequests, 1, "the microphone was not asked for again");
    assert.equal(settled.hints.length, 2, "no further move");
    assert.equal(
      await ann.getAttribute("[data-testid=toggle-mic]", "aria-pressed"),
      "true",
      "Ann's microphone button stays on",
    );
    assert.deepEqual(errors, []);
  },
});
