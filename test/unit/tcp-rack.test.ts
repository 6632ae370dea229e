/**
 * Loss recovery beyond RFC 6675: RACK (RFC 8985 §6) including lost retransmissions, Tail Loss
 * Probes (§7), PRR (RFC 6937), the rescue retransmission (RFC 6675 §5), and for connections
 * without SACK, RFC 3042 limited transmit and RFC 5827 early retransmit. Segment by segment.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TCP_ACK, TCP_FIN, TCP_SYN } from '../../src/wire/tcp.js';
import { TcpHarness } from '../../src/tcp/testing.js';
import type { SackRecovery } from '../../src/tcp/recovery-sack.js';

/**
 * The recovery arithmetic here (PRR's, NewReno's inflation, the RFC 6675 examples) is checked with
 * NewReno's halving (ssthresh = FlightSize / 2); CUBIC's own numbers are in tcp-congestion.test.ts
 * and tcp-undo.test.ts.
 */
const RENO = { congestionControl: 'newreno' } as const;

const A = TCP_ACK;
const MSS = 1460;

/** Handshake with a 100 ms RTT sample (SRTT 100, RTO 300). */
function open(h: TcpHarness, sackOk: boolean): void {
  const sa = h.in({ flags: TCP_SYN, seq: h.pIsn, mss: 1460, sackOk })[0];
  h.iss = sa.seq;
  h.now += 100;
  h.in({ flags: A, seq: h.pseq(), ack: h.seq() });
}

function setup(segments: number, sackOk = true) {
  const h = new TcpHarness(RENO);
  open(h, sackOk);
  h.conn!.write(Buffer.alloc(segments * MSS, 3));
  const first = h.flush();
  const S = (i: number) => h.seq(i * MSS);
  const ack = (n: number, sack?: [number, number][]) => h.in({ flags: A, seq: h.pseq(), ack: S(n), sack });
  return { h, S, ack, first };
}

const seqs = (h: TcpHarness, out: { seq: number; payload: Buffer }[]) =>
  out.filter((s) => s.payload.length > 0).map((s) => (s.seq - h.seq()) / MSS);

describe('tcp RACK loss detection (RFC 8985 §6)', () => {
  it('waits a reordering window after the first SACK, then marks the hole lost by time', () => {
    const { h, S, ack } = setup(10);
    h.now += 20;
    ack(1);
    h.now += 1;
    assert.deepEqual(seqs(h, ack(1, [[S(2), S(3)]])), [], 'one SACKed segment: maybe reordering');
    assert.equal(h.conn!.inRecovery, false);
    assert.notEqual(h.conn!.reoAt, Infinity, 'the reordering timer is armed');
    const r = h.advance(Math.ceil(h.conn!.reoAt - h.now));
    assert.equal(h.conn!.inRecovery, true);
    assert.deepEqual(seqs(h, r), [1], 'segment 1 retransmitted when the window passed');
    assert.equal(h.stack.counters.rackLost, 1);
    assert.equal(h.stack.counters.timeouts, 0);
  });

  it('detects a lost retransmission from a later segment being delivered, without an RTO', () => {
    const { h, S, ack } = setup(30);
    h.now += 20;
    ack(1);
    h.now += 1;
    ack(1, [[S(2), S(3)]]);
    ack(1, [[S(2), S(4)]]);
    const r1 = ack(1, [[S(2), S(5)]]); // DupThresh SACKed: segment 1 lost, retransmitted
    assert.deepEqual(seqs(h, r1).slice(0, 1), [1]);
    // The rest of the first flight is SACKed; PRR sends new data (sent after the retransmission).
    h.now += 5;
    const sent: number[] = [];
    for (let i = 6; i <= 10; i++) sent.push(...seqs(h, ack(1, [[S(2), S(i)]])));
    assert.ok(sent.length > 0 && sent.every((x) => x >= 10), `new data only: ${sent}`);
    assert.equal(h.stack.counters.retransmits, 1, 'segments SACKed meanwhile do not condemn the retransmission');
    // A segment sent after the retransmission arrives, the retransmission did not: it was lost.
    h.now += 20;
    const r2 = ack(1, [[S(sent[0]), S(sent[0] + 1)], [S(2), S(10)]]);
    assert.equal(seqs(h, r2)[0], 1, 'segment 1 sent a third time');
    assert.equal(h.stack.counters.lostRetransmits, 1);
    assert.equal(h.stack.counters.timeouts, 0);
    const all = ack(sent[sent.length - 1] + 1);
    void all;
    assert.equal(h.conn!.inRecovery, false);
  });

  it('after an RTO, resends only unSACKed segments and repairs a lost retransmission by RACK', () => {
    const { h, S, ack } = setup(10);
    h.now += 20;
    ack(1, [[S(3), S(4)]]);
    // Silence: the RTO (300 ms after the last ACK) deems every unSACKed segment lost.
    const r = h.advance(300);
    assert.deepEqual(seqs(h, r), [1], 'loss window of one segment');
    assert.equal((h.conn!.rec as SackRecovery).inLoss, true);
    h.now += 20;
    const r2 = ack(2, [[S(3), S(4)]]);
    assert.deepEqual(seqs(h, r2), [2, 4], 'slow start: two more, skipping the SACKed segment 3');
    h.now += 20;
    // Segment 4's retransmission arrives, segment 2's does not: RACK resends 2 at once.
    const r3 = ack(2, [[S(3), S(5)]]);
    assert.ok(seqs(h, r3).includes(2), `resent: ${seqs(h, r3)}`);
    assert.equal(h.stack.counters.timeouts, 1);
    assert.equal(h.stack.counters.lostRetransmits, 1);
  });
});

describe('tcp RACK reordering window on a fast path (issue 9: loss recovery as fast as Linux)', () => {
  /** Handshake with a 50 µs RTT (a LAN or the bench's bridge), `segments` written and sent. */
  function fast(segments: number) {
    const h = new TcpHarness(RENO);
    const sa = h.in({ flags: TCP_SYN, seq: h.pIsn, mss: 1460, sackOk: true })[0];
    h.iss = sa.seq;
    h.now += 0.05;
    h.in({ flags: A, seq: h.pseq(), ack: h.seq() });
    h.conn!.write(Buffer.alloc(segments * MSS, 3));
    h.flush();
    const S = (i: number) => h.seq(i * MSS);
    const ack = (n: number, sack?: [number, number][]) => h.in({ flags: A, seq: h.pseq(), ack: S(n), sack });
    return { h, S, ack, rec: () => h.conn!.rec as SackRecovery };
  }

  it('the window is min_RTT/4 measured from the send times, not a 1 ms floor', () => {
    const { h, S, ack } = fast(10);
    h.now += 0.05;
    ack(1);
    h.now += 0.01;
    ack(1, [[S(2), S(3)]]); // one SACKed segment: maybe reordering, wait a window
    assert.equal(h.conn!.inRecovery, false);
    const wait = h.conn!.reoAt - h.now;
    assert.ok(wait > 0 && wait < 0.05, `reordering timer ${wait} ms away: RACK.rtt + min_RTT/4 after the send, not 1 ms`);
  });

  it('a D-SACK does not count as reordering: later losses are repaired at the ACK, not after a window', () => {
    const { h, S, ack, rec } = fast(12);
    h.now += 0.05;
    ack(10); // the first ten arrived; 10 and 11 are out
    // A tail loss probe's answer: the duplicate D-SACKed (the probe's ACK of an arrived segment).
    h.now += 0.05;
    ack(12, [[S(11), S(12)]]);
    assert.equal(h.stack.counters.dsacksIn, 1);
    assert.equal(rec().reorderSeen, false, 'a duplicate is not a reordering (RFC 8985 §6.2 step 3)');
    h.conn!.write(Buffer.alloc(10 * MSS, 4));
    h.flush(); // segments 12..21
    h.now += 0.05;
    // 12 lost; 13, 14, 15 arrive: DupThresh SACKed, no reordering seen, so reo_wnd = 0.
    const r = ack(12, [[S(13), S(16)]]);
    assert.equal(h.conn!.inRecovery, true, 'fast recovery at this ACK');
    assert.deepEqual(seqs(h, r).slice(0, 1), [12], 'segment 12 retransmitted at once, no reordering timer');
  });

  it("several new SACK blocks in one ACK (the newest first) are not a reordering", () => {
    const { h, S, ack, rec } = fast(12);
    h.now += 0.05;
    ack(1);
    h.now += 0.01;
    // The ACK that reported [3,4) was lost: this one carries both holes' neighbours, newest first.
    ack(1, [[S(5), S(6)], [S(3), S(4)]]);
    assert.equal(rec().reorderSeen, false);
    // A segment that really arrives late, below what an earlier ACK reported, is one.
    h.now += 0.01;
    ack(1, [[S(2), S(4)], [S(5), S(6)]]);
    assert.equal(rec().reorderSeen, true);
  });
});

describe('tcp Tail Loss Probe (RFC 8985 §7)', () => {
  it('probes with the last segment at 2·SRTT + 2 ms when the tail of a flight is lost', () => {
    const { h, S, ack, first } = setup(4);
    assert.equal(first.length, 4);
    const t0 = h.now;
    const out = h.runFor(250);
    const probes = out.filter((x) => x.s.payload.length > 0);
    assert.equal(probes.length, 1);
    assert.equal(probes[0].t - t0, 202, 'PTO = 2·SRTT + 2 ms (as Linux), before the 300 ms RTO');
    assert.equal(probes[0].s.seq, S(3), 'the highest segment again');
    assert.equal(h.stack.counters.tailLossProbes, 1);
    // Its ACK (one RTT later) reveals the holes: fast recovery, not a timeout.
    h.now += 100;
    const r = [...ack(1, [[S(3), S(4)]]), ...h.advance(5)];
    assert.deepEqual(seqs(h, r), [1, 2]);
    assert.equal(h.conn!.inRecovery, true);
    assert.equal(h.stack.counters.timeouts, 0);
  });

  it('probes with the highest segment also when new data could go (the peer answers a duplicate at once)', () => {
    const { h, S, ack, first } = setup(12);
    assert.equal(first.length, 10, 'initial window');
    const r = h.advance(202);
    assert.deepEqual(r.map((s) => s.seq), [S(9)], 'segment 9 again, not the new segment 10');
    assert.equal(h.stack.counters.tailLossProbes, 1);
    // The flight had arrived (only its ACK was lost): the duplicate comes back D-SACKed.
    h.now += 100;
    const out = h.in({ flags: A, seq: h.pseq(), ack: S(10), sack: [[S(9), S(10)]] });
    assert.equal(h.stack.counters.dsacksIn, 1);
    assert.equal(h.conn!.inRecovery, false);
    assert.deepEqual(seqs(h, out), [10, 11], 'and the transfer goes on');
  });

  it('probes a second time, 2·PTO after the first, when neither is answered; then the RTO', () => {
    const h = new TcpHarness(RENO);
    const sa = h.in({ flags: TCP_SYN, seq: h.pIsn, mss: 1460, sackOk: true })[0];
    h.iss = sa.seq;
    h.now += 10; // SRTT 10 ms: PTO 22 ms, RTO 200 ms (the minimum)
    h.in({ flags: A, seq: h.pseq(), ack: h.seq() });
    h.conn!.write(Buffer.alloc(4 * MSS, 3));
    assert.equal(h.flush().length, 4);
    const t0 = h.now;
    const out = h.runFor(300).filter((x) => x.s.payload.length > 0);
    assert.deepEqual(out.map((x) => [x.t - t0, (x.s.seq - h.seq()) / MSS]), [[22, 3], [66, 3], [222, 0]], 'probe, probe, then the RTO (RTO armed at the first probe)');
    assert.equal(h.stack.counters.tailLossProbes, 2);
    assert.equal(h.stack.counters.timeouts, 1);
  });

  it('probes during fast recovery too, when a lost ACK leaves nothing but the RTO', () => {
    const { h, S, ack } = setup(10);
    h.now += 20;
    ack(1);
    ack(1, [[S(2), S(5)]]); // segment 1 lost: recovery, retransmission and PRR's sends
    assert.equal(h.conn!.inRecovery, true);
    assert.notEqual(h.conn!.ptoAt, Infinity, 'probe timer armed in recovery');
    const r = h.advance(Math.ceil(h.conn!.ptoAt - h.now));
    assert.equal(h.stack.counters.tailLossProbes, 1);
    assert.equal(seqs(h, r).length, 1, 'one probe');
    assert.ok(h.conn!.rtoAt > h.now + 100, 'the RTO waits behind it');
  });

  it('a lone last segment with FIN is probed after 2·SRTT plus the delayed-ACK allowance', () => {
    const h = new TcpHarness(RENO);
    open(h, true);
    h.conn!.write(Buffer.from('last'));
    h.conn!.end();
    const t0 = h.now;
    const d = h.flush();
    assert.equal(d.length, 1);
    assert.ok((d[0].flags & TCP_FIN) !== 0);
    const out = h.runFor(299);
    assert.equal(out.length, 1);
    assert.equal(out[0].t - t0, 242, '2·SRTT + 2 ms + 40 ms');
    assert.ok((out[0].s.flags & TCP_FIN) !== 0 && out[0].s.payload.toString() === 'last');
    assert.equal(h.stack.counters.timeouts, 0);
  });

  it('is not used without SACK (the RTO handles it)', () => {
    const { h } = setup(4, false);
    const t0 = h.now;
    const out = h.runFor(400).filter((x) => x.s.payload.length > 0);
    assert.equal(out[0].t - t0, 300);
    assert.equal(h.stack.counters.tailLossProbes, 0);
  });
});

describe('tcp PRR and the rescue retransmission (RFC 6937, RFC 6675 §5)', () => {
  it('cwnd is pipe + PRR sndcnt during recovery and ssthresh after it', () => {
    const { h, S, ack } = setup(10);
    h.now += 20;
    ack(1);
    ack(1, [[S(2), S(5)]]);
    const c = h.conn!;
    assert.equal(c.inRecovery, true);
    assert.equal(c.ssthresh, (9 * MSS) >> 1);
    // pipe was 5 segments (9 out, 3 SACKed, 1 lost) > ssthresh: proportional part of 3 delivered.
    assert.equal(c.cwnd, 5 * MSS + Math.ceil((3 * MSS * c.ssthresh) / (9 * MSS)));
    ack(10);
    assert.equal(c.inRecovery, false);
    assert.equal(c.cwnd, c.ssthresh);
  });

  it('retransmits the highest unSACKed segment once when nothing else may be sent', () => {
    const { h, S, ack } = setup(10);
    h.now += 20;
    ack(1);
    const r = ack(1, [[S(2), S(9)]]); // 1 lost; 9 (the tail) unknown, nothing sent after it
    assert.deepEqual(seqs(h, r), [1, 9]);
    assert.equal(h.stack.counters.rescueRetransmits, 1);
    assert.deepEqual(seqs(h, ack(1, [[S(2), S(9)]])), [], 'only once per recovery');
  });
});

describe('tcp without SACK: limited transmit (RFC 3042) and early retransmit (RFC 5827)', () => {
  it('the first two duplicate ACKs each send one new segment', () => {
    const { h, ack, first } = setup(14, false);
    assert.equal(first.length, 10);
    h.now += 20;
    ack(1);
    const cwnd = h.conn!.cwnd;
    assert.deepEqual(seqs(h, ack(1)).length, 1);
    assert.deepEqual(seqs(h, ack(1)).length, 1);
    assert.equal(h.conn!.cwnd, cwnd, 'cwnd unchanged');
    assert.equal(h.stack.counters.limitedTransmits, 2);
    assert.deepEqual(seqs(h, ack(1)), [1], 'third duplicate: fast retransmit');
  });

  it('with fewer than four segments outstanding and nothing new to send, DupThresh is oseg − 1', () => {
    const { h, ack } = setup(3, false);
    h.now += 20;
    assert.deepEqual(seqs(h, ack(0)), []);
    const r = ack(0);
    assert.deepEqual(seqs(h, r), [0], 'two duplicates for three outstanding segments');
    assert.equal(h.stack.counters.earlyRetransmits, 1);
    assert.equal(h.stack.counters.timeouts, 0);
  });
});
