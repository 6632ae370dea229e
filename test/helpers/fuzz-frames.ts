/**
 * The fuzz generator of test/unit/fuzz.test.ts (random, mutated and truncated Ethernet / VLAN /
 * ARP / IPv4 / ICMP / TCP / IPv6 frames from a seeded PRNG) and its pump, shared with
 * test/unit/rx-overread.test.ts, which runs the same frames with two RX poison values.
 */
import assert from 'node:assert/strict';
import type { InjectOptions } from '../../src/io/memory-device.js';
import type { TestBed } from './dataplane.js';
import {
  arp,
  arpRequestFrame,
  checksum,
  CLIENT_IP,
  ETH_P_8021AD,
  ETH_P_8021Q,
  ETH_P_ARP,
  ETH_P_IPV4,
  ETH_P_IPV6,
  ethernet,
  ipv4,
  icmpEcho,
  OUR_IP,
  OUR_MAC,
  pingFrame,
  tcp,
  type Tag,
} from './frames.js';
import { Rng } from './prng.js';
import { checksum6, CLIENT_IP6, groupMac, icmp6, ip6, ipv6, OUR_IP6, OUR_LL_TEXT, solicited } from './frames6.js';

export const OUR_LL = ip6(OUR_LL_TEXT);
/** The IPv6 address the fuzz adds to the seed configuration (dual stack). */
export const IP6_LINE = 'set int ip address host-macvlan0.123 2001:db8:123::150/64';

const TPIDS = [ETH_P_8021Q, ETH_P_8021Q, ETH_P_8021Q, ETH_P_8021AD, 0x9100];
const VIDS = [123, 123, 123, 123, 124, 0, 1, 4094, 4095];
const TYPES = [ETH_P_IPV4, ETH_P_IPV4, ETH_P_IPV4, ETH_P_ARP, ETH_P_ARP, ETH_P_IPV6, 0x88cc, 0x8847, 0x0000, 0x05dc, 0xffff, ETH_P_8021Q, ETH_P_8021AD];

/** One generated frame and how it is delivered. */
export interface Generated {
  frame: Buffer;
  inject: InjectOptions;
  kind: string;
}

export class FrameFuzzer {
  constructor(private readonly r: Rng) {}

  private mac(): Buffer {
    const r = this.r;
    switch (r.int(6)) {
      case 0:
      case 1:
      case 2:
        return OUR_MAC;
      case 3:
        return Buffer.alloc(6, 0xff);
      case 4:
        return Buffer.from([0x01, 0x00, 0x5e, 0, 0, r.int(256)]);
      default:
        return r.bytes(6);
    }
  }

  private ip(): number {
    const r = this.r;
    switch (r.int(5)) {
      case 0:
      case 1:
        return OUR_IP;
      case 2:
        return (0xc0a87b00 | r.int(256)) >>> 0;
      case 3:
        return CLIENT_IP;
      default:
        return r.u32();
    }
  }

  private tags(): Tag[] {
    const r = this.r;
    const n = r.pick([0, 1, 1, 1, 1, 2, 3]);
    return Array.from({ length: n }, () => ({ tpid: r.pick(TPIDS), vid: r.chance(0.1) ? r.int(4096) : r.pick(VIDS), pcp: r.int(8), dei: r.chance(0.1) }));
  }

  private metadata(): InjectOptions {
    const r = this.r;
    if (!r.chance(0.4)) return {};
    return { vlanTci: (r.int(8) << 13) | (r.chance(0.1) ? r.int(4096) : r.pick(VIDS)), vlanTpid: r.chance(0.9) ? ETH_P_8021Q : ETH_P_8021AD };
  }

  private ip6(): Buffer {
    const r = this.r;
    switch (r.int(6)) {
      case 0:
      case 1:
        return OUR_IP6;
      case 2:
        return OUR_LL;
      case 3:
        return CLIENT_IP6;
      case 4:
        return r.chance(0.5) ? ip6('ff02::1') : solicited(OUR_IP6);
      default:
        return r.bytes(16);
    }
  }

  /** IPv6: echo, NS/NA, other ICMPv6, TCP, UDP, behind random extension-header chains. */
  private validIp6(): { type: number; payload: Buffer; dst?: Buffer } {
    const r = this.r;
    const src = r.chance(0.7) ? CLIENT_IP6 : r.chance(0.2) ? Buffer.alloc(16) : this.ip6();
    let dst = this.ip6();
    let nh = 58;
    let upper: Buffer;
    let hop = r.chance(0.8) ? 255 : r.int(256);
    const kind = r.int(6);
    if (kind <= 1) upper = icmp6(r.chance(0.9) ? 128 : 129, 0, Buffer.concat([r.bytes(4), r.bytes(r.int(100))]), src, dst);
    else if (kind === 2) {
      dst = r.chance(0.6) ? solicited(OUR_IP6) : OUR_IP6;
      const target = r.chance(0.8) ? OUR_IP6 : this.ip6();
      const opt = r.chance(0.8) ? Buffer.concat([Buffer.from([1, 1]), r.chance(0.8) ? Buffer.from('525400123456', 'hex') : r.bytes(6)]) : r.bytes(r.int(16));
      upper = icmp6(135, 0, Buffer.concat([Buffer.alloc(4), target, opt]), src, dst);
    } else if (kind === 3) {
      upper = icmp6(136, 0, Buffer.concat([Buffer.from([r.int(256), 0, 0, 0]), r.chance(0.5) ? CLIENT_IP6 : this.ip6(), Buffer.from([2, 1]), r.bytes(6)]), src, dst);
    } else if (kind === 4) {
      upper = icmp6(r.pick([1, 2, 3, 4, 130, 131, 133, 134, 137, 143, 200]), r.int(3), r.bytes(r.int(64) + 4), src, dst);
      hop = r.chance(0.5) ? 255 : 64;
    } else {
      nh = r.pick([6, 6, 17, 59, 99]);
      upper = r.bytes(r.range(nh === 6 ? 20 : 0, 100));
      if (nh === 6 && r.chance(0.7)) {
        upper.writeUInt16BE(0, 16);
        upper.writeUInt16BE(checksum6(src, dst, 6, upper), 16);
      }
    }
    // A random chain of extension headers in front, sometimes.
    const chain: Buffer[] = [];
    for (let k = r.chance(0.7) ? 0 : r.range(1, 10); k > 0; k--) {
      const hType = r.pick([0, 43, 44, 60, 60]);
      const len = r.int(3);
      const h = Buffer.alloc((len + 1) * 8);
      h[1] = r.chance(0.9) ? len : r.int(256);
      if (hType === 43) h[3] = r.chance(0.5) ? 0 : r.int(4);
      else if (hType !== 44) for (let o = 2; o < h.length; o++) h[o] = r.chance(0.7) ? 0 : r.int(256);
      chain.push(Buffer.from([hType]), h);
    }
    // Link the chain: each header's first byte names the next one.
    const headers: Buffer[] = [];
    let first = nh;
    for (let k = chain.length - 2; k >= 0; k -= 2) {
      const h = chain[k + 1];
      h[0] = first;
      first = chain[k][0];
      headers.unshift(h);
    }
    const payload = ipv6({ src, dst, nh: first, hopLimit: hop, payload: Buffer.concat([...headers, upper]) });
    return { type: ETH_P_IPV6, payload, dst: dst[0] === 0xff ? groupMac(dst) : OUR_MAC };
  }

  /** A valid L3 payload (ARP, ICMP echo, TCP, IPv6) to or from our address. */
  private validL3(): { type: number; payload: Buffer; dst?: Buffer } {
    const r = this.r;
    if (r.chance(0.3)) return this.validIp6();
    switch (r.int(3)) {
      case 0:
        return {
          type: ETH_P_ARP,
          payload: arp({ op: r.pick([1, 1, 2]), sha: r.chance(0.8) ? undefined : r.bytes(6), spa: r.chance(0.7) ? CLIENT_IP : this.ip(), tpa: this.ip() }),
        };
      case 1: {
        const data = r.bytes(r.chance(0.9) ? r.int(100) : r.int(9000));
        const echo = icmpEcho({ type: r.chance(0.85) ? 8 : r.int(256), id: r.int(65536), seq: r.int(65536), data });
        return { type: ETH_P_IPV4, payload: ipv4({ src: r.chance(0.8) ? CLIENT_IP : this.ip(), dst: this.ip(), protocol: 1, payload: echo, ttl: r.int(256), id: r.int(65536) }) };
      }
      default: {
        const seg = tcp({ srcPort: r.int(65536), dstPort: r.chance(0.5) ? 80 : r.int(65536), seq: r.u32(), ack: r.u32(), flags: r.int(256), payload: r.bytes(r.int(200)) });
        return { type: ETH_P_IPV4, payload: ipv4({ src: CLIENT_IP, dst: this.ip(), protocol: 6, payload: seg }) };
      }
    }
  }

  /** Lies in the IPv4 header: total length, IHL, version, flags, checksum. */
  private lieIpv4(p: Buffer): void {
    const r = this.r;
    if (p.length < 20) return;
    switch (r.int(7)) {
      case 0:
        p.writeUInt16BE(r.int(65536), 2);
        break;
      case 1:
        p[0] = (p[0] & 0xf0) | r.int(16);
        break;
      case 2:
        p[0] = (r.int(16) << 4) | (p[0] & 15);
        break;
      case 3:
        p.writeUInt16BE(r.int(65536), 6); // flags + fragment offset
        break;
      case 4:
        p[9] = r.int(256);
        break;
      case 5:
        p.writeUInt16BE(r.int(65536), 10); // checksum
        return;
      default:
        p.writeUInt16BE(r.chance(0.5) ? p.length : p.length + r.range(1, 100), 2);
    }
    if (r.chance(0.7)) {
      // Fix the checksum so the lie reaches deeper checks.
      const hlen = Math.min(p.length, Math.max(20, (p[0] & 15) * 4));
      p.writeUInt16BE(0, 10);
      p.writeUInt16BE(checksum(p.subarray(0, hlen)), 10);
    }
  }

  private flipBytes(f: Buffer, n: number, from = 0): void {
    const r = this.r;
    if (f.length <= from) return;
    for (let k = 0; k < n; k++) {
      const at = from + r.int(f.length - from);
      f[at] = r.chance(0.5) ? f[at] ^ (1 << r.int(8)) : r.int(256);
    }
  }

  next(): Generated {
    const r = this.r;
    const roll = r.int(100);
    if (roll < 8) return { frame: r.bytes(r.int(14)), inject: this.metadata(), kind: 'runt' };
    if (roll < 16) return { frame: r.bytes(r.range(14, 200)), inject: this.metadata(), kind: 'random' };
    if (roll < 20) {
      // Random bytes behind a plausible header.
      const f = ethernet({ dst: this.mac(), tags: this.tags(), type: r.pick(TYPES), payload: r.bytes(r.int(300)), pad: r.chance(0.5) });
      return { frame: f, inject: this.metadata(), kind: 'random-payload' };
    }
    if (roll < 24) {
      // Oversize, up to 9000+ bytes.
      const l3 = this.validL3();
      const payload = Buffer.concat([l3.payload, r.bytes(r.range(1500, 9300))]);
      if (l3.type === ETH_P_IPV4 && r.chance(0.5)) payload.writeUInt16BE(Math.min(65535, payload.length), 2);
      return { frame: ethernet({ dst: this.mac(), tags: [{ vid: 123 }], type: l3.type, payload }), inject: this.metadata(), kind: 'oversize' };
    }
    if (roll < 30) {
      // Good traffic, so that the answering paths run too.
      const f = r.chance(0.5) ? pingFrame({ seq: r.int(65536), data: r.bytes(r.int(64)) }) : arpRequestFrame();
      return { frame: f, inject: {}, kind: 'valid' };
    }
    if (roll < 36) {
      // Good traffic with the tag as metadata.
      const f = r.chance(0.5) ? pingFrame({ tags: [], seq: r.int(65536) }) : arpRequestFrame({ tags: [] });
      return { frame: f, inject: { vlanTci: 123 }, kind: 'valid-metadata' };
    }
    // Mutations of valid ARP / ICMP / TCP frames to our MAC and IP.
    const l3 = this.validL3();
    const tags = r.chance(0.6) ? [{ vid: 123 }] : this.tags();
    const inject = tags.length === 0 && r.chance(0.5) ? { vlanTci: r.chance(0.8) ? 123 : r.pick(VIDS) } : this.metadata();
    const payload = Buffer.from(l3.payload);
    let kind = 'mutated';
    switch (r.int(7)) {
      case 0:
        if (l3.type === ETH_P_IPV4) this.lieIpv4(payload);
        kind = 'ipv4-lie';
        break;
      case 1:
        this.flipBytes(payload, r.range(1, 4));
        kind = 'l3-flip';
        break;
      case 3:
        if (l3.type === ETH_P_IPV6 && payload.length >= 40) {
          // Lies in the IPv6 header: payload length, next header, hop limit.
          const at = r.pick([4, 5, 6, 7]);
          payload[at] = r.int(256);
        }
        kind = 'ipv6-lie';
        break;
      case 2:
        if (l3.type === ETH_P_IPV4 && payload.length > 24) {
          // Break the ICMP/TCP checksum.
          const ihl = (payload[0] & 15) * 4;
          this.flipBytes(payload, 1, Math.min(ihl, payload.length - 1));
        }
        kind = 'l4-checksum';
        break;
      default:
        break;
    }
    let frame = ethernet({ dst: r.chance(0.85) ? (l3.dst ?? OUR_MAC) : this.mac(), tags, type: r.chance(0.9) ? l3.type : r.pick(TYPES), payload, pad: r.chance(0.7) });
    if (r.chance(0.15)) {
      frame = frame.subarray(0, r.int(frame.length + 1)); // truncated anywhere
      kind += '-truncated';
    }
    if (r.chance(0.05)) this.flipBytes(frame, 1, 0);
    return { frame, inject, kind };
  }
}

/** Delivers `n` fuzzed frames in random-sized vectors; returns what kinds were generated. */
export function pump(tb: TestBed, ifname: string, rng: Rng, n: number, onSent: (f: Buffer) => void): Map<string, number> {
  const fuzzer = new FrameFuzzer(rng);
  const dev = tb.device(ifname);
  const kinds = new Map<string, number>();
  let delivered = 0;
  while (delivered < n) {
    const size = Math.min(n - delivered, rng.chance(0.2) ? 1 : rng.range(1, 256));
    for (let k = 0; k < size; k++) {
      const g = fuzzer.next();
      kinds.set(g.kind, (kinds.get(g.kind) ?? 0) + 1);
      dev.inject(g.frame, g.inject);
    }
    assert.equal(dev.deliver(), size);
    delivered += size;
    for (const d of tb.devices.values()) for (const f of d.takeSent()) onSent(f);
  }
  return kinds;
}
