/**
 * Each remote participant's connection quality as the page sees it (the bars on a tile), from
 * the last second of its video: loss, freezes, frame rate, delay and jitter. Pure: it reads
 * statistics snapshots, nothing else.
 *
 * @example
 * ```ts
 * import type { MediaStatsSnapshot } from "./page_media.ts";
 *
 * const watch = new QualityWatch();
 * function onStats(snapshot: MediaStatsSnapshot) {
 *   const byParticipant = watch.update(snapshot.remote); // { bob: "good", ... }
 *   return byParticipant;
 * }
 * ```
 * @module
 */

/** How a participant's media reaches this page now. */
export type ConnectionQuality = "good" | "fair" | "poor";

/**
 * One second of a participant's video as received.
 *
 * @example
 * ```ts
 * const sample: QualitySample = { lossPercent: 0, freezes: 0, fps: 30, delayMs: 40, jitterMs: 3 };
 * ```
 */
export interface QualitySample {
  /** Packets lost in that second, percent of those expected. */
  lossPercent: number;
  /** Freezes that began in that second. */
  freezes: number;
  fps: number;
  /** Capture to decoded, median, ms (null: not known yet). */
  delayMs: number | null;
  jitterMs: number;
}

/**
 * The quality one second reads as: `poor` when a person would see it break up (5% loss, two
 * freezes, under 3 frames a second, or 400 ms late), `fair` when they might notice (1% loss, a
 * freeze, under 8 frames a second, 200 ms late, or 30 ms of jitter), else `good`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const clean = { lossPercent: 0, freezes: 0, fps: 30, delayMs: 40, jitterMs: 2 };
 * assert.equal(connectionQuality(clean), "good");
 * assert.equal(connectionQuality({ ...clean, lossPercent: 2 }), "fair");
 * assert.equal(connectionQuality({ ...clean, freezes: 2 }), "poor");
 * ```
 */
export function connectionQuality(s: QualitySample): ConnectionQuality {
  const delay = s.delayMs ?? 0;
  if (s.lossPercent >= 5 || s.freezes >= 2 || s.fps < 3 || delay > 400) return "poor";
  if (s.lossPercent >= 1 || s.freezes >= 1 || s.fps < 8 || delay > 200 || s.jitterMs > 30) {
    return "fair";
  }
  return "good";
}

/** The counters of a received video {@linkcode QualityWatch} reads. */
export interface ReceivedVideo {
  participantId: string | null;
  packets: number;
  packetsLost: number;
  freezeCount: number;
  fps: number;
  delayP50: number | null;
  jitterMs: number;
}

/** Turns the page's statistics snapshots, one a second, into a quality per participant. */
export class QualityWatch {
  #last = new Map<string, { packets: number; packetsLost: number; freezeCount: number }>();

  /**
   * The quality of each participant whose video arrives, from what changed since the last
   * call (the first call reads the counters as they are).
   */
  update(remote: Record<string, ReceivedVideo>): Record<string, ConnectionQuality> {
    const out: Record<string, ConnectionQuality> = {};
    const seen = new Map<string, { packets: number; packetsLost: number; freezeCount: number }>();
    for (const video of Object.values(remote)) {
      const id = video.participantId;
      if (!id) continue;
      const before = this.#last.get(id) ?? { packets: 0, packetsLost: 0, freezeCount: 0 };
      const packets = Math.max(0, video.packets - before.packets);
      const lost = Math.max(0, video.packetsLost - before.packetsLost);
      seen.set(id, {
        packets: video.packets,
        packetsLost: video.packetsLost,
        freezeCount: video.freezeCount,
      });
      if (packets === 0) continue; // no video this second: nothing to judge
      out[id] = connectionQuality({
        lossPercent: (100 * lost) / (packets + lost),
        freezes: Math.max(0, video.freezeCount - before.freezeCount),
        fps: video.fps,
        delayMs: video.delayP50,
        jitterMs: video.jitterMs,
      });
    }
    this.#last = seen;
    return out;
  }
}
