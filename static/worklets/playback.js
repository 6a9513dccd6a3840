// Runs in an AudioWorkletGlobalScope (AudioWorkletProcessor, registerProcessor, sampleRate).
/**
 * The "meet-playback" AudioWorklet processor: one {@linkcode PlayoutBuffer} per received
 * stream (by SSRC), read at the audio clock and mixed into one mono output with a soft
 * limit. Decoded frames come from the main thread or the media worker as messages;
 * statistics go back about four times a second.
 *
 * Messages in:
 * - `{type: "frame", ssrc, rtpTimestamp, samples: Float32Array, captureMs}` (`captureMs`:
 *   the sender's capture time, or null);
 * - `{type: "remove", ssrc}`; `{type: "close"}`;
 * - `{type: "port", port: MessagePort}`: frame and remove messages also come on that port, from
 *   a worker (client/media/media_worker.ts) that decodes without the main thread.
 *
 * Processor options: the {@linkcode PlayoutBuffer} options, and `record: true` to keep each
 * frame's arrival (`[ssrc, rtpTimestamp, recovered 0/1, frame, samples]`, `frame` being the
 * context's sample frame of the next quantum to render when it came; at most
 * {@linkcode MAX_RECORDED} between two reports), handed over with each report as `arrivals`: what
 * a replay through the buffer needs (tests/network/playout_replay.ts).
 *
 * Messages out: `{type: "stats", output: {rms, audibleMs, samples}, streams: [...]}` where
 * each stream carries its PlayoutBuffer counters, its `rms` and `audibleMs`, and the
 * `playouts` of the frames pushed since the last report: `{captureMs, frame, lead}`, where
 * `frame` is the context's sample frame at which that frame's first sample is rendered (the
 * main thread maps it to the time it is heard with `AudioContext.getOutputTimestamp()`) and
 * `lead` how many samples ahead of the read position it landed.
 *
 * @example
 * ```js
 * await context.audioWorklet.addModule("/worklets/playback.js");
 * const node = new AudioWorkletNode(context, "meet-playback", { numberOfInputs: 0, outputChannelCount: [1] });
 * node.connect(context.destination);
 * ```
 * @module
 */

import { LevelMeter } from "./level_meter.js";
import { PlayoutBuffer } from "./playout_buffer.js";

const QUANTUM = 128;
const STATS_EVERY_QUANTA = 94; // ~250 ms at 48 kHz
/** Most arrivals recorded between two reports (about 12 frames come in 250 ms per stream). */
const MAX_RECORDED = 1024;

/**
 * @typedef {object} Stream
 * @property {PlayoutBuffer} buffer
 * @property {LevelMeter} meter
 * @property {{captureMs: number, frame: number, lead: number}[]} playouts
 */

class PlaybackProcessor extends AudioWorkletProcessor {
  /** @type {Map<number, Stream>} */
  streams = new Map();
  scratch = new Float32Array(QUANTUM);
  output = new LevelMeter({ sampleRate });
  /** The context's sample frame of the next quantum to render. */
  nextFrame = 0;
  quanta = 0;
  open = true;
  /** @type {MessagePort[]} Ports that frames come on besides the node's own. */
  ports = [];
  /** @type {Record<string, number>} */
  bufferOptions;
  /**
   * Arrivals since the last report, when recording (see the module documentation).
   * @type {number[][] | null}
   */
  arrivals = null;

  /** @param {{ processorOptions?: Record<string, number | boolean> }} options */
  constructor(options) {
    super();
    const { record, ...bufferOptions } = options.processorOptions ?? {};
    this.bufferOptions = { sampleRate, .../** @type {Record<string, number>} */ (bufferOptions) };
    if (record === true) this.arrivals = [];
    this.port.onmessage = (event) => this.receive(event.data);
  }

  /** @param {any} msg */
  receive(msg) {
    switch (msg.type) {
      case "frame": {
        let stream = this.streams.get(msg.ssrc);
        if (!stream) {
          stream = {
            buffer: new PlayoutBuffer(this.bufferOptions),
            meter: new LevelMeter({ sampleRate }),
            playouts: [],
          };
          this.streams.set(msg.ssrc, stream);
        }
        if (this.arrivals && this.arrivals.length < MAX_RECORDED) {
          const recovered = msg.recovered === true ? 1 : 0;
          this.arrivals.push([
            msg.ssrc,
            msg.rtpTimestamp >>> 0,
            recovered,
            this.nextFrame,
            msg.samples.length,
          ]);
        }
        const lead = stream.buffer.push(msg.rtpTimestamp, msg.samples, msg.recovered === true);
        if (lead !== null && msg.captureMs != null && stream.playouts.length < 256) {
          // The buffer's read position is where the next quantum starts.
          stream.playouts.push({ captureMs: msg.captureMs, frame: this.nextFrame + lead, lead });
        }
        break;
      }
      case "remove":
        this.streams.delete(msg.ssrc);
        break;
      case "port":
        // Frames from a worker, straight to this thread (see the module documentation).
        if (msg.port instanceof MessagePort) {
          this.ports.push(msg.port);
          msg.port.onmessage = (/** @type {MessageEvent} */ event) => this.receive(event.data);
        }
        break;
      case "close":
        this.open = false;
        this.streams.clear();
        for (const port of this.ports) port.close();
        this.ports = [];
        break;
    }
  }

  /**
   * @param {Float32Array[][]} _inputs
   * @param {Float32Array[][]} outputs
   */
  process(_inputs, outputs) {
    if (!this.open) return false;
    const channels = outputs[0];
    const out = channels[0];
    out.fill(0);
    for (const stream of this.streams.values()) {
      const scratch = this.scratch.length === out.length
        ? this.scratch
        : (this.scratch = new Float32Array(out.length));
      stream.buffer.read(scratch);
      stream.meter.add(scratch);
      for (let i = 0; i < out.length; i++) out[i] += scratch[i];
    }
    if (this.streams.size > 1) {
      // Soft limit: linear up to 0.8, then a smooth knee towards 1.
      for (let i = 0; i < out.length; i++) {
        const x = out[i];
        const a = Math.abs(x);
        if (a > 0.8) out[i] = Math.sign(x) * (0.8 + 0.2 * Math.tanh((a - 0.8) / 0.2));
      }
    }
    for (let c = 1; c < channels.length; c++) channels[c].set(out);
    this.output.add(out);
    this.nextFrame = currentFrame + out.length;
    if (++this.quanta % STATS_EVERY_QUANTA === 0) this.report();
    return true;
  }

  report() {
    const streams = [];
    for (const [ssrc, stream] of this.streams) {
      streams.push({
        ssrc,
        ...stream.buffer.stats,
        rms: stream.meter.rms,
        audibleMs: stream.meter.audibleMs,
        playouts: stream.playouts,
      });
      stream.playouts = [];
    }
    this.port.postMessage({
      type: "stats",
      output: {
        rms: this.output.rms,
        audibleMs: this.output.audibleMs,
        samples: this.output.samples,
      },
      streams,
      arrivals: this.arrivals ?? undefined,
    });
    if (this.arrivals) this.arrivals = [];
  }
}

registerProcessor("meet-playback", PlaybackProcessor);
