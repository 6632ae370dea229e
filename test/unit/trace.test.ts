/**
 * PacketTracer (`trace add`, `show trace`, `clear trace`): VPP's timestamp and layout, budgets
 * that add up and reset, and the bounds that keep a careless `trace add` from eating memory.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataplaneError } from '../../src/dataplane/errors.js';
import { formatTraceTime, MAX_TRACE_LINES, MAX_TRACE_RECORDS, PacketTracer } from '../../src/dataplane/trace.js';

const golden = (name: string): string =>
  readFileSync(join(fileURLToPath(new URL('.', import.meta.url)), '../../../test/unit/golden', name), 'utf8');

function tracerAt(clock: { now: number }, capacity = 8): PacketTracer {
  return new PacketTracer(capacity, () => clock.now);
}

describe('dataplane/trace: PacketTracer', () => {
  it('formats time as VPP does: HH:MM:SS:uuuuuu, days not printed', () => {
    assert.equal(formatTraceTime(0), '00:00:00:000000');
    assert.equal(formatTraceTime(1024.099260), '00:00:01:024099');
    assert.equal(formatTraceTime((17 * 60 + 4) * 1000 + 99.26), '00:17:04:099260');
    assert.equal(formatTraceTime(((25 * 60 + 1) * 60 + 2) * 1000 + 0.001), '01:01:02:000001', '25 h → day dropped');
  });

  it('is disarmed until trace add; startVector gives ids to the first frames while the budget lasts', () => {
    const clock = { now: 5000 };
    const t = tracerAt(clock);
    assert.equal(t.armed, false);
    t.add('af-packet-input', 3);
    assert.equal(t.armed, true);
    t.startVector(2);
    assert.equal(t.tracedThisVector, true);
    assert.deepEqual([...t.frameTrace.subarray(0, 2)], [0, 1]);
    t.startVector(4);
    assert.deepEqual([...t.frameTrace.subarray(0, 4)], [2, -1, -1, -1], 'one left in the budget');
    assert.equal(t.remaining, 0);
    // The budget ran out: the next vector is not traced, and from then on the input node skips us.
    assert.equal(t.armed, true, 'armed for one more vector so that tracedThisVector is reset');
    t.startVector(3);
    assert.equal(t.tracedThisVector, false);
    assert.equal(t.armed, false);
    assert.equal(t.held, 3);
  });

  it('adds counts to the budget; count 0 resets it (VPP: tn->limit += add; add 0 resets)', () => {
    const t = tracerAt({ now: 0 });
    t.add('af-packet-input', 2);
    t.add('af-packet-input', 3);
    assert.equal(t.remaining, 5);
    t.add('af-packet-input', 0);
    assert.equal(t.remaining, 0);
    t.startVector(4);
    assert.equal(t.tracedThisVector, false);
    assert.equal(t.held, 0);
  });

  it('only input nodes support trace add, with VPP message; bad counts are refused', () => {
    const t = tracerAt({ now: 0 });
    assert.throws(
      () => t.add('ip4-input', 5),
      (e: unknown) => e instanceof DataplaneError && /^node 'ip4-input' doesn't support per-node tracing\. There may be another way to initiate trace on this node\./.test(e.message),
    );
    assert.throws(() => t.add('af-packet-input', -1), DataplaneError);
    assert.throws(() => t.add('af-packet-input', 1.5), DataplaneError);
    assert.equal(t.armed, false);
  });

  it('records node sections: a header when the node changes, lines indented by two (continuations too)', () => {
    const clock = { now: 1000 };
    const t = tracerAt(clock);
    t.add('af-packet-input', 1);
    t.startVector(1);
    clock.now += 3723_000.25; // 1 h 2 min 3 s 250 µs
    t.record(0, 'af-packet-input', 'af_packet: hw_if_index 1 next-index 4\n  tpacket2_hdr:\n    len 98');
    clock.now += 0.009;
    t.record(0, 'ethernet-input', 'frame: flags 0x1, hw-if-index 1, sw-if-index 1');
    t.record(0, 'ethernet-input', 'IP4: 52:54:00:12:34:56 -> c6:b4:b5:74:11:88 802.1q vlan 123');
    assert.equal(
      t.show(),
      [
        '------------------- Start of thread 0 vpp_main -------------------',
        'Packet 1',
        '',
        '01:02:03:000250: af-packet-input',
        '  af_packet: hw_if_index 1 next-index 4',
        '    tpacket2_hdr:',
        '      len 98',
        '01:02:03:000259: ethernet-input',
        '  frame: flags 0x1, hw-if-index 1, sw-if-index 1',
        '  IP4: 52:54:00:12:34:56 -> c6:b4:b5:74:11:88 802.1q vlan 123',
        '',
      ].join('\n'),
    );
  });

  it('show trace: golden layout of two packets, one dropped (error-drop, drop)', () => {
    const clock = { now: 0 };
    const t = tracerAt(clock);
    t.add('af-packet-input', 2);
    clock.now = 1024.09926;
    t.startVector(2);
    t.record(0, 'af-packet-input', 'af_packet: hw_if_index 1 rx-queue 0 next-index 4\n  tpacket2_hdr:\n    status 0x20000001 len 102 snaplen 102 mac 66 net 80\n    sec 0x676a1b2c nsec 0x1a2b3c4d vlan 123 vlan_tpid 33024');
    t.record(1, 'af-packet-input', 'af_packet: hw_if_index 1 rx-queue 0 next-index 4\n  tpacket2_hdr:\n    status 0x20000001 len 102 snaplen 102 mac 66 net 80\n    sec 0x676a1b2c nsec 0x1a2b3c4d vlan 124 vlan_tpid 33024');
    clock.now += 0.012;
    t.record(0, 'ethernet-input', 'frame: flags 0x1, hw-if-index 1, sw-if-index 1', 'IP4: 52:54:00:12:34:56 -> c6:b4:b5:74:11:88 802.1q vlan 123');
    t.record(1, 'ethernet-input', 'frame: flags 0x1, hw-if-index 1, sw-if-index 1', 'IP4: 52:54:00:12:34:56 -> c6:b4:b5:74:11:88 802.1q vlan 124');
    clock.now += 0.003;
    t.recordDrop(1, 'host-macvlan0', 'ethernet-input', 'unknown vlan');
    t.record(0, 'ip4-input', 'ICMP: 192.168.123.10 -> 192.168.123.150\n  tos 0x00, ttl 64, length 84, checksum 0x3f7c dscp CS0 ecn NON_ECN\n  fragment id 0xe516, flags DONT_FRAGMENT\nICMP echo_request checksum 0xc043 id 7');
    assert.equal(t.show(), golden('show-trace.txt').replace(/\n$/, ''));
  });

  it('show trace max N limits the display with VPP message; empty buffer says so', () => {
    const t = tracerAt({ now: 0 });
    assert.equal(t.show(), 'No packets in trace buffer');
    t.add('af-packet-input', 3);
    t.startVector(3);
    for (let i = 0; i < 3; i++) t.record(i, 'af-packet-input', `frame ${i}`);
    const out = t.show(2);
    assert.match(out, /^Packet 2$/m);
    assert.doesNotMatch(out, /^Packet 3$/m);
    assert.match(out, /Limiting display to 2 packets\. To display more specify max\.$/);
  });

  it('clear trace stops, cancels the budget and frees; ids held across it find nothing', () => {
    const t = tracerAt({ now: 0 });
    t.add('af-packet-input', 10);
    t.startVector(2);
    const stale = t.frameTrace[1];
    t.clear();
    assert.equal(t.armed, false);
    assert.equal(t.tracedThisVector, false);
    assert.equal(t.remaining, 0);
    assert.equal(t.show(), 'No packets in trace buffer');
    t.add('af-packet-input', 1);
    t.startVector(1);
    t.record(stale, 'ip4-lookup', 'from a frame that waited in a neighbour queue');
    t.record(-1, 'ip4-lookup', 'not traced');
    t.record(t.frameTrace[0], 'af-packet-input', 'new');
    assert.notEqual(t.frameTrace[0], stale, 'ids are not reused');
    assert.doesNotMatch(t.show(), /neighbour queue|not traced/);
    assert.match(t.show(), /^  new$/m);
  });

  it(`bounds: at most ${MAX_TRACE_RECORDS} records whatever the budget, ${MAX_TRACE_LINES} lines each`, () => {
    const capacity = 256;
    const t = tracerAt({ now: 0 }, capacity);
    t.add('af-packet-input', 100_000);
    assert.equal(t.remaining, MAX_TRACE_RECORDS, 'the budget is cut to the room in the buffer');
    let vectors = 0;
    while (t.armed) {
      t.startVector(capacity);
      vectors++;
    }
    assert.equal(t.held, MAX_TRACE_RECORDS);
    assert.equal(vectors, Math.ceil(MAX_TRACE_RECORDS / capacity) + 1);
    // Full: a further trace add gives no budget until clear trace.
    t.add('af-packet-input', 5);
    assert.equal(t.remaining, 0);
    const last = MAX_TRACE_RECORDS - 1;
    for (let i = 0; i < 100; i++) t.record(last, `node-${i % 2}`, `line ${i}`, 'x'.repeat(1000));
    const out = t.show(MAX_TRACE_RECORDS);
    const packet = out.slice(out.indexOf(`Packet ${MAX_TRACE_RECORDS}\n`));
    const lines = packet.split('\n').slice(2, -1).filter((l) => l !== '');
    assert.equal(lines.length, MAX_TRACE_LINES + 1, 'kept lines plus one that says how many were not kept');
    assert.match(lines[lines.length - 1], /^  \.\.\. 260 more trace lines not kept \(at most 40 per packet\)$/);
    assert.ok(lines.every((l) => l.length <= 256), 'long lines are cut');
  });
});
