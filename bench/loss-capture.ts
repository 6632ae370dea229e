/**
 * The bench's loss row, captured (issue 9): builds the flat topology under its own prefix, serves
 * the 10 MiB file with ours and then nginx, and records one pcap per download on the bridge's
 * server-side port (switch namespace, w0: every frame the server sent, before the drop, and the
 * ACKs that survived it). A tool for finding where the time goes, not part of the bench.
 *
 *   flock /tmp/vpp-e2e.lock node dist/bench/loss-capture.js [OUT_DIR] [REPS] [ours,nginx,kernel-cubic,kernel-reno,kernel-bbr]
 *   (env: LOSS=5 %, ENGINE='tcp-congestion-control bbr' for ours)
 *
 * Each download's pcap is OUT_DIR/<server>-<n>.pcap; the curl time is printed, and for ours the
 * server's CPU time and run-queue wait over the download (all its threads, /proc/PID/task/TID/schedstat).
 */
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { chownSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { POD_UID } from '../src/lab/lab.js';
import { FlatLab, cli } from './flat-lab.js';
import { addPathLoss, segmentBeforeThePath } from './loss.js';
import { runAsync } from './proc.js';
import { startNginx } from './servers.js';

const out = process.argv[2] ?? '/tmp/loss-capture';
const reps = Number(process.argv[3] ?? 3);
const who = (process.argv[4] ?? 'ours,nginx').split(',');
mkdirSync(out, { recursive: true });
const flat = new FlatLab('lcap');
const HERE = dirname(fileURLToPath(import.meta.url));

/**
 * The server's CPU time and run-queue wait (ms) over all its threads, from /proc/<pid>/task/<tid>/schedstat
 * (time on the CPU, time runnable but waiting for one): where a user-space server's
 * latency goes on a loaded machine (the kernel's TCP runs in softirq context and does not wait).
 */
function sched(pid: number | undefined): [number, number] {
  if (pid === undefined) return [0, 0];
  let cpu = 0;
  let wait = 0;
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      const [a, b] = readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ').map(Number);
      cpu += a / 1e6;
      wait += b / 1e6;
    }
  } catch {
    /* gone */
  }
  return [cpu, wait];
}

async function capture(name: string, pid?: number): Promise<void> {
  const removeLoss = await addPathLoss(flat.ns.switch, flat.serverIp, Number(process.env.LOSS ?? 5));
  const restore = await segmentBeforeThePath(flat.ns.worker);
  try {
    for (let i = 1; i <= reps; i++) {
      const file = join(out, `${name}-${i}.pcap`);
      const td = spawn('ip', ['netns', 'exec', flat.ns.switch, 'tcpdump', '-i', 'w0', '-s', '128', '-B', '16384', '-w', file, 'tcp'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      td.stderr.on('data', (d: Buffer) => (err += d.toString()));
      for (let t = 0; t < 100 && !err.includes('listening'); t++) await new Promise((r) => setTimeout(r, 50));
      const s0 = sched(pid);
      const r = await runAsync(['ip', 'netns', 'exec', flat.ns.client, 'curl', '-s', '-o', '/dev/null', '--max-time', '60', '-w', '%{http_code} %{size_download} %{time_total}', `http://${flat.serverIp}/10mb.bin`], { timeoutMs: 70_000 });
      const s1 = sched(pid);
      await new Promise((r) => setTimeout(r, 300));
      td.kill('SIGINT');
      await new Promise((r) => td.on('exit', r));
      console.log(`${name} ${i}: ${r.stdout.trim()} -> ${file} (${err.trim().split('\n').slice(-2).join('; ')})${pid !== undefined ? `; server cpu ${(s1[0] - s0[0]).toFixed(1)} ms, run-queue wait ${(s1[1] - s0[1]).toFixed(1)} ms` : ''}`);
    }
  } finally {
    await restore();
    await removeLoss();
  }
}

try {
  await flat.up(process.env.ENGINE); // ENGINE='tcp-congestion-control bbr': a vpp-server { } stanza for ours
  const big = randomBytes(10 * 1024 * 1024);
  for (const [n, b] of [['10mb.bin', big], ['index.html', Buffer.from('Welcome\n')]] as const) {
    writeFileSync(join(flat.podWwwDir, n), b, { mode: 0o644 });
    chownSync(join(flat.podWwwDir, n), POD_UID, POD_UID);
  }
  if (who.includes('ours')) {
    await flat.startOurs();
    await capture('ours', flat.ourPid);
    console.log((await cli(flat.podSocket, 'show tcp stats')) ?? '');
    flat.stopOurs();
  }
  if (who.includes('nginx')) {
    await flat.kernelAddress(true);
    const cc = await runAsync(['ip', 'netns', 'exec', flat.ns.pod, 'cat', '/proc/sys/net/ipv4/tcp_congestion_control'], { timeoutMs: 5000 });
    console.log(`nginx: kernel congestion control ${cc.stdout.trim()}`);
    const s = startNginx(flat.ns.pod, join(flat.stateDir, 'nginx'), flat.podWwwDir, flat.serverIp);
    for (let t = 0; t < 50; t++) {
      const r = await runAsync(['ip', 'netns', 'exec', flat.ns.client, 'curl', '-s', `http://${flat.serverIp}/index.html`], { timeoutMs: 2000 });
      if (r.stdout.includes('Welcome')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await capture('nginx');
    s.stop();
  }
  // kernel-cubic, kernel-reno: the kernel's TCP with that congestion control (kernel-cc-server.py).
  for (const k of who.filter((w) => w.startsWith('kernel-'))) {
    if (!who.includes('nginx') && k === who.find((w) => w.startsWith('kernel-'))) await flat.kernelAddress(true);
    const py = spawn('ip', ['netns', 'exec', flat.ns.pod, 'python3', join(HERE, '../../bench/kernel-cc-server.py'), flat.serverIp, flat.podWwwDir, k.slice(7)], { stdio: 'inherit' });
    for (let t = 0; t < 50; t++) {
      const r = await runAsync(['ip', 'netns', 'exec', flat.ns.client, 'curl', '-s', `http://${flat.serverIp}/index.html`], { timeoutMs: 2000 });
      if (r.stdout.includes('Welcome')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await capture(k);
    py.kill();
    await new Promise((r) => py.on('exit', r));
  }
} finally {
  flat.down();
}
