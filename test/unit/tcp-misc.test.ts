import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TCP_ACK, TCP_FIN } from '../../src/wire/tcp.js';
import { TcpHarness } from '../../src/tcp/testing.js';

const A = TCP_ACK;

describe('tcp stream contract and visibility', () => {
  it('write() queues chunks by reference: segmentation copies them later', () => {
    const h = new TcpHarness();
    h.open();
    const chunk = Buffer.from('aaaa');
    h.conn!.write(chunk);
    chunk.write('bbbb');
    assert.equal(h.flush()[0].payload.toString(), 'bbbb');
  });

  it('sessions() reports addresses, state, queues, RTT and cwnd', () => {
    const h = new TcpHarness();
    h.open({ sackOk: true });
    h.conn!.write(Buffer.alloc(5000));
    h.flush();
    h.in({ flags: A, seq: h.pseq(10), ack: h.seq(), data: 'later' });
    const s = [...h.stack.sessions()][0];
    assert.equal(s.local, '10.0.0.1:80');
    assert.equal(s.remote, '10.0.0.2:40000');
    assert.equal(s.state, 'ESTABLISHED');
    assert.equal(s.sendQueue, 5000);
    assert.equal(s.recvQueue, 5);
    assert.equal(s.cwnd, 10 * 1460);
    assert.equal(s.rto, 200);
    assert.equal(s.sndWnd, 65535);
    assert.ok(s.rcvWnd > 0);
  });

  it('counts segments, bytes and opens', () => {
    const h = new TcpHarness();
    h.open();
    h.in({ flags: A, seq: h.pseq(), ack: h.seq(), data: 'abc' });
    h.conn!.write(Buffer.from('xyz12'));
    h.flush();
    const k = h.stack.counters;
    assert.equal(k.segmentsIn, 3);
    assert.equal(k.passiveOpens, 1);
    assert.equal(k.bytesIn, 3);
    assert.equal(k.bytesOut, 5);
    assert.equal(k.dataSegmentsOut, 1);
    assert.equal(k.segmentsOut, 2);
    assert.equal(k.established, 1);
    assert.equal(k.connections, 1);
  });

  it('counts malformed segments under bad-header', () => {
    const h = new TcpHarness();
    h.stack.input(h.remote, h.local, Buffer.alloc(10), 0, 10, 0);
    assert.equal(h.stack.errors['bad-header'], 1);
    assert.equal(h.stack.errors['too-short'], 1);
  });

  it('caps TIME_WAIT: beyond maxTimeWait a closing connection is dropped at once', () => {
    const h = new TcpHarness({ maxTimeWait: 1 });
    for (const port of [1, 2]) {
      h.rport = port;
      h.open();
      h.conn!.end();
      h.flush();
      const out = h.in({ flags: TCP_FIN | A, seq: h.pseq(), ack: h.seq(1) });
      // Dropped or not, the peer's FIN is acknowledged (else it would retransmit it into an RST).
      assert.equal(out.length, 1, `port ${port}: one ACK`);
      assert.equal(out[0].flags, A);
      assert.equal(out[0].ack, h.pseq(1));
    }
    assert.equal(h.stack.counters.timeWait, 1);
    assert.equal(h.stack.counters.connections, 1);
    assert.equal(h.stack.errors['time-wait-overflow'], 1);
    assert.deepEqual(h.events, ['accept', 'end', 'close', 'accept', 'end', 'close']);
  });

  it('an exception thrown by the accept handler aborts that connection only', () => {
    const h = new TcpHarness({}, false);
    h.stack.listen(h.local, h.lport, () => {
      throw new Error('app bug');
    });
    const sa = h.in({ flags: 2, seq: 1 })[0];
    const out = h.in({ flags: A, seq: 2, ack: sa.seq + 1 });
    assert.equal(out.length, 1);
    assert.ok(out[0].flags & 4, 'RST');
    assert.equal(h.stack.errors['accept-error'], 1);
    assert.equal(h.stack.counters.connections, 0);
  });
});
