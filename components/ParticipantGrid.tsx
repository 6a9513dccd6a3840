/**
 * The split-screen grid: one tile per participant, sized so every tile fits. Tiles show the
 * name and state; the media engine draws video into them.
 *
 * @example
 * ```tsx
 * <ParticipantGrid participants={roster} selfId={me.id} />
 * ```
 * @module
 */

import type { ParticipantInfo } from "../meeting/participant.ts";
import { initials } from "../client/format.ts";

/** Columns for n tiles: 1, 2, 2, 2, 3 x 3, then 4. */
export function gridColumns(n: number): number {
  if (n <= 1) return 1;
  if (n <= 4) return 2;
  if (n <= 9) return 3;
  return 4;
}

const COLUMNS = [
  "grid-cols-1",
  "grid-cols-1 sm:grid-cols-2",
  "grid-cols-2 sm:grid-cols-3",
  "grid-cols-2 sm:grid-cols-4",
];

export function ParticipantGrid(
  { participants, selfId }: { participants: ParticipantInfo[]; selfId: string | null },
) {
  const cols = COLUMNS[gridColumns(participants.length) - 1];
  return (
    <div class={`flex-1 grid ${cols} gap-2 auto-rows-fr min-h-[12rem]`} data-testid="grid">
      {participants.map((p) => (
        <div
          key={p.id}
          data-participant-id={p.id}
          data-testid="tile"
          class="relative rounded-xl bg-slate-800 overflow-hidden flex items-center justify-center min-h-[8rem]"
        >
          <span class="h-16 w-16 rounded-full bg-slate-600 text-white text-2xl font-semibold flex items-center justify-center">
            {initials(p.name)}
          </span>
          <span class="absolute left-2 bottom-2 rounded-md bg-black/60 px-2 py-0.5 text-sm text-white">
            {p.name}
            {p.id === selfId ? " (you)" : ""}
            {!p.connected && " · reconnecting…"}
          </span>
        </div>
      ))}
    </div>
  );
}
