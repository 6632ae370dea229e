/**
 * Memory per idle keep-alive connection (issue 12 item 5): the storage of a connection's
 * per-segment log (SentLog: five typed arrays, about 1.2 KiB) goes back to a per-thread pool as
 * soon as every record is acknowledged, and the next log to need storage takes it from there;
 * grown storage is let go when the application says it is idle (ByteStream.compact, from the
 * HTTP server's sweep), only with nothing outstanding. Recovery still works on pooled storage.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SentLog, sentLogPoolSize } from '../../src/tcp/sent-log.js';
import { SackRecovery } from '../../src/tcp/recovery-sack.js';
import { TcpHarness } from '../../src/tcp/testing.js';
import { TCP_ACK, TCP_PSH } from '../../src/wire/tcp.js';

/** The log's storage capacity (its private mask + 1; 0 while none is allocated). */
const capacity = (log: SentLog) => (log as unknown as { mask: number }).mask + 1;

test('SentLog.compact lets the storage of an empty log go, keeps the record numbers, and does nothing while records are held', () => {
  const log = new SentLog();
  log.compact();
  assert.equal(capacity(log), 0);
  log.push(100, 200, 1, 1);
  log.push(200, 300, 2, 2);
  log.compact();
  assert.equal(capacity(log), 8, 'records held: kept');
  assert.equal(log.start(1), 200);
  const storage = (log as unknown as { s: Uint32Array }).s;
  log.shift();
  const pooled = sentLogPoolSize();
  log.shift();
  assert.equal(capacity(log), 0, 'emptied: storage back in the pool');
  assert.equal(sentLogPoolSize(), pooled + 1);
  log.compact();
  assert.equal(capacity(log), 0);
  assert.equal(log.lo, 2);
  assert.equal(log.hi, 2, 'record numbers kept (indices held elsewhere stay valid)');
  log.push(300, 400, 3, 3);
  assert.equal(log.hi, 3);
  assert.equal(log.start(2), 300);
  assert.equal(log.end(2), 400);
  assert.equal(log.order(2), 3);
  assert.equal(capacity(log), 8);
  assert.equal((log as unknown as { s: Uint32Array }).s, storage, 'the pooled storage, reused');
  assert.equal(sentLogPoolSize(), pooled);
  // Grown storage is not pooled: compact (idle) drops it.
  for (let k = 0; k < 20; k++) log.push(400 + k * 10, 410 + k * 10, 4, 4 + k);
  assert.equal(capacity(log), 32);
  while (log.count > 0) log.shift();
  assert.equal(capacity(log), 32, 'grown storage stays while the connection is busy');
  log.compact();
  assert.equal(capacity(log), 0);
  assert.equal(sentLogPoolSize(), pooled);
});

test('a connection holds log storage only while data is outstanding; the next response takes it again, and a loss in it is repaired', () => {
  const h = new TcpHarness({ timestamps: true, sack: true });
  h.onData = (c) => c.write(Buffer.alloc(3000, 0x41));
  h.open({ sackOk: true, ts: true });
  const c = h.conn!;
  const log = (c.rec as SackRecovery).log;
  const ts = () => h.ts(0);
  // Request 1: the response goes out (3 segments) and is outstanding.
  const out = h.in({ flags: TCP_ACK | TCP_PSH, seq: h.pseq(), ack: h.seq(), data: 'GET 1', ts: ts() });
  const data = out.filter((s) => s.payload.length > 0);
  assert.ok(data.length >= 2);
  c.compact();
  assert.equal(capacity(log), 8, 'unacknowledged data: the log stays');
  h.in({ flags: TCP_ACK, seq: h.pseq(5), ack: h.seq(3000), ts: ts() });
  assert.equal(log.count, 0);
  assert.equal(capacity(log), 0, 'all acknowledged: storage back in the pool');
  c.compact();
  assert.equal(capacity(log), 0);
  // Request 2: the first segment is lost; SACK for the others, then the retransmission.
  const out2 = h.in({ flags: TCP_ACK | TCP_PSH, seq: h.pseq(5), ack: h.seq(3000), data: 'GET 2', ts: ts() }).filter((s) => s.payload.length > 0);
  assert.ok(capacity(log) > 0, 'allocated again by the response');
  assert.ok(out2.length >= 2);
  const last = out2[out2.length - 1];
  const end = (last.seq + last.payload.length) >>> 0;
  const rx: number[] = [];
  for (let k = 0; k < 3; k++) {
    const r = h.in({ flags: TCP_ACK, seq: h.pseq(10), ack: h.seq(3000), sack: [[out2[1].seq, end]], ts: ts() });
    for (const s of r) if (s.payload.length > 0) rx.push(s.seq);
  }
  for (const s of h.runFor(2000).map((x) => x.s)) if (s.payload.length > 0) rx.push(s.seq);
  assert.ok(rx.includes(out2[0].seq), 'the lost segment was retransmitted');
  h.in({ flags: TCP_ACK, seq: h.pseq(10), ack: end, ts: ts() });
  assert.equal(c.sndUna >>> 0, end, "sequence numbers are int32 inside TCP (seq.ts)");
  c.compact();
  assert.equal(capacity(log), 0);
});

test('review r/perf 5: a CUBIC connection holds no pacer deadline and its controller no per-instance constants (prototype getters)', () => {
  const h = new TcpHarness({ timestamps: true, sack: true });
  h.open({ sackOk: true, ts: true });
  const c = h.conn!;
  assert.equal(c.cc.name, 'cubic');
  for (const k of ['name', 'modelBased', 'pacingRate', 'quantum']) assert.ok(!Object.hasOwn(c.cc, k), `Cubic has its own ${k}`);
  assert.equal(c.cc.modelBased, false);
  assert.equal(c.cc.pacingRate, 0);
  assert.ok(!Object.hasOwn(c, 'paceAt'), 'paceAt is a field of the connection (a boxed Infinity)');
  assert.equal(c.paceAt, Infinity, 'never waits for the pacer');
  c.paceAt = 5; // no pacer: nothing to arm
  assert.equal(c.paceAt, Infinity);
});
