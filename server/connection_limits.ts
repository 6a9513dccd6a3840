/**
 * Caps on open TCP connections (pages, REST, WebSockets): per client address and in total, so
 * that one address cannot use up the server's sockets and memory.
 *
 * @example
 * ```ts
 * const limits = new ConnectionLimits({ perAddress: 2, total: 10 });
 * limits.tryOpen("192.0.2.1"); // true
 * limits.close("192.0.2.1");
 * ```
 * @module
 */

/** Default of `--max-connections-per-address`: 30 browsers (each a WebSocket and a few HTTP connections) and reconnects. */
export const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 256;
/** Default of `--max-connections`: all open TCP connections together. */
export const DEFAULT_MAX_CONNECTIONS = 4096;

/** The caps. */
export interface ConnectionCaps {
  perAddress: number;
  total: number;
}

/** IPv4-mapped IPv6 (`::ffff:127.0.0.1`) as plain IPv4; other addresses as they are. */
export function normalizeAddress(address: string | undefined): string {
  if (!address) return "unknown";
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  return mapped ? mapped[1] : address.toLowerCase();
}

/** Counts open connections by address. */
export class ConnectionLimits {
  #byAddress = new Map<string, number>();
  #total = 0;

  constructor(readonly caps: ConnectionCaps) {}

  /** Counts a new connection, or returns false (and counts nothing) if a cap is reached. */
  tryOpen(address: string): boolean {
    const n = this.#byAddress.get(address) ?? 0;
    if (n >= this.caps.perAddress || this.#total >= this.caps.total) return false;
    this.#byAddress.set(address, n + 1);
    this.#total++;
    return true;
  }

  /** A counted connection ended. */
  close(address: string): void {
    const n = this.#byAddress.get(address);
    if (n === undefined) return;
    if (n <= 1) this.#byAddress.delete(address);
    else this.#byAddress.set(address, n - 1);
    this.#total--;
  }

  /** Open connections in total. */
  get total(): number {
    return this.#total;
  }

  /** Open connections from one address. */
  of(address: string): number {
    return this.#byAddress.get(address) ?? 0;
  }
}
