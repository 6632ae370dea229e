/**
 * Issue 11's acceptance tests on the lab: HTTPS and HTTP/2 served by the pod's dataplane over
 * our own TCP, through the userspace VLAN, to curl, openssl, nghttp and h2load in the client
 * namespace. The listener is the one `lab up` configures through init (TLS_DIR), its directory laid
 * out the kubelet's way (tls.crt -> ..data/tls.crt, ..data a symlink swapped by rename) so that
 * rotation is tested as a Secret update does it.
 * testssl.sh, slower, is in test/tls/ (make test-tls).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { chownSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { defaultSettings, Lab, POD_UID } from '../../src/lab/lab.js';
import { inNs, waitFor } from '../../src/lab/exec.js';
import { selfSignedPair, type TlsPair } from '../../src/http/tls-credentials.js';
import { cli, errorCount, isRoot, REPO_ROOT } from './lab-helpers.js';

const skip = isRoot() ? false : 'needs root (network namespaces)';
const FIXTURES = join(REPO_ROOT, 'test', 'e2e', 'fixtures');

/** Runs a command in a namespace without blocking the event loop; resolves with its exit code and output. */
function inNsAsync(ns: string, argv: string[], timeoutMs = 60_000): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout: Buffer.concat(out), stderr: err });
    });
  });
}

/** Runs a command and returns its exit code and output, failing or not (for handshakes that must fail). */
function tryInNs(ns: string, argv: string[], timeoutMs = 20_000): Promise<{ code: number; out: string }> {
  return inNsAsync(ns, argv, timeoutMs).then((r) => ({ code: r.code, out: r.stdout.toString() + r.stderr }));
}

describe('HTTPS and HTTP/2 over our TCP on the lab', { skip }, () => {
  const lab = new Lab(defaultSettings('httpslab'));
  const ip = lab.serverIp;
  const big = randomBytes(10 * 1024 * 1024);
  const bigSha = createHash('sha256').update(big).digest('hex');
  const caFile = join(lab.stateDir, 'test-ca.pem');
  let pairA: TlsPair;
  let pairB: TlsPair;
  const sock = () => lab.podSocket;
  const curl = (args: string[], timeoutMs = 60_000) =>
    inNs(lab.ns.client, ['curl', '-sS', '--max-time', String(timeoutMs / 1000), '--cacert', caFile, ...args], { timeoutMs: timeoutMs + 5000 });
  const sha = (args: string[], timeoutMs = 60_000) =>
    inNs(lab.ns.client, ['sh', '-c', `curl -sS --max-time ${timeoutMs / 1000} --cacert ${caFile} ${args.join(' ')} | sha256sum`], { timeoutMs: timeoutMs + 5000 }).split(' ')[0];

  /** Publishes a pair as the kubelet updates a Secret: a new directory, then ..data swapped by rename. */
  const publish = (cert: Buffer | string, key: Buffer | string): void => lab.publishCertificate(cert, key);

  /** The SHA-256 fingerprint of the certificate a new connection from the client is shown. */
  async function servedFingerprint(): Promise<string> {
    const r = await tryInNs(lab.ns.client, ['sh', '-c', `openssl s_client -connect ${ip}:443 -servername vpp.lab </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256`]);
    return /=([0-9A-F:]+)/.exec(r.out)?.[1] ?? '';
  }

  before(async () => {
    lab.down();
    await lab.up();
    writeFileSync(join(lab.podWwwDir, 'big.bin'), big);
    chownSync(join(lab.podWwwDir, 'big.bin'), POD_UID, POD_UID);
    pairA = selfSignedPair({ names: [ip, 'vpp.lab'], commonName: 'vpp.lab (A)' });
    pairB = selfSignedPair({ names: [ip, 'vpp.lab'], commonName: 'vpp.lab (B)' });
    writeFileSync(caFile, Buffer.concat([pairA.certPem, pairB.certPem]));
    // `lab up` made a certificate and init configured the listener (TLS_DIR): serve A instead.
    assert.match(readFileSync(join(lab.podConfDir, 'startup.conf'), 'utf8'), /^http static listener add uri tls:\/\/0\.0\.0\.0\/443 cert \S+\/tls\.crt key \S+\/tls\.key$/m);
    publish(pairA.certPem, pairA.keyPem);
    await waitFor('the listener to serve certificate A', async () => ((await servedFingerprint()) === pairA.leaf.fingerprint256 ? true : undefined), 5000, 50);
  });
  after(() => lab.down());

  it('curl --cacert (no -k) fetches index.html and 10 MB intact; --tlsv1.3 and --tls-max 1.2 both work', () => {
    assert.equal(curl([`https://${ip}/index.html`]).trim(), 'Welcome');
    assert.equal(sha([`https://${ip}/big.bin`]), bigSha);
    const v13 = inNs(lab.ns.client, ['sh', '-c', `curl -sS -v --http1.1 --tlsv1.3 --cacert ${caFile} -o /dev/null https://${ip}/ 2>&1`]);
    assert.match(v13, /SSL connection using TLSv1\.3/);
    const v12 = inNs(lab.ns.client, ['sh', '-c', `curl -sS -v --http1.1 --tls-max 1.2 --cacert ${caFile} -o /dev/null https://${ip}/ 2>&1`]);
    assert.match(v12, /SSL connection using TLSv1\.2 \/ ECDHE-RSA-(AES\d+-GCM-SHA\d+|CHACHA20-POLY1305)/);
    assert.equal(sha(['--tls-max', '1.2', '--http1.1', `https://${ip}/big.bin`]), bigSha);
  });

  it('refuses TLS 1.1 (openssl s_client -tls1_1 at SECLEVEL=0) and counts it', async () => {
    const before = errorCount(await cli(sock(), 'show errors'), 'tls-server', 'protocol-refused');
    const r = await tryInNs(lab.ns.client, ['openssl', 's_client', '-tls1_1', '-cipher', 'DEFAULT:@SECLEVEL=0', '-connect', `${ip}:443`]);
    assert.notEqual(r.code, 0, r.out);
    assert.match(r.out, /alert protocol version|unsupported protocol|no protocols available/i);
    await waitFor('the refusal to be counted', async () =>
      errorCount(await cli(sock(), 'show errors'), 'tls-server', 'protocol-refused') > before ? true : undefined, 5000);
  });

  it('negotiates h2 with openssl s_client -alpn h2; curl --http2 and nghttp get the same bytes, ETag and Range as HTTP/1.1', async () => {
    const alpn = await tryInNs(lab.ns.client, ['openssl', 's_client', '-alpn', 'h2', '-CAfile', caFile, '-connect', `${ip}:443`]);
    assert.match(alpn.out, /ALPN protocol: h2/);
    assert.match(alpn.out, /Verify return code: 0 \(ok\)/);
    const head = (proto: string, extra: string[] = []) => curl([proto, '-D', '-', '-o', '/dev/null', ...extra, `https://${ip}/big.bin`]);
    const h1 = head('--http1.1');
    const h2 = head('--http2');
    assert.match(h2, /^HTTP\/2 200/);
    const etag1 = /\r\netag: (.*)\r\n/i.exec(h1)?.[1];
    const etag2 = /\r\netag: (.*)\r\n/i.exec(h2)?.[1];
    assert.ok(etag1 !== undefined && etag1 === etag2, `${etag1} vs ${etag2}`);
    assert.equal(sha(['--http2', `https://${ip}/big.bin`]), bigSha);
    const r1 = head('--http1.1', ['-H', 'Range: bytes=1000-1999']);
    const r2 = head('--http2', ['-H', 'Range: bytes=1000-1999']);
    for (const r of [r1, r2]) {
      assert.match(r, /^HTTP\/[12](\.1)? 206/);
      assert.match(r, /\r\ncontent-range: bytes 1000-1999\/10485760\r\n/i);
    }
    assert.equal(sha(['--http2', '-H', "'Range: bytes=1000-1999'", `https://${ip}/big.bin`]), createHash('sha256').update(big.subarray(1000, 2000)).digest('hex'));
    const c304 = curl(['--http2', '-o', '/dev/null', '-w', '%{http_code}', '-H', `If-None-Match: ${etag1}`, `https://${ip}/big.bin`]);
    assert.equal(c304, '304');
    // nghttp (nghttp2's client): TLS with ALPN h2, and h2c prior knowledge on port 80.
    const n1 = await inNsAsync(lab.ns.client, ['nghttp', '-n', '-s', `https://${ip}/big.bin`]);
    assert.equal(n1.code, 0, n1.stderr);
    const viaNghttp = await inNsAsync(lab.ns.client, ['sh', '-c', `nghttp https://${ip}/big.bin | sha256sum`]);
    assert.equal(viaNghttp.stdout.toString().split(' ')[0], bigSha);
    const h2c = await inNsAsync(lab.ns.client, ['sh', '-c', `nghttp -v http://${ip}/index.html`]);
    assert.match(h2c.stdout.toString(), /:status: 200/);
    assert.match(h2c.stdout.toString(), new RegExp(`etag: ${(/\r\netag: (.*)\r\n/i.exec(curl(['--http1.1', '-D', '-', '-o', '/dev/null', `http://${ip}/index.html`]))?.[1] ?? 'x').replace(/"/g, '"')}`));
    assert.match(h2c.stdout.toString(), /Welcome/);
    const nr = await inNsAsync(lab.ns.client, ['sh', '-c', `nghttp -H 'range: bytes=1000-1009' https://${ip}/big.bin | od -An -v -tx1`]);
    assert.equal(nr.stdout.toString().replace(/\s+/g, ''), big.subarray(1000, 1010).toString('hex'));
  });

  it('h2load -n 2000 -c 10 -m 10 completes with 0 errors', async () => {
    const r = await inNsAsync(lab.ns.client, ['h2load', '-n', '2000', '-c', '10', '-m', '10', `https://${ip}/index.html`], 120_000);
    const out = r.stdout.toString();
    assert.equal(r.code, 0, out + r.stderr);
    assert.match(out, /requests: 2000 total, 2000 started, 2000 done, 2000 succeeded, 0 failed, 0 errored, 0 timeout/, out);
    assert.match(out, /status codes: 2000 2xx/, out);
    assert.match(out, /Application protocol: h2/, out);
  });

  it('show runtime has the handshake cost; show http static server shows the certificate', async () => {
    const rt = await cli(sock(), 'show runtime');
    const line = rt.split('\n').find((l) => l.startsWith('tls-handshake'));
    assert.ok(line !== undefined, rt);
    const ns = Number(line.trim().split(/\s+/).pop());
    assert.ok(ns > 0, line);
    const show = await cli(sock(), 'show http static server');
    assert.match(show, /listener tls:\/\/0\.0\.0\.0\/443/);
    assert.ok(show.includes(pairA.leaf.fingerprint256), show);
    assert.match(show, /SANs +IP Address:192\.168\.123\.150, DNS:vpp\.lab/);
  });

  it('rotation: a symlink swap reaches new connections within 2 s while an earlier download completes; a broken pair is refused', async () => {
    assert.equal(await servedFingerprint(), pairA.leaf.fingerprint256);
    // A download at 2 MB/s: about 5 s, across the swap.
    const part = join(lab.stateDir, 'slow.bin');
    const slow = inNsAsync(lab.ns.client, ['curl', '-sS', '--http1.1', '--limit-rate', '2M', '--cacert', caFile, '-o', part, `https://${ip}/big.bin`], 60_000);
    await waitFor('the download to be under way', () => (existsSync(part) && statSync(part).size > 0 ? true : undefined), 5000, 10);
    const t0 = performance.now();
    publish(pairB.certPem, pairB.keyPem);
    const sizeAtSwap = statSync(part).size;
    await waitFor('new connections to see certificate B', async () => ((await servedFingerprint()) === pairB.leaf.fingerprint256 ? true : undefined), 2000, 50);
    const took = performance.now() - t0;
    assert.ok(took <= 2000, `${took} ms`);
    const done = await slow;
    assert.equal(done.code, 0, done.stderr);
    assert.ok(sizeAtSwap < big.length, `the download was still running at the swap (${sizeAtSwap} bytes)`);
    assert.equal(createHash('sha256').update(readFileSync(part)).digest('hex'), bigSha, 'the download begun before the swap is intact');
    // Broken: B's certificate with A's key. Refused, logged, counted; B keeps serving.
    const failedBefore = errorCount(await cli(sock(), 'show errors'), 'tls-server', 'reload-failed');
    publish(pairB.certPem, pairA.keyPem);
    await waitFor('the broken pair to be refused', async () =>
      errorCount(await cli(sock(), 'show errors'), 'tls-server', 'reload-failed') > failedBefore ? true : undefined, 5000);
    assert.equal(await servedFingerprint(), pairB.leaf.fingerprint256);
    assert.equal(curl([`https://${ip}/index.html`]).trim(), 'Welcome');
    const log = await cli(sock(), 'show log');
    assert.match(log, /TLS_RELOAD_FAILED|certificate reload refused/);
  });

  it('rapid reset and CONTINUATION floods are counted and another client is served meanwhile', async () => {
    const rr = inNsAsync(lab.ns.client, ['python3', join(FIXTURES, 'h2flood.py'), ip, '443', 'rapid-reset', '5000', '--tls'], 60_000);
    const cf = inNsAsync(lab.ns.client, ['python3', join(FIXTURES, 'h2flood.py'), ip, '80', 'continuation', '10000'], 60_000);
    let served = 0;
    let pending = true;
    void Promise.all([rr, cf]).then(() => (pending = false));
    while (pending || served < 5) {
      const r = await inNsAsync(lab.ns.client, ['curl', '-sS', '--max-time', '5', '--http2', '--cacert', caFile, `https://${ip}/index.html`], 10_000);
      assert.equal(r.stdout.toString(), 'Welcome\n', r.stderr);
      served++;
    }
    const [a, b] = await Promise.all([rr, cf]);
    const ra = JSON.parse(a.stdout.toString()) as { goaway: number | null; closed: boolean; responses: number };
    const rb = JSON.parse(b.stdout.toString()) as { goaway: number | null; closed: boolean };
    assert.ok(ra.goaway !== null || ra.closed, a.stdout.toString());
    assert.ok(ra.responses < 5000);
    assert.ok(rb.goaway !== null || rb.closed, b.stdout.toString());
    const errors = await cli(sock(), 'show errors');
    assert.ok(errorCount(errors, 'http2-static-server', 'rapid-reset') >= 1, errors);
    assert.ok(errorCount(errors, 'http2-static-server', 'continuation-flood') >= 1, errors);
  });
});
