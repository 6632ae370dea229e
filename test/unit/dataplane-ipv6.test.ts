/**
 * IPv6 on the dataplane (in-memory device, injected clock): addresses and DAD, the multicast
 * groups joined on the device, NS → NA, echo, the ND state machine, routes via a link-local
 * router, and the drops of bad ND/echo, each under its own name.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { counterDelta, counters, createTestBed, SEED_STARTUP_LINES, sentCounters, type TestBed } from '../helpers/dataplane.js';
import { CLIENT_MAC, CLIENT_MAC_TEXT, decodeEthernet, ethernet, ETH_P_IPV6, mac, OUR_MAC, OUR_MAC_TEXT } from '../helpers/frames.js';
import { CLIENT_IP6, CLIENT_LL, decodeIpv6, echo6Frame, groupMac, ip6, ipv6, naFrame, nsFrame, OUR_IP6, OUR_LL_TEXT, solicited, tcp6Frame } from '../helpers/frames6.js';

const SUB = 'host-macvlan0.123';
const V6_LINE = `set int ip address ${SUB} 2001:db8:123::150/64`;
const ROUTER_MAC = mac('52:54:00:aa:bb:01');

/** The IPv6 frames sent since the last call (the seed's gratuitous ARP and the like left out). */
function sent6(tb: TestBed) {
  return tb.device().takeSent().filter((f) => decodeEthernet(f).type === ETH_P_IPV6).map(decode);
}

function decode(frame: Buffer) {
  const eth = decodeEthernet(frame);
  assert.equal(eth.type, ETH_P_IPV6);
  const ip = decodeIpv6(eth.payload);
  return { eth, ip, icmp: ip.payload };
}

/** The seed with 2001:db8:123::150/64 on the sub-interface, DAD passed (the clock moved past it). */
async function dualStack(): Promise<TestBed> {
  const tb = await createTestBed([...SEED_STARTUP_LINES, V6_LINE]);
  tb.clock.now += 1000;
  tb.dp.tickNeighbors();
  tb.device().takeSent();
  return tb;
}

describe('dataplane IPv6: addresses, DAD, groups', () => {
  it('an IPv6 address enables IPv6 (EUI-64 link-local of the parent MAC), probes both addresses, joins the groups, then announces', async () => {
    const tb = await createTestBed(SEED_STARTUP_LINES);
    tb.device().takeSent();
    await tb.cli(V6_LINE);
    const probes = sent6(tb);
    assert.equal(probes.length, 2, 'one DAD probe per address (link-local and global)');
    for (const p of probes) {
      assert.equal(p.eth.tags[0]?.vid, 123);
      assert.equal(p.ip.hopLimit, 255);
      assert.ok(p.ip.src.equals(Buffer.alloc(16)), 'from ::');
      assert.equal(p.icmp[0], 135);
      assert.equal(p.icmp.length, 24, 'no source link-layer option in a DAD probe');
      assert.ok(p.ip.dst.equals(solicited(p.icmp.subarray(8, 24))));
      assert.equal(p.eth.dst, [...groupMac(p.ip.dst)].map((b) => b.toString(16).padStart(2, '0')).join(':'));
      assert.ok(p.ip.checksumOk);
    }
    assert.deepEqual(
      [...tb.device().multicast.keys()].sort(),
      ['33:33:00:00:00:01', '33:33:ff:00:01:50', '33:33:ff:74:11:88'],
      'all-nodes and both solicited-node groups joined on the device',
    );
    let show = await tb.cli(`show ip6 interface ${SUB}`);
    assert.match(show, new RegExp(`^${SUB.replace('.', '\\.')} is admin up\\n  Global unicast address\\(es\\):\\n    2001:db8:123::150/64\\n  Link-local address\\(es\\):\\n    ${OUR_LL_TEXT}\\n`));
    assert.match(show, /ND DAD is enabled\n      2001:db8:123::150: tentative\n/);
    assert.match(await tb.cli('show int addr'), /host-macvlan0\.123 \(up\):\n  L3 192\.168\.123\.150\/24\n  L3 2001:db8:123::150\/64 \(tentative\)/);
    // Tentative: an NS for it is not answered, an echo to it is dropped.
    const before = counters(tb.dp);
    assert.equal(tb.send(nsFrame(OUR_IP6)).length, 0);
    assert.deepEqual(counterDelta(before, counters(tb.dp)), new Map([['ip6-icmp-input/NS for our tentative address (not answered during DAD)', 1]]));

    tb.clock.now += 999;
    tb.dp.tickNeighbors();
    assert.equal(tb.device().takeSent().length, 0, 'DAD waits RetransTimer (1 s) after the probe');
    tb.clock.now += 1;
    tb.dp.tickNeighbors();
    const na = sent6(tb);
    assert.equal(na.length, 2, 'one unsolicited NA per address');
    for (const p of na) {
      assert.equal(p.eth.dst, '33:33:00:00:00:01');
      assert.equal(p.eth.tags[0]?.vid, 123);
      assert.equal(formatHex(p.ip.dst), 'ff020000000000000000000000000001');
      assert.equal(p.icmp[0], 136);
      assert.equal(p.icmp[4], 0x20, 'Override, not Solicited, not Router');
      assert.ok(p.ip.src.equals(p.icmp.subarray(8, 24)), 'from the address itself');
      assert.deepEqual([...p.icmp.subarray(24, 32)], [2, 1, ...OUR_MAC], 'TLLA = our MAC');
      assert.ok(p.ip.checksumOk);
    }
    assert.ok(tb.events.some((e) => /2001:db8:123::150\/64 on host-macvlan0\.123: DAD passed, unsolicited NA sent/.test(e)));
    show = await tb.cli(`show ip6 interface ${SUB}`);
    assert.match(show, /2001:db8:123::150: preferred\n/);
    assert.match(show, /Joined group address\(es\):\n    ff02::1\n    ff02::1:ff74:1188\n    ff02::1:ff00:150\n/);
  });

  it('DAD conflict: an NA for the tentative address refuses it (logged, shown, group left, not answered)', async () => {
    const tb = await createTestBed([...SEED_STARTUP_LINES, V6_LINE]);
    tb.device().takeSent();
    const other = mac('02:11:22:33:44:55');
    tb.send(naFrame(OUR_IP6, 0x20, other, { ethSrc: other }));
    assert.ok(tb.events.some((e) => /DAD: address 2001:db8:123::150\/64 on host-macvlan0\.123 is in use \(02:11:22:33:44:55\): refused/.test(e)), tb.events.join('\n'));
    assert.match(await tb.cli(`show ip6 interface ${SUB}`), /2001:db8:123::150: duplicate \(in use: 02:11:22:33:44:55\), refused/);
    assert.ok(!tb.device().multicast.has('33:33:ff:00:01:50'), 'solicited-node group of the refused address left');
    tb.clock.now += 2000;
    tb.dp.tickNeighbors();
    const sent = sent6(tb);
    assert.equal(sent.length, 1, 'only the link-local is announced');
    assert.equal(sent[0].ip.src[0], 0xfe);
    const before = counters(tb.dp);
    assert.equal(tb.send(nsFrame(OUR_IP6)).length, 0);
    assert.deepEqual(counterDelta(before, counters(tb.dp)), new Map([['ip6-input/ip6 multicast group not joined', 1]]), 'its group was left');
  });

  it('DAD conflict: another DAD probe (NS from ::) for the same tentative address', async () => {
    const tb = await createTestBed([...SEED_STARTUP_LINES, V6_LINE]);
    tb.send(nsFrame(OUR_IP6, { src: Buffer.alloc(16), slla: null }));
    assert.ok(tb.events.some((e) => /is in use \(a DAD probe from 52:54:00:12:34:56\): refused/.test(e)));
  });

  it('our own DAD probe looped back by the link (source MAC ours) is no conflict (RFC 7527 §4.1)', async () => {
    const tb = await createTestBed([...SEED_STARTUP_LINES, V6_LINE]);
    const before = counters(tb.dp);
    tb.send(nsFrame(OUR_IP6, { src: Buffer.alloc(16), slla: null, ethSrc: OUR_MAC, ethDst: groupMac(solicited(OUR_IP6)) }));
    assert.deepEqual(counterDelta(before, counters(tb.dp)).get('ip6-icmp-input/our own DAD probe looped back (source MAC ours)'), 1);
    assert.ok(!tb.events.some((e) => /is in use/.test(e)), tb.events.join('\n'));
    tb.clock.now += 1000;
    tb.dp.tickNeighbors();
    assert.match(await tb.cli(`show ip6 interface ${SUB}`), /2001:db8:123::150: preferred\n/);
  });

  it('a DAD probe for an address we own is answered with an NA to all-nodes (defended)', async () => {
    const tb = await dualStack();
    const out = tb.send(nsFrame(OUR_IP6, { src: Buffer.alloc(16), slla: null })).map(decode);
    assert.equal(out.length, 1);
    assert.equal(out[0].eth.dst, '33:33:00:00:00:01');
    assert.equal(out[0].icmp[4], 0x20);
  });

  it('untagged: where the kernel runs IPv6 on the device, our link-local is not its EUI-64 (logged); elsewhere it is', async () => {
    const lines = ['create host-interface name macvlan0', `set interface mac address host-macvlan0 ${OUR_MAC_TEXT}`, 'set int state host-macvlan0 up'];
    const tb = await createTestBed(lines);
    tb.device().kernelIpv6 = true;
    await tb.cli('enable ip6 interface host-macvlan0');
    assert.match(await tb.cli('show ip6 interface host-macvlan0'), /Link-local address\(es\):\n    fe80::c6b4:b5ff:fe74:1188\n/);
    assert.ok(tb.events.some((e) => /not the EUI-64 fe80::c4b4:b5ff:fe74:1188: the kernel owns that on macvlan0/.test(e)));
    assert.match((await tb.run('enable ip6 interface host-macvlan0')).output, /Failed \(IPv6 is already enabled on host-macvlan0\)/);
    const plain = await createTestBed(lines);
    plain.device().kernelIpv6 = false;
    await plain.cli('enable ip6 interface host-macvlan0');
    assert.match(await plain.cli('show ip6 interface host-macvlan0'), new RegExp(`    ${OUR_LL_TEXT}\\n`));
    // A tagged sub-interface always takes the parent's EUI-64 (the kernel has no address on VLAN 123).
    const tagged = await createTestBed(SEED_STARTUP_LINES);
    tagged.device().kernelIpv6 = true;
    await tagged.cli(`enable ip6 interface ${SUB}`);
    assert.match(await tagged.cli(`show ip6 interface ${SUB}`), new RegExp(`    ${OUR_LL_TEXT}\\n`));
  });

  it('disable ip6 interface leaves every group and forgets the addresses', async () => {
    const tb = await dualStack();
    await tb.cli(`disable ip6 interface ${SUB}`);
    assert.equal(tb.device().multicast.size, 0);
    assert.equal(await tb.cli(`show ip6 interface ${SUB}`), 'IP6 disabled');
    const before = counters(tb.dp);
    tb.send(echo6Frame());
    assert.deepEqual(counterDelta(before, counters(tb.dp)), new Map([['ethernet-input/ip6 not enabled', 1]]));
  });
});

describe('dataplane IPv6: NS/NA and echo', () => {
  it('answers an NS like the kernel does (S|O, TLLA = our MAC, unicast to the asker) and learns the asker', async () => {
    const tb = await dualStack();
    const out = tb.send(nsFrame(OUR_IP6)).map(decode);
    assert.equal(out.length, 1);
    const { eth, ip, icmp } = out[0];
    assert.equal(eth.dst, CLIENT_MAC_TEXT);
    assert.equal(eth.src, OUR_MAC_TEXT);
    assert.equal(eth.tags[0]?.vid, 123);
    // Byte for byte what the kernel answered in the same situation (wire-ipv6.test.ts KERNEL.na).
    assert.equal(
      Buffer.concat([ip.src, ip.dst, icmp]).toString('hex'),
      '20010db8012300000000000000000150' + '20010db8012300000000000000000010' + '8800f8ad6000000020010db80123000000000000000001500201c6b4b5741188',
    );
    assert.equal(ip.hopLimit, 255);
    assert.match(await tb.cli('show ip6 neighbors'), /2001:db8:123::10 +D +52:54:00:12:34:56 host-macvlan0\.123/);
    assert.match(await tb.cli('show ip neighbors'), /2001:db8:123::10/, 'show ip neighbors lists both families, as VPP');
  });

  it('answers an echo request with an echo reply (first IPv6 traffic: the NS came first)', async () => {
    const tb = await dualStack();
    tb.send(nsFrame(OUR_IP6));
    const out = tb.send(echo6Frame({ id: 7, seq: 3 })).map(decode);
    assert.equal(out.length, 1);
    assert.equal(out[0].eth.dst, CLIENT_MAC_TEXT);
    assert.equal(out[0].icmp[0], 129);
    assert.equal(out[0].icmp.readUInt16BE(4), 7);
    assert.equal(out[0].icmp.readUInt16BE(6), 3);
    assert.equal(out[0].icmp.subarray(8).toString(), 'abcdefgh');
    assert.ok(out[0].ip.checksumOk);
    assert.ok(out[0].ip.src.equals(OUR_IP6) && out[0].ip.dst.equals(CLIENT_IP6));
  });

  it('an echo from a neighbour not yet resolved waits for an NS/NA exchange, then leaves', async () => {
    const tb = await dualStack();
    const out = tb.send(echo6Frame()).map(decode);
    assert.equal(out.length, 1, 'an NS, the reply is held');
    assert.equal(out[0].icmp[0], 135);
    assert.deepEqual([...out[0].icmp.subarray(24, 32)], [1, 1, ...OUR_MAC], 'with our source link-layer address');
    assert.ok(out[0].ip.src.equals(OUR_IP6));
    assert.ok(out[0].ip.dst.equals(solicited(CLIENT_IP6)));
    const released = tb.send(naFrame(CLIENT_IP6, 0x60, CLIENT_MAC, { dst: OUR_IP6, ethDst: OUR_MAC })).map(decode);
    assert.equal(released.length, 1);
    assert.equal(released[0].icmp[0], 129);
    assert.match(await tb.cli('show ip6 neighbors verbose'), /2001:db8:123::10 .*REACHABLE/);
  });

  it('drops and counts: NS hop limit ≠ 255, NS bad checksum, NS on another VLAN, NS not for us, echo bad checksum, fragments, bad chains', async () => {
    const tb = await dualStack();
    tb.send(nsFrame(OUR_IP6));
    const cases: Array<[string, Buffer, string]> = [
      ['NS hop limit 254', nsFrame(OUR_IP6, { hopLimit: 254 }), 'ip6-icmp-input/ND hop limit is not 255'],
      ['NS bad checksum', nsFrame(OUR_IP6, { badChecksum: true }), 'ip6-icmp-input/icmp6 bad checksum'],
      ['NS on VLAN 124', nsFrame(OUR_IP6, { tags: [{ vid: 124 }] }), 'ethernet-input/unknown vlan'],
      ['NS for another address', nsFrame(ip6('2001:db8:123::151')), 'ip6-input/ip6 multicast group not joined'],
      ['NS for another address, same group', nsFrame(ip6('2001:db8:124::150')), 'ip6-icmp-input/NS target is not our address'],
      ['echo bad checksum', echo6Frame({ badChecksum: true }), 'ip6-icmp-input/icmp6 bad checksum'],
      ['echo to an address not ours', echo6Frame({ dst: ip6('2001:db8:123::99') }), 'ip6-input/ip6 destination is not a local address'],
      ['echo from a multicast source', echo6Frame({ src: ip6('ff02::1') }), 'ip6-input/ip6 source is multicast, loopback or ours'],
      ['NA with S to multicast', naFrame(CLIENT_IP6, 0x60, CLIENT_MAC), 'ip6-icmp-input/solicited NA to a multicast address'],
      ['NA for our address', naFrame(OUR_IP6, 0x20, CLIENT_MAC, { src: CLIENT_IP6 }), 'ip6-icmp-input/NA for our own address (conflict after DAD)'],
    ];
    for (const [name, frame, counter] of cases) {
      const before = counters(tb.dp);
      const out = tb.send(frame);
      assert.equal(out.length, 0, name);
      assert.deepEqual(counterDelta(before, counters(tb.dp)), new Map([[counter, 1]]), name);
    }
    const errors = await tb.cli('show errors');
    assert.match(errors, /ND hop limit is not 255/);
  });
});

describe('dataplane IPv6: ND state machine', () => {
  it('INCOMPLETE → REACHABLE (solicited NA) → STALE → DELAY → PROBE (unicast NS) → FAILED; Override=0 keeps our MAC', async () => {
    const tb = await dualStack();
    const n6 = tb.dp.neighbors6;
    const sw = tb.dp.get(SUB);
    // A use creates the entry and sends a multicast NS.
    await tb.cli(`set ip neighbor ${SUB} fe80::1 ${CLIENT_MAC_TEXT}`);
    assert.equal(n6.lookup6(sw, ip6('fe80::1'), 0)?.state, 1 /* REACHABLE */);
    await tb.cli(`set ip neighbor del ${SUB} fe80::1`);
    assert.equal(n6.lookup6(sw, ip6('fe80::1'), 0), undefined);

    const t = n6.timers;
    const e = n6.use6(sw, CLIENT_IP6, 0, tb.clock.now)!;
    tb.dp.flush();
    let sent = tb.device().takeSent().map(decode);
    assert.equal(sent.length, 1);
    assert.ok(sent[0].ip.dst.equals(solicited(CLIENT_IP6)));
    assert.equal(e.state, 0 /* INCOMPLETE */);
    tb.send(naFrame(CLIENT_IP6, 0x60, CLIENT_MAC, { dst: OUR_IP6, ethDst: OUR_MAC }));
    assert.equal(e.state, 1);
    // A different MAC without Override does not replace ours; a REACHABLE entry becomes STALE.
    tb.send(naFrame(CLIENT_IP6, 0x40, mac('52:54:00:99:99:99'), { dst: OUR_IP6, ethDst: OUR_MAC }));
    assert.equal(e.state, 2 /* STALE */);
    assert.ok(e.mac.equals(CLIENT_MAC));
    // Used while STALE (and not confirmed for reachableMs) → DELAY; no confirmation within delayMs → PROBE with a unicast NS.
    tb.clock.now += t.reachableMs + 1;
    n6.use6(sw, CLIENT_IP6, 0, tb.clock.now);
    assert.equal(e.state, 3 /* DELAY */);
    tb.clock.now += t.delayMs;
    tb.dp.tickNeighbors();
    assert.equal(e.state, 4 /* PROBE */);
    sent = tb.device().takeSent().map(decode);
    assert.equal(sent.length, 1);
    assert.equal(sent[0].eth.dst, CLIENT_MAC_TEXT, 'unicast re-probe');
    assert.ok(sent[0].ip.dst.equals(CLIENT_IP6));
    for (let k = 0; k < t.maxProbes; k++) {
      tb.clock.now += t.retransMs;
      tb.dp.tickNeighbors();
    }
    assert.equal(e.state, 5 /* FAILED */);
    // Override=1 with a new MAC: replaced (the neighbour moved).
    const moved = n6.use6(sw, CLIENT_IP6, 0, (tb.clock.now += 10 * t.retransMs))!;
    tb.send(naFrame(CLIENT_IP6, 0x60, mac('52:54:00:99:99:99'), { dst: OUR_IP6, ethDst: OUR_MAC }));
    assert.equal(moved.mac.toString('hex'), '525400999999');
  });

  it('an NA without a target link-layer option: Solicited confirms an entry that has a MAC, nothing else changes (RFC 4861 §7.2.5)', async () => {
    const tb = await dualStack();
    const sw = tb.dp.get(SUB);
    const n6 = tb.dp.neighbors6;
    const unicast = { dst: OUR_IP6, ethDst: OUR_MAC };
    tb.send(nsFrame(OUR_IP6)); // the client's entry, STALE, with its MAC
    const n = n6.lookup6(sw, CLIENT_IP6, 0)!;
    assert.equal(n.state, 2 /* STALE */);
    tb.send(naFrame(CLIENT_IP6, 0x00, null, unicast));
    assert.equal(n.state, 2, 'not solicited: no confirmation');
    tb.send(naFrame(CLIENT_IP6, 0x40, null, unicast)); // a unicast probe's answer may omit the TLLA (§4.4)
    assert.equal(n.state, 1 /* REACHABLE */, '"If the Solicited flag is set, the state of the entry MUST be set to REACHABLE"');
    assert.ok(n.mac.equals(CLIENT_MAC));
    // An INCOMPLETE entry has no MAC to confirm: the NA is ignored.
    const other = ip6('2001:db8:123::77');
    const e = n6.use6(sw, other, 0, tb.clock.now)!;
    assert.equal(e.state, 0 /* INCOMPLETE */);
    tb.send(naFrame(other, 0x60, null, unicast));
    assert.equal(e.state, 0);
  });

  it('an unsolicited NA never creates an entry; many neighbours with colliding-looking addresses stay distinct', async () => {
    const tb = await dualStack();
    const sw = tb.dp.get(SUB);
    tb.send(naFrame(CLIENT_IP6, 0x20, CLIENT_MAC));
    assert.equal(tb.dp.neighbors6.lookup6(sw, CLIENT_IP6, 0), undefined);
    for (let k = 1; k <= 200; k++) {
      const a = ip6(`2001:db8:123::${k.toString(16)}`);
      if (a.equals(OUR_IP6)) continue;
      tb.send(nsFrame(ip6('2001:db8:123::150'), { src: a, ethSrc: Buffer.from([0x52, 0x54, 0, 0, 0, k]) }));
    }
    for (let k = 1; k <= 200; k++) {
      const a = ip6(`2001:db8:123::${k.toString(16)}`);
      if (a.equals(OUR_IP6)) continue;
      assert.equal(tb.dp.neighbors6.lookup6(sw, a, 0)?.mac[5], k);
    }
  });
});

describe('dataplane IPv6: routes, FIB, ping', () => {
  it('ip route add ::/0 via fe80::1 resolves the link-local router on the interface; show ip6 fib lists it', async () => {
    const tb = await dualStack();
    assert.match((await tb.run('ip route add ::/0 via fe80::1')).output, /is link-local: name the interface/);
    await tb.cli(`ip route add ::/0 via fe80::1 ${SUB}`);
    const routerLl = ip6('fe80::1');
    tb.send(nsFrame(OUR_IP6, { src: routerLl, ethSrc: ROUTER_MAC }));
    const remote = ip6('2001:db8:999::7');
    const out = tb.send(echo6Frame({ src: remote, ethSrc: ROUTER_MAC })).map(decode);
    assert.equal(out.length, 1);
    assert.equal(out[0].eth.dst, '52:54:00:aa:bb:01', 'the reply goes to the router');
    assert.ok(out[0].ip.dst.equals(remote));
    const fib = await tb.cli('show ip6 fib');
    assert.match(fib, /^ipv6-VRF:0, fib_index:0, flow hash:\[src dst sport dport proto flowlabel \] epoch:\d+ flags:none locks:\[adjacency:1, default-route:1, \]\n::\/0\n  unicast-ip6-chain\n  \[@0\]: dpo-load-balance: \[proto:ip6 buckets:1 to:\[1:\d+\]\]\n    \[0\] \[@5\]: ipv6 via fe80::1 host-macvlan0\.123: mtu:1500 flags:\[\] 525400aabb01c6b4b57411888100007b86dd\n/);
    assert.match(fib, /2001:db8:123::\/64\n  unicast-ip6-chain\n.*\n    \[0\] \[@4\]: ip6-glean: \[src:2001:db8:123::\/64\] host-macvlan0\.123/);
    assert.match(fib, /2001:db8:123::150\/128\n.*\n.*\n    \[0\] \[@2\]: dpo-receive: 2001:db8:123::150 on host-macvlan0\.123/);
    assert.match(fib, /fe80::\/10\n.*\n.*\n    \[0\] \[@14\]: ip6-link-local/);
    await tb.cli(`ip route del ::/0 via fe80::1 ${SUB}`);
    const before = sentCounters(tb.dp);
    tb.send(echo6Frame({ src: remote, ethSrc: ROUTER_MAC }));
    assert.equal(counterDelta(before, sentCounters(tb.dp)).size, 0, 'no route: nothing originated');
    assert.equal(counters(tb.dp).get('ip6-icmp-input/no route to the source (reply not sent)'), 1);
  });

  it('ping <ipv6> from the CLI: requests out, replies in, VPP layout; a link-local target needs source', async () => {
    const tb = await dualStack();
    tb.send(nsFrame(OUR_IP6));
    const dev = tb.device();
    const requests: Buffer[] = [];
    dev.onSend = (frame) => {
      const d = decodeEthernet(frame);
      if (d.type !== ETH_P_IPV6 || d.payload[40] !== 128) return;
      const p = decodeIpv6(d.payload);
      assert.ok(p.checksumOk);
      requests.push(p.payload);
      // The client answers (an independent reply built by the test helpers).
      queueMicrotask(() => {
        dev.inject(echo6Frame({ type: 129, id: p.payload.readUInt16BE(4), seq: p.payload.readUInt16BE(6), data: p.payload.subarray(8) }));
        dev.deliver();
      });
    };
    const out = await tb.cli('ping 2001:db8:123::10 repeat 2 interval 0.02');
    assert.equal(requests.length, 2);
    assert.equal(requests[0].length, 68, '8 + 60 bytes, VPP default size');
    assert.match(out, /^68 bytes from 2001:db8:123::10: icmp_seq=1 ttl=64 time=[\d.]+ ms\n68 bytes from 2001:db8:123::10: icmp_seq=2 ttl=64 time=[\d.]+ ms\n\nStatistics: 2 sent, 2 received, 0% packet loss\n$/);
    dev.onSend = null;
    assert.match(await tb.cli('ping fe80::1 repeat 1 interval 0.01'), /Failed: no egress interface/);
    dev.takeSent();
    assert.equal(tb.dp.icmp.sendEcho6(ip6('fe80::1'), 9, 2, 8, SUB), 'sent');
    const ns = sent6(tb);
    assert.equal(ns[0].icmp[0], 135, 'resolving fe80::1 on the interface given');
    assert.ok(ns[0].ip.src.equals(ip6(OUR_LL_TEXT)), 'from our link-local');
    void CLIENT_LL;
  });
});

function formatHex(b: Buffer): string {
  return b.toString('hex');
}

describe('dataplane IPv6: trace, pcap, ICMPv6 errors', () => {
  it('trace shows the IPv6 nodes an echo passes (ip6-input, ip6-icmp-input, ip6-lookup, ip6-rewrite)', async () => {
    const tb = await dualStack();
    tb.send(nsFrame(OUR_IP6));
    await tb.cli('trace add af-packet-input 5');
    tb.send(echo6Frame({ seq: 9 }));
    const trace = await tb.cli('show trace');
    const nodes = [...trace.matchAll(/^\d\d:\d\d:\d\d:\d{6}: (\S+)$/gm)].map((m) => m[1]);
    assert.deepEqual(nodes.slice(0, 6), ['af-packet-input', 'ethernet-input', 'ip6-input', 'ip6-icmp-input', 'ip6-lookup', 'ip6-rewrite'], trace);
    assert.match(trace, /IP6: 52:54:00:12:34:56 -> c6:b4:b5:74:11:88 802\.1q vlan 123/);
    assert.match(trace, /ICMP6: 2001:db8:123::10 -> 2001:db8:123::150\n\s+tos 0x00, flow label 0x0, hop limit 64, payload length 16/);
    assert.match(trace, /ICMP6: echo_request code 0 checksum 0x[0-9a-f]{4} id 4660 seq 9/);
    assert.match(trace, /ip6-rewrite\n\s+tx_sw_if_index 2 adj: ipv6 via 2001:db8:123::10 host-macvlan0\.123: mtu:1500 52:54:00:12:34:56 525400123456c6b4b57411888100007b86dd/);
    // A dropped IPv6 frame traces its reason.
    await tb.cli('clear trace');
    await tb.cli('trace add af-packet-input 1');
    tb.send(echo6Frame({ badChecksum: true }));
    assert.match(await tb.cli('show trace'), /ip6-icmp-input: icmp6 bad checksum/);
  });

  it('no ICMPv6 error and no TCP for a unicast packet in a link-layer multicast frame (RFC 4443 §2.4 (e.3))', async () => {
    const tb = await dualStack();
    tb.send(nsFrame(OUR_IP6)); // the client is a known neighbour: an error could be sent
    tb.device().takeSent();
    const allNodesMac = Buffer.from('333300000001', 'hex');
    const udp = (dst: Buffer) => ethernet({ dst, tags: [{ vid: 123 }], type: ETH_P_IPV6, payload: ipv6({ nh: 17, payload: Buffer.alloc(16) }) });
    const six = (frames: Buffer[]) => frames.filter((f) => decodeEthernet(f).type === ETH_P_IPV6);
    assert.equal(six(tb.send(udp(allNodesMac))).length, 0, 'no Port Unreachable about an L2-multicast frame');
    assert.equal(six(tb.send(udp(Buffer.from('ffffffffffff', 'hex')))).length, 0, 'nor about a broadcast one');
    assert.equal(six(tb.send(udp(OUR_MAC))).length, 1, 'the same packet to our MAC gets its Port Unreachable');
    const before = counters(tb.dp);
    assert.equal(six(tb.send(tcp6Frame({ seq: 1, flags: 2 }, { ethDst: allNodesMac }))).length, 0, 'no SYN-ACK or RST');
    assert.equal(counterDelta(before, counters(tb.dp)).get('tcp6-input/tcp segment in a link-layer multicast frame'), 1);
  });

  it('unknown next header and UDP get a Parameter Problem / Port Unreachable, rate-limited to a burst of 10 then 10 per second (RFC 4443 §2.4)', async () => {
    const tb = await dualStack();
    tb.send(nsFrame(OUR_IP6));
    const { ethernet } = await import('../helpers/frames.js');
    const { ipv6 } = await import('../helpers/frames6.js');
    const udp = () => ethernet({ tags: [{ vid: 123 }], type: ETH_P_IPV6, payload: ipv6({ nh: 17, payload: Buffer.alloc(16) }) });
    const other = () => ethernet({ tags: [{ vid: 123 }], type: ETH_P_IPV6, payload: ipv6({ nh: 99, payload: Buffer.alloc(16) }) });
    const first = tb.send(other()).map(decode);
    assert.equal(first.length, 1);
    assert.equal(first[0].icmp[0], 4, 'Parameter Problem');
    assert.equal(first[0].icmp[1], 1, 'unrecognized next header');
    assert.equal(first[0].icmp.readUInt32BE(4), 6, 'pointer to the Next Header field');
    assert.ok(first[0].ip.checksumOk);
    assert.ok(first[0].icmp.subarray(8).equals(decodeEthernet(other()).payload.subarray(0, 56)), 'quotes the whole invoking packet');
    const port = tb.send(udp()).map(decode);
    assert.deepEqual([port[0].icmp[0], port[0].icmp[1]], [1, 4], 'Port Unreachable');
    // The bucket: 10 at once (2 used), then 10 per second of the injected clock.
    let sent = 0;
    for (let k = 0; k < 50; k++) sent += tb.send(udp()).length;
    assert.equal(sent, 8);
    tb.clock.now += 500;
    sent = 0;
    for (let k = 0; k < 50; k++) sent += tb.send(udp()).length;
    assert.equal(sent, 5);
    const n = tb.dp.icmp6Error.node;
    assert.equal(n.errors[n.e.sent], 15);
    assert.equal(n.errors[n.e.rateLimited], 42 + 45);
    // Every one of those packets is also a named drop.
    assert.equal(counters(tb.dp).get('ip6-input/ip6 protocol not handled'), 102);
    // Never about a packet to a multicast group.
    assert.equal(tb.send(ethernet({ dst: Buffer.from('333300000001', 'hex'), tags: [{ vid: 123 }], type: ETH_P_IPV6, payload: ipv6({ dst: ip6('ff02::1'), nh: 17, payload: Buffer.alloc(8) }) })).length, 0);
  });
});
