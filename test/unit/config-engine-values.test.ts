/** The vpp-server { … } stanza: every value is checked, with file:line and what is valid. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, readVppConf } from '../../src/cli/vpp-conf.js';
import { tcpOptionsOf } from '../../src/engine.js';

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
  ] as const) {
    it(`rejects '${line}' naming file and line`, () => {
      assert.throws(
        () => readVppConf('/x/vpp.conf', `unix { nodaemon }\nvpp-server {\n  ${line}\n}\n`),
        (err: unknown) => err instanceof ConfigError && /^\/x\/vpp\.conf:3: /.test(err.message) && expected.test(err.message),
      );
    });
  }
});
