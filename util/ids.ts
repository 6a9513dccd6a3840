/**
 * Random identifiers. Tokens are 128-bit and unguessable; ids are short and public.
 *
 * @example
 * ```ts
 * const token = newToken(); // 22 characters, base64url, 128 random bits
 * const id = newId();       // 10 characters, 50 random bits
 * ```
 * @module
 */

const ID_ALPHABET = "abcdefghjkmnpqrstuvwxyz234567890"; // 32 letters: no i, l, o, 1

/** A 128-bit random secret, base64url without padding. */
export function newToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** A short random id for public things (meetings, participants); not a secret. */
export function newId(length = 10): string {
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  let id = "";
  for (const b of bytes) id += ID_ALPHABET[b % ID_ALPHABET.length];
  return id;
}

/** A random nonzero 32-bit RTP SSRC. */
export function newSsrc(): number {
  for (;;) {
    const [ssrc] = crypto.getRandomValues(new Uint32Array(1));
    if (ssrc !== 0) return ssrc;
  }
}

/** Compares two strings in time that does not depend on where they differ. */
export function timingSafeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
