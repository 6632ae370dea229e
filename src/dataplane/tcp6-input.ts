/**
 * tcp6-input: verifies the TCP checksum over the IPv6 pseudo-header (RFC 8200 §8.1). The TCP
 * stack speaks IPv4 only for now, so every valid segment is then dropped as "TCP over IPv6 not
 * supported yet" (counted, never silently lost); this node is where it will be handed over.
 */
import { finish, sumWords } from '../wire/checksum.js';
import { IP6_NH_TCP, pseudoHeaderSum6 } from '../wire/ipv6.js';
import { RX_FLAG_CSUM_NOT_READY, RX_FLAG_CSUM_VALID } from '../io/device.js';
import { defineNode, err } from './node.js';

const CHECKSUM_TRUSTED = RX_FLAG_CSUM_NOT_READY | RX_FLAG_CSUM_VALID;
const TCP_MIN_HEADER_LEN = 20;

export function createTcp6Input(capacity: number) {
  const node = defineNode(
    'tcp6-input',
    {
      tooShort: err('tcp segment too short'),
      badChecksum: err('tcp bad checksum'),
      noStack: err('TCP over IPv6 not supported yet'),
    },
    ['error-drop'],
    capacity,
  );
  node.run = (ctx) => {
    const e = node.e;
    const f = ctx.frames;
    const data = f.data;
    for (let q = 0; q < node.queued; q++) {
      const i = node.queue[q];
      const ip = f.l3Off[i];
      const off = ctx.ip6Frames.upper[i];
      const len = ip + f.l3Len[i] - off;
      if (len < TCP_MIN_HEADER_LEN) ctx.drop(node, i, e.tooShort);
      else if ((f.flags[i] & CHECKSUM_TRUSTED) === 0 && finish(sumWords(data, off, len, pseudoHeaderSum6(data, ip, len, IP6_NH_TCP))) !== 0) ctx.drop(node, i, e.badChecksum);
      else ctx.drop(node, i, e.noStack);
    }
  };
  return node;
}
