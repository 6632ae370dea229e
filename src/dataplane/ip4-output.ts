/**
 * The IPv4 output path for every packet we originate (TCP segments, ICMP replies, pings):
 *
 *   ip4-lookup   the FIB gives the output interface and next hop (or "no route": dropped);
 *   ip4-rewrite  the next hop's neighbour entry gives the MAC: the L2 header (and VLAN tag) goes
 *                in front of the packet in the interface's TX batch;
 *   ip4-arp      a next hop without a MAC yet: the packet waits in the neighbour's hold queue
 *                while ARP resolves it, and leaves when the reply comes (or is dropped when
 *                resolution fails: only the flows to that next hop see it);
 *   interface-output (interface-output.ts) sends the batch.
 *
 * The caller writes the packet in place (zero copy for TCP): begin() returns where the L3
 * packet starts and how much room there is, the caller writes the transport header and payload
 * after the IPv4 header's 20 bytes, then commit() writes the IPv4 header and commits the frame.
 *
 * These nodes run per packet, not per vector, because the caller builds each packet between
 * begin and commit. Their runtime is sampled: one packet in SAMPLE_EVERY is timed and the
 * cost is scaled up, so `show runtime` stays honest without two clock reads per packet.
 */
import { performance } from 'node:perf_hooks';
import { formatIpv4, formatMac, sameSubnet } from '../wire/address.js';
import { ARP_LEN, ARP_REQUEST, writeArp } from '../wire/arp.js';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4 } from '../wire/ethernet.js';
import { IPV4_MIN_HEADER_LEN, writeIpv4 } from '../wire/ipv4.js';
import type { Tracer } from './context.js';
import type { Fib, FibEntry } from './fib.js';
import type { SwInterface } from './interface.js';
import { type InterfaceOutput, SCRATCH_BYTES, heldRoom, l2Length, wantsSuperFrame } from './interface-output.js';
import { HoldResult, NudState, type Neighbor, type NeighborEvents, type NeighborTable } from './neighbor.js';
import { defineNode, err, info } from './node.js';

const SAMPLE_EVERY = 32;
const BROADCAST_MAC = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
const ZERO_MAC = Buffer.alloc(6);
/** Room for the largest L3 packet we build (a TCP super-frame of up to 64 KiB). */

const enum Mode {
  /** Written straight into a TX batch. */
  Tx,
  /** Written into scratch, to be held for an unresolved next hop. */
  Hold,
  /** Written into scratch and dropped (no route, interface down, neighbour failed). */
  Discard,
}

export function createIp4Nodes(capacity: number) {
  return {
    lookup: defineNode(
      'ip4-lookup',
      {
        routed: info('packets routed'),
        noRoute: err('no route'),
        local: err('destination is one of our addresses'),
        dropPrefix: err('destination is a network, broadcast, multicast or reserved address'),
      },
      ['ip4-rewrite', 'ip4-arp', 'error-drop'],
      capacity,
      'sent',
    ),
    rewrite: defineNode(
      'ip4-rewrite',
      {
        rewritten: info('packets rewritten'),
        interfaceDown: err('output interface down'),
        unreachable: err('neighbour unreachable (resolution failed)'),
        privateBlocked: err('private answer dropped: the device holds a TX backlog'),
      },
      ['interface-output', 'error-drop'],
      capacity,
      'sent',
    ),
    arp: defineNode(
      'ip4-arp',
      {
        requests: info('ARP requests sent'),
        probes: info('ARP probes sent (unicast, to re-confirm a neighbour)'),
        held: info('packets held until the next hop resolves'),
        released: info('held packets sent after resolution'),
        holdFull: err('hold queue full (oldest packet dropped)'),
        holdRefused: err('packet not held (too large, or the budget of all hold queues used up)'),
        failedDrops: err('held packets dropped: resolution failed, or the entry went'),
        tableFull: err('neighbour table full'),
        noSource: err('no source address for ARP on the interface'),
        privateUnresolved: err('private answer dropped: next hop not usable (it starts no resolution)'),
      },
      ['interface-output', 'error-drop'],
      capacity,
      'sent',
    ),
  };
}

export type Ip4Nodes = ReturnType<typeof createIp4Nodes>;

export class Ip4Output implements NeighborEvents {
  readonly nodes: Ip4Nodes;
  /** Where the packet being built starts (its IPv4 header) and how much L3 room it has. */
  buf: Buffer;
  l3 = 0;
  /** L3 bytes for one MTU-sized packet, and for this packet (a super-frame may have more). */
  mtuRoom = 0;
  room = 0;
  /** The packet begun goes straight into its interface's TX batch (not into a hold queue or the discard scratch). */
  get inBatch(): boolean {
    return this.mode === Mode.Tx;
  }

  /** The interface the packet leaves by (valid after begin() returned true, in Tx and Hold modes). */
  sw: SwInterface | null = null;
  private mode = Mode.Tx;
  private neighbor: Neighbor | null = null;
  private entry: FibEntry | null = null;
  private traceId = -1;
  private ipId = 1;
  private readonly scratch = Buffer.alloc(SCRATCH_BYTES);
  private sample = 0;
  /**
   * The time (ms) neighbour uses and confirmations are stamped with: set by the dataplane once per
   * vector, timer run and application kick (clockTick), so that sending a segment reads no clock.
   */
  clockMs = 0;
  /**
   * clockMs again, in a field V8 keeps tagged (it starts as null, so it never gets the unboxed
   * double representation): the heap number is made once per setClock(), and a node that passes
   * the clock to a function it does not inline, per packet (tcp4-input → TcpStack.input), passes
   * that one object instead of boxing the double again for every call (16 bytes per segment).
   */
  clockBoxed: number | null = null;
  private t0 = 0;
  /** Packets per node since the last endVector(), for runtime accounting. */
  private lookups = 0;
  private rewrites = 0;
  /** Of lookups / rewrites: for private frames (InterfaceOutput.privateTx, tcp/private-reasons.ts). */
  private privateLookups = 0;
  private privateRewrites = 0;
  private lookupNanos = 0;
  private rewriteNanos = 0;

  constructor(
    capacity: number,
    private readonly fib: Fib,
    private readonly neighbors: NeighborTable,
    private readonly output: InterfaceOutput,
    private readonly tracer: Tracer,
    private readonly now: () => number,
  ) {
    this.nodes = createIp4Nodes(capacity);
    this.buf = this.scratch;
    neighbors.events = this;
  }

  /**
   * Starts a packet to `dst`. `want` > 0 asks for a super-frame of up to that many L3 bytes
   * (TCP with GSO). `waitForTx`: refuse (return false) while the output device cannot take
   * frames, so the caller keeps the work (TCP); others are queued behind the device's backlog.
   * Otherwise always true: a packet that cannot leave (no route, interface down, a next hop that
   * failed) is written into scratch and dropped at commit(), counted, as a lost packet.
   */
  begin(dst: number, want: number, waitForTx: boolean, traceId = -1): boolean {
    const timed = ++this.sample >= SAMPLE_EVERY;
    if (timed) {
      this.sample = 0;
      this.t0 = performance.now();
    }
    this.traceId = traceId;
    const nodes = this.nodes;
    const entry = this.fib.lookup(dst);
    // Backpressure first: a packet the caller keeps (TCP) is looked up again when it is sent, so
    // a refused try counts nowhere (no lookup, no route hit, no rewrite).
    if (waitForTx && entry !== undefined && entry.forwards && entry.sw!.up && !this.output.ready(entry.sw!.hw)) return false;
    this.lookups++;
    if (this.output.privateTx) this.privateLookups++;
    let sw: SwInterface | null = null;
    let nextHop = dst;
    if (entry !== undefined && entry.source === 'drop') {
      nodes.lookup.errors[nodes.lookup.e.dropPrefix]++;
    } else if (entry === undefined || entry.sw === null) {
      nodes.lookup.errors[nodes.lookup.e.noRoute]++;
    } else if (entry.source === 'local') {
      nodes.lookup.errors[nodes.lookup.e.local]++;
    } else {
      nodes.lookup.errors[nodes.lookup.e.routed]++;
      entry.packets++;
      this.entry = entry;
      sw = entry.sw;
      nextHop = entry.nextHop(dst);
    }
    if (traceId >= 0) this.traceLookup(traceId, dst, entry, sw !== null);
    if (timed) {
      const t1 = performance.now();
      this.lookupNanos += (t1 - this.t0) * 1e6 * SAMPLE_EVERY;
      this.t0 = t1;
    }
    if (sw === null) return this.toScratch(Mode.Discard, null);
    this.rewrites++;
    if (this.output.privateTx) this.privateRewrites++;
    if (!sw.up) {
      nodes.rewrite.errors[nodes.rewrite.e.interfaceDown]++;
      return this.toScratch(Mode.Discard, null);
    }
    if (this.output.privateTx && !this.output.ready(sw.hw)) {
      // A private frame never joins the device's TX backlog (its backpressure series would count
      // it: review r/metrics F8): dropped, counted privately (tcp-host.ts's snapshot).
      nodes.rewrite.errors[nodes.rewrite.e.privateBlocked]++;
      return this.toScratch(Mode.Discard, null);
    }
    // A private frame (tcp/private-reasons.ts) neither moves the entry along (STALE -> DELAY ->
    // PROBE: public unicast ARP requests) nor starts a resolution: it is sent if the entry is
    // usable as it is, dropped otherwise (counted privately: tcp-host.ts's snapshot). Review
    // r/metrics F3.
    let n;
    if (this.output.privateTx) {
      n = this.neighbors.lookup(sw, nextHop);
      if (n === undefined || !n.usable) {
        nodes.arp.errors[nodes.arp.e.privateUnresolved]++;
        return this.toScratch(Mode.Discard, null);
      }
    } else n = this.neighbors.use(sw, nextHop, this.clockMs);
    if (n === undefined) {
      nodes.arp.errors[nodes.arp.e.tableFull]++;
      return this.toScratch(Mode.Discard, null);
    }
    if (!n.usable) {
      if (traceId >= 0) this.tracer.record(traceId, 'ip4-arp', `${n.state === NudState.Failed ? 'neighbour failed' : 'resolving'} ${formatIpv4(nextHop)} on ${sw.name}: packet ${n.state === NudState.Failed ? 'dropped' : 'held'}`);
      if (n.state === NudState.Failed) {
        nodes.rewrite.errors[nodes.rewrite.e.unreachable]++;
        return this.toScratch(Mode.Discard, null);
      }
      this.sw = sw;
      this.mtuRoom = this.output.l3Room(sw);
      this.room = heldRoom(sw, want, this.mtuRoom);
      return this.toScratch(Mode.Hold, n);
    }
    this.mode = Mode.Tx;
    this.sw = sw;
    this.neighbor = n;
    const superFrame = wantsSuperFrame(sw, want);
    const l2 = l2Length(sw);
    this.l3 = this.output.beginFrame(sw, n.mac, ETHERTYPE_IPV4, superFrame ? want + l2 : 0);
    this.buf = sw.hw.tx.data;
    this.mtuRoom = this.output.l3Room(sw);
    this.room = superFrame ? Math.min(want, this.output.l3SuperRoom(sw)) : this.mtuRoom;
    if (traceId >= 0) this.traceRewrite(traceId, sw, n);
    if (timed) this.rewriteNanos += (performance.now() - this.t0) * 1e6 * SAMPLE_EVERY;
    return true;
  }

  /**
   * Writes the IPv4 header and commits the packet begun with begin(). `csumOffload`: the transport
   * checksum is left to the device (the field holds the pseudo-header sum); `gsoSize` > 0 marks a
   * TCP super-frame.
   */
  commit(src: number, dst: number, protocol: number, payloadLength: number, csumOffload = false, gsoSize = 0): void {
    this.ipId = (this.ipId + 1) & 0xffff;
    writeIpv4(this.buf, this.l3, src, dst, protocol, payloadLength, this.ipId);
    const l3Length = IPV4_MIN_HEADER_LEN + payloadLength;
    const nodes = this.nodes;
    if (this.entry !== null) {
      this.entry.bytes += l3Length;
      this.entry = null;
    }
    switch (this.mode) {
      case Mode.Tx: {
        const sw = this.sw!;
        nodes.rewrite.errors[nodes.rewrite.e.rewritten]++;
        this.output.commitFrame(sw, l3Length, csumOffload ? l2Length(sw) + IPV4_MIN_HEADER_LEN : 0, gsoSize, this.traceId);
        break;
      }
      case Mode.Hold: {
        const n = this.neighbor!;
        const r = this.neighbors.hold(n, this.buf, 0, l3Length, ETHERTYPE_IPV4, csumOffload ? IPV4_MIN_HEADER_LEN : 0, gsoSize, this.traceId);
        if (r === HoldResult.Held) nodes.arp.errors[nodes.arp.e.held]++;
        else if (r === HoldResult.HeldDroppedOldest) {
          nodes.arp.errors[nodes.arp.e.held]++;
          nodes.arp.errors[nodes.arp.e.holdFull]++;
        } else if (r === HoldResult.Refused) nodes.arp.errors[nodes.arp.e.holdRefused]++;
        else nodes.rewrite.errors[nodes.rewrite.e.unreachable]++;
        break;
      }
      default:
        break;
    }
    this.neighbor = null;
  }

  /** Source address for packets to `dst` leaving by `sw`: the address of the subnet, else the first. */
  sourceFor(sw: SwInterface, dst: number): number | undefined {
    for (const a of sw.addresses) if (sameSubnet(a.address, dst, a.prefixLength)) return a.address;
    return sw.addresses[0]?.address;
  }

  /** L3 bytes of one packet out of `sw` (its MTU room). */
  mtuRoomOf(sw: SwInterface): number {
    return this.output.l3Room(sw);
  }

  /** The output interface for `dst` (after a FIB lookup), without sending anything. */
  routeInterface(dst: number): SwInterface | null {
    const e = this.fib.lookup(dst);
    return e !== undefined && e.forwards ? e.sw : null;
  }

  /** Reads the clock for the packets about to be built (see clockMs). */
  clockTick(): number {
    const now = this.now();
    this.clockBoxed = now;
    this.clockMs = now;
    return now;
  }

  /** Sets the clock (ms) for the packets about to be built (see clockMs, clockBoxed). */
  setClock(now: number): void {
    this.clockBoxed = now;
    this.clockMs = now;
  }

  /** Records the per-packet nodes' runtime for the packets since the last call. */
  endVector(): void {
    const nodes = this.nodes;
    if (this.lookups > 0) nodes.lookup.record(this.lookups, this.lookupNanos);
    if (this.rewrites > 0) nodes.rewrite.record(this.rewrites, this.rewriteNanos);
    if (this.privateLookups > 0) nodes.lookup.notePrivate(this.privateLookups, this.privateLookups === this.lookups);
    if (this.privateRewrites > 0) nodes.rewrite.notePrivate(this.privateRewrites, this.privateRewrites === this.rewrites);
    this.privateLookups = this.privateRewrites = 0;
    this.lookups = this.rewrites = 0;
    this.lookupNanos = this.rewriteNanos = 0;
  }

  /** A TCP ACK advanced snd.una for `remote`: its next hop is reachable (Linux's dst_confirm). */
  confirm(remote: number): void {
    const e = this.fib.lookup(remote);
    if (e === undefined || !e.forwards) return;
    this.neighbors.confirm(e.sw!, e.nextHop(remote), this.clockMs);
  }

  // ---- NeighborEvents -------------------------------------------------------------------

  solicit(n: Neighbor, unicast: boolean): void {
    const nodes = this.nodes;
    const src = this.sourceFor(n.sw, n.ip);
    if (src === undefined || !n.sw.up) {
      nodes.arp.errors[nodes.arp.e.noSource]++;
      return;
    }
    const off = this.output.beginFrame(n.sw, unicast ? n.mac : BROADCAST_MAC, ETHERTYPE_ARP);
    writeArp(n.sw.hw.tx.data, off, ARP_REQUEST, n.sw.mac, src, ZERO_MAC, n.ip);
    this.output.commitFrame(n.sw, ARP_LEN);
    nodes.arp.errors[unicast ? nodes.arp.e.probes : nodes.arp.e.requests]++;
  }

  release(n: Neighbor): void {
    const sw = n.sw;
    const l2 = l2Length(sw);
    const nodes = this.nodes;
    for (const p of n.held) {
      if (!sw.up) {
        nodes.arp.errors[nodes.arp.e.failedDrops] += n.held.length - n.held.indexOf(p);
        break;
      }
      const l3 = this.output.beginFrame(sw, n.mac, p.type, p.data.length + l2);
      p.data.copy(sw.hw.tx.data, l3);
      this.output.commitFrame(sw, p.data.length, p.csumStartL3 !== 0 ? l2 + p.csumStartL3 : 0, p.gsoSize, p.traceId);
      nodes.arp.errors[nodes.arp.e.released]++;
    }
  }

  failed(_n: Neighbor, dropped: number): void {
    const nodes = this.nodes;
    nodes.arp.errors[nodes.arp.e.failedDrops] += dropped;
  }

  // ---- internals ------------------------------------------------------------------------

  private toScratch(mode: Mode, n: Neighbor | null): true {
    this.mode = mode;
    if (mode === Mode.Discard) this.entry = null;
    this.neighbor = n;
    this.buf = this.scratch;
    this.l3 = 0;
    if (mode === Mode.Discard) {
      this.sw = null;
      this.mtuRoom = this.room = 1500;
    }
    return true;
  }

  private traceLookup(id: number, dst: number, entry: FibEntry | undefined, ok: boolean): void {
    if (entry === undefined) {
      this.tracer.record(id, 'ip4-lookup', `fib 0 dst ${formatIpv4(dst)}: no route`, 'error-drop: ip4-lookup: no route');
      return;
    }
    const path = entry.source === 'static' ? `via ${formatIpv4(entry.via)}` : entry.source === 'connected' ? 'attached' : entry.source;
    this.tracer.record(
      id,
      'ip4-lookup',
      `fib 0 dst ${formatIpv4(dst)} prefix ${formatIpv4(entry.prefix)}/${entry.length} ${path} ${entry.sw?.name ?? 'unresolved'}${ok ? '' : ': dropped'}`,
    );
  }

  private traceRewrite(id: number, sw: SwInterface, n: Neighbor): void {
    const hex = sw.hw.tx.data.toString('hex', this.l3 - l2Length(sw), this.l3);
    this.tracer.record(id, 'ip4-rewrite', `tx_sw_if_index ${sw.index} adj: ipv4 via ${formatIpv4(n.ip)} ${sw.name}: mtu:${sw.mtu} ${formatMac(n.mac)} ${hex}`);
  }
}
