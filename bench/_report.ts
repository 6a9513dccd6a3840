/**
 * Helpers shared by the benchmarks: the machine they ran on, percentiles, Markdown tables,
 * and CPU time of other processes from /proc.
 *
 * @module
 */

/** Where a benchmark ran. */
export interface Machine {
  cpu: string;
  cores: number;
  deno: string;
  v8: string;
  os: string;
  /** 1, 5 and 15 minute load averages when the run started. */
  loadAverage: number[];
}

/** The CPU model (from /proc/cpuinfo), core count, Deno and V8 versions. */
export function machine(): Machine {
  let cpu = "unknown";
  try {
    const info = Deno.readTextFileSync("/proc/cpuinfo");
    const model = info.match(/^model name\s*:\s*(.+)$/m)?.[1]?.trim();
    const mhz = info.match(/^cpu MHz\s*:\s*([\d.]+)$/m)?.[1];
    if (model) cpu = mhz ? `${model} @ ${(Number(mhz) / 1000).toFixed(2)} GHz` : model;
  } catch { /* not Linux */ }
  let loadAverage: number[] = [];
  try {
    loadAverage = Deno.loadavg();
  } catch { /* no --allow-sys */ }
  return {
    cpu,
    cores: navigator.hardwareConcurrency,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    os: `${Deno.build.os} ${Deno.build.arch}`,
    loadAverage,
  };
}

/**
 * The commit the measured code is at, e.g. "8241018", with "+ uncommitted changes" when the
 * server's code (not bench/) differs from it; "unknown" outside a git checkout.
 */
export function codeVersion(): string {
  const git = (...args: string[]) => {
    const out = new Deno.Command("git", { args, cwd: new URL("../", import.meta.url).pathname })
      .outputSync();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : null;
  };
  try {
    const head = git("rev-parse", "--short", "HEAD");
    if (!head) return "unknown";
    const dirty = git(
      "status",
      "--porcelain",
      "--",
      "main.ts",
      "media",
      "meeting",
      "protocol",
      "server",
      "routes",
      "util",
      "web",
    );
    return dirty ? `${head} + uncommitted changes` : head;
  } catch {
    return "unknown";
  }
}

/** One line describing the machine. */
export function machineLine(m: Machine = machine()): string {
  const load = m.loadAverage.length
    ? `, load average ${m.loadAverage.map((x) => x.toFixed(2)).join(" ")}`
    : "";
  return `${m.cpu}, ${m.cores} cores, ${m.os}, Deno ${m.deno} (V8 ${m.v8})${load}`;
}

/** The q-quantile (0..1) of an ascending array; NaN when empty. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** Ascending copy as a Float64Array (fast numeric sort). */
export function sorted(values: ArrayLike<number>): Float64Array {
  return Float64Array.from(values).sort();
}

/** A number with fixed digits, or "-" when not finite. */
export function fmt(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return "-";
  return n.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

/** A Markdown table, columns padded so it also reads well in a terminal. */
export function table(head: string[], rows: string[][], alignRight: boolean[] = []): string {
  const widths = head.map((h, i) => Math.max(h.length, 3, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    `| ${
      cells.map((c, i) => alignRight[i] ? c.padStart(widths[i]) : c.padEnd(widths[i])).join(" | ")
    } |`;
  const rule = `| ${
    widths.map((w, i) => alignRight[i] ? "-".repeat(w - 1) + ":" : "-".repeat(w)).join(" | ")
  } |`;
  return [line(head), rule, ...rows.map(line)].join("\n");
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on Linux x86-64 and arm64). */
const USER_HZ = 100;

/**
 * CPU time (user + system) of a process so far, in ms, all threads; or of one thread
 * (`tid`; the main thread's id is the pid). NaN if unreadable.
 */
export function processCpuMs(pid: number, tid?: number): number {
  try {
    const path = tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`;
    const stat = Deno.readTextFileSync(path);
    // Fields after the command name (which may contain spaces) start after the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / USER_HZ;
  } catch {
    return NaN;
  }
}

/**
 * A growing list of measurements (latencies, delays) in one Float64Array: constant work per
 * sample, no per-sample objects.
 *
 * @example
 * ```ts
 * const latency = new Samples();
 * latency.add(0.4);
 * latency.add(1.2);
 * quantile(latency.sorted(), 0.5); // 0.8
 * ```
 */
export class Samples {
  #values: Float64Array;
  /** How many were added. */
  count = 0;

  constructor(initialCapacity = 1 << 16) {
    this.#values = new Float64Array(initialCapacity);
  }

  /** Adds one measurement. */
  add(value: number): void {
    if (this.count === this.#values.length) {
      const bigger = new Float64Array(this.#values.length * 2);
      bigger.set(this.#values);
      this.#values = bigger;
    }
    this.#values[this.count++] = value;
  }

  /** The measurements so far, sorted ascending (a copy). */
  sorted(): Float64Array {
    return sorted(this.#values.subarray(0, this.count));
  }
}

/**
 * Stops a child process: SIGTERM, a second SIGTERM 200 ms later if it still runs (the server
 * drains on the first and stops at once on the second), then SIGKILL if it has not exited
 * after `killAfterMs`. Resolves with its exit status and whether it had to be killed.
 *
 * @example
 * ```ts
 * async function stop(child: Deno.ChildProcess) {
 *   const { killed } = await terminate(child, 5000);
 * }
 * ```
 */
export async function terminate(
  child: Deno.ChildProcess,
  killAfterMs: number,
): Promise<{ status: Deno.CommandStatus; killed: boolean }> {
  try {
    child.kill("SIGTERM");
  } catch { /* already exited */ }
  let killed = false;
  const again = setTimeout(() => {
    try {
      child.kill("SIGTERM");
    } catch { /* exited meanwhile */ }
  }, 200);
  const killer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
      killed = true;
    } catch { /* exited meanwhile */ }
  }, killAfterMs);
  const status = await child.status;
  clearTimeout(again);
  clearTimeout(killer);
  return { status, killed };
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** CPU time the whole machine spent busy so far (all cores, /proc/stat), in ms; NaN if unreadable. */
export function machineBusyMs(): number {
  try {
    const line = Deno.readTextFileSync("/proc/stat").split("\n")[0];
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    const busy = v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] ?? 0);
    return (busy * 1000) / USER_HZ;
  } catch {
    return NaN;
  }
}
