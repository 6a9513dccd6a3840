/**
 * The route table: every page and API path the server answers, in one place.
 *
 * @example
 * ```ts
 * const match = matchRoute("GET", new URL("http://x/m/abc"));
 * if (match && "params" in match) match.params.id; // "abc"
 * ```
 * @module
 */

import {
  cancelMeeting,
  createMeeting,
  getMeeting,
  listMeetings,
  meetingHistory,
} from "./api/meetings.ts";
import {
  downloadRecording,
  listRecordings,
  startRecording,
  stopRecording,
} from "./api/recordings.ts";
import { addRtpParticipant, removeRtpParticipant } from "./api/rtp.ts";
import type { RouteHandler } from "./context.ts";
import { homePage } from "./index.tsx";
import { drain, healthz, metrics, readyz } from "./ops.ts";
import { meetingPage } from "./meeting_page.tsx";

interface Route {
  method: string;
  pattern: URLPattern;
  handler: RouteHandler;
}

const ID = ":id([A-Za-z0-9_-]{1,64})";

const ROUTES: Route[] = [
  ["GET", "/", homePage],
  ["GET", `/m/${ID}`, meetingPage],
  ["GET", "/healthz", healthz],
  ["GET", "/readyz", readyz],
  ["GET", "/metrics", metrics],
  ["POST", "/api/admin/drain", drain],
  ["GET", "/api/meetings", listMeetings],
  ["POST", "/api/meetings", createMeeting],
  ["GET", `/api/meetings/${ID}`, getMeeting],
  ["DELETE", `/api/meetings/${ID}`, cancelMeeting],
  ["GET", `/api/meetings/${ID}/history`, meetingHistory],
  ["POST", `/api/meetings/${ID}/rtp`, addRtpParticipant],
  ["DELETE", `/api/meetings/${ID}/rtp/:participantId([a-z0-9]{1,32})`, removeRtpParticipant],
  ["GET", `/api/meetings/${ID}/recordings`, listRecordings],
  ["POST", `/api/meetings/${ID}/recordings`, startRecording],
  ["DELETE", `/api/meetings/${ID}/recordings/current`, stopRecording],
  ["GET", `/api/meetings/${ID}/recordings/:rid([A-Za-z0-9]{1,32})`, downloadRecording],
].map(([method, pathname, handler]) => ({
  method: method as string,
  pattern: new URLPattern({ pathname: pathname as string }),
  handler: (pathname as string).includes(ID)
    ? onItsNode(handler as RouteHandler, pathname === `/m/${ID}`)
    : handler as RouteHandler,
}));

/**
 * A meeting-scoped route for a meeting another node of the cluster holds answers with a
 * redirect to the same path on that node: its page with 302, the API with 307 (the method
 * and body are kept). A meeting this node holds, or no node holds, is this node's to answer.
 */
function onItsNode(handler: RouteHandler, page: boolean): RouteHandler {
  return (req, ctx) => {
    const node = ctx.hub.elsewhere(ctx.params.id);
    if (node === undefined) return handler(req, ctx);
    const { pathname, search } = new URL(req.url);
    return new Response(null, {
      status: page ? 302 : 307,
      headers: { location: `${node}${pathname}${search}`, "cache-control": "no-store" },
    });
  };
}

/** Result of {@linkcode matchRoute}. */
export type RouteMatch =
  | { handler: RouteHandler; params: Record<string, string> }
  | { methodNotAllowed: string[] };

/** Finds the handler for a request; `methodNotAllowed` lists the methods the path does take. */
export function matchRoute(method: string, url: URL): RouteMatch | undefined {
  const allowed: string[] = [];
  for (const route of ROUTES) {
    const match = route.pattern.exec({ pathname: url.pathname });
    if (!match) continue;
    const routeMethod = route.method;
    if (routeMethod === method || (method === "HEAD" && routeMethod === "GET")) {
      return { handler: route.handler, params: match.pathname.groups as Record<string, string> };
    }
    allowed.push(routeMethod);
  }
  return allowed.length ? { methodNotAllowed: allowed } : undefined;
}
