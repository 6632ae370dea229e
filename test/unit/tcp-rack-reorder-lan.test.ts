/**
 * Regression test from review r/tcp2 (fixed on h/tcpfix2) of the RACK reordering window (recovery-sack.ts reoWnd, 089120c): min_RTT now
 * comes from the send log in µs and the 1 ms floor is gone, but the bound is still SRTT, which on
 * a timestamp connection is averaged from whole-millisecond samples (ack-input.ts: rttSample(c,
 * r, true); r = 0 on a sub-ms path). SRTT decays towards 0 (seen: 0.00006 ms), so
 * reo_wnd = min(mult·min_RTT/4, SRTT) ≈ 0 whatever reordering or D-SACKs were seen: every
 * reordering on a LAN is a spurious fast retransmission (RFC 8985 §6.2 step 4 takes both in the
 * same clock; RFC 6298 §2 G). The tree before 089120c: 0 retransmissions on the same path.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { download } from '../helpers/tcp-pair.js';

describe('review: RACK on a 50 µs path that reorders by up to 10 µs (no loss)', () => {
  it('with timestamps: few spurious retransmissions (as without timestamps)', () => {
    const noTs = download({ delay: 0.025, jitter: 0.01, seed: 3 }, 10_000_000, { timestamps: false });
    const ts = download({ delay: 0.025, jitter: 0.01, seed: 3 }, 10_000_000, {});
    const a = noTs.net.b.counters.retransmits;
    const b = ts.net.b.counters.retransmits;
    assert.ok(b <= 20, `with timestamps ${b} retransmissions (${ts.net.now.toFixed(1)} ms) against ${a} without (${noTs.net.now.toFixed(1)} ms); no packet was lost`);
  });
});

import { TCP_ACK, TCP_SYN } from '../../src/wire/tcp.js';
import { TcpHarness } from '../../src/tcp/testing.js';
import type { SackRecovery } from '../../src/tcp/recovery-sack.js';

describe('review: RFC 8985 §6.2 step 3, a hole filled cumulatively by its original transmission', () => {
  it('sets RACK.reordering_seen (ackRecords never does; Linux tcp_clean_rtx_queue does)', () => {
    const MSS = 1460;
    const h = new TcpHarness({ congestionControl: 'newreno' });
    const sa = h.in({ flags: TCP_SYN, seq: h.pIsn, mss: 1460, sackOk: true })[0];
    h.iss = sa.seq;
    h.now += 20;
    h.in({ flags: TCP_ACK, seq: h.pseq(), ack: h.seq() });
    h.conn!.write(Buffer.alloc(10 * MSS, 3));
    h.flush();
    const S = (i: number) => h.seq(i * MSS);
    const ack = (n: number, sack?: [number, number][]) => h.in({ flags: TCP_ACK, seq: h.pseq(), ack: S(n), sack });
    h.now += 20;
    ack(1);
    h.now += 1;
    ack(1, [[S(2), S(3)]]); // segment 1 late: one SACKed above it, the reordering timer waits
    assert.equal(h.conn!.inRecovery, false);
    assert.equal(h.stack.counters.retransmits, 0);
    h.now += 1;
    ack(3); // segment 1 (sent once) arrives: the cumulative ACK covers it, below RACK.fack
    const rec = h.conn!.rec as SackRecovery;
    assert.equal(rec.reorderSeen, true, 'a never-retransmitted segment delivered below RACK.fack is a reordering');
  });
});
