/**
 * The IPv6 rows (issue 10's benchmark line) on the flat path: keep-alive GET and the 10 MB
 * download, over IPv4 and over IPv6 back to back against the same server process (ours serves
 * both families from one dataplane: `set int ip address host-macvlan0 2001:db8:123::150/64` and
 * `http static listener add uri tcp://::/80`; nginx listens on 192.168.123.150:80 and [::]:80),
 * so the two families share the path, the machine's state and the run. The report puts the
 * ours/nginx ratio of each family side by side; the goal is an IPv6 ratio within 10% of IPv4's.
 */
import { downloads, wrk, type DownloadResult, type Target, type WrkResult } from './measure.js';

export interface Ipv6BenchResult {
  v4: { keepAlive?: WrkResult; download?: DownloadResult };
  v6: { keepAlive?: WrkResult; download?: DownloadResult };
}

interface Opts {
  duration: number;
  connections: number;
  threads: number;
  reps: number;
}

/**
 * Uncounted downloads before each family's counted ones, every server alike (as the main download
 * row's warm-up): the IPv6 path's nodes (ip6-input, ip6-output, the v6 TCP demux) are compiled in
 * them, not in the measured downloads.
 */
export const IPV6_ROW_DOWNLOAD_WARMUP = 10;

/** A Target for the IPv6 address: measure.ts writes `http://${ip}/…`, so the address goes in brackets. */
export function ipv6Target(t: Target, ip6: string): Target {
  return { ...t, ip: `[${ip6}]` };
}

export async function measureIpv6(label: string, t4: Target, t6: Target, o: Opts, path: string, bytes: number, log: (m: string) => void, fail: (where: string, what: string) => void): Promise<Ipv6BenchResult> {
  const r: Ipv6BenchResult = { v4: {}, v6: {} };
  for (const [fam, t] of [
    ['v4', t4],
    ['v6', t6],
  ] as const) {
    log(`${label} ${fam === 'v4' ? 'IPv4' : 'IPv6'}: wrk -t${o.threads} -c${o.connections} -d${o.duration}s (keep-alive) to ${t.ip}`);
    const w = await wrk(t, { threads: o.threads, connections: o.connections, seconds: o.duration, close: false });
    log(`${label} ${fam === 'v4' ? 'IPv4' : 'IPv6'}:   ${Math.round(w.requestsPerSec)} req/s, server CPU ${w.serverCpuPct}%, other processes ${w.otherCpuPct}%`);
    const se = w.socketErrors;
    if (!w.ok || se.connect + se.read + se.write + se.timeout > 0 || w.non2xx3xx > 0) fail(`${label} ${fam}`, `keep-alive: wrk ${w.exit}, ${w.requests} requests, socket errors ${JSON.stringify(se)}, non-2xx ${w.non2xx3xx}`);
    r[fam].keepAlive = w;
  }
  for (const [fam, t] of [
    ['v4', t4],
    ['v6', t6],
  ] as const) {
    log(`${label} ${fam === 'v4' ? 'IPv4' : 'IPv6'}: ${IPV6_ROW_DOWNLOAD_WARMUP} × 10 MB download (warm-up, not counted), then ${o.reps} (curl) from ${t.ip}`);
    const d = await downloads(t, path, bytes, o.reps, IPV6_ROW_DOWNLOAD_WARMUP);
    log(`${label} ${fam === 'v4' ? 'IPv4' : 'IPv6'}:   median ${d.medianMBps?.toFixed(0) ?? '-'} MB/s [${d.speedsMBps.join(', ')}], server CPU ${d.serverCpuPct ?? '-'}%`);
    for (const f of d.failures) fail(`${label} ${fam}`, `10 MB download ${f}`);
    r[fam].download = d;
  }
  return r;
}

function cpuPerRequestUs(w: WrkResult | undefined): number | undefined {
  if (w === undefined || !w.ok || w.serverCpuPct === undefined || !(w.requestsPerSec > 0)) return undefined;
  return (w.serverCpuPct / 100 / w.requestsPerSec) * 1e6;
}

/** Server CPU ms per 10 MB download: measured per download, else its CPU share while curl ran times the time one download took. */
function cpuMsPerDownload(d: DownloadResult | undefined, bytes: number): number | undefined {
  if (d?.serverCpuMs !== undefined) return d.serverCpuMs;
  if (d?.medianMBps === undefined || d.serverCpuPct === undefined) return undefined;
  return (d.serverCpuPct / 100) * (bytes / 1e6 / d.medianMBps) * 1000;
}

/** The report: one row per figure, both families, both servers, both ratios and IPv6's ratio over IPv4's. */
export function ipv6Table(ours: Ipv6BenchResult | undefined, nginx: Ipv6BenchResult | undefined, bytes: number, fmt: (x: number | undefined, d?: number) => string): { headers: string[]; rows: string[][] } {
  const rows: Array<[string, (f: Ipv6BenchResult['v4']) => number | undefined, number]> = [
    ['keep-alive GET req/s', (f) => (f.keepAlive?.ok ? f.keepAlive.requestsPerSec : undefined), 0],
    ['10 MB download MB/s (median)', (f) => f.download?.medianMBps, 0],
    ['10 MB download MB/s (best)', (f) => f.download?.bestMBps, 0],
    ['server CPU µs/request keep-alive (lower=better)', (f) => cpuPerRequestUs(f.keepAlive), 2],
    ['server CPU ms per 10 MB (lower=better)', (f) => cpuMsPerDownload(f.download, bytes), 1],
  ];
  const q = (a?: number, b?: number) => (a !== undefined && b !== undefined && b > 0 ? a / b : undefined);
  return {
    headers: ['', 'ours v4', 'ours v6', 'nginx v4', 'nginx v6', 'ratio v4', 'ratio v6', 'v6÷v4', 'goal'],
    rows: rows.map(([name, get, digits]) => {
      const o4 = ours ? get(ours.v4) : undefined;
      const o6 = ours ? get(ours.v6) : undefined;
      const n4 = nginx ? get(nginx.v4) : undefined;
      const n6 = nginx ? get(nginx.v6) : undefined;
      const r4 = q(o4, n4);
      const r6 = q(o6, n6);
      const rr = q(r6, r4);
      return [name, fmt(o4, digits), fmt(o6, digits), fmt(n4, digits), fmt(n6, digits), r4 === undefined ? '-' : `${r4.toFixed(2)}×`, r6 === undefined ? '-' : `${r6.toFixed(2)}×`, rr === undefined ? '-' : rr.toFixed(2), '0.90–1.10'];
    }),
  };
}
