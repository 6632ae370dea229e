/**
 * TLS_SECRET in the delivery: `make kustomize TLS_SECRET=web-tls` renders the Secret volume
 * (read-only at /tls in the dataplane only) and the init environment (TLS_DIR, HTTPS_PORT); the
 * init step writes the listener line and keeps port 80; ENGINE=vpp with TLS_SECRET is refused;
 * render warns about the Secret and, with replicas, about the certificate's names. Without
 * TLS_SECRET nothing changes (the golden renders of deploy-render.test.ts).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

import { fileURLToPath } from 'node:url';
import { kubeletCommands, parseYaml, tlsNotes } from '../../src/deploy/manifests.js';
import { parseCommandOptions, COMMON_FLAGS } from '../../src/deploy/options.js';
import { initSettingsFromEnv, renderStartupConf } from '../../src/deploy/init.js';
import { ValueError } from '../../src/deploy/values.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));

function make(args: string[], env: Record<string, string> = {}) {
  const base: Record<string, string | undefined> = { ...process.env, MAKEFLAGS: '', MAKELEVEL: '' };
  for (const v of ['MACVLAN_MASTER', 'VLAN_ID', 'IP_ADDRESS', 'CONTAINER_IMAGE', 'CONTAINER_IMAGE_VPP', 'NAMESPACE', 'ENGINE', 'WWW_DIR', 'DEPLOY_FLAGS', 'REPLICAS', 'GATEWAY', 'TLS_SECRET']) delete base[v];
  return spawnSync('make', ['--no-print-directory', ...args], { cwd: repo, encoding: 'utf8', env: { ...base, ...env } });
}

describe('TLS_SECRET in the manifests', () => {
  test('make kustomize TLS_SECRET=web-tls renders the Secret volume, the read-only mount and the init environment', () => {
    const r = make(['-s', '-o', 'build', 'kustomize', 'TLS_SECRET=web-tls']);
    assert.equal(r.status, 0, r.stderr);
    const docs = parseYaml(r.stdout);
    const dep = docs.find((d) => d['kind'] === 'Deployment') as { spec: { template: { spec: Record<string, unknown> } } };
    const pod = dep.spec.template.spec as { volumes: Array<Record<string, unknown>> };
    const vol = pod.volumes.find((v) => v['name'] === 'tls');
    assert.deepEqual(vol, { name: 'tls', secret: { secretName: 'web-tls', defaultMode: 0o440, items: [{ key: 'tls.crt', path: 'tls.crt' }, { key: 'tls.key', path: 'tls.key' }] } });
    const k = kubeletCommands(r.stdout);
    assert.deepEqual(k.main.mounts.find((m) => m.name === 'tls'), { name: 'tls', mountPath: '/tls', readOnly: true });
    assert.equal(k.init.mounts.find((m) => m.name === 'tls'), undefined, 'the init container does not need the key');
    assert.equal(k.init.env['TLS_DIR'], '/tls');
    assert.equal(k.init.env['HTTPS_PORT'], '443');
    assert.equal(k.init.env['HTTP_PORT'], '80', 'port 80 stays');
    assert.equal(k.main.fsGroup, 10000, 'mode 0440 files are readable through the fsGroup');
    // the warning goes to stderr, the YAML stays clean
    assert.match(r.stderr, /note: TLS_SECRET web-tls: the pod mounts Secret vpp-server\/web-tls \(type kubernetes\.io\/tls/);
    assert.doesNotMatch(r.stdout, /note:/);
  });

  test('without TLS_SECRET there is no tls volume, mount or env', () => {
    const r = make(['-s', '-o', 'build', 'kustomize']);
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /\btls\b|TLS_DIR|HTTPS_PORT/);
    assert.equal(r.stderr, '');
  });

  test('ENGINE=vpp with TLS_SECRET is refused, saying why', () => {
    const r = make(['-s', '-o', 'build', 'kustomize', 'TLS_SECRET=web-tls', 'ENGINE=vpp']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /TLS_SECRET\) web-tls needs --engine ts: FD\.io VPP 24\.10 cannot load a certificate/);
    assert.throws(() => parseCommandOptions(['--engine', 'vpp', '--tls-secret', 'x'], {}, COMMON_FLAGS), ValueError);
    assert.throws(() => parseCommandOptions(['--tls-secret', 'Web_TLS'], {}, COMMON_FLAGS), /not a valid Secret name/);
  });

  test('with replicas the notes say the certificate must name every pod', () => {
    const o = parseCommandOptions(['--replicas', '3'], { TLS_SECRET: 'web-tls' }, COMMON_FLAGS);
    const notes = tlsNotes(o.config);
    assert.equal(notes.length, 2);
    assert.match(notes[1]!, /REPLICAS 3 with TLS_SECRET: every pod serves the same certificate on its own address \(192\.168\.123\.150 and the next 2\)/);
  });
});

describe('the init step with TLS_DIR', () => {
  const env = { VLAN_ID: '123', IP_ADDRESS: '192.168.123.150/24', TLS_DIR: '/tls', HTTPS_PORT: '443' };
  test('writes the two lines of the issue: HTTP on 80 and the TLS listener with the mounted pair', () => {
    const s = initSettingsFromEnv(env);
    const conf = renderStartupConf(s, '02:00:00:00:00:01').trim().split('\n');
    assert.deepEqual(conf.slice(-2), [
      'http static server www-root /www uri tcp://0.0.0.0/80 cache-size 512m',
      'http static listener add uri tls://0.0.0.0/443 cert /tls/tls.crt key /tls/tls.key',
    ]);
  });
  test('refuses a relative TLS_DIR, HTTPS_PORT equal to HTTP_PORT, and HTTPS_PORT alone', () => {
    assert.throws(() => initSettingsFromEnv({ ...env, TLS_DIR: 'tls' }), /TLS_DIR/);
    assert.throws(() => initSettingsFromEnv({ ...env, HTTPS_PORT: '80' }), /HTTPS_PORT 80 is HTTP_PORT too/);
    assert.throws(() => initSettingsFromEnv({ VLAN_ID: '123', IP_ADDRESS: '192.168.123.150/24', HTTPS_PORT: '443' }), /HTTPS_PORT is set but TLS_DIR is not/);
  });
  test('without TLS_DIR the seed’s lines are unchanged', () => {
    const conf = renderStartupConf(initSettingsFromEnv({ VLAN_ID: '123', IP_ADDRESS: '192.168.123.150/24' }), '02:00:00:00:00:01');
    assert.doesNotMatch(conf, /tls/);
  });
});

