/**
 * The shared housekeeping timer (src/util/housekeeping.ts): tasks of a thread share one timer
 * at the shortest period, each runs about every its own period, stop() takes a task out, one
 * task's exception neither starves the others nor disappears. A fake timer API drives it: the
 * test moves the clock and fires the interval itself.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Housekeeping, type TimerApi } from '../../src/util/housekeeping.js';

class FakeTimers implements TimerApi {
  clock = 0;
  raised: unknown[] = [];
  live = new Map<number, { fn: () => void; ms: number }>();
  private next = 1;
  now(): number {
    return this.clock;
  }
  setInterval(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.live.set(id, { fn, ms });
    return id;
  }
  clearInterval(handle: unknown): void {
    this.live.delete(handle as number);
  }
  raise(err: unknown): void {
    this.raised.push(err);
  }
  /** The one interval that should exist. */
  only(): { fn: () => void; ms: number } {
    assert.equal(this.live.size, 1, `timers: ${this.live.size}`);
    return [...this.live.values()][0];
  }
  /** Advances the clock by the interval's period `n` times, firing it each time (jitter: ms added to each step). */
  fire(n: number, jitter = 0): void {
    for (let i = 0; i < n; i++) {
      const t = this.only();
      this.clock += t.ms + jitter;
      t.fn();
    }
  }
}

describe('housekeeping: one timer for a thread', () => {
  it('runs tasks of one period on the same ticks of a single timer', () => {
    const timers = new FakeTimers();
    const hk = new Housekeeping(timers);
    const runs: string[] = [];
    hk.every(250, () => runs.push('heartbeat'));
    timers.clock += 40; // registered 40 ms later, as the dataplane's timer was
    hk.every(250, () => runs.push('neighbours'));
    timers.clock += 90;
    hk.every(250, () => runs.push('sweep'));
    assert.equal(timers.live.size, 1);
    assert.equal(hk.periodMs, 250);
    timers.fire(4);
    assert.deepEqual(runs, Array.from({ length: 4 }, () => ['heartbeat', 'neighbours', 'sweep']).flat());
  });

  it('runs a longer period on the ticks of the shorter one, every N ticks, even when ticks come a little early', () => {
    const timers = new FakeTimers();
    const hk = new Housekeeping(timers);
    let fast = 0;
    let slow = 0;
    hk.every(250, () => fast++);
    hk.every(1000, () => slow++);
    timers.fire(12, -1); // each tick 1 ms early
    assert.equal(fast, 12);
    assert.equal(slow, 3);
  });

  it('retimes to a shorter period when one registers, and back when it stops; no timer when none is left', () => {
    const timers = new FakeTimers();
    const hk = new Housekeeping(timers);
    let a = 0;
    let b = 0;
    const ta = hk.every(250, () => a++);
    const tb = hk.every(10, () => b++);
    assert.equal(timers.only().ms, 10);
    timers.fire(50); // 500 ms
    assert.equal(b, 50);
    assert.equal(a, 2);
    tb.stop();
    tb.stop(); // idempotent
    assert.equal(timers.only().ms, 250);
    timers.fire(2);
    assert.equal(b, 50);
    assert.equal(a, 4);
    ta.stop();
    assert.equal(timers.live.size, 0);
    assert.equal(hk.periodMs, 0);
  });

  it('lets a task stop itself or another while the tick runs', () => {
    const timers = new FakeTimers();
    const hk = new Housekeeping(timers);
    const runs: string[] = [];
    const second = hk.every(100, () => runs.push('second'));
    const first: { stop(): void } = hk.every(100, () => {
      runs.push('first');
      first.stop();
    });
    hk.every(100, () => {
      runs.push('third');
      second.stop();
    });
    timers.fire(2);
    assert.deepEqual(runs, ['second', 'first', 'third', 'third']);
  });

  it('runs the other tasks when one throws, and surfaces the exception', () => {
    const timers = new FakeTimers();
    const hk = new Housekeeping(timers);
    let after = 0;
    hk.every(100, () => {
      throw new Error('boom');
    });
    hk.every(100, () => after++);
    timers.fire(2);
    assert.equal(after, 2);
    assert.deepEqual(
      timers.raised.map((e) => (e as Error).message),
      ['boom', 'boom'],
    );
  });
});
