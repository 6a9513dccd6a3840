/**
 * What changed from one roster to the next, as clients tell their user: the terminal client
 * prints it, the page announces it to screen readers.
 *
 * @example
 * ```ts
 * import type { ParticipantInfo } from "./participant.ts";
 *
 * function announce(before: ParticipantInfo[], after: ParticipantInfo[]) {
 *   for (const c of rosterChanges(before, after)) console.log(c.participant.name, c.change);
 * }
 * ```
 * @module
 */

import type { ParticipantInfo } from "./participant.ts";

/**
 * One change between two rosters.
 *
 * @example
 * ```ts
 * import type { ParticipantInfo } from "./participant.ts";
 *
 * const bob: ParticipantInfo = { id: "b", name: "Bob", isCreator: false, isHost: false, joinedAt: 0,
 *   connected: true, audioSsrc: 3, videoSsrc: 4, screenSsrc: 5, audio: true, video: false,
 *   screen: false, kind: "client", p2p: null, transport: "udp", handRaised: false };
 * const change: RosterChange = { change: "joined", participant: bob };
 * ```
 */
export interface RosterChange {
  change:
    | "joined"
    | "left"
    | "reconnecting"
    | "back"
    | "media"
    | "hand_up"
    | "hand_down"
    | "screen_on"
    | "screen_off";
  participant: ParticipantInfo;
}

/**
 * What changed from one roster to the next: who joined, left, lost the connection, came
 * back, switched the microphone or camera, raised or lowered a hand, began or stopped sharing
 * a screen.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const ann = { id: "a", name: "Ann", isCreator: true, isHost: true, joinedAt: 0, connected: true,
 *   audioSsrc: 1, videoSsrc: 2, screenSsrc: 3, audio: false, video: false, screen: false,
 *   kind: "client" as const, p2p: null, transport: null, handRaised: false };
 * const bob = { ...ann, id: "b", name: "Bob", isCreator: false };
 * assert.deepEqual(
 *   rosterChanges([ann], [{ ...ann, audio: true }, bob]).map((c) => c.change),
 *   ["media", "joined"],
 * );
 * ```
 */
export function rosterChanges(
  before: readonly ParticipantInfo[],
  after: readonly ParticipantInfo[],
): RosterChange[] {
  const changes: RosterChange[] = [];
  const old = new Map(before.map((p) => [p.id, p]));
  for (const p of after) {
    const was = old.get(p.id);
    if (!was) {
      changes.push({ change: "joined", participant: p });
      continue;
    }
    if (was.connected !== p.connected) {
      changes.push({ change: p.connected ? "back" : "reconnecting", participant: p });
    }
    if (was.audio !== p.audio || was.video !== p.video) {
      changes.push({ change: "media", participant: p });
    }
    if (was.handRaised !== p.handRaised) {
      changes.push({ change: p.handRaised ? "hand_up" : "hand_down", participant: p });
    }
    if (was.screen !== p.screen) {
      changes.push({ change: p.screen ? "screen_on" : "screen_off", participant: p });
    }
  }
  const now = new Set(after.map((p) => p.id));
  for (const p of before) if (!now.has(p.id)) changes.push({ change: "left", participant: p });
  return changes;
}
