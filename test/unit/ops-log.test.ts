/** The logger's ring buffer and `show log` formatting (src/log.ts); capability names for the start-up line. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, formatLogLine, LogRing } from '../../src/log.js';
import { effectiveCapabilities } from '../../src/cli/run-command.js';

describe('LogRing', () => {
  it('keeps the last lines, oldest first, across wrap-around', () => {
    const r = new LogRing(3);
    for (const l of ['a\n', 'b\n', 'c\n', 'd\n', 'e\n']) r.push(l);
    assert.deepEqual(r.last(), ['c', 'd', 'e']);
    assert.deepEqual(r.last(2), ['d', 'e']);
    assert.deepEqual(r.last(10), ['c', 'd', 'e']);
    assert.deepEqual(r.last(0), []);
    assert.equal(r.total, 5);
    r.clear();
    assert.deepEqual(r.last(), []);
  });
});

describe('createLogger', () => {
  it('writes JSON lines to the destination and a copy to the ring', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ops-log-'));
    try {
      const ring = new LogRing(10);
      const log = createLogger({ destination: join(dir, 'x.log'), ring, level: 'info' });
      log.info({ event: 'config', line: 3 }, 'set int state host-macvlan0 up');
      log.warn({ code: 'STALE_CLI_SOCKET' }, 'replaced');
      log.debug('not at this level');
      const lines = readFileSync(join(dir, 'x.log'), 'utf8').trimEnd().split('\n');
      assert.equal(lines.length, 2);
      assert.deepEqual(ring.last(), lines);
      const first = JSON.parse(lines[0]) as Record<string, unknown>;
      assert.equal(first.level, 'info');
      assert.equal(first.event, 'config');
      assert.match(String(first.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.match(formatLogLine(lines[1]), /^\S+Z warn  replaced  code=STALE_CLI_SOCKET$/);
      assert.match(formatLogLine(lines[0]), / info  set int state host-macvlan0 up  event=config line=3$/);
      assert.equal(formatLogLine('not json'), 'not json');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects an unknown level and says which are valid', () => {
    assert.throws(() => createLogger({ level: 'verbose' }), /log-level 'verbose' is not valid \(valid: fatal, error, warn, info, debug, trace, silent\)/);
  });
});

describe('effectiveCapabilities', () => {
  it('names the capabilities of CapEff', () => {
    assert.deepEqual(effectiveCapabilities('CapEff:\t0000000000002000\n'), ['cap_net_raw']);
    assert.deepEqual(effectiveCapabilities('CapEff:\t0000000000003000\n'), ['cap_net_admin', 'cap_net_raw']);
    assert.deepEqual(effectiveCapabilities('CapEff:\t0000000000000000\n'), []);
    assert.deepEqual(effectiveCapabilities('CapEff:\t000001ffffffffff\n'), ['all']);
  });
});
