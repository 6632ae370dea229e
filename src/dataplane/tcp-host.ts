/**
 * Hosts the TCP stack on the dataplane: received segments go in through tcp4-input, outgoing
 * segments are written in place through the IPv4 output path (FIB → neighbour → TX batch) — the
 * SegmentSink — output is flushed once per vector, and one Node timer follows the stack's next
 * deadline.
 */
import { performance } from 'node:perf_hooks';
import { write16 } from '../wire/bytes.js';
import { finish, pseudoHeaderSum, sumWords } from '../wire/checksum.js';
import { IPV4_MIN_HEADER_LEN, IP_PROTO_TCP } from '../wire/ipv4.js';
import type { SegmentSink, TcpStack } from '../tcp/index.js';
import type { Dataplane } from './dataplane.js';
import type { Ip4Output } from './ip4-output.js';
import type { Ip6Output } from './ip6-output.js';
import { isIp6Handle } from './ip6-peers.js';
import type { GraphNode } from './node.js';
import { IP6_NH_TCP, IPV6_HEADER_LEN } from '../wire/ipv6.js';

const TCP_CHECKSUM_OFFSET = 16;

type AcceptHandler = Parameters<TcpStack['listen']>[2];

/**
 * Writes segments through the IPv4 output path. On a device with TX offload (AF_PACKET with
 * PACKET_VNET_HDR) the TCP checksum is left to the kernel: the field gets the folded pseudo-header
 * sum and the frame is marked. With GSO, begin(…, large = true) reserves a super-frame and
 * end(tcpLen, segSize) marks it for segmentation into segSize-byte payloads.
 *
 * begin() refuses only while the output device is backlogged (backpressure); a segment that cannot
 * leave (no route, interface down, next hop failed) is accepted and dropped by the output path,
 * counted there, and TCP recovers as from a lost segment. A next hop still resolving holds it.
 */
export class DataplaneSegmentSink implements SegmentSink {
  buf: Buffer = Buffer.alloc(0);
  off = 0;
  room = 0;
  segRoom = 0;
  private src = 0;
  private dst = 0;
  private csum = false;
  private readonly ip4: Ip4Output;
  private readonly ip6: Ip6Output;
  /** The segment being built goes over IPv6 (addresses src6 → dst6). */
  private v6 = false;
  private src6: Buffer = Buffer.alloc(16);
  private dst6: Buffer = Buffer.alloc(16);
  /** SegmentSink.privateTx: the segment being built is private (counted in the private TX counters too). */
  privateTx = false;
  /** The output paths' nodes, whose counters a private segment moves, and their counts at begin(). */
  private readonly outputNodes: GraphNode[];
  private readonly outputSnapshot: Float64Array[];
  private snapshotTaken = false;

  constructor(private readonly dp: Dataplane) {
    this.ip4 = dp.ip4;
    this.ip6 = dp.ip6;
    this.outputNodes = [...Object.values(dp.ip4.nodes), ...Object.values(dp.ip6.nodes)];
    this.outputSnapshot = this.outputNodes.map((n) => new Float64Array(n.errors.length));
  }

  /** Some interface can take TCP super-frames (the stack then builds them for bulk data). */
  get gso(): boolean {
    const hws = this.dp.hardware;
    for (let i = 0; i < hws.length; i++) if (hws[i].device.txOffload?.gso === true) return true;
    return false;
  }

  begin(localIp: number, remoteIp: number, large = false, control = false): boolean {
    // The output paths and interface-output count a private frame in their private counters too
    // (see tcp/private-reasons.ts); end() clears the mark, and so does the next begin().
    const out = this.dp.output;
    out.privateTx = this.privateTx;
    if (this.privateTx) this.snapshot();
    const ok = isIp6Handle(remoteIp) ? this.begin6(localIp, remoteIp, large, control) : this.begin4(localIp, remoteIp, large, control);
    if (!ok) this.endPrivate();
    return ok;
  }

  /**
   * A private segment (rare: it answers a segment that failed acceptance) moves the output
   * paths' disposition counters (routed, rewritten, held, dropped...): what it added there between
   * begin() and end() is added to their privateErrors too, whichever counters those were.
   */
  private snapshot(): void {
    const nodes = this.outputNodes;
    for (let i = 0; i < nodes.length; i++) this.outputSnapshot[i].set(nodes[i].errors);
    this.snapshotTaken = true;
  }

  private endPrivate(): void {
    this.dp.output.privateTx = false;
    if (!this.snapshotTaken) return;
    this.snapshotTaken = false;
    const nodes = this.outputNodes;
    for (let i = 0; i < nodes.length; i++) {
      const e = nodes[i].errors;
      const s = this.outputSnapshot[i];
      const p = nodes[i].privateErrors;
      for (let j = 0; j < e.length; j++) if (e[j] !== s[j]) p[j] += e[j] - s[j];
    }
  }

  private begin4(localIp: number, remoteIp: number, large: boolean, control: boolean): boolean {
    this.v6 = false;
    const ip4 = this.ip4;
    const superFrame = large && this.gso;
    // Data waits while the device is backlogged (TCP keeps it); control segments queue behind it.
    // A super-frame: ip4-output lowers 65,535 to 65,535 − L2 (GSO_FRAME_MAX: the kernel drops more).
    if (!ip4.begin(remoteIp, superFrame ? 65_535 : 0, !control)) return false;
    // Held packets keep the offload fields: they leave by the same device once resolved.
    this.csum = ip4.sw?.hw.device.txOffload?.checksum === true;
    this.buf = ip4.buf;
    this.off = ip4.l3 + IPV4_MIN_HEADER_LEN;
    this.segRoom = ip4.mtuRoom - IPV4_MIN_HEADER_LEN;
    this.room = ip4.room - IPV4_MIN_HEADER_LEN;
    // int32: passed on per segment (commit, checksum), where an unsigned address ≥ 2^31 would be boxed.
    this.src = localIp | 0;
    this.dst = remoteIp | 0;
    return true;
  }

  /**
   * IPv6: the handles' addresses (ip6-peers.ts), out through the IPv6 output path, the link-local
   * peer by the interface it was heard on. The same TX offload as IPv4: checksum offload with the
   * IPv6 pseudo-header sum in the field, and super-frames (VIRTIO_NET_HDR_GSO_TCPV6) for bulk data.
   */
  private begin6(localIp: number, remoteIp: number, large: boolean, control: boolean): boolean {
    const peers = this.dp.ip6Peers;
    const ip6 = this.ip6;
    const src = peers.address(localIp);
    const dst = peers.address(remoteIp);
    // 65,535 L3 bytes as for IPv4 (the IPv6 payload length, 16 bits, then still holds the TCP length);
    // the output path lowers it to what keeps the frame with its L2 header ≤ 65,535 (GSO_FRAME_MAX).
    if (src === undefined || dst === undefined) ip6.beginDiscard();
    else if (!ip6.begin(dst, 0, peers.interfaceOf(remoteIp), large && this.gso ? 65_535 : 0, !control)) return false;
    this.v6 = true;
    this.src6 = src ?? this.src6;
    this.dst6 = dst ?? this.dst6;
    this.csum = ip6.sw?.hw.device.txOffload?.checksum === true;
    this.buf = ip6.buf;
    this.off = ip6.l3 + IPV6_HEADER_LEN;
    this.segRoom = ip6.mtuRoom - IPV6_HEADER_LEN;
    this.room = ip6.room - IPV6_HEADER_LEN;
    return true;
  }

  end(tcpLen: number, segSize = 0): void {
    this.endSegment(tcpLen, segSize);
    if (this.dp.output.privateTx) this.endPrivate();
  }

  private endSegment(tcpLen: number, segSize: number): void {
    const buf = this.buf;
    if (this.v6) {
      const pseudo6 = sumWords(this.dst6, 0, 16, sumWords(this.src6, 0, 16, (tcpLen >>> 16) + (tcpLen & 0xffff) + IP6_NH_TCP));
      if (this.csum) {
        // As for IPv4: the folded pseudo-header sum, not complemented; the kernel finishes it
        // (per segment for a super-frame, adjusting the length in it).
        write16(buf, this.off + TCP_CHECKSUM_OFFSET, ~finish(pseudo6) & 0xffff);
        const hl = (buf[this.off + 12] >>> 4) * 4;
        const gso = segSize > 0 && tcpLen - hl > segSize ? segSize : 0;
        this.ip6.commit(this.src6, 0, IP6_NH_TCP, tcpLen, 64, true, gso);
        return;
      }
      write16(buf, this.off + TCP_CHECKSUM_OFFSET, 0);
      write16(buf, this.off + TCP_CHECKSUM_OFFSET, finish(sumWords(buf, this.off, tcpLen, pseudo6)));
      this.ip6.commit(this.src6, 0, IP6_NH_TCP, tcpLen);
      return;
    }
    const pseudo = pseudoHeaderSum(this.src, this.dst, IP_PROTO_TCP, tcpLen);
    if (this.csum) {
      // The kernel completes it (and, for a super-frame, redoes it per segment from this sum,
      // adjusting the length): the folded pseudo-header sum, not complemented.
      write16(buf, this.off + TCP_CHECKSUM_OFFSET, ~finish(pseudo) & 0xffff);
      const hl = (buf[this.off + 12] >>> 4) * 4;
      const gso = segSize > 0 && tcpLen - hl > segSize ? segSize : 0;
      this.ip4.commit(this.src, this.dst, IP_PROTO_TCP, tcpLen, true, gso);
      return;
    }
    write16(buf, this.off + TCP_CHECKSUM_OFFSET, 0);
    const sum = sumWords(buf, this.off, tcpLen, pseudo);
    write16(buf, this.off + TCP_CHECKSUM_OFFSET, finish(sum));
    this.ip4.commit(this.src, this.dst, IP_PROTO_TCP, tcpLen);
  }

  /**
   * The super-segment's payload is sent from `data` (a third iovec in the addon's sendmmsg) instead
   * of being copied into the TX batch: only with checksum offload (the kernel sums across the
   * pieces), only straight into a batch (a held packet is copied), and not while a pcap capture or
   * a trace looks at the frames in the batch.
   */
  attach(data: Buffer, dataOff: number, len: number): boolean {
    if (!this.csum || this.dp.pcap !== null || this.dp.tracer.armed) return false;
    const out = this.v6 ? this.ip6 : this.ip4;
    if (!out.inBatch) return false;
    out.sw!.hw.tx.attachNext(data, dataOff, len);
    return true;
  }

  confirm(remoteIp: number): void {
    if (isIp6Handle(remoteIp)) {
      const dst = this.dp.ip6Peers.address(remoteIp);
      if (dst !== undefined) this.ip6.confirm(dst, this.dp.ip6Peers.interfaceOf(remoteIp));
      return;
    }
    this.ip4.confirm(remoteIp);
  }
}

/**
 * Drives a TcpStack from the dataplane's vector loop and one re-armed timer.
 *
 * Timers on a ~50 µs path (RACK's reordering window, the tail loss probe, the pacer) are due
 * within a fraction of a millisecond, where Node's setTimeout is a whole-millisecond timer that a
 * busy loop delays further. So every run of the vector loop (each RX vector, each timer run, each
 * application kick) first runs the timers already due at its clock, before TCP output: a busy
 * connection's deadlines are met by the next frame that arrives, not only by the setTimeout (which
 * remains for an idle path). The setTimeout is armed for the earliest deadline rounded up to the
 * next whole millisecond: Node truncates a fractional delay, so it fired up to 1 ms before the
 * deadline, found nothing due and was armed again (two wakeups for one deadline).
 */
export class TcpHost {
  private timer: NodeJS.Timeout | null = null;
  private armedFor = Infinity;

  constructor(
    private readonly dp: Dataplane,
    readonly stack: TcpStack,
  ) {
    dp.tcp = stack;
    dp.afterVector = (now) => {
      stack.tick(now);
      stack.flush(now);
      this.arm();
    };
  }

  /** Runs expired timers, sends what they produced, and re-arms. */
  private fire = (): void => {
    this.timer = null;
    this.armedFor = Infinity;
    if (this.dp.afterVector === null) return; // closed
    // The timers due now run in runAfterVector (afterVector above), on a fresh clock.
    this.dp.runAfterVector(this.dp.beginRun());
    this.dp.flush();
  };

  /** Arms the timer for the stack's next deadline if that is sooner than the armed one. */
  arm(): void {
    const deadline = this.stack.nextDeadline();
    if (deadline === Infinity || deadline >= this.armedFor) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.armedFor = deadline;
    const wait = Math.ceil(deadline - this.dp.now());
    this.timer = setTimeout(this.fire, wait > 0 ? wait : 0);
  }

  /** Sends what applications wrote outside a vector (e.g. after an async file read). */
  kick(): void {
    // A kick scheduled (setImmediate, Services' onWork) before close() runs after it: nothing to do.
    if (this.dp.afterVector === null) return;
    this.dp.runAfterVector(this.dp.beginRun());
    this.dp.flush();
  }

  /**
   * Wraps an application's accept handler so that the time TCP spends in it (HTTP parsing and
   * responses, called from tcp4-input and tcp4-output) is charged to node session-queue, not to
   * the TCP node that called it. One wrapper object per connection; calls are timed in the runs
   * the dataplane times (runtime-sampler.ts).
   */
  timed(accept: AcceptHandler): AcceptHandler {
    const dp = this.dp;
    return (stream) => new TimedHandler(accept(stream), dp);
  }

  close(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.dp.tcp = null;
    this.dp.afterVector = null;
  }
}

type StreamHandler = ReturnType<AcceptHandler>;

/** An application's handler whose onData/onDrain time is charged to session-queue in timed runs (see TcpHost.timed). */
class TimedHandler implements StreamHandler {
  constructor(
    private readonly h: StreamHandler,
    private readonly dp: Dataplane,
  ) {}

  onData(buf: Buffer, off: number, len: number): void {
    const dp = this.dp;
    if (!dp.timing) {
      dp.countApplication();
      this.h.onData(buf, off, len);
      return;
    }
    const t = performance.now();
    try {
      this.h.onData(buf, off, len);
    } finally {
      dp.chargeApplication(performance.now() - t);
    }
  }

  onDrain(): void {
    const dp = this.dp;
    if (!dp.timing) {
      dp.countApplication();
      this.h.onDrain();
      return;
    }
    const t = performance.now();
    try {
      this.h.onDrain();
    } finally {
      dp.chargeApplication(performance.now() - t);
    }
  }

  onEnd(): void {
    this.h.onEnd();
  }

  onClose(): void {
    this.h.onClose();
  }
}
