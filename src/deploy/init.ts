/**
 * The init container's work: validate the environment, read the MAC of the MACVLAN interface and
 * write `vpp.conf`, `startup.conf` (the seed's form: the same files serve our dataplane and FD.io
 * VPP) and, when the web root has no content of its own, a default `index.html`.
 * Idempotent: a second run writes nothing that differs.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import {
  ValueError,
  clean,
  collect,
  parseAbsolutePath,
  parseCacheSize,
  parseInterfaceName,
  parseGateway,
  gatewayWithoutIpv4,
  ipv6Twice,
  isIpv6Cidr,
  parseIpCidr,
  parseIpv6Cidr,
  checkGateway6NotOwnLinkLocal,
  parseGateway6,
  type Ipv6Cidr,
  parseMac,
  parseReplicas,
  podOrdinal,
  replicaAddresses,
  replicaAddresses6,
  parsePort,
  parseSocketPath,
  parseVlanId,
  type Ipv4Cidr,
} from './values.js';

/** Defaults of the init container's environment (the seed's values). */
export const INIT_DEFAULTS = {
  HOST_INTERFACE: 'macvlan0',
  WWW_ROOT: '/www',
  CONF_DIR: '/conf',
  HTTP_PORT: '80',
  CACHE_SIZE: '512m',
  CLI_SOCKET: '/run/vpp/cli-vpp1.sock',
  SYSFS_NET: '/sys/class/net',
} as const;

/** The VPP shared-memory API prefix the seed used. */
export const API_SEGMENT_PREFIX = 'vpp1';
export const DEFAULT_INDEX_HTML = 'Welcome\n';

export interface InitSettings {
  hostInterface: string;
  vlanId: number;
  /** the IPv4 address (IP_ADDRESS); absent in an IPv6-only pod, whose address is `ip6` */
  ip?: Ipv4Cidr;
  wwwRoot: string;
  confDir: string;
  httpPort: number;
  cacheSize: string;
  cliSocket: string;
  /** a directory (the mounted web-content ConfigMap) whose files are copied into wwwRoot */
  wwwSource?: string;
  /** where interfaces are looked up: /sys/class/net in production, a fake tree in tests */
  sysfsNet: string;
  /** next hop of the default route (GATEWAY), when given */
  gateway?: string;
  /**
   * The IPv6 address (+ the ordinal in a StatefulSet): IPV6_ADDRESS beside an IPv4 IP_ADDRESS
   * (dual stack), or an IPv6 IP_ADDRESS (IPv6-only, `ip` absent). GATEWAY6, when given.
   */
  ip6?: Ipv6Cidr;
  gateway6?: string;
  /** in a StatefulSet (REPLICAS > 1): this pod's ordinal, from POD_NAME; `ip` (and `ip6`) are then the address + ordinal */
  ordinal?: number;
  /** TLS_DIR (the mounted kubernetes.io/tls Secret) and HTTPS_PORT: an HTTPS listener beside HTTP */
  tls?: { dir: string; port: number };
}

type Env = Record<string, string | undefined>;

/** Reads and validates the init container's environment; throws one error listing every bad value. */
export function initSettingsFromEnv(env: Env): InitSettings {
  const get = (name: keyof typeof INIT_DEFAULTS) => clean(env[name]) ?? INIT_DEFAULTS[name];
  const required = (name: string, example: string): string => {
    const v = clean(env[name]);
    if (v === undefined) throw new ValueError(`${name} is not set: give it, e.g. ${name}=${example}`);
    return v;
  };
  const wwwSource = clean(env['WWW_SOURCE']);
  const s = collect<Omit<InitSettings, 'wwwSource' | 'gateway' | 'ordinal' | 'ip' | 'ip6'> & { ipAny: Ipv4Cidr | Ipv6Cidr }>({
    hostInterface: () => parseInterfaceName(get('HOST_INTERFACE'), 'HOST_INTERFACE'),
    vlanId: () => parseVlanId(required('VLAN_ID', '123'), 'VLAN_ID'),
    // IPv4 (the seed's form; IPV6_ADDRESS beside it for dual stack) or IPv6: an IPv6-only pod
    ipAny: () => parseIpCidr(required('IP_ADDRESS', '192.168.123.150/24'), 'IP_ADDRESS'),
    wwwRoot: () => parseAbsolutePath(get('WWW_ROOT'), 'WWW_ROOT'),
    confDir: () => parseAbsolutePath(get('CONF_DIR'), 'CONF_DIR'),
    httpPort: () => parsePort(get('HTTP_PORT'), 'HTTP_PORT'),
    cacheSize: () => parseCacheSize(get('CACHE_SIZE'), 'CACHE_SIZE'),
    cliSocket: () => parseSocketPath(get('CLI_SOCKET'), 'CLI_SOCKET'),
    sysfsNet: () => parseAbsolutePath(get('SYSFS_NET'), 'SYSFS_NET'),
  });
  const { ipAny, ...rest } = s;
  const ip4 = isIpv6Cidr(ipAny) ? undefined : ipAny;
  const ip6Only = isIpv6Cidr(ipAny) ? ipAny : undefined;
  const out: InitSettings = { ...rest, ...(ip4 !== undefined ? { ip: ip4 } : {}) };
  if (wwwSource !== undefined) out.wwwSource = parseAbsolutePath(wwwSource, 'WWW_SOURCE');
  // Scale-out: every pod of the StatefulSet gets the same environment; its address is
  // IP_ADDRESS + its ordinal, read from its name (POD_NAME, from the downward API).
  const extra = collect<{ replicas: number; ordinal: number | undefined; gateway: string | undefined }>({
    replicas: () => parseReplicas(clean(env['REPLICAS']) ?? '1', 'REPLICAS'),
    ordinal: () => {
      const name = clean(env['POD_NAME']);
      if (clean(env['REPLICAS']) === undefined || clean(env['REPLICAS']) === '1') return undefined;
      if (name === undefined) throw new ValueError('POD_NAME is not set: with REPLICAS above 1 the address comes from the pod ordinal (the manifests set POD_NAME from metadata.name)');
      return podOrdinal(name, 'POD_NAME');
    },
    gateway: () => {
      const g = clean(env['GATEWAY']);
      if (g === undefined) return undefined;
      // an IPv6-only pod has no IPv4 address to route from: refused, not ignored (docs/deploy.md)
      if (ip6Only !== undefined) throw gatewayWithoutIpv4(g, ip6Only, 'GATEWAY');
      return parseGateway(g, ip4, 'GATEWAY');
    },
  });
  if (extra.ordinal !== undefined && extra.ordinal >= extra.replicas) {
    throw new ValueError(`POD_NAME ${clean(env['POD_NAME'])}: ordinal ${extra.ordinal} is not below REPLICAS=${extra.replicas}`);
  }
  if (extra.ordinal !== undefined) out.ordinal = extra.ordinal;
  if (ip4 !== undefined) {
    if (extra.ordinal !== undefined) out.ip = replicaAddresses(ip4, extra.replicas, extra.gateway, 'IP_ADDRESS')[extra.ordinal]!;
    else if (extra.gateway !== undefined) replicaAddresses(ip4, 1, extra.gateway);
  }
  if (extra.gateway !== undefined) out.gateway = extra.gateway;
  // The IPv6 address: IPV6_ADDRESS (dual stack) or the IPv6 IP_ADDRESS (IPv6-only); pod n of a
  // StatefulSet gets it + n, as for IPv4. GATEWAY6 is the next hop of ::/0.
  const ip6Raw = clean(env['IPV6_ADDRESS']);
  if (ip6Raw !== undefined && ip6Only !== undefined) throw ipv6Twice(ip6Only, ip6Raw, 'IPV6_ADDRESS');
  const v6 = ip6Only ?? (ip6Raw === undefined ? undefined : parseIpv6Cidr(ip6Raw, 'IPV6_ADDRESS'));
  const v6What = ip6Only !== undefined ? 'IP_ADDRESS' : 'IPV6_ADDRESS';
  const g6 = clean(env['GATEWAY6']);
  if (g6 !== undefined) out.gateway6 = parseGateway6(g6, v6, 'GATEWAY6', v6What);
  if (v6 !== undefined) {
    const all = replicaAddresses6(v6, extra.ordinal !== undefined ? extra.replicas : 1, out.gateway6, v6What);
    out.ip6 = all[extra.ordinal ?? 0]!;
  }
  const tlsDir = clean(env['TLS_DIR']);
  if (tlsDir !== undefined) {
    const tls = collect<{ dir: string; port: number }>({
      dir: () => parseAbsolutePath(tlsDir, 'TLS_DIR'),
      port: () => parsePort(clean(env['HTTPS_PORT']) ?? '443', 'HTTPS_PORT'),
    });
    if (tls.port === out.httpPort) throw new ValueError(`HTTPS_PORT ${tls.port} is HTTP_PORT too: give them different ports (e.g. 443 and 80)`);
    out.tls = tls;
  } else if (clean(env['HTTPS_PORT']) !== undefined) {
    throw new ValueError('HTTPS_PORT is set but TLS_DIR is not: HTTPS needs the certificate directory (TLS_DIR=/tls, where the TLS_SECRET is mounted)');
  }
  return out;
}

/** Reads `<sysfsNet>/<ifname>/address`; a clear error when the interface is not there. */
export function readInterfaceMac(sysfsNet: string, ifname: string): string {
  const dir = join(sysfsNet, ifname);
  if (!existsSync(dir)) {
    let present = '';
    try {
      present = readdirSync(sysfsNet).sort().join(', ');
    } catch {
      // no listing to offer
    }
    throw new ValueError(
      `interface ${JSON.stringify(ifname)} does not exist (no ${dir}). In Kubernetes it is created by Multus from the ` +
        `pod annotation k8s.v1.cni.cncf.io/networks and the NetworkAttachmentDefinition; check ` +
        `'kubectl describe pod' for a failed network attachment.` +
        (present ? ` Interfaces present: ${present}.` : ''),
    );
  }
  let raw: string;
  try {
    raw = readFileSync(join(dir, 'address'), 'utf8');
  } catch (err) {
    throw new ValueError(`cannot read the MAC address of ${ifname} from ${join(dir, 'address')}: ${(err as Error).message}`);
  }
  return parseMac(raw, `MAC address of ${ifname}`);
}

/** `vpp.conf` in the seed's form. */
export function renderVppConf(s: Pick<InitSettings, 'cliSocket' | 'confDir'>): string {
  return [
    'unix {',
    `  nodaemon cli-listen ${s.cliSocket}`,
    `  startup-config ${s.confDir}/startup.conf`,
    '}',
    `api-segment { prefix ${API_SEGMENT_PREFIX} }`,
    'plugins { plugin dpdk_plugin.so { disable } }',
    '',
  ].join('\n');
}

/**
 * `startup.conf` in the seed's form: the seven commands (and the default route when GATEWAY is
 * set). Dual stack adds the IPv6 address, route and listeners; an IPv6-only pod (no `ip`) has the
 * IPv6 address in the IPv4 one's place and the server on `tcp://::/<port>`, which is what FD.io
 * VPP 24.10 runs too (its one http_static listener, `::` in its URI form).
 */
export function renderStartupConf(
  s: Pick<InitSettings, 'hostInterface' | 'vlanId' | 'ip' | 'wwwRoot' | 'httpPort' | 'cacheSize' | 'gateway' | 'tls' | 'ip6' | 'gateway6'>,
  mac: string,
): string {
  const hw = `host-${s.hostInterface}`;
  const sub = `${hw}.${s.vlanId}`;
  if (s.ip === undefined && s.ip6 === undefined) throw new ValueError('IP_ADDRESS is not set: the sub-interface needs an address');
  const tlsFiles = s.tls !== undefined ? ` cert ${s.tls.dir}/tls.crt key ${s.tls.dir}/tls.key` : '';
  if (s.ip === undefined) {
    // IPv6-only: the server's own URI is IPv6 (`::` = every IPv6 address); no listener add
    return [
      `create host-interface name ${s.hostInterface}`,
      `set interface mac address ${hw} ${mac}`,
      `set int state ${hw} up`,
      `create sub-interfaces ${hw} ${s.vlanId}`,
      `set interface state ${sub} up`,
      `set int ip address ${sub} ${s.ip6!.cidr}`,
      ...(s.gateway6 !== undefined ? [`ip route add ::/0 via ${s.gateway6} ${sub}`] : []),
      `http static server www-root ${s.wwwRoot} uri tcp://::/${s.httpPort} cache-size ${s.cacheSize}`,
      ...(s.tls !== undefined ? [`http static listener add uri tls://::/${s.tls.port}${tlsFiles}`] : []),
      '',
    ].join('\n');
  }
  return [
    `create host-interface name ${s.hostInterface}`,
    `set interface mac address ${hw} ${mac}`,
    `set int state ${hw} up`,
    `create sub-interfaces ${hw} ${s.vlanId}`,
    `set interface state ${sub} up`,
    `set int ip address ${sub} ${s.ip.cidr}`,
    // VPP's line for a default route; only with GATEWAY, so the seed's seven lines stay as they were
    ...(s.gateway !== undefined ? [`ip route add 0.0.0.0/0 via ${s.gateway} ${sub}`] : []),
    // Dual stack (IPV6_ADDRESS, GATEWAY6): VPP's same line, IPv6 (DAD runs when it is added)
    ...(s.ip6 !== undefined ? [`set int ip address ${sub} ${s.ip6.cidr}`] : []),
    ...(s.gateway6 !== undefined ? [`ip route add ::/0 via ${s.gateway6} ${sub}`] : []),
    `http static server www-root ${s.wwwRoot} uri tcp://0.0.0.0/${s.httpPort} cache-size ${s.cacheSize}`,
    // VPP 25.06's second listener of the same server, with our cert/key extension (TLS_SECRET)
    ...(s.tls !== undefined ? [`http static listener add uri tls://0.0.0.0/${s.tls.port}${tlsFiles}`] : []),
    // Dual stack: the same server on IPv6 too (VPP 25.06's second listener; `::` is every IPv6 address)
    ...(s.ip6 !== undefined ? [`http static listener add uri tcp://::/${s.httpPort}`] : []),
    ...(s.ip6 !== undefined && s.tls !== undefined ? [`http static listener add uri tls://::/${s.tls.port}${tlsFiles}`] : []),
    '',
  ].join('\n');
}

/** A directory init must write to is missing or not writable. */
export class InitIoError extends Error {
  readonly exitCode = 1;
  constructor(message: string) {
    super(message);
    this.name = 'InitIoError';
  }
}

export interface InitResult {
  mac: string;
  /** files whose content was (re)written in this run */
  written: string[];
  /** files that already had the right content */
  unchanged: string[];
  /** whether the default index.html was (or already is) the content */
  defaultIndex: boolean;
}

/** Writes `content` to `path` atomically, only if it differs. Returns true when it wrote. */
function writeIfChanged(path: string, content: string | Buffer): boolean {
  const data = typeof content === 'string' ? Buffer.from(content) : content;
  try {
    if (readFileSync(path).equals(data)) return false;
  } catch {
    // missing: write it
  }
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${process.pid}.${Date.now()}.tmp`);
  writeFileSync(tmp, data, { mode: 0o644 });
  renameSync(tmp, path);
  return true;
}

/** Regular files under `dir` (following symlinks), relative paths, sorted; skips Kubernetes' `..data` bookkeeping. */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      if (name.startsWith('..')) continue; // ConfigMap volume internals: ..data, ..2024_…
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) out.push(relative(dir, p).split(sep).join('/'));
    }
  };
  walk(dir);
  return out;
}

/** Does the web root have any content (a file or directory that is not a hidden temp file)? */
function hasContent(dir: string): boolean {
  if (!existsSync(dir)) return false;
  return readdirSync(dir).some((n) => !(n.startsWith('.') && n.endsWith('.tmp')));
}

/** The init container's job. Throws ValueError for bad input or a missing interface. */
export function runInit(s: InitSettings): InitResult {
  const mac = readInterfaceMac(s.sysfsNet, s.hostInterface);
  if (s.gateway6 !== undefined) checkGateway6NotOwnLinkLocal(s.gateway6, mac);
  const written: string[] = [];
  const unchanged: string[] = [];
  /** IO errors say which directory and what to check (an emptyDir not mounted or not writable by the pod's uid). */
  const io = <T>(what: string, dir: string, fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (!e.code) throw err;
      throw new InitIoError(
        `cannot write ${what} ${dir}: ${e.code} (${e.message}). In the pod it is an emptyDir: is it mounted there and ` +
          `writable by uid ${process.getuid?.() ?? '?'}?`,
      );
    }
  };
  const put = (what: string, dir: string, path: string, content: string | Buffer) =>
    (io(what, dir, () => writeIfChanged(path, content)) ? written : unchanged).push(path);

  io('CONF_DIR', s.confDir, () => mkdirSync(s.confDir, { recursive: true }));
  put('CONF_DIR', s.confDir, join(s.confDir, 'vpp.conf'), renderVppConf(s));
  put('CONF_DIR', s.confDir, join(s.confDir, 'startup.conf'), renderStartupConf(s, mac));
  // a StatefulSet pod's own address, for the exec readiness probe (manifests.ts ADDRESS_FILE)
  if (s.ordinal !== undefined) put('CONF_DIR', s.confDir, join(s.confDir, 'address'), `${(s.ip ?? s.ip6)!.cidr}\n`);

  io('WWW_ROOT', s.wwwRoot, () => mkdirSync(s.wwwRoot, { recursive: true }));
  if (s.wwwSource !== undefined) {
    if (!existsSync(s.wwwSource)) throw new ValueError(`WWW_SOURCE ${s.wwwSource} does not exist: is the web-content ConfigMap mounted?`);
    for (const rel of listFiles(s.wwwSource)) put('WWW_ROOT', s.wwwRoot, join(s.wwwRoot, rel), readFileSync(join(s.wwwSource, rel)));
  }
  const index = join(s.wwwRoot, 'index.html');
  let defaultIndex = false;
  if (!hasContent(s.wwwRoot)) {
    put('WWW_ROOT', s.wwwRoot, index, DEFAULT_INDEX_HTML);
    defaultIndex = true;
  } else if (existsSync(index) && readFileSync(index, 'utf8') === DEFAULT_INDEX_HTML) {
    defaultIndex = true;
  }
  return { mac, written, unchanged, defaultIndex };
}
