/**
 * BBR v1 (draft-cardwell-iccrg-bbr-congestion-control-00, as Linux's mainline tcp_bbr.c runs it):
 * a model of the path from two estimates,
 *
 *   BtlBw   the bottleneck bandwidth: the windowed maximum of the delivery-rate samples
 *           (delivery-rate.ts) over the last 10 packet-timed round trips;
 *   RTprop  the round-trip propagation time: the minimum RTT over the last 10 s;
 *
 * and a pacing rate (pacing_gain · BtlBw · 0.99) and cwnd (cwnd_gain · BtlBw · RTprop, plus the
 * quantization budget and the ACK-aggregation allowance) from them. A state machine sets the
 * gains:
 *
 *   STARTUP    pacing and cwnd gain 2/ln 2 (the rate doubles every round) until the pipe is full:
 *              BtlBw grew by less than 25% in 3 rounds in a row (not counting app-limited ones);
 *   DRAIN      pacing gain 1/2.885 until the pipe (RFC 6675's) is down to one BDP;
 *   PROBE_BW   cwnd gain 2, the pacing gain cycles 1.25, 0.75, 1, 1, 1, 1, 1, 1, one phase per
 *              RTprop (1.25 also until the flight reached 1.25 BDP or a loss was seen; 0.75 ends
 *              early once the flight is down to 1 BDP), from a random phase that is not 0.75;
 *   PROBE_RTT  when RTprop was not refreshed for 10 s: cwnd 4 segments for at least 200 ms and
 *              one round trip, then back (RTprop's stamp is renewed).
 *
 * Losses do not shrink the model. In loss recovery cwnd follows Linux's
 * bbr_set_cwnd_to_recover_or_restore: minus what each ACK newly marked lost, packet conservation
 * (cwnd = pipe + delivered) for the first round of a recovery, cwnd saved when the recovery (or
 * an RTO, or PROBE_RTT) starts and restored when it ends; an RTO sets cwnd to one segment, which
 * then grows by what is delivered back to the model's target.
 *
 * Units: bytes, ms, bytes/ms. Pure arithmetic on the rate sample the SACK recovery hands over;
 * the pacer that honours pacingRate is in recovery-sack.ts. SACK only: without SACK the
 * connection runs CUBIC instead (handshake.ts, counted in bbrWithoutSack).
 *
 * Left out versus Linux: the long-term ("policer") bandwidth model (lt_bw); the ACK-delayed test
 * of a new RTprop after the 10 s window expired (our ACKs do not say whether they were delayed);
 * TSO autosizing beyond the pacer's quantum (the pacer caps one burst at `quantum` bytes).
 */
import { CA_RECOVERY, type DeliveryRate } from './delivery-rate.js';
import type { CongestionControl, CongestionHost } from './congestion.js';

export const BBR_STARTUP = 0;
export const BBR_DRAIN = 1;
export const BBR_PROBE_BW = 2;
export const BBR_PROBE_RTT = 3;
export const BBR_MODE_NAMES = ['startup', 'drain', 'probe_bw', 'probe_rtt'] as const;

/** 2/ln 2, rounded up (the smallest gain that doubles the delivery rate each round). */
export const BBR_HIGH_GAIN = 2.886;
export const BBR_DRAIN_GAIN = 1 / 2.885;
export const BBR_CWND_GAIN = 2;
/** PROBE_BW's pacing-gain cycle. */
export const BBR_PACING_GAINS: readonly number[] = [1.25, 0.75, 1, 1, 1, 1, 1, 1];
const CYCLE_LEN = 8;
/** The start phase is drawn from this many (all but index 1, the 0.75 phase). */
const CYCLE_RAND = 7;
/** BtlBw's window (packet-timed round trips). */
export const BBR_BW_ROUNDS = 10;
/** RTprop's window (ms). */
export const BBR_RTPROP_MS = 10_000;
/** Minimum time in PROBE_RTT (ms). */
export const BBR_PROBE_RTT_MS = 200;
/** The smallest cwnd (segments). */
export const BBR_MIN_CWND_SEGS = 4;
const FULL_BW_THRESH = 1.25;
const FULL_BW_COUNT = 3;
/** Pace 1% below the estimate (Linux's bbr_pacing_margin_percent). */
const PACING_MARGIN = 0.99;
/** Linux's TCP_INIT_CWND (segments): the target before any RTT sample, and growth until this much is delivered. */
const INIT_CWND_SEGS = 10;
/** The pacer's quantum: about 1 ms of data at the pacing rate (Linux's sk_pacing_shift = 10)... */
export const BBR_QUANTUM_MS = 1;
/** ...at most one 64 KB super-segment (less the headers)... */
const QUANTUM_MAX = 65535 - 1 - 320;
/** ...and at least 2 segments, 1 below this rate (bytes/ms: 1.2 Mbit/s). */
const MIN_TSO_RATE = 1_200_000 / 8 / 1000;
// ACK aggregation (Linux ≥ 4.20's extra_acked): the extra data ACKed beyond what BtlBw explains.
const EXTRA_ACKED_WIN_ROUNDS = 5;
const EXTRA_ACKED_MAX_MS = 100;
const ACK_EPOCH_RESET = (1 << 20) * 1448;

export class Bbr implements CongestionControl {
  readonly name = 'bbr';
  readonly modelBased = true;
  /** Bytes/ms; 0 until init(). */
  pacingRate = 0;
  mode = BBR_STARTUP;
  pacingGain = BBR_HIGH_GAIN;
  cwndGain = BBR_HIGH_GAIN;
  /** RTprop (ms) and when it was last set. */
  minRtt = Infinity;
  minRttStamp = 0;
  /** Packet-timed round trips. */
  roundCount = 0;
  roundStart = false;
  /** The round ends once a record sent with this much delivered is delivered. */
  nextRoundDelivered = 0;
  fullBw = 0;
  fullBwCount = 0;
  fullBwReached = false;
  cycleIdx = 0;
  cycleStamp = 0;
  /** PROBE_RTT ends after this time (-1: the flight is not down to 4 segments yet). */
  probeRttDoneAt = -1;
  probeRttRoundDone = false;
  /** cwnd saved at the start of a recovery, an RTO or PROBE_RTT. */
  priorCwnd = 0;
  prevCaState = 0;
  packetConservation = false;
  idleRestart = false;
  private hasSeenRtt = false;
  /** The segment size of the last update (for the quantum). */
  private mss = 1460;
  // BtlBw's windowed max (Kathleen Nichols' algorithm, as Linux's lib/minmax.c): the best, second
  // and third best samples of the window, with their round numbers.
  private bw0 = 0;
  private bw0r = 0;
  private bw1 = 0;
  private bw1r = 0;
  private bw2 = 0;
  private bw2r = 0;
  // ACK aggregation.
  private extraAcked0 = 0;
  private extraAcked1 = 0;
  private extraIdx = 0;
  private extraRounds = 0;
  private ackEpochStamp = 0;
  private ackEpochAcked = 0;

  /** `rand` (tests inject one): uniform in [0, 1), for PROBE_BW's start phase. */
  constructor(private readonly rand: () => number = Math.random) {}

  /** BtlBw (bytes/ms). */
  get btlBw(): number {
    return this.bw0;
  }

  /** The pacer's quantum (bytes): ~1 ms at the pacing rate, ≥ 2 segments (1 at very low rates), ≤ 64 KB. */
  get quantum(): number {
    return this.tsoSegs() * this.mss;
  }

  private tsoSegs(): number {
    let bytes = this.pacingRate * BBR_QUANTUM_MS;
    if (bytes > QUANTUM_MAX) bytes = QUANTUM_MAX;
    const min = this.pacingRate < MIN_TSO_RATE ? 1 : 2;
    const segs = Math.floor(bytes / this.mss);
    return segs > min ? (segs < 127 ? segs : 127) : min;
  }

  /** At ESTABLISHED (the handshake gave an RTT sample, maybe): the first pacing rate, high_gain · cwnd / SRTT. */
  init(h: CongestionHost, now: number): void {
    this.mss = h.sndMss;
    this.minRttStamp = now;
    this.cycleStamp = now;
    this.ackEpochStamp = now;
    this.initPacingRate(h);
  }

  private initPacingRate(h: CongestionHost): void {
    let rtt = 1;
    if (h.srtt > 0) {
      rtt = h.srtt;
      this.hasSeenRtt = true;
    }
    this.pacingRate = (h.cwnd / rtt) * BBR_HIGH_GAIN * PACING_MARGIN;
  }

  // ------------------------------------------------------------ CongestionControl

  /** Not used: the model-based path is onRateSample (SACK recovery calls it on every ACK). */
  onAck(_h: CongestionHost, _bytes: number, _flightBefore: number, _now: number): void {}

  /** Fast recovery starts: cwnd is saved (Linux's bbr_ssthresh); ssthresh stays. */
  onLoss(h: CongestionHost, _flight: number, _now: number): void {
    this.saveCwnd(h);
  }

  /** RTO: cwnd = 1 segment (it grows back by what is delivered), the full-pipe estimate restarts. */
  onRto(h: CongestionHost, _flight: number, first: boolean, _now: number): void {
    if (first) this.saveCwnd(h);
    h.cwnd = h.sndMss;
    this.prevCaState = 4; // CA_LOSS
    this.fullBw = 0;
    this.roundStart = true;
  }

  /** A reduction proved spurious: the full-pipe count restarts; cwnd comes back at the next ACK (prior_cwnd). */
  undo(_h: CongestionHost): void {
    this.fullBw = 0;
    this.fullBwCount = 0;
  }

  /**
   * Sending starts again with nothing in flight after the application paused (Linux's
   * CA_EVENT_TX_START while app-limited): no burst beyond BtlBw in PROBE_BW. PROBE_RTT's end is
   * judged at `now` (Linux: tcp_jiffies32), not at the last ACK's time: after a long pause the
   * 200 ms are over.
   */
  onIdle(h: CongestionHost, now: number): void {
    this.idleRestart = true;
    this.ackEpochAcked = 0;
    if (this.mode === BBR_PROBE_BW) this.setPacingRate(this.bw0, 1);
    else if (this.mode === BBR_PROBE_RTT) this.checkProbeRttDone(h, now);
  }

  /** Linux's bbr_main: the model from this ACK's rate sample, then the pacing rate and cwnd. */
  onRateSample(h: CongestionHost, rs: DeliveryRate, now: number): void {
    this.mss = h.sndMss;
    this.updateBw(rs);
    this.updateAckAggregation(h, rs, now);
    if (this.mode === BBR_PROBE_BW && this.isNextCyclePhase(rs, now)) this.advanceCyclePhase(now);
    this.checkFullBwReached(rs);
    this.checkDrain(h, rs, now);
    this.updateMinRtt(h, rs, now);
    this.updateGains();
    this.setPacingRate(this.bw0, this.pacingGain, h);
    this.setCwnd(h, rs);
  }

  // ------------------------------------------------------------ the model

  private updateBw(rs: DeliveryRate): void {
    this.roundStart = false;
    if (rs.sampleDelivered < 0 || rs.interval <= 0) return;
    if (rs.priorDelivered >= this.nextRoundDelivered) {
      this.nextRoundDelivered = rs.delivered;
      this.roundCount++;
      this.roundStart = true;
      this.packetConservation = false;
    }
    const bw = rs.sampleDelivered / rs.interval;
    // An app-limited sample says the path can do at least this much: only when it raises BtlBw.
    if (!rs.isAppLimited || bw >= this.bw0) this.bwFilter(bw, this.roundCount);
  }

  /** The windowed max over BBR_BW_ROUNDS rounds (three candidates). */
  private bwFilter(v: number, r: number): void {
    if (v >= this.bw0 || r - this.bw2r > BBR_BW_ROUNDS) {
      this.bw0 = this.bw1 = this.bw2 = v;
      this.bw0r = this.bw1r = this.bw2r = r;
      return;
    }
    if (v >= this.bw1) {
      this.bw1 = this.bw2 = v;
      this.bw1r = this.bw2r = r;
    } else if (v >= this.bw2) {
      this.bw2 = v;
      this.bw2r = r;
    }
    // Age out the best ones (sub-windows of a quarter and a half of the window).
    const dt = r - this.bw0r;
    if (dt > BBR_BW_ROUNDS) {
      this.bw0 = this.bw1;
      this.bw0r = this.bw1r;
      this.bw1 = this.bw2;
      this.bw1r = this.bw2r;
      this.bw2 = v;
      this.bw2r = r;
      if (r - this.bw0r > BBR_BW_ROUNDS) {
        this.bw0 = this.bw1;
        this.bw0r = this.bw1r;
        this.bw1 = this.bw2;
        this.bw1r = this.bw2r;
      }
    } else if (this.bw1r === this.bw0r && dt > BBR_BW_ROUNDS / 4) {
      this.bw1 = this.bw2 = v;
      this.bw1r = this.bw2r = r;
    } else if (this.bw2r === this.bw1r && dt > BBR_BW_ROUNDS / 2) {
      this.bw2 = v;
      this.bw2r = r;
    }
  }

  private updateAckAggregation(h: CongestionHost, rs: DeliveryRate, now: number): void {
    if (rs.acked <= 0 || rs.sampleDelivered < 0 || rs.interval <= 0) return;
    if (this.roundStart) {
      if (++this.extraRounds >= EXTRA_ACKED_WIN_ROUNDS) {
        this.extraRounds = 0;
        this.extraIdx ^= 1;
        if (this.extraIdx === 0) this.extraAcked0 = 0;
        else this.extraAcked1 = 0;
      }
    }
    let expected = this.bw0 * (now - this.ackEpochStamp);
    if (this.ackEpochAcked <= expected || this.ackEpochAcked + rs.acked >= ACK_EPOCH_RESET) {
      this.ackEpochAcked = 0;
      this.ackEpochStamp = now;
      expected = 0;
    }
    this.ackEpochAcked += rs.acked;
    let extra = this.ackEpochAcked - expected;
    if (extra > h.cwnd) extra = h.cwnd;
    if (this.extraIdx === 0) {
      if (extra > this.extraAcked0) this.extraAcked0 = extra;
    } else if (extra > this.extraAcked1) this.extraAcked1 = extra;
  }

  /** The cwnd allowance for ACK aggregation: the recent max of the extra ACKed, ≤ 100 ms at BtlBw. */
  private aggregationCwnd(): number {
    if (!this.fullBwReached) return 0;
    const extra = this.extraAcked0 > this.extraAcked1 ? this.extraAcked0 : this.extraAcked1;
    const max = this.bw0 * EXTRA_ACKED_MAX_MS;
    return extra < max ? extra : max;
  }

  private isNextCyclePhase(rs: DeliveryRate, now: number): boolean {
    const full = now - this.cycleStamp > this.minRtt;
    const gain = this.pacingGain;
    if (gain === 1) return full;
    if (gain > 1) {
      // In flight as the next quantum leaves.
      const inflight = rs.priorInFlight + this.quantum;
      return full && (rs.losses > 0 || inflight >= this.inflight(this.bw0, gain));
    }
    return full || rs.priorInFlight <= this.inflight(this.bw0, 1);
  }

  private advanceCyclePhase(now: number): void {
    this.cycleIdx = (this.cycleIdx + 1) & (CYCLE_LEN - 1);
    this.cycleStamp = now;
  }

  private checkFullBwReached(rs: DeliveryRate): void {
    if (this.fullBwReached || !this.roundStart || rs.isAppLimited) return;
    if (this.bw0 >= this.fullBw * FULL_BW_THRESH) {
      this.fullBw = this.bw0;
      this.fullBwCount = 0;
      return;
    }
    if (++this.fullBwCount >= FULL_BW_COUNT) this.fullBwReached = true;
  }

  private checkDrain(h: CongestionHost, rs: DeliveryRate, now: number): void {
    if (this.mode === BBR_STARTUP && this.fullBwReached) {
      this.mode = BBR_DRAIN;
      h.ssthresh = this.inflight(this.bw0, 1);
    }
    if (this.mode === BBR_DRAIN && rs.inFlight <= this.inflight(this.bw0, 1)) this.resetProbeBw(now);
  }

  private updateMinRtt(h: CongestionHost, rs: DeliveryRate, now: number): void {
    const expired = now > this.minRttStamp + BBR_RTPROP_MS;
    if (rs.rtt >= 0 && (rs.rtt < this.minRtt || expired)) {
      this.minRtt = rs.rtt;
      this.minRttStamp = now;
    }
    if (expired && !this.idleRestart && this.mode !== BBR_PROBE_RTT) {
      this.mode = BBR_PROBE_RTT;
      this.saveCwnd(h);
      this.probeRttDoneAt = -1;
    }
    if (this.mode === BBR_PROBE_RTT) {
      // What is sent meanwhile is app-limited (the flight is kept small on purpose).
      rs.markAppLimited(rs.inFlight);
      if (this.probeRttDoneAt < 0 && rs.inFlight <= BBR_MIN_CWND_SEGS * h.sndMss) {
        this.probeRttDoneAt = now + BBR_PROBE_RTT_MS;
        this.probeRttRoundDone = false;
        this.nextRoundDelivered = rs.delivered;
      } else if (this.probeRttDoneAt >= 0) {
        if (this.roundStart) this.probeRttRoundDone = true;
        if (this.probeRttRoundDone) this.checkProbeRttDone(h, now);
      }
    }
    if (rs.acked > 0) this.idleRestart = false;
  }

  private checkProbeRttDone(h: CongestionHost, now: number): void {
    if (!(this.probeRttDoneAt >= 0 && now > this.probeRttDoneAt)) return;
    this.minRttStamp = now; // the RTprop filter is good for another window
    if (h.cwnd < this.priorCwnd) h.cwnd = this.priorCwnd;
    if (this.fullBwReached) this.resetProbeBw(now);
    else this.mode = BBR_STARTUP;
  }

  private resetProbeBw(now: number): void {
    this.mode = BBR_PROBE_BW;
    // A random phase, never the 0.75 one (advanceCyclePhase moves on from the one before it).
    this.cycleIdx = CYCLE_LEN - 1 - Math.floor(this.rand() * CYCLE_RAND);
    this.advanceCyclePhase(now);
  }

  private updateGains(): void {
    switch (this.mode) {
      case BBR_STARTUP:
        this.pacingGain = BBR_HIGH_GAIN;
        this.cwndGain = BBR_HIGH_GAIN;
        break;
      case BBR_DRAIN:
        this.pacingGain = BBR_DRAIN_GAIN;
        this.cwndGain = BBR_HIGH_GAIN;
        break;
      case BBR_PROBE_BW:
        this.pacingGain = BBR_PACING_GAINS[this.cycleIdx];
        this.cwndGain = BBR_CWND_GAIN;
        break;
      default:
        this.pacingGain = 1;
        this.cwndGain = 1;
    }
  }

  private setPacingRate(bw: number, gain: number, h?: CongestionHost): void {
    const rate = bw * gain * PACING_MARGIN;
    if (h !== undefined && !this.hasSeenRtt && h.srtt > 0) this.initPacingRate(h);
    // In STARTUP the rate only rises (a sample below the initial guess does not slow it).
    if (this.fullBwReached || rate > this.pacingRate) this.pacingRate = rate;
  }

  /** The model's BDP times `gain` (bytes, whole segments, rounded up); 10 segments before an RTT sample. */
  bdp(bw: number, gain: number): number {
    const mss = this.mss;
    if (this.minRtt === Infinity) return INIT_CWND_SEGS * mss;
    return Math.ceil((bw * this.minRtt * gain) / mss) * mss;
  }

  /**
   * Linux's bbr_quantization_budget: room for three quanta in flight (one being paced out, one in
   * the device, one in the receiver's GRO / delayed ACK), an even number of segments, and 2 more
   * in the 1.25 phase so that it gets above the BDP even when that is tiny.
   */
  private quantizationBudget(cwnd: number): number {
    const mss = this.mss;
    let segs = Math.ceil(cwnd / mss) + 3 * this.tsoSegs();
    segs = (segs + 1) & ~1;
    if (this.mode === BBR_PROBE_BW && this.cycleIdx === 0) segs += 2;
    return segs * mss;
  }

  /** The flight the model wants at `gain` (bytes). */
  inflight(bw: number, gain: number): number {
    return this.quantizationBudget(this.bdp(bw, gain));
  }

  /** The cwnd the model aims at now (bytes). */
  target(): number {
    return this.quantizationBudget(this.bdp(this.bw0, this.cwndGain) + this.aggregationCwnd());
  }

  private saveCwnd(h: CongestionHost): void {
    if (this.prevCaState < CA_RECOVERY && this.mode !== BBR_PROBE_RTT) this.priorCwnd = h.cwnd;
    else if (h.cwnd > this.priorCwnd) this.priorCwnd = h.cwnd;
  }

  private setCwnd(h: CongestionHost, rs: DeliveryRate): void {
    const mss = h.sndMss;
    const acked = rs.acked;
    let cwnd = h.cwnd;
    if (acked > 0) {
      // Linux's bbr_set_cwnd_to_recover_or_restore.
      if (rs.losses > 0) cwnd = cwnd - rs.losses > mss ? cwnd - rs.losses : mss;
      const state = rs.caState;
      if (state === CA_RECOVERY && this.prevCaState !== CA_RECOVERY) {
        // The first round of a recovery: packet conservation (send what was delivered).
        this.packetConservation = true;
        this.nextRoundDelivered = rs.delivered;
        cwnd = rs.inFlight + acked;
      } else if (this.prevCaState >= CA_RECOVERY && state < CA_RECOVERY) {
        // Recovery (or the loss state after an RTO) is over: back to the cwnd from before it.
        if (cwnd < this.priorCwnd) cwnd = this.priorCwnd;
        this.packetConservation = false;
      }
      this.prevCaState = state;
      if (this.packetConservation) {
        const c2 = rs.inFlight + acked;
        if (cwnd < c2) cwnd = c2;
      } else {
        const target = this.target();
        if (this.fullBwReached) cwnd = cwnd + acked < target ? cwnd + acked : target;
        else if (cwnd < target || rs.delivered < INIT_CWND_SEGS * mss) cwnd += acked;
        if (cwnd < BBR_MIN_CWND_SEGS * mss) cwnd = BBR_MIN_CWND_SEGS * mss;
      }
    }
    if (this.mode === BBR_PROBE_RTT && cwnd > BBR_MIN_CWND_SEGS * mss) cwnd = BBR_MIN_CWND_SEGS * mss;
    h.cwnd = Math.floor(cwnd);
  }

  /** `show session verbose`: state, BtlBw, RTprop, pacing rate. */
  describe(): string {
    const mbit = (bpms: number) => ((bpms * 8) / 1000).toFixed(1);
    const rt = this.minRtt === Infinity ? '-' : `${this.minRtt.toFixed(3)}ms`;
    const phase = this.mode === BBR_PROBE_BW ? ` gain ${BBR_PACING_GAINS[this.cycleIdx]}` : '';
    return `bbr ${BBR_MODE_NAMES[this.mode]}${phase} btlbw ${mbit(this.bw0)}Mbps rtprop ${rt} pacing ${mbit(this.pacingRate)}Mbps target ${this.target()} extra-acked ${Math.round(this.aggregationCwnd())} rounds ${this.roundCount}`;
  }
}
