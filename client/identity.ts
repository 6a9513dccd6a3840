/**
 * What the browser remembers about its user: the last display name (localStorage, shared by
 * tabs), the session token (sessionStorage: one session per tab, kept across page loads),
 * and a one-shot "join this meeting straight away" mark set by the lobby.
 *
 * @example
 * ```ts
 * import type { ControlClient } from "./control_client.ts";
 *
 * async function signIn(client: ControlClient) {
 *   rememberName("Ann");
 *   const { token, name } = await identify(client, rememberedName());
 * }
 * ```
 * @module
 */

import { type ControlClient, ControlError } from "./control_client.ts";

const NAME_KEY = "meet.name";
const TOKEN_KEY = "meet.token";
const AUTOJOIN_KEY = "meet.autojoin";

function storage(kind: "localStorage" | "sessionStorage"): Storage | undefined {
  try {
    return globalThis[kind];
  } catch {
    return undefined; // storage disabled
  }
}

/** The name this browser used last, or "". */
export function rememberedName(): string {
  return storage("localStorage")?.getItem(NAME_KEY) ?? "";
}

/** Remembers the name for next time. */
export function rememberName(name: string): void {
  storage("localStorage")?.setItem(NAME_KEY, name);
}

/** Marks a meeting to be joined without asking for a name once its page opens. */
export function markAutoJoin(meetingId: string): void {
  storage("sessionStorage")?.setItem(AUTOJOIN_KEY, meetingId);
}

/** True (once) when the lobby marked this meeting for joining straight away. */
export function takeAutoJoin(meetingId: string): boolean {
  const s = storage("sessionStorage");
  const marked = s?.getItem(AUTOJOIN_KEY) === meetingId;
  if (marked) s?.removeItem(AUTOJOIN_KEY);
  return marked;
}

/**
 * A handoff from another node of the cluster, which made this page's meeting here for its
 * lobby: `#handoff=CODE&name=NAME` in the URL. Taken once: the fragment is cleared at once
 * (from the address bar and the history entry).
 */
export function takeHandoff(): { code: string; name: string } | null {
  const hash = globalThis.location?.hash ?? "";
  if (!hash.startsWith("#handoff=")) return null;
  const params = new URLSearchParams(hash.slice(1));
  const code = params.get("handoff") ?? "";
  history.replaceState(null, "", location.pathname + location.search);
  if (!/^[A-Za-z0-9_-]{16,64}$/.test(code)) return null;
  return { code, name: (params.get("name") ?? "").slice(0, 100) };
}

/**
 * Identifies this connection: with a handoff code when given (the session another node made
 * the meeting for), else with the tab's token when it has one (so the server knows it as the
 * same person, e.g. a meeting's creator), else as a new session under `name`.
 */
export async function identify(
  client: ControlClient,
  name: string | undefined,
  handoff?: string,
): Promise<{ token: string; name: string }> {
  const s = storage("sessionStorage");
  if (handoff) {
    const result = await client.request({ type: "identify", handoff, name });
    s?.setItem(TOKEN_KEY, result.token);
    return result;
  }
  const token = s?.getItem(TOKEN_KEY) ?? undefined;
  if (token) {
    try {
      return await client.request({ type: "identify", token, name });
    } catch (err) {
      if (!(err instanceof ControlError && err.code === "invalid_token")) throw err;
      s?.removeItem(TOKEN_KEY); // the server no longer knows it (e.g. it restarted)
    }
  }
  if (!name) throw new ControlError("invalid_name", "a name is needed");
  const result = await client.request({ type: "identify", name });
  s?.setItem(TOKEN_KEY, result.token);
  return result;
}

/** The control WebSocket's address for this page. */
export function controlUrl(): string {
  const { protocol, host } = globalThis.location;
  return `${protocol === "https:" ? "wss" : "ws"}://${host}/ws`;
}
