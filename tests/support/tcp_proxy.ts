/**
 * A TCP proxy on 127.0.0.1 that a test can cut: every connection through it is closed at once,
 * as a dropped network would, while the server behind it keeps running.
 *
 * @example
 * ```ts
 * import type { Browser } from "playwright-core";
 *
 * async function dropOnce(browser: Browser, serverPort: number) {
 *   await using proxy = await tcpProxy(serverPort);
 *   const page = await browser.newPage();
 *   await page.goto(`http://127.0.0.1:${proxy.port}/`);
 *   proxy.cut(); // the page's WebSocket drops; it reconnects through the proxy
 * }
 * ```
 * @module
 */

/** A running proxy. */
export interface TcpProxy extends AsyncDisposable {
  /** The port clients connect to. */
  readonly port: number;
  /** Connections cut so far. */
  readonly cuts: number;
  /** Closes every open connection (both sides); new ones are accepted as before. */
  cut(): void;
  /** While refusing, new connections are closed as soon as they arrive. */
  refuse(on: boolean): void;
}

/** Starts a proxy to `127.0.0.1:targetPort` on a free port. */
export function tcpProxy(targetPort: number): Promise<TcpProxy> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  let refusing = false;
  let cuts = 0;

  const closeQuietly = (conn: Deno.Conn) => {
    open.delete(conn);
    try {
      conn.close();
    } catch { /* already closed */ }
  };

  const pipe = async (from: Deno.Conn, to: Deno.Conn) => {
    try {
      await from.readable.pipeTo(to.writable, { preventClose: false });
    } catch { /* cut or closed */ }
    closeQuietly(from);
    closeQuietly(to);
  };

  const accepting = (async () => {
    for await (const client of listener) {
      if (refusing) {
        closeQuietly(client);
        continue;
      }
      let upstream: Deno.Conn;
      try {
        upstream = await Deno.connect({ hostname: "127.0.0.1", port: targetPort });
      } catch {
        closeQuietly(client);
        continue;
      }
      open.add(client);
      open.add(upstream);
      pipe(client, upstream);
      pipe(upstream, client);
    }
  })().catch(() => {/* listener closed */});

  return Promise.resolve({
    port: (listener.addr as Deno.NetAddr).port,
    get cuts() {
      return cuts;
    },
    cut() {
      cuts += open.size;
      for (const conn of [...open]) closeQuietly(conn);
    },
    refuse(on: boolean) {
      refusing = on;
    },
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of [...open]) closeQuietly(conn);
      await accepting;
    },
  });
}
