/**
 * ip4-input: checks the IPv4 header and accepts packets for our own addresses; ip4-local's
 * protocol dispatch is folded in (ICMP, TCP).
 */
import {
  checkIpv4,
  Ipv4Error,
  ipv4Destination,
  ipv4DestinationI32,
  ipv4HeaderLength,
  ipv4Id,
  ipv4IsFragment,
  ipv4Protocol,
  ipv4Source,
  ipv4SourceI32,
  ipv4TotalLength,
  ipv4Ttl,
  IP_PROTO_ICMP,
  IP_PROTO_TCP,
} from '../wire/ipv4.js';
import type { NodeContext } from './context.js';
import type { SwInterface } from './interface.js';
import { formatIpv4, prefixMask, sameSubnet } from '../wire/address.js';
import { defineNode, err } from './node.js';

export function createIp4Input(capacity: number) {
  const node = defineNode(
    'ip4-input',
    {
      tooShort: err('ip4 packet too short'),
      badVersion: err('ip4 bad version'),
      badHeaderLength: err('ip4 bad header length'),
      badLength: err('ip4 length exceeds frame'),
      badChecksum: err('ip4 bad header checksum'),
      fragment: err('ip4 fragments not supported'),
      notForUs: err('ip4 destination is not a local address'),
      badSource: err('ip4 source is broadcast, multicast, reserved, zero, loopback or ours'),
      noAddress: err('interface has no IPv4 address'),
      unknownProtocol: err('ip4 protocol not handled'),
    },
    ['ip4-icmp-input', 'tcp4-input', 'error-drop'],
    capacity,
  );
  node.run = (ctx) => runIp4Input(node, ctx);
  return node;
}

type Ip4InputNode = ReturnType<typeof createIp4Input>;

const PROTO_NAMES: Record<number, string> = { [IP_PROTO_ICMP]: 'ICMP', [IP_PROTO_TCP]: 'TCP' };

function runIp4Input(node: Ip4InputNode, ctx: NodeContext): void {
  const e = node.e;
  const a = node.a;
  const f = ctx.frames;
  const data = f.data;
  const traced = ctx.tracer.tracedThisVector;
  for (let q = 0; q < node.queued; q++) {
    const i = node.queue[q];
    const sw = ctx.interfaces[f.sw[i] - 1];
    const off = f.l3Off[i];
    const check = checkIpv4(data, off, f.l3Len[i]);
    if (check !== Ipv4Error.None) {
      ctx.drop(node, i, ipv4Reason(check, e));
      continue;
    }
    // Ethernet pads short frames: from here on the packet is its IPv4 total length.
    f.l3Len[i] = ipv4TotalLength(data, off);
    if (traced && ctx.tracer.frameTrace[i] >= 0) traceIp4(ctx, ctx.tracer.frameTrace[i], data, off);
    if (sw.addresses.length === 0) {
      ctx.drop(node, i, e.noAddress);
      continue;
    }
    if (sw.ownAddress(ipv4DestinationI32(data, off)) === undefined) {
      ctx.drop(node, i, e.notForUs);
      continue;
    }
    if (invalidSource(sw, ipv4SourceI32(data, off))) {
      ctx.drop(node, i, e.badSource);
      continue;
    }
    if (ipv4IsFragment(data, off)) {
      ctx.drop(node, i, e.fragment);
      continue;
    }
    const protocol = ipv4Protocol(data, off);
    if (protocol === IP_PROTO_TCP) node.toNext(a['tcp4-input'], i);
    else if (protocol === IP_PROTO_ICMP) node.toNext(a['ip4-icmp-input'], i);
    else ctx.drop(node, i, e.unknownProtocol);
  }
}

function traceIp4(ctx: NodeContext, id: number, data: Buffer, off: number): void {
  const proto = ipv4Protocol(data, off);
  ctx.tracer.record(
    id,
    'ip4-input',
    `${PROTO_NAMES[proto] ?? `proto ${proto}`}: ${formatIpv4(ipv4Source(data, off))} -> ${formatIpv4(ipv4Destination(data, off))}`,
    `  tos 0x${data[off + 1].toString(16).padStart(2, '0')}, ttl ${ipv4Ttl(data, off)}, length ${ipv4TotalLength(data, off)}, checksum 0x${data.readUInt16BE(off + 10).toString(16).padStart(4, '0')} dscp CS0 ecn NON_ECN`,
    `  fragment id 0x${ipv4Id(data, off).toString(16).padStart(4, '0')}${(data.readUInt16BE(off + 6) & 0x4000) !== 0 ? ', flags DONT_FRAGMENT' : ''}` +
      (ipv4HeaderLength(data, off) > 20 ? `, options ${ipv4HeaderLength(data, off) - 20} bytes` : ''),
  );
}

/**
 * RFC 1122 §3.2.1.3: a source that is broadcast, multicast, zero, loopback, a directed
 * broadcast of our subnet, or our own address is bogus; answering it would reflect traffic.
 */
function invalidSource(sw: SwInterface, src: number): boolean {
  src >>>= 0; // (either form: see ipv4SourceI32)
  const first = src >>> 24;
  // 240.0.0.0/4 is reserved (class E); here it also holds the TCP stack's IPv6 handles (ip6-peers.ts).
  if (src === 0 || first === 127 || first >= 224) return true;
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
