/**
 * One TCP connection: its state (RFC 9293 §3.3), the ByteStream the application sees, and the
 * receive path of the segment-arrival rules (RFC 9293 §3.10.7.4): acceptance, RST/SYN/ACK,
 * segment text, reassembly and FIN, and the way into TIME_WAIT.
 *
 * The rest lives beside it, as functions of the connection: the acceptance checks shared with
 * TIME_WAIT (acceptance.ts), the handshake (handshake.ts), ACK processing (ack-input.ts), writing
 * segments (output.ts), loss recovery behind one interface with a SACK and a NewReno
 * implementation (recovery*.ts), congestion control (congestion.ts), RTT and RTO (rtt.ts) and the
 * timers (timers.ts). Fields those modules use are public (and not part of the stream API).
 *
 * The connection never does IO: it writes segments through the stack's SegmentSink and keeps its
 * timers as deadlines the stack's heap watches.
 */
import type { AcceptHandler, ByteStream, StreamHandler } from '../stream/byte-stream.js';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../wire/tcp.js';
import {
  SEG_ACCEPT_ACK_ONLY,
  SEG_DROP,
  SEG_OUT_OF_WINDOW,
  SEG_RESET,
  SEG_SYN_IN_SYN_RECEIVED,
  acceptSegment,
  isDisorderedAck,
  rejectOutOfWindow,
  segmentLength,
  updateTsRecent,
} from './acceptance.js';
import { ackAcceptable, processAck } from './ack-input.js';
import { type CongestionControl, createCongestionControl } from './congestion.js';
import { dsackExtend, dsackOld, dsackSet } from './dsack.js';
import { synReceivedAck, synSentInput } from './handshake.js';
import { sendAck, sendData, sendPrivateAck, sendRst, sendSynAck } from './output.js';
import type { Reassembly } from './reassembly.js';
import type { LossRecovery } from './recovery.js';
import { SendQueue } from './send-queue.js';
import { seqAdd, seqGt, seqLeq } from './seq.js';
import type { TcpStack } from './stack.js';
import { armDelayedAck, armFinWait2, startTimeWait } from './timers.js';
import type { TimeWaitConnection } from './time-wait.js';
import {
  CLOSE_WAIT,
  CLOSED,
  CLOSING,
  ESTABLISHED,
  FIN_WAIT_1,
  FIN_WAIT_2,
  LAST_ACK,
  SYN_RECEIVED,
  SYN_SENT,
  Segment,
  TIME_WAIT,
  ipToString,
} from './types.js';

/** The empty list of held data every connection starts with (most never pause): one array, not one each. */
const NO_HELD: Buffer[] = [];

export class TcpConnection implements ByteStream {
  /** Next connection in the same hash bucket (same remote ip:port, other local endpoint). */
  next: TcpConnection | TimeWaitConnection | null = null;
  state = CLOSED;
  handler: StreamHandler | null = null;
  /** Opened by connect() (active open) rather than by a listener. */
  active = false;
  /** end() was called before an active open completed: FIN after the handshake and the data. */
  endAfterOpen = false;
  /** close() was called: the application reads no more (new data is answered with a RST). */
  readClosed = false;
  /** Place and key in the stack's timer heap. */
  heapIdx = -1;
  heapKey = Infinity;
  dirty = false;
  closeNotified = false;
  private remoteStr = '';

  // Send sequence space (RFC 9293 §3.3.1). sndMax is the highest sequence number sent so far;
  // sndNxt is where the next (re)transmission starts (it moves back after an RTO without SACK).
  iss = 0;
  sndUna = 0;
  sndNxt = 0;
  sndMax = 0;
  sndWnd = 0;
  sndWl1 = 0;
  sndWl2 = 0;
  maxSndWnd = 0;
  /**
   * Bytes the peer acknowledged after the handshake, saturating at 2^30 (no window is larger):
   * bounds how far below SND.UNA an acceptable ACK may lie (ack-input.ts), whatever the wrap.
   */
  bytesAcked = 0;
  sndWscale = 0;
  /** Payload bytes per segment we send (peer MSS, our MSS, minus the timestamp option). */
  sndMss = 536;
  readonly q = new SendQueue();
  finQueued = false;
  /** Sequence number our FIN occupies (valid when finQueued). */
  finSeq = 0;
  /** onDrain is owed once the queue falls below sendLowWater. */
  drainWanted = false;
  /** Payload bytes per wire segment of the last transmit() when it sent a super-segment, else 0. */
  lastPiece = 0;

  // Negotiated options.
  tsOk = false;
  sackOk = false;
  rcvWscale = 0;
  /** The shift we put in our SYN-ACK, or -1 when window scaling is off. */
  rcvWscaleSent = -1;
  tsOffset = 0;
  tsRecent = 0;
  /** When TS.Recent was last set (RFC 7323 §5.5). */
  tsRecentAt = 0;

  // Receive sequence space.
  irs = 0;
  rcvNxt = 0;
  /** Right edge of the window we last advertised (never moves left). */
  rcvAdvRight = 0;
  lastAckSent = 0;
  /** Estimate of the peer's segment size (largest seen), for ACK-every-2nd-segment. */
  rcvMss = 536;
  reasm: Reassembly | null = null;
  /** Memory budget (budget.ts): source slot, bytes charged for out-of-order, held and application data. */
  memSrc = -1;
  memOoo = 0;
  memRecv = 0;
  memPipe = 0;
  memSend = 0;
  /**
   * A FIN seen beyond RCV.NXT, kept apart from the reassembly (it may come without data), and
   * whether it arrived after the last data kept (for the SACK block order: output.ts).
   */
  oooFin = false;
  oooFinSeq = 0;
  oooFinLatest = false;
  /** A D-SACK block owed on the next segment sent (dsack.ts, RFC 2883). */
  dsack = false;
  dsackStart = 0;
  dsackEnd = 0;
  /** The D-SACK owed when the segment being processed arrived: a private ACK leaves it owed (output.ts sendPrivateAck). */
  dsackIn = false;
  dsackInStart = 0;
  dsackInEnd = 0;
  /** Reading paused: in-order data is held (and the window closes) until resume(). */
  private paused = false;
  /** Data held for a paused reader; NO_HELD (shared, never written) until the first is held. */
  private rcvQ: Buffer[] = NO_HELD;
  rcvQueued = 0;
  private endPending = false;
  private endDelivered = false;
  /** An ACK must go out at the next flush (if no data segment carries it first). */
  ackPending = false;
  /** When an ACK for an invalid segment (out of window, or a challenge ACK) last went out. */
  lastOowAckAt = -Infinity;

  // Congestion control and loss recovery: cwnd and ssthresh here (the send loops and `show
  // session` read them), the algorithms' own state in cc and rec (rec from ESTABLISHED on).
  cwnd = 0;
  ssthresh = 0x7fffffff;
  /** (Replaced once, at ESTABLISHED, when bbr was asked for and the peer has no SACK: handshake.ts.) */
  cc: CongestionControl;
  rec!: LossRecovery;
  /** The last send was limited by cwnd (not by the application): cwnd may grow. */
  cwndLimited = false;
  lastSendAt = -Infinity;

  // RTT estimation (RFC 6298); minRtt also serves RACK.
  hasRtt = false;
  srtt = 0;
  rttvar = 0;
  /** ms. Initialised (the constructor sets it): a field declared without a value stays tagged in V8, and each double stored in it would be a new heap number. */
  rto = 0;
  backoff = 0;
  retries = 0;
  minRtt = Infinity;
  /** Without timestamps: one segment (ending at rttSeq, sent at rttTime) is being timed. */
  rttActive = false;
  rttSeq = 0;
  rttTime = 0;

  // Timers (timers.ts): absolute ms deadlines, Infinity = off. The heap key is the earliest of
  // them (moved lazily: a later deadline does not touch the heap until the old key fires).
  rtoAt = Infinity;
  persistAt = Infinity;
  delackAt = Infinity;
  kaAt = Infinity;
  lingerAt = Infinity;
  /** RACK reordering timer and Tail Loss Probe timer (run by the SACK recovery). */
  reoAt = Infinity;
  ptoAt = Infinity;
  persisting = false;
  /** Unanswered window probes (reset by any ACK) and the persist backoff shift. */
  probes = 0;
  persistShift = 0;
  kaProbes = 0;
  lastRecvAt = 0;

  constructor(
    readonly stack: TcpStack,
    readonly localIp: number,
    readonly localPort: number,
    readonly remoteIp: number,
    readonly remotePort: number,
    /** A passive open's listener, called at ESTABLISHED (then null). */
    public acceptFn: AcceptHandler | null,
  ) {
    this.rto = stack.opts.rtoInitial;
    this.cc = createCongestionControl(stack.opts.congestionControl);
  }

  // ---------------------------------------------------------------- ByteStream

  write(chunk: Buffer): void {
    const s = this.state;
    if (
      this.finQueued ||
      (s !== ESTABLISHED && s !== CLOSE_WAIT && !(this.active && (s === SYN_SENT || s === SYN_RECEIVED)))
    ) {
      this.stack.err('write-after-close');
      return;
    }
    if (chunk.length === 0) return;
    this.q.push(chunk);
    if (this.q.bytes >= this.stack.opts.sendLowWater) this.drainWanted = true;
    this.stack.markDirty(this);
  }

  get queuedBytes(): number {
    return this.q.bytes;
  }

  end(): void {
    if (this.finQueued) return;
    if (this.active && (this.state === SYN_SENT || this.state === SYN_RECEIVED)) {
      this.endAfterOpen = true; // FIN after the handshake and the queued data
      return;
    }
    if (this.state === ESTABLISHED) this.stack.setState(this, FIN_WAIT_1);
    else if (this.state === CLOSE_WAIT) this.stack.setState(this, LAST_ACK);
    else return;
    this.finQueued = true;
    this.finSeq = seqAdd(this.sndUna, this.q.bytes);
    this.stack.markDirty(this);
  }

  /**
   * Full close (RFC 9293 §3.6.1, the half-duplex close a host MAY implement): end(), and no more
   * reading. Data held unread (a paused reader's) is lost now, data arriving later would be: the
   * peer is told with a RST in both cases (RFC 2525 "failure to RST on close with data pending").
   */
  close(): void {
    if (this.state === CLOSED || this.state === TIME_WAIT) return;
    if (this.rcvQueued > 0) {
      this.stack.err('close-with-data-pending');
      this.abort();
      return;
    }
    this.readClosed = true;
    this.end();
  }

  /**
   * The application is idle (ByteStream.compact): with nothing outstanding or queued, the loss
   * recovery's per-segment log gives its storage back (about 1.2 KiB of an idle keep-alive
   * connection's ~3.7 KiB of heap); the next segment sent allocates it again.
   */
  compact(): void {
    if (this.sndUna === this.sndMax && this.q.bytes === 0) {
      this.rec.compact();
      this.q.compact();
    }
  }

  /**
   * The pacer's deadline (bbr): a send waits for it (Infinity = not waiting). Kept in the
   * model-based controller's DeliveryRate (review r/perf: a field here held a boxed Infinity,
   * 16 B more on every CUBIC connection); a connection without one never waits.
   */
  get paceAt(): number {
    const r = this.rec?.rate;
    return r == null ? Infinity : r.paceAt;
  }

  set paceAt(t: number) {
    const r = this.rec?.rate;
    if (r != null) r.paceAt = t;
  }

  abort(): void {
    if (this.state === CLOSED) return;
    // (TIME_WAIT here: the application aborts from onClose while the connection enters it.)
    if (this.state !== TIME_WAIT) {
      // A peer checks a RST against its window: past a window it closed (a reader that stopped,
      // our probe byte beyond it) the RST would be dropped, so use the window's right edge
      // then, as Linux's tcp_acceptable_seq does.
      const edge = seqAdd(this.sndUna, this.sndWnd);
      sendRst(this, seqGt(this.sndMax, edge) && this.state !== SYN_SENT && this.state !== SYN_RECEIVED ? edge : this.sndMax);
    }
    this.stack.destroy(this, true);
  }

  get remote(): string {
    if (this.remoteStr === '') this.remoteStr = `${ipToString(this.remoteIp)}:${this.remotePort}`;
    return this.remoteStr;
  }

  /** Extension: stop delivering onData; the receive window closes as data is held. */
  pause(): void {
    this.paused = true;
  }

  /** Extension: deliver held data and reopen the window (sending a window update). */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    while (this.rcvQ.length > 0 && !this.paused && this.state !== CLOSED) {
      const b = this.rcvQ.shift()!;
      this.rcvQueued -= b.length;
      this.stack.mem.releaseReceive(this, b.length);
      this.handler?.onData(b, 0, b.length);
    }
    if (this.state === CLOSED || this.paused) return;
    if (this.endPending) {
      this.endPending = false;
      this.deliverEnd();
      if (this.state === CLOSED) return;
    }
    // Window update (RFC 9293 §3.8.6.2.2): when the window grew by min(RCV.BUFF/2, MSS).
    const promised = (this.rcvAdvRight - this.rcvNxt) | 0;
    const win = this.stack.opts.rcvBuf - this.rcvQueued;
    if (win - promised >= Math.min(this.stack.opts.rcvBuf >> 1, this.rcvMss)) {
      this.ackPending = true;
      this.stack.markDirty(this);
    }
  }

  // ---------------------------------------------------------------- helpers

  tsNow(now: number): number {
    return seqAdd(Math.floor(now), this.tsOffset);
  }

  /** Initial window (RFC 6928 for 10 segments; RFC 5681 §3.1 otherwise). */
  iw(): number {
    return this.stack.opts.initialCwndSegments * this.sndMss;
  }

  /** In fast recovery (for tests and tools). */
  get inRecovery(): boolean {
    return this.rec !== undefined && this.rec.inRecovery;
  }

  /** @internal SegmentReceiver: the PAWS exemption (acceptance.ts isDisorderedAck). */
  disorderedAck(g: Segment, tsVal: number): boolean {
    return isDisorderedAck(this, g, tsVal);
  }

  /** @internal SegmentReceiver: a segment PAWS dropped may still be a duplicate to report (D-SACK). */
  duplicateDropped(seq: number, segLen: number): void {
    dsackOld(this, seq, segLen);
  }

  /** @internal SegmentReceiver: the acceptance checks' private answer (output.ts sendPrivateAck). */
  sendPrivateAck(now: number): void {
    sendPrivateAck(this, now);
  }

  /** Called by flush(): send whatever the windows allow, FIN, or a pending ACK. */
  output(now: number): void {
    const s = this.state;
    if (s === ESTABLISHED || s === CLOSE_WAIT || s === FIN_WAIT_1 || s === CLOSING || s === LAST_ACK) {
      sendData(this, now);
      if (this.state === CLOSED) return;
    }
    if (this.ackPending && this.state !== CLOSED && this.state !== SYN_RECEIVED) sendAck(this, now);
  }

  // ---------------------------------------------------------------- input

  /** Processes one segment for this connection (RFC 9293 §3.10.7.4). */
  segment(g: Segment, now: number): void {
    const st = this.stack;
    this.dsackIn = this.dsack;
    this.dsackInStart = this.dsackStart;
    this.dsackInEnd = this.dsackEnd;
    if (this.state === SYN_SENT) {
      this.lastRecvAt = now;
      this.kaProbes = 0;
      synSentInput(this, g, now);
      return;
    }
    const flags = g.flags;
    const seq = g.seq;
    const segLen = segmentLength(g);
    let dataLen = g.dataLen;
    let fin = (flags & TCP_FIN) !== 0;

    // First to fourth: PAWS, sequence number, RST, SYN; the ACK bit.
    switch (acceptSegment(this, g, segLen, now)) {
      case SEG_DROP:
        return;
      case SEG_OUT_OF_WINDOW:
        if (this.state === SYN_RECEIVED && (flags & (TCP_SYN | TCP_ACK)) === TCP_SYN && seq === this.irs) {
          // Retransmitted SYN: our SYN-ACK was lost.
          st.counters.synAckRetransmits++;
          sendSynAck(this, now);
          return;
        }
        if (segLen > 0) st.counters.duplicateSegments++;
        dsackOld(this, seq, segLen);
        rejectOutOfWindow(this, segLen, now);
        return;
      case SEG_RESET:
        st.counters.rstIn++;
        st.err(this.state === SYN_RECEIVED && !this.active ? 'rst-syn-received' : 'connection-reset');
        // Passive SYN-RECEIVED returns to LISTEN silently; an active open is refused.
        st.destroy(this, this.state !== SYN_RECEIVED || this.active);
        return;
      case SEG_SYN_IN_SYN_RECEIVED:
        // Passive open: an in-window SYN other than the original one returns to LISTEN.
        st.err('syn-in-syn-received');
        st.destroy(this, false);
        return;
      case SEG_ACCEPT_ACK_ONLY:
        // Zero window: take the ACK of an exactly-placed segment, not its data; ACK it.
        dataLen = 0;
        fin = false;
        this.ackPending = true;
        st.markDirty(this);
        break;
    }

    // Fifth: the ACK field; only then may the segment set TS.Recent (RFC 7323 §5.3 R3).
    if (this.state === SYN_RECEIVED) {
      if (!(seqGt(g.ack, this.sndUna) && seqLeq(g.ack, this.sndMax))) {
        st.err('bad-ack-syn-received');
        // private: it tells where the ACK fell (private-reasons.ts)
        st.sendPrivateControl(this.localIp, this.remoteIp, this.localPort, this.remotePort, g.ack, 0, TCP_RST);
        return;
      }
      this.heard(now);
      updateTsRecent(this, seq, st.opt, now);
      if (!synReceivedAck(this, g, now)) return;
    } else {
      if (!ackAcceptable(this, g.ack, now)) return;
      // Only a segment that passed the checks is a sign of life (keep-alive): spoofed
      // out-of-window segments must not keep a dead peer's connection (review r/metrics F12).
      this.heard(now);
      updateTsRecent(this, seq, st.opt, now);
      if (!processAck(this, g, now)) return;
      if (this.finQueued && seqGt(this.sndUna, this.finSeq) && !this.ourFinAcked(now)) return;
    }

    // Seventh: segment text.
    const s = this.state;
    if (s !== ESTABLISHED && s !== FIN_WAIT_1 && s !== FIN_WAIT_2) return;
    if (dataLen > 0 && this.readClosed && seqGt(seqAdd(seq, dataLen), this.rcvNxt)) {
      // New data after the application closed (FIN-WAIT-1/2, RFC 9293 §3.6.1): nobody will read
      // it, so do not ACK it; reset, as Linux does, <SEQ=SEG.ACK><CTL=RST>.
      st.err('data-after-close');
      st.sendControl(this.localIp, this.remoteIp, this.localPort, this.remotePort, g.ack, 0, TCP_RST);
      st.destroy(this, true);
      return;
    }
    if (dataLen > 0) {
      // Text beyond the window's right edge is cut off, and the FIN after it with it.
      if (((seq + dataLen - this.rcvAdvRight) | 0) > 0) fin = false;
      const taken = this.receiveText(g, dataLen, fin, now);
      if (taken < 0) return;
      if (taken === 0 && !fin) {
        sendPrivateAck(this, now); // all old (or all beyond the window): tell the peer where we are
        return;
      }
    }

    // Eighth: FIN.
    if (fin) {
      const finAt = seqAdd(seq, g.dataLen);
      if (finAt === this.rcvNxt) this.receiveFin(now);
      else if (seqGt(finAt, this.rcvNxt)) {
        this.oooFin = true;
        this.oooFinSeq = finAt;
        if (g.dataLen === 0) this.oooFinLatest = true;
        sendPrivateAck(this, now);
      }
    }
  }

  /** The peer was heard from (an acceptable segment): the keep-alive clock starts again. */
  private heard(now: number): void {
    this.lastRecvAt = now;
    this.kaProbes = 0;
  }

  /** Our FIN is acknowledged (FIN_WAIT_1, CLOSING, LAST_ACK); false = no more processing. */
  private ourFinAcked(now: number): boolean {
    const st = this.stack;
    if (this.state === FIN_WAIT_1) {
      st.setState(this, FIN_WAIT_2);
      armFinWait2(this, now);
    } else if (this.state === CLOSING) {
      this.enterTimeWait(now);
      return false;
    } else if (this.state === LAST_ACK) {
      st.destroy(this, true);
      return false;
    }
    return true;
  }

  /**
   * The segment's text (dataLen bytes from g.dataOff at g.seq), trimmed to the window: delivered
   * in order, or kept for reassembly (with its FIN, `fin`). Returns the new bytes taken in order,
   * or -1 = stop processing the segment (closed, or out of order and answered with a duplicate ACK).
   */
  private receiveText(g: Segment, dataLen: number, fin: boolean, now: number): number {
    const st = this.stack;
    let dseq = g.seq;
    let off = g.dataOff;
    let len = dataLen;
    const d = (this.rcvNxt - dseq) | 0;
    if (d > 0) {
      if (d >= len) {
        // All old data: a retransmission whose ACK we sent was lost.
        st.counters.duplicateSegments++;
        dsackSet(this, dseq, seqAdd(dseq, len));
        return 0;
      }
      dsackSet(this, dseq, this.rcvNxt);
      dseq = this.rcvNxt;
      off += d;
      len -= d;
    }
    const over = (dseq + len - this.rcvAdvRight) | 0;
    if (over > 0) len = over >= len ? 0 : len - over;
    if (len === 0) return 0;
    const ours = st.ourMss(this.localIp);
    if (len > this.rcvMss) this.rcvMss = len > ours ? ours : len;
    if (dseq !== this.rcvNxt) {
      // Out of order: keep it, and send an immediate duplicate ACK carrying SACK blocks.
      const stored = st.mem.storeOutOfOrder(this, dseq, g.buf, off, len);
      st.counters.outOfOrderSegments++;
      // A reason too (private: show errors only, never on /metrics, see private-reasons.ts).
      st.err('out-of-order');
      const rs = this.reasm;
      if (stored && rs !== null && rs.dupStart !== rs.dupEnd) dsackSet(this, rs.dupStart, rs.dupEnd);
      if (stored) this.oooFinLatest = false;
      if (fin && stored) {
        this.oooFin = true;
        this.oooFinSeq = seqAdd(dseq, len);
      }
      // Private (sendPrivateAck): a spoofer must not see whether its data fell above RCV.NXT.
      sendPrivateAck(this, now);
      return -1;
    }
    // A paused reader's data is held: over the memory limit it is not taken (nor ACKed).
    if ((this.paused || this.rcvQueued > 0) && !st.mem.holdReceive(this, len)) {
      sendAck(this, now);
      return -1;
    }
    // Holes: data kept beyond RCV.NXT, or a FIN that came on its own beyond it.
    const hadHoles = (this.reasm !== null && this.reasm.count > 0) || this.oooFin;
    this.rcvNxt = seqAdd(this.rcvNxt, len);
    // Held data the segment brought again is part of its duplicate (after its old left part, if any).
    const held = this.reasm;
    if (held !== null && held.count > 0 && held.overlapBelow(this.rcvNxt)) {
      if (d > 0) dsackExtend(this, held.dupStart, held.dupEnd);
      else dsackSet(this, held.dupStart, held.dupEnd);
    }
    this.deliver(g.buf, off, len);
    if (this.state === CLOSED) return -1;
    if (hadHoles) {
      this.pullReassembly();
      if (this.state === CLOSED) return -1;
      // RFC 5681 §4.2: ACK at once when a segment fills (part of) a hole.
      this.ackPending = true;
      st.markDirty(this);
    } else if (((this.rcvNxt - this.lastAckSent) | 0) >= 2 * this.rcvMss) {
      this.ackPending = true;
      st.markDirty(this);
    } else armDelayedAck(this, now);
    return len;
  }

  private hold(b: Buffer): void {
    if (this.rcvQ === NO_HELD) this.rcvQ = [];
    this.rcvQ.push(b);
  }

  private deliver(buf: Buffer, off: number, len: number): void {
    this.stack.counters.bytesIn += len;
    if (this.paused || this.rcvQueued > 0) {
      const b = Buffer.allocUnsafe(len);
      buf.copy(b, 0, off, off + len);
      this.hold(b);
      this.rcvQueued += len;
      this.stack.mem.chargeReceive(this, len);
      return;
    }
    this.handler!.onData(buf, off, len);
  }

  private pullReassembly(): void {
    const rs = this.reasm;
    while (rs !== null) {
      const b = rs.takeAt(this.rcvNxt);
      if (b === undefined) break;
      this.rcvNxt = seqAdd(this.rcvNxt, b.length);
      if (this.paused || this.rcvQueued > 0) {
        this.hold(b);
        this.rcvQueued += b.length;
        this.stack.mem.chargeReceive(this, b.length);
        this.stack.counters.bytesIn += b.length;
      } else this.deliver(b, 0, b.length);
      if (this.state === CLOSED) return;
    }
    this.stack.mem.syncOutOfOrder(this);
    if (this.oooFin && this.oooFinSeq === this.rcvNxt) {
      this.oooFin = false;
      this.receiveFin(this.stack.now);
    }
  }

  private receiveFin(now: number): void {
    const st = this.stack;
    this.rcvNxt = seqAdd(this.rcvNxt, 1);
    this.ackPending = true;
    st.markDirty(this);
    const s = this.state;
    if (s === ESTABLISHED) st.setState(this, CLOSE_WAIT);
    else if (s === FIN_WAIT_1) {
      if (this.finQueued && seqGt(this.sndUna, this.finSeq)) {
        this.deliverEnd();
        if (this.state !== CLOSED) this.enterTimeWait(now);
        return;
      }
      st.setState(this, CLOSING);
    } else if (s === FIN_WAIT_2) {
      this.deliverEnd();
      if (this.state !== CLOSED) this.enterTimeWait(now);
      return;
    }
    if (this.rcvQueued > 0) this.endPending = true;
    else this.deliverEnd();
  }

  private deliverEnd(): void {
    if (this.endDelivered) return;
    this.endDelivered = true;
    this.handler?.onEnd();
  }

  /**
   * Both FINs are acknowledged: the application is told the stream is over, and the stack puts a
   * TimeWaitConnection in this one's place for the 2MSL wait (or drops it when TIME_WAIT is full).
   */
  private enterTimeWait(now: number): void {
    const st = this.stack;
    if (this.rcvQueued > 0) {
      // Data held by a paused reader is delivered before the stream closes.
      this.paused = false;
      while (this.rcvQ.length > 0 && this.state !== CLOSED) {
        const b = this.rcvQ.shift()!;
        this.rcvQueued -= b.length;
        this.stack.mem.releaseReceive(this, b.length);
        this.handler?.onData(b, 0, b.length);
      }
      if (this.state === CLOSED) return;
    }
    this.deliverEnd();
    st.setState(this, TIME_WAIT);
    const rank = st.timeWaitRank; // (before the application's onClose can close others)
    startTimeWait(this, now);
    this.q.clear();
    this.reasm = null;
    this.rec.release();
    st.notifyClose(this);
    // The application is done with this stream: do not keep it alive for the 2MSL wait.
    this.handler = null;
    if (this.state !== TIME_WAIT) return;
    // Acknowledge the peer's FIN now (this connection leaves the flush list): also when it is
    // dropped for overflow, or the peer would retransmit its FIN and then get an RST.
    if (this.ackPending) sendAck(this, now);
    if (rank > st.opts.maxTimeWait) {
      // Full (see TcpOptions.maxTimeWait; the count is the process's, every thread's entries):
      // no entry; PAWS and the ISN clock protect what follows.
      st.counters.timeWaitOverflows++;
      st.err('time-wait-overflow');
      st.destroy(this, false);
      return;
    }
    st.toTimeWait(this);
  }
}
