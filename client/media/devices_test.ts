import assert from "node:assert/strict";
import {
  describeMediaError,
  deviceList,
  loadMediaPreferences,
  MAX_DEVICE_ID,
  MAX_DEVICES,
  saveMediaPreferences,
} from "./devices.ts";

Deno.test("describeMediaError: says why a device could not be used", () => {
  const err = (name: string) => new DOMException("x", name);
  assert.match(describeMediaError(err("NotAllowedError"), "camera"), /^Camera blocked/);
  assert.equal(describeMediaError(err("NotFoundError"), "microphone"), "No microphone found.");
  assert.match(describeMediaError(err("NotReadableError"), "camera"), /in use/);
  assert.match(describeMediaError(err("NotSupportedError"), "camera"), /https/);
  assert.match(describeMediaError(new Error("boom"), "microphone"), /boom/);
});

Deno.test("media preferences: on by default, remembered when turned off", () => {
  localStorage.removeItem("meet.media");
  assert.deepEqual(loadMediaPreferences(), { mic: true, camera: true, sounds: true });
  saveMediaPreferences({ mic: true, camera: false });
  assert.deepEqual(loadMediaPreferences(), { mic: true, camera: false, sounds: true });
  saveMediaPreferences({ mic: true, camera: false, sounds: false });
  assert.deepEqual(loadMediaPreferences(), { mic: true, camera: false, sounds: false });
  localStorage.setItem("meet.media", "not json");
  assert.deepEqual(loadMediaPreferences(), { mic: true, camera: true, sounds: true });
  localStorage.removeItem("meet.media");
});

Deno.test("media preferences: device choices are remembered; odd ones are not", () => {
  saveMediaPreferences({ mic: false, camera: true, cameraId: "cam2", speakerId: "out1" });
  assert.deepEqual(loadMediaPreferences(), {
    mic: false,
    camera: true,
    sounds: true,
    cameraId: "cam2",
    speakerId: "out1",
  });
  localStorage.setItem(
    "meet.media",
    JSON.stringify({ cameraId: 7, microphoneId: "x".repeat(MAX_DEVICE_ID + 1), speakerId: "" }),
  );
  assert.deepEqual(loadMediaPreferences(), { mic: true, camera: true, sounds: true });
  localStorage.setItem("meet.media", "null");
  assert.deepEqual(loadMediaPreferences(), { mic: true, camera: true, sounds: true });
  localStorage.removeItem("meet.media");
});

Deno.test("deviceList: sorted by kind, unnamed ones numbered, duplicates and excess dropped", () => {
  const list = deviceList([
    { kind: "audioinput", deviceId: "default", label: "" },
    { kind: "audioinput", deviceId: "default", label: "" },
    { kind: "audioinput", deviceId: "m2", label: "" },
    { kind: "audiooutput", deviceId: "", label: "" },
  ]);
  assert.deepEqual(list, {
    cameras: [],
    microphones: [{ id: "default", label: "Microphone 1" }, { id: "m2", label: "Microphone 2" }],
    speakers: [],
    named: false,
  });
  const many = Array.from({ length: MAX_DEVICES + 5 }, (_, i) => ({
    kind: "videoinput" as const,
    deviceId: `c${i}`,
    label: `Cam <b>${i}</b>`,
  }));
  const cameras = deviceList(many);
  assert.equal(cameras.cameras.length, MAX_DEVICES);
  assert.equal(cameras.cameras[0].label, "Cam <b>0</b>"); // shown as text by the page
  assert.equal(cameras.named, true);
});
