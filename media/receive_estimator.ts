/**
 * How many bits a second a receiver's link carries, estimated from what arrives on it: the
 * receiver's side of rate control. It watches every media packet (audio and video, every
 * sender: they share the link) and tells the senders, through REMB, the most they should
 * send. Two signals, either one enough:
 *
 * - queueing: each packet's one-way delay (arrival minus the sender's capture time) against
 *   the least delay of its stream over the last 10 s (per stream: each sender has its own
 *   clock, whose offset cancels). The least delay of the last 200 ms above that is what the
 *   queue adds: jitter only ever adds delay, so the least of many packets sees through it,
 *   while a queue in front of a slow link delays them all. The link's figure is the least
 *   of its streams', and it must stay above 40 ms for half a second: a sender's encoder that
 *   falls behind for a moment (a keyframe, a busy CPU) delays its capture-to-arrival too, and
 *   one such moment at a join had held every sender at 60 kbit/s for half a minute;
 * - loss: more than 10% of the packets missing in each of the last two seconds (tail drops of
 *   a full queue; one lossy second is as often a carrier change or a busy moment), on the link
 *   or on any one stream that had at least 20 packets in the second: a link just about full
 *   loses the tail of each keyframe burst, which the audio's steady packets had hidden in the
 *   link's share (a 400 kbit/s receiver read 0.8 fps, asking for keyframe after keyframe, and
 *   no overuse).
 *
 * Until the first overuse the estimate is `maxBps`: a link that never queued constrains no
 * one (senders whose encoders send less than they may would otherwise hold each other down).
 * On a queue, the estimate becomes 85% of what arrived in the last second; on loss alone, it is
 * first held to twice what arrives plus 100 kbit/s, then loses half the loss rate (the senders may
 * have sent little: what arrived is not what the link carries). Either way it stays there for a
 * second; then it grows by 8% a second (2% within 15% of where the last drop left it, and up to
 * 10% past what arrived when the link was last found full). After an overuse it stays within 1.5 x
 * what arrives plus 100 kbit/s (a link is only known to carry what was sent on it): a link that
 * got better is found again as the senders send more, step by step, until it queues or not.
 * (Growing freely 10 s after an overuse, a 400 kbit/s receiver on the senders' small encodings
 * read 750 kbit/s in 12 s on what it had not been sent, was moved back to their full ones, and its
 * WebSocket backed up for seconds.) The estimate is never below what has arrived for a second
 * without a queue: that much the link carries. While nothing arrives the queue is unknown: no
 * overuse; packets back after 2 s of nothing are a start again (warm-up, delays and sequence
 * numbers afresh).
 *
 * Pure: time is passed in.
 *
 * @example
 * ```ts
 * import { ReceiveEstimator } from "./receive_estimator.ts";
 *
 * const estimator = new ReceiveEstimator();
 * // For each RTP packet: its SSRC, sequence number, size, capture time (ms, the sender's
 * // clock; null if it carries none) and arrival time (ms, ours).
 * estimator.packet(0x1234, 1, 1200, 1000, 1040);
 * const bps = estimator.update(1250); // every 250 ms or so; send it as a REMB
 * ```
 * @module
 */

/** Queueing delay (least delay of the last 200 ms above that of the last 10 s) that means overuse, ms. */
export const OVERUSE_QUEUE_MS = 40;
/** A gap without readings this short does not end a queue read above the threshold, ms. */
const UNKNOWN_QUEUE_HOLD_MS = 1000;
/** How long the queueing delay must stay above OVERUSE_QUEUE_MS to mean overuse, ms. */
export const OVERUSE_FOR_MS = 500;
/** Share of the last second's packets missing that means overuse. */
export const OVERUSE_LOSS = 0.1;
/** A stream's own loss counts once it had this many packets in the second. */
const LOSS_STREAM_PACKETS = 20;
/** The estimate after an overuse, as a share of what arrived. */
const DECREASE = 0.85;
/** Growth per second when not near the last overuse, and near it. */
const GROWTH_FAR = 0.08;
const GROWTH_NEAR = 0.02;
/** Growth is slow up to this much past what arrived when the link was last full. */
const NEAR_FULL = 1.1;
/**
 * Growth per second once the link has been quiet (no queue above QUIET_QUEUE_MS, no loss
 * overuse) for QUIET_MS and the estimate is 30% past where it last dropped: the link carries
 * more than that overuse said. An overuse read while a busy machine held packets back (a
 * join, a page starting) had cut a sender to 60 kbit/s; at 8% a second it took half a
 * minute to climb back. Near the drop it stays slow: a link that is full there queues again.
 */
const GROWTH_QUIET = 0.25;
const QUIET_QUEUE_MS = 10;
const QUIET_MS = 3000;
/** How long a quiet link must carry what arrives before the estimate is at least that, ms. */
const FLOOR_QUIET_MS = 1000;
/** No growth for this long after a decrease, ms (the senders need a round trip to follow). */
const HOLD_MS = 1000;
/** The shortest time between two decreases, ms. */
const DECREASE_INTERVAL_MS = 500;
/** Window of the incoming rate and of the loss, ms. */
const RATE_WINDOW_MS = 1000;
/** Window of the recent least delay, ms. */
const RECENT_MS = 200;
/** Window of the base (least) delay, ms, kept as minima of 1 s slots. */
const BASE_SLOTS = 10;
/**
 * Bytes a packet takes on the wire beyond the RTP payload it is counted by: RTP header and
 * extension, QUIC or TCP framing, UDP and IP. The link carries these too.
 */
export const PACKET_OVERHEAD_BYTES = 60;
/** A change of a stream's delay this large is its clock jumping, not a queue, ms. */
const CLOCK_JUMP_MS = 10_000;
/**
 * Nothing arriving for this long, then packets again, is a start again, ms: the warm-up runs
 * again and delays are measured afresh. (In a meeting that went P2P between a second and a
 * third join, the senders came back to the server amid the third page's start and read
 * queues of 0.5-2 s against their delays from before.)
 */
const RESTART_GAP_MS = 2000;
/** Streams whose loss is followed, at most. */
const MAX_STREAMS = 32;

/**
 * Options of a {@linkcode ReceiveEstimator}.
 *
 * @example
 * ```ts
 * new ReceiveEstimator({ minBps: 100_000, maxBps: 10_000_000 });
 * ```
 */
export interface ReceiveEstimatorOptions {
  /** Least estimate, bit/s (default 64 000). */
  minBps?: number;
  /** Largest estimate, bit/s (default 20 000 000). */
  maxBps?: number;
  /** Queueing delay that means overuse, ms (default {@linkcode OVERUSE_QUEUE_MS}). */
  overuseQueueMs?: number;
  /** ... when it lasts this long, ms (default {@linkcode OVERUSE_FOR_MS}). */
  overuseForMs?: number;
  /** The queue is not read for this long after the first packet, ms (default 0). */
  warmupMs?: number;
  /**
   * How long after an overuse the estimate grows no further than 1.5 x what arrives + 100
   * kbit/s, ms (default: for good). A shorter time lets it grow freely again, unproven: for
   * a sender's uplink, where one false reading on a busy machine would otherwise hold a sender
   * whose camera sends less than it may near what it sends.
   */
  cappedForMs?: number;
}

/**
 * What the estimator sees and thinks.
 *
 * @example
 * ```ts
 * const { estimateBps, incomingBps, queueMs } = new ReceiveEstimator().stats;
 * ```
 */
export interface ReceiveEstimatorStats {
  estimateBps: number;
  /** Bits a second that arrived over the last second (payloads and their packets' overhead). */
  incomingBps: number;
  /** The queueing delay now, ms (null until packets with capture times came). */
  queueMs: number | null;
  /** Share of the last second's packets missing (0..1). */
  loss: number;
  /** Times the link was found overused. */
  overuses: number;
  /** Of them, those the loss alone told (the rest: the queue). */
  lossOveruses: number;
}

interface Stream {
  highest: number;
  /** Highest extended sequence number at the start of the current window. */
  windowStart: number;
  /** Packets that arrived since the window started (resends included). */
  received: number;
  /** (arrival ms, delay ms) of the last 200 ms. */
  recent: { at: number; delay: number }[];
  /** Least delay per 1 s slot, newest last. */
  baseSlots: { slot: number; min: number }[];
}

/** The receive-side estimate of one link (see the module documentation). */
export class ReceiveEstimator {
  readonly #minBps: number;
  readonly #maxBps: number;
  #estimate: number | null = null;
  /** (arrival ms, bytes) of the last second. */
  #arrivals: { at: number; bytes: number }[] = [];
  #bytesInWindow = 0;
  #streams = new Map<number, Stream>();
  #receivedInWindow = 0;
  #windowStartMs: number | null = null;
  #loss = 0;
  /** The loss of the window before. */
  #lossBefore = 0;
  #queueMs: number | null = null;
  readonly #overuseQueueMs: number;
  readonly #overuseForMs: number;
  readonly #warmupMs: number;
  readonly #cappedForMs: number;
  /** When the first packet came (after the last silence of RESTART_GAP_MS). */
  #firstAt: number | null = null;
  #lastArrival: number | null = null;
  /** When the queue was last read above the overuse threshold. */
  #lastQueuedAt = -Infinity;
  /** Since when the queue has been above the overuse threshold (null: it is not). */
  #queuedSince: number | null = null;
  #lastUpdate: number | null = null;
  #lastDecrease = -Infinity;
  #decreasedAt: number | null = null;
  /** What arrived when the link last queued: what it carries, full (null before). */
  #fullAt: number | null = null;
  /** Since when the queue has stayed under QUIET_QUEUE_MS (null: it is above it now). */
  #quietSince: number | null = null;
  #overuses = 0;
  #lossOveruses = 0;

  constructor(options: ReceiveEstimatorOptions = {}) {
    this.#minBps = options.minBps ?? 64_000;
    this.#maxBps = options.maxBps ?? 20_000_000;
    this.#overuseQueueMs = options.overuseQueueMs ?? OVERUSE_QUEUE_MS;
    this.#overuseForMs = options.overuseForMs ?? OVERUSE_FOR_MS;
    this.#warmupMs = options.warmupMs ?? 0;
    this.#cappedForMs = options.cappedForMs ?? Infinity;
  }

  /** The current estimate, bit/s (null until the first update with packets). */
  get estimateBps(): number | null {
    return this.#estimate;
  }

  /** A snapshot of the signals. */
  get stats(): ReceiveEstimatorStats {
    return {
      estimateBps: Math.round(this.#estimate ?? 0),
      incomingBps: Math.round(this.#incoming()),
      queueMs: this.#queueMs,
      loss: this.#loss,
      overuses: this.#overuses,
      lossOveruses: this.#lossOveruses,
    };
  }

  /**
   * Takes one arriving RTP packet. `captureMs` is when its sender captured or sent it, ms on
   * the sender's own clock (the capture-time extension, or an audio stream's RTP timestamp /
   * 48: a steady clock, without a video encoder's varying delay; null when there is none);
   * `arrivalMs` ours. A stream whose delay jumps by more than 10 s (a clock that wrapped or
   * restarted) is measured afresh.
   */
  packet(ssrc: number, seq: number, bytes: number, captureMs: number | null, arrivalMs: number) {
    if (this.#lastArrival !== null && arrivalMs - this.#lastArrival >= RESTART_GAP_MS) {
      // Back after a silence (a meeting gone P2P and back to relay, a reconnect): a start
      // again, warm-up included, measured afresh (the path may not be the one it was; the
      // sequence numbers sent elsewhere meanwhile are no loss).
      this.#firstAt = null;
      this.#streams.clear();
    }
    this.#lastArrival = arrivalMs;
    const wire = bytes + PACKET_OVERHEAD_BYTES;
    this.#arrivals.push({ at: arrivalMs, bytes: wire });
    this.#bytesInWindow += wire;
    this.#receivedInWindow++;
    this.#windowStartMs ??= arrivalMs;
    this.#firstAt ??= arrivalMs;
    let stream = this.#streams.get(ssrc);
    if (!stream) {
      if (this.#streams.size >= MAX_STREAMS) return;
      stream = { highest: seq, windowStart: seq - 1, received: 1, recent: [], baseSlots: [] };
      this.#streams.set(ssrc, stream);
    } else {
      stream.received++;
      const diff = ((seq - (stream.highest & 0xffff) + 0x8000) & 0xffff) - 0x8000;
      if (diff > 0 && diff < 3000) stream.highest += diff;
      else if (diff >= 3000 || diff < -3000) stream.highest = stream.windowStart = seq; // restarted
      // A resend or a late packet says nothing of the queue now (a resend keeps its stamp).
      else return;
    }
    if (captureMs === null) return;
    const delay = arrivalMs - captureMs;
    if (!Number.isFinite(delay)) return;
    const base = stream.baseSlots.reduce((m, b) => Math.min(m, b.min), Infinity);
    if (base < Infinity && Math.abs(delay - base) > CLOCK_JUMP_MS) {
      stream.recent = [];
      stream.baseSlots = [];
    }
    stream.recent.push({ at: arrivalMs, delay });
    const slot = Math.floor(arrivalMs / 1000);
    const last = stream.baseSlots.at(-1);
    if (last && last.slot === slot) last.min = Math.min(last.min, delay);
    else {
      stream.baseSlots.push({ slot, min: delay });
      while (stream.baseSlots.length > BASE_SLOTS) stream.baseSlots.shift();
    }
  }

  /** Updates the estimate and returns it, bit/s (null while nothing arrived). Call every 100-500 ms. */
  update(nowMs: number): number | null {
    while (this.#arrivals.length && this.#arrivals[0].at <= nowMs - RATE_WINDOW_MS) {
      this.#bytesInWindow -= this.#arrivals.shift()!.bytes;
    }
    const incoming = this.#incoming();
    const dt = this.#lastUpdate === null ? 0 : Math.max(0, nowMs - this.#lastUpdate);
    this.#lastUpdate = nowMs;
    if (this.#windowStartMs !== null && nowMs - this.#windowStartMs >= RATE_WINDOW_MS) {
      let expected = 0;
      let worst = 0;
      for (const s of this.#streams.values()) {
        const wanted = Math.max(0, s.highest - s.windowStart);
        expected += wanted;
        if (wanted >= LOSS_STREAM_PACKETS) worst = Math.max(worst, 1 - s.received / wanted);
        s.windowStart = s.highest;
        s.received = 0;
      }
      this.#lossBefore = this.#loss;
      const link = expected > 0 ? Math.max(0, 1 - this.#receivedInWindow / expected) : 0;
      this.#loss = Math.max(link, worst);
      this.#receivedInWindow = 0;
      this.#windowStartMs = nowMs;
    }
    let queue: number | null = null;
    for (const s of this.#streams.values()) {
      while (s.recent.length && s.recent[0].at <= nowMs - RECENT_MS) s.recent.shift();
      if (s.recent.length === 0) continue;
      let recent = Infinity, base = Infinity;
      for (const r of s.recent) recent = Math.min(recent, r.delay);
      for (const b of s.baseSlots) base = Math.min(base, b.min);
      queue = Math.min(queue ?? Infinity, recent - base);
    }
    // Nothing arrived in the last 200 ms: the queue is unknown, not what it last was (a
    // sender whose meeting went P2P, sending nothing to the server, had been found overused on
    // the stale reading and cut to the least estimate, from nothing arriving).
    this.#queueMs = queue;
    if (this.#estimate === null) {
      if (incoming <= 0) return null;
      this.#estimate = this.#maxBps;
    }
    const warm = this.#firstAt !== null && nowMs - this.#firstAt >= this.#warmupMs;
    const queued = warm && this.#queueMs !== null && this.#queueMs > this.#overuseQueueMs;
    const calm = (this.#queueMs ?? 0) <= QUIET_QUEUE_MS && this.#loss <= OVERUSE_LOSS;
    if (!calm) this.#quietSince = null;
    else this.#quietSince ??= nowMs;
    // A queue read high, then nothing for a moment, then high again is one queue: a TCP link
    // (the WebSocket) delivers a full queue in bursts, with gaps in which nothing arrives,
    // and each gap had started the half second over (a page on a 400 kbit/s WebSocket read
    // 2-4.5 s of queue and never an overuse). Only a reading under the threshold, or a gap
    // longer than UNKNOWN_QUEUE_HOLD_MS, ends it.
    if (queued) {
      this.#queuedSince ??= nowMs;
      this.#lastQueuedAt = nowMs;
    } else if (this.#queueMs !== null || nowMs - this.#lastQueuedAt > UNKNOWN_QUEUE_HOLD_MS) {
      this.#queuedSince = null;
    }
    // Overused once the queue has been read high at both ends of the half second (a stall
    // followed by silence is not a full link), and only while something arrives (a link that
    // went quiet, a meeting gone P2P, is not full).
    const queueOverused = this.#queuedSince !== null && incoming > 0 &&
      this.#lastQueuedAt - this.#queuedSince >= this.#overuseForMs;
    // Loss in two windows running: one lossy second is as often a carrier change or a
    // busy moment as a full queue.
    const lossOverused = this.#loss > OVERUSE_LOSS && this.#lossBefore > OVERUSE_LOSS;
    const overused = queueOverused || lossOverused;
    if (overused && nowMs - this.#lastDecrease >= DECREASE_INTERVAL_MS) {
      this.#overuses++;
      this.#lastDecrease = nowMs;
      if (queueOverused) {
        // What arrived is what the link carried (it was full): not the lowest figure seen,
        // or each overuse that lasts while the senders can go no lower would ratchet it down.
        this.#estimate = this.#clamp(incoming * DECREASE);
        this.#fullAt = incoming;
      } else {
        // Loss alone does not say the link is full (the senders may be sending little): a
        // link that loses this much is not known to carry much more than what it carries,
        // and each decrease takes half the loss off.
        this.#lossOveruses++;
        const known = Math.min(this.#estimate, incoming * 2 + 100_000);
        this.#estimate = this.#clamp(known * (1 - this.#loss / 2));
      }
      this.#decreasedAt = this.#estimate;
    } else if (!overused && nowMs - this.#lastDecrease >= HOLD_MS) {
      // Slowly up to a little past what the link carried when it was last found full (not
      // just past the estimate after the drop, 85% of it: from there 8% a second overshot a
      // 400 kbit/s link within seconds, filled its 200 ms queue before the delay was read
      // and lost frames, 6-13 freezes a minute).
      const near = this.#decreasedAt !== null &&
        this.#estimate < Math.max(this.#decreasedAt * 1.15, (this.#fullAt ?? 0) * NEAR_FULL);
      const quiet = this.#quietSince !== null && nowMs - this.#quietSince >= QUIET_MS &&
        (this.#decreasedAt === null || this.#estimate > this.#decreasedAt * 1.3);
      const rate = quiet ? GROWTH_QUIET : near ? GROWTH_NEAR : GROWTH_FAR;
      const grown = this.#estimate * (1 + rate * dt / 1000);
      const capped = this.#overuses > 0 && nowMs - this.#lastDecrease < this.#cappedForMs;
      const cap = capped ? Math.max(this.#estimate, incoming * 1.5 + 100_000) : Infinity;
      this.#estimate = this.#clamp(Math.min(grown, cap));
    }
    // A link that has carried what arrives for a while without a queue carries at least that:
    // an estimate below it was cut by a stall, not by the link (the senders, held down only
    // to their least bitrates, had sent 4x the estimate for 10 s without a queue).
    if (
      !overused && this.#quietSince !== null && nowMs - this.#quietSince >= FLOOR_QUIET_MS &&
      incoming > this.#estimate
    ) {
      this.#estimate = this.#clamp(incoming);
    }
    return this.#estimate;
  }

  #incoming(): number {
    return (this.#bytesInWindow * 8 * 1000) / RATE_WINDOW_MS;
  }

  #clamp(bps: number): number {
    return Math.max(this.#minBps, Math.min(this.#maxBps, bps));
  }
}
