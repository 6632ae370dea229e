import { readFileSync, writeFileSync } from 'node:fs';
/**
 * The loss row of the bench (issue 9): a 10 MiB download while the path drops a share of the TCP
 * frames in each direction at random, ours against nginx over exactly the same path.
 *
 * This kernel has no netem, so the loss is an nftables table on the flat topology's Linux bridge
 * (the switch namespace): `numgen random mod 100 < pct drop` in the bridge's forward hook, once for
 * frames towards the server (the client's requests and ACKs) and once for frames from it (data).
 * Neither end sees the drops happen (no local qdisc or netfilter verdict either TCP could notice);
 * the nftables counters say how many frames were dropped.
 *
 * Besides the time, it records what each side's TCP did: our `show tcp stats`, the kernel's
 * /proc/net/snmp and /proc/net/netstat in the server's namespace (nginx) and in the client's (the
 * receiver, for both), as differences over the repetitions.
 */
import { mustRun, runAsync } from './proc.js';
import type { Target } from './measure.js';

export interface LossDownloadResult {
  ok: boolean;
  /** seconds per successful repetition (curl's time_total), in run order */
  seconds: number[];
  medianSeconds?: number;
  failures: string[];
  /** frames the bridge dropped towards / from the server over the repetitions */
  dropped?: { toServer: number; fromServer: number };
  /** the kernel's TCP counters in the client namespace (the receiver), differences */
  client?: Record<string, number>;
  /** the server's TCP counters, differences: the kernel's for nginx, `show tcp stats` for ours */
  server?: Record<string, number>;
  /** the congestion control the server ran (the kernel's net.ipv4.tcp_congestion_control for nginx) */
  congestionControl?: string;
}

/** The kernel's default congestion control in `ns` (what nginx runs: it does not set TCP_CONGESTION). */
export async function kernelCongestionControl(ns: string): Promise<string | undefined> {
  const r = await runAsync(['ip', 'netns', 'exec', ns, 'cat', '/proc/sys/net/ipv4/tcp_congestion_control'], { timeoutMs: 5000 });
  return r.code === 0 ? r.stdout.trim() : undefined;
}

/** The kernel's name for a congestion control of ours (NewReno is `reno` there). */
export function kernelCcName(ours: string): string {
  return ours === 'newreno' ? 'reno' : ours;
}

const ALLOWED_CC = '/proc/sys/net/ipv4/tcp_allowed_congestion_control';
/** The machine-wide allowed list as it was before setKernelCongestionControl changed it (undefined: unchanged). */
let allowedBefore: string | undefined;

/**
 * Puts the machine-wide tcp_allowed_congestion_control back if setKernelCongestionControl widened
 * it. Synchronous, so that the bench's signal handler (which exits at once) can call it.
 */
export function restoreAllowedCongestionControl(): void {
  if (allowedBefore === undefined) return;
  writeFileSync(ALLOWED_CC, allowedBefore);
  allowedBefore = undefined;
}

/**
 * Sets the default congestion control of `ns` to `cc` (the kernel's name; for servers started
 * after it) and returns a function that puts it back. A namespace other than the first may only
 * choose a controller in the machine-wide net.ipv4.tcp_allowed_congestion_control (EPERM
 * otherwise), so `cc` is added to that list for the while; restoreAllowedCongestionControl (also
 * run by the bench's cleanup, on signals too) restores the list.
 */
export async function setKernelCongestionControl(ns: string, cc: string): Promise<() => Promise<void>> {
  const allowed = readFileSync(ALLOWED_CC, 'utf8').trim();
  const before = await kernelCongestionControl(ns);
  const set = async (v: string) => {
    const r = await runAsync(['ip', 'netns', 'exec', ns, 'sysctl', '-qw', `net.ipv4.tcp_congestion_control=${v}`], { timeoutMs: 5000 });
    if (r.code !== 0) throw new Error(`${ns}: cannot set net.ipv4.tcp_congestion_control=${v}: ${r.stderr.trim()}`);
  };
  try {
    if (!allowed.split(/\s+/).includes(cc)) {
      allowedBefore = allowed;
      writeFileSync(ALLOWED_CC, `${allowed} ${cc}`);
    }
    await set(cc);
  } catch (err) {
    restoreAllowedCongestionControl();
    throw err;
  }
  return async () => {
    try {
      if (before !== undefined) await set(before);
    } finally {
      restoreAllowedCongestionControl();
    }
  };
}

const TABLE = 'benchloss';

/** Installs the random drop on the bridge in `switchNs`; returns a function that removes it. */
export async function addPathLoss(switchNs: string, serverIp: string, pct: number): Promise<() => Promise<void>> {
  if (!(pct > 0 && pct < 100)) throw new Error(`loss ${pct}%: expected a share between 0 and 100`);
  // Remove a table a killed run left behind (nft has no "add or replace" for a whole table).
  await runAsync(['ip', 'netns', 'exec', switchNs, 'nft', 'delete', 'table', 'bridge', TABLE], { timeoutMs: 5000 });
  // Named counters are declared before the rules that use them.
  const script = `table bridge ${TABLE} {
  counter to_server { }
  counter from_server { }
  chain forward {
    type filter hook forward priority 0; policy accept;
    ip daddr ${serverIp} ip protocol tcp numgen random mod 100 < ${pct} counter name to_server drop
    ip saddr ${serverIp} ip protocol tcp numgen random mod 100 < ${pct} counter name from_server drop
  }
}
`;
  const r = await runAsync(['ip', 'netns', 'exec', switchNs, 'nft', '-f', '-'], { input: script, timeoutMs: 5000 });
  if (r.code !== 0) throw new Error(`nft (path loss) failed: ${r.stderr.trim()}`);
  return async () => {
    await runAsync(['ip', 'netns', 'exec', switchNs, 'nft', 'delete', 'table', 'bridge', TABLE], { timeoutMs: 5000 });
  };
}

/**
 * Loss must hit wire-sized packets, as on a real path: with TSO/GSO a 64 KiB super-packet would
 * cross the bridge (and be dropped) as one frame. macvlan0 cannot turn its offloads off (it takes
 * them from its lower device), so segmentation offload goes off on the worker's eth0 under it:
 * the kernel then cuts every super-segment (nginx's, and ours sent with vnet-hdr GSO) into
 * MTU-sized frames before they reach the bridge. Returns a function that turns it back on.
 */
export async function segmentBeforeThePath(workerNs: string, dev = 'eth0'): Promise<() => Promise<void>> {
  const set = (on: boolean) => mustRun(['ip', 'netns', 'exec', workerNs, 'ethtool', '-K', dev, 'tso', on ? 'on' : 'off', 'gso', on ? 'on' : 'off'], 5000);
  await set(false);
  return async () => {
    await set(true).catch(() => undefined);
  };
}

/** Packets the loss rules dropped so far. */
export async function droppedSoFar(switchNs: string): Promise<{ toServer: number; fromServer: number }> {
  const out = await mustRun(['ip', 'netns', 'exec', switchNs, 'nft', 'list', 'counters', 'table', 'bridge', TABLE], 5000);
  const get = (name: string) => Number(new RegExp(`counter ${name} \\{\\s*packets (\\d+)`).exec(out)?.[1] ?? NaN);
  return { toServer: get('to_server'), fromServer: get('from_server') };
}

/** The kernel's TCP and TcpExt counters as seen from inside `ns`. */
export async function kernelTcpCounters(ns: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const file of ['/proc/net/snmp', '/proc/net/netstat']) {
    const r = await runAsync(['ip', 'netns', 'exec', ns, 'cat', file], { timeoutMs: 5000 });
    const lines = r.stdout.split('\n');
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const keys = lines[i].split(/\s+/);
      const vals = lines[i + 1].split(/\s+/);
      if (keys[0] !== 'Tcp:' && keys[0] !== 'TcpExt:') continue;
      for (let j = 1; j < keys.length; j++) out[keys[j]] = Number(vals[j]);
    }
  }
  return out;
}

/** `show tcp stats` parsed into counter name → value (names as printed, spaces for camelCase). */
export function parseTcpStats(text: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (text ?? '').split('\n')) {
    const m = /^\s*(\d+)\s+(.+?)\s*$/.exec(line);
    if (m) out[m[2]] = Number(m[1]);
  }
  return out;
}

/** after − before for every key of `after` that changed (gauges included: they are few). */
export function counterDiff(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const d: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) {
    const x = v - (before[k] ?? 0);
    if (x !== 0 && Number.isFinite(x)) d[k] = x;
  }
  return d;
}

/** Kernel counters worth printing for a loss run (the rest stay in latest.json). */
export const KERNEL_LOSS_KEYS = [
  'OutSegs', 'RetransSegs', 'TCPTimeouts', 'TCPLossProbes', 'TCPLossProbeRecovery', 'TCPSackRecovery', 'TCPFastRetrans',
  'TCPSlowStartRetrans', 'TCPLostRetransmit', 'TCPSpuriousRTOs', 'TCPDSACKRecv', 'TCPDSACKUndo', 'TCPSACKReorder',
  'TCPDSACKOldSent', 'TCPDSACKOfoSent', 'DelayedACKs', 'TCPOFOQueue', 'TCPPureAcks', 'TCPHPAcks',
];

export async function lossDownloads(
  t: Target,
  switchNs: string,
  path: string,
  expectBytes: number,
  reps: number,
  serverCounters: () => Promise<Record<string, number>>,
  warmup = 0,
): Promise<LossDownloadResult> {
  const seconds: number[] = [];
  const failures: string[] = [];
  // Warm-up downloads (same path, same loss), not counted: a server in steady state, not its
  // first requests (a freshly started Node process compiles and optimises as it goes).
  for (let i = 0; i < warmup; i++) {
    await runAsync(['ip', 'netns', 'exec', t.clientNs, 'curl', '-s', '-o', '/dev/null', '--max-time', '60', `http://${t.ip}${path}`], { timeoutMs: 70_000 });
  }
  const droppedBefore = await droppedSoFar(switchNs);
  const clientBefore = await kernelTcpCounters(t.clientNs);
  const serverBefore = await serverCounters();
  for (let i = 0; i < reps; i++) {
    const r = await runAsync(
      ['ip', 'netns', 'exec', t.clientNs, 'curl', '-s', '-o', '/dev/null', '--max-time', '60', '-w', '%{http_code} %{size_download} %{time_total}', `http://${t.ip}${path}`],
      { timeoutMs: 70_000 },
    );
    const [code, size, total] = r.stdout.trim().split(' ');
    if (r.code === 0 && code === '200' && Number(size) === expectBytes) seconds.push(Number(total));
    else failures.push(`repetition ${i + 1}: curl exit ${r.code}${r.code === 28 ? ' (stalled: --max-time 60 s reached)' : ''}, HTTP ${code ?? '?'}, ${size ?? '?'} of ${expectBytes} bytes`);
    if (failures.length >= 2) break;
  }
  const droppedAfter = await droppedSoFar(switchNs);
  const sorted = [...seconds].sort((a, b) => a - b);
  const m = sorted.length >> 1;
  return {
    ok: failures.length === 0,
    seconds,
    medianSeconds: sorted.length === 0 ? undefined : sorted.length % 2 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2,
    failures,
    dropped: { toServer: droppedAfter.toServer - droppedBefore.toServer, fromServer: droppedAfter.fromServer - droppedBefore.fromServer },
    client: counterDiff(clientBefore, await kernelTcpCounters(t.clientNs)),
    server: counterDiff(serverBefore, await serverCounters()),
  };
}
