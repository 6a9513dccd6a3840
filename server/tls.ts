/**
 * TLS certificates: load a PEM pair, or make a self-signed one for a LAN (browsers allow
 * camera and microphone only on HTTPS beyond localhost). The self-signed certificate is an
 * ECDSA P-256 key valid for 14 days, for the names and addresses given, kept in the data dir
 * and made anew when it nears its end or the names change.
 *
 * @example
 * ```ts
 * async function serveTls(handler: Deno.ServeHandler) {
 *   const tls = await selfSignedCertificate("./data/tls", ["localhost", "127.0.0.1"]);
 *   Deno.serve({ cert: tls.cert, key: tls.key }, handler);
 *   console.log(tls.fingerprint); // SHA-256, colon-separated hex
 * }
 * ```
 * @module
 */

import { join } from "node:path";

/** A certificate and its key, PEM. */
export interface TlsFiles {
  cert: string;
  key: string;
  /** Where the certificate is, for users to trust it. */
  certPath: string;
  /** SHA-256 of the DER certificate, colon-separated upper-case hex. */
  fingerprint: string;
}

const VALID_DAYS = 14;
const RENEW_BEFORE_MS = 2 * 24 * 3600 * 1000;

/** Reads a PEM certificate and key. */
export async function loadCertificate(certPath: string, keyPath: string): Promise<TlsFiles> {
  const [cert, key] = await Promise.all([Deno.readTextFile(certPath), Deno.readTextFile(keyPath)]);
  if (!cert.includes("BEGIN CERTIFICATE")) throw new Error(`${certPath} is not a PEM certificate`);
  if (!key.includes("PRIVATE KEY")) throw new Error(`${keyPath} is not a PEM private key`);
  return { cert, key, certPath, fingerprint: await fingerprintOf(cert) };
}

/** SHA-256 fingerprint of a PEM certificate. */
export async function fingerprintOf(pem: string): Promise<string> {
  const b64 = pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  const der = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", der));
  return [...digest].map((b) => b.toString(16).padStart(2, "0").toUpperCase()).join(":");
}

/** The self-signed certificate in `dir` for these names, made (with openssl) when needed. */
export async function selfSignedCertificate(dir: string, names: string[]): Promise<TlsFiles> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const certPath = join(dir, "self-signed.crt");
  const keyPath = join(dir, "self-signed.key");
  const namesPath = join(dir, "self-signed.names");
  const wanted = [...new Set(names)].sort().join(",");
  try {
    const [stat, previous] = await Promise.all([Deno.stat(certPath), Deno.readTextFile(namesPath)]);
    const age = Date.now() - (stat.mtime?.getTime() ?? 0);
    if (previous === wanted && age < VALID_DAYS * 24 * 3600 * 1000 - RENEW_BEFORE_MS) {
      return await loadCertificate(certPath, keyPath);
    }
  } catch {
    // none yet
  }
  const san = [...new Set(names)].map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(
    ",",
  );
  const args = [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    keyPath,
    "-out",
    certPath,
    "-days",
    String(VALID_DAYS),
    "-subj",
    "/CN=Meet (self-signed)",
    "-addext",
    `subjectAltName=${san}`,
    "-addext",
    "basicConstraints=critical,CA:FALSE",
    "-addext",
    "keyUsage=critical,digitalSignature",
    "-addext",
    "extendedKeyUsage=serverAuth",
  ];
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("openssl", { args, stdout: "null", stderr: "piped" }).output();
  } catch (err) {
    throw new Error(
      `--self-signed needs openssl (apt-get install openssl): ${(err as Error).message}`,
    );
  }
  if (!output.success) {
    throw new Error(
      `openssl failed: ${new TextDecoder().decode(output.stderr).trim().split("\n")[0]}`,
    );
  }
  await Deno.chmod(keyPath, 0o600);
  await Deno.writeTextFile(namesPath, wanted);
  return await loadCertificate(certPath, keyPath);
}

/** Names a LAN server is reached by: localhost, loopback, this machine's addresses, and extras. */
export function localNames(extra: string[] = []): string[] {
  const names = ["localhost", "127.0.0.1", ...extra.filter((h) => h !== "0.0.0.0" && h !== "::")];
  try {
    names.push(Deno.hostname());
    for (const i of Deno.networkInterfaces()) if (i.family === "IPv4") names.push(i.address);
  } catch {
    // without --allow-sys: loopback only
  }
  return [...new Set(names)];
}
