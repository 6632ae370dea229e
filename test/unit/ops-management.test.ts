/** The management endpoint's address syntax and HTTP answers (src/ops/management.ts). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Registry, Counter } from 'prom-client';
import { ManagementServer, MetricsToken, parseManagementAddress } from '../../src/ops/management.js';
import type { CheckResult } from '../../src/ops/health.js';

describe('parseManagementAddress', () => {
  it('accepts off, a port, an IPv4 address with or without a port, and [IPv6]:port', () => {
    assert.equal(parseManagementAddress('off'), null);
    assert.deepEqual(parseManagementAddress('9100'), { host: '0.0.0.0', port: 9100 });
    assert.deepEqual(parseManagementAddress('0.0.0.0:9100'), { host: '0.0.0.0', port: 9100 });
    assert.deepEqual(parseManagementAddress('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080 });
    assert.deepEqual(parseManagementAddress('10.1.2.3'), { host: '10.1.2.3', port: 9100 });
    assert.deepEqual(parseManagementAddress('[::]:9100'), { host: '::', port: 9100 });
    assert.deepEqual(parseManagementAddress('localhost:9100'), { host: 'localhost', port: 9100 });
  });

  it('rejects anything else and says what is valid', () => {
    for (const bad of ['on', '0.0.0.0:99999', '300.1.1.1:80', 'http://0.0.0.0:9100', '0.0.0.0:', ':9100', '']) {
      assert.throws(() => parseManagementAddress(bad), /expected off, <port>, <ipv4>:<port> or \[<ipv6>\]:<port>/, bad);
    }
  });
});

describe('ManagementServer', () => {
  async function withServer(live: CheckResult, ready: CheckResult, fn: (base: string) => Promise<void>): Promise<void> {
    const registry = new Registry();
    const c = new Counter({ name: 'test_things_total', help: 'things', registers: [registry] });
    c.inc(3);
    const server = new ManagementServer({ host: '127.0.0.1', port: 0 }, { live: () => live, ready: () => ready, metrics: registry });
    const addr = await server.listen();
    try {
      await fn(`http://127.0.0.1:${addr.port}`);
    } finally {
      await server.close();
    }
  }

  it('answers 200 {"status":"ok"} when live and ready, and serves /metrics as Prometheus text', async () => {
    await withServer({ ok: true, reasons: [] }, { ok: true, reasons: [] }, async (base) => {
      for (const path of ['/healthz', '/readyz']) {
        const r = await fetch(base + path);
        assert.equal(r.status, 200, path);
        assert.equal(r.headers.get('content-type'), 'application/json');
        assert.deepEqual(await r.json(), { status: 'ok' });
      }
      const m = await fetch(`${base}/metrics`);
      assert.equal(m.status, 200);
      assert.match(m.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      assert.match(await m.text(), /^# HELP test_things_total things\n# TYPE test_things_total counter\ntest_things_total 3\n/m);
    });
  });

  it('answers 503 with the reasons when not live or not ready', async () => {
    await withServer({ ok: false, reasons: ['event loop stalled'] }, { ok: false, reasons: ['no address', 'no server'] }, async (base) => {
      const h = await fetch(`${base}/healthz`);
      assert.equal(h.status, 503);
      assert.deepEqual(await h.json(), { status: 'unavailable', reasons: ['event loop stalled'] });
      const r = await fetch(`${base}/readyz`);
      assert.equal(r.status, 503);
      assert.deepEqual(await r.json(), { status: 'unavailable', reasons: ['no address', 'no server'] });
      const head = await fetch(`${base}/readyz`, { method: 'HEAD' });
      assert.equal(head.status, 503);
    });
  });

  it('answers 404 for unknown paths and 405 for methods other than GET and HEAD', async () => {
    await withServer({ ok: true, reasons: [] }, { ok: true, reasons: [] }, async (base) => {
      assert.equal((await fetch(`${base}/nope`)).status, 404);
      const post = await fetch(`${base}/healthz`, { method: 'POST', body: 'x' });
      assert.equal(post.status, 405);
      assert.equal(post.headers.get('allow'), 'GET, HEAD');
    });
  });

  it('fails to listen with the system error code (EADDRINUSE)', async () => {
    const registry = new Registry();
    const a = new ManagementServer({ host: '127.0.0.1', port: 0 }, { live: () => ({ ok: true, reasons: [] }), ready: () => ({ ok: true, reasons: [] }), metrics: registry });
    const { port } = await a.listen();
    const b = new ManagementServer({ host: '127.0.0.1', port }, { live: () => ({ ok: true, reasons: [] }), ready: () => ({ ok: true, reasons: [] }), metrics: registry });
    await assert.rejects(b.listen(), { code: 'EADDRINUSE' });
    await a.close();
  });
});

describe('ManagementServer on [::]', () => {
  it('is one dual-stack listener: the kubelet reaches it over IPv4 and over IPv6', async () => {
    const registry = new Registry();
    const ok: CheckResult = { ok: true, reasons: [] };
    const server = new ManagementServer({ host: '::', port: 0 }, { live: () => ok, ready: () => ok, metrics: registry });
    const addr = await server.listen();
    try {
      assert.equal(server.fellBackToIpv4, false);
      for (const base of [`http://127.0.0.1:${addr.port}`, `http://[::1]:${addr.port}`]) {
        const res = await fetch(`${base}/readyz`);
        assert.equal(res.status, 200, base);
      }
    } finally {
      await server.close();
    }
  });
});

describe('review r/metrics (10): an optional bearer token for /metrics (vpp-server { metrics-token-file })', () => {
  it('401 without the token or with a wrong one, 200 with it; the health endpoints stay open; a rotated file is read again; an empty or missing file is refused', async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'vpp-token-'));
    const file = join(dir, 'token');
    writeFileSync(file, 's3cret-token\n');
    const registry = new Registry();
    new Counter({ name: 'x_total', help: 'x', registers: [registry] }).inc();
    const ok = (): CheckResult => ({ ok: true, reasons: [] });
    const server = new ManagementServer({ host: '127.0.0.1', port: 0 }, { live: ok, ready: ok, metrics: registry }, new MetricsToken(file));
    const { port } = await server.listen();
    const get = (path: string, auth?: string) => fetch(`http://127.0.0.1:${port}${path}`, { headers: auth === undefined ? {} : { Authorization: auth } });
    try {
      const none = await get('/metrics');
      assert.equal(none.status, 401);
      assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer /);
      assert.doesNotMatch(await none.text(), /x_total/);
      assert.equal((await get('/metrics', 'Bearer wrong')).status, 401);
      assert.equal((await get('/metrics', 'Bearer s3cret-token-and-more')).status, 401);
      assert.equal((await get('/metrics', 'Basic czNjcmV0LXRva2Vu')).status, 401);
      const good = await get('/metrics', 'Bearer s3cret-token');
      assert.equal(good.status, 200);
      assert.match(await good.text(), /x_total 1/);
      for (const p of ['/healthz', '/livez', '/readyz']) assert.equal((await get(p)).status, 200, `${p} open for the kubelet`);
      // Rotation (a new Secret): the new token, and only it.
      writeFileSync(file, 'rotated-token-2');
      assert.equal((await get('/metrics', 'Bearer s3cret-token')).status, 401);
      assert.equal((await get('/metrics', 'Bearer rotated-token-2')).status, 200);
    } finally {
      await server.close();
    }
    writeFileSync(file, '  \n');
    assert.throws(() => new MetricsToken(file), /is empty/);
    assert.throws(() => new MetricsToken(join(dir, 'missing')), /metrics-token-file/);
    rmSync(dir, { recursive: true });
  });
});

describe('review r/metrics2 fixes (h/metricsfix2): the management endpoint', () => {
  it('R2-2 counts requests by route, everything unknown as `other` (never a key per client path)', async () => {
    const registry = new Registry();
    const ok = (): CheckResult => ({ ok: true, reasons: [] });
    const server = new ManagementServer({ host: '127.0.0.1', port: 0 }, { live: ok, ready: ok, metrics: registry });
    const { port } = await server.listen();
    try {
      for (const p of ['/healthz', '/livez', '/readyz', '/metrics', '/', '/metrics/x', '/a', '/b?c=d', '/healthz?x=1']) {
        await (await fetch(`http://127.0.0.1:${port}${p}`)).text();
      }
      await (await fetch(`http://127.0.0.1:${port}/zz`, { method: 'POST' })).text();
      assert.deepEqual({ ...server.served }, { '/healthz': 2, '/livez': 1, '/readyz': 1, '/metrics': 1, '/': 1, other: 4 });
    } finally {
      await server.close();
    }
  });

  it('R2-3 re-reads the token when another file is behind the path, even with the same size and mtime (inode compared)', async () => {
    const fs = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = fs.mkdtempSync(join(tmpdir(), 'vpp-token-ino-'));
    try {
      fs.mkdirSync(join(dir, '..ts1'));
      fs.mkdirSync(join(dir, '..ts2'));
      fs.writeFileSync(join(dir, '..ts1', 'token'), 'old-token-AAAA\n');
      fs.writeFileSync(join(dir, '..ts2', 'token'), 'new-token-BBBB\n');
      const t0 = new Date(1_700_000_000_000);
      fs.utimesSync(join(dir, '..ts1', 'token'), t0, t0);
      fs.utimesSync(join(dir, '..ts2', 'token'), t0, t0);
      fs.symlinkSync('..ts1', join(dir, '..data'));
      fs.symlinkSync('..data/token', join(dir, 'token'));
      const t = new MetricsToken(join(dir, 'token'));
      assert.equal(t.accepts('Bearer old-token-AAAA'), true);
      // The kubelet's atomic swap: same size, same mtime, another inode.
      fs.symlinkSync('..ts2', join(dir, '..data_tmp'));
      fs.renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
      assert.equal(t.accepts('Bearer new-token-BBBB'), true, 'the rotated token is accepted');
      assert.equal(t.accepts('Bearer old-token-AAAA'), false, 'the old token is refused');
      assert.equal(t.hasInnerWhitespace, false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('flags a token with white space inside (it can never match a Bearer header), and the engine warns at config load', async () => {
    const fs = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const { Engine } = await import('../../src/engine.js');
    const { createLogger, LogRing } = await import('../../src/log.js');
    const dir = fs.mkdtempSync(join(tmpdir(), 'vpp-token-ws-'));
    try {
      const file = join(dir, 'token');
      fs.writeFileSync(file, '  two words\n');
      const t = new MetricsToken(file);
      assert.equal(t.hasInnerWhitespace, true);
      assert.equal(t.accepts('Bearer two words'), false);
      const ring = new LogRing(100);
      const log = createLogger({ destination: join(dir, 'log'), ring, level: 'debug' });
      new Engine({ config: { nodaemon: true, engine: { 'metrics-token-file': file }, warnings: [] }, log, logRing: ring, openDevice: () => { throw new Error('not opened'); } });
      assert.ok(ring.last().some((l) => l.includes('METRICS_TOKEN_WHITESPACE')), ring.last().join('\n'));
      fs.writeFileSync(file, 'oneword\n');
      assert.equal(new MetricsToken(file).hasInnerWhitespace, false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
