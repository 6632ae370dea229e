/**
 * The HTTPS measurements of the bench (issue 11), run from the client namespace against one
 * server on port 443 with the same certificate: keep-alive GET/s over TLS (wrk), new TLS
 * connections/s without and with session resumption (openssl s_time -new / -reuse), a 10 MB
 * download over TLS (curl --cacert), and HTTP/2 requests/s (h2load). Figures, not pass/fail.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { selfSignedPair } from '../src/http/tls-credentials.js';
import { parseWrk } from './measure.js';
import { runAsync, treeCpuSeconds } from './proc.js';

/** The HTTPS rows, selectable with --tls-rows. */
/** The HTTPS download row: uncounted warm-up downloads per server, then the counted ones (odd: a median without averaging). */
export const TLS_DOWNLOAD_WARMUP = 10;
export const TLS_DOWNLOAD_REPS = 5;

export const TLS_ROW_NAMES = ['keepalive', 'handshakes', 'download', 'h2load'] as const;
export type TlsRowName = (typeof TLS_ROW_NAMES)[number];

export interface TlsBenchResult {
  keepAliveRps?: number;
  keepAliveErrors?: string;
  newHandshakesPerSec?: number;
  resumedHandshakesPerSec?: number;
  /** best of the counted downloads, MB/s */
  downloadMBps?: number;
  /** median of the counted downloads (the middle one of TLS_DOWNLOAD_REPS, an odd number), MB/s */
  downloadMedianMBps?: number;
  downloadOk?: boolean;
  h2loadRps?: number;
  h2loadFailed?: number;
  /** The server's CPU time (user + system, its process tree) per unit of each row: machine-load independent-ish. */
  keepAliveCpuUs?: number;
  newHandshakeCpuUs?: number;
  downloadCpuMs?: number;
  h2loadCpuUs?: number;
  failures: string[];
}

export interface TlsFiles {
  cert: string;
  key: string;
}

/** A certificate for `ip` (self-signed; the client trusts it with --cacert), readable by the pod user. */
export function writeBenchCertificate(dir: string, ip: string): TlsFiles {
  const pair = selfSignedPair({ names: [ip], commonName: ip });
  const cert = join(dir, 'tls.crt');
  const key = join(dir, 'tls.key');
  writeFileSync(cert, pair.certPem, { mode: 0o644 });
  writeFileSync(key, pair.keyPem, { mode: 0o644 });
  return { cert, key };
}

const inNs = (ns: string, argv: string[], timeoutMs: number) => runAsync(['ip', 'netns', 'exec', ns, ...argv], { timeoutMs });

/** Connections per second from `openssl s_time` ("N connections in T real seconds"). */
export function parseSTime(out: string): number | undefined {
  const m = /(\d+) connections in ([\d.]+) real seconds/.exec(out);
  if (m === null) return undefined;
  const secs = Number(m[2]);
  return secs > 0 ? Number(m[1]) / secs : undefined;
}

/** h2load's "finished in 1.23s, 16260.16 req/s" and its failed count. */
export function parseH2load(out: string): { rps?: number; failed?: number } {
  const rps = /finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(out);
  const failed = /requests: \d+ total, \d+ started, \d+ done, \d+ succeeded, (\d+) failed/.exec(out);
  return { rps: rps ? Number(rps[1]) : undefined, failed: failed ? Number(failed[1]) : undefined };
}

export async function measureTls(
  label: string,
  clientNs: string,
  ip: string,
  caFile: string,
  bigPath: string,
  bigBytes: number,
  o: { duration: number; connections: number; threads: number },
  progress: (m: string) => void,
  rows: readonly TlsRowName[] = TLS_ROW_NAMES,
  serverPid?: number,
): Promise<TlsBenchResult> {
  const r: TlsBenchResult = { failures: [] };
  const cpu = (): number => (serverPid === undefined ? NaN : treeCpuSeconds(serverPid));
  /** CPU per unit of work, or undefined without a pid or work. */
  const per = (cpu0: number, units: number, scale: number): number | undefined => {
    const used = cpu() - cpu0;
    return Number.isFinite(used) && units > 0 ? (used * scale) / units : undefined;
  };
  const base = `https://${ip}`;
  if (rows.includes('keepalive')) await keepAlive();
  if (rows.includes('handshakes')) await handshakes();
  if (rows.includes('download')) await download();
  if (rows.includes('h2load')) await h2load();
  return r;

  async function keepAlive(): Promise<void> {
    progress(`${label}: wrk -t${o.threads} -c${o.connections} -d${o.duration}s over TLS (keep-alive)`);
    const c0 = cpu();
    const w = await inNs(clientNs, ['wrk', '-t', String(o.threads), '-c', String(o.connections), '-d', `${o.duration}s`, `${base}/index.html`], (o.duration + 30) * 1000);
    const pw = parseWrk(w.stdout);
    r.keepAliveRps = pw.requestsPerSec || undefined;
    r.keepAliveCpuUs = per(c0, pw.requests, 1e6);
    const se = pw.socketErrors;
    if (se.connect + se.read + se.write + se.timeout > 0) r.keepAliveErrors = `connect ${se.connect}, read ${se.read}, write ${se.write}, timeout ${se.timeout}`;
    if (pw.requests === 0) r.failures.push(`wrk over TLS: no requests (${(w.stderr || w.stdout).trim().split('\n')[0]})`);
    progress(`${label}:   ${r.keepAliveRps?.toFixed(0) ?? '-'} req/s${r.keepAliveErrors ? `, socket errors ${r.keepAliveErrors}` : ''}`);
  }

  async function handshakes(): Promise<void> {
    const stime = Math.max(3, Math.min(10, o.duration));
    for (const mode of ['-new', '-reuse'] as const) {
      progress(`${label}: openssl s_time ${mode} -time ${stime}`);
      const c0 = cpu();
      const s = await inNs(clientNs, ['openssl', 's_time', '-connect', `${ip}:443`, mode, '-time', String(stime), '-CAfile', caFile], (stime + 30) * 1000);
      const cps = parseSTime(s.stdout);
      if (cps === undefined) r.failures.push(`s_time ${mode}: no figure (${(s.stderr || s.stdout).trim().split('\n').slice(-1)[0]})`);
      if (mode === '-new') {
        r.newHandshakesPerSec = cps;
        const n = /(\d+) connections in/.exec(s.stdout);
        r.newHandshakeCpuUs = per(c0, n ? Number(n[1]) : 0, 1e6);
      } else r.resumedHandshakesPerSec = cps;
      progress(`${label}:   ${cps?.toFixed(0) ?? '-'} connections/s`);
    }
  }

  async function download(): Promise<void> {
    // The same method as the cleartext download row (measure.ts downloads()): uncounted warm-up
    // downloads first, for every server alike (ours compiles its TLS bulk path in them), then the
    // counted ones; the best and the median of those.
    progress(`${label}: ${TLS_DOWNLOAD_WARMUP} × 10 MB download over TLS (warm-up, not counted), then ${TLS_DOWNLOAD_REPS} (curl --cacert)`);
    r.downloadOk = true;
    const once = async (): Promise<number | undefined> => {
      const d = await inNs(clientNs, ['curl', '-sS', '--http1.1', '--max-time', '60', '--cacert', caFile, '-o', '/dev/null', '-w', '%{size_download} %{speed_download}', `${base}${bigPath}`], 70_000);
      const [size, speed] = d.stdout.trim().split(' ').map(Number);
      if (size === bigBytes) return speed! / 1e6;
      r.downloadOk = false;
      r.failures.push(`10 MB over TLS: got ${size} bytes (${d.stderr.trim()})`);
      return undefined;
    };
    for (let i = 0; i < TLS_DOWNLOAD_WARMUP && r.downloadOk; i++) await once();
    const speeds: number[] = [];
    const c0 = cpu();
    for (let i = 0; i < TLS_DOWNLOAD_REPS; i++) {
      const mbps = await once();
      if (mbps !== undefined) speeds.push(mbps);
    }
    r.downloadCpuMs = per(c0, TLS_DOWNLOAD_REPS, 1e3);
    speeds.sort((a, b) => a - b);
    r.downloadMBps = speeds.length ? speeds[speeds.length - 1] : undefined;
    r.downloadMedianMBps = speeds.length ? speeds[speeds.length >> 1] : undefined;
    progress(`${label}:   best ${r.downloadMBps?.toFixed(1) ?? '-'} MB/s, median ${r.downloadMedianMBps?.toFixed(1) ?? '-'} MB/s [${speeds.map((v) => v.toFixed(1)).join(', ')}]`);
  }

  async function h2load(): Promise<void> {
    progress(`${label}: h2load -n 20000 -c 10 -m 10 (HTTP/2 over TLS)`);
    const c0 = cpu();
    const h = await inNs(clientNs, ['h2load', '-n', '20000', '-c', '10', '-m', '10', `${base}/index.html`], 120_000);
    const ph = parseH2load(h.stdout);
    r.h2loadRps = ph.rps;
    r.h2loadFailed = ph.failed;
    r.h2loadCpuUs = per(c0, 20000, 1e6);
    if (ph.rps === undefined) r.failures.push(`h2load: no figure (${(h.stderr || h.stdout).trim().split('\n').slice(-1)[0]})`);
    if ((ph.failed ?? 0) > 0) r.failures.push(`h2load: ${ph.failed} failed requests`);
    progress(`${label}:   ${ph.rps?.toFixed(0) ?? '-'} req/s, ${ph.failed ?? '-'} failed`);
  }
}
