/**
 * ICMPv4 (RFC 792): type(1) code(1) checksum(2), then for echo: identifier(2) sequence(2) data.
 */
import { write16 } from './bytes.js';
import { internetChecksum } from './checksum.js';

export const ICMP_HEADER_LEN = 8;
export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACHABLE = 3;
export const ICMP_ECHO_REQUEST = 8;

export const enum IcmpError {
  None = 0,
  TooShort,
  BadChecksum,
}

export function checkIcmp(buf: Buffer, off: number, len: number): IcmpError {
  if (len < ICMP_HEADER_LEN) return IcmpError.TooShort;
  if (internetChecksum(buf, off, len) !== 0) return IcmpError.BadChecksum;
  return IcmpError.None;
}

export const icmpType = (buf: Buffer, off: number): number => buf[off];
export const icmpCode = (buf: Buffer, off: number): number => buf[off + 1];

/**
 * The checksum after the message's first word (type, code) changed from `oldWord` to `newWord`,
 * updated incrementally (RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m')) instead of summing the whole
 * message again: an echo reply is its (verified) request with type 8 → 0.
 */
export function updatedChecksum(checksum: number, oldWord: number, newWord: number): number {
  let sum = (~checksum & 0xffff) + (~oldWord & 0xffff) + newWord;
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** Fills the checksum of an ICMP message of `len` bytes already in place. */
export function writeIcmpChecksum(buf: Buffer, off: number, len: number): void {
  write16(buf, off + 2, 0);
  write16(buf, off + 2, internetChecksum(buf, off, len));
}
