/**
 * The server's recordings: starts one per meeting on the host's word, finishes its file when
 * it stops (the host, the meeting's end, a limit or the disk), keeps their records, says who
 * may download them, and on start finishes what a previous run left unfinished.
 *
 * A recording's file is `<dir>/<id>.webm` (ids are the server's, never a client's text); while
 * it runs, `<id>.part.webm`. Only these names are ever opened.
 *
 * @example
 * ```ts
 * import type { Room } from "./room.ts";
 * import { Records } from "./records.ts";
 *
 * function recordFor(room: Room, hostId: string, hostToken: string) {
 *   const recorder = new Recorder({ records: Records.open(":memory:"), dir: "./data/recordings" });
 *   recorder.start(room, hostId, [hostToken]); // everyone in the meeting is told
 *   room.meeting.stopRecording(hostId, "stopped"); // the file is finished in the background
 * }
 * ```
 * @module
 */

import { createHash } from "node:crypto";
import { existsSync, statfsSync } from "node:fs";
import { MeetingError } from "../meeting/errors.ts";
import type { Meeting, RecordingState, RecordingStopReason } from "../meeting/meeting.ts";
import type { MeetingRegistry } from "../meeting/registry.ts";
import { chatWebVtt } from "../media/webvtt.ts";
import { newId } from "../util/ids.ts";
import type { RecordingRecord, Records } from "./records.ts";
import { Recording, recordingPaths } from "./recording.ts";
import { finishRecording, webmDurationMs } from "./recording_file.ts";
import type { Room } from "./room.ts";
import { log } from "../util/log.ts";

/** Options of a {@linkcode Recorder}. */
export interface RecorderOptions {
  records: Records;
  /** Where recordings go; null: recording is turned off (`--recordings off`). */
  dir: string | null;
  /** Longest recording, minutes (default 240). */
  maxMinutes?: number;
  /** Least free space to start or go on recording, bytes (default 500 MB). */
  minFreeBytes?: number;
  /** Bytes free where `dir` is (default: the file system's, by statfs). */
  freeBytes?: (dir: string) => number;
  /** Tells a live meeting's members something (a finished recording). */
  notify?: (meetingId: string, message: RecordingSavedMessage) => void;
}

/** The message members get when a recording's file is ready. */
export interface RecordingSavedMessage {
  type: "recording_saved";
  meetingId: string;
  recordingId: string;
  durationMs: number;
  bytes: number;
}

/** What the recordings list shows of one (no owners). */
export type RecordingListing = Omit<RecordingRecord, "owners">;

/** SHA-256 of a token, hex: what the records keep of who may download. */
export function tokenHash(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** Free bytes on the file system holding `dir`. */
function statfsFree(dir: string): number {
  const s = statfsSync(dir);
  return Number(s.bavail) * Number(s.bsize);
}

/** The server's recordings (see the module documentation). */
export class Recorder {
  #options: RecorderOptions;
  #records: Records;
  /** Running recordings by id (the promise of their start). */
  #active = new Map<string, Promise<Recording>>();
  /** Files being finished. */
  #finishing = new Set<Promise<void>>();
  #closed = false;

  constructor(options: RecorderOptions) {
    this.#options = options;
    this.#records = options.records;
  }

  /** Whether recording is turned on. */
  get enabled(): boolean {
    return this.#options.dir !== null;
  }

  /**
   * Times the picture of a running recording moved to another source so far, or undefined
   * when no recording with this id runs.
   *
   * @example
   * ```ts ignore
   * const moved = await recorder.switchesOf(meeting.recording!.id);
   * ```
   */
  async switchesOf(recordingId: string): Promise<number | undefined> {
    const starting = this.#active.get(recordingId);
    return starting ? (await starting).switches : undefined;
  }

  /** Follows every meeting the registry creates: a stopped recording is finished. */
  attach(registry: MeetingRegistry): void {
    registry.on("created", (meeting) => {
      meeting.on("recording", (_now, stopped) => {
        if (stopped) this.#stopped(meeting, stopped.recording, stopped.reason, stopped.by);
      });
    });
  }

  /**
   * The host starts recording its meeting: everyone is told at once; the file is opened in the
   * background (a failure stops the recording with reason `failed`). `ownerTokens`: the
   * sessions that may download it (the starter's, the creator's). Throws
   * `recordings_unavailable` when recording is off or the disk is nearly full, and the
   * meeting's errors (`forbidden` for a non-host, `recording_state` when one runs).
   */
  start(room: Room, participantId: string, ownerTokens: string[]): RecordingState {
    const dir = this.#options.dir;
    if (dir === null || this.#closed) {
      throw new MeetingError("recordings_unavailable", "recording is turned off on this server");
    }
    Deno.mkdirSync(dir, { recursive: true });
    const minFree = this.#options.minFreeBytes ?? 500e6;
    const freeBytes = () => (this.#options.freeBytes ?? statfsFree)(dir);
    if (freeBytes() < minFree) {
      throw new MeetingError("recordings_unavailable", "the server's disk is too full to record");
    }
    const meeting = room.meeting;
    const id = newId(12);
    const state = meeting.startRecording(participantId, id, Date.now());
    this.#records.recordingStarted({
      id,
      meetingId: meeting.id,
      startedAt: state.startedAt,
      startedBy: state.startedBy,
      owners: [...new Set(ownerTokens)].map(tokenHash),
    });
    const starting = Recording.start({
      id,
      meeting,
      media: room.media,
      dir,
      maxMs: (this.#options.maxMinutes ?? 240) * 60_000,
      freeBytes,
      minFreeBytes: minFree,
      onTrouble: (reason) => this.#stopIfRunning(meeting, id, reason),
    });
    this.#active.set(id, starting);
    starting.catch((err) => {
      log.error("recording_start_failed", `recording ${id} could not start`, { error: err });
      this.#stopIfRunning(meeting, id, "failed");
    });
    return state;
  }

  /** A meeting's recordings, oldest first, for someone allowed to see them. */
  list(meetingId: string): RecordingListing[] {
    return this.#records.recordingsOf(meetingId).map(({ owners: _, ...r }) => r);
  }

  /**
   * Whether the bearer of `token` owns any of this meeting's recordings: the session that
   * created the meeting or started one of them (their tokens' hashes are kept, so this holds
   * across restarts). The live meeting's host may too: the caller checks that.
   */
  owns(meetingId: string, token: string | undefined): boolean {
    if (token === undefined) return false;
    const hash = tokenHash(token);
    return this.#records.recordingsOf(meetingId).some((r) => r.owners.includes(hash));
  }

  /** The file of a finished recording of this meeting, or undefined. */
  fileOf(
    meetingId: string,
    recordingId: string,
  ): { path: string; record: RecordingRecord } | undefined {
    const dir = this.#options.dir;
    const record = this.#records.recording(recordingId);
    if (!dir || !record || record.meetingId !== meetingId) return undefined;
    if (record.state !== "done" && record.state !== "recovered") return undefined;
    return { path: recordingPaths(dir, record.id).final, record };
  }

  /**
   * Finishes what a previous run left running or finishing: its live file is finished with
   * the chat the records hold (`recovered`); without a file, it is `failed`.
   */
  async recoverLeftovers(): Promise<void> {
    const dir = this.#options.dir;
    for (const record of this.#records.unfinishedRecordings()) {
      if (dir === null) {
        this.#records.recordingFinished(record.id, "failed", null);
        continue;
      }
      const { part, final } = recordingPaths(dir, record.id);
      try {
        if (existsSync(final)) {
          const durationMs = await webmDurationMs(final);
          this.#records.recordingFinished(record.id, "recovered", {
            bytes: (await Deno.stat(final)).size,
            durationMs,
          });
          await Deno.remove(part).catch(() => {});
        } else if (existsSync(part)) {
          const readable = await webmDurationMs(part);
          const chat = this.#records.chatBetween(
            record.meetingId,
            record.startedAt,
            record.startedAt + readable,
          );
          const vtt = chatWebVtt(
            chat.map((c) => ({ atMs: c.at - record.startedAt, name: c.name, text: c.text })),
            readable,
          );
          const file = await finishRecording(part, final, vtt);
          await Deno.remove(part).catch(() => {});
          this.#records.recordingFinished(record.id, "recovered", file);
        } else {
          this.#records.recordingFinished(record.id, "failed", null);
        }
      } catch (err) {
        log.error("recording_recovery_failed", `recording ${record.id} could not be recovered`, {
          error: err,
        });
        this.#records.recordingFinished(record.id, "failed", null);
      }
    }
  }

  /** Counts `work` (a recovery, a file being finished) among what {@linkcode Recorder.settle} waits for. */
  track(work: Promise<void>): void {
    this.#finishing.add(work);
    work.finally(() => this.#finishing.delete(work));
  }

  /** Resolves once every file being finished is done. */
  async settle(): Promise<void> {
    while (this.#finishing.size > 0) await Promise.all([...this.#finishing]);
  }

  /** Starts nothing more (files being finished go on; see settle()). */
  close(): void {
    this.#closed = true;
  }

  #stopIfRunning(meeting: Meeting, id: string, reason: RecordingStopReason): void {
    if (meeting.recording?.id !== id || !meeting.isOpen) return;
    try {
      meeting.stopRecording(null, reason);
    } catch { /* stopped meanwhile */ }
  }

  #stopped(
    meeting: Meeting,
    recording: RecordingState,
    reason: RecordingStopReason,
    by: string | null,
  ): void {
    const starting = this.#active.get(recording.id);
    this.#active.delete(recording.id);
    if (this.#records.isOpen) {
      this.#records.recordingStopped(recording.id, Date.now(), by, reason);
    }
    if (!starting) return;
    const meetingId = meeting.id;
    const work = (async () => {
      let file;
      try {
        file = await (await starting).stop();
      } catch (err) {
        log.error("recording_finish_failed", `recording ${recording.id} could not be finished`, {
          error: err,
        });
        if (this.#records.isOpen) this.#records.recordingFinished(recording.id, "failed", null);
        return;
      }
      if (this.#records.isOpen) {
        this.#records.recordingFinished(recording.id, "done", file);
      }
      this.#options.notify?.(meetingId, {
        type: "recording_saved",
        meetingId,
        recordingId: recording.id,
        durationMs: file.durationMs,
        bytes: file.bytes,
      });
    })();
    this.track(work);
  }
}
