/**
 * Scale-out (issue 13): REPLICAS > 1 renders a StatefulSet (one pod per node, pod n on
 * IP_ADDRESS + n, a PodDisruptionBudget, Parallel start-up); REPLICAS=1 renders the seed's
 * Deployment unchanged (the existing golden files); GATEWAY reaches the init container.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildManifests, kubeletCommands, toYaml, validateAll, type DeployConfig, type KubeObject } from '../../src/deploy/manifests.js';
import { parseCommandOptions, COMMON_FLAGS } from '../../src/deploy/options.js';
import { parseIpv4Cidr, replicaAddresses } from '../../src/deploy/values.js';
import { initSettingsFromEnv } from '../../src/deploy/init.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const golden = (name: string) => readFileSync(join(repo, 'test/unit/golden', name), 'utf8');
const bin = join(repo, 'bin/vpp-server.js');

const seed = (over: Partial<DeployConfig> = {}): DeployConfig => ({
  master: 'eno8403np1', vlanId: 123, ip: parseIpv4Cidr('192.168.123.150/24'), namespace: 'vpp-server',
  image: 'quay.io/example/vpp-server:0.1.0', imageVpp: 'quay.io/example/vpp:24.10', engine: 'ts', platform: 'openshift', ...over,
});
const find = (objs: KubeObject[], kind: string) => objs.filter((o) => o.kind === kind).map((o) => o.toJSON() as any);

function render(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [bin, 'render', ...args], { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env }, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('scale-out: REPLICAS=3 renders a StatefulSet', () => {
  const objs = buildManifests(seed({ replicas: 3 }));

  test('every object validates against its schema (StatefulSet and PodDisruptionBudget included), on both platforms and engines', () => {
    for (const engine of ['ts', 'vpp'] as const) {
      for (const platform of ['openshift', 'kubernetes'] as const) {
        const o = buildManifests(seed({ replicas: 3, engine, platform, gateway: '192.168.123.1' }));
        for (const x of o) assert.doesNotThrow(() => x.validate(), `${x.kind} ${x.metadata?.name}`);
        validateAll(o);
      }
    }
    assert.deepEqual(objs.map((o) => o.kind), ['Namespace', 'ServiceAccount', 'SecurityContextConstraints', 'ClusterRole', 'ClusterRoleBinding', 'NetworkAttachmentDefinition', 'PodDisruptionBudget', 'StatefulSet']);
    // the validator is not a rubber stamp
    const sts = objs.find((o) => o.kind === 'StatefulSet') as any;
    const saved = sts.spec.podManagementPolicy;
    sts.spec.podManagementPolicy = 'Sometimes';
    assert.throws(() => sts.validate(), /podManagementPolicy/);
    sts.spec.podManagementPolicy = saved;
  });

  test('golden YAML for REPLICAS=3', () => {
    assert.equal(toYaml(objs), golden('render-openshift-ts-replicas3.yaml'));
  });

  test('one pod per node (required anti-affinity on the hostname), Parallel, 3 replicas, no Deployment', () => {
    const sts = find(objs, 'StatefulSet')[0];
    assert.equal(find(objs, 'Deployment').length, 0);
    assert.equal(sts.spec.replicas, 3);
    assert.equal(sts.spec.podManagementPolicy, 'Parallel');
    assert.equal(sts.spec.updateStrategy.type, 'RollingUpdate');
    const anti = sts.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution;
    assert.equal(anti.length, 1);
    assert.equal(anti[0].topologyKey, 'kubernetes.io/hostname');
    assert.deepEqual(anti[0].labelSelector.matchLabels, sts.spec.selector.matchLabels);
    assert.deepEqual(sts.spec.template.metadata.labels['app.kubernetes.io/name'], 'vpp-server');
  });

  test('a PodDisruptionBudget: at most one pod voluntarily down, same selector', () => {
    const pdb = find(objs, 'PodDisruptionBudget')[0];
    assert.equal(pdb.apiVersion, 'policy/v1');
    assert.equal(pdb.spec.maxUnavailable, 1);
    assert.deepEqual(pdb.spec.selector.matchLabels, find(objs, 'StatefulSet')[0].spec.selector.matchLabels);
  });

  test('per-ordinal addresses: init gets the base, REPLICAS and POD_NAME (downward API) and derives IP_ADDRESS + n', () => {
    const k = kubeletCommands(toYaml(objs));
    assert.equal(k.kind, 'StatefulSet');
    assert.equal(k.init.env['IP_ADDRESS'], '192.168.123.150/24');
    assert.equal(k.init.env['REPLICAS'], '3');
    assert.deepEqual(k.init.fieldEnv, { POD_NAME: 'metadata.name' });
    const got = [0, 1, 2].map((n) => initSettingsFromEnv({ ...k.init.env, POD_NAME: `${k.podNamePrefix}${n}` }).ip?.cidr);
    assert.deepEqual(got, ['192.168.123.150/24', '192.168.123.151/24', '192.168.123.152/24']);
    assert.deepEqual(replicaAddresses(parseIpv4Cidr('192.168.123.150/24'), 3).map((a) => a.address), ['192.168.123.150', '192.168.123.151', '192.168.123.152']);
  });

  test('exec readiness probes check each pod\'s own address (written by init), not ordinal 0\'s', () => {
    const k = kubeletCommands(buildManifests(seed({ replicas: 3, engine: 'vpp' })));
    assert.match(k.main.readinessProbe!.exec!.command![2]!, /grep -qxF "  L3 \$\(cat \/conf\/address\)"$/);
  });
});

describe('scale-out: REPLICAS=1 and GATEWAY', () => {
  test('REPLICAS=1 renders exactly what we rendered before (the golden files are unchanged)', () => {
    const o = parseCommandOptions(['--replicas', '1', '--image', 'quay.io/example/vpp-server:0.1.0', '--image-vpp', 'quay.io/example/vpp:24.10'], {}, COMMON_FLAGS);
    assert.equal(toYaml(buildManifests(o.config)), golden('render-openshift-ts.yaml'));
    assert.equal(toYaml(buildManifests(seed())), golden('render-openshift-ts.yaml'));
  });

  test('GATEWAY reaches the init container as GATEWAY, validated at render', () => {
    const o = parseCommandOptions([], { GATEWAY: '192.168.123.1' }, COMMON_FLAGS);
    assert.equal(o.config.gateway, '192.168.123.1');
    const k = kubeletCommands(buildManifests(o.config));
    assert.equal(k.init.env['GATEWAY'], '192.168.123.1');
    assert.equal(kubeletCommands(buildManifests(seed())).init.env['GATEWAY'], undefined);
  });

  test('the CLI: --replicas 3 renders a StatefulSet; REPLICAS=0 exits 2 with the reason', () => {
    const ok = render(['--replicas=3']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^kind: StatefulSet$/m);
    assert.match(ok.stdout, /^kind: PodDisruptionBudget$/m);
    const bad = render([], { REPLICAS: '0' });
    assert.equal(bad.code, 2);
    assert.equal(bad.stdout, '');
    assert.match(bad.stderr, /REPLICAS\) 0: at least one pod is needed/);
  });
});
