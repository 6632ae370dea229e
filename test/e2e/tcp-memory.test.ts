/**
 * Issue 9 "Memory accounting" on the lab, against real peers in the client namespace:
 *
 * 1. A reader that takes one byte every 10 s (a Python socket with a 4 KiB receive buffer) is
 *    dropped by the minimum send rate within the configured window (min-send-window 3 s here),
 *    counted as send-rate-too-low, long before the 60 s send timeout.
 * 2. 1,000 connections from four source addresses (raw frames from flood_budget.py) each send
 *    pipelined requests (64 KiB) and out-of-order data (128 KiB) and never read: 188 MiB offered
 *    against a 32 MiB budget. The dataplane's RSS growth stays within a generous bound of the
 *    budget (printed), `show tcp memory` never goes above the budget, and curl from the client's
 *    own address still gets index.html meanwhile.
 *
 * The pod runs with the file-capability node (podNode(['net_raw'])) and its own vpp.conf.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, closeSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultSettings, Lab, POD_UID, podNode } from '../../src/lab/lab.js';
import { inNs, waitFor } from '../../src/lab/exec.js';
import { cli, errorCount, isRoot, REPO_ROOT } from './lab-helpers.js';

const skip = isRoot() ? false : 'needs root (network namespaces)';
const CLI_ENTRY = join(REPO_ROOT, 'bin', 'vpp-server.js');
const FIXTURES = join(REPO_ROOT, 'test', 'e2e', 'fixtures');
const MiB = 1024 * 1024;

/** Attack addresses in the client's subnet that its kernel does not own (no RSTs from it). */
const FLOOD_IPS = ['192.168.123.77', '192.168.123.78', '192.168.123.79', '192.168.123.80'];
const BUDGET_MIB = 32;

describe('memory limits on the lab', { skip, timeout: 120_000 }, () => {
  const lab = new Lab(defaultSettings('tcpmemlab'));
  let pod: ChildProcess | null = null;
  const children: ChildProcess[] = [];

  async function stopPod(): Promise<void> {
    const labPod = lab.pid('pod');
    if (labPod !== undefined) process.kill(labPod, 'SIGTERM');
    if (pod !== null) {
      const p = pod;
      pod = null;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      await exited;
    }
    await waitFor('the pod to exit', () => (lab.pid('pod') === undefined ? true : undefined), 10_000, 50);
  }

  /** Starts the pod's dataplane with our own vpp-server { } stanza, waits until it has its address. */
  async function startPod(name: string, stanza: string): Promise<void> {
    await stopPod();
    const conf = join(lab.podConfDir, `${name}.conf`);
    writeFileSync(conf, `unix {\n  nodaemon cli-listen ${lab.podSocket}\n  startup-config ${join(lab.podConfDir, 'startup.conf')}\n}\nvpp-server {\n${stanza}\n}\n`);
    chownSync(conf, POD_UID, POD_UID);
    const log = openSync(join(lab.stateDir, 'pod', `${name}.log`), 'a');
    pod = spawn('ip', ['netns', 'exec', lab.ns.pod, ...podNode(['net_raw']), CLI_ENTRY, 'run', '-c', conf], { stdio: ['ignore', log, log] });
    closeSync(log);
    await waitFor('the pod to serve', async () => ((await cli(lab.podSocket, 'show interface address').catch(() => '')).includes(lab.settings.serverAddress.split('/')[0]!) ? true : undefined), 20_000, 50);
  }

  /** Runs a fixture in the client namespace; resolves with a line-by-line reader of its output. */
  function fixture(args: string[]): { child: ChildProcess; lines: string[]; exited: Promise<number | null> } {
    const child = spawn('ip', ['netns', 'exec', lab.ns.client, 'python3', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    const lines: string[] = [];
    let partial = '';
    child.stdout!.on('data', (d: Buffer) => {
      partial += d.toString();
      const parts = partial.split('\n');
      partial = parts.pop()!;
      lines.push(...parts);
    });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) =>
      child.once('exit', (code) => {
        if (code !== 0 && code !== null) console.log(`${args[0]}: exit ${code}: ${err}`);
        r(code);
      }),
    );
    return { child, lines, exited };
  }

  const rssMiB = async (): Promise<number> => {
    const m = /rss\s+([\d.]+) MiB/.exec(await cli(lab.podSocket, 'show memory'));
    assert.ok(m !== null);
    return Number(m[1]);
  };
  const buffered = (show: string): { total: number; peak: number } => {
    const m = /^buffered ([\d.]+) (B|KiB|MiB|GiB), peak ([\d.]+) (B|KiB|MiB|GiB)$/m.exec(show);
    assert.ok(m !== null, show);
    const unit = (u: string) => ({ B: 1, KiB: 1024, MiB: MiB, GiB: 1024 * MiB })[u]!;
    return { total: Number(m[1]) * unit(m[2]!), peak: Number(m[3]) * unit(m[4]!) };
  };

  before(async () => {
    lab.down();
    await lab.up();
    writeFileSync(join(lab.podWwwDir, 'big.bin'), Buffer.alloc(8 * MiB, 0x61));
    writeFileSync(join(lab.podWwwDir, 'f64k.bin'), Buffer.alloc(64 * 1024, 0x62));
    for (const f of ['big.bin', 'f64k.bin']) chownSync(join(lab.podWwwDir, f), POD_UID, POD_UID);
  });

  after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await stopPod().catch(() => undefined);
    lab.down();
  });

  it('drops a reader taking one byte per 10 s within the minimum-rate window (3 s), counted', async () => {
    await startPod('min-rate', '  min-send-bytes 64k\n  min-send-window 3');
    const before = errorCount(await cli(lab.podSocket, 'show errors'), 'http-static-server', 'send-rate-too-low');
    const r = fixture([join(FIXTURES, 'slow_reader.py'), lab.serverIp, '80', '/big.bin', '10']);
    await waitFor('the reader to read its first byte', () => (r.lines.includes('reading') ? true : undefined), 10_000, 20);
    const t0 = Date.now();
    await waitFor(
      'the server to drop the slow reader',
      async () => (errorCount(await cli(lab.podSocket, 'show errors'), 'http-static-server', 'send-rate-too-low') > before ? true : undefined),
      15_000,
      50,
    );
    const seconds = (Date.now() - t0) / 1000;
    await r.exited;
    const closed = r.lines.find((l) => l.startsWith('closed '));
    console.log(`slow reader dropped ${seconds.toFixed(2)} s after its first byte (client saw: ${closed})`);
    // The window, plus two sweeps (≤ 250 ms each) and the CLI round trips.
    assert.ok(seconds <= 3 + 1.5, `dropped within the 3 s window (${seconds} s)`);
    assert.ok(closed !== undefined && Number(closed.split(' ')[1]) <= 3 + 1.5, `the client saw the reset: ${closed}`);
    const errors = await cli(lab.podSocket, 'show errors');
    assert.equal(errorCount(errors, 'http-static-server', 'send-timeout'), 0, 'not the 60 s send timeout');
  });

  it(`1,000 connections with out-of-order data and pipelined requests, never reading, stay within a ${BUDGET_MIB} MiB budget; curl still gets index.html`, async () => {
    // One window far longer than the test: these connections must stay while we measure.
    await startPod('budget', `  memory-budget ${BUDGET_MIB}m\n  source-max-memory 20%\n  min-send-window 600`);
    const clientMac = inNs(lab.ns.client, ['cat', '/sys/class/net/eth0/address']).trim();
    for (const ip of FLOOD_IPS) await cli(lab.podSocket, `set ip neighbor host-macvlan0.${lab.settings.vlanId} ${ip} ${clientMac} static`);
    assert.ok(lab.ping(1).ok, 'the client reaches the pod');
    const podMac = /lladdr (\S+)/.exec(inNs(lab.ns.client, ['ip', 'neigh', 'show', lab.serverIp]))?.[1];
    assert.ok(podMac !== undefined, 'the pod MAC in the client neighbour table');
    // Warm up the path the good client takes, then take the baseline.
    assert.equal(inNs(lab.ns.client, ['curl', '-sS', '--max-time', '5', `http://${lab.serverIp}/index.html`]).trim(), 'Welcome');
    const rss0 = await rssMiB();

    const PIPE = 64 * 1024;
    const OOO = 128 * 1024;
    const f = fixture([join(FIXTURES, 'flood_budget.py'), 'eth0', clientMac, podMac, lab.serverIp, '80', FLOOD_IPS.join(','), '250', String(PIPE), String(OOO), '/f64k.bin', '40']);
    await waitFor('the handshakes', () => r(f.lines, 'established'), 30_000, 50);
    const established = Number(r(f.lines, 'established'));
    await waitFor('the flood to be sent', () => r(f.lines, 'sent'), 40_000, 50);
    let peak = 0;
    let rssMax = rss0;
    // Let the dataplane take it all in; sample the budget and RSS meanwhile.
    const settleUntil = Date.now() + 4000;
    let good = '';
    while (Date.now() < settleUntil) {
      const show = await cli(lab.podSocket, 'show tcp memory');
      peak = Math.max(peak, buffered(show).peak);
      rssMax = Math.max(rssMax, await rssMiB());
      if (good === '') {
        try {
          good = inNs(lab.ns.client, ['curl', '-sS', '--max-time', '10', `http://${lab.serverIp}/index.html`], { timeoutMs: 15_000 }).trim();
        } catch (err) {
          good = `curl failed: ${(err as Error).message}`;
          console.log(`${good}\n${await cli(lab.podSocket, 'show tcp memory')}\n${await cli(lab.podSocket, 'show errors')}`);
        }
      }
      await new Promise((res) => setTimeout(res, 250));
    }
    const show = await cli(lab.podSocket, 'show tcp memory');
    const sessions = (await cli(lab.podSocket, 'show session')).split('\n').filter((l) => l.includes('ESTABLISHED')).length;
    const errors = await cli(lab.podSocket, 'show errors');
    const growth = rssMax - rss0;
    console.log(
      `flood: ${established} connections established (${sessions} open at the end), ${FLOOD_IPS.length} sources, ` +
        `${((established * (PIPE + OOO)) / MiB).toFixed(0)} MiB offered; budget ${BUDGET_MIB} MiB, buffered peak ${(peak / MiB).toFixed(1)} MiB; ` +
        `RSS ${rss0.toFixed(1)} → ${rssMax.toFixed(1)} MiB (growth ${growth.toFixed(1)} MiB); ` +
        `ooo-drop ${errorCount(errors, 'tcp4-session', 'ooo-drop-memory')} ooo-pruned ${errorCount(errors, 'tcp4-session', 'ooo-pruned-memory')} rcv-drop ${errorCount(errors, 'tcp4-session', 'rcv-drop-memory')}`,
    );
    console.log(show);
    assert.ok(established >= 990, `the handshakes completed (${established})`);
    assert.equal(good, 'Welcome', 'a well-behaved client still gets index.html');
    assert.ok(peak <= BUDGET_MIB * MiB, `never above the budget (peak ${peak})`);
    assert.ok(peak >= 0.5 * BUDGET_MIB * MiB, `the flood did fill the budget (peak ${peak})`);
    assert.ok(errorCount(errors, 'tcp4-session', 'rcv-drop-memory') + errorCount(errors, 'tcp4-session', 'ooo-drop-memory') > 0, 'the limits were hit');
    // Generous: RSS also holds what was pruned or dropped until V8 and malloc give it back (the
    // flood makes ~100 MiB of such garbage), and 1,000 idle connections cost ~6 MiB. Without the
    // budget (memory-budget 4g) the same flood grows RSS by ~280 MiB.
    assert.ok(growth <= 2 * BUDGET_MIB + 64, `RSS growth ${growth.toFixed(1)} MiB within 2 × budget + 64 MiB`);
    f.child.kill('SIGKILL');
  });
});

/** The number after `word` on its line in `lines`, or undefined. */
function r(lines: string[], word: string): string | undefined {
  const l = lines.find((x) => x.startsWith(`${word} `));
  return l?.split(' ')[1];
}
