/**
 * Micro-benchmark of the memory budget's per-segment work (src/tcp/budget.ts): per "segment" a
 * window decision, a room check and a charge of held receive data, released 32 at a time, for one
 * connection. `--threads k` makes the budget a view of shared limits of k threads (worker
 * threads: the shared figures are read and published); without it the budget is one thread's.
 *
 *   node dist/bench/budget-micro.js [--threads 3] [--segments 20000000]
 *
 * Prints the CPU time (user + system) per segment.
 */
import { MemoryBudget, type MemoryHolder } from '../src/tcp/budget.js';
import { SharedLimits } from '../src/tcp/shared-limits.js';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const threads = arg('threads', 1);
const segments = arg('segments', 2e7);
const shared = threads > 1 ? SharedLimits.create({ threads, sources: 4096 }) : undefined;
const m = new MemoryBudget({ limit: 256 * 1024 * 1024 }, shared);
const slot = m.sources.open(0x0a000002);
const h: MemoryHolder = { memSrc: slot, memOoo: 0, memRecv: 0, memPipe: 0, memSend: 0, reasm: null };

function run(n: number): number {
  let x = 0;
  for (let i = 0; i < n; i++) {
    x += m.window(slot, 65535, 60000, 1448);
    if (m.room(slot, 1576)) m.chargeReceive(h, 1448);
    if ((i & 31) === 31) for (let k = 0; k < 32; k++) m.releaseReceive(h, 1448);
  }
  return x;
}

run(segments / 10);
const t0 = process.cpuUsage();
run(segments);
const t = process.cpuUsage(t0);
console.log(`threads ${threads}: ${(((t.user + t.system) * 1000) / segments).toFixed(2)} ns CPU per segment`);
