/**
 * The IPv4 neighbour (ARP) table: per interface, IP → MAC, with ageing.
 */
import type { SwInterface } from './interface.js';

export interface Neighbor {
  readonly sw: SwInterface;
  readonly ip: number;
  readonly mac: Buffer;
  /** When the entry was last confirmed, ms. */
  updated: number;
  isStatic: boolean;
}

const key = (swIndex: number, ip: number): number => swIndex * 0x100000000 + ip;

export class NeighborTable {
  private readonly entries = new Map<number, Neighbor>();
  /** When we last asked for an address, so that unresolved traffic does not flood ARP requests. */
  private readonly lastRequest = new Map<number, number>();

  constructor(
    /** Entries not confirmed for this long are removed; 0 = never. */
    public ageMs: number,
    /** Minimum interval between two ARP requests for one address. */
    public requestIntervalMs = 1000,
    /** Most entries kept. */
    public maxEntries = 4096,
  ) {}

  /** New neighbours not learnt because the table was full. */
  refused = 0;

  get size(): number {
    return this.entries.size;
  }

  lookup(sw: SwInterface, ip: number): Neighbor | undefined {
    return this.entries.get(key(sw.index, ip));
  }

  /** Adds or refreshes an entry; the MAC bytes are copied. */
  learn(sw: SwInterface, ip: number, macBuf: Buffer, macOff: number, now: number): void {
    const k = key(sw.index, ip);
    const existing = this.entries.get(k);
    if (existing !== undefined) {
      if (existing.isStatic) return;
      macBuf.copy(existing.mac, 0, macOff, macOff + 6);
      existing.updated = now;
      return;
    }
    if (this.entries.size >= this.maxEntries) {
      // Spoofed senders must not grow the table without bound; a real neighbour is re-learnt once entries age out.
      this.refused++;
      return;
    }
    const mac = Buffer.allocUnsafe(6);
    macBuf.copy(mac, 0, macOff, macOff + 6);
    this.entries.set(k, { sw, ip, mac, updated: now, isStatic: false });
    this.lastRequest.delete(k);
  }

  /** True if an ARP request for ip may be sent now (and records that it is). */
  shouldRequest(sw: SwInterface, ip: number, now: number): boolean {
    const k = key(sw.index, ip);
    const last = this.lastRequest.get(k);
    if (last !== undefined && now - last < this.requestIntervalMs) return false;
    this.lastRequest.set(k, now);
    return true;
  }

  /** Removes entries older than the age limit; returns how many. */
  age(now: number): number {
    let removed = 0;
    for (const [k, t] of this.lastRequest) if (now - t > 10 * this.requestIntervalMs) this.lastRequest.delete(k);
    if (this.ageMs <= 0) return 0;
    for (const [k, n] of this.entries) {
      if (!n.isStatic && now - n.updated > this.ageMs) {
        this.entries.delete(k);
        removed++;
      }
    }
    return removed;
  }

  /** Forgets every entry on an interface (it went down or lost its addresses). */
  flushInterface(sw: SwInterface): void {
    for (const [k, n] of this.entries) if (n.sw === sw && !n.isStatic) this.entries.delete(k);
  }

  all(): Neighbor[] {
    return [...this.entries.values()].sort((a, b) => a.sw.index - b.sw.index || a.ip - b.ip);
  }
}
