/**
 * HTTPS and HTTP/2 of the static server over the kernel's loopback TCP (listenNet), with real
 * clients: curl (--cacert, --tlsv1.3, --tls-max 1.2, --http2, --http2-prior-knowledge), openssl
 * s_client, and Node's tls for session resumption and certificate checks. The same code runs
 * over our own TCP in the lab (test/e2e/https-lab.test.ts).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { HttpStaticServer } from '../../src/http/server.js';
import { Http2StaticServer } from '../../src/http/h2.js';
import { TlsListener } from '../../src/http/tls-listener.js';
import { cleartextAccept } from '../../src/http/cleartext.js';
import { listenNet, type NetListener } from '../../src/http/node-net-adapter.js';
import { selfSignedPair, checkPair, type TlsPair } from '../../src/http/tls-credentials.js';
import { curl } from './http-harness.js';

const FIXTURES = join(import.meta.dirname, '..', '..', '..', 'test', 'e2e', 'fixtures');

function run(cmd: string, args: string[], input = '', timeoutMs = 15_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1;
      resolve({ code, stdout: stdout.toString(), stderr: stderr.toString() });
    });
    child.stdin?.end(input);
  });
}

/** Polls `check` until it returns a value or the deadline passes. */
async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The SHA-256 fingerprint of the certificate a new TLS connection is shown. */
function peerFingerprint(port: number, ca: Buffer, session?: Buffer): Promise<{ fingerprint: string; reused: boolean; session: Buffer | undefined }> {
  return new Promise((resolve, reject) => {
    let sess: Buffer | undefined;
    const s = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost', session, ALPNProtocols: ['http/1.1'] }, () => {
      const fingerprint = s.getPeerCertificate().fingerprint256;
      const reused = s.isSessionReused();
      // TLS 1.3 tickets arrive after the handshake: ask for a page, then close.
      s.write('GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      s.on('data', () => undefined);
      s.on('end', () => resolve({ fingerprint, reused, session: sess }));
    });
    s.on('session', (b: Buffer) => (sess = b));
    s.on('error', reject);
  });
}

describe('HTTPS and HTTP/2 over a ByteStream', () => {
  const dir = mkdtempSync(join(tmpdir(), 'https-test-'));
  const www = join(dir, 'www');
  const secret = join(dir, 'secret'); // kubelet layout: tls.crt -> ..data/tls.crt, ..data -> ..v1
  const big = randomBytes(3 * 1024 * 1024 + 17);
  const bigSha = createHash('sha256').update(big).digest('hex');
  const logs: Array<{ level: string; fields: Record<string, unknown>; message: string }> = [];
  let pairA: TlsPair;
  let pairB: TlsPair;
  let http: HttpStaticServer;
  let h2: Http2StaticServer;
  let tlsl: TlsListener;
  let tlsNet: NetListener;
  let clearNet: NetListener;
  let version = 0;
  const caFile = join(dir, 'ca.pem');
  const https = (path: string) => `https://localhost:${tlsNet.port}${path}`;
  const resolveArg = () => ['--resolve', `localhost:${tlsNet.port}:127.0.0.1`];

  /** Publishes a pair as the kubelet does: a new timestamped directory, then ..data swapped by rename. */
  function publish(cert: Buffer | string, key: Buffer | string): void {
    version++;
    const v = join(secret, `..v${version}`);
    mkdirSync(v);
    writeFileSync(join(v, 'tls.crt'), cert);
    writeFileSync(join(v, 'tls.key'), key);
    symlinkSync(`..v${version}`, join(secret, '..data_tmp'));
    renameSync(join(secret, '..data_tmp'), join(secret, '..data'));
  }

  before(async () => {
    mkdirSync(www);
    mkdirSync(secret);
    mkdirSync(join(www, 'sub'));
    writeFileSync(join(www, 'index.html'), 'Welcome\n');
    writeFileSync(join(www, 'sub', 'index.html'), 'sub\n');
    writeFileSync(join(www, 'big.bin'), big);
    pairA = selfSignedPair({ names: ['127.0.0.1', 'localhost'], commonName: 'pair-a' });
    pairB = selfSignedPair({ names: ['127.0.0.1', 'localhost'], commonName: 'pair-b' });
    writeFileSync(caFile, Buffer.concat([pairA.certPem, pairB.certPem]));
    publish(pairA.certPem, pairA.keyPem);
    symlinkSync('..data/tls.crt', join(secret, 'tls.crt'));
    symlinkSync('..data/tls.key', join(secret, 'tls.key'));
    // A small cache limit so that big.bin is streamed from the file, not served from memory.
    http = new HttpStaticServer({ wwwRoot: www, cacheSizeBytes: 1 << 20 });
    h2 = new Http2StaticServer(http, { maxResetsPerWindow: 100 });
    tlsl = new TlsListener(http, h2, {
      certFile: join(secret, 'tls.crt'),
      keyFile: join(secret, 'tls.key'),
      log: (level, fields, message) => logs.push({ level, fields, message }),
      watchOptions: { debounceMs: 50, pollMs: 200 },
    });
    tlsNet = await listenNet(tlsl.accept, 0);
    clearNet = await listenNet(cleartextAccept(http, h2), 0);
  });

  after(async () => {
    tlsl.close();
    h2.close();
    http.close();
    await tlsNet.close();
    await clearNet.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves index.html and a 3 MB file intact to curl --cacert (no -k)', async () => {
    const r = await curl(['--cacert', caFile, ...resolveArg(), https('/index.html')]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'Welcome\n');
    const b = await curl(['--cacert', caFile, ...resolveArg(), https('/big.bin')]);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(createHash('sha256').update(b.stdout).digest('hex'), bigSha);
  });

  it('speaks TLS 1.3 and TLS 1.2 and refuses TLS 1.1', async () => {
    const v13 = await curl(['-v', '--tlsv1.3', '--http1.1', '--cacert', caFile, ...resolveArg(), '-o', '/dev/null', https('/')]);
    assert.equal(v13.code, 0, v13.stderr);
    assert.match(v13.stderr, /SSL connection using TLSv1\.3/);
    const v12 = await curl(['-v', '--tls-max', '1.2', '--http1.1', '--cacert', caFile, ...resolveArg(), '-o', '/dev/null', https('/')]);
    assert.equal(v12.code, 0, v12.stderr);
    assert.match(v12.stderr, /SSL connection using TLSv1\.2 \/ ECDHE-(RSA|ECDSA)-(AES\d+-GCM-SHA\d+|CHACHA20-POLY1305)/);
    const before = tlsl.stats().errors['protocol-refused']!;
    const old = await run('openssl', ['s_client', '-tls1_1', '-cipher', 'DEFAULT:@SECLEVEL=0', '-connect', `127.0.0.1:${tlsNet.port}`], '');
    assert.notEqual(old.code, 0, 'the TLS 1.1 handshake must fail');
    assert.match(old.stdout + old.stderr, /alert protocol version|unsupported protocol|no protocols available/i);
    await waitFor('protocol-refused to be counted', () => (tlsl.stats().errors['protocol-refused']! > before ? true : undefined));
    // TLS 1.2 with only weak suites (CBC with RSA key transport, 3DES): nothing in common.
    const weakBefore = tlsl.stats().errors['no-shared-cipher']!;
    const weak = await run('openssl', ['s_client', '-tls1_2', '-cipher', 'AES128-SHA:DES-CBC3-SHA:@SECLEVEL=0', '-connect', `127.0.0.1:${tlsNet.port}`], '');
    assert.notEqual(weak.code, 0, 'a weak-cipher-only handshake must fail');
    await waitFor('no-shared-cipher to be counted', () => (tlsl.stats().errors['no-shared-cipher']! > weakBefore ? true : undefined));
  });

  it('negotiates h2 by ALPN (openssl s_client -alpn h2) and http/1.1 when asked', async () => {
    const r = await run('openssl', ['s_client', '-alpn', 'h2', '-CAfile', caFile, '-connect', `127.0.0.1:${tlsNet.port}`], '');
    assert.match(r.stdout, /ALPN protocol: h2/);
    const r1 = await run('openssl', ['s_client', '-alpn', 'http/1.1', '-CAfile', caFile, '-connect', `127.0.0.1:${tlsNet.port}`], '');
    assert.match(r1.stdout, /ALPN protocol: http\/1\.1/);
  });

  it('resumes sessions with tickets', async () => {
    const first = await peerFingerprint(tlsNet.port, readFileSync(caFile));
    assert.ok(first.session !== undefined, 'a session ticket arrived');
    const second = await peerFingerprint(tlsNet.port, readFileSync(caFile), first.session);
    assert.equal(second.reused, true);
    assert.ok(tlsl.stats().resumed >= 1);
  });

  it('answers HTTP/2 (TLS and h2c) exactly as HTTP/1.1: bytes, ETag, 304, Range, 416, 404, 301, 405, traversal', async () => {
    const cases: Array<{ path: string; headers?: string[]; method?: string }> = [
      { path: '/index.html' },
      { path: '/big.bin' },
      { path: '/big.bin', headers: ['Range: bytes=1000-1999'] },
      { path: '/big.bin', headers: ['Range: bytes=-10'] },
      { path: '/index.html', headers: ['Range: bytes=2-4'] },
      { path: '/index.html', headers: ['Range: bytes=99999-'] },
      { path: '/nope.html' },
      { path: '/sub' },
      { path: '/%2e%2e/etc/passwd' },
      { path: '/index.html', method: 'POST' },
      { path: '/index.html', method: 'HEAD' },
    ];
    const first = await curl(['-sS', '-D', '-', '-o', '/dev/null', '--http1.1', '--cacert', caFile, ...resolveArg(), https('/index.html')]);
    const etag = /\r\netag: (.*)\r\n/i.exec(first.stdout.toString())![1]!;
    cases.push({ path: '/index.html', headers: [`If-None-Match: ${etag}`] });
    const bigHead = await curl(['-sS', '-D', '-', '-o', '/dev/null', '--http1.1', '--cacert', caFile, ...resolveArg(), https('/big.bin')]);
    const bigEtag = /\r\netag: (.*)\r\n/i.exec(bigHead.stdout.toString())![1]!;
    cases.push({ path: '/big.bin', headers: [`If-None-Match: ${bigEtag}`] }, { path: '/big.bin', headers: ['Range: bytes=5-9', `If-Range: ${bigEtag}`] });

    const KEEP = ['content-type', 'content-length', 'content-range', 'etag', 'last-modified', 'accept-ranges', 'location', 'allow'];
    const fetch = async (mode: string[], base: string, c: (typeof cases)[number]) => {
      const hdr = join(dir, 'h.txt');
      const args = [...mode, '-sS', '-D', hdr, ...resolveArg(), '--cacert', caFile];
      if (c.method === 'HEAD') args.push('-I', '-o', '/dev/null');
      else if (c.method !== undefined) args.push('-X', c.method);
      for (const h of c.headers ?? []) args.push('-H', h);
      const r = await curl([...args, `${base}${c.path}`]);
      assert.equal(r.code, 0, `${mode.join(' ')} ${c.path}: ${r.stderr}`);
      const lines = readFileSync(hdr, 'latin1').split('\r\n');
      const status = Number(/^HTTP\/[\d.]+ (\d{3})/.exec(lines[0]!)![1]);
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        if (i > 0 && KEEP.includes(l.slice(0, i).toLowerCase())) headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
      }
      return { status, headers, sha: createHash('sha256').update(r.stdout).digest('hex') };
    };
    for (const c of cases) {
      const h1 = await fetch(['--http1.1'], `https://localhost:${tlsNet.port}`, c);
      const h2tls = await fetch(['--http2'], `https://localhost:${tlsNet.port}`, c);
      const h2clear = await fetch(['--http2-prior-knowledge'], `http://127.0.0.1:${clearNet.port}`, c);
      const what = `${c.method ?? 'GET'} ${c.path} ${(c.headers ?? []).join(' ')}`;
      assert.deepEqual(h2tls, h1, `h2 over TLS vs HTTP/1.1: ${what}`);
      assert.deepEqual(h2clear, h1, `h2c vs HTTP/1.1: ${what}`);
    }
    assert.ok(h2.stats().streams >= cases.length * 2);
  });

  it('rotation: a symlink swap changes the certificate of new connections within 2 s; a download already running completes', async () => {
    const ca = readFileSync(caFile);
    const before = await peerFingerprint(tlsNet.port, ca);
    assert.equal(before.fingerprint, pairA.leaf.fingerprint256);
    // A slow download in flight across the swap.
    const slow = spawn('curl', ['-sS', '--http1.1', '--limit-rate', '1M', '--cacert', caFile, ...resolveArg(), https('/big.bin')]);
    const chunks: Buffer[] = [];
    slow.stdout.on('data', (d: Buffer) => chunks.push(d));
    const slowDone = new Promise<number>((r) => slow.on('exit', (code) => r(code ?? -1)));
    await waitFor('the download to start', () => (chunks.length > 0 ? true : undefined));
    const t0 = performance.now();
    publish(pairB.certPem, pairB.keyPem);
    await waitFor('new connections to see pair B', async () => ((await peerFingerprint(tlsNet.port, ca)).fingerprint === pairB.leaf.fingerprint256 ? true : undefined), 2000);
    const took = performance.now() - t0;
    assert.ok(took < 2000, `took ${took} ms`);
    assert.equal(await slowDone, 0);
    assert.equal(createHash('sha256').update(Buffer.concat(chunks)).digest('hex'), bigSha, 'the download begun before the swap completed intact');
    assert.ok(logs.some((l) => l.fields.code === 'TLS_RELOADED'));
  });

  it('a broken pair is refused with TLS_RELOAD_FAILED and the old pair keeps serving', async () => {
    const ca = readFileSync(caFile);
    const current = tlsl.pair.leaf.fingerprint256;
    const failed = tlsl.stats().errors['reload-failed']!;
    // The key of another certificate: parses, but does not match.
    publish(pairB.certPem, pairA.keyPem);
    await waitFor('the mismatch to be refused', () => (tlsl.stats().errors['reload-failed']! > failed ? true : undefined), 3000);
    const line = logs.find((l) => l.fields.code === 'TLS_RELOAD_FAILED');
    assert.ok(line !== undefined);
    assert.equal(line.fields.reason, 'key-mismatch');
    assert.equal((await peerFingerprint(tlsNet.port, ca)).fingerprint, current);
    // Garbage: not a certificate at all.
    publish('not a certificate\n', pairB.keyPem);
    await waitFor('the garbage to be refused', () => (tlsl.stats().errors['reload-failed']! > failed + 1 ? true : undefined), 3000);
    assert.equal((await peerFingerprint(tlsNet.port, ca)).fingerprint, current);
    assert.equal(tlsl.reload(), 'refused');
  });

  it('rapid reset and CONTINUATION floods are counted and do not stall another client', async () => {
    const rr = spawn('python3', [join(FIXTURES, 'h2flood.py'), '127.0.0.1', String(clearNet.port), 'rapid-reset', '5000']);
    const cf = spawn('python3', [join(FIXTURES, 'h2flood.py'), '127.0.0.1', String(tlsNet.port), 'continuation', '5000', '--tls']);
    const outs = [rr, cf].map((p) => {
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      return new Promise<string>((r) => p.on('exit', () => r(out)));
    });
    // Meanwhile another client is served.
    for (let i = 0; i < 5; i++) {
      const r = await curl(['--http2', '--cacert', caFile, ...resolveArg(), https('/index.html')]);
      assert.equal(r.stdout.toString(), 'Welcome\n');
    }
    const [rrOut, cfOut] = await Promise.all(outs);
    const rrRes = JSON.parse(rrOut!) as { goaway: number | null; responses: number; closed: boolean };
    const cfRes = JSON.parse(cfOut!) as { goaway: number | null; closed: boolean };
    // GOAWAY, or a reset when the server closed while the flood was still arriving.
    assert.ok(rrRes.goaway !== null || rrRes.closed, rrOut);
    assert.ok(rrRes.responses < 5000, rrOut);
    assert.ok(cfRes.goaway !== null || cfRes.closed, cfOut);
    const e = h2.stats().errors;
    assert.ok(e['rapid-reset']! >= 1, JSON.stringify(e));
    assert.ok(e['continuation-flood']! >= 1, JSON.stringify(e));
    assert.ok(e['stream-reset-early']! > 100, JSON.stringify(e));
  });

  it('records handshake cost', () => {
    assert.ok(tlsl.handshakeRuntime.calls > 0 && tlsl.handshakeRuntime.nanos > 0);
    assert.ok(tlsl.stats().handshakes > 10);
  });
});

describe('certificate checks', () => {
  it('a self-signed pair carries the names asked for and a fresh key each time', () => {
    const a = selfSignedPair({ names: ['192.0.2.7', 'example.test'] });
    const b = selfSignedPair({ names: ['192.0.2.7'] });
    assert.match(a.leaf.subjectAltName ?? '', /IP Address:192\.0\.2\.7/);
    assert.match(a.leaf.subjectAltName ?? '', /DNS:example\.test/);
    assert.notEqual(a.keyPem.toString(), b.keyPem.toString());
    assert.ok(a.leaf.verify(a.leaf.publicKey), "signed by its own key");
  });

  it('refuses a key that is not the certificate’s, and a file that is no certificate', () => {
    const a = selfSignedPair({ names: ['localhost'] });
    const b = selfSignedPair({ names: ['localhost'] });
    assert.throws(() => checkPair(a.certPem, b.keyPem, 'x'), /does not belong to the certificate/);
    assert.throws(() => checkPair(Buffer.from('hello'), a.keyPem, 'x'), /no PEM certificate/);
    assert.throws(() => checkPair(a.certPem, Buffer.from('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'), 'x'), /private key does not parse/);
  });
});

describe('redirect-to-https', () => {
  it('answers GET and HEAD with a 301 to the same path on the HTTPS port, keeping the host name', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'https-redirect-'));
    writeFileSync(join(dir, 'index.html'), 'Welcome\n');
    const http = new HttpStaticServer({ wwwRoot: dir, cacheSizeBytes: 1 << 20 });
    const net1 = await listenNet(cleartextAccept(http, null, 8443), 0);
    const net2 = await listenNet(cleartextAccept(http, null, 443), 0);
    try {
      const r = await curl(['-sS', '-D', '-', '-o', '/dev/null', '-H', 'Host: www.example.test:8080', `http://127.0.0.1:${net1.port}/a/b.html?x=1`]);
      assert.match(r.stdout.toString(), /^HTTP\/1\.1 301 Moved Permanently\r\n/);
      assert.match(r.stdout.toString(), /\r\nLocation: https:\/\/www\.example\.test:8443\/a\/b\.html\?x=1\r\n/);
      const h = await curl(['-sS', '-I', '-H', 'Host: [2001:db8::1]', `http://127.0.0.1:${net2.port}/`]);
      assert.match(h.stdout.toString(), /\r\nLocation: https:\/\/\[2001:db8::1\]\/\r\n/);
      // A Host that is no host name is not echoed into the Location.
      const bad = await curl(['-sS', '-I', '-H', 'Host: evil.test/x?', `http://127.0.0.1:${net2.port}/p`]);
      assert.match(bad.stdout.toString(), /\r\nLocation: https:\/\/localhost\/p\r\n/);
      assert.equal(http.errors['redirect-to-https'], 3);
    } finally {
      http.close();
      await net1.close();
      await net2.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
