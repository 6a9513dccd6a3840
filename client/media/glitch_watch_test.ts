import assert from "node:assert/strict";
import { GlitchWatch } from "./glitch_watch.ts";

Deno.test("GlitchWatch: three glitches within 10 s are too many", () => {
  const watch = new GlitchWatch({ graceMs: 0 });
  assert.equal(watch.observe(0, 0), false);
  assert.equal(watch.observe(1, 1000), false);
  assert.equal(watch.observe(2, 5000), false);
  assert.equal(watch.observe(3, 9000), true);
});

Deno.test("GlitchWatch: glitches spread wider than the window are tolerated", () => {
  const watch = new GlitchWatch({ graceMs: 0 });
  watch.observe(0, 0);
  for (let n = 1; n <= 20; n++) {
    assert.equal(watch.observe(n, n * 5001), false, `glitch ${n}`);
  }
});

Deno.test("GlitchWatch: a burst seen in one reading counts in full", () => {
  const watch = new GlitchWatch({ graceMs: 0 });
  watch.observe(0, 0);
  assert.equal(watch.observe(2, 250), false);
  assert.equal(watch.observe(5, 500), true);
});

Deno.test("GlitchWatch: what happened before the first reading is the baseline", () => {
  const watch = new GlitchWatch({ graceMs: 0 });
  assert.equal(watch.observe(40, 0), false);
  assert.equal(watch.observe(41, 250), false);
  assert.equal(watch.observe(42, 500), false);
  assert.equal(watch.observe(43, 750), true);
});

Deno.test("GlitchWatch: glitches while the page starts are not counted", () => {
  const watch = new GlitchWatch();
  assert.equal(watch.observe(0, 0), false);
  assert.equal(watch.observe(16, 3000), false, "16 glitches in the first 5 s");
  assert.equal(watch.observe(16, 5000), false);
  assert.equal(watch.observe(18, 6000), false);
  assert.equal(watch.observe(19, 7000), true, "three more after it");
});
