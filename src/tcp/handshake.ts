/**
 * The end of the three-way handshake (RFC 9293 §3.5): a segment in SYN-SENT (§3.10.7.3), the
 * ACK that completes SYN-RECEIVED, and the move to ESTABLISHED, where the connection gets its
 * loss-recovery algorithm and is handed to the application.
 */
import { TCP_ACK, TCP_RST, TCP_SYN } from '../wire/tcp.js';
import type { TcpConnection } from './connection.js';
import { sendSynAck } from './output.js';
import { Cubic } from './congestion.js';
import type { LossRecovery } from './recovery.js';
import { NewRenoRecovery } from './recovery-newreno.js';
import { SackRecovery } from './recovery-sack.js';
import { rttSample } from './rtt.js';
import { seqAdd, seqGt, seqLeq } from './seq.js';
import { armKeepAlive } from './timers.js';
import { CLOSED, ESTABLISHED, SYN_RECEIVED, type Segment } from './types.js';

/** RFC 9293 §3.10.7.3: a segment in SYN-SENT. */
export function synSentInput(c: TcpConnection, g: Segment, now: number): void {
  const st = c.stack;
  const opt = st.opt;
  const flags = g.flags;
  if ((flags & TCP_ACK) !== 0 && (seqLeq(g.ack, c.iss) || seqGt(g.ack, c.sndMax))) {
    if ((flags & TCP_RST) === 0) {
      // private: it tells where the ACK fell (private-reasons.ts)
      st.sendPrivateControl(c.localIp, c.remoteIp, c.localPort, c.remotePort, g.ack, 0, TCP_RST);
    }
    st.err('syn-sent-bad-ack');
    return;
  }
  if ((flags & TCP_RST) !== 0) {
    if ((flags & TCP_ACK) !== 0) {
      st.counters.rstIn++;
      st.err('connection-refused');
      st.destroy(c, true);
    }
    return;
  }
  if ((flags & TCP_SYN) === 0) return;
  c.irs = g.seq;
  c.rcvNxt = seqAdd(g.seq, 1);
  c.lastAckSent = c.rcvNxt;
  const synWin = st.opts.rcvBuf > 0xffff ? 0xffff : st.opts.rcvBuf;
  c.rcvAdvRight = seqAdd(c.rcvNxt, synWin);
  st.negotiate(c, opt.mss, opt.wscale, opt.sackOk, opt.hasTs, opt.tsVal, true);
  c.sndWnd = g.wnd; // never scaled in a SYN
  c.maxSndWnd = g.wnd;
  c.sndWl1 = g.seq;
  c.sndWl2 = g.ack;
  if ((flags & TCP_ACK) !== 0) {
    c.sndUna = g.ack;
    handshakeRtt(c, now);
    if (!establish(c, now)) return;
    c.ackPending = true;
    st.markDirty(c);
  } else {
    // Simultaneous open (RFC 9293 Figure 8): SYN-SENT → SYN-RECEIVED, send SYN,ACK.
    st.setState(c, SYN_RECEIVED);
    sendSynAck(c, now);
  }
}

/**
 * SYN-RECEIVED: the acceptable ACK of our SYN-ACK (SND.UNA < SEG.ACK ≤ SND.NXT, checked by the
 * caller). False if the connection is gone (the application refused it).
 */
export function synReceivedAck(c: TcpConnection, g: Segment, now: number): boolean {
  const ack = g.ack;
  c.sndUna = ack;
  c.stack.sink.confirm?.(c.remoteIp);
  c.sndWnd = g.wnd << c.sndWscale;
  c.maxSndWnd = c.sndWnd;
  c.sndWl1 = g.seq;
  c.sndWl2 = ack;
  handshakeRtt(c, now);
  return establish(c, now);
}

/**
 * The handshake's RTT sample: from the echoed timestamp, or the SYN(-ACK) if it was sent once
 * (Karn). An echo older than our first SYN(-ACK) (rttTime; 0 for a SYN-cookie connection, which
 * kept no time) is not an echo of ours: it would make an RTT of up to an hour, and the first
 * pacing rate (cwnd / SRTT) a crawl, so it is ignored (as ack-input.ts drops samples out of range).
 */
function handshakeRtt(c: TcpConnection, now: number): void {
  const opt = c.stack.opt;
  const timed = c.retries === 0 || c.rttTime > 0; // a SYN-cookie connection has retries 1, rttTime 0
  const elapsed = timed ? now - c.rttTime + 1 : 3600_000; // +1: the timestamp clock's whole-ms ticks
  const r = c.tsOk && opt.hasTs && opt.tsEcr !== 0 ? (c.tsNow(now) - opt.tsEcr) | 0 : -1;
  if (r >= 0 && r <= elapsed && r < 3600_000) rttSample(c, r, true);
  else if (c.retries === 0) rttSample(c, now - c.rttTime);
  c.retries = 0;
  c.backoff = 0;
  c.rtoAt = Infinity;
}

/** → ESTABLISHED: hand the stream to the application. False if it is gone meanwhile. */
function establish(c: TcpConnection, now: number): boolean {
  const st = c.stack;
  st.setState(c, ESTABLISHED);
  c.cwnd = c.iw();
  c.rec = createRecovery(c);
  c.lastSendAt = now;
  c.lastRecvAt = now;
  armKeepAlive(c, now);
  const accept = c.acceptFn;
  c.acceptFn = null;
  if (accept !== null) {
    try {
      c.handler = accept(c);
    } catch {
      st.err('accept-error');
      c.abort();
      return false;
    }
  }
  if (c.state === CLOSED) return false;
  if (c.q.bytes > 0) st.markDirty(c);
  if (c.endAfterOpen) c.end();
  return true;
}

/** The loss-recovery algorithm for the options the handshake negotiated. */
function createRecovery(c: TcpConnection): LossRecovery {
  if (c.sackOk) return new SackRecovery(c);
  // bbr needs SACK (its delivery-rate samples and pacer live in the SACK recovery's send log):
  // without it, the connection runs CUBIC (counted).
  if (c.cc.modelBased) {
    c.cc = new Cubic();
    c.stack.counters.bbrWithoutSack++;
  }
  return new NewRenoRecovery(c);
}
