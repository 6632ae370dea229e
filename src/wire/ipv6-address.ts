/**
 * IPv6 addresses: parsing (RFC 4291 §2.2 text forms), formatting (RFC 5952: lowercase, leading
 * zeros dropped, the longest run of two or more zero groups as `::`, the first one on a tie),
 * prefixes, and the derived addresses Neighbor Discovery needs (EUI-64 link-local, solicited-node
 * multicast, the multicast MAC).
 *
 * An address is 16 bytes in network order. Configuration keeps one Buffer per address; the
 * per-packet path compares in place (`ip6Equals`, `ip6PrefixMatch`) and allocates nothing.
 */

import { makeKey, tableHash4 } from './keyed-hash.js';
export const IP6_LEN = 16;

/** Parses an IPv6 address (`2001:db8::1`, `::`, `::ffff:192.0.2.1`); null when it is not one. */
export function parseIpv6(text: string): Buffer | null {
  if (text.length < 2 || text.length > 45 || !/^[0-9A-Fa-f:.]+$/.test(text)) return null;
  const groups: number[] = [];
  let tail: number[] | null = null;
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const parseSide = (side: string, allowV4: boolean): number[] | null => {
    if (side === '') return [];
    const parts = side.split(':');
    const out: number[] = [];
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (allowV4 && i === parts.length - 1 && p.includes('.')) {
        const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(p);
        if (m === null) return null;
        const o = m.slice(1, 5).map(Number);
        if (o.some((x, k) => x > 255 || (m[k + 1].length > 1 && m[k + 1][0] === '0'))) return null;
        out.push((o[0] << 8) | o[1], (o[2] << 8) | o[3]);
        continue;
      }
      if (!/^[0-9A-Fa-f]{1,4}$/.test(p)) return null;
      out.push(parseInt(p, 16));
    }
    return out;
  };
  if (halves.length === 2) {
    const head = parseSide(halves[0], false);
    tail = parseSide(halves[1], true);
    if (head === null || tail === null || head.length + tail.length > 7) return null;
    groups.push(...head);
    while (groups.length + tail.length < 8) groups.push(0);
    groups.push(...tail);
  } else {
    const all = parseSide(text, true);
    if (all === null || all.length !== 8) return null;
    groups.push(...all);
  }
  const buf = Buffer.alloc(IP6_LEN);
  for (let i = 0; i < 8; i++) buf.writeUInt16BE(groups[i], i * 2);
  return buf;
}

/** Formats 16 bytes at buf[off] as RFC 5952 text. (Control plane and traces only: it builds a string.) */
export function formatIpv6(buf: Buffer | Uint8Array, off = 0): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((buf[off + 2 * i] << 8) | buf[off + 2 * i + 1]);
  // IPv4-mapped (::ffff:a.b.c.d) keeps its dotted tail (RFC 5952 §5).
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${g[6] >>> 8}.${g[6] & 0xff}.${g[7] >>> 8}.${g[7] & 0xff}`;
  }
  let bestStart = -1;
  let bestLen = 1; // a single zero group is never compressed (§4.2.2)
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string => g.slice(from, to).map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}

export interface Ipv6Prefix {
  address: Buffer;
  prefixLength: number;
}

/** Parses `<address>/<len>` with 0 ≤ len ≤ 128; null when malformed. */
export function parseIpv6Prefix(text: string): Ipv6Prefix | null {
  const slash = text.indexOf('/');
  if (slash < 0) return null;
  const address = parseIpv6(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (address === null || !/^\d{1,3}$/.test(lenText)) return null;
  const prefixLength = Number(lenText);
  if (prefixLength > 128) return null;
  return { address, prefixLength };
}

/** Whether a[aOff..] and b[bOff..] are the same address (byte loop: cheaper than readUInt32BE calls in V8). */
export function ip6Equals(a: Buffer, aOff: number, b: Buffer, bOff: number): boolean {
  // From the end: addresses on one link share their prefix and differ in the interface identifier.
  for (let k = 15; k >= 0; k--) if (a[aOff + k] !== b[bOff + k]) return false;
  return true;
}

/** Copies the 16-byte address at src[sOff] to dst[dOff] (a byte loop: Buffer.copy's native call costs more for 16 bytes). */
export function copyIp6(src: Buffer, sOff: number, dst: Buffer, dOff: number): void {
  for (let k = 0; k < 16; k++) dst[dOff + k] = src[sOff + k];
}

/** Whether the first `len` bits of a[aOff..] and b[bOff..] are equal. */
export function ip6PrefixMatch(a: Buffer, aOff: number, b: Buffer, bOff: number, len: number): boolean {
  let bits = len;
  for (let w = 0; w < 16 && bits > 0; w += 4) {
    const x = a.readUInt32BE(aOff + w) ^ b.readUInt32BE(bOff + w);
    if (bits >= 32) {
      if (x !== 0) return false;
      bits -= 32;
    } else {
      return (x >>> (32 - bits)) === 0;
    }
  }
  return true;
}

/** A copy of `address` with the bits after `len` cleared. */
export function ip6Network(address: Buffer, len: number): Buffer {
  const out = Buffer.from(address.subarray(0, IP6_LEN));
  for (let i = 0; i < IP6_LEN; i++) {
    const keep = Math.max(0, Math.min(8, len - i * 8));
    out[i] &= (0xff00 >> keep) & 0xff;
  }
  return out;
}

export const isIp6Unspecified = (b: Buffer, o = 0): boolean => (b.readUInt32BE(o) | b.readUInt32BE(o + 4) | b.readUInt32BE(o + 8) | b.readUInt32BE(o + 12)) === 0;
export const isIp6Loopback = (b: Buffer, o = 0): boolean => (b.readUInt32BE(o) | b.readUInt32BE(o + 4) | b.readUInt32BE(o + 8)) === 0 && b.readUInt32BE(o + 12) === 1;
export const isIp6Multicast = (b: Buffer, o = 0): boolean => b[o] === 0xff;
/** fe80::/10 */
export const isIp6LinkLocal = (b: Buffer, o = 0): boolean => b[o] === 0xfe && (b[o + 1] & 0xc0) === 0x80;
/** ::ffff:0:0/96 */
export const isIp6V4Mapped = (b: Buffer, o = 0): boolean => (b.readUInt32BE(o) | b.readUInt32BE(o + 4)) === 0 && b.readUInt32BE(o + 8) === 0xffff;
/** ff02::1:ffXX:XXXX for any XX: a solicited-node group. */
export function isSolicitedNode(b: Buffer, o = 0): boolean {
  return b.readUInt32BE(o) === 0xff020000 && b.readUInt32BE(o + 4) === 0 && b.readUInt32BE(o + 8) === 1 && b[o + 12] === 0xff;
}
/** ff02::1, all nodes. */
export function isAllNodes(b: Buffer, o = 0): boolean {
  return b.readUInt32BE(o) === 0xff020000 && b.readUInt32BE(o + 4) === 0 && b.readUInt32BE(o + 8) === 0 && b.readUInt32BE(o + 12) === 1;
}

export const ALL_NODES = parseIpv6('ff02::1')!;
export const ALL_ROUTERS = parseIpv6('ff02::2')!;
export const UNSPECIFIED = Buffer.alloc(IP6_LEN);

/** The solicited-node group of `address` (RFC 4291 §2.7.1): ff02::1:ff + its low 24 bits. */
export function solicitedNode(address: Buffer, off = 0): Buffer {
  const g = Buffer.from([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 0]);
  g[13] = address[off + 13];
  g[14] = address[off + 14];
  g[15] = address[off + 15];
  return g;
}

/** Writes the Ethernet group MAC of the IPv6 multicast group at group[gOff] (RFC 2464 §7: 33:33 + low 32 bits) into out[oOff]. */
export function writeMulticastMac(out: Buffer, oOff: number, group: Buffer, gOff: number): void {
  out[oOff] = 0x33;
  out[oOff + 1] = 0x33;
  out[oOff + 2] = group[gOff + 12];
  out[oOff + 3] = group[gOff + 13];
  out[oOff + 4] = group[gOff + 14];
  out[oOff + 5] = group[gOff + 15];
}

export function multicastMac(group: Buffer, off = 0): Buffer {
  const mac = Buffer.alloc(6);
  writeMulticastMac(mac, 0, group, off);
  return mac;
}

/**
 * The EUI-64 link-local address of `mac` (RFC 4291 Appendix A, as VPP makes it): fe80:: and
 * mac[0] ^ 0x02, mac[1], mac[2], ff, fe, mac[3], mac[4], mac[5].
 */
export function eui64LinkLocal(mac: Buffer): Buffer {
  const a = Buffer.alloc(IP6_LEN);
  a[0] = 0xfe;
  a[1] = 0x80;
  a[8] = mac[0] ^ 0x02;
  a[9] = mac[1];
  a[10] = mac[2];
  a[11] = 0xff;
  a[12] = 0xfe;
  a[13] = mac[3];
  a[14] = mac[4];
  a[15] = mac[5];
  return a;
}

/** The per-process key of ip6Hash: random, so nobody outside can choose addresses that collide. */
const TABLE_KEY = makeKey(undefined, 0);

/**
 * A 32-bit hash of the address at b[o] (keys the neighbour and peer tables). Keyed with a
 * per-process random secret (HalfSipHash-1-3, keyed-hash.ts): an unkeyed mix can be inverted, and
 * addresses an attacker picks (a /64 gives 2^64 of them) would all land on one hash chain.
 */
export function ip6Hash(b: Buffer, o: number): number {
  return tableHash4(TABLE_KEY[0], TABLE_KEY[1], b.readUInt32BE(o), b.readUInt32BE(o + 4), b.readUInt32BE(o + 8), b.readUInt32BE(o + 12));
}
