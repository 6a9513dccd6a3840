/**
 * What an emulated network does to each packet, as pure logic (no I/O, no clock): delay with
 * jitter, random loss, and rate limits with a bounded queue. netsim/main.ts feeds it the
 * packets that the kernel hands over through NFQUEUE and releases or drops them as it decides.
 *
 * @example
 * ```ts
 * const net = new Impairment({ delayMs: 25, jitterMs: 8, lossPercent: 1 });
 * const decision = net.decide({
 *   atMs: 1000,
 *   sizeBytes: 120,
 *   src: "127.0.0.1",
 *   dst: "127.0.0.1",
 *   srcPort: 40000,
 *   dstPort: 4433,
 *   protocol: "udp",
 * });
 * if (!decision.drop) console.log(decision.releaseAt); // between 1017 and 1033
 * ```
 * @module
 */

/** The facts about one packet that the impairment looks at. */
export interface PacketInfo {
  /** When the packet arrived, ms (any monotonic clock; decisions are on the same clock). */
  atMs: number;
  /** The packet's whole length on the wire, bytes (IPv4 total length). */
  sizeBytes: number;
  /** Source and destination IPv4 addresses, dotted. */
  src: string;
  dst: string;
  /** Source and destination ports (0 for protocols without ports). */
  srcPort: number;
  dstPort: number;
  protocol: "tcp" | "udp" | "other";
}

/** Why a packet was dropped: random `loss`, or the rate limit's full `queue`. */
export type DropReason = "loss" | "queue";

/** What happens to a packet: dropped, or released at `releaseAt` (ms, the packet's clock). */
export type Decision =
  | { drop: true; reason: DropReason }
  | { drop: false; releaseAt: number };

/** How the emulated network behaves. Every field is optional; the default is a perfect link. */
export interface ImpairmentOptions {
  /** Delay added to every packet, ms. */
  delayMs?: number;
  /** Each packet's delay is `delayMs` plus a uniform random amount in [-jitterMs, +jitterMs]. */
  jitterMs?: number;
  /** Chance that a packet is lost, percent, independently per packet. */
  lossPercent?: number;
  /** The server's ports, which tell the direction of a packet for `down` and `up`. */
  serverPorts?: number[];
  /**
   * Rate limits towards an address, kbit/s: packets from a server port (any port when
   * `serverPorts` is empty) to that address, or from that address's server port. On loopback
   * a client always sends from 127.0.0.1: one that reaches the server at 127.0.0.5 is told
   * apart by the server's side of its packets (they come from 127.0.0.5). A key may name a
   * port too (`127.0.0.1:40000`): packets to that address and port (two browsers joined
   * directly, both on 127.0.0.1); it goes before the address alone.
   */
  down?: Record<string, number>;
  /**
   * Rate limits from an address, kbit/s: packets from that address to a server port (any
   * port when `serverPorts` is empty), or to that address's server port (as for `down`). A
   * key may name a port too (packets from that address and port).
   */
  up?: Record<string, number>;
  /** Longest queue of a rate limit, ms of bytes at its rate; past it packets are dropped. */
  queueMs?: number;
  /** Random numbers in [0, 1); `Math.random` unless a test gives its own. */
  random?: () => number;
}

/** Default bound of a rate limit's queue, ms. */
export const DEFAULT_QUEUE_MS = 200;

/** A rate-limited link: a serializing queue with a bounded backlog. */
class RateLink {
  /** When the link has sent everything queued so far, ms. */
  #busyUntil = -Infinity;
  readonly #bitsPerMs: number;
  readonly #queueMs: number;

  constructor(kbitPerS: number, queueMs: number) {
    this.#bitsPerMs = kbitPerS; // 1 kbit/s is 1 bit per ms
    this.#queueMs = queueMs;
  }

  /** When the packet has gone through the link, or `undefined` when the queue is full. */
  pass(atMs: number, sizeBytes: number): number | undefined {
    const sendMs = (sizeBytes * 8) / this.#bitsPerMs;
    const backlogMs = Math.max(0, this.#busyUntil - atMs);
    // An empty queue takes any packet; a non-empty one only while its bytes fit in queueMs.
    if (backlogMs > 0 && backlogMs + sendMs > this.#queueMs) return undefined;
    this.#busyUntil = Math.max(atMs, this.#busyUntil) + sendMs;
    return this.#busyUntil;
  }
}

/**
 * Decides each packet's fate. Packets must be given in the order they arrive.
 *
 * Order of effects, as on a real path: a rate limit's queue first (tail drop when full), then
 * random loss, then delay with jitter. Jitter is drawn per packet, so packets may overtake one
 * another, as with Linux netem.
 *
 * @example
 * ```ts
 * const net = new Impairment({ serverPorts: [8000], down: { "127.0.0.3": 400 } });
 * const packet = {
 *   sizeBytes: 1000,
 *   src: "127.0.0.1",
 *   dst: "127.0.0.3",
 *   srcPort: 8000,
 *   dstPort: 50000,
 *   protocol: "tcp" as const,
 * };
 * net.decide({ ...packet, atMs: 0 }); // { drop: false, releaseAt: 20 }
 * net.decide({ ...packet, atMs: 0 }); // { drop: false, releaseAt: 40 }
 * ```
 */
export class Impairment {
  readonly #delayMs: number;
  readonly #jitterMs: number;
  readonly #loss: number;
  readonly #serverPorts: Set<number>;
  readonly #down = new Map<string, RateLink>();
  readonly #up = new Map<string, RateLink>();
  readonly #random: () => number;

  constructor(options: ImpairmentOptions = {}) {
    this.#delayMs = options.delayMs ?? 0;
    this.#jitterMs = options.jitterMs ?? 0;
    this.#loss = (options.lossPercent ?? 0) / 100;
    this.#serverPorts = new Set(options.serverPorts ?? []);
    this.#random = options.random ?? Math.random;
    const queueMs = options.queueMs ?? DEFAULT_QUEUE_MS;
    check(this.#delayMs >= 0, `delay must be >= 0, got ${this.#delayMs}`);
    check(
      this.#jitterMs >= 0 && this.#jitterMs <= this.#delayMs,
      `jitter must be between 0 and the delay, got ${this.#jitterMs}`,
    );
    check(this.#loss >= 0 && this.#loss <= 1, `loss must be 0-100 %, got ${options.lossPercent}`);
    check(queueMs > 0, `queue must be > 0 ms, got ${queueMs}`);
    for (const [which, map] of [["down", this.#down], ["up", this.#up]] as const) {
      for (const [address, kbit] of Object.entries(options[which] ?? {})) {
        check(kbit > 0, `${which} rate for ${address} must be > 0 kbit/s, got ${kbit}`);
        map.set(address, new RateLink(kbit, queueMs));
      }
    }
  }

  /** The fate of one packet. */
  decide(packet: PacketInfo): Decision {
    let at = packet.atMs;
    const link = this.#linkOf(packet);
    if (link) {
      const through = link.pass(at, packet.sizeBytes);
      if (through === undefined) return { drop: true, reason: "queue" };
      at = through;
    }
    if (this.#loss > 0 && this.#random() < this.#loss) return { drop: true, reason: "loss" };
    let delay = this.#delayMs;
    if (this.#jitterMs > 0) delay += (this.#random() * 2 - 1) * this.#jitterMs;
    return { drop: false, releaseAt: at + delay };
  }

  /** The rate limit this packet goes through, if any: `down` is looked at first. */
  #linkOf(packet: PacketInfo): RateLink | undefined {
    const ports = this.#serverPorts;
    if (this.#down.size > 0 && (ports.size === 0 || ports.has(packet.srcPort))) {
      const link = this.#down.get(`${packet.dst}:${packet.dstPort}`) ??
        this.#down.get(packet.dst) ?? this.#down.get(packet.src);
      if (link) return link;
    }
    if (this.#up.size > 0 && (ports.size === 0 || ports.has(packet.dstPort))) {
      return this.#up.get(`${packet.src}:${packet.srcPort}`) ?? this.#up.get(packet.src) ??
        this.#up.get(packet.dst);
    }
    return undefined;
  }
}

function check(ok: boolean, message: string): void {
  if (!ok) throw new RangeError(message);
}

export { seededRandom } from "../util/seeded_random.ts";
