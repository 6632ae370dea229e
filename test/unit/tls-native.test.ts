/**
 * The native TLS engine (native/tls_engine.c + src/http/tls-native.ts) against a real OpenSSL
 * peer: Node's `tls.connect` (its own OpenSSL, as a client) over loopback TCP, the listener on
 * the engine. Covered: both protocol versions and their policy, ALPN, a large answer intact
 * through the engine's output backpressure, resumption with tickets across a certificate
 * rotation, the SSL objects freed on close (the engine's live count returns to where it was),
 * and garbage (before and after the handshake, and straight into the engine) that must become
 * counted reasons, never a crash.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { listenNet, type NetListener } from '../../src/http/node-net-adapter.js';
import { HttpStaticServer } from '../../src/http/server.js';
import { TlsListener } from '../../src/http/tls-listener.js';
import { TLS12_CIPHERS, TLS13_CIPHERSUITES, TLS_CURVES, selfSignedPair } from '../../src/http/tls-credentials.js';
import { alpnWire, nativeTls, nativeTlsLive } from '../../src/http/tls-native.js';

const engine = nativeTls();
const skip = engine === null ? 'the addon has no TLS engine (npm run build:native)' : false;

const dir = mkdtempSync(join(tmpdir(), 'tls-native-'));
const www = join(dir, 'www');
mkdirSync(www);
writeFileSync(join(www, 'index.html'), 'hello over the engine\n');
const BIG = randomBytes(3 * 1024 * 1024 + 12345);
writeFileSync(join(www, 'big.bin'), BIG);
after(() => rmSync(dir, { recursive: true, force: true }));

const pairA = selfSignedPair({ names: ['127.0.0.1', 'localhost'], commonName: 'engine-a' });
const pairB = selfSignedPair({ names: ['127.0.0.1', 'localhost'], commonName: 'engine-b' });

const until = async (what: string, ok: () => boolean, ms = 5000): Promise<void> => {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

interface Got {
  status: string;
  body: Buffer;
  protocol: string | null;
  alpn: string | false | null;
  reused: boolean;
  session: Buffer | undefined;
  cert: string;
}

function get(port: number, path: string, opts: Partial<tls.ConnectionOptions> = {}): Promise<Got> {
  return new Promise((resolve, reject) => {
    let session: Buffer | undefined;
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: [pairA.certPem, pairB.certPem], ALPNProtocols: ['http/1.1'], ...opts }, () => {
      s.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
    });
    const parts: Buffer[] = [];
    s.on('session', (b: Buffer) => (session = b));
    s.on('data', (b: Buffer) => parts.push(b));
    s.on('error', reject);
    s.on('end', () => {
      const all = Buffer.concat(parts);
      const i = all.indexOf('\r\n\r\n');
      resolve({
        status: all.subarray(0, all.indexOf('\r\n')).toString(),
        body: all.subarray(i + 4),
        protocol: s.getProtocol(),
        alpn: s.alpnProtocol,
        reused: s.isSessionReused(),
        session,
        cert: String(s.getPeerCertificate().subject?.CN ?? ''),
      });
      s.destroy();
    });
  });
}

describe('the native TLS engine against a real OpenSSL client', { skip }, () => {
  let http: HttpStaticServer;
  let l: TlsListener;
  let net1: NetListener;
  const certFile = join(dir, 'tls.crt');
  const keyFile = join(dir, 'tls.key');
  const liveBefore = nativeTlsLive();

  before(async () => {
    writeFileSync(certFile, pairA.certPem);
    writeFileSync(keyFile, pairA.keyPem);
    http = new HttpStaticServer({ wwwRoot: www, cacheSizeBytes: 16 << 20 });
    l = new TlsListener(http, null, { certFile, keyFile, watch: false, engine: 'native' });
    net1 = await listenNet(l.accept, 0);
  });
  after(async () => {
    await net1.close();
    l.close();
    http.close();
  });

  for (const v of ['TLSv1.3', 'TLSv1.2'] as const) {
    it(`${v}: handshake, ALPN http/1.1 (h2 not offered by this listener) and a page`, async () => {
      const r = await get(net1.port, '/index.html', { minVersion: v, maxVersion: v, ALPNProtocols: ['h2', 'http/1.1'] });
      assert.equal(r.status, 'HTTP/1.1 200 OK');
      assert.equal(r.body.toString(), 'hello over the engine\n');
      assert.equal(r.protocol, v);
      assert.equal(r.alpn, 'http/1.1');
      assert.equal(l.engine, 'native');
    });
  }

  it('TLS 1.1 is refused and counted as protocol-refused; a client with only ALPN h2 is refused (no_application_protocol)', async () => {
    const before = { ...l.errors };
    await assert.rejects(get(net1.port, '/', { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0' }));
    await until('protocol-refused', () => l.errors['protocol-refused']! > before['protocol-refused']!);
    await assert.rejects(get(net1.port, '/', { ALPNProtocols: ['h2'] }), /no application protocol|no_application_protocol/i);
    await until('handshake-failed', () => l.errors['handshake-failed']! > before['handshake-failed']!);
  });

  it('a TLS 1.2 client with only CBC/RSA-kx suites gets no shared cipher, counted', async () => {
    const before = l.errors['no-shared-cipher']!;
    await assert.rejects(get(net1.port, '/', { maxVersion: 'TLSv1.2', ciphers: 'AES128-SHA:AES256-SHA' }));
    await until('no-shared-cipher', () => l.errors['no-shared-cipher']! > before);
  });

  it('TLS 1.2 client-initiated renegotiation is refused (no second handshake), the server carries on', async () => {
    const hs = l.handshakes;
    const s = tls.connect({ host: '127.0.0.1', port: net1.port, servername: 'localhost', ca: pairA.certPem, maxVersion: 'TLSv1.2', ALPNProtocols: ['http/1.1'] });
    s.on('error', () => undefined);
    await new Promise<void>((r) => s.once('secureConnect', () => r()));
    const outcome = await new Promise<string>((resolve) => {
      const ok = s.renegotiate({ rejectUnauthorized: false }, (err) => resolve(err ? `refused: ${err.message}` : 'renegotiated'));
      if (!ok) resolve('not attempted');
      s.once('close', () => resolve('closed'));
    });
    assert.notEqual(outcome, 'renegotiated', outcome);
    s.destroy();
    assert.equal(l.handshakes, hs + 1, 'one handshake, no renegotiation');
    const ok = await get(net1.port, '/index.html', { maxVersion: 'TLSv1.2' });
    assert.equal(ok.status, 'HTTP/1.1 200 OK');
  });

  it('a 3 MB answer arrives intact through the engine (records of 16 KiB, TCP backpressure)', async () => {
    for (const v of ['TLSv1.3', 'TLSv1.2'] as const) {
      const r = await get(net1.port, '/big.bin', { maxVersion: v });
      assert.equal(r.status, 'HTTP/1.1 200 OK');
      assert.equal(r.body.length, BIG.length);
      assert.equal(createHash('sha256').update(r.body).digest('hex'), createHash('sha256').update(BIG).digest('hex'));
    }
  });

  for (const v of ['TLSv1.3', 'TLSv1.2'] as const) {
    it(`${v}: a ticket resumes, also across a certificate rotation (the ticket key is the listener's, not the pair's)`, async () => {
      const first = await get(net1.port, '/index.html', { maxVersion: v });
      assert.ok(first.session !== undefined, 'a ticket');
      const again = await get(net1.port, '/index.html', { maxVersion: v, session: first.session });
      assert.equal(again.reused, true);
      writeFileSync(certFile, pairB.certPem);
      writeFileSync(keyFile, pairB.keyPem);
      try {
        assert.equal(l.reload(), 'reloaded');
        const fresh = await get(net1.port, '/index.html', { maxVersion: v });
        assert.equal(fresh.cert, 'engine-b', 'new handshakes get the new certificate');
        const resumed = await get(net1.port, '/index.html', { maxVersion: v, session: (again.session ?? first.session)! });
        assert.equal(resumed.reused, true, 'an old ticket still resumes after the rotation');
        assert.equal(resumed.status, 'HTTP/1.1 200 OK');
      } finally {
        writeFileSync(certFile, pairA.certPem);
        writeFileSync(keyFile, pairA.keyPem);
        l.reload();
      }
    });
  }

  it('a connection opened before a rotation keeps its context and finishes after it', async () => {
    const s = tls.connect({ host: '127.0.0.1', port: net1.port, servername: 'localhost', ca: [pairA.certPem, pairB.certPem], ALPNProtocols: ['http/1.1'] });
    await new Promise<void>((r, j) => (s.once('secureConnect', () => r()), s.once('error', j)));
    assert.equal(s.getPeerCertificate().subject.CN, 'engine-a');
    writeFileSync(certFile, pairB.certPem);
    writeFileSync(keyFile, pairB.keyPem);
    try {
      assert.equal(l.reload(), 'reloaded');
      const parts: Buffer[] = [];
      s.on('data', (b: Buffer) => parts.push(b));
      s.write('GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      await new Promise((r) => s.once('end', r));
      const all = Buffer.concat(parts);
      assert.equal(all.length - all.indexOf('\r\n\r\n') - 4, BIG.length);
      s.destroy();
    } finally {
      writeFileSync(certFile, pairA.certPem);
      writeFileSync(keyFile, pairA.keyPem);
      l.reload();
    }
  });

  it('opening and closing many connections (complete, aborted mid-handshake, reset mid-answer) frees every SSL', async () => {
    const jobs: Array<Promise<unknown>> = [];
    for (let i = 0; i < 60; i++) jobs.push(get(net1.port, '/index.html', { maxVersion: i % 2 ? 'TLSv1.2' : 'TLSv1.3' }));
    await Promise.all(jobs);
    // The client goes away right after sending its ClientHello, or in the middle of a 3 MB answer.
    for (let i = 0; i < 30; i++) {
      await new Promise<void>((resolve) => {
        const s = tls.connect({ host: '127.0.0.1', port: net1.port, servername: 'localhost', rejectUnauthorized: false });
        s.on('error', () => undefined);
        if (i % 2 === 0) setTimeout(() => (s.destroy(), resolve()), 2);
        else
          s.once('secureConnect', () => {
            s.write('GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n');
            s.once('data', () => {
              s.destroy();
              resolve();
            });
          });
      });
    }
    await until('every connection closed', () => l.stats().connectionsOpen === 0);
    await until('the engine live count back to its start', () => nativeTlsLive() === liveBefore);
  });

  it('garbage after a valid record header, and garbage records after the handshake: counted, no crash, service goes on', async () => {
    const failedBefore = l.errors['handshake-failed']! + l.errors['protocol-refused']! + l.errors['no-shared-cipher']!;
    const n = 80;
    for (let i = 0; i < n; i++) {
      await new Promise<void>((resolve) => {
        const s = net.connect(net1.port, '127.0.0.1', () => {
          const body = randomBytes(1 + ((i * 97) % 600));
          const hdr = Buffer.from([0x16, 0x03, i % 4, body.length >> 8, body.length & 0xff]);
          s.write(Buffer.concat([hdr, body, randomBytes(i % 50)]));
        });
        s.on('error', () => undefined);
        s.on('data', () => undefined);
        s.on('close', () => resolve());
        setTimeout(() => s.destroy(), 2000).unref();
      });
    }
    const failedAfter = l.errors['handshake-failed']! + l.errors['protocol-refused']! + l.errors['no-shared-cipher']!;
    assert.ok(failedAfter - failedBefore >= n * 0.9, `${failedAfter - failedBefore} of ${n} counted`);
    // After a real handshake: records of garbage written under the TLS layer.
    const recBefore = l.errors['record-error']!;
    for (let i = 0; i < 20; i++) {
      const raw = net.connect(net1.port, '127.0.0.1');
      const s = tls.connect({ socket: raw, servername: 'localhost', ca: pairA.certPem, ALPNProtocols: ['http/1.1'] });
      s.on('error', () => undefined);
      await new Promise<void>((r) => s.once('secureConnect', () => r()));
      // The client's Finished (TLS 1.3) must leave before the garbage written under it.
      await new Promise((r) => setTimeout(r, 20));
      const body = randomBytes(20 + i * 31);
      raw.write(Buffer.concat([Buffer.from([i % 3 === 0 ? 0x15 : 0x17, 0x03, 0x03, body.length >> 8, body.length & 0xff]), body]));
      await new Promise((r) => raw.once('close', r));
    }
    await until('record errors counted', () => l.errors['record-error']! - recBefore >= 18).catch((e) => { throw new Error(`${e.message}: ${JSON.stringify(l.errors)} ${recBefore}`); });
    const ok = await get(net1.port, '/index.html');
    assert.equal(ok.status, 'HTTP/1.1 200 OK');
    await until('every connection closed', () => l.stats().connectionsOpen === 0);
    await until('the engine live count back to its start', () => nativeTlsLive() === liveBefore);
  });
});

describe('the engine fed garbage directly', { skip }, () => {
  it('random chunks, truncated and oversized records never throw or crash; every SSL is freed', () => {
    const e = engine!;
    const ctx = e.tlsContextNew(pairA.certPem, pairA.keyPem, TLS12_CIPHERS.join(':'), TLS13_CIPHERSUITES.join(':'), TLS_CURVES, alpnWire(['http/1.1']), randomBytes(80), 7200);
    const live = e.tlsLive();
    let seed = 12345;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
    for (let i = 0; i < 400; i++) {
      const c = e.tlsConnNew(ctx);
      for (let k = 0; k < 1 + rnd(6); k++) {
        const len = rnd(3) === 0 ? rnd(40000) : rnd(300);
        const b = randomBytes(len + 5);
        if (rnd(2) === 0) b.set([[0x16, 0x17, 0x15, 0x14][rnd(4)]!, 3, rnd(5), rnd(256), rnd(256)]);
        const off = rnd(5);
        e.tlsFeed(c, b, off, b.length - off);
        e.tlsTakeOutput(c);
        e.tlsWritev(c, [Buffer.from('x')], 1, 1);
        e.tlsInfo(c);
        e.tlsErrorText(c);
      }
      if (rnd(2) === 0) e.tlsShutdown(c);
      e.tlsFree(c);
      e.tlsFree(c); // idempotent
      e.tlsFeed(c, Buffer.alloc(10), 0, 10); // after free: nothing, no crash
    }
    assert.equal(e.tlsLive(), live);
    assert.throws(() => e.tlsFeed(e.tlsConnNew(ctx), Buffer.alloc(4), 2, 10), /outside the buffer/);
    assert.throws(() => e.tlsContextNew(Buffer.from('no pem'), pairA.keyPem, 'x', 'y', TLS_CURVES, Buffer.alloc(0), randomBytes(80), 1), (err: NodeJS.ErrnoException) => /^ERR_SSL_/.test(err.code ?? ''));
    assert.throws(() => e.tlsContextNew(pairA.certPem, pairB.keyPem, TLS12_CIPHERS.join(':'), TLS13_CIPHERSUITES.join(':'), TLS_CURVES, Buffer.alloc(0), randomBytes(80), 1), /key/i);
  });
});
