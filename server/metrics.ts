/**
 * `GET /metrics` in the Prometheus text format, through prom-client (npm; the client most
 * Node services use, maintained, and it runs on Deno's Node layer): every figure is read
 * from the live state when scraped, nothing is counted twice on the media path.
 *
 * - Meetings and participants (by transport and by mode), waiting, recordings running.
 * - Media packets and bytes received and forwarded (by kind), dropped (by reason), resent,
 *   NACKs and keyframe requests, REMBs sent: sums over every meeting so far (the hub keeps
 *   closed meetings' counts).
 * - Mixer decodes, skipped decodes, encodes; the media clock's lateness and tick time
 *   (histograms); receivers' reported loss and the bytes queued, by transport.
 * - Refusals: rate limits, bad origins, bad hosts, the HTTP edge's.
 * - The process: CPU, RSS, heap, event-loop lag (prom-client's default collectors).
 *
 * Off unless the server has a metrics token (`--metrics-token-file`); then only that token,
 * as `Authorization: Bearer`, reads it.
 *
 * @example
 * ```ts
 * import type { Hub, MediaTotals } from "./hub.ts";
 *
 * async function scrape(hub: Hub) {
 *   const metrics = new Metrics(hub, () => ({ badHost: 0 }));
 *   console.log(await metrics.text());
 *   metrics.close();
 * }
 * ```
 * @module
 */

import client from "prom-client";
import type { Hub, MediaTotals } from "./hub.ts";
import type { CodecTiming } from "./codec_timing.ts";
import type { MediaTransport } from "./media_transport.ts";
import type { Room } from "./room.ts";

/** The content type of the exposition format. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** The server's metrics (see the module documentation). */
export class Metrics {
  readonly #registry = new client.Registry();
  #hub: Hub;
  /** The media totals of the scrape under way. */
  #totals: MediaTotals | undefined;
  #codecTiming: CodecTiming | undefined;

  /**
   * @param edge the server's refusal counters, read at each scrape
   * @param codecTiming the mixers' sampled codec times, when the server wrapped its codecs
   */
  constructor(hub: Hub, edge: () => Record<string, number>, codecTiming?: CodecTiming) {
    this.#codecTiming = codecTiming;
    this.#hub = hub;
    const registers = [this.#registry];
    client.collectDefaultMetrics({ register: this.#registry, prefix: "meet_" });
    const gauge = (
      name: string,
      help: string,
      labelNames: string[],
      collect: (set: (labels: Record<string, string>, value: number) => void) => void,
    ) =>
      new client.Gauge({
        name,
        help,
        labelNames,
        registers,
        collect() {
          this.reset();
          collect((labels, value) => this.set(labels, value));
        },
      });
    // Counters read from totals the server keeps: exposed as counters (they only grow).
    const counter = (
      name: string,
      help: string,
      labelNames: string[],
      collect: (set: (labels: Record<string, string>, value: number) => void) => void,
    ) =>
      new client.Counter({
        name,
        help,
        labelNames,
        registers,
        collect() {
          this.reset();
          collect((labels, value) => this.inc(labels, value));
        },
      });

    gauge("meet_meetings", "Live meetings.", [], (set) => set({}, hub.registry.size));
    gauge("meet_participants", "Participants in live meetings.", ["transport", "mode"], (set) => {
      const counts = new Map<string, number>();
      for (const room of hub.rooms()) {
        for (const p of room.roster()) {
          const key = `${p.transport ?? "none"}\u0000${room.meeting.mode}`;
          counts.set(key, (counts.get(key) ?? 0) + 1);
        }
      }
      for (const [key, n] of counts) {
        const [transport, mode] = key.split("\u0000");
        set({ transport, mode }, n);
      }
    });
    gauge("meet_waiting", "People in waiting rooms.", [], (set) => {
      let n = 0;
      for (const room of hub.rooms()) n += room.meeting.waiting.length;
      set({}, n);
    });
    gauge("meet_recordings_running", "Recordings running.", [], (set) => {
      let n = 0;
      for (const room of hub.rooms()) if (room.meeting.recording) n++;
      set({}, n);
    });
    gauge(
      "meet_draining",
      "1 while the server takes no new meetings.",
      [],
      (set) => set({}, hub.draining ? 1 : 0),
    );
    gauge(
      "meet_cluster_remote_meetings",
      "Live meetings of the other nodes of the cluster (--redis) this node lists; 0 alone.",
      [],
      (set) => set({}, hub.cluster?.directory.size ?? 0),
    );

    // The media totals are summed once per scrape (in text()), not once per metric.
    const totals = () => this.#totals ?? hub.mediaTotals();
    const scalars: [string, string, (t: MediaTotals) => number | undefined][] = [
      [
        "meet_media_received_packets_total",
        "Media packets received.",
        (t) => t.counters.received?.packets,
      ],
      [
        "meet_media_received_bytes_total",
        "Media bytes received.",
        (t) => t.counters.received?.bytes,
      ],
      [
        "meet_media_resent_packets_total",
        "Video packets resent on receivers' NACKs.",
        (t) => t.counters.resent,
      ],
      ["meet_media_nacks_sent_total", "NACKs sent to senders.", (t) => t.counters.nacksSent],
      [
        "meet_media_keyframe_requests_total",
        "Keyframe requests sent to senders.",
        (t) => t.counters.keyframeRequests,
      ],
      [
        "meet_media_video_frames_left_out_total",
        "Video frames left out for strained receivers (upper temporal layers).",
        (t) => t.counters.framesLeftOut,
      ],
      [
        "meet_media_link_full_readings_total",
        "Readings of what a receiver's link carries, taken while its WebSocket backed up.",
        (t) => t.counters.linkFullReadings,
      ],
      ["meet_media_rate_advice_total", "REMBs sent to senders.", (t) => t.counters.rateAdvice],
      ["meet_mixer_ticks_total", "Mixer ticks.", (t) => t.mixer.ticks],
      ["meet_mixer_decodes_total", "Opus decodes by the mixers.", (t) => t.mixer.decodes],
      [
        "meet_mixer_skipped_decodes_total",
        "Frames not decoded: their senders' levels said they could not be mixed.",
        (t) => t.mixer.skipped,
      ],
      ["meet_mixer_encodes_total", "Opus encodes by the mixers.", (t) => t.mixer.encodes],
      [
        "meet_mixer_concealed_frames_total",
        "Voices' frames the mixers concealed: lost or late at their tick.",
        (t) => t.mixer.concealed,
      ],
    ];
    for (const [name, help, pick] of scalars) {
      counter(name, help, [], (set) => set({}, pick(totals()) ?? 0));
    }
    for (const field of ["packets", "bytes"] as const) {
      counter(
        `meet_media_forwarded_${field}_total`,
        `Media ${field} sent, by kind.`,
        ["kind"],
        (set) => {
          const f = totals().counters.forwarded ?? {};
          for (const kind of ["video", "audio", "rtcp"] as const) {
            set({ kind }, f[kind]?.[field] ?? 0);
          }
        },
      );
    }
    counter(
      "meet_media_dropped_packets_total",
      "Media packets dropped, by reason.",
      ["reason"],
      (set) => {
        for (const [reason, n] of Object.entries(totals().counters.dropped ?? {})) {
          set({ reason }, n as number);
        }
      },
    );

    gauge(
      "meet_transport_queued_bytes",
      "Bytes queued on media transports.",
      ["transport"],
      (set) => {
        const queued = new Map<string, number>();
        for (const { transport: t } of seats(hub)) {
          queued.set(t.kind, (queued.get(t.kind) ?? 0) + t.queuedBytes());
        }
        for (const [transport, bytes] of queued) set({ transport }, bytes);
      },
    );
    gauge(
      "meet_transport_reported_loss_ratio",
      "Loss the receivers on each transport last reported (RTCP receiver reports), mean.",
      ["transport"],
      (set) => {
        const sums = new Map<string, { sum: number; n: number }>();
        for (const { room, id, transport: t } of seats(hub)) {
          for (const report of room.media.receptionOf(id).values()) {
            const s = sums.get(t.kind) ?? { sum: 0, n: 0 };
            s.sum += report.fractionLost / 256;
            s.n++;
            sums.set(t.kind, s);
          }
        }
        for (const [transport, { sum, n }] of sums) set({ transport }, n ? sum / n : 0);
      },
    );
    gauge(
      "meet_transport_round_trip_seconds",
      "Round trip to the participants on each transport (their last RTCP report on the mix), mean and most.",
      ["transport", "stat"],
      (set) => {
        const trips = new Map<string, number[]>();
        for (const { room, id, transport: t } of seats(hub)) {
          const rtt = room.media.roundTripOf(id);
          if (rtt === undefined) continue;
          const list = trips.get(t.kind) ?? [];
          list.push(rtt / 1000);
          trips.set(t.kind, list);
        }
        for (const [transport, list] of trips) {
          set({ transport, stat: "mean" }, list.reduce((a, b) => a + b, 0) / list.length);
          set({ transport, stat: "max" }, Math.max(...list));
        }
      },
    );

    const lateness = new client.Histogram({
      name: "meet_media_tick_lateness_seconds",
      help: "How late each 20 ms media tick began against its ideal time.",
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25],
      registers,
    });
    const duration = new client.Histogram({
      name: "meet_media_tick_seconds",
      help: "How long each media tick took (input, every mixer and router).",
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05],
      registers,
    });
    if (codecTiming) {
      const buckets = [0.000025, 0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005];
      const encode = new client.Histogram({
        name: "meet_mixer_encode_seconds",
        help: "Time of one Opus encode of a mix (one call in eight, sampled).",
        buckets,
        registers,
      });
      const decode = new client.Histogram({
        name: "meet_mixer_decode_seconds",
        help: "Time of one Opus decode or concealment of a speaker (one call in eight, sampled).",
        buckets,
        registers,
      });
      codecTiming.onTime = (kind, seconds) =>
        (kind === "encode" ? encode : decode).observe(seconds);
    }
    hub.mediaClock.onTick = (latenessMs, tickMs) => {
      lateness.observe(latenessMs / 1000);
      duration.observe(tickMs / 1000);
    };

    counter(
      "meet_refused_total",
      "Requests and messages refused, by reason.",
      ["reason"],
      (set) => {
        set({ reason: "rate_limited" }, hub.counters.rateLimited);
        set({ reason: "bad_origin" }, hub.counters.badOrigin);
        for (const [reason, n] of Object.entries(edge())) set({ reason }, n);
      },
    );
  }

  /** The exposition text. */
  async text(): Promise<string> {
    this.#totals = this.#hub.mediaTotals();
    try {
      return await this.#registry.metrics();
    } finally {
      this.#totals = undefined;
    }
  }

  /** Stops the collectors. */
  close(): void {
    this.#hub.mediaClock.onTick = undefined;
    if (this.#codecTiming) this.#codecTiming.onTime = undefined;
    this.#registry.clear();
  }
}

/** Every seat of every live meeting that has a media transport now. */
function* seats(hub: Hub): Generator<{ room: Room; id: string; transport: MediaTransport }> {
  for (const room of hub.rooms()) {
    for (const p of room.meeting.participants) {
      const transport = room.media.transportOf(p.id);
      if (transport) yield { room, id: p.id, transport };
    }
  }
}
