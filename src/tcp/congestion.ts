/**
 * Congestion control: how cwnd and ssthresh move on ACKs, on loss and on a retransmission
 * timeout. The connection holds cwnd and ssthresh (the send loops and `show session` read them);
 * a CongestionControl object (one per connection, with whatever state its algorithm keeps) is
 * the only thing that changes them outside loss recovery. The loss-recovery algorithms
 * (recovery.ts) call it: onAck for ACKs outside recovery, onLoss when fast recovery starts (the
 * recovery algorithm then sets cwnd itself: NewReno inflation or PRR, until recovery ends at
 * cwnd = ssthresh or RFC 6582's bound); the timers call onRto.
 *
 * NewReno (RFC 5681, with RFC 3465 byte counting in slow start) is the one implementation today;
 * CUBIC (RFC 9438) and the undo of spurious reductions (RFC 3522/4015/5682/3708, which need the
 * prior cwnd/ssthresh) are meant to slot in behind this interface.
 */
import type { TcpConnection } from './connection.js';

export interface CongestionControl {
  /**
   * An ACK outside recovery newly delivered `bytes` (cumulatively acknowledged, or on SACK
   * connections also SACKed); `flightBefore` were outstanding before it. Grows cwnd when the
   * sender was limited by it.
   */
  onAck(c: TcpConnection, bytes: number, flightBefore: number, now: number): void;
  /** Loss detected, fast recovery starts with `flight` bytes outstanding: set ssthresh. */
  onLoss(c: TcpConnection, flight: number, now: number): void;
  /**
   * The retransmission timer expired with `flight` bytes outstanding; `first` = the first timeout
   * of this data (RFC 5681 §3.1 eq. 4 applies only then). Sets ssthresh and the loss window.
   */
  onRto(c: TcpConnection, flight: number, first: boolean, now: number): void;
}

/** The congestion control a new connection gets. */
export function createCongestionControl(): CongestionControl {
  return new NewRenoCongestion();
}

/** RFC 5681 slow start and congestion avoidance, RFC 3465 byte counting; ssthresh = flight / 2. */
export class NewRenoCongestion implements CongestionControl {
  /** Bytes acknowledged in congestion avoidance since cwnd last grew by one MSS. */
  private caAcc = 0;

  onAck(c: TcpConnection, bytes: number, flightBefore: number): void {
    const mss = c.sndMss;
    if (!c.cwndLimited && flightBefore < c.cwnd - mss) return; // application-limited
    if (c.cwnd < c.ssthresh) {
      c.cwnd += bytes; // slow start
    } else {
      // Congestion avoidance: one MSS per cwnd of acknowledged bytes.
      this.caAcc += bytes;
      if (this.caAcc >= c.cwnd) {
        this.caAcc -= c.cwnd;
        c.cwnd += mss;
      }
    }
  }

  onLoss(c: TcpConnection, flight: number): void {
    c.ssthresh = Math.max(flight >> 1, 2 * c.sndMss);
    this.caAcc = 0;
  }

  onRto(c: TcpConnection, flight: number, first: boolean): void {
    if (first) c.ssthresh = Math.max(flight >> 1, 2 * c.sndMss);
    c.cwnd = c.sndMss;
    this.caAcc = 0;
  }
}
