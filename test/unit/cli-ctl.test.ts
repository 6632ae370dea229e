/** `vpp-server ctl` against a CLI socket: one command, errors, and the interactive prompt. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CliServer } from '../../src/cli/cli-server.js';
import { seedTestBed } from '../helpers/dataplane.js';

const CLI = join(resolve(dirname(fileURLToPath(import.meta.url)), '../../..'), 'bin', 'vpp-server.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function ctl(args: string[], input?: string): Promise<Run> {
  return new Promise((done) => {
    const child = execFile(process.execPath, [CLI, 'ctl', ...args], { timeout: 15_000 }, (err, stdout, stderr) => {
      done({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
    });
    if (input !== undefined) child.stdin!.end(input);
    else child.stdin!.end();
  });
}

describe('vpp-server ctl', () => {
  let dir: string;
  let socket: string;
  let server: CliServer;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vpp-ctl-'));
    socket = join(dir, 'cli.sock');
    const tb = await seedTestBed();
    server = new CliServer(socket, tb.registry, tb.ctx);
    await server.listen();
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs one command, VPP abbreviations included, and exits 0', async () => {
    const r = await ctl(['-s', socket, 'sh', 'int', 'addr']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /host-macvlan0\.123 \(up\):\n\s+L3 192\.168\.123\.150\/24/);
  });

  it('prints a VPP-style error for an unknown command and exits 1', async () => {
    const r = await ctl(['-s', socket, 'show', 'bogus']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unknown input `bogus'/);
  });

  it('says what is wrong when the socket is not there', async () => {
    const r = await ctl(['-s', join(dir, 'missing.sock'), 'show', 'version']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no such socket: is the dataplane running/);
  });

  it('keeps an interactive session usable after an error', async () => {
    const r = await ctl(['-s', socket], 'show version\nfrobnicate\nshow int addr\nquit\n');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /vpp-server v\d/);
    assert.match(r.stdout, /frobnicate: unknown input/);
    assert.match(r.stdout, /L3 192\.168\.123\.150\/24/);
    assert.ok((r.stdout.match(/vpp# /g) ?? []).length >= 3, 'prompts');
  });
});
