/**
 * Issue 4's end-to-end test: the rendered Deployment's init and dataplane containers (command,
 * args, env, uid, capabilities) run as a kubelet would run them, in the lab's pod namespace,
 * and a client on the VLAN pings and curls the address. Issue 13: the dataplane holds CAP_NET_RAW
 * through the file capability of the node copy standing for /usr/local/bin/vpp-server-node, with
 * nothing in the ambient set, as every real pod does.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { defaultSettings, Lab } from '../../src/lab/lab.js';
import { inNs, run, waitFor } from '../../src/lab/exec.js';
import { CAP_NET_RAW_ONLY, kubeletPlan, prepareEmptyDirs, processCapabilities, setprivArgs, type KubeletPlan } from '../../src/deploy/kubelet.js';
import { cli, isRoot, REPO_ROOT } from './lab-helpers.js';

const skip = isRoot() ? false : 'needs root (network namespaces)';

describe('the rendered Deployment, run as the kubelet would, in the lab', { skip }, () => {
  const lab = new Lab(defaultSettings('k8slab'));
  let plan: KubeletPlan;
  let dataplane: ChildProcess | undefined;

  before(async () => {
    lab.down();
    await lab.up();
    lab.stopPod();
    const yaml = run([process.execPath, join(REPO_ROOT, 'bin', 'vpp-server.js'), 'render', '--master', 'eth0', '--vlan', '123', '--ip', '192.168.123.150/24', '--gateway', '192.168.123.1', '--kubernetes']);
    plan = kubeletPlan(yaml, { repoRoot: REPO_ROOT, stateDir: join(lab.stateDir, 'kubelet') });
    prepareEmptyDirs(plan);
  });

  after(() => {
    dataplane?.kill('SIGTERM');
    lab.down();
  });

  it('runs the init container: seed-form vpp.conf and startup.conf, default index.html', () => {
    const r = spawnSync('ip', ['netns', 'exec', lab.ns.pod, ...plan.init.argv], { env: plan.init.env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const startup = readFileSync(join(plan.dirs['/conf'], 'startup.conf'), 'utf8');
    const mac = (JSON.parse(inNs(lab.ns.pod, ['ip', '-j', 'link', 'show', 'macvlan0'])) as { address: string }[])[0].address;
    assert.match(startup, new RegExp(`^set interface mac address host-macvlan0 ${mac}$`, 'm'));
    assert.match(startup, /^set int ip address host-macvlan0\.123 192\.168\.123\.150\/24$/m);
    assert.equal(readFileSync(join(plan.dirs['/www'], 'index.html'), 'utf8').trim(), 'Welcome');
  });

  it('runs the dataplane container until its readiness probe passes', async () => {
    dataplane = spawn('ip', ['netns', 'exec', lab.ns.pod, ...plan.main.argv], { env: plan.main.env, stdio: 'ignore' });
    const probe = plan.probes.readiness;
    assert.ok(probe !== undefined, 'the Deployment has a readiness probe');
    await waitFor('the readiness probe', () => {
      const r = spawnSync('ip', ['netns', 'exec', lab.ns.pod, ...setprivArgs(plan.uid, plan.gid, []), ...probe], { env: plan.main.env });
      return r.status === 0 ? true : undefined;
    }, 20_000, 200);
    // ip netns exec → setpriv → node: one pid, exec after exec
    const caps = processCapabilities(dataplane.pid!);
    assert.equal(caps.eff, CAP_NET_RAW_ONLY, 'CAP_NET_RAW only, effective');
    assert.equal(caps.prm, CAP_NET_RAW_ONLY, 'CAP_NET_RAW only, permitted');
    assert.equal(caps.amb, '0000000000000000', 'nothing in the ambient set: the capability came from the file');
    assert.equal(caps.inh, '0000000000000000');
    assert.equal(caps.bnd, CAP_NET_RAW_ONLY, 'bounding set = capabilities.add');
    assert.equal(caps.noNewPrivs, '1');
    assert.match(caps.uid, /^10000$/);
    // the program it runs is the file-capability copy, not the plain node
    const exe = readlinkSync(`/proc/${dataplane.pid}/exe`);
    assert.notEqual(exe, process.execPath);
    assert.match(spawnSync('getcap', [exe], { encoding: 'utf8' }).stdout, /cap_net_raw[=+]ep/);
  });

  it('without NET_RAW in capabilities.add the kernel refuses to execute the file-capability node (EPERM, before our code)', () => {
    const argv = [...setprivArgs(plan.uid, plan.gid, []), ...plan.main.argv.slice(plan.main.argv.indexOf('--') + 1)];
    const r = spawnSync('ip', ['netns', 'exec', lab.ns.pod, ...argv], { env: plan.main.env, encoding: 'utf8', timeout: 10_000 });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /setpriv: failed to execute .*vpp-server-node.*: Operation not permitted/);
    assert.doesNotMatch(r.stderr + r.stdout, /"level"|^run: /m, 'nothing of ours ran (no log line)');
  });

  it("GATEWAY became VPP's default-route line, which the dataplane took into its FIB", async () => {
    const startup = readFileSync(join(plan.dirs['/conf']!, 'startup.conf'), 'utf8');
    assert.match(startup, /^ip route add 0\.0\.0\.0\/0 via 192\.168\.123\.1 host-macvlan0\.123$/m);
    const fib = await cli(join(plan.dirs['/run/vpp']!, 'cli-vpp1.sock'), 'show ip fib');
    assert.match(fib, /0\.0\.0\.0\/0/);
    assert.match(fib, /192\.168\.123\.1\b/);
  });

  it('answers ping and curl from a client on the VLAN', () => {
    assert.match(inNs(lab.ns.client, ['ping', '-c', '3', '-W', '1', lab.serverIp], { timeoutMs: 15_000 }), /3 received/);
    assert.equal(inNs(lab.ns.client, ['curl', '-sS', '--max-time', '5', `http://${lab.serverIp}/index.html`]).trim(), 'Welcome');
  });
});
