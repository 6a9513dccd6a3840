/**
 * The server as a user runs it: `main.ts` in its own process.
 */

import assert from "node:assert/strict";
import { waitFor } from "./support/wait.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

function run(args: string[]) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
  });
}

async function output(args: string[]) {
  const { code, stdout, stderr } = await run(args).output();
  const dec = new TextDecoder();
  return { code, stdout: dec.decode(stdout), stderr: dec.decode(stderr) };
}

Deno.test("--help prints the flags; a bad flag is a one-line error naming it", async () => {
  const help = await output(["--help"]);
  assert.equal(help.code, 0);
  for (const flag of ["--host", "--port", "--udp-port", "--data-dir"]) {
    assert.ok(help.stdout.includes(flag), flag);
  }
  const bad = await output(["--port", "http"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr.split("\n")[0], /^error: --port must be a port number/);
  const unknown = await output(["--colour"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr.split("\n")[0], /^error: .*--colour/);
  const io = await output(["--udp-io", "fast"]);
  assert.equal(io.code, 2);
  assert.match(io.stderr.split("\n")[0], /^error: --udp-io must be auto, batched or deno/);
});

Deno.test("starts, prints its address, refuses a taken port in one line, drains on SIGTERM and stops on a second", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "meet-main-" });
  const child = run([
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--udp-port",
    "0",
    "--data-dir",
    dataDir,
  ]).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let printed = "";
  const url = await waitFor(async () => {
    const { value } = await reader.read();
    printed += value ?? "";
    return /http:\/\/127\.0\.0\.1:(\d+)\//.exec(printed)?.[0];
  }, { what: "the address line", timeoutMs: 30_000 });
  const port = Number(new URL(url).port);
  const created = await (await fetch(`${url}api/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ title: "Live", name: "Ann" }),
  })).json();

  const taken = await output([
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    "--data-dir",
    dataDir,
  ]);
  assert.equal(taken.code, 1);
  assert.equal(taken.stderr.trim().split("\n").length, 1, taken.stderr);
  assert.match(taken.stderr, new RegExp(`--port ${port} is already in use`));
  // The failed second start left the running server's records alone.
  const history = await (await fetch(`${url}api/meetings/${created.id}/history`)).json();
  assert.equal(history.meeting.endedAt, null);

  // SIGTERM drains: the live meeting goes on, new ones are refused, /readyz says so; a
  // second SIGTERM stops it at once.
  child.kill("SIGTERM");
  const ready = await waitFor(async () => {
    const r = await fetch(`${url}readyz`);
    const body = await r.json();
    return r.status === 503 ? body : null;
  }, { what: "/readyz to say it drains" });
  assert.deepEqual(ready, { ready: false, draining: true, meetings: 1 });
  const refused = await fetch(`${url}api/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ title: "Late", name: "Ann" }),
  });
  assert.equal(refused.status, 503);
  assert.equal((await refused.json()).error.code, "draining");
  const still = await fetch(`${url}api/meetings/${created.id}`);
  assert.equal(still.status, 200);
  await still.body?.cancel();
  child.kill("SIGTERM");
  const status = await child.status;
  assert.equal(status.code, 0);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    printed += value;
  }
  assert.match(printed, /Stopped\./);
  await child.stderr.cancel();
  await Deno.remove(dataDir, { recursive: true });
});
