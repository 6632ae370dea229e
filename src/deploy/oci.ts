/**
 * An OCI runtime configuration (config.json for runc) for one container of the rendered pod, made
 * the way the kubelet and its container runtime make it: for `make test-image`, which runs the
 * built image with runc.
 *
 * - process: Kubernetes' rules for command/args against the image's ENTRYPOINT/CMD; the image's
 *   env, then the container's; uid/gid from runAsUser/runAsGroup, fsGroup as a supplementary group.
 * - capabilities: `capabilities.add` (after drop ALL) in the bounding, permitted and effective
 *   sets; the inheritable and ambient sets empty, as containerd and CRI-O leave them. A non-root
 *   process keeps a capability across execve only through a file capability on the program.
 * - noNewPrivileges from allowPrivilegeEscalation: false; a read-only root from
 *   readOnlyRootFilesystem; the emptyDirs as bind mounts of the host directories given (as the
 *   kubelet does; the caller puts medium Memory ones on a tmpfs), else tmpfs; /sys read-only.
 * - namespaces: its own pid, ipc, uts and mount namespaces, and the pod's network namespace.
 *
 * Not reproduced: the seccomp profile (RuntimeDefault is the runtime's own), cgroup limits, and
 * the kubelet's /etc/hosts, /etc/resolv.conf and termination-log mounts.
 */
import type { IVolume } from 'kubernetes-models/v1/Volume';
import type { ContainerRun } from './manifests.js';

/** What the image itself says (podman image inspect → .Config). */
export interface ImageConfig {
  entrypoint: string[];
  cmd: string[];
  env: string[];
  workingDir?: string;
}

export interface OciOptions {
  /** the image's root filesystem */
  rootfs: string;
  /** the pod's network namespace, e.g. /run/netns/<pod> */
  netns: string;
  /** emptyDir volume name → host directory standing in for it */
  volumeDirs: Record<string, string>;
  /** the pod's volumes (medium Memory emptyDirs become tmpfs) */
  volumes: IVolume[];
  image: ImageConfig;
  /** downward-API values: fieldPath → value (metadata.name → the pod's name) */
  fieldValues?: Record<string, string>;
  hostname?: string;
}

/** Kubernetes' rule: command replaces ENTRYPOINT (and drops CMD); args replace CMD. */
export function processArgs(c: Pick<ContainerRun, 'command' | 'args'>, image: ImageConfig): string[] {
  if (c.command.length > 0) return [...c.command, ...c.args];
  return [...image.entrypoint, ...(c.args.length > 0 ? c.args : image.cmd)];
}

export function capabilityNames(add: string[]): string[] {
  return add.map((c) => `CAP_${c.toUpperCase().replace(/^CAP_/, '')}`);
}

/** A Kubernetes quantity such as 16Mi as tmpfs's size= option. */
function tmpfsSize(limit: string | number | undefined): string[] {
  if (limit === undefined) return [];
  const m = /^([0-9]+)(Ki|Mi|Gi)?$/.exec(String(limit));
  if (!m) return [];
  const unit = { Ki: 'k', Mi: 'm', Gi: 'g' }[m[2] as 'Ki' | 'Mi' | 'Gi'] ?? '';
  return [`size=${m[1]}${unit}`];
}

export function ociSpec(c: ContainerRun, o: OciOptions): Record<string, unknown> {
  const caps = capabilityNames(c.capabilities.add);
  const env = new Map<string, string>();
  for (const kv of o.image.env) {
    const i = kv.indexOf('=');
    if (i > 0) env.set(kv.slice(0, i), kv.slice(i + 1));
  }
  for (const [k, v] of Object.entries(c.env)) env.set(k, v);
  for (const [k, path] of Object.entries(c.fieldEnv ?? {})) {
    const v = o.fieldValues?.[path];
    if (v === undefined) throw new Error(`${c.name}: env ${k} comes from ${path}, which the test kubelet was not given`);
    env.set(k, v);
  }
  const mounts: Record<string, unknown>[] = [
    { destination: '/proc', type: 'proc', source: 'proc' },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
  ];
  for (const m of c.mounts) {
    const vol = o.volumes.find((v) => v.name === m.name);
    if (!vol?.emptyDir) throw new Error(`${c.name}: volume ${m.name} is not an emptyDir; the test kubelet only has emptyDirs`);
    const ro = m.readOnly ? ['ro'] : [];
    const dir = o.volumeDirs[m.name];
    // the kubelet backs an emptyDir with a host directory (on tmpfs for medium Memory) and binds it in
    if (dir === undefined && vol.emptyDir.medium === 'Memory') {
      mounts.push({ destination: m.mountPath, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', ...tmpfsSize(vol.emptyDir.sizeLimit as string | undefined), ...ro] });
      continue;
    }
    if (dir === undefined) throw new Error(`${c.name}: no host directory for emptyDir ${m.name}`);
    mounts.push({ destination: m.mountPath, type: 'bind', source: dir, options: ['rbind', 'nosuid', 'nodev', ...ro] });
  }
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: c.runAsUser, gid: c.runAsGroup, ...(c.fsGroup !== undefined ? { additionalGids: [c.fsGroup] } : {}) },
      args: processArgs(c, o.image),
      env: [...env].map(([k, v]) => `${k}=${v}`),
      cwd: o.image.workingDir || '/',
      capabilities: { bounding: caps, permitted: caps, effective: caps, inheritable: [], ambient: [] },
      noNewPrivileges: !c.allowPrivilegeEscalation,
    },
    root: { path: o.rootfs, readonly: c.readOnlyRootFilesystem },
    hostname: o.hostname ?? 'pod',
    mounts,
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network', path: o.netns }],
      maskedPaths: ['/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/sys/firmware', '/proc/scsi'],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
      resources: { devices: [{ allow: false, access: 'rwm' }] },
    },
  };
}
