/**
 * In-memory devices for tests: frames are injected by the test (or by the peer of a pair)
 * and delivered as one vector per deliver() call; frames sent are kept or passed to the peer.
 */
import { frameBytes, gatherFrame, type Device, type DeviceStats, type RxHandler, type RxVector, type TxOffload, type TxVector } from './device.js';
import { completeOffload } from './offload.js';
import { TX_BACKLOG_BATCHES, TxBacklog, txBatchBytes, type TxKernel, type TxStopReason } from './tx-backlog.js';

export interface InjectOptions {
  /** RX_FLAG_* bits the kernel would report. */
  flags?: number;
  /** Deliver the frame with this VLAN tag as kernel metadata (as AF_PACKET does). */
  vlanTci?: number;
  vlanTpid?: number;
}

/**
 * Bytes of poison deliver() puts before the first frame and after every frame of a vector: more
 * than the largest header a node may read from a frame (two VLAN tags, IPv6 with extension
 * headers, TCP with options), so that a node that reads past its frame's length reads poison, not
 * the next frame (or, for the last frame, undefined past the buffer's end, which the byte helpers
 * of src/wire/bytes.ts turn into 0 without a RangeError). In production the RX data is the whole
 * mmap ring, where an over-read reads other ring bytes.
 */
export const RX_POISON_BYTES = 256;
/** The default poison byte (MemoryDevice.rxPoison). */
export const RX_POISON_DEFAULT = 0xa5;

export class MemoryDevice implements Device {
  /**
   * The value of the poison bytes deliver() puts around every frame (RX_POISON_BYTES each side).
   * A test runs the same input with two values (0x00 and 0xff): any difference in what the
   * dataplane counts or sends means some node read beyond its frame (test/unit/rx-overread.test.ts).
   */
  rxPoison = RX_POISON_DEFAULT;
  /** Copies of every frame sent, oldest first. */
  readonly sent: Buffer[] = [];
  /** Multicast MACs joined (setMulticast), as text, with their join counts. */
  readonly multicast = new Map<string, number>();
  /** What Device.kernelIpv6 reports (a test sets it). */
  kernelIpv6: boolean | undefined = undefined;
  /** Called for each frame sent (after it is recorded). */
  onSend: ((frame: Buffer) => void) | null = null;
  /**
   * Allocation-free mode for tests that count garbage: when set, each send hands the TX vector
   * (frames first..count-1, offload fields as built) to this function and nothing is copied,
   * completed or recorded in `sent`.
   */
  onSendVector: ((tx: TxVector, first: number) => void) | null = null;
  private handler: RxHandler | null = null;
  private pending: { frame: Buffer; tpid: number; tci: number; flags: number }[] = [];
  private readonly rx: RxVector;
  private readonly statistics: DeviceStats = { kernelPackets: 0, kernelDrops: 0, kernelFreezes: 0, txErrors: 0, txFrames: 0, txBytes: 0 };
  /**
   * Offered TX offload (set by a test before the dataplane opens the device): frames sent with
   * csumStart / gsoSize are completed and segmented in software (src/io/offload.ts), so `sent`
   * and the peer always see wire-exact frames; `superFrames` counts the super-frames received.
   */
  txOffload: TxOffload | undefined = undefined;
  superFrames = 0;
  /** Frames sent whose payload came by reference (TxVector.extData), gathered here. */
  externalPayloads = 0;
  /**
   * Test mode: the simulated kernel takes this many more frames, then refuses with `refuseWith`
   * until makeWritable() (Infinity: it never refuses, the default). See refuseAfter().
   */
  private budget = Infinity;
  private refuseWith: TxStopReason = 'EAGAIN';
  private waiting = false;
  private stopAt = 0;
  /** Sends the simulated kernel stopped (as AF_PACKET's txEagain / txNobufs). */
  private stops = { EAGAIN: 0, ENOBUFS: 0 };
  private readonly kernel: TxKernel = {
    transmit: (tx, first) => this.transmit(tx, first),
    stopIndex: () => this.stopAt,
    stopReason: 'EAGAIN',
    wait: () => void (this.waiting = true),
    cancel: () => void (this.waiting = false),
  };
  /** The same TX backlog as AfPacketDevice (TX_BACKLOG_BATCHES batches of 256 frames), made by refuseAfter(). */
  private backlog: TxBacklog | null = null;
  private txReadyCallback: (() => void) | null = null;

  constructor(
    readonly ifname: string,
    readonly mac: Buffer,
    readonly mtu = 1500,
    private readonly vectorCapacity = 256,
  ) {
    this.rx = {
      count: 0,
      data: Buffer.alloc(0),
      offset: new Uint32Array(vectorCapacity),
      length: new Uint32Array(vectorCapacity),
      vlanTpid: new Uint16Array(vectorCapacity),
      vlanTci: new Uint16Array(vectorCapacity),
      flags: new Uint8Array(vectorCapacity),
    };
  }

  start(handler: RxHandler): void {
    this.handler = handler;
  }

  /** Queues a frame for the next deliver(). */
  inject(frame: Buffer, options: InjectOptions = {}): void {
    this.pending.push({ frame: Buffer.from(frame), tpid: options.vlanTci !== undefined ? (options.vlanTpid ?? 0x8100) : 0, tci: options.vlanTci ?? 0, flags: options.flags ?? 0 });
  }

  /**
   * The device's own RX vector, for allocation-free delivery: a test points `data` at its buffer,
   * fills offset/length/flags (vlanTpid/vlanTci) for `count` frames and calls deliverPrepared().
   */
  get rxVector(): RxVector {
    return this.rx;
  }

  /** Hands the prepared rxVector (its first `count` frames) to the handler, copying nothing. */
  deliverPrepared(count: number): void {
    if (count > this.vectorCapacity) throw new RangeError(`${count} frames exceed the vector capacity ${this.vectorCapacity}`);
    this.rx.count = count;
    this.statistics.kernelPackets += count;
    if (this.handler !== null) this.handler(this.rx);
  }

  /**
   * Delivers everything injected so far, in vectors of at most the capacity. Returns frames delivered.
   * Each vector's data is poison (rxPoison, RX_POISON_BYTES), frame 0, poison, frame 1, poison, ...:
   * rx.offset/rx.length are exactly each frame, and no frame is directly followed by another's bytes.
   */
  deliver(): number {
    let delivered = 0;
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, this.vectorCapacity);
      const rx = this.rx;
      let total = RX_POISON_BYTES;
      for (const p of batch) total += p.frame.length + RX_POISON_BYTES;
      const data = Buffer.alloc(total, this.rxPoison);
      let off = RX_POISON_BYTES;
      for (let i = 0; i < batch.length; i++) {
        batch[i].frame.copy(data, off);
        rx.offset[i] = off;
        rx.length[i] = batch[i].frame.length;
        rx.vlanTpid[i] = batch[i].tpid;
        rx.vlanTci[i] = batch[i].tci;
        rx.flags[i] = batch[i].flags;
        off += batch[i].frame.length + RX_POISON_BYTES;
      }
      rx.data = data;
      rx.count = batch.length;
      this.statistics.kernelPackets += batch.length;
      delivered += batch.length;
      if (this.handler !== null) this.handler(rx);
    }
    return delivered;
  }

  /**
   * Test mode: the simulated kernel takes `n` more frames, then refuses every frame with `reason`
   * (EAGAIN: socket buffer full; ENOBUFS: queue full) until makeWritable() is called. The device
   * then holds what was refused in its backlog (txReady false), as AfPacketDevice does.
   */
  refuseAfter(n: number, reason: TxStopReason = 'EAGAIN'): void {
    this.budget = n;
    this.refuseWith = reason;
    if (this.backlog === null) {
      this.backlog = new TxBacklog(this.kernel, TX_BACKLOG_BATCHES * 256, TX_BACKLOG_BATCHES * txBatchBytes(256, this.mtu, this.txOffload?.gso === true ? this.txOffload.maxGsoBytes : 0));
      this.backlog.onReady = this.txReadyCallback;
    }
  }

  /**
   * The simulated kernel takes `n` more frames (Infinity: refusing ends) and, if the device was
   * waiting, the writable event fires now: the backlog goes out, then onTxReady runs.
   */
  makeWritable(n = Infinity): void {
    this.budget = n;
    if (!this.waiting) return;
    this.waiting = false;
    this.backlog?.resume();
  }

  /** Whether the device waits for makeWritable() (the kernel refused frames). */
  get txWaiting(): boolean {
    return this.waiting;
  }

  get txReady(): boolean {
    return this.backlog?.ready ?? true;
  }

  get onTxReady(): (() => void) | null {
    return this.txReadyCallback;
  }

  set onTxReady(fn: (() => void) | null) {
    this.txReadyCallback = fn;
    if (this.backlog !== null) this.backlog.onReady = fn;
  }

  send(tx: TxVector): number {
    if (tx.count === 0) return 0;
    return this.backlog !== null ? this.backlog.send(tx) : this.transmit(tx, 0);
  }

  /** The simulated kernel: frames [first, count) while the budget lasts. */
  private transmit(tx: TxVector, first: number): number {
    if (this.onSendVector !== null && this.budget === Infinity) {
      this.onSendVector(tx, first);
      for (let i = first; i < tx.count; i++) this.countTx(tx, i);
      return tx.count - first;
    }
    for (let i = first; i < tx.count; i++) {
      if (this.budget <= 0) {
        this.stops[this.refuseWith]++;
        (this.kernel as { stopReason: TxStopReason }).stopReason = this.refuseWith;
        this.stopAt = i;
        return i - first;
      }
      this.budget--;
      this.countTx(tx, i);
      // One piece: the headers and, for a frame with an external payload, that payload.
      const bytes = Buffer.allocUnsafe(frameBytes(tx, i));
      if (gatherFrame(tx, i, bytes) > tx.length[i]) this.externalPayloads++;
      const cs = tx.csumStart?.[i] ?? 0;
      if (cs !== 0) {
        if (this.txOffload === undefined) throw new Error(`${this.ifname}: offloaded frame sent to a device without txOffload`);
        const gso = tx.gsoSize?.[i] ?? 0;
        if (gso !== 0) this.superFrames++;
        for (const frame of completeOffload(bytes, cs, gso)) {
          this.sent.push(frame);
          this.onSend?.(frame);
        }
        continue;
      }
      const frame = bytes;
      this.sent.push(frame);
      this.onSend?.(frame);
    }
    return tx.count - first;
  }

  /** As AF_PACKET counts them: frames the kernel took and their bytes (before offload segmentation). */
  private countTx(tx: TxVector, i: number): void {
    this.statistics.txFrames!++;
    this.statistics.txBytes! += frameBytes(tx, i);
  }

  /** Removes and returns the frames sent so far. */
  takeSent(): Buffer[] {
    return this.sent.splice(0, this.sent.length);
  }

  stats(): DeviceStats {
    if (this.backlog === null) return { ...this.statistics };
    const b = this.backlog.counters;
    return {
      ...this.statistics,
      txEagain: this.stops.EAGAIN,
      txNobufs: this.stops.ENOBUFS,
      txBlocked: b.txBlocked,
      txBacklogged: b.txBacklogged,
      txBacklogDrops: b.txBacklogDrops,
      txBacklogFrames: b.txBacklogFrames,
      txBacklogPeak: b.txBacklogPeak,
      txResumes: b.txResumes,
    };
  }

  setMulticast(mac: Buffer, join: boolean): void {
    const key = [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
    const n = (this.multicast.get(key) ?? 0) + (join ? 1 : -1);
    if (n < 0) throw new Error(`leave of ${key}, which was not joined`);
    if (n === 0) this.multicast.delete(key);
    else this.multicast.set(key, n);
  }

  close(): void {
    this.handler = null;
    this.backlog?.close();
  }
}

/**
 * Two devices joined like the ends of a cable: what one sends, the other receives on its
 * next deliver() (or immediately, with autoDeliver).
 */
export function createMemoryPair(a: MemoryDevice, b: MemoryDevice, autoDeliver = false): void {
  a.onSend = (frame) => {
    b.inject(frame);
    if (autoDeliver) queueMicrotask(() => b.deliver());
  };
  b.onSend = (frame) => {
    a.inject(frame);
    if (autoDeliver) queueMicrotask(() => a.deliver());
  };
}
