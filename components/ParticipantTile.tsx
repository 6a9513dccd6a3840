/**
 * One participant's tile: their video (an empty slot the media engine puts its `<video>` or
 * `<canvas>` in, or the camera preview for yourself), or their initials when the camera is off; name, mic and
 * camera state, a ring while they speak, and optionally their video statistics with the way
 * their media travels (the roster's `transport`: `webtransport`, `websocket`, `udp`, `p2p`).
 *
 * Test hooks: `data-testid="tile"`, `data-participant-id`, `data-video="on|off"`, `data-hand`,
 * `data-testid="tile-reaction"`,
 * `data-speaking="true|false"`, `data-transport`, `data-testid="tile-stats"`.
 *
 * @example
 * ```tsx
 * import type { PageMedia } from "../client/media/page_media.ts";
 * import type { ParticipantInfo } from "../meeting/participant.ts";
 *
 * function Tile({ p, session }: { p: ParticipantInfo; session: PageMedia }) {
 *   return (
 *     <ParticipantTile participant={p} self={false} speaking videoOn audioOn
 *       attachVideo={(id, el) => session.attachVideo(id, el)} />
 *   );
 * }
 * ```
 * @module
 */

import { useEffect, useRef } from "preact/hooks";
import type { ParticipantInfo } from "../meeting/participant.ts";
import { initials } from "../client/format.ts";
import { formatBitrate, formatMs, formatPercent } from "../client/media/format.ts";
import type { VideoReceiverStats } from "../client/media/video_receiver.ts";
import type { ConnectionQuality } from "../client/media/quality.ts";
import { CameraIcon, HandIcon, MicIcon } from "./icons.tsx";

/**
 * What a tile shows under "stats": a remote video's receive figures, or your own send ones.
 *
 * @example
 * ```ts
 * const stats: TileStats = { kind: "send", fps: 30, bitrate: 800_000, width: 640, height: 360 };
 * ```
 */
export type TileStats =
  | ({ kind: "receive" } & VideoReceiverStats)
  | { kind: "send"; fps: number; bitrate: number; width: number; height: number };

/**
 * Props of a {@linkcode ParticipantTile}.
 *
 * @example
 * ```ts
 * import type { ParticipantInfo } from "../meeting/participant.ts";
 *
 * function selfTile(participant: ParticipantInfo, stream: MediaStream) {
 *   const props: ParticipantTileProps = { participant, self: true, speaking: false,
 *     videoOn: true, audioOn: true, preview: stream };
 *   return props;
 * }
 * ```
 */
export interface ParticipantTileProps {
  participant: ParticipantInfo;
  self: boolean;
  speaking: boolean;
  /** Whether to show video (their camera is on). */
  videoOn: boolean;
  audioOn: boolean;
  /** Your camera's stream, for your own tile. */
  preview?: MediaStream | null;
  /** Receives the video slot of a remote tile by participant id (and null when it goes). */
  attachVideo?: (participantId: string, slot: HTMLElement | null) => void;
  stats?: TileStats | null;
  /** The reaction to float over the tile now, if any (`key` tells one sending from the next). */
  reaction?: { reaction: string; key: number };
  /** How this participant's video reaches us now (bars on the tile), when known. */
  quality?: ConnectionQuality;
  /** Whether this participant is pinned to the large area. */
  pinned?: boolean;
  /** Pins or unpins this participant (no pin button without it). */
  onPin?: () => void;
}

/**
 * A grid tile.
 *
 * @example
 * ```tsx
 * import type { ParticipantInfo } from "../meeting/participant.ts";
 *
 * function SelfTile({ me, stream }: { me: ParticipantInfo; stream: MediaStream }) {
 *   return (
 *     <ParticipantTile participant={me} self speaking={false} videoOn audioOn preview={stream} />
 *   );
 * }
 * ```
 */
export function ParticipantTile(
  {
    participant: p,
    self,
    speaking,
    videoOn,
    audioOn,
    preview,
    attachVideo,
    stats,
    reaction,
    pinned,
    onPin,
    quality,
  }: ParticipantTileProps,
) {
  const root = useRef<HTMLDivElement>(null);
  const video = useRef<HTMLVideoElement>(null);
  useEffect(() => {
    const el = video.current;
    if (el && el.srcObject !== (preview ?? null)) el.srcObject = preview ?? null;
  }, [preview, videoOn]);
  const slot = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (self || !attachVideo) return;
    attachVideo(p.id, slot.current);
    return () => attachVideo(p.id, null);
  }, [attachVideo, p.id, self]);

  const showVideo = videoOn && (!self || !!preview);
  return (
    <div
      ref={root}
      data-testid="tile"
      data-participant-id={p.id}
      data-pinned={pinned ? "true" : "false"}
      data-video={showVideo ? "on" : "off"}
      data-speaking={speaking ? "true" : "false"}
      data-transport={p.transport ?? "none"}
      data-hand={p.handRaised ? "true" : "false"}
      class={`relative rounded-xl bg-slate-800 overflow-hidden flex items-center justify-center min-h-[8rem] transition-shadow ${
        speaking ? "ring-4 ring-emerald-400" : "ring-0"
      }`}
    >
      {!self && (
        // Filled by the media engine; Preact renders no children here.
        <div
          ref={slot}
          data-testid="video-slot"
          class={`absolute inset-0 bg-black ${showVideo ? "" : "hidden"}`}
        />
      )}
      {self && showVideo && (
        <video
          ref={video}
          autoPlay
          muted
          playsInline
          class="absolute inset-0 h-full w-full object-contain bg-black -scale-x-100"
        />
      )}
      {!showVideo && (
        <span class="h-16 w-16 rounded-full bg-slate-600 text-white text-2xl font-semibold flex items-center justify-center">
          {initials(p.name)}
        </span>
      )}
      <span class="absolute left-2 bottom-2 flex items-center gap-1.5 rounded-md bg-black/60 px-2 py-0.5 text-sm text-white max-w-[calc(100%-1rem)]">
        <span
          class={audioOn ? "text-white" : "text-red-400"}
          title={audioOn ? "Microphone on" : "Microphone off"}
          data-testid="tile-mic"
          data-on={audioOn ? "true" : "false"}
        >
          <MicIcon class="h-4 w-4" off={!audioOn} />
        </span>
        {!videoOn && (
          <span class="text-red-400" title="Camera off">
            <CameraIcon class="h-4 w-4" off />
          </span>
        )}
        {quality && <QualityBars quality={quality} />}
        <span class="truncate">
          {p.name}
          {self ? " (you)" : ""}
          {!p.connected && " · reconnecting…"}
        </span>
      </span>
      {p.handRaised && (
        <span
          class="absolute left-2 top-2 rounded-md bg-amber-400 p-1 text-slate-900"
          role="img"
          aria-label="Hand raised"
          data-testid="tile-hand"
        >
          <HandIcon class="h-5 w-5" />
        </span>
      )}
      {reaction && (
        <span
          key={reaction.key}
          class="absolute right-3 bottom-10 text-4xl animate-bounce pointer-events-none"
          role="img"
          aria-label={`Reaction ${reaction.reaction}`}
          data-testid="tile-reaction"
        >
          {reaction.reaction}
        </span>
      )}
      <span class="absolute right-2 top-2 flex gap-1">
        {onPin && (
          <button
            type="button"
            class={`rounded-md px-2 py-0.5 text-xs font-medium focus:outline-none focus-visible:ring-2 focus-visible:ring-emerald-400 ${
              pinned ? "bg-emerald-700 text-white" : "bg-black/60 text-white hover:bg-black/80"
            }`}
            aria-pressed={pinned ? "true" : "false"}
            aria-label={`${pinned ? "Unpin" : "Pin"} ${p.name}`}
            data-testid="tile-pin"
            onClick={onPin}
          >
            {pinned ? "Pinned" : "Pin"}
          </button>
        )}
        <button
          type="button"
          class="rounded-md bg-black/60 px-2 py-0.5 text-xs font-medium text-white hover:bg-black/80 focus:outline-none focus-visible:ring-2 focus-visible:ring-emerald-400"
          aria-label={`Show ${p.name} full screen`}
          data-testid="tile-fullscreen"
          onClick={() =>
            document.fullscreenElement === root.current
              ? document.exitFullscreen().catch(() => {})
              : root.current?.requestFullscreen?.().catch(() => {})}
        >
          Full screen
        </button>
      </span>
      {stats && <TileStatsBox stats={stats} transport={p.transport ?? "none"} />}
    </div>
  );
}

const BARS: Record<ConnectionQuality, { filled: number; color: string; words: string }> = {
  good: { filled: 3, color: "bg-emerald-400", words: "good" },
  fair: { filled: 2, color: "bg-amber-400", words: "fair" },
  poor: { filled: 1, color: "bg-red-500", words: "poor" },
};

/** Three bars: how the participant's video reaches this page. */
function QualityBars({ quality }: { quality: ConnectionQuality }) {
  const { filled, color, words } = BARS[quality];
  return (
    <span
      class="flex items-end gap-px h-3.5"
      role="img"
      aria-label={`Connection ${words}`}
      title={`Connection ${words}`}
      data-testid="tile-quality"
      data-quality={quality}
    >
      {[1, 2, 3].map((n) => (
        <span
          key={n}
          class={`w-1 rounded-sm ${n <= filled ? color : "bg-white/30"}`}
          style={{ height: `${n * 33}%` }}
        />
      ))}
    </span>
  );
}

function TileStatsBox({ stats, transport }: { stats: TileStats; transport: string }) {
  const figures: [string, string][] = stats.kind === "send"
    ? [
      ["sending", `${stats.width}×${stats.height} · ${stats.fps.toFixed(0)} fps`],
      ["bitrate", formatBitrate(stats.bitrate)],
    ]
    : [
      ["decoded", `${stats.width}×${stats.height} · ${stats.fps.toFixed(0)} fps`],
      ["bitrate", formatBitrate(stats.bitrate)],
      ["loss", `${formatPercent(stats.lossPercent)} (${stats.packetsLost})`],
      ["jitter", formatMs(stats.jitterMs)],
      ["delay p50", formatMs(stats.delayP50)],
      ["frames", `${stats.framesDecoded} · ${stats.framesDropped} dropped`],
    ];
  const rows: [string, string][] = [["media", transport], ...figures];
  return (
    <dl
      class="absolute right-2 top-9 grid grid-cols-[auto_auto] gap-x-2 rounded-md bg-black/70 px-2 py-1 text-[11px] leading-4 text-white font-mono"
      data-testid="tile-stats"
    >
      {rows.map(([k, v]) => (
        <>
          <dt class="text-slate-300">{k}</dt>
          <dd class="text-right">{v}</dd>
        </>
      ))}
    </dl>
  );
}
