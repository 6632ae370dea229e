/**
 * IPv6 on an interface, the control plane: enabling it (the link-local address), global
 * addresses, Duplicate Address Detection (RFC 4862 §5.4), the unsolicited NA when an address
 * comes up (RFC 4861 §7.2.6, the twin of our gratuitous ARP) and the multicast groups the device
 * must receive (all-nodes and each address's solicited-node group: a macvlan delivers only the
 * groups joined on it, so they are joined on the AF_PACKET socket, PACKET_ADD_MEMBERSHIP).
 *
 * DAD: an address starts tentative; while the interface is up, DAD_TRANSMITS probes (NS from ::
 * to its solicited-node group) go out RETRANS_MS apart, and one RETRANS_MS after the last one the
 * address is ours (preferred) unless someone answered (an NA for it) or probed it too (an NS from
 * ::): then it is duplicate, refused, logged, and shown by `show ip6 interface`. Time comes from
 * the dataplane's clock (tests inject it); tick() runs with the neighbour timers.
 *
 * The link-local address is the EUI-64 of the (parent's) MAC, as VPP makes it. On an untagged
 * interface whose kernel device has IPv6 on, the kernel owns that very address on the same MAC
 * (and answers NS, echo and TCP for it), so there we take the interface identifier without
 * inverting the universal/local bit (fe80::c6b4:b5ff:fe74:1188 for c6:b4:b5:74:11:88 where the
 * kernel has fe80::c4b4:b5ff:fe74:1188): a different address, still derived from the MAC, on
 * the same solicited-node group. docs/ipv6.md explains the choice.
 */
import { formatMac } from '../wire/address.js';
import { NA_FLAG_OVERRIDE } from '../wire/icmpv6.js';
import {
  ALL_NODES,
  eui64LinkLocal,
  formatIpv6,
  ip6Network,
  ip6PrefixMatch,
  isIp6LinkLocal,
  isIp6Loopback,
  isIp6Multicast,
  isIp6Unspecified,
  isIp6V4Mapped,
  multicastMac,
  solicitedNode,
  type Ipv6Prefix,
} from '../wire/ipv6-address.js';
import { DataplaneError } from './errors.js';
import type { Fib6 } from './fib6.js';
import { DadState, type Ip6Address, Ip6Link, type SwInterface } from './interface.js';
import type { Ip6Output } from './ip6-output.js';
import type { NeighborTable } from './neighbor.js';

/** NS probes per DAD (RFC 4862 DupAddrDetectTransmits, Linux's default 1). */
export const DAD_TRANSMITS = 1;
/** Between probes, and from the last one to the result (RFC 4861 RetransTimer, 1 s). */
export const RETRANS_MS = 1000;
const CONFLICT_LOG_MS = 10_000;

/** What ip6-icmp-input reports (context.ts's NdHooks). */
export interface NdHooks {
  dadConflict(sw: SwInterface, address: Ip6Address, who: string): void;
  addressConflict(sw: SwInterface, address: Ip6Address, who: string): void;
}

export class Ip6Control implements NdHooks {
  private readonly lastConflictLog = new WeakMap<Ip6Address, number>();

  constructor(
    private readonly interfaces: readonly SwInterface[],
    private readonly fib: Fib6,
    private readonly neighbors: NeighborTable,
    private readonly ip6: Ip6Output,
    private readonly now: () => number,
    private readonly onEvent: (message: string) => void,
    private readonly flush: () => void,
  ) {}

  /** `enable ip6 interface`; false when it was enabled already (VPP then says `Failed`). */
  enable(sw: SwInterface): boolean {
    if (sw.ip6 !== null) return false;
    if (sw.xconnect !== null) throw new DataplaneError('EINVAL', `${sw.name} is in L2 mode (xconnect); it cannot have IPv6`);
    const kernelOwnsEui64 = !sw.isSub && sw.hw.device.kernelIpv6 === true;
    const ll = eui64LinkLocal(sw.mac);
    if (kernelOwnsEui64) ll[8] ^= 0x02; // see the module comment: not the kernel's address
    sw.ip6 = new Ip6Link(newAddress(ll, 128, true, this.now()));
    this.fib.addConnected(sw, ll, 128);
    this.fib.interfaceChanged();
    this.syncGroups(sw);
    this.onEvent(
      `ip6 enabled on ${sw.name}, link-local ${formatIpv6(ll)}` +
        (kernelOwnsEui64 ? ` (not the EUI-64 ${formatIpv6(eui64LinkLocal(sw.mac))}: the kernel owns that on ${sw.hw.device.ifname})` : ''),
    );
    this.tick();
    return true;
  }

  /** `disable ip6 interface`: forgets every IPv6 address, neighbour and group of the interface. */
  disable(sw: SwInterface): void {
    const link = sw.ip6;
    if (link === null) return;
    for (const a of [link.linkLocal, ...link.addresses]) this.fib.removeConnected(sw, a.address, a.prefixLength);
    this.neighbors.flushInterface(sw);
    sw.ip6 = null;
    this.syncGroups(sw, link);
    this.fib.interfaceChanged();
    this.onEvent(`ip6 disabled on ${sw.name}`);
  }

  addAddress(sw: SwInterface, prefix: Ipv6Prefix): void {
    const a = prefix.address;
    const text = `${formatIpv6(a)}/${prefix.prefixLength}`;
    if (sw.xconnect !== null) throw new DataplaneError('EINVAL', `${sw.name} is in L2 mode (xconnect); it cannot have an IP address`);
    const bad = isIp6Unspecified(a) ? 'the unspecified address' : isIp6Loopback(a) ? 'the loopback address' : isIp6Multicast(a) ? 'multicast' : isIp6V4Mapped(a) ? 'IPv4-mapped' : null;
    if (bad !== null) throw new DataplaneError('EINVAL', `${text} is ${bad}; an interface needs a unicast address`);
    if (isIp6LinkLocal(a)) throw new DataplaneError('EINVAL', `${text} is link-local; the link-local address is made from the MAC (EUI-64) when IPv6 is enabled`);
    if (prefix.prefixLength < 1) throw new DataplaneError('EINVAL', `${text}: the prefix length must be 1-128`);
    if (prefix.prefixLength < 127 && ip6Network(a, prefix.prefixLength).equals(a)) {
      throw new DataplaneError('EINVAL', `${text} is the subnet-router anycast address of its prefix; use a host address`);
    }
    for (const other of this.interfaces) {
      for (const o of other.ip6?.addresses ?? []) {
        if (o.address.equals(a)) {
          if (other === sw && o.prefixLength === prefix.prefixLength) return;
          throw new DataplaneError('EEXIST', `${formatIpv6(a)} is already configured on ${other.name}`);
        }
        const shorter = Math.min(o.prefixLength, prefix.prefixLength);
        if (other !== sw && ip6PrefixMatch(o.address, 0, a, 0, shorter)) {
          throw new DataplaneError('EEXIST', `${text} overlaps ${formatIpv6(o.address)}/${o.prefixLength} on ${other.name}`);
        }
      }
    }
    this.enable(sw); // an IPv6 address enables IPv6 on the interface, as in VPP
    const entry = newAddress(Buffer.from(a), prefix.prefixLength, false, this.now());
    sw.ip6!.addresses.push(entry);
    this.fib.addConnected(sw, entry.address, entry.prefixLength);
    this.syncGroups(sw);
    this.onEvent(`address ${text} added to ${sw.name} (tentative: duplicate address detection)`);
    this.tick();
  }

  deleteAddress(sw: SwInterface, prefix: Ipv6Prefix): void {
    const link = sw.ip6;
    const i = link?.addresses.findIndex((x) => x.address.equals(prefix.address) && x.prefixLength === prefix.prefixLength) ?? -1;
    if (link === null || i < 0) throw new DataplaneError('ENOENT', `${formatIpv6(prefix.address)}/${prefix.prefixLength} is not configured on ${sw.name}`);
    const [gone] = link.addresses.splice(i, 1);
    this.fib.removeConnected(sw, gone.address, gone.prefixLength);
    this.syncGroups(sw);
  }

  /** The interface came up: every address is probed again (RFC 4862 §5.4: DAD on interface initialisation). */
  interfaceUp(sw: SwInterface): void {
    const link = sw.ip6;
    if (link === null) return;
    const now = this.now();
    for (const a of [link.linkLocal, ...link.addresses]) {
      if (a.dad === DadState.Duplicate) continue;
      a.dad = DadState.Tentative;
      a.probes = 0;
      a.due = now;
    }
    this.tick();
  }

  /** Runs DAD: probes due, results due (then the unsolicited NA). */
  tick(): void {
    const now = this.now();
    let sent = false;
    for (const sw of this.interfaces) {
      const link = sw.ip6;
      if (link === null || !sw.up) continue;
      for (const a of [link.linkLocal, ...link.addresses]) {
        if (a.dad !== DadState.Tentative || now < a.due) continue;
        sent = true;
        if (a.probes < DAD_TRANSMITS) {
          this.ip6.sendNs(sw, a.address, 0, null, true);
          a.probes++;
          a.due = now + RETRANS_MS;
          continue;
        }
        a.dad = DadState.Preferred;
        this.ip6.sendNa(sw, multicastMac(ALL_NODES), ALL_NODES, 0, a.address, 0, NA_FLAG_OVERRIDE);
        this.onEvent(`address ${formatIpv6(a.address)}/${a.prefixLength} on ${sw.name}: DAD passed, unsolicited NA sent`);
      }
    }
    if (sent) this.flush();
  }

  dadConflict(sw: SwInterface, address: Ip6Address, who: string): void {
    if (address.dad !== DadState.Tentative) return;
    address.dad = DadState.Duplicate;
    address.conflict = who;
    this.fib.removeConnected(sw, address.address, address.prefixLength);
    this.syncGroups(sw);
    this.onEvent(
      `DAD: address ${formatIpv6(address.address)}/${address.prefixLength} on ${sw.name} is in use (${who}): refused` +
        (address.linkLocal ? '; IPv6 on this interface has no link-local address' : ''),
    );
  }

  addressConflict(sw: SwInterface, address: Ip6Address, who: string): void {
    const now = this.now();
    const last = this.lastConflictLog.get(address);
    if (last !== undefined && now - last < CONFLICT_LOG_MS) return;
    this.lastConflictLog.set(address, now);
    this.onEvent(`address conflict: ${who} advertises our address ${formatIpv6(address.address)} on ${sw.name}`);
  }

  /**
   * Joins (and leaves) the multicast MACs the interface needs on its device: all-nodes and the
   * solicited-node group of each address that is not duplicate. `was`: the link just disabled.
   */
  private syncGroups(sw: SwInterface, was: Ip6Link | null = null): void {
    const link = sw.ip6 ?? was!;
    const want = new Map<string, Buffer>();
    if (sw.ip6 !== null) {
      want.set(formatIpv6(ALL_NODES), ALL_NODES);
      for (const a of [link.linkLocal, ...link.addresses]) {
        if (a.dad === DadState.Duplicate) continue;
        const g = solicitedNode(a.address);
        want.set(formatIpv6(g), g);
      }
    }
    const dev = sw.hw.device;
    for (const [key, g] of link.groups) {
      if (want.has(key)) continue;
      link.groups.delete(key);
      dev.setMulticast?.(multicastMac(g), false);
    }
    for (const [key, g] of want) {
      if (link.groups.has(key)) continue;
      link.groups.set(key, g);
      try {
        dev.setMulticast?.(multicastMac(g), true);
      } catch (err) {
        this.onEvent(`cannot join ${key} (${formatMac(multicastMac(g))}) on ${dev.ifname}: ${(err as Error).message}`);
      }
    }
  }
}

function newAddress(address: Buffer, prefixLength: number, linkLocal: boolean, now: number): Ip6Address {
  return { address, prefixLength, linkLocal, dad: DadState.Tentative, probes: 0, due: now, conflict: '' };
}
