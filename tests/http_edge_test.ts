/**
 * The HTTP edge under attack, over real sockets: paths that try to leave static/, Host names
 * of a DNS rebinding page, oversized WebSocket messages, clients that stop reading, too many
 * connections from one address, requests whose headers never end, cross-site form posts, and
 * the data dir's file modes.
 *
 * Two client addresses on one machine: 127.0.0.1 and 127.0.0.2 are both loopback on Linux.
 *
 * @module
 */

import assert from "node:assert/strict";
import net from "node:net";
import { join } from "node:path";
import WebSocket from "ws";
import { connect, testClient, testServer } from "./support/server.ts";
import { waitFor } from "./support/wait.ts";
import { configureLog } from "../util/log.ts";

/** Sends raw bytes on a new TCP connection; resolves with what came back when it closed or `untilText` appeared. */
function rawHttp(
  port: number,
  request: string,
  { localAddress, untilText = "\r\n\r\n" }: { localAddress?: string; untilText?: string } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port, localAddress });
    let got = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer to ${request.split("\r\n")[0]}: ${got}`));
    }, 5000);
    socket.on("data", (d: Uint8Array) => {
      got += new TextDecoder().decode(d);
      if (got.includes(untilText)) {
        clearTimeout(timer);
        socket.destroy();
        resolve(got);
      }
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(got);
    });
    socket.on("error", () => {});
    socket.write(request);
  });
}

/** `promise`, or a rejection naming `what` after `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

const statusOf = (answer: string) => Number(answer.split(" ")[1]);

function upgradeRequest(host: string, origin?: string): string {
  return `GET /ws HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n` +
    (origin ? `Origin: ${origin}\r\n` : "") + "\r\n";
}

/** Opens a WebSocket; resolves "open", `http <status>` or "error". */
function attempt(url: string, options: Record<string, unknown> = {}): Promise<string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, options);
    ws.on("open", () => {
      resolve("open");
    });
    ws.on("unexpected-response", (_req: unknown, res: { statusCode: number }) => {
      resolve(`http ${res.statusCode}`);
      ws.terminate();
    });
    ws.on("error", () => resolve("error"));
    ws.on("close", () => resolve("error"));
    opened.push(ws);
  });
}
const opened: WebSocket[] = [];
function closeOpened() {
  for (const ws of opened.splice(0)) ws.terminate();
}

Deno.test("static files: no request path reaches a file outside the static folder", async () => {
  const outside = await Deno.makeTempDir({ prefix: "meet-outside-" });
  const staticDir = await Deno.makeTempDir({ prefix: "meet-static-" });
  try {
    await Deno.writeTextFile(join(outside, "secret.json"), '{"secret":true}');
    await Deno.mkdir(join(staticDir, "worklets"));
    await Deno.writeTextFile(join(staticDir, "worklets", "ok.js"), "export {};");
    await Deno.writeTextFile(join(staticDir, "inside.txt"), "inside");
    await Deno.symlink(join(outside, "secret.json"), join(staticDir, "worklets", "link.json"));
    await Deno.symlink(outside, join(staticDir, "linkdir"));
    await Deno.symlink(join(staticDir, "inside.txt"), join(staticDir, "alias.txt"));
    await using server = await testServer({ staticDir });
    const secret = join(outside, "secret.json");
    const tries = [
      `/${secret}`,
      `//${secret.slice(1)}`,
      `/%2F${secret.slice(1)}`,
      `/%2f${secret.slice(1).replaceAll("/", "%2f")}`,
      `/worklets/..%2F..%2F..${secret}`,
      `/worklets/%2e%2e/%2e%2e/%2e%2e${secret}`,
      `/..\\..\\..${secret.replaceAll("/", "\\")}`,
      `/worklets\\..\\..${secret}`,
      "/worklets/link.json",
      "/linkdir/secret.json",
    ];
    for (const path of tries) {
      const answer = await rawHttp(
        server.port,
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nConnection: close\r\n\r\n`,
        { untilText: "\u0000never" },
      );
      assert.ok(!answer.includes('"secret"'), `${path} served the secret: ${answer}`);
      assert.ok([400, 404].includes(statusOf(answer)), `${path}: ${answer.split("\r\n")[0]}`);
    }
    const ok = await fetch(`${server.url}worklets/ok.js`);
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get("content-type"), "text/javascript; charset=utf-8");
    assert.equal(await ok.text(), "export {};");
    assert.equal(await (await fetch(`${server.url}alias.txt`)).text(), "inside");
  } finally {
    await Deno.remove(outside, { recursive: true });
    await Deno.remove(staticDir, { recursive: true });
  }
});

Deno.test("static files: the real static folder is served with its content types", async () => {
  await using server = await testServer();
  const res = await fetch(`${server.url}worklets/capture.js`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/javascript; charset=utf-8");
  assert.ok((await res.text()).length > 100);
  const head = await fetch(`${server.url}favicon.svg`, { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("content-type"), "image/svg+xml");
  assert.equal(await head.text(), "");
  const test = await fetch(`${server.url}worklets/level_meter_test.ts`);
  assert.equal(test.status, 404);
  await test.body?.cancel();
});

Deno.test("host names: a DNS rebinding page's Host is refused on pages, REST and the WebSocket", async () => {
  await using server = await testServer({ allowHosts: ["meet.example.org"] });
  const get = (path: string, host: string) =>
    rawHttp(server.port, `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`, {
      untilText: "\u0000never",
    });
  const evil = `evil.example:${server.port}`;
  for (const path of ["/", "/api/meetings", "/worklets/capture.js"]) {
    const answer = await get(path, evil);
    assert.equal(statusOf(answer), 421, `${path}: ${answer.split("\r\n")[0]}`);
    assert.match(answer, /"bad_host"/);
  }
  assert.equal(statusOf(await rawHttp(server.port, upgradeRequest(evil))), 421);
  assert.equal(
    statusOf(await rawHttp(server.port, upgradeRequest(evil, `http://${evil}`))),
    421,
  );
  // The server's own names, any IP address, and an --allow-host name are answered.
  for (const host of ["localhost", "127.0.0.1", "[::1]", "meet.example.org", "10.1.2.3"]) {
    assert.equal(statusOf(await get("/api/meetings", `${host}:${server.port}`)), 200, host);
  }
  assert.equal(
    statusOf(await rawHttp(server.port, upgradeRequest(`localhost:${server.port}`))),
    101,
  );
  assert.equal(
    statusOf(
      await rawHttp(
        server.port,
        upgradeRequest(`localhost:${server.port}`, `http://evil.example:${server.port}`),
      ),
    ),
    403,
  );
  assert.equal(
    statusOf(
      await rawHttp(
        server.port,
        upgradeRequest(`meet.example.org`, `https://meet.example.org`),
      ),
    ),
    101,
  );
  assert.ok(server.counters.badHost >= 5);
});

Deno.test("REST writes: a cross-site form's text/plain POST creates nothing; other origins may not write", async () => {
  await using server = await testServer();
  const res = await fetch(`${server.url}api/meetings`, {
    method: "POST",
    headers: { "content-type": "text/plain" },
    body: JSON.stringify({ title: "Form", name: "Eve" }),
  });
  assert.equal(res.status, 415);
  assert.equal((await res.json()).error.code, "unsupported_media_type");
  const form = await fetch(`${server.url}api/meetings`, {
    method: "POST",
    body: new URLSearchParams({ title: "Form", name: "Eve" }),
  });
  assert.equal(form.status, 415);
  await form.body?.cancel();
  const cross = await fetch(`${server.url}api/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: "http://evil.example" },
    body: JSON.stringify({ title: "Cross", name: "Eve" }),
  });
  assert.equal(cross.status, 403);
  assert.equal((await cross.json()).error.code, "bad_origin");
  assert.equal(server.hub.registry.size, 0);
  const own = await fetch(`${server.url}api/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json; charset=utf-8", origin: server.url.slice(0, -1) },
    body: JSON.stringify({ title: "Own", name: "Ann" }),
  });
  assert.equal(own.status, 201);
  await own.body?.cancel();
});

Deno.test("WebSocket: a message over 64 KiB closes the connection unread; the server carries on", async () => {
  await using server = await testServer();
  const ws = new WebSocket(server.wsUrl);
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  const closed = new Promise<number>((resolve) => ws.once("close", resolve));
  ws.on("error", () => {});
  ws.send(new Uint8Array(10 * 1024 * 1024));
  assert.equal(await within(closed, 5000, "the close after 10 MiB"), 1009);
  assert.equal(server.counters.oversizedMessages, 1);
  const text = new WebSocket(server.wsUrl);
  text.on("error", () => {});
  await new Promise((resolve) => text.once("open", resolve));
  const textClosed = new Promise<number>((resolve) => text.once("close", resolve));
  text.send("x".repeat(64 * 1024 + 1));
  assert.equal(await within(textClosed, 5000, "the close after 64 KiB + 1"), 1009);
  const ann = await testClient(server, "Ann");
  assert.ok((await ann.request({ type: "ping" })).now > 0);
  ann.close();
});

Deno.test("WebSocket: a client that stops reading is dropped, not buffered without bound", async () => {
  await using server = await testServer();
  const bob = await testClient(server, "Bob");
  const { meeting } = await bob.request({ type: "create", title: "Slow" });
  // Ann joins on a raw socket, then stops reading.
  const ann = new WebSocket(server.wsUrl);
  const replies = new Map<number, { result?: { participantId?: string } }>();
  ann.on("message", (data: unknown) => {
    const msg = JSON.parse(String(data));
    if (msg.type === "reply") replies.set(msg.id, msg);
  });
  ann.on("error", () => {});
  await new Promise((resolve) => ann.once("open", resolve));
  const annClosed = new Promise<void>((resolve) => ann.once("close", () => resolve()));
  ann.send(JSON.stringify({ id: 1, type: "identify", name: "Ann" }));
  ann.send(JSON.stringify({ id: 2, type: "join", meetingId: meeting.id }));
  const joined = await waitFor(() => replies.get(2), { what: "Ann's join" });
  const annId = joined.result!.participantId!;
  (ann as unknown as { _socket: net.Socket })._socket.pause();
  // Bob sends Ann 60 KB signals, as fast as his rate limit lets him, until the server drops her.
  const data = "s".repeat(60_000);
  const annSeat = () => server.hub.registry.get(meeting.id)!.participant(annId)!;
  const deadline = Date.now() + 15_000;
  let sent = 0;
  while (annSeat().connected && Date.now() < deadline) {
    const batch = [];
    for (let i = 0; i < 20; i++) {
      batch.push(
        bob.request({ type: "signal", to: annId, data }).then(() => sent++, () => {}),
      );
    }
    await Promise.all(batch);
  }
  assert.equal(annSeat().connected, false, `Ann still connected after ${sent} signals`);
  assert.equal(server.counters.sendQueueOverflows, 1);
  (ann as unknown as { _socket: net.Socket })._socket.resume();
  await within(annClosed, 5000, "Ann's socket to close");
  // Ann's seat is held for the grace period as after any drop; Bob carries on.
  assert.ok((await bob.request({ type: "ping" })).now > 0);
  bob.close();
});

Deno.test("connections: capped per client address and in total; another address still gets in", async () => {
  await using server = await testServer({ maxConnectionsPerAddress: 3, maxConnections: 5 });
  for (let i = 0; i < 3; i++) assert.equal(await attempt(server.wsUrl), "open");
  assert.equal(await attempt(server.wsUrl), "error");
  assert.equal(await attempt(server.wsUrl, { localAddress: "127.0.0.2" }), "open");
  assert.equal(await attempt(server.wsUrl, { localAddress: "127.0.0.2" }), "open");
  assert.equal(await attempt(server.wsUrl, { localAddress: "127.0.0.3" }), "error"); // total
  assert.equal(server.counters.connectionsRefused, 2);
  closeOpened();
  await waitFor(() => server.connections.total === 0, { what: "connections closed" });
  const again = await connect(server); // freed
  again.close();
});

Deno.test("header timeout: requests whose headers never end are closed; others are served meanwhile", async () => {
  const timeoutMs = 1000;
  await using server = await testServer({ headerTimeoutMs: timeoutMs });
  const started = Date.now();
  const closedAt: number[] = [];
  const sockets: net.Socket[] = [];
  for (let i = 0; i < 50; i++) {
    const socket = net.connect({ host: "127.0.0.1", port: server.port });
    socket.on("error", () => {});
    socket.on("close", () => closedAt.push(Date.now() - started));
    socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\n`);
    sockets.push(socket);
  }
  const page = await fetch(server.url);
  assert.equal(page.status, 200);
  await page.body?.cancel();
  try {
    await waitFor(() => closedAt.length === 50, { what: "50 half-sent requests closed" });
  } finally {
    for (const s of sockets) s.destroy();
  }
  assert.ok(Math.max(...closedAt) < timeoutMs + 2000, `closed after ${Math.max(...closedAt)} ms`);
  assert.ok(server.counters.headerTimeouts >= 50);
  // A body that never ends is closed too.
  const slowBody = await rawHttp(
    server.port,
    `POST /api/meetings HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n` +
      `content-length: 100\r\n\r\n{"ti`,
    { untilText: "\u0000never" },
  );
  assert.equal(slowBody, "");
  assert.equal(server.hub.registry.size, 0);
});

Deno.test("data dir: created 0700, the database 0600; an open existing dir gets a warning", async () => {
  const parent = await Deno.makeTempDir({ prefix: "meet-modes-" });
  try {
    const dataDir = join(parent, "data");
    {
      await using server = await testServer({ dataDir });
      const created = await testClient(server, "Ann");
      await created.request({ type: "create", title: "Modes" });
      created.close();
      assert.equal((await Deno.stat(dataDir)).mode! & 0o777, 0o700);
      for (const name of ["meet.db", "meet.db-wal", "meet.db-shm"]) {
        const stat = await Deno.stat(join(dataDir, name)).catch(() => undefined);
        if (name === "meet.db") assert.ok(stat, "meet.db exists");
        if (stat) assert.equal(stat.mode! & 0o777, 0o600, name);
      }
    }
    await Deno.chmod(dataDir, 0o755);
    await Deno.chmod(join(dataDir, "meet.db"), 0o644);
    const warnings: string[] = [];
    configureLog({ write: (line, level) => level === "warn" && warnings.push(line) });
    try {
      await using _server = await testServer({ dataDir });
    } finally {
      configureLog({ write: undefined });
    }
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /accessible to other users.*chmod 700/);
    assert.equal((await Deno.stat(join(dataDir, "meet.db"))).mode! & 0o777, 0o600);
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});
