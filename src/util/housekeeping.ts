/**
 * One timer for a thread's periodic housekeeping: the health heartbeat, the neighbour timers, the
 * HTTP sweep, the TLS handshake sweep.
 *
 * Why: each of them had its own `setInterval` (250 ms for the first three), started at a different
 * moment, so an idle dataplane woke three times every 250 ms. On a VM every such wakeup pays for a
 * halted vCPU and for caches the host took away meanwhile, and each callback's cold code ran alone
 * (docs/bench.md, "Ping", points 7 and 11: 10-30 ms of CPU a second idle on a noisy night). Tasks registered here share wakeups.
 *
 * How: each task runs on a grid of its period (the clock's multiples of it): one timeout is armed
 * for the earliest deadline, and when it fires every task whose deadline has come runs, then the
 * timeout is armed again for the earliest deadline left. Tasks of one period, whenever they were
 * registered, therefore run on the same wakeups, and so do tasks whose periods are multiples (a
 * 1-s task on every fourth wakeup of the 250-ms ones); each runs every its own period, whatever the
 * others' periods. A task's first run comes between half a period and one and a half periods after
 * it registered (the next grid point at least half a period away). Registering a task can only
 * bring the armed timeout forward and stopping one never moves it, so no amount of registering and
 * stopping delays the others. A wakeup that came late runs a task once, not once per missed period.
 *
 * Module state is per isolate, so each worker thread has its own `housekeeping`.
 */

/** A timeout may fire this much before its deadline by the clock read here (Node's timers keep whole ms). */
const EARLY_MS = 1;
/** The longest period a timer can have (Node clamps longer timeouts to 1 ms). */
const MAX_PERIOD_MS = 2 ** 31 - 1;

/** What a registration returns: stop() removes the task (idempotent). */
export interface HousekeepingTask {
  stop(): void;
}

/** The timer functions used (injected by tests). */
export interface TimerApi {
  now(): number;
  /** A one-shot timer that does not keep the process alive. */
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Surfaces a task's exception after the tick (real: an uncaught exception, as from its own setInterval). */
  raise(err: unknown): void;
}

interface Task {
  readonly periodMs: number;
  readonly run: () => void;
  due: number;
  stopped: boolean;
}

const realTimers: TimerApi = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  raise: (err) =>
    queueMicrotask(() => {
      throw err;
    }),
};

export class Housekeeping {
  private tasks: Task[] = [];
  private handle: unknown = null;
  /** When the armed timeout fires (meaningful while handle is set). */
  private armedAt = 0;

  constructor(private readonly timers: TimerApi = realTimers) {}

  /** Runs `run` about every `periodMs` ms until stop(), on the shared timer (which does not keep the process alive). */
  every(periodMs: number, run: () => void): HousekeepingTask {
    if (!Number.isFinite(periodMs) || periodMs <= 0) throw new RangeError(`housekeeping period must be a positive number of ms, not ${periodMs}`);
    const period = Math.min(MAX_PERIOD_MS, periodMs);
    const task: Task = { periodMs: period, run, due: nextGridPoint(this.timers.now() + period / 2, period), stopped: false };
    this.tasks.push(task);
    if (this.handle === null || task.due < this.armedAt) this.arm(task.due);
    return {
      stop: () => {
        if (task.stopped) return;
        task.stopped = true;
        this.tasks = this.tasks.filter((t) => t !== task);
        // The armed timeout stays (if it fires early for nothing, it is armed again); with no
        // task left there is nothing to wake up for.
        if (this.tasks.length === 0) this.disarm();
      },
    };
  }

  /** Tasks registered and not stopped. */
  get size(): number {
    return this.tasks.length;
  }

  /** Runs the tasks that are due (or nearly), then arms the timeout for the next deadline. */
  private tick(): void {
    this.handle = null;
    const now = this.timers.now();
    // A snapshot: a task may stop itself or others, or register new ones, while it runs.
    for (const task of this.tasks.slice()) {
      if (task.stopped || task.due - EARLY_MS > now) continue;
      task.due = nextGridPoint(Math.max(now, task.due) + EARLY_MS, task.periodMs);
      try {
        task.run();
      } catch (err) {
        // One task's exception must not starve the others; it still surfaces, after them.
        this.timers.raise(err);
      }
    }
    // A task registered during the tick may have armed a later timeout than the earliest deadline.
    if (this.tasks.length === 0) return;
    const next = this.tasks.reduce((m, t) => Math.min(m, t.due), Infinity);
    if (this.handle === null || next < this.armedAt) this.arm(next);
  }

  private arm(at: number): void {
    this.disarm();
    this.armedAt = at;
    this.handle = this.timers.setTimeout(() => this.tick(), Math.max(1, Math.ceil(at - this.timers.now())));
  }

  private disarm(): void {
    if (this.handle !== null) this.timers.clearTimeout(this.handle);
    this.handle = null;
  }
}

/** The first multiple of `period` at or after `t`. */
function nextGridPoint(t: number, period: number): number {
  return Math.ceil(t / period) * period;
}

/** This thread's housekeeping timer. */
export const housekeeping = new Housekeeping();
