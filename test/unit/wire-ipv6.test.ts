/** IPv6 addresses (RFC 4291/5952), the extension-header walk on hostile chains, ICMPv6 checksums against kernel vectors, ND checks. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  eui64LinkLocal,
  formatIpv6,
  ip6Hash,
  ip6Network,
  ip6PrefixMatch,
  multicastMac,
  parseIpv6,
  parseIpv6Prefix,
  solicitedNode,
} from '../../src/wire/ipv6-address.js';
import { checkIpv6, Ip6Walk, Ipv6Error, MAX_EXTENSION_HEADERS, walkIp6, WalkError } from '../../src/wire/ipv6.js';
import { checkNsNa, icmp6Checksum, NdError, writeIcmp6Checksum } from '../../src/wire/icmpv6.js';
import { ip6 } from '../helpers/frames6.js';

/** Frames captured from the kernel (ping -6 between two namespaces, tcpdump -xx): its checksums are the vectors. */
const KERNEL = {
  // DAD probe: :: → ff02::1:ff74:1188, NS for fe80::c4b4:b5ff:fe74:1188 with a nonce option (RFC 7527).
  dadNs: '3333ff741188c6b4b574118886dd6000000000203aff00000000000000000000000000000000ff0200000000000000000001ff741188870094bb00000000fe80000000000000c4b4b5fffe7411880e010d610cf22262',
  // NS 2001:db8:123::10 → ff02::1:ff00:150 for 2001:db8:123::150 with SLLA 52:54:00:12:34:56.
  ns: '3333ff00015052540012345686dd6000000000203aff20010db8012300000000000000000010ff0200000000000000000001ff0001508700927a0000000020010db80123000000000000000001500101525400123456',
  // NA 2001:db8:123::150 → 2001:db8:123::10, S|O, TLLA c6:b4:b5:74:11:88.
  na: '525400123456c6b4b574118886dd6000000000203aff20010db801230000000000000000015020010db80123000000000000000000108800f8ad6000000020010db80123000000000000000001500201c6b4b5741188',
};

function l3(hex: string): Buffer {
  return Buffer.from(hex, 'hex').subarray(14);
}

describe('wire/ipv6-address', () => {
  it('parses every text form and formats per RFC 5952 (lowercase, longest zero run, first on a tie, no single-group ::)', () => {
    const cases: Array<[string, string]> = [
      ['2001:db8:123::150', '2001:db8:123::150'],
      ['2001:0DB8:0123:0000:0000:0000:0000:0150', '2001:db8:123::150'],
      ['::', '::'],
      ['::1', '::1'],
      ['fe80::', 'fe80::'],
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
      ['::ffff:192.0.2.1', '::ffff:192.0.2.1'],
      ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
      ['ff02::1:ff00:150', 'ff02::1:ff00:150'],
    ];
    for (const [text, canonical] of cases) {
      const b = parseIpv6(text);
      assert.ok(b !== null, text);
      assert.equal(formatIpv6(b), canonical, text);
      assert.deepEqual(parseIpv6(canonical), b);
    }
    for (const bad of ['', ':', '1:2:3:4:5:6:7:8:9', '1::2::3', '12345::', 'g::1', '::ffff:1.2.3', '::ffff:1.2.3.256', '1:2:3:4:5:6:7', ':::1', '2001:db8::150/64']) {
      assert.equal(parseIpv6(bad), null, bad);
    }
    assert.deepEqual(parseIpv6Prefix('2001:db8:123::150/64'), { address: ip6('2001:db8:123::150'), prefixLength: 64 });
    assert.equal(parseIpv6Prefix('::/129'), null);
    assert.equal(parseIpv6Prefix('::'), null);
  });

  it('prefix match, network, EUI-64 link-local (as the kernel and VPP make it), solicited-node group and its MAC', () => {
    const a = ip6('2001:db8:123::150');
    assert.ok(ip6PrefixMatch(a, 0, ip6('2001:db8:123::'), 0, 64));
    assert.ok(!ip6PrefixMatch(a, 0, ip6('2001:db8:124::'), 0, 48));
    assert.ok(ip6PrefixMatch(a, 0, ip6('2001:db8:124::'), 0, 45));
    assert.ok(ip6PrefixMatch(a, 0, ip6('::'), 0, 0));
    assert.equal(formatIpv6(ip6Network(a, 120)), '2001:db8:123::100');
    // The kernel made fe80::c4b4:b5ff:fe74:1188 for c6:b4:b5:74:11:88 (KERNEL.dadNs).
    assert.equal(formatIpv6(eui64LinkLocal(Buffer.from('c6b4b5741188', 'hex'))), 'fe80::c4b4:b5ff:fe74:1188');
    assert.equal(formatIpv6(solicitedNode(a)), 'ff02::1:ff00:150');
    assert.equal(multicastMac(solicitedNode(a)).toString('hex'), '3333ff000150');
    assert.notEqual(ip6Hash(a, 0), ip6Hash(ip6('2001:db8:124::150'), 0));
    assert.notEqual(ip6Hash(a, 0), ip6Hash(ip6('2001:db8:123::151'), 0));
  });
});

describe('wire/icmpv6 checksums against kernel vectors', () => {
  for (const [name, hex] of Object.entries(KERNEL)) {
    it(`${name}: verifies, and recomputing gives the kernel's value`, () => {
      const p = l3(hex);
      assert.equal(icmp6Checksum(p, 0, 40, p.length - 40), 0);
      const kernel = p.readUInt16BE(42);
      p.writeUInt16BE(0xdead, 42);
      assert.notEqual(icmp6Checksum(p, 0, 40, p.length - 40), 0);
      writeIcmp6Checksum(p, 0, 40, p.length - 40);
      assert.equal(p.readUInt16BE(42), kernel);
    });
  }

  it('ND validity (RFC 4861 §7.1): the kernel frames pass; each rule fails on its own', () => {
    for (const hex of Object.values(KERNEL)) assert.equal(checkNsNa(l3(hex), 0, 40, l3(hex).length - 40), NdError.None);
    const ns = () => l3(KERNEL.ns);
    let p = ns();
    p[7] = 254;
    assert.equal(checkNsNa(p, 0, 40, 32), NdError.HopLimit);
    p = ns();
    p[41] = 1;
    assert.equal(checkNsNa(p, 0, 40, 32), NdError.BadCode);
    assert.equal(checkNsNa(ns(), 0, 40, 23), NdError.TooShort);
    p = ns();
    p[48] = 0xff;
    assert.equal(checkNsNa(p, 0, 40, 32), NdError.MulticastTarget);
    p = ns();
    p[65] = 0; // option length 0
    assert.equal(checkNsNa(p, 0, 40, 32), NdError.BadOption);
    p = ns();
    p[65] = 2; // option past the end
    assert.equal(checkNsNa(p, 0, 40, 32), NdError.BadOption);
    p = ns();
    p.fill(0, 8, 24); // from :: with an SLLA
    assert.equal(checkNsNa(p, 0, 40, 32), NdError.BadDadProbe);
    p = l3(KERNEL.dadNs);
    ip6('2001:db8:123::10').copy(p, 24); // DAD probe not to a solicited-node group
    assert.equal(checkNsNa(p, 0, 40, 32), NdError.BadDadProbe);
    p = l3(KERNEL.na);
    ip6('ff02::1').copy(p, 24); // solicited NA to multicast
    assert.equal(checkNsNa(p, 0, 40, 32), NdError.SolicitedToMulticast);
  });
});

/** An IPv6 packet whose payload is `ext` (extension headers and upper layer) starting with next header `nh`. */
function packet(nh: number, ext: Buffer): Buffer {
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  h.writeUInt16BE(ext.length, 4);
  h[6] = nh;
  h[7] = 64;
  return Buffer.concat([h, ext]);
}

/** An 8n-byte options header (hop-by-hop or destination) with next header `next` and TLVs `opts` (padded with Pad1). */
function optionsHeader(next: number, opts: number[]): Buffer {
  const len = Math.ceil((opts.length + 2) / 8) * 8;
  const b = Buffer.alloc(len);
  b[0] = next;
  b[1] = len / 8 - 1;
  Buffer.from(opts).copy(b, 2);
  return b;
}

describe('wire/ipv6 extension header walk', () => {
  const walk = new Ip6Walk();

  it('walks hop-by-hop, destination options and a spent routing header to the upper layer', () => {
    const icmp = Buffer.alloc(8);
    const routing = Buffer.from([60, 0, 4, 0, 0, 0, 0, 0]); // next: dest options; segments left 0
    const p = packet(0, Buffer.concat([optionsHeader(43, [5, 2, 0, 0]), routing, optionsHeader(58, [1, 2, 0, 0]), icmp]));
    assert.equal(checkIpv6(p, 0, p.length), Ipv6Error.None);
    assert.equal(walkIp6(p, 0, walk), WalkError.None);
    assert.equal(walk.protocol, 58);
    assert.equal(walk.offset, 40 + 8 + 8 + 8);
    assert.equal(walk.headers, 3);
  });

  it('refuses every malicious chain, with a bounded cost', () => {
    const cases: Array<[string, Buffer, WalkError]> = [
      ['header past the payload', packet(60, Buffer.from([58, 5, 0, 0, 0, 0, 0, 0])), WalkError.Truncated],
      ['header shorter than 8 bytes', packet(60, Buffer.from([58, 0, 0, 0])), WalkError.Truncated],
      ['hop-by-hop not first', packet(60, Buffer.concat([optionsHeader(0, []), optionsHeader(58, [])])), WalkError.HopByHopNotFirst],
      ['option past its header', packet(60, optionsHeader(58, [1, 9])), WalkError.BadOption],
      ['unknown option with discard action', packet(60, optionsHeader(58, [0x80, 0])), WalkError.UnknownOption],
      ['routing header with segments left', packet(43, Buffer.from([58, 0, 0, 1, 0, 0, 0, 0])), WalkError.RoutingSegmentsLeft],
      ['fragment', packet(44, Buffer.from([58, 0, 0, 1, 0, 0, 0, 1])), WalkError.Fragment],
      ['padding flood (17 PadN options)', packet(60, optionsHeader(58, Array(17).fill([1, 0]).flat())), WalkError.TooMany],
    ];
    // A chain of MAX_EXTENSION_HEADERS + 1 destination options headers, each naming the next.
    const chain = Buffer.concat(Array.from({ length: MAX_EXTENSION_HEADERS + 1 }, () => optionsHeader(60, [])));
    cases.push(['too many headers', packet(60, chain), WalkError.TooMany]);
    for (const [name, p, expected] of cases) {
      assert.equal(checkIpv6(p, 0, p.length), Ipv6Error.None, name);
      assert.equal(walkIp6(p, 0, walk), expected, name);
      assert.equal(walk.error, expected, name);
      assert.ok(walk.headers <= MAX_EXTENSION_HEADERS + 1, name);
    }
    // Unknown options whose action is "skip" (00) are skipped.
    const skip = packet(60, optionsHeader(58, [0x1e, 1, 0]));
    assert.equal(walkIp6(skip, 0, walk), WalkError.None);
    assert.equal(walk.protocol, 58);
  });

  it('checks version and payload length against the frame', () => {
    const p = packet(59, Buffer.alloc(0));
    assert.equal(checkIpv6(p, 0, 39), Ipv6Error.TooShort);
    p[0] = 0x40;
    assert.equal(checkIpv6(p, 0, 40), Ipv6Error.BadVersion);
    p[0] = 0x60;
    p.writeUInt16BE(1, 4);
    assert.equal(checkIpv6(p, 0, 40), Ipv6Error.BadLength);
  });
});
