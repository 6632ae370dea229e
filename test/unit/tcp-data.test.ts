import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TCP_ACK, TCP_FIN, TCP_PSH } from '../../src/wire/tcp.js';
import { TcpHarness } from '../../src/tcp/testing.js';

const A = TCP_ACK;

describe('tcp receive path (RFC 9293 §3.10.7.4, RFC 5681 §4.2)', () => {
  it('delivers in-order data and delays the ACK of a single segment (≤ 40 ms)', () => {
    const h = new TcpHarness();
    h.open();
    assert.deepEqual(h.in({ flags: A, seq: h.pseq(), ack: h.seq(), data: 'hello' }), []);
    assert.deepEqual(h.events, ['accept', 'data:hello']);
    assert.deepEqual(h.advance(39), []);
    const out = h.advance(1);
    assert.equal(out.length, 1);
    assert.equal(out[0].flags, A);
    assert.equal(out[0].ack, h.pseq(5));
    assert.equal(out[0].seq, h.seq());
  });

  it('ACKs every second full-sized segment at once', () => {
    const h = new TcpHarness();
    h.open();
    const big = Buffer.alloc(1460, 0x61);
    assert.deepEqual(h.in({ flags: A, seq: h.pseq(), ack: h.seq(), data: big }), []);
    const out = h.in({ flags: A, seq: h.pseq(1460), ack: h.seq(), data: big });
    assert.equal(out.length, 1);
    assert.equal(out[0].ack, h.pseq(2920));
  });

  it('piggybacks the ACK on the response written during onData', () => {
    const h = new TcpHarness();
    h.onData = (c) => c.write(Buffer.from('HTTP/1.1 200 OK\r\n\r\n'));
    h.open();
    const out = h.in({ flags: A, seq: h.pseq(), ack: h.seq(), data: 'GET / HTTP/1.1\r\n\r\n' });
    assert.equal(out.length, 1);
    assert.equal(out[0].flags, A | TCP_PSH);
    assert.equal(out[0].ack, h.pseq(18));
    assert.equal(out[0].payload.toString(), 'HTTP/1.1 200 OK\r\n\r\n');
    // The delayed-ACK timer has nothing left to do.
    assert.deepEqual(h.advance(100), []);
  });

  it('advertises the receive buffer scaled by our shift', () => {
    const h = new TcpHarness();
    h.open({ wscale: 0 });
    const out = h.in({ flags: A, seq: h.pseq(), ack: h.seq(), data: Buffer.alloc(3000) });
    assert.equal(out[0].window, (256 * 1024) >> 3);
  });

  it('reassembles out-of-order data with holes, SACKing what it holds (RFC 2018)', () => {
    const h = new TcpHarness();
    h.open({ sackOk: true });
    const seg = (i: number) => Buffer.alloc(100, 0x30 + i);
    // Segments 1 and 3 arrive first (0-based), then 0, then 2.
    let out = h.in({ flags: A, seq: h.pseq(100), ack: h.seq(), data: seg(1) });
    assert.equal(out.length, 1, 'immediate duplicate ACK');
    assert.equal(out[0].ack, h.pseq());
    assert.deepEqual(out[0].sack, [[h.pseq(100), h.pseq(200)]]);
    out = h.in({ flags: A, seq: h.pseq(300), ack: h.seq(), data: seg(3) });
    assert.equal(out[0].ack, h.pseq());
    assert.deepEqual(out[0].sack, [
      [h.pseq(300), h.pseq(400)],
      [h.pseq(100), h.pseq(200)],
    ], 'the most recent block first');
    assert.deepEqual(h.events, ['accept']);
    assert.equal([...h.stack.sessions()][0].recvQueue, 200);
    out = h.in({ flags: A, seq: h.pseq(), ack: h.seq(), data: seg(0) });
    assert.equal(out.length, 1, 'filling a hole is ACKed at once');
    assert.equal(out[0].ack, h.pseq(200));
    assert.deepEqual(out[0].sack, [[h.pseq(300), h.pseq(400)]]);
    out = h.in({ flags: A, seq: h.pseq(200), ack: h.seq(), data: seg(2) });
    assert.equal(out[0].ack, h.pseq(400));
    assert.deepEqual(out[0].sack, []);
    assert.equal(h.received.toString(), '0'.repeat(100) + '1'.repeat(100) + '2'.repeat(100) + '3'.repeat(100));
    assert.equal(h.stack.counters.outOfOrderSegments, 2);
  });

  it('trims overlapping retransmissions and ACKs pure duplicates at once', () => {
    const h = new TcpHarness();
    h.open();
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(), data: 'abcdef' });
    h.in({ flags: A, seq: h.pseq(3), ack: h.seq(), data: 'defghi' });
    assert.equal(h.received.toString(), 'abcdefghi');
    const out = h.in({ flags: A, seq: h.pseq(), ack: h.seq(), data: 'abc' });
    assert.equal(out.length, 1);
    assert.equal(out[0].ack, h.pseq(9));
    assert.equal(h.received.toString(), 'abcdefghi');
  });

  it('overlapping out-of-order pieces are merged without duplication', () => {
    const h = new TcpHarness();
    h.open({ sackOk: true });
    h.in({ flags: A, seq: h.pseq(4), ack: h.seq(), data: 'efgh' });
    h.in({ flags: A, seq: h.pseq(2), ack: h.seq(), data: 'cdefghij' });
    const out = h.in({ flags: A, seq: h.pseq(), ack: h.seq(), data: 'abc' });
    assert.equal(out[0].ack, h.pseq(10));
    assert.equal(h.received.toString(), 'abcdefghij');
  });

  it('drops data beyond the advertised window', () => {
    const h = new TcpHarness({ rcvBuf: 4096, windowScaling: false });
    h.open();
    const out = h.in({ flags: A, seq: h.pseq(5000), ack: h.seq(), data: 'x' });
    assert.equal(out.length, 1, 'unacceptable segment → ACK');
    assert.equal(out[0].ack, h.pseq());
    assert.equal(h.stack.errors['out-of-window'], 1);
  });

  it('a paused reader closes the window; resume delivers and sends a window update', () => {
    const h = new TcpHarness({ rcvBuf: 4000, windowScaling: false });
    h.open();
    h.conn!.pause();
    let out = h.in({ flags: A, seq: h.pseq(), ack: h.seq(), data: Buffer.alloc(2000, 0x61) });
    out = h.in({ flags: A, seq: h.pseq(2000), ack: h.seq(), data: Buffer.alloc(2000, 0x62) });
    assert.equal(out.length, 1);
    assert.equal(out[0].ack, h.pseq(4000));
    assert.equal(out[0].window, 0, 'zero window');
    assert.deepEqual(h.events, ['accept']);
    // A zero-window probe is not accepted, but ACKed.
    out = h.in({ flags: A, seq: h.pseq(4000), ack: h.seq(), data: 'z' });
    assert.equal(out[0].ack, h.pseq(4000));
    assert.equal(out[0].window, 0);
    h.conn!.resume();
    assert.equal(h.received.length, 4000);
    out = h.flush();
    assert.equal(out.length, 1, 'window update');
    assert.equal(out[0].window, 4000);
  });
});

describe('tcp send path', () => {
  it('segments queued data into full-sized segments within cwnd and the peer window', () => {
    const h = new TcpHarness();
    h.open({ window: 65535 });
    const c = h.conn!;
    for (let i = 0; i < 10; i++) c.write(Buffer.alloc(1000, 0x41 + i));
    assert.equal(c.queuedBytes, 10000);
    const out = h.flush();
    assert.deepEqual(out.map((s) => s.payload.length), [1460, 1460, 1460, 1460, 1460, 1460, 1240]);
    assert.equal(out[6].flags, A | TCP_PSH);
    assert.equal(out[0].flags, A);
    assert.equal(Buffer.concat(out.map((s) => s.payload)).toString(), Array.from({ length: 10 }, (_, i) => String.fromCharCode(0x41 + i).repeat(1000)).join(''));
    assert.equal(out[1].seq, h.seq(1460));
    assert.equal(c.queuedBytes, 10000, 'unacknowledged bytes stay queued');
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(2920) });
    assert.equal(c.queuedBytes, 10000 - 2920);
  });

  it('respects the send window and resumes on a window update', () => {
    const h = new TcpHarness();
    h.open({ window: 3000 });
    h.conn!.write(Buffer.alloc(10000));
    let out = h.flush();
    assert.deepEqual(out.map((s) => s.payload.length), [1460, 1460], 'no silly 80-byte segment');
    out = h.in({ flags: A, seq: h.pseq(), ack: h.seq(2920), window: 3000 });
    assert.deepEqual(out.map((s) => s.payload.length), [1460, 1460]);
    out = h.in({ flags: A, seq: h.pseq(), ack: h.seq(2920), window: 8000 });
    assert.deepEqual(out.map((s) => [s.seq - h.seq(), s.payload.length]), [[5840, 1460], [7300, 1460], [8760, 1240]]);
  });

  it('scales the peer window by its shift', () => {
    const h = new TcpHarness();
    h.open({ wscale: 2, window: 1000 });
    // The window in the SYN is unscaled; the first scaled one comes with the next ACK.
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(), window: 1000 });
    h.conn!.write(Buffer.alloc(10000));
    const out = h.flush();
    assert.equal(out.reduce((n, s) => n + s.payload.length, 0), 2920, '4000-byte window, no runt');
  });

  it('coalesces many small writes into one segment', () => {
    const h = new TcpHarness();
    h.open();
    for (let i = 0; i < 50; i++) h.conn!.write(Buffer.from('ab'));
    const out = h.flush();
    assert.equal(out.length, 1);
    assert.equal(out[0].payload.toString(), 'ab'.repeat(50));
  });

  it('calls onDrain when queuedBytes falls below the low-water mark', () => {
    const h = new TcpHarness({ sendLowWater: 4000 });
    h.open();
    h.conn!.write(Buffer.alloc(6000));
    h.flush();
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(1460) });
    assert.ok(!h.events.includes('drain'));
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(2920) });
    assert.deepEqual(h.events, ['accept', 'drain']);
  });

  it('end() sends FIN after the queued data (FIN piggybacked on the last segment)', () => {
    const h = new TcpHarness();
    h.open();
    h.conn!.write(Buffer.from('bye'));
    h.conn!.end();
    const out = h.flush();
    assert.equal(out.length, 1);
    assert.equal(out[0].flags, A | TCP_PSH | TCP_FIN);
    assert.equal(out[0].payload.toString(), 'bye');
    assert.equal([...h.stack.sessions()][0].state, 'FIN_WAIT_1');
  });

  it('calls onWork when output appears outside input/flush/tick', () => {
    let work = 0;
    const h = new TcpHarness({ onWork: () => work++ });
    h.open();
    h.conn!.write(Buffer.from('x'));
    h.conn!.write(Buffer.from('y'));
    assert.equal(work, 1);
    assert.equal(h.stack.pending(), true);
    assert.equal(h.flush().length, 1);
    assert.equal(h.stack.pending(), false);
  });

  it('keeps output pending when the sink has no room, and sends it on a later flush', () => {
    const h = new TcpHarness();
    h.open();
    h.conn!.write(Buffer.alloc(100));
    h.sink.full = true;
    assert.deepEqual(h.flush(), []);
    assert.equal(h.stack.pending(), true);
    h.sink.full = false;
    assert.equal(h.flush().length, 1);
  });
});
