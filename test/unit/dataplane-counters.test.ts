/** Per-interface counters (rx/tx packets and bytes, drops, ip4/ip6, tx errors) and clearing them. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { InterfaceCounters } from '../../src/dataplane/interface.js';
import type { Device } from '../../src/io/device.js';
import { seedTestBed, seedTestBedWithClient } from '../helpers/dataplane.js';
import { ETH_P_IPV6, ethernet, pingFrame } from '../helpers/frames.js';

const zero: InterfaceCounters = { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, drops: 0, ip4: 0, ip6: 0, txErrors: 0 };

function delta(after: InterfaceCounters, before: InterfaceCounters): Partial<InterfaceCounters> {
  const d: Partial<InterfaceCounters> = {};
  for (const k of Object.keys(after) as (keyof InterfaceCounters)[]) if (after[k] !== before[k]) d[k] = after[k] - before[k];
  return d;
}

describe('dataplane: interface counters', () => {
  it('the gratuitous ARP at start-up counts as one transmitted frame on both interfaces', async () => {
    const tb = await seedTestBed();
    assert.deepEqual(tb.dp.get('host-macvlan0.123').counters, { ...zero, txPackets: 1, txBytes: 60 });
    assert.deepEqual(tb.dp.get('host-macvlan0').counters, { ...zero, txPackets: 1, txBytes: 60 });
  });

  it('a ping and its reply: rx on both, ip4 and tx on the sub-interface, tx on the hardware interface', async () => {
    const tb = await seedTestBedWithClient();
    const hw = tb.dp.get('host-macvlan0');
    const sub = tb.dp.get('host-macvlan0.123');
    const hw0 = { ...hw.counters };
    const sub0 = { ...sub.counters };
    const frame = pingFrame({ data: Buffer.alloc(56) });
    const [reply] = tb.send(frame);
    assert.deepEqual(delta(hw.counters, hw0), { rxPackets: 1, rxBytes: frame.length, txPackets: 1, txBytes: reply.length });
    assert.deepEqual(delta(sub.counters, sub0), { rxPackets: 1, rxBytes: frame.length, ip4: 1, txPackets: 1, txBytes: reply.length });
  });

  it('bytes of a frame whose tag came as metadata are the bytes delivered', async () => {
    const tb = await seedTestBed();
    const sub = tb.dp.get('host-macvlan0.123');
    const before = { ...sub.counters };
    const frame = pingFrame({ tags: [] });
    tb.send(frame, { vlanTci: 123 });
    assert.equal(sub.counters.rxBytes - before.rxBytes, frame.length);
  });

  it('drops land on the interface the frame was classified to', async () => {
    const tb = await seedTestBed();
    const hw = tb.dp.get('host-macvlan0');
    const sub = tb.dp.get('host-macvlan0.123');
    const hw0 = { ...hw.counters };
    const sub0 = { ...sub.counters };
    const vlan124 = pingFrame({ tags: [{ vid: 124 }] });
    tb.send(vlan124);
    assert.deepEqual(delta(hw.counters, hw0), { rxPackets: 1, rxBytes: vlan124.length, drops: 1 });
    assert.deepEqual(delta(sub.counters, sub0), {}, 'VLAN 124 never reaches host-macvlan0.123');
    const v6 = ethernet({ tags: [{ vid: 123 }], type: ETH_P_IPV6, payload: Buffer.alloc(40) });
    tb.send(v6);
    assert.deepEqual(delta(sub.counters, sub0), { rxPackets: 1, rxBytes: v6.length, ip6: 1, drops: 1 });
  });

  it('counts frames the device refused as tx errors, shown by `show interface`', async () => {
    let refuse = false;
    const tb = await seedTestBedWithClient({
      wrap: (d): Device => {
        const send = d.send.bind(d);
        d.send = (tx) => (refuse ? 0 : send(tx));
        return d;
      },
    });
    refuse = true;
    tb.send([pingFrame({ seq: 1 }), pingFrame({ seq: 2 })]);
    assert.equal(tb.dp.get('host-macvlan0').counters.txErrors, 2);
    assert.match(await tb.cli('show interface host-macvlan0'), /tx-error\s+2$/m);
  });

  it('`clear interfaces` zeroes every counter; `show interface` then lists no counters', async () => {
    const tb = await seedTestBedWithClient();
    tb.send([pingFrame(), pingFrame({ tags: [{ vid: 124 }] })]);
    assert.match(await tb.cli('show interface'), /rx packets\s+2/);
    assert.equal(await tb.cli('clear interfaces'), '');
    for (const sw of tb.dp.interfaces) assert.deepEqual(sw.counters, zero, sw.name);
    const out = await tb.cli('show interface');
    assert.doesNotMatch(out, /rx packets|tx packets|drops/);
    assert.match(out, /^host-macvlan0\s+1\s+up/m);
    // Node counters are separate (`clear errors`).
    assert.match(await tb.cli('show errors'), /echo replies sent/);
  });

  it('counters grow by the pings: 3 pings → rx 3, tx 3 on the sub-interface', async () => {
    const tb = await seedTestBedWithClient();
    await tb.cli('clear interfaces');
    for (let seq = 1; seq <= 3; seq++) tb.send(pingFrame({ seq }));
    const out = await tb.cli('show interface host-macvlan0.123');
    assert.match(out, /^host-macvlan0\.123\s+2\s+up\s+0\/0\/0\/0\s+rx packets\s+3$/m);
    assert.match(out, /^\s+tx packets\s+3$/m);
    assert.match(out, /^\s+ip4\s+3$/m);
  });
});
