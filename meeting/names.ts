/**
 * Display names and meeting titles: cleaned, bounded, unique within a meeting.
 *
 * @example
 * ```ts
 * normalizeName("  Ann   Lee ");              // "Ann Lee"
 * uniqueName("Ann", ["ann", "Ann (2)"]);      // "Ann (3)"
 * ```
 * @module
 */

import { MeetingError } from "./errors.ts";

/** Longest display name, in characters (code points). */
export const MAX_NAME_LENGTH = 40;
/** Longest meeting title, in characters (code points). */
export const MAX_TITLE_LENGTH = 80;

// Control characters, and the bidi overrides / zero-width marks that make names lie about themselves.
// deno-lint-ignore no-control-regex
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/g;

function clean(raw: unknown): string {
  if (typeof raw !== "string") return "";
  return raw.replace(INVISIBLE, "").replace(/\s+/g, " ").trim();
}

function lengthOf(text: string): number {
  return [...text].length;
}

/** Cleans `raw` and checks it has 1 to `max` characters, or throws `code`. */
function cleanWithin(
  raw: unknown,
  max: number,
  code: "invalid_name" | "invalid_title",
  what: string,
): string {
  const text = clean(raw);
  const length = lengthOf(text);
  if (length < 1 || length > max) {
    throw new MeetingError(code, `${what} must have 1 to ${max} characters (got ${length})`);
  }
  return text;
}

/** Returns the cleaned display name, or throws `invalid_name` unless it has 1-40 characters. */
export function normalizeName(raw: unknown): string {
  return cleanWithin(raw, MAX_NAME_LENGTH, "invalid_name", "a name");
}

/** Returns the cleaned title, or throws `invalid_title` unless it has 1-80 characters. */
export function normalizeTitle(raw: unknown): string {
  return cleanWithin(raw, MAX_TITLE_LENGTH, "invalid_title", "a title");
}

/** Longest meeting passcode, in characters. */
export const MAX_PASSCODE_LENGTH = 64;

/**
 * Checks an optional passcode: absent or empty means none; otherwise a string of at most
 * 64 characters, kept exactly as given.
 */
export function normalizePasscode(raw: unknown): string | null {
  if (raw === undefined || raw === null || raw === "") return null;
  if (typeof raw !== "string" || [...raw].length > MAX_PASSCODE_LENGTH) {
    throw new MeetingError(
      "bad_request",
      `a passcode must be a string of at most ${MAX_PASSCODE_LENGTH} characters`,
    );
  }
  return raw;
}

/**
 * Makes `name` unique among `taken` (compared without case) by adding " (2)", " (3)", ...
 * The result still fits in {@linkcode MAX_NAME_LENGTH}.
 */
export function uniqueName(name: string, taken: Iterable<string>): string {
  const used = new Set([...taken].map((n) => n.toLowerCase()));
  if (!used.has(name.toLowerCase())) return name;
  for (let n = 2;; n++) {
    const suffix = ` (${n})`;
    const base = [...name].slice(0, MAX_NAME_LENGTH - suffix.length).join("").trimEnd();
    const candidate = base + suffix;
    if (!used.has(candidate.toLowerCase())) return candidate;
  }
}
