/**
 * HTTPS configuration through the engine (memory devices): VPP's `uri tls://` and 25.06's
 * `http static listener add`, the self-signed fallback and its warning, `show http static
 * server`, refused configurations with their reasons, and the TLS metrics.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { Engine } from '../../src/engine.js';
import { execute } from '../../src/cli/cli.js';
import { MemoryDevice } from '../../src/io/memory-device.js';
import { createLogger, LogRing } from '../../src/log.js';
import type { EngineConfig } from '../../src/cli/vpp-conf.js';
import { selfSignedPair } from '../../src/http/tls-credentials.js';
import { SEED_STARTUP_LINES, KERNEL_MAC_TEXT } from '../helpers/dataplane.js';
import { mac } from '../helpers/frames.js';

describe('HTTPS configuration in the engine', () => {
  const dir = mkdtempSync(join(tmpdir(), 'https-engine-'));
  const www = join(dir, 'www');
  const tlsDir = join(dir, 'tls');
  const logFile = join(dir, 'engine.log');
  const ring = new LogRing(200);
  const pair = selfSignedPair({ names: ['web.example.test'], commonName: 'web.example.test' });
  const other = selfSignedPair({ names: ['other.example.test'] });
  let engine: Engine;
  let base = '';
  const cli = async (line: string) => execute(engine.registry, line, engine.context);

  before(async () => {
    mkdirSync(www);
    mkdirSync(tlsDir);
    writeFileSync(join(www, 'index.html'), 'Welcome\n');
    writeFileSync(join(tlsDir, 'tls.crt'), pair.certPem);
    writeFileSync(join(tlsDir, 'tls.key'), pair.keyPem);
    writeFileSync(join(tlsDir, 'other.key'), other.keyPem);
    const startup = join(dir, 'startup.conf');
    writeFileSync(
      startup,
      [
        ...SEED_STARTUP_LINES,
        `http static server www-root ${www} uri tcp://0.0.0.0/80 cache-size 1m`,
        `http static listener add uri tls://0.0.0.0/443 cert ${tlsDir}/tls.crt key ${tlsDir}/tls.key`,
        'http static listener add uri tls://192.168.123.150/8443',
        '',
      ].join('\n'),
    );
    const config: EngineConfig = { nodaemon: true, startupConfig: startup, engine: { management: '127.0.0.1:0' }, warnings: [] };
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

  it('shows each listener, and for TLS the subject, SANs, not-after and fingerprint', async () => {
    const r = await cli('show http static server');
    assert.equal(r.ok, true, r.output);
    assert.match(r.output, /listener tcp:\/\/0\.0\.0\.0\/80 {2}http\/1\.1, h2c \(prior knowledge\)/);
    assert.match(r.output, /listener tls:\/\/0\.0\.0\.0\/443 {2}tls 1\.2-1\.3, alpn h2, http\/1\.1/);
    assert.ok(r.output.includes(`certificate  ${tlsDir}/tls.crt key ${tlsDir}/tls.key`), r.output);
    assert.match(r.output, /subject +CN=web\.example\.test/);
    assert.match(r.output, /SANs +DNS:web\.example\.test/);
    assert.ok(r.output.includes(`sha256       ${pair.leaf.fingerprint256}`), r.output);
    assert.ok(r.output.includes(`not after    ${pair.leaf.validTo}`), r.output);
    // The listener without cert/key: self-signed for the interface address, with a warning.
    assert.match(r.output, /listener tls:\/\/192\.168\.123\.150\/8443[\s\S]*self-signed for this process[\s\S]*IP Address:192\.168\.123\.150/);
    const warn = readFileSync(logFile, 'utf8').split('\n').find((l) => l.includes('TLS_SELF_SIGNED'));
    assert.ok(warn !== undefined, 'a TLS_SELF_SIGNED warning was logged');
    assert.equal(JSON.parse(warn).level, 'warn');
    const session = await cli('show session');
    assert.match(session.output, /\[T\] 0\.0\.0\.0:443->0\.0\.0\.0:0 LISTEN \(tls\)/);
  });

  it('refuses a second listener on a port, a key that is not the certificate’s, and a missing file', async () => {
    const dup = await cli('http static listener add uri tls://192.168.123.150/443');
    assert.equal(dup.ok, false);
    assert.match(dup.output, /already listens on port 443/);
    const mismatch = await cli(`http static listener add uri tls://0.0.0.0/9443 cert ${tlsDir}/tls.crt key ${tlsDir}/other.key`);
    assert.equal(mismatch.ok, false);
    assert.match(mismatch.output, /tls:\/\/0\.0\.0\.0\/9443: .*the private key does not belong to the certificate/);
    const missing = await cli(`http static listener add uri tls://0.0.0.0/9443 cert ${tlsDir}/nope.crt key ${tlsDir}/tls.key`);
    assert.equal(missing.ok, false);
    assert.match(missing.output, /cannot read .*nope\.crt: ENOENT/);
    // IPv6 (issue 10): `::` is its own wildcard, beside 0.0.0.0; a second one on the port is refused.
    const v6 = await cli('http static listener add uri tls://::/9443');
    assert.equal(v6.ok, true, v6.output);
    const v6dup = await cli('http static listener add uri tls://[2001:db8::1]/9443');
    assert.equal(v6dup.ok, false);
    assert.match(v6dup.output, /already listens on port 9443 \(tls:\/\/::\/9443\)/);
  });

  it('exports TLS metrics: certificate expiry, handshakes, reload failures', async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    const expiry = /^vpp_tls_certificate_not_after_seconds\{listener="0\.0\.0\.0:443"\} (\d+)$/m.exec(text);
    assert.ok(expiry !== null, text.split('\n').filter((l) => l.includes('tls')).join('\n'));
    assert.equal(Number(expiry[1]), Math.floor(Date.parse(pair.leaf.validTo) / 1000));
    assert.match(text, /^vpp_tls_reload_failures_total\{listener="0\.0\.0\.0:443",reason="key-mismatch"\} 0$/m);
    assert.match(text, /^vpp_tls_reload_failures_total\{listener="0\.0\.0\.0:443",reason="expired"\} 0$/m);
    assert.match(text, /^vpp_tls_connections_refused_total\{listener="0\.0\.0\.0:443",reason="handshake-limit-source"\} 0$/m);
    assert.match(text, /^vpp_tls_handshakes_total\{listener="0\.0\.0\.0:443",version="TLSv1\.3"\} 0$/m);
    assert.match(text, /^vpp_http2_sessions_total\{server="0\.0\.0\.0:80"\} 0$/m);
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    if (check.error === undefined) assert.equal(check.status, 0, `promtool check metrics:\n${check.stdout}${check.stderr}`);
  });

  it('a server whose only uri is tls:// serves HTTPS alone (VPP’s line)', async () => {
    const before = engine.services.http.length;
    const r = await cli(`http static server www-root ${www} uri tls://0.0.0.0/7443 cert ${tlsDir}/tls.crt key ${tlsDir}/tls.key cache-size 1m`);
    assert.equal(r.ok, true, r.output);
    const entry = engine.services.http[before]!;
    assert.deepEqual(entry.listeners.map((l) => `${l.command.transport}://${l.command.address}/${l.command.port}`), ['tls://0.0.0.0/7443']);
    const show = (await cli('show http static server')).output.split('\n\n')[before]!;
    assert.match(show, /listener tls:\/\/0\.0\.0\.0\/7443/);
    assert.doesNotMatch(show, /listener tcp:/);
  });

  it('help lists the listener syntax', async () => {
    const r = await cli('help http static');
    assert.match(r.output, /http static listener add uri tcp:\/\/<addr>\/<port> \| uri tls:\/\/<addr>\/<port> \[cert <file> key <file>\] \[redirect-to-https\]/);
  });
});
