/**
 * Undoing spurious recoveries, segment by segment: F-RTO after a timeout whose flight was in fact
 * delivered (RFC 5682), DSACK-based undo of a fast retransmit (RFC 3708), Eifel detection with
 * timestamps (RFC 3522) and the RFC 4015 response; and that genuine losses are not undone. Also
 * CUBIC's reduction as the connection applies it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TCP_ACK, TCP_SYN } from '../../src/wire/tcp.js';
import { TcpHarness } from '../../src/tcp/testing.js';
import type { DecodedSegment } from '../../src/tcp/testing.js';
import type { SackRecovery } from '../../src/tcp/recovery-sack.js';

const A = TCP_ACK;
const MSS = 1460;
/** Initial ssthresh ("infinite"). */
const SS_INIT = 0x7fffffff;

/** Handshake with a 100 ms RTT sample (SRTT 100, RTO 300, PTO 2·SRTT). */
function open(h: TcpHarness, ts: boolean): number {
  const sa = h.in({ flags: TCP_SYN, seq: h.pIsn, mss: 1460, sackOk: true, ts: ts ? h.ts(0) : undefined })[0];
  h.iss = sa.seq;
  h.now += 100;
  h.in({ flags: A, seq: h.pseq(), ack: h.seq(), ts: ts ? h.ts(sa.tsVal!) : undefined });
  return sa.tsVal ?? 0;
}

function setup(segments: number, o: { ts?: boolean; cc?: 'cubic' | 'newreno' } = {}) {
  const h = new TcpHarness({ congestionControl: o.cc ?? 'cubic' });
  open(h, o.ts ?? false);
  const M = h.conn!.sndMss; // 1460, or 1448 with the timestamp option
  h.conn!.write(Buffer.alloc(segments * M, 5));
  const first = h.flush();
  const S = (i: number) => h.seq(i * M);
  const ack = (n: number, sack?: [number, number][], tsEcr?: number) =>
    h.in({ flags: A, seq: h.pseq(), ack: S(n), sack, ts: tsEcr !== undefined ? h.ts(tsEcr) : undefined });
  return { h, S, ack, first, c: h.conn! };
}

const seqs = (h: TcpHarness, out: DecodedSegment[]) => out.filter((s) => s.payload.length > 0).map((s) => (s.seq - h.seq()) / MSS);

/** Runs the tail loss probe (2·SRTT), then the RTO; returns what the RTO sent. */
function toTimeout(h: TcpHarness): DecodedSegment[] {
  const c = h.conn!;
  h.advance(Math.ceil(c.ptoAt - h.now)); // the probe (nothing new to send: the last segment again)
  const r = h.advance(Math.ceil(c.rtoAt - h.now));
  assert.equal(h.stack.counters.timeouts, 1);
  return r;
}

describe('tcp F-RTO (RFC 5682) and the RFC 4015 response', () => {
  it('a timeout whose flight had arrived (only the ACKs were lost) is undone: ssthresh and cwnd come back', () => {
    const { h, S, ack, c, first } = setup(30);
    assert.equal(seqs(h, first).length, 10);
    assert.deepEqual(seqs(h, toTimeout(h)), [0], 'the RTO resends the first segment');
    assert.equal(c.cwnd, MSS);
    assert.equal(c.ssthresh, Math.floor(0.7 * 10) * MSS, 'CUBIC: β·cwnd');
    // The peer had everything: the ACK of the retransmission covers data never retransmitted.
    const out = ack(10);
    assert.equal(h.stack.counters.undoFrto, 1);
    assert.equal((c.rec as SackRecovery).inLoss, false);
    assert.equal(c.ssthresh, SS_INIT, 'ssthresh as before the timeout');
    // RFC 4015: cwnd = FlightSize (0 after this ACK) + min(bytes acknowledged, IW).
    assert.equal(c.cwnd, 10 * MSS);
    assert.deepEqual(seqs(h, out), [10, 11, 12, 13, 14, 15, 16, 17, 18, 19], 'new data at once, no go-back-N');
  });

  it('step 2b: when only the retransmission is acknowledged, two new segments go out instead of more retransmissions', () => {
    const { h, S, ack, c } = setup(30);
    toTimeout(h);
    const out = ack(1);
    assert.deepEqual(seqs(h, out), [10, 11], 'new data, not segment 1');
    assert.equal(h.stack.counters.undoFrto, 0);
    // Their ACK shows segments 1..9 were delivered after all (never retransmitted): spurious.
    const r = ack(12);
    assert.equal(h.stack.counters.undoFrto, 1);
    assert.equal((c.rec as SackRecovery).inLoss, false);
    assert.ok(seqs(h, r).length > 0 && seqs(h, r)[0] === 12);
  });

  it('step 3a: new data SACKed above a hole that stays means the loss was real: no undo, go-back-N goes on', () => {
    const { h, S, ack, c } = setup(30);
    toTimeout(h);
    ack(1); // → 10, 11 sent (step 2b)
    const r = ack(1, [[S(10), S(12)]]);
    assert.equal(h.stack.counters.undoFrto, 0);
    assert.equal((c.rec as SackRecovery).inLoss, true);
    assert.equal(c.ssthresh, 7 * MSS, 'the reduction stands');
    assert.equal(seqs(h, r)[0], 1, 'the lost segments are retransmitted');
  });
});

describe('tcp DSACK-based undo (RFC 2883, RFC 3708)', () => {
  function fastRetransmit() {
    const t = setup(10);
    t.h.now += 20;
    t.ack(1);
    const prior = { cwnd: t.c.cwnd, ssthresh: t.c.ssthresh };
    const r = t.ack(1, [[t.S(2), t.S(5)]]); // DupThresh segments SACKed: 1 is lost
    assert.equal(t.c.inRecovery, true);
    assert.equal(seqs(t.h, r)[0], 1);
    const rexmits = seqs(t.h, r);
    assert.ok(Math.abs(t.c.ssthresh - 0.7 * prior.cwnd) <= 1, `CUBIC: ssthresh = β·cwnd (${t.c.ssthresh} vs ${prior.cwnd})`);
    return { ...t, prior, rexmits };
  }

  it('the peer reports every retransmission as a duplicate: the recovery is undone', () => {
    const { h, S, c, prior, rexmits } = fastRetransmit();
    assert.deepEqual(rexmits, [1, 9], 'the lost segment and the rescue retransmission of the tail');
    // Segment 1 was only reordered: everything arrives, and both retransmissions come back D-SACKed.
    h.in({ flags: A, seq: h.pseq(), ack: S(10), sack: [[S(1), S(2)]] });
    assert.equal(h.stack.counters.dsacksIn, 1);
    assert.equal(h.stack.counters.undoDsack, 0, 'one of two: not yet');
    h.in({ flags: A, seq: h.pseq(), ack: S(10), sack: [[S(9), S(10)]] });
    assert.equal(h.stack.counters.dsacksIn, 2);
    assert.equal(h.stack.counters.undoDsack, 1);
    assert.equal(c.inRecovery, false);
    assert.equal(c.ssthresh, prior.ssthresh);
    assert.ok(c.cwnd >= prior.cwnd, `cwnd ${c.cwnd} back to at least ${prior.cwnd}`);
  });

  it('without a D-SACK the recovery stands', () => {
    const { h, S, c, prior } = fastRetransmit();
    h.in({ flags: A, seq: h.pseq(), ack: S(10) });
    assert.equal(h.stack.counters.undoDsack, 0);
    assert.ok(c.ssthresh < prior.ssthresh);
    assert.equal(c.cwnd, c.ssthresh, 'recovery ends at ssthresh');
  });

  it('a D-SACK of data older than the episode does not count', () => {
    const { h, S, c } = fastRetransmit();
    h.in({ flags: A, seq: h.pseq(), ack: S(10), sack: [[h.seq(-MSS), h.seq(0)]] });
    assert.equal(h.stack.counters.dsacksIn, 1);
    assert.equal(h.stack.counters.undoDsack, 0);
    assert.equal(c.inRecovery, false);
  });
});

describe('tcp Eifel detection (RFC 3522)', () => {
  it('an ACK echoing the original transmission\'s timestamp after an RTO undoes it', () => {
    const { h, ack, c } = setup(10, { ts: true });
    const tsOrig = h.conn!.tsNow(h.now); // the flight left now
    toTimeout(h);
    assert.ok(h.conn!.tsNow(h.now) > tsOrig, 'the retransmission carries a later TSval');
    ack(10, undefined, tsOrig); // the ACK the original triggered, late
    assert.equal(h.stack.counters.undoEifel, 1);
    assert.equal(h.stack.counters.undoFrto, 0, 'decided once');
    assert.equal((c.rec as SackRecovery).inLoss, false);
    assert.equal(c.ssthresh, SS_INIT);
  });

  it('an ACK echoing the retransmission is not spurious for Eifel', () => {
    const { h, ack, c } = setup(10, { ts: true });
    toTimeout(h);
    const reduced = c.ssthresh;
    ack(1, undefined, h.conn!.tsNow(h.now)); // only the retransmission arrived
    assert.equal(h.stack.counters.undoEifel, 0);
    assert.equal(c.ssthresh, reduced, 'the reduction stands');
    assert.equal((c.rec as SackRecovery).inLoss, true);
  });
});

describe('tcp congestion control on the connection', () => {
  it('CUBIC by default, NewReno selectable: the fast-retransmit reductions differ as the RFCs say', () => {
    for (const cc of ['cubic', 'newreno'] as const) {
      const { h, S, ack, c } = setup(10, { cc });
      h.now += 20;
      ack(1);
      const cwnd = c.cwnd;
      const flight = 9 * MSS;
      ack(1, [[S(2), S(5)]]);
      const want = cc === 'cubic' ? 0.7 * cwnd : flight >> 1;
      assert.ok(Math.abs(c.ssthresh - want) <= 1, `${cc}: ssthresh ${c.ssthresh}, expected ${want}`);
    }
    assert.equal(new TcpHarness().stack.opts.congestionControl, 'cubic');
  });
});
