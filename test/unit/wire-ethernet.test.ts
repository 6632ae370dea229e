/** Ethernet II and 802.1Q / 802.1ad headers: emit, parse, round-trip. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  dstMacOffset,
  ETH_HEADER_LEN,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_QINQ,
  ETHERTYPE_QINQ_LEGACY,
  ETHERTYPE_VLAN,
  etherType,
  isVlanTpid,
  srcMacOffset,
  VLAN_ID_MAX,
  VLAN_TAG_LEN,
  vlanId,
  vlanPcp,
  writeEthernet,
  writeEthernetVlan,
} from '../../src/wire/ethernet.js';
import { CLIENT_MAC, decodeEthernet, ethernet, OUR_MAC, tci } from '../helpers/frames.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('wire/ethernet', () => {
  it('constants match IEEE 802.3 / 802.1Q', () => {
    assert.equal(ETH_HEADER_LEN, 14);
    assert.equal(VLAN_TAG_LEN, 4);
    assert.equal(ETHERTYPE_IPV4, 0x0800);
    assert.equal(ETHERTYPE_ARP, 0x0806);
    assert.equal(ETHERTYPE_VLAN, 0x8100);
    assert.equal(ETHERTYPE_QINQ, 0x88a8);
    assert.equal(VLAN_ID_MAX, 4094);
    assert.equal(dstMacOffset, 0);
    assert.equal(srcMacOffset, 6);
  });

  it('emits an untagged header byte for byte, and parses it back', () => {
    const buf = Buffer.alloc(20, 0xee);
    assert.equal(writeEthernet(buf, 3, OUR_MAC, CLIENT_MAC, ETHERTYPE_ARP), 14);
    assert.deepEqual(buf.subarray(3, 17), hex('c6b4b5741188 525400123456 0806'));
    assert.equal(buf[2], 0xee, 'nothing written before the offset');
    assert.equal(buf[17], 0xee, 'nothing written after the header');
    assert.equal(etherType(buf, 3), ETHERTYPE_ARP);
    assert.deepEqual(buf.subarray(3 + dstMacOffset, 3 + dstMacOffset + 6), OUR_MAC);
    assert.deepEqual(buf.subarray(3 + srcMacOffset, 3 + srcMacOffset + 6), CLIENT_MAC);
  });

  it('emits an 802.1Q header (TPID 0x8100, TCI with VID) matching an independent builder', () => {
    const buf = Buffer.alloc(18);
    assert.equal(writeEthernetVlan(buf, 0, OUR_MAC, CLIENT_MAC, 123, ETHERTYPE_IPV4), 18);
    assert.deepEqual(buf, hex('c6b4b5741188 525400123456 8100 007b 0800'));
    const reference = ethernet({ dst: OUR_MAC, src: CLIENT_MAC, tags: [{ vid: 123 }], type: ETHERTYPE_IPV4, payload: Buffer.alloc(0), pad: false });
    assert.deepEqual(buf, reference);
    const d = decodeEthernet(buf);
    assert.deepEqual(d.tags, [{ tpid: 0x8100, tci: 123, vid: 123, pcp: 0 }]);
    assert.equal(d.type, ETHERTYPE_IPV4);
    assert.equal(etherType(buf, 0), ETHERTYPE_VLAN);
    assert.equal(etherType(buf, VLAN_TAG_LEN), ETHERTYPE_IPV4, 'the inner EtherType is one tag further');
  });

  it('keeps the VID to 12 bits', () => {
    const buf = Buffer.alloc(18);
    writeEthernetVlan(buf, 0, OUR_MAC, CLIENT_MAC, 4094, ETHERTYPE_IPV4);
    assert.equal(buf.readUInt16BE(14), 0x0ffe);
    writeEthernetVlan(buf, 0, OUR_MAC, CLIENT_MAC, 0x1000 | 5, ETHERTYPE_IPV4);
    assert.equal(buf.readUInt16BE(14), 5, 'bits above the VID never leak into PCP/DEI');
  });

  it('TCI fields: PCP, DEI, VID', () => {
    const t = tci({ vid: 123, pcp: 7, dei: true });
    assert.equal(t, 0xf07b);
    assert.equal(vlanId(t), 123);
    assert.equal(vlanPcp(t), 7);
    assert.equal(vlanId(0x0fff), 4095);
    assert.equal(vlanPcp(0x2000), 1);
  });

  it('recognises 802.1Q, 802.1ad and the legacy 0x9100 TPIDs only', () => {
    assert.ok(isVlanTpid(0x8100));
    assert.ok(isVlanTpid(0x88a8));
    assert.ok(isVlanTpid(ETHERTYPE_QINQ_LEGACY));
    for (const t of [0x0800, 0x0806, 0x86dd, 0x0000, 0xffff, 0x8101, 0x88a7]) assert.ok(!isVlanTpid(t), t.toString(16));
  });

  it('walks an 802.1ad QinQ tag stack (S-tag 0x88a8 then C-tag 0x8100)', () => {
    const frame = ethernet({
      tags: [{ tpid: 0x88a8, vid: 100, pcp: 3 }, { vid: 123 }],
      type: ETHERTYPE_IPV4,
      payload: Buffer.alloc(46),
    });
    let off = 0;
    const tags: number[] = [];
    while (isVlanTpid(etherType(frame, off))) {
      tags.push(frame.readUInt16BE(off + 14));
      off += VLAN_TAG_LEN;
    }
    assert.deepEqual(tags.map(vlanId), [100, 123]);
    assert.equal(vlanPcp(tags[0]), 3);
    assert.equal(etherType(frame, off), ETHERTYPE_IPV4);
    // Emit the same stack: an outer header whose EtherType is the S-tag TPID, then the S-tag TCI,
    // then (at +4) a header whose tag is the C-tag. The result matches the independent builder.
    const emitted = Buffer.alloc(frame.length);
    writeEthernetVlan(emitted, 4, OUR_MAC, CLIENT_MAC, 123, ETHERTYPE_IPV4); // C-tag at 16..20, type at 20
    writeEthernet(emitted, 0, OUR_MAC, CLIENT_MAC, ETHERTYPE_QINQ); // MACs and S-TPID at 12
    emitted.writeUInt16BE(tci({ vid: 100, pcp: 3 }), 14);
    assert.deepEqual(emitted.subarray(0, 22), frame.subarray(0, 22));
  });
});
