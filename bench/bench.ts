/**
 * `npm run bench` / `make bench`: our dataplane against nginx and Node's `http` on the same path,
 * in one run. Prints figures and ratios; it is not a pass/fail test (exit 0 whenever it could
 * measure, even if our dataplane failed a measurement: the failures are reported).
 *
 * Two topologies, one after the other (see docs/bench.md):
 *   lab   the lab exactly as `vpp-server lab up` builds it (Lab, prefix `bench`): userspace switch,
 *         client untagged on VLAN 123, our dataplane on host-macvlan0.123. Only ours can serve here.
 *   flat  bench/flat-lab.ts (prefix `benchflat`): Linux bridge, no VLAN, 192.168.123.150 on
 *         host-macvlan0 (ours) or on the kernel's macvlan0 (nginx, then Node), one after the other.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultSettings, Lab, POD_UID } from '../src/lab/lab.js';
import { cli, FlatLab, tuneClient } from './flat-lab.js';
import { checkFile, downloads, getIndex, machineBusyPct, otherCpuPct, otherCpuSnapshot, ping, wrk, type DownloadResult, type PingResult, type Target, type WrkResult } from './measure.js';
import { killAllRunning, mustRun, progress, runAsync } from './proc.js';
import { logTail, startNginx, startNode, type KernelServer } from './servers.js';
import { TLS_ROW_NAMES, measureTls, writeBenchCertificate, type TlsBenchResult, type TlsFiles, type TlsRowName } from './tls.js';
import { measureFloor, type FloorResult } from './floor.js';
import { IPV6_ROW_DOWNLOAD_WARMUP, ipv6Table, ipv6Target, measureIpv6, type Ipv6BenchResult } from './ipv6.js';
import { addIdleSources, childPids, IDLE_CONNECTIONS, idleMemoryRows, measureIdleMemory, rssBytes, type IdleMemoryResult } from './idle-memory.js';
import { CONGESTION_CONTROLS } from '../src/tcp/congestion.js';
import { addPathLoss, KERNEL_LOSS_KEYS, kernelCcName, kernelCongestionControl, restoreAllowedCongestionControl, setKernelCongestionControl, kernelTcpCounters, lossDownloads, parseTcpStats, segmentBeforeThePath, type LossDownloadResult } from './loss.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BIG_NAME = '10mb.bin';
const BIG_BYTES = 10 * 1024 * 1024;
const SYSTEM_PACKAGES = ['wrk', 'nginx-light', 'curl', 'iputils-ping', 'ethtool', 'iproute2', 'nghttp2-client', 'openssl', 'nftables'];

const USAGE = `usage: node dist/bench/bench.js [--duration S] [--reps N] [--connections C] [--threads T] [--topology both|lab|flat] [--servers ours,nginx,node]
  --duration S     seconds per wrk run (default 10)
  --reps N         10 MB downloads per server: the download row's counted ones (default 15) and the
                   loss and ipv6 rows' (default 5)
  --warmup N       10 MB downloads before the download row's counted ones, not counted, for every
                   server alike (default 30; the first 5 are the 'first 5 after start' row)
  --connections C  wrk connections (default 64)
  --threads T      wrk threads (default 2)
  --topology       which topologies to run (default both)
  --servers LIST   comma-separated subset of ours,nginx,node (default all; the lab path runs only ours)
  --wait-quiet S   before each server, wait up to S seconds until other processes use < 25% of a core
  --prefix P       lab prefix P and flat prefix Pflat (default bench: labs bench, benchflat)
  --engine 'K V …' experiment: append \`vpp-server { K V … }\` to the flat pod's vpp.conf (e.g. 'ring-version 2')
  --tls on|off     HTTPS rows on the flat path, ours vs nginx (listen 443 ssl http2), same certificate (default on)
  --only-tls       run only the HTTPS rows (flat path, ours and nginx): a quick check of them
  --tls-rows LIST  which HTTPS rows (comma-separated subset of ${TLS_ROW_NAMES.join(',')}; default all), e.g. to profile one
  --only LIST      run only these measurements (comma-separated: ping, single, download, keepalive,
                   newconn, loss, ipv6, idle); the GET checks always run. E.g. --only download --reps 3
                   --servers ours --topology flat --tls off: the 10 MB row alone. loss, ipv6 and idle are
                   flat-path rows against ours and nginx: a list of only those also means the flat path,
                   ours and nginx, no HTTPS. loss: 10 MB downloads while the bridge drops --loss % of the
                   TCP frames in each direction; ipv6: keep-alive and 10 MB over IPv4 and IPv6 back to back
                   (the flat path gets IPv6 addresses); idle: memory per idle keep-alive connection with
                   ${IDLE_CONNECTIONS} of them open
  --loss P         the loss row's random drop, % each way (default 5)
  --loss-warmup N  10 MB downloads with the loss, not counted, before the loss row's (default 3):
                   ours restarts for its like-for-like row, and a cold V8 (lazy compilation, the
                   first optimisations of the recovery paths) took 2-5x the CPU of a warm one
Writes bench/results/latest.json. Needs root (network namespaces).`;

interface Options {
  duration: number;
  /** the loss and ipv6 rows' downloads per server */
  reps: number;
  /** the download row's counted downloads per server */
  downloadReps: number;
  /** the download row's warm-up downloads per server (not counted) */
  downloadWarmup: number;
  connections: number;
  threads: number;
  topology: 'both' | 'lab' | 'flat';
  servers: ServerName[];
  engine?: string;
  /** namespace prefix: the lab runs as \`prefix\`, the flat topology as \`\${prefix}flat\` */
  prefix: string;
  /** before each server: wait up to this many seconds for the machine to be quiet */
  waitQuiet: number;
  /** HTTPS rows (flat path, ours and nginx) */
  tls: boolean;
  /** only the HTTPS rows */
  onlyTls: boolean;
  /** which HTTPS rows */
  tlsRows: TlsRowName[];
  /** measurements to run (default all) */
  only: Set<Measurement>;
  /** the loss row's drop rate in each direction, % */
  lossPct: number;
  /** the loss row's uncounted warm-up downloads per server */
  lossWarmup: number;
}

const MEASUREMENTS = ['ping', 'single', 'download', 'keepalive', 'newconn', 'loss', 'ipv6', 'idle'] as const;
type Measurement = (typeof MEASUREMENTS)[number];
/** Rows that run on their own on the flat path, against ours and nginx (not in measureServer). */
const FLAT_ROWS: readonly Measurement[] = ['loss', 'ipv6', 'idle'];

/** Something measureServer does is wanted (the loss, ipv6 and idle rows run on their own). */
function measuresBeyondLoss(o: Options): boolean {
  for (const m of o.only) if (!FLAT_ROWS.includes(m)) return true;
  return false;
}

interface ServerResult {
  index: { ok: boolean; why?: string };
  file: { ok: boolean; why?: string };
  // Absent when left out with --only.
  /** ping -c 50 -i 0.01 after a warm-up of 500 pings */
  ping?: PingResult;
  /** the first ping -c 50 -i 0.01 after the server started (ours: the ICMP path not yet compiled) */
  pingFirst?: PingResult;
  /** wrk -t1 -c1 -d2s: request latency on one keep-alive connection */
  singleConnection?: WrkResult;
  download?: DownloadResult;
  keepAlive?: WrkResult;
  newConnection?: WrkResult;
  /**
   * Ping and one-connection latency with our RX queue in polling mode (`set interface rx-mode
   * host-macvlan0 polling`). The kernel has no such mode: for nginx and Node these are their
   * ordinary figures, so the ratio compares our polling mode with the kernel as it is.
   */
  polling?: { ping?: PingResult; single?: WrkResult; serverCpuPct?: number };
  /**
   * Keep-alive and new-connection runs with two workers: ours with `cpu { workers 2 }` and
   * `num-rx-queues 2`, nginx with `worker_processes 2`.
   */
  workers2?: { keepAlive?: WrkResult; newConnection?: WrkResult };
  /** `show errors` / `show session` of our dataplane after the run */
  dataplane?: { errors?: string; hardware?: string };
}

type ServerName = 'ours' | 'nginx' | 'node';

function parseArgs(argv: string[]): Options {
  const o: Options = { duration: 10, reps: 5, downloadReps: 15, downloadWarmup: 30, connections: 64, threads: 2, topology: 'both', servers: ['ours', 'nginx', 'node'], waitQuiet: 0, prefix: 'bench', tls: true, onlyTls: false, tlsRows: [...TLS_ROW_NAMES], only: new Set(MEASUREMENTS), lossPct: 5, lossWarmup: 3 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${a} needs a value\n${USAGE}`);
      return x;
    };
    const n = (x: string) => {
      const k = Number(x);
      if (!Number.isInteger(k) || k < 1) throw new Error(`${a}: '${x}' is not a positive integer`);
      return k;
    };
    if (a === '--duration') o.duration = n(v());
    else if (a === '--reps') o.reps = o.downloadReps = n(v());
    else if (a === '--warmup') {
      const x = v();
      const k = Number(x);
      if (!Number.isInteger(k) || k < 0) throw new Error(`--warmup: '${x}' is not a non-negative integer`);
      o.downloadWarmup = k;
    } else if (a === '--connections') o.connections = n(v());
    else if (a === '--threads') o.threads = n(v());
    else if (a === '--topology') {
      const t = v();
      if (t !== 'both' && t !== 'lab' && t !== 'flat') throw new Error(`--topology: '${t}' (valid: both, lab, flat)`);
      o.topology = t;
    } else if (a === '--engine') o.engine = v();
    else if (a === '--prefix') {
      const p = v();
      if (!/^[a-z][a-z0-9]{0,7}$/.test(p)) throw new Error(`--prefix: '${p}' (1-8 lower-case letters and digits, starting with a letter)`);
      o.prefix = p;
    }
    else if (a === '--wait-quiet') o.waitQuiet = n(v());
    else if (a === '--tls') {
      const t = v();
      if (t !== 'on' && t !== 'off') throw new Error(`--tls: '${t}' (valid: on, off)`);
      o.tls = t === 'on';
    } else if (a === '--loss') {
      const p = Number(v());
      if (!(p > 0 && p < 100)) throw new Error(`--loss: '${argv[i]}' (a percentage between 0 and 100)`);
      o.lossPct = p;
    } else if (a === '--loss-warmup') {
      const w = Number(v());
      if (!(Number.isInteger(w) && w >= 0 && w <= 10)) throw new Error(`--loss-warmup: '${argv[i]}' (0-10 downloads)`);
      o.lossWarmup = w;
    } else if (a === '--only-tls') {
      o.onlyTls = true;
      o.tls = true;
      o.topology = 'flat';
      o.servers = o.servers.filter((x) => x !== 'node');
    }
    else if (a === '--tls-rows') {
      const list = v().split(',').filter(Boolean);
      for (const x of list) if (!(TLS_ROW_NAMES as readonly string[]).includes(x)) throw new Error(`--tls-rows: '${x}' (valid: ${TLS_ROW_NAMES.join(', ')})`);
      o.tlsRows = list as TlsRowName[];
    }
    else if (a === '--only') {
      const list = v().split(',').filter(Boolean);
      for (const x of list) if (!(MEASUREMENTS as readonly string[]).includes(x)) throw new Error(`--only: '${x}' (valid: ${MEASUREMENTS.join(', ')})`);
      o.only = new Set(list as Measurement[]);
      if (list.every((x) => FLAT_ROWS.includes(x as Measurement))) {
        // Only flat-path rows (loss, ipv6, idle): the flat path, against ours and nginx.
        o.tls = false;
        o.topology = 'flat';
        o.servers = o.servers.filter((x) => x !== 'node');
      }
    }
    else if (a === '--servers') {
      const list = v().split(',').filter(Boolean);
      for (const x of list) if (x !== 'ours' && x !== 'nginx' && x !== 'node') throw new Error(`--servers: '${x}' (valid: ours, nginx, node)`);
      o.servers = list as ServerName[];
    } else if (a === '-h' || a === '--help') {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument '${a}'\n${USAGE}`);
  }
  return o;
}

const failures: string[] = [];
function fail(where: string, what: string): void {
  failures.push(`${where}: ${what}`);
  progress(`  !! ${where}: ${what}`);
}
/** Worth knowing, not a failure (e.g. a slow request under load, which wrk still completed). */
const notes: string[] = [];
function note(where: string, what: string): void {
  notes.push(`${where}: ${what}`);
  progress(`  (note) ${where}: ${what}`);
}

/** Every check and measurement against one server; notes what failed and how. */
/** The keep-alive warm-up before the keep-alive and new-connection runs (not counted). */
const KEEPALIVE_WARMUP_SECONDS = 3;

async function measureServer(label: string, t: Target, o: Options, scratch: string, sha256: string): Promise<ServerResult> {
  if (o.waitQuiet > 0) {
    const deadline = Date.now() + o.waitQuiet * 1000;
    for (;;) {
      const before = otherCpuSnapshot(t.allNamespaces);
      await new Promise((r) => setTimeout(r, 1000));
      const other = otherCpuPct(before, otherCpuSnapshot(t.allNamespaces), 1);
      if (other < 25) break;
      if (Date.now() > deadline) {
        note(label, `the machine did not get quiet within ${o.waitQuiet} s (other processes ${other}% of a core): measuring anyway`);
        break;
      }
      progress(`${label}: waiting for a quiet machine (other processes ${other}% of a core)`);
    }
  }
  progress(`${label}: GET /index.html and ${BIG_NAME} (sha256)`);
  const idx = await getIndex(t);
  const index = idx.body?.trim() === 'Welcome' ? { ok: true } : { ok: false, why: idx.why ?? `body ${JSON.stringify(idx.body?.slice(0, 40))}, expected "Welcome"` };
  if (!index.ok) fail(label, `GET /index.html: ${index.why}`);
  const file = await checkFile(t, `/${BIG_NAME}`, sha256, scratch);
  if (!file.ok) fail(label, `GET /${BIG_NAME}: ${file.why}`);

  let p: PingResult | undefined;
  let pingFirst: PingResult | undefined;
  if (o.only.has('ping')) {
    // The first 50 pings after the server started are reported on their own row: for ours they
    // include V8 compiling and optimising the ICMP path (it has not run before). Then a warm-up
    // (500 pings 2 ms apart, not counted, for every server alike) and the measured run.
    progress(`${label}: ping -c 50 -i 0.01 (the first after start)`);
    pingFirst = await ping(t);
    progress(`${label}:   ping min/avg/max ${pingFirst.minUs ?? '-'}/${pingFirst.avgUs ?? '-'}/${pingFirst.maxUs ?? '-'} µs, median ${pingFirst.medianUs ?? '-'} µs (${pingFirst.received}/${pingFirst.transmitted} replies)`);
    if (!pingFirst.ok) fail(label, `first ping: ${pingFirst.received}/${pingFirst.transmitted} replies`);
    progress(`${label}: ping -c 500 -i 0.002 (warm-up, not counted), then ping -c 50 -i 0.01`);
    await ping(t, 500, '0.002');
    p = await ping(t);
    progress(`${label}:   ping min/avg/max ${p.minUs ?? '-'}/${p.avgUs ?? '-'}/${p.maxUs ?? '-'} µs, median ${p.medianUs ?? '-'} µs (${p.received}/${p.transmitted} replies)`);
    if (!p.ok) fail(label, `ping: ${p.received}/${p.transmitted} replies`);
  }

  let single: WrkResult | undefined;
  if (o.only.has('single')) {
    progress(`${label}: wrk -t1 -c1 -d2s (one connection: request latency)`);
    single = await wrk(t, { threads: 1, connections: 1, seconds: 2, close: false });
    progress(`${label}:   one connection: ${fmt(single.requestsPerSec)} req/s, latency avg ${fmt(single.latencyAvgUs)} µs`);
    if (!single.ok) fail(label, `one-connection GET: wrk ${single.exit}, ${single.requests} requests`);
    const se = single.socketErrors;
    if (se.connect + se.read + se.write + se.timeout > 0) fail(label, `one-connection GET: wrk socket errors: connect ${se.connect}, read ${se.read}, write ${se.write}, timeout ${se.timeout}`);
    if (single.non2xx3xx > 0) fail(label, `one-connection GET: ${single.non2xx3xx} non-2xx/3xx responses`);
  }

  let d: DownloadResult | undefined;
  if (o.only.has('download')) {
    // A warm-up first, for every server alike (as the ping row's): ours runs its bulk path for the
    // first time here, and V8 compiles it over the first ~15 downloads. Its first 5 are a row of
    // their own ('first 5 after start').
    progress(`${label}: ${o.downloadWarmup} × 10 MB download (warm-up, not counted), then ${o.downloadReps} × 10 MB download (curl)`);
    d = await downloads(t, `/${BIG_NAME}`, BIG_BYTES, o.downloadReps, o.downloadWarmup);
    if (d.warmupMBps !== undefined) progress(`${label}:   warm-up MB/s [${d.warmupMBps.join(', ')}]`);
    progress(
      `${label}:   10 MB: best ${fmt(d.bestMBps)} MB/s, median ${fmt(d.medianMBps)} MB/s [${d.speedsMBps.join(', ')}], server CPU ${d.serverCpuPct ?? '-'}%, ${fmt(d.serverCpuMs, 2)} ms per download` +
        (d.phasesUs ? `; medians: connect ${fmt(d.phasesUs.connect)} µs, request to first byte ${fmt(d.phasesUs.firstByte)} µs, first to last byte ${fmt(d.phasesUs.transfer)} µs` : ''),
    );
    for (const f of d.failures) fail(label, `10 MB download ${f}`);
  }

  const runWrk = async (close: boolean): Promise<WrkResult> => {
    const what = close ? 'new connection per request' : 'keep-alive';
    progress(`${label}: wrk -t${o.threads} -c${o.connections} -d${o.duration}s${close ? " -H 'Connection: close'" : ''} (${what})`);
    const w = await wrk(t, { threads: o.threads, connections: o.connections, seconds: o.duration, close });
    const se = w.socketErrors;
    const errs = se.connect + se.read + se.write + se.timeout;
    progress(
      `${label}:   ${fmt(w.requestsPerSec)} req/s, ${w.requests} requests, latency avg ${fmt(w.latencyAvgUs)} µs max ${fmt(w.latencyMaxUs)} µs, ` +
        `server CPU ${w.serverCpuPct}%, other processes ${w.otherCpuPct}%` + (close ? `, client TCP opens ${w.clientTcp?.ActiveOpens}, client TIME_WAIT ${w.clientTimeWait}` : ''),
    );
    if ((w.otherCpuPct ?? 0) >= 20) {
      note(label, `${what}: other processes on the machine used ${w.otherCpuPct}% of a core meanwhile: this figure is disturbed`);
    }
    if (!w.ok) fail(label, `${what}: wrk ${w.exit}, ${w.requests} requests${w.raw ? `\n      ${w.raw.split('\n').join('\n      ')}` : ''}`);
    if (errs > 0) fail(label, `${what}: wrk socket errors: connect ${se.connect}, read ${se.read}, write ${se.write}, timeout ${se.timeout}`);
    if (w.non2xx3xx > 0) fail(label, `${what}: ${w.non2xx3xx} non-2xx/3xx responses`);
    if (w.latencyMaxUs !== undefined && w.latencyMaxUs >= 1_000_000) note(label, `${what}: slowest request took ${fmt(w.latencyMaxUs / 1000)} ms (wrk's timeout is 2 s)`);
    if (close && w.clientTcp?.ActiveOpens !== undefined && w.requests > 0) {
      // Each request must have had its own connection: the client kernel counts the opens.
      const opens = w.clientTcp.ActiveOpens;
      const ratio = opens / w.requests;
      if (ratio < 0.98 || ratio > 1.02 + o.connections / w.requests) {
        fail(label, `new connection per request: client opened ${opens} TCP connections for ${w.requests} requests (wrk's count is not one request per connection)`);
      }
    }
    if ((w.clientTcp?.EstabResets ?? 0) > 0 || (w.clientTcp?.AttemptFails ?? 0) > 0) {
      progress(`${label}:   client TCP: ${JSON.stringify(w.clientTcp)}`);
    }
    return w;
  };
  if (o.only.has('keepalive') || o.only.has('newconn')) {
    // Every server alike: a short keep-alive run that is not counted. A JIT-compiled server (ours,
    // Node) must not pay its compilation inside the measured runs, and how much of it is left
    // depends on what ran before: the 1-worker dataplane has served the one-connection run and
    // the downloads by now, while the 2-worker one was just restarted, with two isolates that
    // each compile the whole TCP/HTTP path (issue 12: 5-s keep-alive runs at load ~6, medians of
    // 3: the first run after a restart cost 2 workers 6.08 µs of CPU per request, the next 5.25;
    // 1 worker 4.40 and 4.17).
    progress(`${label}: wrk -t${o.threads} -c${o.connections} -d${KEEPALIVE_WARMUP_SECONDS}s (warm-up, not counted)`);
    await wrk(t, { threads: o.threads, connections: o.connections, seconds: KEEPALIVE_WARMUP_SECONDS, close: false });
  }
  const keepAlive = o.only.has('keepalive') ? await runWrk(false) : undefined;
  const newConnection = o.only.has('newconn') ? await runWrk(true) : undefined;
  return { index, file, ping: p, pingFirst, singleConnection: single, download: d, keepAlive, newConnection };
}

/** Our ping and one-connection latency with the RX queue polling, then back to interrupt mode. */
async function measurePolling(label: string, t: Target, o: Options, socket: string): Promise<ServerResult['polling']> {
  const set = async (mode: string) => {
    const r = await cli(socket, `set interface rx-mode host-macvlan0 ${mode}`);
    if (r === undefined || r.trim() !== '') fail(label, `set interface rx-mode host-macvlan0 ${mode}: ${r ?? 'no answer'}`);
  };
  await set('polling');
  const out: NonNullable<ServerResult['polling']> = {};
  try {
    if (o.only.has('ping')) {
      progress(`${label} polling: ping -c 50 -i 0.01`);
      out.ping = await ping(t);
      progress(`${label} polling:   ping min/avg/max ${out.ping.minUs ?? '-'}/${out.ping.avgUs ?? '-'}/${out.ping.maxUs ?? '-'} µs, median ${out.ping.medianUs ?? '-'} µs`);
      if (!out.ping.ok) fail(`${label} polling`, `ping: ${out.ping.received}/${out.ping.transmitted} replies`);
    }
    if (o.only.has('single')) {
      progress(`${label} polling: wrk -t1 -c1 -d2s`);
      out.single = await wrk(t, { threads: 1, connections: 1, seconds: 2, close: false });
      progress(`${label} polling:   one connection: ${fmt(out.single.requestsPerSec)} req/s, latency avg ${fmt(out.single.latencyAvgUs)} µs, server CPU ${out.single.serverCpuPct}%`);
      if (!out.single.ok) fail(`${label} polling`, `one-connection GET: wrk ${out.single.exit}`);
    }
  } finally {
    await set('interrupt');
  }
  return out;
}

function fmt(x: number | undefined, digits = 0): string {
  if (x === undefined || !Number.isFinite(x)) return '-';
  return x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || b === 0 || !Number.isFinite(a) || !Number.isFinite(b)) return '-';
  return `${(a / b).toFixed(2)}×`;
}

interface Row {
  name: string;
  get: (r: ServerResult) => number | undefined;
  digits?: number;
  /** false: context, not a figure to compare (no ratio printed) */
  ratio?: boolean;
}

/** Server CPU per request, µs: the server's CPU share over the run divided by its request rate. */
function cpuPerRequestUs(w: WrkResult | undefined): number | undefined {
  if (w === undefined || !w.ok || w.serverCpuPct === undefined || !(w.requestsPerSec > 0)) return undefined;
  return (w.serverCpuPct / 100 / w.requestsPerSec) * 1e6;
}

function quotient(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined || b === 0 ? undefined : a / b;
}

/** --only's keep-alive and new-connection runs, for the 2-worker rows (undefined: neither was asked for). */
function twoWorkerOptions(o: Options): Options | undefined {
  const only = new Set([...o.only].filter((m) => m === 'keepalive' || m === 'newconn'));
  return only.size === 0 ? undefined : { ...o, only };
}

const ROWS: Row[] = [
  { name: 'keep-alive GET req/s', get: (r) => (r.keepAlive?.ok ? r.keepAlive.requestsPerSec : undefined) },
  { name: 'new-connection req/s', get: (r) => (r.newConnection?.ok ? r.newConnection.requestsPerSec : undefined) },
  { name: '10 MB download MB/s (best)', get: (r) => r.download?.bestMBps },
  { name: '10 MB download MB/s (median)', get: (r) => r.download?.medianMBps },
  { name: '10 MB download MB/s, median of the first 5 after start', get: (r) => r.download?.firstMBps },
  { name: '10 MB download: connect µs, median (lower=better)', get: (r) => r.download?.phasesUs?.connect },
  { name: '10 MB download: request to first byte µs, median (lower=better)', get: (r) => r.download?.phasesUs?.firstByte },
  { name: '10 MB download: first to last byte µs, median (lower=better)', get: (r) => r.download?.phasesUs?.transfer },
  { name: 'ping RTT avg µs (lower=better)', get: (r) => r.ping?.avgUs },
  { name: 'ping RTT min µs (lower=better)', get: (r) => r.ping?.minUs },
  { name: 'ping RTT median µs (lower=better)', get: (r) => r.ping?.medianUs },
  { name: 'ping RTT avg µs, first 50 after start', get: (r) => r.pingFirst?.avgUs },
  { name: 'GET latency, 1 conn, avg µs (lower=better)', get: (r) => (r.singleConnection?.ok ? r.singleConnection.latencyAvgUs : undefined) },
  { name: 'ping RTT avg µs, ours rx-mode polling', get: (r) => r.polling?.ping?.avgUs },
  { name: 'ping RTT median µs, ours rx-mode polling', get: (r) => r.polling?.ping?.medianUs },
  { name: 'GET latency, 1 conn, µs, ours polling', get: (r) => (r.polling?.single?.ok ? r.polling.single.latencyAvgUs : undefined) },
  { name: 'server CPU % 1 conn, ours polling', get: (r) => r.polling?.single?.serverCpuPct },
  { name: 'keep-alive latency avg µs (64 conns)', get: (r) => r.keepAlive?.latencyAvgUs },
  { name: 'server CPU % keep-alive', get: (r) => r.keepAlive?.serverCpuPct },
  { name: 'server CPU % new-conn', get: (r) => r.newConnection?.serverCpuPct },
  { name: 'server CPU % 10 MB download', get: (r) => r.download?.serverCpuPct },
  { name: 'server CPU ms per 10 MB download (lower=better)', digits: 2, get: (r) => r.download?.serverCpuMs },
  { name: '2 workers: keep-alive req/s (nginx worker_processes 2)', get: (r) => (r.workers2?.keepAlive?.ok ? r.workers2.keepAlive.requestsPerSec : undefined) },
  { name: '2 workers: new-connection req/s', get: (r) => (r.workers2?.newConnection?.ok ? r.workers2.newConnection.requestsPerSec : undefined) },
  { name: 'server CPU µs/request keep-alive, 1 worker', digits: 2, get: (r) => cpuPerRequestUs(r.keepAlive) },
  { name: 'server CPU µs/request keep-alive, 2 workers', digits: 2, get: (r) => cpuPerRequestUs(r.workers2?.keepAlive) },
  { name: 'server CPU µs/request new-conn, 1 worker', digits: 2, get: (r) => cpuPerRequestUs(r.newConnection) },
  { name: 'server CPU µs/request new-conn, 2 workers', digits: 2, get: (r) => cpuPerRequestUs(r.workers2?.newConnection) },
  { name: 'CPU/request 2 workers ÷ 1 worker, keep-alive (goal ≤1.15)', digits: 2, get: (r) => quotient(cpuPerRequestUs(r.workers2?.keepAlive), cpuPerRequestUs(r.keepAlive)) },
  { name: 'CPU/request 2 workers ÷ 1 worker, new-conn (goal ≤1.15)', digits: 2, get: (r) => quotient(cpuPerRequestUs(r.workers2?.newConnection), cpuPerRequestUs(r.newConnection)) },
  { name: 'other processes CPU % (keep-alive)', ratio: false, get: (r) => r.keepAlive?.otherCpuPct },
  { name: 'other processes CPU % (new-conn)', ratio: false, get: (r) => r.newConnection?.otherCpuPct },
];

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(headers), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

async function dataplaneState(socket: string): Promise<ServerResult['dataplane']> {
  return { errors: await cli(socket, 'show errors'), hardware: await cli(socket, 'show hardware-interfaces') };
}

/** Counters as `name value` pairs (only `keys`, in that order, when given). */
function formatCounters(c: Record<string, number> | undefined, keys?: string[]): string {
  if (c === undefined) return '-';
  const names = keys ?? Object.keys(c);
  return names.filter((k) => c[k] !== undefined).map((k) => `${k} ${c[k]}`).join(', ') || '(no change)';
}

/** Until /index.html answers (at most 10 s). */
async function waitIndex(label: string, t: Target): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = await getIndex(t);
    if (r.body?.trim() === 'Welcome') return;
    if (Date.now() > deadline) throw new Error(`${label}: /index.html not served within 10 s (${r.why ?? 'wrong body'})`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

async function waitServing(label: string, t: Target, server: KernelServer): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = await getIndex(t);
    if (r.body?.trim() === 'Welcome') return;
    if (Date.now() > deadline) throw new Error(`${label} did not serve /index.html within 10 s (${r.why ?? 'wrong body'})\n  ${logTail(server.log)}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

function putFiles(wwwRoot: string, big: Buffer): void {
  const p = join(wwwRoot, BIG_NAME);
  writeFileSync(p, big, { mode: 0o644 });
  chownSync(p, POD_UID, POD_UID);
  const index = join(wwwRoot, 'index.html');
  if (!existsSync(index)) {
    writeFileSync(index, 'Welcome\n', { mode: 0o644 });
    chownSync(index, POD_UID, POD_UID);
  }
}

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('the bench creates network namespaces: run it as root');
  const started = Date.now();
  progress(`installing what the bench needs (${SYSTEM_PACKAGES.join(' ')}) if missing`);
  await mustRun([join(REPO_ROOT, 'scripts', 'install-system-deps.sh'), ...SYSTEM_PACKAGES], 600_000);
  for (const f of ['build/Release/af_packet.node', 'dist/src/main.js']) {
    if (!existsSync(join(REPO_ROOT, f))) throw new Error(`${f} is missing: build first (make bench builds and runs)`);
  }

  const big = randomBytes(BIG_BYTES);
  const sha256 = createHash('sha256').update(big).digest('hex');
  const os = await import('node:os');
  const loadStart = os.loadavg();
  const busyStart = await machineBusyPct(1000);
  progress(`machine CPU busy before the bench: ${busyStart}% of one core (of ${os.cpus().length * 100}%)`);
  if (busyStart > 30) note('host', `the machine was ${busyStart}% busy (of ${os.cpus().length * 100}%) before the bench started`);

  const lab = new Lab(defaultSettings(o.prefix), (m) => progress(`lab: ${m}`));
  const flat = new FlatLab(`${o.prefix}flat`);
  let labBuilt = false;
  let flatBuilt = false;
  const servers: KernelServer[] = [];
  const cleanup = () => {
    killAllRunning();
    restoreAllowedCongestionControl();
    for (const s of servers.splice(0)) s.stop();
    if (flatBuilt) {
      flatBuilt = false;
      progress(`removing the flat topology (${flat.down().join(', ') || 'nothing left'})`);
    }
    if (labBuilt) {
      labBuilt = false;
      progress(`removing the lab (${lab.down().join(', ') || 'nothing left'})`);
    }
  };
  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    progress(`${sig}: stopping, cleaning up`);
    try {
      cleanup();
    } finally {
      process.exit(sig === 'SIGINT' ? 130 : 143);
    }
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, onSignal);

  const results: {
    lab?: { ours: ServerResult };
    flat?: Partial<Record<ServerName, ServerResult>>;
    tls?: { ours?: TlsBenchResult; nginx?: TlsBenchResult };
    /** nginxSameCc: nginx again with the kernel's default set to our congestion control, when it was another. */
    /** oursKernelCc: ours again with the congestion control nginx's kernel runs (bbr on this VM), when ours can run it. */
    loss?: { ours?: LossDownloadResult; nginx?: LossDownloadResult; nginxSameCc?: LossDownloadResult; oursKernelCc?: LossDownloadResult };
    /** The ping floor (bench/floor.ts): a minimal C responder on the same macvlan0. */
    floor?: FloorResult;
    ipv6?: { ours?: Ipv6BenchResult; nginx?: Ipv6BenchResult };
    idle?: { ours?: IdleMemoryResult; nginx?: IdleMemoryResult };
  } = {};
  /** The ipv6 row against one server (IPv4 and IPv6 back to back, same process). */
  const runIpv6 = async (label: string, who: 'ours' | 'nginx', t: Target): Promise<void> => {
    const t6 = ipv6Target(t, flat.serverIp6);
    await waitIndex(`${label} (IPv6)`, t6);
    const r = await measureIpv6(label, t, t6, o, `/${BIG_NAME}`, BIG_BYTES, progress, fail);
    results.ipv6 = { ...results.ipv6, [who]: r };
  };
  /** The idle row against one server: its RSS (and for nginx the kernel's socket memory) per idle connection. */
  const runIdle = async (label: string, who: 'ours' | 'nginx', t: Target, rss: () => number | undefined, whileOpen?: () => Promise<void>): Promise<void> => {
    await waitIndex(label, t);
    progress(`${label}: ${IDLE_CONNECTIONS} idle keep-alive connections (one request each), held open`);
    const r = await measureIdleMemory(t.clientNs, t.ip, rss, who === 'nginx', progress, IDLE_CONNECTIONS, whileOpen);
    if (!r.ok) fail(label, `idle connections: ${r.why}`);
    progress(`${label}:   per connection: RSS ${fmt(r.rssKiB, 2)} KiB, kernel ${fmt(r.kernelKiB, 2)} KiB, total ${fmt(r.totalKiB, 2)} KiB`);
    results.idle = { ...results.idle, [who]: r };
  };
  /** The loss row against one server: the bridge drops lossPct % each way meanwhile. */
  /** Ours runs cubic unless the experiment's --engine stanza names another. */
  const oursCongestionControl = (): string => /tcp-congestion-control\s+(\S+)/.exec(o.engine ?? '')?.[1] ?? 'cubic';
  const runLoss = async (label: string, who: 'ours' | 'nginx' | 'nginxSameCc' | 'oursKernelCc', t: Target, counters: () => Promise<Record<string, number>>, ourCc?: string): Promise<void> => {
    await waitIndex(label, t);
    progress(`${label}: ${o.reps} × 10 MB download with ${o.lossPct}% random loss both ways (nftables on the bridge)${o.lossWarmup > 0 ? `, after ${o.lossWarmup} not counted` : ''}`);
    const restoreOffload = await segmentBeforeThePath(flat.ns.worker);
    const removeLoss = await addPathLoss(flat.ns.switch, t.ip, o.lossPct);
    let r: LossDownloadResult;
    try {
      r = await lossDownloads(t, flat.ns.switch, `/${BIG_NAME}`, BIG_BYTES, o.reps, counters, o.lossWarmup);
    } finally {
      await removeLoss();
      await restoreOffload();
    }
    // Which congestion control each side ran: nginx takes the kernel's default (bbr on the machine
    // this was written on), ours its vpp.conf's tcp-congestion-control (cubic unless --engine says).
    r.congestionControl = who === 'ours' ? oursCongestionControl() : who === 'oursKernelCc' ? ourCc : await kernelCongestionControl(flat.ns.pod);
    progress(`${label}:   congestion control ${r.congestionControl ?? '?'}`);
    progress(`${label}:   median ${fmt(r.medianSeconds, 3)} s [${r.seconds.map((x) => x.toFixed(3)).join(', ')}], bridge dropped ${r.dropped?.fromServer} frames from the server and ${r.dropped?.toServer} to it`);
    progress(`${label}:   server TCP: ${formatCounters(r.server, who === 'nginx' ? KERNEL_LOSS_KEYS : undefined)}`);
    progress(`${label}:   client TCP: ${formatCounters(r.client, KERNEL_LOSS_KEYS)}`);
    for (const f of r.failures) fail(label, `loss download ${f}`);
    results.loss = { ...results.loss, [who]: r };
  };
  const runTls = async (label: string, who: 'ours' | 'nginx', t: Target, caFile: string, serverPid: number | undefined): Promise<void> => {
    const r = await measureTls(label, t.clientNs, t.ip, caFile, `/${BIG_NAME}`, BIG_BYTES, o, progress, o.tlsRows, serverPid);
    for (const f of r.failures) fail(label, f);
    results.tls = { ...results.tls, [who]: r };
  };
  const setup: Record<string, string> = {};
  try {
    if (o.topology !== 'flat' && o.servers.includes('ours')) {
      progress(`── lab topology (tagged): Lab prefix ${o.prefix}, userspace switch, client untagged on VLAN 123 ──`);
      labBuilt = true;
      await lab.up();
      await tuneClient(lab.ns.client);
      putFiles(lab.podWwwDir, big);
      setup.labStartupConf = readFileSync(join(lab.podConfDir, 'startup.conf'), 'utf8');
      const t: Target = { clientNs: lab.ns.client, ip: lab.serverIp, serverNamespaces: [lab.ns.pod, lab.ns.switch], allNamespaces: Object.values(lab.ns) };
      const r = await measureServer('lab/ours', t, o, join(lab.stateDir, 'scratch.bin'), sha256);
      r.dataplane = await dataplaneState(lab.podSocket);
      results.lab = { ours: r };
      cleanup();
    }
    if (o.topology !== 'lab') {
      progress(`── flat topology: Linux bridge, no VLAN, 192.168.123.150 on macvlan0 (prefix ${o.prefix}flat) ──`);
      flatBuilt = true;
      await flat.up(o.engine, { ipv6: o.only.has('ipv6') });
      if (o.only.has('idle')) await addIdleSources(flat.ns.client);
      putFiles(flat.podWwwDir, big);
      setup.flatVppConf = flat.vppConf();
      setup.flatStartupConf = flat.startupConf();
      progress(`flat: startup.conf:\n    ${setup.flatStartupConf.trim().split('\n').join('\n    ')}`);
      if (o.engine !== undefined) progress(`flat: vpp.conf with the experiment's stanza:\n    ${setup.flatVppConf.trim().split('\n').join('\n    ')}`);
      const t: Target = { clientNs: flat.ns.client, ip: flat.serverIp, serverNamespaces: [flat.ns.pod], allNamespaces: Object.values(flat.ns) };
      const scratch = join(flat.stateDir, 'scratch.bin');
      const flatResults: Partial<Record<ServerName, ServerResult>> = {};
      results.flat = flatResults;

      let tlsFiles: TlsFiles | undefined;
      if (o.tls) {
        const dir = join(flat.stateDir, 'tls');
        mkdirSync(dir, { recursive: true });
        tlsFiles = writeBenchCertificate(dir, flat.serverIp);
      }
      if (o.servers.includes('ours')) {
        progress('flat: starting our dataplane in the pod (uid 10000, CAP_NET_RAW only)');
        await flat.startOurs();
        // First, on a fresh process: the idle row measures its RSS growth.
        if (!o.onlyTls && o.only.has('idle')) {
          const memBefore = await cli(flat.podSocket, 'show memory');
          await runIdle('flat/ours idle', 'ours', t, () => (flat.ourPid === undefined ? undefined : rssBytes(flat.ourPid)), async () => {
            progress(`flat/ours idle: show memory before:\n    ${memBefore?.trim().split('\n').join('\n    ')}`);
            progress(`flat/ours idle: show memory with the connections open:\n    ${(await cli(flat.podSocket, 'show memory'))?.trim().split('\n').join('\n    ')}`);
          });
        }
        if (!o.onlyTls && measuresBeyondLoss(o)) {
          flatResults.ours = await measureServer('flat/ours', t, o, scratch, sha256);
          flatResults.ours.dataplane = await dataplaneState(flat.podSocket);
          if (o.only.has('ping') || o.only.has('single')) flatResults.ours.polling = await measurePolling('flat/ours', t, o, flat.podSocket);
        }
        if (!o.onlyTls && o.only.has('ipv6')) await runIpv6('flat/ours', 'ours', t);
        if (!o.onlyTls && o.only.has('loss')) {
          const ourStats = async () => parseTcpStats(await cli(flat.podSocket, 'show tcp stats'));
          await runLoss('flat/ours loss', 'ours', t, ourStats);
          // Like for like the other way: nginx runs the kernel's default (bbr on this VM); when ours
          // can run that controller too, ours runs the row again with it (ours ships CUBIC).
          const kernelCc = await kernelCongestionControl(flat.ns.pod);
          const asOurs = kernelCc === 'reno' ? 'newreno' : kernelCc;
          if (asOurs !== undefined && asOurs !== oursCongestionControl() && (CONGESTION_CONTROLS as readonly string[]).includes(asOurs)) {
            progress(`flat: our dataplane again with tcp-congestion-control ${asOurs} (the kernel's default, which nginx runs)`);
            flat.stopOurs();
            flat.setCongestionControl(asOurs);
            try {
              await flat.startOurs();
              await runLoss(`flat/ours loss (${asOurs})`, 'oursKernelCc', t, ourStats, asOurs);
            } finally {
              flat.stopOurs();
              flat.setCongestionControl(undefined);
              await flat.startOurs();
            }
          }
        }
        if (tlsFiles !== undefined) {
          const added = await cli(flat.podSocket, `http static listener add uri tls://0.0.0.0/443 cert ${tlsFiles.cert} key ${tlsFiles.key}`);
          if (added !== undefined && added.trim() !== '') fail('flat/ours', `http static listener add: ${added.trim()}`);
          else await runTls('flat/ours https', 'ours', t, tlsFiles.cert, flat.ourPid);
          const rt = await cli(flat.podSocket, 'show runtime');
          const line = rt?.split('\n').find((l) => l.startsWith('tls-handshake'));
          if (line !== undefined) progress(`flat/ours https: show runtime: ${line.trim()}`);
        }
        flat.stopOurs();
        if (!o.onlyTls && o.only.has('ping')) {
          progress('flat: the ping floor: bench/floor/echo-floor.c, a minimal C responder, answers on macvlan0 (our dataplane stopped)');
          try {
            results.floor = await measureFloor('flat/floor', t, flat.ns.pod, 'macvlan0', join(flat.stateDir, 'floor'));
          } catch (err) {
            note('flat/floor', `the ping floor was not measured: ${(err as Error).message}`);
          }
        }
        const two = twoWorkerOptions(o);
        if (two !== undefined && !o.onlyTls) {
          progress('flat: our dataplane again with cpu { workers 2 } and num-rx-queues 2');
          flat.setWorkers(2);
          try {
            await flat.startOurs();
            const r2 = await measureServer('flat/ours 2 workers', t, two, scratch, sha256);
            if (flatResults.ours !== undefined) flatResults.ours.workers2 = { keepAlive: r2.keepAlive, newConnection: r2.newConnection };
            const rt = await cli(flat.podSocket, 'show runtime');
            const per = rt?.split('\n').filter((l) => /^Thread |^session-queue|^  cpu /.test(l)).join('\n    ');
            if (per !== undefined) progress(`flat/ours 2 workers: show runtime (per thread):\n    ${per}`);
          } finally {
            flat.stopOurs();
            flat.setWorkers(0);
          }
        }
      }

      if (o.servers.includes('nginx') || o.servers.includes('node')) {
        progress('flat: our dataplane stopped; giving the kernel 192.168.123.150/24 on the same macvlan0');
        await flat.kernelAddress(true);
      }
      for (const [name, start] of [
        ['nginx', startNginx],
        ['node', startNode],
      ] as const) {
        if (!o.servers.includes(name)) continue;
        progress(`flat: starting ${name} in ${flat.ns.pod}`);
        const s = name === 'nginx' ? startNginx(flat.ns.pod, join(flat.stateDir, name), flat.podWwwDir, flat.serverIp, tlsFiles, 1, flat.hasIpv6) : start(flat.ns.pod, join(flat.stateDir, name), flat.podWwwDir, flat.serverIp);
        servers.push(s);
        await waitServing(name, t, s);
        if (name === 'nginx' && !o.onlyTls && o.only.has('idle')) {
          await runIdle('flat/nginx idle', 'nginx', t, () => {
            let sum = 0;
            for (const w of childPids(s.pid)) sum += rssBytes(w) ?? 0;
            return sum > 0 ? sum : undefined;
          });
        }
        if (!o.onlyTls && measuresBeyondLoss(o)) {
          const r = await measureServer(`flat/${name}`, t, o, scratch, sha256);
          r.polling = { ping: r.ping, single: r.singleConnection }; // the kernel has no rx-mode
          flatResults[name] = r;
        }
        if (name === 'nginx' && !o.onlyTls && o.only.has('ipv6')) await runIpv6('flat/nginx', 'nginx', t);
        if (name === 'nginx' && !o.onlyTls && o.only.has('loss')) await runLoss('flat/nginx loss', 'nginx', t, () => kernelTcpCounters(flat.ns.pod));
        if (name === 'nginx' && tlsFiles !== undefined) await runTls('flat/nginx https', 'nginx', t, tlsFiles.cert, s.pid);
        s.stop();
        servers.splice(servers.indexOf(s), 1);
        // Like for like: nginx cannot choose its congestion control, it runs the kernel's default
        // (bbr on some machines, cubic on most). When that is not ours, run nginx's loss row again
        // with the pod namespace's default set to ours (a listener's controller is fixed when it is
        // made, so nginx restarts), so recovery is also compared with the same controller.
        const kernelCc = name === 'nginx' && !o.onlyTls && o.only.has('loss') ? await kernelCongestionControl(flat.ns.pod) : undefined;
        const sameCc = kernelCcName(oursCongestionControl());
        if (kernelCc !== undefined && kernelCc !== sameCc) {
          progress(`flat: nginx again with the kernel's ${sameCc} (net.ipv4.tcp_congestion_control in ${flat.ns.pod}; it ran ${kernelCc})`);
          let restore: (() => Promise<void>) | undefined;
          try {
            restore = await setKernelCongestionControl(flat.ns.pod, sameCc);
          } catch (err) {
            note('flat/nginx loss', `the same-congestion-control row was not measured: ${(err as Error).message}`);
          }
          if (restore !== undefined) {
            try {
              const s3 = startNginx(flat.ns.pod, join(flat.stateDir, 'nginx-cc'), flat.podWwwDir, flat.serverIp, undefined, 1);
              servers.push(s3);
              try {
                await waitServing('nginx (same congestion control)', t, s3);
                await runLoss(`flat/nginx loss (${oursCongestionControl()})`, 'nginxSameCc', t, () => kernelTcpCounters(flat.ns.pod));
              } finally {
                s3.stop();
                servers.splice(servers.indexOf(s3), 1);
              }
            } finally {
              await restore();
            }
          }
        }
        const two = twoWorkerOptions(o);
        if (name === 'nginx' && two !== undefined && !o.onlyTls) {
          progress('flat: nginx again with worker_processes 2');
          const s2 = startNginx(flat.ns.pod, join(flat.stateDir, 'nginx2'), flat.podWwwDir, flat.serverIp, undefined, 2);
          servers.push(s2);
          try {
            await waitServing('nginx (2 workers)', t, s2);
            const r2 = await measureServer('flat/nginx 2 workers', t, two, scratch, sha256);
            if (flatResults.nginx !== undefined) flatResults.nginx.workers2 = { keepAlive: r2.keepAlive, newConnection: r2.newConnection };
          } finally {
            s2.stop();
            servers.splice(servers.indexOf(s2), 1);
          }
        }
      }
    }
  } finally {
    cleanup();
  }

  // ── report ──
  const out: string[] = [];
  const f = results.flat;
  if (f !== undefined && !o.onlyTls && measuresBeyondLoss(o)) {
    out.push('', `FLAT path (no VLAN; client ── Linux bridge ── worker eth0 ── macvlan0 in the pod; wrk -t${o.threads} -c${o.connections} -d${o.duration}s; ${o.downloadReps} × 10 MiB after ${o.downloadWarmup} not counted)`);
    out.push(
      table(
        ['', 'ours', 'nginx', 'node', 'ours/nginx', 'ours/node'],
        ROWS.map((row) => {
          const v = (s: ServerName) => (f[s] ? row.get(f[s]!) : undefined);
          return [row.name, fmt(v('ours'), row.digits), fmt(v('nginx'), row.digits), fmt(v('node'), row.digits), row.ratio === false ? '' : ratio(v('ours'), v('nginx')), row.ratio === false ? '' : ratio(v('ours'), v('node'))];
        }),
      ),
    );
    out.push(
      'Worker rows: ours with cpu { workers 2 } + num-rx-queues 2 against nginx with worker_processes 2. On a 2-core machine wrk',
      'and both server threads share the same two cores, so the 2-worker throughput is for information only: worker scaling is',
      'judged by server CPU per request (server CPU time / requests), 2 workers against 1 (goal: at most 1.15×).',
    );
  }
  if (results.floor !== undefined && f !== undefined) {
    const fl = results.floor;
    const kernel = f.nginx ?? f.node;
    out.push('', 'PING FLOOR on the FLAT path: bench/floor/echo-floor.c, a minimal C responder on an AF_PACKET ring on the same macvlan0 (ping -c 50 -i 0.01)');
    const rows: Array<[string, number | undefined, number | undefined]> = [
      ['ping RTT avg µs, interrupt (blocks in epoll)', fl.interrupt?.avgUs, f.ours?.ping?.avgUs],
      ['ping RTT min µs, interrupt', fl.interrupt?.minUs, f.ours?.ping?.minUs],
      ['ping RTT avg µs, polling (floor: spins on the ring, no syscall)', fl.polling?.avgUs, f.ours?.polling?.ping?.avgUs],
      ['ping RTT avg µs, polling with epoll_wait(0) every turn (as libuv)', fl['polling-syscall']?.avgUs, f.ours?.polling?.ping?.avgUs],
      ['ping RTT median µs, interrupt', fl.interrupt?.medianUs, f.ours?.ping?.medianUs],
      ['ping RTT median µs, polling (floor: spins, no syscall)', fl.polling?.medianUs, f.ours?.polling?.ping?.medianUs],
    ];
    const k = (name: string) => (name.includes('min') ? kernel?.ping?.minUs : name.includes('median') ? kernel?.ping?.medianUs : kernel?.ping?.avgUs);
    out.push(table(['', 'C floor', 'ours', 'kernel', 'ours/floor', 'floor/kernel'], rows.map(([name, x, y]) => [name, fmt(x), fmt(y), fmt(k(name)), ratio(y, x), ratio(x, k(name))])));
    out.push(
      'The floor is what any userspace responder pays here before its own code runs: the wakeup of a thread blocked in epoll (or the',
      "spinner seeing the ring), the reply's send and the wakeup of ping. The kernel answers inside ping's own send and pays none of it.",
    );
  }
  if (results.ipv6 !== undefined) {
    out.push('', `IPv6 on the FLAT path: the same server over IPv4 and IPv6 back to back (ours: one dual-stack dataplane; nginx: listen 192.168.123.150:80 and [::]:80); wrk -t${o.threads} -c${o.connections} -d${o.duration}s; ${IPV6_ROW_DOWNLOAD_WARMUP} uncounted, then ${o.reps} counted × 10 MiB per family`);
    const t6 = ipv6Table(results.ipv6.ours, results.ipv6.nginx, BIG_BYTES, fmt);
    out.push(table(t6.headers, t6.rows));
    out.push('v6÷v4 is the ours/nginx ratio over IPv6 divided by the one over IPv4: the goal is an IPv6 ratio within 10% of IPv4\'s.');
  }
  if (results.idle !== undefined) {
    out.push('', `IDLE keep-alive connections on the FLAT path: ${IDLE_CONNECTIONS} connections (one GET each) held open by a client in the client namespace`);
    out.push(table(['', 'ours', 'nginx', 'ours/nginx', ''], idleMemoryRows(results.idle.ours, results.idle.nginx, fmt)));
    out.push('ours: our process\'s RSS growth (no kernel sockets); nginx: its worker\'s RSS growth + half the growth of Slab in /proc/meminfo (client and server sockets both live on this machine).');
  }
  if (results.tls !== undefined) {
    const a = results.tls.ours;
    const b = results.tls.nginx;
    const TLS_ROWS: Array<[string, (r: TlsBenchResult) => number | undefined, string, number?]> = [
      ['HTTPS keep-alive GET req/s (wrk)', (r) => r.keepAliveRps, 'goal ≥ 1.0×'],
      ['new TLS connections/s (s_time -new)', (r) => r.newHandshakesPerSec, 'goal ≥ 0.7×'],
      ['resumed TLS connections/s (s_time -reuse)', (r) => r.resumedHandshakesPerSec, ''],
      ['10 MB over TLS MB/s (best of 5 after 10 warm-up)', (r) => r.downloadMBps, 'goal ≥ 0.8×'],
      ['10 MB over TLS MB/s (median of 5)', (r) => r.downloadMedianMBps, ''],
      ['h2load req/s (-c 10 -m 10)', (r) => r.h2loadRps, ''],
      ['server CPU µs per keep-alive request', (r) => r.keepAliveCpuUs, 'lower is better', 1],
      ['server CPU µs per new TLS connection', (r) => r.newHandshakeCpuUs, '', 1],
      ['server CPU ms per 10 MB over TLS', (r) => r.downloadCpuMs, '', 1],
      ['server CPU µs per h2load request', (r) => r.h2loadCpuUs, '', 1],
    ];
    out.push('', 'HTTPS on the FLAT path (same certificate; nginx 1 worker, listen 443 ssl http2)');
    out.push(
      table(
        ['', 'ours', 'nginx', 'ours/nginx', ''],
        TLS_ROWS.map(([name, get, goal, digits]) => {
          const x = a ? get(a) : undefined;
          const y = b ? get(b) : undefined;
          return [name, fmt(x, digits), fmt(y, digits), ratio(x, y), goal];
        }),
      ),
    );
  }
  if (results.loss !== undefined) {
    const a = results.loss.ours;
    const b = results.loss.nginx;
    const k = results.loss.nginxSameCc;
    const kb = results.loss.oursKernelCc;
    out.push('', `LOSS on the FLAT path: the bridge drops ${o.lossPct}% of the TCP frames each way at random (nftables numgen); 10 MiB with curl, ${o.reps} times`);
    const rows: Array<[string, (r: LossDownloadResult) => number | undefined, number, string]> = [
      ['10 MB download s, median (lower=better)', (r) => r.medianSeconds, 3, 'goal ≤ 1.2×'],
      ['frames dropped from the server', (r) => r.dropped?.fromServer, 0, ''],
      ['frames dropped towards the server', (r) => r.dropped?.toServer, 0, ''],
    ];
    out.push(
      table(
        ['', 'ours', 'nginx', 'ours/nginx', ''],
        rows.map(([name, get, digits, goal]) => {
          const x = a ? get(a) : undefined;
          const y = b ? get(b) : undefined;
          return [name, fmt(x, digits), fmt(y, digits), goal === '' ? '' : ratio(x, y), goal];
        }),
      ),
    );
    if (k !== undefined) {
      out.push(
        table(
          ['', `ours (${a?.congestionControl ?? '?'})`, `nginx (kernel ${k.congestionControl ?? '?'})`, 'ours/nginx', ''],
          [['10 MB download s, median, same congestion control', fmt(a?.medianSeconds, 3), fmt(k.medianSeconds, 3), ratio(a?.medianSeconds, k.medianSeconds), 'goal ≤ 1.2×']],
        ),
      );
    }
    if (kb !== undefined) {
      out.push(
        table(
          ['', `ours (${kb.congestionControl ?? '?'})`, `nginx (kernel ${b?.congestionControl ?? '?'})`, 'ours/nginx', ''],
          [
            [`10 MB download s, median, ours ${kb.congestionControl ?? '?'} vs nginx as it runs`, fmt(kb.medianSeconds, 3), fmt(b?.medianSeconds, 3), ratio(kb.medianSeconds, b?.medianSeconds), 'goal ≤ 1.2×'],
            ['frames dropped from the server', fmt(kb.dropped?.fromServer, 0), fmt(b?.dropped?.fromServer, 0), '', ''],
          ],
        ),
      );
    }
    if (a !== undefined) out.push(`ours (${a.congestionControl ?? '?'}):  ${a.seconds.map((x) => x.toFixed(3)).join(' ')} s; TCP ${formatCounters(a.server)}`);
    if (kb !== undefined) out.push(`ours (${kb.congestionControl ?? '?'}):  ${kb.seconds.map((x) => x.toFixed(3)).join(' ')} s; TCP ${formatCounters(kb.server)}`);
    if (k !== undefined) out.push(`nginx (kernel ${k.congestionControl ?? '?'}): ${k.seconds.map((x) => x.toFixed(3)).join(' ')} s; kernel TCP ${formatCounters(k.server, KERNEL_LOSS_KEYS)}`);
    if (b !== undefined) out.push(`nginx (kernel ${b.congestionControl ?? '?'}): ${b.seconds.map((x) => x.toFixed(3)).join(' ')} s; kernel TCP ${formatCounters(b.server, KERNEL_LOSS_KEYS)}`);
  }
  if (results.lab !== undefined) {
    out.push('', 'LAB path (tagged: client untagged ── userspace switch (our L2 xconnect, VLAN 123) ── macvlan0, ours on host-macvlan0.123)');
    out.push(
      table(
        ['', 'ours (lab)', 'ours (flat)', 'lab/flat'],
        ROWS.map((row) => {
          const a = row.get(results.lab!.ours);
          const b = f?.ours ? row.get(f.ours) : undefined;
          return [row.name, fmt(a, row.digits), fmt(b, row.digits), row.ratio === false ? '' : ratio(a, b)];
        }),
      ),
    );
    out.push('(server CPU on the lab path includes the switch dataplane)');
  }
  const seconds = Math.round((Date.now() - started) / 1000);
  const loadEnd = os.loadavg();
  out.push('', `load average at start ${loadStart.map((x) => x.toFixed(2)).join(' ')}, at end ${loadEnd.map((x) => x.toFixed(2)).join(' ')}; ${seconds} s in all`);
  out.push(failures.length === 0 ? 'no failures' : `FAILURES (${failures.length}):\n  - ${failures.join('\n  - ')}`);
  if (notes.length > 0) out.push(`notes:\n  - ${notes.join('\n  - ')}`);
  console.log(out.join('\n'));

  const resultsDir = join(REPO_ROOT, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const version = async (argv: string[]) => {
    const r = await runAsync(argv, { timeoutMs: 5000 });
    return (r.stdout + r.stderr).trim().split('\n')[0];
  };
  const json = {
    date: new Date().toISOString(),
    commit: (await runAsync(['git', '-C', REPO_ROOT, 'rev-parse', 'HEAD'], { timeoutMs: 5000 })).stdout.trim(),
    seconds,
    host: { kernel: os.release(), cpus: os.cpus().length, loadStart, loadEnd, busyStartPct: busyStart },
    versions: { node: process.version, nginx: await version(['nginx', '-v']), wrk: await version(['wrk', '-v']), curl: await version(['curl', '--version']) },
    options: { ...o, fileBytes: BIG_BYTES, fileSha256: sha256, newConnectionTool: "wrk -H 'Connection: close' (checked against the client kernel's TcpActiveOpens)" },
    setup,
    ratios: f
      ? Object.fromEntries(ROWS.filter((row) => row.ratio !== false).map((row) => {
          const v = (s: ServerName) => (f[s] ? row.get(f[s]!) : undefined);
          const r = (a?: number, b?: number) => (a !== undefined && b ? Math.round((a / b) * 1000) / 1000 : null);
          return [row.name, { oursOverNginx: r(v('ours'), v('nginx')), oursOverNode: r(v('ours'), v('node')) }];
        }))
      : undefined,
    lossRatio:
      results.loss?.ours?.medianSeconds !== undefined && results.loss.nginx?.medianSeconds
        ? Math.round((results.loss.ours.medianSeconds / results.loss.nginx.medianSeconds) * 1000) / 1000
        : undefined,
    tlsRatios:
      results.tls?.ours && results.tls.nginx
        ? (() => {
            const a = results.tls!.ours!;
            const b = results.tls!.nginx!;
            const r = (x?: number, y?: number) => (x !== undefined && y ? Math.round((x / y) * 1000) / 1000 : null);
            return {
              keepAlive: r(a.keepAliveRps, b.keepAliveRps),
              newHandshakes: r(a.newHandshakesPerSec, b.newHandshakesPerSec),
              resumedHandshakes: r(a.resumedHandshakesPerSec, b.resumedHandshakesPerSec),
              download10MB: r(a.downloadMBps, b.downloadMBps),
              h2load: r(a.h2loadRps, b.h2loadRps),
            };
          })()
        : undefined,
    results,
    failures,
    notes,
  };
  writeFileSync(join(resultsDir, 'latest.json'), `${JSON.stringify(json, null, 2)}\n`);
  progress(`wrote ${join(resultsDir, 'latest.json')}`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`bench: ${err.message}`);
    process.exit(1);
  },
);
