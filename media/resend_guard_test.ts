import assert from "node:assert/strict";
import { RESEND_REPEAT_MS, ResendGuard } from "./resend_guard.ts";
import { PacketHistory } from "./packet_history.ts";

Deno.test("ResendGuard: a number is answered for the window only, wraps at 16 bits, and slots do not mix numbers", () => {
  const guard = new ResendGuard();
  guard.resent(65_535, 0);
  assert.equal(guard.answered(65_535, RESEND_REPEAT_MS - 1), true);
  assert.equal(guard.answered(-1, 1), true, "the same 16-bit number");
  assert.equal(guard.answered(65_535, RESEND_REPEAT_MS), false);
  // 7 and 7 + 256 share a slot: the later one takes it, the earlier is no longer answered.
  guard.resent(7, 0);
  guard.resent(7 + 256, 1);
  assert.equal(guard.answered(7 + 256, 2), true);
  assert.equal(guard.answered(7, 2), false);
});

Deno.test("PacketHistory: a NACK is answered once, its second copy not at all, a retry again", () => {
  const history = new PacketHistory();
  for (let seq = 10; seq < 20; seq++) history.put(seq, Uint8Array.of(seq));
  const sent: number[] = [];
  const send = (p: Uint8Array) => sent.push(p[0]);
  assert.equal(history.resend([12, 15, 40], send, 0), 2);
  assert.deepEqual(sent, [12, 15]);
  assert.equal(history.resend([12, 15], send, 8), 0, "the NACK's second copy");
  assert.equal(history.resend([15], send, 60), 1, "a retry: the resend was lost");
  assert.deepEqual(sent, [12, 15, 15]);
});
