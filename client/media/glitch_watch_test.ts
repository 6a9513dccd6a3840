import assert from "node:assert/strict";
import { GlitchWatch } from "./glitch_watch.ts";

Deno.test("GlitchWatch: glitches in three separate seconds within 10 s are too many", () => {
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

Deno.test("GlitchWatch: a burst within a second counts once", () => {
  const watch = new GlitchWatch({ graceMs: 0 });
  watch.observe(0, 0);
  assert.equal(watch.observe(5, 250), false);
  assert.equal(watch.observe(12, 500), false);
  assert.equal(watch.observe(16, 1000), false);
  assert.equal(watch.observe(16, 5000), false);
  assert.equal(watch.observe(17, 6000), false);
  assert.equal(watch.observe(18, 7000), true, "a third glitchy second");
});

Deno.test("GlitchWatch: an output that keeps glitching is caught within 3 s", () => {
  const watch = new GlitchWatch({ graceMs: 0 });
  watch.observe(0, 0);
  let at = 0;
  for (let n = 1; !watch.observe(n * 40, n * 250); n++) at = n * 250;
  assert.ok(at <= 2000, `caught after ${at} ms`);
});

Deno.test("GlitchWatch: what happened before the first reading is the baseline", () => {
  const watch = new GlitchWatch({ graceMs: 0 });
  assert.equal(watch.observe(40, 0), false);
  assert.equal(watch.observe(41, 1000), false);
  assert.equal(watch.observe(42, 2000), false);
  assert.equal(watch.observe(43, 3000), true);
});

Deno.test("GlitchWatch: glitches while the page starts are not counted", () => {
  const watch = new GlitchWatch();
  assert.equal(watch.observe(0, 0), false);
  assert.equal(watch.observe(16, 3000), false, "16 glitches in the first 5 s");
  assert.equal(watch.observe(16, 5000), false);
  assert.equal(watch.observe(18, 6000), false);
  assert.equal(watch.observe(19, 7000), false);
  assert.equal(watch.observe(20, 8000), true, "three glitchy seconds after it");
});
