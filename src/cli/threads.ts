/**
 * Threads as the CLI shows them (VPP's `show threads`, `show interface rx-placement`): the main
 * thread (vpp_main, the control plane) and the workers (vpp_wk_0 …), and which thread reads
 * which RX queue. Without workers the main thread reads every queue, as VPP does.
 */
import type { HardwareInterface } from '../dataplane/interface.js';
import type { RxMode } from '../io/device.js';

export interface ThreadInfo {
  /** 0: vpp_main; 1…: vpp_wk_<index - 1>. */
  index: number;
  name: string;
  /** '' for the main thread, 'workers' for a worker (VPP's thread type). */
  type: string;
  /** The kernel's thread id (LWP), 0 when unknown. */
  lwp: number;
  /** The CPU the thread is pinned to, or null (not pinned: the scheduler places it). */
  lcore: number | null;
  /** The CPU it ran on when last asked (for an unpinned thread), -1 when unknown. */
  cpuNow: number;
}

export interface QueuePlacement {
  hw: string;
  queue: number;
  thread: number;
  mode: RxMode;
}

/** What the CLI knows about threads; `CliContext.threads` (absent: one thread that reads every queue). */
export interface ThreadView {
  /** The thread this CLI context runs on (0: main). */
  readonly self: number;
  threads(): ThreadInfo[];
  /** Every queue of every interface and its thread (on a worker: the queues it reads). */
  placement(): QueuePlacement[];
  /** Main thread with workers: sets the mode where the queue is read (the owning workers). */
  setRxMode?(hw: string, queue: number | null, mode: RxMode): Promise<void>;
}

export const threadName = (index: number): string => (index === 0 ? 'vpp_main' : `vpp_wk_${index - 1}`);

/**
 * VPP's placement of RX queues on workers: round-robin over the workers with one cursor for all
 * interfaces (the next interface's queue 0 goes to the worker after the last one used); with no
 * workers every queue is the main thread's.
 */
export class QueuePlacer {
  private cursor = 0;
  constructor(private readonly workers: number) {}

  /** The thread (1…workers, or 0 without workers) of each of `queues` new queues. */
  place(queues: number): number[] {
    const threads: number[] = [];
    for (let q = 0; q < queues; q++) {
      if (this.workers === 0) threads.push(0);
      else {
        threads.push(1 + (this.cursor % this.workers));
        this.cursor++;
      }
    }
    return threads;
  }
}

/** The queues of one thread: what a device on that thread reads (single thread: all, 0…n-1). */
export function localPlacement(hardware: readonly HardwareInterface[], self: number): QueuePlacement[] {
  const out: QueuePlacement[] = [];
  for (const hw of hardware) {
    const dev = hw.device;
    const ids = dev.rxQueueIds ?? [0];
    for (const q of ids) out.push({ hw: hw.name, queue: q, thread: self, mode: dev.queueRxMode?.(q) ?? dev.rxMode ?? 'interrupt' });
  }
  return out;
}

/**
 * `show interface rx-placement` as VPP prints it: per thread, the input node once (VPP does not
 * reset it between threads, so a later thread's first queue on the same node has no node line),
 * then `    <interface> queue <n> (<mode>)`.
 */
export function formatRxPlacement(placement: readonly QueuePlacement[]): string {
  const byThread = new Map<number, QueuePlacement[]>();
  for (const p of [...placement].sort((a, b) => a.thread - b.thread)) {
    const list = byThread.get(p.thread) ?? [];
    list.push(p);
    byThread.set(p.thread, list);
  }
  const lines: string[] = [];
  let prevNode = '';
  for (const [thread, queues] of byThread) {
    lines.push(`Thread ${thread} (${threadName(thread)}):`);
    for (const q of queues) {
      if (prevNode !== 'af-packet-input') {
        lines.push('  node af-packet-input:');
        prevNode = 'af-packet-input';
      }
      lines.push(`    ${q.hw} queue ${q.queue} (${q.mode})`);
    }
  }
  return lines.join('\n');
}

/** `show threads` in VPP's columns ("%-7s%-20s%-12s%-8s%-25s%-7s%-7s%-7s%-10s"). */
export function formatThreads(threads: readonly ThreadInfo[]): string {
  const row = (c: string[]) => [c[0].padEnd(7), c[1].padEnd(20), c[2].padEnd(12), c[3].padEnd(8), c[4].padEnd(25), c[5].padEnd(7), c[6].padEnd(7), c[7].padEnd(7), c[8].padEnd(10)].join('');
  const lines = [row(['ID', 'Name', 'Type', 'LWP', 'Sched Policy (Priority)', 'lcore', 'Core', 'Socket', 'State'])];
  for (const t of threads) {
    // An unpinned thread has no lcore: VPP always pins, we pin only what cpu { } names.
    const lcore = t.lcore !== null ? String(t.lcore) : 'n/a';
    lines.push(row([String(t.index), t.name, t.type, String(t.lwp), 'other (0)', lcore, lcore, '0', '']));
  }
  return lines.map((l) => l.trimEnd()).join('\n');
}
