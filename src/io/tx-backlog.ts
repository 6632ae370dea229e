/**
 * TX backpressure for a device whose kernel side can refuse frames: EAGAIN (the socket's send
 * buffer is full: frames of ours still sit in a qdisc or a driver queue) or ENOBUFS (a qdisc or a
 * stopped driver queue dropped the frame). A refused frame was not sent; dropping it would leave
 * TCP believing it was. So the device copies what the kernel did not take into this backlog,
 * counts it as accepted, reports `ready = false`, and asks its kernel side to say when it can
 * take frames again (a writable watch for EAGAIN, a short retry timer for ENOBUFS). Then the
 * backlog goes out in order, `ready` becomes true and `onReady` runs, once per blocked episode.
 *
 * While blocked, further frames are appended behind the backlog (order is kept) as long as it
 * has room; only when it is full are frames refused (send() returns fewer) and counted as
 * dropped. The bound is explicit (`maxFrames`, `maxBytes`, see TX_BACKLOG_BATCHES), and all its
 * memory is allocated once, up front: the unblocked path does not touch it at all.
 */
import { frameBytes, gatherFrame, type TxVector } from './device.js';

export type TxStopReason = 'EAGAIN' | 'ENOBUFS';

/** The kernel side of a device, as the backlog sees it. */
export interface TxKernel {
  /**
   * Hands frames [first, tx.count) of `tx` to the kernel; returns how many it took. Frames it
   * refused for good (outside the buffer, EMSGSIZE, ...) are counted by the kernel side and
   * skipped; at a frame it refuses for now (EAGAIN/ENOBUFS) it stops.
   */
  transmit(tx: TxVector, first: number): number;
  /**
   * After a transmit() that took fewer frames than it was given: the index of the frame it
   * stopped at (refused for now), or tx.count when it did not stop (the rest was refused for good).
   */
  stopIndex(): number;
  /** Why the last transmit() stopped early. */
  readonly stopReason: TxStopReason;
  /** Calls the backlog's resume() once the kernel may take frames again (one shot). */
  wait(reason: TxStopReason): void;
  /** Cancels a pending wait(). */
  cancel(): void;
}

export interface TxBacklogCounters {
  /** Blocked episodes: times the kernel refused frames while nothing was held back. */
  txBlocked: number;
  /** Frames copied into the backlog (the kernel refused them, or they came while blocked). */
  txBacklogged: number;
  /** Frames refused because the backlog was full (send() returned fewer): really lost. */
  txBacklogDrops: number;
  /** Frames in the backlog now. */
  txBacklogFrames: number;
  /** Most frames it ever held at once. */
  txBacklogPeak: number;
  /** Resume attempts (writable watch or retry timer fired). */
  txResumes: number;
}

/**
 * How many dataplane TX batches the backlog holds: the batch that blocked (its remainder), and
 * one more for what was built meanwhile (the frame in progress when the block happened, and
 * ARP/ICMP replies made while TCP waits; TCP itself stops at a device that is not ready).
 */
export const TX_BACKLOG_BATCHES = 2;

/**
 * Bytes of one dataplane TX batch of `frames` frames (TxBatch, as src/dataplane/interface.ts sizes
 * it): 64-byte aligned slots of the largest frame (MTU + Ethernet + two tags), or, on a device with
 * GSO (super-frames of up to `maxGsoBytes`), room for 16 super-frames.
 */
export function txBatchBytes(frames: number, mtu: number, maxGsoBytes = 0): number {
  const slot = (Math.max(2048, mtu + 14 + 8) + 63) & ~63;
  const superFrame = (maxGsoBytes + 14 + 8 + 63) & ~63;
  return Math.max(frames * slot, maxGsoBytes > 0 ? 16 * superFrame + slot : 0);
}

export class TxBacklog {
  readonly counters: TxBacklogCounters = { txBlocked: 0, txBacklogged: 0, txBacklogDrops: 0, txBacklogFrames: 0, txBacklogPeak: 0, txResumes: 0 };
  /** Called once per blocked episode, when the backlog has drained (the device takes frames again). */
  onReady: (() => void) | null = null;
  /** The held frames, as a TxVector (frames 0..count-1, packed from offset 0). */
  private readonly vec: { count: number; data: Buffer; offset: Uint32Array; length: Uint32Array; csumStart: Uint16Array; gsoSize: Uint16Array };
  private used = 0;
  private closed = false;

  constructor(
    private readonly kernel: TxKernel,
    readonly maxFrames: number,
    readonly maxBytes: number,
  ) {
    this.vec = {
      count: 0,
      data: Buffer.alloc(maxBytes),
      offset: new Uint32Array(maxFrames),
      length: new Uint32Array(maxFrames),
      csumStart: new Uint16Array(maxFrames),
      gsoSize: new Uint16Array(maxFrames),
    };
  }

  /** False while frames are held back. */
  get ready(): boolean {
    return this.vec.count === 0;
  }

  /** The held frames (for a device's kernel side to transmit; csumStart/gsoSize per frame, 0 = none). */
  get vector(): TxVector {
    return this.vec;
  }

  /** Sends `tx` through the kernel, holding back what it refuses. Returns the frames accepted. */
  send(tx: TxVector): number {
    if (this.closed) return 0;
    if (this.vec.count > 0) return this.hold(tx, 0);
    const taken = this.kernel.transmit(tx, 0);
    if (taken === tx.count) return taken; // the unblocked path: nothing else to look at
    const at = this.kernel.stopIndex();
    if (at >= tx.count) return taken;
    const held = this.hold(tx, at);
    if (this.vec.count > 0) {
      this.counters.txBlocked++;
      this.kernel.wait(this.kernel.stopReason);
    }
    return taken + held;
  }

  /** The kernel may take frames again: send the backlog in order; when it is empty, tell onReady. */
  resume(): void {
    const v = this.vec;
    if (this.closed || v.count === 0) return;
    this.counters.txResumes++;
    const taken = this.kernel.transmit(v, 0);
    const at = taken === v.count ? v.count : this.kernel.stopIndex();
    if (at < v.count) {
      this.dropFront(at);
      this.kernel.wait(this.kernel.stopReason);
      return;
    }
    v.count = 0;
    this.used = 0;
    this.counters.txBacklogFrames = 0;
    this.onReady?.();
  }

  /** Forgets the backlog (the device is closing). */
  close(): void {
    this.closed = true;
    this.kernel.cancel();
    this.vec.count = 0;
    this.used = 0;
    this.counters.txBacklogFrames = 0;
  }

  /** Copies frames [from, tx.count) behind the backlog while it has room; returns how many. */
  private hold(tx: TxVector, from: number): number {
    const v = this.vec;
    let held = 0;
    for (let i = from; i < tx.count; i++) {
      const off = tx.offset[i];
      const len = frameBytes(tx, i); // headers and an external payload, gathered into one frame
      if (len === 0 || off + tx.length[i] > tx.data.length) {
        this.counters.txBacklogDrops++; // not a frame (the kernel side counts these as invalid too)
        continue;
      }
      if (v.count >= this.maxFrames || this.used + len > this.maxBytes) {
        this.counters.txBacklogDrops += tx.count - i;
        break;
      }
      const k = v.count++;
      gatherFrame(tx, i, v.data, this.used);
      v.offset[k] = this.used;
      v.length[k] = len;
      v.csumStart[k] = tx.csumStart?.[i] ?? 0;
      v.gsoSize[k] = tx.gsoSize?.[i] ?? 0;
      this.used += (len + 63) & ~63;
      if (this.used > this.maxBytes) this.used = this.maxBytes;
      held++;
    }
    this.counters.txBacklogged += held;
    this.counters.txBacklogFrames = v.count;
    if (v.count > this.counters.txBacklogPeak) this.counters.txBacklogPeak = v.count;
    return held;
  }

  /** Removes the first n frames (they went out), moving the rest to the front. */
  private dropFront(n: number): void {
    const v = this.vec;
    if (n === 0) return;
    const rest = v.count - n;
    const base = v.offset[n];
    v.data.copyWithin(0, base, this.used);
    for (let j = 0; j < rest; j++) {
      v.offset[j] = v.offset[n + j] - base;
      v.length[j] = v.length[n + j];
      v.csumStart[j] = v.csumStart[n + j];
      v.gsoSize[j] = v.gsoSize[n + j];
    }
    v.count = rest;
    this.used -= base;
    this.counters.txBacklogFrames = rest;
  }
}
