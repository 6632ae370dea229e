import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../../src/wire/tcp.js';
import { TcpHarness } from '../../src/tcp/testing.js';
import type { TcpConnection } from '../../src/tcp/index.js';

const A = TCP_ACK;

/** The harness stack connects out to the scripted peer (10.0.0.2:40000) from port 80. */
function connect(h: TcpHarness): { c: TcpConnection; syn: ReturnType<TcpHarness['flush']>[0] } {
  const c = h.stack.connect(h.local, h.lport, h.remote, h.rport, (s) => h.accept(s as TcpConnection), h.now);
  const syn = h.sink.take()[0];
  h.iss = syn.seq;
  return { c, syn };
}

describe('tcp active open (RFC 9293 §3.10.7.3)', () => {
  it('sends a SYN offering MSS, SACK-permitted, timestamps and window scale', () => {
    const h = new TcpHarness({}, false);
    const { syn } = connect(h);
    assert.equal(syn.flags, TCP_SYN);
    assert.equal(syn.mss, 1460);
    assert.equal(syn.sackOk, true);
    assert.equal(syn.wscale, 3);
    assert.equal(syn.tsEcr, 0);
    assert.equal([...h.stack.sessions()][0].state, 'SYN_SENT');
    assert.deepEqual(h.events, ['accept'], 'the stream exists at once');
  });

  it('SYN-SENT + SYN,ACK → ESTABLISHED, ACK sent, queued data follows', () => {
    const h = new TcpHarness({}, false);
    const { c } = connect(h);
    c.write(Buffer.from('hello'));
    assert.deepEqual(h.flush(), [], 'nothing before the handshake');
    const out = h.in({ flags: TCP_SYN | A, seq: h.pIsn, ack: h.seq(), mss: 1000 });
    assert.equal([...h.stack.sessions()][0].state, 'ESTABLISHED');
    assert.equal(out.length, 1);
    assert.equal(out[0].ack, h.pseq());
    assert.equal(out[0].payload.toString(), 'hello');
    assert.equal(c.sackOk, false, 'the peer did not offer SACK');
    assert.equal(c.sndMss, 1000);
  });

  it('an unacceptable ACK in SYN-SENT draws <SEQ=SEG.ACK><CTL=RST>', () => {
    const h = new TcpHarness({}, false);
    connect(h);
    const out = h.in({ flags: TCP_SYN | A, seq: h.pIsn, ack: h.seq(100) });
    assert.equal(out[0].flags, TCP_RST);
    assert.equal(out[0].seq, h.seq(100));
    assert.equal([...h.stack.sessions()][0].state, 'SYN_SENT');
  });

  it('RST,ACK in SYN-SENT: connection refused', () => {
    const h = new TcpHarness({}, false);
    connect(h);
    h.in({ flags: TCP_RST | A, seq: 0, ack: h.seq() });
    assert.deepEqual(h.events, ['accept', 'close']);
    assert.equal(h.stack.errors['connection-refused'], 1);
  });

  it('retransmits the SYN with backoff and gives up', () => {
    const h = new TcpHarness({ synAckRetries: 2 }, false);
    connect(h);
    const t0 = h.now;
    const sent = h.runFor(60_000);
    assert.deepEqual(sent.map((x) => [x.t - t0, x.s.flags]), [[1000, TCP_SYN], [3000, TCP_SYN]]);
    assert.deepEqual(h.events, ['accept', 'close']);
    assert.equal(h.stack.errors['connect-timeout'], 1);
  });

  it('simultaneous open: SYN-SENT + SYN → SYN-RECEIVED (SYN,ACK) → ESTABLISHED', () => {
    const h = new TcpHarness({}, false);
    connect(h);
    let out = h.in({ flags: TCP_SYN, seq: h.pIsn, mss: 1460 });
    assert.equal(out.length, 1);
    assert.equal(out[0].flags, TCP_SYN | A);
    assert.equal(out[0].seq, h.iss, 'the same ISN');
    assert.equal(out[0].ack, h.pseq());
    assert.equal([...h.stack.sessions()][0].state, 'SYN_RECEIVED');
    out = h.in({ flags: A, seq: h.pseq(), ack: h.seq() });
    assert.equal([...h.stack.sessions()][0].state, 'ESTABLISHED');
  });

  it('end() before the handshake completes sends FIN after it', () => {
    const h = new TcpHarness({}, false);
    const { c } = connect(h);
    c.write(Buffer.from('q'));
    c.end();
    const out = h.in({ flags: TCP_SYN | A, seq: h.pIsn, ack: h.seq() });
    assert.equal(out.length, 1);
    assert.equal(out[0].flags & TCP_FIN, TCP_FIN);
    assert.equal(out[0].payload.toString(), 'q');
    assert.equal([...h.stack.sessions()][0].state, 'FIN_WAIT_1');
  });
});

describe('tcp ACK-loop and duplicate defences', () => {
  it('reordered pure ACKs with older timestamps are not PAWS-dropped', () => {
    const h = new TcpHarness();
    h.open({ ts: true });
    h.conn!.write(Buffer.alloc(2920));
    const d = h.flush();
    const newer = h.ts(d[0].tsVal!);
    const older: [number, number] = [newer[0] - 1, d[0].tsVal!];
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(2920), ts: newer });
    assert.deepEqual(h.in({ flags: A, seq: h.pseq(), ack: h.seq(1460), ts: older }), []);
    assert.equal(h.stack.errors['paws'], undefined);
    assert.equal(h.conn!.queuedBytes, 0);
  });

  it('a pure ACK far older than TS.Recent is an old duplicate: it acknowledges nothing (RFC 7323 §5.3 R1; review-tcp1 F3)', () => {
    const h = new TcpHarness();
    h.open({ ts: true });
    const c = h.conn!;
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(), data: 'abcd', ts: h.ts(0) });
    h.advance(50);
    const tsRecent = c.tsRecent;
    c.write(Buffer.alloc(4000, 1));
    assert.ok(h.flush().length > 0);
    const una = c.sndUna;
    const out = h.in({ flags: A, seq: h.pseq(4), ack: h.seq(4000), ts: [(tsRecent - 100_000) >>> 0, 0] });
    assert.equal(c.sndUna, una, 'SND.UNA moved on an ACK that failed PAWS');
    assert.equal(h.stack.errors['paws'], 1);
    assert.equal(out.length, 1, 'answered with an ACK (rate limited), as Linux does');
    assert.equal(out[0].flags, A);
  });

  it('nor does it change the send window (review-tcp1 F3b)', () => {
    const h = new TcpHarness();
    h.open({ ts: true });
    const c = h.conn!;
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(), data: 'abcd', ts: h.ts(0) });
    h.advance(50);
    const wnd = c.sndWnd;
    h.in({ flags: A, seq: h.pseq(4), ack: h.seq(), window: 0, ts: [(c.tsRecent - 100_000) >>> 0, 0] });
    assert.equal(c.sndWnd, wnd, 'an old duplicate closed the send window');
  });

  it('a reordered duplicate ACK within one RTO of TS.Recent that changes nothing is still taken (Linux tcp_disordered_ack)', () => {
    const h = new TcpHarness();
    h.open({ ts: true });
    const c = h.conn!;
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(), data: 'abcd', ts: h.ts(0) });
    h.in({ flags: A, seq: h.pseq(4), ack: h.seq(), ts: h.ts(0) }); // SND.WL1 = this SEG.SEQ
    const tsRecent = c.tsRecent;
    assert.deepEqual(h.in({ flags: A, seq: h.pseq(4), ack: h.seq(), ts: [(tsRecent - 20) >>> 0, 0] }), []);
    assert.equal(h.stack.errors['paws'], undefined);
    // the same, but older than one RTO: PAWS drops it
    h.in({ flags: A, seq: h.pseq(4), ack: h.seq(), ts: [(tsRecent - c.rto - 1) >>> 0, 0] });
    assert.equal(h.stack.errors['paws'], 1);
  });

  it('answers zero-length out-of-window segments at most every 500 ms', () => {
    const h = new TcpHarness();
    h.open();
    assert.equal(h.in({ flags: A, seq: h.pseq(-1), ack: h.seq() }).length, 1);
    assert.equal(h.in({ flags: A, seq: h.pseq(-1), ack: h.seq() }).length, 0);
    h.now += 500;
    assert.equal(h.in({ flags: A, seq: h.pseq(-1), ack: h.seq() }).length, 1);
    // Data is always answered.
    assert.equal(h.in({ flags: A, seq: h.pseq(-1), ack: h.seq(), data: 'x' }).length, 1);
    assert.equal(h.in({ flags: A, seq: h.pseq(-1), ack: h.seq(), data: 'x' }).length, 1);
  });

  it('with SACK, duplicate ACKs without new SACK information do not trigger fast retransmit', () => {
    const h = new TcpHarness();
    h.open({ sackOk: true });
    h.conn!.write(Buffer.alloc(10 * 1460));
    h.flush();
    for (let i = 0; i < 5; i++) h.in({ flags: A, seq: h.pseq(), ack: h.seq(1460) });
    assert.equal(h.stack.counters.fastRetransmits, 0);
    assert.equal(h.conn!.inRecovery, false);
  });
});
