/** FaultInjector: seeded, reproducible drop / duplicate / reorder / corrupt in both directions. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TxBatch } from '../../src/io/device.js';
import { FaultInjector, SeededRandom, type FaultOptions } from '../../src/io/fault-injector.js';
import { MemoryDevice } from '../../src/io/memory-device.js';
import { seedTestBed, seedTestBedWithClient, totalDispositions } from '../helpers/dataplane.js';
import { pingFrame, decodeEthernet, decodeIpv4, decodeIcmpEcho } from '../helpers/frames.js';

const MAC = Buffer.from('020000000001', 'hex');

/** A numbered 60-byte frame: byte 14..15 carry the number. */
function numbered(n: number): Buffer {
  const b = Buffer.alloc(60);
  b.writeUInt16BE(0x0800, 12);
  b.writeUInt16BE(n, 14);
  return b;
}

/** Pushes frames 0..n-1 through the rx side, one vector per `perVector`, and returns what the handler saw. */
function receive(options: FaultOptions, n: number, perVector = 8): { frames: Buffer[]; tags: number[]; fi: FaultInjector } {
  const inner = new MemoryDevice('eth0', MAC);
  const fi = new FaultInjector(inner, options);
  const frames: Buffer[] = [];
  const tags: number[] = [];
  fi.start((rx) => {
    for (let i = 0; i < rx.count; i++) {
      frames.push(Buffer.from(rx.data.subarray(rx.offset[i], rx.offset[i] + rx.length[i])));
      tags.push(rx.vlanTpid[i] === 0 ? -1 : rx.vlanTci[i]);
    }
  });
  for (let i = 0; i < n; i++) {
    inner.inject(numbered(i), i % 2 === 0 ? { vlanTci: i & 0xfff } : {});
    if ((i + 1) % perVector === 0) inner.deliver();
  }
  inner.deliver();
  return { frames, tags, fi };
}

/** Sends frames 0..n-1, one batch of `perBatch`, and returns what reached the inner device. */
function transmit(options: FaultOptions, n: number, perBatch = 8): { frames: Buffer[]; accepted: number; fi: FaultInjector } {
  const inner = new MemoryDevice('eth0', MAC);
  const fi = new FaultInjector(inner, options);
  const batch = new TxBatch(perBatch, 64);
  let accepted = 0;
  for (let i = 0; i < n; i++) {
    numbered(i).copy(batch.data, batch.nextSlot());
    batch.commit(60);
    if (batch.full || i === n - 1) {
      accepted += fi.send(batch);
      batch.reset();
    }
  }
  return { frames: inner.takeSent(), accepted, fi };
}

const ids = (frames: Buffer[]): number[] => frames.map((f) => f.readUInt16BE(14));

describe('io/fault-injector', () => {
  it('SeededRandom is deterministic and roughly uniform', () => {
    const a = new SeededRandom(42);
    const b = new SeededRandom(42);
    const xs = Array.from({ length: 1000 }, () => a.next());
    assert.deepEqual(xs, Array.from({ length: 1000 }, () => b.next()));
    assert.notDeepEqual(xs.slice(0, 10), Array.from({ length: 10 }, () => new SeededRandom(43).next()));
    assert.ok(xs.every((x) => x >= 0 && x < 1));
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    assert.ok(Math.abs(mean - 0.5) < 0.05, `mean ${mean}`);
  });

  it('with no faults, passes every frame and its VLAN metadata through unchanged', () => {
    const { frames, tags, fi } = receive({}, 50);
    assert.deepEqual(ids(frames), Array.from({ length: 50 }, (_, i) => i));
    assert.deepEqual(tags, Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? i : -1)));
    assert.deepEqual(fi.counters.rx, { frames: 50, dropped: 0, duplicated: 0, reordered: 0, corrupted: 0 });
    assert.equal(fi.ifname, 'eth0');
    assert.deepEqual(fi.mac, MAC);
    assert.equal(fi.mtu, 1500);
  });

  it('is reproducible: the same seed gives the same faults, another seed different ones', () => {
    const opts = { seed: 7, drop: 0.2, duplicate: 0.1, reorder: 0.1, corrupt: 0.1 };
    const one = receive(opts, 500);
    const two = receive(opts, 500);
    assert.deepEqual(one.frames, two.frames);
    assert.deepEqual(one.fi.counters, two.fi.counters);
    const other = receive({ ...opts, seed: 8 }, 500);
    assert.notDeepEqual(one.frames, other.frames);
    const t1 = transmit(opts, 500);
    const t2 = transmit(opts, 500);
    assert.deepEqual(t1.frames, t2.frames);
  });

  it('drops about the given fraction', () => {
    const { frames, fi } = receive({ seed: 1, drop: 0.3 }, 10_000, 64);
    const c = fi.counters.rx;
    assert.equal(frames.length, 10_000 - c.dropped);
    // 10k trials at p = 0.3: sigma ≈ 46; allow 5 sigma.
    assert.ok(Math.abs(c.dropped - 3000) < 230, `dropped ${c.dropped}`);
    assert.equal(receive({ drop: 1 }, 100).frames.length, 0);
  });

  it('duplicates: each frame twice at rate 1, in order', () => {
    const { frames, fi } = receive({ duplicate: 1 }, 5);
    assert.deepEqual(ids(frames), [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]);
    assert.equal(fi.counters.rx.duplicated, 5);
  });

  it('reorders: a held frame comes right after the next one, across vectors, and flush() releases the last', () => {
    const { frames, fi } = receive({ reorder: 1 }, 7, 3);
    assert.deepEqual(ids(frames), [1, 0, 3, 2, 5, 4], 'frame 6 is still held');
    fi.flush();
    assert.deepEqual(ids(frames), [1, 0, 3, 2, 5, 4, 6]);
    const t = transmit({ reorder: 1 }, 4, 4);
    assert.deepEqual(ids(t.frames), [1, 0, 3, 2]);
  });

  it('corrupts exactly one bit of a copy, never the caller’s buffer', () => {
    const inner = new MemoryDevice('eth0', MAC);
    const fi = new FaultInjector(inner, { corrupt: 1, seed: 3 });
    const original = numbered(9);
    const pristine = Buffer.from(original);
    const batch = { count: 1, data: original, offset: new Uint32Array([0]), length: new Uint32Array([60]) };
    for (let k = 0; k < 200; k++) fi.send(batch);
    assert.deepEqual(original, pristine, 'the caller’s frame is untouched');
    const sent = inner.takeSent();
    assert.equal(sent.length, 200);
    for (const s of sent) {
      let bits = 0;
      for (let i = 0; i < 60; i++) for (let x = s[i] ^ pristine[i]; x !== 0; x &= x - 1) bits++;
      assert.equal(bits, 1);
    }
    assert.equal(fi.counters.tx.corrupted, 200);
  });

  it('applies per-direction rates (rx and tx override the common ones)', () => {
    const opts: FaultOptions = { drop: 1, rx: { drop: 0 }, tx: {} };
    assert.equal(receive(opts, 10).frames.length, 10);
    const t = transmit(opts, 10);
    assert.equal(t.frames.length, 0);
    assert.equal(t.accepted, 10, 'frames lost on purpose count as sent');
  });

  it('rejects rates that are not probabilities', () => {
    const inner = new MemoryDevice('eth0', MAC);
    assert.throws(() => new FaultInjector(inner, { drop: 1.5 }), RangeError);
    assert.throws(() => new FaultInjector(inner, { rx: { corrupt: -0.1 } }), RangeError);
    assert.throws(() => new FaultInjector(inner, { duplicate: Number.NaN }), RangeError);
  });

  it('under the dataplane: every frame that gets through is accounted for, every intact ping answered', async () => {
    let fi: FaultInjector | undefined;
    const faults: FaultOptions = { seed: 11, rx: { drop: 0.1, duplicate: 0.1, reorder: 0.1, corrupt: 0.2 }, tx: { drop: 0, duplicate: 0, reorder: 0, corrupt: 0 } };
    const tb = await seedTestBedWithClient({ wrap: (d) => (fi = new FaultInjector(d, faults)) });
    const dev = tb.device();
    dev.takeSent();
    for (let seq = 0; seq < 400; seq++) dev.inject(pingFrame({ seq, data: Buffer.alloc(56, seq & 0xff) }));
    dev.deliver();
    fi!.flush();
    const c = fi!.counters;
    const delivered = c.rx.frames - c.rx.dropped + c.rx.duplicated;
    assert.equal(totalDispositions(tb.dp), delivered, 'one counter per frame that reached the dataplane');
    const replies = dev.takeSent().map((f) => decodeIcmpEcho(decodeIpv4(decodeEthernet(f).payload).payload));
    const echo = tb.dp.graph.icmpInput;
    assert.equal(replies.length, echo.errors[echo.e.echoReplies]);
    for (const r of replies) {
      assert.ok(r.checksumOk);
      assert.deepEqual(r.data, Buffer.alloc(56, r.seq & 0xff), 'a reply echoes intact data');
    }
    // Every ping that was neither dropped nor corrupted is answered (duplicates twice).
    assert.ok(replies.length >= 400 - c.rx.dropped - c.rx.corrupted, `${replies.length} replies`);
  });
});
