/**
 * The page's way to the server's relay: WebTransport datagrams when they get through, the
 * control WebSocket otherwise. A {@linkcode MediaCarrier}, so the media session (and
 * `MediaPath`, which adds the P2P path on top) never knows which carrier is used.
 *
 * Rules (docs/protocol.md, "WebTransport"):
 * - Media goes on the WebSocket until a WebTransport session is bound (`MEET-BOUND`); it then
 *   goes on the session. Packets from either carrier are taken at all times.
 * - A session that is not bound within {@linkcode RELAY_CHANNEL_TIMING}.connectMs, that
 *   closes, or whose pings go unanswered for `silenceMs` while bound, is given
 *   up: media goes back on the WebSocket at once, and the server is told (`media_transport`,
 *   whose answer names the endpoint as it is now). No re-join, no new capture.
 * - While on the WebSocket, a new session is tried after `retryFirstMs`, then after twice as
 *   long each time one fails again, up to `retryMaxMs`: a moment's silence (a busy machine, a
 *   Wi-Fi hand-over) costs a few seconds on the WebSocket, a blocked UDP port one try every
 *   `retryMaxMs`. A session that stayed bound for `stableMs` starts the count over.
 *
 * @example
 * ```ts ignore
 * const relay = new RelayChannel({
 *   websocket: controlClient,
 *   connect: (info) => new WebTransportChannel({ info, mediaKey, meetingId }),
 *   announceWebSocket: async () =>
 *     (await controlClient.request({ type: "media_transport", kind: "websocket" })).webTransport,
 * });
 * relay.start(join.media.webTransport);
 * const path = new MediaPath({ relay, ... });
 * ```
 * @module
 */

import type { WebTransportInfo } from "../../protocol/media.ts";
import type { Clock, TimerHandle } from "../../util/clock.ts";
import { Emitter } from "../../util/emitter.ts";
import type { MediaCarrier } from "./packet_mux.ts";

/** Which carrier the page sends its media on. */
export type CarrierKind = "websocket" | "webtransport";

/** Timings of the fallback, ms. */
export const RELAY_CHANNEL_TIMING = {
  /** A session must be bound within this. */
  connectMs: 5_000,
  /** A bound session without a pong (they come every 250 ms) for this long is dead. */
  silenceMs: 2_000,
  /** How often the silence is checked. */
  checkMs: 200,
  /** After a session was given up, the next is tried after this long ... */
  retryFirstMs: 2_000,
  /** ... doubling with each session given up in a row, up to this. */
  retryMaxMs: 15_000,
  /** A session bound for this long was a success: the next fallback retries after `retryFirstMs`. */
  stableMs: 30_000,
};

/** A WebTransport session as the relay channel needs it (see `WebTransportChannel`). */
export interface DatagramLink extends MediaCarrier {
  on(event: "media", listener: (bytes: Uint8Array, arrivalMs?: number) => void): () => void;
  on(event: "bound", listener: () => void): () => void;
  on(event: "closed", listener: (reason: string) => void): () => void;
  /** When the last answer to a liveness probe (a pong) arrived, on the channel's clock. */
  readonly lastPongAt: number;
  close(): void;
}

/** Options of a {@linkcode RelayChannel}. */
export interface RelayChannelOptions {
  /** The control WebSocket (the `ControlClient`). */
  websocket: MediaCarrier;
  /** Opens a session and binds it (the page: a `WebTransportChannel`). */
  connect(info: WebTransportInfo): DatagramLink;
  /** Tells the server the media is on the WebSocket; resolves to the endpoint as it is now. */
  announceWebSocket(): Promise<WebTransportInfo | undefined>;
  /** Default: `performance.now()` and the page's timers (the link's `lastPongAt` is on it). */
  clock?: Clock;
  timing?: Partial<typeof RELAY_CHANNEL_TIMING>;
}

/** Events of a {@linkcode RelayChannel}. */
export type RelayChannelEvents = {
  media: [bytes: Uint8Array, arrivalMs?: number];
  /** Sending moved to this carrier. */
  carrier: [kind: CarrierKind];
};

const performanceClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as number),
};

/** WebTransport first, the WebSocket as fallback. */
export class RelayChannel extends Emitter<RelayChannelEvents> implements MediaCarrier {
  #options: RelayChannelOptions;
  #clock: Clock;
  #timing: typeof RELAY_CHANNEL_TIMING;
  #info: WebTransportInfo | undefined;
  #link: DatagramLink | undefined;
  #bound = false;
  #boundAt = 0;
  /** Sessions given up in a row (none stayed bound for `stableMs` between them). */
  #failures = 0;
  #timer: TimerHandle | undefined;
  #offWebSocket: () => void;
  #closed = false;
  /** Sessions given up (not bound in time, closed, or silent). */
  fallbacks = 0;
  /** Why the last session was given up (shown in the page's stats). */
  lastFallback: string | undefined;

  constructor(options: RelayChannelOptions) {
    super();
    this.#options = options;
    this.#clock = options.clock ?? performanceClock;
    this.#timing = { ...RELAY_CHANNEL_TIMING, ...options.timing };
    this.#offWebSocket = options.websocket.on("media", (bytes) => this.emit("media", bytes));
  }

  /** The carrier media is sent on now. */
  get kind(): CarrierKind {
    return this.#bound ? "webtransport" : "websocket";
  }

  /** Whether a session is being set up. */
  get connecting(): boolean {
    return this.#link !== undefined && !this.#bound;
  }

  /**
   * Starts (or starts over, after a re-join) with the endpoint the join reply named; without
   * one (no endpoint, or a browser without WebTransport) media stays on the WebSocket.
   */
  start(info: WebTransportInfo | undefined): void {
    if (this.#closed) return;
    this.#info = info;
    this.#failures = 0;
    const wasBound = this.#bound;
    this.#drop();
    if (wasBound) this.emit("carrier", "websocket");
    this.#attempt();
  }

  sendBinary(bytes: Uint8Array): boolean {
    if (this.#bound && this.#link!.sendBinary(bytes)) return true;
    return this.#options.websocket.sendBinary(bytes);
  }

  get bufferedAmount(): number {
    return this.#bound ? this.#link!.bufferedAmount : this.#options.websocket.bufferedAmount;
  }

  /** The carrier in use's own measure of being backed up, if it has one. */
  get congested(): boolean | undefined {
    return this.#bound ? this.#link!.congested : this.#options.websocket.congested;
  }

  /** Closes the session, if any, and stops. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#drop();
    this.#offWebSocket();
    this.removeAllListeners();
  }

  #attempt(): void {
    if (this.#closed || !this.#info) return;
    let link: DatagramLink;
    try {
      link = this.#options.connect(this.#info);
    } catch {
      return this.#fallBack(false, "no session could be opened");
    }
    this.#link = link;
    link.on("media", (bytes, arrivalMs) => {
      if (this.#link === link) this.emit("media", bytes, arrivalMs);
    });
    link.on("bound", () => {
      if (this.#link !== link || this.#bound) return;
      this.#bound = true;
      const at = this.#clock.now();
      this.#boundAt = at;
      this.emit("carrier", "webtransport");
      this.#schedule(this.#timing.checkMs, () => this.#check(link, at));
    });
    link.on("closed", (reason) => {
      if (this.#link === link) this.#fallBack(true, `session ${reason}`);
    });
    this.#schedule(this.#timing.connectMs, () => {
      if (this.#link === link && !this.#bound) this.#fallBack(true, "not bound in time");
    });
  }

  #check(link: DatagramLink, scheduledAt = this.#clock.now()): void {
    if (this.#link !== link || !this.#bound) return;
    const now = this.#clock.now();
    // A check that runs late (the page's main thread was held up) judges nothing: pongs that
    // came meanwhile are still waiting to be read.
    const late = now - scheduledAt > 2 * this.#timing.checkMs;
    if (!late && now - link.lastPongAt > this.#timing.silenceMs) {
      return this.#fallBack(true, `no pong for ${Math.round(now - link.lastPongAt)} ms`);
    }
    this.#schedule(this.#timing.checkMs, () => this.#check(link, now));
  }

  /** Gives the session up: media on the WebSocket now, the server told, a retry later. */
  #fallBack(announce: boolean, reason: string): void {
    const wasBound = this.#bound;
    if (this.#link) this.fallbacks++;
    this.lastFallback = reason;
    if (wasBound && this.#clock.now() - this.#boundAt >= this.#timing.stableMs) this.#failures = 0;
    this.#failures++;
    const retryMs = Math.min(
      this.#timing.retryMaxMs,
      this.#timing.retryFirstMs * 2 ** Math.min(this.#failures - 1, 10),
    );
    this.#drop();
    if (wasBound) this.emit("carrier", "websocket");
    if (announce) {
      this.#options.announceWebSocket().then(
        (info) => {
          if (info) this.#info = info;
        },
        () => {},
      );
    }
    this.#schedule(retryMs, () => {
      if (!this.#link) this.#attempt();
    });
  }

  #drop(): void {
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    const link = this.#link;
    this.#link = undefined;
    this.#bound = false;
    link?.close();
  }

  #schedule(ms: number, fn: () => void): void {
    this.#clock.clearTimeout(this.#timer);
    this.#timer = this.#clock.setTimeout(fn, ms);
  }
}
