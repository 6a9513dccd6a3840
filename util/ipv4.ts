/**
 * IPv4 addresses as numbers, and the classes of address nothing should be sent to. Shared by
 * the server (which plain-RTP destinations it accepts) and the terminal client (which P2P peer
 * addresses it probes).
 *
 * @example
 * ```ts
 * ipv4ToNumber("10.0.0.1");            // 167772161
 * refuseIpv4Class(ipv4ToNumber("224.0.0.1")!, "224.0.0.1"); // "224.0.0.1 is a multicast address"
 * ```
 * @module
 */

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

/** A dotted-quad IPv4 address as a 32-bit unsigned number, or null if it is not one. */
export function ipv4ToNumber(ip: string): number | null {
  if (!IPV4.test(ip)) return null;
  return ip.split(".").reduce((n, octet) => n * 256 + Number(octet), 0);
}

/**
 * Why IPv4 address `n` (written `ip`) is no place to send to by its class alone: unspecified
 * ("this network", 0.0.0.0/8), the limited broadcast address, multicast (224.0.0.0/4) or
 * reserved (240.0.0.0/4); null for any other.
 */
export function refuseIpv4Class(n: number, ip: string): string | null {
  const first = n >>> 24;
  if (first === 0) return `${ip} is an unspecified ("this network") address`;
  if (n === 0xffffffff) return `${ip} is a broadcast address`;
  if (first >= 224 && first <= 239) return `${ip} is a multicast address`;
  if (first >= 240) return `${ip} is a reserved address`;
  return null;
}
