import assert from "node:assert/strict";
import { formatBitrate, formatMs, formatPercent } from "./format.ts";

Deno.test("format: bitrates, milliseconds, percentages", () => {
  assert.equal(formatBitrate(812_000), "812 kb/s");
  assert.equal(formatBitrate(1_450_000), "1.45 Mb/s");
  assert.equal(formatMs(41.6), "42 ms");
  assert.equal(formatMs(null), "–");
  assert.equal(formatMs(Infinity), "–");
  assert.equal(formatPercent(0.25), "0.3 %");
});
