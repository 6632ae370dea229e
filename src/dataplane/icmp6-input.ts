/**
 * ip6-icmp-input: ICMPv6 for us (RFC 4443) and Neighbor Discovery (RFC 4861).
 *
 * - Echo request → echo reply through the IPv6 output path (link-local askers by the interface
 *   they came in on); echo replies go to the CLI's `ping`. Echo to a multicast group is not
 *   answered (no amplification).
 * - NS → NA (solicited, override, our MAC as target link-layer address; to all-nodes for a DAD
 *   probe of an address we own, which defends it), after every check of §7.1.1; its source
 *   link-layer address creates or updates the asker's neighbour entry (§7.2.3).
 * - NA → the neighbour entry (§7.2.5: Solicited confirms, Override replaces a different MAC).
 * - An NS from :: or an NA for an address that is tentative here: DAD found a duplicate
 *   (RFC 4862 §5.4.3/§5.4.4), reported to the IPv6 control plane (ip6-link.ts).
 * - Router solicitations and advertisements (we send no RAs and take no configuration from
 *   them), redirects and MLD are counted and ignored; Packet Too Big is counted (for TCP's PMTU,
 *   RFC 8201) and other errors are counted.
 */
import { formatMac, isMulticastMac, macEquals } from '../wire/address.js';
import {
  checkNsNa,
  icmp6Checksum,
  ICMP6_DEST_UNREACHABLE,
  ICMP6_ECHO_REPLY,
  ICMP6_ECHO_REQUEST,
  ICMP6_PACKET_TOO_BIG,
  ICMP6_PARAMETER_PROBLEM,
  ICMP6_TIME_EXCEEDED,
  NA_FLAG_OVERRIDE,
  NA_FLAG_SOLICITED,
  ND_NEIGHBOR_ADVERT,
  ND_NEIGHBOR_SOLICIT,
  ND_NS_NA_LEN,
  ND_OPT_SOURCE_LLADDR,
  ND_OPT_TARGET_LLADDR,
  ND_REDIRECT,
  ND_ROUTER_ADVERT,
  ND_ROUTER_SOLICIT,
  ndOption,
  NdError,
  writeIcmp6Checksum,
} from '../wire/icmpv6.js';
import { ALL_NODES, formatIpv6, isIp6Multicast, isIp6Unspecified } from '../wire/ipv6-address.js';
import { IP6_NH_ICMP6, ipv6DestinationOffset, ipv6HopLimit, ipv6SourceOffset, IPV6_HEADER_LEN, pseudoHeaderSum6 } from '../wire/ipv6.js';
import { finish, sumWords } from '../wire/checksum.js';
import type { NodeContext } from './context.js';
import { DadState, type SwInterface } from './interface.js';
import type { Ip6Output } from './ip6-output.js';
import { defineNode, err, info } from './node.js';

const ALL_NODES_MAC = Buffer.from([0x33, 0x33, 0, 0, 0, 1]);

export function createIcmp6Input(capacity: number) {
  const node = defineNode(
    'ip6-icmp-input',
    {
      echoReplies: info('echo replies sent'),
      echoRepliesReceived: info('echo replies received'),
      nsAnswered: info('neighbor solicitations answered'),
      naReceived: info('neighbor advertisements received'),
      dadDefended: info('DAD probes for our address answered'),
      dadConflicts: info('duplicate addresses detected (DAD)'),
      raIgnored: info('router advertisements received (ignored)'),
      rsIgnored: info('router solicitations received (ignored: RAs are off)'),
      redirectIgnored: info('redirects received (ignored)'),
      mldIgnored: info('MLD messages received (ignored)'),
      packetTooBig: info('packet too big received'),
      errorsReceived: info('ICMPv6 errors received'),
      tooShort: err('icmp6 packet too short'),
      badChecksum: err('icmp6 bad checksum'),
      ndHopLimit: err('ND hop limit is not 255'),
      ndBadCode: err('ND code is not 0'),
      ndTooShort: err('ND message too short'),
      ndMulticastTarget: err('ND target is multicast'),
      ndBadOption: err('ND option length 0 or past the end'),
      ndBadDadProbe: err('DAD probe not to a solicited-node group, or with a link-layer option'),
      ndSolicitedMulticast: err('solicited NA to a multicast address'),
      ndNotOurTarget: err('NS target is not our address'),
      ndTentativeTarget: err('NS for our tentative address (not answered during DAD)'),
      dadOwnProbe: err('our own DAD probe looped back (source MAC ours)'),
      ndBadLinkAddress: err('ND link-layer address is multicast or ours'),
      ndOwnAddress: err('NA for our own address (conflict after DAD)'),
      echoMulticast: err('echo request to a multicast address (not answered)'),
      notNd: err('non-ND message to a tentative address or from ::'),
      unhandledType: err('icmp6 type not handled'),
      noRoom: err('reply does not fit the interface MTU'),
      noRoute: err('no route to the source (reply not sent)'),
      unreachable: err('reply dropped: next hop failed, or neighbour table full'),
    },
    ['ip6-lookup', 'error-drop'],
    capacity,
  );
  node.run = (ctx) => runIcmp6Input(node, ctx);
  return node;
}

type Icmp6InputNode = ReturnType<typeof createIcmp6Input>;

function runIcmp6Input(node: Icmp6InputNode, ctx: NodeContext): void {
  const e = node.e;
  const f = ctx.frames;
  const data = f.data;
  const traced = ctx.tracer.tracedThisVector;
  const now = ctx.now();
  for (let q = 0; q < node.queued; q++) {
    const i = node.queue[q];
    const sw = ctx.interfaces[f.sw[i] - 1];
    const ip = f.l3Off[i];
    const icmp = ctx.ip6Frames.upper[i];
    const len = ip + f.l3Len[i] - icmp;
    if (len < 4) {
      ctx.drop(node, i, e.tooShort);
      continue;
    }
    if (icmp6Checksum(data, ip, icmp, len) !== 0) {
      ctx.drop(node, i, e.badChecksum);
      continue;
    }
    const type = data[icmp];
    const traceId = traced ? ctx.tracer.frameTrace[i] : -1;
    if (traceId >= 0) traceIcmp6(ctx, traceId, data, icmp, len);
    const src = ip + ipv6SourceOffset;
    const dst = ip + ipv6DestinationOffset;
    if (type === ND_NEIGHBOR_SOLICIT || type === ND_NEIGHBOR_ADVERT) {
      const check = checkNsNa(data, ip, icmp, len);
      if (check !== NdError.None) {
        ctx.drop(node, i, ndReason(check, e));
        continue;
      }
      if (type === ND_NEIGHBOR_SOLICIT) neighborSolicitation(node, ctx, i, sw, ip, icmp, len, now, traceId);
      else neighborAdvertisement(node, ctx, i, sw, ip, icmp, len, now);
      continue;
    }
    // Everything but ND needs a specified source and a destination that passed DAD.
    const link = sw.ip6!;
    if (isIp6Unspecified(data, src) || (!isIp6Multicast(data, dst) && link.usable(data, dst) === undefined)) {
      ctx.drop(node, i, e.notNd);
      continue;
    }
    switch (type) {
      case ICMP6_ECHO_REQUEST:
        echoRequest(node, ctx, i, sw, ip, icmp, len, traceId);
        break;
      case ICMP6_ECHO_REPLY:
        if (len < 8) ctx.drop(node, i, e.tooShort);
        else {
          node.errors[e.echoRepliesReceived]++;
          ctx.echo6Listener?.(data, src, data.readUInt16BE(icmp + 4), data.readUInt16BE(icmp + 6), ipv6HopLimit(data, ip), len);
        }
        break;
      case ND_ROUTER_ADVERT:
        node.errors[e.raIgnored]++;
        break;
      case ND_ROUTER_SOLICIT:
        node.errors[e.rsIgnored]++;
        break;
      case ND_REDIRECT:
        node.errors[e.redirectIgnored]++;
        break;
      case 130:
      case 131:
      case 132:
      case 143:
        node.errors[e.mldIgnored]++;
        break;
      case ICMP6_PACKET_TOO_BIG:
        node.errors[e.packetTooBig]++;
        packetTooBig(ctx, sw, data, icmp, len);
        break;
      case ICMP6_DEST_UNREACHABLE:
      case ICMP6_TIME_EXCEEDED:
      case ICMP6_PARAMETER_PROBLEM:
        node.errors[e.errorsReceived]++;
        break;
      default:
        ctx.drop(node, i, e.unhandledType);
    }
  }
}

/** IPv6's minimum link MTU (RFC 8200 §5): a smaller Packet Too Big MTU is taken as this (RFC 8201 §4). */
const IPV6_MIN_MTU = 1280;

/**
 * Packet Too Big (RFC 4443 §3.2, RFC 8201): the MTU, then as much of our packet as fitted. When it
 * quotes one of our TCP segments (no extension headers: we send none), that connection's MSS is
 * lowered; the stack checks the quoted sequence number is in flight.
 */
function packetTooBig(ctx: NodeContext, sw: SwInterface, data: Buffer, icmp: number, len: number): void {
  const tcp = ctx.tcp;
  const inner = icmp + 8;
  if (tcp === null || tcp.packetTooBig === undefined || len < 8 + IPV6_HEADER_LEN + 8 || data[inner + 6] !== 6) return;
  const ours = sw.ip6?.usable(data, inner + ipv6SourceOffset);
  if (ours === undefined) return; // not a packet we sent
  const mtu = Math.max(IPV6_MIN_MTU, data.readUInt32BE(icmp + 4));
  // Only peers TCP already knows (a handle): a forged PTB creates nothing.
  const local = ctx.ip6Peers.find(data, inner + ipv6SourceOffset, sw);
  const remote = ctx.ip6Peers.find(data, inner + ipv6DestinationOffset, sw);
  if (local < 0 || remote < 0) return;
  const seg = inner + IPV6_HEADER_LEN;
  tcp.packetTooBig(local, data.readUInt16BE(seg), remote, data.readUInt16BE(seg + 2), data.readUInt32BE(seg + 4), mtu, IPV6_HEADER_LEN + 20);
}

function neighborSolicitation(node: Icmp6InputNode, ctx: NodeContext, i: number, sw: SwInterface, ip: number, icmp: number, len: number, now: number, traceId: number): void {
  const e = node.e;
  const data = ctx.frames.data;
  const link = sw.ip6!;
  const target = icmp + 8;
  const src = ip + ipv6SourceOffset;
  const own = link.find(data, target);
  if (own === undefined || own.dad === DadState.Duplicate) {
    ctx.drop(node, i, e.ndNotOurTarget);
    return;
  }
  const dad = isIp6Unspecified(data, src);
  if (own.dad === DadState.Tentative) {
    if (dad && macEquals(data, ctx.frames.off[i] + 6, sw.mac, 0)) {
      // Our own probe, reflected by the link (a hairpin or looping switch): no conflict (RFC 7527 §4.1).
      ctx.drop(node, i, e.dadOwnProbe);
    } else if (dad) {
      // Someone else probes the same address at the same time: neither may have it (§5.4.3).
      node.errors[e.dadConflicts]++;
      ctx.nd.dadConflict(sw, own, `a DAD probe from ${formatMac(data, ctx.frames.off[i] + 6)}`);
    } else ctx.drop(node, i, e.ndTentativeTarget);
    return;
  }
  link.nsReceived++;
  if (dad) {
    // Defend our address: an NA to all-nodes, not solicited (RFC 4861 §7.2.4).
    ctx.ip6.sendNa(sw, ALL_NODES_MAC, ALL_NODES, 0, data, target, NA_FLAG_OVERRIDE, traceId);
    node.errors[e.dadDefended]++;
    return;
  }
  const end = icmp + len;
  const slla = ndOption(data, icmp + ND_NS_NA_LEN, end, ND_OPT_SOURCE_LLADDR);
  let replyMac = ctx.frames.off[i] + 6; // the frame's source, when the NS has no link-layer option
  if (slla >= 0) {
    const mac = slla + 2;
    if (isMulticastMac(data, mac) || isZeroMac(data, mac) || data.compare(sw.mac, 0, 6, mac, mac + 6) === 0) {
      ctx.drop(node, i, e.ndBadLinkAddress);
      return;
    }
    ctx.neighbors6.learn6(sw, data, src, data, mac, now, false, true, true);
    replyMac = mac;
  }
  ctx.ip6.sendNa(sw, data.subarray(replyMac, replyMac + 6), data, src, data, target, NA_FLAG_SOLICITED | NA_FLAG_OVERRIDE, traceId);
  link.naSent++;
  node.errors[e.nsAnswered]++;
}

function neighborAdvertisement(node: Icmp6InputNode, ctx: NodeContext, i: number, sw: SwInterface, ip: number, icmp: number, len: number, now: number): void {
  const e = node.e;
  const data = ctx.frames.data;
  const target = icmp + 8;
  const own = sw.ip6!.find(data, target);
  const tlla = ndOption(data, icmp + ND_NS_NA_LEN, icmp + len, ND_OPT_TARGET_LLADDR);
  if (own !== undefined) {
    // (formatted only here: an ordinary NA costs no string)
    const who = tlla >= 0 ? formatMac(data, tlla + 2) : formatMac(data, ctx.frames.off[i] + 6);
    if (own.dad === DadState.Tentative) {
      node.errors[e.dadConflicts]++;
      ctx.nd.dadConflict(sw, own, who);
      return;
    }
    ctx.nd.addressConflict(sw, own, who);
    ctx.drop(node, i, e.ndOwnAddress);
    return;
  }
  node.errors[e.naReceived]++;
  const flags = data[icmp + 4];
  if (tlla < 0) {
    // §7.2.5: without a link-layer address the one we hold stands; Solicited still confirms it.
    if ((flags & NA_FLAG_SOLICITED) !== 0) ctx.neighbors6.confirmSolicited6(sw, data, target, now);
    return;
  }
  const mac = tlla + 2;
  if (isMulticastMac(data, mac) || isZeroMac(data, mac) || data.compare(sw.mac, 0, 6, mac, mac + 6) === 0) return;
  ctx.neighbors6.learn6(sw, data, target, data, mac, now, (flags & NA_FLAG_SOLICITED) !== 0, false, (flags & NA_FLAG_OVERRIDE) !== 0);
}

function echoRequest(node: Icmp6InputNode, ctx: NodeContext, i: number, sw: SwInterface, ip: number, icmp: number, len: number, traceId: number): void {
  const e = node.e;
  const data = ctx.frames.data;
  const src = ip + ipv6SourceOffset;
  const dst = ip + ipv6DestinationOffset;
  if (len < 8) {
    ctx.drop(node, i, e.tooShort);
    return;
  }
  if (isIp6Multicast(data, dst)) {
    ctx.drop(node, i, e.echoMulticast);
    return;
  }
  const ip6 = ctx.ip6;
  const out = ip6.routeInterface(data, src, sw);
  if (out === null || !out.up) {
    ctx.drop(node, i, e.noRoute);
    return;
  }
  if (IPV6_HEADER_LEN + len > ip6.mtuRoomOf(out)) {
    ctx.drop(node, i, e.noRoom);
    return;
  }
  ip6.begin(data, src, sw, 0, false, traceId);
  if (ip6.sw === null) {
    ip6.commit(data, dst, IP6_NH_ICMP6, 0);
    ctx.drop(node, i, e.unreachable);
    return;
  }
  const b = ip6.buf;
  const l3 = ip6.l3;
  const reply = l3 + IPV6_HEADER_LEN;
  data.copy(b, reply, icmp, icmp + len);
  b[reply] = ICMP6_ECHO_REPLY;
  b[reply + 1] = 0;
  // The reply's pseudo-header has the request's addresses swapped: the same sum, read in place.
  b.writeUInt16BE(0, reply + 2);
  b.writeUInt16BE(finish(sumWords(b, reply, len, pseudoHeaderSum6(data, ip, len, IP6_NH_ICMP6))), reply + 2);
  ip6.commit(data, dst, IP6_NH_ICMP6, len);
  node.errors[e.echoReplies]++;
}

function isZeroMac(b: Buffer, o: number): boolean {
  return (b[o] | b[o + 1] | b[o + 2] | b[o + 3] | b[o + 4] | b[o + 5]) === 0;
}

function ndReason(check: NdError, e: Icmp6InputNode['e']): number {
  switch (check) {
    case NdError.HopLimit:
      return e.ndHopLimit;
    case NdError.BadCode:
      return e.ndBadCode;
    case NdError.TooShort:
      return e.ndTooShort;
    case NdError.MulticastTarget:
      return e.ndMulticastTarget;
    case NdError.BadOption:
      return e.ndBadOption;
    case NdError.BadDadProbe:
      return e.ndBadDadProbe;
    default:
      return e.ndSolicitedMulticast;
  }
}

const TYPE_NAMES: Record<number, string> = {
  1: 'destination_unreachable',
  2: 'packet_too_big',
  3: 'time_exceeded',
  4: 'parameter_problem',
  128: 'echo_request',
  129: 'echo_reply',
  133: 'router_solicitation',
  134: 'router_advertisement',
  135: 'neighbor_solicitation',
  136: 'neighbor_advertisement',
  137: 'redirect',
};

function traceIcmp6(ctx: NodeContext, id: number, data: Buffer, icmp: number, len: number): void {
  const type = data[icmp];
  let line = `ICMP6: ${TYPE_NAMES[type] ?? `type ${type}`} code ${data[icmp + 1]} checksum 0x${data.readUInt16BE(icmp + 2).toString(16).padStart(4, '0')}`;
  if ((type === ND_NEIGHBOR_SOLICIT || type === ND_NEIGHBOR_ADVERT) && len >= 24) line += ` target ${formatIpv6(data, icmp + 8)}`;
  else if ((type === ICMP6_ECHO_REQUEST || type === ICMP6_ECHO_REPLY) && len >= 8) line += ` id ${data.readUInt16BE(icmp + 4)} seq ${data.readUInt16BE(icmp + 6)}`;
  ctx.tracer.record(id, 'ip6-icmp-input', line);
}

/**
 * Sends an ICMPv6 echo request to dst (16 bytes) with `dataBytes` of payload, for the CLI's
 * `ping`. A link-local destination needs `source` (the interface it is on), as in VPP.
 */
export function sendEcho6(ip6: Ip6Output, dst: Buffer, id: number, seq: number, dataBytes: number, source: SwInterface | null): 'sent' | 'no-route' | 'no-source-address' {
  const sw = ip6.routeInterface(dst, 0, source);
  if (sw === null) return 'no-route';
  const src = ip6.sourceFor(source ?? sw, dst, 0);
  if (src === undefined) return 'no-source-address';
  const max = ip6.mtuRoomOf(sw) - IPV6_HEADER_LEN - 8;
  if (dataBytes > max) throw new RangeError(`${dataBytes} is bigger than maximum allowed payload size ${max}`);
  const icmpLen = 8 + dataBytes;
  ip6.begin(dst, 0, sw, 0, false);
  const b = ip6.buf;
  const l3 = ip6.l3;
  const m = l3 + IPV6_HEADER_LEN;
  b[m] = ICMP6_ECHO_REQUEST;
  b[m + 1] = 0;
  b.writeUInt16BE(id, m + 4);
  b.writeUInt16BE(seq, m + 6);
  for (let k = 0; k < dataBytes; k++) b[m + 8 + k] = k & 0xff;
  src.address.copy(b, l3 + ipv6SourceOffset);
  dst.copy(b, l3 + ipv6DestinationOffset, 0, 16);
  writeIcmp6Checksum(b, l3, m, icmpLen);
  ip6.commit(src.address, 0, IP6_NH_ICMP6, icmpLen);
  return 'sent';
}
