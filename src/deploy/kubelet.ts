/**
 * Running the rendered pod's containers the way the kubelet would, outside a cluster: for the
 * end-to-end test in the lab's pod namespace. From the rendered Deployment it takes each
 * container's command, args, env, mounts, uid/gid and capabilities; maps image paths to this
 * checkout and the emptyDirs to local directories; and wraps the command in `setpriv` so it runs
 * as uid/gid 10000 with exactly the container's capabilities (ambient, since a local node binary
 * has no file capability) and no_new_privs (allowPrivilegeEscalation: false).
 *
 *   const plan = kubeletPlan(toYaml(buildManifests(config)), { repoRoot, stateDir });
 *   prepareEmptyDirs(plan);                                  // as root: dirs owned by 10000
 *   spawnSync('ip', ['netns', 'exec', podNs, ...plan.init.argv], { env: plan.init.env });
 *   spawn('ip', ['netns', 'exec', podNs, ...plan.main.argv], { env: plan.main.env });
 *   spawnSync('ip', ['netns', 'exec', podNs, ...setprivArgs(10000, 10000, []), ...plan.probes.readiness!]);  // exit 0 = ready
 */
import { chownSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { IMAGE_PATHS, MANAGEMENT_PORT, kubeletCommands, localizeProbe, localizeRun, type ContainerRun, type KubeObject } from './manifests.js';

export interface PlannedProcess {
  /** the container as rendered */
  container: ContainerRun;
  /** argv to spawn: setpriv … -- <program> <args>; prefix with `ip netns exec <ns>` */
  argv: string[];
  /** the container's env, paths mapped to local dirs, plus PATH */
  env: Record<string, string>;
}

export interface KubeletPlan {
  init: PlannedProcess;
  main: PlannedProcess;
  /** emptyDir mount path in the pod → local directory */
  dirs: Record<string, string>;
  /** the dataplane container's probes as commands: exec probes mapped like its command, httpGet probes as curl (run them as the same uid) */
  probes: { readiness?: string[]; liveness?: string[] };
  uid: number;
  gid: number;
}

/** `setpriv` arguments giving uid/gid, no supplementary groups, exactly `caps`, and no_new_privs. */
export function setprivArgs(uid: number, gid: number, caps: string[]): string[] {
  const set = caps.length ? `-all,${caps.map((c) => `+${c.toLowerCase()}`).join(',')}` : '-all';
  return [
    'setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups',
    `--inh-caps=${set}`, `--ambient-caps=${set}`, `--bounding-set=${set}`, '--no-new-privs', '--',
  ];
}

/**
 * Plans the init and main containers of the rendered Deployment (objects or YAML). `repoRoot`:
 * this checkout (its bin/vpp-server.js stands for /app/bin/vpp-server.js); `node`: the node binary
 * for both `node` and the capability-bearing copy (default: this process's); `stateDir`: where the
 * emptyDirs go (a subdirectory per volume). Only our engine ('ts') can run outside its image.
 */
export function kubeletPlan(
  rendered: KubeObject[] | Record<string, unknown>[] | string,
  opts: { repoRoot: string; stateDir: string; node?: string },
): KubeletPlan {
  const k = kubeletCommands(rendered);
  if (k.main.command[0] !== IMAGE_PATHS.capNode) {
    throw new Error(`the dataplane container runs ${k.main.command[0]}, not our engine: only --engine ts can run outside its image`);
  }
  const node = opts.node ?? process.execPath;
  const programs: Record<string, string> = {
    [IMAGE_PATHS.node]: node,
    [IMAGE_PATHS.capNode]: node,
    [IMAGE_PATHS.app]: join(opts.repoRoot, 'bin', 'vpp-server.js'),
  };
  const dirs: Record<string, string> = {};
  for (const m of [...k.init.mounts, ...k.main.mounts]) {
    const vol = k.volumes.find((v) => v.name === m.name);
    if (vol?.emptyDir) dirs[m.mountPath] = join(opts.stateDir, m.name);
  }
  const plan = (c: ContainerRun): PlannedProcess => {
    const local = localizeRun(c, programs, dirs);
    return {
      container: c,
      argv: [...setprivArgs(c.runAsUser, c.runAsGroup, c.capabilities.add), local.file, ...local.argv],
      env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...local.env },
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
