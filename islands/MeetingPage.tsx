/**
 * The meeting page island: joins the meeting over the control WebSocket and shows the grid of
 * participants, the roster, the chat, and the controls (microphone, camera, statistics,
 * leave, cancel). Once joined it runs a {@linkcode PageMedia} (client/media/) on the same
 * socket: it hands the engine the tiles' video slots and the roster, and shows what the engine
 * reports. A dropped connection reconnects and takes the same seat back.
 *
 * @example
 * ```tsx
 * import { Island } from "../web/island.tsx";
 *
 * <Island
 *   name="MeetingPage"
 *   component={MeetingPage}
 *   props={{ meetingId: "abc", title: "Standup", name: null, locked: false }}
 * />;
 * ```
 * @module
 */

import { useSignal } from "@preact/signals";
import { useEffect, useRef } from "preact/hooks";
import type { ChatMessage } from "../meeting/chat.ts";
import type { ParticipantInfo } from "../meeting/participant.ts";
import { type RosterChange, rosterChanges } from "../meeting/roster_changes.ts";
import {
  type NewcomerPolicy,
  REACTIONS,
  type RecordingState,
  type RecordingStopReason,
  type Waiter,
} from "../meeting/meeting.ts";
import type { RemovedReason } from "../protocol/control.ts";
import { ControlClient, ControlError } from "../client/control_client.ts";
import {
  controlUrl,
  identify,
  rememberedName,
  rememberName,
  takeAutoJoin,
  takeHandoff,
} from "../client/identity.ts";
import {
  type LocalMediaState,
  type MediaStatsSnapshot,
  PageMedia,
  prepareAudio,
} from "../client/media/page_media.ts";
import {
  canChooseSpeaker,
  describeMediaError,
  type DeviceChoice,
  type DeviceList,
  listDevices,
  loadMediaPreferences,
  type MediaPreferences,
  openCamera,
  openMicrophone,
  saveMediaPreferences,
} from "../client/media/devices.ts";
import { LevelMeter, meterFill } from "../client/media/level_meter.ts";
import { type ConnectionQuality, QualityWatch } from "../client/media/quality.ts";
import { DeviceSelects } from "../components/DeviceSelects.tsx";
import type { JoinReply } from "../protocol/control.ts";
import { MediaPath, type PathKind } from "../client/media/media_path.ts";
import { type CarrierKind, RelayChannel } from "../client/media/relay_channel.ts";
import { hasWebTransport, WebTransportChannel } from "../client/media/webtransport_channel.ts";
import { hasMediaWorker, MediaWorkerLink } from "../client/media/media_worker_link.ts";
import { ChatPanel } from "../components/ChatPanel.tsx";
import {
  type GridLayout,
  type GridMedia,
  ParticipantGrid,
} from "../components/ParticipantGrid.tsx";
import type { TileStats } from "../components/ParticipantTile.tsx";
import { ToggleButton } from "../components/MediaControls.tsx";
import { StatsPanel } from "../components/StatsPanel.tsx";
import {
  CameraIcon,
  DevicesIcon,
  HandIcon,
  LayoutIcon,
  LeaveIcon,
  MicIcon,
  RecordIcon,
  ScreenIcon,
  SmileIcon,
  StatsIcon,
} from "../components/icons.tsx";

/**
 * Props of the room; `name` comes from `?name=` and only fills in the name: a link someone sent
 * never joins, nor opens the camera or microphone, before the person confirms.
 */
export interface MeetingPageProps extends Record<string, unknown> {
  meetingId: string;
  title: string;
  name: string | null;
  /** Whether joining needs a passcode. */
  locked: boolean;
  /** Whether the meeting is being recorded (said on the pre-join screen). */
  recording?: boolean;
}

/** What the server forwarded for this meeting (GET /api/meetings/:id `media.forwarded`). */
interface Forwarded {
  video: { packets: number };
  audio: { packets: number };
}

type Phase = "ask-name" | "joining" | "waiting" | "joined" | "gone";

/** A recording as the host's list shows it (GET /api/meetings/:id/recordings). */
interface RecordingItem {
  id: string;
  startedAt: number;
  startedBy: string;
  state: string;
  durationMs: number | null;
  bytes: number | null;
  /** Where its file is, once finished. */
  url: string | null;
}

/** Why a recording stopped, when it was not the host's doing (appended to the notice). */
const RECORDING_STOPPED: Partial<Record<RecordingStopReason, string>> = {
  ended: "",
  limit: ": it reached the server's longest recording",
  disk: ": the server's disk is full",
  failed: ": the server could not write it",
};

/** What the page says of a roster change of someone else (unsaid: not announced). */
const CHANGE_NOTICE: Partial<Record<RosterChange["change"], string>> = {
  joined: "joined",
  left: "left",
  hand_up: "raised a hand",
  screen_on: "is sharing a screen",
};

/** How long a join or leave notice shows, ms. */
const NOTICE_SHOW_MS = 5000;

/** How long a reaction floats over its tile, ms. */
const REACTION_SHOW_MS = 4000;

/** How long a join waits for the audio worklets and the media worker to load, at most, ms. */
const AUDIO_PREPARE_WAIT_MS = 5000;

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const button = "rounded-lg px-4 py-2 font-medium disabled:opacity-50";

const REMOVED_NOTICE: Record<RemovedReason, string> = {
  cancelled: "cancelled",
  ended: "ended",
  timeout: "ended",
  replaced: "replaced",
  removed: "removed",
};

export default function MeetingPage(
  { meetingId, title, name: nameFromUrl, locked, recording: recordingAtLoad }: MeetingPageProps,
) {
  const phase = useSignal<Phase>("ask-name");
  const name = useSignal(nameFromUrl ?? "");
  const me = useSignal<{ id: string; name: string } | null>(null);
  const roster = useSignal<ParticipantInfo[]>([]);
  const chat = useSignal<ChatMessage[]>([]);
  const error = useSignal<string | null>(null);
  const connected = useSignal(true);
  /** The server has not answered for {@linkcode SERVER_GONE_MS}: offer to start again. */
  const serverGone = useSignal(false);
  const goneTimer = useRef<ReturnType<typeof setTimeout>>();
  /** In a cluster: the other servers (from the join answer), where to start again. */
  const otherNodes = useSignal<string[]>([]);
  const confirmCancel = useSignal(false);
  const client = useRef<ControlClient>();
  /** This tab's session token: a locked meeting's details are for its members only. */
  const token = useRef<string>();
  /** A handoff code from another node of the cluster (it made this meeting for our lobby). */
  const handoff = useRef<string>();
  /** The hand last asked for, while the request is under way (see `toggleHand`). */
  const handAsked = useRef<{ raised: boolean } | null>(null);
  /** A start or stop of the recording is under way (a double click sends one). */
  const recordAsked = useSignal(false);
  /** The requests of `hostAct` under way, by what they ask. */
  const acting = useRef(new Set<string>());
  // Media
  const prefs = useSignal<MediaPreferences>({ mic: true, camera: true });
  const local = useSignal<LocalMediaState | null>(null);
  const speaking = useSignal<ReadonlySet<string>>(new Set());
  /** Tile or speaker layout; who is pinned; who was heard last (not us). */
  const layout = useSignal<GridLayout>("tiles");
  const pinnedId = useSignal<string | null>(null);
  const lastSpeakerId = useSignal<string | null>(null);
  const showStats = useSignal(false);
  /** Small screens: whether the chat panel is open, and how many lines were there when seen. */
  const chatOpen = useSignal(false);
  const chatSeen = useSignal(0);
  /** What the host last did to this participant's devices, shown until dismissed. */
  const hostNotice = useSignal<string | null>(null);
  const snapshot = useSignal<MediaStatsSnapshot | null>(null);
  /** The devices there are (names once the browser shows them); the room's device panel. */
  const devices = useSignal<DeviceList | null>(null);
  const showDevices = useSignal(false);
  /** Pre-join check: the stream shown and the microphone's level, once asked for. */
  const preview = useSignal<MediaStream | null>(null);
  const previewing = useSignal(false);
  const previewError = useSignal<string | null>(null);
  const micLevel = useSignal(-127);
  const previewParts = useRef<{ tracks: MediaStreamTrack[]; meter?: LevelMeter; run: number }>({
    tracks: [],
    run: 0,
  });
  const session = useRef<PageMedia>();
  /** The AudioContext made on the Join press, before media flows (see prepareAudio). */
  const audio = useRef<Promise<AudioContext>>();
  const path = useRef<MediaPath>();
  const relay = useRef<RelayChannel>();
  /** The media worker: the WebTransport session and the audio receiving, off this thread. */
  const worker = useRef<MediaWorkerLink>();
  const carrier = useSignal<CarrierKind>("websocket");
  /** Why WebTransport was last given up, if it was. */
  const fallback = useSignal<string | undefined>(undefined);
  const mode = useSignal<"p2p" | "relay">("relay");
  const pathKind = useSignal<PathKind>("relay");
  const newcomers = useSignal<NewcomerPolicy>("open");
  /** The recording running now (every member sees it). */
  const recording = useSignal<RecordingState | null>(null);
  /** The meeting's finished recordings, for the host (loaded when one is saved). */
  const recordings = useSignal<RecordingItem[]>([]);
  /** The waiting room, as members are told (the host's controls act on it). */
  const waiting = useSignal<Waiter[]>([]);
  /** Reactions floating over tiles now, by participant id. */
  const reactions = useSignal<Record<string, { reaction: string; key: number }>>({});
  const showReactions = useSignal(false);
  /** Each remote participant's connection quality, from the last second of its video. */
  const quality = useSignal<Record<string, ConnectionQuality>>({});
  const qualityWatch = useRef(new QualityWatch());
  /** The last join, leave, raised hand or knock, shown for a few seconds and read out. */
  const notice = useSignal<{ text: string; key: number } | null>(null);
  const copied = useSignal(false);
  const forwarded = useSignal<Forwarded | null>(null);
  const passcode = useSignal("");
  const needPasscode = useSignal(locked);
  const announced = useRef<string | null>(null);
  /** The tiles' video slots, by `camera|<id>` or `screen|<id>`. */
  const slots = useRef(new Map<string, HTMLElement>());
  const attachVideo = useRef(
    (id: string, slot: HTMLElement | null, source: "camera" | "screen" = "camera") => {
      const key = `${source}|${id}`;
      if (slot) slots.current.set(key, slot);
      else slots.current.delete(key);
      session.current?.attachVideo(id, slot, source);
    },
  );

  /** Shows a notice for a few seconds (screen readers read it out). */
  function notify(text: string) {
    const key = performance.now();
    notice.value = { text, key };
    setTimeout(() => notice.value?.key === key && (notice.value = null), NOTICE_SHOW_MS);
  }

  /** The meeting's recordings, as the host (or their owner) may see them. */
  async function loadRecordings() {
    if (!token.current) return;
    try {
      const response = await fetch(`/api/meetings/${meetingId}/recordings`, {
        headers: { authorization: `Bearer ${token.current}` },
      });
      if (!response.ok) return; // not the host: nothing to show
      recordings.value = (await response.json()).recordings;
    } catch {
      // offline for a moment: the next save loads them again
    }
  }

  /** Downloads a recording (the request carries this tab's token, so a link cannot). */
  async function download(item: RecordingItem) {
    if (!item.url || !token.current) return;
    try {
      const response = await fetch(item.url, {
        headers: { authorization: `Bearer ${token.current}` },
      });
      if (!response.ok) throw new Error(`the server said ${response.status}`);
      const href = URL.createObjectURL(await response.blob());
      const a = document.createElement("a");
      a.href = href;
      a.download = `${title} ${new Date(item.startedAt).toISOString().slice(0, 16)}.webm`;
      a.click();
      setTimeout(() => URL.revokeObjectURL(href), 60_000);
    } catch (err) {
      error.value = `The recording could not be downloaded: ${(err as Error).message}`;
    }
  }

  async function copyInvite() {
    try {
      await navigator.clipboard.writeText(`${location.origin}/m/${meetingId}`);
      copied.value = true;
      setTimeout(() => copied.value = false, 3000);
    } catch {
      error.value = `Copy this link to invite: ${location.origin}/m/${meetingId}`;
    }
  }

  function stopMedia() {
    session.current?.close();
    session.current = undefined;
    path.current?.close();
    path.current = undefined;
    relay.current?.close();
    relay.current = undefined;
    worker.current?.close();
    worker.current = undefined;
  }

  /**
   * The endpoint the page tries first: none without WebTransport in the browser, or with
   * `?transport=websocket` in the address (to compare carriers).
   */
  function webTransportOf(r: JoinReply) {
    const forced = new URLSearchParams(location.search).get("transport");
    return hasWebTransport() && forced !== "websocket" ? r.media.webTransport : undefined;
  }

  /**
   * Whether the media worker takes the session and the audio: where module workers run, unless
   * the address says `?audio=main` (all of it on this thread, to compare).
   */
  function workerWanted() {
    return hasMediaWorker() && new URLSearchParams(location.search).get("audio") !== "main";
  }

  /** Points the media path at the one peer when the meeting is in P2P mode. */
  function updatePath() {
    const others = roster.value.filter((p) => p.id !== me.value?.id);
    const peer = others.length === 1 ? others[0] : undefined;
    path.current?.setMode(mode.value, peer && { id: peer.id, videoSsrc: peer.videoSsrc });
  }

  function leaveTo(url: string) {
    stopMedia();
    client.current?.close();
    location.href = url;
  }

  /** Tells the others whether our mic and camera are on (when it changed, or forced). */
  function announce(c: ControlClient, force = false) {
    const state = local.value;
    if (!state) return;
    const media = {
      audio: state.mic.status === "on",
      video: state.camera.status === "on",
      screen: state.screen.status === "on",
    };
    const key = JSON.stringify(media);
    if (!force && announced.current === key) return;
    announced.current = key;
    c.request({ type: "media", ...media }).catch(() => announced.current = null);
  }

  function startMedia(c: ControlClient, r: JoinReply) {
    if (session.current) {
      session.current.setSsrcs(r.media);
      relay.current?.start(webTransportOf(r)); // the seat is on the new WebSocket: try again
    } else {
      // The worker join() started and enter() waited for; none when it is not wanted or its
      // script did not run (starting another here would undo that fallback), or once it
      // stopped.
      const w = worker.current;
      const rc = new RelayChannel({
        websocket: c,
        connect: (info) => {
          const options = { info, mediaKey: r.media.mediaKey, meetingId };
          const now = worker.current;
          return now ? now.connect(options) : new WebTransportChannel(options);
        },
        announceWebSocket: async () =>
          (await c.request({ type: "media_transport", kind: "websocket" })).webTransport,
      });
      relay.current = rc;
      // The worker sends the microphone on its session itself while media goes that way.
      const direct = () =>
        worker.current?.setAudioDirect(rc.kind === "webtransport" && path.current?.kind !== "p2p");
      rc.on("carrier", (kind) => {
        carrier.value = kind;
        direct();
        fallback.value = rc.lastFallback;
        session.current?.refreshVideo();
      });
      rc.start(webTransportOf(r));
      const p = new MediaPath({
        relay: rc,
        selfId: r.participantId,
        selfVideoSsrc: r.media.videoSsrc,
        signal: (to, data) => c.request({ type: "signal", to, data }).catch(() => {}),
        reportFailure: () => {
          error.value = "A direct connection to the other person failed; using the server.";
          c.request({ type: "p2p_failed" }).catch(() => {});
        },
      });
      path.current = p;
      p.on("path", (kind) => {
        pathKind.value = kind;
        direct();
        reportPath(c);
        // Each stream's numbering changes with the path: clean pictures on the new one (the
        // camera's PLI is the path's own; a still screen would wait for its next keyframe).
        session.current?.refreshVideo();
      });
      const s = new PageMedia({
        audio: audio.current,
        audioInbound: w,
        audioOffload: w,
        channel: p,
        ssrcs: r.media,
        selfId: r.participantId,
        mic: prefs.value.mic,
        camera: prefs.value.camera,
        devices: {
          cameraId: prefs.value.cameraId,
          microphoneId: prefs.value.microphoneId,
          speakerId: prefs.value.speakerId,
        },
        // `?playout=record` in the address: what reaches the playout buffer is kept, for a
        // replay of it (tests/network/playout_replay.ts).
        playout: { record: new URLSearchParams(location.search).get("playout") === "record" },
        measureRtt: async () => {
          const start = performance.now();
          await c.request({ type: "ping" });
          return performance.now() - start;
        },
      });
      audio.current = undefined;
      session.current = s;
      local.value = s.local;
      s.on("local", (state) => {
        local.value = state;
        announce(c);
      });
      s.on("stats", (snap) => {
        if (showStats.value) snapshot.value = snap;
        const now = qualityWatch.current.update(snap.remote);
        if (JSON.stringify(now) !== JSON.stringify(quality.value)) quality.value = now;
      });
      for (const [key, slot] of slots.current) {
        const [source, id] = key.split("|") as ["camera" | "screen", string];
        s.attachVideo(id, slot, source);
      }
    }
    session.current.setRoster(r.meeting.roster);
    updatePath();
    announce(c, true);
    reportPath(c); // a seat taken back may have been shown on the direct path
  }

  /** Tells the server which way our media goes (the roster shows `p2p` only while it does). */
  function reportPath(c: ControlClient) {
    c.request({ type: "path", path: pathKind.value }).catch(() => {});
  }

  function toggleDevice(which: "mic" | "camera") {
    const status = (local.value ?? session.current?.local)?.[which].status ?? "off";
    const on = status === "off" || status === "error";
    prefs.value = { ...prefs.value, [which]: on };
    saveMediaPreferences(prefs.value);
    const s = session.current;
    if (!s) return;
    if (which === "mic") s.setMic(on);
    else s.setCamera(on);
  }

  function toggleScreen() {
    const s = session.current;
    if (!s) return;
    const status = s.local.screen.status;
    s.setScreen(status === "off" || status === "error");
  }

  function togglePrejoin(which: "mic" | "camera") {
    prefs.value = { ...prefs.value, [which]: !prefs.value[which] };
    saveMediaPreferences(prefs.value);
    if (previewing.value) startPreview();
  }

  async function refreshDevices() {
    devices.value = await listDevices();
  }

  function stopPreview() {
    const parts = previewParts.current;
    parts.run++;
    parts.meter?.close();
    parts.meter = undefined;
    for (const track of parts.tracks) track.stop();
    parts.tracks = [];
    preview.value = null;
    micLevel.value = -127;
  }

  /**
   * The pre-join check, on the person's request: the chosen camera (mirrored) and a level
   * meter of the chosen microphone, as they will be in the meeting. Nothing is sent; it all
   * stops on Join, and PageMedia opens the same devices.
   */
  async function startPreview() {
    stopPreview();
    previewing.value = true;
    previewError.value = null;
    const parts = previewParts.current;
    const run = parts.run;
    const { mic, camera, cameraId, microphoneId } = prefs.value;
    const open = async (kind: "camera" | "microphone") => {
      try {
        const track = kind === "camera"
          ? await openCamera(cameraId)
          : await openMicrophone(microphoneId);
        if (parts.run !== run) track.stop();
        else parts.tracks.push(track);
        return parts.run === run ? track : null;
      } catch (err) {
        if (parts.run === run) previewError.value = describeMediaError(err, kind);
        return null;
      }
    };
    const [video, audio] = await Promise.all([
      camera ? open("camera") : null,
      mic ? open("microphone") : null,
    ]);
    if (parts.run !== run) return;
    if (video) preview.value = new MediaStream([video]);
    if (audio) parts.meter = new LevelMeter(audio, (db) => micLevel.value = db);
    await refreshDevices(); // names show once a device was allowed
  }

  /** A device picked, before joining or in the room: remembered, and used from now on. */
  function chooseDevice(key: keyof DeviceChoice, id: string) {
    prefs.value = { ...prefs.value, [key]: id };
    saveMediaPreferences(prefs.value);
    if (previewing.value && key !== "speakerId") startPreview();
    session.current?.setDevices({ [key]: id });
  }

  function onRemoved(reason: RemovedReason, message?: string) {
    const kind = REMOVED_NOTICE[reason];
    if (kind === "replaced" || kind === "removed") {
      stopMedia();
      client.current?.close();
      phase.value = "gone";
      error.value = kind === "replaced"
        ? "You opened this meeting somewhere else; this window left it."
        : `The host removed you from this meeting${message ? `: ${message}` : "."}`;
      return;
    }
    leaveTo(`/?notice=${kind}&title=${encodeURIComponent(title)}`);
  }

  async function enter(c: ControlClient) {
    try {
      // The audio worklets and the media worker load before media flows: on a weak link they
      // would wait behind it.
      if ((audio.current || worker.current) && !session.current) {
        await Promise.race([
          Promise.all([audio.current?.catch(() => {}), worker.current?.ready]),
          delay(AUDIO_PREPARE_WAIT_MS),
        ]);
      }
      if (worker.current?.failed && !session.current) {
        worker.current.close(); // its script did not run: media on this thread
        worker.current = undefined;
      }
      const code = handoff.current;
      handoff.current = undefined; // good once: a retry identifies as usual
      token.current = (await identify(c, name.value, code)).token;
      const r = await c.request({
        type: "join",
        meetingId,
        name: name.value,
        passcode: passcode.value || undefined,
        p2p: typeof RTCPeerConnection === "function" ? "webrtc" : undefined,
      });
      me.value = { id: r.participantId, name: r.name };
      roster.value = r.meeting.roster;
      mode.value = r.meeting.mode;
      newcomers.value = r.meeting.newcomers;
      recording.value = r.meeting.recording ?? null;
      chat.value = r.chat;
      otherNodes.value = (r.nodes ?? []).filter(isHttpUrl);
      phase.value = "joined";
      error.value = null;
      startMedia(c, r);
      loadRecordings(); // the host (or an owner) sees this meeting's recordings
    } catch (err) {
      if (
        err instanceof ControlError && (err.code === "meeting_closed" || err.code === "not_found")
      ) {
        phase.value = "gone";
        error.value = "This meeting has ended.";
        stopMedia();
        c.close();
      } else if (err instanceof ControlError && err.code === "wrong_passcode") {
        phase.value = "ask-name";
        needPasscode.value = true;
        error.value = err.message;
        stopMedia();
        c.close();
      } else if (err instanceof ControlError && err.code === "waiting_for_host") {
        phase.value = "waiting"; // the admission event says what the host decided
      } else if (err instanceof ControlError && err.code === "closed_to_newcomers") {
        phase.value = "ask-name";
        error.value = "The host closed this meeting to newcomers. Try again later.";
        stopMedia();
        c.close();
      } else if (err instanceof ControlError && err.code === "moved" && isHttpUrl(err.location)) {
        // Another server of the cluster holds the meeting (this page was open before it
        // moved, or came from an old link): go there.
        stopMedia();
        c.close();
        location.href = err.location;
      } else if (err instanceof ControlError && err.code === "disconnected") {
        // the reconnect will try again
      } else {
        phase.value = "ask-name";
        error.value = (err as Error).message;
      }
    }
  }

  function join() {
    const n = name.value.trim();
    if (!n) {
      error.value = "Type your name first.";
      return;
    }
    name.value = n;
    rememberName(n);
    stopPreview();
    previewing.value = false;
    phase.value = "joining";
    if (!session.current && !audio.current) {
      audio.current = prepareAudio();
      audio.current.catch(() => {}); // the session reports it (audioError)
    }
    if (!session.current && !worker.current && workerWanted()) {
      const w = new MediaWorkerLink();
      worker.current = w;
      // The worker stopped mid-call: the audio carries on here. Its session closed, so media
      // is on the WebSocket now, and the next session is this thread's.
      w.onFail = () => {
        if (worker.current !== w) return;
        worker.current = undefined;
        w.close();
        session.current?.moveAudioToMainThread();
      };
    }
    const c = new ControlClient(controlUrl());
    client.current = c;
    c.on("open", () => {
      connected.value = true;
      serverGone.value = false;
      clearTimeout(goneTimer.current);
      goneTimer.current = undefined;
      enter(c);
    });
    c.on("close", () => {
      connected.value = false;
      if (goneTimer.current === undefined && phase.value === "joined") {
        goneTimer.current = setTimeout(() => serverGone.value = true, SERVER_GONE_MS);
      }
    });
    c.on("roster", (e) => {
      if (e.meetingId !== meetingId) return;
      for (const { change, participant } of rosterChanges(roster.value, e.participants)) {
        if (participant.id === me.value?.id) continue;
        const said = CHANGE_NOTICE[change];
        if (said) notify(`${participant.name} ${said}`);
        if ((change === "joined" || change === "left") && prefs.value.sounds !== false) {
          session.current?.chime(change === "joined" ? "join" : "leave");
        }
      }
      roster.value = e.participants;
      session.current?.setRoster(e.participants);
      updatePath();
    });
    c.on("newcomers", (e) => e.meetingId === meetingId && (newcomers.value = e.policy));
    c.on("recording", (e) => {
      if (e.meetingId !== meetingId) return;
      recording.value = e.recording;
      if (e.recording) notify(`${e.recording.startedBy} started recording this meeting`);
      else if (e.stopped) {
        const why = RECORDING_STOPPED[e.stopped.reason] ?? "";
        notify(`Recording stopped${e.stopped.by ? ` by ${e.stopped.by}` : ""}${why}`);
      }
    });
    c.on("recording_saved", (e) => e.meetingId === meetingId && loadRecordings());
    c.on("draining", (e) => {
      if (e.meetingId !== meetingId) return;
      hostNotice.value =
        "The server is being restarted: this meeting goes on; new meetings will start elsewhere.";
    });
    c.on("waiting", (e) => {
      if (e.meetingId !== meetingId) return;
      const before = new Set(waiting.value.map((w) => w.id));
      for (const w of e.waiting) if (!before.has(w.id)) notify(`${w.name} is waiting to join`);
      waiting.value = e.waiting;
    });
    c.on("admission", (e) => {
      if (e.meetingId !== meetingId || phase.value !== "waiting") return;
      if (e.admitted) {
        enter(c);
        return;
      }
      stopMedia();
      c.close();
      phase.value = "gone";
      error.value = "You were not let in to this meeting.";
    });
    c.on("reaction", (e) => {
      if (e.meetingId !== meetingId) return;
      const key = performance.now();
      reactions.value = { ...reactions.value, [e.participantId]: { reaction: e.reaction, key } };
      setTimeout(() => {
        if (reactions.value[e.participantId]?.key !== key) return;
        const { [e.participantId]: _gone, ...rest } = reactions.value;
        reactions.value = rest;
      }, REACTION_SHOW_MS);
    });
    c.on("mode", (e) => {
      if (e.meetingId !== meetingId) return;
      mode.value = e.mode;
      updatePath();
    });
    c.on("signal", (e) => e.meetingId === meetingId && path.current?.handleSignal(e.from, e.data));
    c.on("levels", (e) => {
      if (e.meetingId !== meetingId) return;
      // Levels come 5 times a second; the island renders again only when who speaks changes.
      const now = e.levels.filter((l) => l.speaking).map((l) => l.participantId);
      const was = speaking.value;
      if (now.length !== was.size || now.some((id) => !was.has(id))) speaking.value = new Set(now);
      const others = now.filter((id) => id !== me.value?.id);
      if (others.length > 0 && !others.includes(lastSpeakerId.value ?? "")) {
        lastSpeakerId.value = others[0];
      }
    });
    c.on("mix_timing", (e) => e.meetingId === meetingId && session.current?.trimAudio(e.earlyMs));
    c.on("chat", (e) => {
      if (e.meetingId !== meetingId) return;
      chat.value = [...chat.value, e.message]; // the chat list reads new lines out itself
    });
    c.on("removed", (e) => e.meetingId === meetingId && onRemoved(e.reason, e.message));
    c.on("muted", (e) => {
      if (e.meetingId !== meetingId) return;
      // The server already takes none of it; turn it off here too. The saved choice stays.
      if (e.kind === "audio") session.current?.setMic(false);
      else if (e.kind === "video") session.current?.setCamera(false);
      else session.current?.setScreen(false);
      hostNotice.value = e.kind === "screen"
        ? `${e.by} (the host) stopped your screen share. You can share again.`
        : `${e.by} (the host) turned off your ${
          e.kind === "audio" ? "microphone" : "camera"
        }. You can turn it on again.`;
    });
  }

  // The server's forwarded-packet counters, in the statistics view: flat while media goes
  // peer to peer (the proof that P2P bypasses the server).
  useEffect(() => {
    const timer = setInterval(async () => {
      if (phase.value !== "joined" || !showStats.value) return;
      try {
        const res = await fetch(`/api/meetings/${meetingId}`, {
          headers: token.current ? { authorization: `Bearer ${token.current}` } : {},
        });
        if (res.ok) forwarded.value = (await res.json()).media?.forwarded ?? null;
      } catch {
        // offline for a moment
      }
    }, 2000);
    return () => clearInterval(timer);
  }, []);

  // A tab closed or navigated away leaves at once (the request goes out before the socket
  // closes); only a dropped network keeps the seat for the grace period.
  useEffect(() => {
    const onPageHide = () => {
      if (phase.value !== "joined") return;
      client.current?.request({ type: "leave" }).catch(() => {});
    };
    addEventListener("pagehide", onPageHide);
    return () => removeEventListener("pagehide", onPageHide);
  }, []);

  // Shortcuts in the room: M microphone, V camera, S screen, H hand, C chat (not while typing).
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (phase.value !== "joined" || e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
      const target = e.target as HTMLElement | null;
      if (target?.closest?.("input, textarea, select, [contenteditable=true]")) return;
      switch (e.key.toLowerCase()) {
        case "m":
          toggleDevice("mic");
          break;
        case "v":
          toggleDevice("camera");
          break;
        case "s":
          toggleScreen();
          break;
        case "h":
          toggleHand();
          break;
        case "c":
          chatOpen.value = true; // on a phone the panel opens first
          requestAnimationFrame(() =>
            (document.querySelector("[data-testid=chat-input]") as HTMLElement | null)?.focus()
          );
          break;
        default:
          return;
      }
      e.preventDefault();
    };
    addEventListener("keydown", onKey);
    return () => removeEventListener("keydown", onKey);
  }, []);

  useEffect(() => {
    prefs.value = loadMediaPreferences();
    // A link (with or without ?name=) asks first: the person sees the name and what will be
    // shared, and nothing is captured before they press Join. Only the lobby's own join or
    // create button (marked in this tab's sessionStorage, which no other site can write)
    // comes straight in.
    if (!nameFromUrl) name.value = rememberedName();
    // Another server of the cluster made this meeting for its lobby: identify as its creator
    // when joining. No auto-join: any site can write a fragment, so the person presses Join.
    const handedOff = takeHandoff();
    if (handedOff) {
      handoff.current = handedOff.code;
      if (!name.value) name.value = handedOff.name;
    }
    if (takeAutoJoin(meetingId) && name.value) join();
    refreshDevices(); // lists without capturing; names only if the browser already allows
    const onDeviceChange = () => refreshDevices();
    navigator.mediaDevices?.addEventListener?.("devicechange", onDeviceChange);
    return () => {
      navigator.mediaDevices?.removeEventListener?.("devicechange", onDeviceChange);
      clearTimeout(goneTimer.current);
      stopPreview();
      stopMedia();
      client.current?.close();
    };
  }, []);

  async function send(text: string): Promise<boolean> {
    try {
      await client.current!.request({ type: "chat", text });
      return true;
    } catch (err) {
      error.value = (err as Error).message;
      return false;
    }
  }

  async function leave() {
    stopMedia();
    await client.current?.request({ type: "leave" }).catch(() => {});
    leaveTo("/");
  }

  /**
   * Raises or lowers one's own hand: the opposite of what was last asked for, until the reply
   * (the server sends the new roster before it), so H pressed twice quickly raises and lowers.
   */
  async function toggleHand() {
    const shown = roster.value.some((p) => p.id === me.value?.id && p.handRaised);
    const asked = { raised: !(handAsked.current?.raised ?? shown) };
    handAsked.current = asked;
    await hostAct({ type: "hand", raised: asked.raised });
    if (handAsked.current === asked) handAsked.current = null; // no later press meanwhile
  }

  /** Starts or stops the recording; a click while the last one is under way does nothing. */
  async function toggleRecording() {
    if (recordAsked.value) return;
    recordAsked.value = true;
    try {
      await hostAct({ type: "record", on: recording.value === null });
    } finally {
      recordAsked.value = false;
    }
  }

  /**
   * A host's action on another participant (the server checks that we hold the role), or one
   * of our own. The same request while it is under way (a double click) is not sent again: the
   * second would find the first's work done (nobody waits under that id any more, the meeting
   * is being recorded already) and show that as an error. A hand is the exception: raised,
   * lowered and raised again within one round trip is three requests (see `toggleHand`).
   */
  async function hostAct(
    request:
      | { type: "host"; participantId: string }
      | { type: "mute"; participantId: string; kind: "audio" | "video" | "screen" }
      | { type: "remove"; participantId: string; reason: string }
      | { type: "newcomers"; policy: NewcomerPolicy }
      | { type: "admit"; waitId: string; admit: boolean }
      | { type: "hand"; raised: boolean; participantId?: string }
      | { type: "react"; reaction: (typeof REACTIONS)[number] }
      | { type: "record"; on: boolean },
  ) {
    const key = request.type === "hand" ? null : JSON.stringify(request);
    if (key !== null && acting.current.has(key)) return;
    if (key !== null) acting.current.add(key);
    try {
      await client.current!.request(request);
    } catch (err) {
      error.value = (err as Error).message;
    } finally {
      if (key !== null) acting.current.delete(key);
    }
  }

  async function cancel() {
    try {
      await client.current!.request({ type: "cancel", meetingId });
    } catch (err) {
      error.value = (err as Error).message;
    }
  }

  if (phase.value === "waiting") {
    return (
      <div class="max-w-md w-full mx-auto px-4 py-10">
        <div class="rounded-xl bg-white shadow-sm p-6 space-y-4" data-testid="waiting">
          <h1 class="text-xl font-semibold">{title}</h1>
          <p class="text-slate-700" role="status">
            Waiting for the host to let you in…
          </p>
          <button
            class={`${button} bg-slate-700 text-white hover:bg-slate-800`}
            type="button"
            onClick={() => leaveTo("/")}
          >
            Leave
          </button>
        </div>
      </div>
    );
  }

  if (phase.value === "ask-name" || phase.value === "gone") {
    return (
      <div class="max-w-md w-full mx-auto px-4 py-10">
        <form
          class="rounded-xl bg-white shadow-sm p-6 space-y-4"
          data-testid="prejoin"
          onSubmit={(e) => {
            e.preventDefault();
            join();
          }}
        >
          <h1 class="text-xl font-semibold">{title}</h1>
          {recordingAtLoad && phase.value !== "gone" && (
            <p
              class="rounded-lg bg-red-50 px-3 py-2 text-sm text-red-800"
              data-testid="prejoin-recording"
            >
              ● This meeting is being recorded.
            </p>
          )}
          {phase.value === "gone"
            ? <a href="/" class="text-emerald-700 underline">Back to the meeting list</a>
            : (
              <>
                <label class="block">
                  <span class="text-sm font-medium text-slate-600">Your name</span>
                  <input
                    class="w-full rounded-lg border border-slate-300 px-3 py-2 focus:outline-none focus:ring-2 focus:ring-emerald-500"
                    name="name"
                    maxLength={40}
                    autoFocus
                    value={name}
                    onInput={(e) => name.value = e.currentTarget.value}
                  />
                </label>
                {needPasscode.value && (
                  <label class="block">
                    <span class="text-sm font-medium text-slate-600">Passcode</span>
                    <input
                      class="w-full rounded-lg border border-slate-300 px-3 py-2 focus:outline-none focus:ring-2 focus:ring-emerald-500"
                      name="passcode"
                      type="password"
                      maxLength={64}
                      value={passcode}
                      onInput={(e) => passcode.value = e.currentTarget.value}
                    />
                  </label>
                )}
                <div class="flex items-center gap-3">
                  <span class="text-sm text-slate-600">Join with</span>
                  <ToggleButton
                    testId="prejoin-mic"
                    label="Microphone"
                    on={prefs.value.mic}
                    icon={<MicIcon off={!prefs.value.mic} />}
                    onClick={() => togglePrejoin("mic")}
                  />
                  <ToggleButton
                    testId="prejoin-camera"
                    label="Camera"
                    on={prefs.value.camera}
                    icon={<CameraIcon off={!prefs.value.camera} />}
                    onClick={() => togglePrejoin("camera")}
                  />
                </div>
                <div class="space-y-2" data-testid="device-check">
                  {previewing.value
                    ? (
                      <>
                        <div class="aspect-video w-full overflow-hidden rounded-lg bg-slate-800">
                          {preview.value && (
                            <video
                              class="h-full w-full object-contain -scale-x-100"
                              data-testid="prejoin-video"
                              autoPlay
                              muted
                              playsInline
                              ref={(el) => {
                                if (el && el.srcObject !== preview.value) {
                                  el.srcObject = preview.value;
                                }
                              }}
                            />
                          )}
                        </div>
                        {prefs.value.mic && (
                          <div
                            class="h-2 w-full overflow-hidden rounded-full bg-slate-200"
                            role="meter"
                            aria-label="Microphone level"
                            aria-valuemin={-60}
                            aria-valuemax={0}
                            aria-valuenow={Math.max(-60, Math.round(micLevel.value))}
                            data-testid="mic-level"
                            data-level={Math.round(micLevel.value)}
                          >
                            <div
                              class="h-full bg-emerald-500 transition-[width] duration-100"
                              style={{ width: `${Math.round(meterFill(micLevel.value) * 100)}%` }}
                            />
                          </div>
                        )}
                        {previewError.value && (
                          <p class="text-sm text-amber-800" role="status">{previewError}</p>
                        )}
                      </>
                    )
                    : (
                      <button
                        class={`${button} w-full bg-white text-slate-700 ring-1 ring-slate-300 hover:bg-slate-100`}
                        type="button"
                        data-testid="prejoin-check"
                        onClick={startPreview}
                      >
                        Check camera and microphone
                      </button>
                    )}
                  {devices.value?.named && (
                    <DeviceSelects
                      devices={devices.value}
                      choice={prefs.value}
                      speakers={canChooseSpeaker()}
                      onChoose={chooseDevice}
                    />
                  )}
                </div>
                <button
                  class={`${button} w-full bg-emerald-700 text-white hover:bg-emerald-800`}
                  type="submit"
                  data-testid="join-button"
                >
                  Join meeting
                </button>
              </>
            )}
          {error.value && <p class="text-sm text-red-600" role="alert">{error}</p>}
        </form>
      </div>
    );
  }

  const isHost = roster.value.some((p) => p.id === me.value?.id && p.isHost);
  const finished = recordings.value.filter((r) => r.url);
  const media = local.value;
  const micOn = media?.mic.status === "on" || media?.mic.status === "starting";
  const cameraOn = media?.camera.status === "on" || media?.camera.status === "starting";
  const sharing = media?.screen.status === "on" || media?.screen.status === "starting";
  const canShare = typeof navigator !== "undefined" && !!navigator.mediaDevices?.getDisplayMedia;
  const snap = showStats.value ? snapshot.value : null;
  let tileStats: Record<string, TileStats> | null = null;
  if (snap) {
    tileStats = {};
    for (const [id, s] of Object.entries(snap.remote)) tileStats[id] = { kind: "receive", ...s };
    if (me.value && media?.camera.status === "on") {
      tileStats[me.value.id] = {
        kind: "send",
        fps: snap.session.encodeFps,
        bitrate: snap.session.videoSendBitrate,
        width: snap.session.sendWidth,
        height: snap.session.sendHeight,
      };
    }
  }
  const gridMedia: GridMedia = {
    attachVideo: attachVideo.current,
    preview: media?.preview ?? null,
    screenPreview: media?.screenPreview ?? null,
    selfVideo: media?.camera.status === "on",
    selfAudio: media?.mic.status === "on",
    stats: tileStats,
    reactions: reactions.value,
    quality: quality.value,
  };
  const handRaised = roster.value.some((p) => p.id === me.value?.id && p.handRaised);
  const notices = [media?.audioError, media?.mic.error, media?.camera.error, media?.screen.error]
    .filter(Boolean);
  if (chatOpen.value && chatSeen.value !== chat.value.length) chatSeen.value = chat.value.length;
  const unread = chat.value.slice(chatSeen.value).filter((m) => m.participantId !== me.value?.id)
    .length;
  return (
    <div
      class="flex-1 flex flex-col md:flex-row min-h-0"
      data-testid="room"
      data-joined={phase.value === "joined"}
    >
      <section class="flex-1 flex flex-col min-h-0 p-3 gap-3">
        <div class="flex flex-wrap items-center gap-x-2 gap-y-1 min-w-0">
          <h1 class="text-lg font-semibold truncate max-w-full" data-testid="room-title">
            {title}
          </h1>
          <span class="rounded-full bg-slate-200 px-2 py-0.5 text-xs font-medium text-slate-700 whitespace-nowrap">
            {roster.value.length} in call
          </span>
          <span
            class={`rounded-full px-2 py-0.5 text-xs font-medium ${
              pathKind.value === "p2p"
                ? "bg-emerald-100 text-emerald-800"
                : "bg-sky-100 text-sky-800"
            }`}
            data-testid="mode-badge"
            data-mode={mode.value}
            data-path={pathKind.value}
            data-transport={pathKind.value === "p2p" ? "p2p" : carrier.value}
            data-fallback={fallback.value}
            title={pathKind.value === "p2p"
              ? "Media goes directly between the two of you"
              : `Media goes through the server${
                carrier.value === "websocket" && fallback.value
                  ? ` (over the WebSocket: UDP ${fallback.value})`
                  : ""
              }`}
          >
            {pathKind.value === "p2p" ? "P2P" : "Relay"}
          </span>
          {recording.value && (
            <span
              class="rounded-full bg-red-600 px-2 py-0.5 text-xs font-semibold text-white whitespace-nowrap"
              data-testid="recording-indicator"
              title={`Recorded since ${
                new Date(recording.value.startedAt).toLocaleTimeString()
              } (started by ${recording.value.startedBy})`}
            >
              ● Recording
            </span>
          )}
          {showStats.value && forwarded.value && (
            <span class="text-xs text-slate-600" data-testid="relay-counters">
              server forwarded {forwarded.value.video.packets} video ·{" "}
              {forwarded.value.audio.packets} audio packets
            </span>
          )}
          {!connected.value && (
            <span class="rounded-full bg-amber-200 px-2 py-0.5 text-xs text-amber-900">
              reconnecting…
            </span>
          )}
          <button
            class="ml-auto rounded-lg px-2 py-1 text-sm text-emerald-800 underline focus:outline-none focus-visible:ring-2 focus-visible:ring-emerald-500"
            type="button"
            data-testid="copy-link"
            onClick={copyInvite}
          >
            {copied.value ? "Link copied" : "Copy invite link"}
          </button>
        </div>
        {serverGone.value && (
          <p
            role="alert"
            class="rounded-lg bg-amber-100 text-amber-900 px-4 py-3"
            data-testid="server-gone"
          >
            This server is not answering; your meeting may have ended with it.{" "}
            {otherNodes.value.length > 0
              ? (
                <a class="underline" href={`${otherNodes.value[0]}/`} data-testid="start-again">
                  Start again on another server
                </a>
              )
              : (
                <a class="underline" href="/" data-testid="start-again">
                  Back to the lobby
                </a>
              )}
          </p>
        )}
        <p class="text-sm text-slate-600 empty:hidden" aria-live="polite" data-testid="notice">
          {notice.value?.text ?? ""}
        </p>
        <ParticipantGrid
          participants={roster.value}
          selfId={me.value?.id ?? null}
          speaking={speaking.value}
          media={gridMedia}
          layout={layout.value}
          pinnedId={pinnedId.value}
          lastSpeakerId={lastSpeakerId.value}
          onPin={(id) => {
            pinnedId.value = id;
            if (id) layout.value = "speaker"; // a pin shows that person large
          }}
        />
        {media?.audioBlocked && (
          <p
            class="rounded-lg bg-amber-100 px-3 py-2 text-sm text-amber-900"
            data-testid="audio-blocked"
          >
            The browser paused the sound: click anywhere to hear the others.
          </p>
        )}
        {hostNotice.value && (
          <p
            class="flex items-center gap-2 rounded-lg bg-amber-100 px-3 py-2 text-sm text-amber-900"
            role="status"
            data-testid="host-notice"
          >
            {hostNotice.value}
            <button
              class="ml-auto underline"
              type="button"
              onClick={() => hostNotice.value = null}
            >
              OK
            </button>
          </p>
        )}
        {notices.map((text) => (
          <p class="text-sm text-amber-800" role="status" data-testid="media-error">{text}</p>
        ))}
        {error.value && <p class="text-sm text-red-600" role="alert">{error}</p>}
        {finished.length > 0 && (
          <section
            class="mx-auto w-full max-w-md rounded-xl bg-white p-3 shadow-sm text-sm"
            data-testid="recordings"
            aria-label="Recordings"
          >
            <h2 class="font-semibold text-slate-700">Recordings</h2>
            <ul>
              {finished.map((item) => (
                <li key={item.id} class="flex items-center gap-2 py-0.5">
                  <span class="truncate">
                    {new Date(item.startedAt).toLocaleTimeString()} · {formatDuration(
                      item.durationMs ?? 0,
                    )} · {((item.bytes ?? 0) / 1e6).toFixed(1)} MB
                  </span>
                  <button
                    type="button"
                    class="ml-auto text-emerald-800 underline"
                    data-testid="recording-download"
                    onClick={() => download(item)}
                  >
                    Download
                  </button>
                </li>
              ))}
            </ul>
          </section>
        )}
        {showDevices.value && devices.value && (
          <div
            class="mx-auto w-full max-w-md rounded-xl bg-white p-4 shadow-sm"
            data-testid="device-panel"
          >
            <DeviceSelects
              devices={devices.value}
              choice={prefs.value}
              inUse={{
                cameraId: media?.camera.deviceId,
                microphoneId: media?.mic.deviceId,
                speakerId: media?.speakerId || undefined,
              }}
              speakers={canChooseSpeaker()}
              onChoose={chooseDevice}
            />
            <label class="mt-3 flex items-center gap-2 text-sm text-slate-700">
              <input
                type="checkbox"
                data-testid="sounds"
                checked={prefs.value.sounds !== false}
                onChange={(e) => {
                  prefs.value = { ...prefs.value, sounds: e.currentTarget.checked };
                  saveMediaPreferences(prefs.value);
                }}
              />
              Play a sound when someone joins or leaves
            </label>
          </div>
        )}
        {snap && (
          <StatsPanel
            stats={snap.session}
            transport={pathKind.value === "p2p" ? "p2p" : carrier.value}
          />
        )}
        <div class="flex flex-wrap items-center justify-center gap-2" data-testid="controls">
          <ToggleButton
            testId="toggle-mic"
            label="Microphone"
            on={micOn}
            busy={media?.mic.status === "starting"}
            error={media?.mic.error}
            icon={<MicIcon off={!micOn} />}
            onClick={() => toggleDevice("mic")}
          />
          <ToggleButton
            testId="toggle-camera"
            label="Camera"
            on={cameraOn}
            busy={media?.camera.status === "starting"}
            error={media?.camera.error}
            icon={<CameraIcon off={!cameraOn} />}
            onClick={() => toggleDevice("camera")}
          />
          {canShare && (
            <ToggleButton
              testId="toggle-screen"
              label="Share screen"
              on={sharing}
              busy={media?.screen.status === "starting"}
              error={media?.screen.error}
              offIsAlert={false}
              icon={<ScreenIcon />}
              onClick={toggleScreen}
            />
          )}
          <ToggleButton
            testId="toggle-hand"
            label="Raise hand"
            on={handRaised}
            offIsAlert={false}
            icon={<HandIcon />}
            onClick={toggleHand}
          />
          <span class="relative">
            <ToggleButton
              testId="toggle-reactions"
              label="React"
              on={showReactions.value}
              offIsAlert={false}
              icon={<SmileIcon />}
              onClick={() => showReactions.value = !showReactions.value}
            />
            {showReactions.value && (
              <span
                class="absolute bottom-12 left-1/2 -translate-x-1/2 z-10 flex gap-1 rounded-full bg-white px-2 py-1 shadow-lg ring-1 ring-slate-200"
                data-testid="reactions"
              >
                {REACTIONS.map((reaction) => (
                  <button
                    key={reaction}
                    type="button"
                    class="rounded-full px-1 text-2xl hover:bg-slate-100"
                    aria-label={`React ${reaction}`}
                    data-reaction={reaction}
                    onClick={() => {
                      showReactions.value = false;
                      hostAct({ type: "react", reaction });
                    }}
                  >
                    {reaction}
                  </button>
                ))}
              </span>
            )}
          </span>
          <ToggleButton
            testId="toggle-layout"
            label="Speaker view"
            on={layout.value === "speaker"}
            offIsAlert={false}
            icon={<LayoutIcon speaker={layout.value === "speaker"} />}
            onClick={() => {
              layout.value = layout.value === "speaker" ? "tiles" : "speaker";
              if (layout.value === "tiles") pinnedId.value = null;
            }}
          />
          {isHost && (
            <ToggleButton
              testId="toggle-record"
              label={recording.value ? "Stop recording" : "Record"}
              on={recording.value !== null}
              offIsAlert={false}
              icon={<RecordIcon on={recording.value !== null} />}
              busy={recordAsked.value}
              busyText={recording.value ? "stopping…" : "starting…"}
              onClick={toggleRecording}
            />
          )}
          <ToggleButton
            testId="toggle-devices"
            label="Devices"
            on={showDevices.value}
            offIsAlert={false}
            icon={<DevicesIcon />}
            onClick={() => {
              showDevices.value = !showDevices.value;
              if (showDevices.value) refreshDevices();
            }}
          />
          <ToggleButton
            testId="toggle-stats"
            label="Statistics"
            on={showStats.value}
            offIsAlert={false}
            icon={<StatsIcon />}
            onClick={() => {
              showStats.value = !showStats.value;
              snapshot.value = session.current?.stats ?? null;
            }}
          />
          <button
            class={`${button} md:hidden relative bg-white text-slate-700 border border-slate-300`}
            type="button"
            data-testid="toggle-chat"
            aria-expanded={chatOpen.value}
            onClick={() => chatOpen.value = !chatOpen.value}
          >
            Chat
            {unread > 0 && !chatOpen.value && (
              <span
                class="absolute -top-2 -right-2 rounded-full bg-red-600 px-1.5 text-xs font-semibold text-white"
                data-testid="chat-unread"
                aria-label={`${unread} unread`}
              >
                {unread}
              </span>
            )}
          </button>
          <button
            class={`${button} flex items-center gap-2 bg-slate-700 text-white hover:bg-slate-800`}
            type="button"
            data-testid="leave"
            onClick={leave}
          >
            <LeaveIcon />
            Leave
          </button>
          {isHost && (
            <label class="flex items-center gap-1 text-sm text-slate-600">
              Newcomers
              <select
                class="rounded-lg border border-slate-300 bg-white px-2 py-2 focus:outline-none focus:ring-2 focus:ring-emerald-500"
                data-testid="host-newcomers"
                value={newcomers.value}
                onChange={(e) =>
                  hostAct({
                    type: "newcomers",
                    policy: e.currentTarget.value as NewcomerPolicy,
                  })}
              >
                <option value="open">come in</option>
                <option value="waiting">wait to be let in</option>
                <option value="closed">are turned away</option>
              </select>
            </label>
          )}
          {isHost && !confirmCancel.value && (
            <button
              class={`${button} bg-red-600 text-white hover:bg-red-700`}
              type="button"
              onClick={() => confirmCancel.value = true}
            >
              Cancel meeting
            </button>
          )}
          {isHost && confirmCancel.value && (
            <span class="flex items-center gap-2 rounded-lg bg-red-50 px-3 py-1">
              <span class="text-sm text-red-800">End it for everyone?</span>
              <button class={`${button} bg-red-600 text-white`} type="button" onClick={cancel}>
                Yes, cancel
              </button>
              <button
                class={`${button} bg-white text-slate-700`}
                type="button"
                onClick={() => confirmCancel.value = false}
              >
                No
              </button>
            </span>
          )}
        </div>
      </section>
      <aside
        class={`${
          chatOpen.value ? "fixed inset-x-0 bottom-0 top-12 z-20 flex" : "hidden"
        } md:static md:z-auto md:flex md:w-80 flex-col md:border-l border-slate-200 bg-white min-h-0`}
        data-testid="side-panel"
      >
        <div class="shrink-0 px-4 py-3 border-b border-slate-200 max-h-[30%] overflow-y-auto">
          {chatOpen.value && (
            <button
              class="md:hidden float-right text-sm text-slate-600 underline"
              type="button"
              onClick={() => chatOpen.value = false}
            >
              Close
            </button>
          )}
          <h2 class="text-sm font-semibold text-slate-600 uppercase tracking-wide">People</h2>
          {newcomers.value === "closed" && (
            <p class="text-xs text-slate-600" data-testid="newcomers-closed">
              Closed to newcomers: nobody new can join.
            </p>
          )}
          {newcomers.value === "waiting" && (
            <p class="text-xs text-slate-600" data-testid="newcomers-waiting">
              Waiting room: the host lets newcomers in.
            </p>
          )}
          {isHost && waiting.value.length > 0 && (
            <ul class="mt-1 rounded-lg bg-amber-50 p-2 text-sm" data-testid="waiting-room">
              {waiting.value.map((w) => (
                <li key={w.id} class="flex items-center gap-2" data-testid="waiting-entry">
                  <span class="truncate">{w.name}</span>
                  <span class="text-xs text-slate-600">waiting</span>
                  <button
                    class="ml-auto text-emerald-700 underline"
                    type="button"
                    data-testid="admit"
                    onClick={() =>
                      hostAct({ type: "admit", waitId: w.id, admit: true })}
                  >
                    Admit
                  </button>
                  <button
                    class="text-red-700 underline"
                    type="button"
                    data-testid="deny"
                    onClick={() =>
                      hostAct({ type: "admit", waitId: w.id, admit: false })}
                  >
                    Deny
                  </button>
                </li>
              ))}
            </ul>
          )}
          <ul class="mt-1 text-sm" data-testid="roster">
            {roster.value.map((p) => (
              <li
                key={p.id}
                class="flex items-center gap-2 py-0.5"
                data-testid="roster-entry"
                data-host={p.isHost}
              >
                <span
                  class={`h-2 w-2 rounded-full ${p.connected ? "bg-emerald-500" : "bg-amber-400"}`}
                />
                <span class="truncate">{p.name}</span>
                {p.id === me.value?.id && <span class="text-slate-500">(you)</span>}
                {p.isHost && <span class="text-xs text-slate-600">host</span>}
                {p.handRaised && (
                  <span
                    class="text-amber-700"
                    role="img"
                    aria-label="hand raised"
                    data-testid="roster-hand"
                  >
                    <HandIcon class="h-4 w-4" />
                  </span>
                )}
                {p.screen && (
                  <span
                    class="text-sky-700"
                    role="img"
                    aria-label="sharing a screen"
                    title="Sharing a screen"
                    data-testid="roster-screen"
                  >
                    <ScreenIcon class="h-4 w-4" />
                  </span>
                )}
                {isHost && p.handRaised && p.id !== me.value?.id && (
                  <button
                    class="text-xs text-slate-700 underline"
                    type="button"
                    data-testid="host-lower-hand"
                    onClick={() => hostAct({ type: "hand", raised: false, participantId: p.id })}
                  >
                    Lower hand
                  </button>
                )}
                {isHost && p.id !== me.value?.id && (
                  <span class="ml-auto flex gap-2 text-xs">
                    {p.audio && (
                      <button
                        class="text-slate-700 underline"
                        type="button"
                        data-testid="host-mute"
                        onClick={() =>
                          hostAct({ type: "mute", participantId: p.id, kind: "audio" })}
                      >
                        Mute
                      </button>
                    )}
                    {p.video && (
                      <button
                        class="text-slate-700 underline"
                        type="button"
                        data-testid="host-stop-camera"
                        onClick={() =>
                          hostAct({ type: "mute", participantId: p.id, kind: "video" })}
                      >
                        Stop camera
                      </button>
                    )}
                    {p.screen && (
                      <button
                        class="text-slate-700 underline"
                        type="button"
                        data-testid="host-stop-screen"
                        onClick={() =>
                          hostAct({ type: "mute", participantId: p.id, kind: "screen" })}
                      >
                        Stop sharing
                      </button>
                    )}
                    {p.kind !== "rtp" && (
                      <button
                        class="text-emerald-700 underline"
                        type="button"
                        data-testid="make-host"
                        onClick={() => hostAct({ type: "host", participantId: p.id })}
                      >
                        Make host
                      </button>
                    )}
                    <button
                      class="text-red-700 underline"
                      type="button"
                      data-testid="host-remove"
                      onClick={() => {
                        const reason = prompt(`Remove ${p.name}? Reason (optional):`);
                        if (reason !== null) {
                          hostAct({ type: "remove", participantId: p.id, reason });
                        }
                      }}
                    >
                      Remove
                    </button>
                  </span>
                )}
              </li>
            ))}
          </ul>
        </div>
        <ChatPanel messages={chat.value} selfId={me.value?.id ?? null} onSend={send} />
      </aside>
    </div>
  );
}

/** A duration as m:ss (or h:mm:ss). */
function formatDuration(ms: number): string {
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor(total / 60) % 60;
  const sec = String(total % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/**
 * After this long without the server (reconnects failing), the page offers to start again:
 * a server that stopped took its meetings with it.
 */
const SERVER_GONE_MS = 10_000;

/** Whether `value` is an absolute http(s) URL (where a `moved` answer may send the page). */
function isHttpUrl(value: string | undefined): value is string {
  if (!value) return false;
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}
