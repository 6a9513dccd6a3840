import assert from "node:assert/strict";
import { MeetingError } from "../meeting/errors.ts";
import { ManualClock } from "../util/clock.ts";
import { AccessLimits, DEFAULT_ACCESS_LIMITS } from "./limits.ts";

const limitedFor = (fn: () => void): number | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    assert.ok(err instanceof MeetingError && err.code === "rate_limited", String(err));
    return err.retryAfterMs;
  }
};

Deno.test("access limits: wrong passcodes per meeting, checked before judging, refilled in time", () => {
  const clock = new ManualClock(0);
  const limits = new AccessLimits({}, clock);
  const { burst } = DEFAULT_ACCESS_LIMITS.passcodeGuessesPerMeeting;
  for (let i = 0; i < burst; i++) {
    assert.equal(limitedFor(() => limits.checkPasscode("m1", `10.0.0.${i}`)), undefined);
    limits.wrongPasscode("m1", `10.0.0.${i}`);
  }
  assert.equal(limitedFor(() => limits.checkPasscode("m1", "10.0.1.1")), 12_000);
  assert.equal(limitedFor(() => limits.checkPasscode("m2", "10.0.1.1")), undefined);
  clock.advance(12_000);
  assert.equal(limitedFor(() => limits.checkPasscode("m1", "10.0.1.1")), undefined);
  limits.meetingClosed("m1");
});

Deno.test("access limits: wrong passcodes per address across meetings; an IPv6 /64 is one address", () => {
  const clock = new ManualClock(0);
  const limits = new AccessLimits({}, clock);
  const { burst } = DEFAULT_ACCESS_LIMITS.passcodeGuessesPerAddress;
  for (let i = 0; i < burst; i++) limits.wrongPasscode(`m${i}`, `2001:db8:0:1::${i + 1}`);
  assert.equal(limitedFor(() => limits.checkPasscode("fresh", "2001:db8:0:1:ffff::9")), 6_000);
  assert.equal(limitedFor(() => limits.checkPasscode("fresh", "2001:db8:0:2::1")), undefined);
});

Deno.test("access limits: creates and sessions per address, with the wait told", () => {
  const clock = new ManualClock(0);
  const limits = new AccessLimits({ sessions: { burst: 2, ratePerSecond: 1 } }, clock);
  let made = 0;
  for (let i = 0; i < 30; i++) {
    if (limitedFor(() => limits.takeCreate("198.51.100.1")) === undefined) made++;
  }
  assert.equal(made, DEFAULT_ACCESS_LIMITS.creates.burst);
  assert.equal(limitedFor(() => limits.takeCreate("198.51.100.1")), 3_000);
  assert.equal(limitedFor(() => limits.takeCreate("198.51.100.2")), undefined);
  limits.takeSession("a");
  limits.takeSession("a");
  assert.equal(limitedFor(() => limits.takeSession("a")), 1_000);
  clock.advance(1_000);
  assert.equal(limitedFor(() => limits.takeSession("a")), undefined);
});
