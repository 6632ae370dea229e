/** Threads as the CLI shows them, queue placement (VPP's round-robin), one thread's RX queues as one device. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatRxPlacement, formatThreads, QueuePlacer } from '../../src/cli/threads.js';
import { RxQueueDevice } from '../../src/io/rx-queues.js';
import { MemoryDevice } from '../../src/io/memory-device.js';
import { TxBatch } from '../../src/io/device.js';

describe('queue placement', () => {
  it('deals queues round-robin over the workers with one cursor for all interfaces, as VPP', () => {
    const p = new QueuePlacer(2);
    assert.deepEqual(p.place(2), [1, 2]);
    assert.deepEqual(p.place(3), [1, 2, 1]);
    // One queue per interface: the next interface's queue goes to the next worker.
    assert.deepEqual(p.place(1), [2]);
    assert.deepEqual(p.place(1), [1]);
  });

  it('puts every queue on the main thread without workers', () => {
    assert.deepEqual(new QueuePlacer(0).place(3), [0, 0, 0]);
  });

  it('prints rx-placement as VPP does: the node line once across threads', () => {
    const text = formatRxPlacement([
      { hw: 'host-macvlan0', queue: 1, thread: 2, mode: 'polling' },
      { hw: 'host-macvlan0', queue: 0, thread: 1, mode: 'interrupt' },
    ]);
    assert.equal(text, 'Thread 1 (vpp_wk_0):\n  node af-packet-input:\n    host-macvlan0 queue 0 (interrupt)\nThread 2 (vpp_wk_1):\n    host-macvlan0 queue 1 (polling)');
  });

  it("prints show threads in VPP's columns", () => {
    const text = formatThreads([
      { index: 0, name: 'vpp_main', type: '', lwp: 100, lcore: 0, cpuNow: -1 },
      { index: 1, name: 'vpp_wk_0', type: 'workers', lwp: 101, lcore: null, cpuNow: 1 },
    ]);
    const lines = text.split('\n');
    assert.equal(lines[0], 'ID     Name                Type        LWP     Sched Policy (Priority)  lcore  Core   Socket State');
    assert.equal(lines[1], '0      vpp_main                        100     other (0)                0      0      0');
    assert.equal(lines[2], '1      vpp_wk_0            workers     101     other (0)                n/a    n/a    0');
  });
});

describe('RxQueueDevice', () => {
  it('receives from every queue, sends through the first, sums the counters', () => {
    const a = new MemoryDevice('macvlan0', Buffer.from([2, 0, 0, 0, 0, 1]));
    const b = new MemoryDevice('macvlan0', Buffer.from([2, 0, 0, 0, 0, 1]));
    const dev = new RxQueueDevice([
      { id: 0, device: a },
      { id: 1, device: b },
    ]);
    assert.deepEqual(dev.rxQueueIds, [0, 1]);
    let frames = 0;
    dev.start((rx) => (frames += rx.count));
    a.inject(Buffer.alloc(60, 1));
    b.inject(Buffer.alloc(60, 2));
    b.inject(Buffer.alloc(60, 3));
    a.deliver();
    b.deliver();
    assert.equal(frames, 3);
    const tx = new TxBatch(4, 128);
    tx.data.fill(7, tx.nextSlot(), tx.nextSlot() + 60);
    tx.commit(60);
    assert.equal(dev.send(tx), 1);
    assert.equal(a.sent.length, 1);
    assert.equal(b.sent.length, 0);
    assert.equal(dev.stats().txErrors, 0);
  });

  it('is a send-only device without a queue', () => {
    const a = new MemoryDevice('macvlan0', Buffer.from([2, 0, 0, 0, 0, 1]));
    const dev = new RxQueueDevice([], a);
    assert.deepEqual(dev.rxQueueIds, []);
    assert.equal(dev.rxMode, undefined);
    assert.throws(() => new RxQueueDevice([]), /no queue and no send-only device/);
  });
});
