/**
 * Issue 3's acceptance tests on the lab: curl, wrk, hping3, nftables and Python sockets in the
 * client namespace talk to our TCP stack and HTTP server through the userspace VLAN.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { chownSync, writeFileSync, mkdirSync, symlinkSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { defaultSettings, Lab, POD_UID } from '../../src/lab/lab.js';
import { inNs } from '../../src/lab/exec.js';
import { cli, isRoot, REPO_ROOT } from './lab-helpers.js';

const skip = isRoot() ? false : 'needs root (network namespaces)';
const FIXTURES = join(REPO_ROOT, 'test', 'e2e', 'fixtures');

describe('HTTP over our TCP on the lab (IPv4 and IPv6)', { skip }, () => {
  const lab = new Lab(defaultSettings('httplab'));
  const url = (path: string) => `http://${lab.serverIp}${path}`;
  const big = randomBytes(10 * 1024 * 1024);
  const bigSha = createHash('sha256').update(big).digest('hex');
  const curl = (args: string[], timeoutMs = 30_000) => inNs(lab.ns.client, ['curl', '-sS', '--max-time', String(timeoutMs / 1000), ...args], { timeoutMs: timeoutMs + 5000 });
  const nft = (script: string) => inNs(lab.ns.client, ['nft', '-f', '-'], { input: script });

  before(async () => {
    lab.down();
    await lab.up();
    const www = lab.podWwwDir;
    writeFileSync(join(www, 'big.bin'), big);
    writeFileSync(join(www, 'a.txt'), 'AAAA\n');
    writeFileSync(join(www, 'b.txt'), 'BBBBBBBB\n');
    mkdirSync(join(www, 'sub'), { recursive: true });
    writeFileSync(join(www, 'sub', 'index.html'), 'sub index\n');
    // A canary outside the web root that must never be served, and a symlink pointing at it.
    writeFileSync(join(lab.stateDir, 'pod', 'canary.txt'), 'CANARY-OUTSIDE-ROOT\n');
    symlinkSync(join(lab.stateDir, 'pod', 'canary.txt'), join(www, 'escape.txt'));
    for (const f of ['big.bin', 'a.txt', 'b.txt', 'sub', 'sub/index.html']) chownSync(join(www, f), POD_UID, POD_UID);
  });
  after(() => lab.down());

  // The family-independent cases run over IPv4 and over IPv6 (issue 10), on the same dataplane.
  for (const v6 of [false, true]) {
    const label = v6 ? 'IPv6' : 'IPv4';
    const addr = v6 ? lab.pods[0]!.ip6! : lab.serverIp;
    const host = v6 ? `[${addr}]` : addr;
    const nftFamily = v6 ? 'ip6' : 'ip';
    const urlFor = (path: string) => `http://${host}${path}`;
    const downloadSha = (timeoutMs: number) => {
      const out = inNs(lab.ns.client, ['sh', '-c', `curl -sS --max-time ${timeoutMs / 1000} '${urlFor('/big.bin')}' | sha256sum`], { timeoutMs: timeoutMs + 5000 });
      return out.split(' ')[0];
    };
    it(`${label}: answers the first curl with Welcome`, () => {
      assert.equal(curl([urlFor('/index.html')]).trim(), 'Welcome');
    });

    it(`${label}: sends valid headers to curl -I, 304 to a conditional request and 206 for a range`, () => {
      const head = curl(['-I', urlFor('/index.html')]);
      assert.match(head, /^HTTP\/1\.1 200 OK\r\n/);
      assert.match(head, /\r\nContent-Length: 8\r\n/i);
      assert.match(head, /\r\nContent-Type: text\/html/i);
      assert.match(head, /\r\nDate: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\r\n/i);
      assert.match(head, /\r\nServer: vpp-server/i);
      const etag = /\r\nETag: (.*)\r\n/i.exec(head)?.[1];
      const lastModified = /\r\nLast-Modified: (.*)\r\n/i.exec(head)?.[1];
      assert.ok(etag !== undefined && lastModified !== undefined);
      assert.equal(curl(['-o', '/dev/null', '-w', '%{http_code}', '-H', `If-None-Match: ${etag}`, urlFor('/index.html')]), '304');
      assert.equal(curl(['-o', '/dev/null', '-w', '%{http_code}', '-H', `If-Modified-Since: ${lastModified}`, urlFor('/index.html')]), '304');
      const range = curl(['-sS', '-D', '-', '-o', '/dev/null', '-H', 'Range: bytes=1000-1009', urlFor('/big.bin')]);
      assert.match(range, /^HTTP\/1\.1 206/);
      assert.match(range, /\r\nContent-Range: bytes 1000-1009\/10485760\r\n/i);
      const hex = inNs(lab.ns.client, ['sh', '-c', `curl -sS --max-time 5 -H 'Range: bytes=1000-1009' '${urlFor('/big.bin')}' | od -An -v -tx1`]);
      assert.equal(hex.replace(/\s+/g, ''), big.subarray(1000, 1010).toString('hex'));
    });

    it(`${label}: serves a 10 MB file intact`, () => {
      assert.equal(downloadSha(60_000), bigSha);
    });

    it(`${label}: serves a 10 MB file intact with 5% random loss in both directions (nftables numgen)`, () => {
      nft(`table inet vpploss {
        chain in { type filter hook input priority 0; ${nftFamily} saddr ${addr} numgen random mod 100 < 5 drop; }
        chain out { type filter hook output priority 0; ${nftFamily} daddr ${addr} numgen random mod 100 < 5 drop; }
      }`);
      try {
        assert.equal(downloadSha(120_000), bigSha);
      } finally {
        inNs(lab.ns.client, ['nft', 'delete', 'table', 'inet', 'vpploss']);
      }
    });

    it(`${label}: serves a 10 MB file intact when every packet from the client is duplicated (nftables dup)`, () => {
      nft(`table ${nftFamily} vppdup {
        chain out { type filter hook output priority 0; ${nftFamily} daddr ${addr} dup to ${addr} device "eth0"; }
      }`);
      try {
        assert.equal(downloadSha(120_000), bigSha);
      } finally {
        inNs(lab.ns.client, ['nft', 'delete', 'table', nftFamily, 'vppdup']);
      }
    });

    it(`${label}: answers 100 pipelined requests on one connection, in order`, () => {
      const out = inNs(lab.ns.client, ['python3', join(FIXTURES, 'pipeline.py'), addr, '80', '100', '/a.txt', '/b.txt'], { timeoutMs: 20_000 });
      const bodies = out.trim().split('\n');
      assert.equal(bodies.length, 100);
      bodies.forEach((b, i) => assert.equal(b, i % 2 === 0 ? '200 AAAA' : '200 BBBBBBBB', `response ${i}`));
    });

    it(`${label}: never serves anything outside www-root`, () => {
      const attempts = [
        '/../canary.txt', '/../../canary.txt', '/%2e%2e/canary.txt', '/%2e%2e%2fcanary.txt', '/..%2fcanary.txt',
        '/%252e%252e/canary.txt', '/.%2e/canary.txt', '/%2e./canary.txt', '/..\\canary.txt', '/..%5ccanary.txt',
        '/%2e%2e%5ccanary.txt', '/sub/../../canary.txt', '/sub/%2e%2e/%2e%2e/canary.txt', '/escape.txt', '/./../canary.txt',
        '//../canary.txt', '/index.html%00/../../canary.txt', '/%00../canary.txt', '/..;/canary.txt', '/sub/..%2f..%2fcanary.txt',
        `http://${host}/../canary.txt`, '/%c0%ae%c0%ae/canary.txt',
      ];
      for (const path of attempts) {
        const out = inNs(lab.ns.client, ['curl', '-sS', '--path-as-is', '--max-time', '5', '-w', '\n%{http_code}', `http://${host}${path.startsWith('http') ? '' : path}`, ...(path.startsWith('http') ? ['--request-target', path] : [])], { timeoutMs: 10_000 });
        assert.doesNotMatch(out, /CANARY/, `${path} leaked the canary`);
        assert.match(out.trim().split('\n').pop() ?? '', /^(400|403|404)$/, `${path}: ${out}`);
      }
    });
  }

  it('takes wrk with 64 connections for 10 s with no socket errors and no non-2xx responses', () => {
    const out = inNs(lab.ns.client, ['wrk', '-t', '2', '-c', '64', '-d', '10s', url('/index.html')], { timeoutMs: 30_000 });
    assert.doesNotMatch(out, /Socket errors/, out);
    assert.doesNotMatch(out, /Non-2xx/, out);
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
    assert.ok(rps > 100, out);
  });

  it('keeps serving curl during a bounded SYN flood from the client namespace (hping3)', async () => {
    const flood = spawn('ip', ['netns', 'exec', lab.ns.client, 'hping3', '-q', '-S', '-p', '80', '-c', '30000', '-i', 'u50', lab.serverIp], { stdio: 'ignore' });
    const floodDone = new Promise<void>((resolve) => flood.once('exit', () => resolve()));
    try {
      // While the flood runs, a real client still gets its page.
      for (let i = 0; i < 5; i++) assert.equal(curl([url('/index.html')], 10_000).trim(), 'Welcome');
    } finally {
      await floodDone;
    }
    const errors = await cli(lab.podSocket, 'show errors');
    assert.match(errors, /tcp4-(input|session)/, errors);
  });

  it('holds 1,000 idle keep-alive connections, still serves a new request promptly, and closes them at the idle timeout', async () => {
    // A second server with short limits, started at run time through the CLI.
    await cli(lab.podSocket, `http static server www-root ${lab.podWwwDir} uri tcp://0.0.0.0/8080 cache-size 1m header-timeout 2 idle-timeout 4`);
    const idle = spawn('ip', ['netns', 'exec', lab.ns.client, 'python3', join(FIXTURES, 'idle_connections.py'), lab.serverIp, '8080', '1000', '30'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    const opened = new Promise<number>((resolve, reject) => {
      idle.stdout!.on('data', (d: Buffer) => {
        output += d.toString();
        const m = /open (\d+)/.exec(output);
        if (m !== null) resolve(Number(m[1]));
      });
      idle.once('exit', (code) => reject(new Error(`idle_connections.py exited (${code}) before opening: ${output}`)));
    });
    const exited = new Promise<void>((resolve) => idle.once('exit', () => resolve()));
    assert.equal(await opened, 1000);
    const openedAt = Date.now();
    const sessions = await cli(lab.podSocket, 'show session');
    assert.ok(Number(/active sessions (\d+)/.exec(sessions)?.[1]) >= 1000, sessions.split('\n').pop());
    const t0 = Date.now();
    assert.equal(curl([url('/index.html')], 5000).trim(), 'Welcome');
    assert.ok(Date.now() - t0 < 1000, `a new request took ${Date.now() - t0} ms next to 1,000 idle connections`);
    await exited;
    const closedAll = /closed 1000\s*$/.test(output.trim());
    assert.ok(closedAll, `not all idle connections were closed: ${output.trim().split('\n').pop()}`);
    const took = (Date.now() - openedAt) / 1000;
    assert.ok(took >= 3 && took < 15, `idle connections closed after ${took.toFixed(1)} s (idle-timeout 4 s)`);
  });

  it('cuts off a client that sends its request head one byte per second (header-timeout)', () => {
    const out = inNs(lab.ns.client, ['python3', join(FIXTURES, 'slow_header.py'), lab.serverIp, '8080', '1', '20'], { timeoutMs: 30_000 });
    const seconds = Number(/cut off after ([\d.]+)s/.exec(out)?.[1]);
    assert.ok(seconds >= 1.5 && seconds < 6, out);
  });

  it('shows sessions and the file cache on the CLI', async () => {
    assert.match(await cli(lab.podSocket, 'show session'), /LISTEN/);
    assert.match(await cli(lab.podSocket, 'show http static server cache'), /hits \d+, misses \d+/);
  });
});


