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

/** Key of lastRequest: interface and address (a double; only used for unresolved addresses). */
const key = (swIndex: number, ip: number): number => swIndex * 0x100000000 + ip;

export class NeighborTable {
  /**
   * Per interface (by index), address → entry. The address is keyed as a signed 32-bit value
   * (`ip | 0`), a V8 small integer: looking it up hashes no heap number, once per segment sent.
   */
  private readonly bySw: (Map<number, Neighbor> | undefined)[] = [];
  private count = 0;
  /** The entry last looked up (TCP sends to one peer in bursts); cleared when any entry goes. */
  private last: Neighbor | undefined = undefined;
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
    return this.count;
  }

  lookup(sw: SwInterface, ip: number): Neighbor | undefined {
    const l = this.last;
    if (l !== undefined && l.ip === ip && l.sw === sw) return l;
    const n = this.bySw[sw.index]?.get(ip | 0);
    if (n !== undefined) this.last = n;
    return n;
  }

  private remove(m: Map<number, Neighbor>, n: Neighbor): void {
    m.delete(n.ip | 0);
    this.count--;
    if (this.last === n) this.last = undefined;
  }

  /** Adds or refreshes an entry; the MAC bytes are copied. */
  learn(sw: SwInterface, ip: number, macBuf: Buffer, macOff: number, now: number): void {
    let m = this.bySw[sw.index];
    const existing = m?.get(ip | 0);
    if (existing !== undefined) {
      if (existing.isStatic) return;
      macBuf.copy(existing.mac, 0, macOff, macOff + 6);
      existing.updated = now;
      return;
    }
    if (this.count >= this.maxEntries) {
      // Spoofed senders must not grow the table without bound; a real neighbour is re-learnt once entries age out.
      this.refused++;
      return;
    }
    const mac = Buffer.allocUnsafe(6);
    macBuf.copy(mac, 0, macOff, macOff + 6);
    if (m === undefined) {
      m = new Map();
      this.bySw[sw.index] = m;
    }
    m.set(ip | 0, { sw, ip: ip >>> 0, mac, updated: now, isStatic: false });
    this.count++;
    this.lastRequest.delete(key(sw.index, ip));
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
    for (const m of this.bySw) {
      if (m === undefined) continue;
      for (const n of m.values()) {
        if (!n.isStatic && now - n.updated > this.ageMs) {
          this.remove(m, n);
          removed++;
        }
      }
    }
    return removed;
  }

  /** Forgets every entry on an interface (it went down or lost its addresses). */
  flushInterface(sw: SwInterface): void {
    const m = this.bySw[sw.index];
    if (m === undefined) return;
    for (const n of m.values()) if (n.sw === sw && !n.isStatic) this.remove(m, n);
  }

  all(): Neighbor[] {
    const out: Neighbor[] = [];
    for (const m of this.bySw) if (m !== undefined) for (const n of m.values()) out.push(n);
    return out.sort((a, b) => a.sw.index - b.sw.index || a.ip - b.ip);
  }
}
