// Runs in an AudioWorkletGlobalScope (AudioWorkletProcessor, registerProcessor, sampleRate).
/**
 * The "meet-capture" AudioWorklet processor: takes the microphone's render quanta (mixed
 * down to mono), cuts them into 20 ms frames (960 samples at 48 kHz) and posts each frame
 * to the main thread, transferring its buffer: `{samples: Float32Array, time}` where `time` is
 * the context time (s) at the end of the frame. Post "stop" to end it, and `{skip: n}` to
 * leave the next `n` samples out once (crossfaded): later frames then end that much sooner.
 * `{out: MessagePort}` sends the frames to that port from then on instead (the media worker,
 * which encodes them without the main thread).
 *
 * @example
 * ```js
 * await context.audioWorklet.addModule("/worklets/capture.js");
 * const node = new AudioWorkletNode(context, "meet-capture", { numberOfOutputs: 0 });
 * context.createMediaStreamSource(micStream).connect(node);
 * node.port.onmessage = (e) => encode(e.data.samples);
 * ```
 * @module
 */

import { FrameChunker } from "./frame_chunker.js";

class CaptureProcessor extends AudioWorkletProcessor {
  running = true;
  /** @type {FrameChunker} */
  chunker;
  mono = new Float32Array(128);
  /** @type {MessagePort | null} Where frames go instead of the node's port (a worker). */
  out = null;

  /** @param {{ processorOptions?: { frameSize?: number } }} options */
  constructor(options) {
    super();
    this.chunker = new FrameChunker(options.processorOptions?.frameSize ?? 960);
    this.port.onmessage = (event) => {
      if (event.data === "stop") {
        this.running = false;
        this.out?.close();
      } else if (typeof event.data?.skip === "number") this.chunker.skip(event.data.skip);
      else if (event.data?.out instanceof MessagePort) this.out = event.data.out;
    };
  }

  /** @param {Float32Array[][]} inputs */
  process(inputs) {
    if (!this.running) return false;
    const channels = inputs[0];
    if (!channels || channels.length === 0) return true; // no source connected (yet)
    let mono = channels[0];
    if (channels.length > 1) {
      if (this.mono.length !== mono.length) this.mono = new Float32Array(mono.length);
      this.mono.fill(0);
      for (const channel of channels) {
        for (let i = 0; i < channel.length; i++) this.mono[i] += channel[i] / channels.length;
      }
      mono = this.mono;
    }
    const end = currentTime + mono.length / sampleRate;
    for (const frame of this.chunker.push(mono)) {
      (this.out ?? this.port).postMessage({ samples: frame, time: end }, [frame.buffer]);
    }
    return true;
  }
}

registerProcessor("meet-capture", CaptureProcessor);
