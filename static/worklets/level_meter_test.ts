import assert from "node:assert/strict";
import { LevelMeter } from "./level_meter.js";

Deno.test("LevelMeter: RMS over the window, audible time in total", () => {
  const meter = new LevelMeter({ sampleRate: 48000, windowBlocks: 10 });
  assert.equal(meter.rms, 0);
  const loud = new Float32Array(128).fill(0.5);
  const quiet = new Float32Array(128);
  for (let i = 0; i < 10; i++) meter.add(loud);
  assert.ok(Math.abs(meter.rms - 0.5) < 1e-9);
  assert.ok(Math.abs(meter.audibleMs - (10 * 128) / 48) < 1e-9);
  for (let i = 0; i < 5; i++) meter.add(quiet);
  assert.ok(Math.abs(meter.rms - Math.sqrt(0.125)) < 1e-9, "half the window is silent");
  for (let i = 0; i < 10; i++) meter.add(quiet);
  assert.equal(meter.rms, 0, "loud blocks left the window");
  assert.ok(Math.abs(meter.audibleMs - (10 * 128) / 48) < 1e-9, "silence adds no audible time");
  assert.equal(meter.samples, 25 * 128);
});
