/** Liveness and readiness logic with a fake clock (src/ops/health.ts). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LoopHealth, readiness, type ReadinessSnapshot } from '../../src/ops/health.js';

function beatEvery(h: LoopHealth, from: number, to: number, step: number): number {
  let t = from;
  for (; t <= to; t += step) h.beat(t);
  return t - step;
}

describe('LoopHealth: the event loop', () => {
  it('is live while the heartbeat keeps its period', () => {
    const h = new LoopHealth(0, { intervalMs: 250, stallThresholdMs: 2000, holdMs: 10_000 });
    const t = beatEvery(h, 250, 60_000, 250);
    assert.deepEqual(h.check(t + 100), { ok: true, reasons: [] });
    assert.equal(h.stalls, 0);
    assert.equal(h.maxGapMs, 250);
  });

  it('is not live while no beat came for longer than the threshold', () => {
    const h = new LoopHealth(0, { intervalMs: 250, stallThresholdMs: 2000 });
    h.beat(250);
    assert.equal(h.check(2000).ok, true, '1750 ms without a beat is under the threshold');
    const r = h.check(2300);
    assert.equal(r.ok, false);
    assert.match(r.reasons[0], /has not turned for 2050 ms \(threshold 2000 ms\)/);
  });

  it('reports a stall that ended for holdMs, then recovers', () => {
    const h = new LoopHealth(0, { intervalMs: 250, stallThresholdMs: 1000, holdMs: 5000 });
    beatEvery(h, 250, 1000, 250);
    h.beat(4000); // the loop was blocked 3 s
    assert.equal(h.stalls, 1);
    assert.deepEqual(h.lastStall, { endedAt: 4000, durationMs: 3000 });
    const during = h.check(4010);
    assert.equal(during.ok, false);
    assert.match(during.reasons.join('\n'), /stalled for 3000 ms, 0\.0 s ago/);
    const t = beatEvery(h, 4250, 8900, 250);
    assert.equal(h.check(t).ok, false, 'still within holdMs');
    beatEvery(h, t + 250, 9250, 250);
    assert.deepEqual(h.check(9250), { ok: true, reasons: [] });
    assert.equal(h.maxGapMs, 3000);
  });

  it('counts a gap just over the threshold as a stall and one at it as none', () => {
    const h = new LoopHealth(0, { stallThresholdMs: 1000 });
    h.beat(1000);
    assert.equal(h.stalls, 0);
    h.beat(2001);
    assert.equal(h.stalls, 1);
  });
});

describe('LoopHealth: RX rings', () => {
  it('is live when the ring is idle (nothing delivered, nothing read)', () => {
    const h = new LoopHealth(0, { stallThresholdMs: 2000 });
    for (let t = 0; t <= 20_000; t += 1000) {
      h.beat(t);
      h.sampleRings([{ name: 'host-macvlan0', seen: 5, consumed: 3 }], t);
    }
    assert.equal(h.check(20_000).ok, true, 'a constant skew between the counters is not a stall');
  });

  it('is live while frames are delivered and read', () => {
    const h = new LoopHealth(0, { stallThresholdMs: 2000 });
    for (let t = 0, n = 0; t <= 20_000; t += 1000, n += 100) {
      h.beat(t);
      h.sampleRings([{ name: 'host-macvlan0', seen: n, consumed: Math.max(0, n - 50) }], t);
    }
    assert.equal(h.check(20_000).ok, true);
  });

  it('is not live when the kernel delivers frames and none are read for longer than the threshold', () => {
    const h = new LoopHealth(0, { stallThresholdMs: 2000 });
    for (let t = 0, n = 0; t <= 5000; t += 1000, n += 100) {
      h.beat(t);
      h.sampleRings([{ name: 'host-macvlan0', seen: n, consumed: 0 }], t);
    }
    const r = h.check(5000);
    assert.equal(r.ok, false);
    assert.match(r.reasons.join('\n'), /RX ring of host-macvlan0 is not drained/);
    // Reading resumes: live again.
    h.beat(6000);
    h.sampleRings([{ name: 'host-macvlan0', seen: 600, consumed: 600 }], 6000);
    assert.equal(h.check(6000).ok, true);
  });
});

describe('readiness', () => {
  const ready: ReadinessSnapshot = {
    started: true,
    draining: false,
    interfaces: [
      { name: 'host-macvlan0', up: true, addresses: 0 },
      { name: 'host-macvlan0.123', up: true, addresses: 1 },
    ],
    httpServers: 1,
    live: { ok: true, reasons: [] },
  };

  it('is ready with interfaces up, an address and an HTTP server', () => {
    assert.deepEqual(readiness(ready), { ok: true, reasons: [] });
  });

  it('says why not, one reason per missing piece', () => {
    const noAddress = readiness({ ...ready, interfaces: ready.interfaces.map((i) => ({ ...i, addresses: 0 })) });
    assert.equal(noAddress.ok, false);
    assert.match(noAddress.reasons.join('\n'), /no IPv4 address configured, nor an IPv6 one that passed DAD.*set interface ip address/);
    const down = readiness({ ...ready, interfaces: [{ ...ready.interfaces[0], up: false }, ready.interfaces[1]] });
    assert.match(down.reasons.join('\n'), /interface host-macvlan0 is down: set interface state host-macvlan0 up/);
    assert.match(readiness({ ...ready, httpServers: 0 }).reasons.join('\n'), /no HTTP static server is listening/);
    assert.match(readiness({ ...ready, interfaces: [] }).reasons.join('\n'), /no interface configured/);
    assert.match(readiness({ ...ready, started: false }).reasons.join('\n'), /still running/);
    assert.deepEqual(readiness({ ...ready, draining: true }).reasons, ['shutting down (signal received): not taking new connections']);
    assert.deepEqual(readiness({ ...ready, live: { ok: false, reasons: ['x'] } }).reasons, ['not live: x']);
  });
});
