/**
 * TX backpressure (issue 8 item 4) without a kernel: the TxBacklog contract, and our TCP over a
 * MemoryDevice whose simulated kernel keeps refusing frames (EAGAIN / ENOBUFS) the way AF_PACKET
 * does when a qdisc or the socket buffer is full. Nothing may be lost to it: no segment dropped
 * (so no retransmission), the bytes intact.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { DataplaneSegmentSink, TcpHost } from '../../src/dataplane/tcp-host.js';
import type { TxVector } from '../../src/io/device.js';
import { TxBatch } from '../../src/io/device.js';
import { FaultInjector, SeededRandom } from '../../src/io/fault-injector.js';
import { createMemoryPair, MemoryDevice } from '../../src/io/memory-device.js';
import { PcapDevice } from '../../src/io/pcap.js';
import { TxBacklog, type TxKernel, type TxStopReason } from '../../src/io/tx-backlog.js';
import { TcpStack } from '../../src/tcp/stack.js';
import { parseIpv4 } from '../../src/wire/address.js';
import { Services } from '../../src/services.js';
import { createMetricsRegistry } from '../../src/ops/metrics.js';

/** A scripted kernel: takes `budget` frames, then stops with `reason`; records what it took. */
class FakeKernel implements TxKernel {
  budget = Infinity;
  stopReason: TxStopReason = 'EAGAIN';
  waits: TxStopReason[] = [];
  cancelled = 0;
  readonly taken: string[] = [];
  private at = 0;

  stopIndex(): number {
    return this.at;
  }

  transmit(tx: TxVector, first: number): number {
    for (let i = first; i < tx.count; i++) {
      if (this.budget <= 0) {
        this.at = i;
        return i - first;
      }
      this.budget--;
      this.taken.push(tx.data.toString('latin1', tx.offset[i], tx.offset[i] + tx.length[i]));
    }
    return tx.count - first;
  }

  wait(reason: TxStopReason): void {
    this.waits.push(reason);
  }

  cancel(): void {
    this.cancelled++;
  }
}

function batch(...frames: string[]): TxBatch {
  const b = new TxBatch(64, 128);
  for (const f of frames) {
    b.data.write(f, b.nextSlot(), 'latin1');
    b.commit(f.length);
  }
  return b;
}

describe('TxBacklog', () => {
  it('holds what the kernel refused, sends it first and in order, then calls onReady once', () => {
    const k = new FakeKernel();
    const q = new TxBacklog(k, 8, 8 * 128);
    let ready = 0;
    q.onReady = () => ready++;
    k.budget = 2;
    assert.equal(q.send(batch('a', 'b', 'c', 'd')), 4, 'refused frames count as accepted');
    assert.equal(q.ready, false);
    assert.deepEqual(k.waits, ['EAGAIN']);
    // While blocked, new frames queue behind the backlog without touching the kernel.
    k.budget = 100;
    assert.equal(q.send(batch('e')), 1);
    assert.deepEqual(k.taken, ['a', 'b']);
    k.budget = 1;
    q.resume(); // partial: 'c' leaves, the rest waits again
    assert.deepEqual(k.taken, ['a', 'b', 'c']);
    assert.equal(q.ready, false);
    assert.equal(ready, 0);
    assert.equal(k.waits.length, 2);
    k.budget = Infinity;
    q.resume();
    assert.deepEqual(k.taken, ['a', 'b', 'c', 'd', 'e']);
    assert.equal(q.ready, true);
    assert.equal(ready, 1);
    q.resume(); // nothing held: no second onReady
    assert.equal(ready, 1);
    assert.deepEqual(q.counters, { txBlocked: 1, txBacklogged: 3, txBacklogDrops: 0, txBacklogFrames: 0, txBacklogPeak: 3, txResumes: 2 });
  });

  it('is bounded by frames and by bytes: beyond that, send() returns fewer and counts drops', () => {
    const k = new FakeKernel();
    k.budget = 0;
    k.stopReason = 'ENOBUFS';
    const q = new TxBacklog(k, 3, 10 * 64);
    assert.equal(q.send(batch('1', '2', '3', '4', '5')), 3);
    assert.equal(q.counters.txBacklogDrops, 2);
    assert.deepEqual(k.waits, ['ENOBUFS']);
    const big = new TxBacklog(new FakeKernel(), 100, 128);
    (big as unknown as { kernel: FakeKernel }).kernel.budget = 0;
    const f = 'x'.repeat(100);
    assert.equal(big.send(batch(f, f)), 1, 'the second 100-byte frame does not fit in 128 bytes');
    assert.equal(big.counters.txBacklogDrops, 1);
  });

  it('keeps offload fields with the frames it holds', () => {
    const k = new FakeKernel();
    k.budget = 0;
    const q = new TxBacklog(k, 4, 4 * 128);
    const b = new TxBatch(4, 128);
    b.data.write('seg', b.nextSlot());
    b.commit(3, 34, 1448);
    q.send(b);
    const v = q.vector;
    assert.equal(v.count, 1);
    assert.equal(v.csumStart?.[0], 34);
    assert.equal(v.gsoSize?.[0], 1448);
  });

  it('close() forgets the backlog and cancels the wait', () => {
    const k = new FakeKernel();
    k.budget = 0;
    const q = new TxBacklog(k, 4, 512);
    q.send(batch('a'));
    q.close();
    assert.equal(k.cancelled, 1);
    assert.equal(q.ready, true);
    assert.equal(q.send(batch('b')), 0);
  });
});

describe('MemoryDevice refusing frames, and the wrappers', () => {
  it('refuseAfter / makeWritable drive txReady and onTxReady; FaultInjector and PcapDevice forward them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'txbp-'));
    try {
      const dev = new MemoryDevice('m0', Buffer.from([2, 0, 0, 0, 0, 1]));
      const wrapped = new PcapDevice(new FaultInjector(dev), join(dir, 'x.pcap'));
      let ready = 0;
      wrapped.onTxReady = () => ready++;
      assert.equal(wrapped.txReady, true);
      dev.refuseAfter(1);
      assert.equal(wrapped.send(batch('a', 'b', 'c')), 3);
      assert.equal(wrapped.txReady, false);
      assert.equal(dev.sent.length, 1);
      dev.makeWritable();
      assert.equal(wrapped.txReady, true);
      assert.equal(ready, 1);
      assert.deepEqual(dev.sent.map((f) => f.toString()), ['a', 'b', 'c']);
      const st = wrapped.stats();
      assert.equal(st.txEagain, 1);
      assert.equal(st.txBlocked, 1);
      assert.equal(st.txBacklogged, 2);
      assert.equal(st.txBacklogDrops, 0);
      wrapped.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const SERVER = parseIpv4('10.0.0.1')!;
const CLIENT = parseIpv4('10.0.0.2')!;

function node(dev: MemoryDevice, ip: number, now: () => number, rcvBuf = 256 * 1024): { dp: Dataplane; stack: TcpStack; host: TcpHost } {
  const dp = new Dataplane({ openDevice: () => dev, now });
  const name = dp.createHostInterface(dev.ifname);
  dp.setAdminState(name, true);
  dp.addAddress(name, { address: ip, prefixLength: 24 });
  const stack = new TcpStack(new DataplaneSegmentSink(dp), { mss: 1460, rcvBuf });
  const host = new TcpHost(dp, stack);
  return { dp, stack, host };
}

/**
 * A download of `bytes` from the server, whose device's kernel takes only a few frames at a
 * time (a seeded random 0..maxPerWake), then refuses with `reason` until the next writable
 * event; each 1 ms tick of the virtual clock the kernel may become writable again.
 */
function refusedTransfer(bytes: number, gso: boolean, reason: TxStopReason, maxPerWake: number) {
  let t = 0;
  const now = () => t;
  const a = new MemoryDevice('srv0', Buffer.from([2, 0, 0, 0, 0, 1]));
  const b = new MemoryDevice('cli0', Buffer.from([2, 0, 0, 0, 0, 2]));
  if (gso) a.txOffload = { checksum: true, gso: true, maxGsoBytes: 65535 };
  createMemoryPair(a, b);
  const rnd = new SeededRandom(7);
  a.refuseAfter(3, reason);
  const s = node(a, SERVER, now);
  // A receive window as large as Linux's autotuned one (a curl client): TCP's flight can then
  // be far larger than the device's backlog, so only TCP waiting for the device keeps it whole.
  const c = node(b, CLIENT, now, 8 * 1024 * 1024);
  const payload = randomBytes(bytes);
  s.stack.listen(SERVER, 80, (stream) => {
    stream.write(payload);
    stream.end();
    return { onData() {}, onDrain() {}, onEnd() {}, onClose() {} };
  });
  const chunks: Buffer[] = [];
  let ended = false;
  let notReadySeen = 0;
  c.stack.connect(CLIENT, 40000, SERVER, 80, () => ({
    onData: (buf, off, len) => void chunks.push(Buffer.from(buf.subarray(off, off + len))),
    onDrain() {},
    onEnd: () => void (ended = true),
    onClose() {},
  }), t);
  c.host.kick();
  let i = 0;
  for (; i < 20000 && !ended; i++) {
    t += 1;
    a.deliver();
    b.deliver();
    s.stack.tick(t);
    c.stack.tick(t);
    s.host.kick();
    c.host.kick();
    if (!a.txReady) notReadySeen++;
    // The kernel frees room now and then (3 ticks in 4), a random amount each time.
    if (a.txWaiting && rnd.chance(0.75)) a.makeWritable(rnd.int(maxPerWake + 1));
  }
  const got = Buffer.concat(chunks);
  const stats = a.stats();
  s.host.close();
  c.host.close();
  return { intact: got.equals(payload), got: got.length, ticks: i, stats, notReadySeen, retransmits: s.stack.counters.retransmits, pending: s.stack.pending() };
}

describe('TCP through a device that keeps refusing frames', () => {
  for (const [gso, reason] of [[true, 'EAGAIN'], [false, 'ENOBUFS']] as const) {
    it(`10 MB arrive intact with no retransmission (${gso ? 'GSO super-frames' : 'MTU frames'}, ${reason})`, () => {
      const r = refusedTransfer(10 * 1024 * 1024, gso, reason, gso ? 2 : 12);
      const detail = JSON.stringify({ ...r, intact: r.intact });
      assert.equal(r.intact, true, `got ${r.got} bytes: ${detail}`);
      assert.equal(r.retransmits, 0, `segments were lost to backpressure: ${detail}`);
      assert.equal(r.stats.txBacklogDrops, 0, detail);
      const stops = reason === 'EAGAIN' ? r.stats.txEagain! : r.stats.txNobufs!;
      assert.ok(stops > 10, `the kernel refused often (${stops} stops): ${detail}`);
      assert.ok(r.stats.txBlocked! > 10 && r.notReadySeen > 10, detail);
      assert.equal(r.stats.txBacklogFrames, 0, 'nothing left behind');
      // TCP stops at a device that is not ready: the backlog holds at most the rest of the batch
      // that blocked (256 frames) and the frame being built then, not TCP's whole flight.
      assert.ok(r.stats.txBacklogPeak! <= 257, `backlog peak ${r.stats.txBacklogPeak}: ${detail}`);
    });
  }
});

describe('backpressure counters in metrics', () => {
  it('a blocked device shows its counters in /metrics (promtool check metrics passes)', async () => {
    const dev = new MemoryDevice('m0', Buffer.from([2, 0, 0, 0, 0, 1]));
    const dp = new Dataplane({ openDevice: () => dev });
    const name = dp.createHostInterface('m0');
    dp.setAdminState(name, true);
    dev.refuseAfter(0, 'ENOBUFS');
    dp.addAddress(name, { address: SERVER, prefixLength: 24 }); // its gratuitous ARP is refused, then held
    let resumed = 0;
    const inner = dev.onTxReady!;
    dev.onTxReady = () => {
      resumed++;
      inner();
    };
    const registry = createMetricsRegistry({ dp, services: new Services(dp, []), errorSources: [], status: () => ({ live: true, ready: true, stalls: 0, maxGapMs: 0 }) });
    const text = await registry.metrics();
    assert.match(text, /^vpp_device_tx_nobufs_total\{interface="host-m0"\} 1$/m);
    assert.match(text, /^vpp_device_tx_blocked_total\{interface="host-m0"\} 1$/m);
    assert.match(text, /^vpp_device_tx_backlogged_total\{interface="host-m0"\} 1$/m);
    assert.match(text, /^vpp_device_tx_backlog_frames\{interface="host-m0"\} 1$/m);
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    if (check.error === undefined) assert.equal(check.status, 0, `promtool check metrics:\n${check.stdout}${check.stderr}`);
    dev.makeWritable();
    assert.equal(resumed, 1, 'the dataplane hooked onTxReady');
    assert.equal(dev.sent.length, 1);
    dp.close();
  });
});
