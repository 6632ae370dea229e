/**
 * The AF_PACKET device: a thin TypeScript face over the native addon (native/af_packet.c).
 *
 * The kernel fills a memory-mapped RX ring (TPACKET_V2 frames by default, TPACKET_V3 blocks
 * as an option). The ring is exposed to JS once, as one Buffer; on every poll wakeup the addon
 * writes the offsets, lengths and VLAN metadata of the waiting frames into descriptor arrays
 * allocated here once, and calls us with the count. Nothing is allocated per frame.
 */
import { readFileSync } from 'node:fs';

import { loadAddon as loadNativeAddon } from '../wire/addon.js';
import type { Device, DeviceStats, RxHandler, RxMode, RxVector, TxOffload, TxVector } from './device.js';
import { TX_BACKLOG_BATCHES, TxBacklog, txBatchBytes, type TxKernel, type TxStopReason } from './tx-backlog.js';

export interface AfPacketOptions {
  /** TPACKET_V2 (2, default): frame ring, wakes per frame. TPACKET_V3 (3): block ring, wakes
   * when a block retires (full, or after retireTimeoutMs): up to 1 ms more latency at low load. */
  ringVersion?: 2 | 3;
  /** Ring block size in bytes, a multiple of the page size (default 256 KiB). */
  blockSize?: number;
  /** Number of ring blocks (default 64). */
  blockCount?: number;
  /** Frame slot size (V2; the kernel's minimum granule for V3), multiple of 16 (default 2048). */
  frameSize?: number;
  /** V3 only: ms after which a partly filled block is handed over (default 1, the minimum). */
  retireTimeoutMs?: number;
  /** Frames per handler call (descriptor capacity, default 256). */
  vectorSize?: number;
  /** Handler calls per poll wakeup at most, so the event loop stays fair (default 16). */
  maxVectorsPerWakeup?: number;
  /** PACKET_QDISC_BYPASS: transmit straight to the driver (default true). */
  qdiscBypass?: boolean;
  /** Put the interface in promiscuous mode while the socket is open (default false). */
  promiscuous?: boolean;
  /**
   * SO_SNDBUF in bytes asked for (default: the system's; the TX offload socket asks for 4 MiB).
   * The kernel caps it at net.core.wmem_max and doubles it; `sendBufferSize` on the device is
   * what it granted. SO_SNDBUFFORCE is not used: it needs CAP_NET_ADMIN, which a pod lacks.
   */
  sendBufferSize?: number;
  /** TX backlog bound in dataplane TX batches of `txBatchFrames` frames (default 2, see tx-backlog.ts). */
  txBacklogBatches?: number;
  /** Frames of one dataplane TX batch (default 256), for the backlog bound. */
  txBatchFrames?: number;
  /**
   * TX offload (default true): a second, send-only AF_PACKET socket with PACKET_VNET_HDR, so
   * the kernel completes TCP checksums and segments TCP super-frames (GSO). `txOffload` on the
   * device says whether the kernel accepted it; false keeps the plain path.
   */
  txOffload?: boolean;
  /**
   * False: a send-only socket (bound with protocol 0, so the kernel queues nothing on it; its
   * ring is the smallest one). The control-plane thread sends through one when workers read the
   * queues. Default true.
   */
  receive?: boolean;
  /**
   * This socket is one RX queue of a PACKET_FANOUT_HASH group: 'new' creates the group with an id
   * the kernel picks, unique in the network namespace (PACKET_FANOUT_FLAG_UNIQUEID); { join: id }
   * joins the group another queue created. `fanoutId` on the device is the group's id.
   */
  fanout?: 'new' | { join: number };
  /** rx-mode at start (default 'interrupt'); `setRxMode` changes it at run time. */
  rxMode?: RxMode;
  /** adaptive rx-mode: polling stops after this many ms without a frame (default 20). */
  adaptiveIdleMs?: number;
  /** Errors thrown by the RX handler, and socket errors (e.g. ENETDOWN when the link goes
   * down). Without it a handler error becomes an uncaught exception. */
  onError?: (err: Error) => void;
}

export interface RingInfo {
  version: 2 | 3;
  blockSize: number;
  blockCount: number;
  frameSize: number;
  frameCount: number;
  /** V3 block retire timeout in ms (0 for V2). */
  retireTimeoutMs: number;
}

/** DeviceStats plus what the addon counts itself. */
export interface AfPacketStats extends DeviceStats {
  /** Frames the socket saw, dropped ones included (raw tp_packets). */
  kernelSeen: number;
  rxFrames: number;
  rxBytes: number;
  rxVectors: number;
  rxWakeups: number;
  /** Times a drain found frames that came in while the handler ran and took them in the same wakeup. */
  rxRechecks: number;
  /** PACKET_OUTGOING frames skipped (this host's own output). */
  rxOutgoingSkipped: number;
  /** The rx-mode set, and whether the ring is being polled now (polling, or adaptive under traffic). */
  rxMode: RxMode;
  rxPolling: boolean;
  /** Ring looks on loop turns while polling, and those that found nothing. */
  rxPolls: number;
  rxEmptyPolls: number;
  /** Spun slices (polling) ended early because another fd of the loop had an event (fs work done, a
   *  CLI or management socket, a worker's message): that work waits ~10 µs, not the 100 µs slice. */
  rxSpinBreaks: number;
  /** adaptive: switches from interrupt to polling (a wakeup found frames) and back (idle period over). */
  rxToPolling: number;
  rxToInterrupt: number;
  /** Frames longer than the ring slot, skipped. */
  rxTruncated: number;
  txFrames: number;
  txBytes: number;
  /** Sends the kernel stopped with EAGAIN / ENOBUFS (the frames were held back, not lost). */
  txEagain: number;
  txNobufs: number;
  /** Times the writable watch woke the device to send its backlog (EAGAIN; ENOBUFS retries are timed: txResumes counts both). */
  txWritableWakeups: number;
  /** SO_SNDBUF of the sending socket as granted. */
  txSendBuffer: number;
  txBlocked: number;
  txBacklogged: number;
  txBacklogDrops: number;
  txBacklogFrames: number;
  txBacklogPeak: number;
  txResumes: number;
  /** Frames whose offset/length lay outside the buffer, or were empty. */
  txInvalid: number;
  txOther: number;
  /** Frames sent with checksum offload, and of those, GSO super-frames. */
  txCsumOffloaded: number;
  txGsoFrames: number;
  /** GSO frames of 65,536 bytes or more (L2 included) refused: the kernel would drop them silently. */
  txGsoTooBig: number;
  /**
   * Latency histograms, counts per log2 µs bucket (see latency-histogram.ts): a frame's wait in the
   * ring (its kernel RX timestamp to the drain that picked it up), the JS handler's run per vector,
   * and the drain's start to the return of each send() made inside the handler (a reply handed
   * to the kernel in the vector that carried its request).
   */
  latRingWait: number[];
  latHandler: number[];
  latReply: number[];
  /** errno name of the last TX failure ('' if none). */
  txLastError: string;
  socketErrors: number;
  socketLastError: string;
  handlerErrors: number;
}

/** The addon's class (see native/af_packet.c). */
interface NativeSocket {
  readonly ring: ArrayBuffer;
  readonly ifname: string;
  readonly ifindex: number;
  readonly mtu: number;
  readonly mac: Buffer;
  readonly ringVersion: 2 | 3;
  readonly blockSize: number;
  readonly blockCount: number;
  readonly frameSize: number;
  readonly frameCount: number;
  readonly retireTimeoutMs: number;
  readonly vectorSize: number;
  readonly maxVectorsPerWakeup: number;
  readonly qdiscBypass: boolean;
  readonly ignoreOutgoing: boolean;
  readonly promiscuous: boolean;
  readonly txOffload: boolean;
  readonly sendBufferSize: number;
  readonly receive: boolean;
  readonly fanoutId?: number;
  readonly closed: boolean;
  /** Why the last send() stopped early: 'EAGAIN', 'ENOBUFS', or ''. */
  readonly txStop: string;
  /** Frames the kernel took in the last send(). */
  readonly txAccepted: number;
  /** Index of the frame the last send() stopped at (txStop), or its count when it did not stop. */
  readonly txStopAt: number;
  onWritable(callback: (() => void) | null): void;
  setRxMode(mode: RxMode, adaptiveIdleMs?: number): void;
  watchWritable(on: boolean): void;
  /** PACKET_ADD_MEMBERSHIP (join) / PACKET_DROP_MEMBERSHIP with PACKET_MR_MULTICAST for a 6-byte MAC. */
  multicast(mac: Uint8Array, join: boolean): void;
  start(handler: (count: number, drainNanos: number) => void, onError?: (err: Error) => void): void;
  stop(): void;
  send(
    data: Uint8Array,
    offsets: Uint32Array,
    lengths: Uint32Array,
    count: number,
    csumStart?: Uint16Array,
    gsoSize?: Uint16Array,
    first?: number,
    extData?: readonly (Uint8Array | null)[],
    extOff?: Uint32Array,
    extLen?: Uint32Array,
  ): number;
  /** Writes [kernel frames seen, frames taken out of the ring] into out (a Float64Array of 2 or more). */
  ringCounters(out: Float64Array): void;
  stats(): Omit<AfPacketStats, 'txBlocked' | 'txBacklogged' | 'txBacklogDrops' | 'txBacklogFrames' | 'txBacklogPeak' | 'txResumes'>;
  ref(): void;
  unref(): void;
  close(): void;
}

interface NativeModule {
  AfPacketSocket: new (
    ifname: string,
    options: Record<string, unknown>,
    offset: Uint32Array,
    length: Uint32Array,
    vlanTpid: Uint16Array,
    vlanTci: Uint16Array,
    flags: Uint8Array,
  ) => NativeSocket;
  TX_BATCH_MAX: number;
  /** Pins the calling thread to one CPU; '' or the errno name (EINVAL: no such CPU in the allowed set). */
  setThreadAffinity(cpu: number): string;
  /** The calling thread's kernel thread id (LWP). */
  threadId(): number;
  /** The CPU the calling thread runs on now (-1 if unknown). */
  threadCpu(): number;
}

/** Loads build/Release/af_packet.node once; a clear error if it was not built. */
export function loadAddon(): NativeModule {
  return loadNativeAddon<NativeModule>();
}

/**
 * Defaults. The ring is TPACKET_V2 by default: the kernel wakes us per frame, while TPACKET_V3
 * wakes only when a block retires (full, or after retireTimeoutMs, at least 1 ms), which at
 * light load adds up to a millisecond per hop. Measured with the bench on the flat path, V2
 * against V3: keep-alive GET 82.8k vs 50.4k req/s, ping 261 vs 1081 µs, 10 MB 189 vs 102 MB/s.
 * Under load both drain every frame waiting per wakeup. `vpp-server { ring-version 3 }` selects V3.
 */
export const AF_PACKET_DEFAULTS = {
  ringVersion: 2 as 2 | 3,
  blockSize: 256 * 1024,
  blockCount: 64,
  frameSize: 2048,
  retireTimeoutMs: 1,
  vectorSize: 256,
  rxMode: 'interrupt' as RxMode,
  /** adaptive rx-mode: back to interrupts after this long without a frame (ms). */
  adaptiveIdleMs: 20,
  maxVectorsPerWakeup: 16,
  qdiscBypass: true,
  promiscuous: false,
  txOffload: true,
};

/** An IPv4 packet is at most 65535 bytes; a TCP super-frame is one IPv4 packet. */
const MAX_GSO_BYTES = 65535;
/** ENOBUFS (a full qdisc or driver queue dropped the frame) gives no writable event: retry after this. */
const ENOBUFS_RETRY_MS = 1;

export class AfPacketDevice implements Device {
  readonly ifname: string;
  readonly mac: Buffer;
  readonly mtu: number;
  readonly ifindex: number;
  /** What the kernel accepted: PACKET_QDISC_BYPASS, PACKET_IGNORE_OUTGOING, promiscuous. */
  readonly qdiscBypass: boolean;
  readonly ignoreOutgoing: boolean;
  readonly promiscuous: boolean;
  /** Checksum offload and TCPv4 GSO through the PACKET_VNET_HDR TX socket; undefined when off. */
  readonly txOffload: TxOffload | undefined;
  /** SO_SNDBUF of the socket that sends, as the kernel granted it (bytes). */
  readonly sendBufferSize: number;
  /** False for a send-only socket (options.receive). */
  readonly receives: boolean;
  /** The PACKET_FANOUT_HASH group this RX queue is in, or null. */
  readonly fanoutId: number | null;
  /** The kernel runs IPv6 on this interface itself (read from /proc/sys/net/ipv6/conf at open). */
  readonly kernelIpv6: boolean;

  private readonly sock: NativeSocket;
  private readonly rx: RxVector;
  private readonly onError: ((err: Error) => void) | undefined;
  private handler: RxHandler | undefined;
  private readonly ringInfo: RingInfo;
  /** Frames the kernel refused for now (EAGAIN/ENOBUFS), sent once it takes frames again. */
  private readonly backlog: TxBacklog;
  private retryTimer: NodeJS.Timeout | null = null;
  private mode: RxMode = 'interrupt';

  private constructor(sock: NativeSocket, rx: RxVector, onError: ((err: Error) => void) | undefined, backlogBatches: number, batchFrames: number) {
    this.sock = sock;
    this.rx = rx;
    this.onError = onError;
    this.ifname = sock.ifname;
    this.mac = Buffer.from(sock.mac);
    this.mtu = sock.mtu;
    this.ifindex = sock.ifindex;
    this.qdiscBypass = sock.qdiscBypass;
    this.ignoreOutgoing = sock.ignoreOutgoing;
    this.promiscuous = sock.promiscuous;
    this.txOffload = sock.txOffload ? Object.freeze({ checksum: true, gso: true, maxGsoBytes: MAX_GSO_BYTES }) : undefined;
    this.ringInfo = Object.freeze({
      version: sock.ringVersion,
      blockSize: sock.blockSize,
      blockCount: sock.blockCount,
      frameSize: sock.frameSize,
      frameCount: sock.frameCount,
      retireTimeoutMs: sock.retireTimeoutMs,
    });
    this.sendBufferSize = sock.sendBufferSize;
    this.receives = sock.receive;
    this.fanoutId = sock.fanoutId ?? null;
    this.kernelIpv6 = kernelRunsIpv6(sock.ifname);
    // The addon as the backlog's kernel side.
    const kernel: TxKernel = {
      transmit: (tx, first) => this.transmit(tx, first),
      stopIndex: () => sock.txStopAt,
      get stopReason(): TxStopReason {
        return sock.txStop === 'ENOBUFS' ? 'ENOBUFS' : 'EAGAIN';
      },
      wait: (reason) => this.wait(reason),
      cancel: () => this.cancelWait(),
    };
    // Bounded: TX_BACKLOG_BATCHES dataplane batches, by frames and by bytes, allocated now.
    this.backlog = new TxBacklog(kernel, backlogBatches * batchFrames, backlogBatches * txBatchBytes(batchFrames, this.mtu, this.txOffload !== undefined ? MAX_GSO_BYTES : 0));
    sock.onWritable(this.onWritable);
  }

  /**
   * Opens an AF_PACKET socket on `ifname` in the current network namespace.
   * Throws an Error with `code` 'ENODEV' (no such interface), 'EPERM' (no CAP_NET_RAW),
   * another errno name, or 'ERR_AF_PACKET_NOT_BUILT'.
   */
  static open(ifname: string, options: AfPacketOptions = {}): AfPacketDevice {
    const native = loadAddon();
    const o = { ...AF_PACKET_DEFAULTS, ...stripUndefined(options) };
    if (!Number.isInteger(o.vectorSize) || o.vectorSize < 1 || o.vectorSize > 65536) {
      throw Object.assign(new RangeError('vectorSize must be an integer in 1..65536'), { code: 'ERR_OUT_OF_RANGE' });
    }
    if (o.receive === false && o.fanout !== undefined) {
      throw Object.assign(new RangeError('a send-only socket (receive: false) cannot be an RX queue of a fanout group'), { code: 'ERR_INVALID_ARG_VALUE' });
    }
    if (o.fanout !== undefined && o.fanout !== 'new' && !(Number.isInteger(o.fanout.join) && o.fanout.join >= 0 && o.fanout.join <= 0xffff)) {
      throw Object.assign(new RangeError('fanout.join must be a group id 0..65535'), { code: 'ERR_OUT_OF_RANGE' });
    }
    // A send-only socket still has a ring (the addon always maps one): the smallest, one page.
    const sendOnly = o.receive === false;
    const rx: RxVector = {
      count: 0,
      data: Buffer.alloc(0),
      offset: new Uint32Array(o.vectorSize),
      length: new Uint32Array(o.vectorSize),
      vlanTpid: new Uint16Array(o.vectorSize),
      vlanTci: new Uint16Array(o.vectorSize),
      flags: new Uint8Array(o.vectorSize),
    };
    const sock = new native.AfPacketSocket(
      ifname,
      {
        ringVersion: o.ringVersion,
        blockSize: sendOnly ? 4096 : o.blockSize,
        blockCount: sendOnly ? 1 : o.blockCount,
        frameSize: sendOnly ? 2048 : o.frameSize,
        receive: !sendOnly,
        fanout: o.fanout === undefined ? 0 : o.fanout === 'new' ? 1 : 2,
        fanoutId: o.fanout === undefined || o.fanout === 'new' ? 0 : o.fanout.join,
        retireTimeoutMs: o.retireTimeoutMs,
        maxVectorsPerWakeup: o.maxVectorsPerWakeup,
        qdiscBypass: o.qdiscBypass,
        promiscuous: o.promiscuous,
        txOffload: o.txOffload,
        sendBufferSize: options.sendBufferSize,
      },
      rx.offset,
      rx.length,
      rx.vlanTpid,
      rx.vlanTci,
      rx.flags,
    );
    rx.data = Buffer.from(sock.ring);
    try {
      sock.setRxMode(o.rxMode, o.adaptiveIdleMs);
    } catch (err) {
      sock.close();
      throw err;
    }
    const batches = options.txBacklogBatches ?? TX_BACKLOG_BATCHES;
    const batchFrames = options.txBatchFrames ?? 256;
    if (!Number.isInteger(batches) || batches < 1 || !Number.isInteger(batchFrames) || batchFrames < 1) {
      sock.close();
      throw Object.assign(new RangeError('txBacklogBatches and txBatchFrames must be positive integers'), { code: 'ERR_OUT_OF_RANGE' });
    }
    const dev = new AfPacketDevice(sock, rx, options.onError, batches, batchFrames);
    dev.mode = o.rxMode;
    return dev;
  }

  /** The rx-mode set (`set interface rx-mode`). */
  get rxMode(): RxMode {
    return this.mode;
  }

  /** Whether the ring is polled now: polling mode, or adaptive while traffic flows. */
  get rxPolling(): boolean {
    return !this.sock.closed && (this.sock.stats().rxPolling as boolean);
  }

  /** Switches the rx-mode at once (also while receiving); see RxMode. */
  setRxMode(mode: RxMode): void {
    this.sock.setRxMode(mode);
    this.mode = mode;
  }

  /** RX ring geometry (for `show hardware-interfaces`). */
  get ring(): RingInfo {
    return this.ringInfo;
  }

  get closed(): boolean {
    return this.sock.closed;
  }

  /** Starts (or resumes) delivering received vectors; calling it again replaces the handler. */
  start(handler: RxHandler): void {
    this.handler = handler;
    this.sock.start(this.onRx, this.onError);
  }

  /** Stops delivering; frames keep arriving in the ring until it is full (then they count as drops). */
  stop(): void {
    this.sock.stop();
  }

  /** An active device keeps the event loop alive unless unref()'d (like a socket). */
  ref(): void {
    this.sock.ref();
  }

  unref(): void {
    this.sock.unref();
  }

  /**
   * Sends through the kernel; what it refuses for now (EAGAIN/ENOBUFS) is held in the backlog and
   * counts as accepted. Returns fewer than tx.count only for frames the full backlog refused.
   */
  send(tx: TxVector): number {
    if (tx.count === 0) return 0;
    return this.backlog.send(tx);
  }

  /** False while frames the kernel refused wait in the backlog. */
  get txReady(): boolean {
    return this.backlog.ready;
  }

  get onTxReady(): (() => void) | null {
    return this.backlog.onReady;
  }

  set onTxReady(fn: (() => void) | null) {
    this.backlog.onReady = fn;
  }

  ringCounters(out: Float64Array): boolean {
    // An addon built before ringCounters existed: the caller falls back to stats().
    if (this.sock.closed || typeof this.sock.ringCounters !== 'function') return false;
    this.sock.ringCounters(out);
    return true;
  }

  stats(): AfPacketStats {
    const s = this.sock.stats() as AfPacketStats;
    const b = this.backlog.counters;
    s.txBlocked = b.txBlocked;
    s.txBacklogged = b.txBacklogged;
    s.txBacklogDrops = b.txBacklogDrops;
    s.txBacklogFrames = b.txBacklogFrames;
    s.txBacklogPeak = b.txBacklogPeak;
    s.txResumes = b.txResumes;
    return s;
  }

  /** Joins / leaves an Ethernet multicast group on the link (see Device.setMulticast). Throws with errno text on failure. */
  setMulticast(mac: Buffer, join: boolean): void {
    if (!this.sock.closed) this.sock.multicast(mac, join);
  }

  /** Stops polling, unmaps the ring (the RxVector's data becomes empty), closes the socket. Idempotent. */
  close(): void {
    this.backlog.close();
    this.sock.close();
  }

  /** Frames [first, count) to the kernel; returns how many it took (see txStop / txStopAt when fewer). */
  private transmit(tx: TxVector, first: number): number {
    if (this.txOffload !== undefined && tx.hasExt === true) {
      // Frames whose payload stays in its own buffer (a third iovec, see TxVector.extData).
      return this.sock.send(tx.data, tx.offset, tx.length, tx.count, tx.csumStart, tx.gsoSize, first, tx.extData, tx.extOff, tx.extLen);
    }
    if (this.txOffload !== undefined && (tx.csumStart !== undefined || tx.gsoSize !== undefined)) {
      return this.sock.send(tx.data, tx.offset, tx.length, tx.count, tx.csumStart, tx.gsoSize, first);
    }
    return first === 0 ? this.sock.send(tx.data, tx.offset, tx.length, tx.count) : this.sock.send(tx.data, tx.offset, tx.length, tx.count, undefined, undefined, first);
  }

  /** EAGAIN: a one-shot writable watch on the socket that sends. ENOBUFS: retry shortly (no event says when). */
  private wait(reason: TxStopReason): void {
    if (this.sock.closed) return;
    if (reason === 'EAGAIN') {
      this.sock.watchWritable(true);
      return;
    }
    if (this.retryTimer === null) this.retryTimer = setTimeout(this.onWritable, ENOBUFS_RETRY_MS);
    else this.retryTimer.refresh();
  }

  private cancelWait(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (!this.sock.closed) this.sock.watchWritable(false);
  }

  private readonly onWritable = (): void => {
    try {
      this.backlog.resume();
    } catch (err) {
      if (this.onError === undefined) throw err;
      this.onError(err as Error);
    }
  };

  private readonly onRx = (count: number, drainNanos: number): void => {
    const rx = this.rx;
    rx.count = count;
    rx.drainNanos = drainNanos;
    (this.handler as RxHandler)(rx);
  };
}

/** Whether the kernel has IPv6 on `ifname` (in this network namespace): disable_ipv6 is 0. Unknown (no IPv6 at all): false. */
function kernelRunsIpv6(ifname: string): boolean {
  try {
    return readFileSync(`/proc/sys/net/ipv6/conf/${ifname}/disable_ipv6`, 'utf8').trim() === '0';
  } catch {
    return false;
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

/**
 * The calling thread, as the kernel sees it: pin it to a CPU (sched_setaffinity on this thread
 * only; a worker_thread is one OS thread), its LWP and the CPU it runs on. Needs the addon.
 */
export const threadControl = {
  /** '' when pinned, else the errno name (EINVAL: the CPU does not exist or is not in this process's cpuset). */
  pin(cpu: number): string {
    return loadAddon().setThreadAffinity(cpu);
  },
  lwp(): number {
    return loadAddon().threadId();
  },
  cpu(): number {
    return loadAddon().threadCpu();
  },
};
