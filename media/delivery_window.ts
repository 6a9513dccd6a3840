/**
 * What a stream carrier (a WebSocket: TCP) has delivered, from the receiver's own count: the
 * sender counts the bytes it hands to the socket, the receiver reports every few tens of
 * milliseconds how many it has read (a "received bytes" report, below), and the difference is
 * what waits in the sender's queue, the kernel's send buffer, the network and the receiver's
 * unread input. A queue on the socket alone (`bufferedAmount`) cannot see the kernel's buffer,
 * which on a slow link held seconds of media before any queue showed.
 *
 * The signal is time, not bytes: how long the oldest undelivered byte has waited (`backlogMs`).
 * Bytes mean a different delay on each link; a wait means the same to every listener.
 *
 * Pure: times are passed in. Bounded: one mark per `markMs` of sending, at most `maxMarks`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DeliveryWindow, readReceivedBytes, writeReceivedBytes } from "./delivery_window.ts";
 *
 * const window = new DeliveryWindow();
 * window.sent(1000, 0);
 * window.sent(1000, 100);
 * assert.equal(window.backlogMs(300), 0); // nothing reported yet: no signal
 * const report = writeReceivedBytes(1000); // the receiver read the first 1000 bytes
 * window.acknowledge(readReceivedBytes(report)!, 300);
 * assert.equal(window.inFlight, 1000);
 * assert.equal(window.backlogMs(300), 200); // the second 1000 were sent at 100
 * ```
 * @module
 */

/** Options of a {@linkcode DeliveryWindow}. */
export interface DeliveryWindowOptions {
  /** Sends closer together than this share one time mark (default 10 ms). */
  markMs?: number;
  /**
   * Most marks kept (default 1024); beyond, the last one stands for what is sent after it (an
   * earlier time: the backlog reads longer, never shorter).
   */
  maxMarks?: number;
  /**
   * How long the receiver may be silent before the time since its last report counts towards
   * the backlog (default {@linkcode REPORT_SILENCE_MS}).
   */
  silenceMs?: number;
}

/**
 * A receiver's silence up to this long (ms) does not count as backlog: a page whose thread is
 * held up reads and reports nothing for that long, and what it has not read waits in its own
 * input, not in front of its link. Longer silence counts (a link stalled outright).
 *
 * @example
 * ```ts
 * import { REPORT_SILENCE_MS } from "./delivery_window.ts";
 * console.log(REPORT_SILENCE_MS); // 300
 * ```
 */
export const REPORT_SILENCE_MS = 300;

/** The bytes a sender handed to a stream carrier and what its receiver reports having read. */
export class DeliveryWindow {
  readonly #markMs: number;
  readonly #maxMarks: number;
  /** Bytes sent in total. */
  #sent = 0;
  /** Bytes the receiver reported read in total. */
  #acked = 0;
  /** `[bytes sent before, time]` pairs, oldest first; the first covers `#acked`. */
  #marks: [number, number][] = [];
  /** `[bytes read, time]` of the last reports, oldest first (1 to `MAX_READS` once any came). */
  #reads: [number, number][] = [];
  /** `[bytes sent before, time]`, one per `SEND_SAMPLE_MS` of sending (at most `MAX_SENDS`). */
  #sends: [number, number][] = [];
  readonly #silenceMs: number;
  /** Reports that named more than was sent or went backwards (ignored). */
  invalidReports = 0;

  constructor(options: DeliveryWindowOptions = {}) {
    this.#markMs = options.markMs ?? 10;
    this.#maxMarks = Math.max(2, options.maxMarks ?? 1024);
    this.#silenceMs = Math.max(0, options.silenceMs ?? REPORT_SILENCE_MS);
  }

  /** Whether the receiver has reported at least once (before, there is no signal). */
  get reporting(): boolean {
    return this.#reads.length > 0;
  }

  /** Bytes sent and not yet reported read. */
  get inFlight(): number {
    return this.#sent - this.#acked;
  }

  /** Counts `bytes` handed to the carrier at `nowMs`. */
  sent(bytes: number, nowMs: number): void {
    if (bytes <= 0) return;
    const last = this.#marks[this.#marks.length - 1];
    if (
      (!last || nowMs - last[1] >= this.#markMs || last[0] < this.#acked) &&
      this.#marks.length < this.#maxMarks
    ) {
      this.#marks.push([this.#sent, nowMs]);
    }
    const sample = this.#sends[this.#sends.length - 1];
    if (!sample || nowMs - sample[1] >= SEND_SAMPLE_MS) {
      this.#sends.push([this.#sent, nowMs]);
      if (this.#sends.length > MAX_SENDS) this.#sends.shift();
    }
    this.#sent += bytes;
  }

  /**
   * Takes a receiver's report: `received` is its count of bytes read, modulo 2^32 (as the
   * report carries it). Returns false, changing nothing, for a count that is not between what
   * was reported before and what was sent.
   */
  acknowledge(received: number, nowMs: number): boolean {
    // The count is 32 bits on the wire: place it at or after the last one.
    const advance = ((received >>> 0) - (this.#acked % 2 ** 32) + 2 ** 32) % 2 ** 32;
    const acked = this.#acked + advance;
    if (acked > this.#sent || !Number.isFinite(nowMs)) {
      this.invalidReports++;
      return false;
    }
    this.#acked = acked;
    this.#reads.push([acked, nowMs]);
    if (this.#reads.length > MAX_READS) this.#reads.shift();
    let drop = 0;
    while (drop + 1 < this.#marks.length && this.#marks[drop + 1][0] <= acked) drop++;
    if (drop > 0) this.#marks.splice(0, drop);
    if (acked === this.#sent) this.#marks.length = 0;
    return true;
  }

  /**
   * How long the oldest byte not yet reported read has waited at `nowMs` (to within
   * `markMs`); 0 when all is read or before the first report. The receiver's silence since its
   * last report counts only beyond `silenceMs`: a receiver that reports keeps telling how old
   * what it has not got is, and one held up for a moment does not make its link look full
   * (the pause such a backlog brings costs its pictures a keyframe each).
   */
  backlogMs(nowMs: number): number {
    const last = this.#reads[this.#reads.length - 1];
    if (!last || this.#acked === this.#sent || this.#marks.length === 0) return 0;
    const silence = Math.max(0, nowMs - last[1]);
    const at = nowMs - Math.min(silence, this.#silenceMs);
    return Math.max(0, at - this.#marks[0][1]);
  }

  /**
   * The rate the receiver read at over about the last `overMs` ms up to `nowMs`, bit/s, if its
   * link was full meanwhile: at least {@linkcode FULL_LINK}`.outrun` times as much was sent
   * over that time as was read. Null otherwise, and with fewer than `FULL_LINK.reports`
   * reports or less than half of `overMs` of them. A backlog alone does not say the link is
   * full: the path's delay and the report's own wait read 100-150 ms on a clean path, a
   * moment's jitter more, and then what was read is only what was sent. The time since the
   * last report counts as read nothing: a link stalled in TCP's loss recovery delivers nothing
   * to report. (A receiver whose thread stalls reads nothing either; a page's stall of a third
   * of the span would read as a full link.)
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { DeliveryWindow } from "./delivery_window.ts";
   *
   * const window = new DeliveryWindow();
   * for (let t = 0; t <= 1000; t += 40) {
   *   window.sent(10_000, t); // 2 Mbit/s sent...
   *   window.acknowledge(t * 50, t); // ...400 kbit/s read
   * }
   * assert.equal(window.fullLinkBps(1000, 1000), 400_000);
   * ```
   */
  fullLinkBps(nowMs: number, overMs: number): number | null {
    const reads = this.#reads;
    if (reads.length === 0 || !(overMs > 0)) return null;
    const i = oldestWithin(reads, nowMs, overMs);
    // Up to now: a link that delivered nothing since the last report read nothing meanwhile.
    const spanMs = nowMs - reads[i][1];
    if (spanMs < overMs / 2 || reads.length - i < FULL_LINK.reports) return null;
    const read = this.#acked - reads[i][0];
    const sends = this.#sends;
    if (sends.length === 0) return null;
    const k = oldestWithin(sends, nowMs, overMs);
    const sendSpanMs = nowMs - sends[k][1];
    if (sendSpanMs < overMs / 2) return null;
    const sent = this.#sent - sends[k][0];
    if (sent / sendSpanMs < (FULL_LINK.outrun * read) / spanMs) return null;
    return Math.round((read * 8 * 1000) / spanMs);
  }
}

/**
 * When {@linkcode DeliveryWindow.fullLinkBps} reads a link full: what was sent over the span
 * outran what was read by `outrun` times (a keyframe sent at once and the path's delay make up
 * about a third of a second's bytes on a link that keeps up), with at least `reports` reports
 * in the span (a page reports every 40 ms while it receives).
 *
 * @example
 * ```ts
 * import { FULL_LINK } from "./delivery_window.ts";
 * console.log(FULL_LINK.outrun); // 1.5
 * ```
 */
export const FULL_LINK = { outrun: 1.5, reports: 3 };

/**
 * The index of the oldest of `samples` (`[count, time]`, oldest first, at least one) taken
 * within `overMs` before `nowMs`; the newest when none is.
 */
function oldestWithin(samples: [number, number][], nowMs: number, overMs: number): number {
  let i = samples.length - 1;
  while (i > 0 && nowMs - samples[i - 1][1] <= overMs) i--;
  return i;
}

/** Reports kept for {@linkcode DeliveryWindow.fullLinkBps}: 2.5 s of one every 40 ms. */
const MAX_READS = 64;
/** Send counts kept for it, one per {@linkcode SEND_SAMPLE_MS}: 2.5 s. */
const MAX_SENDS = 128;
const SEND_SAMPLE_MS = 20;

/** RTCP APP (PT 204) name of a received-bytes report: "RCVD". */
const NAME = [0x52, 0x43, 0x56, 0x44];

/**
 * A received-bytes report: an RTCP APP packet (RFC 3550 section 6.7) named "RCVD" with one
 * 32-bit count, the binary bytes read on this socket so far (modulo 2^32). 16 bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readReceivedBytes, writeReceivedBytes } from "./delivery_window.ts";
 *
 * assert.equal(readReceivedBytes(writeReceivedBytes(123456)), 123456);
 * ```
 */
export function writeReceivedBytes(received: number): Uint8Array {
  const bytes = new Uint8Array(16);
  const view = new DataView(bytes.buffer);
  bytes[0] = 0x80; // V=2, subtype 0
  bytes[1] = 204;
  view.setUint16(2, 3); // length in words minus one
  bytes.set(NAME, 8); // SSRC 0: the report is about the socket, not a stream
  view.setUint32(12, received >>> 0);
  return bytes;
}

/**
 * The count of a received-bytes report, or null when `packet` is not one (any other RTP or
 * RTCP packet).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readReceivedBytes } from "./delivery_window.ts";
 *
 * assert.equal(readReceivedBytes(new Uint8Array(12)), null);
 * ```
 */
export function readReceivedBytes(packet: Uint8Array): number | null {
  if (
    packet.length !== 16 || packet[0] !== 0x80 || packet[1] !== 204 || packet[2] !== 0 ||
    packet[3] !== 3 || packet[8] !== NAME[0] || packet[9] !== NAME[1] ||
    packet[10] !== NAME[2] || packet[11] !== NAME[3]
  ) return null;
  return new DataView(packet.buffer, packet.byteOffset, 16).getUint32(12);
}
