import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TCP_ACK, TCP_SYN } from '../../src/wire/tcp.js';
import { TcpHarness } from '../../src/tcp/testing.js';
import { NewRenoRecovery } from '../../src/tcp/recovery-newreno.js';
import type { SackRecovery } from '../../src/tcp/recovery-sack.js';

/**
 * The recovery arithmetic here (PRR's, NewReno's inflation, the RFC 6675 examples) is checked with
 * NewReno's halving (ssthresh = FlightSize / 2); CUBIC's own numbers are in tcp-congestion.test.ts
 * and tcp-undo.test.ts.
 */
const RENO = { congestionControl: 'newreno' } as const;

const A = TCP_ACK;
const MSS = 1460;

/** The connection's SACK recovery state. */
const sack = (h: TcpHarness): SackRecovery => h.conn!.rec as SackRecovery;

function openSack(h: TcpHarness): void {
  const sa = h.in({ flags: TCP_SYN, seq: h.pIsn, mss: 1460, sackOk: true })[0];
  assert.equal(sa.sackOk, true);
  h.iss = sa.seq;
  h.now += 100;
  h.in({ flags: A, seq: h.pseq(), ack: h.seq() });
}

describe('tcp SACK-based loss recovery (RFC 2018, RFC 6675)', () => {
  /** Ten segments in flight; the peer got 0, lost 1 and 3. */
  function scenario() {
    const h = new TcpHarness(RENO);
    openSack(h);
    h.conn!.write(Buffer.alloc(10 * MSS, 7));
    assert.equal(h.flush().length, 10);
    const S = (i: number) => h.seq(i * MSS);
    const ack = (sack: [number, number][]) => h.in({ flags: A, seq: h.pseq(), ack: S(1), sack });
    h.now += 1; // the ACKs come one (sub-)RTT later: RACK's min_RTT is 1 ms, its window 0.25 ms
    h.in({ flags: A, seq: h.pseq(), ack: S(1) });
    return { h, S, ack };
  }

  it('records SACK blocks in the scoreboard', () => {
    const { h, S, ack } = scenario();
    ack([[S(2), S(3)]]);
    ack([[S(4), S(5)], [S(2), S(3)]]);
    assert.deepEqual(sack(h).sb.r.map((x) => x >>> 0), [S(2), S(3), S(4), S(5)]);
    assert.equal(h.conn!.inRecovery, false, 'not yet: fewer than DupThresh segments above the hole');
  });

  it('retransmits the first hole on loss, then a later hole once SACKs mark it lost, without a partial ACK', () => {
    const { h, S, ack } = scenario();
    ack([[S(2), S(3)]]);
    ack([[S(4), S(5)], [S(2), S(3)]]);
    let r = ack([[S(4), S(6)], [S(2), S(3)]]);
    assert.equal(h.conn!.inRecovery, true);
    assert.equal(r.length, 1);
    assert.equal(r[0].seq, S(1));
    assert.equal([...h.stack.sessions()][0].cwnd, Math.floor((9 * MSS) / 2), 'cwnd = ssthresh = FlightSize / 2');
    // Segment 3 is not yet "lost" (only 2 × MSS SACKed above it) and pipe is too big.
    r = ack([[S(4), S(7)], [S(2), S(3)]]);
    assert.deepEqual(r, []);
    r = ack([[S(4), S(8)], [S(2), S(3)]]);
    assert.equal(r.length, 1, 'pipe fell below cwnd: the next lost hole goes out');
    assert.equal(r[0].seq, S(3));
    assert.equal(r[0].payload.length, MSS);
    // The retransmissions arrive: a full ACK ends recovery.
    h.in({ flags: A, seq: h.pseq(), ack: S(10) });
    assert.equal(h.conn!.inRecovery, false);
    assert.equal(h.conn!.queuedBytes, 0);
    assert.equal(h.stack.counters.retransmits, 2);
  });

  it('after a timeout, go-back-N skips what the peer has SACKed', () => {
    const { h, S, ack } = scenario();
    ack([[S(2), S(10)]]);
    sack(h).inRecovery = false; // ignore fast recovery to look at the timeout path alone
    const r = h.advance(1000);
    assert.equal(r.length, 1);
    assert.equal(r[0].seq, S(1));
    const out = h.in({ flags: A, seq: h.pseq(), ack: S(2), sack: [[S(2), S(10)]] });
    assert.deepEqual(out.filter((s) => s.payload.length > 0).map((s) => s.seq), [], 'nothing left to resend');
  });

  it('ignores SACK blocks at or below the cumulative ACK or above SND.MAX', () => {
    const { h, S, ack } = scenario();
    ack([[S(0), S(1)]]);
    ack([[S(9), S(12)]]);
    assert.deepEqual(sack(h).sb.r, []);
  });

  it('does not use SACK when the peer did not offer it', () => {
    const h = new TcpHarness(RENO);
    h.open();
    h.conn!.write(Buffer.alloc(5 * MSS));
    h.flush();
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(MSS), sack: [[h.seq(2 * MSS), h.seq(3 * MSS)]] });
    assert.equal(h.conn!.sackOk, false);
    assert.ok(h.conn!.rec instanceof NewRenoRecovery, 'NewReno recovery: no scoreboard to record blocks in');
  });

  it('as receiver: at most 3 SACK blocks with timestamps, 4 without', () => {
    for (const ts of [true, false]) {
      const h = new TcpHarness(RENO);
      h.open({ sackOk: true, ts });
      let out: ReturnType<TcpHarness['in']> = [];
      for (let i = 1; i <= 5; i++) {
        out = h.in({ flags: A, seq: h.pseq(i * 10), ack: h.seq(), data: 'x', ts: ts ? h.ts(0) : undefined });
      }
      assert.equal(out[0].sack.length, ts ? 3 : 4);
      assert.deepEqual(out[0].sack[0], [h.pseq(50), h.pseq(51)], 'latest first');
    }
  });
});
