import assert from "node:assert/strict";
import { ManualClock } from "../util/clock.ts";
import { HANDOFF_TTL_MS, MAX_HANDOFFS, SessionStore } from "./sessions.ts";

Deno.test("sessions: a handoff code gives its session once, within its time, and is not the token", () => {
  const clock = new ManualClock(0);
  const sessions = new SessionStore({ clock });
  const ann = sessions.create("Ann");
  const code = sessions.handoff(ann);
  assert.notEqual(code, ann.token);
  assert.equal(sessions.claim(code), ann);
  assert.equal(sessions.claim(code), undefined, "once");
  const late = sessions.handoff(ann);
  clock.advance(HANDOFF_TTL_MS);
  assert.equal(sessions.claim(late), undefined, "lapsed");
  assert.equal(sessions.claim(42), undefined);
  assert.equal(sessions.claim("x".repeat(22)), undefined);
});

Deno.test("sessions: outstanding handoff codes are bounded (the oldest go)", () => {
  const sessions = new SessionStore({ clock: new ManualClock(0) });
  const ann = sessions.create("Ann");
  const first = sessions.handoff(ann);
  for (let i = 0; i < MAX_HANDOFFS; i++) sessions.handoff(ann);
  assert.equal(sessions.claim(first), undefined);
});
