/**
 * A connection in TIME_WAIT, reduced to what that state still needs (like Linux's
 * inet_timewait_sock): the 4-tuple, the sequence numbers, the timestamps, the window we
 * advertise and the 2MSL deadline. The full TcpConnection (send queue, SACK log, congestion
 * state, the application's handler) is let go as soon as the connection enters TIME_WAIT, so a
 * busy server keeps ~100 bytes per closed connection for timeWaitMs instead of kilobytes that
 * the garbage collector would have to copy into the old generation and mark.
 *
 * Segment processing follows TcpConnection.segment() for TIME_WAIT exactly: PAWS (RFC 7323
 * §5.3), the acceptability test, RST (RFC 5961 §3.2, RFC 1337: no assassination), SYN
 * (challenge ACK; a reusable SYN is taken by the stack first, RFC 6191), a retransmitted FIN
 * (ACK again and restart the 2MSL wait).
 */
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, writeOptTimestamp, writeTcpHeader } from '../wire/tcp.js';
import type { TcpConnection } from './connection.js';
import { seqGeq, seqGt, seqLeq, seqLt } from './seq.js';
import type { TcpStack } from './stack.js';
import { Segment, TIME_WAIT } from './types.js';

export class TimeWaitConnection {
  /** Next entry in the same hash bucket of the stack's table. */
  next: TcpConnection | TimeWaitConnection | null = null;
  /** TIME_WAIT, then CLOSED once removed. */
  state = TIME_WAIT;
  /** The 2MSL FIFO (see TcpStack.timeWaitQueue). */
  twPrev: TcpConnection | TimeWaitConnection | null = null;
  twNext: TcpConnection | TimeWaitConnection | null = null;
  inTimeWaitList = false;
  /** Never in the timer heap. */
  heapIdx = -1;
  lingerAt: number;

  readonly localIp: number;
  readonly localPort: number;
  readonly remoteIp: number;
  readonly remotePort: number;
  readonly sndNxt: number;
  readonly sndMax: number;
  readonly rcvNxt: number;
  rcvAdvRight: number;
  private lastAckSent: number;
  private readonly rcvWscale: number;
  private readonly rcvMss: number;
  readonly tsOk: boolean;
  tsRecent: number;
  private readonly tsOffset: number;
  lastOowAckAt: number;
  // For `show session` only.
  readonly srtt: number;
  readonly rttvar: number;
  readonly rto: number;
  readonly cwnd: number;
  readonly ssthresh: number;
  readonly sndWnd: number;
  readonly sndMss: number;

  constructor(
    readonly stack: TcpStack,
    c: TcpConnection,
  ) {
    this.localIp = c.localIp;
    this.localPort = c.localPort;
    this.remoteIp = c.remoteIp;
    this.remotePort = c.remotePort;
    this.sndNxt = c.sndNxt;
    this.sndMax = c.sndMax;
    this.rcvNxt = c.rcvNxt;
    this.rcvAdvRight = c.rcvAdvRight;
    this.lastAckSent = c.lastAckSent;
    this.rcvWscale = c.rcvWscale;
    this.rcvMss = c.rcvMss;
    this.tsOk = c.tsOk;
    this.tsRecent = c.tsRecent;
    this.tsOffset = c.tsOffset;
    this.lingerAt = c.lingerAt;
    this.lastOowAckAt = c.lastOowAckAt;
    this.srtt = c.srtt;
    this.rttvar = c.rttvar;
    this.rto = c.rto;
    this.cwnd = c.cwnd;
    this.ssthresh = c.ssthresh;
    this.sndWnd = c.sndWnd;
    this.sndMss = c.sndMss;
  }

  /** RFC 6191 / RFC 9293 §3.6.1: may a new SYN reuse this TIME_WAIT connection? */
  timeWaitReusable(g: Segment): boolean {
    const opt = this.stack.opt;
    if (this.tsOk && opt.hasTs) return seqGt(opt.tsVal, this.tsRecent);
    return seqGt(g.seq, this.rcvNxt);
  }

  /** One segment for this connection (RFC 9293 §3.10.7.4 in TIME_WAIT). */
  segment(g: Segment, now: number): void {
    const st = this.stack;
    const opt = st.opt;
    const flags = g.flags;
    const segLen = g.dataLen + ((flags & TCP_SYN) !== 0 ? 1 : 0) + ((flags & TCP_FIN) !== 0 ? 1 : 0);
    if (this.tsOk && opt.hasTs && segLen > 0 && (flags & TCP_RST) === 0 && seqLt(opt.tsVal, this.tsRecent)) {
      st.err('paws');
      this.oowAck(now, segLen);
      return;
    }
    let wnd = (this.rcvAdvRight - this.rcvNxt) | 0;
    if (wnd < 0) wnd = 0;
    const seq = g.seq;
    let ok: boolean;
    if (segLen === 0) {
      ok = wnd === 0 ? seq === this.rcvNxt : seqGeq(seq, this.rcvNxt) && seqLt(seq, (this.rcvNxt + wnd) >>> 0);
    } else if (wnd === 0) {
      ok = false;
    } else {
      const last = (seq + segLen - 1) >>> 0;
      const right = (this.rcvNxt + wnd) >>> 0;
      ok = (seqGeq(seq, this.rcvNxt) && seqLt(seq, right)) || (seqGeq(last, this.rcvNxt) && seqLt(last, right));
    }
    if (!ok) {
      if (wnd === 0 && seq === this.rcvNxt && (flags & (TCP_SYN | TCP_RST)) === 0) {
        // Zero window: the ACK of an exactly-placed segment still counts; acknowledge it.
        this.sendAck(now);
      } else {
        if ((flags & TCP_RST) !== 0) {
          st.err('rst-out-of-window');
          return;
        }
        if ((flags & TCP_FIN) !== 0) {
          // A retransmitted FIN: our last ACK was lost; ACK again and restart the 2MSL wait.
          this.lingerAt = now + st.opts.timeWaitMs;
          st.timeWaitQueue(this);
        } else if (segLen > 0) st.counters.duplicateSegments++;
        st.err('out-of-window');
        this.oowAck(now, segLen);
        return;
      }
    }
    if ((flags & TCP_RST) !== 0) {
      if (seq === this.rcvNxt) {
        st.counters.rstIn++;
        st.err('rst-in-time-wait'); // RFC 1337
        return;
      }
      st.err('rst-challenge');
      this.challengeAck(now);
      return;
    }
    if ((flags & TCP_SYN) !== 0) {
      st.err('syn-challenge');
      this.challengeAck(now);
      return;
    }
    if ((flags & TCP_ACK) === 0) {
      st.err('no-ack');
      return;
    }
    // RFC 7323 §5.3 R3: only an accepted segment (not a challenged RST or SYN) sets TS.Recent.
    if (this.tsOk && opt.hasTs && seqLeq(seq, this.lastAckSent) && seqGeq(opt.tsVal, this.tsRecent)) {
      this.tsRecent = opt.tsVal;
    }
  }

  private oowAck(now: number, segLen: number): void {
    if (this.stack.takeOutOfWindowAck(this, now, segLen)) this.sendAck(now);
  }

  private challengeAck(now: number): void {
    if (this.stack.takeChallengeAck(this, now)) this.sendAck(now);
  }

  /** <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, with the window and timestamps as TcpConnection sends them. */
  sendAck(now: number): void {
    const st = this.stack;
    const sink = st.sink;
    if (!sink.begin(this.localIp, this.remoteIp, false, true)) {
      st.err('tx-full'); // the peer retransmits its FIN and we answer then
      return;
    }
    const buf = sink.buf;
    const o = sink.off;
    const hl = this.tsOk ? 32 : 20;
    writeTcpHeader(buf, o, this.localPort, this.remotePort, this.sndNxt, this.rcvNxt, hl, TCP_ACK, this.windowField());
    if (this.tsOk) writeOptTimestamp(buf, o + 20, (Math.floor(now) + this.tsOffset) >>> 0, this.tsRecent);
    sink.end(hl);
    this.lastAckSent = this.rcvNxt;
    st.counters.segmentsOut++;
  }

  /** TcpConnection.windowField() with nothing queued for the application. */
  private windowField(): number {
    const rcvBuf = this.stack.opts.rcvBuf;
    const promised = (this.rcvAdvRight - this.rcvNxt) | 0;
    let win = rcvBuf;
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
}
