/**
 * An emulated network on loopback for scripts that already run inside a private network
 * namespace (tests/support/netns.ts `runInLoopbackNamespace`): starts netsim/main.ts on an
 * NFQUEUE and adds iptables rules that hand it the packets named, so those packets are
 * delayed, jittered, lost and rate-limited as asked. Everything else on loopback is untouched.
 * Refuses to run in the machine's own network namespace: its rules would apply to the machine.
 *
 * @example
 * ```ts
 * async function lossyUdp(port: number) {
 *   const net = await startImpairment({
 *     delayMs: 25,
 *     jitterMs: 8,
 *     lossPercent: 5,
 *     match: [["-p", "udp", "--dport", `${port}`], ["-p", "udp", "--sport", `${port}`]],
 *   });
 *   // ... traffic to and from `port` ...
 *   const counters = await net.stop();
 *   console.log(counters.droppedLoss, "lost of", counters.received);
 * }
 * ```
 * @module
 */

import type { NetsimCounters } from "../../netsim/main.ts";

export type { NetsimCounters };

/** What {@linkcode startImpairment} is asked for. */
export interface ImpairmentSpec {
  /** Delay of every packet matched, ms (0-5000). */
  delayMs: number;
  /** Uniform jitter around the delay, +/- ms (0 to the delay). */
  jitterMs: number;
  /** Random loss, percent (0-100). */
  lossPercent: number;
  /** The server's ports, which tell a rate limit's direction. */
  serverPorts?: number[];
  /** Rate limits towards an address (from a server port), kbit/s. */
  down?: Record<string, number>;
  /** Rate limits from an address (to a server port), kbit/s. */
  up?: Record<string, number>;
  /** A rate limit's queue, ms of its rate (default 200). */
  queueMs?: number;
  /** Seed of the random numbers, for a repeatable run. */
  seed?: number;
  /**
   * The packets to impair: each entry is the match part of one iptables rule, e.g.
   * `["-p", "udp", "--dport", "4433"]`. Packets that no entry matches pass untouched.
   */
  match: string[][];
  /** NFQUEUE number (default 0); two impairments at once need two numbers. */
  queueNum?: number;
  /**
   * Where on loopback packets are taken: `INPUT` (default) after the loopback device has
   * handed them on, when the sending socket has let go of them (as on a real network: a
   * packet in flight no longer counts against the sender's buffers); `OUTPUT` as they leave
   * the sending socket, which still counts the packets netsim holds (TCP then sends less).
   */
  chain?: "INPUT" | "OUTPUT";
}

/**
 * A running impairment.
 *
 * @example
 * ```ts
 * async function report(net: ImpairedNetwork) {
 *   const { received, released, droppedLoss, droppedQueue } = await net.stop();
 *   console.log({ received, released, droppedLoss, droppedQueue });
 * }
 * ```
 */
export interface ImpairedNetwork {
  /** The netsim process's id. */
  readonly pid: number;
  /** Removes the rules, stops netsim (it releases what it holds) and returns its counters. */
  stop(): Promise<NetsimCounters>;
}

const NETSIM = new URL("../../netsim/main.ts", import.meta.url).pathname;
const READY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;

/**
 * Whether this process runs in a network namespace other than the machine's own: that of
 * process 1 (`readlink /proc/1/ns/net`; they differ under `unshare -n`), or where process 1
 * cannot be read (a container's init may hide itself even from root), that of the outermost
 * ancestor of this process that can. When it cannot tell, the answer is no.
 *
 * @example
 * ```ts
 * console.log(inPrivateNetworkNamespace() ? "private namespace" : "the machine's own");
 * ```
 */
export function inPrivateNetworkNamespace(): boolean {
  const own = netNamespaceOf("self");
  const machine = netNamespaceOf(1) ?? outermostAncestorNamespace();
  return own !== undefined && machine !== undefined && own !== machine;
}

function netNamespaceOf(pid: number | "self"): string | undefined {
  try {
    return Deno.readLinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return undefined;
  }
}

/** The network namespace of the outermost ancestor whose namespace can be read. */
function outermostAncestorNamespace(): string | undefined {
  let found: string | undefined;
  let pid = Deno.pid;
  for (let depth = 0; depth < 256; depth++) {
    let parent: number;
    try {
      const status = Deno.readTextFileSync(`/proc/${pid}/status`);
      parent = Number(/^PPid:\s*(\d+)/m.exec(status)?.[1] ?? 0);
    } catch {
      break;
    }
    if (parent <= 1) break;
    found = netNamespaceOf(parent) ?? found;
    pid = parent;
  }
  return found;
}

function refuseOutsideNamespace(what: string): void {
  if (!inPrivateNetworkNamespace()) {
    throw new Error(
      `${what}: not inside a private network namespace (run under unshare -n); ` +
        "refusing to change the machine's own network",
    );
  }
}

/**
 * Starts netsim and hands it the packets `spec.match` names. Throws (and leaves nothing
 * behind) if netsim does not come up in time or a rule cannot be added.
 *
 * @example
 * ```ts
 * async function slowDownlink(serverPort: number) {
 *   return await startImpairment({
 *     delayMs: 20,
 *     jitterMs: 0,
 *     lossPercent: 0,
 *     serverPorts: [serverPort],
 *     down: { "127.0.0.3": 400 },
 *     match: [["-p", "udp", "--sport", `${serverPort}`]],
 *   });
 * }
 * ```
 */
export async function startImpairment(spec: ImpairmentSpec): Promise<ImpairedNetwork> {
  refuseOutsideNamespace("startImpairment");
  if (spec.match.length === 0) throw new Error("startImpairment: no packets to match");
  const queueNum = spec.queueNum ?? 0;
  const chain = spec.chain ?? "INPUT";
  const args = [
    "run",
    "-A",
    NETSIM,
    "--queue",
    `${queueNum}`,
    "--delay",
    `${spec.delayMs}`,
    "--jitter",
    `${spec.jitterMs}`,
    "--loss",
    `${spec.lossPercent}`,
    "--stop-on-eof",
  ];
  if (spec.serverPorts?.length) args.push("--server-ports", spec.serverPorts.join(","));
  for (const [address, kbit] of Object.entries(spec.down ?? {})) {
    args.push("--down", `${address}=${kbit}`);
  }
  for (const [address, kbit] of Object.entries(spec.up ?? {})) {
    args.push("--up", `${address}=${kbit}`);
  }
  if (spec.queueMs !== undefined) args.push("--queue-ms", `${spec.queueMs}`);
  if (spec.seed !== undefined) args.push("--seed", `${spec.seed}`);

  // Standard input stays open while this process lives: netsim stops when it ends.
  const child = new Deno.Command(Deno.execPath(), {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const lines = readLines(child.stdout);
  const rules: string[][] = [];
  const direction = chain === "INPUT" ? "-i" : "-o";
  const rule = (match: string[]) => [
    chain,
    direction,
    "lo",
    ...match,
    "-j",
    "NFQUEUE",
    "--queue-num",
    `${queueNum}`,
    "--queue-bypass",
  ];

  let tornDown: Promise<string | undefined> | undefined;
  const teardown = () => tornDown ??= stopAll();
  const stopAll = async (): Promise<string | undefined> => {
    for (const r of rules.splice(0).reverse()) await iptables(["-D", ...r]).catch(() => {});
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    let last: string | undefined;
    const drained = (async () => {
      for (let r = await lines.next(); !r.done; r = await lines.next()) last = r.value;
    })();
    const done = await withDeadline(
      Promise.all([drained, child.status]),
      STOP_TIMEOUT_MS,
    ).catch(() => undefined);
    if (!done) {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }
    await child.stdin.close().catch(() => {});
    await child.status;
    return last;
  };

  try {
    const first = await withDeadline(lines.next(), READY_TIMEOUT_MS).catch(() => undefined);
    if (!first || first.done || first.value !== "netsim ready") {
      await teardown();
      throw new Error(`netsim did not start: ${first?.value ?? ""}\n${await stderr}`);
    }
    for (const match of spec.match) {
      await iptables(["-A", ...rule(match)]);
      rules.push(rule(match));
    }
  } catch (err) {
    await teardown();
    throw err;
  }

  let stopping: Promise<NetsimCounters> | undefined;
  return {
    pid: child.pid,
    stop() {
      stopping ??= (async () => {
        const last = await teardown();
        try {
          return JSON.parse(last ?? "") as NetsimCounters;
        } catch {
          throw new Error(`netsim gave no counters: ${last}\n${await stderr}`);
        }
      })();
      return stopping;
    },
  };
}

/**
 * Checks that `address` can be used as a second loopback host. On Linux the whole of
 * 127.0.0.0/8 is local once `lo` is up (its route `local 127.0.0.0/8`), so nothing needs
 * adding: this binds a socket to the address to be sure and throws if it cannot. A client
 * that is to appear as that address binds to it (an unbound socket sends from 127.0.0.1).
 *
 * @example
 * ```ts
 * function clientAt(address: string): Deno.DatagramConn {
 *   addLoopbackAddress(address); // e.g. "127.0.0.3"
 *   return Deno.listenDatagram({ transport: "udp", hostname: address, port: 0 });
 * }
 * ```
 */
export function addLoopbackAddress(address: string): void {
  refuseOutsideNamespace("addLoopbackAddress");
  if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address)) {
    throw new Error(`addLoopbackAddress: ${address} is not in 127.0.0.0/8`);
  }
  const socket = Deno.listenDatagram({ transport: "udp", hostname: address, port: 0 });
  socket.close();
}

async function iptables(args: string[]): Promise<void> {
  const { code, stderr } = await new Deno.Command("iptables", {
    args: ["-w", "5", ...args],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(`iptables ${args.join(" ")}: ${new TextDecoder().decode(stderr).trim()}`);
  }
}

async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of stream) {
    buffered += decoder.decode(chunk, { stream: true });
    let nl;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      yield buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
    }
  }
  if (buffered) yield buffered;
}

function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
