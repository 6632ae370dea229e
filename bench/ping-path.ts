/**
 * The cost of one ICMP echo through our graph, in process (in-memory device, no syscalls, no
 * root): back to back, then one every G ms with the thread spinning in between (it never sleeps,
 * so no wakeup is involved), then once every G ms with the thread asleep in between (blocked in
 * Atomics.wait, as an idle dataplane blocks in epoll: the vCPU halts), each beside a fixed
 * arithmetic loop timed the same way, then after sweeping 8 MiB of memory between echoes (L1/L2
 * evicted on purpose). It separates what our code does per echo (the hot figure) from what this
 * machine does to a path that runs once every few ms (docs/bench.md, "Ping"): if the echo slows
 * after a sleep and the loop does not, the CPU's speed did not change; its caches and TLBs did.
 *
 *   node dist/bench/ping-path.js [gap-ms ...]     default gaps 0.1 1 2 5 10 20
 */
import { seedTestBedWithClient } from '../test/helpers/dataplane.js';
import { pingFrame } from '../test/helpers/frames.js';

const tb = await seedTestBedWithClient();
const dev = tb.device();
const frame = pingFrame({ seq: 1, data: Buffer.alloc(56, 7) });

/** One echo request in, its reply out; µs between deliver() and its return. */
function one(): number {
  dev.takeSent();
  dev.inject(frame);
  const t0 = process.hrtime.bigint();
  dev.deliver();
  const t1 = process.hrtime.bigint();
  if (dev.takeSent().length !== 1) throw new Error('no echo reply');
  return Number(t1 - t0) / 1000;
}

function summary(v: number[]): string {
  const s = [...v].sort((a, b) => a - b);
  const at = (p: number) => s[Math.floor(p * (s.length - 1))].toFixed(1).padStart(6);
  return `p10 ${at(0.1)} p50 ${at(0.5)} p90 ${at(0.9)} µs (n ${s.length})`;
}

const first: number[] = [];
for (let i = 0; i < 50; i++) first.push(one());
console.log(`first 50 echoes of the process (JIT cold)    ${summary(first)}`);
for (let i = 0; i < 100_000; i++) one();
const hot: number[] = [];
for (let i = 0; i < 5000; i++) hot.push(one());
console.log(`back to back, after 100,000 warm-up echoes    ${summary(hot)}`);
const gaps = process.argv.slice(2).map(Number).filter((g) => g > 0);
for (const gap of gaps.length > 0 ? gaps : [0.1, 1, 2, 5, 10, 20]) {
  const n = Math.min(2000, Math.max(100, Math.round(1000 / gap)));
  const r: number[] = [];
  for (let i = 0; i < n; i++) {
    const end = performance.now() + gap;
    while (performance.now() < end);
    r.push(one());
  }
  console.log(`one every ${String(gap).padStart(4)} ms, spinning in between     ${summary(r)}`);
}
/** A fixed loop that touches no memory: µs for 20,000 iterations (the CPU's speed, not its caches). */
function loop(): number {
  const t0 = process.hrtime.bigint();
  let x = 0;
  for (let i = 0; i < 20_000; i++) x = (x + i * 7) | 0;
  const t1 = process.hrtime.bigint();
  if (x === 1) throw new Error('unreachable'); // keeps the loop from being optimized away
  return Number(t1 - t0) / 1000;
}
const asleep = new Int32Array(new SharedArrayBuffer(4));
for (const gap of gaps.length > 0 ? gaps : [1, 10]) {
  const n = Math.min(500, Math.max(100, Math.round(1000 / gap)));
  const echo: number[] = [];
  const plain: number[] = [];
  for (let i = 0; i < n; i++) {
    Atomics.wait(asleep, 0, 0, gap);
    echo.push(one());
    Atomics.wait(asleep, 0, 0, gap);
    plain.push(loop());
  }
  console.log(`one every ${String(gap).padStart(4)} ms, asleep in between        ${summary(echo)}`);
  console.log(`  a 20,000-step loop, the same way            ${summary(plain)}`);
}
const big = Buffer.alloc(8 << 20);
const swept: number[] = [];
for (let i = 0; i < 200; i++) {
  for (let k = 0; k < big.length; k += 64) big[k]++;
  swept.push(one());
}
console.log(`right after sweeping 8 MiB (L1/L2 evicted)     ${summary(swept)}`);
