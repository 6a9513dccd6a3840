/**
 * The Mixer mixes one meeting's audio. Every 20 ms tick it takes one frame per participant
 * from that participant's jitter buffer, decodes it (Opus, with loss concealment), picks the
 * few loudest active speakers, and sends every listener the mix without their own voice:
 *
 * - a selected speaker gets `total - own`, encoded for them alone;
 * - everyone else hears the same mix (`total`), encoded ONCE and shared.
 *
 * So the cost is one decode per participant plus `maxSpeakers + 1` encodes, whatever the
 * size of the meeting. A soft limiter keeps the sum within full scale (no integer wrap).
 * A sender whose frames keep arriving earlier than the tick needs them is told by how much
 * (`onEarly`), so that it can cut that wait at the source.
 *
 * Pure: codecs are injected, packets are handed to sinks, time is passed to `tick()`.
 *
 * @example
 * ```ts
 * import {
 *   createOpusDecoder as createDecoder,
 *   createOpusEncoder as createEncoder,
 * } from "./opus.ts";
 * import type { RtpPacket } from "./rtp.ts";
 *
 * function startMixing(ws: WebSocket, rtpPacket: RtpPacket) {
 *   const mixer = new Mixer({ mixSsrc: 0xabc, createEncoder, createDecoder });
 *   mixer.addParticipant("ann", (packet) => ws.send(packet));
 *   mixer.push("ann", rtpPacket, performance.now());   // as Ann's audio arrives
 *   setInterval(() => mixer.tick(performance.now()), 20);
 * }
 * ```
 * @module
 */

import { writeRedPayload } from "./red.ts";
import {
  captureTimeExtension,
  OPUS_FRAME_SAMPLES,
  PT_OPUS,
  PT_RED,
  readAudioLevel,
  readCaptureTime,
} from "../protocol/media.ts";
import {
  JitterBuffer,
  type JitterBufferOptions,
  type JitterBufferOutput,
} from "./jitter_buffer.ts";
import {
  floatToInt16,
  frameLevel,
  int16ToFloat,
  MIN_LEVEL_DB,
  mixMinus,
  softLimit,
  SpeakerSelector,
  sumFrames,
} from "./mix.ts";
import { type OpusDecoder, type OpusEncoder, opusPacketSamples } from "./opus.ts";
import { type RtpHeaderExtension, type RtpPacket, writeRtp } from "./rtp.ts";

/** Options of a {@linkcode Mixer}. */
export interface MixerOptions {
  /** SSRC of the mixed stream sent to listeners. */
  mixSsrc: number;
  createEncoder(): OpusEncoder;
  createDecoder(): OpusDecoder;
  /** How many of the loudest active speakers are mixed (default 3). */
  maxSpeakers?: number;
  /**
   * Each participant's jitter buffer (default {@linkcode MIXER_JITTER_BUFFER}: it adapts to
   * how early that participant's frames arrive before the tick).
   */
  jitterBuffer?: JitterBufferOptions;
  /**
   * Called when a participant's frames have reached the mixer steadily earlier than it needs
   * them (by `earlyMs`, beyond its jitter buffer's guard, for {@linkcode TRIM_ADVICE}'s
   * `windows`): a sender that drops that much of its input once is heard that much sooner.
   */
  onEarly?(id: string, earlyMs: number): void;
}

/**
 * When the mixer advises a sender to trim its input ({@linkcode MixerOptions.onEarly}): after
 * `windows` jitter-buffer windows in a row (0.5 s each) in which every frame was at least
 * `minMs` early, it advises the least of them less `marginMs`, at most once per `everyMs`.
 *
 * @example
 * ```ts
 * import { TRIM_ADVICE } from "./mixer.ts";
 * console.log(`advice after ${TRIM_ADVICE.windows * 0.5} s of early frames`);
 * ```
 */
export const TRIM_ADVICE: Readonly<
  { windows: number; minMs: number; marginMs: number; maxMs: number; everyMs: number }
> = { windows: 4, minMs: 3, marginMs: 1, maxMs: 18, everyMs: 5000 };

/**
 * Departed listeners whose mix stream position is remembered (a seat that is between two
 * transports); the oldest is forgotten first.
 */
const MAX_DEPARTED_STREAMS = 1024;

/**
 * The mixer's jitter buffer by default: it starts at one frame and plays each frame on the
 * first tick that leaves 4 ms (or 1.5 x the measured jitter) of margin, so a frame waits on
 * average about half a tick; a frame that misses its tick is concealed and the buffer
 * deepens by one frame, up to 100 ms.
 *
 * @example
 * ```ts
 * import { MIXER_JITTER_BUFFER } from "./mixer.ts";
 * const fixed40 = { ...MIXER_JITTER_BUFFER, minMs: 40, maxMs: 40 }; // for comparison
 * ```
 */
export const MIXER_JITTER_BUFFER: Readonly<JitterBufferOptions> = {
  minMs: 20,
  maxMs: 100,
  guardMs: 4,
};

/**
 * One entry of a mixer's recording ({@linkcode Mixer.record}): a packet handed to a voice's
 * jitter buffer (its sender, sequence number, RTP timestamp, arrival, whether it is a RED copy),
 * or a tick.
 *
 * @example
 * ```ts
 * const entries: MixerRecordEntry[] = [["push", "ann", 7, 6720, 1000.5, false], ["tick", 1004]];
 * ```
 */
export type MixerRecordEntry =
  | ["push", id: string, seq: number, timestamp: number, arrivalMs: number, redundant: boolean]
  | ["tick", nowMs: number];

/** A stream is a challenger worth decoding from this level (the selector's active level). */
const ACTIVE_LEVEL_DB = -50;
/** Skipped frames decoded before a stream is mixed again, to bring its decoder up to date. */
const WARMUP_FRAMES = 2;
/** Shared mixes an encoder that sat out encodes before it is used again. */
const WARM_FRAMES = 2;
/** Ticks a speaker who stops stays on its own encoder, fed the shared mix. */
const HANGOVER_TICKS = 2;

/** Level of one participant in the last tick. */
export interface MixerLevel {
  id: string;
  /** dBFS of this tick's frame (MIN_LEVEL_DB when nothing was heard). */
  level: number;
  /** Whether the participant is mixed now. */
  speaking: boolean;
}

/** Counters of the mixer. */
export interface MixerStats {
  ticks: number;
  /** Opus decodes (frames and concealments). */
  decodes: number;
  /**
   * Frames not decoded: their sender's level (RFC 6464) said they could not be mixed this
   * tick (they were neither speaking nor among the loudest challengers).
   */
  skipped: number;
  /** Frames decoded only to bring a skipped stream's decoder up to date before it is mixed. */
  warmups: number;
  /** Mixes encoded only to bring an encoder that sat out up to date (output dropped). */
  encoderWarmups: number;
  /** Opus encodes; shared mixes count once. */
  encodes: number;
  /** Mixed packets sent, one per listener per tick. */
  sentPackets: number;
  sentBytes: number;
  /** Packets pushed that arrived too late to be mixed. */
  late: number;
  /**
   * Frames of a voice the mixer concealed (Opus loss concealment) because they were lost or late
   * at their tick: every listener hears it, on top of what their own playout conceals. A sender
   * that stops (a microphone turned off) adds the few frames that fade it out.
   */
  concealed: number;
  /**
   * Frames not decoded because they are not one 20 ms Opus packet (see
   * {@linkcode opusPacketSamples}): they would not be mixed, and a 120 ms packet costs up to
   * six decodes of the mixer's 20 ms budget.
   */
  notTwentyMs: number;
}

interface Input {
  id: string;
  sink: (packet: Uint8Array) => void;
  buffer: JitterBuffer;
  decoder: OpusDecoder;
  /** Personal encoder, made the first time this participant is a selected speaker. */
  encoder: OpusEncoder | undefined;
  /** The tick its personal encoder last encoded. */
  encodedAt: number;
  /** Ticks it stays on its personal encoder, fed the shared mix, after it stops speaking. */
  hangover: number;
  /** Capture time by RTP timestamp, for frames still in the buffer. */
  captureTimes: Map<number, number>;
  /** The sender's level of each frame (RFC 6464, dBFS) by RTP timestamp, while buffered. */
  levelHints: Map<number, number>;
  /** This tick's output of the jitter buffer, before it is decoded (or not). */
  out: JitterBufferOutput | null;
  /** The sender's level of this tick's frame, or null when it gave none. */
  hint: number | null;
  /** The last frames left undecoded, decoded first when the stream is mixed again. */
  skippedPayloads: Uint8Array[];
  /** This tick's frame is not decoded (unless the selection picks it after all). */
  skipped: boolean;
  /** Outgoing RTP state of this listener's mix stream. */
  seq: number;
  timestamp: number;
  /** Whether this listener's packets carry the previous frame again (RED), asked each packet. */
  redundant: () => boolean;
  /** The last frame sent to this listener, for RED. */
  previous: { payload: Uint8Array; timestamp: number; seq: number } | null;
  /** This tick's decoded frame (in `samples`), or null if nothing was heard. */
  frame: Float32Array | null;
  /** The buffer each tick's frame is decoded into. */
  samples: Float32Array;
  frameCapture: number | null;
  /** Trim advice: jitter-buffer windows seen, the run of early ones, its least, last advice. */
  windowsSeen: number;
  earlyRun: number;
  earlyLeast: number;
  advisedAt: number;
}

/** Audio mixing for one meeting. */
export class Mixer {
  #inputs = new Map<string, Input>();
  #options: Required<Pick<MixerOptions, "maxSpeakers" | "jitterBuffer">> & MixerOptions;
  #selector: SpeakerSelector<string>;
  #sharedEncoder: OpusEncoder | undefined;
  /** The tick the shared encoder last encoded. */
  #sharedAt = -Infinity;
  /** The shared mix of the last ticks (what non-speakers heard), to warm an encoder with. */
  #recentTotals: Float32Array[] = [];
  /** Buffers of mixes that fell out of #recentTotals, reused: no allocation per tick. */
  #spareTotals: Float32Array[] = [];
  #total = new Float32Array(OPUS_FRAME_SAMPLES);
  #scratch = new Float32Array(OPUS_FRAME_SAMPLES);
  #limited = new Float32Array(OPUS_FRAME_SAMPLES);
  #pcm = new Int16Array(OPUS_FRAME_SAMPLES);
  #closed = false;
  #heardLastTick = false;
  /** The full mix's one extra listener (a recording), and its encoder. */
  #tap: { sink: (frame: Uint8Array | null) => void; encoder: OpusEncoder } | undefined;
  readonly stats: MixerStats = {
    ticks: 0,
    decodes: 0,
    skipped: 0,
    warmups: 0,
    encoderWarmups: 0,
    encodes: 0,
    sentPackets: 0,
    sentBytes: 0,
    late: 0,
    concealed: 0,
    notTwentyMs: 0,
  };

  /** Where departed listeners' mix streams stopped, to continue them if they come back. */
  #departed = new Map<string, { seq: number; timestamp: number }>();
  #recording: { entries: MixerRecordEntry[]; limit: number } | null = null;

  /**
   * Starts keeping what reaches the jitter buffers and when the ticks come (at most `limit`
   * entries, about 20 minutes of three voices by default), for an offline replay with other
   * settings (tests/network/mixer_replay.ts).
   */
  record(limit = 200_000): void {
    this.#recording = { entries: [], limit: Math.max(0, Math.min(limit, 2_000_000)) };
  }

  /** What was kept since `record()`, and stops keeping it. */
  takeRecording(): MixerRecordEntry[] {
    const entries = this.#recording?.entries ?? [];
    this.#recording = null;
    return entries;
  }

  #keep(entry: MixerRecordEntry): void {
    const r = this.#recording;
    if (r && r.entries.length < r.limit) r.entries.push(entry);
  }

  constructor(options: MixerOptions) {
    this.#options = { maxSpeakers: 3, jitterBuffer: MIXER_JITTER_BUFFER, ...options };
    this.#selector = new SpeakerSelector({ maxSpeakers: this.#options.maxSpeakers });
  }

  /**
   * Adds a participant: a speaker (when it sends) and a listener (receives the mix). With
   * `redundant` answering true, its mix packets carry the previous frame again (RED, RFC 2198:
   * for a listener whose packets can be lost).
   */
  addParticipant(
    id: string,
    sink: (packet: Uint8Array) => void,
    options: { redundant?: () => boolean } = {},
  ): void {
    if (this.#closed) return;
    this.removeParticipant(id);
    // A listener that comes back (its transport went and another came) continues its mix
    // stream where it left off, as after a silence: a new random sequence number and timestamp
    // on the same SSRC looked like stale packets to its page, which then played nothing.
    const random = crypto.getRandomValues(new Uint32Array(2));
    const resumed = this.#departed.get(id);
    this.#departed.delete(id);
    this.#inputs.set(id, {
      id,
      sink,
      buffer: new JitterBuffer(this.#options.jitterBuffer),
      decoder: this.#options.createDecoder(),
      encoder: undefined,
      captureTimes: new Map(),
      encodedAt: -Infinity,
      hangover: 0,
      levelHints: new Map(),
      out: null,
      hint: null,
      skippedPayloads: [],
      skipped: false,
      seq: resumed?.seq ?? random[0] & 0xffff,
      timestamp: resumed?.timestamp ?? random[1],
      redundant: options.redundant ?? (() => false),
      previous: null,
      frame: null,
      samples: new Float32Array(OPUS_FRAME_SAMPLES),
      frameCapture: null,
      windowsSeen: 0,
      earlyRun: 0,
      earlyLeast: Infinity,
      advisedAt: -Infinity,
    });
  }

  /** Removes a participant and frees its codecs. */
  removeParticipant(id: string): void {
    const input = this.#inputs.get(id);
    if (!input) return;
    input.decoder.close();
    input.encoder?.close();
    this.#inputs.delete(id);
    this.#departed.set(id, { seq: input.seq, timestamp: input.timestamp });
    if (this.#departed.size > MAX_DEPARTED_STREAMS) {
      this.#departed.delete(this.#departed.keys().next().value!);
    }
  }

  /**
   * Hands `sink` the meeting's full mix (every selected speaker, nobody's own voice left
   * out) as one Opus frame every tick, or null on a tick where nothing was heard; with
   * one participant too. Encoded once a tick with an encoder of its own (the listeners'
   * streams are untouched). `null` removes it.
   *
   * @example
   * ```ts ignore
   * mixer.setTap((frame) => frames.push(frame)); // a recording
   * ```
   */
  setTap(sink: ((frame: Uint8Array | null) => void) | null): void {
    this.#tap?.encoder.close();
    this.#tap = sink && !this.#closed
      ? { sink, encoder: this.#options.createEncoder() }
      : undefined;
  }

  /** Number of participants. */
  /**
   * Where a listener's mix stream stands: the RTP timestamp of its next packet (what a sender
   * report pairs with the wall clock). Undefined for someone who is not a listener.
   */
  listenerTimestamp(id: string): number | undefined {
    return this.#inputs.get(id)?.timestamp;
  }

  get size(): number {
    return this.#inputs.size;
  }

  /**
   * Takes one Opus packet from a participant (`redundant`: a copy carried by RED, taken only
   * when its frame is missing). The payload is copied.
   */
  push(id: string, packet: RtpPacket, arrivalMs: number, redundant = false): void {
    const input = this.#inputs.get(id);
    if (!input || this.#closed) return;
    if (this.#recording) {
      this.#keep(["push", id, packet.sequenceNumber, packet.timestamp, arrivalMs, redundant]);
    }
    // A redundant copy (RED) of a frame the buffer has, or has played, is not news.
    if (redundant && !input.buffer.wants(packet.sequenceNumber)) return;
    const result = input.buffer.push(
      packet.sequenceNumber,
      packet.timestamp,
      packet.payload.slice(),
      arrivalMs,
    );
    if (result === "late") {
      this.stats.late++;
      return;
    }
    // A redundant copy's level is not known (the extension is the primary frame's).
    const level = redundant ? null : readAudioLevel(packet.extension);
    if (level !== null) {
      input.levelHints.set(packet.timestamp, level);
      if (input.levelHints.size > 64) {
        input.levelHints.delete(input.levelHints.keys().next().value!);
      }
    }
    const capture = readCaptureTime(packet.extension);
    if (capture !== null) {
      input.captureTimes.set(packet.timestamp, capture);
      if (input.captureTimes.size > 64) {
        input.captureTimes.delete(input.captureTimes.keys().next().value!);
      }
    }
  }

  /** Mixes and sends one 20 ms frame to every listener; returns this tick's levels. */
  tick(nowMs: number): MixerLevel[] {
    if (this.#closed) return [];
    this.stats.ticks++;
    if (this.#recording) this.#keep(["tick", nowMs]);
    for (const input of this.#inputs.values()) {
      this.#popNext(input, nowMs);
      this.#adviseTrim(input, nowMs);
    }
    // Decoded: the streams that say no level, the speakers mixed now, and the loudest active
    // challengers by the level their senders put in each packet (RFC 6464); the others are
    // silent or quieter than anyone who could be mixed, and are not decoded at all.
    const speaking = new Set(this.#selector.selected);
    const challengers = [...this.#inputs.values()]
      .filter((i) => i.hint !== null && !speaking.has(i.id) && i.hint >= ACTIVE_LEVEL_DB)
      .sort((a, b) => b.hint! - a.hint!)
      .slice(0, this.#options.maxSpeakers);
    for (const input of this.#inputs.values()) {
      if (input.hint === null || speaking.has(input.id) || challengers.includes(input)) {
        this.#decode(input);
      } else this.#skip(input);
    }
    const levels: [string, number][] = [];
    for (const input of this.#inputs.values()) {
      levels.push([
        input.id,
        input.hint ?? (input.frame ? frameLevel(input.frame) : MIN_LEVEL_DB),
      ]);
    }
    const selected = new Set(this.#selector.update(levels, nowMs));
    const speakers: Input[] = [];
    for (const id of selected) {
      const input = this.#inputs.get(id);
      if (input?.skipped) {
        // Chosen though it was not a likely one: decoded after all.
        input.skipped = false;
        this.stats.skipped--;
        this.#decode(input);
      }
      if (input?.frame) speakers.push(input);
    }
    for (const input of this.#inputs.values()) if (input.skipped) this.#keepSkipped(input);
    // Nothing heard (everyone muted, or the peers of a P2P meeting sending directly): after
    // one frame of silence that ends the stream cleanly, no packets at all.
    const heard = [...this.#inputs.values()].some((input) => input.frame !== null);
    if (this.#inputs.size >= 2 && (heard || this.#heardLastTick)) this.#sendMixes(speakers);
    this.#heardLastTick = heard;
    if (this.#tap) {
      const tap = this.#tap;
      if (speakers.length === 0) tap.sink(null);
      else {
        sumFrames(speakers.map((s) => s.frame!), this.#scratch);
        tap.sink(this.#encode(tap.encoder, this.#scratch));
      }
    }
    return levels.map(([id, level]) => ({ id, level, speaking: selected.has(id) }));
  }

  /** Frees every codec; the mixer does nothing more. */
  close(): void {
    this.#closed = true;
    this.setTap(null);
    for (const id of [...this.#inputs.keys()]) this.removeParticipant(id);
    this.#sharedEncoder?.close();
    this.#sharedEncoder = undefined;
  }

  /** Takes this tick's frame (or gap) from the input's jitter buffer, with its level hint. */
  #popNext(input: Input, nowMs: number): void {
    input.frame = null;
    input.frameCapture = null;
    input.out = input.buffer.pop(nowMs);
    if (input.out?.kind === "frame") {
      input.hint = input.levelHints.get(input.out.rtpTimestamp) ?? null;
      input.levelHints.delete(input.out.rtpTimestamp);
    } else if (input.out === null) {
      input.hint = null;
    } // a lost frame: the level of the frame before it
  }

  /** Leaves this tick's frame undecoded, unless the selection picks the stream after all. */
  #skip(input: Input): void {
    if (input.out?.kind !== "frame") {
      input.out = null; // a lost frame of a quiet stream: no concealment either
      return;
    }
    input.skipped = true;
    this.stats.skipped++;
  }

  /** A frame left undecoded: kept, to bring the decoder up to date when it is mixed again. */
  #keepSkipped(input: Input): void {
    const out = input.out;
    input.out = null;
    input.skipped = false;
    if (out?.kind !== "frame") return;
    input.captureTimes.delete(out.rtpTimestamp);
    input.skippedPayloads.push(out.payload);
    if (input.skippedPayloads.length > WARMUP_FRAMES) input.skippedPayloads.shift();
  }

  #decode(input: Input): void {
    const out = input.out;
    input.out = null;
    if (out === null) return;
    // Frames it skipped: decoded first (output dropped), so that this frame does not come
    // out of a decoder whose state is some frames old.
    for (const payload of input.skippedPayloads.splice(0)) {
      if (opusPacketSamples(payload) !== OPUS_FRAME_SAMPLES) continue;
      input.decoder.decodeView(payload);
      this.stats.decodes++;
      this.stats.warmups++;
    }
    let pcm: Int16Array; // a view, valid until the next decode: converted to float below
    if (out.kind === "frame") {
      const capture = input.captureTimes.get(out.rtpTimestamp) ?? null;
      input.captureTimes.delete(out.rtpTimestamp);
      if (opusPacketSamples(out.payload) !== OPUS_FRAME_SAMPLES) {
        // Not a 20 ms frame: it would not be mixed, so it is not decoded either (a sender
        // of 120 ms packets would make each tick cost it six decodes).
        this.stats.notTwentyMs++;
        return;
      }
      pcm = input.decoder.decodeView(out.payload);
      input.frameCapture = capture;
    } else {
      pcm = input.decoder.decodeView(null); // Opus loss concealment
      this.stats.concealed++;
    }
    this.stats.decodes++;
    if (pcm.length !== OPUS_FRAME_SAMPLES) return; // not a 20 ms mono frame: not mixed
    input.frame = int16ToFloat(pcm, input.samples);
  }

  /** After each jitter-buffer window: advises a sender whose frames keep coming early. */
  #adviseTrim(input: Input, nowMs: number): void {
    const { windows } = input.buffer;
    if (windows === input.windowsSeen || !this.#options.onEarly) return;
    input.windowsSeen = windows;
    const early = input.buffer.earlyMs;
    if (early === null || early < TRIM_ADVICE.minMs) {
      input.earlyRun = 0;
      input.earlyLeast = Infinity;
      return;
    }
    input.earlyRun++;
    input.earlyLeast = Math.min(input.earlyLeast, early);
    if (input.earlyRun < TRIM_ADVICE.windows || nowMs - input.advisedAt < TRIM_ADVICE.everyMs) {
      return;
    }
    const trim = Math.min(TRIM_ADVICE.maxMs, input.earlyLeast - TRIM_ADVICE.marginMs);
    input.earlyRun = 0;
    input.earlyLeast = Infinity;
    input.advisedAt = nowMs;
    this.#options.onEarly(input.id, Math.round(trim * 10) / 10);
  }

  /**
   * Encodes and sends this tick's mixes. A listener moves between the shared encoding and its
   * own without a click: an encoder that sat out the last tick first encodes the shared mix of
   * the last ticks (output dropped), so its history is the one the listener's decoder has; and
   * a speaker who stops stays on its own encoder, fed the shared mix, for a few ticks before it
   * moves to the shared one, whose history is then the same. (Moving cold made the frames at a
   * switch about 15 times as rough as the rest, measured on a tone.)
   */
  #sendMixes(speakers: Input[]): void {
    const tick = this.stats.ticks;
    sumFrames(speakers.map((s) => s.frame!), this.#total);
    const sharedExtension = oldestCapture(speakers);
    let shared: Uint8Array | undefined;
    for (const listener of this.#inputs.values()) {
      let payload: Uint8Array;
      let extension: RtpHeaderExtension | undefined;
      const speaking = speakers.includes(listener);
      if (speaking || (listener.hangover > 0 && listener.encoder)) {
        listener.encoder ??= this.#options.createEncoder();
        this.#warm(listener.encoder, listener.encodedAt, tick);
        listener.encodedAt = tick;
        if (speaking) {
          listener.hangover = HANGOVER_TICKS;
          mixMinus(this.#total, listener.frame!, this.#scratch);
          payload = this.#encode(listener.encoder, this.#scratch);
          extension = oldestCapture(speakers, listener);
        } else {
          listener.hangover--;
          payload = this.#encode(listener.encoder, this.#total);
          extension = sharedExtension;
        }
      } else {
        this.#sharedEncoder ??= this.#options.createEncoder();
        if (!shared) {
          this.#warm(this.#sharedEncoder, this.#sharedAt, tick);
          this.#sharedAt = tick;
          shared = this.#encode(this.#sharedEncoder, this.#total);
        }
        payload = shared;
        extension = sharedExtension;
      }
      const previous = listener.previous;
      const red = listener.redundant();
      const packet = writeRtp({
        payloadType: red ? PT_RED : PT_OPUS,
        sequenceNumber: listener.seq,
        timestamp: listener.timestamp,
        ssrc: this.#options.mixSsrc,
        extension,
        payload: red
          ? writeRedPayload(
            PT_OPUS,
            payload,
            previous && previous.seq === ((listener.seq - 1) & 0xffff)
              ? {
                payload: previous.payload,
                timestampOffset: (listener.timestamp - previous.timestamp) >>> 0,
              }
              : undefined,
          )
          : payload,
      });
      listener.previous = { payload, timestamp: listener.timestamp, seq: listener.seq };
      listener.seq = (listener.seq + 1) & 0xffff;
      listener.timestamp = (listener.timestamp + OPUS_FRAME_SAMPLES) >>> 0;
      listener.sink(packet);
      this.stats.sentPackets++;
      this.stats.sentBytes += packet.length;
    }
    const kept = this.#spareTotals.pop() ?? new Float32Array(OPUS_FRAME_SAMPLES);
    kept.set(this.#total);
    this.#recentTotals.push(kept);
    if (this.#recentTotals.length > WARM_FRAMES) {
      this.#spareTotals.push(this.#recentTotals.shift()!);
    }
  }

  /**
   * Brings an encoder that did not encode last tick up to date: it encodes the shared mix of
   * the last ticks (what the listener's decoder was fed), output dropped.
   */
  #warm(encoder: OpusEncoder, encodedAt: number, tick: number): void {
    if (encodedAt === tick - 1) return;
    for (const total of this.#recentTotals) {
      this.#encode(encoder, total);
      this.stats.encoderWarmups++;
    }
  }

  #encode(encoder: OpusEncoder, mix: Float32Array): Uint8Array {
    this.stats.encodes++;
    return encoder.encode(floatToInt16(softLimit(mix, undefined, this.#limited), this.#pcm));
  }
}

/**
 * The capture-time extension of a mix: the oldest capture among the frames in it (a speaker's
 * own frame is not in their mix), or undefined when none carried one.
 */
function oldestCapture(speakers: Input[], except?: Input): RtpHeaderExtension | undefined {
  let oldest = Infinity;
  for (const s of speakers) {
    if (s !== except && s.frameCapture !== null) oldest = Math.min(oldest, s.frameCapture);
  }
  return oldest < Infinity ? captureTimeExtension(oldest) : undefined;
}
