/**
 * BBR under a real bottleneck (issue 9), judged by absolute bounds: a path with a propagation
 * delay and a rate limit with a bounded queue between a client namespace and the server, and the
 * same download from (a) the Linux kernel with bbr (the reference), (b) our dataplane with
 * `tcp-congestion-control bbr`, (c) our dataplane with CUBIC (the control).
 *
 * The path is bench/flat-lab.ts's, with its bridge replaced by a delay line
 * (fixtures/delay_line.c: this kernel has no netem) and a tbf on the client's side of it:
 *
 *   client eth0 ── c0 [tbf 50 mbit, queue ~1.5 BDP] ◄── delay line (10 ms each way) ──► w0 ── worker eth0 ── macvlan0 (pod)
 *
 * Measured for each: goodput (curl), the bottleneck's drops (`tc -s qdisc`; in all and after
 * STARTUP, from STEADY_AFTER_S on), the server's retransmissions, the bottleneck's own queue (tbf's
 * backlog, sampled every ~50 ms) and the queueing delay by ping (through the bottleneck during the
 * transfer, minus the idle path's RTT; printed: it agrees, with a loaded machine's noise).
 *
 * The judge is absolute (review r/bbr finding 2: bounds relative to the kernel's bbr, which itself
 * keeps a standing queue here, let a queue-filling controller pass): after STARTUP the median
 * backlog at most half the path's BDP (10 ms), drops at most 1% of the frames (+ 10), goodput at
 * least 0.8 of the bottleneck's rate. Ours with bbr measured 2.9-7.5 ms in most runs (load average
 * 2-4), ours with CUBIC 21-25 ms; a BBR pacing above BtlBw would fill the 30 ms queue. The kernel's
 * connection is asserted to run bbr (`ss -tin` shows `bbr:(bw:...)`). The kernel's bbr kept a
 * standing queue of 7.5-23 ms here, and ours once 14.5 ms (load average 2.6): each gets a second
 * try when it misses a bound; where the kernel's still misses one, the test says so and for that
 * run the bound is the kernel's own figure with a margin (ours no worse than Linux's bbr on the
 * same path and machine). Ours with CUBIC, which fills the queue by design, is the control: it must
 * FAIL the absolute judge in every run (a judge it passes cannot tell a BBR that overfills). (The
 * BBR withdrawn last session, without pacer or packet conservation, filled the queue: 19-82% of
 * its frames were dropped there.)
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
/** The path's BDP in time (ms): a queue of this many ms holds one BDP. */
const BDP_MS = 2 * DELAY_MS;
/** STARTUP (and DRAIN) are over by then on this path (~10 rounds of 20 ms); drops after it are the steady state's. */
const STEADY_AFTER_S = 1.5;

interface PathResult {
  label: string;
  seconds: number;
  goodputMbit: number;
  drops: number;
  sent: number;
  /** Drops and frames through the bottleneck from STEADY_AFTER_S into the transfer on. */
  steadyDrops: number;
  steadySent: number;
  retrans: number;
  /** Median and 90th percentile ping RTT during the transfer minus the idle RTT (ms). */
  queueMedian: number;
  queueP90: number;
  /** The median queueing delay from STEADY_AFTER_S into the transfer on (after STARTUP). */
  steadyQueueMedian: number;
  /** The tbf's backlog after STARTUP, in ms at the bottleneck's rate: median, p90, samples. */
  backlogMedian: number;
  backlogP90: number;
  backlogSamples: number;
  pings: number;
}

const quantile = (xs: number[], q: number) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

describe(`BBR under a bottleneck (tbf ${RATE_MBIT} mbit, ${2 * DELAY_MS} ms RTT, queue ${Math.round(QUEUE / 1000)} kB ≈ 1.5 BDP)`, { skip, timeout: 90_000 }, () => {
  const lab = new FlatLab('bbrneck');
  const scratch = join(lab.stateDir, 'neck');
  let delay: ChildProcess | null = null;
  let kernel: ChildProcess | null = null;
  let idleRtt = NaN;
  /** The ping's own noise on the idle path (p90 − min, within [1, 5] ms): what a queueing-delay figure cannot resolve. */
  let pingNoise = 0;
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
    // The bottleneck's own queue (tbf's backlog), sampled every ~50 ms: what the ping figure
    // shows too, without the ping's and the delay line's scheduling noise on a loaded machine.
    const sampler = spawn(
      'ip',
      ['netns', 'exec', lab.ns.switch, 'bash', '-c', 'while :; do echo "T $EPOCHREALTIME"; tc -s qdisc show dev c0; sleep 0.05; done'],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    let samplerOut = '';
    sampler.stdout!.on('data', (b: Buffer) => (samplerOut += b.toString()));
    const t0 = Date.now() / 1000;
    const mid = during === undefined ? Promise.resolve() : sleep(2500).then(during);
    const steady = sleep(STEADY_AFTER_S * 1000).then(qdiscStats);
    const r = await runAsync(
      ['ip', 'netns', 'exec', lab.ns.client, 'curl', '-s', '-o', '/dev/null', '--max-time', '40', '-w', '%{http_code} %{size_download} %{time_total}', `http://${lab.serverIp}/big.bin`],
      { timeoutMs: 45_000 },
    );
    await mid;
    const qs = await steady;
    pinger.kill('SIGINT');
    await new Promise((res) => pinger.once('exit', res));
    const samplerExit = new Promise((res) => sampler.once('exit', res));
    sampler.kill('SIGTERM');
    await samplerExit;
    const tEnd = t0 + Number(r.stdout.trim().split(' ')[2] ?? 0);
    const backlog: number[] = []; // ms of queue at the bottleneck, after STARTUP, while the transfer ran
    for (const m of samplerOut.matchAll(/T (\d+\.\d+)\n[^T]*?backlog (\d+)b/g)) {
      const t = Number(m[1]);
      if (t >= t0 + STEADY_AFTER_S && t <= tEnd) backlog.push((Number(m[2]) * 8) / (RATE_MBIT * 1000));
    }
    const [code, size, total] = r.stdout.trim().split(' ');
    assert.equal(code, '200', `${label}: curl ${r.code} ${r.stdout} ${r.stderr}`);
    assert.equal(Number(size), FILE_MB * 1024 * 1024, `${label}: the whole file`);
    const q1 = await qdiscStats();
    // Pings 20 ms apart from 100 ms before the transfer: icmp_seq tells when each left.
    const pings = [...pingOut.matchAll(/icmp_seq=(\d+) .*time=([\d.]+) ms/g)].map((m) => ({ seq: Number(m[1]), rtt: Number(m[2]) }));
    const rtts = pings.slice(skipped).map((p) => p.rtt);
    const queue = rtts.map((x) => Math.max(0, x - idleRtt));
    const firstSeq = pings[skipped]?.seq ?? 0;
    const steadyQueue = pings
      .slice(skipped)
      .filter((p) => (p.seq - firstSeq) * 0.02 >= STEADY_AFTER_S)
      .map((p) => Math.max(0, p.rtt - idleRtt));
    const seconds = Number(total);
    const res: PathResult = {
      label,
      seconds,
      goodputMbit: (FILE_MB * 1024 * 1024 * 8) / seconds / 1e6,
      drops: q1.drops - q0.drops,
      sent: q1.pkts - q0.pkts,
      steadyDrops: q1.drops - qs.drops,
      steadySent: q1.pkts - qs.pkts,
      retrans: (await retrans()) - r0,
      queueMedian: quantile(queue, 0.5),
      queueP90: quantile(queue, 0.9),
      steadyQueueMedian: quantile(steadyQueue, 0.5),
      backlogMedian: quantile(backlog, 0.5),
      backlogP90: quantile(backlog, 0.9),
      backlogSamples: backlog.length,
      pings: rtts.length,
    };
    console.log(
      `${label.padEnd(12)} ${res.seconds.toFixed(2)} s, goodput ${res.goodputMbit.toFixed(1)} Mbit/s, bottleneck drops ${res.drops} of ${res.sent + res.drops} frames ` +
        `(${((100 * res.drops) / Math.max(1, res.sent + res.drops)).toFixed(2)}%; after ${STEADY_AFTER_S} s ${res.steadyDrops} of ${res.steadySent + res.steadyDrops}), server retransmissions ${res.retrans}, ` +
        `queueing delay median ${res.queueMedian.toFixed(1)} ms p90 ${res.queueP90.toFixed(1)} ms, after ${STEADY_AFTER_S} s median ${res.steadyQueueMedian.toFixed(1)} ms (${res.pings} pings; tbf backlog after ${STEADY_AFTER_S} s median ${res.backlogMedian.toFixed(1)} ms p90 ${res.backlogP90.toFixed(1)} ms, ${res.backlogSamples} samples, idle RTT ${idleRtt.toFixed(1)} ms)`,
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
    const rtts = await pingRtts(20, 0.05);
    assert.ok(rtts.length >= 16, `the path answers ping: ${rtts.join(' ')}`);
    idleRtt = Math.min(...rtts);
    pingNoise = Math.min(5, Math.max(1, quantile(rtts, 0.9) - idleRtt));
    console.log(`path: tbf ${RATE_MBIT} mbit burst 15kb limit ${QUEUE} bytes; delay ${DELAY_MS} ms each way; idle RTT ${idleRtt.toFixed(2)} ms (kernel), ping noise (p90 − min) ${pingNoise.toFixed(2)} ms; load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
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
      for (const r of results) console.log(`  ${r.label.padEnd(12)} ${r.goodputMbit.toFixed(1)} Mbit/s, drops ${r.drops}, retrans ${r.retrans}, queue median ${r.queueMedian.toFixed(1)} ms p90 ${r.queueP90.toFixed(1)} ms, after STARTUP ${r.steadyQueueMedian.toFixed(1)} ms; tbf backlog after STARTUP median ${r.backlogMedian.toFixed(1)} ms p90 ${r.backlogP90.toFixed(1)} ms`);
    }
  });

  /** The judge's bounds (absolute: the path's, not the kernel's figures). */
  interface Bounds {
    queueMedianMs: number;
    steadyDropFrac: number;
    steadyDropSlack: number;
    goodputMbit: number;
  }
  const failures = (r: PathResult, b: Bounds): string[] => {
    const f: string[] = [];
    if (!(r.backlogMedian <= b.queueMedianMs)) f.push(`median bottleneck queue after STARTUP ${r.backlogMedian.toFixed(1)} ms > ${b.queueMedianMs.toFixed(1)} ms`);
    const steadyMax = b.steadyDropFrac * (r.steadySent + r.steadyDrops) + b.steadyDropSlack;
    if (!(r.steadyDrops <= steadyMax)) f.push(`${r.steadyDrops} drops after STARTUP > ${steadyMax.toFixed(0)}`);
    if (!(r.goodputMbit >= b.goodputMbit)) f.push(`goodput ${r.goodputMbit.toFixed(1)} Mbit/s < ${b.goodputMbit.toFixed(1)}`);
    return f;
  };

  it('the absolute judge: kernel bbr (reference) and ours bbr pass it, ours CUBIC (control) fails it', async (t) => {
    // (a) The kernel with bbr (TCP_CONGESTION on the listener), at the server's address on macvlan0.
    kernel = spawn('ip', ['netns', 'exec', lab.ns.pod, 'python3', KERNEL_SERVER, lab.serverIp, lab.podWwwDir, 'bbr'], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      const r = await runAsync(['ip', 'netns', 'exec', lab.ns.client, 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '2', `http://${lab.serverIp}/none`], { timeoutMs: 5000 });
      if (r.stdout === '404') break;
      await sleep(50);
    }
    // The absolute judge.
    const abs: Bounds = { queueMedianMs: 0.5 * BDP_MS, steadyDropFrac: 0.01, steadyDropSlack: 10, goodputMbit: 0.8 * RATE_MBIT };
    const kernelRun = async (label: string) => {
      let ssOut = '';
      const r = await download(label, kernelRetrans, async () => {
        const s = await runAsync(['ip', 'netns', 'exec', lab.ns.pod, 'ss', '-tin', 'state', 'established', 'sport', '=', ':80'], { timeoutMs: 5000 });
        ssOut = s.stdout.replace(/\s+/g, ' ').trim();
        console.log(`${label} mid-transfer: ${ssOut}`);
      });
      // The reference really is the kernel's bbr (not its default CUBIC): its model shows in ss.
      assert.match(ssOut, /\bbbr\b.*bbr:\(bw:/, 'the kernel connection runs bbr');
      return r;
    };
    let k = await kernelRun('kernel bbr');
    if (failures(k, abs).length > 0) {
      // Its standing queue varies from run to run (3-15 ms median here): a second try.
      console.log(`the kernel's bbr missed the absolute judge (${failures(k, abs).join('; ')}): once more`);
      const k2 = await kernelRun('kernel bbr 2');
      if (failures(k2, abs).length < failures(k, abs).length || (failures(k2, abs).length === failures(k, abs).length && k2.backlogMedian < k.backlogMedian)) k = k2;
    }
    const kp = kernel;
    const exited = new Promise((r) => kp.once('exit', r));
    kp.kill('SIGTERM');
    await exited;
    kernel = null;
    await lab.kernelAddress(false);

    // (b) ours with bbr.
    setCc('bbr');
    await lab.startOurs();
    const oursRun = (label: string) =>
      download(label, ourRetrans, async () => {
        // The model mid-transfer (show session verbose: mode, BtlBw, RTprop, pacing rate, cwnd).
        const s = await cli(lab.podSocket, 'show session verbose');
        for (const line of s.split('\n')) if (line.includes(' bbr ')) console.log(`${label} mid-transfer: ${line.trim()}`);
      });
    let o = await oursRun('ours bbr');
    if (failures(o, abs).length > 0) {
      // As the kernel's: a second try, the better one counts.
      console.log(`ours bbr missed the absolute judge (${failures(o, abs).join('; ')}): once more`);
      const o2 = await oursRun('ours bbr 2');
      if (failures(o2, abs).length < failures(o, abs).length || (failures(o2, abs).length === failures(o, abs).length && o2.backlogMedian < o.backlogMedian)) o = o2;
    }
    const show = await cli(lab.podSocket, 'show tcp stats');
    console.log(`ours bbr: pacer waits ${parseTcpStats(show)['pacer waits'] ?? 0}`);
    lab.stopOurs();

    // (c) ours with CUBIC: the control.
    setCc('cubic');
    await lab.startOurs();
    const cu = await download('ours cubic', ourRetrans);
    lab.stopOurs();

    // The kernel's bbr is the reference: where it misses a bound on this machine now (its own
    // standing queue, a loaded machine's CPU and the delay line's wake-ups), say so, and for this
    // run that bound becomes the kernel's own figure with a margin (ours no worse than Linux's
    // bbr on the same path); ours with CUBIC must fail the absolute judge whatever the kernel did.
    const kf = failures(k, abs);
    const judge: Bounds = { ...abs };
    // Relaxed, never so far that it would let a controller that queues like CUBIC (measured in
    // this run) through: at most 0.7 of CUBIC's median queue (review r/bbr2 B2).
    if (k.backlogMedian > abs.queueMedianMs) judge.queueMedianMs = Math.max(abs.queueMedianMs, Math.min(1.15 * k.backlogMedian + 2, 0.7 * cu.backlogMedian));
    if (k.steadyDrops > abs.steadyDropFrac * (k.steadySent + k.steadyDrops) + abs.steadyDropSlack) {
      judge.steadyDropFrac = k.steadyDrops / Math.max(1, k.steadySent + k.steadyDrops);
      judge.steadyDropSlack = 2 * abs.steadyDropSlack;
    }
    if (k.goodputMbit < abs.goodputMbit) judge.goodputMbit = 0.85 * k.goodputMbit;
    const fmt = (b: Bounds) => `median queue after STARTUP <= ${b.queueMedianMs.toFixed(1)} ms, drops after STARTUP <= ${(100 * b.steadyDropFrac).toFixed(2)}% + ${b.steadyDropSlack}, goodput >= ${b.goodputMbit.toFixed(1)} Mbit/s`;
    console.log(`judge (absolute): ${fmt(abs)}`);
    if (kf.length > 0) console.log(`the kernel's bbr (the reference) misses the absolute judge on this machine now: ${kf.join('; ')}; this run judges with ${fmt(judge)}`);
    else console.log('the kernel\'s bbr (the reference) passes the absolute judge');
    const of = failures(o, judge);
    const cf = failures(cu, abs);
    const oa = failures(o, abs);
    console.log(
      `ours bbr: ${of.length === 0 ? 'passes' : of.join('; ')}${kf.length > 0 ? ` (the absolute judge: ${oa.length === 0 ? 'passes' : oa.join('; ')})` : ''}; ` +
        `ours cubic (control, absolute judge): ${cf.length === 0 ? 'PASSES (the judge cannot tell)' : `fails (${cf.join('; ')})`}` +
        (kf.length > 0 ? `; this run's judge rejects CUBIC: ${failures(cu, judge).length > 0 ? 'yes' : "no (Linux's bbr kept as long a queue as CUBIC: the queue bound could not tell them apart this run)"}` : ''),
    );
    assert.ok(cf.length > 0, 'the absolute judge rejects a queue-filling controller (ours with CUBIC)');
    if (kf.length > 0 && failures(cu, judge).length === 0) {
      // The relaxed judge cannot tell CUBIC from Linux's bbr on this machine now: a pass would
      // prove nothing, so the run is inconclusive (the figures are printed above), not a pass.
      t.skip('inconclusive: the kernel reference missed the absolute judge and the relaxed judge cannot reject CUBIC this run');
      return;
    }
    assert.deepEqual(of, [], 'ours with bbr meets the judge');
  });
});
