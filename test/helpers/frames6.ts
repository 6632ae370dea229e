/**
 * IPv6 frame builders and decoders for tests, written from the RFCs independently of src/wire
 * (as frames.ts is for IPv4): the dataplane is checked against a second implementation.
 */
import { checksum, CLIENT_MAC, ethernet, ETH_P_IPV6, OUR_MAC, type Tag } from './frames.js';

/** Text → 16 bytes (expands `::`; no dotted IPv4 tail). */
export function ip6(text: string): Buffer {
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  if (groups.length !== 8) throw new Error(`bad IPv6 in test: ${text}`);
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), 2 * i));
  return b;
}

export const OUR_IP6_TEXT = '2001:db8:123::150';
export const CLIENT_IP6_TEXT = '2001:db8:123::10';
export const OUR_IP6 = ip6(OUR_IP6_TEXT);
export const CLIENT_IP6 = ip6(CLIENT_IP6_TEXT);
/** EUI-64 link-local of the seed MAC c6:b4:b5:74:11:88 (u/l bit inverted: c6 → c4). */
export const OUR_LL_TEXT = 'fe80::c4b4:b5ff:fe74:1188';
export const CLIENT_LL = ip6('fe80::5054:ff:fe12:3456');

/** The solicited-node group of an address: ff02::1:ff + low 24 bits. */
export function solicited(a: Buffer): Buffer {
  const g = ip6('ff02::1:ff00:0');
  a.copy(g, 13, 13, 16);
  return g;
}

/** 33:33 + the low 32 bits of a group. */
export function groupMac(g: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x33, 0x33]), g.subarray(12, 16)]);
}

/** The upper-layer checksum over the IPv6 pseudo-header (RFC 8200 §8.1), the textbook way. */
export function checksum6(src: Buffer, dst: Buffer, nh: number, upper: Buffer): number {
  const pseudo = Buffer.alloc(40);
  src.copy(pseudo, 0);
  dst.copy(pseudo, 16);
  pseudo.writeUInt32BE(upper.length, 32);
  pseudo[39] = nh;
  return checksum(Buffer.concat([pseudo, upper]));
}

export interface Ip6Spec {
  src?: Buffer;
  dst?: Buffer;
  nh?: number;
  hopLimit?: number;
  payload: Buffer;
}

export function ipv6(spec: Ip6Spec): Buffer {
  const h = Buffer.alloc(40);
  h.writeUInt32BE(0x60000000, 0);
  h.writeUInt16BE(spec.payload.length, 4);
  h[6] = spec.nh ?? 58;
  h[7] = spec.hopLimit ?? 64;
  (spec.src ?? CLIENT_IP6).copy(h, 8);
  (spec.dst ?? OUR_IP6).copy(h, 24);
  return Buffer.concat([h, spec.payload]);
}

/** An ICMPv6 message with its checksum for src → dst (`badChecksum` flips it). */
export function icmp6(type: number, code: number, body: Buffer, src: Buffer, dst: Buffer, badChecksum = false): Buffer {
  const m = Buffer.concat([Buffer.from([type, code, 0, 0]), body]);
  const c = checksum6(src, dst, 58, m);
  m.writeUInt16BE(badChecksum ? c ^ 0x5555 : c, 2);
  return m;
}

export interface FrameSpec {
  ethDst?: Buffer;
  ethSrc?: Buffer;
  tags?: Tag[];
  src?: Buffer;
  dst?: Buffer;
  hopLimit?: number;
  badChecksum?: boolean;
}

const TAG123: Tag[] = [{ vid: 123 }];

function frame(o: FrameSpec, nh: number, upper: Buffer, defaultDst: Buffer, defaultHop: number): Buffer {
  return ethernet({
    dst: o.ethDst ?? OUR_MAC,
    src: o.ethSrc ?? CLIENT_MAC,
    tags: o.tags ?? TAG123,
    type: ETH_P_IPV6,
    payload: ipv6({ src: o.src ?? CLIENT_IP6, dst: o.dst ?? defaultDst, nh, hopLimit: o.hopLimit ?? defaultHop, payload: upper }),
  });
}

/** Echo request (or, with type 129, reply) from the client to us (VLAN 123). */
export function echo6Frame(o: FrameSpec & { id?: number; seq?: number; data?: Buffer; type?: number } = {}): Buffer {
  const body = Buffer.concat([Buffer.from([(o.id ?? 0x1234) >> 8, (o.id ?? 0x1234) & 255, (o.seq ?? 1) >> 8, (o.seq ?? 1) & 255]), o.data ?? Buffer.from('abcdefgh')]);
  const src = o.src ?? CLIENT_IP6;
  const dst = o.dst ?? OUR_IP6;
  return frame(o, 58, icmp6(o.type ?? 128, 0, body, src, dst, o.badChecksum), dst, 64);
}

/** NS for `target` from the client with its SLLA, to the target's solicited-node group (hop limit 255). */
export function nsFrame(target: Buffer, o: FrameSpec & { slla?: Buffer | null } = {}): Buffer {
  const src = o.src ?? CLIENT_IP6;
  const dst = o.dst ?? solicited(target);
  const slla = o.slla === undefined ? (o.ethSrc ?? CLIENT_MAC) : o.slla;
  const body = Buffer.concat([Buffer.alloc(4), target, slla === null ? Buffer.alloc(0) : Buffer.concat([Buffer.from([1, 1]), slla])]);
  return frame({ ethDst: groupMac(dst), ...o, src, dst }, 58, icmp6(135, 0, body, src, dst, o.badChecksum), dst, 255);
}

/** NA for `target` (flags: 0x80 R, 0x40 S, 0x20 O) with a TLLA (none when null). */
export function naFrame(target: Buffer, flags: number, tlla: Buffer | null, o: FrameSpec = {}): Buffer {
  const src = o.src ?? target;
  const dst = o.dst ?? ip6('ff02::1');
  const body = Buffer.concat([Buffer.from([flags, 0, 0, 0]), target, tlla === null ? Buffer.alloc(0) : Buffer.concat([Buffer.from([2, 1]), tlla])]);
  return frame({ ethDst: groupMac(dst), ...o, src, dst }, 58, icmp6(136, 0, body, src, dst, o.badChecksum), dst, 255);
}

export interface DecodedIp6 {
  src: Buffer;
  dst: Buffer;
  nh: number;
  hopLimit: number;
  payload: Buffer;
  /** The upper-layer checksum verifies (ICMPv6/TCP/UDP). */
  checksumOk: boolean;
}

export function decodeIpv6(b: Buffer): DecodedIp6 {
  if (b[0] >> 4 !== 6) throw new Error('not IPv6');
  const len = b.readUInt16BE(4);
  const payload = b.subarray(40, 40 + len);
  const src = b.subarray(8, 24);
  const dst = b.subarray(24, 40);
  return { src, dst, nh: b[6], hopLimit: b[7], payload, checksumOk: checksum6(src, dst, b[6], payload) === 0 };
}

export interface Tcp6Spec {
  srcPort?: number;
  dstPort?: number;
  seq?: number;
  ack?: number;
  flags?: number;
  window?: number;
  options?: Buffer;
  payload?: Buffer;
}

/** A TCP segment from the client to us over IPv6 (VLAN 123), its checksum over the IPv6 pseudo-header. */
export function tcp6Frame(spec: Tcp6Spec = {}, o: FrameSpec = {}): Buffer {
  const options = spec.options ?? Buffer.alloc(0);
  const payload = spec.payload ?? Buffer.alloc(0);
  const hlen = 20 + options.length;
  const b = Buffer.alloc(hlen + payload.length);
  b.writeUInt16BE(spec.srcPort ?? 40000, 0);
  b.writeUInt16BE(spec.dstPort ?? 80, 2);
  b.writeUInt32BE((spec.seq ?? 1000) >>> 0, 4);
  b.writeUInt32BE((spec.ack ?? 0) >>> 0, 8);
  b[12] = (hlen / 4) << 4;
  b[13] = spec.flags ?? 2;
  b.writeUInt16BE(spec.window ?? 65535, 14);
  options.copy(b, 20);
  payload.copy(b, hlen);
  const src = o.src ?? CLIENT_IP6;
  const dst = o.dst ?? OUR_IP6;
  const c = checksum6(src, dst, 6, b);
  b.writeUInt16BE(o.badChecksum === true ? c ^ 0x5555 : c, 16);
  return frame(o, 6, b, dst, 64);
}
