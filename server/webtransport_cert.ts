/**
 * A short-lived certificate for the WebTransport endpoint of a server without one (plain HTTP
 * on localhost). Browsers accept a certificate they cannot verify when the page names its
 * SHA-256 in `serverCertificateHashes`, and only when it is an ECDSA P-256 (or similar) end
 * certificate (`basicConstraints` CA:FALSE) valid for at most 14 days. It is made here with
 * WebCrypto, in memory (the key never touches the disk), a few lines of DER.
 *
 * @example
 * ```ts
 * const cert = await makeEphemeralCertificate({ names: ["localhost", "127.0.0.1"] });
 * new Deno.QuicEndpoint({ port: 8000 }).listen({ cert: cert.cert, key: cert.key, alpnProtocols: ["h3"] });
 * console.log(cert.sha256); // base64 of the DER certificate's SHA-256, for the page
 * ```
 * @module
 */

/** A PEM certificate and key with the certificate's hash. */
export interface EphemeralCertificate {
  cert: string;
  key: string;
  /** SHA-256 of the DER certificate, base64 (what pages pass as `serverCertificateHashes`). */
  sha256: string;
  notBefore: Date;
  notAfter: Date;
}

/**
 * How long an ephemeral certificate is valid (10 days, with its start an hour back for clock
 * skew): browsers refuse a hash-pinned certificate valid for more than 14 days.
 */
export const EPHEMERAL_CERT_VALID_MS = 10 * 24 * 3600_000;
/** The start of validity is set this far back, for clients whose clock is a little behind. */
const BACKDATE_MS = 3600_000;

// --- DER -------------------------------------------------------------------------------------

function length(n: number): number[] {
  if (n < 0x80) return [n];
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return [0x80 | bytes.length, ...bytes];
}

function tlv(tag: number, ...parts: (Uint8Array | number[])[]): Uint8Array<ArrayBuffer> {
  const body = concat(parts.map((p) => p instanceof Uint8Array ? p : Uint8Array.from(p)));
  return concat([Uint8Array.from([tag, ...length(body.length)]), body]);
}

function concat(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const seq = (...parts: Uint8Array[]): Uint8Array<ArrayBuffer> => tlv(0x30, ...parts);

function oid(dotted: string): Uint8Array {
  const [a, b, ...rest] = dotted.split(".").map(Number);
  const bytes = [40 * a + b];
  for (const n of rest) {
    const groups: number[] = [];
    for (let v = n;; v = Math.floor(v / 128)) {
      groups.unshift((v & 0x7f) | (groups.length ? 0x80 : 0));
      if (v < 128) break;
    }
    bytes.push(...groups);
  }
  return tlv(0x06, bytes);
}

/** A non-negative INTEGER from big-endian bytes (minimal, with a 0 byte where the top bit is set). */
function unsigned(bytes: Uint8Array): Uint8Array {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  return tlv(0x02, trimmed[0] & 0x80 ? [0, ...trimmed] : trimmed);
}

function utcTime(date: Date): Uint8Array {
  const two = (n: number) => String(n).padStart(2, "0");
  const text = two(date.getUTCFullYear() % 100) + two(date.getUTCMonth() + 1) +
    two(date.getUTCDate()) + two(date.getUTCHours()) + two(date.getUTCMinutes()) +
    two(date.getUTCSeconds()) + "Z";
  return tlv(0x17, new TextEncoder().encode(text) as Uint8Array);
}

function name(commonName: string): Uint8Array {
  return seq(tlv(0x31, seq(oid("2.5.4.3"), tlv(0x0c, new TextEncoder().encode(commonName)))));
}

function extension(id: string, critical: boolean, value: Uint8Array): Uint8Array {
  return critical
    ? seq(oid(id), tlv(0x01, [0xff]), tlv(0x04, value))
    : seq(oid(id), tlv(0x04, value));
}

function subjectAltNames(names: string[]): Uint8Array {
  const entries: Uint8Array[] = [];
  for (const n of names) {
    const v4 = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(n);
    if (v4) entries.push(tlv(0x87, v4.slice(1).map(Number)));
    else if (/^[a-zA-Z0-9.-]+$/.test(n)) entries.push(tlv(0x82, new TextEncoder().encode(n)));
  }
  return seq(...entries);
}

function pem(label: string, der: Uint8Array): string {
  const b64 = btoa(String.fromCharCode(...der));
  return `-----BEGIN ${label}-----\n${b64.match(/.{1,64}/g)!.join("\n")}\n-----END ${label}-----\n`;
}

/** Base64 of a byte array. */
export function base64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

const ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2";

/**
 * Makes a self-signed ECDSA P-256 end certificate (CA:FALSE, digitalSignature, serverAuth)
 * for `names`, valid from an hour ago for {@linkcode EPHEMERAL_CERT_VALID_MS}.
 */
export async function makeEphemeralCertificate(
  options: { names?: string[]; now?: number; validMs?: number } = {},
): Promise<EphemeralCertificate> {
  const now = options.now ?? Date.now();
  const notBefore = new Date(now - BACKDATE_MS);
  const notAfter = new Date(now + (options.validMs ?? EPHEMERAL_CERT_VALID_MS) - BACKDATE_MS);
  const keys = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]);
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0] = (serial[0] & 0x7f) | 0x01;
  const algorithm = seq(oid(ECDSA_WITH_SHA256));
  const subject = name("Meet WebTransport (ephemeral)");
  const extensions = [
    extension("2.5.29.19", true, seq()), // basicConstraints: CA:FALSE
    extension("2.5.29.15", true, tlv(0x03, [0x07, 0x80])), // keyUsage: digitalSignature
    extension("2.5.29.37", false, seq(oid("1.3.6.1.5.5.7.3.1"))), // extKeyUsage: serverAuth
  ];
  const names = options.names ?? ["localhost", "127.0.0.1"];
  if (names.length) extensions.push(extension("2.5.29.17", false, subjectAltNames(names)));
  const tbs = seq(
    tlv(0xa0, tlv(0x02, [2])), // v3
    tlv(0x02, serial),
    algorithm,
    subject,
    seq(utcTime(notBefore), utcTime(notAfter)),
    subject,
    spki,
    tlv(0xa3, seq(...extensions)),
  );
  const raw = new Uint8Array(
    await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, keys.privateKey, tbs),
  );
  const signature = seq(unsigned(raw.subarray(0, 32)), unsigned(raw.subarray(32)));
  const der = seq(tbs, algorithm, tlv(0x03, [0], signature));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", der));
  return {
    cert: pem("CERTIFICATE", der),
    key: pem("PRIVATE KEY", pkcs8),
    sha256: base64(digest),
    notBefore,
    notAfter,
  };
}

/** SHA-256 of a PEM certificate's DER (the first of a chain), base64. */
export async function certificateSha256(certPem: string): Promise<string> {
  const first = /-----BEGIN CERTIFICATE-----([^-]+)-----END CERTIFICATE-----/.exec(certPem);
  const b64 = (first?.[1] ?? "").replace(/\s+/g, "");
  const der = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return base64(new Uint8Array(await crypto.subtle.digest("SHA-256", der)));
}
