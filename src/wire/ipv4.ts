/**
 * IPv4 header (RFC 791). Fields are read on demand from the buffer; nothing is copied.
 */
import { internetChecksum } from './checksum.js';

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
  const total = buf.readUInt16BE(off + 2);
  if (total < hlen || total > len) return Ipv4Error.BadTotalLength;
  if (internetChecksum(buf, off, hlen) !== 0) return Ipv4Error.BadChecksum;
  return Ipv4Error.None;
}

export const ipv4HeaderLength = (buf: Buffer, off: number): number => (buf[off] & 0x0f) * 4;
export const ipv4TotalLength = (buf: Buffer, off: number): number => buf.readUInt16BE(off + 2);
export const ipv4Id = (buf: Buffer, off: number): number => buf.readUInt16BE(off + 4);
/** True when this is a fragment: MF set or a non-zero fragment offset. */
export const ipv4IsFragment = (buf: Buffer, off: number): boolean => (buf.readUInt16BE(off + 6) & 0x3fff) !== 0;
export const ipv4Ttl = (buf: Buffer, off: number): number => buf[off + 8];
export const ipv4Protocol = (buf: Buffer, off: number): number => buf[off + 9];
export const ipv4Source = (buf: Buffer, off: number): number => buf.readUInt32BE(off + 12);
export const ipv4Destination = (buf: Buffer, off: number): number => buf.readUInt32BE(off + 16);

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
  buf.writeUInt16BE(IPV4_MIN_HEADER_LEN + payloadLength, off + 2);
  buf.writeUInt16BE(id & 0xffff, off + 4);
  buf.writeUInt16BE(0x4000, off + 6);
  buf[off + 8] = ttl;
  buf[off + 9] = protocol;
  buf.writeUInt16BE(0, off + 10);
  buf.writeUInt32BE(src >>> 0, off + 12);
  buf.writeUInt32BE(dst >>> 0, off + 16);
  buf.writeUInt16BE(internetChecksum(buf, off, IPV4_MIN_HEADER_LEN), off + 10);
  return IPV4_MIN_HEADER_LEN;
}
