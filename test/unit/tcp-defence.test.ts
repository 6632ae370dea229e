import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TCP_ACK, TCP_RST, TCP_SYN } from '../../src/wire/tcp.js';
import { TcpHarness } from '../../src/tcp/testing.js';
import { COOKIE_MSS } from '../../src/tcp/index.js';

const A = TCP_ACK;

/** Fills the SYN queue with `n` half-open connections from other ports. */
function fill(h: TcpHarness, n: number): void {
  const keep = h.rport;
  for (let i = 0; i < n; i++) {
    h.rport = 20000 + i;
    h.in({ flags: TCP_SYN, seq: 77 });
  }
  h.rport = keep;
}

describe('tcp SYN queue and SYN cookies', () => {
  it('answers with a cookie when the SYN queue is full, keeping no state', () => {
    const h = new TcpHarness({ synQueueMax: 2 });
    fill(h, 2);
    const out = h.in({ flags: TCP_SYN, seq: h.pIsn, mss: 1460 });
    assert.equal(out.length, 1);
    assert.equal(out[0].flags, TCP_SYN | A);
    assert.equal(out[0].ack, h.pseq());
    assert.equal(out[0].mss, 1460);
    assert.equal(h.stack.counters.connections, 2, 'no state for the cookie');
    assert.equal(h.stack.counters.cookiesSent, 1);
    assert.equal(h.stack.errors['syn-queue-full-cookie'], 1);
  });

  it('a valid cookie in the ACK creates the connection, with the MSS it encodes', () => {
    const h = new TcpHarness({ synQueueMax: 1 });
    fill(h, 1);
    const sa = h.in({ flags: TCP_SYN, seq: h.pIsn, mss: 1400 })[0];
    h.iss = sa.seq;
    const out = h.in({ flags: A, seq: h.pseq(), ack: h.seq(), data: 'GET /' });
    assert.deepEqual(h.events, ['accept', 'data:GET /']);
    assert.equal(out.length, 0, 'the data ACK is delayed as usual');
    const s = [...h.stack.sessions()].find((x) => x.remotePort === h.rport)!;
    assert.equal(s.state, 'ESTABLISHED');
    assert.equal(s.mss, 1400);
    assert.ok(COOKIE_MSS.includes(1400));
    assert.equal(h.stack.counters.cookiesAccepted, 1);
    // The connection works both ways.
    h.conn!.write(Buffer.from('ok'));
    const d = h.flush();
    assert.equal(d[0].seq, h.seq());
    assert.equal(d[0].ack, h.pseq(5));
  });

  it('rounds the peer MSS down to an encodable value', () => {
    const h = new TcpHarness({ synQueueMax: 0 });
    const sa = h.in({ flags: TCP_SYN, seq: h.pIsn, mss: 1300 })[0];
    h.iss = sa.seq;
    h.in({ flags: A, seq: h.pseq(), ack: h.seq() });
    assert.equal([...h.stack.sessions()][0].mss, 1200);
  });

  it('with timestamps, the cookie carries window scale and SACK-permitted in TSval', () => {
    const h = new TcpHarness({ synQueueMax: 0 });
    const sa = h.in({ flags: TCP_SYN, seq: h.pIsn, mss: 1460, wscale: 5, sackOk: true, ts: h.ts(0) })[0];
    assert.equal(sa.wscale, 3);
    assert.equal(sa.sackOk, true);
    assert.equal(sa.tsVal! & 31, 5 | 16);
    h.iss = sa.seq;
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(), ts: h.ts(sa.tsVal!), window: 100 });
    const c = h.conn!;
    assert.equal(c.sackOk, true);
    assert.equal(c.tsOk, true);
    assert.equal(c.sndWnd, 100 << 5);
    assert.equal(c.rcvWscale, 3);
  });

  it('without timestamps the cookie SYN-ACK offers no window scale, SACK or timestamps, and neither side scales', () => {
    const h = new TcpHarness({ synQueueMax: 0 });
    const sa = h.in({ flags: TCP_SYN, seq: h.pIsn, sackOk: true, wscale: 2, window: 65535 })[0];
    // What was offered: nothing the returning ACK could not bring back.
    assert.equal(sa.wscale, -1, 'no window scale option');
    assert.equal(sa.sackOk, false);
    assert.equal(sa.tsVal, undefined);
    h.iss = sa.seq;
    // RFC 7323 §2.2: without our window scale option the peer scales neither direction.
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(), window: 65535 });
    const c = h.conn!;
    assert.equal(c.sackOk, false);
    assert.equal(c.sndWscale, 0);
    assert.equal(c.rcvWscale, 0);
    // What is used afterwards: the peer's 64 KiB window is 64 KiB, not 64 KiB >> 2 read as bytes.
    assert.equal(c.sndWnd, 65535);
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(), window: 40000 });
    assert.equal(c.sndWnd, 40000);
    // Our window field is bytes: full segments within it are taken whole, not trimmed.
    const d = Buffer.alloc(1460, 'x');
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(), data: d, window: 40000 });
    const out = h.in({ flags: A, seq: h.pseq(1460), ack: h.seq(), data: d, window: 40000 });
    assert.equal(h.received.length, 2920);
    assert.equal(out.length, 1, 'ACK for two full segments');
    assert.equal(out[0].ack, h.pseq(2920));
    assert.equal(out[0].window, 65535, 'the unscaled field of a 256 KiB buffer');
  });

  it('rejects a forged or stale cookie with an RST', () => {
    const h = new TcpHarness({ synQueueMax: 0 });
    const sa = h.in({ flags: TCP_SYN, seq: h.pIsn })[0];
    let out = h.in({ flags: A, seq: h.pseq(), ack: (sa.seq + 2) >>> 0 });
    assert.equal(out[0].flags, TCP_RST);
    assert.equal(h.stack.errors['bad-cookie'], 1);
    out = h.in({ flags: A, seq: h.pseq(5), ack: (sa.seq + 1) >>> 0 });
    assert.equal(out[0].flags, TCP_RST, 'a different peer ISN does not match');
    h.now += 200_000;
    out = h.in({ flags: A, seq: h.pseq(), ack: (sa.seq + 1) >>> 0 });
    assert.equal(out[0].flags, TCP_RST, 'expired');
    assert.equal(h.stack.counters.connections, 0);
  });

  it('a cookie stays valid across one time-counter tick', () => {
    const h = new TcpHarness({ synQueueMax: 0 });
    h.now = 63_999;
    const sa = h.in({ flags: TCP_SYN, seq: h.pIsn })[0];
    h.iss = sa.seq;
    h.now = 64_500;
    h.in({ flags: A, seq: h.pseq(), ack: h.seq() });
    assert.equal(h.stack.counters.cookiesAccepted, 1);
  });

  it('drops SYNs when the queue is full and cookies are off', () => {
    const h = new TcpHarness({ synQueueMax: 1, synCookies: false });
    fill(h, 1);
    assert.deepEqual(h.in({ flags: TCP_SYN, seq: 1 }), []);
    assert.equal(h.stack.errors['syn-queue-full'], 1);
  });

  it('a SYN flood leaves the stack bounded and a real client still connects', () => {
    const h = new TcpHarness({ synQueueMax: 64 });
    for (let i = 0; i < 5000; i++) {
      h.rport = 1024 + i;
      h.in({ flags: TCP_SYN, seq: i * 7919, mss: 1460 }, false);
    }
    h.sink.take();
    assert.equal(h.stack.counters.connections, 64);
    h.rport = 65000;
    h.open();
    assert.deepEqual(h.events, ['accept']);
  });
});

describe('tcp connection limit', () => {
  it('drops SYNs beyond maxConnections; TIME_WAIT does not count', () => {
    const h = new TcpHarness({ maxConnections: 2 });
    h.rport = 1;
    h.open();
    h.rport = 2;
    h.open();
    h.rport = 3;
    assert.deepEqual(h.in({ flags: TCP_SYN, seq: 5 }), []);
    assert.equal(h.stack.errors['conn-limit'], 1);
    // Close one into TIME_WAIT: the slot is free again.
    h.rport = 2;
    h.conn!.end();
    h.flush();
    h.in({ flags: TCP_ACK | 1, seq: h.pseq(), ack: h.seq(1) });
    assert.equal(h.stack.counters.timeWait, 1);
    h.rport = 3;
    assert.equal(h.in({ flags: TCP_SYN, seq: 5 })[0].flags, TCP_SYN | A);
  });

  it('also applies to connections completed by a cookie', () => {
    const h = new TcpHarness({ maxConnections: 1, synQueueMax: 0 });
    const sa = h.in({ flags: TCP_SYN, seq: h.pIsn })[0];
    h.rport = 2;
    h.open(); // via cookie too
    h.rport = 40000;
    assert.deepEqual(h.in({ flags: A, seq: h.pseq(), ack: (sa.seq + 1) >>> 0 }), []);
    assert.equal(h.stack.errors['conn-limit'], 1);
  });
});
