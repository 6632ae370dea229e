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
import { runAsync } from './proc.js';

export interface TlsBenchResult {
  keepAliveRps?: number;
  keepAliveErrors?: string;
  newHandshakesPerSec?: number;
  resumedHandshakesPerSec?: number;
  downloadMBps?: number;
  downloadOk?: boolean;
  h2loadRps?: number;
  h2loadFailed?: number;
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
): Promise<TlsBenchResult> {
  const r: TlsBenchResult = { failures: [] };
  const base = `https://${ip}`;

  progress(`${label}: wrk -t${o.threads} -c${o.connections} -d${o.duration}s over TLS (keep-alive)`);
  const w = await inNs(clientNs, ['wrk', '-t', String(o.threads), '-c', String(o.connections), '-d', `${o.duration}s`, `${base}/index.html`], (o.duration + 30) * 1000);
  const pw = parseWrk(w.stdout);
  r.keepAliveRps = pw.requestsPerSec || undefined;
  const se = pw.socketErrors;
  if (se.connect + se.read + se.write + se.timeout > 0) r.keepAliveErrors = `connect ${se.connect}, read ${se.read}, write ${se.write}, timeout ${se.timeout}`;
  if (pw.requests === 0) r.failures.push(`wrk over TLS: no requests (${(w.stderr || w.stdout).trim().split('\n')[0]})`);
  progress(`${label}:   ${r.keepAliveRps?.toFixed(0) ?? '-'} req/s${r.keepAliveErrors ? `, socket errors ${r.keepAliveErrors}` : ''}`);

  const stime = Math.max(3, Math.min(10, o.duration));
  for (const mode of ['-new', '-reuse'] as const) {
    progress(`${label}: openssl s_time ${mode} -time ${stime}`);
    const s = await inNs(clientNs, ['openssl', 's_time', '-connect', `${ip}:443`, mode, '-time', String(stime), '-CAfile', caFile], (stime + 30) * 1000);
    const cps = parseSTime(s.stdout);
    if (cps === undefined) r.failures.push(`s_time ${mode}: no figure (${(s.stderr || s.stdout).trim().split('\n').slice(-1)[0]})`);
    if (mode === '-new') r.newHandshakesPerSec = cps;
    else r.resumedHandshakesPerSec = cps;
    progress(`${label}:   ${cps?.toFixed(0) ?? '-'} connections/s`);
  }

  progress(`${label}: 3 × 10 MB download over TLS (curl --cacert)`);
  let best = 0;
  r.downloadOk = true;
  for (let i = 0; i < 3; i++) {
    const d = await inNs(clientNs, ['curl', '-sS', '--http1.1', '--max-time', '60', '--cacert', caFile, '-o', '/dev/null', '-w', '%{size_download} %{speed_download}', `${base}${bigPath}`], 70_000);
    const [size, speed] = d.stdout.trim().split(' ').map(Number);
    if (size !== bigBytes) {
      r.downloadOk = false;
      r.failures.push(`10 MB over TLS: got ${size} bytes (${d.stderr.trim()})`);
      continue;
    }
    best = Math.max(best, speed! / 1e6);
  }
  r.downloadMBps = best > 0 ? best : undefined;
  progress(`${label}:   best ${r.downloadMBps?.toFixed(1) ?? '-'} MB/s`);

  progress(`${label}: h2load -n 20000 -c 10 -m 10 (HTTP/2 over TLS)`);
  const h = await inNs(clientNs, ['h2load', '-n', '20000', '-c', '10', '-m', '10', `${base}/index.html`], 120_000);
  const ph = parseH2load(h.stdout);
  r.h2loadRps = ph.rps;
  r.h2loadFailed = ph.failed;
  if (ph.rps === undefined) r.failures.push(`h2load: no figure (${(h.stderr || h.stdout).trim().split('\n').slice(-1)[0]})`);
  if ((ph.failed ?? 0) > 0) r.failures.push(`h2load: ${ph.failed} failed requests`);
  progress(`${label}:   ${ph.rps?.toFixed(0) ?? '-'} req/s, ${ph.failed ?? '-'} failed`);
  return r;
}
