/**
 * One node of a cluster of servers sharing a Redis (`--redis`): it registers itself with a
 * heartbeat, publishes its live meetings, and mirrors the other nodes' meetings, so that every
 * node's lobby lists every live meeting and sends a client to the node that holds it. Media,
 * chat, records and limits stay on the meeting's node; Redis carries only the directory.
 *
 * In Redis (all keys under `meet:`):
 * - `meet:node:<id>`: the node's record (`{id, url, meetings, participants, at}`), set at each
 *   heartbeat with a time to live of `nodeTtlMs`: a node that stops heartbeating vanishes;
 * - `meet:nodes`: the set of node ids ever seen alive (each node's sweep removes dead ones);
 * - `meet:meetings`: a hash, meeting id -> `{node, url, summary}`;
 * - channel `meet:events`: each change as `{node, url, upserts, removes}`, so that lists are
 *   kept current without polling any node.
 *
 * A dead node's meetings leave every other node's list at that node's next heartbeat after
 * the record expired, and the hash at the same sweep. Redis going away cuts no call: commands
 * are not queued while it is down (the heartbeat and publishes skip), and when it is back the
 * node registers again and republishes every meeting it holds (Redis may have lost them); a
 * node whose subscriber reconnects reads every meeting again from the hash (news sent while it
 * was away are not replayed).
 *
 * @example
 * ```ts ignore
 * const cluster = await Cluster.start({
 *   redisUrl: "redis://127.0.0.1:6379",
 *   publicUrl: "https://meet-1.example.org",
 *   localMeetings: () => hub.registry.list(500),
 *   onChange: () => hub.listChanged(),
 * });
 * hub.registry.on("changed", () => cluster.localChanged());
 * cluster.directory.locate("abc123")?.url; // where another node's meeting lives
 * await cluster.close();
 * ```
 * @module
 */

import { Redis } from "ioredis";
import type { MeetingSummary } from "../meeting/meeting.ts";
import { newId, newToken, timingSafeEqual } from "../util/ids.ts";
import { MeetingError } from "../meeting/errors.ts";
import { log } from "../util/log.ts";
import { ClusterDirectory, nodeUrl, type RemoteMeeting } from "./cluster_directory.ts";

/** Key names in Redis. */
export const CLUSTER_KEYS = {
  node: (id: string) => `meet:node:${id}`,
  nodes: "meet:nodes",
  meetings: "meet:meetings",
  events: "meet:events",
  /** The secret nodes show each other when one makes a meeting on another. */
  secret: "meet:cluster-secret",
} as const;

/** The header that carries the cluster's secret on a request from one node to another. */
export const CLUSTER_SECRET_HEADER = "x-meet-cluster";
/** With the secret: the address of the client the request is made for (for its limits). */
export const CLUSTER_CLIENT_HEADER = "x-meet-client";

/** What a node made for another's client: the meeting (with its node's `url`) and the creator's handoff code. */
export interface PlacedMeeting {
  meeting: RemoteMeeting;
  handoff: string;
}

/** A node as its record in Redis says (what placement and operators read). */
export interface NodeInfo {
  id: string;
  url: string;
  meetings: number;
  participants: number;
  /** Whether it takes new meetings (false while it drains). */
  accepting: boolean;
  /** When the record was written, ms since the epoch. */
  at: number;
}

/** Options of {@linkcode Cluster.start}. */
export interface ClusterOptions {
  /** `redis://[:password@]host:port[/db]` (or `rediss://`). */
  redisUrl: string;
  /** This node's public address: where other nodes send clients (`--public-url`). */
  publicUrl: string;
  /** Default: a random id per start. */
  nodeId?: string;
  /** Heartbeat period (default 1000 ms). */
  heartbeatMs?: number;
  /** A node record lives this long after its last heartbeat (default 3000 ms). */
  nodeTtlMs?: number;
  /** How long start waits for Redis (default 10 s). */
  connectTimeoutMs?: number;
  /** This node's live meetings, as its own lobby lists them. */
  localMeetings(): MeetingSummary[];
  /** Whether this node takes new meetings (default: it does). */
  accepting?(): boolean;
  /** Called when the other nodes' meetings changed (the lobby list should go out again). */
  onChange(): void;
}

/** Largest message taken from the channel (a node's change of up to 500 meetings fits). */
const MAX_MESSAGE_BYTES = 1024 * 1024;
/** Local changes go out at most this often, together. */
const PUBLISH_INTERVAL_MS = 100;
/** The same Redis error is logged at most this often. */
const ERROR_LOG_INTERVAL_MS = 10_000;

/** This node's link to the cluster. */
export class Cluster {
  readonly nodeId: string;
  readonly url: string;
  readonly directory: ClusterDirectory;
  /** Counters for tests and metrics. */
  readonly stats = {
    published: 0,
    received: 0,
    resyncs: 0,
    reloads: 0,
    deadNodes: 0,
    errors: 0,
  };
  #options: ClusterOptions;
  #redis: Redis;
  #sub: Redis;
  #heartbeatMs: number;
  #nodeTtlMs: number;
  /** Meeting id -> the JSON of the summary last published for it. */
  #published = new Map<string, string>();
  #nodes: NodeInfo[] = [];
  #beatTimer: ReturnType<typeof setInterval> | undefined;
  #publishTimer: ReturnType<typeof setTimeout> | undefined;
  #publishing: Promise<void> = Promise.resolve();
  #lastErrorLog = -Infinity;
  #closed = false;
  #secret = "";

  private constructor(options: ClusterOptions, url: string) {
    this.#options = options;
    this.nodeId = options.nodeId ?? newId(12);
    this.url = url;
    this.directory = new ClusterDirectory(this.nodeId);
    this.#heartbeatMs = options.heartbeatMs ?? 1000;
    this.#nodeTtlMs = options.nodeTtlMs ?? 3000;
    const connection = {
      lazyConnect: true,
      // While Redis is away nothing waits for it: the heartbeat and publishes skip, and the
      // node resynchronises when it is back.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: (times: number) => Math.min(100 * times, 1000),
    };
    this.#redis = new Redis(options.redisUrl, connection);
    this.#sub = new Redis(options.redisUrl, { ...connection, enableOfflineQueue: true });
    for (const client of [this.#redis, this.#sub]) {
      client.on("error", (err: Error) => this.#logError("redis_error", err));
    }
  }

  /**
   * Connects to Redis (waiting up to `connectTimeoutMs`), registers this node, loads the
   * other nodes' meetings and starts the heartbeat. Throws when Redis cannot be reached or
   * `publicUrl` is not an http(s) address of a host and port.
   */
  static async start(options: ClusterOptions): Promise<Cluster> {
    const url = nodeUrl(options.publicUrl);
    if (!url) {
      throw new Error(
        `the public URL must be http(s)://host:port with no path (got "${options.publicUrl}")`,
      );
    }
    const cluster = new Cluster(options, url);
    const timeoutMs = options.connectTimeoutMs ?? 10_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        Promise.all([cluster.#redis.connect(), cluster.#sub.connect()]),
        new Promise((_, reject) =>
          timer = setTimeout(
            () => reject(new Error(`no answer from Redis within ${timeoutMs} ms`)),
            timeoutMs,
          )
        ),
      ]);
      await cluster.#redis.set(CLUSTER_KEYS.secret, newToken(), "NX");
      cluster.#secret = (await cluster.#redis.get(CLUSTER_KEYS.secret)) ?? "";
      if (cluster.#secret.length < 16) {
        throw new Error("the cluster's secret in Redis is too short");
      }
      await cluster.#sub.subscribe(CLUSTER_KEYS.events);
      cluster.#sub.on("message", (_channel: string, text: string) => cluster.#message(text));
      await cluster.#resync();
    } catch (err) {
      cluster.#redis.disconnect();
      cluster.#sub.disconnect();
      throw new Error(
        `cannot use Redis at ${redacted(options.redisUrl)}: ${(err as Error).message}`,
      );
    } finally {
      clearTimeout(timer);
    }
    // Each reconnection: register again and republish (Redis may have restarted empty).
    cluster.#redis.on("ready", () => {
      cluster.#resync().catch((err) => cluster.#logError("cluster_resync_failed", err));
    });
    // Each reconnection of the subscriber: the news published while it was away are lost
    // (another node may have republished in that gap); the hash has them.
    cluster.#sub.on("ready", () => {
      cluster.#resubscribed().catch((err) => cluster.#logError("cluster_reload_failed", err));
    });
    cluster.#beatTimer = setInterval(() => {
      cluster.#beat().catch((err) => cluster.#logError("cluster_heartbeat_failed", err));
    }, cluster.#heartbeatMs);
    return cluster;
  }

  /** The live nodes as of the last heartbeat (this one included). */
  get nodes(): readonly NodeInfo[] {
    return this.#nodes;
  }

  /**
   * Where a new meeting should go: the live node taking meetings with the fewest
   * participants, then the fewest meetings, counted from what this node knows now (its own
   * registry and the others' published meetings, so a burst of creates spreads before the
   * next heartbeat). This node keeps it unless another is clearly less loaded: fewer
   * participants, or as many and at least two meetings fewer (two nodes taking turns would
   * otherwise send each other every other create over a one-meeting difference). In a burst
   * each node sees the other's latest creates up to 100 ms late, so many creates take one
   * redirect there (bench/cluster.ts: 189 of 200 back-to-back creates), and the spread stays
   * even. Null: here.
   */
  place(): NodeInfo | null {
    const own = this.#options.localMeetings();
    const accepting = this.#options.accepting?.() ?? true;
    const loads = this.directory.loads();
    let best: { node: NodeInfo | null; participants: number; meetings: number } | null = null;
    if (accepting) {
      best = {
        node: null,
        participants: own.reduce((n, m) => n + m.participants, 0),
        meetings: own.length,
      };
    }
    const others = this.#nodes.filter((n) => n.id !== this.nodeId && n.accepting)
      .sort((a, b) => (a.id < b.id ? -1 : 1));
    for (const node of others) {
      const load = loads.get(node.id) ?? { participants: 0, meetings: 0 };
      // Against this node, a margin of one meeting; between other nodes, none.
      const margin = best?.node === null ? 1 : 0;
      if (
        !best || load.participants < best.participants ||
        (load.participants === best.participants && load.meetings + margin < best.meetings)
      ) best = { node, ...load };
    }
    return best?.node ?? null;
  }

  /**
   * Makes a meeting on `node` for a client of this one (`POST node/api/meetings` with the
   * cluster's secret and the client's address, which that node's limits count), and lists it
   * here at once. Throws a `MeetingError` the other node answered, or when it could not be
   * reached.
   */
  async createOn(
    node: NodeInfo,
    request: { title: unknown; name: string; passcode?: unknown },
    clientAddress: string,
  ): Promise<PlacedMeeting> {
    let response: Response;
    try {
      response = await fetch(`${node.url}/api/meetings?placed=${node.id}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          [CLUSTER_SECRET_HEADER]: this.#secret,
          [CLUSTER_CLIENT_HEADER]: clientAddress,
        },
        body: JSON.stringify({ ...request, handoff: true }),
        signal: AbortSignal.timeout(5_000),
        redirect: "error",
      });
    } catch (err) {
      throw new MeetingError(
        "internal",
        `the server chosen for it did not answer: ${(err as Error).message}`,
      );
    }
    const body = await response.json().catch(() => null);
    if (!response.ok || !body || typeof body.handoff !== "string") {
      const error = body?.error;
      if (error && typeof error.code === "string" && typeof error.message === "string") {
        throw new MeetingError(error.code, error.message, { retryAfterMs: error.retryAfterMs });
      }
      throw new MeetingError("internal", `the server chosen for it answered ${response.status}`);
    }
    const { handoff, token: _token, ...summary } = body;
    this.directory.apply({ node: node.id, url: node.url, upserts: [summary], removes: [] });
    const meeting = this.directory.locate(summary.id);
    if (!meeting) throw new MeetingError("internal", "the server chosen for it answered nonsense");
    this.#options.onChange();
    return { meeting, handoff };
  }

  /**
   * The client address a request from another node of the cluster is made for, when it
   * carries the cluster's secret; else undefined (a request like any other).
   */
  forwardedClient(headers: Headers): string | undefined {
    const secret = headers.get(CLUSTER_SECRET_HEADER);
    if (secret === null || !this.#secret || !timingSafeEqual(secret, this.#secret)) {
      return undefined;
    }
    const client = headers.get(CLUSTER_CLIENT_HEADER) ?? "";
    return /^[0-9A-Fa-f:.]{2,45}$/.test(client) ? client : undefined;
  }

  /** This node's meetings changed: they go out within {@linkcode PUBLISH_INTERVAL_MS}. */
  localChanged(): void {
    if (this.#closed || this.#publishTimer !== undefined) return;
    this.#publishTimer = setTimeout(() => {
      this.#publishTimer = undefined;
      this.#publishing = this.#publishing.then(() => this.#publish())
        .catch((err) => this.#logError("cluster_publish_failed", err));
    }, PUBLISH_INTERVAL_MS);
  }

  /**
   * Leaves the cluster: this node's meetings and record are removed (the others' lists drop
   * them at once) and the connections close. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#beatTimer);
    clearTimeout(this.#publishTimer);
    await this.#publishing;
    try {
      const removes = [...this.#published.keys()];
      const multi = this.#redis.multi();
      if (removes.length > 0) multi.hdel(CLUSTER_KEYS.meetings, ...removes);
      multi.del(CLUSTER_KEYS.node(this.nodeId));
      multi.srem(CLUSTER_KEYS.nodes, this.nodeId);
      multi.publish(
        CLUSTER_KEYS.events,
        JSON.stringify({ node: this.nodeId, url: this.url, upserts: [], removes, left: true }),
      );
      await multi.exec();
    } catch (err) {
      this.#logError("cluster_leave_failed", err);
    }
    this.#redis.disconnect();
    this.#sub.disconnect();
  }

  /** Registers, reads the live nodes and every meeting, and republishes this node's. */
  async #resync(): Promise<void> {
    if (this.#closed) return;
    this.stats.resyncs++;
    await this.#beat();
    await this.#reload();
    this.#published.clear(); // everything goes out again
    await this.#publish();
  }

  /**
   * The subscriber is back: once its subscription is confirmed (every later news reaches it),
   * the mirror is read again from the hash (every earlier one is there). With the command
   * connection still away, that connection's own resync does it when it is back.
   */
  async #resubscribed(): Promise<void> {
    if (this.#closed) return;
    await this.#sub.subscribe(CLUSTER_KEYS.events);
    if (this.#closed || this.#redis.status !== "ready") return;
    this.stats.reloads++;
    await this.#reload();
  }

  /** Reads every node's meetings from the hash again (the mirror starts over from it). */
  async #reload(): Promise<void> {
    const all = await this.#redis.hgetall(CLUSTER_KEYS.meetings);
    this.directory.clear();
    for (const text of Object.values(all)) {
      const record = parse(text);
      if (!record) continue;
      this.directory.apply({
        node: record.node as string,
        url: record.url as string,
        upserts: [record.summary],
        removes: [],
      });
    }
    this.#options.onChange();
  }

  /** Refreshes this node's record; finds the dead nodes and clears their meetings. */
  async #beat(): Promise<void> {
    if (this.#closed || this.#redis.status !== "ready") return;
    const local = this.#options.localMeetings();
    const self: NodeInfo = {
      id: this.nodeId,
      url: this.url,
      meetings: local.length,
      participants: local.reduce((n, m) => n + m.participants, 0),
      accepting: this.#options.accepting?.() ?? true,
      at: Date.now(),
    };
    await this.#redis.multi()
      .set(CLUSTER_KEYS.node(this.nodeId), JSON.stringify(self), "PX", this.#nodeTtlMs)
      .sadd(CLUSTER_KEYS.nodes, this.nodeId)
      .exec();
    const ids = (await this.#redis.smembers(CLUSTER_KEYS.nodes)).slice(0, 10_000);
    const records = ids.length > 0
      ? await this.#redis.mget(...ids.map((id) => CLUSTER_KEYS.node(id)))
      : [];
    const live: NodeInfo[] = [];
    const dead: string[] = [];
    ids.forEach((id, i) => {
      const info = parse(records[i]) as NodeInfo | null;
      const url = info && nodeUrl(info.url);
      if (info && url) {
        live.push({
          id,
          url,
          meetings: Number(info.meetings) || 0,
          participants: Number(info.participants) || 0,
          accepting: info.accepting !== false,
          at: Number(info.at) || 0,
        });
      } else dead.push(id);
    });
    const before = new Set(this.#nodes.map((n) => n.id));
    this.#nodes = live;
    const gone = this.directory.setLiveNodes(live.map((n) => n.id));
    if (dead.length > 0) await this.#clearDead(new Set(dead));
    // A node found alive for the first time: its news may have come just before this sweep
    // read the nodes, and been dropped with it; the hash has it all.
    if (before.size > 0 && live.some((n) => !before.has(n.id))) await this.#reload();
    if (gone.length > 0) this.#options.onChange();
  }

  /** Removes dead nodes and their meetings from Redis (every live node may do it; it is idempotent). */
  async #clearDead(dead: Set<string>): Promise<void> {
    this.stats.deadNodes += dead.size;
    const all = await this.#redis.hgetall(CLUSTER_KEYS.meetings);
    const stale = Object.entries(all)
      .filter(([, text]) => dead.has(parse(text)?.node as string))
      .map(([id]) => id);
    const multi = this.#redis.multi().srem(CLUSTER_KEYS.nodes, ...dead);
    if (stale.length > 0) multi.hdel(CLUSTER_KEYS.meetings, ...stale);
    await multi.exec();
  }

  /** Publishes what changed in this node's meetings since the last time. */
  async #publish(): Promise<void> {
    if (this.#closed || this.#redis.status !== "ready") return;
    const upserts: MeetingSummary[] = [];
    const records: string[] = [];
    const current = new Set<string>();
    for (const summary of this.#options.localMeetings()) {
      current.add(summary.id);
      const text = JSON.stringify(summary);
      if (this.#published.get(summary.id) === text) continue;
      upserts.push(summary);
      records.push(summary.id, JSON.stringify({ node: this.nodeId, url: this.url, summary }));
    }
    const removes = [...this.#published.keys()].filter((id) => !current.has(id));
    if (upserts.length === 0 && removes.length === 0) return;
    const multi = this.#redis.multi();
    if (records.length > 0) multi.hset(CLUSTER_KEYS.meetings, ...records);
    if (removes.length > 0) multi.hdel(CLUSTER_KEYS.meetings, ...removes);
    multi.publish(
      CLUSTER_KEYS.events,
      JSON.stringify({ node: this.nodeId, url: this.url, upserts, removes }),
    );
    await multi.exec();
    for (const summary of upserts) this.#published.set(summary.id, JSON.stringify(summary));
    for (const id of removes) this.#published.delete(id);
    this.stats.published++;
  }

  #message(text: string): void {
    if (this.#closed || text.length > MAX_MESSAGE_BYTES) return;
    const update = parse(text);
    if (!update || update.node === this.nodeId) return;
    this.stats.received++;
    let changed = false;
    if (update.left === true && typeof update.node === "string") {
      changed = this.directory.dropNode(update.node);
    } else {
      changed = this.directory.apply({
        node: update.node as string,
        url: update.url as string,
        upserts: update.upserts as unknown[],
        removes: update.removes as unknown[],
      });
    }
    if (changed) this.#options.onChange();
  }

  #logError(event: string, err: unknown): void {
    this.stats.errors++;
    const now = performance.now();
    if (now - this.#lastErrorLog < ERROR_LOG_INTERVAL_MS) return;
    this.#lastErrorLog = now;
    log.warn(event, "Redis: the cluster directory is not current", {
      error: (err as Error)?.message ?? String(err),
    });
  }
}

/** A JSON object, or null for anything else. */
function parse(text: string | null | undefined): Record<string, unknown> | null {
  if (typeof text !== "string") return null;
  try {
    const value = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? value : null;
  } catch {
    return null;
  }
}

/** The Redis URL without its password, for messages. */
export function redacted(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(a URL that does not parse)";
  }
}
