import { spawnSync } from 'node:child_process';
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CLI_SOCKET,
  ENGINE_CAPABILITIES,
  buildManifests,
  kubeletCommands,
  localizeRun,
  parseYaml,
  probesFor,
  toYaml,
  validateAll,
  type DeployConfig,
  type KubeObject,
} from '../../src/deploy/manifests.js';
import { NetworkAttachmentDefinition, SecurityContextConstraints, cniConfigProblems } from '../../src/deploy/models.js';
import { loadWwwDir, WWW_MAX_BYTES } from '../../src/deploy/www-content.js';
import { parseIpv4Cidr, type Engine } from '../../src/deploy/values.js';
import type { Platform } from '../../src/deploy/manifests.js';

const seed = (over: Partial<DeployConfig> = {}): DeployConfig => ({
  master: 'eno8403np1',
  vlanId: 123,
  ip: parseIpv4Cidr('192.168.123.150/24'),
  namespace: 'vpp-server',
  image: 'quay.io/example/vpp-server:0.1.0',
  imageVpp: 'quay.io/example/vpp:24.10',
  engine: 'ts',
  platform: 'openshift',
  ...over,
});

const find = (objs: KubeObject[], kind: string) => objs.filter((o) => o.kind === kind).map((o) => o.toJSON() as any);
const deployment = (objs: KubeObject[]) => find(objs, 'Deployment')[0];

function wwwDir(files: Record<string, string | Buffer>) {
  const dir = mkdtempSync(join(tmpdir(), 'vpp-www-'));
  for (const [p, c] of Object.entries(files)) {
    mkdirSync(join(dir, p, '..'), { recursive: true });
    writeFileSync(join(dir, p), c);
  }
  return { dir, done: () => rmSync(dir, { recursive: true, force: true }) };
}

describe('deploy manifests: schema validation', () => {
  for (const engine of ['ts', 'vpp'] as Engine[]) {
    for (const platform of ['openshift', 'kubernetes'] as Platform[]) {
      for (const probes of ['exec', 'http'] as const) {
        test(`every object validates against its OpenAPI schema (engine ${engine}, ${platform}, probes ${probes})`, () => {
          const objs = buildManifests(seed({ engine, platform, probes }));
          for (const o of objs) assert.doesNotThrow(() => o.validate(), `${o.kind} ${o.metadata?.name}`);
          validateAll(objs);
        });
      }
    }
  }

  test('with web content: the ConfigMap and the mounted volume validate', () => {
    const w = wwwDir({ 'index.html': '<h1>hi</h1>\n', 'img/logo.png': Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2]) });
    try {
      validateAll(buildManifests(seed({ www: loadWwwDir(w.dir) })));
    } finally {
      w.done();
    }
  });

  test('the validators catch real mistakes', () => {
    const objs = buildManifests(seed());
    const dep = objs.find((o) => o.kind === 'Deployment') as any;
    dep.spec.strategy = { type: 'Recreate' };
    dep.spec.replicas = 'one';
    assert.throws(() => dep.validate(), /replicas must be integer/);
    const scc = new SecurityContextConstraints({
      ...(objs.find((o) => o.kind === 'SecurityContextConstraints')!.toJSON() as any),
      runAsUser: { type: 'MustRunAsSomebody' },
    });
    assert.throws(() => scc.validate(), /runAsUser\/type must be equal to one of the allowed values/);
    const noVolumes = objs.find((o) => o.kind === 'SecurityContextConstraints')!.toJSON() as any;
    delete noVolumes.volumes;
    assert.throws(() => new SecurityContextConstraints(noVolumes).validate(), /must have required property '?volumes/);
    const conflict = new SecurityContextConstraints({
      ...(objs.find((o) => o.kind === 'SecurityContextConstraints')!.toJSON() as any),
      requiredDropCapabilities: ['NET_RAW'],
    });
    assert.throws(() => conflict.validate(), /NET_RAW is both in allowedCapabilities and requiredDropCapabilities/);
    const badName = new NetworkAttachmentDefinition({ metadata: { name: 'x', labels: { 'bad label!': 'x' } as any }, spec: { config: '{}' } });
    assert.throws(() => badName.validate());
    const badCni = new NetworkAttachmentDefinition({ metadata: { name: 'x' }, spec: { config: '{"cniVersion":"0.3.1"' } });
    assert.throws(() => badCni.validate(), /spec\/config.*not JSON/);
  });
});

describe('deploy manifests: NetworkAttachmentDefinition', () => {
  test('its config parses as CNI JSON with the seed fields: cniVersion 0.3.1, macvlan, bridge, master, linkInContainer false', () => {
    const nad = find(buildManifests(seed()), 'NetworkAttachmentDefinition')[0];
    assert.equal(nad.apiVersion, 'k8s.cni.cncf.io/v1');
    assert.equal(nad.metadata.name, 'macvlan0');
    assert.equal(nad.metadata.namespace, 'vpp-server');
    const cni = JSON.parse(nad.spec.config);
    assert.deepEqual(cni, { cniVersion: '0.3.1', name: 'macvlan0', type: 'macvlan', master: 'eno8403np1', linkInContainer: false, mode: 'bridge' });
    assert.deepEqual(cniConfigProblems(nad.spec.config), []);
  });

  test('a configuration list (macvlan chained with tuning) is checked plugin by plugin', () => {
    const list = (plugins: unknown) => JSON.stringify({ cniVersion: '0.3.1', name: 'macvlan0', plugins });
    assert.deepEqual(cniConfigProblems(list([{ type: 'macvlan', master: 'eth0', mode: 'bridge' }, { type: 'tuning', allmulti: true }])), []);
    assert.match(cniConfigProblems(list([])).join(), /plugins must be a non-empty list/);
    assert.match(cniConfigProblems(list([{ type: 'macvlan' }])).join(), /plugins\[0\]: macvlan needs master/);
    assert.match(cniConfigProblems(list([{ type: 'macvlan', master: 'eth0' }, { allmulti: true }])).join(), /plugins\[1\]: type \(the CNI plugin\) is missing/);
    assert.match(cniConfigProblems(list([{ type: 'macvlan', master: 'eth0' }, { type: 'tuning', allmulti: 'yes' }])).join(), /plugins\[1\]: tuning allmulti must be a boolean/);
    assert.match(cniConfigProblems(list([7])).join(), /plugins\[0\] is not a JSON object/);
    // the rendered NAD of an IPv6-only FD.io VPP pod passes the checker and the schema
    const { ip: _ip, ...noV4 } = seed({ engine: 'vpp' });
    const objs = buildManifests({ ...noV4, ipv6: '2001:db8:123::150/64' });
    validateAll(objs);
    assert.deepEqual(cniConfigProblems(find(objs, 'NetworkAttachmentDefinition')[0].spec.config), []);
  });

  test('the CNI checker names missing and wrong fields', () => {
    assert.deepEqual(cniConfigProblems('{"cniVersion":"0.3.1","name":"n","type":"macvlan","master":"eth0"}'), []);
    assert.match(cniConfigProblems(undefined).join(), /spec.config is missing/);
    assert.match(cniConfigProblems('[1]').join(), /not a JSON object/);
    const p = cniConfigProblems('{"cniVersion":"9.9","type":"macvlan","mode":"weird"}').join('\n');
    assert.match(p, /cniVersion "9.9"/);
    assert.match(p, /name undefined is not a valid CNI network name/);
    assert.match(p, /macvlan needs master/);
    assert.match(p, /macvlan mode "weird"/);
    assert.match(cniConfigProblems('{"cniVersion":"1.0.0","name":"n"}').join(), /type \(the CNI plugin\) is missing/);
  });

  test('the pod asks Multus for it as interface macvlan0', () => {
    const d = deployment(buildManifests(seed()));
    assert.equal(d.spec.template.metadata.annotations['k8s.v1.cni.cncf.io/networks'], '[{"name":"macvlan0","interface":"macvlan0"}]');
  });
});

describe('deploy manifests: the Deployment', () => {
  test('strategy Recreate, one replica, dedicated ServiceAccount without a token', () => {
    const objs = buildManifests(seed());
    const d = deployment(objs);
    assert.deepEqual(d.spec.strategy, { type: 'Recreate' });
    assert.equal(d.spec.replicas, 1);
    assert.equal(d.spec.template.spec.serviceAccountName, 'vpp-server');
    assert.equal(d.spec.template.spec.automountServiceAccountToken, false);
    const sa = find(objs, 'ServiceAccount')[0];
    assert.equal(sa.metadata.name, 'vpp-server');
    assert.equal(sa.metadata.namespace, 'vpp-server');
    assert.equal(d.spec.template.spec.terminationGracePeriodSeconds, 30);
  });

  test('rootless and restricted: uid/gid 10000, fsGroup, no escalation, read-only root, seccomp RuntimeDefault, drop ALL', () => {
    for (const engine of ['ts', 'vpp'] as Engine[]) {
      const pod = deployment(buildManifests(seed({ engine }))).spec.template.spec;
      assert.deepEqual(pod.securityContext, { runAsNonRoot: true, runAsUser: 10000, runAsGroup: 10000, fsGroup: 10000, seccompProfile: { type: 'RuntimeDefault' } });
      for (const c of [...pod.initContainers, ...pod.containers]) {
        assert.equal(c.securityContext.allowPrivilegeEscalation, false, c.name);
        assert.equal(c.securityContext.privileged, false);
        assert.equal(c.securityContext.readOnlyRootFilesystem, true);
        assert.equal(c.securityContext.runAsNonRoot, true);
        assert.equal(c.securityContext.runAsUser, 10000);
        assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
        assert.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.cpu && c.resources.limits.memory);
      }
      assert.equal(pod.initContainers[0].securityContext.capabilities.add, undefined, 'the init container adds no capability');
    }
  });

  test('engine ts adds only NET_RAW; engine vpp keeps NET_ADMIN NET_RAW IPC_LOCK NET_BROADCAST — in the container and the SCC', () => {
    const ts = buildManifests(seed({ engine: 'ts' }));
    assert.deepEqual(deployment(ts).spec.template.spec.containers[0].securityContext.capabilities.add, ['NET_RAW']);
    assert.deepEqual(find(ts, 'SecurityContextConstraints')[0].allowedCapabilities, ['NET_RAW']);
    const vpp = buildManifests(seed({ engine: 'vpp' }));
    const four = ['NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'NET_BROADCAST'];
    assert.deepEqual(deployment(vpp).spec.template.spec.containers[0].securityContext.capabilities.add, four);
    assert.deepEqual(find(vpp, 'SecurityContextConstraints')[0].allowedCapabilities, four);
    assert.deepEqual([...ENGINE_CAPABILITIES.ts], ['NET_RAW']);
  });

  test('engine ts runs our image: init `vpp-server init`, dataplane `run -c /conf/vpp.conf` on the capability-bearing node', () => {
    const k = kubeletCommands(buildManifests(seed()));
    assert.deepEqual(k.init.command, ['node', '/app/bin/vpp-server.js']);
    assert.deepEqual(k.init.args, ['init']);
    assert.deepEqual(k.init.env, {
      HOST_INTERFACE: 'macvlan0', VLAN_ID: '123', IP_ADDRESS: '192.168.123.150/24', WWW_ROOT: '/www',
      CONF_DIR: '/conf', HTTP_PORT: '80', CACHE_SIZE: '512m', CLI_SOCKET: '/run/vpp/cli-vpp1.sock',
    });
    assert.deepEqual(k.main.command, ['/usr/local/bin/vpp-server-node', '--max-semi-space-size=8', '/app/bin/vpp-server.js']);
    assert.deepEqual(k.main.args, ['run', '-c', '/conf/vpp.conf', '--management', '0.0.0.0:9100']);
    assert.deepEqual(k.main.env, {});
    assert.equal(k.main.image, 'quay.io/example/vpp-server:0.1.0');
    assert.deepEqual(k.main.capabilities, { add: ['NET_RAW'], drop: ['ALL'] });
    assert.equal(k.main.runAsUser, 10000);
    assert.deepEqual(k.main.mounts.map((m) => m.mountPath), ['/conf', '/www', '/run/vpp', '/tmp']);
    assert.deepEqual(k.init.mounts.map((m) => m.mountPath), ['/conf', '/www', '/tmp']);
    assert.ok(k.volumes.every((v) => v.emptyDir), 'only emptyDirs without web content');
  });

  test('engine vpp: VPP image runs `vpp -c /conf/vpp.conf`, init still from our image, /run/user for VPP', () => {
    const k = kubeletCommands(buildManifests(seed({ engine: 'vpp' })));
    assert.equal(k.main.image, 'quay.io/example/vpp:24.10');
    assert.equal(k.init.image, 'quay.io/example/vpp-server:0.1.0');
    assert.deepEqual([...k.main.command, ...k.main.args], ['/usr/bin/vpp', '-c', '/conf/vpp.conf']);
    assert.ok(k.main.mounts.some((m) => m.mountPath === '/run/user'));
    assert.deepEqual(k.main.readinessProbe?.exec?.command, ['/bin/sh', '-c', "/usr/bin/vppctl -s /run/vpp/cli-vpp1.sock show interface address | grep -qxF '  L3 192.168.123.150/24'"]);
  });

  test('kubeletCommands reads the rendered YAML as well as the objects', () => {
    const objs = buildManifests(seed());
    assert.deepEqual(kubeletCommands(toYaml(objs)), kubeletCommands(objs));
    assert.throws(() => kubeletCommands([]), /no Deployment/);
  });

  test('localizeRun maps image programs and emptyDir paths for running outside a container', () => {
    const k = kubeletCommands(buildManifests(seed()));
    const programs = { node: '/usr/bin/node', '/usr/local/bin/vpp-server-node': '/usr/bin/node', '/app/bin/vpp-server.js': '/repo/bin/vpp-server.js' };
    const dirs = { '/conf': '/tmp/x/conf', '/www': '/tmp/x/www', '/run/vpp': '/tmp/x/run' };
    const init = localizeRun(k.init, programs, dirs);
    assert.equal(init.file, '/usr/bin/node');
    assert.deepEqual(init.argv, ['/repo/bin/vpp-server.js', 'init']);
    assert.equal(init.env['CONF_DIR'], '/tmp/x/conf');
    assert.equal(init.env['CLI_SOCKET'], '/tmp/x/run/cli-vpp1.sock');
    assert.equal(init.env['VLAN_ID'], '123');
    const main = localizeRun(k.main, programs, dirs);
    assert.deepEqual([main.file, ...main.argv], ['/usr/bin/node', '--max-semi-space-size=8', '/repo/bin/vpp-server.js', 'run', '-c', '/tmp/x/conf/vpp.conf', '--management', '0.0.0.0:9100']);
  });

  test('the exec readiness probe fails while the address is tentative or duplicate, and for a longer address', () => {
    const dir = mkdtempSync(join(tmpdir(), 'probe-'));
    try {
      writeFileSync(join(dir, 'address'), '2001:db8:123::150/64\n');
      for (const file of [undefined, join(dir, 'address')]) {
        const cmd = probesFor('ts', { cidr: '2001:db8:123::150/64' }, 'exec', CLI_SOCKET, file).readinessProbe.exec!.command![2]!;
        const filter = cmd.slice(cmd.indexOf('| ') + 2);
        const ready = (line: string) =>
          spawnSync('/bin/sh', ['-c', filter], { input: `host-macvlan0 (up):\nhost-macvlan0.123 (up):\n${line}\nlocal0 (dn):\n` }).status === 0;
        assert.equal(ready('  L3 2001:db8:123::150/64'), true, `${filter}: preferred`);
        assert.equal(ready('  L3 2001:db8:123::150/64 (tentative)'), false, `${filter}: tentative`);
        assert.equal(ready('  L3 2001:db8:123::150/64 (duplicate)'), false, `${filter}: duplicate`);
        assert.equal(ready('  L3 2001:db8:123::1500/64'), false, `${filter}: another address`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('probes: exec now (liveness: CLI answers; readiness: the address is listed), httpGet /healthz /readyz later', () => {
    const ip = parseIpv4Cidr('192.168.123.150/24');
    const exec = probesFor('ts', ip);
    assert.deepEqual(exec.livenessProbe.exec?.command, ['node', '/app/bin/vpp-server.js', 'ctl', '-s', CLI_SOCKET, 'show', 'interface', 'address']);
    assert.match(exec.readinessProbe.exec!.command![2]!, /ctl -s \/run\/vpp\/cli-vpp1.sock show interface address \| grep -qxF '  L3 192.168.123.150\/24'$/);
    const http = probesFor('ts', ip, 'http');
    assert.equal(http.readinessProbe.httpGet?.path, '/readyz');
    assert.equal(http.livenessProbe.httpGet?.path, '/healthz');
    assert.equal(http.ports?.[0]?.name, 'management');
    const d = deployment(buildManifests(seed({ probes: 'http' })));
    assert.equal(d.spec.template.spec.containers[0].ports[0].containerPort, http.ports?.[0]?.containerPort);
  });

  test('image pull policy: Always for :latest or no tag, IfNotPresent for a fixed tag or digest', () => {
    const policy = (image: string) => deployment(buildManifests(seed({ image }))).spec.template.spec.containers[0].imagePullPolicy;
    assert.equal(policy('quay.io/x/y:latest'), 'Always');
    assert.equal(policy('localhost:5000/x/y'), 'Always');
    assert.equal(policy('quay.io/x/y:1.0'), 'IfNotPresent');
    assert.equal(policy(`quay.io/x/y@sha256:${'a'.repeat(64)}`), 'IfNotPresent');
  });
});

/** Pod Security Standards checks (restricted profile) on a pod spec; returns the violations. */
function restrictedViolations(pod: any): string[] {
  const v: string[] = [];
  const BASELINE_CAPS = ['AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT'];
  if (pod.hostNetwork || pod.hostPID || pod.hostIPC) v.push('host namespaces');
  if ((pod.volumes ?? []).some((x: any) => !(x.emptyDir || x.configMap || x.secret || x.projected || x.downwardAPI || x.persistentVolumeClaim || x.ephemeral || x.csi))) v.push('volume types');
  if (pod.securityContext?.seccompProfile?.type !== 'RuntimeDefault') v.push('seccomp');
  for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
    const sc = c.securityContext ?? {};
    if (sc.privileged) v.push(`${c.name}: privileged`);
    if (sc.allowPrivilegeEscalation !== false) v.push(`${c.name}: allowPrivilegeEscalation`);
    if (!(sc.runAsNonRoot ?? pod.securityContext?.runAsNonRoot)) v.push(`${c.name}: runAsNonRoot`);
    if ((sc.runAsUser ?? pod.securityContext?.runAsUser) === 0) v.push(`${c.name}: runAsUser 0`);
    if (!(sc.capabilities?.drop ?? []).includes('ALL')) v.push(`${c.name}: drop ALL`);
    for (const cap of sc.capabilities?.add ?? []) {
      if (cap !== 'NET_BIND_SERVICE') v.push(`${c.name}: add ${cap}${BASELINE_CAPS.includes(cap) ? '' : ' (outside baseline too)'}`);
    }
    if (c.ports?.some((p: any) => p.hostPort)) v.push(`${c.name}: hostPort`);
  }
  return v;
}

describe('deploy manifests: least privilege', () => {
  test("Pod Security 'restricted' is met except for the one capability the engine needs (which is outside 'baseline')", () => {
    assert.deepEqual(restrictedViolations(deployment(buildManifests(seed())).spec.template.spec), ['vpp-server: add NET_RAW (outside baseline too)']);
    assert.deepEqual(restrictedViolations(deployment(buildManifests(seed({ engine: 'vpp' }))).spec.template.spec), [
      'vpp-server: add NET_ADMIN (outside baseline too)',
      'vpp-server: add NET_RAW (outside baseline too)',
      'vpp-server: add IPC_LOCK (outside baseline too)',
      'vpp-server: add NET_BROADCAST (outside baseline too)',
    ]);
  });
});

describe('deploy manifests: OpenShift vs vanilla Kubernetes', () => {
  test('OpenShift: SCC like the seed, ClusterRole `use` of it, bound to the dedicated ServiceAccount', () => {
    const objs = buildManifests(seed());
    assert.deepEqual(objs.map((o) => o.kind), [
      'Namespace', 'ServiceAccount', 'SecurityContextConstraints', 'ClusterRole', 'ClusterRoleBinding', 'NetworkAttachmentDefinition', 'Deployment',
    ]);
    const scc = find(objs, 'SecurityContextConstraints')[0];
    assert.equal(scc.metadata.name, 'vpp-server');
    for (const f of ['allowPrivilegedContainer', 'allowHostNetwork', 'allowHostPID', 'allowHostIPC', 'allowHostPorts', 'allowHostDirVolumePlugin', 'allowPrivilegeEscalation']) {
      assert.equal(scc[f], false, f);
    }
    assert.deepEqual(scc.seccompProfiles, ['runtime/default']);
    assert.equal(scc.seLinuxContext.type, 'MustRunAs');
    assert.deepEqual(scc.runAsUser, { type: 'MustRunAs', uid: 10000 });
    assert.ok(!scc.volumes.includes('hostPath'));
    const role = find(objs, 'ClusterRole')[0];
    assert.equal(role.metadata.name, 'system:openshift:scc:vpp-server');
    assert.deepEqual(role.rules, [{ apiGroups: ['security.openshift.io'], resources: ['securitycontextconstraints'], resourceNames: ['vpp-server'], verbs: ['use'] }]);
    const binding = find(objs, 'ClusterRoleBinding')[0];
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'vpp-server', namespace: 'vpp-server' }]);
    assert.equal(binding.roleRef.name, role.metadata.name);
    assert.equal(find(objs, 'Namespace')[0].metadata.labels['pod-security.kubernetes.io/enforce'], undefined);
  });

  test('another namespace gets its own cluster-scoped names', () => {
    const objs = buildManifests(seed({ namespace: 'lab1' }));
    assert.equal(find(objs, 'SecurityContextConstraints')[0].metadata.name, 'vpp-server-lab1');
    assert.equal(find(objs, 'ClusterRole')[0].metadata.name, 'system:openshift:scc:vpp-server-lab1');
    assert.ok(objs.filter((o) => o.kind !== 'Namespace' && !o.kind.startsWith('Cluster') && o.kind !== 'SecurityContextConstraints').every((o) => o.metadata?.namespace === 'lab1'));
  });

  test('vanilla Kubernetes: no SCC objects; the namespace enforces Pod Security "privileged" (NET_RAW is outside baseline)', () => {
    const objs = buildManifests(seed({ platform: 'kubernetes' }));
    assert.deepEqual(objs.map((o) => o.kind), ['Namespace', 'ServiceAccount', 'NetworkAttachmentDefinition', 'Deployment']);
    assert.ok(!toYaml(objs).includes('security.openshift.io'));
    assert.equal(find(objs, 'Namespace')[0].metadata.labels['pod-security.kubernetes.io/enforce'], 'privileged');
  });
});

describe('deploy manifests: web content ConfigMap', () => {
  test('text as data, binary as binaryData, nested paths mapped by items, checksum on the pod template', () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0xff]);
    const w = wwwDir({ 'index.html': '<h1>hi</h1>\n', 'img/logo.png': png, 'a b.txt': 'space\n' });
    try {
      const www = loadWwwDir(w.dir);
      const objs = buildManifests(seed({ www }));
      const cm = find(objs, 'ConfigMap')[0];
      assert.equal(cm.metadata.name, 'vpp-server-www');
      assert.deepEqual(Object.keys(cm.data).sort(), ['a_b.txt', 'index.html']);
      assert.equal(cm.data['index.html'], '<h1>hi</h1>\n');
      assert.equal(Buffer.from(cm.binaryData['img__logo.png'], 'base64').compare(png), 0);
      const pod = deployment(objs).spec.template.spec;
      const vol = pod.volumes.find((v: any) => v.name === 'www-src');
      assert.deepEqual(vol.configMap.items, [
        { key: 'a_b.txt', path: 'a b.txt' },
        { key: 'img__logo.png', path: 'img/logo.png' },
        { key: 'index.html', path: 'index.html' },
      ]);
      const k = kubeletCommands(objs);
      assert.equal(k.init.env['WWW_SOURCE'], '/www-src');
      assert.ok(k.init.mounts.some((m) => m.mountPath === '/www-src' && m.readOnly));
      assert.match(k.annotations['vpp-server/www-checksum']!, /^[0-9a-f]{64}$/);
      const other = wwwDir({ 'index.html': '<h1>changed</h1>\n' });
      try {
        assert.notEqual(loadWwwDir(other.dir).checksum, www.checksum);
      } finally {
        other.done();
      }
    } finally {
      w.done();
    }
  });

  test('empty, missing or oversized directories are refused with what to do', () => {
    const empty = wwwDir({});
    try {
      assert.throws(() => loadWwwDir(empty.dir), /holds no files; leave the option out/);
      assert.throws(() => loadWwwDir(join(empty.dir, 'nope')), /does not exist: give a local directory/);
    } finally {
      empty.done();
    }
    const big = wwwDir({ 'big.bin': Buffer.alloc(WWW_MAX_BYTES, 0) });
    try {
      assert.throws(() => loadWwwDir(big.dir), /more than the \d+ a ConfigMap can carry/);
    } finally {
      big.done();
    }
  });

  test('the rendered YAML parses back to the same objects', () => {
    const objs = buildManifests(seed());
    assert.deepEqual(parseYaml(toYaml(objs)), objs.map((o) => JSON.parse(JSON.stringify(o.toJSON()))));
  });
});
