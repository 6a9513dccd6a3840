/**
 * The home page island: your name, a form to create a meeting, and the live list of
 * meetings (updated over the control WebSocket, no reload).
 *
 * @example
 * ```tsx
 * import type { MeetingRegistry } from "../meeting/registry.ts";
 * import { Island } from "../web/island.tsx";
 *
 * function LobbyIsland({ registry }: { registry: MeetingRegistry }) {
 *   return (
 *     <Island name="Lobby" component={Lobby} props={{ meetings: registry.list(), notice: null }} />
 *   );
 * }
 * ```
 * @module
 */

import { useSignal } from "@preact/signals";
import { useEffect, useRef } from "preact/hooks";
import type { MeetingSummary } from "../meeting/meeting.ts";
import { ControlClient } from "../client/control_client.ts";
import { age } from "../client/format.ts";
import {
  controlUrl,
  identify,
  markAutoJoin,
  rememberedName,
  rememberName,
} from "../client/identity.ts";

/** Props of the lobby; `notice` is a message to show once (e.g. "The meeting was cancelled"). */
export interface LobbyProps extends Record<string, unknown> {
  meetings: MeetingSummary[];
  notice: string | null;
}

const input =
  "w-full rounded-lg border border-slate-300 bg-white px-3 py-2 focus:outline-none focus:ring-2 focus:ring-emerald-500";
const button =
  "rounded-lg bg-emerald-700 px-4 py-2 font-medium text-white hover:bg-emerald-800 disabled:opacity-50";

export default function Lobby({ meetings: initial, notice }: LobbyProps) {
  const meetings = useSignal(initial);
  const name = useSignal("");
  const title = useSignal("");
  const passcode = useSignal("");
  const error = useSignal<string | null>(null);
  const busy = useSignal(false);
  const live = useSignal(false);
  const client = useRef<ControlClient>();
  const nameField = useRef<HTMLInputElement>(null);

  useEffect(() => {
    name.value = rememberedName();
    const c = new ControlClient(controlUrl());
    client.current = c;
    c.on("open", () => {
      live.value = true;
      c.request({ type: "subscribe_meetings" }).then((r) => meetings.value = r.meetings)
        .catch(() => {});
    });
    c.on("close", () => live.value = false);
    c.on("meetings", (e) => meetings.value = e.meetings);
    return () => c.close();
  }, []);

  function needName(): string | null {
    const n = name.value.trim();
    if (!n) {
      error.value = "Type your name first.";
      nameField.current?.focus();
      return null;
    }
    rememberName(n);
    return n;
  }

  async function create(e: Event) {
    e.preventDefault();
    const n = needName();
    if (!n || !client.current) return;
    busy.value = true;
    error.value = null;
    try {
      await client.current.opened();
      await identify(client.current, n);
      const { meeting, handoff } = await client.current.request({
        type: "create",
        title: title.value.trim() || `${n}'s meeting`,
        join: false,
        passcode: passcode.value || undefined,
      });
      if (meeting.url && handoff) {
        // Placed on another server of the cluster: its page makes this person the creator.
        const fragment = new URLSearchParams({ handoff, name: n });
        location.href = `${meeting.url}/m/${meeting.id}#${fragment}`;
        return;
      }
      markAutoJoin(meeting.id);
      location.href = `/m/${meeting.id}`;
    } catch (err) {
      error.value = (err as Error).message;
      busy.value = false;
    }
  }

  function join(id: string) {
    if (!needName()) return;
    markAutoJoin(id);
    location.href = `/m/${id}`;
  }

  return (
    <div class="space-y-6">
      {notice && (
        <p
          role="status"
          class="rounded-lg bg-amber-100 text-amber-900 px-4 py-3"
          data-testid="notice"
        >
          {notice}
        </p>
      )}
      <section class="rounded-xl bg-white shadow-sm p-5 space-y-4">
        <label class="block">
          <span class="text-sm font-medium text-slate-600">Your name</span>
          <input
            ref={nameField}
            class={input}
            name="name"
            maxLength={40}
            autoComplete="nickname"
            placeholder="e.g. Ann"
            value={name}
            onInput={(e) => name.value = e.currentTarget.value}
          />
        </label>
        <form class="flex flex-col sm:flex-row gap-2" onSubmit={create}>
          <input
            class={input}
            name="title"
            maxLength={80}
            placeholder="Meeting title"
            value={title}
            onInput={(e) => title.value = e.currentTarget.value}
          />
          <input
            class={`${input} sm:w-40`}
            name="passcode"
            type="password"
            maxLength={64}
            autoComplete="new-password"
            placeholder="Passcode (optional)"
            value={passcode}
            onInput={(e) => passcode.value = e.currentTarget.value}
          />
          <button class={`${button} whitespace-nowrap`} type="submit" disabled={busy}>
            Create meeting
          </button>
        </form>
        {error.value && <p class="text-sm text-red-600" role="alert">{error}</p>}
      </section>
      <section class="space-y-2">
        <h2 class="flex items-center gap-2 text-sm font-semibold uppercase tracking-wide text-slate-600">
          Meetings now
          <span
            class={`h-2 w-2 rounded-full ${live.value ? "bg-emerald-500" : "bg-slate-300"}`}
            title={live.value ? "live" : "connecting"}
          />
        </h2>
        {meetings.value.length === 0
          ? <p class="text-slate-600 py-6 text-center">No meetings yet. Create one.</p>
          : (
            <ul class="space-y-2" data-testid="meeting-list">
              {meetings.value.map((m) => (
                <li
                  key={m.id}
                  data-meeting-id={m.id}
                  class="flex items-center gap-3 rounded-xl bg-white shadow-sm px-4 py-3"
                >
                  <div class="flex-1 min-w-0">
                    <p class="font-medium truncate" data-testid="meeting-title">
                      {m.locked && (
                        <span class="mr-1" title="needs a passcode" aria-label="needs a passcode">
                          🔒
                        </span>
                      )}
                      {m.title}
                    </p>
                    <p class="text-sm text-slate-600 truncate">
                      by {m.creator} · {m.participants} {m.participants === 1 ? "person" : "people"}
                      {" "}
                      · {age(m.createdAt)}
                      {m.newcomers === "closed" && (
                        <span data-testid="meeting-closed">· closed to newcomers</span>
                      )}
                      {m.newcomers === "waiting" && (
                        <span data-testid="meeting-waiting">· waiting room</span>
                      )}
                      {m.recording && (
                        <span class="text-red-700" data-testid="meeting-recording">
                          {" "}· ● recording
                        </span>
                      )}
                    </p>
                  </div>
                  <button class={button} type="button" onClick={() => join(m.id)}>Join</button>
                </li>
              ))}
            </ul>
          )}
      </section>
    </div>
  );
}
