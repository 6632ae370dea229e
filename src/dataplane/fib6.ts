/**
 * The IPv6 FIB: connected prefixes (from interface addresses), our own addresses (/128 receive
 * entries), static routes (`ip route add ::/0 via fe80::1 host-macvlan0.123`), the link-local
 * prefix fe80::/10 (destinations there need the interface they are on: VPP's ip6-ll table) and
 * VPP's multicast drop ff00::/8. Longest prefix match over a short list sorted longest first
 * (a pod has a handful of entries), with a one-entry cache; nothing is allocated per lookup.
 *
 * A static route's next hop resolves through a connected prefix, or, when it is link-local,
 * through the interface given with it (which must have IPv6 enabled). It is re-resolved whenever
 * an address or an interface's IPv6 comes or goes.
 */
import { formatIpv6, IP6_LEN, ip6Equals, ip6Network, ip6PrefixMatch, isIp6LinkLocal, parseIpv6 } from '../wire/ipv6-address.js';
import { DataplaneError } from './errors.js';
import type { SwInterface } from './interface.js';

export type Fib6Source = 'connected' | 'local' | 'static' | 'drop' | 'link-local';

export class Fib6Entry {
  packets = 0;
  bytes = 0;
  sw: SwInterface | null;
  constructor(
    readonly prefix: Buffer,
    readonly length: number,
    readonly source: Fib6Source,
    sw: SwInterface | null,
    /** Static routes: the next hop; null otherwise (the destination itself). */
    readonly via: Buffer | null,
    readonly viaInterface: SwInterface | null,
  ) {
    this.sw = sw;
  }

  /** Packets to this prefix leave by `sw` (a connected prefix, or a resolved static route). */
  get forwards(): boolean {
    return this.sw !== null && (this.source === 'connected' || this.source === 'static');
  }
}

const MULTICAST = parseIpv6('ff00::')!;
const LINK_LOCAL = parseIpv6('fe80::')!;

export class Fib6 {
  /** Longest prefix first. */
  private list: Fib6Entry[] = [];
  epoch = 0;
  private readonly lastDst = Buffer.alloc(IP6_LEN);
  private lastEntry: Fib6Entry | undefined = undefined;
  private lastEpoch = -1;

  constructor() {
    this.put(new Fib6Entry(MULTICAST, 8, 'drop', null, null, null));
    this.put(new Fib6Entry(LINK_LOCAL, 10, 'link-local', null, null, null));
  }

  /** Longest-prefix match for the address at a[off], or undefined. */
  lookup(a: Buffer, off: number): Fib6Entry | undefined {
    if (this.lastEpoch === this.epoch && ip6Equals(this.lastDst, 0, a, off)) return this.lastEntry;
    let found: Fib6Entry | undefined;
    const list = this.list;
    for (let i = 0; i < list.length; i++) {
      const e = list[i];
      if (ip6PrefixMatch(e.prefix, 0, a, off, e.length)) {
        found = e;
        break;
      }
    }
    a.copy(this.lastDst, 0, off, off + IP6_LEN);
    this.lastEntry = found;
    this.lastEpoch = this.epoch;
    return found;
  }

  addConnected(sw: SwInterface, address: Buffer, length: number): void {
    if (length < 128) this.put(new Fib6Entry(ip6Network(address, length), length, 'connected', sw, null, null));
    this.put(new Fib6Entry(Buffer.from(address), 128, 'local', sw, null, null));
    this.reresolve();
  }

  removeConnected(sw: SwInterface, address: Buffer, length: number): void {
    const net = ip6Network(address, length);
    this.list = this.list.filter(
      (e) => !((e.source === 'connected' && e.sw === sw && e.length === length && e.prefix.equals(net)) || (e.source === 'local' && e.prefix.equals(address))),
    );
    this.changed();
    this.reresolve();
  }

  /** An interface's IPv6 came or went: routes via its link-local next hops re-resolve. */
  interfaceChanged(): void {
    this.reresolve();
  }

  addRoute(prefix: Buffer, length: number, via: Buffer, viaInterface: SwInterface | null): Fib6Entry {
    const net = ip6Network(prefix, length);
    if (!net.equals(prefix)) throw new DataplaneError('EINVAL', `${formatIpv6(prefix)}/${length} has host bits set (the prefix is ${formatIpv6(net)}/${length})`);
    const existing = this.find(net, length);
    if (existing !== undefined) {
      if (existing.source !== 'static') throw new DataplaneError('EEXIST', `${formatIpv6(net)}/${length} is a ${existing.source} prefix; it cannot also be a route`);
      if (existing.via!.equals(via) && existing.viaInterface === viaInterface) return existing;
      throw new DataplaneError('EEXIST', `${formatIpv6(net)}/${length} already has a route via ${formatIpv6(existing.via!)} (one path per prefix: delete it first with ip route del)`);
    }
    if (isIp6LinkLocal(via) && viaInterface === null) {
      throw new DataplaneError('EINVAL', `next hop ${formatIpv6(via)} is link-local: name the interface it is on (e.g. ip route add ${formatIpv6(net)}/${length} via ${formatIpv6(via)} host-macvlan0.123)`);
    }
    const local = this.list.find((e) => e.source === 'local' && e.prefix.equals(via));
    if (local !== undefined) throw new DataplaneError('EINVAL', `next hop ${formatIpv6(via)} is our own address on ${local.sw?.name ?? '?'}`);
    const sw = this.resolveNextHop(via, viaInterface);
    if (sw === null) {
      const where = isIp6LinkLocal(via) ? `${viaInterface!.name}, which has IPv6 disabled` : viaInterface !== null ? `a connected prefix of ${viaInterface.name}` : 'any connected prefix';
      const have = this.list.filter((e) => e.source === 'connected').map((e) => `${formatIpv6(e.prefix)}/${e.length} on ${e.sw!.name}`).join(', ');
      throw new DataplaneError('EINVAL', `next hop ${formatIpv6(via)} is not on ${where} (connected: ${have || 'none; set an interface address first'})`);
    }
    const entry = new Fib6Entry(net, length, 'static', sw, Buffer.from(via), viaInterface);
    this.put(entry);
    return entry;
  }

  deleteRoute(prefix: Buffer, length: number, via: Buffer | null, viaInterface: SwInterface | null): void {
    const net = ip6Network(prefix, length);
    const e = this.find(net, length);
    if (e === undefined || e.source !== 'static') throw new DataplaneError('ENOENT', `no route for ${formatIpv6(net)}/${length}`);
    if ((via !== null && !e.via!.equals(via)) || (viaInterface !== null && e.viaInterface !== null && e.viaInterface !== viaInterface)) {
      throw new DataplaneError('ENOENT', `the route for ${formatIpv6(net)}/${length} goes via ${formatIpv6(e.via!)}${e.viaInterface ? ` ${e.viaInterface.name}` : ''}, not the path given`);
    }
    this.list = this.list.filter((x) => x !== e);
    this.changed();
  }

  /** Every entry, by prefix then length (VPP's `show ip6 fib` order). */
  entries(): Fib6Entry[] {
    return [...this.list].sort((a, b) => Buffer.compare(a.prefix, b.prefix) || a.length - b.length);
  }

  private find(net: Buffer, length: number): Fib6Entry | undefined {
    return this.list.find((e) => e.length === length && e.prefix.equals(net));
  }

  private resolveNextHop(via: Buffer, viaInterface: SwInterface | null): SwInterface | null {
    if (isIp6LinkLocal(via)) return viaInterface !== null && viaInterface.ip6 !== null ? viaInterface : null;
    for (const e of this.list) {
      if (e.source !== 'connected' || !ip6PrefixMatch(e.prefix, 0, via, 0, e.length)) continue;
      if (viaInterface !== null && e.sw !== viaInterface) continue;
      return e.sw;
    }
    return null;
  }

  private reresolve(): void {
    for (const e of this.list) if (e.source === 'static') e.sw = this.resolveNextHop(e.via!, e.viaInterface);
    this.epoch++;
  }

  private put(e: Fib6Entry): void {
    this.list = this.list.filter((x) => !(x.length === e.length && x.prefix.equals(e.prefix)));
    this.list.push(e);
    this.changed();
  }

  private changed(): void {
    this.list.sort((a, b) => b.length - a.length);
    this.epoch++;
  }
}
