/**
 * Per-source-address accounting: connections and buffered bytes per remote address, with
 * limits, for the whole process (shared-limits.ts): one source spread over several worker
 * threads has its limits once, not once per thread.
 *
 * The connection count of a source is one shared counter, checked and raised in one step when a
 * connection is admitted (acquire), lowered when it ends. Its bytes are counted exactly by each
 * thread in a private array indexed by the slot, and published to the shared slot (KiB) when they
 * moved by more than a quantum (at most 1/32 of the limit per thread, 1 KiB…64 KiB), and always
 * when they return to 0. A thread's view of a source's bytes is its own exact figure plus what
 * the others published: one thread alone sees exact figures.
 *
 * Per segment a connection pays one add and one comparison (its slot is kept on the connection),
 * plus one atomic add when the quantum is crossed; the address lookup happens once per connection.
 * IPv4 sources are keyed by their address; IPv6 sources by their /64 prefix (all addresses of one
 * host's /64 share one entry), taken from the 128-bit address that the stack's address owner
 * (dataplane/ip6-peers.ts) gives for a handle (handles differ between threads); link-local
 * sources by their whole address and interface (SourceTable.key6 says why).
 */
import {
  isLinkLocal6,
  ACQUIRE_BYTES_LIMIT,
  ACQUIRE_COUNT_LIMIT,
  ACQUIRE_TABLE_FULL,
  SharedLimits,
  sourceCapacityFor,
  type SourceRow,
  type SourceTable,
} from './shared-limits.js';

/** Why a new connection from a source is refused (0 = admitted). */
export const SOURCE_OK = 0;
export const SOURCE_CONN_LIMIT = 1;
export const SOURCE_MEMORY_LIMIT = 2;
/** The source's address found the table full and the shared overflow slot is at its limits. */
export const SOURCE_OVERFLOW_LIMIT = 3;

export interface SourceLimitOptions {
  /** Most connections (not counting TIME_WAIT) one source address may have. */
  maxConnections: number;
  /** Most buffered bytes (out-of-order + held receive data) one source address may pin. */
  maxBytes: number;
}

/** What the stack's address owner tells about a 32-bit handle (ip6-peers.ts). */
export interface SourceAddresses {
  /** The 16-byte IPv6 address of a handle, or undefined (then the number is an IPv4 address). */
  address?(ip: number): Buffer | undefined;
  /** The zone of a link-local handle: its interface's index + 1 (0 = unknown). */
  zoneOf?(ip: number): number;
}

/**
 * `table` keyed for the source of a connection from `ip` (an IPv4 address, or an IPv6 handle that
 * `addresses` turns into its address): IPv4 by address, IPv6 by /64, link-local IPv6 by the whole
 * address and its zone (SourceTable.key6). The one keying of sources, for TCP's per-source limits
 * and TLS's per-source handshake limit alike.
 */
export function keySource(table: SourceTable, ip: number, addresses: SourceAddresses | undefined): SourceTable {
  const a = addresses?.address?.(ip);
  if (a === undefined) return table.key4(ip);
  return table.key6(a, 0, isLinkLocal6(a, 0) ? (addresses!.zoneOf?.(ip) ?? 0) : 0);
}

/** Slot -1: the connection is not accounted per source (the table was full for its address). */
export const NO_SLOT = -1;

export class SourceLimits {
  maxConnections: number;
  maxBytes: number;
  /** A source is "tight" above this many bytes: its windows stop growing, its out-of-order data goes first. */
  pressureBytes: number;
  /** New connections from a source are refused from here (15/16 of maxBytes). */
  refuseBytes: number;
  /** Set when a source crossed pressureBytes since the stack last reclaimed out-of-order data. */
  pressureSeen = false;
  /** Where IPv6 handles are turned into addresses (set by the stack). */
  addresses: SourceAddresses | undefined;

  readonly table: SourceTable;
  /** The table's overflow slot (SourceTable.overflowSlot). */
  private readonly overflowSlot: number;
  /** This thread's exact bytes per slot. */
  private readonly local: Float64Array;
  /** What this thread published per slot, KiB. */
  private readonly published: Int32Array;
  private readonly quantum: number;
  /** The only thread: its own figures are the shared ones (nothing to read per segment). */
  private readonly solo: boolean;
  /** Connections this thread charged to the overflow slot (their address found the table full), counted by the stack. */
  unaccounted = 0;
  /** Connections this thread refused because the overflow slot was at its limits. */
  overflowRefused = 0;

  constructor(opts: SourceLimitOptions, readonly shared: SharedLimits = SharedLimits.create({ threads: 1, sources: sourceCapacityFor(1024) })) {
    this.maxConnections = opts.maxConnections;
    this.maxBytes = opts.maxBytes;
    this.pressureBytes = Math.floor((opts.maxBytes * 3) / 4);
    this.refuseBytes = Math.floor((opts.maxBytes * 15) / 16);
    this.table = shared.sources;
    this.overflowSlot = this.table.overflowSlot;
    // (+ 1: the table's overflow slot)
    this.local = new Float64Array(this.table.capacity + 1);
    this.published = new Int32Array(this.table.capacity + 1);
    this.solo = shared.threads === 1;
    this.quantum = Math.min(64 * 1024, Math.max(1024, Math.floor(opts.maxBytes / (32 * shared.threads))));
  }

  /** Sources with at least one connection (every thread's). */
  get sources(): number {
    return this.table.live;
  }

  private key(ip: number): SourceTable {
    return keySource(this.table, ip, this.addresses);
  }

  /** Whether a new connection from `ip` would be admitted (a check only; acquire admits). */
  admit(ip: number): number {
    const slot = this.key(ip).find();
    if (slot < 0) return SOURCE_OK;
    if (this.table.count(slot) >= this.maxConnections) return SOURCE_CONN_LIMIT;
    if (this.bytes(slot) >= this.refuseBytes) return SOURCE_MEMORY_LIMIT;
    return SOURCE_OK;
  }

  /**
   * Admits a new connection from `ip` if its source is under its limits: its slot, or
   * -1 - SOURCE_CONN_LIMIT / -1 - SOURCE_MEMORY_LIMIT / -1 - SOURCE_OVERFLOW_LIMIT.
   *
   * When the table has no room for the address (its probe window is full: the table holds about
   * as many busy sources as it has slots, or a cluster an attacker aimed at), the connection FAILS
   * OPEN: it is charged to the table's overflow slot, which has no per-source limits (counted,
   * `source-table-full`), and is bounded by the process's limits only (the connection cap, the
   * memory budget), as long as `overflowOpen` (the caller's "the global budget has room": below
   * its pressure level). Under memory pressure it is refused (`source-overflow-limit`).
   *
   * Why not fail closed (the overflow slot with one source's limits, as before): a full table
   * means the per-source bound is already being evaded by address rotation (one on-link host has
   * as many link-local addresses as it likes, review r/metrics F5); failing closed then refused
   * the same legitimate new clients every time (those whose probe window was full) while the
   * attacker kept its connections. Many hashed overflow slots would fail closed the same way for
   * the addresses hashing to a full one. Failing open keeps serving new clients while the
   * process's own limits hold, and the table is sized (sourceCapacityFor: 4 slots per
   * connection) so that it fills only under such an attack.
   */
  acquire(ip: number, overflowOpen = true): number {
    const s = this.key(ip).acquire(this.maxConnections, Infinity);
    if (s >= 0) {
      if (this.bytes(s) < this.refuseBytes) return s;
      this.table.release(s);
      return -1 - SOURCE_MEMORY_LIMIT;
    }
    if (s === ACQUIRE_TABLE_FULL) {
      if (overflowOpen) {
        const o = this.table.acquireOverflow(0x7fffffff, Infinity);
        if (o >= 0) {
          this.unaccounted++;
          return o;
        }
      }
      this.overflowRefused++;
      return -1 - SOURCE_OVERFLOW_LIMIT;
    }
    return s === ACQUIRE_COUNT_LIMIT ? -1 - SOURCE_CONN_LIMIT : -1 - SOURCE_MEMORY_LIMIT;
  }

  /** A connection from `ip` starts whatever the limits say (an active open): its slot (the overflow slot when the table is full). */
  open(ip: number): number {
    const s = this.key(ip).acquire(0x7fffffff, Infinity);
    if (s >= 0) return s;
    this.unaccounted++;
    return this.table.acquireOverflow(0x7fffffff, Infinity);
  }

  /** Whether `slot` is the shared overflow slot. */
  isOverflow(slot: number): boolean {
    return slot === this.table.overflowSlot;
  }

  /** Connections and bytes charged to the overflow slot now (every thread's). */
  overflow(): { connections: number; bytes: number } {
    const o = this.table.overflowSlot;
    return { connections: this.table.count(o), bytes: this.bytes(o) };
  }

  /** The connection holding `slot` ended (its bytes were released before). */
  close(slot: number): void {
    if (slot >= 0) this.table.release(slot);
  }

  charge(slot: number, n: number): void {
    const b = (this.local[slot] += n);
    if (this.solo) {
      // One thread: nobody reads what would be published.
      if (b >= this.pressureBytes) this.pressureSeen = true;
      return;
    }
    if (b - this.published[slot] * 1024 >= this.quantum) this.publish(slot, b);
    if (this.bytes(slot) >= this.pressureBytes) this.pressureSeen = true;
  }

  release(slot: number, n: number): void {
    const b = (this.local[slot] -= n);
    if (!this.solo && (this.published[slot] * 1024 - b >= this.quantum || b === 0)) this.publish(slot, b);
  }

  private publish(slot: number, b: number): void {
    const kib = Math.round(b / 1024);
    const d = kib - this.published[slot];
    if (d === 0) return;
    this.published[slot] = kib;
    this.table.addKib(slot, d);
  }

  /** The source's bytes as this thread sees them: its own, exact, and what the others published. */
  bytes(slot: number): number {
    if (this.solo) return this.local[slot];
    return (this.table.kib(slot) - this.published[slot]) * 1024 + this.local[slot];
  }

  /** May `slot` buffer n more bytes? (The overflow slot has no per-source limit: the global budget bounds it.) */
  room(slot: number, n: number): boolean {
    return slot === this.overflowSlot || (this.solo ? this.local[slot] : this.bytes(slot)) + n <= this.maxBytes;
  }

  /** Above the source's pressure level (never the overflow slot: see acquire()). */
  tight(slot: number): boolean {
    return slot !== this.overflowSlot && (this.solo ? this.local[slot] : this.bytes(slot)) >= this.pressureBytes;
  }

  /** Connections and bytes of one address (for tests and `show tcp memory`). */
  get(ip: number): { connections: number; bytes: number } | undefined {
    const slot = this.key(ip).find();
    return slot < 0 ? undefined : { connections: this.table.count(slot), bytes: this.bytes(slot) };
  }

  /**
   * The `n` sources holding most bytes (then most connections), for `show tcp memory`: `ip` is
   * the IPv4 address; an IPv6 source has `ip6` (its /64 prefix, the low 8 bytes zero; a
   * link-local one its whole address, prefix 128) and ip 0.
   */
  top(n: number): { ip: number; ip6?: Buffer; prefix?: number; connections: number; bytes: number }[] {
    const rows = this.table.rows().map((r: SourceRow) => {
      const bytes = this.bytes(r.slot);
      if (r.fam === 4) return { ip: r.w0 >>> 0, connections: r.count, bytes };
      const ip6 = Buffer.alloc(16);
      ip6.writeInt32BE(r.w0, 0);
      ip6.writeInt32BE(r.w1, 4);
      ip6.writeInt32BE(r.w2, 8);
      ip6.writeInt32BE(r.w3, 12);
      return { ip: 0, ip6, prefix: r.fam === 6 ? 64 : 128, connections: r.count, bytes };
    });
    rows.sort((a, b) => b.bytes - a.bytes || b.connections - a.connections);
    return rows.slice(0, n);
  }
}
