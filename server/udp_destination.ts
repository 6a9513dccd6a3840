/**
 * Which IPv4 addresses a plain-RTP seat may name as its own (where the server sends its
 * media once it has latched, see server/media_consent.ts). Never the unspecified address,
 * a broadcast or multicast address, the reserved 240.0.0.0/4, port 0, or the server's own
 * UDP socket (any of the machine's addresses, or loopback, with the server's UDP port).
 * Loopback with another port stays allowed: that is where a local ffmpeg runs.
 *
 * @example
 * ```ts
 * const refusal = refuseRtpAddress("255.255.255.255", 5006, { serverPort: 5004, local: [] });
 * // "255.255.255.255 is a broadcast address"
 * ```
 * @module
 */

import { ipv4ToNumber, refuseIpv4Class } from "../util/ipv4.ts";

/** What the check needs to know of the machine. */
export interface LocalAddresses {
  /** The server's UDP port. */
  serverPort: number;
  /** The machine's interfaces: IPv4 address and netmask. */
  local: { address: string; netmask: string }[];
}

/**
 * Why `ip:port` may not be a plain-RTP seat's address, or null when it may.
 *
 * @example
 * ```ts
 * refuseRtpAddress("127.0.0.1", 40000, { serverPort: 5004, local: [] }); // null
 * refuseRtpAddress("127.0.0.1", 5004, { serverPort: 5004, local: [] });  // "...the server's own..."
 * ```
 */
export function refuseRtpAddress(ip: string, port: number, machine: LocalAddresses): string | null {
  const n = ipv4ToNumber(ip);
  if (n === null) return "ip must be an IPv4 address";
  if (!Number.isInteger(port) || port < 1 || port > 65535) return "port must be 1-65535";
  const byClass = refuseIpv4Class(n, ip);
  if (byClass) return byClass;
  let own = n >>> 24 === 127;
  for (const { address, netmask } of machine.local) {
    const a = ipv4ToNumber(address);
    const m = ipv4ToNumber(netmask);
    if (a === null || m === null) continue;
    if (a === n) own = true;
    // The subnet's broadcast address (not for /31 and /32, which have none).
    if (m < 0xfffffffe && n === ((a & m) | ~m) >>> 0) return `${ip} is a broadcast address`;
  }
  if (own && port === machine.serverPort) {
    return `${ip}:${port} is the server's own UDP socket`;
  }
  return null;
}

/**
 * The machine's IPv4 interfaces, from `Deno.networkInterfaces()` (none when the process may
 * not ask: loopback is still known to be the machine's).
 *
 * @example
 * ```ts
 * const local = localIpv4Interfaces(); // [{ address: "127.0.0.1", netmask: "255.0.0.0" }, ...]
 * ```
 */
export function localIpv4Interfaces(): { address: string; netmask: string }[] {
  try {
    return Deno.networkInterfaces()
      .filter((i) => i.family === "IPv4")
      .map((i) => ({ address: i.address, netmask: i.netmask }));
  } catch {
    return [];
  }
}
