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
}

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
  #reporting = false;
  /** Reports that named more than was sent or went backwards (ignored). */
  invalidReports = 0;

  constructor(options: DeliveryWindowOptions = {}) {
    this.#markMs = options.markMs ?? 10;
    this.#maxMarks = Math.max(2, options.maxMarks ?? 1024);
  }

  /** Whether the receiver has reported at least once (before, there is no signal). */
  get reporting(): boolean {
    return this.#reporting;
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
    this.#reporting = true;
    let drop = 0;
    while (drop + 1 < this.#marks.length && this.#marks[drop + 1][0] <= acked) drop++;
    if (drop > 0) this.#marks.splice(0, drop);
    if (acked === this.#sent) this.#marks.length = 0;
    return true;
  }

  /**
   * How long the oldest byte not yet reported read has waited at `nowMs` (to within
   * `markMs`); 0 when all is read or before the first report.
   */
  backlogMs(nowMs: number): number {
    if (!this.#reporting || this.#acked === this.#sent || this.#marks.length === 0) return 0;
    return Math.max(0, nowMs - this.#marks[0][1]);
  }
}

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
