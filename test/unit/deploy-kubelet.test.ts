import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildManifests, toYaml, type DeployConfig } from '../../src/deploy/manifests.js';
import { capNodeCopy, kubeletPlan, prepareEmptyDirs, setprivArgs } from '../../src/deploy/kubelet.js';
import { parseIpv4Cidr } from '../../src/deploy/values.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const golden = (name: string) => readFileSync(join(repo, 'test/unit/golden', name), 'utf8');

const seed = (over: Partial<DeployConfig> = {}): DeployConfig => ({
  master: 'eno8403np1', vlanId: 123, ip: parseIpv4Cidr('192.168.123.150/24'), namespace: 'vpp-server',
  image: 'quay.io/example/vpp-server:0.1.0', imageVpp: 'quay.io/example/vpp:24.10', engine: 'ts', platform: 'openshift', ...over,
});

function scratch() {
  const root = mkdtempSync(join(tmpdir(), 'vpp-kubelet-'));
  chmodSync(root, 0o755);
  const sysfs = join(root, 'sys');
  mkdirSync(join(sysfs, 'macvlan0'), { recursive: true });
  writeFileSync(join(sysfs, 'macvlan0/address'), 'c6:b4:b5:74:11:88\n');
  chmodSync(sysfs, 0o755);
  return { root, sysfs, stateDir: join(root, 'pod'), done: () => rmSync(root, { recursive: true, force: true }) };
}

describe('kubelet plan: the rendered containers run outside a cluster (for the e2e test)', () => {
  test('setpriv arguments as the kubelet: uid/gid, no groups, the capabilities in the bounding set only, nothing ambient or inheritable, no_new_privs', () => {
    assert.deepEqual(setprivArgs(10000, 10000, ['NET_RAW']), [
      'setpriv', '--reuid=10000', '--regid=10000', '--clear-groups',
      '--inh-caps=-all', '--ambient-caps=-all', '--bounding-set=-all,+net_raw', '--no-new-privs', '--',
    ]);
    assert.ok(setprivArgs(10000, 10000, []).includes('--bounding-set=-all'));
    // the named exception, for tests about something else than the capability path
  });

  test('the plan maps programs to this checkout and emptyDirs to local directories', () => {
    const t = scratch();
    try {
      const plan = kubeletPlan(toYaml(buildManifests(seed())), { repoRoot: repo, stateDir: t.stateDir, node: '/usr/bin/node', capNode: '/cap/vpp-server-node' });
      const sep = plan.main.argv.indexOf('--');
      // the dataplane runs the file-capability copy; init the plain node
      assert.deepEqual(plan.main.argv.slice(sep + 1), ['/cap/vpp-server-node', '--max-semi-space-size=8', join(repo, 'bin/vpp-server.js'), 'run', '-c', join(t.stateDir, 'conf/vpp.conf'), '--management', '0.0.0.0:9100']);
      assert.equal(plan.init.argv[plan.init.argv.indexOf('--') + 1], '/usr/bin/node');
      assert.ok(plan.main.argv.includes('--bounding-set=-all,+net_raw'));
      assert.ok(plan.main.argv.includes('--ambient-caps=-all'), 'never the ambient set');
      assert.ok(plan.init.argv.includes('--bounding-set=-all'), 'init gets no capability');
      assert.equal(plan.init.env['CONF_DIR'], join(t.stateDir, 'conf'));
      assert.equal(plan.init.env['WWW_ROOT'], join(t.stateDir, 'www'));
      assert.equal(plan.init.env['CLI_SOCKET'], join(t.stateDir, 'run-vpp/cli-vpp1.sock'));
      assert.deepEqual(Object.keys(plan.dirs).sort(), ['/conf', '/run/vpp', '/tmp', '/www']);
      assert.equal(plan.uid, 10000);
      // HTTP probes of the management endpoint become curl on the pod's loopback.
      assert.deepEqual(plan.probes.liveness, ['curl', '-fsS', '-o', '/dev/null', '--max-time', '5', 'http://127.0.0.1:9100/healthz']);
      assert.deepEqual(plan.probes.readiness, ['curl', '-fsS', '-o', '/dev/null', '--max-time', '5', 'http://127.0.0.1:9100/readyz']);
      // exec probes (as FD.io VPP's) are mapped like the container's command.
      const sock = join(t.stateDir, 'run-vpp/cli-vpp1.sock');
      const execPlan = kubeletPlan(toYaml(buildManifests(seed({ probes: 'exec' }))), { repoRoot: repo, stateDir: t.stateDir, node: '/usr/bin/node', capNode: '/cap/vpp-server-node' });
      assert.deepEqual(execPlan.probes.liveness, ['/usr/bin/node', join(repo, 'bin/vpp-server.js'), 'ctl', '-s', sock, 'show', 'interface', 'address']);
      assert.deepEqual(execPlan.probes.readiness, ['/bin/sh', '-c', `/usr/bin/node ${join(repo, 'bin/vpp-server.js')} ctl -s ${sock} show interface address | grep -qxF '  L3 192.168.123.150/24'`]);
      assert.throws(() => kubeletPlan(buildManifests(seed({ engine: 'vpp' })), { repoRoot: repo, stateDir: t.stateDir, capNode: '/cap/x' }), /only --engine ts can run outside its image/);
      // a StatefulSet: POD_NAME from the downward API is the pod's name
      const sts = kubeletPlan(buildManifests(seed({ replicas: 2 })), { repoRoot: repo, stateDir: t.stateDir, capNode: '/cap/x', podName: 'vpp-server-1' });
      assert.equal(sts.init.env['POD_NAME'], 'vpp-server-1');
      assert.equal(sts.init.env['REPLICAS'], '2');
    } finally {
      t.done();
    }
  });

  test('the rendered init container, run as planned (without setpriv), writes the seed files', () => {
    const t = scratch();
    try {
      const plan = kubeletPlan(buildManifests(seed()), { repoRoot: repo, stateDir: t.stateDir, capNode: '/cap/x' });
      for (const d of Object.values(plan.dirs)) mkdirSync(d, { recursive: true });
      const argv = plan.init.argv.slice(plan.init.argv.indexOf('--') + 1);
      const r = spawnSync(argv[0]!, argv.slice(1), { env: { ...plan.init.env, SYSFS_NET: t.sysfs }, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const conf = plan.dirs['/conf']!;
      const www = plan.dirs['/www']!;
      const run = plan.dirs['/run/vpp']!;
      assert.equal(readFileSync(join(conf, 'vpp.conf'), 'utf8').replaceAll(conf, '/conf').replaceAll(run, '/run/vpp'), golden('seed-vpp.conf'));
      assert.equal(readFileSync(join(conf, 'startup.conf'), 'utf8').replaceAll(www, '/www'), golden('seed-startup.conf'));
      assert.equal(readFileSync(join(www, 'index.html'), 'utf8'), 'Welcome\n');
    } finally {
      t.done();
    }
  });

  const root = process.getuid?.() === 0;
  const hasSetpriv = spawnSync('setpriv', ['--version']).status === 0;
  // uid 10000 must be able to read this checkout (not so under a 0700 home directory)
  const asPod = setprivArgs(10000, 10000, []);
  const readable = root && hasSetpriv && spawnSync(asPod[0]!, [...asPod.slice(1), process.execPath, join(repo, 'bin/vpp-server.js'), '--version']).status === 0;
  const skip = !(root && hasSetpriv) ? 'needs root and setpriv' : !readable ? 'uid 10000 cannot read this checkout' : false;
  test('as root: the init container runs as uid 10000 through setpriv, in emptyDirs owned by 10000', { skip }, () => {
    const t = scratch();
    try {
      const plan = kubeletPlan(buildManifests(seed()), { repoRoot: repo, stateDir: t.stateDir, capNode: '/cap/x' });
      mkdirSync(t.stateDir, { mode: 0o755 });
      prepareEmptyDirs(plan);
      assert.equal(statSync(plan.dirs['/conf']!).uid, 10000);
      const r = spawnSync(plan.init.argv[0]!, plan.init.argv.slice(1), { env: { ...plan.init.env, SYSFS_NET: t.sysfs }, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const written = statSync(join(plan.dirs['/conf']!, 'vpp.conf'));
      assert.equal(written.uid, 10000);
      assert.equal(written.gid, 10000);
    } finally {
      t.done();
    }
  });

  const hasSetcap = spawnSync('setcap', ['-v', 'cap_net_raw+ep', process.execPath]).error === undefined;
  test('as root: capNodeCopy makes a node copy with cap_net_raw+ep that uid 10000 can execute, reused on the next call', { skip: root && hasSetcap ? false : 'needs root and setcap' }, () => {
    const dir = mkdtempSync(join('/var/tmp', 'vpp-capnode-'));
    try {
      chmodSync(dir, 0o755);
      const copy = capNodeCopy(process.execPath, join(dir, 'bin'));
      assert.match(spawnSync('getcap', [copy], { encoding: 'utf8' }).stdout, /cap_net_raw[=+]ep/);
      // Only root and the pods' group may run it: other users of the host get no raw sockets from it.
      assert.equal(statSync(copy).mode & 0o7777, 0o750);
      assert.equal(statSync(copy).gid, 10000);
      assert.equal(statSync(join(dir, 'bin')).mode & 0o777, 0o750);
      assert.equal(capNodeCopy(process.execPath, join(dir, 'bin')), copy, 'the same copy the second time');
      assert.match(spawnSync(copy, ['--version'], { encoding: 'utf8' }).stdout, /^v20/, 'the copy runs');
      // (setprivArgs drops root's capabilities, DAC override included, as a pod has none.)
      const [cmd, ...podArgs] = setprivArgs(10000, 10000, ['net_raw']);
      const asPod = spawnSync(cmd, [...podArgs, copy, '--version'], { encoding: 'utf8' });
      assert.match(asPod.stdout, /^v20/, 'uid/gid 10000 can run it');
      const [, ...nobodyArgs] = setprivArgs(65534, 65534, []);
      const asNobody = spawnSync(cmd, [...nobodyArgs, copy, '--version'], { encoding: 'utf8' });
      assert.notEqual(asNobody.status, 0, 'another user cannot');
      // A copy whose mode was widened is re-made restricted (with its capability).
      chmodSync(copy, 0o755);
      assert.equal(capNodeCopy(process.execPath, join(dir, 'bin')), copy);
      assert.equal(statSync(copy).mode & 0o7777, 0o750);
      assert.match(spawnSync('getcap', [copy], { encoding: 'utf8' }).stdout, /cap_net_raw[=+]ep/);
      // the plain node carries no file capability
      assert.doesNotMatch(spawnSync('getcap', [process.execPath], { encoding: 'utf8' }).stdout, /cap_net_raw/);
      // a directory uid 10000 cannot search is refused with the reason
      chmodSync(dir, 0o700);
      assert.throws(() => capNodeCopy(process.execPath, join(dir, 'bin')), /is not searchable by other users: uid 10000 could not execute/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
