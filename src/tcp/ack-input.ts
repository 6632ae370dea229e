/**
 * The sender's side of an arriving segment (RFC 9293 §3.10.7.4 "fifth, check the ACK field"):
 * whether the ACK is acceptable (RFC 5961 §5.2), what it acknowledges (send queue, SND.UNA, RTT
 * sample, the retransmission timer, the application's onDrain), the peer's window (SND.WL1/WL2
 * rule, the end of persist), and the hand-over to loss recovery (see recovery.ts for the order).
 */
import type { TcpConnection } from './connection.js';
import { sendPrivateAck } from './output.js';
import { rttSample } from './rtt.js';
import { seqGeq, seqGt, seqLeq, seqLt, seqSub } from './seq.js';
import { restartRto, stopPersist } from './timers.js';
import { CLOSED, CLOSE_WAIT, ESTABLISHED, type Segment } from './types.js';

/**
 * RFC 5961 §5.2: the acceptable ACK range is (SND.UNA - MAX.SND.WND) .. SND.NXT; else drop with
 * a challenge ACK under the per-connection limit (as Linux's tcp_send_challenge_ack:
 * unlimited, each spoofed segment would draw one). Like Linux (tcp_ack), MAX.SND.WND is capped
 * by the bytes acknowledged so far: an ACK below anything the peer ever acknowledged (below our ISN on a fresh connection) cannot be an
 * old duplicate, and taking its data would widen blind data injection.
 */
export function ackAcceptable(c: TcpConnection, ack: number, now: number): boolean {
  const st = c.stack;
  if (seqGt(ack, c.sndMax)) {
    st.err('ack-too-new');
    if (st.takeChallengeAck(c, now)) sendPrivateAck(c, now);
    return false;
  }
  const maxWnd = c.bytesAcked < c.maxSndWnd ? c.bytesAcked : c.maxSndWnd;
  if (seqLt(ack, seqSub(c.sndUna, maxWnd))) {
    st.err('ack-too-old');
    if (st.takeChallengeAck(c, now)) sendPrivateAck(c, now);
    return false;
  }
  return true;
}

/** An acceptable ACK in a synchronized state; false = the connection is gone, drop the rest. */
export function processAck(c: TcpConnection, g: Segment, now: number): boolean {
  const st = c.stack;
  const ack = g.ack;
  const rec = c.rec;
  const newSack = rec.onAckArrived(st.opt, ack, now);
  const scaled = g.wnd << c.sndWscale;
  const una0 = c.sndUna;
  const advanced = seqGt(ack, una0);
  if (advanced) {
    ackNewData(c, ack, now);
    if (c.state === CLOSED) return false;
  } else {
    rec.onDuplicateAck(g, newSack, scaled === c.sndWnd, now);
    // An old ACK (SEG.ACK < SND.UNA, acceptable under RFC 5961) updates nothing more: RFC 9293
    // §3.10.7.4 says it can be ignored, Linux ignores it (tcp_ack's old_ack). Taking its window
    // let one spoofed segment with an old ack and window 0 stall the connection (review r/metrics F4).
    if (seqLt(ack, una0)) return true;
  }
  // Window update: an ACK that advances SND.UNA (Linux tcp_may_update_window), or the SND.WL1/
  // SND.WL2 rule of RFC 9293 §3.10.7.4 (which alone let a spoofed in-window seq poison SND.WL1, F4b).
  const seq = g.seq;
  if (advanced || seqLt(c.sndWl1, seq) || (c.sndWl1 === seq && seqLeq(c.sndWl2, ack))) {
    const old = c.sndWnd;
    c.sndWnd = scaled;
    c.sndWl1 = seq;
    c.sndWl2 = ack;
    if (scaled > c.maxSndWnd) c.maxSndWnd = scaled;
    if (scaled > 0 && c.persisting) {
      stopPersist(c, now);
      st.markDirty(c);
    } else if (scaled > old) st.markDirty(c);
  }
  if (c.persisting) c.probes = 0; // the peer answers our probes
  return true;
}

/** Where bytesAcked stops counting: above any window (65535 << 14), and a small integer. */
const BYTES_ACKED_CAP = 1 << 30;

function ackNewData(c: TcpConnection, ack: number, now: number): void {
  const st = c.stack;
  const opt = st.opt;
  const acked = (ack - c.sndUna) | 0;
  let dataAcked = acked;
  if (c.finQueued && seqGt(ack, c.finSeq)) dataAcked--;
  const flightBefore = (c.sndMax - c.sndUna) | 0;
  if (dataAcked > 0) c.q.drop(dataAcked);
  if (c.bytesAcked < BYTES_ACKED_CAP) c.bytesAcked += acked;
  c.sndUna = ack;
  // Forward progress: the path to the peer works (the dataplane refreshes its next hop's neighbour entry).
  st.sink.confirm?.(c.remoteIp);
  if (seqLt(c.sndNxt, ack)) c.sndNxt = ack;
  // RTT: from the echoed timestamp (RFC 7323 §4.1) or the one timed segment (Karn).
  if (c.tsOk && opt.hasTs && opt.tsEcr !== 0) {
    const r = (c.tsNow(now) - opt.tsEcr) | 0;
    if (r >= 0 && r < 3600_000) rttSample(c, r, true);
  } else if (c.rttActive && seqGeq(ack, c.rttSeq)) {
    c.rttActive = false;
    rttSample(c, now - c.rttTime);
  }
  c.retries = 0;
  c.rec.onUnaAdvanced(ack, acked, flightBefore, now);
  restartRto(c, now);
  st.markDirty(c);
  if (c.drainWanted && c.q.bytes < st.opts.sendLowWater && c.handler !== null) {
    c.drainWanted = false;
    if (c.state === ESTABLISHED || c.state === CLOSE_WAIT) c.handler.onDrain();
  }
}
