/** The CLI socket never replaces something that is not a socket. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CliClient } from '../../src/cli/cli-client.js';
import { CliServer } from '../../src/cli/cli-server.js';
import { createRegistry } from '../../src/cli/cli.js';
import type { CliContext } from '../../src/cli/context.js';

describe('cli server: the cli-listen path', () => {
  it('refuses to replace a regular file and leaves it untouched', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vpp-cli-'));
    try {
      const path = join(dir, 'startup.conf');
      writeFileSync(path, 'precious');
      const server = new CliServer(path, createRegistry(), {} as CliContext);
      await assert.rejects(server.listen(), /exists and is not a socket/);
      assert.equal(readFileSync(path, 'utf8'), 'precious');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('cli server: asynchronous commands (ping)', () => {
  it('a command that waits holds only its own session: others are served, its next line answers after it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vpp-cli-'));
    let release: () => void = () => {};
    const released = new Promise<void>((r) => (release = r));
    const registry = createRegistry([
      {
        path: 'wait-for-test',
        help: 'wait-for-test',
        async run() {
          await released;
          return 'waited';
        },
      },
    ]);
    const server = new CliServer(join(dir, 'cli.sock'), registry, { startedAt: 0, errorSources: [] } as unknown as CliContext);
    await server.listen();
    const a = await CliClient.connect(server.path);
    const b = await CliClient.connect(server.path);
    try {
      const order: string[] = [];
      const first = a.run('wait-for-test').then((r) => (order.push('a1'), r));
      const second = a.run('show version').then((r) => (order.push('a2'), r));
      const other = await b.run('show version');
      order.push('b');
      assert.equal(other.ok, true);
      assert.match(other.output, /^vpp-server v/);
      release();
      assert.deepEqual(await first, { ok: true, output: 'waited' });
      assert.equal((await second).ok, true);
      assert.deepEqual(order, ['b', 'a1', 'a2']);
      // A client that leaves while its command waits: the command is told (session.signal) and
      // the server goes on serving the others.
      let sawAbort: () => void = () => {};
      const aborted = new Promise<void>((r) => (sawAbort = r));
      let started: () => void = () => {};
      const running = new Promise<void>((r) => (started = r));
      registry.register({
        path: 'wait-for-abort',
        help: 'wait-for-abort',
        run: (_args, ctx) =>
          new Promise<string>((resolve) => {
            started();
            ctx.session!.signal!.addEventListener('abort', () => {
              sawAbort();
              resolve('too late');
            });
          }),
      });
      const gone = await CliClient.connect(server.path);
      void gone.run('wait-for-abort');
      await running;
      gone.close();
      await aborted;
      assert.equal((await b.run('show version')).ok, true);
    } finally {
      a.close();
      b.close();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
