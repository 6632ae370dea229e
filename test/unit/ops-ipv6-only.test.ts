/**
 * An IPv6-only pod's startup.conf (as `vpp-server init` writes it for an IPv6 IP_ADDRESS) run by
 * the engine over a memory device: no IPv4 address anywhere, /readyz not ready while the address
 * is tentative and ready once DAD passed, the HTTP server on tcp://::/80, and a TLS listener
 * without cert/key whose self-signed certificate names the IPv6 address (not the wildcard `::`).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine } from '../../src/engine.js';
import { execute } from '../../src/cli/cli.js';
import { MemoryDevice } from '../../src/io/memory-device.js';
import { createLogger, LogRing } from '../../src/log.js';
import type { EngineConfig } from '../../src/cli/vpp-conf.js';
import { DadState } from '../../src/dataplane/interface.js';
import { initSettingsFromEnv, renderStartupConf } from '../../src/deploy/init.js';
import { KERNEL_MAC_TEXT } from '../helpers/dataplane.js';
import { mac } from '../helpers/frames.js';

describe('an IPv6-only pod in the engine (memory device)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ipv6-only-'));
  const www = join(dir, 'www');
  const logFile = join(dir, 'engine.log');
  const ring = new LogRing(200);
  let engine: Engine;
  let base = '';
  let startup = '';
  const cli = async (line: string) => {
    const r = await execute(engine.registry, line, engine.context);
    assert.equal(r.ok, true, `${line}: ${r.output}`);
    return r.output;
  };

  before(async () => {
    mkdirSync(www);
    writeFileSync(join(www, 'index.html'), 'Welcome\n');
    const settings = initSettingsFromEnv({ VLAN_ID: '123', IP_ADDRESS: '2001:db8:123::150/64', GATEWAY6: 'fe80::1', WWW_ROOT: www, CONF_DIR: join(dir, 'conf') });
    // what init writes, plus an HTTPS listener without cert/key (the self-signed fallback)
    startup = `${renderStartupConf(settings, KERNEL_MAC_TEXT)}http static listener add uri tls://::/8443\n`;
    writeFileSync(join(dir, 'startup.conf'), startup);
    const config: EngineConfig = { nodaemon: true, startupConfig: join(dir, 'startup.conf'), engine: { management: '127.0.0.1:0' }, warnings: [] };
    engine = new Engine({
      config,
      log: createLogger({ destination: logFile, ring, level: 'debug' }),
      logRing: ring,
      openDevice: (ifname) => new MemoryDevice(ifname, mac(KERNEL_MAC_TEXT)),
    });
    await engine.start();
    base = `http://${String(engine.summary().management)}`;
  });
  after(async () => {
    await engine.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the startup.conf has no IPv4 line and the engine takes every line of it', async () => {
    assert.doesNotMatch(startup, /\b\d+\.\d+\.\d+\.\d+\b/);
    const addr = await cli('show interface address');
    assert.match(addr, /L3 2001:db8:123::150\/64/);
    assert.doesNotMatch(addr, /L3 \d+\.\d+\.\d+\.\d+/);
    assert.match(await cli('show ip6 fib'), /::\/0[\s\S]*via fe80::1 host-macvlan0\.123/);
    assert.match(await cli('show http static server'), /listener tcp:\/\/\[::\]\/80 /);
  });

  it('/readyz: not ready while the address is tentative (no IPv4 to fall back on), ready once DAD passed', async () => {
    // Read in one synchronous step: the DAD state and the readiness computed from it.
    const sub = engine.dp.interfaces.find((sw) => sw.name === 'host-macvlan0.123')!;
    const global = sub.ip6!.addresses.find((a) => !a.linkLocal)!;
    if (global.dad === DadState.Tentative) {
      const r = engine.ready();
      assert.equal(r.ok, false);
      assert.match(r.reasons.join('\n'), /no IPv4 address configured, nor an IPv6 one that passed DAD/);
    }
    // DAD takes RetransTimer (1 s) after the probe: poll the endpoint as the kubelet would.
    const deadline = Date.now() + 15_000;
    let last = '';
    for (;;) {
      const res = await fetch(`${base}/readyz`);
      last = `${res.status} ${await res.text()}`;
      if (res.status === 200) break;
      assert.ok(Date.now() < deadline, `never ready: ${last}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(global.dad, DadState.Preferred);
    assert.match(await cli('show ip6 interface host-macvlan0.123'), /2001:db8:123::150: preferred/);
  });

  it('the self-signed fallback certificate names the IPv6 address, not the wildcard', async () => {
    const show = await cli('show http static server');
    const tls = show.slice(show.indexOf('listener tls://[::]/8443'));
    assert.match(tls, /self-signed for this process/);
    assert.match(tls, /IP Address:2001:DB8:123:0:0:0:0:150/i);
    assert.doesNotMatch(tls.split('\n').find((l) => l.includes('SANs')) ?? '', /IP Address:0:0:0:0:0:0:0:0|IP Address:::(,|$)/);
    const warn = readFileSync(logFile, 'utf8').split('\n').find((l) => l.includes('TLS_SELF_SIGNED'));
    assert.ok(warn !== undefined);
    assert.match(JSON.parse(warn).subjectAltName, /IP Address:2001:DB8:123:0:0:0:0:150/i);
  });
});
