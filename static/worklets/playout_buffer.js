// @ts-check
/**
 * The playout buffer of one received audio stream, in the PCM domain: decoded frames go in
 * at the position their RTP timestamp gives them (so reordered frames land in place), the
 * audio thread reads 128-sample quanta out at its own clock. It is the stream's jitter
 * buffer:
 *
 * - the first frame (and the first after a quiet period) is placed `targetLead` samples
 *   ahead of the read position;
 * - a hole with data after it (a lost frame) is concealed and skipped;
 * - an empty buffer (the next frame is late) is concealed WITHOUT advancing, so the frame
 *   plays when it comes and the buffer deepens by the stall; the target lead rises to cover
 *   such a stall, is held there while frames keep coming that late (`holdMs` after the last
 *   one) and then decays back slowly while the stream stays steady;
 * - when the buffer has stayed deeper than the target for a whole window, the extra is
 *   dropped with a short crossfade;
 * - a backlog far deeper than the target (frames that piled up while the main thread was
 *   held up, e.g. when someone joins) is dropped at once, down to the target and one frame:
 *   it is latency, not protection, and draining it a window at a time would take seconds;
 * - concealment repeats the last pitch period with a fade to silence (no clicks), and data
 *   that follows fades in over it; after `maxConcealMs` at the edge the stream goes idle
 *   (silent) and the next frame anchors anew.
 *
 * Pure: no AudioWorklet API is used, so it is unit-tested in Deno and imported by
 * playback.js in the browser.
 *
 * @example
 * ```js
 * const buffer = new PlayoutBuffer({ sampleRate: 48000 });
 * buffer.push(960, new Float32Array(960).fill(0.1)); // a decoded 20 ms frame
 * const quantum = new Float32Array(128);
 * buffer.read(quantum); // in AudioWorkletProcessor.process()
 * ```
 * @module
 */

/**
 * Options of a {@linkcode PlayoutBuffer}.
 *
 * @typedef {object} PlayoutOptions
 * @property {number} [sampleRate] samples per second (default 48000)
 * @property {number} [capacityMs] most audio held (default 1000 ms)
 * @property {number} [minLeadMs] smallest target lead at the worst moment, i.e. just before
 *   the next frame arrives (default 10 ms)
 * @property {number} [maxLeadMs] largest target lead (default 200 ms)
 * @property {number} [windowMs] how long the buffer must stay too deep before it drops the
 *   extra (default 1000 ms)
 * @property {number} [hysteresisMs] extra depth tolerated before dropping (default 10 ms)
 * @property {number} [maxDropMs] most dropped at once after a window too deep (default 20 ms)
 * @property {number} [catchUpMs] a depth more than this beyond the target is a backlog, dropped
 *   at once (default 80 ms)
 * @property {number} [crossfadeMs] crossfade of a drop and of data after concealment
 *   (default 2.5 ms)
 * @property {number} [concealFadeMs] concealment fades to silence over this (default 30 ms)
 * @property {number} [maxConcealMs] concealment at the edge before going idle (default 100 ms)
 * @property {number} [holdMs] how long the target is held after a stall, or after a frame that
 *   came into the lowest third of the margin a stall added, before it decays: a target that
 *   decays right away is drained just in time for the next stall of a stream whose stalls
 *   recur every few seconds, as on a busy machine; a longer hold keeps a one-off stall's delay
 *   for longer (docs/architecture.md weighs the two; default 2000 ms)
 * @property {number} [decayPerWindow] fraction of the target's excess over `minLeadMs`
 *   removed after each window without a stall once the hold is over (default 0.25)
 * @property {number} [waitForRecoveredAbove] a frame recovered from the next packet's
 *   redundant copy (RED) that comes after the buffer ran dry is played, and its stall raises the
 *   target, only while recovered frames are more than this fraction of the last ~5 s of frames;
 *   otherwise it is given up as lost and the next frame plays in its place. The copy comes a
 *   frame late: waiting for it at 1% loss kept the target about 20 ms deeper all the time, to
 *   spare one 20 ms concealment every 2 s (default 0.02)
 */

/**
 * Counters of a {@linkcode PlayoutBuffer}, in samples unless named otherwise.
 *
 * @typedef {object} PlayoutStats
 * @property {"idle" | "playing"} state
 * @property {number} played samples of data played
 * @property {number} concealed samples of concealment played (holes and stalls)
 * @property {number} lost samples of holes skipped (frames that never came in time)
 * @property {number} stretched samples of delay added: played while waiting at the edge for a
 *   frame that then came late
 * @property {number} dropped samples dropped to bring the depth down
 * @property {number} late samples that arrived after their position was played
 * @property {number} givenUp samples of recovered frames given up: they came after the buffer
 *   ran dry while losses were rare (see `waitForRecoveredAbove`)
 * @property {number} stalls times a frame came after the buffer ran dry (each adds delay)
 * @property {number} restarts times a frame far from the read position re-anchored the stream
 * @property {number} backlogRestarts of them, those whose frame followed on from the one before
 *   (no jump in the stream: more than the buffer holds came at once, after its input was held
 *   up, and the newest is played rather than the backlog)
 * @property {number} depth samples buffered ahead of the read position now
 * @property {number} targetLead the target lead, samples
 */

/** @param {number} a @param {number} b */
function timestampDiff(a, b) {
  return (a - b) | 0;
}

/** A stream's playout buffer; see the module documentation. */
export class PlayoutBuffer {
  /** @type {number} */ sampleRate;
  /** @type {Float32Array} */ #ring;
  /** @type {Uint8Array} */ #filled;
  /** @type {number} */ #capacity;
  /** @type {"idle" | "playing"} */ #state = "idle";
  /** RTP timestamp of the last frame pushed and its position. */
  #baseTs = 0;
  #basePos = 0;
  #readPos = 0;
  #writeEnd = 0;
  /** Where the anchored first frame starts: before it, the lead is pre-roll, not a hole. */
  #startPos = 0;
  /** The pre-roll continues a stall (concealment), rather than starting a stream (silence). */
  #prerollConceals = false;

  // Concealment: the last pitch period of what played, repeated with a fade.
  /** @type {Float32Array} */ #history;
  #historyPos = 0;
  /** @type {Float32Array} */ #concealSource;
  #concealLag = 1;
  /** Samples of concealment generated since it began; Infinity = silent. */
  #concealK = Infinity;
  #concealing = true;
  /** Crossfade position from concealment into data; -1 when not fading. */
  #fadeK = -1;
  /** Stall length so far (samples concealed at the edge). */
  #stallLength = 0;

  // Depth adaptation.
  #targetLead = 0;
  #windowRead = 0;
  #windowMinDepth = Infinity;
  #windowStalled = false;
  /** A frame of this window came late into the target's raised margin (see `push`). */
  #windowUsedMargin = false;
  /** Windows read since the last one with a stall. */
  #steadyWindows = Infinity;
  #dropPending = 0;
  /** Crossfade-drop in progress: samples skipped and position in the crossfade (-1 = none). */
  #skipLength = 0;
  #skipK = -1;
  /** Length of the last frame pushed: a caught-up backlog keeps one frame beyond the target. */
  #frameLength = 0;
  /** Fraction of recent frames that were recovered copies (the mean of the first 250, then a moving average over about as many). */
  #recoveredRate = 0;
  #pushes = 0;

  #opts;
  #counters = {
    played: 0,
    concealed: 0,
    lost: 0,
    stretched: 0,
    dropped: 0,
    late: 0,
    givenUp: 0,
    stalls: 0,
    restarts: 0,
    backlogRestarts: 0,
  };

  /**
   * Starts idle and empty.
   *
   * @param {PlayoutOptions} [options]
   *
   * @example
   * ```js
   * const buffer = new PlayoutBuffer({ minLeadMs: 20, maxLeadMs: 120 });
   * buffer.stats.state; // "idle"
   * ```
   */
  constructor(options = {}) {
    const sr = options.sampleRate ?? 48000;
    const ms = (/** @type {number} */ v) => Math.round((v * sr) / 1000);
    this.sampleRate = sr;
    const windowLength = ms(options.windowMs ?? 1000);
    this.#capacity = ms(options.capacityMs ?? 1000);
    this.#ring = new Float32Array(this.#capacity);
    this.#filled = new Uint8Array(this.#capacity);
    this.#opts = {
      minLead: ms(options.minLeadMs ?? 10),
      maxLead: ms(options.maxLeadMs ?? 200),
      window: windowLength,
      hysteresis: ms(options.hysteresisMs ?? 10),
      maxDrop: ms(options.maxDropMs ?? 20),
      catchUp: ms(options.catchUpMs ?? 80),
      crossfade: Math.max(1, ms(options.crossfadeMs ?? 2.5)),
      concealFade: Math.max(1, ms(options.concealFadeMs ?? 30)),
      maxConceal: ms(options.maxConcealMs ?? 100),
      decay: options.decayPerWindow ?? 0.25,
      holdWindows: Math.ceil(ms(options.holdMs ?? 2000) / windowLength),
      waitForRecoveredAbove: options.waitForRecoveredAbove ?? 0.02,
    };
    this.#targetLead = this.#opts.minLead;
    this.#history = new Float32Array(Math.round(sr / 50)); // 20 ms
    this.#concealSource = new Float32Array(this.#history.length);
  }

  /** Samples buffered ahead of the read position. */
  get depth() {
    return Math.max(0, this.#writeEnd - this.#readPos);
  }

  /** The target lead in samples: the depth wanted just before the next frame arrives. */
  get targetLead() {
    return this.#targetLead;
  }

  /** A snapshot of the counters. @returns {PlayoutStats} */
  get stats() {
    return {
      ...this.#counters,
      state: this.#state,
      depth: this.depth,
      targetLead: this.#targetLead,
    };
  }

  /**
   * Adds one decoded frame. Returns its lead: how many samples ahead of the read position
   * its first sample lands (it plays after that many samples; negative when late), or null
   * when it is given up (a recovered frame that came too late to be worth waiting for).
   *
   * @param {number} rtpTimestamp the frame's RTP timestamp (same clock as the samples)
   * @param {Float32Array} samples mono PCM
   * @param {boolean} [recovered] the frame came as the redundant copy in a later packet (RED)
   * @returns {number | null}
   *
   * @example
   * ```js
   * const buffer = new PlayoutBuffer({ minLeadMs: 10 });
   * buffer.push(0, new Float32Array(960)); // 480: anchored 10 ms ahead
   * buffer.push(960, new Float32Array(960)); // 1440: right after it
   * ```
   */
  push(rtpTimestamp, samples, recovered = false) {
    const len = samples.length;
    if (len === 0 || len > this.#capacity / 2) return 0;
    this.#pushes = Math.min(250, this.#pushes + 1);
    this.#recoveredRate += ((recovered ? 1 : 0) - this.#recoveredRate) / this.#pushes;
    if (
      recovered && this.#state === "playing" && this.#stallLength > 0 &&
      this.#recoveredRate <= this.#opts.waitForRecoveredAbove
    ) {
      // Its own packet was lost and the buffer ran dry waiting: the next frame (in the same
      // packet, pushed right after) resumes the stream, and this one counts as lost.
      this.#counters.givenUp += len;
      return null;
    }
    let pos;
    if (this.#state === "idle") {
      pos = this.#anchor();
    } else {
      const step = timestampDiff(rtpTimestamp >>> 0, this.#baseTs);
      pos = this.#basePos + step;
      if (pos + len - this.#readPos > this.#capacity || this.#readPos - pos > this.#capacity) {
        // Far ahead or far behind: the sender restarted or jumped, or a backlog larger than the
        // buffer came at once (the stream runs on); start over.
        this.#counters.restarts++;
        if (step === this.#frameLength) this.#counters.backlogRestarts++;
        this.#clearAhead();
        pos = this.#anchor();
      } else if (this.#stallLength > 0) {
        pos = this.#resume(pos);
      }
    }
    this.#baseTs = rtpTimestamp >>> 0;
    this.#basePos = pos;
    this.#frameLength = len;
    const lead = pos - this.#readPos;
    // A frame that came into the lowest third of a raised target's margin was about as late
    // as the stall that raised it: the hold starts over, as after a stall (nothing is added).
    const { minLead } = this.#opts;
    if (this.#targetLead > minLead && lead < minLead + (this.#targetLead - minLead) / 3) {
      this.#windowUsedMargin = true;
    }
    const from = Math.max(0, this.#readPos - pos);
    this.#counters.late += from;
    for (let i = from; i < len; i++) {
      const idx = (pos + i) % this.#capacity;
      this.#ring[idx] = samples[i];
      this.#filled[idx] = 1;
    }
    if (from < len) this.#writeEnd = Math.max(this.#writeEnd, pos + len);
    return lead;
  }

  /**
   * Fills `out` with the next samples: data, concealment or silence.
   *
   * @param {Float32Array} out
   *
   * @example
   * ```js
   * const buffer = new PlayoutBuffer();
   * const quantum = new Float32Array(128);
   * buffer.read(quantum); // silence while idle
   * ```
   */
  read(out) {
    const n = out.length;
    this.#adapt(n);
    const cap = this.#capacity;
    const xf = this.#opts.crossfade;
    for (let i = 0; i < n; i++) {
      const idx = this.#readPos % cap;
      let s;
      if (this.#skipK >= 0) {
        // Crossfade from the current position to the one `skipLength` ahead, then jump.
        const w = (this.#skipK + 1) / (xf + 1);
        const ahead = (this.#readPos + this.#skipLength) % cap;
        s = this.#ring[idx] * (1 - w) + this.#ring[ahead] * w;
        this.#filled[idx] = 0;
        this.#filled[ahead] = 0;
        this.#readPos++;
        this.#counters.played++;
        if (++this.#skipK === xf) {
          for (let p = this.#readPos; p < this.#readPos + this.#skipLength; p++) {
            this.#filled[p % cap] = 0;
          }
          this.#readPos += this.#skipLength;
          this.#counters.dropped += this.#skipLength;
          this.#skipK = -1;
        }
      } else if (this.#readPos < this.#writeEnd && this.#filled[idx]) {
        s = this.#ring[idx];
        this.#filled[idx] = 0;
        this.#readPos++;
        this.#counters.played++;
        if (this.#concealing) {
          this.#concealing = false;
          this.#fadeK = 0;
        }
        if (this.#fadeK >= 0) {
          const w = (this.#fadeK + 1) / (xf + 1);
          s = s * w + this.#concealSample() * (1 - w);
          if (++this.#fadeK === xf) this.#fadeK = -1;
        }
      } else if (this.#state === "idle") {
        s = 0;
      } else {
        if (!this.#concealing) this.#beginConceal();
        s = this.#concealSample();
        if (this.#readPos < this.#startPos) {
          // Lead before an anchored or resumed frame: silence, or concealment fading out.
          this.#readPos++;
          if (this.#prerollConceals) this.#counters.concealed++;
        } else if (this.#readPos < this.#writeEnd) {
          this.#readPos++; // a hole with data after it: a lost frame, skipped
          this.#counters.lost++;
          this.#counters.concealed++;
        } else {
          // Ran dry: hold the position until the next frame comes.
          this.#counters.concealed++;
          this.#counters.stretched++;
          this.#stallLength++;
          if (this.#stallLength >= this.#opts.maxConceal) this.#goIdle();
        }
      }
      out[i] = s;
      this.#history[this.#historyPos] = s;
      this.#historyPos = (this.#historyPos + 1) % this.#history.length;
    }
  }

  /** Forgets everything buffered and goes idle; counters are kept. */
  reset() {
    this.#clearAhead();
    this.#goIdle();
    this.#dropPending = 0;
    this.#skipK = -1;
    this.#resetWindow();
  }

  #anchor() {
    this.#state = "playing";
    this.#stallLength = 0;
    this.#resetWindow();
    this.#startPos = this.#readPos + this.#targetLead;
    this.#prerollConceals = false;
    return this.#startPos;
  }

  #goIdle() {
    // The stream paused (the sender went quiet): the concealment added no delay.
    this.#counters.stretched -= this.#stallLength;
    this.#state = "idle";
    this.#stallLength = 0;
    this.#concealing = true;
    this.#concealK = Infinity; // silent: the next data fades in from zero
    this.#fadeK = -1;
    this.#clearAhead();
  }

  #clearAhead() {
    for (let p = this.#readPos; p < this.#writeEnd; p++) this.#filled[p % this.#capacity] = 0;
    this.#writeEnd = this.#readPos;
  }

  /**
   * The first frame after the buffer ran dry lands `minLead` ahead of the read position,
   * whatever its timestamp says: a hole before it (frames lost) is skipped, a late frame is
   * given the margin back. The latency this added is added to the target, which keeps the
   * buffer from being drained back below it until the stream has been steady a while.
   * @param {number} pos where the frame's timestamp places it
   */
  #resume(pos) {
    const resumed = this.#readPos + this.#opts.minLead;
    // A hole at the read position is lost stream; the stall that covered it added no delay.
    const hole = Math.max(0, pos - this.#readPos);
    this.#counters.lost += hole;
    this.#counters.stretched -= Math.min(hole, this.#stallLength);
    const added = this.#stallLength + resumed - pos;
    if (added > 0) {
      this.#counters.stalls++;
      this.#windowStalled = true;
    }
    // The frame came `added - minLead` later than the depth the buffer held (about the
    // target) could cover: the target grows by that and the margin, so that the same delay
    // again leaves `minLead` at the worst moment.
    if (added > 0) this.#targetLead = Math.min(this.#opts.maxLead, this.#targetLead + added);
    this.#stallLength = 0;
    this.#startPos = resumed;
    this.#prerollConceals = true;
    return resumed;
  }

  /**
   * Once per read: window bookkeeping, and a drop when the buffer stayed too deep.
   * @param {number} n samples about to be read
   */
  #adapt(n) {
    if (this.#state !== "playing") return;
    if (!this.#concealing && this.#fadeK < 0) {
      this.#windowMinDepth = Math.min(this.#windowMinDepth, this.depth);
    }
    this.#windowRead += n;
    if (this.#windowRead >= this.#opts.window) {
      const { minLead, hysteresis, maxDrop, decay, holdWindows } = this.#opts;
      this.#steadyWindows = this.#windowStalled || this.#windowUsedMargin
        ? 0
        : this.#steadyWindows + 1;
      if (this.#steadyWindows > holdWindows) {
        this.#targetLead = Math.round(
          this.#targetLead - (this.#targetLead - minLead) * decay,
        );
      }
      const excess = this.#windowMinDepth - this.#targetLead;
      if (!this.#windowStalled && Number.isFinite(excess) && excess > hysteresis) {
        this.#dropPending = Math.min(excess, maxDrop);
      }
      this.#resetWindow();
    }
    if (this.#skipK >= 0 || this.#concealing || this.#fadeK >= 0) return;
    if (this.depth > this.#targetLead + this.#opts.catchUp) {
      const backlog = this.depth - this.#targetLead - this.#frameLength;
      this.#dropPending = Math.max(this.#dropPending, backlog);
    }
    if (this.#dropPending > 0) {
      const span = this.#dropPending + this.#opts.crossfade;
      if (this.#contiguous(span)) {
        this.#skipLength = this.#dropPending;
        this.#skipK = 0;
      }
      this.#dropPending = 0;
    }
  }

  /**
   * True when the `span` samples from the read position are all held.
   * @param {number} span
   */
  #contiguous(span) {
    if (this.#readPos + span > this.#writeEnd) return false;
    for (let p = this.#readPos; p < this.#readPos + span; p++) {
      if (!this.#filled[p % this.#capacity]) return false;
    }
    return true;
  }

  #resetWindow() {
    this.#windowRead = 0;
    this.#windowMinDepth = Infinity;
    this.#windowStalled = false;
    this.#windowUsedMargin = false;
  }

  /** Snapshot of the last 20 ms played and its pitch period (best autocorrelation lag). */
  #beginConceal() {
    this.#concealing = true;
    this.#fadeK = -1;
    const h = this.#history.length;
    for (let i = 0; i < h; i++) {
      this.#concealSource[i] = this.#history[(this.#historyPos + i) % h];
    }
    const src = this.#concealSource;
    const w = Math.round(h / 4); // 5 ms compared
    const minLag = Math.round(this.sampleRate / 500); // up to 500 Hz
    let energy = 0;
    for (let i = h - w; i < h; i++) energy += src[i] * src[i];
    let bestLag = h - w;
    if (energy > 1e-9) {
      let best = -Infinity;
      for (let lag = minLag; lag <= h - w; lag++) {
        let dot = 0;
        let norm = 0;
        for (let i = h - w; i < h; i++) {
          const past = src[i - lag];
          dot += src[i] * past;
          norm += past * past;
        }
        const score = norm > 0 ? dot / Math.sqrt(norm) : -Infinity;
        if (score > best) {
          best = score;
          bestLag = lag;
        }
      }
    }
    this.#concealLag = bestLag;
    this.#concealK = 0;
  }

  #concealSample() {
    const k = this.#concealK;
    const fade = this.#opts.concealFade;
    if (k >= fade) return 0;
    this.#concealK = k + 1;
    const h = this.#concealSource.length;
    const lag = this.#concealLag;
    return this.#concealSource[h - lag + (k % lag)] * (1 - k / fade);
  }
}
