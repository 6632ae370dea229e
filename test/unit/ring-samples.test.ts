/**
 * The heartbeat's ring samples (Engine's ringSamplesOf): taken from a device's ringCounters()
 * when it has one that answers, from stats() otherwise, and left out for a device with neither;
 * the same figures either way.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ringSamplesOf } from '../../src/engine.js';
import type { DeviceStats } from '../../src/io/device.js';

const stats = (extra: Record<string, number>) => (() => ({ rxPackets: 0, txPackets: 0, ...extra }) as unknown as DeviceStats);

describe('engine: ring samples for the liveness check', () => {
  it('uses ringCounters() when it answers, else stats(), and leaves out devices without a ring', () => {
    let statsCalls = 0;
    const fast = {
      name: 'fast',
      device: {
        ringCounters: (out: Float64Array) => {
          out[0] = 10;
          out[1] = 7;
          return true;
        },
        stats: () => {
          statsCalls++;
          return stats({})();
        },
      },
    };
    const closed = { name: 'closed', device: { ringCounters: () => false, stats: stats({ kernelSeen: 5, rxFrames: 3, rxOutgoingSkipped: 1, rxTruncated: 1 }) } };
    const old = { name: 'old', device: { stats: stats({ kernelSeen: 9, rxFrames: 9 }) } };
    const ringless = { name: 'memory', device: { stats: stats({}) } };
    const samples = ringSamplesOf([fast, closed, old, ringless], new Float64Array(2));
    assert.deepEqual(samples, [
      { name: 'fast', seen: 10, consumed: 7 },
      { name: 'closed', seen: 5, consumed: 5 },
      { name: 'old', seen: 9, consumed: 9 },
    ]);
    assert.equal(statsCalls, 0, 'stats() is not built when ringCounters() answered');
  });
});
