/**
 * What a new connection leaves to the garbage collector (issue 12, "new-connection no worse"):
 * its objects must die young. V8's Map and Set rebuild their table every few dozen deletes, and
 * the old-generation table they leave behind kept every connection it held alive through the
 * next scavenges, so all of them were promoted (~1.3 KB per connection, most of the
 * new-connection GC cost). The connection table (stack.ts) and the servers' sets of open
 * connections (src/stream/dense-set.ts) no longer do that; this counts what scavenges promote.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GCProfiler } from 'node:v8';
import { DenseSet } from '../../src/stream/dense-set.js';
import { LastSegmentSink, closeOneConnection, listenAndClose } from '../../src/tcp/testing.js';
import { TcpStack } from '../../src/tcp/index.js';
import type { StreamHandler } from '../../src/stream/byte-stream.js';
import { TIME_WAIT } from '../../src/tcp/types.js';
import { TCP_ACK, TCP_FIN, TCP_HEADER_LEN, TCP_SYN, writeOptMss, writeOptTimestamp, writeTcpHeader } from '../../src/wire/tcp.js';

/** An established connection to port 81 that stays open. */
function openIdle(stack: TcpStack, sink: LastSegmentSink, local: number, peer: number, now: number): void {
  const scratch = Buffer.alloc(64);
  writeTcpHeader(scratch, 0, 40000, 81, 1000, 0, writeOptMss(scratch, TCP_HEADER_LEN, 1460), TCP_SYN, 65535);
  stack.input(peer, local, scratch, 0, 24, now);
  stack.flush(now);
  writeTcpHeader(scratch, 0, 40000, 81, 1001, (sink.seq + 1) >>> 0, TCP_HEADER_LEN, TCP_ACK, 65535);
  stack.input(peer, local, scratch, 0, TCP_HEADER_LEN, now);
  stack.flush(now);
}

/** Allocates short-lived garbage for a scavenge or two (what is live meanwhile is promoted). */
function churnYoung(): void {
  let keep: unknown[] = [];
  for (let i = 0; i < 400_000; i++) {
    keep.push({ i });
    if (keep.length > 1000) keep = [];
  }
}

/**
 * `batch` connections side by side (as under wrk -c64), each as closeOneConnection's: all SYNs,
 * then all ACKs (the listener closes: our FIN), then all FIN+ACKs; from peers base, base+1, ….
 */
function closeInBatches(stack: TcpStack, sink: LastSegmentSink, local: number, base: number, count: number, batch: number, t0: number, peers = count): number {
  const scratch = Buffer.alloc(64);
  const iss = new Float64Array(batch);
  let now = t0;
  const send = (peer: number, flags: number, seq: number, ack: number, syn: boolean): void => {
    let p = TCP_HEADER_LEN;
    if (syn) p = writeOptMss(scratch, p, 1460);
    p = writeOptTimestamp(scratch, p, Math.floor(now) >>> 0, 1, syn);
    while ((p & 3) !== 0) scratch[p++] = 1;
    writeTcpHeader(scratch, 0, 40000, 80, seq, ack, p, flags, 65535);
    stack.input(peer, local, scratch, 0, p, now);
    stack.flush(now);
  };
  for (let b = 0; b < count; b += batch) {
    const n = Math.min(batch, count - b);
    const peer = (j: number): number => base + ((b + j) % peers);
    for (let j = 0; j < n; j++) {
      send(peer(j), TCP_SYN, 1000, 0, true);
      iss[j] = sink.seq;
    }
    for (let j = 0; j < n; j++) send(peer(j), TCP_ACK, 1001, (iss[j] + 1) >>> 0, false);
    for (let j = 0; j < n; j++) send(peer(j), TCP_FIN | TCP_ACK, 1001, (iss[j] + 2) >>> 0, false);
    now += 1;
  }
  return now;
}

type GcStat = ReturnType<GCProfiler['stop']>['statistics'][number];
const OLD = ['old_space', 'code_space', 'large_object_space'];
const oldUsed = (s: GcStat['beforeGC']): number =>
  s.heapSpaceStatistics.filter((x) => OLD.includes(x.spaceName)).reduce((a, x) => a + x.spaceUsedSize, 0);

/** Bytes the scavenges promoted while fn ran, and how many scavenges there were. */
function promotedBy(fn: () => void): { promoted: number; scavenges: number } {
  const p = new GCProfiler();
  p.start();
  fn();
  let promoted = 0;
  let scavenges = 0;
  for (const s of p.stop().statistics) {
    if (s.gcType !== 'Scavenge') continue;
    scavenges++;
    promoted += Math.max(0, oldUsed(s.afterGC) - oldUsed(s.beforeGC));
  }
  return { promoted, scavenges };
}

describe('new connections die young (issue 12)', () => {
  it('connections opened and closed 64 at a time leave nothing for the scavenger to promote', () => {
    const sink = new LastSegmentSink();
    // No TIME_WAIT entries: what is left is the connections' own objects, which must all die young.
    const stack = new TcpStack(sink, { maxTimeWait: 0 });
    const local = 0x0a000001;
    listenAndClose(stack, local);
    // 100 idle connections stay open (on port 81) through the run: the table is long-lived,
    // in the old generation, as in a server with keep-alive clients.
    const idle: StreamHandler = { onData() {}, onDrain() {}, onEnd() {}, onClose() {} };
    stack.listen(local, 81, () => idle);
    let now = 1000;
    for (let i = 0; i < 100; i++) openIdle(stack, sink, local, 0x0d000000 + i, now);
    for (let i = 0; i < 3; i++) churnYoung();
    now = closeInBatches(stack, sink, local, 0x0c000000, 2000, 64, now);
    const n = 40_000;
    const r = promotedBy(() => {
      now = closeInBatches(stack, sink, local, 0x0b000000, n, 64, now);
    });
    assert.equal(stack.counters.established, 100);
    assert.ok(stack.counters.passiveOpens >= n + 2000, `${stack.counters.passiveOpens} connections opened`);
    assert.ok(r.scavenges >= 2, `only ${r.scavenges} scavenges in ${n} connections`);
    // With a Map as the table: ~1,000 bytes per connection. A scavenge may promote the batch it meets.
    assert.ok(r.promoted / n < 100, `${(r.promoted / n).toFixed(0)} bytes promoted per connection (${r.scavenges} scavenges)`);
  });
});

describe('TIME_WAIT entries are reused (issue 12)', () => {
  it("closing into TIME_WAIT with the clients' ports coming back allocates no entries to promote", () => {
    const sink = new LastSegmentSink();
    const stack = new TcpStack(sink, {});
    const local = 0x0a000001;
    listenAndClose(stack, local);
    // 20,000 clients, each back after 20,000 connections (as wrk's ports come back): its entry
    // lived through scavenges, and the new SYN reuses it (RFC 6191, newer timestamp).
    const peers = 20_000;
    let now = closeInBatches(stack, sink, local, 0x0b000000, 30_000, 64, 1000, peers);
    const n = 60_000;
    const reused0 = stack.counters.timeWaitReused;
    const r = promotedBy(() => {
      now = closeInBatches(stack, sink, local, 0x0b000000, n, 64, now, peers);
    });
    assert.equal(stack.counters.timeWait, peers);
    assert.equal(stack.counters.timeWaitReused - reused0, n);
    assert.ok(r.scavenges >= 2, `only ${r.scavenges} scavenges in ${n} connections`);
    // With a new entry per connection: ~300 bytes each.
    assert.ok(r.promoted / n < 100, `${(r.promoted / n).toFixed(0)} bytes promoted per connection (${r.scavenges} scavenges)`);
  });
});

describe('the connection table (stack.ts)', () => {
  it('finds every connection as it grows and shrinks, TIME_WAIT entries included', () => {
    const sink = new LastSegmentSink();
    const stack = new TcpStack(sink, { maxTimeWait: 100_000 });
    const local = 0x0a000001;
    listenAndClose(stack, local);
    const scratch = Buffer.alloc(64);
    const n = 5000;
    for (let i = 0; i < n; i++) closeOneConnection(stack, sink, local, 0x0b000000 + i, 1000, scratch);
    assert.equal(stack.counters.timeWait, n);
    assert.equal([...stack.connections()].length, n);
    for (let i = 0; i < n; i += 97) assert.equal(stack.find(local, 80, 0x0b000000 + i, 40000)?.state, TIME_WAIT);
    assert.equal(stack.find(local, 80, 0x0b000000 + n, 40000), undefined);
    assert.equal(stack.find(local, 81, 0x0b000000, 40000), undefined);
    // Expire them all: the table shrinks and stays usable.
    stack.tick(1000 + stack.opts.timeWaitMs);
    assert.equal(stack.counters.connections, 0);
    assert.equal([...stack.connections()].length, 0);
    closeOneConnection(stack, sink, local, 0x0b000000, 1000 + stack.opts.timeWaitMs + 1, scratch);
    assert.equal(stack.find(local, 80, 0x0b000000, 40000)?.state, TIME_WAIT);
    assert.equal([...stack.connections()].length, 1);
  });
});

describe('DenseSet', () => {
  class M {
    denseSlot = -1;
    constructor(readonly id: number) {}
  }
  it('adds, deletes (moving the last member into the hole) and iterates', () => {
    const s = new DenseSet<M>();
    const m = Array.from({ length: 10 }, (_, i) => new M(i));
    for (const x of m) s.add(x);
    s.add(m[3]); // twice: once
    assert.equal(s.size, 10);
    assert.equal(s.delete(m[2]), true);
    assert.equal(s.delete(m[2]), false);
    assert.equal(m[2].denseSlot, -1);
    assert.equal(s.has(m[2]), false);
    assert.equal(s.has(m[9]), true);
    assert.deepEqual(s.toArray().map((x) => x.id).sort((a, b) => a - b), [0, 1, 3, 4, 5, 6, 7, 8, 9]);
    const other = new DenseSet<M>();
    assert.equal(other.delete(m[0]), false); // another set's member
    assert.equal(s.size, 9);
    s.clear();
    assert.equal(s.size, 0);
    assert.equal(m[0].denseSlot, -1);
  });
  it('iteration skips members deleted meanwhile and tolerates deleting the current one', () => {
    const s = new DenseSet<M>();
    const m = Array.from({ length: 6 }, (_, i) => new M(i));
    for (const x of m) s.add(x);
    const seen: number[] = [];
    for (const x of s) {
      seen.push(x.id);
      s.delete(x);
      if (x.id === 0) s.delete(m[5]);
      s.add(new M(100 + x.id)); // added meanwhile: not visited
    }
    assert.deepEqual(seen, [0, 1, 2, 3, 4]);
    assert.equal(s.size, 5);
  });
});
