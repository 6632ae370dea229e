/**
 * The CLI as an operator sees it: show/clear outputs with the seed's configuration, VPP's
 * abbreviations, and VPP-style errors that leave the session usable.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CommandRegistry, matchesKeyword, tokenize } from '../../src/cli/registry.js';
import { createTestBed, seedTestBed } from '../helpers/dataplane.js';
import { arpRequestFrame, pingFrame } from '../helpers/frames.js';

describe('cli: show commands with the seed configuration', () => {
  it('show interface: every interface with index, state, MTU and the counters that are non-zero, then local0', async () => {
    const tb = await seedTestBed();
    // The client ARPs for us first, as a real one does (our replies then know its MAC).
    tb.send([arpRequestFrame(), pingFrame({ seq: 1 }), pingFrame({ seq: 2 }), pingFrame({ tags: [{ vid: 124 }] })]);
    const out = await tb.cli('show interface');
    const lines = out.split('\n');
    assert.match(lines[0], /^\s+Name\s+Idx\s+State\s+MTU \(L3\/IP4\/IP6\/MPLS\)\s+Counter\s+Count$/);
    assert.match(out, /^host-macvlan0\s+1\s+up\s+1500\/0\/0\/0\s+rx packets\s+4$/m);
    assert.match(out, /^host-macvlan0\.123\s+2\s+up\s+0\/0\/0\/0\s+rx packets\s+3$/m);
    assert.match(out, /^\s+drops\s+1$/m);
    assert.match(out, /^\s+ip4\s+2$/m);
    assert.match(out, /^\s+tx packets\s+4$/m, 'gratuitous ARP, the ARP reply, 2 echo replies');
    assert.match(lines[lines.length - 1], /^local0\s+0\s+down\s+0\/0\/0\/0$/);
    // Counter values are right-aligned in one column.
    const counterLines = lines.filter((l) => /(rx|tx) (packets|bytes)|drops|ip4/.test(l));
    assert.equal(new Set(counterLines.map((l) => l.length)).size, 1, 'aligned');
  });

  it('show interface <name> shows only that interface; an unknown name is an error', async () => {
    const tb = await seedTestBed();
    const out = await tb.cli('show interface host-macvlan0.123');
    assert.doesNotMatch(out, /^host-macvlan0\s/m);
    assert.doesNotMatch(out, /local0/);
    assert.match(out, /^host-macvlan0\.123\s+2\s+up/m);
    const r = await tb.run('show interface host-macvlan9');
    assert.equal(r.ok, false);
    assert.equal(r.output, "show interface: unknown interface `host-macvlan9'");
  });

  it('show interface address / show int addr (as in the seed)', async () => {
    const tb = await seedTestBed();
    const expected = 'host-macvlan0 (up):\nhost-macvlan0.123 (up):\n  L3 192.168.123.150/24\nlocal0 (dn):';
    assert.equal(await tb.cli('show interface address'), expected);
    assert.equal(await tb.cli('show int addr'), expected);
    assert.equal(await tb.cli('sh int addr'), expected);
    assert.equal(await tb.cli('sh in a'), expected);
    assert.equal(await tb.cli('SHOW INT ADDR'), expected, 'keywords are case-insensitive');
    assert.equal(await tb.cli('sh int addr host-macvlan0.123'), 'host-macvlan0.123 (up):\n  L3 192.168.123.150/24');
    await tb.cli('set interface state host-macvlan0.123 down');
    assert.match(await tb.cli('sh int addr'), /^host-macvlan0\.123 \(dn\):$/m);
  });

  it('show ip neighbors lists the client after it ARPed', async () => {
    const tb = await seedTestBed();
    assert.equal(await tb.cli('show ip neighbors'), '', 'VPP prints no header for an empty table');
    tb.send(arpRequestFrame());
    tb.clock.now += 2500;
    const out = await tb.cli('show ip neighbors');
    const lines = out.split('\n');
    // VPP 24.10's layout, byte for byte: %=12s%=40s%=6s%=20s%=24s, the age %12.4f centred in 12.
    assert.equal(lines[0], '     Age                       IP                    Flags      Ethernet              Interface       ');
    assert.equal(lines[1], '      2.5000             192.168.123.10                D    52:54:00:12:34:56 host-macvlan0.123');
    assert.equal(await tb.cli('sh ip nei'), out);
  });

  it('show errors: count, node, reason, severity; `clear errors` empties it', async () => {
    const tb = await seedTestBed();
    tb.send([arpRequestFrame(), pingFrame(), pingFrame(), pingFrame({ tags: [{ vid: 124 }] })]);
    const out = await tb.cli('show errors');
    const lines = out.split('\n');
    assert.match(lines[0], /^\s+Count\s+Node\s+Reason\s+Severity$/);
    assert.match(out, /^\s+1\s+ethernet-input\s+unknown vlan\s+error$/m);
    assert.match(out, /^\s+2\s+ip4-icmp-input\s+echo replies sent\s+info$/m);
    assert.match(out, /^\s+1\s+arp-input\s+ARP replies sent\s+info$/m);
    // The output path: both replies looked up and rewritten; four frames sent (with the gratuitous ARP).
    assert.match(out, /^\s+2\s+ip4-lookup\s+packets routed\s+info$/m);
    assert.match(out, /^\s+2\s+ip4-rewrite\s+packets rewritten\s+info$/m);
    assert.match(out, /^\s+4\s+interface-output\s+frames handed to the device\s+info$/m);
    assert.equal(lines.length, 7);
    assert.equal(await tb.cli('clear errors'), '');
    assert.equal((await tb.cli('show errors')).split('\n').length, 1);
  });

  it('show errors includes sections that other subsystems add', async () => {
    const tb = await seedTestBed();
    let cleared = false;
    tb.ctx.errorSources.push({ node: 'http-static-server', counts: () => ({ 'requests served': 0, 'bad requests': 3 }), clear: () => (cleared = true) });
    assert.match(await tb.cli('show errors'), /^\s+3\s+http-static-server\s+bad requests\s+error$/m);
    await tb.cli('clear errors');
    assert.ok(cleared);
  });

  it('show hardware-interfaces: name, index, link, MAC, device details; brief leaves details out', async () => {
    const tb = await seedTestBed();
    const out = await tb.cli('show hardware-interfaces');
    assert.match(out, /^\s+Name\s+Idx\s+Link\s+Hardware$/m);
    assert.match(out, /^host-macvlan0\s+1\s+up\s+host-macvlan0$/m);
    assert.match(out, /^ {2}Ethernet address c6:b4:b5:74:11:88$/m, 'the configured MAC');
    assert.match(out, /Link speed: unknown/);
    assert.match(out, /RX Queues:/);
    assert.match(out, /in-memory device macvlan0/);
    assert.match(out, /sub-interfaces 1/);
    assert.match(out, /^local0\s+0\s+down\s+local0$/m);
    assert.doesNotMatch(out, /host-macvlan0\.123/, 'sub-interfaces are not hardware');
    const brief = await tb.cli('sh hard brief');
    assert.equal(brief.split('\n').length, 3);
    assert.equal(await tb.cli('show hardware-interfaces'), await tb.cli('sh hardware'));
  });

  it('clear interfaces zeroes the counters shown by show interface', async () => {
    const tb = await seedTestBed();
    tb.send(pingFrame());
    assert.match(await tb.cli('show int'), /rx packets/);
    assert.equal(await tb.cli('clear interfaces'), '');
    assert.doesNotMatch(await tb.cli('show int'), /packets|bytes|drops/);
    assert.equal(await tb.cli('clear int'), '', 'abbreviated too');
  });

  it('show runtime lists the nodes that ran; clear runtime resets them', async () => {
    const tb = await seedTestBed();
    tb.send([pingFrame(), arpRequestFrame()]);
    const out = await tb.cli('show runtime');
    assert.match(out, /Name\s+State\s+Calls\s+Vectors\s+Vectors\/Call/);
    // VPP's state of an input node that sleeps until the kernel wakes it.
    assert.match(out, /^af-packet-input\s+interrupt wait\s+1\s+2\s+2\.00/m);
    assert.match(out, /^\s+cpu [\d.]+% of one core \(user [\d.]+ s, system [\d.]+ s\)$/m);
    assert.match(out, /^ip4-icmp-input\s+active\s+1\s+1\s/m);
    assert.match(out, /^arp-input\s+active\s+1\s+1\s/m);
    await tb.cli('clear runtime');
    assert.doesNotMatch(await tb.cli('show runtime'), /af-packet-input/);
  });

  it('num-tx-queues is kept and shown: one TX queue per thread, never shared (VPP with num-tx-queues = threads)', async () => {
    const tb = await seedTestBed();
    assert.match(await tb.cli('show hardware-interfaces'), /TX Queues:\n\s+queue shared thread\(s\)\n\s+0\s+no\s+0\n\s+Ethernet address/);
    const r = await tb.run('create host-interface name eth7 num-tx-queues 3');
    assert.equal(r.ok, true, r.output);
    assert.match(await tb.cli('show hardware-interfaces'), /host-eth7[^]*TX Queues:\n\s+queue shared thread\(s\)\n\s+0\s+no\s+0\n\s+\(num-tx-queues 3: every thread sends on its own socket, as VPP with num-tx-queues = threads\)/);
  });

  it('show interface rx-placement lists queue 0 of each hardware interface; rx-mode needs a device that has one', async () => {
    const tb = await seedTestBed();
    assert.equal(await tb.cli('show interface rx-placement'), 'Thread 0 (vpp_main):\n  node af-packet-input:\n    host-macvlan0 queue 0 (interrupt)');
    assert.match(await tb.cli('show hardware-interfaces'), /queue thread\s+mode\n\s+0\s+main \(0\)\s+interrupt\n/);
    const r = await tb.run('set interface rx-mode host-macvlan0 polling');
    assert.equal(r.ok, false);
    assert.match(r.output, /^set interface rx-mode: host-macvlan0: the device \(macvlan0\) has no rx-mode/);
    assert.match((await tb.run('set interface rx-mode host-macvlan0.123 polling')).output, /is a sub-interface; .*\(host-macvlan0\)/);
    assert.match((await tb.run('set interface rx-mode host-macvlan0 queue 2 polling')).output, /unknown queue 2 on interface host-macvlan0/);
    assert.match((await tb.run('set interface rx-mode host-macvlan0 fast')).output, /unknown rx-mode `fast' \(valid: polling, interrupt, adaptive\)/);
    assert.match((await tb.run('set interface rx-mode host-macvlan7 polling')).output, /unknown interface `host-macvlan7' \(hardware interfaces: host-macvlan0\)/);
  });

  it('show version names the engine', async () => {
    const tb = await createTestBed();
    assert.match(await tb.cli('show version'), /^vpp-server v\d+\.\d+\.\d+/);
    assert.match(await tb.cli('sh ver'), /vpp-server/);
  });

  it('help and ? list commands with their syntax', async () => {
    const tb = await createTestBed();
    const all = await tb.cli('help');
    assert.match(all, /show interface address \[<interface>\]/);
    assert.match(all, /set interface l2 tag-rewrite <interface> pop 1 \| push dot1q <vlanId> \| disable/);
    assert.equal(await tb.cli('?'), all);
    const show = await tb.cli('help show');
    assert.ok(show.split('\n').every((l) => l.trimStart().startsWith('show')));
  });
});

describe('cli: parsing and errors', () => {
  it('an unknown command gets VPP’s "unknown input" with what is valid', async () => {
    const tb = await createTestBed();
    const r = await tb.run('foo bar');
    assert.equal(r.ok, false);
    assert.match(r.output, /^foo: unknown input `foo bar' \(valid: (.*, )?clear, create, (.*, )?set, show(, .*)?\)$/);
    const sub = await tb.run('show interfaces');
    assert.equal(sub.ok, false, '"interfaces" is longer than the keyword');
    assert.match(sub.output, /unknown input `interfaces' after 'show' \(valid: .*interface/);
  });

  it('an ambiguous abbreviation lists the candidates', async () => {
    const tb = await createTestBed();
    let r = await tb.run('s int');
    assert.equal(r.ok, false);
    assert.match(r.output, /ambiguous input `s'.*could be: (show, set|set, show)/);
    r = await tb.run('c');
    assert.match(r.output, /ambiguous input `c'.*could be: (clear, create|create, clear)/);
    r = await tb.run('show i');
    assert.match(r.output, /ambiguous input `i' after 'show' \(could be: interface, ip, ip6\)/);
  });

  it('an incomplete command names what may follow', async () => {
    const tb = await createTestBed();
    const r = await tb.run('show ip');
    assert.equal(r.ok, false);
    assert.equal(r.output, "show: incomplete command after 'show ip' (valid: fib, neighbors)");
    const show = await tb.run('show');
    assert.match(show.output, /^show: incomplete command after 'show' \(valid: .*errors, hardware-interfaces, interface, ip, /);
  });

  it('errors leave the session usable, and comments and blank lines are no-ops', async () => {
    const tb = await seedTestBed();
    assert.equal((await tb.run('bogus')).ok, false);
    assert.equal((await tb.run('set int state host-macvlan9 up')).ok, false);
    assert.equal((await tb.run('')).ok, true);
    assert.equal((await tb.run('   # just a comment')).ok, true);
    assert.match(await tb.cli('sh int addr # trailing comment'), /192\.168\.123\.150\/24/);
  });

  it('configuration commands work at run time and in abbreviated form', async () => {
    const tb = await createTestBed();
    assert.equal(await tb.cli('create host-interface name macvlan0'), 'host-macvlan0');
    await tb.cli('set int mac addr host-macvlan0 c6:b4:b5:74:11:88');
    await tb.cli('set int st host-macvlan0 up');
    assert.equal(await tb.cli('create sub host-macvlan0 123'), 'host-macvlan0.123');
    await tb.cli('set int st host-macvlan0.123 up');
    await tb.cli('set int ip addr host-macvlan0.123 192.168.123.150/24');
    assert.equal(tb.send(pingFrame()).length, 1);
    await tb.cli('set int ip address del host-macvlan0.123 192.168.123.150/24');
    assert.equal(tb.send(pingFrame()).length, 0);
    await tb.cli('set int ip address host-macvlan0.123 192.168.123.150/24');
    await tb.cli('set int ip address del host-macvlan0.123 all');
    assert.deepEqual(tb.dp.get('host-macvlan0.123').addresses, []);
    const r = await tb.run('set int ip address del host-macvlan0.123 192.168.123.150/24');
    assert.match(r.output, /192\.168\.123\.150\/24 is not configured on host-macvlan0\.123/);
  });

  it('create host-interface with hw-addr, and a second one with the same name is refused', async () => {
    const tb = await createTestBed();
    await tb.cli('create host-interface name macvlan0 hw-addr c6:b4:b5:74:11:88');
    assert.match(await tb.cli('sh hard'), /Ethernet address c6:b4:b5:74:11:88/);
    const r = await tb.run('create host-interface name macvlan0');
    assert.equal(r.ok, false);
    assert.match(r.output, /host-macvlan0 already exists/);
  });

  it('create sub-interfaces with an explicit dot1q VLAN (sub-interface id ≠ VLAN id)', async () => {
    const tb = await createTestBed(['create host-interface name macvlan0', 'set int state host-macvlan0 up']);
    assert.equal(await tb.cli('create sub-interfaces host-macvlan0 7 dot1q 123 exact-match'), 'host-macvlan0.7');
    await tb.cli('set int state host-macvlan0.7 up');
    await tb.cli('set int ip address host-macvlan0.7 192.168.123.150/24');
    tb.device().takeSent();
    assert.equal(tb.send(pingFrame({ dst: tb.device().mac })).length, 1, 'VLAN 123 reaches host-macvlan0.7');
  });

  it('registry: keyword matching and tokenizing', () => {
    assert.ok(matchesKeyword('int', 'interface'));
    assert.ok(matchesKeyword('INT', 'interface'));
    assert.ok(!matchesKeyword('interfaces', 'interface'));
    assert.ok(!matchesKeyword('', 'interface'));
    assert.ok(!matchesKeyword('i', 'interface', 2));
    assert.deepEqual(tokenize('  sh   int\taddr  # comment'), ['sh', 'int', 'addr']);
    assert.deepEqual(tokenize('#'), []);
    const r = new CommandRegistry<unknown>();
    r.register({ path: 'a b', help: '', run: () => 'ab' });
    assert.throws(() => r.register({ path: 'a b', help: '', run: () => '' }), /registered twice/);
  });
});
