/**
 * Test servers and test clients: a real server on a free port with its own data dir, and
 * real WebSocket clients (npm:ws) speaking the control protocol.
 *
 * @example
 * ```ts
 * await using server = await testServer();
 * const ann = await testClient(server, "Ann");
 * ```
 * @module
 */

import WebSocket from "ws";
import { ControlClient, type WebSocketLike } from "../../client/control_client.ts";
import type { MeetingSummary } from "../../meeting/meeting.ts";
import type { ServerMessage } from "../../protocol/control.ts";
import { type RunningServer, type ServerOptions, startServer } from "../../server/server.ts";
import { waitFor } from "./wait.ts";

/** A running server that removes its data dir when disposed. */
export interface TestServer extends RunningServer {
  dataDir: string;
  wsUrl: string;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts a server on 127.0.0.1, a free port, and a fresh temporary data dir. */
export async function testServer(options: ServerOptions = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? await Deno.makeTempDir({ prefix: "meet-test-" });
  const server = await startServer({
    hostname: "127.0.0.1",
    port: 0,
    udpPort: 0,
    ...options,
    dataDir,
  });
  return {
    ...server,
    dataDir,
    wsUrl: server.url.replace("http", "ws") + "ws",
    async [Symbol.asyncDispose]() {
      await server.close();
      if (!options.dataDir) await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    },
  };
}

/** A control client that records every event it receives. */
export interface TestClient extends ControlClient {
  events: ServerMessage[];
  token: string;
  name: string;
  /** Events of one type, in arrival order. */
  eventsOf<T extends ServerMessage["type"]>(type: T): Extract<ServerMessage, { type: T }>[];
}

/** Connects with npm:ws and waits for the socket to open (no reconnects). */
export async function connect(server: { wsUrl: string }): Promise<TestClient> {
  const client = new ControlClient(server.wsUrl, {
    WebSocket: WebSocket as unknown as new (url: string) => WebSocketLike,
    reconnect: false,
  }) as TestClient;
  client.events = [];
  for (
    const type of [
      "meetings",
      "roster",
      "chat",
      "removed",
      "levels",
      "mix_timing",
      "mode",
      "signal",
      "peer",
    ] as const
  ) {
    client.on(type, (e: ServerMessage) => client.events.push(e));
  }
  client.eventsOf = (type) =>
    client.events.filter((e) => e.type === type) as Extract<ServerMessage, { type: typeof type }>[];
  await client.opened();
  return client;
}

/** Connects and identifies as `name`. */
export async function testClient(server: { wsUrl: string }, name: string): Promise<TestClient> {
  const client = await connect(server);
  const r = await client.request({ type: "identify", name });
  client.token = r.token;
  client.name = r.name;
  return client;
}

/** Sends raw text on a fresh socket and collects what comes back until `count` messages. */
export async function rawExchange(
  server: { wsUrl: string },
  frames: (string | Uint8Array)[],
  count: number,
): Promise<ServerMessage[]> {
  const ws = new WebSocket(server.wsUrl);
  const got: ServerMessage[] = [];
  ws.on("message", (data: unknown) => got.push(JSON.parse(String(data))));
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  for (const f of frames) ws.send(f);
  try {
    await waitFor(() => got.length >= count, { what: `${count} replies`, timeoutMs: 5000 });
  } finally {
    ws.close();
  }
  return got;
}

/**
 * Creates a meeting over REST, as a script would (`POST /api/meetings`): its summary and the
 * creator's token. The creator holds no seat: the first one in holds the host role.
 *
 * @example
 * ```ts ignore
 * const { id, token } = await createMeeting(server, "Weekly", "Organiser");
 * ```
 */
export async function createMeeting(
  server: { url: string },
  title: string,
  name = "Organiser",
): Promise<MeetingSummary & { token: string }> {
  const response = await fetch(`${server.url}api/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ title, name }),
  });
  if (response.status !== 201) {
    throw new Error(`POST /api/meetings: ${response.status} ${await response.text()}`);
  }
  return await response.json();
}
