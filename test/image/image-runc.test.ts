/**
 * `make test-image` (issue 13): the image built from the project's Containerfile, run with runc
 * from an OCI config generated from the rendered Deployment, the way the kubelet runs it: uid
 * 10000, capabilities.add in the bounding/permitted/effective sets and nothing ambient,
 * no_new_privs, a read-only root, the emptyDirs, and the lab pod's network namespace.
 *
 * The image (VPP_TEST_IMAGE) is built by scripts/test-image/run.sh; run this file through it
 * (it needs root, runc, podman and the lab's tools).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultSettings, Lab, POD_UID } from '../../src/lab/lab.js';
import { inNs, run, waitFor } from '../../src/lab/exec.js';
import { DATAPLANE_NODE_FLAGS, IMAGE_PATHS, kubeletCommands, type ContainerRun } from '../../src/deploy/manifests.js';
import { ociSpec, type ImageConfig } from '../../src/deploy/oci.js';
import { CAP_NET_RAW_ONLY, processCapabilities } from '../../src/deploy/kubelet.js';
import { isRoot, REPO_ROOT } from '../e2e/lab-helpers.js';

const IMAGE = process.env['VPP_TEST_IMAGE'] ?? 'localhost/vpp-server-test/vpp-server:dev';
const RUNC_ROOT = '/run/vpp-server-test-runc';
const tools = ['runc', 'podman', 'getcap'].filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
const haveImage = tools.length === 0 && spawnSync('podman', ['image', 'exists', IMAGE]).status === 0;
const skip = !isRoot() ? 'needs root' : tools.length ? `missing ${tools.join(', ')} (make test-image installs them)` : !haveImage ? `no image ${IMAGE}: run make test-image` : false;

interface Running {
  id: string;
  child: ChildProcess;
  exited: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

describe(`the image ${IMAGE}, run by runc as the kubelet runs it`, { skip }, () => {
  const lab = new Lab(defaultSettings('imglab'));
  const work = join('/var/tmp', `vpp-server-test-image-${process.pid}`);
  const ids: string[] = [];
  let rootfs = '';
  let image: ImageConfig;
  let labels: Record<string, string> = {};
  let k: ReturnType<typeof kubeletCommands>;
  let volumeDirs: Record<string, string> = {};
  let dataplane: Running | undefined;

  /** Starts one container with `runc run` (foreground: runc's exit status is the container's). */
  function start(name: string, c: ContainerRun, img: ImageConfig = image): Running {
    const id = `vpp-test-${name}-${process.pid}`;
    const bundle = join(work, 'bundles', id);
    mkdirSync(bundle, { recursive: true });
    const spec = ociSpec(c, { rootfs, netns: `/run/netns/${lab.ns.pod}`, volumeDirs, volumes: k.volumes, image: img, hostname: 'vpp-server' });
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec, null, 2));
    ids.push(id);
    const child = spawn('runc', ['--root', RUNC_ROOT, 'run', '--bundle', bundle, id], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
    return { id, child, exited };
  }

  function pidOf(r: Running): number | undefined {
    const s = spawnSync('runc', ['--root', RUNC_ROOT, 'state', r.id], { encoding: 'utf8' });
    if (s.status !== 0) return undefined;
    const st = JSON.parse(s.stdout) as { pid: number; status: string };
    return st.status === 'running' ? st.pid : undefined;
  }

  function readyz(): number {
    const r = spawnSync('ip', ['netns', 'exec', lab.ns.pod, 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '2', 'http://127.0.0.1:9100/readyz'], { encoding: 'utf8' });
    return Number(r.stdout || 0);
  }

  async function untilReady(r: Running): Promise<void> {
    await waitFor('/readyz to answer 200', async () => {
      if (r.child.exitCode !== null) {
        const e = await r.exited;
        throw new Error(`the container exited ${e.code}: ${e.stderr}${e.stdout}`);
      }
      return readyz() === 200 ? true : undefined;
    }, 30_000, 200);
  }

  async function stop(r: Running): Promise<{ code: number | null; stdout: string; stderr: string }> {
    spawnSync('runc', ['--root', RUNC_ROOT, 'kill', r.id, 'TERM']);
    const timer = setTimeout(() => spawnSync('runc', ['--root', RUNC_ROOT, 'kill', r.id, 'KILL']), 35_000);
    const e = await r.exited;
    clearTimeout(timer);
    spawnSync('runc', ['--root', RUNC_ROOT, 'delete', '-f', r.id]);
    return e;
  }

  before(async () => {
    const inspect = JSON.parse(run(['podman', 'image', 'inspect', IMAGE]))[0] as { Config: { Entrypoint?: string[]; Cmd?: string[]; Env?: string[]; WorkingDir?: string; Labels?: Record<string, string> } };
    image = { entrypoint: inspect.Config.Entrypoint ?? [], cmd: inspect.Config.Cmd ?? [], env: inspect.Config.Env ?? [], workingDir: inspect.Config.WorkingDir ?? '/' };
    labels = inspect.Config.Labels ?? {};
    rootfs = run(['podman', 'image', 'mount', IMAGE]).trim();
    lab.down();
    await lab.up();
    lab.stopPod();
    const yaml = run([process.execPath, join(REPO_ROOT, 'bin', 'vpp-server.js'), 'render', '--master', 'eth0', '--vlan', '123', '--ip', lab.settings.serverAddress, '--kubernetes', '--image', IMAGE]);
    k = kubeletCommands(yaml);
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true, mode: 0o755 });
    volumeDirs = {};
    for (const v of k.volumes) {
      if (!v.emptyDir) continue;
      // as the kubelet: a host directory per emptyDir, on tmpfs (/dev/shm) for medium Memory
      const dir = v.emptyDir.medium === 'Memory' ? join('/dev/shm', `vpp-server-test-image-${process.pid}`, v.name) : join(work, 'volumes', v.name);
      mkdirSync(dir, { recursive: true, mode: 0o775 });
      chownSync(dir, POD_UID, POD_UID);
      volumeDirs[v.name] = dir;
    }
  });

  after(async () => {
    if (dataplane && dataplane.child.exitCode === null) await stop(dataplane);
    for (const id of ids) spawnSync('runc', ['--root', RUNC_ROOT, 'delete', '-f', id]);
    lab.down();
    spawnSync('podman', ['image', 'unmount', IMAGE]);
    rmSync(work, { recursive: true, force: true });
    rmSync(join('/dev/shm', `vpp-server-test-image-${process.pid}`), { recursive: true, force: true });
  });

  it('the image: ENTRYPOINT the file-capability node (no shell), cap_net_raw+ep on it only, OCI labels, no build-time CA certificates', () => {
    assert.deepEqual(image.entrypoint, [IMAGE_PATHS.capNode, ...DATAPLANE_NODE_FLAGS, IMAGE_PATHS.app]);
    assert.match(run(['getcap', join(rootfs, IMAGE_PATHS.capNode)]), /cap_net_raw[=+]ep/);
    assert.equal(run(['getcap', join(rootfs, '/usr/local/bin/node')]).trim(), '', 'plain node has no file capability');
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(labels['org.opencontainers.image.version'], pkg.version);
    const revision = process.env['VPP_TEST_IMAGE_REVISION'];
    if (revision) assert.equal(labels['org.opencontainers.image.revision'], revision);
    else assert.match(labels['org.opencontainers.image.revision'] ?? '', /^[0-9a-f]{40}$/);
    // the build stand-in trusts this machine's extra CAs so that npm ci works; the runtime must not
    assert.ok(!image.env.some((e) => e.startsWith('NODE_EXTRA_CA_CERTS=')), 'no NODE_EXTRA_CA_CERTS in the runtime image');
    const localCa = join(rootfs, 'usr/local/share/ca-certificates');
    assert.deepEqual(existsSync(localCa) ? readdirSync(localCa) : [], [], 'no extra CA certificates in the runtime image');
  });

  it('the init container (no capabilities, read-only root) writes vpp.conf and startup.conf with the pod MAC', async () => {
    const r = start('init', k.init);
    const e = await r.exited;
    spawnSync('runc', ['--root', RUNC_ROOT, 'delete', '-f', r.id]);
    assert.equal(e.code, 0, e.stderr + e.stdout);
    const startup = readFileSync(join(volumeDirs['conf']!, 'startup.conf'), 'utf8');
    const mac = (JSON.parse(inNs(lab.ns.pod, ['ip', '-j', 'link', 'show', 'macvlan0'])) as { address: string }[])[0]!.address;
    assert.match(startup, new RegExp(`^set interface mac address host-macvlan0 ${mac}$`, 'm'));
    assert.match(startup, /^set int ip address host-macvlan0\.123 192\.168\.123\.150\/24$/m);
    assert.equal(readFileSync(join(volumeDirs['www']!, 'index.html'), 'utf8'), 'Welcome\n');
  });

  it('the dataplane container: /readyz answers; the process holds exactly CAP_NET_RAW, nothing ambient, under no_new_privs', async () => {
    dataplane = start('dataplane', k.main);
    await untilReady(dataplane);
    const pid = pidOf(dataplane);
    assert.ok(pid !== undefined, 'runc state gives the pid');
    const caps = processCapabilities(pid);
    assert.equal(caps.eff, CAP_NET_RAW_ONLY, 'CapEff = NET_RAW only');
    assert.equal(caps.prm, CAP_NET_RAW_ONLY, 'CapPrm = NET_RAW only');
    assert.equal(caps.bnd, CAP_NET_RAW_ONLY, 'CapBnd = NET_RAW only');
    assert.equal(caps.amb, '0000000000000000', 'CapAmb = 0');
    assert.equal(caps.inh, '0000000000000000', 'CapInh = 0');
    assert.equal(caps.noNewPrivs, '1');
    assert.match(caps.uid, /^10000$/);
    assert.equal(readyz(), 200);
  });

  it('ping and curl from the lab client reach the containerised dataplane', () => {
    assert.match(inNs(lab.ns.client, ['ping', '-c', '3', '-W', '1', '-i', '0.2', lab.serverIp], { timeoutMs: 15_000 }), /3 received/);
    assert.equal(inNs(lab.ns.client, ['curl', '-sS', '--max-time', '5', `http://${lab.serverIp}/index.html`]).trim(), 'Welcome');
  });

  it('SIGTERM drains and the container exits 0', async () => {
    const e = await stop(dataplane!);
    assert.equal(e.code, 0, e.stderr + e.stdout);
    assert.match(e.stdout, /"event":"draining","signal":"SIGTERM"/);
    assert.match(e.stdout, /"event":"drained"/);
  });

  it('without NET_RAW in capabilities.add the kernel refuses to execute the file-capability binary: runc reports EPERM before our code runs', async () => {
    const r = start('noraw', { ...k.main, capabilities: { add: [], drop: ['ALL'] } });
    const e = await r.exited;
    spawnSync('runc', ['--root', RUNC_ROOT, 'delete', '-f', r.id]);
    assert.notEqual(e.code, 0);
    // runc 1.1: "exec /usr/local/bin/vpp-server-node: operation not permitted" (the message in README, troubleshooting)
    assert.match(e.stderr, /exec:? "?\/usr\/local\/bin\/vpp-server-node"?: operation not permitted/, e.stderr);
    assert.doesNotMatch(e.stdout, /"level"/, 'nothing of ours ran');
  });

  it("through the base image's entrypoint (a shell, docker-entrypoint.sh) the file capability is lost under no_new_privs: EPERM on AF_PACKET", async () => {
    // what the image did before its explicit ENTRYPOINT: the stand-in's docker-entrypoint.sh execs the command
    const r = start('shell-entrypoint', { ...k.main, command: ['docker-entrypoint.sh', ...k.main.command] });
    const e = await r.exited;
    spawnSync('runc', ['--root', RUNC_ROOT, 'delete', '-f', r.id]);
    // The exec from the shell succeeds, but under no_new_privs the kernel caps the new permitted set
    // at the shell's (empty) one: the dataplane runs without CAP_NET_RAW and AF_PACKET is refused.
    assert.equal(e.code, 1, e.stderr);
    assert.match(e.stderr, /cannot open an AF_PACKET socket for 'macvlan0': socket\(\) failed with EPERM/);
  });

  it('the image run with no command and no args (ENTRYPOINT + CMD) starts the dataplane under kubelet rules', async () => {
    const r = start('nocommand', { ...k.main, command: [], args: [] });
    dataplane = r;
    await untilReady(r);
    const caps = processCapabilities(pidOf(r)!);
    assert.equal(caps.eff, CAP_NET_RAW_ONLY);
    assert.equal(caps.amb, '0000000000000000');
    assert.match(inNs(lab.ns.client, ['ping', '-c', '2', '-W', '1', '-i', '0.2', lab.serverIp], { timeoutMs: 10_000 }), /2 received/);
    const e = await stop(r);
    assert.equal(e.code, 0, e.stderr);
  });
});
