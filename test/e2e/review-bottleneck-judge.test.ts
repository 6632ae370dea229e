/**
 * BBR judged by the kernel, under a real bottleneck (issue 9): a path with a propagation delay and
 * a rate limit with a bounded queue between a client namespace and the server, and the same
 * download from (a) the Linux kernel with bbr, (b) our dataplane with `tcp-congestion-control
 * bbr`, (c) our dataplane with CUBIC (printed, for reference).
 *
 * The path is bench/flat-lab.ts's, with its bridge replaced by a delay line
 * (fixtures/delay_line.c: this kernel has no netem) and a tbf on the client's side of it:
 *
 *   client eth0 ── c0 [tbf 50 mbit, queue ~1.5 BDP] ◄── delay line (10 ms each way) ──► w0 ── worker eth0 ── macvlan0 (pod)
 *
 * Measured for each: goodput (curl), the bottleneck's drops (`tc -s qdisc`), the server's
 * retransmissions, and the queueing delay (ping through the bottleneck during the transfer, minus
 * the idle path's RTT). Asserted, generously: ours with bbr drops at most twice the kernel's plus a
 * little, queues at most twice as long plus a few ms, and has at least 0.7× its goodput. (The BBR
 * withdrawn last session, without pacer or packet conservation, filled the queue: 19-82% of its
 * frames were dropped there.)
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FlatLab } from '../../bench/flat-lab.js';
import { kernelTcpCounters, parseTcpStats } from '../../bench/loss.js';
import { mustRun, runAsync, sleep } from '../../bench/proc.js';
import { POD_UID } from '../../src/lab/lab.js';
import { cli, isRoot, REPO_ROOT } from './lab-helpers.js';

const skip = isRoot() ? false : 'needs root (network namespaces)';
const RATE_MBIT = 50;
const DELAY_MS = 10; // each way: 20 ms RTT
const BDP = (RATE_MBIT * 1e6 * (2 * DELAY_MS) / 1000) / 8; // 125 kB
const QUEUE = Math.round(1.5 * BDP);
const FILE_MB = 24;
const DELAY_SRC = join(REPO_ROOT, 'test', 'e2e', 'fixtures', 'delay_line.c');
const KERNEL_SERVER = join(REPO_ROOT, 'bench', 'kernel-cc-server.py');

interface PathResult {
  label: string;
  seconds: number;
  goodputMbit: number;
  drops: number;
  sent: number;
  retrans: number;
  /** Median and 90th percentile ping RTT during the transfer minus the idle RTT (ms). */
  queueMedian: number;
  queueP90: number;
  pings: number;
}

const quantile = (xs: number[], q: number) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

describe(`BBR under a bottleneck (tbf ${RATE_MBIT} mbit, ${2 * DELAY_MS} ms RTT, queue ${Math.round(QUEUE / 1000)} kB ≈ 1.5 BDP)`, { skip, timeout: 120_000 }, () => {
  const lab = new FlatLab('rbneck');
  const scratch = join(lab.stateDir, 'neck');
  let delay: ChildProcess | null = null;
  let kernel: ChildProcess | null = null;
  let idleRtt = NaN;
  const results: PathResult[] = [];

  const qdiscStats = async () => {
    const out = await mustRun(['ip', 'netns', 'exec', lab.ns.switch, 'tc', '-s', 'qdisc', 'show', 'dev', 'c0'], 5000);
    const m = /Sent (\d+) bytes (\d+) pkt \(dropped (\d+)/.exec(out);
    assert.ok(m !== null, out);
    return { pkts: Number(m[2]), drops: Number(m[3]) };
  };

  const pingRtts = async (count: number, intervalS: number): Promise<number[]> => {
    const r = await runAsync(['ip', 'netns', 'exec', lab.ns.client, 'ping', '-n', '-c', String(count), '-i', String(intervalS), '-W', '1', lab.serverIp], { timeoutMs: 20_000 });
    return [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  };

  /** Our dataplane with `tcp-congestion-control <cc>` (vpp.conf's last stanza wins). */
  const setCc = (cc: string) => {
    const conf = join(lab.podConfDir, 'vpp.conf');
    const marker = '# bottleneck test\n';
    const base = readFileSync(conf, 'utf8').split(marker)[0];
    writeFileSync(conf, `${base}${marker}vpp-server { tcp-congestion-control ${cc} }\n`);
    chownSync(conf, POD_UID, POD_UID);
  };

  async function download(label: string, retrans: () => Promise<number>, during?: () => Promise<void>): Promise<PathResult> {
    const q0 = await qdiscStats();
    const r0 = await retrans();
    // Ping through the bottleneck while the download runs (the replies queue behind the data).
    const pinger = spawn('ip', ['netns', 'exec', lab.ns.client, 'ping', '-n', '-i', '0.02', '-W', '2', lab.serverIp], { stdio: ['ignore', 'pipe', 'ignore'] });
    let pingOut = '';
    pinger.stdout!.on('data', (b: Buffer) => (pingOut += b.toString()));
    await sleep(100);
    const skipped = [...pingOut.matchAll(/time=/g)].length;
    const mid = during === undefined ? Promise.resolve() : sleep(2500).then(during);
    const r = await runAsync(
      ['ip', 'netns', 'exec', lab.ns.client, 'curl', '-s', '-o', '/dev/null', '--max-time', '40', '-w', '%{http_code} %{size_download} %{time_total}', `http://${lab.serverIp}/big.bin`],
      { timeoutMs: 45_000 },
    );
    await mid;
    pinger.kill('SIGINT');
    await new Promise((res) => pinger.once('exit', res));
    const [code, size, total] = r.stdout.trim().split(' ');
    assert.equal(code, '200', `${label}: curl ${r.code} ${r.stdout} ${r.stderr}`);
    assert.equal(Number(size), FILE_MB * 1024 * 1024, `${label}: the whole file`);
    const q1 = await qdiscStats();
    const rtts = [...pingOut.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])).slice(skipped);
    const queue = rtts.map((x) => Math.max(0, x - idleRtt));
    const seconds = Number(total);
    const res: PathResult = {
      label,
      seconds,
      goodputMbit: (FILE_MB * 1024 * 1024 * 8) / seconds / 1e6,
      drops: q1.drops - q0.drops,
      sent: q1.pkts - q0.pkts,
      retrans: (await retrans()) - r0,
      queueMedian: quantile(queue, 0.5),
      queueP90: quantile(queue, 0.9),
      pings: rtts.length,
    };
    console.log(
      `${label.padEnd(12)} ${res.seconds.toFixed(2)} s, goodput ${res.goodputMbit.toFixed(1)} Mbit/s, bottleneck drops ${res.drops} of ${res.sent + res.drops} frames ` +
        `(${((100 * res.drops) / Math.max(1, res.sent + res.drops)).toFixed(2)}%), server retransmissions ${res.retrans}, ` +
        `queueing delay median ${res.queueMedian.toFixed(1)} ms p90 ${res.queueP90.toFixed(1)} ms (${res.pings} pings, idle RTT ${idleRtt.toFixed(1)} ms)`,
    );
    results.push(res);
    return res;
  }

  const ourRetrans = async () => parseTcpStats(await cli(lab.podSocket, 'show tcp stats')).retransmits ?? 0;
  const kernelRetrans = async () => (await kernelTcpCounters(lab.ns.pod)).RetransSegs ?? 0;

  before(async () => {
    await lab.up();
    mkdirSync(scratch, { recursive: true });
    const bin = join(scratch, 'delay_line');
    await mustRun(['cc', '-O2', '-o', bin, DELAY_SRC]);
    writeFileSync(join(lab.podWwwDir, 'big.bin'), randomBytes(FILE_MB * 1024 * 1024));
    chownSync(join(lab.podWwwDir, 'big.bin'), POD_UID, POD_UID);
    const sw = lab.ns.switch;
    // The bridge goes; the delay line joins c0 and w0 instead.
    await mustRun(['ip', '-n', sw, 'link', 'set', 'c0', 'nomaster']);
    await mustRun(['ip', '-n', sw, 'link', 'set', 'w0', 'nomaster']);
    // Frames reach w0 as the wire would carry them: checksummed, one MTU each (the delay line
    // copies bytes; a partial checksum or a super-segment would not survive it).
    await mustRun(['ip', 'netns', 'exec', lab.ns.worker, 'ethtool', '-K', 'eth0', 'tx', 'off', 'tso', 'off', 'gso', 'off']);
    await mustRun(['ip', 'netns', 'exec', sw, 'ethtool', '-K', 'c0', 'tx', 'off', 'tso', 'off', 'gso', 'off']);
    await mustRun(['ip', 'netns', 'exec', sw, 'tc', 'qdisc', 'add', 'dev', 'c0', 'root', 'tbf', 'rate', `${RATE_MBIT}mbit`, 'burst', '15kb', 'limit', String(QUEUE)]);
    delay = spawn('ip', ['netns', 'exec', sw, bin, 'w0', 'c0', String(DELAY_MS), String(DELAY_MS)], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((res, rej) => {
      delay!.stdout!.once('data', () => res());
      delay!.once('exit', (c) => rej(new Error(`delay line exited ${c}`)));
    });
    await lab.kernelAddress(true);
    const rtts = await pingRtts(10, 0.05);
    assert.ok(rtts.length >= 8, `the path answers ping: ${rtts.join(' ')}`);
    idleRtt = Math.min(...rtts);
    console.log(`path: tbf ${RATE_MBIT} mbit burst 15kb limit ${QUEUE} bytes; delay ${DELAY_MS} ms each way; idle RTT ${idleRtt.toFixed(2)} ms (kernel)`);
    assert.ok(idleRtt >= 2 * DELAY_MS && idleRtt < 2 * DELAY_MS + 5, `idle RTT ${idleRtt}`);
  });

  after(async () => {
    for (const p of [kernel, delay]) {
      if (p !== null && p.exitCode === null) {
        const exited = new Promise((r) => p.once('exit', r));
        p.kill('SIGTERM');
        await exited;
      }
    }
    lab.down();
    if (results.length > 0) {
      console.log('summary (bottleneck):');
      for (const r of results) console.log(`  ${r.label.padEnd(12)} ${r.goodputMbit.toFixed(1)} Mbit/s, drops ${r.drops}, retrans ${r.retrans}, queue median ${r.queueMedian.toFixed(1)} ms p90 ${r.queueP90.toFixed(1)} ms`);
    }
  });

  it('REVIEW control: the judge must reject ours-cubic (passed 1 of 1 here, on drops only; by docs/bench.md figures it would fail 4 of 6 runs)', async () => {
    // (a) The kernel with bbr (TCP_CONGESTION on the listener), at the server's address on macvlan0.
    kernel = spawn('ip', ['netns', 'exec', lab.ns.pod, 'python3', KERNEL_SERVER, lab.serverIp, lab.podWwwDir, 'bbr'], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      const r = await runAsync(['ip', 'netns', 'exec', lab.ns.client, 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '2', `http://${lab.serverIp}/none`], { timeoutMs: 5000 });
      if (r.stdout === '404') break;
      await sleep(50);
    }
    const k = await download('kernel bbr', kernelRetrans, async () => {
      const r = await runAsync(['ip', 'netns', 'exec', lab.ns.pod, 'ss', '-tin', 'state', 'established', 'sport', '=', ':80'], { timeoutMs: 5000 });
      console.log(`kernel bbr mid-transfer: ${r.stdout.replace(/\s+/g, ' ').trim()}`);
    });
    const kp = kernel;
    const exited = new Promise((r) => kp.once('exit', r));
    kp.kill('SIGTERM');
    await exited;
    kernel = null;
    await lab.kernelAddress(false);

    // (b) ours with bbr.
    setCc('bbr');
    await lab.startOurs();
    const o = await download('ours bbr', ourRetrans, async () => {
      // The model mid-transfer (show session verbose: mode, BtlBw, RTprop, pacing rate, cwnd).
      const s = await cli(lab.podSocket, 'show session verbose');
      for (const line of s.split('\n')) if (line.includes(' bbr ')) console.log(`ours bbr mid-transfer: ${line.trim()}`);
    });
    const show = await cli(lab.podSocket, 'show tcp stats');
    console.log(`ours bbr: pacer waits ${parseTcpStats(show)['pacer waits'] ?? 0}`);
    lab.stopOurs();

    // (c) ours with CUBIC, for reference.
    setCc('cubic');
    await lab.startOurs();
    const cu = await download('ours cubic', ourRetrans);
    lab.stopOurs();
    // Review probe: apply the judge's own bounds to ours with CUBIC (which fills the queue, by design).
    const cubicPasses = cu.drops <= 2 * k.drops + 30 && cu.queueMedian <= 2 * k.queueMedian + 5 && cu.goodputMbit >= 0.7 * k.goodputMbit;
    console.log(`REVIEW: judge bounds: drops <= ${2 * k.drops + 30}, queue median <= ${(2 * k.queueMedian + 5).toFixed(1)} ms, goodput >= ${(0.7 * k.goodputMbit).toFixed(1)}; cubic: ${cu.drops}, ${cu.queueMedian.toFixed(1)} ms, ${cu.goodputMbit.toFixed(1)} -> ${cubicPasses ? 'PASSES' : 'rejected'}`);
    assert.ok(!cubicPasses, 'the bottleneck judge must reject a queue-filling controller (ours with CUBIC), or it cannot tell a BBR that overfills');

    const lossK = k.drops / Math.max(1, k.sent + k.drops);
    const lossO = o.drops / Math.max(1, o.sent + o.drops);
    assert.ok(o.drops <= 2 * k.drops + 30, `ours bbr dropped ${o.drops} frames at the bottleneck (${(100 * lossO).toFixed(2)}%), the kernel ${k.drops} (${(100 * lossK).toFixed(2)}%)`);
    assert.ok(o.queueMedian <= 2 * k.queueMedian + 5, `ours bbr queued ${o.queueMedian.toFixed(1)} ms (median), the kernel ${k.queueMedian.toFixed(1)} ms`);
    assert.ok(o.goodputMbit >= 0.7 * k.goodputMbit, `ours bbr ${o.goodputMbit.toFixed(1)} Mbit/s, the kernel ${k.goodputMbit.toFixed(1)} Mbit/s`);
  });
});
