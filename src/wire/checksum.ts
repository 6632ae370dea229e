/**
 * The Internet checksum (RFC 1071): one's complement sum of 16-bit big-endian words.
 *
 * sumWords() returns an unfolded partial sum so that pseudo header, header and payload can be
 * summed separately; finish() folds it and complements it.
 */

/** Adds the 16-bit words of buf[off .. off+len) to `initial` (odd trailing byte padded with zero). */
export function sumWords(buf: Buffer, off: number, len: number, initial = 0): number {
  let sum = initial;
  let i = off;
  const end = off + len;
  const evenEnd = end - ((end - off) & 1);
  // Four bytes at a time: the 32-bit reads are split into two 16-bit words to stay exact in a double.
  for (; i + 3 < evenEnd; i += 4) {
    const w = buf.readUInt32BE(i);
    sum += (w >>> 16) + (w & 0xffff);
  }
  for (; i < evenEnd; i += 2) sum += (buf[i] << 8) | buf[i + 1];
  if (i < end) sum += buf[i] << 8;
  return sum;
}

/** Folds a partial sum to 16 bits and returns its one's complement, as written on the wire. */
export function finish(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

/** Checksum of buf[off .. off+len), with an optional partial sum to start from. */
export function internetChecksum(buf: Buffer, off: number, len: number, initial = 0): number {
  return finish(sumWords(buf, off, len, initial));
}

/** Partial sum of the IPv4 pseudo header used by TCP and UDP (RFC 9293 §3.1). */
export function pseudoHeaderSum(src: number, dst: number, protocol: number, length: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length;
}
