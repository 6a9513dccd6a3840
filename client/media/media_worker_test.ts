import assert from "node:assert/strict";
import { waitFor } from "../../tests/support/wait.ts";
import { opusPacket as packet, withFakeAudioDecoder } from "./_testing.ts";
import { type FromMediaWorker, MediaWorker, type ToMediaWorker } from "./media_worker.ts";

Deno.test("MediaWorker: audio handed over is decoded into the playback port; statistics and report blocks come back", () =>
  withFakeAudioDecoder(async () => {
    const out: FromMediaWorker[] = [];
    const scope = {
      postMessage(message: FromMediaWorker) {
        out.push(message);
      },
      onmessage: null as ((event: MessageEvent<ToMediaWorker>) => void) | null,
    };
    new MediaWorker(scope);
    const send = (data: ToMediaWorker) => scope.onmessage!({ data } as MessageEvent<ToMediaWorker>);
    const playback = new MessageChannel();
    const frames: { type: string; ssrc: number; rtpTimestamp: number }[] = [];
    playback.port1.onmessage = (event) => frames.push(event.data);
    try {
      send({ type: "known", ssrcs: [3], own: 1 });
      send({ type: "playback", port: playback.port2 });
      for (let seq = 1; seq <= 3; seq++) {
        send({ type: "audio", packet: packet(3, seq), arrivalWallMs: Date.now() });
      }
      send({ type: "audio", packet: packet(1, 1), arrivalWallMs: Date.now() }); // our own
      await waitFor(() => frames.length === 3, { timeoutMs: 2000, what: "three frames" });
      assert.deepEqual(frames.map((f) => [f.type, f.ssrc, f.rtpTimestamp]), [
        ["frame", 3, 960],
        ["frame", 3, 1920],
        ["frame", 3, 2880],
      ]);
      send({ type: "report" });
      const blocks = out.find((m) => m.type === "blocks");
      assert.ok(blocks?.type === "blocks");
      assert.deepEqual(blocks.blocks.map((b) => b.ssrc), [3]);
      await waitFor(() => out.some((m) => m.type === "stats"), { timeoutMs: 2000, what: "stats" });
      const stats = out.find((m) => m.type === "stats");
      assert.ok(stats?.type === "stats");
      assert.deepEqual(stats.receivers.map((r) => [r.ssrc, r.packets]), [[3, 3]]);
    } finally {
      send({ type: "close" });
      playback.port1.close();
    }
  }));
