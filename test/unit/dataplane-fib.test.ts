/**
 * The IPv4 FIB and the commands around it: longest-prefix match, static routes resolved through
 * connected prefixes (and unresolved when the address goes), VPP's `ip route` / `set ip neighbor`
 * syntax with clear errors (also as file:line from startup.conf), and golden `show ip fib` /
 * `show ip neighbors` outputs.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runStartupConfig } from '../../src/cli/startup-config.js';
import { Fib } from '../../src/dataplane/fib.js';
import { HardwareInterface, SwInterface } from '../../src/dataplane/interface.js';
import { MemoryDevice } from '../../src/io/memory-device.js';
import { parseIpv4 } from '../../src/wire/address.js';
import { createTestBed, SEED_STARTUP_LINES, seedTestBed } from '../helpers/dataplane.js';
import { CLIENT_MAC, decodeEthernet, decodeIpv4, pingFrame } from '../helpers/frames.js';

const ip = (s: string) => parseIpv4(s)!;

function iface(index: number, name: string): SwInterface {
  const hw = new HardwareInterface(name, new MemoryDevice(name, Buffer.from([2, 0, 0, 0, 0, index])), 8);
  const sw = new SwInterface(index, name, hw, 0, 0);
  hw.sw = sw;
  return sw;
}

describe('fib: longest prefix match', () => {
  it('connected, local, static and drop entries; the longest prefix wins', () => {
    const fib = new Fib();
    const a = iface(1, 'a');
    const b = iface(2, 'b');
    fib.addConnected(a, ip('192.168.123.150'), 24);
    fib.addConnected(b, ip('10.1.0.5'), 16);
    fib.addRoute(0, 0, ip('192.168.123.1'), null);
    fib.addRoute(ip('10.9.0.0'), 16, ip('10.1.0.1'), b);
    fib.addRoute(ip('10.9.8.0'), 24, ip('192.168.123.2'), a);
    const at = (dst: string) => {
      const e = fib.lookup(ip(dst))!;
      return `${e.source} ${e.length} ${e.sw?.name ?? '-'}${e.via ? ` via ${e.via === ip('192.168.123.1') ? 'gw' : e.via === ip('10.1.0.1') ? 'r1' : 'r2'}` : ''}`;
    };
    assert.equal(at('192.168.123.10'), 'connected 24 a');
    assert.equal(at('192.168.123.150'), 'local 32 a');
    assert.equal(at('192.168.123.255'), 'drop 32 a', 'the broadcast address is not routed');
    assert.equal(at('192.168.123.0'), 'drop 32 a');
    assert.equal(at('8.8.8.8'), 'static 0 a via gw');
    assert.equal(at('10.9.1.1'), 'static 16 b via r1');
    assert.equal(at('10.9.8.7'), 'static 24 a via r2', 'the longer prefix');
    assert.equal(at('224.0.0.5'), 'drop 4 -');
    assert.equal(at('255.255.255.255'), 'drop 32 -');
    assert.equal(at('0.0.0.0'), 'drop 32 -');
  });

  it('a static route follows its next hop: unresolved when the connected prefix goes, resolved again when it comes back', () => {
    const fib = new Fib();
    const a = iface(1, 'a');
    fib.addConnected(a, ip('192.168.123.150'), 24);
    const r = fib.addRoute(0, 0, ip('192.168.123.1'), null);
    assert.equal(r.sw, a);
    fib.removeConnected(a, ip('192.168.123.150'), 24);
    assert.equal(fib.lookup(ip('8.8.8.8'))?.sw, null, 'still listed, forwards nothing');
    fib.addConnected(a, ip('192.168.123.151'), 24);
    assert.equal(fib.lookup(ip('8.8.8.8'))?.sw, a);
  });

  it('refuses a next hop on no connected prefix, on another interface, our own address, host bits, a duplicate', () => {
    const fib = new Fib();
    const a = iface(1, 'a');
    const b = iface(2, 'b');
    fib.addConnected(a, ip('192.168.123.150'), 24);
    assert.throws(() => fib.addRoute(0, 0, ip('10.0.0.1'), null), /next hop 10\.0\.0\.1 is not on any connected prefix \(connected: 192\.168\.123\.0\/24 on a\)/);
    assert.throws(() => fib.addRoute(0, 0, ip('192.168.123.1'), b), /not on a connected prefix of b/);
    assert.throws(() => fib.addRoute(0, 0, ip('192.168.123.150'), null), /our own address/);
    assert.throws(() => fib.addRoute(0, 0, ip('192.168.123.255'), null), /network or broadcast address/);
    assert.throws(() => fib.addRoute(ip('10.1.2.3'), 8, ip('192.168.123.1'), null), /host bits set \(the prefix is 10\.0\.0\.0\/8\)/);
    fib.addRoute(0, 0, ip('192.168.123.1'), a);
    assert.doesNotThrow(() => fib.addRoute(0, 0, ip('192.168.123.1'), a), 'the same route again is a no-op');
    assert.throws(() => fib.addRoute(0, 0, ip('192.168.123.2'), a), /already has a route via 192\.168\.123\.1/);
    assert.throws(() => fib.addRoute(ip('192.168.123.0'), 24, ip('192.168.123.1'), a), /connected prefix of a/);
  });
});

describe('ip route / set ip neighbor on the CLI and in startup.conf', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fib-conf-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("VPP's line from the seed's world is accepted and replies to an off-link client follow it", async () => {
    const tb = await createTestBed([...SEED_STARTUP_LINES, 'ip route add 0.0.0.0/0 via 192.168.123.1 host-macvlan0.123', 'set ip neighbor host-macvlan0.123 192.168.123.1 52:54:00:12:34:56']);
    const replies = tb.send(pingFrame({ ipSrc: ip('10.20.30.40') }));
    assert.equal(replies.length, 1);
    const eth = decodeEthernet(replies[0]);
    assert.deepEqual(eth.dst, '52:54:00:12:34:56', "to the router's MAC");
    assert.equal(decodeIpv4(eth.payload).dst, '10.20.30.40');
    await tb.cli('ip route del 0.0.0.0/0 via 192.168.123.1 host-macvlan0.123');
    assert.equal(tb.send(pingFrame({ ipSrc: ip('10.20.30.40') })).length, 0, 'no route: not answered');
    assert.match(await tb.cli('show errors'), /no route/);
  });

  it('bad lines: file:line, what was wrong, what is valid', async () => {
    const cases: Array<[string, RegExp]> = [
      ['ip route add 0.0.0.0/0 via 10.0.0.1 host-macvlan0.123', /next hop 10\.0\.0\.1 is not on a connected prefix of host-macvlan0\.123 \(connected: 192\.168\.123\.0\/24 on host-macvlan0\.123\)/],
      ['ip route add 0.0.0.0/0 via 192.168.123.1 host-macvlan9', /unknown interface `host-macvlan9' \(interfaces: host-macvlan0, host-macvlan0\.123\)/],
      ['ip route add 0.0.0.0 via 192.168.123.1', /`0\.0\.0\.0' is not an IPv4 or IPv6 prefix/],
      ['ip route add 0.0.0.0/0 192.168.123.1', /expected via <next-hop>/],
      ['ip route add 0.0.0.0/0', /missing via <next-hop>/],
      ['set ip neighbor host-macvlan0.123 192.168.123.1 52:54:00:zz:34:56', /is not a MAC address/],
      ['set ip neighbor host-macvlan0.123 10.0.0.1 52:54:00:12:34:56', /10\.0\.0\.1 is not on a connected prefix of host-macvlan0\.123/],
      ['set ip neighbor host-macvlan0.123 192.168.123.1 01:00:5e:00:00:01', /multicast/],
    ];
    for (const [line, want] of cases) {
      const tb = await createTestBed();
      const file = join(dir, `bad-${cases.indexOf([line, want] as never)}-${line.length}.conf`);
      writeFileSync(file, [...SEED_STARTUP_LINES, line].join('\n') + '\n');
      await assert.rejects(runStartupConfig(tb.registry, file, tb.ctx), (err: Error) => {
        assert.ok(err.message.startsWith(`${file}:${SEED_STARTUP_LINES.length + 1}: `), err.message);
        assert.match(err.message, want);
        return true;
      }, line);
    }
  });
});

describe('golden: show ip fib, show ip neighbors', () => {
  it('show ip fib with the seed config and a default route (VPP 24.10 layout, indices left out)', async () => {
    const tb = await createTestBed([...SEED_STARTUP_LINES, 'ip route add 0.0.0.0/0 via 192.168.123.1 host-macvlan0.123']);
    tb.send(pingFrame());
    const expected = [
      'ipv4-VRF:0, fib_index:0, flow hash:[src dst sport dport proto flowlabel ] epoch:EPOCH flags:none locks:[adjacency:1, default-route:1, ]',
      '0.0.0.0/0',
      '  unicast-ip4-chain',
      '  [@0]: dpo-load-balance: [proto:ip4 buckets:1 to:[0:0]]',
      '    [0] [@3]: arp-ipv4: via 192.168.123.1 host-macvlan0.123',
      '0.0.0.0/32',
      '  unicast-ip4-chain',
      '  [@0]: dpo-load-balance: [proto:ip4 buckets:1 to:[0:0]]',
      '    [0] [@0]: dpo-drop ip4',
      '192.168.123.0/24',
      '  unicast-ip4-chain',
      '  [@0]: dpo-load-balance: [proto:ip4 buckets:1 to:[1:60]]',
      '    [0] [@4]: ipv4-glean: [src:192.168.123.0/24] host-macvlan0.123: mtu:1500 flags:[] ffffffffffffc6b4b5741188810000' + '7b0800',
      '192.168.123.0/32',
      '  unicast-ip4-chain',
      '  [@0]: dpo-load-balance: [proto:ip4 buckets:1 to:[0:0]]',
      '    [0] [@0]: dpo-drop ip4',
      '192.168.123.150/32',
      '  unicast-ip4-chain',
      '  [@0]: dpo-load-balance: [proto:ip4 buckets:1 to:[0:0]]',
      '    [0] [@2]: dpo-receive: 192.168.123.150 on host-macvlan0.123',
      '192.168.123.255/32',
      '  unicast-ip4-chain',
      '  [@0]: dpo-load-balance: [proto:ip4 buckets:1 to:[0:0]]',
      '    [0] [@0]: dpo-drop ip4',
      '224.0.0.0/4',
      '  unicast-ip4-chain',
      '  [@0]: dpo-load-balance: [proto:ip4 buckets:1 to:[0:0]]',
      '    [0] [@0]: dpo-drop ip4',
      '240.0.0.0/4',
      '  unicast-ip4-chain',
      '  [@0]: dpo-load-balance: [proto:ip4 buckets:1 to:[0:0]]',
      '    [0] [@0]: dpo-drop ip4',
      '255.255.255.255/32',
      '  unicast-ip4-chain',
      '  [@0]: dpo-load-balance: [proto:ip4 buckets:1 to:[0:0]]',
      '    [0] [@0]: dpo-drop ip4',
    ].join('\n');
    const out = await tb.cli('show ip fib');
    assert.equal(out.replace(/epoch:\d+/, 'epoch:EPOCH'), expected);
    // Once the router is known, the default route's adjacency shows the rewrite.
    await tb.cli(`set ip neighbor host-macvlan0.123 192.168.123.1 ${'52:54:00:12:34:56'}`);
    assert.equal(await tb.cli('show ip fib 8.8.8.8'), await tb.cli('show ip fib 0.0.0.0/0'), 'an address shows the entry it matches');
    assert.match(await tb.cli('show ip fib 0.0.0.0/0'), /^ {4}\[0\] \[@5\]: ipv4 via 192\.168\.123\.1 host-macvlan0\.123: mtu:1500 flags:\[\] 525400123456c6b4b57411888100007b0800$/m);
    void CLIENT_MAC;
  });

  it('show ip neighbors (VPP layout) and verbose (with the NUD state)', async () => {
    const tb = await seedTestBed();
    await tb.cli('set ip neighbor host-macvlan0.123 192.168.123.1 52:54:00:00:00:01 static');
    tb.clock.now += 1500;
    tb.dp.icmp.sendEcho(ip('192.168.123.20'), 1, 1, 8); // starts resolution: INCOMPLETE, pending
    tb.clock.now += 500;
    assert.equal(
      await tb.cli('show ip neighbors'),
      [
        '     Age                       IP                    Flags      Ethernet              Interface       ',
        '      2.0000              192.168.123.1                S    52:54:00:00:00:01 host-macvlan0.123',
        '       .5000             192.168.123.20               DP    00:00:00:00:00:00 host-macvlan0.123',
      ].join('\n'),
    );
    const verbose = (await tb.cli('show ip neighbors verbose')).split('\n');
    assert.match(verbose[0], /Interface\s+State\s+Probes\s+Confirmed\s+Held$/);
    assert.match(verbose[1], /host-macvlan0\.123\s+PERMANENT\s+0\s+2\.0s ago\s+0$/);
    assert.match(verbose[2], /host-macvlan0\.123\s+INCOMPLETE\s+1\s+never\s+1$/);
    assert.equal(await tb.cli('show ip neighbors host-macvlan0'), '');
  });
});
