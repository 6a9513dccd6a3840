/**
 * The session's media statistics, for the stats view: what is sent, what is received, and
 * how the audio playout is doing.
 *
 * @example
 * ```tsx
 * import type { MediaStatsSnapshot } from "../client/media/page_media.ts";
 *
 * function Stats({ snapshot }: { snapshot: MediaStatsSnapshot }) {
 *   return <StatsPanel stats={snapshot.session} />;
 * }
 * ```
 * @module
 */

import type { PageMediaStats } from "../client/media/page_media.ts";
import { formatBitrate, formatMs, formatPercent } from "../client/media/format.ts";

/**
 * A compact table of session figures.
 *
 * @example
 * ```tsx
 * import type { MediaStatsSnapshot } from "../client/media/page_media.ts";
 *
 * function Sidebar({ snapshot }: { snapshot: MediaStatsSnapshot | null }) {
 *   return <aside>{snapshot && <StatsPanel stats={snapshot.session} />}</aside>;
 * }
 * ```
 */
export function StatsPanel(
  { stats, transport }: {
    stats: PageMediaStats;
    /** The media carrier: `webtransport`, `websocket` or `p2p`. */
    transport?: string;
  },
) {
  const a = stats.audio;
  const rows: [string, string][] = [
    ...(transport ? [["transport", transport] as [string, string]] : []),
    [
      "send",
      `${formatBitrate(stats.sendBitrate)} (video ${formatBitrate(stats.videoSendBitrate)})`,
    ],
    ["encode", `${stats.encodeFps.toFixed(0)} fps · ${stats.keyframesSent} keyframes`],
    ["receive", formatBitrate(stats.receiveBitrate)],
    ["round trip", formatMs(stats.rttMs)],
    ["audio delay", `${formatMs(a.delayP50)} p50 · ${formatMs(a.delayP95)} p95`],
    ["audio buffer", `${formatMs(a.depthMs)} (target ${formatMs(a.targetMs)})`],
    ["audio loss", `${formatPercent(a.lossPercent)} · jitter ${formatMs(a.jitterMs)}`],
    ["concealed", `${formatPercent(a.concealedPercent)} · ${a.stalls} stalls`],
    [
      "audio output",
      `${formatMs(a.outputLatencyMs)}${a.lowLatencyOutput ? " (low latency)" : ""}` +
      (a.underruns === null ? "" : ` · ${a.underruns} glitches`),
    ],
    ["playback level", a.rms > 0 ? `${a.rmsDb.toFixed(0)} dBFS` : "silent"],
  ];
  return (
    <dl
      class="grid grid-cols-[auto_1fr] gap-x-3 gap-y-0.5 rounded-lg bg-slate-900 px-3 py-2 text-xs text-white font-mono"
      data-testid="session-stats"
    >
      {rows.map(([k, v]) => (
        <>
          <dt class="text-slate-500">{k}</dt>
          <dd>{v}</dd>
        </>
      ))}
    </dl>
  );
}
