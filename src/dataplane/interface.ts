/**
 * Software interfaces, VPP style: a hardware interface (`host-<ifname>`, one AF_PACKET device)
 * and sub-interfaces on it (`host-<ifname>.<id>`, exact-match dot1q).
 */
import type { Device } from '../io/device.js';
import { TxBatch } from '../io/device.js';
import type { Ipv4Prefix } from '../wire/address.js';
import { ip6Equals } from '../wire/ipv6-address.js';

export interface InterfaceCounters {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  drops: number;
  ip4: number;
  ip6: number;
  txErrors: number;
}

export function newCounters(): InterfaceCounters {
  return { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, drops: 0, ip4: 0, ip6: 0, txErrors: 0 };
}

/** VPP's L2 tag rewrite operations that we implement. */
export type TagRewrite = { op: 'pop'; count: 1 } | { op: 'push'; vlanId: number } | null;

export class HardwareInterface {
  /** Sub-interfaces by VLAN ID (exact match). */
  readonly subByVlan = new Map<number, SwInterface>();
  readonly tx: TxBatch;
  sw!: SwInterface;
  /** RX queues of the interface (`num-rx-queues`), over all threads. */
  rxQueues = 1;
  /**
   * `num-tx-queues` as given (null: not given). Not a count we open: every thread sends through
   * its own AF_PACKET socket, which is VPP with num-tx-queues = threads (no queue shared under a
   * lock); show hardware-interfaces says so.
   */
  txQueuesAsked: number | null = null;
  /**
   * Private frames (tcp/private-reasons.ts) the device accepted (sent, or held in its TX backlog)
   * and their bytes: /metrics subtracts them from the device's own TX counters.
   */
  readonly privateTx = { frames: 0, bytes: 0 };
  /** Per TX slot, 1 = the frame there is private; `privatePending` of them are set. */
  privateSlots: Uint8Array | null = null;
  privatePending = 0;

  constructor(
    readonly name: string,
    readonly device: Device,
    txCapacity: number,
  ) {
    // A slot holds the largest frame we emit: the MTU, Ethernet header and two tags. A device
    // with GSO also takes TCP super-frames (one IPv4 packet of up to maxGsoBytes + L2): the
    // batch's arena then holds 16 of them (~1 MiB per hardware interface instead of 512 KiB).
    const gso = device.txOffload?.gso === true ? device.txOffload.maxGsoBytes + 14 + 8 : 0;
    this.tx = new TxBatch(txCapacity, Math.max(2048, device.mtu + 14 + 8), gso);
  }
}

/** Duplicate Address Detection (RFC 4862 §5.4) of one IPv6 address. */
export const enum DadState {
  /** Probing: not used as a source, not answered for; NS from :: or an NA for it means a conflict. */
  Tentative = 0,
  /** DAD passed: the address is ours. */
  Preferred = 1,
  /** Someone else has it: refused, kept only to show the result. */
  Duplicate = 2,
}

export const DAD_NAMES = ['tentative', 'preferred', 'duplicate'] as const;

/** One IPv6 address of an interface (a global one from configuration, or the link-local). */
export interface Ip6Address {
  readonly address: Buffer;
  readonly prefixLength: number;
  readonly linkLocal: boolean;
  dad: DadState;
  /** DAD probes sent so far, and when the next step is due (ms). */
  probes: number;
  due: number;
  /** Who answered for it, when DAD found a conflict (a MAC as text, or 'another DAD probe'). */
  conflict: string;
}

/** IPv6 state of an interface (VPP's ip6 link): null until IPv6 is enabled on it. */
export class Ip6Link {
  /** Global (and configured) addresses, in configuration order. */
  readonly addresses: Ip6Address[] = [];
  /** The IPv6 multicast groups whose MACs are joined on the device for this interface, by group text (ff02::1:ff00:150). */
  readonly groups = new Map<string, Buffer>();
  /** ND counters for `show ip6 interface`. */
  nsReceived = 0;
  naSent = 0;
  constructor(readonly linkLocal: Ip6Address) {}

  /** The address at a[off] when it is one of ours and DAD passed (link-local included). */
  usable(a: Buffer, off: number): Ip6Address | undefined {
    const own = this.find(a, off);
    return own !== undefined && own.dad === DadState.Preferred ? own : undefined;
  }

  /** The address at a[off] when it is configured here, whatever its DAD state. */
  find(a: Buffer, off: number): Ip6Address | undefined {
    if (ip6Equals(this.linkLocal.address, 0, a, off)) return this.linkLocal;
    const list = this.addresses;
    for (let i = 0; i < list.length; i++) if (ip6Equals(list[i].address, 0, a, off)) return list[i];
    return undefined;
  }
}

export class SwInterface {
  adminUp = false;
  readonly addresses: Ipv4Prefix[] = [];
  /** IPv6: null while disabled (`enable ip6 interface`, or an IPv6 address, enables it). */
  ip6: Ip6Link | null = null;
  readonly counters: InterfaceCounters = newCounters();
  /** Of `counters`' TX figures: private frames (see tcp/private-reasons.ts), left out of /metrics. */
  readonly privateCounters = { txPackets: 0, txBytes: 0, txErrors: 0 };
  /** L2 cross-connect target; when set, this interface is in L2 mode and switches every frame there. */
  xconnect: SwInterface | null = null;
  tagRewrite: TagRewrite = null;
  /** Set while this interface's MAC was given by configuration rather than read from the kernel. */
  private macOverride: Buffer | null = null;

  constructor(
    readonly index: number,
    readonly name: string,
    readonly hw: HardwareInterface,
    /** 0 for the hardware interface itself, else the exact-match dot1q VLAN ID. */
    readonly vlanId: number,
    /** The sub-interface ID as configured (VPP allows it to differ from the VLAN ID). */
    readonly subId: number,
  ) {}

  get isSub(): boolean {
    return this.vlanId !== 0;
  }

  /** MAC used as source of our frames: the hardware interface's, unless set by configuration. */
  get mac(): Buffer {
    return this.isSub ? this.hw.sw.mac : (this.macOverride ?? this.hw.device.mac);
  }

  set mac(value: Buffer) {
    this.macOverride = value;
  }

  /** Up when it and, for a sub-interface, its parent are administratively up. */
  get up(): boolean {
    return this.adminUp && (!this.isSub || this.hw.sw.adminUp);
  }

  get mtu(): number {
    return this.hw.device.mtu;
  }

  /** The configured address that `ip` belongs to exactly, or undefined. */
  ownAddress(ip: number): Ipv4Prefix | undefined {
    ip >>>= 0; // either form (the RX path passes int32s: see ipv4SourceI32)
    for (const a of this.addresses) if (a.address === ip) return a;
    return undefined;
  }
}
