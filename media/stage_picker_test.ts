import assert from "node:assert/strict";
import { SPEAKER_SWITCH_MS, type StageLevel, StagePicker } from "./stage_picker.ts";

const person = (id: string, video = true, screen = false) => ({ id, video, screen });
const speaks = (id: string, level = -20): StageLevel => ({ id, level, speaking: true });

Deno.test("StagePicker: the active speaker with a camera, switched after a moment; a screen first; the last picture held", () => {
  const picker = new StagePicker();
  const people = [person("ann"), person("bob"), person("cy", false)];
  // Nobody speaks: the first with a camera.
  assert.deepEqual(picker.update(0, people, []), { participantId: "ann", source: "camera" });
  // Bob speaks: shown only after SPEAKER_SWITCH_MS.
  assert.equal(picker.update(100, people, [speaks("bob")])?.participantId, "ann");
  assert.equal(
    picker.update(100 + SPEAKER_SWITCH_MS - 1, people, [speaks("bob")])?.participantId,
    "ann",
  );
  assert.equal(
    picker.update(100 + SPEAKER_SWITCH_MS, people, [speaks("bob")])?.participantId,
    "bob",
  );
  // Cy speaks louder but has no camera: Bob stays.
  assert.equal(
    picker.update(5000, people, [speaks("cy", -5), speaks("bob", -30)])?.participantId,
    "bob",
  );
  // A short interruption by Ann does not cut away.
  picker.update(6000, people, [speaks("ann")]);
  assert.equal(picker.update(6500, people, [speaks("bob")])?.participantId, "bob");
  assert.equal(picker.update(7000, people, [speaks("ann")])?.participantId, "bob");
  // Ann shares her screen: it is shown at once, whoever speaks.
  const sharing = [person("ann", true, true), person("bob"), person("cy", false)];
  assert.deepEqual(picker.update(8000, sharing, [speaks("bob")]), {
    participantId: "ann",
    source: "screen",
  });
  // Bob shares too: the newest share.
  const both = [person("ann", true, true), person("bob", true, true), person("cy", false)];
  assert.deepEqual(picker.update(9000, both, []), { participantId: "bob", source: "screen" });
  assert.deepEqual(picker.update(9500, sharing, []), { participantId: "ann", source: "screen" });
  // Shares end, Bob's camera goes off while he is shown: at once to someone with a camera.
  const bobOff = [person("ann"), person("bob", false), person("cy", false)];
  picker.update(10_000, [person("ann"), person("bob"), person("cy", false)], [speaks("bob")]);
  assert.equal(
    picker.update(10_000 + SPEAKER_SWITCH_MS, [person("ann"), person("bob"), person("cy", false)], [
      speaks("bob"),
    ])?.participantId,
    "bob",
  );
  assert.equal(picker.update(12_000, bobOff, [speaks("bob")])?.participantId, "ann");
  // Every camera off: the last picture is held.
  const dark = [person("ann", false), person("bob", false)];
  assert.deepEqual(picker.update(13_000, dark, []), { participantId: "ann", source: "camera" });
});
