import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../../src/wire/tcp.js';
import { TcpHarness } from '../../src/tcp/testing.js';

const A = TCP_ACK;
const FA = TCP_FIN | TCP_ACK;

function state(h: TcpHarness): string | undefined {
  return [...h.stack.sessions()][0]?.state;
}

describe('tcp connection close (RFC 9293 §3.6)', () => {
  it('we close first: FIN_WAIT_1 → FIN_WAIT_2 → TIME_WAIT → CLOSED', () => {
    const h = new TcpHarness({ timeWaitMs: 1000 });
    h.open();
    h.conn!.end();
    let out = h.flush();
    assert.equal(out[0].flags, FA);
    assert.equal(out[0].seq, h.seq());
    assert.equal(state(h), 'FIN_WAIT_1');
    out = h.in({ flags: A, seq: h.pseq(), ack: h.seq(1) });
    assert.deepEqual(out, []);
    assert.equal(state(h), 'FIN_WAIT_2');
    out = h.in({ flags: FA, seq: h.pseq(), ack: h.seq(1) });
    assert.equal(out.length, 1);
    assert.equal(out[0].flags, A);
    assert.equal(out[0].ack, h.pseq(1));
    assert.equal(state(h), 'TIME_WAIT');
    assert.deepEqual(h.events, ['accept', 'end', 'close']);
    assert.equal(h.stack.counters.timeWait, 1);
    h.advance(999);
    assert.equal(state(h), 'TIME_WAIT');
    h.advance(1);
    assert.equal(state(h), undefined);
    assert.equal(h.stack.counters.connections, 0);
  });

  it('peer closes first: CLOSE_WAIT → LAST_ACK → CLOSED', () => {
    const h = new TcpHarness();
    h.open();
    let out = h.in({ flags: FA, seq: h.pseq(), ack: h.seq() });
    assert.equal(out.length, 1, 'a FIN is ACKed at once');
    assert.equal(out[0].ack, h.pseq(1));
    assert.equal(state(h), 'CLOSE_WAIT');
    assert.deepEqual(h.events, ['accept', 'end']);
    h.conn!.write(Buffer.from('last words'));
    h.conn!.end();
    assert.equal(state(h), 'LAST_ACK');
    out = h.flush();
    assert.equal(out.length, 1);
    assert.equal(out[0].flags & TCP_FIN, TCP_FIN);
    assert.equal(out[0].payload.toString(), 'last words');
    out = h.in({ flags: A, seq: h.pseq(1), ack: h.seq(11) });
    assert.deepEqual(out, []);
    assert.equal(state(h), undefined);
    assert.deepEqual(h.events, ['accept', 'end', 'close']);
  });

  it('the application may end() from onEnd: the FIN goes out with the ACK of the peer FIN', () => {
    const h = new TcpHarness();
    h.onEnd = (c) => c.end();
    h.open();
    const out = h.in({ flags: FA, seq: h.pseq(), ack: h.seq() });
    assert.equal(out.length, 1);
    assert.equal(out[0].flags, FA);
    assert.equal(out[0].ack, h.pseq(1));
    assert.equal(state(h), 'LAST_ACK');
  });

  it('simultaneous close: FIN_WAIT_1 → CLOSING → TIME_WAIT', () => {
    const h = new TcpHarness();
    h.open();
    h.conn!.end();
    h.flush();
    // The peer's FIN crosses ours: it does not acknowledge our FIN.
    let out = h.in({ flags: FA, seq: h.pseq(), ack: h.seq() });
    assert.equal(state(h), 'CLOSING');
    assert.equal(out.length, 1);
    assert.equal(out[0].ack, h.pseq(1));
    out = h.in({ flags: A, seq: h.pseq(1), ack: h.seq(1) });
    assert.equal(state(h), 'TIME_WAIT');
    assert.deepEqual(h.events, ['accept', 'end', 'close']);
  });

  it('FIN_WAIT_1 + FIN acknowledging our FIN → TIME_WAIT directly', () => {
    const h = new TcpHarness();
    h.open();
    h.conn!.end();
    h.flush();
    h.in({ flags: FA, seq: h.pseq(), ack: h.seq(1) });
    assert.equal(state(h), 'TIME_WAIT');
  });

  it('TIME_WAIT re-ACKs a retransmitted FIN and restarts its timer', () => {
    const h = new TcpHarness({ timeWaitMs: 1000 });
    h.open();
    h.conn!.end();
    h.flush();
    h.in({ flags: FA, seq: h.pseq(), ack: h.seq(1) });
    h.advance(800);
    const out = h.in({ flags: FA, seq: h.pseq(), ack: h.seq(1) });
    assert.equal(out.length, 1);
    assert.equal(out[0].flags, A);
    assert.equal(out[0].ack, h.pseq(1));
    h.advance(800);
    assert.equal(state(h), 'TIME_WAIT');
    h.advance(200);
    assert.equal(state(h), undefined);
  });

  it('a new SYN with a higher sequence number reuses a TIME_WAIT connection (RFC 6191)', () => {
    const h = new TcpHarness({ timeWaitMs: 60000 });
    h.open();
    const oldIss = h.iss;
    h.conn!.end();
    h.flush();
    h.in({ flags: FA, seq: h.pseq(), ack: h.seq(1) });
    assert.equal(state(h), 'TIME_WAIT');
    const out = h.in({ flags: TCP_SYN, seq: h.pseq(100000) });
    assert.equal(out.length, 1);
    assert.equal(out[0].flags, TCP_SYN | A);
    assert.equal(out[0].ack, h.pseq(100001));
    assert.ok(((out[0].seq - oldIss) | 0) > 0, 'the new ISN is above the old sequence space');
    assert.equal(state(h), 'SYN_RECEIVED');
    assert.equal(h.stack.counters.timeWaitReused, 1);
  });

  it('an old SYN (lower sequence number) does not reuse TIME_WAIT', () => {
    const h = new TcpHarness({ timeWaitMs: 60000 });
    h.open();
    h.conn!.end();
    h.flush();
    h.in({ flags: FA, seq: h.pseq(), ack: h.seq(1) });
    const out = h.in({ flags: TCP_SYN, seq: h.pIsn - 5000 });
    assert.equal(out.length, 1);
    assert.equal(out[0].flags, A, 'answered with an ACK, not a SYN-ACK');
    assert.equal(state(h), 'TIME_WAIT');
  });

  it('with timestamps, TIME_WAIT reuse needs a newer TSval', () => {
    const h = new TcpHarness({ timeWaitMs: 60000 });
    h.open({ ts: true });
    h.conn!.end();
    const fin = h.flush()[0];
    h.in({ flags: FA, seq: h.pseq(), ack: h.seq(1), ts: h.ts(fin.tsVal!) });
    const out = h.in({ flags: TCP_SYN, seq: h.pIsn - 5000, ts: h.ts(0) });
    assert.equal(out[0].flags, TCP_SYN | A, 'lower sequence number but newer timestamp');
  });

  it('RST does not assassinate TIME_WAIT (RFC 1337)', () => {
    const h = new TcpHarness({ timeWaitMs: 60000 });
    h.open();
    h.conn!.end();
    h.flush();
    h.in({ flags: FA, seq: h.pseq(), ack: h.seq(1) });
    h.in({ flags: TCP_RST, seq: h.pseq(1) });
    assert.equal(state(h), 'TIME_WAIT');
  });

  it('a challenged RST with a far-future TSval does not set TIME_WAIT\'s TS.Recent (RFC 7323 §5.3)', () => {
    const h = new TcpHarness({ timeWaitMs: 60000 });
    h.open({ ts: true });
    h.conn!.end();
    const fin = h.flush()[0];
    h.in({ flags: FA, seq: h.pseq(), ack: h.seq(1), ts: h.ts(fin.tsVal!) });
    assert.equal(state(h), 'TIME_WAIT');
    // In the window (not exactly RCV.NXT) and covering it: a challenge ACK.
    const out = h.in({ flags: TCP_RST, seq: h.pseq(0), data: 'xy', ts: [(h.pTs + 0x40000000) >>> 0, 0] });
    assert.equal(out.length, 1);
    assert.equal(out[0].flags, A);
    assert.equal(out[0].tsEcr, h.pTs, 'echoes the FIN\'s TSval, not the RST\'s');
    // A retransmitted FIN with a genuine TSval still passes PAWS (and restarts the 2MSL wait) ...
    h.now += 1000;
    const re = h.in({ flags: FA, seq: h.pseq(), ack: h.seq(1), ts: h.ts(fin.tsVal!) });
    assert.equal(re.length, 1);
    assert.equal(h.stack.errors['paws'], undefined);
    // ... and a new SYN with a newer TSval may still reuse the entry (RFC 6191).
    const syn = h.in({ flags: TCP_SYN, seq: h.pseq(100000), ts: h.ts(0) });
    assert.equal(syn[0].flags, TCP_SYN | A);
    assert.equal(h.stack.counters.timeWaitReused, 1);
  });

  it('retransmits an unacknowledged FIN', () => {
    const h = new TcpHarness();
    h.open();
    h.conn!.end();
    h.flush();
    const out = h.advance(1000);
    assert.equal(out.length, 1);
    assert.equal(out[0].flags, FA);
    assert.equal(out[0].seq, h.seq());
  });

  it('FIN_WAIT_2 gives up after finWait2Ms', () => {
    const h = new TcpHarness({ finWait2Ms: 5000 });
    h.open();
    h.conn!.end();
    h.flush();
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(1) });
    h.advance(5000);
    assert.equal(state(h), undefined);
    assert.deepEqual(h.events, ['accept', 'close']);
    assert.equal(h.stack.errors['fin-wait-2-timeout'], 1);
  });

  it('a FIN beyond a hole is processed when the hole fills', () => {
    const h = new TcpHarness();
    h.open();
    let out = h.in({ flags: FA, seq: h.pseq(3), ack: h.seq(), data: 'def' });
    assert.equal(out[0].ack, h.pseq());
    assert.equal(state(h), 'ESTABLISHED');
    out = h.in({ flags: A, seq: h.pseq(), ack: h.seq(), data: 'abc' });
    assert.equal(out[0].ack, h.pseq(7));
    assert.equal(state(h), 'CLOSE_WAIT');
    assert.deepEqual(h.events, ['accept', 'data:abc', 'data:def', 'end']);
  });

  it('a FIN without data beyond a hole is SACKed, and processed when the hole fills (no retransmission needed)', () => {
    const h = new TcpHarness();
    h.open({ sackOk: true });
    let out = h.in({ flags: FA, seq: h.pseq(10), ack: h.seq() });
    assert.equal(out.length, 1);
    assert.equal(out[0].ack, h.pseq());
    assert.deepEqual(out[0].sack, [[h.pseq(10), h.pseq(11)]], 'the FIN occupies one sequence number (as Linux SACKs it)');
    out = h.in({ flags: A, seq: h.pseq(), ack: h.seq(), data: '0123456789' });
    assert.equal(state(h), 'CLOSE_WAIT');
    assert.deepEqual(h.events, ['accept', 'data:0123456789', 'end']);
    assert.equal(out.length, 1, 'the ACK of data and FIN at once');
    assert.equal(out[0].ack, h.pseq(11));
    assert.deepEqual(out[0].sack, []);
  });

  it('data+FIN beyond a hole: the SACK block covers the FIN', () => {
    const h = new TcpHarness();
    h.open({ sackOk: true });
    let out = h.in({ flags: FA, seq: h.pseq(10), ack: h.seq(), data: 'abcde' });
    assert.deepEqual(out[0].sack, [[h.pseq(10), h.pseq(16)]]);
    // A second piece below it: the latest first, the FIN still covered.
    out = h.in({ flags: A, seq: h.pseq(3), ack: h.seq(), data: 'xy' });
    assert.deepEqual(out[0].sack, [
      [h.pseq(3), h.pseq(5)],
      [h.pseq(10), h.pseq(16)],
    ]);
  });

  it('a FIN alone beyond held data gets its own SACK block, first as the latest arrival', () => {
    const h = new TcpHarness();
    h.open({ sackOk: true });
    h.in({ flags: A, seq: h.pseq(3), ack: h.seq(), data: 'xy' });
    const out = h.in({ flags: FA, seq: h.pseq(10), ack: h.seq() });
    assert.deepEqual(out[0].sack, [
      [h.pseq(10), h.pseq(11)],
      [h.pseq(3), h.pseq(5)],
    ]);
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(), data: 'abc' });
    assert.equal(state(h), 'ESTABLISHED', 'a hole remains before the FIN');
    const fill = h.in({ flags: A, seq: h.pseq(5), ack: h.seq(), data: '56789' });
    assert.equal(fill[0].ack, h.pseq(11));
    assert.equal(state(h), 'CLOSE_WAIT');
    assert.equal(h.received.toString(), 'abcxy56789');
  });

  it('close(): new data in FIN_WAIT_2 gets <SEQ=SEG.ACK><CTL=RST> and is not ACKed (RFC 9293 §3.6.1, as Linux)', () => {
    const h = new TcpHarness();
    h.open();
    h.conn!.close();
    let out = h.flush();
    assert.equal(out[0].flags, FA);
    out = h.in({ flags: A, seq: h.pseq(), ack: h.seq(1) });
    assert.equal(state(h), 'FIN_WAIT_2');
    out = h.in({ flags: A, seq: h.pseq(), ack: h.seq(1), data: 'late' });
    assert.equal(out.length, 1);
    assert.equal(out[0].flags, TCP_RST);
    assert.equal(out[0].seq, h.seq(1));
    assert.equal(state(h), undefined);
    assert.deepEqual(h.events, ['accept', 'close'], 'the data was not delivered');
    assert.equal(h.stack.errors['data-after-close'], 1);
  });

  it('close(): also in FIN_WAIT_1; a pure ACK or a FIN without data closes normally', () => {
    const h = new TcpHarness();
    h.open();
    h.conn!.write(Buffer.from('response'));
    h.conn!.close();
    h.flush();
    // Data before the peer acknowledged anything of ours: RST at its ACK.
    const out = h.in({ flags: A, seq: h.pseq(), ack: h.seq(), data: 'x' });
    assert.equal(out.length, 1);
    assert.equal(out[0].flags, TCP_RST);
    assert.equal(out[0].seq, h.seq());
    assert.equal(state(h), undefined);

    const g = new TcpHarness();
    g.open();
    g.conn!.close();
    g.flush();
    g.in({ flags: A, seq: g.pseq(), ack: g.seq(1) });
    const fin = g.in({ flags: FA, seq: g.pseq(), ack: g.seq(1) });
    assert.equal(fin.length, 1);
    assert.equal(fin[0].flags, A);
    assert.equal(state(g), 'TIME_WAIT');
  });

  it('end() is a half close: data in FIN_WAIT_2 is still delivered and ACKed', () => {
    const h = new TcpHarness();
    h.open();
    h.conn!.end();
    h.flush();
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(1) });
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(1), data: 'more' });
    const out = h.advance(200);
    assert.equal(out.length, 1);
    assert.equal(out[0].flags, A);
    assert.equal(out[0].ack, h.pseq(4));
    assert.deepEqual(h.events, ['accept', 'data:more']);
    assert.equal(state(h), 'FIN_WAIT_2');
  });

  it('close() with data held unread (a paused reader) resets at once (RFC 2525)', () => {
    const h = new TcpHarness();
    h.open();
    h.conn!.pause();
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(), data: 'unread' });
    h.conn!.close();
    const out = h.sink.take();
    assert.equal(out.length, 1);
    assert.equal(out[0].flags & TCP_RST, TCP_RST);
    assert.equal(state(h), undefined);
    assert.equal(h.stack.errors['close-with-data-pending'], 1);
  });

  it('abort() sends <SEQ=SND.NXT><CTL=RST> and closes', () => {
    const h = new TcpHarness();
    h.open();
    h.conn!.write(Buffer.from('12345'));
    h.flush();
    h.conn!.abort();
    const out = h.sink.take();
    assert.equal(out.length, 1);
    assert.equal(out[0].flags & TCP_RST, TCP_RST);
    assert.equal(out[0].seq, h.seq(5));
    assert.deepEqual(h.events, ['accept', 'close']);
    assert.equal(h.stack.counters.connections, 0);
    assert.equal(h.stack.nextDeadline(), Infinity);
  });

  it('writes after end() are refused and counted', () => {
    const h = new TcpHarness();
    h.open();
    h.conn!.end();
    h.conn!.write(Buffer.from('late'));
    assert.equal(h.conn!.queuedBytes, 0);
    assert.equal(h.stack.errors['write-after-close'], 1);
  });
});
