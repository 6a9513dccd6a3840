/**
 * The media worker's entry point, bundled as `/_islands/media_worker_main.js` and started by
 * `MediaWorkerLink` (client/media/media_worker_link.ts) as a module worker.
 *
 * @example
 * ```ts
 * const worker = new Worker("/_islands/media_worker_main.js", { type: "module" });
 * worker.terminate();
 * ```
 * @module
 */

import { MediaWorker, type MediaWorkerScope } from "./media/media_worker.ts";

new MediaWorker(globalThis as unknown as MediaWorkerScope);
