/** IPv4 and MAC address conversions. IPv4 addresses are host-order unsigned 32-bit numbers. */
import { read16, readInt32 } from './bytes.js';

const IPV4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** Parses dotted-quad IPv4; returns null when it is not one. */
export function parseIpv4(text: string): number | null {
  const m = IPV4_RE.exec(text);
  if (m === null) return null;
  let value = 0;
  for (let i = 1; i <= 4; i++) {
    const octet = Number(m[i]);
    if (octet > 255 || (m[i].length > 1 && m[i][0] === '0')) return null;
    value = value * 256 + octet;
  }
  return value;
}

export function formatIpv4(ip: number): string {
  return `${ip >>> 24}.${(ip >>> 16) & 0xff}.${(ip >>> 8) & 0xff}.${ip & 0xff}`;
}

export function prefixMask(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

export interface Ipv4Prefix {
  address: number;
  prefixLength: number;
}

/** Parses "a.b.c.d/len"; returns null when malformed. */
export function parseIpv4Prefix(text: string): Ipv4Prefix | null {
  const slash = text.indexOf('/');
  if (slash < 0) return null;
  const address = parseIpv4(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (address === null || !/^\d{1,2}$/.test(lenText)) return null;
  const prefixLength = Number(lenText);
  if (prefixLength > 32) return null;
  return { address, prefixLength };
}

/**
 * 240.0.0.0/4 (class E, reserved, RFC 1112 §4; 255.255.255.255 included): never a usable IPv4
 * address here. The TCP stack's IPv6 handles live there (dataplane/ip6-peers.ts), so ip4-input
 * drops such sources and the CLI refuses it as an interface address, route or next hop.
 */
export function isClassE(ip: number): boolean {
  return ip >>> 28 === 0xf;
}

export const CLASS_E_REASON = 'is in 240.0.0.0/4 (class E, reserved: never a valid address, and this dataplane uses it for its IPv6 TCP handles)';

export function sameSubnet(a: number, b: number, prefixLength: number): boolean {
  const mask = prefixMask(prefixLength);
  return ((a & mask) >>> 0) === ((b & mask) >>> 0);
}

const MAC_RE = /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i;

/** Parses "aa:bb:cc:dd:ee:ff" (or with dashes); returns null when malformed. */
export function parseMac(text: string): Buffer | null {
  const m = MAC_RE.exec(text);
  if (m === null) return null;
  return Buffer.from(m.slice(1, 7).map((h) => parseInt(h, 16)));
}

export function formatMac(buf: Buffer, off = 0): string {
  let s = '';
  for (let i = 0; i < 6; i++) {
    if (i > 0) s += ':';
    s += buf[off + i].toString(16).padStart(2, '0');
  }
  return s;
}

export function isBroadcastMac(buf: Buffer, off: number): boolean {
  return readInt32(buf, off) === -1 && read16(buf, off + 4) === 0xffff;
}

export function isMulticastMac(buf: Buffer, off: number): boolean {
  return (buf[off] & 1) === 1;
}

export function macEquals(a: Buffer, aOff: number, b: Buffer, bOff: number): boolean {
  return readInt32(a, aOff) === readInt32(b, bOff) && read16(a, aOff + 4) === read16(b, bOff + 4);
}
