import assert from "node:assert/strict";
import type { ParticipantInfo } from "../meeting/participant.ts";
import { featuredParticipant, gridColumns, sharedScreen } from "./ParticipantGrid.tsx";

Deno.test("featuredParticipant: pinned, else the last heard but yourself, else the first other", () => {
  const people = [{ id: "me" }, { id: "b" }, { id: "c" }] as ParticipantInfo[];
  assert.equal(featuredParticipant(people, "me", "c", "b"), "c");
  assert.equal(featuredParticipant(people, "me", "gone", "c"), "c", "a pin on someone who left");
  assert.equal(featuredParticipant(people, "me", null, "me"), "b");
  assert.equal(featuredParticipant(people, "me", null, null), "b");
  assert.equal(featuredParticipant([{ id: "me" }] as ParticipantInfo[], "me", null, null), "me");
  assert.equal(featuredParticipant([], "me", null, null), null);
});

Deno.test("gridColumns: every tile fits for 1 to 25 people", () => {
  assert.deepEqual([1, 2, 4, 5, 9, 10, 25].map(gridColumns), [1, 2, 2, 3, 3, 4, 4]);
});

Deno.test("sharedScreen: a pinned sharer, else the newest other sharer, else your own share, else none", () => {
  const people = [
    { id: "me", screen: false },
    { id: "b", screen: true },
    { id: "c", screen: true },
    { id: "d", screen: false },
  ] as ParticipantInfo[];
  assert.equal(sharedScreen(people, "me", null, false), "c");
  assert.equal(sharedScreen(people, "me", "b", false), "b");
  assert.equal(sharedScreen(people, "me", "d", true), "c", "a pin on someone not sharing");
  assert.equal(sharedScreen(people, "me", "me", true), "me", "your own, pinned");
  // The roster may not say yet that you share: your page knows.
  const alone = [{ id: "me", screen: false }, { id: "d", screen: false }] as ParticipantInfo[];
  assert.equal(sharedScreen(alone, "me", null, true), "me");
  assert.equal(sharedScreen(alone, "me", null, false), null);
  assert.equal(sharedScreen(alone, null, null, true), null);
});
