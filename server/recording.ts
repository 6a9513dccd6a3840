/**
 * One recording of a meeting, from start to stop: a {@linkcode MediaTap} on the meeting's
 * media room feeding a {@linkcode LiveWebm}, finished into one WebM file when it stops.
 *
 * - Audio: the full mix (everyone heard, nobody's own voice left out), one Opus frame per
 *   20 ms tick as the mixer encoded it; silence where nobody speaks and for ticks the server
 *   missed, so the audio runs on the wall clock from start to stop.
 * - Video: one picture, as sent (no decoding, no re-encoding): a shared screen while there is
 *   one, else the active speaker's camera ({@linkcode StagePicker}). A switch happens at the new
 *   source's next keyframe, which is asked for; until then the old one goes on. Each source's
 *   frames are placed by their RTP timestamps from the moment the recording took them up, so
 *   time runs on across switches, joins, leaves and reconnects. When no picture comes for 2 s
 *   (every camera off) the last keyframe is written again (black before any), and the source
 *   must send a keyframe before its pictures are taken again.
 * - Chat: kept as cues and written as a subtitle track when the file is finished.
 *
 * `stop()` finishes the file (see recording_file.ts); a server that dies leaves the live file,
 * which plays, and which the next start finishes.
 *
 * @example
 * ```ts
 * import type { Meeting } from "../meeting/meeting.ts";
 * import type { MediaRoom } from "./media_room.ts";
 *
 * async function recordTenSeconds(meeting: Meeting, media: MediaRoom) {
 *   const recording = await Recording.start({
 *     id: "r1", meeting, media, dir: "./data/recordings", maxMs: 3_600_000,
 *     onTrouble: (reason) => console.log("stopping:", reason),
 *   });
 *   await new Promise((r) => setTimeout(r, 10_000));
 *   const file = await recording.stop();
 *   console.log(file.path, file.durationMs);
 * }
 * ```
 * @module
 */

import { join } from "node:path";
import type { Meeting, RecordingStopReason } from "../meeting/meeting.ts";
import { blackKeyframe } from "../media/black_frame.ts";
import type { MixerLevel } from "../media/mixer.ts";
import { createOpusEncoder } from "../media/opus.ts";
import { parseRtp } from "../media/rtp.ts";
import { StagePicker, type StageSource } from "../media/stage_picker.ts";
import { Vp8FrameAssembler } from "../media/vp8.ts";
import { type ChatCue, chatWebVtt } from "../media/webvtt.ts";
import { OPUS_FRAME_SAMPLES, VIDEO_CLOCK_RATE } from "../protocol/media.ts";
import type { MediaRoom, MediaTapHandle } from "./media_room.ts";
import { finishRecording, LiveWebm, webmDurationMs } from "./recording_file.ts";
import { log } from "../util/log.ts";

/** Options of {@linkcode Recording.start}. */
export interface RecordingOptions {
  /** Names the files: `<dir>/<id>.part.webm` while it runs, then `<dir>/<id>.webm`. */
  id: string;
  meeting: Meeting;
  media: MediaRoom;
  dir: string;
  /** Longest recording, ms: then `onTrouble("limit")`. */
  maxMs: number;
  /** Bytes free on the recordings' disk (checked every 10 s; below `minFreeBytes`: "disk"). */
  freeBytes?: () => number;
  /** Least free space to keep recording, bytes (default 500 MB). */
  minFreeBytes?: number;
  /**
   * The recording must stop (`limit`, `disk`, `failed`): the owner stops it (it goes on
   * until then). Called once.
   */
  onTrouble(reason: RecordingStopReason): void;
}

/** A finished recording's file. */
export interface RecordingFile {
  path: string;
  bytes: number;
  durationMs: number;
  /** Times the picture moved to another source. */
  switches: number;
}

/** The files of a recording. */
export function recordingPaths(dir: string, id: string): { part: string; final: string } {
  return { part: join(dir, `${id}.part.webm`), final: join(dir, `${id}.webm`) };
}

/** Most chat lines kept for one recording's subtitles. */
const MAX_CUES = 10_000;
/** Most operations waiting for the disk before the recording gives up ("disk"). */
const MAX_PENDING = 3000;
/** Silence or missed ticks filled at once, at most (1 s). */
const MAX_FILL_FRAMES = 50;
/** With no new picture for this long, the last keyframe is written again, ms. */
const HOLD_PICTURE_MS = 2000;
/** Free space checked every this many level reports (10 s). */
const DISK_CHECK_EVERY = 50;
const TICK_MS = (OPUS_FRAME_SAMPLES / 48_000) * 1000;

/** A source being recorded (or waited for): its SSRC, frames and time anchor. */
interface Track {
  source: StageSource;
  ssrc: number;
  assembler: Vp8FrameAssembler;
  /** Recording time less capture time (RTP, s) at the least delay seen; null: none yet. */
  anchor: { offset: number } | null;
  lastRtp: number;
  /** Until a keyframe comes, delta frames are left out. */
  needsKeyframe: boolean;
}

/** A running recording (see the module documentation). */
export class Recording {
  readonly id: string;
  /** ms since the epoch. */
  readonly startedAt: number;
  readonly paths: { part: string; final: string };
  #options: RecordingOptions;
  #live: LiveWebm;
  #tap: MediaTapHandle | null = null;
  #startMs = 0;
  #audioFrames = 0;
  #silence: Uint8Array;
  #picker = new StagePicker();
  #current: Track | null = null;
  #pending: Track | null = null;
  #lastVideoMs = -1;
  #lastPictureAt = 0;
  #heldKeyframe: Uint8Array = blackKeyframe();
  /** Chat lines sent since the recording was asked for, with their wall-clock times. */
  #chat: { at: number; name: string; text: string }[];
  #offChat: () => void;
  #levelReports = 0;
  #switches = 0;
  #trouble = false;
  #stopped: Promise<RecordingFile> | null = null;

  /** Times the picture moved to another source so far (at the new source's keyframe). */
  get switches(): number {
    return this.#switches;
  }

  private constructor(
    options: RecordingOptions,
    live: LiveWebm,
    silence: Uint8Array,
    chat: { cues: { at: number; name: string; text: string }[]; off: () => void },
  ) {
    this.#options = options;
    this.id = options.id;
    this.startedAt = Date.now();
    this.paths = recordingPaths(options.dir, options.id);
    this.#live = live;
    this.#silence = silence;
    this.#chat = chat.cues;
    this.#offChat = chat.off;
  }

  /**
   * Creates the live file and taps the media room. The chat is followed from the call on
   * (a line written while the file is being opened is in the subtitles, at the start).
   */
  static async start(options: RecordingOptions): Promise<Recording> {
    const cues: { at: number; name: string; text: string }[] = [];
    const off = options.meeting.on("chat", (m) => {
      if (cues.length < MAX_CUES) cues.push({ at: m.at, name: m.name, text: m.text });
    });
    try {
      await Deno.mkdir(options.dir, { recursive: true });
      const live = await LiveWebm.create(recordingPaths(options.dir, options.id).part);
      const encoder = createOpusEncoder({ bitrate: 32_000 });
      const silence = encoder.encode(new Int16Array(OPUS_FRAME_SAMPLES)).slice();
      encoder.close();
      const recording = new Recording(options, live, silence, { cues, off });
      recording.#begin();
      return recording;
    } catch (err) {
      off();
      throw err;
    }
  }

  /** How long it has run, ms. */
  get elapsedMs(): number {
    return this.#audioFrames * TICK_MS;
  }

  /** Bytes written so far. */
  get bytes(): number {
    return this.#live.bytesWritten;
  }

  /** The picture recorded now, if any. */
  get source(): StageSource | null {
    return this.#current?.source ?? null;
  }

  /**
   * Stops taking media and finishes the file (idempotent): the chat goes in as subtitles.
   * If finishing fails, the live file is kept as the recording (it plays, without an index).
   */
  stop(): Promise<RecordingFile> {
    this.#stopped ??= this.#finish();
    return this.#stopped;
  }

  #begin(): void {
    const media = this.#options.media;
    this.#tap = media.addTap({
      mix: (frame, now) => this.#mix(frame, now),
      video: (packet, now) => this.#video(packet, now),
      levels: (levels, now) => this.#levels(levels, now),
    });
    this.#startMs = media.now();
    this.#lastPictureAt = this.#startMs;
    // The picture starts black until someone's keyframe comes.
    this.#writeVideo(this.#heldKeyframe, 0, true);
    this.#levels([], this.#startMs);
  }

  async #finish(): Promise<RecordingFile> {
    this.#tap?.close();
    this.#tap = null;
    this.#offChat();
    const { part, final } = this.paths;
    try {
      await this.#live.finalize();
    } catch {
      // what reached the disk plays; finishing below takes what it can read
    }
    const durationMs = Math.round(this.elapsedMs);
    try {
      // Times from when the media began (a line sent while the file opened: at 0).
      const cues: ChatCue[] = this.#chat.map((c) => ({
        atMs: Math.max(0, c.at - this.startedAt),
        name: c.name,
        text: c.text,
      }));
      const done = await finishRecording(part, final, chatWebVtt(cues, durationMs));
      await Deno.remove(part).catch(() => {});
      return { path: final, ...done, switches: this.#switches };
    } catch (err) {
      log.warn("recording_finish_fallback", `recording ${this.id}: kept as written`, {
        error: err,
      });
      await Deno.remove(final).catch(() => {});
      await Deno.rename(part, final);
      const bytes = (await Deno.stat(final)).size;
      return {
        path: final,
        bytes,
        durationMs: await webmDurationMs(final),
        switches: this.#switches,
      };
    }
  }

  #troubled(reason: RecordingStopReason): void {
    if (this.#trouble) return;
    this.#trouble = true;
    this.#options.onTrouble(reason);
  }

  /** Audio on the wall clock: the frames due by now, silence for the ticks that were missed. */
  #mix(frame: Uint8Array | null, now: number): void {
    if (this.#stopped) return;
    const due = Math.floor((now - this.#startMs) / TICK_MS) + 1;
    for (let n = 0; this.#audioFrames < due - 1 && n < MAX_FILL_FRAMES; n++) {
      this.#live.addAudio(this.#silence, (this.#audioFrames++ * TICK_MS) / 1000);
    }
    this.#live.addAudio(frame ?? this.#silence, (this.#audioFrames++ * TICK_MS) / 1000);
  }

  #levels(levels: MixerLevel[], now: number): void {
    if (this.#stopped) return;
    const meeting = this.#options.meeting;
    const target = this.#picker.update(
      now,
      meeting.participants,
      levels.map((l) => ({ id: l.id, level: l.level, speaking: l.speaking })),
    );
    this.#follow(target);
    // No picture for a while (cameras off): the last keyframe again, so the file's video
    // goes on; the source then starts again from a keyframe.
    if (now - this.#lastPictureAt >= HOLD_PICTURE_MS) {
      this.#writeVideo(this.#heldKeyframe, this.#seconds(now), true);
      this.#lastPictureAt = now;
      if (this.#current) {
        this.#current.needsKeyframe = true;
        this.#current.anchor = null;
        this.#askKeyframe(this.#current.source);
      }
    }
    if (this.#live.error || this.#live.pending > MAX_PENDING) this.#troubled("disk");
    else if (this.elapsedMs >= this.#options.maxMs) this.#troubled("limit");
    else if (++this.#levelReports % DISK_CHECK_EVERY === 0 && this.#options.freeBytes) {
      if (this.#options.freeBytes() < (this.#options.minFreeBytes ?? 500e6)) {
        this.#troubled("disk");
      }
    }
  }

  /** Moves to `target` at its next keyframe (asked for); the current source goes on until then. */
  #follow(target: StageSource | null): void {
    if (!target) return;
    const same = (t: Track | null) =>
      t !== null && t.source.participantId === target.participantId &&
      t.source.source === target.source;
    if (same(this.#current) || same(this.#pending)) return;
    const participant = this.#options.meeting.participant(target.participantId);
    if (!participant) return;
    this.#pending = {
      source: target,
      ssrc: target.source === "screen" ? participant.screenSsrc : participant.videoSsrc,
      assembler: new Vp8FrameAssembler({ skipUntilKeyframe: true }),
      anchor: null,
      lastRtp: 0,
      needsKeyframe: true,
    };
    this.#askKeyframe(target);
  }

  #askKeyframe(source: StageSource): void {
    this.#tap?.requestKeyframe(source.participantId, source.source);
  }

  #video(bytes: Uint8Array, now: number): void {
    if (this.#stopped || bytes.length < 12) return;
    const ssrc = ((bytes[8] << 24) | (bytes[9] << 16) | (bytes[10] << 8) | bytes[11]) >>> 0;
    const track = this.#pending?.ssrc === ssrc
      ? this.#pending
      : this.#current?.ssrc === ssrc
      ? this.#current
      : null;
    if (!track) return;
    const parsed = parseRtp(bytes);
    if (!parsed.ok) return;
    for (const frame of track.assembler.push(parsed.packet, now)) {
      if (track === this.#pending) {
        if (!frame.isKeyframe) continue;
        // The new source's keyframe: the switch happens here.
        if (this.#current) this.#switches++;
        this.#current = track;
        this.#pending = null;
      } else if (track !== this.#current) {
        continue; // replaced by a switch in this same batch
      }
      if (track.needsKeyframe && !frame.isKeyframe) continue;
      track.needsKeyframe = false;
      const rtp = unwrap(frame.rtpTimestamp, track.lastRtp, track.anchor !== null);
      track.lastRtp = rtp;
      // Placed by its capture time (RTP timestamp) at the least delay seen from this source:
      // a first keyframe that took long to arrive does not put every later frame ahead.
      const arrival = this.#seconds(now);
      const captured = rtp / VIDEO_CLOCK_RATE;
      if (!track.anchor || arrival - captured < track.anchor.offset) {
        track.anchor = { offset: arrival - captured };
      }
      let seconds = captured + track.anchor.offset;
      // A sender's clock that jumped (a restarted encoder): placed by arrival again.
      if (Math.abs(seconds - arrival) > 2) {
        track.anchor = { offset: arrival - captured };
        seconds = arrival;
      }
      if (frame.isKeyframe) this.#heldKeyframe = frame.data.slice();
      this.#writeVideo(frame.data, seconds, frame.isKeyframe);
      this.#lastPictureAt = now;
    }
    if (track.assembler.needsKeyframe) this.#askKeyframe(track.source);
  }

  #writeVideo(data: Uint8Array, seconds: number, keyframe: boolean): void {
    // The file counts in whole milliseconds: each frame at least one after the last.
    const ms = Math.max(Math.round(seconds * 1000), this.#lastVideoMs + 1);
    this.#lastVideoMs = ms;
    this.#live.addVideo(data.slice(), ms / 1000, keyframe);
  }

  #seconds(now: number): number {
    return Math.max(0, (now - this.#startMs) / 1000);
  }
}

/** A 32-bit RTP timestamp made continuous across wraps, near the last one. */
function unwrap(timestamp: number, last: number, haveLast: boolean): number {
  if (!haveLast) return timestamp;
  const delta = ((timestamp - last + 0x80000000) >>> 0) - 0x80000000;
  return last + delta;
}
