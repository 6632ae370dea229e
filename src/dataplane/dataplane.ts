/**
 * The dataplane: interfaces, the node graph and the vector loop.
 *
 * One device wakeup hands over one vector of frames. ethernet-input classifies the whole
 * vector onto the queues of the next nodes; each node then processes its whole queue before
 * the next node runs; replies are written into per-interface TX batches that are sent once
 * at the end of the vector.
 */
import { performance } from 'node:perf_hooks';
import type { Device, RxVector } from '../io/device.js';
import { formatIpv4, type Ipv4Prefix, prefixMask, sameSubnet } from '../wire/address.js';
import {
  ETH_HEADER_LEN,
  ETHERTYPE_ARP,
  VLAN_TAG_LEN,
  writeEthernet,
  writeEthernetVlan,
} from '../wire/ethernet.js';
import { ARP_LEN, ARP_REQUEST, writeArp } from '../wire/arp.js';
import { IPV4_MIN_HEADER_LEN, writeIpv4 } from '../wire/ipv4.js';
import { FrameVector } from './frames.js';
import { HardwareInterface, SwInterface, type TagRewrite } from './interface.js';
import { NeighborTable } from './neighbor.js';
import { createNodes, type Nodes } from './nodes.js';
import { GraphNode } from './node.js';
import { runEthernetInput } from './ethernet-input.js';
import { runL2Output } from './l2-output.js';
import { runArpInput } from './arp-input.js';
import { runIp4Input } from './ip4-input.js';
import { runIcmpInput } from './icmp-input.js';
import { runTcpInput, type TcpInputHandler } from './tcp-input.js';
import { DataplaneError } from './errors.js';

export { DataplaneError } from './errors.js';

export interface DataplaneOptions {
  /** Opens the device behind `create host-interface name <ifname>`. */
  openDevice: (ifname: string) => Device;
  /** Monotonic clock in ms. */
  now?: () => number;
  /** Largest vector handed to the graph at once. */
  vectorSize?: number;
  /** Neighbour entries unconfirmed for this long are removed (ms; 0 = never). */
  neighborAgeMs?: number;
  /** Called for events worth a log line (address up, gratuitous ARP sent, …). */
  onEvent?: (message: string) => void;
}

const BROADCAST_MAC = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
const ZERO_MAC = Buffer.alloc(6);

export class Dataplane {
  readonly interfaces: SwInterface[] = [];
  readonly hardware: HardwareInterface[] = [];
  readonly neighbors: NeighborTable;
  readonly nodes: Nodes;
  readonly frames: FrameVector;
  readonly now: () => number;
  /** Set by the TCP stack once something listens; segments for our addresses go there. */
  tcp: TcpInputHandler | null = null;
  /** Called after every vector and timer run, so that transports can emit what they queued. */
  afterVector: ((now: number) => void) | null = null;
  private readonly byName = new Map<string, SwInterface>();
  private readonly openDevice: (ifname: string) => Device;
  private readonly onEvent: (message: string) => void;
  private ipId = 1;
  private housekeeping: NodeJS.Timeout | null = null;
  private readonly dirty = new Set<HardwareInterface>();
  /** Runtime of the device input and interface output stages, as VPP shows them. */
  readonly inputNode: GraphNode;
  readonly tcpOutputNode: GraphNode;
  /** Frames written into TX batches so far (to attribute output to the stage that made it). */
  private framesCommitted = 0;
  readonly outputNode: GraphNode;
  /** Vectors abandoned because a node threw, by node name ('after-vector': the transports' hook). */
  readonly exceptions: Record<string, number> = {};
  /** Told about every such exception (the engine logs it); the dataplane goes on either way. */
  onNodeError: ((err: unknown, node: string, frames: number) => void) | null = null;
  private current: GraphNode | null = null;

  constructor(options: DataplaneOptions) {
    this.openDevice = options.openDevice;
    this.now = options.now ?? (() => performance.now());
    this.onEvent = options.onEvent ?? (() => {});
    const capacity = options.vectorSize ?? 256;
    this.frames = new FrameVector(capacity);
    this.nodes = createNodes(capacity);
    this.neighbors = new NeighborTable(options.neighborAgeMs ?? 300_000);
    this.inputNode = new GraphNode('af-packet-input', [], 0);
    this.tcpOutputNode = new GraphNode('tcp4-output', [], 0);
    this.outputNode = new GraphNode('interface-output', [], 0);
  }

  /** All graph nodes in processing order, for `show runtime` and `show errors`. */
  graphNodes(): GraphNode[] {
    const n = this.nodes;
    return [this.inputNode, n.ethernetInput, n.l2Output, n.arpInput, n.ip4Input, n.icmpInput, n.tcpInput, this.tcpOutputNode, this.outputNode];
  }

  // ---- configuration -------------------------------------------------------------------

  /** `create host-interface name <ifname>`: opens the device, returns the new interface's name. */
  createHostInterface(ifname: string, mac?: Buffer): string {
    const name = `host-${ifname}`;
    if (this.byName.has(name)) throw new DataplaneError('EEXIST', `interface ${name} already exists`);
    const device = this.openDevice(ifname);
    const hw = new HardwareInterface(name, device, 256);
    hw.sw = this.addSw(name, hw, 0, 0);
    if (mac !== undefined) hw.sw.mac = mac;
    this.hardware.push(hw);
    device.start((rx) => this.input(hw, rx));
    // --- TX backpressure (issue 8 item 4) ---
    // The device calls this once the frames the kernel refused have gone out: run the
    // transports' output that waited (DataplaneSegmentSink.begin saw txReady false).
    device.onTxReady = () => this.resumeOutput();
    // --- end TX backpressure ---
    return name;
  }

  // --- TX backpressure (issue 8 item 4) ---
  /** A device takes frames again: send what the transports kept pending (as TcpHost.kick does). */
  private resumeOutput(): void {
    try {
      if (this.afterVector !== null) this.runAfterVector();
      this.flush();
    } catch (err) {
      this.abandonVector(err, 0);
    }
  }
  // --- end TX backpressure ---

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
      for (const s of this.interfaces) if (s === sw || (!sw.isSub && s.hw === sw.hw)) this.neighbors.flushInterface(s);
      return;
    }
    // Announce every address that just became reachable: ours and, for a hardware interface, its sub-interfaces'.
    const affected = sw.isSub ? [sw] : this.interfaces.filter((s) => s.hw === sw.hw);
    for (const s of affected) if (s.up) for (const a of s.addresses) this.sendGratuitousArp(s, a.address);
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
    this.onEvent(`address ${formatIpv4(prefix.address)}/${prefix.prefixLength} added to ${name}`);
    if (sw.up) this.sendGratuitousArp(sw, prefix.address);
  }

  deleteAddress(name: string, prefix: Ipv4Prefix): void {
    const sw = this.get(name);
    const i = sw.addresses.findIndex((a) => a.address === prefix.address && a.prefixLength === prefix.prefixLength);
    if (i < 0) throw new DataplaneError('ENOENT', `${formatIpv4(prefix.address)}/${prefix.prefixLength} is not configured on ${name}`);
    sw.addresses.splice(i, 1);
    if (sw.addresses.length === 0) this.neighbors.flushInterface(sw);
  }

  setXconnect(rxName: string, txName: string): void {
    const rx = this.get(rxName);
    const tx = this.get(txName);
    if (rx === tx) throw new DataplaneError('EINVAL', 'an interface cannot be cross-connected to itself');
    if (rx.addresses.length > 0) throw new DataplaneError('EINVAL', `${rxName} has IP addresses; remove them before putting it in L2 mode`);
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
    }
  }

  /** Starts housekeeping (neighbour ageing). The dataplane runs without it in unit tests. */
  start(): void {
    if (this.housekeeping !== null) return;
    this.housekeeping = setInterval(() => this.neighbors.age(this.now()), 1000);
    this.housekeeping.unref();
  }

  close(): void {
    if (this.housekeeping !== null) clearInterval(this.housekeeping);
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
    for (let base = 0; base < rx.count; base += capacity) {
      const n = Math.min(capacity, rx.count - base);
      try {
        this.current = this.nodes.ethernetInput;
        // The device's own work happens in C before this call: af-packet-input counts vectors only.
        this.inputNode.record(n, 0);
        const t0 = performance.now();
        runEthernetInput(this, hw, rx, base, n);
        this.nodes.ethernetInput.record(n, (performance.now() - t0) * 1e6);
        this.dispatch(this.nodes.l2Output, runL2Output);
        this.dispatch(this.nodes.arpInput, runArpInput);
        this.dispatch(this.nodes.ip4Input, runIp4Input);
        this.dispatch(this.nodes.icmpInput, runIcmpInput);
        this.dispatch(this.nodes.tcpInput, runTcpInput);
        this.current = null;
        if (this.afterVector !== null) this.runAfterVector();
        this.flush();
      } catch (err) {
        this.abandonVector(err, n);
      }
    }
  }

  /**
   * A node threw: the rest of this vector is dropped (counted per node in `exceptions`), the
   * queues are emptied so the next vector starts clean, and what was already built is sent.
   */
  private abandonVector(err: unknown, frames: number): void {
    const node = this.current?.name ?? 'after-vector';
    this.current = null;
    this.exceptions[node] = (this.exceptions[node] ?? 0) + 1;
    for (const g of this.graphNodes()) g.queued = 0;
    try {
      this.flush();
    } catch {
      for (const hw of this.hardware) hw.tx.reset();
      this.dirty.clear();
    }
    this.onNodeError?.(err, node, frames);
  }

  private dispatch(node: GraphNode, run: (dp: Dataplane, node: never) => void): void {
    const count = node.queued;
    if (count === 0) return;
    this.current = node;
    const t0 = performance.now();
    (run as (dp: Dataplane, node: GraphNode) => void)(this, node);
    node.queued = 0;
    node.record(count, (performance.now() - t0) * 1e6);
  }

  /** Runs the transports' per-vector output (TCP flush), recorded as node tcp4-output. */
  runAfterVector(): void {
    const before = this.framesCommitted;
    const t0 = performance.now();
    this.afterVector!(this.now());
    const frames = this.framesCommitted - before;
    if (frames > 0) this.tcpOutputNode.record(frames, (performance.now() - t0) * 1e6);
  }

  /** Drops frame i of the current vector, counting it on its interface and in the node. */
  drop(node: GraphNode, i: number, reason: number): void {
    node.errors[reason]++;
    const sw = this.interfaces[this.frames.sw[i] - 1];
    if (sw !== undefined) sw.counters.drops++;
    else this.hardware[this.frames.hwIndex].sw.counters.drops++;
  }

  // ---- output --------------------------------------------------------------------------

  /**
   * Starts a frame on `sw` towards `dstMac` with EtherType `type` in the interface's next TX
   * slot, adding the 802.1Q tag of a sub-interface. Returns the offset where L3 starts in
   * `sw.hw.tx.data`; finish with commitFrame(). `want` > 0: flush first unless a frame of that
   * many bytes (L2 included) fits, for a super-frame (see l3SuperRoom).
   */
  beginFrame(sw: SwInterface, dstMac: Buffer, type: number, want = 0): number {
    const tx = sw.hw.tx;
    if (tx.full || (want > 0 && !tx.hasRoom(want))) this.flushHardware(sw.hw);
    const slot = tx.nextSlot();
    const l2 = sw.isSub
      ? writeEthernetVlan(tx.data, slot, dstMac, sw.mac, sw.vlanId, type)
      : writeEthernet(tx.data, slot, dstMac, sw.mac, type);
    return slot + l2;
  }

  /**
   * Finishes the frame begun with beginFrame(), whose L3 part is `l3Length` bytes; csumStart /
   * gsoSize are the TX offload fields of the frame (see TxVector; only when the device offers them).
   */
  commitFrame(sw: SwInterface, l3Length: number, csumStart = 0, gsoSize = 0): void {
    const l2 = sw.isSub ? ETH_HEADER_LEN + VLAN_TAG_LEN : ETH_HEADER_LEN;
    let frameLength = l2 + l3Length;
    const tx = sw.hw.tx;
    // Pad runts to the Ethernet minimum; the kernel does not do it for packet sockets.
    const minimum = 60;
    if (frameLength < minimum) {
      tx.data.fill(0, tx.nextSlot() + frameLength, tx.nextSlot() + minimum);
      frameLength = minimum;
    }
    tx.commit(frameLength, csumStart, gsoSize);
    this.framesCommitted++;
    sw.counters.txPackets++;
    sw.counters.txBytes += frameLength;
    if (sw.isSub) {
      sw.hw.sw.counters.txPackets++;
      sw.hw.sw.counters.txBytes += frameLength;
    }
    this.dirty.add(sw.hw);
  }

  /** Room for L3 bytes in one frame on `sw`: the interface MTU. */
  l3Room(sw: SwInterface): number {
    const l2 = sw.isSub ? ETH_HEADER_LEN + VLAN_TAG_LEN : ETH_HEADER_LEN;
    return Math.min(sw.mtu, sw.hw.tx.slotSize - l2);
  }

  /**
   * Room for L3 bytes of a TCP super-frame in the frame just begun on `sw` (begun with
   * `want` = the device's maxGsoBytes + L2): up to maxGsoBytes, or the MTU room without GSO.
   */
  l3SuperRoom(sw: SwInterface): number {
    const off = sw.hw.device.txOffload;
    if (off === undefined || !off.gso) return this.l3Room(sw);
    const l2 = sw.isSub ? ETH_HEADER_LEN + VLAN_TAG_LEN : ETH_HEADER_LEN;
    return Math.max(this.l3Room(sw), Math.min(off.maxGsoBytes, sw.hw.tx.free - l2));
  }

  /** Writes an IPv4 header at `off` and returns its length; the payload follows it. */
  writeIpv4Header(buf: Buffer, off: number, src: number, dst: number, protocol: number, payloadLength: number): number {
    this.ipId = (this.ipId + 1) & 0xffff;
    return writeIpv4(buf, off, src, dst, protocol, payloadLength, this.ipId);
  }

  /**
   * The MAC to send to `ip` on `sw`, or undefined while unresolved (an ARP request is then sent,
   * rate-limited, and the caller drops or retries).
   */
  resolve(sw: SwInterface, ip: number): Buffer | undefined {
    const entry = this.neighbors.lookup(sw, ip);
    if (entry !== undefined) return entry.mac;
    const now = this.now();
    if (this.neighbors.shouldRequest(sw, ip, now)) {
      const source = sw.addresses.find((a) => sameSubnet(a.address, ip, a.prefixLength));
      if (source !== undefined) this.sendArp(sw, ARP_REQUEST, BROADCAST_MAC, source.address, ZERO_MAC, ip);
    }
    return undefined;
  }

  sendArp(sw: SwInterface, op: number, dstMac: Buffer, senderIp: number, targetMac: Buffer, targetIp: number): void {
    const tx = sw.hw.tx;
    const off = this.beginFrame(sw, dstMac, ETHERTYPE_ARP);
    writeArp(tx.data, off, op, sw.mac, senderIp, targetMac, targetIp);
    this.commitFrame(sw, ARP_LEN);
  }

  /** Announces `ip` on `sw` (an ARP request for our own address, RFC 5227 §3), and sends it now. */
  sendGratuitousArp(sw: SwInterface, ip: number): void {
    this.sendArp(sw, ARP_REQUEST, BROADCAST_MAC, ip, ZERO_MAC, ip);
    this.flush();
    this.onEvent(`gratuitous ARP sent for ${formatIpv4(ip)} on ${sw.name}`);
  }

  markDirty(hw: HardwareInterface): void {
    this.dirty.add(hw);
  }

  /** Sends every TX batch that has frames. */
  flush(): void {
    if (this.dirty.size === 0) return;
    for (const hw of this.dirty) this.flushHardware(hw);
    this.dirty.clear();
  }

  private flushHardware(hw: HardwareInterface): void {
    const tx = hw.tx;
    if (tx.count === 0) return;
    const t0 = performance.now();
    const sent = hw.device.send(tx);
    if (sent < tx.count) hw.sw.counters.txErrors += tx.count - sent;
    this.outputNode.record(tx.count, (performance.now() - t0) * 1e6);
    tx.reset();
  }

  /** Writes the IPv4 header for an L3 payload already in place and commits the frame. */
  finishIpv4(sw: SwInterface, l3Off: number, src: number, dst: number, protocol: number, payloadLength: number, csumStart = 0, gsoSize = 0): void {
    this.writeIpv4Header(sw.hw.tx.data, l3Off, src, dst, protocol, payloadLength);
    this.commitFrame(sw, IPV4_MIN_HEADER_LEN + payloadLength, csumStart, gsoSize);
  }
}

export function checkVlan(vlanId: number): void {
  if (!Number.isInteger(vlanId) || vlanId < 1 || vlanId > 4094) {
    throw new DataplaneError('EINVAL', `VLAN ID ${vlanId} is out of range (valid: 1-4094)`);
  }
}

