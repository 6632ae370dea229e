/**
 * `vpp-server status`: the Deployment or StatefulSet, every pod with its address, node and
 * readiness, the net-attach-def and (on OpenShift) the SCC, read from the cluster. Exit 0 when the dataplane is available, 1 when it is not (yet), 3 when
 * nothing is deployed.
 */
// @kubernetes/client-node and cluster.js load only once the options are valid
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Cluster } from './cluster.js';
import { APP_NAME, IMAGE_PATHS, NAD_NAME, clusterScopedName, selectorString } from './manifests.js';
import { CLUSTER_FLAGS, COMMON_FLAGS, parseCommandOptions, reportValueError, usage } from './options.js';
import type { Io } from './deploy-command.js';
import { podLines, reachLines } from './deploy-command.js';
import { ValueError, isIpv6Cidr, ordinalAddress, ordinalAddress6, parseIpCidr, parseIpv6Cidr, podOrdinal, type Ipv4Cidr, type Ipv6Cidr } from './values.js';

// all commands take the same options; status only uses --namespace and the cluster ones
const FLAGS = [...COMMON_FLAGS, ...CLUSTER_FLAGS];
const SUMMARY = 'Shows the deployment on the cluster: Deployment, pods, net-attach-def, SCC.';
const consoleIo: Io = { out: (l) => console.log(l), err: (l) => console.error(l) };

async function readOptional(c: Cluster, o: KubernetesObject): Promise<Record<string, any> | undefined> {
  const { ApiException } = await import('@kubernetes/client-node');
  const { explainError } = await import('./cluster.js');
  try {
    return (await c.objects.read(o as never)) as Record<string, any>;
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return undefined;
    if (/resource metadata/.test(String((err as Error).message))) return undefined;
    throw explainError(err, c.server, `reading ${o.kind} ${o.metadata?.name}`);
  }
}

/** A pod's address: the Deployment's one, or IP_ADDRESS (IPv4 or IPv6) + the ordinal of a StatefulSet pod. */
function podAddress(kind: 'Deployment' | 'StatefulSet', base: Ipv4Cidr | Ipv6Cidr | undefined, name: string | undefined): string {
  if (!base) return '?';
  if (kind === 'Deployment') return base.cidr;
  try {
    const n = podOrdinal(name ?? '');
    return (isIpv6Cidr(base) ? ordinalAddress6(base, n) : ordinalAddress(base, n)).cidr;
  } catch {
    return '?';
  }
}

/** The init container's IP_ADDRESS (and IPV6_ADDRESS, dual stack) as parsed addresses; empty when not made by us. */
function envAddresses(env: Record<string, string>): (Ipv4Cidr | Ipv6Cidr)[] {
  const out: (Ipv4Cidr | Ipv6Cidr)[] = [];
  try {
    out.push(parseIpCidr(env['IP_ADDRESS'] ?? ''));
  } catch {
    return out;
  }
  try {
    if (env['IPV6_ADDRESS'] !== undefined && !isIpv6Cidr(out[0]!)) out.push(parseIpv6Cidr(env['IPV6_ADDRESS']));
  } catch {
    // not ours: the IPv4 address alone
  }
  return out;
}

export async function status(cluster: Cluster, namespace: string, io: Io = consoleIo): Promise<number> {
  const { discover, listPods, podSummary, readWorkload } = await import('./cluster.js');
  const d = await discover(cluster);
  io.out(`cluster ${cluster.server}: ${d.openshift ? 'OpenShift (SCC API present)' : 'Kubernetes (no SCC API)'}, Multus ${d.multus ? 'present' : 'MISSING'}`);
  const w = await readWorkload(cluster, namespace, APP_NAME);
  if (!w) {
    io.out(`not deployed: no Deployment or StatefulSet ${namespace}/${APP_NAME} (deploy with 'vpp-server deploy' or 'make deploy')`);
    return 3;
  }
  const dep = w.obj;
  const s = dep.status ?? {};
  const want = dep.spec?.replicas ?? 1;
  const main = dep.spec?.template?.spec?.containers?.[0];
  const strategy = w.kind === 'Deployment' ? `strategy ${w.obj.spec?.strategy?.type ?? '?'}` : `one pod per node, ${w.obj.spec?.podManagementPolicy ?? 'OrderedReady'}`;
  io.out(
    `${w.kind} ${namespace}/${APP_NAME}: ${s.availableReplicas ?? 0}/${want} available, ${strategy}, ` +
      `image ${main?.image ?? '?'}, capabilities ${(main?.securityContext?.capabilities?.add ?? []).join(',') || 'none'}`,
  );
  const env = Object.fromEntries((dep.spec?.template?.spec?.initContainers?.[0]?.env ?? []).map((e) => [e.name, e.value ?? '']));
  // not made by us (no valid IP_ADDRESS): no addresses to show
  const bases = envAddresses(env);
  const pods = (await listPods(cluster, namespace, selectorString())).sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? '', 'en', { numeric: true }));
  if (pods.length === 0) io.out('no pods');
  else io.out(`pods (${pods.length}):`);
  for (const p of pods) {
    const ready = p.status?.containerStatuses?.[0]?.ready ? 'ready' : 'not ready';
    io.out(`  ${p.metadata?.name ?? '?'}  address ${bases.length ? bases.map((b) => podAddress(w.kind, b, p.metadata?.name)).join(', ') : '?'}  node ${p.spec?.nodeName ?? '(not scheduled)'}  ${ready}`);
    io.out(`    ${podSummary(p).line}`);
  }
  const nad = d.multus ? await readOptional(cluster, { apiVersion: 'k8s.cni.cncf.io/v1', kind: 'NetworkAttachmentDefinition', metadata: { name: NAD_NAME, namespace } }) : undefined;
  if (nad) {
    let master = '?';
    try {
      const cni = JSON.parse(nad['spec']?.config ?? '{}');
      // a single plugin (the seed's) or a list (macvlan first, then tuning)
      master = (Array.isArray(cni.plugins) ? cni.plugins.find((q: { type?: string }) => q.type === 'macvlan')?.master : cni.master) ?? '?';
    } catch {
      // keep '?'
    }
    io.out(`net-attach-def ${namespace}/${NAD_NAME}: macvlan on ${master}`);
  } else {
    io.out(`net-attach-def ${namespace}/${NAD_NAME}: MISSING`);
  }
  if (d.openshift) {
    const scc = await readOptional(cluster, { apiVersion: 'security.openshift.io/v1', kind: 'SecurityContextConstraints', metadata: { name: clusterScopedName(namespace) } });
    io.out(scc ? `SCC ${clusterScopedName(namespace)}: allowedCapabilities ${(scc['allowedCapabilities'] ?? []).join(',')}` : `SCC ${clusterScopedName(namespace)}: MISSING`);
  }
  const ready = pods.find((p) => p.status?.containerStatuses?.[0]?.ready);
  if (ready) for (const l of podLines(ready)) io.out(l);
  try {
    if (bases.length === 0) throw new Error('no IP_ADDRESS');
    const ip = bases.find((b): b is Ipv4Cidr => !isIpv6Cidr(b));
    const ipv6 = bases.find(isIpv6Cidr)?.cidr;
    const engine = main?.command?.[0] === IMAGE_PATHS.vpp ? 'vpp' : 'ts';
    const podName = ready?.metadata?.name;
    for (const l of reachLines({ namespace, engine, ...(ip ? { ip } : {}), ...(ipv6 ? { ipv6 } : {}), vlanId: Number(env['VLAN_ID']), replicas: want, ...(podName ? { podName } : {}) })) io.out(l);
  } catch {
    // the Deployment was not made by us (no IP_ADDRESS in the init env): no hints
  }
  return (s.availableReplicas ?? 0) >= want ? 0 : 1;
}

export async function main(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    console.log(usage('status', SUMMARY, FLAGS));
    return 0;
  }
  try {
    const o = parseCommandOptions(args, process.env, FLAGS);
    const { connect } = await import('./cluster.js');
    const cluster = connect({ ...(o.kubeconfig ? { kubeconfig: o.kubeconfig } : {}), ...(o.context ? { context: o.context } : {}) });
    return await status(cluster, o.config.namespace);
  } catch (err) {
    if (err instanceof ValueError) return reportValueError('status', err);
    if (err instanceof (await import('./cluster.js')).ClusterError) {
      console.error(`vpp-server status: ${err.message}`);
      return err.exitCode;
    }
    throw err;
  }
}
