/**
 * Which picture a recording shows: a shared screen while there is one (the newest share),
 * else the active speaker's camera, switched only once a new speaker has been the loudest for
 * a moment, else whoever was shown (the last picture is held). Pure: time and the meeting's
 * state are passed in.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const picker = new StagePicker();
 * const people = [
 *   { id: "ann", video: true, screen: false },
 *   { id: "bob", video: true, screen: false },
 * ];
 * const levels = [{ id: "ann", level: -20, speaking: true }, { id: "bob", level: -70, speaking: false }];
 * assert.deepEqual(picker.update(0, people, levels), { participantId: "ann", source: "camera" });
 * ```
 * @module
 */

/** A picture a recording can show: a participant's camera or shared screen. */
export interface StageSource {
  participantId: string;
  source: "camera" | "screen";
}

/** What the picker needs of a participant. */
export interface StageParticipant {
  id: string;
  /** Camera on. */
  video: boolean;
  /** Sharing a screen. */
  screen: boolean;
}

/** One participant's speaking level (the mixer's). */
export interface StageLevel {
  id: string;
  /** dBFS. */
  level: number;
  /** Mixed now (one of the loudest). */
  speaking: boolean;
}

/**
 * How long a new speaker must have been the loudest with a camera on before the picture
 * moves to them, ms: a cough or a short "yes" does not cut away from who is talking.
 */
export const SPEAKER_SWITCH_MS = 1500;

/** Picks the picture to record (see the module documentation). */
export class StagePicker {
  #current: StageSource | null = null;
  /** The speaker who would be shown next, and since when. */
  #candidate: { id: string; since: number } | null = null;
  /** When each sharer began sharing (the newest share is shown). */
  #shares = new Map<string, number>();

  /** What is shown now (null: nothing yet). */
  get current(): StageSource | null {
    return this.#current;
  }

  /**
   * Works out what to show at `nowMs` from who is in the meeting (in roster order) and their
   * speaking levels; returns it (the same object while it does not change).
   */
  update(
    nowMs: number,
    participants: readonly StageParticipant[],
    levels: readonly StageLevel[],
  ): StageSource | null {
    for (const id of [...this.#shares.keys()]) {
      if (!participants.some((p) => p.id === id && p.screen)) this.#shares.delete(id);
    }
    for (const p of participants) {
      if (p.screen && !this.#shares.has(p.id)) this.#shares.set(p.id, nowMs);
    }
    if (this.#shares.size > 0) {
      let newest: [string, number] | null = null;
      for (const entry of this.#shares) if (!newest || entry[1] >= newest[1]) newest = entry;
      return this.#show({ participantId: newest![0], source: "screen" });
    }
    const withVideo = new Set(participants.filter((p) => p.video).map((p) => p.id));
    let loudest: StageLevel | null = null;
    for (const l of levels) {
      if (l.speaking && withVideo.has(l.id) && (!loudest || l.level > loudest.level)) loudest = l;
    }
    if (!loudest) this.#candidate = null;
    else if (this.#candidate?.id !== loudest.id) this.#candidate = { id: loudest.id, since: nowMs };
    const current = this.#current;
    const currentVisible = current?.source === "camera" && withVideo.has(current.participantId);
    if (
      this.#candidate && (!currentVisible || nowMs - this.#candidate.since >= SPEAKER_SWITCH_MS)
    ) {
      return this.#show({ participantId: this.#candidate.id, source: "camera" });
    }
    if (currentVisible) return current;
    // Nobody speaks: anyone with a camera on, else the last picture stays.
    const anyone = participants.find((p) => p.video);
    return anyone ? this.#show({ participantId: anyone.id, source: "camera" }) : current;
  }

  #show(next: StageSource): StageSource {
    const current = this.#current;
    if (current?.participantId === next.participantId && current.source === next.source) {
      return current;
    }
    return this.#current = next;
  }
}
