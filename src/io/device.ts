/**
 * The one interface every packet device implements: receive a vector, send a vector.
 *
 * Vectors are structure-of-arrays views owned by the device and reused between calls,
 * so the data path allocates nothing per frame. A received vector is valid only during
 * the handler call: the frames may live in a kernel ring that is handed back afterwards.
 */

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
}

/**
 * The kernel generated this frame on this host and left its L4 checksum for "hardware" to
 * fill in (CHECKSUM_PARTIAL, TP_STATUS_CSUMNOTREADY): the checksum field is not valid, the
 * data is. Seen for traffic between namespaces or pods on one node.
 */
export const RX_FLAG_CSUM_NOT_READY = 1;
/** A NIC verified the L4 checksum (TP_STATUS_CSUM_VALID). */
export const RX_FLAG_CSUM_VALID = 2;

/** Frames to send in one batch. Frame i is data[offset[i] .. offset[i] + length[i]). */
export interface TxVector {
  count: number;
  data: Buffer;
  offset: Uint32Array;
  length: Uint32Array;
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
}

export type RxHandler = (rx: RxVector) => void;

export interface Device {
  /** Kernel interface name, e.g. "macvlan0". */
  readonly ifname: string;
  /** MAC address of the underlying link (6 bytes). */
  readonly mac: Buffer;
  /** L3 MTU of the underlying link. */
  readonly mtu: number;
  /** Start delivering received vectors to the handler. */
  start(handler: RxHandler): void;
  /** Send frames; returns how many were accepted by the device. */
  send(tx: TxVector): number;
  stats(): DeviceStats;
  close(): void;
}

/** A reusable TxVector with fixed-size slots, so building a batch allocates nothing. */
export class TxBatch implements TxVector {
  count = 0;
  readonly data: Buffer;
  readonly offset: Uint32Array;
  readonly length: Uint32Array;

  constructor(readonly capacity: number, readonly slotSize: number) {
    this.data = Buffer.alloc(capacity * slotSize);
    this.offset = new Uint32Array(capacity);
    this.length = new Uint32Array(capacity);
    for (let i = 0; i < capacity; i++) this.offset[i] = i * slotSize;
  }

  get full(): boolean {
    return this.count >= this.capacity;
  }

  /** Offset of the next free slot; write the frame there, then call commit(length). */
  nextSlot(): number {
    return this.count * this.slotSize;
  }

  commit(length: number): void {
    this.length[this.count++] = length;
  }

  reset(): void {
    this.count = 0;
  }
}
