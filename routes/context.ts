/**
 * What a route handler receives besides the request.
 *
 * @example
 * ```ts
 * const handler: RouteHandler = (_req, ctx) => Response.json(ctx.hub.registry.list());
 * ```
 * @module
 */

import type { Hub } from "../server/hub.ts";
import type { UdpEndpoint } from "../server/udp_endpoint.ts";
import type { Metrics } from "../server/metrics.ts";

/** Per-request context for route handlers. */
export interface RouteContext {
  hub: Hub;
  /** The UDP media socket, and the address clients should send RTP to. */
  udp: { endpoint: UdpEndpoint; host: string } | undefined;
  url: URL;
  /** The client's IP address as the server sees it (the TCP peer): the key of per-address limits. */
  clientAddress: string;
  /** Named groups of the matched pattern, e.g. `{ id: "abc" }` for `/m/:id`. */
  params: Record<string, string>;
  /** What the operators' routes need: the metrics and the tokens that read and steer them. */
  ops?: {
    metrics?: Metrics;
    metricsToken?: string;
    adminToken?: string;
    /** Starts draining (see `RunningServer.drain`). */
    drain(): void;
  };
}

/** A route handler. */
export type RouteHandler = (req: Request, ctx: RouteContext) => Response | Promise<Response>;
