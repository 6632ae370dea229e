/**
 * `show runtime` samples time (src/dataplane/runtime-sampler.ts, GraphNode.recordTimed): which runs
 * are timed, how a node's timed dispatch stands for its untimed ones, and that sampling never
 * hands TCP an old clock (a slow application inside a vector must not make a segment look older
 * than it is, or it is retransmitted early).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { GraphNode } from '../../src/dataplane/node.js';
import { QUIET_MS, RuntimeSampler, TIME_EVERY } from '../../src/dataplane/runtime-sampler.js';
import { DataplaneSegmentSink, TcpHost } from '../../src/dataplane/tcp-host.js';
import { createMemoryPair, MemoryDevice } from '../../src/io/memory-device.js';
import { TcpStack } from '../../src/tcp/stack.js';
import { parseIpv4 } from '../../src/wire/address.js';

describe('runtime sampler', () => {
  it('times every run at low rates (each a quiet millisecond after the previous one)', () => {
    const s = new RuntimeSampler();
    let timed = 0;
    for (let i = 0; i < 100; i++) if (s.begin(i * (QUIET_MS + 0.5))) timed++;
    assert.equal(timed, 100);
  });

  it('times one run in TIME_EVERY when runs come back to back', () => {
    const s = new RuntimeSampler();
    let timed = 0;
    for (let i = 0; i < 16 * TIME_EVERY; i++) if (s.begin(5 + i * 0.001)) timed++;
    // the first run follows a quiet period; then exactly one in TIME_EVERY
    assert.equal(timed, 1 + Math.floor((16 * TIME_EVERY - 1) / TIME_EVERY));
  });

  it('a bursty pattern still times the first run of each burst', () => {
    const s = new RuntimeSampler();
    const timedAt: number[] = [];
    for (let burst = 0; burst < 10; burst++) for (let k = 0; k < 3; k++) if (s.begin(burst * 5 + k * 0.1)) timedAt.push(k);
    assert.equal(timedAt.filter((k) => k === 0).length, 10);
  });

  it('a node weighs its timed dispatch by its own untimed ones; calls and vectors stay exact', () => {
    const n = new GraphNode('x', [], 0);
    for (let i = 0; i < 7; i++) n.recordUntimed(2);
    n.recordTimed(2, 100);
    assert.deepEqual({ ...n.runtime }, { calls: 8, vectors: 16, nanos: 800 });
    n.recordTimed(1, 50);
    assert.equal(n.runtime.nanos, 850);
    n.clearRuntime();
    n.recordUntimed(1);
    n.clearRuntime();
    n.recordTimed(1, 10);
    assert.equal(n.runtime.nanos, 10, 'clear runtime forgets untimed dispatches');
  });
});

describe('runtime sampling and the TCP clock', () => {
  it('a slow application inside a vector: the reply is stamped when it leaves, so no early retransmission', () => {
    const SERVER = parseIpv4('10.0.0.1')!;
    const CLIENT = parseIpv4('10.0.0.2')!;
    let t = 1000;
    const now = () => t;
    const node = (dev: MemoryDevice, ip: number) => {
      const dp = new Dataplane({ openDevice: () => dev, now });
      const name = dp.createHostInterface(dev.ifname);
      dp.setAdminState(name, true);
      dp.addAddress(name, { address: ip, prefixLength: 24 });
      const stack = new TcpStack(new DataplaneSegmentSink(dp), { mss: 1460 });
      return { dp, stack, host: new TcpHost(dp, stack) };
    };
    const a = new MemoryDevice('srv0', Buffer.from([2, 0, 0, 0, 0, 1]));
    const b = new MemoryDevice('cli0', Buffer.from([2, 0, 0, 0, 0, 2]));
    createMemoryPair(a, b);
    let holdServerFrames = false;
    const forward = a.onSend;
    a.onSend = (f) => {
      if (!holdServerFrames) forward!(f);
    };
    const s = node(a, SERVER);
    const c = node(b, CLIENT);
    const HANDLER_MS = 300;
    s.stack.listen(SERVER, 80, (stream) => ({
      onData() {
        t += HANDLER_MS; // a slow synchronous handler
        stream.write(Buffer.alloc(100));
      },
      onDrain() {},
      onEnd() {},
      onClose() {},
    }));
    let client: { write(b: Buffer): void } | undefined;
    c.stack.connect(CLIENT, 40000, SERVER, 80, (st) => {
      client = st;
      return { onData() {}, onDrain() {}, onEnd() {}, onClose() {} };
    }, t);
    c.host.kick();
    for (let i = 0; i < 5; i++) {
      t += 1;
      a.deliver();
      b.deliver();
      s.host.kick();
      c.host.kick();
    }
    assert.ok(client !== undefined, 'connected');
    holdServerFrames = true; // no ACK comes back: only the RTO could resend
    client.write(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    c.host.kick();
    const before = s.stack.counters.retransmits;
    a.deliver(); // the server's vector: the handler runs 300 ms, the reply leaves in tcp4-output
    t += 1;
    s.stack.tick(t);
    s.host.kick();
    assert.equal(s.stack.counters.retransmits - before, 0);
    s.host.close();
    c.host.close();
  });
});
