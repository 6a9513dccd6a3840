/**
 * The client side of the control protocol: one WebSocket, requests that resolve with their
 * reply, typed events, and automatic reconnection with backoff. Runs in browsers and in
 * Deno (pass `npm:ws`'s WebSocket there; Deno's built-in client stalls on large frames).
 *
 * @example
 * ```ts
 * async function connect(rtpBytes: Uint8Array) {
 *   const client = new ControlClient("ws://127.0.0.1:8000/ws");
 *   client.on("chat", (e) => console.log(e.message.name, e.message.text));
 *   await client.opened();
 *   const { token } = await client.request({ type: "identify", name: "Ann" });
 *   // Media shares the socket: each binary message is one RTP or RTCP packet.
 *   client.on("media", (packet) => console.log(packet.length));
 *   client.sendBinary(rtpBytes);
 * }
 * ```
 * @module
 */

import type { ErrorCode } from "../meeting/errors.ts";
import type { ClientRequest, ReplyResults, ServerMessage } from "../protocol/control.ts";
import { Emitter } from "../util/emitter.ts";
import { writeReceivedBytes } from "../media/delivery_window.ts";

/**
 * How often, while binary messages arrive, the client tells the server how many bytes it has
 * read on the socket (a received-bytes report; media/delivery_window.ts): the server's view of
 * what is still on the way to it.
 */
export const RECEIVED_REPORT_MS = 40;

type EventOf<T extends ServerMessage["type"]> = Extract<ServerMessage, { type: T }>;

/** Events of a {@linkcode ControlClient}. */
export type ControlClientEvents = {
  /** The socket (re)opened. Identify and re-join here. */
  open: [];
  /** The socket closed; `willRetry` tells whether it reconnects by itself. */
  close: [willRetry: boolean];
  meetings: [EventOf<"meetings">];
  roster: [EventOf<"roster">];
  chat: [EventOf<"chat">];
  removed: [EventOf<"removed">];
  muted: [EventOf<"muted">];
  recording: [EventOf<"recording">];
  recording_saved: [EventOf<"recording_saved">];
  draining: [EventOf<"draining">];
  newcomers: [EventOf<"newcomers">];
  waiting: [EventOf<"waiting">];
  admission: [EventOf<"admission">];
  reaction: [EventOf<"reaction">];
  levels: [EventOf<"levels">];
  mix_timing: [EventOf<"mix_timing">];
  mode: [EventOf<"mode">];
  signal: [EventOf<"signal">];
  peer: [EventOf<"peer">];
  /** A binary message: one RTP or RTCP packet. */
  media: [packet: Uint8Array];
};

/** An error reply from the server. */
export class ControlError extends Error {
  constructor(
    readonly code: ErrorCode | "timeout" | "disconnected",
    message: string,
    /** With `moved`: the meeting's page on the node of the cluster that holds it. */
    readonly location?: string,
  ) {
    super(message);
    this.name = "ControlError";
  }
}

/** The subset of the WebSocket interface the client uses. */
export interface WebSocketLike {
  readyState: number;
  send(data: string | Uint8Array): void;
  /** Bytes queued and not yet sent (browsers and npm:ws have it). */
  readonly bufferedAmount?: number;
  /** Set to "arraybuffer" so that binary messages arrive as ArrayBuffer. */
  binaryType?: string;
  close(): void;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
}

/** Options of a {@linkcode ControlClient}. */
export interface ControlClientOptions {
  /** WebSocket constructor; the global one by default. */
  WebSocket?: new (url: string) => WebSocketLike;
  /** Reconnect after an unexpected close (default true). */
  reconnect?: boolean;
  /** A request without an answer fails after this long (default 10 s). */
  requestTimeoutMs?: number;
}

type RequestBody = ClientRequest extends infer R ? R extends unknown ? Omit<R, "id"> : never
  : never;

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

/** A control connection to the server. */
export class ControlClient extends Emitter<ControlClientEvents> {
  readonly url: string;
  #options: Required<ControlClientOptions>;
  #socket: WebSocketLike | undefined;
  #pending = new Map<number, Pending>();
  #nextId = 1;
  #closedByUser = false;
  #retryDelay = 250;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Binary bytes read on the current socket. */
  #received = 0;
  #reportTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(url: string, options: ControlClientOptions = {}) {
    super();
    this.url = url;
    this.#options = {
      WebSocket: options.WebSocket ??
        (globalThis.WebSocket as unknown as new (url: string) => WebSocketLike),
      reconnect: options.reconnect ?? true,
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
    };
    this.#connect();
  }

  /** True while the socket is open. */
  get isOpen(): boolean {
    return this.#socket?.readyState === 1;
  }

  /** Resolves once the socket is open (now, if it is). */
  opened(): Promise<void> {
    if (this.isOpen) return Promise.resolve();
    return new Promise((resolve) => {
      const off = this.on("open", () => {
        off();
        resolve();
      });
    });
  }

  /** Sends a request; resolves with its result or rejects with a {@linkcode ControlError}. */
  request<R extends RequestBody>(body: R): Promise<ReplyResults[R["type"]]> {
    const socket = this.#socket;
    if (!socket || socket.readyState !== 1) {
      return Promise.reject(new ControlError("disconnected", "not connected to the server"));
    }
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new ControlError("timeout", `no answer to ${body.type}`));
      }, this.#options.requestTimeoutMs);
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      socket.send(JSON.stringify({ ...body, id }));
    });
  }

  /** Bytes queued on the socket and not yet sent (0 when closed). */
  get bufferedAmount(): number {
    return this.#socket?.bufferedAmount ?? 0;
  }

  /**
   * Sends one binary message (a media packet). Returns false, sending nothing, while the
   * socket is not open: media is not queued across reconnections.
   */
  sendBinary(bytes: Uint8Array): boolean {
    const socket = this.#socket;
    if (!socket || socket.readyState !== 1) return false;
    socket.send(bytes);
    return true;
  }

  /** Closes for good: no reconnection; pending requests fail. */
  close(): void {
    this.#closedByUser = true;
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#reportTimer);
    this.#socket?.close();
    this.#failPending();
  }

  #connect(): void {
    const socket = new this.#options.WebSocket(this.url);
    this.#socket = socket;
    this.#received = 0; // counted per socket, as the server counts what it sends on it
    clearTimeout(this.#reportTimer);
    this.#reportTimer = undefined;
    socket.binaryType = "arraybuffer";
    socket.onopen = () => {
      this.#retryDelay = 250;
      this.emit("open");
    };
    socket.onmessage = (ev) => {
      if (typeof ev.data === "string") return this.#receive(ev.data);
      let bytes: Uint8Array;
      if (ev.data instanceof ArrayBuffer) bytes = new Uint8Array(ev.data);
      else if (ev.data instanceof Uint8Array) bytes = ev.data; // npm:ws: a Buffer
      else return;
      this.#received += bytes.length;
      this.#reportTimer ??= setTimeout(() => this.#reportReceived(socket), RECEIVED_REPORT_MS);
      this.emit("media", bytes);
    };
    socket.onerror = () => {};
    socket.onclose = () => {
      if (this.#socket !== socket) return;
      this.#failPending();
      const willRetry = this.#options.reconnect && !this.#closedByUser;
      this.emit("close", willRetry);
      if (willRetry) {
        this.#retryTimer = setTimeout(() => this.#connect(), this.#retryDelay);
        this.#retryDelay = Math.min(this.#retryDelay * 2, 5_000);
      }
    };
  }

  #reportReceived(socket: WebSocketLike): void {
    this.#reportTimer = undefined;
    if (socket !== this.#socket || socket.readyState !== 1) return;
    socket.send(writeReceivedBytes(this.#received));
  }

  #receive(text: string): void {
    let message: ServerMessage;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (message.type === "reply" || message.type === "error") {
      const pending = typeof message.id === "number" ? this.#pending.get(message.id) : undefined;
      if (!pending) return;
      this.#pending.delete(message.id as number);
      clearTimeout(pending.timer);
      if (message.type === "reply") pending.resolve(message.result);
      else {
        const location = typeof message.location === "string" ? message.location : undefined;
        pending.reject(new ControlError(message.code, message.message, location));
      }
      return;
    }
    // deno-lint-ignore no-explicit-any
    this.emit(message.type, message as any);
  }

  #failPending(): void {
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(new ControlError("disconnected", "connection closed"));
    }
    this.#pending.clear();
  }
}
