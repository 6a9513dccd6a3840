import assert from "node:assert/strict";
import { MAX_FILE_NAME, recordingFileBase, safeFileName } from "./receivers.ts";

Deno.test("safeFileName: no path, no hidden file, no device, bounded length", () => {
  assert.equal(safeFileName("Ann Lee/../x"), "Ann_Lee_.._x");
  assert.equal(safeFileName(".."), "_");
  assert.equal(safeFileName("../../etc/passwd"), "__.._etc_passwd");
  assert.equal(safeFileName("a\\b\0c"), "a_b_c");
  assert.equal(safeFileName("x".repeat(1000)).length, MAX_FILE_NAME);
  for (const device of ["CON", "nul", "Aux", "com1", "LPT9", "con.txt", "prn.ivf"]) {
    const safe = safeFileName(device);
    assert.ok(safe.startsWith("_"), `${device} -> ${safe}`);
  }
  assert.equal(safeFileName("console"), "console");
  assert.equal(safeFileName("Zoë"), "Zo_");
});

Deno.test("recordingFileBase: names that differ only by case get files of their own", () => {
  const used = new Set<string>();
  const bases = [
    recordingFileBase("Ann", 1, used),
    recordingFileBase("ann", 2, used),
    recordingFileBase("ANN", 3, used),
    recordingFileBase("ann-2", 4, used), // the suffix the second Ann got
    recordingFileBase("Ann/", 2, used), // "Ann_"
    recordingFileBase(undefined, 7, used),
    recordingFileBase("ssrc-7", 8, used),
    recordingFileBase("ann", 2, used), // same name and SSRC again
  ];
  const lower = bases.map((b) => b.toLowerCase());
  assert.equal(new Set(lower).size, bases.length, `one file each: ${bases}`);
  assert.equal(bases[0], "Ann");
  assert.equal(bases[5], "ssrc-7");
});
