/**
 * Small measuring tools for media statistics: a sliding-window rate meter and a window of
 * samples with percentiles. Pure: time is passed in.
 *
 * @example
 * ```ts
 * const bitrate = new RateMeter(1000);
 * bitrate.add(1200 * 8, performance.now()); // a packet's bits
 * const delays = new SampleWindow(120);
 * delays.add(42);
 * console.log(bitrate.rate(performance.now()), delays.percentile(50));
 * ```
 * @module
 */

/**
 * Counts amounts over a sliding time window and reports them per second.
 *
 * @example
 * ```ts
 * const fps = new RateMeter(1000);
 * for (let t = 0; t < 1000; t += 33) fps.add(1, t);
 * console.log(Math.round(fps.rate(1000))); // 30
 * ```
 */
export class RateMeter {
  #times: number[] = [];
  #amounts: number[] = [];
  #head = 0;
  #sum = 0;
  /** Everything ever added. */
  total = 0;

  /** @param windowMs the window the rate is measured over (default 1000 ms) */
  constructor(readonly windowMs = 1000) {}

  /**
   * Records `amount` at `nowMs`.
   *
   * @example
   * ```ts
   * new RateMeter().add(1500, performance.now());
   * ```
   */
  add(amount: number, nowMs: number): void {
    this.#times.push(nowMs);
    this.#amounts.push(amount);
    this.#sum += amount;
    this.total += amount;
    this.#prune(nowMs);
  }

  /**
   * Amount per second over the window ending at `nowMs`.
   *
   * @example
   * ```ts
   * const meter = new RateMeter(500);
   * meter.add(10, 0);
   * console.log(meter.rate(100)); // 20 per second
   * ```
   */
  rate(nowMs: number): number {
    this.#prune(nowMs);
    return (this.#sum * 1000) / this.windowMs;
  }

  #prune(nowMs: number): void {
    const from = nowMs - this.windowMs;
    while (this.#head < this.#times.length && this.#times[this.#head] <= from) {
      this.#sum -= this.#amounts[this.#head];
      this.#head++;
    }
    if (this.#head > 256 && this.#head * 2 > this.#times.length) {
      this.#times = this.#times.slice(this.#head);
      this.#amounts = this.#amounts.slice(this.#head);
      this.#head = 0;
    }
    if (this.#head === this.#times.length) this.#sum = 0; // no float drift when empty
  }
}

/**
 * The last `capacity` samples of a measure (e.g. delays), with percentiles.
 *
 * @example
 * ```ts
 * const window = new SampleWindow(100);
 * for (let v = 1; v <= 100; v++) window.add(v);
 * console.log(window.percentile(50), window.percentile(95)); // 50 95
 * ```
 */
export class SampleWindow {
  #values: number[] = [];
  #next = 0;

  /** @param capacity how many of the latest samples are kept */
  constructor(readonly capacity: number) {}

  /** Number of samples held. */
  get size(): number {
    return this.#values.length;
  }

  /**
   * Adds a sample; the oldest gives way when full.
   *
   * @example
   * ```ts
   * new SampleWindow(10).add(3.5);
   * ```
   */
  add(value: number): void {
    if (!Number.isFinite(value)) return;
    if (this.#values.length < this.capacity) this.#values.push(value);
    else this.#values[this.#next] = value;
    this.#next = (this.#next + 1) % this.capacity;
  }

  /**
   * The `p`-th percentile (nearest rank) of the samples held, or null when empty.
   *
   * @example
   * ```ts
   * const w = new SampleWindow(4);
   * [10, 20, 30, 40].forEach((v) => w.add(v));
   * console.log(w.percentile(50)); // 20
   * ```
   */
  percentile(p: number): number | null {
    return percentile(this.#values, p);
  }

  /** A copy of the samples held, oldest first. */
  values(): number[] {
    if (this.#values.length < this.capacity) return [...this.#values];
    return [...this.#values.slice(this.#next), ...this.#values.slice(0, this.#next)];
  }

  /** Forgets every sample. */
  clear(): void {
    this.#values = [];
    this.#next = 0;
  }
}

/**
 * The `p`-th percentile (nearest rank, 0 < p <= 100) of `values`, or null when empty.
 *
 * @example
 * ```ts
 * percentile([5, 1, 3], 50); // 3
 * ```
 */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/**
 * Counts a video stream's freezes as Chromium's WebRTC statistics do: a freeze is a gap
 * between two frames longer than max(3 x the mean frame interval, the mean + 150 ms), the mean
 * taken over the last 30 intervals before the gap.
 *
 * @example
 * ```ts
 * const freezes = new FreezeMeter();
 * for (let t = 0; t <= 1000; t += 33) freezes.frame(t);
 * freezes.frame(1400); // 400 ms without a frame
 * freezes.count; // 1
 * freezes.totalMs; // 400 (rounded from the gap)
 * ```
 */
export class FreezeMeter {
  /** Freezes so far. */
  count = 0;
  /** Time spent frozen so far (the freezes' gaps), ms. */
  totalMs = 0;
  #last: number | null = null;
  #intervals: number[] = [];
  #next = 0;
  #sum = 0;

  /** A frame was shown (or decoded) at `nowMs`. */
  frame(nowMs: number): void {
    if (this.#last !== null) {
      const gap = nowMs - this.#last;
      const n = this.#intervals.length;
      if (n >= 5) {
        const mean = this.#sum / n;
        if (gap > Math.max(3 * mean, mean + 150)) {
          this.count++;
          this.totalMs += gap;
        }
      }
      if (n < 30) {
        this.#intervals.push(gap);
      } else {
        this.#sum -= this.#intervals[this.#next];
        this.#intervals[this.#next] = gap;
        this.#next = (this.#next + 1) % 30;
      }
      this.#sum += gap;
    }
    this.#last = nowMs;
  }
}
