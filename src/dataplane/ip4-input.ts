/**
 * ip4-input: checks the IPv4 header and accepts packets for our own addresses; ip4-local's
 * protocol dispatch is folded in (ICMP, TCP).
 */
import { checkIpv4, Ipv4Error, ipv4Destination, ipv4Source, ipv4IsFragment, ipv4Protocol, ipv4TotalLength, IP_PROTO_ICMP, IP_PROTO_TCP } from '../wire/ipv4.js';
import type { Dataplane } from './dataplane.js';
import type { SwInterface } from './interface.js';
import { prefixMask, sameSubnet } from '../wire/address.js';

export function runIp4Input(dp: Dataplane, _node: never): void {
  const node = dp.nodes.ip4Input;
  const e = node.e;
  const f = dp.frames;
  const data = f.data;
  const nodes = dp.nodes;
  for (let q = 0; q < node.queued; q++) {
    const i = node.queue[q];
    const sw = dp.interfaces[f.sw[i] - 1];
    const off = f.l3Off[i];
    const check = checkIpv4(data, off, f.l3Len[i]);
    if (check !== Ipv4Error.None) {
      dp.drop(node, i, ipv4Reason(check, e));
      continue;
    }
    // Ethernet pads short frames: from here on the packet is its IPv4 total length.
    f.l3Len[i] = ipv4TotalLength(data, off);
    if (sw.addresses.length === 0) {
      dp.drop(node, i, e.noAddress);
      continue;
    }
    if (sw.ownAddress(ipv4Destination(data, off)) === undefined) {
      dp.drop(node, i, e.notForUs);
      continue;
    }
    if (invalidSource(sw, ipv4Source(data, off))) {
      dp.drop(node, i, e.badSource);
      continue;
    }
    if (ipv4IsFragment(data, off)) {
      dp.drop(node, i, e.fragment);
      continue;
    }
    const protocol = ipv4Protocol(data, off);
    if (protocol === IP_PROTO_TCP) nodes.tcpInput.enqueue(i);
    else if (protocol === IP_PROTO_ICMP) nodes.icmpInput.enqueue(i);
    else dp.drop(node, i, e.unknownProtocol);
  }
}

/**
 * RFC 1122 §3.2.1.3: a source that is broadcast, multicast, zero, loopback, a directed
 * broadcast of our subnet, or our own address is bogus; answering it would reflect traffic.
 */
function invalidSource(sw: SwInterface, src: number): boolean {
  const first = src >>> 24;
  if (src === 0 || src === 0xffffffff || first === 127 || (first >= 224 && first <= 239)) return true;
  for (const a of sw.addresses) {
    if (a.address === src) return true;
    const hostMask = ~prefixMask(a.prefixLength) >>> 0;
    if (a.prefixLength < 31 && ((src & hostMask) >>> 0) === hostMask && sameSubnet(src, a.address, a.prefixLength)) return true;
  }
  return false;
}

function ipv4Reason(check: Ipv4Error, e: { tooShort: number; badVersion: number; badHeaderLength: number; badLength: number; badChecksum: number }): number {
  switch (check) {
    case Ipv4Error.TooShort:
      return e.tooShort;
    case Ipv4Error.BadVersion:
      return e.badVersion;
    case Ipv4Error.BadHeaderLength:
      return e.badHeaderLength;
    case Ipv4Error.BadTotalLength:
      return e.badLength;
    default:
      return e.badChecksum;
  }
}
