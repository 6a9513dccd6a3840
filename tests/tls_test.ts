/**
 * TLS: HTTPS and WSS with a certificate, and --self-signed as a user runs it.
 */

import assert from "node:assert/strict";
import WebSocket from "ws";
import { fingerprintOf, selfSignedCertificate } from "../server/tls.ts";
import { testServer } from "./support/server.ts";
import { waitFor } from "./support/wait.ts";

Deno.test("tls: HTTPS and WSS with a self-signed certificate that a client trusts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "meet-tls-" });
  try {
    const tls = await selfSignedCertificate(dir, ["localhost", "127.0.0.1"]);
    assert.match(tls.fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    // Made once, reused while valid for the same names.
    assert.equal(
      (await selfSignedCertificate(dir, ["127.0.0.1", "localhost"])).fingerprint,
      tls.fingerprint,
    );
    assert.notEqual((await selfSignedCertificate(dir, ["localhost"])).fingerprint, tls.fingerprint);
    const fresh = await selfSignedCertificate(dir, ["localhost", "127.0.0.1"]);
    await using server = await testServer({ tls: fresh });
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+\/$/);
    const client = Deno.createHttpClient({ caCerts: [fresh.cert] });
    const res = await fetch(`${server.url}api/meetings`, { client });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), []);
    // Without trusting the certificate, the connection is refused.
    await assert.rejects(fetch(`${server.url}api/meetings`));
    // WSS on the same port.
    const ws = new WebSocket(server.url.replace("https", "wss") + "ws", { ca: fresh.cert });
    const replies: string[] = [];
    ws.on("message", (d: unknown) => replies.push(String(d)));
    await new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    });
    ws.send(JSON.stringify({ id: 1, type: "identify", name: "Ann" }));
    await waitFor(() => replies.length === 1, { what: "identify over WSS" });
    assert.equal(JSON.parse(replies[0]).result.name, "Ann");
    ws.close();
    client.close();
    assert.equal(await fingerprintOf(fresh.cert), fresh.fingerprint);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tls: main.ts --self-signed serves HTTPS and prints the certificate's fingerprint", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "meet-tls-main-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../main.ts", import.meta.url).pathname,
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--udp-port",
      "0",
      "--data-dir",
      dataDir,
      "--self-signed",
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let printed = "";
  try {
    await waitFor(async () => {
      printed += (await reader.read()).value ?? "";
      return /SHA-256 [0-9A-F:]{95}/.test(printed) && /https:\/\/127\.0\.0\.1:\d+\//.test(printed);
    }, { what: "the https address and fingerprint", timeoutMs: 30_000 });
    const url = /https:\/\/127\.0\.0\.1:\d+\//.exec(printed)![0];
    const cert = await Deno.readTextFile(`${dataDir}/tls/self-signed.crt`);
    assert.ok(printed.includes(await fingerprintOf(cert)));
    const client = Deno.createHttpClient({ caCerts: [cert] });
    const res = await fetch(url, { client });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /data-island="Lobby"/);
    client.close();
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await reader.cancel();
    await child.stderr.cancel();
    await Deno.remove(dataDir, { recursive: true });
  }
});
