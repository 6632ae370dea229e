/**
 * PairWatcher and TlsListener.reload() without timers: the identity poll is driven by calling
 * check() (pollMs 0, no interval), so each step is an explicit event. The kubelet's update is a
 * rename of the `..data` symlink; a plain rewrite of a file in place counts too.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PairWatcher, pairSignature } from '../../src/http/pair-watcher.js';
import { TlsListener } from '../../src/http/tls-listener.js';
import { HttpStaticServer } from '../../src/http/server.js';
import { selfSignedPair } from '../../src/http/tls-credentials.js';

describe('certificate rotation, step by step', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pair-watcher-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  const publish = (root: string, cert: Buffer | string, key: Buffer | string): void => {
    n++;
    mkdirSync(join(root, `..v${n}`));
    writeFileSync(join(root, `..v${n}`, 'tls.crt'), cert);
    writeFileSync(join(root, `..v${n}`, 'tls.key'), key);
    symlinkSync(`..v${n}`, join(root, '..tmp'));
    renameSync(join(root, '..tmp'), join(root, '..data'));
  };

  // check() runs synchronously right after the change, before fs.watch's events are delivered
  // (they are asynchronous), so it alone decides; the 60 s debounce keeps the events out.
  it('check() reports a ..data swap once, and nothing when nothing changed', () => {
    const root = join(dir, 'w');
    mkdirSync(root);
    publish(root, 'a', 'a');
    symlinkSync('..data/tls.crt', join(root, 'tls.crt'));
    symlinkSync('..data/tls.key', join(root, 'tls.key'));
    const files = [join(root, 'tls.crt'), join(root, 'tls.key')];
    let changes = 0;
    const w = new PairWatcher(files, () => changes++, { pollMs: 0, debounceMs: 60_000 });
    try {
      w.check();
      assert.equal(changes, 0);
      const sig = pairSignature(files);
      publish(root, 'b', 'b');
      assert.notEqual(pairSignature(files), sig, 'the swap changes what the symlinks resolve to');
      w.check();
      assert.equal(changes, 1);
      w.check();
      assert.equal(changes, 1, 'reported once');
    } finally {
      w.close();
    }
  });

  it('check() reports a file rewritten in place', () => {
    const root = join(dir, 'p');
    mkdirSync(root);
    const cert = join(root, 'c.pem');
    const key = join(root, 'k.pem');
    writeFileSync(cert, 'x');
    writeFileSync(key, 'x');
    let changes = 0;
    const w = new PairWatcher([cert, key], () => changes++, { pollMs: 0, debounceMs: 60_000 });
    try {
      writeFileSync(cert, 'xy');
      w.check();
      assert.equal(changes, 1);
    } finally {
      w.close();
    }
  });

  it('reload(): a good pair is taken, the same pair is unchanged, a bad pair is refused and the old one kept', () => {
    const root = join(dir, 'r');
    mkdirSync(root);
    const a = selfSignedPair({ names: ['localhost'], commonName: 'a' });
    const b = selfSignedPair({ names: ['localhost'], commonName: 'b' });
    const cert = join(root, 'tls.crt');
    const key = join(root, 'tls.key');
    writeFileSync(cert, a.certPem);
    writeFileSync(key, a.keyPem);
    const logs: string[] = [];
    const http = new HttpStaticServer({ wwwRoot: root, cacheSizeBytes: 1024 });
    const t = new TlsListener(http, null, { certFile: cert, keyFile: key, watch: false, log: (_l, f) => logs.push(String(f.code)) });
    try {
      assert.equal(t.reload(), 'unchanged');
      writeFileSync(cert, b.certPem);
      assert.equal(t.reload(), 'refused', 'B’s certificate with A’s key');
      assert.equal(t.pair.leaf.fingerprint256, a.leaf.fingerprint256);
      writeFileSync(key, b.keyPem);
      assert.equal(t.reload(), 'reloaded');
      assert.equal(t.pair.leaf.fingerprint256, b.leaf.fingerprint256);
      rmSync(key);
      assert.equal(t.reload(), 'refused', 'a missing key');
      assert.equal(t.pair.leaf.fingerprint256, b.leaf.fingerprint256);
      assert.deepEqual(logs, ['TLS_RELOAD_FAILED', 'TLS_RELOADED', 'TLS_RELOAD_FAILED']);
      assert.equal(t.stats().reloads, 1);
      assert.equal(t.stats().errors['reload-failed'], 2);
    } finally {
      t.close();
      http.close();
    }
  });
});
