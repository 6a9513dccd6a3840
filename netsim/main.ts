/**
 * netsim: an emulated network on loopback, for tests and benchmarks. iptables rules hand the
 * packets to impair to NFQUEUE number `--queue`; this process holds each packet and gives the
 * kernel its verdict later: accept when its delay is over, drop when it is lost. Run it, and
 * the rules, only inside a private network namespace (`unshare -n`), as
 * tests/support/impaired_network.ts does.
 *
 * Prints `netsim ready` once the queue is bound; on SIGTERM or SIGINT (or the end of standard
 * input with `--stop-on-eof`) accepts every packet still held, prints its counters as one
 * JSON line and exits. Exit codes: 0 ok, 1 failure (the queue could not be bound), 2 bad flags.
 *
 * @example
 * ```sh
 * unshare -n sh -c 'ip link set lo up &&
 *   iptables -A OUTPUT -o lo -p udp --dport 4433 -j NFQUEUE --queue-num 0 --queue-bypass &&
 *   deno run -A netsim/main.ts --queue 0 --delay 25 --jitter 8 --loss 1'
 * ```
 * @module
 */

import { parseArgs } from "node:util";
import {
  DEFAULT_QUEUE_MS,
  Impairment,
  type ImpairmentOptions,
  seededRandom,
} from "./impairment.ts";
import { NfQueue, type QueuedPacket } from "./nfqueue.ts";

/**
 * What the flags say.
 *
 * @example
 * ```ts
 * const options: NetsimOptions = parseNetsimFlags(["--delay", "25"]);
 * console.log(options.impairment.delayMs); // 25
 * ```
 */
export interface NetsimOptions {
  help: boolean;
  queueNum: number;
  /** Packets the kernel holds for netsim at most (NFQA_CFG_QUEUE_MAXLEN). */
  queueLength: number;
  impairment: ImpairmentOptions;
  seed?: number;
  /** Stop when standard input ends (its parent has gone). */
  stopOnEof: boolean;
}

/**
 * The usage text.
 *
 * @example
 * ```ts
 * console.log(USAGE);
 * ```
 */
export const USAGE = `Usage: deno run -A netsim/main.ts [flags]
  --queue N            NFQUEUE number to bind, 0-65535 (default 0)
  --delay MS           delay added to every packet, 0-5000 ms (default 0)
  --jitter MS          +/- uniform jitter, 0 to the delay (default 0)
  --loss PERCENT       random loss, 0-100 (default 0)
  --server-ports P,P   the server's ports: they tell the direction for --down and --up
  --down ADDR=KBIT     rate limit towards ADDR (or ADDR:PORT), 8-10000000 kbit/s (repeatable)
  --up ADDR=KBIT       rate limit from ADDR (or ADDR:PORT), 8-10000000 kbit/s (repeatable)
  --queue-ms MS        a rate limit's queue, 1-10000 ms of its rate (default ${DEFAULT_QUEUE_MS})
  --queue-length N     packets the kernel may hold for netsim, 16-1000000 (default 8192)
  --seed N             seed of the random numbers, 0-4294967295 (default: random)
  --stop-on-eof        stop when standard input ends
  --help               this text`;

/**
 * A bad flag: the message is the one line printed before exiting with code 2.
 *
 * @example
 * ```ts
 * try {
 *   parseNetsimFlags(["--loss", "200"]);
 * } catch (err) {
 *   console.log(err instanceof FlagError); // true
 * }
 * ```
 */
export class FlagError extends Error {
  override name = "FlagError";
}

/**
 * Parses and checks the flags; throws a {@linkcode FlagError} naming the bad one.
 *
 * @example
 * ```ts
 * const options = parseNetsimFlags(["--queue", "3", "--delay", "40", "--jitter", "10",
 *   "--server-ports", "8000", "--down", "127.0.0.3=400"]);
 * console.log(options.impairment.down); // { "127.0.0.3": 400 }
 * ```
 */
export function parseNetsimFlags(args: string[]): NetsimOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        queue: { type: "string" },
        delay: { type: "string" },
        jitter: { type: "string" },
        loss: { type: "string" },
        "server-ports": { type: "string" },
        down: { type: "string", multiple: true },
        up: { type: "string", multiple: true },
        "queue-ms": { type: "string" },
        "queue-length": { type: "string" },
        seed: { type: "string" },
        "stop-on-eof": { type: "boolean" },
        help: { type: "boolean" },
      },
    }));
  } catch (err) {
    throw new FlagError((err as Error).message);
  }
  const delayMs = number("--delay", values.delay, 0, 5000, 0);
  const options: NetsimOptions = {
    help: values.help ?? false,
    queueNum: number("--queue", values.queue, 0, 65535, 0, true),
    queueLength: number("--queue-length", values["queue-length"], 16, 1_000_000, 8192, true),
    stopOnEof: values["stop-on-eof"] ?? false,
    impairment: {
      delayMs,
      jitterMs: number("--jitter", values.jitter, 0, delayMs, 0),
      lossPercent: number("--loss", values.loss, 0, 100, 0),
      queueMs: number("--queue-ms", values["queue-ms"], 1, 10_000, DEFAULT_QUEUE_MS),
      serverPorts: values["server-ports"] === undefined ? [] : values["server-ports"].split(",")
        .map((p) => number("--server-ports", p.trim(), 1, 65535, 0, true)),
      down: rates("--down", values.down ?? []),
      up: rates("--up", values.up ?? []),
    },
  };
  if (values.seed !== undefined) {
    options.seed = number("--seed", values.seed, 0, 0xffff_ffff, 0, true);
  }
  return options;
}

function number(
  flag: string,
  text: string | undefined,
  min: number,
  max: number,
  fallback: number,
  integer = false,
): number {
  if (text === undefined) return fallback;
  const value = text.trim() === "" ? NaN : Number(text);
  if (
    !Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))
  ) {
    const kind = integer ? "an integer" : "a number";
    throw new FlagError(`${flag} must be ${kind} from ${min} to ${max}, got "${text}"`);
  }
  return value;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function rates(flag: string, specs: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const spec of specs) {
    const [address, kbit, ...rest] = spec.split("=");
    const [ip, port, ...more] = (address ?? "").split(":");
    const portOk = port === undefined || (/^\d{1,5}$/.test(port) && +port > 0 && +port < 65536);
    if (!IPV4.test(ip) || !portOk || more.length > 0 || kbit === undefined || rest.length > 0) {
      throw new FlagError(
        `${flag} must be ADDRESS=KBIT or ADDRESS:PORT=KBIT with an IPv4 address, got "${spec}"`,
      );
    }
    out[address] = number(`${flag} ${address}`, kbit, 8, 10_000_000, 0);
  }
  return out;
}

/**
 * netsim's counters, printed as one JSON line at exit.
 *
 * @example
 * ```ts
 * function lossRate(c: NetsimCounters): number {
 *   return c.droppedLoss / c.received;
 * }
 * ```
 */
export interface NetsimCounters {
  /** Packets the kernel handed over. */
  received: number;
  /** Packets dropped at random, and by a rate limit's full queue. */
  droppedLoss: number;
  droppedQueue: number;
  /** Packets accepted (released), in all, and of those, released early at the stop. */
  released: number;
  releasedAtStop: number;
  /** Most packets held at once, and held now. */
  maxHeld: number;
  held: number;
  /**
   * How late packets were released after their time, ms: mean and largest (negative: early;
   * packets due within half a millisecond go together).
   */
  releaseLateMsMean: number;
  releaseLateMsMax: number;
  /** Times the kernel could not hand packets over (netsim's socket buffer was full). */
  overflows: number;
  /** What the kernel counts: packets dropped because its queue or netsim's buffer was full. */
  kernelQueueDropped?: number;
  kernelUserDropped?: number;
}

/**
 * Where verdicts go: an {@linkcode NfQueue}, or a test's list.
 *
 * @example
 * ```ts
 * const verdicts: [number, boolean][] = [];
 * const sink: VerdictSink = { verdict: (id, accept) => verdicts.push([id, accept]) };
 * ```
 */
export interface VerdictSink {
  verdict(id: number, accept: boolean): void;
}

/** Packets due within this of now are released together (at most this early), ms. */
const RELEASE_WINDOW_MS = 0.5;
/** Waits end this much before the time (the wake-up takes about that long), ms. */
const WAKE_AHEAD_MS = 0.1;

/**
 * The packets netsim holds: decides each one's fate as it arrives and releases each at its
 * time. Time is `now()`, ms; {@linkcode Netsim.onWake} is to be called as soon as possible
 * after the time it returns.
 *
 * @example
 * ```ts
 * import { Impairment } from "./impairment.ts";
 *
 * const accepted: number[] = [];
 * const sim = new Netsim(new Impairment({ delayMs: 5 }), {
 *   verdict: (id, accept) => { if (accept) accepted.push(id); },
 * });
 * sim.onPackets([{ id: 1, sizeBytes: 100, protocol: "udp", src: "127.0.0.1",
 *   dst: "127.0.0.1", srcPort: 5000, dstPort: 4433 }]);
 * const waitMs = sim.onWake(); // about 5: call onWake again then, and packet 1 goes
 * ```
 */
export class Netsim {
  readonly counters: NetsimCounters = {
    received: 0,
    droppedLoss: 0,
    droppedQueue: 0,
    released: 0,
    releasedAtStop: 0,
    maxHeld: 0,
    held: 0,
    releaseLateMsMean: 0,
    releaseLateMsMax: 0,
    overflows: 0,
  };
  #impairment: Impairment;
  #sink: VerdictSink;
  #now: () => number;
  #heap = new ReleaseHeap();
  #lateSum = 0;
  #lateCount = 0;

  constructor(
    impairment: Impairment,
    sink: VerdictSink,
    now: () => number = () => performance.now(),
  ) {
    this.#impairment = impairment;
    this.#sink = sink;
    this.#now = now;
  }

  /** Decides the fate of packets that have just arrived. */
  onPackets(packets: QueuedPacket[]): void {
    const now = this.#now();
    const c = this.counters;
    c.received += packets.length;
    for (const p of packets) {
      const d = this.#impairment.decide({ ...p, atMs: now });
      if (d.drop) {
        if (d.reason === "loss") c.droppedLoss++;
        else c.droppedQueue++;
        this.#sink.verdict(p.id, false);
      } else if (d.releaseAt <= now) {
        this.#release(p.id, now - d.releaseAt);
      } else {
        this.#heap.push(d.releaseAt, p.id);
      }
    }
    c.held = this.#heap.size;
    if (c.held > c.maxHeld) c.maxHeld = c.held;
  }

  /** Releases the packets whose time has come; returns ms until the next one is due. */
  onWake(): number {
    const heap = this.#heap;
    if (heap.size === 0) return Infinity;
    const now = this.#now();
    while (heap.size > 0 && heap.peekTime() <= now + RELEASE_WINDOW_MS) {
      const at = heap.peekTime();
      this.#release(heap.pop(), now - at);
    }
    this.counters.held = heap.size;
    return heap.size === 0 ? Infinity : Math.max(0, heap.peekTime() - now - WAKE_AHEAD_MS);
  }

  /** Releases every packet held, now (at the stop). */
  releaseAll(): void {
    while (this.#heap.size > 0) {
      this.#sink.verdict(this.#heap.pop(), true);
      this.counters.released++;
      this.counters.releasedAtStop++;
    }
    this.counters.held = 0;
  }

  #release(id: number, lateMs: number): void {
    this.#sink.verdict(id, true);
    const c = this.counters;
    c.released++;
    this.#lateSum += lateMs;
    this.#lateCount++;
    c.releaseLateMsMean = round3(this.#lateSum / this.#lateCount);
    if (lateMs > c.releaseLateMsMax) c.releaseLateMsMax = round3(lateMs);
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** A binary min-heap of (time, id), in two parallel arrays. */
class ReleaseHeap {
  #times: number[] = [];
  #ids: number[] = [];

  get size(): number {
    return this.#times.length;
  }

  peekTime(): number {
    return this.#times[0];
  }

  push(time: number, id: number): void {
    const times = this.#times;
    const ids = this.#ids;
    let i = times.length;
    times.push(time);
    ids.push(id);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (times[parent] <= time) break;
      times[i] = times[parent];
      ids[i] = ids[parent];
      i = parent;
    }
    times[i] = time;
    ids[i] = id;
  }

  /** Removes the earliest entry and returns its id. */
  pop(): number {
    const times = this.#times;
    const ids = this.#ids;
    const top = ids[0];
    const lastTime = times.pop()!;
    const lastId = ids.pop()!;
    const n = times.length;
    if (n === 0) return top;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && times[child + 1] < times[child]) child++;
      if (times[child] >= lastTime) break;
      times[i] = times[child];
      ids[i] = ids[child];
      i = child;
    }
    times[i] = lastTime;
    ids[i] = lastId;
    return top;
  }
}

/**
 * Runs netsim with these flags until a signal stops it; returns the exit code.
 *
 * @example
 * ```ts
 * async function main(): Promise<never> {
 *   Deno.exit(await run(Deno.args));
 * }
 * ```
 */
export async function run(args: string[]): Promise<number> {
  let options: NetsimOptions;
  try {
    options = parseNetsimFlags(args);
  } catch (err) {
    if (!(err instanceof FlagError)) throw err;
    console.error(`netsim: ${err.message}\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    console.log(USAGE);
    return 0;
  }
  const random = options.seed === undefined ? Math.random : seededRandom(options.seed);
  const impairment = new Impairment({ ...options.impairment, random });
  let queue: NfQueue;
  try {
    queue = NfQueue.open(options.queueNum, { maxLength: options.queueLength });
  } catch (err) {
    console.error(`netsim: ${(err as Error).message}`);
    return 1;
  }
  const sim = new Netsim(impairment, queue);
  queue.start((packets) => sim.onPackets(packets), () => sim.onWake());

  const { promise: stopped, resolve: stop } = Promise.withResolvers<void>();
  const signals = ["SIGTERM", "SIGINT"] as const;
  for (const signal of signals) Deno.addSignalListener(signal, stop);
  if (options.stopOnEof) {
    (async () => {
      try {
        for await (const _ of Deno.stdin.readable) { /* read until the end */ }
      } finally {
        stop();
      }
    })();
  }
  console.log("netsim ready");
  await stopped;
  for (const signal of signals) Deno.removeSignalListener(signal, stop);

  sim.releaseAll();
  queue.flush();
  const counters: NetsimCounters = { ...sim.counters, overflows: queue.stats.overflows };
  const kernel = queue.kernelStats();
  if (kernel) {
    counters.kernelQueueDropped = kernel.queueDropped;
    counters.kernelUserDropped = kernel.userDropped;
  }
  await queue.close();
  console.log(JSON.stringify(counters));
  return 0;
}

if (import.meta.main) Deno.exit(await run(Deno.args));
