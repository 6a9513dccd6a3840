/**
 * The chat list and its input. Text is rendered as text (Preact escapes it), never as HTML.
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

export function ChatPanel(
  { messages, selfId, onSend }: {
    messages: ChatMessage[];
    selfId: string | null;
    onSend: (text: string) => Promise<boolean>;
  },
) {
  const draft = useSignal("");
  const list = useRef<HTMLOListElement>(null);

  useEffect(() => {
    const el = list.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [messages.length]);

  async function submit(e: Event) {
    e.preventDefault();
    const text = draft.value;
    if (!text.trim()) return;
    if (await onSend(text)) draft.value = "";
  }

  return (
    <div class="flex-1 flex flex-col min-h-0">
      <h2 class="px-4 pt-3 text-sm font-semibold text-slate-500 uppercase tracking-wide">Chat</h2>
      <ol
        ref={list}
        class="flex-1 overflow-y-auto px-4 py-2 space-y-2 min-h-[6rem] max-h-72 md:max-h-full"
        data-testid="chat"
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
                class="text-xs text-slate-400"
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
      <form class="flex gap-2 p-3 border-t border-slate-200" onSubmit={submit}>
        <input
          class="flex-1 min-w-0 rounded-lg border border-slate-300 px-3 py-2 text-sm focus:outline-none focus:ring-2 focus:ring-emerald-500"
          name="chat"
          placeholder="Message"
          maxLength={MAX_CHAT_LENGTH}
          autoComplete="off"
          value={draft}
          onInput={(e) => draft.value = e.currentTarget.value}
        />
        <button
          class="rounded-lg bg-emerald-600 px-3 py-2 text-sm font-medium text-white hover:bg-emerald-700"
          type="submit"
        >
          Send
        </button>
      </form>
    </div>
  );
}
