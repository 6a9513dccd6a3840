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

/** Sessions by token, forgotten after a period without use. */
export class SessionStore {
  #byToken = new Map<string, Session>();
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
