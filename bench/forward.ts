/**
 * Forwarding benchmark: this server against Janus (1.1, Debian's `janus`) on the same
 * plain-RTP VP8 workload. S senders and R receivers in one meeting: every sender's video goes
 * to the R receivers and to the other senders, S x (S + R - 1) flows (5 x 95: a full meeting of
 * 100, 495 flows). The traffic comes from
 * bench/rtp_fanout.c (built here with gcc), one process that neither server's figures depend
 * on: each sender sends frames of 4 packets of 1,000 bytes at 30 fps (about 1 Mb/s, a
 * keyframe every 2 s and on a PLI), and each receiver matches every packet by the sender's
 * index, counter and send time at the end of its payload, whatever the server did to its
 * header. Measured over a window after a warm-up: the server's CPU (all its threads, from
 * /proc, per cent of one core), loss, and the delay each packet took from send to receive
 * (both ends in the harness, on one clock) at p50 / p99 / p99.9.
 *
 * This server: `main.ts` as `deno task start` runs it (`--p2p off`), every sender and receiver
 * a terminal client's seat (control over the WebSocket, media bound with `MEET-BIND` from the
 * harness's own sockets). Janus: the VideoRoom plugin with remote publishers (plain RTP in) and
 * one RTP forwarder per flow (bench/_janus.ts).
 *
 * Usage:
 *   deno run --allow-all bench/forward.ts [--shapes=3x30,5x95] [--window=10] [--warmup=3]
 *     [--repeat=3] [--no-janus] [--json]
 *
 * Each server runs each shape `--repeat` times, the two in turn; the table shows the run with
 * the median CPU (and the range), and the median delays.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { TerminalControl } from "../cli/terminal_control.ts";
import { fmt, machineBusyMs, machineLine, processCpuMs, sleep, table } from "./_report.ts";
import { startServerProcess } from "./_server_process.ts";

/** One shape: S senders, R receivers. */
export interface ForwardShape {
  senders: number;
  receivers: number;
}

/** What one server did with one shape. */
export interface ForwardResult {
  server: "meet" | "janus";
  shape: ForwardShape;
  flows: number;
  /** Packets forwarded per second (received by the harness in the window). */
  packetsPerSecond: number;
  /** The server's CPU over the window, per cent of one core. */
  cpuPercent: number;
  /** Everything but the server and the harness, per cent of one core (other load). */
  otherCpuPercent: number;
  harnessCpuPercent: number;
  lossPercent: number;
  delayUs: { p50: number; p99: number; p999: number };
  /** Of several runs (the median run is the result): how many, and their lowest and highest CPU. */
  runs?: number;
  cpuRange?: [number, number];
}

interface HarnessReport {
  windowSeconds: number;
  sent: number;
  expected: number;
  received: number[];
  receivedTotal: number;
  delayUs: { p50: number; p99: number; p999: number; over1s: number };
  harnessCpuMs: number;
  error?: string;
}

/** The harness process (bench/rtp_fanout.c): commands in, lines out. */
class Harness {
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #lines: AsyncIterator<string>;

  constructor(binary: string) {
    this.#child = new Deno.Command(binary, { stdin: "piped", stdout: "piped", stderr: "inherit" })
      .spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.#lines = this.#child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(
      new TransformStream<string, string>(
        {
          buffer: "",
          transform(chunk, controller) {
            const parts = (this.buffer + chunk).split("\n");
            this.buffer = parts.pop()!;
            for (const line of parts) controller.enqueue(line);
          },
        } as Transformer<string, string> & { buffer: string },
      ),
    )[Symbol.asyncIterator]();
  }

  async send(...lines: string[]): Promise<void> {
    await this.#writer.write(new TextEncoder().encode(lines.map((l) => `${l}\n`).join("")));
  }

  /** The next line, or an error after `timeoutMs`. */
  async line(timeoutMs: number): Promise<string> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const next = await Promise.race([
        this.#lines.next(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error("the harness said nothing")), timeoutMs);
        }),
      ]);
      if (next.done) throw new Error("the harness ended");
      return next.value;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Opens the sockets: the senders' and the receivers' ports. */
  async open(shape: ForwardShape): Promise<{ senders: number[]; receivers: number[] }> {
    await this.send(`open ${shape.senders} ${shape.receivers}`);
    const [s, r] = (await this.line(5000)).replace(/^ports /, "").split("|");
    const ports = (text: string) => text.trim().split(/\s+/).map(Number);
    return { senders: ports(s), receivers: ports(r) };
  }

  /**
   * Runs the traffic; `pid`'s CPU is read as the window starts and ends. Returns the report and
   * the CPU figures.
   */
  async run(
    pid: number,
    warmupS: number,
    windowS: number,
  ): Promise<{ report: HarnessReport; cpuMs: number; machineMs: number; wallMs: number }> {
    await this.send(`run ${warmupS} ${windowS} 30 4 1000`);
    let cpu0 = 0, machine0 = 0, wall0 = 0, cpuMs = 0, machineMs = 0, wallMs = 0;
    for (;;) {
      const line = await this.line((warmupS + windowS + 15) * 1000);
      if (line === "window") {
        cpu0 = processCpuMs(pid);
        machine0 = machineBusyMs();
        wall0 = performance.now();
      } else if (line === "end") {
        cpuMs = processCpuMs(pid) - cpu0;
        machineMs = machineBusyMs() - machine0;
        wallMs = performance.now() - wall0;
      } else if (line.startsWith("{")) {
        const report = JSON.parse(line) as HarnessReport;
        if (report.error) throw new Error(`harness: ${report.error}`);
        return { report, cpuMs, machineMs, wallMs };
      }
    }
  }

  async close(): Promise<void> {
    try {
      await this.#writer.close();
    } catch { /* ended */ }
    try {
      this.#child.kill("SIGTERM");
    } catch { /* ended */ }
    await this.#child.status;
  }
}

/** Builds bench/rtp_fanout.c into a temporary directory; returns the binary's path. */
async function buildHarness(dir: string): Promise<string> {
  const binary = `${dir}/rtp_fanout`;
  const source = new URL("./rtp_fanout.c", import.meta.url).pathname;
  const { success, stderr } = await new Deno.Command("gcc", {
    args: ["-O2", "-o", binary, source],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!success) throw new Error(`gcc: ${new TextDecoder().decode(stderr)}`);
  return binary;
}

function result(
  server: ForwardResult["server"],
  shape: ForwardShape,
  run: Awaited<ReturnType<Harness["run"]>>,
): ForwardResult {
  const { report, cpuMs, machineMs, wallMs } = run;
  const harnessCpuPercent = (report.harnessCpuMs / wallMs) * 100;
  const cpuPercent = (cpuMs / wallMs) * 100;
  // Every sender's packets also reach the other senders, which the harness does not count:
  // the receivers' share of the flows is what it measures.
  const flows = shape.senders * (shape.senders + shape.receivers - 1);
  return {
    server,
    shape,
    flows,
    packetsPerSecond: (report.receivedTotal / report.windowSeconds) * flows /
      (shape.senders * shape.receivers),
    cpuPercent,
    otherCpuPercent: Math.max(0, (machineMs / wallMs) * 100 - cpuPercent - harnessCpuPercent),
    harnessCpuPercent,
    lossPercent: report.expected > 0 ? (1 - report.receivedTotal / report.expected) * 100 : 100,
    delayUs: report.delayUs,
  };
}

/** Runs one shape through this server. */
async function runMeet(
  binary: string,
  shape: ForwardShape,
  warmupS: number,
  windowS: number,
): Promise<ForwardResult> {
  const server = await startServerProcess({ args: ["--p2p", "off"] });
  const harness = new Harness(binary);
  const sessions: TerminalControl[] = [];
  try {
    await harness.open(shape);
    await harness.send(`server ${server.udpPort}`);
    let meetingId: string | null = null;
    const seats = shape.senders + shape.receivers;
    for (let k = 0; k < seats; k++) {
      const session = await TerminalControl.open(server.wsUrl, `seat ${k + 1}`);
      sessions.push(session);
      const joined: Awaited<ReturnType<TerminalControl["join"]>> = meetingId
        ? await session.join(meetingId)
        : await session.create("forwarding bench");
      const { meeting, reply } = joined;
      meetingId = meeting.id;
      const sender = k < shape.senders;
      const index = sender ? k : k - shape.senders;
      await harness.send(
        `bind ${sender ? "s" : "r"} ${index} ${reply.media.mediaKey} ${meeting.id}`,
        ...(sender
          ? [`ssrc ${index} ${meeting.media.videoSsrc}`, `dest ${index} ${server.udpPort}`]
          : []),
      );
    }
    return result("meet", shape, await harness.run(server.pid, warmupS, windowS));
  } finally {
    await harness.close();
    for (const session of sessions) session.close();
    await server.stop();
  }
}

/** Runs one shape through Janus (bench/_janus.ts). */
async function runJanus(
  binary: string,
  shape: ForwardShape,
  warmupS: number,
  windowS: number,
): Promise<ForwardResult> {
  const { startJanusFanout } = await import("./_janus.ts");
  const harness = new Harness(binary);
  try {
    const ports = await harness.open(shape);
    // The senders receive each other too (and, here, their own stream: one flow more each).
    const janus = await startJanusFanout({
      senders: shape.senders,
      receiverPorts: [...ports.receivers, ...ports.senders],
    });
    try {
      for (let i = 0; i < shape.senders; i++) {
        // (Janus 1.1.2 takes a remote publisher's stream only with the SSRC it assigns.)
        await harness.send(
          `ssrc ${i} ${janus.senderSsrcs[i]}`,
          `dest ${i} ${janus.senderPorts[i]}`,
        );
      }
      return result("janus", shape, await harness.run(janus.pid, warmupS, windowS));
    } finally {
      await janus.stop();
    }
  } finally {
    await harness.close();
  }
}

/**
 * The run with the median server CPU, with the range of the runs' CPU (`cpuRange`) and the
 * median of their delays.
 */
function median(runs: ForwardResult[]): ForwardResult {
  const by = [...runs].sort((a, b) => a.cpuPercent - b.cpuPercent);
  const mid = <T>(values: T[]) => values[Math.floor((values.length - 1) / 2)];
  const delays = (q: "p50" | "p99" | "p999") =>
    mid(runs.map((r) => r.delayUs[q]).sort((a, b) => a - b));
  return {
    ...mid(by),
    runs: runs.length,
    cpuRange: [by[0].cpuPercent, by[by.length - 1].cpuPercent],
    delayUs: { p50: delays("p50"), p99: delays("p99"), p999: delays("p999") },
  };
}

/** Whether Janus is installed (`/usr/bin/janus`). */
function haveJanus(): boolean {
  try {
    return Deno.statSync("/usr/bin/janus").isFile;
  } catch {
    return false;
  }
}

/** Runs every shape through this server and, where it is installed, Janus. */
export async function runForwardBench(options: {
  shapes?: ForwardShape[];
  warmupS?: number;
  windowS?: number;
  janus?: boolean;
  /** Runs per server and shape, in turn; the median run is reported (default 3). */
  repeat?: number;
  log?: (line: string) => void;
} = {}): Promise<ForwardResult[]> {
  const repeat = Math.max(1, Math.min(9, options.repeat ?? 3));
  const shapes = options.shapes ?? [{ senders: 3, receivers: 30 }, { senders: 5, receivers: 95 }];
  const warmupS = options.warmupS ?? 3;
  const windowS = options.windowS ?? 10;
  const log = options.log ?? ((line: string) => console.error(line));
  const dir = await Deno.makeTempDir({ prefix: "meet-forward-bench-" });
  const results: ForwardResult[] = [];
  try {
    const binary = await buildHarness(dir);
    const janus = options.janus !== false && haveJanus();
    if (options.janus !== false && !janus) log("forward: janus is not installed; this server only");
    for (const shape of shapes) {
      const runs: Record<ForwardResult["server"], ForwardResult[]> = { meet: [], janus: [] };
      // In turn, so that a disturbance of the machine falls on both alike.
      for (let k = 0; k < repeat; k++) {
        for (const server of janus ? ["meet", "janus"] as const : ["meet"] as const) {
          const r = server === "meet"
            ? await runMeet(binary, shape, warmupS, windowS)
            : await runJanus(binary, shape, warmupS, windowS);
          log(
            `forward: ${server} ${shape.senders} x ${shape.receivers}: ${
              fmt(r.cpuPercent, 1)
            }% of a core, loss ${fmt(r.lossPercent, 2)}%, delay p50/p99 ${
              fmt(r.delayUs.p50 / 1000, 2)
            } / ${fmt(r.delayUs.p99 / 1000, 2)} ms, other load ${fmt(r.otherCpuPercent)}%`,
          );
          runs[server].push(r);
          await sleep(500);
        }
      }
      for (const server of ["meet", "janus"] as const) {
        if (runs[server].length > 0) results.push(median(runs[server]));
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  return results;
}

/** The results as a Markdown table, with the ratio to Janus where it ran. */
export function formatForward(results: ForwardResult[]): string {
  const janusOf = (r: ForwardResult) =>
    results.find((j) =>
      j.server === "janus" && j.shape.senders === r.shape.senders &&
      j.shape.receivers === r.shape.receivers
    );
  const rows = results.map((r) => {
    const j = r.server === "meet" ? janusOf(r) : undefined;
    return [
      `${r.shape.senders} x ${r.shape.receivers} (${r.flows} flows)`,
      r.server === "meet" ? "this server" : "Janus 1.1",
      fmt(r.packetsPerSecond),
      `${fmt(r.cpuPercent, 1)}%${
        r.cpuRange && r.runs! > 1 ? ` (${fmt(r.cpuRange[0], 1)}-${fmt(r.cpuRange[1], 1)})` : ""
      }`,
      j ? `${fmt(r.cpuPercent / j.cpuPercent, 2)}x` : "",
      `${fmt(r.lossPercent, 2)}%`,
      `${fmt(r.delayUs.p50 / 1000, 2)} / ${fmt(r.delayUs.p99 / 1000, 2)} / ${
        fmt(r.delayUs.p999 / 1000, 2)
      }`,
      `${fmt(r.harnessCpuPercent)}% / ${fmt(r.otherCpuPercent)}%`,
    ];
  });
  return table(
    [
      "S senders x R receivers",
      "server",
      "forwarded pkt/s",
      "server CPU (range)",
      "vs Janus",
      "loss",
      "delay p50 / p99 / p99.9 ms",
      "harness / other CPU",
    ],
    rows,
    [false, false, true, true, true, true, true, true],
  );
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      shapes: { type: "string", default: "3x30,5x95" },
      window: { type: "string", default: "10" },
      warmup: { type: "string", default: "3" },
      "no-janus": { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      repeat: { type: "string", default: "3" },
    },
  });
  const shapes = values.shapes.split(",").map((s) => {
    const [senders, receivers] = s.split("x").map(Number);
    if (!(senders >= 1 && senders <= 16 && receivers >= 1 && senders + receivers <= 100)) {
      throw new Error(
        `--shapes: S x R, 1-16 senders, at most 100 in all (a meeting's seats), not ${s}`,
      );
    }
    return { senders, receivers };
  });
  const results = await runForwardBench({
    shapes,
    windowS: Math.min(60, Math.max(2, Number(values.window))),
    warmupS: Math.min(30, Math.max(1, Number(values.warmup))),
    janus: !values["no-janus"],
    repeat: Number(values.repeat) || 3,
  });
  if (values.json) console.log(JSON.stringify(results));
  else {
    console.log(machineLine());
    console.log(formatForward(results));
  }
}
