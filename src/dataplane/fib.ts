/**
 * The IPv4 FIB: connected prefixes (from interface addresses), our own addresses (/32
 * receive entries) and static routes (`ip route add <prefix>/<len> via <next-hop> [<interface>]`),
 * searched by longest prefix match.
 *
 * A static route resolves its next hop through a connected prefix when it is added and again
 * whenever an address comes or goes; a route whose next hop is no longer on a connected prefix
 * stays in the table, unresolved, and forwards nothing ("no route").
 */
import { formatIpv4, prefixMask } from '../wire/address.js';
import { DataplaneError } from './errors.js';
import type { SwInterface } from './interface.js';

/**
 * connected: a prefix of an interface (attached: the destination is the next hop); local: one
 * of our addresses (receive); static: `ip route`; drop: prefixes VPP's FIB drops too (network
 * and broadcast addresses of a connected prefix, 0.0.0.0/32, multicast, class E, limited broadcast).
 */
export type FibSource = 'connected' | 'local' | 'static' | 'drop';

export class FibEntry {
  /** Packets and bytes looked up to this entry (VPP's `to:[packets:bytes]`). */
  packets = 0;
  bytes = 0;
  /** The interface packets leave by (static: resolved through a connected prefix); null = unresolved. */
  sw: SwInterface | null;
  constructor(
    readonly prefix: number,
    readonly length: number,
    readonly source: FibSource,
    sw: SwInterface | null,
    /** Static routes: the next hop; connected and local entries: 0 (the destination itself). */
    readonly via: number,
    /** Static routes: the interface given on the command line, if any. */
    readonly viaInterface: SwInterface | null,
  ) {
    this.sw = sw;
  }

  get resolved(): boolean {
    return this.sw !== null;
  }

  /** Packets to this prefix leave by `sw` (a connected prefix, or a resolved static route). */
  get forwards(): boolean {
    return this.sw !== null && (this.source === 'connected' || this.source === 'static');
  }

  /** The neighbour packets to `dst` are sent to: the route's next hop, or `dst` itself when attached. */
  nextHop(dst: number): number {
    return this.source === 'static' ? this.via : dst;
  }
}

/** The special prefixes every table has (VPP's default entries): never routed. */
const SPECIAL_DROPS: ReadonlyArray<readonly [number, number]> = [
  [0x00000000, 32],
  [0xe0000000, 4],
  [0xf0000000, 4],
  [0xffffffff, 32],
];

export class Fib {
  /** Entries by prefix length, keyed by the prefix as a signed 32-bit value (a V8 small integer). */
  private readonly byLength: Map<number, FibEntry>[] = Array.from({ length: 33 }, () => new Map());

  constructor() {
    for (const [prefix, length] of SPECIAL_DROPS) this.put(new FibEntry(prefix >>> 0, length, 'drop', null, 0, null));
  }
  /** Prefix lengths that have entries, longest first. */
  private lengths: number[] = [];
  /** Bumped on every change; the lookup cache and callers' caches check it. */
  epoch = 0;
  private lastDst = -1;
  private lastEntry: FibEntry | undefined = undefined;
  private lastEpoch = -1;

  /** Longest-prefix match for `dst` (host order, unsigned), or undefined. */
  lookup(dst: number): FibEntry | undefined {
    if (dst === this.lastDst && this.lastEpoch === this.epoch) return this.lastEntry;
    let found: FibEntry | undefined;
    const lengths = this.lengths;
    for (let i = 0; i < lengths.length; i++) {
      const len = lengths[i];
      const e = this.byLength[len].get((dst & prefixMask(len)) | 0);
      if (e !== undefined) {
        found = e;
        break;
      }
    }
    this.lastDst = dst;
    this.lastEntry = found;
    this.lastEpoch = this.epoch;
    return found;
  }

  /** The address `sw` owns, or a connected address, is the FIB's business too: called by the dataplane. */
  addConnected(sw: SwInterface, address: number, length: number): void {
    const net = (address & prefixMask(length)) >>> 0;
    this.put(new FibEntry(net, length, 'connected', sw, 0, null));
    this.put(new FibEntry(address >>> 0, 32, 'local', sw, 0, null));
    if (length < 31) {
      const broadcast = (net | ~prefixMask(length)) >>> 0;
      this.put(new FibEntry(net, 32, 'drop', sw, 0, null));
      this.put(new FibEntry(broadcast, 32, 'drop', sw, 0, null));
    }
    this.reresolve();
  }

  removeConnected(sw: SwInterface, address: number, length: number): void {
    const net = (address & prefixMask(length)) >>> 0;
    const c = this.byLength[length].get(net | 0);
    if (c !== undefined && c.source === 'connected' && c.sw === sw) this.remove(c);
    const l = this.byLength[32].get(address | 0);
    if (l !== undefined && l.source === 'local') this.remove(l);
    if (length < 31) {
      for (const host of [net, (net | ~prefixMask(length)) >>> 0]) {
        const d = this.byLength[32].get(host | 0);
        if (d !== undefined && d.source === 'drop' && d.sw === sw) this.remove(d);
      }
    }
    this.reresolve();
  }

  /** `ip route add`: throws DataplaneError with what was wrong. */
  addRoute(prefix: number, length: number, via: number, viaInterface: SwInterface | null): FibEntry {
    const net = (prefix & prefixMask(length)) >>> 0;
    if (net !== prefix >>> 0) {
      throw new DataplaneError('EINVAL', `${formatIpv4(prefix)}/${length} has host bits set (the prefix is ${formatIpv4(net)}/${length})`);
    }
    const existing = this.byLength[length].get(net | 0);
    if (existing !== undefined) {
      if (existing.source !== 'static') {
        const owner = existing.sw !== null ? ` of ${existing.sw.name}` : '';
      throw new DataplaneError('EEXIST', `${formatIpv4(net)}/${length} is a ${existing.source} prefix${owner}; it cannot also be a route`);
      }
      if (existing.via === via && existing.viaInterface === viaInterface) return existing;
      throw new DataplaneError('EEXIST', `${formatIpv4(net)}/${length} already has a route via ${formatIpv4(existing.via)} (one path per prefix: delete it first with ip route del)`);
    }
    const sw = this.resolveNextHop(via, viaInterface);
    if (sw === null) {
      const where = viaInterface !== null ? `a connected prefix of ${viaInterface.name}` : 'any connected prefix';
      const have = this.connectedList(viaInterface);
      throw new DataplaneError('EINVAL', `next hop ${formatIpv4(via)} is not on ${where} (connected: ${have || 'none; set an interface address first'})`);
    }
    const self = this.byLength[32].get(via | 0);
    if (self !== undefined && self.source === 'local') {
      throw new DataplaneError('EINVAL', `next hop ${formatIpv4(via)} is our own address on ${self.sw?.name ?? '?'}`);
    }
    if (self !== undefined && self.source === 'drop') {
      throw new DataplaneError('EINVAL', `next hop ${formatIpv4(via)} is the network or broadcast address of its prefix; use the router's host address`);
    }
    const entry = new FibEntry(net, length, 'static', sw, via >>> 0, viaInterface);
    this.put(entry);
    return entry;
  }

  /** `ip route del`: removes the route for the prefix (matching next hop / interface when given). */
  deleteRoute(prefix: number, length: number, via: number | null, viaInterface: SwInterface | null): void {
    const net = (prefix & prefixMask(length)) >>> 0;
    const e = this.byLength[length].get(net | 0);
    if (e === undefined || e.source !== 'static') throw new DataplaneError('ENOENT', `no route for ${formatIpv4(net)}/${length}`);
    if ((via !== null && e.via !== via >>> 0) || (viaInterface !== null && e.viaInterface !== null && e.viaInterface !== viaInterface)) {
      throw new DataplaneError('ENOENT', `the route for ${formatIpv4(net)}/${length} goes via ${formatIpv4(e.via)}${e.viaInterface ? ` ${e.viaInterface.name}` : ''}, not the path given`);
    }
    this.remove(e);
  }

  /** Every entry, ordered by prefix then length (VPP's `show ip fib` order). */
  entries(): FibEntry[] {
    const out: FibEntry[] = [];
    for (const m of this.byLength) for (const e of m.values()) out.push(e);
    return out.sort((a, b) => a.prefix - b.prefix || a.length - b.length);
  }

  /** Static routes, for tests and `show`. */
  routes(): FibEntry[] {
    return this.entries().filter((e) => e.source === 'static');
  }

  private resolveNextHop(via: number, viaInterface: SwInterface | null): SwInterface | null {
    for (let len = 32; len >= 0; len--) {
      const e = this.byLength[len].get((via & prefixMask(len)) | 0);
      if (e === undefined || e.source !== 'connected') continue;
      if (viaInterface !== null && e.sw !== viaInterface) continue;
      return e.sw;
    }
    return null;
  }

  private connectedList(only: SwInterface | null): string {
    return this.entries()
      .filter((e) => e.source === 'connected' && (only === null || e.sw === only))
      .map((e) => `${formatIpv4(e.prefix)}/${e.length} on ${e.sw!.name}`)
      .join(', ');
  }

  private reresolve(): void {
    for (const m of this.byLength) for (const e of m.values()) if (e.source === 'static') e.sw = this.resolveNextHop(e.via, e.viaInterface);
    this.epoch++;
  }

  private put(e: FibEntry): void {
    this.byLength[e.length].set(e.prefix | 0, e);
    this.changed();
  }

  private remove(e: FibEntry): void {
    this.byLength[e.length].delete(e.prefix | 0);
    this.changed();
  }

  private changed(): void {
    this.lengths = [];
    for (let len = 32; len >= 0; len--) if (this.byLength[len].size > 0) this.lengths.push(len);
    this.epoch++;
  }
}
