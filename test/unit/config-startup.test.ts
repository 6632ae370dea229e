/**
 * startup.conf through runStartupConfig: the seed's file works; each class of mistake stops
 * start-up with `<file>:<line>: <what was wrong>, <what is valid>`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runStartupConfig, type ExecutedLine } from '../../src/cli/startup-config.js';
import { ConfigError } from '../../src/cli/vpp-conf.js';
import { CommandError } from '../../src/cli/registry.js';
import { createRegistry } from '../../src/cli/cli.js';
import { createTestBed, SEED_HTTP_LINE, SEED_STARTUP_LINES, type TestBed } from '../helpers/dataplane.js';
import { pingFrame } from '../helpers/frames.js';

let dir: string;
let n = 0;

function writeConf(lines: readonly string[]): string {
  const file = join(dir, `startup-${n++}.conf`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

async function run(lines: readonly string[], tb?: TestBed): Promise<{ tb: TestBed; executed: ExecutedLine[]; file: string }> {
  const bed = tb ?? (await createTestBed());
  const file = writeConf(lines);
  const executed: ExecutedLine[] = [];
  await runStartupConfig(bed.registry, file, bed.ctx, (e) => executed.push(e));
  return { tb: bed, executed, file };
}

/** Runs the lines and returns the ConfigError; checks the `<file>:<line>: ` prefix. */
async function failure(lines: readonly string[], line: number): Promise<{ error: ConfigError; tb: TestBed; text: string }> {
  const tb = await createTestBed();
  const file = writeConf(lines);
  try {
    await runStartupConfig(tb.registry, file, tb.ctx);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.file, file);
    assert.equal(err.line, line);
    assert.ok(err.message.startsWith(`${file}:${line}: `), err.message);
    return { error: err, tb, text: err.message.slice(`${file}:${line}: `.length) };
  }
  assert.fail('the startup-config was accepted');
}

const SEED = SEED_STARTUP_LINES;

describe('config: startup.conf', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'startup-conf-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('runs the seed’s lines, reporting each with its line number, and the dataplane answers', async () => {
    const { tb, executed } = await run(['# written by init', '', ...SEED]);
    assert.deepEqual(
      executed.map((e) => [e.line, e.command]),
      SEED.map((c, i) => [i + 3, c]),
    );
    assert.equal(executed[0].output, 'host-macvlan0', 'create host-interface prints the new name, as VPP does');
    assert.equal(executed[3].output, 'host-macvlan0.123');
    assert.equal(tb.send(pingFrame()).length, 1);
  });

  it('runs the seed’s whole file, including the http line, when that command is registered', async () => {
    const tb = await createTestBed();
    const seen: string[] = [];
    const registry = createRegistry([
      {
        path: 'http static server',
        help: 'http static server www-root <dir> uri tcp://<address>/<port> cache-size <n>',
        run(args) {
          seen.push(args.words.join(' '));
        },
      },
    ]);
    const file = writeConf([...SEED, SEED_HTTP_LINE]);
    await runStartupConfig(registry, file, tb.ctx);
    assert.deepEqual(seen, ['www-root /www uri tcp://0.0.0.0/80 cache-size 512m']);
  });

  it('stops at the first bad line: nothing after it runs', async () => {
    const { tb } = await failure(['create host-interface name macvlan0', 'frobnicate', 'create sub-interfaces host-macvlan0 123'], 2);
    assert.equal(tb.dp.find('host-macvlan0.123'), undefined);
  });

  it('unknown command: says what commands exist', async () => {
    const { text } = await failure([...SEED.slice(0, 2), 'make host-interface name macvlan1'], 3);
    assert.match(text, /unknown input `make host-interface name macvlan1'/);
    assert.match(text, /valid: .*create.*set.*show/);
  });

  it('unknown sub-command: says what follows the known words', async () => {
    const { text } = await failure([...SEED.slice(0, 1), 'set interface sate host-macvlan0 up'], 2);
    assert.match(text, /unknown input `sate host-macvlan0 up' after 'set interface' \(valid: .*mac.*state/);
  });

  it('ambiguous abbreviation: lists the candidates', async () => {
    const { text } = await failure([...SEED.slice(0, 1), 'set int l host-macvlan0'], 2);
    assert.match(text, /ambiguous input `l'.*could be: l2, l3/);
  });

  describe('bad address', () => {
    for (const [address, message] of [
      ['192.168.123.300/24', /`192\.168\.123\.300\/24' is not an IPv4 or IPv6 address with prefix length \(expected e\.g\. 192\.168\.123\.150\/24 or 2001:db8:123::150\/64\)/],
      ['192.168.123.150', /is not an IPv4 or IPv6 address with prefix length \(expected e\.g\./],
      ['192.168.123.150/33', /is not an IPv4 or IPv6 address with prefix length/],
      ['2001:db8:123::150/129', /is not an IPv4 or IPv6 address with prefix length/],
      ['2001:db8:123::150', /is not an IPv4 or IPv6 address with prefix length/],
      ['ff02::1/64', /ff02::1\/64 is multicast; an interface needs a unicast address/],
      ['::/64', /is the unspecified address/],
      ['::1/128', /is the loopback address/],
      ['::ffff:192.168.123.150/120', /is IPv4-mapped/],
      ['fe80::1/64', /is link-local; the link-local address is made from the MAC/],
      ['2001:db8:123::/64', /subnet-router anycast address of its prefix; use a host address/],
      ['2001:db8:123::150/0', /the prefix length must be 1-128/],
      ['192.168.123.0/24', /network or broadcast address of its subnet; use a host address/],
      ['192.168.123.255/24', /network or broadcast address/],
      ['240.0.0.1/24', /`240\.0\.0\.1\/24' is in 240\.0\.0\.0\/4 \(class E, reserved: never a valid address, and this dataplane uses it for its IPv6 TCP handles\): use another interface address/],
    ] as const) {
      it(address, async () => {
        const { text } = await failure([...SEED.slice(0, 5), `set int ip address host-macvlan0.123 ${address}`], 6);
        assert.match(text, /^set interface ip address: /);
        assert.match(text, message);
      });
    }

    it('a route into 240.0.0.0/4, or via it, is refused with the reason (a route covering it is fine)', async () => {
      let r = await failure([...SEED, 'ip route add 240.1.0.0/16 via 192.168.123.1 host-macvlan0.123'], 7);
      assert.match(r.text, /`240\.1\.0\.0\/16' is in 240\.0\.0\.0\/4 \(class E.*\): no route can be added there/);
      r = await failure([...SEED, 'ip route add 10.0.0.0/8 via 250.0.0.1 host-macvlan0.123'], 7);
      assert.match(r.text, /next hop 250\.0\.0\.1 is in 240\.0\.0\.0\/4/);
      const tb = await createTestBed();
      await runStartupConfig(tb.registry, writeConf([...SEED, 'ip route add 128.0.0.0/1 via 192.168.123.1 host-macvlan0.123']), tb.ctx);
    });

    it('an address already on another interface, or overlapping its subnet', async () => {
      let r = await failure([...SEED, 'set int ip address host-macvlan0 192.168.123.150/24'], 7);
      assert.match(r.text, /192\.168\.123\.150 is already configured on host-macvlan0\.123/);
      r = await failure([...SEED, 'set int ip address host-macvlan0 192.168.123.1/24'], 7);
      assert.match(r.text, /overlaps 192\.168\.123\.150\/24 on host-macvlan0\.123/);
    });
  });

  it('unknown interface: lists the interfaces that exist', async () => {
    const { text } = await failure([...SEED.slice(0, 4), 'set interface state host-macvlan0.124 up'], 5);
    assert.match(text, /unknown interface 'host-macvlan0\.124' \(interfaces: host-macvlan0, host-macvlan0\.123\)/);
    const before = await failure(['set int state host-macvlan0 up'], 1);
    assert.match(before.text, /unknown interface 'host-macvlan0' \(interfaces: none yet\)/);
  });

  it('a sub-interface of a sub-interface', async () => {
    const { text } = await failure([...SEED, 'create sub-interfaces host-macvlan0.123 5'], 7);
    assert.match(text, /host-macvlan0\.123 is a sub-interface; sub-interfaces go on a hardware interface/);
  });

  describe('VLAN out of range', () => {
    for (const [line, message] of [
      ['create sub-interfaces host-macvlan0 4095', /VLAN ID 4095 is out of range \(valid: 1-4094\)/],
      ['create sub-interfaces host-macvlan0 0', /`0' is not valid \(expected an integer 1-/],
      ['create sub-interfaces host-macvlan0 5 dot1q 4095', /VLAN ID `4095' is not valid \(expected an integer 1-4094\)/],
      ['create sub-interfaces host-macvlan0 5 dot1q 0', /VLAN ID `0' is not valid \(expected an integer 1-4094\)/],
      ['create sub-interfaces host-macvlan0 -1', /`-1' is not valid \(expected an integer 1-/],
      ['create sub-interfaces host-macvlan0 12x', /`12x' is not valid \(expected an integer/],
    ] as const) {
      it(line, async () => {
        const { text } = await failure(['create host-interface name macvlan0', line], 2);
        assert.match(text, /^create sub-interfaces: /);
        assert.match(text, message);
      });
    }

    it('a VLAN already used by another sub-interface', async () => {
      const { text } = await failure([...SEED, 'create sub-interfaces host-macvlan0 7 dot1q 123'], 7);
      assert.match(text, /VLAN 123 is already matched by host-macvlan0\.123/);
      const dup = await failure([...SEED, 'create sub-interfaces host-macvlan0 123'], 7);
      assert.match(dup.text, /interface host-macvlan0\.123 already exists/);
    });
  });

  describe('bad MAC', () => {
    for (const [mac, message] of [
      ['c6:b4:b5:74:11', /`c6:b4:b5:74:11' is not a MAC address \(expected e\.g\. c6:b4:b5:74:11:88\)/],
      ['c6:b4:b5:74:11:8g', /is not a MAC address \(expected e\.g\./],
      ['01:00:5e:00:00:01', /01:00:5e:00:00:01 is a multicast address; an interface needs a unicast MAC/],
      ['ff:ff:ff:ff:ff:ff', /is a multicast address/],
    ] as const) {
      it(mac, async () => {
        const { text } = await failure(['create host-interface name macvlan0', `set interface mac address host-macvlan0 ${mac}`], 2);
        assert.match(text, /^set interface mac address: /);
        assert.match(text, message);
      });
    }

    it('on a sub-interface', async () => {
      const { text } = await failure([...SEED, 'set interface mac address host-macvlan0.123 c6:b4:b5:74:11:89'], 7);
      assert.match(text, /is a sub-interface; set the MAC on host-macvlan0/);
    });
  });

  describe('missing argument: names what is missing and what would be valid', () => {
    for (const [line, message] of [
      ['create host-interface', /missing name <ifname> \(the kernel interface to attach to, e\.g\. macvlan0\)/],
      ['create host-interface name', /missing host interface name/],
      ['set interface state', /missing interface name \(interfaces: host-macvlan0\)/],
      ['set interface state host-macvlan0', /missing state \(valid: up, down\)/],
      ['set interface mac address host-macvlan0', /missing MAC address \(e\.g\. c6:b4:b5:74:11:88\)/],
      ['set int ip address host-macvlan0', /missing address\/prefix-length \(e\.g\. 192\.168\.123\.150\/24 or 2001:db8:123::150\/64\)/],
      ['create sub-interfaces host-macvlan0', /missing sub-interface id \(expected an integer 1-4294967295\)/],
      ['create sub-interfaces host-macvlan0 5 dot1q', /missing VLAN ID \(expected an integer 1-4094\)/],
      ['set interface l2 xconnect host-macvlan0', /missing interface name \(interfaces: host-macvlan0\)/],
      ['set interface l2 tag-rewrite host-macvlan0 push', /missing tag type \(valid: dot1q\)/],
    ] as const) {
      it(line, async () => {
        const lines = line.startsWith('create host-interface') ? [line] : ['create host-interface name macvlan0', line];
        const { text } = await failure(lines, lines.length);
        assert.match(text, message);
      });
    }
  });

  it('bad values for keywords say what is valid', async () => {
    let r = await failure(['create host-interface name macvlan0', 'set interface state host-macvlan0 sideways'], 2);
    assert.match(r.text, /unknown state `sideways' \(valid: up, down\)/);
    r = await failure(['create host-interface nmae macvlan0'], 1);
    assert.match(r.text, /unknown option `nmae' \(valid: name, hw-addr, num-rx-queues, num-tx-queues\)/);
    r = await failure(['create host-interface name this-name-is-too-long0'], 1);
    assert.match(r.text, /not a valid Linux interface name/);
  });

  it('trailing garbage is an error, not silently ignored', async () => {
    const { text } = await failure(['create host-interface name macvlan0', 'set interface state host-macvlan0 up now'], 2);
    assert.match(text, /unknown input `now'/);
  });

  it('a device that cannot be opened stops start-up at that line with the device’s message', async () => {
    const tb = await createTestBed([], {
      openDevice: (ifname) => {
        throw Object.assign(new Error(`cannot open AF_PACKET socket on ${ifname}: no such interface`), { code: 'ENODEV' });
      },
    });
    const file = writeConf(['create host-interface name macvlan9']);
    await assert.rejects(runStartupConfig(tb.registry, file, tb.ctx), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, new RegExp(`^${file.replace(/[.]/g, '\\.')}:1: create host-interface: cannot open AF_PACKET socket on macvlan9: no such interface`));
      return true;
    });
  });

  it('a startup-config that cannot be read names the file', async () => {
    const tb = await createTestBed();
    const missing = join(dir, 'nope.conf');
    await assert.rejects(runStartupConfig(tb.registry, missing, tb.ctx), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.ok(err.message.startsWith(`${missing}:`));
      assert.match(err.message, /cannot read startup-config/);
      return true;
    });
  });

  it('CommandError is what commands throw (the class startup-config turns into file:line)', () => {
    assert.equal(new CommandError('x').name, 'CommandError');
  });
});
