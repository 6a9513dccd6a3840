/**
 * Fakes shared by the server's unit tests: a media transport that records what it is sent and
 * reports a settable queue, Opus codecs that cost nothing, a meeting with seats, and a socket
 * for a control connection.
 *
 * @example
 * ```ts
 * const transport = new FakeTransport("websocket");
 * transport.queued = 300_000;  // the router now sees it congested
 * ```
 * @module
 */

import { MeetingRegistry } from "../meeting/registry.ts";
import type { OpusDecoder, OpusEncoder } from "../media/opus.ts";
import { type Clock, ManualClock } from "../util/clock.ts";
import type { MessageSocket } from "./control_connection.ts";
import type { OpusCodecs } from "./media_room.ts";
import { TransportBase, type TransportKind } from "./media_transport.ts";

/** A transport that keeps what it is sent. */
export class FakeTransport extends TransportBase {
  readonly kind: TransportKind;
  readonly address?: { ip: string; port: number };
  /** Packets sent while open. */
  sent: Uint8Array[] = [];
  /** What `queuedBytes()` reports. */
  queued = 0;
  /** What `backlogMs()` reports. */
  backlog = 0;
  /** What `fullLinkBps()` reports. */
  delivered: number | null = null;

  constructor(kind: TransportKind = "websocket", address?: { ip: string; port: number }) {
    super();
    this.kind = kind;
    this.address = address;
  }

  send(packet: Uint8Array): void {
    if (!this.closed) this.sent.push(packet.slice());
  }

  queuedBytes(): number {
    return this.queued;
  }

  override backlogMs(): number {
    return this.backlog;
  }

  override fullLinkBps(_overMs: number): number | null {
    return this.delivered;
  }
}

/** Codecs that do no work: silence in, a 3-byte packet out. */
export const fakeCodecs: OpusCodecs = {
  createEncoder: (): OpusEncoder => ({
    encode: () => new Uint8Array([0xf8, 0xff, 0xfe]),
    setBitrate() {},
    close() {},
  } as unknown as OpusEncoder),
  createDecoder: (): OpusDecoder => ({
    decode: () => new Int16Array(960),
    decodeView: () => new Int16Array(960),
    close() {},
  } as unknown as OpusDecoder),
};

/** A meeting (its registry on a manual clock) to hang rooms off. */
export function testMeeting(options: { clock?: Clock; p2p?: "auto" | "off" } = {}) {
  const clock = options.clock ?? new ManualClock(1_700_000_000_000);
  const registry = new MeetingRegistry({ clock, graceMs: 30_000, p2p: options.p2p });
  const meeting = registry.create({ title: "T", creatorSessionId: "s1", creatorName: "Ann" });
  return { clock, registry, meeting };
}

/** A control connection's socket that keeps what it is sent. */
export class FakeSocket implements MessageSocket {
  readyState = 1;
  bufferedAmount = 0;
  text: unknown[] = [];
  binary: Uint8Array[] = [];
  closedWith: number | undefined;

  send(data: string | Uint8Array): void {
    if (typeof data === "string") this.text.push(JSON.parse(data));
    else this.binary.push(data);
  }

  close(code?: number): void {
    this.closedWith = code;
    this.readyState = 3;
  }

  /** Messages of one type sent to the client. */
  messages(type: string): Record<string, unknown>[] {
    return (this.text as Record<string, unknown>[]).filter((m) => m.type === type);
  }
}
