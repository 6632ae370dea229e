/**
 * The Internet checksum (RFC 1071): one's complement sum of 16-bit big-endian words.
 *
 * sumWords() returns an unfolded partial sum so that pseudo header, header and payload can be
 * summed separately; finish() folds it and complements it.
 *
 * Where the time goes (Node 20, x86-64; measured with 2M calls, see docs/bench.md "Checksums"):
 * an N-API call costs ~45 ns before it sums anything, and JS sums about 1 ns a byte, so
 * - ranges of NATIVE_MIN bytes or more (TCP segments, ICMP messages) are summed by the addon's
 *   sum16 (1448 bytes: ~100 ns, against ~1.7-2.2 µs in JS);
 * - the 20-byte IPv4 header is summed by an unrolled JS function (~25 ns, the addon ~45 ns);
 * - other short ranges by a JS loop over byte pairs.
 * Without the addon (not built) everything is summed in JS.
 */
import { tryLoadAddon } from './addon.js';

interface ChecksumAddon {
  sum16(buf: Uint8Array, off: number, len: number, initial: number): number;
}

const nativeSum = tryLoadAddon<ChecksumAddon>()?.sum16;

/** From this many bytes on, the addon sums faster than JS. */
const NATIVE_MIN = 48;

/** Adds the 16-bit words of buf[off .. off+len) to `initial` (odd trailing byte padded with zero). */
export function sumWords(buf: Uint8Array, off: number, len: number, initial = 0): number {
  if (len >= NATIVE_MIN && nativeSum !== undefined) return nativeSum(buf, off, len, initial);
  return sumBytePairs(buf, off, len, initial);
}

/** sumWords in JS: one big-endian word per byte pair. */
export function sumBytePairs(buf: Uint8Array, off: number, len: number, initial = 0): number {
  let sum = initial;
  const last = off + len - 1;
  let i = off;
  for (; i < last; i += 2) sum += (buf[i] << 8) | buf[i + 1];
  if (i === last) sum += buf[i] << 8;
  return sum;
}

/** The unfolded sum of a 20-byte IPv4 header (no options) at buf[o]. */
export function sumIpv4Header(b: Uint8Array, o: number): number {
  return (
    ((b[o] << 8) | b[o + 1]) +
    ((b[o + 2] << 8) | b[o + 3]) +
    ((b[o + 4] << 8) | b[o + 5]) +
    ((b[o + 6] << 8) | b[o + 7]) +
    ((b[o + 8] << 8) | b[o + 9]) +
    ((b[o + 10] << 8) | b[o + 11]) +
    ((b[o + 12] << 8) | b[o + 13]) +
    ((b[o + 14] << 8) | b[o + 15]) +
    ((b[o + 16] << 8) | b[o + 17]) +
    ((b[o + 18] << 8) | b[o + 19])
  );
}

/** Folds a partial sum to 16 bits and returns its one's complement, as written on the wire. */
export function finish(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

/** Checksum of buf[off .. off+len), with an optional partial sum to start from. */
export function internetChecksum(buf: Uint8Array, off: number, len: number, initial = 0): number {
  return finish(len === 20 && initial === 0 ? sumIpv4Header(buf, off) : sumWords(buf, off, len, initial));
}

/** Partial sum of the IPv4 pseudo header used by TCP and UDP (RFC 9293 §3.1). */
export function pseudoHeaderSum(src: number, dst: number, protocol: number, length: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length;
}
