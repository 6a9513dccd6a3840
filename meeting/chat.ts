/**
 * Chat messages and the bounded history a late joiner receives.
 *
 * @example
 * ```ts
 * const history = new ChatHistory(100);
 * history.add({ id: 1, participantId: "p1", name: "Ann", text: "hi", at: Date.now() });
 * history.recent(); // [ { ..., text: "hi" } ]
 * ```
 * @module
 */

import { MeetingError } from "./errors.ts";

/** Longest chat message, in characters (code points). */
export const MAX_CHAT_LENGTH = 2000;
/** How many recent messages a participant who joins later receives. */
export const CHAT_HISTORY_SIZE = 100;

/** One chat line as every participant receives it. `at` is the server's time in ms. */
export interface ChatMessage {
  /** Sequence number within the meeting, from 1. */
  id: number;
  participantId: string;
  /** The sender's display name in this meeting. */
  name: string;
  /** Plain text, never HTML. */
  text: string;
  /** Server timestamp, ms since the epoch. */
  at: number;
}

/** Checks a chat text: a string, not only white space, at most 2,000 characters. Returns it unchanged. */
export function validateChatText(raw: unknown): string {
  if (typeof raw !== "string") throw new MeetingError("invalid_text", "chat text must be a string");
  if (raw.trim() === "") throw new MeetingError("invalid_text", "chat text is empty");
  const length = [...raw].length;
  if (length > MAX_CHAT_LENGTH) {
    throw new MeetingError(
      "invalid_text",
      `chat text is ${length} characters; the limit is ${MAX_CHAT_LENGTH}`,
    );
  }
  return raw;
}

/** A ring of the most recent messages. */
export class ChatHistory {
  #messages: ChatMessage[] = [];
  constructor(readonly capacity = CHAT_HISTORY_SIZE) {}

  /** Appends a message, dropping the oldest beyond capacity. */
  add(message: ChatMessage): void {
    this.#messages.push(message);
    if (this.#messages.length > this.capacity) this.#messages.shift();
  }

  /** The kept messages, oldest first (a copy). */
  recent(): ChatMessage[] {
    return [...this.#messages];
  }
}
