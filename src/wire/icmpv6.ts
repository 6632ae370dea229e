/**
 * ICMPv6 (RFC 4443) and Neighbor Discovery messages (RFC 4861).
 *
 *   type(1) code(1) checksum(2) body…   the checksum covers the IPv6 pseudo-header.
 *   NS (135): reserved(4) target(16) options      NA (136): R|S|O flags(1) reserved(3) target(16) options
 *   options: type(1) length(1, units of 8 bytes, never 0) …; SLLA (1) and TLLA (2) carry a MAC.
 */
import { finish, sumWords } from './checksum.js';
import { isIp6Multicast, isIp6Unspecified, isSolicitedNode } from './ipv6-address.js';
import { IP6_NH_ICMP6, ipv6DestinationOffset, ipv6HopLimit, ipv6SourceOffset, pseudoHeaderSum6 } from './ipv6.js';

export const ICMP6_DEST_UNREACHABLE = 1;
export const ICMP6_PACKET_TOO_BIG = 2;
export const ICMP6_TIME_EXCEEDED = 3;
export const ICMP6_PARAMETER_PROBLEM = 4;
export const ICMP6_ECHO_REQUEST = 128;
export const ICMP6_ECHO_REPLY = 129;
export const ND_ROUTER_SOLICIT = 133;
export const ND_ROUTER_ADVERT = 134;
export const ND_NEIGHBOR_SOLICIT = 135;
export const ND_NEIGHBOR_ADVERT = 136;
export const ND_REDIRECT = 137;

export const ND_OPT_SOURCE_LLADDR = 1;
export const ND_OPT_TARGET_LLADDR = 2;

export const NA_FLAG_ROUTER = 0x80;
export const NA_FLAG_SOLICITED = 0x40;
export const NA_FLAG_OVERRIDE = 0x20;

export const ICMP6_HEADER_LEN = 8;
/** NS and NA without options. */
export const ND_NS_NA_LEN = 24;
/** An NS or NA with one link-layer address option. */
export const ND_WITH_LLADDR_LEN = 32;

/** Checksum of the ICMPv6 message buf[icmp .. icmp+len) of the IPv6 packet at buf[ip]: 0 when valid. */
export function icmp6Checksum(buf: Buffer, ip: number, icmp: number, len: number): number {
  return finish(sumWords(buf, icmp, len, pseudoHeaderSum6(buf, ip, len, IP6_NH_ICMP6)));
}

/** Fills in the checksum of the ICMPv6 message at buf[icmp], `len` bytes, in the packet at buf[ip]. */
export function writeIcmp6Checksum(buf: Buffer, ip: number, icmp: number, len: number): void {
  buf.writeUInt16BE(0, icmp + 2);
  buf.writeUInt16BE(icmp6Checksum(buf, ip, icmp, len), icmp + 2);
}

export const enum NdError {
  None = 0,
  HopLimit,
  BadCode,
  TooShort,
  MulticastTarget,
  /** An option with length 0, or one that runs past the message. */
  BadOption,
  /** NS from :: (DAD) not to a solicited-node group, or with a source link-layer option. */
  BadDadProbe,
  /** NA to a multicast address with the Solicited flag. */
  SolicitedToMulticast,
}

/**
 * The validity checks of RFC 4861 §7.1.1 (NS) and §7.1.2 (NA), checksum apart (checked by the
 * caller first): hop limit 255, code 0, length ≥ 24, target not multicast, option lengths, and
 * the rules for a DAD probe (NS from ::) and a multicast NA.
 */
export function checkNsNa(buf: Buffer, ip: number, icmp: number, len: number): NdError {
  if (ipv6HopLimit(buf, ip) !== 255) return NdError.HopLimit;
  if (buf[icmp + 1] !== 0) return NdError.BadCode;
  if (len < ND_NS_NA_LEN) return NdError.TooShort;
  if (isIp6Multicast(buf, icmp + 8)) return NdError.MulticastTarget;
  if (ndOptionsValid(buf, icmp + ND_NS_NA_LEN, icmp + len) === false) return NdError.BadOption;
  if (buf[icmp] === ND_NEIGHBOR_SOLICIT) {
    if (isIp6Unspecified(buf, ip + ipv6SourceOffset)) {
      if (!isSolicitedNode(buf, ip + ipv6DestinationOffset)) return NdError.BadDadProbe;
      if (ndOption(buf, icmp + ND_NS_NA_LEN, icmp + len, ND_OPT_SOURCE_LLADDR) >= 0) return NdError.BadDadProbe;
    }
  } else if (isIp6Multicast(buf, ip + ipv6DestinationOffset) && (buf[icmp + 4] & NA_FLAG_SOLICITED) !== 0) {
    return NdError.SolicitedToMulticast;
  }
  return NdError.None;
}

/** Every option of buf[p .. end) has a non-zero length and fits. At most 64 options are walked. */
export function ndOptionsValid(buf: Buffer, p: number, end: number): boolean {
  for (let n = 0; p < end; n++) {
    if (n >= 64 || p + 2 > end) return false;
    const l = buf[p + 1] * 8;
    if (l === 0 || p + l > end) return false;
    p += l;
  }
  return true;
}

/**
 * Offset of the first option of `type` in buf[p .. end) whose length fits a MAC (≥ 8 bytes), or
 * -1. Call after ndOptionsValid.
 */
export function ndOption(buf: Buffer, p: number, end: number, type: number): number {
  for (let n = 0; p + 2 <= end && n < 64; n++) {
    const l = buf[p + 1] * 8;
    if (l === 0) return -1;
    if (buf[p] === type && p + l <= end) return p;
    p += l;
  }
  return -1;
}

/** Writes an NA for `target` with flags and a target link-layer option; returns its length (32). Checksum by the caller. */
export function writeNa(buf: Buffer, off: number, flags: number, target: Buffer, targetOff: number, mac: Buffer): number {
  buf[off] = ND_NEIGHBOR_ADVERT;
  buf[off + 1] = 0;
  buf.writeUInt16BE(0, off + 2);
  buf.writeUInt32BE((flags & 0xe0) << 24 >>> 0, off + 4);
  target.copy(buf, off + 8, targetOff, targetOff + 16);
  buf[off + 24] = ND_OPT_TARGET_LLADDR;
  buf[off + 25] = 1;
  mac.copy(buf, off + 26, 0, 6);
  return ND_WITH_LLADDR_LEN;
}

/** Writes an NS for `target`, with a source link-layer option unless `mac` is null (a DAD probe). Returns its length. */
export function writeNs(buf: Buffer, off: number, target: Buffer, targetOff: number, mac: Buffer | null): number {
  buf[off] = ND_NEIGHBOR_SOLICIT;
  buf[off + 1] = 0;
  buf.writeUInt16BE(0, off + 2);
  buf.writeUInt32BE(0, off + 4);
  target.copy(buf, off + 8, targetOff, targetOff + 16);
  if (mac === null) return ND_NS_NA_LEN;
  buf[off + 24] = ND_OPT_SOURCE_LLADDR;
  buf[off + 25] = 1;
  mac.copy(buf, off + 26, 0, 6);
  return ND_WITH_LLADDR_LEN;
}
