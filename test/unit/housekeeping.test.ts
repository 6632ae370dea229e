/**
 * The shared housekeeping timer (src/util/housekeeping.ts): tasks of a thread share one timeout;
 * tasks of one period (or of multiples) run on the same wakeups whenever they registered; each
 * runs every its own period whatever the others'; registering and stopping others never delays
 * a task; stop() takes a task out; one task's exception neither starves the others nor
 * disappears; bad periods are refused. A fake timer API drives it: the test moves the clock and
 * fires due timeouts itself.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Housekeeping, type TimerApi } from '../../src/util/housekeeping.js';

class FakeTimers implements TimerApi {
  clock = 1000.3; // not on any grid
  raised: unknown[] = [];
  wakeups = 0;
  private pending = new Map<number, { fn: () => void; at: number }>();
  private next = 1;
  now(): number {
    return this.clock;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    assert.ok(ms >= 1 && Number.isInteger(ms), `timeout ${ms}`);
    const id = this.next++;
    this.pending.set(id, { fn, at: this.clock + ms });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }
  raise(err: unknown): void {
    this.raised.push(err);
  }
  get armed(): number {
    return this.pending.size;
  }
  /** Moves the clock `ms` on, firing each timeout when its time comes (in order). */
  advance(ms: number): void {
    const end = this.clock + ms;
    for (;;) {
      let first: [number, { fn: () => void; at: number }] | undefined;
      for (const e of this.pending) if (first === undefined || e[1].at < first[1].at) first = e;
      if (first === undefined || first[1].at > end) break;
      this.pending.delete(first[0]);
      this.clock = Math.max(this.clock, first[1].at); // a late wakeup sees the late clock
      this.wakeups++;
      first[1].fn();
    }
    this.clock = end;
  }
}

/** Records the clock at each run of a task. */
function recorder(timers: FakeTimers): { times: number[]; run: () => void } {
  const times: number[] = [];
  return { times, run: () => times.push(timers.clock) };
}

describe('housekeeping: one timer for a thread', () => {
  it('runs tasks of one period on the same wakeups however far apart they registered', () => {
    const timers = new FakeTimers();
    const hk = new Housekeeping(timers);
    const a = recorder(timers);
    const b = recorder(timers);
    const c = recorder(timers);
    hk.every(250, a.run);
    timers.advance(40);
    hk.every(250, b.run);
    timers.advance(90);
    hk.every(250, c.run);
    timers.advance(2000);
    assert.ok(b.times.length >= 7, `b ran ${b.times.length} times`);
    assert.deepEqual(b.times, a.times.slice(-b.times.length), 'b on a\'s wakeups');
    assert.deepEqual(c.times, a.times.slice(-c.times.length), 'c on a\'s wakeups');
    for (let i = 1; i < a.times.length; i++) assert.ok(Math.abs(a.times[i] - a.times[i - 1] - 250) < 1e-6, `gap ${a.times[i] - a.times[i - 1]}`);
    assert.equal(timers.wakeups, a.times.length, 'one wakeup per period, not one per task');
    assert.equal(timers.armed, 1);
  });

  it('first runs a task between half a period and one and a half after it registered', () => {
    for (const offset of [0, 1, 124, 125, 126, 249]) {
      const timers = new FakeTimers();
      const hk = new Housekeeping(timers);
      timers.advance(offset);
      const start = timers.clock;
      const r = recorder(timers);
      hk.every(250, r.run);
      timers.advance(400);
      const first = r.times[0] - start;
      assert.ok(first >= 125 && first <= 375, `offset ${offset}: first run after ${first} ms`);
    }
  });

  it('runs each period at its own rate: 1 s on every fourth 250-ms wakeup, 150 ms unaffected, a 10-ms task changing nothing', () => {
    const timers = new FakeTimers();
    const hk = new Housekeeping(timers);
    const q = recorder(timers);
    const s = recorder(timers);
    const odd = recorder(timers);
    hk.every(250, q.run);
    hk.every(1000, s.run);
    hk.every(150, odd.run);
    const fast = hk.every(10, () => {});
    timers.advance(10_000);
    fast.stop();
    const gaps = (t: number[]) => t.slice(1).map((x, i) => Math.round(x - t[i]));
    assert.ok(gaps(q.times).every((g) => g === 250), `250: ${gaps(q.times)}`);
    assert.ok(gaps(s.times).every((g) => g === 1000), `1000: ${gaps(s.times)}`);
    assert.ok(gaps(odd.times).every((g) => g === 150), `150: ${gaps(odd.times)}`);
    assert.ok(s.times.every((t) => q.times.includes(t)), 'the 1-s task runs on 250-ms wakeups');
  });

  it('registering and stopping short tasks again and again never delays the others', () => {
    const timers = new FakeTimers();
    const hk = new Housekeeping(timers);
    const beat = recorder(timers);
    hk.every(250, beat.run);
    for (let i = 0; i < 200; i++) {
      hk.every(10, () => {}).stop();
      timers.advance(10);
    }
    // 2 s: the heartbeat ran about every 250 ms throughout
    assert.ok(beat.times.length >= 7, `beats: ${beat.times.length}`);
    const gaps = beat.times.slice(1).map((x, i) => x - beat.times[i]);
    assert.ok(gaps.every((g) => g <= 251), `gaps ${gaps}`);
  });

  it('runs a late wakeup once, then goes back to the grid', () => {
    const timers = new FakeTimers();
    const hk = new Housekeeping(timers);
    const r = recorder(timers);
    hk.every(100, r.run);
    timers.advance(150); // one run
    const n = r.times.length;
    // The loop was blocked for 1 s: the timeout fires late, once.
    timers.clock += 1000; // time passed without the timeout firing
    timers.advance(0);
    assert.equal(r.times.length, n + 1, 'one catch-up run, not ten');
    timers.advance(300);
    const gaps = r.times.slice(n + 1).map((x, i) => x - r.times[n + i]);
    assert.ok(gaps.slice(1).every((g) => Math.abs(g - 100) < 1e-6), `gaps after ${gaps}`);
  });

  it('lets a task stop itself or another, or register one, while the wakeup runs; no timeout when none is left', () => {
    const timers = new FakeTimers();
    const hk = new Housekeeping(timers);
    const runs: string[] = [];
    const second = hk.every(100, () => runs.push('second'));
    const first: { stop(): void } = hk.every(100, () => {
      runs.push('first');
      first.stop();
    });
    let late: { stop(): void } | undefined;
    const third = hk.every(100, () => {
      runs.push('third');
      second.stop();
      late ??= hk.every(1000, () => runs.push('late'));
    });
    timers.advance(250);
    assert.deepEqual(runs.slice(0, 4), ['second', 'first', 'third', 'third']);
    timers.advance(1000);
    assert.ok(runs.includes('late'));
    assert.equal(runs.filter((r) => r === 'third').length, 12, 'the 100-ms task kept its rate after a 1-s one registered inside a wakeup');
    third.stop();
    late!.stop();
    assert.equal(hk.size, 0);
    assert.equal(timers.armed, 0);
  });

  it('runs the other tasks when one throws, and surfaces the exception', () => {
    const timers = new FakeTimers();
    const hk = new Housekeeping(timers);
    let after = 0;
    hk.every(100, () => {
      throw new Error('boom');
    });
    hk.every(100, () => after++);
    timers.advance(250);
    assert.equal(after, 2);
    assert.deepEqual(
      timers.raised.map((e) => (e as Error).message),
      ['boom', 'boom'],
    );
  });

  it('refuses a period that is not a positive number', () => {
    const hk = new Housekeeping(new FakeTimers());
    for (const bad of [NaN, 0, -5, Infinity]) assert.throws(() => hk.every(bad, () => {}), RangeError, String(bad));
    assert.equal(hk.size, 0);
  });
});
