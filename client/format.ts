/**
 * Small display helpers shared by islands.
 *
 * @example
 * ```ts
 * clockTime(Date.UTC(2026, 0, 1, 9, 5)); // "09:05" in a UTC time zone
 * initials("Ann Lee");                   // "AL"
 * ```
 * @module
 */

/** Local wall-clock time, hours and minutes, 24 h. */
export function clockTime(ms: number): string {
  const d = new Date(ms);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

/** "just now", "5 min ago", "2 h ago". */
export function age(ms: number, now = Date.now()): string {
  const minutes = Math.floor((now - ms) / 60_000);
  if (minutes < 1) return "just now";
  if (minutes < 60) return `${minutes} min ago`;
  return `${Math.floor(minutes / 60)} h ago`;
}

/** Up to two initials for an avatar. */
export function initials(name: string): string {
  const words = name.trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? [words[0], words[words.length - 1]] : words;
  return letters.map((w) => [...w][0] ?? "").join("").toUpperCase() || "?";
}
