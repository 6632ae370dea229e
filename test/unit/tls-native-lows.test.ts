/**
 * The native TLS review's lows: L1 the externals are type-tagged (a context passed as a connection
 * is a TypeError, not a cast to the wrong struct); L2 an encrypted private key is refused at once,
 * also with a controlling terminal (OpenSSL's default password callback prompted on it and blocked
 * the thread); L3 a worker thread that used the engine exits cleanly (its env cleanup hook frees its
 * pools). Each runs in a child process so that a crash fails the test instead of the runner.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { nativeTls } from '../../src/http/tls-native.js';

const skip = nativeTls() === null ? 'the addon has no TLS engine (npm run build:native)' : false;
const url = (p: string): string => new URL(p, import.meta.url).href;
const dir = mkdtempSync(join(tmpdir(), 'tls-lows-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const prelude = `
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
const { nativeTls, alpnWire } = await import(${JSON.stringify(url('../../src/http/tls-native.js'))});
const { TLS12_CIPHERS, TLS13_CIPHERSUITES, TLS_CURVES, selfSignedPair } = await import(${JSON.stringify(url('../../src/http/tls-credentials.js'))});
const e = nativeTls();
const newCtx = (cert, key) => e.tlsContextNew(cert, key, TLS12_CIPHERS.join(':'), TLS13_CIPHERSUITES.join(':'), TLS_CURVES, alpnWire(['http/1.1']), randomBytes(80), 7200);
`;

function runChild(code: string, args: string[] = []): { status: number | null; signal: string | null; out: string; err: string } {
  const file = join(dir, `child-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(file, prelude + code);
  const r = spawnSync(process.execPath, ['--expose-gc', file, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, signal: r.signal, out: r.stdout, err: r.stderr };
}

test('L1: a context where a connection is expected (and the reverse) is a TypeError', { skip }, () => {
  const r = runChild(`
const pair = selfSignedPair({ names: ['127.0.0.1'] });
const ctx = newCtx(pair.certPem, pair.keyPem);
const conn = e.tlsConnNew(ctx);
const res = [];
for (const f of [() => e.tlsFeed(ctx, Buffer.alloc(10), 0, 10), () => e.tlsWritev(ctx, [Buffer.alloc(1)], 1, 1), () => e.tlsInfo(ctx), () => e.tlsFree(ctx), () => e.tlsConnNew(conn), () => e.tlsFeed({}, Buffer.alloc(1), 0, 1)]) {
  try { f(); res.push('accepted'); } catch (err) { res.push(err instanceof TypeError ? 'TypeError' : String(err)); }
}
e.tlsFree(conn);
console.log(JSON.stringify(res));
`);
  assert.equal(r.status, 0, `child exited ${r.status} ${r.signal ?? ''}: ${r.err}`);
  assert.deepEqual(JSON.parse(r.out.trim()), Array(6).fill('TypeError'));
});

test('L2: an encrypted private key is refused at once, also under a controlling terminal', { skip: skip || (existsSync('/usr/bin/script') ? false : 'no script(1) for a pty') }, () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256', privateKeyEncoding: { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  writeFileSync(join(dir, 'kenc.pem'), privateKey);
  const file = join(dir, 'enc.mjs');
  writeFileSync(
    file,
    prelude +
      `
const pair = selfSignedPair({ names: ['127.0.0.1'] });
const t0 = Date.now();
try { newCtx(pair.certPem, readFileSync(${JSON.stringify(join(dir, 'kenc.pem'))})); console.log('RESULT accepted'); }
catch (err) { console.log('RESULT refused ' + (Date.now() - t0)); }
process.exit(0);
`,
  );
  // script(1) gives the child a pty as its controlling terminal; stdin stays open and silent.
  const r = spawnSync('script', ['-qec', `${process.execPath} ${file}`, '/dev/null'], { encoding: 'utf8', timeout: 10_000, input: '' });
  const m = /RESULT (\S+)(?: (\d+))?/.exec(r.stdout);
  assert.ok(m !== null, `no result (blocked on a password prompt?): status ${r.status} ${r.signal ?? ''} ${r.stdout}`);
  assert.equal(m[1], 'refused');
  assert.ok(Number(m[2]) < 2000, `refused after ${m[2]} ms`);
});

test('L3: worker threads that used the engine exit cleanly, and the main thread goes on', { skip }, () => {
  const r = runChild(`
import { Worker } from 'node:worker_threads';
const work = ${JSON.stringify(prelude)} + \`
import tls from 'node:tls';
import { Duplex } from 'node:stream';
const pair = selfSignedPair({ names: ['127.0.0.1'] });
const ctx = newCtx(pair.certPem, pair.keyPem);
const conn = e.tlsConnNew(ctx);
const sock = new Duplex({ read() {}, write(chunk, _enc, cb) { e.tlsFeed(conn, chunk, 0, chunk.length); const o = e.tlsTakeOutput(conn); if (o) sock.push(o); cb(); } });
const c = tls.connect({ socket: sock, rejectUnauthorized: false });
await new Promise((r) => c.once('secureConnect', r));
const big = Buffer.alloc(200 * 1024, 7);
for (let i = 0; i < 20; i++) { e.tlsWritev(conn, [big], 1, big.length); e.tlsTakeOutput(conn); }
e.tlsFree(conn);
(await import('node:worker_threads')).parentPort.postMessage('done');
\`;
let done = 0;
for (let i = 0; i < 3; i++) {
  const w = new Worker(work, { eval: true, type: 'module' });
  w.on('message', () => done++);
  await new Promise((res, rej) => { w.once('exit', res); w.once('error', rej); });
}
globalThis.gc();
const pair = selfSignedPair({ names: ['127.0.0.1'] });
const conn = e.tlsConnNew(newCtx(pair.certPem, pair.keyPem));
e.tlsFree(conn);
console.log(done === 3 ? 'ok' : 'workers done: ' + done);
`);
  assert.equal(r.status, 0, `child exited ${r.status} ${r.signal ?? ''}: ${r.err}`);
  assert.equal(r.out.trim(), 'ok');
});
