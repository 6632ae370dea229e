/**
 * One timer for a thread's periodic housekeeping: the health heartbeat, the neighbour timers, the
 * HTTP sweep, the TLS handshake sweep.
 *
 * Why: each of them had its own `setInterval` (250 ms for the first three), started at a different
 * moment, so an idle dataplane woke three times every 250 ms. On a VM every such wakeup pays for a
 * halted vCPU and caches the host took away meanwhile, and the cold code of each callback ran
 * alone: 13-25 ms of CPU a second idle on this project's VM on a noisy night, against 2.6 ms on a
 * quiet one (docs/bench.md, "Ping", point 11). Tasks registered here share wakeups: the timer runs
 * at the shortest period registered, and each task runs on the first tick at least its own period
 * (less half a tick, so a tick that fires a little early does not push it a whole tick back) after
 * its previous run. A task of the same period as the timer runs on every tick.
 *
 * Module state is per isolate, so each worker thread has its own `housekeeping`.
 */

/** What a registration returns: stop() removes the task (idempotent). */
export interface HousekeepingTask {
  stop(): void;
}

/** The timer functions used (injected by tests). */
export interface TimerApi {
  now(): number;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
  /** Surfaces a task's exception after the tick (real: an uncaught exception, as from its own setInterval). */
  raise(err: unknown): void;
}

interface Task {
  readonly periodMs: number;
  readonly run: () => void;
  last: number;
  stopped: boolean;
}

const realTimers: TimerApi = {
  now: () => performance.now(),
  setInterval: (fn, ms) => setInterval(fn, ms).unref(),
  clearInterval: (h) => clearInterval(h as NodeJS.Timeout),
  raise: (err) =>
    queueMicrotask(() => {
      throw err;
    }),
};

export class Housekeeping {
  private tasks: Task[] = [];
  private handle: unknown = null;
  private tickMs = 0;

  constructor(private readonly timers: TimerApi = realTimers) {}

  /** Runs `run` about every `periodMs` ms (at least 1) until stop(), on the shared timer (which does not keep the process alive). */
  every(periodMs: number, run: () => void): HousekeepingTask {
    const task: Task = { periodMs: Math.max(1, periodMs), run, last: this.timers.now(), stopped: false };
    this.tasks.push(task);
    this.retime();
    return {
      stop: () => {
        if (task.stopped) return;
        task.stopped = true;
        this.tasks = this.tasks.filter((t) => t !== task);
        this.retime();
      },
    };
  }

  /** The timer's period now (0: no task, no timer). */
  get periodMs(): number {
    return this.tickMs;
  }

  /** Runs the tasks that are due (on each tick of the timer). */
  private tick(): void {
    const now = this.timers.now();
    const slack = this.tickMs / 2;
    // A snapshot: a task may stop itself or others, or register new ones, while it runs.
    for (const task of this.tasks.slice()) {
      if (task.stopped || now - task.last < task.periodMs - slack) continue;
      task.last = now;
      try {
        task.run();
      } catch (err) {
        // One task's exception must not starve the others; it still surfaces, after them.
        this.timers.raise(err);
      }
    }
  }

  /** Keeps one timer at the shortest period registered (none when nothing is registered). */
  private retime(): void {
    const shortest = this.tasks.reduce((m, t) => Math.min(m, t.periodMs), Infinity);
    const want = Number.isFinite(shortest) ? shortest : 0;
    if (want === this.tickMs) return;
    if (this.handle !== null) this.timers.clearInterval(this.handle);
    this.handle = null;
    this.tickMs = want;
    if (want > 0) this.handle = this.timers.setInterval(() => this.tick(), want);
  }
}

/** This thread's housekeeping timer. */
export const housekeeping = new Housekeeping();
