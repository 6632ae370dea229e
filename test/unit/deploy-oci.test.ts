/**
 * The OCI runtime config made from the rendered Deployment for `make test-image` (src/deploy/oci.ts):
 * the kubelet's rules, checked field by field.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { buildManifests, kubeletCommands, type DeployConfig } from '../../src/deploy/manifests.js';
import { ociSpec, processArgs, type ImageConfig } from '../../src/deploy/oci.js';
import { parseIpv4Cidr } from '../../src/deploy/values.js';

const seed = (over: Partial<DeployConfig> = {}): DeployConfig => ({
  master: 'eth0', vlanId: 123, ip: parseIpv4Cidr('192.168.123.150/24'), namespace: 'vpp-server',
  image: 'localhost/x:1', imageVpp: 'quay.io/example/vpp:24.10', engine: 'ts', platform: 'kubernetes', ...over,
});
const image: ImageConfig = {
  entrypoint: ['/usr/local/bin/vpp-server-node', '--max-semi-space-size=8', '/app/bin/vpp-server.js'],
  cmd: ['run', '-c', '/conf/vpp.conf', '--management', '0.0.0.0:9100'],
  env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'NODE_ENV=production'],
  workingDir: '/app',
};
const dirs = { conf: '/h/conf', www: '/h/www', 'run-vpp': '/h/run', tmp: '/h/tmp' };

describe('OCI config from the rendered Deployment', () => {
  const k = kubeletCommands(buildManifests(seed()));
  const spec = (c = k.main, extra = {}) => ociSpec(c, { rootfs: '/img', netns: '/run/netns/pod', volumeDirs: dirs, volumes: k.volumes, image, ...extra }) as any;

  test('capabilities as the kubelet sets them: capabilities.add in bounding, permitted, effective; no inheritable, no ambient', () => {
    const caps = spec().process.capabilities;
    assert.deepEqual(caps, { bounding: ['CAP_NET_RAW'], permitted: ['CAP_NET_RAW'], effective: ['CAP_NET_RAW'], inheritable: [], ambient: [] });
    const init = spec(k.init).process.capabilities;
    assert.deepEqual(init, { bounding: [], permitted: [], effective: [], inheritable: [], ambient: [] });
  });

  test('uid/gid 10000 with fsGroup as supplementary group, no_new_privs, read-only root, the pod network namespace', () => {
    const s = spec();
    assert.deepEqual(s.process.user, { uid: 10000, gid: 10000, additionalGids: [10000] });
    assert.equal(s.process.noNewPrivileges, true);
    assert.deepEqual(s.root, { path: '/img', readonly: true });
    assert.deepEqual(s.linux.namespaces.find((n: any) => n.type === 'network'), { type: 'network', path: '/run/netns/pod' });
    assert.ok(s.linux.namespaces.some((n: any) => n.type === 'pid'));
    assert.ok(s.mounts.some((m: any) => m.destination === '/sys' && m.options.includes('ro')));
  });

  test('emptyDirs bound from their host directories, read-only where the Deployment says so', () => {
    const m = Object.fromEntries(spec().mounts.map((x: any) => [x.destination, x]));
    assert.deepEqual(m['/conf'], { destination: '/conf', type: 'bind', source: '/h/conf', options: ['rbind', 'nosuid', 'nodev', 'ro'] });
    assert.deepEqual(m['/www'].options, ['rbind', 'nosuid', 'nodev', 'ro']);
    assert.deepEqual(m['/run/vpp'].options, ['rbind', 'nosuid', 'nodev']);
    const initMounts = Object.fromEntries(spec(k.init).mounts.map((x: any) => [x.destination, x]));
    assert.ok(!initMounts['/conf'].options.includes('ro'), 'init writes /conf');
    // without a host directory a Memory emptyDir becomes a tmpfs of its size limit
    const noRun = ociSpec(k.main, { rootfs: '/img', netns: '/n', volumeDirs: { conf: '/c', www: '/w', tmp: '/t' }, volumes: k.volumes, image }) as any;
    assert.deepEqual(noRun.mounts.find((x: any) => x.destination === '/run/vpp').options, ['nosuid', 'nodev', 'mode=1777', 'size=16m']);
    assert.throws(() => ociSpec(k.main, { rootfs: '/img', netns: '/n', volumeDirs: {}, volumes: k.volumes, image }), /no host directory for emptyDir conf/);
  });

  test("command/args against ENTRYPOINT/CMD by Kubernetes' rules; env: the image's, then the container's", () => {
    assert.deepEqual(spec().process.args, ['/usr/local/bin/vpp-server-node', '--max-semi-space-size=8', '/app/bin/vpp-server.js', 'run', '-c', '/conf/vpp.conf', '--management', '0.0.0.0:9100']);
    assert.deepEqual(processArgs({ command: [], args: [] }, image), [...image.entrypoint, ...image.cmd]);
    assert.deepEqual(processArgs({ command: [], args: ['init'] }, image), [...image.entrypoint, 'init']);
    assert.deepEqual(processArgs({ command: ['node'], args: [] }, image), ['node'], 'command drops CMD');
    const env = spec(k.init).process.env as string[];
    assert.ok(env.includes('NODE_ENV=production'));
    assert.ok(env.includes('IP_ADDRESS=192.168.123.150/24'));
    assert.equal(spec().process.cwd, '/app');
  });

  test('downward-API env (the StatefulSet POD_NAME) needs its value', () => {
    const ks = kubeletCommands(buildManifests(seed({ replicas: 2 })));
    const s = ociSpec(ks.init, { rootfs: '/img', netns: '/n', volumeDirs: dirs, volumes: ks.volumes, image, fieldValues: { 'metadata.name': 'vpp-server-1' } }) as any;
    assert.ok(s.process.env.includes('POD_NAME=vpp-server-1'));
    assert.throws(() => ociSpec(ks.init, { rootfs: '/img', netns: '/n', volumeDirs: dirs, volumes: ks.volumes, image }), /POD_NAME comes from metadata\.name/);
  });
});
