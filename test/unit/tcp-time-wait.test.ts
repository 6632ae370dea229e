/**
 * TIME_WAIT: 60 s as Linux, a cap on entries like Linux's tcp_max_tw_buckets, and what happens
 * when a server closes connections faster than 60 s lets the entries go (the bench's ~25k new
 * connections per second): past the cap a closing connection gets its last ACK and no entry,
 * and is counted; the table stays at the cap; and a later incarnation of the same 4-tuple is
 * protected from the old one's duplicates by PAWS. Injected clock throughout.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TCP_ACK, TCP_FIN, TCP_SYN } from '../../src/wire/tcp.js';
import { LastSegmentSink, TcpHarness, closeOneConnection, listenAndClose } from '../../src/tcp/testing.js';
import { TcpStack } from '../../src/tcp/index.js';

const A = TCP_ACK;
const FA = TCP_FIN | TCP_ACK;

/** Opens a connection from port `port` and closes it (we close first) into TIME_WAIT or beyond. */
function closeFrom(h: TcpHarness, port: number): ReturnType<TcpHarness['in']> {
  h.rport = port;
  h.open({ ts: true });
  h.conn!.end();
  const fin = h.flush()[0];
  assert.equal(fin.flags & TCP_FIN, TCP_FIN);
  return h.in({ flags: FA, seq: h.pseq(), ack: h.seq(1), ts: h.ts(fin.tsVal!) });
}

const stateOf = (h: TcpHarness, port: number): string | undefined =>
  [...h.stack.sessions()].find((s) => s.remotePort === port)?.state;

describe('tcp TIME_WAIT duration and cap', () => {
  it('lasts 60 s by default (Linux TCP_TIMEWAIT_LEN)', () => {
    const h = new TcpHarness();
    assert.equal(h.stack.opts.timeWaitMs, 60_000);
    closeFrom(h, 1000);
    assert.equal(stateOf(h, 1000), 'TIME_WAIT');
    h.advance(59_999);
    assert.equal(stateOf(h, 1000), 'TIME_WAIT');
    h.advance(1);
    assert.equal(stateOf(h, 1000), undefined);
    assert.equal(h.stack.counters.timeWait, 0);
  });

  it('past maxTimeWait a closing connection is ACKed and destroyed without an entry, and counted', () => {
    const h = new TcpHarness({ maxTimeWait: 3 });
    for (let p = 1; p <= 3; p++) closeFrom(h, p);
    assert.equal(h.stack.counters.timeWait, 3);
    for (let p = 4; p <= 6; p++) {
      const out = closeFrom(h, p);
      assert.equal(out.length, 1, "the peer's FIN is acknowledged all the same");
      assert.equal(out[0].flags, A);
      assert.equal(out[0].ack, h.pseq(1));
      assert.equal(stateOf(h, p), undefined, 'no entry');
    }
    assert.equal(h.stack.counters.timeWait, 3);
    assert.equal(h.stack.counters.timeWaitOverflows, 3);
    assert.equal(h.stack.errors['time-wait-overflow'], 3);
    assert.equal(h.stack.counters.connections, 3, 'only the three entries are held');
    // The old entries expire 60 s after they were made; then closing connections get entries again.
    h.advance(60_000);
    assert.equal(h.stack.counters.timeWait, 0);
    closeFrom(h, 7);
    assert.equal(stateOf(h, 7), 'TIME_WAIT');
    assert.equal(h.stack.counters.timeWaitOverflows, 3);
  });

  it('without an entry, old duplicates of the connection cannot reach its next incarnation (PAWS)', () => {
    const h = new TcpHarness({ maxTimeWait: 0 });
    h.rport = 5555;
    h.open({ ts: true });
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(), data: 'first incarnation', ts: h.ts(0) });
    const oldTs = h.pTs;
    h.conn!.end();
    const fin = h.flush().find((s) => (s.flags & TCP_FIN) !== 0)!;
    h.in({ flags: FA, seq: h.pseq(17), ack: h.seq(1), ts: h.ts(fin.tsVal!) });
    assert.equal(stateOf(h, 5555), undefined);
    assert.equal(h.stack.counters.timeWaitOverflows, 1);
    // The same 4-tuple again at once, the peer's ISN only 10 above the old one, so that the old
    // data's sequence numbers fall inside the new window.
    const oldIsn = h.pIsn;
    h.pIsn = oldIsn + 10;
    h.received = Buffer.alloc(0);
    h.open({ ts: true });
    assert.equal(stateOf(h, 5555), 'ESTABLISHED');
    // A delayed duplicate of the first incarnation's data: in window, but with its old TSval.
    const out = h.in({ flags: A, seq: oldIsn + 1, ack: h.seq(), data: 'first incarnation', ts: [oldTs, 0] });
    assert.equal(h.stack.errors['paws'], 1, 'dropped by PAWS');
    assert.equal(h.received.length, 0, 'nothing of it delivered');
    assert.equal(out.length, 1, 'answered with an ACK of the new incarnation');
    assert.equal(out[0].ack, h.pseq());
    // The new incarnation's own data passes.
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(), data: 'second', ts: h.ts(0) });
    assert.equal(h.received.toString(), 'second');
  });

  it('at 25,000 new connections/s the cap is reached after 2 s and the table stays there', () => {
    const sink = new LastSegmentSink();
    const cap = 50_000;
    const stack = new TcpStack(sink, { secret: Buffer.alloc(32, 7), maxTimeWait: cap });
    const local = 0x0a000001;
    listenAndClose(stack, local);
    const scratch = Buffer.alloc(64);
    const rate = 25; // connections per ms
    let now = 1000;
    let peer = 0x0b000000;
    let closed = 0;
    let acks = 0;
    for (let ms = 0; ms < 3000; ms++, now++) {
      stack.tick(now);
      for (let i = 0; i < rate; i++) {
        if (closeOneConnection(stack, sink, local, peer++, now, scratch) === A) acks++;
        closed++;
      }
      assert.ok(stack.counters.timeWait <= cap);
    }
    const c = stack.counters;
    assert.equal(closed, 75_000);
    assert.equal(acks, closed, "every peer's FIN was acknowledged");
    assert.equal(c.timeWait, cap, 'the table holds the cap');
    assert.equal(c.timeWaitOverflows, closed - cap, 'the rest got no entry');
    assert.equal(c.connections, cap, 'nothing else is held');
    assert.equal(c.established + c.synReceived, 0);
    // 60 s after the first entries were made, they leave in the order they came and slots free up.
    now = 1000 + 60_000;
    stack.tick(now);
    assert.ok(c.timeWait < cap && c.timeWait > cap - 2 * rate);
    assert.equal(closeOneConnection(stack, sink, local, peer++, now, scratch), A);
    assert.equal(c.timeWaitOverflows, closed - cap, 'a free slot takes the next one');
  });
});

describe('tcp TIME_WAIT answers to segments it does not take (review-tcp1)', () => {
  it('SYNs that may not reopen it (old TSval) draw at most one ACK per 500 ms (Linux: tcp_timewait_check_oow_rate_limit; F1d)', () => {
    const h = new TcpHarness();
    closeFrom(h, 6100);
    assert.equal(stateOf(h, 6100), 'TIME_WAIT');
    let acks = 0;
    for (let i = 0; i < 20; i++) acks += h.in({ flags: TCP_SYN, seq: h.pseq(100_000 + i), mss: 1460, ts: [h.pTs - 1000, 0] }).length;
    assert.equal(acks, 1, `20 spoofed SYNs to a TIME_WAIT entry drew ${acks} ACKs`);
    assert.equal(stateOf(h, 6100), 'TIME_WAIT');
  });
});

describe('tcp TS.Recent in TIME_WAIT (review-tcp1 M4)', () => {
  type Entry = { remotePort: number; tsRecent: number; constructor: { name: string } };
  const entry = (h: TcpHarness, port: number): Entry => {
    // (sessions() returns copies: read the table's entry itself)
    const tw = [...h.stack.connections()].find((c) => c.remotePort === port) as unknown as Entry;
    assert.equal(tw.constructor.name, 'TimeWaitConnection');
    return tw;
  };

  it('an in-window segment with a garbage ACK field and a far-future TSval does not move TS.Recent (Linux: only a bare segment at RCV.NXT does; F6)', () => {
    const h = new TcpHarness();
    closeFrom(h, 6000);
    const tw = entry(h, 6000);
    const before = tw.tsRecent;
    // blind: the sequence number anywhere within 4 bytes below RCV.NXT, the ACK field a guess
    const out = h.in({ flags: A, seq: h.pseq(1 - 3), ack: 0xdeadbeef, data: 'zzzz', ts: [(h.pTs + 0x40000000) >>> 0, 0] });
    assert.equal(tw.tsRecent, before, 'TS.Recent was moved 2^30 ahead by a blind segment');
    assert.equal(out.length, 1, 'answered with an ACK, as Linux does');
    assert.equal(out[0].flags, A);
    // nor does a bare ACK at RCV.NXT whose ACK field is not SND.NXT
    h.in({ flags: A, seq: h.pseq(1), ack: 0xdeadbeef, ts: [(h.pTs + 0x40000000) >>> 0, 0] });
    assert.equal(tw.tsRecent, before);
    // the genuine client reconnects from the same port (RFC 6191: newer TSval → new incarnation)
    const syn = h.in({ flags: TCP_SYN, seq: h.pseq(100_000), mss: 1460, ts: [++h.pTs, 0] });
    assert.equal(syn[0]?.flags, TCP_SYN | TCP_ACK, 'the reconnect was refused');
  });

  it('a bare ACK at RCV.NXT acknowledging SND.NXT still moves TS.Recent', () => {
    const h = new TcpHarness();
    closeFrom(h, 6001);
    const tw = entry(h, 6001);
    const ts = (tw.tsRecent + 5) >>> 0;
    assert.deepEqual(h.in({ flags: A, seq: h.pseq(1), ack: h.seq(1), ts: [ts, 0] }), []);
    assert.equal(tw.tsRecent >>> 0, ts);
  });
});
