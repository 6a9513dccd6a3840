import assert from "node:assert/strict";
import { configureLog, log } from "./log.ts";

Deno.test("log: one JSON object per line with time, level and event; secrets never written; levels filter; text keeps the message", () => {
  const lines: [string, string][] = [];
  configureLog({
    format: "json",
    level: "info",
    write: (line, level) => lines.push([line, level]),
  });
  try {
    log.debug("noise", "not written");
    log.info("meeting_created", "a meeting was created", {
      meetingId: "abc",
      token: "s3cret",
      mediaKey: "k3y",
      authorization: "Bearer x",
      passcode: "1234",
    });
    log.error("request_failed", "request failed", { error: new Error("boom") });
    assert.equal(lines.length, 2);
    const first = JSON.parse(lines[0][0]);
    assert.equal(first.level, "info");
    assert.equal(first.event, "meeting_created");
    assert.equal(first.msg, "a meeting was created");
    assert.equal(first.meetingId, "abc");
    assert.ok(!Number.isNaN(Date.parse(first.time)));
    for (const key of ["token", "mediaKey", "authorization", "passcode"]) {
      assert.equal(first[key], "[redacted]", key);
    }
    assert.ok(!lines[0][0].includes("s3cret") && !lines[0][0].includes("k3y"));
    const second = JSON.parse(lines[1][0]);
    assert.equal(second.error.message, "boom");
    assert.equal(lines[1][1], "error");
    configureLog({ format: "text" });
    log.info("listening", "Meet is running", { port: 8000 });
    log.warn("data_dir_open", "others can enter the data dir");
    assert.equal(lines[2][0], "Meet is running port=8000");
    assert.equal(lines[3][0], "warn: others can enter the data dir");
  } finally {
    configureLog({ format: "text", level: "info", write: undefined });
  }
});
