/**
 * deploy / undeploy / status against a fake Kubernetes API server (node:http on 127.0.0.1): what
 * is sent (server-side apply, field manager, order), the platform choice, and every error path
 * the user can meet without a cluster of their own.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClusterError, connect, explainError } from '../../src/deploy/cluster.js';
import { deploy, type Io } from '../../src/deploy/deploy-command.js';
import { undeploy } from '../../src/deploy/undeploy-command.js';
import { status } from '../../src/deploy/status-command.js';
import { parseIpv4Cidr } from '../../src/deploy/values.js';
import type { DeployConfig } from '../../src/deploy/manifests.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(repo, 'bin/vpp-server.js');

interface Req {
  method: string;
  path: string;
  query: URLSearchParams;
  contentType: string;
  body: any;
}

type PodState = 'ready' | 'init-config-error' | 'none' | 'pending';

interface FakeOptions {
  openshift: boolean;
  multus: boolean;
  /** answer 403 for requests whose "METHOD path" matches */
  forbid?: RegExp;
  pod?: PodState;
  /** ReplicaFailure condition message on the Deployment (admission refused the pod) */
  replicaFailure?: string;
  /** the StatefulSet's last pod reports not ready */
  lastNotReady?: boolean;
}

const RESOURCES: Record<string, { name: string; kind: string; namespaced: boolean }[]> = {
  v1: [
    { name: 'namespaces', kind: 'Namespace', namespaced: false },
    { name: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true },
    { name: 'configmaps', kind: 'ConfigMap', namespaced: true },
    { name: 'pods', kind: 'Pod', namespaced: true },
    { name: 'events', kind: 'Event', namespaced: true },
  ],
  'apps/v1': [
    { name: 'deployments', kind: 'Deployment', namespaced: true },
    { name: 'statefulsets', kind: 'StatefulSet', namespaced: true },
  ],
  'policy/v1': [{ name: 'poddisruptionbudgets', kind: 'PodDisruptionBudget', namespaced: true }],
  'rbac.authorization.k8s.io/v1': [
    { name: 'clusterroles', kind: 'ClusterRole', namespaced: false },
    { name: 'clusterrolebindings', kind: 'ClusterRoleBinding', namespaced: false },
  ],
  'security.openshift.io/v1': [{ name: 'securitycontextconstraints', kind: 'SecurityContextConstraints', namespaced: false }],
  'k8s.cni.cncf.io/v1': [{ name: 'network-attachment-definitions', kind: 'NetworkAttachmentDefinition', namespaced: true }],
};

class FakeApiServer {
  server!: Server;
  port = 0;
  requests: Req[] = [];
  store = new Map<string, any>();
  constructor(public opts: FakeOptions) {}

  groupVersions(): string[] {
    return Object.keys(RESOURCES).filter(
      (gv) => (gv !== 'security.openshift.io/v1' || this.opts.openshift) && (gv !== 'k8s.cni.cncf.io/v1' || this.opts.multus),
    );
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as { port: number }).port;
  }
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
  kubeconfig(dir: string): string {
    const file = join(dir, `kubeconfig-${this.port}`);
    writeFileSync(
      file,
      JSON.stringify({
        apiVersion: 'v1', kind: 'Config', 'current-context': 'fake',
        clusters: [{ name: 'fake', cluster: { server: `http://127.0.0.1:${this.port}`, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'u', user: { token: 'sha256~fake' } }],
        contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'u' } }],
      }),
    );
    return file;
  }
  applies(): Req[] {
    return this.requests.filter((r) => r.method === 'PATCH');
  }

  private send(res: ServerResponse, code: number, body: unknown) {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }
  private status(res: ServerResponse, code: number, reason: string, message: string) {
    this.send(res, code, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, message, code });
  }

  private handle(req: IncomingMessage, res: ServerResponse) {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const r: Req = { method: req.method ?? 'GET', path: decodeURIComponent(url.pathname), query: url.searchParams, contentType: String(req.headers['content-type'] ?? ''), body: raw ? JSON.parse(raw) : undefined };
      this.requests.push(r);
      if (this.opts.forbid?.test(`${r.method} ${r.path}`)) {
        return this.status(res, 403, 'Forbidden', `${r.path} is forbidden: User "developer" cannot patch resource`);
      }
      if (r.path === '/apis' && r.method === 'GET') {
        const groups = this.groupVersions().filter((gv) => gv !== 'v1').map((gv) => {
          const [name, version] = gv.split('/');
          return { name, versions: [{ groupVersion: gv, version }], preferredVersion: { groupVersion: gv, version } };
        });
        return this.send(res, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups });
      }
      const m = /^\/(?:api\/(v1)|apis\/([^/]+\/[^/]+))(?:\/(.*))?$/.exec(r.path);
      if (!m) return this.status(res, 404, 'NotFound', 'the server could not find the requested resource');
      const gv = m[1] ?? m[2]!;
      if (!this.groupVersions().includes(gv)) return this.status(res, 404, 'NotFound', 'the server could not find the requested resource');
      const segs = (m[3] ?? '').split('/').filter(Boolean);
      if (segs.length === 0) {
        return this.send(res, 200, { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gv, resources: RESOURCES[gv]!.map((x) => ({ ...x, singularName: '', verbs: ['get', 'list', 'patch', 'delete'] })) });
      }
      let ns: string | undefined;
      let plural: string;
      let name: string | undefined;
      if (segs[0] === 'namespaces' && segs.length >= 3) [, ns, plural, name] = segs as [string, string, string, string | undefined];
      else [plural, name] = segs as [string, string | undefined];
      const key = `${gv}|${ns ?? ''}|${plural}|${name ?? ''}`;
      if (r.method === 'PATCH') {
        const obj = { ...r.body, metadata: { ...r.body.metadata, uid: 'u1', generation: 1, resourceVersion: '1' } };
        if (plural === 'deployments' || plural === 'statefulsets') obj.status = this.deploymentStatus(obj.spec?.replicas ?? 1);
        this.store.set(key, obj);
        return this.send(res, 200, obj);
      }
      if (r.method === 'DELETE') {
        if (!this.store.delete(key)) return this.status(res, 404, 'NotFound', `${plural} "${name}" not found`);
        return this.send(res, 200, { kind: 'Status', apiVersion: 'v1', status: 'Success' });
      }
      if (r.method === 'GET' && name !== undefined) {
        const obj = this.store.get(key);
        if (!obj) return this.status(res, 404, 'NotFound', `${plural} "${name}" not found`);
        if (plural === 'deployments' || plural === 'statefulsets') obj.status = this.deploymentStatus(obj.spec?.replicas ?? 1);
        return this.send(res, 200, obj);
      }
      if (r.method === 'GET' && plural === 'pods') return this.send(res, 200, { kind: 'PodList', apiVersion: 'v1', metadata: {}, items: this.pods(ns!) });
      if (r.method === 'GET' && plural === 'events') return this.send(res, 200, { kind: 'EventList', apiVersion: 'v1', metadata: {}, items: [] });
      return this.status(res, 405, 'MethodNotAllowed', `${r.method} ${r.path}`);
    });
  }

  private deploymentStatus(n = 1) {
    const ready = (this.opts.pod ?? 'ready') === 'ready';
    const conditions = this.opts.replicaFailure ? [{ type: 'ReplicaFailure', status: 'True', reason: 'FailedCreate', message: this.opts.replicaFailure }] : [];
    return ready
      ? { observedGeneration: 1, replicas: n, updatedReplicas: n, readyReplicas: n, availableReplicas: n, conditions }
      : { observedGeneration: 1, replicas: n, updatedReplicas: n, unavailableReplicas: n, conditions };
  }

  private pods(ns: string) {
    const state = this.opts.pod ?? 'ready';
    if (state === 'none') return [];
    const sts = this.store.get(`apps/v1|${ns}|statefulsets|vpp-server`);
    if (sts) {
      // a StatefulSet's pods, one per node, the last one not ready yet when asked
      return Array.from({ length: sts.spec.replicas }, (_, n) => ({
        metadata: { name: `vpp-server-${n}`, namespace: ns, annotations: {} },
        spec: { nodeName: `worker0${n + 1}`, containers: [{ name: 'vpp-server' }] },
        status: { phase: 'Running', containerStatuses: [{ name: 'vpp-server', ready: !(this.opts.lastNotReady && n === sts.spec.replicas - 1), restartCount: 0, image: 'x', imageID: '', state: { running: {} } }] },
      }));
    }
    const base = {
      metadata: {
        name: 'vpp-server-c6bb4fcbd-lhcbx', namespace: ns,
        annotations: {
          'openshift.io/scc': 'vpp-server',
          'k8s.v1.cni.cncf.io/network-status': JSON.stringify([{ name: 'ovn-kubernetes', interface: 'eth0' }, { name: `${ns}/macvlan0`, interface: 'macvlan0', mac: 'c6:b4:b5:74:11:88' }]),
        },
      },
      spec: { nodeName: 'worker01', containers: [{ name: 'vpp-server' }] },
    };
    if (state === 'init-config-error') {
      return [{ ...base, status: { phase: 'Pending', initContainerStatuses: [{ name: 'init-vpp-server', ready: false, restartCount: 2, image: 'x', imageID: '', state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { exitCode: 2 } } }] } }];
    }
    if (state === 'pending') {
      return [{ ...base, status: { phase: 'Pending', containerStatuses: [{ name: 'vpp-server', ready: false, restartCount: 0, image: 'x', imageID: '', state: { waiting: { reason: 'ContainerCreating' } } }] } }];
    }
    return [{ ...base, status: { phase: 'Running', initContainerStatuses: [{ name: 'init-vpp-server', ready: true, restartCount: 0, image: 'x', imageID: '', state: { terminated: { exitCode: 0 } } }], containerStatuses: [{ name: 'vpp-server', ready: true, restartCount: 0, image: 'x', imageID: '', state: { running: {} } }] } }];
  }
}

const config = (over: Partial<DeployConfig> = {}): DeployConfig => ({
  master: 'eno8403np1', vlanId: 123, ip: parseIpv4Cidr('192.168.123.150/24'), namespace: 'vpp-server',
  image: 'quay.io/example/vpp-server:0.1.0', imageVpp: 'quay.io/example/vpp:24.10', engine: 'ts', platform: 'openshift', ...over,
});

function capture(): Io & { lines: string[] } {
  const lines: string[] = [];
  return { lines, out: (l) => lines.push(l), err: (l) => lines.push(`ERR ${l}`) };
}

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'vpp-kube-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

async function withServer(opts: FakeOptions, fn: (s: FakeApiServer) => Promise<void>) {
  const s = new FakeApiServer(opts);
  await s.start();
  try {
    await fn(s);
  } finally {
    await s.stop();
  }
}

function runCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [bin, ...args], { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dir, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('deploy against a fake API server', () => {
  test('OpenShift: server-side apply (field manager vpp-server, force) of every object in order, rollout, reach hints', async () => {
    await withServer({ openshift: true, multus: true }, async (s) => {
      const io = capture();
      const code = await deploy(connect({ kubeconfig: s.kubeconfig(dir) }), config(), { wait: true, timeout: 10, pollMs: 10 }, io);
      assert.equal(code, 0);
      const applies = s.applies();
      assert.deepEqual(applies.map((r) => r.body.kind), ['Namespace', 'ServiceAccount', 'SecurityContextConstraints', 'ClusterRole', 'ClusterRoleBinding', 'NetworkAttachmentDefinition', 'Deployment']);
      for (const r of applies) {
        assert.equal(r.contentType, 'application/apply-patch+yaml');
        assert.equal(r.query.get('fieldManager'), 'vpp-server');
        assert.equal(r.query.get('force'), 'true');
      }
      assert.equal(applies[0]!.path, '/api/v1/namespaces/vpp-server');
      assert.equal(applies[2]!.path, '/apis/security.openshift.io/v1/securitycontextconstraints/vpp-server');
      assert.equal(applies[5]!.path, '/apis/k8s.cni.cncf.io/v1/namespaces/vpp-server/network-attachment-definitions/macvlan0');
      assert.equal(applies[6]!.body.spec.strategy.type, 'Recreate');
      const text = io.lines.join('\n');
      assert.match(text, /deploying to http:\/\/127\.0\.0\.1:\d+ \(OpenShift\), namespace vpp-server, engine ts/);
      assert.match(text, /applied SecurityContextConstraints vpp-server/);
      assert.match(text, /rollout: 1\/1 updated, 1\/1 ready, 1\/1 available — pod vpp-server-c6bb4fcbd-lhcbx: running, ready/);
      assert.match(text, /pod vpp-server\/vpp-server-c6bb4fcbd-lhcbx on node worker01\n {2}macvlan0: mac c6:b4:b5:74:11:88/);
      assert.match(text, /admitted by SCC vpp-server/);
      assert.match(text, /ping 192\.168\.123\.150\n {2}curl http:\/\/192\.168\.123\.150\/index\.html/);
      assert.match(text, /exec vpp-server-c6bb4fcbd-lhcbx -c vpp-server -- node \/app\/bin\/vpp-server\.js ctl -s \/run\/vpp\/cli-vpp1\.sock show int addr/);
    });
  });

  test('vanilla Kubernetes (no security.openshift.io): no SCC objects, namespace labelled privileged, with a note', async () => {
    await withServer({ openshift: false, multus: true }, async (s) => {
      const io = capture();
      assert.equal(await deploy(connect({ kubeconfig: s.kubeconfig(dir) }), config(), { wait: false, timeout: 10 }, io), 0);
      const kinds = s.applies().map((r) => r.body.kind);
      assert.deepEqual(kinds, ['Namespace', 'ServiceAccount', 'NetworkAttachmentDefinition', 'Deployment']);
      assert.equal(s.applies()[0]!.body.metadata.labels['pod-security.kubernetes.io/enforce'], 'privileged');
      assert.match(io.lines.join('\n'), /vanilla Kubernetes mode.*NET_RAW is outside Pod Security 'baseline'.*pod-security\.kubernetes\.io\/enforce=privileged/);
      assert.ok(!s.requests.some((r) => r.path.includes('security.openshift.io')));
    });
  });

  test('--openshift on a cluster without the SCC API is refused before anything is applied', async () => {
    await withServer({ openshift: false, multus: true }, async (s) => {
      await assert.rejects(
        deploy(connect({ kubeconfig: s.kubeconfig(dir) }), config(), { platformOverride: 'openshift', wait: false, timeout: 1 }, capture()),
        (e: ClusterError) => e.reason === 'no-scc-api' && /no SecurityContextConstraints API/.test(e.message),
      );
      assert.equal(s.applies().length, 0);
    });
  });

  test('Multus missing: a clear error and nothing applied', async () => {
    await withServer({ openshift: true, multus: false }, async (s) => {
      await assert.rejects(
        deploy(connect({ kubeconfig: s.kubeconfig(dir) }), config(), { wait: false, timeout: 1 }, capture()),
        (e: ClusterError) => e.reason === 'no-multus' && /Multus is not installed/.test(e.message) && /k8s\.cni\.cncf\.io/.test(e.message),
      );
      assert.equal(s.applies().length, 0);
    });
  });

  test('403 forbidden: says who may do it', async () => {
    await withServer({ openshift: true, multus: true, forbid: /^PATCH .*clusterroles/ }, async (s) => {
      await assert.rejects(
        deploy(connect({ kubeconfig: s.kubeconfig(dir) }), config(), { wait: false, timeout: 1 }, capture()),
        (e: ClusterError) => e.reason === 'forbidden' && /forbidden \(403\) while applying ClusterRole system:openshift:scc:vpp-server: .*cannot patch/.test(e.message) && /cluster administrator/.test(e.message),
      );
    });
  });

  test('the init container rejecting its configuration fails the rollout early, pointing at its logs', async () => {
    await withServer({ openshift: true, multus: true, pod: 'init-config-error' }, async (s) => {
      const io = capture();
      await assert.rejects(
        deploy(connect({ kubeconfig: s.kubeconfig(dir) }), config(), { wait: true, timeout: 30, pollMs: 10 }, io),
        (e: ClusterError) => e.reason === 'rollout-failed' && /kubectl -n vpp-server logs vpp-server-c6bb4fcbd-lhcbx -c init-vpp-server/.test(e.message),
      );
      assert.match(io.lines.join('\n'), /init: CrashLoopBackOff; init exited 2/);
    });
  });

  test('SCC admission refusing the pod is explained', async () => {
    const msg = 'pods "vpp-server-x" is forbidden: unable to validate against any security context constraint: [provider "anyuid": Forbidden: not usable by user or serviceaccount]';
    await withServer({ openshift: true, multus: true, pod: 'none', replicaFailure: msg }, async (s) => {
      await assert.rejects(
        deploy(connect({ kubeconfig: s.kubeconfig(dir) }), config(), { wait: true, timeout: 30, pollMs: 10 }, capture()),
        (e: ClusterError) => e.reason === 'rollout-failed' && /refused at admission/.test(e.message) && /oc adm policy who-can use scc vpp-server/.test(e.message),
      );
    });
  });

  test('a rollout that does not finish times out with exit code 3 and the last state', async () => {
    await withServer({ openshift: true, multus: true, pod: 'pending' }, async (s) => {
      await assert.rejects(
        deploy(connect({ kubeconfig: s.kubeconfig(dir) }), config(), { wait: true, timeout: 1, pollMs: 50 }, capture()),
        (e: ClusterError) => e.reason === 'timeout' && e.exitCode === 3 && /did not finish within 1s; last state: .*ContainerCreating/.test(e.message),
      );
    });
  });
});

describe('deploy errors without a cluster', () => {
  test('no reachable cluster: ECONNREFUSED', async () => {
    const s = new FakeApiServer({ openshift: true, multus: true });
    await s.start();
    const kc = s.kubeconfig(dir);
    await s.stop(); // the port is now closed
    await assert.rejects(
      deploy(connect({ kubeconfig: kc }), config(), { wait: false, timeout: 1 }, capture()),
      (e: ClusterError) => e.reason === 'unreachable' && /cannot reach the cluster at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/.test(e.message),
    );
  });

  test('no reachable cluster: ENOTFOUND', () => {
    const err = Object.assign(new Error('request to https://api.nowhere.invalid:6443/apis failed'), { cause: Object.assign(new Error('getaddrinfo ENOTFOUND api.nowhere.invalid'), { code: 'ENOTFOUND' }) });
    const e = explainError(err, 'https://api.nowhere.invalid:6443', 'discovering the cluster APIs');
    assert.equal(e.reason, 'unreachable');
    assert.match(e.message, /\(ENOTFOUND\).*is the cluster up and is this the right kubeconfig\/context/);
  });

  test('401, TLS trust and other API errors are explained', async () => {
    const { ApiException } = await import('@kubernetes/client-node');
    const e401 = explainError(new ApiException(401, 'Unauthorized', { message: 'Unauthorized' }, {}), 'https://api.x:6443', 'discovering the cluster APIs');
    assert.equal(e401.reason, 'unauthorized');
    assert.match(e401.message, /refused our credentials \(401 Unauthorized\).*log in again/);
    const tls = explainError(Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }), 'https://api.x:6443', 'discovering the cluster APIs');
    assert.equal(tls.reason, 'unreachable');
    assert.match(tls.message, /cannot trust the cluster at https:\/\/api\.x:6443 \(DEPTH_ZERO_SELF_SIGNED_CERT\)/);
    const e500 = explainError(new ApiException(500, 'x', JSON.stringify({ message: 'etcdserver: request timed out' }), {}), 'https://api.x:6443', 'applying Deployment vpp-server/vpp-server');
    assert.match(e500.message, /answered 500 while applying Deployment vpp-server\/vpp-server: etcdserver: request timed out/);
  });

  test('no kubeconfig: says how to log in, and that render needs none', () => {
    assert.throws(
      () => connect({ env: { HOME: dir } }),
      (e: ClusterError) => e.reason === 'no-kubeconfig' && /no kubeconfig: .*\.kube\/config does not exist/.test(e.message) && /oc login/.test(e.message) && /vpp-server render/.test(e.message),
    );
    assert.throws(() => connect({ kubeconfig: join(dir, 'nope') }), /kubeconfig .*nope does not exist/);
  });

  test('bad option values fail before anything is sent (CLI, against a live fake server)', async () => {
    await withServer({ openshift: true, multus: true }, async (s) => {
      const kubeconfig = s.kubeconfig(dir);
      const cases = [['--vlan', '0'], ['--ip', '192.168.123.255/24'], ['--engine', 'dpdk'], ['--namespace', 'NS'], ['--timeout', 'soon']];
      const runs = await Promise.all([
        ...cases.map((args) => runCli(['deploy', ...args], { KUBECONFIG: kubeconfig })),
        runCli(['undeploy', '--vlan', '4095'], { KUBECONFIG: kubeconfig }),
      ]);
      runs.forEach((r, i) => {
        assert.equal(r.code, 2, `${cases[i]?.join(' ') ?? 'undeploy'}: ${r.stderr}`);
        assert.match(r.stderr, /^vpp-server (deploy|undeploy): /);
      });
      assert.equal(s.requests.length, 0, 'no request reached the server');
    });
  });

  test('the CLI deploys through KUBECONFIG and exits 0', async () => {
    await withServer({ openshift: true, multus: true }, async (s) => {
      const r = await runCli(['deploy', '--no-wait'], { KUBECONFIG: s.kubeconfig(dir), VLAN_ID: '123\n' });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /applied Deployment vpp-server\/vpp-server/);
      const r2 = await runCli(['deploy'], { KUBECONFIG: join(dir, 'missing-config') });
      assert.equal(r2.code, 1);
      assert.match(r2.stderr, /no kubeconfig/);
    });
  });
});

describe('undeploy and status against a fake API server', () => {
  test('undeploy deletes in reverse order, tolerates what is gone, keeps the namespace on request', async () => {
    await withServer({ openshift: true, multus: true }, async (s) => {
      const c = connect({ kubeconfig: s.kubeconfig(dir) });
      await deploy(c, config(), { wait: false, timeout: 1 }, capture());
      const io = capture();
      const start = s.requests.length;
      assert.equal(await undeploy(c, config(), { keepNamespace: true }, io), 0);
      const deletes = s.requests.slice(start).filter((r) => r.method === 'DELETE').map((r) => r.path);
      assert.deepEqual(deletes, [
        // the scale-out's objects are always tried (quietly), whatever REPLICAS says now
        '/apis/apps/v1/namespaces/vpp-server/statefulsets/vpp-server',
        '/apis/policy/v1/namespaces/vpp-server/poddisruptionbudgets/vpp-server',
        '/apis/apps/v1/namespaces/vpp-server/deployments/vpp-server',
        '/api/v1/namespaces/vpp-server/configmaps/vpp-server-www',
        '/apis/k8s.cni.cncf.io/v1/namespaces/vpp-server/network-attachment-definitions/macvlan0',
        '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/system:openshift:scc:vpp-server',
        '/apis/rbac.authorization.k8s.io/v1/clusterroles/system:openshift:scc:vpp-server',
        '/apis/security.openshift.io/v1/securitycontextconstraints/vpp-server',
        '/api/v1/namespaces/vpp-server/serviceaccounts/vpp-server',
      ]);
      const text = io.lines.join('\n');
      assert.match(text, /ConfigMap vpp-server\/vpp-server-www was not there/);
      assert.match(text, /kept Namespace vpp-server \(--keep-namespace\)/);
      const io2 = capture();
      assert.equal(await undeploy(c, config(), { keepNamespace: false }, io2), 0);
      assert.match(io2.lines.join('\n'), /deleted Namespace vpp-server/);
    });
  });

  test('status: exit 3 when not deployed, 0 with details when available', async () => {
    await withServer({ openshift: true, multus: true }, async (s) => {
      const c = connect({ kubeconfig: s.kubeconfig(dir) });
      const io = capture();
      assert.equal(await status(c, 'vpp-server', io), 3);
      assert.match(io.lines.join('\n'), /not deployed/);
      await deploy(c, config(), { wait: false, timeout: 1 }, capture());
      const io2 = capture();
      assert.equal(await status(c, 'vpp-server', io2), 0);
      const text = io2.lines.join('\n');
      assert.match(text, /Deployment vpp-server\/vpp-server: 1\/1 available, strategy Recreate, image quay\.io\/example\/vpp-server:0\.1\.0, capabilities NET_RAW/);
      assert.match(text, /net-attach-def vpp-server\/macvlan0: macvlan on eno8403np1/);
      assert.match(text, /SCC vpp-server: allowedCapabilities NET_RAW/);
      assert.match(text, /ping 192\.168\.123\.150/);
    });
  });
});

describe('scale-out and forced platform against a fake API server', () => {
  test('REPLICAS=3: PodDisruptionBudget and StatefulSet applied, the old Deployment deleted, the StatefulSet rollout awaited', async () => {
    await withServer({ openshift: true, multus: true }, async (s) => {
      const c = connect({ kubeconfig: s.kubeconfig(dir) });
      await deploy(c, config(), { wait: false, timeout: 1 }, capture());
      const io = capture();
      const start = s.requests.length;
      assert.equal(await deploy(c, config({ replicas: 3 }), { wait: true, timeout: 5, pollMs: 10 }, io), 0);
      const kinds = s.requests.slice(start).filter((r) => r.method === 'PATCH').map((r) => r.body.kind);
      assert.deepEqual(kinds.slice(-2), ['PodDisruptionBudget', 'StatefulSet']);
      assert.ok(!kinds.includes('Deployment'));
      const text = io.lines.join('\n');
      assert.match(text, /deleted Deployment vpp-server\/vpp-server \(now a StatefulSet of 3\)/);
      assert.match(text, /rollout: 3\/3 updated, 3\/3 ready, 3\/3 available/);
      for (const a of ['192.168.123.150', '192.168.123.151', '192.168.123.152']) assert.match(text, new RegExp(`ping ${a.replaceAll('.', '\\.')}`));
      assert.ok(s.requests.some((r) => r.method === 'GET' && r.path === '/apis/apps/v1/namespaces/vpp-server/statefulsets/vpp-server'));
    });
  });

  test('status lists every pod with its address, node and readiness; undeploy removes the StatefulSet and the PDB', async () => {
    await withServer({ openshift: true, multus: true, lastNotReady: true }, async (s) => {
      const c = connect({ kubeconfig: s.kubeconfig(dir) });
      await deploy(c, config({ replicas: 3 }), { wait: false, timeout: 1 }, capture());
      const io = capture();
      await status(c, 'vpp-server', io);
      const text = io.lines.join('\n');
      assert.match(text, /StatefulSet vpp-server\/vpp-server: 3\/3 available, one pod per node, Parallel/);
      assert.match(text, /pods \(3\):/);
      assert.match(text, /vpp-server-0 {2}address 192\.168\.123\.150\/24 {2}node worker01 {2}ready/);
      assert.match(text, /vpp-server-1 {2}address 192\.168\.123\.151\/24 {2}node worker02 {2}ready/);
      assert.match(text, /vpp-server-2 {2}address 192\.168\.123\.152\/24 {2}node worker03 {2}not ready/);
      const start = s.requests.length;
      assert.equal(await undeploy(c, config(), { keepNamespace: true }, capture()), 0);
      const deletes = s.requests.slice(start).filter((r) => r.method === 'DELETE').map((r) => r.path);
      assert.deepEqual(deletes.slice(0, 3), [
        '/apis/apps/v1/namespaces/vpp-server/statefulsets/vpp-server',
        '/apis/policy/v1/namespaces/vpp-server/poddisruptionbudgets/vpp-server',
        '/apis/apps/v1/namespaces/vpp-server/deployments/vpp-server',
      ]);
      assert.equal(s.store.get('apps/v1|vpp-server|statefulsets|vpp-server'), undefined);
      assert.equal(s.store.get('policy/v1|vpp-server|poddisruptionbudgets|vpp-server'), undefined);
    });
  });

  test('forced --kubernetes on a cluster with the SCC API: the note says it was forced, not that the API is missing', async () => {
    await withServer({ openshift: true, multus: true }, async (s) => {
      const c = connect({ kubeconfig: s.kubeconfig(dir) });
      const io = capture();
      await deploy(c, config(), { wait: false, timeout: 1, platformOverride: 'kubernetes' }, io);
      const note = io.lines.find((l) => l.startsWith('note:'))!;
      assert.match(note, /^note: --kubernetes given \(the cluster does have the SecurityContextConstraints API/);
      assert.doesNotMatch(note, /no SecurityContextConstraints API/);
    });
    await withServer({ openshift: false, multus: true }, async (s) => {
      const io = capture();
      await deploy(connect({ kubeconfig: s.kubeconfig(dir) }), config(), { wait: false, timeout: 1 }, io);
      assert.match(io.lines.find((l) => l.startsWith('note:'))!, /^note: no SecurityContextConstraints API: vanilla Kubernetes mode/);
    });
  });
});

describe('IPv6 against a fake API server', () => {
  // an IPv6-only pod: no IPv4 address (`ip` absent), its IPv6 address is `ipv6`
  const v6only = (over: Partial<DeployConfig> = {}): DeployConfig => {
    const { ip: _ip, ...rest } = config(over);
    return { ...rest, ipv6: '2001:db8:123::150/64' };
  };

  test('IPv6-only REPLICAS=3: status lists each pod with its IPv6 address, the hints say ping -6 and curl -6', async () => {
    await withServer({ openshift: true, multus: true, lastNotReady: true }, async (s) => {
      const c = connect({ kubeconfig: s.kubeconfig(dir) });
      const io = capture();
      assert.equal(await deploy(c, v6only({ replicas: 3 }), { wait: true, timeout: 5, pollMs: 10 }, io), 0);
      const text = io.lines.join('\n');
      assert.match(text, /the addresses: 2001:db8:123::150, 2001:db8:123::151, 2001:db8:123::152 \(pod vpp-server-<n> has 2001:db8:123::150 \+ n\) on VLAN 123, .* in 2001:db8:123::\/64:/);
      assert.match(text, /^ {2}ping -6 2001:db8:123::152\n {2}curl -6 'http:\/\/\[2001:db8:123::152\]\/index\.html'$/m);
      assert.doesNotMatch(text, /ping 192/);
      const sts = s.applies().find((r) => r.body.kind === 'StatefulSet')!.body;
      const env = Object.fromEntries(sts.spec.template.spec.initContainers[0].env.filter((e: any) => e.value !== undefined).map((e: any) => [e.name, e.value]));
      assert.equal(env.IP_ADDRESS, '2001:db8:123::150/64');
      assert.equal(env.IPV6_ADDRESS, undefined);
      const io2 = capture();
      await status(c, 'vpp-server', io2);
      const st = io2.lines.join('\n');
      assert.match(st, /vpp-server-0 {2}address 2001:db8:123::150\/64 {2}node worker01 {2}ready/);
      assert.match(st, /vpp-server-2 {2}address 2001:db8:123::152\/64 {2}node worker03 {2}not ready/);
      assert.match(st, /ping -6 2001:db8:123::151/);
    });
  });

  test('dual stack: the hints name both addresses; ENGINE=vpp IPv6-only: status reads master from the chained NAD', async () => {
    await withServer({ openshift: true, multus: true }, async (s) => {
      const c = connect({ kubeconfig: s.kubeconfig(dir) });
      const io = capture();
      await deploy(c, config({ ipv6: '2001:db8:123::150/64' }), { wait: true, timeout: 5, pollMs: 10 }, io);
      const text = io.lines.join('\n');
      assert.match(text, /the addresses: 192\.168\.123\.150\/24 and 2001:db8:123::150\/64 on VLAN 123, .* in 192\.168\.123\.0\/24 or 2001:db8:123::\/64:/);
      assert.match(text, /ping 192\.168\.123\.150\n {2}curl http:\/\/192\.168\.123\.150\/index\.html\n {2}ping -6 2001:db8:123::150\n/);
      const io2 = capture();
      await status(c, 'vpp-server', io2);
      assert.match(io2.lines.join('\n'), /address 192\.168\.123\.150\/24, 2001:db8:123::150\/64 {2}node/);
      await deploy(c, v6only({ engine: 'vpp', probes: 'exec' }), { wait: false, timeout: 1 }, capture());
      const io3 = capture();
      await status(c, 'vpp-server', io3);
      assert.match(io3.lines.join('\n'), /net-attach-def vpp-server\/macvlan0: macvlan on eno8403np1/);
    });
  });
});
