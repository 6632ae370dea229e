/**
 * TX offload done in software, as the kernel does it for a device without the feature: used by
 * MemoryDevice (with `txOffload`) so tests see wire-exact frames. TCP over IPv4 and IPv6, with
 * the semantics of include/uapi/linux/virtio_net.h as the kernel applies them:
 *
 * - csumStart ≠ 0 (VIRTIO_NET_HDR_F_NEEDS_CSUM, csum_offset 16): the TCP header starts there.
 *   The kernel sums from csum_start to the end of the frame *including* what the checksum field
 *   holds, and stores the folded complement (skb_checksum_help): so the field must hold the
 *   folded pseudo-header sum (RFC 9293 §3.1 for IPv4, RFC 8200 §8.1 for IPv6), not complemented.
 *   A wrong value there gives a wrong checksum on the wire, here as in the kernel.
 * - gsoSize ≠ 0 (VIRTIO_NET_HDR_GSO_TCPV4 / _TCPV6, chosen by the EtherType): the payload is
 *   split into gsoSize-byte pieces, each with a copy of the headers (options included), the
 *   sequence number advanced, PSH and FIN only on the last piece, CWR only on the first
 *   (tcp_gso_segment); IPv4: the ID incremented, total length and header checksum redone
 *   (inet_gso_segment); IPv6: the payload length redone (ipv6_gso_segment). The pseudo-header
 *   sum in the field is adjusted from the super-frame's TCP length to each piece's (the `delta`
 *   of tcp_gso_segment), then each piece is summed as above.
 */
import { finish, sumWords } from '../wire/checksum.js';

const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const TCP_CWR = 0x80;
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const IPV6_HEADER_LEN = 40;
const TCP_CHECK = 16;

/** The frames that leave the wire for one offloaded frame (the frame itself when no offload). */
export function completeOffload(frame: Buffer, csumStart: number, gsoSize: number): Buffer[] {
  if (csumStart === 0) {
    if (gsoSize !== 0) throw new Error('gsoSize without csumStart');
    return [frame];
  }
  const { l3, type } = l3Start(frame, csumStart);
  const v6 = type === ETHERTYPE_IPV6;
  if (!v6 && type !== ETHERTYPE_IPV4) throw new Error(`TX offload on EtherType 0x${type.toString(16)}`);
  const ihl = v6 ? IPV6_HEADER_LEN : (frame[l3] & 0x0f) * 4;
  // We send no IPv6 extension headers and no IPv4 options: TCP follows the fixed header.
  if (l3 + ihl !== csumStart) throw new Error(`csumStart ${csumStart} is not after the IP header at ${l3}`);
  const thl = (frame[csumStart + 12] >>> 4) * 4;
  const hdrEnd = csumStart + thl;
  const payload = frame.length - hdrEnd;
  if (gsoSize === 0 || payload <= gsoSize) {
    const out = Buffer.from(frame);
    completeChecksum(out, csumStart);
    return [out];
  }
  const out: Buffer[] = [];
  const superTcpLen = frame.length - csumStart;
  const seq0 = frame.readUInt32BE(csumStart + 4);
  const id0 = v6 ? 0 : frame.readUInt16BE(l3 + 4);
  const flags = frame[csumStart + 13];
  const field0 = frame.readUInt16BE(csumStart + TCP_CHECK);
  for (let off = 0, k = 0; off < payload; off += gsoSize, k++) {
    const n = Math.min(gsoSize, payload - off);
    const seg = Buffer.alloc(hdrEnd + n);
    frame.copy(seg, 0, 0, hdrEnd);
    frame.copy(seg, hdrEnd, hdrEnd + off, hdrEnd + off + n);
    const last = off + n >= payload;
    if (v6) seg.writeUInt16BE(thl + n, l3 + 4);
    else {
      seg.writeUInt16BE(ihl + thl + n, l3 + 2);
      seg.writeUInt16BE((id0 + k) & 0xffff, l3 + 4);
      seg.writeUInt16BE(0, l3 + 10);
      seg.writeUInt16BE(finish(sumWords(seg, l3, ihl)), l3 + 10);
    }
    seg.writeUInt32BE((seq0 + off) >>> 0, csumStart + 4);
    let f = flags;
    if (!last) f &= ~(TCP_FIN | TCP_PSH);
    if (k > 0) f &= ~TCP_CWR;
    seg[csumStart + 13] = f;
    // The pseudo-header's length: the super-frame's TCP length out, this piece's in.
    seg.writeUInt16BE(fold(field0 + (~superTcpLen & 0xffff) + thl + n), csumStart + TCP_CHECK);
    completeChecksum(seg, csumStart);
    out.push(seg);
  }
  return out;
}

/** Where the IP header starts and its EtherType: after the MACs and any 802.1Q / 802.1ad tags. */
function l3Start(frame: Buffer, csumStart: number): { l3: number; type: number } {
  let p = 12;
  while (p + 2 < csumStart && (frame.readUInt16BE(p) === 0x8100 || frame.readUInt16BE(p) === 0x88a8)) p += 4;
  return { l3: p + 2, type: frame.readUInt16BE(p) };
}

/** skb_checksum_help: the folded complement of the sum from csumStart to the end, field included. */
function completeChecksum(b: Buffer, csumStart: number): void {
  b.writeUInt16BE(finish(sumWords(b, csumStart, b.length - csumStart)), csumStart + TCP_CHECK);
}

function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}
