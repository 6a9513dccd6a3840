/**
 * Shows one remote participant's decoded video in their tile. Two ways, picked by what the
 * browser has:
 *
 * - {@linkcode TrackVideoRenderer} (Chromium): frames are written to a
 *   `MediaStreamTrackGenerator` played by a `<video>`; the compositor draws them, off the
 *   main thread, and `requestVideoFrameCallback` tells when each frame reaches the screen.
 * - {@linkcode CanvasVideoRenderer} (elsewhere): each frame is drawn into a `<canvas>` with
 *   `drawImage` on the main thread.
 *
 * Either way the renderer owns the element it puts in the slot, closes every frame it is
 * given, counts the frames shown and measures capture-to-display delays.
 *
 * @example
 * ```ts
 * import type { VideoReceiver } from "./video_receiver.ts";
 *
 * function show(tileSlotDiv: HTMLDivElement, receiver: VideoReceiver) {
 *   const renderer = createVideoRenderer(tileSlotDiv);
 *   receiver.sink = (frame, captureMs) => renderer.render(frame, captureMs);
 *   renderer.close(); // removes its element
 * }
 * ```
 * @module
 */

import { wallClock } from "./clock.ts";
import { SampleWindow } from "./stats.ts";

/**
 * Counters of a renderer.
 *
 * @example
 * ```ts
 * function log(renderer: VideoRenderer) {
 *   const { framesRendered, delayP50 } = renderer.stats;
 *   console.log(framesRendered, delayP50);
 * }
 * ```
 */
export interface VideoRendererStats {
  /** Frames that reached the screen (or the canvas). */
  framesRendered: number;
  /** Capture to display, ms, over the last ~2 s of frames. */
  delayP50: number | null;
  delayP95: number | null;
  /** performance.now() of the last frame shown, or null. */
  lastRenderedAt: number | null;
}

/**
 * What the session needs of a renderer.
 *
 * @example
 * ```ts
 * function rendererFor(slot: HTMLElement) {
 *   const renderer: VideoRenderer = createVideoRenderer(slot);
 *   return renderer;
 * }
 * ```
 */
export interface VideoRenderer {
  /** The element shown in the slot. */
  readonly element: HTMLElement;
  /** Shows `frame` (and closes it). `captureMs`: its capture time, ms since the epoch. */
  render(frame: VideoFrame, captureMs: number | null): void;
  readonly stats: VideoRendererStats;
  /** Called with each capture-to-display delay measured, ms. */
  onDelay: ((delayMs: number) => void) | null;
  /** Removes the element; frames given afterwards are closed unseen. Idempotent. */
  close(): void;
}

const FILL_STYLE = "position:absolute;inset:0;width:100%;height:100%;object-fit:contain;" +
  "background:#000;display:block";

interface TrackGenerator extends MediaStreamTrack {
  readonly writable: WritableStream<VideoFrame>;
}

type TrackGeneratorConstructor = new (init: { kind: "video" }) => TrackGenerator;

function trackGenerator(): TrackGeneratorConstructor | undefined {
  return (globalThis as { MediaStreamTrackGenerator?: TrackGeneratorConstructor })
    .MediaStreamTrackGenerator;
}

abstract class RendererBase {
  onDelay: ((delayMs: number) => void) | null = null;
  #delays = new SampleWindow(60);
  #framesRendered = 0;
  #lastRenderedAt: number | null = null;
  protected closed = false;

  get stats(): VideoRendererStats {
    return {
      framesRendered: this.#framesRendered,
      delayP50: this.#delays.percentile(50),
      delayP95: this.#delays.percentile(95),
      lastRenderedAt: this.#lastRenderedAt,
    };
  }

  /** A frame captured at `captureMs` is on screen at wall-clock `shownAtMs`. */
  protected shown(captureMs: number | null | undefined, shownAtMs: number): void {
    this.#framesRendered++;
    this.#lastRenderedAt = performance.now();
    if (captureMs == null) return;
    const delay = shownAtMs - captureMs;
    this.#delays.add(delay);
    this.onDelay?.(delay);
  }
}

/**
 * Plays frames through a `MediaStreamTrackGenerator` in a muted `<video>` (Chromium).
 *
 * @example
 * ```ts
 * function draw(slot: HTMLElement, frame: VideoFrame, captureMs: number) {
 *   if (TrackVideoRenderer.supported()) new TrackVideoRenderer(slot).render(frame, captureMs);
 * }
 * ```
 */
export class TrackVideoRenderer extends RendererBase implements VideoRenderer {
  readonly element: HTMLVideoElement;
  readonly #generator: TrackGenerator;
  readonly #writer: WritableStreamDefaultWriter<VideoFrame>;
  /** Capture time by frame timestamp (µs), until the frame is presented. */
  #captures = new Map<number, number>();
  #writing = 0;

  /** True when the browser has `MediaStreamTrackGenerator` and `requestVideoFrameCallback`. */
  static supported(): boolean {
    return typeof trackGenerator() === "function" &&
      typeof HTMLVideoElement !== "undefined" &&
      "requestVideoFrameCallback" in HTMLVideoElement.prototype;
  }

  constructor(slot: HTMLElement) {
    super();
    const Generator = trackGenerator()!;
    this.#generator = new Generator({ kind: "video" });
    this.#writer = this.#generator.writable.getWriter();
    const video = document.createElement("video");
    video.muted = true;
    video.autoplay = true;
    video.playsInline = true;
    video.setAttribute("style", FILL_STYLE);
    video.srcObject = new MediaStream([this.#generator]);
    this.element = video;
    slot.append(video);
    const onFrame = (_now: number, meta: VideoFrameCallbackMetadata) => {
      if (this.closed) return;
      const timestamp = Math.round(meta.mediaTime * 1_000_000);
      const capture = this.#captures.get(timestamp);
      // Frames the compositor skipped are never presented: forget them too.
      for (const key of this.#captures.keys()) {
        if (key > timestamp) break;
        this.#captures.delete(key);
      }
      const shownAt = performance.timeOrigin + meta.expectedDisplayTime;
      this.shown(capture, shownAt);
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }

  render(frame: VideoFrame, captureMs: number | null): void {
    if (this.closed || this.#writing > 2) {
      frame.close(); // closed, or the track is not keeping up: drop rather than queue
      return;
    }
    if (captureMs !== null) {
      this.#captures.set(frame.timestamp, captureMs);
      if (this.#captures.size > 30) this.#captures.delete(this.#captures.keys().next().value!);
    }
    this.#writing++;
    // write() takes the frame and closes it.
    this.#writer.write(frame).catch(() => frame.close()).finally(() => this.#writing--);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.#writer.close().catch(() => {});
    this.#generator.stop();
    this.element.srcObject = null;
    this.element.remove();
    this.#captures.clear();
  }
}

/**
 * Draws frames into a `<canvas>` with `drawImage` (any browser with WebCodecs).
 *
 * @example
 * ```ts
 * function draw(slot: HTMLElement, frame: VideoFrame, captureMs: number) {
 *   new CanvasVideoRenderer(slot).render(frame, captureMs);
 * }
 * ```
 */
export class CanvasVideoRenderer extends RendererBase implements VideoRenderer {
  readonly element: HTMLCanvasElement;
  readonly #context: CanvasRenderingContext2D | null;

  constructor(slot: HTMLElement) {
    super();
    const canvas = document.createElement("canvas");
    canvas.setAttribute("style", FILL_STYLE);
    this.element = canvas;
    this.#context = canvas.getContext("2d", { alpha: false, desynchronized: true });
    slot.append(canvas);
  }

  render(frame: VideoFrame, captureMs: number | null): void {
    try {
      if (this.closed || !this.#context) return;
      const { displayWidth: width, displayHeight: height } = frame;
      if (this.element.width !== width || this.element.height !== height) {
        this.element.width = width;
        this.element.height = height;
      }
      this.#context.drawImage(frame, 0, 0, width, height);
      this.shown(captureMs, wallClock());
    } finally {
      frame.close();
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.element.remove();
  }
}

/**
 * The best renderer this browser has, placed in `slot`.
 *
 * @example
 * ```ts
 * function firstSlot() {
 *   const renderer = createVideoRenderer(document.querySelector("[data-video-slot]")!);
 *   return renderer;
 * }
 * ```
 */
export function createVideoRenderer(slot: HTMLElement): VideoRenderer {
  return TrackVideoRenderer.supported()
    ? new TrackVideoRenderer(slot)
    : new CanvasVideoRenderer(slot);
}
