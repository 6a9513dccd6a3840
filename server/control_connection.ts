/**
 * One client's control connection: reads requests, acts on the meeting domain, answers.
 * Bad input gets an error reply and changes nothing; nothing a client sends can throw out
 * of here.
 *
 * Once it holds a seat it owns a {@linkcode WebSocketTransport} for its socket (binary
 * messages are the seat's media), attached to the seat when the seat has no other live
 * transport (see `#attachWebSocketMedia`). Closing that transport (the seat's media moved to
 * UDP or WebTransport) stops media on the socket; the control connection stays.
 *
 * @example
 * ```ts
 * import type { Hub } from "./hub.ts";
 *
 * function accept(socket: WebSocket, hub: Hub) {
 *   const conn = new ControlConnection(socket, hub, "203.0.113.7");
 *   socket.onmessage = (e) => conn.receive(e.data);
 *   socket.onclose = () => conn.closed();
 * }
 * ```
 * @module
 */

import { MeetingError } from "../meeting/errors.ts";
import type { Meeting } from "../meeting/meeting.ts";
import type { P2pCapability } from "../meeting/mode.ts";
import {
  type ClientRequest,
  type JoinReply,
  MAX_CONTROL_MESSAGE_BYTES,
  parseClientMessage,
  type RemovedReason,
  type ReplyResults,
  type RequestId,
  type ServerMessage,
} from "../protocol/control.ts";
import { TokenBucket } from "../util/token_bucket.ts";
import type { Hub } from "./hub.ts";
import type { Room, RoomConnection } from "./room.ts";
import type { Session } from "./sessions.ts";
import { WebSocketTransport } from "./websocket_transport.ts";
import type { NodeInfo } from "./cluster.ts";
import { DeliveryWindow, readReceivedBytes } from "../media/delivery_window.ts";
import { log } from "../util/log.ts";

/** What a connection needs of its socket. */
export interface MessageSocket {
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  readonly readyState: number;
  /** Bytes queued and not yet handed to the kernel. */
  readonly bufferedAmount: number;
  /** Drops the connection at once, without a closing handshake (default: `close(1008)`). */
  terminate?(): void;
}

/**
 * Most bytes a connection may have queued for its client: past this the client is not reading
 * (the media router already stops sending video to a socket with 256 KiB queued), and the
 * connection is dropped rather than buffered without bound.
 */
export const MAX_SEND_QUEUE_BYTES = 4 * 1024 * 1024;

/** Options of a {@linkcode ControlConnection}. */
export interface ControlConnectionOptions {
  /** Default {@linkcode MAX_SEND_QUEUE_BYTES}. */
  maxSendQueueBytes?: number;
  /** Called when the connection is dropped for a full send queue. */
  onSendQueueOverflow?(): void;
}

const OPEN = 1;

/** Per-connection limits: a flood from one client must not degrade the others. */
export const CONNECTION_LIMITS = {
  /** Control messages. */
  messages: { ratePerSecond: 50, burst: 200 },
  /** Chat lines. */
  chat: { ratePerSecond: 5, burst: 20 },
  /** Media packets. */
  mediaPackets: { ratePerSecond: 2_000, burst: 4_000 },
  /** Media bytes (48 Mbit/s sustained; a browser sends about 1). */
  mediaBytes: { ratePerSecond: 6_000_000, burst: 12_000_000 },
};

/** The server side of one `/ws` connection. */
export class ControlConnection implements RoomConnection {
  #socket: MessageSocket;
  #hub: Hub;
  #maxSendQueueBytes: number;
  #onSendQueueOverflow: (() => void) | undefined;
  #dropped = false;
  #session: Session | undefined;
  #room: Room | undefined;
  #participantId: string | undefined;
  /** This socket's media transport, while it is the seat's. */
  #transport: WebSocketTransport | undefined;
  /** Binary bytes sent on this socket and what the client reports having read. */
  #delivery = new DeliveryWindow();
  #subscribed = false;
  #closed = false;
  /** The room whose waiting room this connection is in, if any. */
  #waitingIn: Room | undefined;
  #lastMediaRefusal = -Infinity;
  #lastRateLimitError = -Infinity;
  #messages = new TokenBucket(CONNECTION_LIMITS.messages);
  #chat = new TokenBucket(CONNECTION_LIMITS.chat);
  #mediaPackets = new TokenBucket(CONNECTION_LIMITS.mediaPackets);
  #mediaBytes = new TokenBucket(CONNECTION_LIMITS.mediaBytes);
  /** Messages and packets dropped by the rate limits. */
  rateLimited = 0;
  /** Binary messages dropped because this connection was in no meeting. */
  droppedMedia = 0;
  /** Binary messages dropped because the seat's media is on another transport (UDP...). */
  droppedElsewhere = 0;

  /**
   * @param clientAddress the client's IP address as the server sees it (the TCP peer), the
   *   key of per-address limits
   */
  constructor(
    socket: MessageSocket,
    hub: Hub,
    readonly clientAddress: string,
    options: ControlConnectionOptions = {},
  ) {
    this.#socket = socket;
    this.#hub = hub;
    this.#maxSendQueueBytes = options.maxSendQueueBytes ?? MAX_SEND_QUEUE_BYTES;
    this.#onSendQueueOverflow = options.onSendQueueOverflow;
  }

  /** The session this connection identified as, if it has. */
  get session(): Session | undefined {
    return this.#session;
  }

  /** Handles one incoming WebSocket message. */
  receive(data: string | ArrayBuffer | Uint8Array | Blob): void {
    if (this.#closed) return;
    if (typeof data !== "string") {
      this.#receiveMedia(data);
      return;
    }
    if (!this.#messages.take(1, performance.now())) {
      this.rateLimited++;
      this.#hub.counters.rateLimited++;
      // A small request still gets its answer (one small error for one request: no
      // amplification); a large one is not even read, and is told about at most once a second.
      const parsed = data.length <= 1024 ? parseClientMessage(data) : undefined;
      if (parsed && "request" in parsed) {
        this.#error(parsed.request.id, "rate_limited", "too many messages; try again shortly");
        return;
      }
      const now = performance.now();
      if (now - this.#lastRateLimitError >= 1000) {
        this.#lastRateLimitError = now;
        this.#error(null, "rate_limited", "too many messages; some were dropped");
      }
      return;
    }
    // Length in UTF-16 units is at most the UTF-8 byte length; check bytes only when close.
    if (
      data.length > MAX_CONTROL_MESSAGE_BYTES ||
      (data.length > MAX_CONTROL_MESSAGE_BYTES / 3 &&
        new TextEncoder().encode(data).length > MAX_CONTROL_MESSAGE_BYTES)
    ) {
      this.#error(null, "too_large", `messages are limited to ${MAX_CONTROL_MESSAGE_BYTES} bytes`);
      return;
    }
    const parsed = parseClientMessage(data);
    if ("error" in parsed) {
      this.#error(parsed.error.id, parsed.error.code, parsed.error.message);
      return;
    }
    const request = parsed.request;
    try {
      const result = this.#handle(request);
      if (result instanceof Promise) {
        result.then((r) => this.#reply(request.id, r), (err) => this.#fail(request, err));
      } else {
        this.#reply(request.id, result);
      }
    } catch (err) {
      this.#fail(request, err);
    }
  }

  #fail(request: ClientRequest, err: unknown): void {
    if (err instanceof MeetingError) {
      this.#error(request.id, err.code, err.message, err.retryAfterMs, err.location);
    } else {
      log.error("control_request_failed", "control request failed", {
        type: request.type,
        error: err,
      });
      this.#error(request.id, "internal", "the server could not handle this request");
    }
  }

  /** The socket closed: a seat is held for the grace period, the list subscription ends. */
  closed(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#hub.unsubscribeList(this);
    this.#leaveWaitingRoom();
    const room = this.#room;
    const participantId = this.#participantId;
    this.#room = undefined;
    this.#participantId = undefined;
    this.#closeTransport();
    if (room && participantId) {
      room.detachConnection(participantId);
      room.meeting.disconnect(participantId);
    }
  }

  /** Sends a message if the socket is open. */
  send(message: ServerMessage): void {
    this.sendText(JSON.stringify(message));
  }

  /** Sends an already serialised message if the socket is open (the list: one string for all). */
  sendText(text: string): void {
    this.#send(text);
  }

  /** Sends unless closed; drops the connection when its client has stopped reading. */
  #send(data: string | Uint8Array): void {
    if (this.#closed || this.#dropped || this.#socket.readyState !== OPEN) return;
    try {
      this.#socket.send(data);
    } catch {
      return; // The socket went away between the check and the send; close() will follow.
    }
    if (typeof data !== "string") this.#delivery.sent(data.length, performance.now());
    if (this.#socket.bufferedAmount > this.#maxSendQueueBytes) {
      this.#dropped = true;
      this.#onSendQueueOverflow?.();
      try {
        if (this.#socket.terminate) this.#socket.terminate();
        else this.#socket.close(1008, "not reading");
      } catch {
        // already closing
      }
    }
  }

  /**
   * The room let this connection go (meeting cancelled or ended, seat taken over, or the host
   * removed it, with the host's `message`).
   */
  removed(meetingId: string, reason: RemovedReason, message?: string): void {
    if (this.#room?.id !== meetingId) return;
    this.#room = undefined;
    this.#participantId = undefined;
    this.#closeTransport();
    this.send({ type: "removed", meetingId, reason, ...(message ? { message } : {}) });
  }

  /**
   * Sends one media packet on this socket whatever carries the seat's media (a packet too
   * large for the seat's WebTransport datagrams; see `RoomConnection.sendMedia`).
   */
  sendMedia(packet: Uint8Array): void {
    this.#send(packet);
  }

  /** This connection's media transport while attached to its seat (tests, stats). */
  get transport(): WebSocketTransport | undefined {
    return this.#transport;
  }

  /**
   * Attaches a WebSocket transport for this socket to the seat, unless the seat's media is on
   * another live transport: a terminal client's UDP binding, a page's WebTransport session
   * keep the media across a control reconnect. With `replace` (the page said it moved to the
   * WebSocket), the other transport is replaced and closed. Returns whether this socket
   * carries the media.
   */
  #attachWebSocketMedia(
    room: Room,
    participantId: string,
    options: { replace?: boolean } = {},
  ): boolean {
    if (this.#transport && !this.#transport.closed) return true;
    if (!options.replace && room.transportOf(participantId)) return false;
    const transport = new WebSocketTransport({
      send: (packet) => this.#send(packet),
      queuedBytes: () => this.#socket.bufferedAmount,
      backlogMs: () => this.#delivery.backlogMs(performance.now()),
      fullLinkBps: (overMs) => this.#delivery.fullLinkBps(performance.now(), overMs),
    });
    transport.onClose(() => {
      if (this.#transport === transport) this.#transport = undefined;
    });
    this.#transport = transport;
    return room.attachMedia(participantId, transport);
  }

  #closeTransport(): void {
    const transport = this.#transport;
    this.#transport = undefined;
    transport?.close();
  }

  #receiveMedia(data: ArrayBuffer | Uint8Array | Blob): void {
    if (!(data instanceof Blob) && data.byteLength === 16) {
      // The client's count of binary bytes read on this socket (any member or not): it says
      // how long what was sent to it is taking, kernel and network included.
      const received = readReceivedBytes(data instanceof Uint8Array ? data : new Uint8Array(data));
      if (received !== null) {
        this.#delivery.acknowledge(received, performance.now());
        return;
      }
    }
    const room = this.#room;
    if (room && this.#participantId && !(data instanceof Blob)) {
      const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
      const now = performance.now();
      if (!this.#mediaPackets.take(1, now) || !this.#mediaBytes.take(bytes.length, now)) {
        this.rateLimited++;
        this.#hub.counters.rateLimited++;
        return;
      }
      // Media on the socket of a seat without a live transport (its WebTransport session or
      // UDP binding went) brings the seat's media back to this socket: the fallback.
      if (!this.#attachWebSocketMedia(room, this.#participantId)) {
        this.droppedElsewhere++;
        return;
      }
      room.media.receive(this.#participantId, bytes);
      return;
    }
    this.droppedMedia++;
    const now = performance.now();
    if (now - this.#lastMediaRefusal >= 1000) {
      this.#lastMediaRefusal = now;
      this.#error(null, "not_member", "media packets are accepted only from a meeting's members");
    }
  }

  /** Answers a request; a create placed on another node answers when that node has. */
  #handle(
    request: ClientRequest,
  ): ReplyResults[keyof ReplyResults] | Promise<ReplyResults["create"]> {
    switch (request.type) {
      case "identify":
        return this.#identify(request.name, request.token, request.handoff);
      case "ping":
        return { now: Date.now() };
      case "subscribe_meetings":
        this.#subscribed = true;
        this.#hub.subscribeList(this);
        return { meetings: this.#hub.list() };
      case "unsubscribe_meetings":
        this.#subscribed = false;
        this.#hub.unsubscribeList(this);
        return {};
    }
    const session = this.#requireSession();
    switch (request.type) {
      case "create": {
        // A create that does not join at once (the lobby's) may go to another node: the page
        // goes there with the handoff code.
        const node = request.join === false ? this.#hub.cluster?.place() : null;
        if (node) return this.#createOn(node, request.title, session, request.passcode);
        const { meeting } = this.#hub.createMeeting(
          { title: request.title, creatorName: session.name, passcode: request.passcode },
          this.clientAddress,
          session,
        );
        const result: ReplyResults["create"] = { meeting: meeting.details() };
        if (request.join !== false) {
          result.join = this.#join(meeting, session.name, request.p2p ?? null);
          result.meeting = meeting.details();
        }
        return result;
      }
      case "join": {
        const node = this.#hub.elsewhere(request.meetingId);
        if (node !== undefined) {
          throw new MeetingError("moved", `this meeting is held by another server: ${node}`, {
            location: `${node}/m/${request.meetingId}`,
          });
        }
        return this.#join(
          this.#hub.registry.require(request.meetingId),
          request.name ?? session.name,
          request.p2p ?? null,
          request.passcode,
        );
      }
      case "leave": {
        const room = this.#requireRoom();
        const participantId = this.#participantId!;
        this.#room = undefined;
        this.#participantId = undefined;
        this.#closeTransport();
        room.detachConnection(participantId);
        room.meeting.leave(participantId); // closes the seat's transport, whatever it is
        return {};
      }
      case "cancel": {
        const meetingId = request.meetingId ?? this.#room?.id;
        if (meetingId === undefined) {
          throw new MeetingError("bad_request", "cancel needs a meetingId when not in a meeting");
        }
        this.#hub.registry.require(meetingId).cancel(session.id);
        return {};
      }
      case "chat": {
        const room = this.#requireRoom();
        if (!this.#chat.take(1, performance.now())) {
          this.rateLimited++;
          this.#hub.counters.rateLimited++;
          throw new MeetingError("rate_limited", "you are sending chat too fast");
        }
        return { message: room.meeting.sendChat(this.#participantId!, request.text) };
      }
      case "media": {
        const room = this.#requireRoom();
        room.meeting.setMediaState(this.#participantId!, request);
        return {};
      }
      case "signal": {
        const room = this.#requireRoom();
        if (request.to === this.#participantId || !room.meeting.participant(request.to)) {
          throw new MeetingError("not_found", "no such participant in your meeting");
        }
        const sent = room.sendTo(request.to, {
          type: "signal",
          meetingId: room.id,
          from: this.#participantId!,
          data: request.data,
        });
        if (!sent) throw new MeetingError("not_found", "that participant is not connected");
        return {};
      }
      case "p2p_failed": {
        const room = this.#requireRoom();
        room.meeting.reportP2pFailure(this.#participantId!);
        return {};
      }
      case "path": {
        const room = this.#requireRoom();
        room.meeting.setPath(this.#participantId!, request.path);
        return {};
      }
      case "host": {
        const room = this.#requireRoom();
        room.meeting.handOverHost(this.#participantId!, request.participantId);
        return {};
      }
      case "mute": {
        const room = this.#requireRoom();
        room.meeting.hostMute(this.#participantId!, request.participantId, request.kind);
        return {};
      }
      case "hand": {
        const room = this.#requireRoom();
        const self = this.#participantId!;
        room.meeting.setHand(request.participantId ?? self, request.raised, self);
        return {};
      }
      case "react": {
        const room = this.#requireRoom();
        room.meeting.react(this.#participantId!, request.reaction);
        return {};
      }
      case "record": {
        const room = this.#requireRoom();
        if (!request.on) {
          room.meeting.stopRecording(this.#participantId!, "stopped");
          return { recording: null };
        }
        // Who may download it: the starter's session and the meeting creator's.
        const owners = [this.#session!.token];
        const creator = this.#hub.sessions.byId(room.meeting.creatorSessionId);
        if (creator) owners.push(creator.token);
        return { recording: this.#hub.recorder.start(room, this.#participantId!, owners) };
      }
      case "admit": {
        const room = this.#requireRoom();
        room.meeting.admit(this.#participantId!, request.waitId, request.admit);
        return {};
      }
      case "newcomers": {
        const room = this.#requireRoom();
        room.meeting.setNewcomers(this.#participantId!, request.policy);
        return {};
      }
      case "remove": {
        const room = this.#requireRoom();
        room.meeting.removeParticipant(this.#participantId!, request.participantId, request.reason);
        return {};
      }
      case "media_transport": {
        // The page left WebTransport (or never got there): its media is on this connection.
        const room = this.#requireRoom();
        // Replaces (and closes) the seat's other transport in one step: the seat's media state
        // (its mix stream, the router's view of it) carries over.
        this.#attachWebSocketMedia(room, this.#participantId!, { replace: true });
        const webTransport = this.#hub.webTransportInfo?.();
        return webTransport ? { webTransport } : {};
      }
    }
  }

  async #createOn(
    node: NodeInfo,
    title: string,
    session: Session,
    passcode: string | undefined,
  ): Promise<ReplyResults["create"]> {
    const placed = await this.#hub.cluster!.createOn(
      node,
      { title, name: session.name, passcode },
      this.clientAddress,
    );
    return {
      meeting: { ...placed.meeting, state: "open", roster: [] },
      handoff: placed.handoff,
    };
  }

  #identify(
    name: string | undefined,
    token: string | undefined,
    handoff?: string,
  ): ReplyResults["identify"] {
    if (handoff !== undefined && !this.#session) {
      const session = this.#hub.sessions.claim(handoff);
      if (!session) throw new MeetingError("invalid_token", "unknown, used or expired handoff");
      if (name !== undefined) session.name = this.#hub.normalizeName(name);
      this.#session = session;
      return { token: session.token, name: session.name };
    }
    if (this.#session) {
      // Identifying again on the same connection may only change the name.
      if (token !== undefined && token !== this.#session.token) {
        throw new MeetingError("bad_request", "this connection is identified with another token");
      }
      if (name !== undefined) this.#session.name = this.#hub.normalizeName(name);
      return { token: this.#session.token, name: this.#session.name };
    }
    if (token !== undefined) {
      const session = this.#hub.sessions.byToken(token);
      if (!session) throw new MeetingError("invalid_token", "unknown or expired token");
      if (name !== undefined) session.name = this.#hub.normalizeName(name);
      this.#session = session;
    } else {
      this.#session = this.#hub.createSession(this.#hub.normalizeName(name), this.clientAddress);
    }
    return { token: this.#session.token, name: this.#session.name };
  }

  #join(
    meeting: Meeting,
    name: string,
    p2p: P2pCapability | null,
    passcode?: unknown,
  ): JoinReply {
    if (this.#room) {
      if (this.#room.meeting === meeting) {
        throw new MeetingError("already_in_meeting", "you are already in this meeting");
      }
      throw new MeetingError("already_in_meeting", "leave your current meeting first");
    }
    const sessionId = this.#session!.id;
    // A passcode is judged only while the meeting and this address have wrong guesses left.
    const guess = meeting.needsPasscode(sessionId) && typeof passcode === "string" &&
      passcode !== "";
    if (guess) this.#hub.limits.checkPasscode(meeting.id, this.clientAddress);
    let joined;
    try {
      joined = meeting.join(sessionId, name, { p2p, passcode });
    } catch (err) {
      if (guess && err instanceof MeetingError && err.code === "wrong_passcode") {
        this.#hub.limits.wrongPasscode(meeting.id, this.clientAddress);
      }
      if (err instanceof MeetingError && err.code === "waiting_for_host") {
        this.#leaveWaitingRoom();
        this.#waitingIn = this.#hub.room(meeting.id);
        this.#waitingIn.addWaiter(sessionId, this);
      }
      throw err;
    }
    this.#leaveWaitingRoom();
    const { participant, resumed } = joined;
    const room = this.#hub.room(meeting.id);
    this.#room = room;
    this.#participantId = participant.id;
    room.attachConnection(participant.id, this); // a replaced connection closes its transport
    this.#attachWebSocketMedia(room, participant.id);
    if (meeting.waiting.length > 0) {
      this.send({ type: "waiting", meetingId: meeting.id, waiting: meeting.waiting });
    }
    const cluster = this.#hub.cluster;
    return {
      meeting: meeting.details(),
      participantId: participant.id,
      name: participant.name,
      resumed,
      chat: meeting.recentChat(),
      media: {
        audioSsrc: participant.audioSsrc,
        videoSsrc: participant.videoSsrc,
        smallVideoSsrc: participant.smallVideoSsrc,
        screenSsrc: participant.screenSsrc,
        mixSsrc: meeting.mixSsrc,
        mediaKey: participant.mediaKey,
        ...(this.#hub.webTransportInfo ? { webTransport: this.#hub.webTransportInfo() } : {}),
      },
      ...(cluster
        ? { nodes: cluster.nodes.filter((n) => n.id !== cluster.nodeId).map((n) => n.url) }
        : {}),
    };
  }

  #leaveWaitingRoom(): void {
    const room = this.#waitingIn;
    this.#waitingIn = undefined;
    if (room && this.#session) room.removeWaiter(this.#session.id, this);
  }

  #requireSession(): Session {
    if (!this.#session) throw new MeetingError("not_identified", "identify first");
    return this.#session;
  }

  #requireRoom(): Room {
    if (!this.#room) throw new MeetingError("not_member", "you are not in a meeting");
    return this.#room;
  }

  #reply(id: RequestId, result: unknown): void {
    this.send({ type: "reply", id, result });
  }

  #error(
    id: RequestId | null,
    code: MeetingError["code"],
    message: string,
    retryAfterMs?: number,
    location?: string,
  ): void {
    this.send({
      type: "error",
      id,
      code,
      message,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      ...(location === undefined ? {} : { location }),
    });
  }

  /** Whether this connection asked for the live meeting list. */
  get subscribed(): boolean {
    return this.#subscribed;
  }
}
