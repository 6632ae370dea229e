/**
 * Review r/perf finding 6: a bare `vpp-server run` (no --max-semi-space-size on node's command
 * line) still caps the workers' young generation, through their resourceLimits.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { DATAPLANE_NODE_FLAGS } from '../../src/deploy/manifests.js';
import { DATAPLANE_SEMI_SPACE_MB, WORKER_RESOURCE_LIMITS } from '../../src/threads/heap-limits.js';
import { workerOptions } from '../../src/threads/pool.js';
import type { WorkerData } from '../../src/threads/protocol.js';

test('the node flag and the workers\' resourceLimits say the same semi-space size', () => {
  assert.deepEqual(DATAPLANE_NODE_FLAGS, [`--max-semi-space-size=${DATAPLANE_SEMI_SPACE_MB}`]);
  assert.equal(WORKER_RESOURCE_LIMITS.maxYoungGenerationSizeMb, 3 * DATAPLANE_SEMI_SPACE_MB);
  const o = workerOptions({ index: 2 } as WorkerData);
  assert.deepEqual(o.resourceLimits, { maxYoungGenerationSizeMb: 24 });
  assert.equal(o.name, 'vpp_wk_1');
});

const flagged = process.execArgv.some((a) => a.startsWith('--max-semi-space-size'));

test('a worker with those limits keeps its new space at 2 x the semi-space under a high allocation rate (V8 grows it to 32 MiB without)', { skip: flagged ? 'node was started with --max-semi-space-size' : false }, async () => {
  const churn = `
    const { parentPort } = require('node:worker_threads');
    const v8 = require('node:v8');
    let keep = [];
    for (let i = 0; i < 3e6; i++) { keep.push({ a: i, b: [i] }); if (keep.length > 20000) keep = []; }
    parentPort.postMessage(v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size);`;
  const newSpace = (limits: object | undefined) =>
    new Promise<number>((resolve, reject) => {
      const w = new Worker(churn, { eval: true, ...(limits ? { resourceLimits: limits } : {}) });
      w.once('message', (n: number) => resolve(n));
      w.once('error', reject);
    });
  const capped = await newSpace({ ...WORKER_RESOURCE_LIMITS });
  assert.ok(capped <= 2 * DATAPLANE_SEMI_SPACE_MB * 1048576, `new space ${(capped / 1048576).toFixed(1)} MiB with the limits`);
});
