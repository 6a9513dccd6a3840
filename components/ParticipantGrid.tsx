/**
 * The participants' tiles in one of two layouts: `tiles`, a grid where every tile fits (the
 * columns follow the number of people), or `speaker`, one featured tile large (the pinned
 * participant, else who spoke last) above a strip of the others. While someone shares a screen,
 * the screen takes the large area with every camera beside it (see {@linkcode sharedScreen}).
 * Tiles show the name and state; the media engine draws video into them through
 * `media.attachVideo`.
 *
 * @example
 * ```tsx
 * import type { PageMedia } from "../client/media/page_media.ts";
 * import type { ParticipantInfo } from "../meeting/participant.ts";
 *
 * function Grid({ roster, me, bobId, session, preview }: {
 *   roster: ParticipantInfo[];
 *   me: ParticipantInfo;
 *   bobId: string;
 *   session: PageMedia;
 *   preview: MediaStream | null;
 * }) {
 *   return (
 *     <ParticipantGrid participants={roster} selfId={me.id} speaking={new Set([bobId])}
 *       media={{ attachVideo: (id, el) => session.attachVideo(id, el), preview, selfVideo: true,
 *                selfAudio: true, stats: null }} />
 *   );
 * }
 * ```
 * @module
 */

import type { ConnectionQuality } from "../client/media/quality.ts";
import type { ParticipantInfo } from "../meeting/participant.ts";
import { ParticipantTile, type TileStats } from "./ParticipantTile.tsx";
import { ScreenTile } from "./ScreenTile.tsx";

/**
 * Columns for n tiles: 1, 2, 2, 2, 3 x 3, then 4.
 *
 * @example
 * ```ts
 * gridColumns(3); // 2
 * ```
 */
export function gridColumns(n: number): number {
  if (n <= 1) return 1;
  if (n <= 4) return 2;
  if (n <= 9) return 3;
  return 4;
}

/** How the tiles are laid out. */
export type GridLayout = "tiles" | "speaker";

/**
 * Who takes the large area in the speaker layout: the pinned participant, else the last one
 * heard (not yourself), else the first other participant, else yourself; null for nobody.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ParticipantInfo } from "../meeting/participant.ts";
 *
 * const people = [{ id: "a" }, { id: "b" }, { id: "c" }] as ParticipantInfo[];
 * assert.equal(featuredParticipant(people, "a", null, "c"), "c");
 * assert.equal(featuredParticipant(people, "a", "b", "c"), "b");
 * assert.equal(featuredParticipant(people, "a", null, "a"), "b");
 * ```
 */
export function featuredParticipant(
  participants: readonly ParticipantInfo[],
  selfId: string | null,
  pinnedId: string | null,
  lastSpeakerId: string | null,
): string | null {
  const here = (id: string | null) => id !== null && participants.some((p) => p.id === id);
  if (here(pinnedId)) return pinnedId;
  if (lastSpeakerId !== selfId && here(lastSpeakerId)) return lastSpeakerId;
  return participants.find((p) => p.id !== selfId)?.id ?? participants[0]?.id ?? null;
}

/**
 * Whose shared screen takes the large area: the pinned participant's if they share, else the
 * last other participant in the roster who shares (the newest share: people join in order,
 * and a presenter usually shares once), else your own; null when nobody shares.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ParticipantInfo } from "../meeting/participant.ts";
 *
 * const people = [
 *   { id: "a", screen: true }, { id: "b", screen: true }, { id: "c", screen: false },
 * ] as ParticipantInfo[];
 * assert.equal(sharedScreen(people, "a", null, true), "b");
 * assert.equal(sharedScreen(people, "c", "a", false), "a");
 * assert.equal(sharedScreen([people[2]], "c", null, true), "c");
 * ```
 */
export function sharedScreen(
  participants: readonly ParticipantInfo[],
  selfId: string | null,
  pinnedId: string | null,
  selfSharing: boolean,
): string | null {
  const sharing = (p: ParticipantInfo) => p.id === selfId ? selfSharing : p.screen;
  const pinned = participants.find((p) => p.id === pinnedId);
  if (pinned && sharing(pinned)) return pinned.id;
  const others = participants.filter((p) => p.id !== selfId && p.screen);
  if (others.length > 0) return others[others.length - 1].id;
  return selfSharing && selfId !== null ? selfId : null;
}

const COLUMNS = [
  "grid-cols-1",
  "grid-cols-1 sm:grid-cols-2",
  "grid-cols-2 sm:grid-cols-3",
  "grid-cols-2 sm:grid-cols-4",
];

/**
 * What the grid needs from the media engine (absent until it runs).
 *
 * @example
 * ```ts
 * const media: GridMedia = { attachVideo: () => {}, preview: null, selfVideo: false,
 *   selfAudio: true, stats: null };
 * ```
 */
export interface GridMedia {
  /**
   * Hands the engine a tile's video slot (`screen`: a shared screen's); keep the function
   * stable across renders.
   */
  attachVideo(participantId: string, slot: HTMLElement | null, source?: "camera" | "screen"): void;
  /** Your camera's stream. */
  preview: MediaStream | null;
  /** Your shared screen's capture, while you share. */
  screenPreview?: MediaStream | null;
  /** Your camera and microphone are on (known locally before the roster says so). */
  selfVideo: boolean;
  selfAudio: boolean;
  /** Statistics by participant id, when the stats view is on. */
  stats: Record<string, TileStats> | null;
  /** The reaction each participant sent last, while it shows (`key` changes with each). */
  reactions?: Record<string, { reaction: string; key: number }>;
  /** How each remote participant's video reaches this page (absent: no video to judge). */
  quality?: Record<string, ConnectionQuality>;
}

/**
 * The grid of tiles.
 *
 * @example
 * ```tsx
 * import type { ParticipantInfo } from "../meeting/participant.ts";
 *
 * const roster: ParticipantInfo[] = []; // from the roster event
 * <ParticipantGrid participants={roster} selfId={null} />;
 * ```
 */
export function ParticipantGrid(
  {
    participants,
    selfId,
    speaking,
    media,
    layout = "tiles",
    pinnedId = null,
    lastSpeakerId = null,
    onPin,
  }: {
    participants: ParticipantInfo[];
    selfId: string | null;
    speaking?: ReadonlySet<string>;
    media?: GridMedia | null;
    layout?: GridLayout;
    /** The participant pinned to the large area (null: none). */
    pinnedId?: string | null;
    /** Who was heard last, for the speaker layout. */
    lastSpeakerId?: string | null;
    /** Pins a participant, or unpins with null. */
    onPin?: (participantId: string | null) => void;
  },
) {
  const tile = (p: ParticipantInfo) => {
    const self = p.id === selfId;
    return (
      <ParticipantTile
        key={p.id}
        participant={p}
        self={self}
        speaking={speaking?.has(p.id) ?? false}
        videoOn={self ? (media?.selfVideo ?? false) : p.video}
        audioOn={self ? (media?.selfAudio ?? false) : p.audio}
        preview={self ? media?.preview : undefined}
        attachVideo={media?.attachVideo}
        stats={media?.stats?.[p.id] ?? null}
        reaction={media?.reactions?.[p.id]}
        quality={self ? undefined : media?.quality?.[p.id]}
        pinned={p.id === pinnedId}
        onPin={onPin && (() => onPin(p.id === pinnedId ? null : p.id))}
      />
    );
  };
  const screenId = sharedScreen(participants, selfId, pinnedId, !!media?.screenPreview);
  if (screenId !== null) {
    const sharer = participants.find((p) => p.id === screenId)!;
    return (
      <div
        class="flex-1 flex flex-col md:flex-row gap-2 min-h-[12rem]"
        data-testid="grid"
        data-layout="screen"
      >
        <div
          class="flex-1 grid min-h-0 min-w-0"
          data-testid="featured"
          data-participant-id={screenId}
        >
          <ScreenTile
            participant={sharer}
            self={screenId === selfId}
            preview={screenId === selfId ? media?.screenPreview : undefined}
            attachVideo={media?.attachVideo}
          />
        </div>
        <div
          class="shrink-0 flex md:flex-col gap-2 overflow-auto h-32 md:h-auto md:w-52"
          data-testid="strip"
        >
          {participants.map((p) => (
            <div class="w-44 md:w-full h-full md:h-32 shrink-0 grid" key={p.id}>{tile(p)}</div>
          ))}
        </div>
      </div>
    );
  }
  const featuredId = layout === "speaker"
    ? featuredParticipant(participants, selfId, pinnedId, lastSpeakerId)
    : null;
  if (featuredId !== null && participants.length > 1) {
    const featured = participants.find((p) => p.id === featuredId)!;
    return (
      <div
        class="flex-1 flex flex-col gap-2 min-h-[12rem]"
        data-testid="grid"
        data-layout="speaker"
      >
        <div class="flex-1 grid min-h-0" data-testid="featured" data-participant-id={featuredId}>
          {tile(featured)}
        </div>
        <div class="shrink-0 flex gap-2 overflow-x-auto h-32" data-testid="strip">
          {participants.filter((p) => p.id !== featuredId).map((p) => (
            <div class="w-44 shrink-0 grid" key={p.id}>{tile(p)}</div>
          ))}
        </div>
      </div>
    );
  }
  const cols = COLUMNS[gridColumns(participants.length) - 1];
  return (
    <div
      class={`flex-1 grid ${cols} gap-2 auto-rows-fr min-h-[12rem]`}
      data-testid="grid"
      data-layout="tiles"
    >
      {participants.map(tile)}
    </div>
  );
}
