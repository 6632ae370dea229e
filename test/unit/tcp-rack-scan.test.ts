/**
 * RACK's incremental loss scan (rack.ts, issue 12's "rackDetect stays linear"): the same segments
 * deemed lost as the walk over every outstanding segment (RFC 8985 §6.2 step 5), and a cost per
 * ACK that does not grow with the number of segments outstanding.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RackScan } from '../../src/tcp/rack.js';
import { R_EVER_RETRANS, R_LOST, R_RETRANS, R_SACKED, SentLog } from '../../src/tcp/sent-log.js';
import { prng } from '../helpers/tcp-pair.js';

const MSS = 1000;

/** A SentLog that counts how often a record's flags are read (the walk's unit of work). */
class CountingLog extends SentLog {
  reads = 0;
  override flags(k: number): number {
    this.reads++;
    return super.flags(k);
  }
}

/** The reference: RFC 8985's walk over every outstanding segment. */
function naive(log: SentLog, ro: number, span: number, now: number): { lost: number[]; dueAt: number } {
  const lost: number[] = [];
  let dueAt = Infinity;
  for (let k = log.lo; k < log.hi; k++) {
    if ((log.flags(k) & (R_SACKED | R_LOST)) !== 0 || log.order(k) > ro) continue;
    const due = log.time(k) + span;
    if (due <= now) lost.push(k);
    else if (due < dueAt) dueAt = due;
  }
  return { lost, dueAt };
}

function scanAll(scan: RackScan, log: SentLog, ro: number, span: number, now: number): number[] {
  const lost: number[] = [];
  scan.begin();
  for (let k = scan.next(log, ro, span, now); k >= 0; k = scan.next(log, ro, span, now)) {
    lost.push(k);
    log.setFlags(k, (log.flags(k) & R_EVER_RETRANS) | R_LOST);
  }
  return lost;
}

describe('RACK incremental scan (rack.ts)', () => {
  it('deems lost exactly what the full walk does, and waits for the earliest window, over random histories', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const rnd = prng(seed);
      const a = new SentLog();
      const b = new SentLog();
      const scan = new RackScan();
      let order = 0;
      let now = 0;
      let seq = 0;
      const n = 20 + Math.floor(rnd() * 60);
      for (let i = 0; i < n; i++) {
        now += rnd() < 0.3 ? 1 : 0;
        order++;
        for (const log of [a, b]) log.push(seq, seq + MSS, now, order);
        seq += MSS;
      }
      for (let step = 0; step < 30; step++) {
        now += rnd() * 3;
        const lo = a.lo;
        const hi = a.hi;
        const k = lo + Math.floor(rnd() * (hi - lo));
        const r = rnd();
        if (r < 0.4) {
          for (const log of [a, b]) log.setFlags(k, (log.flags(k) & R_EVER_RETRANS) | R_SACKED);
        } else if (r < 0.6 && (a.flags(k) & R_LOST) !== 0) {
          // a lost segment is retransmitted
          order++;
          for (const log of [a, b]) {
            log.setFlags(k, R_RETRANS | R_EVER_RETRANS);
            log.setSent(k, now, order);
          }
          scan.onRetransmit(a.start(k), order);
        } else if (r < 0.7 && a.count > 1) {
          for (const log of [a, b]) log.shift(); // cumulative ACK of the oldest
        }
        // RACK: the most recently sent delivered segment (or a random earlier transmission number)
        const ro = Math.floor(rnd() * order) + 1;
        const span = rnd() * 4;
        const want = naive(b, ro, span, now);
        for (const k2 of want.lost) b.setFlags(k2, (b.flags(k2) & R_EVER_RETRANS) | R_LOST);
        const got = scanAll(scan, a, ro, span, now);
        assert.deepEqual(got.sort((x, y) => x - y), want.lost, `seed ${seed} step ${step}: lost`);
        assert.equal(scan.dueAt, want.dueAt, `seed ${seed} step ${step}: reordering timer`);
      }
    }
  });

  it('reads each record a bounded number of times, however many are outstanding (no walk per ACK)', () => {
    const cost = (outstanding: number): number => {
      const log = new CountingLog();
      const scan = new RackScan();
      let seq = 0;
      let order = 0;
      let now = 0;
      for (let i = 0; i < outstanding; i++) {
        log.push(seq, seq + MSS, now, ++order);
        seq += MSS;
      }
      // The first segment is lost; every later one is SACKed in turn, one ACK each, with a
      // reordering window that keeps the hole waiting; then 1000 more ACKs with new data.
      log.reads = 0;
      for (let k = log.lo + 1; k < log.hi; k++) {
        log.setFlags(k, R_SACKED);
        now += 0.001;
        scanAll(scan, log, log.order(k), 1e9, now);
      }
      return log.reads / (outstanding - 1);
    };
    const small = cost(100);
    const big = cost(10_000);
    assert.ok(big < 4 && big <= small * 1.5, `reads per ACK: ${small.toFixed(2)} with 100 outstanding, ${big.toFixed(2)} with 10,000`);
  });

  it('after rewind() (an undo cleared the lost marks) the records are candidates again', () => {
    const log = new SentLog();
    const scan = new RackScan();
    for (let i = 0; i < 5; i++) log.push(i * MSS, (i + 1) * MSS, 0, i + 1);
    assert.deepEqual(scanAll(scan, log, 5, 1, 10), [0, 1, 2, 3, 4]);
    for (let k = 0; k < 5; k++) log.setFlags(k, 0);
    assert.deepEqual(scanAll(scan, log, 5, 1, 10), [], 'the hint is past them');
    for (let k = 0; k < 5; k++) log.setFlags(k, 0);
    scan.rewind();
    assert.deepEqual(scanAll(scan, log, 5, 1, 10), [0, 1, 2, 3, 4]);
  });
});
