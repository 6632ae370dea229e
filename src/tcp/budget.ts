/**
 * The global memory budget for buffered TCP and HTTP bytes (issue 9, "Memory accounting"), and
 * what a connection does with it. Four kinds of bytes are charged:
 *
 * - out-of-order: segments held for reassembly. Not acknowledged, so they may be dropped at any
 *   time (the peer retransmits); they go first under pressure (Linux: tcp_prune_ofo_queue);
 * - receive: in-order data acknowledged and held for a paused reader. Never dropped once held;
 *   under pressure the window stops growing, over the limit new data is not taken (not ACKed);
 * - pipelined: HTTP request bytes read from TCP and not yet parsed (the HTTP input buffer);
 * - send: file chunks read for a response and not yet acknowledged (cached files are shared
 *   between connections by reference and cost nothing per connection, so they are not charged).
 *
 * Each buffer is charged its length plus BUFFER_OVERHEAD (its Buffer object and store, like
 * Linux's skb truesize), so a peer sending 1-byte segments pays for what it really pins.
 *
 * Levels: below `pressureAt` (3/4 of the limit) nothing changes. From there ("tight"), windows
 * grow by at most 4 segments beyond what was promised, out-of-order data is not kept and what is
 * held is pruned (the stack walks the connections at most every RECLAIM_MS), HTTP reads no
 * further file chunks. From 15/16 of the limit new connections are refused; at the limit held
 * receive data is refused (not acknowledged; both counted). Each source address has the same levels for its own bytes
 * (SourceLimits), so that one client cannot take the budget from the others.
 *
 * Per segment the cost is a few integer operations: the charge/release adds and the level test.
 *
 * With worker threads the budget, the per-source limits and the TIME_WAIT count are the
 * process's (shared-limits.ts): every thread's MemoryBudget is a view of one SharedArrayBuffer.
 * `used`, `total` and `peak` are this thread's exact figures; `globalTotal()` is the process's as
 * this thread sees it (its own exact bytes plus what the others published, see shared-limits.ts)
 * and is what the levels are tested against.
 */
import { Reassembly } from './reassembly.js';
import { SharedLimits, sourceCapacityFor } from './shared-limits.js';
import { NO_SLOT, SOURCE_CONN_LIMIT, SOURCE_OVERFLOW_LIMIT, SourceLimits } from './source-limits.js';

export const MEM_OOO = 0;
export const MEM_RECV = 1;
export const MEM_PIPELINE = 2;
export const MEM_SEND = 3;
/** Names of the kinds, in index order (show tcp memory, metrics labels). */
export const MEM_KINDS = ['out-of-order', 'receive', 'pipelined', 'send'] as const;

/** Bytes charged per buffer on top of its length. */
export const BUFFER_OVERHEAD = 128;
/** Shortest time between two walks that prune out-of-order data under pressure. */
export const RECLAIM_MS = 100;

export interface MemoryOptions {
  /** Bytes of all kinds together. */
  limit: number;
  /** Connections per source address (not counting TIME_WAIT). */
  sourceMaxConnections: number;
  /** Buffered TCP bytes per source address (out-of-order + receive). */
  sourceMaxBytes: number;
}

export const DEFAULT_MEMORY: Readonly<MemoryOptions> = {
  limit: 256 * 1024 * 1024,
  sourceMaxConnections: 1024,
  sourceMaxBytes: 64 * 1024 * 1024,
};

/** The reasons the budget counts (in `show errors` under tcp4-session), with what they mean. */
export const MEMORY_ERROR_REASONS: Readonly<Record<string, string>> = {
  'memory-limit': 'new connection refused: the memory budget is used up',
  'source-conn-limit': 'new connection refused: its source address has source-max-connections',
  'source-memory-limit': 'new connection refused: its source address pins source-max-memory',
  'ooo-drop-memory': 'out-of-order segment not kept: memory pressure (the peer retransmits)',
  'ooo-pruned-memory': "a connection's out-of-order data dropped under memory pressure",
  'rcv-drop-memory': 'in-order segment for a paused reader not taken (not ACKed): memory limit',
  'source-table-full': "new connection admitted without a per-source limit (the source table's overflow slot): no room for its address in the table",
  'source-overflow-limit': 'new connection refused: no room for its address in the source table, and the memory budget is under pressure',
};

/** What the budget needs of a connection: its source slot, what it has charged, its reassembly queue. */
export interface MemoryHolder {
  /** SourceLimits slot, -1 when none. */
  memSrc: number;
  /** Charged for out-of-order data. */
  memOoo: number;
  /** Charged for held receive data. */
  memRecv: number;
  /** Charged by the application on this connection: its input buffer, its file chunks. */
  memPipe: number;
  memSend: number;
  reasm: Reassembly | null;
}

const appKind = (kind: 'pipelined' | 'send'): number => (kind === 'send' ? MEM_SEND : MEM_PIPELINE);

/** The owner of application bytes is a connection of ours (charged to its source) or not. */
function holderOf(owner: object | undefined): MemoryHolder | null {
  return owner !== undefined && typeof (owner as Partial<MemoryHolder>).memPipe === 'number' ? (owner as MemoryHolder) : null;
}

export class MemoryBudget {
  limit = 0;
  pressureAt = 0;
  /** New connections are refused from here (15/16 of the limit): a new connection needs buffers too. */
  refuseAt = 0;
  /** Bytes charged now, by kind (MEM_*). */
  readonly used = [0, 0, 0, 0];
  /** Most bytes charged for each kind at once. */
  readonly peaks = [0, 0, 0, 0];
  total = 0;
  peak = 0;
  /**
   * Most bytes charged at once outside the out-of-order kind: what /metrics exports as the peak.
   * A spoofed segment that falls in a connection's window above RCV.NXT is held there, one that
   * misses is not, so nothing exported may include that kind (see tcp/private-reasons.ts).
   */
  publicPeak = 0;
  readonly sources: SourceLimits;
  /** The process-wide figures this budget is a view of (its own when not given). */
  readonly shared: SharedLimits;
  /** Where the budget counts its drops and refusals (the stack's error counters). */
  count: (reason: string) => void = () => undefined;
  /** The slot admitConnection() reserved for the connection the stack is about to insert. */
  private admitted = NO_SLOT;
  private admittedIp = -1;
  /** Publishing quantum of the total (bytes), and what this thread published last (bytes). */
  private quantum = 1024;
  private published = 0;
  /** The only thread of the shared limits. */
  private readonly solo: boolean;

  constructor(opts: Partial<MemoryOptions> = {}, shared?: SharedLimits) {
    const o = { ...DEFAULT_MEMORY, ...opts };
    this.shared = shared ?? SharedLimits.create({ threads: 1, sources: sourceCapacityFor(1024) });
    this.solo = this.shared.threads === 1;
    this.setLimit(o.limit);
    this.sources = new SourceLimits({ maxConnections: o.sourceMaxConnections, maxBytes: o.sourceMaxBytes }, this.shared);
  }

  setLimit(limit: number): void {
    this.limit = limit;
    this.pressureAt = Math.floor((limit * 3) / 4);
    this.refuseAt = Math.floor((limit * 15) / 16);
    this.quantum = Math.min(256 * 1024, Math.max(1024, Math.floor(limit / (32 * this.shared.threads))));
  }

  /** The process's buffered bytes as this thread sees them (exact with one thread). */
  globalTotal(): number {
    // One thread: the shared figure is ours; skip the shared memory (this is per segment).
    if (this.solo) return this.total;
    return this.total - this.published + this.shared.totalKib() * 1024;
  }

  /**
   * globalTotal() without out-of-order bytes, for /metrics: this thread's exact figures, and the
   * other kinds the other threads published (KiB each). With one thread a spoofed segment cannot
   * move it; with several, a publish that such a segment triggers in another thread can refresh
   * that thread's other kinds (which had drifted by less than a quantum) a little earlier.
   */
  publicGlobalTotal(): number {
    const own = this.total - this.used[MEM_OOO];
    if (this.solo) return own;
    let others = 0;
    for (let t = 0; t < this.shared.threads; t++) {
      if (t === this.shared.thread) continue;
      const k = this.shared.threadFigures(t).kinds;
      others += (k[MEM_RECV] + k[MEM_PIPELINE] + k[MEM_SEND]) * 1024;
    }
    return own + others;
  }

  charge(kind: number, slot: number, n: number): void {
    const u = (this.used[kind] += n);
    if (u > this.peaks[kind]) this.peaks[kind] = u;
    const t = (this.total += n);
    if (t > this.peak) this.peak = t;
    if (kind !== MEM_OOO && t - this.used[MEM_OOO] > this.publicPeak) this.publicPeak = t - this.used[MEM_OOO];
    if (!this.solo && t - this.published >= this.quantum) this.publish();
    if (slot >= 0) this.sources.charge(slot, n);
  }

  release(kind: number, slot: number, n: number): void {
    this.used[kind] -= n;
    const t = (this.total -= n);
    if (!this.solo && (this.published - t >= this.quantum || t === 0)) this.publish();
    if (slot >= 0) this.sources.release(slot, n);
  }

  private publish(): void {
    const kib = Math.round(this.total / 1024);
    this.published = kib * 1024;
    this.shared.publish(kib, this.used);
  }

  /** At or above the pressure level, globally or for the source. */
  tight(slot: number): boolean {
    return (this.solo ? this.total : this.globalTotal()) >= this.pressureAt || (slot >= 0 && this.sources.tight(slot));
  }

  /** Whether n more bytes fit, globally and for the source. */
  room(slot: number, n: number): boolean {
    return (this.solo ? this.total : this.globalTotal()) + n <= this.limit && (slot < 0 || this.sources.room(slot, n));
  }

  /**
   * Whether a new connection from `ip` is admitted: null, or the reason (counted) it is not. An
   * admitted connection has its place in its source's count already (for every thread at once):
   * the stack inserts it next (slotFor) or gives the place back (cancelAdmit).
   */
  admitConnection(ip: number): string | null {
    this.cancelAdmit();
    let reason: string | null = null;
    const total = this.globalTotal();
    if (total >= this.refuseAt) reason = 'memory-limit';
    else {
      // A source the table has no room for fails open while the budget is below its pressure level (SourceLimits.acquire).
      const s = this.sources.acquire(ip, total < this.pressureAt);
      if (s >= 0) {
        if (this.sources.isOverflow(s)) this.count('source-table-full');
        this.admitted = s;
        this.admittedIp = ip >>> 0;
      } else reason = s === -1 - SOURCE_CONN_LIMIT ? 'source-conn-limit' : s === -1 - SOURCE_OVERFLOW_LIMIT ? 'source-overflow-limit' : 'source-memory-limit';
    }
    if (reason !== null) this.count(reason);
    return reason;
  }

  /** The source slot of a connection being inserted: the one admitConnection() reserved for it, or a new place (active open). */
  slotFor(ip: number): number {
    if (this.admittedIp === ip >>> 0) {
      const s = this.admitted;
      this.admittedIp = -1;
      this.admitted = NO_SLOT;
      return s;
    }
    this.cancelAdmit();
    const s = this.sources.open(ip);
    if (this.sources.isOverflow(s)) this.count('source-table-full');
    return s;
  }

  /** An admitted connection was not made after all (answered with a cookie, refused): its place goes back. */
  cancelAdmit(): void {
    if (this.admittedIp === -1) return;
    this.sources.close(this.admitted);
    this.admittedIp = -1;
    this.admitted = NO_SLOT;
  }

  /** Counts a connection entering (1) or leaving (-1) TIME_WAIT in the process's count; returns the count. */
  timeWaitAdd(d: number): number {
    return this.shared.timeWaitAdd(d);
  }

  // ---------------------------------------------------------------- a connection's buffers

  /**
   * Keeps an out-of-order segment if memory allows; under pressure it is dropped and the
   * connection's out-of-order queue pruned. Returns whether the data was stored (false also when
   * the reassembly queue refuses it).
   */
  storeOutOfOrder(c: MemoryHolder, seq: number, buf: Buffer, off: number, len: number): boolean {
    const slot = c.memSrc;
    if (this.tight(slot) || !this.room(slot, len + BUFFER_OVERHEAD)) {
      if (c.memOoo > 0) this.pruneOutOfOrder(c);
      this.count('ooo-drop-memory');
      return false;
    }
    if (c.reasm === null) c.reasm = new Reassembly();
    const stored = c.reasm.insert(seq, buf, off, len);
    if (stored) this.syncOutOfOrder(c);
    else this.count('ooo-overflow'); // MAX_PIECES held
    return stored;
  }

  /** Brings the out-of-order charge in line with the reassembly queue (after insert or take). */
  syncOutOfOrder(c: MemoryHolder): void {
    const r = c.reasm;
    const now = r === null ? 0 : r.bytes + r.count * BUFFER_OVERHEAD;
    const d = now - c.memOoo;
    if (d === 0) return;
    c.memOoo = now;
    if (d > 0) this.charge(MEM_OOO, c.memSrc, d);
    else this.release(MEM_OOO, c.memSrc, -d);
  }

  /** Drops a connection's out-of-order data (never acknowledged: the peer sends it again). */
  pruneOutOfOrder(c: MemoryHolder): void {
    c.reasm?.clear();
    this.syncOutOfOrder(c);
    this.count('ooo-pruned-memory');
  }

  /** May a paused reader's connection hold len more in-order bytes? Counts a refusal. */
  holdReceive(c: MemoryHolder, len: number): boolean {
    if (this.room(c.memSrc, len + BUFFER_OVERHEAD)) return true;
    this.count('rcv-drop-memory');
    return false;
  }

  chargeReceive(c: MemoryHolder, len: number): void {
    const n = len + BUFFER_OVERHEAD;
    c.memRecv += n;
    this.charge(MEM_RECV, c.memSrc, n);
  }

  releaseReceive(c: MemoryHolder, len: number): void {
    const n = len + BUFFER_OVERHEAD;
    c.memRecv -= n;
    this.release(MEM_RECV, c.memSrc, n);
  }

  /** The connection is gone (or reduced to TIME_WAIT): everything it charged, and its source slot. */
  releaseAll(c: MemoryHolder): void {
    if (c.memOoo > 0) this.release(MEM_OOO, c.memSrc, c.memOoo);
    if (c.memRecv > 0) this.release(MEM_RECV, c.memSrc, c.memRecv);
    if (c.memPipe > 0) this.release(MEM_PIPELINE, c.memSrc, c.memPipe);
    if (c.memSend > 0) this.release(MEM_SEND, c.memSrc, c.memSend);
    c.memOoo = c.memRecv = c.memPipe = c.memSend = 0;
    if (c.memSrc >= 0) this.sources.close(c.memSrc);
    c.memSrc = -1;
  }

  /**
   * The window a connection may advertise now: under pressure it grows by at most four
   * segments beyond what was already promised (the right edge never moves left).
   */
  window(slot: number, win: number, promised: number, mss: number): number {
    if (!this.tight(slot)) return win;
    const cap = promised > 4 * mss ? promised : 4 * mss;
    return win < cap ? win : cap;
  }

  /**
   * The budget as an application (the HTTP server) charges it: its input buffers as
   * 'pipelined', file chunks it read as 'send'. `owner` is the stream the bytes are for: when it
   * is one of our TCP connections they count for its source address too, and are released with
   * it (what the application releases afterwards is then ignored); other streams (TLS, Node's
   * net) count globally only.
   */
  forApplication(): {
    charge(kind: 'pipelined' | 'send', n: number, owner?: object): void;
    release(kind: 'pipelined' | 'send', n: number, owner?: object): void;
    tight(owner?: object): boolean;
  } {
    return {
      charge: (kind, n, owner) => {
        const h = holderOf(owner);
        if (h === null || h.memSrc < 0) {
          if (h === null) this.charge(appKind(kind), -1, n);
          return; // (a connection already released: nothing more is charged to it)
        }
        if (kind === 'send') h.memSend += n;
        else h.memPipe += n;
        this.charge(appKind(kind), h.memSrc, n);
      },
      release: (kind, n, owner) => {
        const h = holderOf(owner);
        if (h === null) {
          this.release(appKind(kind), -1, n);
          return;
        }
        const held = kind === 'send' ? h.memSend : h.memPipe;
        const take = n < held ? n : held;
        if (take <= 0) return;
        if (kind === 'send') h.memSend -= take;
        else h.memPipe -= take;
        this.release(appKind(kind), h.memSrc, take);
      },
      tight: (owner) => this.tight(holderOf(owner)?.memSrc ?? -1),
    };
  }

  /** Whether the stack should walk its connections to prune out-of-order data. */
  wantsReclaim(): boolean {
    return this.used[MEM_OOO] > 0 && (this.globalTotal() >= this.pressureAt || this.sources.pressureSeen);
  }
}
