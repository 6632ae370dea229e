/**
 * Heap bytes per TIME_WAIT entry: closes N connections into TIME_WAIT through the stack alone
 * (in-memory driver, no network, timestamps on as from Linux), and compares the heap after a
 * full GC before, with the N entries held, and after they expired.
 *
 *   node --expose-gc dist/bench/time-wait-memory.js [--entries 50000]
 *
 * Prints the figures; it asserts nothing.
 */
import { LastSegmentSink, closeOneConnection, listenAndClose } from '../src/tcp/testing.js';
import { TcpStack } from '../src/tcp/stack.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  console.error('run with node --expose-gc');
  process.exit(2);
}

function heap(): number {
  for (let i = 0; i < 3; i++) gc!();
  return process.memoryUsage().heapUsed;
}

const n = arg('--entries', 50_000);
const sink = new LastSegmentSink();
const stack = new TcpStack(sink, { maxTimeWait: n });
const local = 0x0a000001;
listenAndClose(stack, local);
const scratch = Buffer.alloc(64);
let now = 1000;
// Warm the code paths (and the table's first growth) with a few connections that then expire.
for (let i = 0; i < 1000; i++) closeOneConnection(stack, sink, local, 0x0c000000 + i, now, scratch);
now += stack.opts.timeWaitMs;
stack.tick(now);

const before = heap();
for (let i = 0; i < n; i++) closeOneConnection(stack, sink, local, 0x0b000000 + i, now + i / 25, scratch);
const held = stack.counters.timeWait;
const during = heap();
now += n / 25 + stack.opts.timeWaitMs;
stack.tick(now);
const after = heap();
console.log(
  `TIME_WAIT entries ${held} (overflows ${stack.counters.timeWaitOverflows}): ` +
    `${((during - before) / held).toFixed(0)} heap bytes per entry while held ` +
    `(${((during - before) / 1048576).toFixed(1)} MiB); ` +
    `${((after - before) / 1048576).toFixed(1)} MiB left after they expired (the table's capacity and the spare entries kept for reuse)`,
);
