/**
 * ip4-icmp-input: answers echo requests (RFC 792) with an echo reply carrying the same
 * identifier, sequence number and data.
 */
import { checkIcmp, IcmpError, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, icmpType, writeIcmpChecksum } from '../wire/icmp.js';
import { ipv4Destination, ipv4HeaderLength, ipv4Source, IPV4_MIN_HEADER_LEN, IP_PROTO_ICMP } from '../wire/ipv4.js';
import { srcMacOffset } from '../wire/ethernet.js';
import type { Dataplane } from './dataplane.js';

export function runIcmpInput(dp: Dataplane, _node: never): void {
  const node = dp.nodes.icmpInput;
  const e = node.e;
  const f = dp.frames;
  const data = f.data;
  for (let q = 0; q < node.queued; q++) {
    const i = node.queue[q];
    const sw = dp.interfaces[f.sw[i] - 1];
    const ip = f.l3Off[i];
    const hlen = ipv4HeaderLength(data, ip);
    const icmp = ip + hlen;
    const icmpLen = f.l3Len[i] - hlen;
    const check = checkIcmp(data, icmp, icmpLen);
    if (check !== IcmpError.None) {
      dp.drop(node, i, check === IcmpError.TooShort ? e.malformed : e.badChecksum);
      continue;
    }
    if (icmpType(data, icmp) !== ICMP_ECHO_REQUEST) {
      dp.drop(node, i, e.unhandledType);
      continue;
    }
    if (IPV4_MIN_HEADER_LEN + icmpLen > dp.l3Room(sw)) {
      dp.drop(node, i, e.noRoom);
      continue;
    }
    const src = ipv4Source(data, ip);
    const dst = ipv4Destination(data, ip);
    // Reply to the neighbour we know, else to the frame's sender (it just reached us).
    const neighbor = dp.neighbors.lookup(sw, src);
    const dstMac = neighbor !== undefined ? neighbor.mac : data.subarray(f.off[i] + srcMacOffset, f.off[i] + srcMacOffset + 6);
    const l3 = dp.beginFrame(sw, dstMac, 0x0800);
    const out = sw.hw.tx.data;
    const reply = l3 + IPV4_MIN_HEADER_LEN;
    data.copy(out, reply, icmp, icmp + icmpLen);
    out[reply] = ICMP_ECHO_REPLY;
    out[reply + 1] = 0;
    writeIcmpChecksum(out, reply, icmpLen);
    dp.finishIpv4(sw, l3, dst, src, IP_PROTO_ICMP, icmpLen);
    node.errors[e.echoReplies]++;
  }
}
