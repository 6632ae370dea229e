/**
 * IPv6 addresses as the TCP stack sees them: 32-bit handles.
 *
 * The TCP stack keys connections, listeners, ISNs and cookies by 32-bit addresses (numbers,
 * nothing allocated per segment). An IPv6 peer or local address gets a handle in 240.0.0.0/4
 * (class E: never a valid IPv4 source here, ip4-input drops it, and never routed), interned
 * here when its first segment arrives; the dataplane's TCP sink turns a handle back into the
 * address (and, for a link-local peer, the interface it was heard on). `0xf0000000` is `::`,
 * the IPv6 wildcard of a listener (`uri tcp://::/80`), distinct from 0.0.0.0.
 *
 * Interning allocates only for a new address; a lookup is a hash probe and a 16-byte compare.
 * The table is bounded: when full, addresses no TCP connection uses (`inUse`) are forgotten
 * (a SYN flood from random sources is answered with stateless cookies and leaves no handle in
 * use), and a segment that finds no room is dropped by the caller.
 */
import { formatIpv6, IP6_LEN, ip6Equals, ip6Hash } from '../wire/ipv6-address.js';
import type { SwInterface } from './interface.js';

export const IP6_HANDLE_BASE = 0xf0000000;
/** The handle of `::` (an IPv6 wildcard listener). */
export const IP6_ANY_HANDLE = IP6_HANDLE_BASE;
const MAX_HANDLES = 0x0fffffff;

export function isIp6Handle(ip: number): boolean {
  return ip >>> 28 === 0xf;
}

class Peer {
  next: Peer | null = null;
  constructor(
    readonly handle: number,
    readonly address: Buffer,
    /** The interface the address was last heard on (needed to answer a link-local peer). */
    public sw: SwInterface | null,
  ) {}
}

export class Ip6Peers {
  private readonly byHash = new Map<number, Peer>();
  private readonly byHandle = new Map<number, Peer>();
  private nextHandle = 1;
  /** Addresses refused because the table was full of addresses in use. */
  refused = 0;

  constructor(
    readonly capacity = 65_536,
    /** The handles TCP still uses (connections, listeners), asked once per sweep (set by the TCP host). */
    public inUse: () => ReadonlySet<number> = () => new Set(),
  ) {}

  get size(): number {
    return this.byHandle.size;
  }

  /** The handle of the address at a[off] (heard on `sw`), interning it if new; -1 when the table is full. */
  intern(a: Buffer, off: number, sw: SwInterface | null): number {
    const h = ip6Hash(a, off);
    for (let p = this.byHash.get(h) ?? null; p !== null; p = p.next) {
      if (ip6Equals(p.address, 0, a, off)) {
        if (sw !== null) p.sw = sw;
        return p.handle;
      }
    }
    if (this.byHandle.size >= this.capacity && !this.sweep()) {
      this.refused++;
      return -1;
    }
    let handle = 0;
    do {
      handle = (IP6_HANDLE_BASE + this.nextHandle) >>> 0;
      this.nextHandle = this.nextHandle >= MAX_HANDLES ? 1 : this.nextHandle + 1;
    } while (this.byHandle.has(handle));
    const p = new Peer(handle, Buffer.from(a.subarray(off, off + IP6_LEN)), sw);
    p.next = this.byHash.get(h) ?? null;
    this.byHash.set(h, p);
    this.byHandle.set(handle, p);
    return handle;
  }

  /** The handle of the address at a[off] if it has one, else -1 (creates nothing). */
  find(a: Buffer, off: number): number {
    for (let p = this.byHash.get(ip6Hash(a, off)) ?? null; p !== null; p = p.next) if (ip6Equals(p.address, 0, a, off)) return p.handle;
    return -1;
  }

  /** The address of a handle (16 bytes, not to be modified), or undefined. */
  address(handle: number): Buffer | undefined {
    return this.byHandle.get(handle)?.address;
  }

  /** The interface a handle's address was last heard on. */
  interfaceOf(handle: number): SwInterface | null {
    return this.byHandle.get(handle)?.sw ?? null;
  }

  /** `[2001:db8::1]`-style text for a handle (`show session`), or undefined. */
  format(handle: number): string | undefined {
    if (handle === IP6_ANY_HANDLE) return '::';
    const a = this.address(handle);
    return a === undefined ? undefined : formatIpv6(a);
  }

  /** Forgets the handles no connection uses; true if that made room. */
  private sweep(): boolean {
    let freed = 0;
    const used = this.inUse();
    for (const p of [...this.byHandle.values()]) {
      if (used.has(p.handle)) continue;
      this.remove(p);
      freed++;
    }
    return freed > 0;
  }

  private remove(p: Peer): void {
    this.byHandle.delete(p.handle);
    const h = ip6Hash(p.address, 0);
    const head = this.byHash.get(h);
    if (head === p) {
      if (p.next !== null) this.byHash.set(h, p.next);
      else this.byHash.delete(h);
      return;
    }
    for (let q = head ?? null; q !== null; q = q.next) {
      if (q.next === p) {
        q.next = p.next;
        return;
      }
    }
  }
}
