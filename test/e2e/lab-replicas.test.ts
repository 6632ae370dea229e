/**
 * Issue 13, scale-out in the lab: `lab up --replicas 2` puts two pods on one worker, each with its
 * own macvlan0 (its own MAC) and address (IP + ordinal, derived by init from POD_NAME). The
 * client's kernel pings and curls both; a capture on the client shows each address answering from
 * its own pod's MAC. Both dataplanes hold CAP_NET_RAW through the file capability only.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultSettings, Lab } from '../../src/lab/lab.js';
import { inNs, waitFor } from '../../src/lab/exec.js';
import { CAP_NET_RAW_ONLY, processCapabilities } from '../../src/deploy/kubelet.js';
import { isRoot, REPO_ROOT, startCapture } from './lab-helpers.js';

const skip = isRoot() ? false : 'needs root (network namespaces)';
const PREFIX = 'replab';

describe('lab up --replicas 2: two pods on one worker', { skip }, () => {
  const lab = new Lab(defaultSettings(PREFIX, 2));
  const macs: string[] = [];

  before(async () => {
    lab.down();
    // through the CLI, as a user would
    const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'vpp-server.js'), 'lab', 'up', '--prefix', PREFIX, '--replicas', '2'], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    for (const pod of lab.pods) macs.push((JSON.parse(inNs(pod.ns, ['ip', '-j', 'link', 'show', 'macvlan0'])) as { address: string }[])[0]!.address);
  });
  after(() => lab.down());

  it('two pod namespaces, each with its own macvlan0 MAC and the address init derived from its ordinal', () => {
    assert.deepEqual(lab.pods.map((p) => p.ns), [`${PREFIX}-pod`, `${PREFIX}-pod1`]);
    assert.deepEqual(lab.pods.map((p) => p.address), ['192.168.123.150/24', '192.168.123.151/24']);
    assert.notEqual(macs[0], macs[1]);
    for (const pod of lab.pods) {
      const startup = readFileSync(join(pod.confDir, 'startup.conf'), 'utf8');
      assert.match(startup, new RegExp(`^set int ip address host-macvlan0\\.123 ${pod.address.replaceAll('.', '\\.')}$`, 'm'));
      const caps = processCapabilities(lab.pid(pod.role)!);
      assert.equal(caps.eff, CAP_NET_RAW_ONLY);
      assert.equal(caps.amb, '0000000000000000', 'file capability, not ambient');
    }
  });

  it('both addresses answer ping and curl, each from its own MAC (tshark on the client)', async () => {
    const capture = await startCapture(lab.ns.client, 'eth0', 'src net 192.168.123.150/31 and (icmp or tcp)', ['ip.src', 'eth.src', 'icmp.type', 'tcp.srcport'], { count: 200, seconds: 20 });
    let seen = '';
    capture.process.stdout!.on('data', (d: Buffer) => (seen += d.toString()));
    for (const pod of lab.pods) {
      assert.match(inNs(lab.ns.client, ['ping', '-c', '3', '-W', '1', '-i', '0.2', pod.ip], { timeoutMs: 15_000 }), /3 received/);
      assert.equal(inNs(lab.ns.client, ['curl', '-sS', '--max-time', '5', `http://${pod.ip}/index.html`]).trim(), 'Welcome');
    }
    // stop the capture once the last flow (curl to the second pod) has been seen in it
    await waitFor('the capture to show the second pod\'s HTTP answer', () => (/^192\.168\.123\.151\t\S+\t\t80$/m.test(seen) ? true : undefined), 10_000, 50).catch(() => undefined);
    capture.process.kill('SIGINT');
    const rows = (await capture.done).trim().split('\n').map((l) => l.split('\t'));
    for (const [n, pod] of lab.pods.entries()) {
      const mine = rows.filter((r) => r[0] === pod.ip);
      assert.ok(mine.filter((r) => r[2] === '0').length >= 3, `3 echo replies from ${pod.ip} in ${JSON.stringify(rows)}`);
      assert.ok(mine.some((r) => r[3] === '80'), `TCP from ${pod.ip}:80`);
      assert.deepEqual([...new Set(mine.map((r) => r[1]))], [macs[n]], `${pod.ip} answers only from its own MAC`);
    }
    // the client's neighbour table agrees
    const neigh = inNs(lab.ns.client, ['ip', '-j', 'neigh', 'show', 'dev', 'eth0']);
    const byIp = new Map((JSON.parse(neigh) as { dst: string; lladdr?: string }[]).map((e) => [e.dst, e.lladdr]));
    assert.equal(byIp.get('192.168.123.150'), macs[0]);
    assert.equal(byIp.get('192.168.123.151'), macs[1]);
  });

  it('lab demo pings and curls both; lab status finds both pods without being told', () => {
    const demo = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'vpp-server.js'), 'lab', 'demo', '--prefix', PREFIX, '--replicas', '2'], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(demo.status, 0, demo.stdout + demo.stderr);
    for (const ip of ['192.168.123.150', '192.168.123.151']) {
      assert.match(demo.stdout, new RegExp(`ok +ping ${ip.replaceAll('.', '\\.')} 3/3`));
      assert.match(demo.stdout, new RegExp(`ok +curl ${ip.replaceAll('.', '\\.')} +Welcome`));
    }
    const st = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'vpp-server.js'), 'lab', 'status', '--prefix', PREFIX], { encoding: 'utf8' });
    assert.equal(st.status, 0, st.stdout + st.stderr);
    assert.match(st.stdout, /pod dataplane replab-pod1 +running \(pid \d+\), 192\.168\.123\.151\/24/);
  });
});
