/**
 * Datagram I/O for the UDP endpoint, in two interchangeable forms; each opens, binds, reads,
 * writes and closes its own socket:
 *
 * - `deno`: a socket from `Deno.listenDatagram`, `socket.receive()` in a loop and one
 *   `socket.send()` per datagram. Each is an async op, about 15 us of the main thread on top
 *   of the system call, and each arriving datagram wakes the event loop.
 * - `batched` (Linux): a socket made with libc over FFI (`socket`, `bind`), which Deno's event
 *   loop never sees. Sends queued in one turn of the event loop go out in ONE `sendmmsg` (a
 *   mixer tick for 30 listeners is one system call instead of 30 ops). Receiving: a `poll()`
 *   on a thread of Deno's blocking pool waits for the first datagram, then a batch window
 *   (growing with what the last take found, up to `setBatchMs`: the relay uses 4 ms while
 *   video arrives, 20 ms otherwise, which mixer ticks never let pass) lets more arrive, and
 *   one `recvmmsg` takes them all; while takes keep finding datagrams the next one is on a
 *   timer (at least 1 ms on), and only a take that finds none waits in `poll()` again.
 *   `drain()` (the server calls it right before each mixer tick) takes what is there at once.
 *   So a lone packet is taken almost at once, a busy socket is read once per window whatever
 *   its rate, and a quiet one costs nothing. The process wakes once per take instead of once
 *   per datagram, and makes one system call per batch (README, Benchmarks, has the figures).
 *
 * `openDatagramIo(address, "auto")` takes `batched` where it can (Linux on x86-64 or arm64,
 * FFI allowed for libc, an IPv4 address) and `deno` otherwise.
 *
 * @example
 * ```ts
 * const io = openDatagramIo({ hostname: "127.0.0.1", port: 0 }, "auto");
 * console.log(io.addr.port); // the port it got
 * io.start((bytes, from) => io.send(bytes, from)); // an echo server
 * await io.close();
 * ```
 * @module
 */

import { log } from "../util/log.ts";

/** Which datagram I/O to use: `auto` prefers `batched` where it works. */
export type DatagramIoMode = "auto" | "batched" | "deno";

/** Counters of a {@linkcode DatagramIo}. */
export interface DatagramIoStats {
  /** `deno` or `batched`. */
  kind: "deno" | "batched";
  /** Why `auto` did not get `batched`, when it did not. */
  fallbackReason?: string;
  /** Datagrams handed out for sending. */
  sent: number;
  /** Datagrams the system refused to send (e.g. a full send buffer). */
  sendErrors: number;
  /** System calls (or ops) made to send and to receive. */
  sendCalls: number;
  receiveCalls: number;
  /**
   * The socket's receive buffer, bytes, as the kernel granted it (batched: it asks for 4 MiB,
   * capped by `net.core.rmem_max`). Datagrams that arrive while it is full are lost.
   */
  receiveBufferBytes?: number;
}

/**
 * Sends and receives datagrams on one socket.
 *
 * @example
 * ```ts
 * function echo(io: DatagramIo) {
 *   io.start((bytes, from) => io.send(bytes, from));
 * }
 * ```
 */
export interface DatagramIo {
  /** The address the socket is bound to (the port it got, when asked for 0). */
  readonly addr: Deno.NetAddr;
  readonly stats: DatagramIoStats;
  /**
   * Starts receiving: `onDatagram` gets every datagram of up to `maxBytes` bytes with its
   * source; a longer one arrives cut to `maxBytes + 1` bytes so that it can be refused.
   */
  start(onDatagram: (bytes: Uint8Array, from: Deno.NetAddr) => void): void;
  /**
   * Queues one datagram; the bytes must not change until it is sent. One longer than
   * {@linkcode MAX_DATAGRAM} is not sent (a send error).
   */
  send(bytes: Uint8Array, to: Deno.NetAddr): void;
  /**
   * Hands over at once the datagrams that have arrived and wait for the batch window to end
   * (batched); nothing to do where each datagram is handed over as it comes.
   */
  drain(): void;
  /**
   * Sets how long a batched form lets datagrams gather after the first arrives: short where
   * they must not wait (video being forwarded), long where a regular `drain()` already takes
   * them (audio for the mixer). Nothing to do where each datagram is handed over as it comes.
   */
  setBatchMs(ms: number): void;
  /** Stops receiving and closes the socket. Idempotent. */
  close(): Promise<void>;
}

/** Largest datagram either form reads. */
export const MAX_DATAGRAM = 1500;

/** Where a datagram socket is bound: an IP literal (or a name Deno resolves) and a port. */
export interface DatagramAddress {
  hostname: string;
  /** 0 for any free port. */
  port: number;
}

/**
 * Opens a socket bound to `address` with the datagram I/O `mode` asks for (see the module
 * documentation). `batched` throws if it cannot be had; `auto` falls back to `deno`. A
 * failure to bind throws Deno's own error (`Deno.errors.AddrInUse` for a port in use).
 *
 * @example
 * ```ts
 * const io = openDatagramIo({ hostname: "0.0.0.0", port: 5004 }, "auto");
 * console.log(io.stats.kind); // "batched" on Linux with FFI allowed, else "deno"
 * ```
 */
export function openDatagramIo(address: DatagramAddress, mode: DatagramIoMode): DatagramIo {
  if (mode === "deno") return new DenoDatagramIo(address);
  try {
    return new BatchedDatagramIo(address);
  } catch (err) {
    // Deno names a bind failure (in use, not an address of this machine, no permission).
    if (err instanceof BindError) new DenoDatagramIo(address).close();
    if (mode === "batched") throw err;
    const io = new DenoDatagramIo(address);
    io.stats.fallbackReason = (err as Error).message;
    return io;
  }
}

/** The batched form's socket could not be bound (Deno's own bind says why). */
class BindError extends Error {}

/**
 * Datagram I/O through Deno's own socket ops, one async op per datagram.
 *
 * @example
 * ```ts
 * const io = new DenoDatagramIo({ hostname: "127.0.0.1", port: 0 });
 * ```
 */
export class DenoDatagramIo implements DatagramIo {
  readonly addr: Deno.NetAddr;
  readonly stats: DatagramIoStats = {
    kind: "deno",
    sent: 0,
    sendErrors: 0,
    sendCalls: 0,
    receiveCalls: 0,
  };
  #socket: Deno.DatagramConn;
  #closed = false;
  #done: Promise<void> = Promise.resolve();

  /** Binds a socket to `address` (throws Deno's error when it cannot). */
  constructor(address: DatagramAddress) {
    this.#socket = Deno.listenDatagram({ transport: "udp", ...address });
    this.addr = this.#socket.addr as Deno.NetAddr;
  }

  start(onDatagram: (bytes: Uint8Array, from: Deno.NetAddr) => void): void {
    this.#done = this.#receiveLoop(onDatagram);
  }

  send(bytes: Uint8Array, to: Deno.NetAddr): void {
    if (this.#closed) return;
    if (bytes.length > MAX_DATAGRAM) {
      this.stats.sendErrors++;
      return;
    }
    this.stats.sendCalls++;
    this.#socket.send(bytes, to).then(
      () => this.stats.sent++,
      () => this.stats.sendErrors++,
    );
  }

  drain(): void {} // each datagram is handed over as it arrives

  setBatchMs(_ms: number): void {}

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#socket.close();
    } catch { /* already closed */ }
    await this.#done;
  }

  async #receiveLoop(onDatagram: (bytes: Uint8Array, from: Deno.NetAddr) => void) {
    while (!this.#closed) {
      let datagram: [Uint8Array, Deno.Addr];
      try {
        this.stats.receiveCalls++;
        datagram = await this.#socket.receive(new Uint8Array(MAX_DATAGRAM + 1));
      } catch (err) {
        if (this.#closed) return;
        log.error("udp_receive_failed", "UDP receive failed", { error: err });
        continue;
      }
      try {
        onDatagram(datagram[0], datagram[1] as Deno.NetAddr);
      } catch (err) {
        log.error("udp_datagram_failed", "UDP datagram handling failed", { error: err });
      }
    }
  }
}

// --- batched: libc over FFI ------------------------------------------------------------------

const LIBC_PATHS: Partial<Record<typeof Deno.build.arch, string>> = {
  x86_64: "/usr/lib/x86_64-linux-gnu/libc.so.6",
  aarch64: "/usr/lib/aarch64-linux-gnu/libc.so.6",
};

const LIBC_SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  recvmmsg: { parameters: ["i32", "buffer", "u32", "i32", "pointer"], result: "i32" },
  sendmmsg: { parameters: ["i32", "buffer", "u32", "i32"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  // Waits on a thread of Deno's blocking pool, so the event loop sleeps meanwhile.
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
  // memmove(p, p, 0) returns p: the address of a buffer, which the headers must hold.
  // (Deno.UnsafePointer.of would need FFI permission for everything, not just libc.)
  addressOf: { name: "memmove", parameters: ["buffer", "buffer", "usize"], result: "usize" },
} as const;

type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>;

const AF_INET = 2;
const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0x800;
const SOCK_CLOEXEC = 0x80000;
const EFD_NONBLOCK = 0x800;
const EFD_CLOEXEC = 0x80000;
const POLLIN = 1;
const MSG_DONTWAIT = 0x40;
/** Receive buffer asked for; the kernel caps it at `net.core.rmem_max` (doubled). */
const RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;
/** Linux LP64 layouts: struct mmsghdr (msghdr + msg_len, padded), iovec, sockaddr_in. */
const MMSGHDR_BYTES = 64;
const IOVEC_BYTES = 16;
const SOCKADDR_BYTES = 16;
/** Datagrams per system call. */
const BATCH = 64;
/** The batch window after a wake: this much per datagram the last take found, up to `batchMs`. */
const WINDOW_PER_DATAGRAM_MS = 0.25;
/**
 * While datagrams keep coming, the next take is at least this much later, ms: a socket that
 * gets one every millisecond or so is read on the timer (a few us a take) rather than waking
 * a `poll()` for each (about 40 us); a datagram waits at most this long more.
 */
const BUSY_WINDOW_MIN_MS = 1;

/** Slots of datagrams with their addresses, laid out once for recvmmsg or sendmmsg. */
class MessageSlots {
  readonly headers = new Uint8Array(BATCH * MMSGHDR_BYTES);
  readonly data: Uint8Array;
  readonly names = new Uint8Array(BATCH * SOCKADDR_BYTES);
  readonly headerView = new DataView(this.headers.buffer);
  readonly nameView = new DataView(this.names.buffer);
  readonly slotBytes: number;
  #iovecs = new Uint8Array(BATCH * IOVEC_BYTES);
  #iovecView = new DataView(this.#iovecs.buffer);

  /**
   * Every buffer here is far larger than V8's 64-byte limit for typed arrays kept inside the
   * JS heap, so each lives outside it and never moves: the addresses stay valid.
   */
  constructor(libc: Libc, slotBytes: number) {
    this.slotBytes = slotBytes;
    this.data = new Uint8Array(BATCH * slotBytes);
    const address = (bytes: Uint8Array) => BigInt(libc.symbols.addressOf(bytes, bytes, 0n));
    const data = address(this.data);
    const names = address(this.names);
    const iovecs = address(this.#iovecs);
    for (let i = 0; i < BATCH; i++) {
      this.#iovecView.setBigUint64(i * IOVEC_BYTES, data + BigInt(i * slotBytes), true);
      this.setLength(i, slotBytes);
      const h = i * MMSGHDR_BYTES;
      this.headerView.setBigUint64(h, names + BigInt(i * SOCKADDR_BYTES), true); // msg_name
      this.headerView.setUint32(h + 8, SOCKADDR_BYTES, true); // msg_namelen
      this.headerView.setBigUint64(h + 16, iovecs + BigInt(i * IOVEC_BYTES), true); // msg_iov
      this.headerView.setBigUint64(h + 24, 1n, true); // msg_iovlen
    }
  }

  /** Sets the iovec length of slot `i`. */
  setLength(i: number, length: number): void {
    this.#iovecView.setUint32(i * IOVEC_BYTES + 8, length, true);
    this.#iovecView.setUint32(i * IOVEC_BYTES + 12, 0, true);
  }

  /** msg_len of slot `i`: bytes received into it. */
  received(i: number): number {
    return this.headerView.getUint32(i * MMSGHDR_BYTES + 56, true);
  }

  /** Resets msg_namelen of the first `count` slots (the kernel overwrites it). */
  resetNames(count: number): void {
    for (let i = 0; i < count; i++) {
      this.headerView.setUint32(i * MMSGHDR_BYTES + 8, SOCKADDR_BYTES, true);
    }
  }
}

/**
 * Datagram I/O through libc on a socket of its own: `sendmmsg` for everything queued in one
 * turn, `recvmmsg` for everything that arrived within the batch window after the first
 * datagram (or at a `drain()`). Linux only; IPv4 only.
 *
 * Deno never sees the socket: it is made with `socket()` and `bind()` here, so Deno's event
 * loop does not wake for each datagram that arrives (about 1,500 wake-ups a second for 30
 * plain-RTP senders, as many as the per-datagram ops this class saves). The wait for the next
 * datagram is a `poll()` on a thread of Deno's blocking pool: the event loop sleeps
 * meanwhile, and a quiet socket costs nothing.
 *
 * @example
 * ```ts
 * const io = new BatchedDatagramIo({ hostname: "127.0.0.1", port: 0 }, { batchMs: 2 });
 * console.log(io.addr.port); // throws, above, where it cannot work
 * ```
 */
export class BatchedDatagramIo implements DatagramIo {
  readonly addr: Deno.NetAddr;
  readonly stats: DatagramIoStats = {
    kind: "batched",
    sent: 0,
    sendErrors: 0,
    sendCalls: 0,
    receiveCalls: 0,
  };
  /** Times a `poll()` came back with a datagram waiting (each starts a batch window). */
  wakes = 0;
  /** Takes that found datagrams and so scheduled the next take on a timer, without a `poll()`. */
  busyTakes = 0;

  /** The batch window the next wake will wait: it grows with what the last take found. */
  get nextWindowMs(): number {
    return Math.min(this.#batchMs, this.#lastTake * WINDOW_PER_DATAGRAM_MS);
  }
  #libc: Libc;
  #fd: number;
  /** Written to end the wait at close. */
  #wakeFd: number;
  /**
   * Two `struct pollfd`: the socket and the wake descriptor. 128 bytes, so that V8 keeps
   * them outside the JS heap, where they do not move while `poll()` runs on another thread.
   */
  #pollFds = new Uint8Array(128);
  /** The `poll()` waiting for the next datagram, if one is. */
  #waiting: Promise<void> | undefined;
  #rx: MessageSlots;
  #tx: MessageSlots;
  #queued = 0;
  #flushScheduled = false;
  #batchMs: number;
  /** Datagrams the last take found (the next window grows with it). */
  #lastTake = 0;
  /** The batch window running after a wake. */
  #timer: ReturnType<typeof setTimeout> | undefined;
  #onDatagram: ((bytes: Uint8Array, from: Deno.NetAddr) => void) | undefined;
  #closed = false;
  /** Destination address objects as `sockaddr_in`, with what they said (see `#sockaddrOf`). */
  #sockaddrs = new WeakMap<Deno.NetAddr, { hostname: string; port: number; name: Uint8Array }>();

  /**
   * Opens a socket bound to `address` (an IPv4 literal; port 0 for any free one).
   *
   * @param options.batchMs after the first datagram arrives, how long more may gather
   *   before all are taken (default 2 ms)
   */
  constructor(address: DatagramAddress, options: { batchMs?: number } = {}) {
    if (Deno.build.os !== "linux") throw new Error("batched datagram I/O needs Linux");
    const path = LIBC_PATHS[Deno.build.arch];
    if (!path) throw new Error(`batched datagram I/O: no libc path for ${Deno.build.arch}`);
    const octets = ipv4Octets(address.hostname);
    if (!octets) throw new Error("batched datagram I/O: IPv4 addresses only");
    if (!Number.isInteger(address.port) || address.port < 0 || address.port > 65_535) {
      throw new RangeError(`batched datagram I/O: bad port ${address.port}`);
    }
    this.#libc = Deno.dlopen(path, LIBC_SYMBOLS);
    const libc = this.#libc.symbols;
    this.#fd = this.#wakeFd = -1;
    try {
      this.#fd = libc.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (this.#fd < 0) throw new Error("batched datagram I/O: socket() failed");
      // Before bind: datagrams that come at once find the larger buffer.
      this.stats.receiveBufferBytes = growReceiveBuffer(this.#libc, this.#fd, RECEIVE_BUFFER_BYTES);
      const name = new Uint8Array(SOCKADDR_BYTES);
      writeSockaddrIn(new DataView(name.buffer), 0, octets, address.port);
      if (libc.bind(this.#fd, name, SOCKADDR_BYTES) !== 0) {
        throw new BindError(
          `batched datagram I/O: cannot bind ${address.hostname}:${address.port}`,
        );
      }
      const length = new Uint32Array([SOCKADDR_BYTES]);
      if (libc.getsockname(this.#fd, name, length) !== 0) {
        throw new Error("batched datagram I/O: getsockname() failed");
      }
      this.addr = readSockaddrIn(new DataView(name.buffer), 0);
      this.#wakeFd = libc.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      if (this.#wakeFd < 0) throw new Error("batched datagram I/O: eventfd() failed");
    } catch (err) {
      if (this.#fd >= 0) libc.close(this.#fd);
      if (this.#wakeFd >= 0) libc.close(this.#wakeFd);
      this.#libc.close();
      throw err;
    }
    const fds = new DataView(this.#pollFds.buffer);
    fds.setInt32(0, this.#fd, true);
    fds.setInt16(4, POLLIN, true);
    fds.setInt32(8, this.#wakeFd, true);
    fds.setInt16(12, POLLIN, true);
    this.#rx = new MessageSlots(this.#libc, MAX_DATAGRAM + 1);
    this.#tx = new MessageSlots(this.#libc, MAX_DATAGRAM);
    this.#batchMs = options.batchMs ?? 2;
  }

  start(onDatagram: (bytes: Uint8Array, from: Deno.NetAddr) => void): void {
    if (this.#onDatagram || this.#closed) return;
    this.#onDatagram = onDatagram;
    this.#take();
  }

  drain(): void {
    // The wait or the batch window going on finds less, or nothing, when it ends.
    if (this.#closed || !this.#onDatagram) return;
    this.#receive();
  }

  setBatchMs(ms: number): void {
    this.#batchMs = Math.max(0, ms);
  }

  send(bytes: Uint8Array, to: Deno.NetAddr): void {
    if (this.#closed) return;
    const name = this.#sockaddrOf(to);
    if (bytes.length > MAX_DATAGRAM || !name) { // an IPv4 socket sends to IPv4 literals only
      this.stats.sendErrors++;
      return;
    }
    const i = this.#queued++;
    this.#tx.data.set(bytes, i * MAX_DATAGRAM);
    this.#tx.setLength(i, bytes.length);
    this.#tx.names.set(name, i * SOCKADDR_BYTES);
    if (this.#queued === BATCH) this.#flush();
    else if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(() => this.#flush());
    }
  }

  /**
   * `to` as a `sockaddr_in`, or null for what is not an IPv4 literal. Kept per address
   * object: a seat's transport sends every packet to the same one, and parsing its text for
   * each of them was a tenth of the fan-out's cost.
   */
  #sockaddrOf(to: Deno.NetAddr): Uint8Array | null {
    const known = this.#sockaddrs.get(to);
    if (known && known.hostname === to.hostname && known.port === to.port) return known.name;
    const octets = ipv4Octets(to.hostname);
    if (!octets) return null;
    const name = new Uint8Array(SOCKADDR_BYTES);
    writeSockaddrIn(new DataView(name.buffer), 0, octets, to.port);
    this.#sockaddrs.set(to, { hostname: to.hostname, port: to.port, name });
    return name;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
    clearTimeout(this.#timer);
    if (this.#waiting) {
      this.#libc.symbols.write(this.#wakeFd, new BigUint64Array([1n]), 8n);
      await this.#waiting; // the blocking-pool thread must be done with the descriptors
    }
    this.#libc.symbols.close(this.#wakeFd);
    this.#libc.symbols.close(this.#fd);
    this.#libc.close();
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#closed || this.#queued === 0) return;
    const count = this.#queued;
    this.#queued = 0;
    let done = 0;
    let sent = 0;
    // sendmmsg stops at the first message the kernel refuses (a destination it will not
    // send to, a full buffer) and returns how many went before it (or -1 when it was the
    // first). Skip that one, count it, and send the rest: one bad destination must not
    // drop the other meetings' packets. Each call makes progress: at most 2 * count calls.
    while (done < count) {
      this.stats.sendCalls++;
      const headers = done === 0
        ? this.#tx.headers
        : this.#tx.headers.subarray(done * MMSGHDR_BYTES);
      const n = this.#libc.symbols.sendmmsg(this.#fd, headers, count - done, MSG_DONTWAIT);
      if (n > 0) {
        done += n;
        sent += n;
      } else {
        done++; // the first remaining message failed: skip it
        this.stats.sendErrors++;
      }
    }
    this.stats.sent += sent;
  }

  /**
   * Takes what has arrived, then waits for the next datagram: while datagrams keep coming,
   * the next take is a timer at the end of the next window; once a take finds none, a
   * `poll()` waits for the next. A `poll()` on the blocking pool costs about 40 us of CPU (a
   * hand-off to another thread and back): woken for each datagram or two, 5 senders to 100
   * receivers (their reports coming in between the video) spent a tenth of a core on them.
   */
  #take(): void {
    this.#timer = undefined;
    if (this.#closed) return;
    this.#lastTake = this.#receive();
    if (this.#lastTake > 0) {
      this.busyTakes++;
      this.#timer = setTimeout(
        () => this.#take(),
        Math.max(BUSY_WINDOW_MIN_MS, this.nextWindowMs),
      );
    } else {
      this.#wait();
    }
  }

  /** Waits in `poll()` off the event loop for a datagram (or `close()`), then lets a batch gather. */
  #wait(): void {
    if (this.#closed || this.#waiting) return;
    this.#waiting = this.#libc.symbols.poll(this.#pollFds, 2n, -1).then(() => {
      this.#waiting = undefined;
      if (this.#closed) return;
      this.wakes++;
      // The window grows with what the last take found: a lone datagram (a few senders) is
      // taken at once, a busy socket is read once per `batchMs`. (A timer is never shorter
      // than about 2 ms here, whatever it asks: under a millisecond, take now.)
      const windowMs = this.nextWindowMs;
      if (windowMs < 1) this.#take();
      else this.#timer = setTimeout(() => this.#take(), windowMs);
    });
  }

  #deliver(bytes: Uint8Array, from: Deno.NetAddr): void {
    try {
      this.#onDatagram!(bytes, from);
    } catch (err) {
      log.error("udp_datagram_failed", "UDP datagram handling failed", { error: err });
    }
  }

  /** Receives and hands over every waiting datagram; returns how many. */
  #receive(): number {
    let got = 0;
    for (;;) {
      this.#rx.resetNames(BATCH);
      this.stats.receiveCalls++;
      const n = this.#libc.symbols.recvmmsg(this.#fd, this.#rx.headers, BATCH, MSG_DONTWAIT, null);
      if (n <= 0) break;
      got += n;
      // One buffer for the whole batch (each datagram a view of it): one allocation per
      // take instead of one per datagram.
      let total = 0;
      for (let i = 0; i < n; i++) total += this.#rx.received(i);
      const batch = new Uint8Array(total);
      for (let i = 0, at = 0; i < n; i++) {
        const length = this.#rx.received(i);
        const start = i * this.#rx.slotBytes;
        batch.set(this.#rx.data.subarray(start, start + length), at);
        const bytes = batch.subarray(at, at + length);
        at += length;
        this.#deliver(bytes, readSockaddrIn(this.#rx.nameView, i * SOCKADDR_BYTES));
      }
      if (n < BATCH) break;
    }
    this.#flush(); // what the batch produced (forwarded video, bind replies) goes out now
    return got;
  }
}

/** Asks for a receive buffer of `bytes`; returns what the kernel granted (as it counts). */
function growReceiveBuffer(libc: Libc, fd: number, bytes: number): number {
  libc.symbols.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, new Int32Array([bytes]), 4);
  const granted = new Int32Array(1);
  libc.symbols.getsockopt(fd, SOL_SOCKET, SO_RCVBUF, granted, new Uint32Array([4]));
  return granted[0];
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** The four octets of a dotted-quad IPv4 address, or null. */
function ipv4Octets(hostname: string): number[] | null {
  const m = IPV4.exec(hostname);
  if (!m) return null;
  const octets = [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])];
  return octets.every((o) => o <= 255) ? octets : null;
}

function writeSockaddrIn(view: DataView, offset: number, octets: number[], port: number): void {
  view.setUint16(offset, AF_INET, true);
  view.setUint16(offset + 2, port, false);
  for (let i = 0; i < 4; i++) view.setUint8(offset + 4 + i, octets[i]);
  view.setUint32(offset + 8, 0);
  view.setUint32(offset + 12, 0);
}

function readSockaddrIn(view: DataView, offset: number): Deno.NetAddr {
  const hostname = `${view.getUint8(offset + 4)}.${view.getUint8(offset + 5)}.` +
    `${view.getUint8(offset + 6)}.${view.getUint8(offset + 7)}`;
  return { transport: "udp", hostname, port: view.getUint16(offset + 2, false) };
}
