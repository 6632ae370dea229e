/**
 * `vpp-server deploy`: validates the options, discovers the cluster (Multus? OpenShift?), applies
 * the objects with server-side apply (field manager vpp-server, forcing conflicts), waits for the
 * rollout with progress lines, then shows the pod, the net-attach-def and how to reach the address.
 */
import type { V1Pod } from '@kubernetes/client-node';
// cluster.js (and @kubernetes/client-node, slow to load) is imported only once the options are valid
import type { Cluster } from './cluster.js';
import {
  APP_NAME,
  CLI_SOCKET,
  NAD_NAME,
  buildManifests,
  tlsNotes,
  ctlArgv,
  selectorString,
  validateAll,
  workloadKind,
  wwwConfigMapName,
  type DeployConfig,
} from './manifests.js';
import { CLUSTER_FLAGS, COMMON_FLAGS, parseCommandOptions, reportValueError, usage } from './options.js';
import { ValueError, parseIpv6Cidr, replicaAddresses, replicaAddresses6, type Engine, type Ipv4Cidr } from './values.js';
import { formatIpv6, ip6Network } from '../wire/ipv6-address.js';

const FLAGS = [...COMMON_FLAGS, ...CLUSTER_FLAGS, '--timeout', '--no-wait'];
const SUMMARY =
  'Applies the objects to the cluster of your kubeconfig (server-side apply, field manager vpp-server) and waits for the rollout.';

export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
}
const consoleIo: Io = { out: (l) => console.log(l), err: (l) => console.error(l) };

/**
 * The note printed in vanilla-Kubernetes mode: why that mode (detected: the cluster has no SCC
 * API; forced: --kubernetes, whether or not the cluster has one).
 */
export function podSecurityNote(namespace: string, why: { forced: boolean; sccApi: boolean } = { forced: false, sccApi: false }): string {
  const reason = why.forced
    ? `--kubernetes given${why.sccApi ? ' (the cluster does have the SecurityContextConstraints API: the pod must then be admitted by an SCC you grant yourself)' : ''}`
    : 'no SecurityContextConstraints API';
  return (
    `note: ${reason}: vanilla Kubernetes mode (no SCC, ClusterRole or ClusterRoleBinding). ` +
    `NET_RAW is outside Pod Security 'baseline', so namespace ${namespace} is labelled ` +
    `pod-security.kubernetes.io/enforce=privileged; the pod itself still runs as uid 10000 with only the capabilities it needs.`
  );
}

/** The pod's node, its macvlan0 MAC (Multus network-status) and the SCC that admitted it. */
export function podLines(pod: V1Pod): string[] {
  const lines = [`pod ${pod.metadata?.namespace}/${pod.metadata?.name} on node ${pod.spec?.nodeName ?? '?'}`];
  const status = pod.metadata?.annotations?.['k8s.v1.cni.cncf.io/network-status'];
  if (status) {
    try {
      for (const n of JSON.parse(status) as { name?: string; interface?: string; mac?: string }[]) {
        if (n.interface === 'macvlan0') lines.push(`  ${n.interface}: mac ${n.mac ?? '?'} (from net-attach-def ${n.name ?? NAD_NAME})`);
      }
    } catch {
      // annotation not JSON: skip it
    }
  }
  const scc = pod.metadata?.annotations?.['openshift.io/scc'];
  if (scc) lines.push(`  admitted by SCC ${scc}`);
  return lines;
}

/**
 * How to reach the address (every pod's, in a StatefulSet; IPv4, IPv6 or both) and inspect the
 * dataplane. `ip` is the IPv4 address (absent for an IPv6-only pod), `ipv6` the IPv6 one with prefix.
 */
export function reachLines(r: { namespace: string; engine: Engine; ip?: Ipv4Cidr; ipv6?: string; vlanId: number; podName?: string; replicas?: number }): string[] {
  const n = r.replicas ?? 1;
  const v4 = r.ip !== undefined ? replicaAddresses(r.ip, n) : [];
  const v6base = r.ipv6 !== undefined ? parseIpv6Cidr(r.ipv6) : undefined;
  const v6 = v6base !== undefined ? replicaAddresses6(v6base, n) : [];
  const prefixes = [
    ...(r.ip !== undefined ? [`${r.ip.network}/${r.ip.prefix}`] : []),
    ...(v6base !== undefined ? [`${formatIpv6(ip6Network(v6base.bytes, v6base.prefix))}/${v6base.prefix}`] : []),
  ].join(' or ');
  const what = [r.ip?.cidr, v6base?.cidr].filter((a) => a !== undefined).join(' and ');
  const firsts = [r.ip?.address, v6base?.address].filter((a) => a !== undefined).join(' / ');
  return [
    n === 1
      ? `the address${v4.length && v6.length ? 'es' : ''}: ${what} on VLAN ${r.vlanId}, in userspace (host-macvlan0.${r.vlanId}). From a host on VLAN ${r.vlanId} in ${prefixes}:`
      : `the addresses: ${[...v4, ...v6].map((a) => a.address).join(', ')} (pod ${APP_NAME}-<n> has ${firsts} + n) on VLAN ${r.vlanId}, in userspace (host-macvlan0.${r.vlanId}). From a host on VLAN ${r.vlanId} in ${prefixes}:`,
    ...v4.flatMap((a) => [`  ping ${a.address}`, `  curl http://${a.address}/index.html`]),
    ...v6.flatMap((a) => [`  ping -6 ${a.address}`, `  curl -6 'http://[${a.address}]/index.html'`]),
    'inspect the dataplane:',
    `  kubectl -n ${r.namespace} exec ${r.podName ?? (n > 1 ? `${APP_NAME}-0` : `deploy/${APP_NAME}`)} -c ${APP_NAME} -- ${ctlArgv(r.engine, CLI_SOCKET, 'show', 'int', 'addr').join(' ')}`,
  ];
}

/** Everything printed after a successful rollout. */
export function reachHints(c: DeployConfig, pod: V1Pod | undefined): string[] {
  return [
    ...(pod ? podLines(pod) : []),
    `net-attach-def ${c.namespace}/${NAD_NAME}: macvlan (bridge) on the worker's ${c.master}`,
    ...reachLines({ ...c, ...(pod?.metadata?.name ? { podName: pod.metadata.name } : {}) }),
  ];
}

/** The whole deploy, with the cluster given (tests pass one built on a fake API server). */
export async function deploy(
  cluster: Cluster,
  config: DeployConfig,
  opts: { platformOverride?: DeployConfig['platform']; wait: boolean; timeout: number; pollMs?: number },
  io: Io = consoleIo,
): Promise<number> {
  const { apply, choosePlatform, describe, discover, multusMissing, remove, waitForRollout } = await import('./cluster.js');
  const d = await discover(cluster);
  if (!d.multus) throw multusMissing();
  const platform = choosePlatform(d, opts.platformOverride);
  const c: DeployConfig = { ...config, platform };
  const objects = buildManifests(c);
  validateAll(objects);
  io.out(`deploying to ${cluster.server} (${platform === 'openshift' ? 'OpenShift' : 'Kubernetes'}), namespace ${c.namespace}, engine ${c.engine}`);
  if (platform === 'kubernetes') io.out(podSecurityNote(c.namespace, { forced: opts.platformOverride === 'kubernetes', sccApi: d.openshift }));
  for (const n of tlsNotes(c)) io.out(n);
  if (c.tlsSecret !== undefined) {
    const { secretType } = await import('./cluster.js');
    const type = await secretType(cluster, c.namespace, c.tlsSecret);
    if (type === undefined) io.out(`warning: Secret ${c.namespace}/${c.tlsSecret} does not exist (yet): the pod will wait in ContainerCreating until it does`);
    else if (type !== 'kubernetes.io/tls') io.out(`warning: Secret ${c.namespace}/${c.tlsSecret} is of type ${type}, not kubernetes.io/tls: it needs the keys tls.crt and tls.key`);
  }
  for (const o of objects) {
    await apply(cluster, o);
    io.out(`applied ${describe(o)}`);
  }
  // Going from one pod to several (or back) changes the workload's kind: remove the other one,
  // or two sets of pods would answer for the same addresses.
  const kind = workloadKind(c);
  const stale =
    kind === 'StatefulSet'
      ? [{ apiVersion: 'apps/v1', kind: 'Deployment' }]
      : [{ apiVersion: 'apps/v1', kind: 'StatefulSet' }, { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget' }];
  for (const o of stale.map((x) => ({ ...x, metadata: { name: APP_NAME, namespace: c.namespace } }))) {
    if (await remove(cluster, o)) io.out(`deleted ${describe(o)} (now ${kind === 'StatefulSet' ? `a StatefulSet of ${c.replicas}` : 'one pod, a Deployment'})`);
  }
  if (!c.www) {
    const stale = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: wwwConfigMapName(), namespace: c.namespace } };
    if (await remove(cluster, stale)) io.out(`deleted ${describe(stale)} (no --www-dir this time: serving the default index.html)`);
  }
  if (!opts.wait) {
    io.out(`not waiting for the rollout: follow it with 'kubectl -n ${c.namespace} rollout status ${kind === 'StatefulSet' ? 'sts' : 'deploy'}/${APP_NAME}'`);
    return 0;
  }
  const pod = await waitForRollout(cluster, c.namespace, APP_NAME, selectorString(), opts.timeout, (l) => io.out(l), opts.pollMs, kind);
  io.out('deployed.');
  for (const l of reachHints(c, pod)) io.out(l);
  return 0;
}

export async function main(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    console.log(usage('deploy', SUMMARY, FLAGS));
    return 0;
  }
  try {
    const o = parseCommandOptions(args, process.env, FLAGS);
    const { connect } = await import('./cluster.js');
    const cluster = connect({ ...(o.kubeconfig ? { kubeconfig: o.kubeconfig } : {}), ...(o.context ? { context: o.context } : {}) });
    return await deploy(cluster, o.config, {
      ...(o.platformOverride ? { platformOverride: o.platformOverride } : {}),
      wait: o.wait,
      timeout: o.timeout,
    });
  } catch (err) {
    if (err instanceof ValueError) return reportValueError('deploy', err);
    if (err instanceof (await import('./cluster.js')).ClusterError) {
      console.error(`vpp-server deploy: ${err.message}`);
      return err.exitCode;
    }
    throw err;
  }
}
