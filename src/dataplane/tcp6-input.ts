/**
 * tcp6-input: verifies the TCP checksum over the IPv6 pseudo-header (RFC 8200 §8.1) and hands
 * the segment to the TCP stack, with both addresses as their 32-bit handles (ip6-peers.ts); the
 * stack answers through the IPv6 output path (tcp-host.ts).
 */
import { finish, sumWords } from '../wire/checksum.js';
import { IP6_NH_TCP, ipv6DestinationOffset, ipv6SourceOffset, pseudoHeaderSum6 } from '../wire/ipv6.js';
import { RX_FLAG_CSUM_NOT_READY, RX_FLAG_CSUM_VALID } from '../io/device.js';
import { defineNode, err, info } from './node.js';

const CHECKSUM_TRUSTED = RX_FLAG_CSUM_NOT_READY | RX_FLAG_CSUM_VALID;
const TCP_MIN_HEADER_LEN = 20;

export function createTcp6Input(capacity: number) {
  const node = defineNode(
    'tcp6-input',
    {
      delivered: info('segments delivered to TCP'),
      tooShort: err('tcp segment too short'),
      badChecksum: err('tcp bad checksum'),
      multicast: err('tcp segment to a multicast address'),
      l2Multicast: err('tcp segment in a link-layer multicast frame'),
      noStack: err('no TCP listener configured'),
      tooManyPeers: err('IPv6 peer table full (connections use every entry)'),
    },
    ['ip6-lookup', 'error-drop'],
    capacity,
  );
  node.run = (ctx) => {
    const e = node.e;
    const f = ctx.frames;
    const data = f.data;
    const tcp = ctx.tcp;
    const peers = ctx.ip6Peers;
    const now = ctx.ip4.clockBoxed ?? ctx.ip4.clockMs; // the vector's clock (see Ip4Output.clockBoxed)
    for (let q = 0; q < node.queued; q++) {
      const i = node.queue[q];
      const ip = f.l3Off[i];
      const off = ctx.ip6Frames.upper[i];
      const len = ip + f.l3Len[i] - off;
      if (len < TCP_MIN_HEADER_LEN) {
        ctx.drop(node, i, e.tooShort);
        continue;
      }
      // ip6-input takes all-nodes and solicited-node groups (for ND); TCP is unicast only.
      if (data[ip + ipv6DestinationOffset] === 0xff) {
        ctx.drop(node, i, e.multicast);
        continue;
      }
      // A unicast address in a multicast/broadcast frame is not for this host alone (Linux: pkt_type != PACKET_HOST).
      if ((data[f.off[i]] & 1) !== 0) {
        ctx.drop(node, i, e.l2Multicast);
        continue;
      }
      // Frames from this host's own kernel may carry a partial checksum it vouches for.
      if ((f.flags[i] & CHECKSUM_TRUSTED) === 0 && finish(sumWords(data, off, len, pseudoHeaderSum6(data, ip, len, IP6_NH_TCP))) !== 0) {
        ctx.drop(node, i, e.badChecksum);
        continue;
      }
      if (tcp === null) {
        ctx.drop(node, i, e.noStack);
        continue;
      }
      const sw = ctx.interfaces[f.sw[i] - 1];
      const src = peers.intern(data, ip + ipv6SourceOffset, sw);
      const dst = src < 0 ? -1 : peers.intern(data, ip + ipv6DestinationOffset, sw);
      if (dst < 0) {
        ctx.drop(node, i, e.tooManyPeers);
        continue;
      }
      node.errors[e.delivered]++;
      tcp.input(src, dst, data, off, len, now);
    }
  };
  return node;
}
