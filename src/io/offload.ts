/**
 * TX offload done in software, as the kernel does it for a device without the feature: used by
 * MemoryDevice (with `txOffload`) so tests see wire-exact frames. For IPv4/TCP only.
 *
 * csumStart ≠ 0: the TCP header starts there and its checksum field holds the folded
 * pseudo-header sum; gsoSize ≠ 0: split the payload into gsoSize-byte pieces, each with a copy
 * of the headers (options included), the sequence number advanced, the IPv4 ID incremented,
 * lengths and checksums recomputed, PSH and FIN only on the last piece (tcp_gso_segment).
 */
import { finish, pseudoHeaderSum, sumWords } from '../wire/checksum.js';

const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const TCP_CWR = 0x80;

/** The frames that leave the wire for one offloaded frame (the frame itself when no offload). */
export function completeOffload(frame: Buffer, csumStart: number, gsoSize: number): Buffer[] {
  if (csumStart === 0) return [frame];
  const l3 = ipv4Start(frame, csumStart);
  const ihl = (frame[l3] & 0x0f) * 4;
  const thl = (frame[csumStart + 12] >>> 4) * 4;
  const hdrEnd = csumStart + thl;
  const payload = frame.length - hdrEnd;
  if (gsoSize === 0 || payload <= gsoSize) {
    const out = Buffer.from(frame);
    fixTcp(out, l3, ihl, csumStart);
    return [out];
  }
  const out: Buffer[] = [];
  const seq0 = frame.readUInt32BE(csumStart + 4);
  const id0 = frame.readUInt16BE(l3 + 4);
  const flags = frame[csumStart + 13];
  for (let off = 0, k = 0; off < payload; off += gsoSize, k++) {
    const n = Math.min(gsoSize, payload - off);
    const seg = Buffer.alloc(hdrEnd + n);
    frame.copy(seg, 0, 0, hdrEnd);
    frame.copy(seg, hdrEnd, hdrEnd + off, hdrEnd + off + n);
    const last = off + n >= payload;
    seg.writeUInt16BE(ihl + thl + n, l3 + 2);
    seg.writeUInt16BE((id0 + k) & 0xffff, l3 + 4);
    seg.writeUInt16BE(0, l3 + 10);
    seg.writeUInt16BE(finish(sumWords(seg, l3, ihl)), l3 + 10);
    seg.writeUInt32BE((seq0 + off) >>> 0, csumStart + 4);
    let f = flags;
    if (!last) f &= ~(TCP_FIN | TCP_PSH);
    if (k > 0) f &= ~TCP_CWR;
    seg[csumStart + 13] = f;
    fixTcp(seg, l3, ihl, csumStart);
    out.push(seg);
  }
  return out;
}

/** Offset of the IPv4 header: after the Ethernet header and any 802.1Q tags before csumStart. */
function ipv4Start(frame: Buffer, csumStart: number): number {
  let p = 12;
  while (p + 2 < csumStart && (frame.readUInt16BE(p) === 0x8100 || frame.readUInt16BE(p) === 0x88a8)) p += 4;
  return p + 2;
}

/** The full TCP checksum, from scratch (the pseudo-header sum in the field is replaced). */
function fixTcp(b: Buffer, l3: number, ihl: number, tcp: number): void {
  const len = b.length - tcp;
  const src = b.readUInt32BE(l3 + 12);
  const dst = b.readUInt32BE(l3 + 16);
  b.writeUInt16BE(0, tcp + 16);
  b.writeUInt16BE(finish(sumWords(b, tcp, len, pseudoHeaderSum(src, dst, 6, len))), tcp + 16);
  void ihl;
}
