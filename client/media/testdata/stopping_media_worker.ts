/**
 * A stand-in for the media worker's script in client/media/media_worker_link_test.ts: it
 * says it is ready, reports `reports` times a quarter of a second apart as the real worker
 * does (each report carries its number as an arrival), then ends its own thread (as a worker
 * that stopped mid-call).
 *
 * @module
 */

const scope = globalThis as unknown as {
  postMessage(message: unknown): void;
  close(): void;
  name: string;
};
const reports = Number(new URL(import.meta.url).searchParams.get("reports") ?? "2");
scope.postMessage({ type: "ready" });
let sent = 0;
const timer = setInterval(() => {
  if (sent++ >= reports) {
    clearInterval(timer);
    scope.close();
    return;
  }
  scope.postMessage({
    type: "stats",
    receivers: [],
    closedTotals: { recovered: 0, unrecovered: 0 },
    arrivals: [sent],
    sender: null,
  });
}, 250);
