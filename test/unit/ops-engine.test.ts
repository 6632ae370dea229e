/**
 * The engine's operations side over in-memory devices: readiness through the management
 * endpoint, /metrics equal to `show interface` and accepted by promtool, a node exception
 * counted and logged without stopping the dataplane, `show log` / `show buffers` / `show memory`
 * / `show health`, drain, a stale CLI socket replaced, JSON log lines.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { Engine } from '../../src/engine.js';
import { execute } from '../../src/cli/cli.js';
import { CliClient } from '../../src/cli/cli-client.js';
import { MemoryDevice } from '../../src/io/memory-device.js';
import { createLogger, LogRing } from '../../src/log.js';
import type { EngineConfig } from '../../src/cli/vpp-conf.js';
import { SEED_STARTUP_LINES, KERNEL_MAC_TEXT } from '../helpers/dataplane.js';
import { mac, pingFrame, tcpFrame } from '../helpers/frames.js';

const ADDRESS_LINE = 'set int ip address host-macvlan0.123 192.168.123.150/24';

function promtool(): string | null {
  const r = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? 'promtool' : null;
}

/** Parses Prometheus text into "name{labels}" → value. */
function parseMetrics(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
}

/** The value of one counter row of `show interface <if>`, 0 when absent. */
function counter(showInterface: string, name: string): number {
  const r = new RegExp(`${name}\\s+(\\d+)`).exec(showInterface);
  return r === null ? 0 : Number(r[1]);
}

describe('engine operations over memory devices', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ops-engine-'));
  const www = join(dir, 'www');
  const logFile = join(dir, 'engine.log');
  const ring = new LogRing(100);
  let engine: Engine;
  let device: MemoryDevice;
  let base = '';

  const cli = async (line: string): Promise<string> => {
    const r = await execute(engine.registry, line, engine.context);
    if (!r.ok) throw new Error(`${line}: ${r.output}`);
    return r.output;
  };
  const send = (frames: Buffer[]): Buffer[] => {
    device.takeSent();
    for (const f of frames) device.inject(f, {});
    device.deliver();
    return device.takeSent();
  };

  before(async () => {
    spawnSync('mkdir', ['-p', www]);
    writeFileSync(join(www, 'index.html'), 'Welcome\n');
    const startup = join(dir, 'startup.conf');
    // The seed's startup.conf without the address: not ready until it is set.
    writeFileSync(startup, [...SEED_STARTUP_LINES.filter((l) => l !== ADDRESS_LINE), `http static server www-root ${www} uri tcp://0.0.0.0/80 cache-size 1m`, ''].join('\n'));
    const config: EngineConfig = {
      nodaemon: true,
      startupConfig: startup,
      cliListen: join(dir, 'cli.sock'),
      engine: { management: '127.0.0.1:0', 'stall-threshold': '1' },
      warnings: [],
    };
    const log = createLogger({ destination: logFile, ring, level: 'debug' });
    engine = new Engine({
      config,
      log,
      logRing: ring,
      openDevice: (ifname) => {
        device = new MemoryDevice(ifname, mac(KERNEL_MAC_TEXT));
        return device;
      },
    });
    await engine.start();
    base = `http://${String(engine.summary().management)}`;
  });
  after(async () => {
    await engine.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers /readyz 503 before the address is set and 200 after; /healthz 200', async () => {
    const r1 = await fetch(`${base}/readyz`);
    assert.equal(r1.status, 503);
    const body = (await r1.json()) as { reasons: string[] };
    assert.match(body.reasons.join('\n'), /no IPv4 address configured, nor an IPv6 one/);
    await cli(ADDRESS_LINE);
    const r2 = await fetch(`${base}/readyz`);
    assert.equal(r2.status, 200, JSON.stringify(await r2.clone().json()));
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
  });

  it('serves /metrics whose interface counters equal show interface, accepted by promtool', async (t) => {
    // The client as after its first ARP (later tests rely on it too).
    await cli('set ip neighbor host-macvlan0.123 192.168.123.10 52:54:00:12:34:56');
    const replies = send([1, 2, 3, 4, 5].map((seq) => pingFrame({ seq })));
    assert.equal(replies.length, 5);
    const text = await (await fetch(`${base}/metrics`)).text();
    const m = parseMetrics(text);
    for (const sw of ['host-macvlan0', 'host-macvlan0.123']) {
      const show = await cli(`show interface ${sw}`);
      for (const [row, metric] of [
        ['rx packets', 'vpp_interface_rx_packets_total'],
        ['rx bytes', 'vpp_interface_rx_bytes_total'],
        ['tx packets', 'vpp_interface_tx_packets_total'],
        ['tx bytes', 'vpp_interface_tx_bytes_total'],
        ['drops', 'vpp_interface_drops_total'],
        ['ip4', 'vpp_interface_ip4_packets_total'],
      ]) {
        assert.equal(m.get(`${metric}{interface="${sw}"}`), counter(show, row), `${sw} ${row}`);
      }
    }
    assert.ok((m.get('vpp_interface_rx_packets_total{interface="host-macvlan0.123"}') ?? 0) >= 5);
    assert.equal(m.get('vpp_errors_total{node="ip4-icmp-input",reason="echo replies sent",severity="info"}'), 5);
    assert.ok((m.get('vpp_node_vectors_total{node="ip4-icmp-input"}') ?? 0) >= 5);
    assert.equal(m.get('vpp_ready'), 1);
    assert.equal(m.get('vpp_live'), 1);
    assert.equal(m.get('vpp_http_connections_open{server="0.0.0.0:80"}'), 0);
    assert.equal(m.get('vpp_tcp_connections{state="established"}'), 0);
    assert.ok(m.has('process_resident_memory_bytes'), 'process metrics');
    assert.ok(m.has('nodejs_heap_size_used_bytes'), 'Node.js metrics');
    const tool = promtool();
    if (tool === null) {
      t.skip('promtool is not installed (Debian package prometheus)');
      return;
    }
    const check = spawnSync(tool, ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(check.status, 0, `promtool check metrics:\n${check.stdout}${check.stderr}`);
  });

  it('counts and logs an exception inside a node, and goes on with the next vector', async () => {
    const realTcp = engine.dp.tcp;
    engine.dp.tcp = {
      input() {
        throw new Error('injected failure');
      },
    };
    try {
      const out = send([pingFrame({ seq: 10 }), tcpFrame({ flags: 2 }), pingFrame({ seq: 11 })]);
      // The vector was abandoned in tcp4-input, after ip4-icmp-input had answered both pings.
      assert.equal(out.length, 2, 'replies built before the failure are still sent');
      assert.equal(engine.dp.exceptions['tcp4-input'], 1);
      // The next vectors are processed normally.
      assert.equal(send([pingFrame({ seq: 12 })]).length, 1);
      send([tcpFrame({ flags: 2, srcPort: 40001 })]);
      assert.equal(engine.dp.exceptions['tcp4-input'], 2);
    } finally {
      engine.dp.tcp = realTcp;
    }
    assert.match(await cli('show errors'), /\s2\s+tcp4-input\s+exception \(vector abandoned\)\s+error/);
    const m = parseMetrics(await (await fetch(`${base}/metrics`)).text());
    assert.equal(m.get('vpp_node_exceptions_total{node="tcp4-input"}'), 2);
    const lines = ring.last().map((l) => JSON.parse(l) as Record<string, unknown>);
    const logged = lines.filter((l) => l.code === 'NODE_EXCEPTION');
    assert.equal(logged.length, 1, 'the second exception within 10 s is counted, not logged again');
    assert.equal(logged[0].node, 'tcp4-input');
    assert.equal(logged[0].level, 'error');
    assert.match(String(logged[0].msg), /the dataplane goes on/);
    assert.match(JSON.stringify(logged[0].err), /injected failure/);
    // And TCP works again with the real stack.
    const synAck = send([tcpFrame({ flags: 2, srcPort: 40002 })]);
    assert.equal(synAck.length, 1, 'SYN answered');
  });

  it('keeps the TCP drop reasons that tell where a spoofed segment fell off /metrics (not even a sum), all of them in show errors', async () => {
    // An RST for a 4-tuple with no connection: rst-no-connection says "no such connection"
    assert.equal(send([tcpFrame({ flags: 4, srcPort: 40100, seq: 12345 })]).length, 0);
    assert.match(await cli('show errors'), /\s\d+\s+tcp4-session\s+rst-no-connection\s/);
    const text = await (await fetch(`${base}/metrics`)).text();
    const m = parseMetrics(text);
    assert.equal(m.has('vpp_errors_total{node="tcp4-session",reason="segment-checks",severity="error"}'), false, 'no sum of the private reasons (review r/metrics F10)');
    assert.doesNotMatch(text, /reason="(segment-checks|ooo-overflow|ooo-drop-memory|ooo-pruned-memory|rcv-drop-memory|rst-no-connection|rst-challenge|rst-out-of-window|syn-challenge|ack-too-old|ack-too-new|challenge-ack-limit|connection-reset)"/);
    assert.doesNotMatch(text, /vpp_tcp_challenge_acks_total/);
    assert.ok(m.has('vpp_tcp_rst_in_total'), 'the other TCP counters are still exported');
  });

  it('shows the log, buffers, memory and health on the CLI', async () => {
    const log = await cli('show log 5');
    assert.equal(log.split('\n').length, 5);
    assert.match(log, /^\d{4}-\d\d-\d\dT\S+ (info|warn|error|debug)\s/m);
    const json = await cli('show log 3 json');
    for (const l of json.split('\n')) assert.equal(typeof (JSON.parse(l) as { msg: string }).msg, 'string');
    assert.match(await cli('show buffers'), /host-macvlan0\s+tx batch\s+256\s+2048\s+0\s+524288/);
    assert.match(await cli('show memory'), /rss\s+[\d.]+ MiB/);
    assert.match(await cli('show health'), /live \(\/healthz\): ok\nready \(\/readyz\): ok\nmanagement endpoint: http:\/\/127\.0\.0\.1:\d+\//);
    assert.match(await cli('show hardware-interfaces'), /kernel socket statistics: packets \d+ drops 0 freeze 0/);
  });

  it('shows the memory budget on the CLI, in /metrics and in the start-up summary', async () => {
    const show = await cli('show tcp memory');
    assert.match(show, /^memory budget [\d.]+ [MG]iB \(25% of (cgroup v[12] \S+|RAM \(no cgroup memory limit\)) [\d.]+ [MG]iB, the default\)$/m);
    assert.match(show, /^  out-of-order\s+0 B\s+peak 0 B$/m);
    assert.match(show, /^per source address: at most 1024 connections and [\d.]+ [KMG]iB/m);
    assert.match(show, /^minimum send rate 16384 bytes per 30 s; readers dropped below it 0 \(send-rate-too-low\)$/m);
    assert.match(show, /^\s+0  source-conn-limit\s+new connection refused/m);
    const m = parseMetrics(await (await fetch(`${base}/metrics`)).text());
    assert.equal(m.get('vpp_memory_budget_bytes'), engine.memory.budget);
    // Out-of-order bytes are only on the CLI (a side channel on /metrics, tcp/private-reasons.ts).
    assert.equal(m.get('vpp_memory_buffered_bytes{kind="out-of-order"}'), undefined);
    assert.equal(m.get('vpp_memory_buffered_bytes{kind="receive"}'), 0);
    const summary = engine.summary().memory as { budget: string; perSource: string; minSendRate: string };
    assert.match(summary.budget, /^[\d.]+ [MG]iB \(25% of /);
    assert.equal(summary.minSendRate, '16.0 KiB per 30 s');
  });

  it('reports a stalled event loop on /healthz (debug stall) and counts it', async () => {
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    await cli('debug stall 1500');
    const r = await fetch(`${base}/healthz`);
    assert.equal(r.status, 503);
    assert.match(((await r.json()) as { reasons: string[] }).reasons.join('\n'), /event loop stalled for 1[5-9]\d\d ms/);
    assert.equal((await fetch(`${base}/readyz`)).status, 503, 'not ready while not live');
    assert.equal(engine.health.stalls, 1);
    assert.match(await (await fetch(`${base}/metrics`)).text(), /^vpp_event_loop_stalls_total 1$/m);
  });

  it('writes JSON lines only, warnings and errors with a code', () => {
    const lines = readFileSync(logFile, 'utf8').trimEnd().split('\n');
    assert.ok(lines.length >= 8);
    for (const line of lines) {
      const o = JSON.parse(line) as Record<string, unknown>;
      assert.equal(typeof o.time, 'string');
      assert.equal(typeof o.msg, 'string');
      assert.ok(['trace', 'debug', 'info', 'warn', 'error', 'fatal'].includes(String(o.level)));
      if (o.level === 'warn' || o.level === 'error' || o.level === 'fatal') assert.equal(typeof o.code, 'string', line);
    }
    assert.ok(lines.some((l) => l.includes('"event":"config"') && l.includes('create sub-interfaces host-macvlan0 123')), 'config lines are logged');
  });

  it('drains at once when no connection is open, and reports not ready while draining', async () => {
    const r = await engine.drain(1000);
    assert.equal(r.clean, true);
    assert.equal(r.remaining, 0);
    assert.ok(r.elapsedMs < 500);
    const ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 503);
    assert.match(JSON.stringify(await ready.json()), /shutting down/);
  });
});

describe('engine start-up', () => {
  it('replaces a stale CLI socket left by a killed process and logs it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ops-stale-'));
    const path = join(dir, 'cli.sock');
    try {
      // A process that listens on the socket and is killed: the socket file stays behind.
      const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
      assert.ok(existsSync(path), 'the stale socket file is there');
      const ring = new LogRing(50);
      const engine = new Engine({
        config: { nodaemon: true, cliListen: path, engine: {}, warnings: [] },
        log: createLogger({ destination: join(dir, 'log'), ring }),
        logRing: ring,
        openDevice: (ifname) => new MemoryDevice(ifname, mac(KERNEL_MAC_TEXT)),
      });
      await engine.start();
      try {
        const warn = ring.last().map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.code === 'STALE_CLI_SOCKET');
        assert.ok(warn !== undefined, 'STALE_CLI_SOCKET logged');
        assert.equal(warn.level, 'warn');
        const client = await CliClient.connect(path);
        const reply = await client.run('show version');
        client.close();
        assert.equal(reply.ok, true);
        assert.match(reply.output, /vpp-server v/);
      } finally {
        await engine.stop();
      }
      assert.equal(existsSync(path), false, 'stop() removes the socket');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects a bad management value or shutdown-grace with what is valid', () => {
    const make = (engine: Record<string, string>) =>
      new Engine({
        config: { nodaemon: true, engine, warnings: [] },
        log: createLogger({ level: 'silent' }),
        openDevice: (ifname) => new MemoryDevice(ifname, mac(KERNEL_MAC_TEXT)),
      });
    assert.throws(() => make({ management: 'yes' }), { code: 'CONFIG_ERROR', message: /management yes: expected off, <port>/ });
    assert.throws(() => make({ 'shutdown-grace': '-1' }), { code: 'CONFIG_ERROR', message: /shutdown-grace -1 }: expected seconds between 0 and 3600/ });
    assert.equal(make({ management: 'off' }).managementAddress, null);
    assert.equal(make({}).managementAddress, null, 'off unless configured');
    assert.equal(make({ 'shutdown-grace': '2.5' }).shutdownGraceMs, 2500);
  });
});
