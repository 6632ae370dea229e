/**
 * Regression test from review r/tcp2 (fixed on h/tcpfix2), low: RFC 7323 §5.5 (and Linux's TCP_PAWS_24DAYS in tcp_paws_check): TS.Recent
 * is invalid after 24 days without an update, and PAWS must not reject against it. We keep no
 * time of TS.Recent's last update (acceptance.ts), so on a connection idle for 25 days (at a peer
 * TS clock of 1 kHz the TSval moved by more than 2^31) every segment of the peer fails PAWS and
 * the connection is dead. With the deliberate TSecr choice of this session (a duplicate or a
 * keepalive's byte does not refresh TS.Recent, tcp-diff-cases TSECR_OF_DUPLICATE), keepalives
 * do not help either.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TCP_ACK } from '../../src/wire/tcp.js';
import { TcpHarness } from '../../src/tcp/testing.js';

describe('review: PAWS after 25 days idle (RFC 7323 §5.5)', () => {
  it('takes the peer data after a long idle period', () => {
    const h = new TcpHarness();
    h.open({ sackOk: true, ts: true });
    h.in({ flags: TCP_ACK, seq: h.pseq(), ack: h.seq(), data: 'a', ts: h.ts(0) });
    const DAYS25 = 25 * 86400 * 1000;
    h.now += DAYS25;
    h.pTs = (h.pTs + DAYS25) >>> 0;
    h.in({ flags: TCP_ACK, seq: h.pseq(1), ack: h.seq(), data: 'b', ts: h.ts(0) });
    assert.equal(h.received.toString(), 'ab', `after 25 days idle the peer's data was dropped by PAWS (errors ${JSON.stringify(h.stack.errors)})`);
  });
});
