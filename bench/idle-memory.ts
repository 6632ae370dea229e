/**
 * The idle-connection memory row (issue 12, "memory per idle keep-alive connection"): 8,000
 * keep-alive connections, each after one request, held open and idle by bench/idle-client.ts in
 * the client namespace, against ours and against nginx. Per connection:
 *
 *   ours   the growth of our process's RSS (our TCP and HTTP state live in it; the kernel holds
 *          no socket for them: the AF_PACKET ring is there before and after);
 *   nginx  its worker's RSS growth plus the kernel's socket memory, which the worker's RSS does
 *          not show: the growth of `Slab` in /proc/meminfo, halved because the client's and the
 *          server's sockets both live on this machine.
 *
 * Slab is machine-wide: anything else allocating kernel objects meanwhile (other processes'
 * file activity, mostly reclaimable dentries) adds to it, so SUnreclaim (where socket objects
 * go) is printed beside it. With ours, the Slab growth is the client's sockets alone.
 *
 * Our server admits at most `source-max-connections` (1024 by default) per client address, so
 * the client spreads its connections over several source addresses (each one a secondary
 * address on the client's eth0), as many clients would; nginx sees the same.
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mustRun, sleep } from './proc.js';

const HERE = dirname(fileURLToPath(import.meta.url));

export const IDLE_CONNECTIONS = 8000;
/** Client source addresses: at most IDLE_CONNECTIONS / IDLE_SOURCES (800) per address. */
export const IDLE_SOURCES = 10;

export interface IdleMemoryResult {
  ok: boolean;
  why?: string;
  connections: number;
  /** Still open at the end (none should have been closed meanwhile). */
  stillOpen?: number;
  /** Bytes: the server process's RSS growth, and the machine's Slab / SUnreclaim growth. */
  rssGrowth?: number;
  slabGrowth?: number;
  unreclaimGrowth?: number;
  /** Per connection, KiB: RSS, the kernel's share (Slab / 2; ours: 0), and their total. */
  rssKiB?: number;
  kernelKiB?: number;
  totalKiB?: number;
  openMs?: number;
}

/** The secondary client addresses the connections come from (192.168.123.20 …). */
export function idleSources(): string[] {
  return Array.from({ length: IDLE_SOURCES }, (_, i) => `192.168.123.${20 + i}`);
}

/** Adds the client's secondary source addresses (once per topology). */
export async function addIdleSources(clientNs: string): Promise<void> {
  for (const a of idleSources()) await mustRun(['ip', '-n', clientNs, 'addr', 'add', `${a}/24`, 'dev', 'eth0']);
}

/** VmRSS of a process, bytes (undefined if it is gone). */
export function rssBytes(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? undefined : Number(m[1]) * 1024;
  } catch {
    return undefined;
  }
}

/** nginx's worker process(es): the children of its master. */
export function childPids(parent: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const m = /^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${d}/status`, 'utf8'));
      if (m !== null && Number(m[1]) === parent) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function meminfo(): { slab: number; unreclaim: number } {
  const t = readFileSync('/proc/meminfo', 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB$`, 'm').exec(t)?.[1] ?? NaN) * 1024;
  return { slab: kb('Slab'), unreclaim: kb('SUnreclaim') };
}

/**
 * Opens `count` idle keep-alive connections from the client namespace to ip:80 and measures the
 * growth of `rss()` (the server process(es)) and of the machine's Slab. `kernelShare`: nginx
 * (its sockets are in the kernel: half the Slab growth is charged to it); ours: false.
 */
export async function measureIdleMemory(clientNs: string, ip: string, rss: () => number | undefined, kernelShare: boolean, log: (m: string) => void, count = IDLE_CONNECTIONS, whileOpen?: () => Promise<void>): Promise<IdleMemoryResult> {
  await sleep(1000);
  const rss0 = rss();
  const m0 = meminfo();
  if (rss0 === undefined) return { ok: false, why: 'the server process is gone', connections: 0 };
  const child = spawn(
    'ip',
    ['netns', 'exec', clientNs, 'prlimit', `--nofile=${count + 1024}:${count + 1024}`, process.execPath, join(HERE, 'idle-client.js'), ip, '80', String(count), idleSources().join(',')],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const deadline = Date.now() + 60_000;
  let ready: RegExpExecArray | null = null;
  let code: number | null | undefined;
  void exited.then((c) => (code = c));
  while ((ready = /^ready (\d+) in (\d+) ms$/m.exec(out)) === null && code === undefined && Date.now() < deadline) await sleep(100);
  if (ready === null) {
    child.kill('SIGKILL');
    await exited;
    return { ok: false, why: `the client did not get ${count} connections ready: ${(err || out).trim().split('\n').slice(-3).join(' | ')}`, connections: 0 };
  }
  const n = Number(ready[1]);
  // Let the server finish whatever the last responses left (timers, GC) before reading.
  await sleep(2000);
  const rss1 = rss();
  const m1 = meminfo();
  if (whileOpen !== undefined) await whileOpen();
  child.stdin.end();
  await Promise.race([exited, sleep(10_000)]);
  if (code === undefined) child.kill('SIGKILL');
  const open = Number(/^open (\d+)$/m.exec(out)?.[1] ?? NaN);
  if (rss1 === undefined) return { ok: false, why: 'the server process went away', connections: n };
  const rssGrowth = rss1 - rss0;
  const slabGrowth = m1.slab - m0.slab;
  const rssKiB = rssGrowth / n / 1024;
  const kernelKiB = kernelShare ? slabGrowth / 2 / n / 1024 : 0;
  log(`  ${n} connections open in ${ready[2]} ms, ${open} still open at the end; RSS +${(rssGrowth / 1048576).toFixed(1)} MiB, Slab +${(slabGrowth / 1048576).toFixed(1)} MiB (SUnreclaim +${((m1.unreclaim - m0.unreclaim) / 1048576).toFixed(1)} MiB)`);
  return {
    ok: n === count && open === n,
    why: n !== count ? `only ${n} of ${count} connections were served` : open !== n ? `${n - open} connections were closed while idle` : undefined,
    connections: n,
    stillOpen: open,
    rssGrowth,
    slabGrowth,
    unreclaimGrowth: m1.unreclaim - m0.unreclaim,
    rssKiB,
    kernelKiB,
    totalKiB: rssKiB + kernelKiB,
    openMs: Number(ready[2]),
  };
}

/** nginx's kernel share per connection as (its Slab growth − ours's, the client's sockets alone), KiB. */
function bySlabDifference(ours: IdleMemoryResult | undefined, nginx: IdleMemoryResult | undefined): number | undefined {
  if (ours?.slabGrowth === undefined || nginx?.slabGrowth === undefined || !nginx.connections) return undefined;
  return (nginx.slabGrowth - ours.slabGrowth) / nginx.connections / 1024;
}

/** The report's table rows: [name, ours, nginx, ratio, goal]. */
export function idleMemoryRows(ours: IdleMemoryResult | undefined, nginx: IdleMemoryResult | undefined, fmt: (x: number | undefined, d?: number) => string): string[][] {
  const r = (a?: number, b?: number) => (a !== undefined && b !== undefined && b > 0 ? `${(a / b).toFixed(2)}×` : '-');
  return [
    ['KiB per idle connection: process RSS', fmt(ours?.rssKiB, 2), fmt(nginx?.rssKiB, 2), '', ''],
    ['KiB per idle connection: kernel (Slab growth / 2)', ours === undefined ? '-' : '0 (none)', fmt(nginx?.kernelKiB, 2), '', ''],
    ['KiB per idle connection: total', fmt(ours?.totalKiB, 2), fmt(nginx?.totalKiB, 2), r(ours?.totalKiB, nginx?.totalKiB), 'goal ≤ 1.0×'],
    ['Slab growth, MiB (ours: the client sockets alone)', fmt(ours?.slabGrowth !== undefined ? ours.slabGrowth / 1048576 : undefined, 1), fmt(nginx?.slabGrowth !== undefined ? nginx.slabGrowth / 1048576 : undefined, 1), '', ''],
    // The halving checked: nginx's run minus ours (the client's sockets alone) is nginx's sockets.
    ['check: nginx kernel KiB by difference (Slab nginx − ours)', '', fmt(bySlabDifference(ours, nginx), 2), '', 'vs Slab / 2 above'],
  ];
}
