/**
 * A Device wrapper that makes the link unreliable on purpose: it drops, duplicates, reorders
 * or corrupts frames with given probabilities, in both directions, driven by a seeded PRNG so
 * that a run is reproducible (the same seed and the same traffic give the same faults).
 *
 * Each direction has its own random stream, so what happens to received frames does not
 * depend on how sends interleave with receives.
 *
 * Reordering holds a frame back and releases it right after the next frame in the same
 * direction (possibly in a later vector); flush() releases held frames at once.
 */
import type { Device, DeviceStats, RxHandler, RxMode, RxVector, TxVector } from './device.js';

/** Probabilities in [0, 1] per frame. */
export interface FaultRates {
  drop?: number;
  duplicate?: number;
  reorder?: number;
  corrupt?: number;
}

export interface FaultOptions extends FaultRates {
  /** PRNG seed; the same seed gives the same faults. Default 1. */
  seed?: number;
  /** Rates for received frames (override the top-level rates). */
  rx?: FaultRates;
  /** Rates for sent frames (override the top-level rates). */
  tx?: FaultRates;
}

export interface FaultCounters {
  /** Frames offered in this direction. */
  frames: number;
  dropped: number;
  duplicated: number;
  reordered: number;
  corrupted: number;
}

/** mulberry32: a small, fast, seeded 32-bit PRNG (good enough for fault injection). */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x100000000;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  chance(p: number): boolean {
    return p > 0 && this.next() < p;
  }
}

interface Frame {
  bytes: Buffer;
  tpid: number;
  tci: number;
}

class Direction {
  readonly counters: FaultCounters = { frames: 0, dropped: 0, duplicated: 0, reordered: 0, corrupted: 0 };
  held: Frame[] | null = null;
  private readonly drop: number;
  private readonly duplicate: number;
  private readonly reorder: number;
  private readonly corrupt: number;

  constructor(
    rates: Required<FaultRates>,
    private readonly random: SeededRandom,
  ) {
    for (const [name, p] of Object.entries(rates)) {
      if (!(p >= 0 && p <= 1)) throw new RangeError(`fault rate ${name} must be a probability in [0, 1], got ${p}`);
    }
    this.drop = rates.drop;
    this.duplicate = rates.duplicate;
    this.reorder = rates.reorder;
    this.corrupt = rates.corrupt;
  }

  /** Applies the faults to one frame (copied) and appends what comes out to `out`. */
  process(data: Buffer, off: number, len: number, tpid: number, tci: number, out: Frame[]): void {
    const c = this.counters;
    const r = this.random;
    c.frames++;
    if (r.chance(this.drop)) {
      c.dropped++;
      return;
    }
    const bytes = Buffer.from(data.subarray(off, off + len));
    if (len > 0 && r.chance(this.corrupt)) {
      bytes[r.int(len)] ^= 1 << r.int(8);
      c.corrupted++;
    }
    const frames: Frame[] = [{ bytes, tpid, tci }];
    if (r.chance(this.duplicate)) {
      frames.push({ bytes: Buffer.from(bytes), tpid, tci });
      c.duplicated++;
    }
    if (this.held === null && r.chance(this.reorder)) {
      this.held = frames;
      c.reordered++;
      return;
    }
    for (const f of frames) out.push(f);
    this.release(out);
  }

  release(out: Frame[]): void {
    if (this.held === null) return;
    for (const f of this.held) out.push(f);
    this.held = null;
  }
}

function rates(top: FaultRates, side: FaultRates | undefined): Required<FaultRates> {
  return {
    drop: side?.drop ?? top.drop ?? 0,
    duplicate: side?.duplicate ?? top.duplicate ?? 0,
    reorder: side?.reorder ?? top.reorder ?? 0,
    corrupt: side?.corrupt ?? top.corrupt ?? 0,
  };
}

export class FaultInjector implements Device {
  private readonly rxDir: Direction;
  private readonly txDir: Direction;
  private handler: RxHandler | null = null;
  private readonly rxOut: RxVector = {
    count: 0,
    data: Buffer.alloc(0),
    offset: new Uint32Array(0),
    length: new Uint32Array(0),
    vlanTpid: new Uint16Array(0),
    vlanTci: new Uint16Array(0),
    flags: new Uint8Array(0),
  };

  constructor(
    readonly inner: Device,
    options: FaultOptions = {},
  ) {
    const seed = options.seed ?? 1;
    this.rxDir = new Direction(rates(options, options.rx), new SeededRandom(seed));
    this.txDir = new Direction(rates(options, options.tx), new SeededRandom((seed ^ 0x9e3779b9) >>> 0));
  }

  get ifname(): string {
    return this.inner.ifname;
  }

  get mac(): Buffer {
    return this.inner.mac;
  }

  get mtu(): number {
    return this.inner.mtu;
  }

  /** TX backpressure of the inner device (see Device.txReady / onTxReady). */
  get txReady(): boolean | undefined {
    return this.inner.txReady;
  }

  get onTxReady(): (() => void) | null {
    return this.inner.onTxReady ?? null;
  }

  set onTxReady(fn: (() => void) | null) {
    this.inner.onTxReady = fn;
  }

  /** rx-mode of the inner device (see Device.rxMode). */
  get rxMode(): RxMode | undefined {
    return this.inner.rxMode;
  }

  get rxPolling(): boolean | undefined {
    return this.inner.rxPolling;
  }

  setRxMode(mode: RxMode): void {
    if (this.inner.setRxMode === undefined) throw new Error(`${this.inner.ifname}: this device has no rx-mode`);
    this.inner.setRxMode(mode);
  }

  /** What the injector did in each direction. */
  get counters(): { rx: FaultCounters; tx: FaultCounters } {
    return { rx: { ...this.rxDir.counters }, tx: { ...this.txDir.counters } };
  }

  start(handler: RxHandler): void {
    this.handler = handler;
    this.inner.start((rx) => {
      const out: Frame[] = [];
      for (let i = 0; i < rx.count; i++) this.rxDir.process(rx.data, rx.offset[i], rx.length[i], rx.vlanTpid[i], rx.vlanTci[i], out);
      this.deliver(out);
    });
  }

  send(tx: TxVector): number {
    const out: Frame[] = [];
    for (let i = 0; i < tx.count; i++) this.txDir.process(tx.data, tx.offset[i], tx.length[i], 0, 0, out);
    const accepted = this.transmit(out);
    // Frames lost on purpose count as sent; frames the inner device refused do not.
    return Math.max(0, tx.count - (out.length - accepted));
  }

  /** Releases frames held back for reordering, in both directions. */
  flush(): void {
    const rxOut: Frame[] = [];
    this.rxDir.release(rxOut);
    this.deliver(rxOut);
    const txOut: Frame[] = [];
    this.txDir.release(txOut);
    this.transmit(txOut);
  }

  stats(): DeviceStats {
    return this.inner.stats();
  }

  setMulticast(mac: Buffer, join: boolean): void {
    this.inner.setMulticast?.(mac, join);
  }

  get kernelIpv6(): boolean | undefined {
    return this.inner.kernelIpv6;
  }

  close(): void {
    this.handler = null;
    this.inner.close();
  }

  private deliver(frames: Frame[]): void {
    if (frames.length === 0 || this.handler === null) return;
    const rx = this.rxOut;
    if (rx.offset.length < frames.length) {
      const n = Math.max(frames.length, rx.offset.length * 2);
      rx.offset = new Uint32Array(n);
      rx.length = new Uint32Array(n);
      rx.vlanTpid = new Uint16Array(n);
      rx.vlanTci = new Uint16Array(n);
      rx.flags = new Uint8Array(n);
    }
    rx.data = Buffer.concat(frames.map((f) => f.bytes));
    let off = 0;
    frames.forEach((f, i) => {
      rx.offset[i] = off;
      rx.length[i] = f.bytes.length;
      rx.vlanTpid[i] = f.tpid;
      rx.vlanTci[i] = f.tci;
      off += f.bytes.length;
    });
    rx.count = frames.length;
    this.handler(rx);
  }

  private transmit(frames: Frame[]): number {
    if (frames.length === 0) return 0;
    const offset = new Uint32Array(frames.length);
    const length = new Uint32Array(frames.length);
    let off = 0;
    frames.forEach((f, i) => {
      offset[i] = off;
      length[i] = f.bytes.length;
      off += f.bytes.length;
    });
    return this.inner.send({ count: frames.length, data: Buffer.concat(frames.map((f) => f.bytes)), offset, length });
  }
}
