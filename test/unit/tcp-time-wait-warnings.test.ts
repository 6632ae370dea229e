/** Start-up warnings for TIME_WAIT settings (review-tcp1 L4). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TIME_WAIT_ENTRY_BYTES, timeWaitWarnings } from '../../src/tcp/time-wait-warnings.js';

const MiB = 2 ** 20;

describe('tcp TIME_WAIT start-up warnings', () => {
  it('none for the defaults (60 s, 50,000 entries) with a 256 MiB budget', () => {
    assert.deepEqual(timeWaitWarnings(60_000, 50_000, 256 * MiB), []);
  });

  it('tcp-time-wait 0 or tcp-time-wait-max 0: TIME_WAIT is off, say what that gives up', () => {
    for (const [ms, max] of [[0, 50_000], [60_000, 0]]) {
      const w = timeWaitWarnings(ms, max, 256 * MiB);
      assert.equal(w.length, 1);
      assert.equal(w[0].code, 'TIME_WAIT_OFF');
      assert.match(w[0].message, /delayed segment/);
    }
  });

  it('a huge tcp-time-wait-max: the memory a full table implies, against the budget', () => {
    const w = timeWaitWarnings(60_000, 10_000_000, 256 * MiB);
    assert.equal(w.length, 1);
    assert.equal(w[0].code, 'TIME_WAIT_MEMORY');
    assert.match(w[0].message, new RegExp(`about ${((10_000_000 * TIME_WAIT_ENTRY_BYTES) / MiB).toFixed(1)} MiB`));
    assert.match(w[0].message, /faster than 166667\/s/);
    assert.deepEqual(timeWaitWarnings(60_000, 500_000, 256 * MiB), [], '185 MiB fits a 256 MiB budget');
  });
});
