/**
 * Validation of the values that configure a deployment and the init container: VLAN IDs, IPv4
 * CIDRs, interface names, ports, paths, namespaces, image references. Every parser trims stray
 * whitespace and newlines first (the original's env values carried a trailing newline) and throws
 * a `ValueError` whose message says what was wrong and what is valid.
 */
import { formatIpv4, parseIpv4, prefixMask } from '../wire/address.js';
import { eui64LinkLocal, formatIpv6, ip6Network, ip6PrefixMatch, isIp6LinkLocal, isIp6Loopback, isIp6Multicast, isIp6Unspecified, isIp6V4Mapped, parseIpv6 } from '../wire/ipv6-address.js';

/** A bad value given by the user. `exitCode` 2 is the usage-error convention of our commands. */
export class ValueError extends Error {
  readonly code = 'EINVAL';
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'ValueError';
  }
}

/** Several bad values at once: the message lists them all, one per line. */
export class ValueErrors extends ValueError {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ValueErrors';
  }
}

/** Trims whitespace and newlines; an empty result counts as "not set". */
export function clean(raw: string | undefined | null): string | undefined {
  if (raw === undefined || raw === null) return undefined;
  const v = raw.trim();
  return v === '' ? undefined : v;
}

function show(raw: string): string {
  return JSON.stringify(raw);
}

export const VLAN_MIN = 1;
export const VLAN_MAX = 4094;

/** An 802.1Q VLAN ID usable for a sub-interface: 1–4094. */
export function parseVlanId(raw: string | number, what = 'VLAN_ID'): number {
  const s = String(raw).trim();
  if (!/^[0-9]+$/.test(s)) {
    throw new ValueError(`${what} ${show(s)} is not a VLAN ID: expected a whole number from ${VLAN_MIN} to ${VLAN_MAX}`);
  }
  const n = Number(s);
  if (n === 0) {
    throw new ValueError(
      `${what} 0 is not usable: VLAN 0 marks priority-tagged frames, which are treated as untagged; use ${VLAN_MIN}–${VLAN_MAX}`,
    );
  }
  if (n === 4095) throw new ValueError(`${what} 4095 is reserved by IEEE 802.1Q; use ${VLAN_MIN}–${VLAN_MAX}`);
  if (n < VLAN_MIN || n > VLAN_MAX) throw new ValueError(`${what} ${s} is out of range: use ${VLAN_MIN}–${VLAN_MAX}`);
  return n;
}

/** An IPv4 interface address with its prefix, e.g. 192.168.123.150/24. */
export interface Ipv4Cidr {
  /** dotted quad of the address */
  address: string;
  prefix: number;
  /** `address/prefix`, normalised */
  cidr: string;
  /** dotted quad of the network address */
  network: string;
  /** dotted quad of the broadcast address (equals the address for /31 and /32) */
  broadcast: string;
}

function parseDottedQuad(s: string, what: string, whole: string): number {
  const parts = s.split('.');
  if (parts.length !== 4) {
    throw new ValueError(`${what} ${show(whole)}: ${show(s)} is not an IPv4 address (four numbers 0–255 separated by dots)`);
  }
  for (const p of parts) {
    if (!/^[0-9]{1,3}$/.test(p)) {
      throw new ValueError(`${what} ${show(whole)}: octet ${show(p)} is not a number from 0 to 255`);
    }
    if (p.length > 1 && p.startsWith('0')) {
      throw new ValueError(`${what} ${show(whole)}: octet ${show(p)} has a leading zero (ambiguous: octal or decimal?); write it without`);
    }
    if (Number(p) > 255) throw new ValueError(`${what} ${show(whole)}: octet ${p} is greater than 255`);
  }
  return parseIpv4(s)!;
}

/**
 * An IPv4 address with a prefix length, to be assigned to an interface: the address must be a
 * host address of its subnet (not the network or broadcast address for prefixes up to /30) and
 * a unicast address (not 0.0.0.0/8, loopback, multicast or reserved).
 */
export function parseIpv4Cidr(raw: string, what = 'IP_ADDRESS'): Ipv4Cidr {
  const s = raw.trim();
  const slash = s.indexOf('/');
  if (slash < 0) {
    throw new ValueError(`${what} ${show(s)} has no prefix length: write the address with its subnet mask as a prefix, e.g. 192.168.123.150/24`);
  }
  const addrPart = s.slice(0, slash);
  const prefixPart = s.slice(slash + 1);
  const addr = parseDottedQuad(addrPart, what, s);
  if (!/^[0-9]{1,2}$/.test(prefixPart) || Number(prefixPart) < 1 || Number(prefixPart) > 32) {
    throw new ValueError(`${what} ${show(s)}: prefix length ${show(prefixPart)} is not a number from 1 to 32`);
  }
  const prefix = Number(prefixPart);
  const mask = prefixMask(prefix);
  const network = (addr & mask) >>> 0;
  const broadcast = (network | (~mask >>> 0)) >>> 0;
  const first = addr >>> 24;
  if (first === 0) throw new ValueError(`${what} ${show(s)}: 0.0.0.0/8 addresses mean "this network" and cannot be assigned`);
  if (first === 127) throw new ValueError(`${what} ${show(s)}: 127.0.0.0/8 is loopback, not reachable on a VLAN`);
  if (first >= 224 && first <= 239) throw new ValueError(`${what} ${show(s)}: ${addrPart} is a multicast address; use a unicast host address`);
  if (first >= 240) throw new ValueError(`${what} ${show(s)}: ${addrPart} is in the reserved range 240.0.0.0/4`);
  if (prefix <= 30) {
    if (addr === network) {
      throw new ValueError(
        `${what} ${show(s)} is the network address of ${formatIpv4(network)}/${prefix}; use a host address from ` +
          `${formatIpv4(network + 1)} to ${formatIpv4(broadcast - 1)}`,
      );
    }
    if (addr === broadcast) {
      throw new ValueError(
        `${what} ${show(s)} is the broadcast address of ${formatIpv4(network)}/${prefix}; use a host address from ` +
          `${formatIpv4(network + 1)} to ${formatIpv4(broadcast - 1)}`,
      );
    }
  }
  const address = formatIpv4(addr);
  return { address, prefix, cidr: `${address}/${prefix}`, network: formatIpv4(network), broadcast: formatIpv4(broadcast) };
}

/** A Linux network interface name (what the kernel's dev_valid_name accepts): 1–15 bytes, no '/', ':' or whitespace. */
export function parseInterfaceName(raw: string, what = 'HOST_INTERFACE'): string {
  const s = raw.trim();
  if (s === '') throw new ValueError(`${what} is empty: give a network interface name such as macvlan0`);
  if (Buffer.byteLength(s) > 15) throw new ValueError(`${what} ${show(s)} is too long: Linux interface names have at most 15 characters`);
  if (s === '.' || s === '..' || /[/:\s]/.test(s) || /[^\x21-\x7e]/.test(s)) {
    throw new ValueError(`${what} ${show(s)} is not a valid interface name: use letters, digits, '-', '_' or '.', with no '/', ':' or spaces`);
  }
  return s;
}

/** A MAC address as `xx:xx:xx:xx:xx:xx`, returned lower-case. */
export function parseMac(raw: string, what = 'MAC address'): string {
  const s = raw.trim().toLowerCase();
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(s)) throw new ValueError(`${what} ${show(s)} is not a MAC address like c6:b4:b5:74:11:88`);
  if (s === '00:00:00:00:00:00') throw new ValueError(`${what} is 00:00:00:00:00:00: the interface has no hardware address`);
  return s;
}

export function parsePort(raw: string | number, what = 'HTTP_PORT'): number {
  const s = String(raw).trim();
  if (!/^[0-9]+$/.test(s) || Number(s) < 1 || Number(s) > 65535) {
    throw new ValueError(`${what} ${show(s)} is not a TCP port: expected a whole number from 1 to 65535`);
  }
  return Number(s);
}

/** A cache size as VPP writes it: a number with an optional k, m or g suffix (e.g. 512m). */
export function parseCacheSize(raw: string, what = 'CACHE_SIZE'): string {
  const s = raw.trim().toLowerCase();
  if (!/^[1-9][0-9]*[kmg]?$/.test(s)) throw new ValueError(`${what} ${show(s)} is not a size: expected a number with an optional k, m or g suffix, e.g. 512m`);
  return s;
}

/** An absolute path that can stand as one token in a VPP config file (no whitespace). */
export function parseAbsolutePath(raw: string, what: string): string {
  const s = raw.trim();
  if (!s.startsWith('/')) throw new ValueError(`${what} ${show(s)} is not an absolute path (it must start with '/')`);
  if (/[\s{}]/.test(s) || /[^\x20-\x7e]/.test(s)) {
    throw new ValueError(`${what} ${show(s)} contains spaces, braces or control characters, which the VPP configuration syntax cannot carry`);
  }
  if (s.split('/').includes('..')) throw new ValueError(`${what} ${show(s)} must not contain '..'`);
  return s.length > 1 ? s.replace(/\/+$/, '') : s;
}

/** A Unix socket path: absolute, and short enough for sun_path (107 bytes). */
export function parseSocketPath(raw: string, what = 'CLI_SOCKET'): string {
  const s = parseAbsolutePath(raw, what);
  if (Buffer.byteLength(s) > 107) throw new ValueError(`${what} ${show(s)} is longer than the 107 bytes a Unix socket path can have`);
  return s;
}

/** A Kubernetes namespace name: an RFC 1123 DNS label. */
export function parseNamespace(raw: string, what = '--namespace'): string {
  const s = raw.trim();
  if (s.length > 63 || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(s)) {
    throw new ValueError(`${what} ${show(s)} is not a valid namespace: lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters`);
  }
  return s;
}

/** A Secret name (DNS-1123 subdomain): lower-case letters, digits, '-' and '.', at most 253 characters. */
export function parseSecretName(raw: string, what = '--tls-secret'): string {
  const s = raw.trim();
  if (s.length > 253 || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(s)) {
    throw new ValueError(`${what} ${show(s)} is not a valid Secret name: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters`);
  }
  return s;
}

const IMAGE_RE =
  /^(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

/** A container image reference such as quay.io/org/name:tag or name@sha256:…. */
export function parseImage(raw: string, what = '--image'): string {
  const s = raw.trim();
  if (!IMAGE_RE.test(s)) {
    throw new ValueError(`${what} ${show(s)} is not an image reference: expected [registry[:port]/]path[:tag][@sha256:digest] with a lower-case path, e.g. quay.io/example/vpp-server:latest`);
  }
  return s;
}

export type Engine = 'ts' | 'vpp';
export const ENGINES: readonly Engine[] = ['ts', 'vpp'];

export function parseEngine(raw: string, what = '--engine'): Engine {
  const s = raw.trim();
  if (s === 'ts' || s === 'vpp') return s;
  throw new ValueError(`${what} ${show(s)} is not an engine: use 'ts' (our TypeScript dataplane, the default) or 'vpp' (FD.io VPP)`);
}

/** Parses every field with its parser and throws one ValueErrors listing every problem. */
export function collect<T extends Record<string, unknown>>(parsers: { [K in keyof T]: () => T[K] }): T {
  const out: Partial<T> = {};
  const problems: string[] = [];
  for (const key of Object.keys(parsers) as (keyof T)[]) {
    try {
      out[key] = parsers[key]();
    } catch (err) {
      if (err instanceof ValueError) problems.push(err.message);
      else throw err;
    }
  }
  if (problems.length === 1) throw new ValueError(problems[0]!);
  if (problems.length > 1) throw new ValueErrors(problems);
  return out as T;
}

export const REPLICAS_MAX = 1000;

/** REPLICAS: how many pods (1: a Deployment, as always; more: a StatefulSet, one pod per node). */
export function parseReplicas(raw: string | number, what = 'REPLICAS'): number {
  const s = String(raw).trim();
  if (!/^[0-9]+$/.test(s)) throw new ValueError(`${what} ${show(s)} is not a number of pods: expected a whole number from 1 to ${REPLICAS_MAX}`);
  const n = Number(s);
  if (n === 0) throw new ValueError(`${what} 0: at least one pod is needed (to remove the deployment, use undeploy)`);
  if (n > REPLICAS_MAX) throw new ValueError(`${what} ${s} is more than ${REPLICAS_MAX} pods`);
  return n;
}

function cidrOf(addr: number, ip: Ipv4Cidr): Ipv4Cidr {
  const address = formatIpv4(addr >>> 0);
  return { address, prefix: ip.prefix, cidr: `${address}/${ip.prefix}`, network: ip.network, broadcast: ip.broadcast };
}

/**
 * The address of pod ordinal `n` of a StatefulSet: IP_ADDRESS + n, in the same prefix. Throws when
 * it leaves the prefix or lands on the network or broadcast address.
 */
export function ordinalAddress(ip: Ipv4Cidr, n: number, what = 'IP_ADDRESS'): Ipv4Cidr {
  const base = parseIpv4(ip.address)!;
  const network = parseIpv4(ip.network)!;
  const broadcast = parseIpv4(ip.broadcast)!;
  const addr = base + n;
  const lastHost = ip.prefix <= 30 ? broadcast - 1 : broadcast;
  if (addr > lastHost) {
    const fits = lastHost - base + 1;
    throw new ValueError(
      `${what} ${ip.cidr}: pod ordinal ${n} would get ${addr > 0xffffffff ? 'an address past 255.255.255.255' : formatIpv4(addr >>> 0)}, ` +
        `${addr === broadcast ? `the broadcast address of ${ip.network}/${ip.prefix}` : `outside ${ip.network}/${ip.prefix}`}: ` +
        `from ${ip.address} the prefix has room for ${fits} pod${fits === 1 ? '' : 's'} (last host address ${formatIpv4(lastHost)}); ` +
        `start lower or use fewer replicas`,
    );
  }
  if (addr === network && ip.prefix <= 30) throw new ValueError(`${what} ${ip.cidr}: pod ordinal ${n} would get the network address ${ip.network}`);
  return cidrOf(addr, ip);
}

/** Every pod's address, ordinal 0 to replicas-1, each checked; one error naming the first that does not fit, and the gateway clash if any. */
export function replicaAddresses(ip: Ipv4Cidr, replicas: number, gateway?: string, what = 'IP_ADDRESS'): Ipv4Cidr[] {
  const out: Ipv4Cidr[] = [];
  for (let n = 0; n < replicas; n++) out.push(ordinalAddress(ip, n, what));
  if (gateway !== undefined) {
    const clash = out.findIndex((a) => a.address === gateway);
    if (clash >= 0) {
      throw new ValueError(
        replicas === 1
          ? `GATEWAY ${gateway} is the pod's own address ${ip.cidr}: give the router's address`
          : `GATEWAY ${gateway} is the address of pod ordinal ${clash} (${out[0]!.address}–${out.at(-1)!.address} for ${replicas} replicas): give the router's address, outside that range`,
      );
    }
  }
  return out;
}

/**
 * GATEWAY: the next hop of the default route (`ip route add 0.0.0.0/0 via <GATEWAY> …`): an IPv4
 * host address inside the interface's prefix, not its network or broadcast address (whether it
 * is the pod's own address is checked with the replicas, by replicaAddresses).
 */
export function parseGateway(raw: string, ip: Ipv4Cidr | undefined, what = 'GATEWAY'): string {
  const s = raw.trim();
  if (s.includes('/')) throw new ValueError(`${what} ${show(s)}: give the router's address alone, without a prefix length (e.g. 192.168.123.1)`);
  const g = parseDottedQuad(s, what, s);
  const address = formatIpv4(g);
  if (ip === undefined) return address;
  const mask = prefixMask(ip.prefix);
  if (((g & mask) >>> 0) !== parseIpv4(ip.network)) {
    throw new ValueError(`${what} ${address} is not inside ${ip.network}/${ip.prefix}, the prefix of ${ip.cidr}: the next hop must be on the interface's subnet`);
  }
  if (ip.prefix <= 30 && (address === ip.network || address === ip.broadcast)) {
    throw new ValueError(`${what} ${address} is the ${address === ip.network ? 'network' : 'broadcast'} address of ${ip.network}/${ip.prefix}: give the router's host address`);
  }
  if (address === ip.address) throw new ValueError(`${what} ${address} is the pod's own address ${ip.cidr}: give the router's address`);
  return address;
}

/** The ordinal of a StatefulSet pod from its name (`vpp-server-2` → 2). */
export function podOrdinal(podName: string, what = 'POD_NAME'): number {
  const m = /-([0-9]+)$/.exec(podName.trim());
  if (!m) throw new ValueError(`${what} ${show(podName.trim())} does not end in -<ordinal>: a StatefulSet's pods are named <name>-0, <name>-1, …`);
  return Number(m[1]);
}

export interface Ipv6Cidr {
  /** RFC 5952 text */
  address: string;
  prefix: number;
  cidr: string;
  bytes: Buffer;
}

/**
 * An IPv6 address with a prefix length for an interface: a prefix length of 1-128, and a unicast
 * host address: not ::, ::1, multicast, link-local (made from the MAC), IPv4-mapped, nor the
 * subnet-router anycast address of its prefix (all host bits zero, for prefixes up to /126).
 */
export function parseIpv6Cidr(raw: string, what = 'IPV6_ADDRESS'): Ipv6Cidr {
  const s = raw.trim();
  const slash = s.indexOf('/');
  if (slash < 0) throw new ValueError(`${what} ${show(s)} has no prefix length: write it with one, e.g. 2001:db8:123::150/64`);
  const addrPart = s.slice(0, slash);
  const prefixPart = s.slice(slash + 1);
  const bytes = parseIpv6(addrPart);
  if (bytes === null) throw new ValueError(`${what} ${show(s)}: ${show(addrPart)} is not an IPv6 address (e.g. 2001:db8:123::150/64)`);
  if (!/^[0-9]{1,3}$/.test(prefixPart) || Number(prefixPart) < 1 || Number(prefixPart) > 128) {
    throw new ValueError(`${what} ${show(s)}: prefix length ${show(prefixPart)} is not a number from 1 to 128`);
  }
  const prefix = Number(prefixPart);
  const bad = isIp6Unspecified(bytes)
    ? 'is the unspecified address ::'
    : isIp6Loopback(bytes)
      ? 'is the loopback address ::1'
      : isIp6Multicast(bytes)
        ? 'is a multicast address'
        : isIp6LinkLocal(bytes)
          ? 'is link-local (fe80::/10): the dataplane makes its link-local address from the MAC; give a global or unique local address'
          : isIp6V4Mapped(bytes)
            ? 'is IPv4-mapped (::ffff:0:0/96): put an IPv4 address in IP_ADDRESS instead'
            : isIp6V4Compatible(bytes)
              ? 'is IPv4-compatible (::/96, deprecated by RFC 4291 §2.5.5.1): give a global or unique local address, or an IPv4 address in IP_ADDRESS'
              : isIp6SiteLocal(bytes)
                ? 'is site-local (fec0::/10, deprecated by RFC 3879): give a global or unique local (fd00::/8) address'
                : prefix <= 126 && ip6Network(bytes, prefix).equals(bytes)
                  ? `is the subnet-router anycast address of ${formatIpv6(bytes)}/${prefix}; use a host address`
                  : isIp6ReservedAnycast(bytes, prefix)
                    ? `is a reserved subnet anycast address of ${formatIpv6(ip6Network(bytes, prefix))}/${prefix} (RFC 2526: interface IDs fdff:ffff:ffff:ff80–fdff:ffff:ffff:ffff); use a host address`
                    : null;
  if (bad !== null) throw new ValueError(`${what} ${show(s)} ${bad}`);
  const address = formatIpv6(bytes);
  return { address, prefix, cidr: `${address}/${prefix}`, bytes };
}

/** ::/96 except :: and ::1: an IPv4-compatible address (RFC 4291 §2.5.5.1, deprecated). */
function isIp6V4Compatible(b: Buffer): boolean {
  for (let i = 0; i < 12; i++) if (b[i] !== 0) return false;
  return !isIp6Unspecified(b) && !isIp6Loopback(b);
}

/** fec0::/10, site-local (deprecated by RFC 3879). */
function isIp6SiteLocal(b: Buffer): boolean {
  return b[0] === 0xfe && (b[1]! & 0xc0) === 0xc0;
}

/**
 * RFC 2526 reserved subnet anycast addresses: with 64-bit (EUI-64 format) interface IDs, i.e. on
 * a prefix of /64 or shorter, the IDs fdff:ffff:ffff:ff80 to fdff:ffff:ffff:ffff (anycast IDs 0-127).
 */
function isIp6ReservedAnycast(b: Buffer, prefix: number): boolean {
  if (prefix > 64) return false;
  if (b[8] !== 0xfd || (b[15]! & 0x80) === 0) return false;
  for (let i = 9; i < 15; i++) if (b[i] !== 0xff) return false;
  return true;
}

/** The EUI-64 interface ID is all zero: fe80:: is the subnet-router anycast address of fe80::/64. */
function isZeroInterfaceId(b: Buffer): boolean {
  for (let i = 8; i < 16; i++) if (b[i] !== 0) return false;
  return true;
}

/**
 * GATEWAY6 must not be one of the pod's own link-local addresses: the dataplane's EUI-64 of the
 * MAC, or (untagged, where the kernel runs IPv6 on the interface and owns that one) its variant
 * with the universal/local bit flipped (ip6-link.ts). Checked by init, which reads the MAC.
 */
export function checkGateway6NotOwnLinkLocal(gateway6: string, mac: string, what = 'GATEWAY6'): void {
  const g = parseIpv6(gateway6);
  const m = Buffer.from(mac.replace(/[:-]/g, ''), 'hex');
  if (g === null || m.length !== 6 || !isIp6LinkLocal(g)) return;
  const own = eui64LinkLocal(m);
  const flipped = Buffer.from(own);
  flipped[8] ^= 0x02;
  if (g.equals(own) || g.equals(flipped)) {
    throw new ValueError(
      `${what} ${gateway6} is the pod's own link-local address (made from the interface's MAC ${mac}): give the router's address`,
    );
  }
}

/**
 * GATEWAY6: the IPv6 default route's next hop: link-local (the usual router address) or on the
 * prefix of the pod's IPv6 address. `source` names where that address came from: IPV6_ADDRESS
 * (dual stack) or IP_ADDRESS (an IPv6-only pod).
 */
export function parseGateway6(raw: string, ip: Ipv6Cidr | undefined, what = 'GATEWAY6', source = 'IPV6_ADDRESS'): string {
  const s = raw.trim();
  if (s.includes('/')) throw new ValueError(`${what} ${show(s)}: give the router's address alone, without a prefix length (e.g. fe80::1)`);
  const b = parseIpv6(s);
  if (b === null) throw new ValueError(`${what} ${show(s)} is not an IPv6 address (e.g. fe80::1 or 2001:db8:123::1)`);
  if (isIp6Unspecified(b) || isIp6Loopback(b) || isIp6Multicast(b) || isIp6V4Mapped(b)) throw new ValueError(`${what} ${show(s)} is not a unicast address: give the router's address`);
  if (ip === undefined) {
    throw new ValueError(
      `${what} is set but IPV6_ADDRESS is not, nor is IP_ADDRESS an IPv6 address: the IPv6 default route needs an IPv6 address ` +
        '(IPV6_ADDRESS beside an IPv4 IP_ADDRESS for dual stack, or an IPv6 IP_ADDRESS for an IPv6-only pod)',
    );
  }
  if (isIp6LinkLocal(b) && isZeroInterfaceId(b)) throw new ValueError(`${what} ${show(s)} is the subnet-router anycast address of fe80::/64, not a router's address (e.g. fe80::1)`);
  if (!isIp6LinkLocal(b)) {
    if (!ip6PrefixMatch(b, 0, ip.bytes, 0, ip.prefix)) throw new ValueError(`${what} ${show(s)} is not on ${formatIpv6(ip6Network(ip.bytes, ip.prefix))}/${ip.prefix} (${source}): give a router on that prefix, or its link-local address`);
    if (b.equals(ip.bytes)) throw new ValueError(`${what} ${show(s)} is the pod's own address ${ip.cidr}: give the router's address`);
  }
  return formatIpv6(b);
}

const bigOf = (b: Buffer): bigint => BigInt(`0x${b.toString('hex')}`);
const bytesOf = (v: bigint): Buffer => Buffer.from(v.toString(16).padStart(32, '0'), 'hex');
const ALL_ONES_128 = (1n << 128n) - 1n;

/** The last address of the prefix of `ip` (all host bits one). */
function lastOfPrefix6(ip: Ipv6Cidr): bigint {
  const hostMask = ip.prefix === 128 ? 0n : ALL_ONES_128 >> BigInt(ip.prefix);
  return bigOf(ip.bytes) | hostMask;
}

/**
 * The IPv6 address of pod ordinal `n` of a StatefulSet: the pod's IPv6 address + n, in the same
 * prefix (IPv6 has no broadcast address: every address up to the last of the prefix is a host).
 * Throws, saying how many pods the prefix has room for, when it leaves the prefix.
 */
export function ordinalAddress6(ip: Ipv6Cidr, n: number, what = 'IPV6_ADDRESS'): Ipv6Cidr {
  const base = bigOf(ip.bytes);
  const addr = base + BigInt(n);
  const last = lastOfPrefix6(ip);
  if (addr > last) {
    const fits = last - base + 1n;
    throw new ValueError(
      `${what} ${ip.cidr}: pod ordinal ${n} would get ${addr > ALL_ONES_128 ? 'an address past ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff' : formatIpv6(bytesOf(addr))}, ` +
        `outside ${formatIpv6(ip6Network(ip.bytes, ip.prefix))}/${ip.prefix} (it leaves the prefix /${ip.prefix}): from ${ip.address} the prefix has room for ` +
        `${fits} pod${fits === 1n ? '' : 's'} (last address ${formatIpv6(bytesOf(last))}); start lower, use a shorter prefix or fewer replicas`,
    );
  }
  const b = bytesOf(addr);
  const address = formatIpv6(b);
  return { address, prefix: ip.prefix, cidr: `${address}/${ip.prefix}`, bytes: b };
}

/**
 * Every pod's IPv6 address, ordinal 0 to replicas-1 (the IPv4 replicaAddresses' twin): each in the
 * prefix, none of them GATEWAY6.
 */
export function replicaAddresses6(ip: Ipv6Cidr, replicas: number, gateway6?: string, what = 'IPV6_ADDRESS'): Ipv6Cidr[] {
  const out: Ipv6Cidr[] = [];
  for (let n = 0; n < replicas; n++) {
    const a = ordinalAddress6(ip, n, what);
    if (isIp6ReservedAnycast(a.bytes, a.prefix)) {
      throw new ValueError(
        `${what} ${ip.cidr}: pod ordinal ${n} would get ${a.address}, a reserved subnet anycast address (RFC 2526: interface IDs fdff:ffff:ffff:ff80–fdff:ffff:ffff:ffff); start lower or use fewer replicas`,
      );
    }
    out.push(a);
  }
  if (gateway6 !== undefined) {
    const g = parseIpv6(gateway6);
    const clash = g === null ? -1 : out.findIndex((a) => a.bytes.equals(g));
    if (clash >= 0) {
      throw new ValueError(
        replicas === 1
          ? `GATEWAY6 ${gateway6} is the pod's own address ${ip.cidr}: give the router's address`
          : `GATEWAY6 ${gateway6} is the address of pod ordinal ${clash} (${out[0]!.address}–${out.at(-1)!.address} for ${replicas} replicas): give the router's address, outside that range`,
      );
    }
  }
  return out;
}

/** Whether an address parsed by parseIpCidr is IPv6. */
export function isIpv6Cidr(ip: Ipv4Cidr | Ipv6Cidr): ip is Ipv6Cidr {
  return 'bytes' in ip;
}

/**
 * IP_ADDRESS: an IPv4 address with prefix (the seed's form, alone or with IPV6_ADDRESS for dual
 * stack), or an IPv6 one: an IPv6-only pod. The family is told by a ':' in the text; each is then
 * validated by its own parser (parseIpv4Cidr, parseIpv6Cidr).
 */
export function parseIpCidr(raw: string, what = 'IP_ADDRESS'): Ipv4Cidr | Ipv6Cidr {
  const s = raw.trim();
  if (s.includes(':')) return parseIpv6Cidr(s, what);
  // text with dots is taken as IPv4 and gets that parser's precise message (octet, prefix, …)
  if (!s.includes('.')) {
    throw new ValueError(
      `${what} ${show(s)} is neither an IPv4 nor an IPv6 address with prefix length: e.g. 192.168.123.150/24, or 2001:db8:123::150/64 for an IPv6-only pod`,
    );
  }
  return parseIpv4Cidr(s, what);
}

/**
 * GATEWAY when IP_ADDRESS is IPv6 (an IPv6-only pod): refused, since the pod has no IPv4 address
 * and so no IPv4 route; the IPv6 default route's next hop is GATEWAY6.
 */
export function gatewayWithoutIpv4(raw: string, ip: Ipv6Cidr, what = 'GATEWAY'): ValueError {
  return new ValueError(
    `${what} ${show(raw.trim())} is set but IP_ADDRESS ${ip.cidr} is IPv6 (an IPv6-only pod, no IPv4 address to route from): ` +
      `give the IPv6 router as GATEWAY6 (e.g. fe80::1, or an address on ${formatIpv6(ip6Network(ip.bytes, ip.prefix))}/${ip.prefix}), and leave GATEWAY empty`,
  );
}

/** IP_ADDRESS is IPv6 and IPV6_ADDRESS is set too: one IPv6 address per pod, and dual stack needs an IPv4 IP_ADDRESS. */
export function ipv6Twice(ip: Ipv6Cidr, ipv6Raw: string, what = 'IPV6_ADDRESS'): ValueError {
  return new ValueError(
    `${what} ${show(ipv6Raw.trim())} is set but IP_ADDRESS ${ip.cidr} is IPv6 already: for dual stack put the IPv4 address in IP_ADDRESS ` +
      'and the IPv6 one in IPV6_ADDRESS; for an IPv6-only pod leave IPV6_ADDRESS empty',
  );
}
