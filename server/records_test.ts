import assert from "node:assert/strict";
import { MeetingRegistry } from "../meeting/registry.ts";
import { ManualClock } from "../util/clock.ts";
import { MAX_HISTORY_ROWS, Records } from "./records.ts";

Deno.test("Records.history: the newest MAX_HISTORY_ROWS chat lines, in order, and says so", () => {
  const clock = new ManualClock(1_700_000_000_000);
  const records = Records.open(":memory:", { clock });
  const registry = new MeetingRegistry({ clock, idleTimeoutMs: 60_000, graceMs: 30_000 });
  records.attach(registry);
  const meeting = registry.create({ title: "long", creatorSessionId: "s1", creatorName: "Ann" });
  const { participant } = meeting.join("s1", "Ann");
  const lines = MAX_HISTORY_ROWS + 50;
  for (let i = 0; i < lines; i++) meeting.sendChat(participant.id, `line ${i}`);

  const history = records.history(meeting.id)!;
  assert.equal(history.chat.length, MAX_HISTORY_ROWS);
  assert.equal(history.chat[0].text, "line 50");
  assert.equal(history.chat.at(-1)!.text, `line ${lines - 1}`);
  assert.deepEqual(history.truncated, { events: false, chat: true });
  assert.deepEqual(history.events.map((e) => e.type), ["created", "joined"]);

  const short = records.history(meeting.id, 10)!;
  assert.deepEqual(
    short.chat.map((c) => c.text),
    [...Array(10)].map((_, i) => `line ${lines - 10 + i}`),
  );

  const whole = records.history(meeting.id, lines)!;
  assert.equal(whole.chat.length, lines);
  assert.deepEqual(whole.truncated, { events: false, chat: false });
  registry.close?.();
  records.close();
});
