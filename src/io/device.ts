/**
 * The one interface every packet device implements: receive a vector, send a vector.
 *
 * Vectors are structure-of-arrays views owned by the device and reused between calls,
 * so the data path allocates nothing per frame. A received vector is valid only during
 * the handler call: the frames may live in a kernel ring that is handed back afterwards.
 */
import { copyBytes } from '../wire/bytes.js';

/** Frames received in one wakeup. Frame i is data[offset[i] .. offset[i] + length[i]). */
export interface RxVector {
  count: number;
  data: Buffer;
  offset: Uint32Array;
  length: Uint32Array;
  /**
   * TPID of a VLAN tag the kernel stripped from the bytes and delivered as metadata
   * (0x8100 or 0x88a8), or 0 when the frame carries no tag metadata.
   */
  vlanTpid: Uint16Array;
  /** TCI (PCP, DEI, VID) of that stripped tag; meaningful only when vlanTpid[i] !== 0. */
  vlanTci: Uint16Array;
  /** RX_FLAG_* bits: what the kernel says about the frame's checksums. */
  flags: Uint8Array;
  /**
   * Time the device spent collecting these frames before handing them over (AF_PACKET: the C ring
   * walk, ns), for af-packet-input's line in `show runtime`; absent for in-memory devices.
   */
  drainNanos?: number;
}

/**
 * The kernel generated this frame on this host and left its L4 checksum for "hardware" to
 * fill in (CHECKSUM_PARTIAL, TP_STATUS_CSUMNOTREADY): the checksum field is not valid, the
 * data is. Seen for traffic between namespaces or pods on one node.
 */
export const RX_FLAG_CSUM_NOT_READY = 1;
/** A NIC verified the L4 checksum (TP_STATUS_CSUM_VALID). */
export const RX_FLAG_CSUM_VALID = 2;

/**
 * Frames to send in one batch. Frame i is data[offset[i] .. offset[i] + length[i]).
 *
 * Optional per-frame TX offload, only for a device whose `txOffload` offers it:
 * - `csumStart[i]` ≠ 0: frame i is IPv4/TCP whose TCP header starts at that offset from the
 *   frame's start; the TCP checksum field holds the folded (not complemented) pseudo-header
 *   sum over source, destination, protocol and the TCP length, and the device completes it.
 * - `gsoSize[i]` ≠ 0 (with csumStart): a TCP super-frame (up to `txOffload.maxGsoBytes` of
 *   IPv4) that the device splits into segments of gsoSize payload bytes, copying the headers,
 *   advancing the sequence number and the IPv4 ID, with PSH/FIN only on the last piece.
 */
export interface TxVector {
  count: number;
  data: Buffer;
  offset: Uint32Array;
  length: Uint32Array;
  csumStart?: Uint16Array;
  gsoSize?: Uint16Array;
  /**
   * External payloads (only with TX offload, only when `hasExt`): extLen[i] > 0 means frame i is
   * its headers data[offset[i] .. +length[i]) followed by extData[i][extOff[i] .. +extLen[i]),
   * bytes that stay where they are (a TCP super-frame's payload in the file cache) until sent.
   */
  hasExt?: boolean;
  extData?: readonly (Uint8Array | null)[];
  extOff?: Uint32Array;
  extLen?: Uint32Array;
}

/** Frame i of `tx` in one piece: `scratch` gets headers and external payload (returns its length). */
export function gatherFrame(tx: TxVector, i: number, scratch: Buffer, at = 0): number {
  const n = tx.length[i];
  copyBytes(scratch, at, tx.data, tx.offset[i], n);
  const el = tx.hasExt === true ? tx.extLen![i] : 0;
  if (el > 0) copyBytes(scratch, at + n, tx.extData![i]!, tx.extOff![i], el);
  return n + el;
}

/** Bytes of frame i: headers and external payload. */
export function frameBytes(tx: TxVector, i: number): number {
  return tx.length[i] + (tx.hasExt === true ? tx.extLen![i] : 0);
}

/** What a device accepts in TxVector.csumStart / gsoSize. */
export interface TxOffload {
  /** TCP checksum completion (csumStart). */
  checksum: boolean;
  /** TCPv4 segmentation of super-frames (gsoSize). */
  gso: boolean;
  /** Largest IPv4 packet (header + TCP) of a super-frame. */
  maxGsoBytes: number;
}

export interface DeviceStats {
  /** Frames the kernel delivered to the ring (PACKET_STATISTICS tp_packets), where known. */
  kernelPackets: number;
  /** Frames the kernel dropped because the ring was full (tp_drops), where known. */
  kernelDrops: number;
  /** Times the ring froze because userspace was too slow (tp_freeze_q_cnt), where known. */
  kernelFreezes: number;
  /** Frames the device failed to transmit. */
  txErrors: number;
  /** Frames (and their bytes) the kernel took, where counted (AF_PACKET; the in-memory device). */
  txFrames?: number;
  txBytes?: number;
  // TX backpressure (devices with a backlog, see src/io/tx-backlog.ts); absent = not counted.
  /** Sends the kernel stopped with EAGAIN (socket send buffer full). */
  txEagain?: number;
  /** Sends the kernel stopped with ENOBUFS (a qdisc or driver queue full: it dropped the frame). */
  txNobufs?: number;
  /** Blocked episodes: the device began holding frames back. */
  txBlocked?: number;
  /** Frames held back in the device's backlog (then sent from there, in order). */
  txBacklogged?: number;
  /** Frames refused because the backlog was full: the only TX backpressure loss. */
  txBacklogDrops?: number;
  /** Frames in the backlog now. */
  txBacklogFrames?: number;
  /** Most frames the backlog held at once. */
  txBacklogPeak?: number;
  /** Times the device tried its backlog again (the socket became writable, or a retry timer after ENOBUFS). */
  txResumes?: number;
  /** SO_SNDBUF of the sending socket as the kernel granted it, bytes. */
  txSendBuffer?: number;
}

export type RxHandler = (rx: RxVector) => void;

/**
 * How a device learns that frames wait (VPP's `set interface rx-mode`):
 * - `interrupt` (default): it sleeps in epoll until the kernel says the socket is readable;
 * - `polling`: it looks at the ring on every event-loop turn, and an empty turn spins on the ring
 *   in C for up to 100 µs first, so the loop never sleeps (one core busy) but timers and other
 *   I/O still run at least every 100 µs;
 * - `adaptive`: interrupt until a wakeup finds frames, then polling until an idle period
 *   passes without a frame (AfPacketOptions.adaptiveIdleMs, 20 ms by default).
 */
export type RxMode = 'interrupt' | 'polling' | 'adaptive';
export const RX_MODES: readonly RxMode[] = ['polling', 'interrupt', 'adaptive'];

export interface Device {
  /** Kernel interface name, e.g. "macvlan0". */
  readonly ifname: string;
  /** MAC address of the underlying link (6 bytes). */
  readonly mac: Buffer;
  /** L3 MTU of the underlying link. */
  readonly mtu: number;
  /** Start delivering received vectors to the handler. */
  start(handler: RxHandler): void;
  /**
   * Send frames; returns how many were accepted by the device. A device with TX backpressure
   * accepts frames the kernel refused for now (EAGAIN/ENOBUFS) into a bounded backlog and sends
   * them later, in order; it returns fewer only when that backlog is full (those are dropped).
   */
  send(tx: TxVector): number;
  /**
   * TX offloads the device accepts (TxVector.csumStart / gsoSize); absent = none, and a caller
   * must then leave those arrays out or all zero. Wrappers that inspect or rewrite frames
   * (pcap, fault injector) do not offer it, so what they see is always wire-exact.
   */
  readonly txOffload?: TxOffload;
  /** False while the device holds a backlog it could not hand to the kernel (EAGAIN/ENOBUFS). */
  readonly txReady?: boolean;
  /** Called (once per blocked episode) when the backlog has drained and the device takes frames again. */
  onTxReady?: (() => void) | null;
  /**
   * Joins (or leaves) the Ethernet multicast group `mac` on the link, so that the device
   * receives frames sent to it (a macvlan delivers only the groups joined on it). AF_PACKET:
   * PACKET_ADD_MEMBERSHIP / PACKET_DROP_MEMBERSHIP with PACKET_MR_MULTICAST, which needs no
   * capability beyond the socket. Joins are counted: each join needs its own leave.
   */
  setMulticast?(mac: Buffer, join: boolean): void;
  /**
   * Whether the kernel runs IPv6 on this link itself (then it owns the EUI-64 link-local of the
   * link's MAC: see dataplane/ip6-link.ts). Undefined: not known (treated as off).
   */
  readonly kernelIpv6?: boolean;
  /** The rx-mode in effect; absent = the device hands frames over as they come (in-memory devices). */
  readonly rxMode?: RxMode;
  /** Changes the rx-mode at run time (only devices with `rxMode`). */
  setRxMode?(mode: RxMode): void;
  /** Whether the device is polling right now (polling, or adaptive while traffic flows). */
  readonly rxPolling?: boolean;
  /**
   * The interface's RX queues this device reads (their numbers, VPP's `queue <n>`); absent = one
   * queue, 0. Empty: a send-only device (a thread that reads none of the interface's queues).
   */
  readonly rxQueueIds?: readonly number[];
  /** The rx-mode of one of those queues (devices with rxQueueIds). */
  queueRxMode?(queue: number): RxMode;
  /** Sets the rx-mode of one queue (devices with rxQueueIds). */
  setQueueRxMode?(queue: number, mode: RxMode): void;
  /**
   * The liveness check's two ring counters, cheaply: writes [frames the kernel put in the ring
   * (drops included), frames taken out of it] into out[0..1] and returns true; false when the
   * device has no ring (absent: the same). stats() has them too, in a much larger object.
   */
  ringCounters?(out: Float64Array): boolean;
  stats(): DeviceStats;
  close(): void;
}

/**
 * A reusable TxVector, so building a batch allocates nothing. Frames are packed into one
 * arena, each at the next 64-byte aligned offset: a frame of up to `slotSize` bytes always fits
 * while the batch is not `full`, and with `superBytes` > 0 (a device with GSO) the arena has
 * room for super-frames too (ask with `hasRoom(n)` first, flush if it says no). Every slot
 * also carries the offload fields (csumStart / gsoSize, 0 = none).
 */
export class TxBatch implements TxVector {
  count = 0;
  readonly data: Buffer;
  readonly offset: Uint32Array;
  readonly length: Uint32Array;
  readonly csumStart: Uint16Array;
  readonly gsoSize: Uint16Array;
  readonly extData: (Uint8Array | null)[];
  readonly extOff: Uint32Array;
  readonly extLen: Uint32Array;
  /** Some frame of this batch has an external payload. */
  hasExt = false;
  /** Bytes of the arena in use (the next frame starts here). */
  private used = 0;
  /**
   * External payload bytes in the batch: counted against the arena's size as if they were in it,
   * so that a batch never carries more bytes than its arena holds (the TX backlog's bound).
   */
  private extBytes = 0;
  private pendingData: Uint8Array | null = null;
  private pendingOff = 0;
  private pendingLen = 0;

  constructor(
    readonly capacity: number,
    readonly slotSize: number,
    /** Largest super-frame (0 = none); the arena grows to hold 16 of them. */
    readonly superBytes = 0,
  ) {
    const bytes = Math.max(capacity * align(slotSize), superBytes > 0 ? 16 * align(superBytes) + slotSize : 0);
    this.data = Buffer.alloc(bytes);
    this.offset = new Uint32Array(capacity);
    this.length = new Uint32Array(capacity);
    this.csumStart = new Uint16Array(capacity);
    this.gsoSize = new Uint16Array(capacity);
    this.extData = new Array<Uint8Array | null>(capacity).fill(null);
    this.extOff = new Uint32Array(capacity);
    this.extLen = new Uint32Array(capacity);
  }

  get full(): boolean {
    return this.count >= this.capacity || this.free < this.slotSize;
  }

  /** Whether a frame of n bytes fits now. */
  hasRoom(n: number): boolean {
    return this.count < this.capacity && this.free >= n;
  }

  /** Bytes free from the next slot to the end of the arena (less what external payloads take). */
  get free(): number {
    return this.data.length - this.used - this.extBytes;
  }

  /**
   * The next committed frame's payload is src[off .. off+len), sent from there (a device with TX
   * offload only): the frame written at nextSlot() holds only its headers, and commit() gets the
   * whole length. `src` must not change until the batch is sent (flush).
   */
  attachNext(src: Uint8Array, off: number, len: number): void {
    this.pendingData = src;
    this.pendingOff = off;
    this.pendingLen = len;
  }

  /** Payload bytes attached to the next frame (0: none). */
  get attached(): number {
    return this.pendingLen;
  }

  /** Offset of the next free slot; write the frame there, then call commit(length). */
  nextSlot(): number {
    return this.used;
  }

  /** Commits the frame at nextSlot(): `length` bytes, an attached payload included. */
  commit(length: number, csumStart = 0, gsoSize = 0): void {
    const i = this.count++;
    const ext = this.pendingLen;
    this.offset[i] = this.used;
    this.length[i] = length - ext;
    this.csumStart[i] = csumStart;
    this.gsoSize[i] = gsoSize;
    this.extLen[i] = ext;
    if (ext > 0) {
      this.extData[i] = this.pendingData;
      this.extOff[i] = this.pendingOff;
      this.extBytes += ext;
      this.hasExt = true;
      this.pendingData = null;
      this.pendingLen = 0;
    } else if (this.extData[i] !== null) this.extData[i] = null;
    if (csumStart !== 0) this.offloaded = true;
    this.used += align(length - ext);
  }

  /** Drops an attachment that no frame took (the frame was not committed). */
  detach(): void {
    this.pendingData = null;
    this.pendingLen = 0;
  }

  /** Whether some frame of this batch uses csumStart / gsoSize. */
  offloaded = false;

  reset(): void {
    if (this.hasExt) this.extData.fill(null, 0, this.count); // let the payloads go
    this.count = 0;
    this.used = 0;
    this.extBytes = 0;
    this.hasExt = false;
    this.offloaded = false;
    this.detach();
  }
}

function align(n: number): number {
  return (n + 63) & ~63;
}
