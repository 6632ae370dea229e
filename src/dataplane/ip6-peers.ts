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
 * A link-local address is only unique on its link (RFC 4007 zones): it is keyed by (address,
 * interface), so fe80::1 on two interfaces are two peers with two handles.
 *
 * Handles are reference counted: every TCP connection, TIME_WAIT entry and listener holds its
 * addresses (TcpAddressOwner, held on creation and released when it goes). An address nothing
 * holds (a SYN answered with a cookie, a RST answered) stays on a least-recently-used list and is
 * the first to be forgotten when the table is full: O(1) per new address, no scan. Only a table
 * full of held addresses refuses one (the caller drops the segment); the TCP host sizes it from
 * TCP's own limits so that does not happen before TCP would refuse the connection itself.
 * ISNs and cookies hash `digest(handle)`, a keyed hash of the address itself, so a cookie still
 * validates when the address got another handle between the SYN and its ACK.
 *
 * Interning allocates only for a new address; a lookup is a keyed hash probe and a 16-byte compare.
 */
import { formatIpv6, IP6_LEN, ip6Equals, ip6Hash } from '../wire/ipv6-address.js';
import { hash4, makeKey } from '../wire/keyed-hash.js';
import type { SwInterface } from './interface.js';

export const IP6_HANDLE_BASE = 0xf0000000;
/** The handle of `::` (an IPv6 wildcard listener). */
export const IP6_ANY_HANDLE = IP6_HANDLE_BASE;
const MAX_HANDLES = 0x0fffffff;
/** Default room for addresses nothing holds yet (handshakes in flight, answered strays). */
export const IP6_UNHELD_ROOM = 65_536;

export function isIp6Handle(ip: number): boolean {
  return ip >>> 28 === 0xf;
}

/** fe80::/10 (RFC 4291 §2.5.6): meaningful only together with its interface. */
function isLinkLocal(a: Buffer, off: number): boolean {
  return a[off] === 0xfe && (a[off + 1] & 0xc0) === 0x80;
}

class Peer {
  next: Peer | null = null;
  /** Connections, TIME_WAIT entries and listeners holding this address. */
  refs = 0;
  /** The unheld (refs 0) list, oldest first. */
  older: Peer | null = null;
  newer: Peer | null = null;
  constructor(
    readonly handle: number,
    readonly hash: number,
    readonly address: Buffer,
    /** The interface the address was last heard on (for a link-local address: its zone, fixed). */
    public sw: SwInterface | null,
    readonly linkLocal: boolean,
    readonly digest: number,
  ) {}
}

export class Ip6Peers {
  private readonly byHash = new Map<number, Peer>();
  private readonly byHandle = new Map<number, Peer>();
  private nextHandle = 1;
  private oldest: Peer | null = null;
  private newest: Peer | null = null;
  private readonly digestKey = makeKey(undefined, 0);
  /** Addresses refused because the table was full of addresses in use. */
  refused = 0;
  /** Unheld addresses forgotten to make room. */
  evicted = 0;

  constructor(
    /** Most addresses held at once; the TCP host raises it to TCP's limits (setCapacity). */
    public capacity = 65_536,
  ) {}

  get size(): number {
    return this.byHandle.size;
  }

  /** Room for every address TCP can hold (`maxConnections + maxTimeWait` peers plus local addresses) and `unheld` more. */
  setCapacity(held: number, unheld = IP6_UNHELD_ROOM): void {
    this.capacity = held + unheld;
  }

  /** The handle of the address at a[off] (heard on `sw`), interning it if new; -1 when the table is full. */
  intern(a: Buffer, off: number, sw: SwInterface | null): number {
    const ll = isLinkLocal(a, off);
    const h = ll ? this.zoneHash(ip6Hash(a, off), sw) : ip6Hash(a, off);
    for (let p = this.byHash.get(h) ?? null; p !== null; p = p.next) {
      if (!ip6Equals(p.address, 0, a, off)) continue;
      if (ll) {
        if (p.sw !== sw) continue;
      } else if (sw !== null) p.sw = sw;
      if (p.refs === 0) this.touch(p);
      return p.handle;
    }
    if (this.byHandle.size >= this.capacity) {
      const victim = this.oldest;
      if (victim === null) {
        this.refused++;
        return -1;
      }
      this.remove(victim);
      this.evicted++;
    }
    let handle = 0;
    do {
      handle = (IP6_HANDLE_BASE + this.nextHandle) >>> 0;
      this.nextHandle = this.nextHandle >= MAX_HANDLES ? 1 : this.nextHandle + 1;
    } while (this.byHandle.has(handle));
    const p = new Peer(handle, h, Buffer.from(a.subarray(off, off + IP6_LEN)), sw, ll, this.addressDigest(a, off));
    p.next = this.byHash.get(h) ?? null;
    this.byHash.set(h, p);
    this.byHandle.set(handle, p);
    this.append(p);
    return handle;
  }

  /** The handle of the address at a[off] (a link-local one on `sw`) if it has one, else -1 (creates nothing). */
  find(a: Buffer, off: number, sw: SwInterface | null = null): number {
    const ll = isLinkLocal(a, off);
    const h = ll ? this.zoneHash(ip6Hash(a, off), sw) : ip6Hash(a, off);
    for (let p = this.byHash.get(h) ?? null; p !== null; p = p.next) {
      if (ip6Equals(p.address, 0, a, off) && (!ll || p.sw === sw)) return p.handle;
    }
    return -1;
  }

  /** A connection, TIME_WAIT entry or listener uses the handle (IPv4 addresses and `::` are ignored). */
  hold(handle: number): void {
    const p = this.byHandle.get(handle);
    if (p === undefined) return;
    if (p.refs++ === 0) this.unlinkUnheld(p);
  }

  /** One user of the handle is gone; with none left it may be forgotten when room is needed. */
  release(handle: number): void {
    const p = this.byHandle.get(handle);
    if (p === undefined || p.refs === 0) return;
    if (--p.refs === 0) this.append(p);
  }

  /** How many users hold the handle (tests, `show`). */
  refsOf(handle: number): number {
    return this.byHandle.get(handle)?.refs ?? 0;
  }

  /**
   * A keyed 32-bit digest of the handle's address (IPv4 addresses and `::` as they are): what
   * ISNs and SYN cookies hash, the same whatever handle the address has.
   */
  digest(handle: number): number {
    if (!isIp6Handle(handle) || handle === IP6_ANY_HANDLE) return handle;
    return this.byHandle.get(handle)?.digest ?? handle;
  }

  /** The address of a handle (16 bytes, not to be modified), or undefined. */
  address(handle: number): Buffer | undefined {
    return this.byHandle.get(handle)?.address;
  }

  /** The interface a handle's address was last heard on. */
  interfaceOf(handle: number): SwInterface | null {
    return this.byHandle.get(handle)?.sw ?? null;
  }

  /** The zone of a handle: its interface's index + 1 (per-source limits key a link-local source on it), 0 if unknown. */
  zoneOf(handle: number): number {
    const sw = this.byHandle.get(handle)?.sw;
    return sw === undefined || sw === null ? 0 : sw.index + 1;
  }

  /** `[2001:db8::1]`-style text for a handle (`show session`), or undefined. */
  format(handle: number): string | undefined {
    if (handle === IP6_ANY_HANDLE) return '::';
    const a = this.address(handle);
    return a === undefined ? undefined : formatIpv6(a);
  }

  private zoneHash(h: number, sw: SwInterface | null): number {
    return (h ^ Math.imul((sw?.index ?? 0) + 1, 0x9e3779b1)) | 0;
  }

  private addressDigest(a: Buffer, off: number): number {
    const k = this.digestKey;
    return hash4(k[0], k[1], a.readUInt32BE(off), a.readUInt32BE(off + 4), a.readUInt32BE(off + 8), a.readUInt32BE(off + 12)) >>> 0;
  }

  /** Moves an unheld peer to the newest end (it was just used). */
  private touch(p: Peer): void {
    if (this.newest === p) return;
    this.unlinkUnheld(p);
    this.append(p);
  }

  private append(p: Peer): void {
    p.older = this.newest;
    p.newer = null;
    if (this.newest !== null) this.newest.newer = p;
    else this.oldest = p;
    this.newest = p;
  }

  private unlinkUnheld(p: Peer): void {
    if (p.older !== null) p.older.newer = p.newer;
    else if (this.oldest === p) this.oldest = p.newer;
    if (p.newer !== null) p.newer.older = p.older;
    else if (this.newest === p) this.newest = p.older;
    p.older = p.newer = null;
  }

  private remove(p: Peer): void {
    this.unlinkUnheld(p);
    this.byHandle.delete(p.handle);
    const h = p.hash;
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
