/**
 * The Kubernetes objects of a deployment, built from typed models (kubernetes-models, plus our
 * SCC and NAD models) — never by templating YAML — and rendered as deterministic YAML.
 *
 * Objects, in apply order: Namespace, ServiceAccount, [SCC, ClusterRole, ClusterRoleBinding on
 * OpenShift], NetworkAttachmentDefinition, [web-content ConfigMap], Deployment (one replica, as
 * the seed) or, with replicas > 1, PodDisruptionBudget and StatefulSet (one pod per node, pod
 * ordinal n answering on IP_ADDRESS + n).
 */
import YAML from 'yaml';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IPodTemplateSpec } from 'kubernetes-models/v1/PodTemplateSpec';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IProbe } from 'kubernetes-models/v1/Probe';
import type { IVolume } from 'kubernetes-models/v1/Volume';
import type { IVolumeMount } from 'kubernetes-models/v1/VolumeMount';
import type { IEnvVar } from 'kubernetes-models/v1/EnvVar';
import type { IObjectMeta } from '@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta';
import { NetworkAttachmentDefinition, SecurityContextConstraints, type CniConfigList, type MacvlanCniConfig } from './models.js';
import { INIT_DEFAULTS } from './init.js';
import type { WwwContent } from './www-content.js';
import type { Engine, Ipv4Cidr } from './values.js';
import { DATAPLANE_SEMI_SPACE_MB } from '../threads/heap-limits.js';

export const APP_NAME = 'vpp-server';
/** Name of the NetworkAttachmentDefinition and of the interface it creates in the pod. */
export const NAD_NAME = 'macvlan0';
export const POD_INTERFACE = 'macvlan0';
export const RUN_AS = 10000;
export const FIELD_MANAGER = 'vpp-server';

export const CONF_DIR = INIT_DEFAULTS.CONF_DIR;
/** In a StatefulSet, init writes the pod's own address (IP_ADDRESS + ordinal) here, for the exec readiness probe. */
export const ADDRESS_FILE = 'address';
export const WWW_ROOT = INIT_DEFAULTS.WWW_ROOT;
export const WWW_SOURCE = '/www-src';
export const RUN_DIR = '/run/vpp';
export const CLI_SOCKET = INIT_DEFAULTS.CLI_SOCKET;
export const HTTP_PORT = 80;
/** Where a TLS_SECRET is mounted (read-only) and the HTTPS port it serves. */
export const TLS_DIR = '/tls';
export const HTTPS_PORT = 443;
export const CACHE_SIZE = INIT_DEFAULTS.CACHE_SIZE;
/** Port of the management endpoint (/healthz, /readyz) once the dataplane has one. */
export const MANAGEMENT_PORT = 9100;

/** Paths inside our image (see Containerfile). */
export const IMAGE_PATHS = {
  /** plain node, no file capabilities: init, ctl, probes */
  node: 'node',
  /** a copy of node carrying the file capability cap_net_raw+ep: runs only the dataplane */
  capNode: '/usr/local/bin/vpp-server-node',
  /** the CLI entry point */
  app: '/app/bin/vpp-server.js',
  /** FD.io VPP in the VPP image */
  vpp: '/usr/bin/vpp',
  vppctl: '/usr/bin/vppctl',
} as const;

/**
 * Node/V8 flags of every dataplane process, between the node binary and the app: the image's
 * ENTRYPOINT (the Containerfile spells them out; a unit test holds it to this list), the
 * Deployment's command, the lab's pods and switch, the bench's server.
 *
 * --max-semi-space-size=8: a young generation of at most 2 × 8 MiB. V8's default on x64 lets
 * each semi-space grow to 16 MiB under a high allocation rate (making connections, TLS), and
 * never gives it back: +16 MiB of RSS that holds only garbage. The cost is a scavenge twice as
 * often where the allocation rate is high; each one copies the survivors, which do not depend on
 * the size. docs/bench.md "The young generation" has the figures. Without the flag (a bare
 * `vpp-server run`) the pool's workers get the same cap from their resourceLimits
 * (src/threads/heap-limits.ts); the main thread keeps V8's default.
 */
export const DATAPLANE_NODE_FLAGS: readonly string[] = [`--max-semi-space-size=${DATAPLANE_SEMI_SPACE_MB}`];

export const DEFAULT_IMAGE = 'quay.io/vpp-server/vpp-server:latest';
export const DEFAULT_IMAGE_VPP = 'quay.io/vpp-server/vpp:24.10';

/** Capabilities the dataplane container adds (after dropping ALL). AF_PACKET needs only NET_RAW. */
export const ENGINE_CAPABILITIES: Record<Engine, readonly string[]> = {
  ts: ['NET_RAW'],
  vpp: ['NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'NET_BROADCAST'],
};

export type Platform = 'openshift' | 'kubernetes';
export type ProbeMode = 'exec' | 'http';

export interface DeployConfig {
  /** the worker node's interface the MACVLAN sits on */
  master: string;
  vlanId: number;
  /** the IPv4 address (IP_ADDRESS); absent for an IPv6-only pod, whose address is `ipv6` */
  ip?: Ipv4Cidr;
  namespace: string;
  /** our image: init container, and the dataplane for engine ts */
  image: string;
  /** the FD.io VPP image: the dataplane for engine vpp */
  imageVpp: string;
  engine: Engine;
  platform: Platform;
  www?: WwwContent;
  /** 'http' (management endpoint; default for our engine) or 'exec' (ctl over the CLI socket; FD.io VPP) */
  probes?: ProbeMode;
  /** pods: 1 (default) renders the seed's Deployment; more render a StatefulSet */
  replicas?: number;
  /** next hop of the default route (GATEWAY), dotted quad, validated by the options */
  gateway?: string;
  /**
   * The IPv6 address with prefix, validated by the options: beside `ip`, dual stack (rendered as
   * IPV6_ADDRESS); without `ip`, an IPv6-only pod (rendered as IP_ADDRESS). GATEWAY6: the IPv6
   * default route's next hop.
   */
  ipv6?: string;
  gateway6?: string;
  /** a kubernetes.io/tls Secret mounted at TLS_DIR: HTTPS on HTTPS_PORT beside HTTP (engine ts) */
  tlsSecret?: string;
}

/** The pod's first address with prefix: the IPv4 one, or the IPv6 one of an IPv6-only pod. */
export function primaryAddress(c: Pick<DeployConfig, 'ip' | 'ipv6'>): string {
  const a = c.ip?.cidr ?? c.ipv6;
  if (a === undefined) throw new Error('the deployment has no address: IP_ADDRESS is required');
  return a;
}

/** The kind of workload the config renders. */
export function workloadKind(c: Pick<DeployConfig, 'replicas'>): 'Deployment' | 'StatefulSet' {
  return (c.replicas ?? 1) > 1 ? 'StatefulSet' : 'Deployment';
}

/** Anything we render or apply. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata?: IObjectMeta;
  toJSON(): Record<string, unknown>;
  validate(): void;
}

/** Names of the cluster-scoped objects: the seed's for namespace vpp-server, suffixed otherwise. */
export function clusterScopedName(namespace: string): string {
  return namespace === APP_NAME ? APP_NAME : `${APP_NAME}-${namespace}`;
}
export function sccRoleName(namespace: string): string {
  return `system:openshift:scc:${clusterScopedName(namespace)}`;
}
export function wwwConfigMapName(): string {
  return `${APP_NAME}-www`;
}

export function labels(): Record<string, string> {
  return {
    'app.kubernetes.io/name': APP_NAME,
    'app.kubernetes.io/instance': APP_NAME,
    'app.kubernetes.io/managed-by': FIELD_MANAGER,
  };
}
export function selectorLabels(): Record<string, string> {
  return { 'app.kubernetes.io/name': APP_NAME, 'app.kubernetes.io/instance': APP_NAME };
}
export function selectorString(): string {
  return Object.entries(selectorLabels())
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** The CNI configuration of the seed's NAD: macvlan in bridge mode on `master`. */
export function macvlanConfig(master: string): MacvlanCniConfig {
  return { cniVersion: '0.3.1', name: NAD_NAME, type: 'macvlan', master, linkInContainer: false, mode: 'bridge' };
}

/**
 * The NAD's CNI configuration. For FD.io VPP with an IPv6 address (an IPv6-only pod), the macvlan
 * plugin is chained with the tuning plugin's `allmulti`: VPP's af_packet joins no multicast group,
 * and a macvlan delivers only the groups joined on it, so the Neighbor Solicitations for VPP's
 * address (its solicited-node group) would never reach it. Our engine joins its groups itself
 * (PACKET_ADD_MEMBERSHIP) and keeps the seed's single-plugin configuration.
 */
export function nadConfig(c: Pick<DeployConfig, 'master' | 'engine' | 'ipv6'>): MacvlanCniConfig | CniConfigList {
  const macvlan = macvlanConfig(c.master);
  if (!(c.engine === 'vpp' && c.ipv6 !== undefined)) return macvlan;
  const { cniVersion, name, ...plugin } = macvlan;
  return { cniVersion, name, plugins: [plugin, { type: 'tuning', allmulti: true }] };
}

/** The Multus annotation asking for the NAD as interface macvlan0. */
export function networksAnnotation(): string {
  return JSON.stringify([{ name: NAD_NAME, interface: POD_INTERFACE }]);
}

/** The command that queries the dataplane's CLI socket inside the dataplane container. */
export function ctlArgv(engine: Engine, cliSocket: string, ...command: string[]): string[] {
  return engine === 'ts'
    ? [IMAGE_PATHS.node, IMAGE_PATHS.app, 'ctl', '-s', cliSocket, ...command]
    : [IMAGE_PATHS.vppctl, '-s', cliSocket, ...command];
}

/**
 * Readiness and liveness probes of the dataplane container: the one place that defines them.
 * http mode (our engine): GET /healthz (the loop turns, the ring is drained) and /readyz
 * (interfaces up, address set, HTTP server listening) on the management port. exec mode (FD.io
 * VPP): liveness = the CLI socket answers `show interface address`; readiness = it answers and
 * lists the configured address.
 */
export function probesFor(
  engine: Engine,
  ip: { cidr: string },
  mode: ProbeMode = 'exec',
  cliSocket: string = CLI_SOCKET,
  addressFile?: string,
): { readinessProbe: IProbe; livenessProbe: IProbe; ports: IContainer['ports'] } {
  const timing = {
    readiness: { initialDelaySeconds: 2, periodSeconds: 5, timeoutSeconds: 5, failureThreshold: 3, successThreshold: 1 },
    liveness: { initialDelaySeconds: 15, periodSeconds: 20, timeoutSeconds: 5, failureThreshold: 3, successThreshold: 1 },
  };
  if (mode === 'http') {
    return {
      readinessProbe: { httpGet: { path: '/readyz', port: 'management' }, ...timing.readiness },
      livenessProbe: { httpGet: { path: '/healthz', port: 'management' }, ...timing.liveness },
      ports: [{ name: 'management', containerPort: MANAGEMENT_PORT, protocol: 'TCP' }],
    };
  }
  const query = ctlArgv(engine, cliSocket, 'show', 'interface', 'address');
  return {
    // -x: the whole line `  L3 <addr>/<len>` (VPP's and our format): not an address that is still
    // `(tentative)` or was refused as `(duplicate)` by DAD, nor 2.168.1.1/24 for 192.168.1.1/24.
    // In a StatefulSet each pod has its own address: init writes it to `addressFile`.
    readinessProbe: { exec: { command: ['/bin/sh', '-c', `${query.join(' ')} | grep -qxF ${addressFile ? `"  L3 $(cat ${addressFile})"` : `'  L3 ${ip.cidr}'`}`] }, ...timing.readiness },
    livenessProbe: { exec: { command: query }, ...timing.liveness },
    ports: undefined,
  };
}

function pullPolicy(image: string): 'Always' | 'IfNotPresent' {
  if (image.includes('@')) return 'IfNotPresent';
  const tag = /:([^/:]+)$/.exec(image)?.[1];
  return tag === undefined || tag === 'latest' ? 'Always' : 'IfNotPresent';
}

function env(vars: Record<string, string>): IEnvVar[] {
  return Object.entries(vars).map(([name, value]) => ({ name, value }));
}

/** Environment of the init container (read by `vpp-server init`). */
export function initEnv(c: DeployConfig): Record<string, string> {
  const e: Record<string, string> = {
    HOST_INTERFACE: POD_INTERFACE,
    VLAN_ID: String(c.vlanId),
    // an IPv6-only pod: its IPv6 address is IP_ADDRESS (init tells the family by the ':')
    IP_ADDRESS: primaryAddress(c),
    WWW_ROOT,
    CONF_DIR,
    HTTP_PORT: String(HTTP_PORT),
    CACHE_SIZE,
    CLI_SOCKET,
  };
  if (c.www) e['WWW_SOURCE'] = WWW_SOURCE;
  if (c.gateway !== undefined) e['GATEWAY'] = c.gateway;
  if (c.ip !== undefined && c.ipv6 !== undefined) e['IPV6_ADDRESS'] = c.ipv6;
  if (c.gateway6 !== undefined) e['GATEWAY6'] = c.gateway6;
  if ((c.replicas ?? 1) > 1) e['REPLICAS'] = String(c.replicas);
  if (c.tlsSecret !== undefined) {
    e['TLS_DIR'] = TLS_DIR;
    e['HTTPS_PORT'] = String(HTTPS_PORT);
  }
  return e;
}

/** The init container's env: initEnv, plus POD_NAME from the downward API in a StatefulSet (the ordinal gives the address). */
function initEnvVars(c: DeployConfig): IEnvVar[] {
  const vars = env(initEnv(c));
  if ((c.replicas ?? 1) > 1) vars.push({ name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } });
  return vars;
}

function buildPodTemplate(c: DeployConfig): IPodTemplateSpec {
  const caps = ENGINE_CAPABILITIES[c.engine];
  const probeMode: ProbeMode = c.probes ?? (c.engine === 'ts' ? 'http' : 'exec');
  const probes = probesFor(c.engine, { cidr: primaryAddress(c) }, probeMode, CLI_SOCKET, (c.replicas ?? 1) > 1 ? `${CONF_DIR}/${ADDRESS_FILE}` : undefined);
  const restricted = {
    allowPrivilegeEscalation: false,
    privileged: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    runAsUser: RUN_AS,
    runAsGroup: RUN_AS,
  };
  const volumes: IVolume[] = [
    { name: 'conf', emptyDir: { sizeLimit: '1Mi' } },
    { name: 'www', emptyDir: { sizeLimit: '256Mi' } },
    { name: 'run-vpp', emptyDir: { medium: 'Memory', sizeLimit: '16Mi' } },
    { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
  ];
  const initMounts: IVolumeMount[] = [
    { name: 'conf', mountPath: CONF_DIR },
    { name: 'www', mountPath: WWW_ROOT },
    { name: 'tmp', mountPath: '/tmp' },
  ];
  const mainMounts: IVolumeMount[] = [
    { name: 'conf', mountPath: CONF_DIR, readOnly: true },
    { name: 'www', mountPath: WWW_ROOT, readOnly: true },
    { name: 'run-vpp', mountPath: RUN_DIR },
    { name: 'tmp', mountPath: '/tmp' },
  ];
  if (c.engine === 'vpp') {
    // VPP as non-root keeps its runtime directory under /run/user/<uid>/vpp (the seed mounted /run/user)
    volumes.push({ name: 'run-user', emptyDir: { medium: 'Memory', sizeLimit: '16Mi' } });
    mainMounts.push({ name: 'run-user', mountPath: '/run/user' });
  }
  if (c.www) {
    volumes.push({
      name: 'www-src',
      configMap: {
        name: wwwConfigMapName(),
        defaultMode: 0o444,
        items: c.www.files.map((f) => ({ key: f.key, path: f.path })),
      },
    });
    initMounts.push({ name: 'www-src', mountPath: WWW_SOURCE, readOnly: true });
  }
  if (c.tlsSecret !== undefined) {
    // Only the dataplane reads the pair (and re-reads it when the kubelet swaps ..data); the
    // init container just writes the listener line. Mode 0440 with group fsGroup: uid 10000 reads.
    volumes.push({ name: 'tls', secret: { secretName: c.tlsSecret, defaultMode: 0o440, items: [{ key: 'tls.crt', path: 'tls.crt' }, { key: 'tls.key', path: 'tls.key' }] } });
    mainMounts.push({ name: 'tls', mountPath: TLS_DIR, readOnly: true });
  }
  const podAnnotations: Record<string, string> = { 'k8s.v1.cni.cncf.io/networks': networksAnnotation() };
  if (c.www) podAnnotations['vpp-server/www-checksum'] = c.www.checksum;

  const init: IContainer = {
    name: 'init-vpp-server',
    image: c.image,
    imagePullPolicy: pullPolicy(c.image),
    command: [IMAGE_PATHS.node, IMAGE_PATHS.app],
    args: ['init'],
    env: initEnvVars(c),
    securityContext: { ...restricted, capabilities: { drop: ['ALL'] } },
    resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '500m', memory: '256Mi' } },
    volumeMounts: initMounts,
  };
  const dataplane: IContainer = {
    name: APP_NAME,
    image: c.engine === 'ts' ? c.image : c.imageVpp,
    imagePullPolicy: pullPolicy(c.engine === 'ts' ? c.image : c.imageVpp),
    command: c.engine === 'ts' ? [IMAGE_PATHS.capNode, ...DATAPLANE_NODE_FLAGS, IMAGE_PATHS.app] : [IMAGE_PATHS.vpp],
    args:
      c.engine === 'ts'
        ? ['run', '-c', `${CONF_DIR}/vpp.conf`, ...(probeMode === 'http' ? ['--management', `0.0.0.0:${MANAGEMENT_PORT}`] : [])]
        : ['-c', `${CONF_DIR}/vpp.conf`],
    securityContext: { ...restricted, capabilities: { drop: ['ALL'], add: [...caps] } },
    resources:
      c.engine === 'ts'
        ? { requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '2', memory: '1Gi' } }
        : { requests: { cpu: '1', memory: '1Gi' }, limits: { cpu: '2', memory: '2Gi' } },
    readinessProbe: probes.readinessProbe,
    livenessProbe: probes.livenessProbe,
    ports: probes.ports,
    volumeMounts: mainMounts,
  };
  const replicas = c.replicas ?? 1;
  return {
    metadata: { labels: labels(), annotations: podAnnotations },
    spec: {
      serviceAccountName: APP_NAME,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: 30,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: RUN_AS,
        runAsGroup: RUN_AS,
        fsGroup: RUN_AS,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      ...(replicas > 1
        ? {
            // one pod per worker node: the pods exist to spread load and survive a node going down
            affinity: {
              podAntiAffinity: {
                requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: selectorLabels() }, topologyKey: 'kubernetes.io/hostname' }],
              },
            },
          }
        : {}),
      initContainers: [init],
      containers: [dataplane],
      volumes,
    },
  };
}

function buildDeployment(c: DeployConfig): Deployment {
  return new Deployment({
    metadata: { name: APP_NAME, namespace: c.namespace, labels: labels() },
    spec: {
      replicas: 1,
      // never two pods answering for one IP address: stop the old pod before starting the new one
      strategy: { type: 'Recreate' },
      revisionHistoryLimit: 3,
      selector: { matchLabels: selectorLabels() },
      template: buildPodTemplate(c),
    },
  });
}

/**
 * Scale-out: pod vpp-server-<n> answers on IP_ADDRESS + n (its init container reads the ordinal
 * from its name). The StatefulSet gives each address exactly one pod at a time, also during a
 * rolling update (the old pod is gone before its successor starts), and Parallel start-up since
 * the pods do not depend on each other.
 */
function buildStatefulSet(c: DeployConfig): StatefulSet {
  return new StatefulSet({
    metadata: { name: APP_NAME, namespace: c.namespace, labels: labels() },
    spec: {
      replicas: c.replicas ?? 1,
      // no serviceName: clients reach the pods on their macvlan addresses, not through cluster DNS
      podManagementPolicy: 'Parallel',
      // one pod at a time, each replaced only after it is gone (never two pods on one address)
      updateStrategy: { type: 'RollingUpdate' },
      revisionHistoryLimit: 3,
      selector: { matchLabels: selectorLabels() },
      template: buildPodTemplate(c),
    },
  });
}

/** At most one pod down at a time for voluntary disruptions (node drains). */
function buildPdb(c: DeployConfig): PodDisruptionBudget {
  return new PodDisruptionBudget({
    metadata: { name: APP_NAME, namespace: c.namespace, labels: labels() },
    spec: { maxUnavailable: 1, selector: { matchLabels: selectorLabels() } },
  });
}

/** The SCC admitting the pod: like the seed's, but only the capabilities the engine needs. */
function buildScc(c: DeployConfig): SecurityContextConstraints {
  return new SecurityContextConstraints({
    metadata: {
      name: clusterScopedName(c.namespace),
      labels: labels(),
      annotations: {
        'kubernetes.io/description': `admits the ${APP_NAME} dataplane (engine ${c.engine}): uid ${RUN_AS}, no privilege escalation, capabilities ${ENGINE_CAPABILITIES[c.engine].join(', ')} only`,
      },
    },
    allowHostDirVolumePlugin: false,
    allowHostIPC: false,
    allowHostNetwork: false,
    allowHostPID: false,
    allowHostPorts: false,
    allowPrivilegeEscalation: false,
    allowPrivilegedContainer: false,
    allowedCapabilities: [...ENGINE_CAPABILITIES[c.engine]],
    defaultAddCapabilities: null,
    fsGroup: { type: 'MustRunAs', ranges: [{ min: RUN_AS, max: RUN_AS }] },
    groups: [],
    priority: null,
    readOnlyRootFilesystem: true,
    requiredDropCapabilities: ['ALL'],
    runAsUser: { type: 'MustRunAs', uid: RUN_AS },
    seLinuxContext: { type: 'MustRunAs' },
    seccompProfiles: ['runtime/default'],
    supplementalGroups: { type: 'RunAsAny' },
    users: [],
    volumes: ['configMap', 'downwardAPI', 'emptyDir', 'projected', 'secret'],
  });
}

/** Every object of the deployment, in apply order. Validates nothing: call `validateAll`. */
export function buildManifests(c: DeployConfig): KubeObject[] {
  const meta = (name: string): IObjectMeta => ({ name, namespace: c.namespace, labels: labels() });
  const objects: KubeObject[] = [];
  const nsLabels: Record<string, string> = { ...labels() };
  if (c.platform === 'kubernetes') {
    // NET_RAW is outside Pod Security 'baseline': the namespace must admit 'privileged' pods
    nsLabels['pod-security.kubernetes.io/enforce'] = 'privileged';
  }
  objects.push(new Namespace({ metadata: { name: c.namespace, labels: nsLabels } }));
  objects.push(new ServiceAccount({ metadata: meta(APP_NAME), automountServiceAccountToken: false }));
  if (c.platform === 'openshift') {
    const scc = buildScc(c);
    objects.push(scc);
    objects.push(
      new ClusterRole({
        metadata: { name: sccRoleName(c.namespace), labels: labels() },
        rules: [
          {
            apiGroups: ['security.openshift.io'],
            resources: ['securitycontextconstraints'],
            resourceNames: [scc.metadata.name!],
            verbs: ['use'],
          },
        ],
      }),
    );
    objects.push(
      new ClusterRoleBinding({
        metadata: { name: sccRoleName(c.namespace), labels: labels() },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: sccRoleName(c.namespace) },
        subjects: [{ kind: 'ServiceAccount', name: APP_NAME, namespace: c.namespace }],
      }),
    );
  }
  objects.push(
    new NetworkAttachmentDefinition({
      metadata: meta(NAD_NAME),
      spec: { config: JSON.stringify(nadConfig(c), null, 2) },
    }),
  );
  if (c.www) {
    const data: Record<string, string> = {};
    const binaryData: Record<string, string> = {};
    for (const f of c.www.files) {
      if (f.binary) binaryData[f.key] = f.content.toString('base64');
      else data[f.key] = f.content.toString('utf8');
    }
    objects.push(
      new ConfigMap({
        metadata: meta(wwwConfigMapName()),
        ...(Object.keys(data).length ? { data } : {}),
        ...(Object.keys(binaryData).length ? { binaryData } : {}),
      }),
    );
  }
  if (workloadKind(c) === 'StatefulSet') {
    objects.push(buildPdb(c));
    objects.push(buildStatefulSet(c));
  } else {
    objects.push(buildDeployment(c));
  }
  return objects;
}

/** Validates every object against its schema; throws one Error naming each invalid object. */
export function validateAll(objects: KubeObject[]): void {
  const problems: string[] = [];
  for (const o of objects) {
    try {
      o.validate();
    } catch (err) {
      problems.push(`${o.kind} ${o.metadata?.name ?? '?'}: ${(err as Error).message}`);
    }
  }
  if (problems.length) throw new Error(`rendered objects fail schema validation:\n  ${problems.join('\n  ')}`);
}

const KEY_PRIORITY = ['apiVersion', 'kind', 'metadata', 'name'];

/** Stable key order: apiVersion, kind, metadata, name first, then the rest alphabetically (code-unit order). */
export function compareKeys(a: string, b: string): number {
  const pa = KEY_PRIORITY.indexOf(a);
  const pb = KEY_PRIORITY.indexOf(b);
  if (pa >= 0 || pb >= 0) return (pa < 0 ? KEY_PRIORITY.length : pa) - (pb < 0 ? KEY_PRIORITY.length : pb);
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Deterministic YAML: stable key order, no line folding, one `---` before every document. */
export function toYaml(objects: KubeObject[]): string {
  return objects
    .map(
      (o) =>
        '---\n' +
        YAML.stringify(o.toJSON(), {
          sortMapEntries: (x, y) => compareKeys(String(x.key), String(y.key)),
          lineWidth: 0,
          minContentWidth: 0,
          indentSeq: true,
        }),
    )
    .join('');
}

/** Parses rendered YAML back into plain objects. */
export function parseYaml(text: string): Record<string, unknown>[] {
  return YAML.parseAllDocuments(text)
    .map((d) => d.toJS() as Record<string, unknown> | null)
    .filter((d): d is Record<string, unknown> => d !== null);
}

// ---- what the kubelet would run: for the end-to-end test -------------------------------------

export interface ContainerRun {
  name: string;
  image: string;
  /** argv[0] and what follows it, as the kubelet starts it: command then args */
  command: string[];
  args: string[];
  env: Record<string, string>;
  /** env taken from the pod by the downward API: name → fieldPath (e.g. POD_NAME → metadata.name) */
  fieldEnv: Record<string, string>;
  mounts: { name: string; mountPath: string; readOnly: boolean }[];
  capabilities: { add: string[]; drop: string[] };
  runAsUser: number;
  runAsGroup: number;
  /** the pod's fsGroup: the kubelet adds it to the container's supplementary groups */
  fsGroup?: number;
  /** false → no_new_privs */
  allowPrivilegeEscalation: boolean;
  readOnlyRootFilesystem: boolean;
  readinessProbe?: IProbe;
  livenessProbe?: IProbe;
}

function plain(o: KubeObject | Record<string, unknown>): Record<string, unknown> {
  return typeof (o as KubeObject).toJSON === 'function' ? (o as KubeObject).toJSON() : (o as Record<string, unknown>);
}

/**
 * The init and main containers of the rendered Deployment or StatefulSet as the kubelet would start them:
 * command, args, env (as a map), mounts, capabilities, uid/gid, probes. Accepts the objects of
 * `buildManifests` or the YAML of `render`.
 */
export function kubeletCommands(rendered: KubeObject[] | Record<string, unknown>[] | string): {
  init: ContainerRun;
  main: ContainerRun;
  volumes: IVolume[];
  annotations: Record<string, string>;
  kind: 'Deployment' | 'StatefulSet';
  replicas: number;
  /** a StatefulSet's pods are <prefix><ordinal> */
  podNamePrefix: string;
} {
  const docs = typeof rendered === 'string' ? parseYaml(rendered) : rendered.map(plain);
  const dep = JSON.parse(JSON.stringify(docs.find((d) => d['kind'] === 'Deployment' || d['kind'] === 'StatefulSet') ?? null));
  if (!dep) throw new Error('no Deployment or StatefulSet among the rendered objects');
  const pod = dep.spec.template.spec;
  const toRun = (ct: IContainer): ContainerRun => ({
    name: ct.name,
    image: ct.image ?? '',
    command: ct.command ?? [],
    args: ct.args ?? [],
    env: Object.fromEntries((ct.env ?? []).filter((e) => !e.valueFrom).map((e) => [e.name, e.value ?? ''])),
    fieldEnv: Object.fromEntries((ct.env ?? []).filter((e) => e.valueFrom?.fieldRef).map((e) => [e.name, e.valueFrom!.fieldRef!.fieldPath])),
    mounts: (ct.volumeMounts ?? []).map((m) => ({ name: m.name, mountPath: m.mountPath, readOnly: m.readOnly ?? false })),
    capabilities: { add: ct.securityContext?.capabilities?.add ?? [], drop: ct.securityContext?.capabilities?.drop ?? [] },
    runAsUser: ct.securityContext?.runAsUser ?? pod.securityContext?.runAsUser ?? 0,
    runAsGroup: ct.securityContext?.runAsGroup ?? pod.securityContext?.runAsGroup ?? 0,
    ...(pod.securityContext?.fsGroup !== undefined ? { fsGroup: pod.securityContext.fsGroup } : {}),
    allowPrivilegeEscalation: ct.securityContext?.allowPrivilegeEscalation ?? true,
    readOnlyRootFilesystem: ct.securityContext?.readOnlyRootFilesystem ?? false,
    ...(ct.readinessProbe ? { readinessProbe: ct.readinessProbe } : {}),
    ...(ct.livenessProbe ? { livenessProbe: ct.livenessProbe } : {}),
  });
  return {
    init: toRun(pod.initContainers[0]),
    main: toRun(pod.containers[0]),
    volumes: pod.volumes ?? [],
    annotations: dep.spec.template.metadata?.annotations ?? {},
    kind: dep.kind,
    replicas: dep.spec.replicas ?? 1,
    podNamePrefix: `${dep.metadata.name}-`,
  };
}

/**
 * Maps a ContainerRun from image paths to local ones, for running it outside a container:
 * `programs` replaces whole argv elements (e.g. '/usr/local/bin/vpp-server-node' →
 * process.execPath, '/app/bin/vpp-server.js' → the repo's bin/vpp-server.js); `dirs` rewrites
 * path prefixes in argv and env values (e.g. '/conf' → a temp dir standing in for the emptyDir).
 * Returns `file` + `argv` for spawn (argv excludes file) and the env map.
 */
export function localizeRun(
  run: ContainerRun,
  programs: Record<string, string>,
  dirs: Record<string, string>,
): { file: string; argv: string[]; env: Record<string, string> } {
  const prefixes = Object.keys(dirs).sort((a, b) => b.length - a.length);
  const mapPath = (s: string): string => {
    if (programs[s] !== undefined) return programs[s]!;
    for (const p of prefixes) if (s === p || s.startsWith(`${p}/`)) return dirs[p]! + s.slice(p.length);
    return s;
  };
  const full = [...run.command, ...run.args].map(mapPath);
  const envOut = Object.fromEntries(Object.entries(run.env).map(([k, v]) => [k, mapPath(v)]));
  return { file: full[0] ?? '', argv: full.slice(1), env: envOut };
}

/**
 * Maps an exec probe's command like localizeRun; in a `sh -c` script each space-separated word
 * is mapped (our probe scripts are plain words and a quoted address).
 */
export function localizeProbe(command: string[], programs: Record<string, string>, dirs: Record<string, string>): string[] {
  const run: ContainerRun = {
    name: 'probe', image: '', command, args: [], env: {}, fieldEnv: {}, mounts: [], capabilities: { add: [], drop: [] }, runAsUser: 0, runAsGroup: 0,
    allowPrivilegeEscalation: true, readOnlyRootFilesystem: false,
  };
  const mapped = localizeRun(run, programs, dirs);
  const argv = [mapped.file, ...mapped.argv];
  if (argv.length === 3 && /(^|\/)sh$/.test(argv[0]!) && argv[1] === '-c') {
    const word = (w: string) => localizeRun({ ...run, command: [w] }, programs, dirs).file;
    argv[2] = argv[2]!.split(' ').map(word).join(' ');
  }
  return argv;
}

/**
 * What render and deploy say about a TLS_SECRET: the Secret must exist (render cannot look), and
 * with several replicas the one certificate must name every pod's address.
 */
export function tlsNotes(c: DeployConfig): string[] {
  if (c.tlsSecret === undefined) return [];
  const notes = [
    `note: TLS_SECRET ${c.tlsSecret}: the pod mounts Secret ${c.namespace}/${c.tlsSecret} (type kubernetes.io/tls, keys tls.crt and tls.key) read-only at ${TLS_DIR} ` +
      `and serves HTTPS on ${HTTPS_PORT} beside HTTP on ${HTTP_PORT}; the pod does not start until the Secret exists: ` +
      `kubectl -n ${c.namespace} create secret tls ${c.tlsSecret} --cert=<chain.pem> --key=<key.pem>. A renewed Secret (e.g. by cert-manager) is picked up without a restart.`,
  ];
  const n = c.replicas ?? 1;
  if (n > 1) {
    const firsts = [c.ip?.address, c.ipv6?.split('/')[0]].filter((a): a is string => a !== undefined);
    notes.push(
      `note: REPLICAS ${n} with TLS_SECRET: every pod serves the same certificate on its own address${firsts.length > 1 ? 'es' : ''} (${firsts.map((a) => `${a} and the next ${n - 1}`).join('; ')}): ` +
        'its subject alternative names must cover all of them (or a DNS name each address answers to), or clients will refuse some pods.',
    );
  }
  return notes;
}
