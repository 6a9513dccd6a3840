/**
 * Which host names the server answers to (against DNS rebinding), and which pages may open
 * its WebSocket or write through its REST API (against cross-site requests).
 *
 * DNS rebinding: a page from `http://evil.example:8000` whose name is made to resolve to this
 * server's address reaches it with `Host: evil.example:8000`, and its Origin matches that Host.
 * So every request's Host must name the server: one of its configured names (localhost, the
 * `--host` address, this machine's name, the certificate's names, `--allow-host` names), or an
 * IP address literal (a page can only have an IP address as its origin by being served from
 * that address, which makes it this server's own page: rebinding needs a name).
 *
 * @example
 * ```ts
 * const policy = new HostPolicy({ names: ["localhost", "meet.example.org"] });
 * policy.hostAllowed("meet.example.org:8000"); // true
 * policy.hostAllowed("evil.example:8000"); // false
 * policy.originAllowed("https://meet.example.org", "meet.example.org"); // true
 * ```
 * @module
 */

import { X509Certificate } from "node:crypto";

/** Options of {@linkcode HostPolicy}. */
export interface HostPolicyOptions {
  /** Host names (or addresses) the server answers to, without port. */
  names: Iterable<string>;
  /** Names a reverse proxy uses (`--allow-host`): answered to, and their pages are trusted. */
  allowHosts?: Iterable<string>;
  /** Extra origins (`https://meet.example.org`) whose pages may use the WebSocket and REST. */
  allowedOrigins?: Iterable<string>;
}

const HOST_RE = /^(\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9._-]{1,253})(?::(\d{1,5}))?$/;
const IPV4_RE = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

/** The lower-case host name of a `Host` header value (port and trailing dot removed), or undefined. */
export function hostNameOf(host: string): string | undefined {
  const match = HOST_RE.exec(host);
  if (!match) return undefined;
  return match[1].toLowerCase().replace(/\.$/, "");
}

/** The server's names and the origins it trusts; see the module doc. */
export class HostPolicy {
  #names: Set<string>;
  #allowHosts: Set<string>;
  #origins: Set<string>;

  constructor(options: HostPolicyOptions) {
    const clean = (n: string) => {
      const name = n.trim().toLowerCase().replace(/\.$/, "");
      return name.includes(":") && !name.startsWith("[") ? `[${name}]` : name;
    };
    this.#allowHosts = new Set([...(options.allowHosts ?? [])].map(clean));
    this.#names = new Set([
      "localhost",
      "127.0.0.1",
      "[::1]",
      ...[...options.names].map(clean),
      ...this.#allowHosts,
    ]);
    this.#origins = new Set(options.allowedOrigins ?? []);
  }

  /** Whether a request with this `Host` header is for this server. */
  hostAllowed(host: string | null | undefined): boolean {
    if (!host) return false;
    const name = hostNameOf(host);
    if (name === undefined) return false;
    return this.#names.has(name) || IPV4_RE.test(name) || name.startsWith("[");
  }

  /**
   * Whether a page from `origin` may open the WebSocket or write through REST to a request
   * whose (already allowed) `Host` is `host`: the page must come from that same host and port,
   * from an `--allow-host` name, or from an allowed origin.
   */
  originAllowed(origin: string, host: string): boolean {
    if (this.#origins.has(origin)) return true;
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false; // "null" (sandboxed frames, file pages) and garbage
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") return false;
    return url.host === host.toLowerCase() || this.#allowHosts.has(url.hostname);
  }
}

/**
 * The DNS names and IP addresses of a PEM certificate's subjectAltName, for
 * {@linkcode HostPolicyOptions.names}; empty if it cannot be read.
 *
 * @example
 * ```ts
 * function logNames(pem: string) { // the text of a PEM certificate
 *   console.log(certificateNames(pem)); // ["meet.example.org", "192.0.2.10"]
 * }
 * ```
 */
export function certificateNames(pem: string): string[] {
  try {
    const san = new X509Certificate(pem).subjectAltName ?? "";
    return san.split(/,\s*/).flatMap((part) => {
      const match = /^(?:DNS|IP Address):(.+)$/.exec(part.trim());
      return match && !match[1].includes("*") ? [match[1]] : [];
    });
  } catch {
    return [];
  }
}
