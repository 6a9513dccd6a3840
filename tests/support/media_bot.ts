/**
 * A media bot for tests: a real control connection (npm:ws) that joins a meeting, sends an
 * Opus-encoded tone and synthetic VP8 frames as RTP, and records what it receives: the
 * decoded mix, and video packets by SSRC.
 *
 * @example
 * ```ts
 * import { waitFor } from "./wait.ts";
 *
 * async function hearsTheMix(server: { wsUrl: string }, meetingId: string) {
 *   const bot = await mediaBot(server, "Ann", meetingId);
 *   bot.startTone(440);
 *   await waitFor(() => bot.mixSamples.length > 48000);
 *   bot.close();
 * }
 * ```
 * @module
 */

import WebSocket from "ws";
import { goertzelPower } from "../../media/mix.ts";
import { createOpusDecoder, createOpusEncoder } from "../../media/opus.ts";
import { isRtcp, parseRtp, writeRtp } from "../../media/rtp.ts";
import { parseRtcp } from "../../media/rtcp.ts";
import { isVp8KeyframeStart, packetizeVp8 } from "../../media/vp8.ts";
import { writeReceivedBytes } from "../../media/delivery_window.ts";
import { RECEIVED_REPORT_MS } from "../../client/control_client.ts";
import {
  captureTimeExtension,
  type MediaSsrcs,
  OPUS_FRAME_SAMPLES,
  PT_OPUS,
  PT_VP8,
} from "../../protocol/media.ts";
import type { JoinReply, ServerMessage } from "../../protocol/control.ts";

const RATE = 48_000;
/** Most tone frames a bot sends at once to catch up after its timer was late. */
const MAX_CATCH_UP = 10;

/** A bot in a meeting. */
export interface MediaBot {
  /** Sends a control request; resolves with its result, rejects with the error message. */
  request(body: Record<string, unknown>): Promise<unknown>;
  /** Control events received (roster, levels, chat...). */
  events: ServerMessage[];
  join: JoinReply;
  /** The bot's session token. */
  token: string;
  ssrcs: MediaSsrcs;
  /** Decoded mix received, as floats. */
  mixSamples: number[];
  /** When each mix packet arrived (performance.now()): the mixer sends right after its tick. */
  mixArrivals: number[];
  /** Video packets received, by SSRC. */
  videoBySsrc: Map<number, number>;
  /** Keyframes received (first packets of), by SSRC. */
  keyframesBySsrc: Map<number, number>;
  /** Every SSRC seen on any received RTP packet. */
  ssrcsSeen: Set<number>;
  /** PLIs received for this bot's video. */
  plis: number;
  /** Binary messages received. */
  packetsReceived: number;
  /** Stops (or resumes) reading from the socket, as a receiver on a choked link would. */
  pauseReading(paused: boolean): void;
  /** Sends the raw bytes as one binary message. */
  sendRaw(bytes: Uint8Array): void;
  /** Starts sending a tone every 20 ms (replaces any running tone). */
  startTone(freq: number, amplitude?: number): void;
  stopTone(): void;
  /** Sends one synthetic VP8 frame (keyframe or delta) as RTP packets. */
  sendVideoFrame(keyframe: boolean, size?: number): void;
  /** Power of a frequency over the last `ms` of the mix. */
  tonePower(freq: number, ms?: number): number;
  close(): void;
}

/**
 * Connects, identifies as `name` and joins `meetingId`. With `reportReceived`, the bot tells
 * the server what it has read, as pages and the terminal client do (a received-bytes report
 * 40 ms after binary messages arrive).
 */
export async function mediaBot(
  server: { wsUrl: string },
  name: string,
  meetingId: string,
  options: { reportReceived?: boolean } = {},
): Promise<MediaBot> {
  const socket = new WebSocket(server.wsUrl);
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  const events: ServerMessage[] = [];
  let nextId = 1;
  const request = (body: Record<string, unknown>) =>
    new Promise<unknown>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      socket.send(JSON.stringify({ ...body, id }));
    });
  let onBinary = (_data: Buffer) => {};
  let closed = false;
  socket.on("message", (data: Buffer, isBinary: boolean) => {
    if (closed) return;
    if (isBinary) return onBinary(data);
    const msg = JSON.parse(String(data)) as ServerMessage;
    if ((msg.type === "reply" || msg.type === "error") && typeof msg.id === "number") {
      const p = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.type === "reply") p?.resolve(msg.result);
      else p?.reject(new Error(`${msg.code}: ${msg.message}`));
    } else {
      events.push(msg);
    }
  });
  await new Promise((resolve, reject) => {
    socket.once("open", resolve);
    socket.once("error", reject);
  });
  const { token } = await request({ type: "identify", name }) as { token: string };
  const join = await request({ type: "join", meetingId }) as JoinReply;
  const ssrcs = join.media;
  const decoder = createOpusDecoder();
  const encoder = createOpusEncoder({ bitrate: 32_000 });
  let toneTimer: ReturnType<typeof setTimeout> | undefined;
  let audioSeq = 0, audioTs = 0, videoSeq = 0, pictureId = 0, phase = 0;
  const bot: MediaBot = {
    request,
    events,
    join,
    token,
    ssrcs,
    mixSamples: [],
    mixArrivals: [],
    videoBySsrc: new Map(),
    keyframesBySsrc: new Map(),
    ssrcsSeen: new Set(),
    plis: 0,
    packetsReceived: 0,
    sendRaw: (bytes) => socket.send(bytes),
    pauseReading(paused) {
      const tcp = (socket as unknown as { _socket: { pause(): void; resume(): void } })._socket;
      if (paused) tcp.pause();
      else tcp.resume();
    },
    startTone(freq, amplitude = 0.3) {
      bot.stopTone();
      const sendFrame = () => {
        const pcm = new Int16Array(OPUS_FRAME_SAMPLES);
        for (let i = 0; i < pcm.length; i++) {
          pcm[i] = Math.round(amplitude * 32767 * Math.sin(phase));
          phase += (2 * Math.PI * freq) / RATE;
        }
        socket.send(writeRtp({
          payloadType: PT_OPUS,
          sequenceNumber: audioSeq++ & 0xffff,
          timestamp: (audioTs += OPUS_FRAME_SAMPLES) >>> 0,
          ssrc: ssrcs.audioSsrc,
          extension: captureTimeExtension(Date.now()),
          payload: encoder.encode(pcm),
        }));
      };
      // Paced by the clock, as a sound card's frames are: frame k leaves at start + 20k ms,
      // each timer set for the next one (so the phase does not drift); a timer that fires
      // late (a busy machine) sends every frame that is due. After a stall of more than
      // MAX_CATCH_UP frames the schedule starts afresh.
      const start = performance.now();
      let sent = 0;
      const pace = () => {
        const due = Math.floor((performance.now() - start) / 20) + 1 - sent;
        if (due > MAX_CATCH_UP) sent += due - MAX_CATCH_UP;
        for (let i = 0; i < Math.min(due, MAX_CATCH_UP); i++, sent++) sendFrame();
        toneTimer = setTimeout(pace, Math.max(0, start + sent * 20 - performance.now()));
      };
      pace();
    },
    stopTone() {
      clearTimeout(toneTimer);
      toneTimer = undefined;
    },
    sendVideoFrame(keyframe, size = 3000) {
      const frame = new Uint8Array(size).fill(0x55);
      frame[0] = keyframe ? 0x10 : 0x11; // VP8 payload header: P bit 0 = keyframe
      const payloads = packetizeVp8(frame, {
        maxPayloadSize: 1100,
        pictureId: pictureId++ & 0x7fff,
      });
      const ts = (Date.now() * 90) >>> 0;
      payloads.forEach((payload, i) => {
        socket.send(writeRtp({
          payloadType: PT_VP8,
          sequenceNumber: videoSeq++ & 0xffff,
          timestamp: ts,
          ssrc: ssrcs.videoSsrc,
          marker: i === payloads.length - 1,
          payload,
        }));
      });
    },
    tonePower(freq, ms = 400) {
      const tail = Float32Array.from(bot.mixSamples.slice(-Math.round((RATE * ms) / 1000)));
      return goertzelPower(tail, RATE, freq);
    },
    close() {
      closed = true;
      clearTimeout(reportTimer);
      bot.stopTone();
      socket.close();
      decoder.close();
      encoder.close();
    },
  };
  let received = 0;
  let reportTimer: ReturnType<typeof setTimeout> | undefined;
  onBinary = (data: Buffer) => {
    bot.packetsReceived++;
    received += data.byteLength;
    if (options.reportReceived) {
      reportTimer ??= setTimeout(() => {
        reportTimer = undefined;
        if (!closed) socket.send(writeReceivedBytes(received));
      }, RECEIVED_REPORT_MS);
    }
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (isRtcp(bytes)) {
      const rtcp = parseRtcp(bytes);
      if (rtcp.ok) {
        for (const p of rtcp.packets) {
          if (p.type === "pli" && p.mediaSsrc === ssrcs.videoSsrc) bot.plis++;
        }
      }
      return;
    }
    const parsed = parseRtp(bytes);
    if (!parsed.ok) return;
    const { packet } = parsed;
    bot.ssrcsSeen.add(packet.ssrc);
    if (packet.payloadType === PT_OPUS && packet.ssrc === ssrcs.mixSsrc) {
      bot.mixArrivals.push(performance.now());
      if (bot.mixArrivals.length > 500) bot.mixArrivals.splice(0, 250);
      for (const s of decoder.decode(packet.payload)) bot.mixSamples.push(s / 32768);
    } else if (packet.payloadType === PT_VP8) {
      bot.videoBySsrc.set(packet.ssrc, (bot.videoBySsrc.get(packet.ssrc) ?? 0) + 1);
      if (isVp8KeyframeStart(packet.payload)) {
        bot.keyframesBySsrc.set(packet.ssrc, (bot.keyframesBySsrc.get(packet.ssrc) ?? 0) + 1);
      }
    }
  };
  return bot;
}
