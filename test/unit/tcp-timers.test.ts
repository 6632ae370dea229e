import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TCP_ACK, TCP_RST, TCP_SYN } from '../../src/wire/tcp.js';
import { TcpHarness } from '../../src/tcp/testing.js';

const A = TCP_ACK;

function open(h: TcpHarness, window = 65535): void {
  const sa = h.in({ flags: TCP_SYN, seq: h.pIsn, mss: 1460, window })[0];
  h.iss = sa.seq;
  h.now += 100; // RTT 100 → RTO 300
  h.in({ flags: A, seq: h.pseq(), ack: h.seq(), window });
}

describe('tcp zero window and persist timer (RFC 9293 §3.8.6.1)', () => {
  it('probes a zero window with one octet, backing off, and resumes when it opens', () => {
    const h = new TcpHarness();
    open(h);
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(), window: 0 });
    h.conn!.write(Buffer.from('0123456789'));
    assert.deepEqual(h.flush(), [], 'nothing fits in a zero window');
    const t0 = h.now;
    const probes: number[] = [];
    for (let i = 0; i < 3; i++) {
      const d = h.stack.nextDeadline();
      h.now = d;
      h.stack.tick(h.now);
      const out = h.sink.take();
      assert.equal(out.length, 1);
      assert.equal(out[0].seq, h.seq());
      assert.equal(out[0].payload.toString(), '0', 'one octet of new data');
      probes.push(h.now - t0);
      // The receiver still has no room: it ACKs without taking the octet.
      h.in({ flags: A, seq: h.pseq(), ack: h.seq(), window: 0 });
    }
    assert.deepEqual(probes, [300, 900, 2100]);
    assert.equal(h.stack.counters.windowProbes, 3);
    assert.equal([...h.stack.sessions()][0].state, 'ESTABLISHED', 'an answered probe never times out');
    const out = h.in({ flags: A, seq: h.pseq(), ack: h.seq(), window: 1000 });
    assert.equal(out.length, 1);
    assert.equal(out[0].seq, h.seq());
    assert.equal(out[0].payload.toString(), '0123456789');
  });

  it('a probe octet the receiver takes advances SND.UNA', () => {
    const h = new TcpHarness();
    open(h);
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(), window: 0 });
    h.conn!.write(Buffer.from('ab'));
    h.flush();
    h.now = h.stack.nextDeadline();
    h.stack.tick(h.now);
    h.sink.take();
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(1), window: 0 });
    assert.equal(h.conn!.queuedBytes, 1);
    const out = h.in({ flags: A, seq: h.pseq(), ack: h.seq(1), window: 100 });
    assert.equal(out[0].payload.toString(), 'b');
  });

  it('aborts when probes stay unanswered', () => {
    const h = new TcpHarness({ maxRetries: 3 });
    open(h);
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(), window: 0 });
    h.conn!.write(Buffer.from('x'));
    h.flush();
    const sent = h.runFor(600_000);
    assert.equal(sent.filter((x) => x.s.payload.length === 1).length, 3);
    assert.equal(sent.filter((x) => (x.s.flags & TCP_RST) !== 0).length, 1);
    assert.equal(h.stack.errors['persist-timeout'], 1);
  });
});

describe('tcp zero window after a timeout', () => {
  it('an RTO that finds a zero window switches to probing instead of stalling', () => {
    const h = new TcpHarness();
    open(h);
    h.conn!.write(Buffer.alloc(2920, 0x41));
    h.flush();
    // The peer takes nothing and closes its window.
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(), window: 0 });
    const t = h.stack.nextDeadline();
    assert.ok(t < Infinity);
    h.now = t;
    h.stack.tick(h.now);
    h.stack.flush(h.now);
    assert.deepEqual(h.sink.take(), [], 'the window is closed: nothing retransmitted');
    assert.ok(h.stack.nextDeadline() < Infinity, 'but a persist timer is armed');
    const probe = h.advance(h.stack.nextDeadline() - h.now);
    assert.equal(probe.length, 1);
    assert.equal(probe[0].payload.length, 1);
    const out = h.in({ flags: A, seq: h.pseq(), ack: h.seq(), window: 65535 });
    assert.deepEqual(out.map((s) => [s.seq - h.seq(), s.payload.length]), [[0, 1460]], 'loss window of one segment');
  });
});

describe('tcp keep-alive (RFC 9293 §3.8.4)', () => {
  it('is off by default', () => {
    const h = new TcpHarness();
    open(h);
    assert.equal(h.stack.nextDeadline(), Infinity);
  });

  it('probes an idle connection with SEQ = SND.NXT − 1 and aborts after unanswered probes', () => {
    const h = new TcpHarness({ keepAliveMs: 10_000, keepAliveIntervalMs: 1000, keepAliveProbes: 3 });
    open(h);
    const t0 = h.now;
    const sent = h.runFor(20_000);
    const probes = sent.filter((x) => x.s.flags === A);
    assert.deepEqual(probes.map((x) => x.t - t0), [10_000, 11_000, 12_000]);
    for (const p of probes) {
      assert.equal(p.s.seq, h.seq(-1));
      assert.equal(p.s.ack, h.pseq());
      assert.equal(p.s.payload.length, 0);
    }
    const rst = sent.filter((x) => (x.s.flags & TCP_RST) !== 0);
    assert.equal(rst.length, 1);
    assert.equal(rst[0].t - t0, 13_000);
    assert.equal(h.stack.errors['keepalive-timeout'], 1);
  });

  it('an answer (or any segment) keeps the connection alive', () => {
    const h = new TcpHarness({ keepAliveMs: 10_000, keepAliveIntervalMs: 1000, keepAliveProbes: 2 });
    open(h);
    for (let i = 0; i < 5; i++) {
      h.runFor(10_000);
      h.in({ flags: A, seq: h.pseq(), ack: h.seq() });
    }
    assert.equal([...h.stack.sessions()][0].state, 'ESTABLISHED');
    assert.equal(h.stack.counters.keepAliveProbes, 5);
  });
});

describe('tcp timer bookkeeping', () => {
  it('nextDeadline() reports the earliest timer, tick() runs only expired ones', () => {
    const h = new TcpHarness();
    open(h);
    assert.equal(h.stack.nextDeadline(), Infinity);
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(), data: 'a' });
    assert.equal(h.stack.nextDeadline(), h.now + 40, 'delayed ACK');
    h.stack.tick(h.now + 39);
    assert.deepEqual(h.flush(), []);
  });

  it('handles many connections with one heap', () => {
    const h = new TcpHarness();
    for (let i = 0; i < 200; i++) {
      h.rport = 10000 + i;
      h.in({ flags: TCP_SYN, seq: 1000 + i });
      h.now += 1;
    }
    assert.equal(h.stack.counters.synReceived, 200);
    const sent = h.runFor(1100);
    assert.equal(sent.length, 200, 'each SYN-ACK retransmitted once, at its own time');
    assert.ok(sent.every((x, i) => i === 0 || x.t >= sent[i - 1].t));
  });
});
