import assert from "node:assert/strict";
import { describeMediaError, loadMediaPreferences, saveMediaPreferences } from "./devices.ts";

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
  assert.deepEqual(loadMediaPreferences(), { mic: true, camera: true });
  saveMediaPreferences({ mic: true, camera: false });
  assert.deepEqual(loadMediaPreferences(), { mic: true, camera: false });
  localStorage.setItem("meet.media", "not json");
  assert.deepEqual(loadMediaPreferences(), { mic: true, camera: true });
  localStorage.removeItem("meet.media");
});
