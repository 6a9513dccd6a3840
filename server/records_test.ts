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

Deno.test("Records: a recording's start and stop in the history, who and why; its row from start to finished; the chat of a time span", () => {
  const clock = new ManualClock(1_700_000_000_000);
  const records = Records.open(":memory:", { clock });
  const registry = new MeetingRegistry({ clock, idleTimeoutMs: 60_000, graceMs: 30_000 });
  records.attach(registry);
  const meeting = registry.create({ title: "rec", creatorSessionId: "s1", creatorName: "Ann" });
  const { participant: ann } = meeting.join("s1", "Ann");
  const started = meeting.startRecording(ann.id, "r1", clock.now());
  records.recordingStarted({
    id: "r1",
    meetingId: meeting.id,
    startedAt: started.startedAt,
    startedBy: "Ann",
    owners: ["ab"],
  });
  clock.advance(1000);
  meeting.sendChat(ann.id, "during");
  clock.advance(1000);
  meeting.stopRecording(ann.id, "stopped");
  records.recordingStopped("r1", clock.now(), "Ann", "stopped");
  assert.equal(records.recording("r1")!.state, "finishing");
  records.recordingFinished("r1", "done", { bytes: 10, durationMs: 2000, switches: 1 });
  const row = records.recording("r1")!;
  assert.deepEqual(
    [row.state, row.bytes, row.durationMs, row.switches, row.stoppedBy, row.owners],
    ["done", 10, 2000, 1, "Ann", ["ab"]],
  );
  assert.deepEqual(records.unfinishedRecordings(), []);
  const events = records.history(meeting.id)!.events.filter((e) => e.type.startsWith("recording"));
  assert.deepEqual(events.map((e) => [e.type, e.name, e.detail]), [
    ["recording_started", "Ann", "r1"],
    ["recording_stopped", "Ann", "stopped"],
  ]);
  const chat = records.chatBetween(meeting.id, started.startedAt, clock.now());
  assert.deepEqual(chat.map((c) => c.text), ["during"]);
  registry.close?.();
  records.close();
});
