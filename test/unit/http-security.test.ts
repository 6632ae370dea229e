/**
 * Nothing outside www-root is ever served: traversal in every encoding we know of, NUL, backslashes,
 * absolute-form targets, symlinks out of the root, special files. A canary file (and an index.html
 * with the canary) sits right outside the root; /etc/passwd is further out; neither may appear.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { curl, parseResponses, raw, startServer, type Running } from './http-harness.js';

const tmp = mkdtempSync(join(tmpdir(), 'http-security-test-'));
const www = join(tmp, 'www');
const CANARY = `CANARY-${randomBytes(8).toString('hex')}`;
const PASSWD_MARK = 'root:x:0:0';

before(() => {
  mkdirSync(join(www, 'sub', 'deeper'), { recursive: true });
  writeFileSync(join(www, 'index.html'), 'Welcome\n');
  writeFileSync(join(www, 'sub', 'ok.txt'), 'inside\n');
  writeFileSync(join(tmp, 'secret.txt'), `${CANARY}\n`);
  writeFileSync(join(tmp, 'index.html'), `${CANARY} index\n`);
  mkdirSync(join(tmp, 'www-evil'));
  writeFileSync(join(tmp, 'www-evil', 'x.txt'), `${CANARY} sibling\n`);
  symlinkSync('/etc', join(www, 'etc'));
  symlinkSync('..', join(www, 'up'));
  symlinkSync('../secret.txt', join(www, 'secret-link.txt'));
  symlinkSync(join(tmp, 'www-evil'), join(www, 'sibling'));
  symlinkSync('/etc/passwd', join(www, 'sub', 'passwd'));
  symlinkSync('index.html', join(www, 'alias.html')); // stays inside: allowed
  symlinkSync('../../index.html', join(www, 'sub', 'deeper', 'home.html')); // inside too
  execFileSync('mkfifo', [join(www, 'fifo')]);
});

after(() => rmSync(tmp, { recursive: true, force: true }));

/** Request targets sent verbatim on the request line. */
const RAW_TARGETS: string[] = [
  '/../secret.txt',
  '/../../../../../../etc/passwd',
  '/%2e%2e/secret.txt',
  '/%2E%2E/secret.txt',
  '/%2e%2e%2fsecret.txt',
  '/..%2fsecret.txt',
  '/..%2Fsecret.txt',
  '/%252e%252e/secret.txt',
  '/%252e%252e%252fsecret.txt',
  '/..%252fsecret.txt',
  '/.%2e/secret.txt',
  '/%2e./secret.txt',
  '/..\\secret.txt',
  '/\\..\\secret.txt',
  '/..%5csecret.txt',
  '/%5c..%5csecret.txt',
  '/..%5Csecret.txt',
  '/secret.txt%00.html',
  '/index.html%00',
  '/.%00./secret.txt',
  '/%00/../secret.txt',
  '/etc/passwd',
  '//etc/passwd',
  '///etc/passwd',
  '/./../secret.txt',
  '/sub/../../secret.txt',
  '/sub/%2e%2e/%2e%2e/secret.txt',
  '/sub/..%2f..%2fsecret.txt',
  '/sub/deeper/../../../secret.txt',
  '/sub/..;/../secret.txt',
  '/%c0%ae%c0%ae/secret.txt',
  '/%c0%af../secret.txt',
  '/%e0%80%ae%e0%80%ae/secret.txt',
  '/%u002e%u002e/secret.txt',
  '/..%c0%afsecret.txt',
  '/up/secret.txt',
  '/up/',
  '/up/index.html',
  '/up/www-evil/x.txt',
  '/secret-link.txt',
  '/sibling/x.txt',
  '/sub/passwd',
  '/fifo',
  'http://localhost/../secret.txt',
  'http://localhost/%2e%2e/secret.txt',
  'http://localhost/etc/passwd',
  'http://localhost/up/secret.txt',
  'http:///../secret.txt',
  'http://user@localhost/../secret.txt',
  'http://localhost\\..\\secret.txt',
  'HTTP://LOCALHOST/..%2fsecret.txt',
  'file:///etc/passwd',
  '../secret.txt',
  'secret.txt',
  '..',
  '*',
  'localhost:80',
  '/...//secret.txt',
];

describe('path escapes', () => {
  let s: Running;
  before(async () => {
    s = await startServer({ wwwRoot: www, cacheSizeBytes: 1024 * 1024 });
  });
  after(() => s.stop());

  test(`${RAW_TARGETS.length} raw targets: never a 2xx, never content from outside www-root`, async () => {
    for (const target of RAW_TARGETS) {
      for (const method of ['GET', 'HEAD']) {
        const r = await raw(s.port, [`${method} ${target} HTTP/1.1\r\nHost: localhost\r\n\r\n`], {
          until: (d) => parseResponses(d, [method === 'HEAD']).length === 1,
          timeoutMs: 3000,
        });
        const text = r.data.toString('latin1');
        assert.ok(!text.includes(CANARY), `${method} ${target} leaked the canary:\n${text}`);
        assert.ok(!text.includes(PASSWD_MARK), `${method} ${target} leaked /etc/passwd:\n${text}`);
        const res = parseResponses(r.data, [method === 'HEAD'])[0];
        assert.ok(res, `${method} ${target}: no response (${JSON.stringify(text.slice(0, 100))})`);
        assert.ok(res.status === 400 || res.status === 404, `${method} ${target}: status ${res.status}`);
      }
    }
    const e = s.server.errors;
    assert.ok(e['path-escape']! > 0 && e['symlink-escape']! > 0 && e['bad-uri']! > 0 && e['not-regular-file']! > 0, JSON.stringify(e));
  });

  test('the same attacks through curl --path-as-is', async () => {
    const urls = [
      '/../secret.txt',
      '/%2e%2e/secret.txt',
      '/%2e%2e%2fsecret.txt',
      '/..%2fsecret.txt',
      '/%252e%252e/secret.txt',
      '/.%2e/secret.txt',
      '/..%5csecret.txt',
      '/secret.txt%00',
      '/etc/passwd',
      '//etc/passwd',
      '/up/secret.txt',
      '/secret-link.txt',
      '/sub/passwd',
    ];
    for (const u of urls) {
      const r = await curl(['-i', `${s.base}${u}`]);
      const text = r.stdout.toString('latin1');
      assert.ok(!text.includes(CANARY) && !text.includes(PASSWD_MARK), `${u} leaked:\n${text}`);
      assert.match(text, /^HTTP\/1\.1 (400|404) /, u);
    }
    // curl without --path-as-is normalises dots itself: still only files inside the root
    const r = await curl(['-i', `${s.base}/sub/../../../secret.txt`]);
    assert.ok(!r.stdout.toString().includes(CANARY));
  });

  test('symlinks that stay inside the root are served; the root itself behind a symlink works', async () => {
    assert.equal((await curl([`${s.base}/alias.html`])).stdout.toString(), 'Welcome\n');
    assert.equal((await curl([`${s.base}/sub/deeper/home.html`])).stdout.toString(), 'Welcome\n');
    assert.equal((await curl([`${s.base}/sub/ok.txt`])).stdout.toString(), 'inside\n');
    assert.equal((await curl([`${s.base}/%73ub/ok.txt`])).stdout.toString(), 'inside\n');
    const linkRoot = join(tmp, 'root-link');
    symlinkSync(www, linkRoot);
    const t = await startServer({ wwwRoot: linkRoot + '/', cacheSizeBytes: 1024 });
    try {
      assert.equal((await curl([`${t.base}/index.html`])).stdout.toString(), 'Welcome\n');
      const esc = await curl(['-i', `${t.base}/up/secret.txt`]);
      assert.ok(!esc.stdout.toString().includes(CANARY));
    } finally {
      await t.stop();
    }
  });

  test('a missing www-root answers 404, not an error', async () => {
    const t = await startServer({ wwwRoot: join(tmp, 'does-not-exist'), cacheSizeBytes: 1024 });
    try {
      const r = await curl(['-o', '/dev/null', '-w', '%{http_code}', `${t.base}/`]);
      assert.equal(r.stdout.toString(), '404');
    } finally {
      await t.stop();
    }
  });
});
