/**
 * interface-output: the per-interface TX batches. Nodes and the IPv4 output path write frames
 * into the batch of the hardware interface they leave by (beginFrame / commitFrame); every
 * batch that has frames is handed to its device once per vector (flush), in one syscall.
 *
 * Traced frames keep their trace id per TX slot so that interface-output can close their trace;
 * a running pcap capture sees every frame sent.
 */
import { performance } from 'node:perf_hooks';
import { ETH_HEADER_LEN, VLAN_TAG_LEN, writeEthernet, writeEthernetVlan } from '../wire/ethernet.js';
import type { HardwareInterface, SwInterface } from './interface.js';
import type { PacketCapture, Tracer } from './context.js';
import { defineNode, err, info } from './node.js';
import { formatFrameTrace } from './trace-format.js';
import { clearArray } from '../util/array.js';
import { frameBytes } from '../io/device.js';

const MIN_FRAME = 60;

/** The largest packet an IPv4 total length (16 bits) describes. */
const MAX_L3_PACKET_BYTES = 65_535;

export class InterfaceOutput {
  readonly node;
  /** Frames committed so far (lets tcp4-output attribute the frames it made). */
  framesCommitted = 0;
  /**
   * Set by the TCP sink while it writes a private frame (tcp/private-reasons.ts): commitRaw()
   * counts it in the private counters too (interface, node, device), which /metrics subtracts.
   */
  privateTx = false;
  /** Private frames committed so far (lets tcp4-output attribute them). */
  privateCommitted = 0;
  /** Set by the CLI while `pcap trace … tx` runs. */
  capture: PacketCapture | null = null;
  /** Hardware interfaces with frames to send (an array, not a Set: flushing it allocates no iterator). */
  private readonly dirty: HardwareInterface[] = [];
  /** Trace id per TX slot, per hardware interface (allocated when a traced frame first goes out). */
  private readonly slotTrace = new Map<HardwareInterface, Int32Array>();
  /** Sw interface index per TX slot, for pcap's per-interface filter. */
  private readonly slotSw = new Map<HardwareInterface, Uint32Array>();
  private tracedPending = false;

  constructor(
    capacity: number,
    private readonly tracer: Tracer,
  ) {
    this.node = defineNode(
      'interface-output',
      {
        sent: info('frames handed to the device'),
        refused: err('frames the device refused (TX backlog full)'),
      },
      [],
      capacity,
      'sent',
    );
  }

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
  commitFrame(sw: SwInterface, l3Length: number, csumStart = 0, gsoSize = 0, traceId = -1): void {
    this.commitRaw(sw, l2Length(sw) + l3Length, csumStart, gsoSize, traceId);
  }

  /** Commits a frame of `frameLength` bytes written at the next slot of `sw.hw.tx` (L2 included). */
  commitRaw(sw: SwInterface, frameLength: number, csumStart = 0, gsoSize = 0, traceId = -1): void {
    const hw = sw.hw;
    const tx = hw.tx;
    // Pad runts to the Ethernet minimum; the kernel does not do it for packet sockets.
    if (frameLength < MIN_FRAME) {
      tx.data.fill(0, tx.nextSlot() + frameLength, tx.nextSlot() + MIN_FRAME);
      frameLength = MIN_FRAME;
    }
    const slot = tx.count;
    if (traceId >= 0 || this.tracedPending) this.noteTrace(hw, slot, traceId);
    if (this.capture !== null) this.noteSw(hw, slot, sw.index);
    tx.commit(frameLength, csumStart, gsoSize);
    this.framesCommitted++;
    sw.counters.txPackets++;
    sw.counters.txBytes += frameLength;
    if (sw.isSub) {
      hw.sw.counters.txPackets++;
      hw.sw.counters.txBytes += frameLength;
    }
    if (this.privateTx) this.notePrivate(sw, slot, frameLength);
    if (!this.dirty.includes(hw)) this.dirty.push(hw);
  }

  private notePrivate(sw: SwInterface, slot: number, frameLength: number): void {
    const hw = sw.hw;
    this.privateCommitted++;
    sw.privateCounters.txPackets++;
    sw.privateCounters.txBytes += frameLength;
    if (sw.isSub) {
      hw.sw.privateCounters.txPackets++;
      hw.sw.privateCounters.txBytes += frameLength;
    }
    if (hw.privateSlots === null) hw.privateSlots = new Uint8Array(hw.tx.capacity);
    hw.privateSlots[slot] = 1;
    hw.privatePending++;
  }

  /** The private part of a flush of `count` frames of which the device took `sent`. */
  private flushPrivate(hw: HardwareInterface, sent: number, count: number): number {
    const slots = hw.privateSlots!;
    const tx = hw.tx;
    let taken = 0;
    let refused = 0;
    for (let i = 0; i < count; i++) {
      if (slots[i] === 0) continue;
      slots[i] = 0;
      if (i < sent) {
        taken++;
        hw.privateTx.bytes += frameBytes(tx, i);
      } else refused++;
    }
    hw.privatePending = 0;
    hw.privateTx.frames += taken;
    const node = this.node;
    node.privateErrors[node.e.sent] += taken;
    if (refused > 0) {
      node.privateErrors[node.e.refused] += refused;
      hw.sw.privateCounters.txErrors += refused;
    }
    return taken + refused;
  }

  /**
   * Room for L3 bytes in one frame on `sw`: the interface MTU, and never more than an IPv4 total
   * length can say (65,535). A device may have a larger MTU (Linux `lo` has 65,536, a dummy
   * interface can be set higher): a 65,536-byte packet's total length would wrap to 0. For IPv6
   * (payload length 65,535 after its 40-byte header) the cap is 40 bytes conservative.
   */
  l3Room(sw: SwInterface): number {
    return Math.min(sw.mtu, sw.hw.tx.slotSize - l2Length(sw), MAX_L3_PACKET_BYTES);
  }

  /**
   * Room for L3 bytes of a TCP super-frame in the frame just begun on `sw` (begun with
   * `want` = the device's maxGsoBytes + L2): up to maxGsoBytes, or the MTU room without GSO.
   */
  l3SuperRoom(sw: SwInterface): number {
    const off = sw.hw.device.txOffload;
    if (off === undefined || !off.gso) return this.l3Room(sw);
    const l2 = l2Length(sw);
    return Math.max(this.l3Room(sw), Math.min(off.maxGsoBytes, GSO_FRAME_MAX - l2, sw.hw.tx.free - l2));
  }

  /** Whether `hw`'s device takes frames now (false while it drains a backlog the kernel refused). */
  ready(hw: HardwareInterface): boolean {
    return hw.device.txReady !== false;
  }

  /** Sends every TX batch that has frames; `timed` times the sends (see runtime-sampler.ts). */
  flush(timed = false): void {
    const dirty = this.dirty;
    if (dirty.length === 0) return;
    for (let i = 0; i < dirty.length; i++) this.flushHardware(dirty[i], timed);
    clearArray(dirty);
  }

  /** Forgets every unsent frame (after a node threw and the batch may be inconsistent). */
  discard(): void {
    for (const hw of this.dirty) {
      hw.tx.reset();
      if (hw.privatePending > 0) {
        hw.privateSlots!.fill(0);
        hw.privatePending = 0;
      }
    }
    clearArray(this.dirty);
    for (const ids of this.slotTrace.values()) ids.fill(-1);
    this.tracedPending = false;
  }

  private flushHardware(hw: HardwareInterface, timed = false): void {
    const tx = hw.tx;
    const count = tx.count;
    if (count === 0) return;
    const t0 = timed ? performance.now() : 0;
    if (this.capture !== null && this.capture.options.tx) this.captureBatch(hw);
    if (this.tracedPending) this.traceBatch(hw);
    const sent = hw.device.send(tx);
    const node = this.node;
    node.errors[node.e.sent] += sent;
    if (sent < count) {
      node.errors[node.e.refused] += count - sent;
      hw.sw.counters.txErrors += count - sent;
    }
    if (timed) node.recordTimed(count, (performance.now() - t0) * 1e6);
    else node.recordUntimed(count);
    if (hw.privatePending > 0) {
      const priv = this.flushPrivate(hw, sent, count);
      node.notePrivate(priv, priv === count);
    }
    tx.reset();
  }

  private noteTrace(hw: HardwareInterface, slot: number, traceId: number): void {
    let ids = this.slotTrace.get(hw);
    if (ids === undefined) {
      ids = new Int32Array(hw.tx.capacity).fill(-1);
      this.slotTrace.set(hw, ids);
    }
    ids[slot] = traceId;
    if (traceId >= 0) this.tracedPending = true;
  }

  private noteSw(hw: HardwareInterface, slot: number, swIndex: number): void {
    let sws = this.slotSw.get(hw);
    if (sws === undefined) {
      sws = new Uint32Array(hw.tx.capacity);
      this.slotSw.set(hw, sws);
    }
    sws[slot] = swIndex;
  }

  private traceBatch(hw: HardwareInterface): void {
    const ids = this.slotTrace.get(hw);
    if (ids === undefined) return;
    const tx = hw.tx;
    for (let i = 0; i < tx.count; i++) {
      const id = ids[i];
      if (id < 0) continue;
      ids[i] = -1;
      const off = tx.offset[i];
      const d = tx.data;
      // VPP's <interface>-output trace: the interface, then the frame as it leaves (tags inline).
      this.tracer.record(
        id,
        'interface-output',
        `${hw.name} frame ${tx.length[i]} bytes${tx.gsoSize[i] !== 0 ? ` gso ${tx.gsoSize[i]}` : ''}`,
        formatFrameTrace(d, off, tx.length[i]),
      );
    }
    this.tracedPending = false;
    for (const other of this.slotTrace.values()) if (other.some((x) => x >= 0)) this.tracedPending = true;
  }

  private captureBatch(hw: HardwareInterface): void {
    const cap = this.capture!;
    const sws = this.slotSw.get(hw);
    const tx = hw.tx;
    for (let i = 0; i < tx.count; i++) {
      const swIndex = sws !== undefined ? sws[i] : hw.sw.index;
      cap.captureTx(tx.data, tx.offset[i], tx.length[i], swIndex, hw.sw.index);
    }
  }
}

/**
 * The largest TCP super-frame, L2 header (Ethernet + VLAN tag) included: the kernel silently drops
 * a GSO frame whose length reaches the device's gso_max_size (65,536 on veth, macvlan and most NICs).
 */
export const GSO_FRAME_MAX = 65_535;

/** The L3 room of a super-frame leaving by `sw` (what fits GSO_FRAME_MAX after its L2 header). */
export function superL3Max(sw: SwInterface): number {
  return GSO_FRAME_MAX - l2Length(sw);
}

/** A held or discarded frame's scratch buffer in ip4-/ip6-output: one super-frame and its L2 header. */
export const SCRATCH_BYTES = 65_536 + 64;

/** Whether a TCP sink asking for `want` bytes of super-segment gets one on `sw`: its device segments them. */
export function wantsSuperFrame(sw: SwInterface, want: number): boolean {
  return want > 0 && sw.hw.device.txOffload?.gso === true;
}

/**
 * The L3 room of a frame held while `sw`'s neighbour resolves: a super-frame (it is released onto
 * this device, so only if that segments them) within the scratch buffer, else `mtuRoom`.
 */
export function heldRoom(sw: SwInterface, want: number, mtuRoom: number): number {
  return wantsSuperFrame(sw, want) ? Math.min(want, SCRATCH_BYTES - 64, superL3Max(sw)) : mtuRoom;
}

export function l2Length(sw: SwInterface): number {
  return sw.isSub ? ETH_HEADER_LEN + VLAN_TAG_LEN : ETH_HEADER_LEN;
}
