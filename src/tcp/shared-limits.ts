/**
 * The limits that hold for the whole process, whatever thread a connection landed on (issues 9
 * and 12): one SharedArrayBuffer, created by the main thread and handed to every worker, holds
 *
 * - the global memory budget's figure: every thread keeps its own exact byte counts (a plain
 *   number, as before) and publishes them, rounded to KiB, into one shared total whenever they
 *   moved by more than a quantum since it last did (Linux batches tcp_memory_allocated per CPU
 *   the same way). A thread's view of the total is its own exact bytes plus what the others
 *   published, so with k threads it is off by less than (k - 1) quanta; the quantum is at most
 *   1/32 of the limit per thread (at most 256 KiB), and one thread alone is exact;
 * - the per-source table: source address → connections (an exact shared counter) and bytes (the
 *   same batched publishing as the total, per slot);
 * - the TIME_WAIT count (its cap is the process's, as Linux's tcp_max_tw_buckets is the host's);
 * - the TLS handshakes under way, in total and per source (a second source table).
 *
 * Counters are updated with Atomics (lock-free). The source table's slots are claimed under a
 * short spin lock taken once per new connection, never per segment: a connection keeps its slot
 * number, and a slot is never re-keyed while it has a connection, so charging bytes to it is one
 * add. The table is open addressing with a bounded probe (PROBE slots from the keyed hash of the
 * address, tableHash4 of wire/keyed-hash.ts with a key made by the main thread): an address whose
 * window is full is charged to the table's one overflow slot, without per-source limits while the
 * memory budget has room (SourceLimits.acquire: it fails open, counted `source-table-full`;
 * refused under memory pressure, `source-overflow-limit`): a full window means the table holds
 * about as many busy sources as it has room for, which the default sizing (four times the
 * connections the stacks may hold, up to MAX_CAPACITY and 1% of the memory limit:
 * sourceCapacityFor) makes rare. Slots are never emptied, only reused: one
 * whose count is 0 is free, so a lookup can stop at the first slot never used.
 */
import { randomBytes } from 'node:crypto';
import { tableHash4 } from '../wire/keyed-hash.js';

/** Slots probed from an address's hash before the table is called full for it. */
export const PROBE = 32;
/**
 * Most slots of a source table: 32 MiB of shared memory at 8 words (32 bytes) a slot, plus 12
 * bytes a slot in each thread's SourceLimits (its exact bytes, Float64, and what it published,
 * Int32); pages never touched cost nothing. 2^20 is 4 slots a connection for 2 workers at the
 * default 100,000 connections each (sourceCapacityFor).
 */
export const MAX_CAPACITY = 1 << 20;
/** Fewest slots. */
export const MIN_CAPACITY = 256;

// Header words.
const H_MAGIC = 0;
const H_THREADS = 1;
const H_CAPACITY = 2;
const H_TLS_CAPACITY = 3;
const H_KEY0 = 4;
const H_KEY1 = 5;
/** Sum of every thread's published total, KiB. */
const H_TOTAL_KIB = 6;
/** Highest H_TOTAL_KIB seen, KiB. */
const H_PEAK_KIB = 7;
const H_TIME_WAIT = 8;
const H_TLS_HANDSHAKES = 9;
const H_LOCK = 10;
const H_TLS_LOCK = 11;
const H_FULL = 12;
const H_TLS_FULL = 13;
const H_SOURCES = 14;
const H_TLS_SOURCES = 15;
const HEADER = 16;
const MAGIC = 0x5653_4c31; // 'VSL1'

/** Per thread: published total, then the four kinds (MEM_*), then its peak (all KiB). */
const THREAD_STRIDE = 8;
export const T_TOTAL = 0;
export const T_KINDS = 1;
export const T_PEAK = 5;

/** Per slot: family (0 never used, 4, 6), four address words, count, published bytes (KiB). */
const SLOT_STRIDE = 8;
const S_FAM = 0;
const S_COUNT = 5;
const S_KIB = 6;

/** acquire(): the source has its maximum count. */
export const ACQUIRE_COUNT_LIMIT = -2;
/** acquire(): the source holds its maximum bytes. */
export const ACQUIRE_BYTES_LIMIT = -3;
/** acquire(): no slot in the address's probe window (admitted, not accounted per source). */
export const ACQUIRE_TABLE_FULL = -1;

function pow2AtLeast(n: number): number {
  let p = MIN_CAPACITY;
  while (p < n && p < MAX_CAPACITY) p *= 2;
  return p;
}

function spinLock(a: Int32Array, at: number): void {
  if (Atomics.compareExchange(a, at, 0, 1) === 0) return;
  let spins = 0;
  while (Atomics.compareExchange(a, at, 0, 1) !== 0) {
    // The holder runs a few dozen instructions; if it was descheduled, sleep 50 µs at a time.
    if (++spins > 64) Atomics.wait(a, at, 1, 0.05);
  }
}

/** The family word of a table's overflow slot (never an address's: those are 4, 6 and 6 + zone·256). */
const FAM_OVERFLOW = 5;

/** fe80::/10 (RFC 4291 §2.5.6). */
export function isLinkLocal6(b: Buffer, off: number): boolean {
  return b[off] === 0xfe && (b[off + 1] & 0xc0) === 0x80;
}

/** A source's key: IPv4 (family 4, the address in w0) or IPv6 (family 6, its /64; 6 + zone·256 for a link-local address, all four words). */
export interface SourceKey {
  fam: number;
  w0: number;
  w1: number;
  w2: number;
  w3: number;
}

/** One busy slot, for show commands. */
export interface SourceRow extends SourceKey {
  slot: number;
  count: number;
  bytes: number;
}

/** A bounded shared table: source address → count and published bytes. */
export class SourceTable {
  private readonly mask: number;
  /** The key acquire()/find() work on (set with key4/key6; no allocation per lookup). */
  readonly key: SourceKey = { fam: 0, w0: 0, w1: 0, w2: 0, w3: 0 };

  constructor(
    private readonly a: Int32Array,
    private readonly base: number,
    readonly capacity: number,
    private readonly lockAt: number,
    private readonly fullAt: number,
    private readonly liveAt: number,
    private readonly k0: number,
    private readonly k1: number,
  ) {
    this.mask = capacity - 1;
    // The overflow slot (index `capacity`, after the hashed ones: never probed) has its own
    // family so that no address ever matches it.
    Atomics.store(a, base + capacity * SLOT_STRIDE + S_FAM, FAM_OVERFLOW);
  }

  /** The overflow slot: every source whose probe window was full shares it (see SourceLimits.acquire). */
  get overflowSlot(): number {
    return this.capacity;
  }

  /**
   * One more user of the overflow slot if it has fewer than maxCount and less than refuseBytes
   * published: the slot, or ACQUIRE_COUNT_LIMIT / ACQUIRE_BYTES_LIMIT. Lock-free (a CAS loop).
   */
  acquireOverflow(maxCount: number, refuseBytes: number): number {
    const a = this.a;
    const o = this.base + this.capacity * SLOT_STRIDE;
    for (;;) {
      const n = Atomics.load(a, o + S_COUNT);
      if (n >= maxCount) return ACQUIRE_COUNT_LIMIT;
      if (Atomics.load(a, o + S_KIB) * 1024 >= refuseBytes) return ACQUIRE_BYTES_LIMIT;
      if (Atomics.compareExchange(a, o + S_COUNT, n, n + 1) === n) return this.capacity;
    }
  }

  key4(ip: number): this {
    const k = this.key;
    k.fam = 4;
    k.w0 = ip | 0;
    k.w1 = k.w2 = k.w3 = 0;
    return this;
  }

  /**
   * An IPv6 source is keyed by its /64 (the interface identifier is dropped): every IPv6 host is
   * given a /64 (RFC 4291 §2.5.4, RFC 7421), so a per-/128 limit would not limit one host at all.
   *
   * Except a link-local source (fe80::/10): every host on a link has an address in the same
   * fe80::/64, so keyed by /64 all of them would share one slot and one host could exhaust it for
   * its neighbours. A link-local address is one host's on one link (there is no prefix to hand
   * out), and it means something only with its zone (RFC 4007): it is keyed by the whole 128-bit
   * address and `zone` (the interface it was heard on, + 1; 0 = unknown), which goes in the family
   * word (6 + zone·256) so that it never collides with a global /64.
   */
  key6(b: Buffer, off: number, zone = 0): this {
    const k = this.key;
    k.w0 = b.readInt32BE(off);
    k.w1 = b.readInt32BE(off + 4);
    if (isLinkLocal6(b, off)) {
      k.fam = 6 + (zone << 8);
      k.w2 = b.readInt32BE(off + 8);
      k.w3 = b.readInt32BE(off + 12);
      return this;
    }
    k.fam = 6;
    k.w2 = 0;
    k.w3 = 0;
    return this;
  }

  private start(): number {
    const k = this.key;
    return tableHash4(this.k0, this.k1 ^ k.fam, k.w0, k.w1, k.w2, k.w3) & this.mask;
  }

  private matches(o: number): boolean {
    const a = this.a;
    const k = this.key;
    return Atomics.load(a, o + S_FAM) === k.fam && Atomics.load(a, o + 1) === k.w0 && Atomics.load(a, o + 2) === k.w1 && Atomics.load(a, o + 3) === k.w2 && Atomics.load(a, o + 4) === k.w3;
  }

  /** The busy slot of the current key, or -1 (no lock: a snapshot, for show and admission hints). */
  find(): number {
    const a = this.a;
    const s0 = this.start();
    for (let j = 0; j < PROBE; j++) {
      const s = (s0 + j) & this.mask;
      const o = this.base + s * SLOT_STRIDE;
      if (Atomics.load(a, o + S_FAM) === 0) return -1;
      if (Atomics.load(a, o + S_COUNT) > 0 && this.matches(o)) return s;
    }
    return -1;
  }

  /**
   * One more user of the current key's slot: the slot, or ACQUIRE_COUNT_LIMIT when it already has
   * maxCount users, ACQUIRE_BYTES_LIMIT when its published bytes reach refuseBytes, or
   * ACQUIRE_TABLE_FULL (counted). Check and increment are one step for every thread.
   */
  acquire(maxCount: number, refuseBytes: number): number {
    const a = this.a;
    const s0 = this.start();
    spinLock(a, this.lockAt);
    try {
      let dead = -1;
      let free = -1;
      for (let j = 0; j < PROBE; j++) {
        const s = (s0 + j) & this.mask;
        const o = this.base + s * SLOT_STRIDE;
        const fam = a[o + S_FAM];
        if (fam === 0) {
          if (free < 0) free = s;
          break;
        }
        const live = Atomics.load(a, o + S_COUNT) > 0;
        if (this.matches(o)) {
          if (live) {
            if (Atomics.load(a, o + S_COUNT) >= maxCount) return ACQUIRE_COUNT_LIMIT;
            if (Atomics.load(a, o + S_KIB) * 1024 >= refuseBytes) return ACQUIRE_BYTES_LIMIT;
            // (A release may have taken it to 0 since: then it is live again, counted so.)
            if (Atomics.add(a, o + S_COUNT, 1) === 0) Atomics.add(a, this.liveAt, 1);
            return s;
          }
          dead = s;
        } else if (!live && free < 0) free = s;
      }
      const s = dead >= 0 ? dead : free;
      if (s < 0) {
        Atomics.add(a, this.fullAt, 1);
        return ACQUIRE_TABLE_FULL;
      }
      if (maxCount <= 0) return ACQUIRE_COUNT_LIMIT;
      const o = this.base + s * SLOT_STRIDE;
      const k = this.key;
      Atomics.store(a, o + 1, k.w0);
      Atomics.store(a, o + 2, k.w1);
      Atomics.store(a, o + 3, k.w2);
      Atomics.store(a, o + 4, k.w3);
      Atomics.store(a, o + S_FAM, k.fam);
      Atomics.store(a, o + S_KIB, 0);
      Atomics.store(a, o + S_COUNT, 1);
      Atomics.add(a, this.liveAt, 1);
      return s;
    } finally {
      Atomics.store(a, this.lockAt, 0);
    }
  }

  /** One user of the slot is gone (lock-free; the slot is free again at 0). */
  release(slot: number): void {
    if (Atomics.sub(this.a, this.base + slot * SLOT_STRIDE + S_COUNT, 1) === 1 && slot !== this.capacity) Atomics.sub(this.a, this.liveAt, 1);
  }

  count(slot: number): number {
    return Atomics.load(this.a, this.base + slot * SLOT_STRIDE + S_COUNT);
  }

  /** Bytes every thread published for the slot, KiB (a plain read, see SharedLimits.totalKib). */
  kib(slot: number): number {
    return this.a[this.base + slot * SLOT_STRIDE + S_KIB];
  }

  addKib(slot: number, d: number): void {
    Atomics.add(this.a, this.base + slot * SLOT_STRIDE + S_KIB, d);
  }

  /** Slots in use now. */
  get live(): number {
    return Atomics.load(this.a, this.liveAt);
  }

  /** New sources admitted without a slot because their probe window was full. */
  get full(): number {
    return Atomics.load(this.a, this.fullAt);
  }

  /** Every busy slot (a snapshot; for show commands). */
  rows(): SourceRow[] {
    const a = this.a;
    const out: SourceRow[] = [];
    for (let s = 0; s < this.capacity; s++) {
      const o = this.base + s * SLOT_STRIDE;
      const count = Atomics.load(a, o + S_COUNT);
      if (count <= 0) continue;
      out.push({ slot: s, fam: a[o], w0: a[o + 1], w1: a[o + 2], w2: a[o + 3], w3: a[o + 4], count, bytes: Atomics.load(a, o + S_KIB) * 1024 });
    }
    return out;
  }
}

export interface SharedLimitsOptions {
  /** Threads that attach (the main thread and every worker). */
  threads: number;
  /** Source slots wanted (rounded up to a power of two, MIN_CAPACITY…MAX_CAPACITY). */
  sources: number;
  /** TLS source slots wanted. */
  tlsSources?: number;
}

/** One thread's view of the process-wide limits. */
export class SharedLimits {
  readonly threads: number;
  readonly sources: SourceTable;
  readonly tls: SourceTable;
  private readonly a: Int32Array;
  private readonly mine: number;

  private constructor(
    readonly buffer: SharedArrayBuffer,
    /** This thread's index (0 = main). */
    readonly thread: number,
  ) {
    const a = new Int32Array(buffer);
    if (a[H_MAGIC] !== MAGIC) throw new Error('not a shared-limits buffer');
    this.a = a;
    this.threads = a[H_THREADS];
    if (thread < 0 || thread >= this.threads) throw new Error(`thread ${thread} outside 0…${this.threads - 1}`);
    this.mine = HEADER + thread * THREAD_STRIDE;
    const cap = a[H_CAPACITY];
    const tlsCap = a[H_TLS_CAPACITY];
    const tableAt = HEADER + this.threads * THREAD_STRIDE;
    this.sources = new SourceTable(a, tableAt, cap, H_LOCK, H_FULL, H_SOURCES, a[H_KEY0], a[H_KEY1]);
    this.tls = new SourceTable(a, tableAt + (cap + 1) * SLOT_STRIDE, tlsCap, H_TLS_LOCK, H_TLS_FULL, H_TLS_SOURCES, a[H_KEY0] ^ 0x7f4a7c15, a[H_KEY1]);
  }

  /** Makes the buffer (main thread) and returns thread 0's view; workers attach(buffer, i). */
  static create(o: SharedLimitsOptions): SharedLimits {
    const threads = Math.max(1, o.threads | 0);
    const cap = pow2AtLeast(o.sources);
    const tlsCap = pow2AtLeast(o.tlsSources ?? MIN_CAPACITY);
    // Each table has one slot more than its capacity: its overflow slot (SourceTable.acquireOverflow).
    const words = HEADER + threads * THREAD_STRIDE + (cap + 1 + tlsCap + 1) * SLOT_STRIDE;
    const buffer = new SharedArrayBuffer(words * 4);
    const a = new Int32Array(buffer);
    const key = randomBytes(8);
    a[H_THREADS] = threads;
    a[H_CAPACITY] = cap;
    a[H_TLS_CAPACITY] = tlsCap;
    a[H_KEY0] = key.readInt32LE(0);
    a[H_KEY1] = key.readInt32LE(4);
    Atomics.store(a, H_MAGIC, MAGIC);
    return new SharedLimits(buffer, 0);
  }

  static attach(buffer: SharedArrayBuffer, thread: number): SharedLimits {
    return new SharedLimits(buffer, thread);
  }

  // ---- the memory total

  /**
   * Sum of what every thread published, KiB. A plain read (per segment; Atomics.load costs a
   * builtin call in Node 20's V8): an aligned Int32Array element is tear-free, and a value a
   * moment old is within what the quanta allow anyway.
   */
  totalKib(): number {
    return this.a[H_TOTAL_KIB];
  }

  /** What this thread published last, KiB. */
  ownKib(): number {
    return this.a[this.mine + T_TOTAL];
  }

  /** Publishes this thread's total (KiB) and kinds (KiB each); keeps the shared peak. */
  publish(totalKib: number, kinds: readonly number[]): void {
    const a = this.a;
    const m = this.mine;
    const d = totalKib - a[m + T_TOTAL];
    Atomics.store(a, m + T_TOTAL, totalKib);
    for (let i = 0; i < 4; i++) Atomics.store(a, m + T_KINDS + i, Math.round(kinds[i] / 1024));
    if (totalKib > a[m + T_PEAK]) Atomics.store(a, m + T_PEAK, totalKib);
    if (d === 0) return;
    const now = Atomics.add(a, H_TOTAL_KIB, d) + d;
    let peak = Atomics.load(a, H_PEAK_KIB);
    while (now > peak) {
      const was = Atomics.compareExchange(a, H_PEAK_KIB, peak, now);
      if (was === peak) break;
      peak = was;
    }
  }

  /** Highest published total, KiB. */
  peakKib(): number {
    return Atomics.load(this.a, H_PEAK_KIB);
  }

  /** A thread's published figures (KiB): total, the four kinds, its peak. */
  threadFigures(t: number): { total: number; kinds: number[]; peak: number } {
    const a = this.a;
    const o = HEADER + t * THREAD_STRIDE;
    return { total: Atomics.load(a, o + T_TOTAL), kinds: [0, 1, 2, 3].map((i) => Atomics.load(a, o + T_KINDS + i)), peak: Atomics.load(a, o + T_PEAK) };
  }

  // ---- TIME_WAIT

  /** Adds d to the process's TIME_WAIT count; returns the new count. */
  timeWaitAdd(d: number): number {
    return Atomics.add(this.a, H_TIME_WAIT, d) + d;
  }

  get timeWait(): number {
    return Atomics.load(this.a, H_TIME_WAIT);
  }

  // ---- TLS handshakes

  /** One more handshake under way if fewer than max are: whether it may start. */
  tlsHandshakeEnter(max: number): boolean {
    if (Atomics.add(this.a, H_TLS_HANDSHAKES, 1) < max) return true;
    Atomics.sub(this.a, H_TLS_HANDSHAKES, 1);
    return false;
  }

  tlsHandshakeLeave(): void {
    Atomics.sub(this.a, H_TLS_HANDSHAKES, 1);
  }

  get tlsHandshakes(): number {
    return Atomics.load(this.a, H_TLS_HANDSHAKES);
  }
}

/** Bytes of shared memory a source slot takes (SLOT_STRIDE Int32 words). */
export const SLOT_SHARED_BYTES = SLOT_STRIDE * 4;
/** Bytes a source slot takes in each thread's SourceLimits (its exact bytes, Float64, and what it published, Int32). */
export const SLOT_THREAD_BYTES = 12;
/** The share of the memory limit the source table may take once every slot was touched. */
export const SOURCE_TABLE_MEMORY_SHARE = 0.01;

/**
 * Source slots for stacks that may hold `connections` connections in all (every worker's, as
 * configured: tcp-max-connections times the workers): four times that, bounded by MAX_CAPACITY
 * and, given `memoryLimit` (the cgroup memory.max or RAM the memory budget is a share of), by
 * what fits in SOURCE_TABLE_MEMORY_SHARE (1%) of it at SLOT_SHARED_BYTES + `threads` ×
 * SLOT_THREAD_BYTES a slot.
 *
 * Why the memory cap (review r/metrics2 R2-6): the table is outside the memory budget (which
 * counts only bytes buffered for peers), and its pages, untouched at first, become resident as
 * distinct sources land on them and stay so: 100,000 sources on the 2^20-slot table of 2
 * workers made ~49 MiB of RSS, a tenth of a 512 MiB pod. At 1% a 512 MiB pod with 2 workers (3
 * threads, 68 bytes a slot) gets 65,536 slots (~4.3 MiB when all are touched), a 4 GiB one
 * 524,288. A smaller table only means more sources share the overflow slot once it is busy; that
 * fails open (SourceLimits.acquire: no per-source limits while the budget has room, refused
 * under memory pressure), so the cap trades per-source accounting for bounded memory.
 *
 * At a load factor of 1/4 a PROBE-slot window is full essentially never unless someone aims at
 * it (review r/metrics F5: at twice, 2 workers, the first full window came at ~125,000 live
 * sources).
 */
export function sourceCapacityFor(connections: number, memoryLimit?: number, threads = 1): number {
  let cap = pow2AtLeast(4 * connections);
  if (memoryLimit !== undefined && memoryLimit > 0) {
    const fit = Math.floor((memoryLimit * SOURCE_TABLE_MEMORY_SHARE) / (SLOT_SHARED_BYTES + Math.max(1, threads) * SLOT_THREAD_BYTES));
    while (cap > MIN_CAPACITY && cap > fit) cap /= 2;
  }
  return cap;
}
