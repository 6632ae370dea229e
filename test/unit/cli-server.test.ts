/** The CLI socket never replaces something that is not a socket. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
