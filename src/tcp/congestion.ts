/**
 * Congestion control: how cwnd and ssthresh move on ACKs, on loss and on a retransmission
 * timeout. The connection holds cwnd and ssthresh (the send loops and `show session` read them);
 * a CongestionControl object (one per connection, with whatever state its algorithm keeps) is
 * the only thing that changes them outside loss recovery. The loss-recovery algorithms
 * (recovery.ts) call it: onAck for ACKs outside recovery, onLoss when fast recovery starts (the
 * recovery algorithm then sets cwnd itself: NewReno inflation or PRR, until recovery ends at
 * cwnd = ssthresh or RFC 6582's bound); the timers call onRto. Three implementations:
 *
 *   cubic    RFC 9438 (the default, as in Linux): W_cubic(t) = C·(t − K)³ + W_max with C = 0.4,
 *            β = 0.7, fast convergence, the Reno-friendly region (W_est) and the 1.5·cwnd cap.
 *   newreno  RFC 5681 / RFC 3465 byte counting: slow start by the bytes acknowledged, one MSS per
 *            cwnd of acknowledged bytes in congestion avoidance, ssthresh = FlightSize / 2.
 *   bbr      BBR v1 as Linux's tcp_bbr.c runs it (bbr.ts): model-based (BtlBw, RTprop), paced,
 *            and a random loss does not shrink it. It is `modelBased`: on SACK connections the
 *            recovery hands it a delivery-rate sample per ACK (delivery-rate.ts) instead of onAck,
 *            applies no PRR (bbr does packet conservation itself) and paces what it sends at
 *            pacingRate. SACK only: a peer without SACK gets CUBIC (counted). Opt-in; CUBIC stays
 *            the default.
 *
 * History: a first, simplified BBR (cwnd = 2·BtlBw·RTprop from ACK-rate samples, no pacer,
 * flight-timed rounds, no ProbeRTT, no conservation) was withdrawn after review: under a real
 * bottleneck it overfilled the queue (19-82% of its frames dropped where CUBIC lost 1.6-2.5%).
 * This one is judged against the kernel's BBR under a bottleneck by test/e2e/bottleneck.test.ts
 * (without its pacer it fails that test: 14% of its frames dropped, the queue full).
 *
 * Loss recovery (PRR, RFC 6675, NewReno's inflation) stays with the connection: the controller
 * only decides ssthresh at the start of a recovery and the growth outside it, and can put both back
 * when the recovery proves spurious (RFC 3708 / RFC 4015 / RFC 5682 detection, see spurious.ts).
 *
 * Pure arithmetic: no timers, the time comes in (`now`, ms). One small object per connection, no
 * allocation per ACK.
 */

import { Bbr } from './bbr.js';
import type { DeliveryRate } from './delivery-rate.js';

/** What a controller reads and writes on its connection: windows in bytes, times in ms. */
export interface CongestionHost {
  cwnd: number;
  ssthresh: number;
  readonly sndMss: number;
  /** Smoothed RTT (ms); 0 before the first sample. */
  readonly srtt: number;
  /** The last send was limited by cwnd (not by the application): cwnd may grow. */
  readonly cwndLimited: boolean;
  /** The minimum RTT seen (ms; Infinity before a sample). On SACK connections from the send log (µs resolution). */
  readonly minRtt: number;
}

export type CongestionControlName = 'cubic' | 'newreno' | 'bbr';
export const CONGESTION_CONTROLS: readonly CongestionControlName[] = ['cubic', 'newreno', 'bbr'];

export interface CongestionControl {
  readonly name: CongestionControlName;
  /**
   * The controller sets cwnd from its model on every ACK, in loss recovery too (bbr): the SACK
   * recovery then hands it a delivery-rate sample per ACK (onRateSample) instead of calling
   * onAck, applies no PRR and no cwnd = ssthresh when a recovery ends, and paces what it sends
   * at pacingRate.
   */
  readonly modelBased: boolean;
  /** Bytes per ms the pacer lets out on average; 0 = not paced (cubic, newreno). */
  readonly pacingRate: number;
  /** The largest burst (bytes) the pacer lets out at once. */
  readonly quantum: number;
  /** Model-based only: at ESTABLISHED (the first pacing rate). */
  init?(h: CongestionHost, now: number): void;
  /** Model-based only: the rate sample of one ACK (delivery-rate.ts); sets cwnd and the pacing rate. */
  onRateSample?(h: CongestionHost, rs: DeliveryRate, now: number): void;
  /** Model-based only: its state for `show session verbose`. */
  describe?(): string;
  /**
   * An ACK outside recovery newly delivered `bytes` (cumulatively acknowledged, or on SACK
   * connections also SACKed); `flightBefore` were outstanding before it. Grows cwnd when the
   * sender was limited by it: slow start below ssthresh, the algorithm's growth above it.
   */
  onAck(h: CongestionHost, bytes: number, flightBefore: number, now: number): void;
  /**
   * Loss detected, fast recovery starts with `flight` bytes outstanding: sets ssthresh. The state
   * before it is remembered for undo().
   */
  onLoss(h: CongestionHost, flight: number, now: number): void;
  /**
   * The retransmission timer expired with `flight` bytes outstanding; `first` = the first timeout
   * of this data outside a fast recovery (RFC 5681 §3.1 eq. 4 applies only then; the state before
   * it is remembered for undo()). Sets ssthresh and the loss window, cwnd = 1 MSS.
   */
  onRto(h: CongestionHost, flight: number, first: boolean, now: number): void;
  /** The last reduction proved spurious (spurious.ts): cwnd, ssthresh and the algorithm's state come back. */
  undo(h: CongestionHost): void;
  /** After an idle restart (RFC 5681 §4.1), at `now`: growth starts a new epoch. */
  onIdle(h: CongestionHost, now: number): void;
}

/** The congestion control a new connection gets (TcpOptions.congestionControl). */
export function createCongestionControl(name: CongestionControlName = 'cubic'): CongestionControl {
  return name === 'newreno' ? new NewReno() : name === 'bbr' ? new Bbr() : new Cubic();
}

/** Growth only when cwnd limited the sender (RFC 7661's concern; as the connection did before). */
function mayGrow(h: CongestionHost, flightBefore: number): boolean {
  return h.cwndLimited || flightBefore >= h.cwnd - h.sndMss;
}

/** RFC 5681 §3.1 eq. 4: ssthresh = max(FlightSize / 2, 2·SMSS). */
function halfFlight(flight: number, mss: number): number {
  const h = flight >> 1;
  return h > 2 * mss ? h : 2 * mss;
}

export class NewReno implements CongestionControl {
  // Constants of the class as prototype getters, not fields: 8 B each per connection (review r/perf).
  get name(): 'newreno' {
    return 'newreno';
  }
  get modelBased(): false {
    return false;
  }
  get pacingRate(): 0 {
    return 0;
  }
  get quantum(): 0 {
    return 0;
  }
  /** Bytes acknowledged in congestion avoidance since cwnd last grew. */
  private acc = 0;
  private priorCwnd = 0;
  private priorSsthresh = 0;

  onAck(h: CongestionHost, acked: number, flightBefore: number, _now: number): void {
    if (!mayGrow(h, flightBefore)) return; // application-limited
    if (h.cwnd < h.ssthresh) {
      h.cwnd += acked; // slow start, byte counting (RFC 3465)
      return;
    }
    this.acc += acked;
    if (this.acc >= h.cwnd) {
      this.acc -= h.cwnd;
      h.cwnd += h.sndMss;
    }
  }

  onLoss(h: CongestionHost, flight: number, _now: number): void {
    this.snapshot(h);
    h.ssthresh = halfFlight(flight, h.sndMss);
    this.acc = 0;
  }

  onRto(h: CongestionHost, flight: number, first: boolean, _now: number): void {
    if (first) {
      this.snapshot(h);
      h.ssthresh = halfFlight(flight, h.sndMss);
    }
    h.cwnd = h.sndMss;
    this.acc = 0;
  }

  private snapshot(h: CongestionHost): void {
    this.priorCwnd = h.cwnd;
    this.priorSsthresh = h.ssthresh;
  }

  undo(h: CongestionHost): void {
    if (this.priorCwnd === 0) return;
    if (h.cwnd < this.priorCwnd) h.cwnd = this.priorCwnd;
    if (h.ssthresh < this.priorSsthresh) h.ssthresh = this.priorSsthresh;
    this.priorCwnd = this.priorSsthresh = 0;
    this.acc = 0;
  }

  onIdle(_h: CongestionHost, _now: number): void {
    this.acc = 0;
  }
}

/** RFC 9438 §5: C = 0.4 (segments / s³). */
export const CUBIC_C = 0.4;
/** RFC 9438 §4.6: the multiplicative decrease factor. */
export const CUBIC_BETA = 0.7;
/** RFC 9438 §4.3: the Reno-friendly additive increase, 3·(1 − β) / (1 + β) segments per RTT. */
export const CUBIC_ALPHA = (3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA);

/**
 * RFC 9438 CUBIC. Windows are kept in segments (floats) inside, cwnd in bytes on the host; the
 * time t of the formulas is in seconds since the start of the current congestion-avoidance epoch.
 */
export class Cubic implements CongestionControl {
  // Constants of the class as prototype getters, not fields: 8 B each per connection (review r/perf).
  get name(): 'cubic' {
    return 'cubic';
  }
  get modelBased(): false {
    return false;
  }
  get pacingRate(): 0 {
    return 0;
  }
  get quantum(): 0 {
    return 0;
  }
  /** W_max: the window (segments) just before the last reduction. */
  wMax = 0;
  /** K (s): when W_cubic reaches W_max again. */
  k = 0;
  /** Start of the current congestion-avoidance epoch (ms), -1 = none yet. */
  epochStart = -1;
  /** W_est (segments): the Reno-friendly estimate. */
  wEst = 0;
  /** cwnd_prior (segments): cwnd at the last congestion event (α becomes 1 once W_est reaches it). */
  cwndPrior = 0;
  /** The next epoch follows a timeout: K = 0 and W_max = cwnd at its start (RFC 9438 §4.8). */
  private afterTimeout = false;
  // State before the last reduction, for undo() (RFC 9438 §4.9). pCwnd = 0: nothing saved.
  private pCwnd = 0;
  private pSsthresh = 0;
  private pWMax = 0;
  private pK = 0;
  private pEpochStart = -1;
  private pWEst = 0;
  private pCwndPrior = 0;

  /** W_cubic(t), t in seconds (RFC 9438 eq. 1). */
  wCubic(t: number): number {
    const d = t - this.k;
    return CUBIC_C * d * d * d + this.wMax;
  }

  onAck(h: CongestionHost, acked: number, flightBefore: number, now: number): void {
    if (!mayGrow(h, flightBefore)) return; // application-limited: no growth (RFC 9438 §5.8)
    if (h.cwnd < h.ssthresh) {
      h.cwnd += acked; // slow start as Reno (RFC 9438 §4.10)
      return;
    }
    const mss = h.sndMss;
    let cw = h.cwnd / mss;
    if (this.epochStart < 0) this.startEpoch(cw, now);
    const t = (now - this.epochStart) / 1000;
    const segs = acked / mss;
    // Reno-friendly estimate (§4.3): α_cubic per RTT until W_est reaches cwnd_prior, then 1.
    const alpha = this.wEst >= this.cwndPrior ? 1 : CUBIC_ALPHA;
    this.wEst += (alpha * segs) / cw;
    if (this.wCubic(t) < this.wEst) {
      cw = this.wEst; // Reno-friendly region
    } else {
      // Concave / convex region (§4.4, §4.5): aim at W_cubic one RTT ahead, at most 1.5·cwnd.
      let target = this.wCubic(t + h.srtt / 1000);
      if (target < cw) target = cw;
      else if (target > 1.5 * cw) target = 1.5 * cw;
      cw += ((target - cw) / cw) * segs;
    }
    const bytes = Math.floor(cw * mss);
    if (bytes > h.cwnd) h.cwnd = bytes;
  }

  private startEpoch(cw: number, now: number): void {
    this.epochStart = now;
    this.wEst = cw;
    if (this.afterTimeout || this.wMax <= cw) {
      // After a timeout, or above the old maximum: probe from here (K = 0, W_max = cwnd).
      this.afterTimeout = false;
      this.wMax = cw;
      this.k = 0;
    } else {
      this.k = Math.cbrt((this.wMax - cw) / CUBIC_C); // RFC 9438 eq. 2, cwnd_epoch = cwnd
    }
  }

  onLoss(h: CongestionHost, _flight: number, _now: number): void {
    this.snapshot(h);
    const mss = h.sndMss;
    const cw = h.cwnd / mss;
    // Fast convergence (§4.7): a flow that lost before reaching its old maximum releases bandwidth.
    this.wMax = cw < this.wMax ? (cw * (1 + CUBIC_BETA)) / 2 : cw;
    this.cwndPrior = cw;
    const ss = cw * CUBIC_BETA; // §4.6, from cwnd as Linux (growth is gated on being cwnd-limited)
    h.ssthresh = Math.floor((ss > 2 ? ss : 2) * mss);
    this.epochStart = -1;
  }

  onRto(h: CongestionHost, _flight: number, first: boolean, _now: number): void {
    if (first) {
      this.snapshot(h);
      const mss = h.sndMss;
      const cw = h.cwnd / mss;
      this.cwndPrior = cw;
      const ss = cw * CUBIC_BETA;
      h.ssthresh = Math.floor((ss > 2 ? ss : 2) * mss);
    }
    h.cwnd = h.sndMss;
    this.epochStart = -1;
    this.afterTimeout = true;
  }

  private snapshot(h: CongestionHost): void {
    this.pCwnd = h.cwnd;
    this.pSsthresh = h.ssthresh;
    this.pWMax = this.wMax;
    this.pK = this.k;
    this.pEpochStart = this.epochStart;
    this.pWEst = this.wEst;
    this.pCwndPrior = this.cwndPrior;
  }

  undo(h: CongestionHost): void {
    if (this.pCwnd === 0) return;
    if (h.cwnd < this.pCwnd) h.cwnd = this.pCwnd;
    if (h.ssthresh < this.pSsthresh) h.ssthresh = this.pSsthresh;
    this.wMax = this.pWMax;
    this.k = this.pK;
    this.epochStart = this.pEpochStart;
    this.wEst = this.pWEst;
    this.cwndPrior = this.pCwndPrior;
    this.afterTimeout = false;
    this.pCwnd = 0;
  }

  onIdle(_h: CongestionHost, _now: number): void {
    this.epochStart = -1;
  }
}

