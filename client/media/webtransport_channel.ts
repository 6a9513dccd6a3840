/**
 * A page's WebTransport session to the server (protocol/media.ts, "WebTransport"): it opens the
 * session, binds it to the seat with the media key on a bidirectional stream, and then carries
 * one RTP or RTCP packet per datagram. Once bound it sends a `MEET-PING` datagram every
 * {@linkcode WT_PING_MS}; the server's pongs keep `lastPongAt` fresh, which is how the
 * `RelayChannel` notices that UDP stopped getting through (in either direction: media from the
 * server may still arrive while what the page sends is dropped).
 *
 * @example
 * ```ts
 * import type { JoinReply } from "../../protocol/control.ts";
 *
 * function connect(join: JoinReply, meetingId: string, rtp: Uint8Array,
 *   handle: (bytes: Uint8Array) => void) {
 *   const { mediaKey } = join.media;
 *   const channel = new WebTransportChannel({
 *     info: join.media.webTransport!, mediaKey, meetingId,
 *   });
 *   channel.on("bound", () => channel.sendBinary(rtp));
 *   channel.on("media", (bytes) => handle(bytes));
 * }
 * ```
 * @module
 */

import {
  UDP_BIND_PREFIX,
  UDP_BOUND_PREFIX,
  WEBTRANSPORT_PATH,
  type WebTransportInfo,
  WT_PING_PREFIX,
  WT_PONG_PREFIX,
} from "../../protocol/media.ts";
import { Emitter } from "../../util/emitter.ts";
import { DatagramSendQueue } from "./send_queue.ts";
import type { DatagramLink } from "./relay_channel.ts";

/** How often a bound session sends a liveness probe, ms. */
export const WT_PING_MS = 250;

/** Events of a {@linkcode WebTransportChannel}. */
export type WebTransportChannelEvents = {
  media: [bytes: Uint8Array];
  bound: [];
  /** A liveness probe was answered (`lastPongAt` and `rttMs` are new). */
  pong: [];
  closed: [reason: string];
};

/** Options of a {@linkcode WebTransportChannel}. */
export interface WebTransportChannelOptions {
  info: WebTransportInfo;
  mediaKey: string;
  meetingId: string;
  /** The server's host; default the page's (`localhost` is taken as 127.0.0.1). */
  hostname?: string;
}

/** The host a page reaches the WebTransport endpoint at. */
export function webTransportUrl(info: WebTransportInfo, hostname = location.hostname): string {
  const host = hostname === "localhost" ? "127.0.0.1" : hostname;
  return `https://${host.includes(":") ? `[${host}]` : host}:${info.port}${WEBTRANSPORT_PATH}`;
}

/** Whether this browser has WebTransport. */
export function hasWebTransport(): boolean {
  return typeof (globalThis as { WebTransport?: unknown }).WebTransport === "function";
}

/** Datagrams the browser keeps for the page while it is busy (a meeting's second or more). */
const INCOMING_DATAGRAMS = 1024;
/** ... and for how long at most, ms. */
const INCOMING_MAX_AGE_MS = 1000;
/**
 * What the page sends waits at most this long in the browser before it is dropped, ms. By
 * default nothing expires: a page whose machine was too busy for its QUIC stack to keep up
 * (three pages at 30 fps on a 2.1 GHz, 2-core machine) queued seconds of media and of its
 * reports, and everyone heard it 4-5 s late. It counts only from when the browser took a
 * datagram: the writes the page made before that wait in the writable stream, which
 * {@linkcode DatagramSendQueue} times and bounds (docs/architecture.md, "Queues nothing
 * counts"). Real-time media that waited longer is past use, and a loss is repaired or concealed.
 */
const OUTGOING_MAX_AGE_MS = 300;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One WebTransport session bound to the seat. */
export class WebTransportChannel extends Emitter<WebTransportChannelEvents>
  implements DatagramLink {
  #wt: WebTransport;
  #writer: WritableStreamDefaultWriter<Uint8Array> | undefined;
  /** The writes not yet taken by the browser, timed (see DatagramSendQueue). */
  readonly sendQueue = new DatagramSendQueue();
  #bound = false;
  #closed = false;
  #ping: ReturnType<typeof setInterval> | undefined;
  #pingSeq = 0;
  lastPongAt = performance.now();
  /** Round trip of the last answered ping, ms. */
  rttMs: number | null = null;
  #pingSentAt = new Map<number, number>();

  constructor(options: WebTransportChannelOptions) {
    super();
    const hash = options.info.certificateHash;
    this.#wt = new WebTransport(webTransportUrl(options.info, options.hostname), {
      ...(hash
        ? {
          serverCertificateHashes: [{
            algorithm: "sha-256",
            value: Uint8Array.from(atob(hash), (c) => c.charCodeAt(0)),
          }],
        }
        : {}),
      requireUnreliable: true,
    } as WebTransportOptions);
    this.#wt.closed.then(
      () => this.#end("closed"),
      (err) => this.#end(`failed: ${(err as Error)?.message ?? err}`),
    );
    this.#run(options).catch((err) => this.#end(`bind failed: ${(err as Error)?.message ?? err}`));
  }

  sendBinary(bytes: Uint8Array): boolean {
    if (!this.#bound || this.#closed || !this.#writer) return false;
    // Too late to go (the writes before it have waited too long): dropped, as a datagram
    // may be, rather than sent on the WebSocket.
    if (!this.sendQueue.admit(bytes.length, performance.now())) return true;
    const settled = () => this.sendQueue.settled();
    this.#writer.write(bytes).then(settled, settled);
    return true;
  }

  /** Bytes handed to the datagram stream and not yet taken by the browser's QUIC stack. */
  get bufferedAmount(): number {
    return this.sendQueue.bytes;
  }

  /** True while the oldest write not yet taken has waited long (see DatagramSendQueue). */
  get congested(): boolean {
    return this.sendQueue.congested(performance.now());
  }

  close(): void {
    if (this.#closed) return;
    try {
      this.#wt.close();
    } catch {
      // not open yet, or gone
    }
    this.#end("closed by the page");
  }

  async #run(options: WebTransportChannelOptions): Promise<void> {
    await this.#wt.ready;
    this.#readDatagrams();
    const stream = await this.#wt.createBidirectionalStream();
    const writer = stream.writable.getWriter();
    await writer.write(
      encoder.encode(`${UDP_BIND_PREFIX}${options.mediaKey} ${options.meetingId}\n`),
    );
    const reader = stream.readable.getReader();
    let answer = "";
    while (!answer.includes("\n")) {
      const { value, done } = await reader.read();
      if (value) answer += decoder.decode(value, { stream: true });
      if (done || answer.length > 256) break;
    }
    const line = answer.split("\n")[0];
    if (!line.startsWith(UDP_BOUND_PREFIX)) throw new Error(line || "no answer");
    if (this.#closed) return;
    const out = this.#wt.datagrams as WebTransportDatagramDuplexStream & {
      outgoingMaxAge: number | null;
    };
    out.outgoingMaxAge = OUTGOING_MAX_AGE_MS;
    this.#writer = this.#wt.datagrams.writable.getWriter();
    this.#bound = true;
    this.lastPongAt = performance.now();
    this.#ping = setInterval(() => this.#sendPing(), WT_PING_MS);
    this.emit("bound");
  }

  async #readDatagrams(): Promise<void> {
    // The browser keeps at most `incomingHighWaterMark` datagrams for us and drops the oldest
    // beyond (the default is 1): each time the page's thread was busy for a moment, all but
    // the last datagram were lost (3 pages and a busy machine: 12-24% of a second's packets).
    // Keep a second's worth; what waited longer is past use.
    const datagrams = this.#wt.datagrams as WebTransportDatagramDuplexStream & {
      incomingHighWaterMark: number;
      incomingMaxAge: number | null;
    };
    datagrams.incomingHighWaterMark = INCOMING_DATAGRAMS;
    datagrams.incomingMaxAge = INCOMING_MAX_AGE_MS;
    const reader = this.#wt.datagrams.readable.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done || this.#closed) return;
        if (value[0] === 0x4d) { // 'M': a pong
          const text = decoder.decode(value);
          if (text.startsWith(WT_PONG_PREFIX)) {
            // Only an answer proves both directions: media from the server can keep coming
            // while what the page sends is dropped.
            this.lastPongAt = performance.now();
            const seq = Number(text.slice(WT_PONG_PREFIX.length));
            const sentAt = this.#pingSentAt.get(seq);
            if (sentAt !== undefined) this.rttMs = this.lastPongAt - sentAt;
            this.emit("pong");
          }
          continue;
        }
        this.emit("media", value);
      }
    } catch {
      // the session closed
    }
  }

  #sendPing(): void {
    const seq = ++this.#pingSeq;
    this.#pingSentAt.set(seq, performance.now());
    this.#pingSentAt.delete(seq - 20);
    this.sendBinary(encoder.encode(`${WT_PING_PREFIX}${seq}`));
  }

  #end(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#bound = false;
    clearInterval(this.#ping);
    this.emit("closed", reason);
    this.removeAllListeners();
  }
}
