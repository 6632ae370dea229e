/**
 * Issue 10, item 6 (delivery), end to end: `render --ip 2001:db8:123::150/64` (an IPv6-only pod,
 * with GATEWAY6 and a TLS_SECRET) run as the kubelet would run it in the lab's pod namespace
 * (src/deploy/kubelet.ts: uid 10000, no_new_privs, CAP_NET_RAW from the file capability of the
 * node copy): init writes the IPv6-only startup.conf (no IPv4 line, `uri tcp://::/80`,
 * `tls://::/443`), the readiness probe (/readyz) passes only once DAD has, and a client on the
 * VLAN gets `ping -6`, `curl -6` over HTTP and HTTPS, while the old IPv4 address answers nothing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultSettings, Lab } from '../../src/lab/lab.js';
import { inNs, run, waitFor } from '../../src/lab/exec.js';
import { kubeletPlan, prepareEmptyDirs, prepareSecretVolumes, processCapabilities, setprivArgs, unmountSecretVolumes, CAP_NET_RAW_ONLY, type KubeletPlan } from '../../src/deploy/kubelet.js';
import { selfSignedPair } from '../../src/http/tls-credentials.js';
import { cli, isRoot, REPO_ROOT } from './lab-helpers.js';

const skip = isRoot() ? false : 'needs root (network namespaces, mounts)';
const OUR_IP6 = '2001:db8:123::150';
const SUB = 'host-macvlan0.123';

describe('the rendered IPv6-only pod, run as the kubelet would, in the lab', { skip }, () => {
  const lab = new Lab(defaultSettings('k8sv6'));
  let plan: KubeletPlan;
  let dataplane: ChildProcess | undefined;
  const ca = () => join(lab.stateDir, 'ca-v6only.pem');
  const socket = () => join(plan.dirs['/run/vpp']!, 'cli-vpp1.sock');

  before(async () => {
    lab.down();
    await lab.up();
    lab.stopPod();
    const pair = selfSignedPair({ names: [OUR_IP6], commonName: 'web-tls v6' });
    writeFileSync(ca(), pair.certPem);
    const yaml = run([
      process.execPath, join(REPO_ROOT, 'bin', 'vpp-server.js'), 'render',
      '--master', 'eth0', '--vlan', '123', '--ip', `${OUR_IP6}/64`, '--gateway6', 'fe80::1', '--kubernetes', '--tls-secret', 'web-tls',
    ]);
    plan = kubeletPlan(yaml, { repoRoot: REPO_ROOT, stateDir: join(lab.stateDir, 'kubelet') });
    assert.equal(plan.init.env['IP_ADDRESS'], `${OUR_IP6}/64`);
    assert.equal(plan.init.env['IPV6_ADDRESS'], undefined);
    prepareEmptyDirs(plan);
    prepareSecretVolumes(plan, { 'web-tls': { 'tls.crt': pair.certPem, 'tls.key': pair.keyPem } });
  });

  after(() => {
    dataplane?.kill('SIGTERM');
    if (plan !== undefined) unmountSecretVolumes(plan);
    lab.down();
  });

  it('runs the init container: the IPv6 address in the IPv4 one’s place, tcp://::/80 and tls://::/443, no IPv4 line', () => {
    const r = spawnSync('ip', ['netns', 'exec', lab.ns.pod, ...plan.init.argv], { env: plan.init.env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /will have 2001:db8:123::150\/64 \(IPv6-only\)/);
    const startup = readFileSync(join(plan.dirs['/conf']!, 'startup.conf'), 'utf8');
    assert.match(startup, new RegExp(`^set int ip address ${SUB.replace('.', '\\.')} 2001:db8:123::150/64$`, 'm'));
    assert.match(startup, /^ip route add ::\/0 via fe80::1 host-macvlan0\.123$/m);
    assert.match(startup, /^http static server www-root \S+ uri tcp:\/\/::\/80 cache-size 512m$/m);
    const view = plan.dirs['/tls']!;
    assert.ok(startup.includes(`http static listener add uri tls://::/443 cert ${view}/tls.crt key ${view}/tls.key`), startup);
    assert.doesNotMatch(startup, /\b\d+\.\d+\.\d+\.\d+\b/, 'no IPv4 address anywhere');
  });

  it('runs the dataplane until its readiness probe passes, which is after DAD (uid 10000, CAP_NET_RAW from the file)', async () => {
    dataplane = spawn('ip', ['netns', 'exec', lab.ns.pod, ...plan.main.argv], { env: plan.main.env, stdio: 'ignore' });
    const probe = plan.probes.readiness;
    assert.ok(probe !== undefined && probe.some((w) => w.endsWith('/readyz')), 'the httpGet /readyz probe');
    await waitFor('the readiness probe', () => {
      const r = spawnSync('ip', ['netns', 'exec', lab.ns.pod, ...setprivArgs(plan.uid, plan.gid, []), ...probe], { env: plan.main.env });
      return r.status === 0 ? true : undefined;
    }, 20_000, 200);
    // ready implies the address is ours: DAD passed (no IPv4 address could have made it ready)
    assert.match(await cli(socket(), `show ip6 interface ${SUB}`), /      2001:db8:123::150: preferred\n/);
    const addr = await cli(socket(), 'show interface address');
    assert.match(addr, /L3 2001:db8:123::150\/64/);
    assert.doesNotMatch(addr, /L3 \d+\.\d+\.\d+\.\d+/);
    assert.match(await cli(socket(), 'show ip6 fib'), /::\/0[\s\S]*via fe80::1 host-macvlan0\.123/);
    const caps = processCapabilities(dataplane.pid!);
    assert.equal(caps.eff, CAP_NET_RAW_ONLY);
    assert.equal(caps.amb, '0000000000000000');
    assert.equal(caps.noNewPrivs, '1');
    assert.match(caps.uid, /^10000\b/);
  });

  it('answers ping -6 (3/3) and curl -6 over HTTP and HTTPS from a client on the VLAN', () => {
    const ping = inNs(lab.ns.client, ['ping', '-6', '-c', '3', '-W', '2', '-i', '0.2', OUR_IP6], { timeoutMs: 15_000 });
    assert.match(ping, /3 packets transmitted, 3 received, 0% packet loss/);
    assert.equal(inNs(lab.ns.client, ['curl', '-6', '-sS', '--max-time', '5', `http://[${OUR_IP6}]/index.html`]).trim(), 'Welcome');
    assert.equal(inNs(lab.ns.client, ['curl', '-6', '-sS', '--max-time', '5', '--cacert', ca(), `https://[${OUR_IP6}]/index.html`]).trim(), 'Welcome');
  });

  it('has no IPv4 address: 192.168.123.150 (the lab pod’s before) answers nothing', () => {
    const r = spawnSync('ip', ['netns', 'exec', lab.ns.client, 'ping', '-c', '1', '-W', '1', lab.serverIp], { encoding: 'utf8', timeout: 10_000 });
    assert.notEqual(r.status, 0, r.stdout);
    assert.match(r.stdout, /0 received/);
  });
});
