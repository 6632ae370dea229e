/**
 * Worker threads on the lab (issue 12, item 4): the pod runs with `cpu { workers 2 }` and
 * `create host-interface name macvlan0 num-rx-queues 2`, as a VPP user writes it, under the
 * kubelet's rules (uid 10000, no_new_privs, NET_RAW from the file capability: podNode(['net_raw'])).
 *
 * - 2,000 connections from as many source ports, 50 at a time, are all answered: the kernel's
 *   flow hash keeps every segment of a connection on the worker that accepted it, and neither
 *   worker resets or drops one that belongs to the other;
 * - a neighbour learnt by one worker is used by the other: ARP frames have no ports, so every ARP
 *   reply reaches one queue, yet both workers send TCP to the client;
 * - show threads / rx-placement / runtime list both workers in VPP's layouts;
 * - `cpu { workers 2 }` without num-rx-queues: as VPP, the one queue goes to vpp_wk_0, which then
 *   carries all traffic while vpp_wk_1 idles.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { defaultSettings, Lab } from '../../src/lab/lab.js';
import { inNs } from '../../src/lab/exec.js';
import { cli, isRoot, REPO_ROOT } from './lab-helpers.js';

const skip = isRoot() ? false : 'needs root (network namespaces)';
const FIXTURES = join(REPO_ROOT, 'test', 'e2e', 'fixtures');
const IF = 'host-macvlan0';
const MGMT_PORT = 9187;

interface Outcome {
  ok: number;
  reset: number;
  timeout: number;
  refused: number;
  bad: number;
  ports: number;
}

/** The per-thread sections of `show runtime` ("Thread N name (…)" … up to the dashes). */
function threadSections(runtime: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of runtime.split('\n---------------\n')) {
    const m = /^Thread (\d+) (\S+) \(/.exec(part);
    assert.ok(m !== null, `no thread header in:\n${part}`);
    out.set(m[2], part);
  }
  return out;
}

/** Vectors of a node in one thread's runtime section (0 when the node did not run there). */
function vectors(section: string, node: string): number {
  const m = new RegExp(`^${node}\\s+\\S+(?: wait)?\\s+(\\d+)\\s+(\\d+)`, 'm').exec(section);
  return m === null ? 0 : Number(m[2]);
}

/** The vpp.conf and startup.conf init wrote, with the cpu stanza and the queues a test wants. */
function withWorkers(workers: number, rxQueues: number | null) {
  return (vpp: string, startup: string): [string, string] => [
    `${vpp.replace(/\ncpu \{[^}]*\}\n/, '\n').replace(/\nvpp-server \{[^}]*\}\n/, '\n')}\ncpu {\n  workers ${workers}\n}\nvpp-server { management 127.0.0.1:${MGMT_PORT} }\n`,
    startup.replace(/^create host-interface name macvlan0( num-rx-queues \d+)?/m, `create host-interface name macvlan0${rxQueues !== null ? ` num-rx-queues ${rxQueues}` : ''}`),
  ];
}

describe('worker threads on the lab', { skip }, () => {
  const lab = new Lab(defaultSettings('wklab'));
  const pod = (command: string) => cli(lab.podSocket, command);
  const many = (n: number, concurrency: number): Outcome =>
    JSON.parse(
      inNs(lab.ns.client, ['python3', join(FIXTURES, 'many_connections.py'), lab.serverIp, '80', '/index.html', 'Welcome', String(n), String(concurrency)], {
        timeoutMs: 120_000,
      }),
    ) as Outcome;

  before(async () => {
    lab.down();
    await lab.up();
    await lab.restartPod(withWorkers(2, 2));
  });
  after(() => {
    lab.down();
  });

  it('shows the threads and the queues dealt round-robin, as VPP prints them', async () => {
    const threads = (await pod('show threads')).split('\n');
    assert.match(threads[0], /^ID\s+Name\s+Type\s+LWP\s+Sched Policy \(Priority\)\s+lcore\s+Core\s+Socket\s+State$/);
    assert.match(threads[1], /^0\s+vpp_main\s+\d+\s+other \(0\)/);
    assert.match(threads[2], /^1\s+vpp_wk_0\s+workers\s+\d+\s/);
    assert.match(threads[3], /^2\s+vpp_wk_1\s+workers\s+\d+\s/);
    assert.equal(await pod('show interface rx-placement'), `Thread 1 (vpp_wk_0):\n  node af-packet-input:\n    ${IF} queue 0 (interrupt)\nThread 2 (vpp_wk_1):\n    ${IF} queue 1 (interrupt)`);
    assert.match(await pod('show hardware-interfaces'), /0\s+vpp_wk_0 \(1\)\s+interrupt\n/);
  });

  it('serves 2,000 connections from as many source ports, none reset or lost on the wrong worker; show runtime lists both', async () => {
    await pod('clear runtime');
    await pod('clear errors');
    const r = many(2000, 50);
    const { ports, ...outcome } = r;
    assert.deepEqual(outcome, { ok: 2000, reset: 0, timeout: 0, refused: 0, bad: 0 });
    // The kernel picks the source ports. Our side closes first (Connection: close), so the client
    // keeps no TIME_WAIT and may reuse a port within the run (1,887 distinct in one run): what
    // matters is that the flow hash saw many 4-tuples, not exactly 2,000.
    assert.ok(ports >= 1500, `distinct client source ports: ${ports}`);
    const sections = threadSections(await pod('show runtime'));
    assert.deepEqual([...sections.keys()], ['vpp_main', 'vpp_wk_0', 'vpp_wk_1']);
    const wk0 = vectors(sections.get('vpp_wk_0')!, 'session-queue');
    const wk1 = vectors(sections.get('vpp_wk_1')!, 'session-queue');
    // Both workers answered requests (the flow hash spreads 2,000 connections), and together all of them.
    assert.ok(wk0 > 200 && wk1 > 200, `requests per worker: ${wk0} / ${wk1}`);
    assert.ok(wk0 + wk1 >= 2000, `requests served: ${wk0 + wk1}`);
    assert.equal(vectors(sections.get('vpp_main')!, 'tcp4-input'), 0, 'the main thread reads no queue');
    // A segment on the wrong worker would find no connection there and be answered with a RST.
    const errors = await pod('show errors');
    assert.doesNotMatch(errors, /tcp4-input\s+.*(no connection|no listener|reset sent)/i, errors);
  });

  it('uses on one worker a neighbour only the other heard (ARP reaches one queue)', async () => {
    // A fresh dataplane: no thread knows the client yet.
    await lab.restartPod(withWorkers(2, 2));
    const r = many(200, 20);
    assert.equal(r.ok, 200, JSON.stringify(r));
    const sections = threadSections(await pod('show runtime'));
    const arp = ['vpp_wk_0', 'vpp_wk_1'].map((t) => vectors(sections.get(t)!, 'arp-input'));
    const sent = ['vpp_wk_0', 'vpp_wk_1'].map((t) => vectors(sections.get(t)!, 'ip4-rewrite'));
    assert.ok(arp.filter((n) => n > 0).length === 1, `ARP frames per worker: ${arp} (expected all on one queue)`);
    assert.ok(sent[0] > 0 && sent[1] > 0, `IPv4 packets sent per worker: ${sent}`);
    // The main thread heard it too (its ping and show ip neighbors use it).
    assert.match(await pod('show ip neighbors'), /192\.168\.123\.10\s/);
    const ping = await pod('ping 192.168.123.10 repeat 2 interval 0.1');
    assert.match(ping, /2 sent, 2 received, 0% packet loss/, ping);
  });

  it('labels /metrics by thread: every worker and the main thread report their own series', () => {
    const text = inNs(lab.ns.pod, ['curl', '-sS', '--max-time', '5', `http://127.0.0.1:${MGMT_PORT}/metrics`], { timeoutMs: 10_000 });
    for (const t of ['vpp_main', 'vpp_wk_0', 'vpp_wk_1']) assert.match(text, new RegExp(`^vpp_node_vectors_total\\{node="ethernet-input",thread="${t}"\\} \\d+$`, 'm'));
    const wk = (t: string) => Number(new RegExp(`^vpp_node_vectors_total\\{node="tcp4-input",thread="${t}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
    assert.ok(wk('vpp_wk_0') > 0 && wk('vpp_wk_1') > 0, `tcp4-input vectors per worker: ${wk('vpp_wk_0')} / ${wk('vpp_wk_1')}`);
    // One help and type line per metric family: the threads' series are merged, not concatenated.
    assert.equal(text.match(/^# TYPE vpp_node_vectors_total /gm)?.length, 1);
  });

  it('answers ping whichever worker the kernel hands it to, and runs rx-mode on the owning worker', async () => {
    assert.ok(lab.ping(5).ok, 'ping through the workers');
    await pod(`set interface rx-mode ${IF} queue 1 polling`);
    assert.match(await pod('show interface rx-placement'), /host-macvlan0 queue 0 \(interrupt\)\nThread 2 \(vpp_wk_1\):\n    host-macvlan0 queue 1 \(polling\)/);
    const sections = threadSections(await pod('show runtime'));
    assert.match(sections.get('vpp_wk_1')!, /^host-macvlan0 queue 1 rx-mode polling/m);
    assert.equal(many(100, 10).ok, 100);
    await pod(`set interface rx-mode ${IF} interrupt`);
    assert.doesNotMatch(await pod('show interface rx-placement'), /polling/);
  });

  it('refuses to start with a worker pinned to a CPU that does not exist, naming the file and line', async () => {
    await assert.rejects(
      lab.restartPod((vpp, startup) => [`${withWorkers(1, null)(vpp, startup)[0].replace(/cpu \{\n  workers 1\n\}/, 'cpu {\n  main-core 0\n  corelist-workers 1000\n}')}`, startup]),
      /vpp\.conf:\d+: cpu \{ corelist-workers \}: cannot pin vpp_wk_0 to CPU 1000 \(EINVAL/,
    );
  });

  it('no workers and num-rx-queues 2: the main thread reads both queues of the group', async () => {
    await lab.restartPod(withWorkers(0, 2));
    assert.equal(await pod('show interface rx-placement'), `Thread 0 (vpp_main):\n  node af-packet-input:\n    ${IF} queue 0 (interrupt)\n    ${IF} queue 1 (interrupt)`);
    assert.equal(many(300, 20).ok, 300);
    assert.match(await pod('show runtime'), /^host-macvlan0 queue 0,1 rx-mode interrupt/m);
  });

  it('cpu { workers 2 } without num-rx-queues: the one queue on vpp_wk_0 carries everything, as in VPP', async () => {
    await lab.restartPod(withWorkers(2, null));
    assert.equal(await pod('show interface rx-placement'), `Thread 1 (vpp_wk_0):\n  node af-packet-input:\n    ${IF} queue 0 (interrupt)`);
    const r = many(300, 20);
    assert.equal(r.ok, 300, JSON.stringify(r));
    const sections = threadSections(await pod('show runtime'));
    assert.ok(vectors(sections.get('vpp_wk_0')!, 'session-queue') >= 300);
    assert.equal(vectors(sections.get('vpp_wk_1')!, 'af-packet-input'), 0);
    assert.equal(vectors(sections.get('vpp_wk_1')!, 'session-queue'), 0);
  });
});
