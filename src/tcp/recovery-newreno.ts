/**
 * Loss recovery on connections without SACK: RFC 5681 fast retransmit on the third duplicate
 * ACK, RFC 6582 NewReno fast recovery (partial ACKs retransmit the next hole, cwnd inflated by
 * one MSS per duplicate and deflated by what a partial ACK covers), RFC 3042 limited transmit
 * and RFC 5827 early retransmit. Sending follows SND.NXT, which an RTO moves back to SND.UNA
 * (go-back-N).
 */
import type { TcpConnection } from './connection.js';
import { dataEnd, newSegmentLen, noteRetransmit, superOk, SUPER_SEGMENT_MAX, transmit } from './output.js';
import type { LossRecovery } from './recovery.js';
import { seqAdd, seqGeq, seqGt, seqLt } from './seq.js';
import { armRto, startPersist } from './timers.js';
import { TCP_FIN, TCP_SYN } from '../wire/tcp.js';
import type { Segment } from './types.js';

export class NewRenoRecovery implements LossRecovery {
  inRecovery = false;
  /** RFC 6582 `recover`: SND.MAX when recovery (or the last RTO) began. */
  private recover: number;
  private dupAcks = 0;
  /** Retransmit the segment at SND.UNA at the next send (fast retransmit, partial ACK). */
  private forceRxt = false;
  /** RFC 3042: bytes allowed beyond cwnd by the first two duplicate ACKs. */
  private ltAllow = 0;

  constructor(private readonly c: TcpConnection) {
    this.recover = c.sndUna;
  }

  /** No model-based controller without SACK: no rate sample, no pacer (a prototype getter, no field). */
  get rate(): null {
    return null;
  }

  steady(): boolean {
    return !this.inRecovery && this.dupAcks === 0;
  }

  send(now: number): void {
    const c = this.c;
    const st = c.stack;
    const mss = c.sndMss;
    if (this.forceRxt) {
      // Fast retransmit of the segment at SND.UNA (RFC 5681 §3.2 step 4).
      const n = transmit(c, c.sndUna, mss, now, true);
      if (n < 0) return;
      this.forceRxt = false;
      noteRetransmit(c, c.sndUna);
      const e = seqAdd(c.sndUna, n);
      if (seqLt(c.sndNxt, e)) c.sndNxt = e;
      c.lastSendAt = now;
    }
    let sent = false;
    for (;;) {
      const flight = (c.sndNxt - c.sndUna) | 0;
      const remaining = (dataEnd(c) - c.sndNxt) | 0;
      let n: number;
      if (remaining > 0) {
        const wndAvail = (c.sndUna + c.sndWnd - c.sndNxt) | 0;
        if (wndAvail <= 0) {
          // Zero (or full) window: probe it with the persist timer when nothing is in flight.
          // (sndNxt, not sndMax: after an RTO rewound to SND.UNA nothing else would wake us.)
          if (c.sndWnd === 0 && c.sndNxt === c.sndUna && !c.persisting) startPersist(c, now);
          break;
        }
        // RFC 3042 limited transmit: new data beyond cwnd on the first two duplicate ACKs.
        const lt = !this.inRecovery && seqGeq(c.sndNxt, c.sndMax) ? this.ltAllow : 0;
        const cwndAvail = c.cwnd + lt - flight;
        if (cwndAvail <= 0) {
          c.cwndLimited = true;
          break;
        }
        const big = lt === 0 && seqGeq(c.sndNxt, c.sndMax) && superOk(c);
        const len = newSegmentLen(c, big ? SUPER_SEGMENT_MAX : mss, remaining, wndAvail, cwndAvail, flight);
        if (len === 0) break;
        n = transmit(c, c.sndNxt, len, now, true, big && len > mss);
        if (n > 0 && flight + n > c.cwnd) {
          st.counters.limitedTransmits++;
          this.ltAllow -= n;
        }
      } else if (c.finQueued && c.sndNxt === c.finSeq) {
        n = transmit(c, c.sndNxt, 0, now, true);
      } else {
        c.cwndLimited = false; // application-limited
        break;
      }
      if (n < 0) break;
      const seq = c.sndNxt;
      if (seqLt(seq, c.sndMax)) noteRetransmit(c, seq);
      else if (!c.rttActive && !c.tsOk) {
        // Without timestamps: time one segment per RTT (Karn's algorithm discards it on a retransmission).
        c.rttActive = true;
        c.rttSeq = seqAdd(seq, n);
        c.rttTime = now;
      }
      c.sndNxt = seqAdd(seq, n);
      if (seqGt(c.sndNxt, c.sndMax)) c.sndMax = c.sndNxt;
      c.lastSendAt = now;
      sent = true;
    }
    if (sent && c.sndMax !== c.sndUna) armRto(c, now);
    if (st.txBlocked) st.markDirty(c);
  }

  onAckArrived(): boolean {
    return false;
  }

  onUnaAdvanced(ack: number, acked: number, flightBefore: number, now: number): void {
    const c = this.c;
    const mss = c.sndMss;
    this.dupAcks = 0;
    this.ltAllow = 0;
    if (!this.inRecovery) {
      c.cc.onAck(c, acked, flightBefore, now);
    } else if (seqGeq(ack, this.recover)) {
      // Full acknowledgment: leave recovery (RFC 6582 §3.2 step 3).
      this.inRecovery = false;
      const flight = (c.sndMax - c.sndUna) | 0;
      c.cwnd = Math.min(c.ssthresh, Math.max(flight, mss) + mss);
    } else {
      // Partial acknowledgment: the segment at the new SND.UNA was lost too.
      c.cwnd -= acked;
      if (acked >= mss) c.cwnd += mss;
      if (c.cwnd < mss) c.cwnd = mss;
      this.forceRxt = true;
    }
  }

  /** A duplicate ACK (RFC 5681 §2): SND.UNA, no data, no SYN/FIN, the window unchanged, data outstanding. */
  onDuplicateAck(g: Segment, _newSack: boolean, sameWindow: boolean, now: number): void {
    const c = this.c;
    if (g.ack !== c.sndUna || c.sndMax === c.sndUna || g.dataLen !== 0 || (g.flags & (TCP_SYN | TCP_FIN)) !== 0 || !sameWindow) {
      return;
    }
    this.dupAcks++;
    const mss = c.sndMss;
    if (this.inRecovery) {
      c.cwnd += mss; // NewReno: inflate by one segment per duplicate ACK
      c.stack.markDirty(c);
      return;
    }
    let loss = this.dupAcks >= 3;
    if (!loss) {
      // RFC 5827 early retransmit: with fewer than 4 segments outstanding and no new data to
      // send, DupThresh becomes (outstanding segments − 1).
      const flight = (c.sndMax - c.sndUna) | 0;
      const oseg = Math.ceil(flight / mss);
      const unsent = (dataEnd(c) - c.sndMax) | 0;
      const wndAvail = (c.sndUna + c.sndWnd - c.sndMax) | 0;
      if (oseg >= 2 && oseg < 4 && (unsent <= 0 || wndAvail <= 0) && this.dupAcks >= oseg - 1) {
        loss = true;
        if (seqGeq(c.sndUna, this.recover)) c.stack.counters.earlyRetransmits++;
      }
    }
    // RFC 6582 §3.2 step 2: no new recovery for duplicates of data sent before `recover`.
    if (loss && seqGeq(c.sndUna, this.recover)) this.enterRecovery(now);
    else if (this.dupAcks <= 2) {
      // RFC 3042 limited transmit: one new segment for each of the first two duplicates.
      this.ltAllow = this.dupAcks * mss;
      c.stack.markDirty(c);
    }
  }

  private enterRecovery(now: number): void {
    const c = this.c;
    c.cc.onLoss(c, (c.sndMax - c.sndUna) | 0, now);
    this.recover = c.sndMax;
    this.inRecovery = true;
    this.forceRxt = true;
    this.ltAllow = 0;
    c.cwnd = c.ssthresh + 3 * c.sndMss;
    c.stack.counters.fastRetransmits++;
    c.stack.markDirty(c);
  }

  armProbe(): void {
    // No tail loss probe without SACK: the RTO covers the tail.
  }

  onTimer(): void {
    // No timers of its own.
  }

  onRto(): void {
    const c = this.c;
    this.inRecovery = false;
    this.forceRxt = false;
    this.recover = c.sndMax;
    this.dupAcks = 0;
    this.ltAllow = 0;
    c.sndNxt = c.sndUna; // go back N
  }

  sentOutside(): void {
    // SND.MAX is all the state there is.
  }

  onWindowOpen(): void {
    // A probe octet the peer did not take is simply sent again as normal data.
    const c = this.c;
    if (seqLt(c.sndUna, c.sndNxt)) c.sndNxt = c.sndUna;
  }

  release(): void {
    // Nothing per segment.
  }

  compact(): void {
    // Nothing to let go.
  }
}
