/**
 * Regression test from review r/tcp2 (fixed on h/tcpfix2): RFC 3708 undo takes a D-SACK's size at face value (recovery-sack.ts onDsack:
 * segs = ceil((e - s) / MSS); spurious.ts DsackUndo.onDsack: retrans -= segs; only e > marker is
 * checked). One ACK whose first block is a "duplicate" of 1 MB ending just above the episode's
 * marker accounts for every retransmission of the episode: the congestion response is undone
 * although every retransmission was needed. RFC 3708 §5 (a receiver may lie; the sender should
 * check the D-SACK against what it retransmitted); Linux ignores a D-SACK longer than
 * max_window and counts no more duplicates than it retransmitted (tcp_dsack_seen: dsack_dups >
 * total_retrans -> ignored). A misbehaving client thereby disables our congestion control, and
 * an off-path attacker can make a Linux client emit such a block for it only within its segment size.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TCP_ACK, TCP_SYN } from '../../src/wire/tcp.js';
import { TcpHarness } from '../../src/tcp/testing.js';

const A = TCP_ACK;
const MSS = 1460;

function episode(forge: boolean) {
  const h = new TcpHarness({ congestionControl: 'newreno' });
  const sa = h.in({ flags: TCP_SYN, seq: h.pIsn, mss: 1460, sackOk: true })[0];
  h.iss = sa.seq;
  h.now += 100;
  h.in({ flags: A, seq: h.pseq(), ack: h.seq() });
  h.conn!.write(Buffer.alloc(30 * MSS, 3));
  h.flush();
  const S = (i: number) => h.seq(i * MSS);
  const ack = (n: number, sack?: [number, number][]) => h.in({ flags: A, seq: h.pseq(), ack: S(n), sack });
  h.now += 100;
  ack(1); // segments 1..5 lost, 6..9 arrive
  const before = h.conn!.cwnd;
  h.now += 1;
  ack(1, [[S(6), S(10)]]);
  assert.equal(h.conn!.inRecovery, true);
  for (let i = 0; i < 5; i++) h.advance(1);
  const rtx = h.stack.counters.retransmits;
  assert.ok(rtx >= 2, `retransmitted ${rtx}`);
  h.now += 100;
  // The retransmissions arrive (they were needed): ACK up to 10. A liar adds a 1 MB "duplicate".
  const sack: [number, number][] = forge ? [[(S(1) - 1_000_000) >>> 0, (S(1) + 1) >>> 0]] : [];
  ack(10, sack);
  return { undo: h.stack.counters.undoDsack, cwnd: h.conn!.cwnd, ssthresh: h.conn!.ssthresh, before, rtx };
}

describe('review: D-SACK undo against a D-SACK block larger than anything retransmitted', () => {
  it('one forged block does not undo an episode whose retransmissions were all needed', () => {
    const honest = episode(false);
    assert.equal(honest.undo, 0);
    const liar = episode(true);
    assert.equal(liar.undo, 0, `undone by one forged D-SACK: ${JSON.stringify({ honest, liar })}`);
  });
});
