/**
 * ip6-input: checks the IPv6 header, accepts packets for our addresses and the groups we joined
 * (all-nodes, the solicited-node groups of our addresses), walks the extension headers (bounded,
 * wire/ipv6.ts) and dispatches the upper layer (ip6-local folded in, as ip4-input does): ICMPv6
 * to ip6-icmp-input, TCP to tcp6-input. Fragments are counted and dropped. An unknown next
 * header gets a Parameter Problem and UDP a Port Unreachable (RFC 8200 §4, RFC 4443 §3.1), both
 * through the error rate limit (icmp6-error.ts).
 */
import { formatIpv6, isAllNodes, isIp6Loopback, isIp6Multicast, isIp6Unspecified, isSolicitedNode } from '../wire/ipv6-address.js';
import {
  checkIpv6,
  Ip6Walk,
  IP6_NH_ICMP6,
  IP6_NH_NONE,
  IP6_NH_TCP,
  IP6_NH_UDP,
  Ipv6Error,
  ipv6DestinationOffset,
  ipv6HopLimit,
  ipv6NextHeader,
  ipv6PayloadLength,
  ipv6SourceOffset,
  IPV6_HEADER_LEN,
  walkIp6,
  WalkError,
} from '../wire/ipv6.js';
import type { NodeContext } from './context.js';
import { ICMP6_PARAM_UNRECOGNIZED_NH, ICMP6_PORT_UNREACHABLE } from './icmp6-error.js';
import { DadState, type Ip6Link } from './interface.js';
import { defineNode, err } from './node.js';

export function createIp6Input(capacity: number) {
  const node = defineNode(
    'ip6-input',
    {
      tooShort: err('ip6 packet too short'),
      badVersion: err('ip6 bad version'),
      badLength: err('ip6 length exceeds frame'),
      badSource: err('ip6 source is multicast, loopback or ours'),
      unspecifiedSource: err('ip6 source is :: (allowed only for DAD probes)'),
      notForUs: err('ip6 destination is not a local address'),
      notJoined: err('ip6 multicast group not joined'),
      tentative: err('ip6 destination is tentative (DAD in progress)'),
      extTruncated: err('ip6 extension header truncated'),
      extTooMany: err('ip6 too many extension headers or options'),
      hopByHopNotFirst: err('ip6 hop-by-hop header not first'),
      badOption: err('ip6 malformed option'),
      unknownOption: err('ip6 unrecognised option (discard)'),
      routingHeader: err('ip6 routing header with segments left (we do not forward)'),
      fragment: err('ip6 fragments not supported'),
      noNextHeader: err('ip6 no next header'),
      unknownProtocol: err('ip6 protocol not handled'),
    },
    ['ip6-icmp-input', 'tcp6-input', 'error-drop'],
    capacity,
  );
  const walk = new Ip6Walk();
  node.run = (ctx) => runIp6Input(node, ctx, walk);
  return node;
}

type Ip6InputNode = ReturnType<typeof createIp6Input>;

/** Upper-layer offset and protocol of each frame, set by ip6-input for the nodes after it. */
export class Ip6Frames {
  readonly upper: Uint32Array;
  readonly protocol: Uint8Array;
  constructor(capacity: number) {
    this.upper = new Uint32Array(capacity);
    this.protocol = new Uint8Array(capacity);
  }
}

function runIp6Input(node: Ip6InputNode, ctx: NodeContext, walk: Ip6Walk): void {
  const e = node.e;
  const a = node.a;
  const f = ctx.frames;
  const data = f.data;
  const traced = ctx.tracer.tracedThisVector;
  const up6 = ctx.ip6Frames;
  for (let q = 0; q < node.queued; q++) {
    const i = node.queue[q];
    const sw = ctx.interfaces[f.sw[i] - 1];
    const link = sw.ip6!; // ethernet-input sends IPv6 only to interfaces with IPv6 enabled
    const ip = f.l3Off[i];
    const check = checkIpv6(data, ip, f.l3Len[i]);
    if (check !== Ipv6Error.None) {
      ctx.drop(node, i, check === Ipv6Error.TooShort ? e.tooShort : check === Ipv6Error.BadVersion ? e.badVersion : e.badLength);
      continue;
    }
    f.l3Len[i] = IPV6_HEADER_LEN + ipv6PayloadLength(data, ip);
    if (traced && ctx.tracer.frameTrace[i] >= 0) traceIp6(ctx, ctx.tracer.frameTrace[i], data, ip);
    const src = ip + ipv6SourceOffset;
    const dst = ip + ipv6DestinationOffset;
    if (isIp6Multicast(data, src) || isIp6Loopback(data, src) || link.usable(data, src) !== undefined) {
      ctx.drop(node, i, e.badSource);
      continue;
    }
    const d = destination(link, data, dst);
    if (d !== Dest.Ok && d !== Dest.Tentative) {
      ctx.drop(node, i, d === Dest.NotJoined ? e.notJoined : e.notForUs);
      continue;
    }
    if (walkIp6(data, ip, walk) !== WalkError.None) {
      ctx.drop(node, i, walkReason(walk.error, e));
      continue;
    }
    const proto = walk.protocol;
    up6.upper[i] = walk.offset;
    up6.protocol[i] = proto;
    // A tentative address takes only ND (RFC 4862 §5.4), which ip6-icmp-input checks.
    if (d === Dest.Tentative && proto !== IP6_NH_ICMP6) {
      ctx.drop(node, i, e.tentative);
      continue;
    }
    // The unspecified source is for DAD probes (ICMPv6 NS), which ip6-icmp-input checks.
    if (isIp6Unspecified(data, src) && proto !== IP6_NH_ICMP6) {
      ctx.drop(node, i, e.unspecifiedSource);
      continue;
    }
    if (proto === IP6_NH_ICMP6) node.toNext(a['ip6-icmp-input'], i);
    else if (proto === IP6_NH_TCP) node.toNext(a['tcp6-input'], i);
    else if (proto === IP6_NH_NONE) ctx.drop(node, i, e.noNextHeader);
    else {
      // No error about a multicast packet, nor about one in a link-layer multicast frame (RFC 4443 §2.4 (e.2), (e.3)).
      if (!isIp6Multicast(data, dst) && (data[f.off[i]] & 1) === 0) {
        if (proto === IP6_NH_UDP) ctx.icmp6Error.send(sw, data, ip, f.l3Len[i], ICMP6_PORT_UNREACHABLE, 0);
        else ctx.icmp6Error.send(sw, data, ip, f.l3Len[i], ICMP6_PARAM_UNRECOGNIZED_NH, walk.headers === 0 ? 6 : walkNextHeaderPointer(data, ip, walk));
      }
      ctx.drop(node, i, e.unknownProtocol);
    }
  }
}

const enum Dest {
  Ok,
  NotForUs,
  NotJoined,
  Tentative,
}

/** Ours (DAD passed), all-nodes, or the solicited-node group of one of our addresses (tentative ones too: DAD listens there). */
function destination(link: Ip6Link, data: Buffer, dst: number): Dest {
  if (isIp6Multicast(data, dst)) {
    if (isAllNodes(data, dst)) return Dest.Ok;
    if (isSolicitedNode(data, dst)) {
      if (matchesGroup(link.linkLocal.address, data, dst)) return Dest.Ok;
      for (const a of link.addresses) if (a.dad !== DadState.Duplicate && matchesGroup(a.address, data, dst)) return Dest.Ok;
    }
    return Dest.NotJoined;
  }
  const own = link.find(data, dst);
  if (own === undefined || own.dad === DadState.Duplicate) return Dest.NotForUs;
  return own.dad === DadState.Tentative ? Dest.Tentative : Dest.Ok;
}

function matchesGroup(address: Buffer, data: Buffer, group: number): boolean {
  return address[13] === data[group + 13] && address[14] === data[group + 14] && address[15] === data[group + 15];
}

/** Offset (from the IPv6 header) of the Next Header field that named the unknown protocol. */
function walkNextHeaderPointer(data: Buffer, ip: number, walk: Ip6Walk): number {
  // The last extension header starts where its predecessor said; walk again to find it (error path only).
  let p = ip + IPV6_HEADER_LEN;
  let last = p;
  while (p < walk.offset) {
    last = p;
    p += (data[p + 1] + 1) * 8;
  }
  return last - ip;
}

function walkReason(error: WalkError, e: Ip6InputNode['e']): number {
  switch (error) {
    case WalkError.Truncated:
      return e.extTruncated;
    case WalkError.TooMany:
      return e.extTooMany;
    case WalkError.HopByHopNotFirst:
      return e.hopByHopNotFirst;
    case WalkError.BadOption:
      return e.badOption;
    case WalkError.UnknownOption:
      return e.unknownOption;
    case WalkError.RoutingSegmentsLeft:
      return e.routingHeader;
    default:
      return e.fragment;
  }
}

const NH_NAMES: Record<number, string> = { 0: 'HOP_BY_HOP', 6: 'TCP', 17: 'UDP', 43: 'ROUTING', 44: 'FRAGMENT', 58: 'ICMP6', 59: 'NONE', 60: 'DST_OPTIONS' };

function traceIp6(ctx: NodeContext, id: number, data: Buffer, ip: number): void {
  const nh = ipv6NextHeader(data, ip);
  const w0 = data.readUInt32BE(ip);
  ctx.tracer.record(
    id,
    'ip6-input',
    `${NH_NAMES[nh] ?? `protocol ${nh}`}: ${formatIpv6(data, ip + ipv6SourceOffset)} -> ${formatIpv6(data, ip + ipv6DestinationOffset)}`,
    `  tos 0x${((w0 >>> 20) & 0xff).toString(16).padStart(2, '0')}, flow label 0x${(w0 & 0xfffff).toString(16)}, hop limit ${ipv6HopLimit(data, ip)}, payload length ${ipv6PayloadLength(data, ip)}`,
  );
}
