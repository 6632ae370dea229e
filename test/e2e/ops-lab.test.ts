/**
 * Issue 5's acceptance tests in the lab: the management endpoint (/readyz, /healthz, /metrics
 * checked by promtool and against `show interface`), `show runtime` under traffic, SIGTERM during
 * a large download, a stale CLI socket after a crash, JSON logs, and clear start-up failures.
 *
 * The lab's own pod dataplane is replaced by one started here, with a vpp.conf that enables the
 * management endpoint, still as uid 10000 with CAP_NET_RAW only. The endpoint is reached on the
 * pod's loopback: ip netns exec <prefix>-pod curl http://127.0.0.1:9100/…
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chownSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultSettings, Lab, POD_UID, podNode } from '../../src/lab/lab.js';
import { inNs } from '../../src/lab/exec.js';
import { cli, counter, isRoot, REPO_ROOT } from './lab-helpers.js';

const skip = isRoot() ? false : 'needs root (network namespaces)';
const CLI_ENTRY = join(REPO_ROOT, 'bin', 'vpp-server.js');
const ADDRESS_RE = /^set int(erface)? ip address /;
const BIG_SIZE = 50_000_000;

interface Pod {
  child: ChildProcess;
  exited: Promise<number | null>;
  log: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('operations in the lab: endpoint, metrics, runtime, lifecycle, logs', { skip }, () => {
  const lab = new Lab(defaultSettings('opslab'));
  const work = mkdtempSync(join(tmpdir(), 'opslab-'));
  let opsConf = '';
  let noAddrConf = '';
  let pod: Pod | null = null;
  const podLog = join(work, 'pod.log');

  /**
   * Starts the pod dataplane as the kubelet would (uid 10000, no_new_privs, the given capabilities
   * in the bounding set; NET_RAW held through the file capability of the lab's node copy). With
   * no capabilities the plain node runs, so that our own start-up error is what the test sees.
   */
  function startPod(conf: string, log = podLog, caps = ['net_raw'], extra: string[] = []): Pod {
    const fd = openSync(log, 'a');
    const child = spawn('ip', ['netns', 'exec', lab.ns.pod, ...podNode(caps), CLI_ENTRY, 'run', '-c', conf, ...extra], {
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    return { child, exited, log };
  }

  async function waitForCli(expect: string): Promise<void> {
    await until(`the pod CLI to show ${expect}`, async () => ((await lab.cli(lab.podSocket, 'show interface address'))?.includes(expect) ? true : undefined));
  }

  async function stopPod(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (pod === null) return null;
    const p = pod;
    pod = null;
    p.child.kill(signal);
    return p.exited;
  }

  /** GET on the management endpoint from inside the pod's network namespace. */
  function mgmt(path: string): { status: number; body: string } {
    const out = inNs(lab.ns.pod, ['curl', '-s', '-m', '10', '-w', '\n%{http_code}', `http://127.0.0.1:9100${path}`], { timeoutMs: 15_000 });
    const i = out.lastIndexOf('\n');
    return { status: Number(out.slice(i + 1)), body: out.slice(0, i) };
  }

  before(async () => {
    lab.down();
    await lab.up();
    // Replace the lab's pod dataplane by ours (same files, plus the management endpoint).
    const labPod = lab.pid('pod');
    if (labPod !== undefined) {
      process.kill(labPod, 'SIGTERM');
      await until('the lab pod dataplane to exit', () => (lab.pid('pod') === undefined ? true : undefined));
    }
    const startup = readFileSync(join(lab.podConfDir, 'startup.conf'), 'utf8');
    const noAddr = join(lab.podConfDir, 'startup-noaddr.conf');
    writeFileSync(noAddr, startup.split('\n').filter((l) => !ADDRESS_RE.test(l)).join('\n'));
    const vppConf = (startupConf: string, management: boolean) =>
      `unix {\n  nodaemon cli-listen ${lab.podSocket}\n  startup-config ${startupConf}\n}\n` +
      `vpp-server {\n${management ? '  management 0.0.0.0:9100\n' : ''}  stall-threshold 1\n  shutdown-grace 20\n}\n`;
    opsConf = join(lab.podConfDir, 'ops.conf');
    noAddrConf = join(lab.podConfDir, 'ops-noaddr.conf');
    writeFileSync(opsConf, vppConf(join(lab.podConfDir, 'startup.conf'), true));
    // This one gets the endpoint from the command line, as a manifest that keeps vpp.conf VPP's would.
    writeFileSync(noAddrConf, vppConf(noAddr, false));
    const big = join(lab.podWwwDir, 'big.bin');
    writeFileSync(big, randomBytes(BIG_SIZE));
    for (const f of [noAddr, opsConf, noAddrConf, big]) chownSync(f, POD_UID, POD_UID);
    pod = startPod(noAddrConf, podLog, ['net_raw'], ['--management', '0.0.0.0:9100']);
    await waitForCli('host-macvlan0.123');
  });

  after(async () => {
    await stopPod('SIGKILL');
    lab.down();
    if (process.env.KEEP_OPSLAB === undefined) rmSync(work, { recursive: true, force: true });
  });

  it('/readyz is 503 until the address is set through the CLI, then 200; /healthz is 200', async () => {
    const before = mgmt('/readyz');
    assert.equal(before.status, 503, before.body);
    assert.match(before.body, /no IPv4 address configured, nor an IPv6 one/);
    assert.equal(mgmt('/healthz').status, 200);
    await cli(lab.podSocket, `set int ip address host-macvlan0.${lab.settings.vlanId} ${lab.settings.serverAddress}`);
    const afterSet = mgmt('/readyz');
    assert.equal(afterSet.status, 200, afterSet.body);
    assert.deepEqual(JSON.parse(afterSet.body), { status: 'ok' });
    assert.equal(mgmt('/healthz').status, 200);
    assert.match(await cli(lab.podSocket, 'show health'), /live \(\/healthz\): ok\nready \(\/readyz\): ok/);
  });

  it('/metrics passes promtool check metrics and its interface counters equal show interface', async () => {
    inNs(lab.ns.client, ['ping', '-c', '3', '-i', '0.2', '-W', '1', lab.serverIp], { timeoutMs: 10_000 });
    inNs(lab.ns.client, ['curl', '-sf', '-o', '/dev/null', `http://${lab.serverIp}/index.html`], { timeoutMs: 10_000 });
    const interfaces = ['host-macvlan0', `host-macvlan0.${lab.settings.vlanId}`];
    const rows: Array<[string, string]> = [
      ['rx packets', 'vpp_interface_rx_packets_total'],
      ['rx bytes', 'vpp_interface_rx_bytes_total'],
      ['tx packets', 'vpp_interface_tx_packets_total'],
      ['tx bytes', 'vpp_interface_tx_bytes_total'],
      ['drops', 'vpp_interface_drops_total'],
      ['ip4', 'vpp_interface_ip4_packets_total'],
    ];
    // A stray frame between the two reads would make them differ: read until show interface is
    // the same before and after the scrape.
    let compared = false;
    for (let attempt = 0; attempt < 5 && !compared; attempt++) {
      const showBefore = await Promise.all(interfaces.map((i) => cli(lab.podSocket, `show interface ${i}`)));
      const metrics = mgmt('/metrics');
      const showAfter = await Promise.all(interfaces.map((i) => cli(lab.podSocket, `show interface ${i}`)));
      if (showBefore.join() !== showAfter.join()) continue;
      assert.equal(metrics.status, 200);
      const check = spawnSync('promtool', ['check', 'metrics'], { input: metrics.body, encoding: 'utf8' });
      assert.equal(check.status, 0, `promtool check metrics:\n${check.stdout}${check.stderr}`);
      interfaces.forEach((sw, k) => {
        for (const [row, metric] of rows) {
          const m = new RegExp(`^${metric}\\{interface="${sw.replace('.', '\\.')}"\\} (\\d+)$`, 'm').exec(metrics.body);
          assert.ok(m !== null, `${metric} for ${sw}`);
          assert.equal(Number(m[1]), counter(showBefore[k], row), `${sw}: ${row}`);
        }
      });
      assert.ok(counter(showBefore[1], 'rx packets') >= 3);
      assert.match(metrics.body, /^vpp_http_responses_total\{server="0\.0\.0\.0:80",code="2xx"\} [1-9]\d*$/m);
      assert.match(metrics.body, /^vpp_device_kernel_packets_total\{interface="host-macvlan0"\} [1-9]\d*$/m);
      // rx-mode interrupt (the lab's default): the polling counters are exported, and still 0.
      for (const m of ['rx_polls', 'rx_empty_polls', 'rx_adaptive_to_polling', 'rx_adaptive_to_interrupt', 'rx_spin_breaks']) {
        assert.match(metrics.body, new RegExp(`^vpp_device_${m}_total\\{interface="host-macvlan0"\\} 0$`, 'm'), m);
      }
      assert.match(metrics.body, /^vpp_tcp_passive_opens_total [1-9]\d*$/m);
      assert.match(metrics.body, /^process_resident_memory_bytes \d+/m);
      compared = true;
    }
    assert.ok(compared, 'show interface stayed still across one scrape');
  });

  it('show runtime counts rise with traffic, and show hardware-interfaces shows kernel socket statistics', async () => {
    const vectors = (text: string, node: string): { calls: number; vectors: number } => {
      // The state is one word or VPP's two ("interrupt wait").
      const m = new RegExp(`^${node}\\s+\\S+(?: wait)?\\s+(\\d+)\\s+(\\d+)\\s+[\\d.]+\\s+[\\d.]+$`, 'm').exec(text);
      return m === null ? { calls: 0, vectors: 0 } : { calls: Number(m[1]), vectors: Number(m[2]) };
    };
    const hwBefore = await cli(lab.podSocket, 'show hardware-interfaces');
    const before = await cli(lab.podSocket, 'show runtime');
    inNs(lab.ns.client, ['ping', '-c', '5', '-i', '0.2', '-W', '1', lab.serverIp], { timeoutMs: 10_000 });
    const afterPing = await cli(lab.podSocket, 'show runtime');
    assert.ok(vectors(afterPing, 'ip4-icmp-input').vectors >= vectors(before, 'ip4-icmp-input').vectors + 5, afterPing);
    assert.ok(vectors(afterPing, 'af-packet-input').calls >= vectors(before, 'af-packet-input').calls + 5, afterPing);
    assert.ok(vectors(afterPing, 'interface-output').vectors >= vectors(before, 'interface-output').vectors + 5, afterPing);
    assert.match(afterPing, /^Time [\d.]+, since the last 'clear runtime'/);
    await cli(lab.podSocket, 'clear runtime');
    assert.equal(vectors(await cli(lab.podSocket, 'show runtime'), 'ip4-icmp-input').vectors, 0);
    const kernel = (t: string) => Number(/kernel socket statistics: packets (\d+) drops (\d+) freeze (\d+)/.exec(t)?.[1] ?? NaN);
    const hwAfter = await cli(lab.podSocket, 'show hardware-interfaces');
    assert.ok(kernel(hwAfter) >= kernel(hwBefore) + 5, hwAfter);
    assert.match(hwAfter, /block size:\d+ nr:\d+ frame size:\d+ nr:\d+/);
    assert.match(await cli(lab.podSocket, 'show buffers'), /host-macvlan0\s+rx ring v2/);
  });

  it('/healthz is 503 after the event loop stalled (debug stall), and 200 again later', async () => {
    assert.equal(mgmt('/healthz').status, 200);
    await cli(lab.podSocket, 'debug stall 2500');
    const stalled = mgmt('/healthz');
    assert.equal(stalled.status, 503, stalled.body);
    assert.match(stalled.body, /event loop stalled for 2[5-9]\d\d ms/);
    assert.equal(mgmt('/readyz').status, 503);
    await until('/healthz to recover', () => (mgmt('/healthz').status === 200 ? true : undefined), 15_000);
    assert.equal(mgmt('/readyz').status, 200);
  });

  it('SIGTERM during a 50 MB download: the download completes intact, then the process exits 0', async () => {
    const out = join(work, 'big.out');
    const curl = spawn('ip', ['netns', 'exec', lab.ns.client, 'curl', '-sS', '--limit-rate', '12M', '-o', out, '-w', '%{http_code} %{size_download}', `http://${lab.serverIp}/big.bin`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let curlOut = '';
    curl.stdout!.on('data', (d: Buffer) => (curlOut += d.toString()));
    curl.stderr!.on('data', (d: Buffer) => (curlOut += d.toString()));
    const curlDone = new Promise<number | null>((resolve) => curl.once('exit', resolve));
    await until('the download to be under way', () => (existsSync(out) && statSync(out).size > 5_000_000 ? true : undefined), 20_000);
    assert.ok(statSync(out).size < BIG_SIZE, 'still in flight when the signal comes');

    const p = pod!;
    pod = null;
    const t0 = Date.now();
    p.child.kill('SIGTERM');
    // While draining: not ready, and a new connection is refused.
    await until('/readyz to fail', () => (mgmt('/readyz').status === 503 ? true : undefined), 5000);
    const fresh = spawnSync('ip', ['netns', 'exec', lab.ns.client, 'curl', '-s', '-m', '3', '-o', '/dev/null', `http://${lab.serverIp}/index.html`]);
    assert.notEqual(fresh.status, 0, 'a new connection is not served while draining');

    assert.equal(await curlDone, 0, curlOut);
    const code = await p.exited;
    const elapsed = Date.now() - t0;
    assert.equal(code, 0);
    assert.ok(elapsed < 20_000, `exited within the grace period (${elapsed} ms)`);
    assert.equal(curlOut.trim(), `200 ${BIG_SIZE}`);
    const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
    assert.equal(sha(out), sha(join(lab.podWwwDir, 'big.bin')));
    assert.equal(existsSync(lab.podSocket), false, 'the CLI socket was removed');
    const events = readFileSync(podLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event?: string; pid: number }).filter((l) => l.pid === p.child.pid);
    assert.deepEqual(events.filter((e) => ['draining', 'drained', 'stopped'].includes(e.event ?? '')).map((e) => e.event), ['draining', 'drained', 'stopped']);
  });

  it('replaces a stale CLI socket after a crash (SIGKILL) and starts serving again', async () => {
    pod = startPod(opsConf);
    await waitForCli(lab.settings.serverAddress);
    await stopPod('SIGKILL');
    assert.ok(existsSync(lab.podSocket), 'a killed process leaves its socket behind');
    pod = startPod(opsConf);
    await waitForCli(lab.settings.serverAddress);
    const stale = readFileSync(podLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.pid === pod!.child.pid && l.code === 'STALE_CLI_SOCKET');
    assert.equal(stale.length, 1);
    assert.equal(stale[0].level, 'warn');
    assert.equal(lab.ping(2).ok, true);
    await until('/readyz', () => (mgmt('/readyz').status === 200 ? true : undefined));
  });

  it('a second SIGTERM during the drain exits at once with status 1', async () => {
    const curl = spawn('ip', ['netns', 'exec', lab.ns.client, 'curl', '-sS', '--limit-rate', '2M', '-m', '40', '--speed-limit', '1', '--speed-time', '3', '-o', '/dev/null', `http://${lab.serverIp}/big.bin`], { stdio: 'ignore' });
    const curlDone = new Promise<number | null>((resolve) => curl.once('exit', resolve));
    await until('the download to be under way', () => (/^vpp_http_connections_open\{[^}]*\} 1$/m.test(mgmt('/metrics').body) ? true : undefined));
    const p = pod!;
    pod = null;
    p.child.kill('SIGTERM');
    await until('the drain to start', () => (mgmt('/readyz').status === 503 ? true : undefined), 5000);
    const t0 = Date.now();
    p.child.kill('SIGTERM');
    assert.equal(await p.exited, 1);
    assert.ok(Date.now() - t0 < 2000, 'at once');
    // 50 MB at 2 MB/s could not have finished: the process did not wait for it. Stop the client
    // (it would otherwise read what its kernel buffered, then wait for data that never comes).
    curl.kill('SIGKILL');
    assert.notEqual(await curlDone, 0, 'the download was cut');
    const last = readFileSync(podLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.pid === p.child.pid).at(-1)!;
    assert.equal(last.code, 'SECOND_SIGNAL');
  });

  it('logs JSON lines only: a start-up summary, every configuration line, codes on warnings and errors', () => {
    const lines = readFileSync(podLog, 'utf8').trim().split('\n');
    const objects = lines.map((l, i) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        throw new Error(`line ${i + 1} of the pod log is not JSON: ${l}`);
      }
    });
    for (const o of objects) {
      assert.equal(typeof o.time, 'string');
      assert.equal(typeof o.msg, 'string');
      if (o.level === 'warn' || o.level === 'error' || o.level === 'fatal') assert.equal(typeof o.code, 'string', JSON.stringify(o));
    }
    const started = objects.filter((o) => o.event === 'started').at(-1)!;
    assert.deepEqual(started.capabilities, ['cap_net_raw']);
    assert.equal(started.uid, POD_UID);
    assert.equal(started.cliSocket, lab.podSocket);
    assert.equal(started.management, '0.0.0.0:9100');
    const ifs = started.interfaces as { name: string; vlan?: number; addresses: string[] }[];
    assert.deepEqual(ifs.find((i) => i.vlan === lab.settings.vlanId)?.addresses, [lab.settings.serverAddress]);
    const config = objects.filter((o) => o.event === 'config' && o.pid === started.pid).map((o) => o.line);
    const startupLines = readFileSync(join(lab.podConfDir, 'startup.conf'), 'utf8').split('\n').filter((l) => l.trim() !== '').length;
    assert.equal(config.length, startupLines, 'every startup-config line is logged');
  });

  it('fails fast with one clear line and exit 1 when the interface is missing or CAP_NET_RAW is lacking', async () => {
    const startup = join(lab.podConfDir, 'startup-missing.conf');
    writeFileSync(startup, 'create host-interface name nosuch0\n');
    const conf = join(lab.podConfDir, 'fail.conf');
    writeFileSync(conf, `unix {\n  nodaemon cli-listen ${join(lab.stateDir, 'pod', 'fail.sock')}\n  startup-config ${startup}\n}\n`);
    const normal = join(lab.podConfDir, 'fail-eperm.conf');
    writeFileSync(normal, `unix {\n  nodaemon cli-listen ${join(lab.stateDir, 'pod', 'fail.sock')}\n  startup-config ${join(lab.podConfDir, 'startup.conf')}\n}\n`);
    for (const f of [startup, conf, normal]) chownSync(f, POD_UID, POD_UID);

    const cases: Array<{ conf: string; caps: string[]; code: string; text: RegExp }> = [
      { conf, caps: ['net_raw'], code: 'ENODEV', text: /interface 'nosuch0' not found in this network namespace/ },
      { conf: normal, caps: [], code: 'EPERM', text: /needs CAP_NET_RAW/ },
    ];
    for (const c of cases) {
      const log = join(work, `fail-${c.code}.log`);
      const t0 = Date.now();
      const p = startPod(c.conf, log, c.caps);
      const exit = await p.exited;
      assert.equal(exit, 1, c.code);
      assert.ok(Date.now() - t0 < 5000, 'fails fast');
      const lines = readFileSync(log, 'utf8').trim().split('\n');
      const json = lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
      const errors = json.filter((o) => o.level === 'error');
      assert.equal(errors.length, 1, lines.join('\n'));
      assert.equal(errors[0].code, c.code);
      assert.match(String(errors[0].msg), c.text);
      const plain = lines.filter((l) => !l.startsWith('{'));
      assert.equal(plain.length, 1, 'one human-readable line on stderr');
      assert.match(plain[0], /^run: .*create host-interface: /);
      assert.match(plain[0], c.text);
    }
  });
});
