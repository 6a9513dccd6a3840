/**
 * A VP8 keyframe of a black 640x360 picture (424 bytes), what a recording shows before anyone's
 * camera is on. Made once with libvpx:
 * `ffmpeg -f lavfi -i color=black:s=640x360:r=1 -frames:v 1 -c:v libvpx -b:v 50k black.ivf`.
 *
 * @example
 * ```ts
 * import { vp8FrameInfo } from "./vp8.ts";
 *
 * vp8FrameInfo(blackKeyframe()); // { keyframe: true, width: 640, height: 360 }
 * ```
 * @module
 */

const BLACK_640X360 =
  "UDMAnQEqgAJoAQnHCIWFiJmEiDUCAAYWBPcGgWSfa9ubJzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7Jzh7JzeA/uvUgA==";

/** A copy of the black keyframe. */
export function blackKeyframe(): Uint8Array {
  return Uint8Array.from(atob(BLACK_640X360), (c) => c.charCodeAt(0));
}
