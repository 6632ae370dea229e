/**
 * L2 cross-connect and tag rewrite with VPP's semantics, as the lab switch uses them: a trunk
 * sub-interface .123 with `pop 1`, cross-connected both ways with an access port.
 */
import { describe, it } from 'node:test';
import { switchStartupLines } from '../../src/lab/lab.js';
import assert from 'node:assert/strict';
import { counterDelta, counters, createTestBed, type TestBed } from '../helpers/dataplane.js';
import { arpRequestFrame, BROADCAST_MAC, decodeEthernet, ETH_P_8021AD, pingFrame } from '../helpers/frames.js';

/** The lab switch: host-trunk0 (worker side, tagged) and host-access0 (client side, untagged). */
const SWITCH = switchStartupLines(123);

/** The frame without its first tag, padded to the 60-byte minimum as a sender must. */
function untag(frame: Buffer): Buffer {
  const f = Buffer.concat([frame.subarray(0, 12), frame.subarray(16)]);
  return f.length < 60 ? Buffer.concat([f, Buffer.alloc(60 - f.length)]) : f;
}

describe('dataplane: L2 xconnect + tag-rewrite (the lab switch)', () => {
  let tb: TestBed;
  const trunkToAccess = (frame: Buffer, tci?: number): Buffer[] => {
    tb.send(frame, tci === undefined ? {} : { vlanTci: tci }, 'trunk0');
    return tb.device('access0').takeSent();
  };
  const accessToTrunk = (frame: Buffer): Buffer[] => {
    tb.send(frame, {}, 'access0');
    return tb.device('trunk0').takeSent();
  };

  it('trunk → access: the 802.1Q tag 123 is popped, everything else is unchanged (inline tag)', async () => {
    tb = await createTestBed(SWITCH);
    const frame = pingFrame({ data: Buffer.alloc(100, 7) });
    const out = trunkToAccess(frame);
    assert.equal(out.length, 1);
    assert.deepEqual(out[0], untag(frame));
    assert.equal(tb.device('trunk0').takeSent().length, 0, 'nothing back out of the trunk');
  });

  it('trunk → access with the tag as metadata (as AF_PACKET delivers it)', async () => {
    tb = await createTestBed(SWITCH);
    const untagged = pingFrame({ tags: [] });
    const out = trunkToAccess(untagged, 123);
    assert.deepEqual(out, [untagged]);
  });

  it('access → trunk: tag 123 is pushed (the inverse of pop 1), MACs and payload unchanged', async () => {
    tb = await createTestBed(SWITCH);
    const tagged = pingFrame({ data: Buffer.alloc(64, 1) });
    const out = accessToTrunk(untag(tagged));
    assert.deepEqual(out, [tagged]);
    const eth = decodeEthernet(out[0]);
    assert.deepEqual(eth.tags.map((t) => [t.tpid, t.vid, t.pcp]), [[0x8100, 123, 0]]);
  });

  it('forwards any destination MAC (broadcast ARP, other unicast) both ways, as a wire would', async () => {
    tb = await createTestBed(SWITCH);
    const arp = arpRequestFrame();
    assert.deepEqual(trunkToAccess(arp), [untag(arp)]);
    // The padded 60-byte frame gets a tag: 64 bytes, the padding kept.
    assert.deepEqual(accessToTrunk(untag(arp)), [Buffer.concat([arp, Buffer.alloc(4)])]);
    const toOther = pingFrame({ dst: Buffer.from('020000000042', 'hex') });
    assert.deepEqual(trunkToAccess(toOther), [untag(toOther)]);
    assert.equal(decodeEthernet(untag(arp)).dst, 'ff:ff:ff:ff:ff:ff');
    assert.ok(BROADCAST_MAC.equals(arp.subarray(0, 6)));
  });

  it('pads a popped runt to 60 bytes', async () => {
    tb = await createTestBed(SWITCH);
    const arp = arpRequestFrame(); // 64 bytes with the tag → 60 without
    const short = Buffer.concat([arp.subarray(0, 18 + 28)]); // 46 bytes, unpadded (the kernel may hand those over)
    const out = trunkToAccess(short);
    assert.equal(out[0].length, 60);
    assert.deepEqual(out[0].subarray(0, 42), Buffer.concat([short.subarray(0, 12), short.subarray(16)]));
    assert.deepEqual(out[0].subarray(42), Buffer.alloc(18));
  });

  it('counts forwarded frames in l2-output and on the interfaces', async () => {
    tb = await createTestBed(SWITCH);
    const before = counters(tb.dp);
    trunkToAccess(pingFrame());
    accessToTrunk(untag(pingFrame()));
    assert.deepEqual([...counterDelta(before, counters(tb.dp))], [['l2-output/L2 frames forwarded', 2]]);
    assert.equal(tb.dp.get('host-trunk0.123').counters.rxPackets, 1);
    assert.equal(tb.dp.get('host-trunk0.123').counters.txPackets, 1);
    assert.equal(tb.dp.get('host-access0').counters.rxPackets, 1);
    assert.equal(tb.dp.get('host-access0').counters.txPackets, 1);
    assert.equal(tb.dp.get('host-trunk0').counters.txPackets, 1, 'the parent counts what its sub-interface sends');
  });

  it('frames for other VLANs on the trunk are dropped, not forwarded', async () => {
    tb = await createTestBed(SWITCH);
    const before = counters(tb.dp);
    assert.deepEqual(trunkToAccess(pingFrame({ tags: [{ vid: 124 }] })), []);
    assert.deepEqual(trunkToAccess(pingFrame({ tags: [] })), [], 'untagged on the trunk: the trunk itself is not in L2 mode');
    const d = counterDelta(before, counters(tb.dp));
    assert.equal(d.get('ethernet-input/unknown vlan'), 1);
    assert.equal(d.get('l2-output/L2 frames forwarded'), undefined);
  });

  it('QinQ on the trunk is dropped (not supported yet)', async () => {
    tb = await createTestBed(SWITCH);
    assert.deepEqual(trunkToAccess(pingFrame({ tags: [{ tpid: ETH_P_8021AD, vid: 5 }, { vid: 123 }] })), []);
  });

  it('drops when the output interface is down, and forwards again when it is up', async () => {
    tb = await createTestBed(SWITCH);
    await tb.cli('set interface state host-access0 down');
    const before = counters(tb.dp);
    assert.deepEqual(trunkToAccess(pingFrame()), []);
    assert.deepEqual([...counterDelta(before, counters(tb.dp))], [['l2-output/output interface down', 1]]);
    await tb.cli('set interface state host-access0 up');
    assert.equal(trunkToAccess(pingFrame()).length, 1);
  });

  it('without tag-rewrite, VPP keeps the tag: trunk.123 → access leaves the frame tagged, access → trunk.123 sends it as is', async () => {
    tb = await createTestBed(SWITCH.filter((l) => !l.includes('tag-rewrite')));
    const tagged = pingFrame();
    assert.deepEqual(trunkToAccess(tagged), [tagged]);
    const plain = untag(tagged);
    assert.deepEqual(accessToTrunk(plain), [plain]);
  });

  it('`tag-rewrite disable` restores that behaviour', async () => {
    tb = await createTestBed([...SWITCH, 'set interface l2 tag-rewrite host-trunk0.123 disable']);
    const tagged = pingFrame();
    assert.deepEqual(trunkToAccess(tagged), [tagged]);
  });

  it('push dot1q on the access side instead: access → trunk pushes 123, trunk.123 → access pops it (egress inverse)', async () => {
    tb = await createTestBed([
      ...SWITCH.filter((l) => !l.includes('tag-rewrite')),
      'set interface l2 tag-rewrite host-access0 push dot1q 123',
    ]);
    const tagged = pingFrame();
    assert.deepEqual(accessToTrunk(untag(tagged)), [tagged]);
    assert.deepEqual(trunkToAccess(tagged), [untag(tagged)]);
  });

  it('push dot1q on a tagged sub-interface stacks a second tag (QinQ out)', async () => {
    tb = await createTestBed([
      ...SWITCH.filter((l) => !l.includes('tag-rewrite')),
      'set interface l2 tag-rewrite host-trunk0.123 push dot1q 200',
    ]);
    const out = trunkToAccess(pingFrame());
    assert.equal(out.length, 1);
    assert.deepEqual(decodeEthernet(out[0]).tags.map((t) => t.vid), [200, 123]);
  });

  it('`set interface l3` takes an interface out of L2 mode', async () => {
    tb = await createTestBed(SWITCH);
    await tb.cli('set interface l3 host-trunk0.123');
    assert.deepEqual(trunkToAccess(pingFrame()), []);
    assert.match(await tb.cli('show errors'), /l3 mac mismatch|interface has no IPv4 address/);
  });

  it('`show int addr` shows the cross-connects', async () => {
    tb = await createTestBed(SWITCH);
    const out = await tb.cli('show int addr');
    assert.match(out, /^host-trunk0\.123 \(up\):\n {2}L2 xconnect host-access0$/m);
    assert.match(out, /^host-access0 \(up\):\n {2}L2 xconnect host-trunk0\.123$/m);
  });

  it('rejects xconnect to itself, an address on an L2 interface, and L2 mode on an interface with addresses', async () => {
    tb = await createTestBed(SWITCH);
    let r = await tb.run('set interface l2 xconnect host-access0 host-access0');
    assert.equal(r.ok, false);
    assert.match(r.output, /^set interface l2 xconnect: .*itself/);
    r = await tb.run('set interface ip address host-access0 10.0.0.1/24');
    assert.equal(r.ok, false);
    assert.match(r.output, /L2 mode/);
    await tb.cli('set interface ip address host-trunk0 10.0.0.1/24');
    r = await tb.run('set interface l2 xconnect host-trunk0 host-access0');
    assert.equal(r.ok, false);
    assert.match(r.output, /has IP addresses/);
  });

  it('rejects bad tag-rewrite arguments with what is valid', async () => {
    tb = await createTestBed(SWITCH);
    for (const [line, message] of [
      ['set interface l2 tag-rewrite host-trunk0.123 pop 2', /expected an integer 1-1/],
      ['set interface l2 tag-rewrite host-trunk0.123 push dot1q 4095', /expected an integer 1-4094/],
      ['set interface l2 tag-rewrite host-trunk0.123 push dot1q 0', /expected an integer 1-4094/],
      ['set interface l2 tag-rewrite host-trunk0.123 translate 1-1 dot1q 5', /valid: pop, push, disable/],
      ['set interface l2 tag-rewrite host-trunk0.123 push dot1ad 5', /valid: dot1q/],
      ['set interface l2 tag-rewrite host-trunk0.123', /missing operation \(valid: pop, push, disable\)/],
    ] as const) {
      const r = await tb.run(line);
      assert.equal(r.ok, false, line);
      assert.match(r.output, message, line);
    }
  });

  // Whoever reads `show errors` must see why: not a tag-rewrite reason.
  it('a frame too big for the output interface is dropped under a reason that says so', async () => {
    tb = await createTestBed(SWITCH);
    const before = counters(tb.dp);
    assert.deepEqual(trunkToAccess(pingFrame({ data: Buffer.alloc(3000) })), []);
    const d = [...counterDelta(before, counters(tb.dp))];
    assert.equal(d.length, 1);
    assert.doesNotMatch(d[0][0], /tag rewrite/);
  });
});
