/**
 * Formatting of media figures for people: bitrates, milliseconds, percentages.
 *
 * @example
 * ```ts
 * formatBitrate(812_000); // "812 kb/s"
 * formatMs(41.6); // "42 ms"
 * ```
 * @module
 */

/**
 * A bitrate in kb/s or Mb/s.
 *
 * @example
 * ```ts
 * formatBitrate(1_450_000); // "1.45 Mb/s"
 * ```
 */
export function formatBitrate(bitsPerSecond: number): string {
  if (bitsPerSecond >= 1_000_000) return `${(bitsPerSecond / 1_000_000).toFixed(2)} Mb/s`;
  return `${Math.round(bitsPerSecond / 1000)} kb/s`;
}

/**
 * Milliseconds, rounded; "–" for null.
 *
 * @example
 * ```ts
 * formatMs(null); // "–"
 * ```
 */
export function formatMs(ms: number | null | undefined): string {
  return ms === null || ms === undefined || !Number.isFinite(ms) ? "–" : `${Math.round(ms)} ms`;
}

/**
 * A percentage with one decimal.
 *
 * @example
 * ```ts
 * formatPercent(0.25); // "0.3 %"
 * ```
 */
export function formatPercent(value: number): string {
  return `${value.toFixed(1)} %`;
}
