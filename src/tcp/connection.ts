/**
 * One TCP connection: the RFC 9293 segment-arrival rules (§3.10.7.4), RFC 7323 timestamps and
 * PAWS, RFC 5961 RST/SYN/ACK checks, RFC 6298 RTO, RFC 5681/6582 congestion control and fast
 * recovery, RFC 6675 SACK-based loss recovery, delayed ACKs, persist and keep-alive timers.
 *
 * Loss recovery on SACK connections (as modern stacks do): every outstanding segment is kept in a
 * SentLog with its last send time; RACK (RFC 8985 §6) deems a segment lost once a segment sent
 * after it was delivered and a reordering window has passed (this also finds lost
 * retransmissions, which RFC 6675 alone leaves to the RTO); a Tail Loss Probe (RFC 8985 §7)
 * replaces the RTO for losses at the end of a flight; the pipe is RFC 6675's (outstanding −
 * SACKed − lost + retransmitted), cwnd during recovery follows PRR (RFC 6937), and one rescue
 * retransmission (RFC 6675 §5) covers the tail during recovery. After an RTO every unSACKed
 * segment is deemed lost and resent in order under slow start, with RACK still active. Connections
 * without SACK keep NewReno with RFC 3042 limited transmit and RFC 5827 early retransmit.
 *
 * The connection is the ByteStream an application sees. It never does IO: it writes segments
 * through the stack's SegmentSink and asks the stack for timers.
 */
import type { AcceptHandler, ByteStream, StreamHandler } from '../http/stream.js';
import {
  TCP_ACK,
  TCP_FIN,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  writeOptSack,
  writeOptTimestamp,
  writeTcpHeader,
} from '../wire/tcp.js';
import { createCongestionControl, type CongestionControl } from './congestion.js';
import { RackScan } from './rack.js';
import { Reassembly } from './reassembly.js';
import { Scoreboard } from './scoreboard.js';
import { SendQueue } from './send-queue.js';
import { R_EVER_RETRANS, R_LOST, R_RETRANS, R_SACKED, SentLog } from './sent-log.js';
import { seqGeq, seqGt, seqLeq, seqLt } from './seq.js';
import { FRTO_SEND_NEW, FRTO_SPURIOUS, isDsack, SpuriousDetectors } from './spurious.js';
import type { TcpStack } from './stack.js';
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

/** RFC 8985 §7.2: added to 2·SRTT for the probe timeout (Linux's TCP_TIMEOUT_MIN_US, 2 ms). */
const TLP_EXTRA_MS = 2;
/** Allowance for the peer's delayed ACK when a single segment is outstanding (Linux's minimum ATO). */
const TLP_DELACK_MS = 40;

/** Largest payload asked for in one super-segment (the sink's room, ≤ one IPv4 packet, decides). */
const SUPER_SEGMENT_MAX = 65535;

export class TcpConnection implements ByteStream {
  /** Next connection in the same hash bucket (same remote ip:port, other local endpoint). */
  next: TcpConnection | TimeWaitConnection | null = null;
  state = CLOSED;
  handler: StreamHandler | null = null;
  /** Opened by connect() (active open) rather than by a listener. */
  active = false;
  private endAfterOpen = false;
  heapIdx = -1;
  heapKey = Infinity;
  /** TIME_WAIT connections wait in a FIFO (same duration for all) instead of the timer heap. */
  twPrev: TcpConnection | TimeWaitConnection | null = null;
  twNext: TcpConnection | TimeWaitConnection | null = null;
  inTimeWaitList = false;
  dirty = false;
  closeNotified = false;
  private remoteStr = '';

  // Send sequence space (RFC 9293 §3.3.1). sndMax is the highest sequence number sent so far;
  // sndNxt is where the next (re)transmission starts (it moves back after an RTO).
  iss = 0;
  sndUna = 0;
  sndNxt = 0;
  sndMax = 0;
  sndWnd = 0;
  sndWl1 = 0;
  sndWl2 = 0;
  maxSndWnd = 0;
  sndWscale = 0;
  /** Payload bytes per segment we send (peer MSS, our MSS, minus the timestamp option). */
  sndMss = 536;
  readonly q = new SendQueue();
  finQueued = false;
  /** Sequence number our FIN occupies (valid when finQueued). */
  finSeq = 0;
  private drainWanted = false;

  // Negotiated options.
  tsOk = false;
  sackOk = false;
  rcvWscale = 0;
  tsOffset = 0;
  tsRecent = 0;

  // Receive sequence space.
  irs = 0;
  rcvNxt = 0;
  /** Right edge of the window we last advertised (never moves left). */
  rcvAdvRight = 0;
  lastAckSent = 0;
  /** Estimate of the peer's segment size (largest seen), for ACK-every-2nd-segment. */
  rcvMss = 536;
  reasm: Reassembly | null = null;
  private oooFin = false;
  private oooFinSeq = 0;
  /** Reading paused: in-order data is held (and the window closes) until resume(). */
  private paused = false;
  private rcvQ: Buffer[] = [];
  rcvQueued = 0;
  private endPending = false;
  private endDelivered = false;
  /** An ACK must go out at the next flush (if no data segment carries it first). */
  ackPending = false;

  // Congestion control.
  cwnd = 0;
  ssthresh = 0x7fffffff;
  recover = 0;
  inRecovery = false;
  dupAcks = 0;
  highRxt = 0;
  private forceRxt = false;
  private cwndLimited = false;
  /** Congestion control (congestion.ts), made on first use: a short response never leaves slow start. */
  private ccObj: CongestionControl | null = null;
  /** Detectors of spurious retransmissions (spurious.ts), made at the first recovery. */
  private spur: SpuriousDetectors | null = null;
  /** The current recovery/RTO episode can still be undone (the controller holds a snapshot). */
  private undoOpen = false;
  /** F-RTO step 2b (RFC 5682): new segments to send before any further retransmission. */
  private frtoNew = 0;
  /** The ACK being processed delivered (cumulatively or by SACK) a segment never retransmitted. */
  private origDelivered = false;
  private lastSendAt = -Infinity;
  readonly sb = new Scoreboard();

  // SACK connections: per-segment records and RFC 6675 pipe accounting (bytes).
  readonly log = new SentLog();
  sackedBytes = 0;
  private sackedSegs = 0;
  /** Bytes of records deemed lost and not retransmitted since. */
  lostBytes = 0;
  /** No lost, not yet retransmitted record below this record number. */
  private rxtHint = 0;
  /** Highest sequence number SACKed (for reordering detection). */
  private fack = 0;
  /** After an RTO, until SND.UNA reaches `recover` (Linux's "Loss" state). */
  inLoss = false;
  /** Bytes newly delivered (cumulatively ACKed or SACKed) by the segment being processed. */
  private delivered = 0;
  /** Records RACK deemed lost while processing the current ACK/timer. */
  private newlyLost = 0;
  // RACK (RFC 8985 §6): the most recently sent segment known delivered, and its RTT.
  private rackXmit = -Infinity;
  private rackOrder = -1;
  /** Transmissions so far (orders the records' sends). */
  private xmits = 0;
  private rackRtt = 0;
  /** RACK's incremental loss scan (rack.ts), made at the first retransmission or SACK. */
  private rackObj: RackScan | null = null;
  minRtt = Infinity;
  reorderSeen = false;
  /** RACK reordering timer and Tail Loss Probe timer (absolute ms, Infinity = off). */
  reoAt = Infinity;
  ptoAt = Infinity;
  /** A probe is out: no other one until an ACK advances SND.UNA past tlpEnd. */
  private tlpOut = false;
  private tlpEnd = 0;
  // PRR (RFC 6937).
  private prrDelivered = 0;
  private prrOut = 0;
  private recoverFs = 0;
  private rescueDone = false;
  /** RFC 3042: segments allowed beyond cwnd by the first two duplicate ACKs (no SACK). */
  private ltAllow = 0;

  // RTT estimation (RFC 6298).
  hasRtt = false;
  srtt = 0;
  rttvar = 0;
  rto: number;
  backoff = 0;
  retries = 0;
  private rttActive = false;
  private rttSeq = 0;
  rttTime = 0;

  // Timers: absolute ms deadlines, Infinity = off. The heap key is the earliest of them
  // (moved lazily: a later deadline does not touch the heap until the old key fires).
  rtoAt = Infinity;
  persistAt = Infinity;
  delackAt = Infinity;
  kaAt = Infinity;
  lingerAt = Infinity;
  private persisting = false;
  /** Unanswered window probes (reset by any ACK) and the persist backoff shift. */
  private probes = 0;
  private persistShift = 0;
  private kaProbes = 0;
  lastRecvAt = 0;

  constructor(
    readonly stack: TcpStack,
    readonly localIp: number,
    readonly localPort: number,
    readonly remoteIp: number,
    readonly remotePort: number,
    private acceptFn: AcceptHandler | null,
  ) {
    this.rto = stack.opts.rtoInitial;
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
    this.finSeq = (this.sndUna + this.q.bytes) >>> 0;
    this.stack.markDirty(this);
  }

  abort(): void {
    if (this.state === CLOSED) return;
    if (this.state !== TIME_WAIT) this.sendRst(this.sndMax);
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
    return (Math.floor(now) + this.tsOffset) >>> 0;
  }

  private rtoCur(): number {
    const r = this.rto * 2 ** this.backoff;
    return r > this.stack.opts.rtoMax ? this.stack.opts.rtoMax : r;
  }

  private setTimer(): void {
    this.stack.timerUpdate(this);
  }

  /** RFC 6298 §2 with clock granularity G = 1 ms. */
  private rttSample(r: number): void {
    if (r < 0) return;
    if (r < this.minRtt) this.minRtt = r;
    if (!this.hasRtt) {
      this.hasRtt = true;
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      const d = this.srtt - r;
      this.rttvar = 0.75 * this.rttvar + 0.25 * (d < 0 ? -d : d);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
    const o = this.stack.opts;
    let rto = this.srtt + Math.max(1, 4 * this.rttvar);
    if (rto < o.rtoMin) rto = o.rtoMin;
    if (rto > o.rtoMax) rto = o.rtoMax;
    this.rto = rto;
    this.backoff = 0;
  }

  /** Initial window (RFC 6928 for 10 segments; RFC 5681 §3.1 otherwise). */
  iw(): number {
    return this.stack.opts.initialCwndSegments * this.sndMss;
  }

  /** The window we advertise now, as the (scaled) field value; updates rcvAdvRight. */
  private windowField(): number {
    const rcvBuf = this.stack.opts.rcvBuf;
    const promised = (this.rcvAdvRight - this.rcvNxt) | 0;
    let win = rcvBuf - this.rcvQueued;
    if (win < 0) win = 0;
    // Receiver silly window avoidance: move the right edge only by a useful amount.
    const grow = win - promised;
    if (grow < Math.min(rcvBuf >> 1, this.rcvMss)) win = promised > 0 ? promised : 0;
    const s = this.rcvWscale;
    let field = win >>> s;
    if (promised > 0 && field << s < promised) field = (promised + (1 << s) - 1) >>> s;
    if (field > 0xffff) field = 0xffff;
    const right = (this.rcvNxt + field * (1 << s)) >>> 0;
    if (seqGt(right, this.rcvAdvRight)) this.rcvAdvRight = right;
    return field;
  }

  /** The receive window for acceptability tests: what we advertised (RFC 9293 §3.10.7.4). */
  private rcvWnd(): number {
    const w = (this.rcvAdvRight - this.rcvNxt) | 0;
    return w > 0 ? w : 0;
  }

  // ---------------------------------------------------------------- output

  /**
   * Sends one segment at `seq` with up to maxLen data bytes, and FIN when allowFin and the
   * segment reaches finSeq. Returns the sequence space used, or -1 when the sink had no room.
   */
  transmit(seq: number, maxLen: number, now: number, allowFin: boolean, superSeg = false): number {
    const st = this.stack;
    const sink = st.sink;
    this.lastPiece = 0;
    if (!sink.begin(this.localIp, this.remoteIp, superSeg)) {
      st.txBlocked = true;
      return -1;
    }
    const buf = sink.buf;
    const o = sink.off;
    let hl = this.tsOk ? 32 : 20;
    let nsack = 0;
    const rs = this.reasm;
    if (this.sackOk && rs !== null && rs.count > 0) {
      nsack = rs.sackBlocks(st.sackOut, this.tsOk ? 3 : 4);
      hl += 4 + 8 * nsack;
    }
    let len = 0;
    let flags = TCP_ACK;
    if (maxLen > 0) {
      const dataEnd = this.finQueued ? this.finSeq : (this.sndUna + this.q.bytes) >>> 0;
      len = (dataEnd - seq) | 0;
      if (len > maxLen) len = maxLen;
      if (len > sink.room - hl) len = sink.room - hl;
      if (superSeg && len > 0) {
        // A super-segment: the device cuts it into pieces of one MSS (what fits one frame
        // with these options); keep it a whole number of pieces unless it ends the data.
        let piece = this.sndMss;
        const segRoom = (sink.segRoom ?? sink.room) - hl;
        if (segRoom < piece) piece = segRoom;
        if (len > piece) {
          if (((seq + len) >>> 0) !== dataEnd) len -= len % piece;
          if (len > piece) this.lastPiece = piece;
        }
      }
      if (len < 0) len = 0;
      if (len > 0) {
        this.q.copy((seq - this.sndUna) | 0, len, buf, o + hl);
        if (((seq + len) >>> 0) === dataEnd) flags |= TCP_PSH;
      }
    }
    if (allowFin && this.finQueued && ((seq + len) >>> 0) === this.finSeq) flags |= TCP_FIN;
    writeTcpHeader(buf, o, this.localPort, this.remotePort, seq, this.rcvNxt, hl, flags, this.windowField());
    let p = o + 20;
    if (this.tsOk) p = writeOptTimestamp(buf, p, this.tsNow(now), this.tsRecent);
    if (nsack > 0) writeOptSack(buf, p, st.sackOut, nsack);
    const piece = this.lastPiece;
    sink.end(hl + len, piece);
    this.lastAckSent = this.rcvNxt;
    this.ackPending = false;
    const c = st.counters;
    const segs = piece > 0 ? Math.ceil(len / piece) : 1;
    c.segmentsOut += segs;
    if (len > 0) {
      c.dataSegmentsOut += segs;
      c.bytesOut += len;
    }
    return len + ((flags & TCP_FIN) !== 0 ? 1 : 0);
  }

  /** Payload bytes per wire segment of the last transmit() when it sent a super-segment, else 0. */
  private lastPiece = 0;

  /**
   * Whether new data may go out as super-segments (GSO): the sink can take them and the
   * connection is in steady state (no recovery, loss or duplicate ACKs). Retransmissions,
   * probes and limited transmit stay one MSS.
   */
  private superOk(): boolean {
    return this.stack.sink.gso === true && !this.inRecovery && !this.inLoss && this.dupAcks === 0;
  }

  /** A pure ACK now, <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>. */
  sendAck(now: number): void {
    if (this.transmit(this.sndNxt, 0, now, false) < 0) {
      this.ackPending = true;
      this.stack.markDirty(this);
    }
  }

  /** <SEQ=seq><ACK=RCV.NXT><CTL=RST,ACK>. */
  sendRst(seq: number): void {
    this.stack.sendControl(this.localIp, this.remoteIp, this.localPort, this.remotePort, seq, this.rcvNxt, TCP_RST | TCP_ACK);
  }

  sendSynAck(now: number): void {
    const st = this.stack;
    const win = st.opts.rcvBuf > 0xffff ? 0xffff : st.opts.rcvBuf;
    st.sendSynAck(
      this.localIp,
      this.remoteIp,
      this.localPort,
      this.remotePort,
      this.iss,
      this.rcvNxt,
      st.ourMss(this.localIp),
      this.rcvWscaleSent,
      this.sackOk,
      this.tsOk,
      this.tsNow(now),
      this.tsRecent,
      win,
    );
    this.lastAckSent = this.rcvNxt;
    const right = (this.rcvNxt + win) >>> 0;
    if (seqGt(right, this.rcvAdvRight) || this.rcvAdvRight === 0) this.rcvAdvRight = right;
  }
  /** The shift we put in our SYN-ACK, or -1 when window scaling is off. */
  rcvWscaleSent = -1;

  /** Called by flush(): send whatever the windows allow, FIN, or a pending ACK. */
  output(now: number): void {
    const s = this.state;
    if (s === ESTABLISHED || s === CLOSE_WAIT || s === FIN_WAIT_1 || s === CLOSING || s === LAST_ACK) {
      this.sendData(now);
      if (this.state === CLOSED) return;
    }
    if (this.ackPending && this.state !== CLOSED && this.state !== SYN_RECEIVED) this.sendAck(now);
  }

  private sendData(now: number): void {
    const st = this.stack;
    const mss = this.sndMss;
    // RFC 5681 §4.1: restart from the initial window after an idle period longer than the RTO.
    if (this.sndMax === this.sndUna && now - this.lastSendAt > this.rtoCur() && this.cwnd > this.iw()) {
      this.cwnd = this.iw();
      this.ccObj?.onIdle(this);
    }
    if (this.sackOk) {
      this.sendSack(now);
      return;
    }
    if (this.forceRxt) {
      // Fast retransmit of the segment at SND.UNA (RFC 5681 §3.2 step 4).
      const n = this.transmit(this.sndUna, mss, now, true);
      if (n < 0) return;
      this.forceRxt = false;
      this.noteRetransmit(this.sndUna, now);
      const e = (this.sndUna + n) >>> 0;
      if (seqGt(e, this.highRxt)) this.highRxt = e;
      if (seqLt(this.sndNxt, e)) this.sndNxt = e;
      this.lastSendAt = now;
    }
    let sent = false;
    for (;;) {
      const flight = (this.sndNxt - this.sndUna) | 0;
      const dataEnd = this.finQueued ? this.finSeq : (this.sndUna + this.q.bytes) >>> 0;
      const remaining = (dataEnd - this.sndNxt) | 0;
      let n: number;
      if (remaining > 0) {
        const wndAvail = ((this.sndUna + this.sndWnd - this.sndNxt) | 0);
        if (wndAvail <= 0) {
          // Zero (or full) window: probe it with the persist timer when nothing is in flight.
          // (sndNxt, not sndMax: after an RTO rewound to SND.UNA nothing else would wake us.)
          if (this.sndWnd === 0 && this.sndNxt === this.sndUna && !this.persisting) this.startPersist(now);
          break;
        }
        // RFC 3042 limited transmit: new data beyond cwnd on the first two duplicate ACKs.
        const lt = !this.inRecovery && seqGeq(this.sndNxt, this.sndMax) ? this.ltAllow : 0;
        const cwndAvail = this.cwnd + lt - flight;
        if (cwndAvail <= 0) {
          this.cwndLimited = true;
          break;
        }
        const big = lt === 0 && seqGeq(this.sndNxt, this.sndMax) && this.superOk();
        let len = big ? SUPER_SEGMENT_MAX : mss;
        if (remaining < len) len = remaining;
        if (wndAvail < len) len = wndAvail;
        if (cwndAvail < len) len = cwndAvail;
        // Sender silly window avoidance (RFC 9293 §3.8.6.2.1), without Nagle: small segments
        // only when they are the end of the queued data or nothing else is in flight.
        if (len < mss && len < remaining && flight > 0 && len < this.maxSndWnd >> 1) {
          if (cwndAvail < mss) this.cwndLimited = true;
          break;
        }
        n = this.transmit(this.sndNxt, len, now, true, big && len > mss);
        if (n > 0 && flight + n > this.cwnd) {
          this.stack.counters.limitedTransmits++;
          this.ltAllow -= n;
        }
      } else if (this.finQueued && this.sndNxt === this.finSeq) {
        n = this.transmit(this.sndNxt, 0, now, true);
      } else {
        this.cwndLimited = false; // application-limited
        break;
      }
      if (n < 0) break;
      const seq = this.sndNxt;
      if (seqLt(seq, this.sndMax)) this.noteRetransmit(seq, now);
      else if (!this.rttActive && !this.tsOk) {
        this.rttActive = true;
        this.rttSeq = (seq + n) >>> 0;
        this.rttTime = now;
      }
      this.sndNxt = (seq + n) >>> 0;
      if (seqGt(this.sndNxt, this.sndMax)) this.sndMax = this.sndNxt;
      this.lastSendAt = now;
      sent = true;
    }
    if (sent && this.sndMax !== this.sndUna && this.rtoAt === Infinity && !this.persisting) {
      this.rtoAt = now + this.rtoCur();
      this.setTimer();
    }
    if (st.txBlocked) st.markDirty(this);
  }

  // ---------------------------------------------------------------- SACK sender (RFC 6675, RFC 8985)

  /** RFC 6675 pipe: outstanding − SACKed − lost (a retransmitted lost segment counts again). */
  sackPipe(): number {
    return ((this.sndMax - this.sndUna) | 0) - this.sackedBytes - this.lostBytes;
  }

  /** The first record deemed lost and not retransmitted since, or -1. */
  private nextLost(): number {
    if (this.lostBytes <= 0) return -1;
    const log = this.log;
    let k = this.rxtHint < log.lo ? log.lo : this.rxtHint;
    while (k < log.hi && (log.flags(k) & R_LOST) === 0) k++;
    this.rxtHint = k;
    return k < log.hi ? k : -1;
  }

  /** Sends record k again; returns the sequence space sent or -1 (no TX room). */
  private retransmitRecord(k: number, now: number): number {
    const log = this.log;
    const s = log.start(k);
    let len = log.len(k);
    const fin = this.finQueued && log.end(k) === ((this.finSeq + 1) >>> 0);
    const n = this.transmit(s, fin ? len - 1 : len, now, true);
    if (n < 0) return -1;
    if (n === 0) return 0;
    if (n < len) {
      log.split(k, (s + n) >>> 0); // the sink's room shrank: keep records as sent
      len = n;
    }
    const f = log.flags(k);
    if ((f & R_LOST) !== 0) this.lostBytes -= len;
    log.setFlags(k, (f & ~R_LOST) | R_RETRANS | R_EVER_RETRANS);
    log.setSent(k, now, ++this.xmits);
    (this.rackObj ??= new RackScan()).onRetransmit(s, this.xmits);
    this.noteRetransmit(s, now);
    if (this.inRecovery) this.prrOut += len;
    this.lastSendAt = now;
    return n;
  }

  private sendSack(now: number): void {
    const st = this.stack;
    const mss = this.sndMss;
    const log = this.log;
    let sent = false;
    if (this.forceRxt) {
      // RFC 6675 §5 step (4.3): the first lost segment goes out at once, whatever the pipe.
      const k = this.nextLost();
      if (k !== -1) {
        if (this.retransmitRecord(k, now) < 0) {
          st.markDirty(this);
          return;
        }
        sent = true;
      }
      this.forceRxt = false;
    }
    for (;;) {
      const room = this.cwnd - this.sackPipe();
      const wndEnd = (this.sndUna + this.sndWnd) >>> 0;
      // 1. Retransmit what is deemed lost, in sequence order (RFC 6675 NextSeg rule 1), unless
      // F-RTO wants new data first (RFC 5682 step 2b).
      const k = this.frtoNew > 0 ? -1 : this.nextLost();
      if (k !== -1) {
        if (room < log.len(k) && room < mss) {
          this.cwndLimited = true;
          break;
        }
        // Beyond the peer's window only the segment at SND.UNA (it doubles as a window probe).
        if (log.start(k) !== this.sndUna && !seqLt(log.start(k), wndEnd)) break;
        if (this.retransmitRecord(k, now) < 0) break;
        sent = true;
        continue;
      }
      // 2. New data (rule 2).
      const dataEnd = this.finQueued ? this.finSeq : (this.sndUna + this.q.bytes) >>> 0;
      const remaining = (dataEnd - this.sndMax) | 0;
      const flight = (this.sndMax - this.sndUna) | 0;
      let n: number;
      if (remaining > 0) {
        const wndAvail = (wndEnd - this.sndMax) | 0;
        if (wndAvail <= 0) {
          if (this.sndWnd === 0 && flight === 0 && !this.persisting) this.startPersist(now);
          else if (this.rescue(now, room)) sent = true;
          break;
        }
        if (room <= 0) {
          this.cwndLimited = true;
          break;
        }
        const big = this.superOk();
        let len = big ? SUPER_SEGMENT_MAX : mss;
        if (remaining < len) len = remaining;
        if (wndAvail < len) len = wndAvail;
        if (room < len) len = room;
        if (len < mss && len < remaining && flight > 0 && len < this.maxSndWnd >> 1) {
          if (room < mss) this.cwndLimited = true;
          break;
        }
        if (this.frtoNew > 0) {
          if (len > mss) len = mss;
          this.frtoNew--;
        }
        n = this.transmit(this.sndMax, len, now, true, big && len > mss);
      } else if (this.finQueued && this.sndMax === this.finSeq) {
        if (room <= 0 && flight > 0) {
          this.cwndLimited = true;
          break;
        }
        n = this.transmit(this.sndMax, 0, now, true);
      } else {
        this.cwndLimited = false; // application-limited
        this.frtoNew = 0;
        if (this.rescue(now, room)) sent = true;
        break;
      }
      if (n < 0) break;
      this.sentNew(n, now);
      sent = true;
    }
    if (sent && this.sndMax !== this.sndUna) {
      if (this.rtoAt === Infinity && !this.persisting) {
        this.rtoAt = now + this.rtoCur();
        this.setTimer();
      }
      this.schedulePto(now);
    }
    if (st.txBlocked) st.markDirty(this);
  }

  /**
   * Records n bytes of sequence space just sent for the first time at SND.MAX: one record per
   * wire segment (a super-segment's pieces are separate records with one send time), so that
   * SACK, RACK and retransmissions keep working per MSS.
   */
  private sentNew(n: number, now: number): void {
    const seq = this.sndMax;
    const e = (seq + n) >>> 0;
    const piece = this.lastPiece;
    let s = seq;
    if (piece > 0) {
      while (((e - s) | 0) > piece) {
        const next = (s + piece) >>> 0;
        this.log.push(s, next, now, ++this.xmits);
        s = next;
      }
    }
    this.log.push(s, e, now, ++this.xmits);
    this.sndMax = this.sndNxt = e;
    if (this.inRecovery) this.prrOut += n;
    this.lastSendAt = now;
  }

  /**
   * RFC 6675 §5 (C): once per recovery, when nothing else may be sent, retransmit the highest
   * unSACKed segment so that a loss at the tail of the flight does not wait for the RTO.
   */
  private rescue(now: number, room: number): boolean {
    if (!this.inRecovery || this.rescueDone || room < this.sndMss) return false;
    const log = this.log;
    let k = log.hi - 1;
    while (k >= log.lo && (log.flags(k) & R_SACKED) !== 0) k--;
    if (k < log.lo || (log.flags(k) & (R_RETRANS | R_LOST)) !== 0) return false;
    if (this.retransmitRecord(k, now) <= 0) return false;
    this.rescueDone = true;
    this.stack.counters.rescueRetransmits++;
    return true;
  }

  /**
   * RFC 8985 §7.2: arm the Tail Loss Probe timer while data is outstanding: 2·SRTT + 2 ms (as
   * Linux), plus the peer's delayed-ACK allowance when one segment is out, and only when it comes
   * before the RTO. Unlike RFC 8985 (and Linux), also during fast recovery: a Linux receiver
   * acknowledges a burst with one ACK, and when that ACK is lost in recovery nothing but the RTO
   * (≥ 200 ms) would ask again; RACK cannot help, nothing was sent after. Measured on the bench's
   * loss row, this halved the timeouts (bench/loss.ts, docs/bench.md). Not after an RTO (inLoss).
   */
  private schedulePto(now: number): void {
    if (!this.sackOk || this.inLoss || this.tlpOut || this.sndMax === this.sndUna || this.persisting) {
      if (this.ptoAt !== Infinity) this.ptoAt = Infinity;
      return;
    }
    let pto = this.hasRtt ? 2 * this.srtt + TLP_EXTRA_MS : this.stack.opts.rtoInitial;
    if (this.log.count <= 1) pto += TLP_DELACK_MS;
    const at = now + pto;
    if (at >= this.rtoAt) {
      this.ptoAt = Infinity;
      return;
    }
    this.ptoAt = at;
    this.setTimer();
  }

  /**
   * RFC 8985 §7.3, the probe: the highest unSACKed segment again. RFC 8985 prefers a new segment
   * when one may be sent, but a receiver acknowledges a lone in-order segment only when its
   * delayed-ACK timer fires (Linux: 40 ms), while it answers a duplicate at once with a D-SACK
   * (RFC 2883): when the flight arrived and only its ACK was lost, as under random loss both ways,
   * the probe costs ~1 RTT instead of ~40 ms. When the last segment itself was lost, the probe
   * repairs it directly.
   */
  private tailLossProbe(now: number): void {
    const s = this.state;
    if (!(s === ESTABLISHED || s === CLOSE_WAIT || s === FIN_WAIT_1 || s === CLOSING || s === LAST_ACK)) return;
    if (this.inLoss || this.sndMax === this.sndUna || this.persisting) return;
    const st = this.stack;
    const log = this.log;
    let k = log.hi - 1;
    while (k >= log.lo && (log.flags(k) & R_SACKED) !== 0) k--;
    if (k < log.lo) return;
    const n = this.retransmitRecord(k, now);
    if (n < 0) {
      this.ptoAt = now + 1; // no TX room: try again shortly
      this.setTimer();
      return;
    }
    st.counters.tailLossProbes++;
    this.tlpOut = true;
    this.tlpEnd = this.sndMax;
    this.rtoAt = now + this.rtoCur();
    this.setTimer();
  }

  /** Marks record k SACKed; returns its length if newly so (0 otherwise). */
  private markSacked(k: number, now: number): number {
    const log = this.log;
    const f = log.flags(k);
    if ((f & R_SACKED) !== 0) return 0;
    const len = log.len(k);
    if ((f & R_LOST) !== 0) this.lostBytes -= len;
    log.setFlags(k, (f & R_EVER_RETRANS) | R_SACKED);
    // For F-RTO only what was sent before the timeout counts (new data SACKed says the loss was real).
    if ((f & R_EVER_RETRANS) === 0 && (this.spur === null || seqLeq(log.end(k), this.spur.frto.recoveryPoint))) this.origDelivered = true;
    this.sackedBytes += len;
    this.sackedSegs++;
    const e = log.end(k);
    if ((f & R_EVER_RETRANS) === 0 && seqLt(e, this.fack)) this.reorderSeen = true;
    if (seqGt(e, this.fack)) this.fack = e;
    this.rackUpdate(k, now);
    return len;
  }

  private markLost(k: number, count = true): void {
    const log = this.log;
    const f = log.flags(k);
    if ((f & (R_SACKED | R_LOST)) !== 0) return;
    if (count && (f & R_RETRANS) !== 0) this.stack.counters.lostRetransmits++;
    log.setFlags(k, (f & R_EVER_RETRANS) | R_LOST);
    this.lostBytes += log.len(k);
    if (k < this.rxtHint) this.rxtHint = k;
  }

  /** RFC 8985 §6.2 step 2: remember the most recently sent segment that was delivered. */
  private rackUpdate(k: number, now: number): void {
    const log = this.log;
    const t = log.time(k);
    const rtt = now - t;
    if ((log.flags(k) & R_EVER_RETRANS) !== 0) {
      // Possibly the original transmission that was delivered: not a sample for this send time.
      if (rtt < this.minRtt) return;
      const opt = this.stack.opt;
      if (this.tsOk && opt.hasTs && opt.tsEcr !== 0 && seqLt(opt.tsEcr, this.tsNow(t))) return;
    } else if (rtt < this.minRtt) this.minRtt = rtt;
    const o = log.order(k);
    if (o > this.rackOrder) {
      this.rackOrder = o;
      this.rackXmit = t;
      this.rackRtt = rtt;
    }
  }

  /**
   * RFC 8985 §6.2 step 4: the reordering window. Zero while no reordering was seen and we are
   * already recovering or DupThresh segments are SACKed; otherwise min_RTT/4 (bounded by SRTT),
   * at least 1 ms, our clock's granularity for RTT samples.
   */
  private reoWnd(): number {
    if (!this.reorderSeen && (this.inRecovery || this.inLoss || this.sackedSegs >= 3)) return 0;
    let w = this.minRtt === Infinity ? 1 : this.minRtt / 4;
    if (this.hasRtt && w > this.srtt) w = this.srtt;
    return w < 1 ? 1 : w;
  }

  /**
   * RFC 8985 §6.2 step 5: mark lost what was sent before the RACK segment, long enough ago. The
   * scan (rack.ts) visits only the candidates, in send order, not every outstanding segment.
   */
  private rackDetect(now: number): void {
    if (this.rackXmit === -Infinity) return;
    const log = this.log;
    const ro = this.rackOrder;
    const span = this.rackRtt + this.reoWnd();
    const scan = (this.rackObj ??= new RackScan());
    scan.begin();
    for (let k = scan.next(log, ro, span, now); k >= 0; k = scan.next(log, ro, span, now)) {
      this.markLost(k);
      this.newlyLost++;
      this.stack.counters.rackLost++;
    }
    const at = scan.dueAt;
    if (at !== this.reoAt) {
      this.reoAt = at;
      if (at !== Infinity) this.setTimer();
    }
  }

  /**
   * After an ACK (or the reordering timer) on a SACK connection: RACK loss detection, entering
   * fast recovery, and PRR's cwnd for this ACK (RFC 6937 §3, with SSRB).
   */
  private sackLossDetect(now: number): void {
    this.newlyLost = 0;
    if (this.sackedBytes > 0 || this.inRecovery || this.inLoss || this.reoAt !== Infinity) this.rackDetect(now);
    if (!this.inRecovery && !this.inLoss && this.newlyLost > 0) this.enterRecovery(now);
    else if (this.inRecovery) this.prrUpdate();
    const d = this.delivered;
    this.delivered = 0;
    if (this.newlyLost > 0 || d > 0) this.stack.markDirty(this);
  }

  private prrUpdate(): void {
    const mss = this.sndMss;
    const delivered = this.delivered;
    this.prrDelivered += delivered;
    const pipe = this.sackPipe();
    let sndcnt: number;
    if (pipe > this.ssthresh) {
      sndcnt = Math.ceil((this.prrDelivered * this.ssthresh) / (this.recoverFs > 0 ? this.recoverFs : 1)) - this.prrOut;
    } else {
      const lim = Math.max(this.prrDelivered - this.prrOut, delivered) + mss;
      sndcnt = Math.min(this.ssthresh - pipe, lim);
    }
    if (sndcnt < 0) sndcnt = 0;
    this.cwnd = pipe + sndcnt;
    if (this.cwnd < mss) this.cwnd = mss;
  }

  private noteRetransmit(seq: number, now: number): void {
    this.stack.counters.retransmits++;
    if (this.undoOpen) {
      const sp = this.spur!;
      sp.dsack.onRetransmit();
      if (this.tsOk) sp.eifel.onRetransmit(this.tsNow(now));
    }
    // Karn: an RTT measurement covering a retransmitted segment is ambiguous.
    if (this.rttActive && seqLt(seq, this.rttSeq)) this.rttActive = false;
  }

  private startPersist(now: number): void {
    this.persisting = true;
    this.probes = 0;
    this.persistShift = 0;
    this.rtoAt = Infinity;
    this.persistAt = now + this.persistInterval();
    this.setTimer();
  }

  private persistInterval(): number {
    const o = this.stack.opts;
    let r = this.rto * 2 ** this.persistShift;
    if (r < o.rtoMin) r = o.rtoMin;
    return r > o.rtoMax ? o.rtoMax : r;
  }

  // ---------------------------------------------------------------- input

  /** Processes one segment for this connection (RFC 9293 §3.10.7.4). */
  segment(g: Segment, now: number): void {
    const st = this.stack;
    const opt = st.opt;
    const flags = g.flags;
    this.lastRecvAt = now;
    this.kaProbes = 0;
    if (this.state === SYN_SENT) {
      this.synSentInput(g, now);
      return;
    }
    const segLen = g.dataLen + ((flags & TCP_SYN) !== 0 ? 1 : 0) + ((flags & TCP_FIN) !== 0 ? 1 : 0);

    // RFC 7323 §5.3 PAWS: a timestamp older than TS.Recent marks an old duplicate. Segments
    // without data are exempt (like Linux's "disordered ACK" rule): reordered pure ACKs are
    // harmless, the ACK checks below still apply, and answering them could start an ACK loop.
    if (this.tsOk && opt.hasTs && segLen > 0 && (flags & TCP_RST) === 0 && seqLt(opt.tsVal, this.tsRecent)) {
      st.err('paws');
      this.oowAck(now, segLen);
      return;
    }

    // First: sequence number acceptability.
    const wnd = this.rcvWnd();
    const seq = g.seq;
    let ok: boolean;
    if (segLen === 0) {
      ok = wnd === 0 ? seq === this.rcvNxt : seqGeq(seq, this.rcvNxt) && seqLt(seq, (this.rcvNxt + wnd) >>> 0);
    } else if (wnd === 0) {
      ok = false;
    } else {
      const last = (seq + segLen - 1) >>> 0;
      const right = (this.rcvNxt + wnd) >>> 0;
      ok =
        (seqGeq(seq, this.rcvNxt) && seqLt(seq, right)) || (seqGeq(last, this.rcvNxt) && seqLt(last, right));
    }
    let dataLen = g.dataLen;
    let fin = (flags & TCP_FIN) !== 0;
    if (!ok) {
      if (wnd === 0 && seq === this.rcvNxt && (flags & (TCP_SYN | TCP_RST)) === 0) {
        // Zero window: still take the ACK (and RST/URG) of an exactly-placed segment, not its data.
        dataLen = 0;
        fin = false;
        this.ackPending = true;
        st.markDirty(this);
      } else {
        if (this.state === SYN_RECEIVED && (flags & (TCP_SYN | TCP_ACK)) === TCP_SYN && seq === this.irs) {
          // Retransmitted SYN: our SYN-ACK was lost.
          st.counters.synAckRetransmits++;
          this.sendSynAck(now);
          return;
        }
        if ((flags & TCP_RST) !== 0) {
          st.err('rst-out-of-window');
          return;
        }
        if (this.state === TIME_WAIT && fin) {
          // A retransmitted FIN: our last ACK was lost; ACK again and restart the 2MSL wait.
          this.lingerAt = now + st.opts.timeWaitMs;
          st.timeWaitQueue(this);
        } else if (segLen > 0) st.counters.duplicateSegments++;
        st.err('out-of-window');
        this.oowAck(now, segLen);
        return;
      }
    }

    // RFC 7323 §4.3: record TS.Recent from a segment covering Last.ACK.sent.
    if (this.tsOk && opt.hasTs && seqLeq(seq, this.lastAckSent) && seqGeq(opt.tsVal, this.tsRecent)) {
      this.tsRecent = opt.tsVal;
    }

    // Second: RST (RFC 5961 §3.2).
    if ((flags & TCP_RST) !== 0) {
      if (seq === this.rcvNxt) {
        st.counters.rstIn++;
        if (this.state === TIME_WAIT) {
          // RFC 1337: do not let an RST assassinate TIME_WAIT.
          st.err('rst-in-time-wait');
          return;
        }
        st.err(this.state === SYN_RECEIVED && !this.active ? 'rst-syn-received' : 'connection-reset');
        // Passive SYN-RECEIVED returns to LISTEN silently; an active open is refused.
        st.destroy(this, this.state !== SYN_RECEIVED || this.active);
        return;
      }
      st.err('rst-challenge');
      this.challengeAck(now);
      return;
    }

    // Fourth: SYN in a synchronized state (RFC 5961 §4.2): challenge ACK.
    if ((flags & TCP_SYN) !== 0) {
      if (this.state === SYN_RECEIVED) {
        // Passive open: an in-window SYN other than the original one returns to LISTEN.
        st.err('syn-in-syn-received');
        st.destroy(this, false);
        return;
      }
      st.err('syn-challenge');
      this.challengeAck(now);
      return;
    }

    // Fifth: ACK.
    if ((flags & TCP_ACK) === 0) {
      st.err('no-ack');
      return;
    }
    if (this.state === SYN_RECEIVED) {
      const ack = g.ack;
      if (!(seqGt(ack, this.sndUna) && seqLeq(ack, this.sndMax))) {
        st.err('bad-ack-syn-received');
        st.sendControl(this.localIp, this.remoteIp, this.localPort, this.remotePort, ack, 0, TCP_RST);
        return;
      }
      this.sndUna = ack;
      st.sink.confirm?.(this.remoteIp);
      this.sndWnd = g.wnd << this.sndWscale;
      this.maxSndWnd = this.sndWnd;
      this.sndWl1 = seq;
      this.sndWl2 = ack;
      if (this.tsOk && opt.hasTs && opt.tsEcr !== 0) this.rttSample((this.tsNow(now) - opt.tsEcr) | 0);
      else if (this.retries === 0) this.rttSample(now - this.rttTime);
      this.retries = 0;
      this.backoff = 0;
      this.rtoAt = Infinity;
      if (!this.establish(now)) return;
    } else if (this.state === TIME_WAIT) {
      return; // nothing else to do in TIME_WAIT
    } else {
      if (!this.processAck(g, now)) return;
      if (this.state === CLOSED) return;
      if (this.finQueued && seqGt(this.sndUna, this.finSeq)) {
        // Our FIN is acknowledged.
        if (this.state === FIN_WAIT_1) {
          st.setState(this, FIN_WAIT_2);
          this.lingerAt = now + st.opts.finWait2Ms;
          this.setTimer();
        } else if (this.state === CLOSING) {
          this.enterTimeWait(now);
          return;
        } else if (this.state === LAST_ACK) {
          st.destroy(this, true);
          return;
        }
      }
    }

    // Seventh: segment text.
    const s = this.state;
    if (s !== ESTABLISHED && s !== FIN_WAIT_1 && s !== FIN_WAIT_2) return;
    if (dataLen > 0) {
      let dseq = seq;
      let off = g.dataOff;
      let len = dataLen;
      const d = (this.rcvNxt - dseq) | 0;
      if (d > 0) {
        if (d >= len) {
          // All old data: a retransmission whose ACK we sent was lost.
          st.counters.duplicateSegments++;
          len = 0;
        } else {
          dseq = this.rcvNxt;
          off += d;
          len -= d;
        }
      }
      // Trim what lies beyond the window.
      const over = (dseq + len - this.rcvAdvRight) | 0;
      if (over > 0) {
        len -= over;
        fin = false;
        if (len < 0) len = 0;
      }
      if (len > 0) {
        if (len > this.rcvMss) this.rcvMss = len > st.ourMss(this.localIp) ? st.ourMss(this.localIp) : len;
        if (dseq === this.rcvNxt) {
          const hadHoles = this.reasm !== null && this.reasm.count > 0;
          this.rcvNxt = (this.rcvNxt + len) >>> 0;
          this.deliver(g.buf, off, len);
          if (this.state === CLOSED) return;
          if (hadHoles) {
            this.pullReassembly();
            if (this.state === CLOSED) return;
            // RFC 5681 §4.2: ACK at once when a segment fills (part of) a hole.
            this.ackPending = true;
            st.markDirty(this);
          } else if (((this.rcvNxt - this.lastAckSent) | 0) >= 2 * this.rcvMss) {
            this.ackPending = true;
            st.markDirty(this);
          } else if (this.delackAt === Infinity || this.delackAt < now) {
            this.delackAt = now + st.opts.delayedAckMs;
            this.setTimer();
          }
        } else {
          // Out of order: keep it, and send an immediate duplicate ACK carrying SACK blocks.
          if (this.reasm === null) this.reasm = new Reassembly();
          const stored = this.reasm.insert(dseq, g.buf, off, len);
          if (!stored) st.err('ooo-overflow');
          st.counters.outOfOrderSegments++;
          if (fin && stored) {
            this.oooFin = true;
            this.oooFinSeq = (dseq + len) >>> 0;
          }
          this.sendAck(now);
          return;
        }
      } else if (!fin) {
        this.sendAck(now);
        return;
      }
    }

    // Eighth: FIN.
    if (fin) {
      const finAt = (seq + g.dataLen) >>> 0;
      if (finAt === this.rcvNxt) this.receiveFin(now);
      else if (seqGt(finAt, this.rcvNxt)) {
        this.oooFin = true;
        this.oooFinSeq = finAt;
        this.sendAck(now);
      }
    }
  }

  /** RFC 9293 §3.10.7.3: a segment in SYN-SENT. */
  private synSentInput(g: Segment, now: number): void {
    const st = this.stack;
    const opt = st.opt;
    const flags = g.flags;
    if ((flags & TCP_ACK) !== 0 && (seqLeq(g.ack, this.iss) || seqGt(g.ack, this.sndMax))) {
      if ((flags & TCP_RST) === 0) {
        st.sendControl(this.localIp, this.remoteIp, this.localPort, this.remotePort, g.ack, 0, TCP_RST);
      }
      st.err('syn-sent-bad-ack');
      return;
    }
    if ((flags & TCP_RST) !== 0) {
      if ((flags & TCP_ACK) !== 0) {
        st.counters.rstIn++;
        st.err('connection-refused');
        st.destroy(this, true);
      }
      return;
    }
    if ((flags & TCP_SYN) === 0) return;
    this.irs = g.seq;
    this.rcvNxt = (g.seq + 1) >>> 0;
    this.lastAckSent = this.rcvNxt;
    const synWin = st.opts.rcvBuf > 0xffff ? 0xffff : st.opts.rcvBuf;
    this.rcvAdvRight = (this.rcvNxt + synWin) >>> 0;
    st.negotiate(this, opt.mss, opt.wscale, opt.sackOk, opt.hasTs, opt.tsVal, true);
    this.sndWnd = g.wnd; // never scaled in a SYN
    this.maxSndWnd = g.wnd;
    this.sndWl1 = g.seq;
    this.sndWl2 = g.ack;
    if ((flags & TCP_ACK) !== 0) {
      this.sndUna = g.ack;
      if (this.tsOk && opt.hasTs && opt.tsEcr !== 0) this.rttSample((this.tsNow(now) - opt.tsEcr) | 0);
      else if (this.retries === 0) this.rttSample(now - this.rttTime);
      this.retries = 0;
      this.backoff = 0;
      this.rtoAt = Infinity;
      if (!this.establish(now)) return;
      this.ackPending = true;
      st.markDirty(this);
    } else {
      // Simultaneous open (RFC 9293 Figure 8): SYN-SENT → SYN-RECEIVED, send SYN,ACK.
      st.setState(this, SYN_RECEIVED);
      this.sendSynAck(now);
    }
  }

  /** Our SYN for an active open, offering every option we support. */
  sendSyn(now: number): void {
    const st = this.stack;
    const o = st.opts;
    st.sendSynAck(
      this.localIp,
      this.remoteIp,
      this.localPort,
      this.remotePort,
      this.iss,
      0,
      st.ourMss(this.localIp),
      o.windowScaling ? st.rcvWscaleFor() : -1,
      o.sack,
      o.timestamps,
      this.tsNow(now),
      0,
      o.rcvBuf > 0xffff ? 0xffff : o.rcvBuf,
      TCP_SYN,
    );
  }

  /** SYN-RECEIVED → ESTABLISHED: hand the stream to the application. */
  establish(now: number): boolean {
    const st = this.stack;
    st.setState(this, ESTABLISHED);
    this.cwnd = this.iw();
    this.recover = this.sndUna;
    this.highRxt = this.sndUna;
    this.fack = this.sndUna;
    this.lastSendAt = now;
    this.lastRecvAt = now;
    if (st.opts.keepAliveMs > 0) {
      this.kaAt = now + st.opts.keepAliveMs;
      this.setTimer();
    }
    const accept = this.acceptFn;
    this.acceptFn = null;
    if (accept !== null) {
      try {
        this.handler = accept(this);
      } catch {
        st.err('accept-error');
        this.abort();
        return false;
      }
    }
    if (this.state === CLOSED) return false;
    if (this.q.bytes > 0) st.markDirty(this);
    if (this.endAfterOpen) this.end();
    return true;
  }

  /** When an out-of-window ACK without data last went out (see TcpStack.takeOutOfWindowAck). */
  lastOowAckAt = -Infinity;

  private oowAck(now: number, segLen: number): void {
    if (this.stack.takeOutOfWindowAck(this, now, segLen)) this.sendAck(now);
  }

  private challengeAck(now: number): void {
    if (this.stack.takeChallengeAck(now)) this.sendAck(now);
  }

  /** ACK processing in synchronized states; false = drop the rest of the segment. */
  private processAck(g: Segment, now: number): boolean {
    const st = this.stack;
    const ack = g.ack;
    // RFC 5961 §5.2: acceptable range is (SND.UNA - MAX.SND.WND) .. SND.NXT.
    if (seqGt(ack, this.sndMax)) {
      st.err('ack-too-new');
      this.sendAck(now);
      return false;
    }
    if (seqLt(ack, (this.sndUna - this.maxSndWnd) >>> 0)) {
      st.err('ack-too-old');
      this.sendAck(now);
      return false;
    }
    // SACK blocks (RFC 2018): only those above the cumulative ACK and within what was sent.
    const opt = st.opt;
    let newSack = false;
    this.delivered = 0;
    this.origDelivered = false;
    if (this.sackOk && opt.sackCount > 0) {
      if (isDsack(ack, opt.sack, opt.sackCount)) this.onDsack(opt.sack[0], opt.sack[1]);
      for (let i = 0; i < opt.sackCount; i++) {
        let s = opt.sack[2 * i];
        const e = opt.sack[2 * i + 1];
        if (!seqLt(s, e) || seqLeq(e, ack) || seqGt(e, this.sndMax)) continue; // D-SACK or bogus
        if (seqLt(s, ack)) s = ack;
        if (this.sb.add(s, e)) {
          newSack = true;
          this.sackRecords(s, e, now);
        }
      }
    }
    const scaled = g.wnd << this.sndWscale;
    const acked = (ack - this.sndUna) | 0;
    const frto = this.inLoss && this.spur !== null && this.spur.frto.active; // (the ACK may end the loss state)
    if (acked > 0) {
      this.ackNewData(ack, now);
      if (this.state === CLOSED) return false;
    }
    if (this.sackOk) {
      if (frto) this.frtoAck(ack, acked > 0, newSack || acked <= 0, acked);
      if (acked > 0 || newSack) this.sackLossDetect(now);
    } else if (ack === this.sndUna && acked <= 0) {
      // Duplicate ACK: RFC 5681 §2; with SACK, RFC 6675 §2 also requires new SACK information
      // (so duplicated packets in the network do not cause spurious fast retransmits).
      if (
        this.sndMax !== this.sndUna &&
        g.dataLen === 0 &&
        (g.flags & (TCP_SYN | TCP_FIN)) === 0 &&
        (this.sackOk ? newSack : scaled === this.sndWnd)
      ) {
        this.onDupAck(now, newSack);
      }
    }
    // Window update (RFC 9293 §3.10.7.4: SND.WL1/SND.WL2 rule).
    const seq = g.seq;
    if (seqLt(this.sndWl1, seq) || (this.sndWl1 === seq && seqLeq(this.sndWl2, ack))) {
      const old = this.sndWnd;
      this.sndWnd = scaled;
      this.sndWl1 = seq;
      this.sndWl2 = ack;
      if (scaled > this.maxSndWnd) this.maxSndWnd = scaled;
      if (scaled > 0 && this.persisting) {
        this.persisting = false;
        this.persistAt = Infinity;
        // A probe octet the peer did not take is simply sent again as normal data.
        if (this.sackOk) {
          for (let k = this.log.lo; k < this.log.hi; k++) this.markLost(k, false);
          this.rackObj?.clear();
        } else if (seqLt(this.sndUna, this.sndNxt)) this.sndNxt = this.sndUna;
        if (this.sndMax !== this.sndUna && this.rtoAt === Infinity) {
          this.rtoAt = now + this.rtoCur();
          this.setTimer();
        }
        st.markDirty(this);
      } else if (scaled > old) st.markDirty(this);
    }
    if (this.persisting) this.probes = 0; // the peer answers our probes
    return true;
  }

  /** Marks the records inside a new SACK block [s, e) (only whole records: they were sent whole). */
  private sackRecords(s: number, e: number, now: number): void {
    const log = this.log;
    for (let k = log.firstEndingAfter(s); k < log.hi; k++) {
      if (!seqLt(log.start(k), e)) break;
      if (seqGeq(log.start(k), s) && seqLeq(log.end(k), e)) this.delivered += this.markSacked(k, now);
    }
  }

  /** Drops the records the cumulative ACK covers, updating RACK and the pipe counters. */
  private ackRecords(ack: number, now: number): void {
    const log = this.log;
    while (log.count > 0 && seqLeq(log.end(log.lo), ack)) {
      const k = log.lo;
      const f = log.flags(k);
      const len = log.len(k);
      if ((f & R_SACKED) !== 0) {
        this.sackedBytes -= len;
        this.sackedSegs--;
      } else {
        if ((f & R_LOST) !== 0) this.lostBytes -= len;
        if ((f & R_EVER_RETRANS) === 0) this.origDelivered = true;
        this.delivered += len;
        this.rackUpdate(k, now);
      }
      log.shift();
    }
    if (log.count > 0 && seqLt(log.start(log.lo), ack)) {
      // Part of a record: keep the counters in step with its new length.
      const k = log.lo;
      const f = log.flags(k);
      const part = (ack - log.start(k)) | 0;
      if ((f & R_SACKED) !== 0) this.sackedBytes -= part;
      else {
        if ((f & R_LOST) !== 0) this.lostBytes -= part;
        this.delivered += part;
      }
      log.trimFront(ack);
    }
    if (seqGt(ack, this.fack)) this.fack = ack;
    if (log.count === 0) {
      this.sackedBytes = this.sackedSegs = this.lostBytes = 0;
      if (this.reoAt !== Infinity) this.reoAt = Infinity;
      this.rackObj?.clear();
    }
  }

  private ackNewData(ack: number, now: number): void {
    const st = this.stack;
    const opt = st.opt;
    const acked = (ack - this.sndUna) | 0;
    let dataAcked = acked;
    if (this.finQueued && seqGt(ack, this.finSeq)) dataAcked--;
    const flightBefore = (this.sndMax - this.sndUna) | 0;
    // RFC 3522: the first ACK of new data after a retransmission echoes the original's timestamp.
    if (this.undoOpen && this.tsOk && opt.hasTs && this.spur!.eifel.waiting && this.spur!.eifel.onAck(opt.tsEcr)) {
      st.counters.undoEifel++;
      this.undoSpurious(this.inLoss, acked);
    }
    if (dataAcked > 0) this.q.drop(dataAcked);
    if (this.sackOk) this.ackRecords(ack, now);
    this.sndUna = ack;
    // Forward progress: the path to the peer works (the dataplane refreshes its next hop's neighbour entry).
    st.sink.confirm?.(this.remoteIp);
    if (seqLt(this.sndNxt, ack)) this.sndNxt = ack;
    if (seqLt(this.highRxt, ack)) this.highRxt = ack;
    // RTT: from the echoed timestamp (RFC 7323 §4.1) or the one timed segment (Karn).
    if (this.tsOk && opt.hasTs && opt.tsEcr !== 0) {
      const r = (this.tsNow(now) - opt.tsEcr) | 0;
      if (r >= 0 && r < 3600_000) this.rttSample(r);
    } else if (this.rttActive && seqGeq(ack, this.rttSeq)) {
      this.rttActive = false;
      this.rttSample(now - this.rttTime);
    }
    this.retries = 0;
    this.sb.trim(ack);
    this.dupAcks = 0;
    this.ltAllow = 0;
    if (this.tlpOut && seqGeq(ack, this.tlpEnd)) this.tlpOut = false;

    // Congestion control.
    const mss = this.sndMss;
    if (this.inRecovery) {
      if (seqGeq(ack, this.recover)) {
        // Full acknowledgment: leave recovery (RFC 6582 §3.2 step 3, RFC 6675 §5, RFC 6937).
        this.inRecovery = false;
        if (this.sackOk) this.cwnd = this.ssthresh;
        else {
          const flight = (this.sndMax - this.sndUna) | 0;
          this.cwnd = Math.min(this.ssthresh, Math.max(flight, mss) + mss);
        }
      } else if (!this.sackOk) {
        // Partial acknowledgment: the segment at the new SND.UNA was lost too.
        this.cwnd -= acked;
        if (acked >= mss) this.cwnd += mss;
        if (this.cwnd < mss) this.cwnd = mss;
        this.forceRxt = true;
      }
      // (With SACK, RACK finds the remaining losses and PRR sets cwnd: sackLossDetect.)
    } else if (this.cwndLimited || flightBefore >= this.cwnd - mss) {
      // With SACK, count what this ACK newly delivered (bytes SACKed earlier were counted then).
      const grow = this.sackOk ? this.delivered : acked;
      // Slow start counts acknowledged bytes (RFC 5681 §3.1, RFC 3465) whatever the algorithm.
      if (this.cwnd < this.ssthresh) this.cwnd += grow;
      else this.cc.onAck(this, grow, now);
    }
    if (this.inLoss && seqGeq(ack, this.recover)) this.inLoss = false;

    // RFC 6298 §5.2/5.3: stop the timer when all is acknowledged, else restart it.
    if (this.sndUna === this.sndMax) {
      this.rtoAt = Infinity;
      this.ptoAt = Infinity;
    } else if (!this.persisting) {
      this.rtoAt = now + this.rtoCur();
      this.setTimer();
      this.schedulePto(now);
    }
    st.markDirty(this);
    if (this.drainWanted && this.q.bytes < st.opts.sendLowWater && this.handler !== null) {
      this.drainWanted = false;
      if (this.state === ESTABLISHED || this.state === CLOSE_WAIT) this.handler.onDrain();
    }
  }

  /** A duplicate ACK on a connection without SACK (RFC 5681 §3.2, RFC 3042, RFC 5827). */
  private onDupAck(now: number, newSack: boolean): void {
    void newSack;
    this.dupAcks++;
    const mss = this.sndMss;
    if (!this.inRecovery) {
      let loss = this.dupAcks >= 3;
      if (!loss) {
        // RFC 5827 early retransmit: with fewer than 4 segments outstanding and no new data to
        // send, DupThresh becomes (outstanding segments − 1).
        const flight = (this.sndMax - this.sndUna) | 0;
        const oseg = Math.ceil(flight / mss);
        const dataEnd = this.finQueued ? this.finSeq : (this.sndUna + this.q.bytes) >>> 0;
        const unsent = (dataEnd - this.sndMax) | 0;
        const wndAvail = (this.sndUna + this.sndWnd - this.sndMax) | 0;
        if (oseg >= 2 && oseg < 4 && (unsent <= 0 || wndAvail <= 0) && this.dupAcks >= oseg - 1) {
          loss = true;
          if (seqGeq(this.sndUna, this.recover)) this.stack.counters.earlyRetransmits++;
        }
      }
      // RFC 6582 §3.2 step 2: no new recovery for duplicates of data sent before `recover`.
      if (loss && seqGeq(this.sndUna, this.recover)) this.enterRecovery(now);
      else if (this.dupAcks <= 2) {
        // RFC 3042 limited transmit: one new segment for each of the first two duplicates.
        this.ltAllow = this.dupAcks * mss;
        this.stack.markDirty(this);
      }
    } else {
      this.cwnd += mss; // NewReno: inflate by one segment per duplicate ACK
      this.stack.markDirty(this);
    }
  }

  private enterRecovery(now: number): void {
    const mss = this.sndMss;
    const flight = (this.sndMax - this.sndUna) | 0;
    this.beginUndo();
    this.cc.onLoss(this, flight, now);
    this.recover = this.sndMax;
    this.inRecovery = true;
    this.highRxt = this.sndUna;
    this.forceRxt = true;
    this.ltAllow = 0;
    if (this.sackOk) {
      // PRR (RFC 6937): cwnd follows the data delivered during recovery.
      this.prrDelivered = 0;
      this.prrOut = 0;
      this.recoverFs = flight;
      this.rescueDone = false;
      this.tlpOut = false;
      this.ptoAt = Infinity;
      this.prrUpdate();
    } else this.cwnd = this.ssthresh + 3 * mss;
    this.stack.counters.fastRetransmits++;
    this.stack.markDirty(this);
  }

  private get cc(): CongestionControl {
    return (this.ccObj ??= createCongestionControl(this.stack.opts.congestionControl));
  }

  /** A recovery or RTO episode begins: what to restore if it proves spurious (spurious.ts). */
  private beginUndo(): void {
    const sp = (this.spur ??= new SpuriousDetectors());
    this.cc.snapshot(this);
    sp.dsack.begin(this.sndUna);
    sp.eifel.reset();
    this.undoOpen = true;
  }

  /**
   * RFC 2883 D-SACK [s, e). RFC 3708 with Linux's accounting: a duplicate of data already
   * cumulatively acknowledged counts against the episode's retransmissions ("dumb counting"), one
   * of data still outstanding only if that segment was retransmitted.
   */
  private onDsack(s: number, e: number): void {
    this.stack.counters.dsacksIn++;
    // RFC 8985 §6.2 step 4: a duplicate means reordering (or a spurious retransmission) was seen:
    // RACK keeps a reordering window from now on.
    this.reorderSeen = true;
    if (!this.undoOpen) return;
    if (seqGt(e, this.sndUna)) {
      // Still outstanding: it counts only if it was retransmitted (Linux does the same per segment).
      const log = this.log;
      const k = log.firstEndingAfter(s);
      if (k >= log.hi || (log.flags(k) & R_EVER_RETRANS) === 0) return;
    }
    const segs = Math.ceil(((e - s) | 0) / this.sndMss);
    if (this.spur!.dsack.onDsack(s, e, segs > 0 ? segs : 1)) {
      this.stack.counters.undoDsack++;
      this.undoSpurious(this.inLoss, 0);
    }
  }

  /** F-RTO (RFC 5682) after an ACK while recovering from a timeout. */
  private frtoAck(ack: number, advanced: boolean, dupOrSack: boolean, acked: number): void {
    const dataEnd = this.finQueued ? this.finSeq : (this.sndUna + this.q.bytes) >>> 0;
    const canSendNew = ((dataEnd - this.sndMax) | 0) > 0 && ((this.sndUna + this.sndWnd - this.sndMax) | 0) > 0;
    const v = this.spur!.frto.onAck(ack, advanced, this.origDelivered, dupOrSack, canSendNew);
    if (v === FRTO_SPURIOUS) {
      this.stack.counters.undoFrto++;
      this.undoSpurious(true, acked);
    } else if (v === FRTO_SEND_NEW) {
      this.frtoNew = 2;
      this.stack.markDirty(this);
    }
  }

  /**
   * The current episode was spurious: the congestion state saved when it began comes back, and
   * what was only presumed lost is not retransmitted (RACK still finds real losses). After a
   * timeout (RFC 4015) cwnd restarts at FlightSize + min(acked, IW) with ssthresh at the old
   * window, so the way back is slow start rather than one burst.
   */
  private undoSpurious(timeout: boolean, acked: number): void {
    const sp = this.spur!;
    this.undoOpen = false;
    sp.dsack.end();
    sp.eifel.reset();
    sp.frto.reset();
    this.frtoNew = 0;
    this.cc.undo(this);
    if (timeout) {
      const flight = (this.sndMax - this.sndUna) | 0;
      const iw = this.iw();
      const cap = flight + (acked < iw ? acked : iw);
      if (this.cwnd > cap) {
        if (this.ssthresh < this.cwnd) this.ssthresh = this.cwnd;
        this.cwnd = cap;
      }
      this.backoff = 0;
    }
    this.inRecovery = false;
    this.inLoss = false;
    this.forceRxt = false;
    if (this.sackOk) {
      if (this.lostBytes > 0) {
        const log = this.log;
        for (let k = log.lo; k < log.hi; k++) {
          const f = log.flags(k);
          if ((f & R_LOST) !== 0) log.setFlags(k, f & ~R_LOST);
        }
        this.lostBytes = 0;
        this.rackObj?.rewind();
      }
    } else if (seqLt(this.sndNxt, this.sndMax)) this.sndNxt = this.sndMax; // no go-back-N
    this.stack.markDirty(this);
  }

  private deliver(buf: Buffer, off: number, len: number): void {
    this.stack.counters.bytesIn += len;
    if (this.paused || this.rcvQueued > 0) {
      const b = Buffer.allocUnsafe(len);
      buf.copy(b, 0, off, off + len);
      this.rcvQ.push(b);
      this.rcvQueued += len;
      return;
    }
    this.handler!.onData(buf, off, len);
  }

  private pullReassembly(): void {
    const rs = this.reasm!;
    for (;;) {
      const b = rs.takeAt(this.rcvNxt);
      if (b === undefined) break;
      this.rcvNxt = (this.rcvNxt + b.length) >>> 0;
      if (this.paused || this.rcvQueued > 0) {
        this.rcvQ.push(b);
        this.rcvQueued += b.length;
        this.stack.counters.bytesIn += b.length;
      } else this.deliver(b, 0, b.length);
      if (this.state === CLOSED) return;
    }
    if (this.oooFin && this.oooFinSeq === this.rcvNxt) {
      this.oooFin = false;
      this.receiveFin(this.stack.now);
    }
  }

  private receiveFin(now: number): void {
    const st = this.stack;
    this.rcvNxt = (this.rcvNxt + 1) >>> 0;
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

  private enterTimeWait(now: number): void {
    const st = this.stack;
    if (this.rcvQueued > 0) {
      // Data held by a paused reader is delivered before the stream closes.
      this.paused = false;
      while (this.rcvQ.length > 0 && this.state !== CLOSED) {
        const b = this.rcvQ.shift()!;
        this.rcvQueued -= b.length;
        this.handler?.onData(b, 0, b.length);
      }
      if (this.state === CLOSED) return;
    }
    this.deliverEnd();
    st.setState(this, TIME_WAIT);
    this.rtoAt = Infinity;
    this.persistAt = Infinity;
    this.kaAt = Infinity;
    this.delackAt = Infinity;
    this.reoAt = Infinity;
    this.ptoAt = Infinity;
    this.persisting = false;
    this.lingerAt = now + st.opts.timeWaitMs;
    this.q.clear();
    this.reasm = null;
    this.log.release();
    this.sb.clear();
    st.notifyClose(this);
    // The application is done with this stream: do not keep it alive for the 2MSL wait.
    this.handler = null;
    if (this.state !== TIME_WAIT) return;
    // Acknowledge the peer's FIN now (this connection leaves the flush list): also when it is
    // dropped for overflow, or the peer would retransmit its FIN and then get an RST.
    if (this.ackPending) this.sendAck(now);
    if (st.counters.timeWait > st.opts.maxTimeWait) {
      st.err('time-wait-overflow');
      st.destroy(this, false);
      return;
    }
    st.toTimeWait(this);
  }

  /** RFC 6191 / RFC 9293 §3.6.1: may a new SYN reuse this TIME_WAIT connection? */
  timeWaitReusable(g: Segment): boolean {
    const opt = this.stack.opt;
    if (this.tsOk && opt.hasTs) return seqGt(opt.tsVal, this.tsRecent);
    return seqGt(g.seq, this.rcvNxt);
  }

  // ---------------------------------------------------------------- timers

  /** Runs the timers due at `now`. */
  onTimers(now: number): void {
    const st = this.stack;
    const o = st.opts;
    if (this.lingerAt <= now) {
      this.lingerAt = Infinity;
      if (this.state === TIME_WAIT) {
        st.destroy(this, false);
        return;
      }
      if (this.state === FIN_WAIT_2) {
        st.err('fin-wait-2-timeout');
        st.destroy(this, true);
        return;
      }
    }
    if (this.rtoAt <= now) {
      this.rtoAt = Infinity;
      this.ptoAt = Infinity;
      this.reoAt = Infinity;
      this.onRto(now);
      if (this.state === CLOSED) return;
    }
    if (this.reoAt <= now) {
      // RACK reordering timer: the window for segments sent before the RACK segment has passed.
      this.reoAt = Infinity;
      this.delivered = 0;
      this.sackLossDetect(now);
    }
    if (this.ptoAt <= now) {
      this.ptoAt = Infinity;
      this.tailLossProbe(now);
      if (this.state === CLOSED) return;
    }
    if (this.persistAt <= now) {
      this.persistAt = Infinity;
      if (this.persisting) {
        if (this.probes >= o.maxRetries) {
          st.err('persist-timeout');
          this.abort();
          return;
        }
        this.probes++;
        // Zero-window probe: one octet of new data beyond the window (RFC 9293 §3.8.6.1).
        const n = this.transmit(this.sndUna, 1, now, true);
        if (n > 0) {
          st.counters.windowProbes++;
          const e = (this.sndUna + n) >>> 0;
          if (seqGt(e, this.sndMax)) {
            if (this.sackOk) this.log.push(this.sndMax, e, now, ++this.xmits);
            this.sndMax = e;
          }
          if (seqGt(e, this.sndNxt)) this.sndNxt = e;
        }
        if (this.rto * 2 ** this.persistShift < o.rtoMax) this.persistShift++;
        this.persistAt = now + this.persistInterval();
      }
    }
    if (this.delackAt <= now) {
      this.delackAt = Infinity;
      if (this.rcvNxt !== this.lastAckSent && this.state !== SYN_RECEIVED) {
        this.ackPending = true;
        st.markDirty(this);
      }
    }
    if (this.kaAt <= now) {
      this.kaAt = Infinity;
      const s = this.state;
      if (o.keepAliveMs > 0 && (s === ESTABLISHED || s === CLOSE_WAIT || s === FIN_WAIT_2)) {
        const idleUntil = this.lastRecvAt + o.keepAliveMs + this.kaProbes * o.keepAliveIntervalMs;
        if (idleUntil > now) this.kaAt = idleUntil;
        else if (this.kaProbes >= o.keepAliveProbes) {
          st.err('keepalive-timeout');
          this.abort();
          return;
        } else {
          // RFC 9293 §3.8.4: a segment with SEG.SEQ = SND.NXT - 1 and no data.
          this.kaProbes++;
          st.counters.keepAliveProbes++;
          this.transmit((this.sndUna - 1) >>> 0, 0, now, false);
          this.kaAt = now + o.keepAliveIntervalMs;
        }
      }
    }
  }

  private onRto(now: number): void {
    const st = this.stack;
    const o = st.opts;
    if (this.state === SYN_SENT) {
      if (this.retries >= o.synAckRetries) {
        st.err('connect-timeout');
        st.destroy(this, true);
        return;
      }
      this.retries++;
      this.backoff++;
      st.counters.timeouts++;
      this.sendSyn(now);
      this.rtoAt = now + this.rtoCur();
      return;
    }
    if (this.state === SYN_RECEIVED) {
      if (this.retries >= o.synAckRetries) {
        st.err('syn-ack-timeout');
        st.destroy(this, this.active);
        return;
      }
      this.retries++;
      this.backoff++;
      st.counters.synAckRetransmits++;
      st.counters.timeouts++;
      this.sendSynAck(now);
      this.rtoAt = now + this.rtoCur();
      return;
    }
    if (this.sndMax === this.sndUna || this.persisting) return;
    if (this.retries >= o.maxRetries) {
      st.err('retransmit-timeout');
      this.abort();
      return;
    }
    st.counters.timeouts++;
    // RFC 5681 §3.1 eq. 4 (only for the first timeout of a segment, and not again when fast
    // recovery already reduced it, as Linux) and the loss window.
    const first = this.retries === 0 && !this.inRecovery;
    if (first) this.beginUndo();
    this.cc.onTimeout(this, (this.sndMax - this.sndUna) | 0, first, now);
    this.retries++;
    this.inRecovery = false;
    this.forceRxt = false;
    this.recover = this.sndMax;
    this.dupAcks = 0;
    this.ltAllow = 0;
    this.highRxt = this.sndUna;
    this.rttActive = false;
    if (this.sackOk) {
      // RFC 6675 §5.1 / RFC 8985: every unSACKed segment is deemed lost and resent in order
      // under slow start; SACKed ones are skipped. RACK keeps finding lost retransmissions.
      // If the peer dropped data it had SACKed (SND.UNA's segment SACKed: reneging), forget SACKs.
      const log = this.log;
      if (log.count > 0 && (log.flags(log.lo) & R_SACKED) !== 0) {
        for (let k = log.lo; k < log.hi; k++) log.setFlags(k, log.flags(k) & R_EVER_RETRANS);
        this.sackedBytes = this.sackedSegs = this.lostBytes = 0;
        this.sb.clear();
      }
      for (let k = log.lo; k < log.hi; k++) this.markLost(k, false);
      this.rxtHint = log.lo;
      this.rackObj?.clear(); // every segment is lost now: retransmissions start a new FIFO
      (this.spur ??= new SpuriousDetectors()).frto.onTimeout(this.sndUna, this.sndMax, this.inLoss);
      this.frtoNew = 0;
      this.inLoss = true;
      this.tlpOut = false;
    } else this.sndNxt = this.sndUna;
    // RFC 6298 §5.5: back off the timer.
    if (this.rto * 2 ** this.backoff < o.rtoMax) this.backoff++;
    st.markDirty(this);
  }
}
