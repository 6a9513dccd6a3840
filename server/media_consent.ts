/**
 * Consent to receive media at a UDP address (RFC 7675's idea) and the liveness of a
 * binding, as pure state over an injected clock.
 *
 * The server sends a seat's media to an address only while that address has recently proved
 * it wants it: for a plain-RTP seat, RTP from exactly its source address (latching); for our
 * own clients, the echo of a nonce sent to that address (see protocol/media.ts). A binding
 * without any proof for {@linkcode SEAT_IDLE_MS} (counted from its creation if it never had
 * one) has expired: a plain-RTP seat then leaves, a client's UDP binding goes.
 *
 * @example
 * ```ts
 * import { ManualClock } from "../util/clock.ts";
 *
 * const clock = new ManualClock(0);
 * const consent = new Consent(clock);
 * consent.fresh;         // false: nothing heard yet, nothing is sent
 * consent.refresh();     // RTP came from the source (or the nonce was echoed)
 * consent.fresh;         // true
 * clock.advance(CONSENT_MS + 1);
 * consent.fresh;         // false: sending stops until the address speaks again
 * ```
 * @module
 */

import type { Clock } from "../util/clock.ts";

/**
 * Media goes to an address for this long after its last proof (an RTP packet from a
 * plain-RTP seat's source, a client's nonce echo). Default 10 s.
 */
export const CONSENT_MS = 10_000;

/**
 * A binding without any proof for this long has expired: a plain-RTP seat leaves with reason
 * `timeout` (also one that never sent), a client's UDP binding goes (its seat stays, held by
 * the control connection). Default 60 s.
 */
export const SEAT_IDLE_MS = 60_000;

/** The windows of a {@linkcode Consent}, ms. */
export interface ConsentWindows {
  /** Default {@linkcode CONSENT_MS}. */
  consentMs?: number;
  /** Default {@linkcode SEAT_IDLE_MS}. */
  idleMs?: number;
}

/** Consent and liveness of one binding. */
export class Consent {
  readonly #clock: Pick<Clock, "now">;
  readonly #consentMs: number;
  readonly #idleMs: number;
  readonly #createdAt: number;
  #provedAt = -Infinity;

  constructor(clock: Pick<Clock, "now">, windows: ConsentWindows = {}) {
    this.#clock = clock;
    this.#consentMs = windows.consentMs ?? CONSENT_MS;
    this.#idleMs = windows.idleMs ?? SEAT_IDLE_MS;
    this.#createdAt = clock.now();
  }

  /** The address proved again that it wants media. */
  refresh(): void {
    this.#provedAt = this.#clock.now();
  }

  /** Whether media may be sent to the address now. */
  get fresh(): boolean {
    return this.#clock.now() - this.#provedAt <= this.#consentMs;
  }

  /** Whether the address ever proved itself. */
  get latched(): boolean {
    return this.#provedAt !== -Infinity;
  }

  /** Whether the binding has gone without proof for the idle window. */
  get expired(): boolean {
    return this.#clock.now() - Math.max(this.#createdAt, this.#provedAt) > this.#idleMs;
  }
}
