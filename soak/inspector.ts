/**
 * A minimal Chrome DevTools Protocol client (over npm:ws) for the server's inspector, used by
 * `deno task soak --heap`: it forces a full garbage collection and reads the JavaScript heap
 * that is left, which tells a leak of JavaScript objects from memory the allocator keeps,
 * and it can write a heap snapshot and count its objects by constructor.
 *
 * @example
 * ```ts
 * const inspector = await Inspector.connect("ws://127.0.0.1:9229/ws/...");
 * const { usedSize } = await inspector.heapAfterGc();
 * const counts = await inspector.snapshotCounts(); // Map<constructor name, { count, selfSize }>
 * inspector.close();
 * ```
 * @module
 */

import WebSocket from "ws";

const TIMEOUT_MS = 60_000;

/** Objects of one constructor in a heap snapshot. */
export interface ClassCount {
  count: number;
  selfSize: number;
}

/** A connection to a Deno inspector. */
export class Inspector {
  #socket: WebSocket;
  #nextId = 1;
  #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  #chunks: string[] | undefined;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.on("message", (data: Buffer) => {
      const message = JSON.parse(String(data));
      if (typeof message.id === "number") {
        const p = this.#pending.get(message.id);
        this.#pending.delete(message.id);
        if (message.error) p?.reject(new Error(message.error.message));
        else p?.resolve(message.result);
      } else if (message.method === "HeapProfiler.addHeapSnapshotChunk") {
        this.#chunks?.push(message.params.chunk);
      }
    });
    socket.on("close", () => {
      for (const p of this.#pending.values()) p.reject(new Error("inspector closed"));
      this.#pending.clear();
    });
  }

  /** Connects to the inspector's WebSocket (`ws://host:port/ws/<id>`). */
  static async connect(url: string): Promise<Inspector> {
    const socket = new WebSocket(url, { perMessageDeflate: false, maxPayload: 1 << 30 });
    await new Promise((resolve, reject) => {
      socket.once("open", resolve);
      socket.once("error", reject);
    });
    const inspector = new Inspector(socket);
    await inspector.send("Runtime.enable");
    await inspector.send("HeapProfiler.enable");
    return inspector;
  }

  /** Sends one command and waits for its result (at most 60 s). */
  send(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`inspector: no answer to ${method}`));
      }, TIMEOUT_MS);
      this.#pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.#socket.send(JSON.stringify({ id, method, params }));
    });
  }

  /**
   * V8's heap spaces as they are (no collection): bytes committed and used by each space,
   * e.g. `new_space`, `old_space`, `code_space`, `large_object_space`.
   */
  async heapSpaces(): Promise<{ name: string; committed: number; used: number }[]> {
    const result = await this.send("Runtime.evaluate", {
      expression: `import("node:v8").then((v8) => JSON.stringify(v8.getHeapSpaceStatistics()` +
        `.map((s) => ({ name: s.space_name, committed: s.physical_space_size, ` +
        `used: s.space_used_size }))))`,
      awaitPromise: true,
      returnByValue: true,
    }) as { result: { value?: string }; exceptionDetails?: { text: string } };
    if (result.exceptionDetails || typeof result.result.value !== "string") {
      throw new Error(`inspector: ${result.exceptionDetails?.text ?? "no heap statistics"}`);
    }
    return JSON.parse(result.result.value);
  }

  /** Forces a full garbage collection, then reads the JavaScript heap, bytes. */
  async heapAfterGc(): Promise<{ usedSize: number; totalSize: number }> {
    await this.send("HeapProfiler.collectGarbage");
    return await this.send("Runtime.getHeapUsage") as { usedSize: number; totalSize: number };
  }

  /** Takes a heap snapshot and counts its objects by constructor (or kind). */
  async snapshotCounts(): Promise<Map<string, ClassCount>> {
    this.#chunks = [];
    await this.send("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
    const text = this.#chunks.join("");
    this.#chunks = undefined;
    return countSnapshot(JSON.parse(text));
  }

  close(): void {
    this.#socket.close();
  }
}

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** Counts a snapshot's nodes by name (objects by constructor, others by type). */
export function countSnapshot(heap: HeapSnapshot): Map<string, ClassCount> {
  const fields = heap.snapshot.meta.node_fields;
  const types = heap.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf("type");
  const nameAt = fields.indexOf("name");
  const sizeAt = fields.indexOf("self_size");
  const counts = new Map<string, ClassCount>();
  for (let i = 0; i < heap.nodes.length; i += width) {
    const type = types[heap.nodes[i + typeAt]];
    const name = type === "object" || type === "native"
      ? heap.strings[heap.nodes[i + nameAt]]
      : `(${type})`;
    let c = counts.get(name);
    if (!c) counts.set(name, c = { count: 0, selfSize: 0 });
    c.count++;
    c.selfSize += heap.nodes[i + sizeAt];
  }
  return counts;
}
