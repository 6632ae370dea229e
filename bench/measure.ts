/** The four measurements, run from the client namespace against one server, and their parsers. */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { runAsync, type RunResult } from './proc.js';

export interface WrkResult {
  ok: boolean;
  requests: number;
  seconds: number;
  requestsPerSec: number;
  /** mean latency in µs */
  latencyAvgUs?: number;
  latencyMaxUs?: number;
  socketErrors: { connect: number; read: number; write: number; timeout: number };
  non2xx3xx: number;
  /** CPU used by every process in the server's namespace(s), in % of one core, during the run */
  serverCpuPct?: number;
  /** CPU used meanwhile by processes outside the topology (other work on the machine), % of one core */
  otherCpuPct?: number;
  /** sockets in TIME_WAIT in the client namespace after the run (wrk closed first) */
  clientTimeWait?: number;
  /** the client kernel's TCP counters over the run (ActiveOpens, AttemptFails, EstabResets, RetransSegs, OutRsts, InErrs) */
  clientTcp?: Record<string, number>;
  exit: string;
  raw: string;
}

export interface DownloadResult {
  ok: boolean;
  /** MB/s (10^6 bytes per second), one per successful repetition */
  speedsMBps: number[];
  bestMBps?: number;
  medianMBps?: number;
  failures: string[];
  serverCpuPct?: number;
  /**
   * Server CPU time per counted download, ms (the servers' threads' run time, nanosecond
   * resolution where /proc has schedstat: the 10 ms ticks of /proc/PID/stat are too coarse for a
   * download that costs a few ms)
   */
  serverCpuMs?: number;
  /** MB/s of the warm-up downloads (not counted in the figures above), in order */
  warmupMBps?: number[];
  /** median MB/s of the first 5 downloads after the GET checks (the warm-up's first 5): the cold figure */
  firstMBps?: number;
  /**
   * Where a counted download's time went, medians in µs from curl's own clock: the handshake
   * (curl's connect() to the SYN-ACK; for ours the wakeup of a dataplane idle since the last
   * download is in it, for a kernel server nothing is woken), the request to the response's first
   * byte, and the first byte to the last (the transfer proper).
   */
  phasesUs?: { connect: number; firstByte: number; transfer: number };
}

export interface PingResult {
  ok: boolean;
  transmitted: number;
  received: number;
  minUs?: number;
  avgUs?: number;
  maxUs?: number;
  mdevUs?: number;
  /** The median of the per-reply times. */
  medianUs?: number;
  raw: string;
}

const unitUs: Record<string, number> = { us: 1, ms: 1000, s: 1_000_000, m: 60_000_000 };

export function parseWrk(out: string): Omit<WrkResult, 'ok' | 'exit' | 'raw'> {
  const num = (re: RegExp) => {
    const m = re.exec(out);
    return m === null ? undefined : Number(m[1]);
  };
  const lat = /Latency\s+([\d.]+)(us|ms|s|m)\s+([\d.]+)(us|ms|s|m)\s+([\d.]+)(us|ms|s|m)/.exec(out);
  const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const done = /(\d+) requests in ([\d.]+)(us|ms|s|m)/.exec(out);
  return {
    requests: done ? Number(done[1]) : 0,
    seconds: done ? (Number(done[2]) * unitUs[done[3]]) / 1e6 : 0,
    requestsPerSec: num(/Requests\/sec:\s+([\d.]+)/) ?? 0,
    latencyAvgUs: lat ? Number(lat[1]) * unitUs[lat[2]] : undefined,
    latencyMaxUs: lat ? Number(lat[5]) * unitUs[lat[6]] : undefined,
    socketErrors: se
      ? { connect: Number(se[1]), read: Number(se[2]), write: Number(se[3]), timeout: Number(se[4]) }
      : { connect: 0, read: 0, write: 0, timeout: 0 },
    non2xx3xx: num(/Non-2xx or 3xx responses: (\d+)/) ?? 0,
  };
}

export function parsePing(out: string): Omit<PingResult, 'ok' | 'raw'> {
  const pk = /(\d+) packets transmitted, (\d+) received/.exec(out);
  const rtt = /= ([\d.]+)\/([\d.]+)\/([\d.]+)\/([\d.]+) ms/.exec(out);
  const us = (i: number) => (rtt ? Math.round(Number(rtt[i]) * 1000) : undefined);
  // One line per reply (ping without -q): "64 bytes from …: icmp_seq=1 ttl=64 time=0.031 ms";
  // a duplicate reply ("… ms (DUP!)") is not a round trip of its own.
  const times = [...out.matchAll(/ time=([\d.]+) ms(?! \(DUP!\))/g)].map((m) => Number(m[1]) * 1000);
  return {
    transmitted: pk ? Number(pk[1]) : 0,
    received: pk ? Number(pk[2]) : 0,
    minUs: us(1),
    avgUs: us(2),
    maxUs: us(3),
    mdevUs: us(4),
    medianUs: times.length > 0 ? medianOf(times) : undefined,
  };
}

function exitOf(r: RunResult): string {
  if (r.error !== undefined) return r.error;
  if (r.timedOut) return `killed after ${r.ms} ms (timeout)`;
  return r.signal !== null ? `signal ${r.signal}` : `exit ${r.code}`;
}

/** Kernel TCP counters of a namespace (/proc/net/snmp as seen from inside it). */
export async function tcpCounters(ns: string): Promise<Record<string, number>> {
  const r = await runAsync(['ip', 'netns', 'exec', ns, 'cat', '/proc/net/snmp'], { timeoutMs: 5000 });
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('Tcp:'));
  if (lines.length < 2) return {};
  const keys = lines[0].split(/\s+/).slice(1);
  const vals = lines[1].split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(keys.map((k, i) => [k, vals[i]]));
}

const CLK_TCK = 100;

/**
 * Run time (s) of every thread of the processes now in the given namespaces, from
 * /proc/PID/task/TID/schedstat (nanoseconds; user and system alike); undefined where the kernel
 * has no schedstat. Synchronous: `ip netns pids` is read through /proc instead (the namespace's
 * inode), so that no process starts between two readings.
 */
export function nsRunSeconds(namespaces: string[]): number | undefined {
  if (!existsSync('/proc/self/schedstat')) return undefined;
  const inodes = new Set<string>();
  for (const ns of namespaces) {
    try {
      inodes.add(String(statSync(`/run/netns/${ns}`).ino));
    } catch {
      return undefined;
    }
  }
  let ns = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const link = readlinkSync(`/proc/${pid}/ns/net`); // net:[inode]
      if (!inodes.has(link.slice(5, -1))) continue;
      for (const tid of readdirSync(`/proc/${pid}/task`)) ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // exited meanwhile
    }
  }
  return ns / 1e9;
}
/** CPU seconds (user + system) used so far by the processes now in the given namespaces. */
export async function nsCpuSeconds(namespaces: string[]): Promise<number> {
  let ticks = 0;
  for (const ns of namespaces) {
    const r = await runAsync(['ip', 'netns', 'pids', ns], { timeoutMs: 5000 });
    for (const pid of r.stdout.trim().split('\n').filter(Boolean)) {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        ticks += Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
      } catch {
        // exited
      }
    }
  }
  return ticks / CLK_TCK;
}

/**
 * CPU ticks of every user process outside the given namespaces (and not this bench), by pid:
 * what else the machine was doing. Kernel threads are left out (softirq work of our own
 * traffic lands there). Processes that exit between two snapshots are missed.
 */
export function otherCpuSnapshot(namespaces: string[]): Map<number, number> {
  const inodes = new Set<string>();
  for (const ns of namespaces) {
    try {
      inodes.add(`net:[${statSync(`/run/netns/${ns}`).ino}]`);
    } catch {
      // not there
    }
  }
  const out = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ppid = Number(f[1]);
      if (pid === 2 || ppid === 2 || ppid === process.pid) continue; // kernel threads; our own commands
      if (inodes.has(readlinkSync(`/proc/${pid}/ns/net`))) continue;
      out.set(pid, Number(f[11]) + Number(f[12]));
    } catch {
      // exited
    }
  }
  return out;
}

/** % of one core used by other processes between two snapshots taken `seconds` apart. */
export function otherCpuPct(before: Map<number, number>, after: Map<number, number>, seconds: number): number {
  let ticks = 0;
  for (const [pid, t] of after) ticks += t - (before.get(pid) ?? 0);
  return Math.round((ticks / CLK_TCK / seconds) * 100);
}

/** Machine-wide busy CPU (all cores, % of one core) over `ms`, from /proc/stat. */
export async function machineBusyPct(ms = 1000): Promise<number> {
  const read = () => {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3] + (f[4] ?? 0);
    return { idle, total: f.reduce((a, b) => a + b, 0) };
  };
  const a = read();
  await new Promise((r) => setTimeout(r, ms));
  const b = read();
  const total = b.total - a.total;
  return total > 0 ? Math.round(((total - (b.idle - a.idle)) / CLK_TCK / (ms / 1000)) * 100) : 0;
}

export interface Target {
  clientNs: string;
  ip: string;
  /** namespaces whose processes are "the server" for the CPU figure */
  serverNamespaces: string[];
  /** every namespace of the topology (for "other processes' CPU") */
  allNamespaces: string[];
}

export async function wrk(t: Target, opts: { threads: number; connections: number; seconds: number; close: boolean }): Promise<WrkResult> {
  const argv = ['ip', 'netns', 'exec', t.clientNs, 'wrk', `-t${opts.threads}`, `-c${opts.connections}`, `-d${opts.seconds}s`];
  if (opts.close) argv.push('-H', 'Connection: close');
  argv.push(`http://${t.ip}/index.html`);
  const tcpBefore = await tcpCounters(t.clientNs);
  const cpuBefore = await nsCpuSeconds(t.serverNamespaces);
  const otherBefore = otherCpuSnapshot(t.allNamespaces);
  const started = Date.now();
  const r = await runAsync(argv, { timeoutMs: (opts.seconds + 20) * 1000 });
  const wall = (Date.now() - started) / 1000;
  const otherAfter = otherCpuSnapshot(t.allNamespaces);
  const cpuAfter = await nsCpuSeconds(t.serverNamespaces);
  const tcpAfter = await tcpCounters(t.clientNs);
  const clientTcp: Record<string, number> = {};
  for (const k of ['ActiveOpens', 'AttemptFails', 'EstabResets', 'RetransSegs', 'OutRsts', 'InErrs']) {
    if (k in tcpAfter) clientTcp[k] = tcpAfter[k] - (tcpBefore[k] ?? 0);
  }
  const parsed = parseWrk(r.stdout);
  const tw = await runAsync(['ip', 'netns', 'exec', t.clientNs, 'ss', '-Htan', 'state', 'time-wait'], { timeoutMs: 10_000 });
  return {
    clientTimeWait: tw.stdout.split('\n').filter(Boolean).length,
    ...parsed,
    ok: r.code === 0 && parsed.requests > 0,
    serverCpuPct: Math.round(((cpuAfter - cpuBefore) / wall) * 100),
    otherCpuPct: otherCpuPct(otherBefore, otherAfter, wall),
    clientTcp,
    exit: exitOf(r),
    raw: (r.stdout + r.stderr).trim(),
  };
}

export async function downloads(t: Target, path: string, expectBytes: number, reps: number, warmup = 0): Promise<DownloadResult> {
  const speeds: number[] = [];
  const failures: string[] = [];
  // The warm-up: the same downloads, not counted (for every server alike). For ours they are where
  // V8 compiles and optimises the bulk path: the first ~15-20 downloads after start cost 2-15× the
  // CPU of later ones (docs/bench.md, "What holds the 10 MB download").
  const warm: number[] = [];
  for (let i = 0; i < warmup && failures.length < 2; i++) {
    const r = await curlDownload(t, path);
    if (r.ok(expectBytes)) warm.push(Math.round(r.mbps * 10) / 10);
    else failures.push(`warm-up download ${i + 1}: ${r.why(expectBytes)}`);
  }
  const cpuBefore = await nsCpuSeconds(t.serverNamespaces);
  const fineBefore = nsRunSeconds(t.serverNamespaces);
  let busy = 0;
  let counted = 0;
  const connect: number[] = [];
  const firstByte: number[] = [];
  const transfer: number[] = [];
  for (let i = 0; i < reps && failures.length < 2; i++) {
    const r = await curlDownload(t, path);
    busy += r.seconds;
    counted++;
    if (r.ok(expectBytes)) {
      speeds.push(r.mbps);
      connect.push(r.connectUs);
      firstByte.push(r.firstByteUs - r.connectUs);
      transfer.push(r.seconds * 1e6 - r.firstByteUs);
    }
    else failures.push(`repetition ${i + 1}: ${r.why(expectBytes)}`);
  }
  const fineAfter = nsRunSeconds(t.serverNamespaces);
  const cpuAfter = await nsCpuSeconds(t.serverNamespaces);
  const sorted = [...speeds].sort((a, b) => a - b);
  const cpu = fineBefore !== undefined && fineAfter !== undefined ? fineAfter - fineBefore : cpuAfter - cpuBefore;
  const first = warm.slice(0, 5).sort((a, b) => a - b);
  return {
    ok: failures.length === 0,
    speedsMBps: speeds.map((s) => Math.round(s * 10) / 10),
    bestMBps: sorted.length ? sorted[sorted.length - 1] : undefined,
    medianMBps: sorted.length ? median(sorted) : undefined,
    failures,
    serverCpuPct: busy > 0 ? Math.round((cpu / busy) * 100) : undefined,
    serverCpuMs: counted > 0 ? Math.round((cpu / counted) * 1e5) / 100 : undefined,
    warmupMBps: warmup > 0 ? warm : undefined,
    firstMBps: first.length ? median(first) : undefined,
    phasesUs: connect.length ? { connect: medianOf(connect), firstByte: medianOf(firstByte), transfer: medianOf(transfer) } : undefined,
  };
}

/** One curl download of `path` (to /dev/null): MB/s, seconds, and why it failed if it did. */
async function curlDownload(
  t: Target,
  path: string,
): Promise<{ mbps: number; seconds: number; connectUs: number; firstByteUs: number; ok: (bytes: number) => boolean; why: (bytes: number) => string }> {
  const r = await runAsync(
    ['ip', 'netns', 'exec', t.clientNs, 'curl', '-s', '-o', '/dev/null', '--max-time', '15', '-w', '%{http_code} %{size_download} %{speed_download} %{time_total} %{time_connect} %{time_starttransfer}', `http://${t.ip}${path}`],
    { timeoutMs: 20_000 },
  );
  const [code, size, speed, total, connect, start] = r.stdout.trim().split(' ');
  const good = (bytes: number) => r.code === 0 && code === '200' && Number(size) === bytes;
  return {
    mbps: Number(speed) / 1e6,
    seconds: Number(total) || r.ms / 1000,
    connectUs: Math.round(Number(connect) * 1e6),
    firstByteUs: Math.round(Number(start) * 1e6),
    ok: good,
    why: (bytes) => `curl ${exitOf(r)}${r.code === 28 ? ' (stalled: --max-time 15 s reached)' : ''}, HTTP ${code ?? '?'}, ${size ?? '?'} of ${bytes} bytes`,
  };
}

function median(sorted: number[]): number {
  const m = sorted.length >> 1;
  return sorted.length % 2 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
}

/** The median of unsorted values, rounded to `decimals` places (whole numbers by default). */
export function medianOf(values: readonly number[], decimals = 0): number {
  const f = 10 ** decimals;
  return Math.round(median([...values].sort((a, b) => a - b)) * f) / f;
}

export async function ping(t: Target, count = 50, interval = '0.01'): Promise<PingResult> {
  // Not -q: the per-reply lines give the median, which a few preempted replies do not move.
  const r = await runAsync(['ip', 'netns', 'exec', t.clientNs, 'ping', '-c', String(count), '-i', interval, '-w', '15', t.ip], { timeoutMs: 20_000 });
  const p = parsePing(r.stdout);
  const summary = (r.stdout + r.stderr).split('\n').filter((l) => !l.includes(' time=')).join('\n').trim();
  return { ...p, ok: r.code === 0 && p.received === p.transmitted && p.transmitted > 0, raw: summary };
}

/** GET /index.html; the body, or undefined with the reason. */
export async function getIndex(t: Target): Promise<{ body?: string; why?: string }> {
  const r = await runAsync(['ip', 'netns', 'exec', t.clientNs, 'curl', '-s', '--max-time', '3', '-w', '\n%{http_code}', `http://${t.ip}/index.html`], { timeoutMs: 6000 });
  const i = r.stdout.lastIndexOf('\n');
  const status = r.stdout.slice(i + 1);
  if (r.code !== 0 || status !== '200') return { why: `curl ${exitOf(r)}, HTTP ${status || '-'}` };
  return { body: r.stdout.slice(0, i) };
}

/** Downloads `path` to a file and compares its sha256. */
export async function checkFile(t: Target, path: string, sha256: string, scratch: string): Promise<{ ok: boolean; why?: string }> {
  const r = await runAsync(['ip', 'netns', 'exec', t.clientNs, 'curl', '-s', '--max-time', '15', '-o', scratch, '-w', '%{http_code}', `http://${t.ip}${path}`], { timeoutMs: 20_000 });
  try {
    if (r.code !== 0 || r.stdout !== '200') return { ok: false, why: `curl ${exitOf(r)}${r.code === 28 ? ' (stalled)' : ''}, HTTP ${r.stdout || '-'}` };
    const got = createHash('sha256').update(readFileSync(scratch)).digest('hex');
    return got === sha256 ? { ok: true } : { ok: false, why: `sha256 mismatch (got ${got.slice(0, 16)}…)` };
  } finally {
    rmSync(scratch, { force: true });
  }
}
