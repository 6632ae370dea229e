/**
 * tcp4-input: verifies the TCP checksum over the pseudo header and hands the segment to the
 * TCP stack, which answers through the IPv4 output path (tcp-host.ts).
 */
import { finish, pseudoHeaderSum, sumWords } from '../wire/checksum.js';
import { ipv4DestinationI32, ipv4HeaderLength, ipv4SourceI32, IP_PROTO_TCP } from '../wire/ipv4.js';
import { RX_FLAG_CSUM_NOT_READY, RX_FLAG_CSUM_VALID } from '../io/device.js';
import type { NodeContext } from './context.js';
import { defineNode, err, info } from './node.js';

const CHECKSUM_TRUSTED = RX_FLAG_CSUM_NOT_READY | RX_FLAG_CSUM_VALID;
const TCP_MIN_HEADER_LEN = 20;
const FLAG_NAMES = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG'];

export function createTcpInput(capacity: number) {
  const node = defineNode(
    'tcp4-input',
    {
      delivered: info('segments delivered to TCP'),
      tooShort: err('tcp segment too short'),
      badChecksum: err('tcp bad checksum'),
      noStack: err('no TCP listener configured'),
    },
    ['ip4-lookup', 'error-drop'],
    capacity,
  );
  node.run = (ctx) => runTcpInput(node, ctx);
  return node;
}

type TcpInputNode = ReturnType<typeof createTcpInput>;

function runTcpInput(node: TcpInputNode, ctx: NodeContext): void {
  const e = node.e;
  const f = ctx.frames;
  const data = f.data;
  const tcp = ctx.tcp;
  // The clock of the vector, as the one heap number made for it (passed per segment: see clockBoxed).
  const now = ctx.ip4.clockBoxed ?? ctx.ip4.clockMs;
  const traced = ctx.tracer.tracedThisVector;
  for (let q = 0; q < node.queued; q++) {
    const i = node.queue[q];
    const ip = f.l3Off[i];
    const hlen = ipv4HeaderLength(data, ip);
    const off = ip + hlen;
    const len = f.l3Len[i] - hlen;
    if (len < TCP_MIN_HEADER_LEN) {
      ctx.drop(node, i, e.tooShort);
      continue;
    }
    const src = ipv4SourceI32(data, ip); // int32 (see ipv4SourceI32); TcpStack.input takes either form
    const dst = ipv4DestinationI32(data, ip);
    // Frames from this host's own kernel may carry a partial checksum it vouches for.
    if ((f.flags[i] & CHECKSUM_TRUSTED) === 0 && finish(sumWords(data, off, len, pseudoHeaderSum(src, dst, IP_PROTO_TCP, len))) !== 0) {
      ctx.drop(node, i, e.badChecksum);
      continue;
    }
    if (traced && ctx.tracer.frameTrace[i] >= 0) traceTcp(ctx, ctx.tracer.frameTrace[i], data, off, len);
    if (tcp === null) {
      ctx.drop(node, i, e.noStack);
      continue;
    }
    node.errors[e.delivered]++;
    tcp.input(src, dst, data, off, len, now);
  }
}

function traceTcp(ctx: NodeContext, id: number, data: Buffer, off: number, len: number): void {
  const flags = data[off + 13];
  const names = FLAG_NAMES.filter((_, b) => (flags & (1 << b)) !== 0).join(' ');
  ctx.tracer.record(
    id,
    'tcp4-input',
    `TCP: ${data.readUInt16BE(off)} -> ${data.readUInt16BE(off + 2)}`,
    `  seq 0x${data.readUInt32BE(off + 4).toString(16).padStart(8, '0')} ack 0x${data.readUInt32BE(off + 8).toString(16).padStart(8, '0')}`,
    `  flags 0x${flags.toString(16).padStart(2, '0')} ${names}, tcp header: ${(data[off + 12] >>> 4) * 4} bytes, window ${data.readUInt16BE(off + 14)}, data ${len - (data[off + 12] >>> 4) * 4} bytes`,
  );
}
