/** ARP probes (RFC 5227) and neighbour state when a parent interface goes down. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { seedTestBed } from '../helpers/dataplane.js';
import { arpRequestFrame, CLIENT_MAC, ip, OUR_IP, OUR_MAC } from '../helpers/frames.js';

describe('dataplane: ARP probes and neighbour flushing', () => {
  it('answers an RFC 5227 probe for our address so that the prober sees the conflict', async () => {
    const tb = await seedTestBed();
    const sent = tb.send(arpRequestFrame({ spa: 0, tpa: OUR_IP }));
    assert.equal(sent.length, 1, 'one reply');
    const reply = sent[0];
    // dst MAC, then the 802.1Q tag 123, then ARP: op 2, sha ours, spa ours, tha prober, tpa 0.
    assert.deepEqual(reply.subarray(0, 6), CLIENT_MAC);
    const arp = 18;
    assert.equal(reply.readUInt16BE(arp + 6), 2);
    assert.deepEqual(reply.subarray(arp + 8, arp + 14), OUR_MAC);
    assert.equal(reply.readUInt32BE(arp + 14), OUR_IP);
    assert.equal(reply.readUInt32BE(arp + 24), 0);
    assert.equal(tb.dp.neighbors.all().length, 0, 'a probe teaches us nothing');
  });

  it('does not answer a probe for another address', async () => {
    const tb = await seedTestBed();
    assert.equal(tb.send(arpRequestFrame({ spa: 0, tpa: ip('192.168.123.151') })).length, 0);
  });

  it('forgets the neighbours of sub-interfaces when the hardware interface goes down', async () => {
    const tb = await seedTestBed();
    tb.send(arpRequestFrame());
    assert.equal(tb.dp.neighbors.all().length, 1);
    const r = await tb.run('set interface state host-macvlan0 down');
    assert.equal(r.ok, true, r.output);
    assert.equal(tb.dp.neighbors.all().length, 0);
  });
});

describe('dataplane: neighbour table bounds', () => {
  it('a full table evicts the least recently used unconfirmed entry; entries in use (here static) are never evicted, newcomers are refused and counted', async () => {
    const tb = await seedTestBed();
    tb.dp.neighbors.maxEntries = 3;
    for (let i = 1; i <= 5; i++) {
      tb.clock.now += 10;
      tb.send(arpRequestFrame({ spa: ip(`192.168.123.${i}`) }));
    }
    assert.equal(tb.dp.neighbors.size, 3);
    assert.equal(tb.dp.neighbors.evicted, 2);
    assert.deepEqual(tb.dp.neighbors.all().map((n) => n.ip & 0xff), [3, 4, 5], 'the two oldest went');
    for (const i of [3, 4, 5]) await tb.cli(`set ip neighbor host-macvlan0.123 192.168.123.${i} 52:54:00:00:00:0${i} static`);
    tb.send(arpRequestFrame({ spa: ip('192.168.123.6') }));
    assert.equal(tb.dp.neighbors.size, 3);
    assert.equal(tb.dp.neighbors.refused, 1);
  });
});
