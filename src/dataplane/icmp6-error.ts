/**
 * ICMPv6 error messages we originate (RFC 4443 §2.4), rate-limited by a token bucket so that a
 * flood of bad packets cannot make us a flood source: `burst` errors at once, then `perSecond`.
 * Never sent for a packet from :: or a multicast source, nor to a multicast destination (the
 * caller checks the destination), nor about an ICMPv6 error (callers send only for non-ICMPv6
 * protocols). The message carries as much of the invoking packet as fits the minimum MTU (1280).
 */
import { ICMP6_DEST_UNREACHABLE, ICMP6_PARAMETER_PROBLEM, writeIcmp6Checksum } from '../wire/icmpv6.js';
import { isIp6Multicast, isIp6Unspecified } from '../wire/ipv6-address.js';
import { IP6_NH_ICMP6, ipv6DestinationOffset, ipv6SourceOffset, IPV6_HEADER_LEN } from '../wire/ipv6.js';
import type { SwInterface } from './interface.js';
import type { Ip6Output } from './ip6-output.js';
import { defineNode, info } from './node.js';

/** type << 8 | code */
export const ICMP6_PORT_UNREACHABLE = (ICMP6_DEST_UNREACHABLE << 8) | 4;
export const ICMP6_PARAM_UNRECOGNIZED_NH = (ICMP6_PARAMETER_PROBLEM << 8) | 1;

const MIN_MTU = 1280;

export class Icmp6ErrorSender {
  readonly node = defineNode(
    'ip6-icmp-error',
    {
      sent: info('ICMPv6 errors sent'),
      rateLimited: info('ICMPv6 errors not sent (rate limit, RFC 4443 §2.4)'),
      badSource: info('ICMPv6 errors not sent (source is :: or multicast)'),
      noSource: info('ICMPv6 errors not sent (no route or no source address)'),
    },
    ['ip6-lookup'],
    0,
    'sent',
  );
  private tokens: number;
  private last: number;

  constructor(
    private readonly ip6: Ip6Output,
    private readonly now: () => number,
    readonly perSecond = 10,
    readonly burst = 10,
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** An error `kind` (type << 8 | code) about the packet data[ip .. ip+len) that came in on `sw`; `pointer` for Parameter Problem. */
  send(sw: SwInterface, data: Buffer, ip: number, len: number, kind: number, pointer: number): void {
    const e = this.node.e;
    const src = ip + ipv6SourceOffset;
    if (isIp6Unspecified(data, src) || isIp6Multicast(data, src)) {
      this.node.errors[e.badSource]++;
      return;
    }
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.perSecond) / 1000);
    this.last = now;
    if (this.tokens < 1) {
      this.node.errors[e.rateLimited]++;
      return;
    }
    const ip6 = this.ip6;
    const out = ip6.routeInterface(data, src, sw);
    const from = sw.ip6?.usable(data, ip + ipv6DestinationOffset);
    if (out === null || from === undefined) {
      this.node.errors[e.noSource]++;
      return;
    }
    this.tokens -= 1;
    const quoted = Math.min(len, Math.min(MIN_MTU, ip6.mtuRoomOf(out)) - IPV6_HEADER_LEN - 8);
    ip6.begin(data, src, sw, 0, false);
    const b = ip6.buf;
    const m = ip6.l3 + IPV6_HEADER_LEN;
    b[m] = kind >>> 8;
    b[m + 1] = kind & 0xff;
    b.writeUInt32BE(pointer >>> 0, m + 4);
    data.copy(b, m + 8, ip, ip + quoted);
    const icmpLen = 8 + quoted;
    // The checksum covers the pseudo-header: write the IPv6 header's addresses first.
    from.address.copy(b, ip6.l3 + ipv6SourceOffset);
    data.copy(b, ip6.l3 + ipv6DestinationOffset, src, src + 16);
    writeIcmp6Checksum(b, ip6.l3, m, icmpLen);
    ip6.commit(from.address, 0, IP6_NH_ICMP6, icmpLen);
    this.node.errors[e.sent]++;
  }
}
