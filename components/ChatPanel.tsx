/**
 * The chat list and its input. Text is rendered as text (Preact escapes it), never as HTML.
 * The list scrolls inside the panel and follows new lines, unless the reader scrolled up to
 * read back: then a "new messages" button says how many came and takes them down. Lines you
 * send always bring you down.
 *
 * @example
 * ```tsx
 * import type { ChatMessage } from "../meeting/chat.ts";
 * import type { ParticipantInfo } from "../meeting/participant.ts";
 *
 * function Chat({ messages, me }: { messages: ChatMessage[]; me: ParticipantInfo }) {
 *   return <ChatPanel messages={messages} selfId={me.id} onSend={async (text) => true} />;
 * }
 * ```
 * @module
 */

import { useSignal } from "@preact/signals";
import { useEffect, useRef } from "preact/hooks";
import type { ChatMessage } from "../meeting/chat.ts";
import { MAX_CHAT_LENGTH } from "../meeting/chat.ts";
import { clockTime } from "../client/format.ts";

/** How close to the end, px, still counts as at the end (rounding, a partly shown line). */
const END_SLACK_PX = 24;

/** The chat of a meeting: its lines and the box to write one. */
export function ChatPanel(
  { messages, selfId, onSend }: {
    messages: ChatMessage[];
    selfId: string | null;
    onSend: (text: string) => Promise<boolean>;
  },
) {
  const draft = useSignal("");
  const list = useRef<HTMLOListElement>(null);
  /** Whether the list is scrolled to its end (it then follows new lines). */
  const atEnd = useRef(true);
  /** Where the list was last put at its end: only a scroll above it is the reader's. */
  const pinnedTop = useRef(0);
  const shown = useRef(0);
  const unseen = useSignal(0);

  const toEnd = () => {
    const el = list.current;
    if (el) {
      el.scrollTop = el.scrollHeight;
      pinnedTop.current = el.scrollTop;
    }
    atEnd.current = true;
    unseen.value = 0;
  };

  // Shown again (a phone's chat panel opened) or resized: still at the end if it was.
  useEffect(() => {
    const el = list.current;
    if (!el || typeof ResizeObserver !== "function") return;
    const observer = new ResizeObserver(() => atEnd.current && toEnd());
    observer.observe(el);
    return () => observer.disconnect();
  }, []);

  useEffect(() => {
    const added = messages.slice(shown.current);
    shown.current = messages.length;
    if (atEnd.current || added.some((m) => m.participantId === selfId)) toEnd();
    else unseen.value += added.length;
  }, [messages.length]);

  // A scroll event comes a frame after its scroll: lines added meanwhile make an automatic
  // scroll to the end look like one that stopped short. The reader left the end only if the
  // list went up from where it was put.
  function onScroll() {
    const el = list.current;
    if (!el) return;
    if (el.scrollHeight - el.scrollTop - el.clientHeight < END_SLACK_PX) {
      atEnd.current = true;
      pinnedTop.current = el.scrollTop;
      unseen.value = 0;
    } else if (el.scrollTop < pinnedTop.current - END_SLACK_PX) {
      atEnd.current = false;
    }
  }

  async function submit(e: Event) {
    e.preventDefault();
    const text = draft.value;
    if (!text.trim()) return;
    if (await onSend(text)) draft.value = "";
  }

  return (
    <div class="flex-1 flex flex-col min-h-0">
      <h2 class="shrink-0 px-4 pt-3 text-sm font-semibold text-slate-600 uppercase tracking-wide">
        Chat
      </h2>
      <div class="relative flex-1 min-h-0 flex flex-col">
        <ol
          ref={list}
          class="flex-1 min-h-0 overflow-y-auto px-4 py-2 space-y-2"
          data-testid="chat"
          aria-live="polite"
          onScroll={onScroll}
        >
          {messages.map((m) => (
            <li key={m.id} data-testid="chat-line" class="text-sm">
              <div class="flex items-baseline gap-2">
                <span
                  class={`font-semibold ${m.participantId === selfId ? "text-emerald-700" : ""}`}
                  data-testid="chat-name"
                >
                  {m.name}
                </span>
                <time
                  class="text-xs text-slate-500"
                  dateTime={new Date(m.at).toISOString()}
                  data-testid="chat-time"
                >
                  {clockTime(m.at)}
                </time>
              </div>
              <p class="whitespace-pre-wrap break-words" data-testid="chat-text">{m.text}</p>
            </li>
          ))}
        </ol>
        {unseen.value > 0 && (
          <button
            class="absolute bottom-2 left-1/2 -translate-x-1/2 rounded-full bg-emerald-700 px-3 py-1 text-xs font-medium text-white shadow"
            type="button"
            data-testid="chat-new"
            onClick={toEnd}
          >
            {unseen.value} new {unseen.value === 1 ? "message" : "messages"} ↓
          </button>
        )}
      </div>
      <form class="shrink-0 flex gap-2 p-3 border-t border-slate-200" onSubmit={submit}>
        <input
          class="flex-1 min-w-0 rounded-lg border border-slate-300 px-3 py-2 text-sm focus:outline-none focus:ring-2 focus:ring-emerald-500"
          name="chat"
          placeholder="Message"
          aria-label="Chat message"
          data-testid="chat-input"
          maxLength={MAX_CHAT_LENGTH}
          autoComplete="off"
          value={draft}
          onInput={(e) => draft.value = e.currentTarget.value}
        />
        <button
          class="rounded-lg bg-emerald-700 px-3 py-2 text-sm font-medium text-white hover:bg-emerald-800"
          type="submit"
        >
          Send
        </button>
      </form>
    </div>
  );
}
