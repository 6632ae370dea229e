/**
 * Talking to the cluster with @kubernetes/client-node: load the kubeconfig, discover the APIs
 * (Multus present? OpenShift SCC API present?), server-side apply with field manager
 * `vpp-server`, delete, wait for the rollout, and turn failures into errors that say what to do.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import {
  ApiException,
  ApisApi,
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  type KubernetesObject,
  type V1Deployment,
  type V1Pod,
  type V1StatefulSet,
} from '@kubernetes/client-node';
import { FIELD_MANAGER, type KubeObject, type Platform } from './manifests.js';

export const MULTUS_GROUP = 'k8s.cni.cncf.io';
export const SCC_GROUP = 'security.openshift.io';

/** A failure to report to the user: message says what happened and what to do. */
export class ClusterError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
    readonly reason:
      | 'no-kubeconfig'
      | 'unreachable'
      | 'unauthorized'
      | 'forbidden'
      | 'no-multus'
      | 'no-scc-api'
      | 'not-found'
      | 'rollout-failed'
      | 'timeout'
      | 'api' = 'api',
  ) {
    super(message);
    this.name = 'ClusterError';
  }
}

export interface Cluster {
  kc: KubeConfig;
  server: string;
  objects: KubernetesObjectApi;
  apps: AppsV1Api;
  core: CoreV1Api;
  apis: ApisApi;
}

/** Loads the kubeconfig (--kubeconfig, $KUBECONFIG, ~/.kube/config, or in-cluster); a clear error when there is none. */
export function connect(opts: { kubeconfig?: string; context?: string; env?: Record<string, string | undefined> }): Cluster {
  const env = opts.env ?? process.env;
  const kc = new KubeConfig();
  if (opts.kubeconfig !== undefined) {
    if (!existsSync(opts.kubeconfig)) throw new ClusterError(`kubeconfig ${opts.kubeconfig} does not exist`, 1, 'no-kubeconfig');
    kc.loadFromFile(opts.kubeconfig);
  } else {
    const fromEnv = (env['KUBECONFIG'] ?? '').split(delimiter).filter((f) => f && existsSync(f));
    const home = join(env['HOME'] ?? homedir(), '.kube', 'config');
    const inCluster = env['KUBERNETES_SERVICE_HOST'] !== undefined && existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token');
    if (fromEnv.length === 0 && !existsSync(home) && !inCluster) {
      throw new ClusterError(
        `no kubeconfig: ${env['KUBECONFIG'] ? `none of the files in KUBECONFIG (${env['KUBECONFIG']}) exists and ` : ''}` +
          `${home} does not exist. Log in first ('oc login …' or 'kubectl config use-context …'), ` +
          'or point --kubeconfig / KUBECONFIG at the cluster. To only see the YAML, use \'vpp-server render\' (make kustomize).',
        1,
        'no-kubeconfig',
      );
    }
    if (fromEnv.length > 0) kc.loadFromFile(fromEnv[0]!);
    else kc.loadFromDefault();
  }
  if (opts.context !== undefined) {
    if (!kc.getContexts().some((c) => c.name === opts.context)) {
      throw new ClusterError(
        `context ${JSON.stringify(opts.context)} is not in the kubeconfig; contexts: ${kc.getContexts().map((c) => c.name).join(', ') || 'none'}`,
        2,
        'no-kubeconfig',
      );
    }
    kc.setCurrentContext(opts.context);
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new ClusterError('the kubeconfig has no current cluster: choose one with --context or `kubectl config use-context`', 1, 'no-kubeconfig');
  return {
    kc,
    server: cluster.server,
    objects: KubernetesObjectApi.makeApiClient(kc),
    apps: kc.makeApiClient(AppsV1Api),
    core: kc.makeApiClient(CoreV1Api),
    apis: kc.makeApiClient(ApisApi),
  };
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EAI_AGAIN', 'EPIPE',
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
]);

function networkCode(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown; errno?: unknown } | undefined, depth = 0; e && depth < 6; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return e.code;
    if (typeof e.errno === 'string' && NETWORK_CODES.has(e.errno)) return e.errno;
    const m = /\b(ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|ECONNRESET|EAI_AGAIN)\b/.exec(String((e as Error).message ?? ''));
    if (m) return m[1];
  }
  return undefined;
}

function apiMessage(err: ApiException<unknown>): string {
  const body = err.body as { message?: string } | string | undefined;
  if (body && typeof body === 'object' && typeof body.message === 'string') return body.message;
  if (typeof body === 'string' && body) {
    try {
      const parsed = JSON.parse(body) as { message?: string };
      if (parsed.message) return parsed.message;
    } catch {
      // not JSON
    }
    return body.slice(0, 300);
  }
  return err.message;
}

/** Turns a client-node failure into a ClusterError saying what to do; `doing` says what we were doing. */
export function explainError(err: unknown, server: string, doing: string): ClusterError {
  if (err instanceof ClusterError) return err;
  const net = networkCode(err);
  if (net) {
    const tls = net.includes('CERT') || net.includes('SIGNATURE') || net.includes('ALTNAME');
    return new ClusterError(
      tls
        ? `cannot trust the cluster at ${server} (${net}) while ${doing}: the kubeconfig's certificate authority does not match the server; log in again ('oc login') or fix certificate-authority-data`
        : `cannot reach the cluster at ${server} (${net}) while ${doing}: is the cluster up and is this the right kubeconfig/context? Check with 'oc whoami --show-server' or 'kubectl cluster-info'`,
      1,
      'unreachable',
    );
  }
  if (err instanceof ApiException) {
    const msg = apiMessage(err);
    if (err.code === 401) {
      return new ClusterError(`the cluster at ${server} refused our credentials (401 Unauthorized) while ${doing}: the token may have expired; log in again ('oc login')`, 1, 'unauthorized');
    }
    if (err.code === 403) {
      return new ClusterError(
        `forbidden (403) while ${doing}: ${msg}. Deploying needs the rights to create a namespace and, on OpenShift, ` +
          'cluster-scoped objects (SecurityContextConstraints, ClusterRole, ClusterRoleBinding): run it as a cluster administrator ' +
          "(e.g. 'oc login -u kubeadmin') or have one apply 'vpp-server render' output.",
        1,
        'forbidden',
      );
    }
    if (err.code === 404) return new ClusterError(`not found (404) while ${doing}: ${msg}`, 1, 'not-found');
    return new ClusterError(`the API server answered ${err.code} while ${doing}: ${msg}`, 1, 'api');
  }
  const m = (err as Error)?.message ?? String(err);
  if (/Failed to fetch resource metadata for k8s\.cni\.cncf\.io/.test(m)) return multusMissing();
  return new ClusterError(`${doing} failed: ${m}`, 1, 'api');
}

export function multusMissing(): ClusterError {
  return new ClusterError(
    `the cluster has no NetworkAttachmentDefinition API (${MULTUS_GROUP}): Multus is not installed. The pod gets macvlan0 from ` +
      'Multus and the macvlan CNI plugin: OpenShift ships both; on other clusters install Multus ' +
      '(github.com/k8snetworkplumbingwg/multus-cni) and the reference CNI plugins, then run deploy again.',
    1,
    'no-multus',
  );
}

export interface Discovery {
  groups: Set<string>;
  multus: boolean;
  openshift: boolean;
}

/** GET /apis: which API groups the cluster serves. */
export async function discover(c: Cluster): Promise<Discovery> {
  try {
    const list = await c.apis.getAPIVersions();
    const groups = new Set((list.groups ?? []).map((g) => g.name));
    return { groups, multus: groups.has(MULTUS_GROUP), openshift: groups.has(SCC_GROUP) };
  } catch (err) {
    throw explainError(err, c.server, 'discovering the cluster APIs');
  }
}

/** Chooses the platform: forced by --openshift/--kubernetes, else OpenShift exactly when the SCC API exists. */
export function choosePlatform(d: Discovery, override: Platform | undefined): Platform {
  if (override === 'openshift' && !d.openshift) {
    throw new ClusterError(
      `--openshift was given but the cluster has no SecurityContextConstraints API (${SCC_GROUP}); leave the option out or use --kubernetes`,
      2,
      'no-scc-api',
    );
  }
  return override ?? (d.openshift ? 'openshift' : 'kubernetes');
}

export function describe(o: { kind: string; metadata?: { name?: string; namespace?: string } }): string {
  return `${o.kind} ${o.metadata?.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata?.name ?? '?'}`;
}

/** Server-side apply of one object, field manager vpp-server, taking over conflicting fields. */
export async function apply(c: Cluster, o: KubeObject): Promise<void> {
  try {
    await c.objects.patch(o.toJSON() as KubernetesObject, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
  } catch (err) {
    if (o.apiVersion.startsWith(`${MULTUS_GROUP}/`) && (err instanceof ApiException ? err.code === 404 : /resource metadata/.test(String((err as Error).message)))) {
      throw multusMissing();
    }
    throw explainError(err, c.server, `applying ${describe(o)}`);
  }
}

/** Deletes one object; returns false when it was not there. */
export async function remove(c: Cluster, o: { apiVersion: string; kind: string; metadata?: { name?: string; namespace?: string } }): Promise<boolean> {
  try {
    await c.objects.delete(
      { apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.metadata?.name, namespace: o.metadata?.namespace } } as KubernetesObject,
      undefined, undefined, undefined, undefined, 'Background',
    );
    return true;
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return false;
    throw explainError(err, c.server, `deleting ${describe(o)}`);
  }
}

export async function readDeployment(c: Cluster, namespace: string, name: string): Promise<V1Deployment | undefined> {
  try {
    return await c.apps.readNamespacedDeployment({ name, namespace });
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return undefined;
    throw explainError(err, c.server, `reading Deployment ${namespace}/${name}`);
  }
}

/** Whether the Secret exists, and its type (undefined: absent). */
export async function secretType(c: Cluster, namespace: string, name: string): Promise<string | undefined> {
  try {
    const s = await c.core.readNamespacedSecret({ name, namespace });
    return s.type ?? 'Opaque';
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return undefined;
    throw explainError(err, c.server, `reading Secret ${namespace}/${name}`);
  }
}

/** The workload of the deployment: the seed's Deployment, or the StatefulSet of a scale-out. */
export type Workload = { kind: 'Deployment'; obj: V1Deployment } | { kind: 'StatefulSet'; obj: V1StatefulSet };

export async function readStatefulSet(c: Cluster, namespace: string, name: string): Promise<V1StatefulSet | undefined> {
  try {
    return await c.apps.readNamespacedStatefulSet({ name, namespace });
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return undefined;
    throw explainError(err, c.server, `reading StatefulSet ${namespace}/${name}`);
  }
}

/** Reads the Deployment, else the StatefulSet, of that name. */
export async function readWorkload(c: Cluster, namespace: string, name: string, kind?: Workload['kind']): Promise<Workload | undefined> {
  if (kind !== 'StatefulSet') {
    const d = await readDeployment(c, namespace, name);
    if (d) return { kind: 'Deployment', obj: d };
  }
  if (kind !== 'Deployment') {
    const st = await readStatefulSet(c, namespace, name);
    if (st) return { kind: 'StatefulSet', obj: st };
  }
  return undefined;
}

export async function listPods(c: Cluster, namespace: string, labelSelector: string): Promise<V1Pod[]> {
  try {
    return (await c.core.listNamespacedPod({ namespace, labelSelector })).items;
  } catch (err) {
    throw explainError(err, c.server, `listing pods in ${namespace}`);
  }
}

/** Recent warning events of the namespace (FailedCreate from SCC or Pod Security admission, FailedMount, …). */
export async function warningEvents(c: Cluster, namespace: string): Promise<{ reason: string; object: string; message: string }[]> {
  try {
    const list = await c.core.listNamespacedEvent({ namespace, fieldSelector: 'type=Warning' });
    return list.items
      .map((e) => ({
        reason: e.reason ?? '',
        object: `${e.involvedObject.kind ?? ''}/${e.involvedObject.name ?? ''}`,
        message: e.message ?? '',
        t: new Date(e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp ?? 0).getTime(),
      }))
      .sort((a, b) => a.t - b.t)
      .map(({ reason, object, message }) => ({ reason, object, message }));
  } catch {
    return []; // events only help explain; never fail on them
  }
}

/** One line describing a pod's progress, and a fatal reason if it cannot get better by waiting. */
export function podSummary(p: V1Pod): { line: string; fatal?: string } {
  const name = p.metadata?.name ?? '?';
  const init = p.status?.initContainerStatuses?.[0];
  const main = p.status?.containerStatuses?.[0];
  let state = p.status?.phase ?? 'Pending';
  let fatal: string | undefined;
  const initDone = init?.state?.terminated?.exitCode === 0;
  if (init && !initDone) {
    const w = init.state?.waiting;
    const last = init.lastState?.terminated;
    if (w?.reason) state = `init: ${w.reason}${w.message ? ` (${w.message})` : ''}`;
    else if (init.state?.running) state = 'init: running';
    if (last && last.exitCode !== 0) {
      state += `; init exited ${last.exitCode}`;
      // exit code 2 is a configuration error: waiting will not help
      if (last.exitCode === 2) {
        fatal = `the init container rejected its configuration (exit 2): see 'kubectl -n ${p.metadata?.namespace} logs ${name} -c init-vpp-server'`;
      }
    }
  } else if (main) {
    if (main.state?.waiting?.reason) state = `${main.state.waiting.reason}${main.state.waiting.message ? ` (${main.state.waiting.message})` : ''}`;
    else if (main.state?.running) state = main.ready ? 'running, ready' : 'running, not ready yet';
    else if (main.state?.terminated) state = `terminated (exit ${main.state.terminated.exitCode}${main.state.terminated.reason ? `, ${main.state.terminated.reason}` : ''})`;
    if (main.restartCount) state += `, ${main.restartCount} restart${main.restartCount === 1 ? '' : 's'}`;
  }
  const cond = p.status?.conditions?.find((x) => x.type === 'PodScheduled' && x.status === 'False');
  if (cond?.message) state += ` (unschedulable: ${cond.message})`;
  return fatal ? { line: `pod ${name}: ${state}`, fatal } : { line: `pod ${name}: ${state}` };
}

const ADMISSION_PATTERNS = [
  /unable to validate against any security context constraint/i,
  /violates PodSecurity/i,
  /forbidden/i,
  /is invalid/i,
];

/**
 * Waits until the workload's (Deployment or StatefulSet) new pods are available, printing a progress line whenever the state
 * changes. Fails early when waiting cannot help (pod creation refused by admission, init
 * configuration error), and after `timeoutSec`.
 */
export async function waitForRollout(
  c: Cluster,
  namespace: string,
  name: string,
  selector: string,
  timeoutSec: number,
  log: (line: string) => void,
  pollMs = 2000,
  kind: Workload['kind'] = 'Deployment',
): Promise<V1Pod | undefined> {
  const deadline = Date.now() + timeoutSec * 1000;
  let last = '';
  const say = (line: string) => {
    if (line !== last) log(line);
    last = line;
  };
  const since = Date.now();
  for (;;) {
    const w = await readWorkload(c, namespace, name, kind);
    if (!w) throw new ClusterError(`${kind} ${namespace}/${name} disappeared while waiting for it`, 1, 'not-found');
    const d = w.obj;
    const gen = d.metadata?.generation ?? 0;
    const s: { observedGeneration?: number; replicas?: number; updatedReplicas?: number; readyReplicas?: number; availableReplicas?: number; conditions?: { type: string; status: string; message?: string }[] } = d.status ?? {};
    const want = d.spec?.replicas ?? 1;
    const observed = (s.observedGeneration ?? 0) >= gen;
    const pods = (await listPods(c, namespace, selector)).filter((p) => !p.metadata?.deletionTimestamp);
    const done = observed && (s.updatedReplicas ?? 0) >= want && (s.availableReplicas ?? 0) >= want && (s.replicas ?? 0) === want;
    const summaries = pods.map(podSummary);
    say(
      `rollout: ${s.updatedReplicas ?? 0}/${want} updated, ${s.readyReplicas ?? 0}/${want} ready, ${s.availableReplicas ?? 0}/${want} available` +
        (summaries.length ? ` — ${summaries.map((x) => x.line).join('; ')}` : ''),
    );
    if (done) return pods.find((p) => p.status?.containerStatuses?.[0]?.ready) ?? pods[0];
    const fatal = summaries.find((x) => x.fatal);
    if (fatal) throw new ClusterError(fatal.fatal!, 1, 'rollout-failed');
    const failure = (s.conditions ?? []).find((x) => x.type === 'ReplicaFailure' && x.status === 'True');
    if (pods.length === 0 && (failure || Date.now() - since > 6000)) {
      const events = (await warningEvents(c, namespace)).filter((e) => e.reason === 'FailedCreate');
      const admission = events.reverse().find((e) => ADMISSION_PATTERNS.some((re) => re.test(e.message)));
      const msg = failure?.message ?? admission?.message;
      if (msg && ADMISSION_PATTERNS.some((re) => re.test(msg))) {
        throw new ClusterError(
          `the pod was refused at admission: ${msg}\n` +
            (/security context constraint/i.test(msg)
              ? "On OpenShift the ServiceAccount vpp-server must be allowed to 'use' the vpp-server SCC (the ClusterRoleBinding does that); check 'oc get scc vpp-server' and 'oc adm policy who-can use scc vpp-server'."
              : /PodSecurity/i.test(msg)
                ? `NET_RAW is outside Pod Security 'baseline': label the namespace: kubectl label ns ${namespace} pod-security.kubernetes.io/enforce=privileged --overwrite`
                : ''),
          1,
          'rollout-failed',
        );
      }
    }
    if (Date.now() >= deadline) {
      const events = (await warningEvents(c, namespace)).slice(-5).map((e) => `  ${e.object} ${e.reason}: ${e.message}`);
      throw new ClusterError(
        `the rollout did not finish within ${timeoutSec}s; last state: ${last}` +
          (events.length ? `\nrecent warnings:\n${events.join('\n')}` : '') +
          `\nlook closer with 'kubectl -n ${namespace} describe pod -l ${selector}' and 'kubectl -n ${namespace} logs ${kind === 'StatefulSet' ? 'sts' : 'deploy'}/${name} --all-containers'`,
        3,
        'timeout',
      );
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
