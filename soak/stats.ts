/**
 * Fixed-size measurement helpers for the soak run: a latency histogram (constant memory
 * however many samples it takes), process figures from /proc, and a seeded random source.
 *
 * @example
 * ```ts
 * const h = new Histogram();
 * h.add(12.5);
 * h.quantile(0.99); // 12.5 (to the bucket's resolution)
 * readProc(Deno.pid); // { rssKb, cpuMs } or null
 * loadAverages(); // [1 min, 5 min, 15 min]
 * ```
 * @module
 */

import { processCpuMs } from "../bench/_report.ts";

/** Fine buckets: 0.1 ms up to this, then coarse ones. */
const FINE_LIMIT_MS = 100;
const FINE_STEP_MS = 0.1;
/** Coarse buckets: 1 ms up to this; anything above lands in the last one. */
const COARSE_LIMIT_MS = 5_000;
const COARSE_STEP_MS = 1;
const FINE_BUCKETS = Math.round(FINE_LIMIT_MS / FINE_STEP_MS);
const COARSE_BUCKETS = Math.round((COARSE_LIMIT_MS - FINE_LIMIT_MS) / COARSE_STEP_MS);

/** A histogram of millisecond values with constant memory (about 6,000 counters). */
export class Histogram {
  #counts = new Uint32Array(FINE_BUCKETS + COARSE_BUCKETS + 1);
  count = 0;
  max = 0;

  /** Records one value, ms (negative values count as 0). */
  add(ms: number): void {
    const v = ms > 0 ? ms : 0;
    let index: number;
    if (v < FINE_LIMIT_MS) index = Math.floor(v / FINE_STEP_MS);
    else if (v < COARSE_LIMIT_MS) {
      index = FINE_BUCKETS + Math.floor((v - FINE_LIMIT_MS) / COARSE_STEP_MS);
    } else index = FINE_BUCKETS + COARSE_BUCKETS;
    this.#counts[index]++;
    this.count++;
    if (v > this.max) this.max = v;
  }

  /** The value below which a fraction `q` of the samples lie (upper edge of its bucket). */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < this.#counts.length; i++) {
      seen += this.#counts[i];
      if (seen >= rank) {
        const upper = i < FINE_BUCKETS
          ? (i + 1) * FINE_STEP_MS
          : FINE_LIMIT_MS + (i - FINE_BUCKETS + 1) * COARSE_STEP_MS;
        return Math.min(upper, this.max);
      }
    }
    return this.max;
  }

  /** Forgets every sample. */
  reset(): void {
    this.#counts.fill(0);
    this.count = 0;
    this.max = 0;
  }
}

/** Memory and CPU time of a process. */
export interface ProcFigures {
  /** Resident set size, KiB (VmRSS). */
  rssKb: number;
  /** User + system CPU time, ms. */
  cpuMs: number;
}

/** VmRSS and utime+stime of a process, or null when it is gone. */
export function readProc(pid: number): ProcFigures | null {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const rss = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    const cpuMs = processCpuMs(pid);
    if (Number.isNaN(cpuMs)) return null;
    return { rssKb: rss ? Number(rss[1]) : 0, cpuMs };
  } catch {
    return null;
  }
}

/** The machine's 1-, 5- and 15-minute load averages (NaN each when unknown). */
export function loadAverages(): [number, number, number] {
  try {
    const [a, b, c] = Deno.readTextFileSync("/proc/loadavg").split(" ").map(Number);
    return [a, b, c];
  } catch {
    return [NaN, NaN, NaN];
  }
}

/** Open file descriptors of a process (sockets included), or NaN. */
export function openFds(pid: number): number {
  try {
    let n = 0;
    for (const _ of Deno.readDirSync(`/proc/${pid}/fd`)) n++;
    return n;
  } catch {
    return NaN;
  }
}

/** Least-squares slope of y over x (per unit of x), or NaN with fewer than 2 points. */
export function slope(points: { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return NaN;
  let sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const { x, y } of points) {
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
  }
  const d = n * sxx - sx * sx;
  return d === 0 ? NaN : (n * sxy - sx * sy) / d;
}

/** The median, or NaN for none. */
export function median(values: number[]): number {
  if (!values.length) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export { seededRandom } from "../util/seeded_random.ts";
