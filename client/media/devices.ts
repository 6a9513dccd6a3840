/**
 * The local devices: opening the camera and the microphone with the constraints the
 * engine wants, saying in plain words why a device could not be opened, and remembering
 * whether the person wants each on (localStorage, so that turning the camera off before
 * joining holds for the next meeting too).
 *
 * @example
 * ```ts
 * async function startCamera(showNotice: (text: string) => void) {
 *   const prefs = loadMediaPreferences(); // { mic: true, camera: true } by default
 *   try {
 *     const track = await openCamera();
 *   } catch (err) {
 *     showNotice(describeMediaError(err, "camera"));
 *   }
 *   saveMediaPreferences({ ...prefs, camera: false });
 * }
 * ```
 * @module
 */

/** Which device. */
export type DeviceKind = "camera" | "microphone";

/** Capture size and rate the engine encodes. */
export const CAMERA_CONSTRAINTS: MediaTrackConstraints = {
  width: { ideal: 640 },
  height: { ideal: 360 },
  frameRate: { ideal: 30 },
};

/** Voice processing on: echo cancellation matters most with speakers. */
export const MICROPHONE_CONSTRAINTS: MediaTrackConstraints = {
  echoCancellation: true,
  noiseSuppression: true,
  autoGainControl: true,
  channelCount: 1,
};

function mediaDevices(): MediaDevices {
  const devices = globalThis.navigator?.mediaDevices;
  if (!devices?.getUserMedia) {
    throw new DOMException("getUserMedia is unavailable", "NotSupportedError");
  }
  return devices;
}

/**
 * Opens the camera (640x360 at 30 fps when it can). Rejects with the browser's error.
 *
 * @example
 * ```ts
 * async function camera() {
 *   const track = await openCamera();
 *   console.log(track.getSettings().width); // 640
 * }
 * ```
 */
export async function openCamera(): Promise<MediaStreamTrack> {
  const stream = await mediaDevices().getUserMedia({ video: CAMERA_CONSTRAINTS });
  return stream.getVideoTracks()[0];
}

/**
 * Opens the microphone with voice processing. Rejects with the browser's error.
 *
 * @example
 * ```ts
 * async function microphone() {
 *   const track = await openMicrophone();
 *   return track;
 * }
 * ```
 */
export async function openMicrophone(): Promise<MediaStreamTrack> {
  const stream = await mediaDevices().getUserMedia({ audio: MICROPHONE_CONSTRAINTS });
  return stream.getAudioTracks()[0];
}

/**
 * A sentence telling the person why a device could not be used.
 *
 * @example
 * ```ts
 * describeMediaError(new DOMException("", "NotAllowedError"), "camera");
 * // "Camera blocked: allow it in the browser's site settings, then turn it on again."
 * ```
 */
export function describeMediaError(err: unknown, kind: DeviceKind): string {
  const Device = kind === "camera" ? "Camera" : "Microphone";
  const device = kind;
  const name = (err as { name?: string } | null)?.name ?? "";
  switch (name) {
    case "NotAllowedError":
    case "SecurityError":
      return `${Device} blocked: allow it in the browser's site settings, then turn it on again.`;
    case "NotFoundError":
    case "OverconstrainedError":
      return `No ${device} found.`;
    case "NotReadableError":
    case "AbortError":
      return `The ${device} is in use by another application, or failed to start.`;
    case "NotSupportedError":
      return `This browser cannot use the ${device} here (it needs a secure https:// page).`;
    default:
      return `The ${device} could not be used: ${(err as Error)?.message ?? String(err)}`;
  }
}

/**
 * Whether the person wants the microphone and the camera on.
 *
 * @example
 * ```ts
 * const prefs: MediaPreferences = { mic: true, camera: false };
 * ```
 */
export interface MediaPreferences {
  mic: boolean;
  camera: boolean;
}

const PREFS_KEY = "meet.media";

function storage(): Storage | undefined {
  try {
    return globalThis.localStorage;
  } catch {
    return undefined;
  }
}

/**
 * The remembered choice; both on when nothing was remembered.
 *
 * @example
 * ```ts
 * const { mic, camera } = loadMediaPreferences();
 * ```
 */
export function loadMediaPreferences(): MediaPreferences {
  try {
    const saved = JSON.parse(storage()?.getItem(PREFS_KEY) ?? "{}");
    return { mic: saved.mic !== false, camera: saved.camera !== false };
  } catch {
    return { mic: true, camera: true };
  }
}

/**
 * Remembers the choice for next time.
 *
 * @example
 * ```ts
 * function onMicOff() {
 *   saveMediaPreferences({ mic: false, camera: true });
 * }
 * ```
 */
export function saveMediaPreferences(prefs: MediaPreferences): void {
  storage()?.setItem(PREFS_KEY, JSON.stringify({ mic: prefs.mic, camera: prefs.camera }));
}
