import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../../src/wire/tcp.js';
import { TcpHarness } from '../../src/tcp/testing.js';

const A = TCP_ACK;

function state(h: TcpHarness): string | undefined {
  return [...h.stack.sessions()][0]?.state;
}

describe('tcp RST for segments without a connection (RFC 9293 §3.10.7.1)', () => {
  it('SYN to a closed port → <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>', () => {
    const h = new TcpHarness({}, false);
    const out = h.in({ flags: TCP_SYN, seq: 4000 });
    assert.equal(out.length, 1);
    assert.equal(out[0].flags, TCP_RST | A);
    assert.equal(out[0].seq, 0);
    assert.equal(out[0].ack, 4001);
    assert.equal(out[0].srcPort, 80);
    assert.equal(out[0].dstPort, 40000);
    assert.equal(h.stack.errors['no-listener-rst'], 1);
  });

  it('data+FIN without ACK to a closed port: ACK covers data and FIN', () => {
    const h = new TcpHarness({}, false);
    const out = h.in({ flags: TCP_FIN, seq: 10, data: 'abc' });
    assert.equal(out[0].ack, 14);
  });

  it('ACK to a closed port → <SEQ=SEG.ACK><CTL=RST>', () => {
    const h = new TcpHarness({}, false);
    const out = h.in({ flags: A, seq: 10, ack: 12345, data: 'x' });
    assert.equal(out.length, 1);
    assert.equal(out[0].flags, TCP_RST);
    assert.equal(out[0].seq, 12345);
  });

  it('never answers an RST with an RST', () => {
    const h = new TcpHarness({}, false);
    assert.deepEqual(h.in({ flags: TCP_RST, seq: 10 }), []);
    assert.deepEqual(h.in({ flags: TCP_RST | A, seq: 10, ack: 5 }), []);
  });

  it('an ACK to a listener without a connection draws an RST', () => {
    const h = new TcpHarness();
    const out = h.in({ flags: A, seq: 10, ack: 999 });
    assert.equal(out[0].flags, TCP_RST);
    assert.equal(out[0].seq, 999);
  });

  it('unlisten() closes the port for new connections', () => {
    const h = new TcpHarness();
    h.stack.unlisten(h.local, h.lport);
    assert.equal(h.in({ flags: TCP_SYN, seq: 1 })[0].flags, TCP_RST | A);
  });

  it('a wildcard listener (0) accepts on any local address', () => {
    const h = new TcpHarness({}, false);
    h.stack.listen(0, 80, (s) => h.accept(s as never));
    assert.equal(h.in({ flags: TCP_SYN, seq: 1 })[0].flags, TCP_SYN | A);
  });
});

describe('tcp RST and SYN acceptance in synchronized states (RFC 5961)', () => {
  it('RST with SEG.SEQ = RCV.NXT resets the connection', () => {
    const h = new TcpHarness();
    h.open();
    assert.deepEqual(h.in({ flags: TCP_RST, seq: h.pseq() }), []);
    assert.equal(state(h), undefined);
    assert.deepEqual(h.events, ['accept', 'close']);
    assert.equal(h.stack.errors['connection-reset'], 1);
  });

  it('RST in the window but not exact → challenge ACK, connection kept (§3.2)', () => {
    const h = new TcpHarness();
    h.open();
    const out = h.in({ flags: TCP_RST, seq: h.pseq(100) });
    assert.equal(out.length, 1);
    assert.equal(out[0].flags, A);
    assert.equal(out[0].seq, h.seq());
    assert.equal(out[0].ack, h.pseq());
    assert.equal(state(h), 'ESTABLISHED');
    assert.equal(h.stack.counters.challengeAcks, 1);
  });

  it('RST outside the window is dropped silently', () => {
    const h = new TcpHarness();
    h.open();
    assert.deepEqual(h.in({ flags: TCP_RST, seq: h.pseq() - 10 }), []);
    assert.deepEqual(h.in({ flags: TCP_RST, seq: h.pseq(1 << 20) }), []);
    assert.equal(state(h), 'ESTABLISHED');
    assert.equal(h.stack.errors['rst-out-of-window'], 2);
  });

  it('SYN in ESTABLISHED → challenge ACK, whatever its sequence number (§4.2)', () => {
    const h = new TcpHarness();
    h.open();
    let out = h.in({ flags: TCP_SYN, seq: h.pseq(10) });
    assert.equal(out.length, 1);
    assert.equal(out[0].flags, A);
    assert.equal(out[0].ack, h.pseq());
    out = h.in({ flags: TCP_SYN, seq: h.pIsn });
    assert.equal(out.length, 1);
    assert.equal(out[0].flags, A);
    assert.equal(state(h), 'ESTABLISHED');
  });

  it('challenge ACKs are rate limited (§7)', () => {
    const h = new TcpHarness({ challengeAckLimit: 2 });
    h.open();
    for (let i = 0; i < 5; i++) h.in({ flags: TCP_RST, seq: h.pseq(100 + i) });
    assert.equal(h.stack.counters.challengeAcks, 2);
    assert.equal(h.stack.errors['challenge-ack-limit'], 3);
    h.now += 1000;
    assert.equal(h.in({ flags: TCP_RST, seq: h.pseq(100) }).length, 1);
  });

  it('an ACK for data we never sent is dropped with an ACK (§5.2)', () => {
    const h = new TcpHarness();
    h.open();
    const out = h.in({ flags: A, seq: h.pseq(), ack: h.seq(5000), data: 'x' });
    assert.equal(out.length, 1);
    assert.equal(out[0].ack, h.pseq(), 'the data was not accepted');
    assert.equal(h.stack.errors['ack-too-new'], 1);
    assert.deepEqual(h.events, ['accept']);
  });

  it('an ACK too far below SND.UNA (beyond MAX.SND.WND) is dropped (§5.2)', () => {
    const h = new TcpHarness();
    h.open({ window: 1000 });
    const out = h.in({ flags: A, seq: h.pseq(), ack: h.seq(-5000), data: 'x' });
    assert.equal(out.length, 1);
    assert.equal(h.stack.errors['ack-too-old'], 1);
    assert.deepEqual(h.events, ['accept']);
  });

  it('PAWS drops a segment with an old timestamp (RFC 7323 §5)', () => {
    const h = new TcpHarness();
    h.open({ ts: true });
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(), data: 'new', ts: h.ts(0) });
    const out = h.in({ flags: A, seq: h.pseq(3), ack: h.seq(), data: 'old', ts: [h.pTs - 100, 0] });
    assert.equal(out.length, 1, 'ACKed');
    assert.equal(out[0].ack, h.pseq(3));
    assert.equal(h.received.toString(), 'new');
    assert.equal(h.stack.errors['paws'], 1);
  });

  it('echoes the latest in-order TSval (TS.Recent, RFC 7323 §4.3)', () => {
    const h = new TcpHarness();
    h.open({ ts: true });
    h.onData = (c) => c.write(Buffer.from('r'));
    const out = h.in({ flags: A, seq: h.pseq(), ack: h.seq(), data: 'q', ts: [123456, 0] });
    assert.equal(out[0].tsEcr, 123456);
  });
});
