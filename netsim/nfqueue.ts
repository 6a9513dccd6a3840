/**
 * The kernel's NFQUEUE, spoken directly over netlink through libc (FFI): no C compiler and no
 * libnetfilter_queue. An iptables rule `-j NFQUEUE --queue-num N` hands each matching packet to
 * the program bound to queue N, which sends a verdict (accept or drop) for it, at any later
 * time. Until then the kernel holds the packet.
 *
 * The protocol (include/uapi/linux/netfilter/nfnetlink_queue.h): a netlink socket of family
 * NETLINK_NETFILTER; every message is a `nlmsghdr` (host byte order) with type
 * `NFNL_SUBSYS_QUEUE << 8 | msg`, then a `nfgenmsg` (family, version, queue number big-endian),
 * then attributes (`nlattr`: length, type, payload padded to 4 bytes). Attribute payloads are
 * big-endian. One `NFQNL_MSG_CONFIG` binds the queue and sets the copy mode; each packet
 * arrives as `NFQNL_MSG_PACKET` (its id in `NFQA_PACKET_HDR`, its first bytes in
 * `NFQA_PAYLOAD`); `NFQNL_MSG_VERDICT` answers for one id. Many verdicts go out in one `sendto`
 * (the kernel reads every message in a netlink write).
 *
 * Receiving: a `ppoll()` waits for the socket, or until the time the user asked to be woken at (to
 * the tenth of a millisecond, where a Deno timer is 1-2 ms late); then everything waiting is read
 * with non-blocking `recv` calls and handed over in one batch. The wait blocks the main thread,
 * but for one wait on a thread of Deno's blocking pool every 50 ms, which lets the event loop run
 * (timers, signals, `close()`): a process that does little else. Linux only; needs CAP_NET_ADMIN
 * (root, or root in a user namespace).
 *
 * @example
 * ```ts
 * async function dropUdpFor(ms: number) {
 *   const queue = NfQueue.open(0); // throws if the queue cannot be bound
 *   queue.start((packets) => {
 *     for (const p of packets) queue.verdict(p.id, p.protocol !== "udp");
 *   });
 *   await new Promise((resolve) => setTimeout(resolve, ms));
 *   await queue.close();
 * }
 * ```
 * @module
 */

/** One queued packet: its id for the verdict and what its IP header says. */
export interface QueuedPacket {
  /** The kernel's id for this packet, to give with its verdict. */
  id: number;
  /** The packet's whole length, bytes (the IPv4 total length field). */
  sizeBytes: number;
  protocol: "tcp" | "udp" | "other";
  /** Source and destination IPv4 addresses, dotted ("" when the packet is not IPv4). */
  src: string;
  dst: string;
  /** Ports for TCP and UDP (0 otherwise, and for a fragment after the first). */
  srcPort: number;
  dstPort: number;
}

/** Counters of an {@linkcode NfQueue}. */
export interface NfQueueStats {
  /** Packets handed over. */
  packets: number;
  /** Verdicts sent, and the `sendto` calls that carried them. */
  verdicts: number;
  sendCalls: number;
  /** `recv` calls that returned a message. */
  receiveCalls: number;
  /** Times the socket's receive buffer overflowed (ENOBUFS): the kernel dropped packets. */
  overflows: number;
  /** Error answers from the kernel to verdicts (e.g. an id it does not hold). */
  verdictErrors: number;
  /** Messages that were not packets or errors, or packets that could not be read. */
  unknownMessages: number;
  /** Failed `sendto` calls (their verdicts are lost; the kernel keeps those packets). */
  sendErrors: number;
  /** The receive buffer the kernel granted, bytes. */
  receiveBufferBytes: number;
}

/** What the kernel counts for a queue (/proc/net/netfilter/nfnetlink_queue). */
export interface KernelQueueStats {
  /** Packets waiting for a verdict now. */
  waiting: number;
  /** Packets dropped because the queue was full (`maxLength`). */
  queueDropped: number;
  /** Packets dropped because they could not be sent to the program (its buffer was full). */
  userDropped: number;
}

/** Options of {@linkcode NfQueue.open}. */
export interface NfQueueOptions {
  /** Bytes of each packet copied to the program: enough for IPv4 and TCP/UDP headers. */
  copyRange?: number;
  /** Packets the kernel holds for the program at most; past it new ones are dropped. */
  maxLength?: number;
  /** Receive buffer asked for, bytes (SO_RCVBUFFORCE, else SO_RCVBUF capped by rmem_max). */
  receiveBufferBytes?: number;
}

const LIBC_PATHS: Partial<Record<typeof Deno.build.arch, string>> = {
  x86_64: "/usr/lib/x86_64-linux-gnu/libc.so.6",
  aarch64: "/usr/lib/aarch64-linux-gnu/libc.so.6",
};

const LIBC_SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  sendto: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"], result: "isize" },
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  // Its timeout is in nanoseconds (Deno's timers fire 1-2 ms late: they keep whole
  // milliseconds). This one waits on a thread of Deno's blocking pool, so the event loop runs
  // meanwhile; `ppollHere` blocks the calling thread (no hand-off between threads).
  ppoll: { parameters: ["buffer", "u64", "buffer", "pointer"], result: "i32", nonblocking: true },
  ppollHere: { name: "ppoll", parameters: ["buffer", "u64", "buffer", "pointer"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
  // memmove(buffer, &errno, 4) copies errno out without an unsafe pointer view.
  copyFrom: { name: "memmove", parameters: ["buffer", "pointer", "usize"], result: "pointer" },
} as const;

type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>;

const AF_INET = 2;
const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0x80000;
const NETLINK_NETFILTER = 12;
const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
const SO_RCVBUFFORCE = 33;
const MSG_DONTWAIT = 0x40;
const POLLIN = 1;
const EFD_NONBLOCK = 0x800;
const EFD_CLOEXEC = 0x80000;
const EINTR = 4;
const EAGAIN = 11;
const ENOBUFS = 105;

const NLMSG_HDRLEN = 16;
const NLMSG_ERROR = 2;
const NLM_F_REQUEST = 1;
const NLM_F_ACK = 4;
const NFGENMSG_LEN = 4;
const NFNL_SUBSYS_QUEUE = 3;
const NFQNL_MSG_PACKET = 0;
const NFQNL_MSG_VERDICT = 1;
const NFQNL_MSG_CONFIG = 2;
const NFQA_PACKET_HDR = 1;
const NFQA_VERDICT_HDR = 2;
const NFQA_PAYLOAD = 10;
const NFQA_CFG_CMD = 1;
const NFQA_CFG_PARAMS = 2;
const NFQA_CFG_QUEUE_MAXLEN = 3;
const NFQNL_CFG_CMD_BIND = 1;
const NFQNL_COPY_PACKET = 2;
const NLA_TYPE_MASK = 0x3fff;
const NF_DROP = 0;
const NF_ACCEPT = 1;

/** One verdict message: nlmsghdr, nfgenmsg, and NFQA_VERDICT_HDR (verdict, id). */
const VERDICT_LEN = NLMSG_HDRLEN + NFGENMSG_LEN + 4 + 8;
/** Verdicts per `sendto` at most. */
const VERDICT_BATCH = 1024;
/** Packets read per wake-up at most. */
const DRAIN_LIMIT = 4096;
/** Receive buffer for one `recv`: larger than any message (one packet's first bytes). */
const RECEIVE_BYTES = 64 * 1024;
/** The longest the queue keeps the event loop waiting (it waits on its own thread), ms. */
const EVENT_LOOP_TURN_MS = 50;

/**
 * A bound NFQUEUE: packets in, verdicts out. One per queue number; the kernel refuses a second
 * program on a queue that is bound.
 *
 * @example
 * ```ts
 * function delayAll(queueNum: number, ms: number): NfQueue {
 *   const queue = NfQueue.open(queueNum, { copyRange: 64, maxLength: 8192 });
 *   queue.start((packets) => {
 *     for (const p of packets) setTimeout(() => queue.verdict(p.id, true), ms);
 *   });
 *   return queue;
 * }
 * ```
 */
export class NfQueue {
  /** The queue number bound. */
  readonly queueNum: number;
  readonly stats: NfQueueStats = {
    packets: 0,
    verdicts: 0,
    sendCalls: 0,
    receiveCalls: 0,
    overflows: 0,
    verdictErrors: 0,
    unknownMessages: 0,
    sendErrors: 0,
    receiveBufferBytes: 0,
  };
  #libc: Libc;
  #fd: number;
  #wakeFd: number;
  /** Two `struct pollfd`: the socket and the wake descriptor (over 64 bytes: off the JS heap). */
  #pollFds = new Uint8Array(128);
  /** The `struct timespec` of the next wait (same). */
  #timeout = new BigInt64Array(16);
  #rx = new Uint8Array(RECEIVE_BYTES);
  #rxView = new DataView(this.#rx.buffer);
  #tx = new Uint8Array(VERDICT_BATCH * VERDICT_LEN);
  #txView = new DataView(this.#tx.buffer);
  #queued = 0;
  #flushScheduled = false;
  #seq = 1;
  #errno = new Int32Array(16);
  #kernel = new Uint8Array(16); // sockaddr_nl of the kernel (pid 0)
  #onPackets: ((packets: QueuedPacket[]) => void) | undefined;
  #onWake: () => number = () => Infinity;
  #loop: Promise<void> | undefined;
  #closed = false;

  private constructor(libc: Libc, fd: number, wakeFd: number, queueNum: number) {
    this.#libc = libc;
    this.#fd = fd;
    this.#wakeFd = wakeFd;
    this.queueNum = queueNum;
    const fds = new DataView(this.#pollFds.buffer);
    fds.setInt32(0, fd, true);
    fds.setInt16(4, POLLIN, true);
    fds.setInt32(8, wakeFd, true);
    fds.setInt16(12, POLLIN, true);
    new DataView(this.#kernel.buffer).setUint16(0, AF_NETLINK, true);
    // Every verdict message is the same but for its sequence number, verdict and id.
    for (let i = 0; i < VERDICT_BATCH; i++) {
      const o = i * VERDICT_LEN;
      const v = this.#txView;
      v.setUint32(o, VERDICT_LEN, true);
      v.setUint16(o + 4, (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_VERDICT, true);
      v.setUint16(o + 6, NLM_F_REQUEST, true);
      v.setUint8(o + 16, 0); // AF_UNSPEC
      v.setUint8(o + 17, 0); // NFNETLINK_V0
      v.setUint16(o + 18, queueNum, false);
      v.setUint16(o + 20, 12, true);
      v.setUint16(o + 22, NFQA_VERDICT_HDR, true);
    }
  }

  /**
   * Opens a netlink socket and binds queue `queueNum` (0-65535) for IPv4, copying each
   * packet's first `copyRange` bytes. Throws with the kernel's reason when it cannot (no
   * permission, queue already bound by another program, kernel without nfnetlink_queue).
   *
   * @example
   * ```ts
   * function bindQueue(queueNum: number): NfQueue {
   *   const queue = NfQueue.open(queueNum);
   *   console.log(`bound; receive buffer ${queue.stats.receiveBufferBytes} bytes`);
   *   return queue;
   * }
   * ```
   */
  static open(queueNum: number, options: NfQueueOptions = {}): NfQueue {
    if (Deno.build.os !== "linux") throw new Error("NFQUEUE needs Linux");
    if (!Number.isInteger(queueNum) || queueNum < 0 || queueNum > 65535) {
      throw new RangeError(`queue number must be 0-65535, got ${queueNum}`);
    }
    const path = LIBC_PATHS[Deno.build.arch];
    if (!path) throw new Error(`NFQUEUE: no libc path for ${Deno.build.arch}`);
    const libc = Deno.dlopen(path, LIBC_SYMBOLS);
    const fd = libc.symbols.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    if (fd < 0) {
      const err = errno(libc);
      libc.close();
      throw new Error(`NFQUEUE: netlink socket: errno ${err}`);
    }
    const wakeFd = libc.symbols.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    const queue = new NfQueue(libc, fd, wakeFd, queueNum);
    try {
      if (wakeFd < 0) throw new Error(`NFQUEUE: eventfd: errno ${errno(libc)}`);
      queue.stats.receiveBufferBytes = queue.#growReceiveBuffer(
        options.receiveBufferBytes ?? 16 * 1024 * 1024,
      );
      const local = new Uint8Array(12); // sockaddr_nl: family, pad, pid 0 (kernel picks), groups
      new DataView(local.buffer).setUint16(0, AF_NETLINK, true);
      if (libc.symbols.bind(fd, local, 12) !== 0) {
        throw new Error(`NFQUEUE: bind: errno ${errno(libc)}`);
      }
      queue.#configure(options.copyRange ?? 64, options.maxLength ?? 8192);
    } catch (err) {
      libc.symbols.close(fd);
      if (wakeFd >= 0) libc.symbols.close(wakeFd);
      libc.close();
      throw err;
    }
    return queue;
  }

  /**
   * Starts receiving: `onPackets` gets the packets that have arrived, in arrival order, one
   * batch per wake-up. Each needs a verdict, now or later ({@linkcode NfQueue.verdict}).
   * `onWake` is called after every wake-up (packets or not) and returns how long the queue may
   * wait for packets before calling it again, ms (`Infinity`: until packets come): the way to
   * act at a precise time.
   */
  start(onPackets: (packets: QueuedPacket[]) => void, onWake?: () => number): void {
    if (this.#onPackets) throw new Error("NFQUEUE: already started");
    this.#onPackets = onPackets;
    if (onWake) this.#onWake = onWake;
    this.#loop = this.#run();
  }

  /**
   * Accepts (`true`) or drops (`false`) packet `id`. Verdicts given in one turn of the event
   * loop leave together in one `sendto`, at the end of that turn.
   */
  verdict(id: number, accept: boolean): void {
    if (this.#closed) return;
    const o = this.#queued++ * VERDICT_LEN;
    const v = this.#txView;
    v.setUint32(o + 8, this.#seq++, true);
    v.setUint32(o + 24, accept ? NF_ACCEPT : NF_DROP, false);
    v.setUint32(o + 28, id, false);
    if (this.#queued === VERDICT_BATCH) this.flush();
    else if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  /** Sends the verdicts given so far now (otherwise they go at the end of the turn). */
  flush(): void {
    this.#flushScheduled = false;
    const count = this.#queued;
    if (count === 0 || this.#closed) return;
    this.#queued = 0;
    this.stats.sendCalls++;
    const bytes = count * VERDICT_LEN;
    const buffer = count === VERDICT_BATCH ? this.#tx : this.#tx.subarray(0, bytes);
    const sent = Number(
      this.#libc.symbols.sendto(this.#fd, buffer, BigInt(bytes), 0, this.#kernel, 12),
    );
    if (sent === bytes) this.stats.verdicts += count;
    else this.stats.sendErrors++;
  }

  /** What the kernel counts for this queue, if it shows it (/proc, in this network namespace). */
  kernelStats(): KernelQueueStats | undefined {
    let text: string;
    try {
      text = Deno.readTextFileSync("/proc/net/netfilter/nfnetlink_queue");
    } catch {
      return undefined;
    }
    for (const line of text.split("\n")) {
      // queue, portid, waiting, copy mode, copy range, queue dropped, user dropped, last id, 1
      const f = line.trim().split(/\s+/).map(Number);
      if (f.length >= 7 && f[0] === this.queueNum) {
        return { waiting: f[2], queueDropped: f[5], userDropped: f[6] };
      }
    }
    return undefined;
  }

  /**
   * Sends the verdicts given, stops receiving and closes the socket, which unbinds the queue:
   * the kernel drops every packet still waiting for a verdict, so give those first.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    this.#libc.symbols.write(this.#wakeFd, new BigUint64Array([1n]), 8n);
    await this.#loop; // the blocking-pool thread must be done with the descriptors
    this.#libc.symbols.close(this.#fd);
    this.#libc.symbols.close(this.#wakeFd);
    this.#libc.close();
  }

  /**
   * Waits on this thread (each hand-off to the blocking pool and back costs about as much as
   * the packet's own work), and on the pool once every {@linkcode EVENT_LOOP_TURN_MS}, which
   * gives the event loop its turn: timers, signals, `close()`.
   */
  async #run(): Promise<void> {
    let turnAt = performance.now();
    while (!this.#closed) {
      const packets = this.#drain();
      if (packets.length > 0) {
        this.stats.packets += packets.length;
        this.#onPackets!(packets);
      }
      let waitMs = this.#onWake();
      this.flush();
      if (this.#closed) break;
      const untilTurnMs = turnAt + EVENT_LOOP_TURN_MS - performance.now();
      const here = untilTurnMs > 0;
      if (here) waitMs = Math.min(waitMs, untilTurnMs);
      let timeout: BigInt64Array | null = null;
      if (Number.isFinite(waitMs)) {
        const ns = Math.max(0, Math.round(waitMs * 1e6));
        this.#timeout[0] = BigInt(Math.floor(ns / 1e9));
        this.#timeout[1] = BigInt(ns % 1e9);
        timeout = this.#timeout;
      }
      if (here) {
        this.#libc.symbols.ppollHere(this.#pollFds, 2n, timeout, null);
      } else {
        await this.#libc.symbols.ppoll(this.#pollFds, 2n, timeout, null);
        turnAt = performance.now();
      }
    }
  }

  /** Reads every message waiting, without blocking; returns the packets among them. */
  #drain(): QueuedPacket[] {
    const packets: QueuedPacket[] = [];
    for (;;) {
      const n = Number(
        this.#libc.symbols.recv(this.#fd, this.#rx, BigInt(RECEIVE_BYTES), MSG_DONTWAIT),
      );
      if (n < 0) {
        const err = errno(this.#libc, this.#errno);
        if (err === EINTR) continue;
        if (err === ENOBUFS) {
          this.stats.overflows++;
          continue;
        }
        if (err !== EAGAIN) this.stats.unknownMessages++;
        return packets;
      }
      if (n === 0) return packets;
      this.stats.receiveCalls++;
      this.#parse(n, packets);
      // Under a flood, hand these over and let releases due meanwhile go before reading on.
      if (packets.length >= DRAIN_LIMIT) return packets;
    }
  }

  /** Goes through the netlink messages in the first `n` bytes received. */
  #parse(n: number, packets: QueuedPacket[]): void {
    const v = this.#rxView;
    let o = 0;
    while (o + NLMSG_HDRLEN <= n) {
      const len = v.getUint32(o, true);
      if (len < NLMSG_HDRLEN || o + len > n) break;
      const type = v.getUint16(o + 4, true);
      if (type === ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET)) {
        const packet = this.#packet(o + NLMSG_HDRLEN + NFGENMSG_LEN, o + len);
        if (packet) packets.push(packet);
        else this.stats.unknownMessages++;
      } else if (type === NLMSG_ERROR) {
        if (len >= NLMSG_HDRLEN + 4 && v.getInt32(o + NLMSG_HDRLEN, true) !== 0) {
          this.stats.verdictErrors++;
        }
      } else {
        this.stats.unknownMessages++;
      }
      o += align4(len);
    }
  }

  /** Reads a packet message's attributes from `start` to `end`. */
  #packet(start: number, end: number): QueuedPacket | undefined {
    const v = this.#rxView;
    let id = -1;
    let payload = -1;
    let payloadLen = 0;
    for (let o = start; o + 4 <= end;) {
      const len = v.getUint16(o, true);
      if (len < 4 || o + len > end) break;
      const type = v.getUint16(o + 2, true) & NLA_TYPE_MASK;
      if (type === NFQA_PACKET_HDR && len >= 8) id = v.getUint32(o + 4, false);
      else if (type === NFQA_PAYLOAD) {
        payload = o + 4;
        payloadLen = len - 4;
      }
      o += align4(len);
    }
    if (id < 0) return undefined;
    return readIpHeader(id, this.#rx, payload, payloadLen);
  }

  /** Binds the queue and sets its copy mode and length, and checks the kernel's answer. */
  #configure(copyRange: number, maxLength: number): void {
    const msg = new Uint8Array(NLMSG_HDRLEN + NFGENMSG_LEN + 8 + 12 + 8);
    const v = new DataView(msg.buffer);
    v.setUint32(0, msg.length, true);
    v.setUint16(4, (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_CONFIG, true);
    v.setUint16(6, NLM_F_REQUEST | NLM_F_ACK, true);
    v.setUint32(8, this.#seq++, true);
    v.setUint8(16, AF_UNSPEC_FAMILY);
    v.setUint16(18, this.queueNum, false);
    let o = 20;
    // NFQA_CFG_CMD: struct nfqnl_msg_config_cmd { u8 command; u8 pad; be16 pf; }
    v.setUint16(o, 8, true);
    v.setUint16(o + 2, NFQA_CFG_CMD, true);
    v.setUint8(o + 4, NFQNL_CFG_CMD_BIND);
    v.setUint16(o + 6, AF_INET, false);
    o += 8;
    // NFQA_CFG_PARAMS: struct nfqnl_msg_config_params { be32 copy_range; u8 copy_mode; } packed
    v.setUint16(o, 9, true);
    v.setUint16(o + 2, NFQA_CFG_PARAMS, true);
    v.setUint32(o + 4, copyRange, false);
    v.setUint8(o + 8, NFQNL_COPY_PACKET);
    o += 12;
    // NFQA_CFG_QUEUE_MAXLEN: be32
    v.setUint16(o, 8, true);
    v.setUint16(o + 2, NFQA_CFG_QUEUE_MAXLEN, true);
    v.setUint32(o + 4, maxLength, false);
    const sent = Number(
      this.#libc.symbols.sendto(this.#fd, msg, BigInt(msg.length), 0, this.#kernel, 12),
    );
    if (sent !== msg.length) throw new Error(`NFQUEUE: sendto: errno ${errno(this.#libc)}`);
    // The kernel handles a netlink write before sendto returns: its answer is already queued.
    const n = Number(
      this.#libc.symbols.recv(this.#fd, this.#rx, BigInt(RECEIVE_BYTES), MSG_DONTWAIT),
    );
    if (n < NLMSG_HDRLEN + 4) {
      throw new Error(`NFQUEUE: no answer to bind: errno ${errno(this.#libc)}`);
    }
    const type = this.#rxView.getUint16(4, true);
    const code = this.#rxView.getInt32(NLMSG_HDRLEN, true);
    if (type !== NLMSG_ERROR) throw new Error(`NFQUEUE: unexpected answer to bind: type ${type}`);
    if (code !== 0) {
      const why = { [-1]: "EPERM: no permission", [-16]: "EBUSY: queue bound by another program" }[
        code
      ];
      throw new Error(`NFQUEUE: bind queue ${this.queueNum} refused: ${why ?? `errno ${-code}`}`);
    }
  }

  #growReceiveBuffer(bytes: number): number {
    const size = new Int32Array([bytes]);
    if (this.#libc.symbols.setsockopt(this.#fd, SOL_SOCKET, SO_RCVBUFFORCE, size, 4) !== 0) {
      this.#libc.symbols.setsockopt(this.#fd, SOL_SOCKET, SO_RCVBUF, size, 4);
    }
    const granted = new Int32Array(1);
    this.#libc.symbols.getsockopt(this.#fd, SOL_SOCKET, SO_RCVBUF, granted, new Uint32Array([4]));
    return granted[0];
  }
}

const AF_UNSPEC_FAMILY = 0;

function align4(n: number): number {
  return (n + 3) & ~3;
}

/** This thread's errno (the last failed libc call's reason on the main thread). */
function errno(libc: Libc, into = new Int32Array(16)): number {
  libc.symbols.copyFrom(into, libc.symbols.__errno_location(), 4n);
  return into[0];
}

/**
 * The facts of an IP packet whose first `length` bytes are at `offset` in `bytes` (`offset`
 * -1 when the kernel sent none).
 *
 * @example
 * ```ts
 * const header = new Uint8Array(28);
 * header.set([0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 2]);
 * header.set([0x11, 0x51, 0x00, 0x35], 20); // ports 4433 -> 53
 * readIpHeader(7, header, 0, 28); // { id: 7, sizeBytes: 28, protocol: "udp", ... }
 * ```
 */
export function readIpHeader(
  id: number,
  bytes: Uint8Array,
  offset: number,
  length: number,
): QueuedPacket {
  const packet: QueuedPacket = {
    id,
    sizeBytes: 0,
    protocol: "other",
    src: "",
    dst: "",
    srcPort: 0,
    dstPort: 0,
  };
  if (offset < 0 || length < 20 || bytes[offset] >> 4 !== 4) return packet;
  const b = (i: number) => bytes[offset + i];
  const headerLen = (b(0) & 15) * 4;
  packet.sizeBytes = (b(2) << 8) | b(3);
  packet.src = `${b(12)}.${b(13)}.${b(14)}.${b(15)}`;
  packet.dst = `${b(16)}.${b(17)}.${b(18)}.${b(19)}`;
  const proto = b(9);
  if (proto !== 6 && proto !== 17) return packet;
  packet.protocol = proto === 6 ? "tcp" : "udp";
  const fragmentOffset = ((b(6) & 0x1f) << 8) | b(7);
  if (fragmentOffset === 0 && headerLen >= 20 && length >= headerLen + 4) {
    packet.srcPort = (b(headerLen) << 8) | b(headerLen + 1);
    packet.dstPort = (b(headerLen + 2) << 8) | b(headerLen + 3);
  }
  return packet;
}
