/**
 * A connection in TIME_WAIT, reduced to what that state still needs (like Linux's
 * inet_timewait_sock): the 4-tuple, the sequence numbers, the timestamps, the window we
 * advertise and the 2MSL deadline. The full TcpConnection (send queue, SACK log, congestion
 * state, the application's handler) is let go as soon as the connection enters TIME_WAIT, so a
 * busy server keeps ~100 bytes per closed connection for timeWaitMs instead of kilobytes that
 * the garbage collector would have to copy into the old generation and mark.
 *
 * Segments go through the same acceptance checks as TcpConnection's (acceptance.ts): PAWS
 * (RFC 7323 §5.3), the sequence test, RST (RFC 5961 §3.2; one at RCV.NXT is ignored, RFC 1337:
 * no assassination), SYN (challenge ACK; a reusable SYN is taken by the stack first, RFC 6191);
 * then a retransmitted FIN is ACKed again and restarts the 2MSL wait.
 *
 * An entry whose connection is gone is kept (up to TW_FREE_MAX, stack.ts) and reused by init()
 * for the next connection to close, so a server closing one connection per request allocates
 * none: new entries lived long enough to be promoted and then marked and swept. The number
 * fields start as numbers (not undefined), so V8 keeps each one in a box it updates in place
 * when the entry is reused (a few more bytes per entry than undefined-first fields, whose non-small
 * values would be allocated anew on each reuse and promoted; bench/time-wait-memory.js).
 */
import { TCP_ACK, TCP_FIN, writeOptTimestamp, writeTcpHeader } from '../wire/tcp.js';
import {
  SEG_ACCEPT,
  SEG_ACCEPT_ACK_ONLY,
  SEG_OUT_OF_WINDOW,
  SEG_RESET,
  type SegmentReceiver,
  acceptSegment,
  rejectOutOfWindow,
  segmentLength,
  updateTsRecent,
} from './acceptance.js';
import type { TcpConnection } from './connection.js';
import { type ReceiveWindow, windowField } from './output.js';
import { seqAdd, seqGt } from './seq.js';
import type { TcpStack } from './stack.js';
import { Segment, TIME_WAIT } from './types.js';

export class TimeWaitConnection implements SegmentReceiver, ReceiveWindow {
  /** Next entry in the same hash bucket of the stack's table. */
  next: TcpConnection | TimeWaitConnection | null = null;
  /** TIME_WAIT, then CLOSED once removed. */
  state = TIME_WAIT;
  /** The stack's 2MSL FIFO (see TcpStack.timeWaitQueue). */
  twPrev: TimeWaitConnection | null = null;
  twNext: TimeWaitConnection | null = null;
  inTimeWaitList = false;
  lingerAt = 0;

  // (Set by init: an entry is reused for another connection once it is gone, see TcpStack.twFree.)
  localIp = 0;
  localPort = 0;
  remoteIp = 0;
  remotePort = 0;
  sndNxt = 0;
  sndMax = 0;
  rcvNxt = 0;
  rcvAdvRight = 0;
  lastAckSent = 0;
  rcvWscale = 0;
  rcvMss = 0;
  tsOk = false;
  tsRecent = 0;
  tsRecentAt = 0;
  private tsOffset = 0;
  lastOowAckAt = 0;
  // For `show session` only.
  srtt = 0;
  rttvar = 0;
  rto = 0;
  cwnd = 0;
  ssthresh = 0;
  sndWnd = 0;
  sndMss = 0;

  constructor(
    readonly stack: TcpStack,
    c: TcpConnection,
  ) {
    this.init(c);
  }

  /** Takes over connection c (which just entered TIME_WAIT); also when the entry is reused. */
  init(c: TcpConnection): void {
    this.next = null;
    this.state = TIME_WAIT;
    this.twPrev = this.twNext = null;
    this.inTimeWaitList = false;
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
    this.tsRecentAt = c.tsRecentAt;
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

  /** No PAWS exemption in TIME_WAIT (as Linux's tcp_timewait_state_process): nothing to reorder. */
  disorderedAck(): boolean {
    return false;
  }

  /** One segment for this connection (RFC 9293 §3.10.7.4 in TIME_WAIT). */
  segment(g: Segment, now: number): void {
    const st = this.stack;
    const segLen = segmentLength(g);
    switch (acceptSegment(this, g, segLen, now)) {
      case SEG_OUT_OF_WINDOW:
        if ((g.flags & TCP_FIN) !== 0) {
          // A retransmitted FIN: our last ACK was lost; ACK again and restart the 2MSL wait.
          st.restartTimeWait(this, now);
        } else if (segLen > 0) st.counters.duplicateSegments++;
        rejectOutOfWindow(this, segLen, now);
        return;
      case SEG_RESET:
        // RFC 1337: no assassination. Counted only in the private error reason (private-reasons.ts),
        // not in the exported rst_in: only an RST exactly at RCV.NXT gets here and nothing public
        // changes, so a public count would tell an off-path prober RCV.NXT (review r/metrics2 R2-5).
        st.err('rst-in-time-wait');
        return;
      case SEG_ACCEPT_ACK_ONLY:
      case SEG_ACCEPT:
        break;
      default:
        return; // dropped (SYN_RECEIVED verdicts cannot occur here)
    }
    // As Linux's tcp_timewait_state_process: what may arrive in the window now is a bare ACK at
    // RCV.NXT, and only that moves TS.Recent; its ACK field must be SND.NXT (everything we sent,
    // our FIN included, was acknowledged to get here). Anything else (data, a garbage ACK field)
    // is not taken: it gets the ACK of an unacceptable segment (rate limited unless it has data),
    // so a blind segment anywhere in the window cannot move TS.Recent ahead and make the real
    // client's next SYN look like an old duplicate (RFC 6191).
    if (segLen === 0 && g.seq === this.rcvNxt && g.ack === this.sndNxt) {
      updateTsRecent(this, g.seq, st.opt, now);
      return;
    }
    st.err('time-wait-unacceptable');
    if (st.takeOutOfWindowAck(this, now, g.dataLen)) this.sendPrivateAck(now);
  }

  /** sendAck() as a private frame: an unacceptable segment's answer, left out of /metrics (private-reasons.ts). */
  sendPrivateAck(now: number): void {
    const st = this.stack;
    st.beginPrivate();
    try {
      this.sendAck(now);
    } finally {
      st.endPrivate();
    }
  }

  /** <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, with the window and timestamps as TcpConnection sends them. */
  sendAck(now: number): void {
    const st = this.stack;
    const sink = st.sink;
    if (!sink.begin(this.localIp, this.remoteIp, false, true)) {
      if (!st.privateTx) st.err('tx-full'); // the peer retransmits its FIN and we answer then
      return;
    }
    const buf = sink.buf;
    const o = sink.off;
    const hl = this.tsOk ? 32 : 20;
    writeTcpHeader(buf, o, this.localPort, this.remotePort, this.sndNxt, this.rcvNxt, hl, TCP_ACK, windowField(this, 0));
    if (this.tsOk) writeOptTimestamp(buf, o + 20, seqAdd(Math.floor(now), this.tsOffset), this.tsRecent);
    sink.end(hl);
    this.lastAckSent = this.rcvNxt;
    st.counters.segmentsOut++;
    if (st.privateTx) st.counters.privateSegmentsOut++;
  }
}
