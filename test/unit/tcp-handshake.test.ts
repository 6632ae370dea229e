import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TCP_ACK, TCP_RST, TCP_SYN } from '../../src/wire/tcp.js';
import { TcpHarness } from '../../src/tcp/testing.js';
import { TcpStack } from '../../src/tcp/index.js';

function state(h: TcpHarness): string | undefined {
  return [...h.stack.sessions()][0]?.state;
}

describe('tcp passive open (RFC 9293 §3.5, RFC 7323, RFC 2018)', () => {
  it('LISTEN + SYN → SYN-ACK with our options, SYN-RECEIVED', () => {
    const h = new TcpHarness();
    const out = h.in({ flags: TCP_SYN, seq: 1000, mss: 1400, wscale: 7, sackOk: true, ts: [777, 0] });
    assert.equal(out.length, 1);
    const sa = out[0];
    assert.equal(sa.flags, TCP_SYN | TCP_ACK);
    assert.equal(sa.ack, 1001);
    assert.equal(sa.srcPort, 80);
    assert.equal(sa.dstPort, 40000);
    assert.equal(sa.mss, 1460);
    assert.equal(sa.wscale, 3, '256 KiB receive buffer needs shift 3');
    assert.equal(sa.sackOk, true);
    assert.equal(sa.tsEcr, 777);
    assert.equal(sa.window, 65535, 'the window in a SYN-ACK is never scaled');
    assert.equal(state(h), 'SYN_RECEIVED');
    assert.equal(h.stack.counters.synReceived, 1);
    assert.deepEqual(h.events, []);
  });

  it('SYN-RECEIVED + ACK of our SYN → ESTABLISHED and the application gets the stream', () => {
    const h = new TcpHarness();
    h.open({ ts: true, sackOk: true, wscale: 2 });
    assert.equal(state(h), 'ESTABLISHED');
    assert.deepEqual(h.events, ['accept']);
    assert.equal(h.conn!.remote, '10.0.0.2:40000');
    assert.equal(h.stack.counters.established, 1);
    assert.equal(h.stack.counters.synReceived, 0);
    const s = [...h.stack.sessions()][0];
    assert.equal(s.mss, 1460 - 12, 'timestamps take 12 bytes of every segment');
    assert.equal(s.local, '10.0.0.1:80');
  });

  it('omits options the peer did not offer; assumes MSS 536 without the MSS option', () => {
    const h = new TcpHarness();
    const sa = h.in({ flags: TCP_SYN, seq: 5 })[0];
    assert.equal(sa.mss, 1460);
    assert.equal(sa.wscale, -1);
    assert.equal(sa.sackOk, false);
    assert.equal(sa.tsVal, undefined);
    h.in({ flags: TCP_ACK, seq: 6, ack: sa.seq + 1 });
    assert.equal([...h.stack.sessions()][0].mss, 536);
  });

  it('MSS may be a function of the local address', () => {
    const h = new TcpHarness({ mss: (ip) => (ip === 0x0a000001 ? 1200 : 1460) });
    const sa = h.in({ flags: TCP_SYN, seq: 5, mss: 1460 })[0];
    assert.equal(sa.mss, 1200);
  });

  it('a retransmitted SYN gets the same SYN-ACK again', () => {
    const h = new TcpHarness();
    const a = h.in({ flags: TCP_SYN, seq: 1000, mss: 1460 })[0];
    h.now += 300;
    const b = h.in({ flags: TCP_SYN, seq: 1000, mss: 1460 });
    assert.equal(b.length, 1);
    assert.equal(b[0].flags, TCP_SYN | TCP_ACK);
    assert.equal(b[0].seq, a.seq);
    assert.equal(h.stack.counters.connections, 1);
  });

  it('retransmits the SYN-ACK with exponential backoff, then forgets the half-open connection', () => {
    const h = new TcpHarness({ synAckRetries: 3 });
    const sa = h.in({ flags: TCP_SYN, seq: 1000 })[0];
    const t0 = h.now;
    const sent = h.runFor(60_000);
    assert.deepEqual(
      sent.map((x) => x.t - t0),
      [1000, 3000, 7000],
    );
    for (const x of sent) assert.equal(x.s.seq, sa.seq);
    assert.equal(h.stack.counters.connections, 0);
    assert.equal(h.stack.errors['syn-ack-timeout'], 1);
    assert.equal(h.stack.nextDeadline(), Infinity);
  });

  it('an unacceptable ACK in SYN-RECEIVED draws <SEQ=SEG.ACK><CTL=RST>', () => {
    const h = new TcpHarness();
    const sa = h.in({ flags: TCP_SYN, seq: 1000 })[0];
    const r = h.in({ flags: TCP_ACK, seq: 1001, ack: sa.seq + 5 });
    assert.equal(r.length, 1);
    assert.equal(r[0].flags, TCP_RST);
    assert.equal(r[0].seq, sa.seq + 5);
    assert.equal(state(h), 'SYN_RECEIVED');
  });

  it('RST with the exact sequence number in SYN-RECEIVED returns to LISTEN silently', () => {
    const h = new TcpHarness();
    h.in({ flags: TCP_SYN, seq: 1000 });
    assert.deepEqual(h.in({ flags: TCP_RST, seq: 1001 }), []);
    assert.equal(h.stack.counters.connections, 0);
    assert.deepEqual(h.events, []);
  });

  it('data on the handshake-completing ACK is delivered after accept', () => {
    const h = new TcpHarness();
    const sa = h.in({ flags: TCP_SYN, seq: 1000 })[0];
    h.in({ flags: TCP_ACK, seq: 1001, ack: sa.seq + 1, data: 'GET /' });
    assert.deepEqual(h.events, ['accept', 'data:GET /']);
  });

  it('ISNs differ per 4-tuple and advance with the clock (RFC 6528)', () => {
    const s = new TcpStack({ begin: () => false, buf: Buffer.alloc(0), off: 0, room: 0, end: () => {} });
    const a = s.isn(1, 2, 80, 1000, 0);
    const b = s.isn(1, 2, 80, 1001, 0);
    assert.notEqual(a, b);
    assert.equal((s.isn(1, 2, 80, 1000, 1000) - a) >>> 0, 250_000, '4 µs clock: 250 000 per second');
    const other = new TcpStack({ begin: () => false, buf: Buffer.alloc(0), off: 0, room: 0, end: () => {} });
    assert.notEqual(other.isn(1, 2, 80, 1000, 0), a, 'random key per stack');
  });
});
