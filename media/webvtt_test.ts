import assert from "node:assert/strict";
import { chatWebVtt, cueText, vttTime } from "./webvtt.ts";

Deno.test("chatWebVtt: cues in order within the recording, text escaped, never markup or a broken cue", () => {
  const vtt = chatWebVtt([
    { atMs: 4000, name: "Bob", text: "second" },
    { atMs: 1000, name: "Ann <b>", text: "first\n\n--> <i>x</i> &" },
    { atMs: -5, name: "Cy", text: "before" },
    { atMs: 9000, name: "Cy", text: "after" },
    { atMs: 7000, name: "Dee", text: "   " },
  ], 8000);
  assert.equal(
    vtt,
    "WEBVTT\n\n" +
      "00:00:01.000 --> 00:00:06.000\nAnn &lt;b&gt;: first\n--&gt; &lt;i&gt;x&lt;/i&gt; &amp;\n\n" +
      "00:00:04.000 --> 00:00:08.000\nBob: second\n\n" +
      "00:00:07.000 --> 00:00:08.000\nDee:\n\n",
  );
  assert.equal(vttTime(0), "00:00:00.000");
  assert.equal(vttTime(36_000_000), "10:00:00.000");
  assert.equal(cueText("x".repeat(5000)).length, 2000);
});
