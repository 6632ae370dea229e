/**
 * PcapTrace (`pcap trace`): VPP's defaults, limits and file-name rule, a buffer allocated once,
 * capture that stops at max, per-interface filtering, and a file that real tshark reads with
 * the 802.1Q tag the kernel stripped put back.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { DataplaneError } from '../../src/dataplane/errors.js';
import {
  checkPcapTraceOptions,
  defaultPcapFileName,
  PCAP_MAX_BUFFER_BYTES,
  pcapFileNameProblem,
  mergePcapRecords,
  PcapTrace,
  type PcapTraceOptions,
} from '../../src/dataplane/pcap-trace.js';
import { CLIENT_MAC, ETH_P_8021Q, OUR_MAC, pingFrame } from '../helpers/frames.js';

const unique = `vpp-pcap-trace-${process.pid}-${randomBytes(4).toString('hex')}`;
const file = (stem: string) => `/tmp/${unique}-${stem}.pcap`;

function options(o: Partial<PcapTraceOptions> = {}): PcapTraceOptions {
  return { rx: true, tx: true, drop: false, max: 1000, maxBytesPerPacket: 512, swIndex: 0, file: file('t'), ...o };
}

function hasTshark(): boolean {
  try {
    execFileSync('tshark', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function tshark(path: string, fields: string[]): string[][] {
  const out = execFileSync('tshark', ['-r', path, '-T', 'fields', '-E', 'separator=|', ...fields.flatMap((f) => ['-e', f])], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return out
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => l.split('|'));
}

/** An untagged frame as AF_PACKET hands it over when the kernel stripped VLAN 123 into metadata. */
function strippedPing(seq: number): Buffer {
  return pingFrame({ seq, tags: [] });
}

/** An echo reply as interface-output sends it: tag inline. */
function taggedReply(seq: number): Buffer {
  return pingFrame({ seq, type: 0, dst: CLIENT_MAC, src: OUR_MAC, ipSrc: 0xc0a87b96, ipDst: 0xc0a87b0a, tags: [{ vid: 123 }] });
}

describe('dataplane/pcap-trace: PcapTrace', () => {
  before(() => {
    for (const f of ['t', 'link', 'target', 'snap', 'big']) rmSync(file(f), { force: true });
  });
  after(() => {
    for (const f of ['t', 'link', 'target', 'snap', 'big']) rmSync(file(f), { force: true });
  });

  it('file names: plain names only (VPP unformat_vlib_tmpfile); defaults from the stems', () => {
    assert.equal(pcapFileNameProblem('t.pcap'), null);
    assert.equal(pcapFileNameProblem('a/b.pcap'), "contains '/'");
    assert.equal(pcapFileNameProblem('../etc/passwd'), "contains '/'");
    assert.equal(pcapFileNameProblem('x..pcap'), "contains '..'");
    assert.equal(pcapFileNameProblem('..'), "contains '..'");
    assert.equal(pcapFileNameProblem(''), 'is empty');
    assert.equal(defaultPcapFileName({ rx: true, tx: false, drop: false }), 'rx.pcap');
    assert.equal(defaultPcapFileName({ rx: true, tx: true, drop: false }), 'rxtx.pcap');
    assert.equal(defaultPcapFileName({ rx: true, tx: true, drop: true }), 'rxtxdrop.pcap');
    assert.equal(defaultPcapFileName({ rx: false, tx: false, drop: true }), 'drop.pcap');
  });

  it('options: VPP limits (32-9000 bytes per packet, max >= 1), a bounded buffer, a file in /tmp', () => {
    const bad = (o: Partial<PcapTraceOptions>, re: RegExp) =>
      assert.throws(() => checkPcapTraceOptions(options(o)), (e: unknown) => e instanceof DataplaneError && re.test(e.message), JSON.stringify(o));
    bad({ maxBytesPerPacket: 31 }, /^Max bytes per pkt must be > 32, < 9000\.\.\.$/);
    bad({ maxBytesPerPacket: 9001 }, /Max bytes per pkt/);
    bad({ max: 0 }, /max 0 is not valid/);
    bad({ rx: false, tx: false }, /specify rx, tx and\/or drop/);
    bad({ max: 1_000_000 }, /needs 503\.5 MiB of capture buffer; the limit is 64 MiB \(at most max 127100 at max-bytes-per-pkt 512\)/);
    bad({ file: '/etc/t.pcap' }, /not in \/tmp/);
    bad({ file: '/tmp/../etc/t.pcap' }, /contains '\/'/);
    checkPcapTraceOptions(options({ maxBytesPerPacket: 32 }));
    checkPcapTraceOptions(options({ maxBytesPerPacket: 9000 }));
    checkPcapTraceOptions(options({ max: Math.floor(PCAP_MAX_BUFFER_BYTES / 528) }));
  });

  it('status and counts; capture stops silently at max; nothing captured means no file', () => {
    const p = new PcapTrace(options({ max: 3 }), () => 1_700_000_000_000);
    assert.equal(p.status(), `pcap rx and tx dispatch capture enabled: 0 of 3 pkts...\ncapture to file ${file('t')}`);
    const f = strippedPing(1);
    for (let i = 0; i < 5; i++) p.captureRx(f, 0, f.length, ETH_P_8021Q, 123, 1);
    assert.equal(p.captured, 3);
    assert.equal(p.full, true);
    assert.match(p.status(), /: 3 of 3 pkts\.\.\./);
    const none = new PcapTrace(options({ file: file('none'), drop: true, rx: false, tx: false }), () => 0);
    assert.equal(none.status().split('\n')[0], 'pcap drop dispatch capture enabled: 0 of 1000 pkts...');
    assert.equal(none.finish(), 'No packets captured...');
    assert.equal(existsSync(file('none')), false);
  });

  it('filters: rx only rx, tx only tx; intfc matches the sw index given', () => {
    const f = strippedPing(1);
    const rxOnly = new PcapTrace(options({ tx: false }), () => 0);
    rxOnly.captureTx(f, 0, f.length, 2);
    rxOnly.captureDrop(f, 0, f.length, 0, 0, 2);
    assert.equal(rxOnly.captured, 0);
    rxOnly.captureRx(f, 0, f.length, 0, 0, 1);
    assert.equal(rxOnly.captured, 1);
    const onSub = new PcapTrace(options({ swIndex: 2 }), () => 0);
    onSub.captureRx(f, 0, f.length, ETH_P_8021Q, 123, 1); // rx carries the parent's index: no match (as in VPP)
    onSub.captureTx(f, 0, f.length, 1);
    assert.equal(onSub.captured, 0);
    onSub.captureTx(f, 0, f.length, 2, 1);
    assert.equal(onSub.captured, 1);
    // tx on the parent: frames of its sub-interfaces match too (VPP's device output node).
    const onParent = new PcapTrace(options({ swIndex: 1 }), () => 0);
    onParent.captureTx(f, 0, f.length, 2, 1);
    onParent.captureTx(f, 0, f.length, 3, 3);
    assert.equal(onParent.captured, 1);
  });

  it('writes the file only on finish; tshark reads it with VID 123 in both directions (rx tag re-inserted)', { skip: !hasTshark() && 'tshark not installed' }, () => {
    let t = 1_700_000_000_123.456;
    const p = new PcapTrace(options({ max: 20 }), () => (t += 1));
    for (let seq = 1; seq <= 3; seq++) {
      const rx = strippedPing(seq);
      // At an offset inside a larger buffer, as in a ring.
      const ring = Buffer.concat([Buffer.alloc(100, 0xee), rx]);
      p.captureRx(ring, 100, rx.length, ETH_P_8021Q, (3 << 13) | 123, 1);
      const tx = taggedReply(seq);
      p.captureTx(tx, 0, tx.length, 2);
    }
    assert.equal(existsSync(file('t')), false, 'nothing is written while capturing');
    assert.equal(p.finish(), `Write 6 packets to ${file('t')}, and stop capture...`);
    const img = readFileSync(file('t'));
    assert.equal(img.readUInt32LE(0), 0xa1b2c3d4);
    assert.equal(img.readUInt32LE(16), 65536, 'snaplen as VPP writes it');
    assert.equal(img.readUInt32LE(20), 1, 'LINKTYPE_ETHERNET');
    assert.equal(img.readUInt32LE(24), 1_700_000_000, 'seconds of the first record');
    assert.equal(img.readUInt32LE(28), 124456, 'microseconds');
    const rows = tshark(file('t'), ['vlan.id', 'vlan.priority', 'ip.src', 'ip.dst', 'icmp.type', 'icmp.seq']);
    assert.deepEqual(rows, [
      ['123', '3', '192.168.123.10', '192.168.123.150', '8', '1'],
      ['123', '0', '192.168.123.150', '192.168.123.10', '0', '1'],
      ['123', '3', '192.168.123.10', '192.168.123.150', '8', '2'],
      ['123', '0', '192.168.123.150', '192.168.123.10', '0', '2'],
      ['123', '3', '192.168.123.10', '192.168.123.150', '8', '3'],
      ['123', '0', '192.168.123.150', '192.168.123.10', '0', '3'],
    ]);
    // Once finished, further frames are not captured.
    const f = strippedPing(9);
    p.captureRx(f, 0, f.length, 0, 0, 1);
    assert.equal(p.captured, 6);
  });

  it('keeps max-bytes-per-pkt bytes of a frame and the full length in orig_len', { skip: !hasTshark() && 'tshark not installed' }, () => {
    const p = new PcapTrace(options({ file: file('snap'), maxBytesPerPacket: 64 }), () => 1_700_000_000_000);
    const big = pingFrame({ tags: [], data: Buffer.alloc(1000, 0x61) });
    p.captureRx(big, 0, big.length, ETH_P_8021Q, 123, 1);
    p.finish();
    const img = readFileSync(file('snap'));
    assert.equal(img.readUInt32LE(24 + 8), 64, 'incl_len');
    assert.equal(img.readUInt32LE(24 + 12), big.length + 4, 'orig_len counts the re-inserted tag');
    assert.deepEqual(tshark(file('snap'), ['frame.len', 'frame.cap_len', 'vlan.id']), [[String(big.length + 4), '64', '123']]);
  });

  it('does not follow a symbolic link planted in /tmp; says how many packets were not written', () => {
    writeFileSync(file('target'), 'precious');
    symlinkSync(file('target'), file('link'));
    const p = new PcapTrace(options({ file: file('link') }), () => 0);
    const f = strippedPing(1);
    p.captureRx(f, 0, f.length, 0, 0, 1);
    assert.throws(() => p.finish(), /cannot write .*link\.pcap: it is a symbolic link; 1 packets not written/);
    assert.equal(readFileSync(file('target'), 'utf8'), 'precious');
  });
});

describe('dataplane/pcap-trace: worker threads', () => {
  it("merges every thread's records in time order, the first max of them, into one file tshark reads", { skip: !hasTshark() && 'tshark not installed' }, () => {
    // Three threads capturing at interleaved times (main: ping it sent; workers: what they read).
    const clocks = [[5, 50], [1, 3, 7, 9], [2, 4, 6, 8, 10]];
    const threads = clocks.map((times, i) => {
      let k = 0;
      const t = new PcapTrace(options({ max: 9, file: file(`merge${i}`) }), () => 1_700_000_000_000 + times[k++] * 1000);
      for (const ms of times) {
        const f = strippedPing(ms);
        t.captureRx(f, 0, f.length, 0, 0, 1);
      }
      return t;
    });
    const merged = mergePcapRecords(threads.map((t) => t.records()), 100);
    assert.equal(merged.count, 11);
    const main = threads[0];
    main.peerCaptured = 9;
    assert.match(main.status(), /: 9 of 9 pkts/, 'status counts every thread, up to max');
    main.addPeerRecords(threads[1].records());
    main.addPeerRecords(threads[2].records());
    assert.equal(main.finish(), `Write 9 packets to ${file('merge0')}, and stop capture...`, 'the first max frames of all threads');
    const rows = tshark(file('merge0'), ['frame.time_epoch', 'icmp.seq']);
    assert.deepEqual(
      rows.map((r) => Number(r[1])),
      [1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    const times = rows.map((r) => Number(r[0]));
    assert.deepEqual(times, [...times].sort((a, b) => a - b));
    rmSync(file('merge0'), { force: true });
  });
});
