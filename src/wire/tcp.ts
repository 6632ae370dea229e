/**
 * TCP header (RFC 9293 §3.1) and options (MSS, window scale and timestamps from RFC 7323,
 * SACK-permitted and SACK from RFC 2018): zero-copy accessors over a Buffer.
 *
 * Sequence and acknowledgment numbers are returned as unsigned 32-bit numbers. Nothing here
 * allocates per packet: options are parsed into a caller-owned TcpParsedOptions.
 */
import { finish, pseudoHeaderSum, sumWords } from './checksum.js';
import { read16, readInt32, readUint32, write32 } from './bytes.js';

export const TCP_HEADER_LEN = 20;
export const TCP_MAX_HEADER_LEN = 60;
export const IPPROTO_TCP = 6;

// Control bits (the low byte of the flags field).
export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;
export const TCP_ECE = 0x40;
export const TCP_CWR = 0x80;

// Option kinds.
export const TCPOPT_EOL = 0;
export const TCPOPT_NOP = 1;
export const TCPOPT_MSS = 2;
export const TCPOPT_WSCALE = 3;
export const TCPOPT_SACK_PERMITTED = 4;
export const TCPOPT_SACK = 5;
export const TCPOPT_TIMESTAMP = 8;

/** The largest shift RFC 7323 §2.3 allows. */
export const TCP_MAX_WSCALE = 14;

// Reason codes of checkTcp() / parseTcpOptions(); 0 = valid.
export const TCP_OK = 0;
export const TCP_ERR_TOO_SHORT = 1;
export const TCP_ERR_BAD_DATA_OFFSET = 2;
export const TCP_ERR_BAD_PORT = 3;
export const TCP_ERR_BAD_FLAGS = 4;
export const TCP_ERR_BAD_OPTION = 5;

const REASONS = ['ok', 'too-short', 'bad-data-offset', 'bad-port', 'bad-flags', 'bad-option'];
export function tcpReasonName(code: number): string {
  return REASONS[code] ?? 'unknown';
}

// Field readers.
export const tcpSrcPort = (b: Buffer, o: number): number => read16(b, o);
export const tcpDstPort = (b: Buffer, o: number): number => read16(b, o + 2);
export const tcpSeq = (b: Buffer, o: number): number => readUint32(b, o + 4);
export const tcpAck = (b: Buffer, o: number): number => readUint32(b, o + 8);
/** Header length in bytes (data offset × 4). */
export const tcpHeaderLen = (b: Buffer, o: number): number => (b[o + 12] >>> 4) << 2;
export const tcpFlags = (b: Buffer, o: number): number => b[o + 13];
export const tcpWindow = (b: Buffer, o: number): number => read16(b, o + 14);
export const tcpChecksumField = (b: Buffer, o: number): number => read16(b, o + 16);
export const tcpUrgent = (b: Buffer, o: number): number => read16(b, o + 18);

// Field writers.
export function setTcpSeq(b: Buffer, o: number, v: number): void {
  write32(b, o + 4, v);
}
export function setTcpAck(b: Buffer, o: number, v: number): void {
  write32(b, o + 8, v);
}

export { readInt32, write32 };
export function setTcpWindow(b: Buffer, o: number, v: number): void {
  b[o + 14] = v >>> 8;
  b[o + 15] = v & 0xff;
}
export function setTcpChecksumField(b: Buffer, o: number, v: number): void {
  b[o + 16] = v >>> 8;
  b[o + 17] = v & 0xff;
}

/**
 * Structural check of buf[off .. off+len) as a TCP segment: length, data offset, ports,
 * impossible flag combinations (SYN+RST, SYN+FIN). Returns 0 or a TCP_ERR_* code.
 * The checksum is not verified here (see tcpChecksumOk).
 */
export function checkTcp(b: Buffer, o: number, len: number): number {
  if (len < TCP_HEADER_LEN) return TCP_ERR_TOO_SHORT;
  const hl = (b[o + 12] >>> 4) << 2;
  if (hl < TCP_HEADER_LEN || hl > len) return TCP_ERR_BAD_DATA_OFFSET;
  if (read16(b, o) === 0 || read16(b, o + 2) === 0) return TCP_ERR_BAD_PORT;
  const f = b[o + 13];
  if ((f & TCP_SYN) !== 0 && (f & (TCP_RST | TCP_FIN)) !== 0) return TCP_ERR_BAD_FLAGS;
  return TCP_OK;
}

/**
 * Parsed options; one instance is reused for every segment. -1 / false mean "absent".
 * TSval, TSecr and the SACK block edges are in the TCP stack's form, signed 32-bit integers
 * (src/tcp/seq.ts says why): `>>> 0` gives the unsigned figure.
 */
export class TcpParsedOptions {
  mss = -1;
  wscale = -1;
  sackOk = false;
  hasTs = false;
  tsVal = 0;
  tsEcr = 0;
  /** Number of SACK blocks; block i is [sack[2i], sack[2i+1]). */
  sackCount = 0;
  readonly sack = new Int32Array(8);
  reset(): void {
    this.mss = -1;
    this.wscale = -1;
    this.sackOk = false;
    this.hasTs = false;
    this.tsVal = 0;
    this.tsEcr = 0;
    this.sackCount = 0;
  }
}

/**
 * Parses the options of the header at `off` (header length `hl`) into `out`.
 * Unknown options are skipped; a malformed length returns TCP_ERR_BAD_OPTION.
 */
export function parseTcpOptions(b: Buffer, o: number, hl: number, out: TcpParsedOptions): number {
  out.reset();
  let p = o + TCP_HEADER_LEN;
  const end = o + hl;
  while (p < end) {
    const kind = b[p];
    if (kind === TCPOPT_EOL) break;
    if (kind === TCPOPT_NOP) {
      p++;
      continue;
    }
    if (p + 1 >= end) return TCP_ERR_BAD_OPTION;
    const olen = b[p + 1];
    if (olen < 2 || p + olen > end) return TCP_ERR_BAD_OPTION;
    switch (kind) {
      case TCPOPT_MSS:
        if (olen !== 4) return TCP_ERR_BAD_OPTION;
        out.mss = read16(b, p + 2);
        break;
      case TCPOPT_WSCALE:
        if (olen !== 3) return TCP_ERR_BAD_OPTION;
        // RFC 7323 §2.3: a shift above 14 is treated as 14.
        out.wscale = b[p + 2] > TCP_MAX_WSCALE ? TCP_MAX_WSCALE : b[p + 2];
        break;
      case TCPOPT_SACK_PERMITTED:
        if (olen !== 2) return TCP_ERR_BAD_OPTION;
        out.sackOk = true;
        break;
      case TCPOPT_TIMESTAMP:
        if (olen !== 10) return TCP_ERR_BAD_OPTION;
        out.hasTs = true;
        out.tsVal = readInt32(b, p + 2);
        out.tsEcr = readInt32(b, p + 6);
        break;
      case TCPOPT_SACK: {
        if (olen < 10 || (olen - 2) % 8 !== 0) return TCP_ERR_BAD_OPTION;
        let n = (olen - 2) >>> 3;
        if (n > 4) n = 4;
        for (let i = 0; i < n; i++) {
          out.sack[2 * i] = readInt32(b, p + 2 + 8 * i);
          out.sack[2 * i + 1] = readInt32(b, p + 6 + 8 * i);
        }
        out.sackCount = n;
        break;
      }
      default:
        break;
    }
    p += olen;
  }
  return TCP_OK;
}

/**
 * Writes the fixed 20-byte header at `off` (checksum and urgent pointer 0). `hl` is the total
 * header length including options (a multiple of 4); the caller writes the options after it.
 */
export function writeTcpHeader(
  b: Buffer,
  o: number,
  srcPort: number,
  dstPort: number,
  seq: number,
  ack: number,
  hl: number,
  flags: number,
  window: number,
): void {
  b[o] = srcPort >>> 8;
  b[o + 1] = srcPort & 0xff;
  b[o + 2] = dstPort >>> 8;
  b[o + 3] = dstPort & 0xff;
  write32(b, o + 4, seq);
  write32(b, o + 8, ack);
  b[o + 12] = (hl >>> 2) << 4;
  b[o + 13] = flags;
  b[o + 14] = window >>> 8;
  b[o + 15] = window & 0xff;
  b[o + 16] = 0;
  b[o + 17] = 0;
  b[o + 18] = 0;
  b[o + 19] = 0;
}

// Option writers: each writes at p and returns the position after it.
export function writeOptMss(b: Buffer, p: number, mss: number): number {
  b[p] = TCPOPT_MSS;
  b[p + 1] = 4;
  b[p + 2] = mss >>> 8;
  b[p + 3] = mss & 0xff;
  return p + 4;
}
/** NOP + window scale (4 bytes, keeps alignment). */
export function writeOptWscale(b: Buffer, p: number, shift: number): number {
  b[p] = TCPOPT_NOP;
  b[p + 1] = TCPOPT_WSCALE;
  b[p + 2] = 3;
  b[p + 3] = shift;
  return p + 4;
}
/** NOP NOP + SACK-permitted (4 bytes), for when no timestamp follows. */
export function writeOptSackPermitted(b: Buffer, p: number): number {
  b[p] = TCPOPT_NOP;
  b[p + 1] = TCPOPT_NOP;
  b[p + 2] = TCPOPT_SACK_PERMITTED;
  b[p + 3] = 2;
  return p + 4;
}
/** NOP NOP + timestamps (12 bytes), or SACK-permitted + timestamps when `sackPermitted`. */
export function writeOptTimestamp(b: Buffer, p: number, tsVal: number, tsEcr: number, sackPermitted = false): number {
  if (sackPermitted) {
    b[p] = TCPOPT_SACK_PERMITTED;
    b[p + 1] = 2;
  } else {
    b[p] = TCPOPT_NOP;
    b[p + 1] = TCPOPT_NOP;
  }
  b[p + 2] = TCPOPT_TIMESTAMP;
  b[p + 3] = 10;
  write32(b, p + 4, tsVal);
  write32(b, p + 8, tsEcr);
  return p + 12;
}
/** NOP NOP + SACK with `n` blocks from `blocks` (4 + 8n bytes). */
export function writeOptSack(b: Buffer, p: number, blocks: ArrayLike<number>, n: number): number {
  b[p] = TCPOPT_NOP;
  b[p + 1] = TCPOPT_NOP;
  b[p + 2] = TCPOPT_SACK;
  b[p + 3] = 2 + 8 * n;
  p += 4;
  for (let i = 0; i < n; i++) {
    write32(b, p, blocks[2 * i]);
    write32(b, p + 4, blocks[2 * i + 1]);
    p += 8;
  }
  return p;
}

/** The TCP checksum of buf[off .. off+len) with the IPv4 pseudo header (checksum field included as is). */
export function tcpChecksum(b: Buffer, o: number, len: number, srcIp: number, dstIp: number): number {
  return finish(sumWords(b, o, len, pseudoHeaderSum(srcIp >>> 0, dstIp >>> 0, IPPROTO_TCP, len)));
}

/** Zeroes the checksum field, computes it and writes it. */
export function fillTcpChecksum(b: Buffer, o: number, len: number, srcIp: number, dstIp: number): void {
  b[o + 16] = 0;
  b[o + 17] = 0;
  setTcpChecksumField(b, o, tcpChecksum(b, o, len, srcIp, dstIp));
}

/** True when the checksum of a received segment verifies (the sum over it folds to 0). */
export function tcpChecksumOk(b: Buffer, o: number, len: number, srcIp: number, dstIp: number): boolean {
  return tcpChecksum(b, o, len, srcIp, dstIp) === 0;
}
