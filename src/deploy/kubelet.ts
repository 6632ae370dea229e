/**
 * Running the rendered pod's containers the way the kubelet would, outside a cluster: for the
 * end-to-end tests in the lab's pod namespace. From the rendered Deployment it takes each
 * container's command, args, env, mounts, uid/gid and capabilities; maps image paths to this
 * checkout and the emptyDirs to local directories; and wraps the command in `setpriv` so it runs
 * as uid/gid 10000 under no_new_privs (allowPrivilegeEscalation: false) with the container's
 * capabilities as the kubelet gives them: in the bounding set only, never in the ambient or
 * inheritable sets. The dataplane then holds CAP_NET_RAW the way a real pod does: through the
 * file capability cap_net_raw+ep on a dedicated copy of node (`capNodeCopy`, the lab's
 * /usr/local/bin/vpp-server-node).
 *
 *   const plan = kubeletPlan(toYaml(buildManifests(config)), { repoRoot, stateDir });
 *   prepareEmptyDirs(plan);                                  // as root: dirs owned by 10000
 *   spawnSync('ip', ['netns', 'exec', podNs, ...plan.init.argv], { env: plan.init.env });
 *   spawn('ip', ['netns', 'exec', podNs, ...plan.main.argv], { env: plan.main.env });
 *   spawnSync('ip', ['netns', 'exec', podNs, ...setprivArgs(10000, 10000, []), ...plan.probes.readiness!]);  // exit 0 = ready
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { IMAGE_PATHS, MANAGEMENT_PORT, RUN_AS, kubeletCommands, localizeProbe, localizeRun, type ContainerRun, type KubeObject } from './manifests.js';

/** The pods' group: the only one that may execute the lab's file-capability node. */
const POD_GID = RUN_AS;

export interface PlannedProcess {
  /** the container as rendered */
  container: ContainerRun;
  /** argv to spawn: setpriv … -- <program> <args>; prefix with `ip netns exec <ns>` */
  argv: string[];
  /** the container's env, paths mapped to local dirs, plus PATH */
  env: Record<string, string>;
}

/** A Secret volume as the kubelet keeps it: written in `source`, seen read-only at `view`. */
export interface PlannedSecret {
  volume: string;
  secretName: string;
  /** file modes (defaultMode), and the keys → paths to project (all keys when empty) */
  mode: number;
  items: { key: string; path: string }[];
  /** the kubelet's writable copy (its AtomicWriter layout: ..<timestamp>/, ..data, per-key symlinks) */
  source: string;
  /** what the container mounts: a read-only bind mount of `source` */
  view: string;
}

export interface KubeletPlan {
  init: PlannedProcess;
  main: PlannedProcess;
  /** emptyDir and Secret mount path in the pod → local directory */
  dirs: Record<string, string>;
  /** Secret volumes (prepareSecretVolumes writes and mounts them) */
  secrets: PlannedSecret[];
  /** the dataplane container's probes as commands: exec probes mapped like its command, httpGet probes as curl (run them as the same uid) */
  probes: { readiness?: string[]; liveness?: string[] };
  uid: number;
  gid: number;
}

/**
 * `setpriv` arguments for a container as the kubelet starts it: uid/gid, no supplementary groups,
 * no_new_privs, the bounding set limited to `caps`, and NO inheritable or ambient capabilities.
 * A process started this way holds a capability only if the program it executes carries it as
 * a file capability (and the bounding set allows it): exactly the rule a real pod lives under.
 * Executing a file-capability binary whose capability is outside the bounding set fails with
 * EPERM in execve, before any of the program's code runs. One difference from runc remains:
 * setpriv keeps root's permitted set across --reuid, where runc sets permitted = capabilities.add.
 * Under no_new_privs execve intersects the new permitted set with the old one, so here the old
 * set is "everything" and this runner cannot notice a runtime that leaves NET_RAW out of the
 * permitted set; `make test-image` (runc with an OCI config from the rendered Deployment) covers
 * that case. The e2e tests check the resulting sets of the running process.
 */
export function setprivArgs(uid: number, gid: number, caps: string[]): string[] {
  return [
    'setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups',
    '--inh-caps=-all', '--ambient-caps=-all', `--bounding-set=${capSet(caps)}`, '--no-new-privs', '--',
  ];
}

function capSet(caps: string[]): string {
  return caps.length ? `-all,${caps.map((c) => `+${c.toLowerCase().replace(/^cap_/, '')}`).join(',')}` : '-all';
}

/** Where the lab keeps its file-capability copies of node: on the root filesystem, not /run or /tmp (often nosuid tmpfs). */
export const CAP_NODE_DIR = '/var/lib/vpp-server/cap-node';

/**
 * A copy of `node` carrying the file capability `cap_net_raw+ep`, as the image's
 * /usr/local/bin/vpp-server-node: made once per node binary (the name carries its size and
 * mtime) and reused. Needs root and setcap (libcap2-bin).
 *
 * It is a general-purpose interpreter holding CAP_NET_RAW, so only the pods' group may run it:
 * the file is root:<gid> 0750 in a root:<gid> 0750 directory (other users of the host get no raw
 * sockets from it), re-made if its owner or mode ever differ (chown would drop the capability,
 * so the copy is set up owner and mode first, setcap last). The parents must be searchable, and
 * the filesystem must keep security.capability xattrs and not be mounted nosuid (the kernel
 * ignores file capabilities there): both are checked.
 */
export function capNodeCopy(node: string = process.execPath, dir: string = CAP_NODE_DIR, gid: number = POD_GID): string {
  const st = statSync(node);
  const target = join(dir, `vpp-server-node-${st.size}-${Math.floor(st.mtimeMs)}`);
  const hasCap = (f: string) => /cap_net_raw[=+]ep/.test(spawnSync('getcap', [f], { encoding: 'utf8' }).stdout ?? '');
  const restricted = (f: string) => {
    const s2 = statSync(f);
    return s2.uid === 0 && s2.gid === gid && (s2.mode & 0o7777) === 0o750;
  };
  mkdirSync(dir, { recursive: true, mode: 0o750 });
  chownSync(dir, 0, gid);
  chmodSync(dir, 0o750);
  if (!(existsSync(target) && restricted(target) && hasCap(target))) {
    const tmp = `${target}.${process.pid}.tmp`;
    try {
      copyFileSync(node, tmp);
      chownSync(tmp, 0, gid);
      chmodSync(tmp, 0o750);
      const r = spawnSync('setcap', ['cap_net_raw+ep', tmp], { encoding: 'utf8' });
      if (r.error || r.status !== 0) {
        throw new Error(`setcap cap_net_raw+ep ${tmp} failed: ${r.error?.message ?? r.stderr.trim()} (needs root and libcap2-bin; the filesystem must support security xattrs)`);
      }
      if (!hasCap(tmp)) throw new Error(`${tmp}: the file capability did not stick (the filesystem drops security.capability xattrs?)`);
      renameSync(tmp, target);
    } finally {
      rmSync(tmp, { force: true });
    }
  }
  for (let d = dirname(dir); ; d = dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) throw new Error(`${d} is not searchable by other users: uid 10000 could not execute ${target}`);
    if (d === '/') break;
  }
  const mount = mountOf(target);
  if (mount?.options.includes('nosuid')) {
    throw new Error(`${target} is on ${mount.point}, mounted nosuid: the kernel ignores file capabilities there; choose another directory`);
  }
  return target;
}

/** The mount (point and options) holding `path`, from /proc/self/mountinfo. */
function mountOf(path: string): { point: string; options: string[] } | undefined {
  let best: { point: string; options: string[] } | undefined;
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    const point = (f[4] ?? '').replace(/\\040/g, ' ');
    if (!point || !(path === point || path.startsWith(point === '/' ? '/' : `${point}/`))) continue;
    if (!best || point.length >= best.point.length) best = { point, options: (f[5] ?? '').split(',') };
  }
  return best;
}

/** The capability sets of a running process, from /proc/<pid>/status, as hex strings. */
export function processCapabilities(pid: number): { inh: string; prm: string; eff: string; bnd: string; amb: string; noNewPrivs: string; uid: string } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => new RegExp(`^${name}:\\s*(\\S+)`, 'm').exec(status)?.[1] ?? '?';
  return {
    inh: field('CapInh'), prm: field('CapPrm'), eff: field('CapEff'), bnd: field('CapBnd'), amb: field('CapAmb'),
    noNewPrivs: field('NoNewPrivs'), uid: field('Uid'),
  };
}

/** CAP_NET_RAW (bit 13) alone, as /proc/<pid>/status prints a capability set. */
export const CAP_NET_RAW_ONLY = '0000000000002000';

/**
 * Plans the init and main containers of the rendered Deployment (objects or YAML). `repoRoot`:
 * this checkout (its bin/vpp-server.js stands for /app/bin/vpp-server.js); `node`: the plain node
 * (default: this process's); `capNode`: the file-capability copy standing for
 * /usr/local/bin/vpp-server-node (default: `capNodeCopy(node)`, which needs root); `stateDir`:
 * where the emptyDirs go (a subdirectory per volume). Only our engine ('ts') can run outside its image.
 */
export function kubeletPlan(
  rendered: KubeObject[] | Record<string, unknown>[] | string,
  opts: { repoRoot: string; stateDir: string; node?: string; capNode?: string; podName?: string },
): KubeletPlan {
  const k = kubeletCommands(rendered);
  if (k.main.command[0] !== IMAGE_PATHS.capNode) {
    throw new Error(`the dataplane container runs ${k.main.command[0]}, not our engine: only --engine ts can run outside its image`);
  }
  const node = opts.node ?? process.execPath;
  const programs: Record<string, string> = {
    [IMAGE_PATHS.node]: node,
    [IMAGE_PATHS.capNode]: opts.capNode ?? capNodeCopy(node),
    [IMAGE_PATHS.app]: join(opts.repoRoot, 'bin', 'vpp-server.js'),
  };
  const dirs: Record<string, string> = {};
  const secrets: PlannedSecret[] = [];
  for (const m of [...k.init.mounts, ...k.main.mounts]) {
    const vol = k.volumes.find((v) => v.name === m.name);
    if (vol?.emptyDir) dirs[m.mountPath] = join(opts.stateDir, m.name);
    if (vol?.secret && dirs[m.mountPath] === undefined) {
      const view = join(opts.stateDir, m.name);
      dirs[m.mountPath] = view;
      secrets.push({
        volume: m.name,
        secretName: vol.secret.secretName ?? m.name,
        mode: vol.secret.defaultMode ?? 0o644,
        items: (vol.secret.items ?? []).map((i) => ({ key: i.key, path: i.path })),
        source: join(opts.stateDir, `${m.name}.kubelet`),
        view,
      });
    }
  }
  const plan = (c: ContainerRun): PlannedProcess => {
    const local = localizeRun(c, programs, dirs);
    // the downward API: the only field our manifests use is the pod's name
    const fields: Record<string, string> = { 'metadata.name': opts.podName ?? `${k.podNamePrefix}0` };
    const fromPod = Object.fromEntries(Object.entries(c.fieldEnv).map(([name, path]) => {
      if (fields[path] === undefined) throw new Error(`${c.name}: env ${name} comes from ${path}, which this kubelet does not provide`);
      return [name, fields[path]!];
    }));
    return {
      container: c,
      argv: [...setprivArgs(c.runAsUser, c.runAsGroup, c.capabilities.add), local.file, ...local.argv],
      env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...local.env, ...fromPod },
    };
  };
  const probe = (p: ContainerRun['readinessProbe']): string[] | undefined => {
    if (p?.exec?.command) return localizeProbe(p.exec.command, programs, dirs);
    if (p?.httpGet) {
      // The kubelet GETs the pod's address; inside the pod's namespace, loopback reaches the same listener.
      const port = typeof p.httpGet.port === 'number' ? p.httpGet.port : p.httpGet.port === 'management' ? MANAGEMENT_PORT : Number(p.httpGet.port);
      return ['curl', '-fsS', '-o', '/dev/null', '--max-time', String(p.timeoutSeconds ?? 1), `http://127.0.0.1:${port}${p.httpGet.path ?? '/'}`];
    }
    return undefined;
  };
  const readiness = probe(k.main.readinessProbe);
  const liveness = probe(k.main.livenessProbe);
  return {
    init: plan(k.init),
    main: plan(k.main),
    dirs,
    secrets,
    probes: { ...(readiness ? { readiness } : {}), ...(liveness ? { liveness } : {}) },
    uid: k.main.runAsUser,
    gid: k.main.runAsGroup,
  };
}

/** Creates the emptyDir stand-ins owned by the pod's uid/gid (needs root, as the kubelet does). */
export function prepareEmptyDirs(plan: KubeletPlan): void {
  for (const dir of Object.values(plan.dirs)) {
    mkdirSync(dir, { recursive: true, mode: 0o775 });
    chownSync(dir, plan.uid, plan.gid);
  }
}

/**
 * Publishes a Secret's data into its volume the way the kubelet's AtomicWriter does: the files go
 * into a new hidden timestamped directory, `..data` is switched to it by an atomic rename of a
 * symlink, and each key is a symlink `<path> -> ..data/<path>` (made once). Files are owned by
 * root, group fsGroup, with the volume's defaultMode. A later call is the kubelet's update of a
 * changed Secret (rotation); the old directory is removed after the swap.
 */
export function writeSecretVolume(secret: PlannedSecret, data: Record<string, string | Buffer>, fsGroup: number): void {
  mkdirSync(secret.source, { recursive: true, mode: 0o755 });
  const stamp = `..${new Date().toISOString().replace(/[-:]/g, '_').replace('.', '_')}.${process.pid}.${Math.random().toString(36).slice(2, 8)}`;
  const dir = join(secret.source, stamp);
  mkdirSync(dir, { mode: 0o755 });
  const items = secret.items.length > 0 ? secret.items : Object.keys(data).map((key) => ({ key, path: key }));
  for (const { key, path } of items) {
    const v = data[key];
    if (v === undefined) throw new Error(`Secret ${secret.secretName} has no key ${key} (the kubelet would not start the pod)`);
    const f = join(dir, path);
    writeFileSync(f, v, { mode: secret.mode });
    chmodSync(f, secret.mode);
    chownSync(f, 0, fsGroup);
  }
  const dataLink = join(secret.source, '..data');
  let previous: string | undefined;
  try {
    previous = readlinkSync(dataLink);
  } catch {
    previous = undefined;
  }
  const tmp = join(secret.source, '..data_tmp');
  rmSync(tmp, { force: true });
  symlinkSync(stamp, tmp);
  renameSync(tmp, dataLink);
  for (const { path } of items) {
    const link = join(secret.source, path);
    if (!existsSync(link)) symlinkSync(join('..data', path), link);
  }
  if (previous !== undefined && previous !== stamp) rmSync(join(secret.source, previous), { recursive: true, force: true });
}

/**
 * Writes every Secret volume of the plan (`data`: secret name → key → content) and bind-mounts
 * it read-only where the container sees it, as the kubelet mounts a Secret (needs root). Undo
 * with unmountSecretVolumes.
 */
export function prepareSecretVolumes(plan: KubeletPlan, data: Record<string, Record<string, string | Buffer>>, fsGroup = plan.gid): void {
  for (const s of plan.secrets) {
    const d = data[s.secretName];
    if (d === undefined) throw new Error(`no data for Secret ${s.secretName}: the kubelet would keep the pod in ContainerCreating`);
    writeSecretVolume(s, d, fsGroup);
    mkdirSync(s.view, { recursive: true });
    const bind = spawnSync('mount', ['--bind', s.source, s.view], { encoding: 'utf8' });
    if (bind.status !== 0) throw new Error(`mount --bind ${s.source} ${s.view}: ${bind.stderr.trim()}`);
    const ro = spawnSync('mount', ['-o', 'remount,bind,ro', s.view], { encoding: 'utf8' });
    if (ro.status !== 0) throw new Error(`mount -o remount,bind,ro ${s.view}: ${ro.stderr.trim()}`);
  }
}

export function unmountSecretVolumes(plan: KubeletPlan): void {
  for (const s of plan.secrets) spawnSync('umount', [s.view]);
}
