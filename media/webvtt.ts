/**
 * A recording's chat as WebVTT subtitles: one cue per line, "Name: text", from the time it
 * was sent, shown for {@linkcode CUE_MS} (or until the recording ends). Text is escaped, never
 * markup: `<b>` shows as `<b>`. Pure.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const vtt = chatWebVtt([{ atMs: 1500, name: "Ann", text: "hi <all>" }], 10_000);
 * assert.equal(vtt, "WEBVTT\n\n00:00:01.500 --> 00:00:06.500\nAnn: hi &lt;all&gt;\n\n");
 * ```
 * @module
 */

/** One chat line, `atMs` after the recording began. */
export interface ChatCue {
  atMs: number;
  name: string;
  text: string;
}

/** How long a chat line shows, ms. */
export const CUE_MS = 5000;
/** Longest cue text kept (a chat line is at most 2,000 characters). */
const MAX_CUE_TEXT = 2000;

/**
 * A time as WebVTT writes it: `hh:mm:ss.ttt`.
 *
 * @example
 * ```ts
 * vttTime(3_723_004); // "01:02:03.004"
 * ```
 */
export function vttTime(ms: number): string {
  const t = Math.max(0, Math.round(ms));
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${pad(Math.floor(t / 3_600_000))}:${pad(Math.floor(t / 60_000) % 60)}:${
    pad(Math.floor(t / 1000) % 60)
  }.${pad(t % 1000, 3)}`;
}

/**
 * Text made safe for a cue: markup characters escaped, and no blank line (which would end
 * the cue) or `-->` (which would read as a timing line).
 *
 * @example
 * ```ts
 * cueText("a\n\nb --> c & d"); // "a\nb --&gt; c &amp; d"
 * ```
 */
export function cueText(text: string): string {
  return text.slice(0, MAX_CUE_TEXT)
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/\r\n?/g, "\n")
    .replace(/\n\s*\n+/g, "\n")
    .trim();
}

/**
 * The WebVTT file of a recording's chat, cues in time order, none past `endMs` (cues outside
 * the recording are left out).
 *
 * @example
 * ```ts
 * chatWebVtt([], 1000); // "WEBVTT\n\n"
 * ```
 */
export function chatWebVtt(cues: readonly ChatCue[], endMs: number): string {
  const lines = ["WEBVTT", ""];
  const sorted = [...cues].filter((c) => c.atMs >= 0 && c.atMs < endMs)
    .sort((a, b) => a.atMs - b.atMs);
  for (const cue of sorted) {
    const text = cueText(`${cue.name}: ${cue.text}`);
    if (!text) continue;
    lines.push(`${vttTime(cue.atMs)} --> ${vttTime(Math.min(endMs, cue.atMs + CUE_MS))}`, text, "");
  }
  return lines.join("\n") + "\n";
}
