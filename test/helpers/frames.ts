/**
 * Frame builders and decoders for tests, written independently of src/wire so that tests
 * check the dataplane against a second implementation (built from the RFCs), not against itself.
 */

export const OUR_MAC_TEXT = 'c6:b4:b5:74:11:88';
export const OUR_IP_TEXT = '192.168.123.150';
export const CLIENT_MAC_TEXT = '52:54:00:12:34:56';
export const CLIENT_IP_TEXT = '192.168.123.10';
export const BROADCAST_MAC_TEXT = 'ff:ff:ff:ff:ff:ff';

export const ETH_P_IPV4 = 0x0800;
export const ETH_P_ARP = 0x0806;
export const ETH_P_8021Q = 0x8100;
export const ETH_P_8021AD = 0x88a8;
export const ETH_P_IPV6 = 0x86dd;

/** "aa:bb:cc:dd:ee:ff" → 6 bytes. */
export function mac(text: string): Buffer {
  const parts = text.split(':');
  if (parts.length !== 6) throw new Error(`bad MAC in test: ${text}`);
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}

export function macText(buf: Buffer, off = 0): string {
  return [...buf.subarray(off, off + 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** "a.b.c.d" → host-order unsigned number. */
export function ip(text: string): number {
  const parts = text.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !(p >= 0 && p <= 255))) throw new Error(`bad IPv4 in test: ${text}`);
  return ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
}

export function ipText(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export const OUR_MAC = mac(OUR_MAC_TEXT);
export const OUR_IP = ip(OUR_IP_TEXT);
export const CLIENT_MAC = mac(CLIENT_MAC_TEXT);
export const CLIENT_IP = ip(CLIENT_IP_TEXT);
export const BROADCAST_MAC = mac(BROADCAST_MAC_TEXT);

/** RFC 1071 checksum, the textbook way (byte pairs, fold at the end). */
export function checksum(buf: Buffer, initial = 0): number {
  let sum = initial;
  for (let i = 0; i < buf.length; i += 2) sum += (buf[i] << 8) + (i + 1 < buf.length ? buf[i + 1] : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 65536);
  return ~sum & 0xffff;
}

export interface Tag {
  /** TPID; 0x8100 unless given. */
  tpid?: number;
  vid: number;
  pcp?: number;
  dei?: boolean;
}

export const tci = (t: Tag): number => ((t.pcp ?? 0) << 13) | (t.dei === true ? 0x1000 : 0) | (t.vid & 0xfff);

export interface EthernetSpec {
  dst?: Buffer;
  src?: Buffer;
  /** Inline tags, outermost first. */
  tags?: Tag[];
  type: number;
  payload: Buffer;
  /** Pad to 60 bytes as a NIC would (default true). */
  pad?: boolean;
}

export function ethernet(spec: EthernetSpec): Buffer {
  const tags = spec.tags ?? [];
  const head = Buffer.alloc(14 + tags.length * 4);
  (spec.dst ?? OUR_MAC).copy(head, 0);
  (spec.src ?? CLIENT_MAC).copy(head, 6);
  let p = 12;
  for (const t of tags) {
    head.writeUInt16BE(t.tpid ?? ETH_P_8021Q, p);
    head.writeUInt16BE(tci(t), p + 2);
    p += 4;
  }
  head.writeUInt16BE(spec.type, p);
  const frame = Buffer.concat([head, spec.payload]);
  if (spec.pad !== false && frame.length < 60) return Buffer.concat([frame, Buffer.alloc(60 - frame.length)]);
  return frame;
}

export interface ArpSpec {
  op: 1 | 2 | number;
  sha?: Buffer;
  spa?: number;
  tha?: Buffer;
  tpa?: number;
}

export function arp(spec: ArpSpec): Buffer {
  const b = Buffer.alloc(28);
  b.writeUInt16BE(1, 0);
  b.writeUInt16BE(0x0800, 2);
  b[4] = 6;
  b[5] = 4;
  b.writeUInt16BE(spec.op, 6);
  (spec.sha ?? CLIENT_MAC).copy(b, 8);
  b.writeUInt32BE(spec.spa ?? CLIENT_IP, 14);
  (spec.tha ?? Buffer.alloc(6)).copy(b, 18);
  b.writeUInt32BE(spec.tpa ?? OUR_IP, 24);
  return b;
}

export interface Ipv4Spec {
  src?: number;
  dst?: number;
  protocol: number;
  payload: Buffer;
  ttl?: number;
  id?: number;
  tos?: number;
  /** Flags (3 bits: reserved, DF, MF) and fragment offset (in 8-byte units). */
  df?: boolean;
  mf?: boolean;
  fragmentOffset?: number;
  /** IP options (padded to a multiple of 4 by the caller). */
  options?: Buffer;
  /** Overrides, for lying headers. */
  totalLength?: number;
  ihl?: number;
  version?: number;
  checksum?: number;
}

export function ipv4(spec: Ipv4Spec): Buffer {
  const options = spec.options ?? Buffer.alloc(0);
  const hlen = 20 + options.length;
  const h = Buffer.alloc(hlen);
  h[0] = ((spec.version ?? 4) << 4) | (spec.ihl ?? hlen / 4);
  h[1] = spec.tos ?? 0;
  h.writeUInt16BE(spec.totalLength ?? hlen + spec.payload.length, 2);
  h.writeUInt16BE(spec.id ?? 0x1234, 4);
  h.writeUInt16BE((spec.df === false ? 0 : 0x4000) | (spec.mf === true ? 0x2000 : 0) | ((spec.fragmentOffset ?? 0) & 0x1fff), 6);
  h[8] = spec.ttl ?? 64;
  h[9] = spec.protocol;
  h.writeUInt32BE(spec.src ?? CLIENT_IP, 12);
  h.writeUInt32BE(spec.dst ?? OUR_IP, 16);
  options.copy(h, 20);
  h.writeUInt16BE(spec.checksum ?? checksum(h), 10);
  return Buffer.concat([h, spec.payload]);
}

export interface IcmpEchoSpec {
  type?: number;
  code?: number;
  id?: number;
  seq?: number;
  data?: Buffer;
  checksum?: number;
}

export function icmpEcho(spec: IcmpEchoSpec = {}): Buffer {
  const data = spec.data ?? Buffer.from('abcdefghijklmnopqrstuvwabcdefghi');
  const b = Buffer.alloc(8 + data.length);
  b[0] = spec.type ?? 8;
  b[1] = spec.code ?? 0;
  b.writeUInt16BE(spec.id ?? 0x4242, 4);
  b.writeUInt16BE(spec.seq ?? 1, 6);
  data.copy(b, 8);
  b.writeUInt16BE(spec.checksum ?? checksum(b), 2);
  return b;
}

export interface TcpSpec {
  src?: number;
  dst?: number;
  srcPort?: number;
  dstPort?: number;
  seq?: number;
  ack?: number;
  /** Flag bits: FIN 1, SYN 2, RST 4, PSH 8, ACK 16. */
  flags?: number;
  window?: number;
  payload?: Buffer;
  options?: Buffer;
}

export function tcp(spec: TcpSpec = {}): Buffer {
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
  const src = spec.src ?? CLIENT_IP;
  const dst = spec.dst ?? OUR_IP;
  const pseudo = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + 6 + b.length;
  b.writeUInt16BE(checksum(b, pseudo), 16);
  return b;
}

// ---- whole frames -------------------------------------------------------------------------

export interface FrameOptions {
  dst?: Buffer;
  src?: Buffer;
  tags?: Tag[];
}

/** A ping (echo request) frame from the client to us, by default on VLAN 123 inline. */
export function pingFrame(o: FrameOptions & IcmpEchoSpec & { ipSrc?: number; ipDst?: number; ip?: Partial<Ipv4Spec> } = {}): Buffer {
  const icmp = icmpEcho(o);
  const packet = ipv4({ src: o.ipSrc, dst: o.ipDst, protocol: 1, payload: icmp, ...o.ip });
  return ethernet({ dst: o.dst, src: o.src, tags: o.tags ?? [{ vid: 123 }], type: ETH_P_IPV4, payload: packet });
}

/** An ARP request from the client for our address, broadcast, by default on VLAN 123 inline. */
export function arpRequestFrame(o: FrameOptions & Partial<ArpSpec> = {}): Buffer {
  return ethernet({
    dst: o.dst ?? BROADCAST_MAC,
    src: o.src,
    tags: o.tags ?? [{ vid: 123 }],
    type: ETH_P_ARP,
    payload: arp({ op: o.op ?? 1, sha: o.sha, spa: o.spa, tha: o.tha, tpa: o.tpa }),
  });
}

export function tcpFrame(segment: TcpSpec = {}, frame: FrameOptions = {}): Buffer {
  const payload = tcp(segment);
  return ethernet({ dst: frame.dst, src: frame.src, tags: frame.tags ?? [{ vid: 123 }], type: ETH_P_IPV4, payload: ipv4({ src: segment.src, dst: segment.dst, protocol: 6, payload }) });
}

// ---- decoding -----------------------------------------------------------------------------

export interface DecodedFrame {
  dst: string;
  src: string;
  tags: { tpid: number; tci: number; vid: number; pcp: number }[];
  type: number;
  /** Everything after the innermost EtherType (including any padding). */
  payload: Buffer;
}

export function decodeEthernet(frame: Buffer): DecodedFrame {
  const tags: DecodedFrame['tags'] = [];
  let p = 12;
  let type = frame.readUInt16BE(p);
  while (type === ETH_P_8021Q || type === ETH_P_8021AD || type === 0x9100) {
    const t = frame.readUInt16BE(p + 2);
    tags.push({ tpid: type, tci: t, vid: t & 0xfff, pcp: t >>> 13 });
    p += 4;
    type = frame.readUInt16BE(p);
  }
  return { dst: macText(frame, 0), src: macText(frame, 6), tags, type, payload: frame.subarray(p + 2) };
}

export interface DecodedArp {
  op: number;
  sha: string;
  spa: string;
  tha: string;
  tpa: string;
}

export function decodeArp(b: Buffer): DecodedArp {
  if (b.readUInt16BE(0) !== 1 || b.readUInt16BE(2) !== 0x0800 || b[4] !== 6 || b[5] !== 4) throw new Error('not an Ethernet/IPv4 ARP packet');
  return { op: b.readUInt16BE(6), sha: macText(b, 8), spa: ipText(b.readUInt32BE(14)), tha: macText(b, 18), tpa: ipText(b.readUInt32BE(24)) };
}

export interface DecodedIpv4 {
  ihl: number;
  totalLength: number;
  id: number;
  flags: number;
  ttl: number;
  protocol: number;
  src: string;
  dst: string;
  headerChecksumOk: boolean;
  /** The payload cut to the total length. */
  payload: Buffer;
}

export function decodeIpv4(b: Buffer): DecodedIpv4 {
  const ihl = (b[0] & 15) * 4;
  const totalLength = b.readUInt16BE(2);
  if (b[0] >>> 4 !== 4) throw new Error('not IPv4');
  return {
    ihl,
    totalLength,
    id: b.readUInt16BE(4),
    flags: b.readUInt16BE(6) >>> 13,
    ttl: b[8],
    protocol: b[9],
    src: ipText(b.readUInt32BE(12)),
    dst: ipText(b.readUInt32BE(16)),
    headerChecksumOk: checksum(b.subarray(0, ihl)) === 0,
    payload: b.subarray(ihl, totalLength),
  };
}

export interface DecodedIcmpEcho {
  type: number;
  code: number;
  id: number;
  seq: number;
  data: Buffer;
  checksumOk: boolean;
}

export function decodeIcmpEcho(b: Buffer): DecodedIcmpEcho {
  return { type: b[0], code: b[1], id: b.readUInt16BE(4), seq: b.readUInt16BE(6), data: b.subarray(8), checksumOk: checksum(b) === 0 };
}
