/**
 * What a node knows of the other nodes of its cluster and of their live meetings: the mirror
 * each node keeps of the shared directory in Redis (server/cluster.ts does the I/O). Pure: no
 * I/O, no timers. Everything read from Redis is checked here before it is used: a node's
 * address becomes a redirect and a link, a meeting's fields become text in the lobby, so a
 * record that does not have the expected shape, or an address that is not plain http(s), is
 * dropped (and counted), never shown.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ClusterDirectory } from "./cluster_directory.ts";
 *
 * const directory = new ClusterDirectory("self");
 * directory.apply({
 *   node: "b", url: "http://10.0.0.2:8000",
 *   upserts: [{ id: "m1", title: "Standup", creator: "Ann", participants: 2, mode: "relay",
 *     createdAt: 1, locked: false, newcomers: "open", recording: null }],
 *   removes: [],
 * });
 * assert.equal(directory.locate("m1")?.url, "http://10.0.0.2:8000");
 * directory.setLiveNodes(["self"]); // b stopped heartbeating
 * assert.equal(directory.locate("m1"), undefined);
 * ```
 * @module
 */

import type { MeetingSummary } from "../meeting/meeting.ts";

/** A live meeting of another node, as the lobby lists it: its summary and where it lives. */
export interface RemoteMeeting extends MeetingSummary {
  /** The node's public address (scheme, host, port): the meeting's page is `url/m/id`. */
  url: string;
}

/** One node's news: meetings added or changed, and meetings gone. */
export interface DirectoryUpdate {
  node: string;
  url: string;
  upserts: unknown[];
  removes: unknown[];
}

/** Most meetings mirrored from other nodes (beyond, new ones are not listed). */
export const MAX_REMOTE_MEETINGS = 10_000;

const ID = /^[A-Za-z0-9_-]{1,64}$/;
const NODE = /^[A-Za-z0-9_-]{1,64}$/;
const NEWCOMERS = new Set(["open", "closed", "waiting"]);
const r = (x: unknown) => x as Record<string, unknown>;

/**
 * The node address `raw` if it is an absolute http(s) URL of a host and port alone (no path,
 * query, fragment or credentials), without its trailing slash; else null.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nodeUrl } from "./cluster_directory.ts";
 *
 * assert.equal(nodeUrl("https://meet-2.example.org/"), "https://meet-2.example.org");
 * assert.equal(nodeUrl("javascript:alert(1)"), null);
 * ```
 */
export function nodeUrl(raw: unknown): string | null {
  if (typeof raw !== "string" || raw.length > 256) return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return null;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return null;
  if (url.username || url.password || url.search || url.hash) return null;
  if (url.pathname !== "/" && url.pathname !== "") return null;
  return url.origin;
}

/** `value` as a meeting summary if it has the shape of one (fields checked, text bounded). */
function summaryOf(value: unknown): MeetingSummary | null {
  if (typeof value !== "object" || value === null) return null;
  const v = value as Record<string, unknown>;
  const text = (x: unknown, max: number) => typeof x === "string" && x.length <= max;
  const count = (x: unknown) => Number.isInteger(x) && (x as number) >= 0 && (x as number) < 1e6;
  if (
    typeof v.id !== "string" || !ID.test(v.id) || !text(v.title, 200) || !text(v.creator, 100) ||
    !count(v.participants) || (v.mode !== "relay" && v.mode !== "p2p") ||
    typeof v.createdAt !== "number" || !Number.isFinite(v.createdAt) ||
    typeof v.locked !== "boolean" || !NEWCOMERS.has(v.newcomers as string)
  ) return null;
  const recording = v.recording ?? null;
  if (recording !== null) {
    const r = recording as Record<string, unknown>;
    if (
      typeof recording !== "object" || typeof r.id !== "string" || !ID.test(r.id) ||
      typeof r.startedAt !== "number" || !text(r.startedBy, 100)
    ) return null;
  }
  return {
    id: v.id,
    title: v.title as string,
    creator: v.creator as string,
    participants: v.participants as number,
    mode: v.mode,
    createdAt: v.createdAt,
    locked: v.locked,
    newcomers: v.newcomers as MeetingSummary["newcomers"],
    recording: recording === null ? null : {
      id: r(recording).id as string,
      startedAt: r(recording).startedAt as number,
      startedBy: r(recording).startedBy as string,
    },
  };
}

/** The other nodes' live meetings, by id, and which nodes are alive. */
export class ClusterDirectory {
  readonly self: string;
  #meetings = new Map<string, { node: string; meeting: RemoteMeeting }>();
  #live: Set<string> | null = null;
  /** Nodes seen alive at some heartbeat: one of them missing from `#live` is dead. */
  #seen = new Set<string>();
  /** Records dropped for their shape, an address that is not http(s), or the bound. */
  rejected = 0;

  /** @param self this node's id: its own meetings are never mirrored */
  constructor(self: string) {
    this.self = self;
  }

  /** How many meetings of other nodes are known. */
  get size(): number {
    return this.#meetings.size;
  }

  /**
   * Takes one node's news. Returns whether anything the lobby shows changed. A node's own
   * news, and news of a node known to be dead, change nothing; a node not seen yet is new
   * (its news can come before the heartbeat that finds it).
   */
  apply(update: DirectoryUpdate): boolean {
    const node = update.node;
    if (typeof node !== "string" || !NODE.test(node) || node === this.self) return false;
    if (this.#live && !this.#live.has(node) && this.#seen.has(node)) return false;
    const url = nodeUrl(update.url);
    let changed = false;
    for (const id of Array.isArray(update.removes) ? update.removes : []) {
      if (typeof id === "string" && this.#meetings.get(id)?.node === node) {
        this.#meetings.delete(id);
        changed = true;
      }
    }
    for (const raw of Array.isArray(update.upserts) ? update.upserts : []) {
      const summary = summaryOf(raw);
      if (!summary || !url) {
        this.rejected++;
        continue;
      }
      const held = this.#meetings.get(summary.id);
      if (held && held.node !== node) {
        this.rejected++; // another node holds that id: the first one keeps it
        continue;
      }
      if (!held && this.#meetings.size >= MAX_REMOTE_MEETINGS) {
        this.rejected++;
        continue;
      }
      this.#meetings.set(summary.id, { node, meeting: { ...summary, url } });
      changed = true;
    }
    return changed;
  }

  /**
   * Sets which nodes are alive (those with a current heartbeat); the meetings of the others
   * go. Returns the ids of the nodes whose meetings went.
   */
  setLiveNodes(nodes: Iterable<string>): string[] {
    this.#live = new Set(nodes);
    this.#live.add(this.self);
    for (const node of this.#live) this.#seen.add(node);
    const dead = new Set<string>();
    for (const [id, { node }] of this.#meetings) {
      if (!this.#live.has(node)) {
        this.#meetings.delete(id);
        dead.add(node);
      }
    }
    return [...dead];
  }

  /** Forgets every meeting of `node` (it left). Returns whether any went. */
  dropNode(node: string): boolean {
    let changed = false;
    for (const [id, held] of this.#meetings) {
      if (held.node === node) {
        this.#meetings.delete(id);
        changed = true;
      }
    }
    return changed;
  }

  /** Forgets everything (before a full reload from Redis). */
  clear(): void {
    this.#meetings.clear();
  }

  /** The meeting `id` if another live node holds it. */
  locate(id: string): RemoteMeeting | undefined {
    return this.#meetings.get(id)?.meeting;
  }

  /** The node holding meeting `id`, if another one does. */
  nodeOf(id: string): string | undefined {
    return this.#meetings.get(id)?.node;
  }

  /** Each other node's load as its published meetings add up: participants and meetings. */
  loads(): Map<string, { participants: number; meetings: number }> {
    const loads = new Map<string, { participants: number; meetings: number }>();
    for (const { node, meeting } of this.#meetings.values()) {
      const load = loads.get(node) ?? { participants: 0, meetings: 0 };
      load.participants += meeting.participants;
      load.meetings++;
      loads.set(node, load);
    }
    return loads;
  }

  /** Every mirrored meeting, newest first. */
  list(): RemoteMeeting[] {
    return [...this.#meetings.values()].map((m) => m.meeting)
      .sort((a, b) => b.createdAt - a.createdAt);
  }
}
