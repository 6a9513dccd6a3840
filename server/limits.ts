/**
 * Limits on what clients can make the server hold or judge: meetings created, passcode
 * guesses, sessions. Keyed by client address ({@linkcode addressKey}: an IPv6 client by its
 * /64) and by meeting. Pure: time comes from a {@linkcode Clock}. Every refusal is a
 * `rate_limited` {@linkcode MeetingError} with `retryAfterMs`.
 *
 * The defaults fit normal use from one address (30 people in one meeting behind one NAT,
 * reconnects, the test suite and the soak); a test that needs more passes overrides through
 * `ServerOptions.limits`.
 *
 * @example
 * ```ts
 * const limits = new AccessLimits({ creates: { burst: 2, ratePerSecond: 1 } });
 * limits.takeCreate("203.0.113.7"); // throws rate_limited when this address made too many
 * ```
 * @module
 */

import { MeetingError } from "../meeting/errors.ts";
import { type Clock, systemClock } from "../util/clock.ts";
import { addressKey, RateLimiter } from "../util/rate_limiter.ts";

/** A burst and a refill rate. */
export interface RateLimit {
  burst: number;
  ratePerSecond: number;
}

/** Every access limit; see {@linkcode DEFAULT_ACCESS_LIMITS}. */
export interface AccessLimitOptions {
  /** Meetings one address may create (REST and WebSocket share it). */
  creates: RateLimit;
  /** Open meetings created from one address at a time. */
  openMeetingsPerAddress: number;
  /** Open meetings on the server at a time. */
  maxOpenMeetings: number;
  /** Wrong passcodes judged per meeting, from all clients together. */
  passcodeGuessesPerMeeting: RateLimit;
  /** Wrong passcodes judged per client address, across all meetings. */
  passcodeGuessesPerAddress: RateLimit;
  /** New sessions (`identify` without a token) per client address. */
  sessions: RateLimit;
  /** Sessions the server holds at a time. */
  maxSessions: number;
}

/** The default access limits. */
export const DEFAULT_ACCESS_LIMITS: Readonly<AccessLimitOptions> = {
  /** 20 at once, then one every 3 s. */
  creates: { burst: 20, ratePerSecond: 1 / 3 },
  /** 50. */
  openMeetingsPerAddress: 50,
  /** 1,000. */
  maxOpenMeetings: 1_000,
  /** 5 at once, then one every 12 s (5 a minute). */
  passcodeGuessesPerMeeting: { burst: 5, ratePerSecond: 1 / 12 },
  /** 10 at once, then one every 6 s. */
  passcodeGuessesPerAddress: { burst: 10, ratePerSecond: 1 / 6 },
  /** 500 at once (the soak at its largest: 20 meetings x 20 bots), then two a second. */
  sessions: { burst: 500, ratePerSecond: 2 },
  /** 100,000 (about 20 MB). */
  maxSessions: 100_000,
};

/** Client addresses (and meetings) whose buckets are remembered at most, per limit. */
export const MAX_LIMITED_KEYS = 10_000;

function rateLimited(message: string, retryAfterMs: number): MeetingError {
  const seconds = Math.ceil(retryAfterMs / 1000);
  return new MeetingError("rate_limited", `${message}; try again in ${seconds} s`, {
    retryAfterMs,
  });
}

/** The server's access limits. */
export class AccessLimits {
  readonly options: AccessLimitOptions;
  #clock: Clock;
  #creates: RateLimiter;
  #guessesByMeeting: RateLimiter;
  #guessesByAddress: RateLimiter;
  #sessions: RateLimiter;

  constructor(options: Partial<AccessLimitOptions> = {}, clock: Clock = systemClock) {
    this.options = { ...DEFAULT_ACCESS_LIMITS, ...options };
    this.#clock = clock;
    const limiter = (limit: RateLimit) => new RateLimiter({ ...limit, maxKeys: MAX_LIMITED_KEYS });
    this.#creates = limiter(this.options.creates);
    this.#guessesByMeeting = limiter(this.options.passcodeGuessesPerMeeting);
    this.#guessesByAddress = limiter(this.options.passcodeGuessesPerAddress);
    this.#sessions = limiter(this.options.sessions);
  }

  /** Spends one create of this address; throws `rate_limited` when it has none left. */
  takeCreate(address: string): void {
    const wait = this.#creates.take(addressKey(address), this.#clock.now());
    if (wait > 0) throw rateLimited("too many meetings created from your address", wait);
  }

  /** Spends one new session of this address; throws `rate_limited` when it has none left. */
  takeSession(address: string): void {
    const wait = this.#sessions.take(addressKey(address), this.#clock.now());
    if (wait > 0) throw rateLimited("too many new sessions from your address", wait);
  }

  /**
   * Before a passcode is compared: throws `rate_limited` while the meeting or the address
   * has no wrong guess left. Takes nothing: a right passcode costs nothing.
   */
  checkPasscode(meetingId: string, address: string): void {
    const now = this.#clock.now();
    const wait = Math.max(
      this.#guessesByMeeting.retryAfterMs(meetingId, now),
      this.#guessesByAddress.retryAfterMs(addressKey(address), now),
    );
    if (wait > 0) throw rateLimited("too many wrong passcodes", wait);
  }

  /** A passcode was wrong: spends a guess of the meeting and of the address. */
  wrongPasscode(meetingId: string, address: string): void {
    const now = this.#clock.now();
    this.#guessesByMeeting.take(meetingId, now);
    this.#guessesByAddress.take(addressKey(address), now);
  }

  /** A meeting closed: its guess budget is forgotten. */
  meetingClosed(meetingId: string): void {
    this.#guessesByMeeting.forget(meetingId);
  }
}
