/**
 * tcp4-input: verifies the TCP checksum over the pseudo header and hands the segment to the
 * TCP stack, which answers through the dataplane's segment sink.
 */
import { finish, pseudoHeaderSum, sumWords } from '../wire/checksum.js';
import { ipv4Destination, ipv4HeaderLength, ipv4Source, IP_PROTO_TCP } from '../wire/ipv4.js';
import type { Dataplane } from './dataplane.js';
import { RX_FLAG_CSUM_NOT_READY, RX_FLAG_CSUM_VALID } from '../io/device.js';

const CHECKSUM_TRUSTED = RX_FLAG_CSUM_NOT_READY | RX_FLAG_CSUM_VALID;

/** The part of the TCP stack that the dataplane calls for each received segment. */
export interface TcpInputHandler {
  input(srcIp: number, dstIp: number, buf: Buffer, off: number, len: number, now: number): void;
}

const TCP_MIN_HEADER_LEN = 20;

export function runTcpInput(dp: Dataplane, _node: never): void {
  const node = dp.nodes.tcpInput;
  const e = node.e;
  const f = dp.frames;
  const data = f.data;
  const tcp = dp.tcp;
  const now = dp.now();
  for (let q = 0; q < node.queued; q++) {
    const i = node.queue[q];
    const ip = f.l3Off[i];
    const hlen = ipv4HeaderLength(data, ip);
    const off = ip + hlen;
    const len = f.l3Len[i] - hlen;
    if (len < TCP_MIN_HEADER_LEN) {
      dp.drop(node, i, e.tooShort);
      continue;
    }
    const src = ipv4Source(data, ip);
    const dst = ipv4Destination(data, ip);
    // Frames from this host's own kernel may carry a partial checksum it vouches for.
    if ((f.flags[i] & CHECKSUM_TRUSTED) === 0 && finish(sumWords(data, off, len, pseudoHeaderSum(src, dst, IP_PROTO_TCP, len))) !== 0) {
      dp.drop(node, i, e.badChecksum);
      continue;
    }
    if (tcp === null) {
      dp.drop(node, i, e.noStack);
      continue;
    }
    node.errors[e.delivered]++;
    tcp.input(src, dst, data, off, len, now);
  }
}
