/**
 * Routes for operators: `GET /healthz` (the process answers), `GET /readyz` (it takes new
 * meetings: 503 while draining), `GET /metrics` (Prometheus text; only with the metrics token,
 * and 404 when the server has none), `POST /api/admin/drain` (with the admin token: the server
 * takes no new meetings and stops once its meetings end).
 *
 * @module
 */

import { MeetingError } from "../meeting/errors.ts";
import { timingSafeEqual } from "../util/ids.ts";
import { METRICS_CONTENT_TYPE } from "../server/metrics.ts";
import { api, bearerToken } from "./api/meetings.ts";
import type { RouteHandler } from "./context.ts";

/** Throws unless the request carries `expected` as its bearer token (404 when there is none). */
function requireToken(req: Request, expected: string | undefined, what: string): void {
  if (!expected) throw new MeetingError("not_found", `${what} is off on this server`);
  const token = bearerToken(req);
  if (!token) {
    throw new MeetingError("unauthorized", `send Authorization: Bearer <the ${what} token>`);
  }
  if (!timingSafeEqual(token, expected)) {
    throw new MeetingError("forbidden", `that is not the ${what} token`);
  }
}

export const healthz: RouteHandler = () =>
  Response.json({ status: "ok" }, { headers: { "cache-control": "no-store" } });

export const readyz: RouteHandler = (_req, { hub }) =>
  Response.json(
    { ready: !hub.draining, draining: hub.draining, meetings: hub.registry.size },
    { status: hub.draining ? 503 : 200, headers: { "cache-control": "no-store" } },
  );

export const metrics: RouteHandler = api(async (req, { ops }) => {
  requireToken(req, ops?.metricsToken, "metrics");
  return new Response(await ops!.metrics!.text(), {
    headers: { "content-type": METRICS_CONTENT_TYPE, "cache-control": "no-store" },
  });
});

export const drain: RouteHandler = api((req, { hub, ops }) => {
  requireToken(req, ops?.adminToken, "admin");
  ops!.drain();
  return Response.json({ draining: true, meetings: hub.registry.size }, { status: 202 });
});
