/** The vpp-server { … } stanza: every value is checked, with file:line and what is valid. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, readVppConf } from '../../src/cli/vpp-conf.js';
import { Engine, EngineConfigError, tcpOptionsOf } from '../../src/engine.js';
import { createLogger } from '../../src/log.js';
import { MemoryDevice } from '../../src/io/memory-device.js';

describe('vpp.conf: vpp-server stanza values', () => {
  it('accepts good values', () => {
    const c = readVppConf('/x/vpp.conf', 'vpp-server {\n  ring-version 3\n  tx-offload off\n  neighbor-age 60\n  management 0.0.0.0:9100\n}\n');
    assert.deepEqual(c.engine, { 'ring-version': '3', 'tx-offload': 'off', 'neighbor-age': '60', management: '0.0.0.0:9100' });
  });

  it('tcp-syn-cookies reads as Linux tcp_syncookies 1/0/2', () => {
    const stack = (v: string) => tcpOptionsOf(readVppConf('/x/vpp.conf', `vpp-server {\n  tcp-syn-cookies ${v}\n}\n`).engine);
    assert.deepEqual(stack('on'), {});
    assert.deepEqual(stack('off'), { synCookies: false });
    assert.deepEqual(stack('always'), { synCookies: true, synQueueMax: 0 });
    assert.deepEqual(tcpOptionsOf({}), {});
  });

  for (const [line, expected] of [
    ['ring-version 4', /expected 2 \(TPACKET_V2\) or 3/],
    ['tx-offload disable', /expected on or off/],
    ['neighbor-age foo', /expected seconds/],
    ['block-size 12', /expected an integer 4096-/],
    ['management 0.0.0.0:99999', /expected off, <port>, <ipv4>:<port>/],
    ['log-level loud', /expected fatal, error/],
    ['tcp-syn-cookies 2', /expected on \(when the SYN queue is full\), off or always/],
    ['tcp-time-wait forever', /'tcp-time-wait forever': expected seconds between 0 and 3600/],
    ['tcp-time-wait 7200', /expected seconds between 0 and 3600/],
    ['tcp-time-wait-max -1', /'tcp-time-wait-max -1': expected an integer 0-10000000/],
    ['tcp-congestion-control reno', /expected cubic or newreno or bbr/],
  ] as const) {
    it(`rejects '${line}' naming file and line`, () => {
      assert.throws(
        () => readVppConf('/x/vpp.conf', `unix { nodaemon }\nvpp-server {\n  ${line}\n}\n`),
        (err: unknown) => err instanceof ConfigError && /^\/x\/vpp\.conf:3: /.test(err.message) && expected.test(err.message),
      );
    });
  }

  it('tcp-congestion-control reaches the TCP stack; CUBIC when absent', () => {
    for (const [conf, want] of [['vpp-server { tcp-congestion-control newreno }', 'newreno'], ['vpp-server { tcp-congestion-control bbr }', 'bbr'], ['vpp-server { log-level warn }', 'cubic']] as const) {
      const config = readVppConf('/x/vpp.conf', conf);
      const engine = new Engine({ config, log: createLogger({ level: 'silent' }), openDevice: (ifname) => new MemoryDevice(ifname, Buffer.from([2, 0, 0, 0, 0, 1])) });
      assert.equal(engine.services.ensureTcp().stack.opts.congestionControl, want);
    }
  });
});

describe('vpp.conf: TIME_WAIT keys reach the TCP stack', () => {
  const engineFor = (engine: Record<string, string>): Engine =>
    new Engine({
      config: { nodaemon: true, engine, warnings: [] },
      log: createLogger({ level: 'silent' }),
      openDevice: (ifname) => new MemoryDevice(ifname, Buffer.from([2, 0, 0, 0, 0, 1])),
    });

  it('tcp-time-wait and tcp-time-wait-max set the stack options', () => {
    const c = readVppConf('/x/vpp.conf', 'vpp-server {\n  tcp-time-wait 30\n  tcp-time-wait-max 1000\n}\n');
    assert.deepEqual(c.engine, { 'tcp-time-wait': '30', 'tcp-time-wait-max': '1000' });
    const opts = engineFor(c.engine).services.ensureTcp().stack.opts;
    assert.equal(opts.timeWaitMs, 30_000);
    assert.equal(opts.maxTimeWait, 1000);
  });

  it('without them the stack keeps 60 s and 50,000 entries', () => {
    const opts = engineFor({}).services.ensureTcp().stack.opts;
    assert.equal(opts.timeWaitMs, 60_000);
    assert.equal(opts.maxTimeWait, 50_000);
  });

  it('tcp-syn-cookies always reaches the stack beside the TIME_WAIT keys (a SYN queue of 0)', () => {
    const c = readVppConf('/x/vpp.conf', 'vpp-server {\n  tcp-syn-cookies always\n  tcp-time-wait 30\n}\n');
    const opts = engineFor(c.engine).services.ensureTcp().stack.opts;
    assert.equal(opts.synCookies, true);
    assert.equal(opts.synQueueMax, 0);
    assert.equal(opts.timeWaitMs, 30_000);
  });

  it('a bad value given to the engine directly (not from a file) is refused too', () => {
    assert.throws(() => engineFor({ 'tcp-time-wait-max': 'lots' }), EngineConfigError);
    assert.throws(() => engineFor({ 'tcp-congestion-control': 'vegas' }), EngineConfigError);
  });
});
