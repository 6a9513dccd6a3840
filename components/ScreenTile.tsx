/**
 * A shared screen, shown large: a remote participant's (an empty slot the media engine draws
 * into, through `attachVideo(id, el, "screen")`) or your own (your capture, so you see what
 * the others see). Never mirrored: it carries text.
 *
 * Test hooks: `data-testid="screen-tile"`, `data-participant-id`, `data-self`.
 *
 * @example
 * ```tsx
 * import type { PageMedia } from "../client/media/page_media.ts";
 * import type { ParticipantInfo } from "../meeting/participant.ts";
 *
 * function Shared({ ann, session }: { ann: ParticipantInfo; session: PageMedia }) {
 *   return (
 *     <ScreenTile participant={ann} self={false}
 *       attachVideo={(id, el, source) => session.attachVideo(id, el, source)} />
 *   );
 * }
 * ```
 * @module
 */

import { useEffect, useRef } from "preact/hooks";
import type { ParticipantInfo } from "../meeting/participant.ts";

/**
 * Props of a {@linkcode ScreenTile}.
 *
 * @example
 * ```ts
 * import type { ParticipantInfo } from "../meeting/participant.ts";
 *
 * function mine(me: ParticipantInfo, capture: MediaStream): ScreenTileProps {
 *   return { participant: me, self: true, preview: capture };
 * }
 * ```
 */
export interface ScreenTileProps {
  participant: ParticipantInfo;
  self: boolean;
  /** Your own capture, for your own share. */
  preview?: MediaStream | null;
  /** Hands the engine the slot of a remote screen (and null when it goes). */
  attachVideo?: (participantId: string, slot: HTMLElement | null, source: "screen") => void;
}

/**
 * The tile of one shared screen.
 *
 * @example
 * ```tsx
 * import type { ParticipantInfo } from "../meeting/participant.ts";
 *
 * function Mine({ me, capture }: { me: ParticipantInfo; capture: MediaStream }) {
 *   return <ScreenTile participant={me} self preview={capture} />;
 * }
 * ```
 */
export function ScreenTile({ participant: p, self, preview, attachVideo }: ScreenTileProps) {
  const root = useRef<HTMLDivElement>(null);
  const slot = useRef<HTMLDivElement>(null);
  const video = useRef<HTMLVideoElement>(null);
  useEffect(() => {
    if (self || !attachVideo) return;
    attachVideo(p.id, slot.current, "screen");
    return () => attachVideo(p.id, null, "screen");
  }, [attachVideo, p.id, self]);
  useEffect(() => {
    const el = video.current;
    if (el && el.srcObject !== (preview ?? null)) el.srcObject = preview ?? null;
  }, [preview]);
  return (
    <div
      ref={root}
      data-testid="screen-tile"
      data-participant-id={p.id}
      data-self={self ? "true" : "false"}
      class="relative rounded-xl bg-black overflow-hidden min-h-[8rem]"
    >
      {self
        ? (
          <video
            ref={video}
            autoPlay
            muted
            playsInline
            class="absolute inset-0 h-full w-full object-contain"
          />
        )
        : <div ref={slot} data-testid="screen-slot" class="absolute inset-0" />}
      <span class="absolute left-2 bottom-2 rounded-md bg-black/60 px-2 py-0.5 text-sm text-white truncate max-w-[calc(100%-1rem)]">
        {self ? "Your screen (what the others see)" : `${p.name}'s screen`}
      </span>
      <button
        type="button"
        class="absolute right-2 top-2 rounded-md bg-black/60 px-2 py-0.5 text-xs font-medium text-white hover:bg-black/80 focus:outline-none focus-visible:ring-2 focus-visible:ring-emerald-400"
        aria-label={`Show ${self ? "your" : `${p.name}'s`} screen full screen`}
        data-testid="screen-fullscreen"
        onClick={() =>
          document.fullscreenElement === root.current
            ? document.exitFullscreen().catch(() => {})
            : root.current?.requestFullscreen?.().catch(() => {})}
      >
        Full screen
      </button>
    </div>
  );
}
