/**
 * Browser APIs the engine uses that TypeScript's DOM library does not declare yet
 * (Chromium has them): MediaStreamTrackProcessor, from "MediaStream Insertable Streams".
 *
 * @example
 * ```ts
 * function cameraFrames(cameraTrack: MediaStreamTrack) {
 *   if (!MediaStreamTrackProcessor) throw new Error("this browser cannot read camera frames");
 *   const processor = new MediaStreamTrackProcessor({ track: cameraTrack });
 *   const reader = processor.readable.getReader(); // yields VideoFrames
 *   return reader;
 * }
 * ```
 * @module
 */

/** Options of a {@linkcode MediaStreamTrackProcessor}. */
export interface MediaStreamTrackProcessorInit {
  track: MediaStreamTrack;
  /** Frames queued before the oldest is dropped (Chromium's default is small). */
  maxBufferSize?: number;
}

/** Turns a video track into a stream of VideoFrames (Chromium). */
export interface MediaStreamTrackProcessor {
  readonly readable: ReadableStream<VideoFrame>;
}

declare global {
  var MediaStreamTrackProcessor: {
    prototype: MediaStreamTrackProcessor;
    new (init: MediaStreamTrackProcessorInit): MediaStreamTrackProcessor;
  } | undefined;
}

/** True when the browser can capture and code media with WebCodecs. */
export function mediaSupport(): { video: boolean; audio: boolean } {
  const g = globalThis as Record<string, unknown>;
  return {
    video: typeof g.VideoEncoder === "function" && typeof g.VideoDecoder === "function" &&
      typeof g.MediaStreamTrackProcessor === "function",
    audio: typeof g.AudioEncoder === "function" && typeof g.AudioDecoder === "function" &&
      typeof g.AudioWorkletNode === "function",
  };
}
