/**
 * Per-frame state of the vector being processed, as parallel typed arrays (structure of
 * arrays), allocated once. Frame i of the current vector lives at data[off[i] .. off[i]+len[i]).
 */
export class FrameVector {
  data: Buffer = Buffer.alloc(0);
  count = 0;
  /** Index of the hardware interface the vector came from. */
  hwIndex = 0;
  readonly off: Uint32Array;
  readonly len: Uint32Array;
  /** RX_FLAG_* bits the device reported (checksum status). */
  readonly flags: Uint8Array;
  /** Software interface the frame belongs to, once ethernet-input has classified it. */
  readonly sw: Uint32Array;
  /** The tag the kernel stripped (AF_PACKET metadata; TPID 0 = none), for captures of the frame as on the wire. */
  readonly rxTpid: Uint16Array;
  readonly rxTci: Uint16Array;
  /** Logical VLAN tag stack, outermost first: TPIDs and TCIs of up to two tags. */
  readonly tagCount: Uint8Array;
  readonly tpid0: Uint16Array;
  readonly tci0: Uint16Array;
  readonly tpid1: Uint16Array;
  readonly tci1: Uint16Array;
  /** Offset of the innermost EtherType field; the payload starts 2 bytes later. */
  readonly typeOff: Uint32Array;
  /** Offset and length of the L3 packet (IPv4 total length, once ip4-input checked it). */
  readonly l3Off: Uint32Array;
  readonly l3Len: Uint32Array;

  constructor(readonly capacity: number) {
    this.off = new Uint32Array(capacity);
    this.len = new Uint32Array(capacity);
    this.flags = new Uint8Array(capacity);
    this.sw = new Uint32Array(capacity);
    this.rxTpid = new Uint16Array(capacity);
    this.rxTci = new Uint16Array(capacity);
    this.tagCount = new Uint8Array(capacity);
    this.tpid0 = new Uint16Array(capacity);
    this.tci0 = new Uint16Array(capacity);
    this.tpid1 = new Uint16Array(capacity);
    this.tci1 = new Uint16Array(capacity);
    this.typeOff = new Uint32Array(capacity);
    this.l3Off = new Uint32Array(capacity);
    this.l3Len = new Uint32Array(capacity);
  }
}
