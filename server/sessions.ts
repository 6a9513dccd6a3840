/**
 * Sessions: who a client is. A session has a display name and an unguessable token; the
 * token is what a client shows to resume its seat or to act as a meeting's creator.
 *
 * @example
 * ```ts
 * const sessions = new SessionStore();
 * const s = sessions.create("Ann");
 * sessions.byToken(s.token)?.name; // "Ann"
 * ```
 * @module
 */

import { type Clock, systemClock } from "../util/clock.ts";
import { newId, newToken } from "../util/ids.ts";

/** An identity: a name and a secret token. */
export interface Session {
  readonly id: string;
  readonly token: string;
  name: string;
  /** Last time the session was used, ms since the epoch. */
  lastSeen: number;
}

/** How long a handoff code may be claimed (see {@linkcode SessionStore.handoff}). */
export const HANDOFF_TTL_MS = 60_000;
/** Most handoff codes outstanding; beyond, the oldest is dropped. */
export const MAX_HANDOFFS = 10_000;

/** Sessions by token, forgotten after a period without use. */
export class SessionStore {
  #byToken = new Map<string, Session>();
  /** Handoff code -> the session's token and when the code lapses. */
  #handoffs = new Map<string, { token: string; until: number }>();
  #clock: Clock;

  constructor(options: { clock?: Clock } = {}) {
    this.#clock = options.clock ?? systemClock;
  }

  /** Creates a session with a fresh 128-bit token. */
  create(name: string): Session {
    const session: Session = {
      id: newId(16),
      token: newToken(),
      name,
      lastSeen: this.#clock.now(),
    };
    this.#byToken.set(session.token, session);
    return session;
  }

  /** The session holding this token, if any; marks it used. */
  byToken(token: unknown): Session | undefined {
    if (typeof token !== "string") return undefined;
    const session = this.#byToken.get(token);
    if (session) session.lastSeen = this.#clock.now();
    return session;
  }

  /**
   * A one-time code that hands `session` to a browser page on this server: another node of
   * the cluster made a meeting here for a page of its own, which opens the meeting's page
   * here with the code (in the URL's fragment) and identifies with it. The code is good once,
   * for {@linkcode HANDOFF_TTL_MS}; it is not the token, which never travels in a URL.
   */
  handoff(session: Session): string {
    const now = this.#clock.now();
    for (const [code, h] of this.#handoffs) {
      if (h.until > now && this.#handoffs.size < MAX_HANDOFFS) break;
      this.#handoffs.delete(code); // lapsed, or over the bound (oldest first)
    }
    const code = newToken();
    this.#handoffs.set(code, { token: session.token, until: now + HANDOFF_TTL_MS });
    return code;
  }

  /** The session a handoff code was made for, once, while it is good; marks it used. */
  claim(code: unknown): Session | undefined {
    if (typeof code !== "string") return undefined;
    const h = this.#handoffs.get(code);
    if (!h) return undefined;
    this.#handoffs.delete(code);
    if (h.until <= this.#clock.now()) return undefined;
    return this.byToken(h.token);
  }

  /** The session with this id, if still known (a scan: for rare lookups). */
  byId(id: string): Session | undefined {
    for (const session of this.#byToken.values()) if (session.id === id) return session;
    return undefined;
  }

  /** Forgets sessions unused for `maxIdleMs` unless `keep(session)` says they are still needed. */
  sweep(maxIdleMs: number, keep: (session: Session) => boolean): number {
    const cutoff = this.#clock.now() - maxIdleMs;
    let removed = 0;
    for (const [token, session] of this.#byToken) {
      if (session.lastSeen < cutoff && !keep(session)) {
        this.#byToken.delete(token);
        removed++;
      }
    }
    return removed;
  }

  get size(): number {
    return this.#byToken.size;
  }
}
