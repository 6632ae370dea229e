import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TCP_ACK, TCP_RST, TCP_SYN } from '../../src/wire/tcp.js';
import { TcpHarness } from '../../src/tcp/testing.js';

/**
 * The recovery arithmetic here (PRR's, NewReno's inflation, the RFC 6675 examples) is checked with
 * NewReno's halving (ssthresh = FlightSize / 2); CUBIC's own numbers are in tcp-congestion.test.ts
 * and tcp-undo.test.ts.
 */
const RENO = { congestionControl: 'newreno' } as const;

const A = TCP_ACK;
const MSS = 1460;

function info(h: TcpHarness) {
  return [...h.stack.sessions()][0];
}

/** Handshake whose SYN-ACK → ACK takes `rtt` ms (gives the first RTT sample). */
function openWithRtt(h: TcpHarness, rtt: number, o: { sackOk?: boolean; ts?: boolean } = {}): void {
  const sa = h.in({ flags: TCP_SYN, seq: h.pIsn, mss: 1460, sackOk: o.sackOk, ts: o.ts ? h.ts(0) : undefined })[0];
  h.iss = sa.seq;
  h.now += rtt;
  h.in({ flags: A, seq: h.pseq(), ack: h.seq(), ts: o.ts ? h.ts(sa.tsVal!) : undefined });
}

describe('tcp RTT estimation and RTO (RFC 6298)', () => {
  it('first sample: SRTT = R, RTTVAR = R/2, RTO = SRTT + 4·RTTVAR', () => {
    const h = new TcpHarness(RENO);
    openWithRtt(h, 100);
    const s = info(h);
    assert.equal(s.srtt, 100);
    assert.equal(s.rttvar, 50);
    assert.equal(s.rto, 300);
  });

  it('later samples: RTTVAR = 3/4·RTTVAR + 1/4·|SRTT − R|, SRTT = 7/8·SRTT + 1/8·R', () => {
    const h = new TcpHarness(RENO);
    openWithRtt(h, 100);
    h.conn!.write(Buffer.alloc(100));
    h.flush();
    h.now += 200;
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(100) });
    const s = info(h);
    assert.equal(s.rttvar, 0.75 * 50 + 0.25 * 100);
    assert.equal(s.srtt, 0.875 * 100 + 0.125 * 200);
    assert.equal(s.rto, s.srtt + 4 * s.rttvar);
  });

  it('RTO is at least rtoMin', () => {
    const h = new TcpHarness({ ...RENO, rtoMin: 200 });
    openWithRtt(h, 1);
    assert.equal(info(h).rto, 200);
  });

  it('measures RTT from echoed timestamps (RFC 7323 §4)', () => {
    const h = new TcpHarness(RENO);
    openWithRtt(h, 50, { ts: true });
    assert.equal(info(h).srtt, 50);
    h.conn!.write(Buffer.alloc(10));
    const d = h.flush()[0];
    h.now += 80;
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(10), ts: h.ts(d.tsVal!) });
    assert.equal(info(h).srtt, 0.875 * 50 + 0.125 * 80);
  });

  it('retransmits on timeout with exponential backoff, then aborts after maxRetries', () => {
    const h = new TcpHarness({ ...RENO, maxRetries: 4 });
    openWithRtt(h, 100); // RTO 300
    h.conn!.write(Buffer.from('data'));
    const t0 = h.now;
    assert.equal(h.flush().length, 1);
    const sent = h.runFor(100_000);
    const rtx = sent.filter((x) => x.s.payload.length > 0);
    assert.deepEqual(rtx.map((x) => x.t - t0), [300, 900, 2100, 4500]);
    for (const x of rtx) {
      assert.equal(x.s.seq, h.seq());
      assert.equal(x.s.payload.toString(), 'data');
    }
    const rst = sent.filter((x) => (x.s.flags & TCP_RST) !== 0);
    assert.equal(rst.length, 1);
    assert.equal(rst[0].t - t0, 9300);
    assert.equal(h.stack.errors['retransmit-timeout'], 1);
    assert.deepEqual(h.events, ['accept', 'close']);
    assert.equal(h.stack.counters.retransmits, 4);
  });

  it('caps the backed-off RTO at rtoMax', () => {
    const h = new TcpHarness({ ...RENO, maxRetries: 6, rtoMax: 1000 });
    openWithRtt(h, 100);
    h.conn!.write(Buffer.from('x'));
    const t0 = h.now;
    h.flush();
    const rtx = h.runFor(100_000).filter((x) => x.s.payload.length > 0);
    assert.deepEqual(rtx.map((x) => x.t - t0), [300, 900, 1900, 2900, 3900, 4900]);
  });

  it('an ACK of new data resets the retry count and the timer', () => {
    const h = new TcpHarness({ ...RENO, maxRetries: 2 });
    openWithRtt(h, 100);
    h.conn!.write(Buffer.alloc(3000));
    h.flush();
    h.advance(300); // first timeout: one segment again (cwnd = 1 MSS)
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(MSS) });
    assert.equal(h.conn!.retries, 0);
    assert.equal(info(h).state, 'ESTABLISHED');
  });

  it('after a timeout: cwnd = 1 MSS, go-back-N from SND.UNA, then slow start', () => {
    const h = new TcpHarness(RENO);
    openWithRtt(h, 100);
    h.conn!.write(Buffer.alloc(5 * MSS));
    assert.equal(h.flush().length, 5);
    const r = h.advance(300);
    assert.equal(r.length, 1, 'loss window of one segment');
    assert.equal(r[0].seq, h.seq());
    assert.equal(info(h).cwnd, MSS);
    assert.equal(info(h).ssthresh, Math.max((5 * MSS) >> 1, 2 * MSS));
    // Karn: that ACK covers a retransmission, no RTT sample (SRTT stays 100).
    const out = h.in({ flags: A, seq: h.pseq(), ack: h.seq(MSS) });
    assert.equal(info(h).srtt, 100);
    assert.deepEqual(out.map((s) => s.seq - h.seq()), [MSS, 2 * MSS], 'slow start: 2 segments');
    assert.equal(info(h).cwnd, 2 * MSS);
  });

  it('resets cwnd to the initial window after an idle period (RFC 5681 §4.1)', () => {
    const h = new TcpHarness(RENO);
    openWithRtt(h, 100);
    h.conn!.write(Buffer.alloc(20 * MSS));
    h.flush();
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(10 * MSS) });
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(20 * MSS) });
    assert.ok(info(h).cwnd > 10 * MSS);
    h.now += 10_000;
    h.conn!.write(Buffer.alloc(30 * MSS));
    assert.equal(h.flush().length, 10);
  });
});

describe('tcp fast retransmit and NewReno recovery (RFC 5681 §3.2, RFC 6582)', () => {
  function tenSegments(h: TcpHarness): void {
    openWithRtt(h, 100);
    h.conn!.write(Buffer.alloc(10 * MSS, 1));
    assert.equal(h.flush().length, 10);
  }
  const dup = (h: TcpHarness, n: number) => h.in({ flags: A, seq: h.pseq(), ack: h.seq(n * MSS) });

  it('three duplicate ACKs trigger a retransmission of the missing segment', () => {
    const h = new TcpHarness(RENO);
    tenSegments(h);
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(MSS) }); // segment 0 arrived, 1 lost
    assert.deepEqual(dup(h, 1), []);
    assert.deepEqual(dup(h, 1), []);
    const r = dup(h, 1);
    assert.equal(r.length, 1);
    assert.equal(r[0].seq, h.seq(MSS));
    assert.equal(r[0].payload.length, MSS);
    const s = info(h);
    const flight = 9 * MSS;
    assert.equal(s.ssthresh, flight >> 1);
    assert.equal(s.cwnd, (flight >> 1) + 3 * MSS);
    assert.equal(h.stack.counters.fastRetransmits, 1);
    // Further duplicates inflate cwnd by one MSS each.
    dup(h, 1);
    assert.equal(info(h).cwnd, (flight >> 1) + 4 * MSS);
  });

  it('a partial ACK retransmits the next hole at once; a full ACK ends recovery', () => {
    const h = new TcpHarness(RENO);
    tenSegments(h);
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(MSS) });
    dup(h, 1);
    dup(h, 1);
    dup(h, 1); // segments 1 and 4 lost
    dup(h, 1);
    const r = h.in({ flags: A, seq: h.pseq(), ack: h.seq(4 * MSS) });
    assert.equal(r.length, 1);
    assert.equal(r[0].seq, h.seq(4 * MSS), 'the partial ACK points at the next loss');
    assert.equal(h.conn!.inRecovery, true);
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(10 * MSS) });
    assert.equal(h.conn!.inRecovery, false);
    assert.equal(info(h).cwnd, 2 * MSS, 'min(ssthresh, max(FlightSize, SMSS) + SMSS)');
    assert.equal(h.conn!.queuedBytes, 0);
  });

  it('does not start a second recovery for duplicates of data sent before `recover`', () => {
    const h = new TcpHarness(RENO);
    tenSegments(h);
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(MSS) });
    dup(h, 1);
    dup(h, 1);
    dup(h, 1);
    h.advance(300); // RTO during recovery: recover = SND.MAX
    const before = h.stack.counters.fastRetransmits;
    dup(h, 1);
    dup(h, 1);
    dup(h, 1);
    assert.equal(h.stack.counters.fastRetransmits, before);
  });
});
