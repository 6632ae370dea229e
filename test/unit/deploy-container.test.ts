/**
 * The container images cannot be built here (no engine), so their key lines are checked as text
 * against what the manifests expect; and the Makefile targets are run without a cluster.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DATAPLANE_NODE_FLAGS, ENGINE_CAPABILITIES, IMAGE_PATHS } from '../../src/deploy/manifests.js';
import { renderToString } from '../../src/deploy/render-command.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const read = (f: string) => readFileSync(join(repo, f), 'utf8');

/** Instructions of a Containerfile, continuation lines joined, comments dropped. */
function instructions(text: string): { op: string; args: string }[] {
  const joined = text.replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const m = /^(\S+)\s+(.*)$/.exec(l)!;
      return { op: m[1]!.toUpperCase(), args: m[2]! };
    });
}

function stages(text: string) {
  const out: { from: string; body: { op: string; args: string }[] }[] = [];
  for (const i of instructions(text)) {
    if (i.op === 'FROM') out.push({ from: i.args, body: [] });
    else out.at(-1)?.body.push(i);
  }
  return out;
}

describe('Containerfile (engine ts)', () => {
  const text = read('Containerfile');
  const [build, runtime, ...rest] = stages(text);

  test('multi-stage: node:20-bookworm builds, node:20-bookworm-slim runs', () => {
    assert.equal(rest.length, 0);
    assert.match(read('Containerfile'), /^ARG NODE_MAJOR=20$/m);
    // the official images by default; make test-image points NODE_IMAGE at local stand-ins
    assert.match(read('Containerfile'), /^ARG NODE_IMAGE=docker\.io\/library\/node$/m);
    assert.match(build!.from, /^\$\{NODE_IMAGE\}:\$\{NODE_MAJOR\}-bookworm AS build$/);
    assert.match(runtime!.from, /^\$\{NODE_IMAGE\}:\$\{NODE_MAJOR\}-bookworm-slim$/);
  });

  test('the build stage compiles the native addon with node-gyp and the TypeScript with tsc, then drops dev dependencies', () => {
    const runs = build!.body.filter((i) => i.op === 'RUN').map((i) => i.args).join('\n');
    assert.match(runs, /npm ci /);
    // a partial node_modules (npm's "Exit handler never called!" with exit 0) fails the step itself
    const ci = build!.body.find((i) => i.op === 'RUN' && i.args.includes('npm ci '))!.args;
    assert.match(ci, /npm ls --all --omit=optional/);
    assert.match(ci, /require\.resolve\(m\)/);
    assert.match(ci, /exit 1/);
    assert.match(runs, /npm run build:native/);
    assert.match(runs, /tsc -p tsconfig\.json/);
    assert.match(runs, /npm prune --omit=dev/);
  });

  test('the runtime gets dist, the addon, production node_modules, and the files the addon loader looks for', () => {
    const copies = runtime!.body.filter((i) => i.op === 'COPY').map((i) => i.args);
    for (const want of ['/src/dist/src /app/dist/src', '/src/build/Release/af_packet.node /app/build/Release/af_packet.node', '/src/node_modules /app/node_modules', '/src/bin /app/bin']) {
      assert.ok(copies.some((c) => c === `--from=build ${want}`), want);
    }
    assert.ok(copies.some((c) => c.includes('/src/package.json') && c.includes('/src/binding.gyp')), 'package.json and binding.gyp mark the package root');
  });

  test('the file capability cap_net_raw+ep is on the dedicated node copy that the Deployment runs the dataplane with', () => {
    const runs = runtime!.body.filter((i) => i.op === 'RUN').map((i) => i.args).join('\n');
    assert.equal(IMAGE_PATHS.capNode, '/usr/local/bin/vpp-server-node');
    assert.match(runs, /cp \/usr\/local\/bin\/node \/usr\/local\/bin\/vpp-server-node/);
    assert.match(runs, /setcap cap_net_raw\+ep \/usr\/local\/bin\/vpp-server-node/);
    assert.match(runs, /getcap \/usr\/local\/bin\/vpp-server-node \| grep -q/);
    assert.ok(!/setcap\s+\S+\s+\/usr\/local\/bin\/node\b/.test(runs), 'plain node (init, ctl, probes) has no file capability');
    assert.ok(!/cap_net_admin|cap_sys_admin|cap_ipc_lock/.test(runs), 'only NET_RAW for our engine');
    assert.deepEqual([...ENGINE_CAPABILITIES.ts], ['NET_RAW']);
  });

  test('no root at runtime: USER 10000 is the last USER and nothing runs after it', () => {
    const users = runtime!.body.map((i, n) => ({ ...i, n })).filter((i) => i.op === 'USER');
    assert.ok(users.length >= 1);
    const last = users.at(-1)!;
    assert.match(last.args, /^10000(:10000)?$/);
    assert.ok(!users.some((u) => /^(root|0)(:|$)/.test(u.args)));
    assert.ok(!runtime!.body.slice(last.n).some((i) => i.op === 'RUN'), 'no RUN after USER 10000');
    assert.ok(!runtime!.body.some((i) => i.op === 'RUN' && /\bsudo\b|chmod [ugo]*\+s|chmod [0-7]*[4-7][0-7]{3}\b/.test(i.args)), 'no setuid helpers');
  });

  test('the default entrypoint and command are the dataplane as the Deployment runs it, with no shell in between', () => {
    const entry = runtime!.body.filter((i) => i.op === 'ENTRYPOINT').at(-1)!;
    const cmd = runtime!.body.filter((i) => i.op === 'CMD').at(-1)!;
    // exec form, the file-capability node itself: a shell (the base image's docker-entrypoint.sh)
    // would lose the capability under no_new_privs
    assert.deepEqual(JSON.parse(entry.args), [IMAGE_PATHS.capNode, ...DATAPLANE_NODE_FLAGS, IMAGE_PATHS.app]);
    assert.deepEqual(JSON.parse(cmd.args), ['run', '-c', '/conf/vpp.conf', '--management', '0.0.0.0:9100']);
  });

  test('OCI labels carry the version and the source revision (build args from make build-container)', () => {
    for (const k of ['version', 'revision', 'source']) {
      assert.match(text, new RegExp(`org\\.opencontainers\\.image\\.${k}="\\$\\{[A-Z]+\\}"`), k);
    }
    assert.match(read('mk/deploy.mk'), /--build-arg VERSION=/);
    assert.match(read('mk/deploy.mk'), /--build-arg REVISION=/);
  });
});

describe('Containerfile.vpp (engine vpp)', () => {
  const text = read('Containerfile.vpp');
  const [only, ...rest] = stages(text);

  test('Fedora with VPP 24.10, the four capabilities as file capabilities on vpp, USER 10000', () => {
    assert.equal(rest.length, 0);
    assert.match(only!.from, /fedora/);
    assert.match(text, /^ARG VPP_VERSION=24\.10$/m);
    const runs = only!.body.filter((i) => i.op === 'RUN').map((i) => i.args).join('\n');
    const m = /setcap (\S+)\+ep \/usr\/bin\/vpp/.exec(runs);
    assert.ok(m, 'setcap on /usr/bin/vpp');
    assert.deepEqual(m![1]!.split(',').map((c) => c.replace(/^cap_/, '').toUpperCase()).sort(), [...ENGINE_CAPABILITIES.vpp].sort());
    assert.equal(IMAGE_PATHS.vpp, '/usr/bin/vpp');
    const users = only!.body.filter((i) => i.op === 'USER');
    assert.match(users.at(-1)!.args, /^10000(:10000)?$/);
    assert.deepEqual(JSON.parse(only!.body.filter((i) => i.op === 'CMD').at(-1)!.args), ['/usr/bin/vpp', '-c', '/conf/vpp.conf']);
  });
});

describe('build context ignore files', () => {
  test('.containerignore and .dockerignore keep local builds, deps and git out of the context', () => {
    const ci = read('.containerignore');
    assert.equal(read('.dockerignore'), ci);
    const lines = ci.split('\n').filter((l) => l && !l.startsWith('#'));
    for (const p of ['.git', 'node_modules', 'dist', 'build']) assert.ok(lines.includes(p), p);
    for (const p of ['src', 'native', 'bin', 'package.json']) assert.ok(!lines.includes(p), `${p} must stay in the context`);
  });
});

describe('mk/deploy.mk', () => {
  const mk = read('mk/deploy.mk');
  const make = (args: string[], env: Record<string, string> = {}) => {
    const base: Record<string, string | undefined> = { ...process.env, MAKEFLAGS: '', MAKELEVEL: '' };
    for (const v of ['MACVLAN_MASTER', 'VLAN_ID', 'IP_ADDRESS', 'CONTAINER_IMAGE', 'CONTAINER_IMAGE_VPP', 'NAMESPACE', 'ENGINE', 'WWW_DIR', 'DEPLOY_FLAGS', 'REPLICAS', 'GATEWAY', 'IPV6_ADDRESS', 'GATEWAY6', 'TLS_SECRET']) delete base[v];
    return spawnSync('make', ['--no-print-directory', ...args], { cwd: repo, encoding: 'utf8', env: { ...base, ...env } });
  };

  test("the seed's variables and defaults", () => {
    assert.match(mk, /^MACVLAN_MASTER \?= eno8403np1$/m);
    assert.match(mk, /^VLAN_ID \?= 123$/m);
    assert.match(mk, /^IP_ADDRESS \?= 192\.168\.123\.150\/24$/m);
    assert.match(mk, /^CONTAINER_IMAGE \?= \S+$/m);
    for (const v of ['NAMESPACE', 'ENGINE', 'WWW_DIR']) assert.match(mk, new RegExp(`^${v} \\?=`, 'm'));
  });

  test('every target depends on build and goes through ./bin/vpp-server.js or the container tool', () => {
    for (const t of ['deploy', 'undeploy', 'kustomize', 'build-container', 'push-container']) {
      assert.match(mk, new RegExp(`^${t}: build$`, 'm'), t);
    }
    assert.match(mk, /^VPP_SERVER := \.\/bin\/vpp-server\.js$/m);
    const dry = make(['-n', '-o', 'build', 'deploy', 'VLAN_ID=7', 'ENGINE=vpp']);
    assert.equal(dry.status, 0, dry.stderr);
    assert.match(dry.stdout, /\.\/bin\/vpp-server\.js deploy --master 'eno8403np1' --vlan '7' --ip '192\.168\.123\.150\/24' --namespace 'vpp-server' .*--engine 'vpp'/);
    const un = make(['-n', '-o', 'build', 'undeploy', 'NAMESPACE=lab']);
    assert.match(un.stdout, /\.\/bin\/vpp-server\.js undeploy --namespace 'lab'/);
  });

  test('make kustomize prints the render output, with no cluster', () => {
    const r = make(['-s', '-o', 'build', 'kustomize'], { KUBECONFIG: '/nonexistent' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, renderToString([], {}));
    const dir = mkdtempSync(join(tmpdir(), 'vpp-mk-'));
    try {
      const out = join(dir, 'all.yaml');
      const w = make(['-s', '-o', 'build', 'kustomize', `OUT=${out}`]);
      assert.equal(w.status, 0, w.stderr);
      assert.equal(w.stdout, '');
      assert.equal(readFileSync(out, 'utf8'), renderToString([], {}));
      const failed = make(['-s', '-o', 'build', 'kustomize', `OUT=${join(dir, 'bad.yaml')}`, 'VLAN_ID=0']);
      assert.notEqual(failed.status, 0);
      assert.ok(!existsSync(join(dir, 'bad.yaml')) && !existsSync(join(dir, 'bad.yaml.tmp')), 'no partial file on error');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const bad = make(['-s', '-o', 'build', 'kustomize', 'VLAN_ID=4095']);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /--vlan \(VLAN_ID\) 4095 is reserved/);
  });

  test('build-container and push-container say clearly when there is no podman or docker', () => {
    for (const t of ['build-container', 'push-container']) {
      const r = make(['-s', '-o', 'build', t, 'CONTAINER_TOOL=']);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, new RegExp(`${t}: neither podman nor docker is installed`));
    }
  });

  test('make kustomize REPLICAS=3 renders the StatefulSet; REPLICAS=0 and a range past the prefix fail with the reason; GATEWAY reaches init', () => {
    const r = make(['-s', '-o', 'build', 'kustomize', 'REPLICAS=3']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, renderToString(['--replicas', '3'], {}));
    assert.match(r.stdout, /^kind: StatefulSet$/m);
    const zero = make(['-s', '-o', 'build', 'kustomize', 'REPLICAS=0']);
    assert.notEqual(zero.status, 0);
    assert.match(zero.stderr, /--replicas \(REPLICAS\) 0: at least one pod is needed/);
    const word = make(['-s', '-o', 'build', 'kustomize', 'REPLICAS=three']);
    assert.match(word.stderr, /"three" is not a number of pods/);
    const out = make(['-s', '-o', 'build', 'kustomize', 'REPLICAS=3', 'IP_ADDRESS=192.168.123.253/24']);
    assert.match(out.stderr, /room for 2 pods/);
    const gw = make(['-s', '-o', 'build', 'kustomize', 'GATEWAY=192.168.123.1']);
    assert.equal(gw.status, 0, gw.stderr);
    assert.match(gw.stdout, /- name: GATEWAY\n\s+value: 192\.168\.123\.1/);
  });

  test('make kustomize IP_ADDRESS=<IPv6> renders the IPv6-only pod (valid manifests); bad IPv6 input fails with the reason', () => {
    const r = make(['-s', '-o', 'build', 'kustomize', 'IP_ADDRESS=2001:db8:123::150/64', 'GATEWAY6=fe80::1']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, renderToString(['--ip', '2001:db8:123::150/64', '--gateway6', 'fe80::1'], {}));
    assert.match(r.stdout, /- name: IP_ADDRESS\n\s+value: 2001:db8:123::150\/64/);
    assert.doesNotMatch(r.stdout, /IPV6_ADDRESS/);
    const vpp = make(['-s', '-o', 'build', 'kustomize', 'IP_ADDRESS=2001:db8:123::150/64', 'ENGINE=vpp']);
    assert.equal(vpp.status, 0, vpp.stderr);
    assert.match(vpp.stdout, /"type": "tuning"/);
    const ll = make(['-s', '-o', 'build', 'kustomize', 'IP_ADDRESS=fe80::150/64']);
    assert.notEqual(ll.status, 0);
    assert.match(ll.stderr, /--ip \(IP_ADDRESS\) "fe80::150\/64" is link-local/);
    const gw = make(['-s', '-o', 'build', 'kustomize', 'IP_ADDRESS=2001:db8:123::150/64', 'GATEWAY=192.168.123.1']);
    assert.notEqual(gw.status, 0);
    assert.match(gw.stderr, /is set but IP_ADDRESS 2001:db8:123::150\/64 is IPv6/);
    const twice = make(['-s', '-o', 'build', 'kustomize', 'IP_ADDRESS=2001:db8:123::150/64', 'IPV6_ADDRESS=2001:db8:123::151/64']);
    assert.notEqual(twice.status, 0);
    assert.match(twice.stderr, /is IPv6 already/);
  });

  test('make status (deploy-status its alias) and the exit code of the command shown through make', () => {
    assert.match(mk, /^status: build$/m);
    assert.match(mk, /^deploy-status: status$/m);
    const dry = make(['-n', '-o', 'build', 'deploy-status', 'NAMESPACE=lab']);
    assert.match(dry.stdout, /\.\/bin\/vpp-server\.js status --namespace 'lab'/);
    const r = make(['-s', '-o', 'build', 'status'], { KUBECONFIG: '/nonexistent', HOME: '/nonexistent' });
    assert.equal(r.status, 2, 'make exits 2 whatever the command returned');
    assert.match(r.stderr, /vpp-server status: no kubeconfig/);
    assert.match(r.stderr, /^make status: \.\/bin\/vpp-server\.js status exited 1: cluster or API error \(docs\/deploy\.md, exit codes\)$/m);
    const bad = make(['-s', '-o', 'build', 'deploy', 'VLAN_ID=0'], { KUBECONFIG: '/nonexistent' });
    assert.match(bad.stderr, /^make deploy: \.\/bin\/vpp-server\.js deploy exited 2: invalid options or values/m);
  });

  test('make test-image exists and .ci/run runs it after make test', () => {
    assert.match(mk, /^test-image: deps build$/m);
    assert.match(mk, /scripts\/test-image\/run\.sh/);
    const ci = read('.ci/run');
    assert.ok(ci.indexOf('make test-image') > ci.indexOf('make test\n'), 'after make test');
  });
});
