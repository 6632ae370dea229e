import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENTRY_OVERHEAD_BYTES, FileCache } from '../../src/http/cache.js';

const tmp = mkdtempSync(join(tmpdir(), 'http-cache-test-'));
const root = join(tmp, 'www');
mkdirSync(join(root, 'dir'), { recursive: true });
writeFileSync(join(root, 'index.html'), 'Welcome\n');
writeFileSync(join(root, 'big.bin'), Buffer.alloc(5000));
writeFileSync(join(tmp, 'outside.txt'), 'secret');
symlinkSync('../outside.txt', join(root, 'out-link'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('resolution kinds: entry, file (too big), redirect, errors', async () => {
  const c = new FileCache(root, 100_000, 1000, 1000);
  const now = Date.now();
  const e = await c.resolve('/index.html', now);
  assert.equal(e.kind, 'entry');
  if (e.kind === 'entry') {
    assert.equal(e.entry.body.toString(), 'Welcome\n');
    assert.equal(e.entry.contentType, 'text/html; charset=utf-8');
  }
  assert.deepEqual(await c.resolve('/', now), { kind: 'entry', entry: c.peek('/', now) });
  const big = await c.resolve('/big.bin', now);
  assert.equal(big.kind, 'file');
  assert.deepEqual(await c.resolve('/dir', now), { kind: 'redirect' });
  assert.deepEqual(await c.resolve('/dir/', now), { kind: 'error', status: 404, reason: 'not-found' });
  assert.deepEqual(await c.resolve('/out-link', now), { kind: 'error', status: 404, reason: 'symlink-escape' });
  assert.deepEqual(await c.resolve('/index.html/', now), { kind: 'error', status: 404, reason: 'not-found' });
  assert.deepEqual(await c.resolve('/nope', now), { kind: 'error', status: 404, reason: 'not-found' });
  // concurrent misses share one load
  const c2 = new FileCache(root, 100_000, 1000, 1000);
  const [a, b] = await Promise.all([c2.resolve('/index.html', now), c2.resolve('/index.html', now)]);
  assert.equal(a, b);
  assert.equal(c2.stats().misses, 1);
});

test('entries are charged size + overhead; LRU order; capacity respected', async () => {
  const dir = join(tmp, 'lru');
  mkdirSync(dir);
  for (const n of ['a', 'b', 'c']) writeFileSync(join(dir, n), n.repeat(100));
  const cap = 2 * (100 + ENTRY_OVERHEAD_BYTES);
  const c = new FileCache(dir, cap, 1000, 60_000);
  const now = Date.now();
  await c.resolve('/a', now);
  await c.resolve('/b', now);
  assert.ok(c.peek('/a', now)); // a is now the most recently used
  await c.resolve('/c', now); // evicts b
  assert.deepEqual([...c.entries()].map((e) => e.key), ['/c', '/a']);
  assert.equal(c.peek('/b', now), undefined);
  assert.deepEqual(c.stats(), { entries: 2, bytes: 200, capacity: cap, hits: 1, misses: 3, evictions: 1 });
  // a file bigger than the whole cache is never cached
  const tiny = new FileCache(dir, 50, 1000, 60_000);
  assert.equal((await tiny.resolve('/a', now)).kind, 'file');
  assert.equal(tiny.stats().entries, 0);
});

test('entries in use are re-checked in the background and never expire under traffic', async () => {
  const dir = join(tmp, 'hot');
  mkdirSync(dir);
  writeFileSync(join(dir, 'f'), 'one');
  const c = new FileCache(dir, 10_000, 1000, 100);
  await c.resolve('/f', Date.now());
  const start = Date.now();
  let expired = 0;
  let changedAt = 0;
  let seenAt = 0;
  let lastRefresh = 0;
  while (Date.now() - start < 1000 && seenAt === 0) {
    const now = Date.now();
    if (now - lastRefresh >= 20) {
      c.refreshHot(now);
      lastRefresh = now;
    }
    const e = c.peek('/f', now);
    if (e === undefined) {
      if (changedAt === 0) expired++;
      await c.resolve('/f', now);
    } else if (e.body.toString() === 'two!') seenAt = now;
    if (changedAt === 0 && now - start > 400) {
      writeFileSync(join(dir, 'f'), 'two!');
      changedAt = now;
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  assert.equal(expired, 0, 'a hot entry expired before the change');
  assert.ok(seenAt > 0, 'the change was not picked up');
  assert.ok(seenAt - changedAt < 300, `change seen after ${seenAt - changedAt} ms`);
});
