/**
 * IPv4 header (RFC 791). Fields are read on demand from the buffer; nothing is copied.
 */
import { internetChecksum } from './checksum.js';
import { read16, readInt32, readUint32, write16, write32 } from './bytes.js';

export const IPV4_MIN_HEADER_LEN = 20;
export const IP_PROTO_ICMP = 1;
export const IP_PROTO_TCP = 6;
export const IP_PROTO_UDP = 17;
export const DEFAULT_TTL = 64;

export const enum Ipv4Error {
  None = 0,
  TooShort,
  BadVersion,
  BadHeaderLength,
  BadTotalLength,
  BadChecksum,
}

/** Validates version, IHL, total length against the frame, and the header checksum. */
export function checkIpv4(buf: Buffer, off: number, len: number): Ipv4Error {
  if (len < IPV4_MIN_HEADER_LEN) return Ipv4Error.TooShort;
  const vihl = buf[off];
  if (vihl >>> 4 !== 4) return Ipv4Error.BadVersion;
  const hlen = (vihl & 0x0f) * 4;
  if (hlen < IPV4_MIN_HEADER_LEN || hlen > len) return Ipv4Error.BadHeaderLength;
  const total = read16(buf, off + 2);
  if (total < hlen || total > len) return Ipv4Error.BadTotalLength;
  if (internetChecksum(buf, off, hlen) !== 0) return Ipv4Error.BadChecksum;
  return Ipv4Error.None;
}

export const ipv4HeaderLength = (buf: Buffer, off: number): number => (buf[off] & 0x0f) * 4;
export const ipv4TotalLength = (buf: Buffer, off: number): number => read16(buf, off + 2);
export const ipv4Id = (buf: Buffer, off: number): number => read16(buf, off + 4);
/** True when this is a fragment: MF set or a non-zero fragment offset. */
export const ipv4IsFragment = (buf: Buffer, off: number): boolean => (read16(buf, off + 6) & 0x3fff) !== 0;
export const ipv4Ttl = (buf: Buffer, off: number): number => buf[off + 8];
export const ipv4Protocol = (buf: Buffer, off: number): number => buf[off + 9];
export const ipv4Source = (buf: Buffer, off: number): number => readUint32(buf, off + 12);
export const ipv4Destination = (buf: Buffer, off: number): number => readUint32(buf, off + 16);
/**
 * The addresses as signed 32-bit integers, for the per-packet paths: an unsigned address of
 * 128.0.0.0 or above (192.168.x.y) is a heap number on Node 20/x64 wherever it crosses a call V8
 * does not inline (16 bytes each time), a small integer never is. The callees take either form
 * (they normalise with `>>> 0` where they compare with configured, unsigned, addresses).
 */
export const ipv4SourceI32 = (b: Buffer, o: number): number => readInt32(b, o + 12);
export const ipv4DestinationI32 = (b: Buffer, o: number): number => readInt32(b, o + 16);

/**
 * Writes a 20-byte header without options, with DF set and the checksum filled in.
 * `payloadLength` excludes the header. Returns 20.
 */
export function writeIpv4(
  buf: Buffer,
  off: number,
  src: number,
  dst: number,
  protocol: number,
  payloadLength: number,
  id: number,
  ttl = DEFAULT_TTL,
): number {
  buf[off] = 0x45;
  buf[off + 1] = 0;
  write16(buf, off + 2, IPV4_MIN_HEADER_LEN + payloadLength);
  write16(buf, off + 4, id & 0xffff);
  write16(buf, off + 6, 0x4000);
  buf[off + 8] = ttl;
  buf[off + 9] = protocol;
  write16(buf, off + 10, 0);
  // Byte by byte: either form of address (unsigned, or int32 from the per-packet paths), no call.
  write32(buf, off + 12, src);
  write32(buf, off + 16, dst);
  write16(buf, off + 10, internetChecksum(buf, off, IPV4_MIN_HEADER_LEN));
  return IPV4_MIN_HEADER_LEN;
}
