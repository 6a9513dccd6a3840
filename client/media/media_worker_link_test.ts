import assert from "node:assert/strict";
import { MediaWorkerLink } from "./media_worker_link.ts";
import type { WebTransportChannelOptions } from "./webtransport_channel.ts";

const workerUrl = (reports: number) =>
  new URL(`./testdata/stopping_media_worker.ts?reports=${reports}`, import.meta.url);

const SESSION: WebTransportChannelOptions = {
  info: { port: 4433, path: "/media" } as WebTransportChannelOptions["info"],
  mediaKey: "k",
  meetingId: "m",
  hostname: "127.0.0.1",
};

/** Resolves when `condition` holds, checked every 20 ms; rejects after `ms`. */
async function until(condition: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

Deno.test("MediaWorkerLink: a worker that stops reporting fails once: its session closes, onFail is called, later sessions close at once", async () => {
  const link = new MediaWorkerLink(workerUrl(2), { silentMs: 300 });
  try {
    assert.equal(await link.ready, true);
    const reasons: string[] = [];
    link.onFail = (reason) => reasons.push(reason);
    const closed: string[] = [];
    link.connect(SESSION).on("closed", (reason) => closed.push(reason));
    await until(() => reasons.length > 0, "onFail");
    assert.deepEqual(reasons, ["the media worker stopped"]);
    assert.deepEqual(closed, ["the media worker stopped"]);
    assert.equal(link.failed, true);

    const again: string[] = [];
    link.connect(SESSION).on("closed", (reason) => again.push(reason));
    await until(() => again.length > 0, "the later session to close");
    assert.deepEqual(again, ["the media worker stopped"]);
    assert.deepEqual(reasons, ["the media worker stopped"], "onFail once");
  } finally {
    link.close();
  }
});

Deno.test("MediaWorkerLink: a worker that keeps reporting is not judged stopped", async () => {
  // A second of silence allowed: four reports, so that a report a little late on a busy
  // machine is not taken for a stop.
  const link = new MediaWorkerLink(workerUrl(40), { silentMs: 1000 });
  try {
    assert.equal(await link.ready, true);
    let failed = false;
    link.onFail = () => failed = true;
    const reports: number[] = [];
    link.onArrival = (n) => reports.push(n);
    // Eight reports: two seconds, twice the silence allowed.
    await until(() => reports.length >= 8, "eight reports");
    assert.equal(failed, false);
    assert.equal(link.failed, false);
  } finally {
    link.close();
  }
});
