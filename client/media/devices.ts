/**
 * The local devices: listing cameras, microphones and speakers, opening the chosen camera and
 * microphone with the constraints the engine wants, saying in plain words why a device could
 * not be opened, and remembering whether the person wants each on and which one
 * (localStorage, so that turning the camera off before joining holds for the next meeting
 * too).
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
 * Opens one track: on `deviceId` exactly when given (a browser may pass over a merely
 * "ideal" one), else, or when that device is gone, the browser's default.
 */
async function openTrack(
  kind: "audio" | "video",
  constraints: MediaTrackConstraints,
  deviceId?: string,
): Promise<MediaStreamTrack> {
  const open = async (c: MediaTrackConstraints) =>
    (await mediaDevices().getUserMedia({ [kind]: c })).getTracks()[0];
  if (!deviceId) return await open(constraints);
  try {
    return await open({ ...constraints, deviceId: { exact: deviceId } });
  } catch (err) {
    const name = (err as { name?: string } | null)?.name;
    if (name !== "OverconstrainedError" && name !== "NotFoundError") throw err;
    return await open(constraints);
  }
}

/**
 * Opens the camera (640x360 at 30 fps when it can): `deviceId` when it is there, else the
 * default one. Rejects with the browser's error.
 *
 * @example
 * ```ts
 * async function camera() {
 *   const track = await openCamera();
 *   console.log(track.getSettings().width); // 640
 * }
 * ```
 */
export function openCamera(deviceId?: string): Promise<MediaStreamTrack> {
  return openTrack("video", CAMERA_CONSTRAINTS, deviceId);
}

/**
 * A shared screen's capture: text stays sharp at up to 1920x1080, and a slide or a page
 * changes seldom, so at most 10 frames a second (a tenth of a core less than 30 to encode).
 */
export const SCREEN_CONSTRAINTS: MediaTrackConstraints = {
  width: { max: 1920 },
  height: { max: 1080 },
  frameRate: { max: 10 },
};

/**
 * Asks the person which screen, window or tab to share (the browser's own picker) and opens
 * it, video only, for text (`contentHint: "detail"`). Rejects with the browser's error: a
 * `NotAllowedError` when the person cancelled the picker.
 *
 * @example
 * ```ts
 * async function share() {
 *   const track = await openScreen();
 *   track.addEventListener("ended", () => console.log("stopped from the browser's bar"));
 * }
 * ```
 */
export async function openScreen(): Promise<MediaStreamTrack> {
  const stream = await navigator.mediaDevices.getDisplayMedia({
    video: SCREEN_CONSTRAINTS,
    audio: false,
  });
  const [track] = stream.getVideoTracks();
  track.contentHint = "detail";
  return track;
}

/**
 * Opens the microphone with voice processing: `deviceId` when it is there, else the default
 * one. Rejects with the browser's error.
 *
 * @example
 * ```ts
 * async function microphone() {
 *   const track = await openMicrophone();
 *   return track;
 * }
 * ```
 */
export function openMicrophone(deviceId?: string): Promise<MediaStreamTrack> {
  return openTrack("audio", MICROPHONE_CONSTRAINTS, deviceId);
}

/**
 * One device a person can pick.
 *
 * @example
 * ```ts
 * const choice: DeviceOption = { id: "default", label: "Default microphone" };
 * ```
 */
export interface DeviceOption {
  id: string;
  label: string;
}

/**
 * The devices of each kind. `named` is false while the browser hides their names (no
 * permission given yet): the lists may then be empty or unnamed.
 *
 * @example
 * ```ts
 * const none: DeviceList = { cameras: [], microphones: [], speakers: [], named: false };
 * ```
 */
export interface DeviceList {
  cameras: DeviceOption[];
  microphones: DeviceOption[];
  speakers: DeviceOption[];
  named: boolean;
}

/** At most this many devices of a kind are listed. */
export const MAX_DEVICES = 32;

/**
 * Sorts what `enumerateDevices()` reports into cameras, microphones and speakers, naming
 * unnamed ones by kind and number (the browser may list one device twice: kept once).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const list = deviceList([
 *   { kind: "videoinput", deviceId: "c1", label: "" },
 *   { kind: "audioinput", deviceId: "default", label: "Default" },
 * ]);
 * assert.deepEqual(list.cameras, [{ id: "c1", label: "Camera 1" }]);
 * assert.equal(list.named, true);
 * ```
 */
export function deviceList(
  infos: readonly Pick<MediaDeviceInfo, "kind" | "deviceId" | "label">[],
): DeviceList {
  const list: DeviceList = { cameras: [], microphones: [], speakers: [], named: false };
  const of = { videoinput: list.cameras, audioinput: list.microphones, audiooutput: list.speakers };
  const word = { videoinput: "Camera", audioinput: "Microphone", audiooutput: "Speaker" };
  for (const info of infos) {
    const into = of[info.kind];
    if (!into || !info.deviceId || into.length >= MAX_DEVICES) continue;
    if (into.some((d) => d.id === info.deviceId)) continue;
    if (info.label) list.named = true;
    into.push({ id: info.deviceId, label: info.label || `${word[info.kind]} ${into.length + 1}` });
  }
  return list;
}

/**
 * The devices there are now ({@linkcode deviceList}); empty lists where the browser has none
 * to show. Captures nothing.
 *
 * @example
 * ```ts
 * async function cameras() {
 *   return (await listDevices()).cameras.map((c) => c.label);
 * }
 * ```
 */
export async function listDevices(): Promise<DeviceList> {
  try {
    return deviceList(await mediaDevices().enumerateDevices());
  } catch {
    return deviceList([]);
  }
}

/**
 * Whether this browser can play the meeting on a chosen speaker (`AudioContext.setSinkId`).
 *
 * @example
 * ```ts
 * if (!canChooseSpeaker()) console.log("the system's default output plays the meeting");
 * ```
 */
export function canChooseSpeaker(): boolean {
  return typeof AudioContext === "function" && "setSinkId" in AudioContext.prototype;
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
 * Which camera, microphone and speaker the person chose (absent: the browser's default).
 *
 * @example
 * ```ts
 * const choice: DeviceChoice = { microphoneId: "default" };
 * ```
 */
export interface DeviceChoice {
  cameraId?: string;
  microphoneId?: string;
  speakerId?: string;
}

/**
 * Whether the person wants the microphone and the camera on, and on which devices.
 *
 * @example
 * ```ts
 * const prefs: MediaPreferences = { mic: true, camera: false };
 * ```
 */
export interface MediaPreferences extends DeviceChoice {
  mic: boolean;
  camera: boolean;
  /** Whether a short sound plays when someone joins or leaves (default: on). */
  sounds?: boolean;
}

/** Device ids longer than this are not remembered (browsers' are 64 hex digits). */
export const MAX_DEVICE_ID = 256;

const CHOICE_KEYS = ["cameraId", "microphoneId", "speakerId"] as const;

/** The device ids of `value` that look like device ids; nothing else. */
function choiceOf(value: Record<string, unknown>): DeviceChoice {
  const choice: DeviceChoice = {};
  for (const key of CHOICE_KEYS) {
    const id = value[key];
    if (typeof id === "string" && id.length > 0 && id.length <= MAX_DEVICE_ID) choice[key] = id;
  }
  return choice;
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
 * The remembered choice; both on, on the default devices, when nothing was remembered.
 *
 * @example
 * ```ts
 * const { mic, camera } = loadMediaPreferences();
 * ```
 */
export function loadMediaPreferences(): MediaPreferences {
  try {
    const saved = JSON.parse(storage()?.getItem(PREFS_KEY) ?? "{}");
    if (typeof saved !== "object" || saved === null) throw new TypeError("not an object");
    return {
      mic: saved.mic !== false,
      camera: saved.camera !== false,
      sounds: saved.sounds !== false,
      ...choiceOf(saved),
    };
  } catch {
    return { mic: true, camera: true, sounds: true };
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
  storage()?.setItem(
    PREFS_KEY,
    JSON.stringify({
      mic: prefs.mic,
      camera: prefs.camera,
      sounds: prefs.sounds !== false,
      ...choiceOf({ ...prefs }),
    }),
  );
}
