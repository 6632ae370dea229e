import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bucketUpperUs, formatHistogram, histogramDelta, LATENCY_BUCKETS, percentileBucket } from '../../src/io/latency-histogram.js';

const h = (pairs: Record<number, number>): number[] => Array.from({ length: LATENCY_BUCKETS }, (_, k) => pairs[k] ?? 0);

test('buckets are log2 µs: <1, <2, <4 … and everything from 16,384 µs in the last', () => {
  assert.equal(bucketUpperUs(0), 1);
  assert.equal(bucketUpperUs(3), 8);
  assert.equal(bucketUpperUs(14), 16384);
  assert.equal(bucketUpperUs(15), Infinity);
});

test('percentiles are the bucket holding the rank; an empty histogram has none', () => {
  const x = h({ 2: 50, 3: 40, 6: 9, 10: 1 });
  assert.equal(percentileBucket(x, 0.5), 2);
  assert.equal(percentileBucket(x, 0.9), 3);
  assert.equal(percentileBucket(x, 0.99), 6);
  assert.equal(percentileBucket(x, 1), 10);
  assert.equal(percentileBucket(h({}), 0.5), -1);
});

test('formats counts, percentiles and the non-empty buckets; deltas subtract an earlier copy', () => {
  const before = h({ 2: 10 });
  const after = h({ 2: 60, 3: 49, 15: 1 });
  const d = histogramDelta(after, before);
  assert.deepEqual(d, h({ 2: 50, 3: 49, 15: 1 }));
  assert.equal(formatHistogram(d), 'n 100 p50 <4 p90 <8 p99 <8 max >16384 µs [<4:50 <8:49 >16384:1]');
  assert.equal(formatHistogram(h({})), 'n 0');
});
