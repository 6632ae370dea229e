/**
 * TX backpressure (issue 8 item 4) against the real kernel, on the lab.
 *
 * A token bucket (tbf, 50 mbit) on the worker's eth0 makes the kernel refuse our frames: our
 * sockets bypass macvlan0's queue (PACKET_QDISC_BYPASS, and macvlan has none), but macvlan hands
 * every frame to its lower device eth0, whose qdisc is where they wait. Frames queued there stay
 * charged to our socket's send buffer (EAGAIN once it is full); a full tbf drops (ENOBUFS). A
 * small SO_SNDBUF alone would not do: veth and macvlan free a frame at once.
 *
 * Asserted: a 10 MB download with curl is intact (sha256), the kernel really refused frames
 * (`show hardware-interfaces`: eagain + nobufs grew, the device blocked), and nothing was lost to
 * it (backlog-drops unchanged). Once with the TX offload socket (its own writable watch), once
 * with `tx-offload off` (the RX socket sends: its poll handle watches READABLE|WRITABLE).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chownSync, closeSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultSettings, Lab, POD_UID, podNode } from '../../src/lab/lab.js';
import { inNs } from '../../src/lab/exec.js';
import { cli, isRoot, REPO_ROOT } from './lab-helpers.js';

const skip = isRoot() ? false : 'needs root (network namespaces)';
const CLI_ENTRY = join(REPO_ROOT, 'bin', 'vpp-server.js');
const TBF = ['tbf', 'rate', '50mbit', 'burst', '32kb', 'latency', '20ms'];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface TxCounters {
  eagain: number;
  nobufs: number;
  blocked: number;
  backlogged: number;
  backlogDrops: number;
  sndbuf: number;
  txErrors: number;
  /** Backlog resumes: writable wakeups (EAGAIN) or retry timers (ENOBUFS). */
  writableWakeups: number;
}

function txCounters(show: string): TxCounters {
  const tx = /tx frames \d+ bytes \d+ eagain (\d+) nobufs (\d+)/.exec(show);
  const bp = /tx backpressure: blocked (\d+) backlogged (\d+) backlog-drops (\d+) backlog \d+ \(peak \d+\) resumes (\d+)/.exec(show);
  const sb = /tx socket send buffer (\d+) bytes/.exec(show);
  const err = /tx errors (\d+), mtu/.exec(show);
  assert.ok(tx !== null && bp !== null && sb !== null && err !== null, `show hardware-interfaces lacks the TX counters:\n${show}`);
  return { eagain: +tx[1], nobufs: +tx[2], blocked: +bp[1], backlogged: +bp[2], backlogDrops: +bp[3], sndbuf: +sb[1], txErrors: +err[1], writableWakeups: +bp[4] };
}

describe('TX backpressure: a tbf qdisc under the pod, a 10 MB download', { skip }, () => {
  const lab = new Lab(defaultSettings('txbplab'));
  const big = randomBytes(10 * 1024 * 1024);
  const bigSha = createHash('sha256').update(big).digest('hex');
  let pod: ChildProcess | null = null;

  const download = (): { sha: string; seconds: number } => {
    const out = inNs(lab.ns.client, ['sh', '-c', `curl -sS --max-time 60 -w '%{time_total}\\n' -o /tmp/txbp-big.$$ http://${lab.serverIp}/big.bin && sha256sum /tmp/txbp-big.$$; rm -f /tmp/txbp-big.$$`], { timeoutMs: 70_000 });
    const [seconds, shaLine] = out.trim().split('\n');
    return { sha: (shaLine ?? '').split(' ')[0], seconds: Number(seconds) };
  };

  async function throughTbf(): Promise<{ before: TxCounters; after: TxCounters; seconds: number; baseline: number }> {
    // For the log: the same download without the qdisc.
    const plain = download();
    assert.equal(plain.sha, bigSha);
    const before = txCounters(await cli(lab.podSocket, 'show hardware-interfaces'));
    inNs(lab.ns.worker, ['tc', 'qdisc', 'add', 'dev', 'eth0', 'root', ...TBF]);
    let result: { sha: string; seconds: number };
    try {
      result = download();
    } finally {
      inNs(lab.ns.worker, ['tc', 'qdisc', 'del', 'dev', 'eth0', 'root']);
    }
    const after = txCounters(await cli(lab.podSocket, 'show hardware-interfaces'));
    assert.equal(result.sha, bigSha, 'the 10 MB file arrived intact');
    return { before, after, seconds: result.seconds, baseline: plain.seconds };
  }

  function check(r: { before: TxCounters; after: TxCounters; seconds: number; baseline: number }, label: string): void {
    const d = (k: keyof TxCounters) => r.after[k] - r.before[k];
    const summary = `${label}: ${r.seconds.toFixed(2)} s through tbf (${r.baseline.toFixed(2)} s without), eagain +${d('eagain')} nobufs +${d('nobufs')} blocked +${d('blocked')} backlogged +${d('backlogged')} backlog-drops +${d('backlogDrops')} resumes +${d('writableWakeups')} sndbuf ${r.after.sndbuf}`;
    console.log(summary);
    assert.ok(d('eagain') + d('nobufs') > 0, `the kernel never refused a frame: ${summary}`);
    assert.ok(d('blocked') > 0 && d('backlogged') > 0 && d('writableWakeups') > 0, summary);
    assert.equal(d('backlogDrops'), 0, `frames lost to a full backlog: ${summary}`);
    assert.equal(d('txErrors'), 0, summary);
    assert.ok(r.after.sndbuf > 0, summary);
  }

  before(async () => {
    lab.down();
    await lab.up();
    writeFileSync(join(lab.podWwwDir, 'big.bin'), big);
    chownSync(join(lab.podWwwDir, 'big.bin'), POD_UID, POD_UID);
  });

  after(async () => {
    if (pod !== null) {
      const p = pod;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      await exited;
    }
    lab.down();
  });

  it('with the TX offload socket: intact, EAGAIN/ENOBUFS counted, nothing dropped', async () => {
    check(await throughTbf(), 'tx-offload on');
  });

  it('with tx-offload off (the RX socket sends, READABLE|WRITABLE watch): the same', async () => {
    const labPod = lab.pid('pod');
    if (labPod !== undefined) process.kill(labPod, 'SIGTERM');
    for (let i = 0; i < 200 && lab.pid('pod') !== undefined; i++) await sleep(50);
    assert.equal(lab.pid('pod'), undefined, 'the lab pod dataplane exited');
    const conf = join(lab.podConfDir, 'txbp-offload-off.conf');
    writeFileSync(conf, `unix {\n  nodaemon cli-listen ${lab.podSocket}\n  startup-config ${join(lab.podConfDir, 'startup.conf')}\n}\nvpp-server {\n  tx-offload off\n}\n`);
    chownSync(conf, POD_UID, POD_UID);
    const log = openSync(join(lab.stateDir, 'pod', 'txbp-offload-off.log'), 'a');
    pod = spawn('ip', ['netns', 'exec', lab.ns.pod, ...podNode(['net_raw']), CLI_ENTRY, 'run', '-c', conf], { stdio: ['ignore', log, log] });
    closeSync(log);
    let show = '';
    for (let i = 0; i < 200; i++) {
      show = await cli(lab.podSocket, 'show interface address').catch(() => '');
      if (show.includes(lab.settings.serverAddress)) break;
      await sleep(50);
    }
    assert.match(show, new RegExp(lab.settings.serverAddress.replace(/\./g, '\\.')));
    const hw = await cli(lab.podSocket, 'show hardware-interfaces');
    assert.doesNotMatch(hw, /tx-offload \(vnet-hdr/, 'tx-offload is off');
    check(await throughTbf(), 'tx-offload off');
  });
});
