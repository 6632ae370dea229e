import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderToString } from '../../src/deploy/render-command.js';
import { parseCommandOptions, COMMON_FLAGS } from '../../src/deploy/options.js';
import { kubeletCommands, parseYaml } from '../../src/deploy/manifests.js';
import { initSettingsFromEnv, renderStartupConf } from '../../src/deploy/init.js';
import { ValueError } from '../../src/deploy/values.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(repo, 'bin/vpp-server.js');
const goldenPath = (name: string) => join(repo, 'test/unit/golden', name);

function render(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [bin, 'render', ...args], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env },
    encoding: 'utf8',
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Compares with a golden file; UPDATE_GOLDEN=1 rewrites it. */
function assertGolden(actual: string, name: string) {
  if (process.env['UPDATE_GOLDEN'] === '1') writeFileSync(goldenPath(name), actual);
  assert.equal(actual, readFileSync(goldenPath(name), 'utf8'), `differs from test/unit/golden/${name} (UPDATE_GOLDEN=1 to accept)`);
}

describe('deploy render', () => {
  test('byte-identical across runs (two processes) and with the in-process renderer', () => {
    const a = render([]);
    const b = render([]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.stdout, b.stdout);
    assert.equal(a.stdout, renderToString([], {}));
    assert.ok(a.stdout.startsWith('---\napiVersion: v1\nkind: Namespace\n'));
    assert.equal(a.stdout.split(/^---$/m).length - 1, 7);
  });

  test('golden: the seed example on OpenShift (engine ts)', () => {
    assertGolden(renderToString(['--image', 'quay.io/example/vpp-server:0.1.0'], {}), 'render-openshift-ts.yaml');
  });

  test('golden: vanilla Kubernetes, engine vpp', () => {
    assertGolden(
      renderToString(['--kubernetes', '--engine', 'vpp', '--image', 'quay.io/example/vpp-server:0.1.0', '--image-vpp', 'quay.io/example/vpp:24.10'], {}),
      'render-kubernetes-vpp.yaml',
    );
  });

  test('options and the seed variables from the environment (trimmed) land in the objects', () => {
    const out = render(['--namespace', 'lab'], { MACVLAN_MASTER: 'ens1f0\n', VLAN_ID: '200\n', IP_ADDRESS: '10.20.0.5/16\n', CONTAINER_IMAGE: 'reg.example:5000/v/s:2\n' });
    assert.equal(out.code, 0, out.stderr);
    const docs = parseYaml(out.stdout) as any[];
    const nad = docs.find((d) => d.kind === 'NetworkAttachmentDefinition');
    assert.equal(JSON.parse(nad.spec.config).master, 'ens1f0');
    const dep = docs.find((d) => d.kind === 'Deployment');
    assert.equal(dep.metadata.namespace, 'lab');
    const env = Object.fromEntries(dep.spec.template.spec.initContainers[0].env.map((e: any) => [e.name, e.value]));
    assert.equal(env.VLAN_ID, '200');
    assert.equal(env.IP_ADDRESS, '10.20.0.5/16');
    assert.equal(dep.spec.template.spec.containers[0].image, 'reg.example:5000/v/s:2');
    // flags win over the environment
    const o = parseCommandOptions(['--vlan', '7'], { VLAN_ID: '200' }, COMMON_FLAGS);
    assert.equal(o.config.vlanId, 7);
  });

  test('--www-dir ships the files as a ConfigMap', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vpp-www-'));
    try {
      writeFileSync(join(dir, 'index.html'), 'mine\n');
      const out = render(['--www-dir', dir]);
      assert.equal(out.code, 0, out.stderr);
      const cm = (parseYaml(out.stdout) as any[]).find((d) => d.kind === 'ConfigMap');
      assert.deepEqual(cm.data, { 'index.html': 'mine\n' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const bad: [string, string[], Record<string, string>, RegExp][] = [
    ['VLAN 4095', ['--vlan', '4095'], {}, /--vlan \(VLAN_ID\) 4095 is reserved.*use 1–4094/],
    ['VLAN from env', [], { VLAN_ID: 'abc' }, /--vlan \(VLAN_ID\) "abc" is not a VLAN ID: expected a whole number from 1 to 4094/],
    ['IP without prefix', ['--ip', '192.168.123.150'], {}, /has no prefix length/],
    ['IP network address', ['--ip', '192.168.123.0/24'], {}, /network address/],
    ['engine', ['--engine', 'dpdk'], {}, /--engine "dpdk" is not an engine: use 'ts' .* or 'vpp'/],
    ['namespace', ['--namespace', 'Bad_NS'], {}, /--namespace "Bad_NS" is not a valid namespace: lower-case letters, digits and '-'/],
    ['image', ['--image', 'Quay.io/UPPER/x:1'], {}, /--image \(CONTAINER_IMAGE\) "Quay.io\/UPPER\/x:1" is not an image reference/],
    ['master', ['--master', 'eth0 eth1'], {}, /--master \(MACVLAN_MASTER\) "eth0 eth1" is not a valid interface name/],
    ['unknown option', ['--vlna', '5'], {}, /unknown option --vlna; valid options: --master --vlan --ip/],
    ['missing value', ['--ip'], {}, /--ip needs a value/],
    ['both platforms', ['--openshift', '--kubernetes'], {}, /--openshift and --kubernetes exclude each other/],
    ['www dir missing', ['--www-dir', '/nonexistent/www'], {}, /--www-dir "\/nonexistent\/www" does not exist/],
    ['probes', ['--probes', 'tcp'], {}, /--probes "tcp" is not a probe kind: use 'exec' or 'http'/],
    ['REPLICAS=0', [], { REPLICAS: '0' }, /--replicas \(REPLICAS\) 0: at least one pod is needed/],
    ['REPLICAS not a whole number', ['--replicas', '2.5'], {}, /--replicas \(REPLICAS\) "2\.5" is not a number of pods: expected a whole number from 1/],
    ['REPLICAS negative', ['--replicas=-1'], {}, /"-1" is not a number of pods/],
    ['addresses run out of the prefix', ['--replicas', '3', '--ip', '192.168.123.253/24'], {}, /pod ordinal 2 would get 192\.168\.123\.255, the broadcast address of 192\.168\.123\.0\/24: from 192\.168\.123\.253 the prefix has room for 2 pods/],
    ['addresses past the prefix', ['--replicas', '4', '--ip', '10.0.0.1/30'], {}, /pod ordinal 2 would get 10\.0\.0\.3, the broadcast address/],
    ['GATEWAY outside the prefix', [], { GATEWAY: '10.1.1.1' }, /--gateway \(GATEWAY\) 10\.1\.1\.1 is not inside 192\.168\.123\.0\/24/],
    ['GATEWAY is a pod address', ['--replicas', '3', '--gateway', '192.168.123.151'], {}, /GATEWAY 192\.168\.123\.151 is the address of pod ordinal 1/],
    ['GATEWAY is the address', ['--gateway', '192.168.123.150'], {}, /is the pod's own address/],
    ['IPv6 without prefix', ['--ipv6', '2001:db8:123::150'], {}, /--ipv6 \(IPV6_ADDRESS\) "2001:db8:123::150" has no prefix length/],
    ['IPv6 link-local', [], { IPV6_ADDRESS: 'fe80::150/64' }, /--ipv6 \(IPV6_ADDRESS\) "fe80::150\/64" is link-local/],
    ['IPv6 subnet-router anycast', ['--ipv6', '2001:db8:123::/64'], {}, /subnet-router anycast/],
    ['GATEWAY6 without IPv6', ['--gateway6', 'fe80::1'], {}, /--gateway6 \(GATEWAY6\) is set but IPV6_ADDRESS is not/],
    ['GATEWAY6 off the prefix', ['--ipv6', '2001:db8:123::150/64', '--gateway6', '2001:db8:9::1'], {}, /is not on 2001:db8:123::\/64/],
    ['dual stack with ENGINE=vpp', ['--engine', 'vpp', '--ipv6', '2001:db8:123::150/64'], {}, /--ipv6 \(IPV6_ADDRESS\) 2001:db8:123::150\/64 needs --engine ts: .*VPP 24\.10/],
    // IPv6-only: an IPv6 IP_ADDRESS, validated like IPV6_ADDRESS
    ['IPv6 IP_ADDRESS without prefix', ['--ip', '2001:db8:123::150'], {}, /--ip \(IP_ADDRESS\) "2001:db8:123::150" has no prefix length: write it with one, e\.g\. 2001:db8:123::150\/64/],
    ['IPv6 IP_ADDRESS prefix 0', [], { IP_ADDRESS: '2001:db8:123::150/0' }, /--ip \(IP_ADDRESS\) "2001:db8:123::150\/0": prefix length "0" is not a number from 1 to 128/],
    ['IPv6 IP_ADDRESS prefix 129', ['--ip', '2001:db8:123::150/129'], {}, /prefix length "129" is not a number from 1 to 128/],
    ['IPv6 IP_ADDRESS subnet-router anycast', ['--ip', '2001:db8:123::/64'], {}, /--ip \(IP_ADDRESS\) "2001:db8:123::\/64" is the subnet-router anycast address of 2001:db8:123::\/64; use a host address/],
    ['IPv6 IP_ADDRESS multicast', ['--ip', 'ff05::2/64'], {}, /--ip \(IP_ADDRESS\) "ff05::2\/64" is a multicast address/],
    ['IPv6 IP_ADDRESS link-local', [], { IP_ADDRESS: 'fe80::150/64' }, /--ip \(IP_ADDRESS\) "fe80::150\/64" is link-local \(fe80::\/10\)/],
    ['IPv6 IP_ADDRESS ::', ['--ip', '::/1'], {}, /is the unspecified address ::/],
    ['IPv6 IP_ADDRESS ::1', ['--ip', '::1/128'], {}, /is the loopback address ::1/],
    ['IPv6 IP_ADDRESS IPv4-mapped', ['--ip', '::ffff:10.0.0.1/128'], {}, /is IPv4-mapped \(::ffff:0:0\/96\): put an IPv4 address in IP_ADDRESS instead/],
    ['IP_ADDRESS neither family', ['--ip', 'web'], {}, /--ip \(IP_ADDRESS\) "web" is neither an IPv4 nor an IPv6 address with prefix length/],
    ['IPv6-only with GATEWAY', ['--ip', '2001:db8:123::150/64', '--gateway', '192.168.123.1'], {}, /--gateway \(GATEWAY\) "192\.168\.123\.1" is set but IP_ADDRESS 2001:db8:123::150\/64 is IPv6 \(an IPv6-only pod, no IPv4 address to route from\): give the IPv6 router as GATEWAY6/],
    ['IPv6-only with IPV6_ADDRESS', ['--ip', '2001:db8:123::150/64'], { IPV6_ADDRESS: '2001:db8:123::151/64' }, /--ipv6 \(IPV6_ADDRESS\) "2001:db8:123::151\/64" is set but IP_ADDRESS 2001:db8:123::150\/64 is IPv6 already: for dual stack put the IPv4 address in IP_ADDRESS/],
    ['IPv6-only, GATEWAY6 off the prefix', ['--ip', '2001:db8:123::150/64', '--gateway6', '2001:db8:9::1'], {}, /--gateway6 \(GATEWAY6\) "2001:db8:9::1" is not on 2001:db8:123::\/64 \(IP_ADDRESS\)/],
    ['IPv6-only, GATEWAY6 the own address', ['--ip', '2001:db8:123::150/64', '--gateway6', '2001:db8:123::150'], {}, /is the pod's own address 2001:db8:123::150\/64/],
    ['IPv6-only replicas past the prefix', ['--ip', '2001:db8:123::fe/127', '--replicas', '3'], {}, /--ip \(IP_ADDRESS\) 2001:db8:123::fe\/127: pod ordinal 2 would get 2001:db8:123::100, outside 2001:db8:123::fe\/127 .*room for 2 pods/],
    ['IPv6-only, GATEWAY6 a pod address', ['--ip', '2001:db8:123::150/64', '--replicas', '3', '--gateway6', '2001:db8:123::151'], {}, /GATEWAY6 2001:db8:123::151 is the address of pod ordinal 1 \(2001:db8:123::150–2001:db8:123::152 for 3 replicas\)/],
    ['dual stack replicas past the IPv6 prefix', ['--ipv6', '2001:db8:123::ff/120', '--replicas', '2'], {}, /--ipv6 \(IPV6_ADDRESS\) 2001:db8:123::ff\/120: pod ordinal 1 would get 2001:db8:123::100, outside 2001:db8:123::\/120/],
    ['IPv6-only with TLS and ENGINE=vpp', ['--ip', '2001:db8:123::150/64', '--engine', 'vpp', '--tls-secret', 'web-tls'], {}, /--tls-secret \(TLS_SECRET\) web-tls needs --engine ts/],
  ];
  for (const [name, args, env, message] of bad) {
    test(`bad option fails with what is valid: ${name}`, () => {
      assert.throws(() => renderToString(args, env), (e: Error) => e instanceof ValueError && e.exitCode === 2 && message.test(e.message));
    });
  }

  test('the CLI exits 2 on a bad option, prints nothing on stdout and names the command', () => {
    for (const [, args, env, message] of [bad[0]!, bad[1]!, bad[8]!]) {
      const r = render(args, env);
      assert.equal(r.code, 2);
      assert.equal(r.stdout, '', 'nothing rendered');
      assert.match(r.stderr, /^vpp-server render: /);
      assert.match(r.stderr, message);
    }
  });

  test('dual stack: --ipv6 / --gateway6 reach the init container as IPV6_ADDRESS / GATEWAY6 (canonical text)', () => {
    const yaml = renderToString(['--ipv6', '2001:DB8:123:0::150/64', '--gateway6', 'fe80::1', '--kubernetes']);
    assert.match(yaml, /- name: IPV6_ADDRESS\n\s+value: "?2001:db8:123::150\/64"?/);
    assert.match(yaml, /- name: GATEWAY6\n\s+value: "?fe80::1"?/);
    assert.doesNotMatch(renderToString(['--kubernetes']), /IPV6_ADDRESS/);
  });

  test('IPv6-only: --ip <IPv6> reaches init as IP_ADDRESS (no IPV6_ADDRESS), and the rendered init environment gives the IPv6-only startup.conf', () => {
    const yaml = renderToString(['--ip', '2001:DB8:123:0::150/64', '--gateway6', 'fe80::1', '--kubernetes']);
    const k = kubeletCommands(yaml);
    assert.equal(k.init.env['IP_ADDRESS'], '2001:db8:123::150/64');
    assert.equal(k.init.env['GATEWAY6'], 'fe80::1');
    assert.equal(k.init.env['IPV6_ADDRESS'], undefined);
    assert.equal(k.init.env['GATEWAY'], undefined);
    const s = initSettingsFromEnv(k.init.env);
    const startup = renderStartupConf(s, 'c6:b4:b5:74:11:88');
    assert.match(startup, /^set int ip address host-macvlan0\.123 2001:db8:123::150\/64\nip route add ::\/0 via fe80::1 host-macvlan0\.123\nhttp static server www-root \/www uri tcp:\/\/::\/80 cache-size 512m\n$/m);
    // our engine: HTTP probes on the management port (/readyz waits for DAD); the NAD is the seed's single plugin
    assert.equal(k.main.readinessProbe?.httpGet?.path, '/readyz');
    const nad = (parseYaml(yaml) as any[]).find((d) => d.kind === 'NetworkAttachmentDefinition');
    assert.equal(JSON.parse(nad.spec.config).type, 'macvlan');
  });

  test('IPv6-only with ENGINE=vpp: only what VPP 24.10 runs (uri tcp://::/80), the exec probe greps the IPv6 address, the NAD adds tuning allmulti', () => {
    const yaml = renderToString(['--ip', '2001:db8:123::150/64', '--engine', 'vpp', '--kubernetes']);
    const k = kubeletCommands(yaml);
    const startup = renderStartupConf(initSettingsFromEnv(k.init.env), 'c6:b4:b5:74:11:88');
    assert.match(startup, /uri tcp:\/\/::\/80 /);
    assert.doesNotMatch(startup, /listener add|0\.0\.0\.0/);
    assert.match(k.main.readinessProbe?.exec?.command?.join(' ') ?? '', /vppctl -s \/run\/vpp\/cli-vpp1\.sock show interface address \| grep -qxF '  L3 2001:db8:123::150\/64'$/);
    const nad = (parseYaml(yaml) as any[]).find((d) => d.kind === 'NetworkAttachmentDefinition');
    assert.deepEqual(JSON.parse(nad.spec.config), {
      cniVersion: '0.3.1',
      name: 'macvlan0',
      plugins: [
        { type: 'macvlan', master: 'eno8403np1', linkInContainer: false, mode: 'bridge' },
        { type: 'tuning', allmulti: true },
      ],
    });
    // an IPv4 pod with ENGINE=vpp keeps the seed's NAD
    const v4 = (parseYaml(renderToString(['--engine', 'vpp', '--kubernetes'])) as any[]).find((d) => d.kind === 'NetworkAttachmentDefinition');
    assert.equal(JSON.parse(v4.spec.config).type, 'macvlan');
  });

  test('IPv6-only with TLS_SECRET: tls://::/443 from the mounted Secret; REPLICAS: the StatefulSet with the address file for exec probes', () => {
    const k = kubeletCommands(renderToString(['--ip', '2001:db8:123::150/64', '--tls-secret', 'web-tls', '--kubernetes']));
    const startup = renderStartupConf(initSettingsFromEnv(k.init.env), 'c6:b4:b5:74:11:88');
    assert.match(startup, /^http static listener add uri tls:\/\/::\/443 cert \/tls\/tls\.crt key \/tls\/tls\.key$/m);
    const sts = kubeletCommands(renderToString(['--ip', '2001:db8:123::150/64', '--replicas', '3', '--probes', 'exec', '--kubernetes']));
    assert.equal(sts.kind, 'StatefulSet');
    assert.equal(sts.init.env['REPLICAS'], '3');
    const got = [0, 1, 2].map((n) => initSettingsFromEnv({ ...sts.init.env, POD_NAME: `${sts.podNamePrefix}${n}` }).ip6?.cidr);
    assert.deepEqual(got, ['2001:db8:123::150/64', '2001:db8:123::151/64', '2001:db8:123::152/64']);
    assert.match(sts.main.readinessProbe?.exec?.command?.join(' ') ?? '', /grep -qxF "  L3 \$\(cat \/conf\/address\)"$/);
  });

  test('several bad options are reported together', () => {
    const r = render(['--vlan', '0', '--ip', '1.2.3.4', '--engine', 'x']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /invalid options:\n {2}--vlan.*\n {2}--ip.*\n {2}--engine/);
  });

  test('--help lists the options', () => {
    const r = render(['--help'], { VLAN_ID: 'broken' });
    assert.equal(r.code, 0);
    for (const f of ['--master', '--vlan', '--ip', '--namespace', '--image', '--engine', '--www-dir', '--openshift', '--kubernetes']) assert.ok(r.stdout.includes(f), f);
  });
});
