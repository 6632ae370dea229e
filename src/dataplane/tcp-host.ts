/**
 * Hosts the TCP stack on the dataplane: received segments go in through tcp4-input, outgoing
 * segments are written straight into the interface's TX batch (the SegmentSink), output is
 * flushed once per vector, and one Node timer follows the stack's next deadline.
 */
import { finish, pseudoHeaderSum, sumWords } from '../wire/checksum.js';
import { ETHERTYPE_IPV4 } from '../wire/ethernet.js';
import { IPV4_MIN_HEADER_LEN, IP_PROTO_TCP } from '../wire/ipv4.js';
import type { SegmentSink, TcpStack } from '../tcp/index.js';
import type { Dataplane } from './dataplane.js';
import type { SwInterface } from './interface.js';

const TCP_CHECKSUM_OFFSET = 16;

/**
 * Writes segments into the interface's TX batch. On a device with TX offload (AF_PACKET with
 * PACKET_VNET_HDR) the TCP checksum is left to the kernel: the field gets the folded pseudo-header
 * sum and the frame is marked (csumStart). With GSO, begin(…, large = true) reserves a
 * super-frame and end(tcpLen, segSize) marks it for segmentation into segSize-byte payloads.
 */
export class DataplaneSegmentSink implements SegmentSink {
  buf: Buffer = Buffer.alloc(0);
  off = 0;
  room = 0;
  segRoom = 0;
  private sw: SwInterface | null = null;
  private l3 = 0;
  private src = 0;
  private dst = 0;
  private csum = false;
  /** Segments the stack could not send because the peer's MAC is not known yet. */
  unresolved = 0;
  notUp = 0;
  /** Segments held back because the device was not ready (TX backpressure). */
  txNotReady = 0;

  constructor(private readonly dp: Dataplane) {}

  /** Some interface can take TCP super-frames (the stack then builds them for bulk data). */
  get gso(): boolean {
    const hws = this.dp.hardware;
    for (let i = 0; i < hws.length; i++) if (hws[i].device.txOffload?.gso === true) return true;
    return false;
  }

  begin(localIp: number, remoteIp: number, large = false): boolean {
    let sw = this.sw;
    if (sw === null || sw.ownAddress(localIp) === undefined) {
      sw = this.dp.interfaceForAddress(localIp) ?? null;
      if (sw === null) return false;
      this.sw = sw;
    }
    if (!sw.up) {
      this.notUp++;
      return false;
    }
    // --- TX backpressure (issue 8 item 4) ---
    // While the device holds frames the kernel refused (EAGAIN/ENOBUFS), TCP builds nothing
    // more: its output stays pending (stack.pending()) and runs again when the device calls
    // onTxReady (set in Dataplane.createHostInterface). So TCP's segments are never dropped
    // by a full device; only its own send queue grows.
    if (sw.hw.device.txReady === false) {
      this.txNotReady++;
      return false;
    }
    // --- end TX backpressure ---
    const mac = this.dp.resolve(sw, remoteIp);
    if (mac === undefined) {
      this.unresolved++;
      return false;
    }
    const offload = sw.hw.device.txOffload;
    this.csum = offload !== undefined && offload.checksum;
    const superFrame = large && offload !== undefined && offload.gso;
    this.l3 = this.dp.beginFrame(sw, mac, ETHERTYPE_IPV4, superFrame ? offload.maxGsoBytes + 22 : 0);
    this.buf = sw.hw.tx.data;
    this.off = this.l3 + IPV4_MIN_HEADER_LEN;
    this.segRoom = this.dp.l3Room(sw) - IPV4_MIN_HEADER_LEN;
    this.room = superFrame ? this.dp.l3SuperRoom(sw) - IPV4_MIN_HEADER_LEN : this.segRoom;
    this.src = localIp;
    this.dst = remoteIp;
    return true;
  }

  end(tcpLen: number, segSize = 0): void {
    const sw = this.sw!;
    const buf = this.buf;
    const pseudo = pseudoHeaderSum(this.src, this.dst, IP_PROTO_TCP, tcpLen);
    if (this.csum) {
      // The kernel completes it (and, for a super-frame, redoes it per segment from this sum,
      // adjusting the length): the folded pseudo-header sum, not complemented.
      buf.writeUInt16BE(~finish(pseudo) & 0xffff, this.off + TCP_CHECKSUM_OFFSET);
      const csumStart = this.off - sw.hw.tx.nextSlot();
      const hl = (buf[this.off + 12] >>> 4) * 4;
      const gso = segSize > 0 && tcpLen - hl > segSize ? segSize : 0;
      this.dp.finishIpv4(sw, this.l3, this.src, this.dst, IP_PROTO_TCP, tcpLen, csumStart, gso);
      return;
    }
    buf.writeUInt16BE(0, this.off + TCP_CHECKSUM_OFFSET);
    const sum = sumWords(buf, this.off, tcpLen, pseudo);
    buf.writeUInt16BE(finish(sum), this.off + TCP_CHECKSUM_OFFSET);
    this.dp.finishIpv4(sw, this.l3, this.src, this.dst, IP_PROTO_TCP, tcpLen);
  }
}

/** Drives a TcpStack from the dataplane's vector loop and one re-armed timer. */
export class TcpHost {
  private timer: NodeJS.Timeout | null = null;
  private armedFor = Infinity;

  constructor(
    private readonly dp: Dataplane,
    readonly stack: TcpStack,
  ) {
    dp.tcp = stack;
    dp.afterVector = (now) => {
      stack.flush(now);
      this.arm();
    };
  }

  /** Runs expired timers, sends what they produced, and re-arms. */
  private fire = (): void => {
    this.timer = null;
    this.armedFor = Infinity;
    this.stack.tick(this.dp.now());
    this.dp.runAfterVector();
    this.dp.flush();
  };

  /** Arms the timer for the stack's next deadline if that is sooner than the armed one. */
  arm(): void {
    const deadline = this.stack.nextDeadline();
    if (deadline === Infinity || deadline >= this.armedFor) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.armedFor = deadline;
    this.timer = setTimeout(this.fire, Math.max(0, deadline - this.dp.now()));
  }

  /** Sends what applications wrote outside a vector (e.g. after an async file read). */
  kick(): void {
    this.dp.runAfterVector();
    this.dp.flush();
  }

  close(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.dp.tcp = null;
    this.dp.afterVector = null;
  }
}
