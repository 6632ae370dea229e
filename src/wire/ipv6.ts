/**
 * IPv6 header (RFC 8200) and a bounded walk over its extension headers.
 *
 *   version(4) traffic class(8) flow label(20) | payload length(16) next header(8) hop limit(8)
 *   source(128) destination(128)
 *
 * The walk (walkIp6) goes through hop-by-hop, routing, destination options and fragment
 * headers to the upper-layer protocol. It is safe on hostile chains: every header must fit the
 * payload, at most MAX_EXTENSION_HEADERS are walked and at most MAX_OPTIONS options per header,
 * so its cost is bounded whatever the packet says. It allocates nothing: the result goes into a
 * caller-owned Ip6Walk.
 */
import { sumWords } from './checksum.js';
import { copyIp6 } from './ipv6-address.js';

export const IPV6_HEADER_LEN = 40;
export const DEFAULT_HOP_LIMIT = 64;

export const IP6_NH_HOP_BY_HOP = 0;
export const IP6_NH_TCP = 6;
export const IP6_NH_UDP = 17;
export const IP6_NH_ROUTING = 43;
export const IP6_NH_FRAGMENT = 44;
export const IP6_NH_ESP = 50;
export const IP6_NH_AH = 51;
export const IP6_NH_ICMP6 = 58;
export const IP6_NH_NONE = 59;
export const IP6_NH_DEST_OPTIONS = 60;

/** More extension headers than this in one packet: dropped (Linux has no fixed limit; real packets have one or two). */
export const MAX_EXTENSION_HEADERS = 8;
/** More options than this in one hop-by-hop or destination options header: dropped (padding floods). */
export const MAX_OPTIONS = 16;

export const enum Ipv6Error {
  None = 0,
  TooShort,
  BadVersion,
  BadLength,
}

/** Validates version and payload length against the frame (`len`: bytes from `off` to the frame's end). */
export function checkIpv6(buf: Buffer, off: number, len: number): Ipv6Error {
  if (len < IPV6_HEADER_LEN) return Ipv6Error.TooShort;
  if (buf[off] >>> 4 !== 6) return Ipv6Error.BadVersion;
  if (IPV6_HEADER_LEN + buf.readUInt16BE(off + 4) > len) return Ipv6Error.BadLength;
  return Ipv6Error.None;
}

export const ipv6PayloadLength = (buf: Buffer, off: number): number => buf.readUInt16BE(off + 4);
export const ipv6NextHeader = (buf: Buffer, off: number): number => buf[off + 6];
export const ipv6HopLimit = (buf: Buffer, off: number): number => buf[off + 7];
export const ipv6SourceOffset = 8;
export const ipv6DestinationOffset = 24;

export const enum WalkError {
  None = 0,
  /** An extension header runs past the payload. */
  Truncated,
  /** More than MAX_EXTENSION_HEADERS, or more than MAX_OPTIONS options in one header. */
  TooMany,
  /** Hop-by-hop options anywhere but right after the IPv6 header (RFC 8200 §4.1). */
  HopByHopNotFirst,
  /** An option runs past its header. */
  BadOption,
  /** An unrecognised option whose type says discard (RFC 8200 §4.2: action bits ≠ 00). */
  UnknownOption,
  /** A routing header with segments left: we are a host and forward nothing. */
  RoutingSegmentsLeft,
  /** A fragment header: reassembly is not supported. */
  Fragment,
}

/** Where the walk ended: the upper-layer protocol and its offset, or the error and where it was found. */
export class Ip6Walk {
  error: WalkError = WalkError.None;
  /** Upper-layer protocol (next header value after the last extension header). */
  protocol = 0;
  /** Offset of the upper-layer header (or of the faulty extension header / option). */
  offset = 0;
  /** Extension headers walked. */
  headers = 0;
}

/**
 * Walks the extension headers of the IPv6 packet at buf[off], whose payload length was already
 * checked against the frame. Fills `out`; returns out.error.
 */
export function walkIp6(buf: Buffer, off: number, out: Ip6Walk): WalkError {
  const end = off + IPV6_HEADER_LEN + buf.readUInt16BE(off + 4);
  let nh = buf[off + 6];
  let p = off + IPV6_HEADER_LEN;
  let count = 0;
  out.error = WalkError.None;
  for (;;) {
    if (nh !== IP6_NH_HOP_BY_HOP && nh !== IP6_NH_ROUTING && nh !== IP6_NH_FRAGMENT && nh !== IP6_NH_DEST_OPTIONS) break;
    if (nh === IP6_NH_HOP_BY_HOP && count > 0) return fail(out, WalkError.HopByHopNotFirst, p, count);
    if (++count > MAX_EXTENSION_HEADERS) return fail(out, WalkError.TooMany, p, count);
    if (p + 8 > end) return fail(out, WalkError.Truncated, p, count);
    const next = buf[p];
    if (nh === IP6_NH_FRAGMENT) return fail(out, WalkError.Fragment, p, count);
    const hlen = (buf[p + 1] + 1) * 8;
    if (p + hlen > end) return fail(out, WalkError.Truncated, p, count);
    if (nh === IP6_NH_ROUTING) {
      if (buf[p + 3] !== 0) return fail(out, WalkError.RoutingSegmentsLeft, p, count);
    } else {
      const e = walkOptions(buf, p + 2, p + hlen, out);
      if (e !== WalkError.None) return fail(out, e, out.offset, count);
    }
    nh = next;
    p += hlen;
  }
  out.protocol = nh;
  out.offset = p;
  out.headers = count;
  return WalkError.None;
}

/** TLV options of a hop-by-hop or destination options header: buf[p .. end). */
function walkOptions(buf: Buffer, p: number, end: number, out: Ip6Walk): WalkError {
  let options = 0;
  while (p < end) {
    if (++options > MAX_OPTIONS) {
      out.offset = p;
      return WalkError.TooMany;
    }
    const type = buf[p];
    if (type === 0) {
      p++; // Pad1
      continue;
    }
    if (p + 2 > end || p + 2 + buf[p + 1] > end) {
      out.offset = p;
      return WalkError.BadOption;
    }
    // PadN (1), Router Alert (5, hop-by-hop, MLD), Jumbo Payload is not for us. Unknown: the
    // two high bits say what to do; 00 = skip it.
    if (type !== 1 && type !== 5 && (type & 0xc0) !== 0) {
      out.offset = p;
      return WalkError.UnknownOption;
    }
    p += 2 + buf[p + 1];
  }
  return WalkError.None;
}

function fail(out: Ip6Walk, error: WalkError, offset: number, count: number): WalkError {
  out.error = error;
  out.offset = offset;
  out.headers = count;
  return error;
}

/**
 * Partial sum of the IPv6 pseudo-header (RFC 8200 §8.1): source and destination of the packet
 * at buf[ip], the upper-layer length and next header value.
 */
export function pseudoHeaderSum6(buf: Buffer, ip: number, upperLength: number, nextHeader: number): number {
  return sumWords(buf, ip + ipv6SourceOffset, 32, (upperLength >>> 16) + (upperLength & 0xffff) + nextHeader);
}

/** Writes a 40-byte header (traffic class and flow label 0); src/dst are 16-byte addresses. Returns 40. */
export function writeIpv6(buf: Buffer, off: number, src: Buffer, srcOff: number, dst: Buffer, dstOff: number, nextHeader: number, payloadLength: number, hopLimit = DEFAULT_HOP_LIMIT): number {
  buf.writeUInt32BE(0x60000000, off);
  buf.writeUInt16BE(payloadLength, off + 4);
  buf[off + 6] = nextHeader;
  buf[off + 7] = hopLimit;
  copyIp6(src, srcOff, buf, off + 8);
  copyIp6(dst, dstOff, buf, off + 24);
  return IPV6_HEADER_LEN;
}
