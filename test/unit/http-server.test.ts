/**
 * The static server over Node's net (kernel TCP on loopback), checked with real curl and raw
 * sockets: content, validators, ranges, every error status, keep-alive, pipelining, the cache,
 * streaming of big files, and the header / idle timeouts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { curl, get, parseResponses, raw, startServer, waitFor, type Running } from './http-harness.js';
import { formatHttpStaticServerCache } from '../../src/http/show.js';
import { HTTP_ERROR_REASONS, HTTP_STATIC_SERVER_NODE } from '../../src/http/status.js';

const tmp = mkdtempSync(join(tmpdir(), 'http-server-test-'));
const www = join(tmp, 'www');
const bigFile = randomBytes(20 * 1024 * 1024);
const digits = '0123456789abcdefghijklmnopqrstuvwxyz';

before(() => {
  mkdirSync(join(www, 'docs'), { recursive: true });
  mkdirSync(join(www, 'empty-dir'));
  writeFileSync(join(www, 'index.html'), 'Welcome\n');
  writeFileSync(join(www, 'docs', 'index.html'), '<p>docs</p>\n');
  writeFileSync(join(www, 'digits.txt'), digits);
  writeFileSync(join(www, 'style.css'), 'body{}');
  writeFileSync(join(www, 'blob.unknownext'), 'x');
  writeFileSync(join(www, 'empty.txt'), '');
  writeFileSync(join(www, 'big.bin'), bigFile);
  for (let i = 0; i < 100; i++) writeFileSync(join(www, `p${i}.txt`), `page ${i} `.repeat(i + 1));
  // a fixed mtime for the validator tests
  utimesSync(join(www, 'digits.txt'), new Date('2024-01-02T03:04:05Z'), new Date('2024-01-02T03:04:05Z'));
});

after(() => rmSync(tmp, { recursive: true, force: true }));

describe('http static server', () => {
  let s: Running;
  before(async () => {
    s = await startServer({ wwwRoot: www, cacheSizeBytes: 1024 * 1024, serverName: 'vpp-server/test' });
  });
  after(() => s.stop());

  test('GET / serves index.html with the full set of headers', async () => {
    const r = await curl(['-i', `${s.base}/`]);
    assert.equal(r.code, 0, r.stderr);
    const [res] = parseResponses(r.stdout);
    assert.ok(res);
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'Welcome\n');
    assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(res.headers['content-length'], '8');
    assert.equal(res.headers['server'], 'vpp-server/test');
    assert.equal(res.headers['accept-ranges'], 'bytes');
    assert.match(res.headers['etag']!, /^"[0-9a-f]+-8"$/);
    assert.ok(!Number.isNaN(Date.parse(res.headers['date']!)));
    assert.ok(!Number.isNaN(Date.parse(res.headers['last-modified']!)));
    const plain = await curl([`${s.base}/index.html`]);
    assert.equal(plain.stdout.toString(), 'Welcome\n');
  });

  test('content types from the MIME library', async () => {
    const r = await curl(['-w', '%{content_type}\\n', ...['/style.css', '/blob.unknownext', '/digits.txt'].flatMap((p) => ['-o', '/dev/null', `${s.base}${p}`])]);
    assert.deepEqual(r.stdout.toString().trim().split('\n'), ['text/css; charset=utf-8', 'application/octet-stream', 'text/plain; charset=utf-8']);
  });

  test('HEAD has the headers of GET and no body', async () => {
    const r = await curl(['-I', `${s.base}/digits.txt`]);
    const [res] = parseResponses(r.stdout, [true]);
    assert.equal(res!.status, 200);
    assert.equal(res!.headers['content-length'], '36');
    assert.equal(res!.headers['last-modified'], 'Tue, 02 Jan 2024 03:04:05 GMT');
    // raw: HEAD then GET on one connection: the HEAD answer must carry no body bytes
    const raw1 = await raw(s.port, [get('/digits.txt', '', 'HEAD') + get('/digits.txt')], {
      until: (d) => parseResponses(d, [true]).length === 2,
    });
    const rs = parseResponses(raw1.data, [true]);
    assert.equal(rs.length, 2);
    assert.equal(rs[0]!.body.length, 0);
    assert.equal(rs[1]!.body.toString(), digits);
    const missing = await raw(s.port, [get('/nope', '', 'HEAD') + get('/digits.txt')], { until: (d) => parseResponses(d, [true]).length === 2 });
    const ms = parseResponses(missing.data, [true]);
    assert.equal(ms[0]!.status, 404);
    assert.equal(ms[1]!.body.toString(), digits);
  });

  test('directories: trailing slash serves index.html, without it 301, no index → 404', async () => {
    const r = await curl([`${s.base}/docs/`]);
    assert.equal(r.stdout.toString(), '<p>docs</p>\n');
    const redirect = await curl(['-i', `${s.base}/docs?x=1`]);
    const [res] = parseResponses(redirect.stdout);
    assert.equal(res!.status, 301);
    assert.equal(res!.headers['location'], '/docs/?x=1');
    const followed = await curl(['-L', `${s.base}/docs`]);
    assert.equal(followed.stdout.toString(), '<p>docs</p>\n');
    const none = await curl(['-o', '/dev/null', '-w', '%{http_code}', `${s.base}/empty-dir/`]);
    assert.equal(none.stdout.toString(), '404');
  });

  test('304 for If-None-Match and If-Modified-Since, 200 when they do not match', async () => {
    const first = parseResponses((await curl(['-i', `${s.base}/digits.txt`])).stdout)[0]!;
    const etag = first.headers['etag']!;
    const lm = first.headers['last-modified']!;
    const code = async (...h: string[]): Promise<string> =>
      (await curl(['-o', '/dev/null', '-w', '%{http_code}', ...h.flatMap((x) => ['-H', x]), `${s.base}/digits.txt`])).stdout.toString();
    assert.equal(await code(`If-None-Match: ${etag}`), '304');
    assert.equal(await code(`If-None-Match: "nope", W/${etag}`), '304');
    assert.equal(await code('If-None-Match: *'), '304');
    assert.equal(await code('If-None-Match: "nope"'), '200');
    assert.equal(await code(`If-Modified-Since: ${lm}`), '304');
    assert.equal(await code('If-Modified-Since: Tue, 02 Jan 2024 03:04:04 GMT'), '200');
    assert.equal(await code('If-Modified-Since: garbage'), '200');
    // If-None-Match wins over If-Modified-Since
    assert.equal(await code('If-None-Match: "nope"', `If-Modified-Since: ${lm}`), '200');
    // curl's own conditional: -z <date>
    const z = await curl(['-i', '-z', lm, `${s.base}/digits.txt`]);
    const zr = parseResponses(z.stdout)[0]!;
    assert.equal(zr.status, 304);
    assert.equal(zr.headers['etag'], etag);
    assert.equal(zr.body.length, 0);
  });

  test('single Range → 206 with exactly those bytes; 416; several ranges → 200', async () => {
    const r = await curl(['-i', '-r', '2-5', `${s.base}/digits.txt`]);
    const res = parseResponses(r.stdout)[0]!;
    assert.equal(res.status, 206);
    assert.equal(res.body.toString(), '2345');
    assert.equal(res.headers['content-range'], 'bytes 2-5/36');
    assert.equal(res.headers['content-length'], '4');
    assert.equal((await curl(['-r', '-3', `${s.base}/digits.txt`])).stdout.toString(), 'xyz');
    assert.equal((await curl(['-r', '30-', `${s.base}/digits.txt`])).stdout.toString(), 'uvwxyz');
    assert.equal((await curl(['-r', '30-1000', `${s.base}/digits.txt`])).stdout.toString(), 'uvwxyz');
    const bad = parseResponses((await curl(['-i', '-r', '36-', `${s.base}/digits.txt`])).stdout)[0]!;
    assert.equal(bad.status, 416);
    assert.equal(bad.headers['content-range'], 'bytes */36');
    const multi = parseResponses((await curl(['-i', '-r', '0-1,3-4', `${s.base}/digits.txt`])).stdout)[0]!;
    assert.equal(multi.status, 200);
    assert.equal(multi.body.toString(), digits);
    const etag = multi.headers['etag']!;
    // If-Range: matching validator → 206, stale one → 200
    const ir = await curl(['-o', '/dev/null', '-w', '%{http_code}', '-r', '0-0', '-H', `If-Range: ${etag}`, `${s.base}/digits.txt`]);
    assert.equal(ir.stdout.toString(), '206');
    const ir2 = await curl(['-o', '/dev/null', '-w', '%{http_code}', '-r', '0-0', '-H', 'If-Range: "old"', `${s.base}/digits.txt`]);
    assert.equal(ir2.stdout.toString(), '200');
    const empty = await curl(['-o', '/dev/null', '-w', '%{http_code}', '-r', '0-', `${s.base}/empty.txt`]);
    assert.equal(empty.stdout.toString(), '416');
  });

  test('every error status, with a short text body', async () => {
    const cases: [string, number, string | null][] = [
      ['NONSENSE\r\n\r\n', 400, 'bad-request'],
      ['GET / HTTP/1.1\r\n\r\n', 400, 'bad-host'],
      ['GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'bad-uri'],
      [get('/missing.html'), 404, 'not-found'],
      [get('/', 'Content-Length: 3\r\n', 'POST') + 'abc', 405, 'method-not-allowed'],
      [get('/', '', 'DELETE'), 405, 'method-not-allowed'],
      [get('/', 'Content-Length: 100000\r\n'), 413, 'body-too-large'],
      [get('/', 'Transfer-Encoding: chunked\r\n'), 413, 'body-too-large'],
      [get('/' + 'a'.repeat(9000)), 414, 'uri-too-long'],
      [get('/', `X-Big: ${'b'.repeat(17000)}\r\n`), 431, 'headers-too-large'],
      [get('/', 'X-A: 1\r\n'.repeat(101)), 431, 'too-many-headers'],
      [get('/', '', 'BREW'), 501, 'not-implemented'],
      [get('/', 'Transfer-Encoding: gzip\r\n'), 501, 'not-implemented'],
      ['GET / HTTP/2.0\r\nHost: a\r\n\r\n', 505, 'version-not-supported'],
    ];
    for (const [req, status, reason] of cases) {
      const before = reason === null ? 0 : s.server.errors[reason]!;
      const r = await raw(s.port, [req], { until: (d) => parseResponses(d).length === 1 });
      const res = parseResponses(r.data)[0];
      assert.ok(res, `no response to ${JSON.stringify(req.slice(0, 40))}: ${r.data.toString('latin1').slice(0, 200)}`);
      assert.equal(res.status, status, req.slice(0, 40));
      assert.equal(res.body.toString(), `${status} ${res.statusLine.split(' ').slice(2).join(' ')}\n`);
      assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
      if (status === 405) assert.equal(res.headers['allow'], 'GET, HEAD');
      if (reason !== null) assert.equal(s.server.errors[reason], before + 1, reason);
    }
    // curl sees them too
    const c = await curl(['-o', '/dev/null', '-w', '%{http_code} ', '-X', 'PUT', `${s.base}/`, '--next', '-o', '/dev/null', '-w', '%{http_code} ', `${s.base}/nope`]);
    assert.match(c.stdout.toString(), /^405 404 $/);
  });

  test('400-class parse errors close the connection; 404 and 405 keep it open', async () => {
    const bad = await raw(s.port, ['GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n' + get('/')], { timeoutMs: 3000 });
    assert.equal(bad.closed, true);
    const rs = parseResponses(bad.data);
    assert.equal(rs.length, 1);
    assert.equal(rs[0]!.headers['connection'], 'close');
    const kept = await raw(s.port, [get('/nope') + get('/', 'Content-Length: 2\r\n', 'POST') + 'xy' + get('/')], {
      until: (d) => parseResponses(d).length === 3,
    });
    assert.equal(kept.closed, false);
    assert.deepEqual(parseResponses(kept.data).map((r) => r.status), [404, 405, 200]);
  });

  test('a GET with a small body: the body is skipped and the next request served', async () => {
    const r = await raw(s.port, [get('/digits.txt', 'Content-Length: 5\r\n') + 'hello' + get('/index.html')], {
      until: (d) => parseResponses(d).length === 2,
    });
    const rs = parseResponses(r.data);
    assert.deepEqual(rs.map((x) => x.body.toString()), [digits, 'Welcome\n']);
  });

  test('keep-alive: curl reuses one connection for several requests', async () => {
    const total = s.server.stats().connectionsTotal;
    const r = await curl(['-v', `${s.base}/index.html`, `${s.base}/digits.txt`, `${s.base}/nope`, `${s.base}/style.css`]);
    assert.equal(r.stdout.toString(), 'Welcome\n' + digits + '404 Not Found\nbody{}');
    assert.match(r.stderr, /Re-using existing connection/);
    assert.equal(s.server.stats().connectionsTotal, total + 1);
  });

  test('Connection: close and HTTP/1.0 close after the response; HTTP/1.0 keep-alive stays open', async () => {
    const c = await raw(s.port, [get('/index.html', 'Connection: close\r\n') + get('/digits.txt')], { timeoutMs: 3000 });
    assert.equal(c.closed, true);
    const rs = parseResponses(c.data);
    assert.equal(rs.length, 1);
    assert.equal(rs[0]!.headers['connection'], 'close');
    assert.equal(rs[0]!.body.toString(), 'Welcome\n');
    const h10 = await raw(s.port, ['GET /index.html HTTP/1.0\r\n\r\n'], { timeoutMs: 3000 });
    assert.equal(h10.closed, true);
    assert.equal(parseResponses(h10.data)[0]!.body.toString(), 'Welcome\n');
    const ka = await raw(s.port, ['GET /index.html HTTP/1.0\r\nConnection: keep-alive\r\n\r\n'], {
      until: (d) => parseResponses(d).length === 1,
    });
    assert.equal(ka.closed, false);
    assert.equal(parseResponses(ka.data)[0]!.headers['connection'], 'keep-alive');
    // curl with a close header still gets its body
    const cc = await curl(['-H', 'Connection: close', `${s.base}/index.html`]);
    assert.equal(cc.stdout.toString(), 'Welcome\n');
  });

  test('a peer FIN after pipelined requests still gets every response, then our FIN', async () => {
    const r = await raw(s.port, [get('/p1.txt') + get('/p2.txt') + get('/nope')], { until: (d) => parseResponses(d).length === 3 });
    assert.equal(parseResponses(r.data).length, 3);
    // raw() does not half-close; do it explicitly with a socket
    const net = await import('node:net');
    const data = await new Promise<Buffer>((resolve, reject) => {
      const sock = net.connect({ port: s.port, host: '127.0.0.1', allowHalfOpen: true }, () => {
        sock.end(get('/p3.txt') + get('/p4.txt'));
      });
      const parts: Buffer[] = [];
      sock.on('data', (d) => parts.push(d));
      sock.on('end', () => {
        sock.destroy();
        resolve(Buffer.concat(parts));
      });
      sock.on('error', reject);
    });
    assert.deepEqual(parseResponses(data).map((x) => x.body.toString()), ['page 3 '.repeat(4), 'page 4 '.repeat(5)]);
  });

  test('100 pipelined requests on one connection are answered in order', async () => {
    // fresh server: every first request is a cache miss (async), mixed with hits, 404s and HEADs
    const t = await startServer({ wwwRoot: www, cacheSizeBytes: 1024 * 1024 });
    try {
      const paths: string[] = [];
      const heads: boolean[] = [];
      let reqs = '';
      for (let i = 0; i < 100; i++) {
        const p = i % 10 === 7 ? `/missing-${i}` : `/p${(i * 37) % 100}.txt`;
        const isHead = i % 13 === 5;
        paths.push(p);
        heads.push(isHead);
        reqs += get(p, '', isHead ? 'HEAD' : 'GET');
      }
      const r = await raw(t.port, [reqs], { until: (d) => parseResponses(d, heads).length === 100, timeoutMs: 8000 });
      const rs = parseResponses(r.data, heads);
      assert.equal(rs.length, 100);
      for (let i = 0; i < 100; i++) {
        const p = paths[i]!;
        if (p.startsWith('/missing')) {
          assert.equal(rs[i]!.status, 404, `#${i}`);
        } else {
          const n = Number(p.slice(2, -4));
          const want = `page ${n} `.repeat(n + 1);
          assert.equal(rs[i]!.status, 200, `#${i}`);
          assert.equal(rs[i]!.headers['content-length'], String(want.length), `#${i}`);
          if (!heads[i]) assert.equal(rs[i]!.body.toString(), want, `#${i}`);
        }
      }
      assert.equal(r.closed, false);
      assert.equal(t.server.stats().connectionsTotal, 1);
      assert.equal(t.server.stats().requests, 100);
    } finally {
      await t.stop();
    }
  });

  test('pipelined requests mixing streamed files, ranges, cache hits and errors stay in order', async () => {
    const t = await startServer({ wwwRoot: www, cacheSizeBytes: 64 * 1024, streamChunkBytes: 128 * 1024 });
    try {
      const reqs = [
        get('/p1.txt'),
        get('/big.bin'),
        get('/p2.txt'),
        get('/big.bin', 'Range: bytes=5000000-5000099\r\n'),
        get('/nope'),
        get('/big.bin', '', 'HEAD'),
        get('/big.bin', 'Range: bytes=-10\r\n'),
        get('/p1.txt'),
      ];
      const heads = [false, false, false, false, false, true, false, false];
      const r = await raw(t.port, [reqs.join('')], { until: (d) => parseResponses(d, heads).length === reqs.length, timeoutMs: 8000 });
      const rs = parseResponses(r.data, heads);
      assert.deepEqual(rs.map((x) => x.status), [200, 200, 200, 206, 404, 200, 206, 200]);
      assert.equal(rs[0]!.body.toString(), 'page 1 '.repeat(2));
      assert.ok(rs[1]!.body.equals(bigFile));
      assert.equal(rs[2]!.body.toString(), 'page 2 '.repeat(3));
      assert.ok(rs[3]!.body.equals(bigFile.subarray(5000000, 5000100)));
      assert.equal(rs[5]!.headers['content-length'], String(bigFile.length));
      assert.ok(rs[6]!.body.equals(bigFile.subarray(bigFile.length - 10)));
      assert.equal(rs[7]!.body.toString(), 'page 1 '.repeat(2));
    } finally {
      await t.stop();
    }
  });

  test('curl --http1.1 with many URLs and a Range on a big streamed file', async () => {
    const t = await startServer({ wwwRoot: www, cacheSizeBytes: 64 * 1024 });
    try {
      const r = await curl(['-i', '-r', '1000000-1000009', `${t.base}/big.bin`]);
      const res = parseResponses(r.stdout)[0]!;
      assert.equal(res.status, 206);
      assert.equal(res.headers['content-range'], `bytes 1000000-1000009/${bigFile.length}`);
      assert.deepEqual(res.body, bigFile.subarray(1000000, 1000010));
      const h = parseResponses((await curl(['-I', `${t.base}/big.bin`])).stdout, [true])[0]!;
      assert.equal(h.headers['content-length'], String(bigFile.length));
      const c = await curl(['-o', '/dev/null', '-w', '%{http_code}', '-H', `If-None-Match: ${h.headers['etag']}`, `${t.base}/big.bin`]);
      assert.equal(c.stdout.toString(), '304');
    } finally {
      await t.stop();
    }
  });
});

describe('cache', () => {
  test('hits and misses are counted; LRU eviction with a small cache-size', async () => {
    const dir = join(tmp, 'lru');
    mkdirSync(dir);
    for (const n of ['a', 'b', 'c', 'd']) writeFileSync(join(dir, `${n}.txt`), n.repeat(1000));
    // room for three 1000-byte files (each charged 1000 + 256 bytes)
    const t = await startServer({ wwwRoot: dir, cacheSizeBytes: 3 * 1256 + 100, maxCachedFileBytes: 2000 });
    try {
      const fetch = async (n: string): Promise<void> => {
        const r = await curl([`${t.base}/${n}.txt`]);
        assert.equal(r.stdout.toString(), n.repeat(1000));
      };
      await fetch('a');
      await fetch('b');
      await fetch('c');
      let st = t.server.stats().cache;
      assert.deepEqual([st.entries, st.bytes, st.misses, st.hits, st.evictions], [3, 3000, 3, 0, 0]);
      await fetch('a'); // hit: a becomes most recently used
      await fetch('d'); // miss: evicts b, the least recently used
      st = t.server.stats().cache;
      assert.deepEqual([st.entries, st.bytes, st.misses, st.hits, st.evictions, st.capacity], [3, 3000, 4, 1, 1, 3 * 1256 + 100]);
      await fetch('a');
      await fetch('c');
      await fetch('d');
      assert.equal(t.server.stats().cache.misses, 4);
      await fetch('b'); // was evicted
      st = t.server.stats().cache;
      assert.deepEqual([st.misses, st.hits, st.evictions], [5, 4, 2]);
    } finally {
      await t.stop();
    }
  });

  test('a changed file is served fresh within about a second', async () => {
    const dir = join(tmp, 'change');
    mkdirSync(dir);
    writeFileSync(join(dir, 'v.txt'), 'version 1');
    const t = await startServer({ wwwRoot: dir, cacheSizeBytes: 1024 * 1024 });
    try {
      assert.equal((await curl([`${t.base}/v.txt`])).stdout.toString(), 'version 1');
      assert.equal((await curl([`${t.base}/v.txt`])).stdout.toString(), 'version 1');
      assert.ok(t.server.stats().cache.hits >= 1);
      writeFileSync(join(dir, 'v.txt'), 'version 2, longer');
      const changedAt = Date.now();
      await waitFor(async () => (await curl([`${t.base}/v.txt`])).stdout.toString() === 'version 2, longer', 3000, 'the new content');
      assert.ok(Date.now() - changedAt < 1600, `took ${Date.now() - changedAt} ms`);
      // a deleted file is gone as promptly
      rmSync(join(dir, 'v.txt'));
      await waitFor(
        async () => (await curl(['-o', '/dev/null', '-w', '%{http_code}', `${t.base}/v.txt`])).stdout.toString() === '404',
        3000,
        'a 404 for the deleted file',
      );
      assert.equal(t.server.stats().cache.entries, 0);
    } finally {
      await t.stop();
    }
  });

  test('www-root behind a symlink that is switched to another directory', async () => {
    const a = join(tmp, 'rootA');
    const b = join(tmp, 'rootB');
    mkdirSync(a);
    mkdirSync(b);
    writeFileSync(join(a, 'index.html'), 'A');
    writeFileSync(join(b, 'index.html'), 'B');
    const link = join(tmp, 'root-current');
    symlinkSync(a, link);
    const t = await startServer({ wwwRoot: link, cacheSizeBytes: 1024 * 1024, revalidateMs: 200 });
    try {
      assert.equal((await curl([`${t.base}/`])).stdout.toString(), 'A');
      symlinkSync(b, link + '.new');
      renameSync(link + '.new', link);
      await waitFor(async () => (await curl([`${t.base}/`])).stdout.toString() === 'B', 3000, 'the new root');
    } finally {
      await t.stop();
    }
  });

  test('a 20 MB file bigger than the cache is streamed intact (sha256), twice in parallel', async () => {
    const t = await startServer({ wwwRoot: www, cacheSizeBytes: 1024 * 1024, streamChunkBytes: 64 * 1024 });
    try {
      const want = createHash('sha256').update(bigFile).digest('hex');
      const [a, b] = await Promise.all([curl([`${t.base}/big.bin`]), curl([`${t.base}/big.bin`])]);
      for (const r of [a, b]) {
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout.length, bigFile.length);
        assert.equal(createHash('sha256').update(r.stdout).digest('hex'), want);
      }
      assert.equal(t.server.stats().cache.entries, 0);
      // and a small request right after it on the same connection is still answered in order
      const r = await curl(['-w', '%{size_download} ', '-o', '/dev/null', `${t.base}/big.bin`, '-o', '/dev/null', `${t.base}/index.html`]);
      assert.equal(r.stdout.toString(), `${bigFile.length} 8 `);
    } finally {
      await t.stop();
    }
  });

  test('a 20 MB file that fits is cached and served by reference', async () => {
    const t = await startServer({ wwwRoot: www, cacheSizeBytes: 64 * 1024 * 1024, maxCachedFileBytes: 32 * 1024 * 1024 });
    try {
      const want = createHash('sha256').update(bigFile).digest('hex');
      for (let i = 0; i < 2; i++) {
        const r = await curl([`${t.base}/big.bin`]);
        assert.equal(createHash('sha256').update(r.stdout).digest('hex'), want);
      }
      const st = t.server.stats().cache;
      assert.deepEqual([st.entries, st.misses, st.hits], [1, 1, 1]);
    } finally {
      await t.stop();
    }
  });
});

describe('timeouts', () => {
  test('slowloris: one header byte at a time is cut off by headerTimeoutMs', async () => {
    const t = await startServer({ wwwRoot: www, cacheSizeBytes: 1024 * 1024, limits: { headerTimeoutMs: 400, idleTimeoutMs: 5000 } });
    try {
      const net = await import('node:net');
      const req = get('/index.html', 'X-Slow: ' + 'z'.repeat(200) + '\r\n');
      const start = Date.now();
      const result = await new Promise<{ data: string; ms: number; sent: number }>((resolve) => {
        const sock = net.connect({ port: t.port, host: '127.0.0.1' });
        let i = 0;
        let data = '';
        const iv = setInterval(() => {
          if (i < req.length && !sock.destroyed) sock.write(req[i++]!);
        }, 20);
        sock.on('data', (d) => (data += d.toString('latin1')));
        sock.on('close', () => {
          clearInterval(iv);
          resolve({ data, ms: Date.now() - start, sent: i });
        });
        sock.on('error', () => undefined);
      });
      assert.ok(result.sent < req.length, 'the whole head got through');
      assert.ok(result.ms >= 400 && result.ms < 2000, `closed after ${result.ms} ms`);
      assert.match(result.data, /^HTTP\/1\.1 408 Request Timeout\r\n/);
      assert.equal(t.server.errors['header-timeout'], 1);
      // a connection that never sends anything is closed the same way, silently
      const silent = await raw(t.port, [], { timeoutMs: 3000 });
      assert.equal(silent.closed, true);
      assert.equal(silent.data.length, 0);
      assert.equal(t.server.errors['header-timeout'], 2);
    } finally {
      await t.stop();
    }
  });

  test('an idle keep-alive connection is closed after idleTimeoutMs; a busy one is not', async () => {
    const t = await startServer({ wwwRoot: www, cacheSizeBytes: 1024 * 1024, limits: { headerTimeoutMs: 5000, idleTimeoutMs: 300 } });
    try {
      const r = await raw(t.port, [get('/index.html')], { timeoutMs: 3000 });
      assert.equal(r.closed, true);
      assert.equal(parseResponses(r.data)[0]!.body.toString(), 'Welcome\n');
      assert.ok(r.closedAfterMs >= 300 && r.closedAfterMs < 1500, `closed after ${r.closedAfterMs} ms`);
      assert.equal(t.server.errors['idle-timeout'], 1);
      // requests every 60 ms keep a connection alive well past the idle timeout
      const net = await import('node:net');
      const answers = await new Promise<number>((resolve, reject) => {
        const sock = net.connect({ port: t.port, host: '127.0.0.1' });
        let n = 0;
        let buf = Buffer.alloc(0);
        const iv = setInterval(() => sock.write(get('/index.html')), 60);
        sock.on('data', (d) => {
          buf = Buffer.concat([buf, d]);
          n = parseResponses(buf).length;
          if (n >= 10) {
            clearInterval(iv);
            sock.destroy();
            resolve(n);
          }
        });
        sock.on('close', () => {
          clearInterval(iv);
          if (n < 10) reject(new Error(`closed after ${n} answers`));
        });
      });
      assert.equal(answers, 10);
      await waitFor(() => t.server.stats().connectionsOpen === 0, 2000, 'connections to close');
    } finally {
      await t.stop();
    }
  });

  test('500 silent connections: a new request is still served promptly, then they are all closed', async () => {
    const t = await startServer({ wwwRoot: www, cacheSizeBytes: 1024 * 1024, limits: { headerTimeoutMs: 500, idleTimeoutMs: 500 } });
    const net = await import('node:net');
    const socks: import('node:net').Socket[] = [];
    let closedCount = 0;
    try {
      await Promise.all(
        Array.from({ length: 500 }, () =>
          new Promise<void>((resolve, reject) => {
            const sk = net.connect({ port: t.port, host: '127.0.0.1' }, () => resolve());
            sk.on('error', reject);
            sk.on('close', () => closedCount++);
            socks.push(sk);
          }),
        ),
      );
      await waitFor(() => t.server.stats().connectionsOpen === 500, 3000, '500 connections');
      const start = Date.now();
      const r = await curl([`${t.base}/index.html`]);
      assert.equal(r.stdout.toString(), 'Welcome\n');
      assert.ok(Date.now() - start < 500, `took ${Date.now() - start} ms`);
      await waitFor(() => closedCount === 500, 4000, 'the server to close the silent connections');
      assert.equal(t.server.errors['header-timeout'], 500);
    } finally {
      for (const sk of socks) sk.destroy();
      await t.stop();
    }
  });

  test('a peer that stops reading is aborted after sendTimeoutMs', async () => {
    const t = await startServer({ wwwRoot: www, cacheSizeBytes: 1024 * 1024, limits: { sendTimeoutMs: 300 }, sweepIntervalMs: 50 });
    try {
      const net = await import('node:net');
      const sock = net.connect({ port: t.port, host: '127.0.0.1' }, () => sock.write(get('/big.bin')));
      sock.pause();
      sock.on('error', () => undefined);
      await waitFor(() => t.server.errors['send-timeout'] === 1, 5000, 'the send timeout');
      await waitFor(() => t.server.stats().connectionsOpen === 0, 2000, 'the connection to go');
      sock.destroy();
    } finally {
      await t.stop();
    }
  });
});

describe('visibility', () => {
  test('stats, error reasons and the show text', async () => {
    const t = await startServer({ wwwRoot: www, cacheSizeBytes: 1024 * 1024 });
    try {
      await curl([`${t.base}/index.html`, `${t.base}/index.html`, `${t.base}/nope`, `${t.base}/digits.txt`]);
      const st = t.server.stats();
      assert.equal(st.requests, 4);
      assert.deepEqual(st.responses, { '1xx': 0, '2xx': 3, '3xx': 0, '4xx': 1, '5xx': 0 });
      assert.equal(st.connectionsTotal, 1);
      assert.ok(st.bytesSent > 8 + 8 + 36);
      assert.equal(st.errors['not-found'], 1);
      assert.deepEqual(Object.keys(st.errors).sort(), Object.keys(HTTP_ERROR_REASONS).sort());
      assert.equal(HTTP_STATIC_SERVER_NODE, 'http-static-server');
      assert.deepEqual(st.cache, { entries: 2, bytes: 8 + 36, capacity: 1024 * 1024, hits: 1, misses: 2, evictions: 0 });
      const text = formatHttpStaticServerCache(t.server, true);
      const lines = text.split('\n');
      assert.equal(lines[0], `www_root ${www}, cache size 44 bytes, limit 1048576 bytes, evictions 0`);
      assert.equal(lines[1], 'entries 2, hits 1, misses 2');
      assert.match(lines[2]!, /^\s+File\s+Size\s+Age$/);
      assert.match(lines[3]!, /^\s+\/digits\.txt\s+36\s+\d+\.\d\d$/);
      assert.match(lines[4]!, /^\s+\/index\.html\s+8\s+\d+\.\d\d$/);
    } finally {
      await t.stop();
    }
  });
});
