/**
 * PcapDevice: classic pcap (LINKTYPE_ETHERNET, µs timestamps) of everything received and
 * sent, with VLAN metadata re-inserted as a tag; checked byte by byte and with real tshark.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryDevice } from '../../src/io/memory-device.js';
import { LINKTYPE_ETHERNET, PcapDevice, pcapGlobalHeader, PcapWriter } from '../../src/io/pcap.js';
import { TxBatch } from '../../src/io/device.js';
import { seedTestBed } from '../helpers/dataplane.js';
import { arpRequestFrame, ETH_P_8021AD, ETH_P_IPV4, ethernet, ipv4, icmpEcho, OUR_MAC, pingFrame } from '../helpers/frames.js';

interface Record {
  sec: number;
  usec: number;
  incl: number;
  orig: number;
  bytes: Buffer;
}

function readPcap(file: string): { header: Buffer; records: Record[] } {
  const b = readFileSync(file);
  const records: Record[] = [];
  let p = 24;
  while (p < b.length) {
    const incl = b.readUInt32LE(p + 8);
    records.push({ sec: b.readUInt32LE(p), usec: b.readUInt32LE(p + 4), incl, orig: b.readUInt32LE(p + 12), bytes: b.subarray(p + 16, p + 16 + incl) });
    p += 16 + incl;
  }
  assert.equal(p, b.length, 'the file ends at a record boundary');
  return { header: b.subarray(0, 24), records };
}

function hasTshark(): boolean {
  try {
    execFileSync('tshark', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Runs tshark on a file and returns one array of field values per packet. */
function tshark(file: string, fields: string[], extra: string[] = []): string[][] {
  const out = execFileSync(
    'tshark',
    ['-r', file, '-o', 'ip.check_checksum:TRUE', ...extra, '-T', 'fields', '-E', 'separator=|', ...fields.flatMap((f) => ['-e', f])],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
  );
  return out
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => l.split('|'));
}

describe('io/pcap', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'vpp-pcap-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the classic global header: magic a1b2c3d4 (µs), v2.4, snaplen, LINKTYPE_ETHERNET', () => {
    const h = pcapGlobalHeader(65535);
    assert.deepEqual(h, Buffer.from('d4c3b2a1 0200 0400 00000000 00000000 ffff0000 01000000'.replace(/ /g, ''), 'hex'));
    assert.equal(LINKTYPE_ETHERNET, 1);
  });

  it('records frames with µs timestamps, re-inserts metadata tags, truncates at the snap length', () => {
    const file = join(dir, 'writer.pcap');
    let t = 1_700_000_000_123.456;
    const w = new PcapWriter(file, { now: () => t, snapLength: 40 });
    const frame = ethernet({ tags: [], type: ETH_P_IPV4, payload: Buffer.alloc(46, 0x33) }); // 60 bytes
    w.add(frame, 0, frame.length);
    t += 1000.5;
    w.add(frame, 0, frame.length, 0x8100, 0x207b); // PCP 1, VID 123
    t += 1;
    const shortOne = Buffer.concat([Buffer.alloc(4), frame.subarray(0, 20)]);
    w.add(shortOne, 4, 20, 0x88a8, 5);
    w.close();
    w.close(); // idempotent
    const { header, records } = readPcap(file);
    assert.equal(header.readUInt32LE(16), 40, 'snaplen');
    assert.equal(records.length, 3);
    assert.deepEqual([records[0].sec, records[0].usec], [1_700_000_000, 123_456]);
    assert.deepEqual([records[1].sec, records[1].usec], [1_700_000_001, 123_956]);
    assert.deepEqual([records[0].incl, records[0].orig], [40, 60], 'cut to the snap length, original length kept');
    assert.deepEqual(records[0].bytes, frame.subarray(0, 40));
    assert.deepEqual([records[1].incl, records[1].orig], [40, 64], 'the tag adds 4 bytes');
    assert.deepEqual(records[1].bytes.subarray(0, 12), frame.subarray(0, 12), 'MACs first');
    assert.deepEqual(records[1].bytes.subarray(12, 16), Buffer.from('8100207b', 'hex'), 'then the tag');
    assert.deepEqual(records[1].bytes.subarray(16), frame.subarray(12, 36), 'then the EtherType and payload');
    assert.deepEqual([records[2].incl, records[2].orig], [24, 24]);
    assert.deepEqual(records[2].bytes.subarray(12, 16), Buffer.from('88a80005', 'hex'), 'an 802.1ad TPID is kept as given');
  });

  it('PcapDevice passes frames through unchanged and records rx and tx (or one direction)', () => {
    const inner = new MemoryDevice('eth9', Buffer.from('020000000009', 'hex'), 1500);
    const file = join(dir, 'dev.pcap');
    const dev = new PcapDevice(inner, file, { direction: 'both' });
    assert.equal(dev.ifname, 'eth9');
    assert.equal(dev.mtu, 1500);
    assert.deepEqual(dev.mac, inner.mac);
    const seen: Buffer[] = [];
    dev.start((rx) => {
      for (let i = 0; i < rx.count; i++) seen.push(Buffer.from(rx.data.subarray(rx.offset[i], rx.offset[i] + rx.length[i])));
      assert.equal(rx.vlanTpid[0], 0x8100, 'metadata is passed on untouched');
    });
    const frame = pingFrame({ tags: [] });
    inner.inject(frame, { vlanTci: 123 });
    inner.deliver();
    assert.deepEqual(seen, [frame], 'the handler sees the untagged bytes');
    const tx = new TxBatch(2, 2048);
    frame.copy(tx.data, tx.nextSlot());
    tx.commit(frame.length);
    assert.equal(dev.send(tx), 1);
    assert.deepEqual(inner.sent, [frame]);
    dev.close();
    const { records } = readPcap(file);
    assert.equal(records.length, 2);
    assert.equal(records[0].orig, frame.length + 4, 'received frame recorded with its tag');
    assert.deepEqual(records[1].bytes, frame, 'sent frame recorded as sent');

    const rxOnlyFile = join(dir, 'rx-only.pcap');
    const inner2 = new MemoryDevice('eth9', inner.mac);
    const rxOnly = new PcapDevice(inner2, rxOnlyFile, { direction: 'rx' });
    rxOnly.start(() => {});
    inner2.inject(frame);
    inner2.deliver();
    rxOnly.send(tx);
    rxOnly.close();
    assert.equal(readPcap(rxOnlyFile).records.length, 1);
  });

  it('a dataplane conversation decodes correctly in tshark (Ethernet, 802.1Q, ARP, IPv4, ICMP)', { skip: !hasTshark() && 'tshark not installed' }, async () => {
    const file = join(dir, 'conversation.pcap');
    const tb = await seedTestBed({ wrap: (d) => new PcapDevice(d, file) });
    // As AF_PACKET delivers them: tag stripped into metadata.
    tb.send(arpRequestFrame({ tags: [] }), { vlanTci: 123 });
    tb.send(pingFrame({ tags: [], id: 0x1f4a, seq: 7, data: Buffer.from('hello, pcap!') }), { vlanTci: 123 });
    // With the tag inline, as a trunk without offload delivers it.
    tb.send(pingFrame({ id: 0x1f4a, seq: 8 }));
    // A QinQ frame, outer 802.1ad tag as metadata: recorded (and dropped by the dataplane).
    tb.send(ethernet({ tags: [{ vid: 123 }], type: ETH_P_IPV4, payload: ipv4({ protocol: 1, payload: icmpEcho() }) }), { vlanTci: 100, vlanTpid: ETH_P_8021AD });
    tb.dp.close();

    const rows = tshark(file, [
      'frame.number',
      'eth.src',
      'eth.dst',
      'vlan.id',
      'vlan.etype',
      'arp.opcode',
      'arp.src.hw_mac',
      'arp.src.proto_ipv4',
      'arp.dst.proto_ipv4',
      'ip.src',
      'ip.dst',
      'ip.checksum.status',
      'icmp.type',
      'icmp.ident',
      'icmp.seq',
      'icmp.checksum.status',
    ]);
    const ours = 'c6:b4:b5:74:11:88';
    const client = '52:54:00:12:34:56';
    const bc = 'ff:ff:ff:ff:ff:ff';
    assert.deepEqual(rows, [
      // Gratuitous ARP when the address came up: sender = target = our IP, broadcast, VLAN 123.
      ['1', ours, bc, '123', '0x0806', '1', ours, '192.168.123.150', '192.168.123.150', '', '', '', '', '', '', ''],
      ['2', client, bc, '123', '0x0806', '1', client, '192.168.123.10', '192.168.123.150', '', '', '', '', '', '', ''],
      ['3', ours, client, '123', '0x0806', '2', ours, '192.168.123.150', '192.168.123.10', '', '', '', '', '', '', ''],
      ['4', client, ours, '123', '0x0800', '', '', '', '', '192.168.123.10', '192.168.123.150', '1', '8', '8010', '7', '1'],
      ['5', ours, client, '123', '0x0800', '', '', '', '', '192.168.123.150', '192.168.123.10', '1', '0', '8010', '7', '1'],
      ['6', client, ours, '123', '0x0800', '', '', '', '', '192.168.123.10', '192.168.123.150', '1', '8', '8010', '8', '1'],
      ['7', ours, client, '123', '0x0800', '', '', '', '', '192.168.123.150', '192.168.123.10', '1', '0', '8010', '8', '1'],
      ['8', client, ours, '123', '0x0800', '', '', '', '', '192.168.123.10', '192.168.123.150', '1', '8', '16962', '1', '1'],
    ]);
    // The echo data survives the round trip, and tshark links reply to request.
    const data = tshark(file, ['frame.number', 'data.data', 'icmp.resp_to'], ['-Y', 'icmp.seq == 7']);
    assert.deepEqual(data, [
      ['4', Buffer.from('hello, pcap!').toString('hex'), ''],
      ['5', Buffer.from('hello, pcap!').toString('hex'), '4'],
    ]);
    // The QinQ frame's outer tag is 802.1ad (S-tag 100), the inner one 802.1Q (C-tag 123).
    const qinq = tshark(file, ['eth.type', 'ieee8021ad.id', 'vlan.id', 'vlan.etype'], ['-Y', 'frame.number == 8']);
    assert.deepEqual(qinq, [['0x88a8', '100', '123', '0x0800']]);
    assert.ok(OUR_MAC.equals(Buffer.from(ours.replace(/:/g, ''), 'hex')));
  });
});
