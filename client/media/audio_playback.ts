/**
 * Audio output of a session: the "meet-playback" AudioWorklet node (static/worklets/
 * playback.js) on the session's AudioContext. Each received stream (by SSRC) pushes its
 * decoded PCM here; the worklet keeps one adaptive playout buffer per stream and mixes them.
 * Statistics come back from the audio thread about four times a second.
 *
 * @example
 * ```ts
 * async function play(context: AudioContext, ssrc: number, rtpTimestamp: number,
 *   pcm: Float32Array, captureMs: number) {
 *   await context.audioWorklet.addModule("/worklets/playback.js");
 *   const playback = new AudioPlayback(context);
 *   playback.push(ssrc, rtpTimestamp, pcm, captureMs); // pcm: Float32Array, transferred
 *   console.log(playback.stats.output.rms);
 *   playback.close();
 * }
 * ```
 * @module
 */

import type { PlaybackSink } from "./audio_receiver.ts";
import { wallClock } from "./clock.ts";

/**
 * One stream's playout state, as the worklet reports it (PlayoutBuffer counters in samples).
 *
 * @example
 * ```ts
 * function depthOf(stream: PlaybackStreamStats) {
 *   const depthMs = stream.depth / 48; // at 48 kHz
 *   return depthMs;
 * }
 * ```
 */
export interface PlaybackStreamStats {
  ssrc: number;
  state: "idle" | "playing";
  played: number;
  concealed: number;
  lost: number;
  stretched: number;
  dropped: number;
  late: number;
  /** Recovered frames given up (came after the buffer ran dry while losses were rare). */
  givenUp: number;
  stalls: number;
  restarts: number;
  /** Of the restarts, those a backlog made (more than the buffer holds came at once). */
  backlogRestarts: number;
  depth: number;
  targetLead: number;
  /** RMS of this stream over the last second. */
  rms: number;
  /** Total time this stream was audible, ms. */
  audibleMs: number;
  /** Capture-to-speaker delays of the frames pushed since the previous report, ms. */
  delays: number[];
  /**
   * How long each of those frames waited in the playout buffer, from its arrival at the
   * worklet to the rendering of its first sample, ms.
   */
  waits: number[];
}

/** A frame pushed with a capture time: where its first sample is rendered. */
interface Playout {
  captureMs: number;
  /** The context's sample frame at which it is rendered. */
  frame: number;
  /** Samples ahead of the read position when it arrived. */
  lead: number;
}

/** A report as the worklet sends it: frames rendered, not yet dated. */
interface WorkletReport {
  type: "stats";
  output: PlaybackStats["output"];
  streams: (Omit<PlaybackStreamStats, "delays" | "waits"> & { playouts: Playout[] })[];
  arrivals?: PlayoutArrival[];
}

/**
 * One decoded frame as it reached the worklet: its stream, RTP timestamp, whether it was a
 * redundant copy (1) or not (0), the context's sample frame of the next quantum to be rendered
 * when it came, and its length in samples. A stream's arrivals replayed through a
 * `PlayoutBuffer` give what the buffer did, and what it would do with other settings
 * (tests/network/playout_replay.ts).
 *
 * @example
 * ```ts
 * const arrival: PlayoutArrival = [0x1234, 960, 0, 48_128, 960];
 * const [, rtpTimestamp, , frame] = arrival;
 * console.log(`timestamp ${rtpTimestamp} came before frame ${frame}`);
 * ```
 */
export type PlayoutArrival = [
  ssrc: number,
  rtpTimestamp: number,
  recovered: 0 | 1,
  frame: number,
  samples: number,
];

/** Most arrivals an {@linkcode AudioPlayback} keeps (about 10 minutes of one stream). */
export const MAX_PLAYOUT_ARRIVALS = 30_000;

/**
 * Options of an {@linkcode AudioPlayback}.
 *
 * @example
 * ```ts
 * const options: AudioPlaybackOptions = { minLeadMs: 10, record: true };
 * console.log(options);
 * ```
 */
export interface AudioPlaybackOptions {
  /** The playout buffers' least target lead, ms (see static/worklets/playout_buffer.js). */
  minLeadMs?: number;
  /** Their largest target lead, ms. */
  maxLeadMs?: number;
  /** Keep each frame's arrival at the worklet in {@linkcode AudioPlayback.arrivals}. */
  record?: boolean;
}

/**
 * The latest report of the playback worklet.
 *
 * @example
 * ```ts
 * function log(playback: AudioPlayback) {
 *   const { rms, audibleMs } = playback.stats.output;
 *   console.log(rms, audibleMs);
 * }
 * ```
 */
export interface PlaybackStats {
  output: {
    /** RMS of what was played over the last second (0..1). */
    rms: number;
    /** Total time the output was audible (above -60 dBFS), ms. */
    audibleMs: number;
    /** Samples output in total. */
    samples: number;
  };
  streams: PlaybackStreamStats[];
}

/** The session's speaker side. */
export class AudioPlayback {
  readonly context: AudioContext;
  readonly node: AudioWorkletNode;
  /** Called with each report of the worklet. */
  onStats: ((stats: PlaybackStats) => void) | null = null;
  #stats: PlaybackStats = { output: { rms: 0, audibleMs: 0, samples: 0 }, streams: [] };
  #closed = false;
  readonly #sink: PortPlaybackSink;
  /**
   * With `record`: the frames' arrivals at the worklet, oldest first (at most
   * {@linkcode MAX_PLAYOUT_ARRIVALS}; later ones are not kept). Empty otherwise.
   */
  readonly arrivals: PlayoutArrival[] = [];

  /**
   * Creates the worklet node and connects it to the speakers. The context must have loaded
   * /worklets/playback.js.
   */
  constructor(context: AudioContext, options: AudioPlaybackOptions = {}) {
    this.context = context;
    this.node = new AudioWorkletNode(context, "meet-playback", {
      numberOfInputs: 0,
      numberOfOutputs: 1,
      outputChannelCount: [1],
      processorOptions: options,
    });
    this.node.connect(context.destination);
    this.#sink = new PortPlaybackSink(this.node.port);
    this.node.port.onmessage = (event) => {
      if (event.data?.type !== "stats") return;
      const report = event.data as WorkletReport;
      for (const arrival of report.arrivals ?? []) {
        if (this.arrivals.length >= MAX_PLAYOUT_ARRIVALS) break;
        this.arrivals.push(arrival);
      }
      const heardAt = this.#heardAt();
      this.#stats = {
        output: report.output,
        streams: report.streams.map(({ playouts, ...stream }) => ({
          ...stream,
          delays: playouts.map((p) => heardAt(p.frame) - p.captureMs),
          waits: playouts.map((p) => (p.lead * 1000) / this.context.sampleRate),
        })),
      };
      this.onStats?.(this.#stats);
    };
  }

  /** The latest statistics from the audio thread. */
  get stats(): PlaybackStats {
    return this.#stats;
  }

  /**
   * Queues one decoded frame of a stream. `samples` is transferred (unusable afterwards).
   * `recovered`: it came as the redundant copy in a later packet (the playout buffer may give
   * it up rather than wait for it).
   *
   * @example
   * ```ts
   * function pushSilence(playback: AudioPlayback) {
   *   playback.push(0x1234, 960, new Float32Array(960), Date.now() - 50);
   * }
   * ```
   */
  push(
    ssrc: number,
    rtpTimestamp: number,
    samples: Float32Array,
    captureMs: number | null,
    recovered = false,
  ): void {
    if (!this.#closed) this.#sink.push(ssrc, rtpTimestamp, samples, captureMs, recovered);
  }

  /** Forgets a stream. */
  removeStream(ssrc: number): void {
    if (!this.#closed) this.#sink.removeStream(ssrc);
  }

  /** Stops the worklet and disconnects it. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.node.port.postMessage({ type: "close" });
    this.node.port.onmessage = null;
    this.node.disconnect();
  }

  /**
   * Times the audio thread was late and the output went silent for a moment (a glitch), and
   * for how long in all, ms: the context's `playbackStats`, or null where the browser has none.
   */
  get underruns(): { events: number; ms: number } | null {
    const stats =
      (this.context as { playbackStats?: { underrunEvents: number; underrunDuration: number } })
        .playbackStats;
    return stats ? { events: stats.underrunEvents, ms: stats.underrunDuration * 1000 } : null;
  }

  /** How late the output reaches the speakers, ms (the context's base + output latency). */
  get outputLatencyMs(): number {
    return ((this.context.outputLatency || 0) + (this.context.baseLatency || 0)) * 1000;
  }

  /**
   * Maps a sample frame of the context to the wall-clock time it leaves the speakers, from
   * the browser's own output timestamp (the frame being played now and when). Where the
   * browser gives none yet, the frame being rendered now plus the reported latencies.
   */
  #heardAt(): (frame: number) => number {
    const rate = this.context.sampleRate;
    const ts = this.context.getOutputTimestamp?.();
    // The wall-clock time of the context's frame 0, as heard.
    const base = ts?.contextTime && ts.performanceTime
      ? performance.timeOrigin + ts.performanceTime - ts.contextTime * 1000
      : wallClock() - this.context.currentTime * 1000 + this.outputLatencyMs;
    return (frame) => base + (frame / rate) * 1000;
  }
}

/**
 * Plays into the playback worklet through a `MessagePort` of its own (the worklet's
 * `{type: "port"}` message): the same messages as `AudioPlayback.push`, from a worker.
 *
 * @example
 * ```ts
 * import type { PlaybackSink } from "./audio_receiver.ts";
 *
 * function sinkFor(port: MessagePort): PlaybackSink {
 *   return new PortPlaybackSink(port);
 * }
 * ```
 */
export class PortPlaybackSink implements PlaybackSink {
  readonly #port: MessagePort;

  constructor(port: MessagePort) {
    this.#port = port;
  }

  push(
    ssrc: number,
    rtpTimestamp: number,
    samples: Float32Array,
    captureMs: number | null,
    recovered = false,
  ): void {
    this.#port.postMessage(
      { type: "frame", ssrc, rtpTimestamp, samples, captureMs, recovered },
      [samples.buffer],
    );
  }

  removeStream(ssrc: number): void {
    this.#port.postMessage({ type: "remove", ssrc });
  }

  /** Closes the port (the worklet stops listening on it). */
  close(): void {
    this.#port.close();
  }
}
