/**
 * The dataplane: interfaces, their configuration, and the vector loop over the node graph.
 *
 * One device wakeup hands over one vector of frames. ethernet-input classifies the whole
 * vector onto the queues of the next nodes; each node then processes its whole queue before
 * the next node runs (graph.ts gives the order); packets we originate go through the IPv4
 * output path (ip4-output.ts: FIB, neighbours, TX batches) and every TX batch is sent once at
 * the end of the vector (interface-output.ts).
 */
import { performance } from 'node:perf_hooks';
import type { Device, RxVector } from '../io/device.js';
import { formatIpv4, type Ipv4Prefix, prefixMask, sameSubnet } from '../wire/address.js';
import { ARP_REQUEST } from '../wire/arp.js';
import type { Echo6Listener, EchoListener, NodeContext, PacketCapture, TcpInputHandler } from './context.js';
import { formatIpv6, ip6PrefixMatch, isIp6LinkLocal, type Ipv6Prefix } from '../wire/ipv6-address.js';
import { Fib6 } from './fib6.js';
import { Ip6Output } from './ip6-output.js';
import { Ip6Frames } from './ip6-input.js';
import { Icmp6ErrorSender } from './icmp6-error.js';
import { Ip6Control } from './ip6-link.js';
import { Ip6Peers } from './ip6-peers.js';
import { sendEcho6 } from './icmp6-input.js';
import { DataplaneError } from './errors.js';
import { runEthernetInput } from './ethernet-input.js';
import { Fib } from './fib.js';
import { FrameVector } from './frames.js';
import { createGraph, type Graph } from './graph.js';
import { sendEcho, type EchoResult } from './icmp-input.js';
import { HardwareInterface, SwInterface, type TagRewrite } from './interface.js';
import { InterfaceOutput } from './interface-output.js';
import { Ip4Output } from './ip4-output.js';
import { NeighborTable, type NeighborTimers } from './neighbor.js';
import type { GraphNode } from './node.js';
import { sendArp } from './arp-input.js';
import { RuntimeSampler } from './runtime-sampler.js';
import { PacketTracer } from './trace.js';
import { housekeeping, type HousekeepingTask } from '../util/housekeeping.js';

export { DataplaneError } from './errors.js';

export interface DataplaneOptions {
  /** Opens the device behind `create host-interface name <ifname> [num-rx-queues <n>]`. */
  openDevice: (ifname: string, rxQueues: number) => Device;
  /** Monotonic clock in ms. */
  now?: () => number;
  /** Largest vector handed to the graph at once. */
  vectorSize?: number;
  /** Stale neighbour entries unused for this long are removed (ms; 0 = never). */
  neighborAgeMs?: number;
  /** Neighbour state timers (tests shorten them). */
  neighborTimers?: Partial<NeighborTimers>;
  /** Called for events worth a log line (address up, gratuitous ARP sent, …). */
  onEvent?: (message: string) => void;
  /**
   * Whether this dataplane announces its addresses (gratuitous ARP on address add / link up;
   * default true). With worker threads every thread holds the same configuration, and only the
   * main thread announces, once.
   */
  announces?: boolean;
}

const BROADCAST_MAC = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
const ZERO_MAC = Buffer.alloc(6);
/** How often neighbour timers run (retransmissions are 1 s apart). */
const NEIGHBOR_TICK_MS = 250;

/**
 * What the graph nodes see (NodeContext). A class rather than an object literal: V8 makes a
 * literal with getters a dictionary-mode object, and then every `ctx.frames`, `ctx.tracer`,
 * `ctx.ip4` or `ctx.tcp` of a node was a generic LoadIC call in optimised code (a hash lookup per
 * access, several per vector per node) instead of a field load. The fields are set once, in this
 * order; the three getters live on the prototype.
 */
class DataplaneNodeContext implements NodeContext {
  readonly frames: FrameVector;
  readonly interfaces: readonly SwInterface[];
  readonly hardware: readonly HardwareInterface[];
  readonly neighbors: NeighborTable;
  readonly fib: Fib;
  readonly ip4: Ip4Output;
  readonly neighbors6: NeighborTable;
  readonly ip6: Ip6Output;
  readonly ip6Frames: Ip6Frames;
  readonly icmp6Error: Icmp6ErrorSender;
  readonly nd: Ip6Control;
  readonly ip6Peers: Ip6Peers;
  readonly output: InterfaceOutput;
  readonly tracer: PacketTracer;
  readonly now: () => number;
  readonly drop: (node: GraphNode, i: number, reason: number) => void;
  private readonly dp: Dataplane;

  constructor(dp: Dataplane, ip6Frames: Ip6Frames, drop: (node: GraphNode, i: number, reason: number) => void) {
    this.frames = dp.frames;
    this.interfaces = dp.interfaces;
    this.hardware = dp.hardware;
    this.neighbors = dp.neighbors;
    this.fib = dp.fib;
    this.ip4 = dp.ip4;
    this.neighbors6 = dp.neighbors6;
    this.ip6 = dp.ip6;
    this.ip6Frames = ip6Frames;
    this.icmp6Error = dp.icmp6Error;
    this.nd = dp.ip6Control;
    this.ip6Peers = dp.ip6Peers;
    this.output = dp.output;
    this.tracer = dp.tracer;
    this.now = dp.now;
    this.drop = drop;
    this.dp = dp;
  }

  get echo6Listener(): Echo6Listener | null {
    return this.dp.icmp.onEchoReply6;
  }

  get tcp(): TcpInputHandler | null {
    return this.dp.tcp;
  }

  get echoListener(): EchoListener | null {
    return this.dp.icmp.onEchoReply;
  }
}

export class Dataplane {
  readonly interfaces: SwInterface[] = [];
  readonly hardware: HardwareInterface[] = [];
  readonly neighbors: NeighborTable;
  readonly fib = new Fib();
  readonly frames: FrameVector;
  readonly now: () => number;
  readonly tracer: PacketTracer;
  readonly output: InterfaceOutput;
  readonly ip4: Ip4Output;
  /** IPv6: FIB, neighbour (ND) table, output path, the control plane (addresses, DAD, groups). */
  readonly fib6 = new Fib6();
  readonly neighbors6: NeighborTable;
  readonly ip6: Ip6Output;
  readonly ip6Control: Ip6Control;
  readonly icmp6Error: Icmp6ErrorSender;
  /** IPv6 addresses as the TCP stack's handles (TCP over IPv6). */
  readonly ip6Peers = new Ip6Peers();
  readonly graph: Graph;
  /** Set by the TCP stack once something listens; segments for our addresses go there. */
  tcp: TcpInputHandler | null = null;
  /** Called after every vector and timer run, so that transports can emit what they queued. */
  afterVector: ((now: number) => void) | null = null;
  /** Vectors abandoned because a node threw, by node name ('after-vector': the transports' hook). */
  readonly exceptions: Record<string, number> = {};
  /** Told about every such exception (the engine logs it); the dataplane goes on either way. */
  onNodeError: ((err: unknown, node: string, frames: number) => void) | null = null;
  /** The CLI's `ping`: echo requests out, replies back. */
  readonly icmp: {
    sendEcho(dst: number, id: number, seq: number, dataBytes: number, sourceSwName?: string): EchoResult;
    onEchoReply: EchoListener | null;
    sendEcho6(dst: Buffer, id: number, seq: number, dataBytes: number, sourceSwName?: string): EchoResult;
    onEchoReply6: Echo6Listener | null;
  };
  private readonly byName = new Map<string, SwInterface>();
  private readonly openDevice: (ifname: string, rxQueues: number) => Device;
  private readonly announces: boolean;
  private readonly onEvent: (message: string) => void;
  private housekeeping: HousekeepingTask | null = null;
  private current: GraphNode | null = null;
  private capture: PacketCapture | null = null;
  private drops = 0;
  /** Time spent in applications (session-queue) in timed runs so far, ns; subtracted from the node that called them. */
  private appNanos = 0;
  /** Which runs `show runtime` times (one vector in 16, see runtime-sampler.ts). */
  private readonly sampler = new RuntimeSampler();
  /** What the nodes see. */
  private readonly ctx: NodeContext;

  constructor(options: DataplaneOptions) {
    this.openDevice = options.openDevice;
    this.now = options.now ?? (() => performance.now());
    this.onEvent = options.onEvent ?? (() => {});
    this.announces = options.announces ?? true;
    const capacity = options.vectorSize ?? 256;
    this.frames = new FrameVector(capacity);
    this.neighbors = new NeighborTable(options.neighborAgeMs ?? 300_000, options.neighborTimers);
    this.tracer = new PacketTracer(capacity, this.now);
    this.output = new InterfaceOutput(capacity, this.tracer);
    this.ip4 = new Ip4Output(capacity, this.fib, this.neighbors, this.output, this.tracer, this.now);
    this.neighbors6 = new NeighborTable(options.neighborAgeMs ?? 300_000, options.neighborTimers, 4096, 6);
    this.ip6 = new Ip6Output(capacity, this.fib6, this.neighbors6, this.output, this.tracer);
    this.ip6Control = new Ip6Control(this.interfaces, this.fib6, this.neighbors6, this.ip6, this.now, this.onEvent, () => this.output.flush());
    this.icmp6Error = new Icmp6ErrorSender(this.ip6, this.now);
    this.graph = createGraph(capacity, this.ip4.nodes, this.output.node, this.ip6.nodes, this.icmp6Error.node);
    this.ctx = new DataplaneNodeContext(this, new Ip6Frames(capacity), (node, i, reason) => this.drop(node, i, reason));
    this.icmp = {
      sendEcho: (dst, id, seq, dataBytes, sourceSwName) => {
        const source = sourceSwName !== undefined ? this.get(sourceSwName) : null;
        this.ip4.clockTick();
        const r = sendEcho(this.ip4, dst, id, seq, dataBytes, source);
        this.ip4.endVector();
        this.output.flush();
        return r;
      },
      onEchoReply: null,
      sendEcho6: (dst, id, seq, dataBytes, sourceSwName) => {
        const source = sourceSwName !== undefined ? this.get(sourceSwName) : null;
        this.ip6.clockMs = this.ip4.clockTick();
        const r = sendEcho6(this.ip6, dst, id, seq, dataBytes, source);
        this.ip6.endVector();
        this.output.flush();
        return r;
      },
      onEchoReply6: null,
    };
  }

  /** All graph nodes, for `show runtime` and `show errors`. */
  graphNodes(): GraphNode[] {
    return this.graph.all;
  }

  /** A running `pcap trace` (null: none); the CLI sets it. */
  get pcap(): PacketCapture | null {
    return this.capture;
  }

  set pcap(capture: PacketCapture | null) {
    this.capture = capture;
    this.output.capture = capture;
  }

  // ---- configuration -------------------------------------------------------------------

  /** `create host-interface name <ifname> [num-rx-queues <n>]`: opens the device, returns the new interface's name. */
  createHostInterface(ifname: string, mac?: Buffer, rxQueues = 1, txQueues: number | null = null): string {
    const name = `host-${ifname}`;
    if (this.byName.has(name)) throw new DataplaneError('EEXIST', `interface ${name} already exists`);
    const device = this.openDevice(ifname, rxQueues);
    const hw = new HardwareInterface(name, device, 256);
    hw.rxQueues = rxQueues;
    hw.txQueuesAsked = txQueues;
    hw.sw = this.addSw(name, hw, 0, 0);
    if (mac !== undefined) hw.sw.mac = mac;
    this.hardware.push(hw);
    // Backpressure: a device that refused frames tells us when it takes them again; TCP then
    // sends what it kept (it was told "no room" while the device was blocked).
    device.onTxReady = () => this.resumeTx();
    device.start((rx) => this.input(hw, rx));
    return name;
  }

  createSubInterface(parentName: string, subId: number, vlanId = subId): string {
    const parent = this.get(parentName);
    if (parent.isSub) throw new DataplaneError('EINVAL', `${parentName} is a sub-interface; sub-interfaces go on a hardware interface`);
    checkVlan(vlanId);
    const name = `${parentName}.${subId}`;
    if (this.byName.has(name)) throw new DataplaneError('EEXIST', `interface ${name} already exists`);
    if (parent.hw.subByVlan.has(vlanId)) {
      throw new DataplaneError('EEXIST', `VLAN ${vlanId} is already matched by ${parent.hw.subByVlan.get(vlanId)!.name}`);
    }
    const sw = this.addSw(name, parent.hw, vlanId, subId);
    parent.hw.subByVlan.set(vlanId, sw);
    return name;
  }

  setMac(name: string, mac: Buffer): void {
    const sw = this.get(name);
    if (sw.isSub) throw new DataplaneError('EINVAL', `${name} is a sub-interface; set the MAC on ${sw.hw.name}`);
    sw.mac = mac;
  }

  setAdminState(name: string, up: boolean): void {
    const sw = this.get(name);
    if (sw.adminUp === up) return;
    sw.adminUp = up;
    if (!up) {
      // A hardware interface going down takes its sub-interfaces' neighbours with it.
      for (const s of this.interfaces) {
        if (s === sw || (!sw.isSub && s.hw === sw.hw)) {
          this.neighbors.flushInterface(s);
          this.neighbors6.flushInterface(s);
        }
      }
      return;
    }
    // Announce every address that just became reachable: ours and, for a hardware interface, its
    // sub-interfaces' (IPv6: DAD first, then the unsolicited NA).
    const affected = sw.isSub ? [sw] : this.interfaces.filter((s) => s.hw === sw.hw);
    for (const s of affected) {
      if (!s.up) continue;
      for (const a of s.addresses) this.sendGratuitousArp(s, a.address);
      this.ip6Control.interfaceUp(s);
    }
  }

  addAddress(name: string, prefix: Ipv4Prefix): void {
    const sw = this.get(name);
    if (sw.xconnect !== null) throw new DataplaneError('EINVAL', `${name} is in L2 mode (xconnect); it cannot have an IP address`);
    const hostMask = ~prefixMask(prefix.prefixLength) >>> 0;
    const host = (prefix.address & hostMask) >>> 0;
    if (prefix.prefixLength < 31 && (host === 0 || host === hostMask)) {
      throw new DataplaneError('EINVAL', `${formatIpv4(prefix.address)}/${prefix.prefixLength} is the network or broadcast address of its subnet; use a host address`);
    }
    for (const other of this.interfaces) {
      for (const a of other.addresses) {
        if (a.address === prefix.address) {
          if (other === sw && a.prefixLength === prefix.prefixLength) return;
          throw new DataplaneError('EEXIST', `${formatIpv4(prefix.address)} is already configured on ${other.name}`);
        }
        if (other !== sw && sameSubnet(a.address, prefix.address, Math.min(a.prefixLength, prefix.prefixLength))) {
          throw new DataplaneError('EEXIST', `${formatIpv4(prefix.address)}/${prefix.prefixLength} overlaps ${formatIpv4(a.address)}/${a.prefixLength} on ${other.name}`);
        }
      }
    }
    sw.addresses.push({ address: prefix.address, prefixLength: prefix.prefixLength });
    this.fib.addConnected(sw, prefix.address, prefix.prefixLength);
    this.onEvent(`address ${formatIpv4(prefix.address)}/${prefix.prefixLength} added to ${name}`);
    if (sw.up) this.sendGratuitousArp(sw, prefix.address);
  }

  deleteAddress(name: string, prefix: Ipv4Prefix): void {
    const sw = this.get(name);
    const i = sw.addresses.findIndex((a) => a.address === prefix.address && a.prefixLength === prefix.prefixLength);
    if (i < 0) throw new DataplaneError('ENOENT', `${formatIpv4(prefix.address)}/${prefix.prefixLength} is not configured on ${name}`);
    sw.addresses.splice(i, 1);
    this.fib.removeConnected(sw, prefix.address, prefix.prefixLength);
    if (sw.addresses.length === 0) this.neighbors.flushInterface(sw);
  }

  /** `set interface ip address <if> <ipv6>/<len>`: enables IPv6 on the interface; the address is tentative until DAD passes. */
  addAddress6(name: string, prefix: Ipv6Prefix): void {
    this.ip6Control.addAddress(this.get(name), prefix);
  }

  deleteAddress6(name: string, prefix: Ipv6Prefix): void {
    const sw = this.get(name);
    this.ip6Control.deleteAddress(sw, prefix);
    if (sw.ip6 !== null && sw.ip6.addresses.length === 0) this.neighbors6.flushInterface(sw);
  }

  /** `enable ip6 interface`: false when IPv6 was enabled already. */
  enableIp6(name: string): boolean {
    return this.ip6Control.enable(this.get(name));
  }

  disableIp6(name: string): void {
    this.ip6Control.disable(this.get(name));
  }

  addRoute6(prefix: Ipv6Prefix, via: Buffer, interfaceName: string | null): void {
    const sw = interfaceName !== null ? this.get(interfaceName) : null;
    this.fib6.addRoute(prefix.address, prefix.prefixLength, via, sw);
    this.onEvent(`route ${formatIpv6(prefix.address)}/${prefix.prefixLength} via ${formatIpv6(via)}${sw ? ` ${sw.name}` : ''} added`);
  }

  deleteRoute6(prefix: Ipv6Prefix, via: Buffer | null, interfaceName: string | null): void {
    const sw = interfaceName !== null ? this.get(interfaceName) : null;
    this.fib6.deleteRoute(prefix.address, prefix.prefixLength, via, sw);
  }

  /** `set ip neighbor <interface> <ipv6> <mac> [static]`. */
  setNeighbor6(name: string, ip: Buffer, mac: Buffer, isStatic: boolean): void {
    const sw = this.get(name);
    const link = sw.ip6;
    if (link === null) throw new DataplaneError('EINVAL', `${name} has IPv6 disabled (enable ip6 interface ${name}, or give it an IPv6 address)`);
    const onLink = isIp6LinkLocal(ip) || link.addresses.some((a) => ip6PrefixMatch(a.address, 0, ip, 0, a.prefixLength));
    if (!onLink) {
      const have = link.addresses.map((a) => `${formatIpv6(a.address)}/${a.prefixLength}`).join(', ') || 'none but the link-local';
      throw new DataplaneError('EINVAL', `${formatIpv6(ip)} is not link-local nor on a connected prefix of ${name} (its addresses: ${have})`);
    }
    if (link.find(ip, 0) !== undefined) throw new DataplaneError('EINVAL', `${formatIpv6(ip)} is our own address on ${name}`);
    if (this.neighbors6.set6(sw, ip, mac, isStatic, this.now()) === undefined) throw new DataplaneError('ENOSPC', 'neighbour table full');
    this.output.flush();
  }

  deleteNeighbor6(name: string, ip: Buffer): void {
    const sw = this.get(name);
    if (!this.neighbors6.delete6(sw, ip)) throw new DataplaneError('ENOENT', `no neighbour ${formatIpv6(ip)} on ${name}`);
  }

  /** `ip route add <prefix>/<len> via <next-hop> [<interface>]`. */
  addRoute(prefix: Ipv4Prefix, via: number, interfaceName: string | null): void {
    const sw = interfaceName !== null ? this.get(interfaceName) : null;
    this.fib.addRoute(prefix.address, prefix.prefixLength, via, sw);
    this.onEvent(`route ${formatIpv4(prefix.address)}/${prefix.prefixLength} via ${formatIpv4(via)}${sw ? ` ${sw.name}` : ''} added`);
  }

  /** `ip route del <prefix>/<len> [via <next-hop> [<interface>]]`. */
  deleteRoute(prefix: Ipv4Prefix, via: number | null, interfaceName: string | null): void {
    const sw = interfaceName !== null ? this.get(interfaceName) : null;
    this.fib.deleteRoute(prefix.address, prefix.prefixLength, via, sw);
  }

  /** `set ip neighbor [del] <interface> <ip> <mac> [static]`. */
  setNeighbor(name: string, ip: number, mac: Buffer, isStatic: boolean): void {
    const sw = this.get(name);
    if (sw.xconnect !== null) throw new DataplaneError('EINVAL', `${name} is in L2 mode (xconnect); it has no neighbours`);
    if (!sw.addresses.some((a) => sameSubnet(a.address, ip, a.prefixLength))) {
      const have = sw.addresses.map((a) => `${formatIpv4(a.address)}/${a.prefixLength}`).join(', ') || 'none';
      throw new DataplaneError('EINVAL', `${formatIpv4(ip)} is not on a connected prefix of ${name} (its addresses: ${have})`);
    }
    if (sw.ownAddress(ip) !== undefined) throw new DataplaneError('EINVAL', `${formatIpv4(ip)} is our own address on ${name}`);
    if (this.neighbors.set(sw, ip, mac, isStatic, this.now()) === undefined) throw new DataplaneError('ENOSPC', 'neighbour table full');
    this.output.flush();
  }

  deleteNeighbor(name: string, ip: number): void {
    const sw = this.get(name);
    if (!this.neighbors.delete(sw, ip)) throw new DataplaneError('ENOENT', `no neighbour ${formatIpv4(ip)} on ${name}`);
  }

  setXconnect(rxName: string, txName: string): void {
    const rx = this.get(rxName);
    const tx = this.get(txName);
    if (rx === tx) throw new DataplaneError('EINVAL', 'an interface cannot be cross-connected to itself');
    if (rx.addresses.length > 0) throw new DataplaneError('EINVAL', `${rxName} has IP addresses; remove them before putting it in L2 mode`);
    if (rx.ip6 !== null) throw new DataplaneError('EINVAL', `${rxName} has IPv6 enabled; disable ip6 interface ${rxName} before putting it in L2 mode`);
    rx.xconnect = tx;
  }

  clearXconnect(name: string): void {
    this.get(name).xconnect = null;
  }

  setTagRewrite(name: string, rewrite: TagRewrite): void {
    if (rewrite !== null && rewrite.op === 'push') checkVlan(rewrite.vlanId);
    this.get(name).tagRewrite = rewrite;
  }

  get(name: string): SwInterface {
    const sw = this.byName.get(name);
    if (sw === undefined) {
      const known = this.interfaces.map((s) => s.name).join(', ') || 'none yet';
      throw new DataplaneError('ENOENT', `unknown interface '${name}' (interfaces: ${known})`);
    }
    return sw;
  }

  find(name: string): SwInterface | undefined {
    return this.byName.get(name);
  }

  /** The interface that owns `ip` as one of its addresses. */
  interfaceForAddress(ip: number): SwInterface | undefined {
    for (const sw of this.interfaces) if (sw.ownAddress(ip) !== undefined) return sw;
    return undefined;
  }

  clearInterfaceCounters(): void {
    for (const sw of this.interfaces) {
      const c = sw.counters;
      c.rxPackets = c.rxBytes = c.txPackets = c.txBytes = c.drops = c.ip4 = c.ip6 = c.txErrors = 0;
      const p = sw.privateCounters;
      p.txPackets = p.txBytes = p.txErrors = 0;
    }
  }

  /** Starts housekeeping (neighbour timers). The dataplane runs without it in unit tests (they call tickNeighbors). */
  start(): void {
    if (this.housekeeping !== null) return;
    this.housekeeping = housekeeping.every(NEIGHBOR_TICK_MS, () => this.tickNeighbors());
  }

  /** Runs the neighbour timers (retransmissions, probes, failures, ageing) and sends what they made. */
  tickNeighbors(): void {
    const now = this.freshClock();
    this.neighbors.tick(now);
    this.neighbors6.tick(now);
    this.ip6Control.tick();
    this.output.flush();
  }

  close(): void {
    if (this.housekeeping !== null) this.housekeeping.stop();
    this.housekeeping = null;
    for (const hw of this.hardware) hw.device.close();
  }

  private addSw(name: string, hw: HardwareInterface, vlanId: number, subId: number): SwInterface {
    const sw = new SwInterface(this.interfaces.length + 1, name, hw, vlanId, subId);
    this.interfaces.push(sw);
    this.byName.set(name, sw);
    return sw;
  }

  // ---- the vector loop -----------------------------------------------------------------

  /** Processes one received vector from `hw` (called by the device). */
  input(hw: HardwareInterface, rx: RxVector): void {
    const capacity = this.frames.capacity;
    const g = this.graph;
    const ctx = this.ctx;
    const f = this.frames;
    for (let base = 0; base < rx.count; base += capacity) {
      const n = Math.min(capacity, rx.count - base);
      try {
        // The clock read at the start of the vector: neighbours, TCP input and the output paths use it.
        const now = this.now();
        this.ip4.setClock(now);
        this.ip6.clockMs = now;
        const timed = this.sampler.begin(now);
        f.data = rx.data;
        f.count = n;
        f.hwIndex = this.hardware.indexOf(hw);
        if (this.tracer.armed) this.startTrace(hw, rx, base, n);
        if (this.capture !== null && this.capture.options.rx) this.captureRx(hw, rx, base, n);
        // af-packet-input is the device's own work, the C ring walk, which the device measures
        // for every vector (RxVector.drainNanos). The N-API call itself is not measured.
        g.afPacketInput.record(n, base === 0 ? (rx.drainNanos ?? 0) : 0);
        this.current = g.ethernetInput;
        if (timed) {
          const t1 = performance.now();
          runEthernetInput(g.ethernetInput, ctx, hw, rx, base, n);
          const t2 = performance.now();
          g.ethernetInput.recordTimed(n, (t2 - t1) * 1e6);
          this.dispatchTimed(t2);
        } else {
          runEthernetInput(g.ethernetInput, ctx, hw, rx, base, n);
          g.ethernetInput.recordUntimed(n);
          this.dispatch();
        }
        this.current = null;
        // TCP output takes a fresh reading: the application (HTTP, TLS) may have run for a while
        // inside the vector, and segments must carry the time they really leave at.
        if (this.afterVector !== null) this.runAfterVector(this.freshClock());
        this.endVector();
      } catch (err) {
        this.abandonVector(err, n);
      }
    }
  }

  private dispatch(): void {
    const order = this.graph.dispatchOrder;
    for (let k = 0; k < order.length; k++) {
      const node = order[k];
      const count = node.queued;
      if (count === 0) continue;
      this.current = node;
      node.run!(this.ctx);
      node.queued = 0;
      node.recordUntimed(count);
    }
  }

  /** dispatch() with each node timed; the applications it called are charged to session-queue instead. */
  private dispatchTimed(t: number): void {
    const order = this.graph.dispatchOrder;
    for (let k = 0; k < order.length; k++) {
      const node = order[k];
      const count = node.queued;
      if (count === 0) continue;
      this.current = node;
      const app = this.appNanos;
      node.run!(this.ctx);
      node.queued = 0;
      const t1 = performance.now();
      node.recordTimed(count, (t1 - t) * 1e6 - (this.appNanos - app));
      t = t1;
    }
  }

  /** Closes a vector (or a timer run): per-packet nodes' runtime, the drop count, the TX flush. */
  private endVector(): void {
    this.ip4.endVector();
    this.ip6.endVector();
    if (this.drops > 0) {
      this.graph.errorDrop.record(this.drops, 0);
      this.drops = 0;
    }
    this.output.flush(this.sampler.timed);
    this.sampler.end();
  }

  /**
   * A node threw: the rest of this vector is dropped (counted per node in `exceptions`), the
   * queues are emptied so the next vector starts clean, and what was already built is sent.
   */
  private abandonVector(err: unknown, frames: number): void {
    const node = this.current?.name ?? 'after-vector';
    this.current = null;
    this.exceptions[node] = (this.exceptions[node] ?? 0) + 1;
    for (const g of this.graph.all) g.queued = 0;
    try {
      this.endVector();
    } catch {
      this.output.discard();
    }
    this.onNodeError?.(err, node, frames);
  }

  /**
   * Starts a run outside the RX path (a timer run, an application's kick, a drained TX backlog):
   * reads the clock once for it and decides whether it is timed. Returns the time, ms.
   */
  beginRun(): number {
    const now = this.freshClock();
    this.sampler.begin(now);
    return now;
  }

  /** Reads the clock for both output paths and returns it, ms. */
  private freshClock(): number {
    const now = this.ip4.clockTick();
    this.ip6.clockMs = now;
    return now;
  }

  /** Runs the transports' per-vector output (TCP flush) at `now`, recorded as node tcp4-output. */
  runAfterVector(now: number): void {
    const out = this.output;
    const before = out.framesCommitted;
    const privateBefore = out.privateCommitted;
    if (!this.sampler.timed) {
      this.afterVector!(now);
      const frames = out.framesCommitted - before;
      if (frames > 0) this.graph.tcpOutput.recordUntimed(frames);
    } else {
      const app = this.appNanos;
      const t0 = performance.now();
      this.afterVector!(now);
      const frames = out.framesCommitted - before;
      if (frames > 0) this.graph.tcpOutput.recordTimed(frames, (performance.now() - t0) * 1e6 - (this.appNanos - app));
    }
    const priv = out.privateCommitted - privateBefore;
    if (priv > 0) this.graph.tcpOutput.notePrivate(priv, priv === out.framesCommitted - before);
  }

  /** Whether the current run is timed, for session-queue (see TcpHost.timed). */
  get timing(): boolean {
    return this.sampler.timed;
  }

  /** One application call (from TCP) took `ms` in a timed run: session-queue. */
  chargeApplication(ms: number): void {
    const ns = ms * 1e6;
    this.appNanos += ns;
    this.graph.sessionQueue.recordTimed(1, ns);
  }

  /** One application call in an untimed run: counted only. */
  countApplication(): void {
    this.graph.sessionQueue.recordUntimed(1);
  }

  /** Sends what transports wrote outside a vector (timers, application writes). */
  flush(): void {
    this.endVector();
  }

  /** A device drained its TX backlog: let TCP send what it kept back. */
  private resumeTx(): void {
    try {
      const now = this.beginRun();
      if (this.afterVector !== null) this.runAfterVector(now);
      this.endVector();
    } catch (err) {
      this.abandonVector(err, 0);
    }
  }

  /** Drops frame i of the current vector, counting it on its interface and in the node. */
  private drop(node: GraphNode, i: number, reason: number): void {
    node.errors[reason]++;
    this.drops++;
    const f = this.frames;
    const sw = this.interfaces[f.sw[i] - 1] ?? this.hardware[f.hwIndex].sw;
    sw.counters.drops++;
    if (this.tracer.tracedThisVector && this.tracer.frameTrace[i] >= 0) {
      this.tracer.recordDrop(this.tracer.frameTrace[i], sw.name, node.name, node.errorNames[reason]);
    }
    if (this.capture !== null && this.capture.options.drop) {
      this.capture.captureDrop(f.data, f.off[i], f.len[i], f.rxTpid[i], f.rxTci[i], sw.index);
    }
  }

  private startTrace(hw: HardwareInterface, rx: RxVector, base: number, n: number): void {
    const tracer = this.tracer;
    tracer.startVector(n);
    if (!tracer.tracedThisVector) return;
    const ring = (hw.device as { ring?: { version: number } }).ring;
    for (let i = 0; i < n; i++) {
      const id = tracer.frameTrace[i];
      if (id < 0) continue;
      const tpid = rx.vlanTpid[base + i];
      const len = rx.length[base + i];
      tracer.record(
        id,
        'af-packet-input',
        `af_packet: hw_if_index ${hw.sw.index} rx-queue 0 next-index 1`,
        `  tpacket${ring?.version ?? 2}_hdr:`,
        `    status 0x${(rx.flags[base + i] | 1).toString(16).padStart(8, '0')} len ${len} snaplen ${len}${tpid !== 0 ? ` vlan ${rx.vlanTci[base + i] & 0xfff} vlan_tpid ${tpid}` : ''}`,
      );
    }
  }

  private captureRx(hw: HardwareInterface, rx: RxVector, base: number, n: number): void {
    const cap = this.capture!;
    for (let i = 0; i < n; i++) {
      cap.captureRx(rx.data, rx.offset[base + i], rx.length[base + i], rx.vlanTpid[base + i], rx.vlanTci[base + i], hw.sw.index);
    }
  }

  // ---- output helpers for the control plane ----------------------------------------------

  /**
   * A neighbour another thread heard (an ARP packet reaches one RX queue only): learnt here as
   * if this thread had received it, without telling the others again; what waited for it leaves.
   */
  learnShared(swIndex: number, ip: number, mac: Buffer, reply: boolean, create: boolean): void {
    const sw = this.interfaces[swIndex - 1];
    if (sw === undefined) return;
    const now = this.beginRun();
    const share = this.neighbors.share;
    this.neighbors.share = null;
    try {
      this.neighbors.learn(sw, ip, mac, 0, now, reply, create);
      this.endVector();
    } catch (err) {
      this.abandonVector(err, 0);
    } finally {
      this.neighbors.share = share;
    }
  }

  /** Announces `ip` on `sw` (an ARP request for our own address, RFC 5227 §3), and sends it now. */
  sendGratuitousArp(sw: SwInterface, ip: number): void {
    if (!this.announces) return;
    sendArp(this.ctx, sw, ARP_REQUEST, BROADCAST_MAC, ip, ZERO_MAC, ip);
    this.output.flush();
    this.onEvent(`gratuitous ARP sent for ${formatIpv4(ip)} on ${sw.name}`);
  }
}

export function checkVlan(vlanId: number): void {
  if (!Number.isInteger(vlanId) || vlanId < 1 || vlanId > 4094) {
    throw new DataplaneError('EINVAL', `VLAN ID ${vlanId} is out of range (valid: 1-4094)`);
  }
}
