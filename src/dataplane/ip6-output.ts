/**
 * The IPv6 output path for every packet we originate, the twin of ip4-output.ts:
 *
 *   ip6-lookup              the FIB (fib6.ts) gives the output interface and next hop; a
 *                           link-local destination leaves by the interface it was heard on;
 *   ip6-rewrite             the next hop's neighbour entry gives the MAC: the L2 header goes in
 *                           front of the packet in the interface's TX batch;
 *   ip6-discover-neighbor   a next hop without a MAC yet: the packet waits in the neighbour's hold
 *                           queue while a Neighbor Solicitation resolves it (RFC 4861 §7.2.2).
 *
 * Neighbor Discovery's own messages (NS, NA) are written straight onto the link, below the FIB,
 * as ARP is (sendNs / sendNa). The caller writes its upper-layer header and payload after the
 * 40-byte IPv6 header (begin() says where), then commit() writes the IPv6 header. Addresses are
 * passed in place (buffer, offset), so a packet allocates nothing.
 */
import { performance } from 'node:perf_hooks';
import { formatMac } from '../wire/address.js';
import { ETHERTYPE_IPV6 } from '../wire/ethernet.js';
import { writeIcmp6Checksum, writeNa, writeNs } from '../wire/icmpv6.js';
import { formatIpv6, IP6_LEN, ip6PrefixMatch, isIp6LinkLocal, multicastMac, solicitedNode, UNSPECIFIED } from '../wire/ipv6-address.js';
import { IP6_NH_ICMP6, IPV6_HEADER_LEN, writeIpv6 } from '../wire/ipv6.js';
import type { Tracer } from './context.js';
import type { Fib6, Fib6Entry } from './fib6.js';
import { DadState, type Ip6Address, type SwInterface } from './interface.js';
import { type InterfaceOutput, SCRATCH_BYTES, heldRoom, l2Length, wantsSuperFrame } from './interface-output.js';
import { HoldResult, NudState, type Neighbor, type NeighborEvents, type NeighborTable } from './neighbor.js';
import { defineNode, err, info } from './node.js';

/** As ip4-output: one packet in this many is timed and the cost scaled, for `show runtime`. */
const SAMPLE_EVERY = 32;
const ND_HOP_LIMIT = 255;

const enum Mode {
  Tx,
  Hold,
  Discard,
}

export function createIp6Nodes(capacity: number) {
  return {
    lookup: defineNode(
      'ip6-lookup',
      {
        routed: info('packets routed'),
        noRoute: err('no route'),
        local: err('destination is one of our addresses'),
        dropPrefix: err('destination is multicast'),
        linkLocalNoInterface: err('link-local destination without an interface'),
      },
      ['ip6-rewrite', 'ip6-discover-neighbor', 'error-drop'],
      capacity,
      'sent',
    ),
    rewrite: defineNode(
      'ip6-rewrite',
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
    discover: defineNode(
      'ip6-discover-neighbor',
      {
        requests: info('neighbor solicitations sent (multicast)'),
        probes: info('neighbor solicitations sent (unicast, to re-confirm a neighbour)'),
        advertisements: info('neighbor advertisements sent'),
        dadProbes: info('DAD probes sent'),
        held: info('packets held until the next hop resolves'),
        released: info('held packets sent after resolution'),
        holdFull: err('hold queue full (oldest packet dropped)'),
        holdRefused: err('packet not held (too large, or the budget of all hold queues used up)'),
        failedDrops: err('held packets dropped: resolution failed, or the entry went'),
        tableFull: err('neighbour table full'),
        noSource: err('no usable IPv6 source address on the interface'),
        privateUnresolved: err('private answer dropped: next hop not usable (it starts no resolution)'),
      },
      ['interface-output', 'error-drop'],
      capacity,
      'sent',
    ),
  };
}

export type Ip6Nodes = ReturnType<typeof createIp6Nodes>;

export class Ip6Output implements NeighborEvents {
  readonly nodes: Ip6Nodes;
  buf: Buffer;
  l3 = 0;
  mtuRoom = 0;
  room = 0;
  sw: SwInterface | null = null;
  /** The packet begun goes straight into its interface's TX batch (not held, not discarded). */
  get inBatch(): boolean {
    return this.mode === Mode.Tx;
  }

  /** Set by the dataplane once per vector (see Ip4Output.clockMs). */
  clockMs = 0;
  private mode = Mode.Tx;
  private neighbor: Neighbor | null = null;
  private entry: Fib6Entry | null = null;
  private traceId = -1;
  private dstBuf: Buffer = UNSPECIFIED;
  private dstOff = 0;
  private readonly scratch = Buffer.alloc(SCRATCH_BYTES);
  private lookups = 0;
  private rewrites = 0;
  /** Of lookups / rewrites: for private frames (InterfaceOutput.privateTx, tcp/private-reasons.ts). */
  private privateLookups = 0;
  private privateRewrites = 0;
  private lookupNanos = 0;
  private rewriteNanos = 0;
  private sample = 0;

  constructor(
    capacity: number,
    private readonly fib: Fib6,
    private readonly neighbors: NeighborTable,
    private readonly output: InterfaceOutput,
    private readonly tracer: Tracer,
  ) {
    this.nodes = createIp6Nodes(capacity);
    this.buf = this.scratch;
    neighbors.events = this;
  }

  /**
   * Starts a packet to the address at dst[dstOff] (kept by reference until commit()). `via`: the
   * interface a link-local destination is on (the one its packet came in by). `want` > 0 asks for
   * a TCP super-frame of up to that many L3 bytes (GSO, on a device that offers it; as IPv4's
   * begin: `room` then says how much there is). Returns false only
   * while the device is backlogged and `waitForTx` asked to wait; a packet that cannot leave is
   * written into scratch and dropped at commit(), counted.
   */
  begin(dst: Buffer, dstOff: number, via: SwInterface | null, want: number, waitForTx: boolean, traceId = -1): boolean {
    const timed = ++this.sample >= SAMPLE_EVERY;
    const t0 = timed ? performance.now() : 0;
    if (timed) this.sample = 0;
    this.traceId = traceId;
    this.dstBuf = dst;
    this.dstOff = dstOff;
    const nodes = this.nodes;
    const lookup = nodes.lookup;
    const entry = this.fib.lookup(dst, dstOff);
    // Where it would leave, before anything is counted: a segment the caller keeps while the
    // device is backlogged (TCP) is looked up again when it goes, so a refused try counts nowhere.
    let sw: SwInterface | null = null;
    if (entry !== undefined) {
      if (entry.source === 'link-local') sw = via !== null && via.ip6 !== null ? via : null;
      else if (entry.forwards) sw = entry.sw;
    }
    if (sw !== null && waitForTx && sw.up && !this.output.ready(sw.hw)) return false;
    let hop = dst;
    let hopOff = dstOff;
    if (entry === undefined || (entry.source !== 'link-local' && entry.sw === null)) lookup.errors[lookup.e.noRoute]++;
    else if (entry.source === 'drop') lookup.errors[lookup.e.dropPrefix]++;
    else if (entry.source === 'local') lookup.errors[lookup.e.local]++;
    else if (sw === null) lookup.errors[lookup.e.linkLocalNoInterface]++;
    else if (entry.source !== 'link-local') {
      entry.packets++;
      this.entry = entry;
      if (entry.source === 'static') {
        hop = entry.via!;
        hopOff = 0;
      }
    }
    this.lookups++;
    if (this.output.privateTx) this.privateLookups++;
    if (sw !== null) lookup.errors[lookup.e.routed]++;
    const t1 = timed ? performance.now() : 0;
    if (timed) this.lookupNanos += (t1 - t0) * 1e6 * SAMPLE_EVERY;
    if (traceId >= 0) this.tracer.record(traceId, 'ip6-lookup', `fib 0 dst ${formatIpv6(dst, dstOff)}${entry !== undefined ? ` prefix ${formatIpv6(entry.prefix)}/${entry.length} ${entry.source}` : ''} ${sw?.name ?? 'no route: dropped'}`);
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
    // A private frame moves no entry along and starts no resolution (as ip4-output.ts; review r/metrics F3v6).
    let n;
    if (this.output.privateTx) {
      n = this.neighbors.lookup6(sw, hop, hopOff);
      if (n === undefined || !n.usable) {
        nodes.discover.errors[nodes.discover.e.privateUnresolved]++;
        return this.toScratch(Mode.Discard, null);
      }
    } else n = this.neighbors.use6(sw, hop, hopOff, this.clockMs);
    if (n === undefined) {
      nodes.discover.errors[nodes.discover.e.tableFull]++;
      return this.toScratch(Mode.Discard, null);
    }
    if (!n.usable) {
      if (traceId >= 0) this.tracer.record(traceId, 'ip6-discover-neighbor', `${n.state === NudState.Failed ? 'neighbour failed' : 'resolving'} ${formatIpv6(hop, hopOff)} on ${sw.name}`);
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
    this.l3 = this.output.beginFrame(sw, n.mac, ETHERTYPE_IPV6, superFrame ? want + l2Length(sw) : 0);
    this.buf = sw.hw.tx.data;
    this.mtuRoom = this.output.l3Room(sw);
    this.room = superFrame ? Math.min(want, this.output.l3SuperRoom(sw)) : this.mtuRoom;
    if (traceId >= 0) {
      const hex = this.buf.toString('hex', this.l3 - l2Length(sw), this.l3);
      this.tracer.record(traceId, 'ip6-rewrite', `tx_sw_if_index ${sw.index} adj: ipv6 via ${formatIpv6(n.ip6!)} ${sw.name}: mtu:${sw.mtu} ${formatMac(n.mac)} ${hex}`);
    }
    if (timed) this.rewriteNanos += (performance.now() - t1) * 1e6 * SAMPLE_EVERY;
    return true;
  }

  /**
   * Writes the IPv6 header (source at src[srcOff]) and commits the packet begun with begin().
   * `csumOffload`: the upper-layer header follows the IPv6 header and its checksum is left to the
   * device (the field holds the pseudo-header sum); `gsoSize` > 0 marks a TCP super-frame.
   */
  commit(src: Buffer, srcOff: number, nextHeader: number, payloadLength: number, hopLimit = 64, csumOffload = false, gsoSize = 0): void {
    writeIpv6(this.buf, this.l3, src, srcOff, this.dstBuf, this.dstOff, nextHeader, payloadLength, hopLimit);
    const l3Length = IPV6_HEADER_LEN + payloadLength;
    const nodes = this.nodes;
    if (this.entry !== null) {
      this.entry.bytes += l3Length;
      this.entry = null;
    }
    if (this.mode === Mode.Tx) {
      nodes.rewrite.errors[nodes.rewrite.e.rewritten]++;
      const sw = this.sw!;
      this.output.commitFrame(sw, l3Length, csumOffload ? l2Length(sw) + IPV6_HEADER_LEN : 0, gsoSize, this.traceId);
    } else if (this.mode === Mode.Hold) {
      const d = nodes.discover;
      const r = this.neighbors.hold(this.neighbor!, this.buf, 0, l3Length, ETHERTYPE_IPV6, csumOffload ? IPV6_HEADER_LEN : 0, gsoSize, this.traceId);
      if (r === HoldResult.Held) d.errors[d.e.held]++;
      else if (r === HoldResult.HeldDroppedOldest) {
        d.errors[d.e.held]++;
        d.errors[d.e.holdFull]++;
      } else if (r === HoldResult.Refused) d.errors[d.e.holdRefused]++;
      else nodes.rewrite.errors[nodes.rewrite.e.unreachable]++;
    }
    this.neighbor = null;
    this.dstBuf = UNSPECIFIED;
  }

  /**
   * The source address for a packet to dst[off] out of `sw` (RFC 6724 in short): the link-local
   * for a link-local destination, else a global address of the destination's prefix, else the
   * first global one, else the link-local. Only addresses that passed DAD.
   */
  sourceFor(sw: SwInterface, dst: Buffer, off: number): Ip6Address | undefined {
    const link = sw.ip6;
    if (link === null) return undefined;
    const ll = link.linkLocal.dad === DadState.Preferred ? link.linkLocal : undefined;
    if (isIp6LinkLocal(dst, off)) return ll;
    let first: Ip6Address | undefined;
    for (const a of link.addresses) {
      if (a.dad !== DadState.Preferred) continue;
      if (ip6PrefixMatch(a.address, 0, dst, off, a.prefixLength)) return a;
      first ??= a;
    }
    return first ?? ll;
  }

  /** The output interface for dst[off] (link-local: `via`), without sending anything. */
  routeInterface(dst: Buffer, off: number, via: SwInterface | null): SwInterface | null {
    const e = this.fib.lookup(dst, off);
    if (e === undefined) return null;
    if (e.source === 'link-local') return via !== null && via.ip6 !== null ? via : null;
    return e.forwards ? e.sw : null;
  }

  /** Starts a packet that is dropped at commit() (its destination is gone), counted as no route. */
  beginDiscard(): void {
    this.nodes.lookup.errors[this.nodes.lookup.e.noRoute]++;
    this.toScratch(Mode.Discard, null);
  }

  /** Forward progress to dst (a TCP ACK that advanced snd.una): its next hop is reachable. */
  confirm(dst: Buffer, via: SwInterface | null): void {
    const e = this.fib.lookup(dst, 0);
    if (e === undefined) return;
    if (e.source === 'link-local') {
      if (via !== null) this.neighbors.confirm6(via, dst, 0, this.clockMs);
    } else if (e.forwards) this.neighbors.confirm6(e.sw!, e.source === 'static' ? e.via! : dst, 0, this.clockMs);
  }

  mtuRoomOf(sw: SwInterface): number {
    return this.output.l3Room(sw);
  }

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

  // ---- Neighbor Discovery on the link ----------------------------------------------------

  /**
   * Sends a Neighbor Solicitation for target[off] on `sw`: to its solicited-node group, or
   * unicast to `mac` (a re-probe). `dad`: a DAD probe, from :: without a source link-layer option.
   */
  sendNs(sw: SwInterface, target: Buffer, off: number, mac: Buffer | null, dad: boolean): boolean {
    const d = this.nodes.discover;
    let src: Buffer = UNSPECIFIED;
    if (!dad) {
      const s = this.sourceFor(sw, target, off);
      if (s === undefined || !sw.up) {
        d.errors[d.e.noSource]++;
        return false;
      }
      src = s.address;
    }
    const dst = mac !== null ? target.subarray(off, off + IP6_LEN) : solicitedNode(target, off);
    const l3 = this.output.beginFrame(sw, mac ?? multicastMac(dst), ETHERTYPE_IPV6);
    const buf = sw.hw.tx.data;
    const icmp = l3 + IPV6_HEADER_LEN;
    const len = writeNs(buf, icmp, target, off, dad ? null : sw.mac);
    writeIpv6(buf, l3, src, 0, dst, 0, IP6_NH_ICMP6, len, ND_HOP_LIMIT);
    writeIcmp6Checksum(buf, l3, icmp, len);
    this.output.commitFrame(sw, IPV6_HEADER_LEN + len);
    d.errors[dad ? d.e.dadProbes : mac !== null ? d.e.probes : d.e.requests]++;
    return true;
  }

  /**
   * Sends a Neighbor Advertisement for our address target[tOff] on `sw` to dst[dOff] (MAC
   * `dstMac`), with `flags` (NA_FLAG_*) and our MAC as target link-layer address.
   */
  sendNa(sw: SwInterface, dstMac: Buffer, dst: Buffer, dOff: number, target: Buffer, tOff: number, flags: number, traceId = -1): void {
    const l3 = this.output.beginFrame(sw, dstMac, ETHERTYPE_IPV6);
    const buf = sw.hw.tx.data;
    const icmp = l3 + IPV6_HEADER_LEN;
    const len = writeNa(buf, icmp, flags, target, tOff, sw.mac);
    writeIpv6(buf, l3, target, tOff, dst, dOff, IP6_NH_ICMP6, len, ND_HOP_LIMIT);
    writeIcmp6Checksum(buf, l3, icmp, len);
    this.output.commitFrame(sw, IPV6_HEADER_LEN + len, 0, 0, traceId);
    this.nodes.discover.errors[this.nodes.discover.e.advertisements]++;
  }

  // ---- NeighborEvents -------------------------------------------------------------------

  solicit(n: Neighbor, unicast: boolean): void {
    this.sendNs(n.sw, n.ip6!, 0, unicast ? n.mac : null, false);
  }

  release(n: Neighbor): void {
    const sw = n.sw;
    const l2 = l2Length(sw);
    const d = this.nodes.discover;
    for (let k = 0; k < n.held.length; k++) {
      const p = n.held[k];
      if (!sw.up) {
        d.errors[d.e.failedDrops] += n.held.length - k;
        break;
      }
      // A held TCP segment keeps its offload fields (a super-frame only went into the hold queue
      // of a device that segments them).
      const l3 = this.output.beginFrame(sw, n.mac, p.type, p.data.length + l2);
      p.data.copy(sw.hw.tx.data, l3);
      this.output.commitFrame(sw, p.data.length, p.csumStartL3 !== 0 ? l2 + p.csumStartL3 : 0, p.gsoSize, p.traceId);
      d.errors[d.e.released]++;
    }
  }

  failed(_n: Neighbor, dropped: number): void {
    this.nodes.discover.errors[this.nodes.discover.e.failedDrops] += dropped;
  }

  private toScratch(mode: Mode, n: Neighbor | null): true {
    this.mode = mode;
    if (mode === Mode.Discard) {
      this.entry = null;
      this.sw = null;
      this.mtuRoom = this.room = 1500;
    }
    this.neighbor = n;
    this.buf = this.scratch;
    this.l3 = 0;
    return true;
  }
}
