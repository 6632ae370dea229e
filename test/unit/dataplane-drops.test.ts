/**
 * Frames the seed's configuration must NOT answer: each is dropped, counted in exactly one
 * named node counter (`show errors`) and in the interface's drops.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { counterDelta, counters, seedTestBed, seedTestBedWithClient, type TestBed } from '../helpers/dataplane.js';
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
  icmpEcho,
  ip,
  ipv4,
  OUR_IP,
  OUR_MAC,
  pingFrame,
  tcpFrame,
} from '../helpers/frames.js';
import type { InjectOptions } from '../../src/io/memory-device.js';

interface Case {
  name: string;
  frame: () => Buffer;
  inject?: InjectOptions;
  /** "node/reason" of the one counter that must count the frame. */
  counter: string;
  /** Interface whose drops counter must grow. */
  dropsOn: 'host-macvlan0' | 'host-macvlan0.123';
  /** Extra set-up before the frame. */
  setup?: (tb: TestBed) => Promise<void>;
  /** Not a drop but an 'info' disposition (still unanswered). */
  info?: boolean;
}

const SUB = 'host-macvlan0.123' as const;
const HW = 'host-macvlan0' as const;
const other = Buffer.from('020000000099', 'hex');

/** A ping whose IPv4 header is patched after building (checksum recomputed unless told). */
function patchedPing(patch: (ip: Buffer) => void, fixChecksum = true): Buffer {
  const f = pingFrame();
  const ipHeader = f.subarray(18, 38);
  patch(ipHeader);
  if (fixChecksum) {
    ipHeader.writeUInt16BE(0, 10);
    ipHeader.writeUInt16BE(checksum(f.subarray(18, 18 + (ipHeader[0] & 15) * 4)), 10);
  }
  return f;
}

const cases: Case[] = [
  { name: 'ping to 192.168.123.151 (another IP in our subnet)', frame: () => pingFrame({ ipDst: ip('192.168.123.151') }), counter: 'ip4-input/ip4 destination is not a local address', dropsOn: SUB },
  { name: 'ping to the subnet broadcast 192.168.123.255', frame: () => pingFrame({ dst: Buffer.alloc(6, 0xff), ipDst: ip('192.168.123.255') }), counter: 'ethernet-input/ip4 packet in an L2 broadcast frame', dropsOn: SUB },
  { name: 'ping to our address inside an L2 broadcast frame (RFC 1122 3.3.6)', frame: () => pingFrame({ dst: Buffer.alloc(6, 0xff) }), counter: 'ethernet-input/ip4 packet in an L2 broadcast frame', dropsOn: SUB },
  { name: 'ARP request for 192.168.123.151', frame: () => arpRequestFrame({ tpa: ip('192.168.123.151') }), counter: 'arp-input/ARP request for an address that is not ours', dropsOn: SUB },
  { name: 'ping tagged VLAN 124 (metadata)', frame: () => pingFrame({ tags: [] }), inject: { vlanTci: 124 }, counter: 'ethernet-input/unknown vlan', dropsOn: HW },
  { name: 'ping tagged VLAN 124 (inline)', frame: () => pingFrame({ tags: [{ vid: 124 }] }), counter: 'ethernet-input/unknown vlan', dropsOn: HW },
  { name: 'ARP request tagged VLAN 124', frame: () => arpRequestFrame({ tags: [{ vid: 124 }] }), counter: 'ethernet-input/unknown vlan', dropsOn: HW },
  { name: 'untagged ping to 192.168.123.150', frame: () => pingFrame({ tags: [] }), counter: 'ip4-input/interface has no IPv4 address', dropsOn: HW },
  { name: 'untagged ARP request for 192.168.123.150', frame: () => arpRequestFrame({ tags: [] }), counter: 'arp-input/interface has no IPv4 address', dropsOn: HW },
  { name: 'priority-tagged (VID 0) ping is untagged', frame: () => pingFrame({ tags: [{ vid: 0, pcp: 5 }] }), counter: 'ip4-input/interface has no IPv4 address', dropsOn: HW },
  { name: 'ping to another unicast MAC', frame: () => pingFrame({ dst: other }), counter: 'ethernet-input/l3 mac mismatch', dropsOn: SUB },
  { name: 'ping to a multicast MAC', frame: () => pingFrame({ dst: Buffer.from('01005e000001', 'hex') }), counter: 'ethernet-input/multicast frame not for us', dropsOn: SUB },
  { name: 'QinQ: 802.1ad S-tag + 802.1Q C-tag inline', frame: () => pingFrame({ tags: [{ tpid: ETH_P_8021AD, vid: 100 }, { vid: 123 }] }), counter: 'ethernet-input/QinQ / 802.1ad frames not supported', dropsOn: HW },
  { name: 'QinQ: S-tag as metadata, C-tag 123 inline', frame: () => pingFrame({ tags: [{ vid: 123 }] }), inject: { vlanTci: 100, vlanTpid: ETH_P_8021AD }, counter: 'ethernet-input/QinQ / 802.1ad frames not supported', dropsOn: HW },
  { name: 'double 802.1Q (123 inside 123)', frame: () => pingFrame({ tags: [{ vid: 123 }, { vid: 123 }] }), counter: 'ethernet-input/QinQ / 802.1ad frames not supported', dropsOn: HW },
  { name: 'single 802.1ad tag with VID 123', frame: () => pingFrame({ tags: [{ tpid: ETH_P_8021AD, vid: 123 }] }), counter: 'ethernet-input/QinQ / 802.1ad frames not supported', dropsOn: HW },
  { name: 'first fragment (MF)', frame: () => pingFrame({ ip: { mf: true, df: false } }), counter: 'ip4-input/ip4 fragments not supported', dropsOn: SUB },
  { name: 'last fragment (offset)', frame: () => pingFrame({ ip: { fragmentOffset: 185, df: false } }), counter: 'ip4-input/ip4 fragments not supported', dropsOn: SUB },
  { name: 'bad IPv4 header checksum', frame: () => pingFrame({ ip: { checksum: 0x1234 } }), counter: 'ip4-input/ip4 bad header checksum', dropsOn: SUB },
  { name: 'bad ICMP checksum', frame: () => pingFrame({ checksum: 0xbeef }), counter: 'ip4-icmp-input/icmp bad checksum', dropsOn: SUB },
  { name: 'IPv4 version 6 in an IPv4 EtherType', frame: () => patchedPing((h) => (h[0] = 0x65)), counter: 'ip4-input/ip4 bad version', dropsOn: SUB },
  { name: 'IHL 4 (below the minimum)', frame: () => patchedPing((h) => (h[0] = 0x44), false), counter: 'ip4-input/ip4 bad header length', dropsOn: SUB },
  { name: 'total length lies (longer than the frame)', frame: () => patchedPing((h) => h.writeUInt16BE(1400, 2)), counter: 'ip4-input/ip4 length exceeds frame', dropsOn: SUB },
  { name: 'total length lies (shorter than the header)', frame: () => patchedPing((h) => h.writeUInt16BE(12, 2)), counter: 'ip4-input/ip4 length exceeds frame', dropsOn: SUB },
  { name: 'total length cuts the ICMP header short', frame: () => patchedPing((h) => h.writeUInt16BE(24, 2)), counter: 'ip4-icmp-input/icmp packet too short', dropsOn: SUB },
  { name: 'ICMP echo reply (not a request, and no ping waiting)', frame: () => pingFrame({ type: 0 }), counter: 'ip4-icmp-input/echo replies received', dropsOn: SUB, info: true },
  { name: 'ping from an off-link source with no route back (reply not sent to its L2 source)', frame: () => pingFrame({ ipSrc: ip('10.9.8.7') }), counter: 'ip4-icmp-input/no route to the source (reply not sent)', dropsOn: SUB },
  { name: 'ICMP timestamp request', frame: () => pingFrame({ type: 13 }), counter: 'ip4-icmp-input/icmp type not handled', dropsOn: SUB },
  { name: 'UDP to us', frame: () => ethernet({ tags: [{ vid: 123 }], type: ETH_P_IPV4, payload: ipv4({ protocol: 17, payload: Buffer.alloc(16) }) }), counter: 'ip4-input/ip4 protocol not handled', dropsOn: SUB },
  { name: 'TCP SYN to us with no TCP listener', frame: () => tcpFrame({ flags: 2 }), counter: 'tcp4-input/no TCP listener configured', dropsOn: SUB },
  { name: 'TCP with a bad checksum', frame: () => { const f = tcpFrame({ flags: 2 }); f[18 + 20 + 16] ^= 0xff; return f; }, counter: 'tcp4-input/tcp bad checksum', dropsOn: SUB },
  { name: 'TCP shorter than its header', frame: () => ethernet({ tags: [{ vid: 123 }], type: ETH_P_IPV4, payload: ipv4({ protocol: 6, payload: Buffer.alloc(12) }) }), counter: 'tcp4-input/tcp segment too short', dropsOn: SUB },
  { name: 'IPv6', frame: () => ethernet({ tags: [{ vid: 123 }], type: ETH_P_IPV6, payload: Buffer.alloc(40) }), counter: 'ethernet-input/ip6 not enabled', dropsOn: SUB },
  { name: 'unknown EtherType 0x88cc (LLDP) to our MAC', frame: () => ethernet({ tags: [{ vid: 123 }], type: 0x88cc, payload: Buffer.alloc(40) }), counter: 'ethernet-input/unknown ethernet type', dropsOn: SUB },
  { name: 'runt (13 bytes)', frame: () => pingFrame().subarray(0, 13), counter: 'ethernet-input/runt frame (shorter than an Ethernet header)', dropsOn: HW },
  { name: 'empty frame', frame: () => Buffer.alloc(0), counter: 'ethernet-input/runt frame (shorter than an Ethernet header)', dropsOn: HW },
  { name: 'truncated VLAN tag', frame: () => pingFrame().subarray(0, 16), counter: 'ethernet-input/truncated VLAN tag', dropsOn: HW },
  { name: 'IPv4 header cut off (frame ends inside it)', frame: () => pingFrame().subarray(0, 30), counter: 'ip4-input/ip4 packet too short', dropsOn: SUB },
  { name: 'ARP cut off', frame: () => ethernet({ tags: [{ vid: 123 }], type: ETH_P_ARP, payload: arp({ op: 1 }).subarray(0, 20), pad: false }), counter: 'arp-input/malformed ARP packet', dropsOn: SUB },
  { name: 'ARP with operation 3', frame: () => ethernet({ tags: [{ vid: 123 }], type: ETH_P_ARP, payload: arp({ op: 3 }) }), counter: 'arp-input/malformed ARP packet', dropsOn: SUB },
  { name: 'ARP claiming our own address (conflict)', frame: () => arpRequestFrame({ spa: OUR_IP, tpa: ip('192.168.123.1') }), counter: 'arp-input/ARP with our own sender address (address conflict?)', dropsOn: SUB },
  { name: 'ARP from outside our subnet', frame: () => arpRequestFrame({ spa: ip('10.1.1.1') }), counter: 'arp-input/ARP sender not in a connected subnet', dropsOn: SUB },
  { name: 'ping from our own address (spoofed)', frame: () => pingFrame({ ipSrc: OUR_IP }), counter: 'ip4-input/ip4 source is broadcast, multicast, reserved, zero, loopback or ours', dropsOn: SUB },
  { name: 'ping from the limited broadcast address', frame: () => pingFrame({ ipSrc: 0xffffffff }), counter: 'ip4-input/ip4 source is broadcast, multicast, reserved, zero, loopback or ours', dropsOn: SUB },
  { name: 'TCP SYN from a class E source (where the IPv6 handles live)', frame: () => tcpFrame({ src: ip('240.0.0.1') }), counter: 'ip4-input/ip4 source is broadcast, multicast, reserved, zero, loopback or ours', dropsOn: SUB },
  { name: 'TCP SYN from a multicast source', frame: () => tcpFrame({ src: ip('239.1.2.3') }), counter: 'ip4-input/ip4 source is broadcast, multicast, reserved, zero, loopback or ours', dropsOn: SUB },
  { name: 'ARP request with a multicast sender MAC', frame: () => arpRequestFrame({ sha: Buffer.from('01005e000001', 'hex') }), counter: 'arp-input/ARP sender MAC is broadcast, multicast, zero or ours', dropsOn: SUB },
  { name: 'gratuitous ARP from a neighbour', frame: () => arpRequestFrame({ tpa: CLIENT_IP }), counter: 'arp-input/gratuitous ARP received', dropsOn: SUB, info: true },
  {
    name: 'ping while the sub-interface is down',
    frame: () => pingFrame(),
    setup: async (tb) => {
      await tb.cli('set interface state host-macvlan0.123 down');
    },
    counter: 'ethernet-input/interface down',
    dropsOn: SUB,
  },
  {
    name: 'ping while the hardware interface is down',
    frame: () => pingFrame(),
    setup: async (tb) => {
      await tb.cli('set interface state host-macvlan0 down');
    },
    counter: 'ethernet-input/interface down',
    dropsOn: SUB,
  },
  { name: 'ICMP echo bigger than the MTU allows in reply (jumbo in, 1500 out)', frame: () => pingFrame({ data: Buffer.alloc(3000) }), counter: 'ip4-icmp-input/reply does not fit the interface MTU', dropsOn: SUB },
];

describe('dataplane: frames that are counted and never answered', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const tb = await seedTestBed();
      await c.setup?.(tb);
      tb.device().takeSent();
      const before = counters(tb.dp);
      const dropsBefore = { [HW]: tb.dp.get(HW).counters.drops, [SUB]: tb.dp.get(SUB).counters.drops };
      const sent = tb.send(c.frame(), c.inject);
      assert.deepEqual(sent, [], 'nothing is sent in response');
      assert.deepEqual([...counterDelta(before, counters(tb.dp))], [[c.counter, 1]], 'exactly one counter, the right one');
      const drops = { [HW]: tb.dp.get(HW).counters.drops - dropsBefore[HW], [SUB]: tb.dp.get(SUB).counters.drops - dropsBefore[SUB] };
      const expected = c.info === true ? { [HW]: 0, [SUB]: 0 } : { [HW]: c.dropsOn === HW ? 1 : 0, [SUB]: c.dropsOn === SUB ? 1 : 0 };
      assert.deepEqual(drops, expected, 'interface drops counter');
      const errors = await tb.cli('show errors');
      const reason = c.counter.slice(c.counter.indexOf('/') + 1);
      assert.ok(errors.includes(reason), `show errors lists '${reason}':\n${errors}`);
      assert.match(errors, new RegExp(`^\\s+1\\s+${c.counter.slice(0, c.counter.indexOf('/'))}\\s`, 'm'));
    });
  }

  it('Ethernet padding after a valid ping is not a lie: small pings are answered', async () => {
    const tb = await seedTestBed();
    const f = Buffer.concat([pingFrame({ data: Buffer.alloc(0) }), Buffer.alloc(20)]);
    assert.equal(tb.send(f).length, 1);
  });

  it('the tag as metadata and the same tag inline are not a QinQ stack when only one is present', async () => {
    const tb = await seedTestBedWithClient();
    assert.equal(tb.send(pingFrame({ tags: [] }), { vlanTci: 123 }).length, 1);
    assert.equal(tb.send(pingFrame({ tags: [{ vid: 123 }] })).length, 1);
    const before = counters(tb.dp);
    assert.equal(tb.send(pingFrame({ tags: [{ vid: 123 }] }), { vlanTci: 123 }).length, 0, 'metadata tag + inline tag = two tags');
    assert.deepEqual([...counterDelta(before, counters(tb.dp))], [['ethernet-input/QinQ / 802.1ad frames not supported', 1]]);
  });

  it('a ping to 192.168.123.151 stays unanswered even after ARP traffic from the client', async () => {
    const tb = await seedTestBed();
    tb.send(arpRequestFrame());
    assert.equal(tb.send(pingFrame({ ipDst: ip('192.168.123.151') })).length, 0);
    assert.equal(tb.send(arpRequestFrame({ tpa: ip('192.168.123.151') })).length, 0);
  });

  it('ETH_P constants used by these tests', () => {
    assert.equal(ETH_P_8021Q, 0x8100);
    assert.ok(OUR_MAC.length === 6 && icmpEcho().length === 40);
  });
});

describe('dataplane: invalid sources (RFC 1122 §3.2.1.3: silently discard)', () => {
  // A forged ping from such a source would make us send to a broadcast/multicast IP
  // (reflection) or to ourselves.
  for (const src of ['255.255.255.255', '192.168.123.255', '224.0.0.1', '0.0.0.0', '127.0.0.1', '192.168.123.150']) {
    it(`a ping from ${src} is not answered`, async () => {
      const tb = await seedTestBed();
      assert.equal(tb.send(pingFrame({ ipSrc: ip(src) })).length, 0, 'echo reply sent to an invalid source');
    });
  }

  it('an ARP request with a broadcast sender MAC is neither learnt nor answered', async () => {
    const tb = await seedTestBed();
    const sent = tb.send(arpRequestFrame({ sha: Buffer.alloc(6, 0xff) }));
    assert.equal(tb.dp.neighbors.all().length, 0, 'broadcast MAC learnt as a neighbour');
    assert.equal(sent.length, 0, 'reply sent to the broadcast MAC');
  });
});
