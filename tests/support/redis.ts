/**
 * A real `redis-server` for tests: its own free port on 127.0.0.1, its own directory, no
 * persistence, ended by its PID. `restart()` stops it and starts a new one on the same port
 * (empty, as a Redis restarted without persistence is).
 *
 * @example
 * ```ts ignore
 * await using redis = await startRedis();
 * console.log(redis.url); // redis://127.0.0.1:PORT
 * ```
 * @module
 */

import { waitFor } from "./wait.ts";

/** A running redis-server. */
export interface TestRedis extends AsyncDisposable {
  url: string;
  port: number;
  /** Stops it (SIGKILL); `start()` brings it back on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** A TCP port that was free a moment ago. */
function freeTcpPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function answersPing(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await conn.write(new TextEncoder().encode("PING\r\n"));
      const buffer = new Uint8Array(64);
      const n = await conn.read(buffer);
      return n !== null && new TextDecoder().decode(buffer.subarray(0, n)).startsWith("+PONG");
    } finally {
      conn.close();
    }
  } catch {
    return false;
  }
}

/** Starts redis-server on a free port; resolves once it answers PING. */
export async function startRedis(): Promise<TestRedis> {
  const port = freeTcpPort();
  const dir = await Deno.makeTempDir({ prefix: "meet-redis-" });
  let child: Deno.ChildProcess | undefined;
  const start = async () => {
    child = new Deno.Command("redis-server", {
      args: [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        dir,
        "--protected-mode",
        "no",
        "--loglevel",
        "warning",
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    await waitFor(() => answersPing(port), { what: `redis-server on port ${port}` });
  };
  const stop = async () => {
    const running = child;
    child = undefined;
    if (!running) return;
    try {
      running.kill("SIGKILL");
    } catch { /* already gone */ }
    await running.status;
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop,
    start,
    async [Symbol.asyncDispose]() {
      await stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
