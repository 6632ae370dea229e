/**
 * Review M1: tlsWritev with a target slab and a chunk that is not a Buffer used to return early with
 * the slab still installed as the connection's output buffer: later records were written into JS
 * memory and tlsFree() freed V8's backing store (abort, rc 134). Run in a child process so that a
 * crash fails this test instead of killing the runner. It must throw a TypeError and leave the slab
 * alone.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { nativeTls } from '../../src/http/tls-native.js';

const skip = nativeTls() === null ? 'the addon has no TLS engine (npm run build:native)' : false;
const url = (p: string): string => new URL(p, import.meta.url).href;

const child = `
import tls from 'node:tls';
import { Duplex } from 'node:stream';
import { randomBytes } from 'node:crypto';
const { nativeTls, alpnWire } = await import(${JSON.stringify(url('../../src/http/tls-native.js'))});
const { TLS12_CIPHERS, TLS13_CIPHERSUITES, TLS_CURVES, selfSignedPair } = await import(${JSON.stringify(url('../../src/http/tls-credentials.js'))});
const e = nativeTls();
const pair = selfSignedPair({ names: ['127.0.0.1'], commonName: 'w' });
const ctx = e.tlsContextNew(pair.certPem, pair.keyPem, TLS12_CIPHERS.join(':'), TLS13_CIPHERSUITES.join(':'), TLS_CURVES, alpnWire(['http/1.1']), randomBytes(80), 7200);
const conn = e.tlsConnNew(ctx);
const sock = new Duplex({ read() {}, write(chunk, _enc, cb) { e.tlsFeed(conn, chunk, 0, chunk.length); const o = e.tlsTakeOutput(conn); if (o) sock.push(o); cb(); } });
const c = tls.connect({ socket: sock, rejectUnauthorized: false });
await new Promise((r) => c.once('secureConnect', r));
await new Promise((r) => setTimeout(r, 50));
const slab = Buffer.alloc(64 * 1024, 0xaa);
let error = null;
try { e.tlsWritev(conn, [Buffer.alloc(20000, 1), 'not a buffer'], 2, 30000, slab); } catch (err) { error = err; }
const before = Buffer.from(slab);
e.tlsWritev(conn, [Buffer.from('hello')], 1, 5);
const out = e.tlsTakeOutput(conn);
e.tlsFree(conn);
globalThis.gc();
await new Promise((r) => setTimeout(r, 50));
globalThis.gc();
console.log(JSON.stringify({ typeError: error instanceof TypeError, slabTouched: !before.equals(slab), out: out?.length ?? 0 }));
process.exit(0);
`;

test('tlsWritev with a non-Buffer chunk and a target slab: a TypeError, no crash, the slab untouched', { skip }, () => {
  const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', child], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, `child exited ${r.status} ${r.signal ?? ''}: ${r.stderr}`);
  const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as { typeError: boolean; slabTouched: boolean; out: number };
  assert.equal(res.typeError, true);
  assert.equal(res.slabTouched, false);
  assert.ok(res.out > 0, 'the later record comes out of tlsTakeOutput');
});

test('the OpenSSL version check: the same version, with or without a +quic suffix (review L4)', async () => {
  const { sameOpenssl } = await import('../../src/http/tls-native.js');
  assert.equal(sameOpenssl('OpenSSL 3.0.15+quic 3 Sep 2024', '3.0.15+quic'), true);
  assert.equal(sameOpenssl('OpenSSL 3.0.19 27 Jan 2026', '3.0.19'), true);
  assert.equal(sameOpenssl('OpenSSL 3.0.15 3 Sep 2024', '3.0.15+quic'), true);
  assert.equal(sameOpenssl('OpenSSL 3.0.1 14 Dec 2021', '3.0.15+quic'), false);
  assert.equal(sameOpenssl('OpenSSL 3.0.15+quic 3 Sep 2024', '3.0.1'), false);
  assert.equal(sameOpenssl('', '3.0.19'), false);
});
