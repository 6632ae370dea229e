/**
 * ip4-icmp-input: answers echo requests (RFC 792) with an echo reply carrying the same
 * identifier, sequence number and data, sent through the FIB like every packet we originate
 * (a request from an off-link source with no route is dropped as "no route"), and hands echo
 * replies to the CLI's `ping`.
 */
import { checkIcmp, IcmpError, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, ICMP_HEADER_LEN, icmpType, updatedChecksum, writeIcmpChecksum } from '../wire/icmp.js';
import { copyBytes, read16 } from '../wire/bytes.js';
import { ipv4Destination, ipv4HeaderLength, ipv4Source, ipv4Ttl, IPV4_MIN_HEADER_LEN, IP_PROTO_ICMP } from '../wire/ipv4.js';
import type { NodeContext } from './context.js';
import type { Ip4Output } from './ip4-output.js';
import type { SwInterface } from './interface.js';
import { defineNode, err, info } from './node.js';

export function createIcmpInput(capacity: number) {
  const node = defineNode(
    'ip4-icmp-input',
    {
      echoReplies: info('echo replies sent'),
      echoRepliesReceived: info('echo replies received'),
      malformed: err('icmp packet too short'),
      badChecksum: err('icmp bad checksum'),
      unhandledType: err('icmp type not handled'),
      noRoom: err('reply does not fit the interface MTU'),
      noRoute: err('no route to the source (reply not sent)'),
      unreachable: err('reply dropped: next hop failed, or neighbour table full'),
    },
    ['ip4-lookup', 'error-drop'],
    capacity,
  );
  node.run = (ctx) => runIcmpInput(node, ctx);
  return node;
}

type IcmpInputNode = ReturnType<typeof createIcmpInput>;

function runIcmpInput(node: IcmpInputNode, ctx: NodeContext): void {
  const e = node.e;
  const f = ctx.frames;
  const data = f.data;
  const traced = ctx.tracer.tracedThisVector;
  const ip4 = ctx.ip4;
  for (let q = 0; q < node.queued; q++) {
    const i = node.queue[q];
    const ip = f.l3Off[i];
    const hlen = ipv4HeaderLength(data, ip);
    const icmp = ip + hlen;
    const icmpLen = f.l3Len[i] - hlen;
    const check = checkIcmp(data, icmp, icmpLen);
    if (check !== IcmpError.None) {
      ctx.drop(node, i, check === IcmpError.TooShort ? e.malformed : e.badChecksum);
      continue;
    }
    const type = icmpType(data, icmp);
    const traceId = traced ? ctx.tracer.frameTrace[i] : -1;
    if (traceId >= 0) ctx.tracer.record(traceId, 'ip4-icmp-input', `ICMP ${type === ICMP_ECHO_REQUEST ? 'echo_request' : type === ICMP_ECHO_REPLY ? 'echo_reply' : `type ${type}`} checksum 0x${data.readUInt16BE(icmp + 2).toString(16).padStart(4, '0')} id ${data.readUInt16BE(icmp + 4)} seq ${data.readUInt16BE(icmp + 6)}`);
    const src = ipv4Source(data, ip);
    if (type === ICMP_ECHO_REPLY && icmpLen >= ICMP_HEADER_LEN) {
      node.errors[e.echoRepliesReceived]++;
      ctx.echoListener?.(src, read16(data, icmp + 4), read16(data, icmp + 6), ipv4Ttl(data, ip), icmpLen);
      continue;
    }
    if (type !== ICMP_ECHO_REQUEST) {
      ctx.drop(node, i, e.unhandledType);
      continue;
    }
    const dst = ipv4Destination(data, ip);
    // Route first: a reply that cannot leave or does not fit costs no neighbour resolution.
    const out = ip4.routeInterface(src);
    if (out === null || !out.up) {
      // No route back to the source (or the way back is down).
      ctx.drop(node, i, e.noRoute);
      continue;
    }
    if (IPV4_MIN_HEADER_LEN + icmpLen > ctx.output.l3Room(out)) {
      ctx.drop(node, i, e.noRoom);
      continue;
    }
    ip4.begin(src, 0, false, traceId);
    if (ip4.sw === null) {
      // Discarded by the output path (counted there too): the request ends as a drop here.
      ip4.commit(dst, src, IP_PROTO_ICMP, 0);
      ctx.drop(node, i, e.unreachable);
      continue;
    }
    const buf = ip4.buf;
    const reply = ip4.l3 + IPV4_MIN_HEADER_LEN;
    copyBytes(buf, reply, data, icmp, icmpLen);
    buf[reply] = ICMP_ECHO_REPLY;
    buf[reply + 1] = 0;
    // The request's checksum verified above; only its first word changes.
    const sum = updatedChecksum(read16(data, icmp + 2), read16(data, icmp), ICMP_ECHO_REPLY << 8);
    buf[reply + 2] = sum >>> 8;
    buf[reply + 3] = sum & 0xff;
    ip4.commit(dst, src, IP_PROTO_ICMP, icmpLen);
    node.errors[e.echoReplies]++;
  }
}

/** The largest echo payload that fits one packet out of `sw`. */
export function maxEchoData(ip4: Ip4Output, sw: SwInterface): number {
  return ip4.mtuRoomOf(sw) - IPV4_MIN_HEADER_LEN - ICMP_HEADER_LEN;
}

export type EchoResult = 'sent' | 'no-route' | 'no-source-address';

/**
 * Sends an ICMP echo request to `dst` with `dataBytes` of payload, through the FIB (or out of
 * `source`'s address when given). Used by the CLI's `ping`; the caller flushes.
 */
export function sendEcho(ip4: Ip4Output, dst: number, id: number, seq: number, dataBytes: number, source: SwInterface | null): EchoResult {
  const sw = ip4.routeInterface(dst);
  if (sw === null) return 'no-route';
  const src = ip4.sourceFor(source ?? sw, dst);
  if (src === undefined) return 'no-source-address';
  const icmpLen = ICMP_HEADER_LEN + dataBytes;
  const max = maxEchoData(ip4, sw);
  if (dataBytes > max) throw new RangeError(`${dataBytes} is bigger than maximum allowed payload size ${max}`);
  ip4.begin(dst, 0, false);
  const out = ip4.buf;
  const m = ip4.l3 + IPV4_MIN_HEADER_LEN;
  out[m] = ICMP_ECHO_REQUEST;
  out[m + 1] = 0;
  out.writeUInt16BE(id, m + 4);
  out.writeUInt16BE(seq, m + 6);
  for (let k = 0; k < dataBytes; k++) out[m + ICMP_HEADER_LEN + k] = k & 0xff;
  writeIcmpChecksum(out, m, icmpLen);
  ip4.commit(src, dst, IP_PROTO_ICMP, icmpLen);
  return 'sent';
}

