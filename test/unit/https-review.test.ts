/**
 * Regressions from the review of the HTTPS/HTTP/2 work, each a case that used to take the
 * process down or pin memory: a client's RST_STREAM(NO_ERROR) right after HEADERS, a rotation to
 * a pair that parses but OpenSSL refuses, and many streams of a large file that is never read.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { after, describe, it } from 'node:test';
import { cleartextAccept } from '../../src/http/cleartext.js';
import { Http2StaticServer } from '../../src/http/h2.js';
import { listenNet } from '../../src/http/node-net-adapter.js';
import { HttpStaticServer } from '../../src/http/server.js';
import { TlsListener } from '../../src/http/tls-listener.js';

const dir = mkdtempSync(join(tmpdir(), 'https-review-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

async function h2Setup() {
  const www = mkdtempSync(join(dir, 'www-'));
  writeFileSync(join(www, 'index.html'), 'hello');
  writeFileSync(join(www, 'big.bin'), Buffer.alloc(4 * 1024 * 1024, 7));
  const http = new HttpStaticServer({ wwwRoot: www, cacheSizeBytes: 1024 * 1024 });
  const h2 = new Http2StaticServer(http);
  const net = await listenNet(cleartextAccept(http, h2), 0);
  const session = http2.connect(`http://127.0.0.1:${net.port}`);
  session.on('error', () => undefined);
  await new Promise((r) => session.once('connect', r));
  const close = async () => {
    session.destroy();
    h2.close();
    http.close();
    await net.close();
  };
  return { http, h2, session, close };
}

describe('HTTP/2 review regressions', () => {
  for (const path of ['/index.html', '/../etc', '/missing']) {
    it(`HEADERS then RST_STREAM(NO_ERROR) for ${path} (cached, bad path, 404) does not throw, and counts as an early reset`, async () => {
      const { h2, session, close } = await h2Setup();
      let uncaught: unknown = null;
      const onUncaught = (e: unknown) => (uncaught = e);
      process.on('uncaughtException', onUncaught);
      try {
        // Warm the cache, then the reset in the same write as its HEADERS.
        await new Promise<void>((res) => {
          const w = session.request({ ':path': '/index.html' });
          w.resume();
          w.on('end', res);
          w.on('error', () => res());
        });
        const r = session.request({ ':path': path });
        r.on('error', () => undefined);
        r.close(0);
        const deadline = Date.now() + 2000;
        while (Date.now() < deadline && (h2.stats().errors['stream-reset-early'] ?? 0) === 0) await new Promise((x) => setTimeout(x, 10));
        assert.equal(uncaught, null, `no uncaught exception (was ERR_HTTP2_INVALID_STREAM): ${String(uncaught)}`);
        assert.ok((h2.stats().errors['stream-reset-early'] ?? 0) >= 1, 'a reset with NO_ERROR is still a reset');
      } finally {
        process.off('uncaughtException', onUncaught);
        await close();
      }
    });
  }

  it('128 streams of a large uncached file that the client never reads: at most 16 open per session, the rest refused', async () => {
    const { h2, session, close } = await h2Setup();
    try {
      const streams = Array.from({ length: 64 }, () => {
        const s = session.request({ ':path': '/big.bin' });
        s.on('error', () => undefined);
        s.pause();
        return s;
      });
      const deadline = Date.now() + 3000;
      while (Date.now() < deadline && (h2.stats().errors['file-streams-refused'] ?? 0) < 48) await new Promise((x) => setTimeout(x, 10));
      assert.equal(h2.stats().errors['file-streams-refused'], 48, 'beyond 16 file streams, REFUSED_STREAM');
      for (const s of streams) s.destroy();
    } finally {
      await close();
    }
  });
});

describe('TLS rotation review regressions', () => {
  it('a pair that parses and matches but that OpenSSL refuses (RSA-512) is refused on reload, counted and logged; the old pair serves on', () => {
    const d = mkdtempSync(join(dir, 'tls-'));
    openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(d, 'good.key'), '-out', join(d, 'good.crt'), '-days', '2', '-subj', '/CN=good']);
    openssl(['req', '-x509', '-newkey', 'rsa:512', '-nodes', '-keyout', join(d, 'weak.key'), '-out', join(d, 'weak.crt'), '-days', '2', '-subj', '/CN=weak']);
    copyFileSync(join(d, 'good.crt'), join(d, 'tls.crt'));
    copyFileSync(join(d, 'good.key'), join(d, 'tls.key'));
    mkdirSync(join(d, 'www'));
    const http = new HttpStaticServer({ wwwRoot: join(d, 'www'), cacheSizeBytes: 1024 * 1024 });
    const logged: string[] = [];
    const l = new TlsListener(http, null, { certFile: join(d, 'tls.crt'), keyFile: join(d, 'tls.key'), watch: false, log: (_lv, f) => logged.push(String(f.code)) });
    try {
      copyFileSync(join(d, 'weak.crt'), join(d, 'tls.crt'));
      copyFileSync(join(d, 'weak.key'), join(d, 'tls.key'));
      assert.equal(l.reload(), 'refused');
      assert.equal(l.errors['reload-failed'], 1);
      assert.deepEqual(logged, ['TLS_RELOAD_FAILED']);
      // At start-up the same pair is a clear error, not an OpenSSL code alone.
      assert.throws(() => new TlsListener(http, null, { certFile: join(d, 'tls.crt'), keyFile: join(d, 'tls.key'), watch: false }), /OpenSSL refuses this certificate\/key .*RSA key of at least 2048 bits/);
    } finally {
      l.close();
      http.close();
    }
  });
});

describe('TLS handshake flood review regression', () => {
  it('at most maxHandshakes connections that sent a ClientHello hold OpenSSL state; the next ones are reset and counted, and a finished one frees its place', async () => {
    const d = mkdtempSync(join(dir, 'tls-cap-'));
    openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(d, 'k.pem'), '-out', join(d, 'c.pem'), '-days', '2', '-subj', '/CN=cap']);
    mkdirSync(join(d, 'www'));
    const http = new HttpStaticServer({ wwwRoot: join(d, 'www'), cacheSizeBytes: 1024 * 1024 });
    const l = new TlsListener(http, null, { certFile: join(d, 'c.pem'), keyFile: join(d, 'k.pem'), watch: false, maxHandshakes: 3 });
    // A real ClientHello (the first record Node's TLS client writes); the handshake then stalls
    // because nobody answers the ServerHello.
    const hello = await new Promise<Buffer>((resolve) => {
      const dx = new Duplex({ read() {}, write: (c: Buffer, _e, cb) => (resolve(Buffer.from(c)), cb()) });
      const s = tls.connect({ socket: dx, rejectUnauthorized: false });
      s.on('error', () => undefined);
      setImmediate(() => s.destroy());
    });
    const streams: Array<{ aborted: boolean; handler: ReturnType<typeof l.accept> | null }> = [];
    const connect = () => {
      const st = { aborted: false, handler: null as ReturnType<typeof l.accept> | null };
      const stream = { write() {}, end() {}, abort: () => void (st.aborted = true), queuedBytes: 0, remote: `10.0.0.${streams.length}:40000` };
      st.handler = l.accept(stream as never);
      st.handler.onData(hello, 0, hello.length);
      streams.push(st);
      return st;
    };
    try {
      for (let k = 0; k < 3; k++) assert.equal(connect().aborted, false);
      assert.equal(connect().aborted, true, 'the fourth handshake is reset');
      assert.equal(l.errors['handshake-limit'], 1);
      streams[0].handler!.onClose(); // one goes away
      assert.equal(connect().aborted, false, 'its place is free again');
    } finally {
      for (const st of streams) st.handler?.onClose();
      l.close();
      http.close();
    }
  });
});
