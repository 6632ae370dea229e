/**
 * The ping floor: bench/floor/echo-floor.c, a minimal C responder (ARP and ICMP echo on a
 * TPACKET_V2 ring, nothing else), answers the same pings on the same macvlan0 as our dataplane.
 * What it takes is what any userspace dataplane pays on this machine before running a line of
 * its own code: the kernel waking a thread blocked in epoll (interrupt), or the spinning thread
 * seeing the ring, plus the reply's send and waking the pinging process (polling). The kernel
 * answers inside the sender's own softirq and pays none of it.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ping, type PingResult, type Target } from './measure.js';
import { mustRun, progress } from './proc.js';

const SOURCE = resolve(dirname(fileURLToPath(import.meta.url)), '../../bench/floor/echo-floor.c');

export const FLOOR_MODES = ['interrupt', 'polling', 'polling-syscall'] as const;
export type FloorMode = (typeof FLOOR_MODES)[number];
export type FloorResult = Partial<Record<FloorMode, PingResult>>;

/** Compiles echo-floor.c into `dir` (once; again when the source is newer). Returns the binary. */
async function build(dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const bin = join(dir, 'echo-floor');
  if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(SOURCE).mtimeMs) await mustRun(['cc', '-O2', '-o', bin, SOURCE]);
  return bin;
}

/** Pings the C responder in each mode (`podNs` must have no other responder for `ip` meanwhile). */
export async function measureFloor(label: string, t: Target, podNs: string, ifname: string, dir: string, count = 50): Promise<FloorResult> {
  const bin = await build(dir);
  const out: FloorResult = {};
  for (const mode of FLOOR_MODES) {
    const child = spawn('ip', ['netns', 'exec', podNs, bin, ifname, t.ip, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (b: Buffer) => (text += b.toString()));
    child.stderr.on('data', (b: Buffer) => (text += b.toString()));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    try {
      await new Promise((r) => setTimeout(r, 200));
      progress(`${label} ${mode}: ping -c ${count} -i 0.01`);
      const p = await ping(t, count);
      progress(`${label} ${mode}:   ping min/avg/max ${p.minUs ?? '-'}/${p.avgUs ?? '-'}/${p.maxUs ?? '-'} µs, median ${p.medianUs ?? '-'} µs (${p.received}/${p.transmitted} replies)`);
      out[mode] = p;
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
    if (!/replies/.test(text)) progress(`${label} ${mode}: echo-floor said: ${text.trim() || '(nothing)'}`);
  }
  return out;
}
