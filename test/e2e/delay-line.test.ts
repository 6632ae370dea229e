/**
 * The bottleneck test's delay line (fixtures/delay_line.c) when its ring is full (review r/bbr
 * finding 7): a frame that arrives then is dropped, and the frames it holds go out intact and in
 * order (recvfrom used to write into the head slot before the full check: with the ring full
 * that slot is the oldest held frame's, which was overwritten). Built with a 4-slot ring; 8
 * frames in a burst into a 300 ms line: frames 0-3 come out, 4-7 are dropped.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRoot, REPO_ROOT } from './lab-helpers.js';

const skip = isRoot() ? false : 'needs root (network namespaces)';
const NS = `dline${process.pid}`;
const SRC = join(REPO_ROOT, 'test', 'e2e', 'fixtures', 'delay_line.c');

const sh = (args: string[]) => {
  const r = spawnSync(args[0], args.slice(1), { encoding: 'utf8' });
  assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

/** Sends 8 frames (ethertype 0x88b5, index in the payload) on a0 and prints the indices seen on b0 within 1.5 s. */
const PY = `
import socket, time
r = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88b5)); r.bind(('b0', 0)); r.settimeout(0.1)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind(('a0', 0))
for i in range(8): s.send(bytes.fromhex('ffffffffffff020000000001' + '88b5') + b'DLTEST' + bytes([i]) + bytes(60 - 21) + bytes([i]) * 4)
got = []; end = time.time() + 1.5
while time.time() < end:
    try: f = r.recv(2048)
    except socket.timeout: continue
    if f[14:20] == b'DLTEST': got.append('%d:%s' % (f[20], 'ok' if f[-4:] == bytes([f[20]]) * 4 and len(f) == 64 else 'bad'))
print(' '.join(got))
`;

describe('delay line: a full ring drops the new frame, not the oldest held one', { skip, timeout: 30_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'dline-'));
  const bin = join(dir, 'delay_line');
  let line: ChildProcess | null = null;

  before(async () => {
    sh(['cc', '-O2', '-DSLOTS=4', '-o', bin, SRC]);
    sh(['ip', 'netns', 'add', NS]);
    sh(['ip', 'netns', 'exec', NS, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    for (const p of ['a', 'b']) {
      sh(['ip', '-n', NS, 'link', 'add', `${p}0`, 'type', 'veth', 'peer', 'name', `${p}1`]);
      sh(['ip', '-n', NS, 'link', 'set', `${p}0`, 'up']);
      sh(['ip', '-n', NS, 'link', 'set', `${p}1`, 'up']);
    }
    line = spawn('ip', ['netns', 'exec', NS, bin, 'a1', 'b1', '300', '300'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((res, rej) => {
      line!.stdout!.once('data', () => res());
      line!.once('exit', (c) => rej(new Error(`delay line exited ${c}`)));
    });
  });

  after(async () => {
    if (line !== null && line.exitCode === null) {
      const exited = new Promise((r) => line!.once('exit', r));
      line.kill('SIGTERM');
      await exited;
    }
    spawnSync('ip', ['netns', 'del', NS]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('8 frames into a 4-slot ring: frames 0-3 out intact and in order', () => {
    const out = sh(['ip', 'netns', 'exec', NS, 'python3', '-c', PY]).trim();
    console.log(`  out of the delay line: ${out}`);
    assert.equal(out, '0:ok 1:ok 2:ok 3:ok');
  });
});
