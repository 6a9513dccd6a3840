/**
 * Datagram I/O for the UDP endpoint, in two interchangeable forms over one socket opened with
 * `Deno.listenDatagram`:
 *
 * - `deno`: `socket.receive()` in a loop and one `socket.send()` per datagram. Each is an
 *   async op, about 15 us of the main thread on top of the system call, and each arriving
 *   datagram wakes the event loop.
 * - `batched` (Linux): the socket driven through libc over FFI, out of sight of Deno's event
 *   loop. Sends queued in one turn of the event loop go out in ONE `sendmmsg` (a mixer tick
 *   for 30 listeners is one system call instead of 30 ops). While datagrams flow, receiving
 *   takes what has arrived with `recvmmsg` whenever `drain()` is called (the server calls it
 *   right before each mixer tick) and `pollMs` after the last take (set by the user: the
 *   relay uses 10 ms while video arrives, 20 ms otherwise, which mixer ticks never let pass),
 *   and hands each batch over at once. After a second without any it waits in a `poll()`
 *   call on another thread, which costs nothing while the socket is quiet. The price is up
 *   to `pollMs` of added delay on arrival. The gain: the process wakes once per take instead
 *   of once per datagram, and makes one system call per batch (README, Benchmarks, has the
 *   figures).
 *
 * `openDatagramIo(socket, "auto")` takes `batched` where it can (Linux on x86-64 or arm64,
 * FFI allowed for libc, an IPv4 socket) and `deno` otherwise.
 *
 * @example
 * ```ts
 * const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
 * const io = openDatagramIo(socket, "auto");
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
   * Hands over at once the datagrams that have arrived and wait for the next poll (batched);
   * nothing to do where each datagram is handed over as it comes.
   */
  drain(): void;
  /**
   * Sets how often a batched form polls while datagrams flow: short where datagrams must not
   * wait (video being forwarded), long where a regular `drain()` already takes them (audio
   * for the mixer). Nothing to do where each datagram is handed over as it comes.
   */
  setPollMs(ms: number): void;
  /** Stops receiving and closes the socket. Idempotent. */
  close(): Promise<void>;
}

/** Largest datagram either form reads. */
export const MAX_DATAGRAM = 1500;

/**
 * Opens the datagram I/O `mode` asks for on `socket` (see the module documentation).
 * `batched` throws if it cannot be had; `auto` falls back to `deno`.
 *
 * @example
 * ```ts
 * const io = openDatagramIo(Deno.listenDatagram({ transport: "udp", port: 5004 }), "auto");
 * console.log(io.stats.kind); // "batched" on Linux with FFI allowed, else "deno"
 * ```
 */
export function openDatagramIo(socket: Deno.DatagramConn, mode: DatagramIoMode): DatagramIo {
  if (mode === "deno") return new DenoDatagramIo(socket);
  try {
    return new BatchedDatagramIo(socket);
  } catch (err) {
    if (mode === "batched") throw err;
    const io = new DenoDatagramIo(socket);
    io.stats.fallbackReason = (err as Error).message;
    return io;
  }
}

/**
 * Datagram I/O through Deno's own socket ops, one async op per datagram.
 *
 * @example
 * ```ts
 * const io = new DenoDatagramIo(Deno.listenDatagram({ transport: "udp", port: 0 }));
 * ```
 */
export class DenoDatagramIo implements DatagramIo {
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

  constructor(socket: Deno.DatagramConn) {
    this.#socket = socket;
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

  setPollMs(_ms: number): void {}

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
  recvmmsg: { parameters: ["i32", "buffer", "u32", "i32", "pointer"], result: "i32" },
  sendmmsg: { parameters: ["i32", "buffer", "u32", "i32"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  epoll_ctl: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
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
const SO_TYPE = 3;
const SO_RCVBUF = 8;
const SOCK_DGRAM = 2;
const EPOLL_CTL_DEL = 2;
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
 * Datagram I/O through libc: `sendmmsg` for everything queued in one turn, `recvmmsg`
 * polled on a timer. Linux only; IPv4 sockets only.
 *
 * It takes the socket over: Deno's event loop watches the socket it opened and wakes up for
 * every datagram that arrives, even with no receive pending (about 1,500 wake-ups a second
 * for 30 plain-RTP senders, as many as the per-datagram ops this class saves). So the socket
 * is taken out of the event loop's epoll set: datagrams wait in it for the next poll. From
 * then on only this class reads and writes it; Deno's handle is kept to close it. When the
 * socket has been quiet for `idleAfterMs`, polling stops and a `poll()` system call waits
 * for the next datagram on a thread of Deno's blocking pool, so an idle relay costs nothing.
 *
 * @example
 * ```ts
 * const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
 * const io = new BatchedDatagramIo(socket, { pollMs: 2 }); // throws where it cannot work
 * ```
 */
export class BatchedDatagramIo implements DatagramIo {
  readonly stats: DatagramIoStats = {
    kind: "batched",
    sent: 0,
    sendErrors: 0,
    sendCalls: 0,
    receiveCalls: 0,
  };
  /**
   * How many epoll sets stopped watching the socket when it was taken over: 1, Deno's event
   * loop (0 would mean nothing watched it, and the takeover had nothing to do).
   */
  readonly epollSetsLeft: number = 0;
  #socket: Deno.DatagramConn;
  #libc: Libc;
  #fd: number;
  /** Written to end an idle wait at close. */
  #wakeFd: number;
  /**
   * Two `struct pollfd`: the socket and the wake descriptor. 128 bytes, so that V8 keeps
   * them outside the JS heap, where they do not move while `poll()` runs on another thread.
   */
  #pollFds = new Uint8Array(128);
  #idleWait: Promise<void> | undefined;
  #rx: MessageSlots;
  #tx: MessageSlots;
  #queued = 0;
  #flushScheduled = false;
  #pollMs: number;
  #idleAfterMs: number;
  #lastDatagramAt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #onDatagram: ((bytes: Uint8Array, from: Deno.NetAddr) => void) | undefined;
  #closed = false;

  /**
   * Takes over I/O on `socket`, which is closed by `close()` and must not be used meanwhile.
   *
   * @param options.pollMs receive poll period while datagrams flow (default 10 ms)
   * @param options.idleAfterMs without datagrams for this long, stop polling and wait for
   *   the next one (default 1000 ms)
   */
  constructor(socket: Deno.DatagramConn, options: { pollMs?: number; idleAfterMs?: number } = {}) {
    if (Deno.build.os !== "linux") throw new Error("batched datagram I/O needs Linux");
    const path = LIBC_PATHS[Deno.build.arch];
    if (!path) throw new Error(`batched datagram I/O: no libc path for ${Deno.build.arch}`);
    const addr = socket.addr as Deno.NetAddr;
    if (!ipv4Octets(addr.hostname)) throw new Error("batched datagram I/O: IPv4 sockets only");
    this.#libc = Deno.dlopen(path, LIBC_SYMBOLS);
    this.#wakeFd = -1;
    try {
      this.#fd = findDatagramFd(this.#libc, addr.port);
      this.#wakeFd = this.#libc.symbols.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      if (this.#wakeFd < 0) throw new Error("batched datagram I/O: eventfd() failed");
      this.epollSetsLeft = unwatch(this.#libc, this.#fd);
      this.stats.receiveBufferBytes = growReceiveBuffer(this.#libc, this.#fd, RECEIVE_BUFFER_BYTES);
    } catch (err) {
      if (this.#wakeFd >= 0) this.#libc.symbols.close(this.#wakeFd);
      this.#libc.close();
      throw err;
    }
    this.#socket = socket;
    const fds = new DataView(this.#pollFds.buffer);
    fds.setInt32(0, this.#fd, true);
    fds.setInt16(4, POLLIN, true);
    fds.setInt32(8, this.#wakeFd, true);
    fds.setInt16(12, POLLIN, true);
    this.#rx = new MessageSlots(this.#libc, MAX_DATAGRAM + 1);
    this.#tx = new MessageSlots(this.#libc, MAX_DATAGRAM);
    this.#pollMs = options.pollMs ?? 10;
    this.#idleAfterMs = options.idleAfterMs ?? 1000;
  }

  start(onDatagram: (bytes: Uint8Array, from: Deno.NetAddr) => void): void {
    this.#onDatagram = onDatagram;
    this.#poll();
  }

  drain(): void {
    // While idle, the pending poll() hands over the first datagram that comes.
    if (this.#closed || this.#idleWait || !this.#onDatagram) return;
    // The next poll is a full period from now: drains as frequent as the period (a mixer
    // ticking every 20 ms) leave the timer nothing to do, and the process sleeps between.
    // A drain that finds the socket quiet for long enough goes idle itself: the timer it
    // keeps putting off would otherwise never get to.
    clearTimeout(this.#timer);
    this.#take();
  }

  setPollMs(ms: number): void {
    if (ms === this.#pollMs) return;
    this.#pollMs = ms;
    if (this.#closed || this.#idleWait || !this.#onDatagram) return;
    clearTimeout(this.#timer);
    this.#schedulePoll(ms);
  }

  send(bytes: Uint8Array, to: Deno.NetAddr): void {
    if (this.#closed) return;
    const octets = ipv4Octets(to.hostname);
    if (bytes.length > MAX_DATAGRAM || !octets) { // an IPv4 socket sends to IPv4 literals only
      this.stats.sendErrors++;
      return;
    }
    const i = this.#queued++;
    this.#tx.data.set(bytes, i * MAX_DATAGRAM);
    this.#tx.setLength(i, bytes.length);
    writeSockaddrIn(this.#tx.nameView, i * SOCKADDR_BYTES, octets, to.port);
    if (this.#queued === BATCH) this.#flush();
    else if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(() => this.#flush());
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
    clearTimeout(this.#timer);
    if (this.#idleWait) {
      this.#libc.symbols.write(this.#wakeFd, new BigUint64Array([1n]), 8n);
      await this.#idleWait; // the blocking-pool thread must be done with the descriptors
    }
    this.#libc.symbols.close(this.#wakeFd);
    this.#libc.close();
    try {
      this.#socket.close(); // closes the descriptor, i.e. the socket taken over
    } catch { /* already closed */ }
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

  #schedulePoll(delayMs: number): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => this.#poll(), delayMs);
  }

  /** Quiet: wait in `poll()` off the event loop until a datagram comes (or `close()`). */
  #waitIdle(): void {
    this.#idleWait = this.#libc.symbols.poll(this.#pollFds, 2n, -1).then(() => {
      this.#idleWait = undefined;
      this.#poll();
    });
  }

  #deliver(bytes: Uint8Array, from: Deno.NetAddr): void {
    try {
      this.#onDatagram!(bytes, from);
    } catch (err) {
      log.error("udp_datagram_failed", "UDP datagram handling failed", { error: err });
    }
  }

  #poll(): void {
    if (this.#closed) return;
    this.#take();
  }

  /** Takes what has arrived, then polls again a period later, or waits idle if quiet. */
  #take(): void {
    const got = this.#receive();
    const now = performance.now();
    if (got > 0) this.#lastDatagramAt = now;
    if (now - this.#lastDatagramAt < this.#idleAfterMs) this.#schedulePoll(this.#pollMs);
    else this.#waitIdle();
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
      // poll instead of one per datagram.
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

/**
 * Takes descriptor `fd` (Deno's socket) out of every epoll set that watches it, i.e. Deno's
 * event loop: `epoll_ctl(EPOLL_CTL_DEL)` succeeds only on an epoll instance that holds the
 * socket (any other descriptor answers EINVAL or ENOENT). The socket itself stays as it is:
 * same address, no datagram lost. Deno still holds it and closes it; its own attempt to
 * leave the epoll set then fails, which it ignores. Returns how many sets it left.
 */
function unwatch(libc: Libc, fd: number): number {
  const event = new Uint8Array(16); // ignored for EPOLL_CTL_DEL, but must be valid memory
  let left = 0;
  for (let ep = 0; ep < MAX_FD; ep++) {
    if (ep !== fd && libc.symbols.epoll_ctl(ep, EPOLL_CTL_DEL, fd, event) === 0) left++;
  }
  return left;
}

/** Asks for a receive buffer of `bytes`; returns what the kernel granted (as it counts). */
function growReceiveBuffer(libc: Libc, fd: number, bytes: number): number {
  libc.symbols.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, new Int32Array([bytes]), 4);
  const granted = new Int32Array(1);
  libc.symbols.getsockopt(fd, SOL_SOCKET, SO_RCVBUF, granted, new Uint32Array([4]));
  return granted[0];
}

/** Descriptors searched for the socket: it is opened at start, so it has a low number. */
const MAX_FD = 4096;

/**
 * The descriptor of this process' IPv4 datagram socket bound to `port`, found by asking each
 * descriptor what it is (Deno does not expose it; reading /proc/self/fd would need every
 * permission).
 */
function findDatagramFd(libc: Libc, port: number): number {
  const found: number[] = [];
  const name = new Uint8Array(128);
  const nameView = new DataView(name.buffer);
  const length = new Uint32Array(1);
  const type = new Int32Array(1);
  for (let fd = 0; fd < MAX_FD; fd++) {
    length[0] = 4;
    if (libc.symbols.getsockopt(fd, SOL_SOCKET, SO_TYPE, type, length) !== 0) continue;
    if (type[0] !== SOCK_DGRAM) continue;
    length[0] = name.length;
    if (libc.symbols.getsockname(fd, name, length) !== 0) continue;
    if (nameView.getUint16(0, true) !== AF_INET) continue;
    if (nameView.getUint16(2, false) === port) found.push(fd);
  }
  if (found.length !== 1) {
    throw new Error(`${found.length} IPv4 UDP sockets on port ${port} in this process`);
  }
  return found[0];
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
