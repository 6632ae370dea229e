/**
 * One flag convention for every subcommand (src/flags.ts on util.parseArgs): --help, --flag=value
 * and --flag value, and an unknown flag rejected with the list of valid ones, exit 2.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FlagError, flagHelp, parseFlags, type FlagSpec } from '../../src/flags.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(repo, 'bin/vpp-server.js');
const specs: FlagSpec[] = [
  { name: 'prefix', value: 'P', help: 'namespace prefix' },
  { name: 'namespace', short: 'n', value: 'NS', help: 'namespace' },
  { name: 'no-wait', help: 'do not wait' },
];

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('flags: util.parseArgs with one convention', () => {
  test('--flag value, --flag=value, short aliases, switches, positionals', () => {
    assert.deepEqual(parseFlags(['--prefix', 'a', '-n', 'x', '--no-wait'], specs).values, { prefix: 'a', namespace: 'x', 'no-wait': true });
    assert.deepEqual(parseFlags(['--prefix=a=b'], specs).values, { prefix: 'a=b' });
    assert.deepEqual(parseFlags(['up', '--prefix', 'p'], specs, { positionals: 1 }).positionals, ['up']);
    assert.equal(parseFlags(['--help'], specs).help, true);
    assert.equal(parseFlags(['-h', '--bogus'], specs).help, true, '--help wins over other problems');
  });

  test('every problem at once: unknown flag with the valid ones, missing value, value on a switch, stray argument', () => {
    assert.throws(
      () => parseFlags(['--bogus', '--prefix', '--no-wait=1', 'extra'], specs),
      (e: FlagError) =>
        e instanceof FlagError && e.exitCode === 2 &&
        e.problems[0] === 'unknown option --bogus; valid options: --prefix --namespace --no-wait --help' &&
        e.problems.includes('--prefix needs a value (P)') &&
        e.problems.some((p) => p.startsWith('unexpected argument "extra"')),
    );
    // "--prefix --no-wait": the value of --prefix is missing, not "--no-wait"
    assert.throws(() => parseFlags(['--prefix', '--no-wait'], specs), /--prefix needs a value/);
    assert.throws(() => parseFlags(['--no-wait=yes'], specs), /--no-wait takes no value/);
  });

  test('help text lists each flag with its value and alias', () => {
    const lines = flagHelp(specs);
    assert.match(lines[1]!, /^ {2}-n, --namespace NS +namespace$/);
    assert.match(lines.at(-1)!, /-h, --help +this text/);
  });

  test('every subcommand rejects an unknown flag with exit 2 and its valid flags', () => {
    const cases: Array<[string[], RegExp]> = [
      [['run', '--bogus'], /^run: unknown option --bogus; valid options: --config --management --shutdown-grace --stall-threshold --memory-budget --source-max-connections --source-max-memory --min-send-bytes --min-send-window --help/],
      [['run', '-c', '/dev/null', '--min-send-window', 'soon'], /^run: --min-send-window soon: expected seconds between 0\.1 and 3600/],
      [['lab', 'status', '--bogus'], /^vpp-server lab: unknown option --bogus; valid options: --prefix --replicas --help/],
      [['init', '--bogus'], /^vpp-server init: unknown option --bogus; valid options: --sysfs-net --help/],
      [['render', '--bogus'], /^vpp-server render: unknown option --bogus; valid options: --master --vlan --ip/],
      [['deploy', '--bogus=1'], /^vpp-server deploy: unknown option --bogus; valid options: .*--timeout/],
      [['status', '--bogus'], /^vpp-server status: unknown option --bogus; valid options: /],
      [['undeploy', '--bogus'], /^vpp-server undeploy: unknown option --bogus; valid options: .*--keep-namespace/],
    ];
    for (const [args, re] of cases) {
      const r = cli(args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, re, args.join(' '));
    }
    assert.equal(cli(['lab', '--replicas', '0', 'status']).code, 2);
    assert.match(cli(['lab', '--replicas=x', 'up']).stderr, /--replicas "x" is not a number of pods/);
  });

  test('every subcommand takes --help and -h (exit 0, usage on stdout)', () => {
    for (const c of ['run', 'lab', 'init', 'render', 'deploy', 'status', 'undeploy']) {
      for (const h of ['--help', '-h']) {
        const r = cli([c, h]);
        assert.equal(r.code, 0, `${c} ${h}: ${r.stderr}`);
        assert.match(r.stdout, /usage: vpp-server/, `${c} ${h}`);
      }
    }
  });
});
