/**
 * The sender's per-segment record of what is outstanding (SND.UNA .. SND.MAX), used on SACK
 * connections for RACK (RFC 8985) and RFC 6675 pipe accounting: each segment as first sent, with
 * the time of its latest transmission and whether it was SACKed, deemed lost or retransmitted.
 *
 * A ring of parallel typed arrays indexed by an absolute record number (`lo` .. `hi`), so that an
 * index stays valid while older records are acknowledged; records tile the sequence space without
 * gaps or overlap, in ascending order. No allocation per segment.
 */
import { seqGt, seqLeq, seqLt } from './seq.js';

/** The peer reported the segment received (SACK). */
export const R_SACKED = 1;
/** Deemed lost (RACK, or every unSACKed segment at an RTO) and not retransmitted since. */
export const R_LOST = 2;
/** Retransmitted, and that retransmission is not (yet) deemed lost: it counts in the pipe. */
export const R_RETRANS = 4;
/** Retransmitted at least once (its delivery is ambiguous for RTT purposes). */
export const R_EVER_RETRANS = 8;
/** Sent while the connection was application-limited (draft-cheng-iccrg-delivery-rate-estimation: P.is_app_limited). */
export const R_APP_LIMITED = 16;

/** Shared storage of a log that holds nothing yet (allocated on the first push). */
const NONE_I32 = new Int32Array(0);
const NONE_F64 = new Float64Array(0);
const NONE_U8 = new Uint8Array(0);
/**
 * First capacity: small enough that V8 keeps the arrays on its heap (≤ 64 bytes each), which
 * makes them cheap to create; a short response (one or a few segments) never grows them.
 */
const FIRST_CAPACITY = 8;

/**
 * Storage of the first capacity, given back by logs that emptied (every record acknowledged):
 * the next log that needs storage takes it from here instead of allocating. So a connection
 * holds its ~1.2 KiB of typed arrays only while it has data outstanding, and a keep-alive
 * connection's request/response cycles allocate nothing: what lives is about one storage per
 * connection with data in flight, not one per connection (an idle keep-alive connection costs
 * none). Per thread (each worker has its own module instance).
 */
const POOL_MAX = 1024;
const poolS: Int32Array<ArrayBuffer>[] = [];
const poolE: Int32Array<ArrayBuffer>[] = [];
const poolT: Float64Array<ArrayBuffer>[] = [];
const poolO: Float64Array<ArrayBuffer>[] = [];
const poolF: Uint8Array<ArrayBuffer>[] = [];
// The delivery-rate columns (enableRate(): bbr connections only), pooled alike.
const poolD: Float64Array<ArrayBuffer>[] = [];
const poolDT: Float64Array<ArrayBuffer>[] = [];
const poolFT: Float64Array<ArrayBuffer>[] = [];

/** Storages in the pool now (for tests). */
export function sentLogPoolSize(): number {
  return poolS.length;
}

/** The delivery-rate columns of a SentLog (bbr connections only: one field in the others). */
class RateColumns {
  d = NONE_F64;
  dt = NONE_F64;
  ft = NONE_F64;
}

export class SentLog {
  /** Capacity − 1 (a power of two minus one); −1 while nothing is allocated. */
  private mask = -1;
  /** Start and end sequence numbers, last transmission time (ms), R_* flags. */
  private s = NONE_I32;
  private e = NONE_I32;
  private t = NONE_F64;
  /** Transmission order (a counter per connection): RACK's "sent after" without clock ties. */
  private o = NONE_F64;
  private f = NONE_U8;
  /**
   * Delivery-rate estimation (draft-cheng-iccrg-delivery-rate-estimation §3.2), per record as of
   * its latest transmission: the connection's delivered bytes, delivered time and first-sent time
   * (P.delivered, P.delivered_time, P.first_sent_time). Only when enableRate() was called.
   */
  private r: RateColumns | null = null;
  /** Absolute number of the oldest record and one past the newest. */
  lo = 0;
  hi = 0;

  get count(): number {
    return this.hi - this.lo;
  }

  start(k: number): number {
    return this.s[k & this.mask];
  }
  end(k: number): number {
    return this.e[k & this.mask];
  }
  time(k: number): number {
    return this.t[k & this.mask];
  }
  order(k: number): number {
    return this.o[k & this.mask];
  }
  flags(k: number): number {
    return this.f[k & this.mask];
  }
  /** A new transmission of record k at time t, the n-th of the connection. */
  setSent(k: number, t: number, n: number): void {
    this.t[k & this.mask] = t;
    this.o[k & this.mask] = n;
  }
  setFlags(k: number, f: number): void {
    this.f[k & this.mask] = f;
  }
  /** Keep the delivery-rate columns (before the first push). */
  enableRate(): void {
    this.r ??= new RateColumns();
  }
  /** The rate stamps of record k's latest transmission (enableRate() logs only). */
  setRate(k: number, delivered: number, deliveredTime: number, firstSentTime: number): void {
    const i = k & this.mask;
    const r = this.r!;
    r.d[i] = delivered;
    r.dt[i] = deliveredTime;
    r.ft[i] = firstSentTime;
  }
  delivered(k: number): number {
    return this.r!.d[k & this.mask];
  }
  deliveredTime(k: number): number {
    return this.r!.dt[k & this.mask];
  }
  firstSentTime(k: number): number {
    return this.r!.ft[k & this.mask];
  }
  /** Length in sequence space. */
  len(k: number): number {
    const i = k & this.mask;
    return (this.e[i] - this.s[i]) | 0;
  }

  push(start: number, end: number, t: number, order: number, flags = 0): void {
    if (this.hi - this.lo > this.mask) this.grow();
    const i = this.hi & this.mask;
    this.s[i] = start;
    this.e[i] = end;
    this.t[i] = t;
    this.o[i] = order;
    this.f[i] = flags;
    this.hi++;
  }

  private grow(): void {
    if (this.mask < 0 && poolS.length > 0) {
      // Empty (hi === lo): nothing to copy.
      this.s = poolS.pop()!;
      this.e = poolE.pop()!;
      this.t = poolT.pop()!;
      this.o = poolO.pop()!;
      this.f = poolF.pop()!;
      const r = this.r;
      if (r !== null) {
        if (poolD.length > 0) {
          r.d = poolD.pop()!;
          r.dt = poolDT.pop()!;
          r.ft = poolFT.pop()!;
        } else {
          r.d = new Float64Array(FIRST_CAPACITY);
          r.dt = new Float64Array(FIRST_CAPACITY);
          r.ft = new Float64Array(FIRST_CAPACITY);
        }
      }
      this.mask = FIRST_CAPACITY - 1;
      return;
    }
    const n = this.mask < 0 ? FIRST_CAPACITY : (this.mask + 1) * 2;
    const s = new Int32Array(n);
    const e = new Int32Array(n);
    const t = new Float64Array(n);
    const o = new Float64Array(n);
    const f = new Uint8Array(n);
    const r = this.r;
    const d = r !== null ? new Float64Array(n) : NONE_F64;
    const dt = r !== null ? new Float64Array(n) : NONE_F64;
    const ft = r !== null ? new Float64Array(n) : NONE_F64;
    for (let k = this.lo; k < this.hi; k++) {
      const i = k & this.mask;
      const j = k & (n - 1);
      s[j] = this.s[i];
      e[j] = this.e[i];
      t[j] = this.t[i];
      o[j] = this.o[i];
      f[j] = this.f[i];
      if (r !== null) {
        d[j] = r.d[i];
        dt[j] = r.dt[i];
        ft[j] = r.ft[i];
      }
    }
    if (r !== null) {
      r.d = d;
      r.dt = dt;
      r.ft = ft;
    }
    this.s = s;
    this.e = e;
    this.t = t;
    this.o = o;
    this.f = f;
    this.mask = n - 1;
  }

  /** Drops the oldest record; the storage of a log it empties goes back to the pool (first capacity only). */
  shift(): void {
    this.lo++;
    if (this.lo === this.hi && this.mask === FIRST_CAPACITY - 1) this.toPool();
  }

  /** Gives first-capacity storage to the pool (if it has room) and holds none. */
  private toPool(): void {
    if (this.mask === FIRST_CAPACITY - 1 && poolS.length < POOL_MAX) {
      poolS.push(this.s);
      poolE.push(this.e);
      poolT.push(this.t);
      poolO.push(this.o);
      poolF.push(this.f);
      const r = this.r;
      if (r !== null && r.d.length === FIRST_CAPACITY && poolD.length < POOL_MAX) {
        poolD.push(r.d);
        poolDT.push(r.dt);
        poolFT.push(r.ft);
      }
    }
    this.mask = -1;
    this.s = this.e = NONE_I32;
    this.t = this.o = NONE_F64;
    const r = this.r;
    if (r !== null) r.d = r.dt = r.ft = NONE_F64;
    this.f = NONE_U8;
  }

  /** Moves the start of the oldest record up to `seq` (a partial acknowledgment). */
  trimFront(seq: number): void {
    const i = this.lo & this.mask;
    if (seqLt(this.s[i], seq)) this.s[i] = seq;
  }

  /** Absolute number of the first record whose end is above `seq` (hi when none). */
  firstEndingAfter(seq: number): number {
    let a = this.lo;
    let b = this.hi;
    while (a < b) {
      const m = a + ((b - a) >>> 1);
      if (seqLeq(this.e[m & this.mask], seq)) a = m + 1;
      else b = m;
    }
    return a;
  }

  /** Splits record k at `at` (start < at < end): k keeps [start, at), a new k+1 gets [at, end). */
  split(k: number, at: number): void {
    if (!(seqGt(at, this.start(k)) && seqLt(at, this.end(k)))) return;
    if (this.hi - this.lo > this.mask) this.grow();
    const m = this.mask;
    for (let j = this.hi; j > k + 1; j--) {
      this.s[j & m] = this.s[(j - 1) & m];
      this.e[j & m] = this.e[(j - 1) & m];
      this.t[j & m] = this.t[(j - 1) & m];
      this.o[j & m] = this.o[(j - 1) & m];
      this.f[j & m] = this.f[(j - 1) & m];
    }
    const r = this.r;
    if (r !== null) {
      for (let j = this.hi; j > k + 1; j--) {
        r.d[j & m] = r.d[(j - 1) & m];
        r.dt[j & m] = r.dt[(j - 1) & m];
        r.ft[j & m] = r.ft[(j - 1) & m];
      }
    }
    this.hi++;
    const i = k & m;
    const n = (k + 1) & m;
    this.s[n] = at;
    this.e[n] = this.e[i];
    this.t[n] = this.t[i];
    this.o[n] = this.o[i];
    this.f[n] = this.f[i];
    if (r !== null) {
      r.d[n] = r.d[i];
      r.dt[n] = r.dt[i];
      r.ft[n] = r.ft[i];
    }
    this.e[i] = at;
  }

  clear(): void {
    this.lo = this.hi = 0;
  }

  /**
   * Lets the storage of an empty log go (an idle connection): grown storage is dropped, first-
   * capacity storage goes to the pool (shift() already does that as the log empties). The
   * record numbers (lo, hi) stay, so indices kept elsewhere remain valid; the next push takes
   * storage again. Nothing happens while records are held.
   */
  compact(): void {
    if (this.hi !== this.lo || this.mask < 0) return;
    this.toPool();
  }

  /** Empties the log and lets its storage go (a connection that sends no more data). */
  release(): void {
    this.lo = this.hi = 0;
    this.toPool();
  }
}
