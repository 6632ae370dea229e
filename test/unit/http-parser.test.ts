import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RequestHeadScanner, parseRequestHead, type ParsedRequest } from '../../src/http/parser.js';
import { targetToKey } from '../../src/http/path.js';
import { parseRange } from '../../src/http/conditional.js';
import { contentTypeFor, isInside } from '../../src/http/cache.js';

const limits = { maxRequestLine: 64, maxHeaderBytes: 256, maxHeaderCount: 5 };

function scanAll(s: string, byteAtATime = false): number | string {
  const sc = new RequestHeadScanner(limits);
  const buf = Buffer.from(s, 'latin1');
  if (!byteAtATime) {
    const n = sc.scan(buf, 0, buf.length);
    return n < 0 ? `${sc.failure!.status} ${sc.failure!.reason}` : n;
  }
  for (let end = 1; end <= buf.length; end++) {
    const n = sc.scan(buf, 0, end);
    if (n < 0) return `${sc.failure!.status} ${sc.failure!.reason}`;
    if (n > 0) return n;
  }
  return 0;
}

function parse(s: string): ParsedRequest | string {
  const buf = Buffer.from(s, 'latin1');
  const r = parseRequestHead(buf, 0, buf.length);
  return r.ok ? r : `${r.status} ${r.reason}`;
}

test('scanner finds the end of a head, whole or one byte at a time, CRLF or bare LF', () => {
  const h = 'GET / HTTP/1.1\r\nHost: a\r\n\r\n';
  assert.equal(scanAll(h), h.length);
  assert.equal(scanAll(h, true), h.length);
  assert.equal(scanAll(h + 'GET /next'), h.length);
  assert.equal(scanAll('GET / HTTP/1.1\nHost: a\n\n', true), 24);
  assert.equal(scanAll('GET / HTTP/1.1\r\nHost: a\r\n'), 0);
});

test('scanner limits: 414, 431 by size and by count, also before the line ends', () => {
  assert.equal(scanAll(`GET /${'a'.repeat(70)} HTTP/1.1\r\n\r\n`), '414 uri-too-long');
  assert.equal(scanAll(`GET /${'a'.repeat(70)}`), '414 uri-too-long');
  assert.equal(scanAll(`GET / HTTP/1.1\r\nX: ${'a'.repeat(300)}\r\n\r\n`), '431 headers-too-large');
  assert.equal(scanAll(`GET / HTTP/1.1\r\nX: ${'a'.repeat(300)}`), '431 headers-too-large');
  assert.equal(scanAll(`GET / HTTP/1.1\r\n${'X: y\r\n'.repeat(6)}\r\n`), '431 too-many-headers');
  assert.equal(scanAll(`GET / HTTP/1.1\r\n${'X: y\r\n'.repeat(5)}\r\n`, true), 16 + 30 + 2);
});

test('request line and headers', () => {
  const r = parse(
    'GET /a?b HTTP/1.1\r\nHost: x\r\nRANGE: bytes=0-1\r\nif-none-match: "a"\r\nIf-None-Match: "b"\r\nConnection: Keep-Alive, Close\r\nIf-Modified-Since:  Sun, 06 Nov 1994 08:49:37 GMT \r\n\r\n',
  );
  assert.ok(typeof r !== 'string');
  assert.equal(r.method, 'GET');
  assert.equal(r.target, '/a?b');
  assert.equal(r.versionMinor, 1);
  assert.equal(r.keepAlive, false);
  assert.equal(r.range, 'bytes=0-1');
  assert.equal(r.ifNoneMatch, '"a", "b"');
  assert.equal(r.ifModifiedSince, 'Sun, 06 Nov 1994 08:49:37 GMT');
  const r10 = parse('HEAD / HTTP/1.0\r\n\r\n');
  assert.ok(typeof r10 !== 'string');
  assert.equal(r10.keepAlive, false);
  const r10k = parse('HEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
  assert.ok(typeof r10k !== 'string');
  assert.equal(r10k.keepAlive, true);
  const brew = parse('BREW /pot HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n');
  assert.ok(typeof brew !== 'string');
  assert.equal(brew.method, 'BREW');
  assert.equal(brew.contentLength, 12);
});

test('malformed requests', () => {
  const bad: [string, string][] = [
    ['GET / HTTP/1.1\r\n\r\n', '400 bad-host'],
    ['GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', '400 bad-host'],
    ['GET /\r\n\r\n', '400 bad-request'],
    ['GET  / HTTP/1.1\r\nHost: a\r\n\r\n', '400 bad-request'],
    ['GET / HTTP/1.1 \r\nHost: a\r\n\r\n', '400 bad-request'],
    ['GET / http/1.1\r\nHost: a\r\n\r\n', '400 bad-request'],
    ['GET / HTTP/1.10\r\nHost: a\r\n\r\n', '400 bad-request'],
    ['G(T / HTTP/1.1\r\nHost: a\r\n\r\n', '400 bad-request'],
    ['GET / HTTP/2.0\r\nHost: a\r\n\r\n', '505 version-not-supported'],
    ['GET / HTTP/0.9\r\nHost: a\r\n\r\n', '505 version-not-supported'],
    ['GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n', '400 bad-request'],
    ['GET /\xe9 HTTP/1.1\r\nHost: a\r\n\r\n', '400 bad-request'],
    ['GET / HTTP/1.1\r\nHost : a\r\n\r\n', '400 bad-request'],
    ['GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n', '400 bad-request'],
    ['GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n', '400 bad-request'],
    ['GET / HTTP/1.1\r\nHost: a\r\nnocolon\r\n\r\n', '400 bad-request'],
    ['GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n', '400 bad-request'],
    ['GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n', '400 bad-request'],
    ['GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n', '400 bad-request'],
    ['GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n', '413 body-too-large'],
  ];
  for (const [req, want] of bad) assert.equal(parse(req), want, JSON.stringify(req));
});

test('targets to cache keys', () => {
  const ok: [string, string][] = [
    ['/', '/'],
    ['/index.html', '/index.html'],
    ['/index.html?x=1', '/index.html'],
    ['/a//b///c', '/a/b/c'],
    ['/dir/', '/dir/'],
    ['//dir//', '/dir/'],
    ['/%69ndex.html', '/index.html'],
    ['/caf%C3%A9.txt', '/café.txt'],
    ['/%252e%252e/x', '/%2e%2e/x'],
    ['/.well-known/x', '/.well-known/x'],
    ['/a...b', '/a...b'],
    ['http://example.com/a/b', '/a/b'],
    ['HTTP://example.com', '/'],
    ['http://example.com?q', '/'],
  ];
  for (const [t, key] of ok) assert.deepEqual(targetToKey(t), { ok: true, key }, t);
  const escape = ['/..', '/../x', '/a/../b', '/./x', '/%2e%2e/x', '/%2E%2E/x', '/.%2e/x', '/a%2fb', '/a%2Fb', '/a%5cb', '/a\\b', '/a%00', '/%2e'];
  for (const t of escape) assert.deepEqual(targetToKey(t), { ok: false, status: 404, reason: 'path-escape' }, t);
  const bad = ['x', '*', 'example.com:80', '/%', '/%zz', '/%c0%ae', '/%ff', '/a%0ab', '/a#frag', 'http:///x', 'http://u@h/x', 'ftp://h/x', 'http://h\\x/'];
  for (const t of bad) assert.deepEqual(targetToKey(t), { ok: false, status: 400, reason: 'bad-uri' }, t);
});

test('ranges', () => {
  assert.deepEqual(parseRange('bytes=0-4', 10), [0, 4]);
  assert.deepEqual(parseRange('bytes=5-', 10), [5, 9]);
  assert.deepEqual(parseRange('bytes=-3', 10), [7, 9]);
  assert.deepEqual(parseRange('bytes=-30', 10), [0, 9]);
  assert.deepEqual(parseRange('bytes=8-100', 10), [8, 9]);
  assert.deepEqual(parseRange('BYTES=1-1', 10), [1, 1]);
  assert.equal(parseRange('bytes=10-', 10), -1);
  assert.equal(parseRange('bytes=-0', 10), -1);
  assert.equal(parseRange('bytes=0-', 0), -1);
  assert.equal(parseRange('bytes=0-1,3-4', 10), null);
  assert.equal(parseRange('bytes=4-1', 10), null);
  assert.equal(parseRange('bytes=a-b', 10), null);
  assert.equal(parseRange('items=0-1', 10), null);
  assert.equal(parseRange('bytes=-', 10), null);
});

test('content types and containment', () => {
  assert.equal(contentTypeFor('/index.html'), 'text/html; charset=utf-8');
  assert.equal(contentTypeFor('/a/b.CSS'), 'text/css; charset=utf-8');
  assert.equal(contentTypeFor('/x.png'), 'image/png');
  assert.equal(contentTypeFor('/x.unknownext'), 'application/octet-stream');
  assert.equal(contentTypeFor('/.hidden'), 'application/octet-stream');
  assert.equal(contentTypeFor('/Makefile'), 'application/octet-stream');
  assert.ok(isInside('/www', '/www'));
  assert.ok(isInside('/www/a', '/www'));
  assert.ok(!isInside('/www2/a', '/www'));
  assert.ok(!isInside('/etc/passwd', '/www'));
  assert.ok(isInside('/etc', '/'));
});

test('fuzz: random and mutated heads never throw, fed whole or in random pieces', async () => {
  const { HttpStaticServer } = await import('../../src/http/server.js');
  const server = new HttpStaticServer({ wwwRoot: '/nonexistent-www-root', cacheSizeBytes: 1024, limits: { maxRequestLine: 200, maxHeaderBytes: 400, maxHeaderCount: 8 } });
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const base = Buffer.from('GET /a%2e/b?c HTTP/1.1\r\nHost: x\r\nRange: bytes=1-2\r\nIf-None-Match: "x"\r\nContent-Length: 3\r\n\r\nabc');
  const alphabet = Buffer.from('\r\n :/%.\\\0\t"-,=0123456789GETHOSgetr\x7f\xff');
  try {
    for (let iter = 0; iter < 3000; iter++) {
      const b = Buffer.from(base);
      const edits = 1 + rnd(6);
      for (let k = 0; k < edits; k++) b[rnd(b.length)] = iter % 2 === 0 ? alphabet[rnd(alphabet.length)]! : rnd(256);
      const data = iter % 10 === 0 ? Buffer.from(Array.from({ length: 200 }, () => rnd(256))) : Buffer.concat([b, b]);
      const sc = new RequestHeadScanner({ maxRequestLine: 200, maxHeaderBytes: 400, maxHeaderCount: 8 });
      const n = sc.scan(data, 0, data.length);
      if (n > 0) parseRequestHead(data, 0, n);
      targetToKey(data.toString('latin1', 4, 20));
      // through a connection, in random pieces
      let ended = false;
      const h = server.accept({ write() {}, get queuedBytes() { return 0; }, end() { ended = true; }, abort() { ended = true; }, remote: 'fuzz' });
      for (let p = 0; p < data.length && !ended; ) {
        const len = 1 + rnd(40);
        h.onData(data, p, Math.min(len, data.length - p));
        p += len;
      }
      h.onEnd();
      h.onClose();
    }
  } finally {
    server.close();
  }
});
