/**
 * What each sender's video may send, from what its receivers' links carry: the server's side
 * of rate control in relay mode. Each receiver tells the server (REMB) an estimate of its
 * link (media/receive_estimator.ts, payloads and packet overhead); the server keeps the
 * receiver's audio (the mix) out of it and shares the rest equally among the videos it
 * receives, less a tenth for their packets' overhead. A sender gets the least of
 * its receivers' shares, so that the weakest still gets every frame, and no more than its
 * own uplink carries (the server's estimate of it, less its voice and a tenth), within
 * [`minBps`, `maxBps`]. An estimate older than `staleMs` no longer counts (the receiver left
 * or stopped reporting); a receiver that never reported constrains nobody.
 *
 * Two encodings ({@linkcode BitrateAllocator.allocate}): a receiver whose share of a sender
 * is under {@linkcode SMALL_VIDEO}.belowBps is weak for it. The sender is asked for its small
 * encoding at the least of its weak receivers' shares, and once that encoding arrives those
 * receivers get it: the full one is then sized by the others alone, so one weak link no
 * longer lowers what everyone else sees. Until it arrives (or for a sender that sends none,
 * such as the terminal client) weak receivers constrain the full encoding as above. A
 * sender's uplink carries its small encoding first, up to a third of it, and the full one
 * what is left.
 *
 * Pure: time is passed in.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BitrateAllocator } from "./bitrate_allocator.ts";
 *
 * const allocator = new BitrateAllocator({ minBps: 100_000, maxBps: 800_000, audioBps: 60_000 });
 * allocator.setEstimate("cy", 400_000, 0); // Cy's link carries 400 kbit/s
 * // Ann and Bob send video; Cy receives both: 0.9 x (400 - 60) / 2 kbit/s each.
 * assert.deepEqual(allocator.targets(["ann", "bob", "cy"], ["ann", "bob"], 100), new Map([
 *   ["ann", 153_000],
 *   ["bob", 153_000],
 * ]));
 * ```
 * @module
 */

import type { VideoLayer } from "./forwarder.ts";

/**
 * When a receiver gets a sender's small encoding, bit/s of its share: under `belowBps`; back
 * to the full one from `aboveBps` (a share hovering at the line does not switch back and
 * forth: each switch is a keyframe). The small encoding gets at most `maxBps`.
 *
 * @example
 * ```ts
 * import { SMALL_VIDEO } from "./bitrate_allocator.ts";
 * console.log(SMALL_VIDEO.belowBps); // 250000
 * ```
 */
export const SMALL_VIDEO = { belowBps: 250_000, aboveBps: 300_000, maxBps: 250_000 };

/**
 * A receiver's link found full (its WebSocket backed up:
 * {@linkcode BitrateAllocator.setDelivered}): its estimate is then at most `share` of what the
 * link delivered, growing `growth` a second (as a page's estimate grows) except while the link
 * backs up again ({@linkcode BitrateAllocator.holdDelivered}), until its own estimate is the
 * lower. The page's estimator reads a queue only once it lasts (half a second over 40 ms); a
 * WebSocket that backs up while far more is sent than read says at once that the link is full
 * and what it carries. As the cap grows past that, the queue grows slowly, and the page's
 * estimator calls it.
 *
 * @example
 * ```ts
 * import { LINK_FULL } from "./bitrate_allocator.ts";
 * console.log(LINK_FULL.share); // 0.85
 * ```
 */
export const LINK_FULL = { share: 0.85, growth: 0.08 };

/**
 * What one sender is asked to send, bit/s: its full encoding, and its small one (0: none).
 *
 * @example
 * ```ts
 * const ann: SenderAllocation = { full: 800_000, small: 140_000 };
 * ```
 */
export interface SenderAllocation {
  full: number;
  small: number;
}

/**
 * The outcome of {@linkcode BitrateAllocator.allocate}.
 *
 * @example
 * ```ts
 * const allocation: VideoAllocation = {
 *   senders: new Map([["ann", { full: 800_000, small: 0 }]]),
 *   layers: new Map([["bob", new Map([["ann", "full"]])]]),
 * };
 * ```
 */
export interface VideoAllocation {
  /** Per sender: the bitrates of its encodings. */
  senders: Map<string, SenderAllocation>;
  /** Per receiver, per sender it receives: which encoding it gets. */
  layers: Map<string, Map<string, VideoLayer>>;
}

/**
 * Options of a {@linkcode BitrateAllocator}.
 *
 * @example
 * ```ts
 * const options: BitrateAllocatorOptions = { minBps: 100_000, maxBps: 800_000 };
 * ```
 */
export interface BitrateAllocatorOptions {
  /** Least a sender is asked for, bit/s (default 50 000). */
  minBps?: number;
  /** Most a sender is allowed, bit/s (default 800 000, what our senders send at most). */
  maxBps?: number;
  /**
   * Kept out of each receiver's estimate for its audio, bit/s (default 90 000: the mix with
   * RED, 166-byte packets 50 times a second, and their overhead).
   */
  audioBps?: number;
  /** An estimate older than this no longer counts, ms (default 5000). */
  staleMs?: number;
}

/** Per-sender video bitrates from receivers' estimates (see the module documentation). */
export class BitrateAllocator {
  readonly #minBps: number;
  readonly #maxBps: number;
  readonly #audioBps: number;
  readonly #staleMs: number;
  #estimates = new Map<string, { bps: number; at: number }>();
  #uplinks = new Map<string, { bps: number; at: number }>();
  /** What each receiver's link delivered when last found full, and the time it grew not. */
  #delivered = new Map<string, { bps: number; at: number; heldMs: number }>();
  /** `${receiverId} ${senderId}` of the pairs on the small encoding (for the hysteresis). */
  #onSmall = new Set<string>();

  constructor(options: BitrateAllocatorOptions = {}) {
    this.#minBps = options.minBps ?? 50_000;
    this.#maxBps = options.maxBps ?? 800_000;
    this.#audioBps = options.audioBps ?? 90_000;
    this.#staleMs = options.staleMs ?? 5000;
  }

  /**
   * A receiver's estimate of its link, bit/s (a REMB it sent). Non-finite or negative
   * values are ignored.
   */
  setEstimate(receiverId: string, bps: number, nowMs: number): void {
    if (!Number.isFinite(bps) || bps < 0) return;
    this.#estimates.set(receiverId, { bps, at: nowMs });
  }

  /**
   * The server's estimate of a sender's uplink, bit/s (what arrives from it: its voice and
   * video). Non-finite or negative values are ignored.
   */
  setUplinkEstimate(senderId: string, bps: number, nowMs: number): void {
    if (!Number.isFinite(bps) || bps < 0) return;
    this.#uplinks.set(senderId, { bps, at: nowMs });
  }

  /**
   * A receiver's link found full: it delivered `bps` while kept busy (see
   * {@linkcode LINK_FULL}). Non-finite or non-positive values are ignored.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { BitrateAllocator } from "./bitrate_allocator.ts";
   *
   * const allocator = new BitrateAllocator();
   * allocator.setEstimate("cy", 20_000_000, 0); // Cy's page has seen no queue yet
   * allocator.setDelivered("cy", 400_000, 0); // its WebSocket backed up at 400 kbit/s
   * assert.equal(allocator.estimateOf("cy", 0), 340_000);
   * assert.equal(allocator.estimateOf("cy", 2000), 396_576); // 8% a second
   * ```
   */
  setDelivered(receiverId: string, bps: number, nowMs: number): void {
    if (!Number.isFinite(bps) || bps <= 0) return;
    this.#delivered.set(receiverId, { bps, at: nowMs, heldMs: 0 });
  }

  /**
   * A receiver's link still backs up: the cap from its last {@linkcode setDelivered} does not
   * grow over these `ms` (a cap grown past the link holds there rather than growing on until
   * the link overflows). Does nothing without a cap, or for a non-finite or negative `ms`.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { BitrateAllocator } from "./bitrate_allocator.ts";
   *
   * const allocator = new BitrateAllocator();
   * allocator.setDelivered("cy", 400_000, 0);
   * allocator.holdDelivered("cy", 1000); // backed up for a second of the two
   * assert.equal(allocator.estimateOf("cy", 2000), 367_200); // grown for one second
   * ```
   */
  holdDelivered(receiverId: string, ms: number): void {
    const full = this.#delivered.get(receiverId);
    if (full && Number.isFinite(ms) && ms > 0) full.heldMs += ms;
  }

  /** Forgets a seat (it left). */
  remove(id: string): void {
    this.#estimates.delete(id);
    this.#uplinks.delete(id);
    this.#delivered.delete(id);
    for (const pair of this.#onSmall) {
      const [receiver, sender] = pair.split(" ");
      if (receiver === id || sender === id) this.#onSmall.delete(pair);
    }
  }

  /**
   * The receiver's estimate if it still counts, bit/s: the least of its own and what its link
   * delivered when last found full ({@linkcode LINK_FULL}).
   */
  estimateOf(receiverId: string, nowMs: number): number | null {
    const e = this.#estimates.get(receiverId);
    const own = e && nowMs - e.at <= this.#staleMs ? e.bps : null;
    const full = this.#delivered.get(receiverId);
    if (!full) return own;
    const { share, growth } = LINK_FULL;
    const cap = Math.round(
      full.bps * share * (1 + growth) ** (Math.max(0, nowMs - full.at - full.heldMs) / 1000),
    );
    if (own !== null && cap >= own) {
      this.#delivered.delete(receiverId); // its own estimate rules again
      return own;
    }
    return own === null ? cap : Math.min(own, cap);
  }

  /**
   * Each video sender's bitrate when there are no small encodings: `allocate` with none
   * arriving. `receivers`: every seat that receives the meeting's video; `senders`: those
   * that send video. Everyone receives every sender but itself.
   */
  targets(receivers: readonly string[], senders: readonly string[], nowMs: number) {
    const { senders: out } = this.allocate(receivers, senders, new Set(), nowMs);
    return new Map([...out].map(([id, a]) => [id, a.full]));
  }

  /**
   * The bitrates of each sender's encodings, and which one each receiver gets of each
   * sender. `smallArriving`: the senders whose small encoding reaches the server now (a
   * receiver is put on it only then). `receivingSmall`: whether a receiver gets a sender's small
   * encoding already (the switch waits for a keyframe); until then the receiver still bounds
   * the full one, which would otherwise flood its link meanwhile (default: at once).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * const allocator = new BitrateAllocator({ audioBps: 90_000 });
   * allocator.setEstimate("cy", 400_000, 0); // 0.9 x (400 - 90) / 2 = 139.5 kbit/s a sender
   * const everyone = ["ann", "bob", "cy"];
   * // Ann's small encoding arrives, Bob's not (yet): Bob's full one must fit Cy's link.
   * const { senders, layers } = allocator.allocate(everyone, ["ann", "bob"], new Set(["ann"]), 0);
   * assert.deepEqual(senders.get("ann"), { full: 800_000, small: 139_500 });
   * assert.deepEqual(senders.get("bob"), { full: 139_500, small: 139_500 });
   * assert.equal(layers.get("cy")!.get("ann"), "small");
   * assert.equal(layers.get("bob")!.get("ann"), "full");
   * ```
   */
  allocate(
    receivers: readonly string[],
    senders: readonly string[],
    smallArriving: ReadonlySet<string>,
    nowMs: number,
    receivingSmall: (receiverId: string, senderId: string) => boolean = () => true,
  ): VideoAllocation {
    const full = new Map<string, number>();
    const smallWanted = new Map<string, number>();
    for (const sender of senders) full.set(sender, this.#maxBps);
    const layers = new Map<string, Map<string, VideoLayer>>();
    for (const receiver of receivers) {
      const from = senders.filter((s) => s !== receiver);
      const got = new Map<string, VideoLayer>();
      layers.set(receiver, got);
      if (from.length === 0) continue;
      const bps = this.estimateOf(receiver, nowMs);
      const share = bps === null
        ? Infinity
        : (0.9 * Math.max(0, bps - this.#audioBps)) / from.length;
      for (const sender of from) {
        const pair = `${receiver} ${sender}`;
        const line = this.#onSmall.has(pair) ? SMALL_VIDEO.aboveBps : SMALL_VIDEO.belowBps;
        const weak = share < line;
        if (weak) smallWanted.set(sender, Math.min(smallWanted.get(sender) ?? Infinity, share));
        if (weak && smallArriving.has(sender)) {
          this.#onSmall.add(pair);
          got.set(sender, "small");
          if (!receivingSmall(receiver, sender)) {
            full.set(sender, Math.min(full.get(sender)!, share));
          }
        } else {
          this.#onSmall.delete(pair);
          got.set(sender, "full");
          full.set(sender, Math.min(full.get(sender)!, share));
        }
      }
    }
    const clamp = (bps: number, max: number) =>
      Math.round(Math.max(this.#minBps, Math.min(max, bps)));
    const out = new Map<string, SenderAllocation>();
    for (const sender of senders) {
      const wanted = smallWanted.get(sender);
      let small = wanted === undefined ? 0 : clamp(wanted, SMALL_VIDEO.maxBps);
      let fullBps = full.get(sender)!;
      const up = this.#uplinks.get(sender);
      if (up && nowMs - up.at <= this.#staleMs) {
        // Its own uplink carries both encodings: the small one first (its receivers have
        // nothing else), up to a third of it, so that the full one never gets less than
        // the small (a short uplink had left 50 kbit/s to the full one, 150 to the small).
        const available = 0.9 * Math.max(0, up.bps - this.#audioBps);
        if (small > 0) small = clamp(Math.min(small, available / 3), SMALL_VIDEO.maxBps);
        const reserved = smallArriving.has(sender) ? small : 0;
        fullBps = Math.min(fullBps, available - reserved);
      }
      out.set(sender, { full: clamp(fullBps, this.#maxBps), small });
    }
    return { senders: out, layers };
  }
}
