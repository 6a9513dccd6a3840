/**
 * The terminal client's controller: turns commands (typed or from flags) into control
 * requests, control events into printed events, and runs the media of the meeting it is
 * in. One instance per run; {@linkcode TerminalClient.done} resolves with the exit code.
 *
 * @example
 * ```ts
 * import type { CliOptions } from "./flags.ts";
 * import type { Output } from "./output.ts";
 * import { parseCommand } from "./repl.ts";
 * import { TerminalControl } from "./terminal_control.ts";
 *
 * async function run(options: CliOptions, output: Output): Promise<number> {
 *   const session = await TerminalControl.open(options.server, "Ann");
 *   const client = new TerminalClient(session, { options, audio: null, video: null, output });
 *   await client.start(); // --create / --join, --say, --duration
 *   await client.handle(parseCommand("/who"));
 *   const code = await client.quit(0);
 *   return code;
 * }
 * ```
 * @module
 */

import { ControlError } from "../client/control_client.ts";
import type { MeetingSummary } from "../meeting/meeting.ts";
import type { ParticipantInfo } from "../meeting/participant.ts";
import type { JoinReply } from "../protocol/control.ts";
import { type AudioSource, openWavSource, ToneSource } from "./audio_source.ts";
import { EXIT_FAILURE, EXIT_OK } from "./flags.ts";
import type { CliOptions } from "./flags.ts";
import { TerminalMedia } from "./terminal_media.ts";
import { chatEvent, type CliEvent, type Output, type RosterEntry } from "./output.ts";
import type { PathKind } from "./media_path.ts";
import { type Command, COMMANDS_HELP } from "./repl.ts";
import type { MeetingState, PeerEvent, TerminalControl } from "./terminal_control.ts";
import type { IvfVideoSource } from "./video_source.ts";

/**
 * What the controller works with besides the session.
 *
 * @example
 * ```ts
 * import { parseFlags } from "./flags.ts";
 * import { Output } from "./output.ts";
 *
 * const config: ClientConfig = { options: parseFlags([]), audio: null, video: null,
 *   output: new Output({ json: false, quiet: false }) };
 * ```
 */
export interface ClientConfig {
  options: CliOptions;
  /** Audio to send when the microphone is on. */
  audio: AudioSource | null;
  /** Video to send when the camera is on. */
  video: IvfVideoSource | null;
  output: Output;
  /** Where the server's UDP media port is (defaults: the control URL's host, --udp-port). */
  udpHost?: string;
}

function entry(p: ParticipantInfo): RosterEntry {
  return {
    id: p.id,
    name: p.name,
    isCreator: p.isCreator,
    isHost: p.isHost,
    handRaised: p.handRaised,
    connected: p.connected,
    audio: p.audio,
    video: p.video,
    screen: p.screen,
  };
}

function errorOf(err: unknown): { code: string; message: string } {
  if (err instanceof ControlError) return { code: err.code, message: err.message };
  if (err && typeof err === "object" && "code" in err && typeof err.code === "string") {
    return { code: err.code, message: err instanceof Error ? err.message : String(err) };
  }
  return { code: "failed", message: err instanceof Error ? err.message : String(err) };
}

/**
 * The controller of one run of the terminal client.
 *
 * @example
 * ```ts
 * import type { TerminalControl } from "./terminal_control.ts";
 *
 * async function main(session: TerminalControl, { options, audio, video, output }: ClientConfig) {
 *   const client = new TerminalClient(session, { options, audio, video, output });
 *   await client.start();
 *   Deno.exit(await client.done);
 * }
 * ```
 */
export class TerminalClient {
  readonly #session: TerminalControl;
  readonly #config: ClientConfig;
  readonly #out: Output;
  readonly #scripted: boolean;
  #audio: AudioSource | null;
  #micOn: boolean;
  #camOn: boolean;
  #media: TerminalMedia | null = null;
  #mediaStart: Promise<void> | null = null;
  #said = false;
  #saying: Promise<void> | null = null;
  #durationTimer: ReturnType<typeof setTimeout> | undefined;
  /** The last peer address the server told (applied when media starts). */
  #peer: PeerEvent | null = null;
  #lastSwitchMs: number | null = null;
  #lastModeShown = "";
  #quitting: Promise<number> | null = null;
  #resolveDone!: (code: number) => void;
  /** Resolves with the exit code once the client has quit. */
  readonly done: Promise<number>;

  constructor(session: TerminalControl, config: ClientConfig) {
    this.#session = session;
    this.#config = config;
    this.#out = config.output;
    this.#scripted = config.options.create !== undefined || config.options.join !== undefined;
    this.#audio = config.audio;
    this.#micOn = config.audio !== null;
    this.#camOn = config.video !== null;
    this.done = new Promise((resolve) => this.#resolveDone = resolve);

    session.on("meetings", (meetings) => this.#meetingsChanged(meetings));
    session.on("roster", (meeting, changes) => {
      for (const { change, participant } of changes) {
        if (participant.id === meeting.participantId) continue;
        this.#out.emit({ event: "participant", change, ...entry(participant) });
      }
      this.#maybeSay();
    });
    session.on(
      "chat",
      (meetingId, message) => this.#out.emit(chatEvent(meetingId, message, false)),
    );
    session.on("mode", (_meeting, mode) => {
      if (mode === "relay") this.#peer = null;
      this.#media?.setMode(mode);
      this.#emitMode();
    });
    session.on("peer", (_meeting, peer) => {
      this.#peer = peer;
      this.#applyPeer();
      this.#emitMode();
    });
    session.on("mixTiming", (_meeting, earlyMs) => this.#media?.trimAudio(earlyMs));
    session.on(
      "waiting",
      () => this.#out.emit({ event: "info", message: "Waiting for the host to let you in…" }),
    );
    session.on("reaction", (meeting, participantId, reaction) => {
      const who = meeting.roster.find((p) => p.id === participantId);
      this.#out.emit({ event: "reaction", id: participantId, name: who?.name ?? "?", reaction });
    });
    session.on("recording", (_meeting, change) => {
      if ("started" in change) {
        this.#out.emit({
          event: "meeting_recording",
          state: "started",
          by: change.started.startedBy,
        });
      } else if ("stopped" in change) {
        this.#out.emit({
          event: "meeting_recording",
          state: "stopped",
          by: change.stopped.by,
          reason: change.stopped.reason,
        });
      } else {
        this.#out.emit({
          event: "meeting_recording",
          state: "saved",
          durationMs: change.saved.durationMs,
          bytes: change.saved.bytes,
        });
      }
    });
    session.on("muted", (_meeting, kind, by) => {
      if (kind === "screen") return; // the terminal shares no screen
      if (kind === "audio") this.#micOn = false;
      else this.#camOn = false;
      if (kind === "audio") this.#media?.setAudio(false);
      else this.#media?.setVideo(false);
      this.#out.emit({ event: "muted", kind, by });
      void this.#announceMedia().catch(() => {});
    });
    session.on("left", (meeting, reason, message) => {
      void this.#stopMedia();
      this.#out.emit({
        event: "left",
        meetingId: meeting.id,
        title: meeting.title,
        reason,
        ...(message ? { message } : {}),
      });
      if (this.#scripted) void this.quit(reason === "rejoin_failed" ? EXIT_FAILURE : EXIT_OK);
    });
    session.on("connection", (state) => {
      if (state === "lost") {
        this.#out.emit({ event: "disconnected", willRetry: true });
        return;
      }
      const meeting = this.#session.meeting;
      this.#out.emit({
        event: "reconnected",
        meetingId: meeting?.id ?? null,
        participantId: meeting?.participantId ?? null,
        name: meeting?.name ?? this.#session.name,
      });
      void this.#mediaAfterReconnect();
    });
    session.on("error", (code, message) => this.#out.emit({ event: "error", code, message }));
  }

  #previousMeetings = new Map<string, MeetingSummary>();

  /** Connect-time work: the live list (interactive), or --create/--join, then the timers. */
  async start(): Promise<void> {
    const { options } = this.#config;
    this.#out.emit({ event: "connected", server: options.server });
    this.#out.emit({ event: "identified", name: this.#session.name });
    if (options.create !== undefined || options.join !== undefined) {
      try {
        if (options.create !== undefined) {
          const { meeting, reply } = await this.#session.create(options.create);
          await this.#entered(meeting, reply, true);
        } else {
          const { meeting, reply } = await this.#session.join(options.join!);
          await this.#entered(meeting, reply, false);
        }
      } catch (err) {
        const { code, message } = errorOf(err);
        return void this.fail(code, message);
      }
    } else {
      const meetings = await this.#session.subscribeMeetings();
      this.#previousMeetings = new Map(meetings.map((m) => [m.id, m]));
      this.#out.emit({ event: "meetings", meetings });
      if (!options.json) this.#out.emit({ event: "info", message: "Type /help for commands." });
    }
    if (options.duration !== undefined && !this.#quitting) {
      this.#durationTimer = setTimeout(() => void this.quit(EXIT_OK), options.duration * 1000);
    }
  }

  /** Whether the run was given a meeting by flags (end of input does not end it then). */
  get scripted(): boolean {
    return this.#scripted;
  }

  /** Carries out one command. Errors are printed, never thrown. */
  async handle(command: Command): Promise<void> {
    if (this.#quitting) return;
    try {
      await this.#handle(command);
    } catch (err) {
      const { code, message } = errorOf(err);
      this.#out.emit({ event: "error", code, message });
    }
  }

  /** Prints a fatal error (one line on stderr, and an event with --json) and quits. */
  fail(code: string, message: string): Promise<number> {
    if (this.#config.options.json) this.#out.emit({ event: "error", code, message });
    console.error(`meet: ${code}: ${message}`);
    return this.quit(EXIT_FAILURE);
  }

  /**
   * Leaves the meeting, stops media (finishing the recordings) and closes the connection.
   * Idempotent: the first code wins.
   */
  quit(code: number): Promise<number> {
    this.#quitting ??= (async () => {
      clearTimeout(this.#durationTimer);
      await this.#saying?.catch(() => {});
      await this.#mediaStart?.catch(() => {});
      const stats = await this.#stopMedia();
      if (stats && this.#config.options.json) this.#out.emit({ event: "stats", stats });
      try {
        const left = await Promise.race([
          this.#session.leave(),
          new Promise<null>((resolve) => setTimeout(() => resolve(null), 3_000)),
        ]);
        if (left) {
          this.#out.emit({ event: "left", meetingId: left.id, title: left.title, reason: "leave" });
        }
      } catch { /* the server is gone: nothing to leave */ }
      this.#session.close();
      this.#resolveDone(code);
      return code;
    })();
    return this.#quitting;
  }

  async #handle(command: Command): Promise<void> {
    const session = this.#session;
    switch (command.kind) {
      case "none":
        return;
      case "invalid":
        return this.#out.emit({ event: "error", code: "usage", message: command.message });
      case "help":
        return this.#out.emit({ event: "info", message: COMMANDS_HELP });
      case "quit":
        await this.quit(EXIT_OK);
        return;
      case "chat":
        if (!session.meeting) {
          return this.#notInMeeting();
        }
        await session.chat(command.text);
        return;
      case "list": {
        const meetings = session.subscribed ? session.meetings : await this.#subscribe();
        return this.#out.emit({ event: "meetings", meetings });
      }
      case "create": {
        if (session.meeting) return this.#alreadyIn();
        const { meeting, reply } = await session.create(command.title);
        return await this.#entered(meeting, reply, true);
      }
      case "join": {
        if (session.meeting) return this.#alreadyIn();
        const { meeting, reply } = await session.join(command.meetingId);
        return await this.#entered(meeting, reply, false);
      }
      case "leave": {
        if (!session.meeting) return this.#notInMeeting();
        await this.#stopMedia();
        const left = await session.leave();
        if (left) {
          this.#out.emit({ event: "left", meetingId: left.id, title: left.title, reason: "leave" });
        }
        return;
      }
      case "cancel":
        if (!command.meetingId && !session.meeting) return this.#notInMeeting();
        await session.cancel(command.meetingId);
        return this.#out.emit({
          event: "info",
          message: `Cancelled ${command.meetingId ?? session.meeting?.id ?? "the meeting"}.`,
        });
      case "who": {
        const meeting = session.meeting;
        if (!meeting) return this.#notInMeeting();
        return this.#out.emit({
          event: "roster",
          meetingId: meeting.id,
          title: meeting.title,
          self: meeting.participantId,
          participants: meeting.roster.map(entry),
          mode: meeting.mode,
          path: this.#media?.path ?? null,
        });
      }
      case "mic": {
        if (command.source) {
          const n = Number(command.source);
          this.#audio = Number.isFinite(n) && /^\d/.test(command.source)
            ? new ToneSource(n)
            : await openWavSource(command.source);
        }
        if (command.on && !this.#audio) {
          return this.#out.emit({
            event: "error",
            code: "no_source",
            message: "no audio to send: /mic on <Hz> or /mic on <file.wav> (or --tone/--wav)",
          });
        }
        this.#micOn = command.on;
        this.#media?.setAudio(command.on, this.#audio ?? undefined);
        return await this.#announceMedia();
      }
      case "cam":
        if (command.on && !this.#config.video) {
          return this.#out.emit({
            event: "error",
            code: "no_source",
            message: "no video to send: start the client with --ivf <file>",
          });
        }
        this.#camOn = command.on;
        this.#media?.setVideo(command.on);
        return await this.#announceMedia();
      case "hand":
        if (!session.meeting) return this.#notInMeeting();
        return await session.setHand(command.raised);
      case "react":
        if (!session.meeting) return this.#notInMeeting();
        return await session.react(command.reaction);
      case "record":
        if (!session.meeting) return this.#notInMeeting();
        return await session.record(command.on);
      case "stats":
        return this.#out.emit({ event: "stats", stats: this.#media?.stats ?? {} });
    }
  }

  #notInMeeting(): void {
    this.#out.emit({
      event: "error",
      code: "not_member",
      message: "you are not in a meeting (/create <title> or /join <id>)",
    });
  }

  #alreadyIn(): void {
    this.#out.emit({
      event: "error",
      code: "already_in_meeting",
      message: "leave your current meeting first (/leave)",
    });
  }

  async #subscribe(): Promise<MeetingSummary[]> {
    const meetings = await this.#session.subscribeMeetings();
    this.#previousMeetings = new Map(meetings.map((m) => [m.id, m]));
    return meetings;
  }

  #meetingsChanged(meetings: MeetingSummary[]): void {
    const next = new Map(meetings.map((m) => [m.id, m]));
    for (const [id, meeting] of next) {
      if (!this.#previousMeetings.has(id)) this.#out.emit({ event: "meeting_added", meeting });
    }
    for (const [id, meeting] of this.#previousMeetings) {
      if (!next.has(id)) this.#out.emit({ event: "meeting_closed", id, title: meeting.title });
    }
    this.#previousMeetings = next;
  }

  async #entered(meeting: MeetingState, reply: JoinReply, created: boolean): Promise<void> {
    if (created) {
      this.#out.emit({ event: "created", meetingId: meeting.id, title: meeting.title });
    }
    this.#out.emit({
      event: "joined",
      meetingId: meeting.id,
      title: meeting.title,
      participantId: meeting.participantId,
      name: meeting.name,
      resumed: reply.resumed,
      participants: meeting.roster.map(entry),
      mode: meeting.mode,
    });
    for (const message of reply.chat) this.#out.emit(chatEvent(meeting.id, message, true));
    this.#mediaStart = this.#startMedia(meeting);
    await this.#mediaStart;
    this.#maybeSay();
  }

  async #startMedia(meeting: MeetingState): Promise<void> {
    const { options } = this.#config;
    let media: TerminalMedia;
    try {
      media = await TerminalMedia.start({
        server: {
          hostname: this.#config.udpHost ?? new URL(options.server).hostname,
          port: options.udpPort,
        },
        meetingId: meeting.id,
        ssrcs: meeting.media,
        audio: this.#audio,
        video: this.#config.video,
        recordMix: options.recordMix ?? null,
        recordVideo: options.recordVideo ?? null,
        // A shared screen is recorded beside its sender's camera, as "<name> screen".
        nameOf: (ssrc) => {
          const roster = this.#session.meeting?.roster ?? [];
          const camera = roster.find((p) => p.videoSsrc === ssrc);
          if (camera) return camera.name;
          const screen = roster.find((p) => p.screenSsrc === ssrc);
          return screen && `${screen.name} screen`;
        },
        onRecording: (name, ssrc, path) =>
          this.#out.emit({ event: "recording", kind: "video", path, name, ssrc }),
        onPath: (kind, _peer, afterMs) => {
          if (kind === "p2p") this.#lastSwitchMs = afterMs;
          this.#emitMode();
          this.#session.setPath(kind).catch(() => {});
        },
        onP2pFailed: () => {
          this.#out.emit({
            event: "error",
            code: "p2p_failed",
            message: "the peer does not answer directly; media stays on the relay",
          });
          this.#session.p2pFailed().catch(() => {});
        },
        onBindLost: (code) => {
          this.#out.emit({
            event: "error",
            code,
            message: "the media binding lapsed; binding again",
          });
          void this.#mediaAfterReconnect();
        },
      });
    } catch (err) {
      const { code, message } = errorOf(err);
      if (this.#scripted) return void this.fail(code, message);
      this.#out.emit({ event: "error", code, message: `media: ${message}` });
      return;
    }
    if (this.#quitting || this.#session.meeting?.id !== meeting.id) {
      await media.stop();
      return;
    }
    this.#media = media;
    media.setAudio(this.#micOn);
    media.setVideo(this.#camOn);
    // Mode and peer may have been told while binding.
    media.setMode(meeting.mode);
    this.#applyPeer();
    this.#out.emit({
      event: "media_bound",
      participantId: media.participantId,
      server: media.server,
      localPort: media.localPort,
    });
    if (options.recordMix) {
      this.#out.emit({ event: "recording", kind: "mix", path: options.recordMix });
    }
    await this.#announceMedia();
  }

  /** Tells the server (so the roster shows it) and the user what is being sent. */
  async #announceMedia(): Promise<void> {
    const audio = this.#micOn && this.#audio !== null;
    const video = this.#camOn && this.#config.video !== null;
    if (this.#session.meeting) await this.#session.setMedia(audio, video);
    this.#out.emit({
      event: "sending",
      audio: audio ? this.#audio!.describe : null,
      video: video ? this.#config.video!.describe : null,
    });
  }

  /** The peer's address and SSRCs to the media session, once both are there. */
  #applyPeer(): void {
    const peer = this.#peer;
    const meeting = this.#session.meeting;
    if (!peer || !meeting || !this.#media) return;
    const info = meeting.roster.find((p) => p.id === peer.participantId);
    if (!info) return; // not in the roster (yet): the server tells again on each bind
    this.#media.setPeer(peer, { audio: info.audioSsrc, video: info.videoSsrc });
  }

  /** Shows the meeting's mode and the path media takes now. */
  #emitMode(): void {
    const meeting = this.#session.meeting;
    if (!meeting) return;
    const path: PathKind = this.#media?.path ?? "relay";
    const event: Extract<CliEvent, { event: "mode" }> = {
      event: "mode",
      meetingId: meeting.id,
      mode: meeting.mode,
      path,
      peer: null,
    };
    const peer = this.#peer;
    if (peer && meeting.mode === "p2p") {
      event.peer = {
        participantId: peer.participantId,
        name: meeting.roster.find((p) => p.id === peer.participantId)?.name ?? null,
        address: `${peer.ip}:${peer.port}`,
      };
    }
    if (path === "p2p") event.switchMs = this.#lastSwitchMs;
    const key = `${event.meetingId} ${event.mode} ${event.path} ${event.peer?.address}`;
    if (key === this.#lastModeShown) return;
    this.#lastModeShown = key;
    this.#out.emit(event);
  }

  async #mediaAfterReconnect(): Promise<void> {
    const meeting = this.#session.meeting;
    const media = this.#media;
    if (!meeting || !media || this.#quitting) return;
    if (media.participantId && media.participantId !== meeting.participantId) {
      // The seat was lost and a new one taken: new SSRCs, so new media.
      await this.#stopMedia();
      this.#mediaStart = this.#startMedia(meeting);
      return;
    }
    try {
      await media.rebind();
    } catch (err) {
      const { code, message } = errorOf(err);
      this.#out.emit({ event: "error", code, message: `media: ${message}` });
    }
  }

  async #stopMedia(): Promise<Record<string, unknown> | null> {
    const media = this.#media;
    this.#media = null;
    this.#peer = null;
    this.#lastModeShown = "";
    return media ? await media.stop() : null;
  }

  #maybeSay(): void {
    const { say, waitFor } = this.#config.options;
    const meeting = this.#session.meeting;
    if (this.#said || say.length === 0 || !meeting || this.#quitting) return;
    if (meeting.roster.filter((p) => p.connected).length < waitFor) return;
    this.#said = true;
    this.#saying = (async () => {
      for (const text of say) {
        try {
          await this.#session.chat(text);
        } catch (err) {
          const { code, message } = errorOf(err);
          this.#out.emit({ event: "error", code, message });
        }
      }
    })();
  }
}
