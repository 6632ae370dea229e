/**
 * Options shared by render, deploy, undeploy and status. Defaults come from the environment
 * (MACVLAN_MASTER, VLAN_ID, IP_ADDRESS, CONTAINER_IMAGE, CONTAINER_IMAGE_VPP — trimmed, since
 * values with a trailing newline were a bug of the original), then from the seed. Every bad value
 * is reported at once, before anything is sent to a cluster.
 */
import { resolve } from 'node:path';
import { DEFAULT_IMAGE, DEFAULT_IMAGE_VPP, type DeployConfig, type Platform, type ProbeMode } from './manifests.js';
import { loadWwwDir } from './www-content.js';
import {
  ValueError,
  ValueErrors,
  clean,
  parseEngine,
  parseImage,
  parseInterfaceName,
  gatewayWithoutIpv4,
  ipv6Twice,
  isIpv6Cidr,
  parseIpCidr,
  parseGateway,
  parseGateway6,
  parseIpv6Cidr,
  parseNamespace,
  parseReplicas,
  parseSecretName,
  parseVlanId,
  replicaAddresses,
  replicaAddresses6,
  type Ipv6Cidr,
} from './values.js';
import { FlagError, flagHelp, parseFlags, type FlagSpec } from '../flags.js';

export const SEED_DEFAULTS = {
  master: 'eno8403np1',
  vlan: '123',
  ip: '192.168.123.150/24',
  namespace: 'vpp-server',
  engine: 'ts',
  replicas: '1',
} as const;

export interface CommandOptions {
  config: DeployConfig;
  /** platform forced by --openshift / --kubernetes; undefined: detect (deploy) or openshift (render) */
  platformOverride?: Platform;
  kubeconfig?: string;
  context?: string;
  /** seconds to wait for the rollout (deploy) */
  timeout: number;
  wait: boolean;
  keepNamespace: boolean;
  help: boolean;
}

interface Spec {
  flag: string;
  takesValue: boolean;
  help: string;
}

export const OPTION_SPECS: Spec[] = [
  { flag: '--master', takesValue: true, help: `worker node interface the MACVLAN sits on (env MACVLAN_MASTER, default ${SEED_DEFAULTS.master})` },
  { flag: '--vlan', takesValue: true, help: `VLAN ID 1-4094 of the userspace sub-interface (env VLAN_ID, default ${SEED_DEFAULTS.vlan})` },
  { flag: '--ip', takesValue: true, help: `host address with prefix (env IP_ADDRESS, default ${SEED_DEFAULTS.ip}); an IPv6 one (e.g. 2001:db8:123::150/64) makes an IPv6-only pod` },
  { flag: '--namespace', takesValue: true, help: `namespace (default ${SEED_DEFAULTS.namespace})` },
  { flag: '--image', takesValue: true, help: `our image (env CONTAINER_IMAGE, default ${DEFAULT_IMAGE})` },
  { flag: '--image-vpp', takesValue: true, help: `FD.io VPP image for --engine vpp (env CONTAINER_IMAGE_VPP, default ${DEFAULT_IMAGE_VPP})` },
  { flag: '--engine', takesValue: true, help: "dataplane: 'ts' (ours, default, NET_RAW only) or 'vpp' (FD.io VPP)" },
  { flag: '--replicas', takesValue: true, help: 'pods (env REPLICAS, default 1: a Deployment); above 1 a StatefulSet, one pod per node, pod n on IP + n' },
  { flag: '--gateway', takesValue: true, help: "next hop of the IPv4 default route, inside --ip's prefix (env GATEWAY; default: none; refused for an IPv6-only pod: use --gateway6)" },
  { flag: '--ipv6', takesValue: true, help: 'dual stack: an IPv6 address with prefix beside --ip (env IPV6_ADDRESS, e.g. 2001:db8:123::150/64; default: none; --engine ts only)' },
  { flag: '--gateway6', takesValue: true, help: 'next hop of an IPv6 default route: link-local or on the prefix of --ipv6 (or of an IPv6 --ip) (env GATEWAY6; default: none)' },
  { flag: '--tls-secret', takesValue: true, help: 'a kubernetes.io/tls Secret (env TLS_SECRET): mounted read-only at /tls, HTTPS on 443 beside HTTP on 80, rotated without a restart (--engine ts only)' },
  { flag: '--www-dir', takesValue: true, help: 'local directory of web content, shipped as a ConfigMap (default: index.html "Welcome")' },
  { flag: '--openshift', takesValue: false, help: 'render for OpenShift: SCC, ClusterRole, ClusterRoleBinding (render default; deploy detects)' },
  { flag: '--kubernetes', takesValue: false, help: "render for vanilla Kubernetes: no SCC; namespace labelled Pod Security 'privileged'" },
  { flag: '--kubeconfig', takesValue: true, help: 'kubeconfig file (default: $KUBECONFIG or ~/.kube/config)' },
  { flag: '--context', takesValue: true, help: 'kubeconfig context (default: the current one)' },
  { flag: '--timeout', takesValue: true, help: 'seconds to wait for the rollout (deploy; default 300)' },
  { flag: '--no-wait', takesValue: false, help: 'do not wait for the rollout (deploy)' },
  { flag: '--keep-namespace', takesValue: false, help: 'leave the namespace in place (undeploy)' },
  { flag: '--probes', takesValue: true, help: "probe kind: 'http' (/readyz and /healthz on the management port; default for --engine ts) or 'exec' (ctl over the CLI socket; default for --engine vpp)" },
  { flag: '--help', takesValue: false, help: 'this text' },
];

export function usage(command: string, summary: string, accepted: string[]): string {
  return [`usage: vpp-server ${command} [options]`, '', summary, '', 'options:', ...flagHelp(flagSpecs(accepted))].join('\n');
}

export const COMMON_FLAGS = [
  '--master', '--vlan', '--ip', '--namespace', '--image', '--image-vpp', '--engine', '--replicas', '--gateway', '--ipv6', '--gateway6', '--tls-secret', '--www-dir',
  '--openshift', '--kubernetes', '--probes', '--help',
];
export const CLUSTER_FLAGS = ['--kubeconfig', '--context'];

/** The accepted flags as util.parseArgs specs (see src/flags.ts); -n is short for --namespace. */
function flagSpecs(accepted: string[]): FlagSpec[] {
  return OPTION_SPECS.filter((s) => accepted.includes(s.flag)).map((s) => ({
    name: s.flag.slice(2),
    ...(s.flag === '--namespace' ? { short: 'n' } : s.flag === '--help' ? { short: 'h' } : {}),
    ...(s.takesValue ? { value: 'VALUE' } : {}),
    help: s.help,
  }));
}

/**
 * Parses `args` (util.parseArgs: `--flag value` and `--flag=value`) with defaults from `env`.
 * Throws a ValueError listing every problem (unknown flags with the valid ones, missing values,
 * invalid values).
 */
export function parseCommandOptions(
  args: string[],
  env: Record<string, string | undefined>,
  accepted: string[],
): CommandOptions {
  const problems: string[] = [];
  let parsed: Record<string, string | true> = {};
  try {
    parsed = parseFlags(args, flagSpecs(accepted)).values;
  } catch (err) {
    if (!(err instanceof FlagError)) throw err;
    problems.push(...err.problems);
  }
  const raw = new Map<string, string | true>(Object.entries(parsed).map(([k, v]) => [`--${k}`, v]));
  const str = (flag: string, envName: string | undefined, dflt: string): string => {
    const v = raw.get(flag);
    if (typeof v === 'string') return v;
    return (envName ? clean(env[envName]) : undefined) ?? dflt;
  };
  const attempt = <T>(fn: () => T): T | undefined => {
    try {
      return fn();
    } catch (err) {
      if (err instanceof ValueError) problems.push(err.message);
      else throw err;
      return undefined;
    }
  };
  const master = attempt(() => parseInterfaceName(str('--master', 'MACVLAN_MASTER', SEED_DEFAULTS.master), '--master (MACVLAN_MASTER)'));
  const vlanId = attempt(() => parseVlanId(str('--vlan', 'VLAN_ID', SEED_DEFAULTS.vlan), '--vlan (VLAN_ID)'));
  // IP_ADDRESS: IPv4 (alone, or beside IPV6_ADDRESS for dual stack) or IPv6 (an IPv6-only pod)
  const ipAny = attempt(() => parseIpCidr(str('--ip', 'IP_ADDRESS', SEED_DEFAULTS.ip), '--ip (IP_ADDRESS)'));
  const ip = ipAny !== undefined && !isIpv6Cidr(ipAny) ? ipAny : undefined;
  const ip6Only = ipAny !== undefined && isIpv6Cidr(ipAny) ? ipAny : undefined;
  const namespace = attempt(() => parseNamespace(str('--namespace', undefined, SEED_DEFAULTS.namespace), '--namespace'));
  const image = attempt(() => parseImage(str('--image', 'CONTAINER_IMAGE', DEFAULT_IMAGE), '--image (CONTAINER_IMAGE)'));
  const imageVpp = attempt(() => parseImage(str('--image-vpp', 'CONTAINER_IMAGE_VPP', DEFAULT_IMAGE_VPP), '--image-vpp (CONTAINER_IMAGE_VPP)'));
  const engine = attempt(() => parseEngine(str('--engine', undefined, SEED_DEFAULTS.engine), '--engine'));
  const replicas = attempt(() => parseReplicas(str('--replicas', 'REPLICAS', SEED_DEFAULTS.replicas), '--replicas (REPLICAS)'));
  const gatewayRaw = str('--gateway', 'GATEWAY', '');
  const gateway =
    gatewayRaw.trim() === ''
      ? undefined
      : ip6Only !== undefined
        ? attempt(() => {
            // an IPv6-only pod has no IPv4 route: refused rather than ignored (docs/deploy.md)
            throw gatewayWithoutIpv4(gatewayRaw, ip6Only, '--gateway (GATEWAY)');
          })
        : attempt(() => parseGateway(gatewayRaw, ip, '--gateway (GATEWAY)'));
  // every pod's address (IP_ADDRESS + ordinal) inside the prefix, none of them the gateway
  if (ip !== undefined && replicas !== undefined && (gatewayRaw.trim() === '' || gateway !== undefined)) {
    attempt(() => replicaAddresses(ip, replicas, gateway, '--ip (IP_ADDRESS)'));
  }
  const ipv6Raw = str('--ipv6', 'IPV6_ADDRESS', '');
  let ipv6: Ipv6Cidr | undefined;
  if (ipv6Raw.trim() !== '') {
    ipv6 = ip6Only !== undefined ? attempt(() => { throw ipv6Twice(ip6Only, ipv6Raw, '--ipv6 (IPV6_ADDRESS)'); }) : attempt(() => parseIpv6Cidr(ipv6Raw, '--ipv6 (IPV6_ADDRESS)'));
  }
  // the pod's IPv6 address: IP_ADDRESS (IPv6-only) or IPV6_ADDRESS (dual stack)
  const v6 = ip6Only ?? ipv6;
  const v6What = ip6Only !== undefined ? '--ip (IP_ADDRESS)' : '--ipv6 (IPV6_ADDRESS)';
  const v6Broken = (ipv6Raw.trim() !== '' && ipv6 === undefined) || (ipAny === undefined && ipv6Raw.trim() === '');
  const gateway6Raw = str('--gateway6', 'GATEWAY6', '');
  const gateway6 =
    gateway6Raw.trim() === '' || v6Broken ? undefined : attempt(() => parseGateway6(gateway6Raw, v6, '--gateway6 (GATEWAY6)', ip6Only !== undefined ? 'IP_ADDRESS' : 'IPV6_ADDRESS'));
  // every pod's IPv6 address (+ ordinal, as for IPv4) inside the prefix, none of them GATEWAY6
  if (v6 !== undefined && replicas !== undefined && (gateway6Raw.trim() === '' || gateway6 !== undefined)) {
    attempt(() => replicaAddresses6(v6, replicas, gateway6, v6What));
  }
  if (ipv6 !== undefined && engine === 'vpp') {
    // VPP 24.10 has one http_static listener (IPv4 or IPv6); a second one is 25.06 syntax.
    problems.push(
      `--ipv6 (IPV6_ADDRESS) ${ipv6.cidr} needs --engine ts: dual stack serves HTTP on IPv4 and IPv6 with a second listener (http static listener add, VPP 25.06), which FD.io VPP 24.10 does not have; deploy with --engine ts, or without IPV6_ADDRESS`,
    );
  }
  const probes = attempt((): ProbeMode => {
    // Our engine has a management endpoint for HTTP probes; FD.io VPP is probed through its CLI.
    const p = str('--probes', undefined, engine === 'vpp' ? 'exec' : 'http').trim();
    if (p !== 'exec' && p !== 'http') throw new ValueError(`--probes ${JSON.stringify(p)} is not a probe kind: use 'exec' or 'http'`);
    if (p === 'http' && engine === 'vpp') throw new ValueError("--probes http needs --engine ts: FD.io VPP has no management endpoint (use 'exec')");
    return p;
  });
  const tlsRaw = str('--tls-secret', 'TLS_SECRET', '');
  const tlsSecret = tlsRaw.trim() === '' ? undefined : attempt(() => parseSecretName(tlsRaw, '--tls-secret (TLS_SECRET)'));
  if (tlsSecret !== undefined && engine === 'vpp') {
    problems.push(
      `--tls-secret (TLS_SECRET) ${tlsSecret} needs --engine ts: FD.io VPP 24.10 cannot load a certificate (its tls:// serves a built-in test certificate); deploy with --engine ts, or without TLS_SECRET`,
    );
  }
  const wwwDirRaw = raw.get('--www-dir');
  const www = typeof wwwDirRaw === 'string' && clean(wwwDirRaw) !== undefined ? attempt(() => loadWwwDir(resolve(clean(wwwDirRaw)!))) : undefined;
  if (raw.has('--openshift') && raw.has('--kubernetes')) problems.push('--openshift and --kubernetes exclude each other: give one');
  const platformOverride: Platform | undefined = raw.has('--openshift') ? 'openshift' : raw.has('--kubernetes') ? 'kubernetes' : undefined;
  let timeout = 300;
  const t = raw.get('--timeout');
  if (typeof t === 'string') {
    if (!/^[0-9]+$/.test(t.trim()) || Number(t) < 1) problems.push(`--timeout ${JSON.stringify(t)} is not a number of seconds (a whole number, at least 1)`);
    else timeout = Number(t);
  }
  if (problems.length === 1) throw new ValueError(problems[0]!);
  if (problems.length > 1) throw new ValueErrors(problems);
  const opts: CommandOptions = {
    config: {
      master: master!,
      vlanId: vlanId!,
      ...(ip !== undefined ? { ip } : {}),
      namespace: namespace!,
      image: image!,
      imageVpp: imageVpp!,
      engine: engine!,
      platform: platformOverride ?? 'openshift',
      probes: probes!,
      ...(replicas !== undefined && replicas > 1 ? { replicas } : {}),
      ...(gateway !== undefined ? { gateway } : {}),
      ...(v6 !== undefined ? { ipv6: v6.cidr } : {}),
      ...(gateway6 !== undefined ? { gateway6 } : {}),
      ...(tlsSecret !== undefined ? { tlsSecret } : {}),
      ...(www ? { www } : {}),
    },
    timeout,
    wait: !raw.has('--no-wait'),
    keepNamespace: raw.has('--keep-namespace'),
    help: raw.has('--help'),
  };
  if (platformOverride) opts.platformOverride = platformOverride;
  const kc = raw.get('--kubeconfig');
  if (typeof kc === 'string') opts.kubeconfig = kc;
  const ctx = raw.get('--context');
  if (typeof ctx === 'string') opts.context = ctx;
  return opts;
}

/** Prints a ValueError the way all our commands do; returns the exit code. */
export function reportValueError(command: string, err: ValueError): number {
  const lines = err.message.split('\n');
  console.error(
    lines.length > 1
      ? `vpp-server ${command}: invalid options:\n  ${lines.join('\n  ')}`
      : `vpp-server ${command}: ${lines[0]}`,
  );
  return err.exitCode;
}
