/**
 * Issue 11's delivery test: `render --tls-secret web-tls` run as the kubelet would run it in the
 * lab's pod namespace (src/deploy/kubelet.ts): the Secret written in the kubelet's AtomicWriter
 * layout and bind-mounted read-only at the container's /tls, the init container writing the
 * listener line, the dataplane (uid 10000, CAP_NET_RAW from the file capability) serving HTTPS to
 * a client on the VLAN with that certificate, and a Secret update (the kubelet's ..data swap)
 * reaching new connections without a restart.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultSettings, Lab } from '../../src/lab/lab.js';
import { inNs, run, waitFor } from '../../src/lab/exec.js';
import { kubeletPlan, prepareEmptyDirs, prepareSecretVolumes, setprivArgs, unmountSecretVolumes, writeSecretVolume, type KubeletPlan } from '../../src/deploy/kubelet.js';
import { selfSignedPair, type TlsPair } from '../../src/http/tls-credentials.js';
import { cli, isRoot, REPO_ROOT } from './lab-helpers.js';

const skip = isRoot() ? false : 'needs root (network namespaces, mounts)';

describe('the rendered pod with TLS_SECRET, run as the kubelet would, in the lab', { skip }, () => {
  const lab = new Lab(defaultSettings('k8stls'));
  let plan: KubeletPlan;
  let dataplane: ChildProcess | undefined;
  let pairA: TlsPair;
  let pairB: TlsPair;
  const ca = () => join(lab.stateDir, 'ca.pem');

  const fingerprint = (): string => {
    const r = spawnSync('ip', ['netns', 'exec', lab.ns.client, 'sh', '-c', `openssl s_client -connect ${lab.serverIp}:443 </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256`], { encoding: 'utf8', timeout: 10_000 });
    return /=([0-9A-F:]+)/.exec(r.stdout)?.[1] ?? '';
  };

  before(async () => {
    lab.down();
    await lab.up();
    lab.stopPod();
    pairA = selfSignedPair({ names: [lab.serverIp], commonName: 'web-tls A' });
    pairB = selfSignedPair({ names: [lab.serverIp], commonName: 'web-tls B' });
    writeFileSync(ca(), Buffer.concat([pairA.certPem, pairB.certPem]));
    const yaml = run([process.execPath, join(REPO_ROOT, 'bin', 'vpp-server.js'), 'render', '--master', 'eth0', '--vlan', '123', '--ip', '192.168.123.150/24', '--kubernetes', '--tls-secret', 'web-tls']);
    plan = kubeletPlan(yaml, { repoRoot: REPO_ROOT, stateDir: join(lab.stateDir, 'kubelet') });
    prepareEmptyDirs(plan);
    prepareSecretVolumes(plan, { 'web-tls': { 'tls.crt': pairA.certPem, 'tls.key': pairA.keyPem } });
  });

  after(() => {
    dataplane?.kill('SIGTERM');
    if (plan !== undefined) unmountSecretVolumes(plan);
    lab.down();
  });

  it('mounts the Secret read-only at the container’s /tls, readable by uid 10000 through the fsGroup', () => {
    assert.equal(plan.secrets.length, 1);
    const view = plan.dirs['/tls']!;
    const write = spawnSync('ip', ['netns', 'exec', lab.ns.pod, ...setprivArgs(10000, 10000, []), 'sh', '-c', `echo x > ${view}/tls.crt`], { encoding: 'utf8' });
    assert.notEqual(write.status, 0);
    assert.match(write.stderr, /Read-only file system|Permission denied/);
    assert.throws(() => writeFileSync(join(view, 'new'), 'x'), /EROFS/, 'read-only even for root, as a Secret mount');
    const read = spawnSync('ip', ['netns', 'exec', lab.ns.pod, ...setprivArgs(10000, 10000, []), 'cat', `${view}/tls.key`], { encoding: 'utf8' });
    assert.equal(read.status, 0, read.stderr);
    assert.equal(read.stdout, pairA.keyPem.toString());
    const other = spawnSync('ip', ['netns', 'exec', lab.ns.pod, ...setprivArgs(20000, 20000, []), 'cat', `${view}/tls.key`], { encoding: 'utf8' });
    assert.notEqual(other.status, 0, 'mode 0440: another uid cannot read the key');
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === view);
    assert.ok(mounts !== undefined && /(^|,)ro(,|$)/.test(mounts.split(' ')[5]!), mounts);
  });

  it('runs the init container: the seed’s lines plus the TLS listener on the mounted pair, port 80 kept', () => {
    const r = spawnSync('ip', ['netns', 'exec', lab.ns.pod, ...plan.init.argv], { env: plan.init.env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const startup = readFileSync(join(plan.dirs['/conf']!, 'startup.conf'), 'utf8');
    assert.match(startup, /^http static server www-root \S+ uri tcp:\/\/0\.0\.0\.0\/80 cache-size 512m$/m);
    const view = plan.dirs['/tls']!;
    assert.ok(startup.includes(`http static listener add uri tls://0.0.0.0/443 cert ${view}/tls.crt key ${view}/tls.key`), startup);
  });

  it('runs the dataplane until ready; a client on the VLAN gets HTTPS with the Secret’s certificate (curl --cacert) and HTTP still', async () => {
    dataplane = spawn('ip', ['netns', 'exec', lab.ns.pod, ...plan.main.argv], { env: plan.main.env, stdio: 'ignore' });
    const probe = plan.probes.readiness!;
    await waitFor('the readiness probe', () => {
      const r = spawnSync('ip', ['netns', 'exec', lab.ns.pod, ...setprivArgs(plan.uid, plan.gid, []), ...probe], { env: plan.main.env });
      return r.status === 0 ? true : undefined;
    }, 20_000, 200);
    const body = inNs(lab.ns.client, ['curl', '-sS', '--max-time', '5', '--cacert', ca(), `https://${lab.serverIp}/index.html`]);
    assert.equal(body.trim(), 'Welcome');
    assert.equal(inNs(lab.ns.client, ['curl', '-sS', '--max-time', '5', `http://${lab.serverIp}/index.html`]).trim(), 'Welcome');
    assert.equal(fingerprint(), pairA.leaf.fingerprint256);
  });

  it('a Secret update (the kubelet swapping ..data) reaches new connections within 2 s, no restart', async () => {
    const pid = dataplane!.pid;
    const t0 = performance.now();
    writeSecretVolume(plan.secrets[0]!, { 'tls.crt': pairB.certPem, 'tls.key': pairB.keyPem }, plan.gid);
    await waitFor('the new certificate', () => (fingerprint() === pairB.leaf.fingerprint256 ? true : undefined), 2000, 50);
    assert.ok(performance.now() - t0 <= 2000);
    assert.equal(dataplane!.pid, pid);
    assert.equal(dataplane!.exitCode, null, 'the dataplane kept running');
    const socket = join(plan.dirs['/run/vpp']!, 'cli-vpp1.sock');
    assert.match(await cli(socket, 'show http static server'), new RegExp(pairB.leaf.fingerprint256));
  });
});
