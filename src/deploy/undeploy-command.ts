/**
 * `vpp-server undeploy`: deletes what deploy created (StatefulSet or Deployment first, so no pod outlives its
 * configuration; the namespace last unless --keep-namespace). Objects already gone are fine.
 */
// cluster.js (and @kubernetes/client-node, slow to load) is imported only once the options are valid
import type { Cluster } from './cluster.js';
import { APP_NAME, buildManifests, wwwConfigMapName, type DeployConfig } from './manifests.js';
import { CLUSTER_FLAGS, COMMON_FLAGS, parseCommandOptions, reportValueError, usage } from './options.js';
import type { Io } from './deploy-command.js';
import { ValueError } from './values.js';

const FLAGS = [...COMMON_FLAGS, ...CLUSTER_FLAGS, '--keep-namespace'];
const SUMMARY = 'Deletes the objects deploy created, the namespace included unless --keep-namespace.';
const consoleIo: Io = { out: (l) => console.log(l), err: (l) => console.error(l) };

export async function undeploy(
  cluster: Cluster,
  config: DeployConfig,
  opts: { platformOverride?: DeployConfig['platform']; keepNamespace: boolean },
  io: Io = consoleIo,
): Promise<number> {
  const { choosePlatform, describe, discover, remove } = await import('./cluster.js');
  const d = await discover(cluster);
  const platform = opts.platformOverride === 'kubernetes' ? 'kubernetes' : choosePlatform(d, d.openshift ? opts.platformOverride : undefined);
  type Ref = { apiVersion: string; kind: string; metadata?: { name?: string; namespace?: string } };
  const objects = buildManifests({ ...config, platform, www: undefined, replicas: 1 }).map((o) => o.toJSON() as Ref);
  // the web-content ConfigMap may exist from an earlier deploy: always try it
  objects.splice(objects.length - 1, 0, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: wwwConfigMapName(), namespace: config.namespace } });
  // and the scale-out's objects (REPLICAS > 1), whatever REPLICAS says now: the StatefulSet goes
  // before everything else, its PodDisruptionBudget with it
  const meta = { name: APP_NAME, namespace: config.namespace };
  objects.push({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: meta }, { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: meta });
  let deleted = 0;
  const deletedKinds = new Set<string>();
  for (const o of objects.reverse()) {
    if (o.kind === 'Namespace' && opts.keepNamespace) {
      io.out(`kept ${describe(o)} (--keep-namespace)`);
      continue;
    }
    if (o.apiVersion.startsWith('k8s.cni.cncf.io/') && !d.multus) {
      io.out(`skipped ${describe(o)}: the cluster has no Multus API`);
      continue;
    }
    if (await remove(cluster, o)) {
      deleted++;
      deletedKinds.add(o.kind);
      io.out(`deleted ${describe(o)}${o.kind === 'Namespace' ? ' (it terminates in the background)' : ''}`);
    } else if (o.kind !== 'StatefulSet' && o.kind !== 'PodDisruptionBudget' && !(o.kind === 'Deployment' && deletedKinds.has('StatefulSet'))) {
      io.out(`${describe(o)} was not there`);
    }
  }
  io.out(deleted ? 'undeployed.' : 'nothing to delete: not deployed.');
  return 0;
}

export async function main(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    console.log(usage('undeploy', SUMMARY, FLAGS));
    return 0;
  }
  try {
    const o = parseCommandOptions(args, process.env, FLAGS);
    const { connect } = await import('./cluster.js');
    const cluster = connect({ ...(o.kubeconfig ? { kubeconfig: o.kubeconfig } : {}), ...(o.context ? { context: o.context } : {}) });
    return await undeploy(cluster, o.config, {
      ...(o.platformOverride ? { platformOverride: o.platformOverride } : {}),
      keepNamespace: o.keepNamespace,
    });
  } catch (err) {
    if (err instanceof ValueError) return reportValueError('undeploy', err);
    if (err instanceof (await import('./cluster.js')).ClusterError) {
      console.error(`vpp-server undeploy: ${err.message}`);
      return err.exitCode;
    }
    throw err;
  }
}
