/**
 * The seed's configuration answering ARP and ping, announcing its address, learning neighbours.
 * Configured through the CLI with the seed's startup.conf lines, over a MemoryDevice.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { seedTestBed, seedTestBedWithClient, createTestBed, SEED_STARTUP_LINES, counters, counterDelta, totalDispositions, KERNEL_MAC_TEXT } from '../helpers/dataplane.js';
import {
  arpRequestFrame,
  CLIENT_IP,
  CLIENT_IP_TEXT,
  CLIENT_MAC,
  CLIENT_MAC_TEXT,
  decodeArp,
  decodeEthernet,
  decodeIcmpEcho,
  decodeIpv4,
  ETH_P_ARP,
  ETH_P_IPV4,
  ethernet,
  arp,
  ipv4,
  icmpEcho,
  OUR_IP,
  OUR_IP_TEXT,
  OUR_MAC,
  OUR_MAC_TEXT,
  pingFrame,
} from '../helpers/frames.js';

const BROADCAST = 'ff:ff:ff:ff:ff:ff';

/** Asserts `frame` is a gratuitous ARP for our address on VLAN 123. */
function assertGratuitousArp(frame: Buffer): void {
  const eth = decodeEthernet(frame);
  assert.equal(eth.dst, BROADCAST);
  assert.equal(eth.src, OUR_MAC_TEXT);
  assert.deepEqual(eth.tags.map((t) => [t.tpid, t.vid]), [[0x8100, 123]]);
  assert.equal(eth.type, ETH_P_ARP);
  assert.equal(frame.length, 60, 'padded to the Ethernet minimum');
  const a = decodeArp(eth.payload);
  assert.equal(a.op, 1, 'an announcement is an ARP request (RFC 5227 §3)');
  assert.equal(a.sha, OUR_MAC_TEXT);
  assert.equal(a.spa, OUR_IP_TEXT);
  assert.equal(a.tpa, OUR_IP_TEXT, 'sender = target = our address');
  assert.equal(a.tha, '00:00:00:00:00:00');
}

function assertArpReply(frame: Buffer): void {
  const eth = decodeEthernet(frame);
  assert.equal(eth.dst, CLIENT_MAC_TEXT);
  assert.equal(eth.src, OUR_MAC_TEXT);
  assert.deepEqual(eth.tags.map((t) => [t.tpid, t.vid]), [[0x8100, 123]]);
  assert.equal(eth.type, ETH_P_ARP);
  assert.deepEqual(decodeArp(eth.payload), { op: 2, sha: OUR_MAC_TEXT, spa: OUR_IP_TEXT, tha: CLIENT_MAC_TEXT, tpa: CLIENT_IP_TEXT });
}

/** Checks an echo reply to `request` (an ICMP message) and returns its decoded parts. */
function assertEchoReply(frame: Buffer, request: { id: number; seq: number; data: Buffer }): void {
  const eth = decodeEthernet(frame);
  assert.equal(eth.src, OUR_MAC_TEXT, 'our MAC as source');
  assert.equal(eth.dst, CLIENT_MAC_TEXT);
  assert.deepEqual(eth.tags.map((t) => [t.tpid, t.vid]), [[0x8100, 123]], 'tagged VLAN 123 inline');
  assert.equal(eth.type, ETH_P_IPV4);
  const ip = decodeIpv4(eth.payload);
  assert.equal(ip.src, OUR_IP_TEXT);
  assert.equal(ip.dst, CLIENT_IP_TEXT);
  assert.equal(ip.protocol, 1);
  assert.equal(ip.ihl, 20);
  assert.ok(ip.headerChecksumOk, 'valid IPv4 header checksum');
  assert.ok(ip.ttl > 1);
  const icmp = decodeIcmpEcho(ip.payload);
  assert.equal(icmp.type, 0, 'echo reply');
  assert.equal(icmp.code, 0);
  assert.ok(icmp.checksumOk, 'valid ICMP checksum');
  assert.equal(icmp.id, request.id);
  assert.equal(icmp.seq, request.seq);
  assert.deepEqual(icmp.data, request.data);
}

describe('dataplane: gratuitous ARP', () => {
  it('is sent when the address comes up on an up interface (the seed startup.conf sends exactly one)', async () => {
    const tb = await seedTestBed();
    const sent = tb.device().takeSent();
    assert.equal(sent.length, 1);
    assertGratuitousArp(sent[0]);
    assert.ok(tb.events.some((e) => e.includes('gratuitous ARP') && e.includes('192.168.123.150')), 'logged as an event');
  });

  it('is sent when the sub-interface or the hardware interface goes (back) up', async () => {
    const tb = await seedTestBed();
    tb.device().takeSent();
    await tb.cli('set interface state host-macvlan0.123 down');
    assert.equal(tb.device().takeSent().length, 0, 'nothing when going down');
    await tb.cli('set interface state host-macvlan0.123 up');
    let sent = tb.device().takeSent();
    assert.equal(sent.length, 1);
    assertGratuitousArp(sent[0]);
    await tb.cli('set int state host-macvlan0 down');
    await tb.cli('set int state host-macvlan0 up');
    sent = tb.device().takeSent();
    assert.equal(sent.length, 1, 'the parent coming up announces the sub-interface address');
    assertGratuitousArp(sent[0]);
    await tb.cli('set int state host-macvlan0 up');
    assert.equal(tb.device().takeSent().length, 0, 'setting up an up interface announces nothing');
  });

  it('is not sent while the interface is down; an address configured first is announced when it comes up', async () => {
    const tb = await createTestBed([
      'create host-interface name macvlan0',
      'set interface mac address host-macvlan0 c6:b4:b5:74:11:88',
      'create sub-interfaces host-macvlan0 123',
      'set int ip address host-macvlan0.123 192.168.123.150/24',
      'set interface state host-macvlan0.123 up',
    ]);
    assert.equal(tb.device().takeSent().length, 0, 'parent still down');
    await tb.cli('set int state host-macvlan0 up');
    const sent = tb.device().takeSent();
    assert.equal(sent.length, 1);
    assertGratuitousArp(sent[0]);
  });

  it('announces every address of the interface, untagged on the hardware interface', async () => {
    const tb = await createTestBed(['create host-interface name macvlan0', 'set int ip address host-macvlan0 10.0.0.1/24', 'set int ip address host-macvlan0 10.0.1.1/24']);
    assert.equal(tb.device().takeSent().length, 0);
    await tb.cli('set int state host-macvlan0 up');
    const sent = tb.device().takeSent();
    assert.equal(sent.length, 2);
    const spas = sent.map((f) => {
      const eth = decodeEthernet(f);
      assert.deepEqual(eth.tags, [], 'untagged on the hardware interface');
      assert.equal(eth.src, KERNEL_MAC_TEXT, 'the kernel MAC when none is configured');
      return decodeArp(eth.payload).spa;
    });
    assert.deepEqual(spas, ['10.0.0.1', '10.0.1.1']);
  });
});

describe('dataplane: ARP responder', () => {
  it('answers a request for our address with the tag as metadata (as AF_PACKET delivers it)', async () => {
    const tb = await seedTestBed();
    const replies = tb.send(arpRequestFrame({ tags: [] }), { vlanTci: 123 });
    assert.equal(replies.length, 1);
    assertArpReply(replies[0]);
  });

  it('answers a request with the tag inline, and with a PCP set in the tag', async () => {
    const tb = await seedTestBed();
    let replies = tb.send(arpRequestFrame({ tags: [{ vid: 123 }] }));
    assert.equal(replies.length, 1);
    assertArpReply(replies[0]);
    replies = tb.send(arpRequestFrame({ tags: [] }), { vlanTci: (5 << 13) | 123 });
    assert.equal(replies.length, 1, 'PCP does not change the VLAN');
    assertArpReply(replies[0]);
    replies = tb.send(arpRequestFrame({ tags: [{ vid: 123, pcp: 7, dei: true }] }));
    assert.equal(replies.length, 1);
    assertArpReply(replies[0]);
  });

  it('answers a unicast request (ARP refresh) addressed to our MAC', async () => {
    const tb = await seedTestBed();
    const replies = tb.send(arpRequestFrame({ dst: OUR_MAC, tha: OUR_MAC }));
    assert.equal(replies.length, 1);
    assertArpReply(replies[0]);
  });

  it('learns the requester as a neighbour (shown by `show ip neighbors`)', async () => {
    const tb = await seedTestBed();
    const sub = tb.dp.get('host-macvlan0.123');
    assert.equal(tb.dp.neighbors.lookup(sub, CLIENT_IP), undefined);
    tb.send(arpRequestFrame());
    const n = tb.dp.neighbors.lookup(sub, CLIENT_IP);
    assert.ok(n !== undefined, 'neighbour learnt');
    assert.deepEqual(n.mac, CLIENT_MAC);
    assert.equal(n.isStatic, false);
    const out = await tb.cli('show ip neighbors');
    assert.match(out, /192\.168\.123\.10\s+D\s+52:54:00:12:34:56\s+host-macvlan0\.123/);
  });

  it('updates a neighbour whose MAC changed, even from a request not for us (RFC 826 merge)', async () => {
    const tb = await seedTestBed();
    tb.send(arpRequestFrame());
    const moved = Buffer.from('525400aabbcc', 'hex');
    const replies = tb.send(arpRequestFrame({ src: moved, sha: moved, tpa: 0xc0a87b01 }));
    assert.equal(replies.length, 0, 'a request for another address is not answered');
    assert.deepEqual(tb.dp.neighbors.lookup(tb.dp.get('host-macvlan0.123'), CLIENT_IP)!.mac, moved);
  });

  it('does not learn from a request for another address when the sender is unknown', async () => {
    const tb = await seedTestBed();
    tb.send(arpRequestFrame({ tpa: 0xc0a87b01 }));
    assert.equal(tb.dp.neighbors.all().length, 0);
  });

  it('resolves a neighbour: request sent (one per retransmission interval), packets held, reply releases them', async () => {
    const tb = await seedTestBed();
    tb.device().takeSent();
    assert.equal(tb.dp.icmp.sendEcho(CLIENT_IP, 7, 1, 8), 'sent');
    const sent = tb.device().takeSent();
    assert.equal(sent.length, 1, 'only the ARP request leaves; the echo request waits');
    const eth = decodeEthernet(sent[0]);
    assert.equal(eth.dst, BROADCAST);
    assert.deepEqual(eth.tags.map((t) => t.vid), [123]);
    assert.deepEqual(decodeArp(eth.payload), { op: 1, sha: OUR_MAC_TEXT, spa: OUR_IP_TEXT, tha: '00:00:00:00:00:00', tpa: CLIENT_IP_TEXT });
    assert.equal(tb.dp.icmp.sendEcho(CLIENT_IP, 7, 2, 8), 'sent');
    assert.equal(tb.device().takeSent().length, 0, 'no second request within the interval');
    tb.clock.now += 1001;
    tb.dp.tickNeighbors();
    assert.equal(tb.device().takeSent().length, 1, 'asked again after the interval');
    const reply = ethernet({ tags: [{ vid: 123 }], type: ETH_P_ARP, payload: arp({ op: 2, sha: CLIENT_MAC, spa: CLIENT_IP, tha: OUR_MAC, tpa: OUR_IP }) });
    const before = counters(tb.dp);
    const released = tb.send(reply);
    assert.deepEqual([...counterDelta(before, counters(tb.dp))], [['arp-input/ARP replies received', 1]]);
    assert.equal(released.length, 2, 'both held echo requests leave once the reply arrives');
    for (const [k, f] of released.entries()) {
      const e2 = decodeEthernet(f);
      assert.equal(e2.dst, CLIENT_MAC_TEXT);
      assert.equal(decodeIcmpEcho(decodeIpv4(e2.payload).payload).seq, k + 1, 'in order');
    }
    assert.deepEqual(tb.dp.neighbors.lookup(tb.dp.get('host-macvlan0.123'), CLIENT_IP)?.mac, CLIENT_MAC);
  });

  it('ages unused neighbours out, and forgets them when the interface goes down', async () => {
    const tb = await seedTestBed({ neighborAgeMs: 60_000 });
    tb.send(arpRequestFrame());
    assert.equal(tb.dp.neighbors.all().length, 1);
    const t0 = tb.clock.now;
    tb.clock.now = t0 + 59_000;
    tb.dp.tickNeighbors();
    assert.equal(tb.dp.neighbors.all().length, 1);
    tb.clock.now = t0 + 61_000;
    tb.dp.tickNeighbors();
    assert.equal(tb.dp.neighbors.all().length, 0);
    tb.send(arpRequestFrame());
    assert.equal(tb.dp.neighbors.all().length, 1);
    await tb.cli('set interface state host-macvlan0.123 down');
    assert.equal(tb.dp.neighbors.all().length, 0);
  });

  it('counts a gratuitous ARP from a neighbour without answering, and refreshes a known entry', async () => {
    const tb = await seedTestBed();
    tb.send(arpRequestFrame());
    tb.clock.now += 5000;
    const before = counters(tb.dp);
    const replies = tb.send(arpRequestFrame({ tpa: CLIENT_IP }));
    assert.equal(replies.length, 0);
    assert.deepEqual([...counterDelta(before, counters(tb.dp))], [['arp-input/gratuitous ARP received', 1]]);
    assert.equal(tb.dp.neighbors.lookup(tb.dp.get('host-macvlan0.123'), CLIENT_IP)!.updated, tb.clock.now);
  });
});

describe('dataplane: ICMP echo', () => {
  it('answers a ping (tag as metadata) with the same id, seq and data, valid checksums, tagged 123, from our MAC', async () => {
    const tb = await seedTestBedWithClient();
    const data = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRST'); // 56 bytes, like ping's default
    const replies = tb.send(pingFrame({ tags: [], id: 0x1f4a, seq: 1, data }), { vlanTci: 123 });
    assert.equal(replies.length, 1);
    assertEchoReply(replies[0], { id: 0x1f4a, seq: 1, data });
    assert.equal(replies[0].length, 18 + 20 + 8 + data.length);
  });

  it('answers a ping with the tag inline', async () => {
    const tb = await seedTestBedWithClient();
    const data = Buffer.alloc(32, 0xa5);
    const replies = tb.send(pingFrame({ id: 7, seq: 65535, data }));
    assert.equal(replies.length, 1);
    assertEchoReply(replies[0], { id: 7, seq: 65535, data });
  });

  it('answers odd-length, empty, padded and MTU-sized pings', async () => {
    const tb = await seedTestBedWithClient();
    for (const size of [0, 1, 33, 1471, 1472]) {
      const data = Buffer.from(Array.from({ length: size }, (_, i) => (i * 7) & 0xff));
      const replies = tb.send(pingFrame({ seq: size, data }));
      assert.equal(replies.length, 1, `${size} data bytes`);
      assertEchoReply(replies[0], { id: 0x4242, seq: size, data });
      const ip = decodeIpv4(decodeEthernet(replies[0]).payload);
      assert.equal(ip.totalLength, 28 + size, 'Ethernet padding of the request is not echoed');
    }
  });

  it('answers a request that carries IP options, without echoing the options', async () => {
    const tb = await seedTestBedWithClient();
    const echo = icmpEcho({ id: 1, seq: 2 });
    const frame = ethernet({ tags: [{ vid: 123 }], type: ETH_P_IPV4, payload: ipv4({ protocol: 1, payload: echo, options: Buffer.from('94040000', 'hex') }) });
    const replies = tb.send(frame);
    assert.equal(replies.length, 1);
    assertEchoReply(replies[0], { id: 1, seq: 2, data: echo.subarray(8) });
  });

  it('replies through the neighbour cache: an unknown sender is resolved by ARP first, never answered to its L2 source', async () => {
    const tb = await seedTestBed();
    const other = Buffer.from('525400000077', 'hex');
    let out = tb.send(pingFrame({ src: other }));
    assert.equal(out.length, 1, 'only an ARP request: the reply waits for the answer');
    const eth = decodeEthernet(out[0]);
    assert.equal(eth.dst, BROADCAST);
    assert.equal(decodeArp(eth.payload).tpa, CLIENT_IP_TEXT);
    out = tb.send(ethernet({ tags: [{ vid: 123 }], type: ETH_P_ARP, payload: arp({ op: 2, sha: CLIENT_MAC, spa: CLIENT_IP, tha: OUR_MAC, tpa: OUR_IP }) }));
    assert.equal(out.length, 1, 'the held reply leaves with the ARP reply');
    assert.equal(decodeEthernet(out[0]).dst, CLIENT_MAC_TEXT, 'to the resolved MAC, not the frame source');
    out = tb.send(pingFrame({ src: other }));
    assert.equal(decodeEthernet(out[0]).dst, CLIENT_MAC_TEXT, 'known neighbour: its MAC');
  });

  it('answers a whole vector of pings with one send per vector, each frame counted once', async () => {
    const tb = await seedTestBedWithClient();
    const dev = tb.device();
    dev.takeSent();
    let sends = 0;
    const original = dev.send.bind(dev);
    dev.send = (tx) => {
      sends++;
      return original(tx);
    };
    const frames = Array.from({ length: 100 }, (_, seq) => pingFrame({ seq }));
    const before = totalDispositions(tb.dp);
    const replies = tb.send(frames);
    assert.equal(replies.length, 100);
    assert.equal(sends, 1, 'replies flushed once per vector');
    assert.deepEqual(replies.map((r) => decodeIcmpEcho(decodeIpv4(decodeEthernet(r).payload).payload).seq), frames.map((_, i) => i));
    assert.equal(totalDispositions(tb.dp) - before, 100);
  });

  it('answers a broadcast-MAC ping to our address (some stacks send those) only if it is for our IP', async () => {
    const tb = await seedTestBedWithClient();
    // A unicast IP in an L2 broadcast: RFC 1122 §3.3.6 says SHOULD discard; we only check it does not crash
    // and is accounted for.
    const before = totalDispositions(tb.dp);
    tb.send(pingFrame({ dst: Buffer.alloc(6, 0xff) }));
    assert.equal(totalDispositions(tb.dp) - before, 1);
  });

  it('works with the configured MAC (set interface mac address), not the kernel one', async () => {
    const tb = await createTestBed(SEED_STARTUP_LINES.filter((l) => !l.includes('mac address')));
    assert.equal(tb.send(pingFrame()).length, 0, 'the client’s frames to c6:… are not for us');
    const replies = tb.send(pingFrame({ dst: Buffer.from(KERNEL_MAC_TEXT.replace(/:/g, ''), 'hex') }));
    assert.equal(replies.length, 1);
    assert.equal(decodeEthernet(replies[0]).src, KERNEL_MAC_TEXT);
  });
});

describe('dataplane: packets never outgrow an IPv4 total length', () => {
  // A device MTU above 65,535 (Linux lo has 65,536; af_packet.c accepts loopback devices) must
  // not let a 65,536-byte packet out: its total length would wrap to 0. Found by review r/s5b:
  // `ping … size 65508` on such a device sent a frame whose IPv4 total length was 0x0000.
  it('with MTU 65,536 the largest echo is 65,507 data bytes; 65,508 is refused and nothing is sent', async () => {
    const tb = await seedTestBedWithClient({ mtu: 65536 });
    const d = tb.device();
    d.takeSent();
    assert.throws(() => tb.dp.icmp.sendEcho(CLIENT_IP, 1, 1, 65508), /bigger than|too big|exceeds|room/i);
    assert.equal(d.takeSent().length, 0);
    tb.dp.icmp.sendEcho(CLIENT_IP, 1, 2, 65507);
    const sent = d.takeSent();
    assert.equal(sent.length, 1);
    const l2 = sent[0].length - 65535;
    assert.equal(sent[0].readUInt16BE(l2 + 2), 65535, 'total length of the largest echo');
  });
});
