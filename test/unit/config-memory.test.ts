/** The memory keys of `vpp-server { }`: validation with file:line, the defaults from the cgroup limit. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, readVppConf } from '../../src/cli/vpp-conf.js';
import { detectMemoryLimit, parseSize, resolveMemoryConfig, type ReadFile } from '../../src/cli/memory-conf.js';

const FILE = '/conf/vpp.conf';
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

function files(map: Record<string, string>): ReadFile {
  return (path) => map[path];
}

describe('config: memory keys', () => {
  it('accepts sizes, percentages, counts and seconds', () => {
    const c = readVppConf(FILE, 'vpp-server {\n  memory-budget 256m\n  source-max-connections 64\n  source-max-memory 10%\n  min-send-bytes 4k\n  min-send-window 2.5\n}\n');
    const m = resolveMemoryConfig(c.engine, () => ({ bytes: GiB, source: 'test' }));
    assert.deepEqual(m, {
      budget: 256 * MiB,
      limit: GiB,
      origin: 'memory-budget in vpp-server { }',
      sourceMaxConnections: 64,
      sourceMaxBytes: Math.floor((256 * MiB) / 10),
      minSendBytes: 4096,
      minSendWindowMs: 2500,
    });
  });

  it('bad values name file:line, the key and what is valid', () => {
    const cases: [string, RegExp][] = [
      ['memory-budget lots', /^\/conf\/vpp\.conf:3: vpp-server option 'memory-budget lots': expected a size of at least 1048576 bytes \(e\.g\. 256m, 1g, 65536\) or a percentage of the memory limit \(e\.g\. 25%\)$/],
      ['memory-budget 150%', /vpp\.conf:3: .*percentage/],
      ['memory-budget 1k', /vpp\.conf:3: .*at least 1048576 bytes/],
      ['source-max-connections 0', /vpp\.conf:3: vpp-server option 'source-max-connections 0': expected an integer 1-1000000/],
      ['source-max-memory -1', /vpp\.conf:3: .*percentage of memory-budget/],
      ['min-send-bytes fast', /vpp\.conf:3: .*0 turns the minimum send rate off/],
      ['min-send-window 0', /vpp\.conf:3: .*seconds between 0\.1 and 3600/],
    ];
    for (const [line, re] of cases) {
      let err: unknown;
      try {
        readVppConf(FILE, `unix { nodaemon }\nvpp-server {\n  ${line}\n}\n`);
      } catch (e) {
        err = e;
      }
      assert.ok(err instanceof ConfigError, `${line}: ${String(err)}`);
      assert.match(err.message, re, line);
    }
  });

  it('defaults: 25% of the detected limit, a quarter of that per source, 1024 connections, 16 KiB per 30 s', () => {
    const m = resolveMemoryConfig({}, () => ({ bytes: GiB, source: 'cgroup v2 memory.max' }));
    assert.equal(m.budget, 256 * MiB);
    assert.equal(m.limit, GiB, 'the limit, for sizing the source table (shared-limits.ts sourceCapacityFor)');
    assert.equal(m.origin, '25% of cgroup v2 memory.max 1.0 GiB, the default');
    assert.equal(m.sourceMaxBytes, 64 * MiB);
    assert.equal(m.sourceMaxConnections, 1024);
    assert.equal(m.minSendBytes, 16 * 1024);
    assert.equal(m.minSendWindowMs, 30_000);
    assert.equal(resolveMemoryConfig({ 'min-send-bytes': '0' }, () => ({ bytes: GiB, source: 'x' })).minSendBytes, 0);
  });

  it('parseSize', () => {
    assert.equal(parseSize('65536'), 65536);
    assert.equal(parseSize('64K'), 65536);
    assert.equal(parseSize('2g'), 2 * GiB);
    assert.equal(parseSize('1.5g'), undefined);
  });
});

describe('memory limit detection', () => {
  const RAM = 8 * GiB;
  it('cgroup v2 in a pod: /sys/fs/cgroup/memory.max', () => {
    const l = detectMemoryLimit(files({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/memory.max': '1073741824\n' }), RAM);
    assert.deepEqual(l, { bytes: GiB, source: 'cgroup v2 memory.max' });
  });

  it('cgroup v2 on a host: the tightest limit on our path, "max" meaning none', () => {
    const l = detectMemoryLimit(
      files({
        '/proc/self/cgroup': '0::/kubepods.slice/pod1/ctr\n',
        '/sys/fs/cgroup/memory.max': undefined as unknown as string,
        '/sys/fs/cgroup/kubepods.slice/memory.max': '4294967296',
        '/sys/fs/cgroup/kubepods.slice/pod1/memory.max': '536870912',
        '/sys/fs/cgroup/kubepods.slice/pod1/ctr/memory.max': 'max',
      }),
      RAM,
    );
    assert.deepEqual(l, { bytes: 512 * MiB, source: 'cgroup v2 memory.max' });
  });

  it('cgroup v1: memory.limit_in_bytes, its huge "unlimited" value ignored', () => {
    const v1 = '12:memory:/docker/abc\n11:cpu,cpuacct:/docker/abc\n';
    assert.deepEqual(detectMemoryLimit(files({ '/proc/self/cgroup': v1, '/sys/fs/cgroup/memory/memory.limit_in_bytes': '268435456' }), RAM), {
      bytes: 256 * MiB,
      source: 'cgroup v1 memory.limit_in_bytes',
    });
    assert.deepEqual(detectMemoryLimit(files({ '/proc/self/cgroup': v1, '/sys/fs/cgroup/memory/memory.limit_in_bytes': '9223372036854771712' }), RAM), {
      bytes: RAM,
      source: 'RAM (no cgroup memory limit)',
    });
  });

  it('no cgroup limit, or one above the RAM: the RAM', () => {
    assert.deepEqual(detectMemoryLimit(files({}), RAM), { bytes: RAM, source: 'RAM (no cgroup memory limit)' });
    assert.equal(detectMemoryLimit(files({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/memory.max': String(64 * GiB) }), RAM).bytes, RAM);
  });
});
