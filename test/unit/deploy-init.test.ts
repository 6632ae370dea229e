import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initSettingsFromEnv, renderStartupConf, renderVppConf, runInit } from '../../src/deploy/init.js';
import { readVppConf } from '../../src/cli/vpp-conf.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const golden = (name: string) => readFileSync(join(repo, 'test/unit/golden', name), 'utf8');
const bin = join(repo, 'bin/vpp-server.js');
const SEED_MAC = 'c6:b4:b5:74:11:88';

/** A scratch tree: fake sysfs with macvlan0, and empty conf/www dirs. */
function scratch(mac = `${SEED_MAC}\n`) {
  const root = mkdtempSync(join(tmpdir(), 'vpp-init-'));
  const sysfs = join(root, 'sys/class/net');
  mkdirSync(join(sysfs, 'macvlan0'), { recursive: true });
  writeFileSync(join(sysfs, 'macvlan0/address'), mac);
  mkdirSync(join(sysfs, 'lo'), { recursive: true });
  writeFileSync(join(sysfs, 'lo/address'), '00:00:00:00:00:00\n');
  const env = {
    SYSFS_NET: sysfs,
    CONF_DIR: join(root, 'conf'),
    WWW_ROOT: join(root, 'www'),
    VLAN_ID: '123',
    IP_ADDRESS: '192.168.123.150/24',
  };
  return { root, sysfs, env, done: () => rmSync(root, { recursive: true, force: true }) };
}

function runCli(env: Record<string, string>, args: string[] = []) {
  const clean: Record<string, string> = { PATH: process.env['PATH'] ?? '/usr/bin:/bin' };
  const r = spawnSync(process.execPath, [bin, 'init', ...args], { env: { ...clean, ...env }, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('deploy init: config files in the seed form', () => {
  test('golden vpp.conf and startup.conf for the seed example (macvlan0 c6:b4:b5:74:11:88, VLAN 123, 192.168.123.150/24)', () => {
    const s = initSettingsFromEnv({ VLAN_ID: '123', IP_ADDRESS: '192.168.123.150/24' });
    assert.equal(renderVppConf(s), golden('seed-vpp.conf'));
    assert.equal(renderStartupConf(s, SEED_MAC), golden('seed-startup.conf'));
  });

  test("our dataplane's vpp.conf reader takes the file: CLI socket and startup-config as written", () => {
    const conf = readVppConf('/conf/vpp.conf', golden('seed-vpp.conf'));
    assert.equal(conf.cliListen, '/run/vpp/cli-vpp1.sock');
    assert.equal(conf.startupConfig, '/conf/startup.conf');
    assert.equal(conf.nodaemon, true);
  });

  test('the init command writes the golden files, reading the MAC from the (fake) sysfs', () => {
    const t = scratch();
    try {
      const r = runCli(t.env);
      assert.equal(r.code, 0, r.stderr);
      // vpp.conf names the container paths it was told: compare with the golden file after mapping CONF_DIR back
      const vpp = readFileSync(join(t.env.CONF_DIR, 'vpp.conf'), 'utf8').replaceAll(t.env.CONF_DIR, '/conf');
      assert.equal(vpp, golden('seed-vpp.conf'));
      const startup = readFileSync(join(t.env.CONF_DIR, 'startup.conf'), 'utf8').replaceAll(t.env.WWW_ROOT, '/www');
      assert.equal(startup, golden('seed-startup.conf'));
      assert.equal(readFileSync(join(t.env.WWW_ROOT, 'index.html'), 'utf8'), 'Welcome\n');
      assert.match(r.stdout, /macvlan0 has MAC c6:b4:b5:74:11:88/);
    } finally {
      t.done();
    }
  });

  test('--sysfs-net overrides where the MAC is read', () => {
    const t = scratch('AA:BB:CC:00:11:22');
    try {
      const { SYSFS_NET, ...env } = t.env;
      const r = runCli(env, ['--sysfs-net', SYSFS_NET]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(readFileSync(join(t.env.CONF_DIR, 'startup.conf'), 'utf8'), /set interface mac address host-macvlan0 aa:bb:cc:00:11:22\n/);
    } finally {
      t.done();
    }
  });

  test('values with stray whitespace and newlines are trimmed (the original had VLAN_ID "123\\n")', () => {
    const t = scratch();
    try {
      const r = runCli({ ...t.env, VLAN_ID: '123\n', IP_ADDRESS: ' 192.168.123.150/24\r\n', HOST_INTERFACE: 'macvlan0\n', CACHE_SIZE: '512m\n' });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(readFileSync(join(t.env.CONF_DIR, 'startup.conf'), 'utf8').replaceAll(t.env.WWW_ROOT, '/www'), golden('seed-startup.conf'));
    } finally {
      t.done();
    }
  });

  test('optional values: HTTP_PORT, CACHE_SIZE, CLI_SOCKET, HOST_INTERFACE', () => {
    const s = initSettingsFromEnv({ VLAN_ID: '7', IP_ADDRESS: '10.0.0.2/8', HTTP_PORT: '8080', CACHE_SIZE: '64M', CLI_SOCKET: '/run/x/cli.sock', HOST_INTERFACE: 'net1' });
    assert.match(renderVppConf(s), /nodaemon cli-listen \/run\/x\/cli.sock\n/);
    const st = renderStartupConf(s, SEED_MAC);
    assert.match(st, /^create host-interface name net1\n/);
    assert.match(st, /create sub-interfaces host-net1 7\n/);
    assert.match(st, /set int ip address host-net1.7 10.0.0.2\/8\n/);
    assert.match(st, /uri tcp:\/\/0.0.0.0\/8080 cache-size 64m\n$/);
  });
});

describe('deploy init: idempotence and web content', () => {
  test('running twice gives the same files and rewrites nothing', () => {
    const t = scratch();
    try {
      const s = initSettingsFromEnv(t.env);
      const first = runInit(s);
      assert.equal(first.written.length, 3);
      const snapshot = () =>
        Object.fromEntries(
          [t.env.CONF_DIR, t.env.WWW_ROOT].flatMap((d) => readdirSync(d).map((f) => [join(d, f), [readFileSync(join(d, f), 'utf8'), statSync(join(d, f)).mtimeMs]])),
        );
      const before = snapshot();
      const second = runInit(s);
      assert.deepEqual(second.written, []);
      assert.equal(second.unchanged.length, 2);
      assert.equal(second.defaultIndex, true);
      assert.deepEqual(snapshot(), before);
    } finally {
      t.done();
    }
  });

  test('a custom index.html is left untouched, and no default is written next to other content', () => {
    const t = scratch();
    try {
      mkdirSync(t.env.WWW_ROOT, { recursive: true });
      writeFileSync(join(t.env.WWW_ROOT, 'index.html'), '<h1>mine</h1>\n');
      const s = initSettingsFromEnv(t.env);
      for (let i = 0; i < 2; i++) {
        const r = runInit(s);
        assert.equal(r.defaultIndex, false);
        assert.equal(readFileSync(join(t.env.WWW_ROOT, 'index.html'), 'utf8'), '<h1>mine</h1>\n');
      }
      const t2 = scratch();
      try {
        mkdirSync(t2.env.WWW_ROOT, { recursive: true });
        writeFileSync(join(t2.env.WWW_ROOT, 'page.html'), 'x');
        runInit(initSettingsFromEnv(t2.env));
        assert.deepEqual(readdirSync(t2.env.WWW_ROOT), ['page.html']);
      } finally {
        t2.done();
      }
    } finally {
      t.done();
    }
  });

  test('WWW_SOURCE (the mounted ConfigMap) is copied into WWW_ROOT, skipping ..data internals; no default index', () => {
    const t = scratch();
    try {
      const src = join(t.root, 'www-src');
      mkdirSync(join(src, 'css'), { recursive: true });
      mkdirSync(join(src, '..2024_01_01'), { recursive: true });
      writeFileSync(join(src, '..2024_01_01/secret'), 'internal');
      writeFileSync(join(src, 'hello.html'), 'hello\n');
      writeFileSync(join(src, 'css/site.css'), 'body{}\n');
      const s = initSettingsFromEnv({ ...t.env, WWW_SOURCE: src });
      const r = runInit(s);
      assert.equal(r.defaultIndex, false);
      assert.deepEqual(readdirSync(t.env.WWW_ROOT).sort(), ['css', 'hello.html']);
      assert.equal(readFileSync(join(t.env.WWW_ROOT, 'css/site.css'), 'utf8'), 'body{}\n');
      assert.deepEqual(runInit(s).written, []);
    } finally {
      t.done();
    }
  });
});

describe('deploy init: every validation error exits non-zero with a clear message', () => {
  const cases: [string, Record<string, string>, RegExp][] = [
    ['VLAN 0', { VLAN_ID: '0' }, /VLAN_ID 0 is not usable: VLAN 0 marks priority-tagged frames.*use 1–4094/],
    ['VLAN 4095', { VLAN_ID: '4095' }, /VLAN_ID 4095 is reserved.*use 1–4094/],
    ['VLAN 5000', { VLAN_ID: '5000' }, /VLAN_ID 5000 is out of range: use 1–4094/],
    ['VLAN abc', { VLAN_ID: 'abc' }, /VLAN_ID "abc" is not a VLAN ID: expected a whole number from 1 to 4094/],
    ['VLAN -1', { VLAN_ID: '-1' }, /VLAN_ID "-1" is not a VLAN ID/],
    ['VLAN missing', { VLAN_ID: '' }, /VLAN_ID is not set: give it, e.g. VLAN_ID=123/],
    ['IP without prefix', { IP_ADDRESS: '192.168.123.150' }, /IP_ADDRESS "192.168.123.150" has no prefix length.*e.g. 192.168.123.150\/24/],
    ['network address', { IP_ADDRESS: '192.168.123.0/24' }, /is the network address of 192.168.123.0\/24; use a host address from 192.168.123.1 to 192.168.123.254/],
    ['broadcast address', { IP_ADDRESS: '192.168.123.255/24' }, /is the broadcast address of 192.168.123.0\/24/],
    ['octet > 255', { IP_ADDRESS: '192.168.300.1/24' }, /octet 300 is greater than 255/],
    ['octet not a number', { IP_ADDRESS: '192.168.x.1/24' }, /octet "x" is not a number from 0 to 255/],
    ['three octets', { IP_ADDRESS: '192.168.1/24' }, /is not an IPv4 address \(four numbers 0–255 separated by dots\)/],
    ['leading zero', { IP_ADDRESS: '192.168.01.1/24' }, /leading zero/],
    ['prefix 33', { IP_ADDRESS: '192.168.1.1/33' }, /prefix length "33" is not a number from 1 to 32/],
    ['multicast', { IP_ADDRESS: '224.0.0.5/24' }, /multicast/],
    ['loopback', { IP_ADDRESS: '127.0.0.2/8' }, /loopback/],
    ['IP missing', { IP_ADDRESS: ' \n' }, /IP_ADDRESS is not set/],
    ['missing interface', { HOST_INTERFACE: 'macvlan9' }, /interface "macvlan9" does not exist.*k8s.v1.cni.cncf.io\/networks.*Interfaces present: lo, macvlan0/],
    ['bad interface name', { HOST_INTERFACE: 'eth0/x' }, /HOST_INTERFACE "eth0\/x" is not a valid interface name/],
    ['long interface name', { HOST_INTERFACE: 'a234567890123456' }, /at most 15 characters/],
    ['bad port', { HTTP_PORT: '70000' }, /HTTP_PORT "70000" is not a TCP port: expected a whole number from 1 to 65535/],
    ['bad cache size', { CACHE_SIZE: '1t' }, /CACHE_SIZE "1t" is not a size/],
    ['relative conf dir', { CONF_DIR: 'conf' }, /CONF_DIR "conf" is not an absolute path/],
  ];
  for (const [name, override, message] of cases) {
    test(name, () => {
      const t = scratch();
      try {
        const r = runCli({ ...t.env, ...override });
        assert.notEqual(r.code, 0);
        assert.equal(r.code, 2);
        assert.match(r.stderr, /^vpp-server init: /);
        assert.match(r.stderr, message);
        assert.throws(() => readFileSync(join(t.env.CONF_DIR, 'vpp.conf')), /ENOENT/, 'nothing is written on error');
      } finally {
        t.done();
      }
    });
  }

  test('several bad values are all reported at once', () => {
    const t = scratch();
    try {
      const r = runCli({ ...t.env, VLAN_ID: '0', IP_ADDRESS: '10.0.0.0/8', HTTP_PORT: 'x' });
      assert.equal(r.code, 2);
      assert.match(r.stderr, /invalid environment:\n {2}VLAN_ID 0.*\n {2}IP_ADDRESS.*network address.*\n {2}HTTP_PORT/);
    } finally {
      t.done();
    }
  });

  test('an interface without a MAC address is refused', () => {
    const t = scratch('00:00:00:00:00:00\n');
    try {
      const r = runCli(t.env);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /has no hardware address/);
    } finally {
      t.done();
    }
  });

  test('an unwritable CONF_DIR says which directory and what to check, exit 1', () => {
    const t = scratch();
    try {
      writeFileSync(join(t.root, 'plainfile'), '');
      const r = runCli({ ...t.env, CONF_DIR: join(t.root, 'plainfile/conf') });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^vpp-server init: cannot write CONF_DIR .*plainfile\/conf: ENOTDIR .*emptyDir: is it mounted there and writable by uid/);
    } finally {
      t.done();
    }
  });

  test('unknown arguments are refused', () => {
    const r = runCli({}, ['--vlan', '5']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown option --vlan; valid options: --sysfs-net --help/);
    assert.match(r.stderr, /init is configured by environment variables/);
    const v = runCli({}, ['--sysfs-net']);
    assert.equal(v.code, 2);
    assert.match(v.stderr, /--sysfs-net needs a value/);
  });
});

describe('deploy init: GATEWAY and the StatefulSet ordinal', () => {
  const base = { VLAN_ID: '123', IP_ADDRESS: '192.168.123.150/24' };

  test("GATEWAY adds VPP's default-route line after the address; without it the seed's lines are unchanged", () => {
    const s = initSettingsFromEnv({ ...base, GATEWAY: ' 192.168.123.1\n' });
    assert.equal(s.gateway, '192.168.123.1');
    const lines = renderStartupConf(s, SEED_MAC).trim().split('\n');
    assert.equal(lines.length, 8);
    assert.equal(lines[5], 'set int ip address host-macvlan0.123 192.168.123.150/24');
    assert.equal(lines[6], 'ip route add 0.0.0.0/0 via 192.168.123.1 host-macvlan0.123');
    assert.equal(renderStartupConf(initSettingsFromEnv(base), SEED_MAC), golden('seed-startup.conf'));
  });

  test('GATEWAY is validated: inside the prefix, not the network, broadcast or own address', () => {
    const bad: Array<[string, RegExp]> = [
      ['192.168.124.1', /GATEWAY 192\.168\.124\.1 is not inside 192\.168\.123\.0\/24/],
      ['192.168.123.150', /GATEWAY 192\.168\.123\.150 is the pod's own address/],
      ['192.168.123.0', /network address/],
      ['192.168.123.255', /broadcast address/],
      ['192.168.123.1/24', /without a prefix length/],
      ['192.168.123', /not an IPv4 address/],
    ];
    for (const [g, re] of bad) assert.throws(() => initSettingsFromEnv({ ...base, GATEWAY: g }), re, g);
  });

  test('REPLICAS > 1: the address is IP_ADDRESS + the ordinal of POD_NAME', () => {
    const s = initSettingsFromEnv({ ...base, REPLICAS: '3', POD_NAME: 'vpp-server-2' });
    assert.equal(s.ip?.cidr, '192.168.123.152/24');
    assert.equal(s.ordinal, 2);
    assert.match(renderStartupConf(s, SEED_MAC), /^set int ip address host-macvlan0\.123 192\.168\.123\.152\/24$/m);
    assert.equal(initSettingsFromEnv({ ...base, REPLICAS: '3', POD_NAME: 'vpp-server-0' }).ip?.cidr, '192.168.123.150/24');
    assert.throws(() => initSettingsFromEnv({ ...base, REPLICAS: '3' }), /POD_NAME is not set/);
    assert.throws(() => initSettingsFromEnv({ ...base, REPLICAS: '3', POD_NAME: 'vpp-server-3' }), /ordinal 3 is not below REPLICAS=3/);
    assert.throws(() => initSettingsFromEnv({ ...base, REPLICAS: '3', POD_NAME: 'vpp-server' }), /does not end in -<ordinal>/);
    assert.throws(() => initSettingsFromEnv({ ...base, REPLICAS: '3', POD_NAME: 'vpp-server-1', GATEWAY: '192.168.123.151' }), /address of pod ordinal 1/);
    assert.throws(() => initSettingsFromEnv({ ...base, IP_ADDRESS: '192.168.123.253/24', REPLICAS: '3', POD_NAME: 'vpp-server-0' }), /ordinal 2 would get 192\.168\.123\.255, the broadcast address/);
  });
});

describe('deploy init: dual stack (IPV6_ADDRESS, GATEWAY6)', () => {
  const base = { VLAN_ID: '123', IP_ADDRESS: '192.168.123.150/24' };

  test("IPV6_ADDRESS adds VPP's IPv6 address line after the IPv4 one, GATEWAY6 the ::/0 route; canonical text", () => {
    const s = initSettingsFromEnv({ ...base, IPV6_ADDRESS: ' 2001:DB8:123:0::150/64\n', GATEWAY6: 'FE80::1' });
    const lines = renderStartupConf(s, SEED_MAC).trim().split('\n');
    assert.equal(lines[5], 'set int ip address host-macvlan0.123 192.168.123.150/24');
    assert.equal(lines[6], 'set int ip address host-macvlan0.123 2001:db8:123::150/64');
    assert.equal(lines[7], 'ip route add ::/0 via fe80::1 host-macvlan0.123');
    assert.match(lines[8], /^http static server www-root \/www uri tcp:\/\/0\.0\.0\.0\/80 /);
    assert.equal(lines[9], 'http static listener add uri tcp://::/80', 'the same server on IPv6');
    assert.equal(initSettingsFromEnv({ ...base, IPV6_ADDRESS: '2001:db8:123::150/64', GATEWAY6: '2001:db8:123::1' }).gateway6, '2001:db8:123::1');
  });

  test('IPV6_ADDRESS and GATEWAY6 are validated with a clear message', () => {
    const bad: Array<[Record<string, string>, RegExp]> = [
      [{ IPV6_ADDRESS: '2001:db8:123::150' }, /IPV6_ADDRESS "?2001:db8:123::150"? has no prefix length/],
      [{ IPV6_ADDRESS: '2001:db8:123::150/0' }, /prefix length "?0"? is not a number from 1 to 128/],
      [{ IPV6_ADDRESS: '2001:db8:123::150/129' }, /not a number from 1 to 128/],
      [{ IPV6_ADDRESS: '2001:db8:123::/64' }, /subnet-router anycast address/],
      [{ IPV6_ADDRESS: 'ff02::1/64' }, /is a multicast address/],
      [{ IPV6_ADDRESS: 'fe80::150/64' }, /is link-local/],
      [{ IPV6_ADDRESS: '::/64' }, /unspecified address/],
      [{ IPV6_ADDRESS: '::1/128' }, /loopback/],
      [{ IPV6_ADDRESS: '::ffff:192.168.123.150/120' }, /IPv4-mapped/],
      [{ IPV6_ADDRESS: '2001:db8::123::150/64' }, /is not an IPv6 address/],
      [{ GATEWAY6: 'fe80::1' }, /GATEWAY6 is set but IPV6_ADDRESS is not/],
      [{ IPV6_ADDRESS: '2001:db8:123::150/64', GATEWAY6: '2001:db8:124::1' }, /is not on 2001:db8:123::\/64/],
      [{ IPV6_ADDRESS: '2001:db8:123::150/64', GATEWAY6: '2001:db8:123::150' }, /the pod's own address/],
      [{ IPV6_ADDRESS: '2001:db8:123::150/64', GATEWAY6: 'ff02::2' }, /not a unicast address/],
      [{ IPV6_ADDRESS: '2001:db8:123::150/64', GATEWAY6: 'fe80::' }, /subnet-router anycast address of fe80::\/64/],
      [{ IPV6_ADDRESS: '::1.2.3.4/64' }, /IPv4-compatible/],
      [{ IPV6_ADDRESS: 'fec0::150/10' }, /site-local/],
      [{ IPV6_ADDRESS: 'fec0:1::150/64' }, /site-local/],
      [{ IPV6_ADDRESS: '2001:db8:123::fdff:ffff:ffff:ff80/64' }, /reserved subnet anycast/],
      [{ IPV6_ADDRESS: '2001:db8:123::fdff:ffff:ffff:ffff/48' }, /reserved subnet anycast/],
      [{ IPV6_ADDRESS: '2001:db8:123::fdff:ffff:ffff:ff7e/64', REPLICAS: '3', POD_NAME: 'vpp-server-0' }, /pod ordinal 2 would get 2001:db8:123:0:fdff:ffff:ffff:ff80, a reserved subnet anycast/],
    ];
    for (const [env, re] of bad) assert.throws(() => initSettingsFromEnv({ ...base, ...env }), re, JSON.stringify(env));
    // Just below the reserved range, and /65 and longer (interface IDs not in EUI-64 format): fine.
    assert.equal(initSettingsFromEnv({ ...base, IPV6_ADDRESS: '2001:db8:123::fdff:ffff:ffff:ff7f/64' }).ip6?.address, '2001:db8:123:0:fdff:ffff:ffff:ff7f');
    assert.equal(initSettingsFromEnv({ ...base, IPV6_ADDRESS: '2001:db8:123::fdff:ffff:ffff:ff80/96' }).ip6?.address, '2001:db8:123:0:fdff:ffff:ffff:ff80');
  });

  test("GATEWAY6 is not the pod's own EUI-64 link-local (either U/L bit): init reads the MAC", () => {
    for (const own of ['fe80::c4b4:b5ff:fe74:1188', 'FE80::C6B4:B5FF:FE74:1188']) {
      const t = scratch();
      try {
        const s = initSettingsFromEnv({ ...t.env, IPV6_ADDRESS: '2001:db8:123::150/64', GATEWAY6: own });
        assert.throws(() => runInit(s), /GATEWAY6 fe80::c[46]b4:b5ff:fe74:1188 is the pod's own link-local address \(made from the interface's MAC c6:b4:b5:74:11:88\)/);
      } finally {
        t.done();
      }
    }
    const t = scratch();
    try {
      runInit(initSettingsFromEnv({ ...t.env, IPV6_ADDRESS: '2001:db8:123::150/64', GATEWAY6: 'fe80::c4b4:b5ff:fe74:1189' }));
    } finally {
      t.done();
    }
  });

  test('REPLICAS > 1: IPV6_ADDRESS + the ordinal too', () => {
    const s = initSettingsFromEnv({ ...base, IPV6_ADDRESS: '2001:db8:123::1ff/64', REPLICAS: '3', POD_NAME: 'vpp-server-2' });
    assert.equal(s.ip6?.cidr, '2001:db8:123::201/64');
    assert.throws(() => initSettingsFromEnv({ ...base, IPV6_ADDRESS: '2001:db8:123::fe/127', REPLICAS: '3', POD_NAME: 'vpp-server-2' }), /leaves the prefix \/127/);
  });
});

describe('deploy init: IPv6-only (an IPv6 IP_ADDRESS)', () => {
  const base = { VLAN_ID: '123', IP_ADDRESS: '2001:db8:123::150/64' };

  test('golden startup.conf: the IPv6 address in the IPv4 one\'s place, the server on tcp://::/80, no listener add, no IPv4 line', () => {
    const s = initSettingsFromEnv(base);
    assert.equal(s.ip, undefined, 'no IPv4 address');
    assert.equal(s.ip6?.cidr, '2001:db8:123::150/64');
    assert.equal(renderVppConf(s), golden('seed-vpp.conf'), 'vpp.conf is the same');
    assert.equal(renderStartupConf(s, SEED_MAC), golden('ipv6-only-startup.conf'));
    const text = renderStartupConf(s, SEED_MAC);
    assert.doesNotMatch(text, /0\.0\.0\.0|listener add/, 'only what FD.io VPP 24.10 runs');
  });

  test('canonical text (upper case, zeros, stray whitespace), GATEWAY6 adds the ::/0 route (link-local or on the prefix)', () => {
    const s = initSettingsFromEnv({ ...base, IP_ADDRESS: ' 2001:DB8:123:0::150/64\n', GATEWAY6: 'FE80::1' });
    const lines = renderStartupConf(s, SEED_MAC).trim().split('\n');
    assert.deepEqual(lines.slice(5), [
      'set int ip address host-macvlan0.123 2001:db8:123::150/64',
      'ip route add ::/0 via fe80::1 host-macvlan0.123',
      'http static server www-root /www uri tcp://::/80 cache-size 512m',
    ]);
    assert.equal(initSettingsFromEnv({ ...base, GATEWAY6: '2001:db8:123::1' }).gateway6, '2001:db8:123::1');
  });

  test('TLS_DIR: the HTTPS listener is tls://::/443 (the certificate from the mounted Secret)', () => {
    const s = initSettingsFromEnv({ ...base, TLS_DIR: '/tls' });
    const lines = renderStartupConf(s, SEED_MAC).trim().split('\n');
    assert.equal(lines.at(-2), 'http static server www-root /www uri tcp://::/80 cache-size 512m');
    assert.equal(lines.at(-1), 'http static listener add uri tls://::/443 cert /tls/tls.crt key /tls/tls.key');
    assert.equal(lines.filter((l) => l.includes('tls://')).length, 1, 'one HTTPS listener');
  });

  test('the v6 IP_ADDRESS is validated exactly like IPV6_ADDRESS, each with a clear message naming IP_ADDRESS', () => {
    const bad: Array<[string, RegExp]> = [
      ['2001:db8:123::150', /IP_ADDRESS "2001:db8:123::150" has no prefix length: write it with one, e.g. 2001:db8:123::150\/64$/],
      ['2001:db8:123::150/0', /IP_ADDRESS "2001:db8:123::150\/0": prefix length "0" is not a number from 1 to 128$/],
      ['2001:db8:123::150/129', /IP_ADDRESS "2001:db8:123::150\/129": prefix length "129" is not a number from 1 to 128$/],
      ['2001:db8:123::150/x', /prefix length "x" is not a number from 1 to 128/],
      ['2001:db8:123::/64', /IP_ADDRESS "2001:db8:123::\/64" is the subnet-router anycast address of 2001:db8:123::\/64; use a host address$/],
      ['ff02::1/64', /IP_ADDRESS "ff02::1\/64" is a multicast address$/],
      ['fe80::150/64', /IP_ADDRESS "fe80::150\/64" is link-local \(fe80::\/10\): the dataplane makes its link-local address from the MAC; give a global or unique local address$/],
      ['::/64', /IP_ADDRESS "::\/64" is the unspecified address ::$/],
      ['::1/128', /IP_ADDRESS "::1\/128" is the loopback address ::1$/],
      ['::ffff:192.168.123.150/120', /IP_ADDRESS "::ffff:192\.168\.123\.150\/120" is IPv4-mapped \(::ffff:0:0\/96\): put an IPv4 address in IP_ADDRESS instead$/],
      ['2001:db8::123::150/64', /IP_ADDRESS "2001:db8::123::150\/64": "2001:db8::123::150" is not an IPv6 address/],
      ['[2001:db8:123::150]/64', /is not an IPv6 address/],
      ['abc', /IP_ADDRESS "abc" is neither an IPv4 nor an IPv6 address with prefix length: e\.g\. 192\.168\.123\.150\/24, or 2001:db8:123::150\/64 for an IPv6-only pod$/],
    ];
    for (const [ip, re] of bad) assert.throws(() => initSettingsFromEnv({ ...base, IP_ADDRESS: ip }), re, ip);
    // a /127 (RFC 6164) and a /128 are host addresses: no subnet-router anycast check there
    assert.equal(initSettingsFromEnv({ ...base, IP_ADDRESS: '2001:db8:123::/127' }).ip6?.cidr, '2001:db8:123::/127');
    assert.equal(initSettingsFromEnv({ ...base, IP_ADDRESS: '2001:db8:123::150/128' }).ip6?.cidr, '2001:db8:123::150/128');
  });

  test('GATEWAY is refused (no IPv4 address to route from), IPV6_ADDRESS beside it is refused, GATEWAY6 is checked against IP_ADDRESS', () => {
    const bad: Array<[Record<string, string>, RegExp]> = [
      [{ GATEWAY: '192.168.123.1' }, /GATEWAY "192\.168\.123\.1" is set but IP_ADDRESS 2001:db8:123::150\/64 is IPv6 \(an IPv6-only pod, no IPv4 address to route from\): give the IPv6 router as GATEWAY6 \(e\.g\. fe80::1, or an address on 2001:db8:123::\/64\), and leave GATEWAY empty$/],
      [{ GATEWAY: 'fe80::1' }, /GATEWAY "fe80::1" is set but IP_ADDRESS .* is IPv6.*give the IPv6 router as GATEWAY6/],
      [{ IPV6_ADDRESS: '2001:db8:123::151/64' }, /IPV6_ADDRESS "2001:db8:123::151\/64" is set but IP_ADDRESS 2001:db8:123::150\/64 is IPv6 already: for dual stack put the IPv4 address in IP_ADDRESS and the IPv6 one in IPV6_ADDRESS; for an IPv6-only pod leave IPV6_ADDRESS empty$/],
      [{ GATEWAY6: '2001:db8:124::1' }, /GATEWAY6 "2001:db8:124::1" is not on 2001:db8:123::\/64 \(IP_ADDRESS\): give a router on that prefix, or its link-local address$/],
      [{ GATEWAY6: '2001:db8:123::150' }, /GATEWAY6 "2001:db8:123::150" is the pod's own address 2001:db8:123::150\/64: give the router's address$/],
      [{ GATEWAY6: 'ff02::2' }, /GATEWAY6 "ff02::2" is not a unicast address: give the router's address$/],
      [{ GATEWAY6: 'fe80::1/64' }, /GATEWAY6 "fe80::1\/64": give the router's address alone, without a prefix length \(e\.g\. fe80::1\)$/],
      [{ GATEWAY6: '192.168.123.1' }, /GATEWAY6 "192\.168\.123\.1" is not an IPv6 address/],
    ];
    for (const [env, re] of bad) assert.throws(() => initSettingsFromEnv({ ...base, ...env }), re, JSON.stringify(env));
    // an IPv4 IP_ADDRESS with GATEWAY6 and no IPV6_ADDRESS: says both ways to get an IPv6 address
    assert.throws(
      () => initSettingsFromEnv({ VLAN_ID: '123', IP_ADDRESS: '192.168.123.150/24', GATEWAY6: 'fe80::1' }),
      /GATEWAY6 is set but IPV6_ADDRESS is not, nor is IP_ADDRESS an IPv6 address: .*an IPv6 IP_ADDRESS for an IPv6-only pod\)$/,
    );
  });

  test('REPLICAS > 1: pod n gets IP_ADDRESS + n (IPv6), written to the address file for the exec probe; clear errors', () => {
    const s = initSettingsFromEnv({ ...base, IP_ADDRESS: '2001:db8:123::1ff/64', REPLICAS: '3', POD_NAME: 'vpp-server-2' });
    assert.equal(s.ip, undefined);
    assert.equal(s.ip6?.cidr, '2001:db8:123::201/64');
    assert.equal(s.ordinal, 2);
    assert.match(renderStartupConf(s, SEED_MAC), /^set int ip address host-macvlan0\.123 2001:db8:123::201\/64$/m);
    assert.throws(
      () => initSettingsFromEnv({ ...base, IP_ADDRESS: '2001:db8:123::fe/127', REPLICAS: '3', POD_NAME: 'vpp-server-0' }),
      /IP_ADDRESS 2001:db8:123::fe\/127: pod ordinal 2 would get 2001:db8:123::100, outside 2001:db8:123::fe\/127 \(it leaves the prefix \/127\): from 2001:db8:123::fe the prefix has room for 2 pods \(last address 2001:db8:123::ff\); start lower, use a shorter prefix or fewer replicas$/,
    );
    assert.throws(
      () => initSettingsFromEnv({ ...base, IP_ADDRESS: '2001:db8:123:0:ffff:ffff:ffff:ffff/64', REPLICAS: '2', POD_NAME: 'vpp-server-0' }),
      /pod ordinal 1 would get 2001:db8:123:1::, outside 2001:db8:123::\/64 .*room for 1 pod \(last address 2001:db8:123:0:ffff:ffff:ffff:ffff\)/,
    );
    assert.throws(
      () => initSettingsFromEnv({ ...base, REPLICAS: '3', POD_NAME: 'vpp-server-0', GATEWAY6: '2001:db8:123::152' }),
      /GATEWAY6 2001:db8:123::152 is the address of pod ordinal 2 \(2001:db8:123::150–2001:db8:123::152 for 3 replicas\): give the router's address, outside that range$/,
    );
    const t = scratch();
    try {
      const r = runCli({ ...t.env, IP_ADDRESS: '2001:db8:123::150/64', REPLICAS: '3', POD_NAME: 'vpp-server-1' });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(readFileSync(join(t.env.CONF_DIR, 'address'), 'utf8'), '2001:db8:123::151/64\n');
      assert.match(r.stdout, /^init: pod ordinal 1: address 2001:db8:123::151\/64 \(IP_ADDRESS \+ 1\)$/m);
      assert.match(r.stdout, /^init: host-macvlan0\.123 will have 2001:db8:123::151\/64 \(IPv6-only\); HTTP on port 80; /m);
    } finally {
      t.done();
    }
  });

  test('the init command: writes the IPv6-only files, exit 2 with the message on bad input, nothing written', () => {
    const t = scratch();
    try {
      const ok = runCli({ ...t.env, IP_ADDRESS: '2001:db8:123::150/64', GATEWAY6: 'fe80::1' });
      assert.equal(ok.code, 0, ok.stderr);
      const startup = readFileSync(join(t.env.CONF_DIR, 'startup.conf'), 'utf8').replaceAll(t.env.WWW_ROOT, '/www');
      assert.match(startup, /^http static server www-root \/www uri tcp:\/\/::\/80 cache-size 512m$/m);
      assert.match(ok.stdout, /^init: IPv6 default route via fe80::1$/m);
      assert.match(ok.stdout, /will have 2001:db8:123::150\/64 \(IPv6-only\)/);
    } finally {
      t.done();
    }
    for (const [env, re] of [
      [{ IP_ADDRESS: 'fe80::150/64' }, /^vpp-server init: IP_ADDRESS "fe80::150\/64" is link-local/],
      [{ IP_ADDRESS: '2001:db8:123::150/64', GATEWAY: '192.168.123.1' }, /^vpp-server init: GATEWAY "192\.168\.123\.1" is set but IP_ADDRESS 2001:db8:123::150\/64 is IPv6/],
      [{ IP_ADDRESS: '2001:db8:123::150/64', IPV6_ADDRESS: '2001:db8:123::151/64' }, /^vpp-server init: IPV6_ADDRESS .* is IPv6 already/],
    ] as Array<[Record<string, string>, RegExp]>) {
      const t2 = scratch();
      try {
        const r = runCli({ ...t2.env, ...env });
        assert.equal(r.code, 2, JSON.stringify(env));
        assert.match(r.stderr, re);
        assert.throws(() => readFileSync(join(t2.env.CONF_DIR, 'startup.conf')), /ENOENT/, 'nothing is written on error');
      } finally {
        t2.done();
      }
    }
  });

  test('--help documents the IPv6 forms', () => {
    const r = runCli({}, ['--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /IPv6-only pod, e\.g\. 2001:db8:123::150\/64/);
    assert.match(r.stdout, /^ {2}IPV6_ADDRESS /m);
    assert.match(r.stdout, /^ {2}GATEWAY6 /m);
  });
});
